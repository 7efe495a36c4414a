//! `chatport extract` on real public exports copied into `fixtures/corpora/` (MIT, see each
//! SOURCE.md). The expected numbers come from `fixtures/corpora/count_export.py`, an
//! independent counter (see `fixtures/corpora/COUNTS.md`), not from the extractor.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

fn extract(input: &Path) -> (tempfile::TempDir, Value, Vec<Value>) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("c");
    chatport().args(["extract", "--no-progress"]).arg(input).arg("--out").arg(&out).assert().success();
    chatport().arg("validate").arg(&out).assert().success();
    let manifest = json(&out.join("manifest.json"));
    let o = chatport().args(["stats", "--json"]).arg(&out).output().unwrap();
    let stats: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    (tmp, manifest, stats)
}

fn by_name(stats: &[Value]) -> BTreeMap<String, u64> {
    stats.iter().map(|s| (s["name"].as_str().unwrap().to_owned(), s["messages"].as_u64().unwrap())).collect()
}

#[test]
fn houstondatavis_counts_match_the_independent_count() {
    let (tmp, m, stats) = extract(&repo().join("fixtures/corpora/houstondatavis-slack-export"));
    let c = &m["counts"];
    let got = json!({"users": c["users"], "conversations": c["conversations"], "messages": c["messages"],
                     "replies": c["replies"], "reactions": c["reactions"], "files": c["files"]});
    assert_eq!(
        got,
        json!({"users": 71, "conversations": 16, "messages": 1382, "replies": 0, "reactions": 199, "files": 61})
    );
    let expected: BTreeMap<String, u64> = [
        ("datajam", 173),
        ("datasets", 40),
        ("design-thinking", 4),
        ("examples", 80),
        ("general", 476),
        ("get_feedback", 149),
        ("meetup", 2),
        ("meetup-", 147),
        ("organizations", 12),
        ("readings", 52),
        ("sci", 58),
        ("sponsors", 16),
        ("talks", 32),
        ("team-d3", 31),
        ("tools", 83),
        ("tutorials", 27),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(by_name(&stats), expected);
    let subtypes: u64 = stats.iter().map(|s| s["subtypes"]["channel_join"].as_u64().unwrap_or(0)).sum();
    assert_eq!(subtypes, 320);
    // The three non-Slack files beside the export (README.md, .LICENSE, SOURCE.md) are
    // named, nothing else is odd.
    let warnings = jsonl(&tmp.path().join("c/warnings.jsonl"));
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(warnings.iter().all(|w| w["code"] == "unexpected_entry"));
    // file_comment authors come from `comment.user`; tokens are gone from every URL.
    let text = std::fs::read_to_string(tmp.path().join("c/files.jsonl")).unwrap();
    assert!(!text.contains("xox"), "a token survived in files.jsonl");
    // The export carries no file contents and none of its files is hidden or deleted
    // (modes hosted, snippet, external and space only): every file is remote-only.
    let files = jsonl(&tmp.path().join("c/files.jsonl"));
    assert_eq!(files.len(), 61);
    assert!(
        files.iter().all(|f| f["state"] == "remote_only"),
        "{:?}",
        files.iter().map(|f| &f["state"]).collect::<Vec<_>>()
    );
    for s in &stats {
        let path = tmp.path().join(format!("c/messages/{}.jsonl", s["id"].as_str().unwrap()));
        for msg in jsonl(&path) {
            if msg["subtype"] == "file_comment" {
                assert!(msg["author"].is_string(), "file_comment without author: {msg}");
            }
        }
    }
}

#[test]
fn slack_export_viewer_zip_and_folder_match_the_independent_count() {
    let base = repo().join("fixtures/corpora/slack-export-viewer-testarchive/tests");
    let (_t1, zm, zstats) = extract(&base.join("testarchive.zip"));
    let (_t2, dm, dstats) = extract(&base.join("testarchive"));
    for m in [&zm, &dm] {
        let c = &m["counts"];
        assert_eq!(
            json!([c["users"], c["conversations"], c["messages"], c["replies"], c["reactions"], c["files"]]),
            json!([4, 2, 158, 0, 1, 3])
        );
    }
    let expected: BTreeMap<String, u64> =
        [("enrique".to_owned(), 102), ("traveling-sailor".to_owned(), 56)].into();
    assert_eq!(by_name(&zstats), expected);
    assert_eq!(zstats, dstats);
    let bots: u64 = zstats.iter().map(|s| s["subtypes"]["bot_message"].as_u64().unwrap_or(0)).sum();
    assert_eq!(bots, 94);
    assert_eq!(zm["files"], dm["files"], "zip and folder give byte-identical records");
}
