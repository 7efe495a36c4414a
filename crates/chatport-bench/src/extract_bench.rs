//! The whole-extractor benchmark: generate (or reuse) a synthetic export, run the real
//! `chatport extract` on it as a child process, and report wall time, messages/s and the
//! child's peak RSS next to the floor (inflate + parse only) of the same zip.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::floor::{best_floor, FloorReport};
use crate::generate::{counts_path, generate, ExpectedCounts, GenerateOptions, Layout};

/// Targets from issue 2 part 8, printed next to the measurements.
pub const TARGET_MESSAGES_PER_SECOND: f64 = 250_000.0;
/// Peak RSS target, MiB.
pub const TARGET_PEAK_RSS_MIB: f64 = 300.0;
/// Target for our time divided by the floor's.
pub const TARGET_FLOOR_RATIO: f64 = 1.5;

/// How to run the benchmark.
#[derive(Debug, Clone)]
pub struct ExtractBenchOptions {
    /// Messages in the generated export.
    pub messages: u64,
    /// Generator seed.
    pub seed: u64,
    /// Generate the export with the users, conversations and days of one of this many
    /// messages (`None`: its own); see `chatport-bench generate --shape`.
    pub shape: Option<u64>,
    /// The `chatport` binary.
    pub chatport: PathBuf,
    /// Where exports are cached and extractions written.
    pub bench_dir: PathBuf,
    /// Keep the extraction output.
    pub keep: bool,
    /// Compare the manifest's counts with the generator's.
    pub verify: bool,
    /// Floor measurements per thread count; the fastest is kept.
    pub floor_runs: usize,
    /// Extractor runs; the fastest is kept, as for the floor, and the peaks of memory are
    /// the highest of any run.
    pub runs: usize,
}

/// A finished child process and what it cost.
#[derive(Debug, Clone, Serialize)]
pub struct ChildRun {
    /// Wall time.
    pub seconds: f64,
    /// Peak resident set size, KiB (`ru_maxrss`). An upper bound only: on Linux a child
    /// started by `vfork` + `exec` carries its parent's peak in it.
    pub peak_rss_kib: u64,
    /// Peak anonymous resident memory, KiB (`RssAnon` in `/proc/<pid>/status`, sampled
    /// every 10 ms): the memory the work itself takes. `None` where the system does not
    /// tell it.
    pub peak_anon_kib: Option<u64>,
    /// Peak file-backed resident memory, KiB (`RssFile`, sampled likewise): mostly the
    /// binary's own code, which varies by a megabyte or two with how much of the binary
    /// the page cache holds, whatever the input.
    pub peak_file_kib: Option<u64>,
    /// CPU time in user mode, seconds (`ru_utime`).
    pub user_seconds: f64,
    /// CPU time in the kernel, seconds (`ru_stime`): writing to the page cache, mostly.
    pub sys_seconds: f64,
    /// Exit code, or `None` when killed by a signal.
    pub exit_code: Option<i32>,
    /// Signal that ended it.
    pub signal: Option<i32>,
}

/// Everything the benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct ExtractBenchReport {
    /// The export.
    pub export: PathBuf,
    /// Its size in bytes.
    pub export_bytes: u64,
    /// Messages in it.
    pub messages: u64,
    /// The extractor's fastest run, with the highest peaks of memory of any run.
    pub extract: ChildRun,
    /// Wall, user and system time of every extractor run, in the order they ran.
    pub extract_seconds: Vec<(f64, f64, f64)>,
    /// The extractor's own peak resident set size, KiB, as it reported it (`VmHWM`,
    /// which counts only its own memory, not the benchmark's before `exec`): the highest
    /// of any run.
    pub extract_peak_rss_kib: Option<u64>,
    /// Extractor messages per second.
    pub messages_per_second: f64,
    /// Floor with one thread.
    pub floor_1: FloorReport,
    /// Floor with two threads.
    pub floor_2: FloorReport,
    /// Extractor time / two-thread floor time.
    pub ratio_to_floor: f64,
    /// Manifest counts that differ from the generator's, as `key: manifest != expected`.
    pub count_mismatches: Vec<String>,
}

/// `RssAnon` and `RssFile` of process `pid`, KiB, if it is alive and the system tells them.
fn resident_kib(pid: libc::pid_t) -> Option<(u64, u64)> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..].trim().trim_end_matches("kB").trim().parse::<u64>().ok()
    };
    Some((field("RssAnon:")?, field("RssFile:")?))
}

fn seconds_of(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 / 1e6
}

/// Runs `command`, waits for it with `wait4` and returns its wall time and peak RSS, with
/// its anonymous and file-backed parts sampled while it runs.
pub fn run_measured(command: &mut Command) -> Result<ChildRun> {
    let started = Instant::now();
    let child = command.spawn().with_context(|| format!("starting {:?}", command.get_program()))?;
    let pid = child.id() as libc::pid_t;
    let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let running = running.clone();
        std::thread::spawn(move || {
            let mut peak: Option<(u64, u64)> = None;
            while running.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some((anon, file)) = resident_kib(pid) {
                    let (a, f) = peak.unwrap_or((0, 0));
                    peak = Some((a.max(anon), f.max(file)));
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            peak
        })
    };
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is a plain C struct for which all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own child, not yet reaped (std never waited on it), and both
        // out-pointers are valid for writes for the duration of the call.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).context("waiting for the child process");
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    running.store(false, std::sync::atomic::Ordering::Relaxed);
    let sampled = sampler.join().ok().flatten();
    let exited = libc::WIFEXITED(status);
    Ok(ChildRun {
        seconds,
        peak_rss_kib: usage.ru_maxrss.max(0) as u64,
        user_seconds: seconds_of(usage.ru_utime),
        sys_seconds: seconds_of(usage.ru_stime),
        peak_anon_kib: sampled.map(|(anon, _)| anon),
        peak_file_kib: sampled.map(|(_, file)| file),
        exit_code: exited.then(|| libc::WEXITSTATUS(status)),
        signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
    })
}

/// The name exports and outputs of a run are cached under: `<messages>-seed<seed>`, or
/// `<messages>-shape<shape>-seed<seed>`.
fn run_name(messages: u64, shape: Option<u64>, seed: u64) -> String {
    match shape {
        Some(shape) => format!("{messages}-shape{shape}-seed{seed}"),
        None => format!("{messages}-seed{seed}"),
    }
}

/// The cached export for `messages`, `shape` and `seed`, generated when missing.
pub fn cached_export(
    bench_dir: &Path,
    messages: u64,
    shape: Option<u64>,
    seed: u64,
) -> Result<(PathBuf, ExpectedCounts)> {
    fs::create_dir_all(bench_dir).with_context(|| format!("creating {}", bench_dir.display()))?;
    let zip = bench_dir.join(format!("slack-{}.zip", run_name(messages, shape, seed)));
    let sidecar = counts_path(&zip);
    if zip.is_file() && sidecar.is_file() {
        let counts = serde_json::from_slice(&fs::read(&sidecar)?)
            .with_context(|| format!("reading {}", sidecar.display()))?;
        eprintln!("reusing {}", zip.display());
        return Ok((zip, counts));
    }
    eprintln!("generating {} ({messages} messages)…", zip.display());
    let report = generate(&GenerateOptions {
        messages,
        seed,
        channels: None,
        shape,
        layout: Layout::Zip,
        out: zip.clone(),
    })?;
    eprintln!("generated in {:.1} s, {:.1} MB zip", report.seconds, report.output_bytes as f64 / 1e6);
    Ok((zip, report.counts))
}

fn compare_counts(manifest: &Path, expected: &ExpectedCounts) -> Result<Vec<String>> {
    let value: serde_json::Value = serde_json::from_slice(
        &fs::read(manifest).with_context(|| format!("reading {}", manifest.display()))?,
    )
    .with_context(|| format!("parsing {}", manifest.display()))?;
    let counts = &value["counts"];
    let want = serde_json::to_value(expected)?;
    let mut mismatches = Vec::new();
    if let Some(want) = want.as_object() {
        for (key, v) in want {
            if counts.get(key) != Some(v) {
                mismatches.push(format!("{key}: manifest {} != expected {v}", counts[key]));
            }
        }
    }
    Ok(mismatches)
}

impl ChildRun {
    /// The faster of two runs (its time, exit code and signal) with the higher peak of
    /// each kind of memory of the two, so that repeating a run can only make the time
    /// better and the memory worse.
    pub fn faster_with_peaks_of_both(self, other: ChildRun) -> ChildRun {
        let peak = |a: Option<u64>, b: Option<u64>| a.max(b);
        let (anon, file, rss) = (
            peak(self.peak_anon_kib, other.peak_anon_kib),
            peak(self.peak_file_kib, other.peak_file_kib),
            self.peak_rss_kib.max(other.peak_rss_kib),
        );
        let mut best = if other.seconds < self.seconds { other } else { self };
        best.peak_anon_kib = anon;
        best.peak_file_kib = file;
        best.peak_rss_kib = rss;
        best
    }
}

/// One `chatport extract --json` of `zip` into `out`, its summary written to `summary_path`;
/// an error unless it exits with 0.
fn extract_once(chatport: &Path, zip: &Path, out: &Path, summary_path: &Path) -> Result<ChildRun> {
    let summary =
        fs::File::create(summary_path).with_context(|| format!("creating {}", summary_path.display()))?;
    let run = run_measured(
        Command::new(chatport).arg("extract").arg(zip).arg("--out").arg(out).arg("--json").stdout(summary),
    )?;
    match (run.exit_code, run.signal) {
        (Some(0), _) => Ok(run),
        (Some(code), _) => bail!(
            "`{} extract` failed with exit code {code} (its output is above); \
             does this chatport build have the `extract` subcommand?",
            chatport.display()
        ),
        (None, signal) => {
            bail!("`{} extract` was killed by signal {}", chatport.display(), signal.unwrap_or(0))
        }
    }
}

/// Runs the benchmark.
pub fn extract_bench(opts: &ExtractBenchOptions) -> Result<ExtractBenchReport> {
    if !opts.chatport.is_file() {
        bail!(
            "chatport binary not found at {}: build it with `cargo build --release -p chatport-cli` \
             or pass --chatport <path>",
            opts.chatport.display()
        );
    }
    let (zip, expected) = cached_export(&opts.bench_dir, opts.messages, opts.shape, opts.seed)?;
    let name = run_name(opts.messages, opts.shape, opts.seed);
    let export_bytes = fs::metadata(&zip)?.len();

    let floor_1 = best_floor(&zip, 1, opts.floor_runs)?;
    let floor_2 = best_floor(&zip, 2, opts.floor_runs)?;

    let out = opts.bench_dir.join(format!("extract-{name}"));
    let summary_path = opts.bench_dir.join(format!("extract-{name}.summary.json"));
    let runs = opts.runs.max(1);
    let mut fastest: Option<ChildRun> = None;
    let mut extract_seconds = Vec::with_capacity(runs);
    let mut extract_peak_rss_kib: Option<u64> = None;
    let mut count_mismatches = Vec::new();
    for i in 0..runs {
        if out.exists() {
            fs::remove_dir_all(&out).with_context(|| format!("removing {}", out.display()))?;
        }
        eprintln!(
            "running {} extract {} --out {} ({}/{runs})",
            opts.chatport.display(),
            zip.display(),
            out.display(),
            i + 1
        );
        let run = extract_once(&opts.chatport, &zip, &out, &summary_path)?;
        let reported = fs::read(&summary_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v.get("peak_rss_kib").and_then(serde_json::Value::as_u64));
        extract_peak_rss_kib = extract_peak_rss_kib.max(reported);
        extract_seconds.push((run.seconds, run.user_seconds, run.sys_seconds));
        let last = i + 1 == runs;
        if opts.verify && count_mismatches.is_empty() {
            count_mismatches = compare_counts(&out.join("manifest.json"), &expected)?;
        }
        if !(last && opts.keep) {
            fs::remove_dir_all(&out).with_context(|| format!("removing {}", out.display()))?;
        }
        fastest = Some(match fastest {
            None => run,
            Some(best) => best.faster_with_peaks_of_both(run),
        });
    }
    let Some(run) = fastest else { bail!("no extractor run") };
    Ok(ExtractBenchReport {
        export: zip,
        export_bytes,
        messages: expected.messages,
        messages_per_second: expected.messages as f64 / run.seconds.max(1e-9),
        ratio_to_floor: run.seconds / floor_2.seconds.max(1e-9),
        extract: run,
        extract_seconds,
        extract_peak_rss_kib,
        floor_1,
        floor_2,
        count_mismatches,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_child() {
        let run = run_measured(Command::new("sh").args(["-c", "exit 3"])).unwrap();
        assert_eq!(run.exit_code, Some(3));
        assert!(run.peak_rss_kib > 0);
        // A child that fills a 64 MiB buffer again and again (`dd` from `/dev/zero`) for a
        // few hundred milliseconds is seen holding it.
        let run = run_measured(Command::new("dd").args([
            "if=/dev/zero",
            "of=/dev/null",
            "bs=64M",
            "count=40",
            "status=none",
        ]))
        .unwrap();
        assert_eq!(run.exit_code, Some(0));
        assert!(run.sys_seconds > 0.0, "copying 2.5 GB through the kernel takes kernel time: {run:?}");
        let anon = run.peak_anon_kib.expect("sampled on Linux");
        assert!(anon >= 60 << 10, "{anon} KiB");
        assert!(run.peak_file_kib.is_some());
    }

    #[test]
    fn repeated_runs_keep_the_fastest_time_and_the_highest_memory() {
        let run = |seconds, rss, anon: Option<u64>, code| ChildRun {
            seconds,
            peak_rss_kib: rss,
            peak_anon_kib: anon,
            peak_file_kib: anon.map(|a| a / 2),
            user_seconds: seconds,
            sys_seconds: 0.0,
            exit_code: Some(code),
            signal: None,
        };
        let merged = run(3.0, 100, Some(40), 0).faster_with_peaks_of_both(run(2.5, 90, Some(60), 1));
        assert_eq!(merged.seconds, 2.5);
        assert_eq!(merged.exit_code, Some(1), "the exit code is the fastest run's");
        assert_eq!(
            (merged.peak_rss_kib, merged.peak_anon_kib, merged.peak_file_kib),
            (100, Some(60), Some(30))
        );
        let merged = run(2.0, 80, None, 0).faster_with_peaks_of_both(run(2.5, 90, Some(60), 1));
        assert_eq!((merged.seconds, merged.exit_code), (2.0, Some(0)));
        assert_eq!((merged.peak_rss_kib, merged.peak_anon_kib), (90, Some(60)));
    }

    #[test]
    fn missing_binary_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = extract_bench(&ExtractBenchOptions {
            messages: 10,
            seed: 1,
            shape: None,
            chatport: dir.path().join("nope"),
            bench_dir: dir.path().to_path_buf(),
            keep: false,
            verify: true,
            floor_runs: 1,
            runs: 1,
        })
        .unwrap_err();
        assert!(err.to_string().contains("chatport binary not found"));
    }
}
