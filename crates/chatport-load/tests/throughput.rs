//! Throughput check for issue 5 part 6 (ignored by default; run with
//! `cargo test -p chatport-load --release --test throughput -- --ignored --nocapture`).
//!
//! Synthetic plans with 50 containers are loaded into the in-process emulator: a Teams
//! plan (one team, 50 channels) and a Chat plan (50 spaces), with quotas at the documented
//! limits on both sides and the emulator's clock sped up; and the Teams plan again with
//! quotas off at both sides, reporting operations per second.
//!
//! With quotas on, the run is measured against the plan's quota bound
//! (`chatport_load::dry_run::quota_bound`): the ideal schedule under every documented
//! quota (team creation and its poll, channel or space creation, the per-container and
//! per-tenant/project buckets with their bursts, a container's messages only after it
//! exists). The achieved share is the bound's time over the measured time. The
//! message-only figure (messages per second against the tenant/project message quota) and
//! the steady state are printed too. A third quotas-on run injects 429s with a one-second
//! `Retry-After` and some latency (a container waiting out a retry must not leave the
//! tenant's message quota unused), and the cost of computing the bound of a 1,000,000-
//! message plan (what `load --dry-run` does) is printed.

use std::path::Path;
use std::time::{Duration, Instant};

use chatport_emulator::config::FaultConfig;
use chatport_emulator::DirectoryUser;
use chatport_emulator::{start, EmulatorConfig, TestCredentials};
use chatport_load::dry_run::{quota_bound, QuotaBound};
use chatport_load::plan_dir::Plan;
use chatport_load::{load, ClientOptions, Endpoints, LoadOptions, QuotaOptions, RetryOptions};
use chatport_model::plan::{
    Action, Actor, Container, ContainerKind, Destination, Operation, OperationId, PlanCounts, PlanManifest,
    PLAN_FORMAT_VERSION,
};
use serde_json::json;

const CHANNELS: usize = 50;

fn write_teams_plan(dir: &Path, per_channel: usize) -> usize {
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

/// A Chat plan: 50 spaces in import mode, `per_space` messages each (senders alternate
/// between two users; every tenth message is a reply).
fn write_chat_plan(dir: &Path, per_space: usize) -> usize {
    std::fs::create_dir_all(dir.join("ops")).unwrap();
    let base = 1_600_000_000_000_000i64;
    let fmt = |m: i64| chatport_model::ts::format_rfc3339(m, 6);
    let user = |u: &str| Actor::User { id: u.to_string() };
    let mut containers = Vec::new();
    let mut messages = 0;
    for c in 0..CHANNELS {
        let id = format!("sp{c:02}");
        let mut lines = String::new();
        let mut push = |op: &Operation| {
            lines.push_str(&serde_json::to_string(op).unwrap());
            lines.push('\n');
        };
        push(&Operation {
            id: OperationId(format!("{id}/create")),
            seq: 0,
            container: id.clone(),
            actor: user("admin@example.com"),
            action: Action::ChatCreateSpace {
                request_id: format!("00000000-0000-4000-8000-{c:012}"),
                space: json!({"spaceType": "SPACE", "importMode": true, "createTime": fmt(base),
                              "displayName": format!("bench space {c}"), "externalUserAllowed": false}),
            },
            source: None,
        });
        for m in 0..per_space {
            let root = m - m % 10;
            push(&Operation {
                id: OperationId(format!("{id}/msg/{m}")),
                seq: m as u64 + 1,
                container: id.clone(),
                actor: user(if m % 2 == 0 { "ann@example.com" } else { "bob@example.com" }),
                action: Action::ChatCreateMessage {
                    message_id: format!("client-b{c}-{m}"),
                    reply_option: (m != root).then(|| "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD".to_string()),
                    message: json!({"text": format!("message {m}"), "createTime": fmt(base + 1_000_000 + m as i64 * 1000),
                                    "thread": {"threadKey": format!("t{root}")}}),
                    attachments: Vec::new(),
                },
                source: None,
            });
            messages += 1;
        }
        std::fs::write(dir.join(format!("ops/{id}.jsonl")), lines).unwrap();
        containers.push(Container {
            id: id.clone(),
            kind: ContainerKind::ChatSpace,
            parent: None,
            conversation: None,
            display_name: format!("bench space {c}"),
            create_time: fmt(base),
            ops_path: format!("ops/{id}.jsonl"),
            op_count: per_space as u64 + 1,
            message_count: per_space as u64,
        });
    }
    let text: String =
        containers.iter().map(|c| format!("{}\n", serde_json::to_string(c).unwrap())).collect();
    std::fs::write(dir.join("containers.jsonl"), text).unwrap();
    let manifest = PlanManifest {
        format_version: PLAN_FORMAT_VERSION,
        destination: Destination::Chat,
        canonical_sha256: "bench".into(),
        options: json!({}),
        counts: PlanCounts::default(),
        files: Vec::new(),
    };
    std::fs::write(dir.join("manifest.json"), serde_json::to_string(&manifest).unwrap()).unwrap();
    messages
}

/// What one benchmark run measured.
struct Measured {
    secs: f64,
    messages: usize,
    operations: u64,
    retries: u64,
    steady: f64,
    timeline: String,
    bound: Option<QuotaBound>,
}

async fn run(dest: Destination, quotas: bool, scale: f64, per_container: usize) -> Measured {
    run_with(dest, quotas, scale, per_container, FaultConfig::default()).await
}

async fn run_with(
    dest: Destination,
    quotas: bool,
    scale: f64,
    per_container: usize,
    faults: FaultConfig,
) -> Measured {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan");
    let messages = match dest {
        Destination::Teams => write_teams_plan(&plan, per_container),
        Destination::Chat => write_chat_plan(&plan, per_container),
    };
    let quota_opts = QuotaOptions { enabled: quotas, scale, ..QuotaOptions::default() };
    let bound = quotas.then(|| quota_bound(&Plan::read(&plan).unwrap(), &quota_opts));
    let creds = TestCredentials::generate().unwrap();
    let mut c = EmulatorConfig {
        time_scale: scale,
        auto_users_domain: Some("example.com".into()),
        faults,
        users: vec![DirectoryUser::new("admin@example.com")],
        ..EmulatorConfig::local(dir.path().join("emu"), &creds)
    };
    c.quotas.enabled = quotas;
    let emu = start(c).await.unwrap();
    creds.write(&dir.path().join("creds"), Some(&emu.base_url())).unwrap();
    let progress = std::sync::Arc::new(Probe::default());
    let opts = LoadOptions {
        client: ClientOptions {
            endpoints: Endpoints::single(&emu.base_url()),
            microsoft_app: Some(dir.path().join("creds/microsoft-app.json")),
            google_key: Some(dir.path().join("creds/google-service-account.json")),
            concurrency: CHANNELS + 1,
            quotas: quota_opts,
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
    let timeline = progress.timeline(started);
    Measured {
        secs,
        messages,
        operations: s.done,
        retries: s.retries,
        steady: progress.steady_rate(),
        timeline,
        bound,
    }
}

fn report_quotas_on(what: &str, scale: f64, message_quota: f64, m: &Measured) {
    let b = m.bound.as_ref().expect("quotas on");
    let rate = m.operations as f64 / m.secs;
    let msg_rate = m.messages as f64 / m.secs;
    eprintln!(
        "{what}, quotas on (time scale {scale}): {} operations ({} messages) in {:.2} s = {rate:.0} ops/s end to end; \
         quota-bound maximum: the plan in {:.2} s ({:.0} ops/s; lower bound {:.2} s, first message at {:.2} s) \
         -> {:.1}% of the quota-bound maximum rate; message-only: {msg_rate:.0} messages/s = {:.0}% of the \
         {message_quota:.0}/s message quota; steady state {:.0} messages/s ({:.0}%); {} retries; {}",
        m.operations,
        m.messages,
        m.secs,
        b.seconds,
        m.operations as f64 / b.seconds,
        b.lower_bound_seconds,
        b.first_message_seconds,
        100.0 * b.seconds / m.secs,
        100.0 * msg_rate / message_quota,
        m.steady,
        100.0 * m.steady / message_quota,
        m.retries,
        m.timeline
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "throughput measurement; run explicitly"]
async fn throughput_against_the_emulator() {
    let env = |k: &str, d: f64| std::env::var(k).ok().and_then(|s| s.parse().ok()).unwrap_or(d);
    // CHATPORT_BENCH_CASES=teams,chat,off,faults,dry-run (default: all) picks the runs.
    let cases =
        std::env::var("CHATPORT_BENCH_CASES").unwrap_or_else(|_| "teams,chat,off,faults,dry-run".into());
    let wanted = |c: &str| cases.split(',').any(|x| x.trim() == c);
    if wanted("teams") {
        let scale = env("CHATPORT_BENCH_SCALE", 5.0);
        let m = run(Destination::Teams, true, scale, 40).await;
        report_quotas_on("teams", scale, 50.0 * scale, &m);
    }
    if wanted("chat") {
        // Chat quotas are per minute (3,000 message writes per project, 60 writes per
        // space, both as a burst): a faster clock and more messages per space, so that
        // the run is about as long as the Teams one and not all burst.
        let chat_scale = env("CHATPORT_BENCH_CHAT_SCALE", 20.0);
        let m = run(Destination::Chat, true, chat_scale, 200).await;
        report_quotas_on("chat", chat_scale, 50.0 * chat_scale, &m);
    }
    if wanted("off") {
        let m = run(Destination::Teams, false, 1.0, 100).await;
        eprintln!(
            "teams, quotas off: {} operations in {:.2} s = {:.0} ops/s, {} retries",
            m.operations,
            m.secs,
            m.operations as f64 / m.secs,
            m.retries
        );
    }
    if wanted("faults") {
        // 1% of requests answered 429 with Retry-After: 1 (wall) second, 2-7 ms of latency:
        // a container waiting out its retry must not leave the tenant bucket idle.
        let scale = env("CHATPORT_BENCH_SCALE", 5.0);
        let faults = FaultConfig {
            seed: 7,
            rate_429: 0.01,
            retry_after_secs: 1,
            latency_ms: 2,
            latency_jitter_ms: 5,
            ..FaultConfig::default()
        };
        let m = run_with(Destination::Teams, true, scale, 40, faults).await;
        report_quotas_on(
            "teams with 1% injected 429s (Retry-After 1 s) and 2-7 ms latency",
            scale,
            50.0 * scale,
            &m,
        );
    }
    if wanted("dry-run") {
        // The quota bound of a large plan, as `load --dry-run` computes it.
        let dir = tempfile::tempdir().unwrap();
        let messages = write_chat_plan(&dir.path().join("plan"), 20_000);
        let plan = Plan::read(&dir.path().join("plan")).unwrap();
        let started = Instant::now();
        let b = quota_bound(&plan, &QuotaOptions::default());
        eprintln!(
            "dry run of {messages} messages in {CHANNELS} spaces: quota bound {:.0} s, computed in {:.2} s",
            b.seconds,
            started.elapsed().as_secs_f64()
        );
    }
}

#[test]
fn the_bench_plans_have_the_expected_quota_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let q = |scale: f64| QuotaOptions { scale, ..QuotaOptions::default() };
    write_teams_plan(&dir.path().join("teams"), 40);
    let b = quota_bound(&Plan::read(&dir.path().join("teams")).unwrap(), &q(5.0));
    // 2,000 messages at 250/s after the tenant's burst of 50: 7.8 s; the first channels
    // cannot use the whole tenant rate while the others are still being created.
    assert_eq!((b.requests, b.messages), (2052, 2000));
    assert!((b.lower_bound_seconds - 7.8).abs() < 1e-6, "{b:?}");
    assert!(b.seconds > 7.8 && b.seconds < 8.0, "{b:?}");
    write_chat_plan(&dir.path().join("chat"), 200);
    let b = quota_bound(&Plan::read(&dir.path().join("chat")).unwrap(), &q(20.0));
    // `creates` (34: fewer than 35 a minute) spaces at once, the rest of the 50 at that
    // rate per minute (×20); then the last one's 200 messages: 60 at once, 140 at 60/min
    // (×20): 7 s more.
    let creates = QuotaOptions::default().chat_space_creates;
    let expected = (50.0 - creates) / (creates / 60.0 * 20.0) + 7.0;
    assert!((b.seconds - expected).abs() < 1e-6, "{b:?}");
    assert!(b.lower_bound_seconds <= b.seconds);
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

    /// When the first, the 10th, 50th and 90th percentile and the last message finished,
    /// seconds after `start`.
    fn timeline(&self, start: Instant) -> String {
        let t = self.finished.lock().unwrap();
        if t.is_empty() {
            return "no messages".into();
        }
        let at = |i: usize| t[i.min(t.len() - 1)].duration_since(start).as_secs_f64();
        format!(
            "messages finished: first {:.2} s, 10% {:.2} s, 50% {:.2} s, 90% {:.2} s, last {:.2} s",
            at(0),
            at(t.len() / 10),
            at(t.len() / 2),
            at(t.len() * 9 / 10),
            at(t.len() - 1)
        )
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
