//! The read-only token: scripts by SHA1 only, never script source.

use super::access::{noperm, reached};
use super::*;

/// Finding 8: the read-only token runs no script source. A `while true do end` sent as EVAL_RO
/// would block Redis for everyone; it is refused before Redis sees it, in every endpoint, and so
/// are EVAL, SCRIPT LOAD and FCALL_RO. (A private Redis: if it got through, only it would hang.)
#[tokio::test]
async fn adversary_readonly_token_cannot_eval_source() {
    let redis = PrivateRedis::start_any();
    let gw = start_with(&redis.url(), |c| c.redis_timeout_ms = 1000).await;
    let p = prefix();
    let spin = "while true do end";
    let cases = [
        (json!(["EVAL_RO", spin, 0]), noperm("eval_ro")),
        (
            json!(["eval_ro", spin, 1, format!("{p}k")]),
            noperm("eval_ro"),
        ),
        (json!(["EVAL", spin, 0]), noperm("eval")),
        (json!(["SCRIPT", "LOAD", spin]), noperm("script|load")),
        (json!(["FCALL_RO", "f", 0]), noperm("fcall_ro")),
    ];
    for (cmd, want) in &cases {
        let started = Instant::now();
        let (status, _, b) = raw(&gw, "/", Some(RO_TOKEN), &cmd.to_string()).await;
        assert_eq!((status, &b), (400, &json!({ "error": want })), "{cmd}");
        assert!(started.elapsed() < Duration::from_millis(500), "{cmd}");
    }
    let (status, _, b) = raw(
        &gw,
        "/pipeline",
        Some(RO_TOKEN),
        &json!([["GET", format!("{p}k")], ["EVAL_RO", spin, 0]]).to_string(),
    )
    .await;
    assert_eq!(
        (status, b),
        (
            200,
            json!([{ "result": null }, { "error": noperm("eval_ro") }])
        )
    );
    let (status, _, b) = raw(
        &gw,
        "/multi-exec",
        Some(RO_TOKEN),
        &json!([["GET", format!("{p}k")], ["EVAL_RO", spin, 0]]).to_string(),
    )
    .await;
    assert_eq!(
        (status, b),
        (
            400,
            json!({ "error": format!("{} (command 2; transaction discarded)", noperm("eval_ro")) })
        )
    );
    // Redis is not busy and never ran a script.
    assert_eq!(redis.cli(&["PING"]), "PONG");
    assert_eq!(
        reached(
            &redis,
            &["eval", "eval_ro", "evalsha_ro", "script", "fcall_ro"]
        ),
        Vec::<String>::new()
    );
    gw.stop().await.unwrap();
}

/// The read-only token runs scripts by SHA1 only: a script the full token loaded (here with the
/// Upstash shebang, so the SHA1 the clients know is the gateway's alias) runs with EVALSHA_RO;
/// an unknown SHA1 is Redis's own NOSCRIPT, and it may not load one itself.
#[tokio::test]
async fn readonly_token_runs_loaded_scripts_by_sha_including_aliases() {
    let gw = start().await;
    let p = prefix();
    let key = format!("{p}k");
    raw(
        &gw,
        "/",
        Some(TOKEN),
        &json!(["SET", &key, "v"]).to_string(),
    )
    .await;
    let src = format!(
        "#!lua flags=no-writes,allow-key-locking\n-- {p}\nreturn redis.call('GET', KEYS[1])"
    );
    let sha = sha1_smol::Sha1::from(&src).digest().to_string();
    let evalsha_ro = json!(["EVALSHA_RO", &sha, 1, &key]).to_string();
    let (status, _, b) = raw(&gw, "/", Some(RO_TOKEN), &evalsha_ro).await;
    assert_eq!(
        (status, b),
        (
            400,
            json!({"error": "NOSCRIPT No matching script. Please use EVAL."})
        )
    );
    let (status, _, b) = raw(
        &gw,
        "/",
        Some(RO_TOKEN),
        &json!(["SCRIPT", "LOAD", &src]).to_string(),
    )
    .await;
    assert_eq!(
        (status, b),
        (400, json!({ "error": noperm("script|load") }))
    );
    // The full token loads it; the answer is the client's SHA1 (base64 in this encoding).
    let (status, _, b) = raw(
        &gw,
        "/",
        Some(TOKEN),
        &json!(["SCRIPT", "LOAD", &src]).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    let res = reqwest::Client::new()
        .post(gw.url())
        .bearer_auth(RO_TOKEN)
        .body(evalsha_ro.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Json>().await.unwrap(), json!({"result": "v"}));
    let res = reqwest::Client::new()
        .post(gw.url())
        .bearer_auth(RO_TOKEN)
        .body(json!(["SCRIPT", "EXISTS", &sha]).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Json>().await.unwrap(), json!({"result": [1]}));
    gw.stop().await.unwrap();
}
