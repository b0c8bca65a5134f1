//! `edgestock-gateway`: the Upstash REST protocol in front of any Redis.
//!
//! Run with `GATEWAY_TOKEN=secret cargo run -p edgestock-gateway`.
use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use edgestock_gateway::{serve, shutdown_signal, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = Config::parse();
    let listener = tokio::net::TcpListener::bind(&config.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, redis = %config.redis_url_redacted(), "gateway listening");
    serve(listener, config, shutdown_signal()).await
}
