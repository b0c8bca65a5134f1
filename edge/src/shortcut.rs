//! Losing reserves answered at the edge, without a Redis call. In a drop nearly every attempt
//! loses, and the outbound call is what a request costs, so the edge remembers two things Redis
//! told it and refuses from memory:
//! - **sold out**: a SKU a read or a reserve found with nothing available is refused for
//!   `SOLD_OUT_CACHE_SECONDS` (in the isolate, and in the location's Cache API so the other
//!   isolates there learn it too). Units that come back are reservable again within that time:
//!   the staleness the badges already accept. A hit only ever refuses, so it can never oversell.
//! - **rate limited**: a subject Redis refused is refused until its window ends (its
//!   `Retry-After`), in the isolate only. Redis counts the subject's attempts and refuses the same
//!   way until then, so the answer is the one Redis would give.
//!
//! Only Redis's own answers create entries, under keys of the deployment's key prefix and the
//! SKU or subject alone: nothing a client sends (a header, a host, another tenant's prefix) can
//! make the edge refuse a SKU that has stock or a subject that is within its limit.
//!
//! A retry of a reserve whose answer was lost must reach Redis (it may replay a hold made just
//! before the SKU sold out): a request with `Cache-Control: no-cache` skips the sold-out memory.
//! The rate-limit memory still applies: Redis refuses a replay over the limit too.

use edgestock_api::{ApiError, ErrorCode};
use futures::future::join_all;

use crate::config::Config;
use crate::platform::{ApiRequest, ApiResponse, Platform, RequestExt, ResponseExt};

/// The header that tells where a refusal came from: `hit` when the edge answered from memory,
/// `miss` when Redis did.
pub const HEADER: &str = "x-edgestock-cache";

/// The isolate-memory key of a SKU or a rate-limit subject (the prefix keeps tenants sharing a
/// worker apart).
fn memory_key(prefix: &str, name: &str) -> String {
    format!("{prefix}\u{0}{name}")
}

/// How long a sold-out entry lives, ms.
fn sold_out_ms(cfg: &Config) -> i64 {
    i64::from(cfg.sold_out_cache_seconds) * 1000
}

/// The Cache API key of a sold-out SKU: under the request's origin like the stock reads, on a
/// path no route answers, so no request can read or write it.
pub fn sold_out_cache_key(url_origin: &str, prefix: &str, sku: &str) -> String {
    let p = crate::routes::stock::escape_prefix(prefix);
    format!("{url_origin}/__edgestock/sold-out/{sku}?p={p}")
}

/// True when the client asks to skip cached answers (`Cache-Control: no-cache`), as a retry of
/// a reserve whose answer was lost must.
pub fn revalidate(req: &ApiRequest) -> bool {
    req.header("cache-control").is_some_and(|v| {
        v.split(',')
            .any(|d| d.trim().eq_ignore_ascii_case("no-cache"))
    })
}

/// The first of `skus` known to have nothing available: the isolate's memory first, then (for
/// the SKUs it knows nothing of) the location's Cache API, looked up together. A SKU whose
/// marker was absent is not looked up again for `SOLD_OUT_CACHE_SECONDS`, so a reserve that
/// wins pays the lookup at most once per SKU in that time (a sold-out SKU that another isolate
/// learns meanwhile costs this one Redis calls until it learns it too: never a wrong refusal).
pub async fn known_sold_out<P: Platform>(
    p: &P,
    cfg: &Config,
    req: &ApiRequest,
    skus: &[&str],
) -> Option<String> {
    if cfg.sold_out_cache_seconds == 0 {
        return None;
    }
    let now = p.now_ms();
    let prefix = &cfg.redis_key_prefix;
    let mut unknown = Vec::new();
    let remembered = p.memory(|m| {
        for s in skus {
            match m.sold_out.get_any(&memory_key(prefix, s)) {
                Some((until, true)) if until > now => return Some((*s).to_owned()),
                // A sold-out entry just ended: the location's marker ended with it (it has the
                // same end), so Redis is asked without looking.
                Some((_, true)) => {}
                Some((until, false)) if until > now => {}
                Some((_, false)) | None => unknown.push(*s),
            }
        }
        None
    });
    if remembered.is_some() || unknown.is_empty() {
        return remembered;
    }
    let origin = req.url_origin();
    let lookups = unknown.iter().map(|s| {
        let key = sold_out_cache_key(&origin, prefix, s);
        async move { p.cache_get(&key).await }
    });
    let found: Vec<Option<i64>> = join_all(lookups)
        .await
        .into_iter()
        .map(|hit| hit.as_ref().and_then(marker_until).filter(|u| *u > now))
        .collect();
    let absent_until = now.saturating_add(sold_out_ms(cfg));
    p.memory(|m| {
        for (s, until) in unknown.iter().zip(&found) {
            let key = memory_key(prefix, s);
            match until {
                // For what is left of the shared entry's life.
                Some(until) => m.sold_out.put(&key, true, *until),
                None => m.sold_out.put(&key, false, absent_until),
            }
        }
    });
    unknown
        .iter()
        .zip(found)
        .find_map(|(s, until)| until.map(|_| (*s).to_owned()))
}

/// Remembers that each of `skus` has nothing available (a Redis answer just said so): in the
/// isolate now, in the location's Cache API in the background (the answer does not wait).
pub fn learn_sold_out<P: Platform>(p: &P, cfg: &Config, req: &ApiRequest, skus: &[&str]) {
    if cfg.sold_out_cache_seconds == 0 || skus.is_empty() {
        return;
    }
    let now = p.now_ms();
    let life = sold_out_ms(cfg);
    let until = now.saturating_add(life);
    let prefix = &cfg.redis_key_prefix;
    // The losers in flight when a SKU sells out all come back with the news: only those that
    // find it unknown (or half gone) write it, so the location's cache gets one write, not one
    // per loser.
    let news: Vec<&str> = p.memory(|m| {
        skus.iter()
            .copied()
            .filter(|s| {
                let key = memory_key(prefix, s);
                let known =
                    matches!(m.sold_out.get(&key, now), Some((u, true)) if u - now > life / 2);
                if !known {
                    m.sold_out.put(&key, true, until);
                }
                !known
            })
            .collect()
    });
    let origin = req.url_origin();
    for s in news {
        let marker = sold_out_marker(until, cfg.sold_out_cache_seconds);
        p.cache_put_later(sold_out_cache_key(&origin, prefix, s), marker);
    }
}

/// The Cache API entry of a sold-out SKU: it lives `max-age` seconds in the cache and names the
/// instant it stops counting, so a lookup never trusts it longer, whatever the cache keeps.
fn sold_out_marker(until_ms: i64, seconds: u32) -> ApiResponse {
    let body = format!("{{\"sold_out_until_ms\":{until_ms}}}");
    let mut r = ApiResponse::bytes(200, "application/json", body.into_bytes());
    r.set_header("cache-control", &format!("public, max-age={seconds}"));
    r
}

/// The instant a sold-out marker stops counting; `None` for anything else.
fn marker_until(resp: &ApiResponse) -> Option<i64> {
    let v: serde_json::Value = serde_json::from_slice(resp.body()).ok()?;
    v.get("sold_out_until_ms")?.as_i64()
}

/// When the first of `subjects` that Redis refused can try again (ms), if one is still refused.
pub fn limited_until<'s, P: Platform>(
    p: &P,
    cfg: &Config,
    subjects: impl IntoIterator<Item = &'s str>,
) -> Option<i64> {
    if !cfg.rate_limit_cache {
        return None;
    }
    let now = p.now_ms();
    let prefix = &cfg.redis_key_prefix;
    p.memory(|m| {
        subjects
            .into_iter()
            .find_map(|s| m.limited.get(&memory_key(prefix, s), now))
            .map(|(until, ())| until)
    })
}

/// Remembers that Redis refused `subject` for `retry_after_ms` more.
pub fn learn_limited<P: Platform>(p: &P, cfg: &Config, subject: &str, retry_after_ms: i64) {
    if !cfg.rate_limit_cache || retry_after_ms <= 0 {
        return;
    }
    let until = p.now_ms().saturating_add(retry_after_ms);
    let prefix = &cfg.redis_key_prefix;
    p.memory(|m| m.limited.put(&memory_key(prefix, subject), (), until));
}

/// The refusal of a reserve that asked for a sold-out SKU, as Redis would word it.
pub fn insufficient(sku: &str, available: i64) -> ApiError {
    ApiError::new(
        ErrorCode::InsufficientStock,
        format!("not enough stock for {sku}"),
    )
    .with(|d| {
        d.sku = Some(sku.to_owned());
        d.available = Some(available.max(0));
    })
}

/// The refusal of a rate-limited reserve.
pub fn rate_limited(retry_after_secs: u64) -> ApiError {
    ApiError::new(
        ErrorCode::RateLimited,
        "too many reservation attempts, slow down",
    )
    .retry_after_secs(retry_after_secs)
}

/// `err` as a response saying where it came from (`hit`: the edge's memory; `miss`: Redis).
pub fn answered(err: &ApiError, from_memory: bool) -> ApiResponse {
    let mut r = ApiResponse::error(err);
    r.set_header(HEADER, if from_memory { "hit" } else { "miss" });
    r
}
