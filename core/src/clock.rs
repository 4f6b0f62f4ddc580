//! Time, injected: every expiry, tolerance and audit time reads a [`Clock`],
//! so tests move time with a [`ManualClock`] instead of sleeping.
//!
//! # Timestamps a host sees: RFC 3339, UTC, milliseconds
//!
//! Every time in a serialised output of the library (the Vault's `*Info`
//! types, [`Session`](crate::vault::Session), audit records and
//! checkpoints, the audit query) is one format: an RFC 3339 `date-time` in
//! UTC with exactly three fractional digits and `Z`,
//! `2025-06-15T14:13:20.123Z` (what JavaScript's `Date.toISOString()`
//! writes). It is chosen over Unix seconds because a [`Timestamp`] holds
//! milliseconds and the audit chain hashes them: this form is lossless, so an
//! audit record or a checkpoint read back from JSON still verifies. It sorts
//! as text, and every language parses it (`datetime.fromisoformat` in
//! Python 3.11+). Times outside the years 0000 to 9999, which RFC 3339 cannot
//! write (a lifetime of millennia, meaning never), are written as the nearest
//! of `0000-01-01T00:00:00.000Z` and `9999-12-31T23:59:59.999Z`. Durations
//! are whole seconds (`expires_in`).
//!
//! Read back, the format is RFC 3339 as written by others too: `T` or `t`,
//! `Z`, `z` or a numeric offset (`+02:00`, `-00:00`), 1 to 9 fractional
//! digits (cut to the millisecond, towards the past). Leap seconds (`:60`)
//! are refused. Audit records and checkpoints also read the integer
//! milliseconds they were written as before (and that the tenant export
//! writes); nothing else reads integers, so that Unix seconds sent by
//! mistake are refused rather than read as milliseconds.
//!
//! [`rfc3339`] is the serde helper for a host's own types
//! (`#[serde(with = "secrets_core::clock::rfc3339")]`). A bare
//! [`Timestamp`] serialises as integer milliseconds: that is the stored form
//! (rows, the tenant export), which does not change.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A point in time: milliseconds since the Unix epoch, UTC.
///
/// ```
/// use std::time::Duration;
/// use secrets_core::Timestamp;
///
/// let t = Timestamp::from_unix_seconds(1_649_367_553);
/// assert_eq!(t.unix_seconds(), 1_649_367_553);
/// assert_eq!(t.saturating_add(Duration::from_secs(60)).unix_seconds(), 1_649_367_613);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Self = Self(0);

    /// From milliseconds since the epoch.
    #[must_use]
    pub const fn from_unix_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// From whole seconds since the epoch (saturating at the representable range).
    #[must_use]
    pub const fn from_unix_seconds(s: i64) -> Self {
        Self(s.saturating_mul(1000))
    }

    /// Milliseconds since the epoch.
    #[must_use]
    pub const fn unix_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch, rounded towards negative infinity.
    #[must_use]
    pub const fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// `self + d`, saturating at the largest representable time.
    #[must_use]
    pub fn saturating_add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(duration_millis(d)))
    }

    /// `self - d`, saturating at the smallest representable time.
    #[must_use]
    pub fn saturating_sub(self, d: Duration) -> Self {
        Self(self.0.saturating_sub(duration_millis(d)))
    }

    /// This time in RFC 3339, UTC, with milliseconds: the one format a host
    /// sees (see the [module docs](self)). Clamped to the years 0000 to 9999.
    ///
    /// ```
    /// use secrets_core::Timestamp;
    ///
    /// let t = Timestamp::from_unix_millis(1_750_000_000_123);
    /// assert_eq!(t.to_rfc3339(), "2025-06-15T15:06:40.123Z");
    /// assert_eq!(Timestamp::EPOCH.to_rfc3339(), "1970-01-01T00:00:00.000Z");
    /// assert_eq!(Timestamp::from_unix_millis(i64::MAX).to_rfc3339(), "9999-12-31T23:59:59.999Z");
    /// ```
    #[must_use]
    pub fn to_rfc3339(self) -> String {
        let ms = self.0.clamp(RFC3339_MIN_MS, RFC3339_MAX_MS);
        let days = ms.div_euclid(MS_PER_DAY);
        let in_day = ms.rem_euclid(MS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
            in_day / 3_600_000,
            in_day / 60_000 % 60,
            in_day / 1000 % 60,
            in_day % 1000
        )
    }

    /// Parses an RFC 3339 `date-time` (see the [module docs](self) for what
    /// is accepted).
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::Timestamp;
    ///
    /// let t = Timestamp::parse_rfc3339("2025-06-15T15:06:40.123Z")?;
    /// assert_eq!(t.unix_millis(), 1_750_000_000_123);
    /// assert_eq!(Timestamp::parse_rfc3339("2025-06-15T17:06:40.123456+02:00")?, t);
    /// assert!(Timestamp::parse_rfc3339("1750000000").is_err());
    /// assert!(Timestamp::parse_rfc3339("2025-02-29T00:00:00Z").is_err());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) (field `timestamp`) for anything else.
    pub fn parse_rfc3339(s: &str) -> crate::Result<Self> {
        parse_rfc3339(s.as_bytes()).map(Self).ok_or_else(|| {
            let shown: String = s.chars().take(40).collect();
            crate::Error::invalid(
                "timestamp",
                format!(
                    "`{}` is not an RFC 3339 date-time such as `2025-06-15T14:13:20.123Z`",
                    shown.escape_debug()
                ),
            )
        })
    }

    /// How long after `earlier` this is; zero if it is not after it.
    #[must_use]
    pub fn duration_since(self, earlier: Self) -> Duration {
        let ms = self.0.saturating_sub(earlier.0).max(0);
        Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    }
}

const MS_PER_DAY: i64 = 86_400_000;
/// `0000-01-01T00:00:00.000Z` and `9999-12-31T23:59:59.999Z`.
const RFC3339_MIN_MS: i64 = -62_167_219_200_000;
const RFC3339_MAX_MS: i64 = 253_402_300_799_999;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`), for years the format can write.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `YYYY-MM-DD(T|t)HH:MM:SS[.f{1,9}](Z|z|(+|-)HH:MM)` to milliseconds.
fn parse_rfc3339(b: &[u8]) -> Option<i64> {
    fn num(b: &[u8], at: usize, len: usize) -> Option<i64> {
        let digits = b.get(at..at + len)?;
        digits.iter().try_fold(0_i64, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    }
    let at = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt") && at(13, b":") && at(16, b":")) {
        return None;
    }
    let (y, m, d) = (num(b, 0, 4)?, num(b, 5, 2)?, num(b, 8, 2)?);
    let (h, min, sec) = (num(b, 11, 2)?, num(b, 14, 2)?, num(b, 17, 2)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) || h > 23 || min > 59 || sec > 59
    {
        return None;
    }
    let mut i = 19;
    let mut ms = 0;
    if at(i, b".") {
        let digits = b
            .get(i + 1..)?
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        // The first three digits, padded: milliseconds, cut towards the past.
        for k in 0..3 {
            ms = ms * 10 + if k < digits { num(b, i + 1 + k, 1)? } else { 0 };
        }
        i += 1 + digits;
    }
    let offset_minutes = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (oh, om) = (num(b, i + 1, 2)?, num(b, i + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let minutes = oh * 60 + om;
            if *sign == b'-' { -minutes } else { minutes }
        }
        _ => return None,
    };
    let seconds =
        days_from_civil(y, m, d) * 86_400 + h * 3600 + min * 60 + sec - offset_minutes * 60;
    Some(seconds * 1000 + ms)
}

/// Serde helpers for a [`Timestamp`] as an RFC 3339 string, the format every
/// host-facing output uses (see the [module docs](self)).
///
/// ```
/// use secrets_core::Timestamp;
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Deploy {
///     #[serde(with = "secrets_core::clock::rfc3339")]
///     at: Timestamp,
///     #[serde(default, with = "secrets_core::clock::rfc3339::option")]
///     until: Option<Timestamp>,
/// }
///
/// let d = Deploy { at: Timestamp::from_unix_seconds(1_750_000_000), until: None };
/// let json = serde_json::to_string(&d).unwrap();
/// assert_eq!(json, r#"{"at":"2025-06-15T15:06:40.000Z","until":null}"#);
/// let back: Deploy = serde_json::from_str(&json).unwrap();
/// assert_eq!(back.at, d.at);
/// ```
pub mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    use super::Timestamp;

    /// Writes `t` as RFC 3339.
    ///
    /// # Errors
    ///
    /// The serializer's.
    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339())
    }

    /// Reads an RFC 3339 string (nothing else).
    ///
    /// # Errors
    ///
    /// The deserializer's, and a custom error for a string that is not RFC 3339.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Timestamp::parse_rfc3339(&s).map_err(D::Error::custom)
    }

    /// The same for `Option<Timestamp>`: `null` for `None`.
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        use super::super::Timestamp;

        /// Writes `t` as RFC 3339, or `null`.
        ///
        /// # Errors
        ///
        /// The serializer's.
        pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => super::serialize(t, s),
                None => s.serialize_none(),
            }
        }

        /// Reads an RFC 3339 string or `null`.
        ///
        /// # Errors
        ///
        /// As [`super::deserialize`].
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
            #[derive(Deserialize)]
            struct Wrap(#[serde(with = "super")] Timestamp);
            Ok(Option::<Wrap>::deserialize(d)?.map(|Wrap(t)| t))
        }
    }

    /// Writes RFC 3339; reads RFC 3339 or the integer milliseconds that
    /// audit records and checkpoints were written as before (and that the
    /// tenant export writes), so they still parse and verify.
    pub(crate) mod or_millis {
        use std::fmt;

        use serde::Deserializer;
        use serde::de::{self, Visitor};

        use super::super::Timestamp;

        pub(crate) use super::serialize;

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
            struct Either;
            impl Visitor<'_> for Either {
                type Value = Timestamp;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an RFC 3339 date-time, or integer milliseconds since the epoch")
                }
                fn visit_str<E: de::Error>(self, s: &str) -> Result<Timestamp, E> {
                    Timestamp::parse_rfc3339(s).map_err(E::custom)
                }
                fn visit_i64<E: de::Error>(self, ms: i64) -> Result<Timestamp, E> {
                    Ok(Timestamp::from_unix_millis(ms))
                }
                fn visit_u64<E: de::Error>(self, ms: u64) -> Result<Timestamp, E> {
                    i64::try_from(ms)
                        .map(Timestamp::from_unix_millis)
                        .map_err(|_| E::custom("milliseconds out of range"))
                }
            }
            d.deserialize_any(Either)
        }
    }
}

fn duration_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({}ms)", self.0)
    }
}

/// A source of the current time. `Send + Sync` so one clock serves every task.
///
/// ```
/// use secrets_core::{Clock, SystemClock, Timestamp};
///
/// assert!(SystemClock.now() > Timestamp::from_unix_seconds(1_700_000_000));
/// ```
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => duration_millis(d),
            // A clock set before 1970: report it as negative rather than panic.
            Err(e) => duration_millis(e.duration()).saturating_neg(),
        };
        Timestamp(ms)
    }
}

/// A clock that moves only when told to; clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use secrets_core::{Clock, ManualClock, Timestamp};
///
/// let clock = ManualClock::new(Timestamp::from_unix_seconds(100));
/// let shared = clock.clone();
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(shared.now(), Timestamp::from_unix_seconds(105));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock that reads `start` until moved.
    #[must_use]
    pub fn new(start: Timestamp) -> Self {
        Self(Arc::new(AtomicI64::new(start.0)))
    }

    /// Sets the time.
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }

    /// Moves the time forward by `d`.
    pub fn advance(&self, d: Duration) {
        let ms = duration_millis(d);
        // fetch_update cannot fail here: the closure always returns Some.
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(ms))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_overflowing() {
        let max = Timestamp::from_unix_millis(i64::MAX);
        assert_eq!(max.saturating_add(Duration::MAX), max);
        let min = Timestamp::from_unix_millis(i64::MIN);
        assert_eq!(min.saturating_sub(Duration::MAX), min);
        assert_eq!(min.duration_since(max), Duration::ZERO);
        assert_eq!(Timestamp::from_unix_millis(-1).unix_seconds(), -1);
    }

    #[test]
    fn rfc3339_round_trips_every_millisecond_it_can_write() {
        for ms in [
            0,
            -1,
            1,
            999,
            1_750_000_000_123,
            951_782_400_000,     // 2000-02-29
            -62_135_596_800_000, // 0001-01-01
            RFC3339_MIN_MS,
            RFC3339_MAX_MS,
            4_107_542_399_999, // 2100-02-28T23:59:59.999 (2100 is not a leap year)
        ] {
            let t = Timestamp::from_unix_millis(ms);
            let text = t.to_rfc3339();
            assert_eq!(text.len(), 24, "{text}");
            assert_eq!(Timestamp::parse_rfc3339(&text).unwrap(), t, "{text}");
        }
        assert_eq!(
            Timestamp::from_unix_millis(-1).to_rfc3339(),
            "1969-12-31T23:59:59.999Z"
        );
        assert_eq!(
            Timestamp::from_unix_millis(951_782_400_000).to_rfc3339(),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_unix_millis(i64::MIN).to_rfc3339(),
            "0000-01-01T00:00:00.000Z"
        );
        // Every day of four centuries, through the calendar's corners.
        for day in (-150_000_i64..150_000).step_by(7) {
            let t = Timestamp::from_unix_millis(day * MS_PER_DAY + 43_200_007);
            assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()).unwrap(), t);
        }
    }

    #[test]
    fn rfc3339_reads_other_writers_and_refuses_the_rest() {
        let t = |s: &str| Timestamp::parse_rfc3339(s).map(Timestamp::unix_millis);
        let base = 1_750_000_000_000;
        for (s, ms) in [
            ("2025-06-15T15:06:40Z", base),
            ("2025-06-15t15:06:40z", base),
            ("2025-06-15T15:06:40.1Z", base + 100),
            ("2025-06-15T15:06:40.123999999Z", base + 123),
            ("2025-06-15T17:06:40+02:00", base),
            ("2025-06-15T15:06:40-00:00", base),
            ("2025-06-15T10:36:40.5-04:30", base + 500),
            ("1969-12-31T23:59:59.9999Z", -1),
        ] {
            assert_eq!(t(s).unwrap(), ms, "{s}");
        }
        for bad in [
            "",
            "1750000000",
            "2025-06-15",
            "2025-06-15 15:06:40Z",
            "2025-06-15T15:06:40",
            "2025-06-15T15:06:60Z",
            "2025-06-15T24:00:00Z",
            "2025-13-01T00:00:00Z",
            "2025-00-01T00:00:00Z",
            "2025-04-31T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "2025-06-15T15:06:40.Z",
            "2025-06-15T15:06:40.1234567890Z",
            "2025-06-15T15:06:40+2:00",
            "2025-06-15T15:06:40+24:00",
            "2025-06-15T15:06:40Z ",
            "+2025-06-15T15:06:40Z",
            "２025-06-15T15:06:40Z",
        ] {
            let err = t(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    crate::Error::InvalidInput {
                        field: "timestamp",
                        ..
                    }
                ),
                "{bad}"
            );
        }
        assert!(t("2000-02-29T00:00:00Z").is_ok());
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(Timestamp::from_unix_seconds(10));
        assert_eq!(c.now().unix_seconds(), 10);
        c.advance(Duration::from_millis(1500));
        assert_eq!(c.now().unix_millis(), 11_500);
        c.set(Timestamp::EPOCH);
        assert_eq!(c.now(), Timestamp::EPOCH);
    }
}
