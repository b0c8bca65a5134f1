//! Customer identity: an optional storefront-issued JWT in `X-Customer-Token`, verified with
//! `jsonwebtoken` against a shared secret (HS256, `CUSTOMER_JWT_SECRET`) or a JWK set given in
//! configuration (RS256 / ES256, `CUSTOMER_JWKS`, the key chosen by `kid`). Every key has one
//! pinned algorithm, so `none` and HS/RS confusion are refused; `exp`, `nbf`, `iss` and `aud` are
//! checked with a small leeway, against the edge's clock.

use std::collections::HashSet;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use edgestock_api::{ApiError, ErrorCode};

use crate::crypto;

/// The request header that carries the customer JWT.
pub const HEADER: &str = "x-customer-token";

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: i64 = 30;

/// Longest customer token accepted (a JWT is a header; this bounds the work on garbage).
pub const MAX_TOKEN_LEN: usize = 8192;

/// One verification key with the one algorithm it accepts.
struct Key {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// How customer JWTs are verified (from `CUSTOMER_JWT_*` and `CUSTOMER_JWKS`).
pub struct CustomerAuth {
    /// The configured text it was built from (equality, so `Config` stays comparable).
    source: [Option<String>; 2],
    secret: Option<Key>,
    jwks: Vec<Key>,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for CustomerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerAuth")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field(
                "jwks",
                &self
                    .jwks
                    .iter()
                    .map(|k| (k.kid.clone(), k.alg))
                    .collect::<Vec<_>>(),
            )
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl PartialEq for CustomerAuth {
    fn eq(&self, other: &Self) -> bool {
        (&self.source, &self.issuer, &self.audience)
            == (&other.source, &other.issuer, &other.audience)
    }
}

impl Eq for CustomerAuth {}

/// A verified customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// First 32 hex characters of SHA-256(`iss + "\n" + sub`): what reservations are bound to
    /// and what rate limits and idempotency scopes count.
    pub hash: String,
}

/// The hash of a customer: the first 32 hex characters of SHA-256(`iss + "\n" + sub`).
pub fn customer_hash(iss: &str, sub: &str) -> String {
    let mut h = crypto::sha256_hex(format!("{iss}\n{sub}").as_bytes());
    h.truncate(32);
    h
}

/// True for the syntax of [`customer_hash`] (32 lowercase hex characters).
pub fn is_customer_hash(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    exp: f64,
    nbf: Option<f64>,
}

fn jwks_key(jwk: &jsonwebtoken::jwk::Jwk, i: usize) -> Result<Key, String> {
    let name = jwk
        .common
        .key_id
        .clone()
        .ok_or_else(|| format!("key {i} has no kid"))?;
    let (alg, key) = match &jwk.algorithm {
        AlgorithmParameters::RSA(p) => (
            Algorithm::RS256,
            DecodingKey::from_rsa_components(&p.n, &p.e).map_err(|e| e.to_string())?,
        ),
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => (
            Algorithm::ES256,
            DecodingKey::from_ec_components(&p.x, &p.y).map_err(|e| e.to_string())?,
        ),
        _ => {
            return Err(format!(
                "key {name:?}: only RSA (RS256) and P-256 (ES256) keys"
            ))
        }
    };
    let declared = jwk.common.key_algorithm;
    let matches = match declared {
        None => true,
        Some(KeyAlgorithm::RS256) => alg == Algorithm::RS256,
        Some(KeyAlgorithm::ES256) => alg == Algorithm::ES256,
        Some(_) => false,
    };
    if !matches {
        return Err(format!(
            "key {name:?}: alg {declared:?} does not fit its key type"
        ));
    }
    Ok(Key {
        kid: Some(name),
        alg,
        key,
    })
}

impl CustomerAuth {
    /// Builds the verifier from the configured values; `None` when neither a secret nor a JWK
    /// set is configured (customer tokens are then refused).
    ///
    /// # Errors
    /// A message naming the variable: a secret or JWK set without `CUSTOMER_JWT_ISSUER` and
    /// `CUSTOMER_JWT_AUDIENCE`, a malformed or empty `CUSTOMER_JWKS`, a key of another type.
    pub fn from_config(
        secret: Option<&str>,
        jwks: Option<&str>,
        issuer: Option<&str>,
        audience: Option<&str>,
    ) -> Result<Option<Self>, String> {
        if secret.is_none() && jwks.is_none() {
            return Ok(None);
        }
        let which = if secret.is_some() {
            "CUSTOMER_JWT_SECRET"
        } else {
            "CUSTOMER_JWKS"
        };
        let (Some(issuer), Some(audience)) = (issuer, audience) else {
            return Err(format!(
                "{which} needs CUSTOMER_JWT_ISSUER and CUSTOMER_JWT_AUDIENCE"
            ));
        };
        let secret_key = secret.map(|s| Key {
            kid: None,
            alg: Algorithm::HS256,
            key: DecodingKey::from_secret(s.as_bytes()),
        });
        let jwks_keys = match jwks {
            None => Vec::new(),
            Some(text) => {
                let set: JwkSet = serde_json::from_str(text)
                    .map_err(|e| format!("CUSTOMER_JWKS is not a JWK set: {e}"))?;
                if set.keys.is_empty() {
                    return Err("CUSTOMER_JWKS has no keys".to_owned());
                }
                set.keys
                    .iter()
                    .enumerate()
                    .map(|(i, k)| jwks_key(k, i))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("CUSTOMER_JWKS: {e}"))?
            }
        };
        Ok(Some(Self {
            source: [secret.map(str::to_owned), jwks.map(str::to_owned)],
            secret: secret_key,
            jwks: jwks_keys,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }))
    }

    /// Verifies `token` at `now_ms`.
    ///
    /// # Errors
    /// 401 `invalid_customer_token` for anything but a genuine, current token of this issuer
    /// and audience.
    pub fn verify(&self, token: &str, now_ms: i64) -> Result<Customer, ApiError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed"))?;
        // The key is chosen by the token's alg and kid, and accepts only its own algorithm.
        let key = match header.alg {
            Algorithm::HS256 => self.secret.as_ref(),
            _ => header
                .kid
                .as_deref()
                .and_then(|kid| self.jwks.iter().find(|k| k.kid.as_deref() == Some(kid))),
        }
        .filter(|k| k.alg == header.alg)
        .ok_or_else(|| invalid("no key for its alg and kid"))?;
        let mut v = Validation::new(key.alg);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.required_spec_claims = ["exp", "sub", "iss", "aud"]
            .into_iter()
            .map(str::to_owned)
            .collect::<HashSet<_>>();
        // Times are checked below against the edge's clock.
        v.validate_exp = false;
        v.validate_nbf = false;
        let data = jsonwebtoken::decode::<Claims>(token, &key.key, &v)
            .map_err(|_| invalid("signature or claims"))?;
        let c = data.claims;
        let now = now_ms.div_euclid(1000) as f64;
        let leeway = LEEWAY_SECS as f64;
        if c.exp < now - leeway {
            return Err(invalid("expired"));
        }
        if c.nbf.is_some_and(|nbf| nbf > now + leeway) {
            return Err(invalid("not yet valid"));
        }
        if c.sub.is_empty() {
            return Err(invalid("empty sub"));
        }
        Ok(Customer {
            hash: customer_hash(&c.iss, &c.sub),
        })
    }
}

fn invalid(why: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidCustomerToken,
        format!("the customer token is not valid ({why})"),
    )
}

/// The customer of a request: `None` without an `X-Customer-Token` header, the verified customer
/// with a genuine one.
///
/// # Errors
/// 401 `invalid_customer_token` for a header that is empty, too long, not genuine, expired, of
/// another issuer or audience, or sent to an edge that has no customer keys configured.
pub fn from_header(
    auth: Option<&CustomerAuth>,
    header: Option<&str>,
    now_ms: i64,
) -> Result<Option<Customer>, ApiError> {
    let Some(raw) = header else { return Ok(None) };
    let token = raw.trim();
    let token = token
        .strip_prefix("Bearer ")
        .or_else(|| token.strip_prefix("bearer "))
        .unwrap_or(token)
        .trim();
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Err(invalid("empty or too long"));
    }
    let Some(auth) = auth else {
        return Err(invalid("this edge accepts no customer tokens"));
    };
    auth.verify(token, now_ms).map(Some)
}

#[cfg(test)]
mod tests;
