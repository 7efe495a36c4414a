//! Scratch storage that keeps the extractor's memory flat as exports grow.
//!
//! Owns: [`Spool`], an append-only scratch file of records addressed by `(offset, length)`
//! so that users and conversation records wait on disk, not in memory, until they are
//! written in their final order; [`LazyFile`], one conversation's scratch file (file
//! records, warnings, replies waiting for their root), created on its first write;
//! [`SpillFile`], one read at offsets (spilled thread roots, membership runs), removed
//! when done; [`ScratchDir`], which removes the spool however a run ends;
//! [`take_full_level`], the level rule the external sorts share; and
//! [`FirstSeen`], which finds the first occurrence of
//! each key among many keyed occurrences by sorting them in bounded runs on disk (an
//! external sort), so that deduplicating file records costs one bit per occurrence in
//! memory instead of a set of every distinct id.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A scratch folder removed (with what it holds) when this is dropped, so that a failed
/// run does not leave its scratch files behind; errors removing it are ignored.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// Takes charge of removing `path`.
    pub fn new(path: PathBuf) -> ScratchDir {
        ScratchDir(path)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A scratch file read and written at offsets (a conversation's spilled runs or blocks),
/// created on first use and removed when this is dropped.
pub struct SpillFile {
    path: PathBuf,
    file: Option<File>,
}

impl SpillFile {
    /// A file at `path`, not created yet.
    pub fn new(path: PathBuf) -> SpillFile {
        SpillFile { path, file: None }
    }

    /// Where the file is (or will be).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file, created (empty) if it was not yet.
    pub fn open(&mut self) -> io::Result<&File> {
        if self.file.is_none() {
            let file = File::options().read(true).write(true).create(true).truncate(true).open(&self.path)?;
            self.file = Some(file);
        }
        self.file.as_ref().ok_or_else(|| io::Error::other("spill file not open"))
    }

    /// The file, if it was created.
    pub fn file(&self) -> Option<&File> {
        self.file.as_ref()
    }
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// When the runs of the last level (`level_of` each) number [`MERGE_FAN`], takes them
/// off the end of `runs` to be merged into one run of the next level, which the caller
/// pushes: runs keep the order their items came in, and levels never increase towards
/// the end.
pub fn take_full_level<T>(runs: &mut Vec<T>, level_of: impl Fn(&T) -> u32) -> Option<(u32, Vec<T>)> {
    let level = level_of(runs.last()?);
    let same = runs.iter().rev().take_while(|r| level_of(r) == level).count();
    (same >= MERGE_FAN).then(|| (level, runs.split_off(runs.len() - same)))
}

/// A scratch file that is only created when something is first written to it: most
/// conversations never need theirs.
pub struct LazyFile {
    path: PathBuf,
    out: Option<BufWriter<File>>,
}

impl LazyFile {
    /// A file at `path`, not created yet.
    pub fn new(path: PathBuf) -> LazyFile {
        LazyFile { path, out: None }
    }

    /// Where the file is (or will be).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `bytes`, creating the file first if needed.
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.out {
            Some(out) => out.write_all(bytes),
            None => {
                let mut out = BufWriter::new(File::create(&self.path)?);
                out.write_all(bytes)?;
                self.out = Some(out);
                Ok(())
            }
        }
    }

    /// Flushes the file: its path if anything was written, `None` if it never existed.
    pub fn finish(self) -> io::Result<Option<PathBuf>> {
        match self.out {
            Some(mut out) => {
                out.flush()?;
                Ok(Some(self.path))
            }
            None => Ok(None),
        }
    }
}

/// Where a record sits in a [`Spool`]: byte offset and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolRange {
    offset: u64,
    len: u32,
}

impl SpoolRange {
    /// The record's length in bytes.
    pub fn bytes(&self) -> u64 {
        u64::from(self.len)
    }
}

/// An append-only scratch file of records, shared between threads.
pub struct Spool {
    path: PathBuf,
    writer: Mutex<(BufWriter<File>, u64)>,
}

impl Spool {
    /// Creates (truncates) the scratch file at `path`.
    pub fn create(path: &Path) -> io::Result<Spool> {
        let file =
            std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path)?;
        Ok(Spool {
            path: path.to_owned(),
            writer: Mutex::new((BufWriter::with_capacity(64 * 1024, file), 0)),
        })
    }

    /// The scratch file's path, for error messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record and says where it is.
    pub fn append(&self, bytes: &[u8]) -> io::Result<SpoolRange> {
        let len = u32::try_from(bytes.len())
            .map_err(|_| io::Error::other("a spooled record is larger than 4 GiB"))?;
        let mut guard = self.writer.lock().map_err(|_| io::Error::other("spool lock poisoned"))?;
        let (writer, end) = &mut *guard;
        writer.write_all(bytes)?;
        let range = SpoolRange { offset: *end, len };
        *end += u64::from(len);
        Ok(range)
    }

    /// Appends one record written by `write` (which may write it in pieces, holding the
    /// spool meanwhile) and says where it is, with what `write` returned. `io_error` turns
    /// the spool's own errors into `write`'s. If `write` fails, what it wrote stays in the
    /// spool, where no range points at it.
    pub fn append_with<T, E>(
        &self,
        write: impl FnOnce(&mut dyn Write) -> Result<T, E>,
        io_error: impl Fn(io::Error) -> E,
    ) -> Result<(T, SpoolRange), E> {
        /// Counts what goes through it.
        struct Counted<'w> {
            inner: &'w mut BufWriter<File>,
            bytes: u64,
        }
        impl Write for Counted<'_> {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                let n = self.inner.write(buf)?;
                self.bytes += n as u64;
                Ok(n)
            }
            fn flush(&mut self) -> io::Result<()> {
                self.inner.flush()
            }
        }
        let mut guard = self.writer.lock().map_err(|_| io_error(io::Error::other("spool lock poisoned")))?;
        let (writer, end) = &mut *guard;
        let mut counted = Counted { inner: writer, bytes: 0 };
        let value = write(&mut counted);
        let (offset, bytes) = (*end, counted.bytes);
        // Past what was written even on failure: later records' ranges stay right.
        *end += bytes;
        let value = value?;
        let len = u32::try_from(bytes)
            .map_err(|_| io_error(io::Error::other("a spooled record is larger than 4 GiB")))?;
        Ok((value, SpoolRange { offset, len }))
    }

    /// Flushes what was appended so far and opens the file for reading records back.
    pub fn reader(&self) -> io::Result<SpoolReader> {
        let mut guard = self.writer.lock().map_err(|_| io::Error::other("spool lock poisoned"))?;
        guard.0.flush()?;
        Ok(SpoolReader { path: self.path.clone(), file: guard.0.get_ref().try_clone()? })
    }
}

/// The most of a record [`SpoolReader::read_pieces`] holds at once.
pub const PIECE_BYTES: usize = 64 << 10;

/// A flushed [`Spool`], read back by range.
pub struct SpoolReader {
    path: PathBuf,
    file: File,
}

impl SpoolReader {
    /// The scratch file's path, for error messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the record at `range` into `buf` (replacing its contents).
    pub fn read(&self, range: SpoolRange, buf: &mut Vec<u8>) -> io::Result<()> {
        buf.clear();
        buf.resize(range.len as usize, 0);
        self.file.read_exact_at(buf, range.offset)
    }

    /// Reads the record at `range` in pieces of at most `PIECE_BYTES` through `buf`,
    /// giving each to `each` in order: a large record is never held whole.
    pub fn read_pieces<E>(
        &self,
        range: SpoolRange,
        buf: &mut Vec<u8>,
        mut each: impl FnMut(&[u8]) -> Result<(), E>,
        io_error: impl Fn(io::Error) -> E,
    ) -> Result<(), E> {
        let end = range.offset + u64::from(range.len);
        let mut at = range.offset;
        while at < end {
            let n = (end - at).min(PIECE_BYTES as u64) as usize;
            buf.clear();
            buf.resize(n, 0);
            self.file.read_exact_at(buf, at).map_err(&io_error)?;
            each(buf)?;
            at += n as u64;
        }
        Ok(())
    }
}

/// One keyed occurrence: a 128-bit key and the occurrence's position (unique).
type Item = (u128, u64);

/// Bytes of one item in a run file.
const ITEM_BYTES: usize = 24;

/// Finds the first occurrence (smallest position) of every key among occurrences added in
/// any order from any thread, holding at most `run_len` occurrences in memory: full
/// batches are sorted and written to run files in `dir`, merged at the end. Whenever
/// [`MERGE_FAN`] runs of one level accumulate they are merged into one run of the next
/// level (keeping each key's first position only), so at most `MERGE_FAN` runs per level
/// are open at once, however many occurrences there are.
pub struct FirstSeen {
    dir: PathBuf,
    run_len: usize,
    state: Mutex<RunState>,
}

/// Runs of one level merged into one run of the next.
pub const MERGE_FAN: usize = 64;

/// Each run file's read buffer while merging: a merge of [`MERGE_FAN`] runs holds 512 KiB
/// of them (at 32 KiB, the 34 runs of a 10M-message export made a 1 MiB spike).
const RUN_READ_BYTES: usize = 8 << 10;

#[derive(Default)]
struct RunState {
    buffer: Vec<Item>,
    /// `(level, path)`, levels never increasing towards the end.
    runs: Vec<(u32, PathBuf)>,
    /// Run files named so far.
    named: usize,
}

impl RunState {
    fn next_path(&mut self, dir: &Path) -> PathBuf {
        self.named += 1;
        dir.join(format!("keys-{}.run", self.named))
    }
}

impl FirstSeen {
    /// Occurrences kept in memory before a sorted run is written (32 bytes each in memory,
    /// 24 in a run file): 512 KiB. Runs are merged level by level, so a small run costs
    /// only more, smaller files.
    pub const DEFAULT_RUN: usize = 1 << 14;

    /// A new, empty finder whose run files go to `dir` (which must exist).
    pub fn new(dir: &Path, run_len: usize) -> FirstSeen {
        FirstSeen { dir: dir.to_owned(), run_len: run_len.max(1), state: Mutex::new(RunState::default()) }
    }

    /// Adds the occurrences in `items` (emptying it). Positions must be unique.
    pub fn add(&self, items: &mut Vec<Item>) -> io::Result<()> {
        let mut state = self.state.lock().map_err(|_| io::Error::other("first-seen lock poisoned"))?;
        for item in items.drain(..) {
            state.buffer.push(item);
            if state.buffer.len() >= self.run_len {
                let path = state.next_path(&self.dir);
                write_run(&path, &mut state.buffer)?;
                state.runs.push((0, path));
                self.compact(&mut state)?;
            }
        }
        Ok(())
    }

    /// Merges the last level's runs into one run of the next level while there are
    /// [`MERGE_FAN`] of them.
    fn compact(&self, state: &mut RunState) -> io::Result<()> {
        while let Some((level, group)) = take_full_level(&mut state.runs, |(level, _)| *level) {
            let group: Vec<PathBuf> = group.into_iter().map(|(_, p)| p).collect();
            let path = state.next_path(&self.dir);
            let mut w = BufWriter::with_capacity(64 * 1024, File::create(&path)?);
            merge_firsts(Vec::new(), &group, |item| write_item(&mut w, item))?;
            w.flush()?;
            for p in group {
                std::fs::remove_file(p)?;
            }
            state.runs.push((level + 1, path));
        }
        Ok(())
    }

    /// Calls `first` with the smallest position of every distinct key, in key order, and
    /// removes the run files. Takes every occurrence added so far: the finder is empty
    /// afterwards.
    pub fn finish(&self, mut first: impl FnMut(u64)) -> io::Result<()> {
        let state = std::mem::take(
            &mut *self.state.lock().map_err(|_| io::Error::other("first-seen lock poisoned"))?,
        );
        let RunState { mut buffer, runs, .. } = state;
        buffer.sort_unstable();
        let paths: Vec<PathBuf> = runs.into_iter().map(|(_, p)| p).collect();
        merge_firsts(buffer, &paths, |(_, pos)| {
            first(pos);
            Ok(())
        })?;
        for path in paths {
            std::fs::remove_file(path)?;
        }
        Ok(())
    }
}

/// Merges a sorted in-memory batch and sorted run files, giving `emit` every distinct key
/// once, with its smallest position, in key order.
fn merge_firsts(
    memory: Vec<Item>,
    runs: &[PathBuf],
    mut emit: impl FnMut(Item) -> io::Result<()>,
) -> io::Result<()> {
    // Source 0 is the in-memory batch; sources 1.. are the run files.
    let mut readers = Vec::with_capacity(runs.len());
    for path in runs {
        readers.push(BufReader::with_capacity(RUN_READ_BYTES, File::open(path)?));
    }
    let mut memory = memory.into_iter();
    let mut heap = BinaryHeap::new();
    if let Some(item) = memory.next() {
        heap.push(Reverse((item, 0usize)));
    }
    for (i, r) in readers.iter_mut().enumerate() {
        if let Some(item) = read_item(r)? {
            heap.push(Reverse((item, i + 1)));
        }
    }
    let mut last: Option<u128> = None;
    while let Some(Reverse(((key, pos), source))) = heap.pop() {
        if last != Some(key) {
            emit((key, pos))?;
            last = Some(key);
        }
        let next = if source == 0 { memory.next() } else { read_item(&mut readers[source - 1])? };
        if let Some(item) = next {
            heap.push(Reverse((item, source)));
        }
    }
    Ok(())
}

fn write_item(w: &mut impl Write, (key, pos): Item) -> io::Result<()> {
    w.write_all(&key.to_le_bytes())?;
    w.write_all(&pos.to_le_bytes())
}

fn write_run(path: &Path, buffer: &mut Vec<Item>) -> io::Result<()> {
    buffer.sort_unstable();
    let mut w = BufWriter::with_capacity(64 * 1024, File::create(path)?);
    for item in buffer.drain(..) {
        write_item(&mut w, item)?;
    }
    w.flush()
}

fn read_item(r: &mut impl Read) -> io::Result<Option<Item>> {
    let mut b = [0u8; ITEM_BYTES];
    match r.read_exact(&mut b) {
        Ok(()) => {
            let (key, pos) = b.split_at(16);
            let key = u128::from_le_bytes(key.try_into().map_err(io::Error::other)?);
            let pos = u64::from_le_bytes(pos.try_into().map_err(io::Error::other)?);
            Ok(Some((key, pos)))
        }
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn records_appended_in_pieces_and_read_back_in_pieces() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::create(&dir.path().join("s")).unwrap();
        let first = spool.append(b"one\n").unwrap();
        let big: Vec<u8> = (0..3 * PIECE_BYTES + 5).map(|i| b'a' + (i % 26) as u8).collect();
        let (n, second) = spool
            .append_with(
                |w| w.write_all(&big[..10]).and_then(|()| w.write_all(&big[10..])).map(|()| 7),
                |e| e,
            )
            .unwrap();
        assert_eq!(n, 7);
        // A failed record leaves its bytes, and the next record's range is still right.
        let failed =
            spool.append_with(|w| w.write_all(b"partial").and(Err::<(), _>(io::Error::other("x"))), |e| e);
        assert!(failed.is_err());
        let third = spool.append(b"three\n").unwrap();
        let reader = spool.reader().unwrap();
        let mut buf = Vec::new();
        for (range, want) in [(first, &b"one\n"[..]), (second, &big[..]), (third, &b"three\n"[..])] {
            let mut got = Vec::new();
            let mut pieces = 0;
            reader
                .read_pieces(
                    range,
                    &mut buf,
                    |p| {
                        assert!(p.len() <= PIECE_BYTES);
                        pieces += 1;
                        got.extend_from_slice(p);
                        Ok::<(), io::Error>(())
                    },
                    |e| e,
                )
                .unwrap();
            assert_eq!(got, want);
            assert_eq!(pieces, want.len().div_ceil(PIECE_BYTES));
            assert_eq!(range.bytes(), want.len() as u64);
        }
    }

    /// The first position of each key, computed the obvious way.
    fn reference(items: &[Item]) -> Vec<u64> {
        let mut first: BTreeMap<u128, u64> = BTreeMap::new();
        for &(k, p) in items {
            let e = first.entry(k).or_insert(p);
            *e = (*e).min(p);
        }
        first.into_values().collect()
    }

    fn run_first_seen(items: &[Item], run_len: usize, batch: usize) -> Vec<u64> {
        let dir = tempfile::tempdir().unwrap();
        let fs = FirstSeen::new(dir.path(), run_len);
        for chunk in items.chunks(batch) {
            fs.add(&mut chunk.to_vec()).unwrap();
        }
        let mut out = Vec::new();
        fs.finish(|p| out.push(p)).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "run files are removed");
        out
    }

    #[test]
    fn first_positions_match_a_map_across_run_sizes() {
        // Keys repeat with a period; positions arrive out of order.
        let items: Vec<Item> =
            (0..5000u64).map(|i| (u128::from((i * 7919) % 613), (i * 2_654_435_761) % 1_000_003)).collect();
        let expected = reference(&items);
        assert_eq!(expected.len(), 613);
        for run_len in [1, 2, 7, 100, 4999, 5000, 100_000] {
            for batch in [1, 13, 5000] {
                assert_eq!(run_first_seen(&items, run_len, batch), expected, "run {run_len} batch {batch}");
            }
        }
    }

    #[test]
    fn runs_are_merged_level_by_level() {
        let dir = tempfile::tempdir().unwrap();
        let fs = FirstSeen::new(dir.path(), 1);
        let items: Vec<Item> = (0..5000u64).map(|i| (u128::from(i % 97), 10_000 - i)).collect();
        let mut most = 0;
        for chunk in items.chunks(7) {
            fs.add(&mut chunk.to_vec()).unwrap();
            most = most.max(std::fs::read_dir(dir.path()).unwrap().count());
        }
        // 5000 one-item runs: 78 of level 1 were merged into one of level 2 on the way.
        assert!(most <= 3 * MERGE_FAN, "{most} run files at once");
        let mut out = Vec::new();
        fs.finish(|p| out.push(p)).unwrap();
        assert_eq!(out, reference(&items));
    }

    #[test]
    fn empty_and_single() {
        assert!(run_first_seen(&[], 4, 4).is_empty());
        assert_eq!(run_first_seen(&[(u128::MAX, 9)], 1, 1), vec![9]);
    }

    #[test]
    fn spool_ranges_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::create(&dir.path().join("s")).unwrap();
        let a = spool.append(b"first\n").unwrap();
        let b = spool.append(b"").unwrap();
        let c = spool.append("dritte Zeile ✓\n".as_bytes()).unwrap();
        let r = spool.reader().unwrap();
        let mut buf = b"junk".to_vec();
        r.read(c, &mut buf).unwrap();
        assert_eq!(buf, "dritte Zeile ✓\n".as_bytes());
        r.read(a, &mut buf).unwrap();
        assert_eq!(buf, b"first\n");
        r.read(b, &mut buf).unwrap();
        assert!(buf.is_empty());
    }
}
