//! Multi-location stock across the whole stack: a split reserve through the worker, placed and
//! confirmed, then cancelled with a restock, and a pickup order, each landing on its own
//! locations in Redis and in the ledger; a transfer moves units once.

use super::*;

use testkit_stack::full::ADMIN_API_KEY;

async fn admin(s: &FullStack, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let res = s
        .http
        .request(method, s.origin(path))
        .bearer_auth(ADMIN_API_KEY)
        .json(&body)
        .send()
        .await
        .expect("origin request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// `{location: (on_hand, held)}` from the admin read.
async fn levels(s: &FullStack, sku: &str) -> Vec<(String, i64, i64)> {
    let res = s
        .http
        .get(s.origin(&format!("/v1/admin/skus/{sku}/locations")))
        .bearer_auth(ADMIN_API_KEY)
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    let mut out: Vec<(String, i64, i64)> = body["locations"]
        .as_array()
        .expect("locations")
        .iter()
        .map(|l| {
            (
                l["location"].as_str().unwrap().to_owned(),
                l["on_hand"].as_i64().unwrap(),
                l["held"].as_i64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

async fn movements(s: &FullStack, sku: &str) -> Vec<(String, String, i32)> {
    sqlx::query_as(
        "select kind::text, location, qty from stock_movements where sku = $1 order by id",
    )
    .bind(sku)
    .fetch_all(&s.pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_place_confirm_cancel_restock_pickup_and_transfer_land_on_their_locations() {
    let s = FullStack::start(&redis_url(), json!({"RATE_LIMIT_PER_MINUTE": "0"}), &[]).await;
    for (code, priority, ships, pickup) in [("wh-a", 1, true, false), ("store-9", 7, false, true)] {
        let (st, body) = admin(
            &s,
            reqwest::Method::PUT,
            &format!("/v1/admin/locations/{code}"),
            json!({"name": format!("Loc {code}"), "kind": if pickup { "store" } else { "warehouse" },
                   "priority": priority, "active": true, "ships": ships, "pickup": pickup}),
        )
        .await;
        assert_eq!(st, 201, "{body}");
    }
    // 4 at default (priority 0), then 3 moved to wh-a and 1 to store-9.
    s.put_sku("LOC-1", 8, 1).await;
    for (to, qty, id) in [("wh-a", 3, "loc-tr-1"), ("store-9", 1, "loc-tr-2")] {
        let (st, body) = admin(
            &s,
            reqwest::Method::POST,
            "/v1/admin/skus/LOC-1/transfers",
            json!({"from": "default", "to": to, "qty": qty, "movement_id": id}),
        )
        .await;
        assert_eq!(st, 201, "{body}");
    }
    s.wait_until("the transfers at the edge", || async {
        s.edge_stock("LOC-1").await["status"] == "in_stock"
    })
    .await;
    assert_eq!(
        levels(&s, "LOC-1").await,
        [
            ("default".into(), 4, 0),
            ("store-9".into(), 1, 0),
            ("wh-a".into(), 3, 0)
        ]
    );

    // A shipping reserve of 6 splits: 4 from default, 2 from wh-a; the store is not shipping.
    let res = s
        .http
        .post(s.edge("/v1/reservations"))
        .header("idempotency-key", "loc-split-0123456789abcdef")
        .json(&json!({"items": [{"sku": "LOC-1", "qty": 6}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let held: Value = res.json().await.unwrap();
    let split = json!([{"sku": "LOC-1", "qty": 6, "allocation": [
        {"location": "default", "qty": 4}, {"location": "wh-a", "qty": 2}
    ]}]);
    assert_eq!(held["items"], split);
    let id = held["reservation_id"].as_str().unwrap().to_owned();
    let token = held["token"].as_str().unwrap().to_owned();
    let (st, body) = post_token(
        &s,
        &format!("/v1/reservations/{id}/confirm"),
        &token,
        "loc-place",
        json!({}),
    )
    .await;
    assert_eq!(st, 201, "{body}");
    let (st, order) = backend_confirm(&s, &id).await;
    assert_eq!(st, 201, "{order}");
    assert_eq!(order["items"], split, "the order shows the same allocation");
    assert_eq!(
        levels(&s, "LOC-1").await,
        [
            ("default".into(), 0, 0),
            ("store-9".into(), 1, 0),
            ("wh-a".into(), 1, 0)
        ]
    );

    // Cancelled with a restock: each part goes back where it was sold from.
    let order_id = order["order_id"].as_str().unwrap();
    let res = s
        .http
        .post(s.origin(&format!("/v1/orders/{order_id}/cancel")))
        .bearer_auth(testkit_stack::full::ORIGIN_API_KEY)
        .json(&json!({"restock": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200, "{}", res.text().await.unwrap());
    s.wait_until("the restock in Redis", || async {
        levels(&s, "LOC-1").await
            == [
                ("default".to_owned(), 4, 0),
                ("store-9".to_owned(), 1, 0),
                ("wh-a".to_owned(), 3, 0),
            ]
    })
    .await;

    // A pickup at the store holds its unit there, and is confirmed there.
    let res = s
        .http
        .post(s.edge("/v1/reservations"))
        .header("idempotency-key", "loc-pickup-0123456789abcdef")
        .json(&json!({"items": [{"sku": "LOC-1", "qty": 1}], "pickup_location": "store-9"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let held: Value = res.json().await.unwrap();
    let id = held["reservation_id"].as_str().unwrap().to_owned();
    let (st, order) = backend_confirm(&s, &id).await;
    assert_eq!(st, 201, "{order}");
    assert_eq!(
        order["items"],
        json!([{"sku": "LOC-1", "qty": 1, "allocation": [{"location": "store-9", "qty": 1}]}])
    );
    s.wait_until("the pickup sale in Redis", || async {
        levels(&s, "LOC-1")
            .await
            .contains(&("store-9".to_owned(), 0, 0))
    })
    .await;

    // The ledger, in order: every movement at its location.
    let kinds: Vec<(String, String, i32)> = movements(&s, "LOC-1").await;
    let want: Vec<(String, String, i32)> = [
        ("initial", "default", 8),
        ("transfer", "default", -3),
        ("transfer", "wh-a", 3),
        ("transfer", "default", -1),
        ("transfer", "store-9", 1),
        ("sale", "default", -4),
        ("sale", "wh-a", -2),
        ("cancellation", "default", 4),
        ("cancellation", "wh-a", 2),
        ("sale", "store-9", -1),
    ]
    .iter()
    .map(|(k, l, q)| ((*k).to_owned(), (*l).to_owned(), *q))
    .collect();
    assert_eq!(kinds, want);
    // And Redis agrees with the ledger at every location.
    let res = s
        .http
        .get(s.origin("/v1/admin/reconcile?sku=LOC-1"))
        .bearer_auth(ADMIN_API_KEY)
        .send()
        .await
        .unwrap();
    let rec: Value = res.json().await.unwrap();
    assert_eq!(rec["drifting"], 0, "{rec}");
    s.stop().await;
}
