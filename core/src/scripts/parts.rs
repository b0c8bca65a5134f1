//! Reservations across logical shards: a reservation whose SKUs sit on several shards is one part
//! per shard, each with its own record under the same id (the id names the shards). Every call
//! runs on all parts in parallel and combines their answers; a reserve is all or nothing
//! (docs/sharding.md#reservations-across-shards).

use std::future::Future;

use edgestock_lua as lua;
use futures::future::join_all;
use upstash_rest::{Error, Transport};

use super::combine::{least, Parts};
use super::{malformed, rest_script, Engine, Hold, Item, Reply, ReserveOutcome, ReserveRequest};
use crate::keys::{ReservationShards, ShardId};

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
