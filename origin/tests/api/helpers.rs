//! Test harness: spawn the origin on port 0 over a test database, with its own Redis key prefix.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use edgestock_core::domain::Sku;
use edgestock_gateway::Running;
use origin::config::Config;
use origin::startup::Application;
use origin::state::AppState;
use serde_json::{json, Value};
use sqlx::PgPool;

mod reserves;
pub(crate) use reserves::{reserve_at, reserve_with, try_reserve_at};

pub(crate) const API_KEY: &str = "test-api-key";
pub(crate) const ADMIN_KEY: &str = "test-admin-key";
pub(crate) const EDGE_SECRET: &str = "test-edge-secret";
pub(crate) const METRICS_TOKEN: &str = "test-metrics-token";
pub(crate) use testkit::{redis_url, GATEWAY_TOKEN};

/// A per-test Redis key prefix (under `t-origin:`, which test runs clean up).
pub(crate) fn unique_prefix() -> String {
    testkit::prefix("t-origin")
}

/// A gateway listening on `listen` (tests that restart it need a fixed address).
pub(crate) async fn spawn_gateway(listen: &str) -> Running {
    testkit::gateway(&redis_url(), |c| c.listen = listen.into()).await
}

/// A gateway taken down without giving up its address: until [`DownGateway::restart`], the port
/// accepts connections and closes them at once (what a client sees of a gateway that is gone),
/// so no other test binding `127.0.0.1:0` in the meantime can take it.
pub(crate) struct DownGateway {
    addr: String,
    holder: tokio::task::JoinHandle<()>,
}

impl DownGateway {
    /// Stops `gateway` and holds its port.
    pub(crate) async fn stop(gateway: Running) -> Self {
        let addr = gateway.addr.to_string();
        gateway.stop().await.unwrap();
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .expect("the stopped gateway's port");
        let holder = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                drop(conn);
            }
        });
        Self { addr, holder }
    }

    /// Gives the port back to a new gateway on the same address.
    pub(crate) async fn restart(self) -> Running {
        self.holder.abort();
        let _ = self.holder.await;
        spawn_gateway(&self.addr).await
    }
}

/// Configuration for a test app: fast background loops, short outbox head start.
pub(crate) fn test_config(redis_rest_url: &str, prefix: &str, extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = [
        ("DATABASE_URL", "postgres://unused-the-pool-is-given"),
        ("REDIS_REST_URL", redis_rest_url),
        ("REDIS_REST_TOKEN", GATEWAY_TOKEN),
        ("REDIS_KEY_PREFIX", prefix),
        ("ORIGIN_LISTEN", "127.0.0.1:0"),
        ("ORIGIN_API_KEY", API_KEY),
        ("ADMIN_API_KEY", ADMIN_KEY),
        ("EDGE_ORIGIN_SECRET", EDGE_SECRET),
        ("METRICS_TOKEN", METRICS_TOKEN),
        ("OUTBOX_INTERVAL_MS", "50"),
        ("OUTBOX_GRACE_MS", "300"),
        ("SWEEP_INTERVAL_MS", "200"),
        ("EVENTS_INTERVAL_MS", "100"),
        ("REDIS_TIMEOUT_MS", "1000"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (k, v) in extra {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    Config::from_lookup(|k| vars.get(k).cloned()).expect("test config is valid")
}

/// A running origin.
pub(crate) struct TestApp {
    pub(crate) addr: SocketAddr,
    pub(crate) state: AppState,
    pub(crate) http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestApp {
    /// Builds state over `pool`, lets `arm` tweak it (faults), and serves on port 0.
    pub(crate) async fn spawn_with(
        pool: PgPool,
        config: Config,
        arm: impl FnOnce(&AppState),
    ) -> Self {
        origin::MIGRATOR.run(&pool).await.expect("migrations");
        let state = AppState::new(pool, config).expect("state");
        arm(&state);
        let app = Application::build_with_state(state.clone())
            .await
            .expect("app builds");
        let addr = app.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        // A fresh prefix is an empty Redis: the sweeper's first pass seeds every shard; reserves
        // answer `shard_unseeded` until then. (A test that broke Redis on purpose goes on.)
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        for shard in state.redis.keys().all_shards() {
            while !matches!(state.redis.seeded_epoch(shard).await, Ok(Some(_)))
                && std::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Self {
            addr,
            state,
            http,
            stop: Some(tx),
            task,
        }
    }

    pub(crate) async fn spawn(pool: PgPool, config: Config) -> Self {
        Self::spawn_with(pool, config, |_| {}).await
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops serving and the background tasks ("the process dies").
    pub(crate) async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(15), &mut self.task).await;
    }

    pub(crate) async fn post(&self, path: &str, key: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("request");
        json_of(resp).await
    }

    pub(crate) async fn put(&self, path: &str, key: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .http
            .put(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("request");
        json_of(resp).await
    }

    pub(crate) async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .expect("request");
        json_of(resp).await
    }

    /// Creates a SKU with `on_hand` units through the admin API.
    pub(crate) async fn create_sku(&self, sku: &str, on_hand: i64) {
        let (status, body) = self
            .put(
                &format!("/v1/admin/skus/{sku}"),
                ADMIN_KEY,
                &json!({"name": format!("Product {sku}"), "on_hand": on_hand, "low_stock_threshold": 2}),
            )
            .await;
        assert!(
            status == 201 || status == 200,
            "create sku: {status} {body}"
        );
        assert_eq!(body["redis"], "applied", "{body}");
    }

    /// Holds `qty` of `sku` directly in Redis (what the edge does); returns the reservation id.
    pub(crate) async fn reserve(&self, sku: &str, qty: u32) -> String {
        reserve_with(&self.state.redis, sku, qty).await
    }

    /// The backend confirms with payment `pay-<reservation>`.
    pub(crate) async fn confirm(&self, reservation_id: &str) -> (u16, Value) {
        self.confirm_paid(reservation_id, &format!("pay-{reservation_id}"))
            .await
    }

    /// The backend confirms `reservation_id` and the origin crashes right after Postgres
    /// committed: the order is `CONFIRMED`, its Redis commit waits in the outbox, and the backend
    /// got a 500.
    pub(crate) async fn confirm_then_crash(&self, reservation_id: &str) {
        self.state
            .faults
            .arm(origin::fault::FaultPoint::AfterPgCommit);
        let (s, body) = self.confirm(reservation_id).await;
        self.state.faults.disarm();
        assert_eq!(s, 500, "recorded, its commit not run: {body}");
    }

    /// An order left `NEEDS_ATTENTION` on `sku` (which has `units` on hand): A is confirmed
    /// with its commit pending ([`TestApp::confirm_then_crash`]); an hour later for the scripts
    /// its hold is gone and B takes all the units and is confirmed; A's late commit then finds
    /// none. Answers the reservations `(a, b)`.
    pub(crate) async fn needs_attention(
        &self,
        env: &Env,
        sku: &str,
        units: u32,
    ) -> (String, String) {
        let a = self.reserve(sku, units).await;
        self.confirm_then_crash(&a).await;
        let b = reserve_with(&env.engine_ahead(3_600_000), sku, units).await;
        let (s, body) = self.confirm(&b).await;
        assert_eq!(s, 201, "{body}");
        // A's commit row comes due now.
        sqlx::query("update outbox set next_attempt_at = now() where done_at is null")
            .execute(&self.state.db)
            .await
            .unwrap();
        eventually(Duration::from_secs(30), "A needs attention", || async {
            self.order_status(&a).await == "NEEDS_ATTENTION"
        })
        .await;
        (a, b)
    }

    /// The backend confirms with `payment_ref`.
    pub(crate) async fn confirm_paid(
        &self,
        reservation_id: &str,
        payment_ref: &str,
    ) -> (u16, Value) {
        self.post(
            "/v1/orders",
            API_KEY,
            &json!({"reservation_id": reservation_id, "payment_ref": payment_ref}),
        )
        .await
    }

    /// An edge-signed `POST` of `body` to `path` (what the edge forwards for a shopper).
    pub(crate) async fn edge_post(&self, path: &str, body: &[u8]) -> (u16, Value) {
        let ts = origin::signature::unix_now();
        let sig = origin::signature::sign(EDGE_SECRET.as_bytes(), "POST", path, ts, body);
        let resp = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .header(origin::signature::TIMESTAMP_HEADER, ts.to_string())
            .header(origin::signature::SIGNATURE_HEADER, sig)
            .body(body.to_vec())
            .send()
            .await
            .expect("request");
        json_of(resp).await
    }

    /// The shopper places the order of `reservation_id` (through the edge).
    pub(crate) async fn place(&self, reservation_id: &str) -> (u16, Value) {
        self.edge_post(&format!("/v1/reservations/{reservation_id}/place"), b"{}")
            .await
    }

    /// The shopper releases `reservation_id` (through the edge).
    pub(crate) async fn release(&self, reservation_id: &str) -> (u16, Value) {
        self.edge_post(&format!("/v1/reservations/{reservation_id}/release"), b"{}")
            .await
    }

    /// The backend cancels order `order_id` with `body`.
    pub(crate) async fn cancel(&self, order_id: &Value, body: &Value) -> (u16, Value) {
        let path = format!("/v1/orders/{}/cancel", order_id.as_str().unwrap());
        self.post(&path, API_KEY, body).await
    }

    /// Redis `(on_hand, reserved)` of a SKU.
    pub(crate) async fn redis_level(&self, sku: &str) -> (i64, i64) {
        let l = self
            .state
            .redis
            .stock(&[Sku::parse(sku).unwrap()])
            .await
            .expect("stock read");
        (l[0].on_hand, l[0].reserved)
    }

    /// The kinds of every ledger movement, oldest first.
    pub(crate) async fn movement_kinds(&self) -> Vec<String> {
        sqlx::query_scalar("select kind::text from stock_movements order by id")
            .fetch_all(&self.state.db)
            .await
            .unwrap()
    }

    /// Ledger on-hand of a SKU.
    pub(crate) async fn ledger_on_hand(&self, sku: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(
            "select coalesce(sum(qty), 0)::int8 from stock_movements where sku = $1",
        )
        .bind(sku)
        .fetch_one(&self.state.db)
        .await
        .unwrap()
    }

    /// The `/metrics` text (with the metrics token).
    pub(crate) async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// Status of the order confirming `reservation_id`, from Postgres.
    pub(crate) async fn order_status(&self, reservation_id: &str) -> String {
        sqlx::query_scalar("select status::text from orders where reservation_id = $1")
            .bind(reservation_id)
            .fetch_one(&self.state.db)
            .await
            .unwrap()
    }

    pub(crate) async fn pending_outbox(&self) -> i64 {
        sqlx::query_scalar::<_, i64>("select count(*) from outbox where done_at is null")
            .fetch_one(&self.state.db)
            .await
            .unwrap()
    }
}

pub(crate) async fn json_of(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Polls `check` until it is true or `within` elapses.
pub(crate) async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < within {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {within:?} waiting for {what}");
}

/// A gateway and a prefix for one test.
pub(crate) struct Env {
    pub(crate) gateway: Running,
    pub(crate) prefix: String,
}

impl Env {
    pub(crate) async fn new() -> Self {
        Self {
            gateway: spawn_gateway("127.0.0.1:0").await,
            prefix: unique_prefix(),
        }
    }

    pub(crate) fn config(&self, extra: &[(&str, &str)]) -> Config {
        test_config(&self.gateway.url(), &self.prefix, extra)
    }

    /// A script engine on this test's keys whose clock runs `offset_ms` ahead ("time passes").
    pub(crate) fn engine_ahead(&self, offset_ms: i64) -> origin::state::Redis {
        origin::state::redis_engine(
            &self.gateway.url(),
            GATEWAY_TOKEN,
            &self.prefix,
            Duration::from_secs(2),
        )
        .expect("engine")
        .with_clock_offset_ms(offset_ms)
    }
}

/// A pool over the test database `#[sqlx::test]` created.
pub(crate) async fn pool(
    opts: sqlx::postgres::PgPoolOptions,
    connect: sqlx::postgres::PgConnectOptions,
) -> PgPool {
    opts.max_connections(20)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(connect)
        .await
        .expect("test pool")
}
