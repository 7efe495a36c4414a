//! Chat spaces: create (import mode), get, list, patch, delete, completeImport, and their
//! rules (space types, display names, createTime bounds, import-mode deadline, visibility
//! of import-mode spaces).

use std::sync::Arc;

use axum::extract::{Path, Query as AxumQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Map, Value};

use super::auth::{authorize, Method};
use super::error::ChatError;
use super::{json_object, live_space, opt_str, opt_time, space_json, space_name, take_quota, Query};
use crate::auth::google_caller;
use crate::server::App;
use crate::state::{ChatMembership, ChatSpace, Record, State as EmuState};
use crate::time::Timestamp;

const MAX_DISPLAY_NAME: usize = 128;
const MAX_DESCRIPTION: usize = 150;
const MAX_GUIDELINES: usize = 5000;

fn name_taken(st: &EmuState, display_name: &str, except: Option<&str>) -> bool {
    let wanted = display_name.to_lowercase();
    st.spaces.values().any(|s| {
        !s.deleted
            && !s.expired
            && s.space_type == "SPACE"
            && Some(s.name.as_str()) != except
            && s.display_name.as_deref().map(str::to_lowercase) == Some(wanted.clone())
    })
}

fn check_details(details: &Map<String, Value>) -> Result<(Option<String>, Option<String>), ChatError> {
    let description = opt_str(details, "description")?;
    let guidelines = opt_str(details, "guidelines")?;
    if description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        return Err(ChatError::invalid(
            "chat.space.description_too_long",
            format!("spaceDetails.description must be at most {MAX_DESCRIPTION} characters."),
        ));
    }
    if guidelines.as_ref().is_some_and(|g| g.chars().count() > MAX_GUIDELINES) {
        return Err(ChatError::invalid(
            "chat.space.guidelines_too_long",
            format!("spaceDetails.guidelines must be at most {MAX_GUIDELINES} characters."),
        ));
    }
    Ok((description, guidelines))
}

fn check_display_name(name: &str) -> Result<(), ChatError> {
    if name.trim().is_empty() {
        return Err(ChatError::invalid(
            "chat.space.display_name_missing",
            "displayName is required for spaces of type SPACE.",
        ));
    }
    if name.chars().count() > MAX_DISPLAY_NAME {
        return Err(ChatError::invalid(
            "chat.space.display_name_too_long",
            format!("displayName must be at most {MAX_DISPLAY_NAME} characters."),
        ));
    }
    Ok(())
}

/// `POST /v1/spaces` — spaces.create.
pub async fn create(
    State(app): State<Arc<App>>,
    AxumQuery(q): AxumQuery<Query>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ChatError> {
    let caller = google_caller(&app, &headers)?;
    take_quota(&app, &caller, Method::SpacesCreate, None)?;
    let body = json_object(&body)?;
    let import_mode = match body.get("importMode") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ChatError::invalid(
                "chat.request.bad_field",
                "Invalid value at 'importMode': expected a boolean.",
            ))
        }
    };
    let now = app.now();
    authorize(Method::SpacesCreate, &caller, None, import_mode, now)?;
    let Some(user) = caller.user.clone() else {
        return Err(ChatError::denied("chat.auth.app_auth", "spaces.create requires user authentication."));
    };
    let display_name = opt_str(&body, "displayName")?;
    let space_type = match opt_str(&body, "spaceType")? {
        Some(t) => t,
        None if display_name.is_some() => "SPACE".to_string(),
        None => return Err(ChatError::invalid("chat.space.type_missing", "spaceType is required.")),
    };
    match space_type.as_str() {
        "SPACE" | "GROUP_CHAT" => {}
        "DIRECT_MESSAGE" if import_mode => {
            return Err(ChatError::invalid("chat.space.direct_message_import", "Import mode only supports spaces of type SPACE and GROUP_CHAT; DIRECT_MESSAGE spaces cannot be imported."));
        }
        "DIRECT_MESSAGE" => {
            return Err(ChatError::invalid(
                "chat.space.direct_message",
                "spaces.create cannot create a DIRECT_MESSAGE; use spaces.setup or findDirectMessage.",
            ));
        }
        other => {
            return Err(ChatError::invalid(
                "chat.space.type_invalid",
                format!("Invalid value at 'space.space_type': {other}"),
            ))
        }
    }
    if space_type == "SPACE" {
        check_display_name(display_name.as_deref().unwrap_or(""))?;
    }
    let details = match body.get("spaceDetails") {
        Some(Value::Object(d)) => check_details(d)?,
        None | Some(Value::Null) => (None, None),
        Some(_) => {
            return Err(ChatError::invalid("chat.request.bad_field", "Invalid value at 'spaceDetails'."))
        }
    };
    let external = matches!(body.get("externalUserAllowed"), Some(Value::Bool(true)));
    let create_time = opt_time(&body, "createTime")?;
    if create_time.is_some() && !import_mode {
        return Err(ChatError::invalid(
            "chat.space.create_time_outside_import",
            "createTime can only be set when creating a space in import mode.",
        ));
    }
    if let Some(t) = create_time {
        if t < Timestamp::Y2000 || t > now {
            return Err(ChatError::invalid(
                "chat.space.create_time_out_of_range",
                "createTime must be between 2000-01-01T00:00:00Z and the current time.",
            ));
        }
    }
    let history_state = opt_str(&body, "spaceHistoryState")?.unwrap_or_else(|| "HISTORY_ON".into());
    if !matches!(history_state.as_str(), "HISTORY_ON" | "HISTORY_OFF") {
        return Err(ChatError::invalid(
            "chat.space.history_state",
            format!("Invalid value at 'space.space_history_state': {history_state}"),
        ));
    }
    let mut extra = Map::new();
    for key in ["accessSettings", "permissionSettings", "predefinedPermissionSettings"] {
        if let Some(v) = body.get(key) {
            extra.insert(key.to_string(), v.clone());
        }
    }
    let request_id = q.get("requestId").filter(|r| !r.is_empty()).cloned();
    let import_days = app.config.rules.import_mode_days;
    app.commit(|st| {
        if let Some(req) = &request_id {
            if let Some(existing) = st.spaces.values().find(|s| s.request_id.as_deref() == Some(req) && s.creator_project == caller.project && !s.deleted) {
                if existing.creator_user.as_deref() != Some(user.google_id().as_str()) {
                    return Err(ChatError::invalid("chat.space.request_id_reused", "requestId was already used by a different user."));
                }
                return Ok(Json(space_json(existing, st)));
            }
        }
        if space_type == "SPACE" {
            if let Some(name) = &display_name {
                if name_taken(st, name, None) {
                    return Err(ChatError::exists("chat.space.display_name_taken", format!("A space named '{name}' already exists in the organization; try a different displayName.")));
                }
            }
        }
        let space = ChatSpace {
            name: space_name(&crate::ids::chat_space_id()),
            space_type: space_type.clone(),
            display_name: display_name.clone(),
            external_user_allowed: external,
            description: details.0.clone(),
            guidelines: details.1.clone(),
            history_state: history_state.clone(),
            import_mode,
            create_time: create_time.unwrap_or(now),
            import_deadline: import_mode.then(|| now.plus_secs(import_days.saturating_mul(86_400))),
            completed_time: None,
            last_active_time: now,
            creator_project: caller.project.clone(),
            creator_user: Some(user.google_id()),
            request_id: request_id.clone(),
            deleted: false,
            expired: false,
            extra: extra.clone(),
        };
        st.put(Record::Space(space.clone()));
        if !import_mode {
            // A normal space starts with its creator as a joined manager; import mode
            // creates no members.
            st.put(Record::Membership(ChatMembership {
                name: format!("{}/members/{}", space.name, user.google_id()),
                space: space.name.clone(),
                user_id: user.google_id(),
                historical: false,
                create_time: now,
                delete_time: None,
                state: "JOINED".into(),
                role: "ROLE_MANAGER".into(),
                removed: false,
            }));
        }
        Ok(Json(space_json(&space, st)))
    })
    .await
}

/// `GET /v1/spaces/{space}` — spaces.get.
pub async fn get(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ChatError> {
    let caller = google_caller(&app, &headers)?;
    let name = space_name(&id);
    take_quota(&app, &caller, Method::SpacesGet, Some(&name))?;
    let now = app.now();
    app.commit(|st| {
        let space = live_space(st, &name, now)?;
        authorize(Method::SpacesGet, &caller, Some(&space), false, now)?;
        if !space.import_mode
            && caller.user.is_some()
            && !is_current_member(st, &space.name, &caller)
            && space.creator_project != caller.project
        {
            return Err(ChatError::not_found("chat.space.not_found", format!("Space {name} not found.")));
        }
        Ok(Json(space_json(&space, st)))
    })
    .await
}

fn is_current_member(st: &EmuState, space: &str, caller: &crate::auth::GoogleCaller) -> bool {
    let Some(user) = &caller.user else { return false };
    let gid = user.google_id();
    st.memberships.values().any(|m| m.space == space && m.user_id == gid && !m.historical && !m.removed)
}

/// `GET /v1/spaces` — spaces.list. Spaces in import mode are invisible to everyone; a
/// user sees the spaces they are a current member of, an app the ones its project made.
pub async fn list(
    State(app): State<Arc<App>>,
    AxumQuery(q): AxumQuery<Query>,
    headers: HeaderMap,
) -> Result<Json<Value>, ChatError> {
    let caller = google_caller(&app, &headers)?;
    take_quota(&app, &caller, Method::SpacesList, None)?;
    let now = app.now();
    authorize(Method::SpacesList, &caller, None, false, now)?;
    let size = super::page_size(&q, 100, 1000)?;
    let after = super::decode_page_token(&q)?;
    let type_filter = match q.get("filter").map(|f| f.trim()).filter(|f| !f.is_empty()) {
        None => None,
        Some(f) => {
            let parsed = f
                .strip_prefix("spaceType")
                .or_else(|| f.strip_prefix("space_type"))
                .and_then(|r| r.trim().strip_prefix('='))
                .map(|v| v.trim().trim_matches('"').to_string());
            match parsed {
                Some(t) if matches!(t.as_str(), "SPACE" | "GROUP_CHAT" | "DIRECT_MESSAGE") => Some(t),
                _ => return Err(ChatError::invalid("chat.space.bad_filter", format!("Invalid filter: {f}"))),
            }
        }
    };
    let st = app.lock();
    let mut out = Vec::new();
    let mut next = None;
    for s in st.spaces.values() {
        if s.deleted || s.expired || s.import_mode {
            continue;
        }
        if after.as_deref().is_some_and(|a| s.name.as_str() <= a) {
            continue;
        }
        if type_filter.as_deref().is_some_and(|t| t != s.space_type) {
            continue;
        }
        let visible = match &caller.user {
            Some(_) => is_current_member(&st, &s.name, &caller),
            None => s.creator_project == caller.project,
        };
        if !visible {
            continue;
        }
        if out.len() == size {
            next = out.last().and_then(|v: &Value| v["name"].as_str().map(super::encode_page_token));
            break;
        }
        out.push(space_json(s, &st));
    }
    let mut resp = json!({});
    if !out.is_empty() {
        resp["spaces"] = Value::Array(out);
    }
    if let Some(n) = next {
        resp["nextPageToken"] = json!(n);
    }
    Ok(Json(resp))
}

/// `PATCH /v1/spaces/{space}?updateMask=…` — spaces.patch.
pub async fn patch(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    AxumQuery(q): AxumQuery<Query>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ChatError> {
    let caller = google_caller(&app, &headers)?;
    let name = space_name(&id);
    take_quota(&app, &caller, Method::SpacesPatch, Some(&name))?;
    let body = json_object(&body)?;
    let mask: Vec<String> = q
        .get("updateMask")
        .map(|m| m.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect())
        .unwrap_or_default();
    if mask.is_empty() {
        return Err(ChatError::invalid("chat.space.update_mask_missing", "updateMask is required."));
    }
    let canon: Vec<&str> = mask
        .iter()
        .map(|p| match p.as_str() {
            "displayName" => "display_name",
            "spaceType" => "space_type",
            "spaceDetails" => "space_details",
            "spaceHistoryState" => "space_history_state",
            "accessSettings.audience" => "access_settings.audience",
            other if other.starts_with("permissionSettings") => "permission_settings",
            other if other.starts_with("permission_settings") => "permission_settings",
            other => other,
        })
        .collect();
    for p in &canon {
        if !matches!(
            *p,
            "display_name"
                | "space_type"
                | "space_details"
                | "space_history_state"
                | "access_settings.audience"
                | "permission_settings"
        ) {
            return Err(ChatError::invalid(
                "chat.space.update_mask_invalid",
                format!("Unsupported updateMask path: {p}"),
            ));
        }
    }
    let alone = |p: &str| canon.contains(&p) && canon.len() > 1;
    if alone("space_history_state") || alone("permission_settings") {
        return Err(ChatError::invalid(
            "chat.space.update_mask_combination",
            "space_history_state and permission_settings must be the only updateMask path.",
        ));
    }
    if canon.contains(&"space_type") && !canon.contains(&"display_name") {
        return Err(ChatError::invalid(
            "chat.space.update_mask_combination",
            "space_type can only be updated together with display_name.",
        ));
    }
    let now = app.now();
    app.commit(|st| {
        let mut space = live_space(st, &name, now)?;
        authorize(Method::SpacesPatch, &caller, Some(&space), false, now)?;
        if space.import_mode && canon.contains(&"access_settings.audience") {
            return Err(ChatError::invalid("chat.space.audience_in_import", "access_settings.audience cannot be updated while the space is in import mode."));
        }
        for p in &canon {
            match *p {
                "space_type" => {
                    let t = opt_str(&body, "spaceType")?.unwrap_or_default();
                    if !(space.space_type == "GROUP_CHAT" && t == "SPACE") {
                        return Err(ChatError::invalid("chat.space.type_change", "space_type can only change from GROUP_CHAT to SPACE."));
                    }
                    space.space_type = t;
                }
                "display_name" => {
                    let n = opt_str(&body, "displayName")?.unwrap_or_default();
                    let is_space = space.space_type == "SPACE" || canon.contains(&"space_type");
                    if !is_space {
                        return Err(ChatError::invalid("chat.space.display_name_group_chat", "display_name can only be updated on spaces of type SPACE."));
                    }
                    check_display_name(&n)?;
                    if name_taken(st, &n, Some(&space.name)) {
                        return Err(ChatError::exists("chat.space.display_name_taken", format!("A space named '{n}' already exists in the organization; try a different displayName.")));
                    }
                    space.display_name = Some(n);
                }
                "space_details" => {
                    let d = match body.get("spaceDetails") {
                        Some(Value::Object(d)) => check_details(d)?,
                        _ => (None, None),
                    };
                    space.description = d.0;
                    space.guidelines = d.1;
                }
                "space_history_state" => {
                    let h = opt_str(&body, "spaceHistoryState")?.unwrap_or_default();
                    if !matches!(h.as_str(), "HISTORY_ON" | "HISTORY_OFF") {
                        return Err(ChatError::invalid("chat.space.history_state", format!("Invalid spaceHistoryState: {h}")));
                    }
                    space.history_state = h;
                }
                "access_settings.audience" => {
                    if let Some(v) = body.get("accessSettings") {
                        space.extra.insert("accessSettings".into(), v.clone());
                    }
                }
                _ => {
                    if let Some(v) = body.get("permissionSettings") {
                        space.extra.insert("permissionSettings".into(), v.clone());
                    }
                }
            }
        }
        st.put(Record::Space(space.clone()));
        Ok(Json(space_json(&space, st)))
    })
    .await
}

/// `DELETE /v1/spaces/{space}` — spaces.delete (cascades to messages and memberships).
pub async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ChatError> {
    let caller = google_caller(&app, &headers)?;
    let name = space_name(&id);
    take_quota(&app, &caller, Method::SpacesDelete, Some(&name))?;
    let now = app.now();
    app.commit(|st| {
        let mut space = live_space(st, &name, now)?;
        authorize(Method::SpacesDelete, &caller, Some(&space), false, now)?;
        if !space.import_mode
            && space.creator_project != caller.project
            && !is_current_member(st, &name, &caller)
        {
            return Err(ChatError::denied(
                "chat.space.delete_denied",
                "The caller cannot delete this space.",
            ));
        }
        space.deleted = true;
        st.put(Record::Space(space));
        Ok(Json(json!({})))
    })
    .await
}

/// `POST /v1/spaces/{space}:completeImport` (the only POST on a space resource).
pub async fn post_action(
    State(app): State<Arc<App>>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ChatError> {
    let Some((id, "completeImport")) = segment.split_once(':') else {
        return Err(ChatError::not_found(
            "chat.route.unknown",
            format!("Method not found: POST spaces/{segment}"),
        ));
    };
    let caller = google_caller(&app, &headers)?;
    let name = space_name(id);
    take_quota(&app, &caller, Method::CompleteImport, Some(&name))?;
    json_object(&body)?;
    let now = app.now();
    app.commit(|st| {
        let mut space = live_space(st, &name, now)?;
        if !space.import_mode {
            return Err(ChatError::precondition(
                "chat.space.not_in_import_mode",
                format!("Space {name} is not in import mode."),
            ));
        }
        authorize(Method::CompleteImport, &caller, Some(&space), false, now)?;
        if space.creator_project != caller.project {
            return Err(ChatError::denied(
                "chat.auth.other_app",
                "Only the app that created the space can complete its import.",
            ));
        }
        space.import_mode = false;
        space.completed_time = Some(now);
        st.put(Record::Space(space.clone()));
        Ok(Json(json!({"space": space_json(&space, st)})))
    })
    .await
}
