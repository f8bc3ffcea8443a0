//! Certificate serial numbers and fingerprints.

use std::fmt;
use std::str::FromStr;

use crate::decode;
use crate::error::CaError;

/// A certificate serial number: a positive integer, held as its minimal
/// big-endian magnitude (no leading zero bytes).
///
/// New serials are 128 random bits from the system CSPRNG, as the CA/Browser
/// Forum asks (at least 64 bits of entropy), which makes collisions between
/// the certificates of one CA negligible without any shared counter.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(Vec<u8>);

impl Serial {
    /// A fresh random positive 128-bit serial; fails only if the system
    /// random number generator does.
    pub fn random() -> Result<Self, CaError> {
        let mut b = [0u8; 16];
        aws_lc_rs::rand::fill(&mut b).map_err(|_| CaError::Backend {
            during: "drawing a random serial",
            reason: "the system random number generator failed".into(),
        })?;
        Ok(Self::from_bytes(&b))
    }

    /// The serial whose big-endian bytes are `bytes` (a DER INTEGER's
    /// content for a positive serial); leading zeros are dropped.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        let v = bytes[start..].to_vec();
        Self(if v.is_empty() { vec![0] } else { v })
    }

    /// The minimal big-endian magnitude.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Lower-case hex of [`as_bytes`](Self::as_bytes).
    pub fn to_hex(&self) -> String {
        decode::hex(&self.0)
    }

    pub(crate) fn to_rcgen(&self) -> rcgen::SerialNumber {
        rcgen::SerialNumber::from_slice(&self.0)
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({})", self.to_hex())
    }
}

/// A serial number that is not hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("serial {0:?} is not a hex number of at most 20 bytes")]
pub struct SerialParseError(pub String);

impl FromStr for Serial {
    type Err = SerialParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().replace(':', "");
        let t = if !t.len().is_multiple_of(2) {
            format!("0{t}")
        } else {
            t
        };
        match decode::unhex(&t) {
            Some(b) if !b.is_empty() && b.len() <= 21 => Ok(Self::from_bytes(&b)),
            _ => Err(SerialParseError(s.to_owned())),
        }
    }
}

impl serde::Serialize for Serial {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Serial {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The SHA-256 digest of a certificate's DER: how NanoMDM-style servers pin
/// an enrollment to the certificate it authenticated with.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of `der`.
    pub fn of(der: &[u8]) -> Self {
        Self(decode::sha256(der))
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        decode::hex(&self.0)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn random_serials_are_positive_distinct_and_at_most_16_bytes() {
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let s = Serial::random().unwrap();
            assert!(s.as_bytes().len() <= 16);
            assert_ne!(s.as_bytes(), &[0]);
            assert!(seen.insert(s));
        }
    }

    proptest! {
        #[test]
        fn serial_hex_round_trips(bytes in proptest::collection::vec(any::<u8>(), 1..20)) {
            let s = Serial::from_bytes(&bytes);
            prop_assert_eq!(s.to_hex().parse::<Serial>().unwrap(), s.clone());
            let json = serde_json::to_string(&s).unwrap();
            prop_assert_eq!(serde_json::from_str::<Serial>(&json).unwrap(), s);
        }
    }
}
