//! Locations at the edge: pickup requests and their refusals, the allocation in answers, and
//! the per-location stock read.

use super::*;

fn reply(tag: &str, rest: &str) -> String {
    format!(r#"{{"result":["{}"{rest}]}}"#, b64(tag))
}

fn pickup(body_loc: &str) -> ApiRequest {
    reserve_req(&format!(
        r#"{{"items":[{{"sku":"A","qty":1}}],"pickup_location":"{body_loc}"}}"#
    ))
}

#[test]
fn a_malformed_pickup_location_is_refused_before_redis() {
    let p = Fake::default();
    for bad in ["", "no spaces", "x{y}", &"l".repeat(65)] {
        let r = run(&p, &cfg(), &pickup(bad));
        assert_eq!(r.code(), 422, "{bad:?}");
        assert_eq!(json_of(&r)["error"]["code"], "invalid_location");
        assert_eq!(json_of(&r)["error"]["field"], "pickup_location");
    }
    assert!(p.sent().is_empty(), "no Redis call");
}

#[test]
fn the_pickup_location_reaches_the_script_and_its_refusals_map_to_documented_errors() {
    let p = Fake::default();
    let cases = [
        (
            reply("unknown_location", &format!(r#","{}""#, b64("s9"))),
            422,
            "unknown_location",
        ),
        (
            reply("location_unavailable", &format!(r#","{}""#, b64("s9"))),
            409,
            "location_unavailable",
        ),
        (
            reply(
                "insufficient",
                &format!(r#","{}",0,"{}""#, b64("A"), b64("s9")),
            ),
            409,
            "insufficient_stock",
        ),
    ];
    for (canned, status, code) in cases {
        p.redis(200, &canned);
        let r = run(&p, &cfg(), &pickup("s9"));
        assert_eq!(r.code(), status, "{code}");
        let e = &json_of(&r)["error"];
        assert_eq!(e["code"], code);
        assert_eq!(e["location"], "s9", "{code}");
        let sent = p.sent().pop().unwrap();
        assert!(
            sent.ends_with(r#""s9","0/1/"]"#),
            "pickup, then the shard, are the last arguments: {sent}"
        );
    }
    // A store that is short says nothing about the SKU's shipping stock: no sold-out memory.
    p.redis(
        200,
        &reply(
            "insufficient",
            &format!(r#","{}",0,"{}""#, b64("A"), b64("s9")),
        ),
    );
    run(&p, &cfg(), &pickup("s9"));
    let before = p.sent().len();
    p.redis(
        200,
        &reply("insufficient", &format!(r#","{}",0"#, b64("A"))),
    );
    let r = run(
        &p,
        &cfg(),
        &reserve_req(r#"{"items":[{"sku":"A","qty":1}]}"#),
    );
    assert_eq!(r.code(), 409);
    assert_eq!(r.header("x-edgestock-cache"), Some("miss"));
    assert_eq!(
        p.sent().len(),
        before + 1,
        "the shipping reserve asked Redis"
    );
}

#[test]
fn an_unseeded_shard_is_a_503_not_a_guess() {
    let p = Fake::default();
    p.redis(200, &reply("shard_unseeded", ""));
    let r = run(
        &p,
        &cfg(),
        &reserve_req(r#"{"items":[{"sku":"A","qty":1}]}"#),
    );
    assert_eq!(r.code(), 503);
    assert_eq!(json_of(&r)["error"]["code"], "shard_unseeded");
    assert_eq!(r.header("retry-after"), Some("5"));
    // The shard as the edge places it travels with the reserve, for the script to check.
    assert!(p.sent()[0].contains(r#""0/1/""#), "{}", p.sent()[0]);
    // A read of an unseeded shard is the same 503, not a level.
    p.redis(200, &reply("shard_unseeded", ""));
    let r = run(&p, &cfg(), &req("GET", "/v1/stock/A"));
    assert_eq!(r.code(), 503);
    assert_eq!(json_of(&r)["error"]["code"], "shard_unseeded");
}

#[test]
fn the_stock_read_with_locations_has_its_own_cache_entry_and_badges_per_store() {
    let p = Fake::default();
    // SKU: 12 on hand over shipping, threshold 3; two pickup stores with 5 and 2.
    p.redis(
        200,
        &format!(
            r#"{{"result":["b2s=",1700000000000,1,12,0,3,2,"{}","{}",5,"{}","{}",2]}}"#,
            b64("s1"),
            b64("Store 1"),
            b64("s2"),
            b64("Store 2")
        ),
    );
    let r = run(&p, &cfg(), &req("GET", "/v1/stock/A?locations=true"));
    assert_eq!(r.code(), 200, "{}", String::from_utf8_lossy(r.body()));
    assert_eq!(
        json_of(&r),
        json!({"sku": "A", "status": "in_stock", "low_stock_threshold": 3, "locations": [
            {"location": "s1", "name": "Store 1", "status": "in_stock"},
            {"location": "s2", "name": "Store 2", "status": "low_stock", "available": 2}
        ]})
    );
    assert!(
        p.sent()[0].ends_with(r#""0","1","0/1/"]"#),
        "{}",
        p.sent()[0]
    );
    let etag = r.header("etag").unwrap().to_owned();
    // The plain read is another entry: it goes to Redis and has another ETag.
    p.redis(200, &stock_reply(1, 12, 0, 3));
    let plain = run(&p, &cfg(), &req("GET", "/v1/stock/A"));
    assert_eq!(plain.header("x-edgestock-cache"), Some("miss"));
    assert_ne!(plain.header("etag").unwrap(), etag);
    assert_eq!(json_of(&plain).get("locations"), None);
    // Both are now cached.
    let again = run(&p, &cfg(), &req("GET", "/v1/stock/A?locations=true"));
    assert_eq!(again.header("x-edgestock-cache"), Some("hit"));
    assert_eq!(again.header("etag").unwrap(), etag);
    assert_eq!(p.sent().len(), 2);
    let bad = run(&p, &cfg(), &req("GET", "/v1/stock/A?locations=yes"));
    assert_eq!(bad.code(), 422);
    assert_eq!(json_of(&bad)["error"]["field"], "locations");
}
