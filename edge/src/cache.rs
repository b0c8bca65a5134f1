//! What an isolate remembers between requests: an isolate serves many requests, so what one
//! request learned answers the next without a Redis call (or even a Cache API lookup). Three
//! bounded LRU maps, each entry with its own expiry:
//! - stock-read responses, for their `Cache-Control: max-age` (the first tier in front of the
//!   Cache API);
//! - SKUs known to have nothing available, for `SOLD_OUT_CACHE_SECONDS` (and SKUs whose
//!   location-wide marker was looked up and absent, so it is looked up once per that time);
//! - rate-limit subjects over their window, until the window ends.

use std::num::NonZeroUsize;

use lru::LruCache;

use crate::platform::{ApiResponse, ResponseExt};

/// Most entries of each map: the least recently used entry makes room for a new one.
pub const MAX_ENTRIES: usize = 1024;

/// `max-age` seconds of a `Cache-Control` value, if any.
pub fn max_age(cache_control: &str) -> Option<u64> {
    cache_control
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .and_then(|v| v.trim().parse().ok())
}

/// A bounded LRU map whose entries expire at their own instant (ms since the epoch).
#[derive(Debug)]
pub struct TtlLru<V> {
    entries: LruCache<String, (i64, V)>,
}

impl<V: Clone> TtlLru<V> {
    /// At most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: LruCache::new(NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN)),
        }
    }

    /// The live entry under `key` at `now_ms` with its expiry; an expired one is dropped.
    pub fn get(&mut self, key: &str, now_ms: i64) -> Option<(i64, V)> {
        match self.entries.get(key) {
            Some((until, v)) if *until > now_ms => Some((*until, v.clone())),
            Some(_) => {
                self.entries.pop(key);
                None
            }
            None => None,
        }
    }

    /// The entry under `key` with its expiry, expired or not.
    pub fn get_any(&mut self, key: &str) -> Option<(i64, V)> {
        self.entries.get(key).map(|(until, v)| (*until, v.clone()))
    }

    /// Keeps `value` under `key` until `until_ms` (replacing an earlier entry); when full, the
    /// least recently used entry goes.
    pub fn put(&mut self, key: &str, value: V, until_ms: i64) {
        self.entries.put(key.to_owned(), (until_ms, value));
    }

    /// Number of entries (expired ones included until looked up or evicted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// An isolate's memory (one per isolate in the worker; one per fake platform in tests).
#[derive(Debug)]
pub struct IsolateMemory {
    /// Stock-read responses by cache key.
    pub responses: TtlLru<ApiResponse>,
    /// What this isolate knows of a SKU's sold-out marker, by [`crate::shortcut`]'s key: `true`
    /// sold out, `false` looked up in the location's cache and not there.
    pub sold_out: TtlLru<bool>,
    /// Rate-limit subjects refused by Redis, by [`crate::shortcut`]'s key.
    pub limited: TtlLru<()>,
}

impl Default for IsolateMemory {
    fn default() -> Self {
        Self {
            responses: TtlLru::new(MAX_ENTRIES),
            sold_out: TtlLru::new(MAX_ENTRIES),
            limited: TtlLru::new(MAX_ENTRIES),
        }
    }
}

impl IsolateMemory {
    /// The cached response under `key` at `now_ms`.
    pub fn response(&mut self, key: &str, now_ms: i64) -> Option<ApiResponse> {
        self.responses.get(key, now_ms).map(|(_, r)| r)
    }

    /// Keeps `resp` until its `max-age` runs out (not at all without one, or with 0).
    pub fn keep_response(&mut self, key: &str, resp: &ApiResponse, now_ms: i64) {
        let Some(age) = resp.header("cache-control").and_then(max_age) else {
            return;
        };
        if age == 0 {
            return;
        }
        let ms = i64::try_from(age.saturating_mul(1000)).unwrap_or(i64::MAX);
        self.responses
            .put(key, resp.clone(), now_ms.saturating_add(ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(cc: &str) -> ApiResponse {
        let mut r = ApiResponse::bytes(200, "application/json", b"{}".to_vec());
        r.set_header("cache-control", cc);
        r
    }

    #[test]
    fn responses_live_for_their_max_age() {
        let mut m = IsolateMemory::default();
        m.keep_response("k", &resp("public, max-age=2"), 1_000);
        assert!(m.response("k", 1_000).is_some());
        assert!(m.response("k", 2_999).is_some());
        assert!(m.response("k", 3_000).is_none());
        assert!(m.response("other", 1_000).is_none());
        m.keep_response("n", &resp("no-store"), 1_000);
        m.keep_response("z", &resp("public, max-age=0"), 1_000);
        // "k" was dropped when found expired; "n" and "z" were never kept.
        assert_eq!(m.responses.len(), 0);
        assert_eq!(max_age("public, max-age=30"), Some(30));
        assert_eq!(max_age("no-store"), None);
    }

    #[test]
    fn a_full_map_evicts_the_least_recently_used_entry() {
        let mut c: TtlLru<u32> = TtlLru::new(3);
        c.put("a", 1, 100);
        c.put("b", 2, 100);
        c.put("c", 3, 100);
        // Reading "a" makes "b" the least recently used.
        assert_eq!(c.get("a", 0), Some((100, 1)));
        c.put("d", 4, 100);
        assert_eq!(c.len(), 3);
        assert_eq!(c.get("b", 0), None);
        assert_eq!(c.get("a", 0), Some((100, 1)));
        assert_eq!(c.get("c", 0), Some((100, 3)));
        assert_eq!(c.get("d", 0), Some((100, 4)));
        // A flood of new keys never grows it past its capacity.
        for i in 0..MAX_ENTRIES {
            c.put(&format!("k{i}"), 0, 100);
        }
        assert_eq!(c.len(), 3);
        assert!(!c.is_empty());
    }

    #[test]
    fn entries_expire_at_their_own_instant() {
        let mut c: TtlLru<()> = TtlLru::new(8);
        c.put("short", (), 1_000);
        c.put("long", (), 5_000);
        assert_eq!(c.get("short", 999), Some((1_000, ())));
        assert_eq!(c.get("short", 1_000), None);
        assert_eq!(c.get("long", 1_000), Some((5_000, ())));
        assert_eq!(c.len(), 1);
    }
}
