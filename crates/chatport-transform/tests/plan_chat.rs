//! Google Chat planner edge cases on hand-built canonical directories: long messages are
//! split, times are clamped and made unique, duplicate `ts` get distinct ids, and the
//! conversation filters and DM policy hold.

use chatport_model::jsonl::write_json_file;
use chatport_model::plan::{Action, Destination, Operation};
use chatport_model::*;
use chatport_transform::plan::{transform, PlanOptions};
use std::path::Path;

mod plan_support;

const NOW: i64 = 1_800_000_000_000_000;

fn msg(conv: &str, ts: &str, author: &str, text: &str) -> Message {
    plan_support::msg(conv, ts, author, text)
}

fn conv(id: &str, kind: ConversationKind, created: Option<i64>) -> Conversation {
    Conversation {
        id: id.into(),
        kind,
        name: Some(id.to_lowercase()),
        created,
        creator: None,
        topic: None,
        purpose: None,
        archived: false,
        is_general: false,
        members: vec!["U1".into()],
        memberships: Vec::new(),
        listed_in: None,
        folder: None,
        messages_path: format!("messages/{id}.jsonl"),
        message_count: 0,
        extra: Default::default(),
    }
}

fn write_canonical(dir: &Path, convs: &[(Conversation, Vec<Message>)]) {
    let mut files = Vec::new();
    let mut w = DataFileWriter::create(dir, "users.jsonl").unwrap();
    w.write(&User {
        id: "U1".into(),
        email: Some("u1@corp.example".into()),
        name: Some("one".into()),
        ..Default::default()
    })
    .unwrap();
    files.push(w.finish().unwrap());
    let mut cw = DataFileWriter::create(dir, "conversations.jsonl").unwrap();
    for (c, msgs) in convs {
        let mut mw = DataFileWriter::create(dir, &c.messages_path).unwrap();
        for m in msgs {
            mw.write(m).unwrap();
        }
        files.push(mw.finish().unwrap());
        cw.write(c).unwrap();
    }
    files.push(cw.finish().unwrap());
    for name in ["files.jsonl", "warnings.jsonl"] {
        files.push(DataFileWriter::create(dir, name).unwrap().finish().unwrap());
    }
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        tool: Tool { name: "test".into(), version: "0".into() },
        source: Source { kind: "slack".into(), layouts: vec![], name: "t".into(), sha256: String::new() },
        counts: Counts::default(),
        files,
    };
    write_json_file(dir, "manifest.json", &manifest).unwrap();
}

fn plan(dir: &Path, opts: PlanOptions) -> Vec<Operation> {
    let out = dir.join("plan");
    transform(dir, &out, opts, None).unwrap();
    let mut ops = Vec::new();
    for entry in std::fs::read_dir(out.join("ops")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        ops.extend(text.lines().map(|l| serde_json::from_str::<Operation>(l).unwrap()));
    }
    ops
}

fn opts() -> PlanOptions {
    let mut o = PlanOptions::new(Destination::Chat, NOW);
    o.importer = Some("admin@corp.example".into());
    o
}

fn messages(ops: &[Operation]) -> Vec<(String, serde_json::Value)> {
    ops.iter()
        .filter_map(|o| match &o.action {
            Action::ChatCreateMessage { message_id, message, .. } => {
                Some((message_id.clone(), message.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn long_text_is_split_into_thread_parts_under_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let long = "word ".repeat(20_000);
    write_canonical(
        tmp.path(),
        &[(
            conv("C1", ConversationKind::PublicChannel, Some(1_600_000_000)),
            vec![msg("C1", "1600000001.000001", "U1", &long)],
        )],
    );
    let msgs = messages(&plan(tmp.path(), opts()));
    assert_eq!(msgs.len(), 4, "100,000 bytes in parts of at most 30,000");
    let total: usize = msgs.iter().map(|(_, m)| m["text"].as_str().unwrap().len()).sum();
    assert_eq!(total, long.len(), "no text lost");
    for (id, m) in &msgs {
        assert!(serde_json::to_vec(m).unwrap().len() < 32_000, "{id}");
        assert_eq!(m["thread"]["threadKey"], "slk-1600000001.000001");
    }
    assert_eq!(msgs[1].0, format!("{}-p2", msgs[0].0));
    let times: Vec<&str> = msgs.iter().map(|(_, m)| m["createTime"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
}

#[test]
fn times_are_clamped_unique_and_ids_distinct() {
    let tmp = tempfile::tempdir().unwrap();
    let msgs = vec![
        msg("C1", "900000000.000001", "U1", "before 2000"),
        msg("C1", "1600000000.000005", "U1", "a"),
        msg("C1", "1600000000.000005", "U1", "duplicate ts"),
        msg("C1", "1900000000.000000", "U1", "in the future"),
    ];
    write_canonical(tmp.path(), &[(conv("C1", ConversationKind::PublicChannel, None), msgs)]);
    let ops = plan(tmp.path(), opts());
    let Action::ChatCreateSpace { space, .. } = &ops[0].action else { panic!("space first") };
    assert_eq!(space["createTime"], "2000-01-01T00:00:00.000000Z");
    let m = messages(&ops);
    assert_eq!(m.len(), 4);
    let ids: std::collections::BTreeSet<&String> = m.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 4, "duplicate ts get distinct client ids");
    assert!(m.iter().any(|(id, _)| id.ends_with("-d2")));
    let op_ids: std::collections::BTreeSet<&str> = ops.iter().map(|o| o.id.0.as_str()).collect();
    assert_eq!(op_ids.len(), ops.len(), "operation ids are unique too");
    let times: Vec<String> = m.iter().map(|(_, v)| v["createTime"].as_str().unwrap().to_owned()).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    assert!(times[0].as_str() > "2000-01-01T00:00:00.000000Z");
    assert!(times[3].as_str() < "2027-01-15T08:00:00", "clamped before now: {}", times[3]);
    let report = std::fs::read_to_string(tmp.path().join("plan/report.jsonl")).unwrap();
    assert!(report.contains("create_time_clamped") && report.contains("create_time_adjusted"));
}

#[test]
fn group_dm_is_a_group_chat_and_dm_a_private_space() {
    let tmp = tempfile::tempdir().unwrap();
    write_canonical(
        tmp.path(),
        &[
            (conv("D1", ConversationKind::Dm, None), vec![msg("D1", "1600000000.000001", "U1", "hi")]),
            (
                conv("G1", ConversationKind::GroupDm, None),
                vec![msg("G1", "1600000000.000001", "U1", "hi all")],
            ),
        ],
    );
    let ops = plan(tmp.path(), opts());
    let spaces: Vec<&serde_json::Value> = ops
        .iter()
        .filter_map(|o| match &o.action {
            Action::ChatCreateSpace { space, .. } => Some(space),
            _ => None,
        })
        .collect();
    let types: std::collections::BTreeSet<&str> =
        spaces.iter().map(|s| s["spaceType"].as_str().unwrap()).collect();
    assert_eq!(types, ["GROUP_CHAT", "SPACE"].into());
    assert!(spaces.iter().all(|s| s["spaceType"] != "DIRECT_MESSAGE"));
    let gc = spaces.iter().find(|s| s["spaceType"] == "GROUP_CHAT").unwrap();
    assert!(gc.get("displayName").is_none(), "GROUP_CHAT has no display name");
}

#[test]
fn custom_emoji_stay_text_in_chat_and_the_report_says_why() {
    use chatport_transform::plan::custom_emoji::CustomEmojiPolicy;
    let tmp = tempfile::tempdir().unwrap();
    let mut m = msg("C1", "1600000001.000001", "U1", "ship it :party-parrot: :nope:");
    m.reactions = vec![Reaction { name: "party-parrot".into(), users: vec!["U1".into()], count: None }];
    write_canonical(
        tmp.path(),
        &[(conv("C1", ConversationKind::PublicChannel, Some(1_600_000_000)), vec![m])],
    );
    let emoji = tmp.path().join("emoji");
    std::fs::create_dir_all(&emoji).unwrap();
    std::fs::write(emoji.join("party-parrot.gif"), b"GIF89a").unwrap();
    let mut o = opts();
    o.custom_emoji = Some(emoji);
    o.custom_emoji_policy = CustomEmojiPolicy::Image;
    let ops = plan(tmp.path(), o);
    let texts: Vec<String> =
        messages(&ops).iter().map(|(_, m)| m["text"].as_str().unwrap().to_owned()).collect();
    assert_eq!(texts, ["ship it :party-parrot: :nope:"]);
    assert!(
        !ops.iter().any(|o| matches!(o.action, Action::ChatCreateReaction { .. })),
        "custom reaction dropped"
    );
    let report = std::fs::read_to_string(tmp.path().join("plan/report.jsonl")).unwrap();
    let reasons: Vec<String> = report
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["reason"].as_str().unwrap().to_owned())
        .collect();
    for r in [
        "custom_emoji_image_not_importable",
        "custom_emoji_as_text",
        "unknown_emoji",
        "custom_emoji_reaction",
    ] {
        assert_eq!(reasons.iter().filter(|x| *x == r).count(), 1, "{r}: {reasons:?}");
    }
}
