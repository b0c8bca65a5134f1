//! `origin`: orders, the stock ledger and the confirm protocol on Postgres.
//!
//! Run with the variables of `origin::config::Config` set, e.g.
//! `DATABASE_URL=postgres://… REDIS_REST_URL=http://127.0.0.1:8079 REDIS_REST_TOKEN=… ORIGIN_API_KEY=…
//! ADMIN_API_KEY=… EDGE_ORIGIN_SECRET=… cargo run -p origin --bin origin`.

use origin::config::Config;
use origin::startup::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    origin::telemetry::init("info", std::io::stdout);
    let config = Config::from_env()?;
    let app = Application::build(config).await?;
    tracing::info!(addr = %app.local_addr()?, "origin listening");
    app.run_until_stopped().await
}
