//! `chatport load` killed with SIGKILL at seeded random points, then re-run with the same
//! command: the destination must end with exactly what the plan says (no duplicate, no
//! gap) and `chatport verify` must exit 0.
//!
//! The loader runs as a real child process (the `chatport` binary); the emulator runs in
//! this test process so its state can be read back through `/__admin/state`. A kill point
//! is "after the state store has recorded k finished operations, plus a random 0–4 ms";
//! with the emulator adding 2–8 ms of latency per request, most kills land while a request
//! is in flight, which is the instant that matters for exactly-once.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chatport_emulator::{start, DirectoryUser, EmulatorConfig, RunningEmulator, TestCredentials};
use rand::{Rng, SeedableRng};
use serde_json::Value;

// The CLI tests' helpers: this file is a test target of `chatport-cli` (see its
// Cargo.toml), so `chatport` is its own binary.
#[path = "../crates/chatport-cli/tests/common/mod.rs"]
mod common;
#[path = "support/destination.rs"]
mod destination;
use destination::{assert_chat_exact, assert_teams_exact};

const FALLBACK: &str = "11111111-2222-3333-4444-555555555555";
const NOW: &str = "2026-01-01T00:00:00Z";
/// Kill attempts per seed before the final, uninterrupted run.
const KILLS_PER_SEED: usize = 3;

/// The sample export extracted and planned for both destinations (once per test binary).
struct Plans {
    _dir: tempfile::TempDir,
    canonical: PathBuf,
    chat: PathBuf,
    teams: PathBuf,
}

fn plans() -> &'static Plans {
    static P: std::sync::OnceLock<Plans> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let canonical = dir.path().join("canonical");
        common::chatport()
            .args(["extract", "--no-progress"])
            .arg(common::sample())
            .arg("--out")
            .arg(&canonical)
            .assert()
            .success();
        let chat = dir.path().join("plan-chat");
        common::chatport()
            .args(["transform", "--to", "chat", "--now", NOW, "--importer", "admin@example.com"])
            .arg(&canonical)
            .arg("--out")
            .arg(&chat)
            .assert()
            .success();
        let teams = dir.path().join("plan-teams");
        common::chatport()
            .args(["transform", "--to", "teams", "--now", NOW, "--fallback-user", FALLBACK])
            .arg(&canonical)
            .arg("--out")
            .arg(&teams)
            .assert()
            .success();
        Plans { _dir: dir, canonical, chat, teams }
    })
}

fn creds() -> &'static TestCredentials {
    static C: std::sync::OnceLock<TestCredentials> = std::sync::OnceLock::new();
    C.get_or_init(|| TestCredentials::generate().unwrap())
}

/// One emulator (in this process) and one state file, shared by the killed runs and the
/// final run of one seed.
struct Env {
    dir: tempfile::TempDir,
    emu: RunningEmulator,
    base: String,
}

impl Env {
    async fn start() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let mut c = EmulatorConfig {
            auto_users_domain: Some("example.com".into()),
            users: vec![DirectoryUser::new("carol@guest.example.org")],
            ..EmulatorConfig::local(dir.path().join("emu"), creds())
        };
        c.quotas.enabled = false;
        c.faults.latency_ms = 2;
        c.faults.latency_jitter_ms = 6;
        let emu = start(c).await.unwrap();
        let base = emu.base_url();
        creds().write(&dir.path().join("creds"), Some(&base)).unwrap();
        Env { dir, emu, base }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state.db")
    }

    /// `chatport <verb> <plan> …` with this environment's endpoint, credentials and state.
    fn command(&self, verb: &str, plan: &Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatport"));
        cmd.arg(verb)
            .arg(plan)
            .arg("--state")
            .arg(self.state())
            .args(["--endpoint", &self.base])
            .arg("--google-key")
            .arg(self.dir.path().join("creds/google-service-account.json"))
            .arg("--microsoft-app")
            .arg(self.dir.path().join("creds/microsoft-app.json"))
            .args(["--no-quotas", "--poll-seconds", "0.01", "--concurrency", "4", "--log-format", "json"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if verb == "load" {
            cmd.arg("--canonical").arg(&plans().canonical);
        } else {
            cmd.arg("--out").arg(self.dir.path().join("verify"));
        }
        cmd
    }

    fn spawn_load(&self, plan: &Path) -> Child {
        self.command("load", plan).spawn().expect("spawn chatport load")
    }

    /// Operations the state store has recorded as done (0 when it does not exist yet or
    /// is busy at this instant).
    fn done_ops(&self) -> i64 {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let Ok(db) = rusqlite::Connection::open_with_flags(self.state(), flags) else { return 0 };
        db.query_row("SELECT count(*) FROM ops WHERE status = 'done'", [], |r| r.get(0)).unwrap_or(0)
    }

    async fn admin_state(&self) -> Value {
        reqwest::get(format!("{}/__admin/state", self.base)).await.unwrap().json().await.unwrap()
    }
}

/// What happened to one killed run.
#[derive(Debug, PartialEq)]
enum Killed {
    /// Killed after `done` operations were recorded.
    Mid { done: i64 },
    /// The run finished before the kill point was reached.
    Finished,
}

/// Starts `chatport load`, waits until at least `k` operations are done, waits `extra`,
/// then sends SIGKILL.
fn load_and_kill(env: &Env, plan: &Path, k: i64, extra: Duration) -> Killed {
    let mut child = env.spawn_load(plan);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                std::io::Read::read_to_string(&mut e, &mut err).unwrap();
            }
            assert!(status.success(), "load exited with {status} before the kill point: {err}");
            return Killed::Finished;
        }
        if env.done_ops() >= k {
            break;
        }
        assert!(Instant::now() < deadline, "load made no progress to {k} operations in 60 s");
        std::thread::sleep(Duration::from_micros(500));
    }
    std::thread::sleep(extra);
    // std's Child::kill is SIGKILL on Unix: no destructor, no flush, no signal handler.
    let _ = child.kill();
    let status = child.wait().unwrap();
    if status.success() {
        return Killed::Finished;
    }
    Killed::Mid { done: env.done_ops() }
}

/// Runs the command to completion and returns its exit status and stderr.
fn run(mut cmd: Command) -> (std::process::ExitStatus, String) {
    let out = cmd.output().unwrap();
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Loads `plan` under up to [`KILLS_PER_SEED`] SIGKILLs at seeded points for each seed,
/// then once more to the end, checking exact destination counts and a clean verify.
/// Returns how many runs were killed mid-run.
async fn kill_and_resume(plan: &Path, seeds: std::ops::Range<u64>, teams: bool) -> usize {
    // Calibration: how many operations a complete load records.
    let env = Env::start().await;
    let (status, err) = run(env.command("load", plan));
    assert!(status.success(), "uninterrupted load failed: {err}");
    let total = env.done_ops();
    assert!(total > 10, "plan too small to kill at random points: {total} operations");
    env.emu.shutdown().await;

    let mut killed = 0;
    for seed in seeds {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let env = Env::start().await;
        let mut points: Vec<i64> = (0..KILLS_PER_SEED).map(|_| rng.gen_range(1..total)).collect();
        points.sort_unstable();
        for k in points {
            let extra = Duration::from_micros(rng.gen_range(0..4_000));
            match load_and_kill(&env, plan, k, extra) {
                // Killed after its last operation, while shutting down: not a mid-run kill.
                Killed::Mid { done } if done >= total => break,
                Killed::Mid { .. } => killed += 1,
                Killed::Finished => break,
            }
        }
        let (status, err) = run(env.command("load", plan));
        assert!(status.success(), "seed {seed}: resumed load failed: {err}");
        assert_eq!(env.done_ops(), total, "seed {seed}: operations recorded after resume");
        if teams {
            assert_teams_exact(&env.admin_state().await, plan, &format!("seed {seed}"));
        } else {
            assert_chat_exact(&env.admin_state().await, plan, &format!("seed {seed}"));
        }
        let (status, err) = run(env.command("verify", plan));
        assert!(status.success(), "seed {seed}: verify found differences: {err}");
        env.emu.shutdown().await;
    }
    killed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_load_survives_sigkill_at_20_seeded_points() {
    let killed = kill_and_resume(&plans().chat, 0..20, false).await;
    eprintln!("chat: {killed} loads killed mid-run with SIGKILL");
    assert!(killed >= 20, "only {killed} kills landed mid-run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_load_survives_sigkill_at_20_seeded_points() {
    let killed = kill_and_resume(&plans().teams, 100..120, true).await;
    eprintln!("teams: {killed} loads killed mid-run with SIGKILL");
    assert!(killed >= 20, "only {killed} kills landed mid-run");
}
