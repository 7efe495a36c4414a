//! Helpers shared by the CLI tests: paths to fixtures, running `chatport`, building zips.

#![allow(dead_code)]

use assert_cmd::Command;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The hand-written sample export.
pub fn sample() -> PathBuf {
    repo().join("fixtures/slack/sample-export")
}

/// A `chatport` command.
pub fn chatport() -> Command {
    Command::cargo_bin("chatport").expect("chatport binary")
}

/// Every file under `dir`, relative, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// Zips a folder into `zip_path`, every entry under `prefix` (e.g. `"export/"` or `""`).
pub fn zip_dir(dir: &Path, zip_path: &Path, prefix: &str) {
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for rel in files_under(dir) {
        entries.push((format!("{prefix}{rel}"), std::fs::read(dir.join(&rel)).unwrap()));
    }
    write_zip(zip_path, &entries);
}

/// Writes a zip of `(name, content)` entries, deflated, with fixed times.
pub fn write_zip(zip_path: &Path, entries: &[(String, Vec<u8>)]) {
    let file = std::fs::File::create(zip_path).unwrap();
    let mut z = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        z.start_file(name.as_str(), opts).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
}

/// Reads a JSON file.
pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Reads a JSONL file into values.
pub fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}
