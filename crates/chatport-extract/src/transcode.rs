//! Re-encoding a JSON value straight from the parser into its canonical bytes, without
//! building a `serde_json::Value` tree first.
//!
//! The bytes are exactly what parsing into a `Value` and writing it with `serde_json`
//! gives: compact, object keys sorted (a repeated key keeps its last value), strings
//! escaped as serde_json escapes them, numbers as their source text (serde_json is built
//! with `arbitrary_precision`, so a `Value` keeps that text too; only an exponent is
//! respelled, `E` as `e` and with its sign: `1E5` becomes `1e+5`). With `strip`
//! set, the same secret removal as [`crate::slack::urls::strip_value`] is applied on the
//! way: `pub_secret` members are dropped and tokens are cut from strings.

use crate::jsonout::{write_str, NUMBER_TOKEN};
use crate::slack::urls::strip_url_tokens;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// Reusable working space of the transcoder: keys of the objects being written (a stack
/// shared by all nesting levels) and a buffer for reordering members.
#[derive(Default)]
pub struct Scratch<'de> {
    keys: Vec<(Cow<'de, str>, usize, usize)>,
    tmp: Vec<u8>,
    markers: Option<Markers<'de>>,
}

impl<'de> Scratch<'de> {
    /// Working space for values read from `text`, in order: with `strip`, the `?` of the
    /// whole text are located once, so that a string borrowed from the text is checked
    /// by its position instead of by scanning it.
    pub fn for_text(text: &'de str, strip: bool) -> Self {
        Scratch { markers: strip.then(|| Markers::find(text)), ..Scratch::default() }
    }
}

/// Where the `?` of a text are (a string without one holds no secret, see
/// [`crate::slack::urls::suspicious`]), and a cursor over them for strings visited in text
/// order.
pub struct Markers<'de> {
    text: &'de str,
    /// Byte offsets of `?`, ascending.
    at: Vec<usize>,
    next: usize,
}

impl<'de> Markers<'de> {
    fn find(text: &'de str) -> Self {
        Markers { text, at: memchr::memchr_iter(b'?', text.as_bytes()).collect(), next: 0 }
    }

    /// Whether `s` holds a `?`, or `None` when `s` is not a part of the text. Strings must
    /// be asked about in text order.
    fn holds_marker(&mut self, s: &str) -> Option<bool> {
        let base = self.text.as_ptr() as usize;
        let start = (s.as_ptr() as usize).checked_sub(base)?;
        let end = start + s.len();
        if end > self.text.len() {
            return None;
        }
        while self.at.get(self.next).is_some_and(|&q| q < start) {
            self.next += 1;
        }
        Some(self.at.get(self.next).is_some_and(|&q| q < end))
    }
}

/// Deserializes a map key, borrowing it from the input when it has no escapes.
pub struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// Writes the canonical bytes of one JSON value to `out`.
pub struct Canon<'a, 'de> {
    /// Where the bytes go.
    pub out: &'a mut Vec<u8>,
    /// Working space.
    pub scratch: &'a mut Scratch<'de>,
    /// Remove secrets on the way.
    pub strip: bool,
}

impl<'de> DeserializeSeed<'de> for Canon<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

/// Appends a string borrowed from the JSON input, quoted. serde_json only lends a string
/// that had no escape sequence in the input, and JSON forbids raw `"`, `\\` and control
/// characters in strings, so it needs no escaping: this is what [`write_str`] would write.
pub fn write_unescaped(out: &mut Vec<u8>, s: &str) {
    debug_assert!(!s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\'));
    out.reserve(s.len() + 2);
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

/// Appends a key read by [`KeySeed`]: borrowed keys need no escaping.
#[allow(clippy::ptr_arg)] // Whether the key is borrowed is the point.
pub fn write_key(out: &mut Vec<u8>, key: &Cow<'_, str>) {
    match key {
        Cow::Borrowed(k) => write_unescaped(out, k),
        Cow::Owned(k) => write_str(out, k),
    }
}

impl<'de> Canon<'_, 'de> {
    fn string(self, s: &str, borrowed: Option<&'de str>) {
        if self.strip && s.len() > 8 {
            // A string lent by the text holds a `?` only if one of the text's lies inside
            // it; without one there is nothing to strip.
            let marked = match (borrowed, self.scratch.markers.as_mut()) {
                (Some(b), Some(m)) => m.holds_marker(b).unwrap_or(true),
                _ => true,
            };
            if marked {
                if let Some(clean) = strip_url_tokens(s) {
                    write_str(self.out, &clean);
                    return;
                }
            }
        }
        if borrowed.is_some() {
            write_unescaped(self.out, s);
        } else {
            write_str(self.out, s);
        }
    }

    fn display(self, v: impl fmt::Display) {
        use std::io::Write as _;
        // Writing into a Vec cannot fail.
        let _ = write!(self.out, "{v}");
    }
}

impl<'de> Visitor<'de> for Canon<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.out.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.display(v);
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.display(v);
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        // As `Value::from(f64)` then serde_json: non-finite numbers become `null`.
        serde_json::to_writer(&mut *self.out, &serde_json::Value::from(v)).map_err(E::custom)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        self.string(v, Some(v));
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.string(v, None);
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Canon { out, scratch, strip } = self;
        out.push(b'[');
        let mut first = true;
        loop {
            let mark = out.len();
            if !first {
                out.push(b',');
            }
            let seed = Canon { out: &mut *out, scratch: &mut *scratch, strip };
            if seq.next_element_seed(seed)?.is_none() {
                out.truncate(mark);
                break;
            }
            first = false;
        }
        out.push(b']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Canon { out, scratch, strip } = self;
        let base = scratch.keys.len();
        let region = out.len();
        let mut first = true;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if first && key == NUMBER_TOKEN {
                // serde_json (with `arbitrary_precision`) hands a number over as a map of
                // this one key to the number's source text, which is written as it is.
                // The text is checked (and written) as a `Number`: an object that spells
                // this key itself is refused or read exactly as serde_json's `Value` would.
                let text = map.next_value_seed(KeySeed)?;
                let number = serde_json::Number::from_str(&text)
                    .map_err(|e| de::Error::custom(format_args!("invalid number {text:?}: {e}")))?;
                Canon { out, scratch, strip }.display(number);
                return Ok(());
            }
            first = false;
            if strip && key == "pub_secret" {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let start = out.len();
            map.next_value_seed(Canon { out: &mut *out, scratch: &mut *scratch, strip })?;
            let end = out.len();
            scratch.keys.push((key, start, end));
        }
        let Scratch { keys, tmp, .. } = scratch;
        let members = &mut keys[base..];
        // Stable: of repeated keys the last one read stays last, and is the one kept.
        members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        tmp.clear();
        tmp.extend_from_slice(&out[region..]);
        out.truncate(region);
        out.push(b'{');
        let mut first = true;
        for (i, (key, start, end)) in members.iter().enumerate() {
            if members.get(i + 1).is_some_and(|next| next.0 == *key) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            write_key(out, key);
            out.push(b':');
            out.extend_from_slice(&tmp[start - region..end - region]);
        }
        out.push(b'}');
        keys.truncate(base);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slack::urls::strip_value;
    use proptest::prelude::*;
    use serde_json::Value;

    fn both(text: &str, strip: bool) -> (String, String) {
        let mut out = Vec::new();
        let mut scratch = Scratch::for_text(text, strip);
        let mut de = serde_json::Deserializer::from_str(text);
        Canon { out: &mut out, scratch: &mut scratch, strip }.deserialize(&mut de).unwrap();
        de.end().unwrap();
        let mut v: Value = serde_json::from_str(text).unwrap();
        if strip {
            strip_value(&mut v);
        }
        (String::from_utf8(out).unwrap(), serde_json::to_string(&v).unwrap())
    }

    #[test]
    fn same_bytes_as_value_then_serde_json() {
        let cases = [
            r#"{"b":1,"a":[true,false,null,-3,18446744073709551615,1.5e300,-0.0,2.50],"a":"dup"}"#,
            r#"{"z":{"y":{"x":"\u00e9\/\ud83d\ude80\n\"","w":[]},"v":{}},"e\u0301":"key with escape"}"#,
            r#"[{"k":"v"},{"k":"w","j":{"c":3,"b":2,"a":1}},"s",12345678901234567890]"#,
            r#""plain""#,
            r#"{"url":"https://x/f?t=xoxe-1&v=2","pub_secret":"s","in":{"pub_secret":1,"u":"https://y/?token=xoxp-2"}}"#,
            r#"["https://a/?x=1xo","x https://b/?tok","en=5","https://c/?t=xoxb-9","plain?xox","https://d/?t=\u0078oxe-1"]"#,
            r#"{"xox":"https://a/?k=v","b":"https://b/?pub_secret=1","c":["token=","https://c/?token=2"]}"#,
        ];
        for text in cases {
            for strip in [false, true] {
                let (ours, theirs) = both(text, strip);
                assert_eq!(ours, theirs, "{text} strip={strip}");
            }
        }
    }

    /// A JSON number of any length, in every form the grammar allows.
    fn arb_number() -> impl Strategy<Value = String> {
        "-?(0|[1-9][0-9]{0,30})(\\.[0-9]{1,30})?([eE][+-]?[0-9]{1,3})?"
    }

    #[test]
    fn numbers_keep_their_source_text() {
        let text = r#"[1E+2,123456789012345678901234567890,0.10,-0,-0.0,3.14159265358979323846264338327950288,1e-400,2.50E5]"#;
        let (ours, theirs) = both(text, false);
        // serde_json's one change to a number's text: an exponent is written `e`, with
        // its sign.
        let expected = text.replace('E', "e").replace("e5", "e+5");
        assert_eq!(ours, expected);
        assert_eq!(theirs, expected);
    }

    #[test]
    fn an_object_posing_as_a_number_is_refused_like_serde_json_refuses_it() {
        for text in [
            r#"{"$serde_json::private::Number":"1\"}, \"x"}"#,
            r#"{"$serde_json::private::Number":"12 "}"#,
            r#"{"$serde_json::private::Number":""}"#,
        ] {
            let mut out = Vec::new();
            let mut scratch = Scratch::default();
            let mut de = serde_json::Deserializer::from_str(text);
            let ours = Canon { out: &mut out, scratch: &mut scratch, strip: false }.deserialize(&mut de);
            assert!(ours.is_err(), "{text}");
            assert!(serde_json::from_str::<Value>(text).is_err(), "{text}");
        }
        // Spelled as a valid number, both read it as that number, as serde_json writes it.
        let (ours, theirs) = both(r#"{"$serde_json::private::Number":"12"}"#, false);
        assert_eq!((ours.as_str(), theirs.as_str()), ("12", "12"));
        let (ours, theirs) = both(r#"{"$serde_json::private::Number":"1E5"}"#, false);
        assert_eq!((ours.as_str(), theirs.as_str()), ("1e+5", "1e+5"));
    }

    proptest! {
        #[test]
        fn every_generated_number_is_a_json_number(text in arb_number()) {
            prop_assert!(serde_json::from_str::<Value>(&text).unwrap().is_number());
        }

        #[test]
        fn an_object_spelling_the_number_key_reads_as_serde_json_reads_it(text in "[-+0-9.eE]{0,8}") {
            let json = format!(r#"{{"$serde_json::private::Number":"{text}"}}"#);
            let mut out = Vec::new();
            let mut scratch = Scratch::default();
            let mut de = serde_json::Deserializer::from_str(&json);
            let ours = Canon { out: &mut out, scratch: &mut scratch, strip: false }.deserialize(&mut de);
            let theirs = serde_json::from_str::<Value>(&json);
            prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{}", json);
            if let Ok(v) = theirs {
                prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&v).unwrap());
            }
        }
    }

    /// JSON text with nested objects and arrays, empty ones, repeated keys and escapes.
    fn arb_json() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("1".to_owned()),
            Just("-2.5e3".to_owned()),
            arb_number(),
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just(r#""https://x/?t=xoxe-1""#.to_owned()),
            "[a-c\\\\\"é/ ]{0,6}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        ];
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(","))),
                proptest::collection::vec(
                    (prop::sample::select(vec!["a", "b", "c", "pub_secret", "\\u0062"]), inner),
                    0..5
                )
                .prop_map(|v| {
                    let members: Vec<String> = v.iter().map(|(k, x)| format!("\"{k}\": {x}")).collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_value_gives_the_bytes_of_value_then_serde_json(text in arb_json(), strip in any::<bool>()) {
            let (ours, theirs) = both(&text, strip);
            prop_assert_eq!(ours, theirs);
        }

        #[test]
        fn a_value_after_a_failed_one_is_written_whole(text in arb_json()) {
            let mut out = Vec::new();
            let mut scratch = Scratch::default();
            // Ends inside four levels.
            let mut de = serde_json::Deserializer::from_str(r#"[{"a":[{"b":1},{"c":"#);
            let failed = Canon { out: &mut out, scratch: &mut scratch, strip: false }.deserialize(&mut de).is_err();
            prop_assert!(failed);
            out.clear();
            let mut de = serde_json::Deserializer::from_str(&text);
            Canon { out: &mut out, scratch: &mut scratch, strip: false }.deserialize(&mut de).unwrap();
            let v: Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&v).unwrap());
        }
    }

    #[test]
    fn raw_control_characters_are_refused_by_the_parser() {
        // What `write_unescaped` relies on: a string lent by the parser had no escapes, and
        // raw quotes, backslashes and control characters cannot appear unescaped.
        assert!(serde_json::from_str::<Value>("\"a\u{1}b\"").is_err());
        assert!(serde_json::from_str::<Value>("\"a\nb\"").is_err());
    }

    #[test]
    fn errors_surface() {
        let mut out = Vec::new();
        let mut scratch = Scratch::default();
        let mut de = serde_json::Deserializer::from_str(r#"{"a":[1,2"#);
        assert!(Canon { out: &mut out, scratch: &mut scratch, strip: false }.deserialize(&mut de).is_err());
    }
}
