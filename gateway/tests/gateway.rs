//! The gateway against a real Redis (REDIS_URL, default 127.0.0.1:6379), driven by our own typed
//! client and by raw HTTP where the wire format itself is the point.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use edgestock_gateway::{spawn, Config, Running};
use serde_json::{json, Value as Json};
use upstash_rest::{cmd, Client, Error, ReqwestTransport, Script, Value};

const TOKEN: &str = "test-token";
const RO_TOKEN: &str = "read-only-token";

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn start_with(redis: &str, tweak: impl FnOnce(&mut Config)) -> Running {
    let mut config = Config::new(redis, TOKEN);
    config.listen = "127.0.0.1:0".into();
    config.readonly_token = Some(RO_TOKEN.into());
    tweak(&mut config);
    spawn(config).await.expect("gateway starts")
}

async fn start() -> Running {
    start_with(&redis_url(), |_| {}).await
}

fn client(gw: &Running, token: &str) -> Client<ReqwestTransport> {
    Client::new(ReqwestTransport::default(), &gw.url(), token).with_timeout(Duration::from_secs(5))
}

/// A key prefix no other test run uses.
fn prefix() -> String {
    format!("gwtest:{:x}:", rand::random::<u64>())
}

async fn raw(
    gw: &Running,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, reqwest::header::HeaderMap, Json) {
    let mut rb = reqwest::Client::new()
        .post(format!("{}{path}", gw.url()))
        .header("upstash-encoding", "base64")
        .body(body.to_owned());
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    let res = rb.send().await.expect("request");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body: Json = res.json().await.expect("every answer is JSON");
    (status, headers, body)
}

#[tokio::test]
async fn strings_hashes_sorted_sets_through_our_client() {
    let gw = start().await;
    let c = client(&gw, TOKEN);
    let p = prefix();
    let k = format!("{p}s");
    assert_eq!(
        c.command(&cmd("SET").arg(&k).arg("OK")).await.unwrap(),
        Value::Bytes(b"OK".to_vec())
    );
    // A stored "OK" comes back as data (base64 on the wire), not as the status reply.
    assert_eq!(
        c.command(&cmd("GET").arg(&k)).await.unwrap().as_str(),
        Some("OK")
    );
    assert_eq!(
        c.command(&cmd("GET").arg(format!("{p}missing")))
            .await
            .unwrap(),
        Value::Nil
    );
    assert_eq!(
        c.command(&cmd("INCRBY").arg(format!("{p}n")).arg(41i64))
            .await
            .unwrap()
            .as_i64(),
        Some(41)
    );
    let h = format!("{p}h");
    c.command(
        &cmd("HSET")
            .arg(&h)
            .arg("on_hand")
            .arg(10i64)
            .arg("reserved")
            .arg(0i64),
    )
    .await
    .unwrap();
    let all = c.command(&cmd("HGETALL").arg(&h)).await.unwrap();
    let strs: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(strs, ["on_hand", "10", "reserved", "0"]);
    let z = format!("{p}z");
    c.command(&cmd("ZADD").arg(&z).arg(2i64).arg("b").arg(1i64).arg("a"))
        .await
        .unwrap();
    let r = c
        .command(&cmd("ZRANGE").arg(&z).arg(0i64).arg(-1i64).arg("WITHSCORES"))
        .await
        .unwrap();
    let strs: Vec<&str> = r
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(strs, ["a", "1", "b", "2"]);
    // Redis's own error text comes back verbatim.
    match c.command(&cmd("INCR").arg(&h)).await {
        Err(Error::Redis(msg)) => assert!(msg.starts_with("WRONGTYPE"), "{msg}"),
        other => panic!("expected a Redis error, got {other:?}"),
    }
    gw.stop().await.unwrap();
}

#[tokio::test]
async fn binary_values_round_trip_through_base64() {
    let gw = start().await;
    let p = prefix();
    // Store bytes that are not UTF-8 with a path-style POST (raw body = value).
    let res = reqwest::Client::new()
        .post(format!("{}/set/{p}bin", gw.url()))
        .bearer_auth(TOKEN)
        .body(vec![0u8, 0xff, 0xfe, b'a'])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (status, _, body) = raw(
        &gw,
        "/",
        Some(TOKEN),
        &json!(["GET", format!("{p}bin")]).to_string(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"result": "AP/+YQ=="}));
    gw.stop().await.unwrap();
}

#[tokio::test]
async fn pipeline_keeps_order_and_answers_each_command() {
    let gw = start().await;
    let c = client(&gw, TOKEN);
    let p = prefix();
    let k = format!("{p}k");
    let items = c
        .pipeline(&[
            cmd("SET").arg(&k).arg("1"),
            cmd("INCR").arg(&k),
            cmd("HSET").arg(&k).arg("f").arg("v"),
            cmd("SELECT").arg("1"),
            cmd("GET").arg(&k),
        ])
        .await
        .unwrap();
    assert_eq!(items.len(), 5);
    assert_eq!(items[1].as_ref().unwrap().as_i64(), Some(2));
    assert!(matches!(&items[2], Err(Error::Redis(m)) if m.starts_with("WRONGTYPE")));
    assert!(matches!(&items[3], Err(Error::Redis(m)) if m.contains("'select' is not supported")));
    assert_eq!(items[4].as_ref().unwrap().as_str(), Some("2"));
    gw.stop().await.unwrap();
}

#[tokio::test]
async fn multi_exec_is_atomic_and_a_discarded_transaction_is_a_400() {
    let gw = start().await;
    let c = client(&gw, TOKEN);
    let p = prefix();
    let k = format!("{p}k");
    let items = c
        .multi_exec(&[
            cmd("SET").arg(&k).arg("1"),
            cmd("INCR").arg(&k),
            cmd("LPUSH").arg(&k).arg("x"),
        ])
        .await
        .unwrap();
    assert_eq!(items[1].as_ref().unwrap().as_i64(), Some(2));
    // A run-time error does not stop the others (Redis semantics).
    assert!(matches!(&items[2], Err(Error::Redis(m)) if m.starts_with("WRONGTYPE")));

    // A queue-time error discards everything: 400 {error}, nothing written.
    let k2 = format!("{p}k2");
    let body = json!([["SET", k2, "1"], ["NOSUCHCOMMAND", "x"]]).to_string();
    let (status, _, body) = raw(&gw, "/multi-exec", Some(TOKEN), &body).await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().starts_with("EXECABORT"),
        "{body}"
    );
    assert_eq!(
        c.command(&cmd("EXISTS").arg(&k2)).await.unwrap().as_i64(),
        Some(0)
    );

    // Concurrent transactions never nest (the classic shared-connection bug).
    let counter = format!("{p}c");
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let c = c.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                c.multi_exec(&[cmd("INCR").arg(&counter), cmd("INCR").arg(&counter)])
                    .await
            })
        })
        .collect();
    for t in tasks {
        let items = t.await.unwrap().expect("no nested MULTI");
        let (a, b) = (
            items[0].as_ref().unwrap().as_i64().unwrap(),
            items[1].as_ref().unwrap().as_i64().unwrap(),
        );
        assert_eq!(b, a + 1, "the two INCRs of one transaction are adjacent");
    }
    assert_eq!(
        c.command(&cmd("GET").arg(&counter)).await.unwrap().as_str(),
        Some("100")
    );
    gw.stop().await.unwrap();
}

#[tokio::test]
async fn evalsha_falls_back_to_eval_and_shebang_aliases_keep_the_client_sha() {
    let gw = start().await;
    let c = client(&gw, TOKEN);
    let p = prefix();
    // Unique source so the script is not cached yet.
    let src: &'static str = Box::leak(
        format!(
            "#!lua flags=allow-key-locking\n-- {p}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])"
        )
        .into_boxed_str(),
    );
    let sha = sha1_smol::Sha1::from(src).digest().to_string();
    let script = Script {
        sha1: &sha,
        source: src,
    };
    let keys = [format!("{p}n")];
    let v = c.eval(script, &keys, &["5".into()], false).await.unwrap();
    assert_eq!(v.as_i64(), Some(5));
    // Now EVALSHA with the client's own SHA1 (of the flagged source) hits.
    let v = c
        .command(
            &cmd("EVALSHA")
                .arg(script.sha1)
                .arg(1i64)
                .arg(&keys[0])
                .arg("1"),
        )
        .await
        .unwrap();
    assert_eq!(v.as_i64(), Some(6));
    // SCRIPT LOAD answers the client's SHA1 too, and SCRIPT EXISTS knows it.
    assert_eq!(c.script_load(src).await.unwrap(), script.sha1);
    let e = c
        .command(&cmd("SCRIPT").arg("EXISTS").arg(script.sha1))
        .await
        .unwrap();
    assert_eq!(e.as_array().unwrap()[0].as_i64(), Some(1));
    // Read-only variant with a no-writes script.
    let ro: &'static str = Box::leak(
        format!(
            "#!lua flags=no-writes,allow-key-locking\n-- {p}\nreturn redis.call('GET', KEYS[1])"
        )
        .into_boxed_str(),
    );
    let ro_sha = sha1_smol::Sha1::from(ro).digest().to_string();
    let ro = Script {
        sha1: &ro_sha,
        source: ro,
    };
    let v = client(&gw, RO_TOKEN)
        .eval(ro, &keys, &[], true)
        .await
        .unwrap();
    assert_eq!(v.as_str(), Some("6"));
    gw.stop().await.unwrap();
}

#[tokio::test]
async fn auth_read_only_token_and_sync_tokens() {
    let gw = start().await;
    let p = prefix();
    let body = json!(["SET", format!("{p}k"), "v"]).to_string();
    let (status, headers, b) = raw(&gw, "/", None, &body).await;
    assert_eq!(status, 401, "{b}");
    assert!(b["error"].is_string());
    assert!(!headers["upstash-sync-token"].is_empty());
    let (status, _, _) = raw(&gw, "/", Some("wrong"), &body).await;
    assert_eq!(status, 401);
    // `?_token=` works like the header.
    let res = reqwest::Client::new()
        .post(format!("{}/?_token={TOKEN}", gw.url()))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Read-only token: reads pass, writes get NOPERM (400), pipelines get per-item NOPERM.
    let (status, _, b) = raw(&gw, "/", Some(RO_TOKEN), &body).await;
    assert_eq!(status, 400);
    assert_eq!(
        b["error"],
        "NOPERM this user has no permissions to run the 'set' command"
    );
    let (status, _, b) = raw(
        &gw,
        "/",
        Some(RO_TOKEN),
        &json!(["GET", format!("{p}k")]).to_string(),
    )
    .await;
    assert_eq!((status, b), (200, json!({"result": "dg=="})));
    // A fresh sync token on every response.
    let (_, h1, _) = raw(&gw, "/", Some(TOKEN), &body).await;
    let (_, h2, _) = raw(&gw, "/", Some(TOKEN), &body).await;
    assert_ne!(h1["upstash-sync-token"], h2["upstash-sync-token"]);
    gw.stop().await.unwrap();
}

#[tokio::test]
async fn bad_input_gets_a_clear_json_error_and_changes_nothing() {
    let gw = start_with(&redis_url(), |c| {
        c.max_request_bytes = 1024;
        c.max_commands = 3;
    })
    .await;
    let p = prefix();
    let cases = [
        ("/", "not json".to_owned(), 400, "ERR invalid JSON"),
        ("/", "[]".to_owned(), 400, "ERR empty command"),
        (
            "/",
            json!(["SET", format!("{p}k"), null]).to_string(),
            400,
            "ERR argument 2",
        ),
        (
            "/",
            json!(["SELECT", "2"]).to_string(),
            400,
            "ERR command 'select'",
        ),
        (
            "/",
            json!(["BLPOP", "l", 0]).to_string(),
            400,
            "ERR command 'blpop'",
        ),
        (
            "/",
            json!(["MULTI"]).to_string(),
            400,
            "ERR command 'multi'",
        ),
        (
            "/",
            json!(["SET", format!("{p}k"), "x".repeat(2000)]).to_string(),
            413,
            "ERR max request size exceeded",
        ),
        (
            "/pipeline",
            json!([["PING"], ["PING"], ["PING"], ["PING"]]).to_string(),
            400,
            "ERR too many commands",
        ),
        ("/pipeline", "{}".to_owned(), 400, "ERR the body must be"),
        (
            "/multi-exec",
            json!([["SET", format!("{p}k"), "1"], ["WATCH", "x"]]).to_string(),
            400,
            "ERR command 'watch'",
        ),
    ];
    for (path, body, want_status, want_prefix) in cases {
        let (status, _, b) = raw(&gw, path, Some(TOKEN), &body).await;
        assert_eq!(status, want_status, "{path} {body}: {b}");
        let msg = b["error"].as_str().unwrap_or_default();
        assert!(msg.starts_with(want_prefix), "{path}: {msg}");
    }
    let c = client(&gw, TOKEN);
    assert_eq!(
        c.command(&cmd("EXISTS").arg(format!("{p}k")))
            .await
            .unwrap()
            .as_i64(),
        Some(0)
    );
    // Other methods: 405 JSON.
    let res = reqwest::Client::new()
        .delete(gw.url())
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    let b: Json = res.json().await.unwrap();
    assert!(b["error"].is_string());
    gw.stop().await.unwrap();
}

/// A private redis-server on a free port, killed on drop.
struct PrivateRedis {
    child: Child,
}

impl PrivateRedis {
    fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "private redis did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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
    gw.stop().await.unwrap();
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
