//! Routing, 404/405, static files, configuration errors and CORS.

use super::*;

#[test]
fn routes_unknown_paths_and_wrong_methods() {
    let p = Fake::default();
    let r = run(&p, &cfg(), &req("GET", "/nope"));
    assert_eq!(r.code(), 404);
    assert_eq!(json_of(&r)["error"]["code"], "not_found");
    let r = run(&p, &cfg(), &req("PUT", "/v1/reservations"));
    assert_eq!(r.code(), 405);
    assert_eq!(json_of(&r)["error"]["code"], "method_not_allowed");
    assert_eq!(r.header("allow"), Some("POST, OPTIONS"));
    let r = run(&p, &cfg(), &req("POST", "/v1/reservations/abc"));
    assert_eq!(r.header("allow"), Some("GET, DELETE, OPTIONS"));
    assert_eq!(
        Route::parse("/v1/reservations/a/extend"),
        Some(Route::Extend("a"))
    );
    assert_eq!(Route::parse("/v1/stock/"), None);
    assert!(p.sent().is_empty());
}

#[test]
fn health_and_static_files_need_no_configuration() {
    let p = Fake::default();
    let broken = Config::from_lookup(&|k| (k == "MAX_ITEMS").then(|| "x".to_owned()));
    assert!(broken.is_err());
    let r = run(&p, &broken, &req("GET", "/healthz"));
    assert_eq!(r.code(), 200);
    assert_eq!(json_of(&r)["status"], "ok");
    let r = run(&p, &broken, &req("GET", "/edgestock.js"));
    assert_eq!(r.code(), 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
    assert!(String::from_utf8_lossy(r.body()).contains("export class StockBadges"));
    let r = run(&p, &broken, &req("GET", "/demo.html"));
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let r = run(&p, &broken, &req("GET", "/v1/stock/A"));
    assert_eq!(r.code(), 500);
    assert_eq!(json_of(&r)["error"]["code"], "config_error");
}

#[test]
fn missing_secrets_are_config_errors() {
    let p = Fake::default();
    let c = Config::from_lookup(&|_| None);
    let r = run(&p, &c, &req("GET", "/v1/stock/A"));
    assert_eq!(
        (r.code(), json_of(&r)["error"]["code"].as_str()),
        (500, Some("config_error"))
    );
    let r = run(
        &p,
        &c,
        &with_json(
            req("POST", "/v1/reservations"),
            r#"{"items":[{"sku":"A","qty":1}]}"#,
        ),
    );
    assert_eq!(r.code(), 500);
}

#[test]
fn cors_allows_configured_origins_only() {
    let p = Fake::default();
    let pre = with_header(
        req("OPTIONS", "/v1/reservations"),
        "origin",
        "https://shop.example",
    );
    let r = run(&p, &cfg(), &pre);
    assert_eq!(r.code(), 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://shop.example")
    );
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some(CORS_ALLOW_HEADERS)
    );
    assert!(CORS_ALLOW_HEADERS
        .split(", ")
        .any(|h| h == crate::customer::HEADER));
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("POST, OPTIONS")
    );
    let bad = with_header(
        req("OPTIONS", "/v1/reservations"),
        "origin",
        "https://evil.example",
    );
    let r = run(&p, &cfg(), &bad);
    assert_eq!(r.code(), 403);
    assert_eq!(r.header("access-control-allow-origin"), None);
    let get = with_header(
        req("GET", "/v1/stock/a%20b"),
        "origin",
        "https://shop.example",
    );
    let r = run(&p, &cfg(), &get);
    assert_eq!(r.code(), 422);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://shop.example")
    );
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some(CORS_EXPOSE_HEADERS)
    );
}
