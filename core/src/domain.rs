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

/// A stock location (warehouse or store) code: the SKU syntax, `^[A-Za-z0-9._:-]{1,64}$`.
///
/// `default` is an ordinary location that every install has: a call that names no location acts
/// on it, and state written before locations existed belongs to it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location(String);

impl Location {
    /// The code of the location every install has.
    pub const DEFAULT: &'static str = "default";

    /// Parses a location code.
    ///
    /// # Errors
    /// When it is empty, longer than 64 bytes or has a character outside `[A-Za-z0-9._:-]`.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        Sku::parse(s).map(|sku| Self(sku.0)).map_err(|_| {
            InvalidValue(format!(
                "location must match ^[A-Za-z0-9._:-]{{1,{SKU_MAX_LEN}}}$"
            ))
        })
    }

    /// The `default` location.
    pub fn default_location() -> Self {
        Self(Self::DEFAULT.to_owned())
    }

    /// True for `default`.
    pub fn is_default(&self) -> bool {
        self.0 == Self::DEFAULT
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Location {
    fn default() -> Self {
        Self::default_location()
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a reservation is in its life (the `status` of its Redis record).
///
/// `held` → `confirming` (pinned by a confirm) → `committed`; `held` → `released` (given back)
/// or `expired` (its time ran out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReservationStatus {
    /// Units held until the expiry.
    Held,
    /// Pinned by a confirm in progress.
    Confirming,
    /// Turned into sold units.
    Committed,
    /// Given back before its expiry.
    Released,
    /// Its time ran out; its units are back.
    Expired,
}

impl ReservationStatus {
    /// The status as the scripts and the APIs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Confirming => "confirming",
            Self::Committed => "committed",
            Self::Released => "released",
            Self::Expired => "expired",
        }
    }

    /// Parses the scripts' spelling.
    ///
    /// # Errors
    /// On any other text.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        Ok(match s {
            "held" => Self::Held,
            "confirming" => Self::Confirming,
            "committed" => Self::Committed,
            "released" => Self::Released,
            "expired" => Self::Expired,
            other => {
                return Err(InvalidValue(format!(
                    "unknown reservation status {other:?}"
                )))
            }
        })
    }
}

impl fmt::Display for ReservationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ReservationStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservation_statuses_round_trip_and_refuse_other_text() {
        for st in [
            ReservationStatus::Held,
            ReservationStatus::Confirming,
            ReservationStatus::Committed,
            ReservationStatus::Released,
            ReservationStatus::Expired,
        ] {
            assert_eq!(ReservationStatus::parse(st.as_str()), Ok(st));
        }
        assert!(ReservationStatus::parse("HELD").is_err());
    }

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
