//! Validated domain types shared by the edge and the origin.

use std::fmt;

/// Longest SKU accepted anywhere.
pub const SKU_MAX_LEN: usize = 64;

/// A stock-keeping unit id: `^[A-Za-z0-9._:-]{1,64}$`.
///
/// The character set excludes `{`, `}` and whitespace so a SKU can sit inside a
/// Redis hash tag (`stock:{sku}`) without changing which slot the key hashes to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sku(String);

/// Why a value was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

impl Sku {
    /// Parses a SKU.
    ///
    /// # Errors
    /// When it is empty, longer than [`SKU_MAX_LEN`] or has a character outside `[A-Za-z0-9._:-]`.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
        if s.is_empty() || s.len() > SKU_MAX_LEN || !s.chars().all(ok_char) {
            return Err(InvalidValue(format!(
                "sku must match ^[A-Za-z0-9._:-]{{1,{SKU_MAX_LEN}}}$"
            )));
        }
        Ok(Self(s.to_owned()))
    }

    /// The SKU as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sku_accepts_the_documented_alphabet_and_rejects_the_rest() {
        for ok in ["a", "SKU-1", "x.y_z:9", &"a".repeat(64)] {
            assert!(Sku::parse(ok).is_ok(), "{ok} should be valid");
        }
        for bad in ["", "a b", "a{b}", "é", "a/b", &"a".repeat(65)] {
            assert!(Sku::parse(bad).is_err(), "{bad} should be invalid");
        }
    }
}
