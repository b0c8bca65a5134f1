//! The Redis side of the configuration: the REST endpoints (one, or several for sharded
//! Upstash), their tokens and the logical shards (docs/sharding.md).

use edgestock_api::ApiError;
use edgestock_core::keys::{Keys, MAX_SHARDS};

use super::{config_error, Config};

/// What the Redis-backed routes need.
#[derive(Debug, Clone, Copy)]
pub struct RedisSettings<'a> {
    /// REST endpoint.
    pub url: &'a str,
    /// REST token.
    pub token: &'a str,
}

/// Checks the endpoint and token lists and `REDIS_SHARDS` (0: one shard per endpoint).
pub(super) fn check_shards(mut c: Config) -> Result<Config, ApiError> {
    let endpoints = c
        .redis_rest_url
        .as_deref()
        .map_or(1, |u| u.split(',').count());
    let tokens = c
        .redis_rest_token
        .as_deref()
        .map_or(1, |t| t.split(',').count());
    if tokens != 1 && tokens != endpoints {
        return Err(config_error(
            "REDIS_REST_TOKEN must be one token, or one per REDIS_REST_URL endpoint".into(),
        ));
    }
    if c.redis_shards == 0 {
        c.redis_shards = u32::try_from(endpoints).unwrap_or(u32::MAX);
    }
    if c.redis_shards as usize > MAX_SHARDS as usize || (c.redis_shards as usize) < endpoints {
        return Err(config_error(format!(
            "REDIS_SHARDS must be 1..={MAX_SHARDS} and at least the number of REDIS_REST_URL \
                 endpoints ({endpoints})"
        )));
    }
    Ok(c)
}

impl Config {
    /// The key layout: the prefix over `REDIS_SHARDS` logical shards.
    pub fn keys(&self) -> Keys {
        Keys::new(self.redis_key_prefix.clone()).with_shards(self.redis_shards)
    }

    /// The Redis REST endpoints (URL and token each), in shard order: logical shard `s` lives on
    /// endpoint `s % endpoints`.
    ///
    /// # Errors
    /// When `REDIS_REST_URL` or `REDIS_REST_TOKEN` is missing.
    pub fn redis_endpoints(&self) -> Result<Vec<RedisSettings<'_>>, ApiError> {
        let r = self.redis()?;
        let tokens: Vec<&str> = r.token.split(',').map(str::trim).collect();
        Ok(r.url
            .split(',')
            .map(str::trim)
            .enumerate()
            .map(|(i, url)| RedisSettings {
                url,
                token: tokens.get(i).or(tokens.first()).copied().unwrap_or(""),
            })
            .collect())
    }

    /// The Redis settings, or `config_error` naming what is missing.
    ///
    /// # Errors
    /// When `REDIS_REST_URL` or `REDIS_REST_TOKEN` is missing.
    pub fn redis(&self) -> Result<RedisSettings<'_>, ApiError> {
        match (&self.redis_rest_url, &self.redis_rest_token) {
            (Some(url), Some(token)) => Ok(RedisSettings { url, token }),
            (url, token) => {
                let missing: Vec<&str> = [
                    ("REDIS_REST_URL", url.is_none()),
                    ("REDIS_REST_TOKEN", token.is_none()),
                ]
                .iter()
                .filter(|(_, m)| *m)
                .map(|(n, _)| *n)
                .collect();
                Err(config_error(format!(
                    "missing configuration: {}",
                    missing.join(", ")
                )))
            }
        }
    }
}
