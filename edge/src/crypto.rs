//! Reservation tokens, idempotent reservation ids, request fingerprints, origin signatures and
//! ETags. All HMAC-SHA256 / SHA-256; comparisons of secrets are constant-time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use edgestock_api::{ApiError, ErrorCode};

type HmacSha256 = Hmac<Sha256>;

/// Length of a reservation id in hex characters (128 bits).
pub const RESERVATION_ID_LEN: usize = 32;

/// Longest `Idempotency-Key` accepted.
pub const IDEMPOTENCY_KEY_MAX_LEN: usize = 255;

fn hmac(secret: &str, parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key size");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// The token of reservation `id`: base64url (no padding) of HMAC-SHA256(secret, `"rsv:" + id`).
pub fn reservation_token(secret: &str, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(hmac(secret, &[b"rsv:", id.as_bytes()]))
}

/// Checks the `Authorization` header against the token of `id` in constant time.
///
/// # Errors
/// 401 `missing_token` without a bearer token, 403 `invalid_token` for a wrong one.
pub fn check_token(secret: &str, id: &str, authorization: Option<&str>) -> Result<(), ApiError> {
    let presented = authorization
        .map(str::trim)
        .and_then(|h| {
            let (scheme, rest) = h.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty());
    let Some(presented) = presented else {
        return Err(ApiError::new(
            ErrorCode::MissingToken,
            "this call needs the reservation token as `Authorization: Bearer <token>`",
        ));
    };
    let expected = reservation_token(secret, id);
    if bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidToken,
            "the token does not match this reservation",
        ))
    }
}

/// The reservation id for an `Idempotency-Key`: the first 32 hex characters of
/// HMAC-SHA256(secret, `"idem:" + key`), so retries land on the same record and ids stay
/// unguessable from the key alone.
pub fn idempotent_id(secret: &str, key: &str) -> String {
    let mut id = hex::encode(hmac(secret, &[b"idem:", key.as_bytes()]));
    id.truncate(RESERVATION_ID_LEN);
    id
}

/// A random reservation id from 16 random bytes.
pub fn random_id(bytes: [u8; 16]) -> String {
    hex::encode(bytes)
}

/// Validates an `Idempotency-Key` header value: 1..=255 visible ASCII characters.
///
/// # Errors
/// 422 `invalid_request` otherwise.
pub fn check_idempotency_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty()
        || key.len() > IDEMPOTENCY_KEY_MAX_LEN
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::invalid(
            "Idempotency-Key",
            format!(
                "Idempotency-Key must be 1..={IDEMPOTENCY_KEY_MAX_LEN} visible ASCII characters"
            ),
        ));
    }
    Ok(())
}

/// True for reservation ids this worker can have issued (guards the Redis hash tag).
pub fn is_reservation_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A strong ETag for a body: the first 128 bits of its SHA-256, quoted.
pub fn etag(body: &[u8]) -> String {
    let h = sha256_hex(body);
    format!("\"{}\"", &h[..32])
}

/// True when an `If-None-Match` header matches `etag` (a list, weak tags and `*` included).
pub fn if_none_match(header: Option<&str>, etag: &str) -> bool {
    let Some(h) = header else { return false };
    let bare = etag.trim_start_matches("W/");
    h.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/") == bare)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_base64url_hmac_of_the_id_and_checks_in_both_directions() {
        let t = reservation_token("secret", "abc");
        assert_eq!(t.len(), 43);
        assert!(t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        // Known answer: HMAC-SHA256("secret", "rsv:abc").
        let mut mac = HmacSha256::new_from_slice(b"secret").unwrap();
        mac.update(b"rsv:abc");
        assert_eq!(t, URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));

        assert!(check_token("secret", "abc", Some(&format!("Bearer {t}"))).is_ok());
        assert!(check_token("secret", "abc", Some(&format!("bearer  {t} "))).is_ok());
        let e = check_token("secret", "abc", None).unwrap_err();
        assert_eq!((e.status(), e.code.as_str()), (401, "missing_token"));
        let e = check_token("secret", "abc", Some("Basic xyz")).unwrap_err();
        assert_eq!(e.status(), 401);
        let e = check_token("secret", "abc", Some("Bearer ")).unwrap_err();
        assert_eq!(e.status(), 401);
        let e = check_token("secret", "abd", Some(&format!("Bearer {t}"))).unwrap_err();
        assert_eq!((e.status(), e.code.as_str()), (403, "invalid_token"));
        let e = check_token("other", "abc", Some(&format!("Bearer {t}"))).unwrap_err();
        assert_eq!(e.status(), 403);
        let e = check_token("secret", "abc", Some(&format!("Bearer {}", &t[..10]))).unwrap_err();
        assert_eq!(e.status(), 403);
    }

    #[test]
    fn idempotent_ids_are_stable_per_key_and_secret() {
        let a = idempotent_id("s", "key-1");
        assert_eq!(a.len(), RESERVATION_ID_LEN);
        assert_eq!(a, idempotent_id("s", "key-1"));
        assert_ne!(a, idempotent_id("s", "key-2"));
        assert_ne!(a, idempotent_id("t", "key-1"));
        assert!(is_reservation_id(&a));
        assert_eq!(random_id([0xab; 16]), "ab".repeat(16));
    }

    #[test]
    fn reservation_id_syntax_excludes_hash_tag_characters() {
        assert!(is_reservation_id("0123abcd"));
        for bad in ["", "a{b}", "a b", "a/b", "é", &"a".repeat(65)] {
            assert!(!is_reservation_id(bad), "{bad}");
        }
    }

    #[test]
    fn idempotency_key_bounds() {
        assert!(check_idempotency_key("0b0e3c1e-9d4f-4b7a-8a47-5c3d2f1e0a9b").is_ok());
        assert!(check_idempotency_key("").is_err());
        assert!(check_idempotency_key("has space").is_err());
        assert!(check_idempotency_key(&"k".repeat(256)).is_err());
        assert_eq!(check_idempotency_key("").unwrap_err().status(), 422);
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
}
