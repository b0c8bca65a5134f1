use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

use super::*;

const ISS: &str = "https://shop.example";
const AUD: &str = "edgestock";
const SECRET: &str = "customer-secret";
const NOW_MS: i64 = 1_700_000_000_000;
const NOW: i64 = 1_700_000_000;
const JWKS: &str = include_str!("../../../testkit/fixtures/customer_jwt/jwks.json");
const ES256_PEM: &str = include_str!("../../../testkit/fixtures/customer_jwt/es256.pem");
const RS256_PEM: &str = include_str!("../../../testkit/fixtures/customer_jwt/rs256.pem");

fn claims() -> Value {
    json!({"sub": "user-42", "iss": ISS, "aud": AUD, "exp": NOW + 300, "nbf": NOW - 10})
}

fn with(mut c: Value, k: &str, v: Value) -> Value {
    if v.is_null() {
        c.as_object_mut().unwrap().remove(k);
    } else {
        c[k] = v;
    }
    c
}

fn hs(c: &Value, secret: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        c,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn es(c: &Value, kid: &str) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some(kid.to_owned());
    encode(
        &h,
        c,
        &EncodingKey::from_ec_pem(ES256_PEM.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn rs(c: &Value, kid: &str) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.to_owned());
    encode(
        &h,
        c,
        &EncodingKey::from_rsa_pem(RS256_PEM.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn auth(secret: Option<&str>, jwks: Option<&str>) -> CustomerAuth {
    CustomerAuth::from_config(secret, jwks, Some(ISS), Some(AUD))
        .unwrap()
        .unwrap()
}

fn refused(a: &CustomerAuth, token: &str) {
    let e = a.verify(token, NOW_MS).unwrap_err();
    assert_eq!(
        (e.status(), e.code.as_str()),
        (401, "invalid_customer_token"),
        "{token}"
    );
}

#[test]
fn the_hash_is_sha256_of_issuer_and_sub() {
    // Python: hashlib.sha256(b"https://shop.example\nuser-42").hexdigest()[:32]
    assert_eq!(
        customer_hash(ISS, "user-42"),
        "119ffe9adb6ac1e9147ec92db46732d6"
    );
    assert!(is_customer_hash(&customer_hash(ISS, "x")));
    assert!(!is_customer_hash("119FFE9ADB6AC1E9147EC92DB46732D6"));
    assert!(!is_customer_hash("119ffe9a"));
}

#[test]
fn hs256_tokens_are_verified_with_every_claim() {
    let a = auth(Some(SECRET), None);
    let ok = a.verify(&hs(&claims(), SECRET), NOW_MS).unwrap();
    assert_eq!(ok.hash, customer_hash(ISS, "user-42"));
    // Within the leeway either side.
    let c = with(claims(), "exp", json!(NOW - LEEWAY_SECS + 1));
    assert!(a.verify(&hs(&c, SECRET), NOW_MS).is_ok());
    let c = with(claims(), "nbf", json!(NOW + LEEWAY_SECS - 1));
    assert!(a.verify(&hs(&c, SECRET), NOW_MS).is_ok());
    // An audience list containing ours.
    let c = with(claims(), "aud", json!(["other", AUD]));
    assert!(a.verify(&hs(&c, SECRET), NOW_MS).is_ok());

    refused(&a, &hs(&claims(), "another-secret"));
    refused(
        &a,
        &hs(&with(claims(), "exp", json!(NOW - LEEWAY_SECS - 1)), SECRET),
    );
    refused(
        &a,
        &hs(&with(claims(), "nbf", json!(NOW + LEEWAY_SECS + 1)), SECRET),
    );
    refused(
        &a,
        &hs(
            &with(claims(), "iss", json!("https://evil.example")),
            SECRET,
        ),
    );
    refused(
        &a,
        &hs(&with(claims(), "aud", json!("someone-else")), SECRET),
    );
    for missing in ["exp", "sub", "iss", "aud"] {
        refused(&a, &hs(&with(claims(), missing, Value::Null), SECRET));
    }
    refused(&a, &hs(&with(claims(), "sub", json!("")), SECRET));
    refused(&a, "not.a.jwt");
    refused(&a, "");
    // A token signed with the right secret but tampered claims.
    let t = hs(&claims(), SECRET);
    let mut parts: Vec<&str> = t.split('.').collect();
    let other = hs(&with(claims(), "sub", json!("user-43")), SECRET);
    parts[1] = other.split('.').nth(1).unwrap();
    refused(&a, &parts.join("."));
}

#[test]
fn alg_none_and_algorithm_confusion_are_refused() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let a = auth(Some(SECRET), Some(JWKS));
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let payload = b64(&claims());
    // alg none, with or without a signature.
    let none = format!("{}.{payload}.", b64(&json!({"alg": "none", "typ": "JWT"})));
    refused(&a, &none);
    let none_kid = format!(
        "{}.{payload}.",
        b64(&json!({"alg": "none", "kid": "rsa-1"}))
    );
    refused(&a, &none_kid);
    // HS256 signed with the RSA key's public JWK text as the HMAC secret (the classic confusion),
    // naming the RSA kid: the RSA key takes RS256 only, and the HS secret is another one.
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("rsa-1".to_owned());
    let confused = encode(&h, &claims(), &EncodingKey::from_secret(JWKS.as_bytes())).unwrap();
    refused(&a, &confused);
    // An ES256 token that names the RSA key, and the other way round.
    refused(&a, &es(&claims(), "rsa-1"));
    refused(&a, &rs(&claims(), "ec-1"));
    // Algorithms nobody configured.
    let t = encode(
        &Header::new(Algorithm::HS512),
        &claims(),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    refused(&a, &t);
}

#[test]
fn jwks_keys_are_chosen_by_kid() {
    let a = auth(None, Some(JWKS));
    let want = customer_hash(ISS, "user-42");
    assert_eq!(a.verify(&es(&claims(), "ec-1"), NOW_MS).unwrap().hash, want);
    assert_eq!(
        a.verify(&rs(&claims(), "rsa-1"), NOW_MS).unwrap().hash,
        want
    );
    refused(&a, &es(&claims(), "unknown"));
    refused(&a, &rs(&with(claims(), "aud", json!("x")), "rsa-1"));
    refused(&a, &es(&with(claims(), "exp", json!(NOW - 100)), "ec-1"));
    // No HS256 secret configured: an HS256 token has no key.
    refused(&a, &hs(&claims(), SECRET));
    // A JWK without kid in the header.
    let t = encode(
        &Header::new(Algorithm::ES256),
        &claims(),
        &EncodingKey::from_ec_pem(ES256_PEM.as_bytes()).unwrap(),
    )
    .unwrap();
    refused(&a, &t);
}

#[test]
fn the_header_is_optional_and_needs_configured_keys() {
    let a = auth(Some(SECRET), None);
    assert_eq!(from_header(Some(&a), None, NOW_MS).unwrap(), None);
    assert_eq!(from_header(None, None, NOW_MS).unwrap(), None);
    let t = hs(&claims(), SECRET);
    assert!(from_header(Some(&a), Some(&t), NOW_MS).unwrap().is_some());
    assert!(from_header(Some(&a), Some(&format!("Bearer {t}")), NOW_MS)
        .unwrap()
        .is_some());
    for (auth, header) in [
        (None, t.as_str()),
        (Some(&a), ""),
        (Some(&a), "  "),
        (Some(&a), &"a".repeat(MAX_TOKEN_LEN + 1)),
    ] {
        let e = from_header(auth, Some(header), NOW_MS).unwrap_err();
        assert_eq!(
            (e.status(), e.code.as_str()),
            (401, "invalid_customer_token")
        );
    }
}

#[test]
fn configuration_errors_name_the_variable() {
    let err = |s: Option<&str>, j: Option<&str>, i: Option<&str>, a: Option<&str>| {
        CustomerAuth::from_config(s, j, i, a).unwrap_err()
    };
    assert!(CustomerAuth::from_config(None, None, None, None)
        .unwrap()
        .is_none());
    assert!(err(Some("s"), None, None, Some(AUD)).contains("CUSTOMER_JWT_ISSUER"));
    assert!(err(None, Some(JWKS), Some(ISS), None).contains("CUSTOMER_JWKS"));
    for bad in [
        "not json",
        "{}",
        r#"{"keys": []}"#,
        r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}"#,
        r#"{"keys": [{"kty": "EC", "crv": "P-256", "x": "EQcR66FMmocxsFCoOfb5o6260ZRM3kokmivJMBOgtTs", "y": "yG0WB_2tiTUPfeIUSiZPpQt8yVSPWOqLbNMTCq019mo"}]}"#,
        r#"{"keys": [{"kty": "EC", "crv": "P-256", "kid": "e", "alg": "RS256", "x": "EQcR66FMmocxsFCoOfb5o6260ZRM3kokmivJMBOgtTs", "y": "yG0WB_2tiTUPfeIUSiZPpQt8yVSPWOqLbNMTCq019mo"}]}"#,
    ] {
        let e = err(None, Some(bad), Some(ISS), Some(AUD));
        assert!(e.contains("CUSTOMER_JWKS"), "{bad}: {e}");
    }
}
