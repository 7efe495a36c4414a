//! The export's file records, looked up by id without holding them all in memory.
//!
//! Owns: one pass over `files.jsonl` that checks every record (a bad one stops the transform
//! with its file and line) and keeps only where each record's line is (about 50 bytes a
//! file instead of half a kilobyte), and the lookups that read and parse one line back by
//! positional read when a message refers to it. A lookup that fails although the pass
//! succeeded (the file changed under us) is remembered and fails the transform at the end;
//! it is never reported as "no record".

use super::stream::FileIn;
use super::TransformError;
use chatport_model::jsonl::JsonlError;
use chatport_model::FileRecord;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// File records by id, read on demand from `files.jsonl`.
pub struct FileIndex {
    path: PathBuf,
    file: Option<File>,
    lines: HashMap<Box<str>, (u64, u32)>,
    failure: Mutex<Option<String>>,
}

impl FileIndex {
    /// Checks every record of `path` and indexes where each one is. `expected` sizes the
    /// map (the manifest's record count).
    pub fn build(path: &Path, expected: usize) -> Result<FileIndex, TransformError> {
        let io = |source| TransformError::Canonical(JsonlError::Io { path: path.to_owned(), source });
        let file = File::open(path).map_err(io)?;
        let mut reader = BufReader::with_capacity(256 * 1024, file.try_clone().map_err(io)?);
        let mut lines = HashMap::with_capacity(expected.min(1 << 24));
        let mut buf = Vec::new();
        let (mut offset, mut line) = (0u64, 0u64);
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            line += 1;
            let content = buf.strip_suffix(b"\n").unwrap_or(&buf);
            let bad = |source| {
                TransformError::Canonical(JsonlError::Record { path: path.to_owned(), line, source })
            };
            let id = FileRecord::from(serde_json::from_slice::<FileIn>(content).map_err(bad)?).id;
            let len = u32::try_from(content.len()).map_err(|_| {
                io(std::io::Error::other(format!("record on line {line} is larger than 4 GiB")))
            })?;
            // A repeated id (extract never writes one): the last record wins, as before.
            lines.insert(Box::from(id), (offset, len));
            offset += n as u64;
        }
        Ok(FileIndex { path: path.to_owned(), file: Some(file), lines, failure: Mutex::new(None) })
    }

    /// An index with no files (tests, or an export without `files.jsonl` records).
    pub fn empty() -> FileIndex {
        FileIndex { path: PathBuf::new(), file: None, lines: HashMap::new(), failure: Mutex::new(None) }
    }

    /// Number of distinct file ids.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether there are no files.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The record of `id`, if the export has one.
    pub fn get(&self, id: &str) -> Option<FileRecord> {
        let &(offset, len) = self.lines.get(id)?;
        let file = self.file.as_ref()?;
        let mut buf = vec![0; len as usize];
        let parsed = file
            .read_exact_at(&mut buf, offset)
            .map_err(|e| e.to_string())
            .and_then(|()| serde_json::from_slice::<FileIn>(&buf).map_err(|e| e.to_string()));
        match parsed {
            Ok(f) => Some(FileRecord::from(f)),
            Err(e) => {
                if let Ok(mut failure) = self.failure.lock() {
                    failure.get_or_insert_with(|| {
                        format!(
                            "file {id} at byte {offset}: {e} (was the file changed during the transform?)"
                        )
                    });
                }
                None
            }
        }
    }

    /// Fails when a lookup could not read a record that the first pass had checked.
    pub fn check(&self) -> Result<(), TransformError> {
        match self.failure.lock().ok().and_then(|f| f.clone()) {
            Some(detail) => Err(TransformError::Manifest { path: self.path.clone(), detail }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, name: &str) -> String {
        format!(r#"{{"id":"{id}","name":"{name}","state":"present"}}"#)
    }

    #[test]
    fn finds_records_by_id_and_keeps_the_last_of_a_repeated_id() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("files.jsonl");
        std::fs::write(
            &p,
            format!("{}\n{}\n{}\n", line("F1", "a.txt"), line("F2", "ü.png"), line("F1", "dup")),
        )
        .unwrap();
        let idx = FileIndex::build(&p, 3).unwrap();
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.get("F2").unwrap().name.as_deref(), Some("ü.png"));
        assert_eq!(idx.get("F1").unwrap().name.as_deref(), Some("dup"));
        assert!(idx.get("F9").is_none());
        idx.check().unwrap();
    }

    #[test]
    fn a_bad_record_names_its_line_and_a_changed_file_fails_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("files.jsonl");
        std::fs::write(&p, format!("{}\n{{\"id\":\"F2\",\"state\":\"bogus\"}}\n", line("F1", "a"))).unwrap();
        let e = FileIndex::build(&p, 0).err().unwrap().to_string();
        assert!(e.contains("files.jsonl") && e.contains('2'), "{e}");

        std::fs::write(&p, format!("{}\n{}\n", line("F1", "a"), line("F2", "b"))).unwrap();
        let idx = FileIndex::build(&p, 2).unwrap();
        std::fs::write(&p, "x".repeat(10)).unwrap();
        assert!(idx.get("F2").is_none());
        let e = idx.check().unwrap_err().to_string();
        assert!(e.contains("F2"), "{e}");
    }
}
