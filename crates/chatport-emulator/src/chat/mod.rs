//! Google Chat API v1 (import mode) under its real paths: spaces, messages, threads,
//! reactions, memberships and media upload. Owns the Chat routes, the shared lookups
//! (space with expiry, message), quotas per method, and the JSON shapes of resources.
//! Each submodule owns one resource family and its rules.

pub mod auth;
pub mod error;
mod media;
mod members;
mod messages;
mod spaces;

use std::collections::HashMap;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::auth::GoogleCaller;
use crate::quota::{retry_after_secs, Draw};
use crate::server::App;
use crate::state::{ChatMessage, ChatSpace, Record, State};
use crate::time::Timestamp;
use auth::Method;
use error::ChatError;

/// Query parameters of a request.
pub type Query = HashMap<String, String>;

/// Chat routes.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/spaces", post(spaces::create).get(spaces::list))
        .route(
            "/v1/spaces/:space",
            get(spaces::get).patch(spaces::patch).delete(spaces::delete).post(spaces::post_action),
        )
        .route("/v1/spaces/:space/messages", post(messages::create).get(messages::list))
        .route(
            "/v1/spaces/:space/messages/:message",
            get(messages::get).patch(messages::update).put(messages::update).delete(messages::delete),
        )
        .route(
            "/v1/spaces/:space/messages/:message/reactions",
            post(members::create_reaction).get(members::list_reactions),
        )
        .route(
            "/v1/spaces/:space/messages/:message/reactions/:reaction",
            axum::routing::delete(members::delete_reaction),
        )
        .route("/v1/spaces/:space/messages/:message/attachments/:attachment", get(media::get_attachment))
        .route("/v1/spaces/:space/members", post(members::create).get(members::list))
        .route("/v1/spaces/:space/members/:member", get(members::get).delete(members::delete))
        .route("/upload/v1/spaces/:space/:action", post(media::upload))
        .route("/v1/spaces/:space/:action", post(media::upload))
        .route("/v1/media/*resource", get(media::download))
}

/// Parses a JSON object body; an empty body is `{}`.
pub fn json_object(body: &[u8]) -> Result<Map<String, Value>, ChatError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ChatError::invalid(
            "chat.request.not_object",
            "Invalid JSON payload received. Expected an object.",
        )),
        Err(e) => {
            Err(ChatError::invalid("chat.request.bad_json", format!("Invalid JSON payload received. {e}")))
        }
    }
}

/// Reads an optional string field; a non-string value is a 400.
pub fn opt_str(m: &Map<String, Value>, field: &str) -> Result<Option<String>, ChatError> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ChatError::invalid(
            "chat.request.bad_field",
            format!("Invalid value at '{field}': expected a string."),
        )),
    }
}

/// Reads an optional RFC 3339 field.
pub fn opt_time(m: &Map<String, Value>, field: &str) -> Result<Option<Timestamp>, ChatError> {
    match opt_str(m, field)? {
        None => Ok(None),
        Some(s) => Timestamp::parse(&s).map(Some).ok_or_else(|| {
            ChatError::invalid(
                "chat.request.bad_timestamp",
                format!("Invalid value at '{field}' (type.googleapis.com/google.protobuf.Timestamp), Field '{field}', Illegal timestamp format; timestamps must end with 'Z' or have a valid timezone offset."),
            )
        }),
    }
}

/// Reads a boolean query parameter.
pub fn query_bool(q: &Query, name: &str) -> Result<bool, ChatError> {
    match q.get(name).map(String::as_str) {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") | Some("") => Ok(true),
        Some(v) => {
            Err(ChatError::invalid("chat.request.bad_query", format!("Invalid value for {name}: {v}")))
        }
    }
}

/// Parses `pageSize`: default when absent or 0, clamped to `max`, negative is a 400.
pub fn page_size(q: &Query, default: usize, max: usize) -> Result<usize, ChatError> {
    match q.get("pageSize") {
        None => Ok(default),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n < 0 => {
                Err(ChatError::invalid("chat.request.page_size", "pageSize must not be negative."))
            }
            Ok(0) => Ok(default),
            Ok(n) => Ok((n as usize).min(max)),
            Err(_) => {
                Err(ChatError::invalid("chat.request.page_size", format!("Invalid value for pageSize: {v}")))
            }
        },
    }
}

/// Encodes a page token (opaque to clients).
pub fn encode_page_token(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text.as_bytes())
}

/// Decodes a page token produced by [`encode_page_token`].
pub fn decode_page_token(q: &Query) -> Result<Option<String>, ChatError> {
    match q.get("pageToken").filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => URL_SAFE_NO_PAD
            .decode(t.as_bytes())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(Some)
            .ok_or_else(|| ChatError::invalid("chat.request.page_token", "The page token is invalid.")),
    }
}

/// `spaces/{id}` from a path segment.
pub fn space_name(id: &str) -> String {
    format!("spaces/{id}")
}

/// Looks up a space that is neither deleted nor expired. A space still in import mode
/// past its deadline is deleted automatically (tombstoned here, on first access).
pub fn live_space(st: &mut State, name: &str, now: Timestamp) -> Result<ChatSpace, ChatError> {
    let not_found = || ChatError::not_found("chat.space.not_found", format!("Space {name} not found."));
    let space = st.spaces.get(name).cloned().ok_or_else(not_found)?;
    if space.deleted || space.expired {
        return Err(not_found());
    }
    if space.import_mode && space.import_deadline.is_some_and(|d| d <= now) {
        let mut expired = space;
        expired.expired = true;
        st.put(Record::Space(expired));
        return Err(ChatError::not_found(
            "chat.space.import_mode_expired",
            format!("Space {name} not found: it stayed in import mode past its importModeExpireTime and was deleted."),
        ));
    }
    Ok(space)
}

/// Looks up a message of a space; deleted messages are not found.
pub fn live_message(st: &State, space: &str, id: &str) -> Result<ChatMessage, ChatError> {
    let name = format!("{space}/messages/{id}");
    match st.messages.get(&name) {
        Some(m) if m.delete_time.is_none() => Ok(m.clone()),
        _ => Err(ChatError::not_found("chat.message.not_found", format!("Message {name} not found."))),
    }
}

/// Draws the quota buckets of `method`: per project and, when a space is given, per space.
pub fn take_quota(
    app: &App,
    caller: &GoogleCaller,
    method: Method,
    space: Option<&str>,
) -> Result<(), ChatError> {
    use Method::*;
    if !app.quotas_on() {
        return Ok(());
    }
    let q = &app.config.quotas.chat;
    let project =
        |name: &str, limit: u32| Draw::per_minute(format!("chat.project.{name}:{}", caller.project), limit);
    let mut draws = match method {
        SpacesCreate => {
            vec![project("space_writes", q.space_writes), project("space_creates", q.space_creates)]
        }
        SpacesPatch | SpacesDelete | CompleteImport => vec![project("space_writes", q.space_writes)],
        SpacesGet | SpacesList => vec![project("space_reads", q.space_reads)],
        MessagesCreate | MessagesUpdate | MessagesDelete => vec![project("message_writes", q.message_writes)],
        MessagesGet | MessagesList => vec![project("message_reads", q.message_reads)],
        ReactionsCreate | ReactionsDelete => vec![project("reaction_writes", q.reaction_writes)],
        ReactionsList => vec![project("reaction_reads", q.reaction_reads)],
        MembersCreate | MembersDelete => vec![project("membership_writes", q.membership_writes)],
        MembersGet | MembersList => vec![project("membership_reads", q.membership_reads)],
        MediaUpload => vec![project("attachment_writes", q.attachment_writes)],
        MediaDownload => vec![project("attachment_reads", q.attachment_reads)],
    };
    if let Some(space) = space {
        let space_write = matches!(
            method,
            MediaUpload
                | SpacesDelete
                | SpacesPatch
                | MessagesCreate
                | MessagesDelete
                | MessagesUpdate
                | ReactionsCreate
                | ReactionsDelete
        );
        let space_read = matches!(
            method,
            SpacesGet | MessagesGet | MessagesList | ReactionsList | MembersGet | MembersList | MediaDownload
        );
        if space_write {
            draws.push(Draw::per_minute(format!("chat.space.writes:{space}"), q.per_space_writes));
        } else if space_read {
            draws.push(Draw::per_minute(format!("chat.space.reads:{space}"), q.per_space_reads));
        }
    }
    app.take_quota(&draws).map_err(|e| {
        let mut err = ChatError::resource_exhausted(&e.key);
        if app.config.rules.chat_retry_after_header {
            err.retry_after = Some(retry_after_secs(e.wait_nanos, app.clock.scale()));
        }
        err
    })
}

/// The caller's sender identity: `(users/{id}, HUMAN)` for a user, `(users/{app}, BOT)`.
pub fn caller_user(caller: &GoogleCaller) -> (String, &'static str) {
    match &caller.user {
        Some(u) => (format!("users/{}", u.google_id()), "HUMAN"),
        None => (format!("users/{}", caller.client_id), "BOT"),
    }
}

/// The Space resource.
pub fn space_json(s: &ChatSpace, st: &State) -> Value {
    let mut v = json!({
        "name": s.name,
        "type": if s.space_type == "DIRECT_MESSAGE" { "DM" } else { "ROOM" },
        "spaceType": s.space_type,
        "singleUserBotDm": false,
        "threaded": s.space_type == "SPACE",
        "externalUserAllowed": s.external_user_allowed,
        "spaceThreadingState": if s.space_type == "SPACE" { "THREADED_MESSAGES" } else { "UNTHREADED_MESSAGES" },
        "spaceHistoryState": s.history_state,
        "importMode": s.import_mode,
        "createTime": s.create_time.to_rfc3339(),
        "adminInstalled": false,
        "spaceUri": format!("https://mail.google.com/chat/u/0/#chat/space/{}", s.name.trim_start_matches("spaces/")),
    });
    if let Some(d) = &s.display_name {
        v["displayName"] = json!(d);
    }
    if s.description.is_some() || s.guidelines.is_some() {
        let mut details = Map::new();
        if let Some(d) = &s.description {
            details.insert("description".into(), json!(d));
        }
        if let Some(g) = &s.guidelines {
            details.insert("guidelines".into(), json!(g));
        }
        v["spaceDetails"] = Value::Object(details);
    }
    if s.import_mode {
        if let Some(d) = s.import_deadline {
            v["importModeExpireTime"] = json!(d.to_rfc3339());
        }
    }
    let last = st
        .space_messages
        .get(&s.name)
        .and_then(|set| set.iter().next_back().map(|(t, _)| *t))
        .unwrap_or(s.create_time);
    v["lastActiveTime"] = json!(last.max(s.create_time).to_rfc3339());
    let joined = st
        .memberships
        .values()
        .filter(|m| m.space == s.name && !m.historical && !m.removed && m.state == "JOINED")
        .count();
    v["membershipCount"] = json!({"joinedDirectHumanUserCount": joined});
    if let Value::Object(map) = &mut v {
        for (k, val) in &s.extra {
            map.insert(k.clone(), val.clone());
        }
    }
    v
}

/// The Message resource (a deleted message shows only its metadata).
pub fn message_json(m: &ChatMessage, st: &State) -> Value {
    let mut v = json!({
        "name": m.name,
        "sender": {"name": m.sender, "type": m.sender_type},
        "createTime": m.create_time.to_rfc3339(),
        "thread": {"name": m.thread},
        "space": {"name": m.space},
    });
    if let Some(c) = &m.client_id {
        v["clientAssignedMessageId"] = json!(c);
    }
    if let Some(d) = m.delete_time {
        v["deleteTime"] = json!(d.to_rfc3339());
        v["deletionMetadata"] =
            json!({"deletionType": m.deletion_type.clone().unwrap_or_else(|| "CREATOR".into())});
        return v;
    }
    if let Some(t) = m.last_update_time {
        v["lastUpdateTime"] = json!(t.to_rfc3339());
    }
    if let Some(text) = &m.text {
        v["text"] = json!(text);
        v["formattedText"] = json!(text);
        v["argumentText"] = json!(text);
    }
    if let Some(c) = &m.cards_v2 {
        v["cardsV2"] = c.clone();
    }
    if let Some(f) = &m.fallback_text {
        v["fallbackText"] = json!(f);
    }
    if m.thread_reply {
        v["threadReply"] = json!(true);
    }
    if !m.attachments.is_empty() {
        v["attachment"] = Value::Array(
            m.attachments
                .iter()
                .map(|a| {
                    json!({
                        "name": a.name,
                        "contentName": a.content_name,
                        "contentType": a.content_type,
                        "attachmentDataRef": {"resourceName": a.resource_name, "attachmentUploadToken": a.upload_token},
                        "downloadUri": format!("/v1/media/{}?alt=media", a.resource_name),
                        "source": "UPLOADED_CONTENT",
                    })
                })
                .collect(),
        );
    }
    let prefix = format!("{}/reactions/", m.name);
    let mut summary: Vec<(Value, u64)> = Vec::new();
    for r in st
        .reactions
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(_, r)| r)
        .filter(|r| !r.deleted)
    {
        match summary.iter_mut().find(|(e, _)| *e == r.emoji) {
            Some((_, n)) => *n += 1,
            None => summary.push((r.emoji.clone(), 1)),
        }
    }
    if !summary.is_empty() {
        v["emojiReactionSummaries"] = Value::Array(
            summary.into_iter().map(|(emoji, n)| json!({"emoji": emoji, "reactionCount": n})).collect(),
        );
    }
    v
}
