//! Stock badges: the public view of a SKU's level.

use edgestock_api::edge::{LocationStock, Stock, StockStatus};
use edgestock_core::scripts::{PickupLevel, StockLevel};

/// Badge status of an available count against the low-stock threshold.
pub fn badge_status(available: i64, low_threshold: i64) -> StockStatus {
    if available <= 0 {
        StockStatus::SoldOut
    } else if available <= low_threshold {
        StockStatus::LowStock
    } else {
        StockStatus::InStock
    }
}

/// `{sku, available?, status, low_stock_threshold}`; `available` only at or below the threshold
/// unless `expose_exact` (a competitor should not learn the depth of a large stock).
/// A SKU that was never stocked reads `{sku, status: "unknown"}` (batch reads only).
pub fn stock(level: &StockLevel, expose_exact: bool) -> Stock {
    let sku = level.sku.as_str().to_owned();
    if !level.exists {
        return Stock {
            sku,
            status: StockStatus::Unknown,
            low_stock_threshold: None,
            available: None,
            locations: None,
        };
    }
    let available = level.available();
    Stock {
        sku,
        status: badge_status(available, level.low_threshold),
        low_stock_threshold: Some(level.low_threshold),
        available: shown(available, level.low_threshold, expose_exact),
        locations: None,
    }
}

/// An exact count is shown at or below the threshold, or always with `expose_exact` (a
/// competitor should not learn the depth of a large stock).
fn shown(available: i64, low_threshold: i64, expose_exact: bool) -> Option<i64> {
    (expose_exact || available <= low_threshold).then_some(available)
}

/// The pickup locations' badges, each under the SKU's threshold and the same `available` rule.
pub fn locations(
    level: &StockLevel,
    pickup: &[PickupLevel],
    expose_exact: bool,
) -> Vec<LocationStock> {
    pickup
        .iter()
        .map(|l| LocationStock {
            location: l.location.as_str().to_owned(),
            name: l.name.clone(),
            status: badge_status(l.available, level.low_threshold),
            available: shown(l.available, level.low_threshold, expose_exact),
        })
        .collect()
}

/// `Cache-Control` of stock reads: shared caches and browsers may keep it `seconds`.
pub fn cache_control(seconds: u32) -> String {
    if seconds == 0 {
        "no-store".to_owned()
    } else {
        format!("public, max-age={seconds}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn stock_json(level: &StockLevel, expose_exact: bool) -> Value {
        serde_json::to_value(stock(level, expose_exact)).unwrap()
    }

    fn name(s: StockStatus) -> Value {
        serde_json::to_value(s).unwrap()
    }
    use edgestock_core::domain::Sku;

    fn level(on_hand: i64, reserved: i64, low: i64) -> StockLevel {
        StockLevel {
            sku: Sku::parse("A").unwrap(),
            exists: true,
            on_hand,
            reserved,
            low_threshold: low,
        }
    }

    #[test]
    fn statuses_follow_the_threshold() {
        assert_eq!(name(badge_status(0, 5)), "sold_out");
        assert_eq!(name(badge_status(-1, 5)), "sold_out");
        assert_eq!(name(badge_status(1, 5)), "low_stock");
        assert_eq!(name(badge_status(5, 5)), "low_stock");
        assert_eq!(name(badge_status(6, 5)), "in_stock");
        assert_eq!(name(badge_status(1, 0)), "in_stock");
    }

    #[test]
    fn exact_counts_only_at_or_below_the_threshold_unless_exposed() {
        assert_eq!(
            stock_json(&level(100, 10, 5), false),
            json!({"sku": "A", "status": "in_stock", "low_stock_threshold": 5})
        );
        assert_eq!(
            stock_json(&level(100, 10, 5), true),
            json!({"sku": "A", "status": "in_stock", "low_stock_threshold": 5, "available": 90})
        );
        assert_eq!(
            stock_json(&level(10, 7, 5), false),
            json!({"sku": "A", "status": "low_stock", "low_stock_threshold": 5, "available": 3})
        );
        assert_eq!(stock_json(&level(10, 10, 5), false)["available"], 0);
        assert_eq!(stock_json(&level(10, 10, 5), false)["status"], "sold_out");
        let unknown = StockLevel {
            exists: false,
            ..level(0, 0, 0)
        };
        assert_eq!(
            stock_json(&unknown, false),
            json!({"sku": "A", "status": "unknown"})
        );
    }

    #[test]
    fn cache_control_header() {
        assert_eq!(cache_control(1), "public, max-age=1");
        assert_eq!(cache_control(0), "no-store");
    }
}
