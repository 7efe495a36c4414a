//! `chatport extract` on archives in slackdump's dump format: one `<conversation id>.json`
//! object per conversation at the root, thread replies nested in their root message. The
//! archives are written here by hand (slackdump's own fixtures are AGPL and stay out of the
//! repository).

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::Path;

fn dump(id: &str, name: &str, messages: Value) -> (String, Vec<u8>) {
    let v = json!({"channel_id": id, "name": name, "messages": messages});
    (format!("{id}.json"), serde_json::to_vec_pretty(&v).unwrap())
}

fn entries() -> Vec<(String, Vec<u8>)> {
    vec![
        ("users.json".into(), br#"[{"id":"U1","name":"ann"},{"id":"U2","name":"bob"}]"#.to_vec()),
        dump(
            "C0DUMP0001",
            "general",
            json!([
                {"type": "message", "user": "U1", "text": "hello", "ts": "1736478514.897649"},
                {"type": "message", "user": "U1", "text": "a thread", "ts": "1736478630.905399",
                 "thread_ts": "1736478630.905399", "reply_count": 2, "reply_users": ["U2", "U1"],
                 "slackdump_thread_replies": [
                    {"type": "message", "user": "U2", "text": "first reply", "ts": "1736554746.482349",
                     "thread_ts": "1736478630.905399", "parent_user_id": "U1"},
                    {"type": "message", "user": "U1", "text": "second reply", "ts": "1736554783.040199",
                     "thread_ts": "1736478630.905399", "parent_user_id": "U1",
                     "reactions": [{"name": "+1::skin-tone-4", "users": ["U2"], "count": 1}]}
                 ]},
                {"type": "message", "subtype": "channel_join", "user": "U2", "text": "<@U2> has joined the channel",
                 "ts": "1736554636.807919"},
                {"type": "message", "user": "U2", "text": "a file", "ts": "1736582524.607359",
                 "files": [{"id": "F0DUMP01", "name": "a.jpg", "mode": "hosted", "size": 1234,
                            "url_private": "https://files.slack.com/files-pri/T1-F0DUMP01/a.jpg?t=xoxe-secret-1"}]}
            ]),
        ),
        dump("D0DUMP0002", "D0DUMP0002", json!([{"type": "message", "user": "U2", "text": "psst", "ts": "1736600000.000100"}])),
        dump("G0DUMP0003", "mpdm-ann--bob-1", json!([{"type": "message", "user": "U1", "text": "all", "ts": "1736600000.000200"}])),
        dump("G0DUMP0005", "secret", json!([])),
        // Cut off inside its second message.
        ("C0DUMP0004.json".into(), br#"{"channel_id":"C0DUMP0004","name":"cut","messages":[{"type":"message","user":"U1","text":"kept","ts":"1736600000.000300"},{"type":"message","te"#.to_vec()),
    ]
}

fn extract(input: &Path, out: &Path) -> (Value, Vec<Value>) {
    chatport().args(["extract", "--no-progress"]).arg(input).arg("--out").arg(out).assert().success();
    chatport().arg("validate").arg(out).assert().success();
    (json(&out.join("manifest.json")), jsonl(&out.join("warnings.jsonl")))
}

#[test]
fn dump_conversations_are_read_with_their_nested_replies() {
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("dump.zip");
    write_zip(&zip, &entries());
    let out = tmp.path().join("c");
    let (manifest, warnings) = extract(&zip, &out);
    let c = &manifest["counts"];
    assert_eq!(
        (&c["conversations"], &c["messages"], &c["replies"], &c["reactions"], &c["files"]),
        (&json!(5), &json!(9), &json!(2), &json!(1), &json!(1)),
        "{manifest}"
    );
    assert_eq!(manifest["source"]["layouts"], json!(["standard", "slackdump_dump"]));

    let convs = jsonl(&out.join("conversations.jsonl"));
    let conv = |id: &str| convs.iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("{id}")).clone();
    assert_eq!(conv("C0DUMP0001")["kind"], "public_channel");
    assert_eq!(conv("C0DUMP0001")["name"], "general");
    assert_eq!(conv("C0DUMP0001")["listed_in"], "C0DUMP0001.json");
    assert_eq!(conv("D0DUMP0002")["kind"], "dm");
    assert_eq!(conv("G0DUMP0003")["kind"], "group_dm");
    assert_eq!(conv("G0DUMP0005")["kind"], "private_channel");
    assert_eq!(conv("G0DUMP0005")["message_count"], 0);
    assert_eq!(conv("C0DUMP0004")["message_count"], 1);

    let general = jsonl(&out.join("messages/C0DUMP0001.jsonl"));
    let ts: Vec<&str> = general.iter().map(|m| m["ts"].as_str().unwrap()).collect();
    assert_eq!(
        ts,
        [
            "1736478514.897649",
            "1736478630.905399",
            "1736554746.482349",
            "1736554783.040199",
            "1736554636.807919",
            "1736582524.607359"
        ],
        "each root followed by its replies, in the file's order"
    );
    assert_eq!(general[2]["reply_to"], "1736478630.905399");
    assert_eq!(general[3]["reply_to"], "1736478630.905399");
    assert_eq!(general[3]["reactions"][0]["name"], "+1::skin-tone-4");
    assert!(general[1]["extra"].get("slackdump_thread_replies").is_none(), "lifted out, not kept twice");
    assert_eq!(general[4]["kind"], "system");
    assert_eq!(
        (general[2]["source"]["file"].as_str(), general[2]["source"]["index"].as_u64()),
        (Some("C0DUMP0001.json"), Some(2))
    );

    let cut = warnings.iter().find(|w| w["file"] == "C0DUMP0004.json").expect("the cut file is named");
    assert_eq!(cut["code"], "invalid_json");
    assert!(cut["detail"].as_str().unwrap().contains("the 1 message(s) before were kept"), "{cut}");

    let everything: String =
        files_under(&out).iter().map(|f| std::fs::read_to_string(out.join(f)).unwrap_or_default()).collect();
    assert!(!everything.contains("xoxe-secret"), "the file token is stripped");
}

#[test]
fn a_dump_listed_in_the_metadata_keeps_the_listed_record_and_zip_equals_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let mut e = entries();
    e.push((
        "channels.json".into(),
        br#"[{"id":"C0DUMP0001","name":"general-listed","created":1700000000,"members":["U1","U2"]}]"#
            .to_vec(),
    ));
    let zip = tmp.path().join("dump.zip");
    write_zip(&zip, &e);
    let dir = tmp.path().join("dir");
    for (name, bytes) in &e {
        std::fs::create_dir_all(dir.join(name).parent().unwrap()).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let (manifest, _) = extract(&zip, &a);
    extract(&dir, &b);
    assert_eq!(manifest["counts"]["conversations"], 5, "not a sixth");
    let convs = jsonl(&a.join("conversations.jsonl"));
    let general = convs.iter().find(|c| c["id"] == "C0DUMP0001").unwrap();
    assert_eq!(general["name"], "general-listed");
    assert_eq!(general["listed_in"], "channels.json");
    assert_eq!(general["message_count"], 6);
    for f in files_under(&a) {
        if f != "manifest.json" {
            assert_eq!(std::fs::read(a.join(&f)).unwrap(), std::fs::read(b.join(&f)).unwrap(), "{f}");
        }
    }
}

#[test]
fn a_conversation_read_twice_is_kept_apart_under_new_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let mut e = entries();
    // C0DUMP0001 also as a folder of day files (read first) and in a second dump file.
    e.push((
        "C0DUMP0001/2025-01-11.json".into(),
        br#"[{"type":"message","user":"U1","text":"day","ts":"1736600000.000400"}]"#.to_vec(),
    ));
    let (_, again) = dump(
        "C0DUMP0001",
        "again",
        json!([{"type": "message", "user": "U2", "text": "x", "ts": "1736600000.000500"}]),
    );
    e.push(("C0DUMP0009.json".into(), again));
    let zip = tmp.path().join("dump.zip");
    write_zip(&zip, &e);
    let out = tmp.path().join("c");
    let (manifest, warnings) = extract(&zip, &out);
    assert_eq!(manifest["counts"]["conversations"], 7, "{manifest}");
    let counts: Vec<(String, u64)> = jsonl(&out.join("conversations.jsonl"))
        .iter()
        .filter(|c| c["id"].as_str().unwrap().starts_with("C0DUMP0001"))
        .map(|c| (c["id"].as_str().unwrap().to_owned(), c["message_count"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        counts,
        [("C0DUMP0001".to_owned(), 1), ("C0DUMP0001~dump".to_owned(), 6), ("C0DUMP0001~dump2".to_owned(), 1)]
    );
    let apart: Vec<&str> = warnings
        .iter()
        .filter(|w| w["code"] == "duplicate_conversation")
        .map(|w| w["file"].as_str().unwrap())
        .collect();
    assert_eq!(apart, ["C0DUMP0001.json", "C0DUMP0009.json"]);
}
