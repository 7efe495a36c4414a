//! `chatport load`, `verify` and `complete`: flags, progress bars and summaries around
//! `chatport-load`.

use crate::Outcome;
use chatport_load::{
    ClientOptions, CompleteOptions, Endpoints, LoadOptions, OpOutcome, Progress, VerifyOptions,
};
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Connection and credential flags shared by `load`, `verify` and `complete`.
#[derive(Debug, Args, Clone)]
pub struct ClientArgs {
    /// The SQLite state file that records every operation's intent and result (the same
    /// file for load, verify and complete; a re-run resumes from it).
    #[arg(long)]
    pub state: PathBuf,
    /// Base URL serving both APIs (the emulator, e.g. http://127.0.0.1:8080); default: the
    /// real Google Chat and Microsoft Graph endpoints.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Google service-account key file (JSON) with domain-wide delegation (Chat plans).
    #[arg(long, env = "CHATPORT_GOOGLE_KEY")]
    pub google_key: Option<PathBuf>,
    /// Microsoft app file (JSON: tenant_id, client_id, and client_secret or certificate +
    /// private_key PEM paths) (Teams plans).
    #[arg(long, env = "CHATPORT_MICROSOFT_APP")]
    pub microsoft_app: Option<PathBuf>,
    /// Containers loaded at the same time (operations within one are always in order); the
    /// project/tenant quotas need about 50 Chat spaces or 13 Teams channels at once.
    #[arg(long, default_value_t = chatport_load::options::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// Turn the client-side quota buckets off (server 429s are still honoured).
    #[arg(long)]
    pub no_quotas: bool,
    /// Multiply every client-side quota (e.g. the emulator's --time-scale).
    #[arg(long, default_value_t = 1.0)]
    pub quota_scale: f64,
    /// Seconds between polls of a Teams team-creation operation (Graph asks for 30+).
    #[arg(long, default_value_t = 30.0)]
    pub poll_seconds: f64,
    /// Logs on stderr as JSON lines instead of progress bars.
    #[arg(long, value_parser = ["text", "json"], default_value = "text")]
    pub log_format: String,
}

impl ClientArgs {
    fn options(&self, progress: Arc<dyn Progress>) -> ClientOptions {
        let mut c = ClientOptions {
            google_key: self.google_key.clone(),
            microsoft_app: self.microsoft_app.clone(),
            concurrency: self.concurrency.max(1),
            poll_interval: Duration::from_secs_f64(self.poll_seconds.max(0.0)),
            progress,
            ..ClientOptions::default()
        };
        if let Some(e) = &self.endpoint {
            c.endpoints = Endpoints::single(e);
        }
        c.quotas.enabled = !self.no_quotas;
        c.quotas.scale = self.quota_scale;
        c
    }
}

/// Flags of `chatport load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The plan directory (output of `chatport transform`).
    pub plan: PathBuf,
    /// The canonical directory the plan was made from (file contents are read from its
    /// blobs/).
    #[arg(long)]
    pub canonical: PathBuf,
    #[command(flatten)]
    pub client: ClientArgs,
    /// Walk the plan and print what would be sent and the estimated time under the quotas;
    /// send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Teams: load a plan channel into an existing channel (startMigration with the plan's
    /// creation time) instead of creating it. KEY is the channel's container id, source
    /// conversation id or name. Repeatable. Recorded in the state file, so a re-run
    /// needs it no more; a planned team whose channels all go to one existing team is not
    /// created.
    #[arg(long = "existing-channel", value_name = "KEY=TEAM_ID/CHANNEL_ID")]
    pub existing_channel: Vec<chatport_load::teams::ExistingChannel>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `chatport verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The plan directory that was loaded.
    pub plan: PathBuf,
    #[command(flatten)]
    pub client: ClientArgs,
    /// Where to write verify.json and one CSV per container with differences (default:
    /// `<plan>/verify`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Flags of `chatport complete`.
#[derive(Debug, Args)]
pub struct CompleteArgs {
    /// The plan directory that was loaded.
    pub plan: PathBuf,
    #[command(flatten)]
    pub client: ClientArgs,
    /// Complete containers even if they did not verify clean.
    #[arg(long)]
    pub force: bool,
    /// Warn about Chat spaces whose import mode ends within this many days.
    #[arg(long, default_value_t = 7)]
    pub expiry_warning_days: u64,
}

/// Progress bars: one overall bar and one per running container (on a terminal only).
pub struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    containers: Mutex<HashMap<String, ProgressBar>>,
    retries: std::sync::atomic::AtomicU64,
    failures: std::sync::atomic::AtomicU64,
}

impl Bars {
    /// Bars on stderr, hidden when it is not a terminal or `hidden`.
    pub fn new(hidden: bool) -> Arc<Bars> {
        let multi = if hidden {
            MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
        } else {
            MultiProgress::new()
        };
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} ops {per_sec} eta {eta} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        overall.set_prefix("overall");
        Arc::new(Bars {
            multi,
            overall,
            containers: Mutex::new(HashMap::new()),
            retries: Default::default(),
            failures: Default::default(),
        })
    }

    fn message(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        self.overall.set_message(format!(
            "retries {} failures {}",
            self.retries.load(Relaxed),
            self.failures.load(Relaxed)
        ));
    }

    /// Removes the bars.
    pub fn finish(&self) {
        self.overall.finish_and_clear();
        let _ = self.multi.clear();
    }
}

impl Progress for Bars {
    fn run_started(&self, _containers: u64, operations: u64) {
        self.overall.set_length(operations);
    }
    fn container_started(&self, container: &str, operations: u64) {
        let bar = self.multi.add(ProgressBar::new(operations));
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(container.chars().take(12).collect::<String>());
        if let Ok(mut m) = self.containers.lock() {
            m.insert(container.to_owned(), bar);
        }
    }
    fn operation_finished(&self, container: &str, _operation: &str, outcome: OpOutcome) {
        self.overall.inc(1);
        if let Ok(m) = self.containers.lock() {
            if let Some(b) = m.get(container) {
                b.inc(1);
            }
        }
        if matches!(outcome, OpOutcome::Failed) {
            self.failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.message();
        }
    }
    fn retry(&self, _container: &str, _operation: &str, _reason: &str) {
        self.retries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.message();
    }
    fn container_finished(&self, container: &str, _failed: u64) {
        if let Ok(mut m) = self.containers.lock() {
            if let Some(b) = m.remove(container) {
                b.finish_and_clear();
                self.multi.remove(&b);
            }
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn init_logs(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHATPORT_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if format == "json" { "info" } else { "warn" })
    });
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter);
    let _ = if format == "json" { builder.json().try_init() } else { builder.try_init() };
}

/// Runs `load`.
pub fn load(a: LoadArgs) -> anyhow::Result<Outcome> {
    init_logs(&a.client.log_format);
    let bars = Bars::new(a.client.log_format == "json" || a.json || a.dry_run);
    let opts = LoadOptions { client: a.client.options(bars.clone()), dry_run: a.dry_run };
    if !a.existing_channel.is_empty() {
        let bound = if a.dry_run {
            let plan = chatport_load::plan_dir::Plan::read(&a.plan)?;
            chatport_load::teams::resolve_existing(&plan, &a.existing_channel)?
        } else {
            chatport_load::teams::bind_existing_channels(&a.plan, &a.client.state, &a.existing_channel)?
        };
        for (container, t) in &bound {
            match &t.channel_id {
                Some(ch) => eprintln!("{container}: existing channel {ch} of team {}", t.team_id),
                None => eprintln!("{container}: existing team {} (not created)", t.team_id),
            }
        }
    }
    let summary = runtime()?.block_on(chatport_load::load(&a.plan, &a.canonical, &a.client.state, &opts));
    bars.finish();
    let summary = summary?;
    if a.json || a.dry_run {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "loaded {}: {} operations in {} containers: {} done now, {} already done, {} failed; {} requests, {} retries, {:.1} s",
            a.plan.display(),
            summary.operations,
            summary.containers,
            summary.done,
            summary.already_done,
            summary.failures.len(),
            summary.requests,
            summary.retries,
            summary.elapsed_secs
        );
        for f in summary.failures.iter().take(20) {
            println!("  failed: {}", serde_json::to_string(f)?);
        }
        for w in &summary.warnings {
            println!("  warning: {w}");
        }
    }
    Ok(if summary.is_complete() { Outcome::Clean } else { Outcome::Problems })
}

/// Runs `verify`.
pub fn verify(a: VerifyArgs) -> anyhow::Result<Outcome> {
    init_logs(&a.client.log_format);
    let out = a.out.clone().unwrap_or_else(|| a.plan.join("verify"));
    let opts =
        VerifyOptions { client: a.client.options(Arc::new(chatport_load::NoProgress)), out_dir: out.clone() };
    let report = runtime()?.block_on(chatport_load::verify(&a.plan, &a.client.state, &opts))?;
    let dirty: Vec<&str> =
        report.containers.iter().filter(|c| !c.clean).map(|c| c.container.as_str()).collect();
    println!(
        "verified {}: {} containers, {} clean{}; details in {}",
        a.plan.display(),
        report.containers.len(),
        report.containers.len() - dirty.len(),
        if dirty.is_empty() { String::new() } else { format!(", differences in {}", dirty.join(", ")) },
        out.join("verify.json").display()
    );
    // What the containers' phase kept verify from reading back, once per reason.
    let mut unchecked: Vec<&str> =
        report.containers.iter().flat_map(|c| c.unchecked.iter().map(String::as_str)).collect();
    unchecked.sort_unstable();
    unchecked.dedup();
    for u in unchecked {
        println!("  not checked in this phase: {u}");
    }
    Ok(if report.clean { Outcome::Clean } else { Outcome::Problems })
}

/// Runs `complete`.
pub fn complete(a: CompleteArgs) -> anyhow::Result<Outcome> {
    init_logs(&a.client.log_format);
    let opts = CompleteOptions {
        client: a.client.options(Arc::new(chatport_load::NoProgress)),
        force: a.force,
        verify_out: a.plan.join("verify"),
        expiry_warning: Duration::from_secs(a.expiry_warning_days * 86_400),
    };
    let s = runtime()?.block_on(chatport_load::complete(&a.plan, &a.client.state, &opts))?;
    println!(
        "completed {}: {} containers completed, {} left alone",
        a.plan.display(),
        s.completed.len(),
        s.skipped.len()
    );
    for (c, why) in &s.skipped {
        println!("  not completed: {c}: {why}");
    }
    for w in &s.expiry_warnings {
        println!("  warning: {w}");
    }
    Ok(if s.skipped.is_empty() && s.operations.failures.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Problems
    })
}
