//! Slots whose primary just failed, answered at once for a moment.
//!
//! On Redis Cluster a dead primary stops only its own slots, but each command for them still
//! costs the cluster client's connection attempts and retries. In a flash sale that is
//! thousands of requests a second, each held until it fails: the gateway's in-flight budget
//! fills with them and it starts shedding the healthy slots' requests too. So once a slot's
//! command fails for want of its node (no connection, no answer, slot not served), the
//! gateway answers that slot's commands `503` without trying, for [`COOL_DOWN`]; the first
//! command after it tries again. With logical shards every key of a shard lives in one slot,
//! so one failure covers the whole shard.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::cluster_routing::Slot;

/// How long a failed slot is answered without trying (the edge's `Retry-After` is 1 s too).
pub(crate) const COOL_DOWN: Duration = Duration::from_secs(1);

/// Failed slots and until when they are skipped.
#[derive(Debug, Default)]
pub(crate) struct Breaker {
    open: Mutex<HashMap<Slot, Instant>>,
}

impl Breaker {
    /// The time left before `slot` is tried again, if it is cooling down.
    pub(crate) fn cooling(&self, slot: Slot, now: Instant) -> Option<Duration> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        match open.get(&slot) {
            Some(&until) if until > now => Some(until - now),
            Some(_) => {
                open.remove(&slot);
                None
            }
            None => None,
        }
    }

    /// `slot`'s node failed at `now`.
    pub(crate) fn trip(&self, slot: Slot, now: Instant) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded by the number of slots (16,384).
        open.insert(slot, now + COOL_DOWN);
    }

    /// `slot` answered.
    pub(crate) fn close(&self, slot: Slot) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.remove(&slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_slot_cools_down_alone_then_is_tried_again() {
        let b = Breaker::default();
        let (dead, alive) = (Slot::for_key("{s1}x"), Slot::for_key("{s2}x"));
        assert_ne!(dead, alive);
        let t0 = Instant::now();
        assert_eq!(b.cooling(dead, t0), None);
        b.trip(dead, t0);
        assert_eq!(b.cooling(dead, t0), Some(COOL_DOWN));
        let later = t0 + COOL_DOWN / 2;
        assert_eq!(b.cooling(dead, later), Some(COOL_DOWN / 2));
        assert_eq!(
            b.cooling(alive, later),
            None,
            "other slots are not affected"
        );
        assert_eq!(
            b.cooling(dead, t0 + COOL_DOWN),
            None,
            "tried again after the cool-down"
        );
        b.trip(dead, t0);
        b.close(dead);
        assert_eq!(b.cooling(dead, t0), None, "an answer closes it at once");
    }
}
