//! `chatport-bench`: generate synthetic Slack exports, measure the inflate+parse floor, and
//! benchmark `chatport extract`. See the crate documentation and README.md.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

// The same allocator as `chatport` (and the floor inflates with libdeflate, as `chatport`
// does entries of up to 1 MiB), so the floor is measured under the same conditions as the
// extractor it is compared with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use chatport_bench::extract_bench::{
    extract_bench, ExtractBenchOptions, TARGET_FLOOR_RATIO, TARGET_MESSAGES_PER_SECOND, TARGET_PEAK_RSS_MIB,
};
use chatport_bench::floor::{best_floor, FloorReport};
use chatport_bench::generate::{counts_path, generate, GenerateOptions, Layout};

/// Synthetic Slack exports and extractor benchmarks for chatport.
#[derive(Parser)]
#[command(name = "chatport-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write a realistic synthetic Slack export with exactly N messages (a zip by default),
    /// plus `<out>.counts.json` with the counts `chatport extract` must report for it.
    Generate {
        /// Messages to generate, every subtype and thread replies included.
        #[arg(long)]
        messages: u64,
        /// Output zip (or directory with --dir).
        #[arg(long)]
        out: PathBuf,
        /// RNG seed; the same seed gives a byte-identical export.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Number of conversations (default: grows with --messages, 12..2000).
        #[arg(long)]
        channels: Option<usize>,
        /// Users, conversations and days as for an export of this many messages, filled
        /// with --messages (busier days): to vary the message count alone.
        #[arg(long)]
        shape: Option<u64>,
        /// Write an unpacked directory instead of a zip.
        #[arg(long)]
        dir: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Measure the floor: inflate every .json entry of a zip and parse it into a JSON tree.
    Floor {
        /// The export zip.
        zip: PathBuf,
        /// Worker threads, each with its own reader over the zip.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Repeat the measurement and report the fastest run.
        #[arg(long, default_value_t = 1)]
        runs: usize,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Benchmark `chatport extract` on a generated zip (cached in --bench-dir): wall time,
    /// messages/s, peak RSS of the child, and the ratio to the floor.
    ExtractBench {
        /// Messages in the generated export.
        #[arg(long, default_value_t = 1_000_000)]
        messages: u64,
        /// Generator seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Generate the export with the users, conversations and days of one of this many
        /// messages (see `generate --shape`).
        #[arg(long)]
        shape: Option<u64>,
        /// Keep the extraction output in --bench-dir.
        #[arg(long)]
        keep: bool,
        /// The chatport binary to run.
        #[arg(long, env = "CHATPORT_BIN", default_value = "target/release/chatport")]
        chatport: PathBuf,
        /// Directory for cached exports and extraction output.
        #[arg(long, default_value = "bench-out")]
        bench_dir: PathBuf,
        /// Do not compare the manifest's counts with the generator's.
        #[arg(long)]
        no_verify: bool,
        /// Floor measurements per thread count (1 and 2); the fastest is reported.
        #[arg(long, default_value_t = 3)]
        floor_runs: usize,
        /// Extractor runs; the fastest is reported, as for the floor, with the highest
        /// peak memory of any run.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn print_floor(f: &FloorReport) {
    println!(
        "floor ({} thread{}): {} entries, {:.1} MB inflated, {} messages, {:.3} s, {:.0} messages/s \
         (thread time: inflate {:.2} s, parse {:.2} s; numbers parsed with serde_json's arbitrary_precision)",
        f.threads,
        if f.threads == 1 { "" } else { "s" },
        f.entries,
        f.bytes_inflated as f64 / 1e6,
        f.messages,
        f.seconds,
        f.messages_per_second(),
        f.inflate_cpu_seconds,
        f.parse_cpu_seconds
    );
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "MISSED"
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chatport-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Cmd::Generate { messages, out, seed, channels, shape, dir, json } => {
            let report = generate(&GenerateOptions {
                messages,
                seed,
                channels,
                shape,
                layout: if dir { Layout::Dir } else { Layout::Zip },
                out: out.clone(),
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                let c = &report.counts;
                println!(
                    "wrote {} ({} files, {:.1} MB JSON, {:.1} MB on disk) in {:.2} s",
                    out.display(),
                    report.files_written,
                    report.json_bytes as f64 / 1e6,
                    report.output_bytes as f64 / 1e6,
                    report.seconds
                );
                println!(
                    "counts: users {} conversations {} messages {} replies {} reactions {} files {} ({})",
                    c.users,
                    c.conversations,
                    c.messages,
                    c.replies,
                    c.reactions,
                    c.files,
                    counts_path(&out).display()
                );
            }
        }
        Cmd::Floor { zip, threads, runs, json } => {
            let report = best_floor(&zip, threads, runs)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_floor(&report);
            }
        }
        Cmd::ExtractBench {
            messages,
            seed,
            shape,
            keep,
            chatport,
            bench_dir,
            no_verify,
            floor_runs,
            runs,
            json,
        } => {
            let r = extract_bench(&ExtractBenchOptions {
                messages,
                seed,
                shape,
                chatport,
                bench_dir,
                keep,
                verify: !no_verify,
                floor_runs,
                runs,
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                let rss_mib = r.extract_peak_rss_kib.unwrap_or(r.extract.peak_rss_kib) as f64 / 1024.0;
                println!(
                    "export: {} ({:.1} MB, {} messages)",
                    r.export.display(),
                    r.export_bytes as f64 / 1e6,
                    r.messages
                );
                let all: Vec<String> = r
                    .extract_seconds
                    .iter()
                    .map(|(wall, user, sys)| format!("{wall:.3} s (user {user:.2}, sys {sys:.2})"))
                    .collect();
                println!("chatport extract runs: {}; the fastest counts, as for the floor", all.join(", "));
                println!(
                    "chatport extract: {:.3} s, {:.0} messages/s [{} >= {:.0}], peak RSS {:.1} MiB [{} < {:.0}]",
                    r.extract.seconds,
                    r.messages_per_second,
                    verdict(r.messages_per_second >= TARGET_MESSAGES_PER_SECOND),
                    TARGET_MESSAGES_PER_SECOND,
                    rss_mib,
                    verdict(rss_mib < TARGET_PEAK_RSS_MIB),
                    TARGET_PEAK_RSS_MIB
                );
                if let (Some(anon), Some(file)) = (r.extract.peak_anon_kib, r.extract.peak_file_kib) {
                    println!(
                        "  of which (sampled every 10 ms): anonymous {:.1} MiB (the work), file-backed {:.1} MiB (mostly the binary's code)",
                        anon as f64 / 1024.0,
                        file as f64 / 1024.0
                    );
                }
                print_floor(&r.floor_1);
                print_floor(&r.floor_2);
                println!(
                    "ratio ours/floor(2 threads): {:.2}x [{} <= {:.1}x]",
                    r.ratio_to_floor,
                    verdict(r.ratio_to_floor <= TARGET_FLOOR_RATIO),
                    TARGET_FLOOR_RATIO
                );
            }
            if !r.count_mismatches.is_empty() {
                anyhow::bail!(
                    "manifest counts differ from the generator's:\n  {}",
                    r.count_mismatches.join("\n  ")
                );
            }
        }
    }
    Ok(())
}
