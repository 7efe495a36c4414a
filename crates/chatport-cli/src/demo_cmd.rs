//! `chatport demo`: the whole pipeline on the bundled sample export against the embedded
//! emulator, with generated test credentials: extract → transform (Chat and Teams) → load →
//! verify → complete, then a short report. No cloud account is needed.

use crate::Outcome;
use chatport_emulator::{DirectoryUser, EmulatorConfig, TestCredentials};
use chatport_load::{ClientOptions, CompleteOptions, Endpoints, LoadOptions, VerifyOptions};
use chatport_model::plan::Destination;
use chatport_transform::plan::PlanOptions;
use clap::Args;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The account Teams messages of unmapped users are posted as in the demo.
const DEMO_FALLBACK: &str = "00000000-0000-4000-8000-00000000f411";

/// Flags of `chatport demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The Slack export to run (default: the bundled sample).
    #[arg(long, default_value = "fixtures/slack/sample-export")]
    pub export: PathBuf,
    /// Where every stage writes (canonical/, plan-chat/, plan-teams/, emulator state,
    /// credentials, load state). Replaced on each run.
    #[arg(long, default_value = "out/demo")]
    pub out: PathBuf,
}

fn step(name: &str) {
    println!("\n== {name}");
}

/// Runs the demo.
pub fn demo(a: DemoArgs) -> anyhow::Result<Outcome> {
    if a.out.exists() {
        std::fs::remove_dir_all(&a.out)?;
    }
    std::fs::create_dir_all(&a.out)?;
    let canonical = a.out.join("canonical");

    step("extract");
    let (manifest, warnings) = chatport_extract::extract_slack(
        &a.export,
        &canonical,
        &chatport_extract::ExtractOptions::default(),
        &chatport_extract::NoProgress,
    )?;
    let c = &manifest.counts;
    println!(
        "{} users, {} conversations, {} messages, {} replies, {} reactions, {} files, {} warnings",
        c.users, c.conversations, c.messages, c.replies, c.reactions, c.files, warnings.total
    );
    let v = chatport_model::inspect::validate(&canonical);
    println!(
        "validate: {}",
        if v.is_clean() { "clean".to_owned() } else { format!("{} problems", v.problems.len()) }
    );

    step("transform");
    let now = i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_micros())?;
    let mut plans = Vec::new();
    for dest in [Destination::Chat, Destination::Teams] {
        let mut o = PlanOptions::new(dest, now);
        o.importer = Some("admin@example.com".into());
        o.fallback_user = Some(DEMO_FALLBACK.into());
        o.team_name = "Sample workspace".into();
        let dir = a.out.join(format!("plan-{}", dest.as_str()));
        let s = chatport_transform::plan::transform(&canonical, &dir, o, None)?;
        let k = &s.manifest.counts;
        println!(
            "{}: {} containers, {} operations; {} messages carried, {} dropped, {} report entries",
            dest.as_str(),
            k.containers,
            k.operations,
            k.messages_carried,
            k.messages_dropped,
            k.report_entries
        );
        plans.push((dest, dir));
    }

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let ok = rt.block_on(run_against_emulator(&a.out, &canonical, &plans))?;
    println!(
        "\nEverything is in {}: canonical/, plan-*/ (report.jsonl, verify/), load state, emulator data.",
        a.out.display()
    );
    Ok(if ok { Outcome::Clean } else { Outcome::Problems })
}

async fn run_against_emulator(
    out: &Path,
    canonical: &Path,
    plans: &[(Destination, PathBuf)],
) -> anyhow::Result<bool> {
    step("emulator");
    let creds = TestCredentials::generate()?;
    let mut config = EmulatorConfig {
        auto_users_domain: Some("example.com".into()),
        ..EmulatorConfig::local(out.join("emulator"), &creds)
    };
    // Users of other domains in the sample (a guest) are known to the directory too.
    let users: Vec<chatport_model::User> =
        chatport_model::jsonl::read_jsonl(&canonical.join("users.jsonl"))?.collect::<Result<_, _>>()?;
    config.users = users
        .iter()
        .filter_map(|u| u.email.as_deref())
        .filter(|e| !e.ends_with("@example.com"))
        .map(DirectoryUser::new)
        .collect();
    // Quotas off: at the documented 1 write/s per space the demo would take minutes.
    config.quotas.enabled = false;
    let emu = chatport_emulator::start(config).await?;
    let base = emu.base_url();
    let files = creds.write(&out.join("credentials"), Some(&base))?;
    let _ = files;
    println!(
        "serving Google Chat and Microsoft Graph at {base} (quotas off, test credentials in {})",
        out.join("credentials").display()
    );

    let client = ClientOptions {
        endpoints: Endpoints::single(&base),
        google_key: Some(out.join("credentials/google-service-account.json")),
        microsoft_app: Some(out.join("credentials/microsoft-app.json")),
        concurrency: 4,
        poll_interval: Duration::from_millis(20),
        progress: Arc::new(chatport_load::NoProgress),
        ..ClientOptions::default()
    };
    let mut client = client;
    client.quotas.enabled = false;
    let mut all_ok = true;
    for (dest, plan) in plans {
        let state = out.join(format!("state-{}.db", dest.as_str()));
        step(&format!("load → verify → complete ({})", dest.as_str()));
        let l = chatport_load::load(
            plan,
            canonical,
            &state,
            &LoadOptions { client: client.clone(), dry_run: false },
        )
        .await?;
        println!(
            "load: {} operations, {} done, {} failed, {} requests, {:.2} s",
            l.operations,
            l.done + l.already_done,
            l.failures.len(),
            l.requests,
            l.elapsed_secs
        );
        let v = chatport_load::verify(
            plan,
            &state,
            &VerifyOptions { client: client.clone(), out_dir: plan.join("verify") },
        )
        .await?;
        let found: u64 = v.containers.iter().map(|c| c.found_messages).sum();
        let expected: u64 = v.containers.iter().map(|c| c.expected_messages).sum();
        println!(
            "verify: {} ({found} of {expected} messages found)",
            if v.clean { "clean" } else { "DIFFERENCES (see verify/)" }
        );
        let c = chatport_load::complete(
            plan,
            &state,
            &CompleteOptions {
                client: client.clone(),
                force: false,
                verify_out: plan.join("verify"),
                expiry_warning: Duration::from_secs(7 * 86_400),
            },
        )
        .await?;
        println!("complete: {} containers completed, {} left alone", c.completed.len(), c.skipped.len());
        all_ok &= l.is_complete() && v.clean && c.skipped.is_empty();
    }
    emu.shutdown().await;
    Ok(all_ok)
}
