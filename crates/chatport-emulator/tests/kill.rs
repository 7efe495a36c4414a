//! Durability against SIGKILL: runs the emulator (`chatport_emulator::run`, what the CLI
//! calls) in a child process — this test binary re-executed with an ignored harness test as
//! entry point — kills it without warning after acknowledged writes, restarts it on the
//! same data directory, and checks that nothing acknowledged was lost.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;
use serde_json::{json, Value};

const CHILD_ARGS: &str = "CHATPORT_EMULATOR_CHILD_ARGS";

/// Entry point of the child process (ignored in normal runs): parses the emulator options
/// passed in the environment and runs the emulator until killed.
#[test]
#[ignore = "harness: the child process of nothing_acknowledged_is_lost_when_killed"]
fn emulator_child_process() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: chatport_emulator::EmulateArgs,
    }
    let args: Vec<String> = serde_json::from_str(&std::env::var(CHILD_ARGS).unwrap()).unwrap();
    let cli = Cli::parse_from(std::iter::once("emulate".to_string()).chain(args));
    chatport_emulator::run(cli.args).unwrap();
}

/// Starts the emulator; returns the child and its base URL (read from its stderr banner).
fn spawn(data: &Path, creds: &Path) -> (Child, String) {
    let args = json!([
        "--listen",
        "127.0.0.1:0",
        "--auto-users-domain",
        "example.com",
        "--data",
        data,
        "--write-test-credentials",
        creds,
    ]);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "emulator_child_process", "--nocapture"])
        .env(CHILD_ARGS, args.to_string())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let base = loop {
        let line = lines.next().expect("emulator exited before listening").unwrap();
        if let Some(rest) = line.strip_prefix("chatport emulator listening on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, base)
}

async fn token(http: &reqwest::Client, creds: &Path, sub: Option<&str>, scope: &str) -> String {
    let c = chatport_emulator::TestCredentials::read(creds).unwrap();
    let key: Value =
        serde_json::from_str(&std::fs::read_to_string(creds.join("google-service-account.json")).unwrap())
            .unwrap();
    let uri = key["token_uri"].as_str().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let assertion = c.google_assertion(sub, &[scope], uri, now).unwrap();
    let resp = http
        .post(uri)
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn nothing_acknowledged_is_lost_when_killed() {
    let dir = tempfile::tempdir().unwrap();
    let (data, creds) = (dir.path().join("data"), dir.path().join("creds"));
    let http = reqwest::Client::new();
    let (mut child, base) = spawn(&data, &creds);
    let user =
        token(&http, &creds, Some("ada@example.com"), "https://www.googleapis.com/auth/chat.import").await;
    let app = token(&http, &creds, None, "https://www.googleapis.com/auth/chat.bot").await;
    let space: Value = http
        .post(format!("{base}/v1/spaces"))
        .bearer_auth(&user)
        .json(&json!({"spaceType": "SPACE", "displayName": "kill test", "importMode": true, "createTime": "2020-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let space = space["name"].as_str().unwrap().to_string();
    for i in 0..50 {
        let resp = http
            .post(format!("{base}/v1/{space}/messages?messageId=client-k-{i}"))
            .bearer_auth(&user)
            .json(&json!({"text": format!("m{i}"), "createTime": format!("2020-01-02T00:00:{i:02}Z")}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    child.kill().unwrap(); // SIGKILL: no shutdown, no flush.
    child.wait().unwrap();

    let (mut child, base) = spawn(&data, &creds);
    for i in [0, 25, 49] {
        // Tokens issued before the kill are still valid; every acknowledged message is back.
        let resp = http
            .get(format!("{base}/v1/{space}/messages/client-k-{i}"))
            .bearer_auth(&app)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "message {i}");
    }
    let resp = http
        .post(format!("{base}/v1/{space}/messages?messageId=client-k-7"))
        .bearer_auth(&user)
        .json(&json!({"text": "again", "createTime": "2020-01-03T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    child.kill().unwrap();
    child.wait().unwrap();
}
