//! `verify`: reads each destination container back and diffs it against the plan —
//! messages (by client id on Chat, by `createdDateTime` on Teams) with their thread and
//! create time, text and attachments; Chat reactions; memberships — then writes
//! `verify.json` and one CSV per container that has missing, extra or different items.
//! Reads only; never changes the destination or the state store.
//!
//! What can be read back depends on the container's [`Phase`], which verify takes from
//! the destination (Chat `importMode`, Teams channel `migrationMode`; a team, which has
//! none, from the completion `complete` recorded in the state store):
//! - import/migration mode: Chat historical memberships as the set of (user, createTime,
//!   deleteTime), and no current member; Chat reactions as counts per emoji per message
//!   (`reactions.list` is not available in import mode);
//! - completed: the planned current members (Chat memberships, Teams team members) and
//!   Chat reactions as the set of (message, user, emoji), read with
//!   [`SCOPE_REACTIONS_READ`]. Chat no longer lists historical memberships then.
//!
//! Chat lists users by id only; plan users (e-mail) are tied to ids through what the
//! destination answered: senders of matched messages and the memberships and reactions
//! the loader stored. What a phase cannot check is listed in `unchecked`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chatport_model::plan::{Action, Actor, ContainerKind, Destination};
use chatport_model::ts::parse_rfc3339;
use serde::Serialize;
use serde_json::Value;

use crate::error::LoadError;
use crate::exec::{OpError, Run};
use crate::http::{As, Ctx, Dest};
use crate::limits::Bucket;
use crate::options::VerifyOptions;
use crate::plan_dir::PlannedContainer;
use crate::state::OpStatus;

/// What kind of difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    /// In the plan, not at the destination.
    Missing,
    /// At the destination, not in the plan.
    Extra,
    /// At both, not the same.
    Different,
}

/// Where a container stands, as verify judges it from the destination (Chat: the
/// space's `importMode`; Teams: the channel's `migrationMode`), falling back to what
/// `complete` recorded in the state store when the destination does not say (a Teams
/// team has no migration mode of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Import / migration mode: historical memberships are checked, current members are
    /// not expected yet.
    Import,
    /// Completed: the planned current members are checked (and, on Chat, reactions per
    /// user).
    Completed,
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// Missing, extra or different.
    pub kind: DiffKind,
    /// `container`, `message`, `reaction`, `membership` (historical), `member` (current),
    /// `attachment`.
    pub item: String,
    /// The plan operation, when there is one.
    pub operation: Option<String>,
    /// The destination resource, when there is one.
    pub destination: Option<String>,
    /// What differs.
    pub detail: String,
}

/// The verification of one container.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerVerify {
    /// Container id.
    pub container: String,
    /// Destination name (space, channel or team id) when created.
    pub destination: Option<String>,
    /// Import/migration mode or completed, when the container could be read.
    pub phase: Option<Phase>,
    /// Messages expected by the plan.
    pub expected_messages: u64,
    /// Messages found.
    pub found_messages: u64,
    /// Differences.
    pub differences: Vec<Difference>,
    /// What this phase does not let verify read back, and why.
    pub unchecked: Vec<String>,
    /// True when there are no differences.
    pub clean: bool,
}

/// The result of `verify`.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// Destination of the plan.
    pub destination: String,
    /// Per container, in plan order.
    pub containers: Vec<ContainerVerify>,
    /// True when every container is clean.
    pub clean: bool,
    /// Files written (verify.json and CSVs).
    pub files: Vec<PathBuf>,
}

impl VerifyReport {
    /// Whether this container verified clean.
    pub fn is_clean(&self, container: &str) -> bool {
        self.containers.iter().any(|c| c.container == container && c.clean)
    }

    /// Whether this container is clean but for planned current members not added yet —
    /// the state `complete` leaves when it stopped between completing a container and
    /// adding its members (which it may then finish).
    pub fn is_clean_but_members(&self, container: &str) -> bool {
        self.containers.iter().any(|c| {
            c.container == container
                && c.differences.iter().all(|d| d.kind == DiffKind::Missing && d.item == "member")
        })
    }
}

/// Verifies a loaded plan (see the module docs).
pub async fn verify(
    plan_dir: &Path,
    state_db: &Path,
    opts: &VerifyOptions,
) -> Result<VerifyReport, LoadError> {
    let run = Run::open(plan_dir, None, state_db, &opts.client)?;
    run.preflight().await?;
    verify_with(&run, &opts.out_dir).await
}

/// Verifies with an open run and writes the report files into `out_dir`.
pub async fn verify_with(run: &Run, out_dir: &Path) -> Result<VerifyReport, LoadError> {
    let mut containers = Vec::new();
    for c in &run.plan.containers {
        let v = match run.plan.manifest.destination {
            Destination::Chat => verify_space(run, c).await,
            Destination::Teams => match c.container.kind {
                ContainerKind::TeamsTeam => verify_team(run, c).await,
                _ => verify_channel(run, c).await,
            },
        };
        let mut v = match v {
            Ok(v) => v,
            Err(OpError::Fatal(e)) => {
                return Err(
                    std::sync::Arc::try_unwrap(e).unwrap_or_else(|e| LoadError::Options(e.to_string()))
                )
            }
            Err(e) => ContainerVerify {
                container: c.container.id.clone(),
                destination: None,
                phase: None,
                unchecked: Vec::new(),
                expected_messages: 0,
                found_messages: 0,
                differences: vec![Difference {
                    kind: DiffKind::Different,
                    item: "container".into(),
                    operation: None,
                    destination: None,
                    detail: format!("could not read the container back: {}", e.message()),
                }],
                clean: false,
            },
        };
        v.clean = v.differences.is_empty();
        containers.push(v);
    }
    let clean = containers.iter().all(|c| c.clean);
    let mut report = VerifyReport {
        destination: run.plan.manifest.destination.as_str().to_string(),
        containers,
        clean,
        files: Vec::new(),
    };
    write_files(&mut report, out_dir)?;
    Ok(report)
}

fn write_files(report: &mut VerifyReport, out_dir: &Path) -> Result<(), LoadError> {
    let out_err = |path: &Path, e: String| LoadError::Output { path: path.to_path_buf(), detail: e };
    std::fs::create_dir_all(out_dir).map_err(|e| out_err(out_dir, e.to_string()))?;
    for c in &report.containers {
        if c.differences.is_empty() {
            continue;
        }
        let safe: String = c
            .container
            .chars()
            .map(|ch| if ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' { ch } else { '_' })
            .collect();
        let path = out_dir.join(format!("verify-{safe}.csv"));
        let mut w = csv::Writer::from_path(&path).map_err(|e| out_err(&path, e.to_string()))?;
        w.write_record(["kind", "item", "operation", "destination", "detail"])
            .map_err(|e| out_err(&path, e.to_string()))?;
        for d in &c.differences {
            let kind = match d.kind {
                DiffKind::Missing => "missing",
                DiffKind::Extra => "extra",
                DiffKind::Different => "different",
            };
            w.write_record([
                kind,
                &d.item,
                d.operation.as_deref().unwrap_or(""),
                d.destination.as_deref().unwrap_or(""),
                &d.detail,
            ])
            .map_err(|e| out_err(&path, e.to_string()))?;
        }
        w.flush().map_err(|e| out_err(&path, e.to_string()))?;
        report.files.push(path);
    }
    let path = out_dir.join("verify.json");
    report.files.insert(0, path.clone());
    let text = serde_json::to_string_pretty(&report).map_err(|e| out_err(&path, e.to_string()))?;
    std::fs::write(&path, text).map_err(|e| out_err(&path, e.to_string()))?;
    Ok(())
}

fn diff(kind: DiffKind, item: &str, op: Option<&str>, dest: Option<&str>, detail: String) -> Difference {
    Difference {
        kind,
        item: item.into(),
        operation: op.map(str::to_string),
        destination: dest.map(str::to_string),
        detail,
    }
}

fn not_created(c: &PlannedContainer, what: &str) -> ContainerVerify {
    let expected = c
        .ops
        .iter()
        .filter(|o| matches!(o.action, Action::ChatCreateMessage { .. } | Action::TeamsPostMessage { .. }))
        .count() as u64;
    ContainerVerify {
        container: c.container.id.clone(),
        destination: None,
        phase: None,
        unchecked: Vec::new(),
        expected_messages: expected,
        found_messages: 0,
        differences: vec![diff(
            DiffKind::Missing,
            "container",
            None,
            None,
            format!("the {what} was not created"),
        )],
        clean: false,
    }
}

fn micros(v: &Value) -> Option<i64> {
    v.as_str().and_then(parse_rfc3339)
}

/// Destination user names (`users/{id}`) of plan users (`users/{email}`), learnt from
/// what the destination itself answered: the senders of matched messages, and the
/// memberships and reactions the loader stored. Chat lists users only by id, so this is
/// how a listed reaction or membership is tied back to the plan's user.
#[derive(Debug, Default)]
struct UserIds {
    by_plan: HashMap<String, String>,
}

impl UserIds {
    fn key(plan_user: &str) -> String {
        plan_user.trim_start_matches("users/").to_lowercase()
    }

    fn learn(&mut self, plan_user: &str, dest: Option<&str>) {
        if let Some(d) = dest.filter(|d| d.starts_with("users/")) {
            self.by_plan.entry(Self::key(plan_user)).or_insert_with(|| d.to_string());
        }
    }

    /// The destination name of a plan user: learnt, or the plan's own name when it is
    /// already an id (no `@`).
    fn get(&self, plan_user: &str) -> Option<String> {
        let k = Self::key(plan_user);
        self.by_plan.get(&k).cloned().or_else(|| (!k.contains('@')).then(|| format!("users/{k}")))
    }

    /// Whether a destination name belongs to a known plan user.
    fn claimed(&self, dest: &str) -> bool {
        self.by_plan.values().any(|d| d == dest)
    }

    /// Learns from the results the loader stored for a container's memberships and
    /// reactions.
    fn learn_from_state(&mut self, run: &Run, c: &PlannedContainer) -> Result<(), OpError> {
        for op in &c.ops {
            let (plan_user, field) = match (&op.action, &op.actor) {
                (Action::ChatCreateMembership { membership } | Action::ChatAddMember { membership }, _) => {
                    (membership["member"]["name"].as_str().map(str::to_string), "member")
                }
                (Action::ChatCreateReaction { .. }, Actor::User { id }) => (Some(id.clone()), "user"),
                _ => continue,
            };
            let Some(plan_user) = plan_user else { continue };
            if let Some(r) = run.result_of(&op.id.0)? {
                self.learn(&plan_user, r[field].as_str());
            }
        }
        Ok(())
    }
}

/// The OAuth scope verify asks for (through domain-wide delegation) to list reactions:
/// `reactions.list` does not take `chat.import` and does not work in import mode.
pub const SCOPE_REACTIONS_READ: &str = "https://www.googleapis.com/auth/chat.messages.reactions.readonly";

/// Whose token a Chat read uses.
#[derive(Clone, Copy)]
enum Reader<'a> {
    /// The importer, impersonated with `chat.import`.
    Import(&'a str),
    /// A user impersonated with another scope.
    Scoped(&'a str, &'static str),
}

async fn chat_list_as(
    run: &Run,
    ctx: Ctx<'_>,
    reader: Reader<'_>,
    url: &str,
    field: &str,
) -> Result<Vec<Value>, OpError> {
    let token = match reader {
        Reader::Import(_) => None,
        Reader::Scoped(user, scope) => {
            let g = run
                .api
                .creds
                .google
                .as_ref()
                .ok_or_else(|| OpError::Rejected("no Google credentials".into()))?;
            Some(g.token(Some(user), scope).await.map_err(|e| OpError::Rejected(e.to_string()))?)
        }
    };
    let mut out = Vec::new();
    let mut page: Option<String> = None;
    loop {
        let u = match &page {
            Some(t) => format!("{url}&pageToken={}", crate::chat::enc(t)),
            None => url.to_string(),
        };
        let reply = match (reader, &token) {
            (Reader::Scoped(..), Some(t)) => {
                run.api
                    .send(Dest::Chat, ctx, As::Anonymous, &[Bucket::ChatReads], |h| h.get(&u).bearer_auth(t))
                    .await?
            }
            (Reader::Import(who), _) | (Reader::Scoped(who, _), None) => {
                run.api
                    .send(Dest::Chat, ctx, As::GoogleUser(who), &[Bucket::ChatReads], |h| h.get(&u))
                    .await?
            }
        };
        if !reply.ok() {
            return Err(OpError::Rejected(format!("list {field}: {}", reply.error_text())));
        }
        let v = reply.json();
        if let Some(items) = v[field].as_array() {
            out.extend(items.iter().cloned());
        }
        match v["nextPageToken"].as_str().filter(|t| !t.is_empty()) {
            Some(t) => page = Some(t.to_string()),
            None => return Ok(out),
        }
    }
}

/// The phase of a space: its own `importMode` (spaces.get with app authentication, the
/// only authentication that method takes in import mode), or, when the space cannot be
/// read, whether `complete` recorded its completeImport in the state store.
async fn space_phase(
    run: &Run,
    ctx: Ctx<'_>,
    space: &str,
    c: &PlannedContainer,
    diffs: &mut Vec<Difference>,
) -> Result<Phase, OpError> {
    let base = run.opts.endpoints.chat.trim_end_matches('/');
    let url = format!("{base}/v1/{space}");
    let reply = run.api.send(Dest::Chat, ctx, As::GoogleApp, &[Bucket::ChatReads], |h| h.get(&url)).await?;
    if reply.ok() {
        let found = reply.json();
        container_properties(c, &found, "createTime", diffs);
        if let Some(import) = found["importMode"].as_bool() {
            return Ok(if import { Phase::Import } else { Phase::Completed });
        }
    }
    let done = c.ops.iter().any(|o| {
        matches!(o.action, Action::ChatCompleteImport)
            && run.state.get(&o.id.0).ok().flatten().is_some_and(|r| r.status == OpStatus::Done)
    });
    Ok(if done { Phase::Completed } else { Phase::Import })
}

/// Compares a container's display name and creation time (`time_field`: Chat
/// `createTime`, Graph `createdDateTime`) with what its create operation planned.
fn container_properties(c: &PlannedContainer, found: &Value, time_field: &str, diffs: &mut Vec<Difference>) {
    let planned = c.ops.iter().find_map(|o| match &o.action {
        Action::ChatCreateSpace { space, .. } => Some(space),
        Action::TeamsCreateChannel { channel } => Some(channel),
        _ => None,
    });
    let Some(planned) = planned else { return };
    let dest = found["name"].as_str().or(found["id"].as_str());
    if let (Some(want), Some(have)) = (planned["displayName"].as_str(), found["displayName"].as_str()) {
        if want != have {
            diffs.push(diff(
                DiffKind::Different,
                "container",
                None,
                dest,
                format!("displayName {have:?}, planned {want:?}"),
            ));
        }
    }
    let want = micros(&planned[time_field]);
    let have = micros(&found[time_field]);
    // Graph keeps milliseconds.
    let same = match (want, have) {
        (Some(w), Some(h)) if time_field == "createdDateTime" => w.div_euclid(1000) == h.div_euclid(1000),
        (w, h) => w.is_none() || w == h,
    };
    if !same {
        diffs.push(diff(
            DiffKind::Different,
            "container",
            None,
            dest,
            format!("{time_field} {}, planned {}", found[time_field], planned[time_field]),
        ));
    }
}

fn emoji_key(emoji: &Value) -> String {
    emoji["unicode"]
        .as_str()
        .map(str::to_string)
        .or_else(|| emoji["customEmoji"]["uid"].as_str().map(|u| format!("custom:{u}")))
        .unwrap_or_else(|| emoji.to_string())
}

/// A planned row: (plan user, what, operation id).
type PlannedRow<K> = (String, K, String);
/// A found row: (`users/{id}`, what).
type FoundRow<K> = (String, K);
/// A membership's (createTime, deleteTime), µs.
type Span = (Option<i64>, Option<i64>);

/// A message whose reactions are read one by one.
struct Reacted {
    op: String,
    name: String,
    want: Vec<PlannedRow<String>>,
}

/// Matches planned `(plan user, key)` rows against found `(users/{id}, key)` rows: first
/// through the learnt ids, then a planned row whose user's id is unknown takes a found
/// row with the same key whose user belongs to no known plan user. Returns the planned
/// rows left (missing) and the found rows left (extra).
fn match_by_user<K: PartialEq>(
    ids: &UserIds,
    planned: Vec<PlannedRow<K>>,
    mut found: Vec<FoundRow<K>>,
) -> (Vec<PlannedRow<K>>, Vec<FoundRow<K>>) {
    let mut unresolved = Vec::new();
    let mut missing = Vec::new();
    for (user, key, tag) in planned {
        match ids.get(&user) {
            Some(uid) => match found.iter().position(|(u, k)| *u == uid && *k == key) {
                Some(i) => {
                    found.swap_remove(i);
                }
                None => missing.push((user, key, tag)),
            },
            None => unresolved.push((user, key, tag)),
        }
    }
    for (user, key, tag) in unresolved {
        match found.iter().position(|(u, k)| *k == key && !ids.claimed(u)) {
            Some(i) => {
                found.swap_remove(i);
            }
            None => missing.push((user, key, tag)),
        }
    }
    (missing, found)
}

async fn verify_space(run: &Run, c: &PlannedContainer) -> Result<ContainerVerify, OpError> {
    let id = c.container.id.as_str();
    let Some(space) = crate::chat::space_of(run, id)? else { return Ok(not_created(c, "space")) };
    let importer = c
        .ops
        .iter()
        .find_map(|o| match (&o.action, &o.actor) {
            (Action::ChatCreateSpace { .. }, Actor::User { id }) => Some(id.clone()),
            _ => None,
        })
        .ok_or_else(|| OpError::Rejected("no user created the space; cannot read it back".into()))?;
    let ctx = Ctx { container: id, op: "verify" };
    let base = run.opts.endpoints.chat.trim_end_matches('/');
    let mut space_diffs = Vec::new();
    let phase = space_phase(run, ctx, &space, c, &mut space_diffs).await?;
    let listed = chat_list_as(
        run,
        ctx,
        Reader::Import(&importer),
        &format!("{base}/v1/{space}/messages?pageSize=1000"),
        "messages",
    )
    .await?;
    let mut ids = UserIds::default();
    ids.learn_from_state(run, c)?;
    let mut by_client: HashMap<String, &Value> = HashMap::new();
    let mut diffs = space_diffs;
    let mut unchecked = Vec::new();
    for m in &listed {
        match m["clientAssignedMessageId"].as_str() {
            Some(cid) => {
                by_client.insert(cid.to_string(), m);
            }
            None => diffs.push(diff(
                DiffKind::Extra,
                "message",
                None,
                m["name"].as_str(),
                "message without a client id".into(),
            )),
        }
    }
    let mut expected_ids = std::collections::HashSet::new();
    // Planned reactions per message operation: (reacting user, emoji, reaction operation).
    let mut reactions: HashMap<String, Vec<PlannedRow<String>>> = HashMap::new();
    for op in &c.ops {
        if let Action::ChatCreateReaction { message, emoji } = &op.action {
            let user = match &op.actor {
                Actor::User { id } => id.clone(),
                Actor::App => "users/app".into(),
            };
            reactions.entry(message.0.clone()).or_default().push((user, emoji_key(emoji), op.id.0.clone()));
        }
    }
    let mut thread_of_group: HashMap<String, String> = HashMap::new();
    let unthreaded = c.ops.iter().any(|o| {
        matches!(&o.action, Action::ChatCreateSpace { space, .. } if space["spaceType"].as_str() == Some("GROUP_CHAT"))
    });
    let mut group_of_thread: HashMap<String, String> = HashMap::new();
    let mut expected_messages = 0;
    // Messages whose reactions are read one by one once the space is out of import mode.
    let mut reacted: Vec<Reacted> = Vec::new();
    for op in &c.ops {
        let Action::ChatCreateMessage { message_id, message, attachments, .. } = &op.action else { continue };
        expected_messages += 1;
        expected_ids.insert(message_id.clone());
        let opid = Some(op.id.0.as_str());
        let Some(found) = by_client.get(message_id) else {
            diffs.push(diff(DiffKind::Missing, "message", opid, None, format!("{message_id} not found")));
            continue;
        };
        if let Actor::User { id: author } = &op.actor {
            ids.learn(author, found["sender"]["name"].as_str());
        }
        let name = found["name"].as_str();
        if micros(&message["createTime"]) != micros(&found["createTime"]) {
            diffs.push(diff(
                DiffKind::Different,
                "message",
                opid,
                name,
                format!("createTime {} != planned {}", found["createTime"], message["createTime"]),
            ));
        }
        if chat_text(message["text"].as_str().unwrap_or(""))
            != chat_text(found["text"].as_str().unwrap_or(""))
        {
            diffs.push(diff(DiffKind::Different, "message", opid, name, "text differs".into()));
        }
        let n_att = found["attachment"].as_array().map_or(0, Vec::len);
        if n_att != attachments.len() {
            diffs.push(diff(
                DiffKind::Different,
                "attachment",
                opid,
                name,
                format!("{n_att} attachments, planned {}", attachments.len()),
            ));
        }
        // A group chat is unthreaded (messageReplyOption works only in named spaces):
        // every message stands alone there, whatever threadKey the plan carries.
        let group = message["thread"]["threadKey"]
            .as_str()
            .filter(|_| !unthreaded)
            .map(|k| format!("key:{k}"))
            .unwrap_or_else(|| format!("op:{}", op.id));
        let thread = found["thread"]["name"].as_str().unwrap_or_default().to_string();
        match thread_of_group.get(&group) {
            Some(t) if *t != thread => diffs.push(diff(
                DiffKind::Different,
                "message",
                opid,
                name,
                format!("in thread {thread}, expected {t}"),
            )),
            Some(_) => {}
            None => {
                if let Some(g) = group_of_thread.get(&thread) {
                    diffs.push(diff(
                        DiffKind::Different,
                        "message",
                        opid,
                        name,
                        format!("shares thread {thread} with {g}"),
                    ));
                }
                thread_of_group.insert(group.clone(), thread.clone());
                group_of_thread.insert(thread, group);
            }
        }
        let want = reactions.remove(&op.id.0).unwrap_or_default();
        let mut found_counts: BTreeMap<String, u64> = BTreeMap::new();
        for s in found["emojiReactionSummaries"].as_array().into_iter().flatten() {
            *found_counts.entry(emoji_key(&s["emoji"])).or_insert(0) +=
                s["reactionCount"].as_u64().unwrap_or(0);
        }
        match phase {
            Phase::Import => {
                let mut want_counts: BTreeMap<String, u64> = BTreeMap::new();
                for (_, e, _) in &want {
                    *want_counts.entry(e.clone()).or_insert(0) += 1;
                }
                if want_counts != found_counts {
                    diffs.push(diff(
                        DiffKind::Different,
                        "reaction",
                        opid,
                        name,
                        format!("reactions {found_counts:?}, planned {want_counts:?}"),
                    ));
                }
            }
            Phase::Completed => {
                if !want.is_empty() || !found_counts.is_empty() {
                    reacted.push(Reacted {
                        op: op.id.0.clone(),
                        name: name.unwrap_or_default().to_string(),
                        want,
                    });
                }
            }
        }
    }
    for (cid, m) in &by_client {
        if !expected_ids.contains(cid) {
            diffs.push(diff(
                DiffKind::Extra,
                "message",
                None,
                m["name"].as_str(),
                format!("{cid} is not in the plan"),
            ));
        }
    }
    match phase {
        Phase::Import => unchecked.push(
            "per-user reactions: reactions.list does not work in import mode; compared as counts per emoji until the import is completed".into(),
        ),
        Phase::Completed => {
            // Read as a user who is a member once the import is complete: the importer if
            // the plan makes them one, else a planned member of the importer's domain
            // (domain-wide delegation covers only that domain), else the importer.
            let members: Vec<String> = c
                .ops
                .iter()
                .filter_map(|o| match &o.action {
                    Action::ChatAddMember { membership } => {
                        membership["member"]["name"].as_str().map(|n| n.trim_start_matches("users/").to_string())
                    }
                    _ => None,
                })
                .collect();
            let domain = importer.rsplit_once('@').map(|(_, d)| d.to_lowercase());
            let reader = if members.iter().any(|m| m.eq_ignore_ascii_case(&importer)) {
                importer.clone()
            } else {
                members
                    .iter()
                    .find(|m| m.rsplit_once('@').map(|(_, d)| d.to_lowercase()) == domain)
                    .cloned()
                    .unwrap_or_else(|| importer.clone())
            };
            for Reacted { op: opid, name, want } in reacted {
                let url = format!("{base}/v1/{name}/reactions?pageSize=200");
                let found = match chat_list_as(
                    run,
                    ctx,
                    Reader::Scoped(&reader, SCOPE_REACTIONS_READ),
                    &url,
                    "reactions",
                )
                .await
                {
                    Ok(f) => f,
                    Err(OpError::Rejected(m)) => {
                        diffs.push(diff(
                            DiffKind::Different,
                            "reaction",
                            Some(&opid),
                            Some(&name),
                            format!("could not list the reactions to compare them per user ({m}); grant {SCOPE_REACTIONS_READ} through domain-wide delegation"),
                        ));
                        break;
                    }
                    Err(e) => return Err(e),
                };
                let found: Vec<(String, String)> = found
                    .iter()
                    .map(|r| (r["user"]["name"].as_str().unwrap_or_default().to_string(), emoji_key(&r["emoji"])))
                    .collect();
                let (missing, extra) = match_by_user(&ids, want, found);
                for (user, emoji, rop) in missing {
                    diffs.push(diff(
                        DiffKind::Missing,
                        "reaction",
                        Some(&rop),
                        Some(&name),
                        format!("{emoji} by {user} not found"),
                    ));
                }
                for (user, emoji) in extra {
                    diffs.push(diff(
                        DiffKind::Extra,
                        "reaction",
                        Some(&opid),
                        Some(&name),
                        format!("{emoji} by {user} is not in the plan"),
                    ));
                }
            }
        }
    }
    let members = chat_list_as(
        run,
        ctx,
        Reader::Import(&importer),
        &format!("{base}/v1/{space}/members?pageSize=1000"),
        "memberships",
    )
    .await?;
    let humans = members.iter().filter(|m| m["member"]["type"].as_str() != Some("BOT"));
    let (historical, current): (Vec<&Value>, Vec<&Value>) = humans.partition(|m| m["deleteTime"].is_string());
    let user_of = |m: &Value| m["member"]["name"].as_str().unwrap_or_default().to_string();
    match phase {
        Phase::Import => {
            let planned: Vec<PlannedRow<Span>> = c
                .ops
                .iter()
                .filter_map(|op| match &op.action {
                    Action::ChatCreateMembership { membership } => {
                        let delete = micros(&membership["deleteTime"]);
                        let create = micros(&membership["createTime"]).or(delete.map(|d| d - 1));
                        let user = membership["member"]["name"].as_str().unwrap_or_default().to_string();
                        Some((user, (create, delete), op.id.0.clone()))
                    }
                    _ => None,
                })
                .collect();
            let found: Vec<FoundRow<Span>> = historical
                .iter()
                .map(|m| (user_of(m), (micros(&m["createTime"]), micros(&m["deleteTime"]))))
                .collect();
            // Whether members.list shows historical memberships in import mode is not
            // documented: a list with none at all, while the loader recorded every
            // planned one as created, says nothing either way.
            let recorded = planned.iter().all(|(_, _, opid)| {
                run.state.get(opid).ok().flatten().is_some_and(|r| r.status == OpStatus::Done)
            });
            let (planned, found) = if found.is_empty() && !planned.is_empty() && recorded {
                unchecked.push(format!(
                    "historical memberships: members.list shows none of the {} the loader created (Google does not document listing them in import mode)",
                    planned.len()
                ));
                (Vec::new(), found)
            } else {
                (planned, found)
            };
            let (missing, mut extra) = match_by_user(&ids, planned, found);
            for (user, (create, delete), opid) in missing {
                // The same user with other times is one different row, not two.
                let same_user = ids.get(&user).and_then(|uid| extra.iter().position(|(u, _)| *u == uid));
                if let Some(i) = same_user {
                    let (uid, (fc, fd)) = extra.swap_remove(i);
                    diffs.push(diff(
                        DiffKind::Different,
                        "membership",
                        Some(&opid),
                        Some(&uid),
                        format!(
                            "historical membership of {user}: {} – {}, planned {} – {}",
                            show_time(fc),
                            show_time(fd),
                            show_time(create),
                            show_time(delete)
                        ),
                    ));
                    continue;
                }
                diffs.push(diff(
                    DiffKind::Missing,
                    "membership",
                    Some(&opid),
                    None,
                    format!(
                        "historical membership of {user} ({} – {}) not found",
                        show_time(create),
                        show_time(delete)
                    ),
                ));
            }
            for (user, (create, delete)) in extra {
                diffs.push(diff(
                    DiffKind::Extra,
                    "membership",
                    None,
                    Some(&user),
                    format!(
                        "historical membership ({} – {}) is not in the plan",
                        show_time(create),
                        show_time(delete)
                    ),
                ));
            }
            for m in current {
                diffs.push(diff(
                    DiffKind::Extra,
                    "member",
                    None,
                    m["name"].as_str(),
                    format!("{} is a current member while the space is in import mode", user_of(m)),
                ));
            }
        }
        Phase::Completed => {
            unchecked.push(
                "historical memberships: Chat lists them only while the space is in import mode".into(),
            );
            let planned: Vec<PlannedRow<()>> = c
                .ops
                .iter()
                .filter_map(|op| match &op.action {
                    Action::ChatAddMember { membership } => Some((
                        membership["member"]["name"].as_str().unwrap_or_default().to_string(),
                        (),
                        op.id.0.clone(),
                    )),
                    _ => None,
                })
                .collect();
            let found: Vec<FoundRow<()>> = current.iter().map(|m| (user_of(m), ())).collect();
            let (missing, extra) = match_by_user(&ids, planned, found);
            for (user, (), opid) in missing {
                diffs.push(diff(
                    DiffKind::Missing,
                    "member",
                    Some(&opid),
                    None,
                    format!("{user} is not a member"),
                ));
            }
            for (user, ()) in extra {
                diffs.push(diff(
                    DiffKind::Extra,
                    "member",
                    None,
                    Some(&user),
                    "member not in the plan".into(),
                ));
            }
        }
    }
    Ok(ContainerVerify {
        container: id.to_string(),
        destination: Some(space),
        phase: Some(phase),
        expected_messages,
        found_messages: listed.len() as u64,
        differences: diffs,
        unchecked,
        clean: false,
    })
}

/// Chat text for comparison: Chat answers mentions as `<users/{numeric id}>` where the
/// plan wrote `<users/{email}>`, so every mention token compares equal (the mentioned
/// user is not checked).
fn chat_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("<users/") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        match tail.find('>') {
            Some(j) => {
                out.push_str("<users/…>");
                rest = &tail[j + 1..];
            }
            None => {
                out.push_str(tail);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text content of Teams HTML for comparison: Teams sanitizes and rewrites message
/// HTML (tags, attributes, entities), so tags are dropped, the common entities decoded
/// and whitespace collapsed.
fn html_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => {
                in_tag = true;
                text.push(' ');
            }
            '>' if in_tag => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let decoded = text
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn show_time(t: Option<i64>) -> String {
    t.map(|t| chatport_model::ts::format_rfc3339(t, 6)).unwrap_or_else(|| "?".into())
}

/// Whether the completion operation matching `pred` is recorded done.
fn recorded_done(run: &Run, c: &PlannedContainer, pred: impl Fn(&Action) -> bool) -> bool {
    c.ops.iter().any(|o| {
        pred(&o.action) && run.state.get(&o.id.0).ok().flatten().is_some_and(|r| r.status == OpStatus::Done)
    })
}

/// The user a planned `conversationMember` names (`user@odata.bind` =
/// `…/users('{id or UPN}')`).
fn bound_user(member: &Value) -> Option<String> {
    let bind = member["user@odata.bind"].as_str()?;
    let (_, rest) = bind.rsplit_once("users('")?;
    Some(rest.strip_suffix("')")?.replace("''", "'"))
}

async fn verify_team(run: &Run, c: &PlannedContainer) -> Result<ContainerVerify, OpError> {
    let id = c.container.id.as_str();
    let Some(team) = crate::teams::team_of(run, id)? else { return Ok(not_created(c, "team")) };
    let graph = run.opts.endpoints.graph.trim_end_matches('/');
    let url = format!("{graph}/teams/{team}");
    let ctx = Ctx { container: id, op: "verify" };
    let reply = run.api.send(Dest::Graph, ctx, As::Graph, &[Bucket::GraphOther], |h| h.get(&url)).await?;
    let mut diffs = Vec::new();
    let mut unchecked = Vec::new();
    if reply.status == 403 {
        return Err(crate::teams::rejected_read(&reply, "GET team", &url));
    }
    if !reply.ok() {
        diffs.push(diff(DiffKind::Missing, "container", None, Some(&team), reply.error_text()));
    }
    // Graph shows no migration mode on a team: the phase is what `complete` recorded.
    let phase = if recorded_done(run, c, |a| matches!(a, Action::TeamsCompleteTeam)) {
        Phase::Completed
    } else {
        Phase::Import
    };
    match phase {
        Phase::Import => {
            unchecked.push("members: Graph lets them be added only after completeMigration".into())
        }
        Phase::Completed if reply.ok() => {
            let found = crate::teams::list_all(
                run,
                ctx,
                &format!("{graph}/teams/{team}/members"),
                Bucket::GraphOther,
            )
            .await?;
            let mut found: Vec<&Value> = found.iter().collect();
            for op in &c.ops {
                let Action::TeamsAddMember { member } = &op.action else { continue };
                let Some(user) = bound_user(member) else { continue };
                // The plan may name a user by UPN; the add's answer gave their object id.
                let answered = run
                    .result_of(&op.id.0)?
                    .and_then(|r| r["user_id"].as_str().map(str::to_string))
                    .unwrap_or_default();
                let hit = found.iter().position(|m| {
                    [&m["userId"], &m["email"]].iter().any(|v| {
                        v.as_str().is_some_and(|x| {
                            x.eq_ignore_ascii_case(&user) || (!answered.is_empty() && x == answered)
                        })
                    })
                });
                match hit {
                    Some(i) => {
                        found.swap_remove(i);
                    }
                    None => diffs.push(diff(
                        DiffKind::Missing,
                        "member",
                        Some(&op.id.0),
                        Some(&team),
                        format!("{user} is not a member"),
                    )),
                }
            }
            // An existing team keeps the members it had.
            let existing = crate::teams::team_is_existing(run, id)?;
            for m in found.into_iter().filter(|_| !existing) {
                diffs.push(diff(
                    DiffKind::Extra,
                    "member",
                    None,
                    m["id"].as_str(),
                    format!("{} is a member but not in the plan", m["userId"].as_str().unwrap_or("?")),
                ));
            }
        }
        Phase::Completed => {}
    }
    Ok(ContainerVerify {
        container: id.into(),
        destination: Some(team),
        phase: Some(phase),
        expected_messages: 0,
        found_messages: 0,
        differences: diffs,
        unchecked,
        clean: false,
    })
}

/// The phase of a channel: its `migrationMode`, else what `complete` recorded.
async fn channel_phase(
    run: &Run,
    ctx: Ctx<'_>,
    team: &str,
    channel: &str,
    c: &PlannedContainer,
    diffs: &mut Vec<Difference>,
) -> Result<Phase, OpError> {
    let graph = run.opts.endpoints.graph.trim_end_matches('/');
    let url = format!("{graph}/teams/{team}/channels/{channel}");
    let reply = run.api.send(Dest::Graph, ctx, As::Graph, &[Bucket::GraphOther], |h| h.get(&url)).await?;
    if reply.status == 403 {
        return Err(crate::teams::rejected_read(&reply, "GET channel", &url));
    }
    if !reply.ok() {
        diffs.push(diff(DiffKind::Missing, "container", None, Some(channel), reply.error_text()));
    } else if run.state.target(&c.container.id)?.is_none() {
        // A channel created by the load (an existing one keeps its own name).
        container_properties(c, &reply.json(), "createdDateTime", diffs);
    }
    let recorded = recorded_done(run, c, |a| matches!(a, Action::TeamsCompleteChannel));
    Ok(match reply.json()["migrationMode"].as_str() {
        Some("inProgress") => {
            if recorded {
                diffs.push(diff(
                    DiffKind::Different,
                    "container",
                    None,
                    Some(channel),
                    "still in migration mode although complete recorded its completeMigration".into(),
                ));
            }
            Phase::Import
        }
        Some(_) => Phase::Completed,
        None if recorded => Phase::Completed,
        None => Phase::Import,
    })
}

struct Found {
    id: String,
    parent: Option<i64>,
    from: Option<String>,
    attachments: usize,
    hosted: usize,
    content: String,
}

async fn verify_channel(run: &Run, c: &PlannedContainer) -> Result<ContainerVerify, OpError> {
    let id = c.container.id.as_str();
    let Some((team, channel)) = crate::teams::channel_of(run, id)? else {
        return Ok(not_created(c, "channel"));
    };
    let graph = run.opts.endpoints.graph.trim_end_matches('/');
    let ctx = Ctx { container: id, op: "verify" };
    let mut diffs = Vec::new();
    let phase = channel_phase(run, ctx, &team, &channel, c, &mut diffs).await?;
    let roots = crate::teams::list_all(
        run,
        ctx,
        &format!("{graph}/teams/{team}/channels/{channel}/messages?$top=50"),
        Bucket::GraphGetMessage,
    )
    .await?;
    let ms = |v: &Value| micros(v).map(|m| m.div_euclid(1000));
    let mut found: BTreeMap<i64, Found> = BTreeMap::new();
    let describe = |m: &Value, parent: Option<i64>| Found {
        id: m["id"].as_str().unwrap_or_default().to_string(),
        parent,
        from: m["from"]["user"]["id"].as_str().map(str::to_string),
        attachments: m["attachments"].as_array().map_or(0, Vec::len),
        hosted: m["body"]["content"].as_str().map_or(0, |c| c.matches("/hostedContents/").count()),
        content: m["body"]["content"].as_str().unwrap_or_default().to_string(),
    };
    // An existing channel's messages from before the load are not the plan's.
    let preexisting: std::collections::HashSet<String> = c
        .ops
        .iter()
        .find(|o| crate::exec::is_container_create(o))
        .map(|o| run.result_of(&o.id.0))
        .transpose()?
        .flatten()
        .and_then(|r| {
            r["preexisting"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        })
        .unwrap_or_default();
    // System events (members added, channel renamed…) are Teams' own, never the plan's.
    let is_pre = |m: &Value| {
        m["id"].as_str().is_some_and(|id| preexisting.contains(id))
            || m["messageType"].as_str().is_some_and(|t| t != "message")
    };
    for r in &roots {
        let Some(t) = ms(&r["createdDateTime"]) else { continue };
        let rid = r["id"].as_str().unwrap_or_default();
        let replies = crate::teams::list_all(
            run,
            ctx,
            &format!("{graph}/teams/{team}/channels/{channel}/messages/{rid}/replies?$top=50"),
            Bucket::GraphGetMessage,
        )
        .await?;
        for rep in replies.iter().filter(|m| !is_pre(m)) {
            if let Some(rt) = ms(&rep["createdDateTime"]) {
                if found.insert(rt, describe(rep, Some(t))).is_some() {
                    diffs.push(diff(
                        DiffKind::Extra,
                        "message",
                        None,
                        rep["id"].as_str(),
                        "two messages share a createdDateTime".into(),
                    ));
                }
            }
        }
        if is_pre(r) {
            continue;
        }
        if found.insert(t, describe(r, None)).is_some() {
            diffs.push(diff(
                DiffKind::Extra,
                "message",
                None,
                Some(rid),
                "two messages share a createdDateTime".into(),
            ));
        }
    }
    let found_count = found.len() as u64;
    let mut times: HashMap<&str, i64> = HashMap::new();
    let mut expected = 0;
    for op in &c.ops {
        let Action::TeamsPostMessage { reply_to, message, hosted_contents, files } = &op.action else {
            continue;
        };
        expected += 1;
        let opid = Some(op.id.0.as_str());
        let Some(t) = ms(&message["createdDateTime"]) else { continue };
        times.insert(op.id.0.as_str(), t);
        let Some(f) = found.remove(&t) else {
            diffs.push(diff(
                DiffKind::Missing,
                "message",
                opid,
                None,
                format!("no message at {}", message["createdDateTime"]),
            ));
            continue;
        };
        let dest = Some(f.id.as_str());
        let want_parent = reply_to.as_ref().and_then(|p| times.get(p.0.as_str()).copied());
        if f.parent != want_parent {
            diffs.push(diff(
                DiffKind::Different,
                "message",
                opid,
                dest,
                format!("thread parent {:?}, planned {:?}", f.parent, want_parent),
            ));
        }
        if f.from.as_deref() != message["from"]["user"]["id"].as_str() {
            diffs.push(diff(DiffKind::Different, "message", opid, dest, format!("from {:?}", f.from)));
        }
        if f.attachments != files.len() {
            diffs.push(diff(
                DiffKind::Different,
                "attachment",
                opid,
                dest,
                format!("{} attachments, planned {}", f.attachments, files.len()),
            ));
        }
        if f.hosted != hosted_contents.len() {
            diffs.push(diff(
                DiffKind::Different,
                "attachment",
                opid,
                dest,
                format!("{} inline images, planned {}", f.hosted, hosted_contents.len()),
            ));
        }
        if files.is_empty()
            && hosted_contents.is_empty()
            && html_text(&f.content) != html_text(message["body"]["content"].as_str().unwrap_or_default())
        {
            diffs.push(diff(DiffKind::Different, "message", opid, dest, "body differs".into()));
        }
    }
    for f in found.values() {
        diffs.push(diff(DiffKind::Extra, "message", None, Some(&f.id), "not in the plan".into()));
    }
    Ok(ContainerVerify {
        container: id.into(),
        destination: Some(channel),
        phase: Some(phase),
        unchecked: Vec::new(),
        expected_messages: expected,
        found_messages: found_count,
        differences: diffs,
        clean: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_comparison_ignores_what_the_services_rewrite() {
        assert_eq!(chat_text("hi <users/bob@example.com>!"), chat_text("hi <users/1234567>!"));
        assert_ne!(chat_text("hi <users/bob@example.com>!"), chat_text("bye <users/1>!"));
        assert_eq!(
            html_text("<p>a &amp; b</p><div><br/>c</div>"),
            html_text("<div class=\"x\">a &amp; b<br>c</div>")
        );
        assert_ne!(html_text("<p>a</p>"), html_text("<p>b</p>"));
    }
}
