//! JSONL files: a writer that counts records and hashes bytes as it writes (so the
//! manifest needs no second pass), and a reader that names the file and line of any bad
//! record.

use crate::canonical::DataFile;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Errors of JSONL reading and writing, naming the file and line.
#[derive(Debug, thiserror::Error)]
pub enum JsonlError {
    /// The file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A line is not a valid record.
    #[error("{path}: line {line}: {source}")]
    Record {
        /// The file.
        path: PathBuf,
        /// One-based line number.
        line: u64,
        /// The cause.
        source: serde_json::Error,
    },
}

/// Writes one record per line to a file, counting records and hashing the bytes.
pub struct DataFileWriter {
    path: PathBuf,
    rel: String,
    out: BufWriter<File>,
    hasher: Sha256,
    records: u64,
    bytes: u64,
    line: Vec<u8>,
}

impl DataFileWriter {
    /// Creates `root/rel` (and its parent folders); `rel` is the `/`-separated path that
    /// goes into the manifest.
    pub fn create(root: &Path, rel: &str) -> Result<Self, JsonlError> {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|source| JsonlError::Io { path: parent.to_owned(), source })?;
        }
        let file = File::create(&path).map_err(|source| JsonlError::Io { path: path.clone(), source })?;
        Ok(DataFileWriter {
            path,
            rel: rel.to_owned(),
            out: BufWriter::with_capacity(256 * 1024, file),
            hasher: Sha256::new(),
            records: 0,
            bytes: 0,
            line: Vec::with_capacity(4096),
        })
    }

    /// Appends one record as a line.
    pub fn write<T: Serialize>(&mut self, record: &T) -> Result<(), JsonlError> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, record)
            .map_err(|e| JsonlError::Io { path: self.path.clone(), source: io::Error::other(e) })?;
        self.line.push(b'\n');
        self.write_raw_line()
    }

    fn write_raw_line(&mut self) -> Result<(), JsonlError> {
        self.hasher.update(&self.line);
        self.bytes += self.line.len() as u64;
        self.records += 1;
        self.out.write_all(&self.line).map_err(|source| JsonlError::Io { path: self.path.clone(), source })
    }

    /// Appends already-serialized records: `lines` must be whole lines, each ending in
    /// `\n`, and `records` their number.
    pub fn write_lines(&mut self, lines: &[u8], records: u64) -> Result<(), JsonlError> {
        debug_assert!(lines.is_empty() || lines.ends_with(b"\n"));
        self.write_partial(lines, records)
    }

    /// Appends part of the file's serialized records: `bytes` need not end where a line
    /// does, and `records` is how many lines they complete. Lets a large record be
    /// copied in pieces.
    pub fn write_partial(&mut self, bytes: &[u8], records: u64) -> Result<(), JsonlError> {
        self.hasher.update(bytes);
        self.bytes += bytes.len() as u64;
        self.records += records;
        self.out.write_all(bytes).map_err(|source| JsonlError::Io { path: self.path.clone(), source })
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Flushes and closes the file, returning its manifest entry.
    pub fn finish(mut self) -> Result<DataFile, JsonlError> {
        self.out.flush().map_err(|source| JsonlError::Io { path: self.path.clone(), source })?;
        Ok(DataFile {
            path: self.rel,
            records: self.records,
            bytes: self.bytes,
            sha256: hex::encode(self.hasher.finalize()),
        })
    }
}

/// Writes a whole JSON document (pretty, with a final newline) and returns its manifest
/// entry.
pub fn write_json_file<T: Serialize>(root: &Path, rel: &str, value: &T) -> Result<DataFile, JsonlError> {
    let path = root.join(rel);
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| JsonlError::Io { path: path.clone(), source: io::Error::other(e) })?;
    bytes.push(b'\n');
    std::fs::write(&path, &bytes).map_err(|source| JsonlError::Io { path: path.clone(), source })?;
    Ok(DataFile { path: rel.to_owned(), records: 1, bytes: bytes.len() as u64, sha256: sha256_hex(&bytes) })
}

/// SHA-256 of bytes, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads a JSONL file record by record; each item is the record or an error naming the
/// file and line. Blank lines are errors too (a canonical file has none).
pub fn read_jsonl<T: DeserializeOwned>(
    path: &Path,
) -> Result<impl Iterator<Item = Result<T, JsonlError>>, JsonlError> {
    let file = File::open(path).map_err(|source| JsonlError::Io { path: path.to_owned(), source })?;
    let path = path.to_owned();
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut line_no = 0u64;
    let mut buf = Vec::new();
    Ok(std::iter::from_fn(move || {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => None,
            Ok(_) => {
                line_no += 1;
                let content = buf.strip_suffix(b"\n").unwrap_or(&buf);
                Some(serde_json::from_slice(content).map_err(|source| JsonlError::Record {
                    path: path.clone(),
                    line: line_no,
                    source,
                }))
            }
            Err(source) => {
                line_no += 1;
                Some(Err(JsonlError::Io { path: path.clone(), source }))
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::TopicText;

    #[test]
    fn writes_counts_and_hashes_then_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = DataFileWriter::create(dir.path(), "sub/t.jsonl").unwrap();
        let a = TopicText { value: "é".into(), creator: None, last_set: Some(3) };
        w.write(&a).unwrap();
        w.write(&a).unwrap();
        let df = w.finish().unwrap();
        assert_eq!(df.records, 2);
        let bytes = std::fs::read(dir.path().join("sub/t.jsonl")).unwrap();
        assert_eq!(df.bytes, bytes.len() as u64);
        assert_eq!(df.sha256, sha256_hex(&bytes));
        let back: Vec<TopicText> =
            read_jsonl(&dir.path().join("sub/t.jsonl")).unwrap().map(Result::unwrap).collect();
        assert_eq!(back, vec![a.clone(), a]);
    }

    #[test]
    fn names_file_and_line_of_a_bad_record() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        std::fs::write(&p, "{\"value\":\"a\"}\n{\"value\":1}\n").unwrap();
        let items: Vec<_> = read_jsonl::<TopicText>(&p).unwrap().collect();
        assert!(items[0].is_ok());
        let err = items[1].as_ref().unwrap_err().to_string();
        assert!(err.contains("x.jsonl: line 2"), "{err}");
    }
}
