use super::*;
use std::collections::HashMap;

fn parse(pairs: &[(&str, &str)]) -> Result<Config, ApiError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::from_lookup(&|k| map.get(k).cloned())
}

#[test]
fn defaults_apply_when_nothing_is_set() {
    let c = parse(&[]).unwrap();
    assert_eq!(c.stock_cache_seconds, 1);
    assert_eq!(c.default_hold_seconds, 600);
    assert_eq!(c.max_hold_seconds, 900);
    assert_eq!(c.payment_window_seconds, 900);
    assert_eq!(c.confirm_grace_seconds, 60);
    assert_eq!(c.token_lifetime_secs(), 1860);
    assert!(c.reservation_token_secret_previous.is_none());
    assert_eq!(c.max_qty_per_item, 10);
    assert_eq!(c.max_items, 20);
    assert_eq!(c.rate_limit_per_minute, 100);
    assert_eq!(c.customer_rate_limit_per_minute, 10);
    assert!(c.customer_auth.is_none());
    assert!(!c.expose_exact_counts);
    assert_eq!(c.redis_key_prefix, "");
    assert_eq!(c.redis_timeout_ms, 1500);
    assert_eq!(c.origin_timeout_ms, 5000);
    assert_eq!(c.clock_offset_ms, 0);
    assert!(c.allowed_origins.is_empty());
}

#[test]
fn missing_required_values_are_named_in_a_config_error() {
    let c = parse(&[("REDIS_REST_URL", "http://r")]).unwrap();
    let e = c.redis().unwrap_err();
    assert_eq!((e.status(), e.code.as_str()), (500, "config_error"));
    assert!(e.message.contains("REDIS_REST_TOKEN"), "{}", e.message);
    assert!(!e.message.contains("REDIS_REST_URL"));
    assert_eq!(c.origin().unwrap_err().code.as_str(), "config_error");
    assert_eq!(c.token_secret().unwrap_err().code.as_str(), "config_error");
    // A previous secret alone is not a secret to issue tokens with.
    let c = parse(&[("RESERVATION_TOKEN_SECRET_PREVIOUS", "old")]).unwrap();
    assert_eq!(c.token_secrets().unwrap_err().code.as_str(), "config_error");
    let c = parse(&[
        ("RESERVATION_TOKEN_SECRET", "new"),
        ("RESERVATION_TOKEN_SECRET_PREVIOUS", "old"),
    ])
    .unwrap();
    assert_eq!(c.token_secrets().unwrap(), vec!["new", "old"]);
}

#[test]
fn malformed_numbers_and_bounds_are_config_errors_not_panics() {
    for bad in [
        &[("STOCK_CACHE_SECONDS", "soon")][..],
        &[("MAX_ITEMS", "51")],
        &[("MAX_ITEMS", "0")],
        &[("DEFAULT_HOLD_SECONDS", "1000")],
        &[("RATE_LIMIT_PER_MINUTE", "-1")],
        &[("PAYMENT_WINDOW_SECONDS", "0")],
        &[("PAYMENT_WINDOW_SECONDS", "soon")],
        &[("CONFIRM_GRACE_SECONDS", "-1")],
        &[("EXPOSE_EXACT_COUNTS", "maybe")],
        &[("REDIS_KEY_PREFIX", "a{b}")],
        &[("CUSTOMER_RATE_LIMIT_PER_MINUTE", "many")],
        &[("CUSTOMER_JWT_SECRET", "s")],
        &[("CUSTOMER_JWT_SECRET", "s"), ("CUSTOMER_JWT_ISSUER", "i")],
        &[
            ("CUSTOMER_JWKS", r#"{"keys": []}"#),
            ("CUSTOMER_JWT_ISSUER", "i"),
            ("CUSTOMER_JWT_AUDIENCE", "a"),
        ],
        &[
            ("CUSTOMER_JWKS", "{"),
            ("CUSTOMER_JWT_ISSUER", "i"),
            ("CUSTOMER_JWT_AUDIENCE", "a"),
        ],
    ] {
        let e = parse(bad).unwrap_err();
        assert_eq!(
            (e.status(), e.code.as_str()),
            (500, "config_error"),
            "{bad:?}"
        );
    }
}

#[cfg(not(feature = "test-clock"))]
#[test]
fn a_production_build_ignores_the_clock_offset() {
    let c = parse(&[("CLOCK_OFFSET_MS", "-5000")]).unwrap();
    assert_eq!(c.clock_offset_ms, 0);
}

#[test]
fn lists_flags_and_urls_are_normalised() {
    let c = parse(&[
        (
            "ALLOWED_ORIGINS",
            " https://shop.example/ , http://127.0.0.1:8787,",
        ),
        ("EXPOSE_EXACT_COUNTS", "TRUE"),
        ("ORIGIN_URL", "http://o:8080/"),
        ("EDGE_ORIGIN_SECRET", "s"),
        ("CLOCK_OFFSET_MS", "-5000"),
    ])
    .unwrap();
    assert_eq!(
        c.allowed_origins,
        vec!["https://shop.example", "http://127.0.0.1:8787"]
    );
    assert!(c.origin_allowed("https://shop.example"));
    assert!(!c.origin_allowed("https://evil.example"));
    assert!(c.expose_exact_counts);
    assert_eq!(c.origin().unwrap().url, "http://o:8080");
    #[cfg(feature = "test-clock")]
    assert_eq!(c.clock_offset_ms, -5000);
}

#[test]
fn customer_jwt_settings_are_validated_and_name_the_variable() {
    let c = parse(&[
        ("CUSTOMER_JWT_SECRET", "s"),
        ("CUSTOMER_JWT_ISSUER", "https://shop.example"),
        ("CUSTOMER_JWT_AUDIENCE", "edgestock"),
        ("CUSTOMER_RATE_LIMIT_PER_MINUTE", "4"),
    ])
    .unwrap();
    assert!(c.customer_auth.is_some());
    assert_eq!(c.customer_rate_limit_per_minute, 4);
    for (vars, named) in [
        (&[("CUSTOMER_JWT_SECRET", "s")][..], "CUSTOMER_JWT_ISSUER"),
        (
            &[("CUSTOMER_JWKS", r#"{"keys": []}"#)],
            "CUSTOMER_JWT_AUDIENCE",
        ),
        (
            &[
                ("CUSTOMER_JWKS", "not json"),
                ("CUSTOMER_JWT_ISSUER", "i"),
                ("CUSTOMER_JWT_AUDIENCE", "a"),
            ],
            "CUSTOMER_JWKS",
        ),
    ] {
        let e = parse(vars).unwrap_err();
        assert_eq!((e.status(), e.code.as_str()), (500, "config_error"));
        assert!(e.message.contains(named), "{vars:?}: {}", e.message);
    }
}

#[test]
fn debug_output_redacts_secrets() {
    let c = parse(&[
        ("REDIS_REST_TOKEN", "hunter2"),
        ("RESERVATION_TOKEN_SECRET_PREVIOUS", "swordfish"),
        ("CUSTOMER_JWT_SECRET", "opensesame"),
        ("CUSTOMER_JWT_ISSUER", "i"),
        ("CUSTOMER_JWT_AUDIENCE", "a"),
    ])
    .unwrap();
    assert!(!format!("{c:?}").contains("opensesame"));
    assert!(!format!("{c:?}").contains("hunter2"));
    assert!(!format!("{c:?}").contains("swordfish"));
}

#[test]
fn sharded_endpoints_pair_urls_with_tokens_and_default_one_shard_each() {
    let c = parse(&[
        ("REDIS_REST_URL", "http://a, http://b"),
        ("REDIS_REST_TOKEN", "ta,tb"),
    ])
    .unwrap();
    assert_eq!(c.redis_shards, 2);
    let ends: Vec<(&str, &str)> = c
        .redis_endpoints()
        .unwrap()
        .iter()
        .map(|r| (r.url, r.token))
        .collect();
    assert_eq!(ends, [("http://a", "ta"), ("http://b", "tb")]);
    // One token serves every endpoint; more shards than endpoints is fine.
    let c = parse(&[
        ("REDIS_REST_URL", "http://a,http://b"),
        ("REDIS_REST_TOKEN", "t"),
        ("REDIS_SHARDS", "16"),
    ])
    .unwrap();
    assert_eq!(c.keys().shard_count(), 16);
    assert!(c.redis_endpoints().unwrap().iter().all(|r| r.token == "t"));
    assert_eq!(parse(&[]).unwrap().redis_shards, 1);
}

#[test]
fn shard_settings_that_cannot_work_are_config_errors_naming_the_variable() {
    let two = ("REDIS_REST_URL", "http://a,http://b");
    for (pairs, names) in [
        (vec![two, ("REDIS_REST_TOKEN", "x,y,z")], "REDIS_REST_TOKEN"),
        (vec![two, ("REDIS_SHARDS", "1")], "REDIS_SHARDS"),
        (vec![("REDIS_SHARDS", "65")], "REDIS_SHARDS"),
        (vec![("REDIS_SHARDS", "many")], "REDIS_SHARDS"),
    ] {
        let e = parse(&pairs).unwrap_err();
        assert_eq!((e.status(), e.code.as_str()), (500, "config_error"));
        assert!(e.message.contains(names), "{pairs:?}: {}", e.message);
    }
}
