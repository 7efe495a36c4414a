//! `chatport users` + `chatport transform --to chat` on the sample export: every message is
//! accounted for exactly once, and the plan satisfies the Google Chat import rules.

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

const NOW: &str = "2026-11-24T00:00:00Z";

fn canonical(tmp: &Path) -> PathBuf {
    let out = tmp.join("canonical");
    chatport().args(["extract", "--no-progress"]).arg(sample()).arg("--out").arg(&out).assert().success();
    out
}

fn transform(canonical: &Path, plan: &Path, extra: &[&str]) -> Value {
    let o = chatport()
        .args([
            "transform",
            "--to",
            "chat",
            "--importer",
            "admin@corp.example",
            "--domain",
            "example.com",
            "--now",
            NOW,
            "--json",
        ])
        .arg(canonical)
        .arg("--out")
        .arg(plan)
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn ops(plan: &Path) -> Vec<Value> {
    let mut all = Vec::new();
    for c in jsonl(&plan.join("containers.jsonl")) {
        all.extend(jsonl(&plan.join(c["ops_path"].as_str().unwrap())));
    }
    all
}

fn messages(canonical: &Path) -> Vec<Value> {
    let mut all = Vec::new();
    for c in jsonl(&canonical.join("conversations.jsonl")) {
        all.extend(jsonl(&canonical.join(c["messages_path"].as_str().unwrap())));
    }
    all
}

#[test]
fn every_message_is_in_exactly_one_operation_or_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let c = canonical(tmp.path());
    let plan = tmp.path().join("plan");
    let summary = transform(&c, &plan, &[]);
    let ops = ops(&plan);
    let report = jsonl(&plan.join("report.jsonl"));
    let mut primary: HashMap<(String, String), usize> = HashMap::new();
    for op in &ops {
        if op["source"]["primary"] == true {
            let key = (
                op["source"]["conversation"].as_str().unwrap().to_owned(),
                op["source"]["ts"].as_str().unwrap().to_owned(),
            );
            *primary.entry(key).or_default() += 1;
        }
    }
    let mut dropped: HashMap<(String, String), usize> = HashMap::new();
    for e in report.iter().filter(|e| e["item"] == "message" && e["outcome"] == "dropped") {
        let key = (e["conversation"].as_str().unwrap().to_owned(), e["ts"].as_str().unwrap().to_owned());
        *dropped.entry(key).or_default() += 1;
    }
    let msgs = messages(&c);
    assert_eq!(msgs.len(), 35);
    for m in &msgs {
        let key = (m["conversation"].as_str().unwrap().to_owned(), m["ts"].as_str().unwrap().to_owned());
        let n = primary.get(&key).copied().unwrap_or(0) + dropped.get(&key).copied().unwrap_or(0);
        assert_eq!(n, 1, "{key:?} is accounted for {n} times");
    }
    assert_eq!(primary.len() + dropped.len(), 35);
    let counts = &summary["counts"];
    assert_eq!(counts["source_messages"], 35);
    assert_eq!(
        counts["messages_carried"].as_u64().unwrap() + counts["messages_dropped"].as_u64().unwrap(),
        35
    );
    assert_eq!(counts["messages_carried"].as_u64().unwrap() as usize, primary.len());
    // Reactions: every (message, emoji, user) is an operation or a report entry.
    let reaction_ops = ops.iter().filter(|o| o["action"]["type"] == "chat_create_reaction").count();
    let reaction_report = report.iter().filter(|e| e["item"] == "reaction").count();
    assert_eq!(reaction_ops + reaction_report, 6);
}

#[test]
fn plan_obeys_the_chat_import_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let c = canonical(tmp.path());
    let plan = tmp.path().join("plan");
    transform(&c, &plan, &[]);
    let containers = jsonl(&plan.join("containers.jsonl"));
    let mut ids = HashSet::new();
    let mut names = HashSet::new();
    for container in &containers {
        let ops = jsonl(&plan.join(container["ops_path"].as_str().unwrap()));
        let create = &ops[0]["action"];
        assert_eq!(create["type"], "chat_create_space");
        let space = &create["space"];
        assert_eq!(space["importMode"], true);
        assert_ne!(space["spaceType"], "DIRECT_MESSAGE");
        let space_time = space["createTime"].as_str().unwrap().to_owned();
        assert!(space_time.as_str() >= "2000-01-01T00:00:00" && space_time.as_str() < NOW);
        if space["spaceType"] == "SPACE" {
            let n = space["displayName"].as_str().unwrap().to_lowercase();
            assert!(n.chars().count() <= 128 && names.insert(n), "display names unique");
        }
        let last = ops.last().unwrap()["action"]["type"].as_str().unwrap();
        assert!(last == "chat_add_member" || last == "chat_complete_import", "{last}");
        let mut last_time = space_time.clone();
        let mut created: HashSet<String> = HashSet::new();
        let mut seen_complete = false;
        for op in &ops {
            assert!(ids.insert(op["id"].as_str().unwrap().to_owned()), "operation ids unique");
            let a = &op["action"];
            match a["type"].as_str().unwrap() {
                "chat_create_message" => {
                    assert!(!seen_complete);
                    let id = a["message_id"].as_str().unwrap();
                    assert!(id.len() <= 63 && id.starts_with("client-"), "{id}");
                    assert!(
                        id[7..].bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                        "{id}"
                    );
                    let t = a["message"]["createTime"].as_str().unwrap().to_owned();
                    assert!(t > last_time, "createTime strictly increasing: {t} after {last_time}");
                    assert!(t.as_str() < NOW);
                    last_time = t;
                    assert!(serde_json::to_vec(&a["message"]).unwrap().len() < 32_000);
                    for up in a["attachments"].as_array().into_iter().flatten() {
                        assert!(created.contains(up.as_str().unwrap()), "upload before its message");
                    }
                    created.insert(op["id"].as_str().unwrap().to_owned());
                }
                "chat_upload_attachment" => {
                    assert_eq!(op["actor"]["as"], "user", "uploads impersonate the sender");
                    created.insert(op["id"].as_str().unwrap().to_owned());
                }
                "chat_create_reaction" => {
                    assert!(created.contains(a["message"].as_str().unwrap()), "reaction after its message");
                    assert_eq!(op["actor"]["as"], "user");
                    assert!(!a["emoji"]["unicode"].as_str().unwrap().contains(':'));
                }
                "chat_create_membership" => {
                    let m = &a["membership"];
                    let (ct, dt) = (m["createTime"].as_str().unwrap(), m["deleteTime"].as_str().unwrap());
                    assert!(ct > space_time.as_str() && ct < dt && dt < NOW, "{ct} {dt}");
                }
                "chat_complete_import" => seen_complete = true,
                "chat_add_member" => assert!(seen_complete, "current members after completion"),
                "chat_create_space" => {}
                other => panic!("unexpected {other}"),
            }
        }
    }
    // Replies share their root's threadKey; the skin-tone reaction became one Unicode sequence.
    let general = jsonl(&plan.join("ops/space-c01general.jsonl"));
    let key_of = |ts: &str| {
        general.iter().find(|o| o["id"] == format!("space-c01general/msg/{ts}")).unwrap()["action"]["message"]
            ["thread"]["threadKey"]
            .clone()
    };
    assert_eq!(key_of("1704100200.000400"), key_of("1704240000.000100"));
    assert_eq!(key_of("1704100200.000400"), Value::from("slk-1704100200.000400"));
    let thumbs: Vec<&Value> =
        general.iter().filter(|o| o["id"].as_str().unwrap().contains("/react/+1::skin-tone-4/")).collect();
    // Bob's; Carol is a guest on another domain (external), posted by the app, so her
    // reaction is reported instead.
    assert_eq!(thumbs.len(), 1);
    assert_eq!(thumbs[0]["action"]["emoji"]["unicode"], "\u{1F44D}\u{1F3FD}");
    // The mention of a mapped user is a real Chat mention.
    let welcome = general.iter().find(|o| o["id"] == "space-c01general/msg/1704100100.000300").unwrap();
    let text = welcome["action"]["message"]["text"].as_str().unwrap();
    assert!(text.contains("<users/bob@example.com>"), "{text}");
}

#[test]
fn filters_policies_and_determinism() {
    let tmp = tempfile::tempdir().unwrap();
    let c = canonical(tmp.path());
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    transform(&c, &a, &[]);
    transform(&c, &b, &[]);
    for rel in files_under(&a) {
        assert_eq!(std::fs::read(a.join(&rel)).unwrap(), std::fs::read(b.join(&rel)).unwrap(), "{rel}");
    }
    let pilot = tmp.path().join("pilot");
    let s = transform(
        &c,
        &pilot,
        &["--channels", "general,D01DM", "--since", "2024-01-02", "--dm-policy", "skip"],
    );
    assert_eq!(s["counts"]["containers"], 1, "the DM is skipped, general is kept");
    assert_eq!(s["counts"]["source_messages"], 11, "general messages since 2024-01-02 (9) + DM (2)");
    assert_eq!(s["counts"]["messages_filtered"], 14);
    let report = jsonl(&pilot.join("report.jsonl"));
    let by: BTreeMap<String, usize> = report.iter().fold(BTreeMap::new(), |mut m, e| {
        *m.entry(e["reason"].as_str().unwrap().to_owned()).or_default() += 1;
        m
    });
    assert_eq!(by.get("dm_not_importable"), Some(&3), "the conversation and its 2 messages");
    // Without --importer the Chat plan cannot be made.
    let o = chatport()
        .args(["transform", "--to", "chat"])
        .arg(&c)
        .arg("--out")
        .arg(tmp.path().join("x"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--importer"));
}

#[test]
fn users_template_is_prefilled_and_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let c = canonical(tmp.path());
    let csv = tmp.path().join("users.csv");
    chatport()
        .args(["users"])
        .arg(&c)
        .arg("--out")
        .arg(&csv)
        .args(["--domain-rewrite", "example.com=corp.example"])
        .assert()
        .success();
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        text.contains("U01ALICE,alice,alice,alice@example.com,member,alice@corp.example,author"),
        "{text}"
    );
    assert!(text.contains("U06BOT,deploybot,Deploy Bot,,bot,,app"));
    // Skip Bob: his messages and reactions are reported, not sent.
    let edited = text.replace("bob@corp.example,author", "bob@corp.example,skip");
    std::fs::write(&csv, edited).unwrap();
    let plan = tmp.path().join("plan");
    transform(&c, &plan, &["--users", csv.to_str().unwrap()]);
    let ops = ops(&plan);
    assert!(ops.iter().all(|o| o["actor"]["id"] != "bob@corp.example"));
    let report = jsonl(&plan.join("report.jsonl"));
    assert!(report.iter().any(|e| e["reason"] == "author_skipped"));
    let general = jsonl(&plan.join("ops/space-c01general.jsonl"));
    let welcome = general.iter().find(|o| o["id"] == "space-c01general/msg/1704100100.000300").unwrap();
    assert!(
        welcome["action"]["message"]["text"].as_str().unwrap().contains("@bobby"),
        "a skipped user's mention is text"
    );
}
