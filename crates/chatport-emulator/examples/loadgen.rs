//! Load generator for the emulator: how many Chat `messages.create` calls per second it
//! accepts with quotas off. Starts an emulator in-process on 127.0.0.1:0 (state in a
//! temporary directory), creates import-mode spaces, then sends messages from concurrent
//! HTTP/1.1 connections and reports accepted creates per second.
//!
//! `cargo run --release -p chatport-emulator --example loadgen -- [messages] [concurrency] [spaces]`
//!
//! The emulator runs on its own runtime (threads `emulator-rt`), so on Linux the report
//! also gives the emulator's own CPU time per accepted create, read from /proc: a figure
//! that does not depend on how busy the machine is or on the client's cost.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use chatport_emulator::{start, EmulatorConfig, TestCredentials};
use serde_json::{json, Value};

/// CPU seconds (user + system) used so far by this process's threads whose name starts
/// with one of `prefixes` (Linux only; 0 elsewhere).
fn thread_cpu_secs(prefixes: &[&str]) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0.0 };
    let mut ticks = 0u64;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let name = &stat[open + 1..close];
        if !prefixes.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the name.
        ticks += fields.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        ticks += fields.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    }
    ticks as f64 / 100.0
}

const EMULATOR_THREADS: &[&str] = &["emulator-rt", "emulator-store", "emulator-check"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emulator_rt =
        tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("emulator-rt").build()?;
    let client_rt =
        tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("loadgen-client").build()?;
    client_rt.block_on(run(&emulator_rt))
}

async fn run(emulator_rt: &tokio::runtime::Runtime) -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let total = args.first().copied().unwrap_or(100_000);
    let concurrency = args.get(1).copied().unwrap_or(64);
    let spaces = args.get(2).copied().unwrap_or(16);
    let dir = tempfile::tempdir()?;
    let creds = TestCredentials::generate()?;
    let mut config = EmulatorConfig {
        auto_users_domain: Some("example.com".into()),
        ..EmulatorConfig::local(dir.path().to_path_buf(), &creds)
    };
    config.quotas.enabled = false;
    let emu = emulator_rt.spawn(start(config)).await??;
    let base = emu.base_url();
    let http = reqwest::Client::builder().pool_max_idle_per_host(concurrency as usize).build()?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
    let assertion = creds.google_assertion(
        Some("load@example.com"),
        &["https://www.googleapis.com/auth/chat.import"],
        &format!("{base}/token"),
        now,
    )?;
    let token: Value = http
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ])
        .send()
        .await?
        .json()
        .await?;
    let token = Arc::new(token["access_token"].as_str().ok_or("no token")?.to_string());
    let mut space_names = Vec::new();
    for i in 0..spaces {
        let v: Value = http
            .post(format!("{base}/v1/spaces"))
            .bearer_auth(token.as_str())
            .json(&json!({"spaceType": "SPACE", "displayName": format!("load {i}"), "importMode": true, "createTime": "2015-01-01T00:00:00Z"}))
            .send()
            .await?
            .json()
            .await?;
        space_names.push(v["name"].as_str().ok_or("no space")?.to_string());
    }
    let space_names = Arc::new(space_names);
    let next = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let cpu_before = thread_cpu_secs(EMULATOR_THREADS);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (http, base, token, spaces, next, accepted) =
            (http.clone(), base.clone(), token.clone(), space_names.clone(), next.clone(), accepted.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let space = &spaces[(i % spaces.len() as u64) as usize];
                // Distinct microsecond timestamps; every tenth message replies in a thread.
                let create_time = chatport_emulator::time::Timestamp(1_500_000_000_000_000_000 + i as i64 * 1_000).to_rfc3339();
                let body = if i % 10 == 0 {
                    json!({"text": format!("message {i}"), "createTime": create_time})
                } else {
                    json!({"text": format!("message {i}"), "createTime": create_time, "thread": {"threadKey": format!("t{}", i / 10)}})
                };
                let url = format!("{base}/v1/{space}/messages?messageId=client-load-{i}&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD");
                if let Ok(resp) = http.post(url).bearer_auth(token.as_str()).json(&body).send().await {
                    if resp.status().is_success() {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = resp.bytes().await;
                }
            }
        }));
    }
    for w in workers {
        w.await?;
    }
    let secs = started.elapsed().as_secs_f64();
    let emulator_cpu = thread_cpu_secs(EMULATOR_THREADS) - cpu_before;
    let ok = accepted.load(Ordering::Relaxed);
    println!("{ok}/{total} message creates accepted in {secs:.2} s with {concurrency} connections over {spaces} spaces: {:.0} creates/s", ok as f64 / secs);
    if emulator_cpu > 0.0 {
        let per = emulator_cpu / ok.max(1) as f64;
        println!(
            "emulator CPU: {emulator_cpu:.2} s = {:.1} us per create, i.e. {:.0} creates/s per core",
            per * 1e6,
            1.0 / per
        );
    }
    emulator_rt.spawn(emu.shutdown()).await?;
    Ok(())
}
