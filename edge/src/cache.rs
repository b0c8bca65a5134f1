//! The isolate-memory tier of the stock cache: an isolate serves many requests, so a response
//! cached for `max-age` seconds in its memory answers without even a Cache API lookup. Bounded;
//! entries expire by their own `Cache-Control: max-age`.

use std::collections::HashMap;

use crate::platform::{ApiResponse, ResponseExt};

/// Most entries kept; a full cache drops its expired entries, then everything if still full.
pub const MAX_ENTRIES: usize = 1024;

/// `max-age` seconds of a `Cache-Control` value, if any.
pub fn max_age(cache_control: &str) -> Option<u64> {
    cache_control
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .and_then(|v| v.trim().parse().ok())
}

/// Responses by key with their expiry (ms).
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: HashMap<String, (i64, ApiResponse)>,
}

impl MemoryCache {
    /// The live entry under `key` at `now_ms`.
    pub fn get(&self, key: &str, now_ms: i64) -> Option<ApiResponse> {
        self.entries
            .get(key)
            .filter(|(exp, _)| *exp > now_ms)
            .map(|(_, r)| r.clone())
    }

    /// Keeps `resp` until its `max-age` runs out (not at all without one).
    pub fn put(&mut self, key: &str, resp: &ApiResponse, now_ms: i64) {
        let Some(age) = resp.header("cache-control").and_then(max_age) else {
            return;
        };
        if age == 0 {
            return;
        }
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.retain(|_, (exp, _)| *exp > now_ms);
            if self.entries.len() >= MAX_ENTRIES {
                self.entries.clear();
            }
        }
        let expires = now_ms.saturating_add(i64::try_from(age).unwrap_or(i64::MAX / 2000) * 1000);
        self.entries.insert(key.to_owned(), (expires, resp.clone()));
    }

    /// Number of entries (expired ones included until evicted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
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
    fn entries_live_for_their_max_age() {
        let mut c = MemoryCache::default();
        c.put("k", &resp("public, max-age=2"), 1_000);
        assert!(c.get("k", 1_000).is_some());
        assert!(c.get("k", 2_999).is_some());
        assert!(c.get("k", 3_000).is_none());
        assert!(c.get("other", 1_000).is_none());
        c.put("n", &resp("no-store"), 1_000);
        c.put("z", &resp("public, max-age=0"), 1_000);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn the_cache_stays_bounded() {
        let mut c = MemoryCache::default();
        for i in 0..MAX_ENTRIES + 10 {
            c.put(&format!("k{i}"), &resp("max-age=60"), 0);
        }
        assert!(c.len() <= MAX_ENTRIES);
        assert!(!c.is_empty());
        assert_eq!(max_age("public, max-age=30"), Some(30));
        assert_eq!(max_age("no-store"), None);
    }
}
