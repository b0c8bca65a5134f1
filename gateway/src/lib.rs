//! A server for the Upstash Redis REST protocol in front of any Redis.
//!
//! Locally it stands in for hosted Upstash so the worker, the origin and the official
//! `@upstash/redis` client all run against a real Redis; in production it lets users keep their
//! own Redis. The wire format follows the repository's `docs/upstash-rest-protocol.md`:
//!
//! * `POST /` one command, `POST /pipeline` a real RESP pipeline (order kept, one `{result}` or
//!   `{error}` per command, HTTP 200), `POST /multi-exec` an atomic `MULTI … EXEC`; path-style
//!   commands (`GET /get/key`) as well. Methods other than HEAD/GET/POST/PUT answer 405.
//! * `Authorization: Bearer <token>` or `?_token=`; an optional read-only token gets `NOPERM`
//!   for writes.
//! * `Upstash-Encoding: base64`, and a fresh `upstash-sync-token` on every response.
//! * Bounded: request size, commands per request, in-flight requests (bounded wait, then 503), a
//!   deadline on every Redis call (Redis down → 503 JSON within `redis_timeout`, recovery on its
//!   own when it comes back).

mod backend;
mod metrics;
mod policy;
mod protocol;
mod scripts;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value as Json};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::backend::{Backend, BackendError};
use crate::metrics::Metrics;
use crate::protocol::{Command, Encoding, Endpoint};

/// Gateway settings, from flags or environment variables.
#[derive(Clone, clap::Parser)]
#[command(name = "edgestock-gateway", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "GATEWAY_LISTEN", default_value = "127.0.0.1:8079")]
    pub listen: String,
    /// Redis to forward to (`redis://[:password@]host:port[/db]`, `rediss://` for TLS).
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// Full-access token (the Upstash "standard" token).
    #[arg(long, env = "GATEWAY_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Optional read-only token: reads only, writes answer `NOPERM`.
    #[arg(long, env = "GATEWAY_READONLY_TOKEN", hide_env_values = true)]
    pub readonly_token: Option<String>,
    /// Multiplexed Redis connections shared by all requests (round robin).
    #[arg(long, env = "GATEWAY_REDIS_CONNECTIONS", default_value_t = 2)]
    pub redis_connections: usize,
    /// Requests allowed in flight at once; more wait up to `queue_timeout_ms`, then get 503.
    #[arg(long, env = "GATEWAY_MAX_IN_FLIGHT", default_value_t = 2048)]
    pub max_in_flight: usize,
    /// How long a request may wait for an in-flight slot.
    #[arg(long, env = "GATEWAY_QUEUE_TIMEOUT_MS", default_value_t = 1000)]
    pub queue_timeout_ms: u64,
    /// Deadline for one Redis round trip, connecting included.
    #[arg(long, env = "GATEWAY_REDIS_TIMEOUT_MS", default_value_t = 2000)]
    pub redis_timeout_ms: u64,
    /// Largest request body accepted (Upstash's free tier allows 10 MB).
    #[arg(long, env = "GATEWAY_MAX_REQUEST_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_request_bytes: usize,
    /// Most commands accepted in one `/pipeline` or `/multi-exec` request.
    #[arg(long, env = "GATEWAY_MAX_COMMANDS", default_value_t = 10_000)]
    pub max_commands: usize,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("redis_url", &self.redis_url_redacted())
            .field("token", &"<redacted>")
            .field(
                "readonly_token",
                &self.readonly_token.as_ref().map(|_| "<redacted>"),
            )
            .field("redis_connections", &self.redis_connections)
            .field("max_in_flight", &self.max_in_flight)
            .field("queue_timeout_ms", &self.queue_timeout_ms)
            .field("redis_timeout_ms", &self.redis_timeout_ms)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("max_commands", &self.max_commands)
            .finish()
    }
}

impl Config {
    /// A config with every default, for embedding and tests.
    pub fn new(redis_url: impl Into<String>, token: impl Into<String>) -> Self {
        use clap::Parser as _;
        let mut c = Self::parse_from(["edgestock-gateway", "--token", "placeholder"]);
        c.redis_url = redis_url.into();
        c.token = token.into();
        c
    }

    /// The Redis URL with any password replaced, for logs.
    pub fn redis_url_redacted(&self) -> String {
        match (self.redis_url.find("://"), self.redis_url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                format!(
                    "{}://***@{}",
                    &self.redis_url[..scheme],
                    &self.redis_url[at + 1..]
                )
            }
            _ => self.redis_url.clone(),
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(!self.token.is_empty(), "GATEWAY_TOKEN must not be empty");
        if let Some(ro) = &self.readonly_token {
            anyhow::ensure!(
                !ro.is_empty(),
                "GATEWAY_READONLY_TOKEN must not be empty when set"
            );
            anyhow::ensure!(
                ro != &self.token,
                "the read-only token must differ from GATEWAY_TOKEN"
            );
        }
        anyhow::ensure!(
            self.redis_connections >= 1,
            "GATEWAY_REDIS_CONNECTIONS must be at least 1"
        );
        anyhow::ensure!(
            self.max_in_flight >= 1,
            "GATEWAY_MAX_IN_FLIGHT must be at least 1"
        );
        anyhow::ensure!(
            self.max_commands >= 1,
            "GATEWAY_MAX_COMMANDS must be at least 1"
        );
        Ok(())
    }
}

struct AppState {
    token: Vec<u8>,
    readonly_token: Option<Vec<u8>>,
    backend: Backend,
    in_flight: Semaphore,
    queue_timeout: Duration,
    max_request_bytes: usize,
    max_commands: usize,
    sync_prefix: String,
    sync_counter: AtomicU64,
    metrics: Metrics,
    max_in_flight: usize,
}

/// Serves the gateway on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.validate()?;
    let backend = Backend::new(
        &config.redis_url,
        config.redis_connections,
        Duration::from_millis(config.redis_timeout_ms),
    )?;
    let state = Arc::new(AppState {
        token: config.token.clone().into_bytes(),
        readonly_token: config.readonly_token.clone().map(String::into_bytes),
        backend,
        in_flight: Semaphore::new(config.max_in_flight),
        queue_timeout: Duration::from_millis(config.queue_timeout_ms),
        max_request_bytes: config.max_request_bytes,
        max_commands: config.max_commands,
        sync_prefix: format!("{:016x}", rand::random::<u64>()),
        sync_counter: AtomicU64::new(0),
        metrics: Metrics::default(),
        max_in_flight: config.max_in_flight,
    });
    let app = Router::new().fallback(handle).with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// A gateway running on a background task (tests, benchmarks, embedding).
#[derive(Debug)]
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, drains in-flight requests and waits for the server to finish.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await?
    }
}

/// Binds `config.listen` (use port 0 for any free port) and serves on a background task.
pub async fn spawn(config: Config) -> anyhow::Result<Running> {
    config.validate()?;
    let listener = TcpListener::bind(&config.listen).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, config, async {
        let _ = rx.await;
    }));
    Ok(Running {
        addr,
        shutdown: Some(tx),
        task,
    })
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received, draining");
}

/// A finished HTTP answer before the common headers are added.
struct Answer {
    status: StatusCode,
    body: Json,
    retry_after: bool,
}

impl Answer {
    fn ok(body: Json) -> Self {
        Self {
            status: StatusCode::OK,
            body,
            retry_after: false,
        }
    }
    fn error(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({ "error": message.into() }),
            retry_after: status == StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl From<BackendError> for Answer {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::Server(text) => Answer::error(StatusCode::BAD_REQUEST, text),
            BackendError::Unavailable(text) => {
                tracing::warn!(error = %text, "redis unavailable");
                Answer::error(StatusCode::SERVICE_UNAVAILABLE, text)
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Full,
    ReadOnly,
}

async fn handle(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let started = std::time::Instant::now();
    let endpoint = Endpoint::of(req.uri().path());
    if req.uri().path() == "/metrics" && req.method() == Method::GET {
        return metrics(&state, &req);
    }
    let answer = route(&state, endpoint, req).await;
    state
        .metrics
        .observe(endpoint, answer.status.as_u16(), started.elapsed());
    respond(&state, &answer)
}

/// The JSON response of an [`Answer`], with a fresh `upstash-sync-token`.
fn respond(state: &AppState, answer: &Answer) -> Response {
    let token = format!(
        "{}-{}",
        state.sync_prefix,
        state.sync_counter.fetch_add(1, Ordering::Relaxed)
    );
    let mut res = Response::new(Body::from(
        serde_json::to_vec(&answer.body).unwrap_or_default(),
    ));
    *res.status_mut() = answer.status;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&token) {
        h.insert("upstash-sync-token", v);
    }
    if answer.retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    res
}

fn unauthorized() -> Answer {
    Answer::error(
        StatusCode::UNAUTHORIZED,
        "WRONGPASS invalid or missing auth token",
    )
}

/// `GET /metrics` (Prometheus text), with either token: it shows traffic, never data.
fn metrics(state: &AppState, req: &Request) -> Response {
    if authenticate(state, req.headers(), req.uri().query()).is_none() {
        return respond(state, &unauthorized());
    }
    let in_flight = state.max_in_flight - state.in_flight.available_permits();
    let mut res = Response::new(Body::from(state.metrics.render(in_flight)));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    res
}

fn authenticate(state: &AppState, headers: &HeaderMap, query: Option<&str>) -> Option<Access> {
    let presented: Option<String> = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        })
        .or_else(|| {
            query?.split('&').find_map(|pair| {
                let v = pair.strip_prefix("_token=")?;
                Some(
                    percent_encoding::percent_decode_str(v)
                        .decode_utf8_lossy()
                        .into_owned(),
                )
            })
        });
    let presented = presented?.into_bytes();
    if bool::from(presented.ct_eq(&state.token)) {
        return Some(Access::Full);
    }
    match &state.readonly_token {
        Some(ro) if bool::from(presented.ct_eq(ro)) => Some(Access::ReadOnly),
        _ => None,
    }
}

async fn route(state: &AppState, endpoint: Endpoint, req: Request) -> Answer {
    let method = req.method().clone();
    if !matches!(
        method,
        Method::GET | Method::HEAD | Method::POST | Method::PUT
    ) {
        return Answer::error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("ERR method {method} is not allowed: use GET, HEAD, POST or PUT"),
        );
    }
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    if path == "/healthz" {
        return Answer::ok(json!({ "status": "ok" }));
    }
    let Some(access) = authenticate(state, req.headers(), query.as_deref()) else {
        return unauthorized();
    };
    let encoding = match req.headers().get("upstash-encoding") {
        Some(v) if v.as_bytes().eq_ignore_ascii_case(b"base64") => Encoding::Base64,
        _ => Encoding::Text,
    };
    if let Some(format) = req.headers().get("upstash-response-format") {
        if !format.as_bytes().eq_ignore_ascii_case(b"json") {
            return Answer::error(
                StatusCode::BAD_REQUEST,
                "ERR only the json response format is supported by this gateway",
            );
        }
    }
    let too_big = Answer::error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "ERR max request size exceeded",
    );
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > state.max_request_bytes) {
        return too_big;
    }
    let body = match axum::body::to_bytes(req.into_body(), state.max_request_bytes).await {
        Ok(b) => b,
        Err(_) => return too_big,
    };

    // Bounded wait for an in-flight slot: a flood gets a fast 503, not an unbounded queue.
    let _permit = match tokio::time::timeout(state.queue_timeout, state.in_flight.acquire()).await {
        Ok(Ok(p)) => p,
        _ => {
            return Answer::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ERR gateway busy: too many requests in flight, retry shortly",
            )
        }
    };
    let read_only = access == Access::ReadOnly;
    match endpoint {
        Endpoint::Pipeline => pipeline(state, &body, encoding, read_only).await,
        Endpoint::MultiExec => multi_exec(state, &body, encoding, read_only).await,
        Endpoint::Command => {
            if body.is_empty() {
                return Answer::error(
                    StatusCode::BAD_REQUEST,
                    "ERR no command: POST a JSON array such as [\"GET\",\"key\"]",
                );
            }
            match protocol::parse_single(&body) {
                Ok(cmd) => single(state, cmd, encoding, read_only).await,
                Err(e) => Answer::error(StatusCode::BAD_REQUEST, e),
            }
        }
        Endpoint::Other if matches!(path.as_str(), "/subscribe" | "/psubscribe" | "/monitor") => {
            Answer::error(
                StatusCode::NOT_FOUND,
                "ERR streaming endpoints are not supported by this gateway",
            )
        }
        Endpoint::Other => {
            let value = (matches!(method, Method::POST | Method::PUT) && !body.is_empty())
                .then_some(&body[..]);
            match protocol::parse_path(&path, query.as_deref(), value) {
                Ok(cmd) => single(state, cmd, encoding, read_only).await,
                Err(e) => Answer::error(StatusCode::BAD_REQUEST, e),
            }
        }
    }
}

/// What the gateway will send for one client command, after policy and script translation.
enum Prepared {
    Send(backend::Outgoing),
    Refused(String),
}

fn prepare(state: &AppState, cmd: Command, read_only: bool) -> Prepared {
    if let Err(refusal) = policy::check(&cmd.name, cmd.args(), read_only) {
        return Prepared::Refused(refusal.message());
    }
    Prepared::Send(state.backend.translate(cmd))
}

async fn single(state: &AppState, cmd: Command, enc: Encoding, read_only: bool) -> Answer {
    let out = match prepare(state, cmd, read_only) {
        Prepared::Send(o) => o,
        Prepared::Refused(msg) => return Answer::error(StatusCode::BAD_REQUEST, msg),
    };
    state.metrics.commands(1);
    match state.backend.run(vec![out]).await {
        Ok(mut replies) => match replies.pop().map(|r| protocol::reply(r, enc)) {
            Some(Ok(v)) => Answer::ok(json!({ "result": v })),
            Some(Err(e)) => Answer::error(StatusCode::BAD_REQUEST, e),
            None => Answer::error(StatusCode::BAD_GATEWAY, "ERR redis sent no reply"),
        },
        Err(e) => e.into(),
    }
}

async fn pipeline(state: &AppState, body: &[u8], enc: Encoding, read_only: bool) -> Answer {
    let parsed = match protocol::parse_batch(body, state.max_commands) {
        Ok(p) => p,
        Err(e) => return Answer::error(StatusCode::BAD_REQUEST, e),
    };
    // Refused or malformed items answer `{error}` in place; the rest run as one RESP pipeline.
    let mut slots: Vec<Result<usize, String>> = Vec::with_capacity(parsed.len());
    let mut outgoing = Vec::with_capacity(parsed.len());
    for p in parsed {
        match p.map(|c| prepare(state, c, read_only)) {
            Ok(Prepared::Send(o)) => {
                slots.push(Ok(outgoing.len()));
                outgoing.push(o);
            }
            Ok(Prepared::Refused(e)) | Err(e) => slots.push(Err(e)),
        }
    }
    let mut replies: Vec<Option<redis::Value>> = if outgoing.is_empty() {
        Vec::new()
    } else {
        state.metrics.commands(outgoing.len());
        match state.backend.run(outgoing).await {
            Ok(r) => r.into_iter().map(Some).collect(),
            Err(e) => return e.into(),
        }
    };
    let items: Vec<Json> = slots
        .into_iter()
        .map(|slot| match slot {
            Ok(i) => match replies.get_mut(i).and_then(Option::take) {
                Some(v) => protocol::item(protocol::reply(v, enc)),
                None => protocol::item(Err("ERR redis sent no reply".to_owned())),
            },
            Err(e) => protocol::item(Err(e)),
        })
        .collect();
    Answer::ok(Json::Array(items))
}

async fn multi_exec(state: &AppState, body: &[u8], enc: Encoding, read_only: bool) -> Answer {
    let parsed = match protocol::parse_batch(body, state.max_commands) {
        Ok(p) => p,
        Err(e) => return Answer::error(StatusCode::BAD_REQUEST, e),
    };
    // Any bad command discards the whole transaction (DOCS-REST "Transactions"): 400, nothing runs.
    let mut outgoing = Vec::with_capacity(parsed.len());
    for (i, p) in parsed.into_iter().enumerate() {
        match p.map(|c| prepare(state, c, read_only)) {
            Ok(Prepared::Send(o)) => outgoing.push(o),
            Ok(Prepared::Refused(e)) | Err(e) => {
                return Answer::error(
                    StatusCode::BAD_REQUEST,
                    format!("{e} (command {}; transaction discarded)", i + 1),
                )
            }
        }
    }
    state.metrics.commands(outgoing.len());
    match state.backend.transaction(outgoing).await {
        Ok(replies) => Answer::ok(Json::Array(
            replies
                .into_iter()
                .map(|v| protocol::item(protocol::reply(v, enc)))
                .collect(),
        )),
        Err(e) => e.into(),
    }
}
