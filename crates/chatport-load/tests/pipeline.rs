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

/// Counts of plan actions.
fn planned(plan: &Path, action: &str) -> usize {
    let p = chatport_load::plan_dir::Plan::read(plan).unwrap();
    p.containers.iter().flat_map(|c| c.ops.iter()).filter(|o| o.action.name() == action).count()
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
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().join("emu"),
            auto_users_domain: Some("example.com".into()),
            ..EmulatorConfig::default()
        };
        c.quotas.enabled = false;
        c.users = vec![DirectoryUser::new("carol@guest.example.org")];
        c.google_service_accounts = vec![creds().service_account_trust()];
        c.microsoft_apps = vec![creds().microsoft_trust()];
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

fn count(v: &Value, pred: impl Fn(&Value) -> bool) -> usize {
    v.as_array().map_or(0, |a| a.iter().filter(|x| pred(x)).count())
}

/// Destination counts equal the plan exactly (Chat).
async fn assert_chat_exact(env: &Env, plan: &Path) {
    let st = env.admin("state").await;
    let chat = &st["chat"];
    let live = |m: &Value| m["delete_time"].is_null() && m["deleted"].as_bool() != Some(true);
    assert_eq!(
        count(&chat["spaces"], |s| s["deleted"].as_bool() != Some(true)),
        planned(plan, "chat_create_space")
    );
    assert_eq!(count(&chat["messages"], live), planned(plan, "chat_create_message"), "messages");
    assert_eq!(
        count(&chat["reactions"], |r| r["deleted"].as_bool() != Some(true)),
        planned(plan, "chat_create_reaction"),
        "reactions"
    );
    let mut ids: Vec<&str> =
        chat["messages"].as_array().unwrap().iter().filter_map(|m| m["client_id"].as_str()).collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicate client ids");
}

/// Destination counts equal the plan exactly (Teams). Teams created by a lost POST
/// /teams answer cannot be reconciled on the emulator (no team listing); they must be
/// empty.
async fn assert_teams_exact(env: &Env, plan: &Path) -> usize {
    let st = env.admin("state").await;
    let g = &st["graph"];
    assert_eq!(count(&g["messages"], |_| true), planned(plan, "teams_post_message"), "messages");
    let non_general = count(&g["channels"], |c| {
        c["is_general"].as_bool() != Some(true) && c["deleted"].as_bool() != Some(true)
    });
    assert_eq!(non_general, planned(plan, "teams_create_channel"), "channels");
    let teams = count(&g["teams"], |t| t["deleted"].as_bool() != Some(true));
    let expected = planned(plan, "teams_create_team");
    assert!(teams >= expected);
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
    let report = env.verify(&f.chat).await;
    assert!(report.clean, "{:#?}", report.containers);
    assert!(env.dir.path().join("verify/verify.json").exists());
    // A second load changes nothing.
    let again = env.load(&f.chat).await.unwrap();
    assert_eq!(again.done, 0);
    assert_eq!(again.requests, 0);
    let opts = CompleteOptions {
        client: env.client(),
        force: false,
        verify_out: env.dir.path().join("verify2"),
        expiry_warning: Duration::from_secs(7 * 86_400),
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
    let opts = CompleteOptions {
        client: env.client(),
        force: false,
        verify_out: env.dir.path().join("verify2"),
        expiry_warning: Duration::from_secs(86_400),
    };
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
    eprintln!("teams: {interrupted} interrupted runs, {recon} operations reconciled; empty orphan teams left by crashes during POST /teams: {orphans}");
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
    let opts = CompleteOptions {
        client: env.client(),
        force: false,
        verify_out: env.dir.path().join("verify2"),
        expiry_warning: Duration::from_secs(86_400),
    };
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
    assert!(r.to_string().contains("quota bound: 42 requests"), "{r}");
    // At 6 writes per minute per space, the biggest space (19 writes) needs 13 more after
    // its burst, 10 s apart.
    let mut slow = ClientOptions::default();
    slow.quotas.chat_space_writes = 6.0;
    let opts = LoadOptions { client: slow, dry_run: true };
    let r = load(&f.chat, &f.canonical, Path::new("/nonexistent/state.db"), &opts)
        .await
        .unwrap()
        .dry_run
        .unwrap();
    assert!(r.estimated_seconds >= 130.0 - 1e-6, "{r}");
    let _ = Action::ChatCompleteImport;
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
    let team_ops = [op(
        "team/create",
        0,
        "team",
        Action::TeamsCreateTeam {
            team: json!({"@microsoft.graph.teamCreationMode": "migration", "displayName": "Files",
            "template@odata.bind": "https://graph.microsoft.com/v1.0/teamsTemplates('standard')", "createdDateTime": t0}),
        },
    )];
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
        container("team", ContainerKind::TeamsTeam, None, 1),
        container("ch", ContainerKind::TeamsChannel, Some("team"), 3),
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
