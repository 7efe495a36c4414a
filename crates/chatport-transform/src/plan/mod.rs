//! The planners: canonical data in, a plan (containers, ordered operations, report) out.
//!
//! This module owns what both destinations share: reading the canonical directory,
//! filters (`--channels`, `--since`, `--until`), the user directory behind mentions and
//! authorship, the unique-timestamp timeline, text splitting, the report, stable ids, and
//! writing the plan directory. `chat` and `teams` hold the destination rules. Planning a
//! conversation is a pure function of its records and the options; conversations are
//! planned in parallel and written in a fixed order, so a plan is byte-identical run to run.

pub mod chat;
pub mod custom_emoji;
pub mod file_index;
pub mod rules;
pub mod stream;
pub mod teams;

use crate::markup::{MentionResolver, ResolvedUser};
use crate::users::{self, MappingRow, UserAction};
use chatport_model::jsonl::{read_jsonl, sha256_hex, write_json_file, JsonlError};
use chatport_model::plan::{
    Action, Actor, Container, Destination, OpSource, Operation, OperationId, Outcome, PlanCounts,
    PlanManifest, ReportEntry, PLAN_FORMAT_VERSION,
};
use chatport_model::DataFile;
use chatport_model::{Conversation, DataFileWriter, FileRecord, Manifest, Message, User};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Errors that stop a transform.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// A canonical file is missing or has a bad record.
    #[error(transparent)]
    Canonical(#[from] JsonlError),
    /// The canonical manifest is unreadable.
    #[error("{path}: {detail}")]
    Manifest {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The user mapping is invalid.
    #[error(transparent)]
    Mapping(#[from] users::MappingError),
    /// An option is missing or invalid.
    #[error("{0}")]
    Options(String),
    /// The output cannot be written.
    #[error("{path}: {source}")]
    Output {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// How to carry 1:1 DMs into Google Chat, which cannot import DIRECT_MESSAGE spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DmPolicy {
    /// A private, named space with the two participants (reported as altered).
    Space,
    /// Not carried (every message reported as dropped).
    Skip,
}

/// How to carry private channels, group DMs and DMs into Teams, where a channel of a
/// shared team would expose them to every team member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrivatePolicy {
    /// A team of its own whose members are the conversation's members.
    OwnTeam,
    /// Not carried (reported).
    Skip,
}

impl std::str::FromStr for DmPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "space" => Ok(DmPolicy::Space),
            "skip" => Ok(DmPolicy::Skip),
            _ => Err(format!("{s:?}: expected `space` or `skip`")),
        }
    }
}

impl std::str::FromStr for PrivatePolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "own-team" => Ok(PrivatePolicy::OwnTeam),
            "skip" => Ok(PrivatePolicy::Skip),
            _ => Err(format!("{s:?}: expected `own-team` or `skip`")),
        }
    }
}

/// Options of a transform. All times are microseconds since the Unix epoch.
#[derive(Debug, Clone, Serialize)]
pub struct PlanOptions {
    /// The destination.
    pub destination: Destination,
    /// Only these conversations (ids or names); empty = all.
    pub channels: Vec<String>,
    /// Only messages at or after this time.
    pub since: Option<i64>,
    /// Only messages before this time.
    pub until: Option<i64>,
    /// "Now": the upper bound for every destination time (minus a margin).
    #[serde(skip)]
    pub now: i64,
    /// Chat: who creates spaces and historical memberships and completes the import
    /// (a Workspace user with the import scope; impersonated).
    pub importer: Option<String>,
    /// Chat: the 1:1 DM policy.
    pub dm_policy: DmPolicy,
    /// Teams: the name of the workspace team.
    pub team_name: String,
    /// Teams: private conversations policy.
    pub private_policy: PrivatePolicy,
    /// Teams: the in-tenant account that posts for users without a mapping (AAD id).
    pub fallback_user: Option<String>,
    /// Teams: largest image carried inline as hostedContents; larger ones become files.
    pub max_inline_image_bytes: u64,
    /// Teams: owners of the migrated teams (`--team-owner`): source user ids (mapped through
    /// the user mapping) or destination accounts (UPN or object id).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub team_owners: Vec<String>,
    /// The source workspace's custom emoji images (`--custom-emoji`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_emoji: Option<PathBuf>,
    /// How custom emoji in message text are carried (`--custom-emoji-policy`).
    #[serde(skip_serializing_if = "is_text_policy")]
    pub custom_emoji_policy: custom_emoji::CustomEmojiPolicy,
    /// Chat: the Workspace's e-mail domains (the importer's is always one). Users whose
    /// target is outside them are external: posted by the app, added after completion.
    pub domains: Vec<String>,
    /// Put before every space name (Chat) and team name (Teams), which must be unique in
    /// the whole organisation, not only in this export (e.g. `Slack: `).
    pub name_prefix: String,
    /// Put after every space and team name (e.g. ` (Slack)`).
    pub name_suffix: String,
}

fn is_text_policy(p: &custom_emoji::CustomEmojiPolicy) -> bool {
    *p == custom_emoji::CustomEmojiPolicy::Text
}

impl PlanOptions {
    /// Defaults for a destination at a given "now".
    pub fn new(destination: Destination, now: i64) -> Self {
        PlanOptions {
            destination,
            channels: Vec::new(),
            since: None,
            until: None,
            now,
            importer: None,
            dm_policy: DmPolicy::Space,
            team_name: "Slack import".into(),
            private_policy: PrivatePolicy::OwnTeam,
            fallback_user: None,
            max_inline_image_bytes: 4 << 20,
            team_owners: Vec::new(),
            custom_emoji: None,
            custom_emoji_policy: custom_emoji::CustomEmojiPolicy::Text,
            domains: Vec::new(),
            name_prefix: String::new(),
            name_suffix: String::new(),
        }
    }

    /// The latest time any destination record may carry: now minus a safety margin.
    pub fn latest(&self) -> i64 {
        self.now - 5_000_000
    }
}

/// Everything planning needs that is shared by all conversations.
pub struct Context {
    /// Options.
    pub opts: PlanOptions,
    /// Canonical users by id.
    pub users: HashMap<String, User>,
    /// Mapping rows by source id.
    pub mapping: HashMap<String, MappingRow>,
    /// Conversation names by id (for channel mentions).
    pub conversations: HashMap<String, Option<String>>,
    /// Files by id, read from `files.jsonl` when a message refers to them.
    pub files: file_index::FileIndex,
    /// Sizes of the canonical directory's blobs, by path.
    pub blob_sizes: HashMap<String, u64>,
    /// The source workspace's custom emoji, by name (empty without `--custom-emoji`).
    pub custom_emoji: BTreeMap<String, custom_emoji::CustomEmoji>,
    /// The plan directory being written; planners [`spill`] each conversation there as
    /// soon as it is planned. `None` keeps plans in memory (for callers that plan only).
    pub out: Option<PathBuf>,
}

impl Context {
    /// The mapping of a source user (a default `app` row when unknown).
    pub fn who(&self, id: &str) -> Cow<'_, MappingRow> {
        if let Some(row) = self.mapping.get(id) {
            return Cow::Borrowed(row);
        }
        Cow::Owned(MappingRow {
            source_id: id.to_owned(),
            name: String::new(),
            display_name: self.users.get(id).map(users::display_name).unwrap_or_else(|| id.to_owned()),
            email: String::new(),
            kind: users::UserKind::Unknown,
            target: String::new(),
            action: UserAction::App,
        })
    }

    /// The display name of a source user.
    pub fn name_of(&self, id: &str) -> String {
        match self.who(id) {
            Cow::Borrowed(row) => row.display_name.clone(),
            Cow::Owned(row) => row.display_name,
        }
    }
}

/// The renderers' view of the directory: mapped users get a Chat identity, everyone a name.
pub struct Directory<'a> {
    ctx: &'a Context,
    chat: bool,
}

impl MentionResolver for Directory<'_> {
    fn user(&self, id: &str) -> Option<ResolvedUser> {
        let row = self.ctx.mapping.get(id)?;
        let chat_user = (self.chat && row.action == UserAction::Author && !row.target.is_empty())
            .then(|| format!("users/{}", row.target));
        Some(ResolvedUser { display_name: row.display_name.clone(), chat_user })
    }

    fn channel(&self, id: &str) -> Option<String> {
        self.ctx.conversations.get(id).cloned().flatten()
    }

    /// A known custom emoji is text here (an empty, unusable image source); an alias to a
    /// standard emoji is that emoji.
    fn custom_emoji(&self, name: &str) -> Option<String> {
        match custom_emoji::resolve(&self.ctx.custom_emoji, name)? {
            Ok(_) => Some(String::new()),
            Err(target) => Some(format!("alias:{target}")),
        }
    }
}

impl<'a> Directory<'a> {
    /// The directory of a planning context.
    pub fn new(ctx: &'a Context, chat: bool) -> Self {
        Directory { ctx, chat }
    }
}

/// The operations of one container, in order: kept in memory, or written straight to the
/// container's operations file as they are made (when a plan directory is being written),
/// so that a conversation's operations never pile up in memory.
pub struct OpList {
    /// The container.
    pub container: String,
    /// The source conversation, if the container carries one.
    pub conversation: Option<String>,
    /// The operations so far (in memory only; empty when they go to a file).
    pub ops: Vec<Operation>,
    file: Option<DataFileWriter>,
    count: u64,
    by_action: BTreeMap<&'static str, u64>,
    error: Option<JsonlError>,
}

/// What an [`OpList`] made once closed.
pub struct OpsDone {
    /// The operations, when kept in memory.
    pub ops: Vec<Operation>,
    /// The operations file, when written to one.
    pub file: Option<DataFile>,
    /// Operations per action type.
    pub by_action: BTreeMap<&'static str, u64>,
}

impl OpList {
    /// An empty list kept in memory.
    pub fn new(container: String, conversation: Option<String>) -> Self {
        OpList {
            container,
            conversation,
            ops: Vec::new(),
            file: None,
            count: 0,
            by_action: BTreeMap::new(),
            error: None,
        }
    }

    /// An empty list written to `out/ops/<container>.jsonl` when `out` is given, else kept
    /// in memory.
    pub fn open(
        out: Option<&Path>,
        container: String,
        conversation: Option<String>,
    ) -> Result<Self, TransformError> {
        let mut list = OpList::new(container, conversation);
        if let Some(out) = out {
            list.file = Some(DataFileWriter::create(out, &ops_path(&list.container))?);
        }
        Ok(list)
    }

    /// Operations so far.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether no operation was added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends an operation (its `seq` is its position) and returns its id. A write error is
    /// kept and returned by [`OpList::done`].
    pub fn push(
        &mut self,
        id: String,
        actor: Actor,
        action: Action,
        ts: Option<&str>,
        primary: bool,
    ) -> OperationId {
        let id = OperationId(id);
        let seq = self.count;
        self.count += 1;
        *self.by_action.entry(action.name()).or_default() += 1;
        match &mut self.file {
            Some(w) if self.error.is_none() => {
                let op = OpOut {
                    id: &id,
                    seq,
                    container: &self.container,
                    actor: &actor,
                    action: &action,
                    source: self.conversation.as_deref().map(|conversation| SourceOut {
                        conversation,
                        ts,
                        primary,
                    }),
                };
                if let Err(e) = w.write(&op) {
                    self.error = Some(e);
                }
            }
            Some(_) => {}
            None => self.ops.push(Operation {
                id: id.clone(),
                seq,
                container: self.container.clone(),
                actor,
                action,
                source: self.conversation.as_ref().map(|c| OpSource {
                    conversation: c.clone(),
                    ts: ts.map(str::to_owned),
                    primary,
                }),
            }),
        }
        id
    }

    /// Closes the list.
    pub fn done(self) -> Result<OpsDone, TransformError> {
        if let Some(e) = self.error {
            return Err(e.into());
        }
        let file = self.file.map(DataFileWriter::finish).transpose()?;
        Ok(OpsDone { ops: self.ops, file, by_action: self.by_action })
    }
}

/// An [`Operation`] as written, borrowing its parts (same fields, same JSON).
#[derive(Serialize)]
struct OpOut<'a> {
    id: &'a OperationId,
    seq: u64,
    container: &'a str,
    actor: &'a Actor,
    action: &'a Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<SourceOut<'a>>,
}

/// An [`OpSource`] as written.
#[derive(Serialize)]
struct SourceOut<'a> {
    conversation: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ts: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    primary: bool,
}

/// A [`ReportEntry`] as written, borrowing its parts (same fields, same JSON).
#[derive(Serialize)]
struct EntryOut<'a> {
    item: &'a str,
    outcome: Outcome,
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    conversation: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ts: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    operation: Option<&'a OperationId>,
    detail: &'a str,
}

/// The operations file of a container.
pub fn ops_path(container: &str) -> String {
    format!("ops/{container}.jsonl")
}

/// Collects report entries for one conversation: in memory, or written as they come to a
/// scratch file of the plan directory (merged into `report.jsonl` at the end).
#[derive(Default)]
pub struct Report {
    /// Entries in the order they were found (in memory only).
    pub entries: Vec<ReportEntry>,
    spill: Option<PathBuf>,
    file: Option<std::io::BufWriter<std::fs::File>>,
    line: Vec<u8>,
    written: u64,
    /// Entries per (item, outcome, reason): few distinct ones per conversation.
    counts: Vec<((String, Outcome, String), u64)>,
    error: Option<TransformError>,
}

/// A closed report: the entries in memory, or the scratch file; entries per reason key.
type ReportDone = (Vec<ReportEntry>, Option<ReportPart>, BTreeMap<String, u64>);

/// A scratch report file: its path and how many entries it holds.
pub struct ReportPart {
    /// The file.
    pub path: PathBuf,
    /// Its entries (lines).
    pub entries: u64,
}

impl Report {
    /// A report for `conversation`, written to a scratch file under `out` when `out` is given.
    pub fn open(out: Option<&Path>, conversation: &str) -> Self {
        Report {
            // The slug is lowercase: a hash of the exact id keeps ids differing in case apart.
            spill: out.map(|o| {
                let name = format!(
                    "{}-{}.jsonl",
                    slug(conversation, 40),
                    &sha256_hex(conversation.as_bytes())[..12]
                );
                o.join(SPILL).join(name)
            }),
            ..Report::default()
        }
    }

    /// Adds an entry.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        item: &str,
        outcome: Outcome,
        reason: &str,
        conversation: &str,
        ts: Option<&str>,
        operation: Option<&OperationId>,
        detail: impl Into<String>,
    ) {
        let Some(path) = &self.spill else {
            self.entries.push(ReportEntry {
                item: item.to_owned(),
                outcome,
                reason: reason.to_owned(),
                conversation: Some(conversation.to_owned()),
                ts: ts.map(str::to_owned),
                operation: operation.cloned(),
                detail: detail.into(),
            });
            return;
        };
        if self.error.is_some() {
            return;
        }
        match self.counts.iter_mut().find(|((i, o, r), _)| i == item && *o == outcome && r == reason) {
            Some((_, n)) => *n += 1,
            None => self.counts.push(((item.to_owned(), outcome, reason.to_owned()), 1)),
        }
        let detail = detail.into();
        let entry = EntryOut {
            item,
            outcome,
            reason,
            conversation: Some(conversation),
            ts,
            operation,
            detail: &detail,
        };
        self.line.clear();
        if let Err(e) = serde_json::to_writer(&mut self.line, &entry) {
            self.error =
                Some(TransformError::Output { path: path.clone(), source: std::io::Error::other(e) });
            return;
        }
        self.line.push(b'\n');
        if self.file.is_none() {
            let created = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::File::create(path));
            match created {
                Ok(f) => self.file = Some(std::io::BufWriter::with_capacity(256 * 1024, f)),
                Err(e) => {
                    self.error = Some(TransformError::Output { path: path.clone(), source: e });
                    return;
                }
            }
        }
        if let Some(Err(e)) = self.file.as_mut().map(|w| std::io::Write::write_all(w, &self.line)) {
            self.error = Some(TransformError::Output { path: path.clone(), source: e });
            return;
        }
        self.written += 1;
    }

    /// Closes the report: the entries in memory, or the scratch file and the counts.
    fn done(self) -> Result<ReportDone, TransformError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let part = match (self.file, self.spill) {
            (Some(w), Some(path)) => {
                w.into_inner()
                    .map_err(|e| TransformError::Output { path: path.clone(), source: e.into_error() })?;
                Some(ReportPart { path, entries: self.written })
            }
            _ => None,
        };
        let mut by_reason = BTreeMap::new();
        for ((item, outcome, reason), n) in self.counts {
            *by_reason.entry(reason_key(&item, outcome, &reason)).or_default() += n;
        }
        Ok((self.entries, part, by_reason))
    }
}

/// What a planner made for one conversation, before [`assemble`].
pub struct Made {
    /// Containers with their operation lists, in order.
    pub containers: Vec<(Container, OpList)>,
    /// The report.
    pub report: Report,
    /// Source messages considered.
    pub considered: u64,
    /// Source messages carried.
    pub carried: u64,
    /// Source messages dropped.
    pub dropped: u64,
    /// Source messages left out by the filters.
    pub filtered: u64,
}

/// Closes a conversation's lists and report into its plan (spilled when they went to files).
pub fn assemble(made: Made) -> Result<ConversationPlan, TransformError> {
    let mut containers = Vec::with_capacity(made.containers.len());
    let mut spilled = Spilled {
        files: Vec::new(),
        by_action: BTreeMap::new(),
        operations: 0,
        report: None,
        by_reason: BTreeMap::new(),
    };
    let mut on_disk = false;
    for (mut container, list) in made.containers {
        container.op_count = list.len();
        let done = list.done()?;
        if let Some(f) = done.file {
            on_disk = true;
            spilled.files.push(f);
            spilled.operations += container.op_count;
            for (a, n) in done.by_action {
                *spilled.by_action.entry(a.to_owned()).or_default() += n;
            }
        }
        containers.push((container, done.ops));
    }
    let spill_target = made.report.spill.is_some();
    let (entries, path, by_reason) = made.report.done()?;
    spilled.report = path;
    spilled.by_reason = by_reason;
    Ok(ConversationPlan {
        containers,
        report: entries,
        considered: made.considered,
        carried: made.carried,
        dropped: made.dropped,
        filtered: made.filtered,
        spilled: (on_disk || spill_target).then_some(spilled),
    })
}

/// Hands out strictly increasing times at a resolution (1 µs for Chat, 1 ms for Teams):
/// each requested time is moved forward just enough to be later than the previous one.
pub struct Timeline {
    resolution: i64,
    last: Option<i64>,
}

impl Timeline {
    /// A timeline whose first time must be after `floor`.
    pub fn new(resolution: i64, floor: i64) -> Self {
        Timeline { resolution, last: Some(floor - floor.rem_euclid(resolution)) }
    }

    /// The time to use for `wanted` (truncated to the resolution), and whether it moved.
    pub fn assign(&mut self, wanted: i64) -> (i64, bool) {
        let t = wanted - wanted.rem_euclid(self.resolution);
        let t2 = match self.last {
            Some(l) if t <= l => l + self.resolution,
            _ => t,
        };
        self.last = Some(t2);
        (t2, t2 != t)
    }
}

/// Splits text into parts of at most `max_bytes` bytes, at a newline when one is close,
/// else at a space, else at a character boundary. Never splits inside a character.
pub fn split_text(text: &str, max_bytes: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.len() > max_bytes {
        let mut cut = max_bytes;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let window = &rest[..cut];
        let at = window
            .rfind('\n')
            .filter(|&i| i > cut / 2)
            .or_else(|| window.rfind(' ').filter(|&i| i > cut / 2))
            .map(|i| i + 1)
            .unwrap_or(cut);
        parts.push(rest[..at].to_owned());
        rest = &rest[at..];
    }
    parts.push(rest.to_owned());
    parts
}

/// A short lowercase slug of an id for destination ids (`[a-z0-9]`), or a hash when the
/// id has other characters or is long.
pub fn slug(id: &str, max: usize) -> String {
    let lower = id.to_ascii_lowercase();
    if !lower.is_empty()
        && lower.len() <= max
        && lower.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        lower
    } else {
        sha256_hex(id.as_bytes())[..max.min(16)].to_owned()
    }
}

/// A deterministic UUID-shaped id from a seed (for idempotency keys).
pub fn uuid_from(seed: &str) -> String {
    let h = sha256_hex(seed.as_bytes());
    format!("{}-{}-4{}-8{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

/// What planning one conversation produced.
pub struct ConversationPlan {
    /// Containers, with their operations, in order.
    pub containers: Vec<(Container, Vec<Operation>)>,
    /// Report entries.
    pub report: Vec<ReportEntry>,
    /// Source messages considered.
    pub considered: u64,
    /// Source messages carried.
    pub carried: u64,
    /// Source messages dropped.
    pub dropped: u64,
    /// Source messages left out by the filters.
    pub filtered: u64,
    /// Set by [`spill`]: the operations and report are on disk, not in `containers`/`report`.
    pub spilled: Option<Spilled>,
}

/// What [`spill`] wrote for one conversation.
pub struct Spilled {
    /// The operations files, one per container.
    pub files: Vec<chatport_model::DataFile>,
    /// Operations per action type.
    pub by_action: BTreeMap<String, u64>,
    /// Operations written.
    pub operations: u64,
    /// The conversation's report entries, as JSONL, in a scratch file.
    pub report: Option<ReportPart>,
    /// Report entries by (item, outcome, reason).
    pub by_reason: BTreeMap<String, u64>,
}

/// Scratch folder of the plan directory for spilled report entries; removed at the end.
const SPILL: &str = ".report-parts";

fn reason_key(item: &str, outcome: Outcome, reason: &str) -> String {
    let outcome = match outcome {
        Outcome::Altered => "altered",
        Outcome::Dropped => "dropped",
    };
    format!("{item} {outcome} {reason}")
}

/// The summary of a transform, for the CLI.
#[derive(Debug, Clone, Serialize)]
pub struct TransformSummary {
    /// The plan's manifest.
    pub manifest: PlanManifest,
    /// Report entries by (item, outcome, reason).
    pub by_reason: BTreeMap<String, u64>,
}

/// Reads what planning needs from a canonical directory.
pub fn load_context(
    canonical: &Path,
    opts: PlanOptions,
    mapping: Option<Vec<MappingRow>>,
) -> Result<(Context, Vec<Conversation>, String), TransformError> {
    let manifest_path = canonical.join("manifest.json");
    let bytes = std::fs::read(&manifest_path)
        .map_err(|e| TransformError::Manifest { path: manifest_path.clone(), detail: e.to_string() })?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| TransformError::Manifest { path: manifest_path.clone(), detail: e.to_string() })?;
    let blob_sizes = manifest
        .files
        .iter()
        .filter(|f| f.path.starts_with("blobs/"))
        .map(|f| (f.path.clone(), f.bytes))
        .collect();
    let canonical_sha = sha256_hex(&bytes);
    // The files (the largest of these) are read alongside the users and conversations.
    let file_count = manifest.files.iter().find(|f| f.path == "files.jsonl").map_or(0, |f| f.records);
    let read_files = || {
        file_index::FileIndex::build(&canonical.join("files.jsonl"), usize::try_from(file_count).unwrap_or(0))
    };
    let read_rest = || -> Result<(Vec<User>, Vec<Conversation>), TransformError> {
        let users: Vec<User> = read_jsonl(&canonical.join("users.jsonl"))?.collect::<Result<_, _>>()?;
        let conversations: Vec<Conversation> =
            read_jsonl(&canonical.join("conversations.jsonl"))?.collect::<Result<_, _>>()?;
        Ok((users, conversations))
    };
    let (rest, files) = rayon::join(read_rest, read_files);
    let (users, conversations) = rest?;
    let files = files?;
    let mut rows = mapping.unwrap_or_else(|| users::template(&users, &[]));
    if opts.destination == Destination::Chat {
        rules::outsiders_as_app(&mut rows, &rules::workspace_domains(&opts));
    }
    let custom_emoji = match &opts.custom_emoji {
        Some(dir) => custom_emoji::load(canonical, dir, opts.custom_emoji_policy)?,
        None => BTreeMap::new(),
    };
    let ctx = Context {
        opts,
        users: users.into_iter().map(|u| (u.id.clone(), u)).collect(),
        mapping: rows.into_iter().map(|r| (r.source_id.clone(), r)).collect(),
        conversations: conversations.iter().map(|c| (c.id.clone(), c.name.clone())).collect(),
        files,
        blob_sizes,
        custom_emoji,
        out: None,
    };
    Ok((ctx, conversations, canonical_sha))
}

/// Whether the `--channels` filter selects a conversation.
pub fn selected(opts: &PlanOptions, c: &Conversation) -> bool {
    opts.channels.is_empty()
        || opts.channels.iter().any(|f| f == &c.id || Some(f.trim_start_matches('#')) == c.name.as_deref())
}

/// Whether a message time passes `--since`/`--until`.
pub fn in_window(opts: &PlanOptions, micros: i64) -> bool {
    opts.since.is_none_or(|s| micros >= s) && opts.until.is_none_or(|u| micros < u)
}

/// Runs a transform: reads `canonical`, plans every selected conversation for the
/// destination, writes the plan into `out`.
pub fn transform(
    canonical: &Path,
    out: &Path,
    opts: PlanOptions,
    mapping: Option<Vec<MappingRow>>,
) -> Result<TransformSummary, TransformError> {
    let destination = opts.destination;
    let (mut ctx, conversations, canonical_sha) = load_context(canonical, opts, mapping)?;
    prepare_out(out)?;
    ctx.out = Some(out.to_owned());
    let plans: Vec<ConversationPlan> = match destination {
        Destination::Chat => chat::plan(canonical, &ctx, &conversations)?,
        Destination::Teams => teams::plan(canonical, &ctx, &conversations)?,
    };
    ctx.files.check()?;
    write_plan(out, &ctx, plans, canonical_sha)
}

/// Empties the plan files of a previous run from `out` (other files are left alone) and
/// creates it.
fn prepare_out(out: &Path) -> Result<(), TransformError> {
    let io = |e: std::io::Error| TransformError::Output { path: out.to_owned(), source: e };
    for name in ["manifest.json", "containers.jsonl", "report.jsonl"] {
        let p = out.join(name);
        if p.exists() {
            std::fs::remove_file(&p).map_err(io)?;
        }
    }
    for dir in ["ops", SPILL] {
        let p = out.join(dir);
        if p.exists() {
            std::fs::remove_dir_all(&p).map_err(io)?;
        }
    }
    std::fs::create_dir_all(out.join("ops")).map_err(io)?;
    Ok(())
}

fn write_plan(
    out: &Path,
    ctx: &Context,
    plans: Vec<ConversationPlan>,
    canonical_sha: String,
) -> Result<TransformSummary, TransformError> {
    let mut counts = PlanCounts::default();
    let mut files = Vec::new();
    let mut containers_w = DataFileWriter::create(out, "containers.jsonl")?;
    let mut report_w = DataFileWriter::create(out, "report.jsonl")?;
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    // One entry per user who cannot post as themselves: the policy applied to them.
    let mut rows: Vec<&MappingRow> =
        ctx.mapping.values().filter(|r| r.action != UserAction::Author).collect();
    rows.sort_by(|a, b| a.source_id.cmp(&b.source_id));
    let mut user_entries = Vec::new();
    for r in rows {
        let (outcome, reason, what) = match r.action {
            UserAction::Skip => (Outcome::Dropped, "user_skipped", "messages and reactions are not carried"),
            _ => (
                Outcome::Altered,
                "user_as_app",
                "messages are posted by the app with an attribution line; reactions are not carried",
            ),
        };
        user_entries.push(ReportEntry {
            item: "user".into(),
            outcome,
            reason: reason.into(),
            conversation: None,
            ts: None,
            operation: None,
            detail: format!("{} {} ({}): {what}", r.source_id, r.display_name, kind_name(r.kind)),
        });
    }
    user_entries.extend(rules::non_aad_author_entries(ctx));
    if ctx.opts.destination == Destination::Chat
        && ctx.opts.custom_emoji_policy == custom_emoji::CustomEmojiPolicy::Image
    {
        user_entries.push(ReportEntry {
            item: "emoji".into(),
            outcome: Outcome::Altered,
            reason: "custom_emoji_image_not_importable".into(),
            conversation: None,
            ts: None,
            operation: None,
            detail: "--custom-emoji-policy image: Google Chat message text cannot hold an inline image, so \
                     custom emoji stay `:name:` text (each reported as custom_emoji_as_text)"
                .into(),
        });
    }
    let global = ConversationPlan {
        containers: Vec::new(),
        report: user_entries,
        considered: 0,
        carried: 0,
        dropped: 0,
        filtered: 0,
        spilled: None,
    };
    for plan in std::iter::once(global).chain(plans) {
        counts.source_messages += plan.considered;
        counts.messages_carried += plan.carried;
        counts.messages_dropped += plan.dropped;
        counts.messages_filtered += plan.filtered;
        if let Some(sp) = plan.spilled {
            for (action, n) in sp.by_action {
                *counts.by_action.entry(action).or_default() += n;
            }
            counts.operations += sp.operations;
            counts.containers += plan.containers.len() as u64;
            files.extend(sp.files);
            for (container, _) in &plan.containers {
                containers_w.write(container)?;
            }
            for (reason, n) in sp.by_reason {
                *by_reason.entry(reason).or_default() += n;
            }
            if let Some(part) = sp.report {
                copy_lines(&part, &mut report_w)?;
            }
            continue;
        }
        for (container, ops) in plan.containers {
            let mut w = DataFileWriter::create(out, &container.ops_path)?;
            for op in &ops {
                *counts.by_action.entry(op.action.name().to_owned()).or_default() += 1;
                w.write(op)?;
            }
            counts.operations += ops.len() as u64;
            files.push(w.finish()?);
            containers_w.write(&container)?;
            counts.containers += 1;
        }
        for e in plan.report {
            *by_reason.entry(reason_key(&e.item, e.outcome, &e.reason)).or_default() += 1;
            report_w.write(&e)?;
        }
    }
    counts.report_entries = report_w.records();
    let spill_dir = out.join(SPILL);
    if spill_dir.exists() {
        std::fs::remove_dir_all(&spill_dir)
            .map_err(|e| TransformError::Output { path: spill_dir, source: e })?;
    }
    files.push(containers_w.finish()?);
    files.push(report_w.finish()?);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let manifest = PlanManifest {
        format_version: PLAN_FORMAT_VERSION,
        destination: ctx.opts.destination,
        canonical_sha256: canonical_sha,
        options: serde_json::to_value(&ctx.opts).unwrap_or_default(),
        counts,
        files,
    };
    write_json_file(out, "manifest.json", &manifest)?;
    Ok(TransformSummary { manifest, by_reason })
}

/// Appends the lines of a scratch report file to a plan file, a bounded chunk at a time.
fn copy_lines(part: &ReportPart, w: &mut DataFileWriter) -> Result<(), TransformError> {
    use std::io::Read;
    let path = &part.path;
    let io = |e: std::io::Error| TransformError::Output { path: path.clone(), source: e };
    let mut file = std::fs::File::open(path).map_err(io)?;
    const CHUNK: usize = 1 << 20;
    let mut buf = vec![0u8; CHUNK];
    // Bytes at the front of `buf` that follow the last whole line written.
    let mut carry = 0;
    loop {
        let n = file.read(&mut buf[carry..]).map_err(io)?;
        let filled = carry + n;
        if n == 0 {
            if filled > 0 {
                return Err(io(std::io::Error::other("the scratch report does not end with a newline")));
            }
            break;
        }
        match buf[..filled].iter().rposition(|&b| b == b'\n') {
            Some(last) => {
                w.write_lines(&buf[..=last], 0)?;
                buf.copy_within(last + 1..filled, 0);
                carry = filled - last - 1;
            }
            None if filled == buf.len() => buf.resize(buf.len() * 2, 0),
            None => carry = filled,
        }
    }
    // The lines were counted as they were written.
    w.write_lines(&[], part.entries)?;
    Ok(())
}

fn kind_name(k: users::UserKind) -> &'static str {
    match k {
        users::UserKind::Member => "member",
        users::UserKind::Guest => "guest",
        users::UserKind::External => "external",
        users::UserKind::Deactivated => "deactivated",
        users::UserKind::Bot => "bot",
        users::UserKind::Unknown => "not in users.json",
    }
}

/// Plans the selected conversations in parallel with `plan_one`, keeping the input order;
/// the first failing conversation in that order decides the error, so it does not depend
/// on scheduling.
///
/// The largest conversations (by messages file size under `canonical`) are started first
/// and each worker takes the next one when it is free, so the run does not end with one
/// worker planning a large conversation while the others idle. The order of work does not
/// change any output: each conversation is planned on its own and results are kept by
/// position.
pub fn plan_all<T, F>(
    canonical: &Path,
    conversations: &[Conversation],
    ctx: &Context,
    plan_one: F,
) -> Result<Vec<T>, TransformError>
where
    T: Send,
    F: Fn(&Conversation) -> Result<T, TransformError> + Sync,
{
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let chosen: Vec<&Conversation> = conversations.iter().filter(|c| selected(&ctx.opts, c)).collect();
    let mut order: Vec<(u64, usize)> = chosen
        .iter()
        .enumerate()
        .map(|(i, c)| (std::fs::metadata(canonical.join(&c.messages_path)).map_or(0, |m| m.len()), i))
        .collect();
    order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let slots: Vec<Mutex<Option<Result<T, TransformError>>>> =
        chosen.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let work = || loop {
        let k = next.fetch_add(1, Ordering::Relaxed);
        let Some(&(_, i)) = order.get(k) else { break };
        let result = plan_one(chosen[i]);
        *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
    };
    let workers = rayon::current_num_threads().min(chosen.len()).max(1);
    rayon::scope(|s| {
        for _ in 1..workers {
            s.spawn(|_| work());
        }
        work();
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or_else(|| Err(TransformError::Options("a conversation was not planned".into())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_nudges_collisions_forward() {
        let mut t = Timeline::new(1000, 5_000);
        assert_eq!(t.assign(10_100), (10_000, false), "truncation to the ms is not a move");
        assert_eq!(t.assign(10_400), (11_000, true), "same ms: nudged");
        assert_eq!(t.assign(10_900), (12_000, true));
        assert_eq!(t.assign(50_000), (50_000, false));
        let mut t = Timeline::new(1, 0);
        assert_eq!(t.assign(0), (1, true), "strictly after the floor");
    }

    #[test]
    fn split_respects_bytes_and_chars() {
        let text = "é".repeat(10);
        let parts = split_text(&text, 5);
        assert!(parts.iter().all(|p| p.len() <= 5));
        assert_eq!(parts.concat(), text);
        let parts = split_text("line one\nline two\nline three", 20);
        assert_eq!(parts[0], "line one\nline two\n");
    }

    #[test]
    fn borrowed_views_write_the_model_records_byte_for_byte() {
        let id = OperationId("space-c1/msg/1.000001".into());
        let action = Action::ChatCompleteImport;
        let actor = Actor::User { id: "u@corp.example".into() };
        for (conversation, ts, primary) in
            [(Some("C1"), Some("1.000001"), true), (Some("C1"), None, false), (None, None, false)]
        {
            let model = Operation {
                id: id.clone(),
                seq: 7,
                container: "space-c1".into(),
                actor: actor.clone(),
                action: action.clone(),
                source: conversation.map(|c| OpSource {
                    conversation: c.into(),
                    ts: ts.map(str::to_owned),
                    primary,
                }),
            };
            let view = OpOut {
                id: &id,
                seq: 7,
                container: "space-c1",
                actor: &actor,
                action: &action,
                source: conversation.map(|conversation| SourceOut { conversation, ts, primary }),
            };
            assert_eq!(serde_json::to_string(&model).unwrap(), serde_json::to_string(&view).unwrap());
        }
        for (ts, op) in [(Some("1.5"), Some(&id)), (None, None)] {
            let model = ReportEntry {
                item: "message".into(),
                outcome: Outcome::Altered,
                reason: "split".into(),
                conversation: Some("C1".into()),
                ts: ts.map(str::to_owned),
                operation: op.cloned(),
                detail: "d \"q\"".into(),
            };
            let view = EntryOut {
                item: "message",
                outcome: Outcome::Altered,
                reason: "split",
                conversation: Some("C1"),
                ts,
                operation: op,
                detail: "d \"q\"",
            };
            assert_eq!(serde_json::to_string(&model).unwrap(), serde_json::to_string(&view).unwrap());
        }
    }

    #[test]
    fn slugs_and_uuids() {
        assert_eq!(slug("C01GENERAL", 20), "c01general");
        assert_eq!(slug("общий", 12).len(), 12);
        let u = uuid_from("x");
        assert_eq!(u.len(), 36);
        assert_eq!(u, uuid_from("x"));
    }
}

/// Who a carried message is posted as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poster {
    /// As the mapped user (`target`).
    User {
        /// Source user id.
        source: String,
        /// Destination identity.
        target: String,
    },
    /// As the app or fallback account, with an attribution line naming `label`.
    App {
        /// The name shown in the attribution line.
        label: String,
    },
}

/// What to do with one source message.
pub enum Decision {
    /// Carry it, posted by `poster`; `note` is an alteration to report.
    Carry {
        /// Who posts it.
        poster: Poster,
        /// The body.
        doc: crate::markup::Document,
        /// Alterations to report: `(reason, detail)`.
        notes: Vec<(&'static str, String)>,
    },
    /// Drop it, with a reason.
    Drop {
        /// Reason code.
        reason: &'static str,
        /// Explanation.
        detail: String,
    },
}

/// The document of a message body: its `rich_text` blocks when it has them (the more exact
/// source), else its mrkdwn text.
pub fn body_document(msg: &Message) -> crate::markup::Document {
    msg.body
        .blocks
        .as_ref()
        .and_then(crate::markup::parse_rich_text)
        .unwrap_or_else(|| crate::markup::parse_mrkdwn(&msg.body.text))
}

/// Decides how to carry a message, independent of the destination: authorship by the
/// user mapping, system events, tombstones (a placeholder when replies hang on them), bot
/// and `/me` messages, unknown subtypes, and legacy attachments as quoted text.
pub fn decide(ctx: &Context, msg: &Message, has_replies: bool) -> Decision {
    use crate::markup::{Block, Document, Inline};
    use chatport_model::MessageKind;
    let mut notes: Vec<(&'static str, String)> = Vec::new();
    match msg.kind {
        MessageKind::System => {
            let st = msg.subtype.clone().unwrap_or_default();
            return if matches!(st.as_str(), "channel_join" | "channel_leave" | "group_join" | "group_leave") {
                Decision::Drop {
                    reason: "membership_event",
                    detail: rules::membership_event_detail(ctx.opts.destination, &st),
                }
            } else {
                Decision::Drop {
                    reason: "system_event",
                    detail: format!("`{st}` events have no destination equivalent"),
                }
            };
        }
        MessageKind::Tombstone => {
            if !has_replies {
                return Decision::Drop { reason: "deleted_message", detail: "deleted on the source".into() };
            }
            let doc = Document {
                blocks: vec![Block::Paragraph(vec![Inline::Italic(vec![Inline::Text(
                    "This message was deleted.".into(),
                )])])],
            };
            return Decision::Carry {
                poster: Poster::App { label: "Deleted message".into() },
                doc,
                notes: vec![(
                    "tombstone_placeholder",
                    "a placeholder keeps the thread's replies together".into(),
                )],
            };
        }
        MessageKind::Unknown
            if msg.body.text.trim().is_empty() && msg.body.blocks.is_none() && msg.files.is_empty() =>
        {
            return Decision::Drop {
                reason: "unknown_subtype",
                detail: format!("subtype `{}` with no text", msg.subtype.as_deref().unwrap_or("")),
            };
        }
        MessageKind::Unknown => {
            notes.push((
                "unknown_subtype",
                format!("subtype `{}` carried as a plain message", msg.subtype.as_deref().unwrap_or("")),
            ));
        }
        _ => {}
    }
    let poster = if msg.kind == MessageKind::Bot {
        let label = msg
            .bot
            .as_ref()
            .and_then(|b| b.username.clone().or_else(|| b.bot_id.clone()))
            .or_else(|| msg.author.as_ref().map(|a| ctx.name_of(a)))
            .unwrap_or_else(|| "bot".into());
        notes.push(("bot_as_app", format!("bot message posted by the app, attributed to {label}")));
        Poster::App { label: format!("{label} (bot)") }
    } else if let Some(author) = &msg.author {
        let row = ctx.who(author);
        match row.action {
            UserAction::Author => Poster::User { source: author.clone(), target: row.target.clone() },
            UserAction::App => {
                notes.push((
                    "posted_as_app",
                    format!("{} ({:?}) has no destination account", row.display_name, row.kind),
                ));
                Poster::App { label: row.display_name.clone() }
            }
            UserAction::Skip => {
                return Decision::Drop {
                    reason: "author_skipped",
                    detail: format!("the mapping skips {author}"),
                };
            }
        }
    } else {
        notes.push(("no_author", "the source gives no author".into()));
        Poster::App { label: "Unknown author".into() }
    };
    let mut doc = body_document(msg);
    if msg.kind == MessageKind::Me {
        let name = msg.author.as_ref().map(|a| ctx.name_of(a)).unwrap_or_default();
        match doc.blocks.first_mut() {
            Some(Block::Paragraph(inlines)) => {
                let mut content = vec![Inline::Text(format!("{name} "))];
                content.append(inlines);
                *inlines = vec![Inline::Italic(content)];
            }
            _ => doc.blocks.insert(0, Block::Paragraph(vec![Inline::Italic(vec![Inline::Text(name)])])),
        }
    }
    if let Some(serde_json::Value::Array(atts)) = &msg.attachments {
        for a in atts {
            let text_of = |k: &str| a.get(k).and_then(serde_json::Value::as_str).filter(|s| !s.is_empty());
            let mut quoted = Vec::new();
            if let Some(pre) = text_of("pretext") {
                quoted.extend(crate::markup::parse_mrkdwn(pre).blocks);
            }
            if let Some(title) = text_of("title") {
                let label = vec![Inline::Bold(vec![Inline::Text(title.to_owned())])];
                let inline = match text_of("title_link") {
                    Some(url) => Inline::Link { url: url.to_owned(), label },
                    None => Inline::Bold(vec![Inline::Text(title.to_owned())]),
                };
                quoted.push(Block::Paragraph(vec![inline]));
            }
            if let Some(t) = text_of("text") {
                quoted.extend(crate::markup::parse_mrkdwn(t).blocks);
            }
            if quoted.is_empty() {
                if let Some(f) = text_of("fallback") {
                    quoted.push(Block::Paragraph(vec![Inline::Text(f.to_owned())]));
                }
            }
            if !quoted.is_empty() {
                doc.blocks.push(Block::Quote(quoted));
                notes.push((
                    "legacy_attachment_as_text",
                    "a legacy attachment or unfurl rendered as quoted text".into(),
                ));
            }
        }
    }
    if let Poster::App { label } = &poster {
        doc.blocks.insert(0, Block::Paragraph(vec![Inline::Bold(vec![Inline::Text(format!("{label}:"))])]));
    }
    Decision::Carry { poster, doc, notes }
}

/// A paragraph noting a file that is not carried.
pub fn file_note(name: &str, why: &str) -> crate::markup::Block {
    use crate::markup::{Block, Inline};
    Block::Paragraph(vec![Inline::Italic(vec![Inline::Text(format!("[file not carried: {name} ({why})]"))])])
}

/// Why a file's content cannot be carried, if it cannot.
pub fn file_unavailable(f: &FileRecord) -> Option<&'static str> {
    use chatport_model::FileState;
    match f.state {
        FileState::Present if f.blob.is_some() && f.sha256.is_some() => None,
        FileState::Present => Some("content missing"),
        FileState::RemoteOnly => Some("content not in the export"),
        FileState::HiddenByLimit => Some("hidden by the source plan's history limit"),
        FileState::Tombstoned => Some("deleted on the source"),
    }
}

/// The blob reference of a present file.
pub fn blob_of(ctx: &Context, f: &FileRecord) -> Option<chatport_model::plan::BlobRef> {
    let path = f.blob.clone()?;
    Some(chatport_model::plan::BlobRef {
        bytes: *ctx.blob_sizes.get(&path)?,
        path,
        sha256: f.sha256.clone()?,
        filename: f.name.clone().or_else(|| f.title.clone()).unwrap_or_else(|| f.id.clone()),
        content_type: f.mimetype.clone().unwrap_or_else(|| "application/octet-stream".into()),
    })
}
