//! Typed configuration, read once at startup from flags or, as deployed, the environment
//! (`#[arg(long, env)]`, like the gateway); fails fast. Every missing variable is named in one
//! error; a malformed value is named with what was wrong. Secrets are [`SecretString`]s, so
//! they never reach a log through `Debug`.

use std::ffi::OsString;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};
use secrecy::SecretString;

/// Everything the origin needs to run.
#[derive(Clone, Debug, Parser)]
#[command(name = "origin", version, about)]
pub struct Config {
    /// The Postgres system of record.
    #[arg(long, env = "DATABASE_URL", value_name = "DATABASE_URL", value_parser = secret, hide_env_values = true)]
    pub database_url: SecretString,
    /// Postgres pool size (clamped to 1..=1000).
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", value_name = "DATABASE_MAX_CONNECTIONS", default_value = "32", value_parser = pool_size)]
    pub database_max_connections: u32,
    /// The Upstash REST endpoint (or the gateway); several, comma-separated, for sharded
    /// Upstash (shard `s` on endpoint `s % endpoints`).
    #[arg(long, env = "REDIS_REST_URL", value_name = "REDIS_REST_URL", value_parser = required)]
    pub redis_rest_url: String,
    /// Logical shards the SKUs are spread over (1..=64; 0: one per endpoint). The edge must use
    /// the same number.
    #[arg(long, env = "REDIS_SHARDS", value_name = "REDIS_SHARDS", default_value = "0", value_parser = clap::value_parser!(u32).range(0..=64))]
    pub redis_shards: u32,
    /// Bearer token of the REST endpoint (one per endpoint, comma-separated, or one for all).
    #[arg(long, env = "REDIS_REST_TOKEN", value_name = "REDIS_REST_TOKEN", value_parser = secret, hide_env_values = true)]
    pub redis_rest_token: SecretString,
    /// Timeout of every Redis call, in milliseconds (`REDIS_TIMEOUT_MS`).
    #[arg(long = "redis-timeout-ms", env = "REDIS_TIMEOUT_MS", value_name = "REDIS_TIMEOUT_MS", default_value = "2000", value_parser = millis_at_least_1)]
    pub redis_timeout: Duration,
    /// Prefix of every Redis key (default empty).
    #[arg(
        long,
        env = "REDIS_KEY_PREFIX",
        value_name = "REDIS_KEY_PREFIX",
        default_value = ""
    )]
    pub redis_key_prefix: String,
    /// Listen address.
    #[arg(
        long,
        env = "ORIGIN_LISTEN",
        value_name = "ORIGIN_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: String,
    /// Bearer key of the checkout backend.
    #[arg(long, env = "ORIGIN_API_KEY", value_name = "ORIGIN_API_KEY", value_parser = secret, hide_env_values = true)]
    pub api_key: SecretString,
    /// Bearer key of the admin API.
    #[arg(long, env = "ADMIN_API_KEY", value_name = "ADMIN_API_KEY", value_parser = secret, hide_env_values = true)]
    pub admin_api_key: SecretString,
    /// HMAC secret of edge-forwarded calls.
    #[arg(long, env = "EDGE_ORIGIN_SECRET", value_name = "EDGE_ORIGIN_SECRET", value_parser = secret, hide_env_values = true)]
    pub edge_secret: SecretString,
    /// Bearer token of `GET /metrics` (a scraper's credential, good for nothing else). Unset,
    /// `/metrics` is off: it answers 404 `not_found`, since its gauges show exact stock per SKU.
    #[arg(long, env = "METRICS_TOKEN", value_name = "METRICS_TOKEN", value_parser = optional_secret, hide_env_values = true)]
    pub metrics_token: Option<SecretString>,
    /// Load Redis from the ledger when starting (`true`/`1`/`yes`, `false`/`0`/`no`/empty).
    #[arg(long, env = "SEED_ON_STARTUP", value_name = "SEED_ON_STARTUP", default_value = "false", value_parser = boolean, action = clap::ArgAction::Set)]
    pub seed_on_startup: bool,
    /// How long a shopper has to pay once the order is placed, in seconds
    /// (`PAYMENT_WINDOW_SECONDS`); the deadline is fixed when the order is placed.
    #[arg(long = "payment-window-seconds", env = "PAYMENT_WINDOW_SECONDS", value_name = "PAYMENT_WINDOW_SECONDS", default_value = "900", value_parser = secs_at_least_1)]
    pub payment_window: Duration,
    /// How long past a payment deadline Redis keeps the units, in seconds
    /// (`CONFIRM_GRACE_SECONDS`): it must cover the clock difference between Postgres and Redis
    /// and a confirm in flight at the deadline. Also the pin of a backend confirm of a held
    /// reservation.
    #[arg(long = "confirm-grace-seconds", env = "CONFIRM_GRACE_SECONDS", value_name = "CONFIRM_GRACE_SECONDS", default_value = "60", value_parser = secs_at_least_1)]
    pub confirm_grace: Duration,
    /// Outbox worker poll interval, in milliseconds (`OUTBOX_INTERVAL_MS`).
    #[arg(long = "outbox-interval-ms", env = "OUTBOX_INTERVAL_MS", value_name = "OUTBOX_INTERVAL_MS", default_value = "500", value_parser = millis_at_least_1)]
    pub outbox_interval: Duration,
    /// Head start of the request that wrote an outbox row, in milliseconds (`OUTBOX_GRACE_MS`).
    #[arg(long = "outbox-grace-ms", env = "OUTBOX_GRACE_MS", value_name = "OUTBOX_GRACE_MS", default_value = "5000", value_parser = millis)]
    pub outbox_grace: Duration,
    /// Sweeper interval, in milliseconds (`SWEEP_INTERVAL_MS`).
    #[arg(long = "sweep-interval-ms", env = "SWEEP_INTERVAL_MS", value_name = "SWEEP_INTERVAL_MS", default_value = "1000", value_parser = millis_at_least_1)]
    pub sweep_interval: Duration,
    /// Events copier poll interval, in milliseconds (`EVENTS_INTERVAL_MS`).
    #[arg(long = "events-interval-ms", env = "EVENTS_INTERVAL_MS", value_name = "EVENTS_INTERVAL_MS", default_value = "1000", value_parser = millis_at_least_1)]
    pub events_interval: Duration,
    /// Accept `http://` webhook URLs to loopback addresses (local development and tests only).
    #[arg(long, env = "WEBHOOK_ALLOW_INSECURE", value_name = "WEBHOOK_ALLOW_INSECURE", default_value = "false", value_parser = boolean, action = clap::ArgAction::Set)]
    pub webhook_allow_insecure: bool,
    /// Timeout of one webhook request, connecting included, in milliseconds (`WEBHOOK_TIMEOUT_MS`).
    #[arg(long = "webhook-timeout-ms", env = "WEBHOOK_TIMEOUT_MS", value_name = "WEBHOOK_TIMEOUT_MS", default_value = "5000", value_parser = millis_at_least_1)]
    pub webhook_timeout: Duration,
    /// Webhook worker poll interval, in milliseconds (`WEBHOOK_INTERVAL_MS`).
    #[arg(long = "webhook-interval-ms", env = "WEBHOOK_INTERVAL_MS", value_name = "WEBHOOK_INTERVAL_MS", default_value = "500", value_parser = millis_at_least_1)]
    pub webhook_interval: Duration,
    /// First retry delay of a failed delivery, doubled per attempt, in milliseconds
    /// (`WEBHOOK_RETRY_BASE_MS`).
    #[arg(long = "webhook-retry-base-ms", env = "WEBHOOK_RETRY_BASE_MS", value_name = "WEBHOOK_RETRY_BASE_MS", default_value = "1000", value_parser = millis_at_least_1)]
    pub webhook_retry_base: Duration,
    /// Longest retry delay, in milliseconds (`WEBHOOK_RETRY_MAX_MS`).
    #[arg(long = "webhook-retry-max-ms", env = "WEBHOOK_RETRY_MAX_MS", value_name = "WEBHOOK_RETRY_MAX_MS", default_value = "600000", value_parser = millis_at_least_1)]
    pub webhook_retry_max: Duration,
    /// Failed attempts in a row after which an endpoint is disabled (`WEBHOOK_DISABLE_AFTER`).
    #[arg(long, env = "WEBHOOK_DISABLE_AFTER", value_name = "WEBHOOK_DISABLE_AFTER", default_value = "20", value_parser = count_at_least_1)]
    pub webhook_disable_after: u32,
    /// Webhook requests in flight at once (`WEBHOOK_CONCURRENCY`, clamped to 1..=256).
    #[arg(long, env = "WEBHOOK_CONCURRENCY", value_name = "WEBHOOK_CONCURRENCY", default_value = "16", value_parser = concurrency)]
    pub webhook_concurrency: usize,
    /// SKUs always exported as `inventory_available` (comma-separated, at most 1000), besides
    /// those with stock activity in the last hour (`METRICS_SKUS`).
    #[arg(long, env = "METRICS_SKUS", value_name = "METRICS_SKUS", default_value = "", value_parser = sku_list)]
    pub metrics_skus: SkuList,
}

/// A comma-separated list of SKUs (`METRICS_SKUS`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SkuList(pub Vec<String>);

/// Most SKUs `METRICS_SKUS` may name.
pub const MAX_METRICS_SKUS: usize = 1000;

fn sku_list(v: &str) -> Result<SkuList, String> {
    let skus: Vec<String> = v
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if skus.len() > MAX_METRICS_SKUS {
        return Err(format!(
            "names {} SKUs, at most {MAX_METRICS_SKUS}",
            skus.len()
        ));
    }
    if let Some(bad) = skus
        .iter()
        .find(|s| edgestock_core::domain::Sku::parse(s).is_err())
    {
        return Err(format!("{bad:?} is not a valid SKU"));
    }
    Ok(SkuList(skus))
}

fn count_at_least_1(v: &str) -> Result<u32, String> {
    Ok(number(v)?.clamp(1, u64::from(u32::MAX)) as u32)
}

fn concurrency(v: &str) -> Result<usize, String> {
    Ok(number(v)?.clamp(1, 256) as usize)
}

fn required(v: &str) -> Result<String, String> {
    if v.trim().is_empty() {
        Err("is required".into())
    } else {
        Ok(v.to_owned())
    }
}

fn secret(v: &str) -> Result<SecretString, String> {
    required(v).map(SecretString::from)
}

/// A secret that may be left unset but, when set, not empty.
fn optional_secret(v: &str) -> Result<SecretString, String> {
    if v.trim().is_empty() {
        Err("must not be empty when set (leave it unset instead)".into())
    } else {
        Ok(SecretString::from(v.to_owned()))
    }
}

fn number(v: &str) -> Result<u64, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("must be a non-negative integer, got {v:?}"))
}

fn pool_size(v: &str) -> Result<u32, String> {
    Ok(number(v)?.clamp(1, 1000) as u32)
}

fn millis(v: &str) -> Result<Duration, String> {
    number(v).map(Duration::from_millis)
}

fn millis_at_least_1(v: &str) -> Result<Duration, String> {
    number(v).map(|n| Duration::from_millis(n.max(1)))
}

fn secs_at_least_1(v: &str) -> Result<Duration, String> {
    number(v).map(|n| Duration::from_secs(n.max(1)))
}

/// The boolean spellings every service accepts.
fn boolean(v: &str) -> Result<bool, String> {
    match v.trim() {
        "" | "0" | "false" | "no" => Ok(false),
        "1" | "true" | "yes" => Ok(true),
        other => Err(format!("must be true or false, got {other:?}")),
    }
}

impl Config {
    /// Reads the command line and the process environment.
    ///
    /// # Errors
    /// One message naming every missing variable, or the malformed one.
    pub fn from_env() -> anyhow::Result<Self> {
        let matches = Self::command().try_get_matches_from(std::env::args_os());
        Self::finish(matches, |k| std::env::var(k).ok())
    }

    /// Reads variables through `get` only, never the process environment (tests pass a map).
    ///
    /// # Errors
    /// One message naming every missing variable, or the malformed one.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let mut argv: Vec<OsString> = vec!["origin".into()];
        for arg in Self::command().get_arguments() {
            let (Some(var), Some(long)) = (arg.get_env(), arg.get_long()) else {
                continue;
            };
            if let Some(v) = var.to_str().and_then(&get) {
                argv.push(format!("--{long}={v}").into());
            }
        }
        let matches = Self::command()
            .mut_args(|a| a.env(None))
            .try_get_matches_from(argv);
        Self::finish(matches, get)
    }

    fn finish(
        matches: clap::error::Result<ArgMatches>,
        get: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        let err = match matches.and_then(|m| Self::from_arg_matches(&m)) {
            Ok(config) => return Ok(config),
            Err(e) => e,
        };
        if matches!(
            err.kind(),
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
        ) {
            err.exit();
        }
        let problems: Vec<String> = if err.kind() == ErrorKind::MissingRequiredArgument {
            Self::command()
                .get_arguments()
                .filter(|a| a.is_required_set())
                .filter_map(|a| a.get_env()?.to_str())
                .filter(|var| get(var).is_none())
                .map(|var| format!("{var} is required"))
                .collect()
        } else {
            let text = err.to_string();
            let first = text.lines().next().unwrap_or_default();
            vec![first.trim_start_matches("error: ").to_owned()]
        };
        if problems.is_empty() {
            anyhow::bail!("invalid configuration: {err}");
        }
        anyhow::bail!("invalid configuration: {}", problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn missing_variables_are_all_named_in_one_error() {
        let err = Config::from_lookup(lookup(&[("DATABASE_URL", "postgres://x")]))
            .unwrap_err()
            .to_string();
        for k in [
            "REDIS_REST_URL",
            "REDIS_REST_TOKEN",
            "ORIGIN_API_KEY",
            "ADMIN_API_KEY",
        ] {
            assert!(err.contains(k), "{k} missing from {err}");
        }
        assert!(!err.contains("DATABASE_URL"));
    }

    #[test]
    fn defaults_apply_when_optional_variables_are_absent() {
        let c = Config::from_lookup(lookup(&[
            ("DATABASE_URL", "postgres://x"),
            ("REDIS_REST_URL", "http://r"),
            ("REDIS_REST_TOKEN", "t"),
            ("ORIGIN_API_KEY", "a"),
            ("ADMIN_API_KEY", "b"),
            ("EDGE_ORIGIN_SECRET", "s"),
            ("CONFIRM_GRACE_SECONDS", "30"),
        ]))
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.confirm_grace, Duration::from_secs(30));
        assert_eq!(c.payment_window, Duration::from_secs(900));
        assert!(!c.seed_on_startup);
        assert_eq!(c.redis_key_prefix, "");
        assert!(!c.webhook_allow_insecure);
        assert_eq!(c.webhook_timeout, Duration::from_secs(5));
        assert_eq!(c.webhook_disable_after, 20);
        assert_eq!(c.metrics_skus, SkuList::default());
    }

    #[test]
    fn metrics_skus_are_a_checked_list() {
        let c = complete(&[("METRICS_SKUS", " A-1, B.2 ,")]).unwrap();
        assert_eq!(c.metrics_skus, SkuList(vec!["A-1".into(), "B.2".into()]));
        let err = complete(&[("METRICS_SKUS", "A,no spaces")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("METRICS_SKUS"), "{err}");
    }

    #[test]
    fn metrics_token_is_optional_secret_and_never_empty() {
        use secrecy::ExposeSecret;
        assert!(complete(&[]).unwrap().metrics_token.is_none());
        let c = complete(&[("METRICS_TOKEN", "scrape-me")]).unwrap();
        assert_eq!(
            c.metrics_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            Some("scrape-me".to_owned())
        );
        assert!(!format!("{c:?}").contains("scrape-me"));
        let err = complete(&[("METRICS_TOKEN", " ")]).unwrap_err().to_string();
        assert!(err.contains("METRICS_TOKEN"), "{err}");
    }

    #[test]
    fn malformed_numbers_are_reported() {
        let err = Config::from_lookup(lookup(&[("SWEEP_INTERVAL_MS", "soon")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("SWEEP_INTERVAL_MS"), "{err}");
    }

    fn complete(extra: &[(&str, &str)]) -> anyhow::Result<Config> {
        let mut pairs = vec![
            ("DATABASE_URL", "postgres://u:pw@h/db"),
            ("REDIS_REST_URL", "http://r"),
            ("REDIS_REST_TOKEN", "t"),
            ("ORIGIN_API_KEY", "a"),
            ("ADMIN_API_KEY", "b"),
            ("EDGE_ORIGIN_SECRET", "very-secret"),
        ];
        pairs.extend_from_slice(extra);
        Config::from_lookup(lookup(&pairs))
    }

    #[test]
    fn seed_on_startup_accepts_the_shared_boolean_spellings() {
        for (v, want) in [("", false), ("0", false), ("no", false), ("false", false)]
            .into_iter()
            .chain([("1", true), ("yes", true), (" true ", true)])
        {
            let c = complete(&[("SEED_ON_STARTUP", v)]).unwrap();
            assert_eq!(c.seed_on_startup, want, "SEED_ON_STARTUP={v:?}");
        }
        let err = complete(&[("SEED_ON_STARTUP", "maybe")]).unwrap_err();
        assert!(err.to_string().contains("SEED_ON_STARTUP"), "{err}");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let text = format!("{:?}", complete(&[]).unwrap());
        assert!(
            !text.contains("very-secret") && !text.contains("pw@"),
            "{text}"
        );
    }
}
