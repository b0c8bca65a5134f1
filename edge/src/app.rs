//! Routing and handlers of the public API (docs/api.md#edge-api-public-browser-facing), independent of the Workers runtime.
//!
//! The runtime is behind [`Platform`]: the Redis REST transport, the clock, randomness, the edge
//! cache and the origin HTTP call. The worker glue implements it with `worker::Fetch`,
//! `worker::Cache` and `crypto.getRandomValues`; host tests implement it with fakes.

use std::time::Duration;

use edgestock_core::keys::Keys;
use edgestock_core::scripts::{
    Engine, ExtendOutcome, Item, RateLimit, ReleaseOutcome, ReserveOutcome, ReserveRequest,
};
use edgestock_core::signing;
use serde_json::{json, Value};
use upstash_rest::{Client, Transport, TransportError};

use crate::config::{Config, RATE_LIMIT_WINDOW_MS};
use crate::crypto;
use crate::error::{retry_after_seconds, ApiError};
use crate::stock;
use crate::time::rfc3339_ms;
use crate::validate;

/// Request headers a browser may send cross-origin.
pub const CORS_ALLOW_HEADERS: &str = "content-type, authorization, idempotency-key";
/// Response headers a browser may read cross-origin.
pub const CORS_EXPOSE_HEADERS: &str = "Retry-After, ETag, Idempotency-Replayed";
/// How long a browser may cache a preflight answer.
pub const CORS_MAX_AGE: &str = "600";

/// The browser module, served so the demo works from the worker's own origin.
pub const EDGESTOCK_JS: &str = include_str!("../../web/edgestock.js");
/// The demo page.
pub const DEMO_HTML: &str = include_str!("../../web/demo.html");

/// An incoming request, reduced to what the handlers need.
#[derive(Debug, Clone, Default)]
pub struct ApiRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// `scheme://host[:port]` of the request URL (cache keys).
    pub url_origin: String,
    /// Path, not decoded.
    pub path: String,
    /// Query string without `?`, not decoded.
    pub query: String,
    /// Headers with lowercase names.
    pub headers: Vec<(String, String)>,
    /// Raw body (empty for GET).
    pub body: Vec<u8>,
}

impl ApiRequest {
    /// First value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An outgoing response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers (lowercase names).
    pub headers: Vec<(String, String)>,
    /// Body; empty for 204/304.
    pub body: Vec<u8>,
}

impl ApiResponse {
    /// A JSON response.
    pub fn json(status: u16, body: &Value) -> Self {
        Self::bytes(status, "application/json", body.to_string().into_bytes())
    }

    /// A response with a body of `content_type`.
    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body,
        }
    }

    /// An error response in the one error shape.
    pub fn error(e: &ApiError) -> Self {
        let mut r = Self::json(e.status, &e.body());
        if let Some(s) = e.retry_after {
            r.set_header("retry-after", &s.to_string());
        }
        r
    }

    /// First value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets header `name` (lowercase), replacing earlier values.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(k, _)| k != name);
        self.headers.push((name.to_owned(), value.to_owned()));
    }
}

/// A forwarded call to the origin (always `POST` with a JSON body).
#[derive(Debug, Clone)]
pub struct OriginRequest {
    /// Absolute URL.
    pub url: String,
    /// Headers to send (content type, signature, idempotency key).
    pub headers: Vec<(String, String)>,
    /// JSON body.
    pub body: Vec<u8>,
    /// Give up after this long.
    pub timeout: Duration,
}

/// What the origin answered.
#[derive(Debug, Clone)]
pub struct OriginResponse {
    /// HTTP status.
    pub status: u16,
    /// Raw body.
    pub body: Vec<u8>,
    /// Its `Retry-After`, if any.
    pub retry_after: Option<String>,
}

/// The runtime services the handlers use.
#[allow(async_fn_in_trait)]
pub trait Platform {
    /// The Redis REST transport.
    type Redis: Transport;
    /// A transport for one request.
    fn redis_transport(&self) -> Self::Redis;
    /// Wall clock, ms since the epoch.
    fn now_ms(&self) -> i64;
    /// 16 cryptographically random bytes.
    fn random_bytes(&self) -> [u8; 16];
    /// A cached response under `key`.
    async fn cache_get(&self, key: &str) -> Option<ApiResponse>;
    /// Caches `resp` under `key` (it carries its `Cache-Control`).
    async fn cache_put(&self, key: &str, resp: &ApiResponse);
    /// Sends `req` to the origin, honouring its timeout.
    async fn origin_post(&self, req: OriginRequest) -> Result<OriginResponse, TransportError>;
}

/// The routes, matched on the path alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `/healthz`
    Health,
    /// `/edgestock.js`
    Script,
    /// `/demo.html`
    Demo,
    /// `/v1/stock`
    StockMany,
    /// `/v1/stock/{sku}`
    StockOne(&'a str),
    /// `/v1/reservations`
    Reservations,
    /// `/v1/reservations/{id}`
    Reservation(&'a str),
    /// `/v1/reservations/{id}/extend`
    Extend(&'a str),
    /// `/v1/reservations/{id}/confirm`
    Confirm(&'a str),
    /// `/v1/reservations/{id}/cancel`
    Cancel(&'a str),
}

impl<'a> Route<'a> {
    /// Matches a path.
    pub fn parse(path: &'a str) -> Option<Self> {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        Some(match segs.as_slice() {
            ["healthz"] => Route::Health,
            ["edgestock.js"] => Route::Script,
            ["demo.html"] => Route::Demo,
            ["v1", "stock"] => Route::StockMany,
            ["v1", "stock", sku] if !sku.is_empty() => Route::StockOne(sku),
            ["v1", "reservations"] => Route::Reservations,
            ["v1", "reservations", id] if !id.is_empty() => Route::Reservation(id),
            ["v1", "reservations", id, "extend"] if !id.is_empty() => Route::Extend(id),
            ["v1", "reservations", id, "confirm"] if !id.is_empty() => Route::Confirm(id),
            ["v1", "reservations", id, "cancel"] if !id.is_empty() => Route::Cancel(id),
            _ => return None,
        })
    }

    /// Methods the route answers (besides `OPTIONS`).
    pub fn methods(self) -> &'static [&'static str] {
        match self {
            Route::Health | Route::Script | Route::Demo | Route::StockMany | Route::StockOne(_) => {
                &["GET"]
            }
            Route::Reservations | Route::Extend(_) | Route::Confirm(_) | Route::Cancel(_) => {
                &["POST"]
            }
            Route::Reservation(_) => &["GET", "DELETE"],
        }
    }

    fn is_api(self) -> bool {
        !matches!(self, Route::Health | Route::Script | Route::Demo)
    }
}

/// Body of a successful `GET /healthz`.
pub fn health_body() -> Value {
    json!({"status": "ok", "service": crate::SERVICE_NAME, "version": crate::VERSION})
}

/// Answers one request. Never fails: every problem is a JSON error response.
pub async fn handle<P: Platform>(
    p: &P,
    cfg: &Result<Config, ApiError>,
    req: &ApiRequest,
) -> ApiResponse {
    let method = req.method.to_ascii_uppercase();
    let Some(route) = Route::parse(&req.path) else {
        return ApiResponse::error(&ApiError::new(
            404,
            "not_found",
            format!("no route for {method} {}", req.path),
        ));
    };
    let mut resp = if method == "OPTIONS" {
        preflight(cfg, req, route)
    } else if !route.methods().contains(&method.as_str()) {
        let mut r = ApiResponse::error(&ApiError::new(
            405,
            "method_not_allowed",
            format!("method {method} not allowed for {}", req.path),
        ));
        r.set_header("allow", &allow(route));
        r
    } else {
        match dispatch(p, cfg, req, route, &method).await {
            Ok(r) => r,
            Err(e) => ApiResponse::error(&e),
        }
    };
    if route.is_api() {
        if resp.header("cache-control").is_none() {
            resp.set_header("cache-control", "no-store");
        }
        if let Ok(cfg) = cfg {
            cors(cfg, req, &mut resp);
        }
    }
    resp
}

fn allow(route: Route<'_>) -> String {
    let mut m = route.methods().to_vec();
    m.push("OPTIONS");
    m.join(", ")
}

fn cors(cfg: &Config, req: &ApiRequest, resp: &mut ApiResponse) {
    resp.set_header("vary", "Origin");
    if let Some(origin) = req.header("origin") {
        if cfg.origin_allowed(origin) {
            resp.set_header("access-control-allow-origin", origin);
            resp.set_header("access-control-expose-headers", CORS_EXPOSE_HEADERS);
        }
    }
}

fn preflight(cfg: &Result<Config, ApiError>, req: &ApiRequest, route: Route<'_>) -> ApiResponse {
    let mut r = ApiResponse {
        status: 204,
        ..ApiResponse::default()
    };
    r.set_header("allow", &allow(route));
    let Some(origin) = req.header("origin") else {
        return r;
    };
    let cfg = match cfg {
        Ok(c) => c,
        Err(e) => return ApiResponse::error(e),
    };
    if !cfg.origin_allowed(origin) {
        return ApiResponse::error(&ApiError::new(
            403,
            "cors_origin_denied",
            format!("origin {origin} is not allowed"),
        ));
    }
    r.set_header("access-control-allow-methods", &allow(route));
    r.set_header("access-control-allow-headers", CORS_ALLOW_HEADERS);
    r.set_header("access-control-max-age", CORS_MAX_AGE);
    r
}

async fn dispatch<P: Platform>(
    p: &P,
    cfg: &Result<Config, ApiError>,
    req: &ApiRequest,
    route: Route<'_>,
    method: &str,
) -> Result<ApiResponse, ApiError> {
    match route {
        Route::Health => return Ok(ApiResponse::json(200, &health_body())),
        Route::Script => return Ok(static_file("text/javascript; charset=utf-8", EDGESTOCK_JS)),
        Route::Demo => return Ok(static_file("text/html; charset=utf-8", DEMO_HTML)),
        _ => {}
    }
    let cfg = cfg.as_ref().map_err(Clone::clone)?;
    validate::check_body_size(req.body.len())?;
    match (route, method) {
        (Route::StockOne(sku), _) => {
            let sku = validate::sku(sku)?;
            stock_read(p, cfg, req, vec![sku], true).await
        }
        (Route::StockMany, _) => {
            let skus = validate::stock_query(&req.query)?;
            stock_read(p, cfg, req, skus, false).await
        }
        (Route::Reservations, _) => reserve(p, cfg, req).await,
        (Route::Reservation(id), "GET") => get_reservation(p, cfg, req, id).await,
        (Route::Reservation(id), _) => release(p, cfg, req, id).await,
        (Route::Extend(id), _) => extend(p, cfg, req, id).await,
        (Route::Confirm(id), _) => confirm(p, cfg, req, id).await,
        (Route::Cancel(id), _) => cancel(p, cfg, req, id).await,
        (Route::Health | Route::Script | Route::Demo, _) => unreachable!("answered above"),
    }
}

fn static_file(content_type: &str, text: &str) -> ApiResponse {
    let mut r = ApiResponse::bytes(200, content_type, text.as_bytes().to_vec());
    r.set_header("cache-control", "public, max-age=300");
    r
}

fn engine<P: Platform>(p: &P, cfg: &Config) -> Result<Engine<P::Redis>, ApiError> {
    let r = cfg.redis()?;
    let client = Client::new(p.redis_transport(), r.url, r.token)
        .with_timeout(Duration::from_millis(u64::from(cfg.redis_timeout_ms)));
    Ok(Engine::new(client, Keys::new(cfg.redis_key_prefix.clone()))
        .with_clock_offset_ms(cfg.clock_offset_ms))
}

fn redis_err(e: upstash_rest::Error) -> ApiError {
    ApiError::from_redis(&e)
}

/// The cache key of a stock read: the request origin, the normalised SKU list and the key prefix
/// (tenants sharing a zone never share entries).
pub fn stock_cache_key(url_origin: &str, prefix: &str, skus: &[&str], single: bool) -> String {
    let p: String = prefix
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    if single {
        format!("{url_origin}/v1/stock/{}?p={p}", skus[0])
    } else {
        let q: Vec<String> = skus.iter().map(|s| format!("sku={s}")).collect();
        format!("{url_origin}/v1/stock?{}&p={p}", q.join("&"))
    }
}

fn not_modified(req: &ApiRequest, resp: ApiResponse) -> ApiResponse {
    let Some(etag) = resp.header("etag") else {
        return resp;
    };
    if !crypto::if_none_match(req.header("if-none-match"), etag) {
        return resp;
    }
    let mut r = ApiResponse {
        status: 304,
        ..ApiResponse::default()
    };
    for name in ["etag", "cache-control", "x-edgestock-cache"] {
        if let Some(v) = resp.header(name) {
            r.set_header(name, v);
        }
    }
    r
}

async fn stock_read<P: Platform>(
    p: &P,
    cfg: &Config,
    req: &ApiRequest,
    skus: Vec<edgestock_core::domain::Sku>,
    single: bool,
) -> Result<ApiResponse, ApiError> {
    let names: Vec<&str> = skus.iter().map(|s| s.as_str()).collect();
    let key = stock_cache_key(&req.url_origin, &cfg.redis_key_prefix, &names, single);
    let cached = cfg.stock_cache_seconds > 0;
    if cached {
        if let Some(mut hit) = p.cache_get(&key).await {
            hit.set_header("x-edgestock-cache", "hit");
            return Ok(not_modified(req, hit));
        }
    }
    let levels = engine(p, cfg)?.stock(&skus).await.map_err(redis_err)?;
    let body = if single {
        let level = levels
            .first()
            .ok_or_else(|| ApiError::new(502, "redis_error", "empty stock reply"))?;
        if !level.exists {
            return Err(
                ApiError::new(404, "unknown_sku", "no such SKU").with("sku", level.sku.as_str())
            );
        }
        stock::stock_json(level, cfg.expose_exact_counts)
    } else {
        let items: Vec<Value> = levels
            .iter()
            .map(|l| stock::stock_json(l, cfg.expose_exact_counts))
            .collect();
        json!({ "items": items })
    };
    let bytes = body.to_string().into_bytes();
    let mut resp = ApiResponse::bytes(200, "application/json", bytes);
    resp.set_header("etag", &crypto::etag(&resp.body));
    resp.set_header(
        "cache-control",
        &stock::cache_control(cfg.stock_cache_seconds),
    );
    if cached {
        p.cache_put(&key, &resp).await;
    }
    resp.set_header("x-edgestock-cache", "miss");
    Ok(not_modified(req, resp))
}

fn items_json(items: &[Item]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|i| json!({"sku": i.sku.as_str(), "qty": i.qty}))
            .collect(),
    )
}

/// A plausible client address from `CF-Connecting-IP` (IPv4/IPv6 characters only).
fn client_ip(req: &ApiRequest) -> Option<&str> {
    req.header("cf-connecting-ip").map(str::trim).filter(|ip| {
        !ip.is_empty()
            && ip.len() <= 45
            && ip
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':')
    })
}

async fn reserve<P: Platform>(
    p: &P,
    cfg: &Config,
    req: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    validate::check_json_content_type(req.header("content-type"))?;
    let r = validate::reserve(&req.body, cfg)?;
    let secret = cfg.token_secret()?;
    let engine = engine(p, cfg)?;
    let id = match req.header("idempotency-key") {
        Some(key) => {
            crypto::check_idempotency_key(key)?;
            crypto::idempotent_id(secret, key)
        }
        None => crypto::random_id(p.random_bytes()),
    };
    let mut subjects = Vec::new();
    if let Some(ip) = client_ip(req) {
        subjects.push(format!("ip:{ip}"));
    }
    if let Some(cart) = &r.cart_id {
        subjects.push(format!("cart:{cart}"));
    }
    let owner = subjects.last().cloned().unwrap_or_default();
    let rate_limit = (cfg.rate_limit_per_minute > 0 && !subjects.is_empty()).then_some(RateLimit {
        subjects,
        limit: cfg.rate_limit_per_minute,
        window_ms: RATE_LIMIT_WINDOW_MS,
    });
    let outcome = engine
        .reserve(&ReserveRequest {
            id: id.clone(),
            fingerprint: r.fingerprint.clone(),
            items: r.items.clone(),
            ttl_ms: u64::from(r.ttl_seconds) * 1000,
            max_hold_ms: u64::from(cfg.max_hold_seconds) * 1000,
            rate_limit,
            owner,
        })
        .await
        .map_err(redis_err)?;
    match outcome {
        ReserveOutcome::Held(h) => {
            let body = json!({
                "reservation_id": h.id,
                "token": crypto::reservation_token(secret, &h.id),
                "status": h.status,
                "items": items_json(&r.items),
                "created_at": rfc3339_ms(h.created_ms),
                "created_at_ms": h.created_ms,
                "expires_at": rfc3339_ms(h.expires_ms),
                "expires_at_ms": h.expires_ms,
                "ttl_seconds": r.ttl_seconds,
            });
            let mut resp = ApiResponse::json(if h.replay { 200 } else { 201 }, &body);
            resp.set_header("location", &format!("/v1/reservations/{}", h.id));
            if h.replay {
                resp.set_header("idempotency-replayed", "true");
            }
            Ok(resp)
        }
        ReserveOutcome::Insufficient { sku, available } => Err(ApiError::new(
            409,
            "insufficient_stock",
            format!("not enough stock for {sku}"),
        )
        .with("sku", sku)
        .with("available", available.max(0))),
        ReserveOutcome::UnknownSku(sku) => {
            Err(ApiError::new(404, "unknown_sku", "no such SKU").with("sku", sku))
        }
        ReserveOutcome::RateLimited { retry_after_ms } => Err(ApiError::new(
            429,
            "rate_limited",
            "too many reservation attempts, slow down",
        )
        .retry_after(retry_after_seconds(retry_after_ms))),
        ReserveOutcome::IdempotencyMismatch => Err(ApiError::new(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request",
        )),
    }
}

/// Checks the token of `id` (401/403) and its syntax (404) before anything touches Redis.
fn authorize(cfg: &Config, req: &ApiRequest, id: &str) -> Result<(), ApiError> {
    let secret = cfg.token_secret()?;
    crypto::check_token(secret, id, req.header("authorization"))?;
    if !crypto::is_reservation_id(id) {
        return Err(ApiError::reservation_not_found());
    }
    Ok(())
}

fn times(v: &mut Value, name: &str, ms: i64) {
    v[name] = json!(rfc3339_ms(ms));
    v[format!("{name}_ms")] = json!(ms);
}

async fn get_reservation<P: Platform>(
    p: &P,
    cfg: &Config,
    req: &ApiRequest,
    id: &str,
) -> Result<ApiResponse, ApiError> {
    authorize(cfg, req, id)?;
    let rec = engine(p, cfg)?
        .reservation(id)
        .await
        .map_err(redis_err)?
        .ok_or_else(ApiError::reservation_not_found)?;
    let mut body = json!({
        "reservation_id": rec.id,
        "status": rec.status,
        "items": items_json(&rec.items),
    });
    times(&mut body, "created_at", rec.created_ms);
    times(&mut body, "expires_at", rec.expires_ms);
    times(&mut body, "max_expires_at", rec.max_expires_ms);
    Ok(ApiResponse::json(200, &body))
}

fn expired() -> ApiError {
    ApiError::new(409, "reservation_expired", "the reservation has expired")
}

async fn extend<P: Platform>(
    p: &P,
    cfg: &Config,
    req: &ApiRequest,
    id: &str,
) -> Result<ApiResponse, ApiError> {
    authorize(cfg, req, id)?;
    validate::check_json_content_type(req.header("content-type"))?;
    let seconds = validate::extend(&req.body, cfg)?;
    let outcome = engine(p, cfg)?
        .extend(id, u64::from(seconds) * 1000)
        .await
        .map_err(redis_err)?;
    match outcome {
        ExtendOutcome::Extended {
            expires_ms,
            max_expires_ms,
        } => {
            let mut body = json!({"reservation_id": id, "status": "held"});
            times(&mut body, "expires_at", expires_ms);
            times(&mut body, "max_expires_at", max_expires_ms);
            Ok(ApiResponse::json(200, &body))
        }
        ExtendOutcome::AtLimit { max_expires_ms } => Err(ApiError::new(
            409,
            "hold_limit_reached",
            "the hold is already at its maximum lifetime",
        )
        .with("max_expires_at", rfc3339_ms(max_expires_ms))
        .with("max_expires_at_ms", max_expires_ms)),
        ExtendOutcome::Expired => Err(expired()),
        ExtendOutcome::NotHeld(status) if status == "expired" => Err(expired()),
        ExtendOutcome::NotHeld(status) => Err(ApiError::new(
            409,
            "reservation_not_held",
            format!("the reservation is {status}"),
        )
        .with("status", status)),
        ExtendOutcome::NotFound => Err(ApiError::reservation_not_found()),
    }
}

async fn release<P: Platform>(
    p: &P,
    cfg: &Config,
    req: &ApiRequest,
    id: &str,
) -> Result<ApiResponse, ApiError> {
    authorize(cfg, req, id)?;
    let outcome = engine(p, cfg)?
        .release(id, false)
        .await
        .map_err(redis_err)?;
    match outcome {
        ReleaseOutcome::Released { status, changed } => Ok(ApiResponse::json(
            200,
            &json!({"reservation_id": id, "status": status, "released": changed}),
        )),
        ReleaseOutcome::Committed => Err(ApiError::new(
            409,
            "reservation_committed",
            "the reservation was already confirmed",
        )),
        ReleaseOutcome::Confirming => Err(ApiError::new(
            409,
            "reservation_confirming",
            "the reservation is being confirmed",
        )),
        ReleaseOutcome::NotFound => Err(ApiError::reservation_not_found()),
    }
}

/// The path part of a base URL (`http://h:1/api/` → `/api`), for signing.
pub fn base_path(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/')
        .map_or("", |i| rest[i..].trim_end_matches('/'))
}

/// Builds the signed origin call for `path` with `body`.
pub fn signed_origin_request(
    cfg: &Config,
    path: &str,
    body: Vec<u8>,
    now_ms: i64,
    idempotency_key: Option<&str>,
) -> Result<OriginRequest, ApiError> {
    let o = cfg.origin()?;
    let ts = now_ms.div_euclid(1000).max(0);
    let signed_path = format!("{}{path}", base_path(o.url));
    let sig = signing::sign(o.secret.as_bytes(), "POST", &signed_path, ts, &body);
    let mut headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        (signing::TIMESTAMP_HEADER.to_owned(), ts.to_string()),
        (signing::SIGNATURE_HEADER.to_owned(), sig),
    ];
    if let Some(k) = idempotency_key {
        headers.push(("idempotency-key".to_owned(), k.to_owned()));
    }
    Ok(OriginRequest {
        url: format!("{}{path}", o.url),
        headers,
        body,
        timeout: Duration::from_millis(u64::from(cfg.origin_timeout_ms)),
    })
}

/// Maps what the origin answered onto our response: JSON passes through (errors already in our
/// shape stay as they are, others are wrapped), anything else is a 502.
/// Speaks the edge's vocabulary for the origin's errors a browser can meet, so one problem has one
/// code on every route: an unknown reservation is `reservation_not_found`, a reused key
/// `idempotency_key_reused`; a refused signature is the edge's misconfiguration (502), not the
/// shopper's credentials.
fn origin_error(status: u16, mut v: Value) -> ApiResponse {
    let code = v["error"]["code"].as_str().unwrap_or_default().to_owned();
    let (status, renamed) = match (status, code.as_str()) {
        (404, "not_found") => (404, Some("reservation_not_found")),
        (422, "idempotency_key_mismatch") => (422, Some("idempotency_key_reused")),
        (401 | 403, _) => (502, Some("origin_error")),
        _ => (status, None),
    };
    if let Some(new_code) = renamed {
        v["error"]["code"] = Value::from(new_code);
        if new_code == "origin_error" {
            v["error"]["message"] =
                Value::from("the origin refused the edge's signature (check EDGE_ORIGIN_SECRET)");
            v["error"]["origin_status"] = Value::from(401);
        }
    }
    ApiResponse::json(status, &v)
}

pub fn map_origin(result: Result<OriginResponse, TransportError>) -> ApiResponse {
    let o = match result {
        Ok(o) => o,
        Err(TransportError::Timeout) => {
            return ApiResponse::error(
                &ApiError::new(
                    503,
                    "origin_unavailable",
                    "the origin did not answer in time",
                )
                .retry_after(1),
            )
        }
        Err(TransportError::Failed(m)) => {
            return ApiResponse::error(
                &ApiError::new(
                    503,
                    "origin_unavailable",
                    format!("the origin is unreachable: {m}"),
                )
                .retry_after(1),
            )
        }
    };
    let parsed: Option<Value> = serde_json::from_slice(&o.body).ok();
    let mut resp = match parsed {
        Some(v) if (200..300).contains(&o.status) => ApiResponse::json(o.status, &v),
        Some(v) if v["error"]["code"].is_string() && (400..600).contains(&o.status) => {
            origin_error(o.status, v)
        }
        Some(v) if (400..600).contains(&o.status) => {
            let message = v["error"]
                .as_str()
                .or_else(|| v["error"]["message"].as_str())
                .or_else(|| v["message"].as_str())
                .map_or_else(
                    || format!("the origin answered HTTP {}", o.status),
                    str::to_owned,
                );
            ApiResponse::error(
                &ApiError::new(o.status, "origin_error", message).with("origin_status", o.status),
            )
        }
        _ => ApiResponse::error(
            &ApiError::new(
                502,
                "origin_error",
                format!("the origin answered HTTP {} without a JSON body", o.status),
            )
            .with("origin_status", o.status),
        ),
    };
    if let Some(ra) = o.retry_after {
        resp.set_header("retry-after", &ra);
    }
    resp
}

fn optional_json_body<T>(req: &ApiRequest) -> Result<T, ApiError>
where
    T: serde::de::DeserializeOwned + Default + serde::Serialize,
{
    if !req.body.iter().all(u8::is_ascii_whitespace) {
        validate::check_json_content_type(req.header("content-type"))?;
    }
    validate::optional_body(&req.body)
}

async fn confirm<P: Platform>(
    p: &P,
    cfg: &Config,
    req: &ApiRequest,
    id: &str,
) -> Result<ApiResponse, ApiError> {
    authorize(cfg, req, id)?;
    let b: validate::ConfirmBody = optional_json_body(req)?;
    let key = req.header("idempotency-key");
    if let Some(k) = key {
        crypto::check_idempotency_key(k)?;
    }
    let mut body = json!({"reservation_id": id});
    if let Some(c) = &b.customer_ref {
        body["customer_ref"] = json!(c);
    }
    if let Some(c) = &b.payment_ref {
        body["payment_ref"] = json!(c);
    }
    let call = signed_origin_request(
        cfg,
        "/v1/orders",
        body.to_string().into_bytes(),
        p.now_ms(),
        key,
    )?;
    Ok(map_origin(p.origin_post(call).await))
}

async fn cancel<P: Platform>(
    p: &P,
    cfg: &Config,
    req: &ApiRequest,
    id: &str,
) -> Result<ApiResponse, ApiError> {
    authorize(cfg, req, id)?;
    let b: validate::CancelBody = optional_json_body(req)?;
    let body = serde_json::to_vec(&b).unwrap_or_else(|_| b"{}".to_vec());
    let path = format!("/v1/reservations/{id}/cancel");
    let call = signed_origin_request(cfg, &path, body, p.now_ms(), req.header("idempotency-key"))?;
    Ok(map_origin(p.origin_post(call).await))
}

#[cfg(test)]
mod tests;
