//! The reserve script: rate limit, idempotency, reap, check and hold, in one round trip.

use std::borrow::Cow;

use edgestock_lua as lua;

use crate::domain::{Location, ReservationStatus};
use crate::keys::{ReservationShards, ShardId};
use upstash_rest::{Error, Transport};

use super::{location, malformed, parse_items, rest_script, status, Engine, Item, Line, Reply};

/// Rate limiting applied inside the reserve script (fixed window per subject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// Subjects counted separately, e.g. `ip:203.0.113.9`, `cart:abc`.
    pub subjects: Vec<String>,
    /// Reserve requests allowed per subject per window (0 = unlimited), for every subject
    /// without its own entry in `limits`.
    pub limit: u32,
    /// Per-subject limits, by position in `subjects` (a customer's tier beside an IP's); a
    /// subject past the end of this list has `limit`.
    pub limits: Vec<u32>,
    /// Window length in ms.
    pub window_ms: u64,
}

/// Everything the reserve script needs.
#[derive(Debug, Clone)]
pub struct ReserveRequest {
    /// Reservation id (derive it from the Idempotency-Key so retries land on the same record).
    pub id: String,
    /// Fingerprint of the request body: the same id with another fingerprint is refused.
    pub fingerprint: String,
    /// Lines, distinct SKUs, 1..=[`MAX_ITEMS`].
    pub items: Vec<Line>,
    /// Take every line from this location (a pickup); `None` allocates each line over the
    /// active shipping locations by priority, splitting where one is short.
    pub pickup: Option<Location>,
    /// Hold lifetime in ms.
    pub ttl_ms: u64,
    /// Cap on the total hold time including extensions, in ms.
    pub max_hold_ms: u64,
    /// Optional rate limit.
    pub rate_limit: Option<RateLimit>,
    /// Who holds it (cart id or client fingerprint), kept for audit.
    pub owner: String,
    /// The verified customer (hash of its JWT's `iss` and `sub`), if any: the record's owner
    /// becomes `c:<customer>`, and SKUs that require a customer accept the reserve.
    pub customer: Option<String>,
    /// The per-customer cap, applied when there is a customer.
    pub cap: Option<CustomerCap>,
}

/// Units of one SKU a customer may hold + place + buy, across its reservations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerCap {
    /// The most units (at least 1).
    pub max_units: u32,
    /// How long a customer's count lives after a reserve, in ms.
    pub window_ms: u64,
}

impl RateLimit {
    /// The limit of the subject at `i`.
    pub fn limit_of(&self, i: usize) -> u32 {
        self.limits.get(i).copied().unwrap_or(self.limit)
    }
}

/// A reservation as the scripts report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// Reservation id.
    pub id: String,
    /// `held`, `confirming`, `committed`, `released` or `expired`.
    pub status: ReservationStatus,
    /// Creation time, ms since the epoch (Redis clock).
    pub created_ms: i64,
    /// Expiry, ms since the epoch (Redis clock).
    pub expires_ms: i64,
    /// True when this answer replays an earlier request with the same id.
    pub replay: bool,
    /// Redis's clock when the script ran.
    pub now_ms: i64,
    /// The allocation: the parts held, in line order then allocation order (a replay answers
    /// the stored one, never a new one).
    pub items: Vec<Item>,
}

/// Outcome of [`Engine::reserve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    /// Held (or replayed).
    Held(Hold),
    /// One SKU is short; nothing was held.
    Insufficient {
        /// The short SKU.
        sku: String,
        /// Units available for it right now: at the pickup location, or summed over the active
        /// shipping locations.
        available: i64,
        /// The pickup location that is short (`None` for a shipping line).
        location: Option<Location>,
    },
    /// The shard is not seeded (it came back empty, or holds another layout's data) until the
    /// origin seeds it: nothing was held.
    ShardUnseeded(ShardId),
    /// The pickup location does not exist.
    UnknownLocation(Location),
    /// The pickup location is inactive or offers no pickup.
    LocationUnavailable(Location),
    /// A SKU that was never stocked.
    UnknownSku(String),
    /// A reservation across shards that a replay found partly created (or whose parts no
    /// longer agree): every part was released; the request needs a new idempotency key.
    Incomplete,
    /// A subject is over its window; retry after this many ms.
    RateLimited {
        /// Milliseconds until the window resets.
        retry_after_ms: i64,
        /// The subject over its limit, as its index in [`RateLimit::subjects`] (`None` from a
        /// script that does not say).
        subject: Option<usize>,
    },
    /// The id (idempotency key) was used before with another request.
    IdempotencyMismatch,
    /// A SKU that requires a customer, reserved without one; nothing was held.
    CustomerRequired(String),
    /// The customer's cap for this SKU would be passed; nothing was held.
    CustomerLimit {
        /// The SKU.
        sku: String,
        /// Units the customer may still reserve of it.
        allowed: i64,
    },
}

impl<T: Transport> Engine<T> {
    /// Holds stock: one round trip (idempotency, rate limit, reap, check, hold).
    ///
    /// # Errors
    /// Transport or Redis failures; bad arguments come back as [`Error::Redis`]-free
    /// [`Error::Malformed`] only if the script refuses them (callers validate first).
    pub async fn reserve(&self, req: &ReserveRequest) -> Result<ReserveOutcome, Error> {
        if req.id.contains('.') || req.items.is_empty() {
            return Err(Error::Malformed(
                "a reserve needs lines and an id without '.' (the engine adds the shards)".into(),
            ));
        }
        let shards =
            ReservationShards::of(req.items.iter().map(|l| self.keys.shard_of(l.sku.as_str())));
        let id = shards.id(&req.id);
        let req = if id == req.id {
            Cow::Borrowed(req)
        } else {
            let mut named = req.clone();
            named.id = id;
            Cow::Owned(named)
        };
        match (shards.len(), shards.iter().next()) {
            (1, Some(shard)) => self.reserve_part(shard, &req).await,
            _ => self.reserve_across(&req).await,
        }
    }

    /// The reserve script on one shard, for the lines of `req` (all on `shard`).
    pub(super) async fn reserve_part(
        &self,
        shard: ShardId,
        req: &ReserveRequest,
    ) -> Result<ReserveOutcome, Error> {
        let rl = req.rate_limit.as_ref();
        let subjects: &[String] = rl.map_or(&[], |r| &r.subjects);
        let mut keys = vec![
            self.keys.reservation(shard, &req.id),
            self.keys.events(shard),
            self.keys.sweep_index(shard),
            self.keys.locations(shard),
        ];
        keys.extend(subjects.iter().map(|s| self.keys.rate_limit(shard, s)));
        self.sku_keys(req.items.iter().map(|i| i.sku.as_str()), &mut keys);
        let cap = match (&req.customer, req.cap) {
            (Some(c), Some(cap)) if cap.max_units > 0 => {
                keys.extend(req.items.iter().map(|i| self.keys.cap(i.sku.as_str(), c)));
                cap
            }
            _ => CustomerCap {
                max_units: 0,
                window_ms: 0,
            },
        };
        let limits = match rl {
            Some(r) if !subjects.is_empty() => (0..subjects.len())
                .map(|i| r.limit_of(i).to_string())
                .collect::<Vec<_>>()
                .join(","),
            _ => "0".to_owned(),
        };
        let owner = match &req.customer {
            Some(c) => format!("c:{c}"),
            None => req.owner.clone(),
        };
        let mut args = vec![
            req.id.clone(),
            req.fingerprint.clone(),
            req.ttl_ms.to_string(),
            req.max_hold_ms.to_string(),
            limits,
            rl.map_or(0, |r| r.window_ms).to_string(),
            subjects.len().to_string(),
            owner,
            self.offset(),
        ];
        args.push(req.items.len().to_string());
        for line in &req.items {
            args.push(line.sku.as_str().to_owned());
            args.push(line.qty.to_string());
        }
        args.push(cap.max_units.to_string());
        args.push(cap.window_ms.to_string());
        args.push(req.pickup.as_ref().map_or("", Location::as_str).to_owned());
        args.push(self.keys.shard_marker(shard));
        let v = self
            .client_for(shard)
            .eval(rest_script(&lua::RESERVE), &keys, &args, false)
            .await?;
        let mut r = Reply::new("reserve", &v)?;
        Ok(match r.str()? {
            "ok" => ReserveOutcome::Held(Hold {
                id: r.str()?.to_owned(),
                status: status(r.str()?)?,
                created_ms: r.int()?,
                expires_ms: r.int()?,
                replay: r.int()? == 1,
                now_ms: r.int()?,
                items: parse_items(r.str()?),
            }),
            "insufficient" => ReserveOutcome::Insufficient {
                sku: r.str()?.to_owned(),
                available: r.int()?,
                location: match r.str() {
                    Ok(l) => Some(location(l)?),
                    Err(_) => None,
                },
            },
            "shard_unseeded" => ReserveOutcome::ShardUnseeded(shard),
            "unknown_location" => ReserveOutcome::UnknownLocation(location(r.str()?)?),
            "location_unavailable" => ReserveOutcome::LocationUnavailable(location(r.str()?)?),
            "unknown_sku" => ReserveOutcome::UnknownSku(r.str()?.to_owned()),
            "rate_limited" => ReserveOutcome::RateLimited {
                retry_after_ms: r.int()?,
                subject: r
                    .int()
                    .ok()
                    .and_then(|i| usize::try_from(i - 1).ok())
                    .filter(|i| *i < subjects.len()),
            },
            "idempotency_mismatch" => ReserveOutcome::IdempotencyMismatch,
            "customer_required" => ReserveOutcome::CustomerRequired(r.str()?.to_owned()),
            "customer_limit" => ReserveOutcome::CustomerLimit {
                sku: r.str()?.to_owned(),
                allowed: r.int()?,
            },
            "bad_request" => {
                return Err(Error::Malformed(format!("reserve refused: {}", r.str()?)))
            }
            _ => return Err(malformed("reserve", &v)),
        })
    }
}
