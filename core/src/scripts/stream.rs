//! The sweep of SKUs nobody touches, and each shard's event stream.

use edgestock_lua as lua;
use upstash_rest::{cmd, Error, Transport, Value};

use super::{malformed, rest_script, Engine, Reply};
use crate::keys::ShardId;

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
    /// The location of a hold or a stock movement (`default` when the stream entry names none,
    /// as every entry written before locations); `None` for level events, which are about the
    /// SKU's shipping sum.
    pub location: Option<String>,
    /// Redis clock (ms).
    pub at_ms: i64,
}

impl<T: Transport> Engine<T> {
    /// One sweep pass: reaps expired holds of up to `max_skus` due SKUs (bounded batches).
    ///
    /// # Errors
    /// Transport or Redis failures.
    pub async fn sweep(&self, shard: ShardId, max_skus: usize) -> Result<SweepReport, Error> {
        let index = self.keys.sweep_index(shard);
        let items = self
            .client_for(shard)
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
        let mut keys = vec![index, self.keys.events(shard), self.keys.locations(shard)];
        self.sku_keys(skus.iter(), &mut keys);
        let mut args = vec![self.offset()];
        args.extend(skus.iter().map(|s| (*s).to_owned()));
        let v = self
            .client_for(shard)
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
    pub async fn events_after(
        &self,
        shard: ShardId,
        after: &str,
        count: usize,
    ) -> Result<Vec<Event>, Error> {
        let v = self
            .client_for(shard)
            .command(
                &cmd("XRANGE")
                    .arg(self.keys.events(shard))
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
                let kind = get("type");
                let located = kind.starts_with("hold_") || kind == "stock_adjusted";
                let location = located.then(|| match get("loc") {
                    l if l.is_empty() => "default".to_owned(),
                    l => l,
                });
                Some(Event {
                    id: id.as_str()?.to_owned(),
                    kind,
                    sku: get("sku"),
                    reservation_id: get("rid"),
                    qty: get("qty").parse().unwrap_or(0),
                    at_ms: get("at").parse().unwrap_or(0),
                    location,
                })
            })
            .collect())
    }
}
