//! What a customer may hold: SKUs that require a login, and the per-customer cap across
//! reservations.

use super::*;

#[tokio::test]
async fn a_sku_that_requires_a_customer_refuses_reserves_without_one() {
    let s = Stack::start(bindings(json!({}))).await;
    s.seed("DROP", 5, 0).await;
    s.seed("FREE", 5, 0).await;
    let drop = Sku::parse("DROP").unwrap();
    s.engine.set_require_customer(&drop, true).await.unwrap();
    let both = json!({"items": [{"sku": "FREE", "qty": 1}, {"sku": "DROP", "qty": 1}]});
    let a = reserve(&s, &both, Some(KEY), "198.51.100.110", None).await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::UNAUTHORIZED, "customer_required"),
        "{:?}",
        a.2
    );
    assert_eq!(a.2["error"]["sku"], "DROP");
    // Nothing held, not even the SKU that needs no login.
    assert_eq!(available(&s, "FREE").await, 5);
    assert_eq!(available(&s, "DROP").await, 5);
    // A bad customer token is still 401 invalid_customer_token, not a way around it.
    let a = reserve(&s, &both, Some(KEY), "198.51.100.110", Some("x.y.z")).await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::UNAUTHORIZED, "invalid_customer_token"),
        "{:?}",
        a.2
    );
    // A signed-in customer reserves it.
    let a = reserve(&s, &both, Some(KEY), "198.51.100.110", Some(&jwt("carol"))).await;
    assert_eq!(a.0, StatusCode::CREATED, "{:?}", a.2);
    assert_eq!(available(&s, "DROP").await, 4);
    // Cleared, the SKU is open to everyone again.
    s.engine.set_require_customer(&drop, false).await.unwrap();
    let one = json!({"items": [{"sku": "DROP", "qty": 1}]});
    let a = reserve(&s, &one, None, "198.51.100.111", None).await;
    assert_eq!(a.0, StatusCode::CREATED, "{:?}", a.2);
    assert_eq!(available(&s, "DROP").await, 3);
}

#[tokio::test]
async fn one_customer_cannot_hold_more_than_the_cap_across_reservations() {
    let s = Stack::start(bindings(json!({
        "MAX_UNITS_PER_CUSTOMER": "2",
        "CUSTOMER_RATE_LIMIT_PER_MINUTE": "0",
    })))
    .await;
    s.seed("CAP", 10, 0).await;
    let (alice, bob) = (jwt("alice"), jwt("bob"));
    let two = json!({"items": [{"sku": "CAP", "qty": 2}]});
    let one = json!({"items": [{"sku": "CAP", "qty": 1}]});
    let a = reserve(&s, &two, None, "198.51.100.60", Some(&alice)).await;
    assert_eq!(a.0, StatusCode::CREATED, "{:?}", a.2);
    let (id, token) = (
        a.2["reservation_id"].as_str().unwrap().to_owned(),
        a.2["token"].as_str().unwrap().to_owned(),
    );
    // Another reservation, another IP, another cart: the customer is the same.
    let b = reserve(
        &s,
        &json!({"items": [{"sku": "CAP", "qty": 1}], "cart_id": "cart-2"}),
        None,
        "203.0.113.61",
        Some(&alice),
    )
    .await;
    assert_eq!(
        (b.0, code(&b)),
        (StatusCode::CONFLICT, "customer_limit_reached"),
        "{:?}",
        b.2
    );
    assert_eq!(
        (
            b.2["error"]["sku"].as_str(),
            b.2["error"]["available"].as_i64()
        ),
        (Some("CAP"), Some(0))
    );
    assert_eq!(
        available(&s, "CAP").await,
        8,
        "a refused reserve holds nothing"
    );
    let c = reserve(&s, &two, None, "198.51.100.62", Some(&bob)).await;
    assert_eq!(c.0, StatusCode::CREATED, "another customer: {:?}", c.2);
    // Released, the units no longer count.
    let r = call(
        &s,
        Method::DELETE,
        &format!("/v1/reservations/{id}"),
        &token,
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(r.0, StatusCode::OK, "{:?}", r.2);
    let d = reserve(&s, &one, None, "198.51.100.63", Some(&alice)).await;
    assert_eq!(d.0, StatusCode::CREATED, "{:?}", d.2);
    // Without a token the cap does not apply (nor does it identify anyone).
    let e = reserve(&s, &two, None, "198.51.100.64", None).await;
    assert_eq!(e.0, StatusCode::CREATED, "{:?}", e.2);
}
