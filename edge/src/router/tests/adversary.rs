//! Red-team findings at the handler level: expiring tokens and secret rotation, idempotency keys
//! scoped to their client, rate-limit subjects, negative and canonical stock caching, internal
//! error text kept out of answers.

use hmac::{Hmac, Mac};

use super::*;

const ID: &str = "0123456789abcdef0123456789abcdef";

/// A token minted independently of the edge's code: `<exp>.<base64url HMAC(secret, "rsv:" id "." exp)>`.
fn mint(secret: &str, id: &str, exp_secs: i64) -> String {
    use base64::Engine as _;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("rsv:{id}.{exp_secs}").as_bytes());
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{exp_secs}.{sig}")
}

fn reservation_reply() -> String {
    format!(
        r#"{{"result":["{}","{}","{}",1700000000000,1700000060000,1700000090000,"{}",1700000000000]}}"#,
        b64("found"),
        b64("held"),
        b64("A|1"),
        b64("ip:203.0.113.9")
    )
}

fn get_with(token: &str) -> ApiRequest {
    with_header(
        req("GET", &format!("/v1/reservations/{ID}")),
        "authorization",
        &format!("Bearer {token}"),
    )
}

#[test]
fn an_expired_token_is_refused_before_anything_else() {
    let p = Fake::default();
    let exp = 1_700_001_860;
    let token = mint("secret", ID, exp);
    // A second before its expiry the token works (the call reaches Redis).
    p.set_now_ms(exp * 1000 - 1000);
    p.redis(200, &reservation_reply());
    let r = run(&p, &cfg(), &get_with(&token));
    assert_eq!(r.code(), 200, "{}", String::from_utf8_lossy(r.body()));
    assert_eq!(p.sent().len(), 1);

    // At its expiry: 401 token_expired on every token route, nothing sent anywhere, even with a
    // body that would be refused.
    p.set_now_ms(exp * 1000);
    let auth = format!("Bearer {token}");
    let calls = [
        get_with(&token),
        with_header(
            req("DELETE", &format!("/v1/reservations/{ID}")),
            "authorization",
            &auth,
        ),
        with_header(
            with_json(
                req("POST", &format!("/v1/reservations/{ID}/extend")),
                "not json",
            ),
            "authorization",
            &auth,
        ),
        with_header(
            with_json(req("POST", &format!("/v1/reservations/{ID}/confirm")), "{}"),
            "authorization",
            &auth,
        ),
        with_header(
            with_json(req("POST", &format!("/v1/reservations/{ID}/cancel")), "{}"),
            "authorization",
            &auth,
        ),
    ];
    for rq in &calls {
        let r = run(&p, &cfg(), rq);
        assert_eq!(
            (r.code(), json_of(&r)["error"]["code"].clone()),
            (401, json!("token_expired")),
            "{} {}",
            rq.method(),
            rq.uri()
        );
    }
    assert_eq!(p.sent().len(), 1, "no Redis call after the expiry");
    assert!(p.0.borrow().origin_sent.is_empty(), "no origin call");

    // A forged expiry does not help: the HMAC covers it.
    let (_, sig) = token.split_once('.').unwrap();
    let forged = format!("{}.{sig}", exp + 3600);
    let r = run(&p, &cfg(), &get_with(&forged));
    assert_eq!(
        (r.code(), json_of(&r)["error"]["code"].clone()),
        (403, json!("invalid_token"))
    );
    // Nor does the old, expiry-less format.
    let r = run(&p, &cfg(), &get_with(sig));
    assert_eq!(
        (r.code(), json_of(&r)["error"]["code"].clone()),
        (403, json!("invalid_token"))
    );
}

#[test]
fn the_token_expiry_is_fixed_at_creation_from_the_configured_windows() {
    let p = Fake::default();
    p.redis(
        200,
        &format!(
            r#"{{"result":["{}","{}","{}",1700000000500,1700000060500,0,1700000000500,"{}"]}}"#,
            b64("ok"),
            b64(ID),
            b64("held"),
            b64("A|1")
        ),
    );
    let c = cfg_with(&[
        ("DEFAULT_HOLD_SECONDS", "300"),
        ("MAX_HOLD_SECONDS", "300"),
        ("PAYMENT_WINDOW_SECONDS", "120"),
        ("CONFIRM_GRACE_SECONDS", "30"),
    ]);
    let r = run(&p, &c, &reserve_req(r#"{"items":[{"sku":"A","qty":1}]}"#));
    assert_eq!(r.code(), 201, "{}", String::from_utf8_lossy(r.body()));
    assert_eq!(
        json_of(&r)["token"],
        mint("secret", ID, 1_700_000_000 + 300 + 120 + 30).as_str()
    );
}

#[test]
fn a_token_of_the_previous_secret_is_accepted_during_rotation() {
    let p = Fake::default();
    let exp = 1_700_001_860;
    let old = mint("old-secret", ID, exp);
    let rotating = cfg_with(&[
        ("RESERVATION_TOKEN_SECRET", "new-secret"),
        ("RESERVATION_TOKEN_SECRET_PREVIOUS", "old-secret"),
    ]);
    p.redis(200, &reservation_reply());
    let r = run(&p, &rotating, &get_with(&old));
    assert_eq!(r.code(), 200, "{}", String::from_utf8_lossy(r.body()));
    p.redis(200, &reservation_reply());
    let r = run(&p, &rotating, &get_with(&mint("new-secret", ID, exp)));
    assert_eq!(r.code(), 200, "{}", String::from_utf8_lossy(r.body()));
    // Once the rotation is over, the old secret's tokens are refused.
    let done = cfg_with(&[("RESERVATION_TOKEN_SECRET", "new-secret")]);
    let r = run(&p, &done, &get_with(&old));
    assert_eq!(
        (r.code(), json_of(&r)["error"]["code"].clone()),
        (403, json!("invalid_token"))
    );
    let r = run(&p, &rotating, &get_with(&mint("other", ID, exp)));
    assert_eq!(
        (r.code(), json_of(&r)["error"]["code"].clone()),
        (403, json!("invalid_token"))
    );
}

const KEY: &str = "k7Qp2Vx9LmN4rT8wYz1Abc";

/// The reservation id the reserve script was asked for (its first ARGV).
fn reserved_id(p: &Fake, body: &str, ip: Option<&str>) -> String {
    let mut rq = with_header(reserve_req(body), "idempotency-key", KEY);
    if let Some(ip) = ip {
        rq = with_header(rq, "cf-connecting-ip", ip);
    }
    p.redis(200, r#"{"result":["dW5rbm93bl9za3U=","QQ=="]}"#);
    let before = p.sent().len();
    let r = run(p, &cfg(), &rq);
    assert_eq!(r.code(), 404, "{}", String::from_utf8_lossy(r.body()));
    let sent: Value = serde_json::from_str(&p.sent()[before]).unwrap();
    let n_keys = usize::try_from(sent[2].as_u64().unwrap()).unwrap();
    sent[3 + n_keys].as_str().unwrap().to_owned()
}

#[test]
fn idempotency_keys_are_scoped_to_the_cart_else_the_ip_64() {
    let p = Fake::default();
    let plain = r#"{"items":[{"sku":"A","qty":1}]}"#;
    let a = reserved_id(&p, plain, Some("198.51.100.1"));
    assert_eq!(a, reserved_id(&p, plain, Some("198.51.100.1")));
    assert_ne!(a, reserved_id(&p, plain, Some("198.51.100.2")));
    assert_ne!(a, reserved_id(&p, plain, None));
    let v6 = reserved_id(&p, plain, Some("2001:db8:1:2::1"));
    assert_eq!(v6, reserved_id(&p, plain, Some("2001:db8:1:2:ffff::7")));
    assert_ne!(v6, reserved_id(&p, plain, Some("2001:db8:1:3::1")));
    let cart = r#"{"items":[{"sku":"A","qty":1}],"cart_id":"c-1"}"#;
    let c = reserved_id(&p, cart, Some("198.51.100.1"));
    assert_ne!(c, a);
    assert_eq!(c, reserved_id(&p, cart, Some("203.0.113.5")));
    assert_ne!(
        c,
        reserved_id(
            &p,
            r#"{"items":[{"sku":"A","qty":1}],"cart_id":"c-2"}"#,
            Some("198.51.100.1")
        )
    );
}

#[test]
fn idempotency_keys_are_22_to_64_base64url_characters() {
    let p = Fake::default();
    let long = "a".repeat(65);
    for bad in [
        "k1",
        "k7Qp2Vx9LmN4rT8wYz1Ab",
        long.as_str(),
        "k7Qp2Vx9LmN4rT8wYz1Ab+c",
        "k7Qp2Vx9LmN4rT8wYz1Abc=",
    ] {
        let rq = with_header(
            reserve_req(r#"{"items":[{"sku":"A","qty":1}]}"#),
            "idempotency-key",
            bad,
        );
        let r = run(&p, &cfg(), &rq);
        let b = json_of(&r);
        assert_eq!(
            (r.code(), b["error"]["code"].clone()),
            (422, json!("invalid_request")),
            "{bad}"
        );
        assert_eq!(b["error"]["field"], "Idempotency-Key");
    }
    assert!(p.sent().is_empty());
}

/// The rate-limit keys (`rl:{…}`) of the one reserve call sent.
fn rate_keys(p: &Fake) -> Vec<String> {
    let sent: Value = serde_json::from_str(p.sent().last().unwrap()).unwrap();
    let n_keys = usize::try_from(sent[2].as_u64().unwrap()).unwrap();
    (0..n_keys)
        .filter_map(|i| sent[3 + i].as_str())
        .filter(|k| k.starts_with("{s0}rl:"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn rate_limit_subjects_are_the_ip_64_the_cart_or_one_anonymous_bucket() {
    let p = Fake::default();
    let reply = r#"{"result":["dW5rbm93bl9za3U=","QQ=="]}"#;
    let send = |body: &str, ip: Option<&str>| {
        let mut rq = reserve_req(body);
        if let Some(ip) = ip {
            rq = with_header(rq, "cf-connecting-ip", ip);
        }
        p.redis(200, reply);
        assert_eq!(run(&p, &cfg(), &rq).code(), 404);
        rate_keys(&p)
    };
    let plain = r#"{"items":[{"sku":"A","qty":1}]}"#;
    assert_eq!(send(plain, None), vec!["{s0}rl:anon"]);
    assert_eq!(
        send(plain, Some("198.51.100.7")),
        vec!["{s0}rl:ip:198.51.100.7"]
    );
    assert_eq!(
        send(plain, Some("2001:db8:1:2:3:4:5:6")),
        vec!["{s0}rl:ip:2001:db8:1:2::/64"]
    );
    assert_eq!(
        send(plain, Some("2001:DB8:1:2::9")),
        vec!["{s0}rl:ip:2001:db8:1:2::/64"]
    );
    let cart = r#"{"items":[{"sku":"A","qty":1}],"cart_id":"c1"}"#;
    assert_eq!(send(cart, None), vec!["{s0}rl:cart:c1"]);
    assert_eq!(
        send(cart, Some("198.51.100.7")),
        vec!["{s0}rl:ip:198.51.100.7", "{s0}rl:cart:c1"]
    );
}

#[test]
fn unknown_skus_are_cached_briefly_too() {
    let p = Fake::default();
    let c = cfg_with(&[("STOCK_CACHE_SECONDS", "5")]);
    p.redis(200, &stock_reply(0, 0, 0, 0));
    let r = run(&p, &c, &req("GET", "/v1/stock/NOPE"));
    assert_eq!(
        (r.code(), json_of(&r)["error"]["code"].clone()),
        (404, json!("unknown_sku"))
    );
    assert_eq!(r.header("cache-control"), Some("public, max-age=5"));
    let r2 = run(&p, &c, &req("GET", "/v1/stock/NOPE"));
    assert_eq!(
        (r2.code(), json_of(&r2)["error"]["code"].clone()),
        (404, json!("unknown_sku"))
    );
    assert_eq!(r2.header("x-edgestock-cache"), Some("hit"));
    assert_eq!(p.sent().len(), 1, "the second read cost no Redis call");
}

#[test]
fn batch_cache_keys_are_canonical_and_answers_keep_the_request_order() {
    let p = Fake::default();
    let c = cfg_with(&[("STOCK_CACHE_SECONDS", "5")]);
    // The batch is read in canonical (sorted) order: A, B, C.
    p.redis(200, r#"{"result":["b2s=",1,1,10,8,3,0,0,0,0,1,50,0,5]}"#);
    let a = json!({"sku": "A", "status": "low_stock", "available": 2, "low_stock_threshold": 3});
    let b = json!({"sku": "B", "status": "unknown"});
    let cc = json!({"sku": "C", "status": "in_stock", "low_stock_threshold": 5});
    let r = run(&p, &c, &req("GET", "/v1/stock?sku=C&sku=A&sku=B"));
    assert_eq!(r.code(), 200, "{}", String::from_utf8_lossy(r.body()));
    assert_eq!(json_of(&r), json!({"items": [cc, a, b]}));
    assert_eq!(r.header("x-edgestock-cache"), Some("miss"));
    for (q, want) in [
        ("sku=A&sku=B&sku=C", json!({"items": [a, b, cc]})),
        ("sku=B,C&sku=A&sku=B", json!({"items": [b, cc, a]})),
    ] {
        let r = run(&p, &c, &req("GET", &format!("/v1/stock?{q}")));
        assert_eq!(r.code(), 200, "{q}");
        assert_eq!(json_of(&r), want, "{q}");
        assert_eq!(r.header("x-edgestock-cache"), Some("hit"), "{q}");
    }
    assert_eq!(
        p.sent().len(),
        1,
        "one Redis call for every order of the same set"
    );
}

#[test]
fn internal_errors_answer_a_request_id_not_the_internal_text() {
    let p = Fake::default();
    p.0.borrow_mut()
        .redis_replies
        .push_back(Err(TransportError::Failed(
            "connect 10.1.2.3:6379 refused".into(),
        )));
    let r = run(&p, &cfg(), &req("GET", "/v1/stock/A"));
    let b = json_of(&r);
    assert_eq!(
        (r.code(), b["error"]["code"].clone()),
        (503, json!("redis_unavailable"))
    );
    assert_eq!(r.header("retry-after"), Some("1"));
    let message = b["error"]["message"].as_str().unwrap();
    assert!(
        !message.contains("10.1.2.3") && !message.contains("refused"),
        "{message}"
    );
    let rid = b["error"]["request_id"].as_str().expect("request_id");
    assert_eq!(rid, hex::encode([7u8; 16]));
    assert!(message.contains(rid), "{message}");
    assert_eq!(r.header("x-request-id"), Some(rid));
    // The cause is in the log, under the same id.
    let logs = p.0.borrow().logs.clone();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(
        logs[0].contains(rid) && logs[0].contains("10.1.2.3"),
        "{logs:?}"
    );

    // Redis answering garbage (502) and the origin unreachable: the same.
    p.redis(
        200,
        r#"{"error":"ERR internal detail: key rl:{secret} at 10.1.2.3"}"#,
    );
    let r = run(&p, &cfg(), &req("GET", "/v1/stock/A"));
    let b = json_of(&r);
    assert_eq!(
        (r.code(), b["error"]["code"].clone()),
        (502, json!("redis_error"))
    );
    assert!(
        !b["error"]["message"].as_str().unwrap().contains("10.1.2.3"),
        "{b}"
    );
    assert!(b["error"]["request_id"].is_string());

    let token = mint("secret", ID, 1_800_000_000);
    p.0.borrow_mut().origin_reply = Some(Err(TransportError::Failed("dns 10.9.9.9 failed".into())));
    let rq = with_header(
        with_json(req("POST", &format!("/v1/reservations/{ID}/confirm")), "{}"),
        "authorization",
        &format!("Bearer {token}"),
    );
    let r = run(&p, &cfg(), &rq);
    let b = json_of(&r);
    assert_eq!(
        (r.code(), b["error"]["code"].clone()),
        (503, json!("origin_unavailable")),
        "{b}"
    );
    assert!(
        !b["error"]["message"].as_str().unwrap().contains("10.9.9.9"),
        "{b}"
    );
    assert!(b["error"]["request_id"].is_string());
}
