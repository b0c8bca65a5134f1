//! The handlers, one module per resource: stock badges, reservations (one Redis script each),
//! and the calls forwarded to the origin. Each parses and validates, calls the script `Engine`
//! or the origin, and answers a typed body of `edgestock-api`.

pub mod origin;
pub mod reservations;
pub mod stock;

use std::time::Duration;

use edgestock_api::edge::ReservationItem;
use edgestock_api::ApiError;
use edgestock_core::keys::Keys;
use edgestock_core::scripts::{Engine, Item};
use upstash_rest::Client;

use crate::config::Config;
use crate::crypto;
use crate::error::{redis_failure, reservation_not_found};
use crate::platform::{ApiRequest, Platform, RequestExt};

pub(crate) fn engine<P: Platform>(p: &P, cfg: &Config) -> Result<Engine<P::Redis>, ApiError> {
    let r = cfg.redis()?;
    let client = Client::new(p.redis_transport(), r.url, r.token)
        .with_timeout(Duration::from_millis(u64::from(cfg.redis_timeout_ms)));
    Ok(Engine::new(client, Keys::new(cfg.redis_key_prefix.clone()))
        .with_clock_offset_ms(cfg.clock_offset_ms))
}

pub(crate) fn redis_err(e: upstash_rest::Error) -> ApiError {
    redis_failure(&e)
}

/// The lines of a reservation as the API shows them.
pub(crate) fn items(items: &[Item]) -> Vec<ReservationItem> {
    items
        .iter()
        .map(|i| ReservationItem {
            sku: i.sku.as_str().to_owned(),
            qty: i64::from(i.qty),
        })
        .collect()
}

/// The clock the edge compares token expiries with: the platform's, shifted like the scripts'
/// (`CLOCK_OFFSET_MS`, test builds only), so both sides of an expiry agree.
pub(crate) fn now_ms<P: Platform>(p: &P, cfg: &Config) -> i64 {
    p.now_ms().saturating_add(cfg.clock_offset_ms)
}

/// Checks the token of `id` (401/403, 401 `token_expired` past its expiry) and the id's syntax
/// (404) before anything else.
pub(crate) fn authorize<P: Platform>(
    p: &P,
    cfg: &Config,
    req: &ApiRequest,
    id: &str,
) -> Result<(), ApiError> {
    let secrets = cfg.token_secrets()?;
    crypto::check_token(&secrets, id, req.header("authorization"), now_ms(p, cfg))?;
    if !crypto::is_reservation_id(id) {
        return Err(reservation_not_found());
    }
    Ok(())
}
