//! A server for the Upstash Redis REST protocol in front of any Redis.
//!
//! Locally it stands in for hosted Upstash so the worker, the origin and the official
//! `@upstash/redis` client all run against a real Redis; in production it lets users keep their
//! own Redis. The wire format follows the repository's `docs/upstash-rest-protocol.md`:
//!
//! * `POST /` one command, `POST /pipeline` a real RESP pipeline (order kept, one `{result}` or
//!   `{error}` per command, HTTP 200), `POST /multi-exec` an atomic `MULTI … EXEC`; path-style
//!   commands (`GET /get/key`) as well. Methods other than HEAD/GET/POST/PUT answer 405.
//! * `Authorization: Bearer <token>` or `?_token=`; an allow list per token (see `policy`): the
//!   full token runs data commands and scripts, an optional read-only token reads and runs cached
//!   scripts by SHA1 only, and only an optional admin token may administer Redis. Refusals answer
//!   `NOPERM` before anything reaches Redis.
//! * `Upstash-Encoding: base64`, and a fresh `upstash-sync-token` on every response.
//! * Bounded: request size, commands per request, in-flight requests (bounded wait, then 503), a
//!   deadline on every Redis call (Redis down → 503 JSON within `redis_timeout`, recovery on its
//!   own when it comes back).

mod backend;
mod config;
mod handler;
mod metrics;
mod policy;
mod protocol;
mod scripts;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::backend::Backend;
use crate::metrics::Metrics;

pub use config::Config;

struct AppState {
    token: Vec<u8>,
    readonly_token: Option<Vec<u8>>,
    admin_token: Option<Vec<u8>>,
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
        admin_token: config.admin_token.clone().map(String::into_bytes),
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
    let app = Router::new().fallback(handler::handle).with_state(state);
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
