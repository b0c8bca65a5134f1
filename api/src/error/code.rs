//! The one enum of error codes: each with its HTTP status and its wire name.

use serde::{Deserialize, Serialize};

/// Every error code the edge or the origin answers. Serialized as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the body is not JSON.
    MalformedJson,
    /// 400: a malformed request line, header or query.
    BadRequest,
    /// 401: a reservation route without a token.
    MissingToken,
    /// 401: backend or admin credentials missing or wrong (origin).
    Unauthorized,
    /// 401: a reservation token past its expiry (fixed when the reservation was created).
    TokenExpired,
    /// 401: an `X-Customer-Token` that is malformed, not genuine, expired, not yet valid, or of
    /// another issuer or audience (edge).
    InvalidCustomerToken,
    /// 401: a reserve of a SKU that requires a customer login, without a valid customer token
    /// (with `sku`).
    CustomerRequired,
    /// 403: a token that does not belong to this reservation.
    InvalidToken,
    /// 403: a call on a reservation bound to a customer without that customer's token (edge).
    CustomerMismatch,
    /// 403: a CORS preflight from an origin not in `ALLOWED_ORIGINS`.
    CorsOriginDenied,
    /// 404: no such route (or, on the origin, no such resource).
    NotFound,
    /// 404: a SKU that was never stocked.
    UnknownSku,
    /// 404: an unknown reservation, or one past its retention.
    ReservationNotFound,
    /// 405: the path does not serve this method (with an `Allow` header).
    MethodNotAllowed,
    /// 409: not enough units (with `sku` and `available`).
    InsufficientStock,
    /// 409: the hold expired.
    ReservationExpired,
    /// 409: the reservation is not `held` (with its `status`).
    ReservationNotHeld,
    /// 409: the reservation is being confirmed.
    ReservationConfirming,
    /// 409: the reservation was already confirmed.
    ReservationCommitted,
    /// 409: the hold is already at its maximum lifetime (with `max_expires_at`).
    HoldLimitReached,
    /// 409: an order status change its lifecycle forbids (with the current `status`).
    IllegalTransition,
    /// 409: a shopper's cancel of a reservation whose order is placed (awaiting payment): it
    /// expires at its deadline, or the merchant cancels it.
    OrderPlaced,
    /// 409: a shopper's cancel of a reservation whose order is confirmed: only the merchant
    /// cancels it.
    OrderConfirmed,
    /// 409: a confirm with another `payment_ref` than the one that confirmed the order.
    AlreadyConfirmed,
    /// 409: a `payment_ref` that already confirmed another reservation's order.
    PaymentRefInUse,
    /// 409: the customer's cap on units of one SKU (held + placed + bought) would be passed
    /// (with `sku` and, in `available`, the units still allowed).
    CustomerLimitReached,
    /// 409: a location that is inactive, or a pickup at a location that offers no pickup (with
    /// `location`).
    LocationUnavailable,
    /// 409: a reserve across shards that a replay of its `Idempotency-Key` found partly
    /// created: every part was released; send the request again with a new key.
    ReservationIncomplete,
    /// 413: the body is too large (with `max_bytes` on the edge).
    BodyTooLarge,
    /// 415: the body is not `application/json`.
    UnsupportedMediaType,
    /// 422: a value is invalid or the body has the wrong shape (with `field`).
    InvalidRequest,
    /// 422: a quantity below 1 or over the per-item limit (with `max_qty`).
    InvalidQuantity,
    /// 422: a SKU outside `^[A-Za-z0-9._:-]{1,64}$`.
    InvalidSku,
    /// 422: the same SKU twice in one reservation.
    DuplicateSku,
    /// 422: a location code outside `^[A-Za-z0-9._:-]{1,64}$` (with `field`).
    InvalidLocation,
    /// 422: a location that does not exist (with `location`).
    UnknownLocation,
    /// 422: more items than `MAX_ITEMS` (with `max_items`).
    TooManyItems,
    /// 422: more SKUs than a batch read allows (with `max_skus`).
    TooManySkus,
    /// 422: a hold lifetime out of bounds (with `max_ttl_seconds`).
    InvalidTtl,
    /// 422: an `Idempotency-Key` reused with another request (edge).
    IdempotencyKeyReused,
    /// 422: a body of the wrong shape or with invalid values (origin).
    InvalidBody,
    /// 422: an invalid query parameter (origin).
    InvalidQuery,
    /// 422: a `movement_id` already used for another movement (origin).
    MovementIdReused,
    /// 422: cancelling a confirmed order without `restock: true|false` (origin).
    RestockRequired,
    /// 429: too many attempts (with `Retry-After` and `retry_after_seconds`).
    RateLimited,
    /// 500: a required variable is missing or malformed (named in the message).
    ConfigError,
    /// 500: an internal failure; the message never echoes internal text.
    Internal,
    /// 502: Redis answered something unusable.
    RedisError,
    /// 502: the origin answered something unusable, or refused the edge's signature.
    OriginError,
    /// 503: Redis unreachable or too slow (with `Retry-After`).
    RedisUnavailable,
    /// 503: the origin unreachable or too slow (with `Retry-After`).
    OriginUnavailable,
    /// 503: a dependency of the origin is unavailable (with `Retry-After`).
    Unavailable,
    /// 503: the Redis shard of these SKUs came back empty (or holds another layout) and the
    /// origin has not seeded it again yet (with `Retry-After`).
    ShardUnseeded,
}

impl ErrorCode {
    /// The HTTP status this code is answered with.
    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            MalformedJson | BadRequest => 400,
            MissingToken | TokenExpired | Unauthorized | InvalidCustomerToken
            | CustomerRequired => 401,
            InvalidToken | CorsOriginDenied | CustomerMismatch => 403,
            NotFound | UnknownSku | ReservationNotFound => 404,
            MethodNotAllowed => 405,
            InsufficientStock
            | ReservationExpired
            | ReservationNotHeld
            | ReservationConfirming
            | ReservationCommitted
            | HoldLimitReached
            | IllegalTransition
            | OrderPlaced
            | OrderConfirmed
            | AlreadyConfirmed
            | PaymentRefInUse
            | CustomerLimitReached
            | LocationUnavailable
            | ReservationIncomplete => 409,
            BodyTooLarge => 413,
            UnsupportedMediaType => 415,
            InvalidRequest | InvalidQuantity | InvalidSku | DuplicateSku | TooManyItems
            | TooManySkus | InvalidTtl | IdempotencyKeyReused | InvalidBody | InvalidQuery
            | MovementIdReused | RestockRequired | InvalidLocation | UnknownLocation => 422,
            RateLimited => 429,
            ConfigError | Internal => 500,
            RedisError | OriginError => 502,
            RedisUnavailable | OriginUnavailable | Unavailable | ShardUnseeded => 503,
        }
    }

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        NAMES
            .iter()
            .find(|(c, _)| *c == self)
            .map_or("internal", |(_, n)| n)
    }
}

/// Every code with its wire name, so `as_str` needs no allocation; a unit test checks it
/// against serde.
const NAMES: &[(ErrorCode, &str)] = {
    use ErrorCode::*;
    &[
        (MalformedJson, "malformed_json"),
        (BadRequest, "bad_request"),
        (MissingToken, "missing_token"),
        (Unauthorized, "unauthorized"),
        (TokenExpired, "token_expired"),
        (InvalidCustomerToken, "invalid_customer_token"),
        (CustomerRequired, "customer_required"),
        (InvalidToken, "invalid_token"),
        (CustomerMismatch, "customer_mismatch"),
        (CorsOriginDenied, "cors_origin_denied"),
        (NotFound, "not_found"),
        (UnknownSku, "unknown_sku"),
        (ReservationNotFound, "reservation_not_found"),
        (MethodNotAllowed, "method_not_allowed"),
        (InsufficientStock, "insufficient_stock"),
        (ReservationExpired, "reservation_expired"),
        (ReservationNotHeld, "reservation_not_held"),
        (ReservationConfirming, "reservation_confirming"),
        (ReservationCommitted, "reservation_committed"),
        (HoldLimitReached, "hold_limit_reached"),
        (IllegalTransition, "illegal_transition"),
        (OrderPlaced, "order_placed"),
        (OrderConfirmed, "order_confirmed"),
        (AlreadyConfirmed, "already_confirmed"),
        (PaymentRefInUse, "payment_ref_in_use"),
        (CustomerLimitReached, "customer_limit_reached"),
        (LocationUnavailable, "location_unavailable"),
        (ReservationIncomplete, "reservation_incomplete"),
        (BodyTooLarge, "body_too_large"),
        (UnsupportedMediaType, "unsupported_media_type"),
        (InvalidRequest, "invalid_request"),
        (InvalidQuantity, "invalid_quantity"),
        (InvalidSku, "invalid_sku"),
        (DuplicateSku, "duplicate_sku"),
        (InvalidLocation, "invalid_location"),
        (UnknownLocation, "unknown_location"),
        (TooManyItems, "too_many_items"),
        (TooManySkus, "too_many_skus"),
        (InvalidTtl, "invalid_ttl"),
        (IdempotencyKeyReused, "idempotency_key_reused"),
        (InvalidBody, "invalid_body"),
        (InvalidQuery, "invalid_query"),
        (MovementIdReused, "movement_id_reused"),
        (RestockRequired, "restock_required"),
        (RateLimited, "rate_limited"),
        (ConfigError, "config_error"),
        (Internal, "internal"),
        (RedisError, "redis_error"),
        (OriginError, "origin_error"),
        (RedisUnavailable, "redis_unavailable"),
        (OriginUnavailable, "origin_unavailable"),
        (Unavailable, "unavailable"),
        (ShardUnseeded, "shard_unseeded"),
    ]
};

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_serde_name_in_the_table_and_a_client_or_server_status() {
        for (code, name) in NAMES {
            assert_eq!(serde_json::to_value(code).unwrap(), *name, "{code:?}");
            assert_eq!(code.as_str(), *name);
            assert!((400..600).contains(&code.status()), "{code:?}");
        }
        assert_eq!(NAMES.len(), 53, "a new ErrorCode needs a row in NAMES");
    }
}
