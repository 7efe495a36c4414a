//! Regression tests for the planner audit (issue 3 findings): each test builds a small
//! canonical directory record by record, runs a full `transform` into a plan directory and
//! checks the rule the audit found broken.

use chatport_model::plan::{Action, Actor, Destination, Operation, ReportEntry};
use chatport_model::{
    Conversation, ConversationKind, Counts, DataFile, FileRecord, FileState, Manifest, Membership, Message,
    MessageKind, Reaction, SlackTs, Source, Tool, User,
};
use chatport_transform::plan::{transform, DmPolicy, PlanOptions, PrivatePolicy};
use chatport_transform::users::{MappingRow, UserAction, UserKind};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

mod plan_support;
use plan_support::{conv, msg, reply, row, user};

/// "Now": 2023-11-14T22:20:00Z, after every fixture message.
const NOW: i64 = 1_700_000_400_000_000;
const GUID_ANA: &str = "11111111-1111-4111-8111-111111111111";
const GUID_BOB: &str = "22222222-2222-4222-8222-222222222222";
const GUID_FALLBACK: &str = "99999999-9999-4999-8999-999999999999";

fn file(id: &str, name: &str, mime: &str, content: &[u8]) -> (FileRecord, Vec<u8>) {
    let sha = chatport_model::jsonl::sha256_hex(content);
    let record = FileRecord {
        id: id.into(),
        name: Some(name.into()),
        title: None,
        mimetype: Some(mime.into()),
        size: Some(content.len() as u64),
        user: Some("U1".into()),
        created: None,
        state: FileState::Present,
        sha256: Some(sha.clone()),
        blob: Some(format!("blobs/{}/{sha}", &sha[..2])),
        url: None,
        first_seen: None,
        extra: Default::default(),
    };
    (record, content.to_vec())
}

/// A canonical directory under construction.
#[derive(Default)]
struct Fixture {
    users: Vec<User>,
    conversations: Vec<Conversation>,
    messages: BTreeMap<String, Vec<Message>>,
    files: Vec<(FileRecord, Vec<u8>)>,
}

fn line<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("fixture records serialise")
}

impl Fixture {
    fn new() -> Self {
        Fixture { users: vec![user("U1", "Ana"), user("U2", "Bob")], ..Default::default() }
    }

    fn add(&mut self, c: Conversation, msgs: Vec<Message>) {
        self.messages.insert(c.id.clone(), msgs);
        self.conversations.push(c);
    }

    fn write(&self, dir: &Path) {
        let jsonl = |rel: &str, lines: Vec<String>| {
            let path = dir.join(rel);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            let mut text = lines.join("\n");
            if !text.is_empty() {
                text.push('\n');
            }
            std::fs::write(path, text).expect("write");
        };
        jsonl("users.jsonl", self.users.iter().map(line).collect());
        let mut convs = self.conversations.clone();
        for c in &mut convs {
            let msgs = self.messages.get(&c.id).cloned().unwrap_or_default();
            c.message_count = msgs.len() as u64;
            jsonl(&c.messages_path, msgs.iter().map(line).collect());
        }
        jsonl("conversations.jsonl", convs.iter().map(line).collect());
        jsonl("files.jsonl", self.files.iter().map(|(f, _)| line(f)).collect());
        let mut data_files = Vec::new();
        for (f, bytes) in &self.files {
            let path = f.blob.clone().expect("present files have a blob");
            let p = dir.join(&path);
            std::fs::create_dir_all(p.parent().expect("a parent")).expect("mkdir");
            std::fs::write(&p, bytes).expect("write blob");
            data_files.push(DataFile {
                path,
                records: 1,
                bytes: bytes.len() as u64,
                sha256: f.sha256.clone().unwrap_or_default(),
            });
        }
        data_files.sort_by(|a, b| a.path.cmp(&b.path));
        data_files.dedup_by(|a, b| a.path == b.path);
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
        std::fs::write(dir.join("manifest.json"), serde_json::to_vec_pretty(&manifest).expect("json"))
            .expect("write manifest");
    }
}

/// A written plan directory, read back.
struct Plan {
    ops: Vec<Operation>,
    report: Vec<ReportEntry>,
    report_text: String,
    manifest: Value,
}

fn chat_options() -> PlanOptions {
    let mut o = PlanOptions::new(Destination::Chat, NOW);
    o.importer = Some("admin@example.com".into());
    o
}

fn teams_options() -> PlanOptions {
    let mut o = PlanOptions::new(Destination::Teams, NOW);
    o.team_name = "Acme".into();
    o.fallback_user = Some(GUID_FALLBACK.into());
    o
}

fn run(dir: &Path, fixture: &Fixture, opts: PlanOptions, mapping: Option<Vec<MappingRow>>) -> Plan {
    try_run(dir, fixture, opts, mapping).expect("transform succeeds")
}

fn try_run(
    dir: &Path,
    fixture: &Fixture,
    opts: PlanOptions,
    mapping: Option<Vec<MappingRow>>,
) -> Result<Plan, String> {
    let canonical = dir.join("canonical");
    if !canonical.exists() {
        fixture.write(&canonical);
    }
    let out = dir.join("plan");
    transform(&canonical, &out, opts, mapping).map_err(|e| e.to_string())?;
    let mut names: Vec<_> =
        std::fs::read_dir(out.join("ops")).expect("ops dir").map(|e| e.expect("entry").path()).collect();
    names.sort();
    let mut ops = Vec::new();
    for p in names {
        let text = std::fs::read_to_string(p).expect("ops file");
        ops.extend(text.lines().map(|l| serde_json::from_str::<Operation>(l).expect("operation")));
    }
    let report_text = std::fs::read_to_string(out.join("report.jsonl")).expect("report");
    let report = report_text.lines().map(|l| serde_json::from_str(l).expect("entry")).collect();
    let manifest =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).expect("manifest")).expect("json");
    Ok(Plan { ops, report, report_text, manifest })
}

fn reasons(plan: &Plan, reason: &str) -> Vec<ReportEntry> {
    plan.report.iter().filter(|e| e.reason == reason).cloned().collect()
}

// ---- 1. spilled report entries of skipped conversations -----------------------------
// Same-sized skipped conversations once shared one spill file (named after a container
// they do not have).

#[test]
fn skipped_dms_report_every_message_once_and_deterministically() {
    let mut fx = Fixture::new();
    fx.add(
        conv("D1", ConversationKind::Dm, None, &["U1", "U2"]),
        vec![msg("D1", "1700000001.000000", "U1", "a"), msg("D1", "1700000002.000000", "U2", "b")],
    );
    fx.add(
        conv("D2", ConversationKind::Dm, None, &["U1", "U2"]),
        vec![msg("D2", "1700000003.000000", "U1", "c"), msg("D2", "1700000004.000000", "U2", "d")],
    );
    fx.add(conv("C1", ConversationKind::PublicChannel, Some("general"), &["U1"]), vec![]);
    let mut texts = Vec::new();
    for _ in 0..4 {
        let tmp = tempfile::tempdir().expect("tmp");
        let mut o = chat_options();
        o.dm_policy = DmPolicy::Skip;
        let plan = run(tmp.path(), &fx, o, None);
        let dropped: Vec<(String, String)> = reasons(&plan, "dm_not_importable")
            .into_iter()
            .filter(|e| e.item == "message")
            .map(|e| (e.conversation.unwrap_or_default(), e.ts.unwrap_or_default()))
            .collect();
        let expected: Vec<(String, String)> = [
            ("D1", "1700000001.000000"),
            ("D1", "1700000002.000000"),
            ("D2", "1700000003.000000"),
            ("D2", "1700000004.000000"),
        ]
        .iter()
        .map(|(c, t)| ((*c).to_owned(), (*t).to_owned()))
        .collect();
        assert_eq!(dropped, expected, "each message of each skipped DM reported exactly once");
        assert_eq!(plan.manifest["counts"]["messages_dropped"], 4);
        assert_eq!(plan.manifest["counts"]["report_entries"].as_u64(), Some(plan.report.len() as u64));
        assert!(!tmp.path().join("plan/.report-parts").exists());
        texts.push(plan.report_text);
    }
    assert!(texts.windows(2).all(|w| w[0] == w[1]), "report.jsonl is byte-identical across runs");
}

#[test]
fn skipped_private_conversations_in_teams_keep_their_own_entries() {
    let mut fx = Fixture::new();
    fx.add(
        conv("C1", ConversationKind::PublicChannel, Some("general"), &["U1"]),
        vec![msg("C1", "1700000000.000000", "U1", "hi")],
    );
    fx.add(
        conv("G1", ConversationKind::GroupDm, None, &["U1", "U2"]),
        vec![msg("G1", "1700000001.000000", "U1", "g1"), msg("G1", "1700000001.500000", "U1", "g2")],
    );
    fx.add(
        conv("D1", ConversationKind::Dm, None, &["U1", "U2"]),
        vec![msg("D1", "1700000002.000000", "U2", "d1"), msg("D1", "1700000003.000000", "U2", "d2")],
    );
    let mapping =
        vec![row("U1", "Ana", GUID_ANA, UserAction::Author), row("U2", "Bob", GUID_BOB, UserAction::Author)];
    let mut first = None;
    for _ in 0..3 {
        let tmp = tempfile::tempdir().expect("tmp");
        let mut o = teams_options();
        o.private_policy = PrivatePolicy::Skip;
        let plan = run(tmp.path(), &fx, o, Some(mapping.clone()));
        let mut per_conv: BTreeMap<String, usize> = BTreeMap::new();
        for e in reasons(&plan, "private_skipped").into_iter().filter(|e| e.item == "message") {
            *per_conv.entry(e.conversation.unwrap_or_default()).or_default() += 1;
        }
        assert_eq!(per_conv, BTreeMap::from([("D1".to_owned(), 2), ("G1".to_owned(), 2)]));
        let text = plan.report_text;
        assert_eq!(first.get_or_insert_with(|| text.clone()), &text, "deterministic");
    }
}

// ---- 2. Chat message size counted on the JSON request -------------------------------

fn chat_messages(plan: &Plan) -> Vec<(String, Value, usize)> {
    plan.ops
        .iter()
        .filter_map(|o| match &o.action {
            Action::ChatCreateMessage { message_id, message, attachments, .. } => {
                Some((message_id.clone(), message.clone(), attachments.len()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn chat_parts_fit_the_limit_once_json_escaped() {
    // 26,000 bytes of text that about doubles when JSON-escaped (quotes, backslashes, tabs).
    let text = "say \"hi\"\t\\o/ ".repeat(2_000);
    assert!(text.len() < 30_000);
    let mut fx = Fixture::new();
    let mut with_file = msg("C1", "1700000002.000000", "U1", &text);
    with_file.files = vec!["F1".into()];
    fx.files.push(file("F1", "notes.txt", "text/plain", b"some notes"));
    fx.add(
        conv("C1", ConversationKind::PublicChannel, Some("general"), &["U1"]),
        vec![msg("C1", "1700000001.000000", "U1", &text), with_file],
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let plan = run(tmp.path(), &fx, chat_options(), None);
    let msgs = chat_messages(&plan);
    assert!(msgs.len() >= 4, "both messages are split: {}", msgs.len());
    for (id, m, attachments) in &msgs {
        let size = serde_json::to_vec(m).expect("json").len() + 1_500 * attachments;
        assert!(size <= 32_000, "{id}: {size} bytes with its attachment references");
    }
    let carried: String = msgs.iter().map(|(_, m, _)| m["text"].as_str().unwrap_or_default()).collect();
    assert_eq!(carried.matches("\\o/").count(), 4_000, "no text lost");
    assert_eq!(reasons(&plan, "split").len(), 2);
}

// ---- 3. Chat blocked file types and names without an extension ---------------------

#[test]
fn chat_blocked_files_become_notes_and_extensionless_names_get_one() {
    let mut fx = Fixture::new();
    let mut m = msg("C1", "1700000001.000000", "U1", "installer and build file");
    m.files = vec!["F1".into(), "F2".into(), "F3".into()];
    fx.files.push(file("F1", "setup.EXE", "application/octet-stream", b"MZ"));
    fx.files.push(file("F2", "Makefile", "text/plain", b"all:\n"));
    fx.files.push(file("F3", "report.pdf", "application/pdf", b"%PDF"));
    fx.add(conv("C1", ConversationKind::PublicChannel, Some("general"), &["U1"]), vec![m]);
    let tmp = tempfile::tempdir().expect("tmp");
    let plan = run(tmp.path(), &fx, chat_options(), None);
    let uploads: Vec<String> = plan
        .ops
        .iter()
        .filter_map(|o| match &o.action {
            Action::ChatUploadAttachment { blob } => Some(blob.filename.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(uploads, ["Makefile.txt", "report.pdf"]);
    let msgs = chat_messages(&plan);
    assert_eq!(msgs.len(), 1, "the message is carried");
    assert_eq!(msgs[0].2, 2, "with the two uploads");
    let text = msgs[0].1["text"].as_str().unwrap_or_default();
    assert!(text.contains("installer and build file") && text.contains("setup.EXE"), "{text}");
    let blocked = reasons(&plan, "file_not_carried");
    assert_eq!(blocked.len(), 1);
    assert!(blocked[0].detail.contains("F1") && blocked[0].detail.contains("blocks"), "{:?}", blocked[0]);
    let renamed = reasons(&plan, "file_renamed");
    assert_eq!(renamed.len(), 1);
    assert!(renamed[0].detail.contains("Makefile.txt"));
}

// ---- 13. Chat: a file id without a file record is noted and reported ----------------

#[test]
fn chat_reports_a_file_without_a_record() {
    let mut fx = Fixture::new();
    let mut m = msg("C1", "1700000001.000000", "U1", "see attached");
    m.files = vec!["FGONE".into()];
    fx.add(conv("C1", ConversationKind::PublicChannel, Some("general"), &["U1"]), vec![m]);
    let tmp = tempfile::tempdir().expect("tmp");
    let plan = run(tmp.path(), &fx, chat_options(), None);
    let missing = reasons(&plan, "file_not_carried");
    assert_eq!(missing.len(), 1);
    assert!(missing[0].detail.contains("FGONE"));
    let msgs = chat_messages(&plan);
    assert!(msgs[0].1["text"].as_str().unwrap_or_default().contains("[file not carried: FGONE"));
}

// ---- 4, 16. One Chat membership per user, covering their assigned times ------------

fn memberships(plan: &Plan) -> Vec<(String, String, String)> {
    plan.ops
        .iter()
        .filter_map(|o| match &o.action {
            Action::ChatCreateMembership { membership } => Some((
                membership["member"]["name"].as_str().unwrap_or_default().to_owned(),
                membership["createTime"].as_str().unwrap_or_default().to_owned(),
                membership["deleteTime"].as_str().unwrap_or_default().to_owned(),
            )),
            _ => None,
        })
        .collect()
}

fn interval(user: &str, joined: Option<&str>, left: Option<&str>) -> Membership {
    Membership { user: user.into(), joined: joined.map(SlackTs::new), left: left.map(SlackTs::new) }
}

#[test]
fn chat_merges_intervals_into_one_membership_per_user() {
    let mut fx = Fixture::new();
    fx.users.push(user("U3", "Cy"));
    let mut c = conv("C1", ConversationKind::PublicChannel, Some("general"), &["U1"]);
    // Bob joined and left twice, posting in between and after; Cy left and came back.
    c.memberships = vec![
        interval("U2", Some("1700000010.000000"), Some("1700000020.000000")),
        interval("U2", Some("1700000030.000000"), Some("1700000040.000000")),
        interval("U3", Some("1700000010.000000"), Some("1700000020.000000")),
        interval("U3", Some("1700000030.000000"), None),
    ];
    fx.add(
        c,
        vec![
            msg("C1", "1700000015.000000", "U2", "first stint"),
            msg("C1", "1700000035.000000", "U2", "second stint"),
            msg("C1", "1700000050.000000", "U2", "after leaving"),
            msg("C1", "1700000015.000000", "U3", "cy"),
        ],
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let plan = run(tmp.path(), &fx, chat_options(), None);
    let ms = memberships(&plan);
    assert_eq!(ms.len(), 1, "one historical membership for Bob, none for the current member Cy: {ms:?}");
    let (name, start, end) = &ms[0];
    assert_eq!(name, "users/bob@example.com");
    // Bob's first join, clamped to just after the space (a second before the first message).
    assert_eq!(start, "2023-11-14T22:13:34.000001Z");
    assert!(end.as_str() > "2023-11-14T22:14:10.000000Z", "covers the message after leaving: {end}");
    let ids: Vec<&str> = plan
        .ops
        .iter()
        .filter(|o| matches!(o.action, Action::ChatCreateMembership { .. }))
        .map(|o| o.id.0.as_str())
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(reasons(&plan, "membership_merged").len(), 1);
    assert_eq!(reasons(&plan, "synthetic_membership").len(), 1);
    assert_eq!(reasons(&plan, "membership_history_folded").len(), 1);
    let adds = plan.ops.iter().filter(|o| matches!(o.action, Action::ChatAddMember { .. })).count();
    assert_eq!(adds, 2, "Ana and Cy are added after completion");
}

#[test]
fn chat_membership_covers_assigned_times_of_clamped_and_split_messages() {
    let mut fx = Fixture::new();
    let mut c = conv("C1", ConversationKind::PublicChannel, Some("general"), &["U1"]);
    c.memberships = vec![interval("U2", Some("1700000010.000000"), Some("1700000020.000000"))];
    // Bob's last message is long (split into parts that take later µs), and one of his
    // messages is dated after "now" (clamped).
    let long = "word ".repeat(20_000);
    fx.add(
        c,
        vec![
            msg("C1", "1700000019.999999", "U2", &long),
            msg("C1", "1800000000.000000", "U2", "from the future"),
        ],
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let plan = run(tmp.path(), &fx, chat_options(), None);
    let ms = memberships(&plan);
    assert_eq!(ms.len(), 1);
    let times: Vec<String> = chat_messages(&plan)
        .iter()
        .map(|(_, m, _)| m["createTime"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(times.len() >= 4);
    for t in &times {
        assert!(&ms[0].1 <= t && t < &ms[0].2, "{t} inside [{}, {})", ms[0].1, ms[0].2);
    }
    let latest = chatport_model::ts::format_rfc3339(NOW, 6);
    assert!(ms[0].2 <= latest, "deleteTime not in the future");
}

// ---- 5. Teams authors need AAD object ids ------------------------------------------

fn teams_posts(plan: &Plan) -> Vec<(Actor, Value)> {
    plan.ops
        .iter()
        .filter_map(|o| match &o.action {
            Action::TeamsPostMessage { message, .. } => Some((o.actor.clone(), message.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn teams_targets_that_are_not_object_ids_post_as_the_fallback() {
    let mut fx = Fixture::new();
    fx.add(
        conv("C1", ConversationKind::PublicChannel, Some("general"), &["U1", "U2"]),
        vec![
            msg("C1", "1700000001.000000", "U1", "from ana"),
            msg("C1", "1700000002.000000", "U2", "from bob"),
        ],
    );
    // Ana has an object id; Bob only an e-mail (the template's default).
    let mapping = vec![
        row("U1", "Ana", GUID_ANA, UserAction::Author),
        row("U2", "Bob", "bob@example.com", UserAction::Author),
    ];
    let tmp = tempfile::tempdir().expect("tmp");
    let plan = run(tmp.path(), &fx, teams_options(), Some(mapping.clone()));
    let posts = teams_posts(&plan);
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].1["from"]["user"]["id"], GUID_ANA);
    assert_eq!(posts[1].0, Actor::App);
    assert_eq!(posts[1].1["from"]["user"]["id"], GUID_FALLBACK);
    let body = posts[1].1["body"]["content"].as_str().unwrap_or_default();
    assert!(body.contains("<b>Bob:</b>") && body.contains("from bob"), "{body}");
    let noted = reasons(&plan, "author_not_aad_object_id");
    assert_eq!(noted.len(), 1, "once per user");
    assert_eq!(noted[0].item, "user");
    assert!(noted[0].detail.starts_with("U2 ") && noted[0].detail.contains("bob@example.com"));
    // Every from.user.id in the plan is a GUID.
    assert!(posts.iter().all(|(_, m)| chatport_transform::plan::rules::is_guid(
        m["from"]["user"]["id"].as_str().unwrap_or_default()
    )));

    // The fallback account itself must be an object id.
    let tmp = tempfile::tempdir().expect("tmp");
    let mut o = teams_options();
    o.fallback_user = Some("importer@example.com".into());
    let err = try_run(tmp.path(), &fx, o, Some(mapping)).err().unwrap_or_default();
    assert!(err.contains("--fallback-user") && err.contains("object id"), "{err}");
}

// ---- 6. The workspace team's General channel is always completed -------------------

#[test]
fn teams_general_channel_is_completed_even_without_general() {
    let mapping = vec![row("U1", "Ana", GUID_ANA, UserAction::Author)];
    let mut fx = Fixture::new();
    fx.add(
        conv("C2", ConversationKind::PublicChannel, Some("random"), &["U1"]),
        vec![msg("C2", "1700000001.000000", "U1", "hi")],
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let plan = run(tmp.path(), &fx, teams_options(), Some(mapping.clone()));
    let general: Vec<(&str, &str)> = plan
        .ops
        .iter()
        .filter(|o| o.container == "workspace-team-general")
        .map(|o| (o.id.0.as_str(), o.action.name()))
        .collect();
    assert_eq!(
        general,
        [
            ("workspace-team-general/general", "teams_use_general_channel"),
            ("workspace-team-general/complete", "teams_complete_channel")
        ]
    );
    let containers = std::fs::read_to_string(tmp.path().join("plan/containers.jsonl")).expect("containers");
    let first_two: Vec<Value> =
        containers.lines().take(2).map(|l| serde_json::from_str(l).expect("container")).collect();
    assert_eq!(first_two[0]["id"], "workspace-team");
    assert_eq!(first_two[1]["id"], "workspace-team-general");
    assert_eq!(first_two[1]["parent"], "workspace-team");
    assert_eq!(first_two[1]["display_name"], "General");

    // With #general selected, its channel is the General channel: no extra container.
    fx.add(
        conv("C1", ConversationKind::PublicChannel, Some("general"), &["U1"]),
        vec![msg("C1", "1700000002.000000", "U1", "hello")],
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let plan = run(tmp.path(), &fx, teams_options(), Some(mapping));
    assert!(plan.ops.iter().all(|o| o.container != "workspace-team-general"));
    let uses = plan.ops.iter().filter(|o| matches!(o.action, Action::TeamsUseGeneralChannel)).count();
    assert_eq!(uses, 1);
}

// ---- 7, 17. Guests and users outside the Workspace domains --------------------------

fn adds(plan: &Plan) -> Vec<String> {
    plan.ops
        .iter()
        .filter_map(|o| match &o.action {
            Action::ChatAddMember { membership } => {
                Some(membership["member"]["name"].as_str().unwrap_or_default().to_owned())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn chat_guests_and_foreign_domains_post_as_the_app_and_join_after_completion() {
    let mut fx = Fixture::new();
    // Bob is a guest from a partner; Cy a member whose address is on another domain.
    fx.users[1].restricted = true;
    fx.users[1].email = Some("bob@partner.example".into());
    let mut cy = user("U3", "Cy");
    cy.email = Some("cy@other.example".into());
    fx.users.push(cy);
    let mut c = conv("C1", ConversationKind::PublicChannel, Some("general"), &["U1", "U2", "U3"]);
    c.memberships = vec![interval("U3", Some("1700000001.000000"), Some("1700000009.000000"))];
    fx.add(
        c,
        vec![
            msg("C1", "1700000002.000000", "U1", "ana"),
            msg("C1", "1700000003.000000", "U2", "bob"),
            msg("C1", "1700000004.000000", "U3", "cy"),
        ],
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let plan = run(tmp.path(), &fx, chat_options(), None);
    let Action::ChatCreateSpace { space, .. } = &plan.ops[0].action else { panic!("space first") };
    assert_eq!(space["externalUserAllowed"], true);
    let actors: Vec<Actor> = plan
        .ops
        .iter()
        .filter(|o| matches!(o.action, Action::ChatCreateMessage { .. }))
        .map(|o| o.actor.clone())
        .collect();
    assert_eq!(actors, [Actor::User { id: "ana@example.com".into() }, Actor::App, Actor::App]);
    assert!(memberships(&plan).is_empty(), "no historical membership for people outside the domain");
    assert_eq!(adds(&plan), ["users/ana@example.com", "users/bob@partner.example", "users/cy@other.example"]);
    let as_app: Vec<String> = reasons(&plan, "user_as_app").into_iter().map(|e| e.detail).collect();
    assert!(as_app.iter().any(|d| d.starts_with("U2 ") && d.contains("external")), "{as_app:?}");
    assert!(as_app.iter().any(|d| d.starts_with("U3 ") && d.contains("external")), "{as_app:?}");

    // `--domain other.example` brings Cy into the Workspace; a mapping that skips Bob keeps
    // him out of the space (item 17).
    let tmp = tempfile::tempdir().expect("tmp");
    let mut o = chat_options();
    o.domains = vec!["other.example".into()];
    let mut bob = row("U2", "Bob", "bob@partner.example", UserAction::Skip);
    bob.kind = UserKind::Guest;
    let mapping = vec![
        row("U1", "Ana", "ana@example.com", UserAction::Author),
        bob,
        row("U3", "Cy", "cy@other.example", UserAction::Author),
    ];
    let plan = run(tmp.path(), &fx, o, Some(mapping));
    let Action::ChatCreateSpace { space, .. } = &plan.ops[0].action else { panic!("space first") };
    assert_eq!(space["externalUserAllowed"], false);
    assert_eq!(adds(&plan), ["users/ana@example.com", "users/cy@other.example"]);
}

// ---- 9. GROUP_CHAT has no threads: replies are flattened ---------------------------

#[test]
fn chat_group_chat_replies_are_flattened_without_thread_options() {
    let mut fx = Fixture::new();
    let root = "1700000001.000000";
    let mut first = msg("G1", root, "U1", "Lunch at *noon*?\nOr later");
    first.thread_ts = Some(SlackTs::new(root));
    let long = "word ".repeat(8_000);
    fx.add(
        conv("G1", ConversationKind::GroupDm, None, &["U1", "U2"]),
        vec![
            first,
            reply("G1", "1700000002.000000", root, "U2", "noon works"),
            msg("G1", "1700000003.000000", "U1", &long),
        ],
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let plan = run(tmp.path(), &fx, chat_options(), None);
    let creates: Vec<(Option<String>, Value)> = plan
        .ops
        .iter()
        .filter_map(|o| match &o.action {
            Action::ChatCreateMessage { reply_option, message, .. } => {
                Some((reply_option.clone(), message.clone()))
            }
            _ => None,
        })
        .collect();
    assert!(creates.len() >= 4, "the long message is split too");
    for (opt, m) in &creates {
        assert_eq!(opt, &None, "no messageReplyOption in a GROUP_CHAT");
        assert!(m.get("thread").is_none(), "no threadKey in a GROUP_CHAT: {m}");
    }
    let text = creates[1].1["text"].as_str().unwrap_or_default();
    assert!(text.starts_with("_↪ reply to Ana: “Lunch at noon? Or later”_\n"), "{text}");
    assert!(text.ends_with("noon works"));
    let flattened = reasons(&plan, "thread_flattened");
    assert_eq!(flattened.len(), 1);
    assert_eq!(flattened[0].ts.as_deref(), Some("1700000002.000000"));
}

/// Pass 2 streams one message at a time, so a flattened reply's quote of its root is kept
/// per thread root: a reply dated before its root (its root is read ahead) and a reply whose
/// root is absent still get the right line, both for a file in time order (streamed) and
/// one out of order (read whole and sorted).
#[test]
fn chat_group_chat_quotes_roots_dated_after_their_reply() {
    let root = "1700000005.000000";
    let mut later_root = msg("G1", root, "U1", "The plan for Friday");
    later_root.thread_ts = Some(SlackTs::new(root));
    let early = reply("G1", "1700000002.000000", root, "U2", "agreed");
    let absent = reply("G1", "1700000003.000000", "1600000000.000000", "U2", "and this");
    let in_order = vec![early.clone(), absent.clone(), later_root.clone()];
    let out_of_order = vec![later_root, absent, early];
    let mut texts = Vec::new();
    for msgs in [in_order, out_of_order] {
        let mut fx = Fixture::new();
        fx.add(conv("G1", ConversationKind::GroupDm, None, &["U1", "U2"]), msgs);
        let tmp = tempfile::tempdir().expect("tmp");
        let plan = run(tmp.path(), &fx, chat_options(), None);
        let by_ts: BTreeMap<String, String> = plan
            .ops
            .iter()
            .filter_map(|o| match &o.action {
                Action::ChatCreateMessage { message, .. } => Some((
                    o.source.as_ref().and_then(|s| s.ts.clone()).unwrap_or_default(),
                    message["text"].as_str().unwrap_or_default().to_owned(),
                )),
                _ => None,
            })
            .collect();
        let text = &by_ts["1700000002.000000"];
        assert!(text.starts_with("_↪ reply to Ana: “The plan for Friday”_\n"), "{text}");
        let text = &by_ts["1700000003.000000"];
        assert!(text.starts_with("_↪ reply to a message that is not carried_\n"), "{text}");
        assert_eq!(reasons(&plan, "thread_flattened").len(), 2);
        texts.push(by_ts);
    }
    assert_eq!(texts[0], texts[1], "streamed and sorted-in-memory planning agree");
}

// ---- 14. Chat reports replies whose root is dropped --------------------------------

#[test]
fn chat_reports_replies_whose_root_is_dropped() {
    let mut fx = Fixture::new();
    let root = "1700000001.000000";
    let mut deleted = msg("C1", root, "U2", "");
    deleted.kind = MessageKind::System;
    deleted.subtype = Some("channel_topic".into());
    deleted.thread_ts = Some(SlackTs::new(root));
    fx.add(
        conv("C1", ConversationKind::PublicChannel, Some("general"), &["U1"]),
        vec![
            deleted,
            reply("C1", "1700000002.000000", root, "U1", "answer to a dropped root"),
            reply("C1", "1700000003.000000", "1690000000.000000", "U1", "answer to a missing root"),
        ],
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let plan = run(tmp.path(), &fx, chat_options(), None);
    let orphans: Vec<(String, String)> =
        reasons(&plan, "orphan_reply").into_iter().map(|e| (e.ts.unwrap_or_default(), e.detail)).collect();
    assert_eq!(orphans.len(), 2, "{orphans:?}");
    assert_eq!(orphans[0].0, "1700000002.000000");
    assert!(orphans[0].1.contains("not carried"));
    assert!(orphans[1].1.contains("not in the export"));
}

// ---- 11. Chat reactions de-duplicated after Unicode conversion ----------------------

#[test]
fn chat_reactions_that_are_the_same_emoji_are_carried_once() {
    let mut fx = Fixture::new();
    let mut m = msg("C1", "1700000001.000000", "U1", "ship it");
    m.reactions = vec![
        Reaction { name: "+1".into(), users: vec!["U1".into(), "U2".into()], count: Some(2) },
        Reaction { name: "thumbsup".into(), users: vec!["U1".into()], count: Some(1) },
    ];
    fx.add(conv("C1", ConversationKind::PublicChannel, Some("general"), &["U1", "U2"]), vec![m]);
    let tmp = tempfile::tempdir().expect("tmp");
    let plan = run(tmp.path(), &fx, chat_options(), None);
    let reactions: Vec<(Actor, String)> = plan
        .ops
        .iter()
        .filter_map(|o| match &o.action {
            Action::ChatCreateReaction { emoji, .. } => {
                Some((o.actor.clone(), emoji["unicode"].as_str().unwrap_or_default().to_owned()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        reactions,
        [
            (Actor::User { id: "ana@example.com".into() }, "👍".to_owned()),
            (Actor::User { id: "bob@example.com".into() }, "👍".to_owned())
        ]
    );
    let merged = reasons(&plan, "reaction_merged");
    assert_eq!(merged.len(), 1);
    assert!(merged[0].detail.contains(":thumbsup:"));
}

// ---- 12. Container times do not depend on the filters ------------------------------

fn create_times(plan: &Plan) -> BTreeMap<String, String> {
    plan.ops
        .iter()
        .filter_map(|o| match &o.action {
            Action::ChatCreateSpace { space, .. } => Some((o.container.clone(), space["createTime"].clone())),
            Action::TeamsCreateTeam { team } => Some((o.container.clone(), team["createdDateTime"].clone())),
            Action::TeamsCreateChannel { channel } => {
                Some((o.container.clone(), channel["createdDateTime"].clone()))
            }
            _ => None,
        })
        .map(|(c, t)| (c, t.as_str().unwrap_or_default().to_owned()))
        .collect()
}

#[test]
fn pilot_runs_create_containers_at_the_full_runs_times() {
    let mut fx = Fixture::new();
    let mut general = conv("C1", ConversationKind::PublicChannel, Some("general"), &["U1"]);
    general.created = Some(1_600_000_000);
    let mut random = conv("C2", ConversationKind::PublicChannel, Some("random"), &["U1"]);
    random.created = None; // dated by its first message only
    fx.add(
        general,
        vec![msg("C1", "1600000100.000000", "U1", "old"), msg("C1", "1700000100.000000", "U1", "new")],
    );
    fx.add(
        random,
        vec![msg("C2", "1650000100.000000", "U1", "old"), msg("C2", "1700000200.000000", "U1", "new")],
    );
    let mapping = vec![row("U1", "Ana", GUID_ANA, UserAction::Author)];
    for (opts, mapping) in [(chat_options(), None), (teams_options(), Some(mapping))] {
        let tmp = tempfile::tempdir().expect("tmp");
        let full = create_times(&run(tmp.path(), &fx, opts.clone(), mapping.clone()));
        let mut pilot_opts = opts;
        pilot_opts.channels = vec!["random".into()];
        pilot_opts.since = Some(1_690_000_000_000_000);
        std::fs::remove_dir_all(tmp.path().join("plan")).expect("rm");
        let pilot = create_times(&run(tmp.path(), &fx, pilot_opts, mapping));
        assert!(!pilot.is_empty());
        for (container, time) in &pilot {
            assert_eq!(Some(time), full.get(container), "{container}: pilot and full run agree");
        }
    }
}

// ---- 15. Report texts: membership events per destination, guidelines, archive, pins --

#[test]
fn report_texts_fit_the_destination_and_nothing_is_cut_silently() {
    let mut fx = Fixture::new();
    let mut c = conv("C1", ConversationKind::PublicChannel, Some("general"), &["U1"]);
    c.archived = true;
    c.topic = Some(chatport_model::TopicText { value: "t".repeat(6_000), creator: None, last_set: None });
    let mut join = msg("C1", "1700000001.000000", "U1", "<@U1> has joined the channel");
    join.kind = MessageKind::System;
    join.subtype = Some("channel_join".into());
    let mut pinned = msg("C1", "1700000002.000000", "U1", "important");
    pinned.extra.insert("pinned_to".into(), serde_json::json!(["C1"]));
    fx.add(c, vec![join, pinned]);
    let mapping = vec![row("U1", "Ana", GUID_ANA, UserAction::Author)];
    let tmp = tempfile::tempdir().expect("tmp");
    let chat = run(tmp.path(), &fx, chat_options(), None);
    let tmp = tempfile::tempdir().expect("tmp");
    let teams = run(tmp.path(), &fx, teams_options(), Some(mapping));
    assert!(reasons(&chat, "membership_event")[0].detail.contains("membership interval"));
    assert!(reasons(&teams, "membership_event")[0].detail.contains("cannot import membership history"));
    assert_eq!(reasons(&chat, "guidelines_truncated").len(), 1);
    assert_eq!(reasons(&chat, "archived_not_carried").len(), 1);
    for plan in [&chat, &teams] {
        let pins = reasons(plan, "pin_not_carried");
        assert_eq!(pins.len(), 1);
        assert_eq!(pins[0].ts.as_deref(), Some("1700000002.000000"));
    }
}

// ---- 10. Name prefix and suffix for org-wide unique names ---------------------------

#[test]
fn name_prefix_and_suffix_apply_to_spaces_and_teams() {
    let mut fx = Fixture::new();
    let long = "x".repeat(200);
    fx.add(
        conv("C1", ConversationKind::PublicChannel, Some("general"), &["U1"]),
        vec![msg("C1", "1700000001.000000", "U1", "hi")],
    );
    fx.add(
        conv("C2", ConversationKind::PublicChannel, Some(&long), &["U1"]),
        vec![msg("C2", "1700000002.000000", "U1", "hi")],
    );
    fx.add(
        conv("G1", ConversationKind::PrivateChannel, Some("secret"), &["U1"]),
        vec![msg("G1", "1700000003.000000", "U1", "hi")],
    );
    let affix = |mut o: PlanOptions| {
        o.name_prefix = "Slack: ".into();
        o.name_suffix = " (old)".into();
        o
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let chat = run(tmp.path(), &fx, affix(chat_options()), None);
    let names: Vec<String> = chat
        .ops
        .iter()
        .filter_map(|o| match &o.action {
            Action::ChatCreateSpace { space, .. } => {
                Some(space["displayName"].as_str().unwrap_or_default().to_owned())
            }
            _ => None,
        })
        .collect();
    assert_eq!(names[0], "Slack: general (old)");
    assert!(names[1].starts_with("Slack: xxx") && names[1].ends_with(" (old)"));
    assert_eq!(names[1].chars().count(), 128, "within the limit with the affixes");
    let tmp = tempfile::tempdir().expect("tmp");
    let mapping = vec![row("U1", "Ana", GUID_ANA, UserAction::Author)];
    let teams = run(tmp.path(), &fx, affix(teams_options()), Some(mapping));
    let mut teams_names: Vec<String> = teams
        .ops
        .iter()
        .filter_map(|o| match &o.action {
            Action::TeamsCreateTeam { team } => {
                Some(team["displayName"].as_str().unwrap_or_default().to_owned())
            }
            _ => None,
        })
        .collect();
    teams_names.sort();
    assert_eq!(teams_names, ["Slack: Acme (old)", "Slack: secret (old)"]);
}
