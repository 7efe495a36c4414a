//! Destination rules shared by the planners that the first version missed (the planner
//! audit): Google Chat's blocked upload types and
//! file names, request sizes measured as JSON, one membership per user and space, AAD
//! object ids for Teams authors, and reaction de-duplication.
//!
//! Each rule is a small pure function here so that the planners call it at one place.

use super::ConversationPlan;

/// Chat: request bytes reserved for everything in a message but its text (`createTime`,
/// `thread.threadKey`, JSON punctuation).
pub const CHAT_ENVELOPE_RESERVE: usize = 1_000;
/// Chat: request bytes reserved for each `attachmentDataRef` the loader adds (a resource
/// name and an upload token returned by `media.upload`).
pub const CHAT_ATTACHMENT_RESERVE: usize = 1_500;

/// The bytes a string takes inside a JSON string literal as `serde_json` writes it
/// (non-ASCII stays UTF-8; quotes, backslashes and control characters are escaped).
pub fn json_len(s: &str) -> usize {
    s.bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum()
}

/// Chat: the JSON bytes a message's text may take so that the whole `messages.create`
/// body, with `attachments` references, stays within [`super::chat::MESSAGE_LIMIT`].
pub fn chat_text_budget(attachments: usize) -> usize {
    super::chat::MESSAGE_LIMIT
        .saturating_sub(CHAT_ENVELOPE_RESERVE + CHAT_ATTACHMENT_RESERVE * attachments)
        .max(4_000)
}

/// Chat text parts of a document, each within `budget` bytes once JSON-escaped (the limit
/// counts the serialized request, and escaping can grow text up to six-fold). The shared
/// splitter counts raw bytes, so its limit shrinks until every escaped part fits.
pub fn chat_parts(
    doc: &crate::markup::Document,
    dir: &dyn crate::markup::MentionResolver,
    budget: usize,
) -> Vec<crate::markup::Rendered> {
    let mut max = budget;
    loop {
        let parts = crate::markup::render_chat_parts(doc, dir, max);
        // Escaping grows a byte to at most six: parts that short cannot be over the budget.
        let worst =
            parts.iter().filter(|p| p.text.len() * 6 > budget).map(|p| json_len(&p.text)).max().unwrap_or(0);
        if worst <= budget || max <= 64 {
            return parts;
        }
        max = (max * budget / worst).min(max - max / 8).max(64);
    }
}

/// File extensions Google Chat refuses in `media.upload` (executables, scripts, installers
/// and disk images; the list the emulator enforces, after Google's blocked-types list).
pub const CHAT_BLOCKED_EXTENSIONS: &[&str] = &[
    "ade", "adp", "apk", "appx", "bat", "cab", "chm", "cmd", "com", "cpl", "dll", "dmg", "exe", "hta", "ins",
    "isp", "iso", "jar", "js", "jse", "lib", "lnk", "mde", "msc", "msi", "msix", "msp", "mst", "nsh", "pif",
    "ps1", "scr", "sct", "shb", "sys", "vb", "vbe", "vbs", "vxd", "wsc", "wsf", "wsh",
];

/// The extension of a file name (lowercase), if it has one: text after the last `.` that
/// is not the first character, 1 to 10 ASCII letters or digits.
pub fn extension(name: &str) -> Option<String> {
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty() && (1..=10).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| ext.to_ascii_lowercase())
}

/// Why Google Chat would refuse to upload a file of this name, if it would.
pub fn chat_blocked(name: &str) -> Option<&'static str> {
    let ext = extension(name)?;
    CHAT_BLOCKED_EXTENSIONS.contains(&ext.as_str()).then_some("a file type Google Chat blocks")
}

/// An extension for a content type, for file names that have none.
fn extension_for(content_type: &str) -> &'static str {
    let ct = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match ct.as_str() {
        "text/plain" => "txt",
        "text/markdown" => "md",
        "text/csv" => "csv",
        "text/html" => "html",
        "application/json" => "json",
        "application/pdf" => "pdf",
        "application/zip" => "zip",
        "application/gzip" | "application/x-gzip" => "gz",
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "image/svg+xml" => "svg",
        "audio/mpeg" => "mp3",
        "video/mp4" => "mp4",
        _ => "bin",
    }
}

/// Chat's `media.upload` needs a file name with an extension: a name without one (say
/// `Makefile`) is uploaded as `Makefile.txt` (the extension from its content type, else
/// `.bin`). Returns the blob to upload and, when renamed, the original name.
pub fn chat_upload_blob(
    mut blob: chatport_model::plan::BlobRef,
) -> (chatport_model::plan::BlobRef, Option<String>) {
    if extension(&blob.filename).is_some() {
        return (blob, None);
    }
    let original = blob.filename.clone();
    let stem = original.trim_end_matches('.');
    let stem = if stem.trim().is_empty() { "file" } else { stem };
    blob.filename = format!("{stem}.{}", extension_for(&blob.content_type));
    (blob, Some(original))
}

/// One historical Chat membership to import: Chat keeps a single membership per user and
/// space, so every past interval of a destination user (and the span of their messages
/// that no interval covers) is merged into one covering interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedMembership {
    /// The destination member (`users/…`).
    pub member: String,
    /// The source users mapped to it (sorted; the first names the operation).
    pub sources: Vec<String>,
    /// `createTime`, µs.
    pub start: i64,
    /// `deleteTime`, µs (exclusive).
    pub end: i64,
    /// Recorded closed intervals merged into it.
    pub intervals: usize,
    /// Whether it was widened (or created) to cover messages no interval covered.
    pub synthetic: bool,
}

/// Source users who could not get a membership of their own, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipNote {
    /// Past intervals of someone who is a current member: the post-completion add is their
    /// one membership.
    FoldedIntoCurrent {
        /// The source user.
        source: String,
        /// How many closed intervals were left out.
        intervals: usize,
    },
}

/// Plans a space's historical memberships from the closed intervals `(source user, start,
/// end)` (already clamped to the space), the first and last **assigned** `createTime` of the
/// messages each source user posts as themselves, and the current members (added after
/// completion, so given no historical membership). `member` maps a source user to their
/// destination member name (`None`: no account, nothing to import). Times are µs; every
/// interval ends after the user's last message (half-open) and no later than `latest`.
pub fn merge_chat_memberships(
    closed: &[(String, i64, i64)],
    authored: &std::collections::BTreeMap<String, (i64, i64)>,
    current: &std::collections::BTreeSet<String>,
    member: &dyn Fn(&str) -> Option<String>,
    space_time: i64,
    latest: i64,
) -> (Vec<MergedMembership>, Vec<MembershipNote>) {
    use std::collections::{BTreeMap, BTreeSet};
    const SECOND: i64 = 1_000_000;
    let current_members: BTreeSet<String> = current.iter().filter_map(|u| member(u)).collect();
    let mut notes = Vec::new();
    let mut by_member: BTreeMap<String, MergedMembership> = BTreeMap::new();
    let mut users: BTreeSet<&str> = closed.iter().map(|(u, _, _)| u.as_str()).collect();
    users.extend(authored.keys().map(String::as_str));
    for user in users {
        let Some(name) = member(user) else { continue };
        let intervals: Vec<(i64, i64)> =
            closed.iter().filter(|(u, _, _)| u == user).map(|&(_, s, e)| (s, e)).collect();
        if current.contains(user) || current_members.contains(&name) {
            if !intervals.is_empty() {
                notes.push(MembershipNote::FoldedIntoCurrent {
                    source: user.to_owned(),
                    intervals: intervals.len(),
                });
            }
            continue;
        }
        let mut hull = intervals.iter().fold(None, |acc: Option<(i64, i64)>, &(s, e)| {
            Some(acc.map_or((s, e), |(a, b)| (a.min(s), b.max(e))))
        });
        let mut synthetic = false;
        if let Some(&(first, last)) = authored.get(user) {
            let (start, end) = hull.unwrap_or((i64::MAX, i64::MIN));
            let start = if first < start {
                synthetic = true;
                (first - SECOND).max(space_time + 1).min(first)
            } else {
                start
            };
            let end = if last >= end {
                synthetic = true;
                (last + SECOND).min(latest).max(last + 1)
            } else {
                end
            };
            hull = Some((start, end));
        }
        let Some((start, end)) = hull else { continue };
        let entry = by_member.entry(name.clone()).or_insert_with(|| MergedMembership {
            member: name,
            sources: Vec::new(),
            start,
            end,
            intervals: 0,
            synthetic: false,
        });
        entry.sources.push(user.to_owned());
        entry.start = entry.start.min(start);
        entry.end = entry.end.max(end);
        entry.intervals += intervals.len();
        entry.synthetic |= synthetic;
    }
    (by_member.into_values().collect(), notes)
}

/// Whether `s` is an AAD (Entra ID) object id: a GUID, `8-4-4-4-12` hexadecimal digits
/// (optionally in braces).
pub fn is_guid(s: &str) -> bool {
    let s = s.strip_prefix('{').and_then(|x| x.strip_suffix('}')).unwrap_or(s);
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Teams: `from.user.id` must be the author's AAD object id. A mapped author whose target
/// is not one (the template proposes e-mails) is posted by the fallback account under an
/// attribution line, like any author without an account; the report says so once per user
/// ([`non_aad_author_entries`]). Returns the poster to use (and `notes` unchanged), with the
/// attribution added to `doc`.
pub fn require_aad_author(
    ctx: &super::Context,
    poster: super::Poster,
    doc: &mut crate::markup::Document,
    notes: Vec<(&'static str, String)>,
) -> (super::Poster, Vec<(&'static str, String)>) {
    use crate::markup::{Block, Inline};
    match poster {
        super::Poster::User { source, target } if !is_guid(&target) => {
            let label = ctx.name_of(&source);
            doc.blocks
                .insert(0, Block::Paragraph(vec![Inline::Bold(vec![Inline::Text(format!("{label}:"))])]));
            (super::Poster::App { label }, notes)
        }
        other => (other, notes),
    }
}

/// Teams: one report entry per user mapped as `author` whose target is not an AAD object id
/// (their messages are posted by the fallback account, see [`require_aad_author`]); none
/// for Chat.
pub fn non_aad_author_entries(ctx: &super::Context) -> Vec<chatport_model::plan::ReportEntry> {
    use crate::users::UserAction;
    if ctx.opts.destination != chatport_model::plan::Destination::Teams {
        return Vec::new();
    }
    let mut rows: Vec<&crate::users::MappingRow> =
        ctx.mapping.values().filter(|r| r.action == UserAction::Author && !is_guid(&r.target)).collect();
    rows.sort_by(|a, b| a.source_id.cmp(&b.source_id));
    rows.into_iter()
        .map(|r| chatport_model::plan::ReportEntry {
            item: "user".into(),
            outcome: chatport_model::plan::Outcome::Altered,
            reason: "author_not_aad_object_id".into(),
            conversation: None,
            ts: None,
            operation: None,
            detail: format!(
                "{} {} is mapped to {:?}, not an AAD object id (GUID): their messages are posted by the fallback \
                 user with an attribution line; put the user's object id in the mapping's target column",
                r.source_id, r.display_name, r.target
            ),
        })
        .collect()
}

/// Container id of the workspace team's General channel when no conversation maps to it.
pub const WORKSPACE_GENERAL: &str = "workspace-team-general";

/// Teams: a migration team cannot complete while any of its channels, General included,
/// is still in migration mode. When no selected conversation maps to the workspace team's
/// General channel (no `#general`, or a pilot run without it), this container uses and
/// completes it, so the team completes and its members can be added.
pub fn empty_general_channel(team_time: i64) -> ConversationPlan {
    use chatport_model::plan::{Action, Actor, Container, ContainerKind};
    let mut ops = super::OpList::new(WORKSPACE_GENERAL.to_owned(), None);
    ops.push(format!("{WORKSPACE_GENERAL}/general"), Actor::App, Action::TeamsUseGeneralChannel, None, false);
    ops.push(format!("{WORKSPACE_GENERAL}/complete"), Actor::App, Action::TeamsCompleteChannel, None, false);
    let container = Container {
        id: WORKSPACE_GENERAL.to_owned(),
        kind: ContainerKind::TeamsChannel,
        parent: Some(super::teams::WORKSPACE_TEAM.to_owned()),
        conversation: None,
        display_name: "General".to_owned(),
        create_time: chatport_model::ts::format_rfc3339(team_time, 3),
        ops_path: format!("ops/{WORKSPACE_GENERAL}.jsonl"),
        op_count: ops.ops.len() as u64,
        message_count: 0,
    };
    ConversationPlan {
        containers: vec![(container, ops.ops)],
        report: Vec::new(),
        considered: 0,
        carried: 0,
        dropped: 0,
        filtered: 0,
        spilled: None,
    }
}

/// Chat: the Workspace's e-mail domains, lowercase: `--domain` values plus the importer's.
pub fn workspace_domains(opts: &super::PlanOptions) -> Vec<String> {
    let mut domains: Vec<String> =
        opts.domains.iter().map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase()).collect();
    if let Some((_, d)) = opts.importer.as_deref().and_then(|i| i.rsplit_once('@')) {
        domains.push(d.to_ascii_lowercase());
    }
    domains.retain(|d| !d.is_empty());
    domains.sort();
    domains.dedup();
    domains
}

/// The domain of an e-mail address, lowercase.
fn domain_of(email: &str) -> Option<String> {
    email.trim().rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).filter(|d| !d.is_empty())
}

/// Chat: users outside the Workspace cannot be impersonated. A user whose identity (target,
/// else e-mail) is outside `domains` becomes `external`; an external user mapped as
/// `author` is posted by the app with an attribution line instead (the user report names
/// them). Bots, deactivated and unknown users keep their kind. Spaces with external
/// members are created with `externalUserAllowed` and the external members are added
/// after completion ([`chat_outsider_target`]).
pub fn outsiders_as_app(rows: &mut [crate::users::MappingRow], domains: &[String]) {
    use crate::users::{UserAction, UserKind};
    for r in rows.iter_mut() {
        let identity = if r.target.is_empty() { &r.email } else { &r.target };
        let foreign = !domains.is_empty() && domain_of(identity).is_some_and(|d| !domains.contains(&d));
        if foreign && matches!(r.kind, UserKind::Member | UserKind::Guest) {
            r.kind = UserKind::External;
        }
        if r.kind == UserKind::External && r.action == UserAction::Author {
            r.action = UserAction::App;
        }
    }
}

/// Chat: the identity to add after completion for a current member who does not post as
/// themselves but belongs in the space: an external user or a guest, unless the mapping
/// skips them (their mapped target, else their e-mail).
pub fn chat_outsider_target(row: &crate::users::MappingRow) -> Option<String> {
    use crate::users::{UserAction, UserKind};
    let outsider = matches!(row.kind, UserKind::External | UserKind::Guest);
    let id = if row.target.trim().is_empty() { row.email.trim() } else { row.target.trim() };
    (outsider && row.action != UserAction::Skip && !id.is_empty()).then(|| id.to_owned())
}

/// Longest excerpt of a thread root quoted in a flattened reply's marker, in characters.
pub const REPLY_EXCERPT_CHARS: usize = 60;

/// Chat: the line a flattened reply starts with, quoting its thread root `r`:
/// `↪ reply to <author>: “<excerpt>”`. Kept per thread root (not per message) while a
/// conversation streams, so it is made when the root is reached.
pub fn reply_marker(ctx: &super::Context, r: &chatport_model::Message) -> String {
    let who = r.author.as_deref().map(|a| ctx.name_of(a)).unwrap_or_else(|| "unknown".to_owned());
    let text = super::body_document(r).plain_text();
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut excerpt: String = flat.chars().take(REPLY_EXCERPT_CHARS).collect();
    if excerpt.len() < flat.len() {
        excerpt.push('…');
    }
    if excerpt.is_empty() {
        format!("↪ reply to {who}")
    } else {
        format!("↪ reply to {who}: “{excerpt}”")
    }
}

/// Chat: a GROUP_CHAT has no threads (`messageReplyOption` and `threadKey` are only for
/// named spaces), so a reply is posted in time order with a first line naming what it
/// answers: `↪ reply to <author>: “<excerpt>”`. `root` is the thread root's
/// [`reply_marker`] when the export has the root. Returns the report detail, or `None`
/// when `m` is not a reply.
pub fn flatten_reply(
    m: &chatport_model::Message,
    root: Option<&str>,
    doc: &mut crate::markup::Document,
) -> Option<String> {
    use crate::markup::{Block, Inline};
    let root_ts = m.reply_to.as_ref()?;
    if root_ts.as_str() == m.ts.as_str() {
        return None;
    }
    let marker = match root {
        Some(r) => r.to_owned(),
        None => "↪ reply to a message that is not carried".to_owned(),
    };
    doc.blocks.insert(0, Block::Paragraph(vec![Inline::Italic(vec![Inline::Text(marker.clone())])]));
    Some(format!(
        "group chats have no threads: the reply to {} is posted in time order, marked {marker:?}",
        root_ts.as_str()
    ))
}

/// Where a reply's thread root stands when the reply is planned (messages are planned in
/// time order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootState {
    /// Carried already: the reply joins its thread.
    Carried,
    /// Reached already and dropped (a deleted message, a skipped author…).
    Dropped,
    /// In the export, but dated after the reply (a reply dated before its root).
    Later,
    /// Not in the export, or outside the selected dates.
    Absent,
}

/// Chat: why a reply's thread root is not carried before it, if it is not — absent from
/// the export (or the selected dates), dropped (a deleted message, a skipped author…), or
/// dated after the reply. The reply then starts its thread (the thread key falls back to a
/// new thread). `root` says where a root time stands.
pub fn orphan_reply(
    m: &chatport_model::Message,
    t: i64,
    root: impl Fn(i64) -> RootState,
) -> Option<&'static str> {
    let r = m.reply_to.as_ref().and_then(|r| r.micros()).filter(|&r| r != t)?;
    match root(r) {
        RootState::Carried => None,
        RootState::Dropped => {
            Some("its thread root is not carried (see its own entry): it starts the thread")
        }
        RootState::Later => {
            Some("its thread root is dated after it: it starts the thread, which the root then joins")
        }
        RootState::Absent => {
            Some("its thread root is not in the export or outside the selected dates: it starts the thread")
        }
    }
}

/// The earliest time among a conversation's messages, those the filters left out included
/// (pass 1 gathers it, [`super::stream::Scan::first_any`]): container creation times must
/// not depend on `--channels`/`--since`/`--until`, or a full run after a pilot would reuse
/// the pilot's container and import messages before it.
pub fn first_time(scan: &super::stream::Scan) -> Option<i64> {
    scan.first_any
}

/// Teams: the workspace team's creation time — the earliest of its selected channels'
/// (`selected_min`), moved back to a second before the creation of any public channel,
/// selected or not, so that a pilot creates the team as the full run will.
pub fn team_time(selected_min: i64, all_public: &[&chatport_model::Conversation]) -> i64 {
    const SECOND: i64 = 1_000_000;
    all_public
        .iter()
        .filter_map(|c| c.created.and_then(|s| s.checked_mul(SECOND)))
        .map(|t| t - SECOND)
        .fold(selected_min, i64::min)
        .min(selected_min)
}

/// The report detail of a dropped join/leave event: Chat imports membership history as
/// historical memberships; Teams migration cannot import it at all.
pub fn membership_event_detail(destination: chatport_model::plan::Destination, subtype: &str) -> String {
    match destination {
        chatport_model::plan::Destination::Chat => {
            format!("`{subtype}` is carried as a membership interval")
        }
        chatport_model::plan::Destination::Teams => {
            format!("`{subtype}`: Teams migration cannot import membership history")
        }
    }
}

/// Whether a message was pinned on the source (Slack's `pinned_to`); neither destination
/// imports pins.
pub fn pinned(m: &chatport_model::Message) -> bool {
    m.extra.get("pinned_to").and_then(serde_json::Value::as_array).is_some_and(|a| !a.is_empty())
}

/// Longest Chat space guidelines, in characters.
pub const CHAT_GUIDELINES_MAX: usize = 5_000;

/// Characters left for a name once `--name-prefix` and `--name-suffix` take theirs from
/// a limit of `max` (at least 1).
pub fn room_for_name(opts: &super::PlanOptions, max: usize) -> usize {
    max.saturating_sub(opts.name_prefix.chars().count() + opts.name_suffix.chars().count()).max(1)
}

/// A space or team name with `--name-prefix` and `--name-suffix` around it: names must be
/// unique in the whole destination organisation, so several exports (or a workspace that
/// already has a `general` space) can be told apart.
pub fn affixed(name: &str, opts: &super::PlanOptions) -> String {
    format!("{}{name}{}", opts.name_prefix, opts.name_suffix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    #[test]
    fn memberships_merge_per_destination_user() {
        let s = 1_000_000;
        let closed = vec![
            ("U1".to_owned(), 10 * s, 20 * s),
            ("U1".to_owned(), 30 * s, 40 * s),
            ("U2".to_owned(), 12 * s, 15 * s),
            ("U3".to_owned(), 12 * s, 15 * s),
            ("U9".to_owned(), 12 * s, 15 * s),
        ];
        // U2 and U4 are one destination user; U4 posted after U2's interval ended; U5 never
        // joined; U3 is a current member; U9 has no account.
        let authored = BTreeMap::from([
            ("U1".to_owned(), (25 * s, 35 * s)),
            ("U4".to_owned(), (50 * s, 50 * s)),
            ("U5".to_owned(), (60 * s, 61 * s)),
        ]);
        let current = BTreeSet::from(["U3".to_owned()]);
        let member = |u: &str| match u {
            "U9" => None,
            "U4" => Some("users/u2".to_owned()),
            u => Some(format!("users/{}", u.to_lowercase())),
        };
        let (merged, notes) = merge_chat_memberships(&closed, &authored, &current, &member, 5 * s, 100 * s);
        let got: Vec<(&str, i64, i64, usize, bool)> = merged
            .iter()
            .map(|m| (m.member.as_str(), m.start / s, m.end, m.intervals, m.synthetic))
            .collect();
        assert_eq!(
            got,
            vec![
                ("users/u1", 10, 40 * s, 2, false),
                ("users/u2", 12, 51 * s, 1, true),
                ("users/u5", 59, 62 * s, 0, true),
            ]
        );
        assert_eq!(merged[1].sources, ["U2", "U4"]);
        assert_eq!(notes, vec![MembershipNote::FoldedIntoCurrent { source: "U3".into(), intervals: 1 }]);
        // A message at `latest` is still inside its (half-open) interval.
        let authored = BTreeMap::from([("U1".to_owned(), (100 * s, 100 * s))]);
        let (m, _) = merge_chat_memberships(&[], &authored, &BTreeSet::new(), &member, 5 * s, 100 * s);
        assert!(m[0].start <= 100 * s && 100 * s < m[0].end);
    }

    #[test]
    fn guids() {
        assert!(is_guid("6f4b2a1e-0000-4000-8000-00000000ABCD"));
        assert!(is_guid("{6f4b2a1e-0000-4000-8000-000000000001}"));
        for bad in [
            "ana@example.com",
            "aad-ana",
            "",
            "6f4b2a1e00004000800000000000abcd",
            "6f4b2a1e-0000-4000-8000-00000000000g",
        ] {
            assert!(!is_guid(bad), "{bad}");
        }
    }

    #[test]
    fn extensions_and_blocked_types() {
        assert_eq!(extension("report.PDF").as_deref(), Some("pdf"));
        assert_eq!(extension("archive.tar.gz").as_deref(), Some("gz"));
        assert_eq!(extension("Makefile"), None);
        assert_eq!(extension(".bashrc"), None, "a leading dot is a hidden file, not an extension");
        assert_eq!(extension("notes."), None);
        assert!(chat_blocked("Setup.Exe").is_some());
        assert!(chat_blocked("run.ps1").is_some());
        assert!(chat_blocked("exe").is_none());
        assert!(chat_blocked("photo.jpg").is_none());
    }

    #[test]
    fn upload_names_get_an_extension() {
        let blob = |name: &str, ct: &str| chatport_model::plan::BlobRef {
            path: "blobs/x".into(),
            sha256: "0".into(),
            bytes: 1,
            filename: name.into(),
            content_type: ct.into(),
        };
        let (b, renamed) = chat_upload_blob(blob("Makefile", "text/plain; charset=utf-8"));
        assert_eq!((b.filename.as_str(), renamed.as_deref()), ("Makefile.txt", Some("Makefile")));
        assert_eq!(chat_upload_blob(blob("F0123", "application/x-unknown")).0.filename, "F0123.bin");
        assert_eq!(chat_upload_blob(blob("a.png", "image/png")).1, None);
    }

    #[test]
    fn json_len_counts_escapes() {
        for s in ["plain", "q\"uote", "back\\slash", "tab\tnl\n", "ctl\u{1}", "é ✓"] {
            assert_eq!(json_len(s) + 2, serde_json::to_string(s).map(|j| j.len()).unwrap_or(0), "{s:?}");
        }
    }
}
