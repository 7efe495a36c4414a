//! The plan format: the contract between `transform` and `load`.
//!
//! A plan directory (`plan/chat/` or `plan/teams/`) holds `manifest.json`,
//! `containers.jsonl` (one destination container per line: a Chat space, a Teams team or
//! channel, with its creation request), `ops/<container>.jsonl` (the container's operations
//! in the order the loader must perform them) and `report.jsonl` (every source item that
//! could not be carried exactly, and why).
//!
//! Requests are ready to send except for what only the destination can assign (a space's
//! or channel's name, a parent message's id, an upload's reference): those are typed links
//! to the operation that produces them, never string templates.

use crate::canonical::DataFile;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Version of the plan format.
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// Which destination a plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    /// Google Chat, import mode.
    Chat,
    /// Microsoft Teams, migration mode.
    Teams,
}

impl Destination {
    /// `chat` or `teams`.
    pub fn as_str(self) -> &'static str {
        match self {
            Destination::Chat => "chat",
            Destination::Teams => "teams",
        }
    }
}

/// A stable operation id, derived from source ids only (never from run-time facts), so a
/// resumed load recognises work already done. Unique within a plan.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct OperationId(pub String);

impl std::fmt::Display for OperationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `manifest.json` of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanManifest {
    /// [`PLAN_FORMAT_VERSION`].
    pub format_version: u32,
    /// The destination.
    pub destination: Destination,
    /// SHA-256 of the canonical `manifest.json` the plan was made from.
    pub canonical_sha256: String,
    /// The options the plan was made with (policies, filters, team name…).
    pub options: Value,
    /// Counts.
    pub counts: PlanCounts,
    /// Every data file of the plan, sorted by path.
    pub files: Vec<DataFile>,
}

/// Counts of a plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanCounts {
    /// Containers (spaces, teams, channels).
    pub containers: u64,
    /// Operations over all containers.
    pub operations: u64,
    /// Operations per action type.
    pub by_action: std::collections::BTreeMap<String, u64>,
    /// Source messages considered (after filters).
    pub source_messages: u64,
    /// Source messages carried by an operation.
    pub messages_carried: u64,
    /// Source messages dropped (each has a report entry).
    pub messages_dropped: u64,
    /// Source messages outside `--channels`/`--since`/`--until` (not considered).
    pub messages_filtered: u64,
    /// Records of `report.jsonl`.
    pub report_entries: u64,
}

/// What kind of container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContainerKind {
    /// A Google Chat space (SPACE or GROUP_CHAT).
    ChatSpace,
    /// A Microsoft Teams team.
    TeamsTeam,
    /// A channel of a Teams team.
    TeamsChannel,
}

/// A destination container (`containers.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Container {
    /// Stable id within the plan; also the stem of its operations file.
    pub id: String,
    /// Kind.
    pub kind: ContainerKind,
    /// For a channel, the id of its team's container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The source conversation carried into it (none for a workspace team).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<String>,
    /// The name it will have.
    pub display_name: String,
    /// Its (historical) creation time, RFC 3339.
    pub create_time: String,
    /// Path of its operations file, relative to the plan directory.
    pub ops_path: String,
    /// Number of operations in that file.
    pub op_count: u64,
    /// Number of source messages it carries.
    pub message_count: u64,
}

/// Who an operation acts as.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "as", rename_all = "snake_case")]
pub enum Actor {
    /// The migration app itself (Chat app auth; Teams application permissions).
    App,
    /// A destination user: Chat impersonates them (`sub` = email); Teams names them in `from`.
    User {
        /// Chat: e-mail address; Teams: AAD object id.
        id: String,
    },
}

/// Where an operation comes from in the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpSource {
    /// Conversation id.
    pub conversation: String,
    /// Message `ts`, when the operation carries (part of) a message or its reaction/file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
    /// True on the one operation that carries a source message (its first part).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub primary: bool,
}

/// A file content the loader sends, read from the canonical directory's `blobs/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlobRef {
    /// Path relative to the canonical directory.
    pub path: String,
    /// SHA-256 of the content.
    pub sha256: String,
    /// Size in bytes.
    #[serde(deserialize_with = "u64_from_any_number")]
    pub bytes: u64,
    /// File name to give it.
    pub filename: String,
    /// MIME type.
    pub content_type: String,
}

/// Reads a `u64` through `serde_json::Number`. A `BlobRef` sits inside [`Action`], an
/// internally tagged enum that serde buffers before reading; serde_json (built with
/// `arbitrary_precision`) buffers a number as a one-key map, which a plain `u64` refuses
/// and a `Number` accepts.
fn u64_from_any_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    n.as_u64().ok_or_else(|| serde::de::Error::custom(format_args!("expected a byte count, found {n}")))
}

/// An inline image of a Teams message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostedContent {
    /// The `@microsoft.graph.temporaryId` the body's `../hostedContents/N/$value` uses.
    pub temporary_id: String,
    /// The image.
    pub blob: BlobRef,
}

/// What an operation does. Server-assigned names are links to the producing operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// `POST /v1/spaces` with `importMode: true`.
    ChatCreateSpace {
        /// Idempotency key (`requestId`).
        request_id: String,
        /// The Space body.
        space: Value,
    },
    /// `POST /v1/{space}/members` for a historical membership (createTime + deleteTime).
    ChatCreateMembership {
        /// The Membership body.
        membership: Value,
    },
    /// `media.upload` into the space, impersonating the sender.
    ChatUploadAttachment {
        /// The content.
        blob: BlobRef,
    },
    /// `POST /v1/{space}/messages?messageId=…`.
    ChatCreateMessage {
        /// The `client-…` id.
        message_id: String,
        /// `messageReplyOption`, for replies.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_option: Option<String>,
        /// The Message body (text, createTime, thread.threadKey).
        message: Value,
        /// Upload operations whose `attachmentDataRef` goes into `attachment`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<OperationId>,
    },
    /// `POST /v1/{message}/reactions`, impersonating the reacting user.
    ChatCreateReaction {
        /// The message operation.
        message: OperationId,
        /// The emoji object (`{"unicode": "👍"}`).
        emoji: Value,
    },
    /// `POST /v1/{space}:completeImport`.
    ChatCompleteImport,
    /// `POST /v1/{space}/members` after completion (a current member).
    ChatAddMember {
        /// The Membership body.
        membership: Value,
    },
    /// `POST /v1.0/teams` in migration mode, then poll the operation.
    TeamsCreateTeam {
        /// The team body.
        team: Value,
    },
    /// `POST /v1.0/teams/{team}/channels` in migration mode.
    TeamsCreateChannel {
        /// The channel body.
        channel: Value,
    },
    /// Use the team's existing General channel (already in migration mode after the team
    /// was created in migration mode).
    TeamsUseGeneralChannel,
    /// Upload to the channel's files folder (simple PUT ≤ 4 MB, else an upload session).
    TeamsUploadFile {
        /// The content.
        blob: BlobRef,
    },
    /// `POST …/messages` (or `…/messages/{parent}/replies`).
    TeamsPostMessage {
        /// The parent message operation, for a reply.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<OperationId>,
        /// The chatMessage body without `hostedContents` and file references.
        message: Value,
        /// Inline images.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        hosted_contents: Vec<HostedContent>,
        /// Upload operations to attach as `reference` attachments; the body holds
        /// `<attachment id="{upload op id}"></attachment>` placeholders the loader replaces
        /// with the uploaded item's id.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        files: Vec<OperationId>,
    },
    /// `POST …/channels/{channel}/completeMigration`.
    TeamsCompleteChannel,
    /// `POST /teams/{team}/completeMigration`.
    TeamsCompleteTeam,
    /// `POST /teams/{team}/members` after completion.
    TeamsAddMember {
        /// The conversationMember body.
        member: Value,
    },
}

impl Action {
    /// The snake_case name of the action type.
    pub fn name(&self) -> &'static str {
        match self {
            Action::ChatCreateSpace { .. } => "chat_create_space",
            Action::ChatCreateMembership { .. } => "chat_create_membership",
            Action::ChatUploadAttachment { .. } => "chat_upload_attachment",
            Action::ChatCreateMessage { .. } => "chat_create_message",
            Action::ChatCreateReaction { .. } => "chat_create_reaction",
            Action::ChatCompleteImport => "chat_complete_import",
            Action::ChatAddMember { .. } => "chat_add_member",
            Action::TeamsCreateTeam { .. } => "teams_create_team",
            Action::TeamsCreateChannel { .. } => "teams_create_channel",
            Action::TeamsUseGeneralChannel => "teams_use_general_channel",
            Action::TeamsUploadFile { .. } => "teams_upload_file",
            Action::TeamsPostMessage { .. } => "teams_post_message",
            Action::TeamsCompleteChannel => "teams_complete_channel",
            Action::TeamsCompleteTeam => "teams_complete_team",
            Action::TeamsAddMember { .. } => "teams_add_member",
        }
    }

    /// Whether the operation belongs to the completion phase (run by `chatport complete`,
    /// not by `load`).
    pub fn is_completion(&self) -> bool {
        matches!(
            self,
            Action::ChatCompleteImport
                | Action::ChatAddMember { .. }
                | Action::TeamsCompleteChannel
                | Action::TeamsCompleteTeam
                | Action::TeamsAddMember { .. }
        )
    }
}

/// One operation (`ops/<container>.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    /// Stable id.
    pub id: OperationId,
    /// Position in the container's order, from 0.
    pub seq: u64,
    /// The container.
    pub container: String,
    /// Who it acts as.
    pub actor: Actor,
    /// What it does.
    pub action: Action,
    /// Its source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<OpSource>,
}

/// What happened to a source item that could not be carried exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Carried, but not exactly (see the reason).
    Altered,
    /// Not carried.
    Dropped,
}

/// A record of `report.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportEntry {
    /// What kind of item: `message`, `reaction`, `file`, `membership`, `conversation`,
    /// `user`, `markup`.
    pub item: String,
    /// Altered or dropped.
    pub outcome: Outcome,
    /// A stable reason code (e.g. `dm_not_importable`, `mention_as_text`).
    pub reason: String,
    /// Conversation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<String>,
    /// Message `ts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
    /// The operation that carries the altered item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<OperationId>,
    /// A human-readable explanation.
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_operation_reads_back_from_its_json() {
        // Its byte count sits in a struct inside an internally tagged enum: the case that
        // serde_json's `arbitrary_precision` breaks for a plain `u64`.
        let op = Operation {
            id: OperationId("C1/0".into()),
            seq: 0,
            container: "C1".into(),
            actor: Actor::User { id: "a@example.com".into() },
            action: Action::ChatUploadAttachment {
                blob: BlobRef {
                    path: "blobs/ab/cd".into(),
                    sha256: "00".repeat(32),
                    bytes: u64::MAX,
                    filename: "a.png".into(),
                    content_type: "image/png".into(),
                },
            },
            source: None,
        };
        let text = serde_json::to_string(&op).unwrap();
        assert_eq!(serde_json::from_str::<Operation>(&text).unwrap(), op);
        let fraction = text.replace(&u64::MAX.to_string(), "1.5");
        let error = serde_json::from_str::<Operation>(&fraction).unwrap_err().to_string();
        assert!(error.contains("expected a byte count, found 1.5"), "{error}");
    }
}
