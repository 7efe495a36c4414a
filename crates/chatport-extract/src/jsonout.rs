//! A compact JSON serializer into a `Vec<u8>` whose output is byte-identical to
//! `serde_json::to_writer` (compact formatter), but faster on the extractor's hot path:
//! strings are scanned for characters to escape eight bytes at a time, and bytes go
//! straight into the vector instead of through `io::Write`.
//!
//! Only the shapes serde_json itself accepts are accepted: map keys must be strings,
//! chars or integers (integers are quoted), and non-finite floats become `null`.

use serde::ser::{self, Serialize};
use std::fmt;

/// Why a value could not be serialized.
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// Appends the compact JSON of `value` to `out`. On error `out` may hold a partial record;
/// callers truncate it back.
pub fn to_vec_into<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), Error> {
    value.serialize(&mut Writer { out, splices: &[] })
}

/// Already-encoded JSON to write in place of one struct field's value.
pub struct Splice<'b> {
    /// The struct's Rust name as serde gives it (`"Body"`).
    pub in_struct: &'static str,
    /// The field's serialized name (`"blocks"`).
    pub field: &'static str,
    /// The JSON to write as the field's value; the field's own value (a placeholder that
    /// makes it serialized at all) is not written.
    pub json: &'b [u8],
}

/// Like [`to_vec_into`], writing the `splices` in place of their fields' values.
pub fn to_vec_spliced<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    value: &T,
    splices: &[Splice<'_>],
) -> Result<(), Error> {
    value.serialize(&mut Writer { out, splices })
}

/// serde_json's escape for a byte, or 0 when it is copied as is.
const fn escape_of(b: u8) -> u8 {
    match b {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        0x09 => b't',
        0x0A => b'n',
        0x0C => b'f',
        0x0D => b'r',
        0x00..=0x1F => b'u',
        _ => 0,
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// A mask with the high bit set in the first byte of `word` (little-endian order) that
/// needs escaping; bits after the first flagged byte may be spurious.
#[inline]
fn flags(word: u64) -> u64 {
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * b'"' as u64);
    let quote = quote.wrapping_sub(ONES) & !quote;
    let backslash = word ^ (ONES * b'\\' as u64);
    let backslash = backslash.wrapping_sub(ONES) & !backslash;
    (below_space | quote | backslash) & HIGHS
}

/// Appends `s` as a JSON string, escaped exactly as serde_json does.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if i + 8 <= bytes.len() {
            let mut chunk = [0u8; 8];
            chunk.copy_from_slice(&bytes[i..i + 8]);
            let f = flags(u64::from_le_bytes(chunk));
            if f == 0 {
                i += 8;
                continue;
            }
            i += (f.trailing_zeros() / 8) as usize;
        }
        let b = bytes[i];
        let esc = escape_of(b);
        if esc == 0 {
            i += 1;
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        if esc == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xF) as usize],
            ]);
        } else {
            out.extend_from_slice(&[b'\\', esc]);
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends a struct field name and the colon. Field names are identifiers in practice,
/// which need no escaping: checked by a plain loop rather than the escaping scan.
fn write_field_name(out: &mut Vec<u8>, key: &'static str) {
    if key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        out.reserve(key.len() + 3);
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
    } else {
        write_str(out, key);
        out.push(b':');
    }
}

fn write_display(out: &mut Vec<u8>, v: impl fmt::Display) {
    use std::io::Write as _;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{v}");
}

fn write_float<F: Serialize>(out: &mut Vec<u8>, v: F) -> Result<(), Error> {
    serde_json::to_writer(&mut *out, &v).map_err(|e| Error(e.to_string()))
}

/// The name under which serde_json (with `arbitrary_precision`) serializes a `Number` (a
/// struct of one field holding the number's text, written bare), and the one key of the
/// map it hands a visitor for a number.
pub const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// Writes the text of a `serde_json::Number` without quotes, as serde_json does.
fn write_number_text<T: Serialize + ?Sized>(w: &mut Writer<'_>, text: &T) -> Result<(), Error> {
    let start = w.out.len();
    text.serialize(&mut *w)?;
    // A number's text has no character to escape: it was written as `"text"`.
    let end = w.out.len();
    if end < start + 2 || w.out[start] != b'"' || w.out[end - 1] != b'"' {
        return Err(Error("a serde_json number that is not text".into()));
    }
    w.out.copy_within(start + 1..end - 1, start);
    w.out.truncate(end - 2);
    Ok(())
}

/// The serializer.
struct Writer<'o> {
    out: &'o mut Vec<u8>,
    splices: &'o [Splice<'o>],
}

/// A sequence, map or struct being written: whether the next item is the first.
struct Compound<'a, 'o> {
    w: &'a mut Writer<'o>,
    first: bool,
    /// What to append at the end (`]`, `}` or `}}` for variants).
    close: &'static [u8],
    /// The struct's name, for splices (empty for other compounds).
    name: &'static str,
}

impl Compound<'_, '_> {
    fn comma(&mut self) {
        if !self.first {
            self.w.out.push(b',');
        }
        self.first = false;
    }

    fn finish(self) {
        self.w.out.extend_from_slice(self.close);
    }
}

impl<'a, 'o> ser::Serializer for &'a mut Writer<'o> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a, 'o>;
    type SerializeTuple = Compound<'a, 'o>;
    type SerializeTupleStruct = Compound<'a, 'o>;
    type SerializeTupleVariant = Compound<'a, 'o>;
    type SerializeMap = Compound<'a, 'o>;
    type SerializeStruct = Compound<'a, 'o>;
    type SerializeStructVariant = Compound<'a, 'o>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        write_display(self.out, v);
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        write_display(self.out, v);
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        write_display(self.out, v);
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        write_display(self.out, v);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        write_display(self.out, v);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        write_display(self.out, v);
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        write_display(self.out, v);
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        write_display(self.out, v);
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        write_display(self.out, v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        write_display(self.out, v);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        write_float(self.out, v)
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        write_float(self.out, v)
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        write_str(self.out, v.encode_utf8(&mut [0u8; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_str(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        let mut seq = ser::Serializer::serialize_seq(self, Some(v.len()))?;
        for b in v {
            ser::SerializeSeq::serialize_element(&mut seq, b)?;
        }
        ser::SerializeSeq::end(seq)
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        write_str(self.out, variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.push(b':');
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a, 'o>, Error> {
        self.out.push(b'[');
        Ok(Compound { w: self, first: true, close: b"]", name: "" })
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a, 'o>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Compound<'a, 'o>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, 'o>, Error> {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.extend_from_slice(b":[");
        Ok(Compound { w: self, first: true, close: b"]}", name: "" })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a, 'o>, Error> {
        self.out.push(b'{');
        Ok(Compound { w: self, first: true, close: b"}", name: "" })
    }
    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<Compound<'a, 'o>, Error> {
        if name == NUMBER_TOKEN {
            // A `serde_json::Number`: its one field is the number's text, written bare.
            return Ok(Compound { w: self, first: true, close: b"", name });
        }
        self.out.push(b'{');
        Ok(Compound { w: self, first: true, close: b"}", name })
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, 'o>, Error> {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.extend_from_slice(b":{");
        Ok(Compound { w: self, first: true, close: b"}}", name: "" })
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.comma();
        value.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), Error> {
        self.finish();
        Ok(())
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish();
        Ok(())
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish();
        Ok(())
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish();
        Ok(())
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.comma();
        key.serialize(KeyWriter { out: self.w.out })?;
        self.w.out.push(b':');
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), Error> {
        self.finish();
        Ok(())
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        if self.name == NUMBER_TOKEN {
            return write_number_text(self.w, value);
        }
        self.comma();
        write_field_name(self.w.out, key);
        let splices = self.w.splices;
        if let Some(s) = splices.iter().find(|s| s.field == key && s.in_struct == self.name) {
            self.w.out.extend_from_slice(s.json);
            return Ok(());
        }
        value.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), Error> {
        self.finish();
        Ok(())
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish();
        Ok(())
    }
}

/// Serializes a map key: strings as they are, chars and integers quoted, like serde_json.
struct KeyWriter<'o> {
    out: &'o mut Vec<u8>,
}

fn key_must_be_a_string() -> Error {
    Error("key must be a string".into())
}

impl KeyWriter<'_> {
    fn quoted(self, v: impl fmt::Display) -> Result<(), Error> {
        self.out.push(b'"');
        write_display(self.out, v);
        self.out.push(b'"');
        Ok(())
    }
}

impl ser::Serializer for KeyWriter<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_str(self.out, v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        write_str(self.out, v.encode_utf8(&mut [0u8; 4]));
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        write_str(self.out, variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_f32(self, _v: f32) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_f64(self, _v: f64) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_none(self) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(key_must_be_a_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use std::collections::BTreeMap;

    fn same_as_serde_json<T: Serialize>(v: &T) {
        let mut ours = Vec::new();
        to_vec_into(&mut ours, v).unwrap();
        let theirs = serde_json::to_vec(v).unwrap();
        assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs));
    }

    #[test]
    fn every_escape_and_position() {
        // Every byte that needs escaping, at every offset within an 8-byte word, next to
        // multi-byte UTF-8 and plain text.
        let specials: Vec<char> =
            (0u8..0x20).map(char::from).chain(['"', '\\', '\u{7f}', 'é', '中', '🚀']).collect();
        for c in &specials {
            for pad in 0..20 {
                let s = format!("{}{c}{}{c}", "a".repeat(pad), "b".repeat(pad % 9));
                same_as_serde_json(&s);
            }
        }
        same_as_serde_json(&"");
        same_as_serde_json(&"plain ascii text that is long enough for several words");
    }

    #[test]
    fn values_and_structs() {
        let v = json!({
            "z": [1, -2, 3.5, 1e300, 0.1, null, true, false, u64::MAX, i64::MIN],
            "a": {"nested": ["x\ny", {}], "empty": []},
            "ü": "\u{0}\u{1f}\"\\/",
        });
        same_as_serde_json(&v);
        let mut m = BTreeMap::new();
        m.insert(3u32, 'c');
        m.insert(1u32, '"');
        same_as_serde_json(&m);
        same_as_serde_json(&(1u8, "t", Some(2i16), None::<u8>, ()));
        same_as_serde_json(&f64::NAN);
        same_as_serde_json(&Value::from(f64::INFINITY));
    }

    #[test]
    fn parsed_numbers_are_written_as_their_source_text() {
        let text = r#"[1E+2,123456789012345678901234567890,0.10,-0,3.14159265358979323846264338327950288]"#;
        let v: Value = serde_json::from_str(text).unwrap();
        same_as_serde_json(&v);
        let mut ours = Vec::new();
        to_vec_into(&mut ours, &v).unwrap();
        assert_eq!(String::from_utf8(ours).unwrap(), text.replace('E', "e"));
    }

    #[test]
    fn odd_field_names_are_escaped() {
        #[derive(serde::Serialize)]
        struct Odd {
            #[serde(rename = "a\"b\\c\n")]
            odd: u8,
            plain_1: u8,
        }
        same_as_serde_json(&Odd { odd: 1, plain_1: 2 });
    }

    #[test]
    fn splices_replace_one_field() {
        #[derive(serde::Serialize)]
        struct Inner {
            a: u8,
            b: Option<u8>,
        }
        #[derive(serde::Serialize)]
        struct Outer {
            b: u8,
            inner: Inner,
        }
        let v = Outer { b: 1, inner: Inner { a: 2, b: Some(0) } };
        let mut out = Vec::new();
        let splice = Splice { in_struct: "Inner", field: "b", json: br#"{"raw":[1]}"# };
        to_vec_spliced(&mut out, &v, &[splice]).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"b":1,"inner":{"a":2,"b":{"raw":[1]}}}"#);
    }

    #[test]
    fn non_string_keys_are_refused() {
        let mut m = BTreeMap::new();
        m.insert(vec![1u8], 1);
        assert!(to_vec_into(&mut Vec::new(), &m).is_err());
        assert!(serde_json::to_vec(&m).is_err());
    }
}
