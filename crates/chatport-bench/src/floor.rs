//! The floor: the least work any extractor must do on an export zip, namely inflate every
//! `.json` entry (libdeflate, in one call) and parse it into a generic JSON tree.
//! `chatport extract` is judged by its time as a ratio of this one. The tree is a
//! `serde_json::Value` of the workspace's serde_json, built with `arbitrary_precision` (a
//! number keeps its text, which costs this parse 7–10 % over the default build, measured
//! 2026-12-07); the printed report says so, so that figures of both builds are not mixed
//! up. Entries are handed out in archive order to `threads` workers, each with its own file
//! handle and zip reader over the same file.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use zip::ZipArchive;

/// What a floor run measured.
#[derive(Debug, Clone, Serialize)]
pub struct FloorReport {
    /// Worker threads.
    pub threads: usize,
    /// `.json` entries inflated and parsed.
    pub entries: u64,
    /// Bytes after inflation.
    pub bytes_inflated: u64,
    /// Elements of day-file arrays.
    pub messages: u64,
    /// Wall time, opening the archive included.
    pub seconds: f64,
    /// Thread time spent inflating, summed over threads.
    pub inflate_cpu_seconds: f64,
    /// Thread time spent parsing, summed over threads.
    pub parse_cpu_seconds: f64,
}

impl FloorReport {
    /// Messages per second.
    pub fn messages_per_second(&self) -> f64 {
        self.messages as f64 / self.seconds.max(1e-9)
    }
}

/// Whether `name` is a day file `<folder>/YYYY-MM-DD.json`.
pub fn is_day_file(name: &str) -> bool {
    let Some((dir, file)) = name.rsplit_once('/') else {
        return false;
    };
    let b = file.as_bytes();
    !dir.is_empty()
        && b.len() == 15
        && file.ends_with(".json")
        && b[..10]
            .iter()
            .enumerate()
            .all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() })
}

#[derive(Default)]
struct Partial {
    entries: u64,
    bytes: u64,
    messages: u64,
    inflate: f64,
    parse: f64,
}

/// Inflates entry `index` into `buf` (through `compressed`) and returns its name: a
/// deflated entry in one call by libdeflate, as `chatport extract` inflates entries of up
/// to 1 MiB (here whatever their size, and without the CRC check extract makes, so that
/// the floor is never above what extract could do).
fn inflate(
    archive: &mut ZipArchive<fs::File>,
    index: usize,
    compressed: &mut Vec<u8>,
    buf: &mut Vec<u8>,
) -> Result<String> {
    let mut entry = archive.by_index_raw(index)?;
    let name = entry.name().to_owned();
    compressed.clear();
    entry.read_to_end(compressed).with_context(|| format!("reading {name}"))?;
    match entry.compression() {
        zip::CompressionMethod::Stored => std::mem::swap(buf, compressed),
        zip::CompressionMethod::Deflated => {
            buf.resize(usize::try_from(entry.size())?, 0);
            let n = libdeflater::Decompressor::new()
                .deflate_decompress(compressed, buf)
                .with_context(|| format!("inflating {name}"))?;
            buf.truncate(n);
        }
        other => anyhow::bail!("{name}: compression method {other} is not supported"),
    }
    Ok(name)
}

/// Inflates and parses every `.json` entry of the zip at `path` with `threads` workers.
pub fn measure_floor(path: &Path, threads: usize) -> Result<FloorReport> {
    let started = Instant::now();
    let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let archive = ZipArchive::new(file).with_context(|| format!("reading zip {}", path.display()))?;
    let targets: Vec<(usize, bool)> = (0..archive.len())
        .filter_map(|i| {
            let name = archive.name_for_index(i)?;
            name.ends_with(".json").then(|| (i, is_day_file(name)))
        })
        .collect();
    drop(archive);
    let next = AtomicUsize::new(0);
    let threads = threads.max(1);
    let partials = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> Result<Partial> {
                    let file = fs::File::open(path)?;
                    let mut archive = ZipArchive::new(file)?;
                    let mut part = Partial::default();
                    let (mut buf, mut compressed) = (Vec::new(), Vec::new());
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&(index, day)) = targets.get(k) else {
                            return Ok(part);
                        };
                        let t0 = Instant::now();
                        let name = inflate(&mut archive, index, &mut compressed, &mut buf)?;
                        let t1 = Instant::now();
                        let value: serde_json::Value =
                            serde_json::from_slice(&buf).with_context(|| format!("parsing {name}"))?;
                        part.inflate += (t1 - t0).as_secs_f64();
                        part.parse += t1.elapsed().as_secs_f64();
                        part.entries += 1;
                        part.bytes += buf.len() as u64;
                        if let (true, serde_json::Value::Array(items)) = (day, &value) {
                            part.messages += items.len() as u64;
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().map_err(|_| anyhow::anyhow!("floor worker panicked"))?)
            .collect::<Result<Vec<Partial>>>()
    })?;
    Ok(FloorReport {
        threads,
        entries: partials.iter().map(|p| p.entries).sum(),
        bytes_inflated: partials.iter().map(|p| p.bytes).sum(),
        messages: partials.iter().map(|p| p.messages).sum(),
        seconds: started.elapsed().as_secs_f64(),
        inflate_cpu_seconds: partials.iter().map(|p| p.inflate).sum(),
        parse_cpu_seconds: partials.iter().map(|p| p.parse).sum(),
    })
}

/// The fastest of `runs` floor measurements (at least one), to filter out noise from other
/// processes on the machine.
pub fn best_floor(path: &Path, threads: usize, runs: usize) -> Result<FloorReport> {
    let mut best = measure_floor(path, threads)?;
    for _ in 1..runs {
        let r = measure_floor(path, threads)?;
        if r.seconds < best.seconds {
            best = r;
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_file_names() {
        assert!(is_day_file("general/2019-01-07.json"));
        assert!(is_day_file("export/general/2019-01-07.json"));
        assert!(!is_day_file("users.json"));
        assert!(!is_day_file("general/attachments/2019-01-07.json.txt"));
        assert!(!is_day_file("general/notes.json"));
    }
}
