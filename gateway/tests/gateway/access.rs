//! Tokens, sync tokens, what the full token may not do, and bad input refused before Redis.
//! (The read-only token: `readonly.rs`; the admin token: `admin.rs`.)

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

/// `NOPERM` as the gateway answers a command the token may not run.
pub(super) fn noperm(command: &str) -> String {
    format!("NOPERM this user has no permissions to run the '{command}' command")
}

/// Commands (and `command|subcommand` families) of `redis` that `commands_seen` lists.
pub(super) fn reached(redis: &PrivateRedis, families: &[&str]) -> Vec<String> {
    redis
        .commands_seen()
        .into_iter()
        .filter(|seen| {
            families
                .iter()
                .any(|f| seen == f || seen.starts_with(&format!("{f}|")))
        })
        .collect()
}

/// Finding 8: the full (standard) token is for data and scripts, not for Redis administration.
/// Each command is refused with its exact text, in `/`, path style, `/pipeline` and
/// `/multi-exec`; none reaches Redis, and a key written before is still there afterwards.
/// A private Redis, so the shared one is safe even if the gateway let a command through.
#[tokio::test]
async fn adversary_full_token_cannot_flushall_config_acl_keys_or_administer_redis() {
    let redis = PrivateRedis::start_any();
    let gw = start_with(&redis.url(), |c| c.redis_timeout_ms = 1000).await;
    let p = prefix();
    let key = format!("{p}survivor");
    let set = json!(["SET", &key, "kept"]).to_string();
    assert_eq!(
        raw(&gw, "/", Some(TOKEN), &set).await.2,
        json!({"result": "OK"})
    );
    let unsupported = |command: &str, reason: &str| {
        format!("ERR command '{command}' is not supported over REST: {reason}")
    };
    let closed = free_port().to_string();
    let cases: Vec<(Json, String)> = vec![
        (json!(["FLUSHALL"]), noperm("flushall")),
        (json!(["flushdb", "ASYNC"]), noperm("flushdb")),
        (
            json!(["CONFIG", "SET", "maxmemory", "1"]),
            noperm("config|set"),
        ),
        (
            json!(["config", "get", "requirepass"]),
            noperm("config|get"),
        ),
        (
            json!(["ACL", "SETUSER", "intruder", "on", ">pw", "+@all", "~*"]),
            noperm("acl|setuser"),
        ),
        (json!(["ACL", "LIST"]), noperm("acl|list")),
        (json!(["KEYS", "*"]), noperm("keys")),
        (json!(["SCRIPT", "FLUSH"]), noperm("script|flush")),
        (json!(["SCRIPT", "KILL"]), noperm("script|kill")),
        (json!(["FUNCTION", "FLUSH"]), noperm("function|flush")),
        (
            json!([
                "FUNCTION",
                "LOAD",
                "#!lua name=gwtest\nredis.register_function('f', function() return 1 end)"
            ]),
            noperm("function|load"),
        ),
        (json!(["SAVE"]), noperm("save")),
        (json!(["BGSAVE"]), noperm("bgsave")),
        (json!(["BGREWRITEAOF"]), noperm("bgrewriteaof")),
        (json!(["INFO"]), noperm("info")),
        (
            json!(["OBJECT", "ENCODING", &key]),
            noperm("object|encoding"),
        ),
        (json!(["NOT-A-COMMAND"]), noperm("not-a-command")),
        (
            json!(["MIGRATE", "127.0.0.1", closed, &key, 0, 100]),
            unsupported("migrate", "it would make Redis connect to another server"),
        ),
        (
            json!(["MODULE", "LIST"]),
            unsupported("module", "it loads code into the Redis process"),
        ),
        (
            json!(["MOVE", &key, 1]),
            unsupported("move", "the gateway serves one database"),
        ),
        (
            json!(["COPY", &key, format!("{p}copy"), "DB", 1]),
            unsupported("copy", "the gateway serves one database"),
        ),
        (
            json!(["SHUTDOWN", "NOSAVE"]),
            unsupported(
                "shutdown",
                "server administration is not available over REST",
            ),
        ),
    ];
    for (cmd, want) in &cases {
        let (status, _, b) = raw(&gw, "/", Some(TOKEN), &cmd.to_string()).await;
        assert_eq!((status, &b), (400, &json!({ "error": want })), "{cmd}");
    }
    // Path style and inside a pipeline (the refused item answers in place, the rest runs).
    let (status, _, b) = raw(&gw, "/flushall", Some(TOKEN), "").await;
    assert_eq!((status, b), (400, json!({ "error": noperm("flushall") })));
    let (status, _, b) = raw(
        &gw,
        "/pipeline",
        Some(TOKEN),
        &json!([
            ["FLUSHALL"],
            ["CONFIG", "SET", "maxmemory", "1"],
            ["GET", &key]
        ])
        .to_string(),
    )
    .await;
    assert_eq!(
        (status, b),
        (
            200,
            json!([
                { "error": noperm("flushall") },
                { "error": noperm("config|set") },
                { "result": "a2VwdA==" }
            ])
        )
    );
    // In a transaction one refused command discards all of it.
    let (status, _, b) = raw(
        &gw,
        "/multi-exec",
        Some(TOKEN),
        &json!([["SET", &key, "changed"], ["FLUSHDB"]]).to_string(),
    )
    .await;
    assert_eq!(
        (status, b),
        (
            400,
            json!({ "error": format!("{} (command 2; transaction discarded)", noperm("flushdb")) })
        )
    );
    // Redis never saw any of it, and the data is intact.
    let forbidden = [
        "flushall",
        "flushdb",
        "config",
        "acl",
        "keys",
        "script",
        "function",
        "save",
        "bgsave",
        "bgrewriteaof",
        "object",
        "migrate",
        "module",
        "move",
        "copy",
        "shutdown",
    ];
    assert_eq!(reached(&redis, &forbidden), Vec::<String>::new());
    assert_eq!(redis.cli(&["GET", &key]), "kept");
    assert_eq!(redis.cli(&["CONFIG", "GET", "maxmemory"]), "maxmemory\n0");
    gw.stop().await.unwrap();
}
