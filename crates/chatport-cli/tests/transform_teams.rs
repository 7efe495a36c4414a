//! `chatport transform --to teams` on the sample export: accounting, the Teams rules, and
//! snapshots of both plans (Chat and Teams) for the fixture export.

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

const NOW: &str = "2026-11-24T00:00:00Z";
const FALLBACK: &str = "00000000-0000-4000-8000-00000000f411";

fn canonical(tmp: &Path) -> PathBuf {
    let out = tmp.join("canonical");
    chatport().args(["extract", "--no-progress"]).arg(sample()).arg("--out").arg(&out).assert().success();
    out
}

fn plan(canonical: &Path, out: &Path, to: &str) {
    let mut cmd = chatport();
    cmd.args(["transform", "--to", to, "--now", NOW]).arg(canonical).arg("--out").arg(out);
    if to == "chat" {
        cmd.args(["--importer", "admin@corp.example", "--domain", "example.com"]);
    } else {
        cmd.args(["--fallback-user", FALLBACK, "--team-name", "Sample workspace"]);
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn all_ops(plan: &Path) -> Vec<Value> {
    let mut all = Vec::new();
    for c in jsonl(&plan.join("containers.jsonl")) {
        all.extend(jsonl(&plan.join(c["ops_path"].as_str().unwrap())));
    }
    all
}

#[test]
fn teams_plan_accounts_for_every_message_and_obeys_the_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let c = canonical(tmp.path());
    let p = tmp.path().join("teams");
    plan(&c, &p, "teams");
    let ops = all_ops(&p);
    let report = jsonl(&p.join("report.jsonl"));
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for op in ops.iter().filter(|o| o["source"]["primary"] == true) {
        *seen
            .entry((
                op["source"]["conversation"].as_str().unwrap().into(),
                op["source"]["ts"].as_str().unwrap().into(),
            ))
            .or_default() += 1;
    }
    for e in report.iter().filter(|e| e["item"] == "message" && e["outcome"] == "dropped") {
        *seen
            .entry((e["conversation"].as_str().unwrap().into(), e["ts"].as_str().unwrap().into()))
            .or_default() += 1;
    }
    assert_eq!(seen.len(), 35);
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");

    let containers = jsonl(&p.join("containers.jsonl"));
    let kinds: Vec<&str> = containers.iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds[0], "teams_team", "the workspace team comes first");
    // Private channel, group DM and DM each get a team of their own.
    let teams = kinds.iter().filter(|k| **k == "teams_team").count();
    assert_eq!(teams, 4);
    let mut ids = HashSet::new();
    for container in &containers {
        let ops = jsonl(&p.join(container["ops_path"].as_str().unwrap()));
        let mut last = String::new();
        let mut posted: HashSet<String> = HashSet::new();
        for op in &ops {
            assert!(ids.insert(op["id"].as_str().unwrap().to_owned()));
            let a = &op["action"];
            match a["type"].as_str().unwrap() {
                "teams_create_channel" => {
                    let name = a["channel"]["displayName"].as_str().unwrap();
                    assert!(
                        name.chars().count() <= 50 && !name.contains(['#', '%', '&', '*', ':', '/', '?'])
                    );
                    assert_eq!(a["channel"]["@microsoft.graph.channelCreationMode"], "migration");
                }
                "teams_post_message" => {
                    let t = a["message"]["createdDateTime"].as_str().unwrap().to_owned();
                    assert_eq!(t.len(), 24, "millisecond precision: {t}");
                    assert!(t > last, "unique and increasing per channel: {t} after {last}");
                    assert!(t.as_str() < NOW);
                    last = t;
                    assert!(a["message"]["from"]["user"]["id"].is_string());
                    assert_eq!(a["message"]["body"]["contentType"], "html");
                    if let Some(parent) = a["reply_to"].as_str() {
                        assert!(posted.contains(parent), "reply after its root");
                    }
                    posted.insert(op["id"].as_str().unwrap().to_owned());
                    assert!(!a["message"].to_string().contains("<at "), "no mentions in imports");
                }
                _ => {}
            }
        }
    }
    let general = jsonl(&p.join("ops/channel-c01general.jsonl"));
    assert_eq!(general[0]["action"]["type"], "teams_use_general_channel");
    // The two messages in the same millisecond got distinct times.
    let time_of = |ts: &str| {
        general.iter().find(|o| o["id"] == format!("channel-c01general/msg/{ts}")).unwrap()["action"]
            ["message"]["createdDateTime"]
            .clone()
    };
    assert_ne!(time_of("1704100800.000100"), time_of("1704100800.000400"));
    // Reactions become a footer, each reaction counted in the report.
    let reacted = general.iter().find(|o| o["id"] == "channel-c01general/msg/1704100300.000600").unwrap();
    assert!(reacted["action"]["message"]["body"]["content"].as_str().unwrap().contains("Reactions:"));
    let footer = report.iter().filter(|e| e["reason"] == "reaction_as_footer").count();
    assert_eq!(footer, 6, "every message × emoji × user");
    // The private channel's image is inline; its non-image file an upload.
    let private = jsonl(&p.join("ops/channel-g01priv.jsonl"));
    let with_image = private.iter().find(|o| o["id"] == "channel-g01priv/msg/1704200400.000200").unwrap();
    assert_eq!(with_image["action"]["hosted_contents"][0]["blob"]["content_type"], "image/png");
    assert!(with_image["action"]["message"]["body"]["content"]
        .as_str()
        .unwrap()
        .contains("../hostedContents/1/$value"));
    assert!(private.iter().any(|o| o["action"]["type"] == "teams_upload_file"));
}

fn snapshot_text(plan: &Path) -> String {
    let mut text = String::new();
    for c in jsonl(&plan.join("containers.jsonl")) {
        text.push_str(&format!("# {}\n", serde_json::to_string(&c).unwrap()));
        for op in jsonl(&plan.join(c["ops_path"].as_str().unwrap())) {
            text.push_str(&serde_json::to_string(&op).unwrap());
            text.push('\n');
        }
    }
    text.push_str("# report\n");
    text.push_str(&std::fs::read_to_string(plan.join("report.jsonl")).unwrap());
    let counts: BTreeMap<String, Value> =
        serde_json::from_value(json(&plan.join("manifest.json"))["counts"].clone()).unwrap();
    text.push_str(&format!("# counts {}\n", serde_json::to_string(&counts).unwrap()));
    text
}

#[test]
fn plan_snapshots_for_the_sample_export() {
    let tmp = tempfile::tempdir().unwrap();
    let c = canonical(tmp.path());
    for to in ["chat", "teams"] {
        let p = tmp.path().join(to);
        plan(&c, &p, to);
        insta::assert_snapshot!(format!("sample_plan_{to}"), snapshot_text(&p));
    }
}

#[test]
fn demo_runs_the_whole_pipeline_against_the_emulator() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("demo");
    let o = chatport().args(["demo", "--export"]).arg(sample()).arg("--out").arg(&out).output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(stdout.matches("verify: clean (24 of 24 messages found)").count(), 2, "{stdout}");
    assert!(stdout.contains("complete: 7 containers completed, 0 left alone"), "{stdout}");
    assert!(stdout.contains("complete: 11 containers completed, 0 left alone"), "{stdout}");
    for name in ["plan-chat/verify/verify.json", "plan-teams/verify/verify.json", "canonical/manifest.json"] {
        assert!(out.join(name).exists(), "{name}");
    }
    // No secret of the generated credentials leaks into plans, reports or state dumps.
    let key = std::fs::read_to_string(out.join("credentials/microsoft-app.json")).unwrap();
    let secret: serde_json::Value = serde_json::from_str(&key).unwrap();
    let secret = secret["client_secret"].as_str().unwrap().to_owned();
    assert!(!stdout.contains(&secret));
    for db in ["state-chat.db", "state-teams.db"] {
        let bytes = String::from_utf8_lossy(&std::fs::read(out.join(db)).unwrap()).into_owned();
        assert!(
            !bytes.contains(&secret) && !bytes.contains("PRIVATE KEY") && !bytes.contains("access_token"),
            "{db}"
        );
    }
    for dir in ["plan-chat", "plan-teams", "canonical"] {
        for rel in files_under(&out.join(dir)) {
            let bytes = std::fs::read(out.join(dir).join(&rel)).unwrap();
            assert!(!String::from_utf8_lossy(&bytes).contains(&secret), "{dir}/{rel}");
        }
    }
}
