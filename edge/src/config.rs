//! Worker configuration from `wrangler.toml` vars and secrets, parsed by a pure function so the
//! rules (defaults, bounds, which values are required) are unit-tested on the host.
//!
//! Missing or malformed configuration never panics: it becomes a 500 `config_error` answer on the
//! routes that need the value (health and static files work without any configuration).

use edgestock_api::{ApiError, ErrorCode};

use crate::customer::CustomerAuth;

/// Most items the reserve script accepts in one reservation (the Lua bound).
pub const SCRIPT_MAX_ITEMS: u32 = edgestock_core::scripts::MAX_ITEMS as u32;

/// Rate-limit window of the reserve script, in ms (the limit is "per minute").
pub const RATE_LIMIT_WINDOW_MS: u64 = 60_000;

/// Longest `SOLD_OUT_CACHE_SECONDS`: units that come back stay unreservable at most this long.
pub const MAX_SOLD_OUT_CACHE_SECONDS: u32 = 300;

/// Parsed configuration. Required secrets and URLs are optional here; the route that needs one
/// asks for it with [`Config::redis`] or [`Config::origin`] and answers `config_error` without it.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// `REDIS_REST_URL`: the Upstash REST endpoint (or the edgestock gateway).
    pub redis_rest_url: Option<String>,
    /// `REDIS_REST_TOKEN` (secret).
    pub redis_rest_token: Option<String>,
    /// `RESERVATION_TOKEN_SECRET` (secret): HMAC key of reservation tokens and ids.
    pub reservation_token_secret: Option<String>,
    /// `RESERVATION_TOKEN_SECRET_PREVIOUS` (secret, optional): the secret before a rotation; its
    /// tokens are still accepted (new ones always use the current secret).
    pub reservation_token_secret_previous: Option<String>,
    /// `EDGE_ORIGIN_SECRET` (secret): HMAC key of forwarded origin calls.
    pub edge_origin_secret: Option<String>,
    /// `ORIGIN_URL`: where confirm and cancel are forwarded.
    pub origin_url: Option<String>,
    /// `ALLOWED_ORIGINS`: storefront origins allowed by CORS (comma list, `*` for any).
    pub allowed_origins: Vec<String>,
    /// `STOCK_CACHE_SECONDS` (default 1): edge cache and `max-age` of stock reads.
    pub stock_cache_seconds: u32,
    /// `SOLD_OUT_CACHE_SECONDS` (default `STOCK_CACHE_SECONDS` up to
    /// [`MAX_SOLD_OUT_CACHE_SECONDS`], the most it may be; 0 = off): how long the edge refuses a reserve of a SKU it
    /// saw with nothing available, without asking Redis.
    pub sold_out_cache_seconds: u32,
    /// `RATE_LIMIT_CACHE` (default true): refuse a subject Redis rate-limited at the edge until
    /// its window ends, without asking Redis.
    pub rate_limit_cache: bool,
    /// `REQUEST_LOG` (default true): one JSON log line per request on the console.
    pub request_log: bool,
    /// `DEFAULT_HOLD_SECONDS` (default 600): hold lifetime without `ttl_seconds`.
    pub default_hold_seconds: u32,
    /// `MAX_HOLD_SECONDS` (default 900): longest hold, extensions included.
    pub max_hold_seconds: u32,
    /// `PAYMENT_WINDOW_SECONDS` (default 900): how long a placed order waits for its payment;
    /// part of a reservation token's lifetime.
    pub payment_window_seconds: u32,
    /// `CONFIRM_GRACE_SECONDS` (default 60): slack after the payment window before a token
    /// expires.
    pub confirm_grace_seconds: u32,
    /// `MAX_QTY_PER_ITEM` (default 10).
    pub max_qty_per_item: u32,
    /// `MAX_ITEMS` (default 20, at most [`SCRIPT_MAX_ITEMS`]).
    pub max_items: u32,
    /// `RATE_LIMIT_PER_MINUTE` (default 100 reserve attempts per IP, cart or the anonymous bucket; 0 disables).
    pub rate_limit_per_minute: u32,
    /// `CUSTOMER_RATE_LIMIT_PER_MINUTE` (default 10): reserve attempts per minute per verified
    /// customer (0 = unlimited), beside the per-IP and per-cart `RATE_LIMIT_PER_MINUTE`.
    pub customer_rate_limit_per_minute: u32,
    /// `MAX_UNITS_PER_CUSTOMER` (default 0 = no cap): units of one SKU a verified customer may
    /// hold + place + buy across its reservations.
    pub max_units_per_customer: u32,
    /// `CAP_WINDOW_SECONDS` (default 86400): how long a customer's count lives after a reserve.
    pub cap_window_seconds: u32,
    /// How customer JWTs (`X-Customer-Token`) are verified: `CUSTOMER_JWT_SECRET` (HS256) and/or
    /// `CUSTOMER_JWKS` (RS256/ES256 by `kid`), with `CUSTOMER_JWT_ISSUER` and
    /// `CUSTOMER_JWT_AUDIENCE`. `None` when neither is configured: customer tokens are refused.
    pub customer_auth: Option<std::sync::Arc<CustomerAuth>>,
    /// `EXPOSE_EXACT_COUNTS` (default false): show `available` above the low-stock threshold too.
    pub expose_exact_counts: bool,
    /// `REDIS_KEY_PREFIX` (default empty): isolates tenants (and tests) sharing one Redis.
    pub redis_key_prefix: String,
    /// `REDIS_SHARDS` (default: one per REST endpoint): the logical shards SKUs are spread
    /// over (1..=64; the origin must use the same number).
    pub redis_shards: u32,
    /// `REDIS_TIMEOUT_MS` (default 1500): deadline of one Redis REST call.
    pub redis_timeout_ms: u32,
    /// `ORIGIN_TIMEOUT_MS` (default 5000): deadline of one forwarded origin call.
    pub origin_timeout_ms: u32,
    /// `CLOCK_OFFSET_MS` (default 0): shifts the scripts' clock, so tests can make time pass.
    /// Read only when the worker is built with the `test-clock` feature: a production build
    /// ignores the variable, so no deployment can move its holds' clock.
    pub clock_offset_ms: i64,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("Config")
            .field("redis_rest_url", &self.redis_rest_url)
            .field("redis_rest_token", &secret(&self.redis_rest_token))
            .field(
                "reservation_token_secret",
                &secret(&self.reservation_token_secret),
            )
            .field(
                "reservation_token_secret_previous",
                &secret(&self.reservation_token_secret_previous),
            )
            .field("edge_origin_secret", &secret(&self.edge_origin_secret))
            .field("origin_url", &self.origin_url)
            .field("allowed_origins", &self.allowed_origins)
            .field("stock_cache_seconds", &self.stock_cache_seconds)
            .field("sold_out_cache_seconds", &self.sold_out_cache_seconds)
            .field("rate_limit_cache", &self.rate_limit_cache)
            .field("request_log", &self.request_log)
            .field("default_hold_seconds", &self.default_hold_seconds)
            .field("max_hold_seconds", &self.max_hold_seconds)
            .field("payment_window_seconds", &self.payment_window_seconds)
            .field("confirm_grace_seconds", &self.confirm_grace_seconds)
            .field("max_qty_per_item", &self.max_qty_per_item)
            .field("max_items", &self.max_items)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field(
                "customer_rate_limit_per_minute",
                &self.customer_rate_limit_per_minute,
            )
            .field("max_units_per_customer", &self.max_units_per_customer)
            .field("cap_window_seconds", &self.cap_window_seconds)
            .field("customer_auth", &self.customer_auth)
            .field("expose_exact_counts", &self.expose_exact_counts)
            .field("redis_key_prefix", &self.redis_key_prefix)
            .field("redis_timeout_ms", &self.redis_timeout_ms)
            .field("origin_timeout_ms", &self.origin_timeout_ms)
            .field("clock_offset_ms", &self.clock_offset_ms)
            .finish()
    }
}

/// What the forwarded routes need.
#[derive(Debug, Clone, Copy)]
pub struct OriginSettings<'a> {
    /// Base URL of the origin (no trailing slash).
    pub url: &'a str,
    /// HMAC key of the signature.
    pub secret: &'a str,
}

fn config_error(message: String) -> ApiError {
    ApiError::new(ErrorCode::ConfigError, message)
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn number<N: std::str::FromStr>(
    lookup: &dyn Fn(&str) -> Option<String>,
    name: &str,
    default: N,
) -> Result<N, ApiError> {
    match non_empty(lookup(name)) {
        None => Ok(default),
        Some(s) => s
            .parse()
            .map_err(|_| config_error(format!("{name} must be an integer, got {s:?}"))),
    }
}

/// `CLOCK_OFFSET_MS`, honoured only by test builds (feature `test-clock`).
fn clock_offset_ms(lookup: &dyn Fn(&str) -> Option<String>) -> Result<i64, ApiError> {
    if cfg!(feature = "test-clock") {
        number(lookup, "CLOCK_OFFSET_MS", 0)
    } else {
        Ok(0)
    }
}

fn boolean(
    lookup: &dyn Fn(&str) -> Option<String>,
    name: &str,
    default: bool,
) -> Result<bool, ApiError> {
    match non_empty(lookup(name)).map(|s| s.to_ascii_lowercase()) {
        None => Ok(default),
        Some(s) => match s.as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(config_error(format!(
                "{name} must be true or false, got {s:?}"
            ))),
        },
    }
}

impl Config {
    /// Parses the configuration from `lookup` (vars and secrets by name).
    ///
    /// # Errors
    /// A `config_error` for a malformed number or flag, or inconsistent bounds.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ApiError> {
        let stock_cache_seconds = number(lookup, "STOCK_CACHE_SECONDS", 1)?;
        let c = Self {
            redis_rest_url: non_empty(lookup("REDIS_REST_URL")),
            redis_rest_token: non_empty(lookup("REDIS_REST_TOKEN")),
            reservation_token_secret: non_empty(lookup("RESERVATION_TOKEN_SECRET")),
            reservation_token_secret_previous: non_empty(lookup(
                "RESERVATION_TOKEN_SECRET_PREVIOUS",
            )),
            edge_origin_secret: non_empty(lookup("EDGE_ORIGIN_SECRET")),
            origin_url: non_empty(lookup("ORIGIN_URL")).map(|u| u.trim_end_matches('/').to_owned()),
            allowed_origins: lookup("ALLOWED_ORIGINS")
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().trim_end_matches('/').to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            stock_cache_seconds,
            sold_out_cache_seconds: number(
                lookup,
                "SOLD_OUT_CACHE_SECONDS",
                stock_cache_seconds.min(MAX_SOLD_OUT_CACHE_SECONDS),
            )?,
            rate_limit_cache: boolean(lookup, "RATE_LIMIT_CACHE", true)?,
            request_log: boolean(lookup, "REQUEST_LOG", true)?,
            default_hold_seconds: number(lookup, "DEFAULT_HOLD_SECONDS", 600)?,
            max_hold_seconds: number(lookup, "MAX_HOLD_SECONDS", 900)?,
            payment_window_seconds: number(lookup, "PAYMENT_WINDOW_SECONDS", 900)?,
            confirm_grace_seconds: number(lookup, "CONFIRM_GRACE_SECONDS", 60)?,
            max_qty_per_item: number(lookup, "MAX_QTY_PER_ITEM", 10)?,
            max_items: number(lookup, "MAX_ITEMS", 20)?,
            rate_limit_per_minute: number(lookup, "RATE_LIMIT_PER_MINUTE", 100)?,
            customer_rate_limit_per_minute: number(lookup, "CUSTOMER_RATE_LIMIT_PER_MINUTE", 10)?,
            max_units_per_customer: number(lookup, "MAX_UNITS_PER_CUSTOMER", 0)?,
            cap_window_seconds: number(lookup, "CAP_WINDOW_SECONDS", 86_400)?,
            customer_auth: CustomerAuth::from_config(
                non_empty(lookup("CUSTOMER_JWT_SECRET")).as_deref(),
                non_empty(lookup("CUSTOMER_JWKS")).as_deref(),
                non_empty(lookup("CUSTOMER_JWT_ISSUER")).as_deref(),
                non_empty(lookup("CUSTOMER_JWT_AUDIENCE")).as_deref(),
            )
            .map_err(config_error)?
            .map(std::sync::Arc::new),
            expose_exact_counts: boolean(lookup, "EXPOSE_EXACT_COUNTS", false)?,
            redis_key_prefix: lookup("REDIS_KEY_PREFIX").unwrap_or_default(),
            redis_shards: number(lookup, "REDIS_SHARDS", 0)?,
            redis_timeout_ms: number(lookup, "REDIS_TIMEOUT_MS", 1500)?,
            origin_timeout_ms: number(lookup, "ORIGIN_TIMEOUT_MS", 5000)?,
            clock_offset_ms: clock_offset_ms(lookup)?,
        };
        if c.max_hold_seconds == 0 || c.default_hold_seconds == 0 {
            return Err(config_error(
                "DEFAULT_HOLD_SECONDS and MAX_HOLD_SECONDS must be positive".into(),
            ));
        }
        if c.default_hold_seconds > c.max_hold_seconds {
            return Err(config_error(format!(
                "DEFAULT_HOLD_SECONDS ({}) exceeds MAX_HOLD_SECONDS ({})",
                c.default_hold_seconds, c.max_hold_seconds
            )));
        }
        if c.payment_window_seconds == 0 {
            return Err(config_error(
                "PAYMENT_WINDOW_SECONDS must be positive".into(),
            ));
        }
        if c.max_items == 0 || c.max_items > SCRIPT_MAX_ITEMS {
            return Err(config_error(format!(
                "MAX_ITEMS must be 1..={SCRIPT_MAX_ITEMS}"
            )));
        }
        if c.sold_out_cache_seconds > MAX_SOLD_OUT_CACHE_SECONDS {
            return Err(config_error(format!(
                "SOLD_OUT_CACHE_SECONDS must be 0..={MAX_SOLD_OUT_CACHE_SECONDS} (units that come back stay unreservable that long)"
            )));
        }
        if c.max_qty_per_item == 0 {
            return Err(config_error("MAX_QTY_PER_ITEM must be positive".into()));
        }
        if c.redis_timeout_ms == 0 || c.origin_timeout_ms == 0 {
            return Err(config_error(
                "REDIS_TIMEOUT_MS and ORIGIN_TIMEOUT_MS must be positive".into(),
            ));
        }
        if c.redis_key_prefix.contains(['{', '}']) {
            return Err(config_error(
                "REDIS_KEY_PREFIX must not contain { or }".into(),
            ));
        }
        redis::check_shards(c)
    }

    /// The token secret alone (routes that check a token before any Redis call).
    ///
    /// # Errors
    /// When `RESERVATION_TOKEN_SECRET` is missing.
    pub fn token_secret(&self) -> Result<&str, ApiError> {
        self.reservation_token_secret
            .as_deref()
            .ok_or_else(|| config_error("missing configuration: RESERVATION_TOKEN_SECRET".into()))
    }

    /// The secrets a presented token may be signed with: the current one, then the previous one
    /// during a rotation.
    ///
    /// # Errors
    /// When `RESERVATION_TOKEN_SECRET` is missing.
    pub fn token_secrets(&self) -> Result<Vec<&str>, ApiError> {
        let mut secrets = vec![self.token_secret()?];
        secrets.extend(self.reservation_token_secret_previous.as_deref());
        Ok(secrets)
    }

    /// How long a reservation token lives after the reservation's creation, in seconds:
    /// `MAX_HOLD_SECONDS + PAYMENT_WINDOW_SECONDS + CONFIRM_GRACE_SECONDS`.
    pub fn token_lifetime_secs(&self) -> u64 {
        u64::from(self.max_hold_seconds)
            + u64::from(self.payment_window_seconds)
            + u64::from(self.confirm_grace_seconds)
    }

    /// The origin settings, or `config_error` naming what is missing.
    ///
    /// # Errors
    /// When `ORIGIN_URL` or `EDGE_ORIGIN_SECRET` is missing.
    pub fn origin(&self) -> Result<OriginSettings<'_>, ApiError> {
        match (&self.origin_url, &self.edge_origin_secret) {
            (Some(url), Some(secret)) => Ok(OriginSettings { url, secret }),
            (None, _) => Err(config_error("missing configuration: ORIGIN_URL".into())),
            (_, None) => Err(config_error(
                "missing configuration: EDGE_ORIGIN_SECRET".into(),
            )),
        }
    }

    /// True when `origin` may call the API from a browser.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    }
}

mod redis;
pub use redis::RedisSettings;

#[cfg(test)]
mod tests;
