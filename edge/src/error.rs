//! The edge's errors are [`edgestock_api::ApiError`]s (one code enum for both services); this
//! module maps the failures of the Redis REST endpoint onto them, and holds the few errors
//! several routes answer.

use edgestock_api::{ApiError, ErrorCode};
use upstash_rest::Error as RedisError;

/// A Redis (REST endpoint) failure: 503 `redis_unavailable` when unreachable, slow or down,
/// 502 `redis_error` when it answered something we cannot use.
pub fn redis_failure(e: &RedisError) -> ApiError {
    if edgestock_core::scripts::is_unseeded(e) {
        shard_unseeded()
    } else if e.is_unavailable() {
        let message = match e {
            RedisError::Timeout => "redis did not answer in time".to_owned(),
            other => format!("redis is unavailable: {other}"),
        };
        ApiError::new(ErrorCode::RedisUnavailable, message).retry_after_secs(1)
    } else {
        ApiError::new(ErrorCode::RedisError, format!("redis call failed: {e}"))
    }
}

/// 503 `shard_unseeded`: the SKUs' Redis shard is being seeded again.
pub fn shard_unseeded() -> ApiError {
    ApiError::new(
        ErrorCode::ShardUnseeded,
        "the stock of these SKUs is being restored; try again shortly",
    )
    .retry_after_secs(5)
}

/// 404 `reservation_not_found`.
pub fn reservation_not_found() -> ApiError {
    ApiError::new(ErrorCode::ReservationNotFound, "no such reservation")
}

/// 404 `unknown_sku` naming the SKU.
pub fn unknown_sku(sku: &str) -> ApiError {
    ApiError::new(ErrorCode::UnknownSku, "no such SKU").with(|d| d.sku = Some(sku.to_owned()))
}

/// `Retry-After` seconds for a wait in ms: rounded up, at least 1.
pub fn retry_after_seconds(ms: i64) -> u64 {
    let ms = u64::try_from(ms).unwrap_or(0);
    ms.div_ceil(1000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn details_sit_next_to_code_and_message() {
        let e = ApiError::new(ErrorCode::InsufficientStock, "not enough").with(|d| {
            d.sku = Some("A".into());
            d.available = Some(3);
        });
        assert_eq!(
            serde_json::to_value(e.body()).unwrap(),
            json!({"error": {"code": "insufficient_stock", "message": "not enough", "sku": "A", "available": 3}})
        );
    }

    #[test]
    fn redis_failures_map_to_503_or_502() {
        let e = redis_failure(&RedisError::Timeout);
        assert_eq!(
            (e.status(), e.code.as_str(), e.retry_after()),
            (503, "redis_unavailable", Some(1))
        );
        let e = redis_failure(&RedisError::Transport("refused".into()));
        assert_eq!((e.status(), e.code.as_str()), (503, "redis_unavailable"));
        let e = redis_failure(&RedisError::Unavailable {
            status: 503,
            message: "down".into(),
        });
        assert_eq!(e.status(), 503);
        let e = redis_failure(&RedisError::Unauthorized("bad token".into()));
        assert_eq!((e.status(), e.code.as_str()), (502, "redis_error"));
        let e = redis_failure(&RedisError::Redis("ERR x".into()));
        assert_eq!((e.status(), e.code.as_str()), (502, "redis_error"));
    }

    #[test]
    fn retry_after_rounds_up_and_is_at_least_one_second() {
        assert_eq!(retry_after_seconds(0), 1);
        assert_eq!(retry_after_seconds(-5), 1);
        assert_eq!(retry_after_seconds(1), 1);
        assert_eq!(retry_after_seconds(1000), 1);
        assert_eq!(retry_after_seconds(1001), 2);
        assert_eq!(retry_after_seconds(59_999), 60);
    }
}
