//! The one state every handler and background task shares.

use std::sync::Arc;
use std::time::{Duration, Instant};

use edgestock_api::origin::Readiness;

use edgestock_core::keys::Keys;
use edgestock_core::scripts::Engine;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use upstash_rest::Client;
use upstash_rest::ReqwestTransport;

use crate::config::Config;
use crate::fault::Faults;
use crate::metrics::Metrics;

/// The Redis script engine over the Upstash REST protocol.
pub type Redis = Engine<ReqwestTransport>;

/// Cheap to clone: everything is behind an `Arc` or already shared (the pool).
#[derive(Clone, Debug)]
pub struct AppState {
    /// Postgres, the system of record.
    pub db: PgPool,
    /// Redis through the REST protocol; every call has the configured timeout.
    pub redis: Arc<Redis>,
    /// The configuration.
    pub config: Arc<Config>,
    /// In-process metrics.
    pub metrics: Arc<Metrics>,
    /// Fault-injection points (armed only by tests).
    pub faults: Faults,
    /// The last readiness answer, reused for a second (`GET /readyz`).
    pub readiness: Arc<ReadinessCache>,
    /// The last count of live holds (`active_reservations_count`), reused for a few seconds;
    /// `None` when Redis could not be read.
    pub live_holds: Arc<Cached<Option<i64>>>,
    /// The HTTP client of webhook deliveries: `WEBHOOK_TIMEOUT_MS` on every request, no
    /// redirects (a redirect could lead past the URL checks).
    pub webhooks: reqwest::Client,
}

/// The last readiness answer, reused for a second.
pub type ReadinessCache = Cached<Readiness>;

/// A value read from the stores and reused for a while: the last answer and when it was taken.
/// The lock is held during a check, so concurrent readers wait for the one check in progress
/// instead of starting their own.
#[derive(Debug)]
pub struct Cached<T> {
    last: tokio::sync::Mutex<Option<(Instant, T)>>,
}

impl<T> Default for Cached<T> {
    fn default() -> Self {
        Self {
            last: tokio::sync::Mutex::new(None),
        }
    }
}

impl<T: Clone> Cached<T> {
    /// The answer taken less than `ttl` ago, or a fresh one from `check` (then remembered).
    pub async fn get_or_check<F>(&self, ttl: Duration, check: impl FnOnce() -> F) -> T
    where
        F: std::future::Future<Output = T>,
    {
        let mut last = self.last.lock().await;
        if let Some((at, answer)) = last.as_ref() {
            if at.elapsed() < ttl {
                return answer.clone();
            }
        }
        let answer = check().await;
        *last = Some((Instant::now(), answer.clone()));
        answer
    }
}

impl AppState {
    /// State over an existing pool; builds the Redis engine from `config`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(db: PgPool, config: Config) -> anyhow::Result<Self> {
        let redis = redis_engine(
            &config.redis_rest_url,
            config.redis_rest_token.expose_secret(),
            &config.redis_key_prefix,
            config.redis_timeout,
        )?;
        let redis = with_shards(redis, config.redis_shards)?;
        let webhooks = reqwest::Client::builder()
            .connect_timeout(config.webhook_timeout)
            .timeout(config.webhook_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("edgestock-origin/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            db,
            redis: Arc::new(redis),
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
            faults: Faults::default(),
            readiness: Arc::new(ReadinessCache::default()),
            live_holds: Arc::new(Cached::default()),
            webhooks,
        })
    }
}

/// A script engine for `urls` (comma-separated endpoints, one shard each; `tokens` one per
/// endpoint or one for all) with `timeout` on every call (connect timeout included).
///
/// # Errors
/// When the HTTP client cannot be built; tokens that do not match the endpoints.
pub fn redis_engine(
    urls: &str,
    tokens: &str,
    prefix: &str,
    timeout: Duration,
) -> anyhow::Result<Redis> {
    let http = reqwest::Client::builder()
        .connect_timeout(timeout)
        .timeout(timeout)
        .pool_max_idle_per_host(64)
        .build()?;
    let tokens: Vec<&str> = tokens.split(',').map(str::trim).collect();
    let urls: Vec<&str> = urls.split(',').map(str::trim).collect();
    anyhow::ensure!(
        tokens.len() == 1 || tokens.len() == urls.len(),
        "REDIS_REST_TOKEN must be one token, or one per REDIS_REST_URL endpoint"
    );
    let clients = urls
        .iter()
        .enumerate()
        .map(|(i, url)| {
            let token = tokens.get(i).unwrap_or(&tokens[0]);
            Client::new(ReqwestTransport::new(http.clone()), url, token).with_timeout(timeout)
        })
        .collect();
    let shards = u32::try_from(urls.len()).unwrap_or(u32::MAX);
    Ok(Engine::sharded(
        clients,
        Keys::new(prefix).with_shards(shards),
    ))
}

/// `redis` over `shards` logical shards (`REDIS_SHARDS`; 0 keeps one per endpoint).
///
/// # Errors
/// Fewer shards than endpoints, or more than 64.
pub fn with_shards(redis: Redis, shards: u32) -> anyhow::Result<Redis> {
    if shards == 0 {
        return Ok(redis);
    }
    anyhow::ensure!(
        shards as usize >= redis.databases() && shards <= edgestock_core::keys::MAX_SHARDS,
        "REDIS_SHARDS must be 1..=64 and at least the number of REDIS_REST_URL endpoints"
    );
    let keys = redis.keys().clone().with_shards(shards);
    Ok(redis.with_keys(keys))
}
