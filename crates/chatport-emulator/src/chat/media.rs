//! Chat media: `media.upload` (multipart/related: JSON metadata then the bytes) returning
//! an `attachmentDataRef`, `media.download`, and `attachments.get`. Enforces the size
//! limit, blocked file types and the required file name. Bytes live in the blob store.

use std::sync::Arc;

use axum::extract::{Path, Query as AxumQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::auth::{authorize, Method};
use super::error::ChatError;
use super::{live_message, live_space, opt_str, space_name, take_quota, Query};
use crate::auth::google_caller;
use crate::server::App;
use crate::state::{ChatUpload, Record};

/// One part of a multipart body.
#[derive(Debug)]
pub struct Part<'a> {
    /// Lower-cased header names with their values.
    pub headers: Vec<(String, String)>,
    /// Part content.
    pub body: &'a [u8],
}

impl Part<'_> {
    /// A header value by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..].windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

/// The boundary parameter of a `multipart/*` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("boundary")).then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Splits a multipart body into parts. Returns None when it is malformed.
pub fn parse_multipart<'a>(body: &'a [u8], boundary: &str) -> Option<Vec<Part<'a>>> {
    let delim = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut pos = find(body, delim.as_bytes(), 0)? + delim.len();
    loop {
        if body.get(pos..pos + 2) == Some(b"--") {
            return Some(parts);
        }
        // Skip the line break after the delimiter.
        if body.get(pos..pos + 2) == Some(b"\r\n") {
            pos += 2;
        } else if body.get(pos) == Some(&b'\n') {
            pos += 1;
        } else {
            return None;
        }
        let (header_end, body_start) = match (find(body, b"\r\n\r\n", pos), find(body, b"\n\n", pos)) {
            (Some(a), Some(b)) if b < a => (b, b + 2),
            (Some(a), _) => (a, a + 4),
            (None, Some(b)) => (b, b + 2),
            (None, None) => return None,
        };
        let headers = String::from_utf8_lossy(&body[pos..header_end])
            .lines()
            .filter_map(|l| {
                l.split_once(':').map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            })
            .collect();
        let next = find(body, delim.as_bytes(), body_start)?;
        let mut end = next;
        if end >= 2 && &body[end - 2..end] == b"\r\n" {
            end -= 2;
        } else if end >= 1 && body[end - 1] == b'\n' {
            end -= 1;
        }
        parts.push(Part { headers, body: &body[body_start..end.max(body_start)] });
        pos = next + delim.len();
    }
}

/// `POST /upload/v1/spaces/{space}/attachments:upload?uploadType=multipart` — media.upload.
pub async fn upload(
    State(app): State<Arc<App>>,
    Path((id, action)): Path<(String, String)>,
    AxumQuery(q): AxumQuery<Query>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ChatError> {
    if action != "attachments:upload" {
        return Err(ChatError::not_found(
            "chat.route.unknown",
            format!("Method not found: spaces/{id}/{action}"),
        ));
    }
    let caller = google_caller(&app, &headers)?;
    let name = space_name(&id);
    take_quota(&app, &caller, Method::MediaUpload, Some(&name))?;
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    match q.get("uploadType").map(String::as_str) {
        Some("multipart") | None => {}
        Some("media") => {
            return Err(ChatError::invalid(
                "chat.upload.filename_missing",
                "media.upload needs the filename in the metadata part; use uploadType=multipart.",
            ))
        }
        Some("resumable") => {
            return Err(ChatError {
                status: axum::http::StatusCode::NOT_IMPLEMENTED,
                rpc: "UNIMPLEMENTED",
                message: "The emulator does not implement resumable uploads; use uploadType=multipart."
                    .into(),
                reason: "chat.upload.resumable".into(),
                retry_after: None,
            })
        }
        Some(other) => {
            return Err(ChatError::invalid(
                "chat.upload.bad_upload_type",
                format!("Invalid uploadType: {other}"),
            ))
        }
    }
    let Some(b) = boundary(content_type) else {
        return Err(ChatError::invalid("chat.upload.not_multipart", "media.upload expects Content-Type: multipart/related with a JSON metadata part and a media part."));
    };
    let parts = parse_multipart(&body, &b)
        .ok_or_else(|| ChatError::invalid("chat.upload.bad_multipart", "The multipart body is malformed."))?;
    let [meta, media] = parts.as_slice() else {
        return Err(ChatError::invalid(
            "chat.upload.bad_multipart",
            "media.upload expects exactly two parts: metadata and media.",
        ));
    };
    let meta = super::json_object(meta.body)?;
    let filename = opt_str(&meta, "filename")?.filter(|f| !f.trim().is_empty()).ok_or_else(|| {
        ChatError::invalid("chat.upload.filename_missing", "The metadata part must set filename.")
    })?;
    let ext = filename.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    if ext
        .as_ref()
        .is_some_and(|e| app.config.rules.chat_blocked_extensions.iter().any(|b| b.eq_ignore_ascii_case(e)))
    {
        return Err(ChatError::invalid(
            "chat.upload.blocked_type",
            format!("Files of type .{} are blocked.", ext.unwrap_or_default()),
        ));
    }
    let max = app.config.rules.chat_max_upload_bytes;
    if media.body.len() > max {
        return Err(ChatError::invalid(
            "chat.upload.too_large",
            format!("The file is {} bytes; the maximum is {max} bytes.", media.body.len()),
        ));
    }
    let media_type = media.header("content-type").unwrap_or("application/octet-stream").to_string();
    let now = app.now();
    {
        // Check space and auth before writing the blob.
        let mut st = app.lock();
        let space = live_space(&mut st, &name, now)?;
        authorize(Method::MediaUpload, &caller, Some(&space), false, now)?;
    }
    let Some(user) = caller.user.clone() else {
        return Err(ChatError::denied("chat.auth.app_auth", "media.upload requires user authentication."));
    };
    let sha = app.store.put_blob(media.body).await?;
    let size = media.body.len() as u64;
    app.commit(|st| {
        live_space(st, &name, now)?;
        let upload = ChatUpload {
            resource_name: format!("{name}/attachments/{}", crate::ids::chat_short_id()),
            token: crate::ids::token("upl-"),
            space: name.clone(),
            filename,
            content_type: media_type,
            size,
            sha256: sha,
            uploader: user.google_id(),
        };
        let json = json!({"attachmentDataRef": {"resourceName": upload.resource_name, "attachmentUploadToken": upload.token}});
        st.put(Record::Upload(upload));
        Ok(Json(json))
    })
    .await
}

/// `GET /v1/media/{resourceName}?alt=media` — media.download.
pub async fn download(
    State(app): State<Arc<App>>,
    Path(resource): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ChatError> {
    let caller = google_caller(&app, &headers)?;
    let space = resource.split('/').take(2).collect::<Vec<_>>().join("/");
    take_quota(&app, &caller, Method::MediaDownload, Some(&space))?;
    let now = app.now();
    let upload = {
        let mut st = app.lock();
        let s = live_space(&mut st, &space, now)?;
        authorize(Method::MediaDownload, &caller, Some(&s), false, now)?;
        st.uploads.get(&resource).cloned().ok_or_else(|| {
            ChatError::not_found("chat.media.not_found", format!("Resource {resource} not found."))
        })?
    };
    let bytes = app.store.get_blob(&upload.sha256).await?;
    Ok(([("content-type", upload.content_type)], bytes).into_response())
}

/// `GET /v1/spaces/{space}/messages/{message}/attachments/{attachment}` — attachments.get.
pub async fn get_attachment(
    State(app): State<Arc<App>>,
    Path((id, msg, att)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ChatError> {
    let caller = google_caller(&app, &headers)?;
    let name = space_name(&id);
    take_quota(&app, &caller, Method::MediaDownload, Some(&name))?;
    let now = app.now();
    let mut st = app.lock();
    let space = live_space(&mut st, &name, now)?;
    authorize(Method::MediaDownload, &caller, Some(&space), false, now)?;
    let m = live_message(&st, &name, &msg)?;
    let full = format!("{}/attachments/{att}", m.name);
    let json = super::message_json(&m, &st);
    json["attachment"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == full.as_str()).cloned())
        .map(Json)
        .ok_or_else(|| {
            ChatError::not_found("chat.attachment.not_found", format!("Attachment {full} not found."))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_multipart_related() {
        let body = b"--xyz\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{\"filename\":\"a.txt\"}\r\n--xyz\r\nContent-Type: text/plain\r\n\r\nhello\r\nworld\r\n--xyz--\r\n";
        let b = boundary("multipart/related; boundary=\"xyz\"").unwrap();
        let parts = parse_multipart(body, &b).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].body, b"{\"filename\":\"a.txt\"}");
        assert_eq!(parts[1].header("content-type"), Some("text/plain"));
        assert_eq!(parts[1].body, b"hello\r\nworld");
        assert!(parse_multipart(b"--xyz\r\nno end", "xyz").is_none());
        assert!(boundary("application/json").is_none());
    }
}
