//! The bad-input table and the other validation cases.

use super::*;

fn cfg() -> Config {
    Config::from_lookup(&|_| None).unwrap()
}

fn err(body: &str) -> ApiError {
    reserve(body.as_bytes(), &cfg()).unwrap_err()
}

#[test]
fn a_valid_reserve_body_is_accepted_with_the_default_ttl() {
    let r = reserve(
        br#"{"items":[{"sku":"A-1","qty":2},{"sku":"B","qty":1}]}"#,
        &cfg(),
    )
    .unwrap();
    assert_eq!(r.items.len(), 2);
    assert_eq!(r.items[0].qty, 2);
    assert_eq!(r.ttl_seconds, 600);
    assert_eq!(r.cart_id, None);
    assert_eq!(r.fingerprint.len(), 64);
    let r2 = reserve(
        br#"{ "ttl_seconds": 30, "cart_id": "c-1", "items": [ {"qty": 2, "sku": "A-1"} ] }"#,
        &cfg(),
    )
    .unwrap();
    assert_eq!((r2.ttl_seconds, r2.cart_id.as_deref()), (30, Some("c-1")));
}

#[test]
fn fingerprints_ignore_formatting_but_not_content() {
    let a = reserve(
        br#"{"items":[{"sku":"A","qty":1}],"ttl_seconds":60}"#,
        &cfg(),
    )
    .unwrap();
    let b = reserve(
        br#"{ "ttl_seconds" : 60, "items":[{"qty":1,"sku":"A"}]}"#,
        &cfg(),
    )
    .unwrap();
    let c = reserve(
        br#"{"items":[{"sku":"A","qty":2}],"ttl_seconds":60}"#,
        &cfg(),
    )
    .unwrap();
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_ne!(a.fingerprint, c.fingerprint);
}

/// A key reused for the same lines at another pickup location (or shipped) is another request:
/// its fingerprint differs, so the script answers `idempotency_mismatch`, never the first hold.
/// A shipping request's fingerprint is what it was before pickups existed, so a retry that
/// spans the deploy still replays.
#[test]
fn the_pickup_location_is_part_of_the_fingerprint_and_absent_changes_nothing() {
    let body = |extra: &str| {
        reserve(
            format!(r#"{{"items":[{{"sku":"A","qty":1}}],"ttl_seconds":60{extra}}}"#).as_bytes(),
            &cfg(),
        )
        .unwrap()
    };
    let ship = body("");
    let s1 = body(r#","pickup_location":"s1""#);
    let s2 = body(r#","pickup_location":"s2""#);
    assert_ne!(ship.fingerprint, s1.fingerprint);
    assert_ne!(s1.fingerprint, s2.fingerprint);
    assert_eq!(s1.pickup.as_ref().map(|l| l.as_str()), Some("s1"));
    let before = crate::crypto::sha256_hex(
        br#"{"cart_id":null,"items":[{"qty":1,"sku":"A"}],"ttl_seconds":60}"#,
    );
    assert_eq!(ship.fingerprint, before);
}

/// THE bad-input table of the reserve body: every malformed or invalid body we know of,
/// with its exact status and code. End-to-end tests keep one representative per code.
#[test]
fn syntax_errors_are_400_and_value_errors_422() {
    let table: &[(&str, u16, &str)] = &[
        ("{", 400, "malformed_json"),
        ("", 400, "malformed_json"),
        ("nope", 400, "malformed_json"),
        (
            r#"{"items":[{"sku":"A","qty":1e309}]}"#,
            400,
            "malformed_json",
        ),
        (r#"{"items":[]}"#, 422, "invalid_request"),
        (r#"{}"#, 422, "invalid_request"),
        (r#"[1]"#, 422, "invalid_request"),
        ("[]", 422, "invalid_request"),
        ("null", 422, "invalid_request"),
        (r#""items""#, 422, "invalid_request"),
        (r#"{"items":"A"}"#, 422, "invalid_request"),
        (
            r#"{"items":[{"sku":"A","qty":0}]}"#,
            422,
            "invalid_quantity",
        ),
        (
            r#"{"items":[{"sku":"A","qty":-1}]}"#,
            422,
            "invalid_quantity",
        ),
        (
            r#"{"items":[{"sku":"A","qty":11}]}"#,
            422,
            "invalid_quantity",
        ),
        (
            r#"{"items":[{"sku":"A","qty":1.5}]}"#,
            422,
            "invalid_request",
        ),
        (
            r#"{"items":[{"sku":"A","qty":"1"}]}"#,
            422,
            "invalid_request",
        ),
        (
            r#"{"items":[{"sku":"A","qty":99999999999999999999}]}"#,
            422,
            "invalid_request",
        ),
        (r#"{"items":[{"sku":"a b","qty":1}]}"#, 422, "invalid_sku"),
        (r#"{"items":[{"sku":"","qty":1}]}"#, 422, "invalid_sku"),
        (
            r#"{"items":[{"sku":"../../etc","qty":1}]}"#,
            422,
            "invalid_sku",
        ),
        (
            r#"{"items":[{"sku":"A","qty":1},{"sku":"A","qty":2}]}"#,
            422,
            "duplicate_sku",
        ),
        (
            r#"{"items":[{"sku":"A","qty":1}],"extra":1}"#,
            422,
            "invalid_request",
        ),
        (
            r#"{"items":[{"sku":"A","qty":1}],"admin":true}"#,
            422,
            "invalid_request",
        ),
        (
            r#"{"items":[{"sku":"A","qty":1,"price":3}]}"#,
            422,
            "invalid_request",
        ),
        (
            r#"{"items":[{"sku":"A","qty":1}],"ttl_seconds":0}"#,
            422,
            "invalid_ttl",
        ),
        (
            r#"{"items":[{"sku":"A","qty":1}],"ttl_seconds":-5}"#,
            422,
            "invalid_ttl",
        ),
        (
            r#"{"items":[{"sku":"A","qty":1}],"ttl_seconds":901}"#,
            422,
            "invalid_ttl",
        ),
        (
            r#"{"items":[{"sku":"A","qty":1}],"cart_id":"a{b}"}"#,
            422,
            "invalid_request",
        ),
    ];
    for &(body, status, code) in table {
        let e = err(body);
        assert_eq!(
            (e.status(), e.code.as_str()),
            (status, code),
            "{body}: {}",
            e.message
        );
    }
    let many: Vec<String> = (0..21)
        .map(|i| format!(r#"{{"sku":"S{i}","qty":1}}"#))
        .collect();
    let e = err(&format!(r#"{{"items":[{}]}}"#, many.join(",")));
    assert_eq!((e.status(), e.code.as_str()), (422, "too_many_items"));
}

/// The bad-input table of the reserve's `Idempotency-Key` header (22..=64 base64url characters):
/// 422 `invalid_request` naming the header.
#[test]
fn bad_idempotency_keys_are_422_naming_the_header() {
    let long = "a".repeat(65);
    for key in [
        "",
        "buyer-1",
        "0123456789abcdefghijk",
        long.as_str(),
        "0123456789abcdefghijk+",
        "0123456789abcdefghij/k",
        "0123456789abcdefghijkl==",
        "0123456789 abcdefghijkl",
        "0123456789abcdéfghijkl",
    ] {
        let e = crate::crypto::check_reserve_idempotency_key(key).unwrap_err();
        assert_eq!(
            (e.status(), e.code.as_str(), e.details.field.as_deref()),
            (422, "invalid_request", Some("Idempotency-Key")),
            "{key:?}"
        );
    }
    for key in [
        "0123456789abcdefghijkl",
        "0b0e3c1e-9d4f-4b7a-8a47-5c3d2f1e0a9b",
        &"Z".repeat(64),
    ] {
        assert!(
            crate::crypto::check_reserve_idempotency_key(key).is_ok(),
            "{key}"
        );
    }
}

#[test]
fn insufficient_context_details_name_the_sku() {
    let e = err(r#"{"items":[{"sku":"A","qty":99}]}"#);
    assert_eq!(e.details.sku.as_deref(), Some("A"));
    assert_eq!(e.details.max_qty, Some(10));
}

#[test]
fn a_streamed_body_stops_at_the_limit() {
    let mut body = Vec::new();
    for _ in 0..16 {
        append_limited(&mut body, &[b' '; 1024]).unwrap();
    }
    assert_eq!(body.len(), MAX_BODY_BYTES);
    let e = append_limited(&mut body, b"x").unwrap_err();
    assert_eq!((e.status(), e.code.as_str()), (413, "body_too_large"));
    assert_eq!(body.len(), MAX_BODY_BYTES, "the refused chunk is not kept");
    let e = append_limited(&mut Vec::new(), &vec![0; MAX_BODY_BYTES + 1]).unwrap_err();
    assert_eq!(e.status(), 413);
}

#[test]
fn body_size_and_content_type() {
    assert!(check_body_size(MAX_BODY_BYTES).is_ok());
    assert_eq!(
        check_body_size(MAX_BODY_BYTES + 1).unwrap_err().status(),
        413
    );
    assert!(check_json_content_type(Some("application/json")).is_ok());
    assert!(check_json_content_type(Some("Application/JSON; charset=utf-8")).is_ok());
    assert!(check_json_content_type(Some("application/merge-patch+json")).is_ok());
    for bad in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        assert_eq!(
            check_json_content_type(bad).unwrap_err().status(),
            415,
            "{bad:?}"
        );
    }
}

#[test]
fn extend_and_optional_bodies() {
    assert_eq!(extend(br#"{"seconds":60}"#, &cfg()), Ok(60));
    assert_eq!(
        extend(br#"{"seconds":0}"#, &cfg()).unwrap_err().status(),
        422
    );
    assert_eq!(
        extend(br#"{"seconds":901}"#, &cfg()).unwrap_err().status(),
        422
    );
    assert_eq!(
        extend(br#"{"seconds":1,"x":1}"#, &cfg())
            .unwrap_err()
            .status(),
        422
    );
    assert_eq!(extend(br#"{"#, &cfg()).unwrap_err().status(), 400);
    let c: edgestock_api::edge::ConfirmRequest = optional_body(b"").unwrap();
    assert_eq!(c, edgestock_api::edge::ConfirmRequest {});
    let c: edgestock_api::edge::ConfirmRequest = optional_body(b"{}").unwrap();
    assert_eq!(c, edgestock_api::edge::ConfirmRequest {});
    assert_eq!(
        optional_body::<edgestock_api::edge::ConfirmRequest>(br#"{"customer_ref":"c1"}"#)
            .unwrap_err()
            .status(),
        422
    );
    assert_eq!(
        optional_body::<edgestock_api::edge::ConfirmRequest>(br#"{"x":1}"#)
            .unwrap_err()
            .status(),
        422
    );
    let long = format!(r#"{{"payment_ref":"{}"}}"#, "p".repeat(201));
    assert_eq!(
        optional_body::<edgestock_api::edge::ConfirmRequest>(long.as_bytes())
            .unwrap_err()
            .status(),
        422
    );
}

#[test]
fn stock_query_decodes_dedups_and_bounds() {
    let skus = stock_query("sku=A&sku=B%3A1&x=1&sku=A&sku=C,D").unwrap();
    let names: Vec<&str> = skus.iter().map(Sku::as_str).collect();
    assert_eq!(names, ["A", "B:1", "C", "D"]);
    assert_eq!(stock_query("").unwrap_err().status(), 422);
    assert_eq!(stock_query("sku=").unwrap_err().status(), 422);
    assert_eq!(
        stock_query("sku=a%20b").unwrap_err().code.as_str(),
        "invalid_sku"
    );
    let many: Vec<String> = (0..101).map(|i| format!("sku=S{i}")).collect();
    assert_eq!(
        stock_query(&many.join("&")).unwrap_err().code.as_str(),
        "too_many_skus"
    );
    let ok: Vec<String> = (0..100).map(|i| format!("sku=S{i}")).collect();
    assert_eq!(stock_query(&ok.join("&")).unwrap().len(), 100);
}

#[test]
fn percent_decoding() {
    assert_eq!(percent_decode("a%3Ab+c"), "a:b c");
    assert_eq!(percent_decode("100%"), "100%");
    assert_eq!(percent_decode("%zz"), "%zz");
    assert_eq!(percent_decode("%4"), "%4");
}
