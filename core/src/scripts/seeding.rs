//! A shard's seeded marker: the origin writes it once the shard's stock and placed orders are
//! back; reserves and reads check it (docs/sharding.md#lost-and-replaced-shards).

use edgestock_lua as lua;
use upstash_rest::{cmd, Error, Transport};

use super::{malformed, rest_script, Engine, Reply};
use crate::keys::ShardId;

/// Who serves a shard now: its seeded marker and the replication id of its Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardIdentity {
    /// The seeded marker `<shard>/<shards>/<epoch>`; `None` on a shard not seeded since it was
    /// last emptied.
    pub marker: Option<String>,
    /// The serving Redis's `master_replid` (a promoted replica has a new one); `None` where
    /// scripts may not call `INFO`.
    pub replid: Option<String>,
}

impl ShardIdentity {
    /// The epoch part of the marker.
    pub fn epoch(&self) -> Option<&str> {
        self.marker.as_deref().and_then(|m| m.rsplit('/').next())
    }
}

impl<T: Transport> Engine<T> {
    /// A shard's [`ShardIdentity`], in one read-only call on the Redis serving its slot.
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn shard_identity(&self, shard: ShardId) -> Result<ShardIdentity, Error> {
        let v = self
            .client_for(shard)
            .eval(
                rest_script(&lua::SHARD_IDENTITY),
                &[self.keys.locations(shard)],
                &[],
                true,
            )
            .await?;
        let mut r = Reply::new("shard_identity", &v)?;
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Ok(ShardIdentity {
            marker: some(r.str()?),
            replid: some(r.str()?),
        })
    }

    /// Marks a shard seeded: the origin has written its stock from the ledger and pinned its
    /// placed orders again. Until then its reserves and reads answer `shard_unseeded` (a shard
    /// that comes back empty has no marker). Needs the shard's location settings first.
    ///
    /// # Errors
    /// Transport or Redis failures; a shard without location settings.
    pub async fn mark_seeded(&self, shard: ShardId, epoch: &str) -> Result<(), Error> {
        let v = self
            .client_for(shard)
            .eval(
                rest_script(&lua::MARK_SEEDED),
                &[self.keys.locations(shard)],
                &[self.keys.shard_marker(shard), epoch.to_owned()],
                false,
            )
            .await?;
        let mut r = Reply::new("mark_seeded", &v)?;
        match r.str()? {
            "ok" => Ok(()),
            "no_locations" => Err(Error::Malformed(format!(
                "shard {shard} has no location settings to mark seeded"
            ))),
            _ => Err(malformed("mark_seeded", &v)),
        }
    }

    /// The seeded marker of a shard as the origin wrote it, `<shard>/<shards>/<epoch>` (`None`:
    /// not seeded since it was last emptied).
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn seeded_epoch(&self, shard: ShardId) -> Result<Option<String>, Error> {
        let v = self
            .client_for(shard)
            .command(&cmd("HGET").arg(self.keys.locations(shard)).arg("~seeded"))
            .await?;
        Ok(v.as_str().map(str::to_owned))
    }
}
