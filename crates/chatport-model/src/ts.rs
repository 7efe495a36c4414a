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
        match (self.micros(), other.micros()) {
            (Some(a), Some(b)) => a.cmp(&b).then_with(|| self.0.cmp(&other.0)),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => self.0.cmp(&other.0),
        }
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
