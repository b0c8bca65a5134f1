//! A shard's seeded marker: the origin writes it once the shard's stock and placed orders are
//! back; reserves and reads check it (docs/sharding.md#lost-and-replaced-shards).

use edgestock_lua as lua;
use upstash_rest::{cmd, Error, Transport};

use super::{malformed, rest_script, Engine, Reply};
use crate::keys::ShardId;

impl<T: Transport> Engine<T> {
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
                &[
                    format!("{}/{}", shard.0, self.keys.shard_count()),
                    epoch.to_owned(),
                ],
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

    /// The seeded marker of a shard: the epoch the origin wrote (`None`: not seeded since it
    /// was last emptied).
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
