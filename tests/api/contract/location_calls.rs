//! The origin's location operations: settings, per-location levels and transfers.

use serde_json::{json, Value};

use super::probe::{Origin, Probe};
use testkit_stack::full::{FullStack, ADMIN_API_KEY, ORIGIN_API_KEY};

pub(super) async fn run(s: &FullStack, p: &mut Probe) {
    let http = &s.http;
    let o = |path: &str| s.origin(path);
    let put = |code: &str, body: &Value| {
        http.put(o(&format!("/v1/admin/locations/{code}")))
            .bearer_auth(ADMIN_API_KEY)
            .json(body)
    };

    // A store that offers pickup and does not ship, so the other calls' allocations stay put.
    let t = "/v1/admin/locations/{code}";
    let store = json!({"name": "OpenAPI store", "kind": "store", "priority": 5,
                       "active": true, "ships": false, "pickup": true});
    let a = p.call(Origin, t, put("oas-store", &store)).await.want(201);
    assert_eq!(a.body["code"], "oas-store");
    p.call(Origin, t, put("oas-store", &store)).await.want(200);
    p.call(Origin, t, put("bad%20code", &store))
        .await
        .want_error(422, "invalid_location");
    p.call(
        Origin,
        t,
        put("oas-x", &json!({"name": "x", "kind": "depot"})),
    )
    .await
    .want_error(422, "invalid_body");
    p.call(
        Origin,
        t,
        http.put(o("/v1/admin/locations/oas-store"))
            .bearer_auth(ORIGIN_API_KEY)
            .json(&store),
    )
    .await
    .want_error(401, "unauthorized");
    let a = p
        .call(
            Origin,
            t,
            http.get(o("/v1/admin/locations/oas-store"))
                .bearer_auth(ADMIN_API_KEY),
        )
        .await
        .want(200);
    assert_eq!(a.body["pickup"], true);
    p.call(
        Origin,
        t,
        http.get(o("/v1/admin/locations/nowhere"))
            .bearer_auth(ADMIN_API_KEY),
    )
    .await
    .want_error(404, "not_found");
    let t = "/v1/admin/locations";
    let a = p
        .call(Origin, t, http.get(o(t)).bearer_auth(ADMIN_API_KEY))
        .await
        .want(200);
    let codes: Vec<&str> = a.body["locations"]
        .as_array()
        .or_else(|| a.body.as_array())
        .expect("a list")
        .iter()
        .filter_map(|l| l["code"].as_str())
        .collect();
    assert_eq!(codes, ["default", "oas-store"], "{}", a.text);

    // Transfers.
    let t = "/v1/admin/skus/{sku}/transfers";
    let transfer = |body: &Value| {
        http.post(o("/v1/admin/skus/OAS-A/transfers"))
            .bearer_auth(ADMIN_API_KEY)
            .json(body)
    };
    let body = json!({"from": "default", "to": "oas-store", "qty": 2, "movement_id": "oas-tr-1"});
    p.call(Origin, t, transfer(&body)).await.want(201);
    let a = p.call(Origin, t, transfer(&body)).await.want(200);
    assert_eq!(a.body["replay"], true);
    p.call(
        Origin,
        t,
        transfer(&json!({"from": "default", "to": "nowhere", "qty": 1, "movement_id": "oas-tr-2"})),
    )
    .await
    .want_error(422, "unknown_location");
    p.call(
        Origin,
        t,
        transfer(
            &json!({"from": "oas-store", "to": "default", "qty": 3, "movement_id": "oas-tr-3"}),
        ),
    )
    .await
    .want_error(409, "insufficient_stock");

    // Per-location levels.
    let t = "/v1/admin/skus/{sku}/locations";
    let a = p
        .call(
            Origin,
            t,
            http.get(o("/v1/admin/skus/OAS-A/locations"))
                .bearer_auth(ADMIN_API_KEY),
        )
        .await
        .want(200);
    let store = a.body["locations"]
        .as_array()
        .expect("locations")
        .iter()
        .find(|l| l["location"] == "oas-store")
        .cloned()
        .expect("the store's level");
    assert_eq!(store["on_hand"], 2, "{}", a.text);
    p.call(
        Origin,
        t,
        http.get(o("/v1/admin/skus/OAS-NONE/locations"))
            .bearer_auth(ADMIN_API_KEY),
    )
    .await
    .want_error(404, "not_found");
}
