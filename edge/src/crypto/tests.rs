use super::*;

#[test]
fn token_is_expiry_and_base64url_hmac_and_checks_in_both_directions() {
    let t = reservation_token("secret", "abc", 1_700_001_860);
    // Known answer, from Python: hmac.new(b"secret", b"rsv:abc.1700001860", sha256),
    // base64url without padding.
    assert_eq!(t, "1700001860.QeYdhKwLobjBLTuKjccnyWaJCBaCEXGBa3hL8AEB1SI");
    let now = 1_700_000_000_000;
    let s: &[&str] = &["secret"];
    assert!(check_token(s, "abc", Some(&format!("Bearer {t}")), now).is_ok());
    assert!(check_token(s, "abc", Some(&format!("bearer  {t} ")), now).is_ok());
    let e = check_token(s, "abc", None, now).unwrap_err();
    assert_eq!((e.status(), e.code.as_str()), (401, "missing_token"));
    let e = check_token(s, "abc", Some("Basic xyz"), now).unwrap_err();
    assert_eq!((e.status(), e.code.as_str()), (401, "missing_token"));
    let e = check_token(s, "abc", Some("Bearer "), now).unwrap_err();
    assert_eq!((e.status(), e.code.as_str()), (401, "missing_token"));
    let e = check_token(s, "abd", Some(&format!("Bearer {t}")), now).unwrap_err();
    assert_eq!((e.status(), e.code.as_str()), (403, "invalid_token"));
    let e = check_token(&["other"], "abc", Some(&format!("Bearer {t}")), now).unwrap_err();
    assert_eq!((e.status(), e.code.as_str()), (403, "invalid_token"));
    let e = check_token(s, "abc", Some(&format!("Bearer {}", &t[..20])), now).unwrap_err();
    assert_eq!((e.status(), e.code.as_str()), (403, "invalid_token"));
    for bad in ["", ".", "x.y", "-1.abc", "99999999999999999999.abc"] {
        let e = check_token(s, "abc", Some(&format!("Bearer {bad}")), now).unwrap_err();
        assert_eq!(e.status(), if bad.is_empty() { 401 } else { 403 }, "{bad}");
    }
    // Rotation: a token of either secret checks.
    assert!(check_token(&["new", "secret"], "abc", Some(&format!("Bearer {t}")), now).is_ok());
}

#[test]
fn a_bound_token_carries_its_customer_under_the_mac() {
    let c = "119ffe9adb6ac1e9147ec92db46732d6";
    let t = bound_reservation_token("secret", "abc", 1_700_001_860, c);
    // Known answer, from Python: hmac.new(b"secret",
    // b"rsv:abc.1700001860.119ffe9adb6ac1e9147ec92db46732d6", sha256), base64url unpadded.
    assert_eq!(
        t,
        "1700001860.119ffe9adb6ac1e9147ec92db46732d6.v8u86HZczb2gyR36MLBTbSK9bRuLPpIVtqeLhVJckBg"
    );
    let now = 1_700_000_000_000;
    let s: &[&str] = &["secret"];
    let bearer = |t: &str| format!("Bearer {t}");
    assert_eq!(
        check_token(s, "abc", Some(&bearer(&t)), now).unwrap(),
        Some(c.to_owned())
    );
    assert_eq!(
        check_token(
            s,
            "abc",
            Some(&bearer(&reservation_token("secret", "abc", 1_700_001_860))),
            now
        )
        .unwrap(),
        None
    );
    // Another customer's hash, the binding stripped, or an unbound MAC under a hash: forged.
    let other = "0".repeat(32);
    let (exp_part, rest) = t.split_once('.').unwrap();
    let mac = rest.split_once('.').unwrap().1;
    let unbound = reservation_token("secret", "abc", 1_700_001_860);
    let unbound_mac = unbound.split_once('.').unwrap().1;
    for forged in [
        format!("{exp_part}.{other}.{mac}"),
        format!("{exp_part}.{mac}"),
        format!("{exp_part}.{c}.{unbound_mac}"),
        format!("{exp_part}.{}.{mac}", c.to_uppercase()),
        format!("{t}.x"),
    ] {
        let e = check_token(s, "abc", Some(&bearer(&forged)), now).unwrap_err();
        assert_eq!(
            (e.status(), e.code.as_str()),
            (403, "invalid_token"),
            "{forged}"
        );
    }
    let e = check_token(s, "abc", Some(&bearer(&t)), 1_700_001_860_000).unwrap_err();
    assert_eq!((e.status(), e.code.as_str()), (401, "token_expired"));
}

#[test]
fn a_genuine_token_expires_at_its_second() {
    let t = reservation_token("secret", "abc", 1_700_001_860);
    let auth = format!("Bearer {t}");
    assert!(check_token(&["secret"], "abc", Some(&auth), 1_700_001_859_999).is_ok());
    let e = check_token(&["secret"], "abc", Some(&auth), 1_700_001_860_000).unwrap_err();
    assert_eq!((e.status(), e.code.as_str()), (401, "token_expired"));
    assert_eq!(token_expiry_secs(1_700_000_000_999, 1860), 1_700_001_860);
    assert_eq!(token_expiry_secs(1_700_000_000_000, 0), 1_700_000_000);
}

#[test]
fn idempotent_ids_are_stable_per_subject_key_and_secret() {
    let ip = Subject::Ip("203.0.113.9");
    let a = idempotent_id("s", ip, "key-1");
    assert_eq!(a.len(), RESERVATION_ID_LEN);
    assert_eq!(a, idempotent_id("s", ip, "key-1"));
    assert_ne!(a, idempotent_id("s", ip, "key-2"));
    assert_ne!(a, idempotent_id("t", ip, "key-1"));
    assert_ne!(a, idempotent_id("s", Subject::Ip("203.0.113.10"), "key-1"));
    assert_ne!(a, idempotent_id("s", Subject::Cart("203.0.113.9"), "key-1"));
    assert_ne!(a, idempotent_id("s", Subject::Anonymous, "key-1"));
    assert_ne!(
        idempotent_id("s", Subject::Customer("u1"), "key-1"),
        idempotent_id("s", Subject::Cart("u1"), "key-1")
    );
    assert!(is_reservation_id(&a));
    assert_eq!(random_id([0xab; 16]), "ab".repeat(16));
}

#[test]
fn client_networks_are_ipv4_addresses_and_ipv6_64s() {
    let net = |s: &str| client_network(s.parse().unwrap());
    assert_eq!(net("203.0.113.9"), "203.0.113.9");
    assert_eq!(net("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
    assert_eq!(net("2001:DB8:1:2::"), "2001:db8:1:2::/64");
    assert_eq!(net("::ffff:198.51.100.1"), "198.51.100.1");
    assert_eq!(net("::1"), "::/64");
}

#[test]
fn reservation_id_syntax_excludes_hash_tag_characters() {
    assert!(is_reservation_id("0123abcd"));
    // A reservation across shards names them: `.` and a hex mask (not shard 0 alone).
    assert!(is_reservation_id("0123abcd.88"));
    for bad in [
        "",
        "a{b}",
        "a b",
        "a/b",
        "é",
        &"a".repeat(65),
        "a.",
        ".88",
        "a.1",
        "a.08",
        "a.8.8",
        "a.XY",
        "a{.8",
    ] {
        assert!(!is_reservation_id(bad), "{bad}");
    }
}

#[test]
fn reserve_idempotency_keys_are_22_to_64_base64url_characters() {
    for good in [
        "0b0e3c1e-9d4f-4b7a-8a47-5c3d2f1e0a9b",
        "k7Qp2Vx9LmN4rT8wYz1Abc",
        &"_".repeat(64),
    ] {
        assert!(check_reserve_idempotency_key(good).is_ok(), "{good}");
    }
    for bad in [
        "",
        "short",
        "k7Qp2Vx9LmN4rT8wYz1Ab",
        &"a".repeat(65),
        "k7Qp2Vx9LmN4rT8wYz1Ab+",
        "k7Qp2Vx9LmN4rT8wYz1Ab/c",
        "k7Qp2Vx9LmN4rT8wYz1Abc==",
        "k7Qp2Vx9LmN4rT8wYz1A bc",
    ] {
        let e = check_reserve_idempotency_key(bad).unwrap_err();
        assert_eq!(
            (e.status(), e.code.as_str()),
            (422, "invalid_request"),
            "{bad}"
        );
    }
}

#[test]
fn origin_signature_covers_method_path_timestamp_and_body() {
    use edgestock_core::signing::sign;
    let sig = sign(b"k", "POST", "/v1/orders", 1_700_000_000, b"{}");
    let mut mac = HmacSha256::new_from_slice(b"k").unwrap();
    mac.update(b"POST\n/v1/orders\n1700000000\n{}");
    assert_eq!(sig, hex::encode(mac.finalize().into_bytes()));
    assert_eq!(sig.len(), 64);
    assert!(sig
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_ne!(sig, sign(b"k", "POST", "/v1/orders", 1_700_000_001, b"{}"));
    assert_ne!(sig, sign(b"k", "POST", "/v1/other", 1_700_000_000, b"{}"));
    assert_ne!(sig, sign(b"k", "POST", "/v1/orders", 1_700_000_000, b"{ }"));
}

#[test]
fn etags_and_if_none_match() {
    let e = etag(b"body");
    assert!(e.starts_with('"') && e.ends_with('"') && e.len() == 34);
    assert_eq!(e, etag(b"body"));
    assert_ne!(e, etag(b"body2"));
    assert!(if_none_match(Some(&e), &e));
    assert!(if_none_match(Some(&format!("\"x\", W/{e}")), &e));
    assert!(if_none_match(Some("*"), &e));
    assert!(!if_none_match(Some("\"x\""), &e));
    assert!(!if_none_match(None, &e));
}
