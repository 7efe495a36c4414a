//! One conversation's join/leave events, held in bounded memory while its day files stream
//! by, and turned into membership intervals (canonical JSON) when the conversation ends.
//!
//! An event costs 16 bytes: user ids are interned, so a channel where thousands of people
//! came and went does not hold a pair of strings per event. The intervals are written per
//! user in id order, so the events must be sorted by user and time: at most `RUN_EVENTS`
//! wait in memory, and each full batch is sorted and appended to a spill file as a run
//! (an external sort). The runs are merged while the intervals are written, straight to
//! their destination; runs of one level are merged into one of the next whenever
//! `MERGE_FAN` accumulate, so merging reads at most that many per level at once.

use crate::spool::{take_full_level, SpillFile};
use crate::ExtractError;
use chatport_model::ts::{cmp_parts, parse_micros};
use chatport_model::{Membership, SlackTs};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fs::File;
use std::hash::BuildHasher;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Events held in memory before a sorted run is spilled (128 KiB).
const RUN_EVENTS: usize = 8 << 10;
/// Bytes of an event in the spill file.
const EVENT_BYTES: usize = 16;
/// Events read from a run at a time while merging (4 KiB).
const READ_EVENTS: usize = 256;

/// One join or leave: its `ts` (as microseconds when the text is the canonical
/// `<secs>.<6 digits>` form of them, else as a place in the list of other texts), and who.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Event {
    ts: i64,
    user: u32,
    /// `ts` is a place in [`MembershipEvents::odd`], not microseconds.
    odd: bool,
    join: bool,
}

impl Event {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.ts.to_le_bytes());
        out.extend_from_slice(&self.user.to_le_bytes());
        out.extend_from_slice(&[u8::from(self.odd) | u8::from(self.join) << 1, 0, 0, 0]);
    }

    fn decode(b: &[u8]) -> Event {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[..8]);
        let mut user = [0u8; 4];
        user.copy_from_slice(&b[8..12]);
        Event {
            ts: i64::from_le_bytes(ts),
            user: u32::from_le_bytes(user),
            odd: b[12] & 1 != 0,
            join: b[12] & 2 != 0,
        }
    }
}

/// A sorted run in the spill file: its level (how many merges made it) and its events.
#[derive(Clone, Copy, Debug)]
struct Run {
    level: u32,
    start: u64,
    len: u64,
}

/// The join/leave events of one conversation, in the order they were read. `'u` is the
/// life of the export's user ids, which interned ids borrow from.
pub struct MembershipEvents<'u> {
    /// Interned user ids, by their index (borrowed from the export's users when listed
    /// there), and each one's index by the hash of the id.
    users: Vec<Cow<'u, str>>,
    index: hashbrown::HashTable<u32>,
    hasher: std::hash::RandomState,
    /// The `ts` texts that are not in canonical form (rare: they stay in memory).
    odd: Vec<String>,
    /// Events not spilled yet, in the order read.
    events: Vec<Event>,
    /// The spill file, created on the first spilled run.
    spill: SpillFile,
    /// Events in the file (merged runs leave their inputs' space behind).
    file_len: u64,
    /// Unmerged runs in the order their events were read; levels never increase
    /// towards the end.
    runs: Vec<Run>,
    run_events: usize,
    total: u64,
}

/// The canonical text of a `ts` of `micros` microseconds.
fn canonical(micros: i64) -> String {
    format!("{}.{:06}", micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000))
}

/// What events are compared by: user id, then time; and how to show their `ts`.
struct Order<'a> {
    names: Vec<&'a str>,
    odd: &'a [String],
}

impl Order<'_> {
    fn text(&self, e: &Event) -> Cow<'_, str> {
        if e.odd {
            Cow::Borrowed(self.odd.get(e.ts as usize).map_or("", String::as_str))
        } else {
            Cow::Owned(canonical(e.ts))
        }
    }

    fn micros(&self, e: &Event) -> Option<i64> {
        if e.odd {
            self.odd.get(e.ts as usize).and_then(|t| parse_micros(t))
        } else {
            Some(e.ts)
        }
    }

    fn name(&self, e: &Event) -> &str {
        self.names.get(e.user as usize).copied().unwrap_or("")
    }

    fn cmp(&self, a: &Event, b: &Event) -> Ordering {
        self.name(a)
            .cmp(self.name(b))
            .then_with(|| cmp_parts(self.micros(a), || self.text(a), self.micros(b), || self.text(b)))
    }
}

/// Where a merge reads from: a run of the spill file, read a block at a time, or the
/// sorted events still in memory.
struct Cursor<'e> {
    block: Vec<Event>,
    at: usize,
    /// The run's events not read into `block` yet: (next, end).
    left: Option<(u64, u64)>,
    memory: Option<std::slice::Iter<'e, Event>>,
}

impl Cursor<'_> {
    fn head(&self) -> Option<&Event> {
        self.block.get(self.at)
    }

    /// Takes the head and reads the next block once the current one is used up.
    fn take(&mut self, file: Option<&File>, bytes: &mut Vec<u8>) -> io::Result<Option<Event>> {
        let head = self.head().copied();
        self.at += 1;
        self.fill(file, bytes)?;
        Ok(head)
    }

    /// Reads the next block if the current one is used up.
    fn fill(&mut self, file: Option<&File>, bytes: &mut Vec<u8>) -> io::Result<()> {
        if self.at < self.block.len() {
            return Ok(());
        }
        self.block.clear();
        self.at = 0;
        if let Some(memory) = &mut self.memory {
            self.block.extend(memory.take(READ_EVENTS));
            return Ok(());
        }
        let Some((next, end)) = self.left.filter(|(next, end)| next < end) else { return Ok(()) };
        let file = file.ok_or_else(|| io::Error::other("a spilled run without its spill file"))?;
        let n = (end - next).min(READ_EVENTS as u64);
        bytes.resize(n as usize * EVENT_BYTES, 0);
        file.read_exact_at(bytes, next * EVENT_BYTES as u64)?;
        self.block.extend(bytes.chunks_exact(EVENT_BYTES).map(Event::decode));
        self.left = Some((next + n, end));
        Ok(())
    }
}

impl<'u> MembershipEvents<'u> {
    /// Empty; spilled runs go to `path` (created only if needed, removed on drop).
    pub fn new(path: PathBuf) -> Self {
        Self::with_run(path, RUN_EVENTS)
    }

    fn with_run(path: PathBuf, run_events: usize) -> Self {
        MembershipEvents {
            users: Vec::new(),
            index: hashbrown::HashTable::new(),
            hasher: std::hash::RandomState::new(),
            odd: Vec::new(),
            events: Vec::new(),
            spill: SpillFile::new(path),
            file_len: 0,
            runs: Vec::new(),
            run_events: run_events.max(1),
            total: 0,
        }
    }

    fn error(&self, e: io::Error) -> ExtractError {
        ExtractError::Output { path: self.spill.path().to_owned(), source: e }
    }

    /// Records that `user` joined (`join`) or left at `ts`. `known` holds the export's user
    /// ids; a listed id is borrowed from it rather than copied.
    pub fn push<V>(
        &mut self,
        ts: &str,
        user: &str,
        join: bool,
        known: &'u HashMap<String, V>,
    ) -> Result<(), ExtractError> {
        let too_many = || io::Error::other("more than 2^32 users or odd timestamps in one conversation");
        let hash = self.hasher.hash_one(user);
        let user = match self.index.find(hash, |&i| self.users[i as usize] == user) {
            Some(&i) => i,
            None => {
                let i = u32::try_from(self.users.len()).map_err(|_| self.error(too_many()))?;
                self.users.push(match known.get_key_value(user) {
                    Some((listed, _)) => Cow::Borrowed(listed.as_str()),
                    None => Cow::Owned(user.to_owned()),
                });
                let (users, hasher) = (&self.users, &self.hasher);
                self.index.insert_unique(hash, i, |&j| hasher.hash_one(users[j as usize].as_ref()));
                i
            }
        };
        let event = match parse_micros(ts).filter(|&m| m >= 0 && canonical(m) == ts) {
            Some(micros) => Event { ts: micros, user, odd: false, join },
            None => {
                let at = i64::try_from(self.odd.len()).map_err(|_| self.error(too_many()))?;
                self.odd.push(ts.to_owned());
                Event { ts: at, user, odd: true, join }
            }
        };
        self.events.push(event);
        self.total += 1;
        if self.events.len() >= self.run_events {
            self.spill().map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    /// Events recorded so far.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether no event was recorded.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    fn order(&self) -> Order<'_> {
        Order { names: self.users.iter().map(Cow::as_ref).collect(), odd: &self.odd }
    }

    /// Sorts the events in memory (stably: one user's events at one `ts` keep the order
    /// they were read in) and appends them to the spill file as a run.
    fn spill(&mut self) -> io::Result<()> {
        let mut events = std::mem::take(&mut self.events);
        let order = self.order();
        events.sort_by(|a, b| order.cmp(a, b));
        drop(order);
        let mut bytes = Vec::with_capacity(events.len() * EVENT_BYTES);
        for e in &events {
            e.encode(&mut bytes);
        }
        let start = self.file_len;
        self.spill.open()?.write_all_at(&bytes, start * EVENT_BYTES as u64)?;
        self.file_len += events.len() as u64;
        self.runs.push(Run { level: 0, start, len: events.len() as u64 });
        events.clear();
        self.events = events;
        self.compact()
    }

    /// Merges the last level's runs into one run of the next level while there are
    /// `MERGE_FAN` of them.
    fn compact(&mut self) -> io::Result<()> {
        while let Some((level, group)) = take_full_level(&mut self.runs, |r| r.level) {
            let start = self.file_len;
            let mut at = start;
            let mut bytes = Vec::with_capacity(READ_EVENTS * EVENT_BYTES);
            let file = self.spill.file().ok_or_else(|| io::Error::other("runs without a spill file"))?;
            self.merge(&group, &[], |e| {
                e.encode(&mut bytes);
                if bytes.len() >= READ_EVENTS * EVENT_BYTES {
                    file.write_all_at(&bytes, at * EVENT_BYTES as u64)?;
                    at += (bytes.len() / EVENT_BYTES) as u64;
                    bytes.clear();
                }
                Ok(())
            })?;
            file.write_all_at(&bytes, at * EVENT_BYTES as u64)?;
            at += (bytes.len() / EVENT_BYTES) as u64;
            self.file_len = at;
            self.runs.push(Run { level: level + 1, start, len: at - start });
        }
        Ok(())
    }

    /// Gives `emit` the events of `runs` and then of `memory` (sorted) in order; of equal
    /// events, the one read first (an earlier run) comes first.
    fn merge(
        &self,
        runs: &[Run],
        memory: &[Event],
        mut emit: impl FnMut(Event) -> io::Result<()>,
    ) -> io::Result<()> {
        let order = self.order();
        let file = self.spill.file();
        let mut bytes = Vec::new();
        let mut cursors: Vec<Cursor<'_>> = runs
            .iter()
            .map(|r| Cursor {
                block: Vec::new(),
                at: 0,
                left: Some((r.start, r.start + r.len)),
                memory: None,
            })
            .chain(std::iter::once(Cursor {
                block: Vec::new(),
                at: 0,
                left: None,
                memory: Some(memory.iter()),
            }))
            .collect();
        for c in &mut cursors {
            c.fill(file, &mut bytes)?;
        }
        loop {
            let mut best: Option<usize> = None;
            for (i, c) in cursors.iter().enumerate() {
                let Some(e) = c.head() else { continue };
                let better = match best.and_then(|b| cursors[b].head()) {
                    Some(b) => order.cmp(e, b) == Ordering::Less,
                    None => true,
                };
                if better {
                    best = Some(i);
                }
            }
            let Some(i) = best else { return Ok(()) };
            if let Some(e) = cursors[i].take(file, &mut bytes)? {
                emit(e)?;
            }
        }
    }

    /// Writes the membership intervals as a JSON array to `out` and returns how many there
    /// are: per user (in id order) in time order, a join opening an interval and a leave
    /// closing it. A second join while a member is ignored (the first stands); a leave
    /// with no open interval is one of a member since before the export's first message.
    /// Events with one user and `ts` keep the order they were read in. Errors reading the
    /// spill file name it; errors writing to `out` name `out_path`.
    pub fn write_intervals(mut self, out: &mut dyn Write, out_path: &Path) -> Result<u64, ExtractError> {
        let mut events = std::mem::take(&mut self.events);
        let order = self.order();
        events.sort_by(|a, b| order.cmp(a, b));
        let out_error = |e: io::Error| ExtractError::Output { path: out_path.to_owned(), source: e };
        let mut written = 0u64;
        let mut line = Vec::new();
        // Whether an error came from `out`, not from the spill file: to name the right file.
        let mut out_failed = false;
        let mut emit = |m: &Membership| -> io::Result<()> {
            line.clear();
            line.push(if written == 0 { b'[' } else { b',' });
            written += 1;
            crate::jsonout::to_vec_into(&mut line, m).map_err(io::Error::other)?;
            out.write_all(&line).inspect_err(|_| out_failed = true)
        };
        let mut open: Option<Membership> = None;
        let mut current: Option<u32> = None;
        let merged = self.merge(&self.runs, &events, |e| {
            if current != Some(e.user) {
                current = Some(e.user);
                if let Some(m) = open.take() {
                    emit(&m)?;
                }
            }
            let user = order.name(&e);
            let at = SlackTs::new(order.text(&e));
            match (e.join, open.take()) {
                (true, None) => {
                    open = Some(Membership { user: user.to_owned(), joined: Some(at), left: None })
                }
                (true, Some(m)) => open = Some(m),
                (false, Some(mut m)) => {
                    m.left = Some(at);
                    emit(&m)?;
                }
                (false, None) => emit(&Membership { user: user.to_owned(), joined: None, left: Some(at) })?,
            }
            Ok(())
        });
        let tail = merged.and_then(|()| {
            if let Some(m) = open.take() {
                emit(&m)?;
            }
            Ok(())
        });
        if let Err(e) = tail {
            return Err(if out_failed { out_error(e) } else { self.error(e) });
        }
        out.write_all(if written == 0 { b"[]" } else { b"]" }).map_err(out_error)?;
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::MERGE_FAN;
    use proptest::prelude::*;

    /// The intervals as a plain list, the way they were built before events were held
    /// compactly: the reference the streaming writer must match byte for byte.
    fn reference(mut events: Vec<(SlackTs, String, bool)>) -> Vec<Membership> {
        events.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        let mut out: Vec<Membership> = Vec::new();
        let mut open: Option<usize> = None;
        let mut current_user: Option<String> = None;
        for (ts, user, join) in events {
            if current_user.as_ref() != Some(&user) {
                current_user = Some(user.clone());
                open = None;
            }
            match (join, open) {
                (true, None) => {
                    out.push(Membership { user, joined: Some(ts), left: None });
                    open = Some(out.len() - 1);
                }
                (true, Some(_)) => {}
                (false, Some(i)) => {
                    out[i].left = Some(ts);
                    open = None;
                }
                (false, None) => out.push(Membership { user, joined: None, left: Some(ts) }),
            }
        }
        out
    }

    /// The intervals written from `events`, spilling a run every `run` events.
    fn written_with(events: &[(SlackTs, String, bool)], run: usize) -> (Vec<u8>, u64) {
        let known: HashMap<String, ()> = [("U1".to_owned(), ()), ("W3".to_owned(), ())].into();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("members.bin");
        let mut compact = MembershipEvents::with_run(path.clone(), run);
        for (ts, user, join) in events {
            compact.push(ts.as_str(), user, *join, &known).unwrap();
        }
        assert_eq!(compact.len(), events.len() as u64);
        assert_eq!(path.exists(), events.len() >= run, "a spill file only once a run is full");
        let mut out = Vec::new();
        let n = compact.write_intervals(&mut out, Path::new("out")).unwrap();
        assert!(!path.exists(), "the spill file is removed");
        (out, n)
    }

    fn written(events: &[(SlackTs, String, bool)]) -> (Vec<u8>, u64) {
        written_with(events, RUN_EVENTS)
    }

    #[test]
    fn intervals_from_events() {
        let e = |ts: &str, u: &str, j: bool| (SlackTs::new(ts), u.to_owned(), j);
        let events = [e("5", "U1", false), e("1", "U1", true), e("9", "U1", true), e("3", "U2", false)];
        let (json, n) = written(&events);
        assert_eq!(n, 3);
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"[{"user":"U1","joined":"1","left":"5"},{"user":"U1","joined":"9"},{"user":"U2","left":"3"}]"#
        );
        assert_eq!(written(&[]), (b"[]".to_vec(), 0));
    }

    /// Many users joining and leaving in one conversation, spilled in runs of 3 events:
    /// enough runs that they are merged level by level, twice over.
    #[test]
    fn spilled_and_merged_runs_give_the_same_intervals() {
        let mut events = Vec::new();
        for i in 0..(3 * MERGE_FAN * MERGE_FAN + 50) {
            let user = format!("U{}", (i * 7919) % 97);
            let ts = SlackTs::new(format!("{}.{:06}", 1_600_000_000 + (i * 31) % 1000, i % 3));
            events.push((ts, user, i % 3 != 1));
        }
        let want = reference(events.clone());
        let (json, n) = written_with(&events, 3);
        assert_eq!(n, want.len() as u64);
        assert_eq!(json, serde_json::to_vec(&want).unwrap());
        assert_eq!(written(&events), (json, n));
    }

    /// A writer that fails after a few bytes.
    struct Full(usize);

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("disk full"));
            }
            let n = buf.len().min(self.0);
            self.0 -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_names_the_destination_and_a_failed_read_the_spill_file() {
        let known: HashMap<String, ()> = HashMap::new();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("members.bin");
        fn fill<'k>(events: &mut MembershipEvents<'k>, known: &'k HashMap<String, ()>) {
            for i in 0..20 {
                events.push(&format!("{i}.000000"), "U1", i % 2 == 0, known).unwrap();
            }
        }
        let mut events = MembershipEvents::with_run(path.clone(), 4);
        fill(&mut events, &known);
        let err = events.write_intervals(&mut Full(10), Path::new("conversations.jsonl")).unwrap_err();
        assert!(
            matches!(&err, ExtractError::Output { path, .. } if path == Path::new("conversations.jsonl")),
            "{err:?}"
        );

        // The spill file cut short: reading its runs back fails.
        let mut events = MembershipEvents::with_run(path.clone(), 4);
        fill(&mut events, &known);
        File::options().write(true).open(&path).unwrap().set_len(0).unwrap();
        let err = events.write_intervals(&mut Vec::new(), Path::new("conversations.jsonl")).unwrap_err();
        assert!(matches!(&err, ExtractError::Output { path: p, .. } if *p == path), "{err:?}");
    }

    proptest! {
        #[test]
        fn streaming_intervals_match_the_list(
            events in proptest::collection::vec(
                (prop_oneof![
                    (0u64..20).prop_map(|s| s.to_string()),
                    (0u64..20, 0u32..3).prop_map(|(s, f)| format!("{s}.{f:06}")),
                    (0u64..3, 0u32..3).prop_map(|(s, f)| format!("{s}.{f:07}")),
                    Just("-1.000000".to_owned()),
                    Just("01.000000".to_owned()),
                    (0u64..20).prop_map(|s| format!("{s}.5")),
                    Just("not a ts".to_owned()),
                    Just("a\"quote".to_owned()),
                ],
                prop_oneof![Just("U1"), Just("U2"), Just("W3"), Just("U\u{e9}")],
                any::<bool>()),
                0..300,
            ),
            run in 1usize..6,
        ) {
            let events: Vec<(SlackTs, String, bool)> =
                events.into_iter().map(|(t, u, j)| (SlackTs::new(t), u.to_owned(), j)).collect();
            let want = reference(events.clone());
            let (json, n) = written_with(&events, run);
            prop_assert_eq!(n, want.len() as u64);
            prop_assert_eq!(json, serde_json::to_vec(&want).unwrap());
        }
    }
}
