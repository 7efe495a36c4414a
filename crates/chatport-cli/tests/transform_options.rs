//! The transform options added for the planner audit, end to end on the sample export:
//! `chatport users --to teams` says which rows still need an AAD object id, a non-GUID
//! `--fallback-user` is refused, `--domain` decides who is external in Chat, and
//! `--name-prefix`/`--name-suffix` wrap space and team names.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

const NOW: &str = "2026-11-24T00:00:00Z";
const FALLBACK: &str = "00000000-0000-4000-8000-00000000f411";

fn canonical(tmp: &Path) -> PathBuf {
    let out = tmp.join("canonical");
    chatport().args(["extract", "--no-progress"]).arg(sample()).arg("--out").arg(&out).assert().success();
    out
}

fn spaces(plan: &Path) -> Vec<Value> {
    jsonl(&plan.join("containers.jsonl"))
        .iter()
        .flat_map(|c| jsonl(&plan.join(c["ops_path"].as_str().unwrap_or_default())))
        .filter(|o| o["action"]["type"] == "chat_create_space")
        .map(|o| o["action"]["space"].clone())
        .collect()
}

#[test]
fn users_to_teams_counts_rows_without_object_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let c = canonical(tmp.path());
    let o = chatport()
        .args(["users", "--to", "teams"])
        .arg(&c)
        .arg("--out")
        .arg(tmp.path().join("users.csv"))
        .output()
        .unwrap();
    assert!(o.status.success());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("not an AAD object id") && stdout.contains("object id (a GUID"), "{stdout}");
    // Without --to teams the Chat template says nothing about object ids.
    let o = chatport().arg("users").arg(&c).arg("--out").arg(tmp.path().join("u2.csv")).output().unwrap();
    assert!(!String::from_utf8_lossy(&o.stdout).contains("object id"));
}

#[test]
fn fallback_user_must_be_an_object_id() {
    let tmp = tempfile::tempdir().unwrap();
    let c = canonical(tmp.path());
    let o = chatport()
        .args(["transform", "--to", "teams", "--now", NOW, "--fallback-user", "importer@example.com"])
        .arg(&c)
        .arg("--out")
        .arg(tmp.path().join("plan"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("--fallback-user") && stderr.contains("object id"), "{stderr}");
}

#[test]
fn domain_and_name_affixes_shape_the_chat_plan() {
    let tmp = tempfile::tempdir().unwrap();
    let c = canonical(tmp.path());
    let plan = |name: &str, extra: &[&str]| {
        let out = tmp.path().join(name);
        chatport()
            .args(["transform", "--to", "chat", "--now", NOW, "--importer", "admin@example.com"])
            .args(extra)
            .arg(&c)
            .arg("--out")
            .arg(&out)
            .assert()
            .success();
        out
    };
    // The sample's users are at example.com, except Carol (a guest at guest.example.org) and
    // Erin (a Slack Connect user of another organisation).
    let externals = |plan: &Path| spaces(plan).iter().filter(|s| s["externalUserAllowed"] == true).count();
    let same = plan("same", &[]);
    // Counting Carol's domain in, only the spaces with Erin stay external.
    let carol_in = plan("carol-in", &["--domain", "guest.example.org"]);
    assert!(externals(&same) > externals(&carol_in), "{} {}", externals(&same), externals(&carol_in));
    assert!(externals(&carol_in) > 0, "Erin is external whatever the domains");
    let report = std::fs::read_to_string(same.join("report.jsonl")).unwrap();
    assert!(report.contains("U03CAROL Carol Guest (external)"), "Carol is reported as posted by the app");
    // Affixes wrap every named space.
    let named = plan("named", &["--name-prefix", "Slack: ", "--name-suffix", " (2024)"]);
    let names: Vec<String> =
        spaces(&named).iter().filter_map(|s| s["displayName"].as_str().map(str::to_owned)).collect();
    assert!(!names.is_empty());
    assert!(names.iter().all(|n| n.starts_with("Slack: ") && n.ends_with(" (2024)")), "{names:?}");
    let teams = tmp.path().join("teams");
    chatport()
        .args(["transform", "--to", "teams", "--now", NOW, "--fallback-user", FALLBACK])
        .args(["--team-name", "Acme", "--name-prefix", "Slack: "])
        .arg(&c)
        .arg("--out")
        .arg(&teams)
        .assert()
        .success();
    let containers = jsonl(&teams.join("containers.jsonl"));
    let team_names: Vec<&str> = containers
        .iter()
        .filter(|c| c["kind"] == "teams_team")
        .filter_map(|c| c["display_name"].as_str())
        .collect();
    assert!(team_names.contains(&"Slack: Acme"), "{team_names:?}");
    assert!(team_names.iter().all(|n| n.starts_with("Slack: ")));
}
