//! Streaming planning: a conversation is read in two passes, one message at a time, when its
//! messages file is in time order, and read whole and sorted when it is not. Both ways must
//! give the same plan; thread facts gathered in pass 1 (roots with replies, roots present)
//! must match what a whole-conversation view gives; bad records are reported by file and line.

use chatport_model::jsonl::write_json_file;
use chatport_model::plan::Destination;
use chatport_model::*;
use chatport_transform::plan::{transform, PlanOptions};
use std::path::Path;

mod plan_support;

const NOW: i64 = 1_800_000_000_000_000;

fn msg(ts: &str, author: &str, text: &str) -> Message {
    plan_support::msg("C1", ts, author, text)
}

fn reply(ts: &str, root: &str, author: &str, text: &str) -> Message {
    let mut m = msg(ts, author, text);
    m.thread_ts = Some(SlackTs::new(root));
    m.reply_to = Some(SlackTs::new(root));
    m
}

/// A conversation exercising the thread facts: a root with replies, a deleted root with a
/// reply (kept as a placeholder), a reply whose root is not in the export, a reply naming a
/// root that comes later in time, a repeated `ts`, a member with a closed interval and an
/// author without one (synthetic membership).
fn conversation_messages() -> Vec<Message> {
    let mut deleted = msg("1600000100.000000", "U1", "");
    deleted.kind = MessageKind::Tombstone;
    let mut reacted = msg("1600000300.000000", "U2", "*bold* <@U1> :tada:");
    reacted.reactions =
        vec![Reaction { name: "tada".into(), users: vec!["U1".into(), "U2".into()], count: None }];
    reacted.extra.insert("user_profile".into(), serde_json::json!({"name": "ignored by the planners"}));
    vec![
        msg("1600000000.000000", "U1", "root"),
        reply("1600000050.000000", "1600000000.000000", "U2", "reply one"),
        deleted,
        reply("1600000150.000000", "1600000100.000000", "U2", "reply to a deleted root"),
        reply("1600000200.000000", "1500000000.000000", "U3", "root not in the export"),
        reply("1600000250.000000", "1600000400.000000", "U1", "names a later root"),
        reacted,
        msg("1600000300.000000", "U1", "same ts"),
        msg("1600000400.000000", "U3", "the later root"),
        reply("1600000500.000000", "1600000000.000000", "U1", "reply two"),
    ]
}

fn write_canonical(dir: &Path, msgs: &[Message]) {
    let mut files = Vec::new();
    let mut w = DataFileWriter::create(dir, "users.jsonl").unwrap();
    for (id, email) in [("U1", "u1@corp.example"), ("U2", "u2@corp.example"), ("U3", "u3@corp.example")] {
        w.write(&User {
            id: id.into(),
            email: Some(email.into()),
            name: Some(id.into()),
            ..Default::default()
        })
        .unwrap();
    }
    files.push(w.finish().unwrap());
    let conv = Conversation {
        id: "C1".into(),
        kind: ConversationKind::PublicChannel,
        name: Some("c1".into()),
        created: Some(1_599_999_000),
        creator: None,
        topic: None,
        purpose: None,
        archived: false,
        is_general: false,
        members: vec!["U1".into()],
        memberships: vec![Membership {
            user: "U2".into(),
            joined: Some(SlackTs::new("1600000040.000000")),
            left: Some(SlackTs::new("1600000060.000000")),
        }],
        listed_in: None,
        folder: None,
        messages_path: "messages/C1.jsonl".into(),
        message_count: msgs.len() as u64,
        extra: Default::default(),
    };
    let mut mw = DataFileWriter::create(dir, &conv.messages_path).unwrap();
    for m in msgs {
        mw.write(m).unwrap();
    }
    files.push(mw.finish().unwrap());
    let mut cw = DataFileWriter::create(dir, "conversations.jsonl").unwrap();
    cw.write(&conv).unwrap();
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

fn opts(destination: Destination) -> PlanOptions {
    let mut o = PlanOptions::new(destination, NOW);
    o.importer = Some("admin@corp.example".into());
    o.fallback_user = Some("00000000-0000-4000-8000-00000000f411".into());
    o
}

/// The plan's files but the manifest (which names the canonical directory's hash).
fn plan_files(canonical: &Path, destination: Destination) -> Vec<(String, String)> {
    let out = canonical.join("plan");
    transform(canonical, &out, opts(destination), None).unwrap();
    let mut files = Vec::new();
    for name in ["containers.jsonl", "report.jsonl"] {
        files.push((name.to_owned(), std::fs::read_to_string(out.join(name)).unwrap()));
    }
    let mut ops: Vec<_> = std::fs::read_dir(out.join("ops")).unwrap().map(|e| e.unwrap().path()).collect();
    ops.sort();
    for p in ops {
        files.push((
            p.file_name().unwrap().to_string_lossy().into_owned(),
            std::fs::read_to_string(&p).unwrap(),
        ));
    }
    assert!(!out.join(".report-parts").exists(), "scratch report files are removed");
    files
}

fn reasons(files: &[(String, String)], reason: &str) -> Vec<serde_json::Value> {
    let report = &files.iter().find(|(n, _)| n == "report.jsonl").unwrap().1;
    report
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["reason"] == reason)
        .collect()
}

#[test]
fn an_out_of_order_file_plans_as_the_sorted_one() {
    let sorted = conversation_messages();
    // The same messages, out of time order (last first, then the rest reversed in pairs).
    let mut shuffled = sorted.clone();
    shuffled.reverse();
    shuffled.swap(0, 3);
    for destination in [Destination::Chat, Destination::Teams] {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        write_canonical(a.path(), &sorted);
        write_canonical(b.path(), &shuffled);
        let streamed = plan_files(a.path(), destination);
        let read_whole = plan_files(b.path(), destination);
        assert_eq!(streamed.len(), read_whole.len());
        for ((na, ta), (nb, tb)) in streamed.iter().zip(&read_whole) {
            assert_eq!(na, nb);
            assert_eq!(ta, tb, "{destination:?} {na} differs between streamed and sorted-in-memory planning");
        }
    }
}

#[test]
fn thread_facts_from_pass_one() {
    let tmp = tempfile::tempdir().unwrap();
    write_canonical(tmp.path(), &conversation_messages());
    let chat = plan_files(tmp.path(), Destination::Chat);
    // The reply whose root is not in the export starts its thread, and so does the reply
    // dated before its root: pass 1 saw that root come, so it is told apart from an absent
    // one. The others were reached after their (carried) roots.
    let orphans = reasons(&chat, "orphan_reply");
    assert_eq!(orphans.len(), 2, "{orphans:?}");
    assert_eq!(orphans[0]["ts"], "1600000200.000000");
    assert!(orphans[0]["detail"].as_str().unwrap().starts_with("its thread root is not in the export"));
    assert_eq!(orphans[1]["ts"], "1600000250.000000");
    assert!(orphans[1]["detail"].as_str().unwrap().starts_with("its thread root is dated after it"));
    // The deleted root has a reply: a placeholder is carried, not dropped.
    assert_eq!(reasons(&chat, "tombstone_placeholder").len(), 1);
    assert!(reasons(&chat, "deleted_message").is_empty());
    // U3 has no membership: a synthetic one covers their messages; U2 posted outside their
    // closed interval too.
    let synthetic = reasons(&chat, "synthetic_membership");
    assert_eq!(synthetic.len(), 2, "{synthetic:?}");
    // The repeated ts got distinct ids.
    let ops = &chat.iter().find(|(n, _)| n.starts_with("space-")).unwrap().1;
    assert!(ops.contains("\"client-c1-1600000300000000-d2\""));

    let teams = plan_files(tmp.path(), Destination::Teams);
    let orphans = reasons(&teams, "orphan_reply");
    let details: Vec<&str> = orphans.iter().map(|e| e["detail"].as_str().unwrap()).collect();
    assert_eq!(orphans.len(), 2, "{details:?}");
    assert!(details.iter().any(|d| d.starts_with("its thread root is not in the export")), "{details:?}");
    assert!(
        details.iter().any(|d| d.starts_with("its thread root is not carried")),
        "the later root is present: {details:?}"
    );
}

#[test]
fn a_bad_record_names_the_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    write_canonical(tmp.path(), &conversation_messages());
    let path = tmp.path().join("messages/C1.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // Line 3: a field the canonical format does not have (passes pass 1, fails pass 2).
    lines[2] = lines[2].replacen("{", "{\"unexpected\":1,", 1);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let err = transform(tmp.path(), &tmp.path().join("plan"), opts(Destination::Chat), None).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("C1.jsonl") && msg.contains("line 3") && msg.contains("unexpected"), "{msg}");
    // Line 5: not JSON at all (fails pass 1).
    lines[2] = text.lines().nth(2).unwrap().to_owned();
    lines[4] = "{\"ts\":".into();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let err = transform(tmp.path(), &tmp.path().join("plan"), opts(Destination::Teams), None).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("C1.jsonl") && msg.contains("line 5"), "{msg}");
}

#[test]
fn writing_a_plan_keeps_no_operations_or_entries_in_memory() {
    use chatport_transform::plan::{chat, load_context};
    let tmp = tempfile::tempdir().unwrap();
    write_canonical(tmp.path(), &conversation_messages());
    let out = tmp.path().join("plan");
    std::fs::create_dir_all(out.join("ops")).unwrap();
    let (mut ctx, convs, _) = load_context(tmp.path(), opts(Destination::Chat), None).unwrap();
    ctx.out = Some(out.clone());
    let plans = chat::plan(tmp.path(), &ctx, &convs).unwrap();
    assert_eq!(plans.len(), 1);
    let plan = &plans[0];
    let spilled = plan.spilled.as_ref().expect("written to the plan directory");
    assert!(plan.report.is_empty(), "report entries went to a scratch file");
    let (container, ops) = &plan.containers[0];
    assert!(ops.is_empty(), "operations went straight to their file");
    assert!(container.op_count > 10);
    assert_eq!(spilled.operations, container.op_count);
    let on_disk = std::fs::read_to_string(out.join(&container.ops_path)).unwrap();
    assert_eq!(on_disk.lines().count() as u64, container.op_count);
    let part = spilled.report.as_ref().expect("a report part");
    let lines = std::fs::read_to_string(&part.path).unwrap().lines().count() as u64;
    assert_eq!(lines, part.entries);
    assert_eq!(spilled.by_reason.values().sum::<u64>(), part.entries);
}
