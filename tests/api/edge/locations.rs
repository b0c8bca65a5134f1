//! Multi-location stock through the worker: a race over a SKU stocked in three locations, the
//! pickup choice, the per-location read, and a settings change between two reserves.

use edgestock_core::domain::{Location, Sku};
use edgestock_core::scripts::{LocationLevel, LocationSettings};

use super::*;

fn setting(code: &str, priority: i32, active: bool, ships: bool, pickup: bool) -> LocationSettings {
    LocationSettings {
        code: Location::parse(code).unwrap(),
        name: format!("The {code}"),
        priority,
        active,
        ships,
        pickup,
    }
}

/// wh-a (priority 1) 3 units, wh-b (2) 5, store-1 (3; ships and pickup) 2; store-0 (pickup
/// only) 0; `default` (9) 0.
async fn three_locations(s: &Stack, sku: &str, active_a: bool) {
    s.engine
        .put_locations(&[
            setting("default", 9, true, true, false),
            setting("wh-a", 1, active_a, true, false),
            setting("wh-b", 2, true, true, false),
            setting("store-1", 3, true, true, true),
            setting("store-0", 4, true, false, true),
        ])
        .await
        .unwrap();
    for (l, n) in [("wh-a", 3), ("wh-b", 5), ("store-1", 2)] {
        s.seed_at(sku, l, n, 2).await;
    }
}

async fn levels(s: &Stack, sku: &str) -> Vec<(String, i64, i64)> {
    let mut v: Vec<LocationLevel> = s
        .engine
        .stock_by_location(&Sku::parse(sku).unwrap())
        .await
        .unwrap();
    v.retain(|l| l.on_hand != 0 || l.reserved != 0);
    v.iter()
        .map(|l| (l.location.as_str().to_owned(), l.on_hand, l.reserved))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_shoppers_for_3_plus_5_plus_2_units_make_ten_holds_allocated_by_priority() {
    let s =
        Stack::start(json!({"RATE_LIMIT_PER_MINUTE": "0", "SOLD_OUT_CACHE_SECONDS": "0"})).await;
    three_locations(&s, "TRIO", true).await;
    assert_eq!(available(&s, "TRIO").await, 10);
    let url = s.url("/v1/reservations");
    let tasks = (0..40).map(|i| {
        let http = s.http.clone();
        let url = url.clone();
        tokio::spawn(async move {
            let resp = http
                .post(&url)
                .header("idempotency-key", format!("trio-buyer-{i:012}"))
                .json(&json!({"items": [{"sku": "TRIO", "qty": 1}]}))
                .send()
                .await
                .expect("reserve");
            answer(resp).await
        })
    });
    let mut at: Vec<(i64, String)> = Vec::new();
    let mut refused = 0;
    for r in futures::future::join_all(tasks).await {
        let a = r.expect("task");
        match a.0 {
            StatusCode::CREATED => {
                let alloc = &a.2["items"][0]["allocation"];
                assert_eq!(alloc.as_array().unwrap().len(), 1, "{alloc}");
                at.push((
                    a.2["created_at_ms"].as_i64().unwrap(),
                    alloc[0]["location"].as_str().unwrap().to_owned(),
                ));
            }
            StatusCode::CONFLICT => {
                assert_eq!(code(&a), "insufficient_stock");
                assert_eq!(a.2["error"]["available"], 0);
                refused += 1;
            }
            other => panic!("unexpected {other}: {:?}", a.2),
        }
    }
    assert_eq!((at.len(), refused), (10, 30));
    let count = |l: &str| at.iter().filter(|(_, x)| x == l).count();
    assert_eq!((count("wh-a"), count("wh-b"), count("store-1")), (3, 5, 2));
    // Priority order: no hold at a worse location was made before a better one ran out (the
    // scripts run one at a time, so Redis's clock orders them).
    // (Holds made in the same millisecond are ordered by rank: the clock cannot tell them apart.)
    let rank = |l: &str| {
        ["wh-a", "wh-b", "store-1"]
            .iter()
            .position(|x| *x == l)
            .unwrap()
    };
    at.sort_by_key(|(ms, l)| (*ms, rank(l)));
    let order: Vec<&str> = at.iter().map(|(_, l)| l.as_str()).collect();
    assert!(order.windows(2).all(|w| rank(w[0]) <= rank(w[1])), "{at:?}");
    assert_eq!(
        levels(&s, "TRIO").await,
        [
            ("store-1".to_owned(), 2, 2),
            ("wh-a".to_owned(), 3, 3),
            ("wh-b".to_owned(), 5, 5)
        ]
    );
    assert_eq!(get(&s, "/v1/stock/TRIO").await.2["status"], "sold_out");
}

#[tokio::test]
async fn a_line_splits_and_a_pickup_at_an_empty_store_is_refused_with_its_location() {
    let s = Stack::start(json!({"RATE_LIMIT_PER_MINUTE": "0"})).await;
    three_locations(&s, "SPLIT", true).await;
    let a = reserve(&s, json!({"items": [{"sku": "SPLIT", "qty": 4}]})).await;
    assert_eq!(a.0, StatusCode::CREATED, "{:?}", a.2);
    let want = json!([{"sku": "SPLIT", "qty": 4, "allocation": [
        {"location": "wh-a", "qty": 3}, {"location": "wh-b", "qty": 1}
    ]}]);
    assert_eq!(a.2["items"], want);
    let id = a.2["reservation_id"].as_str().unwrap().to_owned();
    let token = a.2["token"].as_str().unwrap().to_owned();
    let got = with_token(
        &s,
        reqwest::Method::GET,
        &format!("/v1/reservations/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(got.2["items"], want, "GET shows the same allocation");

    // The store has 0 while the warehouses still have 4: a pickup there is refused.
    let before = levels(&s, "SPLIT").await;
    let p = reserve(
        &s,
        json!({"items": [{"sku": "SPLIT", "qty": 1}], "pickup_location": "store-0"}),
    )
    .await;
    assert_eq!(p.0, StatusCode::CONFLICT);
    assert_eq!(
        p.2["error"],
        json!({"code": "insufficient_stock", "message": p.2["error"]["message"],
               "sku": "SPLIT", "available": 0, "location": "store-0"})
    );
    for (body, status, code_) in [
        (
            json!({"items": [{"sku": "SPLIT", "qty": 1}], "pickup_location": "wh-a"}),
            StatusCode::CONFLICT,
            "location_unavailable",
        ),
        (
            json!({"items": [{"sku": "SPLIT", "qty": 1}], "pickup_location": "nowhere"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_location",
        ),
        (
            json!({"items": [{"sku": "SPLIT", "qty": 1}], "pickup_location": "bad code"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_location",
        ),
    ] {
        let r = reserve(&s, body).await;
        assert_eq!((r.0, code(&r)), (status, code_), "{:?}", r.2);
    }
    assert_eq!(
        levels(&s, "SPLIT").await,
        before,
        "refusals changed nothing"
    );

    // A pickup at the store that has units takes them there only.
    let k = reserve(
        &s,
        json!({"items": [{"sku": "SPLIT", "qty": 2}], "pickup_location": "store-1"}),
    )
    .await;
    assert_eq!(k.0, StatusCode::CREATED, "{:?}", k.2);
    assert_eq!(
        k.2["items"][0]["allocation"],
        json!([{"location": "store-1", "qty": 2}])
    );

    // The per-location read: store-1 now has 0, store-0 has 0; the SKU's 4 left ship.
    let r = get(&s, "/v1/stock/SPLIT?locations=true").await;
    assert_eq!(r.0, StatusCode::OK);
    assert_eq!(
        r.2["locations"],
        json!([
            {"location": "store-1", "name": "The store-1", "status": "sold_out", "available": 0},
            {"location": "store-0", "name": "The store-0", "status": "sold_out", "available": 0}
        ])
    );
    assert_eq!(r.2["status"], "in_stock");
}

#[tokio::test]
async fn a_deactivated_location_is_skipped_by_the_next_reserve_and_its_holds_release_there() {
    let s = Stack::start(json!({"RATE_LIMIT_PER_MINUTE": "0"})).await;
    three_locations(&s, "OFF", true).await;
    let a = reserve(&s, json!({"items": [{"sku": "OFF", "qty": 1}]})).await;
    assert_eq!(
        a.2["items"][0]["allocation"],
        json!([{"location": "wh-a", "qty": 1}])
    );
    three_locations(&s, "OFF2", false).await; // the same settings with wh-a inactive
    let b = reserve(&s, json!({"items": [{"sku": "OFF", "qty": 1}]})).await;
    assert_eq!(
        b.2["items"][0]["allocation"],
        json!([{"location": "wh-b", "qty": 1}])
    );
    let id = a.2["reservation_id"].as_str().unwrap();
    let token = a.2["token"].as_str().unwrap();
    let r = with_token(
        &s,
        reqwest::Method::DELETE,
        &format!("/v1/reservations/{id}"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(r.0, StatusCode::OK, "{:?}", r.2);
    let l = levels(&s, "OFF").await;
    assert!(l.contains(&("wh-a".to_owned(), 3, 0)), "{l:?}");
    assert!(l.contains(&("wh-b".to_owned(), 5, 1)), "{l:?}");
}
