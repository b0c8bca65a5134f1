//! The origin's webhook subscriptions: create, list, replay, the delivery log, delete, and their
//! cheap failures. The subscription names a SKU that sees no events, so nothing is sent.

use serde_json::json;

use super::probe::{Origin, Probe};
use testkit_stack::full::{FullStack, ADMIN_API_KEY};

pub(super) async fn run(s: &FullStack, p: &mut Probe) {
    let http = &s.http;
    let o = |path: &str| s.origin(path);
    let t = "/v1/admin/webhooks";
    let body = json!({"url": "https://hooks.example.com/edgestock", "event_types": ["stock.sold_out", "order.placed"], "skus": ["OAS-QUIET"]});
    let a = p
        .call(
            Origin,
            t,
            http.post(o(t)).bearer_auth(ADMIN_API_KEY).json(&body),
        )
        .await
        .want(201);
    assert!(
        a.body["secret"].as_str().unwrap().starts_with("whsec_"),
        "{}",
        a.text
    );
    let id = a.body["webhook"]["id"].as_str().unwrap().to_owned();
    let a = p
        .call(
            Origin,
            t,
            http.post(o(t))
                .bearer_auth(ADMIN_API_KEY)
                .json(&json!({"url": "http://hooks.example.com/", "event_types": ["stock.low"]})),
        )
        .await
        .want_error(422, "invalid_request");
    assert_eq!(a.body["error"]["field"], "url", "{}", a.text);
    p.call(Origin, t, http.post(o(t)).json(&body))
        .await
        .want_error(401, "unauthorized");
    let a = p
        .call(Origin, t, http.get(o(t)).bearer_auth(ADMIN_API_KEY))
        .await
        .want(200);
    assert_eq!(a.body["webhooks"][0]["id"], id.as_str(), "{}", a.text);

    let t = "/v1/admin/webhooks/{id}/replay";
    let replay = |q: &str| http.post(o(&format!("/v1/admin/webhooks/{id}/replay{q}")));
    let a = p
        .call(
            Origin,
            t,
            replay("?since=2026-01-01T00:00:00Z").bearer_auth(ADMIN_API_KEY),
        )
        .await
        .want(200);
    assert_eq!(a.body, json!({"queued": 0, "truncated": false}));
    p.call(
        Origin,
        t,
        replay("?since=yesterday").bearer_auth(ADMIN_API_KEY),
    )
    .await
    .want_error(422, "invalid_request");
    let ghost =
        "/v1/admin/webhooks/00000000-0000-0000-0000-000000000000/replay?since=2026-01-01T00:00:00Z";
    p.call(Origin, t, http.post(o(ghost)).bearer_auth(ADMIN_API_KEY))
        .await
        .want_error(404, "not_found");

    let t = "/v1/admin/webhooks/{id}/attempts";
    let a = p
        .call(
            Origin,
            t,
            http.get(o(&format!("/v1/admin/webhooks/{id}/attempts")))
                .bearer_auth(ADMIN_API_KEY),
        )
        .await
        .want(200);
    assert_eq!(a.body, json!({"attempts": []}));

    let t = "/v1/admin/webhooks/{id}";
    let delete = || http.delete(o(&format!("/v1/admin/webhooks/{id}")));
    p.call(Origin, t, delete().bearer_auth(ADMIN_API_KEY))
        .await
        .want(204);
    p.call(Origin, t, delete().bearer_auth(ADMIN_API_KEY))
        .await
        .want_error(404, "not_found");
    let t = "/v1/admin/webhooks/{id}/attempts";
    p.call(
        Origin,
        t,
        http.get(o(&format!("/v1/admin/webhooks/{id}/attempts")))
            .bearer_auth(ADMIN_API_KEY),
    )
    .await
    .want_error(404, "not_found");
}
