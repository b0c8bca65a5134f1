//! Typed calls of every Lua script (`lua/scripts/*.lua`), shared by the edge and the origin so
//! both build the same `KEYS`/`ARGV` and read the same replies.
//!
//! One [`Engine`] call is one `EVALSHA` round trip (two for calls that first read the
//! reservation's items to declare their keys: extend, release, pin). Replies are flat arrays whose
//! first element names the outcome; each maps to an enum here.

use std::fmt;

use edgestock_lua as lua;

use crate::domain::Sku;
use crate::keys::Keys;
use upstash_rest::{cmd, Client, Error, Transport, Value};

/// Most items in one reservation (the reserve script enforces the same bound).
pub const MAX_ITEMS: usize = 50;
/// Most SKUs in one stock read.
pub const MAX_STOCK_READ: usize = 100;

/// One line of a reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The SKU.
    pub sku: Sku,
    /// Units, at least 1.
    pub qty: u32,
}

/// Rate limiting applied inside the reserve script (fixed window per subject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// Subjects counted separately, e.g. `ip:203.0.113.9`, `cart:abc`.
    pub subjects: Vec<String>,
    /// Reserve requests allowed per subject per window.
    pub limit: u32,
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
    /// Items, distinct SKUs, 1..=[`MAX_ITEMS`].
    pub items: Vec<Item>,
    /// Hold lifetime in ms.
    pub ttl_ms: u64,
    /// Cap on the total hold time including extensions, in ms.
    pub max_hold_ms: u64,
    /// Optional rate limit.
    pub rate_limit: Option<RateLimit>,
    /// Who holds it (cart id or client fingerprint), kept for audit.
    pub owner: String,
}

/// A reservation as the scripts report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// Reservation id.
    pub id: String,
    /// `held`, `confirming`, `committed`, `released` or `expired`.
    pub status: String,
    /// Creation time, ms since the epoch (Redis clock).
    pub created_ms: i64,
    /// Expiry, ms since the epoch (Redis clock).
    pub expires_ms: i64,
    /// True when this answer replays an earlier request with the same id.
    pub replay: bool,
    /// Redis's clock when the script ran.
    pub now_ms: i64,
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
        /// Units available for it right now.
        available: i64,
    },
    /// A SKU that was never stocked.
    UnknownSku(String),
    /// A subject is over its window; retry after this many ms.
    RateLimited {
        /// Milliseconds until the window resets.
        retry_after_ms: i64,
    },
    /// The id (idempotency key) was used before with another request.
    IdempotencyMismatch,
}

/// One SKU's level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockLevel {
    /// The SKU.
    pub sku: Sku,
    /// False when the SKU was never stocked (all numbers are 0 then).
    pub exists: bool,
    /// Units on hand (not yet sold).
    pub on_hand: i64,
    /// Units held by live holds (expired ones excluded).
    pub reserved: i64,
    /// Low-stock threshold.
    pub low_threshold: i64,
}

impl StockLevel {
    /// `on_hand - reserved`, never negative.
    pub fn available(&self) -> i64 {
        (self.on_hand - self.reserved).max(0)
    }
}

/// A stored reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRecord {
    /// Reservation id.
    pub id: String,
    /// `held`, `confirming`, `committed`, `released` or `expired` (a held one past expiry reads expired).
    pub status: String,
    /// Items in the order they were reserved.
    pub items: Vec<Item>,
    /// Creation time (ms).
    pub created_ms: i64,
    /// Expiry (ms).
    pub expires_ms: i64,
    /// The latest expiry extensions may reach (ms).
    pub max_expires_ms: i64,
    /// Owner recorded at reserve time.
    pub owner: String,
    /// Redis's clock when read.
    pub now_ms: i64,
}

/// Outcome of [`Engine::extend`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtendOutcome {
    /// Extended to `expires_ms` (possibly capped at `max_expires_ms`).
    Extended {
        /// New expiry (ms).
        expires_ms: i64,
        /// The cap (ms).
        max_expires_ms: i64,
    },
    /// Already at the cap: nothing changed.
    AtLimit {
        /// The cap (ms).
        max_expires_ms: i64,
    },
    /// The hold had expired (its units are back).
    Expired,
    /// Not `held` (confirming, committed, released, expired): the status.
    NotHeld(String),
    /// No such reservation.
    NotFound,
}

/// Outcome of [`Engine::release`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseOutcome {
    /// Released now (`changed`) or already `released`/`expired` before; the final status.
    Released {
        /// `released` or `expired`.
        status: String,
        /// True when this call gave units back.
        changed: bool,
    },
    /// Already committed: nothing to release.
    Committed,
    /// Being confirmed (pinned) and the caller may not cancel that.
    Confirming,
    /// No such reservation.
    NotFound,
}

/// Outcome of [`Engine::pin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinOutcome {
    /// Pinned: `confirming` until at least `expires_ms`.
    Pinned {
        /// Expiry after the grace period (ms).
        expires_ms: i64,
    },
    /// Already committed.
    Committed,
    /// Expired or released: no order may be written.
    Expired {
        /// `expired` or `released`.
        status: String,
    },
    /// No such reservation.
    NotFound,
}

/// Outcome of [`Engine::commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The live holds became sold units.
    Committed,
    /// Committed before (idempotent retry).
    AlreadyCommitted,
    /// The holds were gone; the units were taken from available.
    Late,
    /// The holds were gone and this SKU is short: nothing was taken.
    Short {
        /// The short SKU.
        sku: String,
        /// Units available for it.
        available: i64,
    },
}

/// Outcome of [`Engine::adjust`] and [`Engine::seed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LevelOutcome {
    /// Applied; the SKU's on-hand and reserved afterwards.
    Applied {
        /// On hand.
        on_hand: i64,
        /// Reserved.
        reserved: i64,
    },
    /// Movement already applied (adjust only): nothing changed.
    Duplicate {
        /// On hand.
        on_hand: i64,
        /// Reserved.
        reserved: i64,
    },
    /// Refused (adjust) or clamped (seed): on-hand would fall below what live holds reserve.
    BelowReserved {
        /// On hand afterwards.
        on_hand: i64,
        /// Reserved.
        reserved: i64,
    },
}

/// What a sweep pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SweepReport {
    /// SKUs visited.
    pub skus: usize,
    /// Units returned from expired holds.
    pub units_reaped: i64,
}

/// One entry of the `events` stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Stream id (`<ms>-<seq>`).
    pub id: String,
    /// `hold_created`, `hold_extended`, `hold_released`, `hold_expired`, `hold_committed`,
    /// `stock_adjusted`, `low_stock`, `sold_out`, `back_in_stock`.
    pub kind: String,
    /// The SKU.
    pub sku: String,
    /// Reservation id, empty for stock events.
    pub reservation_id: String,
    /// Units (signed for `stock_adjusted`; available units for level events).
    pub qty: i64,
    /// Redis clock (ms).
    pub at_ms: i64,
}

/// The REST client's view of one of our scripts: its source and the SHA1 the `lua` crate computed.
pub fn rest_script(s: &lua::Script) -> upstash_rest::Script<'_> {
    upstash_rest::Script {
        sha1: s.sha1(),
        source: s.source,
    }
}

/// Script calls over the REST [`Client`].
pub struct Engine<T> {
    client: Client<T>,
    keys: Keys,
    clock_offset_ms: i64,
}

impl<T> fmt::Debug for Engine<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("prefix", &self.keys.prefix())
            .field("clock_offset_ms", &self.clock_offset_ms)
            .finish_non_exhaustive()
    }
}

fn malformed(what: &str, v: &Value) -> Error {
    Error::Malformed(format!("unexpected {what} reply: {v:?}"))
}

/// Reply reader: a flat array, read front to back.
struct Reply<'a> {
    what: &'static str,
    whole: &'a Value,
    items: &'a [Value],
    pos: usize,
}

impl<'a> Reply<'a> {
    fn new(what: &'static str, v: &'a Value) -> Result<Self, Error> {
        let items = v.as_array().ok_or_else(|| malformed(what, v))?;
        Ok(Self {
            what,
            whole: v,
            items,
            pos: 0,
        })
    }
    fn next(&mut self) -> Result<&'a Value, Error> {
        let v = self
            .items
            .get(self.pos)
            .ok_or_else(|| malformed(self.what, self.whole))?;
        self.pos += 1;
        Ok(v)
    }
    fn str(&mut self) -> Result<&'a str, Error> {
        let (what, whole) = (self.what, self.whole);
        self.next()?.as_str().ok_or_else(|| malformed(what, whole))
    }
    fn int(&mut self) -> Result<i64, Error> {
        let (what, whole) = (self.what, self.whole);
        self.next()?.as_i64().ok_or_else(|| malformed(what, whole))
    }
}

/// Parses the `sku|qty,sku|qty` items string of a reservation record.
fn parse_items(s: &str) -> Vec<Item> {
    s.split(',')
        .filter_map(|part| {
            let (sku, qty) = part.split_once('|')?;
            Some(Item {
                sku: Sku::parse(sku).ok()?,
                qty: qty.parse().ok()?,
            })
        })
        .collect()
}

impl<T: Transport> Engine<T> {
    /// An engine over `client` using `keys`.
    pub fn new(client: Client<T>, keys: Keys) -> Self {
        Self {
            client,
            keys,
            clock_offset_ms: 0,
        }
    }

    /// Shifts the scripts' clock (Redis `TIME` + offset). Tests only: production leaves it at 0.
    #[must_use]
    pub fn with_clock_offset_ms(mut self, offset: i64) -> Self {
        self.clock_offset_ms = offset;
        self
    }

    /// Changes the clock offset in place (tests: "time passes").
    pub fn set_clock_offset_ms(&mut self, offset: i64) {
        self.clock_offset_ms = offset;
    }

    /// The key builder.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The underlying REST client.
    pub fn client(&self) -> &Client<T> {
        &self.client
    }

    fn offset(&self) -> String {
        self.clock_offset_ms.to_string()
    }

    fn sku_keys(&self, skus: impl IntoIterator<Item = impl AsRef<str>>, out: &mut Vec<String>) {
        for sku in skus {
            out.push(self.keys.stock(sku.as_ref()));
            out.push(self.keys.holds(sku.as_ref()));
        }
    }

    fn item_args(items: &[Item], out: &mut Vec<String>) {
        out.push(items.len().to_string());
        for it in items {
            out.push(it.sku.as_str().to_owned());
            out.push(it.qty.to_string());
        }
    }

    /// Holds stock: one round trip (idempotency, rate limit, reap, check, hold).
    ///
    /// # Errors
    /// Transport or Redis failures; bad arguments come back as [`Error::Redis`]-free
    /// [`Error::Malformed`] only if the script refuses them (callers validate first).
    pub async fn reserve(&self, req: &ReserveRequest) -> Result<ReserveOutcome, Error> {
        let rl = req.rate_limit.as_ref();
        let subjects: &[String] = rl.map_or(&[], |r| &r.subjects);
        let mut keys = vec![
            self.keys.reservation(&req.id),
            self.keys.events(),
            self.keys.sweep_index(),
        ];
        keys.extend(subjects.iter().map(|s| self.keys.rate_limit(s)));
        self.sku_keys(req.items.iter().map(|i| i.sku.as_str()), &mut keys);
        let mut args = vec![
            req.id.clone(),
            req.fingerprint.clone(),
            req.ttl_ms.to_string(),
            req.max_hold_ms.to_string(),
            rl.map_or(0, |r| r.limit).to_string(),
            rl.map_or(0, |r| r.window_ms).to_string(),
            subjects.len().to_string(),
            req.owner.clone(),
            self.offset(),
        ];
        Self::item_args(&req.items, &mut args);
        let v = self
            .client
            .eval(rest_script(&lua::RESERVE), &keys, &args, false)
            .await?;
        let mut r = Reply::new("reserve", &v)?;
        Ok(match r.str()? {
            "ok" => ReserveOutcome::Held(Hold {
                id: r.str()?.to_owned(),
                status: r.str()?.to_owned(),
                created_ms: r.int()?,
                expires_ms: r.int()?,
                replay: r.int()? == 1,
                now_ms: r.int()?,
            }),
            "insufficient" => ReserveOutcome::Insufficient {
                sku: r.str()?.to_owned(),
                available: r.int()?,
            },
            "unknown_sku" => ReserveOutcome::UnknownSku(r.str()?.to_owned()),
            "rate_limited" => ReserveOutcome::RateLimited {
                retry_after_ms: r.int()?,
            },
            "idempotency_mismatch" => ReserveOutcome::IdempotencyMismatch,
            "bad_request" => {
                return Err(Error::Malformed(format!("reserve refused: {}", r.str()?)))
            }
            _ => return Err(malformed("reserve", &v)),
        })
    }

    /// Levels of up to [`MAX_STOCK_READ`] SKUs in one read-only call (`EVALSHA_RO`).
    ///
    /// # Errors
    /// Transport or Redis failures; more than [`MAX_STOCK_READ`] SKUs.
    pub async fn stock(&self, skus: &[Sku]) -> Result<Vec<StockLevel>, Error> {
        if skus.is_empty() {
            return Ok(Vec::new());
        }
        if skus.len() > MAX_STOCK_READ {
            return Err(Error::Malformed(format!(
                "at most {MAX_STOCK_READ} SKUs per read"
            )));
        }
        let mut keys = Vec::with_capacity(skus.len() * 2);
        self.sku_keys(skus.iter().map(Sku::as_str), &mut keys);
        let v = self
            .client
            .eval(rest_script(&lua::STOCK_READ), &keys, &[self.offset()], true)
            .await?;
        let mut r = Reply::new("stock_read", &v)?;
        let _now = r.int()?;
        skus.iter()
            .map(|sku| {
                Ok(StockLevel {
                    sku: sku.clone(),
                    exists: r.int()? == 1,
                    on_hand: r.int()?,
                    reserved: r.int()?,
                    low_threshold: r.int()?,
                })
            })
            .collect()
    }

    /// A reservation's record, read-only; `None` when unknown (or past its retention).
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn reservation(&self, id: &str) -> Result<Option<ReservationRecord>, Error> {
        let keys = [self.keys.reservation(id)];
        let v = self
            .client
            .eval(
                rest_script(&lua::GET_RESERVATION),
                &keys,
                &[self.offset()],
                true,
            )
            .await?;
        let mut r = Reply::new("get_reservation", &v)?;
        if r.str()? != "found" {
            return Ok(None);
        }
        Ok(Some(ReservationRecord {
            id: id.to_owned(),
            status: r.str()?.to_owned(),
            items: parse_items(r.str()?),
            created_ms: r.int()?,
            expires_ms: r.int()?,
            max_expires_ms: r.int()?,
            owner: r.str()?.to_owned(),
            now_ms: r.int()?,
        }))
    }

    /// Runs a script acting on reservation `id` and its `items` (extend, release, pin, commit):
    /// KEYS = the record, the events stream, then stock/holds per item; ARGV = `args`, then the
    /// item count and the sku/qty pairs.
    async fn eval_on_reservation(
        &self,
        script: &lua::Script,
        id: &str,
        items: &[Item],
        mut args: Vec<String>,
    ) -> Result<Value, Error> {
        let mut keys = vec![self.keys.reservation(id), self.keys.events()];
        self.sku_keys(items.iter().map(|i| i.sku.as_str()), &mut keys);
        Self::item_args(items, &mut args);
        self.client
            .eval(rest_script(script), &keys, &args, false)
            .await
    }

    /// Extends a live hold by `add_ms`, capped at its maximum total hold time.
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn extend(&self, id: &str, add_ms: u64) -> Result<ExtendOutcome, Error> {
        let Some(rec) = self.reservation(id).await? else {
            return Ok(ExtendOutcome::NotFound);
        };
        let args = vec![id.to_owned(), add_ms.to_string(), self.offset()];
        let v = self
            .eval_on_reservation(&lua::EXTEND, id, &rec.items, args)
            .await?;
        let mut r = Reply::new("extend", &v)?;
        Ok(match r.str()? {
            "ok" => ExtendOutcome::Extended {
                expires_ms: r.int()?,
                max_expires_ms: r.int()?,
            },
            "limit" => ExtendOutcome::AtLimit {
                max_expires_ms: r.int()?,
            },
            "expired" => ExtendOutcome::Expired,
            "not_held" => ExtendOutcome::NotHeld(r.str()?.to_owned()),
            "not_found" => ExtendOutcome::NotFound,
            _ => return Err(malformed("extend", &v)),
        })
    }

    /// Releases a reservation's holds. `allow_confirming`: the origin may cancel a pinned one.
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn release(&self, id: &str, allow_confirming: bool) -> Result<ReleaseOutcome, Error> {
        let Some(rec) = self.reservation(id).await? else {
            return Ok(ReleaseOutcome::NotFound);
        };
        let args = vec![
            id.to_owned(),
            self.offset(),
            if allow_confirming { "1" } else { "0" }.to_owned(),
        ];
        let v = self
            .eval_on_reservation(&lua::RELEASE, id, &rec.items, args)
            .await?;
        let mut r = Reply::new("release", &v)?;
        Ok(match r.str()? {
            "ok" => ReleaseOutcome::Released {
                status: r.str()?.to_owned(),
                changed: r.int()? == 1,
            },
            "committed" => ReleaseOutcome::Committed,
            "confirming" => ReleaseOutcome::Confirming,
            "not_found" => ReleaseOutcome::NotFound,
            _ => return Err(malformed("release", &v)),
        })
    }

    /// Pins a live hold for confirmation: `confirming`, expiry at least now + `grace_ms`.
    /// Returns the items too, so the caller can record the order without another read.
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn pin(&self, id: &str, grace_ms: u64) -> Result<(PinOutcome, Vec<Item>), Error> {
        let Some(rec) = self.reservation(id).await? else {
            return Ok((PinOutcome::NotFound, Vec::new()));
        };
        let args = vec![id.to_owned(), grace_ms.to_string(), self.offset()];
        let v = self
            .eval_on_reservation(&lua::PIN, id, &rec.items, args)
            .await?;
        let mut r = Reply::new("pin", &v)?;
        let outcome = match r.str()? {
            "ok" => PinOutcome::Pinned {
                expires_ms: r.int()?,
            },
            "committed" => PinOutcome::Committed,
            "expired" => PinOutcome::Expired {
                status: r.str()?.to_owned(),
            },
            "not_found" => PinOutcome::NotFound,
            _ => return Err(malformed("pin", &v)),
        };
        Ok((outcome, rec.items))
    }

    /// Commits a reservation's units as sold (idempotent). `items` come from the order, so a
    /// commit still applies when Redis lost the reservation record.
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn commit(&self, id: &str, items: &[Item]) -> Result<CommitOutcome, Error> {
        let args = vec![id.to_owned(), self.offset()];
        let v = self
            .eval_on_reservation(&lua::COMMIT, id, items, args)
            .await?;
        let mut r = Reply::new("commit", &v)?;
        Ok(match r.str()? {
            "ok" => match r.str()? {
                "already" => CommitOutcome::AlreadyCommitted,
                "late" => CommitOutcome::Late,
                _ => CommitOutcome::Committed,
            },
            "short" => CommitOutcome::Short {
                sku: r.str()?.to_owned(),
                available: r.int()?,
            },
            "bad_request" => return Err(Error::Malformed(format!("commit refused: {}", r.str()?))),
            _ => return Err(malformed("commit", &v)),
        })
    }

    /// Adds `delta` (signed) to a SKU's on-hand, idempotent by `movement_id`; never below reserved.
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn adjust(
        &self,
        sku: &Sku,
        delta: i64,
        movement_id: &str,
    ) -> Result<LevelOutcome, Error> {
        let keys = [
            self.keys.stock(sku.as_str()),
            self.keys.holds(sku.as_str()),
            self.keys.events(),
            format!("{}mv:{{{movement_id}}}", self.keys.prefix()),
        ];
        let args = [sku.as_str().to_owned(), delta.to_string(), self.offset()];
        let v = self
            .client
            .eval(rest_script(&lua::ADJUST), &keys, &args, false)
            .await?;
        Self::level("adjust", &v)
    }

    /// Sets a SKU's on-hand and low-stock threshold from the system of record.
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn seed(
        &self,
        sku: &Sku,
        on_hand: i64,
        low_threshold: i64,
    ) -> Result<LevelOutcome, Error> {
        let keys = [
            self.keys.stock(sku.as_str()),
            self.keys.holds(sku.as_str()),
            self.keys.events(),
        ];
        let args = [
            sku.as_str().to_owned(),
            on_hand.to_string(),
            low_threshold.to_string(),
            self.offset(),
        ];
        let v = self
            .client
            .eval(rest_script(&lua::SEED), &keys, &args, false)
            .await?;
        Self::level("seed", &v)
    }

    fn level(what: &'static str, v: &Value) -> Result<LevelOutcome, Error> {
        let mut r = Reply::new(what, v)?;
        let tag = r.str()?;
        if tag == "bad_request" {
            return Err(Error::Malformed(format!("{what} refused: {}", r.str()?)));
        }
        let (on_hand, reserved) = (r.int()?, r.int()?);
        Ok(match tag {
            "ok" => LevelOutcome::Applied { on_hand, reserved },
            "duplicate" => LevelOutcome::Duplicate { on_hand, reserved },
            "below_reserved" | "clamped" => LevelOutcome::BelowReserved { on_hand, reserved },
            _ => return Err(malformed(what, v)),
        })
    }

    /// One sweep pass: reaps expired holds of up to `max_skus` due SKUs (bounded batches).
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn sweep(&self, max_skus: usize) -> Result<SweepReport, Error> {
        let index = self.keys.sweep_index();
        let items = self
            .client
            .pipeline(&[
                cmd("TIME"),
                cmd("ZRANGE")
                    .arg(&index)
                    .arg(0i64)
                    .arg(max_skus.max(1) as i64 - 1)
                    .arg("WITHSCORES"),
            ])
            .await?;
        let mut it = items.into_iter();
        let time = it
            .next()
            .ok_or_else(|| Error::Malformed("sweep: no TIME".into()))??;
        let now = match time.as_array() {
            Some([s, us]) => s.as_i64().unwrap_or(0) * 1000 + us.as_i64().unwrap_or(0) / 1000,
            _ => return Err(malformed("TIME", &time)),
        } + self.clock_offset_ms;
        let due = it
            .next()
            .ok_or_else(|| Error::Malformed("sweep: no ZRANGE".into()))??;
        let pairs = due.as_array().unwrap_or(&[]);
        let skus: Vec<&str> = pairs
            .chunks(2)
            .filter_map(|p| match p {
                [sku, score] => {
                    let score: f64 = score.as_str()?.parse().ok()?;
                    (score <= now as f64).then_some(sku.as_str()?)
                }
                _ => None,
            })
            .collect();
        if skus.is_empty() {
            return Ok(SweepReport::default());
        }
        let mut keys = vec![index, self.keys.events()];
        self.sku_keys(skus.iter(), &mut keys);
        let mut args = vec![self.offset()];
        args.extend(skus.iter().map(|s| (*s).to_owned()));
        let v = self
            .client
            .eval(rest_script(&lua::SWEEP), &keys, &args, false)
            .await?;
        let mut r = Reply::new("sweep", &v)?;
        Ok(SweepReport {
            skus: r.int()? as usize,
            units_reaped: r.int()?,
        })
    }

    /// Events after stream id `after` (exclusive; `"0"` for the start), oldest first, at most `count`.
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn events_after(&self, after: &str, count: usize) -> Result<Vec<Event>, Error> {
        let v = self
            .client
            .command(
                &cmd("XRANGE")
                    .arg(self.keys.events())
                    .arg(format!("({after}"))
                    .arg("+")
                    .arg("COUNT")
                    .arg(count.max(1)),
            )
            .await?;
        let entries = v.as_array().ok_or_else(|| malformed("XRANGE", &v))?;
        Ok(entries
            .iter()
            .filter_map(|e| {
                let [id, fields] = e.as_array()? else {
                    return None;
                };
                let fields = fields.as_array()?;
                let get = |name: &str| {
                    fields
                        .chunks(2)
                        .find(|p| p[0].as_str() == Some(name))
                        .and_then(|p| p.get(1))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned()
                };
                Some(Event {
                    id: id.as_str()?.to_owned(),
                    kind: get("type"),
                    sku: get("sku"),
                    reservation_id: get("rid"),
                    qty: get("qty").parse().unwrap_or(0),
                    at_ms: get("at").parse().unwrap_or(0),
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_string_round_trips() {
        let items = parse_items("A-1|2,B:2|10");
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].sku.as_str(), "B:2");
        assert_eq!(items[1].qty, 10);
        assert!(parse_items("").is_empty());
    }
}
