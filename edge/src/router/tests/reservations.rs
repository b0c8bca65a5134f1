//! Reserve (success, replay, errors), refusals that never reach Redis, token checks.

use super::*;

#[test]
fn reserve_success_replay_and_errors() {
    let p = Fake::default();
    let id = crypto::idempotent_id(
        "secret",
        crypto::Subject::Cart("c1"),
        "idem-key-1-0123456789ab",
    );
    p.redis(
        200,
        &format!(
            r#"{{"result":["{}","{}","{}",1700000000000,1700000060000,0,1700000000000,"{}"]}}"#,
            b64("ok"),
            b64(&id),
            b64("held"),
            b64("A|1|wh-a,A|1")
        ),
    );
    let rq = with_header(
        with_header(
            reserve_req(r#"{"items":[{"sku":"A","qty":2}],"ttl_seconds":60,"cart_id":"c1"}"#),
            "idempotency-key",
            "idem-key-1-0123456789ab",
        ),
        "cf-connecting-ip",
        "203.0.113.9",
    );
    let r = run(&p, &cfg(), &rq);
    assert_eq!(r.code(), 201, "{}", String::from_utf8_lossy(r.body()));
    let b = json_of(&r);
    assert_eq!(b["reservation_id"], id.as_str());
    assert_eq!(
        b["token"],
        crypto::reservation_token("secret", &id, 1_700_000_000 + 1860).as_str()
    );
    // The allocation Redis made, in its order: one line, split over two locations.
    assert_eq!(
        b["items"],
        json!([{"sku": "A", "qty": 2, "allocation": [
            {"location": "wh-a", "qty": 1}, {"location": "default", "qty": 1}
        ]}])
    );
    assert_eq!(b["expires_at_ms"], 1_700_000_060_000_i64);
    assert_eq!(b["expires_at"], "2023-11-14T22:14:20.000Z");
    assert_eq!(b["ttl_seconds"], 60);
    assert_eq!(b["status"], "held");
    let sent = &p.sent()[0];
    assert!(
        sent.contains("{s0}rl:ip:203.0.113.9") && sent.contains("{s0}rl:cart:c1"),
        "{sent}"
    );
    assert!(sent.contains(r#""60000""#), "ttl in ms: {sent}");

    // Replay.
    p.redis(
        200,
        &format!(
            r#"{{"result":["{}","{}","{}",1700000000000,1700000060000,1,1700000001000,"{}"]}}"#,
            b64("ok"),
            b64(&id),
            b64("held"),
            b64("A|1|wh-a,A|1")
        ),
    );
    let r2 = run(&p, &cfg(), &rq);
    assert_eq!(r2.code(), 200);
    assert_eq!(r2.header("idempotency-replayed"), Some("true"));
    assert_eq!(json_of(&r2), b);

    for (reply, status, code) in [
        (
            format!(
                r#"{{"result":["{}","{}",3]}}"#,
                b64("insufficient"),
                b64("A")
            ),
            409,
            "insufficient_stock",
        ),
        (
            format!(r#"{{"result":["{}","{}"]}}"#, b64("unknown_sku"), b64("A")),
            404,
            "unknown_sku",
        ),
        (
            format!(r#"{{"result":["{}",1500]}}"#, b64("rate_limited")),
            429,
            "rate_limited",
        ),
        (
            format!(r#"{{"result":["{}"]}}"#, b64("idempotency_mismatch")),
            422,
            "idempotency_key_reused",
        ),
    ] {
        p.redis(200, &reply);
        let r = run(&p, &cfg(), &rq);
        assert_eq!(
            (r.code(), json_of(&r)["error"]["code"].as_str()),
            (status, Some(code))
        );
        if status == 409 {
            assert_eq!(json_of(&r)["error"]["available"], 3);
            assert_eq!(json_of(&r)["error"]["sku"], "A");
        }
        if status == 429 {
            assert_eq!(r.header("retry-after"), Some("2"));
        }
    }
}

#[test]
fn rejected_reserves_never_reach_redis() {
    let p = Fake::default();
    let mut too_big = reserve_req("{}");
    *too_big.body_mut() = vec![b' '; 16 * 1024 + 1];
    for (rq, status) in [
        (reserve_req("{"), 400),
        (reserve_req(r#"{"items":[{"sku":"A","qty":0}]}"#), 422),
        (too_big, 413),
        (
            {
                let mut r = req("POST", "/v1/reservations");
                r.headers_mut()
                    .insert("content-type", http::HeaderValue::from_static("text/plain"));
                *r.body_mut() = br#"{"items":[{"sku":"A","qty":1}]}"#.to_vec();
                r
            },
            415,
        ),
        (
            with_header(
                reserve_req(r#"{"items":[{"sku":"A","qty":1}]}"#),
                "idempotency-key",
                "",
            ),
            422,
        ),
    ] {
        let r = run(&p, &cfg(), &rq);
        assert_eq!(r.code(), status, "{}", String::from_utf8_lossy(r.body()));
    }
    assert!(p.sent().is_empty());
}

#[test]
fn reservation_routes_check_the_token_before_redis() {
    let p = Fake::default();
    let id = "0123456789abcdef0123456789abcdef";
    let r = run(&p, &cfg(), &req("GET", &format!("/v1/reservations/{id}")));
    assert_eq!(
        (r.code(), json_of(&r)["error"]["code"].as_str()),
        (401, Some("missing_token"))
    );
    let r = run(
        &p,
        &cfg(),
        &with_header(
            req("DELETE", &format!("/v1/reservations/{id}")),
            "authorization",
            "Bearer nope",
        ),
    );
    assert_eq!(
        (r.code(), json_of(&r)["error"]["code"].as_str()),
        (403, Some("invalid_token"))
    );
    assert!(p.sent().is_empty());

    let auth = format!(
        "Bearer {}",
        crypto::reservation_token("secret", id, 1_800_000_000)
    );
    p.redis(200, &format!(r#"{{"result":["{}",1]}}"#, b64("not_found")));
    let r = run(
        &p,
        &cfg(),
        &with_header(
            req("GET", &format!("/v1/reservations/{id}")),
            "authorization",
            &auth,
        ),
    );
    assert_eq!(r.code(), 404);
    assert_eq!(json_of(&r)["error"]["code"], "reservation_not_found");
}

/// A reserve across two shards: both parts are sent, one is refused, the other is released
/// before the answer, and all of it runs to completion (`waitUntil`).
#[test]
fn a_refused_part_across_shards_releases_the_other_under_wait_until() {
    let c = cfg_with(&[("REDIS_SHARDS", "8")]);
    let keys = c.as_ref().unwrap().keys();
    let (a, b) = (
        "A",
        (0..100)
            .map(|i| format!("B{i}"))
            .find(|s| keys.shard_of(s) != keys.shard_of("A"))
            .unwrap(),
    );
    let p = Fake::default();
    let shards = edgestock_core::keys::ReservationShards::of([keys.shard_of(a), keys.shard_of(&b)]);
    let id = shards.id(&hex::encode([7u8; 16]));
    // Part A holds, part B is short.
    p.redis(
        200,
        &format!(
            r#"{{"result":["{}","{}","{}",1700000000000,1700000060000,0,1700000000000,"{}"]}}"#,
            b64("ok"),
            b64(&id),
            b64("held"),
            b64("A|1")
        ),
    );
    p.redis(
        200,
        &format!(
            r#"{{"result":["{}","{}",0]}}"#,
            b64("insufficient"),
            b64(&b)
        ),
    );
    // The compensation: part A's record read, then its release.
    p.redis(
        200,
        &format!(
            r#"{{"result":["{}","{}","{}",1700000000000,1700000060000,1700000900000,"{}",1700000000000]}}"#,
            b64("found"),
            b64("held"),
            b64("A|1"),
            b64("anon")
        ),
    );
    p.redis(
        200,
        &format!(r#"{{"result":["{}","{}",1]}}"#, b64("ok"), b64("released")),
    );
    let body = format!(r#"{{"items":[{{"sku":"A","qty":1}},{{"sku":"{b}","qty":1}}]}}"#);
    let r = run(&p, &c, &reserve_req(&body));
    assert_eq!(r.code(), 409, "{}", String::from_utf8_lossy(r.body()));
    assert_eq!(json_of(&r)["error"]["code"], "insufficient_stock");
    assert_eq!(json_of(&r)["error"]["sku"], b.as_str());
    assert_eq!(p.0.borrow().completions, 1);
    let sent = p.sent();
    assert_eq!(sent.len(), 4, "{sent:#?}");
    let tag = |s: &str| format!("{{s{}}}", keys.shard_of(s).0);
    // Each part went to its own shard's keys, under the one id naming both shards.
    assert!(
        sent[0].contains(&format!("{}rsv:{id}", tag(a))),
        "{}",
        sent[0]
    );
    assert!(
        sent[1].contains(&format!("{}rsv:{id}", tag(&b))),
        "{}",
        sent[1]
    );
    assert!(
        sent[3].contains(&format!("{}holds:A", tag(a))),
        "{}",
        sent[3]
    );
    // A one-shard reserve does not need the background.
    p.redis(
        200,
        &format!(
            r#"{{"result":["{}","{}",0]}}"#,
            b64("insufficient"),
            b64("A")
        ),
    );
    assert_eq!(
        run(&p, &c, &reserve_req(r#"{"items":[{"sku":"A","qty":1}]}"#)).code(),
        409
    );
    assert_eq!(p.0.borrow().completions, 1);
}
