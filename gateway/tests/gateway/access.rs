//! Tokens, read-only access, sync tokens, and bad input refused before Redis.

use super::*;

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
