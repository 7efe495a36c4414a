//! Channel files folders and driveItem uploads: simple PUT `…/items/{parent}:/{name}:/content`
//! and resumable upload sessions (`createUploadSession`, chunked PUTs with Content-Range in
//! multiples of 320 KiB, at most 60 MiB each, no Authorization header). Owns the name
//! conflict behaviours (fail / replace / rename) and serving file bytes back.

use std::io::Write;
use std::sync::Arc;

use axum::extract::{Path, Query as AxumQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::error::GraphError;
use super::{json_object, live_channel, origin, take_quota, RequestKind};
use crate::auth::{graph_caller, GraphCaller};
use crate::server::App;
use crate::state::{DriveItem, Record, State as EmuState, UploadSession};

const FILE_ROLES: &[&str] = &["Files.ReadWrite.All", "Sites.ReadWrite.All"];
/// Upload-session chunks must be multiples of this (except the last).
pub const CHUNK_MULTIPLE: u64 = 327_680;
/// Largest upload-session chunk.
pub const MAX_CHUNK: u64 = 60 * 1024 * 1024;
/// Largest simple upload.
pub const MAX_SIMPLE_UPLOAD: usize = 250 * 1024 * 1024;

type Query = std::collections::HashMap<String, String>;

fn item_json(i: &DriveItem) -> Value {
    let mut v = json!({
        "id": i.id,
        "name": i.name,
        "eTag": format!("\"{{{}}},{}\"", i.etag_guid, i.version),
        "cTag": format!("\"c:{{{}}},{}\"", i.etag_guid, i.version),
        "webUrl": i.web_url,
        "size": i.size,
        "createdDateTime": i.created.to_rfc3339_millis(),
        "lastModifiedDateTime": i.created.to_rfc3339_millis(),
        "parentReference": {"driveId": i.drive_id, "driveType": "documentLibrary", "id": i.parent_id},
    });
    if i.folder {
        v["folder"] = json!({"childCount": 0});
    } else {
        v["file"] = json!({"mimeType": i.mime.clone().unwrap_or_else(|| "application/octet-stream".into()), "hashes": {"sha256Hash": i.sha256.clone().unwrap_or_default().to_uppercase()}});
    }
    v
}

/// `GET /v1.0/teams/{t}/channels/{c}/filesFolder`.
pub async fn files_folder(
    State(app): State<Arc<App>>,
    Path((team, channel)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphError> {
    let caller = graph_caller(&app, &headers)?;
    take_quota(&app, &caller, RequestKind::OtherGet, Some(&team), Some(&channel))?;
    let delay = (app.config.rules.graph_files_folder_delay_secs * 1e9) as i64;
    let now = app.now();
    let st = app.lock();
    let (_, c) = live_channel(&st, &team, &channel)?;
    let provisioning =
        st.operations.values().any(|o| o.team_id == team && now.0 < o.created.0.saturating_add(delay));
    if provisioning {
        return Err(GraphError::not_found(
            "graph.drive.folder_provisioning",
            "The channel's files folder is not provisioned yet.",
        ));
    }
    let folder = st.drive_items.get(&c.folder_id).ok_or_else(|| {
        GraphError::not_found("graph.drive.folder_missing", "The channel's files folder does not exist yet.")
    })?;
    Ok(Json(item_json(folder)))
}

enum ItemPath {
    Item(String),
    Content(String),
    Child { parent: String, name: String, action: String },
}

fn parse_item_path(rest: &str) -> Result<ItemPath, GraphError> {
    let bad = || GraphError::bad_request("graph.drive.bad_path", format!("Unsupported item path '{rest}'."));
    if let Some((parent, tail)) = rest.split_once(":/") {
        // `{parent}:/{name}` (or `…:/{name}:`) addresses the child itself.
        let (name, action) = tail.rsplit_once(":/").unwrap_or((tail.trim_end_matches(':'), ""));
        if name.is_empty() || name.contains('/') || parent.is_empty() {
            return Err(bad());
        }
        return Ok(ItemPath::Child {
            parent: parent.to_string(),
            name: crate::auth::percent_decode(name),
            action: action.to_string(),
        });
    }
    match rest.split_once('/') {
        None => Ok(ItemPath::Item(rest.to_string())),
        Some((id, "content")) => Ok(ItemPath::Content(id.to_string())),
        _ => Err(bad()),
    }
}

fn live_folder(st: &EmuState, drive: &str, id: &str) -> Result<DriveItem, GraphError> {
    match st.drive_items.get(id) {
        Some(i) if i.drive_id == drive && i.folder => Ok(i.clone()),
        _ => Err(GraphError::not_found(
            "graph.drive.item_not_found",
            format!("Item {id} not found in drive {drive}."),
        )),
    }
}

fn child(st: &EmuState, parent: &str, name: &str) -> Option<DriveItem> {
    st.drive_children
        .get(&(parent.to_string(), name.to_lowercase()))
        .and_then(|id| st.drive_items.get(id))
        .cloned()
}

fn conflict_behavior(q: &Query, body: Option<&Value>) -> Result<String, GraphError> {
    let v = body
        .and_then(|b| b["item"]["@microsoft.graph.conflictBehavior"].as_str().map(str::to_string))
        .or_else(|| q.get("@microsoft.graph.conflictBehavior").cloned())
        .unwrap_or_else(|| "replace".into());
    match v.as_str() {
        "fail" | "replace" | "rename" => Ok(v),
        other => Err(GraphError::bad_request(
            "graph.drive.bad_conflict_behavior",
            format!("Invalid conflictBehavior '{other}'."),
        )),
    }
}

/// Picks the final name and whether an existing item is replaced.
fn resolve_name(
    st: &EmuState,
    parent: &str,
    name: &str,
    behavior: &str,
) -> Result<(String, Option<DriveItem>), GraphError> {
    match (child(st, parent, name), behavior) {
        (None, _) => Ok((name.to_string(), None)),
        (Some(_), "fail") => Err(GraphError::name_exists(format!("An item named '{name}' already exists."))),
        (Some(existing), "replace") => Ok((existing.name.clone(), Some(existing))),
        (Some(_), _) => {
            let (stem, ext) = match name.rsplit_once('.') {
                Some((s, e)) => (s.to_string(), format!(".{e}")),
                None => (name.to_string(), String::new()),
            };
            let mut n = 1;
            loop {
                let candidate = format!("{stem} {n}{ext}");
                if child(st, parent, &candidate).is_none() {
                    return Ok((candidate, None));
                }
                n += 1;
            }
        }
    }
}

fn team_of_drive(st: &EmuState, drive: &str) -> Option<String> {
    st.teams.values().find(|t| t.drive_id == drive && !t.deleted).map(|t| t.id.clone())
}

#[allow(clippy::too_many_arguments)]
fn store_file(
    st: &mut EmuState,
    drive: &str,
    parent: &DriveItem,
    name: &str,
    replace: Option<DriveItem>,
    size: u64,
    sha: String,
    mime: String,
    now: crate::time::Timestamp,
) -> (StatusCode, DriveItem) {
    let item = match replace {
        Some(mut old) => {
            old.size = size;
            old.sha256 = Some(sha);
            old.mime = Some(mime);
            old.version += 1;
            old
        }
        None => DriveItem {
            id: crate::ids::graph_item_id(),
            drive_id: drive.to_string(),
            parent_id: Some(parent.id.clone()),
            name: name.to_string(),
            folder: false,
            size,
            mime: Some(mime),
            sha256: Some(sha),
            etag_guid: crate::ids::random_guid().to_uppercase(),
            version: 1,
            web_url: format!("{}/{}", parent.web_url, name.replace(' ', "%20")),
            created: now,
        },
    };
    let status = if item.version > 1 { StatusCode::OK } else { StatusCode::CREATED };
    st.put(Record::DriveItem(item.clone()));
    (status, item)
}

fn file_caller(app: &App, headers: &HeaderMap, drive: &str) -> Result<GraphCaller, GraphError> {
    let caller = graph_caller(app, headers)?;
    take_quota(app, &caller, RequestKind::Other, Some(drive), None)?;
    caller.require(FILE_ROLES)?;
    Ok(caller)
}

/// `GET /v1.0/drives/{d}/items/{id}` and `…/items/{id}/content`.
pub async fn get_item(
    State(app): State<Arc<App>>,
    Path((drive, rest)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    let caller = graph_caller(&app, &headers)?;
    take_quota(&app, &caller, RequestKind::OtherGet, Some(&drive), None)?;
    let path = parse_item_path(&rest)?;
    let item = match &path {
        ItemPath::Item(id) | ItemPath::Content(id) => {
            let st = app.lock();
            st.drive_items.get(id).filter(|i| i.drive_id == drive).cloned().ok_or_else(|| {
                GraphError::not_found("graph.drive.item_not_found", format!("Item {id} not found."))
            })?
        }
        ItemPath::Child { parent, name, action } if action.is_empty() => {
            let st = app.lock();
            child(&st, parent, name).filter(|i| i.drive_id == drive).ok_or_else(|| {
                GraphError::not_found(
                    "graph.drive.item_not_found",
                    format!("Item {parent}:/{name} not found."),
                )
            })?
        }
        _ => {
            return Err(GraphError::bad_request(
                "graph.drive.bad_path",
                "GET supports items/{id}, items/{id}/content and items/{parent}:/{name}.",
            ))
        }
    };
    match (path, &item.sha256) {
        (ItemPath::Content(_), Some(sha)) => {
            let bytes = app.store.get_blob(sha).await?;
            Ok(([("content-type", item.mime.clone().unwrap_or_default())], bytes).into_response())
        }
        (ItemPath::Content(_), None) => {
            Err(GraphError::bad_request("graph.drive.folder_content", "A folder has no content."))
        }
        _ => Ok(Json(item_json(&item)).into_response()),
    }
}

/// `PUT /v1.0/drives/{d}/items/{parent}:/{name}:/content` — simple upload.
pub async fn put_content(
    State(app): State<Arc<App>>,
    Path((drive, rest)): Path<(String, String)>,
    AxumQuery(q): AxumQuery<Query>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    file_caller(&app, &headers, &drive)?;
    let ItemPath::Child { parent, name, action } = parse_item_path(&rest)? else {
        return Err(GraphError::bad_request(
            "graph.drive.bad_path",
            "PUT expects items/{parent-id}:/{file-name}:/content.",
        ));
    };
    if action != "content" {
        return Err(GraphError::bad_request(
            "graph.drive.bad_path",
            format!("Unsupported action '{action}'."),
        ));
    }
    if body.len() > MAX_SIMPLE_UPLOAD {
        return Err(GraphError::too_large(
            "graph.drive.too_large",
            "Simple upload is limited to 250 MB; use an upload session.",
        ));
    }
    let behavior = conflict_behavior(&q, None)?;
    {
        let st = app.lock();
        live_folder(&st, &drive, &parent)?;
    }
    let sha = app.store.put_blob(&body).await?;
    let mime = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    let now = app.now();
    let size = body.len() as u64;
    app.commit(|st| {
        let folder = live_folder(st, &drive, &parent)?;
        let (final_name, replace) = resolve_name(st, &parent, &name, &behavior)?;
        let (status, item) = store_file(st, &drive, &folder, &final_name, replace, size, sha, mime, now);
        Ok((status, Json(item_json(&item))).into_response())
    })
    .await
}

/// `POST /v1.0/drives/{d}/items/{parent}:/{name}:/createUploadSession`.
pub async fn create_session(
    State(app): State<Arc<App>>,
    Path((drive, rest)): Path<(String, String)>,
    AxumQuery(q): AxumQuery<Query>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, GraphError> {
    file_caller(&app, &headers, &drive)?;
    let ItemPath::Child { parent, name, action } = parse_item_path(&rest)? else {
        return Err(GraphError::bad_request(
            "graph.drive.bad_path",
            "POST expects items/{parent-id}:/{file-name}:/createUploadSession.",
        ));
    };
    if action != "createUploadSession" {
        return Err(GraphError::bad_request(
            "graph.drive.bad_path",
            format!("Unsupported action '{action}'."),
        ));
    }
    let body = Value::Object(json_object(&body)?);
    let behavior = conflict_behavior(&q, Some(&body))?;
    let base = origin(&headers);
    let now = app.now();
    app.commit(|st| {
        live_folder(st, &drive, &parent)?;
        if team_of_drive(st, &drive).is_none() {
            return Err(GraphError::not_found("graph.drive.not_found", format!("Drive {drive} not found.")));
        }
        if behavior == "fail" && child(st, &parent, &name).is_some() {
            return Err(GraphError::name_exists(format!("An item named '{name}' already exists.")));
        }
        let session = UploadSession {
            id: crate::ids::token(""),
            drive_id: drive.clone(),
            parent_id: parent.clone(),
            name: name.clone(),
            conflict: behavior.clone(),
            received: 0,
            total: None,
            expires: now.plus_secs(24 * 3600),
            closed: false,
        };
        let json = json!({
            "uploadUrl": format!("{base}/upload-sessions/{}", session.id),
            "expirationDateTime": session.expires.to_rfc3339_millis(),
            "nextExpectedRanges": ["0-"],
        });
        st.put(Record::UploadSession(session));
        Ok(Json(json))
    })
    .await
}

fn parse_content_range(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?, total.trim().parse().ok()?))
}

fn live_session(st: &EmuState, id: &str, now: crate::time::Timestamp) -> Result<UploadSession, GraphError> {
    match st.upload_sessions.get(id) {
        Some(s) if !s.closed && s.expires > now => Ok(s.clone()),
        _ => Err(GraphError::not_found(
            "graph.drive.session_not_found",
            "The upload session does not exist or has expired.",
        )),
    }
}

/// `PUT /upload-sessions/{id}` — one chunk: 202 with nextExpectedRanges, or the item when
/// the last byte arrives.
pub async fn put_chunk(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    if headers.contains_key("authorization") {
        return Err(GraphError::unauthorized(
            "graph.drive.session_authorization",
            "Do not send an Authorization header to an uploadUrl; it is pre-authenticated.",
        ));
    }
    let range = headers.get("content-range").and_then(|v| v.to_str().ok()).and_then(parse_content_range);
    let Some((start, end, total)) = range else {
        return Err(GraphError::bad_request(
            "graph.drive.content_range",
            "Content-Range: bytes {start}-{end}/{total} is required.",
        ));
    };
    let len = body.len() as u64;
    if end < start || end - start + 1 != len || end >= total {
        return Err(GraphError::bad_request(
            "graph.drive.content_range",
            "Content-Range does not match the body length.",
        ));
    }
    if len > MAX_CHUNK {
        return Err(GraphError::too_large(
            "graph.drive.chunk_too_large",
            "Upload chunks are limited to 60 MiB.",
        ));
    }
    let last = end + 1 == total;
    if !last && len % CHUNK_MULTIPLE != 0 {
        return Err(GraphError::bad_request(
            "graph.drive.chunk_size",
            format!("Chunk size {len} is not a multiple of 320 KiB ({CHUNK_MULTIPLE} bytes)."),
        ));
    }
    let now = app.now();
    let session = {
        let st = app.lock();
        live_session(&st, &id, now)?
    };
    if session.total.is_some_and(|t| t != total) {
        return Err(GraphError::bad_request(
            "graph.drive.content_range",
            "The total size changed between chunks.",
        ));
    }
    if start != session.received {
        return Err(GraphError::invalid_range(format!(
            "Expected the range starting at {}.",
            session.received
        )));
    }
    let part = app.store.session_path(&id);
    let received = session.received;
    let chunk = body.clone();
    let write = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        if let Some(dir) = part.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f =
            std::fs::OpenOptions::new().create(true).append(false).write(true).truncate(false).open(&part)?;
        // Cut anything written after the last acknowledged chunk (crash between write and commit).
        f.set_len(received)?;
        use std::io::Seek;
        f.seek(std::io::SeekFrom::Start(received))?;
        f.write_all(&chunk)?;
        f.sync_data()
    })
    .await;
    match write {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(GraphError::internal(format!("writing upload chunk: {e}"))),
        Err(e) => return Err(GraphError::internal(format!("writing upload chunk: {e}"))),
    }
    if !last {
        return app
            .commit(|st| {
                let mut s = live_session(st, &id, now)?;
                s.received = end + 1;
                s.total = Some(total);
                let json = json!({"expirationDateTime": s.expires.to_rfc3339_millis(), "nextExpectedRanges": [format!("{}-", end + 1)]});
                st.put(Record::UploadSession(s));
                Ok((StatusCode::ACCEPTED, Json(json)).into_response())
            })
            .await;
    }
    let part = app.store.session_path(&id);
    let bytes =
        tokio::fs::read(&part).await.map_err(|e| GraphError::internal(format!("reading upload: {e}")))?;
    let sha = app.store.put_blob(&bytes).await?;
    let result = app
        .commit(|st| {
            let mut s = live_session(st, &id, now)?;
            let folder = live_folder(st, &s.drive_id, &s.parent_id)?;
            let (name, replace) = resolve_name(st, &s.parent_id, &s.name, &s.conflict)?;
            let (status, item) = store_file(
                st,
                &s.drive_id,
                &folder,
                &name,
                replace,
                total,
                sha,
                "application/octet-stream".into(),
                now,
            );
            s.received = total;
            s.total = Some(total);
            s.closed = true;
            st.put(Record::UploadSession(s));
            Ok((status, Json(item_json(&item))).into_response())
        })
        .await;
    let _ = tokio::fs::remove_file(&part).await;
    result
}

/// `GET /upload-sessions/{id}` — the session's status: which range it expects next (how
/// a client resumes after a chunk whose answer was lost). 404 once the upload finished.
pub async fn session_status(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, GraphError> {
    let now = app.now();
    let st = app.lock();
    let s = live_session(&st, &id, now)?;
    Ok(Json(json!({
        "expirationDateTime": s.expires.to_rfc3339_millis(),
        "nextExpectedRanges": [format!("{}-", s.received)],
    })))
}

/// `DELETE /upload-sessions/{id}` — cancels a session: 204.
pub async fn cancel_session(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<StatusCode, GraphError> {
    let now = app.now();
    let result = app
        .commit(|st| {
            let mut s = live_session(st, &id, now)?;
            s.closed = true;
            st.put(Record::UploadSession(s));
            Ok(StatusCode::NO_CONTENT)
        })
        .await;
    let _ = tokio::fs::remove_file(app.store.session_path(&id)).await;
    result
}
