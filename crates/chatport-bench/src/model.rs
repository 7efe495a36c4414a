//! The Slack export records the generator writes, as serializable structs whose field order
//! follows Slack's own files. Only what the generator emits is modelled; this is not a parser.

use serde::Serialize;

/// A user record of `users.json`.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    /// `U…` id.
    pub id: String,
    /// Workspace id.
    pub team_id: String,
    /// The handle.
    pub name: String,
    /// Deactivated account.
    pub deleted: bool,
    /// Hex colour, absent for deleted users.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// Full name.
    pub real_name: String,
    /// IANA time zone, absent for deleted users.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    /// Time zone label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tz_label: Option<String>,
    /// Offset from UTC in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tz_offset: Option<i32>,
    /// Profile.
    pub profile: Profile,
    /// Admin.
    pub is_admin: bool,
    /// Owner.
    pub is_owner: bool,
    /// Primary owner.
    pub is_primary_owner: bool,
    /// Multi-channel guest.
    pub is_restricted: bool,
    /// Single-channel guest.
    pub is_ultra_restricted: bool,
    /// Bot user.
    pub is_bot: bool,
    /// App user.
    pub is_app_user: bool,
    /// Last profile update, Unix seconds.
    pub updated: i64,
}

/// The `profile` of a [`User`].
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    /// Job title.
    pub title: String,
    /// Phone.
    pub phone: String,
    /// Full name.
    pub real_name: String,
    /// Full name, normalized.
    pub real_name_normalized: String,
    /// Display name.
    pub display_name: String,
    /// Display name, normalized.
    pub display_name_normalized: String,
    /// Status text.
    pub status_text: String,
    /// Status emoji.
    pub status_emoji: String,
    /// Avatar hash.
    pub avatar_hash: String,
    /// E-mail, absent for bots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Bot id of a bot user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bot_id: Option<String>,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// 72px avatar.
    pub image_72: String,
    /// 192px avatar.
    pub image_192: String,
    /// Workspace id.
    pub team: String,
}

/// `user_profile` embedded in user-authored messages.
#[derive(Debug, Clone, Serialize)]
pub struct UserProfile {
    /// Avatar hash.
    pub avatar_hash: String,
    /// 72px avatar.
    pub image_72: String,
    /// First name.
    pub first_name: String,
    /// Full name.
    pub real_name: String,
    /// Display name.
    pub display_name: String,
    /// Workspace id.
    pub team: String,
    /// Handle.
    pub name: String,
    /// Guest.
    pub is_restricted: bool,
    /// Single-channel guest.
    pub is_ultra_restricted: bool,
}

/// `topic` / `purpose` of a conversation record.
#[derive(Debug, Clone, Serialize)]
pub struct TopicRecord {
    /// Text.
    pub value: String,
    /// Who set it (empty when never set).
    pub creator: String,
    /// When, Unix seconds (0 when never set).
    pub last_set: i64,
}

/// A record of `channels.json`, `groups.json` or `mpims.json`.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelRecord {
    /// `C…` (public) or `G…` (private, group DM) id.
    pub id: String,
    /// Name, also the folder name.
    pub name: String,
    /// Creation, Unix seconds.
    pub created: i64,
    /// Creator user id.
    pub creator: String,
    /// Archived.
    pub is_archived: bool,
    /// The `#general` channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_general: Option<bool>,
    /// Current members.
    pub members: Vec<String>,
    /// Topic.
    pub topic: TopicRecord,
    /// Purpose.
    pub purpose: TopicRecord,
}

/// A record of `dms.json`; the folder is named by the id.
#[derive(Debug, Clone, Serialize)]
pub struct DmRecord {
    /// `D…` id.
    pub id: String,
    /// Creation, Unix seconds.
    pub created: i64,
    /// The two members.
    pub members: Vec<String>,
}

/// `edited` of a message.
#[derive(Debug, Clone, Serialize)]
pub struct Edited {
    /// Editor.
    pub user: String,
    /// Edit time, Slack ts.
    pub ts: String,
}

/// One entry of a thread root's `replies`.
#[derive(Debug, Clone, Serialize)]
pub struct ReplyRef {
    /// Reply author.
    pub user: String,
    /// Reply ts.
    pub ts: String,
}

/// One emoji of a message's `reactions`.
#[derive(Debug, Clone, Serialize)]
pub struct Reaction {
    /// Emoji name, skin tone included (`+1::skin-tone-4`).
    pub name: String,
    /// Every reacting user.
    pub users: Vec<String>,
    /// Number of users.
    pub count: usize,
}

/// A `bot_profile` on messages posted by a bot user.
#[derive(Debug, Clone, Serialize)]
pub struct BotProfile {
    /// `B…` id.
    pub id: String,
    /// App id.
    pub app_id: String,
    /// Name.
    pub name: String,
    /// Icons.
    pub icons: Icons,
    /// Deleted.
    pub deleted: bool,
    /// Last update, Unix seconds.
    pub updated: i64,
    /// Workspace id.
    pub team_id: String,
}

/// Icons of a bot.
#[derive(Debug, Clone, Serialize)]
pub struct Icons {
    /// 48px icon.
    pub image_48: String,
}

/// A legacy attachment: a bot card or a link unfurl.
#[derive(Debug, Clone, Serialize)]
pub struct Attachment {
    /// Plain-text fallback.
    pub fallback: String,
    /// Bar colour.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// Text above the card.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pretext: Option<String>,
    /// Author line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_name: Option<String>,
    /// Unfurl service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// Title.
    pub title: String,
    /// Title link.
    pub title_link: String,
    /// Body (mrkdwn).
    pub text: String,
    /// Key/value fields.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<AttachmentField>,
    /// Unfurled URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_url: Option<String>,
    /// Footer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub footer: Option<String>,
    /// Card time, Unix seconds (a number, unlike message ts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
    /// Which parts are mrkdwn.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mrkdwn_in: Vec<&'static str>,
    /// Position.
    pub id: u32,
}

/// A field of an [`Attachment`].
#[derive(Debug, Clone, Serialize)]
pub struct AttachmentField {
    /// Label.
    pub title: String,
    /// Value.
    pub value: String,
    /// Side by side.
    pub short: bool,
}

/// A file object of a message's `files`.
#[derive(Debug, Clone, Serialize)]
pub struct File {
    /// `F…` id.
    pub id: String,
    /// `hosted`, `snippet`, `external`, `hidden_by_limit`, `tombstone`.
    pub mode: &'static str,
    /// Creation, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
    /// Same as created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    /// File name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// MIME type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mimetype: Option<&'static str>,
    /// Slack file type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filetype: Option<&'static str>,
    /// Human type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pretty_type: Option<&'static str>,
    /// Uploader.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Size in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Stored outside Slack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_external: Option<bool>,
    /// `gdrive` etc.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_type: Option<&'static str>,
    /// Shared in a public channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_public: Option<bool>,
    /// Download URL carrying a `?t=xoxe-…` token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_private: Option<String>,
    /// Forced-download URL carrying the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_private_download: Option<String>,
    /// Image thumbnail carrying the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumb_360: Option<String>,
    /// Thumbnail width.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumb_360_w: Option<u32>,
    /// Thumbnail height.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumb_360_h: Option<u32>,
    /// Snippet preview.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
    /// Web link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permalink: Option<String>,
    /// Public link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permalink_public: Option<String>,
    /// `visible`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_access: Option<&'static str>,
}

/// An inline element of a rich-text section.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RichInline {
    /// Styled text.
    Text {
        /// Text.
        text: String,
        /// Style flags.
        #[serde(skip_serializing_if = "Option::is_none")]
        style: Option<RichStyle>,
    },
    /// Link.
    Link {
        /// URL.
        url: String,
        /// Label.
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    /// User mention.
    User {
        /// User id.
        user_id: String,
    },
    /// Channel link.
    Channel {
        /// Channel id.
        channel_id: String,
    },
    /// Emoji.
    Emoji {
        /// Short name.
        name: String,
        /// Code points, absent for custom emoji.
        #[serde(skip_serializing_if = "Option::is_none")]
        unicode: Option<&'static str>,
        /// Skin tone 2..6.
        #[serde(skip_serializing_if = "Option::is_none")]
        skin_tone: Option<u8>,
    },
    /// `@here` / `@channel`.
    Broadcast {
        /// `here`, `channel`, `everyone`.
        range: &'static str,
    },
}

/// Style flags of a rich-text element.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct RichStyle {
    /// Bold.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub bold: bool,
    /// Italic.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub italic: bool,
    /// Strike.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub strike: bool,
    /// Inline code.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub code: bool,
}

/// A child of a `rich_text` block.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RichElement {
    /// A paragraph.
    RichTextSection {
        /// Inline content.
        elements: Vec<RichInline>,
    },
    /// A block quote.
    RichTextQuote {
        /// Inline content.
        elements: Vec<RichInline>,
    },
    /// A code block.
    RichTextPreformatted {
        /// Inline content.
        elements: Vec<RichInline>,
        /// Border.
        border: u8,
    },
    /// A list of sections.
    RichTextList {
        /// `bullet` or `ordered`.
        style: &'static str,
        /// Nesting.
        indent: u8,
        /// Border.
        border: u8,
        /// Items.
        elements: Vec<RichElement>,
    },
}

/// A `rich_text` block.
#[derive(Debug, Clone, Serialize)]
pub struct Block {
    /// Always `rich_text`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Random short id.
    pub block_id: String,
    /// Content.
    pub elements: Vec<RichElement>,
}

/// A minimal copy of the thread root that Slack embeds in `thread_broadcast` messages.
#[derive(Debug, Clone, Serialize)]
pub struct BroadcastRoot {
    /// Root author.
    pub user: String,
    /// Root text.
    pub text: String,
    /// Root ts.
    pub ts: String,
    /// Root ts.
    pub thread_ts: String,
    /// `message`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// A message of a day file. Every field Slack may leave out is optional.
#[derive(Debug, Clone, Serialize)]
pub struct Message<'w> {
    /// Client-side id of user messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    /// Always `message`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Subtype.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subtype: Option<&'static str>,
    /// mrkdwn text.
    pub text: String,
    /// Author.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Bot id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bot_id: Option<String>,
    /// Bot display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Bot icons.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icons: Option<Icons>,
    /// Slack ts, full precision.
    pub ts: String,
    /// Thread root ts (on roots and replies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
    /// Replies of a root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_count: Option<usize>,
    /// Distinct repliers of a root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_users_count: Option<usize>,
    /// Latest reply ts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_reply: Option<String>,
    /// Distinct repliers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_users: Option<Vec<String>>,
    /// Every reply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replies: Option<Vec<ReplyRef>>,
    /// Thread locked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_locked: Option<bool>,
    /// Exporter subscribed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscribed: Option<bool>,
    /// Author of the root (on replies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_user_id: Option<String>,
    /// Root copy of a broadcast.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<BroadcastRoot>,
    /// Hidden (tombstones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
    /// Edit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited: Option<Edited>,
    /// Workspace of the author.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Author's profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_profile: Option<&'w UserProfile>,
    /// Bot profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bot_profile: Option<&'w BotProfile>,
    /// Legacy attachments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
    /// Block Kit blocks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Vec<Block>>,
    /// Files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<File>>,
    /// Uploaded with the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload: Option<bool>,
    /// Shown as a bot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_as_bot: Option<bool>,
    /// Inviter of a join.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inviter: Option<String>,
    /// New topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// New purpose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// Reactions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reactions: Option<Vec<Reaction>>,
}

impl<'w> Message<'w> {
    /// A message with only `type`, `text` and `ts` set.
    pub fn new(ts: String, text: String) -> Self {
        Message {
            client_msg_id: None,
            kind: "message",
            subtype: None,
            text,
            user: None,
            bot_id: None,
            username: None,
            icons: None,
            ts,
            thread_ts: None,
            reply_count: None,
            reply_users_count: None,
            latest_reply: None,
            reply_users: None,
            replies: None,
            is_locked: None,
            subscribed: None,
            parent_user_id: None,
            root: None,
            hidden: None,
            edited: None,
            team: None,
            user_profile: None,
            bot_profile: None,
            attachments: None,
            blocks: None,
            files: None,
            upload: None,
            display_as_bot: None,
            inviter: None,
            topic: None,
            purpose: None,
            reactions: None,
        }
    }
}
