//! The Teams planner on a small canonical directory written here record by record: the
//! workspace team and its channels, own teams for private conversations, channel names,
//! millisecond times, threads, files, reactions, mentions, splitting, accounting and
//! determinism.

use chatport_model::plan::Destination;
use chatport_model::plan::{Action, Actor, Container, ContainerKind, Operation, Outcome, ReportEntry};
use chatport_model::ts::parse_rfc3339;
use chatport_model::{
    Conversation, ConversationKind, Counts, DataFile, FileRecord, FileState, Manifest, Membership, Message,
    MessageKind, Reaction, SlackTs, Source, Tool, User,
};
use chatport_transform::markup::TEAMS_TAGS;
use chatport_transform::plan::{
    load_context, teams, transform, ConversationPlan, PlanOptions, PrivatePolicy, TransformError,
};
use chatport_transform::users::{MappingRow, UserAction};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

mod plan_support;
use plan_support::row;

/// "Now" for every test: 2023-11-14T22:20:00Z, after all fixture messages.
const NOW: i64 = 1_700_000_400_000_000;
const ROOT: &str = "1700000000.000100";

fn user(id: &str, name: &str) -> User {
    User { team_id: None, ..plan_support::user(id, name) }
}

fn mapping() -> Vec<MappingRow> {
    vec![
        row("U1", "Ana", "0000000a-0000-4000-8000-00000000a001", UserAction::Author),
        row("U2", "Bob", "0000000a-0000-4000-8000-00000000a002", UserAction::Author),
        row("U3", "Carol", "0000000a-0000-4000-8000-00000000a003", UserAction::Author),
        row("U4", "Dan", "", UserAction::App),
    ]
}

fn conv(id: &str, kind: ConversationKind, name: Option<&str>, members: &[&str]) -> Conversation {
    Conversation { created: Some(1_699_990_000), ..plan_support::conv(id, kind, name, members) }
}

fn msg(conversation: &str, ts: &str, author: &str, text: &str) -> Message {
    let mut m = plan_support::msg(conversation, ts, author, text);
    m.source.file = format!("{conversation}/2023-11-14.json");
    m
}

fn reply(conversation: &str, ts: &str, root: &str, author: &str, text: &str) -> Message {
    let mut m = plan_support::reply(conversation, ts, root, author, text);
    m.source.file = format!("{conversation}/2023-11-14.json");
    m
}

fn file(id: &str, name: &str, mime: &str, content: Option<&[u8]>) -> (FileRecord, Option<Vec<u8>>) {
    let sha = content.map(chatport_model::jsonl::sha256_hex);
    let record = FileRecord {
        id: id.into(),
        name: Some(name.into()),
        title: None,
        mimetype: Some(mime.into()),
        size: content.map(|c| c.len() as u64).or(Some(10)),
        user: Some("U1".into()),
        created: None,
        state: if content.is_some() { FileState::Present } else { FileState::RemoteOnly },
        sha256: sha.clone(),
        blob: sha.as_ref().map(|s| format!("blobs/{}/{s}", &s[..2])),
        url: None,
        first_seen: None,
        extra: Default::default(),
    };
    (record, content.map(<[u8]>::to_vec))
}

/// A long message: many lines of formatted text, well over 28,000 bytes of HTML.
fn long_text() -> String {
    (0..900)
        .map(|i| format!("line {i}: *bold* & <angle> text to fill the message"))
        .collect::<Vec<_>>()
        .join("\n")
}

struct Fixture {
    users: Vec<User>,
    conversations: Vec<Conversation>,
    messages: BTreeMap<String, Vec<Message>>,
    files: Vec<(FileRecord, Option<Vec<u8>>)>,
}

impl Fixture {
    fn sample() -> Self {
        let mut general =
            conv("C1", ConversationKind::PublicChannel, Some("general"), &["U1", "U2", "U3", "U4"]);
        general.is_general = true;
        general.memberships = vec![Membership {
            user: "U3".into(),
            joined: None,
            left: Some(SlackTs::new("1699999000.000000")),
        }];
        let conversations = vec![
            general,
            conv("C2", ConversationKind::PublicChannel, Some("random"), &["U1", "U2"]),
            conv("C3", ConversationKind::PublicChannel, Some("eng:backend/ops?"), &["U1"]),
            conv("C4", ConversationKind::PublicChannel, Some("ENG-backend-ops-"), &["U2"]),
            conv("C5", ConversationKind::PublicChannel, Some("General"), &["U1"]),
            conv("C6", ConversationKind::PublicChannel, Some(&format!("_{}.", "x".repeat(60))), &["U1"]),
            conv("G1", ConversationKind::PrivateChannel, Some("secret"), &["U1", "U2"]),
            conv("M1", ConversationKind::GroupDm, Some("mpdm-ana--bob--carol-1"), &["U1", "U2", "U3"]),
            conv("D1", ConversationKind::Dm, None, &["U1", "U3"]),
        ];
        let mut root = msg("C1", ROOT, "U1", "hello <@U2>, welcome");
        root.thread_ts = Some(SlackTs::new(ROOT));
        root.reactions = vec![
            Reaction { name: "+1".into(), users: vec!["U2".into(), "U3".into()], count: Some(2) },
            Reaction { name: "party-parrot".into(), users: vec!["U2".into()], count: Some(1) },
        ];
        let mut with_files = msg("C1", "1700000001.000000", "U1", "files");
        with_files.files = vec!["F1".into(), "F2".into(), "F3".into(), "F4".into()];
        let mut broadcast = reply("C1", "1700000003.000000", ROOT, "U1", "also to the channel");
        broadcast.broadcast = true;
        let mut join = msg("C1", "1700000004.000000", "U3", "<@U3> has joined the channel");
        join.kind = MessageKind::System;
        join.subtype = Some("channel_join".into());
        let c1 = vec![
            root,
            msg("C1", "1700000000.000200", "U2", "same millisecond"),
            reply("C1", "1700000000.000300", ROOT, "U3", "first reply, same millisecond"),
            reply("C1", "1700000000.000900", ROOT, "U2", "second reply"),
            with_files,
            reply("C1", "1700000002.000000", "1699999999.000000", "U1", "root not in the export"),
            broadcast,
            join,
            msg("C1", "1700000005.000000", "U4", "from an unmapped user"),
            msg("C1", "1700000006.000000", "U1", &long_text()),
            reply("C1", "1700000007.000000", "1700000006.000000", "U2", "reply to the long one"),
        ];
        let mut messages = BTreeMap::new();
        messages.insert("C1".to_owned(), c1);
        messages.insert(
            "C2".to_owned(),
            vec![
                msg("C2", "1699999000.000000", "U1", "random one"),
                msg("C2", "1699999000.000500", "U2", "random two"),
            ],
        );
        messages.insert("G1".to_owned(), vec![msg("G1", "1700000100.000000", "U1", "private talk")]);
        messages.insert(
            "M1".to_owned(),
            vec![
                msg("M1", "1700000100.000000", "U2", "group talk"),
                reply("M1", "1700000101.000000", "1700000100.000000", "U3", "yes"),
            ],
        );
        messages.insert("D1".to_owned(), vec![msg("D1", "1700000100.000000", "U3", "direct talk")]);
        let files = vec![
            file("F1", "small.png", "image/png", Some(&[137, 80, 78, 71, 1, 2, 3])),
            file("F2", "report.pdf", "application/pdf", Some(b"%PDF-1.4 tiny")),
            file("F3", "remote.doc", "application/msword", None),
            file("F4", "huge.png", "image/png", Some(&[7u8; 2048])),
        ];
        Fixture {
            users: vec![user("U1", "Ana"), user("U2", "Bob"), user("U3", "Carol"), user("U4", "Dan")],
            conversations,
            messages,
            files,
        }
    }

    fn write(&self, dir: &Path) {
        let jsonl = |rel: &str, lines: Vec<String>| {
            let path = dir.join(rel);
            std::fs::create_dir_all(path.parent().unwrap_or(dir)).ok();
            let mut text = lines.join("\n");
            if !text.is_empty() {
                text.push('\n');
            }
            std::fs::write(path, text).ok();
        };
        let ser = |v: &dyn erased::Ser| v.json();
        jsonl("users.jsonl", self.users.iter().map(|u| ser(u)).collect());
        let mut convs = self.conversations.clone();
        for c in &mut convs {
            c.message_count = self.messages.get(&c.id).map_or(0, |m| m.len() as u64);
            let msgs = self.messages.get(&c.id).cloned().unwrap_or_default();
            jsonl(&c.messages_path, msgs.iter().map(|m| ser(m)).collect());
        }
        jsonl("conversations.jsonl", convs.iter().map(|c| ser(c)).collect());
        jsonl("files.jsonl", self.files.iter().map(|(f, _)| ser(f)).collect());
        let mut data_files = Vec::new();
        for (f, content) in &self.files {
            if let (Some(path), Some(bytes)) = (&f.blob, content) {
                let p = dir.join(path);
                std::fs::create_dir_all(p.parent().unwrap_or(dir)).ok();
                std::fs::write(&p, bytes).ok();
                data_files.push(DataFile {
                    path: path.clone(),
                    records: 1,
                    bytes: bytes.len() as u64,
                    sha256: f.sha256.clone().unwrap_or_default(),
                });
            }
        }
        data_files.sort_by(|a, b| a.path.cmp(&b.path));
        let manifest = Manifest {
            format_version: 1,
            tool: Tool { name: "test".into(), version: "0".into() },
            source: Source {
                kind: "slack".into(),
                layouts: vec!["business".into()],
                name: "fixture".into(),
                sha256: "0".into(),
            },
            counts: Counts::default(),
            files: data_files,
        };
        std::fs::write(dir.join("manifest.json"), serde_json::to_vec_pretty(&manifest).unwrap_or_default())
            .ok();
    }
}

/// Serialises any fixture record as one JSON line.
mod erased {
    pub trait Ser {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Ser for T {
        fn json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}

fn options() -> PlanOptions {
    let mut o = PlanOptions::new(Destination::Teams, NOW);
    o.team_name = "Acme Slack".into();
    o.fallback_user = Some("0000000a-0000-4000-8000-00000000a0ff".into());
    o.max_inline_image_bytes = 1024;
    o
}

fn run_with(fixture: &Fixture, opts: PlanOptions) -> Result<Vec<ConversationPlan>, TransformError> {
    let dir = tempfile::tempdir().map_err(|e| TransformError::Options(e.to_string()))?;
    fixture.write(dir.path());
    let (ctx, convs, _) = load_context(dir.path(), opts, Some(mapping()))?;
    teams::plan(dir.path(), &ctx, &convs)
}

fn run() -> Vec<ConversationPlan> {
    match run_with(&Fixture::sample(), options()) {
        Ok(p) => p,
        Err(e) => panic!("planning failed: {e}"),
    }
}

fn containers(plans: &[ConversationPlan]) -> Vec<&(Container, Vec<Operation>)> {
    plans.iter().flat_map(|p| p.containers.iter()).collect()
}

fn channel_of<'a>(plans: &'a [ConversationPlan], conversation: &str) -> &'a (Container, Vec<Operation>) {
    containers(plans)
        .into_iter()
        .find(|(c, _)| {
            c.kind == ContainerKind::TeamsChannel && c.conversation.as_deref() == Some(conversation)
        })
        .unwrap_or_else(|| panic!("no channel for {conversation}"))
}

fn reports(plans: &[ConversationPlan]) -> Vec<&ReportEntry> {
    plans.iter().flat_map(|p| p.report.iter()).collect()
}

fn message_op<'a>(ops: &'a [Operation], ts: &str) -> &'a Operation {
    ops.iter()
        .find(|o| o.source.as_ref().is_some_and(|s| s.primary && s.ts.as_deref() == Some(ts)))
        .unwrap_or_else(|| panic!("no primary op for {ts}"))
}

fn post(
    op: &Operation,
) -> (
    &Option<chatport_model::plan::OperationId>,
    &Value,
    &[chatport_model::plan::HostedContent],
    &[chatport_model::plan::OperationId],
) {
    match &op.action {
        Action::TeamsPostMessage { reply_to, message, hosted_contents, files } => {
            (reply_to, message, hosted_contents, files)
        }
        other => panic!("{} is {}, not a message", op.id, other.name()),
    }
}

fn content(op: &Operation) -> String {
    post(op).1["body"]["content"].as_str().unwrap_or_default().to_owned()
}

fn created(op: &Operation) -> i64 {
    post(op).1["createdDateTime"].as_str().and_then(parse_rfc3339).unwrap_or(i64::MIN)
}

#[test]
fn millisecond_collisions_get_unique_increasing_times() {
    let plans = run();
    let (channel, ops) = channel_of(&plans, "C1");
    let floor = parse_rfc3339(&channel.create_time).unwrap_or(i64::MAX);
    let times: Vec<(String, i64)> = ops
        .iter()
        .filter(|o| matches!(o.action, Action::TeamsPostMessage { .. }))
        .map(|o| (post(o).1["createdDateTime"].as_str().unwrap_or_default().to_owned(), created(o)))
        .collect();
    assert!(times.len() > 5);
    for (text, t) in &times {
        assert_eq!(text.len(), "2023-11-14T22:13:20.000Z".len(), "millisecond precision: {text}");
        assert_eq!(t % 1000, 0);
        assert!(*t > floor, "{text} after the channel's {}", channel.create_time);
        assert!(*t <= NOW - 5_000_000, "{text} not after latest");
    }
    assert!(times.windows(2).all(|w| w[0].1 < w[1].1), "strictly increasing: {times:?}");
    // .000100, .000200 and .000300 share a millisecond: the last two are nudged and reported.
    assert_eq!(created(message_op(ops, ROOT)), 1_700_000_000_000_000);
    assert_eq!(created(message_op(ops, "1700000000.000200")), 1_700_000_000_001_000);
    assert_eq!(created(message_op(ops, "1700000000.000300")), 1_700_000_000_002_000);
    let adjusted: BTreeSet<&str> = reports(&plans)
        .into_iter()
        .filter(|e| e.reason == "create_time_adjusted")
        .filter_map(|e| e.ts.as_deref())
        .collect();
    assert!(adjusted.contains("1700000000.000200") && adjusted.contains("1700000000.000300"));
    assert!(!adjusted.contains(ROOT));
}

#[test]
fn replies_reference_their_root_and_orphans_start_threads() {
    let plans = run();
    let (_, ops) = channel_of(&plans, "C1");
    let root = message_op(ops, ROOT);
    assert_eq!(post(root).0, &None);
    for ts in ["1700000000.000300", "1700000000.000900", "1700000003.000000"] {
        assert_eq!(post(message_op(ops, ts)).0.as_ref(), Some(&root.id), "{ts} replies to the root");
        assert!(created(message_op(ops, ts)) > created(root));
    }
    let orphan = message_op(ops, "1700000002.000000");
    assert_eq!(post(orphan).0, &None, "an orphan reply starts a thread");
    let r = reports(&plans);
    assert!(r.iter().any(|e| e.reason == "orphan_reply" && e.ts.as_deref() == Some("1700000002.000000")));
    assert!(r
        .iter()
        .any(|e| e.reason == "broadcast_as_reply" && e.ts.as_deref() == Some("1700000003.000000")));
    // Replies in a group DM's own team are replies too.
    let (_, ops) = channel_of(&plans, "M1");
    let root = message_op(ops, "1700000100.000000");
    assert_eq!(post(message_op(ops, "1700000101.000000")).0.as_ref(), Some(&root.id));
}

#[test]
fn workspace_team_comes_first_and_general_uses_the_general_channel() {
    let plans = run();
    let all = containers(&plans);
    let (team, team_ops) = all[0];
    assert_eq!(
        (team.id.as_str(), team.kind, team.display_name.as_str()),
        ("workspace-team", ContainerKind::TeamsTeam, "Acme Slack")
    );
    let Action::TeamsCreateTeam { team: body } = &team_ops[0].action else {
        panic!("first op creates the team")
    };
    assert_eq!(body["@microsoft.graph.teamCreationMode"], "migration");
    assert_eq!(body["template@odata.bind"], "https://graph.microsoft.com/v1.0/teamsTemplates('standard')");
    assert_eq!(body["displayName"], "Acme Slack");
    assert_eq!(body["createdDateTime"].as_str(), Some(team.create_time.as_str()));
    assert!(matches!(team_ops[1].action, Action::TeamsCompleteTeam));
    let members: Vec<&str> = team_ops
        .iter()
        .filter_map(|o| match &o.action {
            Action::TeamsAddMember { member } => member["user@odata.bind"].as_str(),
            _ => None,
        })
        .collect();
    assert_eq!(
        members,
        [
            "https://graph.microsoft.com/v1.0/users('0000000a-0000-4000-8000-00000000a001')",
            "https://graph.microsoft.com/v1.0/users('0000000a-0000-4000-8000-00000000a002')",
            "https://graph.microsoft.com/v1.0/users('0000000a-0000-4000-8000-00000000a003')"
        ],
        "mapped current members only (Dan has no account)"
    );
    assert!(team_ops.iter().all(|o| o.actor == Actor::App));
    assert!(reports(&plans).iter().any(|e| e.reason == "member_unmapped" && e.detail.contains("Dan")));

    let (general, ops) = channel_of(&plans, "C1");
    assert_eq!(
        (general.display_name.as_str(), general.parent.as_deref()),
        ("General", Some("workspace-team"))
    );
    assert!(matches!(ops[0].action, Action::TeamsUseGeneralChannel));
    assert!(matches!(ops.last().map(|o| &o.action), Some(Action::TeamsCompleteChannel)));
    assert_eq!(general.create_time, team.create_time, "General exists from the team's creation");

    let team_time = parse_rfc3339(&team.create_time).unwrap_or(i64::MAX);
    for (c, ops) in all.iter().filter(|(c, _)| c.parent.as_deref() == Some("workspace-team")) {
        assert!(
            parse_rfc3339(&c.create_time).unwrap_or(i64::MIN) >= team_time,
            "{} not before its team",
            c.id
        );
        if c.conversation.as_deref() != Some("C1") {
            let Action::TeamsCreateChannel { channel } = &ops[0].action else {
                panic!("{} starts by creating its channel", c.id)
            };
            assert_eq!(channel["@microsoft.graph.channelCreationMode"], "migration");
            assert_eq!(channel["membershipType"], "standard");
            assert_eq!(channel["displayName"].as_str(), Some(c.display_name.as_str()));
            assert_eq!(channel["createdDateTime"].as_str(), Some(c.create_time.as_str()));
        }
    }
}

#[test]
fn private_channels_group_dms_and_dms_get_their_own_teams() {
    let plans = run();
    let all = containers(&plans);
    for (conv, members) in [
        ("G1", vec!["0000000a-0000-4000-8000-00000000a001", "0000000a-0000-4000-8000-00000000a002"]),
        (
            "M1",
            vec![
                "0000000a-0000-4000-8000-00000000a001",
                "0000000a-0000-4000-8000-00000000a002",
                "0000000a-0000-4000-8000-00000000a003",
            ],
        ),
        ("D1", vec!["0000000a-0000-4000-8000-00000000a001", "0000000a-0000-4000-8000-00000000a003"]),
    ] {
        let (channel, ops) = channel_of(&plans, conv);
        let parent = channel.parent.clone().unwrap_or_default();
        assert_ne!(parent, "workspace-team", "{conv} must not be a channel of the shared team");
        assert!(
            matches!(ops[0].action, Action::TeamsUseGeneralChannel),
            "{conv} uses its team's General channel"
        );
        let team_pos = all.iter().position(|(c, _)| c.id == parent).unwrap_or(usize::MAX);
        let channel_pos = all.iter().position(|(c, _)| c.id == channel.id).unwrap_or(0);
        assert!(team_pos < channel_pos, "{conv}: team before its channel");
        let (team, team_ops) = all[team_pos];
        assert_eq!(team.kind, ContainerKind::TeamsTeam);
        assert_eq!(team.conversation.as_deref(), Some(conv));
        assert!(matches!(team_ops[0].action, Action::TeamsCreateTeam { .. }));
        let added: Vec<String> = team_ops
            .iter()
            .filter_map(|o| match &o.action {
                Action::TeamsAddMember { member } => member["user@odata.bind"].as_str().map(str::to_owned),
                _ => None,
            })
            .collect();
        let expected: Vec<String> =
            members.iter().map(|m| format!("https://graph.microsoft.com/v1.0/users('{m}')")).collect();
        assert_eq!(added, expected, "{conv}: its members");
        assert!(parse_rfc3339(&team.create_time) <= parse_rfc3339(&channel.create_time));
        assert!(reports(&plans)
            .iter()
            .any(|e| e.reason == "private_as_own_team" && e.conversation.as_deref() == Some(conv)));
    }
    let d1 = all
        .iter()
        .find(|(c, _)| c.kind == ContainerKind::TeamsTeam && c.conversation.as_deref() == Some("D1"));
    assert_eq!(d1.map(|(c, _)| c.display_name.as_str()), Some("DM: Ana, Carol"));
}

#[test]
fn private_policy_skip_reports_every_message() {
    let mut opts = options();
    opts.private_policy = PrivatePolicy::Skip;
    let plans = run_with(&Fixture::sample(), opts).unwrap_or_else(|e| panic!("{e}"));
    for conv in ["G1", "M1", "D1"] {
        assert!(
            containers(&plans).iter().all(|(c, _)| c.conversation.as_deref() != Some(conv)),
            "{conv} not carried"
        );
        let r = reports(&plans);
        assert!(r.iter().any(|e| e.item == "conversation"
            && e.outcome == Outcome::Dropped
            && e.conversation.as_deref() == Some(conv)));
        let dropped = r
            .iter()
            .filter(|e| {
                e.item == "message"
                    && e.outcome == Outcome::Dropped
                    && e.conversation.as_deref() == Some(conv)
            })
            .count();
        let expected = Fixture::sample().messages.get(conv).map_or(0, Vec::len);
        assert_eq!(dropped, expected, "{conv}: every message reported");
    }
}

#[test]
fn channel_names_are_valid_and_unique() {
    let plans = run();
    let names: BTreeMap<String, String> = containers(&plans)
        .iter()
        .filter(|(c, _)| c.parent.as_deref() == Some("workspace-team"))
        .map(|(c, _)| (c.conversation.clone().unwrap_or_default(), c.display_name.clone()))
        .collect();
    assert_eq!(names["C2"], "random");
    assert_eq!(names["C3"], "eng-backend-ops-");
    assert_eq!(names["C4"], "ENG-backend-ops- (2)", "unique case-insensitively");
    assert_eq!(names["C5"], "General (2)", "General is reserved");
    assert_eq!(names["C6"], "x".repeat(50), "no leading _, no trailing ., at most 50 characters");
    let mut seen = BTreeSet::new();
    for name in names.values() {
        assert!(name.chars().count() <= 50);
        assert!(!name.contains(teams::FORBIDDEN_CHANNEL_CHARS), "{name}");
        assert!(!name.starts_with(['_', '.']) && !name.ends_with('.'));
        assert!(seen.insert(name.to_lowercase()), "{name} repeated");
    }
    let renamed: BTreeSet<&str> = reports(&plans)
        .into_iter()
        .filter(|e| e.reason == "channel_renamed")
        .filter_map(|e| e.conversation.as_deref())
        .collect();
    assert_eq!(renamed, BTreeSet::from(["C3", "C4", "C5", "C6"]));
    assert_eq!(teams::channel_name("a\u{7}b", "C9"), "a-b");
    assert_eq!(teams::channel_name("...", "C9"), "C9");
}

#[test]
fn small_images_are_inline_and_other_files_are_uploads() {
    let plans = run();
    let (_, ops) = channel_of(&plans, "C1");
    let op = message_op(ops, "1700000001.000000");
    let pos = ops.iter().position(|o| o.id == op.id).unwrap_or(0);
    let (_, _, hosted, files) = post(op);
    assert_eq!(hosted.len(), 1);
    assert_eq!((hosted[0].temporary_id.as_str(), hosted[0].blob.filename.as_str()), ("1", "small.png"));
    let html = content(op);
    assert!(html.contains(r#"<img src="../hostedContents/1/$value" alt="small.png">"#), "{html}");
    assert_eq!(files.len(), 2, "the PDF and the over-size image are uploaded");
    for f in files {
        let upload = ops.iter().position(|o| &o.id == f).unwrap_or(usize::MAX);
        assert!(upload < pos, "upload before its message");
        let Action::TeamsUploadFile { blob } = &ops[upload].action else { panic!("{f} is an upload") };
        assert!(blob.filename == "report.pdf" || blob.filename == "huge.png");
        assert_eq!(ops[upload].actor, Actor::App);
        assert!(html.contains(&format!(r#"<attachment id="{f}"></attachment>"#)), "{html}");
    }
    assert!(html.contains("[file not carried: remote.doc (content not in the export)]"));
    let r = reports(&plans);
    assert!(r.iter().any(|e| e.reason == "file_not_carried" && e.detail.contains("F3")));
    assert!(r.iter().any(|e| e.reason == "image_as_file" && e.detail.contains("F4")));
}

#[test]
fn reactions_become_a_footer_and_are_reported_per_user() {
    let plans = run();
    let (_, ops) = channel_of(&plans, "C1");
    let root = message_op(ops, ROOT);
    let html = content(root);
    assert!(html.ends_with("<p><i>Reactions: \u{1F44D} 2 · :party-parrot: 1</i></p>"), "{html}");
    let entries: Vec<&ReportEntry> = reports(&plans)
        .into_iter()
        .filter(|e| e.item == "reaction" && e.reason == "reaction_as_footer")
        .collect();
    assert_eq!(entries.len(), 3, "one per (message, emoji, user)");
    assert!(entries.iter().all(|e| e.outcome == Outcome::Altered && e.operation.as_ref() == Some(&root.id)));
    assert!(!serde_json::to_string(post(root).1).unwrap_or_default().contains("\"reactions\""));
}

#[test]
fn mentions_are_text_and_reported() {
    let plans = run();
    let (_, ops) = channel_of(&plans, "C1");
    let root = message_op(ops, ROOT);
    assert!(content(root).starts_with("<p>hello @Bob, welcome</p>"), "{}", content(root));
    assert!(reports(&plans)
        .iter()
        .any(|e| e.item == "markup" && e.reason == "mention_as_text" && e.ts.as_deref() == Some(ROOT)));
}

#[test]
fn authors_and_the_fallback_user() {
    let plans = run();
    let (_, ops) = channel_of(&plans, "C1");
    let ana = message_op(ops, ROOT);
    assert_eq!(ana.actor, Actor::User { id: "0000000a-0000-4000-8000-00000000a001".into() });
    assert_eq!(post(ana).1["from"]["user"]["id"], "0000000a-0000-4000-8000-00000000a001");
    assert_eq!(post(ana).1["from"]["user"]["displayName"], "Ana");
    assert_eq!(post(ana).1["from"]["user"]["userIdentityType"], "aadUser");
    let dan = message_op(ops, "1700000005.000000");
    assert_eq!(dan.actor, Actor::App);
    assert_eq!(post(dan).1["from"]["user"]["id"], "0000000a-0000-4000-8000-00000000a0ff");
    assert!(content(dan).starts_with("<p><b>Dan:</b></p>"), "attribution line: {}", content(dan));

    let mut opts = options();
    opts.fallback_user = None;
    match run_with(&Fixture::sample(), opts) {
        Err(TransformError::Options(m)) => assert!(m.contains("--fallback-user"), "{m}"),
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("a message without a mapped author needs --fallback-user"),
    }
}

#[test]
fn large_messages_are_split_into_replies() {
    let plans = run();
    let (_, ops) = channel_of(&plans, "C1");
    let ts = "1700000006.000000";
    let main = message_op(ops, ts);
    let parts: Vec<&Operation> =
        ops.iter().filter(|o| o.source.as_ref().is_some_and(|s| s.ts.as_deref() == Some(ts))).collect();
    assert!(parts.len() >= 2, "split into {} parts", parts.len());
    let mut text = String::new();
    for p in &parts {
        let body = serde_json::to_vec(post(p).1).unwrap_or_default();
        assert!(body.len() <= 28_000, "{} is {} bytes", p.id, body.len());
        let html = content(p);
        check_balanced(&html);
        text.push_str(&html);
        if p.id != main.id {
            assert_eq!(post(p).0.as_ref(), Some(&main.id), "continuations reply to the message");
            assert!(created(p) > created(main));
        }
    }
    for i in [0, 450, 899] {
        assert!(
            text.contains(&format!("line {i}: <b>bold</b> &amp; &lt;angle&gt; text")),
            "line {i} carried"
        );
    }
    assert!(reports(&plans).iter().any(|e| e.reason == "split" && e.ts.as_deref() == Some(ts)));
    let reply = message_op(ops, "1700000007.000000");
    assert_eq!(
        post(reply).0.as_ref(),
        Some(&main.id),
        "a reply to a split message replies to its first part"
    );
}

/// Every tag is one the renderer or the planner emits, and they nest properly.
fn check_balanced(html: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        let Some(j) = rest[i..].find('>') else { panic!("unterminated tag in {html}") };
        let tag = &rest[i + 1..i + j];
        let closing = tag.starts_with('/');
        let name: String =
            tag.trim_start_matches('/').chars().take_while(char::is_ascii_alphanumeric).collect();
        assert!(TEAMS_TAGS.contains(&name.as_str()) || name == "attachment", "tag {name}");
        if closing {
            assert_eq!(stack.pop().as_deref(), Some(name.as_str()), "misnested in {html}");
        } else if !matches!(name.as_str(), "br" | "img") {
            stack.push(name);
        }
        rest = &rest[i + j + 1..];
    }
    assert!(stack.is_empty(), "unclosed {stack:?}");
}

#[test]
fn every_message_is_carried_once_or_dropped_once() {
    let fixture = Fixture::sample();
    let plans = run();
    let total: usize = fixture.messages.values().map(Vec::len).sum();
    let considered: u64 = plans.iter().map(|p| p.considered).sum();
    let carried: u64 = plans.iter().map(|p| p.carried).sum();
    let dropped: u64 = plans.iter().map(|p| p.dropped).sum();
    assert_eq!(considered as usize, total);
    assert_eq!(considered, carried + dropped);
    assert_eq!(dropped, 1, "the join event");
    let mut primary: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (_, ops) in containers(&plans) {
        for o in ops {
            if let Some(s) = o.source.as_ref().filter(|s| s.primary) {
                assert!(matches!(o.action, Action::TeamsPostMessage { .. }));
                *primary.entry((s.conversation.clone(), s.ts.clone().unwrap_or_default())).or_default() += 1;
            }
        }
    }
    let mut dropped_entries: BTreeMap<(String, String), usize> = BTreeMap::new();
    for e in reports(&plans).into_iter().filter(|e| e.item == "message" && e.outcome == Outcome::Dropped) {
        *dropped_entries
            .entry((e.conversation.clone().unwrap_or_default(), e.ts.clone().unwrap_or_default()))
            .or_default() += 1;
    }
    assert_eq!(primary.len() as u64, carried);
    assert_eq!(dropped_entries.len() as u64, dropped);
    for (conv, msgs) in &fixture.messages {
        for m in msgs {
            let key = (conv.clone(), m.ts.as_str().to_owned());
            let n = primary.get(&key).copied().unwrap_or(0) + dropped_entries.get(&key).copied().unwrap_or(0);
            assert_eq!(n, 1, "{key:?} ends in exactly one place");
        }
    }
    // Operation ids are unique and seq numbers follow the order.
    let mut ids = BTreeSet::new();
    for (c, ops) in containers(&plans) {
        assert_eq!(c.op_count as usize, ops.len());
        for (i, o) in ops.iter().enumerate() {
            assert_eq!(o.seq as usize, i);
            assert_eq!(o.container, c.id);
            assert!(ids.insert(o.id.clone()), "{} repeated", o.id);
        }
    }
}

#[test]
fn planning_is_deterministic() {
    let fixture = Fixture::sample();
    let a = run_with(&fixture, options()).unwrap_or_else(|e| panic!("{e}"));
    let b = run_with(&fixture, options()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(containers(&a), containers(&b));
    assert_eq!(reports(&a), reports(&b));

    // The written plan too, byte for byte, with the summary's accounting.
    let src = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    fixture.write(src.path());
    let mut outputs = Vec::new();
    for _ in 0..2 {
        let out = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let summary =
            transform(src.path(), out.path(), options(), Some(mapping())).unwrap_or_else(|e| panic!("{e}"));
        let c = &summary.manifest.counts;
        assert_eq!(c.source_messages, c.messages_carried + c.messages_dropped);
        let mut files = BTreeMap::new();
        for f in &summary.manifest.files {
            files.insert(f.path.clone(), std::fs::read(out.path().join(&f.path)).unwrap_or_default());
        }
        outputs.push(files);
    }
    assert_eq!(outputs[0], outputs[1]);
    assert!(outputs[0].contains_key("ops/workspace-team.jsonl"));
}

#[test]
fn no_time_after_latest() {
    let mut fixture = Fixture::sample();
    fixture.messages.insert(
        "C2".to_owned(),
        vec![
            msg("C2", "1700000398.000000", "U1", "close to now"),
            msg("C2", "1800000000.000000", "U2", "in the future"),
        ],
    );
    let plans = run_with(&fixture, options()).unwrap_or_else(|e| panic!("{e}"));
    let latest = NOW - 5_000_000;
    let (channel, ops) = channel_of(&plans, "C2");
    assert!(parse_rfc3339(&channel.create_time).unwrap_or(i64::MAX) < latest);
    let times: Vec<i64> =
        ops.iter().filter(|o| matches!(o.action, Action::TeamsPostMessage { .. })).map(created).collect();
    assert_eq!(times.len(), 2);
    assert!(times.iter().all(|t| *t <= latest), "{times:?}");
    assert!(times[0] < times[1]);
    assert!(reports(&plans)
        .iter()
        .any(|e| e.reason == "create_time_adjusted" && e.ts.as_deref() == Some("1800000000.000000")));
}

#[test]
fn replies_of_a_filtered_root_stay_together() {
    let mut opts = options();
    opts.since = Some(1_700_000_000_000_500);
    opts.channels = vec!["general".into()];
    let plans = run_with(&Fixture::sample(), opts).unwrap_or_else(|e| panic!("{e}"));
    let filtered: u64 = plans.iter().map(|p| p.filtered).sum();
    assert_eq!(filtered, 3, "the root and the two messages of its millisecond are before --since");
    assert!(containers(&plans).iter().all(|(c, _)| c.conversation.as_deref().is_none_or(|c| c == "C1")));
    let (_, ops) = channel_of(&plans, "C1");
    let first = message_op(ops, "1700000000.000900");
    assert_eq!(post(first).0, &None, "the first carried reply starts the thread");
    assert_eq!(
        post(message_op(ops, "1700000003.000000")).0.as_ref(),
        Some(&first.id),
        "its sibling follows it"
    );
    let orphans = reports(&plans).into_iter().filter(|e| e.reason == "orphan_reply").count();
    assert_eq!(orphans, 3, "both siblings and the reply whose root is not in the export");
}

#[test]
fn split_parts_fit_once_json_escaped() {
    // Quotes and tabs take two bytes each in the request's JSON: the raw HTML fits where the
    // request would not.
    let mut fixture = Fixture::sample();
    let code = format!("```\n{}\n```", "say \"hi\"\t\"there\"\t\"you\"\t\"all\"\n".repeat(1500));
    let mut quoted = "\"q\" ".repeat(6_000);
    quoted.push_str("end");
    fixture.messages.insert(
        "C2".to_owned(),
        vec![msg("C2", "1699999000.000000", "U1", &code), msg("C2", "1699999001.000000", "U2", &quoted)],
    );
    let plans = run_with(&fixture, options()).unwrap_or_else(|e| panic!("{e}"));
    let (_, ops) = channel_of(&plans, "C2");
    for ts in ["1699999000.000000", "1699999001.000000"] {
        let parts: Vec<&Operation> =
            ops.iter().filter(|o| o.source.as_ref().is_some_and(|s| s.ts.as_deref() == Some(ts))).collect();
        assert!(parts.len() >= 2, "{ts} split");
        let mut total_quotes = 0;
        for p in &parts {
            let body = serde_json::to_vec(post(p).1).unwrap_or_default();
            assert!(body.len() <= 28_000, "{} is {} bytes", p.id, body.len());
            check_balanced(&content(p));
            total_quotes += content(p).matches('"').count();
        }
        assert_eq!(total_quotes, 12_000, "{ts}: every quote carried once");
    }
}

#[test]
fn a_pilot_names_channels_as_the_full_run_does() {
    let mut opts = options();
    opts.channels = vec!["C4".into()];
    let plans = run_with(&Fixture::sample(), opts).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = containers(&plans)
        .iter()
        .filter(|(c, _)| c.kind == ContainerKind::TeamsChannel)
        .map(|(c, _)| c.display_name.as_str())
        .collect();
    // The team's General channel is always used and completed, even when #general is not
    // in the pilot (the team could not complete otherwise).
    assert_eq!(names, ["General", "ENG-backend-ops- (2)"]);
    assert_eq!(containers(&plans).len(), 3, "the workspace team, its General channel and the one channel");
}

/// The destination accounts added as owners of a team container.
fn owners_of(plans: &[ConversationPlan], team: &str) -> Vec<String> {
    let (_, ops) = containers(plans).into_iter().find(|(c, _)| c.id == team).expect("team container");
    ops.iter()
        .filter_map(|o| match &o.action {
            Action::TeamsAddMember { member } if member["roles"] == serde_json::json!(["owner"]) => {
                Some(member["user@odata.bind"].as_str().unwrap_or_default().to_owned())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn every_team_ends_with_an_owner_or_a_report_entry() {
    // Nobody is a Slack owner or admin and no --team-owner: the workspace team has no owner
    // (reported); each own team makes its first mapped member the owner (reported).
    let plans = run();
    assert!(owners_of(&plans, "workspace-team").is_empty());
    let entries = reports(&plans);
    assert!(entries.iter().any(|e| e.reason == "team_without_owner" && e.conversation.is_none()));
    let own_teams: Vec<String> = containers(&plans)
        .iter()
        .filter(|(c, _)| c.kind == ContainerKind::TeamsTeam && c.id != "workspace-team")
        .map(|(c, _)| c.id.clone())
        .collect();
    assert!(!own_teams.is_empty());
    for t in &own_teams {
        assert_eq!(owners_of(&plans, t).len(), 1, "{t}");
    }
    let assigned = entries.iter().filter(|e| e.reason == "owner_assigned").count();
    assert_eq!(assigned, own_teams.len());

    // Bob is a Slack admin; --team-owner names a destination account and an unmapped user.
    let mut fixture = Fixture::sample();
    fixture.users[1].extra.insert("is_admin".into(), serde_json::json!(true));
    let mut opts = options();
    opts.team_owners = vec!["it-admin@corp.example".into(), "U4".into(), "it-admin@corp.example".into()];
    let plans = run_with(&fixture, opts).expect("plan");
    let owners = owners_of(&plans, "workspace-team");
    assert_eq!(
        owners,
        [
            "https://graph.microsoft.com/v1.0/users('0000000a-0000-4000-8000-00000000a002')",
            "https://graph.microsoft.com/v1.0/users('it-admin@corp.example')"
        ]
    );
    let (_, ops) = containers(&plans).into_iter().find(|(c, _)| c.id == "workspace-team").expect("team");
    let ids: BTreeSet<&str> = ops.iter().map(|o| o.id.0.as_str()).collect();
    assert_eq!(ids.len(), ops.len(), "owner operation ids are unique");
    let entries = reports(&plans);
    assert!(!entries.iter().any(|e| e.reason == "team_without_owner"));
    let unmapped: Vec<&&ReportEntry> = entries.iter().filter(|e| e.reason == "owner_unmapped").collect();
    assert_eq!(unmapped.len(), 1, "{unmapped:?}");
    assert!(unmapped[0].detail.contains("U4"));
    // Own teams with Bob as a member make him their owner instead of the first member.
    for t in containers(&plans)
        .iter()
        .filter(|(c, _)| c.kind == ContainerKind::TeamsTeam && c.id != "workspace-team")
    {
        let owners = owners_of(&plans, &t.0.id);
        assert_eq!(owners.len(), 1, "{}", t.0.id);
    }
}

/// Plans `fixture` with a custom emoji folder written inside the canonical directory:
/// `party-parrot.gif` (small), `big.png` (over the inline limit), and an `index.json` that
/// also knows `url-only` (no file) and aliases `parrot-too` → `party-parrot`, `yes` → `+1`.
fn run_with_emoji(
    fixture: &Fixture,
    policy: chatport_transform::plan::custom_emoji::CustomEmojiPolicy,
    inside: bool,
) -> Result<Vec<ConversationPlan>, TransformError> {
    let dir = tempfile::tempdir().map_err(|e| TransformError::Options(e.to_string()))?;
    let elsewhere = tempfile::tempdir().map_err(|e| TransformError::Options(e.to_string()))?;
    fixture.write(dir.path());
    let emoji = if inside { dir.path().join("emoji") } else { elsewhere.path().join("emoji") };
    std::fs::create_dir_all(&emoji).ok();
    std::fs::write(emoji.join("party-parrot.gif"), b"GIF89a tiny").ok();
    std::fs::write(emoji.join("big.png"), [9u8; 4096]).ok();
    std::fs::write(emoji.join("notes.txt"), b"not an image").ok();
    std::fs::write(
        emoji.join("index.json"),
        r#"{"party-parrot":"https://emoji.example/p.gif","big":"https://emoji.example/b.png",
            "url-only":"https://emoji.example/u.png","parrot-too":"alias:party-parrot","yes":"alias:+1"}"#,
    )
    .ok();
    let mut opts = options();
    opts.custom_emoji = Some(emoji);
    opts.custom_emoji_policy = policy;
    let (ctx, convs, _) = load_context(dir.path(), opts, Some(mapping()))?;
    teams::plan(dir.path(), &ctx, &convs)
}

fn emoji_fixture() -> Fixture {
    let mut f = Fixture::sample();
    let text = "hi :party-parrot: :parrot-too: :big: :url-only: :yes: :nope:";
    f.messages.get_mut("C2").expect("C2").push(msg("C2", "1699999001.000000", "U1", text));
    f
}

#[test]
fn custom_emoji_images_are_inline_in_teams_by_policy() {
    use chatport_transform::plan::custom_emoji::CustomEmojiPolicy;
    let plans = run_with_emoji(&emoji_fixture(), CustomEmojiPolicy::Image, true).expect("plan");
    let (_, ops) = channel_of(&plans, "C2");
    let (_, message, hosted, _) = post(message_op(ops, "1699999001.000000"));
    let html = message["body"]["content"].as_str().unwrap_or_default();
    // One hosted image for party-parrot and its alias; big is over --max-inline-image-bytes,
    // url-only has no file: both text; the alias to a standard emoji is Unicode.
    assert_eq!(hosted.len(), 1, "{hosted:?}");
    assert_eq!(hosted[0].temporary_id, "1");
    assert_eq!(hosted[0].blob.path, "emoji/party-parrot.gif");
    assert_eq!(hosted[0].blob.content_type, "image/gif");
    assert_eq!(html.matches("<img src=\"../hostedContents/1/$value\"").count(), 2, "{html}");
    assert!(html.contains(":big:") && html.contains(":url-only:") && html.contains(":nope:"), "{html}");
    assert!(html.contains('👍'), "{html}");
    check_balanced(html);
    let entries = reports(&plans);
    let about = |reason: &str| {
        entries.iter().filter(|e| e.ts.as_deref() == Some("1699999001.000000") && e.reason == reason).count()
    };
    assert_eq!(about("custom_emoji_as_image"), 2);
    assert_eq!(about("custom_emoji_as_text"), 2, "big and url-only are known custom emoji kept as text");
    assert_eq!(about("unknown_emoji"), 1);

    // The text policy keeps every custom emoji as text.
    let plans = run_with_emoji(&emoji_fixture(), CustomEmojiPolicy::Text, false).expect("plan");
    let (_, ops) = channel_of(&plans, "C2");
    let (_, message, hosted, _) = post(message_op(ops, "1699999001.000000"));
    assert!(hosted.is_empty());
    assert!(message["body"]["content"].as_str().unwrap_or_default().contains(":party-parrot:"));
    let entries = reports(&plans);
    let as_text = entries
        .iter()
        .filter(|e| e.ts.as_deref() == Some("1699999001.000000") && e.reason == "custom_emoji_as_text")
        .count();
    assert_eq!(as_text, 4);

    // The image policy needs the folder inside the canonical directory.
    let err = run_with_emoji(&emoji_fixture(), CustomEmojiPolicy::Image, false).err().expect("an error");
    assert!(err.to_string().contains("inside the canonical directory"), "{err}");
}
