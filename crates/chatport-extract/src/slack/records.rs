//! Turning one Slack JSON record (user, conversation, message, file) into its canonical
//! record. Pure: values in, values and warnings out.

use super::fields::{Ctx, Fields, MessageFields};
use super::urls::{strip_url_tokens, strip_value};
use chatport_model::{
    Body, BotInfo, Conversation, ConversationKind, Edited, FileRecord, FileState, Message, MessageKind,
    Reaction, SlackTs, SourceRef, TopicText, User, WarningCode,
};
use serde_json::{Map, Value};

/// Converts a `users.json` record. `None` (with a warning) when it has no id.
pub fn user(ctx: &mut Ctx<'_>, value: Value) -> Option<User> {
    let Value::Object(mut m) = value else {
        ctx.warn(WarningCode::WrongType, "a user record should be an object");
        return None;
    };
    let Some(id) = ctx.take_nonempty_str(&mut m, "id") else {
        ctx.warn(WarningCode::MissingId, "user record without an `id`: skipped");
        return None;
    };
    let profile = m.get("profile").and_then(Value::as_object);
    let pstr = |k: &str| profile.and_then(|p| p.get(k)).and_then(Value::as_str).filter(|s| !s.is_empty());
    let display_name = pstr("display_name").map(str::to_owned);
    let email = pstr("email").map(str::to_owned);
    let profile_real = pstr("real_name").map(str::to_owned);
    let name = ctx.take_nonempty_str(&mut m, "name");
    let real_name = ctx.take_nonempty_str(&mut m, "real_name").or(profile_real);
    let team_id = ctx.take_nonempty_str(&mut m, "team_id");
    let is_bot = ctx.take_bool(&mut m, "is_bot");
    let deleted = ctx.take_bool(&mut m, "deleted");
    let restricted = ctx.take_bool(&mut m, "is_restricted");
    let ultra_restricted = ctx.take_bool(&mut m, "is_ultra_restricted");
    let tz = ctx.take_nonempty_str(&mut m, "tz");
    let mut extra = Value::Object(m);
    strip_value(&mut extra);
    let Value::Object(extra) = extra else { unreachable!("an object stays an object") };
    Some(User {
        id,
        name,
        real_name,
        display_name,
        email,
        team_id,
        is_bot,
        deleted,
        restricted,
        ultra_restricted,
        tz,
        placeholder: false,
        extra,
    })
}

fn topic(ctx: &mut Ctx<'_>, m: &mut Map<String, Value>, key: &str) -> Option<TopicText> {
    let mut t = ctx.take_object(m, key)?;
    let value = ctx.take_str(&mut t, "value").unwrap_or_default();
    let creator = ctx.take_nonempty_str(&mut t, "creator");
    let last_set = ctx.take_i64(&mut t, "last_set").filter(|&x| x != 0);
    if !t.is_empty() {
        // Keep what we did not interpret, next to the topic.
        m.insert(format!("{key}_extra"), Value::Object(t));
    }
    if value.is_empty() && creator.is_none() && last_set.is_none() {
        return None;
    }
    Some(TopicText { value, creator, last_set })
}

/// Converts a record of `channels.json`, `groups.json`, `mpims.json` or `dms.json`.
/// The messages path and count are filled in later.
pub fn conversation(ctx: &mut Ctx<'_>, value: Value, kind: ConversationKind) -> Option<Conversation> {
    let Value::Object(mut m) = value else {
        ctx.warn(WarningCode::WrongType, "a conversation record should be an object");
        return None;
    };
    let Some(id) = ctx.take_nonempty_str(&mut m, "id") else {
        ctx.warn(WarningCode::MissingId, "conversation record without an `id`: skipped");
        return None;
    };
    let name = ctx.take_nonempty_str(&mut m, "name");
    let created = ctx.take_i64(&mut m, "created");
    let creator = ctx.take_nonempty_str(&mut m, "creator");
    let archived = ctx.take_bool(&mut m, "is_archived");
    let is_general = ctx.take_bool(&mut m, "is_general");
    let mut members = ctx.take_str_list(&mut m, "members");
    if kind == ConversationKind::Dm && members.is_empty() {
        // Some exports give a DM's two ends as `user` (and the exporter implicitly).
        if let Some(u) = m.get("user").and_then(Value::as_str) {
            members.push(u.to_owned());
        }
    }
    let topic_v = topic(ctx, &mut m, "topic");
    let purpose_v = topic(ctx, &mut m, "purpose");
    Some(Conversation {
        id,
        kind,
        name,
        created,
        creator,
        topic: topic_v,
        purpose: purpose_v,
        archived,
        is_general,
        members,
        memberships: Vec::new(),
        listed_in: Some(ctx.file.to_owned()),
        folder: None,
        messages_path: String::new(),
        message_count: 0,
        extra: m,
    })
}

/// How a subtype is understood, and whether it is a membership event.
pub fn classify(subtype: Option<&str>, has_bot_id: bool, has_user: bool) -> (MessageKind, bool) {
    let Some(st) = subtype else {
        let kind = if has_bot_id && !has_user { MessageKind::Bot } else { MessageKind::Regular };
        return (kind, true);
    };
    let kind = match st {
        "thread_broadcast" | "reply_broadcast" | "file_share" | "file_comment" | "file_mention" => {
            MessageKind::Regular
        }
        "bot_message" | "slackbot_response" => MessageKind::Bot,
        "me_message" => MessageKind::Me,
        "tombstone" => MessageKind::Tombstone,
        "channel_join"
        | "channel_leave"
        | "group_join"
        | "group_leave"
        | "channel_topic"
        | "group_topic"
        | "channel_purpose"
        | "group_purpose"
        | "channel_name"
        | "group_name"
        | "channel_archive"
        | "group_archive"
        | "channel_unarchive"
        | "group_unarchive"
        | "pinned_item"
        | "unpinned_item"
        | "bot_add"
        | "bot_remove"
        | "bot_enable"
        | "bot_disable"
        | "channel_convert_to_private"
        | "channel_convert_to_public"
        | "channel_posting_permissions"
        | "reminder_add"
        | "huddle_thread"
        | "sh_room_created"
        | "sh_room_shared"
        | "channel_canvas_updated"
        | "app_conversation_join" => MessageKind::System,
        _ => return (MessageKind::Unknown, false),
    };
    (kind, true)
}

/// Whether a subtype is a join (`Some(true)`) or leave (`Some(false)`) event.
pub fn membership_change(subtype: Option<&str>) -> Option<bool> {
    match subtype? {
        "channel_join" | "group_join" => Some(true),
        "channel_leave" | "group_leave" => Some(false),
        _ => None,
    }
}

/// A converted message with the file objects it carried.
pub struct ConvertedMessage {
    /// The canonical message.
    pub message: Message,
    /// File objects found on it (`files` and old-style `file`), converted.
    pub files: Vec<FileRecord>,
}

/// Converts one message of a day file. `None` (with a warning) when it has no usable `ts`.
pub fn message(
    ctx: &mut Ctx<'_>,
    conversation: &str,
    value: Value,
    may_hold_secrets: bool,
) -> Option<ConvertedMessage> {
    let Value::Object(m) = value else {
        not_an_object(ctx);
        return None;
    };
    message_fields(ctx, conversation, m.into(), may_hold_secrets)
}

/// Reports a day-file element that is not an object.
pub fn not_an_object(ctx: &mut Ctx<'_>) {
    ctx.warn(WarningCode::WrongType, "a message record should be an object: skipped");
}

/// [`message`] on the fields of a message object.
pub fn message_fields(
    ctx: &mut Ctx<'_>,
    conversation: &str,
    mut m: MessageFields,
    may_hold_secrets: bool,
) -> Option<ConvertedMessage> {
    if may_hold_secrets {
        for v in m.values_mut() {
            strip_value(v);
        }
        m.remove("pub_secret");
    }
    let ts = match m.remove("ts") {
        Some(Value::String(s)) if chatport_model::ts::parse_micros(&s).is_some() => SlackTs(s),
        Some(Value::Number(n)) => {
            ctx.warn(
                WarningCode::WrongType,
                format!("`ts` should be a string, found the number {n}: kept as text"),
            );
            SlackTs(n.to_string())
        }
        other => {
            let shown = other.map(|v| v.to_string()).unwrap_or_else(|| "nothing".into());
            ctx.warn(
                WarningCode::MissingId,
                format!("message without a valid `ts` (found {shown}): skipped"),
            );
            return None;
        }
    };
    if m.get("type").and_then(Value::as_str) == Some("message") {
        m.remove("type");
    }
    let subtype = ctx.take_str(&mut m, "subtype");
    let mut author = ctx.take_nonempty_str(&mut m, "user");
    if author.is_none() && subtype.as_deref() == Some("file_comment") {
        // Old exports: a file comment's author is `comment.user` (`file.user` is the uploader).
        author = m.get("comment").and_then(|c| c.get("user")).and_then(Value::as_str).map(str::to_owned);
    }
    let bot_id = ctx.take_nonempty_str(&mut m, "bot_id");
    let (kind, known) = classify(subtype.as_deref(), bot_id.is_some(), author.is_some());
    if !known {
        ctx.warn(
            WarningCode::UnknownSubtype,
            format!(
                "unknown subtype `{}`: kept verbatim as kind `unknown`",
                subtype.as_deref().unwrap_or("")
            ),
        );
    }
    let username = if kind == MessageKind::Bot || bot_id.is_some() {
        ctx.take_nonempty_str(&mut m, "username")
    } else {
        None
    };
    let app_id = if bot_id.is_some() { ctx.take_nonempty_str(&mut m, "app_id") } else { None };
    let icons = if bot_id.is_some() || kind == MessageKind::Bot { m.remove("icons") } else { None };
    let bot = (bot_id.is_some() || username.is_some() || kind == MessageKind::Bot).then_some(BotInfo {
        bot_id,
        username,
        app_id,
        icons,
    });
    let text = ctx.take_str(&mut m, "text").unwrap_or_default();
    let blocks = m.remove("blocks").filter(|b| !b.is_null());
    if let Some(Value::Number(n)) = m.get("thread_ts").filter(|v| v.is_f64()) {
        // As for `ts`: a number with a fraction, which is how a Slack timestamp reads as a
        // number, is read as its text, so that the reply stays linked. An integer is no
        // timestamp Slack writes: it stays in `extra` (below).
        let text = n.to_string();
        if chatport_model::ts::parse_micros(&text).is_some() {
            ctx.warn(
                WarningCode::WrongType,
                format!("`thread_ts` should be a string, found the number {n}: read as text"),
            );
            m.insert("thread_ts", Value::String(text));
        }
    }
    let thread_ts = match ctx.take_str(&mut m, "thread_ts") {
        Some(t) if chatport_model::ts::parse_micros(&t).is_some() => Some(SlackTs(t)),
        Some(t) => {
            ctx.warn(
                WarningCode::WrongType,
                format!("`thread_ts` {t:?} is not a Slack timestamp: kept in extra"),
            );
            m.insert("thread_ts", Value::String(t));
            None
        }
        None => None,
    };
    let reply_to = thread_ts.as_ref().filter(|t| t.micros() != ts.micros()).cloned();
    let reply_count = ctx.take_u64(&mut m, "reply_count");
    let broadcast = matches!(subtype.as_deref(), Some("thread_broadcast") | Some("reply_broadcast"));
    let edited = ctx.take_object(&mut m, "edited").map(|mut e| {
        let user = ctx.take_nonempty_str(&mut e, "user");
        let ts = ctx.take_str(&mut e, "ts").map(SlackTs);
        Edited { user, ts }
    });
    let reactions = reactions(ctx, &mut m);
    let mut file_objects = ctx.take_array(&mut m, "files").unwrap_or_default();
    if let Some(single) = m.remove("file") {
        match single {
            Value::Object(_) => file_objects.push(single),
            Value::Null => {}
            other => {
                ctx.warn(WarningCode::WrongType, "field `file` should be an object");
                m.insert("file", other);
            }
        }
    }
    let mut files = Vec::with_capacity(file_objects.len());
    let mut file_ids = Vec::with_capacity(file_objects.len());
    let mut unidentified = Vec::new();
    for obj in file_objects {
        match file(ctx, obj, conversation, &ts) {
            Ok(f) => {
                if !file_ids.contains(&f.id) {
                    file_ids.push(f.id.clone());
                }
                files.push(f);
            }
            Err(raw) => unidentified.push(raw),
        }
    }
    if !unidentified.is_empty() {
        m.insert("files_without_id", Value::Array(unidentified));
    }
    let attachments = m.remove("attachments").filter(|a| !a.is_null());
    let message = Message {
        conversation: conversation.to_owned(),
        ts,
        source: SourceRef { file: ctx.file.to_owned(), index: ctx.index },
        kind,
        subtype,
        author,
        bot,
        body: Body { format: "slack_mrkdwn".into(), text, blocks },
        thread_ts,
        reply_to,
        reply_count,
        broadcast,
        edited,
        reactions,
        files: file_ids,
        attachments,
        extra: m.into_map(),
    };
    Some(ConvertedMessage { message, files })
}

fn reactions(ctx: &mut Ctx<'_>, m: &mut impl Fields) -> Vec<Reaction> {
    let Some(items) = ctx.take_array(m, "reactions") else { return Vec::new() };
    let mut out = Vec::with_capacity(items.len());
    let mut bad = Vec::new();
    for item in items {
        let Value::Object(mut r) = item else {
            bad.push(item);
            continue;
        };
        let Some(name) = r.get("name").and_then(Value::as_str).map(str::to_owned) else {
            bad.push(Value::Object(r));
            continue;
        };
        r.remove("name");
        let users = ctx.take_str_list(&mut r, "users");
        let count = ctx.take_u64(&mut r, "count");
        if !r.is_empty() {
            // Fields we do not model, or users of the wrong type: keep the whole item.
            r.insert("name".into(), Value::String(name.clone()));
            bad.push(Value::Object(r));
        }
        out.push(Reaction { name, users, count });
    }
    if !bad.is_empty() {
        ctx.warn(
            WarningCode::WrongType,
            format!("{} reaction item(s) not understood: kept in extra", bad.len()),
        );
        m.insert("reactions_unparsed", Value::Array(bad));
    }
    out
}

/// Converts a file object of a message. `Err(raw)` when it has no id.
pub fn file(ctx: &mut Ctx<'_>, value: Value, conversation: &str, ts: &SlackTs) -> Result<FileRecord, Value> {
    let Value::Object(mut m) = value else {
        ctx.warn(WarningCode::WrongType, "a file should be an object");
        return Err(value);
    };
    let Some(id) = m.get("id").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned) else {
        ctx.warn(WarningCode::MissingId, "file object without an `id`: kept in the message's extra");
        return Err(Value::Object(m));
    };
    m.remove("id");
    let name = ctx.take_nonempty_str(&mut m, "name");
    let title = ctx.take_nonempty_str(&mut m, "title");
    let mimetype = ctx.take_nonempty_str(&mut m, "mimetype");
    let size = ctx.take_u64(&mut m, "size");
    let user = ctx.take_nonempty_str(&mut m, "user");
    let created = ctx.take_i64(&mut m, "created");
    let state = match m.get("mode").and_then(Value::as_str) {
        Some("hidden_by_limit") => FileState::HiddenByLimit,
        Some("tombstone") => FileState::Tombstoned,
        _ => FileState::RemoteOnly,
    };
    let url = ["url_private_download", "url_private", "url_download", "url"]
        .iter()
        .find_map(|k| m.get(*k).and_then(Value::as_str).filter(|s| s.starts_with("http")))
        .map(|u| strip_url_tokens(u).unwrap_or_else(|| u.to_owned()));
    m.remove("pub_secret");
    m.remove("permalink_public");
    let mut extra = Value::Object(m);
    strip_value(&mut extra);
    let Value::Object(extra) = extra else { unreachable!("an object stays an object") };
    Ok(FileRecord {
        id,
        name,
        title,
        mimetype,
        size,
        user,
        created,
        state,
        sha256: None,
        blob: None,
        url,
        first_seen: Some(chatport_model::FileUse { conversation: conversation.to_owned(), ts: ts.clone() }),
        extra,
    })
}

/// User ids a message references: author, editor, reacting users, `<@U…>` mentions in the
/// text, `reply_users` and file uploaders.
pub fn referenced_users(msg: &Message, files: &[FileRecord], out: &mut Vec<String>) {
    out.extend(msg.author.iter().cloned());
    if let Some(e) = &msg.edited {
        out.extend(e.user.iter().cloned());
    }
    for r in &msg.reactions {
        out.extend(r.users.iter().cloned());
    }
    mentions(&msg.body.text, out);
    if let Some(Value::Array(users)) = msg.extra.get("reply_users") {
        out.extend(users.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    for f in files {
        out.extend(f.user.iter().cloned());
    }
}

/// Appends the user ids of `<@U…>` / `<@U…|name>` mentions in Slack text.
pub fn mentions(text: &str, out: &mut Vec<String>) {
    mentions_in(text.as_bytes(), out);
}

/// [`mentions`] on bytes: the ids are ASCII, found between ASCII delimiters, so the text
/// need not be checked as UTF-8 first.
fn mentions_in(text: &[u8], out: &mut Vec<String>) {
    let mut rest = text;
    while let Some(p) = find_mention_start(rest) {
        let after = &rest[p + 2..];
        let end = after.iter().position(|&b| b == b'>' || b == b'|').unwrap_or(after.len());
        let id = &after[..end];
        push_if_plausible(id, out);
        rest = after;
    }
}

/// Appends the user ids that canonical JSON kept verbatim (a message's `blocks` or
/// `attachments`) references: the `user_id` of rich-text user elements (and of any other
/// object that names a user so) and `<@U…>` mentions in its strings (mrkdwn text objects,
/// attachment text and fields). The bytes are compact, so a key is followed directly by
/// its value, and user ids hold no character that JSON escapes.
pub fn json_user_ids(json: &[u8], out: &mut Vec<String>) {
    const KEY: &[u8] = br#""user_id":""#;
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(KEY));
    mentions_in(json, out);
    let mut from = 0;
    while let Some(at) = FINDER.find(&json[from..]) {
        let rest = &json[from + at + KEY.len()..];
        push_if_plausible(&rest[..memchr::memchr(b'"', rest).unwrap_or(0)], out);
        from += at + KEY.len();
    }
}

/// Where the next `<@` starts: `memchr` for the `<`, then a look at the byte after.
fn find_mention_start(b: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(q) = memchr::memchr(b'<', &b[from..]) {
        let p = from + q;
        if b.get(p + 1) == Some(&b'@') {
            return Some(p);
        }
        from = p + 1;
    }
    None
}

/// Appends `id` if it is [`plausible_user_id`].
fn push_if_plausible(id: &[u8], out: &mut Vec<String>) {
    if let Ok(id) = std::str::from_utf8(id) {
        if plausible_user_id(id) {
            out.push(id.to_owned());
        }
    }
}

/// Whether a user id looks like one Slack issues (so a placeholder makes sense).
pub fn plausible_user_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conv(v: Value) -> (Option<ConvertedMessage>, Vec<chatport_model::Warning>) {
        in_file("c/2020-01-01.json", |ctx| message(ctx, "C1", v, true))
    }

    fn in_file<T>(file: &str, f: impl FnOnce(&mut Ctx<'_>) -> T) -> (T, Vec<chatport_model::Warning>) {
        let mut w = Vec::new();
        let mut ctx = Ctx { file, index: 3, warnings: &mut w };
        let r = f(&mut ctx);
        (r, w)
    }

    #[test]
    fn user_record_fields_and_profile_fallbacks() {
        let (u, w) = in_file("users.json", |ctx| {
            user(
                ctx,
                json!({"id": "U1", "name": "ann", "team_id": "T1", "deleted": false, "is_bot": false,
                       "is_restricted": true, "is_ultra_restricted": true, "tz": "Europe/Paris",
                       "profile": {"real_name": "Ann Lee", "display_name": "annie", "email": "ann@example.com",
                                   "image_72": "https://avatars.example/a.png?t=xoxe-secret"},
                       "color": "9f69e7"}),
            )
        });
        assert!(w.is_empty(), "{w:?}");
        let u = u.unwrap();
        assert_eq!(
            (u.id.as_str(), u.name.as_deref(), u.real_name.as_deref(), u.display_name.as_deref()),
            ("U1", Some("ann"), Some("Ann Lee"), Some("annie"))
        );
        assert_eq!(
            (u.email.as_deref(), u.team_id.as_deref(), u.tz.as_deref()),
            (Some("ann@example.com"), Some("T1"), Some("Europe/Paris"))
        );
        assert!(u.restricted && u.ultra_restricted && !u.is_bot && !u.deleted && !u.placeholder);
        assert_eq!(u.extra["color"], json!("9f69e7"), "unknown fields kept");
        assert_eq!(u.extra["profile"]["image_72"], json!("https://avatars.example/a.png"), "token stripped");
        // A top-level real_name wins over the profile's; an empty display name is none.
        let (u, _) = in_file("users.json", |ctx| {
            user(
                ctx,
                json!({"id": "U2", "real_name": "Top", "is_bot": true, "deleted": true,
                             "profile": {"real_name": "Profile", "display_name": ""}}),
            )
        });
        let u = u.unwrap();
        assert_eq!((u.real_name.as_deref(), u.display_name), (Some("Top"), None));
        assert!(u.is_bot && u.deleted);
    }

    #[test]
    fn user_records_without_id_or_of_wrong_type_are_warned() {
        for (value, code) in [
            (json!({"name": "no id"}), WarningCode::MissingId),
            (json!({"id": ""}), WarningCode::MissingId),
            (json!(["not", "an object"]), WarningCode::WrongType),
        ] {
            let (u, w) = in_file("users.json", |ctx| user(ctx, value.clone()));
            assert!(u.is_none(), "{value}");
            assert_eq!(w[0].code, code, "{value}");
            assert_eq!((w[0].file.as_deref(), w[0].record), (Some("users.json"), Some(3)));
        }
        // A field of the wrong type is warned and kept in `extra`, the record still read.
        let (u, w) = in_file("users.json", |ctx| user(ctx, json!({"id": "U3", "deleted": "yes"})));
        let u = u.unwrap();
        assert!(!u.deleted);
        assert_eq!(u.extra["deleted"], json!("yes"));
        assert_eq!(w[0].code, WarningCode::WrongType);
    }

    #[test]
    fn conversation_records_of_each_kind() {
        let (c, w) = in_file("channels.json", |ctx| {
            conversation(
                ctx,
                json!({"id": "C1", "name": "general", "created": 1_500_000_000, "creator": "U1",
                       "is_archived": true, "is_general": true, "members": ["U1", "U2"],
                       "topic": {"value": "news", "creator": "U1", "last_set": 1_500_000_001},
                       "purpose": {"value": "", "creator": "", "last_set": 0},
                       "pins": [{"id": "1"}]}),
                ConversationKind::PublicChannel,
            )
        });
        assert!(w.is_empty(), "{w:?}");
        let c = c.unwrap();
        assert_eq!(
            (c.id.as_str(), c.name.as_deref(), c.created, c.creator.as_deref()),
            ("C1", Some("general"), Some(1_500_000_000), Some("U1"))
        );
        assert!(c.archived && c.is_general);
        assert_eq!(c.members, ["U1", "U2"]);
        let topic = c.topic.unwrap();
        assert_eq!(
            (topic.value.as_str(), topic.creator.as_deref(), topic.last_set),
            ("news", Some("U1"), Some(1_500_000_001))
        );
        assert!(c.purpose.is_none(), "an empty purpose is none");
        assert_eq!(c.listed_in.as_deref(), Some("channels.json"));
        assert!(c.extra.contains_key("pins"), "unknown fields kept");
        // A DM without `members` takes its other end from `user`.
        let (c, _) = in_file("dms.json", |ctx| {
            conversation(ctx, json!({"id": "D1", "created": 1, "user": "U2"}), ConversationKind::Dm)
        });
        let c = c.unwrap();
        assert_eq!((c.kind, c.members.as_slice()), (ConversationKind::Dm, ["U2".to_owned()].as_slice()));
        let (c, _) = in_file("mpims.json", |ctx| {
            conversation(
                ctx,
                json!({"id": "G1", "name": "mpdm-a--b-1", "members": ["U1", "U2", "U3"]}),
                ConversationKind::GroupDm,
            )
        });
        assert_eq!(c.unwrap().members.len(), 3);
    }

    #[test]
    fn conversation_records_without_id_or_with_wrong_types_are_warned() {
        let (c, w) = in_file("groups.json", |ctx| {
            conversation(ctx, json!({"name": "x"}), ConversationKind::PrivateChannel)
        });
        assert!(c.is_none());
        assert_eq!((w[0].code, w[0].file.as_deref()), (WarningCode::MissingId, Some("groups.json")));
        let (c, w) =
            in_file("groups.json", |ctx| conversation(ctx, json!("G1"), ConversationKind::PrivateChannel));
        assert!(c.is_none());
        assert_eq!(w[0].code, WarningCode::WrongType);
        let (c, w) = in_file("groups.json", |ctx| {
            conversation(
                ctx,
                json!({"id": "G2", "members": "U1", "is_archived": 1}),
                ConversationKind::PrivateChannel,
            )
        });
        let c = c.unwrap();
        assert!(c.members.is_empty() && !c.archived);
        assert_eq!((c.extra["members"].clone(), c.extra["is_archived"].clone()), (json!("U1"), json!(1)));
        assert_eq!(w.iter().filter(|w| w.code == WarningCode::WrongType).count(), 2, "{w:?}");
    }

    #[test]
    fn reply_broadcast_edit_reactions_files() {
        let (m, w) = conv(json!({
            "type": "message", "subtype": "thread_broadcast", "user": "U1", "text": "hi <@U2|bob>",
            "ts": "1.000002", "thread_ts": "1.000001", "edited": {"user": "U1", "ts": "2.0"},
            "reactions": [{"name": "+1::skin-tone-4", "users": ["U2", "U3"], "count": 2}],
            "files": [{"id": "F1", "name": "a.png", "url_private": "https://f/a.png?t=xoxe-1", "mode": "hosted"},
                      {"name": "noid"}],
            "client_msg_id": "x"
        }));
        assert!(w.iter().any(|w| w.code == WarningCode::MissingId), "{w:?}");
        let c = m.unwrap();
        let msg = c.message;
        assert_eq!(msg.reply_to, Some(SlackTs::new("1.000001")));
        assert!(msg.broadcast);
        assert_eq!(msg.kind, MessageKind::Regular);
        assert_eq!(msg.reactions[0].name, "+1::skin-tone-4");
        assert_eq!(msg.files, vec!["F1".to_owned()]);
        assert_eq!(c.files[0].url.as_deref(), Some("https://f/a.png"));
        assert!(msg.extra.contains_key("client_msg_id"));
        assert!(msg.extra.contains_key("files_without_id"));
        let mut refs = Vec::new();
        referenced_users(&msg, &c.files, &mut refs);
        assert_eq!(refs, vec!["U1", "U1", "U2", "U3", "U2"]);
    }

    #[test]
    fn numeric_ts_and_thread_ts_are_read_as_text_with_a_warning() {
        let (m, w) = conv(
            json!({"type": "message", "user": "U1", "text": "r", "ts": 1704100900.0002, "thread_ts": 1704100800.0001}),
        );
        let msg = m.unwrap().message;
        assert_eq!(msg.ts, SlackTs::new("1704100900.0002"));
        assert_eq!(msg.reply_to, Some(SlackTs::new("1704100800.0001")), "still a reply");
        assert_eq!(w.iter().filter(|w| w.code == WarningCode::WrongType).count(), 2, "{w:?}");
        assert!(!msg.extra.contains_key("thread_ts"));
        let (m, w) =
            conv(json!({"type": "message", "user": "U1", "text": "r", "ts": "5.000001", "thread_ts": 7}));
        let msg = m.unwrap().message;
        assert_eq!(
            (msg.reply_to, &msg.extra["thread_ts"]),
            (None, &json!(7)),
            "an integer is kept as it was"
        );
        assert_eq!(w[0].code, WarningCode::WrongType);
    }

    #[test]
    fn unknown_subtype_is_kept() {
        let (m, w) = conv(json!({"subtype": "future_thing", "ts": "5.5", "text": "x", "weird": [1]}));
        let msg = m.unwrap().message;
        assert_eq!(msg.kind, MessageKind::Unknown);
        assert_eq!(msg.subtype.as_deref(), Some("future_thing"));
        assert_eq!(msg.extra["weird"], json!([1]));
        assert_eq!(w[0].code, WarningCode::UnknownSubtype);
    }

    #[test]
    fn bot_message_keeps_identity() {
        let (m, _) = conv(
            json!({"subtype": "bot_message", "bot_id": "B1", "username": "ci", "icons": {"emoji": ":x:"}, "ts": "5.5", "text": "built"}),
        );
        let msg = m.unwrap().message;
        assert_eq!(msg.kind, MessageKind::Bot);
        let bot = msg.bot.unwrap();
        assert_eq!(bot.bot_id.as_deref(), Some("B1"));
        assert_eq!(bot.username.as_deref(), Some("ci"));
        assert!(bot.icons.is_some());
    }

    #[test]
    fn missing_ts_is_reported() {
        let (m, w) = conv(json!({"text": "x"}));
        assert!(m.is_none());
        assert_eq!(w[0].code, WarningCode::MissingId);
        assert_eq!(w[0].file.as_deref(), Some("c/2020-01-01.json"));
    }

    #[test]
    fn users_named_in_blocks_and_attachments() {
        let blocks = json!([{"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [
            {"type": "text", "text": "hi "}, {"type": "user", "user_id": "UBLOCK1"},
            {"type": "usergroup", "usergroup_id": "S1"}, {"type": "user", "user_id": "not an id"}]}]},
            {"type": "section", "text": {"type": "mrkdwn", "text": "cc <@UMRKDWN|x>"}}]);
        let attachments =
            json!([{"text": "from <@UATTACH>", "fields": [{"value": "<@UFIELD>"}], "author_id": "U0"}]);
        let mut out = Vec::new();
        json_user_ids(serde_json::to_string(&blocks).unwrap().as_bytes(), &mut out);
        json_user_ids(serde_json::to_string(&attachments).unwrap().as_bytes(), &mut out);
        out.sort();
        assert_eq!(out, ["UATTACH", "UBLOCK1", "UFIELD", "UMRKDWN"]);
        let mut none = Vec::new();
        json_user_ids(br#"[{"type":"text","text":"user_id and <@ but no id"}]"#, &mut none);
        json_user_ids(br#"{"user_id":"#, &mut none);
        assert!(none.is_empty(), "{none:?}");
    }

    #[test]
    fn mention_scan() {
        let mut out = Vec::new();
        mentions("a <@U1> b <@W2|x> <@bad id> &lt;@U9&gt; <<@U3> < @U4> <@", &mut out);
        assert_eq!(out, vec!["U1", "W2", "U3"]);
    }
}
