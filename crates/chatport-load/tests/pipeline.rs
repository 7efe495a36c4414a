//! End-to-end tests of load → verify → complete against the in-process emulator over real
//! HTTP, on plans made from the bundled sample export: full pipelines for both
//! destinations, resume after crashes at seeded random points, injected 429/5xx/dropped
//! connections (including "write applied, response lost"), 4xx rejections and auth
//! failures.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use chatport_emulator::{start, DirectoryUser, EmulatorConfig, RunningEmulator, TestCredentials};
use chatport_load::{
    complete, load, verify, ClientOptions, CompleteOptions, Endpoints, LoadError, LoadOptions, QuotaOptions,
    RetryOptions, VerifyOptions,
};
use chatport_model::plan::{Action, Destination};
use rand::{Rng, SeedableRng};
use serde_json::Value;

#[path = "../../../tests/support/destination.rs"]
mod destination;
use destination::{count, planned};

const FALLBACK: &str = "11111111-2222-3333-4444-555555555555";

struct Fixture {
    _dir: tempfile::TempDir,
    canonical: PathBuf,
    chat: PathBuf,
    teams: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/slack/sample-export");
        let canonical = dir.path().join("canonical");
        chatport_extract::extract_slack(
            &root,
            &canonical,
            &Default::default(),
            &chatport_extract::NoProgress,
        )
        .unwrap();
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64;
        let chat = dir.path().join("plan-chat");
        let mut o = chatport_transform::plan::PlanOptions::new(Destination::Chat, now);
        o.importer = Some("admin@example.com".into());
        chatport_transform::plan::transform(&canonical, &chat, o, None).unwrap();
        let teams = dir.path().join("plan-teams");
        let mut o = chatport_transform::plan::PlanOptions::new(Destination::Teams, now);
        o.fallback_user = Some(FALLBACK.into());
        chatport_transform::plan::transform(&canonical, &teams, o, None).unwrap();
        Fixture { _dir: dir, canonical, chat, teams }
    })
}

fn creds() -> &'static TestCredentials {
    static C: OnceLock<TestCredentials> = OnceLock::new();
    C.get_or_init(|| TestCredentials::generate().unwrap())
}

struct Env {
    dir: tempfile::TempDir,
    emu: RunningEmulator,
    base: String,
}

impl Env {
    async fn start(tweak: impl FnOnce(&mut EmulatorConfig)) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let mut c = EmulatorConfig {
            auto_users_domain: Some("example.com".into()),
            users: vec![DirectoryUser::new("carol@guest.example.org")],
            ..EmulatorConfig::local(dir.path().join("emu"), creds())
        };
        c.quotas.enabled = false;
        tweak(&mut c);
        let emu = start(c).await.unwrap();
        let base = emu.base_url();
        creds().write(&dir.path().join("creds"), Some(&base)).unwrap();
        Env { dir, emu, base }
    }

    fn client(&self) -> ClientOptions {
        ClientOptions {
            endpoints: Endpoints::single(&self.base),
            google_key: Some(self.dir.path().join("creds/google-service-account.json")),
            microsoft_app: Some(self.dir.path().join("creds/microsoft-app.json")),
            concurrency: 4,
            quotas: QuotaOptions { enabled: false, ..QuotaOptions::default() },
            retry: RetryOptions {
                max_attempts: 12,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(50),
            },
            request_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_millis(10),
            ..ClientOptions::default()
        }
    }

    /// Options for `complete` in this environment (import-mode warnings a day ahead).
    fn complete_options(&self, force: bool, verify_dir: &str) -> CompleteOptions {
        CompleteOptions {
            client: self.client(),
            force,
            verify_out: self.dir.path().join(verify_dir),
            expiry_warning: Duration::from_secs(86_400),
        }
    }

    /// Replaces the emulator's fault settings (`{}`: no faults).
    async fn set_faults(&self, faults: &impl serde::Serialize) {
        reqwest::Client::new()
            .put(format!("{}/__admin/faults", self.base))
            .json(faults)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state.db")
    }

    async fn admin(&self, what: &str) -> Value {
        reqwest::get(format!("{}/__admin/{what}", self.base)).await.unwrap().json().await.unwrap()
    }

    async fn load(&self, plan: &Path) -> Result<chatport_load::LoadSummary, LoadError> {
        let opts = LoadOptions { client: self.client(), dry_run: false };
        load(plan, &fixture().canonical, &self.state(), &opts).await
    }

    async fn verify(&self, plan: &Path) -> chatport_load::VerifyReport {
        let opts = VerifyOptions { client: self.client(), out_dir: self.dir.path().join("verify") };
        verify(plan, &self.state(), &opts).await.unwrap()
    }
}

/// Destination counts equal the plan exactly (Chat).
async fn assert_chat_exact(env: &Env, plan: &Path) {
    destination::assert_chat_exact(&env.admin("state").await, plan, "chat");
}

/// Destination counts equal the plan exactly (Teams): no duplicate message or channel, and
/// no orphan team (a lost POST /teams answer is reconciled by looking the team up).
async fn assert_teams_exact(env: &Env, plan: &Path) -> usize {
    let st = env.admin("state").await;
    let teams = destination::assert_teams_exact(&st, plan, "teams");
    let expected = planned(plan, "teams_create_team");
    let g = &st["graph"];
    let busy: std::collections::BTreeSet<&str> = g["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["channel_id"].as_str())
        .filter_map(|c| g["channels"].as_array().unwrap().iter().find(|x| x["id"].as_str() == Some(c)))
        .filter_map(|c| c["team_id"].as_str())
        .collect();
    assert!(busy.len() <= expected);
    teams - expected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_full_pipeline_verifies_clean_and_completes() {
    let f = fixture();
    let env = Env::start(|c| c.rules.import_mode_days = 3).await;
    let s = env.load(&f.chat).await.unwrap();
    assert!(s.is_complete(), "{:#?}", s.failures);
    assert_eq!(s.retries, 0);
    assert_chat_exact(&env, &f.chat).await;
    // Upload tokens are capabilities: none stays in the state store once its message exists.
    let db = rusqlite::Connection::open(env.state()).unwrap();
    let with_token: i64 = db
        .query_row("SELECT count(*) FROM ops WHERE result LIKE '%attachmentUploadToken%'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(with_token, 0);
    let report = env.verify(&f.chat).await;
    assert!(report.clean, "{:#?}", report.containers);
    assert!(env.dir.path().join("verify/verify.json").exists());
    // A second load changes nothing.
    let again = env.load(&f.chat).await.unwrap();
    assert_eq!(again.done, 0);
    assert_eq!(again.requests, 0);
    let opts = CompleteOptions {
        expiry_warning: Duration::from_secs(7 * 86_400),
        ..env.complete_options(false, "verify2")
    };
    let c = complete(&f.chat, &env.state(), &opts).await.unwrap();
    assert!(c.operations.failures.is_empty(), "{:#?}", c.operations.failures);
    assert_eq!(c.completed.len(), planned(&f.chat, "chat_create_space"));
    // Import mode ends in 3 days: every space was close to its deadline.
    assert_eq!(c.expiry_warnings.len(), planned(&f.chat, "chat_create_space"), "{:?}", c.expiry_warnings);
    // Completing again is a no-op.
    let again =
        complete(&f.chat, &env.state(), &CompleteOptions { force: true, ..opts.clone() }).await.unwrap();
    assert_eq!(again.operations.done, 0);
    assert!(again.operations.failures.is_empty());
    let st = env.admin("state").await;
    assert_eq!(count(&st["chat"]["spaces"], |s| s["import_mode"].as_bool() == Some(true)), 0);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_full_pipeline_verifies_clean_and_completes() {
    let f = fixture();
    // Team creation answers `inProgress` twice before `succeeded`.
    let env = Env::start(|c| c.rules.graph_operation_polls = 2).await;
    let s = env.load(&f.teams).await.unwrap();
    assert!(s.is_complete(), "{:#?}", s.failures);
    assert_eq!(assert_teams_exact(&env, &f.teams).await, 0);
    let report = env.verify(&f.teams).await;
    assert!(report.clean, "{:#?}", report.containers);
    let opts = env.complete_options(false, "verify2");
    let c = complete(&f.teams, &env.state(), &opts).await.unwrap();
    assert!(c.operations.failures.is_empty(), "{:#?}", c.operations.failures);
    let st = env.admin("state").await;
    assert_eq!(count(&st["graph"]["teams"], |t| t["migration_mode"].as_str() == Some("inProgress")), 0);
    assert_eq!(count(&st["graph"]["members"], |_| true), planned(&f.teams, "teams_add_member"));
    env.emu.shutdown().await;
}

/// Loads `plan`, dropping the load future at up to 5 seeded random instants (each run
/// resumes the previous one), then finishes with an uninterrupted run. Returns the
/// environment and how many runs were actually interrupted.
async fn crash_and_resume(plan: &Path, seed: u64) -> (Env, u32) {
    let env = Env::start(|c| {
        c.faults.latency_ms = 2;
        c.faults.latency_jitter_ms = 6;
    })
    .await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut interrupted = 0;
    for _ in 0..5 {
        let at = Duration::from_micros(rng.gen_range(0..120_000));
        match tokio::time::timeout(at, env.load(plan)).await {
            Ok(r) => {
                let s = r.unwrap();
                assert!(s.is_complete(), "seed {seed}: {:#?}", s.failures);
                break;
            }
            Err(_) => interrupted += 1,
        }
    }
    let s = env.load(plan).await.unwrap();
    assert!(s.is_complete(), "seed {seed}: {:#?}", s.failures);
    (env, interrupted)
}

/// Operations whose result was reconciled with what the destination already had.
fn reconciled(env: &Env) -> i64 {
    let db = rusqlite::Connection::open(env.state()).unwrap();
    db.query_row("SELECT count(*) FROM ops WHERE result LIKE '%\"reconciled\":true%'", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_resumes_after_crashes_at_20_seeded_points() {
    let f = fixture();
    let mut interrupted = 0;
    let mut recon = 0;
    for seed in 0..20 {
        let (env, n) = crash_and_resume(&f.chat, seed).await;
        interrupted += n;
        recon += reconciled(&env);
        assert_chat_exact(&env, &f.chat).await;
        let report = env.verify(&f.chat).await;
        assert!(report.clean, "seed {seed}: {:#?}", report.containers);
        env.emu.shutdown().await;
    }
    eprintln!("chat: {interrupted} interrupted runs, {recon} operations reconciled");
    assert!(interrupted >= 20, "only {interrupted} runs were interrupted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_resumes_after_crashes_at_20_seeded_points() {
    let f = fixture();
    let mut orphans = 0;
    let mut interrupted = 0;
    let mut recon = 0;
    for seed in 100..120 {
        let (env, n) = crash_and_resume(&f.teams, seed).await;
        interrupted += n;
        recon += reconciled(&env);
        orphans += assert_teams_exact(&env, &f.teams).await;
        let report = env.verify(&f.teams).await;
        assert!(report.clean, "seed {seed}: {:#?}", report.containers);
        env.emu.shutdown().await;
    }
    eprintln!(
        "teams: {interrupted} interrupted runs, {recon} operations reconciled; orphan teams: {orphans}"
    );
    assert!(interrupted >= 20, "only {interrupted} runs were interrupted");
}

fn faulty(c: &mut EmulatorConfig, seed: u64) {
    c.faults.seed = seed;
    c.faults.rate_429 = 0.08;
    c.faults.rate_500 = 0.04;
    c.faults.rate_503 = 0.04;
    c.faults.drop_before = 0.04;
    c.faults.drop_after = 0.06;
    c.faults.retry_after_secs = 0;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_survives_429_5xx_and_lost_responses() {
    let f = fixture();
    for seed in [1, 2, 3] {
        let env = Env::start(|c| faulty(c, seed)).await;
        let s = env.load(&f.chat).await.unwrap();
        assert!(s.is_complete(), "{:#?}", s.failures);
        assert!(s.retries > 0);
        assert_chat_exact(&env, &f.chat).await;
        let report = env.verify(&f.chat).await;
        assert!(report.clean, "{:#?}", report.containers);
        env.emu.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_survives_429_5xx_and_lost_responses() {
    let f = fixture();
    for seed in [1, 2, 3] {
        let env = Env::start(|c| faulty(c, seed)).await;
        let s = env.load(&f.teams).await.unwrap();
        assert!(s.is_complete(), "{:#?}", s.failures);
        assert!(s.retries > 0);
        assert_teams_exact(&env, &f.teams).await;
        let report = env.verify(&f.teams).await;
        assert!(report.clean, "{:#?}", report.containers);
        env.emu.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_4xx_is_reported_once_and_the_run_goes_on() {
    let f = fixture();
    let env = Env::start(|c| c.rules.chat_max_message_bytes = 150).await;
    let s = env.load(&f.chat).await.unwrap();
    assert!(!s.failures.is_empty());
    assert_eq!(s.retries, 0, "a 400 is not retried");
    let rejected: Vec<_> = s.failures.iter().filter(|f| f.kind == "rejected").collect();
    assert!(
        rejected.iter().all(|f| f.action == "chat_create_message" && f.message.contains("INVALID_ARGUMENT")),
        "{rejected:#?}"
    );
    let counters = env.admin("counters").await;
    assert_eq!(counters["rejections.chat.message.too_large"].as_u64(), Some(rejected.len() as u64));
    assert!(s.done as usize > rejected.len(), "other operations still ran");
    let report = env.verify(&f.chat).await;
    assert!(!report.clean);
    assert!(report.files.iter().any(|p| p.extension().is_some_and(|e| e == "csv")));
    // Only spaces that verified clean are completed.
    let opts = env.complete_options(false, "verify2");
    let c = complete(&f.chat, &env.state(), &opts).await.unwrap();
    let dirty: Vec<&str> =
        report.containers.iter().filter(|c| !c.clean).map(|c| c.container.as_str()).collect();
    assert!(!dirty.is_empty());
    for d in &dirty {
        assert!(c.skipped.iter().any(|(id, _)| id == d), "{d} should be skipped");
        assert!(!c.completed.iter().any(|id| id == d));
    }
    assert_eq!(c.completed.len() + dirty.len(), report.containers.len());
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_failures_give_a_clear_error() {
    let f = fixture();
    // A key the emulator does not trust.
    let env = Env::start(|_| {}).await;
    let other = TestCredentials::generate().unwrap();
    let bad = env.dir.path().join("bad");
    other.write(&bad, Some(&env.base)).unwrap();
    let mut client = env.client();
    client.google_key = Some(bad.join("google-service-account.json"));
    client.microsoft_app = Some(bad.join("microsoft-app.json"));
    let opts = LoadOptions { client, dry_run: false };
    let e = load(&f.chat, &f.canonical, &env.state(), &opts).await.unwrap_err();
    assert!(matches!(e, LoadError::Auth { .. }), "{e}");
    assert!(e.to_string().contains("Invalid JWT Signature"), "{e}");
    assert!(!e.to_string().contains("PRIVATE KEY"));
    let e = load(&f.teams, &f.canonical, &env.dir.path().join("t.db"), &opts).await.unwrap_err();
    assert!(matches!(e, LoadError::Auth { .. }), "{e}");
    env.emu.shutdown().await;

    // Domain-wide delegation without chat.import.
    let env = Env::start(|c| {
        c.google_service_accounts[0].delegated_scopes =
            vec!["https://www.googleapis.com/auth/chat.bot".into()];
    })
    .await;
    let e = env.load(&f.chat).await.unwrap_err();
    assert!(e.to_string().contains("unauthorized_client"), "{e}");
    assert!(e.to_string().contains("admin@example.com"), "{e}");
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_estimates_time_under_the_quotas() {
    let f = fixture();
    let opts = LoadOptions { client: ClientOptions::default(), dry_run: true };
    let s = load(&f.chat, &f.canonical, Path::new("/nonexistent/state.db"), &opts).await.unwrap();
    let r = s.dry_run.unwrap();
    assert_eq!(r.requests as usize, {
        let p = chatport_load::plan_dir::Plan::read(&f.chat).unwrap();
        p.containers.iter().flat_map(|c| c.ops.iter()).filter(|o| !o.action.is_completion()).count()
    });
    // The sample fits in the per-minute bursts the Chat quotas allow.
    assert!(r.estimated_seconds < 5.0, "{r}");
    assert!(r.to_string().contains("chat per-space writes"));
    assert!(r.to_string().contains("quota bound: "), "{r}");
    // Per-space writes (uploads, messages, reactions) of the busiest space: at 6 writes per
    // minute per space it needs all but its burst of 6 more, 10 s apart.
    let busiest = {
        let p = chatport_load::plan_dir::Plan::read(&f.chat).unwrap();
        p.containers
            .iter()
            .map(|c| {
                c.ops
                    .iter()
                    .filter(|o| {
                        matches!(
                            o.action,
                            Action::ChatUploadAttachment { .. }
                                | Action::ChatCreateMessage { .. }
                                | Action::ChatCreateReaction { .. }
                        )
                    })
                    .count()
            })
            .max()
            .unwrap()
    };
    assert!(busiest > 6, "the sample's busiest space has only {busiest} writes");
    let mut slow = ClientOptions::default();
    slow.quotas.chat_space_writes = 6.0;
    let opts = LoadOptions { client: slow, dry_run: true };
    let r = load(&f.chat, &f.canonical, Path::new("/nonexistent/state.db"), &opts)
        .await
        .unwrap()
        .dry_run
        .unwrap();
    assert!(r.estimated_seconds >= (busiest - 6) as f64 * 10.0 - 1e-6, "{busiest} writes: {r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_quotas_keep_the_emulator_from_throttling() {
    let f = fixture();
    // Quotas on at both ends, time sped up 10x at both ends.
    let scale = 10.0;
    for plan in [&f.chat, &f.teams] {
        let env = Env::start(|c| {
            c.quotas.enabled = true;
            c.time_scale = scale;
        })
        .await;
        let mut client = env.client();
        client.quotas = QuotaOptions { enabled: true, scale, ..QuotaOptions::default() };
        let counter = std::sync::Arc::new(CountingProgress::default());
        client.progress = counter.clone();
        let opts = LoadOptions { client, dry_run: false };
        let s = load(plan, &f.canonical, &env.state(), &opts).await.unwrap();
        assert!(s.is_complete(), "{:#?}", s.failures);
        let counters = env.admin("counters").await;
        assert_eq!(counters["responses.429"].as_u64().unwrap_or(0), 0, "{counters}");
        assert_eq!(s.retries, 0);
        use std::sync::atomic::Ordering::Relaxed;
        assert_eq!(counter.ops.load(Relaxed), s.operations);
        assert_eq!(counter.containers.load(Relaxed), s.containers);
        env.emu.shutdown().await;
    }
}

#[derive(Default)]
struct CountingProgress {
    ops: std::sync::atomic::AtomicU64,
    containers: std::sync::atomic::AtomicU64,
}

impl chatport_load::Progress for CountingProgress {
    fn operation_finished(&self, _: &str, _: &str, _: chatport_load::OpOutcome) {
        self.ops.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    fn container_finished(&self, _: &str, _: u64) {
        self.containers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Writes a one-team, one-channel Teams plan whose message carries a file above the
/// simple-upload limit, and the canonical blob it needs.
fn large_file_plan(root: &Path, bytes: &[u8]) -> (PathBuf, PathBuf) {
    use chatport_model::plan::{
        Actor, BlobRef, Container, ContainerKind, Operation, OperationId, PlanCounts, PlanManifest,
    };
    use serde_json::json;
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(bytes));
    let canonical = root.join("canonical");
    let blob_path = format!("blobs/{}/{sha}", &sha[..2]);
    std::fs::create_dir_all(canonical.join(format!("blobs/{}", &sha[..2]))).unwrap();
    std::fs::write(canonical.join(&blob_path), bytes).unwrap();
    let plan = root.join("plan");
    std::fs::create_dir_all(plan.join("ops")).unwrap();
    let t0 = "2021-01-01T00:00:00.000Z";
    let op = |id: &str, seq: u64, container: &str, action: Action| Operation {
        id: OperationId(id.into()),
        seq,
        container: container.into(),
        actor: Actor::App,
        action,
        source: None,
    };
    // A team without a General container (as from a partial export), with its
    // completion operations.
    let team_ops = [
        op(
            "team/create",
            0,
            "team",
            Action::TeamsCreateTeam {
                team: json!({"@microsoft.graph.teamCreationMode": "migration", "displayName": "Files",
                "template@odata.bind": "https://graph.microsoft.com/v1.0/teamsTemplates('standard')", "createdDateTime": t0}),
            },
        ),
        op("team/complete", 1, "team", Action::TeamsCompleteTeam),
    ];
    let blob = BlobRef {
        path: blob_path,
        sha256: sha,
        bytes: bytes.len() as u64,
        filename: "big report.bin".into(),
        content_type: "application/octet-stream".into(),
    };
    let ch_ops = [
        op(
            "ch/create",
            0,
            "ch",
            Action::TeamsCreateChannel {
                channel: json!({"@microsoft.graph.channelCreationMode": "migration", "displayName": "files",
                "membershipType": "standard", "createdDateTime": t0}),
            },
        ),
        op("ch/upload", 1, "ch", Action::TeamsUploadFile { blob }),
        op(
            "ch/msg",
            2,
            "ch",
            Action::TeamsPostMessage {
                reply_to: None,
                message: json!({"createdDateTime": "2021-01-01T00:00:01.000Z",
                "from": {"user": {"id": FALLBACK, "displayName": "x", "userIdentityType": "aadUser"}},
                "body": {"contentType": "html", "content": "<p>big</p><attachment id=\"ch/upload\"></attachment>"}}),
                hosted_contents: Vec::new(),
                files: vec![OperationId("ch/upload".into())],
            },
        ),
        op("ch/complete", 3, "ch", Action::TeamsCompleteChannel),
    ];
    let lines =
        |ops: &[Operation]| ops.iter().map(|o| serde_json::to_string(o).unwrap() + "\n").collect::<String>();
    std::fs::write(plan.join("ops/team.jsonl"), lines(&team_ops)).unwrap();
    std::fs::write(plan.join("ops/ch.jsonl"), lines(&ch_ops)).unwrap();
    let container = |id: &str, kind, parent: Option<&str>, n| Container {
        id: id.into(),
        kind,
        parent: parent.map(str::to_string),
        conversation: None,
        display_name: id.into(),
        create_time: t0.into(),
        ops_path: format!("ops/{id}.jsonl"),
        op_count: n,
        message_count: 0,
    };
    let cs = [
        container("team", ContainerKind::TeamsTeam, None, 2),
        container("ch", ContainerKind::TeamsChannel, Some("team"), 4),
    ];
    std::fs::write(
        plan.join("containers.jsonl"),
        cs.iter().map(|c| serde_json::to_string(c).unwrap() + "\n").collect::<String>(),
    )
    .unwrap();
    let manifest = PlanManifest {
        format_version: 1,
        destination: Destination::Teams,
        canonical_sha256: "large".into(),
        options: json!({}),
        counts: PlanCounts::default(),
        files: Vec::new(),
    };
    std::fs::write(plan.join("manifest.json"), serde_json::to_string(&manifest).unwrap()).unwrap();
    (plan, canonical)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_large_file_goes_through_an_upload_session() {
    let env = Env::start(|_| {}).await;
    let bytes: Vec<u8> = (0..5 * 1024 * 1024 + 12_345).map(|i| (i % 251) as u8).collect();
    let (plan, canonical) = large_file_plan(env.dir.path(), &bytes);
    let opts = LoadOptions { client: env.client(), dry_run: false };
    let s = load(&plan, &canonical, &env.state(), &opts).await.unwrap();
    assert!(s.is_complete(), "{:#?}", s.failures);
    let st = env.admin("state").await;
    let item = st["graph"]["drive_items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "big report.bin")
        .cloned()
        .unwrap();
    assert_eq!(item["size"].as_u64(), Some(bytes.len() as u64));
    let msg = &st["graph"]["messages"][0]["resource"];
    assert_eq!(msg["attachments"][0]["contentType"], "reference");
    assert!(msg["body"]["content"].as_str().unwrap().contains(msg["attachments"][0]["id"].as_str().unwrap()));
    let report = env.verify(&plan).await;
    assert!(report.clean, "{:#?}", report.containers);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_throttling_is_retried_after_retry_after() {
    let f = fixture();
    // The emulator allows 5 writes per (emulated) minute per space, with the clock 60x
    // faster: 5 writes/s, and sends Retry-After (≥ 1 s) on its 429s. The loader's own
    // quotas are off, so it meets the server's limit and must wait as told.
    let env = Env::start(|c| {
        c.quotas.enabled = true;
        c.quotas.chat.per_space_writes = 5;
        c.time_scale = 60.0;
        c.rules.chat_retry_after_header = true;
    })
    .await;
    let started = std::time::Instant::now();
    let s = env.load(&f.chat).await.unwrap();
    assert!(s.is_complete(), "{:#?}", s.failures);
    assert!(s.retries > 0);
    assert!(started.elapsed() >= Duration::from_secs(1));
    let counters = env.admin("counters").await;
    let throttled = counters["responses.429"].as_u64().unwrap_or(0);
    // Backing off 5–50 ms instead of the 1 s asked for would hit the limit far more often.
    assert!(throttled <= 12, "{throttled} answers were 429: Retry-After not honoured?");
    assert_chat_exact(&env, &f.chat).await;
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reports_extra_messages_and_teams_loads_with_one_container_at_a_time() {
    let f = fixture();
    // Teams with concurrency 1: channels wait for their team without starving it.
    let env = Env::start(|_| {}).await;
    let mut client = env.client();
    client.concurrency = 1;
    let s =
        load(&f.teams, &f.canonical, &env.state(), &LoadOptions { client, dry_run: false }).await.unwrap();
    assert!(s.is_complete(), "{:#?}", s.failures);
    // A plan of the same export limited to later messages sees the earlier ones as extra.
    let later = env.dir.path().join("plan-later");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64;
    let mut o = chatport_transform::plan::PlanOptions::new(Destination::Teams, now);
    o.fallback_user = Some(FALLBACK.into());
    o.since = chatport_model::ts::parse_rfc3339("2024-01-02T00:00:00Z");
    chatport_transform::plan::transform(&f.canonical, &later, o, None).unwrap();
    let report = env.verify(&later).await;
    assert!(!report.clean);
    let extras: usize = report
        .containers
        .iter()
        .flat_map(|c| c.differences.iter())
        .filter(|d| d.kind == chatport_load::DiffKind::Extra && d.item == "message")
        .count();
    assert!(extras > 0, "{:#?}", report.containers);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_lost_team_creation_answer_leaves_no_orphan() {
    let f = fixture();
    // Every request is applied and its answer lost; team provisioning takes two 30 s
    // poll intervals of emulated time (60 ms of real time at this scale).
    let env = Env::start(|c| {
        c.rules.graph_operation_polls = 2;
        c.time_scale = 1000.0;
        c.faults.drop_after = 1.0;
    })
    .await;
    let first = env.load(&f.teams).await.unwrap();
    let team_ops: Vec<_> = first.failures.iter().filter(|x| x.action == "teams_create_team").collect();
    assert_eq!(team_ops.len(), planned(&f.teams, "teams_create_team"), "{:#?}", first.failures);
    assert!(team_ops.iter().all(|x| x.kind == "unsettled"), "{team_ops:#?}");
    let st = env.admin("state").await;
    let created = count(&st["graph"]["teams"], |_| true);
    assert_eq!(created, planned(&f.teams, "teams_create_team"), "the POST is not replayed blindly");
    // Answers flow again: the resumed load finds the team instead of creating another.
    env.set_faults(&serde_json::json!({})).await;
    let s = env.load(&f.teams).await.unwrap();
    assert!(s.is_complete(), "{:#?}", s.failures);
    assert_eq!(assert_teams_exact(&env, &f.teams).await, 0);
    let db = rusqlite::Connection::open(env.state()).unwrap();
    let reconciled: i64 = db
        .query_row(
            "SELECT count(*) FROM ops WHERE action = 'teams_create_team' AND result LIKE '%\"reconciled\":true%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(reconciled as usize, planned(&f.teams, "teams_create_team"));
    let report = env.verify(&f.teams).await;
    assert!(report.clean, "{:#?}", report.containers);
    env.emu.shutdown().await;
}

/// A token for `user` with `scope`, from the test service-account key.
async fn google_token(env: &Env, user: &str, scope: &str) -> String {
    let auth = chatport_load::auth::GoogleAuth::from_file(
        &env.dir.path().join("creds/google-service-account.json"),
        reqwest::Client::new(),
    )
    .unwrap();
    auth.token(Some(user), scope).await.unwrap()
}

/// Sends a Chat request as `user` (chat.import) and returns the status and body.
async fn chat_call(
    env: &Env,
    user: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let token = google_token(env, user, chatport_load::auth::SCOPE_IMPORT).await;
    let mut req =
        reqwest::Client::new().request(method, format!("{}/v1/{path}", env.base)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The stored result of a plan operation.
fn stored(env: &Env, op: &str) -> Value {
    let db = rusqlite::Connection::open(env.state()).unwrap();
    let text: String = db.query_row("SELECT result FROM ops WHERE op_id = ?1", [op], |r| r.get(0)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn differences(report: &chatport_load::VerifyReport, item: &str) -> Vec<chatport_load::Difference> {
    report.containers.iter().flat_map(|c| c.differences.iter()).filter(|d| d.item == item).cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_verify_checks_memberships_and_reactions_per_user_in_both_phases() {
    use chatport_load::verify::Phase;
    use chatport_model::plan::Actor;
    let f = fixture();
    let env = Env::start(|_| {}).await;
    let s = env.load(&f.chat).await.unwrap();
    assert!(s.is_complete(), "{:#?}", s.failures);
    let plan = chatport_load::plan_dir::Plan::read(&f.chat).unwrap();
    let report = env.verify(&f.chat).await;
    assert!(report.clean, "{:#?}", report.containers);
    assert!(report.containers.iter().all(|c| c.phase == Some(Phase::Import)));

    // Import mode: a historical membership moved to another user with the same times
    // (the old check, by times only, could not see it).
    let (container, membership_op, membership) = plan
        .containers
        .iter()
        .flat_map(|c| c.ops.iter().map(move |o| (c, o)))
        .find_map(|(c, o)| match &o.action {
            Action::ChatCreateMembership { membership } => Some((c, o.id.0.clone(), membership.clone())),
            _ => None,
        })
        .expect("the sample plan has a historical membership");
    let space = stored(&env, &c_create(container)).get("name").unwrap().as_str().unwrap().to_string();
    let user = membership["member"]["name"].as_str().unwrap().trim_start_matches("users/").to_string();
    let (st, body) = chat_call(
        &env,
        "admin@example.com",
        reqwest::Method::DELETE,
        &format!("{space}/members/{user}"),
        None,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let mut moved = membership.clone();
    moved["member"]["name"] = serde_json::json!("users/zed@example.com");
    let (st, body) =
        chat_call(&env, "admin@example.com", reqwest::Method::POST, &format!("{space}/members"), Some(moved))
            .await;
    assert_eq!(st, 200, "{body}");
    let report = env.verify(&f.chat).await;
    assert!(!report.clean);
    let m = differences(&report, "membership");
    assert!(
        m.iter()
            .any(|d| d.kind == chatport_load::DiffKind::Missing
                && d.operation.as_deref() == Some(&membership_op)),
        "{m:#?}"
    );
    assert!(m.iter().any(|d| d.kind == chatport_load::DiffKind::Extra), "{m:#?}");
    // The same user, but leaving a second earlier: one different row.
    let (st, _) = chat_call(
        &env,
        "admin@example.com",
        reqwest::Method::DELETE,
        &format!("{space}/members/zed@example.com"),
        None,
    )
    .await;
    assert_eq!(st, 200);
    let mut earlier = membership.clone();
    let delete = chatport_model::ts::parse_rfc3339(membership["deleteTime"].as_str().unwrap()).unwrap();
    earlier["deleteTime"] = serde_json::json!(chatport_model::ts::format_rfc3339(delete - 1_000_000, 6));
    let (st, body) = chat_call(
        &env,
        "admin@example.com",
        reqwest::Method::POST,
        &format!("{space}/members"),
        Some(earlier),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let report = env.verify(&f.chat).await;
    let m = differences(&report, "membership");
    assert_eq!(m.len(), 1, "{m:#?}");
    assert_eq!(m[0].kind, chatport_load::DiffKind::Different);
    assert_eq!(m[0].operation.as_deref(), Some(membership_op.as_str()));
    // Put it back: clean again.
    let (st, _) = chat_call(
        &env,
        "admin@example.com",
        reqwest::Method::DELETE,
        &format!("{space}/members/{user}"),
        None,
    )
    .await;
    assert_eq!(st, 200);
    let (st, body) = chat_call(
        &env,
        "admin@example.com",
        reqwest::Method::POST,
        &format!("{space}/members"),
        Some(membership),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let report = env.verify(&f.chat).await;
    assert!(report.clean, "{:#?}", report.containers);

    // Complete: now the current members and each user's reactions are read back.
    let opts = env.complete_options(false, "verify2");
    let c = complete(&f.chat, &env.state(), &opts).await.unwrap();
    assert!(c.operations.failures.is_empty(), "{:#?}", c.operations.failures);
    let report = env.verify(&f.chat).await;
    assert!(report.clean, "{:#?}", report.containers);
    assert!(report.containers.iter().all(|c| c.phase == Some(Phase::Completed)));

    // A reaction moved from its user to another, same emoji: the counts per emoji stay
    // equal, the set of (message, user, emoji) does not.
    let (reaction_op, reactor, message_op, emoji) = plan
        .containers
        .iter()
        .flat_map(|c| c.ops.iter())
        .find_map(|o| match (&o.action, &o.actor) {
            (Action::ChatCreateReaction { message, emoji }, Actor::User { id }) => {
                Some((o.id.0.clone(), id.clone(), message.0.clone(), emoji.clone()))
            }
            _ => None,
        })
        .expect("the sample plan has a reaction");
    let message = stored(&env, &message_op)["name"].as_str().unwrap().to_string();
    let reaction = stored(&env, &reaction_op)["name"].as_str().unwrap().to_string();
    let (st, body) = chat_call(&env, &reactor, reqwest::Method::DELETE, &reaction, None).await;
    assert_eq!(st, 200, "{body}");
    let (st, body) = chat_call(
        &env,
        "zed@example.com",
        reqwest::Method::POST,
        &format!("{message}/reactions"),
        Some(serde_json::json!({"emoji": emoji})),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    // A current member removed.
    let add = plan
        .containers
        .iter()
        .flat_map(|c| c.ops.iter())
        .find_map(|o| match &o.action {
            Action::ChatAddMember { membership } if o.container == container.container.id => {
                Some((o.id.0.clone(), membership["member"]["name"].as_str().unwrap().to_string()))
            }
            _ => None,
        })
        .expect("the space has a current member");
    let (st, body) = chat_call(
        &env,
        "admin@example.com",
        reqwest::Method::DELETE,
        &format!("{space}/members/{}", add.1.trim_start_matches("users/")),
        None,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let report = env.verify(&f.chat).await;
    assert!(!report.clean);
    let r = differences(&report, "reaction");
    assert!(
        r.iter()
            .any(|d| d.kind == chatport_load::DiffKind::Missing
                && d.operation.as_deref() == Some(&reaction_op)),
        "{r:#?}"
    );
    assert!(r.iter().any(|d| d.kind == chatport_load::DiffKind::Extra), "{r:#?}");
    let m = differences(&report, "member");
    assert_eq!(m.len(), 1, "{m:#?}");
    assert_eq!(m[0].operation.as_deref(), Some(add.0.as_str()));
    assert!(env.dir.path().join("verify").read_dir().unwrap().any(|e| {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap_or_default();
        text.contains("missing,member")
    }));
    // Undo both changes: clean again.
    let token = google_token(&env, "admin@example.com", chatport_load::verify::SCOPE_REACTIONS_READ).await;
    let all: Value = reqwest::Client::new()
        .get(format!("{}/v1/{message}/reactions", env.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Only zed may delete zed's reaction; the others answer 403.
    let mut deleted = 0;
    for r in all["reactions"].as_array().unwrap() {
        let (st, _) =
            chat_call(&env, "zed@example.com", reqwest::Method::DELETE, r["name"].as_str().unwrap(), None)
                .await;
        deleted += usize::from(st == 200);
    }
    assert_eq!(deleted, 1);
    let (st, body) = chat_call(
        &env,
        &reactor,
        reqwest::Method::POST,
        &format!("{message}/reactions"),
        Some(serde_json::json!({"emoji": emoji})),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let (st, body) = chat_call(
        &env,
        "admin@example.com",
        reqwest::Method::POST,
        &format!("{space}/members"),
        Some(serde_json::json!({"member": {"name": add.1, "type": "HUMAN"}})),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let report = env.verify(&f.chat).await;
    assert!(report.clean, "{:#?}", report.containers);
    env.emu.shutdown().await;
}

/// The create-space operation id of a Chat container.
fn c_create(c: &chatport_load::plan_dir::PlannedContainer) -> String {
    c.ops.iter().find(|o| matches!(o.action, Action::ChatCreateSpace { .. })).unwrap().id.0.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_verify_checks_members_after_completion() {
    use chatport_load::verify::Phase;
    let f = fixture();
    let env = Env::start(|_| {}).await;
    let s = env.load(&f.teams).await.unwrap();
    assert!(s.is_complete(), "{:#?}", s.failures);
    let report = env.verify(&f.teams).await;
    assert!(report.clean, "{:#?}", report.containers);
    assert!(report.containers.iter().all(|c| c.phase == Some(Phase::Import)));
    let opts = env.complete_options(false, "verify2");
    let c = complete(&f.teams, &env.state(), &opts).await.unwrap();
    assert!(c.operations.failures.is_empty(), "{:#?}", c.operations.failures);
    let report = env.verify(&f.teams).await;
    assert!(report.clean, "{:#?}", report.containers);
    assert!(report.containers.iter().all(|c| c.phase == Some(Phase::Completed)));
    // Someone the plan does not name joins a team.
    let team = report.containers.iter().find(|c| c.unchecked.is_empty() && c.expected_messages == 0).unwrap();
    let team_id = team.destination.clone().unwrap();
    let auth = chatport_load::auth::MicrosoftAuth::from_file(
        &env.dir.path().join("creds/microsoft-app.json"),
        reqwest::Client::new(),
    )
    .unwrap();
    let token = auth.token().await.unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{}/v1.0/teams/{team_id}/members", env.base))
        .bearer_auth(token)
        .json(&serde_json::json!({
            "@odata.type": "#microsoft.graph.aadUserConversationMember",
            "roles": [],
            "user@odata.bind": "https://graph.microsoft.com/v1.0/users('zed@example.com')"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let report = env.verify(&f.teams).await;
    assert!(!report.clean);
    let m = differences(&report, "member");
    assert_eq!(m.len(), 1, "{m:#?}");
    assert_eq!(m[0].kind, chatport_load::DiffKind::Extra);
    // The same plan with one more member for that team: the destination lacks it.
    let more = env.dir.path().join("plan-more");
    copy_dir(&f.teams, &more);
    let team_container = team.container.clone();
    let ops_path = more.join(format!("ops/{team_container}.jsonl"));
    let mut ops = std::fs::read_to_string(&ops_path).unwrap();
    let extra = chatport_model::plan::Operation {
        id: chatport_model::plan::OperationId(format!("{team_container}/member/extra")),
        seq: 1_000_000,
        container: team_container.clone(),
        actor: chatport_model::plan::Actor::App,
        action: Action::TeamsAddMember {
            member: serde_json::json!({"@odata.type": "#microsoft.graph.aadUserConversationMember", "roles": [],
                "user@odata.bind": "https://graph.microsoft.com/v1.0/users('yves@example.com')"}),
        },
        source: None,
    };
    ops.push_str(&(serde_json::to_string(&extra).unwrap() + "\n"));
    std::fs::write(&ops_path, ops).unwrap();
    let report = env.verify(&more).await;
    let m = differences(&report, "member");
    assert!(
        m.iter().any(|d| d.kind == chatport_load::DiffKind::Missing
            && d.operation.as_deref() == Some(extra.id.0.as_str())
            && d.detail.contains("yves@example.com")),
        "{m:#?}"
    );
    env.emu.shutdown().await;
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Sends a Graph request as the test app and returns the status, Content-Location and body.
async fn graph_call(env: &Env, method: reqwest::Method, path: &str, body: Value) -> (u16, String, Value) {
    let auth = chatport_load::auth::MicrosoftAuth::from_file(
        &env.dir.path().join("creds/microsoft-app.json"),
        reqwest::Client::new(),
    )
    .unwrap();
    let token = auth.token().await.unwrap();
    let resp = reqwest::Client::new()
        .request(method, format!("{}/v1.0/{path}", env.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let loc = resp.headers().get("content-location").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (status, loc, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_existing_channels_are_started_loaded_verified_and_completed() {
    use chatport_load::teams::{bind_existing_channels, ExistingChannel};
    use chatport_model::plan::ContainerKind;
    let f = fixture();
    let env = Env::start(|_| {}).await;
    let (team, channels) = existing_team(&env).await;
    let plan = chatport_load::plan_dir::Plan::read(&f.teams).unwrap();
    let random = plan
        .containers
        .iter()
        .find(|c| c.container.kind == ContainerKind::TeamsChannel && c.container.display_name == "random")
        .unwrap();
    let private = plan.container("channel-g01priv").unwrap();
    let mappings = existing_mappings(&team, &channels);
    let bound = bind_existing_channels(&f.teams, &env.state(), &mappings).unwrap();
    let ids: Vec<&str> = bound.iter().map(|(c, _)| c.as_str()).collect();
    assert!(ids.contains(&"team-g01priv"), "{ids:?}");
    assert!(!ids.contains(&"workspace-team"), "{ids:?}");
    assert!("random=only-a-team".parse::<ExistingChannel>().is_err());
    assert!(bind_existing_channels(&f.teams, &env.state(), &[format!("no-such={team}/x").parse().unwrap()])
        .is_err());

    // Load, interrupted once, then resumed without the flags (the state file has them).
    let _ = tokio::time::timeout(Duration::from_millis(40), env.load(&f.teams)).await;
    let s = env.load(&f.teams).await.unwrap();
    assert!(s.is_complete(), "{:#?}", s.failures);
    // The bindings cannot change now that the channels were started.
    let moved = vec![format!("channel-g01priv={team}/{}", channels[0]).parse().unwrap()];
    let e = bind_existing_channels(&f.teams, &env.state(), &moved).unwrap_err();
    assert!(e.to_string().contains("cannot change"), "{e}");
    bind_existing_channels(&f.teams, &env.state(), &mappings).unwrap();

    let st = env.admin("state").await;
    let g = &st["graph"];
    let in_channel = |ch: &str| count(&g["messages"], |m| m["channel_id"].as_str() == Some(ch));
    let planned_in = |c: &chatport_load::plan_dir::PlannedContainer| {
        c.ops.iter().filter(|o| matches!(o.action, Action::TeamsPostMessage { .. })).count()
    };
    assert_eq!(in_channel(&channels[0]), planned_in(random) + 1);
    assert_eq!(in_channel(&channels[1]), planned_in(private));
    assert_eq!(count(&g["messages"], |_| true), planned(&f.teams, "teams_post_message") + 1);
    // Neither the random channel nor the private conversation's team was created.
    assert_eq!(count(&g["teams"], |_| true), planned(&f.teams, "teams_create_team") - 1 + 1);
    let created = count(&g["channels"], |c| c["is_general"].as_bool() != Some(true));
    assert_eq!(created, planned(&f.teams, "teams_create_channel") - 1 + 2);
    let ch0 = g["channels"].as_array().unwrap().iter().find(|c| c["id"] == channels[0].as_str()).unwrap();
    assert_eq!(ch0["migration_mode"], "inProgress");

    // The message from before the load is not counted as extra.
    let report = env.verify(&f.teams).await;
    assert!(report.clean, "{:#?}", report.containers);
    let opts = env.complete_options(false, "verify2");
    let c = complete(&f.teams, &env.state(), &opts).await.unwrap();
    assert!(c.operations.failures.is_empty(), "{:#?}", c.operations.failures);
    let st = env.admin("state").await;
    let g = &st["graph"];
    for ch in &channels {
        let c = g["channels"].as_array().unwrap().iter().find(|c| c["id"] == ch.as_str()).unwrap();
        assert_eq!(c["migration_mode"], "completed");
    }
    // The existing team was never in migration mode, and stays out of it.
    let t = g["teams"].as_array().unwrap().iter().find(|t| t["id"] == team.as_str()).unwrap();
    assert!(t["migration_mode"].is_null(), "{t}");
    let report = env.verify(&f.teams).await;
    assert!(report.clean, "{:#?}", report.containers);
    env.emu.shutdown().await;
}

/// Makes an ordinary team (not in migration mode) with two ordinary channels, the first
/// holding a message from an earlier import; returns the team id and channel ids.
async fn existing_team(env: &Env) -> (String, Vec<String>) {
    use serde_json::json;
    // An ordinary team (not in migration mode) with two ordinary channels; one already
    // holds a message from an earlier import.
    let (st, loc, body) = graph_call(
        env,
        reqwest::Method::POST,
        "teams",
        json!({"template@odata.bind": "https://graph.microsoft.com/v1.0/teamsTemplates('standard')",
               "displayName": "Existing", "members": [{"@odata.type": "#microsoft.graph.aadUserConversationMember",
               "roles": ["owner"], "user@odata.bind": "https://graph.microsoft.com/v1.0/users('admin@example.com')"}]}),
    )
    .await;
    assert_eq!(st, 202, "{body}");
    let team = loc.split("teams('").nth(1).unwrap().trim_end_matches("')").to_string();
    let mut channels = Vec::new();
    for name in ["old random", "old private"] {
        let (st, _, body) = graph_call(
            env,
            reqwest::Method::POST,
            &format!("teams/{team}/channels"),
            json!({"displayName": name, "membershipType": "standard"}),
        )
        .await;
        assert_eq!(st, 201, "{body}");
        channels.push(body["id"].as_str().unwrap().to_string());
    }
    let earlier = format!("teams/{team}/channels/{}", channels[0]);
    let (st, _, body) = graph_call(
        env,
        reqwest::Method::POST,
        &format!("{earlier}/startMigration"),
        json!({"conversationCreationDateTime": "2025-06-01T00:00:00.000Z"}),
    )
    .await;
    assert_eq!(st, 204, "{body}");
    let (st, _, body) = graph_call(
        env,
        reqwest::Method::POST,
        &format!("{earlier}/messages"),
        json!({"createdDateTime": "2025-06-01T00:00:01.000Z",
               "from": {"user": {"id": FALLBACK, "displayName": "x", "userIdentityType": "aadUser"}},
               "body": {"contentType": "html", "content": "<p>from before</p>"}}),
    )
    .await;
    assert_eq!(st, 201, "{body}");
    let (st, _, _) =
        graph_call(env, reqwest::Method::POST, &format!("{earlier}/completeMigration"), json!({})).await;
    assert_eq!(st, 204);

    (team, channels)
}

/// The mappings of the existing-channel tests: #random by conversation id, the private
/// conversation's only channel by container id (its own team is then the existing one).
fn existing_mappings(team: &str, channels: &[String]) -> Vec<chatport_load::teams::ExistingChannel> {
    let plan = chatport_load::plan_dir::Plan::read(&fixture().teams).unwrap();
    let random = plan.containers.iter().find(|c| c.container.display_name == "random").unwrap();
    vec![
        format!("{}={team}/{}", random.container.conversation.clone().unwrap(), channels[0]).parse().unwrap(),
        format!("channel-g01priv={team}/{}", channels[1]).parse().unwrap(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_existing_channels_survive_429_5xx_and_lost_responses() {
    let f = fixture();
    for seed in [4, 5, 6] {
        let env = Env::start(|_| {}).await;
        let (team, channels) = existing_team(&env).await;
        let mut faults = EmulatorConfig::default().faults;
        faults.seed = seed;
        faults.rate_429 = 0.08;
        faults.rate_500 = 0.04;
        faults.rate_503 = 0.04;
        faults.drop_before = 0.04;
        faults.drop_after = 0.06;
        faults.retry_after_secs = 0;
        env.set_faults(&faults).await;
        chatport_load::teams::bind_existing_channels(
            &f.teams,
            &env.state(),
            &existing_mappings(&team, &channels),
        )
        .unwrap();
        let s = env.load(&f.teams).await.unwrap();
        assert!(s.is_complete(), "seed {seed}: {:#?}", s.failures);
        let st = env.admin("state").await;
        assert_eq!(count(&st["graph"]["messages"], |_| true), planned(&f.teams, "teams_post_message") + 1);
        assert_eq!(count(&st["graph"]["teams"], |_| true), planned(&f.teams, "teams_create_team"));
        let report = env.verify(&f.teams).await;
        assert!(report.clean, "seed {seed}: {:#?}", report.containers);
        eprintln!("seed {seed}: {} retries, {} operations reconciled", s.retries, reconciled(&env));
        env.emu.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_lost_start_migration_answer_is_reconciled() {
    let f = fixture();
    let env = Env::start(|_| {}).await;
    let (team, channels) = existing_team(&env).await;
    let mappings = existing_mappings(&team, &channels);
    chatport_load::teams::bind_existing_channels(&f.teams, &env.state(), &mappings).unwrap();
    // The state a process leaves when it dies right after startMigration was applied: the
    // intent with the snapshot of the messages already there, no answer recorded.
    let plan = chatport_load::plan_dir::Plan::read(&f.teams).unwrap();
    let random = plan.containers.iter().find(|c| c.container.display_name == "random").unwrap();
    let (op, when) = random
        .ops
        .iter()
        .find_map(|o| match &o.action {
            Action::TeamsCreateChannel { channel } => {
                Some((o.id.0.clone(), channel["createdDateTime"].as_str().unwrap().to_string()))
            }
            _ => None,
        })
        .unwrap();
    let (_, _, listed) = graph_call(
        &env,
        reqwest::Method::GET,
        &format!("teams/{team}/channels/{}/messages", channels[0]),
        Value::Null,
    )
    .await;
    let before: Vec<Value> = listed["value"].as_array().unwrap().iter().map(|m| m["id"].clone()).collect();
    assert_eq!(before.len(), 1);
    let db = rusqlite::Connection::open(env.state()).unwrap();
    db.execute(
        "INSERT INTO ops(op_id, container, action, status, attempts, result, updated_at) VALUES (?1, ?2, 'teams_create_channel', 'intent', 1, ?3, 0)",
        rusqlite::params![
            op,
            random.container.id,
            serde_json::json!({"team_id": team, "channel_id": channels[0], "preexisting": before}).to_string()
        ],
    )
    .unwrap();
    drop(db);
    let (st, _, body) = graph_call(
        &env,
        reqwest::Method::POST,
        &format!("teams/{team}/channels/{}/startMigration", channels[0]),
        serde_json::json!({"conversationCreationDateTime": when}),
    )
    .await;
    assert_eq!(st, 204, "{body}");
    let s = env.load(&f.teams).await.unwrap();
    assert!(s.is_complete(), "{:#?}", s.failures);
    assert_eq!(stored(&env, &op)["reconciled"], true);
    let report = env.verify(&f.teams).await;
    assert!(report.clean, "{:#?}", report.containers);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_general_mapped_elsewhere_still_lets_the_new_team_complete() {
    let f = fixture();
    let env = Env::start(|_| {}).await;
    let (team, channels) = existing_team(&env).await;
    let mapping = format!("channel-c01general={team}/{}", channels[1]).parse().unwrap();
    let bound = chatport_load::teams::bind_existing_channels(&f.teams, &env.state(), &[mapping]).unwrap();
    assert_eq!(bound.len(), 1, "the workspace team keeps its other channels: {bound:?}");
    let s = env.load(&f.teams).await.unwrap();
    assert!(s.is_complete(), "{:#?}", s.failures);
    let report = env.verify(&f.teams).await;
    assert!(report.clean, "{:#?}", report.containers);
    let opts = env.complete_options(false, "verify2");
    let c = complete(&f.teams, &env.state(), &opts).await.unwrap();
    assert!(c.operations.failures.is_empty(), "{:#?}", c.operations.failures);
    let st = env.admin("state").await;
    let migrating = count(&st["graph"]["channels"], |c| c["migration_mode"].as_str() == Some("inProgress"));
    assert_eq!(migrating, 0, "{}", st["graph"]["channels"]);
    assert_eq!(count(&st["graph"]["teams"], |t| t["migration_mode"].as_str() == Some("inProgress")), 0);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_lost_team_answer_without_the_list_permission_stays_unsettled() {
    let f = fixture();
    let env = Env::start(|c| {
        c.microsoft_apps[0].roles.retain(|r| r != "Team.ReadBasic.All");
        c.faults.drop_after = 1.0;
    })
    .await;
    let first = env.load(&f.teams).await.unwrap();
    assert!(!first.is_complete());
    env.set_faults(&serde_json::json!({})).await;
    // The team may exist and cannot be looked up: nothing is re-created, and the message
    // says what to grant.
    let second = env.load(&f.teams).await.unwrap();
    let team_ops: Vec<_> = second.failures.iter().filter(|x| x.action == "teams_create_team").collect();
    assert_eq!(team_ops.len(), planned(&f.teams, "teams_create_team"), "{:#?}", second.failures);
    assert!(
        team_ops.iter().all(|x| x.kind == "unsettled" && x.message.contains("Team.ReadBasic.All")),
        "{team_ops:#?}"
    );
    let st = env.admin("state").await;
    assert_eq!(count(&st["graph"]["teams"], |_| true), planned(&f.teams, "teams_create_team"));
    env.emu.shutdown().await;
}

/// The least-privileged application permissions a Teams migration needs (the README list).
const TEAMS_PERMISSIONS: [&str; 6] = [
    "Teamwork.Migrate.All",
    "Team.ReadBasic.All",
    "Channel.ReadBasic.All",
    "ChannelMessage.Read.All",
    "Files.ReadWrite.All",
    "TeamMember.ReadWrite.All",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_pipeline_needs_only_the_documented_permissions_and_names_a_missing_read_one() {
    let f = fixture();
    let env =
        Env::start(|c| c.microsoft_apps[0].roles = TEAMS_PERMISSIONS.iter().map(|r| r.to_string()).collect())
            .await;
    let s = env.load(&f.teams).await.unwrap();
    assert!(s.is_complete(), "{:#?}", s.failures);
    assert!(env.verify(&f.teams).await.clean);
    let opts = env.complete_options(false, "verify2");
    let c = complete(&f.teams, &env.state(), &opts).await.unwrap();
    assert!(c.operations.failures.is_empty(), "{:#?}", c.operations.failures);
    env.emu.shutdown().await;

    // Without the message read permission the load itself goes through, but verify cannot
    // read the channels back and says which permission is missing.
    let env = Env::start(|c| {
        c.microsoft_apps[0].roles = TEAMS_PERMISSIONS
            .iter()
            .filter(|r| **r != "ChannelMessage.Read.All")
            .map(|r| r.to_string())
            .collect()
    })
    .await;
    let s = env.load(&f.teams).await.unwrap();
    assert!(s.is_complete(), "{:#?}", s.failures);
    let report = env.verify(&f.teams).await;
    assert!(!report.clean);
    let channels: Vec<_> = report.containers.iter().filter(|c| !c.clean).collect();
    assert_eq!(
        channels.len(),
        planned(&f.teams, "teams_create_channel") + planned(&f.teams, "teams_use_general_channel")
    );
    for c in channels {
        let d = &c.differences[0].detail;
        assert!(
            d.contains("could not read") && d.contains("ChannelMessage.Read.All application permission"),
            "{d}"
        );
    }
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_plan_without_general_completes_the_teams_own_general() {
    // Graph completes a team only when every channel is complete, its own General too,
    // which this plan never imports into.
    let env = Env::start(|_| {}).await;
    let (plan, canonical) = large_file_plan(env.dir.path(), b"small file");
    let s = load(&plan, &canonical, &env.state(), &LoadOptions { client: env.client(), dry_run: false })
        .await
        .unwrap();
    assert!(s.is_complete(), "{:#?}", s.failures);
    let opts = env.complete_options(false, "verify");
    let c = complete(&plan, &env.state(), &opts).await.unwrap();
    assert!(c.operations.failures.is_empty(), "{:#?}", c.operations.failures);
    assert_eq!(c.completed, ["ch", "team"]);
    let st = env.admin("state").await;
    assert_eq!(count(&st["graph"]["teams"], |t| t["migration_mode"] == "completed"), 1);
    assert_eq!(
        count(&st["graph"]["channels"], |c| c["migration_mode"] != "completed"),
        0,
        "{}",
        st["graph"]["channels"]
    );
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_general_completes_only_after_every_other_channel() {
    let f = fixture();
    let env = Env::start(|_| {}).await;
    let s = env.load(&f.teams).await.unwrap();
    assert!(s.is_complete(), "{:#?}", s.failures);
    // A message nobody planned makes #random differ: complete leaves it in migration
    // mode, so General must stay open too (completing it would close the team to new
    // migration channels).
    let random = stored(&env, "channel-c02random/create");
    let (team, channel) = (random["team_id"].as_str().unwrap(), random["channel_id"].as_str().unwrap());
    let (status, _, v) = graph_call(
        &env,
        reqwest::Method::POST,
        &format!("teams/{team}/channels/{channel}/messages"),
        serde_json::json!({"createdDateTime": "2024-06-01T00:00:00.123Z",
            "from": {"user": {"id": FALLBACK, "displayName": "x", "userIdentityType": "aadUser"}},
            "body": {"contentType": "html", "content": "<p>extra</p>"}}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let opts = env.complete_options(false, "verify");
    let c = complete(&f.teams, &env.state(), &opts).await.unwrap();
    assert!(c.operations.failures.is_empty(), "{:#?}", c.operations.failures);
    let skipped: Vec<&str> = c.skipped.iter().map(|(id, _)| id.as_str()).collect();
    assert!(skipped.contains(&"channel-c02random") && skipped.contains(&"channel-c01general"), "{skipped:?}");
    assert!(c.completed.contains(&"channel-c03empty".to_string()), "{:?}", c.completed);
    let general = stored(&env, "channel-c01general/general");
    let st = env.admin("state").await;
    let mode = st["graph"]["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == general["channel_id"])
        .map(|c| c["migration_mode"].clone())
        .unwrap();
    assert_eq!(mode, "inProgress");
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_membership_conflict_is_done_only_for_the_same_interval() {
    let f = fixture();
    let env = Env::start(|_| {}).await;
    let s = env.load(&f.chat).await.unwrap();
    assert!(s.is_complete(), "{:#?}", s.failures);
    // The plan's first historical membership.
    let p = chatport_load::plan_dir::Plan::read(&f.chat).unwrap();
    let (op, container, delete) = p
        .containers
        .iter()
        .flat_map(|c| c.ops.iter())
        .find_map(|o| match &o.action {
            Action::ChatCreateMembership { membership } => Some((
                o.id.0.clone(),
                o.container.clone(),
                membership["deleteTime"].as_str().unwrap().to_string(),
            )),
            _ => None,
        })
        .expect("the sample plan has a historical membership");
    let op = op.as_str();
    let forget = |op: &str| {
        let db = rusqlite::Connection::open(env.state()).unwrap();
        assert_eq!(db.execute("DELETE FROM ops WHERE op_id = ?1", [op]).unwrap(), 1);
    };
    // The same membership again (its answer lost with the state row): 409, read back,
    // same interval, done.
    forget(op);
    let again = env.load(&f.chat).await.unwrap();
    assert!(again.is_complete(), "{:#?}", again.failures);
    assert_eq!(again.done, 1);
    assert_eq!(stored(&env, op)["reconciled"], true);
    // Another interval of the same user meets the user's one membership: rejected, not
    // taken for done.
    let other = env.dir.path().join("plan-other-interval");
    copy_dir(&f.chat, &other);
    let ops_file = other.join(format!("ops/{container}.jsonl"));
    let text = std::fs::read_to_string(&ops_file).unwrap();
    // Five seconds later.
    let later = chatport_model::ts::format_rfc3339(
        chatport_model::ts::parse_rfc3339(&delete).unwrap() + 5_000_000,
        6,
    );
    assert!(text.contains(&delete));
    std::fs::write(&ops_file, text.replace(&delete, &later)).unwrap();
    forget(op);
    let opts = LoadOptions { client: env.client(), dry_run: false };
    let s = load(&other, &f.canonical, &env.state(), &opts).await.unwrap();
    assert_eq!(s.failures.len(), 1, "{:#?}", s.failures);
    assert_eq!(s.failures[0].operation, op);
    assert_eq!(s.failures[0].kind, "rejected");
    assert!(s.failures[0].message.contains(&later), "{} / {later}", s.failures[0].message);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_failed_team_creation_is_created_anew_on_the_next_run() {
    let f = fixture();
    let teams = planned(&f.teams, "teams_create_team");
    // Every team creation of the first run fails in provisioning.
    let env = Env::start(|c| {
        c.rules.graph_operation_polls = 1;
        c.rules.graph_failed_team_creations = teams as u32;
    })
    .await;
    let first = env.load(&f.teams).await.unwrap();
    let failed: Vec<_> = first.failures.iter().filter(|x| x.action == "teams_create_team").collect();
    assert_eq!(failed.len(), teams, "{:#?}", first.failures);
    assert!(
        failed.iter().all(|x| x.kind == "rejected" && x.message.contains("team creation failed")),
        "{failed:#?}"
    );
    let second = env.load(&f.teams).await.unwrap();
    assert!(second.is_complete(), "{:#?}", second.failures);
    assert_eq!(assert_teams_exact(&env, &f.teams).await, 0);
    assert!(env.verify(&f.teams).await.clean);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_lost_complete_import_answer_is_reconciled_without_reading_the_space() {
    let f = fixture();
    let env = Env::start(|_| {}).await;
    let s = env.load(&f.chat).await.unwrap();
    assert!(s.is_complete(), "{:#?}", s.failures);
    // Half the requests are applied and their answers lost: a replayed completeImport
    // meets FAILED_PRECONDITION, and the completed space no longer answers app auth.
    env.set_faults(&serde_json::json!({"seed": 7, "drop_after": 0.5})).await;
    let opts = env.complete_options(true, "verify");
    let c = complete(&f.chat, &env.state(), &opts).await.unwrap();
    assert!(c.operations.failures.is_empty(), "{:#?}", c.operations.failures);
    let spaces = planned(&f.chat, "chat_complete_import");
    assert_eq!(c.completed.len(), spaces);
    let reconciled = run_ids(&f.chat, "chat_complete_import")
        .iter()
        .filter(|op| stored(&env, op)["reconciled"] == true)
        .count();
    assert!(reconciled > 0, "no completeImport answer was lost; pick another seed");
    let st = env.admin("state").await;
    assert_eq!(count(&st["chat"]["spaces"], |s| s["import_mode"].as_bool() == Some(true)), 0);
    env.emu.shutdown().await;
}

/// Ids of the plan's operations of one action.
fn run_ids(plan: &Path, action: &str) -> Vec<String> {
    let p = chatport_load::plan_dir::Plan::read(plan).unwrap();
    p.containers
        .iter()
        .flat_map(|c| c.ops.iter())
        .filter(|o| o.action.name() == action)
        .map(|o| o.id.0.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_lost_team_completion_answer_is_reconciled_from_the_channels() {
    let f = fixture();
    let env = Env::start(|_| {}).await;
    let s = env.load(&f.teams).await.unwrap();
    assert!(s.is_complete(), "{:#?}", s.failures);
    // Half the requests are applied and their answers lost; the replayed team
    // completeMigration gets a 400 whose wording the loader must not rely on.
    env.set_faults(&serde_json::json!({"seed": 11, "drop_after": 0.5})).await;
    let opts = env.complete_options(true, "verify");
    let c = complete(&f.teams, &env.state(), &opts).await.unwrap();
    assert!(c.operations.failures.is_empty(), "{:#?}", c.operations.failures);
    let reconciled = run_ids(&f.teams, "teams_complete_team")
        .iter()
        .filter(|op| stored(&env, op)["reconciled"] == true)
        .count();
    assert!(reconciled > 0, "no team completion answer was lost; pick another seed");
    let st = env.admin("state").await;
    assert_eq!(count(&st["graph"]["teams"], |t| t["migration_mode"] == "inProgress"), 0);
    assert_eq!(count(&st["graph"]["members"], |_| true), planned(&f.teams, "teams_add_member"));
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_upload_session_resumes_after_chunks_applied_without_answer() {
    let env = Env::start(|c| {
        c.faults.seed = 5;
        c.faults.drop_after = 0.5;
    })
    .await;
    // Four chunks: several are applied with their answer lost, and the replay meets 416
    // (or the session is gone after the last one).
    let bytes: Vec<u8> = (0..10 * 1024 * 1024 + 7).map(|i| (i % 253) as u8).collect();
    let (plan, canonical) = large_file_plan(env.dir.path(), &bytes);
    let opts = LoadOptions { client: env.client(), dry_run: false };
    let s = load(&plan, &canonical, &env.state(), &opts).await.unwrap();
    assert!(s.is_complete(), "{:#?}", s.failures);
    assert!(s.retries > 0);
    let st = env.admin("state").await;
    let items: Vec<&Value> = st["graph"]["drive_items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["name"].as_str().is_some_and(|n| n.starts_with("big report")))
        .collect();
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!(items[0]["size"].as_u64(), Some(bytes.len() as u64));
    env.set_faults(&serde_json::json!({})).await;
    assert!(env.verify(&plan).await.clean);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_uploads_wait_for_a_files_folder_still_provisioning() {
    // Folders answer 404 for 0.3 s after their team's creation; the loader asks again
    // `poll_interval` (10 ms here) apart for up to `max_polls` times.
    let env = Env::start(|c| c.rules.graph_files_folder_delay_secs = 0.3).await;
    let (plan, canonical) = large_file_plan(env.dir.path(), b"a small file");
    let opts = LoadOptions { client: env.client(), dry_run: false };
    let s = load(&plan, &canonical, &env.state(), &opts).await.unwrap();
    assert!(s.is_complete(), "{:#?}", s.failures);
    assert!(env.verify(&plan).await.clean);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_verify_leaves_historical_memberships_unchecked_when_the_list_omits_them() {
    let f = fixture();
    let env = Env::start(|c| c.rules.chat_list_historical_memberships = false).await;
    let s = env.load(&f.chat).await.unwrap();
    assert!(s.is_complete(), "{:#?}", s.failures);
    let report = env.verify(&f.chat).await;
    assert!(report.clean, "{:#?}", report.containers);
    let unchecked: Vec<&String> = report.containers.iter().flat_map(|c| c.unchecked.iter()).collect();
    assert!(unchecked.iter().any(|u| u.starts_with("historical memberships")), "{unchecked:#?}");
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_replies_wait_for_their_thread_root() {
    let f = fixture();
    let env = Env::start(|_| {}).await;
    // The root of a thread is refused (a createTime before its space): its replies must
    // not be sent, or the first would open the thread.
    let plan = env.dir.path().join("plan-bad-root");
    copy_dir(&f.chat, &plan);
    let ops_file = plan.join("ops/space-c01general.jsonl");
    let root = "space-c01general/msg/1704100200.000400";
    let lines: Vec<String> = std::fs::read_to_string(&ops_file)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            if v["id"] == root {
                v["action"]["message"]["createTime"] = Value::from("2001-01-01T00:00:00Z");
            }
            v.to_string()
        })
        .collect();
    std::fs::write(&ops_file, lines.join("\n") + "\n").unwrap();
    let s = load(&plan, &f.canonical, &env.state(), &LoadOptions { client: env.client(), dry_run: false })
        .await
        .unwrap();
    let root_failure = s.failures.iter().find(|x| x.operation == root).expect("root refused");
    assert_eq!(root_failure.kind, "rejected");
    let held: Vec<_> = s.failures.iter().filter(|x| x.message.contains("thread root")).collect();
    assert_eq!(held.len(), 3, "{:#?}", s.failures);
    assert!(held.iter().all(|x| x.kind == "unsettled"));
    let st = env.admin("state").await;
    let in_space = |m: &Value| m["text"].as_str().is_some() && m["space"].as_str().is_some();
    assert_eq!(count(&st["chat"]["messages"], in_space), planned(&f.chat, "chat_create_message") - 4);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_member_adds_wait_for_a_completion_that_failed() {
    let f = fixture();
    let env = Env::start(|_| {}).await;
    let s = env.load(&f.chat).await.unwrap();
    assert!(s.is_complete(), "{:#?}", s.failures);
    // Every request now fails: completeImport gives up, and the member adds of that
    // space are not tried (they would be refused while the space is in import mode).
    env.set_faults(&serde_json::json!({"seed": 3, "rate_500": 1.0})).await;
    let mut client = env.client();
    client.retry.max_attempts = 2;
    let opts = CompleteOptions {
        client,
        force: true,
        verify_out: env.dir.path().join("verify"),
        expiry_warning: Duration::from_secs(86_400),
    };
    let c = complete(&f.chat, &env.state(), &opts).await.unwrap();
    let by = |action: &str| c.operations.failures.iter().filter(|x| x.action == action).collect::<Vec<_>>();
    assert_eq!(by("chat_complete_import").len(), planned(&f.chat, "chat_complete_import"));
    let adds = by("chat_add_member");
    assert_eq!(adds.len(), planned(&f.chat, "chat_add_member"));
    assert!(adds.iter().all(|x| x.kind == "blocked" && x.message.contains("completion")), "{adds:#?}");
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_team_creation_answered_502_after_it_was_applied_leaves_no_duplicate() {
    let f = fixture();
    // Every request is applied and then answered 502 while the faults last: POST /teams
    // is not replayed but looked up.
    let env = Env::start(|c| {
        c.faults.seed = 1;
        c.faults.applied_then_502 = 1.0;
    })
    .await;
    let mut client = env.client();
    client.retry.max_attempts = 2;
    let first =
        load(&f.teams, &f.canonical, &env.state(), &LoadOptions { client, dry_run: false }).await.unwrap();
    assert!(!first.is_complete());
    env.set_faults(&serde_json::json!({})).await;
    let second = env.load(&f.teams).await.unwrap();
    assert!(second.is_complete(), "{:#?}", second.failures);
    assert_eq!(assert_teams_exact(&env, &f.teams).await, 0, "a 502 after the write made a second team");
    assert!(env.verify(&f.teams).await.clean);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_token_endpoint_outage_is_waited_out_not_fatal() {
    let f = fixture();
    // The token endpoint (and the API) answer 503 most of the time: a token fetch that
    // fails its own quick retries is retried with the normal backoff, and the run goes on.
    let env = Env::start(|c| {
        c.faults.seed = 9;
        c.faults.rate_503 = 0.8;
        c.faults.include_token_endpoints = true;
    })
    .await;
    let mut client = env.client();
    client.retry.max_attempts = 40;
    let opts = LoadOptions { client, dry_run: false };
    let first =
        load(&f.chat, &f.canonical, &env.state(), &opts).await.expect("a token outage must not stop the run");
    let second = load(&f.chat, &f.canonical, &env.state(), &opts).await.unwrap();
    assert!(first.is_complete() || second.is_complete(), "{:#?}", second.failures);
    assert!(first.retries > 0);
    assert_chat_exact(&env, &f.chat).await;
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_verify_checks_the_space_itself() {
    let f = fixture();
    let env = Env::start(|_| {}).await;
    let s = env.load(&f.chat).await.unwrap();
    assert!(s.is_complete(), "{:#?}", s.failures);
    let space = stored(&env, "space-c01general/create")["name"].as_str().unwrap().to_string();
    let importer = "admin@example.com";
    let (status, v) = chat_call(
        &env,
        importer,
        reqwest::Method::PATCH,
        &format!("{space}?updateMask=displayName"),
        Some(serde_json::json!({"displayName": "renamed by someone"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let report = env.verify(&f.chat).await;
    let d = differences(&report, "container");
    assert_eq!(d.len(), 1, "{d:#?}");
    assert!(d[0].detail.contains("renamed by someone"), "{:?}", d[0]);
    env.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_uploads_into_an_existing_channel_never_replace_a_users_file() {
    use chatport_load::teams::bind_existing_channels;
    let f = fixture();
    let env = Env::start(|_| {}).await;
    let (team, channels) = existing_team(&env).await;
    // A user's own data.json in the channel the plan's data.json goes to.
    let (_, _, folder) = graph_call(
        &env,
        reqwest::Method::GET,
        &format!("teams/{team}/channels/{}/filesFolder", channels[1]),
        Value::Null,
    )
    .await;
    let (drive, folder_id) =
        (folder["parentReference"]["driveId"].as_str().unwrap(), folder["id"].as_str().unwrap());
    let users = serde_json::json!({"the user's": "own file"});
    let (status, _, mine) = graph_call(
        &env,
        reqwest::Method::PUT,
        &format!("drives/{drive}/items/{folder_id}:/data.json:/content"),
        users.clone(),
    )
    .await;
    assert!(status == 200 || status == 201, "{mine}");
    bind_existing_channels(&f.teams, &env.state(), &existing_mappings(&team, &channels)).unwrap();
    let s = env.load(&f.teams).await.unwrap();
    assert!(s.is_complete(), "{:#?}", s.failures);
    // Again, as after a lost answer: the imported copy is recognised, not uploaded twice.
    let db = rusqlite::Connection::open(env.state()).unwrap();
    db.execute("DELETE FROM ops WHERE action = 'teams_upload_file' AND container = 'channel-g01priv'", [])
        .unwrap();
    let again = env.load(&f.teams).await.unwrap();
    assert!(again.is_complete(), "{:#?}", again.failures);
    let st = env.admin("state").await;
    let items: Vec<&Value> = st["graph"]["drive_items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| {
            i["parent_id"].as_str() == Some(folder_id) && i["name"].as_str().unwrap().starts_with("data")
        })
        .collect();
    assert_eq!(items.len(), 2, "{items:#?}");
    let user_item = items.iter().find(|i| i["id"] == mine["id"]).expect("the user's file is still there");
    assert_eq!(user_item["size"].as_u64(), Some(users.to_string().len() as u64));
    assert!(env.verify(&f.teams).await.clean);
    env.emu.shutdown().await;
}
