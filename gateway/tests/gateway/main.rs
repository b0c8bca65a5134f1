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

mod access;
mod availability;
mod data;
