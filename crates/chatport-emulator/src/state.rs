//! The emulator's in-memory state: every resource of both APIs as a [`Record`], plus the
//! indexes the rules need (ordered messages per space and channel, used timestamps, client
//! ids, thread keys).
//!
//! A record is the unit of persistence: [`State::put`] applies it and queues it for the
//! store, and replaying the stored records through the same function rebuilds the state
//! after a restart. Deletions are tombstones (a flag on the record), never row removals, so
//! rules such as "unique even after deletion" survive restarts. This module validates
//! nothing; the API modules do.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::{DirectoryUser, MicrosoftAppTrust, ServiceAccountTrust};
use crate::time::Timestamp;

/// A Google Chat space.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatSpace {
    /// `spaces/{id}`.
    pub name: String,
    /// `SPACE` or `GROUP_CHAT` (or `DIRECT_MESSAGE` outside import mode).
    pub space_type: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Whether external users may join.
    pub external_user_allowed: bool,
    /// `spaceDetails.description`.
    pub description: Option<String>,
    /// `spaceDetails.guidelines`.
    pub guidelines: Option<String>,
    /// `HISTORY_ON` / `HISTORY_OFF`.
    pub history_state: String,
    /// Still in import mode.
    pub import_mode: bool,
    /// Creation time (historical in import mode).
    pub create_time: Timestamp,
    /// Import-mode deadline; kept after completion (membership scopes depend on it).
    pub import_deadline: Option<Timestamp>,
    /// When completeImport ran.
    pub completed_time: Option<Timestamp>,
    /// Last write.
    pub last_active_time: Timestamp,
    /// Project (app) that created the space.
    pub creator_project: String,
    /// Google id of the creating user.
    pub creator_user: Option<String>,
    /// `requestId` of the create call.
    pub request_id: Option<String>,
    /// Deleted by spaces.delete.
    pub deleted: bool,
    /// Whether the space expired in import mode (deleted automatically).
    pub expired: bool,
    /// Any other settable fields (accessSettings, permissionSettings, …) echoed back.
    pub extra: serde_json::Map<String, Value>,
}

/// An attachment on a Chat message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatAttachment {
    /// `spaces/S/messages/M/attachments/A`.
    pub name: String,
    /// Original file name.
    pub content_name: String,
    /// MIME type.
    pub content_type: String,
    /// `attachmentDataRef.resourceName`.
    pub resource_name: String,
    /// `attachmentDataRef.attachmentUploadToken`.
    pub upload_token: String,
}

/// A Google Chat message (tombstoned when deleted).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `spaces/S/messages/M` with the system id.
    pub name: String,
    /// `spaces/S`.
    pub space: String,
    /// `client-…` id when the creator chose one.
    pub client_id: Option<String>,
    /// `users/{id}` of the sender.
    pub sender: String,
    /// `HUMAN` or `BOT`.
    pub sender_type: String,
    /// Project of the app that created the message.
    pub project: String,
    /// createTime.
    pub create_time: Timestamp,
    /// lastUpdateTime.
    pub last_update_time: Option<Timestamp>,
    /// deleteTime.
    pub delete_time: Option<Timestamp>,
    /// `deletionMetadata.deletionType`.
    pub deletion_type: Option<String>,
    /// Text.
    pub text: Option<String>,
    /// cardsV2 as sent.
    pub cards_v2: Option<Value>,
    /// fallbackText.
    pub fallback_text: Option<String>,
    /// `spaces/S/threads/T`.
    pub thread: String,
    /// Whether this message replies in an existing thread.
    pub thread_reply: bool,
    /// Attachments.
    pub attachments: Vec<ChatAttachment>,
    /// `requestId` of the create call.
    pub request_id: Option<String>,
}

/// A Google Chat thread.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatThread {
    /// `spaces/S/threads/T`.
    pub name: String,
    /// `spaces/S`.
    pub space: String,
    /// threadKey, scoped to the project that set it.
    pub key: Option<String>,
    /// Project that created the thread.
    pub project: String,
    /// createTime of the thread's first message.
    pub root_create_time: Timestamp,
    /// Name of the first message.
    pub root: String,
}

/// A Google Chat membership, historical (import mode) or current.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatMembership {
    /// `spaces/S/members/{google id}`.
    pub name: String,
    /// `spaces/S`.
    pub space: String,
    /// Google id of the member.
    pub user_id: String,
    /// True when imported with createTime/deleteTime.
    pub historical: bool,
    /// createTime.
    pub create_time: Timestamp,
    /// deleteTime (historical memberships).
    pub delete_time: Option<Timestamp>,
    /// `JOINED`, `INVITED` or `NOT_A_MEMBER`.
    pub state: String,
    /// `ROLE_MEMBER` or `ROLE_MANAGER`.
    pub role: String,
    /// Removed by members.delete.
    pub removed: bool,
}

impl ChatMembership {
    /// Storage key: historical and current memberships of one user are distinct records.
    pub fn key(&self) -> String {
        format!("{}#{}", self.name, if self.historical { "h" } else { "c" })
    }
}

/// A Google Chat reaction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatReaction {
    /// `spaces/S/messages/M/reactions/R`.
    pub name: String,
    /// Message name.
    pub message: String,
    /// Google id of the reacting user.
    pub user_id: String,
    /// `{"unicode": …}` or `{"customEmoji": {"uid": …}}`.
    pub emoji: Value,
    /// Deleted by reactions.delete.
    pub deleted: bool,
}

/// Content uploaded with media.upload, waiting to be attached.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatUpload {
    /// `attachmentDataRef.resourceName`.
    pub resource_name: String,
    /// `attachmentDataRef.attachmentUploadToken`.
    pub token: String,
    /// Space it was uploaded to.
    pub space: String,
    /// File name from the metadata part.
    pub filename: String,
    /// MIME type of the media part.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content (blob file name).
    pub sha256: String,
    /// Google id of the uploader.
    pub uploader: String,
}

/// A Microsoft Teams team.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Team {
    /// GUID.
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// displayName.
    pub display_name: String,
    /// description.
    pub description: Option<String>,
    /// createdDateTime (historical in migration mode).
    pub created: Timestamp,
    /// `inProgress`, `completed`, or None for a normal team.
    pub migration_mode: Option<String>,
    /// Client id of the app that created it.
    pub owner_app: String,
    /// Id of the General channel.
    pub general_channel: String,
    /// Document library of the team.
    pub drive_id: String,
    /// Root folder item of the drive.
    pub drive_root: String,
    /// True once the creation operation has succeeded.
    pub provisioned: bool,
    /// Deleted through DELETE /groups/{id}.
    pub deleted: bool,
}

/// A team-creation async operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TeamOperation {
    /// Operation id.
    pub id: String,
    /// Target team.
    pub team_id: String,
    /// Created.
    pub created: Timestamp,
    /// Polls answered so far.
    pub polls: u32,
    /// `inProgress`, `succeeded` or `failed`.
    pub status: String,
}

/// A Microsoft Teams channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Channel {
    /// `19:…@thread.tacv2`.
    pub id: String,
    /// Team id.
    pub team_id: String,
    /// displayName.
    pub display_name: String,
    /// description.
    pub description: Option<String>,
    /// `standard`, `private` or `shared`.
    pub membership_type: String,
    /// createdDateTime.
    pub created: Timestamp,
    /// `inProgress`, `completed`, or None (never migrated).
    pub migration_mode: Option<String>,
    /// App that may import (created in, or started, migration).
    pub owner_app: String,
    /// Files folder driveItem id.
    pub folder_id: String,
    /// The General channel.
    pub is_general: bool,
    /// Deleted with its team.
    pub deleted: bool,
}

/// An imported Graph channel message or reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GraphMessage {
    /// Numeric id, unique in the channel.
    pub id: String,
    /// Team id.
    pub team_id: String,
    /// Channel id.
    pub channel_id: String,
    /// Parent message id for replies.
    pub reply_to: Option<String>,
    /// createdDateTime (milliseconds).
    pub created: Timestamp,
    /// The chatMessage resource as served.
    pub resource: Value,
}

impl GraphMessage {
    /// Storage key.
    pub fn key(&self) -> String {
        format!("{}/{}", self.channel_id, self.id)
    }
}

/// A stored inline image of a Graph message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostedContent {
    /// hostedContent id.
    pub id: String,
    /// Channel id.
    pub channel_id: String,
    /// Message id.
    pub message_id: String,
    /// MIME type.
    pub content_type: String,
    /// SHA-256 of the bytes (blob file name).
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

impl HostedContent {
    /// Storage key.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.channel_id, self.message_id, self.id)
    }
}

/// A SharePoint/OneDrive driveItem (file or folder).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DriveItem {
    /// Item id.
    pub id: String,
    /// Drive id.
    pub drive_id: String,
    /// Parent folder id.
    pub parent_id: Option<String>,
    /// Name.
    pub name: String,
    /// Folder (true) or file.
    pub folder: bool,
    /// Size in bytes.
    pub size: u64,
    /// MIME type of a file.
    pub mime: Option<String>,
    /// SHA-256 of a file's bytes.
    pub sha256: Option<String>,
    /// GUID in the eTag.
    pub etag_guid: String,
    /// Version in the eTag.
    pub version: u32,
    /// webUrl.
    pub web_url: String,
    /// Created.
    pub created: Timestamp,
}

/// A resumable driveItem upload session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadSession {
    /// Session id (the last segment of uploadUrl).
    pub id: String,
    /// Drive id.
    pub drive_id: String,
    /// Parent folder id.
    pub parent_id: String,
    /// File name.
    pub name: String,
    /// `fail`, `replace` or `rename`.
    pub conflict: String,
    /// Bytes received so far.
    pub received: u64,
    /// Total size, known after the first chunk.
    pub total: Option<u64>,
    /// Expiry.
    pub expires: Timestamp,
    /// Finished or cancelled.
    pub closed: bool,
}

/// A member of a team or channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TeamMember {
    /// conversationMember id.
    pub id: String,
    /// Team id.
    pub team_id: String,
    /// Channel id for channel members.
    pub channel_id: Option<String>,
    /// Entra object id.
    pub user_id: String,
    /// roles.
    pub roles: Vec<String>,
}

/// Who an access token was issued to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "issuer", rename_all = "snake_case")]
pub enum TokenIdentity {
    /// A Google service account, optionally impersonating a user.
    Google {
        /// Project of the service account.
        project: String,
        /// Service-account email.
        client_email: String,
        /// Service-account client id.
        client_id: String,
        /// Email of the impersonated user (None = app auth).
        user: Option<String>,
        /// Granted scopes.
        scopes: Vec<String>,
    },
    /// A Microsoft app (client credentials).
    Microsoft {
        /// Tenant.
        tenant: String,
        /// Application id.
        client_id: String,
        /// Application permissions.
        roles: Vec<String>,
    },
}

/// An issued bearer token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessToken {
    /// The SHA-256 of the token text (tokens themselves are never stored).
    pub token_hash: String,
    /// Expiry in wall time.
    pub expires: Timestamp,
    /// Holder.
    pub identity: TokenIdentity,
}

/// One persisted unit of state.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", content = "record", rename_all = "snake_case")]
pub enum Record {
    /// Chat space.
    Space(ChatSpace),
    /// Chat message.
    Message(ChatMessage),
    /// Chat thread.
    Thread(ChatThread),
    /// Chat membership.
    Membership(ChatMembership),
    /// Chat reaction.
    Reaction(ChatReaction),
    /// Chat upload.
    Upload(ChatUpload),
    /// Teams team.
    Team(Team),
    /// Team creation operation.
    Operation(TeamOperation),
    /// Teams channel.
    Channel(Channel),
    /// Graph message or reply.
    GraphMessage(GraphMessage),
    /// Graph hosted content.
    Hosted(HostedContent),
    /// Drive item.
    DriveItem(DriveItem),
    /// Drive upload session.
    UploadSession(UploadSession),
    /// Team or channel member.
    TeamMember(TeamMember),
    /// Access token.
    Token(AccessToken),
    /// Trusted Google service account.
    TrustedGoogle(ServiceAccountTrust),
    /// Trusted Microsoft app.
    TrustedMicrosoft(MicrosoftAppTrust),
    /// Directory user added at run time.
    User(DirectoryUser),
    /// Admin clock offset, nanoseconds.
    ClockOffset(i64),
}

impl Record {
    /// Record kind (the SQLite `kind` column).
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Space(_) => "space",
            Record::Message(_) => "message",
            Record::Thread(_) => "thread",
            Record::Membership(_) => "membership",
            Record::Reaction(_) => "reaction",
            Record::Upload(_) => "upload",
            Record::Team(_) => "team",
            Record::Operation(_) => "operation",
            Record::Channel(_) => "channel",
            Record::GraphMessage(_) => "graph_message",
            Record::Hosted(_) => "hosted",
            Record::DriveItem(_) => "drive_item",
            Record::UploadSession(_) => "upload_session",
            Record::TeamMember(_) => "team_member",
            Record::Token(_) => "token",
            Record::TrustedGoogle(_) => "trusted_google",
            Record::TrustedMicrosoft(_) => "trusted_microsoft",
            Record::User(_) => "user",
            Record::ClockOffset(_) => "clock_offset",
        }
    }

    /// Record key, unique within its kind (the SQLite `key` column).
    pub fn key(&self) -> String {
        match self {
            Record::Space(r) => r.name.clone(),
            Record::Message(r) => r.name.clone(),
            Record::Thread(r) => r.name.clone(),
            Record::Membership(r) => r.key(),
            Record::Reaction(r) => r.name.clone(),
            Record::Upload(r) => r.resource_name.clone(),
            Record::Team(r) => r.id.clone(),
            Record::Operation(r) => r.id.clone(),
            Record::Channel(r) => r.id.clone(),
            Record::GraphMessage(r) => r.key(),
            Record::Hosted(r) => r.key(),
            Record::DriveItem(r) => r.id.clone(),
            Record::UploadSession(r) => r.id.clone(),
            Record::TeamMember(r) => r.id.clone(),
            Record::Token(r) => r.token_hash.clone(),
            Record::TrustedGoogle(r) => r.client_email.clone(),
            Record::TrustedMicrosoft(r) => format!("{}/{}", r.tenant_id, r.client_id),
            Record::User(r) => r.email.to_ascii_lowercase(),
            Record::ClockOffset(_) => "offset".into(),
        }
    }
}

/// All resources plus indexes. Mutate only through [`State::put`].
#[derive(Debug, Default)]
pub struct State {
    /// Chat spaces by name.
    pub spaces: BTreeMap<String, ChatSpace>,
    /// Chat messages by name.
    pub messages: HashMap<String, ChatMessage>,
    /// (space, client id) → message name.
    pub client_ids: HashMap<(String, String), String>,
    /// (space, requestId) → message name.
    pub message_requests: HashMap<(String, String), String>,
    /// Space → (createTime, message name), every message ever created (deleted too).
    pub space_messages: HashMap<String, BTreeSet<(Timestamp, String)>>,
    /// Space → every createTime ever used.
    pub space_times: HashMap<String, HashSet<Timestamp>>,
    /// Thread → (createTime, message name).
    pub thread_messages: HashMap<String, BTreeSet<(Timestamp, String)>>,
    /// Threads by name.
    pub threads: HashMap<String, ChatThread>,
    /// (space, project, key) → thread name.
    pub thread_keys: HashMap<(String, String, String), String>,
    /// Memberships by key.
    pub memberships: BTreeMap<String, ChatMembership>,
    /// Reactions by name.
    pub reactions: BTreeMap<String, ChatReaction>,
    /// Uploads by resource name.
    pub uploads: HashMap<String, ChatUpload>,
    /// Teams by id.
    pub teams: BTreeMap<String, Team>,
    /// Operations by id.
    pub operations: BTreeMap<String, TeamOperation>,
    /// Channels by id.
    pub channels: BTreeMap<String, Channel>,
    /// Graph messages by key `channel/id`.
    pub graph_messages: HashMap<String, GraphMessage>,
    /// Channel → (created, id) of root messages.
    pub channel_roots: HashMap<String, BTreeSet<(Timestamp, String)>>,
    /// `channel/root` → (created, id) of replies.
    pub replies: HashMap<String, BTreeSet<(Timestamp, String)>>,
    /// (channel, ms) pairs used by any message.
    pub channel_millis: HashSet<(String, i64)>,
    /// (channel, thread key, ms) used: the key is a root id for a thread, `#roots` for
    /// root messages.
    pub thread_millis: HashSet<(String, String, i64)>,
    /// Hosted contents by key.
    pub hosted: BTreeMap<String, HostedContent>,
    /// Drive items by id.
    pub drive_items: BTreeMap<String, DriveItem>,
    /// (parent folder id, lowercase name) → drive item id.
    pub drive_children: HashMap<(String, String), String>,
    /// Upload sessions by id.
    pub upload_sessions: BTreeMap<String, UploadSession>,
    /// Team and channel members by id.
    pub team_members: BTreeMap<String, TeamMember>,
    /// Tokens by hash.
    pub tokens: HashMap<String, AccessToken>,
    /// Trusted service accounts by email.
    pub trusted_google: BTreeMap<String, ServiceAccountTrust>,
    /// Trusted apps by `tenant/client`.
    pub trusted_microsoft: BTreeMap<String, MicrosoftAppTrust>,
    /// Users added at run time, by lowercase email.
    pub extra_users: BTreeMap<String, DirectoryUser>,
    /// Clock offset.
    pub clock_offset: i64,
    /// Records applied but not yet handed to the store.
    pending: Vec<Record>,
}

impl State {
    /// Applies a record and queues it for persistence.
    pub fn put(&mut self, record: Record) {
        self.apply(record.clone());
        self.pending.push(record);
    }

    /// Takes the records queued since the last call.
    pub fn take_pending(&mut self) -> Vec<Record> {
        std::mem::take(&mut self.pending)
    }

    /// Applies a record without queueing it (used when loading from disk).
    pub fn apply(&mut self, record: Record) {
        match record {
            Record::Space(r) => {
                self.spaces.insert(r.name.clone(), r);
            }
            Record::Message(r) => {
                if let Some(client) = &r.client_id {
                    self.client_ids.insert((r.space.clone(), client.clone()), r.name.clone());
                }
                if let Some(req) = &r.request_id {
                    self.message_requests.insert((r.space.clone(), req.clone()), r.name.clone());
                }
                self.space_messages
                    .entry(r.space.clone())
                    .or_default()
                    .insert((r.create_time, r.name.clone()));
                self.space_times.entry(r.space.clone()).or_default().insert(r.create_time);
                self.thread_messages
                    .entry(r.thread.clone())
                    .or_default()
                    .insert((r.create_time, r.name.clone()));
                self.messages.insert(r.name.clone(), r);
            }
            Record::Thread(r) => {
                if let Some(key) = &r.key {
                    self.thread_keys
                        .insert((r.space.clone(), r.project.clone(), key.clone()), r.name.clone());
                }
                self.threads.insert(r.name.clone(), r);
            }
            Record::Membership(r) => {
                self.memberships.insert(r.key(), r);
            }
            Record::Reaction(r) => {
                self.reactions.insert(r.name.clone(), r);
            }
            Record::Upload(r) => {
                self.uploads.insert(r.resource_name.clone(), r);
            }
            Record::Team(r) => {
                self.teams.insert(r.id.clone(), r);
            }
            Record::Operation(r) => {
                self.operations.insert(r.id.clone(), r);
            }
            Record::Channel(r) => {
                self.channels.insert(r.id.clone(), r);
            }
            Record::GraphMessage(r) => {
                let ms = r.created.as_millis();
                self.channel_millis.insert((r.channel_id.clone(), ms));
                // Thread-scope uniqueness: roots are compared with roots (key "#roots"),
                // replies with their root and siblings (key = root id).
                match &r.reply_to {
                    Some(parent) => {
                        self.thread_millis.insert((r.channel_id.clone(), parent.clone(), ms));
                    }
                    None => {
                        self.thread_millis.insert((r.channel_id.clone(), "#roots".into(), ms));
                        self.thread_millis.insert((r.channel_id.clone(), r.id.clone(), ms));
                    }
                }
                match &r.reply_to {
                    Some(parent) => {
                        self.replies
                            .entry(format!("{}/{parent}", r.channel_id))
                            .or_default()
                            .insert((r.created, r.id.clone()));
                    }
                    None => {
                        self.channel_roots
                            .entry(r.channel_id.clone())
                            .or_default()
                            .insert((r.created, r.id.clone()));
                    }
                }
                self.graph_messages.insert(r.key(), r);
            }
            Record::Hosted(r) => {
                self.hosted.insert(r.key(), r);
            }
            Record::DriveItem(r) => {
                if let Some(parent) = &r.parent_id {
                    self.drive_children.insert((parent.clone(), r.name.to_lowercase()), r.id.clone());
                }
                self.drive_items.insert(r.id.clone(), r);
            }
            Record::UploadSession(r) => {
                self.upload_sessions.insert(r.id.clone(), r);
            }
            Record::TeamMember(r) => {
                self.team_members.insert(r.id.clone(), r);
            }
            Record::Token(r) => {
                self.tokens.insert(r.token_hash.clone(), r);
            }
            Record::TrustedGoogle(r) => {
                self.trusted_google.insert(r.client_email.clone(), r);
            }
            Record::TrustedMicrosoft(r) => {
                self.trusted_microsoft.insert(format!("{}/{}", r.tenant_id, r.client_id), r);
            }
            Record::User(r) => {
                self.extra_users.insert(r.email.to_ascii_lowercase(), r);
            }
            Record::ClockOffset(offset) => self.clock_offset = offset,
        }
    }

    /// The full state as JSON for the admin endpoint (tokens and secrets left out).
    pub fn dump(&self) -> Value {
        let mut messages: Vec<&ChatMessage> = self.messages.values().collect();
        messages.sort_by(|a, b| (&a.space, a.create_time, &a.name).cmp(&(&b.space, b.create_time, &b.name)));
        let mut graph_messages: Vec<&GraphMessage> = self.graph_messages.values().collect();
        graph_messages
            .sort_by(|a, b| (&a.channel_id, a.created, &a.id).cmp(&(&b.channel_id, b.created, &b.id)));
        let mut threads: Vec<&ChatThread> = self.threads.values().collect();
        threads.sort_by(|a, b| a.name.cmp(&b.name));
        let mut uploads: Vec<&ChatUpload> = self.uploads.values().collect();
        uploads.sort_by(|a, b| a.resource_name.cmp(&b.resource_name));
        json!({
            "chat": {
                "spaces": self.spaces.values().collect::<Vec<_>>(),
                "messages": messages,
                "threads": threads,
                "memberships": self.memberships.values().collect::<Vec<_>>(),
                "reactions": self.reactions.values().collect::<Vec<_>>(),
                "uploads": uploads,
            },
            "graph": {
                "teams": self.teams.values().collect::<Vec<_>>(),
                "operations": self.operations.values().collect::<Vec<_>>(),
                "channels": self.channels.values().collect::<Vec<_>>(),
                "messages": graph_messages,
                "hosted_contents": self.hosted.values().collect::<Vec<_>>(),
                "drive_items": self.drive_items.values().collect::<Vec<_>>(),
                "upload_sessions": self.upload_sessions.values().collect::<Vec<_>>(),
                "members": self.team_members.values().collect::<Vec<_>>(),
            },
            "directory": {
                "added_users": self.extra_users.values().collect::<Vec<_>>(),
                "trusted_service_accounts": self.trusted_google.values().map(|t| &t.client_email).collect::<Vec<_>>(),
                "trusted_apps": self.trusted_microsoft.values().map(|t| json!({"tenant_id": t.tenant_id, "client_id": t.client_id})).collect::<Vec<_>>(),
            },
            "clock_offset_nanos": self.clock_offset,
        })
    }
}
