//! Redis down and back, the official client under node, and metrics.

use super::*;

#[tokio::test]
async fn redis_down_is_a_fast_503_and_the_gateway_recovers_on_its_own() {
    let port = free_port();
    let redis = PrivateRedis::start(port);
    let gw = start_with(&format!("redis://127.0.0.1:{port}"), |c| {
        c.redis_timeout_ms = 1000
    })
    .await;
    let c = client(&gw, TOKEN);
    c.ping().await.expect("up");
    drop(redis);

    for _ in 0..3 {
        let t = Instant::now();
        let (status, headers, b) = raw(&gw, "/", Some(TOKEN), r#"["PING"]"#).await;
        let took = t.elapsed();
        assert_eq!(status, 503, "{b}");
        assert!(
            b["error"]
                .as_str()
                .unwrap()
                .starts_with("ERR redis unavailable"),
            "{b}"
        );
        assert_eq!(headers["retry-after"], "1");
        assert!(took < Duration::from_millis(2500), "answered in {took:?}");
    }
    let (status, _, _) = raw(&gw, "/pipeline", Some(TOKEN), r#"[["PING"]]"#).await;
    assert_eq!(status, 503);

    let _redis = PrivateRedis::start(port);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match c.ping().await {
            Ok(()) => break,
            Err(e) => {
                assert!(e.is_unavailable(), "{e:?}");
                assert!(Instant::now() < deadline, "gateway did not recover: {e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    gw.stop().await.unwrap();
}

#[tokio::test]
async fn official_upstash_client_conformance_under_node() {
    let gw = start().await;
    conformance(&gw).await;
    gw.stop().await.unwrap();
}

/// Runs the official `@upstash/redis` client's conformance suite (`gateway/conformance/`)
/// against `gw`.
pub(crate) async fn conformance(gw: &Running) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    assert!(
        root.join("node_modules/@upstash/redis").exists(),
        "node_modules missing: run scripts/test.sh (it runs `npm ci`)"
    );
    let out = tokio::process::Command::new("node")
        .arg("--test")
        .arg("--test-reporter=spec")
        .arg("gateway/conformance/")
        .current_dir(&root)
        .env("UPSTASH_REDIS_REST_URL", gw.url())
        .env("UPSTASH_REDIS_REST_TOKEN", TOKEN)
        .env("UPSTASH_REDIS_REST_READONLY_TOKEN", RO_TOKEN)
        .env("UPSTASH_DISABLE_TELEMETRY", "1")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("node conformance finished in time")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "@upstash/redis conformance failed:\n{stdout}"
    );
    assert!(
        stdout.contains("fail 0") && stdout.contains("pass "),
        "{stdout}"
    );
}

#[tokio::test]
async fn metrics_count_requests_and_commands_behind_the_token() {
    let gw = start().await;
    let http = reqwest::Client::new();
    let res = http
        .get(format!("{}/metrics", gw.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    raw(&gw, "/pipeline", Some(TOKEN), r#"[["PING"],["PING"]]"#).await;
    raw(&gw, "/", None, r#"["PING"]"#).await;
    let text = http
        .get(format!("{}/metrics", gw.url()))
        .bearer_auth(RO_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("gateway_requests_total{endpoint=\"pipeline\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("gateway_requests_total{endpoint=\"command\",status=\"401\"} 1"),
        "{text}"
    );
    assert!(text.contains("gateway_commands_total 2"), "{text}");
    assert!(
        text.contains("gateway_request_duration_seconds_count 2"),
        "{text}"
    );
    gw.stop().await.unwrap();
}
