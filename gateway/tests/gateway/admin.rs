//! The admin token (`GATEWAY_ADMIN_TOKEN`): the one token that administers Redis, and only
//! within what no token may do.

use super::access::noperm;
use super::*;

const ADMIN_TOKEN: &str = "admin-token";

/// With GATEWAY_ADMIN_TOKEN, that token (and only it) administers Redis; the commands no token
/// may run stay refused to it. A private Redis, so FLUSHDB wipes nobody else's data.
#[tokio::test]
async fn admin_token_can_flushdb_config_get_and_info_but_not_shutdown_or_poison_connections() {
    let redis = PrivateRedis::start_any();
    let gw = start_with(&redis.url(), |c| c.admin_token = Some(ADMIN_TOKEN.into())).await;
    let p = prefix();
    let key = format!("{p}k");
    raw(
        &gw,
        "/",
        Some(TOKEN),
        &json!(["SET", &key, "v"]).to_string(),
    )
    .await;
    let http = reqwest::Client::new();
    let plain = |token: &'static str, body: Json| {
        let req = http
            .post(gw.url())
            .bearer_auth(token)
            .body(body.to_string());
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.json::<Json>().await.unwrap())
        }
    };
    assert_eq!(
        plain(ADMIN_TOKEN, json!(["CONFIG", "GET", "maxmemory"])).await,
        (200, json!({"result": ["maxmemory", "0"]}))
    );
    assert_eq!(
        plain(TOKEN, json!(["CONFIG", "GET", "maxmemory"])).await,
        (400, json!({"error": noperm("config|get")}))
    );
    assert_eq!(
        plain(ADMIN_TOKEN, json!(["KEYS", format!("{p}*")])).await,
        (200, json!({"result": [&key]}))
    );
    let (status, b) = plain(ADMIN_TOKEN, json!(["INFO", "server"])).await;
    assert_eq!(status, 200);
    assert!(
        b["result"].as_str().unwrap().contains("redis_version:"),
        "{b}"
    );
    // The admin token also runs everything the full token may.
    assert_eq!(
        plain(ADMIN_TOKEN, json!(["GET", &key])).await,
        (200, json!({"result": "v"}))
    );
    assert_eq!(
        plain(ADMIN_TOKEN, json!(["FLUSHDB"])).await,
        (200, json!({"result": "OK"}))
    );
    assert_eq!(
        plain(ADMIN_TOKEN, json!(["DBSIZE"])).await,
        (200, json!({"result": 0}))
    );
    for (cmd, name, reason) in [
        (
            json!(["SHUTDOWN", "NOSAVE"]),
            "shutdown",
            "server administration is not available over REST",
        ),
        (
            json!(["DEBUG", "SLEEP", 5]),
            "debug",
            "server administration is not available over REST",
        ),
        (
            json!(["MODULE", "LOAD", "/tmp/x.so"]),
            "module",
            "it loads code into the Redis process",
        ),
        (
            json!(["SELECT", 1]),
            "select",
            "the gateway serves one database",
        ),
        (
            json!(["CLIENT", "KILL", "TYPE", "normal"]),
            "client",
            "it would change the state of a shared connection",
        ),
        (
            json!(["BLPOP", "l", 0]),
            "blpop",
            "blocking commands would hold a shared connection",
        ),
    ] {
        assert_eq!(
            plain(ADMIN_TOKEN, cmd.clone()).await,
            (
                400,
                json!({
                    "error": format!("ERR command '{name}' is not supported over REST: {reason}")
                })
            ),
            "{cmd}"
        );
    }
    assert_eq!(redis.cli(&["PING"]), "PONG");
    // Any token may scrape the gateway's metrics.
    let res = http
        .get(format!("{}/metrics", gw.url()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    gw.stop().await.unwrap();
}

/// An admin token must differ from the other tokens and may not be empty: the gateway refuses
/// to start rather than silently granting administration to the full token.
#[tokio::test]
async fn admin_token_must_be_distinct_and_non_empty() {
    for bad in ["", TOKEN, RO_TOKEN] {
        let mut config = Config::new(redis_url(), TOKEN);
        config.listen = "127.0.0.1:0".into();
        config.readonly_token = Some(RO_TOKEN.into());
        config.admin_token = Some(bad.into());
        let err = spawn(config).await.unwrap_err().to_string();
        assert!(err.contains("GATEWAY_ADMIN_TOKEN"), "{bad:?}: {err}");
    }
}
