//! The edge API (docs/api.md#edge-api) end to end: the built worker in Miniflare, over real HTTP, against
//! the gateway and a real Redis.

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};

use testkit::Worker;
use testkit_stack::stack::{
    closed_port, gateway, Mode, PrivateRedis, Stack, StubOrigin, GATEWAY_TOKEN, TOKEN_SECRET,
};

type Answer = (StatusCode, HeaderMap, Value);

async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    (status, headers, body)
}

async fn get(s: &Stack, path: &str) -> Answer {
    answer(s.http.get(s.url(path)).send().await.expect("GET")).await
}

async fn reserve_with(s: &Stack, body: &Value, key: Option<&str>, ip: Option<&str>) -> Answer {
    let mut rb = s.http.post(s.url("/v1/reservations")).json(body);
    if let Some(k) = key {
        rb = rb.header("idempotency-key", k);
    }
    if let Some(ip) = ip {
        rb = rb.header("cf-connecting-ip", ip);
    }
    answer(rb.send().await.expect("POST /v1/reservations")).await
}

async fn reserve(s: &Stack, body: Value) -> Answer {
    reserve_with(s, &body, None, None).await
}

async fn with_token(
    s: &Stack,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut rb = s.http.request(method, s.url(path));
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    answer(rb.send().await.expect("request")).await
}

fn code(a: &Answer) -> &str {
    a.2["error"]["code"].as_str().unwrap_or("<none>")
}

fn header<'a>(a: &'a Answer, name: &str) -> Option<&'a str> {
    a.1.get(name).and_then(|v| v.to_str().ok())
}

/// Reserved units of a SKU as stored (expired holds included until reaped).
async fn stored_reserved(s: &Stack, sku: &str) -> i64 {
    let v = s
        .engine
        .client()
        .command(
            &upstash_rest::cmd("HGET")
                .arg(s.engine.keys().stock(sku))
                .arg("reserved"),
        )
        .await
        .expect("HGET");
    v.as_i64().unwrap_or(0)
}

async fn available(s: &Stack, sku: &str) -> i64 {
    let levels = s
        .engine
        .stock(&[edgestock_core::domain::Sku::parse(sku).unwrap()])
        .await
        .expect("stock");
    levels[0].available()
}

mod analytics;
mod contention;
mod failures;
mod locations;
mod losers;
mod reservations;
mod stock;
