//! How Google's JSON encodes what plain serde would get wrong: 64-bit
//! integers as strings, durations as `"3.5s"`, timestamps as RFC 3339 text,
//! and enumerations that grow over time.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// An enumeration of Google's API: every known value has a variant, and an
/// unknown value (added after this model was generated) is kept verbatim.
pub trait WireEnum: Sized {
    /// The value as Google spells it.
    fn as_str(&self) -> &str;
    /// The variant for a wire value; unknown values become the fallback arm.
    fn from_wire(s: &str) -> Self;
    /// Whether the value is one this model was generated with.
    fn is_known(&self) -> bool;
}

pub(crate) struct WireEnumVisitor<T>(pub(crate) std::marker::PhantomData<T>);

impl<T: WireEnum> Visitor<'_> for WireEnumVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an enumeration value (a string)")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        Ok(T::from_wire(v))
    }
}

/// Defines a wire enumeration with a fallback arm `Unrecognized(String)`.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $wire:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name {
            $(
                #[doc = concat!("`", $wire, "`.")]
                $variant,
            )*
            /// A value this model does not know (added by Google later); kept
            /// verbatim so it round-trips.
            Unrecognized(String),
        }

        impl $name {
            /// Every value this model knows, in Google's order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant,)*];
        }

        impl $crate::model::WireEnum for $name {
            fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)*
                    $name::Unrecognized(s) => s,
                }
            }
            fn from_wire(s: &str) -> Self {
                match s {
                    $($wire => $name::$variant,)*
                    other => $name::Unrecognized(other.to_owned()),
                }
            }
            fn is_known(&self) -> bool {
                !matches!(self, $name::Unrecognized(_))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str($crate::model::WireEnum::as_str(self))
            }
        }

        impl ::std::convert::From<&str> for $name {
            fn from(s: &str) -> Self {
                $crate::model::WireEnum::from_wire(s)
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($crate::model::WireEnum::as_str(self))
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str($crate::model::wire::WireEnumVisitor(::std::marker::PhantomData))
            }
        }
    };
}

/// `Option<i64>` as Google's JSON string (numbers are accepted too).
pub(crate) mod opt_int64 {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(n) => s.collect_str(n),
            None => s.serialize_none(),
        }
    }

    struct Int64Visitor;

    impl Visitor<'_> for Int64Visitor {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a 64-bit integer as a string or a number")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            v.parse::<i64>()
                .map(Some)
                .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            i64::try_from(v)
                .map(Some)
                .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        d.deserialize_any(Int64Visitor)
    }
}

/// `Option<Duration>` as Google's `"3.5s"` text.
pub(crate) mod opt_duration {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.collect_str(&format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text: Option<std::borrow::Cow<'de, str>> = Option::deserialize(d)?;
        match text {
            None => Ok(None),
            Some(t) => parse_duration(&t)
                .map(Some)
                .map_err(|why| de::Error::custom(format_args!("invalid duration {t:?}: {why}"))),
        }
    }
}

/// The longest duration text accepted (`"315576000000.999999999s"` is the
/// protobuf maximum).
const MAX_DURATION_TEXT: usize = 32;

/// Parses Google's duration text: seconds with up to nine fractional
/// digits, then `s` (`"0s"`, `"3.5s"`, `"86400s"`). Negative durations are
/// rejected: no AMAPI field takes one.
pub fn parse_duration(text: &str) -> Result<Duration, &'static str> {
    if text.len() > MAX_DURATION_TEXT {
        return Err("too long");
    }
    let body = text.strip_suffix('s').ok_or("missing the trailing 's'")?;
    let (secs, frac) = match body.split_once('.') {
        Some((s, f)) => (s, Some(f)),
        None => (body, None),
    };
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return Err("seconds must be decimal digits");
    }
    let secs: u64 = secs.parse().map_err(|_| "seconds out of range")?;
    let nanos = match frac {
        None => 0,
        Some(f) => {
            if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
                return Err("the fraction must be 1 to 9 decimal digits");
            }
            let digits: u32 = f.parse().map_err(|_| "fraction out of range")?;
            digits * 10u32.pow(9 - f.len() as u32)
        }
    };
    Ok(Duration::new(secs, nanos))
}

/// Formats a duration as Google does: whole seconds, or 3, 6 or 9
/// fractional digits.
pub fn format_duration(d: Duration) -> String {
    let (secs, nanos) = (d.as_secs(), d.subsec_nanos());
    if nanos == 0 {
        format!("{secs}s")
    } else if nanos.is_multiple_of(1_000_000) {
        format!("{secs}.{:03}s", nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        format!("{secs}.{:06}s", nanos / 1_000)
    } else {
        format!("{secs}.{nanos:09}s")
    }
}

/// An RFC 3339 timestamp as Google sends it (`2026-11-28T15:01:23.045Z`).
///
/// The text is kept as received, so it round-trips byte for byte; it is
/// validated on the way in and can be read as Unix time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Timestamp(String);

/// Why a text is not an RFC 3339 timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid RFC 3339 timestamp {text:?}: {why}")]
pub struct TimestampError {
    text: String,
    why: &'static str,
}

impl Timestamp {
    /// Validates RFC 3339 text (`Z` or a numeric offset, 0 to 9 fractional
    /// digits).
    pub fn parse(text: impl Into<String>) -> Result<Self, TimestampError> {
        let text = text.into();
        match unix_nanos(&text) {
            Ok(_) => Ok(Self(text)),
            Err(why) => Err(TimestampError { text, why }),
        }
    }

    /// The timestamp for a number of seconds and nanoseconds since the Unix
    /// epoch, written in UTC with `Z` (fractional digits only when not
    /// zero); `None` outside the years 0000 to 9999 or for 10^9 nanoseconds
    /// or more.
    pub fn from_unix(secs: i64, nanos: u32) -> Option<Self> {
        // 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
        if !(-62_167_219_200..=253_402_300_799).contains(&secs) || nanos >= 1_000_000_000 {
            return None;
        }
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
        let frac = if nanos == 0 {
            String::new()
        } else if nanos.is_multiple_of(1_000_000) {
            format!(".{:03}", nanos / 1_000_000)
        } else {
            format!(".{nanos:09}")
        };
        Some(Self(format!(
            "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}{frac}Z"
        )))
    }

    /// The text as received.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Seconds and nanoseconds since the Unix epoch.
    pub fn unix(&self) -> (i64, u32) {
        // Validated on construction; the fallback is unreachable.
        let n = unix_nanos(&self.0).unwrap_or(0);
        (
            n.div_euclid(1_000_000_000) as i64,
            n.rem_euclid(1_000_000_000) as u32,
        )
    }

    /// The timestamp as a [`SystemTime`].
    pub fn to_system_time(&self) -> SystemTime {
        let (secs, nanos) = self.unix();
        if secs >= 0 {
            SystemTime::UNIX_EPOCH + Duration::new(secs.unsigned_abs(), nanos)
        } else {
            SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
                + Duration::from_nanos(u64::from(nanos))
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Timestamp {
    type Err = TimestampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text: std::borrow::Cow<'de, str> = Deserialize::deserialize(d)?;
        Timestamp::parse(text.into_owned()).map_err(de::Error::custom)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn digits(b: &[u8], at: usize, n: usize) -> Result<i64, &'static str> {
    let part = b.get(at..at + n).ok_or("too short")?;
    let mut v = 0i64;
    for &c in part {
        if !c.is_ascii_digit() {
            return Err("expected a digit");
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Ok(v)
}

/// Nanoseconds since the Unix epoch of RFC 3339 text.
fn unix_nanos(text: &str) -> Result<i128, &'static str> {
    let b = text.as_bytes();
    if b.len() > 40 {
        return Err("too long");
    }
    let (y, mo, d) = (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return Err("expected YYYY-MM-DD");
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return Err("expected 'T' between date and time");
    }
    let (h, mi, s) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return Err("expected hh:mm:ss");
    }
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo) {
        return Err("month out of range");
    }
    if d < 1 || d > month_days[(mo - 1) as usize] {
        return Err("day out of range");
    }
    if h > 23 || mi > 59 || s > 60 {
        return Err("time out of range");
    }
    let mut i = 19;
    let mut nanos: i128 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let n = i - start;
        if n == 0 || n > 9 {
            return Err("the fraction must be 1 to 9 digits");
        }
        nanos = i128::from(digits(b, start, n)?) * 10i128.pow(9 - n as u32);
    }
    let offset_secs = match b.get(i) {
        Some(b'Z' | b'z') if b.len() == i + 1 => 0,
        Some(sign @ (b'+' | b'-')) if b.len() == i + 6 && b[i + 3] == b':' => {
            let (oh, om) = (digits(b, i + 1, 2)?, digits(b, i + 4, 2)?);
            if oh > 23 || om > 59 {
                return Err("offset out of range");
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return Err("expected 'Z' or a +hh:mm offset at the end"),
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s.min(59) - offset_secs;
    Ok(i128::from(secs) * 1_000_000_000 + nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn google_durations_parse_and_format_canonically() {
        assert_eq!(parse_duration("3.5s"), Ok(Duration::from_millis(3500)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(format_duration(Duration::from_millis(3500)), "3.500s");
        assert_eq!(format_duration(Duration::from_secs(86_400)), "86400s");
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1").is_err());
        assert!(parse_duration("1.0000000001s").is_err());
        assert!(parse_duration("99999999999999999999999s").is_err());
    }

    #[test]
    fn timestamps_with_offsets_name_the_same_instant() {
        let z = Timestamp::parse("2026-11-28T15:01:23.045Z").unwrap();
        let off = Timestamp::parse("2026-11-28T16:01:23.045+01:00").unwrap();
        assert_eq!(z.unix(), off.unix());
        assert_eq!(z.unix(), (1_795_878_083, 45_000_000));
        assert!(Timestamp::parse("2026-02-29T00:00:00Z").is_err());
        assert!(Timestamp::parse("2026-11-28").is_err());
        assert!(Timestamp::parse("2026-11-28T15:01:23").is_err());
    }

    proptest! {
        #[test]
        fn durations_round_trip_through_text(secs in 0u64..1_000_000_000_000, nanos in 0u32..1_000_000_000) {
            let d = Duration::new(secs, nanos);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }

        #[test]
        fn unix_times_round_trip_through_timestamps(secs in -62_135_596_800i64..253_402_300_799, nanos in 0u32..1_000_000_000) {
            let t = Timestamp::from_unix(secs, nanos).unwrap();
            let back = Timestamp::parse(t.as_str()).unwrap();
            prop_assert_eq!(back.unix(), (secs, nanos));
        }

        #[test]
        fn out_of_range_unix_times_are_refused(secs in any::<i64>(), nanos in any::<u32>()) {
            if let Some(t) = Timestamp::from_unix(secs, nanos) {
                prop_assert_eq!(Timestamp::parse(t.as_str()).unwrap().unix(), (secs, nanos));
            }
        }

        #[test]
        fn arbitrary_text_never_panics(s in ".{0,48}") {
            let _ = Timestamp::parse(s.clone());
            let _ = parse_duration(&s);
        }
    }
}
