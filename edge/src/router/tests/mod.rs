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
use crate::platform::ResponseExt;
use crate::platform::{OriginRequest, OriginResponse};
use crate::routes::origin::{base_path, map_origin};
use crate::routes::stock::{stock_cache_key, Shape};

#[derive(Default)]
struct Shared {
    redis_replies: VecDeque<Result<(u16, String), TransportError>>,
    redis_sent: Vec<String>,
    cache: HashMap<String, ApiResponse>,
    origin_reply: Option<Result<OriginResponse, TransportError>>,
    origin_sent: Vec<OriginRequest>,
    /// The clock when set (a fixed instant otherwise).
    now_ms: Option<i64>,
    /// What the handlers logged.
    logs: Vec<String>,
    /// The isolate's memory.
    memory: crate::cache::IsolateMemory,
    /// The requests recorded, and the Redis calls made before the last one ended.
    recorded: Vec<crate::telemetry::RequestRecord>,
    calls_recorded: usize,
    /// How long each Redis call takes on the clock (ms; 0 by default).
    redis_call_ms: i64,
    /// Cache API lookups and background writes made.
    cache_gets: usize,
    cache_puts_later: usize,
    /// Work run to completion (`waitUntil`).
    completions: usize,
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
    fn set_now_ms(&self, now: i64) {
        self.0.borrow_mut().now_ms = Some(now);
    }
}

impl Transport for Fake {
    async fn post(&self, req: HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut s = self.0.borrow_mut();
        s.redis_sent
            .push(String::from_utf8_lossy(&req.body).into_owned());
        if s.redis_call_ms > 0 {
            let now = s.now_ms.unwrap_or(1_700_000_000_000);
            s.now_ms = Some(now + s.redis_call_ms);
        }
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
        self.0.borrow().now_ms.unwrap_or(1_700_000_000_000)
    }
    fn random_bytes(&self) -> [u8; 16] {
        [7; 16]
    }
    fn log_error(&self, message: &str) {
        self.0.borrow_mut().logs.push(message.to_owned());
    }
    fn memory<R>(&self, f: impl FnOnce(&mut crate::cache::IsolateMemory) -> R) -> R {
        f(&mut self.0.borrow_mut().memory)
    }
    async fn cache_get(&self, key: &str) -> Option<ApiResponse> {
        self.0.borrow_mut().cache_gets += 1;
        self.0.borrow().cache.get(key).cloned()
    }
    async fn cache_put(&self, key: &str, resp: &ApiResponse) {
        self.0
            .borrow_mut()
            .cache
            .insert(key.to_owned(), resp.clone());
    }
    fn cache_put_later(&self, key: String, resp: ApiResponse) {
        self.0.borrow_mut().cache_puts_later += 1;
        self.0.borrow_mut().cache.insert(key, resp);
    }
    async fn to_completion<T: 'static>(
        &self,
        work: impl std::future::Future<Output = T> + 'static,
    ) -> Option<T> {
        self.0.borrow_mut().completions += 1;
        Some(work.await)
    }
    async fn origin_post(&self, req: OriginRequest) -> Result<OriginResponse, TransportError> {
        let mut s = self.0.borrow_mut();
        s.origin_sent.push(req);
        s.origin_reply
            .clone()
            .unwrap_or(Err(TransportError::Failed("refused".into())))
    }
    fn redis_usage(&self) -> crate::telemetry::RedisUsage {
        let s = self.0.borrow();
        let calls = s.redis_sent.len() - s.calls_recorded;
        crate::telemetry::RedisUsage {
            calls: u32::try_from(calls).unwrap_or(u32::MAX),
            ms: (s.redis_call_ms * i64::try_from(calls).unwrap_or(0)) as f64,
        }
    }
    fn record(&self, record: &crate::telemetry::RequestRecord) {
        let mut s = self.0.borrow_mut();
        s.recorded.push(record.clone());
        s.calls_recorded = s.redis_sent.len();
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
    http::Request::builder()
        .method(method)
        .uri(format!("http://edge{path_and_query}"))
        .body(Vec::new())
        .expect("a valid test request")
}

fn with_header(mut r: ApiRequest, k: &str, v: &str) -> ApiRequest {
    r.headers_mut().append(
        http::header::HeaderName::from_bytes(k.as_bytes()).expect("header name"),
        http::HeaderValue::from_str(v).expect("header value"),
    );
    r
}

fn with_json(r: ApiRequest, body: &str) -> ApiRequest {
    let mut r = with_header(r, "content-type", "application/json");
    *r.body_mut() = body.as_bytes().to_vec();
    r
}

fn json_of(r: &ApiResponse) -> Value {
    serde_json::from_slice(r.body()).unwrap_or(Value::Null)
}

fn run(p: &Fake, cfg: &Result<Config, ApiError>, r: &ApiRequest) -> ApiResponse {
    block_on(handle(p, cfg, r))
}

fn stock_reply(exists: i64, on_hand: i64, reserved: i64, low: i64) -> String {
    format!(r#"{{"result":["b2s=",1700000000000,{exists},{on_hand},{reserved},{low}]}}"#)
}

fn reserve_req(body: &str) -> ApiRequest {
    with_json(req("POST", "/v1/reservations"), body)
}

mod adversary;
mod locations;
mod origin;
mod reservations;
mod routing;
mod shortcut;
mod stock;
mod telemetry;
