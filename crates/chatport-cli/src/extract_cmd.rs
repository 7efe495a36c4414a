//! `chatport extract`: flags, progress bar and the end-of-run summary.

use crate::Outcome;
use chatport_extract::WarningSummary;
use chatport_extract::{ExtractOptions, Progress};
use chatport_model::Manifest;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Flags of `chatport extract`.
#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// The Slack export: the zip file as downloaded (read in place, never unpacked) or an
    /// unpacked folder. Standard, Business+/Enterprise and slackdump layouts are recognised
    /// (slackdump's export with file contents, and its dump format: `<id>.json` per
    /// conversation).
    pub input: PathBuf,
    /// Output canonical directory. It must be absent or empty unless --force is given.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Replace the canonical files of a previous extraction in --out (other files are left
    /// alone).
    #[arg(long)]
    pub force: bool,
    /// Exit with code 1 when there is any warning (the output is still written).
    #[arg(long)]
    pub strict: bool,
    /// Largest inflated size of one JSON file; the records past it are skipped with a warning
    /// (protects against decompression bombs).
    #[arg(long, default_value_t = 512 << 20, value_name = "BYTES")]
    pub max_json_bytes: u64,
    /// Largest inflated size of one uploaded file's content inside the export.
    #[arg(long, default_value_t = 4 << 30, value_name = "BYTES")]
    pub max_file_bytes: u64,
    /// Largest inflated size of the whole export; entries beyond it are skipped.
    #[arg(long, default_value_t = 1 << 40, value_name = "BYTES")]
    pub max_total_bytes: u64,
    /// Print the summary as JSON (manifest counts, warnings by code, seconds) instead of
    /// a table.
    #[arg(long)]
    pub json: bool,
    /// Never draw a progress bar (it is drawn only when stderr is a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn set_total(&self, day_files: u64) {
        self.0.set_length(day_files);
    }
    fn advance(&self, day_files: u64, messages: u64) {
        self.0.inc(day_files);
        let done = self.0.position();
        let _ = messages;
        self.0.set_message(format!("{done} day files"));
    }
}

/// Runs the command.
pub fn run(a: ExtractArgs) -> anyhow::Result<Outcome> {
    let opts = ExtractOptions {
        max_json_bytes: a.max_json_bytes,
        max_file_bytes: a.max_file_bytes,
        max_total_bytes: a.max_total_bytes,
        force: a.force,
        ..ExtractOptions::default()
    };
    let bar = if a.no_progress { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} extract [{bar:30}] {pos}/{len} day files, {elapsed} (eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let started = Instant::now();
    let result = chatport_extract::extract_slack(&a.input, &a.out, &opts, &Bar(bar.clone()));
    bar.finish_and_clear();
    let (manifest, warnings) = result?;
    let elapsed = started.elapsed();
    print_summary(&a, &manifest, &warnings, elapsed);
    Ok(if a.strict && !warnings.is_empty() { Outcome::Problems } else { Outcome::Clean })
}

fn print_summary(a: &ExtractArgs, m: &Manifest, warnings: &WarningSummary, elapsed: Duration) {
    let by_code: BTreeMap<String, u64> = warnings
        .by_code
        .iter()
        .map(|(code, n)| {
            let name = serde_json::to_value(code).ok().and_then(|v| v.as_str().map(str::to_owned));
            (name.unwrap_or_default(), *n)
        })
        .collect();
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { m.counts.messages as f64 / secs } else { 0.0 };
    let peak = peak_rss_kib();
    if a.json {
        let v = serde_json::json!({
            "out": a.out, "counts": m.counts, "warnings_by_code": by_code,
            "seconds": secs, "messages_per_second": rate.round(), "peak_rss_kib": peak,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return;
    }
    let c = &m.counts;
    println!("extracted {} → {}", a.input.display(), a.out.display());
    println!("  layouts        {}", m.source.layouts.join(", "));
    for (name, n) in [
        ("users", c.users),
        ("conversations", c.conversations),
        ("messages", c.messages),
        ("replies", c.replies),
        ("reactions", c.reactions),
        ("files", c.files),
        ("blobs", c.blobs),
        ("memberships", c.memberships),
        ("warnings", c.warnings),
    ] {
        println!("  {name:<14} {n}");
    }
    for (code, n) in &by_code {
        println!("    {code:<26} {n}");
    }
    for w in &warnings.first {
        println!("    e.g. {w}");
    }
    if warnings.total > warnings.first.len() as u64 {
        println!("    … all {} in {}/warnings.jsonl", warnings.total, a.out.display());
    }
    println!("  time           {secs:.2} s ({rate:.0} messages/s)");
    if let Some(kib) = peak {
        println!("  peak memory    {:.1} MiB resident", kib as f64 / 1024.0);
    }
}

/// This process's peak resident set size in KiB (`VmHWM`), where the system tells it.
/// Unlike `getrusage`, it counts only this program's own memory: on Linux a process
/// started by `vfork` + `exec` inherits its parent's peak in `ru_maxrss`.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()
}
