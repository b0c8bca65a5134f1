//! Building and running the application: pool, migrations, optional seeding, the HTTP server and
//! the background tasks (outbox worker, sweeper, events copier, webhook worker), all stopping
//! together.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::state::AppState;

/// A built application, bound to its port, not yet serving.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

/// Connects to Postgres with the configured pool size (connect timeout 5 s).
///
/// # Errors
/// When Postgres is unreachable.
pub async fn connect(config: &Config) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(config.database_max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect(config.database_url.expose_secret())
        .await
        .context("connecting to DATABASE_URL")
}

impl Application {
    /// Connects, migrates, seeds when configured, and binds `ORIGIN_LISTEN`.
    ///
    /// # Errors
    /// Postgres unreachable, migrations failing, or the address taken.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let pool = connect(&config).await?;
        Self::build_with_pool(config, pool).await
    }

    /// Like [`Application::build`] over an existing pool (tests).
    ///
    /// # Errors
    /// Migrations failing, or the address taken.
    pub async fn build_with_pool(config: Config, pool: PgPool) -> anyhow::Result<Self> {
        crate::MIGRATOR
            .run(&pool)
            .await
            .context("running migrations")?;
        let state = AppState::new(pool, config)?;
        Self::build_with_state(state).await
    }

    /// Binds and prepares an application around ready-made state (tests arm faults on it).
    ///
    /// # Errors
    /// The address taken.
    pub async fn build_with_state(state: AppState) -> anyhow::Result<Self> {
        if state.config.seed_on_startup {
            seed_on_startup(&state).await;
        } else {
            sync_locations(&state).await;
        }
        let listener = TcpListener::bind(&state.config.listen)
            .await
            .with_context(|| format!("binding ORIGIN_LISTEN={}", state.config.listen))?;
        Ok(Self { listener, state })
    }

    /// The bound address (port 0 resolves here).
    ///
    /// # Errors
    /// When the socket has no local address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops the background tasks and drains requests.
    ///
    /// # Errors
    /// Server failures.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let tasks: Vec<(&str, JoinHandle<()>)> = vec![
            (
                "outbox worker",
                tokio::spawn(crate::domain::outbox::run_worker(
                    self.state.clone(),
                    stop_rx.clone(),
                )),
            ),
            (
                "sweeper",
                tokio::spawn(crate::sweeper::run_sweeper(
                    self.state.clone(),
                    stop_rx.clone(),
                )),
            ),
            (
                "events copier",
                tokio::spawn(crate::domain::events::run_copier(
                    self.state.clone(),
                    stop_rx.clone(),
                )),
            ),
            (
                "webhook worker",
                tokio::spawn(crate::domain::webhooks::run_worker(
                    self.state.clone(),
                    stop_rx,
                )),
            ),
        ];
        let app = crate::http::app(self.state);
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        let _ = stop_tx.send(true);
        for (name, task) in tasks {
            match tokio::time::timeout(Duration::from_secs(10), task).await {
                Ok(Ok(())) => tracing::info!(task = name, "stopped"),
                Ok(Err(e)) => tracing::error!(task = name, error = %e, "task failed"),
                Err(_) => tracing::error!(task = name, "task did not stop within 10 s"),
            }
        }
        served.context("serving HTTP")
    }

    /// Serves until Ctrl-C or SIGTERM.
    ///
    /// # Errors
    /// Server failures.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

/// Finishes due outbox rows first (so nothing applied is counted twice), then seeds every SKU.
/// Failures are logged, not fatal: `/readyz` shows Redis down and `POST /v1/admin/seed` retries.
async fn seed_on_startup(state: &AppState) {
    match crate::domain::outbox::drain(state, 10_000).await {
        Ok(n) => tracing::info!(rows = n, "outbox drained before seeding"),
        Err(e) => tracing::warn!(error = %e, "outbox drain before seeding failed"),
    }
    // Settings, stock, placed orders' holds, then the shards' seeded markers: a shard answers
    // reserves only once all of it is back. A failure leaves the sweeper to retry.
    match crate::domain::seed::seed_all(state).await {
        Ok(skus) => tracing::info!(skus = skus.len(), "redis seeded from the ledger"),
        Err(e) => {
            tracing::error!(error = %e, "seeding redis on startup failed");
            return;
        }
    }
    if let Err(e) = crate::domain::seed::repin_placed(state).await {
        tracing::error!(error = %e, "re-pinning placed orders on startup failed");
        return;
    }
    if let Err(e) = crate::domain::shards::mark_all_seeded(state).await {
        tracing::error!(error = %e, "marking the redis shards seeded failed");
    }
}

/// Writes the location settings to Redis when its copy differs (a fresh Redis has none, and
/// reserves answer 503 until it has). Failures are logged: the next PUT, seed or reconcile
/// writes them.
async fn sync_locations(state: &AppState) {
    match crate::domain::locations::reconcile_settings(state, true).await {
        Ok(true) => tracing::info!("location settings written to redis"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "writing the location settings to redis failed"),
    }
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
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutdown signal received");
}
