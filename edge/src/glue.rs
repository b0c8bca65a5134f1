//! The Workers runtime glue: converts `worker` requests and responses, implements
//! [`Platform`] and holds the event handlers. Everything it calls is host-tested in `app`.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use edgestock_core::scripts::Engine;
use fetch::{post_with_deadline, FetchTransport};
use upstash_rest::{Client, TransportError};
use worker::wasm_bindgen::JsCast;
use worker::{
    console_error, console_log, event, js_sys, Cache, Context, Date, Env, Headers, Request,
    Response, Result, ScheduleContext, ScheduledEvent,
};

use crate::cache::IsolateMemory;
use crate::config::Config;
use crate::platform::{
    ApiRequest, ApiResponse, OriginRequest, OriginResponse, Platform, ResponseExt,
};
use crate::router;
use crate::telemetry::{RedisUsage, RequestRecord};
use crate::validate::{append_limited, check_body_size};

mod record;
use edgestock_api::{ApiError, ErrorCode};

/// Bodies up to this size are read and discarded before a 413, so keep-alive connections survive.
const DRAIN_LIMIT: usize = 1024 * 1024;

thread_local! {
    /// What this isolate remembers between requests (the Cache API is shared by the location).
    static MEMORY: std::cell::RefCell<IsolateMemory> = std::cell::RefCell::new(IsolateMemory::default());
}

/// One request's view of the runtime: the isolate's services, the Redis calls this request
/// made, and where its record goes.
struct Runtime<'a> {
    usage: Rc<Cell<RedisUsage>>,
    sink: record::Sink<'a>,
    ctx: &'a Context,
}

impl Runtime<'_> {
    /// Puts `resp` under `key` in the Cache API (a failure is logged, never answered).
    async fn put(key: &str, resp: &ApiResponse) {
        match to_worker(resp) {
            Ok(r) => {
                if let Err(e) = Cache::default().put(key, r).await {
                    console_error!("cache put failed: {e}");
                }
            }
            Err(e) => console_error!("cache put failed: {e}"),
        }
    }
}

impl Platform for Runtime<'_> {
    type Redis = FetchTransport;

    fn redis_transport(&self) -> FetchTransport {
        FetchTransport::metered(self.usage.clone())
    }

    fn redis_usage(&self) -> RedisUsage {
        self.usage.get()
    }

    fn record(&self, record: &RequestRecord) {
        self.sink.record(record);
    }

    fn now_ms(&self) -> i64 {
        Date::now().as_millis() as i64
    }

    fn random_bytes(&self) -> [u8; 16] {
        random_bytes()
    }

    fn log_error(&self, message: &str) {
        console_error!("{message}");
    }

    fn memory<R>(&self, f: impl FnOnce(&mut IsolateMemory) -> R) -> R {
        MEMORY.with(|m| f(&mut m.borrow_mut()))
    }

    async fn cache_get(&self, key: &str) -> Option<ApiResponse> {
        let mut resp = Cache::default().get(key, true).await.ok()??;
        let mut hit = ApiResponse::bytes(resp.status_code(), "application/json", Vec::new());
        for (k, v) in resp.headers().entries() {
            hit.set_header(&k, &v);
        }
        *hit.body_mut() = resp.bytes().await.ok()?;
        Some(hit)
    }

    fn cache_put_later(&self, key: String, resp: ApiResponse) {
        self.ctx
            .wait_until(async move { Runtime::put(&key, &resp).await });
    }

    async fn to_completion<T: 'static>(
        &self,
        work: impl std::future::Future<Output = T> + 'static,
    ) -> Option<T> {
        let (tx, rx) = futures::channel::oneshot::channel();
        self.ctx.wait_until(async move {
            let _ = tx.send(work.await);
        });
        rx.await.ok()
    }

    async fn cache_put(&self, key: &str, resp: &ApiResponse) {
        Runtime::put(key, resp).await;
    }

    async fn origin_post(
        &self,
        req: OriginRequest,
    ) -> std::result::Result<OriginResponse, TransportError> {
        let headers: Vec<(&str, &str)> = req
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = post_with_deadline(&req.url, &headers, &req.body, req.timeout).await?;
        Ok(OriginResponse {
            status: r.status,
            body: r.body,
            retry_after: r.retry_after,
        })
    }
}

/// 16 bytes from `crypto.getRandomValues` (falls back to `Math.random` mixed with the clock,
/// which only happens if the runtime lacks Web Crypto).
fn random_bytes() -> [u8; 16] {
    let mut out = [0u8; 16];
    let arr = js_sys::Uint8Array::new_with_length(16);
    let ok = js_sys::Reflect::get(&js_sys::global(), &"crypto".into())
        .ok()
        .and_then(|crypto| {
            let f = js_sys::Reflect::get(&crypto, &"getRandomValues".into()).ok()?;
            let f: js_sys::Function = f.dyn_into().ok()?;
            f.call1(&crypto, &arr).ok()
        })
        .is_some();
    if ok {
        arr.copy_to(&mut out);
    } else {
        let now = Date::now().as_millis();
        for (i, b) in out.iter_mut().enumerate() {
            *b = ((js_sys::Math::random() * 256.0) as u8) ^ (now >> (i % 8 * 8)) as u8;
        }
    }
    out
}

fn to_worker(r: &ApiResponse) -> Result<Response> {
    let headers = Headers::new();
    for (k, v) in r.headers() {
        if let Ok(v) = v.to_str() {
            headers.append(k.as_str(), v)?;
        }
    }
    let resp = if r.body().is_empty() {
        Response::empty()?
    } else {
        Response::from_bytes(r.body().clone())?
    };
    Ok(resp.with_status(r.code()).with_headers(headers))
}

fn config(env: &Env) -> std::result::Result<Config, ApiError> {
    Config::from_lookup(&|name| {
        env.var(name)
            .map(|v| v.to_string())
            .or_else(|_| env.secret(name).map(|v| v.to_string()))
            .ok()
    })
}

/// Reads the body chunk by chunk, stopping with a 413 as soon as it passes the limit: a chunked
/// body (no `Content-Length`) of any size is never read further than that.
async fn read_body_limited(req: &mut Request) -> std::result::Result<Vec<u8>, ApiError> {
    use futures::StreamExt as _;
    if req.inner().body().is_none() {
        return Ok(Vec::new());
    }
    let unreadable =
        |e: worker::Error| ApiError::new(ErrorCode::BadRequest, format!("cannot read body: {e}"));
    let mut stream = req.stream().map_err(unreadable)?;
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        append_limited(&mut body, &chunk.map_err(unreadable)?)?;
    }
    Ok(body)
}

async fn to_api(mut req: Request) -> std::result::Result<ApiRequest, ApiError> {
    let url = req
        .url()
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
    let headers: Vec<(String, String)> = req
        .headers()
        .entries()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let method = req.method().to_string();
    let body = if matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS") {
        Vec::new()
    } else {
        let declared = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok());
        if let Some(n) = declared {
            if let Err(e) = check_body_size(n) {
                // Drain a moderately sized body so the client's keep-alive connection survives;
                // a huge one is refused without reading it.
                if n <= DRAIN_LIMIT {
                    let _ = req.bytes().await;
                }
                return Err(e);
            }
        }
        read_body_limited(&mut req).await?
    };
    let mut api = http::Request::builder()
        .method(method.as_str())
        .uri(url.as_str());
    for (k, v) in &headers {
        api = api.header(k.as_str(), v.as_str());
    }
    api.body(body)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let cfg = config(&env);
    let log = cfg.as_ref().map_or(true, |c| c.request_log);
    let runtime = Runtime {
        usage: Rc::default(),
        sink: record::Sink::new(&env, &ctx, log),
        ctx: &ctx,
    };
    let resp = match to_api(req).await {
        Ok(api) => router::handle(&runtime, &cfg, &api).await,
        Err(e) => ApiResponse::error(&e),
    };
    to_worker(&resp)
}

#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let cfg = match config(&env) {
        Ok(c) => c,
        Err(e) => return console_error!("sweep skipped: {}", e.message),
    };
    let endpoints = match cfg.redis_endpoints() {
        Ok(r) => r,
        Err(e) => return console_error!("sweep skipped: {}", e.message),
    };
    let timeout = Duration::from_millis(u64::from(cfg.redis_timeout_ms));
    let clients = endpoints
        .into_iter()
        .map(|r| Client::new(FetchTransport::default(), r.url, r.token).with_timeout(timeout))
        .collect();
    let engine = Engine::sharded(clients, cfg.keys()).with_clock_offset_ms(cfg.clock_offset_ms);
    for shard in engine.keys().all_shards() {
        sweep_shard(&engine, shard).await;
    }
}

async fn sweep_shard(engine: &Engine<FetchTransport>, shard: edgestock_core::keys::ShardId) {
    match engine.sweep(shard, crate::SWEEP_MAX_SKUS).await {
        Ok(rep) => console_log!(
            "sweep {shard}: {} skus, {} units reaped",
            rep.skus,
            rep.units_reaped
        ),
        Err(e) => console_error!("sweep of {shard} failed: {e}"),
    }
}

/// The outbound HTTP of the worker: the Upstash REST [`Transport`](upstash_rest::Transport) over
/// `worker::Fetch`, and the deadline-bounded `POST` every outbound call goes through.
mod fetch {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;

    use futures::future::{select, Either};
    use upstash_rest::{HttpRequest, HttpResponse, Transport, TransportError, FIXED_HEADERS};
    use worker::{AbortController, Date, Delay, Fetch, Headers, Method, Request, RequestInit};

    use crate::telemetry::RedisUsage;

    /// `worker::Fetch` transport; the timeout aborts the subrequest. A metered one adds each
    /// call and its time to its request's usage.
    #[derive(Debug, Clone, Default)]
    pub(super) struct FetchTransport {
        usage: Option<Rc<Cell<RedisUsage>>>,
    }

    impl FetchTransport {
        pub(super) fn metered(usage: Rc<Cell<RedisUsage>>) -> Self {
            Self { usage: Some(usage) }
        }
    }

    impl Transport for FetchTransport {
        async fn post(&self, req: HttpRequest) -> Result<HttpResponse, TransportError> {
            let mut headers = vec![("authorization", req.authorization.as_str())];
            headers.extend(FIXED_HEADERS);
            let started = Date::now().as_millis();
            let r = post_with_deadline(&req.url, &headers, &req.body, req.timeout).await;
            if let Some(usage) = &self.usage {
                let mut u = usage.get();
                u.calls = u.calls.saturating_add(1);
                u.ms += Date::now().as_millis().saturating_sub(started) as f64;
                usage.set(u);
            }
            let r = r?;
            Ok(HttpResponse {
                status: r.status,
                body: r.body,
            })
        }
    }

    /// What [`post_with_deadline`] got back.
    #[derive(Debug, Clone)]
    pub(super) struct Posted {
        /// HTTP status.
        pub(super) status: u16,
        /// The `Retry-After` header, if any.
        pub(super) retry_after: Option<String>,
        /// Raw body.
        pub(super) body: Vec<u8>,
    }

    /// `POST`s `body` with `headers` through `worker::Fetch`; past `timeout` the subrequest is
    /// aborted and the answer is [`TransportError::Timeout`]. Every outbound call of the worker
    /// goes through here.
    ///
    /// # Errors
    /// [`TransportError`] when no response arrived in time.
    pub(super) async fn post_with_deadline(
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> Result<Posted, TransportError> {
        let fail = |e: worker::Error| TransportError::Failed(e.to_string());
        let h = Headers::new();
        for (k, v) in headers {
            h.set(k, v).map_err(fail)?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(h)
            .with_body(Some(worker::js_sys::Uint8Array::from(body).into()));
        let request = Request::new_with_init(url, &init).map_err(fail)?;
        let controller = AbortController::default();
        let signal = controller.signal();
        let exchange = async {
            let mut resp = Fetch::Request(request).send_with_signal(&signal).await?;
            let status = resp.status_code();
            let retry_after = resp.headers().get("retry-after").ok().flatten();
            let body = resp.bytes().await?;
            Ok::<_, worker::Error>(Posted {
                status,
                retry_after,
                body,
            })
        };
        let timer = Delay::from(timeout);
        futures::pin_mut!(exchange);
        match select(exchange, timer).await {
            Either::Left((res, _)) => res.map_err(fail),
            Either::Right(((), _)) => {
                controller.abort();
                Err(TransportError::Timeout)
            }
        }
    }
}
