//! Parsing one day file (`<folder>/YYYY-MM-DD.json`, a JSON array of messages) record by
//! record, so that a file broken half-way still yields the messages before the break.

use super::fields::{message_field_slot, Fields as _, MessageFields};
use crate::jsonout::NUMBER_TOKEN;
use crate::transcode::{Canon, KeySeed, Scratch};
use serde::de::{DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

/// How a day file parse ended.
pub enum DayParse {
    /// Every element was read.
    Complete,
    /// The file is not valid JSON (or not an array) after `read` elements.
    Broken {
        /// Elements delivered before the problem.
        read: u64,
        /// What went wrong, with line and column.
        error: serde_json::Error,
    },
}

struct Elements<'f, F: FnMut(u64, Value)> {
    on_element: &'f mut F,
    read: &'f mut u64,
}

impl<'de, F: FnMut(u64, Value)> Visitor<'de> for Elements<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of messages")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element::<Value>()? {
            (self.on_element)(*self.read, v);
            *self.read += 1;
        }
        Ok(())
    }
}

/// Feeds every element of the JSON array in `text` to `on_element(index, value)`.
pub fn for_each_element(text: &str, on_element: impl FnMut(u64, Value)) -> DayParse {
    for_each_element_in(serde_json::Deserializer::from_str(text), on_element)
}

/// Feeds every element of the JSON array that `de` reads (a string or a stream) to
/// `on_element(index, value)`, one element in memory at a time.
pub fn for_each_element_in<'de, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
    mut on_element: impl FnMut(u64, Value),
) -> DayParse {
    let mut read = 0u64;
    let result = (&mut de)
        .deserialize_seq(Elements { on_element: &mut on_element, read: &mut read })
        .and_then(|()| de.end());
    match result {
        Ok(()) => DayParse::Complete,
        Err(e) => DayParse::Broken { read, error: e },
    }
}

/// One element of a day file as the fast path reads it.
pub struct ParsedMessage<'de> {
    /// The interpreted fields, or `None` when the element is not an object.
    pub fields: Option<MessageFields>,
    /// The other fields: `(key, start, end)` of their canonical bytes in `bytes`, in input
    /// order (a repeated key: the last one counts).
    pub passthrough: Vec<(Cow<'de, str>, usize, usize)>,
    /// Canonical bytes of the passed-through values.
    pub bytes: Vec<u8>,
    /// `blocks` and `attachments`, which the message keeps verbatim: `(start, end)` of
    /// their canonical bytes in `bytes`.
    pub blocks: Option<(usize, usize)>,
    /// See `blocks`.
    pub attachments: Option<(usize, usize)>,
    scratch: Scratch<'de>,
}

impl<'de> ParsedMessage<'de> {
    fn new(scratch: Scratch<'de>) -> Self {
        ParsedMessage {
            fields: None,
            passthrough: Vec::new(),
            bytes: Vec::new(),
            blocks: None,
            attachments: None,
            scratch,
        }
    }

    /// The canonical bytes of `blocks` or `attachments` (see there), `None` when absent
    /// or `null` (which the message conversion drops too).
    pub fn verbatim(&self, span: Option<(usize, usize)>) -> Option<&[u8]> {
        let (start, end) = span?;
        Some(&self.bytes[start..end]).filter(|b| *b != b"null")
    }

    /// The passed-through members, sorted by key with repeated keys resolved (last wins).
    pub fn sorted_passthrough(&mut self) -> impl Iterator<Item = (&Cow<'de, str>, &[u8])> {
        self.passthrough.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let members = &self.passthrough;
        let bytes = &self.bytes;
        members.iter().enumerate().filter_map(move |(i, (k, s, e))| {
            if members.get(i + 1).is_some_and(|next| next.0 == *k) {
                None
            } else {
                Some((k, &bytes[*s..*e]))
            }
        })
    }
}

struct MessageSeed<'p, 'de> {
    parsed: &'p mut ParsedMessage<'de>,
    strip: bool,
}

impl<'de> DeserializeSeed<'de> for MessageSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MessageSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let p = self.parsed;
        let mut fields = MessageFields::default();
        let mut first = true;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if first && key == NUMBER_TOKEN {
                // A number (serde_json hands numbers over as this map): not a message.
                map.next_value::<IgnoredAny>()?;
                return Ok(());
            }
            first = false;
            let verbatim = match key.as_ref() {
                "blocks" => Some(&mut p.blocks),
                "attachments" => Some(&mut p.attachments),
                _ => None,
            };
            if let Some(span) = verbatim {
                // Kept verbatim by the conversion: re-encoded straight away like the
                // pass-through fields (a repeated key: the last one counts).
                let start = p.bytes.len();
                map.next_value_seed(Canon { out: &mut p.bytes, scratch: &mut p.scratch, strip: self.strip })?;
                *span = Some((start, p.bytes.len()));
            } else if message_field_slot(&key).is_some() {
                let v: Value = map.next_value()?;
                fields.insert(&key, v);
            } else {
                let start = p.bytes.len();
                map.next_value_seed(Canon { out: &mut p.bytes, scratch: &mut p.scratch, strip: self.strip })?;
                p.passthrough.push((key, start, p.bytes.len()));
            }
        }
        p.fields = Some(fields);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

struct Messages<'f, 'de, F: FnMut(u64, &mut ParsedMessage<'de>)> {
    on_element: &'f mut F,
    read: &'f mut u64,
    strip: bool,
    text: &'de str,
}

impl<'de, F: FnMut(u64, &mut ParsedMessage<'de>)> Visitor<'de> for Messages<'_, 'de, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of messages")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut parsed = ParsedMessage::new(Scratch::for_text(self.text, self.strip));
        loop {
            parsed.fields = None;
            parsed.passthrough.clear();
            parsed.bytes.clear();
            parsed.blocks = None;
            parsed.attachments = None;
            if seq.next_element_seed(MessageSeed { parsed: &mut parsed, strip: self.strip })?.is_none() {
                return Ok(());
            }
            (self.on_element)(*self.read, &mut parsed);
            *self.read += 1;
        }
    }
}

/// Like [`for_each_element`], for day files: each message's interpreted fields are parsed
/// into `Value`s and the others straight into their canonical bytes (secrets stripped
/// when `strip`), which is what the canonical message's `extra` holds.
pub fn for_each_message<'de>(
    text: &'de str,
    strip: bool,
    mut on_element: impl FnMut(u64, &mut ParsedMessage<'de>),
) -> DayParse {
    let mut read = 0u64;
    let mut de = serde_json::Deserializer::from_str(text);
    let visitor = Messages { on_element: &mut on_element, read: &mut read, strip, text };
    let result = (&mut de).deserialize_seq(visitor).and_then(|()| de.end());
    match result {
        Ok(()) => DayParse::Complete,
        Err(e) => DayParse::Broken { read, error: e },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salvages_the_prefix_of_a_broken_array() {
        let mut seen = Vec::new();
        let r = for_each_element(r#"[{"ts":"1.0"},{"ts":"2.0"},{"ts":"#, |i, v| seen.push((i, v)));
        assert_eq!(seen.len(), 2);
        assert!(matches!(r, DayParse::Broken { read: 2, .. }));
    }

    #[test]
    fn not_an_array() {
        let r = for_each_element(r#"{"a":1}"#, |_, _| {});
        let DayParse::Broken { read: 0, error } = r else { panic!("should fail") };
        assert!(error.to_string().contains("array"), "{error}");
    }

    #[test]
    fn elements_that_are_not_objects_have_no_fields() {
        // Numbers included: serde_json hands them over as a map of one private key, which
        // must not be taken for a message.
        let text = r#"[1, 2.5, 123456789012345678901234567890, "x", null, [], {"ts":"1.0","n":1E+2}]"#;
        let mut seen = Vec::new();
        let r = for_each_message(text, false, |i, p| {
            let fields = p.fields.is_some();
            let passthrough: Vec<String> =
                p.sorted_passthrough().map(|(k, v)| format!("{k}={}", String::from_utf8_lossy(v))).collect();
            seen.push((i, fields, passthrough));
        });
        assert!(matches!(r, DayParse::Complete));
        let objects: Vec<u64> = seen.iter().filter(|s| s.1).map(|s| s.0).collect();
        assert_eq!(objects, [6]);
        assert_eq!(seen[6].2, ["n=1e+2"]);
    }

    #[test]
    fn trailing_garbage_is_reported() {
        let mut n = 0;
        let r = for_each_element("[1,2] x", |_, _| n += 1);
        assert_eq!(n, 2);
        assert!(matches!(r, DayParse::Broken { read: 2, .. }));
    }
}
