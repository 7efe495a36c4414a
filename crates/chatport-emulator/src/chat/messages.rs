//! Chat messages: create (with `messageId`, `requestId`, `messageReplyOption`, threads and
//! attachments), get, list (paging, orderBy, filter), patch/update, delete, and their
//! rules (createTime bounds and uniqueness, client id format and uniqueness, size limit,
//! reply options, import-only fields, ownership).

use std::sync::Arc;

use axum::extract::{Path, Query as AxumQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Map, Value};

use super::auth::{authorize, Method};
use super::error::ChatError;
use super::{
    caller_user, json_object, live_message, live_space, message_json, opt_str, opt_time, space_name,
    take_quota, Query,
};
use crate::auth::GoogleCaller;
use crate::server::App;
use crate::state::{ChatAttachment, ChatMessage, ChatSpace, ChatThread, Record, State as EmuState};
use crate::time::Timestamp;

const REPLY_OPTIONS: &[&str] =
    &["MESSAGE_REPLY_OPTION_UNSPECIFIED", "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD", "REPLY_MESSAGE_OR_FAIL"];
const MAX_THREAD_KEY: usize = 4000;

/// Whether `id` is a valid client-assigned message id: `client-` then 1–56 of `[a-z0-9-]`.
pub fn valid_client_id(id: &str) -> bool {
    id.strip_prefix("client-").is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 56
            && rest.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
}

/// A validated messages.create request, before it meets the state.
struct NewMessage {
    client_id: Option<String>,
    request_id: Option<String>,
    reply_option: String,
    thread_name: Option<String>,
    thread_key: Option<String>,
    text: Option<String>,
    cards_v2: Option<Value>,
    fallback_text: Option<String>,
    create_time: Option<Timestamp>,
    attachments: Vec<(String, String)>,
}

fn parse_new_message(app: &App, q: &Query, body: &Map<String, Value>) -> Result<NewMessage, ChatError> {
    let size = serde_json::to_vec(body).map(|v| v.len()).unwrap_or(usize::MAX);
    let max = app.config.rules.chat_max_message_bytes;
    if size > max {
        return Err(ChatError::invalid(
            "chat.message.too_large",
            format!("The message is {size} bytes; messages can be at most {max} bytes."),
        ));
    }
    let client_id = q.get("messageId").filter(|m| !m.is_empty()).cloned();
    if let Some(id) = &client_id {
        if !valid_client_id(id) {
            return Err(ChatError::invalid("chat.message.bad_client_id", format!("Invalid messageId '{id}': it must start with 'client-', be at most 63 characters and contain only lowercase letters, digits and hyphens.")));
        }
    }
    let reply_option = q.get("messageReplyOption").cloned().unwrap_or_else(|| REPLY_OPTIONS[0].to_string());
    if !REPLY_OPTIONS.contains(&reply_option.as_str()) {
        return Err(ChatError::invalid(
            "chat.message.bad_reply_option",
            format!("Invalid value for messageReplyOption: {reply_option}"),
        ));
    }
    let (mut thread_name, mut thread_key) = (None, q.get("threadKey").cloned());
    match body.get("thread") {
        None | Some(Value::Null) => {}
        Some(Value::Object(t)) => {
            thread_name = opt_str(t, "name")?;
            if let Some(k) = opt_str(t, "threadKey")? {
                thread_key = Some(k);
            }
        }
        Some(_) => {
            return Err(ChatError::invalid("chat.request.bad_field", "Invalid value at 'message.thread'."))
        }
    }
    if thread_key.as_ref().is_some_and(|k| k.len() > MAX_THREAD_KEY) {
        return Err(ChatError::invalid(
            "chat.message.thread_key_too_long",
            format!("threadKey must be at most {MAX_THREAD_KEY} characters."),
        ));
    }
    let mut attachments = Vec::new();
    match body.get("attachment") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                let Value::Object(a) = item else {
                    return Err(ChatError::invalid(
                        "chat.request.bad_field",
                        "Invalid value at 'message.attachment'.",
                    ));
                };
                if a.contains_key("driveDataRef") {
                    return Err(ChatError::invalid("chat.message.drive_data_ref", "attachment.driveDataRef is output only; upload the file with media.upload and send attachmentDataRef."));
                }
                let r = match a.get("attachmentDataRef") {
                    Some(Value::Object(r)) => r,
                    _ => {
                        return Err(ChatError::invalid(
                            "chat.message.attachment_ref_missing",
                            "Each attachment needs the attachmentDataRef returned by media.upload.",
                        ))
                    }
                };
                let resource = opt_str(r, "resourceName")?.unwrap_or_default();
                let token = opt_str(r, "attachmentUploadToken")?.unwrap_or_default();
                attachments.push((resource, token));
            }
        }
        Some(_) => {
            return Err(ChatError::invalid(
                "chat.request.bad_field",
                "Invalid value at 'message.attachment': expected a list.",
            ))
        }
    }
    let cards_v2 = body.get("cardsV2").filter(|c| !c.is_null()).cloned();
    let text = opt_str(body, "text")?;
    if text.as_deref().unwrap_or("").is_empty() && cards_v2.is_none() && attachments.is_empty() {
        return Err(ChatError::invalid(
            "chat.message.empty",
            "Message cannot be empty. Discarding the message.",
        ));
    }
    Ok(NewMessage {
        client_id,
        request_id: q.get("requestId").filter(|r| !r.is_empty()).cloned(),
        reply_option,
        thread_name,
        thread_key,
        text,
        cards_v2,
        fallback_text: opt_str(body, "fallbackText")?,
        create_time: opt_time(body, "createTime")?,
        attachments,
    })
}

/// Applies a validated create to the state (under the lock) and returns the message.
/// Rewrites `<users/{email}>` mentions to the canonical `<users/{id}>` Chat answers
/// with (unknown users are left as written).
fn canonical_mentions(app: &App, st: &EmuState, text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("<users/") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + "<users/".len()..];
        match tail.find('>') {
            Some(j) => {
                let key = &tail[..j];
                match app.find_user(st, key).filter(|_| key.contains('@')) {
                    Some(u) => out.push_str(&format!("<users/{}>", u.google_id())),
                    None => out.push_str(&format!("<users/{key}>")),
                }
                rest = &tail[j + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn create_locked(
    app: &App,
    st: &mut EmuState,
    caller: &GoogleCaller,
    space: &ChatSpace,
    m: NewMessage,
    now: Timestamp,
) -> Result<Value, ChatError> {
    let rules = &app.config.rules;
    if let Some(req) = &m.request_id {
        if let Some(existing) =
            st.message_requests.get(&(space.name.clone(), req.clone())).and_then(|n| st.messages.get(n))
        {
            return Ok(message_json(existing, st));
        }
    }
    if let Some(id) = &m.client_id {
        if let Some(existing) = st.client_ids.get(&(space.name.clone(), id.clone())) {
            return Err(ChatError::exists(
                "chat.message.client_id_exists",
                format!("Message {existing} already exists."),
            ));
        }
    }
    if m.cards_v2.is_some() && caller.user.is_some() {
        return Err(ChatError::invalid("chat.message.cards_user_auth", "Messages created with user authentication can contain only text; cardsV2 requires app authentication."));
    }
    let create_time = match (m.create_time, space.import_mode) {
        (Some(_), false) => {
            return Err(ChatError::invalid(
                "chat.message.create_time_outside_import",
                "createTime can only be set on messages in spaces in import mode.",
            ));
        }
        (Some(t), true) => {
            if t < space.create_time {
                return Err(ChatError::invalid(
                    "chat.message.create_time_before_space",
                    format!(
                        "createTime {} is before the space's createTime {}.",
                        t.to_rfc3339(),
                        space.create_time.to_rfc3339()
                    ),
                ));
            }
            if t > now {
                return Err(ChatError::invalid(
                    "chat.message.create_time_in_future",
                    "createTime must not be in the future.",
                ));
            }
            if rules.chat_unique_message_create_time
                && st.space_times.get(&space.name).is_some_and(|s| s.contains(&t))
            {
                return Err(ChatError::invalid("chat.message.create_time_not_unique", format!("A message with createTime {} already exists (or existed) in this space; createTime must be unique in a space.", t.to_rfc3339())));
            }
            t
        }
        (None, _) => {
            let mut t = now;
            while st.space_times.get(&space.name).is_some_and(|s| s.contains(&t)) {
                t = Timestamp(t.0 + 1);
            }
            t
        }
    };
    // Resolve the thread per messageReplyOption, which only named spaces support: a
    // group chat is unthreaded, so the option and any threadKey are ignored there.
    let mut m = m;
    if space.space_type == "GROUP_CHAT" {
        m.reply_option = "MESSAGE_REPLY_OPTION_UNSPECIFIED".into();
        m.thread_key = None;
        m.thread_name = None;
    }
    let existing_by_name =
        m.thread_name.as_ref().and_then(|n| st.threads.get(n)).filter(|t| t.space == space.name).cloned();
    let existing_by_key = m
        .thread_key
        .as_ref()
        .and_then(|k| st.thread_keys.get(&(space.name.clone(), caller.project.clone(), k.clone())))
        .and_then(|n| st.threads.get(n))
        .cloned();
    let (thread, new_key) = match m.reply_option.as_str() {
        "MESSAGE_REPLY_OPTION_UNSPECIFIED" => (None, None),
        option => {
            if let Some(name) = &m.thread_name {
                match existing_by_name {
                    Some(t) => (Some(t), None),
                    None if option == "REPLY_MESSAGE_OR_FAIL" => {
                        return Err(ChatError::not_found(
                            "chat.message.thread_not_found",
                            format!("Thread {name} not found."),
                        ));
                    }
                    None => (None, None),
                }
            } else if m.thread_key.is_some() {
                match existing_by_key {
                    Some(t) => (Some(t), None),
                    None => (None, m.thread_key.clone()),
                }
            } else {
                (None, None)
            }
        }
    };
    if let Some(t) = &thread {
        if rules.chat_reply_not_before_root && create_time < t.root_create_time {
            return Err(ChatError::invalid(
                "chat.message.reply_before_root",
                format!(
                    "createTime {} is before the thread's first message ({}).",
                    create_time.to_rfc3339(),
                    t.root_create_time.to_rfc3339()
                ),
            ));
        }
    }
    let id = match &m.client_id {
        Some(c) => c.clone(),
        None => crate::ids::chat_message_id(),
    };
    let name = format!("{}/messages/{id}", space.name);
    let mut attachments = Vec::new();
    for (resource, token) in &m.attachments {
        let upload = st.uploads.get(resource).filter(|u| &u.token == token && u.space == space.name);
        let Some(upload) = upload else {
            return Err(ChatError::invalid(
                "chat.message.attachment_unknown",
                format!("attachmentDataRef {resource} does not match an upload to this space."),
            ));
        };
        attachments.push(ChatAttachment {
            name: format!("{name}/attachments/{}", crate::ids::chat_short_id()),
            content_name: upload.filename.clone(),
            content_type: upload.content_type.clone(),
            resource_name: upload.resource_name.clone(),
            upload_token: upload.token.clone(),
        });
    }
    let (sender, sender_type) = caller_user(caller);
    let thread_reply = thread.is_some();
    let thread_name = match thread {
        Some(t) => t.name,
        None => {
            let t = ChatThread {
                name: format!("{}/threads/{}", space.name, crate::ids::chat_short_id()),
                space: space.name.clone(),
                key: new_key,
                project: caller.project.clone(),
                root_create_time: create_time,
                root: name.clone(),
            };
            let n = t.name.clone();
            st.put(Record::Thread(t));
            n
        }
    };
    let message = ChatMessage {
        name,
        space: space.name.clone(),
        client_id: m.client_id,
        sender,
        sender_type: sender_type.into(),
        project: caller.project.clone(),
        create_time,
        last_update_time: None,
        delete_time: None,
        deletion_type: None,
        text: m.text.map(|t| canonical_mentions(app, st, &t)),
        cards_v2: m.cards_v2,
        fallback_text: m.fallback_text,
        thread: thread_name,
        thread_reply,
        attachments,
        request_id: m.request_id,
    };
    let json = message_json(&message, st);
    st.put(Record::Message(message));
    Ok(json)
}

/// `POST /v1/spaces/{space}/messages` — spaces.messages.create.
pub async fn create(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    AxumQuery(q): AxumQuery<Query>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ChatError> {
    let caller = crate::auth::google_caller(&app, &headers)?;
    let name = space_name(&id);
    take_quota(&app, &caller, Method::MessagesCreate, Some(&name))?;
    let body = json_object(&body)?;
    let new = parse_new_message(&app, &q, &body)?;
    let now = app.now();
    app.commit(|st| {
        let space = live_space(st, &name, now)?;
        authorize(Method::MessagesCreate, &caller, Some(&space), false, now)?;
        create_locked(&app, st, &caller, &space, new, now).map(Json)
    })
    .await
}

/// `GET /v1/spaces/{space}/messages/{message}` — spaces.messages.get.
pub async fn get(
    State(app): State<Arc<App>>,
    Path((id, msg)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ChatError> {
    let caller = crate::auth::google_caller(&app, &headers)?;
    let name = space_name(&id);
    take_quota(&app, &caller, Method::MessagesGet, Some(&name))?;
    let now = app.now();
    app.commit(|st| {
        let space = live_space(st, &name, now)?;
        authorize(Method::MessagesGet, &caller, Some(&space), false, now)?;
        let m = live_message(st, &name, &msg)?;
        Ok(Json(message_json(&m, st)))
    })
    .await
}

struct ListFilter {
    after: Option<Timestamp>,
    before: Option<Timestamp>,
    thread: Option<String>,
}

fn parse_filter(filter: &str) -> Result<ListFilter, ChatError> {
    let bad = || ChatError::invalid("chat.message.bad_filter", format!("Invalid filter: {filter}"));
    let mut f = ListFilter { after: None, before: None, thread: None };
    if filter.trim().is_empty() {
        return Ok(f);
    }
    let mut clauses = Vec::new();
    let mut rest = filter;
    loop {
        let upper = rest.to_ascii_uppercase();
        match upper.find(" AND ") {
            Some(i) => {
                clauses.push(&rest[..i]);
                rest = &rest[i + 5..];
            }
            None => {
                clauses.push(rest);
                break;
            }
        }
    }
    for clause in clauses {
        let c = clause.trim();
        if let Some(r) = c.strip_prefix("create_time").or_else(|| c.strip_prefix("createTime")) {
            let r = r.trim_start();
            let (op, value) = if let Some(v) = r.strip_prefix('>') {
                ('>', v)
            } else if let Some(v) = r.strip_prefix('<') {
                ('<', v)
            } else {
                return Err(bad());
            };
            let value = value.trim();
            let inner = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).ok_or_else(bad)?;
            let t = Timestamp::parse(inner).ok_or_else(bad)?;
            match op {
                '>' if f.after.is_none() => f.after = Some(t),
                '<' if f.before.is_none() => f.before = Some(t),
                _ => return Err(bad()),
            }
        } else if let Some(r) = c.strip_prefix("thread.name") {
            let v = r.trim_start().strip_prefix('=').ok_or_else(bad)?.trim().trim_matches('"');
            if f.thread.is_some() || !v.starts_with("spaces/") || !v.contains("/threads/") {
                return Err(bad());
            }
            f.thread = Some(v.to_string());
        } else {
            return Err(bad());
        }
    }
    Ok(f)
}

/// `GET /v1/spaces/{space}/messages` — spaces.messages.list.
pub async fn list(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    AxumQuery(q): AxumQuery<Query>,
    headers: HeaderMap,
) -> Result<Json<Value>, ChatError> {
    let caller = crate::auth::google_caller(&app, &headers)?;
    let name = space_name(&id);
    take_quota(&app, &caller, Method::MessagesList, Some(&name))?;
    let size = super::page_size(&q, 25, 1000)?;
    let desc = match q.get("orderBy").map(|o| o.split_whitespace().collect::<Vec<_>>()) {
        None => false,
        Some(parts) => match parts.as_slice() {
            [f] if *f == "create_time" || *f == "createTime" => false,
            [f, dir] if *f == "create_time" || *f == "createTime" => {
                match dir.to_ascii_uppercase().as_str() {
                    "ASC" => false,
                    "DESC" => true,
                    _ => {
                        return Err(ChatError::invalid(
                            "chat.message.bad_order_by",
                            "orderBy must be 'create_time ASC' or 'create_time DESC'.",
                        ))
                    }
                }
            }
            _ => {
                return Err(ChatError::invalid(
                    "chat.message.bad_order_by",
                    "orderBy must be 'create_time ASC' or 'create_time DESC'.",
                ))
            }
        },
    };
    let filter = parse_filter(q.get("filter").map(String::as_str).unwrap_or(""))?;
    let show_deleted = super::query_bool(&q, "showDeleted")?;
    let token = super::decode_page_token(&q)?;
    let cursor: Option<(Timestamp, String)> = match token {
        None => None,
        Some(t) => {
            let (nanos, msg) = t
                .split_once('|')
                .ok_or_else(|| ChatError::invalid("chat.request.page_token", "The page token is invalid."))?;
            let nanos = nanos
                .parse()
                .map_err(|_| ChatError::invalid("chat.request.page_token", "The page token is invalid."))?;
            Some((Timestamp(nanos), msg.to_string()))
        }
    };
    let now = app.now();
    app.commit(|st| {
        let space = live_space(st, &name, now)?;
        authorize(Method::MessagesList, &caller, Some(&space), false, now)?;
        let empty = Default::default();
        let set = match &filter.thread {
            Some(t) => st.thread_messages.get(t).unwrap_or(&empty),
            None => st.space_messages.get(&name).unwrap_or(&empty),
        };
        let iter: Box<dyn Iterator<Item = &(Timestamp, String)>> = match (&cursor, desc) {
            (None, false) => Box::new(set.iter()),
            (None, true) => Box::new(set.iter().rev()),
            (Some(c), false) => {
                Box::new(set.range((std::ops::Bound::Excluded(c.clone()), std::ops::Bound::Unbounded)))
            }
            (Some(c), true) => Box::new(set.range(..c.clone()).rev()),
        };
        let mut out = Vec::new();
        let mut last = None;
        let mut more = false;
        for (t, n) in iter {
            if filter.after.is_some_and(|a| *t <= a) || filter.before.is_some_and(|b| *t >= b) {
                continue;
            }
            let Some(m) = st.messages.get(n) else { continue };
            if m.delete_time.is_some() && !show_deleted {
                continue;
            }
            if out.len() == size {
                more = true;
                break;
            }
            out.push(message_json(m, st));
            last = Some((*t, n.clone()));
        }
        let mut resp = json!({});
        if !out.is_empty() {
            resp["messages"] = Value::Array(out);
        }
        if let (true, Some((t, n))) = (more, last) {
            resp["nextPageToken"] = json!(super::encode_page_token(&format!("{}|{n}", t.0)));
        }
        Ok(Json(resp))
    })
    .await
}

fn owns(caller: &GoogleCaller, m: &ChatMessage) -> bool {
    let (sender, _) = caller_user(caller);
    m.sender == sender && m.project == caller.project
}

/// `PATCH|PUT /v1/spaces/{space}/messages/{message}?updateMask=…` — messages.patch/update.
pub async fn update(
    State(app): State<Arc<App>>,
    Path((id, msg)): Path<(String, String)>,
    AxumQuery(q): AxumQuery<Query>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ChatError> {
    let caller = crate::auth::google_caller(&app, &headers)?;
    let name = space_name(&id);
    take_quota(&app, &caller, Method::MessagesUpdate, Some(&name))?;
    let body = json_object(&body)?;
    let mask: Vec<String> = q
        .get("updateMask")
        .map(|m| m.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect())
        .unwrap_or_default();
    if mask.is_empty() {
        return Err(ChatError::invalid("chat.message.update_mask_missing", "updateMask is required."));
    }
    for p in &mask {
        if !matches!(
            p.as_str(),
            "text"
                | "attachment"
                | "cards"
                | "cards_v2"
                | "cardsV2"
                | "accessory_widgets"
                | "accessoryWidgets"
                | "*"
        ) {
            return Err(ChatError::invalid(
                "chat.message.update_mask_invalid",
                format!("Unsupported updateMask path: {p}"),
            ));
        }
        if caller.user.is_some()
            && matches!(
                p.as_str(),
                "cards" | "cards_v2" | "cardsV2" | "accessory_widgets" | "accessoryWidgets"
            )
        {
            return Err(ChatError::invalid(
                "chat.message.cards_user_auth",
                format!("updateMask path {p} requires app authentication."),
            ));
        }
    }
    let size = serde_json::to_vec(&body).map(|v| v.len()).unwrap_or(usize::MAX);
    let max = app.config.rules.chat_max_message_bytes;
    if size > max {
        return Err(ChatError::invalid(
            "chat.message.too_large",
            format!("The message is {size} bytes; messages can be at most {max} bytes."),
        ));
    }
    let allow_missing = super::query_bool(&q, "allowMissing")?;
    let now = app.now();
    let missing_create = if allow_missing {
        let mut cq = Query::new();
        cq.insert("messageId".into(), msg.clone());
        Some(parse_new_message(&app, &cq, &body))
    } else {
        None
    };
    app.commit(|st| {
        let space = live_space(st, &name, now)?;
        authorize(Method::MessagesUpdate, &caller, Some(&space), false, now)?;
        let mut m = match live_message(st, &name, &msg) {
            Ok(m) => m,
            Err(e) => {
                return match missing_create {
                    Some(new)
                        if valid_client_id(&msg)
                            && !st.client_ids.contains_key(&(name.clone(), msg.clone())) =>
                    {
                        create_locked(&app, st, &caller, &space, new?, now).map(Json)
                    }
                    Some(_) => Err(ChatError::invalid(
                        "chat.message.allow_missing_needs_client_id",
                        "allowMissing is only valid with a client-assigned message id.",
                    )),
                    None => Err(e),
                };
            }
        };
        if !owns(&caller, &m) {
            return Err(ChatError::denied(
                "chat.message.not_owner",
                "The caller can only update its own messages.",
            ));
        }
        let all = mask.iter().any(|p| p == "*");
        if all || mask.iter().any(|p| p == "text") {
            m.text = opt_str(&body, "text")?;
        }
        if all || mask.iter().any(|p| matches!(p.as_str(), "cards_v2" | "cardsV2" | "cards")) {
            m.cards_v2 = body.get("cardsV2").filter(|c| !c.is_null()).cloned();
        }
        if m.text.as_deref().unwrap_or("").is_empty() && m.cards_v2.is_none() && m.attachments.is_empty() {
            return Err(ChatError::invalid("chat.message.empty", "Message cannot be empty."));
        }
        m.last_update_time = Some(now);
        let json = message_json(&m, st);
        st.put(Record::Message(m));
        Ok(Json(json))
    })
    .await
}

/// `DELETE /v1/spaces/{space}/messages/{message}?force=…` — spaces.messages.delete.
pub async fn delete(
    State(app): State<Arc<App>>,
    Path((id, msg)): Path<(String, String)>,
    AxumQuery(q): AxumQuery<Query>,
    headers: HeaderMap,
) -> Result<Json<Value>, ChatError> {
    let caller = crate::auth::google_caller(&app, &headers)?;
    let name = space_name(&id);
    take_quota(&app, &caller, Method::MessagesDelete, Some(&name))?;
    let force = super::query_bool(&q, "force")?;
    let now = app.now();
    app.commit(|st| {
        let space = live_space(st, &name, now)?;
        authorize(Method::MessagesDelete, &caller, Some(&space), false, now)?;
        let m = live_message(st, &name, &msg)?;
        let own = owns(&caller, &m);
        if caller.user.is_none() && !own {
            return Err(ChatError::denied(
                "chat.message.not_owner",
                "With app authentication an app can only delete its own messages.",
            ));
        }
        if caller.user.is_some() && !own && !(space.import_mode && m.project == caller.project) {
            return Err(ChatError::denied(
                "chat.message.not_owner",
                "The caller can only delete its own messages.",
            ));
        }
        let is_root = st.threads.get(&m.thread).is_some_and(|t| t.root == m.name);
        let replies: Vec<String> = if is_root {
            st.thread_messages
                .get(&m.thread)
                .map(|s| s.iter().map(|(_, n)| n.clone()).filter(|n| *n != m.name).collect())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let live_replies: Vec<ChatMessage> = replies
            .iter()
            .filter_map(|n| st.messages.get(n))
            .filter(|r| r.delete_time.is_none())
            .cloned()
            .collect();
        if !live_replies.is_empty() {
            if !force {
                return Err(ChatError::precondition(
                    "chat.message.has_replies",
                    "The message has thread replies; set force=true to delete them too.",
                ));
            }
            if caller.user.is_none() {
                return Err(ChatError::denied(
                    "chat.message.force_app_auth",
                    "force=true requires user authentication.",
                ));
            }
        }
        let deletion_type = if own { "CREATOR" } else { "SPACE_OWNER" };
        for mut r in live_replies.into_iter().chain(std::iter::once(m)) {
            r.delete_time = Some(now);
            r.deletion_type = Some(deletion_type.into());
            st.put(Record::Message(r));
        }
        Ok(Json(json!({})))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids() {
        assert!(valid_client_id("client-abc-123"));
        assert!(valid_client_id(&format!("client-{}", "a".repeat(56))));
        assert!(!valid_client_id(&format!("client-{}", "a".repeat(57))));
        assert!(!valid_client_id("client-"));
        assert!(!valid_client_id("client-ABC"));
        assert!(!valid_client_id("client-1.2"));
        assert!(!valid_client_id("abc"));
    }

    #[test]
    fn filters() {
        let f =
            parse_filter(r#"create_time > "2020-01-01T00:00:00Z" AND create_time < "2021-01-01T00:00:00Z""#)
                .unwrap();
        assert!(f.after.is_some() && f.before.is_some());
        let f = parse_filter("thread.name = spaces/A/threads/B").unwrap();
        assert_eq!(f.thread.as_deref(), Some("spaces/A/threads/B"));
        assert!(parse_filter("create_time >= \"2020-01-01T00:00:00Z\"").is_err());
        assert!(parse_filter("text = hello").is_err());
        assert!(parse_filter("create_time > 2020").is_err());
    }
}
