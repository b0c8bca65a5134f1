//! Reservations across logical shards: a reservation whose SKUs sit on several shards is one part
//! per shard, each with its own record under the same id (the id names the shards). Every call
//! runs on all parts in parallel and combines their answers; a reserve is all or nothing
//! (docs/sharding.md#reservations-across-shards).

use std::future::Future;

use edgestock_lua as lua;
use futures::future::join_all;
use upstash_rest::{Error, Transport};

use super::{
    malformed, rest_script, CommitOutcome, Engine, ExtendOutcome, Hold, Item, PinOutcome,
    ReleaseOutcome, RepinOutcome, Reply, ReservationRecord, ReserveOutcome, ReserveRequest,
    UnpinOutcome,
};
use crate::domain::ReservationStatus;
use crate::keys::{ReservationShards, ShardId};

/// Every part of a reservation as its shards answer (`None`: the shard has no part).
#[derive(Debug, Clone)]
pub struct Parts(pub Vec<(ShardId, Option<ReservationRecord>)>);

/// The least advanced of two statuses: a reservation is only as far along as its slowest part.
fn least(a: ReservationStatus, b: ReservationStatus) -> ReservationStatus {
    use ReservationStatus::{Committed, Confirming, Expired, Held, Released};
    let rank = |s| match s {
        Released => 0,
        Expired => 1,
        Held => 2,
        Confirming => 3,
        Committed => 4,
    };
    if rank(a) <= rank(b) {
        a
    } else {
        b
    }
}

impl Parts {
    /// The reservation as one record: every part present, the least advanced status, the
    /// earliest expiries, the parts' items in shard order. `None` when a part is missing.
    pub fn whole(self) -> Option<ReservationRecord> {
        let mut out: Option<ReservationRecord> = None;
        for (_, part) in self.0 {
            let part = part?;
            out = Some(match out {
                None => part,
                Some(mut w) => {
                    w.status = least(w.status, part.status);
                    w.items.extend(part.items);
                    w.created_ms = w.created_ms.min(part.created_ms);
                    w.expires_ms = w.expires_ms.min(part.expires_ms);
                    w.max_expires_ms = w.max_expires_ms.min(part.max_expires_ms);
                    w
                }
            });
        }
        out
    }
}

impl ExtendOutcome {
    /// One answer for a reservation's parts: any part gone or not held decides; else the
    /// earliest expiry (a part already at its cap counts with its cap).
    pub(super) fn combine(parts: Vec<Self>) -> Self {
        if let Some(p) = parts
            .iter()
            .find(|p| matches!(p, Self::NotFound | Self::Expired | Self::NotHeld(_)))
        {
            return p.clone();
        }
        let (mut expires, mut max, mut extended) = (i64::MAX, i64::MAX, false);
        for p in &parts {
            match p {
                Self::Extended {
                    expires_ms,
                    max_expires_ms,
                } => {
                    extended = true;
                    expires = expires.min(*expires_ms);
                    max = max.min(*max_expires_ms);
                }
                Self::AtLimit { max_expires_ms } => {
                    expires = expires.min(*max_expires_ms);
                    max = max.min(*max_expires_ms);
                }
                _ => {}
            }
        }
        if extended {
            Self::Extended {
                expires_ms: expires,
                max_expires_ms: max,
            }
        } else {
            Self::AtLimit {
                max_expires_ms: max,
            }
        }
    }
}

impl ReleaseOutcome {
    /// One answer for a reservation's parts: committed or confirming parts refuse; parts that
    /// are gone are skipped; `changed` when any part gave units back.
    pub(super) fn combine(parts: Vec<Self>) -> Self {
        for refusal in [Self::Committed, Self::Confirming] {
            if parts.contains(&refusal) {
                return refusal;
            }
        }
        let mut out = Self::NotFound;
        for p in parts {
            if let Self::Released { status, changed } = p {
                out = match out {
                    Self::Released {
                        status: s,
                        changed: c,
                    } => Self::Released {
                        status: least(s, status),
                        changed: c || changed,
                    },
                    _ => Self::Released { status, changed },
                };
            }
        }
        out
    }
}

impl PinOutcome {
    /// Every part pinned: the earliest deadline and expiry; `again` when every part was.
    pub(super) fn combine(parts: Vec<(Self, Vec<Item>)>) -> (Self, Vec<Item>) {
        let mut items = Vec::new();
        let mut out: Option<Self> = None;
        for (p, part_items) in parts {
            items.extend(part_items);
            let Self::Pinned {
                deadline_ms,
                expires_ms,
                now_ms: _,
                again,
            } = p
            else {
                return (p, Vec::new());
            };
            out = Some(match out {
                Some(Self::Pinned {
                    deadline_ms: d,
                    expires_ms: e,
                    now_ms: n,
                    again: a,
                }) => Self::Pinned {
                    deadline_ms: d.min(deadline_ms),
                    expires_ms: e.min(expires_ms),
                    now_ms: n,
                    again: a && again,
                },
                _ => p,
            });
        }
        (out.unwrap_or(Self::NotFound), items)
    }
}

impl UnpinOutcome {
    /// Unpinned when any part was (the earliest restored expiry), else the first part's answer.
    pub(super) fn combine(parts: Vec<Self>) -> Self {
        let earliest = parts
            .iter()
            .filter_map(|p| match p {
                Self::Unpinned { expires_ms } => Some(*expires_ms),
                _ => None,
            })
            .min();
        match earliest {
            Some(expires_ms) => Self::Unpinned { expires_ms },
            None => parts.into_iter().next().unwrap_or(Self::NotFound),
        }
    }
}

impl RepinOutcome {
    /// The first short part; else held again (the earliest expiry) when any part was.
    pub(super) fn combine(parts: Vec<Self>) -> Self {
        if let Some(short) = parts.iter().find(|p| matches!(p, Self::Short { .. })) {
            return short.clone();
        }
        let earliest = parts
            .iter()
            .filter_map(|p| match p {
                Self::Repinned { expires_ms } => Some(*expires_ms),
                _ => None,
            })
            .min();
        match earliest {
            Some(expires_ms) => Self::Repinned { expires_ms },
            None => parts
                .into_iter()
                .next()
                .unwrap_or(Self::Exists(ReservationStatus::Released)),
        }
    }
}

impl CommitOutcome {
    /// The first short part; else late when any part was late; committed before only when
    /// every part was.
    pub(super) fn combine(parts: Vec<Self>) -> Self {
        if let Some(short) = parts.iter().find(|p| matches!(p, Self::Short { .. })) {
            return short.clone();
        }
        if parts.contains(&Self::Late) {
            Self::Late
        } else if !parts.is_empty() && parts.iter().all(|p| *p == Self::AlreadyCommitted) {
            Self::AlreadyCommitted
        } else {
            Self::Committed
        }
    }
}

impl<T: Transport> Engine<T> {
    /// Runs `f` on every shard of a reservation, in parallel; the answers in shard order.
    pub(super) async fn each_part<F, Fut, R>(
        &self,
        shards: ReservationShards,
        f: F,
    ) -> Result<Vec<R>, Error>
    where
        F: Fn(ShardId) -> Fut,
        Fut: Future<Output = Result<R, Error>>,
    {
        join_all(shards.iter().map(f)).await.into_iter().collect()
    }

    /// Runs `f` on each shard's items, in parallel; the answers in the same order.
    ///
    /// # Errors
    /// No items at all; the calls' failures.
    pub(super) async fn each_of<'a, F, Fut, R>(
        &self,
        by_shard: &'a [(ShardId, Vec<Item>)],
        f: F,
    ) -> Result<Vec<R>, Error>
    where
        F: Fn(ShardId, &'a [Item]) -> Fut,
        Fut: Future<Output = Result<R, Error>>,
    {
        if by_shard.is_empty() {
            return Err(Error::Malformed(
                "a reservation has at least one part".into(),
            ));
        }
        join_all(by_shard.iter().map(|(s, items)| f(*s, items)))
            .await
            .into_iter()
            .collect()
    }

    /// Items grouped by their SKU's shard, in order of first appearance.
    pub fn items_by_shard(&self, items: &[Item]) -> Vec<(ShardId, Vec<Item>)> {
        let mut out: Vec<(ShardId, Vec<Item>)> = Vec::new();
        for it in items {
            let shard = self.keys.shard_of(it.sku.as_str());
            match out.iter_mut().find(|(s, _)| *s == shard) {
                Some((_, v)) => v.push(it.clone()),
                None => out.push((shard, vec![it.clone()])),
            }
        }
        out
    }

    /// Every part of a reservation across shards, read in parallel.
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn reservation_across(
        &self,
        shards: ReservationShards,
        id: &str,
    ) -> Result<Parts, Error> {
        let parts = self
            .each_part(shards, |shard| async move {
                Ok((shard, self.reservation_part(shard, id).await?))
            })
            .await?;
        Ok(Parts(parts))
    }

    /// Writes a released record for reservation `id` on `shard` when it has none (a tombstone),
    /// so a request still in flight for that part cannot create it; answers whether the shard
    /// already had a record.
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn tombstone(
        &self,
        shard: ShardId,
        id: &str,
        fingerprint: &str,
    ) -> Result<bool, Error> {
        let v = self
            .client_for(shard)
            .eval(
                rest_script(&lua::TOMBSTONE),
                &[self.keys.reservation(shard, id)],
                &[fingerprint.to_owned(), self.offset()],
                false,
            )
            .await?;
        let mut r = Reply::new("tombstone", &v)?;
        match r.str()? {
            "written" => Ok(false),
            "exists" => Ok(true),
            _ => Err(malformed("tombstone", &v)),
        }
    }

    /// A reserve whose lines sit on several shards: one part per shard, placed in parallel. All
    /// held: the reservation. Any part refused or unanswered: every other part is released (a
    /// part that did not answer is tombstoned first) and the first refusal is answered (an
    /// unanswered part: its error). A replay that finds some parts and not others, or parts
    /// that no longer agree, releases them all and answers [`ReserveOutcome::Incomplete`].
    pub(super) async fn reserve_across(
        &self,
        req: &ReserveRequest,
    ) -> Result<ReserveOutcome, Error> {
        let mut groups: Vec<(ShardId, ReserveRequest)> = Vec::new();
        for line in &req.items {
            let shard = self.keys.shard_of(line.sku.as_str());
            match groups.iter_mut().find(|(s, _)| *s == shard) {
                Some((_, part)) => part.items.push(line.clone()),
                None => {
                    let mut part = req.clone();
                    part.items = vec![line.clone()];
                    groups.push((shard, part));
                }
            }
        }
        let placed = join_all(
            groups
                .iter()
                .map(|(shard, part)| self.reserve_part(*shard, part)),
        )
        .await;
        let all_held = placed
            .iter()
            .all(|p| matches!(p, Ok(ReserveOutcome::Held(_))));
        if all_held {
            let holds: Vec<&Hold> = placed
                .iter()
                .filter_map(|p| match p {
                    Ok(ReserveOutcome::Held(h)) => Some(h),
                    _ => None,
                })
                .collect();
            let replays = holds.iter().filter(|h| h.replay).count();
            let agree = holds.iter().all(|h| h.status == holds[0].status);
            if replays == 0 || (replays == holds.len() && agree) {
                return Ok(ReserveOutcome::Held(Self::whole_hold(req, &holds)));
            }
            // A replay meeting a partial reservation (or parts that went separate ways).
            self.compensate(req, &groups, &placed).await?;
            return Ok(ReserveOutcome::Incomplete);
        }
        self.compensate(req, &groups, &placed).await?;
        // The first refusal, else the first error (an unanswered part).
        if let Some(refusal) = placed
            .iter()
            .flatten()
            .find(|p| !matches!(p, ReserveOutcome::Held(_)))
        {
            return Ok(refusal.clone());
        }
        for p in placed {
            p?;
        }
        Ok(ReserveOutcome::Incomplete)
    }

    /// Gives back every part a failed reserve across shards may have: held parts released,
    /// unanswered ones tombstoned then released (the call may have run after all).
    async fn compensate(
        &self,
        req: &ReserveRequest,
        groups: &[(ShardId, ReserveRequest)],
        placed: &[Result<ReserveOutcome, Error>],
    ) -> Result<(), Error> {
        let undo = groups.iter().zip(placed).map(|((shard, _), p)| async move {
            match p {
                Ok(ReserveOutcome::Held(_)) => {
                    self.release_part(*shard, &req.id, false).await?;
                }
                Err(_) => {
                    if self.tombstone(*shard, &req.id, &req.fingerprint).await? {
                        self.release_part(*shard, &req.id, false).await?;
                    }
                }
                Ok(_) => {}
            }
            Ok::<(), Error>(())
        });
        join_all(undo).await.into_iter().collect()
    }

    /// The reservation of all-held parts: the least advanced status, the earliest times, the
    /// parts in the request's line order.
    fn whole_hold(req: &ReserveRequest, holds: &[&Hold]) -> Hold {
        let mut items: Vec<Item> = holds.iter().flat_map(|h| h.items.clone()).collect();
        let line_of = |it: &Item| req.items.iter().position(|l| l.sku == it.sku);
        items.sort_by_key(line_of);
        let first = holds[0];
        Hold {
            id: first.id.clone(),
            status: holds.iter().fold(first.status, |s, h| least(s, h.status)),
            created_ms: holds
                .iter()
                .map(|h| h.created_ms)
                .min()
                .unwrap_or(first.created_ms),
            expires_ms: holds
                .iter()
                .map(|h| h.expires_ms)
                .min()
                .unwrap_or(first.expires_ms),
            replay: holds.iter().all(|h| h.replay),
            now_ms: first.now_ms,
            items,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reservation_is_as_far_along_as_its_slowest_part() {
        use ReservationStatus::*;
        assert_eq!(least(Committed, Confirming), Confirming);
        assert_eq!(least(Held, Confirming), Held);
        assert_eq!(least(Held, Released), Released);
        assert_eq!(least(Expired, Held), Expired);
    }

    #[test]
    fn combined_answers_let_the_worst_part_decide() {
        let ext = |e, m| ExtendOutcome::Extended {
            expires_ms: e,
            max_expires_ms: m,
        };
        assert_eq!(
            ExtendOutcome::combine(vec![ext(50, 90), ext(40, 95)]),
            ext(40, 90)
        );
        assert_eq!(
            ExtendOutcome::combine(vec![ext(50, 90), ExtendOutcome::Expired]),
            ExtendOutcome::Expired
        );
        assert_eq!(
            CommitOutcome::combine(vec![CommitOutcome::Committed, CommitOutcome::Late]),
            CommitOutcome::Late
        );
        assert_eq!(
            CommitOutcome::combine(vec![
                CommitOutcome::AlreadyCommitted,
                CommitOutcome::AlreadyCommitted
            ]),
            CommitOutcome::AlreadyCommitted
        );
        assert_eq!(
            ReleaseOutcome::combine(vec![
                ReleaseOutcome::NotFound,
                ReleaseOutcome::Released {
                    status: ReservationStatus::Expired,
                    changed: false
                },
                ReleaseOutcome::Released {
                    status: ReservationStatus::Released,
                    changed: true
                },
            ]),
            ReleaseOutcome::Released {
                status: ReservationStatus::Released,
                changed: true
            }
        );
    }
}
