//! The virtual clock: one source of "now" for operation progress, backup expiry and `Retry-After`.
//!
//! Nothing in the simulator sleeps. Every state is computed from the clock's `now`, so advancing 30 days
//! costs nothing. Two modes:
//! - [`ClockMode::Manual`]: time moves only through [`Clock::advance`];
//! - [`ClockMode::Scaled`]: virtual time runs `scale` times faster than the wall clock (plus any manual
//!   advances), which is what `armsim serve` uses so that real clients can poll at real speed.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration as StdDuration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in virtual time: milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    pub fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// `self + d`, saturating at the ends of the representable range.
    pub fn plus(self, d: VDuration) -> Self {
        Self(self.0.saturating_add(d.as_millis()))
    }

    /// The time from `earlier` to `self` (negative when `earlier` is later).
    pub fn since(self, earlier: Timestamp) -> VDuration {
        VDuration::from_millis(self.0.saturating_sub(earlier.0))
    }

    fn to_jiff(self) -> jiff::Timestamp {
        jiff::Timestamp::from_millisecond(self.0).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }

    /// RFC 3339 with seven fractional digits, the way ARM writes `createdAtUtc`.
    pub fn to_arm_string(self) -> String {
        let t = self.to_jiff();
        let frac = self.0.rem_euclid(1000) * 10_000;
        format!("{}.{frac:07}Z", t.strftime("%Y-%m-%dT%H:%M:%S"))
    }

    /// `yyyyMMddTHHmmssZ`, as in `x-ms-routing-request-id`.
    pub fn to_compact_string(self) -> String {
        self.to_jiff().strftime("%Y%m%dT%H%M%SZ").to_string()
    }

    /// `M/d/yyyy h:mm:ss tt`, the US format ARM uses in `ExpiredAuthenticationToken` messages.
    pub fn to_us_string(self) -> String {
        self.to_jiff()
            .strftime("%-m/%-d/%Y %-I:%M:%S %p")
            .to_string()
    }

    /// The HTTP `Date` header format.
    pub fn to_http_date(self) -> String {
        self.to_jiff()
            .strftime("%a, %d %b %Y %H:%M:%S GMT")
            .to_string()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_jiff())
    }
}

impl FromStr for Timestamp {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t: jiff::Timestamp = s
            .parse()
            .map_err(|e| format!("'{s}' is not an RFC 3339 timestamp: {e}"))?;
        Ok(Self(t.as_millisecond()))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A span of virtual time in milliseconds. Written and read as `90s`, `9m`, `1h30m`, `31d`, `250ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct VDuration(i64);

impl VDuration {
    pub const ZERO: VDuration = VDuration(0);

    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }
    pub const fn from_secs(s: i64) -> Self {
        Self(s * 1000)
    }
    pub const fn from_mins(m: i64) -> Self {
        Self(m * 60_000)
    }
    pub const fn from_days(d: i64) -> Self {
        Self(d * 86_400_000)
    }
    pub const fn as_millis(self) -> i64 {
        self.0
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

const UNITS: [(&str, i64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

impl fmt::Display for VDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.0;
        if rest < 0 {
            f.write_str("-")?;
            rest = rest.saturating_neg();
        }
        for (unit, ms) in UNITS {
            if rest >= ms {
                write!(f, "{}{unit}", rest / ms)?;
                rest %= ms;
            }
        }
        Ok(())
    }
}

impl FromStr for VDuration {
    type Err = String;

    /// Parses one or more `<integer><unit>` groups, units `d`, `h`, `m`, `s`, `ms`: `31d`, `29d23h`, `90s`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("'{s}' is not a duration: write it like 90s, 9m, 1h30m or 31d");
        let text = s.trim();
        if text.is_empty() {
            return Err(bad());
        }
        let mut total: i64 = 0;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad());
            }
            let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = &rest[..unit_len];
            let ms = UNITS
                .iter()
                .find(|(u, _)| *u == unit)
                .map(|(_, ms)| *ms)
                .ok_or_else(bad)?;
            total = n
                .checked_mul(ms)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(bad)?;
            rest = &rest[unit_len..];
        }
        Ok(Self(total))
    }
}

impl Serialize for VDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for VDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How virtual time moves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClockMode {
    /// Only [`Clock::advance`] moves time.
    Manual,
    /// Virtual time = start + wall time elapsed × `scale` + manual advances.
    Scaled { scale: f64 },
}

impl ClockMode {
    /// Converts a virtual `Retry-After` to the whole wall seconds a client must wait: ARM only allows
    /// integer seconds, and 0 makes the Python SDK fall back to its 30 s interval, so the answer is ≥ 1.
    pub fn wall_retry_after_secs(&self, virtual_delay: VDuration) -> u64 {
        let secs = match self {
            ClockMode::Manual => virtual_delay.as_secs_f64(),
            ClockMode::Scaled { scale } => virtual_delay.as_secs_f64() / scale,
        };
        secs.ceil().max(1.0) as u64
    }
}

/// The simulator's clock. Cheap to read; `now` is a pure function of the wall clock and past advances.
#[derive(Debug, Clone)]
pub struct Clock {
    mode: ClockMode,
    start: Timestamp,
    wall_origin: Instant,
    advanced: VDuration,
}

impl Clock {
    pub fn new(mode: ClockMode, start: Timestamp) -> Self {
        Self {
            mode,
            start,
            wall_origin: Instant::now(),
            advanced: VDuration::ZERO,
        }
    }

    pub fn mode(&self) -> ClockMode {
        self.mode
    }

    pub fn now(&self) -> Timestamp {
        let run = match self.mode {
            ClockMode::Manual => 0,
            ClockMode::Scaled { scale } => {
                (self.wall_origin.elapsed().as_secs_f64() * scale * 1000.0) as i64
            }
        };
        self.start
            .plus(VDuration::from_millis(run))
            .plus(self.advanced)
    }

    /// Moves virtual time forward. Negative spans are ignored: time never runs backwards.
    pub fn advance(&mut self, by: VDuration) {
        if by.as_millis() > 0 {
            self.advanced =
                VDuration::from_millis(self.advanced.as_millis().saturating_add(by.as_millis()));
        }
    }

    /// Moves virtual time forward to `t` if it is in the future.
    pub fn advance_to(&mut self, t: Timestamp) {
        let now = self.now();
        if t > now {
            self.advance(t.since(now));
        }
    }

    /// Restarts the clock at `start`, as on a reset.
    pub fn restart(&mut self, start: Timestamp) {
        *self = Clock::new(self.mode, start);
    }

    /// The wall time that corresponds to `virtual_span` in this mode.
    pub fn wall_span(&self, virtual_span: VDuration) -> StdDuration {
        let secs = match self.mode {
            ClockMode::Manual => virtual_span.as_secs_f64(),
            ClockMode::Scaled { scale } => virtual_span.as_secs_f64() / scale,
        };
        StdDuration::from_secs_f64(secs.max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print_in_the_same_units() {
        for (text, ms) in [
            ("31d", 31 * 86_400_000),
            ("29d23h", 29 * 86_400_000 + 23 * 3_600_000),
            ("90s", 90_000),
            ("1h30m", 5_400_000),
            ("250ms", 250),
        ] {
            let d: VDuration = text.parse().expect(text);
            assert_eq!(d.as_millis(), ms, "{text}");
            assert_eq!(d.to_string().parse::<VDuration>(), Ok(d));
        }
    }

    #[test]
    fn bad_durations_are_rejected_with_the_input_named() {
        for text in ["", "31", "d", "5y", "1h-3m", "99999999999999999999d"] {
            let err = text.parse::<VDuration>().expect_err(text);
            assert!(err.contains(&format!("'{text}'")), "{err}");
        }
    }

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let start: Timestamp = "2026-01-01T00:00:00Z".parse().expect("start");
        let mut clock = Clock::new(ClockMode::Manual, start);
        assert_eq!(clock.now(), start);
        clock.advance(VDuration::from_days(31));
        assert_eq!(clock.now().since(start), VDuration::from_days(31));
        clock.advance(VDuration::from_millis(-5));
        assert_eq!(clock.now().since(start), VDuration::from_days(31));
    }

    #[test]
    fn retry_after_in_wall_seconds_is_whole_and_at_least_one() {
        let sixty = VDuration::from_secs(60);
        assert_eq!(ClockMode::Manual.wall_retry_after_secs(sixty), 60);
        assert_eq!(
            ClockMode::Scaled { scale: 60.0 }.wall_retry_after_secs(sixty),
            1
        );
        assert_eq!(
            ClockMode::Scaled { scale: 180.0 }.wall_retry_after_secs(sixty),
            1
        );
        assert_eq!(
            ClockMode::Scaled { scale: 20.0 }.wall_retry_after_secs(sixty),
            3
        );
        assert_eq!(ClockMode::Manual.wall_retry_after_secs(VDuration::ZERO), 1);
    }

    #[test]
    fn timestamps_print_in_arm_formats() {
        let t: Timestamp = "2023-01-18T17:10:42.5Z".parse().expect("t");
        assert_eq!(t.to_arm_string(), "2023-01-18T17:10:42.5000000Z");
        assert_eq!(t.to_compact_string(), "20230118T171042Z");
        assert_eq!(t.to_us_string(), "1/18/2023 5:10:42 PM");
    }
}

#[cfg(feature = "schema")]
mod schema {
    use std::borrow::Cow;

    use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

    use super::{Timestamp, VDuration};

    impl JsonSchema for VDuration {
        fn schema_name() -> Cow<'static, str> {
            "Duration".into()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({
                "type": "string",
                "pattern": "^([0-9]+(d|h|m|s|ms))+$",
                "description": "A span of virtual time: 250ms, 90s, 9m, 1h30m, 29d23h.",
                "examples": ["9m", "30m", "29d23h", "31d"]
            })
        }
    }

    impl JsonSchema for Timestamp {
        fn schema_name() -> Cow<'static, str> {
            "Timestamp".into()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({
                "type": "string",
                "format": "date-time",
                "description": "RFC 3339, UTC: 2026-01-01T00:00:00Z."
            })
        }
    }
}
