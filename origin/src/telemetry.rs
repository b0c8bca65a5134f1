//! Tracing setup shared by the binary and the tests: JSON lines on stdout (or a sink).

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Installs a JSON subscriber writing to `sink`, filtered by `RUST_LOG` or `default_filter`.
/// Installing twice is harmless (the second call is ignored), so tests may call it freely.
pub fn init<W>(default_filter: &str, sink: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into());
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(sink)
        .try_init();
}
