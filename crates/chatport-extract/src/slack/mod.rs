//! The Slack reader: standard exports, Business+/Enterprise exports (private channels,
//! DMs, group DMs) and slackdump archives (file contents inside the archive), zipped or
//! unpacked, into a canonical directory.
//!
//! Flow: list entries → parse the metadata files → store file contents as blobs →
//! conversations in parallel (rayon), each streaming its day files in order, a small
//! window of them parsed in parallel, each day file in chunks of whole messages
//! ([`chunks`]) → merge files, placeholder users and warnings in a fixed order → write the
//! manifest. Records that only wait for the final ordered write
//! (users, conversations with their memberships, file records) wait in `.spool/` inside
//! the output, and file ids are deduplicated by an external sort (see [`crate::spool`]):
//! memory is bounded by the window and by the export's directory and user ids, not by the
//! number of messages, files or memberships.

pub mod chunks;
pub mod dayfile;
pub mod dump;
pub mod fields;
pub mod membership;
pub mod records;
pub mod roots;
pub mod urls;

use crate::source::{Entry, EntryRuns, ExportSource};
use crate::spool::{FirstSeen, LazyFile, Spool, SpoolRange, SpoolReader};
use crate::{ExtractError, ExtractOptions, Progress};
use chatport_model::jsonl::{sha256_hex, write_json_file};
use chatport_model::{
    Conversation, ConversationKind, Counts, DataFile, DataFileWriter, FileRecord, FileState, Manifest,
    MessageKind, SlackTs, Source, Tool, User, Warning, WarningCode, FORMAT_VERSION,
};
use dayfile::DayParse;
use fields::Ctx;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Root-level files of real exports that carry nothing the canonical format holds.
const IGNORED_ROOT_FILES: [&str; 6] = [
    "integration_logs.json",
    "canvases.json",
    "org_users.json",
    "huddle_transcripts.json",
    "ref-channels.json",
    "lists.json",
];

/// Scratch folder inside the output for spooled file records; removed at the end.
const SPOOL: &str = ".spool";

/// Day files parsed in parallel within one conversation: as many as fit in `WINDOW_BYTES`
/// of declared inflated size (at least one, at most `DAY_WINDOW`). Their outputs wait
/// until the window is written in order, so the bound is in bytes, not days: memory per
/// conversation is the same whether its days are small or large. Once every conversation
/// has started and a thread is left without one, windows widen to `WIDE_WINDOW_BYTES`:
/// the last, largest conversations then use the idle threads, whose memory is free.
const DAY_WINDOW: usize = 4;
const WINDOW_BYTES: u64 = 256 << 10;
const WIDE_WINDOW_BYTES: u64 = 512 << 10;

/// Duplicate `ts` are looked for among the messages of the same chunk of a day file (see
/// [`chunks`]; a day file is one chunk unless it is larger than [`CHUNK_BYTES`]) and of
/// the chunks just before it, of this day file and the ones before, as many as fit in this
/// much text (at least one): a copy of a message sits next to it in a sorted export. The
/// span depends neither on how day files are grouped for parsing nor on a day file's size,
/// so the warnings do not depend on timing and the memory not on the day files.
const LOOKBACK_BYTES: u64 = 1 << 20;

/// Everything the reader needs while running.
struct Run<'a> {
    source: &'a ExportSource,
    opts: &'a ExtractOptions,
    out: &'a Path,
    /// Length of the root prefix to strip from entry names (`export/` in some zips).
    prefix: String,
    inflated: AtomicU64,
    /// The export's users, each with where its record waits in the users spool.
    known_users: HashMap<String, SpoolRange>,
    progress: &'a dyn Progress,
    /// Buffers of written day outputs, handed to the next day files: large buffers freshly
    /// allocated each time cost page faults and page clearing.
    spare_lines: std::sync::Mutex<Vec<Vec<u8>>>,
    /// Each conversation's finished record, waiting on disk for the final, ordered write.
    conversations: Spool,
    /// Every file occurrence's id key, to keep only the first occurrence of each file.
    first_seen: FirstSeen,
    /// Conversations not started yet, and started but not finished: when the first is 0
    /// and the second below the thread count, a thread is idle.
    unstarted: std::sync::atomic::AtomicUsize,
    running: std::sync::atomic::AtomicUsize,
    /// Dump-format conversation files ([`dump`]), each with the spool file holding its
    /// messages as a day file holds them; read in its place.
    dump_days: HashMap<Entry, std::path::PathBuf>,
}

/// At most this many spare day-output buffers are kept, none larger than this, and no
/// more than `SPARE_TOTAL_BYTES` in all.
const SPARE_LINES: usize = 8;
const SPARE_LINE_BYTES: usize = 64 << 20;
const SPARE_TOTAL_BYTES: usize = 4 << 20;

impl<'a> Run<'a> {
    /// An empty buffer for a day file's lines.
    fn lines_buffer(&self) -> Vec<u8> {
        self.spare_lines.lock().ok().and_then(|mut spare| spare.pop()).unwrap_or_default()
    }

    /// Gives a written day file's lines buffer back for reuse.
    fn recycle_lines(&self, mut lines: Vec<u8>) {
        if lines.capacity() > SPARE_LINE_BYTES {
            return;
        }
        lines.clear();
        if let Ok(mut spare) = self.spare_lines.lock() {
            let kept: usize = spare.iter().map(Vec::capacity).sum();
            if spare.len() < SPARE_LINES && kept + lines.capacity() <= SPARE_TOTAL_BYTES {
                spare.push(lines);
            }
        }
    }

    /// The name of an entry relative to the export root, for messages and records.
    fn rel(&self, entry: Entry) -> String {
        let name = self.source.name(entry);
        match name.strip_prefix(self.prefix.as_str()) {
            Some(rel) => rel.to_owned(),
            None => name,
        }
    }

    /// Counts inflated bytes against the total bound: false once the export is past it.
    fn within_total(&self, n: u64) -> bool {
        let before = self.inflated.fetch_add(n, Ordering::Relaxed);
        before.saturating_add(n) <= self.opts.max_total_bytes
    }

    /// Counts inflated bytes against the total bound; past it, a warning naming `rel`.
    fn charge(&self, n: u64, rel: &str, warnings: &mut Vec<Warning>) -> bool {
        if !self.within_total(n) {
            warnings.push(Warning::new(
                WarningCode::TotalTooLarge,
                Some(rel),
                None,
                format!(
                    "the export inflates beyond {} bytes (--max-total-bytes): skipped",
                    self.opts.max_total_bytes
                ),
            ));
            return false;
        }
        true
    }

    /// The index of the record of a metadata file that holds byte `at`, found by reading
    /// the entry again up to it (the parse reads ahead, so it cannot tell); `None` when the
    /// entry cannot be read again.
    fn element_at(&self, entry: Entry, at: u64) -> Option<u64> {
        let mut inner = self.source.reader(entry).ok()?;
        let mut reader = std::io::Read::take(&mut inner, at);
        let mut counter = chunks::ElementCounter::default();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match std::io::Read::read(&mut reader, &mut buf) {
                Ok(0) => return Some(counter.index()),
                Ok(n) => counter.feed(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
    }

    /// Opens an entry to be read as a whole JSON file, under the bounds; `None`, with an
    /// `unreadable_source` warning, when it cannot be opened.
    fn open_bounded<'r>(
        &'r self,
        entry: Entry,
        rel: &str,
        warnings: &mut Vec<Warning>,
    ) -> Option<Bounded<'r, 'a, Box<dyn std::io::Read + 'a>>> {
        match self.source.reader(entry) {
            Ok(inner) => Some(Bounded { inner, run: self, read: 0, stop: None, charge: true }),
            Err(e) => {
                let why = format!("{e}: skipped");
                warnings.push(Warning::new(WarningCode::UnreadableSource, Some(rel), None, why));
                None
            }
        }
    }

    /// Parses a metadata file (a JSON array of records) with `convert` per record, handing
    /// each record to `each` as it is read. The file is streamed as it inflates, never held
    /// whole: `users.json` of a large organisation can be hundreds of megabytes.
    fn metadata<T>(
        &self,
        entry: Option<Entry>,
        warnings: &mut Vec<Warning>,
        mut convert: impl FnMut(&mut Ctx<'_>, serde_json::Value) -> Option<T>,
        mut each: impl FnMut(T),
    ) {
        let Some(entry) = entry else { return };
        let rel = self.rel(entry);
        let Some(mut bounded) = self.open_bounded(entry, &rel, warnings) else { return };
        let mut text = crate::lossy::Utf8Lossy::new(&mut bounded);
        let mut local = Vec::new();
        let de =
            serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(64 << 10, &mut text));
        let result = dayfile::for_each_element_in(de, |index, value| {
            let mut ctx = Ctx { file: &rel, index, warnings: &mut local };
            if let Some(t) = convert(&mut ctx, value) {
                each(t);
            }
        });
        if let Some(at) = text.first_invalid() {
            let record = self.element_at(entry, at);
            let detail = match record {
                Some(r) => format!("invalid UTF-8 at byte {at} (record {r}): replaced with U+FFFD"),
                None => format!("invalid UTF-8 at byte {at}: replaced with U+FFFD"),
            };
            warnings.push(Warning::new(WarningCode::InvalidUtf8, Some(&rel), record, detail));
        }
        warnings.append(&mut local);
        let DayParse::Broken { read, error } = result else { return };
        let kept = format!("the {read} record(s) before were kept, the rest skipped");
        let (code, why) = match &bounded.stop {
            Some(stop) => self.stopped(stop, &kept),
            None => {
                (WarningCode::InvalidJson, format!("not a valid JSON array after {read} record(s): {error}"))
            }
        };
        warnings.push(Warning::new(code, Some(&rel), Some(read), why));
    }

    /// The warning for a bounded read that stopped early, `kept` saying what was kept.
    fn stopped(&self, stop: &Stop, kept: &str) -> (WarningCode, String) {
        match stop {
            Stop::TooLarge => (
                WarningCode::EntryTooLarge,
                format!(
                    "inflates to more than {} bytes (--max-json-bytes): {kept}",
                    self.opts.max_json_bytes
                ),
            ),
            Stop::Total => (
                WarningCode::TotalTooLarge,
                format!(
                    "the export inflates beyond {} bytes (--max-total-bytes): {kept}",
                    self.opts.max_total_bytes
                ),
            ),
            Stop::Read(e) => (WarningCode::UnreadableSource, format!("{e}: {kept}")),
        }
    }
}

/// Why a bounded stream stopped before its end.
enum Stop {
    /// The entry inflated beyond `--max-json-bytes`.
    TooLarge,
    /// The export inflated beyond `--max-total-bytes`.
    Total,
    /// The entry could not be read (corrupt data, CRC mismatch, I/O).
    Read(String),
}

/// An entry's bytes as they inflate, bounded by the per-entry limit and charged against
/// the export's total; the first failure is kept for the warning.
struct Bounded<'r, 'a, R> {
    inner: R,
    run: &'r Run<'a>,
    read: u64,
    stop: Option<Stop>,
    /// Whether the bytes count against the export's total (not for a spooled copy of
    /// bytes already counted).
    charge: bool,
}

impl<R: std::io::Read> std::io::Read for Bounded<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.stop.is_some() {
            return Err(std::io::Error::other("the read already stopped"));
        }
        // Hand out at most the bound, so the records wholly before it are parsed: one
        // byte more than the bound, never delivered, shows the entry runs past it.
        let limit = self.run.opts.max_json_bytes;
        let room = limit.saturating_sub(self.read).saturating_add(1);
        let cap = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = match self.inner.read(&mut buf[..cap]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                self.stop = Some(Stop::Read(e.to_string()));
                return Err(e);
            }
        };
        self.read += n as u64;
        let within_total = !self.charge || self.run.within_total(n as u64);
        if self.read > limit {
            // The byte past the bound is held back; the ones before it still count.
            self.stop = Some(Stop::TooLarge);
            return match n - 1 {
                0 => Err(std::io::Error::other("bound reached")),
                within => Ok(within),
            };
        }
        if !within_total {
            self.stop = Some(Stop::Total);
            return Err(std::io::Error::other("bound reached"));
        }
        Ok(n)
    }
}

/// Is `name` (the last part of a path) a Slack day file name, `YYYY-MM-DD.json`?
fn is_day_file(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 15
        && name.ends_with(".json")
        && b[..10]
            .iter()
            .enumerate()
            .all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() })
}

/// A conversation id usable as a file name: Slack ids are; anything else is hashed.
fn file_stem_for(id: &str) -> String {
    let ok = !id.is_empty()
        && id.len() <= 120
        && !id.starts_with('.')
        && id.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        id.to_owned()
    } else {
        format!("x-{}", &sha256_hex(id.as_bytes())[..24])
    }
}

/// What the export holds, sorted into kinds of entries.
#[derive(Default)]
struct Layout {
    metadata: HashMap<&'static str, Entry>,
    folders: BTreeMap<String, EntryRuns>,
    /// `(file id, entry)` of file contents in the archive.
    blobs: Vec<(String, Entry)>,
    slackdump: bool,
    /// Conversations in slackdump's dump format ([`dump`]), one file each.
    dumps: Vec<Entry>,
}

fn root_prefix(source: &ExportSource) -> String {
    let best = source
        .named_entries()
        .map(|(_, name)| name)
        .filter(|name| {
            let last = name.rsplit('/').next().unwrap_or("");
            last == "users.json" || last == "channels.json"
        })
        .min_by(|a, b| (a.matches('/').count(), a).cmp(&(b.matches('/').count(), b)));
    match best {
        Some(name) => match name.rfind('/') {
            Some(p) => name[..=p].to_owned(),
            None => String::new(),
        },
        None => String::new(),
    }
}

fn layout(run: &Run<'_>, source: &ExportSource, warnings: &mut Vec<Warning>) -> Layout {
    let mut l = Layout::default();
    let refused = [
        (
            source.unsafe_names(),
            WarningCode::UnsafePath,
            "unsafe entry name (absolute, `..`, link or not UTF-8): skipped",
        ),
        (
            source.repeated_names(),
            WarningCode::DuplicateEntry,
            "the archive holds another entry of this name: this later one was skipped, the first one read",
        ),
    ];
    for (names, code, why) in refused {
        warnings.extend(names.iter().map(|name| Warning::new(code, Some(name), None, why)));
    }
    for (entry, name) in source.named_entries() {
        let Some(rel) = name.strip_prefix(run.prefix.as_str()) else {
            warnings.push(Warning::new(
                WarningCode::UnexpectedEntry,
                Some(&name),
                None,
                format!("outside the export root `{}`: skipped", run.prefix),
            ));
            continue;
        };
        let parts: Vec<&str> = rel.split('/').collect();
        match parts.as_slice() {
            [file] => {
                let known = ["users.json", "channels.json", "groups.json", "mpims.json", "dms.json"];
                if let Some(k) = known.iter().find(|k| *k == file) {
                    l.metadata.insert(k, entry);
                } else if dump::looks_like_dump(file) {
                    l.dumps.push(entry);
                } else if !IGNORED_ROOT_FILES.contains(file) {
                    warnings.push(Warning::new(
                        WarningCode::UnexpectedEntry,
                        Some(rel),
                        None,
                        "not a file of a Slack export: skipped",
                    ));
                }
            }
            ["__uploads", id, _name] => {
                l.slackdump = true;
                l.blobs.push(((*id).to_owned(), entry));
            }
            [_folder, "attachments", name] => {
                l.slackdump = true;
                let id = name.split_once('-').map(|(id, _)| id).unwrap_or(name);
                l.blobs.push((id.to_owned(), entry));
            }
            [folder, day] if is_day_file(day) => {
                l.folders.entry((*folder).to_owned()).or_default().push(entry);
            }
            _ => warnings.push(Warning::new(
                WarningCode::UnexpectedEntry,
                Some(rel),
                None,
                "neither a day file, a metadata file nor file content: skipped",
            )),
        }
    }
    l
}

/// Turns a dump-format conversation file into a spooled day file at `path` (see [`dump`]):
/// its messages, each followed by its replies, as one JSON array. Returns the
/// conversation's header, or `None` (with a warning) when the entry cannot be read.
fn spool_dump(
    run: &Run<'_>,
    entry: Entry,
    path: &Path,
    warnings: &mut Vec<Warning>,
) -> Result<Option<dump::Header>, ExtractError> {
    let rel = run.rel(entry);
    let Some(mut bounded) = run.open_bounded(entry, &rel, warnings) else { return Ok(None) };
    let io = |e: std::io::Error| ExtractError::Output { path: path.to_owned(), source: e };
    let mut text = crate::lossy::Utf8Lossy::new(&mut bounded);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    let flat = dump::flatten(&mut text, &mut out).map_err(io)?;
    out.flush().map_err(io)?;
    if let Some(at) = text.first_invalid() {
        warnings.push(Warning::new(
            WarningCode::InvalidUtf8,
            Some(&rel),
            None,
            format!("invalid UTF-8 at byte {at}: replaced with U+FFFD"),
        ));
    }
    let kept = format!("the {} message(s) before were kept, the rest skipped", flat.messages);
    match (&bounded.stop, &flat.error) {
        (Some(stop), _) => {
            let (code, why) = run.stopped(stop, &kept);
            warnings.push(Warning::new(code, Some(&rel), None, why));
        }
        (None, Some(_)) if flat.too_long => warnings.push(Warning::new(
            WarningCode::EntryTooLarge,
            Some(&rel),
            None,
            format!(
                "message {} runs past {} MiB, far beyond any Slack message (a decompression bomb?): {kept}",
                flat.messages,
                chunks::MAX_RECORD_BYTES >> 20
            ),
        )),
        (None, Some(e)) => warnings.push(Warning::new(
            WarningCode::InvalidJson,
            Some(&rel),
            None,
            format!("not a valid slackdump conversation file: {e}; {kept}"),
        )),
        (None, None) if !flat.had_messages => warnings.push(Warning::new(
            WarningCode::WrongType,
            Some(&rel),
            None,
            "a slackdump conversation file without `messages`: a conversation with no messages",
        )),
        (None, None) => {}
    }
    Ok(Some(flat.header))
}

/// The record of a conversation the metadata does not describe: what is known is its id,
/// kind and name, and where it was found.
fn bare_conversation(
    id: String,
    kind: ConversationKind,
    name: Option<String>,
    listed_in: Option<String>,
    folder: Option<String>,
) -> Conversation {
    Conversation {
        id,
        kind,
        name: name.filter(|_| kind != ConversationKind::Dm),
        created: None,
        creator: None,
        topic: None,
        purpose: None,
        archived: false,
        is_general: false,
        members: Vec::new(),
        memberships: Vec::new(),
        listed_in,
        folder,
        messages_path: String::new(),
        message_count: 0,
        extra: Default::default(),
    }
}

/// The kind of a conversation known only by its id (slackdump's dump format).
fn kind_of_id(id: &str, name: Option<&str>) -> ConversationKind {
    match id.as_bytes().first() {
        Some(b'D') => ConversationKind::Dm,
        Some(b'G') if name.is_some_and(|n| n.starts_with("mpdm-")) => ConversationKind::GroupDm,
        Some(b'G') => ConversationKind::PrivateChannel,
        _ => ConversationKind::PublicChannel,
    }
}

/// A stored file content.
struct Blob {
    sha256: String,
    path: String,
    bytes: u64,
}

fn store_blob(run: &Run<'_>, entry: Entry, seq: usize, warnings: &mut Vec<Warning>) -> Option<Blob> {
    let rel = run.rel(entry);
    let tmp_dir = run.out.join("blobs").join(".incoming");
    let tmp = tmp_dir.join(seq.to_string());
    let result = (|| -> Result<(String, u64), String> {
        std::fs::create_dir_all(&tmp_dir).map_err(|e| e.to_string())?;
        let file = std::fs::File::create(&tmp).map_err(|e| e.to_string())?;
        let mut w = HashingWriter { inner: std::io::BufWriter::new(file), hasher: Sha256::new() };
        let n = run.source.copy(entry, run.opts.max_file_bytes, &mut w).map_err(|e| e.to_string())?;
        w.inner.flush().map_err(|e| e.to_string())?;
        Ok((hex::encode(w.hasher.finalize()), n))
    })();
    match result {
        Ok((sha, n)) => {
            if !run.charge(n, &rel, warnings) {
                let _ = std::fs::remove_file(&tmp);
                return None;
            }
            let path = format!("blobs/{}/{}", &sha[..2], sha);
            let dest = run.out.join(&path);
            let moved = std::fs::create_dir_all(dest.parent().unwrap_or(run.out)).and_then(|()| {
                if dest.exists() {
                    std::fs::remove_file(&tmp)
                } else {
                    std::fs::rename(&tmp, &dest)
                }
            });
            if let Err(e) = moved {
                warnings.push(Warning::new(WarningCode::UnreadableSource, Some(&rel), None, e.to_string()));
                return None;
            }
            Some(Blob { sha256: sha, path, bytes: n })
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            let code = if e.starts_with("inflates to more") {
                WarningCode::EntryTooLarge
            } else {
                WarningCode::UnreadableSource
            };
            warnings.push(Warning::new(code, Some(&rel), None, format!("file content: {e}: skipped")));
            None
        }
    }
}

struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// What one chunk of a day file yields (see [`chunks`]): a day file is one chunk unless
/// it is larger than [`CHUNK_BYTES`].
#[derive(Default)]
struct DayOutput {
    file: String,
    /// Whether this is the day file's last chunk.
    end_of_day: bool,
    /// Bytes of the chunk's text.
    text_bytes: u64,
    lines: Vec<u8>,
    records: u64,
    /// `(ts µs, thread root µs if a reply, record index, may be a thread root)` per message.
    metas: Vec<(i64, Option<i64>, u64, bool)>,
    files: Vec<FileRecord>,
    /// Unknown user ids with the record that references them.
    unknown_users: Vec<(String, u64)>,
    /// `(ts, user, joined?)` from join/leave messages.
    membership_events: Vec<(SlackTs, String, bool)>,
    warnings: Vec<Warning>,
    replies: u64,
    reactions: u64,
}

/// Day files are parsed in chunks of about this many bytes of text: the memory a day file
/// takes does not grow with its size.
const CHUNK_BYTES: usize = 128 << 10;

thread_local! {
    /// Each worker's buffer for the chunks of the day file it is reading, kept between
    /// day files so that each one does not allocate and fault in fresh pages.
    static DAY_BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// A chunk buffer grown larger than this (by a very large message) is not kept.
const KEPT_BUFFER_BYTES: usize = 4 << 20;

/// Parses day file `entry` (of `declared` bytes, as a hint) chunk by chunk, handing each
/// chunk's output to `each` in order; the last one has `end_of_day` set. Problems with
/// the file are warnings in the outputs; the errors are `each`'s.
fn process_day(
    run: &Run<'_>,
    conv_id: &str,
    entry: Entry,
    declared: u64,
    each: &mut dyn FnMut(DayOutput) -> Result<(), ExtractError>,
) -> Result<(), ExtractError> {
    let mut buf = DAY_BUFFER.take();
    let result = process_day_in(run, conv_id, entry, declared, &mut buf, each);
    if buf.capacity() <= KEPT_BUFFER_BYTES {
        DAY_BUFFER.set(buf);
    }
    result
}

fn process_day_in(
    run: &Run<'_>,
    conv_id: &str,
    entry: Entry,
    declared: u64,
    buf: &mut Vec<u8>,
    each: &mut dyn FnMut(DayOutput) -> Result<(), ExtractError>,
) -> Result<(), ExtractError> {
    let file = run.rel(entry);
    let spooled = run.dump_days.get(&entry);
    let opened = match spooled {
        Some(path) => std::fs::File::open(path)
            .map(|f| Box::new(f) as Box<dyn std::io::Read>)
            .map_err(|e| format!("{}: {e}", path.display())),
        None => run.source.reader(entry).map_err(|e| e.to_string()),
    };
    let inner = match opened {
        Ok(r) => r,
        Err(e) => {
            let why = format!("{e}: skipped");
            let warnings = vec![Warning::new(WarningCode::UnreadableSource, Some(&file), None, why)];
            return each(DayOutput { file, end_of_day: true, warnings, ..Default::default() });
        }
    };
    let bounded = Bounded { inner, run, read: 0, stop: None, charge: spooled.is_none() };
    let whole = crate::zipdir::WHOLE_ENTRY_BYTES;
    let mut chunks = chunks::Chunks::new(bounded, CHUNK_BYTES, std::mem::take(buf), Some(declared), whole);
    // Elements of the day file before the current chunk.
    let mut read = 0u64;
    let mut invalid_utf8 = false;
    while let Some(chunk) = chunks.next_chunk() {
        let mut out = DayOutput {
            file: file.clone(),
            end_of_day: chunk.last,
            text_bytes: chunk.bytes.len() as u64,
            ..Default::default()
        };
        let mut warnings = Vec::new();
        let text = match std::str::from_utf8(chunk.bytes) {
            Ok(s) => std::borrow::Cow::Borrowed(s),
            Err(e) => {
                // A chunk ends at an ASCII byte: replacing chunk by chunk gives the same
                // text as replacing in the whole file.
                if !invalid_utf8 {
                    invalid_utf8 = true;
                    let at = chunk.offset + e.valid_up_to() as u64;
                    let record = read + chunks::element_at(chunk.bytes, e.valid_up_to());
                    warnings.push(Warning::new(
                        WarningCode::InvalidUtf8,
                        Some(&file),
                        Some(record),
                        format!("invalid UTF-8 at byte {at} (record {record}): replaced with U+FFFD"),
                    ));
                }
                std::borrow::Cow::Owned(String::from_utf8_lossy(chunk.bytes).into_owned())
            }
        };
        let (parsed, broken) = parse_chunk(run, conv_id, &text, read, &mut out, &mut warnings);
        read += parsed;
        let broken = broken.map(|e| chunk.error_in_file(&e));
        let last = chunk.last || broken.is_some();
        out.end_of_day = last;
        if last {
            let stop = chunks.get_ref().stop.as_ref();
            let kept = match broken {
                Some(_) => format!("the {read} record(s) before were kept, the rest skipped"),
                None => format!("its {read} record(s) were kept"),
            };
            let too_long = chunks.record_too_long();
            let warning = match (stop, broken) {
                (Some(stop), _) => Some(run.stopped(stop, &kept)),
                (None, Some(_)) if too_long => Some((
                    WarningCode::EntryTooLarge,
                    format!(
                        "record {read} runs past {} MiB, far beyond any Slack message (a decompression bomb?): {kept}",
                        chunks::MAX_RECORD_BYTES >> 20
                    ),
                )),
                (None, Some(error)) => Some((
                    WarningCode::InvalidJson,
                    format!(
                        "not a valid JSON array of messages after {read} record(s): {error}; the records before were kept"
                    ),
                )),
                (None, None) => None,
            };
            if let Some((code, why)) = warning {
                warnings.push(Warning::new(code, Some(&file), Some(read), why));
            }
        }
        out.warnings = warnings;
        each(out)?;
        if last {
            break;
        }
    }
    *buf = chunks.into_buffer();
    Ok(())
}

/// Parses one chunk's messages (the day file's elements from `first` on) into `out`;
/// returns how many elements it read and the parse error that ended it, if any.
fn parse_chunk(
    run: &Run<'_>,
    conv_id: &str,
    text: &str,
    first: u64,
    out: &mut DayOutput,
    warnings: &mut Vec<Warning>,
) -> (u64, Option<serde_json::Error>) {
    let may_hold_secrets = urls::suspicious(text);
    // The canonical lines are about two thirds of the chunk's size: one allocation
    // instead of a chain of doublings and copies.
    out.lines = run.lines_buffer();
    out.lines.reserve(text.len() / 4 * 3);
    let file = out.file.clone();
    let mut refs = Vec::new();
    let mut read = 0u64;
    let result = dayfile::for_each_message(text, may_hold_secrets, |i, parsed| {
        let index = first + i;
        read = i + 1;
        let mut ctx = Ctx { file: &file, index, warnings };
        let Some(fields) = parsed.fields.take() else {
            records::not_an_object(&mut ctx);
            return;
        };
        let Some(mut conv) = records::message_fields(&mut ctx, conv_id, fields, may_hold_secrets) else {
            return;
        };
        let msg = &conv.message;
        let Some(ts) = msg.ts.micros() else { return };
        let may_be_root = msg.reply_to.is_none() && (msg.thread_ts.is_some() || msg.reply_count.is_some());
        out.metas.push((ts, msg.reply_to.as_ref().and_then(SlackTs::micros), index, may_be_root));
        if msg.is_reply() {
            out.replies += 1;
        }
        out.reactions += msg.reactions.iter().map(|r| r.users.len() as u64).sum::<u64>();
        if msg.kind == MessageKind::System {
            if let (Some(join), Some(user)) =
                (records::membership_change(msg.subtype.as_deref()), &msg.author)
            {
                out.membership_events.push((msg.ts.clone(), user.clone(), join));
            }
        }
        refs.clear();
        records::referenced_users(msg, &conv.files, &mut refs);
        for (start, end) in [parsed.blocks, parsed.attachments].into_iter().flatten() {
            records::json_user_ids(&parsed.bytes[start..end], &mut refs);
        }
        for id in refs.drain(..) {
            if !run.known_users.contains_key(&id) && records::plausible_user_id(&id) {
                out.unknown_users.push((id, index));
            }
        }
        let start = out.lines.len();
        if write_message(&mut out.lines, &mut conv.message, parsed).is_ok() {
            out.lines.push(b'\n');
            out.records += 1;
        } else {
            out.lines.truncate(start);
        }
        out.files.extend(conv.files);
    });
    match result {
        DayParse::Complete => (read, None),
        DayParse::Broken { read, error } => (read, Some(error)),
    }
}

/// Appends the canonical JSON of `msg` whose `extra` is its own `extra` (the interpreted
/// fields left over) merged with the passed-through fields of `parsed`: the same bytes as
/// serializing a `Message` holding all of them in `extra`. `msg.extra` is emptied.
fn write_message(
    out: &mut Vec<u8>,
    msg: &mut chatport_model::Message,
    parsed: &mut dayfile::ParsedMessage<'_>,
) -> Result<(), crate::jsonout::Error> {
    use crate::jsonout::{to_vec_into, to_vec_spliced, write_str, Splice};
    let own = std::mem::take(&mut msg.extra);
    // `blocks` and `attachments` were re-encoded while parsing: a placeholder makes the
    // field serialized, and the splice writes the bytes in its place.
    let mut splices = Vec::new();
    if let Some(json) = parsed.verbatim(parsed.blocks) {
        msg.body.blocks = Some(serde_json::Value::Null);
        splices.push(Splice { in_struct: "Body", field: "blocks", json });
    }
    if let Some(json) = parsed.verbatim(parsed.attachments) {
        msg.attachments = Some(serde_json::Value::Null);
        splices.push(Splice { in_struct: "Message", field: "attachments", json });
    }
    to_vec_spliced(out, msg, &splices)?;
    let mut passed = parsed.sorted_passthrough().peekable();
    let mut own = own.iter().peekable();
    if passed.peek().is_none() && own.peek().is_none() {
        return Ok(());
    }
    // `extra` is the last field of a message: reopen the object to append it.
    if out.pop() != Some(b'}') {
        return Err(serde::ser::Error::custom("a message should serialize as an object"));
    }
    out.extend_from_slice(b",\"extra\":{");
    let mut first = true;
    loop {
        let take_own = match (own.peek(), passed.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((a, _)), Some((b, _))) => a.as_bytes() < b.as_bytes(),
        };
        if !first {
            out.push(b',');
        }
        first = false;
        if take_own {
            if let Some((k, v)) = own.next() {
                write_str(out, k);
                out.push(b':');
                to_vec_into(out, v)?;
            }
        } else if let Some((k, bytes)) = passed.next() {
            crate::transcode::write_key(out, k);
            out.push(b':');
            out.extend_from_slice(bytes);
        }
    }
    out.extend_from_slice(b"}}");
    Ok(())
}

/// The id of a spooled file record: the first member of its canonical line.
fn spooled_file_id(record: &[u8]) -> Option<String> {
    let rest = record.strip_prefix(b"{\"id\":")?;
    serde_json::Deserializer::from_slice(rest).into_iter::<String>().next()?.ok()
}

/// A conversation waiting to be processed, with its day files in order.
struct Pending {
    id: String,
    /// The record: built here (an unlisted folder) or where it waits in the spool of
    /// listed conversations.
    conversation: Result<Box<Conversation>, SpoolRange>,
    /// The folder that holds a listed conversation's day files.
    folder: Option<String>,
    days: EntryRuns,
}

impl Pending {
    /// The conversation's record (read back from `listed` if it waits there) and its day
    /// files.
    fn into_parts(self, listed: &SpoolReader) -> Result<(Conversation, Vec<Entry>), ExtractError> {
        let mut c = match self.conversation {
            Ok(c) => *c,
            Err(range) => {
                let mut buf = Vec::new();
                let io =
                    |e: std::io::Error| ExtractError::Output { path: listed.path().to_owned(), source: e };
                listed.read(range, &mut buf).map_err(io)?;
                serde_json::from_slice(&buf).map_err(|e| io(e.into()))?
            }
        };
        if let Some(folder) = self.folder {
            c.folder = Some(folder);
        }
        Ok((c, self.days.to_vec()))
    }
}

/// What one conversation yields.
struct ConversationOutput {
    /// The conversation's record, in `Run::conversations`.
    record: SpoolRange,
    message_count: u64,
    memberships: u64,
    data_file: Option<DataFile>,
    /// The spool file holding the file records of this conversation's messages, every
    /// occurrence in message order (spooled so memory does not grow with them).
    file_spool: Option<std::path::PathBuf>,
    /// Records in `file_spool`.
    spooled: u64,
    /// Unknown user ids referenced by messages, with the file and record.
    unknown_users: Vec<(String, String, u64)>,
    /// Unknown user ids referenced by the conversation's metadata (members, creators), with
    /// the metadata file.
    unknown_in_metadata: Vec<(String, String)>,
    /// The conversation's warnings, waiting on disk for the final, ordered write.
    warnings: Option<SpooledWarnings>,
    replies: u64,
    reactions: u64,
}

/// What the final write keeps of one finished conversation.
struct Finished {
    record: SpoolRange,
    data_file: Option<DataFile>,
    /// The file records' spool and how many records it holds.
    file_spool: Option<(std::path::PathBuf, u64)>,
    warnings: Option<SpooledWarnings>,
}

/// The conversations' outputs folded in as they finish (in any order): counts summed,
/// each unknown user kept once with its first reference in conversation order.
struct Merged {
    counts: Counts,
    /// By conversation place.
    conversations: Vec<Option<Finished>>,
    /// Unknown user → (conversation place, (file, record)) of its first message reference.
    unknown: BTreeMap<String, (usize, (String, u64))>,
    /// Unknown user → (conversation place, metadata file) of its first metadata reference.
    metadata_unknown: BTreeMap<String, (usize, String)>,
    /// The error of the first conversation (by place) that failed.
    error: Option<(usize, ExtractError)>,
}

impl Merged {
    fn new(n: usize) -> Self {
        Merged {
            counts: Counts::default(),
            conversations: (0..n).map(|_| None).collect(),
            unknown: BTreeMap::new(),
            metadata_unknown: BTreeMap::new(),
            error: None,
        }
    }

    /// Folds in conversation `i`'s output.
    fn add(&mut self, i: usize, result: Result<ConversationOutput, ExtractError>) {
        let o = match result {
            Ok(o) => o,
            Err(e) => {
                if self.error.as_ref().is_none_or(|(first, _)| i < *first) {
                    self.error = Some((i, e));
                }
                return;
            }
        };
        self.counts.messages += o.message_count;
        self.counts.replies += o.replies;
        self.counts.reactions += o.reactions;
        self.counts.memberships += o.memberships;
        for (id, file, index) in o.unknown_users {
            keep_earliest(&mut self.unknown, id, i, (file, index));
        }
        for (id, listed_in) in o.unknown_in_metadata {
            keep_earliest(&mut self.metadata_unknown, id, i, listed_in);
        }
        if let Some(slot) = self.conversations.get_mut(i) {
            *slot = Some(Finished {
                record: o.record,
                data_file: o.data_file,
                file_spool: o.file_spool.map(|path| (path, o.spooled)),
                warnings: o.warnings,
            });
        }
    }
}

/// Keeps `value` for `id` unless a conversation before (or at) place `i` gave one.
fn keep_earliest<V>(map: &mut BTreeMap<String, (usize, V)>, id: String, i: usize, value: V) {
    if map.get(&id).is_none_or(|(first, _)| i < *first) {
        map.insert(id, (i, value));
    }
}

/// Replies whose thread root was not seen yet, as `(root, day file's place, record)`: in
/// memory up to [`WARNING_BATCH`] of them, then in a spool file of 24-byte records (in an
/// export cut by date, every reply to an older thread is one).
struct PendingReplies {
    spilled: LazyFile,
    batch: Vec<(i64, usize, u64)>,
}

impl PendingReplies {
    fn new(path: std::path::PathBuf) -> Self {
        PendingReplies { spilled: LazyFile::new(path), batch: Vec::new() }
    }

    fn error(&self, e: std::io::Error) -> ExtractError {
        ExtractError::Output { path: self.spilled.path().to_owned(), source: e }
    }

    fn push(&mut self, reply: (i64, usize, u64)) -> Result<(), ExtractError> {
        self.batch.push(reply);
        if self.batch.len() < WARNING_BATCH {
            return Ok(());
        }
        let mut record = Vec::with_capacity(self.batch.len() * 24);
        for (root, day, index) in self.batch.drain(..) {
            record.extend_from_slice(&root.to_le_bytes());
            record.extend_from_slice(&(day as u64).to_le_bytes());
            record.extend_from_slice(&index.to_le_bytes());
        }
        self.spilled.write_all(&record).map_err(|e| self.error(e))
    }

    /// Hands every pending reply to `each`, in the order they were pushed.
    fn for_each(
        self,
        mut each: impl FnMut(i64, usize, u64) -> Result<(), ExtractError>,
    ) -> Result<(), ExtractError> {
        let error = |path: &std::path::Path, e| ExtractError::Output { path: path.to_owned(), source: e };
        let path = self.spilled.path().to_owned();
        if let Some(path) = self.spilled.finish().map_err(|e| error(&path, e))? {
            use std::io::Read;
            let mut reader =
                std::io::BufReader::new(std::fs::File::open(&path).map_err(|e| error(&path, e))?);
            let mut record = [0u8; 24];
            loop {
                match reader.read_exact(&mut record) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(error(&path, e)),
                }
                let field = |i: usize| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&record[i * 8..i * 8 + 8]);
                    u64::from_le_bytes(b)
                };
                let day = usize::try_from(field(1)).unwrap_or(usize::MAX);
                each(field(0) as i64, day, field(2))?;
            }
        }
        for (root, day, index) in self.batch {
            each(root, day, index)?;
        }
        Ok(())
    }
}

/// Warnings held before they are written to a conversation's warning spool.
const WARNING_BATCH: usize = 4096;

/// A conversation's warnings, written to the spool as they come: a partial export (thread
/// roots outside its date range, say) can warn once per message.
struct WarningSpool {
    file: LazyFile,
    records: u64,
    by_code: BTreeMap<WarningCode, u64>,
    line: Vec<u8>,
}

/// A conversation's spooled warnings.
struct SpooledWarnings {
    path: std::path::PathBuf,
    records: u64,
    by_code: BTreeMap<WarningCode, u64>,
}

impl WarningSpool {
    fn new(path: std::path::PathBuf) -> Self {
        WarningSpool { file: LazyFile::new(path), records: 0, by_code: BTreeMap::new(), line: Vec::new() }
    }

    fn error(&self, e: std::io::Error) -> ExtractError {
        ExtractError::Output { path: self.file.path().to_owned(), source: e }
    }

    /// Writes `warnings` (the same bytes as `warnings.jsonl` will hold) and empties it.
    fn drain(&mut self, warnings: &mut Vec<Warning>) -> Result<(), ExtractError> {
        for w in warnings.drain(..) {
            *self.by_code.entry(w.code).or_default() += 1;
            self.records += 1;
            self.line.clear();
            serde_json::to_writer(&mut self.line, &w).map_err(|e| self.error(e.into()))?;
            self.line.push(b'\n');
            let result = self.file.write_all(&self.line);
            result.map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    fn finish(self) -> Result<Option<SpooledWarnings>, ExtractError> {
        let path = self.file.path().to_owned();
        let written = self.file.finish().map_err(|e| ExtractError::Output { path, source: e })?;
        Ok(written.map(|path| SpooledWarnings { path, records: self.records, by_code: self.by_code }))
    }
}

impl SpooledWarnings {
    /// Appends the spooled lines to `w` in chunks, counting them into `summary`.
    fn copy_into(
        self,
        w: &mut DataFileWriter,
        summary: &mut crate::WarningSummary,
    ) -> Result<(), ExtractError> {
        use std::io::BufRead;
        let io = |e: std::io::Error| ExtractError::Output { path: self.path.clone(), source: e };
        let mut reader = std::io::BufReader::new(std::fs::File::open(&self.path).map_err(io)?);
        let (mut chunk, mut lines, mut copied) = (Vec::new(), 0u64, 0u64);
        loop {
            let start = chunk.len();
            if reader.read_until(b'\n', &mut chunk).map_err(io)? == 0 {
                break;
            }
            if summary.first.len() < crate::WarningSummary::SAMPLE {
                let warning = serde_json::from_slice(&chunk[start..]).map_err(|e| io(e.into()))?;
                summary.first.push(warning);
            }
            lines += 1;
            if chunk.len() >= 1 << 20 {
                w.write_lines(&chunk, lines)?;
                (copied, lines) = (copied + lines, 0);
                chunk.clear();
            }
        }
        w.write_lines(&chunk, lines)?;
        copied += lines;
        if copied != self.records {
            let why = format!("{copied} warning(s) read back, {} written", self.records);
            return Err(io(std::io::Error::other(why)));
        }
        summary.total += self.records;
        for (code, n) in self.by_code {
            *summary.by_code.entry(code).or_default() += n;
        }
        Ok(())
    }
}

/// The `ts` (µs) of the messages of the current chunk of a day file and of the chunks
/// before it within [`LOOKBACK_BYTES`], for the duplicate check.
#[derive(Default)]
struct RecentTs {
    /// Each `ts` with the last chunk (by sequence number) it was seen in.
    seen: HashMap<i64, u64>,
    /// The chunks looked back on: sequence number, size, their `ts`.
    chunks: std::collections::VecDeque<(u64, u64, Vec<i64>)>,
    bytes: u64,
    /// The current chunk's sequence number.
    chunk: u64,
    current: Vec<i64>,
}

impl RecentTs {
    /// Records `ts` in the current chunk; true when it was seen in the look-back already.
    fn is_duplicate(&mut self, ts: i64) -> bool {
        self.current.push(ts);
        self.seen.insert(ts, self.chunk).is_some()
    }

    /// Ends the current chunk, of `size` bytes, and drops the chunks past the look-back.
    fn end_chunk(&mut self, size: u64) {
        self.chunks.push_back((self.chunk, size, std::mem::take(&mut self.current)));
        self.bytes = self.bytes.saturating_add(size);
        self.chunk += 1;
        while self.chunks.len() > 1 && self.bytes > LOOKBACK_BYTES {
            let Some((chunk, size, stamps)) = self.chunks.pop_front() else { break };
            self.bytes -= size;
            for ts in stamps {
                if self.seen.get(&ts) == Some(&chunk) {
                    self.seen.remove(&ts);
                }
            }
        }
    }
}

/// The position of a conversation's `seq`-th spooled file record among all of them, as
/// [`FirstSeen`] orders occurrences: by conversation, then by message order.
fn file_position(conversation: usize, seq: u64) -> u64 {
    ((conversation as u64) << 32) | (seq & 0xffff_ffff)
}

/// The key [`FirstSeen`] deduplicates file records by: 128 bits of the id's SHA-256.
fn file_key(id: &str) -> u128 {
    let digest = Sha256::digest(id.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(key)
}

/// What a conversation gathers from its day files' outputs, taken in order: the messages
/// file, the duplicate and reply-root checks, spooled file records and warnings, unknown
/// users and membership events.
struct DaySink<'r, 'a> {
    run: &'r Run<'a>,
    /// The conversation's place, for file positions.
    index: usize,
    writer: DataFileWriter,
    warnings: Vec<Warning>,
    warning_spool: WarningSpool,
    // Memory here must not grow with the conversation: duplicate `ts` are looked for among
    // recent day files only (`LOOKBACK_BYTES`), and reply roots among thread roots only.
    recent_ts: RecentTs,
    roots: roots::ThreadRoots,
    // A reply whose root is not seen yet: (root, day file, record). The day file is its
    // place in `days`, so an export of orphan replies holds 24 bytes for each.
    pending_replies: PendingReplies,
    file_spool_path: std::path::PathBuf,
    file_spool: LazyFile,
    spooled: u64,
    keys: Vec<(u128, u64)>,
    line: Vec<u8>,
    unknown_users: Vec<(String, String, u64)>,
    unknown_seen: HashSet<String>,
    events: membership::MembershipEvents<'r>,
    replies: u64,
    reactions: u64,
}

impl DaySink<'_, '_> {
    /// Takes one output of day file `day_index`.
    fn take(&mut self, day_index: usize, mut day: DayOutput) -> Result<(), ExtractError> {
        let run = self.run;
        self.writer.write_lines(&day.lines, day.records)?;
        run.recycle_lines(std::mem::take(&mut day.lines));
        run.progress.advance(u64::from(day.end_of_day), day.records);
        for (ts, root, index, may_be_root) in &day.metas {
            if self.recent_ts.is_duplicate(*ts) {
                self.warnings.push(Warning::new(
                    WarningCode::DuplicateTs,
                    Some(&day.file),
                    Some(*index),
                    "a message with the same `ts` is already in this conversation: both kept",
                ));
            }
            if *may_be_root {
                self.roots.insert(*ts)?;
            }
            if let Some(root) = root {
                if !self.roots.contains(*root)? {
                    self.pending_replies.push((*root, day_index, *index))?;
                }
            }
        }
        for f in day.files {
            let path = &self.file_spool_path;
            let io = |e: std::io::Error| ExtractError::Output { path: path.clone(), source: e };
            self.line.clear();
            crate::jsonout::to_vec_into(&mut self.line, &f).map_err(|e| io(std::io::Error::other(e)))?;
            self.line.push(b'\n');
            self.file_spool.write_all(&self.line).map_err(io)?;
            if self.spooled > 0xffff_ffff {
                return Err(io(std::io::Error::other("more than 2^32 file references in one conversation")));
            }
            self.keys.push((file_key(&f.id), file_position(self.index, self.spooled)));
            self.spooled += 1;
        }
        for (id, index) in day.unknown_users {
            if self.unknown_seen.insert(id.clone()) {
                self.unknown_users.push((id, day.file.clone(), index));
            }
        }
        for (ts, user, join) in day.membership_events {
            self.events.push(ts.as_str(), &user, join, &run.known_users)?;
        }
        self.warnings.extend(day.warnings);
        self.recent_ts.end_chunk(day.text_bytes);
        self.replies += day.replies;
        self.reactions += day.reactions;
        Ok(())
    }

    /// Hands the file keys taken so far to the first-seen sort and spools the warnings.
    fn flush(&mut self) -> Result<(), ExtractError> {
        self.run
            .first_seen
            .add(&mut self.keys)
            .map_err(|e| ExtractError::Output { path: self.run.out.join(SPOOL), source: e })?;
        self.warning_spool.drain(&mut self.warnings)
    }
}

fn process_conversation(
    run: &Run<'_>,
    index: usize,
    mut conversation: Conversation,
    days: &[Entry],
) -> Result<ConversationOutput, ExtractError> {
    let stem = file_stem_for(&conversation.id);
    conversation.messages_path = format!("messages/{stem}.jsonl");
    let spool = run.out.join(SPOOL);
    let file_spool_path = spool.join(format!("files-{stem}.jsonl"));
    let mut sink = DaySink {
        run,
        index,
        writer: DataFileWriter::create(run.out, &conversation.messages_path)?,
        warnings: Vec::new(),
        warning_spool: WarningSpool::new(spool.join(format!("warnings-{stem}.jsonl"))),
        recent_ts: RecentTs::default(),
        roots: roots::ThreadRoots::new(spool.join(format!("roots-{stem}.bin"))),
        pending_replies: PendingReplies::new(spool.join(format!("pending-{stem}.bin"))),
        file_spool: LazyFile::new(file_spool_path.clone()),
        file_spool_path,
        spooled: 0,
        keys: Vec::new(),
        line: Vec::new(),
        unknown_users: Vec::new(),
        unknown_seen: HashSet::new(),
        events: membership::MembershipEvents::new(spool.join(format!("members-{stem}.bin"))),
        replies: 0,
        reactions: 0,
    };
    let mut rest = days;
    // Each day file's declared size, read once (it costs a directory record read): the
    // window's, and the first of the next window when it did not fit in this one.
    let size = |e: Entry| run.source.declared_size(e).unwrap_or(0);
    let mut sizes: Vec<u64> = Vec::with_capacity(DAY_WINDOW);
    let mut next_size: Option<u64> = None;
    while !rest.is_empty() {
        let idle_thread = run.unstarted.load(Ordering::SeqCst) == 0
            && run.running.load(Ordering::SeqCst) < rayon::current_num_threads();
        let limit = if idle_thread { WIDE_WINDOW_BYTES } else { WINDOW_BYTES };
        sizes.clear();
        sizes.push(next_size.take().unwrap_or_else(|| size(rest[0])));
        let mut bytes = sizes[0];
        while sizes.len() < rest.len().min(DAY_WINDOW) {
            let s = size(rest[sizes.len()]);
            bytes = bytes.saturating_add(s);
            if bytes > limit {
                next_size = Some(s);
                break;
            }
            sizes.push(s);
        }
        let take = sizes.len();
        let first_day = days.len() - rest.len();
        let (window, later) = rest.split_at(take);
        rest = later;
        if let [entry] = window {
            // A day file alone in its window (a large one, or the last): its chunks are
            // written as they are parsed, so it is never held whole.
            let declared = sizes[0];
            process_day(run, &conversation.id, *entry, declared, &mut |out| {
                sink.take(first_day, out)?;
                sink.flush()
            })?;
            continue;
        }
        let outputs = window
            .par_iter()
            .zip(&sizes)
            .map(|(&entry, &declared)| {
                let mut chunks = Vec::new();
                process_day(run, &conversation.id, entry, declared, &mut |out| {
                    chunks.push(out);
                    Ok(())
                })
                .map(|()| chunks)
            })
            .collect::<Result<Vec<Vec<DayOutput>>, ExtractError>>()?;
        for (day_index, chunks) in (first_day..).zip(outputs) {
            for out in chunks {
                sink.take(day_index, out)?;
            }
        }
        sink.flush()?;
    }
    let DaySink {
        writer,
        mut warnings,
        mut warning_spool,
        roots,
        pending_replies,
        file_spool,
        file_spool_path,
        spooled,
        unknown_users,
        events,
        replies,
        reactions,
        ..
    } = sink;
    let pending_path = pending_replies.spilled.path().to_owned();
    pending_replies.for_each(|root, day, index| {
        if !roots.contains(root)? {
            let Some(&day) = days.get(day) else {
                let why = std::io::Error::other(format!("day file {day} of {} read back", days.len()));
                return Err(ExtractError::Output { path: pending_path.clone(), source: why });
            };
            warnings.push(Warning::new(
                WarningCode::OrphanReply,
                Some(&run.rel(day)),
                Some(index),
                "the thread root of this reply is not in the export: kept as a reply",
            ));
            if warnings.len() >= WARNING_BATCH {
                warning_spool.drain(&mut warnings)?;
            }
        }
        Ok(())
    })?;
    warning_spool.drain(&mut warnings)?;
    let file_spool =
        file_spool.finish().map_err(|e| ExtractError::Output { path: file_spool_path, source: e })?;
    let data_file = writer.finish()?;
    conversation.message_count = data_file.records;
    // Users referenced by the conversation's metadata.
    let listed_in =
        conversation.listed_in.clone().unwrap_or_else(|| conversation.folder.clone().unwrap_or_default());
    let topic_creators = [&conversation.topic, &conversation.purpose]
        .into_iter()
        .flatten()
        .filter_map(|t| t.creator.as_ref())
        .chain(conversation.creator.iter());
    let unknown_in_metadata = conversation
        .members
        .iter()
        .chain(topic_creators)
        .filter(|id| !run.known_users.contains_key(*id) && records::plausible_user_id(id))
        .map(|id| (id.clone(), listed_in.clone()))
        .collect();
    // The record is written around its intervals, which go straight from the events to
    // the spool: a NUL (never in serialized JSON, which escapes it) marks their place.
    let spool_error =
        |e: std::io::Error| ExtractError::Output { path: run.conversations.path().to_owned(), source: e };
    conversation.memberships.clear();
    let mut record = Vec::with_capacity(512);
    let splice = crate::jsonout::Splice { in_struct: "Conversation", field: "memberships", json: b"\0" };
    crate::jsonout::to_vec_spliced(&mut record, &conversation, &[splice])
        .map_err(|e| spool_error(std::io::Error::other(e)))?;
    let at = memchr::memchr(0, &record)
        .ok_or_else(|| spool_error(std::io::Error::other("the memberships field was not written")))?;
    let (before, after) = (&record[..at], &record[at + 1..]);
    let (memberships, record) = run.conversations.append_with(
        |w| {
            w.write_all(before).map_err(spool_error)?;
            let n = events.write_intervals(w, run.conversations.path())?;
            w.write_all(after).and_then(|()| w.write_all(b"\n")).map_err(spool_error)?;
            Ok(n)
        },
        spool_error,
    )?;
    Ok(ConversationOutput {
        record,
        message_count: conversation.message_count,
        memberships,
        data_file: Some(data_file),
        file_spool,
        spooled,
        unknown_users,
        unknown_in_metadata,
        warnings: warning_spool.finish()?,
        replies,
        reactions,
    })
}

fn guess_kind(folder: &str) -> ConversationKind {
    if folder.starts_with("mpdm-") {
        ConversationKind::GroupDm
    } else if folder.len() > 1
        && folder.starts_with('D')
        && folder.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        ConversationKind::Dm
    } else {
        ConversationKind::PublicChannel
    }
}

fn prepare_out(out: &Path, force: bool) -> Result<(), ExtractError> {
    let io = |e: std::io::Error| ExtractError::Output { path: out.to_owned(), source: e };
    if out.exists() {
        let mut items = std::fs::read_dir(out).map_err(io)?;
        if items.next().is_some() {
            if !force {
                return Err(ExtractError::OutputNotEmpty(out.to_owned()));
            }
            for name in
                ["manifest.json", "users.jsonl", "conversations.jsonl", "files.jsonl", "warnings.jsonl"]
            {
                let p = out.join(name);
                if p.exists() {
                    std::fs::remove_file(&p).map_err(io)?;
                }
            }
            for dir in ["messages", "blobs", SPOOL, ".salvage"] {
                let p = out.join(dir);
                if p.exists() {
                    std::fs::remove_dir_all(&p).map_err(io)?;
                }
            }
        }
    }
    std::fs::create_dir_all(out.join("messages")).map_err(io)?;
    Ok(())
}

/// Reads a Slack export into a canonical directory and returns its manifest.
pub fn extract(
    input: &Path,
    out: &Path,
    opts: &ExtractOptions,
    progress: &dyn Progress,
) -> Result<(Manifest, crate::WarningSummary), ExtractError> {
    let out_existed = out.exists();
    prepare_out(out, opts.force)?;
    let source = match ExportSource::open(
        input,
        &out.join(".salvage"),
        opts.max_json_bytes.max(opts.max_file_bytes),
    ) {
        Ok(source) => source,
        Err(e) => {
            // Nothing was read: leave no empty output behind (only empty folders go).
            let _ = std::fs::remove_dir(out.join("messages"));
            if !out_existed {
                let _ = std::fs::remove_dir(out);
            }
            return Err(e.into());
        }
    };
    let (fingerprint, result) =
        rayon::join(|| source.fingerprint(), || extract_from(&source, out, opts, progress));
    let (mut manifest, warnings) = result?;
    manifest.source.sha256 = fingerprint?;
    write_json_file(out, "manifest.json", &manifest)?;
    Ok((manifest, warnings))
}

fn extract_from(
    source: &ExportSource,
    out: &Path,
    opts: &ExtractOptions,
    progress: &dyn Progress,
) -> Result<(Manifest, crate::WarningSummary), ExtractError> {
    let mut warnings = Vec::new();
    let spool_dir = out.join(SPOOL);
    let scratch = |e: std::io::Error| ExtractError::Output { path: spool_dir.clone(), source: e };
    std::fs::create_dir_all(&spool_dir).map_err(scratch)?;
    // Removed however extraction ends; on success, below, with its errors reported.
    let _spool_guard = crate::spool::ScratchDir::new(spool_dir.clone());
    let mut run = Run {
        source,
        opts,
        out,
        prefix: root_prefix(source),
        inflated: AtomicU64::new(0),
        known_users: HashMap::new(),
        progress,
        spare_lines: std::sync::Mutex::new(Vec::new()),
        conversations: Spool::create(&spool_dir.join("conversations.jsonl")).map_err(scratch)?,
        first_seen: FirstSeen::new(&spool_dir, FirstSeen::DEFAULT_RUN),
        unstarted: Default::default(),
        running: Default::default(),
        dump_days: HashMap::new(),
    };
    let source_name = source.path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    for note in source.notes() {
        warnings.push(Warning::new(WarningCode::UnreadableSource, Some(&source_name), None, note.clone()));
    }
    let mut layout = layout(&run, source, &mut warnings);

    // Users.
    let users_entry = layout.metadata.get("users.json").copied();
    if users_entry.is_none() {
        warnings.push(Warning::new(
            WarningCode::MissingMetadata,
            Some("users.json"),
            None,
            "absent: every referenced user becomes a placeholder",
        ));
    }
    // Each user's record waits in a spool; memory holds only where it is, by id (one map,
    // which the conversations look users up in too).
    let user_spool = Spool::create(&spool_dir.join("users.jsonl")).map_err(scratch)?;
    let mut users: HashMap<String, SpoolRange> = HashMap::new();
    let mut duplicates = Vec::new();
    let mut spool_failure = None;
    let mut line = Vec::new();
    run.metadata(users_entry, &mut warnings, records::user, |u: User| {
        if users.contains_key(&u.id) {
            duplicates.push(Warning::new(
                WarningCode::DuplicateUser,
                Some("users.json"),
                None,
                format!("user {} listed twice: the first is kept", u.id),
            ));
            return;
        }
        line.clear();
        let spooled = serde_json::to_writer(&mut line, &u).map_err(std::io::Error::from).and_then(|()| {
            line.push(b'\n');
            user_spool.append(&line)
        });
        match spooled {
            Ok(range) => {
                users.insert(u.id, range);
            }
            Err(e) => {
                spool_failure.get_or_insert(e);
            }
        }
    });
    if let Some(e) = spool_failure {
        return Err(ExtractError::Output { path: user_spool.path().to_owned(), source: e });
    }
    warnings.append(&mut duplicates);
    run.known_users = users;

    // Conversations listed in the metadata.
    if !layout.metadata.contains_key("channels.json") {
        warnings.push(Warning::new(
            WarningCode::MissingMetadata,
            Some("channels.json"),
            None,
            "absent: conversation folders are taken as they are",
        ));
    }
    // Each listed conversation waits in a spool until it is processed: member lists can be
    // long, and memory holds only the id, the name and where the record is.
    let listed_spool = Spool::create(&spool_dir.join("listed.jsonl")).map_err(scratch)?;
    let mut conversations: BTreeMap<String, (Option<String>, SpoolRange)> = BTreeMap::new();
    let lists = [
        ("channels.json", ConversationKind::PublicChannel),
        ("groups.json", ConversationKind::PrivateChannel),
        ("mpims.json", ConversationKind::GroupDm),
        ("dms.json", ConversationKind::Dm),
    ];
    let mut business = false;
    let mut spool_failure = None;
    for (file, kind) in lists {
        let mut duplicates = Vec::new();
        let mut any = false;
        run.metadata(
            layout.metadata.get(file).copied(),
            &mut warnings,
            |ctx, v| records::conversation(ctx, v, kind),
            |c: Conversation| {
                any = true;
                if conversations.contains_key(&c.id) {
                    duplicates.push(Warning::new(
                        WarningCode::DuplicateConversation,
                        Some(file),
                        None,
                        format!("conversation {} listed again: the first is kept", c.id),
                    ));
                    return;
                }
                match serde_json::to_vec(&c)
                    .map_err(std::io::Error::from)
                    .and_then(|b| listed_spool.append(&b))
                {
                    Ok(range) => {
                        conversations.insert(c.id, (c.name, range));
                    }
                    Err(e) => {
                        spool_failure.get_or_insert(e);
                    }
                }
            },
        );
        business |= kind != ConversationKind::PublicChannel && any;
        warnings.append(&mut duplicates);
    }
    if let Some(e) = spool_failure {
        return Err(ExtractError::Output { path: listed_spool.path().to_owned(), source: e });
    }

    // Match folders to conversations: channels by name, DMs by id.
    let mut folder_owner: HashMap<String, String> = HashMap::new();
    for (id, (name, _)) in &conversations {
        for key in [name.as_deref(), Some(id.as_str())].into_iter().flatten() {
            if layout.folders.contains_key(key) && !folder_owner.contains_key(key) {
                folder_owner.insert(key.to_owned(), id.clone());
                break;
            }
        }
    }
    let mut work: Vec<Pending> = Vec::new();
    // Each folder's days move into its conversation's work: the listing is held once.
    let mut claimed: HashSet<String> = HashSet::new();
    for (folder, days) in layout.folders.iter_mut() {
        if let Some(id) = folder_owner.get(folder) {
            if let Some((_, range)) = conversations.remove(id) {
                claimed.insert(folder.clone());
                work.push(Pending {
                    id: id.clone(),
                    conversation: Err(range),
                    folder: Some(folder.clone()),
                    days: std::mem::take(days),
                });
            }
        }
    }
    for (folder, days) in layout.folders.iter_mut() {
        if claimed.contains(folder) {
            continue;
        }
        let kind = guess_kind(folder);
        let mut id = folder.clone();
        if work.iter().any(|p| p.id == id) || conversations.contains_key(&id) {
            id = format!("{folder}~unlisted");
        }
        warnings.push(Warning::new(
            WarningCode::UnlistedConversation,
            Some(folder),
            None,
            format!("folder not listed in the metadata: extracted as a {} with id `{id}`", kind.as_str()),
        ));
        work.push(Pending {
            id: id.clone(),
            conversation: Ok(Box::new(bare_conversation(
                id,
                kind,
                Some(folder.clone()),
                None,
                Some(folder.clone()),
            ))),
            folder: None,
            days: std::mem::take(days),
        });
    }
    // Conversations in slackdump's dump format: each file is spooled as a day file first.
    for (seq, &entry) in layout.dumps.iter().enumerate() {
        let path = spool_dir.join(format!("dump-{seq}.json"));
        let Some(header) = spool_dump(&run, entry, &path, &mut warnings)? else { continue };
        let rel = run.rel(entry);
        let from_name = rel.strip_suffix(".json").unwrap_or(&rel).to_owned();
        let mut id = header.channel_id.clone().unwrap_or(from_name);
        let mut days = EntryRuns::default();
        days.push(entry);
        run.dump_days.insert(entry, path);
        if let Some((_, range)) = conversations.remove(&id) {
            // Listed in the metadata as well: that record, with these messages.
            work.push(Pending { id, conversation: Err(range), folder: None, days });
            continue;
        }
        if work.iter().any(|p| p.id == id) {
            let taken = |candidate: &str| work.iter().any(|p| p.id == candidate);
            let apart = (1u32..)
                .map(|n| if n == 1 { format!("{id}~dump") } else { format!("{id}~dump{n}") })
                .find(|candidate| !taken(candidate))
                .unwrap_or_default();
            warnings.push(Warning::new(
                WarningCode::DuplicateConversation,
                Some(&rel),
                None,
                format!(
                    "conversation {id} is already read from a folder or another file: extracted apart as `{apart}`"
                ),
            ));
            id = apart;
        }
        let kind = kind_of_id(&id, header.name.as_deref());
        work.push(Pending {
            id: id.clone(),
            conversation: Ok(Box::new(Conversation {
                extra: header.extra,
                ..bare_conversation(id, kind, header.name, Some(rel), None)
            })),
            folder: None,
            days,
        });
    }
    work.extend(conversations.into_iter().map(|(id, (_, range))| Pending {
        id,
        conversation: Err(range),
        folder: None,
        days: EntryRuns::default(),
    }));
    work.sort_by(|a, b| a.id.cmp(&b.id));
    let listed = listed_spool.reader().map_err(scratch)?;

    // File contents stored in the archive.
    let blob_results: Vec<(Option<Blob>, Vec<Warning>)> = layout
        .blobs
        .par_iter()
        .enumerate()
        .map(|(seq, (_, entry))| {
            let mut w = Vec::new();
            (store_blob(&run, *entry, seq, &mut w), w)
        })
        .collect();
    let _ = std::fs::remove_dir(out.join("blobs").join(".incoming"));
    let mut blob_by_file: HashMap<&str, &Blob> = HashMap::new();
    let mut blob_files: BTreeMap<&str, &Blob> = BTreeMap::new();
    for ((id, _), (blob, w)) in layout.blobs.iter().zip(&blob_results) {
        warnings.extend(w.iter().cloned());
        if let Some(b) = blob {
            blob_by_file.entry(id.as_str()).or_insert(b);
            blob_files.insert(b.path.as_str(), b);
        }
    }

    // Conversations, in parallel.
    progress.set_total(work.iter().map(|p| p.days.len() as u64).sum());
    // Largest conversations (by day files) first, pulled one at a time by whichever thread
    // is free, so that no big conversation starts last and leaves a core idle at the end.
    let mut queue: Vec<(usize, Pending)> = work.into_iter().enumerate().collect();
    queue.sort_by(|a, b| b.1.days.len().cmp(&a.1.days.len()).then(a.0.cmp(&b.0)));
    run.unstarted.store(queue.len(), Ordering::Relaxed);
    // Each conversation's output is folded in as it finishes, so what waits for the
    // final write is a few bytes per conversation (its unknown users are merged at once).
    let merged = std::sync::Mutex::new(Merged::new(queue.len()));
    queue.into_iter().par_bridge().for_each(|(i, p)| {
        run.running.fetch_add(1, Ordering::SeqCst);
        run.unstarted.fetch_sub(1, Ordering::SeqCst);
        let result = p.into_parts(&listed).and_then(|(c, days)| process_conversation(&run, i, c, &days));
        run.running.fetch_sub(1, Ordering::SeqCst);
        if let Ok(mut m) = merged.lock() {
            m.add(i, result);
        }
    });
    let merged = merged.into_inner().map_err(|_| ExtractError::Output {
        path: out.to_owned(),
        source: std::io::Error::other("a conversation panicked"),
    })?;
    if let Some((_, e)) = merged.error {
        return Err(e);
    }
    let Merged { mut counts, conversations, mut unknown, metadata_unknown, .. } = merged;
    let mut data_files: Vec<DataFile> = Vec::new();
    let mut spools: Vec<(usize, std::path::PathBuf, u64)> = Vec::new();
    let mut conv_records = Vec::with_capacity(conversations.len());
    // Warnings so far come before the conversations' own, then the ones found after.
    let warnings_before = warnings.len();
    let mut conversation_warnings = Vec::new();
    for (i, done) in conversations.into_iter().enumerate() {
        let Some(done) = done else { continue };
        data_files.extend(done.data_file);
        if let Some((path, n)) = done.file_spool {
            spools.push((i, path, n));
        }
        conversation_warnings.extend(done.warnings);
        conv_records.push(done.record);
    }
    // Users referenced by conversation metadata (after every message reference).
    for (id, (_, listed_in)) in metadata_unknown {
        unknown.entry(id).or_insert((0, (listed_in, 0)));
    }
    // Placeholders, and then every user in id order.
    let mut placeholders = Vec::new();
    for (id, (_, (file, index))) in unknown {
        if run.known_users.contains_key(&id) {
            continue;
        }
        warnings.push(Warning::new(
            WarningCode::PlaceholderUser,
            Some(&file),
            Some(index),
            format!("user {id} is referenced but not described in users.json: a placeholder was written"),
        ));
        placeholders.push(id);
    }
    let mut users: Vec<(&str, Option<SpoolRange>)> = run
        .known_users
        .iter()
        .map(|(id, &range)| (id.as_str(), Some(range)))
        .chain(placeholders.iter().map(|id| (id.as_str(), None)))
        .collect();
    users.sort_unstable_by(|a, b| a.0.cmp(b.0));
    // Files: distinct ids, first occurrence in conversation order, with their blobs. Which
    // occurrence is the first of its id comes from the external sort of their keys: one bit
    // per occurrence in memory.
    let mut bit_base = vec![0u64; conv_records.len()];
    let mut total = 0u64;
    for (i, _, n) in &spools {
        bit_base[*i] = total;
        total += n;
    }
    let mut keep = vec![0u64; usize::try_from(total.div_ceil(64)).unwrap_or(usize::MAX)];
    run.first_seen
        .finish(|pos| {
            let bit = bit_base[(pos >> 32) as usize] + (pos & 0xffff_ffff);
            keep[(bit / 64) as usize] |= 1 << (bit % 64);
        })
        .map_err(scratch)?;
    let mut w = DataFileWriter::create(out, "files.jsonl")?;
    let mut referenced_blobs: HashSet<&str> = HashSet::new();
    for (i, path, _) in &spools {
        let io = |e: std::io::Error| ExtractError::Output { path: path.clone(), source: e };
        let mut reader =
            std::io::BufReader::with_capacity(256 * 1024, std::fs::File::open(path).map_err(io)?);
        let mut line = Vec::new();
        let mut bit = bit_base[*i];
        loop {
            line.clear();
            if std::io::BufRead::read_until(&mut reader, b'\n', &mut line).map_err(io)? == 0 {
                break;
            }
            let first = keep[(bit / 64) as usize] & (1 << (bit % 64)) != 0;
            bit += 1;
            if !first {
                continue;
            }
            let bad = |e: serde_json::Error| io(std::io::Error::other(e));
            let record = line.strip_suffix(b"\n").unwrap_or(&line);
            let blob = if blob_by_file.is_empty() {
                None
            } else {
                let id = match spooled_file_id(record) {
                    Some(id) => id,
                    None => serde_json::from_slice::<FileRecord>(record).map_err(bad)?.id,
                };
                blob_by_file.get(id.as_str()).copied()
            };
            if let Some(b) = blob {
                let mut f: FileRecord = serde_json::from_slice(record).map_err(bad)?;
                f.state = FileState::Present;
                f.sha256 = Some(b.sha256.clone());
                f.blob = Some(b.path.clone());
                referenced_blobs.insert(b.path.as_str());
                w.write(&f)?;
            } else {
                // The spooled line is already the canonical record: copied, not re-encoded.
                if !line.ends_with(b"\n") {
                    line.push(b'\n');
                }
                w.write_lines(&line, 1)?;
            }
        }
    }
    counts.files = w.records();
    data_files.push(w.finish()?);
    for ((id, entry), (blob, _)) in layout.blobs.iter().zip(&blob_results) {
        if let Some(b) = blob {
            if !referenced_blobs.contains(b.path.as_str()) {
                warnings.push(Warning::new(
                    WarningCode::UnreferencedBlob,
                    Some(&run.rel(*entry)),
                    None,
                    format!("content of file {id} that no message references: stored as {}", b.path),
                ));
            }
        }
    }
    if users.is_empty() && conv_records.is_empty() {
        warnings.push(Warning::new(
            WarningCode::EmptyExport,
            None,
            None,
            "no users and no conversations found",
        ));
    }

    // Write the remaining files: users and conversations copied from their spools.
    let user_spool = user_spool.reader().map_err(scratch)?;
    let mut w = DataFileWriter::create(out, "users.jsonl")?;
    for (id, at) in users {
        match at {
            Some(range) => {
                user_spool.read(range, &mut line).map_err(scratch)?;
                w.write_lines(&line, 1)?;
            }
            None => w.write(&User { id: id.to_owned(), placeholder: true, ..Default::default() })?,
        }
    }
    counts.users = w.records();
    data_files.push(w.finish()?);
    let conversation_spool = run.conversations.reader().map_err(scratch)?;
    let mut w = DataFileWriter::create(out, "conversations.jsonl")?;
    for range in conv_records {
        // A record ends with its newline, in the last piece.
        let mut left = range.bytes();
        conversation_spool.read_pieces(
            range,
            &mut line,
            |piece| {
                left -= piece.len() as u64;
                w.write_partial(piece, u64::from(left == 0)).map_err(ExtractError::from)
            },
            scratch,
        )?;
    }
    counts.conversations = w.records();
    data_files.push(w.finish()?);
    drop(run);
    let mut summary = crate::WarningSummary::default();
    let mut w = DataFileWriter::create(out, "warnings.jsonl")?;
    let (before, after) = warnings.split_at(warnings_before);
    for warning in before {
        w.write(warning)?;
        summary.add(warning);
    }
    for spooled in conversation_warnings {
        spooled.copy_into(&mut w, &mut summary)?;
    }
    for warning in after {
        w.write(warning)?;
        summary.add(warning);
    }
    counts.warnings = w.records();
    data_files.push(w.finish()?);
    std::fs::remove_dir_all(&spool_dir).map_err(scratch)?;
    for b in blob_files.values() {
        data_files.push(DataFile {
            path: b.path.clone(),
            records: 1,
            bytes: b.bytes,
            sha256: b.sha256.clone(),
        });
    }
    counts.blobs = blob_files.len() as u64;
    data_files.sort_by(|a, b| a.path.cmp(&b.path));

    let mut layouts = vec!["standard".to_owned()];
    if business {
        layouts.push("business".into());
    }
    if layout.slackdump {
        layouts.push("slackdump".into());
    }
    if !layout.dumps.is_empty() {
        layouts.push("slackdump_dump".into());
    }
    let name = source_name;
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        tool: Tool { name: "chatport".into(), version: opts.tool_version.clone() },
        source: Source { kind: "slack".into(), layouts, name, sha256: String::new() },
        counts,
        files: data_files,
    };
    Ok((manifest, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_looked_for_within_the_look_back() {
        let mut recent = RecentTs::default();
        let third = LOOKBACK_BYTES / 3;
        // Chunk 0: 1, 2, 2 (a duplicate within the chunk).
        assert_eq!([1, 2, 2].map(|ts| recent.is_duplicate(ts)), [false, false, true]);
        recent.end_chunk(third);
        // Chunks 1 and 2 still see chunk 0.
        assert!(recent.is_duplicate(1));
        recent.end_chunk(third);
        assert!(recent.is_duplicate(2));
        recent.end_chunk(third);
        // Chunk 3: three chunks of a third still fit, so chunk 0 is looked back on too.
        assert_eq!([1, 2, 3].map(|ts| recent.is_duplicate(ts)), [true, true, false]);
        // A chunk larger than the look-back: it alone is looked back on, the chunks before
        // leave (and their `ts` with them, unless seen again since).
        recent.end_chunk(LOOKBACK_BYTES + 1);
        assert_eq!(recent.chunks.len(), 1);
        assert!(recent.is_duplicate(3));
        recent.end_chunk(0);
        assert_eq!(recent.chunks.len(), 1);
        assert_eq!([1, 2, 3].map(|ts| recent.is_duplicate(ts)), [false, false, true]);
    }

    #[test]
    fn day_file_names() {
        assert!(is_day_file("2020-01-31.json"));
        assert!(!is_day_file("2020-1-31.json"));
        assert!(!is_day_file("canvas.json"));
        assert!(!is_day_file("2020-01-31.jsonx"));
    }

    /// The day-file path before the fast path: every element parsed into a `Value`,
    /// converted, then written by serde_json.
    fn reference_lines(text: &str, strip: bool) -> (Vec<u8>, Vec<Warning>, u64) {
        let mut lines = Vec::new();
        let mut warnings = Vec::new();
        let r = dayfile::for_each_element(text, |index, value| {
            let mut ctx = Ctx { file: "f", index, warnings: &mut warnings };
            if let Some(c) = records::message(&mut ctx, "C1", value, strip) {
                serde_json::to_writer(&mut lines, &c.message).unwrap();
                lines.push(b'\n');
            }
        });
        let read = match r {
            DayParse::Complete => u64::MAX,
            DayParse::Broken { read, .. } => read,
        };
        (lines, warnings, read)
    }

    fn fast_lines(text: &str, strip: bool) -> (Vec<u8>, Vec<Warning>, u64) {
        let mut lines = Vec::new();
        let mut warnings = Vec::new();
        let r = dayfile::for_each_message(text, strip, |index, parsed| {
            let mut ctx = Ctx { file: "f", index, warnings: &mut warnings };
            let Some(fields) = parsed.fields.take() else {
                records::not_an_object(&mut ctx);
                return;
            };
            if let Some(mut c) = records::message_fields(&mut ctx, "C1", fields, strip) {
                write_message(&mut lines, &mut c.message, parsed).unwrap();
                lines.push(b'\n');
            }
        });
        let read = match r {
            DayParse::Complete => u64::MAX,
            DayParse::Broken { read, .. } => read,
        };
        (lines, warnings, read)
    }

    fn assert_same(name: &str, text: &str) {
        for strip in [false, true] {
            let (a, wa, ra) = reference_lines(text, strip);
            let (b, wb, rb) = fast_lines(text, strip);
            assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b), "{name} strip={strip}");
            assert_eq!(wa, wb, "{name} strip={strip}");
            assert_eq!(ra, rb, "{name} strip={strip}");
        }
    }

    #[test]
    fn fast_path_writes_the_same_bytes_on_every_fixture() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
        let mut stack = vec![root];
        let mut seen = 0;
        while let Some(dir) = stack.pop() {
            for item in std::fs::read_dir(&dir).unwrap() {
                let path = item.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "json") {
                    let bytes = std::fs::read(&path).unwrap();
                    let text = String::from_utf8_lossy(&bytes);
                    assert_same(&path.display().to_string(), &text);
                    seen += 1;
                }
            }
        }
        assert!(seen > 100, "fixtures not found: {seen}");
    }

    #[test]
    fn fast_path_writes_the_same_bytes_on_odd_records() {
        let cases = [
            r#"[{"ts":"1.000001","text":"a","zeta":1,"alpha":{"b":[1,{"y":2,"x":"\u00e9"}],"a":null},"alpha":"again"}]"#,
            r#"[{"ts":"1.5","user":7,"thread_ts":"nope","reactions":[{"name":"x","users":["U1",3],"odd":1},5],"files":[{"name":"noid"},{"id":"F1","url_private":"https://f/x?t=xoxe-1","pub_secret":"p","extra":{"u":"https://g/?token=xoxb-2"}}],"file":"str","files_without_id":"input","reactions_unparsed":"input","extra":"x","z":"https://h/?t=xoxp-3&k=1"}]"#,
            r#"[1,"two",null,[3],{"ts":2.5,"subtype":"bot_message","username":"b","icons":{"emoji":":x:"},"app_id":"A1"},{"no":"ts"}]"#,
            r#"[{"ts":"3.3","subtype":"file_comment","comment":{"user":"U9"},"type":"message","reply_users":["U1","U2"],"edited":{"user":"U3","ts":"4.4","more":true},"pub_secret":"zz"}]"#,
            r#"[{"ts":"1.1","text":"x"},{"ts":"1.2","bad":[1,2"#,
            r#"[{"ts":"1.1"}] trailing"#,
            r#"{"not":"an array"}"#,
            r#"[]"#,
            r#"[{"ts":"1.1","blocks":null,"attachments":null},{"ts":"1.2","blocks":[{"b":1,"a":{"z":1,"y":2}}],"blocks":[{"x":"second"}],"attachments":"str"}]"#,
            r#"[{"ts":"1.3","attachments":[{"pub_secret":"s","url":"https://x/?t=xoxe-1","fallback":"f"}],"blocks":{"k":"https://y/?token=xoxb-1"}},{"ts":"1.4","blocks":[],"attachments":{}}]"#,
            r#"[{"ts":"9.9","\u0041":"escaped key","A":"plain key","big":18446744073709551616,"neg":-12,"f":1.0e-7}]"#,
        ];
        for (i, text) in cases.iter().enumerate() {
            assert_same(&format!("case {i}"), text);
        }
    }

    /// A JSON tree whose objects keep their member order and may repeat keys, as input
    /// text can.
    #[derive(Debug, Clone)]
    enum Json {
        Null,
        Bool(bool),
        Int(i64),
        Float(f64),
        Str(String),
        Arr(Vec<Json>),
        Obj(Vec<(String, Json)>),
    }

    fn json_text(j: &Json, slash_escapes: bool, out: &mut String) {
        let string = |s: &str, out: &mut String| {
            let quoted = serde_json::to_string(s).unwrap();
            // `\/` is a valid escape serde_json never writes: the string is no longer borrowed.
            out.push_str(&if slash_escapes { quoted.replace('/', "\\/") } else { quoted });
        };
        match j {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(i) => out.push_str(&i.to_string()),
            Json::Float(f) => out.push_str(&serde_json::to_string(f).unwrap()),
            Json::Str(s) => string(s, out),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    json_text(item, slash_escapes, out);
                }
                out.push(']');
            }
            Json::Obj(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    string(k, out);
                    out.push(':');
                    json_text(v, slash_escapes, out);
                }
                out.push('}');
            }
        }
    }

    fn arb_json() -> impl proptest::strategy::Strategy<Value = Json> {
        use proptest::prelude::*;
        let key = prop_oneof![
            Just("text".to_owned()),
            Just("user".to_owned()),
            Just("blocks".to_owned()),
            Just("attachments".to_owned()),
            Just("reactions".to_owned()),
            Just("files".to_owned()),
            Just("pub_secret".to_owned()),
            Just("thread_ts".to_owned()),
            Just("a".to_owned()),
            "[a-z_é\\\"\u{1}]{0,6}",
        ];
        let leaf = prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::Bool),
            any::<i64>().prop_map(Json::Int),
            (-1e6f64..1e6).prop_map(Json::Float),
            prop_oneof![
                "[ -~]{0,20}",
                "https://x/[a-z]{0,5}\\?(t=xoxe-1|token=2|pub_secret=3|v=4)(&[a-z]=[a-z0-9]{1,3}){0,2}",
                "[\u{0}-\u{1f}\"\\\\/é中🚀a]{0,12}",
            ]
            .prop_map(Json::Str),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Json::Arr),
                proptest::collection::vec((key.clone(), inner), 0..6).prop_map(Json::Obj),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn fast_path_matches_the_value_path_on_any_message(
            members in proptest::collection::vec((arb_json_key(), arb_json()), 0..8),
            ts in proptest::prop_oneof![
                proptest::strategy::Just("\"1.000100\"".to_owned()),
                proptest::strategy::Just("2.5".to_owned()),
                proptest::strategy::Just("\"x\"".to_owned()),
            ],
            slash_escapes in proptest::bool::ANY,
        ) {
            let mut text = format!("[{{\"ts\":{ts}");
            for (k, v) in &members {
                text.push(',');
                json_text(&Json::Str(k.clone()), slash_escapes, &mut text);
                text.push(':');
                json_text(v, slash_escapes, &mut text);
            }
            text.push_str("}]");
            for strip in [false, true] {
                let (a, wa, ra) = reference_lines(&text, strip);
                let (b, wb, rb) = fast_lines(&text, strip);
                proptest::prop_assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b), "{}", text);
                proptest::prop_assert_eq!(&wa, &wb);
                proptest::prop_assert_eq!(ra, rb);
            }
        }
    }

    fn arb_json_key() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            Just("text".to_owned()),
            Just("blocks".to_owned()),
            Just("attachments".to_owned()),
            Just("reactions".to_owned()),
            Just("files".to_owned()),
            Just("edited".to_owned()),
            Just("subtype".to_owned()),
            Just("pub_secret".to_owned()),
            Just("user_profile".to_owned()),
            Just("zz".to_owned()),
            "[a-z_]{1,8}",
        ]
    }

    #[test]
    fn spooled_ids() {
        assert_eq!(spooled_file_id(br#"{"id":"F1","state":"remote_only"}"#).as_deref(), Some("F1"));
        assert_eq!(spooled_file_id(br#"{"id":"F\u00e9\"","name":"x"}"#).as_deref(), Some("Fé\""));
        assert_eq!(spooled_file_id(br#"{"name":"x","id":"F1"}"#), None);
        assert_eq!(spooled_file_id(br#"{"id":5}"#), None);
    }

    #[test]
    fn stems_are_safe() {
        assert_eq!(file_stem_for("C123"), "C123");
        assert_eq!(file_stem_for("общий"), "общий");
        assert!(file_stem_for("../x").starts_with("x-"));
        assert!(file_stem_for(".hidden").starts_with("x-"));
    }
}
