//! HMAC signatures of edge-forwarded calls (the scheme lives in `edgestock_core::signing`, shared
//! with the edge that signs).

pub use edgestock_core::signing::*;

/// Seconds since the unix epoch.
pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
