//! Handler tests over a fake platform: canned Redis replies, a recording origin, an in-memory cache.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use edgestock_api::ApiError;
use futures::executor::block_on;
use serde_json::{json, Value};
use upstash_rest::{HttpRequest, HttpResponse, Transport, TransportError};

use super::*;
use crate::crypto;
use crate::platform::{OriginRequest, OriginResponse};
use crate::routes::origin::{base_path, map_origin};
use crate::routes::stock::stock_cache_key;

#[derive(Default)]
struct Shared {
    redis_replies: VecDeque<Result<(u16, String), TransportError>>,
    redis_sent: Vec<String>,
    cache: HashMap<String, ApiResponse>,
    origin_reply: Option<Result<OriginResponse, TransportError>>,
    origin_sent: Vec<OriginRequest>,
}

#[derive(Clone, Default)]
struct Fake(Rc<RefCell<Shared>>);

impl Fake {
    fn redis(&self, status: u16, body: &str) -> &Self {
        self.0
            .borrow_mut()
            .redis_replies
            .push_back(Ok((status, body.to_owned())));
        self
    }
    fn sent(&self) -> Vec<String> {
        self.0.borrow().redis_sent.clone()
    }
}

impl Transport for Fake {
    async fn post(&self, req: HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut s = self.0.borrow_mut();
        s.redis_sent
            .push(String::from_utf8_lossy(&req.body).into_owned());
        let (status, body) = s
            .redis_replies
            .pop_front()
            .unwrap_or(Err(TransportError::Failed("no canned reply".into())))?;
        Ok(HttpResponse {
            status,
            body: body.into_bytes(),
        })
    }
}

impl Platform for Fake {
    type Redis = Fake;
    fn redis_transport(&self) -> Fake {
        self.clone()
    }
    fn now_ms(&self) -> i64 {
        1_700_000_000_000
    }
    fn random_bytes(&self) -> [u8; 16] {
        [7; 16]
    }
    async fn cache_get(&self, key: &str) -> Option<ApiResponse> {
        self.0.borrow().cache.get(key).cloned()
    }
    async fn cache_put(&self, key: &str, resp: &ApiResponse) {
        self.0
            .borrow_mut()
            .cache
            .insert(key.to_owned(), resp.clone());
    }
    async fn origin_post(&self, req: OriginRequest) -> Result<OriginResponse, TransportError> {
        let mut s = self.0.borrow_mut();
        s.origin_sent.push(req);
        s.origin_reply
            .clone()
            .unwrap_or(Err(TransportError::Failed("refused".into())))
    }
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn cfg_with(extra: &[(&str, &str)]) -> Result<Config, ApiError> {
    let mut map: HashMap<&str, &str> = [
        ("REDIS_REST_URL", "http://redis"),
        ("REDIS_REST_TOKEN", "t"),
        ("RESERVATION_TOKEN_SECRET", "secret"),
        ("EDGE_ORIGIN_SECRET", "osecret"),
        ("ORIGIN_URL", "http://origin:8080"),
        ("ALLOWED_ORIGINS", "https://shop.example"),
    ]
    .into_iter()
    .collect();
    map.extend(extra.iter().copied());
    Config::from_lookup(&|k| map.get(k).map(|v| (*v).to_owned()))
}

fn cfg() -> Result<Config, ApiError> {
    cfg_with(&[])
}

fn req(method: &str, path_and_query: &str) -> ApiRequest {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    ApiRequest {
        method: method.into(),
        url_origin: "http://edge".into(),
        path: path.into(),
        query: query.into(),
        headers: Vec::new(),
        body: Vec::new(),
    }
}

fn with_header(mut r: ApiRequest, k: &str, v: &str) -> ApiRequest {
    r.headers.push((k.into(), v.into()));
    r
}

fn with_json(r: ApiRequest, body: &str) -> ApiRequest {
    let mut r = with_header(r, "content-type", "application/json");
    r.body = body.as_bytes().to_vec();
    r
}

fn json_of(r: &ApiResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

fn run(p: &Fake, cfg: &Result<Config, ApiError>, r: &ApiRequest) -> ApiResponse {
    block_on(handle(p, cfg, r))
}

#[test]
fn routes_unknown_paths_and_wrong_methods() {
    let p = Fake::default();
    let r = run(&p, &cfg(), &req("GET", "/nope"));
    assert_eq!(r.status, 404);
    assert_eq!(json_of(&r)["error"]["code"], "not_found");
    let r = run(&p, &cfg(), &req("PUT", "/v1/reservations"));
    assert_eq!(r.status, 405);
    assert_eq!(json_of(&r)["error"]["code"], "method_not_allowed");
    assert_eq!(r.header("allow"), Some("POST, OPTIONS"));
    let r = run(&p, &cfg(), &req("POST", "/v1/reservations/abc"));
    assert_eq!(r.header("allow"), Some("GET, DELETE, OPTIONS"));
    assert_eq!(
        Route::parse("/v1/reservations/a/extend"),
        Some(Route::Extend("a"))
    );
    assert_eq!(Route::parse("/v1/stock/"), None);
    assert!(p.sent().is_empty());
}

#[test]
fn health_and_static_files_need_no_configuration() {
    let p = Fake::default();
    let broken = Config::from_lookup(&|k| (k == "MAX_ITEMS").then(|| "x".to_owned()));
    assert!(broken.is_err());
    let r = run(&p, &broken, &req("GET", "/healthz"));
    assert_eq!(r.status, 200);
    assert_eq!(json_of(&r)["status"], "ok");
    let r = run(&p, &broken, &req("GET", "/edgestock.js"));
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
    assert!(String::from_utf8_lossy(&r.body).contains("export class StockBadges"));
    let r = run(&p, &broken, &req("GET", "/demo.html"));
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let r = run(&p, &broken, &req("GET", "/v1/stock/A"));
    assert_eq!(r.status, 500);
    assert_eq!(json_of(&r)["error"]["code"], "config_error");
}

#[test]
fn missing_secrets_are_config_errors() {
    let p = Fake::default();
    let c = Config::from_lookup(&|_| None);
    let r = run(&p, &c, &req("GET", "/v1/stock/A"));
    assert_eq!(
        (r.status, json_of(&r)["error"]["code"].as_str()),
        (500, Some("config_error"))
    );
    let r = run(
        &p,
        &c,
        &with_json(
            req("POST", "/v1/reservations"),
            r#"{"items":[{"sku":"A","qty":1}]}"#,
        ),
    );
    assert_eq!(r.status, 500);
}

#[test]
fn cors_allows_configured_origins_only() {
    let p = Fake::default();
    let pre = with_header(
        req("OPTIONS", "/v1/reservations"),
        "origin",
        "https://shop.example",
    );
    let r = run(&p, &cfg(), &pre);
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://shop.example")
    );
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some(CORS_ALLOW_HEADERS)
    );
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("POST, OPTIONS")
    );
    let bad = with_header(
        req("OPTIONS", "/v1/reservations"),
        "origin",
        "https://evil.example",
    );
    let r = run(&p, &cfg(), &bad);
    assert_eq!(r.status, 403);
    assert_eq!(r.header("access-control-allow-origin"), None);
    let get = with_header(
        req("GET", "/v1/stock/a%20b"),
        "origin",
        "https://shop.example",
    );
    let r = run(&p, &cfg(), &get);
    assert_eq!(r.status, 422);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://shop.example")
    );
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some(CORS_EXPOSE_HEADERS)
    );
}

fn stock_reply(exists: i64, on_hand: i64, reserved: i64, low: i64) -> String {
    format!(r#"{{"result":[1700000000000,{exists},{on_hand},{reserved},{low}]}}"#)
}

#[test]
fn stock_reads_are_cached_with_etags_and_304s() {
    let p = Fake::default();
    p.redis(200, &stock_reply(1, 100, 0, 5));
    let c = cfg_with(&[("STOCK_CACHE_SECONDS", "30")]);
    let r = run(&p, &c, &req("GET", "/v1/stock/A"));
    assert_eq!(r.status, 200);
    assert_eq!(
        json_of(&r),
        json!({"sku": "A", "status": "in_stock", "low_stock_threshold": 5})
    );
    assert_eq!(r.header("cache-control"), Some("public, max-age=30"));
    assert_eq!(r.header("x-edgestock-cache"), Some("miss"));
    let etag = r.header("etag").unwrap().to_owned();
    assert_eq!(p.sent().len(), 1);
    assert!(p.sent()[0].contains("EVALSHA_RO"));

    // Second read: from the cache, no Redis call.
    let r2 = run(&p, &c, &req("GET", "/v1/stock/A"));
    assert_eq!(r2.status, 200);
    assert_eq!(r2.body, r.body);
    assert_eq!(r2.header("x-edgestock-cache"), Some("hit"));
    assert_eq!(p.sent().len(), 1);

    let cond = with_header(req("GET", "/v1/stock/A"), "if-none-match", &etag);
    let r3 = run(&p, &c, &cond);
    assert_eq!(r3.status, 304);
    assert!(r3.body.is_empty());
    assert_eq!(r3.header("etag"), Some(etag.as_str()));
    assert_eq!(p.sent().len(), 1);
}

#[test]
fn unknown_and_batch_stock_reads() {
    let p = Fake::default();
    p.redis(200, &stock_reply(0, 0, 0, 0));
    let r = run(&p, &cfg(), &req("GET", "/v1/stock/NOPE"));
    assert_eq!(r.status, 404);
    assert_eq!(json_of(&r)["error"]["code"], "unknown_sku");

    p.redis(200, r#"{"result":[1,1,10,8,3,0,0,0,0,1,50,0,5]}"#);
    let r = run(&p, &cfg(), &req("GET", "/v1/stock?sku=A&sku=B&sku=C"));
    assert_eq!(r.status, 200);
    assert_eq!(
        json_of(&r),
        json!({"items": [
            {"sku": "A", "status": "low_stock", "available": 2, "low_stock_threshold": 3},
            {"sku": "B", "status": "unknown"},
            {"sku": "C", "status": "in_stock", "low_stock_threshold": 5},
        ]})
    );
    // One Redis call for the whole batch.
    assert_eq!(p.sent().len(), 2);
}

#[test]
fn redis_down_is_503_with_retry_after() {
    let p = Fake::default();
    let r = run(&p, &cfg(), &req("GET", "/v1/stock/A"));
    assert_eq!(r.status, 503);
    assert_eq!(json_of(&r)["error"]["code"], "redis_unavailable");
    assert_eq!(r.header("retry-after"), Some("1"));
    p.redis(503, r#"{"error":"redis unreachable"}"#);
    let r = run(&p, &cfg(), &req("GET", "/v1/stock/A"));
    assert_eq!(r.status, 503);
}

fn reserve_req(body: &str) -> ApiRequest {
    with_json(req("POST", "/v1/reservations"), body)
}

#[test]
fn reserve_success_replay_and_errors() {
    let p = Fake::default();
    let id = crypto::idempotent_id("secret", "k1");
    p.redis(
        200,
        &format!(
            r#"{{"result":["{}","{}","{}",1700000000000,1700000060000,0,1700000000000]}}"#,
            b64("ok"),
            b64(&id),
            b64("held")
        ),
    );
    let rq = with_header(
        with_header(
            reserve_req(r#"{"items":[{"sku":"A","qty":2}],"ttl_seconds":60,"cart_id":"c1"}"#),
            "idempotency-key",
            "k1",
        ),
        "cf-connecting-ip",
        "203.0.113.9",
    );
    let r = run(&p, &cfg(), &rq);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let b = json_of(&r);
    assert_eq!(b["reservation_id"], id.as_str());
    assert_eq!(
        b["token"],
        crypto::reservation_token("secret", &id).as_str()
    );
    assert_eq!(b["items"], json!([{"sku": "A", "qty": 2}]));
    assert_eq!(b["expires_at_ms"], 1_700_000_060_000_i64);
    assert_eq!(b["expires_at"], "2023-11-14T22:14:20.000Z");
    assert_eq!(b["ttl_seconds"], 60);
    assert_eq!(b["status"], "held");
    let sent = &p.sent()[0];
    assert!(
        sent.contains("rl:{ip:203.0.113.9}") && sent.contains("rl:{cart:c1}"),
        "{sent}"
    );
    assert!(sent.contains(r#""60000""#), "ttl in ms: {sent}");

    // Replay.
    p.redis(
        200,
        &format!(
            r#"{{"result":["{}","{}","{}",1700000000000,1700000060000,1,1700000001000]}}"#,
            b64("ok"),
            b64(&id),
            b64("held")
        ),
    );
    let r2 = run(&p, &cfg(), &rq);
    assert_eq!(r2.status, 200);
    assert_eq!(r2.header("idempotency-replayed"), Some("true"));
    assert_eq!(json_of(&r2), b);

    for (reply, status, code) in [
        (
            format!(
                r#"{{"result":["{}","{}",3]}}"#,
                b64("insufficient"),
                b64("A")
            ),
            409,
            "insufficient_stock",
        ),
        (
            format!(r#"{{"result":["{}","{}"]}}"#, b64("unknown_sku"), b64("A")),
            404,
            "unknown_sku",
        ),
        (
            format!(r#"{{"result":["{}",1500]}}"#, b64("rate_limited")),
            429,
            "rate_limited",
        ),
        (
            format!(r#"{{"result":["{}"]}}"#, b64("idempotency_mismatch")),
            422,
            "idempotency_key_reused",
        ),
    ] {
        p.redis(200, &reply);
        let r = run(&p, &cfg(), &rq);
        assert_eq!(
            (r.status, json_of(&r)["error"]["code"].as_str()),
            (status, Some(code))
        );
        if status == 409 {
            assert_eq!(json_of(&r)["error"]["available"], 3);
            assert_eq!(json_of(&r)["error"]["sku"], "A");
        }
        if status == 429 {
            assert_eq!(r.header("retry-after"), Some("2"));
        }
    }
}

#[test]
fn rejected_reserves_never_reach_redis() {
    let p = Fake::default();
    let mut too_big = reserve_req("{}");
    too_big.body = vec![b' '; 16 * 1024 + 1];
    for (rq, status) in [
        (reserve_req("{"), 400),
        (reserve_req(r#"{"items":[{"sku":"A","qty":0}]}"#), 422),
        (too_big, 413),
        (
            {
                let mut r = req("POST", "/v1/reservations");
                r.headers.push(("content-type".into(), "text/plain".into()));
                r.body = br#"{"items":[{"sku":"A","qty":1}]}"#.to_vec();
                r
            },
            415,
        ),
        (
            with_header(
                reserve_req(r#"{"items":[{"sku":"A","qty":1}]}"#),
                "idempotency-key",
                "",
            ),
            422,
        ),
    ] {
        let r = run(&p, &cfg(), &rq);
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    }
    assert!(p.sent().is_empty());
}

#[test]
fn reservation_routes_check_the_token_before_redis() {
    let p = Fake::default();
    let id = "0123456789abcdef0123456789abcdef";
    let r = run(&p, &cfg(), &req("GET", &format!("/v1/reservations/{id}")));
    assert_eq!(
        (r.status, json_of(&r)["error"]["code"].as_str()),
        (401, Some("missing_token"))
    );
    let r = run(
        &p,
        &cfg(),
        &with_header(
            req("DELETE", &format!("/v1/reservations/{id}")),
            "authorization",
            "Bearer nope",
        ),
    );
    assert_eq!(
        (r.status, json_of(&r)["error"]["code"].as_str()),
        (403, Some("invalid_token"))
    );
    assert!(p.sent().is_empty());

    let auth = format!("Bearer {}", crypto::reservation_token("secret", id));
    p.redis(200, &format!(r#"{{"result":["{}",1]}}"#, b64("not_found")));
    let r = run(
        &p,
        &cfg(),
        &with_header(
            req("GET", &format!("/v1/reservations/{id}")),
            "authorization",
            &auth,
        ),
    );
    assert_eq!(r.status, 404);
    assert_eq!(json_of(&r)["error"]["code"], "reservation_not_found");
}

#[test]
fn confirm_is_signed_and_forwarded_and_origin_failures_map() {
    let p = Fake::default();
    let id = "0123456789abcdef0123456789abcdef";
    let auth = format!("Bearer {}", crypto::reservation_token("secret", id));
    p.0.borrow_mut().origin_reply = Some(Ok(OriginResponse {
        status: 201,
        body: br#"{"order_id":"o1","status":"confirmed"}"#.to_vec(),
        retry_after: None,
    }));
    let rq = with_header(
        with_header(
            with_json(
                req("POST", &format!("/v1/reservations/{id}/confirm")),
                r#"{"customer_ref":"c9"}"#,
            ),
            "authorization",
            &auth,
        ),
        "idempotency-key",
        "ord-1",
    );
    let c = cfg_with(&[("ORIGIN_URL", "http://origin:8080/base/")]);
    let r = run(&p, &c, &rq);
    assert_eq!(r.status, 201);
    assert_eq!(json_of(&r)["order_id"], "o1");
    let sent = p.0.borrow().origin_sent[0].clone();
    assert_eq!(sent.url, "http://origin:8080/base/v1/orders");
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(body, json!({"reservation_id": id, "customer_ref": "c9"}));
    let h = |n: &str| {
        sent.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(h("idempotency-key").as_deref(), Some("ord-1"));
    assert_eq!(h("x-edgestock-timestamp").as_deref(), Some("1700000000"));
    assert_eq!(
        h("x-edgestock-signature").unwrap(),
        edgestock_core::signing::sign(
            b"osecret",
            "POST",
            "/base/v1/orders",
            1_700_000_000,
            &sent.body
        )
    );

    // Origin errors in our shape pass through; others are wrapped; transport failures are 503.
    let cases = [
        (
            Ok((
                409,
                r#"{"error":{"code":"reservation_expired","message":"gone"}}"#,
            )),
            409,
            "reservation_expired",
        ),
        (Ok((500, r#"{"error":"boom"}"#)), 500, "origin_error"),
        (Ok((502, "<html>bad gateway</html>")), 502, "origin_error"),
        (Err(TransportError::Timeout), 503, "origin_unavailable"),
        (
            Err(TransportError::Failed("refused".into())),
            503,
            "origin_unavailable",
        ),
    ];
    for (reply, status, code) in cases {
        p.0.borrow_mut().origin_reply = Some(reply.map(|(s, b)| OriginResponse {
            status: s,
            body: b.as_bytes().to_vec(),
            retry_after: None,
        }));
        let r = run(&p, &c, &rq);
        assert_eq!(
            (r.status, json_of(&r)["error"]["code"].as_str()),
            (status, Some(code))
        );
    }
}

#[test]
fn cancel_forwards_to_the_origin_cancel_route() {
    let p = Fake::default();
    let id = "0123456789abcdef0123456789abcdef";
    let auth = format!("Bearer {}", crypto::reservation_token("secret", id));
    p.0.borrow_mut().origin_reply = Some(Ok(OriginResponse {
        status: 200,
        body: br#"{"status":"released"}"#.to_vec(),
        retry_after: None,
    }));
    let rq = with_header(
        req("POST", &format!("/v1/reservations/{id}/cancel")),
        "authorization",
        &auth,
    );
    let r = run(&p, &cfg(), &rq);
    assert_eq!(r.status, 200);
    let sent = p.0.borrow().origin_sent[0].clone();
    assert_eq!(
        sent.url,
        format!("http://origin:8080/v1/reservations/{id}/cancel")
    );
    assert_eq!(sent.body, b"{}");
}

#[test]
fn helpers() {
    assert_eq!(base_path("http://h:1"), "");
    assert_eq!(base_path("http://h:1/"), "");
    assert_eq!(base_path("https://h/api/"), "/api");
    assert_eq!(
        stock_cache_key("http://e", "t:1", &["A", "B"], false),
        "http://e/v1/stock?sku=A&sku=B&p=t%3A1"
    );
    assert_eq!(
        stock_cache_key("http://e", "", &["A"], true),
        "http://e/v1/stock/A?p="
    );
}

#[test]
fn origin_errors_speak_the_edges_vocabulary() {
    let reply = |status: u16, code: &str| {
        map_origin(Ok(OriginResponse {
            status,
            body: format!(r#"{{"error":{{"code":"{code}","message":"m"}}}}"#).into_bytes(),
            retry_after: None,
        }))
    };
    let r = reply(404, "not_found");
    assert_eq!(
        (r.status, json_of(&r)["error"]["code"].clone()),
        (404, json!("reservation_not_found"))
    );
    let r = reply(422, "idempotency_key_mismatch");
    assert_eq!(
        (r.status, json_of(&r)["error"]["code"].clone()),
        (422, json!("idempotency_key_reused"))
    );
    // A refused signature is the deployment's fault, not the shopper's credentials.
    let r = reply(401, "unauthorized");
    assert_eq!(
        (r.status, json_of(&r)["error"]["code"].clone()),
        (502, json!("origin_error"))
    );
    let r = reply(409, "reservation_expired");
    assert_eq!(
        (r.status, json_of(&r)["error"]["code"].clone()),
        (409, json!("reservation_expired"))
    );
}
