//! Slack's JSON dialect: pretty-printed with four-space indentation, every non-ASCII character
//! written as a `\uXXXX` escape (astral characters as surrogate pairs) and `/` written as `\/`,
//! which is what Slack's own exporter produces (see the genuine export in
//! `fixtures/corpora/houstondatavis-slack-export`). Generated exports use it so that a parser
//! is measured on the same escapes it meets in real data.
//!
//! This module only formats; it knows nothing about Slack records.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};

/// A [`Formatter`] that writes JSON the way Slack's exporter does.
pub struct SlackFormatter {
    pretty: PrettyFormatter<'static>,
}

impl SlackFormatter {
    /// A formatter with Slack's four-space indentation.
    pub fn new() -> Self {
        SlackFormatter { pretty: PrettyFormatter::with_indent(b"    ") }
    }
}

impl Default for SlackFormatter {
    fn default() -> Self {
        Self::new()
    }
}

/// Serializes `value` in Slack's JSON dialect, appending to `out`.
pub fn write_slack_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> io::Result<()> {
    let mut serializer = serde_json::Serializer::with_formatter(&mut *out, SlackFormatter::new());
    value.serialize(&mut serializer).map_err(io::Error::from)
}

impl Formatter for SlackFormatter {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.pretty.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.pretty.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.pretty.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.pretty.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.pretty.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.pretty.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.pretty.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.pretty.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.pretty.end_object_value(w)
    }

    fn write_string_fragment<W: ?Sized + Write>(&mut self, w: &mut W, fragment: &str) -> io::Result<()> {
        let bytes = fragment.as_bytes();
        let mut run_start = 0;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b == b'/' {
                w.write_all(&bytes[run_start..i])?;
                w.write_all(b"\\/")?;
                i += 1;
                run_start = i;
            } else if b >= 0x80 {
                w.write_all(&bytes[run_start..i])?;
                let ch = fragment[i..].chars().next().unwrap_or('\u{fffd}');
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    write!(w, "\\u{:04x}", unit)?;
                }
                i += ch.len_utf8();
                run_start = i;
            } else {
                i += 1;
            }
        }
        w.write_all(&bytes[run_start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_slack() {
        let mut out = Vec::new();
        write_slack_json(&mut out, &serde_json::json!(["a/b é 🎉 \"q\""])).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "[\n    \"a\\/b \\u00e9 \\ud83c\\udf89 \\\"q\\\"\"\n]");
        let back: Vec<String> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, ["a/b é 🎉 \"q\""]);
    }
}
