//! Holds made straight through the engine, as the edge would make them.

use edgestock_core::domain::Sku;
use edgestock_core::scripts::{Line, ReserveOutcome, ReserveRequest};

/// Holds `qty` of `sku` through `engine` (e.g. one with a clock offset); returns the reservation id.
pub(crate) async fn reserve_with(engine: &origin::state::Redis, sku: &str, qty: u32) -> String {
    reserve_at(engine, sku, qty, None).await
}

/// Holds `qty` of `sku` for shipping, or for pickup at `pickup`; returns the reservation id.
pub(crate) async fn reserve_at(
    engine: &origin::state::Redis,
    sku: &str,
    qty: u32,
    pickup: Option<&str>,
) -> String {
    match try_reserve_at(engine, sku, qty, pickup).await {
        ReserveOutcome::Held(h) => h.id,
        out => panic!("reserve: {out:?}"),
    }
}

/// Reserves `qty` of `sku` (for pickup at `pickup`) under a fresh id, whatever the answer.
pub(crate) async fn try_reserve_at(
    engine: &origin::state::Redis,
    sku: &str,
    qty: u32,
    pickup: Option<&str>,
) -> ReserveOutcome {
    engine
        .reserve(&ReserveRequest {
            id: uuid::Uuid::now_v7().to_string(),
            fingerprint: "fp".into(),
            items: vec![Line {
                sku: Sku::parse(sku).unwrap(),
                qty,
            }],
            pickup: pickup.map(|p| edgestock_core::domain::Location::parse(p).unwrap()),
            ttl_ms: 60_000,
            max_hold_ms: 600_000,
            rate_limit: None,
            customer: None,
            cap: None,
            owner: "test".into(),
        })
        .await
        .expect("reserve")
}
