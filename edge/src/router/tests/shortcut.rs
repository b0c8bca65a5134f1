//! Losing reserves answered at the edge: what Redis said about a sold-out SKU or a rate-limited
//! subject answers the next attempts without a Redis call, and nothing else creates an entry.

use super::*;

const SOLD_OUT_A: &str = r#"{"items":[{"sku":"A","qty":1}]}"#;

fn insufficient(sku: &str, available: i64) -> String {
    format!(
        r#"{{"result":["{}","{}",{available}]}}"#,
        b64("insufficient"),
        b64(sku)
    )
}

fn rate_limited(ms: i64, subject: i64) -> String {
    format!(r#"{{"result":["{}",{ms},{subject}]}}"#, b64("rate_limited"))
}

fn reserve_from(ip: &str, body: &str) -> ApiRequest {
    with_header(reserve_req(body), "cf-connecting-ip", ip)
}

/// Status, error code, the `X-Edgestock-Cache` header and the Redis calls made.
fn outcome(
    p: &Fake,
    cfg: &Result<Config, ApiError>,
    r: &ApiRequest,
) -> (u16, String, String, usize) {
    let before = p.sent().len();
    let resp = run(p, cfg, r);
    (
        resp.code(),
        json_of(&resp)["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
        resp.header(crate::shortcut::HEADER)
            .unwrap_or("")
            .to_owned(),
        p.sent().len() - before,
    )
}

fn refused_at_edge(code: &str) -> (u16, String, String, usize) {
    let status = if code == "rate_limited" { 429 } else { 409 };
    (status, code.to_owned(), "hit".to_owned(), 0)
}

#[test]
fn a_sold_out_answer_refuses_the_next_attempts_without_redis() {
    let p = Fake::default();
    let cfg = cfg_with(&[("SOLD_OUT_CACHE_SECONDS", "5")]);
    p.redis(200, &insufficient("A", 0));
    let first = run(&p, &cfg, &reserve_req(SOLD_OUT_A));
    assert_eq!(first.code(), 409);
    assert_eq!(first.header("x-edgestock-cache"), Some("miss"));
    for _ in 0..3 {
        let again = run(&p, &cfg, &reserve_from("203.0.113.9", SOLD_OUT_A));
        assert_eq!(again.code(), 409);
        assert_eq!(again.header("x-edgestock-cache"), Some("hit"));
        // The same body Redis's refusal had.
        assert_eq!(json_of(&again), json_of(&first));
    }
    assert_eq!(p.sent().len(), 1, "one Redis call in all");
    // A reservation naming A among other SKUs is refused too; B alone is not.
    let both = r#"{"items":[{"sku":"B","qty":1},{"sku":"A","qty":1}]}"#;
    assert_eq!(
        outcome(&p, &cfg, &reserve_req(both)),
        refused_at_edge("insufficient_stock")
    );
    p.redis(200, &insufficient("B", 1));
    let b = outcome(&p, &cfg, &reserve_req(r#"{"items":[{"sku":"B","qty":2}]}"#));
    assert_eq!(b, (409, "insufficient_stock".into(), "miss".into(), 1));
    // B had 1 unit: not sold out, so B still goes to Redis.
    p.redis(200, &insufficient("B", 1));
    let b = outcome(&p, &cfg, &reserve_req(r#"{"items":[{"sku":"B","qty":2}]}"#));
    assert_eq!(b.3, 1);
}

#[test]
fn the_sold_out_memory_ends_after_its_seconds_and_is_off_at_zero() {
    let p = Fake::default();
    p.set_now_ms(1_000_000);
    let cfg = cfg_with(&[("SOLD_OUT_CACHE_SECONDS", "2")]);
    p.redis(200, &insufficient("A", 0));
    run(&p, &cfg, &reserve_req(SOLD_OUT_A));
    p.set_now_ms(1_001_999);
    assert_eq!(
        outcome(&p, &cfg, &reserve_req(SOLD_OUT_A)),
        refused_at_edge("insufficient_stock")
    );
    p.set_now_ms(1_002_000);
    p.redis(200, &insufficient("A", 0));
    assert_eq!(outcome(&p, &cfg, &reserve_req(SOLD_OUT_A)).3, 1);

    let off = Fake::default();
    let cfg = cfg_with(&[("SOLD_OUT_CACHE_SECONDS", "0")]);
    for _ in 0..2 {
        off.redis(200, &insufficient("A", 0));
        assert_eq!(outcome(&off, &cfg, &reserve_req(SOLD_OUT_A)).3, 1);
    }
    assert!(off.0.borrow().cache.is_empty());
    // The default follows STOCK_CACHE_SECONDS.
    let c = cfg_with(&[("STOCK_CACHE_SECONDS", "7")]).expect("config");
    assert_eq!(c.sold_out_cache_seconds, 7);
    let c = cfg_with(&[("STOCK_CACHE_SECONDS", "3600")]).expect("config");
    assert_eq!(c.sold_out_cache_seconds, 300);
    assert_eq!(
        cfg_with(&[("SOLD_OUT_CACHE_SECONDS", "301")])
            .expect_err("too long")
            .code,
        ErrorCode::ConfigError
    );
}

#[test]
fn a_retry_with_no_cache_reaches_redis_and_can_replay_its_hold() {
    let p = Fake::default();
    let cfg = cfg();
    p.redis(200, &insufficient("A", 0));
    run(&p, &cfg, &reserve_req(SOLD_OUT_A));
    let retry = with_header(
        with_header(
            reserve_req(SOLD_OUT_A),
            "idempotency-key",
            "k".repeat(22).as_str(),
        ),
        "cache-control",
        "no-cache",
    );
    p.redis(200, &insufficient("A", 0));
    assert_eq!(
        outcome(&p, &cfg, &retry),
        (409, "insufficient_stock".into(), "miss".into(), 1)
    );
}

#[test]
fn a_sold_out_read_teaches_the_reserve_and_other_isolates_learn_it_from_the_cache() {
    let p = Fake::default();
    p.set_now_ms(1_000_000);
    let cfg = cfg_with(&[("SOLD_OUT_CACHE_SECONDS", "3")]);
    p.redis(200, &stock_reply(1, 5, 5, 2));
    assert_eq!(run(&p, &cfg, &req("GET", "/v1/stock/A")).code(), 200);
    assert_eq!(
        outcome(&p, &cfg, &reserve_req(SOLD_OUT_A)),
        refused_at_edge("insufficient_stock")
    );
    // Another isolate of the location: empty memory, the same Cache API.
    p.0.borrow_mut().memory = crate::cache::IsolateMemory::default();
    assert_eq!(
        outcome(&p, &cfg, &reserve_req(SOLD_OUT_A)),
        refused_at_edge("insufficient_stock")
    );
    // The shared entry names its end, which holds even if the cache kept it longer.
    p.0.borrow_mut().memory = crate::cache::IsolateMemory::default();
    p.set_now_ms(1_003_000);
    p.redis(200, &insufficient("A", 1));
    assert_eq!(outcome(&p, &cfg, &reserve_req(SOLD_OUT_A)).3, 1);
    // An unknown SKU or one with stock teaches nothing.
    p.redis(200, &stock_reply(0, 0, 0, 0));
    run(&p, &cfg, &req("GET", "/v1/stock/U"));
    p.redis(200, &stock_reply(1, 5, 4, 2));
    run(&p, &cfg, &req("GET", "/v1/stock/B"));
    for sku in ["U", "B"] {
        let body = format!(r#"{{"items":[{{"sku":"{sku}","qty":1}}]}}"#);
        p.redis(200, &insufficient(sku, 1));
        assert_eq!(outcome(&p, &cfg, &reserve_req(&body)).3, 1, "{sku}");
    }
}

#[test]
fn adversary_nothing_a_client_sends_creates_a_sold_out_entry() {
    let p = Fake::default();
    let cfg = cfg();
    // A marker-looking response stored by anything but the edge (or a stale shape) is not one.
    let key = crate::shortcut::sold_out_cache_key("http://edge", "", "A");
    p.0.borrow_mut().cache.insert(
        key,
        ApiResponse::bytes(200, "application/json", b"{\"sold_out\":true}".to_vec()),
    );
    // Headers that look like the edge's own, and a stock read through a forged host.
    let forged = with_header(
        with_header(reserve_req(SOLD_OUT_A), "x-edgestock-cache", "hit"),
        "cache-control",
        "max-age=60",
    );
    p.redis(200, &insufficient("A", 1));
    assert_eq!(outcome(&p, &cfg, &forged).3, 1);
    p.redis(200, &insufficient("A", 1));
    assert_eq!(outcome(&p, &cfg, &reserve_req(SOLD_OUT_A)).3, 1);
}

#[test]
fn adversary_another_prefix_never_shares_an_entry() {
    let p = Fake::default();
    let tenant_a = cfg_with(&[("REDIS_KEY_PREFIX", "a:")]);
    let tenant_b = cfg_with(&[("REDIS_KEY_PREFIX", "b:")]);
    p.redis(200, &rate_limited(30_000, 1));
    run(&p, &tenant_a, &reserve_from("198.51.100.7", SOLD_OUT_A));
    p.redis(200, &insufficient("A", 0));
    run(&p, &tenant_a, &reserve_req(SOLD_OUT_A));
    assert_eq!(
        outcome(&p, &tenant_a, &reserve_from("198.51.100.7", SOLD_OUT_A)),
        refused_at_edge("rate_limited")
    );
    assert_eq!(
        outcome(&p, &tenant_a, &reserve_req(SOLD_OUT_A)),
        refused_at_edge("insufficient_stock")
    );
    // Tenant b shares the isolate and the Cache API, not the answers.
    p.redis(200, &insufficient("A", 3));
    let b = outcome(&p, &tenant_b, &reserve_from("198.51.100.7", SOLD_OUT_A));
    assert_eq!(b, (409, "insufficient_stock".into(), "miss".into(), 1));
}

#[test]
fn a_rate_limited_subject_is_refused_at_the_edge_until_its_window_ends() {
    let p = Fake::default();
    p.set_now_ms(5_000_000);
    let cfg = cfg();
    let cart = |ip: &str, cart: &str| {
        reserve_from(
            ip,
            &format!(r#"{{"items":[{{"sku":"A","qty":1}}],"cart_id":"{cart}"}}"#),
        )
    };
    // Subjects are [ip, cart]: Redis names the cart (2) as the one over its limit.
    p.redis(200, &rate_limited(30_000, 2));
    let first = run(&p, &cfg, &cart("192.0.2.1", "cart-1"));
    assert_eq!(first.code(), 429);
    assert_eq!(first.header("retry-after"), Some("30"));
    assert_eq!(first.header("x-edgestock-cache"), Some("miss"));
    // The same cart from another address: refused at the edge, Retry-After counting down.
    p.set_now_ms(5_010_000);
    let again = run(&p, &cfg, &cart("192.0.2.2", "cart-1"));
    assert_eq!(
        (
            again.code(),
            again.header("retry-after"),
            again.header("x-edgestock-cache")
        ),
        (429, Some("20"), Some("hit"))
    );
    assert_eq!(json_of(&again)["error"]["code"], "rate_limited");
    assert_eq!(p.sent().len(), 1);
    // The first address with another cart is not the limited subject: Redis decides.
    p.redis(200, &insufficient("A", 1));
    assert_eq!(outcome(&p, &cfg, &cart("192.0.2.1", "cart-2")).3, 1);
    // When the window ends, the cart goes to Redis again.
    p.set_now_ms(5_030_000);
    p.redis(200, &insufficient("A", 1));
    assert_eq!(outcome(&p, &cfg, &cart("192.0.2.3", "cart-1")).3, 1);
}

#[test]
fn a_refusal_without_a_named_subject_or_with_the_cache_off_teaches_nothing() {
    let p = Fake::default();
    let cfg = cfg();
    // An older script's answer names no subject.
    p.redis(
        200,
        &format!(r#"{{"result":["{}",30000]}}"#, b64("rate_limited")),
    );
    assert_eq!(
        run(&p, &cfg, &reserve_from("192.0.2.1", SOLD_OUT_A)).code(),
        429
    );
    p.redis(200, &insufficient("A", 1));
    assert_eq!(
        outcome(&p, &cfg, &reserve_from("192.0.2.1", SOLD_OUT_A)).3,
        1
    );

    let off = cfg_with(&[("RATE_LIMIT_CACHE", "false")]);
    p.redis(200, &rate_limited(30_000, 1));
    run(&p, &off, &reserve_from("192.0.2.9", SOLD_OUT_A));
    p.redis(200, &rate_limited(29_000, 1));
    assert_eq!(
        outcome(&p, &off, &reserve_from("192.0.2.9", SOLD_OUT_A)),
        (429, "rate_limited".into(), "miss".into(), 1)
    );
}

#[test]
fn a_sku_with_stock_costs_one_location_lookup_per_window_not_one_per_reserve() {
    let p = Fake::default();
    p.set_now_ms(2_000_000);
    let cfg = cfg_with(&[("SOLD_OUT_CACHE_SECONDS", "2")]);
    let b = r#"{"items":[{"sku":"B","qty":2}]}"#;
    for _ in 0..3 {
        p.redis(200, &insufficient("B", 1));
        assert_eq!(outcome(&p, &cfg, &reserve_req(b)).3, 1);
    }
    assert_eq!(
        p.0.borrow().cache_gets,
        1,
        "one Cache API lookup for three reserves"
    );
    // After the window the marker is looked up again (another isolate may have learned it).
    p.set_now_ms(2_002_000);
    p.redis(200, &insufficient("B", 1));
    assert_eq!(outcome(&p, &cfg, &reserve_req(b)).3, 1);
    assert_eq!(p.0.borrow().cache_gets, 2);
    // A sold-out answer overrides the "absent" memo at once.
    p.redis(200, &insufficient("B", 0));
    run(&p, &cfg, &reserve_req(b));
    assert_eq!(
        outcome(&p, &cfg, &reserve_req(b)),
        refused_at_edge("insufficient_stock")
    );
}

#[test]
fn the_losers_in_flight_write_the_location_marker_once() {
    let p = Fake::default();
    p.set_now_ms(3_000_000);
    let cfg = cfg_with(&[("SOLD_OUT_CACHE_SECONDS", "4")]);
    let key = crate::shortcut::sold_out_cache_key("http://edge", "", "A");
    // Three attempts that had all left for Redis before the first answer came back.
    for _ in 0..3 {
        p.redis(200, &insufficient("A", 0));
        let r = with_header(reserve_req(SOLD_OUT_A), "cache-control", "no-cache");
        run(&p, &cfg, &r);
    }
    let marker = p.0.borrow().cache.get(&key).cloned().expect("a marker");
    assert_eq!(json_of(&marker), json!({"sold_out_until_ms": 3_004_000}));
    assert_eq!(p.0.borrow().cache_puts_later, 1);
    p.0.borrow_mut().cache.remove(&key);
    // Past half its life, the news is written again.
    p.set_now_ms(3_002_001);
    p.redis(200, &insufficient("A", 0));
    run(
        &p,
        &cfg,
        &with_header(reserve_req(SOLD_OUT_A), "cache-control", "no-cache"),
    );
    let marker = p.0.borrow().cache.get(&key).cloned().expect("a new marker");
    assert_eq!(json_of(&marker), json!({"sold_out_until_ms": 3_006_001}));
    assert_eq!(p.0.borrow().cache_puts_later, 2);
}
