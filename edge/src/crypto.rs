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

/// Shortest `Idempotency-Key` of a reserve (128 bits of base64url, rounded up).
pub const IDEMPOTENCY_KEY_MIN_LEN: usize = 22;

/// Longest `Idempotency-Key` of a reserve.
pub const IDEMPOTENCY_KEY_MAX_LEN: usize = 64;

fn hmac(secret: &str, parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key size");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// The token of reservation `id`, valid until `exp_secs` (unix seconds):
/// `<exp_secs>.` followed by base64url (no padding) of
/// HMAC-SHA256(secret, `"rsv:" + id + "." + exp_secs`).
pub fn reservation_token(secret: &str, id: &str, exp_secs: i64) -> String {
    let exp = exp_secs.to_string();
    let mac = hmac(secret, &[b"rsv:", id.as_bytes(), b".", exp.as_bytes()]);
    format!("{exp}.{}", URL_SAFE_NO_PAD.encode(mac))
}

/// The token of reservation `id` bound to the customer of hash `customer`
/// ([`crate::customer::customer_hash`]), valid until `exp_secs`:
/// `<exp_secs>.<customer>.` followed by base64url (no padding) of
/// HMAC-SHA256(secret, `"rsv:" + id + "." + exp_secs + "." + customer`). The MAC covers the
/// binding, so it cannot be stripped (an unbound token's message has one dot less).
pub fn bound_reservation_token(secret: &str, id: &str, exp_secs: i64, customer: &str) -> String {
    let exp = exp_secs.to_string();
    let mac = hmac(
        secret,
        &[
            b"rsv:",
            id.as_bytes(),
            b".",
            exp.as_bytes(),
            b".",
            customer.as_bytes(),
        ],
    );
    format!("{exp}.{customer}.{}", URL_SAFE_NO_PAD.encode(mac))
}

/// The token a reserve answers: bound to `customer` when the request carried one.
pub fn token_for(secret: &str, id: &str, exp_secs: i64, customer: Option<&str>) -> String {
    match customer {
        Some(c) => bound_reservation_token(secret, id, exp_secs, c),
        None => reservation_token(secret, id, exp_secs),
    }
}

/// The expiry of the token of a reservation created at `created_ms`: its creation second plus
/// `lifetime_secs` (`MAX_HOLD_SECONDS + PAYMENT_WINDOW_SECONDS + CONFIRM_GRACE_SECONDS`). Fixed
/// at creation, so a replay answers the same token.
pub fn token_expiry_secs(created_ms: i64, lifetime_secs: u64) -> i64 {
    created_ms
        .div_euclid(1000)
        .saturating_add(i64::try_from(lifetime_secs).unwrap_or(i64::MAX))
}

/// Checks the `Authorization` header against the token of `id` in constant time, then its
/// expiry against `now_ms`. A token of any of `secrets` (the current one, and the previous one
/// during a rotation) is accepted. Answers the customer hash a bound token carries (`None` for a
/// token in the unbound form).
///
/// # Errors
/// 401 `missing_token` without a bearer token, 403 `invalid_token` for a wrong or malformed one,
/// 401 `token_expired` for a genuine one past its expiry.
pub fn check_token(
    secrets: &[&str],
    id: &str,
    authorization: Option<&str>,
    now_ms: i64,
) -> Result<Option<String>, ApiError> {
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
    let invalid = || {
        ApiError::new(
            ErrorCode::InvalidToken,
            "the token does not match this reservation",
        )
    };
    let mut parts = presented.split('.');
    let (exp, customer) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(e), Some(_), None, None) => (e, None),
        (Some(e), Some(c), Some(_), None) if crate::customer::is_customer_hash(c) => (e, Some(c)),
        _ => return Err(invalid()),
    };
    let exp: i64 = Some(exp)
        .filter(|e| !e.is_empty() && e.len() <= 12 && e.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|e| e.parse().ok())
        .ok_or_else(invalid)?;
    let genuine = secrets.iter().fold(false, |ok, secret| {
        let expected = token_for(secret, id, exp, customer);
        ok | bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
    });
    if !genuine {
        return Err(invalid());
    }
    if now_ms >= exp.saturating_mul(1000) {
        return Err(ApiError::new(
            ErrorCode::TokenExpired,
            "the reservation token has expired",
        ));
    }
    Ok(customer.map(str::to_owned))
}

/// The subject an `Idempotency-Key` is scoped to, the strongest one present: the customer (a
/// storefront-issued JWT's verified `sub`), else the cart, else the client's
/// IP (IPv6 by its /64), else the one anonymous scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// A verified customer (the hash of its JWT's `iss` and `sub`,
    /// [`crate::customer::customer_hash`]).
    Customer(&'a str),
    /// The request's `cart_id`.
    Cart(&'a str),
    /// The client address, IPv6 already reduced to its /64 (see [`client_network`]).
    Ip(&'a str),
    /// Neither of the above.
    Anonymous,
}

impl Subject<'_> {
    /// The scope's name, also the rate-limit subject of the same client
    /// (`customer:…`, `cart:…`, `ip:…`, `anon`).
    pub fn name(self) -> String {
        match self {
            Subject::Customer(s) => format!("customer:{s}"),
            Subject::Cart(c) => format!("cart:{c}"),
            Subject::Ip(ip) => format!("ip:{ip}"),
            Subject::Anonymous => "anon".to_owned(),
        }
    }
}

/// The client as rate limits and idempotency scopes see it: an IPv4 address as is, an IPv6 one
/// by its /64 (`2001:db8:1:2::/64`), since one subscriber holds a whole /64.
pub fn client_network(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let net = u128::from(v6) & !((1u128 << 64) - 1);
                format!("{}/64", std::net::Ipv6Addr::from(net))
            }
        },
    }
}

/// The reservation id for an `Idempotency-Key` of `subject`: the first 32 hex characters of
/// HMAC-SHA256(secret, `"idem:" + subject + "\n" + key`), so the same client's retries land on
/// the same record, the same key from another client is another reservation, and ids stay
/// unguessable from the key alone.
pub fn idempotent_id(secret: &str, subject: Subject<'_>, key: &str) -> String {
    let scope = subject.name();
    let mut id = hex::encode(hmac(
        secret,
        &[b"idem:", scope.as_bytes(), b"\n", key.as_bytes()],
    ));
    id.truncate(RESERVATION_ID_LEN);
    id
}

/// A random reservation id from 16 random bytes.
pub fn random_id(bytes: [u8; 16]) -> String {
    hex::encode(bytes)
}

/// Validates the `Idempotency-Key` of a reserve: 22..=64 base64url characters (`A-Z a-z 0-9 - _`,
/// no padding; a UUID or 16+ random bytes in base64url fit).
///
/// # Errors
/// 422 `invalid_request` (field `Idempotency-Key`) otherwise.
pub fn check_reserve_idempotency_key(key: &str) -> Result<(), ApiError> {
    let ok = (IDEMPOTENCY_KEY_MIN_LEN..=IDEMPOTENCY_KEY_MAX_LEN).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return Err(ApiError::invalid(
            "Idempotency-Key",
            format!(
                "Idempotency-Key must be {IDEMPOTENCY_KEY_MIN_LEN}..={IDEMPOTENCY_KEY_MAX_LEN} \
                 base64url characters (A-Z, a-z, 0-9, - and _)"
            ),
        ));
    }
    Ok(())
}

/// True for reservation ids this worker can have issued: a base of `A-Z a-z 0-9 - _`, then for
/// a reservation on shards other than 0 alone `.` and the shards' hex mask
/// (`edgestock_core::keys::ReservationShards`); at most 64 bytes.
pub fn is_reservation_id(id: &str) -> bool {
    let base = id.split_once('.').map_or(id, |(b, _)| b);
    !base.is_empty()
        && id.len() <= 64
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && edgestock_core::keys::ReservationShards::parse(id).is_some()
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
mod tests;
