//! Record types of the canonical format v1: manifest, users, conversations, messages,
//! files and warnings. Every type derives `Serialize`, `Deserialize` and `JsonSchema`;
//! unknown source fields are kept in `extra` so that nothing is dropped.

use crate::ts::SlackTs;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Unknown or not-yet-interpreted source fields, kept verbatim (keys sorted).
pub type Extra = Map<String, Value>;

fn is_false(b: &bool) -> bool {
    !*b
}

/// `manifest.json`: what the directory holds, with counts and checksums.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`crate::FORMAT_VERSION`] for this crate.
    pub format_version: u32,
    /// The program that wrote the directory.
    pub tool: Tool,
    /// The export the directory was made from.
    pub source: Source,
    /// Record counts (see [`Counts`] for the exact meaning of each).
    pub counts: Counts,
    /// Every data file of the directory, sorted by path.
    pub files: Vec<DataFile>,
}

/// The program that wrote a canonical directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// Program name (`chatport`).
    pub name: String,
    /// Program version.
    pub version: String,
}

/// The source export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Source platform, e.g. `slack`.
    pub kind: String,
    /// Layouts recognised in the export: `standard`, `business` (private channels, DMs,
    /// group DMs), `slackdump` (file contents inside the archive).
    pub layouts: Vec<String>,
    /// The export's file or folder name (no directories, so the manifest is the same
    /// wherever the export lies).
    pub name: String,
    /// SHA-256 of the zip file; for a folder, of the sorted list of `path\0sha256\n` lines
    /// of its files.
    pub sha256: String,
}

/// Record counts of a canonical directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    /// Every user record written, placeholders included.
    pub users: u64,
    /// Every channel, private channel, group DM and DM, listed in the metadata or only
    /// found as a folder.
    pub conversations: u64,
    /// Every message record of every subtype, replies included.
    pub messages: u64,
    /// Messages whose thread root is another message.
    pub replies: u64,
    /// One per message × emoji × reacting user.
    pub reactions: u64,
    /// Distinct file records.
    pub files: u64,
    /// Membership intervals over all conversations.
    pub memberships: u64,
    /// Distinct file contents stored under `blobs/`.
    pub blobs: u64,
    /// Records in `warnings.jsonl`.
    pub warnings: u64,
}

/// One data file of a canonical directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataFile {
    /// Path relative to the directory, `/`-separated.
    pub path: String,
    /// JSONL records (lines) for `.jsonl` files; 1 for blobs.
    pub records: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
}

/// A person or bot of the source workspace (`users.jsonl`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Source id, e.g. `U061A1R2R`.
    pub id: String,
    /// Handle (`name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Real name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real_name: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Workspace (team) id the user belongs to; differs from the export's for external
    /// (Slack Connect) users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    /// A bot or app user.
    #[serde(default, skip_serializing_if = "is_false")]
    pub is_bot: bool,
    /// Deactivated.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    /// A multi-channel guest (`is_restricted`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub restricted: bool,
    /// A single-channel guest (`is_ultra_restricted`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub ultra_restricted: bool,
    /// IANA time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    /// True for a user that the export references but does not describe.
    #[serde(default, skip_serializing_if = "is_false")]
    pub placeholder: bool,
    /// Source fields not interpreted above, verbatim.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Extra,
}

/// What kind of conversation a [`Conversation`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    /// A public channel (`channels.json`).
    PublicChannel,
    /// A private channel (`groups.json`).
    PrivateChannel,
    /// A multi-person direct message (`mpims.json`).
    GroupDm,
    /// A one-to-one direct message (`dms.json`).
    Dm,
}

impl ConversationKind {
    /// The snake_case name used in files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationKind::PublicChannel => "public_channel",
            ConversationKind::PrivateChannel => "private_channel",
            ConversationKind::GroupDm => "group_dm",
            ConversationKind::Dm => "dm",
        }
    }
}

/// A topic or purpose, with who set it and when.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicText {
    /// The text (Slack mrkdwn).
    pub value: String,
    /// Who set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    /// When it was set (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_set: Option<i64>,
}

/// One interval during which a user was a member of a conversation, from the join/leave
/// messages of the export. `joined: None` means a member from before the first message
/// seen; `left: None` means still a member at the end of the export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Membership {
    /// The member.
    pub user: String,
    /// The `ts` of the join message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined: Option<SlackTs>,
    /// The `ts` of the leave message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left: Option<SlackTs>,
}

/// A channel, private channel, group DM or DM (`conversations.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Conversation {
    /// Source id (`C…`, `G…`, `D…`); for a folder the metadata does not list, the folder name.
    pub id: String,
    /// Kind of conversation.
    pub kind: ConversationKind,
    /// Channel name (group DMs: Slack's `mpdm-…` name; DMs: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Creation time (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
    /// Creator's user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    /// Topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<TopicText>,
    /// Purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<TopicText>,
    /// Archived.
    #[serde(default, skip_serializing_if = "is_false")]
    pub archived: bool,
    /// The workspace's default channel (`#general`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub is_general: bool,
    /// Current members, as listed by the metadata (for DMs the two participants).
    #[serde(default)]
    pub members: Vec<String>,
    /// Membership intervals from join/leave messages, ordered by user then time.
    #[serde(default)]
    pub memberships: Vec<Membership>,
    /// The metadata file that lists the conversation, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed_in: Option<String>,
    /// The export folder holding its day files, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    /// Path of its messages file in the canonical directory, relative to it.
    pub messages_path: String,
    /// Number of messages in that file.
    pub message_count: u64,
    /// Source fields not interpreted above, verbatim.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Extra,
}

/// How a message is to be understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// A message a person wrote (no subtype, `thread_broadcast`, `file_share`, …).
    Regular,
    /// A bot or integration message (`bot_message` or a `bot_id`).
    Bot,
    /// `/me` action text (`me_message`).
    Me,
    /// A system event: join, leave, topic, purpose, name, archive, pin, …
    System,
    /// A deleted message kept as a placeholder (`tombstone`).
    Tombstone,
    /// A subtype this version does not know; kept verbatim.
    Unknown,
}

/// Where a record came from: the export file and its index in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceRef {
    /// Path of the file inside the export (relative to its root).
    pub file: String,
    /// Zero-based index of the record in that file.
    pub index: u64,
}

/// An edit marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Edited {
    /// Who edited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// When (`ts` of the edit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<SlackTs>,
}

/// One emoji reaction on a message, with every user who reacted with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reaction {
    /// The exact emoji name, skin tone included (`+1::skin-tone-4`).
    pub name: String,
    /// Reacting users, in source order.
    pub users: Vec<String>,
    /// Slack's count, which can exceed `users.len()` when Slack truncated the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

/// The bot or integration identity of a bot message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BotInfo {
    /// `bot_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_id: Option<String>,
    /// Display name the bot posted under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `app_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// Icons (`icons` object) verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icons: Option<Value>,
}

/// A message body in its source dialect; interpreting it is the transform's job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// Markup dialect of `text`: `slack_mrkdwn`.
    pub format: String,
    /// The text as given (Slack escapes `&`, `<`, `>`).
    pub text: String,
    /// Block Kit `blocks`, verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Value>,
}

/// One message (`messages/<conversation>.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// The conversation's id.
    pub conversation: String,
    /// Slack `ts`, exactly as given; the message's id within its conversation.
    pub ts: SlackTs,
    /// Where the record came from.
    pub source: SourceRef,
    /// How to understand it.
    pub kind: MessageKind,
    /// Slack `subtype` as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtype: Option<String>,
    /// Author user id (for bots, the bot's user when Slack gives one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Bot identity, for bot messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<BotInfo>,
    /// The body.
    pub body: Body,
    /// `thread_ts` as given: on a thread root it equals `ts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<SlackTs>,
    /// The `ts` of the thread root when this message is a reply to another message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<SlackTs>,
    /// Number of replies Slack recorded on a thread root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_count: Option<u64>,
    /// A reply also sent to the channel (`thread_broadcast`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub broadcast: bool,
    /// Edit marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited: Option<Edited>,
    /// Reactions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// Ids of the files attached (see `files.jsonl`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Legacy attachments and link unfurls (`attachments`), verbatim but for stripped
    /// URL tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Value>,
    /// Source fields not interpreted above, verbatim but for stripped URL tokens.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Extra,
}

impl Message {
    /// Whether this message is a reply to another message of its thread.
    pub fn is_reply(&self) -> bool {
        self.reply_to.is_some()
    }
}

/// Whether a file's content can be carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    /// The content is inside the export and stored under `blobs/`.
    Present,
    /// Only metadata and a URL: the content is on the source platform (or external,
    /// e.g. Google Drive) and not in the export.
    RemoteOnly,
    /// Hidden by the source plan's history limit (`hidden_by_limit`).
    HiddenByLimit,
    /// Deleted on the source (`tombstone`).
    Tombstoned,
}

/// A file attached to messages (`files.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileRecord {
    /// Source id (`F…`).
    pub id: String,
    /// File name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mimetype: Option<String>,
    /// Size in bytes as the source reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Uploader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Upload time (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
    /// Whether the content can be carried.
    pub state: FileState,
    /// SHA-256 of the content when the export holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Path of the content under `blobs/`, relative to the canonical directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
    /// Download URL on the source platform, with access tokens stripped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The conversation and message where the file first appears.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<FileUse>,
    /// Source fields not interpreted above, verbatim but for stripped URL tokens.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Extra,
}

/// A place a file is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileUse {
    /// Conversation id.
    pub conversation: String,
    /// Message `ts`.
    pub ts: SlackTs,
}

/// What is odd about a piece of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WarningCode {
    /// The archive or folder could not be read (corrupt, truncated).
    UnreadableSource,
    /// An entry with `..`, an absolute path or another unsafe name: skipped.
    UnsafePath,
    /// An entry that inflates beyond the configured bound (a decompression bomb): skipped.
    EntryTooLarge,
    /// A `.json` file that is not JSON.
    InvalidJson,
    /// Bytes that are not UTF-8: replaced with U+FFFD.
    InvalidUtf8,
    /// A field or record of the wrong type.
    WrongType,
    /// `users.json` or `channels.json` is absent.
    MissingMetadata,
    /// The export holds no conversations and no users.
    EmptyExport,
    /// A conversation folder no metadata file lists.
    UnlistedConversation,
    /// A conversation id listed twice.
    DuplicateConversation,
    /// A user id listed twice.
    DuplicateUser,
    /// A user referenced but not described: a placeholder was written.
    PlaceholderUser,
    /// A record without a usable id or `ts`: skipped.
    MissingId,
    /// A message whose `ts` repeats another one in the same conversation.
    DuplicateTs,
    /// A reply whose thread root is not in the export.
    OrphanReply,
    /// A subtype this version does not know: kept as `unknown`.
    UnknownSubtype,
    /// A file in a conversation folder that is not a day file: skipped.
    UnexpectedEntry,
    /// File content in the archive that no message references: stored anyway.
    UnreferencedBlob,
    /// The export inflates beyond the configured total bound: the rest is skipped.
    TotalTooLarge,
    /// A zip entry with the name of an earlier one: skipped, the first being the one read.
    DuplicateEntry,
}

/// A record of `warnings.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Warning {
    /// What kind of problem.
    pub code: WarningCode,
    /// The export file at fault, relative to the export root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Zero-based record index in that file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<u64>,
    /// A human-readable explanation.
    pub detail: String,
}

impl Warning {
    /// A warning about a file (and optionally a record in it).
    pub fn new(
        code: WarningCode,
        file: Option<&str>,
        record: Option<u64>,
        detail: impl Into<String>,
    ) -> Self {
        Warning { code, file: file.map(str::to_owned), record, detail: detail.into() }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let code = serde_json::to_value(self.code)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        write!(f, "{code}")?;
        if let Some(file) = &self.file {
            write!(f, " {file}")?;
            if let Some(r) = self.record {
                write!(f, " [record {r}]")?;
            }
        }
        write!(f, ": {}", self.detail)
    }
}
