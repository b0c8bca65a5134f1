//! Redis key naming (docs/design.md#redis-data-model).
//!
//! Every per-SKU key carries the SKU as a hash tag, so one SKU's state lives in one
//! cluster slot. A deployment-wide prefix (empty in production, per-test in tests)
//! lets many isolated tenants share one Redis.

/// Builds every key edgestock uses, under an optional prefix.
#[derive(Clone, Debug, Default)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix` (use `""` in production).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The prefix every key starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `stock:{sku}`: hash with the SKU's counters.
    pub fn stock(&self, sku: &str) -> String {
        format!("{}stock:{{{sku}}}", self.prefix)
    }

    /// `holds:{sku}`: zset of live holds on the SKU, scored by expiry (ms).
    pub fn holds(&self, sku: &str) -> String {
        format!("{}holds:{{{sku}}}", self.prefix)
    }

    /// `rsv:{id}`: the reservation record, which is also its idempotency record.
    pub fn reservation(&self, id: &str) -> String {
        format!("{}rsv:{{{id}}}", self.prefix)
    }

    /// `cap:{sku}:<customer>`: the customer's reservations of the SKU counted toward its cap (in
    /// the SKU's slot).
    pub fn cap(&self, sku: &str, customer: &str) -> String {
        format!("{}cap:{{{sku}}}:{customer}", self.prefix)
    }

    /// `rl:{subject}`: rate-limit window for one subject (`ip:…`, `cart:…`).
    pub fn rate_limit(&self, subject: &str) -> String {
        format!("{}rl:{{{subject}}}", self.prefix)
    }

    /// `locs`: the location settings the origin writes and the reserve and read scripts
    /// allocate by.
    pub fn locations(&self) -> String {
        format!("{}locs", self.prefix)
    }

    /// `mv:{movement}`: marks an applied stock movement (adjust, transfer) for 7 days.
    pub fn movement(&self, movement_id: &str) -> String {
        format!("{}mv:{{{movement_id}}}", self.prefix)
    }

    /// `events`: the capped event stream.
    pub fn events(&self) -> String {
        format!("{}events", self.prefix)
    }

    /// `sweep`: index of SKUs with holds, scored by their earliest expiry (ms).
    pub fn sweep_index(&self) -> String {
        format!("{}sweep", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_sku_keys_share_the_sku_hash_tag() {
        let k = Keys::new("t1:");
        assert_eq!(k.stock("A-1"), "t1:stock:{A-1}");
        assert_eq!(k.holds("A-1"), "t1:holds:{A-1}");
    }
}
