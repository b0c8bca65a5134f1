//! Place (the shopper's confirm) and cancel forwarded to the origin's edge routes, and the
//! mapping of its answers.

use super::*;

#[test]
fn confirm_places_the_order_signed_and_origin_failures_map() {
    let p = Fake::default();
    let id = "0123456789abcdef0123456789abcdef";
    let auth = format!(
        "Bearer {}",
        crypto::reservation_token("secret", id, 1_800_000_000)
    );
    p.0.borrow_mut().origin_reply = Some(Ok(OriginResponse {
        status: 201,
        body: br#"{"order_id":"o1","status":"confirmed"}"#.to_vec(),
        retry_after: None,
    }));
    let rq = with_header(
        with_json(req("POST", &format!("/v1/reservations/{id}/confirm")), "{}"),
        "authorization",
        &auth,
    );
    let c = cfg_with(&[("ORIGIN_URL", "http://origin:8080/base/")]);
    let r = run(&p, &c, &rq);
    assert_eq!(r.code(), 201);
    assert_eq!(json_of(&r)["order_id"], "o1");
    let sent = p.0.borrow().origin_sent[0].clone();
    assert_eq!(
        sent.url,
        format!("http://origin:8080/base/v1/reservations/{id}/place")
    );
    assert_eq!(sent.body, b"{}");
    let h = |n: &str| {
        sent.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(h("idempotency-key"), None, "nothing unsigned is forwarded");
    assert_eq!(h("x-edgestock-timestamp").as_deref(), Some("1700000000"));
    assert_eq!(
        h("x-edgestock-signature").unwrap(),
        edgestock_core::signing::sign(
            b"osecret",
            "POST",
            &format!("/base/v1/reservations/{id}/place"),
            1_700_000_000,
            &sent.body
        )
    );

    // Origin errors in our shape pass through; others are wrapped; transport failures are 503.
    let cases = [
        (
            Ok((
                409,
                r#"{"error":{"code":"reservation_expired","message":"gone"}}"#,
            )),
            409,
            "reservation_expired",
        ),
        (Ok((500, r#"{"error":"boom"}"#)), 500, "origin_error"),
        (Ok((502, "<html>bad gateway</html>")), 502, "origin_error"),
        (Err(TransportError::Timeout), 503, "origin_unavailable"),
        (
            Err(TransportError::Failed("refused".into())),
            503,
            "origin_unavailable",
        ),
    ];
    for (reply, status, code) in cases {
        p.0.borrow_mut().origin_reply = Some(reply.map(|(s, b)| OriginResponse {
            status: s,
            body: b.as_bytes().to_vec(),
            retry_after: None,
        }));
        let r = run(&p, &c, &rq);
        assert_eq!(
            (r.code(), json_of(&r)["error"]["code"].as_str()),
            (status, Some(code))
        );
    }
}

/// Finding 3 of the red-team review: the browser's confirm body carried `payment_ref` and
/// `customer_ref` to the origin's confirm, so a shopper could mark an order paid. Any field in it
/// is now refused before anything is forwarded.
#[test]
fn adversary_the_browser_cannot_say_anything_about_payment() {
    let p = Fake::default();
    let id = "0123456789abcdef0123456789abcdef";
    let auth = format!(
        "Bearer {}",
        crypto::reservation_token("secret", id, 1_800_000_000)
    );
    for body in [
        r#"{"payment_ref":"pay-9"}"#,
        r#"{"customer_ref":"c9"}"#,
        r#"{"status":"CONFIRMED"}"#,
    ] {
        let rq = with_header(
            with_json(req("POST", &format!("/v1/reservations/{id}/confirm")), body),
            "authorization",
            &auth,
        );
        let r = run(&p, &cfg(), &rq);
        assert_eq!(
            (r.code(), json_of(&r)["error"]["code"].as_str()),
            (422, Some("invalid_request")),
            "{body}"
        );
    }
    assert!(p.0.borrow().origin_sent.is_empty(), "nothing was forwarded");
}

#[test]
fn cancel_forwards_to_the_origin_release_route() {
    let p = Fake::default();
    let id = "0123456789abcdef0123456789abcdef";
    let auth = format!(
        "Bearer {}",
        crypto::reservation_token("secret", id, 1_800_000_000)
    );
    p.0.borrow_mut().origin_reply = Some(Ok(OriginResponse {
        status: 200,
        body: br#"{"status":"released"}"#.to_vec(),
        retry_after: None,
    }));
    let rq = with_header(
        req("POST", &format!("/v1/reservations/{id}/cancel")),
        "authorization",
        &auth,
    );
    let r = run(&p, &cfg(), &rq);
    assert_eq!(r.code(), 200);
    let sent = p.0.borrow().origin_sent[0].clone();
    assert_eq!(
        sent.url,
        format!("http://origin:8080/v1/reservations/{id}/release")
    );
    assert_eq!(sent.body, b"{}");
}

#[test]
fn helpers() {
    assert_eq!(base_path("http://h:1"), "");
    assert_eq!(base_path("http://h:1/"), "");
    assert_eq!(base_path("https://h/api/"), "/api");
    assert_eq!(
        stock_cache_key("http://e", "t:1", &["A", "B"], Shape::Many),
        "http://e/v1/stock?sku=A&sku=B&p=t%3A1"
    );
    assert_eq!(
        stock_cache_key(
            "http://e",
            "",
            &["A"],
            Shape::One {
                with_locations: false
            }
        ),
        "http://e/v1/stock/A?p="
    );
}

#[test]
fn origin_errors_speak_the_edges_vocabulary() {
    let reply = |status: u16, code: &str| {
        map_origin(Ok(OriginResponse {
            status,
            body: format!(r#"{{"error":{{"code":"{code}","message":"m"}}}}"#).into_bytes(),
            retry_after: None,
        }))
    };
    let r = reply(404, "not_found");
    assert_eq!(
        (r.code(), json_of(&r)["error"]["code"].clone()),
        (404, json!("reservation_not_found"))
    );
    let r = reply(409, "order_placed");
    assert_eq!(
        (r.code(), json_of(&r)["error"]["code"].clone()),
        (409, json!("order_placed"))
    );
    // A refused signature is the deployment's fault, not the shopper's credentials.
    let r = reply(401, "unauthorized");
    assert_eq!(
        (r.code(), json_of(&r)["error"]["code"].clone()),
        (502, json!("origin_error"))
    );
    let r = reply(409, "reservation_expired");
    assert_eq!(
        (r.code(), json_of(&r)["error"]["code"].clone()),
        (409, json!("reservation_expired"))
    );
}
