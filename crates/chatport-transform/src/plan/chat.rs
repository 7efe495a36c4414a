//! The Google Chat planner: one import-mode space per conversation.
//!
//! Rules (api-spec.md Part C, the import guide in DESIGN.md): SPACE for channels,
//! GROUP_CHAT for group DMs, 1:1 DMs by policy (a private space, or skipped); space
//! `createTime` one second before the first record, clamped to [2000-01-01, now];
//! display names ≤ 128 characters and unique; message `createTime` strictly increasing
//! per space at µs (collisions nudged and reported); deterministic `client-…` ids;
//! `threadKey` per Slack thread (not in a GROUP_CHAT, which has no threads: replies are
//! posted in time order behind a `↪ reply to …` line, `thread_flattened`); text over 32,000
//! bytes split into continuation messages (replies in the same thread where threads exist);
//! attachments uploaded as the sender; reactions per (user, emoji) as Unicode, as the
//! reacting user; current members added after completion.
//!
//! People outside the Workspace: a user whose target is outside the Workspace domains
//! (`--domain`, plus the importer's) — a guest from a partner, say — is external and cannot
//! be impersonated ([`super::rules::outsiders_as_app`]): their messages are posted by the
//! app with an attribution line, a space with an external member is created with
//! `externalUserAllowed`, and they get no historical membership: current external members
//! (and guests posted by the app) are added after completion, unless the mapping skips them.
//!
//! Memberships: Chat keeps **one membership per user and space**, so each destination user
//! who is not a current member gets a single historical membership covering every closed
//! interval of theirs (first join … last leave; `membership_merged` when several are
//! merged, or several source accounts map to one user) and widened to cover the messages
//! they post as themselves, measured on the messages' assigned `createTime`s
//! (`synthetic_membership`). These operations come after the messages and before
//! completion, since only then are the assigned times known (the messages stream, and each
//! user's first and last assigned time is all that is kept of them). A current member
//! (listed in the conversation, or with an open interval) gets no historical membership:
//! the membership added after completion is their one membership, and covers the space's
//! whole history for them; their past intervals are reported (`membership_history_folded`).

use super::stream::{self, Fact, Pass1};
use super::{
    assemble, blob_of, decide, file_note, file_unavailable, ops_path, plan_all, slug, uuid_from, Context,
    ConversationPlan, Decision, Directory, DmPolicy, Made, OpList, Poster, Report, Timeline, TransformError,
};
use crate::users::UserAction;
use chatport_model::plan::{Action, Actor, Container, ContainerKind, OperationId, Outcome};
use chatport_model::ts::format_rfc3339;
use chatport_model::{Conversation, ConversationKind};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

/// 2000-01-01T00:00:00Z, the earliest space `createTime`.
pub const EARLIEST: i64 = 946_684_800_000_000;
/// The whole-message limit of `messages.create`.
pub const MESSAGE_LIMIT: usize = 32_000;
/// Text per message part, leaving room for the rest of the request (raw bytes; parts are
/// now sized by their JSON length, see [`super::rules::chat_parts`]).
pub const TEXT_BUDGET: usize = 30_000;
/// The largest attachment `media.upload` takes.
pub const ATTACHMENT_LIMIT: u64 = 200 * 1024 * 1024;

/// Plans every selected conversation.
pub fn plan(
    canonical: &Path,
    ctx: &Context,
    conversations: &[Conversation],
) -> Result<Vec<ConversationPlan>, TransformError> {
    if ctx.opts.importer.as_deref().is_none_or(str::is_empty) {
        return Err(TransformError::Options(
            "--importer <email> is required for Google Chat: the Workspace user who creates the spaces"
                .into(),
        ));
    }
    let names = display_names(conversations, ctx);
    plan_all(canonical, conversations, ctx, |c| plan_conversation(ctx, canonical, c, &names))
}

/// Unique (case-insensitive) display names ≤ 128 characters for the spaces, in
/// conversation order.
fn display_names(conversations: &[Conversation], ctx: &Context) -> HashMap<String, String> {
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut out = HashMap::new();
    for c in conversations {
        let base: String = match c.kind {
            ConversationKind::Dm | ConversationKind::GroupDm => {
                let mut names: Vec<String> = c.members.iter().map(|m| ctx.name_of(m)).collect();
                names.sort();
                format!("DM: {}", names.join(", "))
            }
            _ => c.name.clone().unwrap_or_else(|| c.id.clone()),
        };
        let max = super::rules::room_for_name(&ctx.opts, 128);
        let base: String = base.chars().take(max).collect();
        let mut name = base.clone();
        let mut n = 2;
        while used.contains(&name.to_lowercase()) {
            let suffix = format!(" ({n})");
            name =
                format!("{}{}", base.chars().take(max - suffix.chars().count()).collect::<String>(), suffix);
            n += 1;
        }
        used.insert(name.to_lowercase());
        out.insert(c.id.clone(), super::rules::affixed(&name, &ctx.opts));
    }
    out
}

fn ts_digits(micros: i64) -> String {
    format!("{}{:06}", micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000))
}

struct Builder<'a> {
    ctx: &'a Context,
    conv: &'a Conversation,
    container: String,
    list: OpList,
    report: Report,
}

impl Builder<'_> {
    fn push(
        &mut self,
        id: String,
        actor: Actor,
        action: Action,
        ts: Option<&str>,
        primary: bool,
    ) -> OperationId {
        self.list.push(id, actor, action, ts, primary)
    }

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

    fn member_name(&self, source: &str) -> Option<String> {
        let row = self.ctx.mapping.get(source)?;
        (row.action == UserAction::Author && !row.target.is_empty()).then(|| format!("users/{}", row.target))
    }
}

/// The space's `createTime`: a second before the earliest record, on a whole second,
/// clamped to [2000-01-01, now]; and whether the clamp moved history.
fn space_time(conv: &Conversation, first_msg: Option<i64>, latest: i64) -> (i64, bool) {
    let created = conv.created.map(|s| s * 1_000_000);
    let earliest_record = [first_msg, created].into_iter().flatten().min().unwrap_or(latest);
    let mut space_time = (earliest_record - 1_000_000).clamp(EARLIEST, latest - 1_000_000);
    space_time -= space_time.rem_euclid(1_000_000);
    (space_time, earliest_record - 1_000_000 < EARLIEST)
}

/// A closed membership interval as imported: after the space's creation, before now, not empty.
fn closed_interval(joined: Option<i64>, left: i64, space_time: i64, latest: i64) -> (i64, i64) {
    let start = joined.unwrap_or(space_time + 1).max(space_time + 1);
    let end = left.min(latest).max(start + 1);
    (start, end)
}

/// Pass-1 facts of a space: its authors (for `externalUserAllowed`). Memberships need the
/// messages' assigned times, so they are gathered in pass 2.
#[derive(Default)]
struct ChatScan {
    authors: HashSet<String>,
}

impl Pass1 for ChatScan {
    fn fact(&mut self, f: &Fact<'_>) {
        let Some(a) = f.author else { return };
        if !self.authors.contains(a) {
            self.authors.insert(a.to_owned());
        }
    }

    fn reset(&mut self) {
        self.authors.clear();
    }
}

fn plan_conversation(
    ctx: &Context,
    canonical: &Path,
    conv: &Conversation,
    names: &HashMap<String, String>,
) -> Result<ConversationPlan, TransformError> {
    let importer = ctx.opts.importer.clone().unwrap_or_default();
    let latest = ctx.opts.latest();
    let mut own = ChatScan::default();
    let (scan, msgs) = stream::scan(canonical, conv, &ctx.opts, &mut own)?;
    let out = ctx.out.as_deref();
    let considered = scan.considered;
    if conv.kind == ConversationKind::Dm && ctx.opts.dm_policy == DmPolicy::Skip {
        let mut report = Report::open(out, &conv.id);
        report.add(
            "conversation",
            Outcome::Dropped,
            "dm_not_importable",
            &conv.id,
            None,
            None,
            "1:1 DMs cannot be imported into Google Chat; --dm-policy skip",
        );
        msgs.for_each(|m| {
            let ts = Some(m.ts.as_str());
            report.add(
                "message",
                Outcome::Dropped,
                "dm_not_importable",
                &conv.id,
                ts,
                None,
                "in a skipped DM",
            );
            Ok(())
        })?;
        return assemble(Made {
            containers: Vec::new(),
            report,
            considered,
            carried: 0,
            dropped: considered,
            filtered: scan.filtered,
        });
    }
    let container_id = format!("space-{}", slug(&conv.id, 40));
    let mut b = Builder {
        ctx,
        conv,
        container: container_id.clone(),
        list: OpList::open(out, container_id, Some(conv.id.clone()))?,
        report: Report::open(out, &conv.id),
    };

    // The space.
    // From every message, filtered or not, so a pilot creates the space as the full run will.
    let (space_time, clamped) = space_time(conv, super::rules::first_time(&scan), latest);
    if clamped {
        b.report(
            "conversation",
            Outcome::Altered,
            "create_time_clamped",
            None,
            None,
            "history before 2000-01-01 is moved to 2000-01-01",
        );
    }
    let display_name = names.get(&conv.id).cloned().unwrap_or_else(|| conv.id.clone());
    let (space_type, kind_note) = match conv.kind {
        ConversationKind::GroupDm => ("GROUP_CHAT", None),
        ConversationKind::Dm => ("SPACE", Some("1:1 DMs cannot be imported as DIRECT_MESSAGE: carried as a private space of the two participants")),
        _ => ("SPACE", None),
    };
    if let Some(note) = kind_note {
        b.report("conversation", Outcome::Altered, "dm_as_space", None, None, note);
    }
    let external = conv.members.iter().chain(own.authors.iter()).any(|p| {
        let row = ctx.who(p);
        row.kind == crate::users::UserKind::External && row.action != UserAction::Skip
    });
    let mut space = json!({
        "spaceType": space_type,
        "importMode": true,
        "createTime": format_rfc3339(space_time, 6),
        "externalUserAllowed": external,
    });
    if space_type == "SPACE" {
        space["displayName"] = json!(display_name);
    }
    if let Some(p) = conv.purpose.as_ref().filter(|p| !p.value.is_empty()) {
        let desc: String = p.value.chars().take(150).collect();
        if desc.len() < p.value.len() {
            b.report(
                "conversation",
                Outcome::Altered,
                "description_truncated",
                None,
                None,
                "purpose cut to 150 characters",
            );
        }
        space["spaceDetails"] = json!({"description": desc});
    }
    if let Some(t) = conv.topic.as_ref().filter(|t| !t.value.is_empty()) {
        let guidelines: String = t.value.chars().take(super::rules::CHAT_GUIDELINES_MAX).collect();
        if guidelines.len() < t.value.len() {
            b.report(
                "conversation",
                Outcome::Altered,
                "guidelines_truncated",
                None,
                None,
                format!(
                    "topic cut to {} characters for the space guidelines",
                    super::rules::CHAT_GUIDELINES_MAX
                ),
            );
        }
        space["spaceDetails"]["guidelines"] = json!(guidelines);
    }
    if conv.archived {
        b.report(
            "conversation",
            Outcome::Altered,
            "archived_not_carried",
            None,
            None,
            "archived on the source; imported spaces are not archived",
        );
    }
    let base = b.container.clone();
    b.push(
        format!("{base}/create"),
        Actor::User { id: importer.clone() },
        Action::ChatCreateSpace { request_id: uuid_from(&format!("space:{}", conv.id)), space },
        None,
        false,
    );

    // Historical memberships: closed intervals (merged per user after the messages, once
    // their assigned times are known); open ones become current members.
    let mut current: BTreeSet<String> = conv.members.iter().cloned().collect();
    let mut closed: Vec<(String, i64, i64)> = Vec::new();
    let mut authored: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for iv in &conv.memberships {
        let Some(left) = iv.left.as_ref().and_then(|t| t.micros()) else {
            current.insert(iv.user.clone());
            continue;
        };
        let (start, end) =
            closed_interval(iv.joined.as_ref().and_then(|t| t.micros()), left, space_time, latest);
        if b.member_name(&iv.user).is_none() {
            let row = ctx.who(&iv.user);
            let why = if super::rules::chat_outsider_target(&row).is_some() {
                "is not posted as themselves (outside the Workspace, or a guest): no historical membership"
            } else {
                "has no destination account"
            };
            b.report(
                "membership",
                Outcome::Dropped,
                "member_unmapped",
                None,
                None,
                format!("{} {why}", ctx.name_of(&iv.user)),
            );
            continue;
        }
        closed.push((iv.user.clone(), start, end));
    }

    // Messages, reactions and attachments in time order.
    let dir = Directory { ctx, chat: true };
    let mut timeline = Timeline::new(1, space_time);
    let mut presence = scan.presence();
    let mut used_ids: BTreeSet<String> = BTreeSet::new();
    let mut t_run = None;
    let conv_slug = slug(&conv.id, 20);
    // GROUP_CHAT spaces have no threads: replies are flattened (see `rules::flatten_reply`),
    // each quoting its root: the quote is kept per root that has replies, not per message.
    let group_chat = space_type == "GROUP_CHAT";
    let mut markers: HashMap<i64, String> = HashMap::new();
    if group_chat && scan.has_roots_ahead() {
        // Replies dated before their root (rare): quote those roots before pass 2.
        msgs.peek(|m| {
            if let Some(t) = m.ts.micros().filter(|t| scan.is_root_ahead(*t)) {
                markers.insert(t, super::rules::reply_marker(ctx, m));
            }
            Ok(())
        })?;
    }
    let (mut carried, mut dropped) = (0u64, 0u64);
    // Thread roots (with replies) carried so far, for `orphan_reply`.
    let mut carried_roots: HashSet<i64> = HashSet::new();
    msgs.for_each(|m| {
        let m = &m;
        if t_run != m.ts.micros() {
            // Ids repeat only within one time: forget those of earlier times.
            t_run = m.ts.micros();
            used_ids.clear();
        }
        let ts = m.ts.as_str();
        let Some(t) = m.ts.micros() else { return Ok(()) };
        presence.reached(t);
        let is_root = scan.roots.contains(&t);
        if group_chat && is_root {
            markers.insert(t, super::rules::reply_marker(ctx, m));
        }
        let decision = decide(ctx, m, is_root);
        let (poster, mut doc, notes) = match decision {
            Decision::Drop { reason, detail } => {
                dropped += 1;
                b.report("message", Outcome::Dropped, reason, Some(ts), None, detail);
                for r in &m.reactions {
                    for u in &r.users {
                        b.report(
                            "reaction",
                            Outcome::Dropped,
                            "message_dropped",
                            Some(ts),
                            None,
                            format!(":{}: by {u}", r.name),
                        );
                    }
                }
                return Ok(());
            }
            Decision::Carry { poster, doc, notes } => (poster, doc, notes),
        };
        let flattened = if group_chat {
            let root = m.reply_to.as_ref().and_then(|r| r.micros()).and_then(|r| markers.get(&r));
            super::rules::flatten_reply(m, root.map(String::as_str), &mut doc)
        } else {
            None
        };
        let actor = match &poster {
            Poster::User { target, .. } => Actor::User { id: target.clone() },
            Poster::App { .. } => Actor::App,
        };
        let mut id = format!("client-{conv_slug}-{}", ts_digits(t));
        // A repeated `ts` gets the same suffix in its operation id as in its message id.
        let mut op_base = format!("{base}/msg/{ts}");
        let mut n = 2;
        while used_ids.contains(&id) {
            id = format!("client-{conv_slug}-{}-d{n}", ts_digits(t));
            op_base = format!("{base}/msg/{ts}~{n}");
            n += 1;
        }
        used_ids.insert(id.clone());

        // Attachments: uploaded as the sender; the app cannot upload.
        let mut uploads = Vec::new();
        for fid in &m.files {
            let Some(ref f) = ctx.files.get(fid) else {
                doc.blocks.push(file_note(fid, "no file record"));
                b.report(
                    "file",
                    Outcome::Dropped,
                    "file_not_carried",
                    Some(ts),
                    None,
                    format!("{fid}: the export has no record of it"),
                );
                continue;
            };
            let name = f.name.clone().unwrap_or_else(|| fid.clone());
            let upload = blob_of(ctx, f).map(super::rules::chat_upload_blob);
            let why = file_unavailable(f)
                .or(match (&actor, f.size) {
                    (Actor::App, _) => Some("attachments can only be uploaded as a user"),
                    (_, Some(s)) if s > ATTACHMENT_LIMIT => Some("larger than 200 MB"),
                    _ => None,
                })
                .or_else(|| super::rules::chat_blocked(&name))
                .or_else(|| upload.as_ref().and_then(|(blob, _)| super::rules::chat_blocked(&blob.filename)));
            match (why, upload) {
                (None, Some((blob, renamed))) if blob.bytes <= ATTACHMENT_LIMIT => {
                    let upload_name = blob.filename.clone();
                    let op = b.push(
                        format!("{op_base}/upload/{fid}"),
                        actor.clone(),
                        Action::ChatUploadAttachment { blob },
                        Some(ts),
                        false,
                    );
                    if let Some(original) = renamed {
                        b.report(
                            "file",
                            Outcome::Altered,
                            "file_renamed",
                            Some(ts),
                            Some(&op),
                            format!("{fid} {original:?} has no extension, which Chat requires: uploaded as {upload_name:?}"),
                        );
                    }
                    uploads.push(op);
                }
                (why, _) => {
                    let why = why.unwrap_or("larger than 200 MB");
                    doc.blocks.push(file_note(&name, why));
                    b.report(
                        "file",
                        Outcome::Dropped,
                        "file_not_carried",
                        Some(ts),
                        None,
                        format!("{fid} {name}: {why}"),
                    );
                }
            }
        }
        let parts = super::rules::chat_parts(&doc, &dir, super::rules::chat_text_budget(uploads.len()));
        let notes_all: Vec<crate::markup::RenderNote> =
            parts.iter().flat_map(|p| p.notes.iter().cloned()).collect();
        let parts: Vec<String> =
            if parts.is_empty() { vec![String::new()] } else { parts.into_iter().map(|p| p.text).collect() };
        let text_len: usize = parts.iter().map(String::len).sum();
        let (when, moved) = timeline.assign(t.min(latest));
        let mut authored_span = (when, when);
        if moved || t > latest {
            b.report(
                "message",
                Outcome::Altered,
                "create_time_adjusted",
                Some(ts),
                None,
                format!("createTime {} (source {})", format_rfc3339(when, 6), format_rfc3339(t, 6)),
            );
        }
        let thread_key = m.thread_ts.as_ref().map(|tt| format!("slk-{tt}"));
        let mut message = json!({"text": "", "createTime": format_rfc3339(when, 6)});
        let thread_key = thread_key.or_else(|| (parts.len() > 1).then(|| format!("slk-{ts}")));
        let thread_key = thread_key.filter(|_| !group_chat);
        if let Some(k) = &thread_key {
            message["thread"] = json!({"threadKey": k});
        }
        let reply_option = thread_key.as_ref().map(|_| "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD".to_owned());
        message["text"] = json!(parts[0]);
        // Continuation parts repeat the message but for their text and time.
        let template = if parts.len() > 1 { message.clone() } else { serde_json::Value::Null };
        let main = b.push(
            op_base.clone(),
            actor.clone(),
            Action::ChatCreateMessage {
                message_id: id.clone(),
                reply_option: reply_option.clone(),
                message,
                attachments: uploads,
            },
            Some(ts),
            true,
        );
        carried += 1;
        if is_root {
            carried_roots.insert(t);
        }
        for (reason, detail) in notes {
            b.report("message", Outcome::Altered, reason, Some(ts), Some(&main), detail);
        }
        for note in &notes_all {
            b.report(
                "markup",
                Outcome::Altered,
                note.code(),
                Some(ts),
                Some(&main),
                serde_json::to_string(note).unwrap_or_default(),
            );
        }
        if super::rules::pinned(m) {
            b.report(
                "message",
                Outcome::Altered,
                "pin_not_carried",
                Some(ts),
                Some(&main),
                "pinned on the source; pins cannot be imported",
            );
        }
        if let Some(detail) = flattened {
            b.report("message", Outcome::Altered, "thread_flattened", Some(ts), Some(&main), detail);
        }
        if m.broadcast && !group_chat {
            b.report(
                "message",
                Outcome::Altered,
                "broadcast_as_reply",
                Some(ts),
                Some(&main),
                "Chat cannot also post a thread reply to the space: carried as a reply",
            );
        }
        let root_state = |r: i64| {
            use super::rules::RootState;
            if carried_roots.contains(&r) {
                RootState::Carried
            } else if presence.reached_already(r) {
                RootState::Dropped
            } else if presence.present(r) {
                RootState::Later
            } else {
                RootState::Absent
            }
        };
        if let Some(detail) = super::rules::orphan_reply(m, t, root_state) {
            b.report("message", Outcome::Altered, "orphan_reply", Some(ts), Some(&main), detail);
        }
        if parts.len() > 1 {
            b.report(
                "message",
                Outcome::Altered,
                "split",
                Some(ts),
                Some(&main),
                format!("{text_len} bytes of text split into {} messages", parts.len()),
            );
            for (i, part) in parts.iter().enumerate().skip(1) {
                let (when, _) = timeline.assign(t.min(latest));
                authored_span.1 = when;
                let mut cont = template.clone();
                cont["text"] = json!(part);
                cont["createTime"] = json!(format_rfc3339(when, 6));
                b.push(
                    format!("{op_base}/part/{}", i + 1),
                    actor.clone(),
                    Action::ChatCreateMessage {
                        message_id: format!("{id}-p{}", i + 1),
                        reply_option: reply_option.clone(),
                        message: cont,
                        attachments: Vec::new(),
                    },
                    Some(ts),
                    false,
                );
            }
        }
        debug_assert!(parts.iter().all(|p| p.len() < MESSAGE_LIMIT));
        if let Poster::User { source, .. } = &poster {
            match authored.get_mut(source) {
                Some(span) => {
                    span.0 = span.0.min(authored_span.0);
                    span.1 = span.1.max(authored_span.1);
                }
                None => {
                    authored.insert(source.clone(), authored_span);
                }
            }
        }

        // Reactions: per (emoji, user), as that user, in Unicode; aliases that give the
        // same Unicode (`+1` and `thumbsup`) from one user are one reaction.
        let mut reacted: BTreeSet<(String, String)> = BTreeSet::new();
        for r in &m.reactions {
            let unicode = crate::emoji::shortcode_to_unicode(&r.name);
            for u in &r.users {
                let Some(unicode) = &unicode else {
                    b.report(
                        "reaction",
                        Outcome::Dropped,
                        "custom_emoji_reaction",
                        Some(ts),
                        Some(&main),
                        format!(":{}: by {u} is not a standard emoji", r.name),
                    );
                    continue;
                };
                let row = ctx.who(u);
                if row.action != UserAction::Author || row.target.is_empty() {
                    b.report(
                        "reaction",
                        Outcome::Dropped,
                        "reactor_unmapped",
                        Some(ts),
                        Some(&main),
                        format!(
                            ":{}: by {} (reactions need the reacting user's account)",
                            r.name, row.display_name
                        ),
                    );
                    continue;
                }
                if !reacted.insert((row.target.clone(), unicode.clone())) {
                    b.report(
                        "reaction",
                        Outcome::Altered,
                        "reaction_merged",
                        Some(ts),
                        Some(&main),
                        format!(":{}: by {} is the same emoji ({unicode}) as another of their reactions: carried once", r.name, row.display_name),
                    );
                    continue;
                }
                b.push(
                    format!("{op_base}/react/{}/{u}", r.name),
                    Actor::User { id: row.target.clone() },
                    Action::ChatCreateReaction { message: main.clone(), emoji: json!({"unicode": unicode}) },
                    Some(ts),
                    false,
                );
            }
            if let Some(count) = r.count.filter(|c| *c > r.users.len() as u64) {
                b.report(
                    "reaction",
                    Outcome::Dropped,
                    "reaction_users_truncated",
                    Some(ts),
                    Some(&main),
                    format!(":{}: count {count} but the export names {} users", r.name, r.users.len()),
                );
            }
        }
        Ok(())
    })?;

    // One historical membership per destination user, covering their messages.
    let member_of = |u: &str| b.member_name(u);
    let (merged, folded) =
        super::rules::merge_chat_memberships(&closed, &authored, &current, &member_of, space_time, latest);
    for m in merged {
        let op = b.push(
            format!("{base}/member/{}", m.sources[0]),
            Actor::User { id: importer.clone() },
            Action::ChatCreateMembership { membership: json!({"member": {"name": m.member, "type": "HUMAN"}, "createTime": format_rfc3339(m.start, 6), "deleteTime": format_rfc3339(m.end, 6)}) },
            None,
            false,
        );
        let names: Vec<String> = m.sources.iter().map(|u| ctx.name_of(u)).collect();
        if m.synthetic {
            b.report(
                "membership",
                Outcome::Altered,
                "synthetic_membership",
                None,
                Some(&op),
                format!(
                    "{} posted without a recorded membership covering their messages; their membership was widened to cover them",
                    names.join(", ")
                ),
            );
        }
        if m.intervals > 1 || m.sources.len() > 1 {
            b.report(
                "membership",
                Outcome::Altered,
                "membership_merged",
                None,
                Some(&op),
                format!(
                    "{} ({}): {} past interval(s) merged into one membership {} – {} (Chat keeps one membership per user and space)",
                    names.join(", "),
                    m.member,
                    m.intervals,
                    format_rfc3339(m.start, 6),
                    format_rfc3339(m.end, 6)
                ),
            );
        }
    }
    for super::rules::MembershipNote::FoldedIntoCurrent { source, intervals } in folded {
        b.report(
            "membership",
            Outcome::Altered,
            "membership_history_folded",
            None,
            None,
            format!(
                "{} ({source}) is a current member: {intervals} past interval(s) not imported separately (Chat keeps one membership per user and space); added as a member after completion",
                ctx.name_of(&source)
            ),
        );
    }

    // Completion, then current members.
    b.push(
        format!("{base}/complete"),
        Actor::User { id: importer.clone() },
        Action::ChatCompleteImport,
        None,
        false,
    );
    let mut added: BTreeSet<String> = BTreeSet::new();
    for user in &current {
        let Some(member) = b.member_name(user) else {
            let row = ctx.who(user);
            if let Some(id) =
                super::rules::chat_outsider_target(&row).filter(|id| added.insert(format!("users/{id}")))
            {
                b.push(
                    format!("{base}/add/{user}"),
                    Actor::User { id: importer.clone() },
                    Action::ChatAddMember {
                        membership: json!({"member": {"name": format!("users/{id}"), "type": "HUMAN"}}),
                    },
                    None,
                    false,
                );
            } else if super::rules::chat_outsider_target(&row).is_some() {
                // Mapped to the same account as another current member: added once.
            } else {
                b.report(
                    "membership",
                    Outcome::Dropped,
                    "member_unmapped",
                    None,
                    None,
                    format!("current member {} has no destination account", row.display_name),
                );
            }
            continue;
        };
        if !added.insert(member.clone()) {
            // Two source accounts mapped to one destination user: added once.
            continue;
        }
        b.push(
            format!("{base}/add/{user}"),
            Actor::User { id: importer.clone() },
            Action::ChatAddMember { membership: json!({"member": {"name": member, "type": "HUMAN"}}) },
            None,
            false,
        );
    }

    let container = Container {
        id: b.container.clone(),
        kind: ContainerKind::ChatSpace,
        parent: None,
        conversation: Some(conv.id.clone()),
        display_name,
        create_time: format_rfc3339(space_time, 6),
        ops_path: ops_path(&b.container),
        op_count: b.list.len(),
        message_count: carried,
    };
    assemble(Made {
        containers: vec![(container, b.list)],
        report: b.report,
        considered,
        carried,
        dropped,
        filtered: scan.filtered,
    })
}
