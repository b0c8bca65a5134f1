//! HMAC signatures of edge-forwarded calls: the edge signs with [`sign`], the origin checks with
//! [`verify`]; one implementation for both sides.
//!
//! # Format
//! The edge sends two headers:
//! - `x-edgestock-timestamp`: unix seconds when it signed;
//! - `x-edgestock-signature`: lowercase hex `HMAC-SHA256(EDGE_ORIGIN_SECRET, message)` where
//!   `message = METHOD + "\n" + PATH + "\n" + TIMESTAMP + "\n" + BODY` (`PATH` without the query
//!   string, `BODY` the exact request bytes).
//!
//! The origin rejects a signature older or newer than [`MAX_SKEW_SECS`] (replay window) and
//! compares in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Header carrying the signing time (unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-edgestock-timestamp";
/// Header carrying the hex signature.
pub const SIGNATURE_HEADER: &str = "x-edgestock-signature";
/// Largest accepted distance between the signing time and the origin's clock.
pub const MAX_SKEW_SECS: i64 = 300;

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The timestamp is not an integer.
    #[error("malformed timestamp")]
    MalformedTimestamp,
    /// The timestamp is outside the accepted window.
    #[error("stale timestamp")]
    Stale,
    /// The signature does not match.
    #[error("bad signature")]
    Mismatch,
}

fn mac(secret: &[u8], method: &str, path: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("hmac takes any key length");
    for part in [method.as_bytes(), path.as_bytes(), timestamp.as_bytes()] {
        m.update(part);
        m.update(b"\n");
    }
    m.update(body);
    m
}

/// Signs a request: returns the lowercase hex signature.
pub fn sign(secret: &[u8], method: &str, path: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    hex::encode(mac(secret, method, path, &ts, body).finalize().into_bytes())
}

/// Verifies a signature made by [`sign`] at `timestamp` against the clock `now` (unix seconds).
///
/// # Errors
/// [`SignatureError`] when the timestamp is malformed or stale, or the signature does not match.
pub fn verify(
    secret: &[u8],
    method: &str,
    path: &str,
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now: i64,
) -> Result<(), SignatureError> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::MalformedTimestamp)?;
    // `abs_diff`: no overflow for any pair of i64 (`(now - ts).abs()` panics on extreme values).
    if now.abs_diff(ts) > MAX_SKEW_SECS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let given = hex::decode(signature.trim()).map_err(|_| SignatureError::Mismatch)?;
    mac(secret, method, path, timestamp.trim(), body)
        .verify_slice(&given)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn a_signature_verifies_with_the_same_inputs() {
        let sig = sign(b"s3cret", "POST", "/v1/orders", NOW, b"{\"a\":1}");
        assert_eq!(sig.len(), 64);
        assert!(sig
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        let ts = NOW.to_string();
        assert_eq!(
            verify(
                b"s3cret",
                "POST",
                "/v1/orders",
                &ts,
                b"{\"a\":1}",
                &sig,
                NOW + 10
            ),
            Ok(())
        );
    }

    #[test]
    fn any_changed_part_is_a_mismatch() {
        let sig = sign(b"s3cret", "POST", "/v1/orders", NOW, b"body");
        let ts = NOW.to_string();
        let cases = [
            (
                "other secret",
                b"x".as_slice(),
                "POST",
                "/v1/orders",
                b"body".as_slice(),
            ),
            ("other method", b"s3cret", "PUT", "/v1/orders", b"body"),
            ("other path", b"s3cret", "POST", "/v1/orders/1", b"body"),
            ("other body", b"s3cret", "POST", "/v1/orders", b"bodz"),
        ];
        for (what, secret, method, path, body) in cases {
            assert_eq!(
                verify(secret, method, path, &ts, body, &sig, NOW),
                Err(SignatureError::Mismatch),
                "{what}"
            );
        }
    }

    #[test]
    fn stale_and_malformed_timestamps_are_refused() {
        let sig = sign(b"k", "POST", "/p", NOW - 301, b"");
        let old = (NOW - 301).to_string();
        assert_eq!(
            verify(b"k", "POST", "/p", &old, b"", &sig, NOW),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(b"k", "POST", "/p", "soon", b"", &sig, NOW),
            Err(SignatureError::MalformedTimestamp)
        );
    }

    #[test]
    fn adversary_extreme_timestamps_are_stale_not_a_panic() {
        let sig = sign(b"k", "POST", "/p", i64::MIN, b"{}");
        let min = i64::MIN.to_string();
        let max = i64::MAX.to_string();
        for (ts, now) in [
            (min.as_str(), 1_700_000_000),
            (max.as_str(), 1_700_000_000),
            (max.as_str(), i64::MIN),
            (min.as_str(), i64::MAX),
        ] {
            assert_eq!(
                verify(b"k", "POST", "/p", ts, b"{}", &sig, now),
                Err(SignatureError::Stale),
                "{ts} at {now}"
            );
        }
        // The same extreme instant on both sides is no skew at all.
        assert_eq!(
            verify(b"k", "POST", "/p", &min, b"{}", &sig, i64::MIN),
            Ok(())
        );
    }

    #[test]
    fn the_message_layout_matches_the_documented_format() {
        // Known answer computed independently: HMAC-SHA256("k", "GET\n/p\n1\n").
        let expected = {
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(b"k").unwrap();
            m.update(b"GET\n/p\n1\n");
            hex::encode(m.finalize().into_bytes())
        };
        assert_eq!(sign(b"k", "GET", "/p", 1, b""), expected);
    }
}
