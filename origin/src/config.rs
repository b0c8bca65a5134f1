//! Typed configuration, read once from the environment at startup; fails fast and names every
//! missing or malformed variable at once.

use std::fmt;
use std::time::Duration;

/// Everything the origin needs to run.
#[derive(Clone)]
pub struct Config {
    /// `DATABASE_URL`: the Postgres system of record.
    pub database_url: String,
    /// `DATABASE_MAX_CONNECTIONS` (default 32).
    pub database_max_connections: u32,
    /// `REDIS_REST_URL`: the Upstash REST endpoint (or the gateway).
    pub redis_rest_url: String,
    /// `REDIS_REST_TOKEN`.
    pub redis_rest_token: String,
    /// `REDIS_TIMEOUT_MS` (default 2000): every Redis call's timeout.
    pub redis_timeout: Duration,
    /// `REDIS_KEY_PREFIX` (default empty).
    pub redis_key_prefix: String,
    /// `ORIGIN_LISTEN` (default `127.0.0.1:8080`).
    pub listen: String,
    /// `ORIGIN_API_KEY`: bearer key of the checkout backend.
    pub api_key: String,
    /// `ADMIN_API_KEY`: bearer key of the admin API.
    pub admin_api_key: String,
    /// `EDGE_ORIGIN_SECRET`: HMAC secret of edge-forwarded calls.
    pub edge_secret: String,
    /// `SEED_ON_STARTUP` (default false): load Redis from the ledger when starting.
    pub seed_on_startup: bool,
    /// `PIN_GRACE_SECONDS` (default 60): how long a pinned hold is kept for the confirm.
    pub pin_grace: Duration,
    /// `OUTBOX_INTERVAL_MS` (default 500): outbox worker poll interval.
    pub outbox_interval: Duration,
    /// `OUTBOX_GRACE_MS` (default 5000): head start of the request that wrote an outbox row.
    pub outbox_grace: Duration,
    /// `SWEEP_INTERVAL_MS` (default 1000).
    pub sweep_interval: Duration,
    /// `EVENTS_INTERVAL_MS` (default 1000): events copier poll interval.
    pub events_interval: Duration,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("redis_rest_url", &self.redis_rest_url)
            .field("redis_key_prefix", &self.redis_key_prefix)
            .field("listen", &self.listen)
            .field("seed_on_startup", &self.seed_on_startup)
            .field("pin_grace", &self.pin_grace)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Reads the process environment.
    ///
    /// # Errors
    /// One message naming every missing or malformed variable.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads variables through `get` (tests pass a map).
    ///
    /// # Errors
    /// One message naming every missing or malformed variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let mut problems = Vec::new();
        let mut required = |k: &str| match get(k).filter(|v| !v.trim().is_empty()) {
            Some(v) => v,
            None => {
                problems.push(format!("{k} is required"));
                String::new()
            }
        };
        let database_url = required("DATABASE_URL");
        let redis_rest_url = required("REDIS_REST_URL");
        let redis_rest_token = required("REDIS_REST_TOKEN");
        let api_key = required("ORIGIN_API_KEY");
        let admin_api_key = required("ADMIN_API_KEY");
        let edge_secret = required("EDGE_ORIGIN_SECRET");
        let mut number = |k: &str, default: u64| match get(k) {
            None => default,
            Some(v) => v.trim().parse().unwrap_or_else(|_| {
                problems.push(format!("{k} must be a non-negative integer, got {v:?}"));
                default
            }),
        };
        let ms = |v: u64| Duration::from_millis(v.max(1));
        let database_max_connections = number("DATABASE_MAX_CONNECTIONS", 32).clamp(1, 1000) as u32;
        let redis_timeout = ms(number("REDIS_TIMEOUT_MS", 2000));
        let pin_grace = Duration::from_secs(number("PIN_GRACE_SECONDS", 60).max(1));
        let outbox_interval = ms(number("OUTBOX_INTERVAL_MS", 500));
        let outbox_grace = Duration::from_millis(number("OUTBOX_GRACE_MS", 5000));
        let sweep_interval = ms(number("SWEEP_INTERVAL_MS", 1000));
        let events_interval = ms(number("EVENTS_INTERVAL_MS", 1000));
        let seed_on_startup = match get("SEED_ON_STARTUP").as_deref().map(str::trim) {
            None | Some("" | "0" | "false" | "no") => false,
            Some("1" | "true" | "yes") => true,
            Some(other) => {
                problems.push(format!(
                    "SEED_ON_STARTUP must be true or false, got {other:?}"
                ));
                false
            }
        };
        if !problems.is_empty() {
            anyhow::bail!("invalid configuration: {}", problems.join("; "));
        }
        Ok(Self {
            database_url,
            database_max_connections,
            redis_rest_url,
            redis_rest_token,
            redis_timeout,
            redis_key_prefix: get("REDIS_KEY_PREFIX").unwrap_or_default(),
            listen: get("ORIGIN_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".into()),
            api_key,
            admin_api_key,
            edge_secret,
            seed_on_startup,
            pin_grace,
            outbox_interval,
            outbox_grace,
            sweep_interval,
            events_interval,
        })
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
            ("PIN_GRACE_SECONDS", "30"),
        ]))
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.pin_grace, Duration::from_secs(30));
        assert!(!c.seed_on_startup);
        assert_eq!(c.redis_key_prefix, "");
    }

    #[test]
    fn malformed_numbers_are_reported() {
        let err = Config::from_lookup(lookup(&[("SWEEP_INTERVAL_MS", "soon")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("SWEEP_INTERVAL_MS"), "{err}");
    }
}
