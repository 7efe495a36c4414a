//! Reading an export, zipped or unpacked, as a flat list of entries with bounded reads.
//!
//! Owns: opening the zip without unpacking it (concurrent readers share one file handle
//! through positional reads), listing entries, refusing unsafe names, and bounding how
//! much one entry may inflate to. It never writes anything.

use crate::names::{NameSorter, SortedNames};
use crate::spool::ScratchDir;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Errors opening or reading an export.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The input path does not exist or cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The zip's central directory cannot be read (truncated or not a zip).
    #[error("{path}: not a readable zip archive: {detail}")]
    BadZip {
        /// The path.
        path: PathBuf,
        /// What the zip reader said.
        detail: String,
    },
}

/// Why one entry could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// The entry inflates beyond the bound.
    #[error("inflates to more than {limit} bytes")]
    TooLarge {
        /// The bound in bytes.
        limit: u64,
    },
    /// Corrupt data, bad CRC, truncated archive or an I/O error.
    #[error("{0}")]
    Read(String),
}

/// One entry of an export: a file, by its place in the sorted listing. Its name is
/// [`ExportSource::name`]; an export lists one entry per day file, so an entry is 4 bytes
/// and names are kept front-coded ([`crate::names`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Entry(u32);

/// Entries in the order they were pushed, held as runs of consecutive listing places: a
/// folder's day files sit next to each other in the sorted listing, so a folder costs one
/// run, not 4 bytes a day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryRuns(Vec<(u32, u32)>);

impl EntryRuns {
    /// Appends `entry`.
    pub fn push(&mut self, entry: Entry) {
        if let Some((first, n)) = self.0.last_mut() {
            if first.checked_add(*n) == Some(entry.0) && *n < u32::MAX {
                *n += 1;
                return;
            }
        }
        self.0.push((entry.0, 1));
    }

    /// How many entries were pushed.
    pub fn len(&self) -> usize {
        self.0.iter().map(|&(_, n)| n as usize).sum()
    }

    /// Whether none was pushed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries, in the order they were pushed.
    pub fn to_vec(&self) -> Vec<Entry> {
        self.0.iter().flat_map(|&(first, n)| (0..n).map(move |i| Entry(first + i))).collect()
    }
}

/// A file positioned independently of other clones of the same handle (`pread`), so
/// threads can read one zip at once without reopening it.
#[derive(Clone)]
struct SharedFile {
    file: Arc<File>,
    pos: u64,
    len: u64,
}

impl Read for SharedFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SharedFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let new = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match new {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(io::Error::new(io::ErrorKind::InvalidInput, "seek before start")),
        }
    }
}

/// Where each entry's directory record is, by listing place: 4 bytes an entry from the
/// lowest offset when the records span less than 4 GiB (any directory of fewer than
/// about 40 million entries), else 8.
enum RecordOffsets {
    Near { base: u64, rel: Vec<u32> },
    Far(Vec<u64>),
}

impl RecordOffsets {
    fn new(offsets: impl Iterator<Item = u64> + Clone) -> Self {
        let base = offsets.clone().min().unwrap_or(0);
        // Sized once: collecting into an `Option` would grow the vector by doubling.
        let mut rel = Vec::with_capacity(offsets.clone().count());
        for o in offsets.clone() {
            match u32::try_from(o - base) {
                Ok(r) => rel.push(r),
                Err(_) => return RecordOffsets::Far(offsets.collect()),
            }
        }
        RecordOffsets::Near { base, rel }
    }

    fn get(&self, place: usize) -> Option<u64> {
        match self {
            RecordOffsets::Near { base, rel } => rel.get(place).map(|&r| base + u64::from(r)),
            RecordOffsets::Far(all) => all.get(place).copied(),
        }
    }
}

enum Backing {
    /// A zip read through its directory ([`crate::zipdir`]), which stays on disk:
    /// `records` holds where each entry's directory record is.
    Zip {
        file: Arc<File>,
        len: u64,
        dir: crate::zipdir::Directory,
        records: RecordOffsets,
    },
    Dir(PathBuf),
}

/// An opened export.
pub struct ExportSource {
    path: PathBuf,
    backing: Backing,
    names: SortedNames,
    unsafe_names: Vec<String>,
    repeated_names: Vec<String>,
    notes: Vec<String>,
    /// A folder this reader created and must remove when done.
    _scratch: Option<ScratchDir>,
}

/// Whether a `/`-separated name is safe: relative, no `..`, no empty or `.` parts, no NUL
/// and no backslash (a Windows separator in a zip name).
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains('\\')
        && !name.contains('\0')
        && (name.len() < 2 || name.as_bytes()[1] != b':')
        && name.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
}

impl ExportSource {
    /// Opens a zip file or a folder. A zip whose central directory is missing (a
    /// truncated download) is recovered by scanning its local headers into `scratch`
    /// (removed again when the source is dropped); each entry is bounded by
    /// `entry_limit` bytes.
    pub fn open(path: &Path, scratch: &Path, entry_limit: u64) -> Result<Self, SourceError> {
        let meta =
            std::fs::metadata(path).map_err(|source| SourceError::Io { path: path.to_owned(), source })?;
        if meta.is_dir() {
            return Self::open_dir(path);
        }
        let file = File::open(path).map_err(|source| SourceError::Io { path: path.to_owned(), source })?;
        let file = Arc::new(file);
        let salvage = |file, why| {
            let shared = SharedFile { file, pos: 0, len: meta.len() };
            Self::salvage(path, shared, scratch, entry_limit, why)
        };
        let dir = match crate::zipdir::find_directory(&file, meta.len()) {
            Ok(d) => d,
            Err(why) => return salvage(file, why),
        };
        // Names are sorted in bounded batches, kept front-coded with each entry's
        // directory record offset ([`NameSorter`]).
        let mut sorter = NameSorter::default();
        let mut listed = 0u64;
        let mut unsafe_names = Vec::new();
        let walked = crate::zipdir::for_each_entry(&file, meta.len(), &dir, |record, raw, entry| {
            if raw.ends_with('/') {
                return;
            }
            // A link's data is the path it points to: refused like any unsafe name.
            if is_safe_name(&raw) && !entry.symlink {
                sorter.push(&raw, record);
                listed += 1;
            } else {
                unsafe_names.push(raw);
            }
        });
        if let Err(why) = walked {
            return salvage(file, why);
        }
        if u32::try_from(listed).is_err() {
            let why = format!("{listed} entries: more than a zip directory can list");
            return Err(SourceError::Io { path: path.to_owned(), source: io::Error::other(why) });
        }
        // Sorted by name; of two entries with one name, the first in the archive is kept.
        let sorted = sorter.finish();
        let records = RecordOffsets::new(sorted.numbers.iter().copied());
        let repeated_names = sorted.repeats.into_iter().map(|(name, _)| name).collect();
        Ok(ExportSource {
            path: path.to_owned(),
            backing: Backing::Zip { file, len: meta.len(), dir, records },
            names: sorted.names,
            unsafe_names,
            repeated_names,
            notes: Vec::new(),
            _scratch: None,
        })
    }

    /// Reads a zip front to back by its local headers, copying safe entries into
    /// `scratch`, and serves them from there.
    fn salvage(
        path: &Path,
        mut reader: SharedFile,
        scratch: &Path,
        entry_limit: u64,
        why: String,
    ) -> Result<Self, SourceError> {
        let io_err = |source| SourceError::Io { path: scratch.to_owned(), source };
        std::fs::create_dir_all(scratch).map_err(io_err)?;
        let guard = ScratchDir::new(scratch.to_owned());
        let mut unsafe_names = Vec::new();
        let mut repeated_names = Vec::new();
        let mut notes = Vec::new();
        let mut recovered = 0u64;
        let mut last_entry: Option<String> = None;
        let file_len = reader.len;
        loop {
            let header_at = reader.pos;
            match zip::read::read_zipfile_from_stream(&mut reader) {
                Ok(Some(mut entry)) => {
                    let name = entry.name().to_owned();
                    last_entry = Some(name.clone());
                    if name.ends_with('/') {
                        continue;
                    }
                    if !is_safe_name(&name) {
                        unsafe_names.push(name);
                        let _ = io::copy(&mut entry, &mut io::sink());
                        continue;
                    }
                    let dest = scratch.join(&name);
                    if dest.exists() {
                        // As with a readable directory: the first entry of a name is kept.
                        repeated_names.push(name);
                        let _ = io::copy(&mut entry, &mut io::sink());
                        continue;
                    }
                    if let Some(parent) = dest.parent() {
                        std::fs::create_dir_all(parent).map_err(io_err)?;
                    }
                    let mut out = File::create(&dest).map_err(io_err)?;
                    match bounded_copy(&mut entry, entry_limit, &mut out) {
                        Ok(_) => recovered += 1,
                        Err(e) => {
                            drop(out);
                            let _ = std::fs::remove_file(&dest);
                            notes.push(format!("entry {name} could not be recovered: {e}"));
                            break;
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let after = match &last_entry {
                        Some(name) => format!("after entry {name}"),
                        None => "before any entry".to_owned(),
                    };
                    notes.push(format!("scan stopped at byte {header_at} of {file_len} ({after}): {e}"));
                    break;
                }
            }
        }
        if recovered == 0 {
            return Err(SourceError::BadZip { path: path.to_owned(), detail: why });
        }
        notes.insert(
            0,
            format!("not a complete zip ({why}): {recovered} entries recovered by scanning local headers"),
        );
        let mut src = Self::open_dir(scratch)?;
        src.path = path.to_owned();
        src.unsafe_names.extend(unsafe_names);
        repeated_names.sort_unstable();
        src.repeated_names = repeated_names;
        src.notes = notes;
        src._scratch = Some(guard);
        Ok(src)
    }

    fn open_dir(root: &Path) -> Result<Self, SourceError> {
        let mut entries = Vec::new();
        let mut unsafe_names = Vec::new();
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            let dir = root.join(&rel);
            let read =
                std::fs::read_dir(&dir).map_err(|source| SourceError::Io { path: dir.clone(), source })?;
            for item in read {
                let item = item.map_err(|source| SourceError::Io { path: dir.clone(), source })?;
                let ty = item.file_type().map_err(|source| SourceError::Io { path: item.path(), source })?;
                let child = rel.join(item.file_name());
                let Some(name) = child.to_str().map(str::to_owned) else {
                    unsafe_names.push(child.to_string_lossy().into_owned());
                    continue;
                };
                if ty.is_dir() {
                    stack.push(child);
                } else if ty.is_file() {
                    entries.push(name);
                } else {
                    // Symlinks could point outside the export: never followed.
                    unsafe_names.push(name);
                }
            }
        }
        entries.sort();
        Ok(ExportSource {
            path: root.to_owned(),
            backing: Backing::Dir(root.to_owned()),
            names: SortedNames::new(entries.iter().map(String::as_str)),
            unsafe_names,
            repeated_names: Vec::new(),
            notes: Vec::new(),
            _scratch: None,
        })
    }

    /// The export's path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the export is a zip archive.
    pub fn is_zip(&self) -> bool {
        matches!(self.backing, Backing::Zip { .. })
    }

    /// Every readable entry, sorted by name.
    pub fn entries(&self) -> impl Iterator<Item = Entry> {
        (0..self.names.len() as u32).map(Entry)
    }

    /// Every readable entry with its name (`/`-separated, relative to the export), sorted
    /// by name.
    pub fn named_entries(&self) -> impl Iterator<Item = (Entry, String)> + '_ {
        self.entries().zip(self.names.iter())
    }

    /// An entry's `/`-separated path inside the export.
    pub fn name(&self, entry: Entry) -> String {
        self.names.get(entry.0 as usize).unwrap_or_default()
    }

    /// An entry's place and sizes in the zip, read again from its directory record.
    fn zip_entry(
        file: &File,
        len: u64,
        dir: &crate::zipdir::Directory,
        records: &RecordOffsets,
        entry: Entry,
    ) -> Result<crate::zipdir::ZipEntry, EntryError> {
        let record = records.get(entry.0 as usize).ok_or_else(|| EntryError::Read("no such entry".into()))?;
        crate::zipdir::entry_at(file, len, dir, record).map_err(EntryError::Read)
    }

    /// Entry names refused as unsafe (`..`, absolute, symlinks, not UTF-8).
    pub fn unsafe_names(&self) -> &[String] {
        &self.unsafe_names
    }

    /// Names of later entries with the name of an earlier one (a zip can hold both): each
    /// skipped, the first in the archive being the one read. In name order.
    pub fn repeated_names(&self) -> &[String] {
        &self.repeated_names
    }

    /// Problems met while opening (e.g. a truncated zip that was recovered).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The entry's inflated size as the export declares it (the zip directory, or the
    /// file's length in a folder), if known. A hint for planning reads, never trusted as
    /// a bound.
    pub fn declared_size(&self, entry: Entry) -> Option<u64> {
        match &self.backing {
            Backing::Zip { file, len, dir, records } => {
                Self::zip_entry(file, *len, dir, records, entry).ok().map(|e| e.size)
            }
            Backing::Dir(root) => std::fs::metadata(root.join(self.name(entry))).ok().map(|m| m.len()),
        }
    }

    /// Reads a whole entry, failing when it inflates beyond `limit` bytes.
    pub fn read(&self, entry: Entry, limit: u64) -> Result<Vec<u8>, EntryError> {
        let mut buf = Vec::new();
        self.copy(entry, limit, &mut buf)?;
        Ok(buf)
    }

    /// Opens an entry for reading as it inflates, with no bound: the caller bounds it.
    /// A zip entry's CRC-32 is checked when its end is read.
    pub fn reader(&self, entry: Entry) -> Result<Box<dyn Read + '_>, EntryError> {
        match &self.backing {
            Backing::Zip { file, len, dir, records } => {
                let meta = Self::zip_entry(file, *len, dir, records, entry)?;
                let reader = crate::zipdir::open_entry(file, *len, &meta).map_err(EntryError::Read)?;
                Ok(Box::new(reader))
            }
            Backing::Dir(root) => {
                let file =
                    File::open(root.join(self.name(entry))).map_err(|e| EntryError::Read(e.to_string()))?;
                Ok(Box::new(file))
            }
        }
    }

    /// Streams an entry into `out`, failing when it inflates beyond `limit` bytes.
    /// Returns the number of bytes copied.
    pub fn copy(&self, entry: Entry, limit: u64, out: &mut dyn Write) -> Result<u64, EntryError> {
        bounded_copy(self.reader(entry)?, limit, out)
    }

    /// SHA-256 of the export: of the zip file's bytes (also when recovered), or, for a folder, of the sorted
    /// `path\0sha256\n` lines of its entries.
    pub fn fingerprint(&self) -> Result<String, SourceError> {
        let io_err = |source| SourceError::Io { path: self.path.clone(), source };
        match &self.backing {
            _ if self.path.is_file() => {
                let mut f = File::open(&self.path).map_err(io_err)?;
                let mut h = Sha256::new();
                io::copy(&mut f, &mut h).map_err(io_err)?;
                Ok(hex::encode(h.finalize()))
            }
            Backing::Zip { .. } => Err(SourceError::Io {
                path: self.path.clone(),
                source: io::Error::new(io::ErrorKind::NotFound, "the zip file went away"),
            }),
            Backing::Dir(root) => {
                let mut h = Sha256::new();
                for (_, name) in self.named_entries() {
                    let mut f = File::open(root.join(&name)).map_err(io_err)?;
                    let mut fh = Sha256::new();
                    io::copy(&mut f, &mut fh).map_err(io_err)?;
                    h.update(name.as_bytes());
                    h.update(b"\0");
                    h.update(hex::encode(fh.finalize()).as_bytes());
                    h.update(b"\n");
                }
                Ok(hex::encode(h.finalize()))
            }
        }
    }
}

fn bounded_copy(reader: impl Read, limit: u64, out: &mut dyn Write) -> Result<u64, EntryError> {
    let mut limited = reader.take(limit.saturating_add(1));
    let n = io::copy(&mut limited, out).map_err(|e| EntryError::Read(e.to_string()))?;
    if n > limit {
        return Err(EntryError::TooLarge { limit });
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_offsets_are_relative_when_they_fit() {
        let near =
            RecordOffsets::new([7u64 << 32, (7u64 << 32) + 46, (7 << 32) + u64::from(u32::MAX)].into_iter());
        assert!(matches!(near, RecordOffsets::Near { .. }));
        assert_eq!(near.get(1), Some((7 << 32) + 46));
        assert_eq!(near.get(2), Some((7 << 32) + u64::from(u32::MAX)));
        assert_eq!(near.get(3), None);
        let far = RecordOffsets::new([5u64, 5 + (1 << 32)].into_iter());
        assert!(matches!(far, RecordOffsets::Far(_)));
        assert_eq!((far.get(0), far.get(1)), (Some(5), Some(5 + (1 << 32))));
        assert_eq!(RecordOffsets::new(std::iter::empty()).get(0), None);
    }

    #[test]
    fn entry_runs_keep_order_and_gaps() {
        let mut runs = EntryRuns::default();
        assert!(runs.is_empty());
        let places = [3u32, 4, 5, 9, 10, 2, 3, u32::MAX - 1, u32::MAX];
        for &p in &places {
            runs.push(Entry(p));
        }
        assert_eq!(runs.0, vec![(3, 3), (9, 2), (2, 2), (u32::MAX - 1, 2)]);
        assert_eq!(runs.len(), places.len());
        assert_eq!(runs.to_vec(), places.iter().map(|&p| Entry(p)).collect::<Vec<_>>());
    }

    #[test]
    fn unsafe_names_are_refused() {
        for bad in ["../x", "a/../../x", "/etc/passwd", "a\\..\\b", "C:/x", "a//b", "./a", ""] {
            assert!(!is_safe_name(bad), "{bad}");
        }
        for good in ["users.json", "general/2020-01-01.json", "__uploads/F1/a b.png", "a..b/c"] {
            assert!(is_safe_name(good), "{good}");
        }
    }

    /// A zip of `entries` in that order; `rename` then overwrites every occurrence of one
    /// name with another of the same length (the zip writer refuses duplicate names).
    fn zip_of(entries: &[(&str, &str)], rename: Option<(&str, &str)>) -> tempfile::TempDir {
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, body) in entries {
            z.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            z.write_all(body.as_bytes()).unwrap();
        }
        let mut bytes = z.finish().unwrap().into_inner();
        if let Some((from, to)) = rename {
            assert_eq!(from.len(), to.len());
            let mut at = 0;
            while let Some(i) = bytes[at..].windows(from.len()).position(|w| w == from.as_bytes()) {
                bytes[at + i..at + i + to.len()].copy_from_slice(to.as_bytes());
                at += i + to.len();
            }
        }
        std::fs::write(dir.path().join("x.zip"), bytes).unwrap();
        dir
    }

    fn listing(dir: &tempfile::TempDir) -> Vec<(String, String)> {
        contents(&ExportSource::open(&dir.path().join("x.zip"), dir.path(), 1 << 20).unwrap())
    }

    /// Every entry's name and text, in listing order.
    fn contents(src: &ExportSource) -> Vec<(String, String)> {
        src.named_entries()
            .map(|(e, name)| (name, String::from_utf8(src.read(e, 1 << 20).unwrap()).unwrap()))
            .collect()
    }

    #[test]
    fn listing_is_sorted_with_the_first_of_each_name_whatever_the_directory_order() {
        let pairs =
            |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
        let want = pairs(&[("a/1.json", "A1"), ("a/2.json", "A2"), ("b/1.json", "B1")]);
        assert_eq!(
            listing(&zip_of(&[("a/1.json", "A1"), ("a/2.json", "A2"), ("b/1.json", "B1")], None)),
            want
        );
        assert_eq!(
            listing(&zip_of(&[("b/1.json", "B1"), ("a/2.json", "A2"), ("a/1.json", "A1")], None)),
            want
        );
        assert_eq!(
            listing(&zip_of(&[("a/2.json", "A2"), ("b/1.json", "B1"), ("a/1.json", "A1")], None)),
            want
        );
        // Duplicate names: the first in the archive is kept, wherever the second sits.
        let first_kept = pairs(&[("a/1.json", "A1"), ("b/1.json", "B1")]);
        let dup = [("a/1.json", "A1"), ("a/9.json", "XX"), ("b/1.json", "B1")];
        assert_eq!(listing(&zip_of(&dup, Some(("a/9.json", "a/1.json")))), first_kept);
        let dup = [("b/1.json", "B1"), ("a/1.json", "A1"), ("a/9.json", "XX")];
        assert_eq!(listing(&zip_of(&dup, Some(("a/9.json", "a/1.json")))), first_kept);
        let dup = [("a/9.json", "XX"), ("b/1.json", "B1"), ("a/1.json", "A1")];
        let later_first = pairs(&[("a/9.json", "XX"), ("b/1.json", "B1")]);
        assert_eq!(listing(&zip_of(&dup, Some(("a/1.json", "a/9.json")))), later_first);
    }

    #[test]
    fn a_repeated_name_is_reported_whether_the_directory_is_read_or_the_zip_salvaged() {
        let dup = [("a/1.json", "A1"), ("a/9.json", "XX"), ("b/1.json", "B1"), ("b/9.json", "YY")];
        let dir = zip_of(&dup, Some(("a/9.json", "a/1.json")));
        let src = ExportSource::open(&dir.path().join("x.zip"), &dir.path().join("s1"), 1 << 20).unwrap();
        assert!(src.is_zip());
        assert_eq!(src.repeated_names(), ["a/1.json".to_string()]);
        // Without its central directory, the zip is read by its local headers: the same
        // entry is kept and the same one reported.
        let zip = dir.path().join("x.zip");
        let bytes = std::fs::read(&zip).unwrap();
        let directory = bytes.windows(4).position(|w| w == [0x50, 0x4b, 0x01, 0x02]).unwrap();
        std::fs::write(&zip, &bytes[..directory]).unwrap();
        let src = ExportSource::open(&zip, &dir.path().join("s2"), 1 << 20).unwrap();
        assert!(!src.notes().is_empty(), "salvaged");
        assert_eq!(src.repeated_names(), ["a/1.json".to_string()]);
        assert_eq!(
            contents(&src),
            [("a/1.json", "A1"), ("b/1.json", "B1"), ("b/9.json", "YY")].map(|(a, b)| (a.into(), b.into()))
        );
    }

    #[test]
    fn a_salvage_that_stops_says_where() {
        let dir = zip_of(&[("a/1.json", "A1"), ("a/2.json", "A2"), ("b/1.json", "B1")], None);
        let zip = dir.path().join("x.zip");
        let bytes = std::fs::read(&zip).unwrap();
        let headers: Vec<usize> = bytes
            .windows(4)
            .enumerate()
            .filter(|(_, w)| *w == [0x50, 0x4b, 0x03, 0x04])
            .map(|(i, _)| i)
            .collect();
        assert_eq!(headers.len(), 3);
        // Cut inside the third local header.
        std::fs::write(&zip, &bytes[..headers[2] + 10]).unwrap();
        let src = ExportSource::open(&zip, &dir.path().join("s"), 1 << 20).unwrap();
        let stopped = src.notes().iter().find(|n| n.starts_with("scan stopped")).expect("a note");
        assert!(
            stopped.starts_with(&format!(
                "scan stopped at byte {} of {} (after entry a/2.json): ",
                headers[2],
                headers[2] + 10
            )),
            "{stopped}"
        );
        assert_eq!(src.named_entries().count(), 2);
    }

    #[test]
    fn a_symlink_entry_is_refused() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        z.start_file("a/1.json", options).unwrap();
        z.write_all(b"[]").unwrap();
        z.add_symlink("__uploads/F1/secret.txt", "/etc/shadow", options).unwrap();
        z.add_symlink("a/2.json", "../../etc/passwd", options).unwrap();
        std::fs::write(dir.path().join("x.zip"), z.finish().unwrap().into_inner()).unwrap();
        let src = ExportSource::open(&dir.path().join("x.zip"), dir.path(), 1 << 20).unwrap();
        assert_eq!(src.named_entries().map(|(_, n)| n).collect::<Vec<_>>(), ["a/1.json"]);
        let mut refused = src.unsafe_names().to_vec();
        refused.sort();
        assert_eq!(refused, ["__uploads/F1/secret.txt", "a/2.json"]);
    }

    #[test]
    fn bounded_read_refuses_a_bomb() {
        let data = vec![0u8; 1000];
        let mut out = Vec::new();
        assert!(matches!(bounded_copy(&data[..], 999, &mut out), Err(EntryError::TooLarge { limit: 999 })));
        let mut out = Vec::new();
        assert_eq!(bounded_copy(&data[..], 1000, &mut out).unwrap(), 1000);
    }
}
