//! slackdump's dump format: one file per conversation at the archive's root,
//! `<conversation id>.json`, holding one object `{"channel_id", "name", "messages": […]}`
//! whose messages carry their thread replies nested under `slackdump_thread_replies`.
//!
//! Owns turning such a file into what a day file is, a JSON array of messages: each message
//! followed by its replies (lifted out of it), streamed one message at a time so that a
//! conversation's whole history is never held in memory.

use serde::de::{self, DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::cell::Cell;
use std::fmt;
use std::io::{Read, Write};
use std::rc::Rc;

/// The key under which slackdump nests a thread root's replies.
pub const REPLIES_KEY: &str = "slackdump_thread_replies";

/// Is `name` (a file at the export's root) named as slackdump's dump format names a
/// conversation, `<conversation id>.json` (`C…`, `G…` or `D…`, then capitals and digits)?
pub fn looks_like_dump(name: &str) -> bool {
    let Some(id) = name.strip_suffix(".json") else { return false };
    let b = id.as_bytes();
    (9..=16).contains(&b.len())
        && matches!(b[0], b'C' | b'G' | b'D')
        && b.iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// What a dump file says of its conversation, besides the messages.
#[derive(Debug, Default, PartialEq)]
pub struct Header {
    /// `channel_id`, when it is a string.
    pub channel_id: Option<String>,
    /// `name`, when it is a non-empty string.
    pub name: Option<String>,
    /// Every other top-level member, and `channel_id` or `name` of another type.
    pub extra: Map<String, Value>,
}

/// The outcome of [`flatten`].
#[derive(Debug)]
pub struct Flattened {
    /// The conversation's header (whatever of it was read).
    pub header: Header,
    /// Messages written, replies included.
    pub messages: u64,
    /// Of those, replies lifted out of their root.
    pub replies: u64,
    /// Why reading stopped early, if it did; the array written is complete either way.
    pub error: Option<serde_json::Error>,
    /// Whether the file had a `messages` array.
    pub had_messages: bool,
    /// Whether reading stopped at a message longer than the bound of [`flatten_bounded`].
    pub too_long: bool,
}

/// Reads a dump file from `input` and writes its messages to `out` as one JSON array, each
/// message followed by its replies, in the file's order. The array is closed also when the
/// input breaks: the messages before the break are kept (see [`Flattened::error`]).
/// One message (with its replies) may not run past [`super::chunks::MAX_RECORD_BYTES`], as
/// in a day file: it is held whole while it is read. Errors are those of `out`.
pub fn flatten(input: impl Read, out: &mut impl Write) -> std::io::Result<Flattened> {
    flatten_bounded(input, out, super::chunks::MAX_RECORD_BYTES as u64)
}

/// [`flatten`] with the bound on one message's bytes given.
pub fn flatten_bounded(
    input: impl Read,
    out: &mut impl Write,
    max_message: u64,
) -> std::io::Result<Flattened> {
    let read = Rc::new(Cell::new(0u64));
    let mark = Rc::new(Cell::new(0u64));
    let tripped = Rc::new(Cell::new(false));
    let input = Guard {
        inner: input,
        read: read.clone(),
        mark: mark.clone(),
        limit: max_message,
        tripped: tripped.clone(),
    };
    let mut state = State { out, first: true, messages: 0, replies: 0, io: None, read, mark };
    out_write(&mut state, b"[");
    let mut header = Header::default();
    let mut had_messages = false;
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(64 << 10, input));
    let result = (&mut de)
        .deserialize_map(FileVisitor {
            state: &mut state,
            header: &mut header,
            had_messages: &mut had_messages,
        })
        .and_then(|()| de.end());
    out_write(&mut state, b"]");
    if let Some(e) = state.io.take() {
        return Err(e);
    }
    Ok(Flattened {
        header,
        messages: state.messages,
        replies: state.replies,
        error: result.err(),
        had_messages,
        too_long: tripped.get(),
    })
}

/// Counts the bytes read and fails a read that would take the current message (from
/// `mark`) past `limit`. The parser reads ahead by its buffer, so the bound is exact to
/// within that.
struct Guard<R> {
    inner: R,
    read: Rc<Cell<u64>>,
    mark: Rc<Cell<u64>>,
    limit: u64,
    tripped: Rc<Cell<bool>>,
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.read.get().saturating_sub(self.mark.get()) > self.limit {
            self.tripped.set(true);
            return Err(std::io::Error::other(format!(
                "a message runs past {} MiB, far beyond any Slack message (a decompression bomb?)",
                self.limit >> 20
            )));
        }
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

struct State<'o, W: Write> {
    out: &'o mut W,
    first: bool,
    messages: u64,
    replies: u64,
    /// The first write error; writing stops there and it is returned.
    io: Option<std::io::Error>,
    /// Bytes read so far, and where the message being read began (see [`Guard`]).
    read: Rc<Cell<u64>>,
    mark: Rc<Cell<u64>>,
}

fn out_write<W: Write>(s: &mut State<'_, W>, bytes: &[u8]) {
    if s.io.is_none() {
        if let Err(e) = s.out.write_all(bytes) {
            s.io = Some(e);
        }
    }
}

impl<W: Write> State<'_, W> {
    fn element(&mut self, v: &Value) {
        if !self.first {
            out_write(self, b",");
        }
        self.first = false;
        if self.io.is_none() {
            if let Err(e) = serde_json::to_writer(&mut *self.out, v) {
                self.io = Some(e.into());
            }
        }
        self.messages += 1;
    }

    /// Writes a message, then the replies nested in it.
    fn message(&mut self, mut v: Value) {
        let replies = match &mut v {
            Value::Object(m) => match m.remove(REPLIES_KEY) {
                Some(Value::Array(replies)) => replies,
                Some(other) => {
                    // Not a list: left where it was, for `extra`.
                    m.insert(REPLIES_KEY.to_owned(), other);
                    Vec::new()
                }
                None => Vec::new(),
            },
            _ => Vec::new(),
        };
        self.element(&v);
        for r in replies {
            self.replies += 1;
            self.element(&r);
        }
    }
}

struct FileVisitor<'s, 'o, 'h, W: Write> {
    state: &'s mut State<'o, W>,
    header: &'h mut Header,
    had_messages: &'h mut bool,
}

impl<'de, W: Write> Visitor<'de> for FileVisitor<'_, '_, '_, W> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a slackdump conversation: an object with `channel_id` and `messages`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "messages" => {
                    *self.had_messages = true;
                    map.next_value_seed(MessagesSeed { state: &mut *self.state })?;
                }
                "channel_id" | "name" => {
                    let v: Value = map.next_value()?;
                    match (key.as_str(), v) {
                        ("channel_id", Value::String(s)) if !s.is_empty() => self.header.channel_id = Some(s),
                        ("name", Value::String(s)) if !s.is_empty() => self.header.name = Some(s),
                        ("name", Value::String(_)) => {}
                        (_, v) => {
                            self.header.extra.insert(key, v);
                        }
                    }
                }
                _ => {
                    let v: Value = map.next_value()?;
                    self.header.extra.insert(key, v);
                }
            }
        }
        Ok(())
    }
}

struct MessagesSeed<'s, 'o, W: Write> {
    state: &'s mut State<'o, W>,
}

impl<'de, W: Write> DeserializeSeed<'de> for MessagesSeed<'_, '_, W> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, W: Write> Visitor<'de> for MessagesSeed<'_, '_, W> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of messages")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        loop {
            self.state.mark.set(self.state.read.get());
            let Some(v) = seq.next_element::<Value>()? else { return Ok(()) };
            self.state.message(v);
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        // `"messages": null`: a conversation without messages.
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Err(de::Error::custom("`messages` should be a list of messages"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(de::Error::custom("`messages` should be a list of messages"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(de::Error::custom("`messages` should be a list of messages"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> (String, Flattened) {
        let mut out = Vec::new();
        let f = flatten(text.as_bytes(), &mut out).unwrap();
        (String::from_utf8(out).unwrap(), f)
    }

    #[test]
    fn replies_follow_their_root_and_the_header_is_kept() {
        let text = r#"{"channel_id":"C0DUMP0001","name":"general","thread_ts":"9.0","messages":[
            {"ts":"1.000001","text":"root","thread_ts":"1.000001","reply_count":2,
             "slackdump_thread_replies":[{"ts":"1.000002","thread_ts":"1.000001"},{"ts":"1.000003","thread_ts":"1.000001"}]},
            {"ts":"2.000001","text":"plain"},
            7]}"#;
        let (array, f) = run(text);
        let v: Vec<Value> = serde_json::from_str(&array).unwrap();
        let ts: Vec<Value> = v.iter().map(|m| m.get("ts").cloned().unwrap_or(Value::Null)).collect();
        assert_eq!(
            ts,
            ["1.000001", "1.000002", "1.000003", "2.000001"]
                .map(Value::from)
                .into_iter()
                .chain([Value::Null])
                .collect::<Vec<_>>()
        );
        assert!(v[0].get(REPLIES_KEY).is_none(), "lifted out of the root");
        assert_eq!((f.messages, f.replies, f.had_messages), (5, 2, true));
        assert!(f.error.is_none());
        assert_eq!(f.header.channel_id.as_deref(), Some("C0DUMP0001"));
        assert_eq!(f.header.name.as_deref(), Some("general"));
        assert_eq!(f.header.extra["thread_ts"], "9.0");
    }

    #[test]
    fn a_broken_file_keeps_the_messages_before_the_break() {
        let (array, f) = run(r#"{"channel_id":"C0DUMP0001","messages":[{"ts":"1.000001"},{"ts":"2.0"#);
        let v: Vec<Value> = serde_json::from_str(&array).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(f.messages, 1);
        assert!(f.error.is_some());
    }

    #[test]
    fn not_a_dump() {
        for text in ["[1,2]", r#"{"channel_id":"C1","messages":"none"}"#, "nonsense"] {
            let (array, f) = run(text);
            assert_eq!(array, "[]", "{text}");
            assert!(f.error.is_some(), "{text}");
        }
        let (array, f) = run(r#"{"channel_id":"C1","messages":null}"#);
        assert_eq!((array.as_str(), f.error.is_none(), f.had_messages), ("[]", true, true));
        let (_, f) = run(r#"{"channel_id":"C1"}"#);
        assert!(!f.had_messages);
    }

    #[test]
    fn one_message_past_the_bound_stops_the_read_and_keeps_the_ones_before() {
        let small = r#"{"ts":"1.000001","text":"ok"}"#;
        let big = format!(r#"{{"ts":"2.000001","text":"{}"}}"#, "x".repeat(600_000));
        let text = format!(r#"{{"channel_id":"C0DUMP0001","messages":[{small},{small},{big},{small}]}}"#);
        let mut out = Vec::new();
        let f = flatten_bounded(text.as_bytes(), &mut out, 256 << 10).unwrap();
        assert!(f.too_long, "{:?}", f.error);
        assert_eq!(f.messages, 2);
        let v: Vec<Value> = serde_json::from_slice(&out).unwrap();
        assert_eq!(v.len(), 2);
        // Under a bound it fits, everything is read.
        let f = flatten_bounded(text.as_bytes(), &mut Vec::new(), 1 << 20).unwrap();
        assert!(!f.too_long && f.error.is_none());
        assert_eq!(f.messages, 4);
    }

    #[test]
    fn replies_that_are_not_a_list_stay_in_the_message() {
        let (array, f) = run(r#"{"messages":[{"ts":"1.0","slackdump_thread_replies":"odd"}]}"#);
        assert_eq!(array, r#"[{"slackdump_thread_replies":"odd","ts":"1.0"}]"#);
        assert_eq!(f.replies, 0);
    }

    #[test]
    fn dump_file_names() {
        for yes in ["CHY5HUESG.json", "C0123456789.json", "GABCDEFGH.json", "D01DM0000.json"] {
            assert!(looks_like_dump(yes), "{yes}");
        }
        for no in
            ["users.json", "canvas.json", "C01.json", "CHY5HUESG.txt", "Chy5huesg.json", "X12345678.json"]
        {
            assert!(!looks_like_dump(no), "{no}");
        }
    }
}
