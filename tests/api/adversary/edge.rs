//! Attacks on the edge API (docs/api.md#edge-api): expiring tokens, idempotency keys scoped to
//! their client, rate limits that count every attempt, bounded bodies and errors that keep the
//! internals to themselves.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use testkit_stack::stack::{closed_port, Stack, TOKEN_SECRET};

type Answer = (StatusCode, HeaderMap, Value);

async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, headers, body)
}

fn code(a: &Answer) -> &str {
    a.2["error"]["code"].as_str().unwrap_or("<none>")
}

/// `POST /v1/reservations` as a client at `ip` (none: no `CF-Connecting-IP`), with `key`.
async fn reserve(s: &Stack, body: &Value, key: Option<&str>, ip: Option<&str>) -> Answer {
    let mut rb = s.http.post(s.url("/v1/reservations")).json(body);
    if let Some(k) = key {
        rb = rb.header("idempotency-key", k);
    }
    if let Some(ip) = ip {
        rb = rb.header("cf-connecting-ip", ip);
    }
    answer(rb.send().await.expect("POST /v1/reservations")).await
}

async fn call(
    s: &Stack,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Answer {
    let mut rb = s.http.request(method, s.url(path)).bearer_auth(token);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    answer(rb.send().await.expect("request")).await
}

const KEY: &str = "k7Qp2Vx9LmN4rT8wYz1Abc";

#[tokio::test]
async fn a_token_is_refused_after_its_fixed_expiry() {
    // exp = created_at + MAX_HOLD + PAYMENT_WINDOW + CONFIRM_GRACE = created_at + 2 s.
    let s = Stack::start(json!({
        "DEFAULT_HOLD_SECONDS": "1",
        "MAX_HOLD_SECONDS": "1",
        "PAYMENT_WINDOW_SECONDS": "1",
        "CONFIRM_GRACE_SECONDS": "0",
    }))
    .await;
    s.seed("TX", 10, 0).await;
    let body = json!({"items": [{"sku": "TX", "qty": 1}]});
    let a = reserve(&s, &body, Some(KEY), Some("198.51.100.30")).await;
    assert_eq!(a.0, StatusCode::CREATED, "{:?}", a.2);
    let id = a.2["reservation_id"].as_str().unwrap().to_owned();
    let token = a.2["token"].as_str().unwrap().to_owned();
    let created_ms = a.2["created_at_ms"].as_i64().unwrap();
    let exp = created_ms.div_euclid(1000) + 2;
    assert_eq!(token, testkit::reservation_token(TOKEN_SECRET, &id, exp));
    // A replay of the same key answers the same token.
    let again = reserve(&s, &body, Some(KEY), Some("198.51.100.30")).await;
    assert_eq!(again.0, StatusCode::OK, "{:?}", again.2);
    assert_eq!(again.2["token"], token.as_str());

    let path = format!("/v1/reservations/{id}");
    let a = call(&s, reqwest::Method::GET, &path, &token, None).await;
    assert_eq!(a.0, StatusCode::OK, "{:?}", a.2);

    let wait = (exp * 1000 + 300 - created_ms).max(0) as u64;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    // Checked before anything else, on every route: even a confirm answers token_expired.
    let (ext, conf) = (format!("{path}/extend"), format!("{path}/confirm"));
    let calls = [
        (reqwest::Method::GET, &path, None),
        (reqwest::Method::DELETE, &path, None),
        (reqwest::Method::POST, &ext, Some(json!({"seconds": 1}))),
        (reqwest::Method::POST, &conf, Some(json!({}))),
    ];
    for (method, p, body) in calls {
        let a = call(&s, method.clone(), p, &token, body).await;
        assert_eq!(
            (a.0, code(&a)),
            (StatusCode::UNAUTHORIZED, "token_expired"),
            "{method} {p}: {:?}",
            a.2
        );
    }
}

#[tokio::test]
async fn the_same_idempotency_key_from_another_client_never_returns_their_reservation() {
    let s = Stack::start(json!({})).await;
    s.seed("IK", 10, 0).await;
    let body = json!({"items": [{"sku": "IK", "qty": 1}]});
    let victim = reserve(&s, &body, Some(KEY), Some("198.51.100.40")).await;
    assert_eq!(victim.0, StatusCode::CREATED, "{:?}", victim.2);
    // The victim's own retry replays its reservation.
    let retry = reserve(&s, &body, Some(KEY), Some("198.51.100.40")).await;
    assert_eq!(retry.0, StatusCode::OK, "{:?}", retry.2);
    assert_eq!(retry.2["reservation_id"], victim.2["reservation_id"]);

    // Another IP with the stolen key and body: a reservation of its own.
    let thief = reserve(&s, &body, Some(KEY), Some("203.0.113.41")).await;
    assert_eq!(thief.0, StatusCode::CREATED, "{:?}", thief.2);
    assert_ne!(thief.2["reservation_id"], victim.2["reservation_id"]);
    assert_ne!(thief.2["token"], victim.2["token"]);

    // Scoped by cart when there is one: the same IP with another cart is another key.
    let cart_a = json!({"items": [{"sku": "IK", "qty": 1}], "cart_id": "cart-a"});
    let cart_b = json!({"items": [{"sku": "IK", "qty": 1}], "cart_id": "cart-b"});
    let a = reserve(&s, &cart_a, Some(KEY), Some("198.51.100.42")).await;
    assert_eq!(a.0, StatusCode::CREATED, "{:?}", a.2);
    let b = reserve(&s, &cart_b, Some(KEY), Some("198.51.100.42")).await;
    assert_eq!(b.0, StatusCode::CREATED, "{:?}", b.2);
    assert_ne!(a.2["reservation_id"], b.2["reservation_id"]);
    // The same cart from another IP (a shopper whose address changed) is the same key.
    let a2 = reserve(&s, &cart_a, Some(KEY), Some("198.51.100.43")).await;
    assert_eq!(a2.0, StatusCode::OK, "{:?}", a2.2);
    assert_eq!(a2.2["reservation_id"], a.2["reservation_id"]);
}

#[tokio::test]
async fn idempotency_keys_must_be_22_to_64_base64url_characters() {
    let s = Stack::start(json!({})).await;
    s.seed("IK", 10, 0).await;
    let body = json!({"items": [{"sku": "IK", "qty": 1}]});
    let long = "a".repeat(65);
    for bad in [
        "short-key",
        "k7Qp2Vx9LmN4rT8wYz1Ab",
        long.as_str(),
        "k7Qp2Vx9LmN4rT8wYz1Abc+/",
        "k7Qp2Vx9LmN4rT8wYz1Abc==",
    ] {
        let a = reserve(&s, &body, Some(bad), Some("198.51.100.50")).await;
        assert_eq!(
            (a.0, code(&a)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
            "{bad}: {:?}",
            a.2
        );
        assert_eq!(a.2["error"]["field"], "Idempotency-Key");
    }
    let uuid = "0b0e3c1e-9d4f-4b7a-8a47-5c3d2f1e0a9b";
    for good in [KEY, uuid, &"_".repeat(64)] {
        let a = reserve(&s, &body, Some(good), Some("198.51.100.50")).await;
        assert_eq!(a.0, StatusCode::CREATED, "{good}: {:?}", a.2);
    }
}

#[tokio::test]
async fn refused_reserve_attempts_count_toward_the_rate_limit() {
    let s = Stack::start(json!({"RATE_LIMIT_PER_MINUTE": "2"})).await;
    s.seed("GONE", 0, 0).await;
    s.seed("FREE", 5, 0).await;
    let sold_out = json!({"items": [{"sku": "GONE", "qty": 1}]});
    for _ in 0..2 {
        let a = reserve(&s, &sold_out, None, Some("198.51.100.60")).await;
        assert_eq!(
            (a.0, code(&a)),
            (StatusCode::CONFLICT, "insufficient_stock"),
            "{:?}",
            a.2
        );
    }
    let a = reserve(&s, &sold_out, None, Some("198.51.100.60")).await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        "{:?}",
        a.2
    );
    // Unknown SKUs count too.
    let unknown = json!({"items": [{"sku": "NOPE", "qty": 1}]});
    for _ in 0..2 {
        let a = reserve(&s, &unknown, None, Some("198.51.100.61")).await;
        assert_eq!(
            (a.0, code(&a)),
            (StatusCode::NOT_FOUND, "unknown_sku"),
            "{:?}",
            a.2
        );
    }
    let free = json!({"items": [{"sku": "FREE", "qty": 1}]});
    let a = reserve(&s, &free, None, Some("198.51.100.61")).await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        "{:?}",
        a.2
    );
    // A refused attempt changed nothing but the counters.
    let a = answer(
        s.http
            .get(s.url("/v1/stock?sku=FREE"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.0, StatusCode::OK);
    assert_eq!(a.2["items"][0]["status"], "in_stock", "{:?}", a.2);
}

#[tokio::test]
async fn ipv6_clients_are_limited_by_their_64() {
    let s = Stack::start(json!({"RATE_LIMIT_PER_MINUTE": "2"})).await;
    s.seed("V6", 100, 0).await;
    let body = json!({"items": [{"sku": "V6", "qty": 1}]});
    for ip in ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9"] {
        let a = reserve(&s, &body, None, Some(ip)).await;
        assert_eq!(a.0, StatusCode::CREATED, "{ip}: {:?}", a.2);
    }
    let a = reserve(&s, &body, None, Some("2001:db8:1:2:abcd:1:2:3")).await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        "{:?}",
        a.2
    );
    // The next /64 is another client.
    let a = reserve(&s, &body, None, Some("2001:db8:1:3::1")).await;
    assert_eq!(a.0, StatusCode::CREATED, "{:?}", a.2);
}

/// Sends a chunked body that never ends and returns the status line of the answer, if any came
/// within a few seconds.
async fn never_ending_chunked_body(s: &Stack) -> Option<String> {
    let addr = s.url("").trim_start_matches("http://").to_owned();
    let mut sock = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /v1/reservations HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\n\r\n"
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 4096];
    // 24 KiB, well over the 16 KiB limit, and then silence: the body never ends.
    for _ in 0..6 {
        sock.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .unwrap();
        sock.write_all(&chunk).await.unwrap();
        sock.write_all(b"\r\n").await.unwrap();
    }
    sock.flush().await.unwrap();
    // Whatever arrives within 5 s, up to the end of the JSON error body.
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !got.ends_with(b"}}") {
        match tokio::time::timeout_at(deadline, sock.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    (!got.is_empty()).then(|| String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test]
async fn a_chunked_body_is_cut_off_at_the_limit() {
    let s = Stack::start(json!({})).await;
    let answer = never_ending_chunked_body(&s).await;
    let answer = answer.expect("the edge answered before the body ended");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("body_too_large"), "{answer}");
}

#[tokio::test]
async fn internal_error_text_stays_in_the_log() {
    let port = closed_port();
    let s = Stack::start(json!({"REDIS_REST_URL": format!("http://127.0.0.1:{port}")})).await;
    let a = answer(s.http.get(s.url("/v1/stock/A")).send().await.unwrap()).await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::SERVICE_UNAVAILABLE, "redis_unavailable"),
        "{:?}",
        a.2
    );
    let message = a.2["error"]["message"].as_str().unwrap();
    assert!(
        !message.contains("127.0.0.1") && !message.contains(&port.to_string()),
        "{message}"
    );
    let rid = a.2["error"]["request_id"]
        .as_str()
        .expect("a request_id detail");
    assert_eq!(rid.len(), 32);
    assert!(rid.bytes().all(|b| b.is_ascii_hexdigit()), "{rid}");
    assert_eq!(
        a.1.get("x-request-id").and_then(|v| v.to_str().ok()),
        Some(rid)
    );
    assert!(message.contains(rid), "{message}");
    let a = reserve(&s, &json!({"items": [{"sku": "A", "qty": 1}]}), None, None).await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::SERVICE_UNAVAILABLE, "redis_unavailable"),
        "{:?}",
        a.2
    );
    let message = a.2["error"]["message"].as_str().unwrap();
    assert!(!message.contains("127.0.0.1"), "{message}");
}
