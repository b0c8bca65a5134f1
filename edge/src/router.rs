//! Routing, CORS and the answer to every request: a route is matched on the path, the method
//! checked (405 with `Allow`), and the handler of [`crate::routes`] called; every problem becomes
//! a JSON error in the one shape. Independent of the Workers runtime (see [`crate::platform`]).

use edgestock_api::{edge, ApiError, ErrorBody, ErrorCode};

use crate::config::Config;
use crate::platform::{ApiRequest, ApiResponse, Platform, RequestExt, ResponseExt};
use crate::routes::{origin, reservations, stock};
use crate::telemetry::RequestRecord;
use crate::validate;

/// Request headers a browser may send cross-origin.
pub const CORS_ALLOW_HEADERS: &str =
    "content-type, authorization, idempotency-key, x-customer-token, cache-control";
/// Response headers a browser may read cross-origin.
pub const CORS_EXPOSE_HEADERS: &str =
    "Retry-After, ETag, Idempotency-Replayed, X-Request-Id, X-Edgestock-Cache";
/// How long a browser may cache a preflight answer.
pub const CORS_MAX_AGE: &str = "600";

/// The browser module, served so the demo works from the worker's own origin.
pub const EDGESTOCK_JS: &str = include_str!("../../web/edgestock.js");
/// The demo page.
pub const DEMO_HTML: &str = include_str!("../../web/demo.html");

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

    /// The path template, for metrics and logs (`/v1/reservations/{id}`).
    pub fn template(self) -> &'static str {
        match self {
            Route::Health => "/healthz",
            Route::Script => "/edgestock.js",
            Route::Demo => "/demo.html",
            Route::StockMany => "/v1/stock",
            Route::StockOne(_) => "/v1/stock/{sku}",
            Route::Reservations => "/v1/reservations",
            Route::Reservation(_) => "/v1/reservations/{id}",
            Route::Extend(_) => "/v1/reservations/{id}/extend",
            Route::Confirm(_) => "/v1/reservations/{id}/confirm",
            Route::Cancel(_) => "/v1/reservations/{id}/cancel",
        }
    }

    fn is_api(self) -> bool {
        !matches!(self, Route::Health | Route::Script | Route::Demo)
    }
}

/// Body of a successful `GET /healthz`.
pub fn health_body() -> edge::Health {
    edge::Health {
        status: "ok".to_owned(),
        service: crate::SERVICE_NAME.to_owned(),
        version: crate::VERSION.to_owned(),
    }
}

/// Answers one request and records it (see [`crate::telemetry`]). Never fails: every problem
/// is a JSON error response.
pub async fn handle<P: Platform>(
    p: &P,
    cfg: &Result<Config, ApiError>,
    req: &ApiRequest,
) -> ApiResponse {
    let started = p.now_ms();
    let request_id = hex::encode(p.random_bytes());
    let route = Route::parse(req.uri().path());
    let resp = answer(p, cfg, req, route, &request_id).await;
    let duration = p.now_ms().saturating_sub(started) as f64;
    let mut record = RequestRecord::of(req, route, &resp, &request_id, duration, p.redis_usage());
    if let Ok(c) = cfg {
        record = record.on_shards(&c.keys());
    }
    p.record(&record);
    resp
}

async fn answer<P: Platform>(
    p: &P,
    cfg: &Result<Config, ApiError>,
    req: &ApiRequest,
    route: Option<Route<'_>>,
    request_id: &str,
) -> ApiResponse {
    let method = req.method().as_str().to_ascii_uppercase();
    let Some(route) = route else {
        return ApiResponse::error(&ApiError::new(
            ErrorCode::NotFound,
            format!("no route for {method} {}", req.uri().path()),
        ));
    };
    let mut resp = if method == "OPTIONS" {
        preflight(cfg, req, route)
    } else if !route.methods().contains(&method.as_str()) {
        let mut r = ApiResponse::error(&ApiError::new(
            ErrorCode::MethodNotAllowed,
            format!("method {method} not allowed for {}", req.uri().path()),
        ));
        r.set_header("allow", &allow(route));
        r
    } else {
        match dispatch(p, cfg, req, route, &method).await {
            Ok(r) => r,
            Err(e) => ApiResponse::error(&e),
        }
    };
    conceal_internal_error(p, req, request_id, &mut resp);
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

/// A 5xx error answer keeps its status, code and structured details, but its message (which may
/// carry Redis's or the origin's own text, addresses included) goes to the worker's log under a
/// new request id; the browser gets a generic message naming that id, also as the `request_id`
/// detail and the `X-Request-Id` header.
fn conceal_internal_error<P: Platform>(p: &P, req: &ApiRequest, id: &str, resp: &mut ApiResponse) {
    if resp.code() < 500 {
        return;
    }
    let Ok(mut body) = serde_json::from_slice::<ErrorBody>(resp.body()) else {
        return;
    };
    p.log_error(&format!(
        "request {id}: {} {} answered {} {}: {}",
        req.method(),
        req.uri().path(),
        resp.code(),
        body.error.code.as_str(),
        body.error.message
    ));
    body.error.message = if resp.code() == 503 {
        format!("temporarily unavailable, retry later (request id {id})")
    } else {
        format!("internal error (request id {id})")
    };
    body.error.details.request_id = Some(id.to_owned());
    if let Ok(bytes) = serde_json::to_vec(&body) {
        *resp.body_mut() = bytes;
        resp.set_header("x-request-id", id);
    }
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
    let mut r = ApiResponse::empty(204);
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
            ErrorCode::CorsOriginDenied,
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
    validate::check_body_size(req.body().len())?;
    match (route, method) {
        (Route::StockOne(sku), _) => {
            let sku = validate::sku(sku)?;
            let with_locations = validate::locations_query(req.query_str())?;
            stock::read(p, cfg, req, vec![sku], stock::Shape::One { with_locations }).await
        }
        (Route::StockMany, _) => {
            let skus = validate::stock_query(req.query_str())?;
            stock::read(p, cfg, req, skus, stock::Shape::Many).await
        }
        (Route::Reservations, _) => reservations::reserve(p, cfg, req).await,
        (Route::Reservation(id), "GET") => reservations::get(p, cfg, req, id).await,
        (Route::Reservation(id), _) => reservations::release(p, cfg, req, id).await,
        (Route::Extend(id), _) => reservations::extend(p, cfg, req, id).await,
        (Route::Confirm(id), _) => origin::confirm(p, cfg, req, id).await,
        (Route::Cancel(id), _) => origin::cancel(p, cfg, req, id).await,
        (Route::Health | Route::Script | Route::Demo, _) => unreachable!("answered above"),
    }
}

fn static_file(content_type: &str, text: &str) -> ApiResponse {
    let mut r = ApiResponse::bytes(200, content_type, text.as_bytes().to_vec());
    r.set_header("cache-control", "public, max-age=300");
    r
}

#[cfg(test)]
mod tests;
