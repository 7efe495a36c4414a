//! Throughput check for issue 5 part 6 (ignored by default; run with
//! `cargo test -p chatport-load --release --test throughput -- --ignored --nocapture`).
//!
//! A synthetic Teams plan (one team, 50 channels, N messages each) is loaded into the
//! in-process emulator twice: with quotas at the documented limits on both sides and the
//! emulator's clock sped up, reporting the achieved message rate against the quota-bound
//! maximum (50 message POSTs/s per tenant × time scale); and with quotas off at both sides,
//! reporting operations per second.

use std::path::Path;
use std::time::{Duration, Instant};

use chatport_emulator::{start, EmulatorConfig, TestCredentials};
use chatport_load::{load, ClientOptions, Endpoints, LoadOptions, QuotaOptions, RetryOptions};
use chatport_model::plan::{
    Action, Actor, Container, ContainerKind, Destination, Operation, OperationId, PlanCounts, PlanManifest,
    PLAN_FORMAT_VERSION,
};
use serde_json::json;

const CHANNELS: usize = 50;

fn write_plan(dir: &Path, per_channel: usize) -> usize {
    std::fs::create_dir_all(dir.join("ops")).unwrap();
    let base = 1_600_000_000_000_000i64; // 2020-09-13, micros
    let fmt = |m: i64| chatport_model::ts::format_rfc3339(m, 3);
    let mut containers = vec![Container {
        id: "team".into(),
        kind: ContainerKind::TeamsTeam,
        parent: None,
        conversation: None,
        display_name: "Bench".into(),
        create_time: fmt(base),
        ops_path: "ops/team.jsonl".into(),
        op_count: 1,
        message_count: 0,
    }];
    let team_op = Operation {
        id: OperationId("team/create".into()),
        seq: 0,
        container: "team".into(),
        actor: Actor::App,
        action: Action::TeamsCreateTeam {
            team: json!({
                "@microsoft.graph.teamCreationMode": "migration",
                "template@odata.bind": "https://graph.microsoft.com/v1.0/teamsTemplates('standard')",
                "displayName": "Bench", "createdDateTime": fmt(base),
            }),
        },
        source: None,
    };
    std::fs::write(dir.join("ops/team.jsonl"), format!("{}\n", serde_json::to_string(&team_op).unwrap()))
        .unwrap();
    let mut messages = 0;
    for c in 0..CHANNELS {
        let id = format!("ch{c:02}");
        let mut lines = String::new();
        let create = Operation {
            id: OperationId(format!("{id}/create")),
            seq: 0,
            container: id.clone(),
            actor: Actor::App,
            action: Action::TeamsCreateChannel {
                channel: json!({
                    "@microsoft.graph.channelCreationMode": "migration", "displayName": format!("channel {c}"),
                    "membershipType": "standard", "createdDateTime": fmt(base + 1000),
                }),
            },
            source: None,
        };
        lines.push_str(&serde_json::to_string(&create).unwrap());
        lines.push('\n');
        for m in 0..per_channel {
            let op = Operation {
                id: OperationId(format!("{id}/msg/{m}")),
                seq: m as u64 + 1,
                container: id.clone(),
                actor: Actor::App,
                action: Action::TeamsPostMessage {
                    reply_to: None,
                    message: json!({
                        "createdDateTime": fmt(base + 2_000_000 + m as i64 * 1000),
                        "from": {"user": {"id": "11111111-2222-3333-4444-555555555555", "displayName": "Bench", "userIdentityType": "aadUser"}},
                        "body": {"contentType": "html", "content": format!("<p>message {m}</p>")},
                    }),
                    hosted_contents: Vec::new(),
                    files: Vec::new(),
                },
                source: None,
            };
            lines.push_str(&serde_json::to_string(&op).unwrap());
            lines.push('\n');
            messages += 1;
        }
        std::fs::write(dir.join(format!("ops/{id}.jsonl")), lines).unwrap();
        containers.push(Container {
            id: id.clone(),
            kind: ContainerKind::TeamsChannel,
            parent: Some("team".into()),
            conversation: None,
            display_name: format!("channel {c}"),
            create_time: fmt(base + 1000),
            ops_path: format!("ops/{id}.jsonl"),
            op_count: per_channel as u64 + 1,
            message_count: per_channel as u64,
        });
    }
    let text: String =
        containers.iter().map(|c| format!("{}\n", serde_json::to_string(c).unwrap())).collect();
    std::fs::write(dir.join("containers.jsonl"), text).unwrap();
    let manifest = PlanManifest {
        format_version: PLAN_FORMAT_VERSION,
        destination: Destination::Teams,
        canonical_sha256: "bench".into(),
        options: json!({}),
        counts: PlanCounts::default(),
        files: Vec::new(),
    };
    std::fs::write(dir.join("manifest.json"), serde_json::to_string(&manifest).unwrap()).unwrap();
    messages
}

async fn run(quotas: bool, scale: f64, per_channel: usize) -> (f64, usize, u64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan");
    let messages = write_plan(&plan, per_channel);
    let creds = TestCredentials::generate().unwrap();
    let mut c = EmulatorConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("emu"),
        time_scale: scale,
        ..EmulatorConfig::default()
    };
    c.quotas.enabled = quotas;
    c.microsoft_apps = vec![creds.microsoft_trust()];
    let emu = start(c).await.unwrap();
    creds.write(&dir.path().join("creds"), Some(&emu.base_url())).unwrap();
    let progress = std::sync::Arc::new(Probe::default());
    let opts = LoadOptions {
        client: ClientOptions {
            endpoints: Endpoints::single(&emu.base_url()),
            microsoft_app: Some(dir.path().join("creds/microsoft-app.json")),
            concurrency: CHANNELS + 1,
            quotas: QuotaOptions { enabled: quotas, scale, ..QuotaOptions::default() },
            retry: RetryOptions {
                max_attempts: 20,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::from_secs(2),
            },
            poll_interval: Duration::from_millis(10),
            progress: progress.clone(),
            ..ClientOptions::default()
        },
        dry_run: false,
    };
    let started = Instant::now();
    let s = load(&plan, dir.path(), &dir.path().join("state.db"), &opts).await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert!(s.is_complete(), "{:#?}", s.failures);
    let counters: serde_json::Value =
        reqwest::get(format!("{}/__admin/counters", emu.base_url())).await.unwrap().json().await.unwrap();
    let throttled: Vec<String> = counters
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with("throttled") || k.starts_with("status."))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    eprintln!("emulator: {}", throttled.join(" "));
    emu.shutdown().await;
    (secs, messages, s.retries, progress.steady_rate())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "throughput measurement; run explicitly"]
async fn throughput_against_the_emulator() {
    let scale: f64 = std::env::var("CHATPORT_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let (secs, messages, retries, steady) = run(true, scale, 40).await;
    let bound = 50.0 * scale; // message POSTs per second per tenant, scaled
    let rate = messages as f64 / secs;
    eprintln!(
        "quotas on (time scale {scale}): {messages} messages in {secs:.2} s = {rate:.0}/s end to end ({:.0}% of the quota bound {bound:.0}/s), steady state {steady:.0}/s ({:.0}%), {retries} retries",
        100.0 * rate / bound,
        100.0 * steady / bound
    );
    let (secs, messages, retries, _) = run(false, 1.0, 100).await;
    let ops = messages + CHANNELS + 1;
    eprintln!(
        "quotas off: {ops} operations in {secs:.2} s = {:.0} ops/s, {retries} retries",
        ops as f64 / secs
    );
}

/// Prints the first few retry reasons (which quota the server enforced) and records when
/// each message operation finished.
#[derive(Default)]
struct Probe {
    retries: std::sync::atomic::AtomicU32,
    finished: std::sync::Mutex<Vec<Instant>>,
}

impl Probe {
    /// Messages per second between the 5th and the 95th percentile of completions (the
    /// steady state, without team/channel creation and the tail).
    fn steady_rate(&self) -> f64 {
        let t = self.finished.lock().unwrap();
        let (a, b) = (t.len() / 20, t.len() * 19 / 20);
        if b <= a + 1 {
            return 0.0;
        }
        (b - a) as f64 / t[b - 1].duration_since(t[a]).as_secs_f64()
    }
}

impl chatport_load::Progress for Probe {
    fn retry(&self, container: &str, operation: &str, reason: &str) {
        if self.retries.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 3 {
            eprintln!("retry {container} {operation}: {reason}");
        }
    }
    fn operation_finished(&self, _: &str, operation: &str, _: chatport_load::OpOutcome) {
        if operation.contains("/msg/") {
            self.finished.lock().unwrap().push(Instant::now());
        }
    }
}
