//! The one error type of the domain: what went wrong in terms of orders, reservations and the
//! ledger, plus the catch-alls of the stores underneath. It knows nothing of HTTP: `http::error`
//! maps each variant to a status and a stable code.

use upstash_rest::Error as RedisError;

use super::lifecycle::{OrderEvent, OrderStatus};

/// Everything a domain operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No order with that id.
    #[error("unknown order")]
    UnknownOrder,
    /// Redis does not know the reservation (never held, or long gone).
    #[error("unknown reservation")]
    UnknownReservation,
    /// The hold ended before the confirm; `status` is what Redis says it became.
    #[error("the reservation is {status}")]
    ReservationExpired {
        /// `expired`, `released`, ...
        status: String,
    },
    /// Redis has the reservation committed but Postgres has no order for it.
    #[error("the reservation was committed without an order here")]
    CommittedWithoutOrder,
    /// A cancel of a reservation an order is being recorded for, before the order exists.
    #[error("the reservation is committed; cancel its order")]
    CommittedCancelOrder,
    /// The order is confirmed with another payment reference.
    #[error("the order is already confirmed with another payment_ref")]
    AlreadyConfirmed,
    /// The payment reference already confirmed another reservation's order.
    #[error("this payment_ref already confirmed another order")]
    PaymentRefInUse,
    /// A shopper's release of a reservation whose order is placed or confirmed; carries it.
    #[error("the reservation has an order ({status:?}); only the merchant can cancel it")]
    OrderExists {
        /// The order's status.
        status: super::lifecycle::OrderStatus,
    },
    /// A confirmed order cancelled without saying whether the units go back to stock.
    #[error("cancelling a confirmed order needs `restock: true` (units back on sale) or `false` (the goods left)")]
    RestockRequired,
    /// A late confirm (or a transfer) found a SKU short: nothing was taken (the merchant
    /// refunds).
    #[error("not enough units of {sku}{}: {available} available", location.as_deref().map(|l| format!(" at {l}")).unwrap_or_default())]
    InsufficientStock {
        /// The short SKU.
        sku: String,
        /// Units available.
        available: i64,
        /// The location it is short at.
        location: Option<String>,
    },
    /// No location with that code.
    #[error("unknown location {location}")]
    UnknownLocation {
        /// The code.
        location: String,
    },
    /// A 65th location.
    #[error("at most 64 locations: deactivate one instead of adding another")]
    TooManyLocations,
    /// A reserved SKU is missing from the catalogue (the foreign key of the order's items).
    #[error("a reserved SKU is not in the catalogue")]
    ReservedSkuUnknown,
    /// A reservation allocated units at a location Postgres does not know (Redis's settings
    /// and Postgres disagree: reconcile repairs them).
    #[error("a reserved location is not in the catalogue")]
    ReservedLocationUnknown,
    /// No SKU with that name in the catalogue.
    #[error("unknown sku")]
    UnknownSku,
    /// No webhook endpoint with that id.
    #[error("unknown webhook")]
    UnknownWebhook,
    /// A movement id already names another change (other SKU or quantity).
    #[error("movement_id was used for another change")]
    MovementIdReused,
    /// A change of on-hand beyond what one movement can carry.
    #[error("change too large")]
    ChangeTooLarge,
    /// An order status transition the lifecycle forbids; carries the state the order is in.
    #[error("the order is {}: {} is not allowed", from.as_str(), event.as_str())]
    IllegalTransition {
        /// The current status.
        from: OrderStatus,
        /// What was attempted.
        event: OrderEvent,
    },
    /// Redis unreachable or answering something unexpected (see [`RedisError::is_unavailable`]).
    #[error("redis error: {0}")]
    Redis(#[from] RedisError),
    /// Postgres failure.
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// A fault injected by a test stopped the operation (crash-safety tests).
    #[error("fault injected")]
    FaultInjected,
    /// Anything else (broken invariants, serialization).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Result of domain operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Maps a unique or foreign-key violation of a named constraint to a domain error.
pub trait ResultExt<T> {
    /// When the error is a violation of constraint `name`, replaces it with `f(err)`.
    ///
    /// # Errors
    /// The original or mapped error.
    fn on_constraint(
        self,
        name: &str,
        f: impl FnOnce(Box<dyn sqlx::error::DatabaseError>) -> Error,
    ) -> Result<T>;
}

impl<T, E: Into<Error>> ResultExt<T> for std::result::Result<T, E> {
    fn on_constraint(
        self,
        name: &str,
        f: impl FnOnce(Box<dyn sqlx::error::DatabaseError>) -> Error,
    ) -> Result<T> {
        self.map_err(|e| match e.into() {
            Error::Sqlx(sqlx::Error::Database(db)) if db.constraint() == Some(name) => f(db),
            e => e,
        })
    }
}
