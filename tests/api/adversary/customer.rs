//! Attacks on customer identity at the edge (docs/api.md#customers): customer tokens that do not
//! verify, a customer's own rate tier, idempotency keys scoped to the customer, reservations
//! bound to their customer; what a customer may hold (login-only SKUs, the cap) in
//! `customer/limits.rs`.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use edgestock_core::domain::Sku;
use testkit_stack::stack::{Stack, TOKEN_SECRET};

mod limits;

type Answer = (StatusCode, HeaderMap, Value);

const ISS: &str = "https://shop.example";
const AUD: &str = "edgestock";
const SECRET: &str = "e2e-customer-jwt-secret";
const KEY: &str = "k7Qp2Vx9LmN4rT8wYz1Abc";
const ES256_PEM: &str = include_str!("../../../testkit/fixtures/customer_jwt/es256.pem");
const JWKS: &str = include_str!("../../../testkit/fixtures/customer_jwt/jwks.json");

fn bindings(extra: Value) -> Value {
    let mut b = json!({
        "CUSTOMER_JWT_SECRET": SECRET,
        "CUSTOMER_JWKS": JWKS,
        "CUSTOMER_JWT_ISSUER": ISS,
        "CUSTOMER_JWT_AUDIENCE": AUD,
    });
    for (k, v) in extra.as_object().expect("object") {
        b[k] = v.clone();
    }
    b
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn claims(sub: &str) -> Value {
    let now = now_secs();
    json!({"sub": sub, "iss": ISS, "aud": AUD, "exp": now + 600, "nbf": now - 5})
}

fn hs256(claims: &Value, secret: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

/// A genuine HS256 customer token for `sub`.
fn jwt(sub: &str) -> String {
    hs256(&claims(sub), SECRET)
}

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

/// `POST /v1/reservations` from `ip` with an optional key and customer token.
async fn reserve(
    s: &Stack,
    body: &Value,
    key: Option<&str>,
    ip: &str,
    customer: Option<&str>,
) -> Answer {
    let mut rb = s
        .http
        .post(s.url("/v1/reservations"))
        .json(body)
        .header("cf-connecting-ip", ip);
    if let Some(k) = key {
        rb = rb.header("idempotency-key", k);
    }
    if let Some(c) = customer {
        rb = rb.header("x-customer-token", c);
    }
    answer(rb.send().await.expect("POST /v1/reservations")).await
}

async fn call(
    s: &Stack,
    method: Method,
    path: &str,
    token: &str,
    customer: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut rb = s.http.request(method, s.url(path)).bearer_auth(token);
    if let Some(c) = customer {
        rb = rb.header("x-customer-token", c);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    answer(rb.send().await.expect("request")).await
}

async fn available(s: &Stack, sku: &str) -> i64 {
    s.engine
        .stock(&[Sku::parse(sku).expect("sku")])
        .await
        .expect("stock")[0]
        .available()
}

#[tokio::test]
async fn a_customer_token_that_does_not_verify_is_refused_before_redis() {
    // One attempt per minute per IP: a refused customer token must not use it up.
    let s = Stack::start(bindings(json!({"RATE_LIMIT_PER_MINUTE": "1"}))).await;
    s.seed("CT", 10, 0).await;
    let body = json!({"items": [{"sku": "CT", "qty": 1}]});
    let now = now_secs();
    let with = |k: &str, v: Value| {
        let mut c = claims("alice");
        c[k] = v;
        c
    };
    let mut none = Header::new(Algorithm::HS256);
    none.kid = Some("rsa-1".into());
    let confused = encode(
        &none,
        &claims("alice"),
        &EncodingKey::from_secret(JWKS.as_bytes()),
    )
    .expect("sign");
    let mut es = Header::new(Algorithm::ES256);
    es.kid = Some("unknown-kid".into());
    let unknown_kid = encode(
        &es,
        &claims("alice"),
        &EncodingKey::from_ec_pem(ES256_PEM.as_bytes()).expect("pem"),
    )
    .expect("sign");
    let bad = [
        ("wrong secret", hs256(&claims("alice"), "not-the-secret")),
        ("expired", hs256(&with("exp", json!(now - 120)), SECRET)),
        (
            "not yet valid",
            hs256(&with("nbf", json!(now + 120)), SECRET),
        ),
        (
            "wrong audience",
            hs256(&with("aud", json!("someone-else")), SECRET),
        ),
        (
            "wrong issuer",
            hs256(&with("iss", json!("https://evil.example")), SECRET),
        ),
        (
            "alg none",
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhbGljZSJ9.".to_owned(),
        ),
        ("HS256 under the RSA kid", confused),
        ("unknown kid", unknown_kid),
        ("garbage", "garbage".to_owned()),
    ];
    for (what, token) in &bad {
        let a = reserve(&s, &body, Some(KEY), "198.51.100.70", Some(token)).await;
        assert_eq!(
            (a.0, code(&a)),
            (StatusCode::UNAUTHORIZED, "invalid_customer_token"),
            "{what}: {:?}",
            a.2
        );
    }
    assert_eq!(available(&s, "CT").await, 10);
    // Nothing counted: the IP's one attempt of the minute is still there.
    let a = reserve(&s, &body, Some(KEY), "198.51.100.70", None).await;
    assert_eq!(a.0, StatusCode::CREATED, "{:?}", a.2);
    let id = a.2["reservation_id"].as_str().unwrap().to_owned();
    let token = a.2["token"].as_str().unwrap().to_owned();
    // On the token routes too, even for a reservation bound to nobody.
    let path = format!("/v1/reservations/{id}");
    for (method, p, body) in [
        (Method::GET, path.clone(), None),
        (Method::DELETE, path.clone(), None),
        (
            Method::POST,
            format!("{path}/extend"),
            Some(json!({"seconds": 1})),
        ),
        (Method::POST, format!("{path}/confirm"), Some(json!({}))),
        (Method::POST, format!("{path}/cancel"), Some(json!({}))),
    ] {
        let a = call(&s, method.clone(), &p, &token, Some(&bad[1].1), body).await;
        assert_eq!(
            (a.0, code(&a)),
            (StatusCode::UNAUTHORIZED, "invalid_customer_token"),
            "{method} {p}: {:?}",
            a.2
        );
    }
    assert_eq!(available(&s, "CT").await, 9);
}

#[tokio::test]
async fn the_customer_rate_tier_has_its_own_limit_beside_the_ip_tier() {
    let s = Stack::start(bindings(json!({
        "RATE_LIMIT_PER_MINUTE": "100",
        "CUSTOMER_RATE_LIMIT_PER_MINUTE": "2",
    })))
    .await;
    s.seed("RT", 100, 0).await;
    let body = json!({"items": [{"sku": "RT", "qty": 1}]});
    let alice = jwt("alice");
    // Alice from three addresses: the third attempt is over her own tier.
    for ip in ["198.51.100.80", "198.51.100.81"] {
        let a = reserve(&s, &body, None, ip, Some(&alice)).await;
        assert_eq!(a.0, StatusCode::CREATED, "{ip}: {:?}", a.2);
    }
    let a = reserve(&s, &body, None, "198.51.100.82", Some(&alice)).await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        "{:?}",
        a.2
    );
    assert!(a.1.get("retry-after").is_some());
    // Bob on the same address, and anonymous shoppers there, are not limited by Alice's tier.
    let a = reserve(&s, &body, None, "198.51.100.82", Some(&jwt("bob"))).await;
    assert_eq!(a.0, StatusCode::CREATED, "{:?}", a.2);
    let a = reserve(&s, &body, None, "198.51.100.82", None).await;
    assert_eq!(a.0, StatusCode::CREATED, "{:?}", a.2);
    assert_eq!(available(&s, "RT").await, 96);
}

#[tokio::test]
async fn idempotency_keys_are_scoped_to_the_customer() {
    let s = Stack::start(bindings(json!({}))).await;
    s.seed("IC", 10, 0).await;
    let cart_a = json!({"items": [{"sku": "IC", "qty": 1}], "cart_id": "cart-a"});
    let cart_b = json!({"items": [{"sku": "IC", "qty": 1}], "cart_id": "cart-b"});
    let alice = jwt("alice");
    let first = reserve(&s, &cart_a, Some(KEY), "198.51.100.90", Some(&alice)).await;
    assert_eq!(first.0, StatusCode::CREATED, "{:?}", first.2);
    // Alice's retry from another address: the same reservation and token (the customer is the
    // strongest subject; the cart is part of the body, so the same body is sent).
    let retry = reserve(&s, &cart_a, Some(KEY), "203.0.113.91", Some(&alice)).await;
    assert_eq!(retry.0, StatusCode::OK, "{:?}", retry.2);
    assert_eq!(retry.2["reservation_id"], first.2["reservation_id"]);
    assert_eq!(retry.2["token"], first.2["token"]);
    // The same key with another body from Alice: reused.
    let other = reserve(&s, &cart_b, Some(KEY), "198.51.100.90", Some(&alice)).await;
    assert_eq!(
        (other.0, code(&other)),
        (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"),
        "{:?}",
        other.2
    );
    // Bob with Alice's key, body, cart and address: a reservation of his own.
    let bob = reserve(&s, &cart_a, Some(KEY), "198.51.100.90", Some(&jwt("bob"))).await;
    assert_eq!(bob.0, StatusCode::CREATED, "{:?}", bob.2);
    assert_ne!(bob.2["reservation_id"], first.2["reservation_id"]);
    // And the anonymous client of that cart too.
    let anon = reserve(&s, &cart_a, Some(KEY), "198.51.100.90", None).await;
    assert_eq!(anon.0, StatusCode::CREATED, "{:?}", anon.2);
    assert_ne!(anon.2["reservation_id"], first.2["reservation_id"]);
    assert_eq!(available(&s, "IC").await, 7);
}

#[tokio::test]
async fn a_reservation_bound_to_a_customer_answers_403_without_their_token() {
    let s = Stack::start(bindings(json!({}))).await;
    s.seed("BD", 10, 0).await;
    let body = json!({"items": [{"sku": "BD", "qty": 2}]});
    let alice = jwt("alice");
    let a = reserve(&s, &body, Some(KEY), "198.51.100.100", Some(&alice)).await;
    assert_eq!(a.0, StatusCode::CREATED, "{:?}", a.2);
    let id = a.2["reservation_id"].as_str().unwrap().to_owned();
    let token = a.2["token"].as_str().unwrap().to_owned();
    let exp = a.2["created_at_ms"].as_i64().unwrap().div_euclid(1000) + 1860;
    assert_eq!(
        token,
        testkit::bound_reservation_token(
            TOKEN_SECRET,
            &id,
            exp,
            &testkit::customer_hash(ISS, "alice")
        )
    );
    // An ES256 token of Alice (JWKS, kid ec-1) is the same customer.
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("ec-1".into());
    let alice_es = encode(
        &h,
        &claims("alice"),
        &EncodingKey::from_ec_pem(ES256_PEM.as_bytes()).expect("pem"),
    )
    .expect("sign");

    let path = format!("/v1/reservations/{id}");
    let bob = jwt("bob");
    for customer in [None, Some(bob.as_str())] {
        for (method, p, body) in [
            (Method::GET, path.clone(), None),
            (Method::DELETE, path.clone(), None),
            (
                Method::POST,
                format!("{path}/extend"),
                Some(json!({"seconds": 1})),
            ),
            (Method::POST, format!("{path}/confirm"), Some(json!({}))),
            (Method::POST, format!("{path}/cancel"), Some(json!({}))),
        ] {
            let a = call(&s, method.clone(), &p, &token, customer, body).await;
            assert_eq!(
                (a.0, code(&a)),
                (StatusCode::FORBIDDEN, "customer_mismatch"),
                "{method} {p} as {customer:?}: {:?}",
                a.2
            );
        }
    }
    assert_eq!(available(&s, "BD").await, 8);
    // The binding cannot be stripped from the token.
    let (exp_part, rest) = token.split_once('.').unwrap();
    let stripped = format!("{exp_part}.{}", rest.split_once('.').unwrap().1);
    let a = call(&s, Method::GET, &path, &stripped, None, None).await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::FORBIDDEN, "invalid_token"),
        "{:?}",
        a.2
    );
    // Alice, with either of her tokens, acts on it.
    let a = call(&s, Method::GET, &path, &token, Some(&alice_es), None).await;
    assert_eq!(a.0, StatusCode::OK, "{:?}", a.2);
    let a = call(
        &s,
        Method::POST,
        &format!("{path}/extend"),
        &token,
        Some(&alice),
        Some(json!({"seconds": 1})),
    )
    .await;
    assert_eq!(a.0, StatusCode::OK, "{:?}", a.2);
    let a = call(&s, Method::DELETE, &path, &token, Some(&alice), None).await;
    assert_eq!(a.0, StatusCode::OK, "{:?}", a.2);
    assert_eq!(a.2["released"], true);
    assert_eq!(available(&s, "BD").await, 10);

    // A reservation made without a customer token stays unbound, as before.
    let a = reserve(&s, &body, None, "198.51.100.101", None).await;
    assert_eq!(a.0, StatusCode::CREATED, "{:?}", a.2);
    let id = a.2["reservation_id"].as_str().unwrap();
    let token = a.2["token"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 2, "{token}");
    let a = call(
        &s,
        Method::GET,
        &format!("/v1/reservations/{id}"),
        token,
        None,
        None,
    )
    .await;
    assert_eq!(a.0, StatusCode::OK, "{:?}", a.2);
}
