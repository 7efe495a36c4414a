//! Slack emoji shortcodes to Unicode, from the iamcal emoji-data table Slack itself uses.
//!
//! Owns the shortcode table (generated at build time by `build.rs` from
//! `data/emoji.json`, embedded in the binary, looked up by binary search) and the parsing of
//! Slack's skin-tone suffixes (`+1::skin-tone-4`, `handshake::skin-tone-2-3`,
//! `handshake::skin-tone-2::skin-tone-3`). It knows nothing about custom emoji: a name that is
//! not in the table is `None`, and the renderers decide the custom-emoji policy. One Slack
//! legacy name the data lacks (`simple_smile`) is mapped to the emoji Slack shows for it.
//!
//! ```
//! use chatport_transform::emoji::shortcode_to_unicode;
//! assert_eq!(shortcode_to_unicode("+1").as_deref(), Some("\u{1F44D}"));
//! assert_eq!(shortcode_to_unicode(":thumbsup::skin-tone-4:").as_deref(), Some("\u{1F44D}\u{1F3FD}"));
//! assert_eq!(shortcode_to_unicode("not-an-emoji"), None);
//! ```

/// One emoji of the table: its fully-qualified sequence and its skin-tone variations.
struct Entry {
    /// The `unified` sequence (with any variation selector the data has).
    unified: &'static str,
    /// `(tone, second tone or 0, sequence)`, tones numbered like Slack (2..=6), sorted.
    skins: &'static [(u8, u8, &'static str)],
}

include!(concat!(env!("OUT_DIR"), "/emoji_table.rs"));

/// The Unicode sequence for a Slack emoji shortcode, or `None` when the name is not a standard
/// emoji (a custom emoji, a typo) or its skin-tone suffix is malformed.
///
/// Accepts the name with or without surrounding colons, every alias in the data (`+1`,
/// `thumbsup`), and Slack's skin-tone suffixes: `::skin-tone-N` (N in 2..=6), and for
/// multi-person emoji `::skin-tone-N-M` or `::skin-tone-N::skin-tone-M`. A valid tone on an
/// emoji without skin variations yields the plain emoji, as Slack shows it.
pub fn shortcode_to_unicode(name: &str) -> Option<String> {
    let code = Shortcode::parse(name)?;
    let entry = entry(code.base)?;
    let sequence = match code.tones {
        None => entry.unified,
        Some((a, b)) => skin_variation(entry, a, b).unwrap_or(entry.unified),
    };
    Some(sequence.to_string())
}

/// Whether `name` (without colons or skin-tone suffix) is a standard emoji short name.
pub fn is_standard(name: &str) -> bool {
    entry(name.trim_matches(':')).is_some()
}

/// Decodes Slack's `unicode` hint of a `rich_text` emoji element (`"1f44d-1f3fb"`: hex code
/// points joined by `-`) into the sequence. `None` if any part is not a Unicode scalar value.
pub fn unicode_from_hex(hex: &str) -> Option<String> {
    if hex.is_empty() {
        return None;
    }
    hex.split('-')
        .map(|part| u32::from_str_radix(part, 16).ok().and_then(char::from_u32))
        .collect::<Option<String>>()
        .filter(|s| !s.chars().any(char::is_control))
}

/// Number of short names in the embedded table.
pub fn table_len() -> usize {
    NAMES.len()
}

/// A shortcode split into its base name and optional skin tones.
struct Shortcode<'a> {
    base: &'a str,
    tones: Option<(u8, u8)>,
}

impl<'a> Shortcode<'a> {
    fn parse(raw: &'a str) -> Option<Self> {
        let name = raw.strip_prefix(':').unwrap_or(raw);
        let name = name.strip_suffix(':').unwrap_or(name);
        let Some((base, suffix)) = name.split_once("::") else {
            return Some(Shortcode { base: name, tones: None });
        };
        let mut tones = Vec::with_capacity(2);
        for part in suffix.split("::") {
            let digits = part.strip_prefix("skin-tone-")?;
            for d in digits.split('-') {
                let tone: u8 = d.parse().ok()?;
                if !(2..=6).contains(&tone) {
                    return None;
                }
                tones.push(tone);
            }
        }
        let tones = match tones.as_slice() {
            [a] => (*a, 0),
            [a, b] => (*a, *b),
            _ => return None,
        };
        Some(Shortcode { base, tones: Some(tones) })
    }
}

/// Slack's own legacy names missing from the iamcal data, mapped to the emoji Slack shows for
/// them today. Sorted by name.
const SLACK_ALIASES: &[(&str, &str)] = &[("simple_smile", "slightly_smiling_face")];

fn entry(base: &str) -> Option<&'static Entry> {
    let base = SLACK_ALIASES.binary_search_by(|(n, _)| (*n).cmp(base)).map_or(base, |i| SLACK_ALIASES[i].1);
    let idx = NAMES.binary_search_by(|(n, _)| (*n).cmp(base)).ok()?;
    ENTRIES.get(usize::from(NAMES[idx].1))
}

fn skin_variation(entry: &Entry, a: u8, b: u8) -> Option<&'static str> {
    let find = |a: u8, b: u8| {
        entry.skins.binary_search_by(|(x, y, _)| (*x, *y).cmp(&(a, b))).ok().map(|i| entry.skins[i].2)
    };
    match b {
        // A single tone on a two-person emoji means both people have it.
        0 => find(a, 0).or_else(|| find(a, a)),
        _ if a == b => find(a, b).or_else(|| find(a, 0)),
        _ => find(a, b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_for_binary_search() {
        assert!(NAMES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(table_len() > 1900);
    }

    #[test]
    fn slack_aliases_resolve() {
        assert!(SLACK_ALIASES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(SLACK_ALIASES.iter().all(|(_, target)| entry(target).is_some()));
    }

    #[test]
    fn malformed_tones_are_rejected() {
        assert_eq!(shortcode_to_unicode("+1::skin-tone-7"), None);
        assert_eq!(shortcode_to_unicode("+1::skin-tone-"), None);
        assert_eq!(shortcode_to_unicode("+1::wave"), None);
        assert_eq!(shortcode_to_unicode(""), None);
    }
}
