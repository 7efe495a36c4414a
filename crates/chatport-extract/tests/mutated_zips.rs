//! Seeded random damage to a zipped export never panics the extractor: every run ends in
//! a result (a canonical directory with warnings, or a clear error) and never writes
//! outside its output folder.

use chatport_extract::{extract_slack, ExtractOptions, NoProgress};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::io::Write;
use std::path::{Path, PathBuf};

fn sample_zip() -> Vec<u8> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/slack/sample-export");
    let mut names = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                names.push(p);
            }
        }
    }
    names.sort();
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for p in names {
        z.start_file(p.strip_prefix(&root).unwrap().to_string_lossy(), opts).unwrap();
        z.write_all(&std::fs::read(&p).unwrap()).unwrap();
    }
    z.finish().unwrap().into_inner()
}

fn entries_outside(dir: &Path, allowed: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().filter(|e| e.as_ref().unwrap().path() != allowed).count()
}

#[test]
fn random_damage_never_panics() {
    let original = sample_zip();
    let mut rng = StdRng::seed_from_u64(0xC4A7);
    for round in 0..120 {
        let mut bytes = original.clone();
        match round % 3 {
            0 => {
                for _ in 0..rng.gen_range(1..8) {
                    let i = rng.gen_range(0..bytes.len());
                    bytes[i] = rng.gen();
                }
            }
            1 => bytes.truncate(rng.gen_range(0..bytes.len())),
            _ => {
                let i = rng.gen_range(0..bytes.len());
                let n = rng.gen_range(1..64).min(bytes.len() - i);
                bytes.drain(i..i + n);
            }
        }
        let tmp = tempfile::tempdir().unwrap();
        let zip = tmp.path().join("damaged.zip");
        std::fs::write(&zip, &bytes).unwrap();
        let out = tmp.path().join("out");
        let opts = ExtractOptions { max_json_bytes: 1 << 20, max_file_bytes: 1 << 20, ..Default::default() };
        let result = std::panic::catch_unwind(|| extract_slack(&zip, &out, &opts, &NoProgress));
        assert!(result.is_ok(), "round {round} panicked");
        assert_eq!(entries_outside(tmp.path(), &out), 1, "round {round} wrote outside --out");
    }
}
