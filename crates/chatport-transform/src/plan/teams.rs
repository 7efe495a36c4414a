//! The Microsoft Teams planner: Graph migration mode, one workspace team plus a team of its
//! own for every private conversation.
//!
//! Owns the Teams rules (api-spec.md Parts B and C); reading the canonical directory, the
//! report, the timeline and authorship decisions live in the parent module. It does no I/O
//! beyond reading messages through the parent's helpers.
//!
//! - **Containers.** Public channels become channels of one workspace team named
//!   `--team-name` (`#general` becomes the team's General channel). Private channels, group
//!   DMs and DMs, which a channel of a shared team would expose to every team member, each
//!   get a team of their own whose General channel carries the messages, or are skipped
//!   (`--private-policy skip`, every message reported). A team and each of its channels are
//!   separate containers; a channel's `parent` is its team. A team container holds
//!   `TeamsCreateTeam`, then (completion phase) `TeamsCompleteTeam` and `TeamsAddMember`
//!   for current members with a mapped account; a channel container holds
//!   `TeamsCreateChannel` or `TeamsUseGeneralChannel`, the messages, then
//!   `TeamsCompleteChannel`. The workspace team's General channel is always used and
//!   completed (a team cannot complete while General is in migration mode): when no
//!   selected conversation maps to it, an empty container does it
//!   ([`super::rules::empty_general_channel`]).
//! - **Names.** Channel names are cut to 50 characters, `~ # % & * { } + / \ : < > ? | ' "`
//!   and control characters become `-`, no leading `_`/`.`, no trailing `.`, never
//!   "General" for another channel, unique case-insensitively (` (2)`, ` (3)`…). Every
//!   change is reported (`channel_renamed`).
//! - **Times.** A channel's `createdDateTime` is one second before its first record (the
//!   source creation or first message), on a whole second; the workspace team's is the
//!   earliest of its channels' (so the General channel, created with the team, precedes its
//!   messages). Messages get millisecond times, strictly increasing per channel (so unique,
//!   after their thread root, after the channel); Slack `ts` colliding at the millisecond are
//!   nudged forward and reported (`create_time_adjusted`). Nothing is dated after
//!   [`super::PlanOptions::latest`]: a message dated later (or so close to it that the
//!   messages after it would not fit) is moved back just enough, and reported too.
//! - **Messages.** [`super::decide`] gives the poster and the document. A mapped author
//!   whose target is an AAD object id (a GUID) is named in `from`; a target that is not
//!   one (an e-mail, as the template proposes) cannot be a `from.user.id`, so that author is
//!   treated as unmapped (`author_not_aad_object_id`, see [`super::rules::require_aad_author`]);
//!   `--fallback-user` must itself be an object id. Member adds accept a UPN as well.
//!   Anyone else is posted as `--fallback-user` under the attribution line
//!   `decide` adds. Replies to a carried root are replies; a reply whose root is not carried
//!   starts the thread itself (the thread's next replies attach to it), reported
//!   `orphan_reply` (each of them); thread broadcasts are replies (`broadcast_as_reply`).
//!   Edited messages carry their final text (the canonical body); tombstones, system, bot
//!   and `/me` messages follow `decide`. Mentions are text (renderer notes, reported as
//!   `markup`). Reactions cannot be imported: a footer paragraph counts them, one
//!   `reaction_as_footer` entry per (message, emoji, user).
//! - **Files.** Images (not SVG) up to `--max-inline-image-bytes`, at most
//!   [`MAX_HOSTED_CONTENTS`] per message, go inline as `hostedContents`; other present files
//!   are uploaded to the channel's files folder before the message (`TeamsUploadFile`) and
//!   referenced by `<attachment id="{upload op id}">`; missing contents get a note in the
//!   text and a `file_not_carried` entry.
//! - **Size.** A body whose request would exceed [`MESSAGE_LIMIT`] is split by the shared
//!   splitter (`render_teams_parts`: between blocks, lines, items or words, never inside a
//!   tag); the parts after the first are replies in the same thread (`split`).
//!
//! Operation ids are `<container>/create|general|complete|add/<user>` and
//! `<container>/msg/<ts>[/upload/<file>|/part/<n>]`: derived from source ids only.

use super::custom_emoji::{self, CustomEmojiPolicy};
use super::stream::{self, Messages, Presence};
use super::{
    assemble, blob_of, decide, file_note, file_unavailable, ops_path, plan_all, selected, slug, Context,
    ConversationPlan, Decision, Directory, Made, OpList, Poster, PrivatePolicy, Report, Timeline,
    TransformError,
};
use crate::markup::{render_teams, render_teams_parts, Document, MentionResolver, ResolvedUser};
use crate::users::UserAction;
use chatport_model::jsonl::sha256_hex;
use chatport_model::plan::{
    Action, Actor, BlobRef, Container, ContainerKind, HostedContent, OperationId, Outcome, ReportEntry,
};
use chatport_model::ts::format_rfc3339;
use chatport_model::{Conversation, ConversationKind, Message};
use html_escape::{encode_double_quoted_attribute, encode_text};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

/// The documented size limit of an imported message (the whole request, without the
/// base64 of its hostedContents).
pub const MESSAGE_LIMIT: usize = 28_000;
/// The request bytes reserved for everything but the body content (`from`,
/// `createdDateTime`, JSON punctuation).
pub const ENVELOPE_RESERVE: usize = 1_000;
/// The request bytes reserved for each `reference` attachment the loader adds (id, URL
/// and name of the uploaded file).
pub const FILE_RESERVE: usize = 600;
/// Inline images per message (the emulator's and the recommended cap).
pub const MAX_HOSTED_CONTENTS: usize = 10;
/// Longest channel display name.
pub const CHANNEL_NAME_MAX: usize = 50;
/// Longest team display name.
pub const TEAM_NAME_MAX: usize = 256;
/// Longest team or channel description.
pub const DESCRIPTION_MAX: usize = 1024;
/// Characters a channel name cannot hold.
pub const FORBIDDEN_CHANNEL_CHARS: &[char] =
    &['~', '#', '%', '&', '*', '{', '}', '+', '/', '\\', ':', '<', '>', '?', '|', '\'', '"'];
/// Container id of the workspace team.
pub const WORKSPACE_TEAM: &str = "workspace-team";

const SECOND: i64 = 1_000_000;
const GRAPH_USERS: &str = "https://graph.microsoft.com/v1.0/users";
const STANDARD_TEMPLATE: &str = "https://graph.microsoft.com/v1.0/teamsTemplates('standard')";

/// Where a carried conversation goes (a skipped one has none).
enum Place {
    /// A channel of the workspace team (the team's General channel when `general`).
    Workspace { name: String, general: bool },
    /// A team of its own, messages in its General channel.
    OwnTeam,
}

/// A planned conversation and, for a workspace channel, its creation time (the team's
/// time is the earliest of them).
struct Planned {
    plan: ConversationPlan,
    workspace_time: Option<i64>,
    general: bool,
}

/// Plans every selected conversation: the workspace team first (when a public channel is
/// selected), then each conversation's containers in input order.
pub fn plan(
    canonical: &Path,
    ctx: &Context,
    conversations: &[Conversation],
) -> Result<Vec<ConversationPlan>, TransformError> {
    if ctx.opts.fallback_user.as_deref().is_some_and(|f| f.trim().is_empty()) {
        return Err(TransformError::Options("--fallback-user must not be empty".into()));
    }
    if let Some(f) = ctx.opts.fallback_user.as_deref().filter(|f| !super::rules::is_guid(f)) {
        return Err(TransformError::Options(format!(
            "--fallback-user {f:?} is not an AAD object id: Teams needs the account's object id (a GUID such \
             as 6f4b2a1e-0000-4000-8000-000000000001), not its e-mail or UPN"
        )));
    }
    let public: Vec<&Conversation> = conversations
        .iter()
        .filter(|c| selected(&ctx.opts, c) && c.kind == ConversationKind::PublicChannel)
        .collect();
    if !public.is_empty() && ctx.opts.team_name.trim().is_empty() {
        return Err(TransformError::Options("--team-name must not be empty".into()));
    }
    // Names are decided over every public channel, selected or not, so that a pilot run on a
    // few channels names them as the full run will.
    let all_public: Vec<&Conversation> =
        conversations.iter().filter(|c| c.kind == ConversationKind::PublicChannel).collect();
    let (general, names) = channel_names(&all_public);
    let place = |c: &Conversation| match c.kind {
        ConversationKind::PublicChannel => Some(Place::Workspace {
            name: names.get(&c.id).cloned().unwrap_or_else(|| c.id.clone()),
            general: general.as_deref() == Some(c.id.as_str()),
        }),
        _ if ctx.opts.private_policy == PrivatePolicy::Skip => None,
        _ => Some(Place::OwnTeam),
    };
    let mut planned: Vec<Planned> =
        plan_all(canonical, conversations, ctx, |c| plan_conversation(ctx, canonical, c, place(c).as_ref()))?;
    let mut out = Vec::with_capacity(planned.len() + 1);
    if let Some(team_time) =
        planned.iter().filter_map(|p| p.workspace_time).min().map(|t| super::rules::team_time(t, &all_public))
    {
        // The General channel exists from the team's creation: it carries the team's time.
        for p in planned.iter_mut().filter(|p| p.general) {
            for (container, _) in &mut p.plan.containers {
                container.create_time = format_rfc3339(team_time, 3);
            }
        }
        out.push(workspace_team(ctx, &public, team_time));
        if !planned.iter().any(|p| p.general) {
            out.push(super::rules::empty_general_channel(team_time));
        }
    }
    out.extend(planned.into_iter().map(|p| p.plan));
    Ok(out)
}

/// The General channel among the public channels (the one flagged `is_general`, else the
/// one named `general`) and a valid, unique name for every other one.
fn channel_names(public: &[&Conversation]) -> (Option<String>, HashMap<String, String>) {
    let general = public
        .iter()
        .find(|c| c.is_general)
        .or_else(|| {
            public.iter().find(|c| c.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case("general")))
        })
        .map(|c| c.id.clone());
    let mut used: BTreeSet<String> = BTreeSet::from(["general".to_owned()]);
    let mut names = HashMap::new();
    for c in public {
        if general.as_deref() == Some(c.id.as_str()) {
            names.insert(c.id.clone(), "General".to_owned());
            continue;
        }
        let base = channel_name(c.name.as_deref().unwrap_or(&c.id), &c.id);
        let mut name = base.clone();
        let mut n = 2;
        while used.contains(&name.to_lowercase()) {
            let suffix = format!(" ({n})");
            let stem: String = base.chars().take(CHANNEL_NAME_MAX - suffix.chars().count()).collect();
            name = format!("{}{suffix}", stem.trim_end_matches(|ch: char| ch == '.' || ch.is_whitespace()));
            n += 1;
        }
        used.insert(name.to_lowercase());
        names.insert(c.id.clone(), name);
    }
    (general, names)
}

/// `raw` made valid as a Teams channel name (not yet unique); `fallback` when nothing is
/// left of it.
pub fn channel_name(raw: &str, fallback: &str) -> String {
    let clean = |s: &str| -> String {
        let replaced: String = s
            .chars()
            .map(|c| if FORBIDDEN_CHANNEL_CHARS.contains(&c) || c.is_control() { '-' } else { c })
            .collect();
        let trimmed = replaced.trim().trim_start_matches(['_', '.']).trim_start();
        let cut: String = trimmed.chars().take(CHANNEL_NAME_MAX).collect();
        cut.trim_end_matches(|c: char| c == '.' || c.is_whitespace()).to_owned()
    };
    let name = clean(raw);
    if !name.is_empty() {
        return name;
    }
    let name = clean(fallback);
    if name.is_empty() {
        "channel".to_owned()
    } else {
        name
    }
}

/// The body of `POST /teams` in migration mode.
fn team_body(name: &str, description: &str, time: i64) -> Value {
    json!({
        "@microsoft.graph.teamCreationMode": "migration",
        "template@odata.bind": STANDARD_TEMPLATE,
        "displayName": name,
        "description": description,
        "createdDateTime": format_rfc3339(time, 3),
    })
}

/// The body of `POST /teams/{id}/members` for a mapped user, as an owner or a member.
fn member_body(target: &str, owner: bool) -> Value {
    let roles: &[&str] = if owner { &["owner"] } else { &[] };
    json!({
        "@odata.type": "#microsoft.graph.aadUserConversationMember",
        "roles": roles,
        // An OData string literal: a quote in a UPN doubles.
        "user@odata.bind": format!("{GRAPH_USERS}('{}')", target.replace('\'', "''")),
    })
}

/// The mapped destination account of a source user, if they post as themselves.
fn mapped(ctx: &Context, user: &str) -> Option<String> {
    let row = ctx.mapping.get(user)?;
    (row.action == UserAction::Author && !row.target.is_empty()).then(|| row.target.clone())
}

/// Current members of a conversation: the metadata's list plus open membership intervals.
fn current_members(c: &Conversation) -> BTreeSet<String> {
    c.members
        .iter()
        .cloned()
        .chain(c.memberships.iter().filter(|m| m.left.is_none()).map(|m| m.user.clone()))
        .collect()
}

/// Whether the source workspace made a user an owner or admin (Slack's `is_owner`,
/// `is_admin`, `is_primary_owner`, kept in the canonical user's `extra`).
fn slack_admin(ctx: &Context, user: &str) -> bool {
    ctx.users.get(user).is_some_and(|u| {
        ["is_primary_owner", "is_owner", "is_admin"]
            .iter()
            .any(|k| u.extra.get(*k).and_then(Value::as_bool) == Some(true))
    })
}

/// The destination accounts of `--team-owner`: a source user id is mapped through the user
/// mapping (left out, with a note, when it has no account); anything else is taken as a
/// destination account (UPN or object id). In flag order, without repeats.
fn flag_owners(ctx: &Context, notes: &mut Vec<TeamNote>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for o in ctx.opts.team_owners.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
        let target = match ctx.mapping.get(o) {
            Some(_) => match mapped(ctx, o) {
                Some(t) => t,
                None => {
                    let detail = format!("--team-owner {o} ({}) has no destination account", ctx.name_of(o));
                    notes.push(TeamNote { reason: "owner_unmapped", outcome: Outcome::Dropped, detail });
                    continue;
                }
            },
            None => o.to_owned(),
        };
        if !out.contains(&target) {
            out.push(target);
        }
    }
    out
}

/// A report entry of a team's completion: `(reason, outcome, detail)`.
struct TeamNote {
    reason: &'static str,
    outcome: Outcome,
    detail: String,
}

/// Adds completion and member operations to a team's list, owners (`roles: ["owner"]`)
/// among them: every member in `owners` (source ids), then the destination accounts in
/// `extra_owners` that no member maps to. Returns report notes: members left out, and a
/// team left without an owner.
fn complete_team(
    ctx: &Context,
    team: &mut OpList,
    members: &BTreeSet<String>,
    owners: &BTreeSet<String>,
    extra_owners: &[String],
) -> Vec<TeamNote> {
    let base = team.container.clone();
    team.push(format!("{base}/complete"), Actor::App, Action::TeamsCompleteTeam, None, false);
    let mut notes = Vec::new();
    let mut added = BTreeSet::new();
    let owner_targets: BTreeSet<String> =
        owners.iter().filter_map(|o| mapped(ctx, o)).chain(extra_owners.iter().cloned()).collect();
    for user in members {
        match mapped(ctx, user) {
            // Two source accounts mapped to one destination user are added once.
            Some(target) if !added.insert(target.clone()) => {}
            Some(target) => {
                let owner = owner_targets.contains(&target);
                team.push(
                    format!("{base}/add/{user}"),
                    Actor::App,
                    Action::TeamsAddMember { member: member_body(&target, owner) },
                    None,
                    false,
                );
            }
            None => notes.push(TeamNote {
                reason: "member_unmapped",
                outcome: Outcome::Dropped,
                detail: format!("current member {} ({user}) has no destination account", ctx.name_of(user)),
            }),
        }
    }
    // Owners who are not members of the conversations: Slack admins, `--team-owner`.
    let others = owners
        .iter()
        .filter(|o| !members.contains(*o))
        .filter_map(|o| mapped(ctx, o).map(|t| (o.clone(), t)));
    let extra = extra_owners.iter().map(|t| (format!("owner/{}", id_part(t)), t.clone()));
    for (key, target) in others.map(|(o, t)| (format!("add/{o}"), t)).chain(extra) {
        if !added.insert(target.clone()) {
            continue;
        }
        team.push(
            format!("{base}/{key}"),
            Actor::App,
            Action::TeamsAddMember { member: member_body(&target, true) },
            None,
            false,
        );
    }
    if owner_targets.is_empty() {
        notes.push(TeamNote {
            reason: "team_without_owner",
            outcome: Outcome::Altered,
            detail:
                "no owner could be determined (no mapped Slack owner or admin, no --team-owner): the team \
                     ends without an owner; add one in the Teams admin center"
                    .into(),
        });
    }
    notes
}

/// Owners of a conversation's own team: its mapped members who are Slack owners or admins,
/// and its creator when a mapped member; else its first mapped member (by source id); else
/// the `--team-owner` accounts, who then gain access to the conversation. Each fallback is
/// reported.
fn own_team_owners(
    ctx: &Context,
    conv: &Conversation,
    members: &BTreeSet<String>,
) -> (BTreeSet<String>, Vec<String>, Vec<TeamNote>) {
    let mut notes = Vec::new();
    let with_account: Vec<&String> = members.iter().filter(|m| mapped(ctx, m).is_some()).collect();
    let mut owners: BTreeSet<String> = with_account
        .iter()
        .filter(|m| slack_admin(ctx, m) || conv.creator.as_deref() == Some(m.as_str()))
        .map(|m| (*m).clone())
        .collect();
    if owners.is_empty() {
        if let Some(first) = with_account.first() {
            let detail = format!(
                "no member is a Slack owner, admin or the creator: {} ({first}) is made the team's owner",
                ctx.name_of(first)
            );
            notes.push(TeamNote { reason: "owner_assigned", outcome: Outcome::Altered, detail });
            owners.insert((*first).clone());
        }
    }
    let mut extra = Vec::new();
    if owners.is_empty() {
        extra = flag_owners(ctx, &mut notes);
        if !extra.is_empty() {
            let detail = format!(
                "no member has a destination account: --team-owner {} own the team and can read the conversation",
                extra.join(", ")
            );
            notes.push(TeamNote { reason: "owner_from_flag", outcome: Outcome::Altered, detail });
        }
    }
    (owners, extra, notes)
}

/// The workspace team's container: creation at `time`, completion, current members of its
/// selected channels.
fn workspace_team(ctx: &Context, public: &[&Conversation], time: i64) -> ConversationPlan {
    let mut team = OpList::new(WORKSPACE_TEAM.to_owned(), None);
    let name: String = ctx
        .opts
        .team_name
        .trim()
        .chars()
        .take(super::rules::room_for_name(&ctx.opts, TEAM_NAME_MAX))
        .collect();
    let name = super::rules::affixed(&name, &ctx.opts);
    team.push(
        format!("{WORKSPACE_TEAM}/create"),
        Actor::App,
        Action::TeamsCreateTeam { team: team_body(&name, "Channels migrated from Slack by chatport", time) },
        None,
        false,
    );
    let members: BTreeSet<String> = public.iter().flat_map(|c| current_members(c)).collect();
    // Owners: the workspace's owners and admins who have an account, and `--team-owner`.
    let mut notes = Vec::new();
    let extra = flag_owners(ctx, &mut notes);
    let mut admins: Vec<&String> = ctx.users.keys().filter(|u| slack_admin(ctx, u)).collect();
    admins.sort();
    let owners: BTreeSet<String> = admins.into_iter().filter(|u| mapped(ctx, u).is_some()).cloned().collect();
    notes.extend(complete_team(ctx, &mut team, &members, &owners, &extra));
    let report = notes
        .into_iter()
        .map(|n| ReportEntry {
            item: if n.reason == "member_unmapped" { "membership" } else { "team" }.into(),
            outcome: n.outcome,
            reason: n.reason.into(),
            conversation: None,
            ts: None,
            operation: None,
            detail: if n.reason == "member_unmapped" {
                format!("{}: not added to the workspace team", n.detail)
            } else {
                format!("workspace team: {}", n.detail)
            },
        })
        .collect();
    let container = Container {
        id: WORKSPACE_TEAM.to_owned(),
        kind: ContainerKind::TeamsTeam,
        parent: None,
        conversation: None,
        display_name: name,
        create_time: format_rfc3339(time, 3),
        ops_path: format!("ops/{WORKSPACE_TEAM}.jsonl"),
        op_count: team.ops.len() as u64,
        message_count: 0,
    };
    ConversationPlan {
        containers: vec![(container, team.ops)],
        report,
        considered: 0,
        carried: 0,
        dropped: 0,
        filtered: 0,
        spilled: None,
    }
}

/// The display name of a conversation's own team.
fn own_team_name(ctx: &Context, c: &Conversation) -> String {
    let name = match c.kind {
        ConversationKind::Dm | ConversationKind::GroupDm => {
            let mut names: Vec<String> = c.members.iter().map(|m| ctx.name_of(m)).collect();
            names.sort();
            if names.is_empty() {
                format!("DM {}", c.id)
            } else {
                format!("DM: {}", names.join(", "))
            }
        }
        _ => c.name.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| c.id.clone()),
    };
    let name: String = name.chars().take(super::rules::room_for_name(&ctx.opts, TEAM_NAME_MAX)).collect();
    super::rules::affixed(&name, &ctx.opts)
}

/// Purpose and topic as one description, at most [`DESCRIPTION_MAX`] characters; whether
/// it was cut.
fn description(c: &Conversation) -> (String, bool) {
    let purpose = c.purpose.as_ref().map(|p| p.value.trim()).filter(|p| !p.is_empty());
    let topic = c.topic.as_ref().map(|t| t.value.trim()).filter(|t| !t.is_empty());
    let full = match (purpose, topic) {
        (Some(p), Some(t)) if p != t => format!("{p}\nTopic: {t}"),
        (Some(p), _) => p.to_owned(),
        (None, Some(t)) => format!("Topic: {t}"),
        (None, None) => String::new(),
    };
    let cut: String = full.chars().take(DESCRIPTION_MAX).collect();
    let was_cut = cut.len() < full.len();
    (cut, was_cut)
}

/// An id part that is safe inside an op id and an HTML attribute: the source id when it is
/// short and plain, else a hash of it.
fn id_part(id: &str) -> String {
    if !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        id.to_owned()
    } else {
        sha256_hex(id.as_bytes())[..16].to_owned()
    }
}

/// One channel being planned: its operations, report and timeline, and the threads opened
/// in it so far.
struct Channel<'a> {
    ctx: &'a Context,
    conv: &'a Conversation,
    ops: OpList,
    report: Report,
    dir: Directory<'a>,
    timeline: Timeline,
    /// Thread root `ts` (µs) → the operation that starts the thread in this channel (roots
    /// with replies only).
    threads: HashMap<i64, OperationId>,
    /// Which thread roots are among the considered messages, to tell a dropped root from a
    /// missing one.
    present: Presence<'a>,
    /// Thread roots not carried, whose thread a reply started instead.
    promoted: HashSet<i64>,
    /// Operation ids of messages at the current time (a `ts` repeats only within one time).
    used_ids: BTreeSet<String>,
    used_at: Option<i64>,
}

impl Channel<'_> {
    fn report(
        &mut self,
        item: &str,
        outcome: Outcome,
        reason: &str,
        ts: Option<&str>,
        op: Option<&OperationId>,
        detail: impl Into<String>,
    ) {
        self.report.add(item, outcome, reason, &self.conv.id, ts, op, detail);
    }

    /// A message's operation id: `<channel>/msg/<ts>`, made unique should a `ts` repeat.
    fn message_id(&mut self, ts: &str, t: i64) -> String {
        if self.used_at != Some(t) {
            self.used_at = Some(t);
            self.used_ids.clear();
        }
        let mut id = format!("{}/msg/{ts}", self.ops.container);
        let mut n = 2;
        while self.used_ids.contains(&id) {
            id = format!("{}/msg/{ts}~{n}", self.ops.container);
            n += 1;
        }
        self.used_ids.insert(id.clone());
        id
    }

    /// Plans one message; `Ok(true)` when carried, `Ok(false)` when dropped (reported).
    /// `ceiling` is the latest time it may take, leaving room for the messages after it.
    fn message(&mut self, m: &Message, has_replies: bool, ceiling: i64) -> Result<bool, TransformError> {
        let ctx = self.ctx;
        let ts = m.ts.as_str();
        let Some(t) = m.ts.micros() else { return Ok(false) };
        self.present.reached(t);
        let (poster, mut doc, notes) = match decide(ctx, m, has_replies) {
            Decision::Drop { reason, detail } => {
                self.report("message", Outcome::Dropped, reason, Some(ts), None, detail);
                for r in &m.reactions {
                    for u in &r.users {
                        let detail = format!(":{}: by {u}", r.name);
                        self.report("reaction", Outcome::Dropped, "message_dropped", Some(ts), None, detail);
                    }
                }
                return Ok(false);
            }
            Decision::Carry { poster, doc, notes } => (poster, doc, notes),
        };
        let (poster, notes) = super::rules::require_aad_author(ctx, poster, &mut doc, notes);
        let (actor, from) = match &poster {
            Poster::User { source, target } => {
                (Actor::User { id: target.clone() }, from_user(target, &ctx.name_of(source)))
            }
            Poster::App { label } => {
                let Some(fallback) = ctx.opts.fallback_user.as_deref() else {
                    return Err(TransformError::Options(format!(
                        "--fallback-user <aad-object-id> is required for Teams: message {ts} in {} has no \
                         mapped author ({label}); set it, or map or skip those users in --users",
                        self.conv.id
                    )));
                };
                (Actor::App, from_user(fallback, label))
            }
        };
        let op_base = self.message_id(ts, t);

        // Its place in its thread: a reply to a carried root, or the start of a thread.
        let root = m.reply_to.as_ref().and_then(|r| r.micros());
        let reply_to = root.and_then(|r| self.threads.get(&r).cloned());

        // Body: the text, then inline images and file placeholders, then the reactions.
        let mut attached = attach(self, m, &op_base, &mut doc);
        let tail = format!("{}{}", attached.html, reaction_footer(m));
        let budget =
            MESSAGE_LIMIT.saturating_sub(ENVELOPE_RESERVE + FILE_RESERVE * attached.uploads.len()).max(4_000);
        // Custom emoji as inline images (after the attached ones) when the policy asks and
        // the body fits one message; split bodies keep them as text.
        let (rendered, parts) = {
            let images = EmojiImages::new(&self.dir, ctx, attached.hosted.len());
            let rendered = match &images {
                Some(images) => render_teams(&doc, images),
                None => render_teams(&doc, &self.dir),
            };
            if super::rules::json_len(&rendered.text) + super::rules::json_len(&tail) <= budget {
                if let Some(images) = images {
                    attached.hosted.extend(images.hosted());
                }
                let text = rendered.text.clone();
                (rendered, vec![text])
            } else {
                let rendered = if images.is_some() { render_teams(&doc, &self.dir) } else { rendered };
                let parts = split_parts(
                    &doc,
                    &self.dir,
                    budget.saturating_sub(super::rules::json_len(&tail)).max(budget / 4),
                );
                (rendered, parts)
            }
        };

        let wanted = t.min(ceiling);
        let (when, _) = self.timeline.assign(wanted);
        let first = parts.first().map(String::as_str).unwrap_or_default();
        let message = json!({
            "createdDateTime": format_rfc3339(when, 3),
            "from": from,
            "body": {"contentType": "html", "content": format!("{first}{tail}")},
        });
        let post = Action::TeamsPostMessage {
            reply_to: reply_to.clone(),
            message,
            hosted_contents: attached.hosted,
            files: attached.uploads,
        };
        let main = self.ops.push(op_base.clone(), actor.clone(), post, Some(ts), true);
        let thread = match (reply_to, root) {
            (Some(r), _) => r,
            // A reply whose root is not carried starts the thread; its siblings follow it.
            (None, Some(r)) => {
                self.threads.insert(r, main.clone());
                self.promoted.insert(r);
                main.clone()
            }
            (None, None) => {
                // Only roots that replies will look up are remembered (memory per thread,
                // not per message).
                if has_replies {
                    self.threads.insert(t, main.clone());
                }
                main.clone()
            }
        };

        // Report every alteration against the carrying operation.
        if when != t - t.rem_euclid(1000) {
            let detail =
                format!("createdDateTime {} (source {})", format_rfc3339(when, 3), format_rfc3339(t, 6));
            self.report("message", Outcome::Altered, "create_time_adjusted", Some(ts), Some(&main), detail);
        }
        for (reason, detail) in notes {
            self.report("message", Outcome::Altered, reason, Some(ts), Some(&main), detail);
        }
        for note in &rendered.notes {
            let detail = serde_json::to_string(note).unwrap_or_default();
            self.report("markup", Outcome::Altered, note.code(), Some(ts), Some(&main), detail);
        }
        if super::rules::pinned(m) {
            let detail = "pinned on the source; pins cannot be imported";
            self.report("message", Outcome::Altered, "pin_not_carried", Some(ts), Some(&main), detail);
        }
        if m.broadcast {
            let detail = "also sent to the channel on the source; Teams imports it as a reply only";
            self.report("message", Outcome::Altered, "broadcast_as_reply", Some(ts), Some(&main), detail);
        }
        if let Some(r) = root.filter(|r| self.promoted.contains(r)) {
            let why = if self.present.present(r) {
                "its thread root is not carried"
            } else {
                "its thread root is not in the export or outside the selected dates"
            };
            let detail = if thread == main {
                format!("{why}: posted as a new thread (later replies of the thread attach to it)")
            } else {
                format!("{why}: attached to the thread's first carried reply")
            };
            self.report("message", Outcome::Altered, "orphan_reply", Some(ts), Some(&main), detail);
        }
        if parts.len() > 1 {
            let total: usize = parts.iter().map(String::len).sum();
            let detail = format!(
                "{total} bytes of HTML split into {} messages (limit {MESSAGE_LIMIT} bytes per message)",
                parts.len()
            );
            self.report("message", Outcome::Altered, "split", Some(ts), Some(&main), detail);
        }
        let mut last = when;
        for (i, part) in parts.iter().enumerate().skip(1) {
            let (when, _) = self.timeline.assign(wanted);
            last = when;
            let message = json!({
                "createdDateTime": format_rfc3339(when, 3),
                "from": from,
                "body": {"contentType": "html", "content": part},
            });
            let post = Action::TeamsPostMessage {
                reply_to: Some(thread.clone()),
                message,
                hosted_contents: Vec::new(),
                files: Vec::new(),
            };
            self.ops.push(format!("{op_base}/part/{}", i + 1), actor.clone(), post, Some(ts), false);
        }
        if last > ctx.opts.latest() {
            let detail = "its continuation parts end after now: the destination may reject the last ones";
            self.report("message", Outcome::Altered, "create_time_in_future", Some(ts), Some(&main), detail);
        }
        report_reactions(self, m, ts, &main);
        Ok(true)
    }
}

/// The renderers' view for one Teams message under `--custom-emoji-policy image`: custom
/// emoji with an image within the inline size limit become `../hostedContents/N/$value`
/// references, numbered after the message's attached images, while image slots remain
/// ([`MAX_HOSTED_CONTENTS`]); the others stay text.
struct EmojiImages<'a> {
    dir: &'a Directory<'a>,
    ctx: &'a Context,
    first: usize,
    room: usize,
    used: RefCell<Vec<BlobRef>>,
}

impl<'a> EmojiImages<'a> {
    /// `None` unless the image policy is on and custom emoji are known.
    fn new(dir: &'a Directory<'a>, ctx: &'a Context, attached_images: usize) -> Option<Self> {
        (ctx.opts.custom_emoji_policy == CustomEmojiPolicy::Image && !ctx.custom_emoji.is_empty()).then(
            || EmojiImages {
                dir,
                ctx,
                first: attached_images + 1,
                room: MAX_HOSTED_CONTENTS.saturating_sub(attached_images),
                used: RefCell::new(Vec::new()),
            },
        )
    }

    /// The images the rendered body references, with their temporary ids.
    fn hosted(self) -> impl Iterator<Item = HostedContent> {
        let first = self.first;
        self.used
            .into_inner()
            .into_iter()
            .enumerate()
            .map(move |(i, blob)| HostedContent { temporary_id: (first + i).to_string(), blob })
    }
}

impl MentionResolver for EmojiImages<'_> {
    fn user(&self, id: &str) -> Option<ResolvedUser> {
        self.dir.user(id)
    }

    fn channel(&self, id: &str) -> Option<String> {
        self.dir.channel(id)
    }

    fn user_group(&self, id: &str) -> Option<String> {
        self.dir.user_group(id)
    }

    fn custom_emoji(&self, name: &str) -> Option<String> {
        let emoji = match custom_emoji::resolve(&self.ctx.custom_emoji, name)? {
            Ok(e) => e,
            Err(target) => return Some(format!("alias:{target}")),
        };
        let Some(blob) = emoji.image.as_ref().filter(|b| b.bytes <= self.ctx.opts.max_inline_image_bytes)
        else {
            return Some(String::new());
        };
        let mut used = self.used.borrow_mut();
        let i = match used.iter().position(|b| b.path == blob.path) {
            Some(i) => i,
            None if used.len() < self.room => {
                used.push(blob.clone());
                used.len() - 1
            }
            None => return Some(String::new()),
        };
        Some(format!("../hostedContents/{}/$value", self.first + i))
    }
}

/// A message's attachments: inline images, upload operations and the HTML that shows them.
#[derive(Default)]
struct Attached {
    hosted: Vec<HostedContent>,
    uploads: Vec<OperationId>,
    html: String,
}

/// What a skipped conversation leaves: a conversation entry and one per message.
fn skipped(
    ctx: &Context,
    conv: &Conversation,
    msgs: Messages,
    considered: u64,
    filtered: u64,
) -> Result<Planned, TransformError> {
    let mut report = Report::open(ctx.out.as_deref(), &conv.id);
    let detail = format!("{} not carried: --private-policy skip", conv.kind.as_str());
    report.add("conversation", Outcome::Dropped, "private_skipped", &conv.id, None, None, detail);
    msgs.for_each(|m| {
        let ts = Some(m.ts.as_str());
        report.add(
            "message",
            Outcome::Dropped,
            "private_skipped",
            &conv.id,
            ts,
            None,
            "in a skipped conversation",
        );
        Ok(())
    })?;
    let plan = assemble(Made {
        containers: Vec::new(),
        report,
        considered,
        carried: 0,
        dropped: considered,
        filtered,
    })?;
    Ok(Planned { plan, workspace_time: None, general: false })
}

/// Entries for what a conversation's metadata loses in Teams.
fn conversation_reports(ch: &mut Channel<'_>, description_cut: bool) {
    let conv = ch.conv;
    if description_cut {
        let detail = format!("purpose and topic cut to {DESCRIPTION_MAX} characters");
        ch.report("conversation", Outcome::Altered, "description_truncated", None, None, detail);
    }
    if conv.archived {
        let detail = "archived on the source; migrated channels and teams are not archived";
        ch.report("conversation", Outcome::Altered, "archived_not_carried", None, None, detail);
    }
    let closed = conv.memberships.iter().filter(|m| m.left.is_some()).count();
    if closed > 0 {
        let detail =
            format!("{closed} past membership interval(s): Teams migration cannot import membership history");
        ch.report("membership", Outcome::Dropped, "membership_history_not_importable", None, None, detail);
    }
}

/// Opens the channel (its first operation) and, for an own team, the team's list; returns
/// the channel's display name and the team.
fn open_channel(
    ch: &mut Channel<'_>,
    place: &Place,
    channel_time: i64,
    description: &str,
) -> Result<(String, Option<(OpList, String)>), TransformError> {
    let conv = ch.conv;
    let base = ch.ops.container.clone();
    let source_name = conv.name.clone().unwrap_or_else(|| conv.id.clone());
    match place {
        Place::Workspace { general: true, .. } => {
            ch.ops.push(format!("{base}/general"), Actor::App, Action::TeamsUseGeneralChannel, None, false);
            if !source_name.eq_ignore_ascii_case("general") {
                let detail = format!(
                    "#{source_name} is the workspace's default channel: carried into the team's General \
                     channel"
                );
                ch.report("conversation", Outcome::Altered, "channel_renamed", None, None, detail);
            }
            Ok(("General".to_owned(), None))
        }
        Place::Workspace { name, general: false } => {
            let body = json!({
                "@microsoft.graph.channelCreationMode": "migration",
                "displayName": name,
                "description": description,
                "membershipType": "standard",
                "createdDateTime": format_rfc3339(channel_time, 3),
            });
            let action = Action::TeamsCreateChannel { channel: body };
            let op = ch.ops.push(format!("{base}/create"), Actor::App, action, None, false);
            if name != &source_name {
                let detail = format!(
                    "#{source_name} → {name:?}: Teams channel names are ≤ {CHANNEL_NAME_MAX} characters, \
                     without ~#%&*{{}}+/\\:<>?|'\", unique and not General"
                );
                ch.report("conversation", Outcome::Altered, "channel_renamed", None, Some(&op), detail);
            }
            Ok((name.clone(), None))
        }
        Place::OwnTeam => {
            let team_id = format!("team-{}", slug(&conv.id, 40));
            let mut team = OpList::open(ch.ctx.out.as_deref(), team_id.clone(), Some(conv.id.clone()))?;
            let team_name = own_team_name(ch.ctx, conv);
            let what = match conv.kind {
                ConversationKind::Dm => "Slack direct message".to_owned(),
                ConversationKind::GroupDm => "Slack group direct message".to_owned(),
                _ => format!("Slack private channel #{source_name}"),
            };
            let team_desc =
                if description.is_empty() { what.clone() } else { format!("{what}: {description}") };
            let team_desc: String = team_desc.chars().take(DESCRIPTION_MAX).collect();
            let action = Action::TeamsCreateTeam { team: team_body(&team_name, &team_desc, channel_time) };
            let op = team.push(format!("{team_id}/create"), Actor::App, action, None, false);
            let detail = format!(
                "{what} carried as its own team {team_name:?} (members: the conversation's members), in its \
                 General channel"
            );
            ch.report("conversation", Outcome::Altered, "private_as_own_team", None, Some(&op), detail);
            ch.ops.push(format!("{base}/general"), Actor::App, Action::TeamsUseGeneralChannel, None, false);
            Ok(("General".to_owned(), Some((team, team_name))))
        }
    }
}

fn plan_conversation(
    ctx: &Context,
    canonical: &Path,
    conv: &Conversation,
    place: Option<&Place>,
) -> Result<Planned, TransformError> {
    let latest = ctx.opts.latest();
    let (scan, msgs) = stream::scan(canonical, conv, &ctx.opts, &mut ())?;
    let filtered = scan.filtered;
    let considered = scan.considered;
    let Some(place) = place else { return skipped(ctx, conv, msgs, considered, filtered) };

    // A second before the first record, on a whole second, leaving a millisecond per
    // message below `latest` so that none is pushed past it.
    let created = conv.created.and_then(|s| s.checked_mul(SECOND));
    // From every message, filtered or not, so a pilot dates the channel as the full run will.
    let earliest = [super::rules::first_time(&scan), created].into_iter().flatten().min().unwrap_or(latest);
    let room = latest - SECOND - 1000 * considered as i64;
    let mut channel_time = (earliest - SECOND).min(room);
    channel_time -= channel_time.rem_euclid(SECOND);

    let out = ctx.out.as_deref();
    let mut ch = Channel {
        ctx,
        conv,
        ops: OpList::open(out, format!("channel-{}", slug(&conv.id, 40)), Some(conv.id.clone()))?,
        report: Report::open(out, &conv.id),
        dir: Directory::new(ctx, false),
        timeline: Timeline::new(1000, channel_time),
        threads: HashMap::new(),
        present: scan.presence(),
        promoted: HashSet::new(),
        used_ids: BTreeSet::new(),
        used_at: None,
    };
    let (desc, desc_cut) = description(conv);
    conversation_reports(&mut ch, desc_cut);
    let (display_name, own_team) = open_channel(&mut ch, place, channel_time, &desc)?;

    let (mut carried, mut dropped) = (0u64, 0u64);
    let mut i = 0u64;
    msgs.for_each(|m| {
        let has_replies = m.ts.micros().is_some_and(|t| scan.roots.contains(&t));
        let ceiling = latest - 1000 * (considered - i - 1) as i64;
        i += 1;
        if ch.message(&m, has_replies, ceiling)? {
            carried += 1;
        } else {
            dropped += 1;
        }
        Ok(())
    })?;
    let base = ch.ops.container.clone();
    ch.ops.push(format!("{base}/complete"), Actor::App, Action::TeamsCompleteChannel, None, false);

    // Containers: an own team first, then the channel.
    let mut containers = Vec::new();
    let parent = match own_team {
        Some((mut team, team_name)) => {
            let members = current_members(conv);
            let (owners, extra, notes) = own_team_owners(ctx, conv, &members);
            for n in notes.into_iter().chain(complete_team(ctx, &mut team, &members, &owners, &extra)) {
                let item = if n.reason == "member_unmapped" { "membership" } else { "team" };
                ch.report(item, n.outcome, n.reason, None, None, n.detail);
            }
            let id = team.container.clone();
            let container = Container {
                id: id.clone(),
                kind: ContainerKind::TeamsTeam,
                parent: None,
                conversation: Some(conv.id.clone()),
                display_name: team_name,
                create_time: format_rfc3339(channel_time, 3),
                ops_path: ops_path(&id),
                op_count: team.len(),
                message_count: 0,
            };
            containers.push((container, team));
            id
        }
        None => WORKSPACE_TEAM.to_owned(),
    };
    let container = Container {
        id: ch.ops.container.clone(),
        kind: ContainerKind::TeamsChannel,
        parent: Some(parent),
        conversation: Some(conv.id.clone()),
        display_name,
        create_time: format_rfc3339(channel_time, 3),
        ops_path: ops_path(&ch.ops.container),
        op_count: ch.ops.len(),
        message_count: carried,
    };
    containers.push((container, ch.ops));
    let plan = assemble(Made { containers, report: ch.report, considered, carried, dropped, filtered })?;
    let (workspace_time, general) = match place {
        Place::Workspace { general, .. } => (Some(channel_time), *general),
        Place::OwnTeam => (None, false),
    };
    Ok(Planned { plan, workspace_time, general })
}

/// The `from` of an imported message.
fn from_user(id: &str, name: &str) -> Value {
    json!({"user": {"id": id, "displayName": name, "userIdentityType": "aadUser"}})
}

/// Files of a message: inline images, uploads before the message, notes for the rest.
fn attach(ch: &mut Channel<'_>, m: &Message, op_base: &str, doc: &mut Document) -> Attached {
    let ts = m.ts.as_str();
    let mut out = Attached::default();
    let mut seen = BTreeSet::new();
    for fid in &m.files {
        if !seen.insert(fid.as_str()) {
            continue;
        }
        let Some(ref f) = ch.ctx.files.get(fid) else {
            doc.blocks.push(file_note(fid, "no file record"));
            ch.report(
                "file",
                Outcome::Dropped,
                "file_not_carried",
                Some(ts),
                None,
                format!("{fid}: the export has no record of it"),
            );
            continue;
        };
        let name = f.name.clone().or_else(|| f.title.clone()).unwrap_or_else(|| fid.clone());
        let blob = match (file_unavailable(f), blob_of(ch.ctx, f)) {
            (None, Some(blob)) => blob,
            (why, _) => {
                let why = why.unwrap_or("content not listed in the canonical manifest");
                doc.blocks.push(file_note(&name, why));
                ch.report(
                    "file",
                    Outcome::Dropped,
                    "file_not_carried",
                    Some(ts),
                    None,
                    format!("{fid} {name}: {why}"),
                );
                continue;
            }
        };
        let ctype = blob.content_type.to_ascii_lowercase();
        let image = ctype.starts_with("image/") && !ctype.starts_with("image/svg");
        if image && blob.bytes <= ch.ctx.opts.max_inline_image_bytes && out.hosted.len() < MAX_HOSTED_CONTENTS
        {
            let temporary_id = (out.hosted.len() + 1).to_string();
            out.html.push_str(&format!(
                "<p><img src=\"../hostedContents/{temporary_id}/$value\" alt=\"{}\"></p>",
                encode_double_quoted_attribute(&name)
            ));
            out.hosted.push(HostedContent { temporary_id, blob });
            continue;
        }
        let bytes = blob.bytes;
        out.html.push_str(&upload(ch, op_base, fid, blob, ts, &mut out.uploads));
        if image {
            let why = if out.hosted.len() >= MAX_HOSTED_CONTENTS {
                format!("more than {MAX_HOSTED_CONTENTS} images in one message")
            } else {
                format!("{} bytes, over the inline limit of {}", bytes, ch.ctx.opts.max_inline_image_bytes)
            };
            ch.report(
                "file",
                Outcome::Altered,
                "image_as_file",
                Some(ts),
                out.uploads.last(),
                format!("{fid} {name}: {why}; uploaded as a file"),
            );
        }
    }
    out
}

/// Adds an upload operation; returns the placeholder tag for the body.
fn upload(
    ch: &mut Channel<'_>,
    op_base: &str,
    fid: &str,
    blob: BlobRef,
    ts: &str,
    uploads: &mut Vec<OperationId>,
) -> String {
    let op = ch.ops.push(
        format!("{op_base}/upload/{}", id_part(fid)),
        Actor::App,
        Action::TeamsUploadFile { blob },
        Some(ts),
        false,
    );
    let tag = format!("<attachment id=\"{}\"></attachment>", encode_double_quoted_attribute(&op.0));
    uploads.push(op);
    tag
}

/// `<p><i>Reactions: 👍 2 · :party-parrot: 1</i></p>`, or nothing.
fn reaction_footer(m: &Message) -> String {
    let items: Vec<String> = m
        .reactions
        .iter()
        .filter_map(|r| {
            let count = r.count.unwrap_or(0).max(r.users.len() as u64);
            (count > 0).then(|| {
                let emoji =
                    crate::emoji::shortcode_to_unicode(&r.name).unwrap_or_else(|| format!(":{}:", r.name));
                format!("{emoji} {count}")
            })
        })
        .collect();
    if items.is_empty() {
        String::new()
    } else {
        format!("<p><i>Reactions: {}</i></p>", encode_text(&items.join(" · ")))
    }
}

/// One entry per (emoji, user) for the footer, plus the users Slack did not name.
fn report_reactions(ch: &mut Channel<'_>, m: &Message, ts: &str, main: &OperationId) {
    for r in &m.reactions {
        let custom = if crate::emoji::shortcode_to_unicode(&r.name).is_some() {
            ""
        } else {
            " (custom emoji, as text)"
        };
        for u in &r.users {
            let detail = format!(
                ":{}:{custom} by {} ({u}): reactions cannot be imported into Teams; counted in a footer",
                r.name,
                ch.ctx.name_of(u)
            );
            ch.report("reaction", Outcome::Altered, "reaction_as_footer", Some(ts), Some(main), detail);
        }
        if let Some(count) = r.count.filter(|c| *c > r.users.len() as u64) {
            ch.report(
                "reaction",
                Outcome::Altered,
                "reaction_users_truncated",
                Some(ts),
                Some(main),
                format!(
                    ":{}: count {count} but the export names {} users; the footer shows the count",
                    r.name,
                    r.users.len()
                ),
            );
        }
    }
}

/// Teams HTML parts of a document, each within `budget` bytes once JSON-escaped. The shared
/// splitter counts raw bytes, so its limit shrinks until the escaped parts fit too (quotes,
/// tabs and newlines of code grow in JSON).
fn split_parts(doc: &Document, dir: &Directory<'_>, budget: usize) -> Vec<String> {
    let mut max = budget;
    loop {
        let parts = render_teams_parts(doc, dir, max);
        let worst = parts.iter().map(|p| super::rules::json_len(&p.text)).max().unwrap_or(0);
        if worst <= budget || max <= budget / 8 {
            return parts.into_iter().map(|p| p.text).collect();
        }
        max = (max * budget / worst).min(max - max / 8);
    }
}
