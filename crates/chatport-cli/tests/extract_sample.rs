//! `chatport extract` on the hand-written sample export: exact counts, every construct,
//! determinism, zip = folder, no secrets, and `validate`/`stats` on the result.

mod common;

use common::*;
use serde_json::{json, Value};

fn extract(input: &std::path::Path, out: &std::path::Path) {
    chatport().args(["extract", "--no-progress"]).arg(input).arg("--out").arg(out).assert().success();
}

#[test]
fn sample_counts_are_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("c");
    extract(&sample(), &out);
    let m = json(&out.join("manifest.json"));
    assert_eq!(
        m["counts"],
        json!({"users": 9, "conversations": 7, "messages": 35, "replies": 4, "reactions": 6,
               "files": 5, "memberships": 4, "blobs": 3, "warnings": 7})
    );
    assert_eq!(m["source"]["layouts"], json!(["standard", "business", "slackdump"]));
    let codes: Vec<String> =
        jsonl(&out.join("warnings.jsonl")).iter().map(|w| w["code"].as_str().unwrap().to_owned()).collect();
    // Metadata's warnings first, then each conversation's in id order, then placeholders.
    assert_eq!(
        codes,
        [
            "wrong_type",
            "missing_id",
            "unlisted_conversation",
            "unknown_subtype",
            "orphan_reply",
            "placeholder_user",
            "placeholder_user"
        ]
    );
    let mut sorted = codes.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "missing_id",
            "orphan_reply",
            "placeholder_user",
            "placeholder_user",
            "unknown_subtype",
            "unlisted_conversation",
            "wrong_type"
        ]
    );
    chatport().arg("validate").arg(&out).assert().success();
}

#[test]
fn sample_constructs_are_carried() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("c");
    extract(&sample(), &out);
    let convs = jsonl(&out.join("conversations.jsonl"));
    let by_id = |id: &str| convs.iter().find(|c| c["id"] == id).unwrap().clone();
    assert_eq!(by_id("C01GENERAL")["kind"], "public_channel");
    assert_eq!(by_id("C01GENERAL")["is_general"], true);
    assert_eq!(by_id("C01GENERAL")["topic"]["value"], "Company-wide *announcements*");
    assert_eq!(by_id("C02RANDOM")["archived"], true);
    assert_eq!(by_id("C02RANDOM")["created"], 1704067201, "string times are read");
    assert_eq!(by_id("G01PRIV")["kind"], "private_channel");
    assert_eq!(by_id("G02MPIM")["kind"], "group_dm");
    assert_eq!(by_id("D01DM")["kind"], "dm");
    assert_eq!(by_id("C03EMPTY")["message_count"], 0);
    assert!(by_id("orphan-folder").get("listed_in").is_none());
    assert_eq!(
        by_id("C01GENERAL")["memberships"],
        json!([
            {"user": "U01ALICE", "joined": "1704100000.000100"},
            {"user": "U02BOB", "joined": "1704100001.000200", "left": "1704240100.000300"},
            {"user": "U02BOB", "joined": "1704240200.000400"}
        ])
    );
    assert_eq!(
        by_id("G01PRIV")["memberships"],
        json!([{"user": "U03CAROL", "joined": "1704200300.000100", "left": "1704200600.000400"}])
    );

    let general = jsonl(&out.join("messages/C01GENERAL.jsonl"));
    let msg = |ts: &str| general.iter().find(|m| m["ts"] == ts).unwrap().clone();
    // Source order, full-precision ts, reply in a later day file.
    assert_eq!(general.len(), 23);
    let late_reply = msg("1704240000.000100");
    assert_eq!(late_reply["reply_to"], "1704100200.000400");
    assert_eq!(late_reply["source"], json!({"file": "general/2024-01-03.json", "index": 0}));
    let bc = msg("1704240060.000200");
    assert_eq!(bc["broadcast"], true);
    assert_eq!(bc["reply_to"], "1704100200.000400");
    assert_eq!(msg("1704100200.000400")["reply_count"], 2);
    assert!(msg("1704100200.000400").get("reply_to").is_none(), "a root is not a reply");
    // ms-colliding timestamps are both kept exactly.
    assert_eq!(msg("1704100800.000100")["author"], "U02BOB");
    assert_eq!(msg("1704100800.000400")["author"], "U03CAROL");
    // Reactions with every user and the exact name.
    assert_eq!(
        msg("1704100300.000600")["reactions"],
        json!([{"name": "+1::skin-tone-4", "users": ["U02BOB", "U03CAROL"], "count": 2},
               {"name": "tada", "users": ["U01ALICE"], "count": 1}])
    );
    assert_eq!(msg("1704100400.000700")["edited"], json!({"user": "U01ALICE", "ts": "1704100460.000000"}));
    let bot = msg("1704100500.000800");
    assert_eq!(bot["kind"], "bot");
    assert_eq!(
        bot["bot"],
        json!({"bot_id": "B01DEPLOY", "username": "deploybot", "icons": {"emoji": ":rocket:"}})
    );
    assert_eq!(bot["attachments"][0]["title"], "Build 42");
    assert_eq!(msg("1704100600.000900")["kind"], "me");
    assert_eq!(msg("1704100700.001000")["kind"], "system");
    assert_eq!(msg("1704100700.001000")["extra"]["topic"], "Company-wide *announcements*");
    assert_eq!(msg("1704101000.001200")["kind"], "tombstone");
    let unknown = msg("1704240300.000500");
    assert_eq!(unknown["kind"], "unknown");
    assert_eq!(unknown["subtype"], "huddle_ended_weirdly");
    assert_eq!(unknown["extra"]["future_field"], json!({"nested": [1, 2, 3]}));
    let with_blocks = msg("1704240400.000600");
    assert_eq!(with_blocks["body"]["blocks"][0]["type"], "rich_text");
    assert_eq!(with_blocks["body"]["text"], "Plan:\n• first\n• second");
    assert_eq!(msg("1704100100.000300")["extra"]["client_msg_id"], "0b1c2d3e-0000-4000-8000-000000000001");
    assert_eq!(msg("1704240500.000700")["files"], json!(["F04HIDDEN", "F05GONE"]));

    let files = jsonl(&out.join("files.jsonl"));
    let file = |id: &str| files.iter().find(|f| f["id"] == id).unwrap().clone();
    assert_eq!(file("F01REPORT")["state"], "present");
    assert_eq!(file("F02DIAGRAM")["state"], "present");
    assert_eq!(file("F03DATA")["state"], "present", "an uploaded .json that is not JSON is file content");
    assert_eq!(file("F04HIDDEN")["state"], "hidden_by_limit");
    assert_eq!(file("F05GONE")["state"], "tombstoned");
    let blob = file("F01REPORT")["blob"].as_str().unwrap().to_owned();
    assert_eq!(
        std::fs::read(out.join(&blob)).unwrap(),
        std::fs::read(sample().join("__uploads/F01REPORT/report.txt")).unwrap()
    );
    assert!(file("F01REPORT")["extra"].get("permalink_public").is_none());

    let users = jsonl(&out.join("users.jsonl"));
    let user = |id: &str| users.iter().find(|u| u["id"] == id).unwrap().clone();
    assert_eq!(user("U99GHOST")["placeholder"], true);
    assert_eq!(user("USLACKBOT")["placeholder"], true);
    assert_eq!(user("U01ALICE")["email"], "alice@example.com");
    assert_eq!(user("U01ALICE")["display_name"], "alice");
    assert_eq!(user("U03CAROL")["restricted"], true);
    assert_eq!(user("U04DAVE")["deleted"], true);
    assert_eq!(user("U05EXT")["team_id"], "T0OTHER");
    assert_eq!(user("U06BOT")["is_bot"], true);
    assert_eq!(user("U07FRANK")["extra"]["deleted"], "no", "a wrong type is kept, not dropped");
}

#[test]
fn passed_through_numbers_keep_their_source_text() {
    // Past 64 bits, past f64's 17 digits, an exponent, a negative zero: an f64 round trip
    // would change every one of them. (serde_json respells an exponent: `E` as `e`, with its sign.)
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("c");
    extract(&sample(), &out);
    let general = std::fs::read_to_string(out.join("messages/C01GENERAL.jsonl")).unwrap();
    let expected = concat!(
        r#""future_numbers":{"exponent":1e+2,"long_decimal":3.14159265358979323846264338327950288,"#,
        r#""negative_zero":-0.0,"wide_integer":123456789012345678901234567890}"#
    );
    assert!(general.contains(expected), "{general}");
    let users = std::fs::read_to_string(out.join("users.jsonl")).unwrap();
    assert!(users.contains(r#""huddle_minutes":18446744073709551616.50"#), "{users}");
    let status = chatport().arg("validate").arg(&out).output().unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stdout));
}

#[test]
fn no_token_survives_anywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("c");
    extract(&sample(), &out);
    for rel in files_under(&out) {
        if rel.starts_with("blobs/") {
            continue;
        }
        let text = std::fs::read_to_string(out.join(&rel)).unwrap();
        assert!(!text.contains("xoxe-"), "{rel} holds a token");
        assert!(
            !text.contains("slack-files.com/T0SAMPLE-F01REPORT-0123abcd"),
            "{rel} holds a public secret link"
        );
    }
}

#[test]
fn deterministic_and_zip_equals_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    extract(&sample(), &a);
    extract(&sample(), &b);
    let fa = files_under(&a);
    assert_eq!(fa, files_under(&b));
    for rel in &fa {
        assert_eq!(std::fs::read(a.join(rel)).unwrap(), std::fs::read(b.join(rel)).unwrap(), "{rel} differs");
    }
    // The same export zipped, under a top folder as some zips are: same records.
    let zip = tmp.path().join("export.zip");
    zip_dir(&sample(), &zip, "sample-export/");
    let z = tmp.path().join("z");
    extract(&zip, &z);
    assert_eq!(files_under(&z), fa);
    for rel in fa.iter().filter(|r| r.as_str() != "manifest.json") {
        assert_eq!(std::fs::read(a.join(rel)).unwrap(), std::fs::read(z.join(rel)).unwrap(), "{rel} differs");
    }
    let (ma, mz) = (json(&a.join("manifest.json")), json(&z.join("manifest.json")));
    assert_eq!(ma["counts"], mz["counts"]);
    assert_eq!(ma["files"], mz["files"]);
    assert_ne!(ma["source"]["sha256"], mz["source"]["sha256"]);
    chatport().arg("validate").arg(&z).assert().success();
}

#[test]
fn stats_json_lists_every_conversation() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("c");
    extract(&sample(), &out);
    let o = chatport().args(["stats", "--json"]).arg(&out).output().unwrap();
    assert!(o.status.success());
    let rows: Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 7);
    let general = rows.iter().find(|r| r["id"] == "C01GENERAL").unwrap();
    assert_eq!(
        (general["messages"].as_u64(), general["replies"].as_u64(), general["reactions"].as_u64()),
        (Some(23), Some(3), Some(3))
    );
    assert_eq!(general["subtypes"]["channel_join"], 3);
    let total: u64 = rows.iter().map(|r| r["messages"].as_u64().unwrap()).sum();
    assert_eq!(total, 35);
}

#[test]
fn validate_catches_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("c");
    extract(&sample(), &out);
    let p = out.join("messages/C02RANDOM.jsonl");
    let text = std::fs::read_to_string(&p).unwrap().replace("U02BOB", "U0NOBODY");
    std::fs::write(&p, text).unwrap();
    let o = chatport().arg("validate").arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("messages/C02RANDOM.jsonl: checksum"), "{s}");
    assert!(s.contains("messages/C02RANDOM.jsonl: line 1: unknown user U0NOBODY"), "{s}");
}

#[test]
fn refuses_a_non_empty_output_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("c");
    extract(&sample(), &out);
    let o =
        chatport().args(["extract", "--no-progress"]).arg(sample()).arg("--out").arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not empty"));
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    chatport()
        .args(["extract", "--no-progress", "--force"])
        .arg(sample())
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(out.join("keep.txt")).unwrap(), "mine");
}

#[test]
fn strict_fails_on_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("c");
    let o = chatport()
        .args(["extract", "--no-progress", "--strict"])
        .arg(sample())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(out.join("manifest.json").exists(), "the output is still written");
}

#[test]
fn json_summary_has_counts_and_own_peak_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("c");
    let o = chatport()
        .args(["extract", "--no-progress", "--json"])
        .arg(sample())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success());
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["counts"]["messages"], 35);
    assert!(out.join("manifest.json").exists());
    assert!(!out.join(".spool").exists(), "the scratch spool is removed");
    // `VmHWM` of the extractor itself: more than nothing, far less than a test runner's.
    if cfg!(target_os = "linux") {
        let kib = v["peak_rss_kib"].as_u64().unwrap();
        assert!((1024..1024 * 1024).contains(&kib), "{kib} KiB");
    }
}

#[test]
fn users_mentioned_only_in_blocks_or_attachments_get_placeholders() {
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("m.zip");
    let day = json!([
        {"type": "message", "user": "U1", "ts": "1.000001", "text": "hi",
         "blocks": [{"type": "rich_text", "block_id": "b", "elements": [{"type": "rich_text_section",
            "elements": [{"type": "text", "text": "hi "}, {"type": "user", "user_id": "UINBLOCK"}]}]}]},
        {"type": "message", "user": "U1", "ts": "2.000001", "text": "",
         "attachments": [{"id": 1, "text": "ping <@UINATTACH>", "fallback": "ping"}]},
    ]);
    write_zip(
        &zip,
        &[
            ("users.json".into(), br#"[{"id":"U1","name":"a"}]"#.to_vec()),
            ("channels.json".into(), br#"[{"id":"C1","name":"general","members":["U1"]}]"#.to_vec()),
            ("general/2024-01-01.json".into(), serde_json::to_vec(&day).unwrap()),
        ],
    );
    let out = tmp.path().join("out");
    extract(&zip, &out);
    let users: Vec<Value> = jsonl(&out.join("users.jsonl"));
    let ids: Vec<&str> = users.iter().filter_map(|u| u["id"].as_str()).collect();
    assert_eq!(ids, ["U1", "UINATTACH", "UINBLOCK"]);
    let warnings = jsonl(&out.join("warnings.jsonl"));
    for (id, index) in [("UINBLOCK", 0), ("UINATTACH", 1)] {
        assert!(
            warnings.iter().any(|w| w["code"] == "placeholder_user"
                && w["file"] == "general/2024-01-01.json"
                && w["record"] == index
                && w["detail"].as_str().is_some_and(|d| d.contains(id))),
            "{id}: {warnings:?}"
        );
    }
    chatport().arg("validate").arg(&out).assert().success();
}
