//! Standard Webhooks signatures: `webhook-signature: v1,<base64 of HMAC-SHA256(key, "{id}.{ts}.{body}")>`
//! with the key from the secret `whsec_<base64 key>`. The receiver side ([`verify`]) is here
//! too, for tests and for anyone reusing the crate; it follows the specification (several
//! space-separated signatures, a five-minute timestamp tolerance, constant-time comparison).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header carrying the message id (the same on every attempt of one message).
pub const ID_HEADER: &str = "webhook-id";
/// The header carrying the signing time, Unix seconds.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// The header carrying the signatures.
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// The secret's prefix.
pub const SECRET_PREFIX: &str = "whsec_";
/// How far a timestamp may be from the receiver's clock.
pub const TOLERANCE_SECONDS: i64 = 300;

/// Why a secret or a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The secret is not `whsec_<base64>` (or its key is empty).
    #[error("the secret is not whsec_<base64>")]
    BadSecret,
    /// The timestamp is outside the tolerance, or not a number.
    #[error("the timestamp is not within five minutes of now")]
    BadTimestamp,
    /// No `v1` signature matches.
    #[error("no signature matches")]
    Mismatch,
}

/// A fresh secret: `whsec_` and the base64 of 32 random bytes (the thread's CSPRNG).
pub fn new_secret() -> String {
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

fn key_of(secret: &str) -> Result<Vec<u8>, SignatureError> {
    let b64 = secret
        .strip_prefix(SECRET_PREFIX)
        .ok_or(SignatureError::BadSecret)?;
    match STANDARD.decode(b64) {
        Ok(key) if !key.is_empty() => Ok(key),
        _ => Err(SignatureError::BadSecret),
    }
}

fn mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    m.update(id.as_bytes());
    m.update(b".");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().into()
}

/// The `webhook-signature` value of message `id` sent at `timestamp` with `body`.
///
/// # Errors
/// [`SignatureError::BadSecret`].
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, SignatureError> {
    let key = key_of(secret)?;
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac(&key, id, timestamp, body))
    ))
}

/// Checks a received message as the specification says a receiver must: the timestamp within
/// [`TOLERANCE_SECONDS`] of `now`, and one of the space-separated `v1,` signatures matching.
///
/// # Errors
/// Why it was refused.
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let key = key_of(secret)?;
    let ts: i64 = timestamp
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    if (now - ts).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::BadTimestamp);
    }
    let expected = mac(&key, id, ts, body);
    let matches = signatures
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .any(|sig| bool::from(sig.as_slice().ct_eq(&expected)));
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The known answer published with the Standard Webhooks reference libraries.
    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TS: i64 = 1_649_367_553;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    #[test]
    fn signing_gives_the_specifications_known_answer() {
        assert_eq!(sign(SECRET, ID, TS, BODY).unwrap(), SIGNATURE);
    }

    #[test]
    fn the_known_answer_verifies_among_other_signatures_and_nothing_else_does() {
        let several = format!("v1,bm90IGl0 v2,{} {SIGNATURE}", &SIGNATURE[3..]);
        assert_eq!(
            verify(SECRET, ID, &TS.to_string(), &several, BODY, TS),
            Ok(())
        );
        let ts = TS.to_string();
        assert_eq!(
            verify(SECRET, ID, &ts, SIGNATURE, b"{}", TS),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, "msg_other", &ts, SIGNATURE, BODY, TS),
            Err(SignatureError::Mismatch)
        );
        // Only the v1 scheme counts.
        let v2 = format!("v2,{}", &SIGNATURE[3..]);
        assert_eq!(
            verify(SECRET, ID, &ts, &v2, BODY, TS),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn timestamps_outside_five_minutes_are_refused() {
        let ts = TS.to_string();
        for now in [TS + 301, TS - 301] {
            assert_eq!(
                verify(SECRET, ID, &ts, SIGNATURE, BODY, now),
                Err(SignatureError::BadTimestamp)
            );
        }
        assert_eq!(verify(SECRET, ID, &ts, SIGNATURE, BODY, TS + 300), Ok(()));
        assert_eq!(
            verify(SECRET, ID, "soon", SIGNATURE, BODY, TS),
            Err(SignatureError::BadTimestamp)
        );
    }

    #[test]
    fn new_secrets_are_whsec_with_32_random_bytes_and_sign() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(key_of(&a).unwrap().len(), 32);
        let sig = sign(&a, "msg_1", 7, b"x").unwrap();
        assert_eq!(verify(&a, "msg_1", "7", &sig, b"x", 7), Ok(()));
        assert_eq!(
            verify(&b, "msg_1", "7", &sig, b"x", 7),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(sign("C2FV", ID, TS, BODY), Err(SignatureError::BadSecret));
    }
}
