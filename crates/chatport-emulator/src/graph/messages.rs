//! Imported channel messages and replies, and their hostedContents (inline images).
//! Rules: migration mode only and only by the owning app, `from` required, no mentions or
//! reactions, createdDateTime later than the channel's and not in the future, replies
//! after their parent, millisecond uniqueness (409), size limit (413), hostedContents
//! references and reference attachments matching the body.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, Query as AxumQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Map, Value};

use super::error::GraphError;
use super::{json_object, live_channel, opt_str, opt_time, origin, take_quota, RequestKind};
use crate::auth::graph_caller;
use crate::config::UniqueScope;
use crate::server::App;
use crate::state::{GraphMessage, HostedContent, Record, State as EmuState};
use crate::time::Timestamp;

/// Query parameters.
type Query = std::collections::HashMap<String, String>;

struct InlineImage {
    temp_id: String,
    content_type: String,
    bytes: Vec<u8>,
}

/// Every `<attachment id="…">` in an HTML body.
fn attachment_tags(html: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let lower = html.to_ascii_lowercase();
    let mut pos = 0;
    while let Some(i) = lower[pos..].find("<attachment") {
        let start = pos + i;
        let end = lower[start..].find('>').map_or(lower.len(), |e| start + e);
        let tag = &html[start..end];
        if let Some(id_pos) = tag.to_ascii_lowercase().find("id=") {
            let rest = &tag[id_pos + 3..];
            let quote = rest.chars().next().unwrap_or('"');
            let value: String = if quote == '"' || quote == '\'' {
                rest[1..].chars().take_while(|c| *c != quote).collect()
            } else {
                rest.chars().take_while(|c| !c.is_whitespace() && *c != '>').collect()
            };
            out.insert(value);
        }
        pos = end.max(start + 1);
    }
    out
}

/// Every `../hostedContents/{id}/$value` referenced in an HTML body.
fn hosted_refs(html: &str) -> BTreeSet<String> {
    let marker = "../hostedContents/";
    let mut out = BTreeSet::new();
    let mut pos = 0;
    while let Some(i) = html[pos..].find(marker) {
        let start = pos + i + marker.len();
        let id: String = html[start..].chars().take_while(|c| *c != '/').collect();
        out.insert(id);
        pos = start;
    }
    out
}

/// Validates an import request body; returns the stored resource parts.
struct Import {
    created: Option<Timestamp>,
    body: Map<String, Value>,
    images: Vec<InlineImage>,
}

fn validate(app: &App, body: Map<String, Value>) -> Result<Import, GraphError> {
    let rules = &app.config.rules;
    let mut sized = body.clone();
    if let Some(Value::Array(items)) = sized.get_mut("hostedContents") {
        for item in items {
            if let Some(obj) = item.as_object_mut() {
                obj.remove("contentBytes");
            }
        }
    }
    let size = serde_json::to_vec(&sized).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > rules.graph_max_message_bytes {
        return Err(GraphError::too_large(
            "graph.message.too_large",
            format!(
                "Request Entity too large: the message is {size} bytes (limit {}).",
                rules.graph_max_message_bytes
            ),
        ));
    }
    let from = body.get("from").and_then(|f| f.get("user"));
    let from_id = from.and_then(|u| u.get("id")).and_then(Value::as_str).filter(|s| !s.is_empty());
    let Some(from_id) = from_id else {
        return Err(GraphError::bad_request(
            "graph.message.from_missing",
            "from.user.id is required when importing messages.",
        ));
    };
    if let Some(kind) = from.and_then(|u| u.get("userIdentityType")).and_then(Value::as_str) {
        if kind != "aadUser" {
            return Err(GraphError::bad_request(
                "graph.message.from_identity_type",
                format!("from.user.userIdentityType must be aadUser, not {kind}."),
            ));
        }
    }
    if !is_object_id(from_id) {
        return Err(GraphError::bad_request(
            "graph.message.from_not_object_id",
            format!("from.user.id {from_id} is not an AAD object id (a GUID)."),
        ));
    }
    if rules.graph_strict_from_user {
        let st = app.lock();
        if app.find_user(&st, from_id).is_none() {
            return Err(GraphError::bad_request(
                "graph.message.from_unknown",
                format!("from.user.id {from_id} is not a user of this tenant."),
            ));
        }
    }
    for field in ["mentions", "reactions"] {
        if body.get(field).and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
            return Err(GraphError::bad_request(
                &format!("graph.message.{field}_not_importable"),
                format!("{field} cannot be imported; render them as text."),
            ));
        }
    }
    let msg_body = match body.get("body") {
        Some(Value::Object(b)) => b,
        _ => return Err(GraphError::bad_request("graph.message.body_missing", "body is required.")),
    };
    let content_type = opt_str(msg_body, "contentType")?.unwrap_or_else(|| "text".into());
    if !matches!(content_type.as_str(), "html" | "text") {
        return Err(GraphError::bad_request(
            "graph.message.body_content_type",
            format!("body.contentType must be html or text, not {content_type}."),
        ));
    }
    let content = opt_str(msg_body, "content")?.unwrap_or_default();
    let mut images = Vec::new();
    if let Some(items) = body.get("hostedContents") {
        let Value::Array(items) = items else {
            return Err(GraphError::bad_request("graph.hosted.bad", "hostedContents must be a list."));
        };
        if items.len() > rules.graph_max_hosted_contents {
            return Err(GraphError::bad_request(
                "graph.hosted.too_many",
                format!("At most {} hostedContents per message.", rules.graph_max_hosted_contents),
            ));
        }
        for item in items {
            let temp_id = item["@microsoft.graph.temporaryId"].as_str().unwrap_or_default().to_string();
            let ctype = item["contentType"].as_str().unwrap_or_default().to_string();
            if temp_id.is_empty() {
                return Err(GraphError::bad_request(
                    "graph.hosted.temporary_id",
                    "Each hostedContent needs @microsoft.graph.temporaryId.",
                ));
            }
            if !ctype.starts_with("image/") {
                return Err(GraphError::bad_request(
                    "graph.hosted.not_image",
                    format!("hostedContent {temp_id}: only images (image/*) can be hosted, not '{ctype}'."),
                ));
            }
            let bytes = item["contentBytes"]
                .as_str()
                .and_then(|b| STANDARD.decode(b.as_bytes()).ok())
                .ok_or_else(|| {
                    GraphError::bad_request(
                        "graph.hosted.bad_base64",
                        format!("hostedContent {temp_id}: contentBytes must be base64."),
                    )
                })?;
            if bytes.len() > rules.graph_max_hosted_content_bytes {
                return Err(GraphError::too_large(
                    "graph.hosted.too_large",
                    format!(
                        "hostedContent {temp_id} is {} bytes (limit {}).",
                        bytes.len(),
                        rules.graph_max_hosted_content_bytes
                    ),
                ));
            }
            images.push(InlineImage { temp_id, content_type: ctype, bytes });
        }
    }
    for r in hosted_refs(&content) {
        if !images.iter().any(|i| i.temp_id == r) {
            return Err(GraphError::bad_request("graph.hosted.unmatched_reference", format!("The body references ../hostedContents/{r}/$value but no hostedContent has that temporaryId.")));
        }
    }
    let tags = attachment_tags(&content);
    let mut ids = BTreeSet::new();
    if let Some(items) = body.get("attachments") {
        let Value::Array(items) = items else {
            return Err(GraphError::bad_request("graph.attachment.bad", "attachments must be a list."));
        };
        for a in items {
            let id = a["id"].as_str().unwrap_or_default();
            if id.is_empty() {
                return Err(GraphError::bad_request(
                    "graph.attachment.id_missing",
                    "Each attachment needs an id.",
                ));
            }
            if a["contentType"].as_str() != Some("reference") {
                return Err(GraphError::bad_request("graph.attachment.not_reference", format!("Attachment {id}: only reference attachments (links to SharePoint/OneDrive files) can be imported.")));
            }
            if a["contentUrl"].as_str().unwrap_or_default().is_empty() {
                return Err(GraphError::bad_request(
                    "graph.attachment.url_missing",
                    format!("Attachment {id}: contentUrl is required."),
                ));
            }
            ids.insert(id.to_string());
        }
    }
    if ids != tags {
        return Err(GraphError::bad_request("graph.attachment.body_mismatch", "Every attachment must appear in the body as <attachment id=\"…\"></attachment>, and every such tag must have an attachment."));
    }
    let created = opt_time(&body, "createdDateTime")?;
    Ok(Import { created, body, images })
}

async fn import(
    app: Arc<App>,
    headers: HeaderMap,
    team_id: String,
    channel_id: String,
    parent: Option<String>,
    raw: axum::body::Bytes,
) -> Result<Response, GraphError> {
    let caller = graph_caller(&app, &headers)?;
    take_quota(&app, &caller, RequestKind::PostChannelMessage, Some(&team_id), Some(&channel_id))?;
    caller.require(&["Teamwork.Migrate.All"])?;
    let body = json_object(&raw)?;
    {
        // Check the target before storing any image bytes.
        let st = app.lock();
        precheck(&st, &caller.client_id, &team_id, &channel_id)?;
    }
    let imp = validate(&app, body)?;
    let mut blobs = Vec::new();
    for img in &imp.images {
        blobs.push((app.store.put_blob(&img.bytes).await?, img.bytes.len() as u64));
    }
    let base = origin(&headers);
    let now = app.now().truncate_to_millis();
    let scope = app.config.rules.graph_unique_created_scope;
    let status =
        StatusCode::from_u16(app.config.rules.graph_message_create_status).unwrap_or(StatusCode::CREATED);
    app.commit(|st| {
        let (_, channel) = precheck(st, &caller.client_id, &team_id, &channel_id)?;
        let created = imp.created.unwrap_or(now);
        if created > now {
            return Err(GraphError::bad_request("graph.message.created_in_future", "createdDateTime cannot be in the future."));
        }
        if created <= channel.created {
            return Err(GraphError::bad_request("graph.message.created_before_channel", format!("createdDateTime {} must be later than the channel's createdDateTime {}.", created.to_rfc3339_millis(), channel.created.to_rfc3339_millis())));
        }
        if let Some(p) = &parent {
            let Some(root) = st.graph_messages.get(&format!("{channel_id}/{p}")).filter(|m| m.reply_to.is_none()) else {
                return Err(GraphError::not_found("graph.message.parent_not_found", format!("Message {p} not found in channel.")));
            };
            if created <= root.created {
                return Err(GraphError::bad_request("graph.message.reply_before_parent", "A reply's createdDateTime must be later than its parent message's."));
            }
        }
        let ms = created.as_millis();
        let taken = match scope {
            UniqueScope::Channel => st.channel_millis.contains(&(channel_id.clone(), ms)),
            UniqueScope::Thread => {
                let key = parent.clone().unwrap_or_else(|| "#roots".into());
                st.thread_millis.contains(&(channel_id.clone(), key, ms))
            }
        };
        if taken {
            return Err(GraphError::conflict("graph.message.duplicate_created", format!("A message with createdDateTime {} already exists; createdDateTime must be unique to the millisecond.", created.to_rfc3339_millis())));
        }
        let mut id_num = ms.max(1);
        while st.graph_messages.contains_key(&format!("{channel_id}/{id_num}")) {
            id_num += 1;
        }
        let id = id_num.to_string();
        let msg_path = match &parent {
            Some(p) => format!("{base}/v1.0/teams/{team_id}/channels/{channel_id}/messages/{p}/replies/{id}"),
            None => format!("{base}/v1.0/teams/{team_id}/channels/{channel_id}/messages/{id}"),
        };
        let mut content = imp.body["body"]["content"].as_str().unwrap_or_default().to_string();
        for (img, (sha, size)) in imp.images.iter().zip(&blobs) {
            let hosted_id = URL_SAFE_NO_PAD.encode(format!("id=x_{},type=1,url={}", img.temp_id, crate::ids::chat_short_id()));
            content = content.replace(&format!("../hostedContents/{}/$value", img.temp_id), &format!("{msg_path}/hostedContents/{hosted_id}/$value"));
            st.put(Record::Hosted(HostedContent {
                id: hosted_id,
                channel_id: channel_id.clone(),
                message_id: id.clone(),
                content_type: img.content_type.clone(),
                sha256: sha.clone(),
                size: *size,
            }));
        }
        let b = &imp.body;
        let resource = json!({
            "id": id,
            "replyToId": parent,
            "etag": id,
            "messageType": "message",
            "createdDateTime": created.to_rfc3339_millis(),
            "lastModifiedDateTime": created.to_rfc3339_millis(),
            "lastEditedDateTime": null,
            "deletedDateTime": null,
            "subject": b.get("subject").cloned().unwrap_or(Value::Null),
            "summary": b.get("summary").cloned().unwrap_or(Value::Null),
            "chatId": null,
            "importance": b.get("importance").cloned().unwrap_or(json!("normal")),
            "locale": "en-us",
            "webUrl": format!("{base}/l/message/{channel_id}/{id}"),
            "channelIdentity": {"teamId": team_id, "channelId": channel_id},
            "policyViolation": null,
            "eventDetail": null,
            "from": b.get("from").cloned().unwrap_or(Value::Null),
            "body": {"contentType": b["body"]["contentType"].as_str().unwrap_or("text"), "content": content},
            "attachments": b.get("attachments").cloned().unwrap_or(json!([])),
            "mentions": [],
            "reactions": [],
        });
        st.put(Record::GraphMessage(GraphMessage {
            id,
            team_id: team_id.clone(),
            channel_id: channel_id.clone(),
            reply_to: parent.clone(),
            created,
            resource: resource.clone(),
        }));
        Ok((status, Json(resource)).into_response())
    })
    .await
}

fn precheck(
    st: &EmuState,
    app_id: &str,
    team_id: &str,
    channel_id: &str,
) -> Result<(crate::state::Team, crate::state::Channel), GraphError> {
    let (team, channel) = live_channel(st, team_id, channel_id)?;
    if channel.migration_mode.as_deref() != Some("inProgress") {
        return Err(GraphError::forbidden("graph.message.not_in_migration", "Application permissions can only post messages to a channel in migration mode (create it in migration mode or call startMigration)."));
    }
    if channel.owner_app != app_id {
        return Err(GraphError::forbidden(
            "graph.migration.other_app",
            "Only the application that started the migration can import into this channel.",
        ));
    }
    Ok((team, channel))
}

/// `POST …/channels/{c}/messages` — import a message.
pub async fn create_message(
    State(app): State<Arc<App>>,
    Path((team, channel)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    import(app, headers, team, channel, None, body).await
}

/// `POST …/channels/{c}/messages/{m}/replies` — import a reply.
pub async fn create_reply(
    State(app): State<Arc<App>>,
    Path((team, channel, message)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    import(app, headers, team, channel, Some(message), body).await
}

fn find_message(
    st: &EmuState,
    channel: &str,
    id: &str,
    parent: Option<&str>,
) -> Result<GraphMessage, GraphError> {
    match st.graph_messages.get(&format!("{channel}/{id}")) {
        Some(m) if m.reply_to.as_deref() == parent => Ok(m.clone()),
        _ => Err(GraphError::not_found("graph.message.not_found", format!("Message {id} not found."))),
    }
}

/// Application permissions that let an app read channel messages, replies and their
/// hosted contents, least privileged first (ChannelMessage.Read.Group is granted per team
/// by resource-specific consent). Teamwork.Migrate.All is not one of them.
const MESSAGE_READ_ROLES: &[&str] =
    &["ChannelMessage.Read.Group", "ChannelMessage.Read.All", "Group.Read.All", "Group.ReadWrite.All"];

fn read_prelude(app: &App, headers: &HeaderMap, team: &str, channel: &str) -> Result<(), GraphError> {
    let caller = graph_caller(app, headers)?;
    take_quota(app, &caller, RequestKind::GetChannelMessage, Some(team), Some(channel))?;
    caller.require(MESSAGE_READ_ROLES)
}

/// `GET …/messages/{m}`.
pub async fn get_message(
    State(app): State<Arc<App>>,
    Path((team, channel, message)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphError> {
    read_prelude(&app, &headers, &team, &channel)?;
    let st = app.lock();
    live_channel(&st, &team, &channel)?;
    Ok(Json(find_message(&st, &channel, &message, None)?.resource))
}

/// `GET …/messages/{m}/replies/{r}`.
pub async fn get_reply(
    State(app): State<Arc<App>>,
    Path((team, channel, message, reply)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphError> {
    read_prelude(&app, &headers, &team, &channel)?;
    let st = app.lock();
    live_channel(&st, &team, &channel)?;
    Ok(Json(find_message(&st, &channel, &reply, Some(&message))?.resource))
}

fn page(
    st: &EmuState,
    set: Option<&BTreeSet<(Timestamp, String)>>,
    channel: &str,
    q: &Query,
    self_url: &str,
) -> Result<Json<Value>, GraphError> {
    let top = match q.get("$top") {
        None => 20,
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=50).contains(&n) => n,
            _ => return Err(GraphError::bad_request("graph.list.bad_top", "$top must be between 1 and 50.")),
        },
    };
    let after: Option<(Timestamp, String)> = match q.get("$skiptoken") {
        None => None,
        Some(tok) => {
            let text = URL_SAFE_NO_PAD.decode(tok.as_bytes()).ok().and_then(|b| String::from_utf8(b).ok());
            let parsed = text
                .as_deref()
                .and_then(|t| t.split_once('|'))
                .and_then(|(n, id)| Some((Timestamp(n.parse().ok()?), id.to_string())));
            Some(
                parsed.ok_or_else(|| {
                    GraphError::bad_request("graph.list.bad_skiptoken", "Invalid $skiptoken.")
                })?,
            )
        }
    };
    let empty = BTreeSet::new();
    let set = set.unwrap_or(&empty);
    let iter: Box<dyn Iterator<Item = &(Timestamp, String)>> = match &after {
        None => Box::new(set.iter()),
        Some(a) => Box::new(set.range((std::ops::Bound::Excluded(a.clone()), std::ops::Bound::Unbounded))),
    };
    let mut value = Vec::new();
    let mut last = None;
    let mut more = false;
    for (t, id) in iter {
        if value.len() == top {
            more = true;
            break;
        }
        if let Some(m) = st.graph_messages.get(&format!("{channel}/{id}")) {
            value.push(m.resource.clone());
            last = Some(format!("{}|{id}", t.0));
        }
    }
    let mut resp = json!({"value": value});
    if let (true, Some(l)) = (more, last) {
        resp["@odata.nextLink"] =
            json!(format!("{self_url}?$top={top}&$skiptoken={}", URL_SAFE_NO_PAD.encode(l)));
    }
    Ok(Json(resp))
}

/// `GET …/channels/{c}/messages` — root messages, oldest first, `$top` ≤ 50.
pub async fn list_messages(
    State(app): State<Arc<App>>,
    Path((team, channel)): Path<(String, String)>,
    AxumQuery(q): AxumQuery<Query>,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphError> {
    read_prelude(&app, &headers, &team, &channel)?;
    let st = app.lock();
    live_channel(&st, &team, &channel)?;
    let url = format!("{}/v1.0/teams/{team}/channels/{channel}/messages", origin(&headers));
    page(&st, st.channel_roots.get(&channel), &channel, &q, &url)
}

/// `GET …/messages/{m}/replies`.
pub async fn list_replies(
    State(app): State<Arc<App>>,
    Path((team, channel, message)): Path<(String, String, String)>,
    AxumQuery(q): AxumQuery<Query>,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphError> {
    read_prelude(&app, &headers, &team, &channel)?;
    let st = app.lock();
    live_channel(&st, &team, &channel)?;
    find_message(&st, &channel, &message, None)?;
    let url = format!("{}/v1.0/teams/{team}/channels/{channel}/messages/{message}/replies", origin(&headers));
    page(&st, st.replies.get(&format!("{channel}/{message}")), &channel, &q, &url)
}

fn hosted_json(h: &HostedContent) -> Value {
    json!({"id": h.id, "contentBytes": null, "contentType": h.content_type})
}

/// `GET …/messages/{m}/hostedContents`.
pub async fn list_hosted(
    State(app): State<Arc<App>>,
    Path((team, channel, message)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphError> {
    hosted_list(&app, &headers, &team, &channel, &message, None)
}

/// `GET …/messages/{m}/replies/{r}/hostedContents`.
pub async fn list_reply_hosted(
    State(app): State<Arc<App>>,
    Path((team, channel, message, reply)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphError> {
    hosted_list(&app, &headers, &team, &channel, &reply, Some(&message))
}

fn hosted_list(
    app: &App,
    headers: &HeaderMap,
    team: &str,
    channel: &str,
    message: &str,
    parent: Option<&str>,
) -> Result<Json<Value>, GraphError> {
    read_prelude(app, headers, team, channel)?;
    let st = app.lock();
    live_channel(&st, team, channel)?;
    find_message(&st, channel, message, parent)?;
    let prefix = format!("{channel}/{message}/");
    let value: Vec<Value> = st
        .hosted
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(_, h)| hosted_json(h))
        .collect();
    Ok(Json(json!({"value": value})))
}

fn find_hosted(
    st: &EmuState,
    channel: &str,
    message: &str,
    hosted: &str,
) -> Result<HostedContent, GraphError> {
    st.hosted.get(&format!("{channel}/{message}/{hosted}")).cloned().ok_or_else(|| {
        GraphError::not_found("graph.hosted.not_found", format!("hostedContent {hosted} not found."))
    })
}

/// `GET …/messages/{m}/hostedContents/{h}`.
pub async fn get_hosted(
    State(app): State<Arc<App>>,
    Path((team, channel, message, hosted)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphError> {
    read_prelude(&app, &headers, &team, &channel)?;
    let st = app.lock();
    live_channel(&st, &team, &channel)?;
    Ok(Json(hosted_json(&find_hosted(&st, &channel, &message, &hosted)?)))
}

/// `GET …/messages/{m}/replies/{r}/hostedContents/{h}`.
pub async fn get_reply_hosted(
    State(app): State<Arc<App>>,
    Path((team, channel, _message, reply, hosted)): Path<(String, String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphError> {
    read_prelude(&app, &headers, &team, &channel)?;
    let st = app.lock();
    live_channel(&st, &team, &channel)?;
    Ok(Json(hosted_json(&find_hosted(&st, &channel, &reply, &hosted)?)))
}

async fn hosted_value(
    app: &App,
    headers: &HeaderMap,
    team: &str,
    channel: &str,
    message: &str,
    hosted: &str,
) -> Result<Response, GraphError> {
    read_prelude(app, headers, team, channel)?;
    let h = {
        let st = app.lock();
        live_channel(&st, team, channel)?;
        find_hosted(&st, channel, message, hosted)?
    };
    let bytes = app.store.get_blob(&h.sha256).await?;
    Ok(([("content-type", h.content_type)], bytes).into_response())
}

/// `GET …/messages/{m}/hostedContents/{h}/$value` — the image bytes.
pub async fn get_hosted_value(
    State(app): State<Arc<App>>,
    Path((team, channel, message, hosted)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    hosted_value(&app, &headers, &team, &channel, &message, &hosted).await
}

/// `GET …/messages/{m}/replies/{r}/hostedContents/{h}/$value` — a reply's image bytes.
pub async fn get_reply_hosted_value(
    State(app): State<Arc<App>>,
    Path((team, channel, _message, reply, hosted)): Path<(String, String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    hosted_value(&app, &headers, &team, &channel, &reply, &hosted).await
}

/// Whether `s` is shaped like an AAD object id: a GUID, `8-4-4-4-12` hexadecimal digits.
fn is_object_id(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_attachment_tags_and_hosted_refs() {
        let html = r#"See <attachment id="abc"></attachment> and <ATTACHMENT id='def'></ATTACHMENT> <img src="../hostedContents/1/$value"><img src="../hostedContents/2/$value">"#;
        assert_eq!(attachment_tags(html).into_iter().collect::<Vec<_>>(), vec!["abc", "def"]);
        assert_eq!(hosted_refs(html).into_iter().collect::<Vec<_>>(), vec!["1", "2"]);
        assert!(attachment_tags("<p>plain</p>").is_empty());
    }
}
