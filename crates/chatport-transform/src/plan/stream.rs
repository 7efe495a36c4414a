//! Reading a conversation's messages in two streaming passes, so that planning holds one
//! message at a time instead of the whole conversation.
//!
//! Pass 1 ([`scan`]) reads only the small facts of each message (time, thread root, author,
//! kind) without building the message, and collects what a planner must know before it
//! plans the first message: how many messages the date window keeps, the first time, the
//! thread roots that have replies and which of them are present. A planner adds its own
//! facts through [`Pass1`]. Pass 2 ([`Messages::for_each`]) reads each message whole, in
//! time order, and hands it over to be planned and dropped.
//!
//! Canonical messages files are in source order, which is time order; planning needs time
//! order (source order breaks ties). When pass 1 finds a file out of time order, the
//! conversation is read into memory and sorted instead (the only case where memory grows
//! with a conversation), and pass 1 is replayed over the sorted messages.

use super::{PlanOptions, TransformError};
use chatport_model::jsonl::JsonlError;
use chatport_model::ts::parse_micros;
use chatport_model::{
    Body, BotInfo, Conversation, Edited, FileRecord, FileState, Message, MessageKind, Reaction, SlackTs,
    SourceRef,
};
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// One message as pass 1 sees it (in the date window, in time order).
#[derive(Debug, Clone, Copy)]
pub struct Fact<'a> {
    /// Its time (µs).
    pub t: i64,
    /// The time (µs) of its thread root when it is a reply.
    pub reply_to: Option<i64>,
    /// Its author.
    pub author: Option<&'a str>,
    /// Its kind.
    pub kind: MessageKind,
}

/// A planner's own pass-1 facts.
pub trait Pass1 {
    /// Takes one message's facts (in the window, in time order).
    fn fact(&mut self, fact: &Fact<'_>);
    /// Forgets everything taken so far (pass 1 starts over on sorted messages).
    fn reset(&mut self);
}

/// A planner with no facts of its own.
impl Pass1 for () {
    fn fact(&mut self, _: &Fact<'_>) {}
    fn reset(&mut self) {}
}

/// What pass 1 found in a conversation.
#[derive(Debug, Default)]
pub struct Scan {
    /// Messages in the date window.
    pub considered: u64,
    /// Messages left out by the date window (or without a valid time).
    pub filtered: u64,
    /// The earliest time in the window.
    pub first: Option<i64>,
    /// The earliest time of any message, those the date window leaves out included
    /// (container times must not depend on the filters, see [`super::rules::first_time`]).
    pub first_any: Option<i64>,
    /// Thread roots (µs) that have at least one reply in the window.
    pub roots: HashSet<i64>,
    /// Roots that a reply names before the root itself comes (in time order), and that do come.
    ahead_present: HashSet<i64>,
    /// Roots named ahead of themselves, not seen yet.
    ahead: HashSet<i64>,
}

impl Scan {
    fn take(&mut self, f: &Fact<'_>) {
        self.considered += 1;
        self.first.get_or_insert(f.t);
        self.saw(Some(f.t));
        if self.ahead.contains(&f.t) {
            self.ahead_present.insert(f.t);
        }
        if let Some(r) = f.reply_to {
            self.roots.insert(r);
            if r >= f.t {
                self.ahead.insert(r);
            }
        }
    }

    /// Notes the time of any message, in the window or not.
    fn saw(&mut self, t: Option<i64>) {
        if let Some(t) = t {
            self.first_any = Some(self.first_any.map_or(t, |f| f.min(t)));
        }
    }

    /// Whether some reply comes before its thread root (in time order), the root present.
    pub fn has_roots_ahead(&self) -> bool {
        !self.ahead_present.is_empty()
    }

    /// Whether the message at `t` is a thread root that one of its replies comes before.
    pub fn is_root_ahead(&self, t: i64) -> bool {
        self.ahead_present.contains(&t)
    }

    /// A tracker of which thread roots are present, to use during pass 2.
    pub fn presence(&self) -> Presence<'_> {
        Presence { scan: self, seen: HashSet::new() }
    }
}

/// During pass 2: whether a reply's thread root is among the conversation's messages in
/// the window, remembering only roots that have replies.
pub struct Presence<'a> {
    scan: &'a Scan,
    seen: HashSet<i64>,
}

impl Presence<'_> {
    /// Notes that the message at `t` has been reached.
    pub fn reached(&mut self, t: i64) {
        if self.scan.roots.contains(&t) {
            self.seen.insert(t);
        }
    }

    /// Whether the root at `r` has been reached already.
    pub fn reached_already(&self, r: i64) -> bool {
        self.seen.contains(&r)
    }

    /// Whether the root at `r` (named by a reply reached already) is present.
    pub fn present(&self, r: i64) -> bool {
        self.seen.contains(&r) || self.scan.ahead_present.contains(&r)
    }
}

/// The messages of a conversation, for pass 2.
pub enum Messages {
    /// Streamed from the file (it is in time order).
    Stream {
        /// The messages file.
        path: PathBuf,
        /// The window's bounds.
        opts: Window,
    },
    /// Read whole and sorted (the file is out of time order); only those in the window.
    Sorted(Vec<Message>),
}

/// The date window of a transform.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    since: Option<i64>,
    until: Option<i64>,
}

impl Window {
    fn of(opts: &PlanOptions) -> Self {
        Window { since: opts.since, until: opts.until }
    }

    fn keeps(&self, t: Option<i64>) -> bool {
        t.is_some_and(|t| self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u))
    }
}

/// Borrowed string that falls back to owned when JSON escapes force it.
#[derive(Deserialize)]
struct Str<'a>(#[serde(borrow)] Cow<'a, str>);

/// The facts pass 1 reads; everything else on the line is skipped, not built.
#[derive(Deserialize)]
struct FactIn<'a> {
    #[serde(borrow)]
    ts: Str<'a>,
    #[serde(borrow, default)]
    reply_to: Option<Str<'a>>,
    #[serde(borrow, default)]
    author: Option<Str<'a>>,
    kind: MessageKind,
}

/// A canonical message without its `extra` (uninterpreted source fields the planners do not
/// use): same fields and rules as [`Message`], but `extra` is checked and skipped, not built.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageIn {
    conversation: String,
    ts: SlackTs,
    source: SourceRef,
    kind: MessageKind,
    #[serde(default)]
    subtype: Option<String>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    bot: Option<BotInfo>,
    body: Body,
    #[serde(default)]
    thread_ts: Option<SlackTs>,
    #[serde(default)]
    reply_to: Option<SlackTs>,
    #[serde(default)]
    reply_count: Option<u64>,
    #[serde(default)]
    broadcast: bool,
    #[serde(default)]
    edited: Option<Edited>,
    #[serde(default)]
    reactions: Vec<Reaction>,
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    attachments: Option<serde_json::Value>,
    #[serde(default)]
    extra: ExtraIn,
}

/// The one field of a message's `extra` that planning reads (Slack's `pinned_to`, for the
/// `pin_not_carried` report); the others are skipped, not built.
#[derive(Deserialize, Default)]
struct ExtraIn {
    #[serde(default)]
    pinned_to: Option<serde_json::Value>,
}

impl From<MessageIn> for Message {
    fn from(m: MessageIn) -> Self {
        Message {
            conversation: m.conversation,
            ts: m.ts,
            source: m.source,
            kind: m.kind,
            subtype: m.subtype,
            author: m.author,
            bot: m.bot,
            body: m.body,
            thread_ts: m.thread_ts,
            reply_to: m.reply_to,
            reply_count: m.reply_count,
            broadcast: m.broadcast,
            edited: m.edited,
            reactions: m.reactions,
            files: m.files,
            attachments: m.attachments,
            extra: match m.extra.pinned_to {
                Some(p) => std::iter::once(("pinned_to".to_owned(), p)).collect(),
                None => Default::default(),
            },
        }
    }
}

/// A `files.jsonl` record with only what the planners use (name, type, size, state,
/// content): same fields and rules as [`FileRecord`], but `user`, `created`, `url`,
/// `first_seen` and `extra` are checked and skipped, not kept, so the files of a large
/// export take less memory.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileIn {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    mimetype: Option<String>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default, rename = "user")]
    _user: Option<IgnoredAny>,
    #[serde(default, rename = "created")]
    _created: Option<IgnoredAny>,
    state: FileState,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    blob: Option<String>,
    #[serde(default, rename = "url")]
    _url: Option<IgnoredAny>,
    #[serde(default, rename = "first_seen")]
    _first_seen: Option<IgnoredAny>,
    #[serde(default, rename = "extra")]
    _extra: IgnoredAny,
}

impl From<FileIn> for FileRecord {
    fn from(f: FileIn) -> Self {
        FileRecord {
            id: f.id,
            name: f.name,
            title: f.title,
            mimetype: f.mimetype,
            size: f.size,
            user: None,
            created: None,
            state: f.state,
            sha256: f.sha256,
            blob: f.blob,
            url: None,
            first_seen: None,
            extra: Default::default(),
        }
    }
}

/// Calls `each(line number, line)` for every line of a JSONL file (without its newline).
fn for_each_line(
    path: &Path,
    mut each: impl FnMut(u64, &[u8]) -> Result<bool, TransformError>,
) -> Result<(), TransformError> {
    let io = |source| TransformError::Canonical(JsonlError::Io { path: path.to_owned(), source });
    let file = File::open(path).map_err(io)?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut line = 0u64;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(io)? == 0 {
            return Ok(());
        }
        line += 1;
        let content = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if !each(line, content)? {
            return Ok(());
        }
    }
}

fn record_error(path: &Path, line: u64, source: serde_json::Error) -> TransformError {
    TransformError::Canonical(JsonlError::Record { path: path.to_owned(), line, source })
}

/// Pass 1 over a conversation's messages: the shared facts, `own` fed with every message
/// in the window in time order, and the messages for pass 2.
pub fn scan<P: Pass1>(
    canonical: &Path,
    conv: &Conversation,
    opts: &PlanOptions,
    own: &mut P,
) -> Result<(Scan, Messages), TransformError> {
    let path = canonical.join(&conv.messages_path);
    let window = Window::of(opts);
    let mut scan = Scan::default();
    let mut last = i64::MIN;
    let mut in_order = true;
    for_each_line(&path, |line, bytes| {
        let f: FactIn<'_> = serde_json::from_slice(bytes).map_err(|e| record_error(&path, line, e))?;
        let t = parse_micros(&f.ts.0);
        if !window.keeps(t) {
            scan.filtered += 1;
            scan.saw(t);
            return Ok(true);
        }
        let t = t.unwrap_or_default();
        if t < last {
            in_order = false;
            return Ok(false);
        }
        last = t;
        let fact = Fact {
            t,
            reply_to: f.reply_to.as_ref().and_then(|r| parse_micros(&r.0)),
            author: f.author.as_ref().map(|a| a.0.as_ref()),
            kind: f.kind,
        };
        scan.take(&fact);
        own.fact(&fact);
        Ok(true)
    })?;
    if in_order {
        return Ok((scan, Messages::Stream { path, opts: window }));
    }
    // Out of time order: read whole, sort, replay pass 1.
    own.reset();
    let mut scan = Scan::default();
    let mut msgs = Vec::new();
    for_each_line(&path, |line, bytes| {
        let m: MessageIn = serde_json::from_slice(bytes).map_err(|e| record_error(&path, line, e))?;
        let m = Message::from(m);
        if window.keeps(m.ts.micros()) {
            msgs.push(m);
        } else {
            scan.filtered += 1;
            scan.saw(m.ts.micros());
        }
        Ok(true)
    })?;
    msgs.sort_by_key(|m| m.ts.micros().unwrap_or(i64::MAX));
    for m in &msgs {
        let fact = Fact {
            t: m.ts.micros().unwrap_or_default(),
            reply_to: m.reply_to.as_ref().and_then(SlackTs::micros),
            author: m.author.as_deref(),
            kind: m.kind,
        };
        scan.take(&fact);
        own.fact(&fact);
    }
    Ok((scan, Messages::Sorted(msgs)))
}

impl Messages {
    /// An extra pass before pass 2 (for the rare facts pass 1 cannot give): every message in
    /// the window, in time order, lent to `each`; the file is read again, one message at a
    /// time.
    pub fn peek(
        &self,
        mut each: impl FnMut(&Message) -> Result<(), TransformError>,
    ) -> Result<(), TransformError> {
        match self {
            Messages::Sorted(msgs) => msgs.iter().try_for_each(each),
            Messages::Stream { path, opts } => for_each_line(path, |line, bytes| {
                let m: MessageIn = serde_json::from_slice(bytes).map_err(|e| record_error(path, line, e))?;
                if opts.keeps(m.ts.micros()) {
                    each(&Message::from(m))?;
                }
                Ok(true)
            }),
        }
    }

    /// Pass 2: every message in the window, in time order, each handed over to `each`.
    pub fn for_each(
        self,
        mut each: impl FnMut(Message) -> Result<(), TransformError>,
    ) -> Result<(), TransformError> {
        match self {
            Messages::Sorted(msgs) => msgs.into_iter().try_for_each(each),
            Messages::Stream { path, opts } => for_each_line(&path, |line, bytes| {
                let m: MessageIn = serde_json::from_slice(bytes).map_err(|e| record_error(&path, line, e))?;
                if opts.keeps(m.ts.micros()) {
                    each(Message::from(m))?;
                }
                Ok(true)
            }),
        }
    }
}
