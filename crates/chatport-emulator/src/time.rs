//! Timestamps and the emulator's clock.
//!
//! Owns RFC 3339 parsing and formatting (nanosecond precision, any offset) and the
//! [`Clock`] that every rule reading "now" goes through. The clock can run faster than
//! wall time (`--time-scale`) and can be moved forward by the admin endpoint, so tests can
//! age an import-mode space without waiting. Token lifetimes do not use this clock: they
//! follow wall time, like a real client's.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Nanoseconds per second.
pub const NANOS_PER_SEC: i64 = 1_000_000_000;

/// A point in time as nanoseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// 2000-01-01T00:00:00Z, the earliest `createTime` Google Chat accepts for a space.
    pub const Y2000: Timestamp = Timestamp(946_684_800 * NANOS_PER_SEC);

    /// Parses an RFC 3339 timestamp such as `2020-03-14T11:22:17.067123Z` or
    /// `2020-03-14T12:22:17+01:00`. Returns `None` when the text is not valid.
    pub fn parse(text: &str) -> Option<Timestamp> {
        let b = text.as_bytes();
        if b.len() < 20 {
            return None;
        }
        let num = |s: &[u8]| -> Option<i64> {
            if s.iter().all(u8::is_ascii_digit) {
                std::str::from_utf8(s).ok()?.parse().ok()
            } else {
                None
            }
        };
        let year = num(&b[0..4])?;
        let month = num(&b[5..7])?;
        let day = num(&b[8..10])?;
        let hour = num(&b[11..13])?;
        let minute = num(&b[14..16])?;
        let second = num(&b[17..19])?;
        if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') || b[13] != b':' {
            return None;
        }
        if b[16] != b':' || !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        if day < 1 || day > days_in_month(year, month) {
            return None;
        }
        let mut i = 19;
        let mut nanos = 0i64;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let digits = i - start;
            if digits == 0 || digits > 9 {
                return None;
            }
            nanos = num(&b[start..i])? * 10i64.pow((9 - digits) as u32);
        }
        let offset_secs = match b.get(i) {
            Some(b'Z') | Some(b'z') if i + 1 == b.len() => 0,
            Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
                let h = num(&b[i + 1..i + 3])?;
                let m = num(&b[i + 4..i + 6])?;
                if h > 23 || m > 59 {
                    return None;
                }
                let off = h * 3600 + m * 60;
                if *sign == b'+' {
                    off
                } else {
                    -off
                }
            }
            _ => return None,
        };
        let days = days_from_civil(year, month, day);
        let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
        secs.checked_mul(NANOS_PER_SEC)?.checked_add(nanos).map(Timestamp)
    }

    /// Formats as RFC 3339 in UTC with 0, 3, 6 or 9 fraction digits (the proto3 JSON
    /// convention Google APIs follow), keeping every non-zero digit received.
    pub fn to_rfc3339(self) -> String {
        let nanos = self.0.rem_euclid(NANOS_PER_SEC);
        let frac = if nanos == 0 {
            String::new()
        } else if nanos % 1_000_000 == 0 {
            format!(".{:03}", nanos / 1_000_000)
        } else if nanos % 1_000 == 0 {
            format!(".{:06}", nanos / 1_000)
        } else {
            format!(".{nanos:09}")
        };
        format!("{}{frac}Z", self.date_time_prefix())
    }

    /// Formats as RFC 3339 in UTC with exactly three fraction digits, as Graph does.
    pub fn to_rfc3339_millis(self) -> String {
        let millis = self.0.rem_euclid(NANOS_PER_SEC) / 1_000_000;
        format!("{}.{millis:03}Z", self.date_time_prefix())
    }

    /// Milliseconds since the epoch, rounded down.
    pub fn as_millis(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    /// The same instant truncated to whole milliseconds.
    pub fn truncate_to_millis(self) -> Timestamp {
        Timestamp(self.as_millis() * 1_000_000)
    }

    /// This time plus a number of seconds.
    pub fn plus_secs(self, secs: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(secs.saturating_mul(NANOS_PER_SEC)))
    }

    /// `YYYY-MM-DDThh:mm:ss` without fraction or zone.
    fn date_time_prefix(self) -> String {
        let secs = self.0.div_euclid(NANOS_PER_SEC);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", rem / 3600, (rem / 60) % 60, rem % 60)
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Wall-clock time now, in nanoseconds since the epoch.
pub fn wall_now() -> Timestamp {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The emulator's notion of "now": wall time at start, plus elapsed real time multiplied by
/// the time scale, plus an offset that the admin endpoint can move forward.
#[derive(Debug)]
pub struct Clock {
    started_wall: Timestamp,
    started: Instant,
    scale: f64,
    offset_nanos: AtomicI64,
}

impl Clock {
    /// A clock that starts at wall time and runs `scale` times faster than it.
    pub fn new(scale: f64, offset_nanos: i64) -> Clock {
        Clock {
            started_wall: wall_now(),
            started: Instant::now(),
            scale: if scale.is_finite() && scale > 0.0 { scale } else { 1.0 },
            offset_nanos: AtomicI64::new(offset_nanos),
        }
    }

    /// Scaled nanoseconds since the clock started; monotonic, unaffected by the offset.
    pub fn elapsed_scaled_nanos(&self) -> i64 {
        (self.started.elapsed().as_nanos() as f64 * self.scale) as i64
    }

    /// The emulated time now.
    pub fn now(&self) -> Timestamp {
        Timestamp(
            self.started_wall.0 + self.elapsed_scaled_nanos() + self.offset_nanos.load(Ordering::SeqCst),
        )
    }

    /// The time scale (emulated seconds per wall second).
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Moves the clock forward by `nanos` and returns the new total offset.
    pub fn advance(&self, nanos: i64) -> i64 {
        self.offset_nanos.fetch_add(nanos, Ordering::SeqCst) + nanos
    }

    /// The offset added by [`Clock::advance`] so far.
    pub fn offset_nanos(&self) -> i64 {
        self.offset_nanos.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_round_trip() {
        let t = Timestamp::parse("2020-03-14T11:22:17.067123Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2020-03-14T11:22:17.067123Z");
        assert_eq!(t.to_rfc3339_millis(), "2020-03-14T11:22:17.067Z");
        let t2 = Timestamp::parse("2020-03-14T12:22:17.067123+01:00").unwrap();
        assert_eq!(t, t2);
        assert_eq!(Timestamp::parse("2000-01-01T00:00:00Z"), Some(Timestamp::Y2000));
        assert_eq!(
            Timestamp::parse("1969-12-31T23:59:59.5Z").unwrap().to_rfc3339(),
            "1969-12-31T23:59:59.500Z"
        );
        assert_eq!(
            Timestamp::parse("2024-02-29T00:00:00.000000001Z").unwrap().to_rfc3339(),
            "2024-02-29T00:00:00.000000001Z"
        );
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "2020-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2020-01-01 00:00:00Z",
            "2020-01-01T00:00:00",
            "2020-01-01T00:00:00.Z",
            "2020-01-01T00:00:00.1234567890Z",
            "not a time at all!!",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn clock_advances_by_offset() {
        let c = Clock::new(1.0, 0);
        let before = c.now();
        c.advance(86_400 * NANOS_PER_SEC);
        assert!(c.now().0 - before.0 >= 86_400 * NANOS_PER_SEC);
    }
}
