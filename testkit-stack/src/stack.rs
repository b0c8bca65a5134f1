//! The edge stack for black-box tests: a gateway in-process (in front of the shared Redis or a
//! private one), the built worker in Miniflare bound to it under a unique key prefix, a typed
//! engine to seed and inspect Redis, and a stub origin that verifies signatures.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use edgestock_core::domain::{Location, Sku};
use edgestock_core::keys::Keys;
use edgestock_core::scripts::{Engine, LocationSettings};
use edgestock_gateway::Running;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use upstash_rest::Client;
use upstash_rest::ReqwestTransport;

use testkit::Worker;

pub const TOKEN_SECRET: &str = "e2e-reservation-token-secret";
pub const ORIGIN_SECRET: &str = "e2e-edge-origin-secret";

pub use testkit::{closed_port, gateway, redis_url, GATEWAY_TOKEN};

/// A key prefix no other test uses (under `e2e:`, which test runs clean up).
pub fn unique_prefix() -> String {
    testkit::prefix("e2e")
}

/// The worker's bindings for a stack: the gateway, the origin, a key prefix, no edge cache, no
/// per-request log line (under Miniflare every console line crosses two pipes, which slows a
/// burst of hundreds of requests past the Redis deadline); `extra` overrides any of them.
pub fn worker_bindings(gateway: &str, origin: &str, prefix: &str, extra: &Value) -> Value {
    let mut bindings = json!({
        "REDIS_REST_URL": gateway,
        "REDIS_REST_TOKEN": GATEWAY_TOKEN,
        "RESERVATION_TOKEN_SECRET": TOKEN_SECRET,
        "EDGE_ORIGIN_SECRET": ORIGIN_SECRET,
        "ORIGIN_URL": origin,
        "ALLOWED_ORIGINS": "https://shop.example",
        "REDIS_KEY_PREFIX": prefix,
        "STOCK_CACHE_SECONDS": "0",
        "REQUEST_LOG": "false",
    });
    for (k, v) in extra.as_object().expect("extra bindings are an object") {
        bindings[k] = v.clone();
    }
    bindings
}

/// Gateway + worker + engine under one prefix.
#[derive(Debug)]
pub struct Stack {
    /// Kept alive for the stack's lifetime.
    _gateway: Running,
    pub engine: Engine<ReqwestTransport>,
    pub worker: Worker,
    pub http: reqwest::Client,
}

impl Stack {
    /// Against the shared Redis; `extra` bindings override the defaults.
    pub async fn start(extra: Value) -> Self {
        Self::start_on(&redis_url(), extra).await
    }

    /// Against the Redis at `redis`.
    pub async fn start_on(redis: &str, extra: Value) -> Self {
        Self::start_with(redis, extra, None).await
    }

    /// Against the Redis at `redis`; with `analytics_sink`, the worker's data points are POSTed
    /// there (see [`Worker::start_with`]).
    pub async fn start_with(redis: &str, extra: Value, analytics_sink: Option<&str>) -> Self {
        let gateway = gateway(redis, |_| {}).await;
        let prefix = unique_prefix();
        let origin = format!("http://127.0.0.1:{}", closed_port());
        let bindings = worker_bindings(&gateway.url(), &origin, &prefix, &extra);
        let worker = Worker::start_with(&bindings, analytics_sink).await;
        let client = Client::new(ReqwestTransport::default(), &gateway.url(), GATEWAY_TOKEN)
            .with_timeout(Duration::from_secs(5));
        let engine = Engine::new(client, Keys::new(prefix.clone()));
        // What the origin writes for an install with only the `default` location.
        engine
            .put_locations(&[LocationSettings::default_only()])
            .await
            .expect("location settings");
        // ... and its seeded marker, as the origin writes once the shard is seeded.
        for shard in engine.keys().all_shards() {
            engine
                .mark_seeded(shard, "edge-stack")
                .await
                .expect("seeded marker");
        }
        Self {
            _gateway: gateway,
            engine,
            worker,
            http: reqwest::Client::new(),
        }
    }

    /// `path` on the worker.
    pub fn url(&self, path: &str) -> String {
        self.worker.url(path)
    }

    /// Sets a SKU's on-hand (at `default`) and low-stock threshold.
    pub async fn seed(&self, sku: &str, on_hand: i64, low: i64) {
        self.seed_at(sku, Location::DEFAULT, on_hand, low).await;
    }

    /// Sets a SKU's on-hand at `location` and its low-stock threshold.
    pub async fn seed_at(&self, sku: &str, location: &str, on_hand: i64, low: i64) {
        self.engine
            .seed(
                &Sku::parse(sku).expect("valid sku"),
                &Location::parse(location).expect("valid location"),
                on_hand,
                low,
            )
            .await
            .expect("seed");
    }
}

/// A redis-server of its own (exact command counts), killed on drop.
#[derive(Debug)]
pub struct PrivateRedis {
    pub port: u16,
    child: Child,
}

impl PrivateRedis {
    pub fn start() -> Self {
        Self::start_on(testkit::free_port())
    }

    /// On a given port (a restart keeps the address).
    pub fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let me = Self { port, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while me.cli(&["PING"]).trim() != "PONG" {
            assert!(Instant::now() < deadline, "private redis did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        me
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn cli(&self, args: &[&str]) -> String {
        Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Calls per command from `INFO commandstats`, without `info` itself. Commands run inside
    /// scripts are counted too, so an unchanged map means Redis did no work at all.
    pub fn command_calls(&self) -> HashMap<String, u64> {
        self.cli(&["INFO", "commandstats"])
            .lines()
            .filter_map(|l| {
                let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls: u64 = rest
                    .split(',')
                    .find_map(|kv| kv.strip_prefix("calls="))?
                    .trim()
                    .parse()
                    .ok()?;
                (name != "info").then(|| (name.to_owned(), calls))
            })
            .collect()
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the stub origin saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
    pub signature_ok: bool,
}

/// How the stub origin answers.
#[derive(Debug, Clone)]
pub enum Mode {
    /// 201 order for confirm, 200 for cancel.
    Ok,
    /// This status and JSON body.
    Reply(u16, Value),
    /// Never answers.
    Hang,
}

#[derive(Clone)]
struct OriginState {
    seen: Arc<Mutex<Vec<Seen>>>,
    mode: Arc<Mutex<Mode>>,
}

/// A tiny origin that checks the edge signature like the real one will.
#[derive(Debug)]
pub struct StubOrigin {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    mode: Arc<Mutex<Mode>>,
}

impl StubOrigin {
    pub async fn start() -> Self {
        let state = OriginState {
            seen: Arc::default(),
            mode: Arc::new(Mutex::new(Mode::Ok)),
        };
        let app = axum::Router::new()
            .fallback(origin_handler)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind stub origin");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            seen: state.seen,
            mode: state.mode,
        }
    }

    pub fn set_mode(&self, m: Mode) {
        *self.mode.lock().expect("lock") = m;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

/// Lowercase hex HMAC-SHA256(secret, METHOD\nPATH\nTS\nBODY), computed independently of the edge.
pub fn expected_signature(method: &str, path: &str, ts: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(ORIGIN_SECRET.as_bytes()).expect("key");
    mac.update(format!("{method}\n{path}\n{ts}\n").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

async fn origin_handler(
    State(st): State<OriginState>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let ts = h("x-edgestock-timestamp").to_owned();
    let fresh = ts
        .parse::<u64>()
        .ok()
        .and_then(|t| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_secs();
            Some(now.abs_diff(t) <= 300)
        })
        .unwrap_or(false);
    let signature_ok = fresh
        && h("x-edgestock-signature")
            == expected_signature(method.as_str(), uri.path(), &ts, &body);
    st.seen.lock().expect("lock").push(Seen {
        path: uri.path().to_owned(),
        headers: headers.clone(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        signature_ok,
    });
    if !signature_ok {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(
                json!({"error": {"code": "bad_signature", "message": "signature mismatch"}}),
            ),
        )
            .into_response();
    }
    let mode = st.mode.lock().expect("lock").clone();
    match mode {
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        Mode::Reply(status, v) => {
            (StatusCode::from_u16(status).expect("status"), axum::Json(v)).into_response()
        }
        Mode::Ok if uri.path().ends_with("/place") => (
            StatusCode::CREATED,
            axum::Json(json!({"order_id": "ord-1", "status": "PENDING_PAYMENT"})),
        )
            .into_response(),
        Mode::Ok => axum::Json(json!({"status": "cancelled"})).into_response(),
    }
}
