//! The reservation routes: reserve (rate limit, idempotency, reap, check and hold in one script),
//! read, extend and release. Every route but reserve needs the reservation's token.

use std::net::IpAddr;

use edgestock_api::edge::{self, ReservationStatus};
use edgestock_api::{ApiError, ErrorCode};
use edgestock_core::domain::ReservationStatus as Status;
use edgestock_core::scripts::{
    CustomerCap, ExtendOutcome, RateLimit, ReleaseOutcome, ReserveOutcome, ReserveRequest,
};

use super::{authorize, engine, items, redis_err, request_customer};
use crate::config::{Config, RATE_LIMIT_WINDOW_MS};
use crate::crypto;
use crate::error::{reservation_not_found, retry_after_seconds, shard_unseeded, unknown_sku};
use crate::platform::{ApiRequest, ApiResponse, Platform, RequestExt, ResponseExt};
use crate::shortcut;
use crate::time::rfc3339_ms;
use crate::validate;

/// A plausible client address from `CF-Connecting-IP` (IPv4/IPv6 characters only).
fn client_ip(req: &ApiRequest) -> Option<IpAddr> {
    req.header("cf-connecting-ip")?.trim().parse().ok()
}

/// The rate-limit subjects of a reserve: the client's IP (IPv6 by its /64), the cart and the
/// verified customer (its hash), each counted on its own; a request with none falls in the one
/// shared anonymous bucket.
pub fn rate_limit_subjects(
    network: Option<&str>,
    cart_id: Option<&str>,
    customer: Option<&str>,
) -> Vec<String> {
    let mut subjects = Vec::new();
    if let Some(net) = network {
        subjects.push(crypto::Subject::Ip(net).name());
    }
    if let Some(cart) = cart_id {
        subjects.push(crypto::Subject::Cart(cart).name());
    }
    if let Some(c) = customer {
        subjects.push(crypto::Subject::Customer(c).name());
    }
    if subjects.is_empty() {
        subjects.push(crypto::Subject::Anonymous.name());
    }
    subjects
}

/// The limit per window of a rate-limit subject: `CUSTOMER_RATE_LIMIT_PER_MINUTE` for a
/// customer, `RATE_LIMIT_PER_MINUTE` for the others.
pub fn subject_limit(cfg: &Config, subject: &str) -> u32 {
    if subject.starts_with("customer:") {
        cfg.customer_rate_limit_per_minute
    } else {
        cfg.rate_limit_per_minute
    }
}

/// The strongest subject of a reserve, which its `Idempotency-Key` is scoped to: the verified
/// customer, else the cart, else the IP /64, else anonymous.
pub fn idempotency_subject<'a>(
    network: Option<&'a str>,
    cart_id: Option<&'a str>,
    customer: Option<&'a str>,
) -> crypto::Subject<'a> {
    match (customer, cart_id, network) {
        (Some(c), _, _) => crypto::Subject::Customer(c),
        (None, Some(cart), _) => crypto::Subject::Cart(cart),
        (None, None, Some(net)) => crypto::Subject::Ip(net),
        (None, None, None) => crypto::Subject::Anonymous,
    }
}

pub(crate) async fn reserve<P: Platform>(
    p: &P,
    cfg: &Config,
    req: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    validate::check_json_content_type(req.header("content-type"))?;
    let r = validate::reserve(req.body(), cfg)?;
    let secret = cfg.token_secret()?;
    let customer = request_customer(p, cfg, req)?.map(|c| c.hash);
    let engine = engine(p, cfg)?;
    let network = client_ip(req).map(crypto::client_network);
    let (network, cart) = (network.as_deref(), r.cart_id.as_deref());
    let id = match req.header("idempotency-key") {
        Some(key) => {
            crypto::check_reserve_idempotency_key(key)?;
            let subject = idempotency_subject(network, cart, customer.as_deref());
            crypto::idempotent_id(secret, subject, key)
        }
        None => crypto::random_id(p.random_bytes()),
    };
    let subjects = rate_limit_subjects(network, cart, customer.as_deref());
    let owner = subjects.last().cloned().unwrap_or_default();
    let limits: Vec<u32> = subjects.iter().map(|s| subject_limit(cfg, s)).collect();
    // Losing attempts answered at the edge from what Redis said before (see `shortcut`); a
    // subject at limit 0 is never counted, so never refused.
    let counted = subjects
        .iter()
        .zip(&limits)
        .filter(|(_, l)| **l > 0)
        .map(|(s, _)| s.as_str());
    if let Some(until) = shortcut::limited_until(p, cfg, counted) {
        let left = retry_after_seconds(until.saturating_sub(p.now_ms()));
        return Ok(shortcut::answered(&shortcut::rate_limited(left), true));
    }
    let skus: Vec<&str> = r.items.iter().map(|i| i.sku.as_str()).collect();
    // The sold-out memory is about the shipping locations: a pickup asks a store, so Redis.
    if r.pickup.is_none() && !shortcut::revalidate(req) {
        if let Some(sku) = shortcut::known_sold_out(p, cfg, req, &skus).await {
            return Ok(shortcut::answered(&shortcut::insufficient(&sku, 0), true));
        }
    }
    let rate_limit = limits.iter().any(|l| *l > 0).then_some(RateLimit {
        subjects: subjects.clone(),
        limit: cfg.rate_limit_per_minute,
        limits,
        window_ms: RATE_LIMIT_WINDOW_MS,
    });
    let rr = ReserveRequest {
        id: id.clone(),
        fingerprint: r.fingerprint.clone(),
        items: r.items.clone(),
        pickup: r.pickup.clone(),
        ttl_ms: u64::from(r.ttl_seconds) * 1000,
        max_hold_ms: u64::from(cfg.max_hold_seconds) * 1000,
        rate_limit,
        owner,
        customer: customer.clone(),
        cap: (cfg.max_units_per_customer > 0).then_some(CustomerCap {
            max_units: cfg.max_units_per_customer,
            window_ms: u64::from(cfg.cap_window_seconds) * 1000,
        }),
    };
    let outcome = if engine.shard_of_all(skus.iter().copied()).is_some() {
        engine.reserve(&rr).await
    } else {
        // Across shards: the parts and, on a refusal, their compensation run to the end even if
        // the shopper goes away (docs/sharding.md#reservations-across-shards).
        p.to_completion(async move { engine.reserve(&rr).await })
            .await
            .unwrap_or(Err(upstash_rest::Error::Transport(
                "the reservation's work was lost".into(),
            )))
    }
    .map_err(redis_err)?;
    match outcome {
        ReserveOutcome::Held(h) => {
            let body = edge::Reservation {
                token: crypto::token_for(
                    secret,
                    &h.id,
                    crypto::token_expiry_secs(h.created_ms, cfg.token_lifetime_secs()),
                    customer.as_deref(),
                ),
                status: status(h.status),
                items: items(&h.items),
                created_at: rfc3339_ms(h.created_ms),
                created_at_ms: h.created_ms,
                expires_at: rfc3339_ms(h.expires_ms),
                expires_at_ms: h.expires_ms,
                ttl_seconds: r.ttl_seconds,
                reservation_id: h.id.clone(),
            };
            let mut resp = ApiResponse::json(if h.replay { 200 } else { 201 }, &body);
            resp.set_header("location", &format!("/v1/reservations/{}", h.id));
            if h.replay {
                resp.set_header("idempotency-replayed", "true");
            }
            Ok(resp)
        }
        ReserveOutcome::Insufficient {
            sku,
            available,
            location: None,
        } => {
            if available <= 0 {
                shortcut::learn_sold_out(p, cfg, req, &[sku.as_str()]);
            }
            Ok(shortcut::answered(
                &shortcut::insufficient(&sku, available),
                false,
            ))
        }
        ReserveOutcome::Insufficient {
            sku,
            available,
            location: Some(at),
        } => Err(ApiError::new(
            ErrorCode::InsufficientStock,
            format!("only {available} of {sku} available at {at}"),
        )
        .with(|d| {
            d.sku = Some(sku);
            d.available = Some(available);
            d.location = Some(at.as_str().to_owned());
        })),
        ReserveOutcome::ShardUnseeded(_) => Err(shard_unseeded()),
        ReserveOutcome::Incomplete => Err(ApiError::new(
            ErrorCode::ReservationIncomplete,
            "this Idempotency-Key's reservation was only partly made and has been released; \
             send the request again with a new Idempotency-Key",
        )),
        ReserveOutcome::UnknownLocation(at) => Err(ApiError::new(
            ErrorCode::UnknownLocation,
            format!("no location {at}"),
        )
        .with(|d| d.location = Some(at.as_str().to_owned()))),
        ReserveOutcome::LocationUnavailable(at) => Err(ApiError::new(
            ErrorCode::LocationUnavailable,
            format!("{at} takes no pickups now"),
        )
        .with(|d| d.location = Some(at.as_str().to_owned()))),
        ReserveOutcome::UnknownSku(sku) => Err(unknown_sku(&sku)),
        ReserveOutcome::CustomerRequired(sku) => Err(ApiError::new(
            ErrorCode::CustomerRequired,
            format!("{sku} can only be reserved by a signed-in customer (X-Customer-Token)"),
        )
        .with(|d| d.sku = Some(sku))),
        ReserveOutcome::CustomerLimit { sku, allowed } => Err(ApiError::new(
            ErrorCode::CustomerLimitReached,
            format!(
                "at most {} units of {sku} per customer (held, placed or bought); {allowed} more allowed",
                cfg.max_units_per_customer
            ),
        )
        .with(|d| {
            d.sku = Some(sku);
            d.available = Some(allowed);
        })),
        ReserveOutcome::RateLimited {
            retry_after_ms,
            subject,
        } => {
            if let Some(s) = subject.and_then(|i| subjects.get(i)) {
                shortcut::learn_limited(p, cfg, s, retry_after_ms);
            }
            Ok(shortcut::answered(
                &shortcut::rate_limited(retry_after_seconds(retry_after_ms)),
                false,
            ))
        }
        ReserveOutcome::IdempotencyMismatch => Err(ApiError::new(
            ErrorCode::IdempotencyKeyReused,
            "this Idempotency-Key was used with a different request",
        )),
    }
}

/// The wire form of a reservation's status.
fn status(s: Status) -> ReservationStatus {
    match s {
        Status::Held => ReservationStatus::Held,
        Status::Confirming => ReservationStatus::Confirming,
        Status::Committed => ReservationStatus::Committed,
        Status::Released => ReservationStatus::Released,
        Status::Expired => ReservationStatus::Expired,
    }
}

pub(crate) async fn get<P: Platform>(
    p: &P,
    cfg: &Config,
    req: &ApiRequest,
    id: &str,
) -> Result<ApiResponse, ApiError> {
    authorize(p, cfg, req, id)?;
    let rec = engine(p, cfg)?
        .reservation(id)
        .await
        .map_err(redis_err)?
        .ok_or_else(reservation_not_found)?;
    // Only a reservation that left `held` can have an order: ask the origin then.
    let order = match rec.status {
        Status::Held => None,
        _ => super::origin::order_of(p, cfg, id).await,
    };
    let body = edge::ReservationView {
        order,
        status: status(rec.status),
        items: items(&rec.items),
        created_at: rfc3339_ms(rec.created_ms),
        created_at_ms: rec.created_ms,
        expires_at: rfc3339_ms(rec.expires_ms),
        expires_at_ms: rec.expires_ms,
        max_expires_at: rfc3339_ms(rec.max_expires_ms),
        max_expires_at_ms: rec.max_expires_ms,
        reservation_id: rec.id,
    };
    Ok(ApiResponse::json(200, &body))
}

fn expired() -> ApiError {
    ApiError::new(ErrorCode::ReservationExpired, "the reservation has expired")
}

pub(crate) async fn extend<P: Platform>(
    p: &P,
    cfg: &Config,
    req: &ApiRequest,
    id: &str,
) -> Result<ApiResponse, ApiError> {
    authorize(p, cfg, req, id)?;
    validate::check_json_content_type(req.header("content-type"))?;
    let seconds = validate::extend(req.body(), cfg)?;
    let outcome = engine(p, cfg)?
        .extend(id, u64::from(seconds) * 1000)
        .await
        .map_err(redis_err)?;
    match outcome {
        ExtendOutcome::Extended {
            expires_ms,
            max_expires_ms,
        } => {
            let body = edge::Extension {
                reservation_id: id.to_owned(),
                status: ReservationStatus::Held,
                expires_at: rfc3339_ms(expires_ms),
                expires_at_ms: expires_ms,
                max_expires_at: rfc3339_ms(max_expires_ms),
                max_expires_at_ms: max_expires_ms,
            };
            Ok(ApiResponse::json(200, &body))
        }
        ExtendOutcome::AtLimit { max_expires_ms } => Err(ApiError::new(
            ErrorCode::HoldLimitReached,
            "the hold is already at its maximum lifetime",
        )
        .with(|d| {
            d.max_expires_at = Some(rfc3339_ms(max_expires_ms));
            d.max_expires_at_ms = Some(max_expires_ms);
        })),
        ExtendOutcome::Expired => Err(expired()),
        ExtendOutcome::NotHeld(Status::Expired) => Err(expired()),
        ExtendOutcome::NotHeld(status) => Err(ApiError::new(
            ErrorCode::ReservationNotHeld,
            format!("the reservation is {status}"),
        )
        .with(|d| d.status = Some(status.as_str().to_owned()))),
        ExtendOutcome::NotFound => Err(reservation_not_found()),
    }
}

pub(crate) async fn release<P: Platform>(
    p: &P,
    cfg: &Config,
    req: &ApiRequest,
    id: &str,
) -> Result<ApiResponse, ApiError> {
    authorize(p, cfg, req, id)?;
    let outcome = engine(p, cfg)?
        .release(id, false)
        .await
        .map_err(redis_err)?;
    match outcome {
        ReleaseOutcome::Released { status: s, changed } => Ok(ApiResponse::json(
            200,
            &edge::Release {
                reservation_id: id.to_owned(),
                status: status(s),
                released: changed,
            },
        )),
        ReleaseOutcome::Committed => Err(ApiError::new(
            ErrorCode::ReservationCommitted,
            "the reservation was already confirmed",
        )),
        ReleaseOutcome::Confirming => Err(ApiError::new(
            ErrorCode::ReservationConfirming,
            "the reservation is being confirmed",
        )),
        ReleaseOutcome::NotFound => Err(reservation_not_found()),
    }
}
