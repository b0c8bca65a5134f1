//! The whole stack for end-to-end tests: a fresh Postgres database (migrated), the gateway, the
//! origin and the built worker in Miniflare, all sharing one Redis key prefix, over real HTTP.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use edgestock_gateway::Running;
use origin::config::Config as OriginConfig;
use origin::startup::Application;
use origin::state::AppState;
use serde_json::{json, Value};
use sqlx::{Connection, PgPool};

use super::stack::{gateway, unique_prefix, worker_bindings, GATEWAY_TOKEN, ORIGIN_SECRET};
use testkit::Worker;

pub const ORIGIN_API_KEY: &str = "e2e-origin-api-key";
pub const ADMIN_API_KEY: &str = "e2e-admin-api-key";
pub const METRICS_TOKEN: &str = "e2e-metrics-token";

fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A database of its own, migrated, dropped on a best-effort basis by [`FullStack::stop`].
async fn fresh_database() -> (String, PgPool) {
    let name = format!("e2e_{:016x}", rand::random::<u64>());
    let admin = admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("postgres is up (scripts/test.sh starts it)");
    sqlx::query(&format!("create database {name}"))
        .execute(&mut conn)
        .await
        .expect("create database");
    let url = match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("DATABASE_URL has no database name: {admin}"),
    };
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(10))
        .connect(&url)
        .await
        .expect("connect to the fresh database");
    sqlx::migrate!("../migrations")
        .run(&pool)
        .await
        .expect("migrations apply");
    (name, pool)
}

type OriginHandle = (
    String,
    AppState,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
);

async fn spawn_origin(vars: &HashMap<String, String>, pool: &PgPool) -> OriginHandle {
    let config = OriginConfig::from_lookup(|k| vars.get(k).cloned()).expect("origin config");
    let app = Application::build_with_pool(config, pool.clone())
        .await
        .expect("origin builds");
    let url = format!("http://{}", app.local_addr().expect("origin addr"));
    let state = app.state().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    (url, state, tx, task)
}

/// Everything running, one key prefix.
#[derive(Debug)]
pub struct FullStack {
    _gateways: Vec<Running>,
    origin_vars: HashMap<String, String>,
    /// The running origin's state (fault switches, metrics).
    pub origin_state: AppState,
    pub origin_url: String,
    origin_stop: Option<tokio::sync::oneshot::Sender<()>>,
    origin_task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub worker: Worker,
    pub pool: PgPool,
    pub db_name: String,
    pub prefix: String,
    pub http: reqwest::Client,
}

impl FullStack {
    /// Starts it all against the Redis at `redis_url`; `edge` and `origin` override settings.
    pub async fn start(redis_url: &str, edge: Value, origin: &[(&str, &str)]) -> Self {
        Self::start_sharded(&[redis_url], 0, edge, origin).await
    }

    /// Starts it all against several Redis databases (a gateway each, as several Upstash
    /// databases would be; a `redis+cluster://` URL is one database) over `shards` logical
    /// shards (0: one per database), edge and origin configured alike.
    pub async fn start_sharded(
        redis_urls: &[&str],
        shards: u32,
        edge: Value,
        origin: &[(&str, &str)],
    ) -> Self {
        let mut gateways = Vec::new();
        for url in redis_urls {
            gateways.push(gateway(url, |_| {}).await);
        }
        let rest_urls: Vec<String> = gateways.iter().map(Running::url).collect();
        let rest_urls = rest_urls.join(",");
        let shards = shards.to_string();
        let prefix = unique_prefix();
        let (db_name, pool) = fresh_database().await;
        let mut vars: HashMap<String, String> = [
            ("DATABASE_URL", "postgres://unused-the-pool-is-given"),
            ("REDIS_REST_URL", rest_urls.as_str()),
            ("REDIS_SHARDS", shards.as_str()),
            ("REDIS_REST_TOKEN", GATEWAY_TOKEN),
            ("REDIS_KEY_PREFIX", prefix.as_str()),
            ("ORIGIN_LISTEN", "127.0.0.1:0"),
            ("ORIGIN_API_KEY", ORIGIN_API_KEY),
            ("ADMIN_API_KEY", ADMIN_API_KEY),
            ("EDGE_ORIGIN_SECRET", ORIGIN_SECRET),
            ("METRICS_TOKEN", METRICS_TOKEN),
            ("OUTBOX_INTERVAL_MS", "50"),
            ("OUTBOX_GRACE_MS", "300"),
            ("SWEEP_INTERVAL_MS", "200"),
            ("EVENTS_INTERVAL_MS", "100"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        for (k, v) in origin {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        let (origin_url, origin_state, tx, origin_task) = spawn_origin(&vars, &pool).await;
        // A restart keeps the address the worker was given.
        vars.insert(
            "ORIGIN_LISTEN".into(),
            origin_url.trim_start_matches("http://").to_owned(),
        );
        let mut overrides = json!({"EXPOSE_EXACT_COUNTS": "true", "REDIS_SHARDS": shards});
        for (k, v) in edge.as_object().expect("edge bindings are an object") {
            overrides[k] = v.clone();
        }
        let bindings = worker_bindings(&rest_urls, &origin_url, &prefix, &overrides);
        let worker = Worker::start_with_bindings(&bindings).await;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build()
            .expect("http client");
        let me = Self {
            _gateways: gateways,
            origin_vars: vars,
            origin_state,
            origin_url,
            origin_stop: Some(tx),
            origin_task: Some(origin_task),
            worker,
            pool,
            db_name,
            prefix,
            http,
        };
        me.wait_until("origin /healthz", || async {
            me.http
                .get(format!("{}/healthz", me.origin_url))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await;
        me
    }

    /// `path` on the edge.
    pub fn edge(&self, path: &str) -> String {
        self.worker.url(path)
    }

    /// `path` on the origin.
    pub fn origin(&self, path: &str) -> String {
        format!("{}{path}", self.origin_url)
    }

    /// Creates or updates a SKU through the origin's admin API (ledger first, then Redis).
    pub async fn put_sku(&self, sku: &str, on_hand: i64, low: i64) {
        let res = self
            .http
            .put(self.origin(&format!("/v1/admin/skus/{sku}")))
            .bearer_auth(ADMIN_API_KEY)
            .json(&json!({"name": sku, "on_hand": on_hand, "low_stock_threshold": low}))
            .send()
            .await
            .expect("admin put");
        assert!(
            res.status().is_success(),
            "PUT sku: {} {}",
            res.status(),
            res.text().await.unwrap_or_default()
        );
    }

    /// The edge's view of one SKU.
    pub async fn edge_stock(&self, sku: &str) -> Value {
        let res = self
            .http
            .get(self.edge(&format!("/v1/stock/{sku}")))
            .send()
            .await
            .expect("edge stock");
        res.json().await.expect("stock json")
    }

    /// Polls `cond` every 100 ms until it holds, failing after 20 s.
    pub async fn wait_until<F, Fut>(&self, what: &str, mut cond: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cond().await {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the origin as a crash would (its in-flight work is abandoned) and starts a new one on
    /// the same address, database and Redis prefix.
    pub async fn restart_origin(&mut self) {
        if let Some(tx) = self.origin_stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.origin_task.take() {
            task.abort();
            let _ = task.await;
        }
        let (_, state, tx, task) = spawn_origin(&self.origin_vars, &self.pool).await;
        self.origin_state = state;
        self.origin_stop = Some(tx);
        self.origin_task = Some(task);
    }

    /// Stops the origin (drains its workers) and drops the database.
    pub async fn stop(mut self) {
        if let Some(tx) = self.origin_stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.origin_task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        self.pool.close().await;
        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url()).await {
            let _ = sqlx::query(&format!(
                "drop database if exists {} with (force)",
                self.db_name
            ))
            .execute(&mut conn)
            .await;
        }
    }
}
