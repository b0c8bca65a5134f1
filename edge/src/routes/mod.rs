//! The handlers, one module per resource: stock badges, reservations (one Redis script each),
//! and the calls forwarded to the origin. Each parses and validates, calls the script `Engine`
//! or the origin, and answers a typed body of `edgestock-api`.

pub mod origin;
pub mod reservations;
pub mod stock;

use std::time::Duration;

use edgestock_api::edge::{AllocatedItem, Allocation};
use edgestock_api::{ApiError, ErrorCode};
use edgestock_core::scripts::{Engine, Item};
use upstash_rest::Client;

use crate::config::Config;
use crate::crypto;
use crate::customer::{self, Customer};
use crate::error::{redis_failure, reservation_not_found};
use crate::platform::{ApiRequest, Platform, RequestExt};

pub(crate) fn engine<P: Platform>(p: &P, cfg: &Config) -> Result<Engine<P::Redis>, ApiError> {
    let timeout = Duration::from_millis(u64::from(cfg.redis_timeout_ms));
    let clients = cfg
        .redis_endpoints()?
        .into_iter()
        .map(|r| Client::new(p.redis_transport(), r.url, r.token).with_timeout(timeout))
        .collect();
    Ok(Engine::sharded(clients, cfg.keys()).with_clock_offset_ms(cfg.clock_offset_ms))
}

pub(crate) fn redis_err(e: upstash_rest::Error) -> ApiError {
    redis_failure(&e)
}

/// The lines of a reservation as the API shows them: its allocated parts grouped by SKU, in
/// the order the SKUs first appear, each line's allocation in the order it was made.
pub(crate) fn items(parts: &[Item]) -> Vec<AllocatedItem> {
    let mut out: Vec<AllocatedItem> = Vec::new();
    for p in parts {
        let at = Allocation {
            location: p.location.as_str().to_owned(),
            qty: p.qty,
        };
        match out.iter_mut().find(|l| l.sku == p.sku.as_str()) {
            Some(line) => {
                line.qty += p.qty;
                line.allocation.push(at);
            }
            None => out.push(AllocatedItem {
                sku: p.sku.as_str().to_owned(),
                qty: p.qty,
                allocation: vec![at],
            }),
        }
    }
    out
}

/// The clock the edge compares token expiries with: the platform's, shifted like the scripts'
/// (`CLOCK_OFFSET_MS`, test builds only), so both sides of an expiry agree.
pub(crate) fn now_ms<P: Platform>(p: &P, cfg: &Config) -> i64 {
    p.now_ms().saturating_add(cfg.clock_offset_ms)
}

/// The verified customer of a request (`X-Customer-Token`), `None` without the header.
///
/// # Errors
/// 401 `invalid_customer_token` for a header that does not verify.
pub(crate) fn request_customer<P: Platform>(
    p: &P,
    cfg: &Config,
    req: &ApiRequest,
) -> Result<Option<Customer>, ApiError> {
    customer::from_header(
        cfg.customer_auth.as_deref(),
        req.header(customer::HEADER),
        now_ms(p, cfg),
    )
}

/// Checks the token of `id` (401/403, 401 `token_expired` past its expiry), the id's syntax
/// (404) and the customer before anything else: a customer token that does not verify is 401
/// `invalid_customer_token`, and a reservation bound to a customer answers 403
/// `customer_mismatch` without that customer's token.
pub(crate) fn authorize<P: Platform>(
    p: &P,
    cfg: &Config,
    req: &ApiRequest,
    id: &str,
) -> Result<(), ApiError> {
    let secrets = cfg.token_secrets()?;
    let bound = crypto::check_token(&secrets, id, req.header("authorization"), now_ms(p, cfg))?;
    if !crypto::is_reservation_id(id) {
        return Err(reservation_not_found());
    }
    let customer = request_customer(p, cfg, req)?;
    if let Some(bound) = bound {
        if customer.map(|c| c.hash).as_deref() != Some(bound.as_str()) {
            return Err(ApiError::new(
                ErrorCode::CustomerMismatch,
                "this reservation belongs to a customer: send their token as X-Customer-Token",
            ));
        }
    }
    Ok(())
}
