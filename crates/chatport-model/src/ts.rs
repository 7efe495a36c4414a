//! Slack timestamps (`"1736554636.807919"`): kept exactly as given, compared by their value.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

/// A Slack message timestamp, kept as the exact string the source gave.
///
/// Slack uses it both as a time (seconds since the epoch with a microsecond-style
/// fraction) and as the message's id within its conversation, so it is never rounded.
/// Ordering compares the numeric value first, then the text, so it is total.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct SlackTs(pub String);

impl SlackTs {
    /// Wraps a timestamp string as given.
    pub fn new(s: impl Into<String>) -> Self {
        SlackTs(s.into())
    }

    /// The text as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Microseconds since the Unix epoch, when the text is `<secs>[.<fraction>]` with at
    /// most six fraction digits; `None` otherwise.
    pub fn micros(&self) -> Option<i64> {
        parse_micros(&self.0)
    }

    /// Whether the text is a valid Slack timestamp.
    pub fn is_valid(&self) -> bool {
        self.micros().is_some()
    }
}

/// Parses `<secs>[.<fraction>]` (fraction up to 6 digits) into microseconds.
pub fn parse_micros(s: &str) -> Option<i64> {
    let (secs, frac) = match s.split_once('.') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    };
    if secs.is_empty() || secs.len() > 12 || frac.len() > 6 {
        return None;
    }
    if !secs.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let mut f: i64 = 0;
    for b in frac.bytes() {
        f = f * 10 + i64::from(b - b'0');
    }
    for _ in frac.len()..6 {
        f *= 10;
    }
    secs.checked_mul(1_000_000)?.checked_add(f)
}

impl PartialOrd for SlackTs {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SlackTs {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_parts(self.micros(), || self.0.as_str(), other.micros(), || other.0.as_str())
    }
}

/// The order of [`SlackTs`], for timestamps held as their value (`micros`, `None` when the
/// text has none) and their text, which is asked for only when the values do not decide:
/// the value first (texts without one last), then the text.
pub fn cmp_parts<A: AsRef<str>, B: AsRef<str>>(
    a: Option<i64>,
    a_text: impl FnOnce() -> A,
    b: Option<i64>,
    b_text: impl FnOnce() -> B,
) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) if x != y => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        _ => a_text().as_ref().cmp(b_text().as_ref()),
    }
}

impl fmt::Display for SlackTs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_and_short_fractions() {
        assert_eq!(parse_micros("1.5"), Some(1_500_000));
        assert_eq!(parse_micros("1433558319"), Some(1_433_558_319_000_000));
        assert_eq!(parse_micros("1736554636.000001"), Some(1_736_554_636_000_001));
        assert_eq!(parse_micros("1.1234567"), None);
        assert_eq!(parse_micros("abc"), None);
        assert_eq!(parse_micros(""), None);
        assert_eq!(parse_micros(".5"), None);
    }

    #[test]
    fn orders_by_value_then_text() {
        let a = SlackTs::new("2.5");
        let b = SlackTs::new("10.000001");
        let c = SlackTs::new("2.500000");
        assert!(a < b);
        assert!(a < c, "same value, text breaks the tie");
        assert_ne!(a, c);
    }
}

/// Formats microseconds since the Unix epoch as RFC 3339 UTC with `digits` (0, 3 or 6)
/// fraction digits, e.g. `2024-01-01T10:00:00.000300Z`.
pub fn format_rfc3339(micros: i64, digits: u32) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let base = format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}");
    match digits {
        0 => format!("{base}Z"),
        3 => format!("{base}.{:03}Z", frac / 1000),
        _ => format!("{base}.{frac:06}Z"),
    }
}

/// Parses `YYYY-MM-DD` or `YYYY-MM-DDThh:mm:ss[.f…]Z` (UTC) into microseconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t.strip_suffix('Z')?)),
        None => (s, None),
    };
    let mut parts = date.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut micros = days_from_civil(y, m, d).checked_mul(86_400_000_000)?;
    if let Some(t) = time {
        let (hms, frac) = t.split_once('.').unwrap_or((t, ""));
        let mut p = hms.splitn(3, ':');
        let hh: i64 = p.next()?.parse().ok()?;
        let mm: i64 = p.next()?.parse().ok()?;
        let ss: i64 = p.next()?.parse().ok()?;
        if hh > 23 || mm > 59 || ss > 60 {
            return None;
        }
        micros += (hh * 3600 + mm * 60 + ss) * 1_000_000;
        if !frac.is_empty() {
            let digits: String = frac.chars().take(6).collect();
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            micros += format!("{digits:0<6}").parse::<i64>().ok()?;
        }
    }
    Some(micros)
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod time_tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        assert_eq!(format_rfc3339(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_704_100_800_000_400, 6), "2024-01-01T09:20:00.000400Z");
        assert_eq!(format_rfc3339(1_704_100_800_000_400, 3), "2024-01-01T09:20:00.000Z");
        assert_eq!(format_rfc3339(951_782_400_000_000, 0), "2000-02-29T00:00:00Z");
        assert_eq!(parse_rfc3339("2000-01-01"), Some(946_684_800_000_000));
        assert_eq!(parse_rfc3339("2024-01-01T09:20:00.0004Z"), Some(1_704_100_800_000_400));
        assert_eq!(parse_rfc3339("2024-13-01"), None);
        for m in [0i64, 1, 946_684_800_123_456, 4_102_444_800_000_000] {
            assert_eq!(parse_rfc3339(&format_rfc3339(m, 6)), Some(m));
        }
    }
}
