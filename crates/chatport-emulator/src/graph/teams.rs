//! Teams, their creation operations, channels, migration start/completion, and members.
//! Rules: migration-mode creation (standard template, createdDateTime not in the future and
//! only with migration mode), channel naming, startMigration time rule, channels complete
//! before the team, no members before completion, only the owning app completes, no new
//! migration channel once General completed its migration.

use std::sync::Arc;

use axum::extract::{Path, Query as AxumQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::error::GraphError;
use super::{json_object, live_channel, live_team, opt_str, opt_time, origin, take_quota, RequestKind};
use crate::auth::{graph_caller, GraphCaller};
use crate::server::App;
use crate::state::{Channel, DriveItem, Record, State as EmuState, Team, TeamMember, TeamOperation};
use crate::time::Timestamp;

const MIGRATE: &str = "Teamwork.Migrate.All";
const MEMBER_ROLES: &[&str] = &["TeamMember.ReadWrite.All", "Group.ReadWrite.All"];
/// Application permissions that let an app read a team (`GET /teams/{id}`), least
/// privileged first, as Graph documents them; Teamwork.Migrate.All is not one of them.
const TEAM_READ_ROLES: &[&str] = &[
    "Team.ReadBasic.All",
    "TeamSettings.Read.All",
    "TeamSettings.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
];
/// Application permissions that let an app list or read channels, least privileged
/// first; Teamwork.Migrate.All is not one of them.
const CHANNEL_READ_ROLES: &[&str] = &[
    "Channel.ReadBasic.All",
    "ChannelSettings.Read.All",
    "ChannelSettings.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
];
const FORBIDDEN_CHANNEL_CHARS: &[char] =
    &['~', '#', '%', '&', '*', '{', '}', '+', '/', '\\', ':', '<', '>', '?', '|', '\'', '"'];

fn team_json(t: &Team, base: &str) -> Value {
    json!({
        "id": t.id,
        "createdDateTime": t.created.to_rfc3339_millis(),
        "displayName": t.display_name,
        "description": t.description,
        "internalId": format!("19:{}@thread.tacv2", t.id.replace('-', "")),
        "classification": null,
        "specialization": "none",
        "visibility": "private",
        "webUrl": format!("{base}/l/team/{}", t.id),
        "isArchived": false,
        "tenantId": t.tenant,
    })
}

fn channel_json(c: &Channel, base: &str, tenant: &str) -> Value {
    let mut v = json!({
        "id": c.id,
        "createdDateTime": c.created.to_rfc3339_millis(),
        "displayName": c.display_name,
        "description": c.description,
        "isFavoriteByDefault": null,
        "email": "",
        "webUrl": format!("{base}/l/channel/{}", c.id),
        "membershipType": c.membership_type,
        "tenantId": tenant,
    });
    if let Some(m) = &c.migration_mode {
        v["migrationMode"] = json!(m);
    }
    v
}

fn folder_item(
    drive_id: &str,
    parent: &str,
    name: &str,
    team_id: &str,
    base: &str,
    now: Timestamp,
) -> DriveItem {
    DriveItem {
        id: crate::ids::graph_item_id(),
        drive_id: drive_id.to_string(),
        parent_id: Some(parent.to_string()),
        name: name.to_string(),
        folder: true,
        size: 0,
        mime: None,
        sha256: None,
        etag_guid: crate::ids::random_guid().to_uppercase(),
        version: 1,
        web_url: format!("{base}/sites/{team_id}/Shared%20Documents/{}", name.replace(' ', "%20")),
        created: now,
    }
}

/// `POST /v1.0/teams` — create a team (migration mode): 202 + Location of the operation.
pub async fn create_team(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    let caller = graph_caller(&app, &headers)?;
    take_quota(&app, &caller, RequestKind::PostTeam, None, None)?;
    let body = json_object(&body)?;
    let migration = creation_mode(&body, "team")?;
    if migration {
        caller.require(&[MIGRATE])?;
    } else {
        caller.require(&["Team.Create", MIGRATE, "Group.ReadWrite.All"])?;
    }
    let template = opt_str(&body, "template@odata.bind")?.unwrap_or_default();
    if template.is_empty() {
        return Err(GraphError::bad_request(
            "graph.team.template_missing",
            "A team template (template@odata.bind) is required.",
        ));
    }
    if migration && !template.contains("('standard')") {
        return Err(GraphError::bad_request(
            "graph.team.template_not_standard",
            "Teams in migration mode can only be created from the 'standard' template.",
        ));
    }
    let display_name = opt_str(&body, "displayName")?.filter(|d| !d.trim().is_empty()).ok_or_else(|| {
        GraphError::bad_request("graph.team.display_name_missing", "displayName is required.")
    })?;
    let now = app.now().truncate_to_millis();
    let created = created_time(&body, migration, "team", now)?;
    let members: Vec<Value> = match body.get("members") {
        Some(Value::Array(m)) => m.clone(),
        _ => Vec::new(),
    };
    if !migration
        && !members.iter().any(|m| m["roles"].as_array().is_some_and(|r| r.iter().any(|x| x == "owner")))
    {
        return Err(GraphError::bad_request(
            "graph.team.owner_missing",
            "An owner must be provided in members when creating a team with application permissions.",
        ));
    }
    let base = origin(&headers);
    let polls = app.config.rules.graph_operation_polls;
    let failures = app.config.rules.graph_failed_team_creations;
    let (team_id, op_id) = app
        .commit(|st| {
            let fail = (st.operations.len() as u32) < failures;
            let created = created.unwrap_or(now);
            let team_id = crate::ids::random_guid();
            let drive_id = crate::ids::graph_drive_id();
            let root = DriveItem {
                id: crate::ids::graph_item_id(),
                drive_id: drive_id.clone(),
                parent_id: None,
                name: "root".into(),
                folder: true,
                size: 0,
                mime: None,
                sha256: None,
                etag_guid: crate::ids::random_guid().to_uppercase(),
                version: 1,
                web_url: format!("{base}/sites/{team_id}/Shared%20Documents"),
                created: now,
            };
            let general_folder = folder_item(&drive_id, &root.id, "General", &team_id, &base, now);
            let general = Channel {
                id: crate::ids::graph_channel_id(),
                team_id: team_id.clone(),
                display_name: "General".into(),
                description: None,
                membership_type: "standard".into(),
                created,
                migration_mode: migration.then(|| "inProgress".to_string()),
                owner_app: caller.client_id.clone(),
                folder_id: general_folder.id.clone(),
                is_general: true,
                deleted: false,
            };
            let team = Team {
                id: team_id.clone(),
                tenant: caller.tenant.clone(),
                display_name: display_name.clone(),
                description: opt_str(&body, "description").ok().flatten(),
                created,
                migration_mode: migration.then(|| "inProgress".to_string()),
                owner_app: caller.client_id.clone(),
                general_channel: general.id.clone(),
                drive_id,
                drive_root: root.id.clone(),
                provisioned: polls == 0 && !fail,
                deleted: fail,
            };
            let status = match (fail, polls) {
                (true, _) => "failed",
                (false, 0) => "succeeded",
                (false, _) => "inProgress",
            };
            let op = TeamOperation {
                id: crate::ids::random_guid(),
                team_id: team_id.clone(),
                created: now,
                polls: 0,
                status: status.into(),
            };
            let op_id = op.id.clone();
            st.put(Record::DriveItem(root));
            st.put(Record::DriveItem(general_folder));
            st.put(Record::Channel(general));
            st.put(Record::Team(team));
            st.put(Record::Operation(op));
            for m in &members {
                if let Some(user) = bound_user(&app, st, m) {
                    st.put(Record::TeamMember(TeamMember {
                        id: crate::ids::random_guid(),
                        team_id: team_id.clone(),
                        channel_id: None,
                        user_id: user,
                        roles: roles_of(m),
                    }));
                }
            }
            Ok::<_, GraphError>((team_id, op_id))
        })
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        [
            ("location", format!("/teams('{team_id}')/operations('{op_id}')")),
            ("content-location", format!("/teams('{team_id}')")),
        ],
    )
        .into_response())
}

fn roles_of(m: &Value) -> Vec<String> {
    m["roles"]
        .as_array()
        .map(|r| r.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Resolves `user@odata.bind` (`…/users('{id or UPN}')`) to a directory user's object id.
fn bound_user(app: &App, st: &EmuState, m: &Value) -> Option<String> {
    let bind = m["user@odata.bind"].as_str()?;
    let (_, rest) = bind.rsplit_once("users('")?;
    // An OData string literal: a quote inside is doubled.
    let key = rest.strip_suffix("')")?.replace("''", "'");
    app.find_user(st, &key).map(|u| u.aad_id())
}

/// Seconds Graph asks clients to wait between polls of an async operation; a team whose
/// creation needs N polls also finishes provisioning by itself after N such intervals.
const POLL_INTERVAL_SECS: i64 = 30;

/// Marks as provisioned every team whose creation operation has run long enough: Graph
/// provisions a team whether or not anyone polls the operation (after the configured
/// number of polls, or that many documented poll intervals of emulated time).
fn settle_provisioning(st: &mut EmuState, now: Timestamp, polls_needed: u32) {
    let due: Vec<TeamOperation> = st
        .operations
        .values()
        .filter(|o| {
            o.status == "inProgress"
                && o.created.plus_secs(i64::from(polls_needed) * POLL_INTERVAL_SECS) <= now
        })
        .cloned()
        .collect();
    for mut o in due {
        o.status = "succeeded".into();
        if let Some(mut t) = st.teams.get(&o.team_id).cloned() {
            t.provisioned = true;
            st.put(Record::Team(t));
        }
        st.put(Record::Operation(o));
    }
}

/// A team as `GET /teams` lists it: Graph fills only id, displayName, description and
/// visibility there (the rest, createdDateTime included, is null; GET the team for it).
fn listed_team_json(t: &Team) -> Value {
    json!({
        "id": t.id,
        "createdDateTime": null,
        "displayName": t.display_name,
        "description": t.description,
        "internalId": null,
        "classification": null,
        "specialization": null,
        "visibility": "private",
        "webUrl": null,
        "isArchived": null,
        "tenantId": null,
    })
}

/// `GET /v1.0/teams[?$filter=displayName eq '…']` — the tenant's provisioned teams (how a
/// client finds a team whose creation answer it lost).
pub async fn list_teams(
    State(app): State<Arc<App>>,
    AxumQuery(q): AxumQuery<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphError> {
    let caller = graph_caller(&app, &headers)?;
    take_quota(&app, &caller, RequestKind::GetTeamChannel, None, None)?;
    // List teams takes none of the migration or group permissions (Graph docs, teams-list).
    caller.require(&["Team.ReadBasic.All", "TeamSettings.Read.All", "TeamSettings.ReadWrite.All"])?;
    let name = match q.get("$filter").map(|f| f.trim()) {
        None | Some("") => None,
        Some(f) => {
            let literal =
                f.strip_prefix("displayName eq '").and_then(|r| r.strip_suffix('\'')).ok_or_else(|| {
                    GraphError::bad_request(
                        "graph.team.bad_filter",
                        format!("Unsupported $filter: {f} (the emulator supports displayName eq '…')"),
                    )
                })?;
            Some(literal.replace("''", "'"))
        }
    };
    let now = app.now();
    let polls = app.config.rules.graph_operation_polls;
    app.commit(|st| {
        settle_provisioning(st, now, polls);
        let value: Vec<Value> = st
            .teams
            .values()
            .filter(|t| t.provisioned && !t.deleted && t.tenant == caller.tenant)
            .filter(|t| match &name {
                Some(n) => *n == t.display_name,
                None => true,
            })
            .map(listed_team_json)
            .collect();
        Ok(Json(json!({"value": value})))
    })
    .await
}

/// `GET /v1.0/teams/{id}/operations/{op}` (and the OData form through the fallback).
pub async fn get_operation(
    State(app): State<Arc<App>>,
    Path((team, op)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphError> {
    operation(&app, &headers, &team, &op).await
}

/// Answers one poll of a team-creation operation; it succeeds after the configured
/// number of polls.
pub async fn operation(
    app: &App,
    headers: &HeaderMap,
    team: &str,
    op: &str,
) -> Result<Json<Value>, GraphError> {
    let caller = graph_caller(app, headers)?;
    take_quota(app, &caller, RequestKind::OtherGet, Some(team), None)?;
    let needed = app.config.rules.graph_operation_polls;
    let now = app.now();
    app.commit(|st| {
        let Some(mut o) = st.operations.get(op).filter(|o| o.team_id == team).cloned() else {
            return Err(GraphError::not_found(
                "graph.operation.not_found",
                format!("Operation {op} not found."),
            ));
        };
        if o.status == "inProgress" {
            o.polls += 1;
            if o.polls >= needed {
                o.status = "succeeded".into();
                if let Some(mut t) = st.teams.get(team).cloned() {
                    t.provisioned = true;
                    st.put(Record::Team(t));
                }
            }
            st.put(Record::Operation(o.clone()));
        }
        Ok(Json(json!({
            "id": o.id,
            "operationType": "createTeam",
            "createdDateTime": o.created.to_rfc3339_millis(),
            "status": o.status,
            "lastActionDateTime": now.to_rfc3339_millis(),
            "attemptsCount": 1,
            "targetResourceId": o.team_id,
            "targetResourceLocation": format!("/teams('{}')", o.team_id),
            "error": if o.status == "failed" {
                json!({"code": "InternalServerError", "message": "Team provisioning failed."})
            } else {
                Value::Null
            },
        })))
    })
    .await
}

/// `GET /v1.0/teams/{id}`.
pub async fn get_team(
    State(app): State<Arc<App>>,
    Path(team_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphError> {
    team(&app, &headers, &team_id)
}

/// Answers GET team.
pub fn team(app: &App, headers: &HeaderMap, team_id: &str) -> Result<Json<Value>, GraphError> {
    let caller = graph_caller(app, headers)?;
    take_quota(app, &caller, RequestKind::GetTeamChannel, Some(team_id), None)?;
    caller.require(TEAM_READ_ROLES)?;
    let now = app.now();
    let polls = app.config.rules.graph_operation_polls;
    let mut st = app.lock();
    // Provisioning that finished by itself is recorded by the next write; reading it
    // here must not wait for the store.
    settle_provisioning(&mut st, now, polls);
    let t = live_team(&st, team_id)?;
    Ok(Json(team_json(&t, &origin(headers))))
}

fn check_channel_name(st: &EmuState, team: &str, name: &str) -> Result<(), GraphError> {
    let bad = |m: String| Err(GraphError::bad_request("graph.channel.bad_name", m));
    if name.trim().is_empty() {
        return bad("displayName is required.".into());
    }
    if name.chars().count() > 50 {
        return bad("Channel name cannot be longer than 50 characters.".into());
    }
    if let Some(c) = name.chars().find(|c| FORBIDDEN_CHANNEL_CHARS.contains(c)) {
        return bad(format!("Channel name contains the invalid character '{c}'."));
    }
    if name.starts_with('_') || name.starts_with('.') || name.ends_with('.') {
        return bad("Channel name cannot start with '_' or '.', or end with '.'.".into());
    }
    if name.eq_ignore_ascii_case("general") {
        return bad("'General' is a reserved channel name.".into());
    }
    let lower = name.to_lowercase();
    if st.channels.values().any(|c| c.team_id == team && !c.deleted && c.display_name.to_lowercase() == lower)
    {
        return Err(GraphError::bad_request(
            "graph.channel.name_exists",
            "Channel name already existed, please use other name.",
        ));
    }
    Ok(())
}

/// `POST /v1.0/teams/{id}/channels` — create a channel (migration mode): 201.
pub async fn create_channel(
    State(app): State<Arc<App>>,
    Path(team_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    let caller = graph_caller(&app, &headers)?;
    take_quota(&app, &caller, RequestKind::PostChannel, Some(&team_id), None)?;
    caller.require(&["Channel.Create", MIGRATE])?;
    let body = json_object(&body)?;
    let migration = creation_mode(&body, "channel")?;
    if migration {
        caller.require(&[MIGRATE])?;
    }
    let display_name = opt_str(&body, "displayName")?.unwrap_or_default();
    let membership_type = opt_str(&body, "membershipType")?.unwrap_or_else(|| "standard".into());
    if !matches!(membership_type.as_str(), "standard" | "private" | "shared") {
        return Err(GraphError::bad_request(
            "graph.channel.bad_membership_type",
            format!("Invalid membershipType '{membership_type}'."),
        ));
    }
    let now = app.now().truncate_to_millis();
    let created = created_time(&body, migration, "channel", now)?;
    let base = origin(&headers);
    let (channel, tenant) = app
        .commit(|st| {
            let team = live_team(st, &team_id)?;
            check_channel_name(st, &team_id, &display_name)?;
            // Graph: completing General before the other channels marks the team as
            // migrated, and no further channel can be created for migration.
            let general_done = st.channels.values().any(|c| {
                c.team_id == team_id && c.is_general && c.migration_mode.as_deref() == Some("completed")
            });
            if migration && general_done && team.migration_mode.is_some() {
                return Err(GraphError::bad_request(
                    "graph.channel.general_completed",
                    "The team is marked as migrated: its General channel completed its migration, so no channel can be created in migration mode.",
                ));
            }
            let folder = folder_item(&team.drive_id, &team.drive_root, &display_name, &team_id, &base, now);
            let channel = Channel {
                id: crate::ids::graph_channel_id(),
                team_id: team_id.clone(),
                display_name: display_name.clone(),
                description: opt_str(&body, "description").ok().flatten(),
                membership_type: membership_type.clone(),
                created: created.unwrap_or(now),
                migration_mode: migration.then(|| "inProgress".to_string()),
                owner_app: caller.client_id.clone(),
                folder_id: folder.id.clone(),
                is_general: false,
                deleted: false,
            };
            st.put(Record::DriveItem(folder));
            st.put(Record::Channel(channel.clone()));
            Ok::<_, GraphError>((channel, team.tenant))
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        [("location", format!("/teams('{team_id}')/channels('{}')", channel.id))],
        Json(channel_json(&channel, &base, &tenant)),
    )
        .into_response())
}

/// `GET /v1.0/teams/{id}/channels`.
pub async fn list_channels(
    State(app): State<Arc<App>>,
    Path(team_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphError> {
    let caller = graph_caller(&app, &headers)?;
    take_quota(&app, &caller, RequestKind::GetTeamChannel, Some(&team_id), None)?;
    caller.require(CHANNEL_READ_ROLES)?;
    let st = app.lock();
    let team = live_team(&st, &team_id)?;
    let base = origin(&headers);
    let value: Vec<Value> = st
        .channels
        .values()
        .filter(|c| c.team_id == team_id && !c.deleted)
        .map(|c| channel_json(c, &base, &team.tenant))
        .collect();
    Ok(Json(json!({"value": value})))
}

/// `GET /v1.0/teams/{id}/primaryChannel` — the team's General channel.
pub async fn primary_channel(
    State(app): State<Arc<App>>,
    Path(team_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphError> {
    let caller = graph_caller(&app, &headers)?;
    take_quota(&app, &caller, RequestKind::GetTeamChannel, Some(&team_id), None)?;
    caller.require(CHANNEL_READ_ROLES)?;
    let st = app.lock();
    let team = live_team(&st, &team_id)?;
    let general =
        st.channels.values().find(|c| c.team_id == team_id && !c.deleted && c.is_general).ok_or_else(
            || GraphError::not_found("graph.channel.not_found", "The team has no General channel."),
        )?;
    Ok(Json(channel_json(general, &origin(&headers), &team.tenant)))
}

/// `GET /v1.0/teams/{id}/channels/{id}`.
pub async fn get_channel(
    State(app): State<Arc<App>>,
    Path((team_id, channel_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphError> {
    channel(&app, &headers, &team_id, &channel_id)
}

/// Answers GET channel (also reached through the OData `Location` form).
pub fn channel(
    app: &App,
    headers: &HeaderMap,
    team_id: &str,
    channel_id: &str,
) -> Result<Json<Value>, GraphError> {
    let caller = graph_caller(app, headers)?;
    take_quota(app, &caller, RequestKind::GetTeamChannel, Some(team_id), Some(channel_id))?;
    caller.require(CHANNEL_READ_ROLES)?;
    let st = app.lock();
    let (team, c) = live_channel(&st, team_id, channel_id)?;
    Ok(Json(channel_json(&c, &origin(headers), &team.tenant)))
}

/// `POST …/channels/{id}/startMigration` — 204; 400 when already migrating or when
/// `conversationCreationDateTime` is not older than the channel's createdDateTime.
pub async fn start_migration(
    State(app): State<Arc<App>>,
    Path((team_id, channel_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<StatusCode, GraphError> {
    let caller = graph_caller(&app, &headers)?;
    take_quota(&app, &caller, RequestKind::Other, Some(&team_id), Some(&channel_id))?;
    caller.require(&[MIGRATE])?;
    let body = json_object(&body)?;
    let when = opt_time(&body, "conversationCreationDateTime")?;
    let now = app.now();
    app.commit(|st| {
        let (_, mut c) = live_channel(st, &team_id, &channel_id)?;
        if c.migration_mode.as_deref() == Some("inProgress") {
            return Err(GraphError::bad_request(
                "graph.channel.already_migrating",
                "The channel is already in migration mode.",
            ));
        }
        if let Some(w) = when {
            if w >= c.created || w > now {
                return Err(GraphError::bad_request(
                    "graph.channel.conversation_time_not_older",
                    "conversationCreationDateTime must be older than the channel's current createdDateTime.",
                ));
            }
            c.created = w;
        }
        c.migration_mode = Some("inProgress".into());
        c.owner_app = caller.client_id.clone();
        st.put(Record::Channel(c));
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

fn owner_check(caller: &GraphCaller, owner: &str) -> Result<(), GraphError> {
    if caller.client_id != owner {
        return Err(GraphError::forbidden(
            "graph.migration.other_app",
            "Only the application that started the migration can import into or complete it.",
        ));
    }
    Ok(())
}

/// `POST …/channels/{id}/completeMigration` — 204; 400 when not in migration mode.
pub async fn complete_channel(
    State(app): State<Arc<App>>,
    Path((team_id, channel_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, GraphError> {
    let caller = graph_caller(&app, &headers)?;
    take_quota(&app, &caller, RequestKind::Other, Some(&team_id), Some(&channel_id))?;
    caller.require(&[MIGRATE])?;
    app.commit(|st| {
        let (_, mut c) = live_channel(st, &team_id, &channel_id)?;
        if c.migration_mode.as_deref() != Some("inProgress") {
            return Err(GraphError::bad_request(
                "graph.channel.not_migrating",
                "The channel is not in migration mode.",
            ));
        }
        owner_check(&caller, &c.owner_app)?;
        c.migration_mode = Some("completed".into());
        st.put(Record::Channel(c));
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// `POST /v1.0/teams/{id}/completeMigration` — 204; 400 when not in migration mode or
/// (strict mode, the default) while a channel is still migrating.
pub async fn complete_team(
    State(app): State<Arc<App>>,
    Path(team_id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, GraphError> {
    let caller = graph_caller(&app, &headers)?;
    take_quota(&app, &caller, RequestKind::Other, Some(&team_id), None)?;
    caller.require(&[MIGRATE])?;
    let strict = app.config.rules.graph_strict_team_completion;
    app.commit(|st| {
        let mut team = live_team(st, &team_id)?;
        if team.migration_mode.as_deref() != Some("inProgress") {
            return Err(GraphError::bad_request(
                "graph.team.not_migrating",
                // Graph's wording is undocumented; clients must not depend on it.
                "Team migration cannot be completed in the team's current state.",
            ));
        }
        owner_check(&caller, &team.owner_app)?;
        let migrating: Vec<Channel> = st
            .channels
            .values()
            .filter(|c| {
                c.team_id == team_id && !c.deleted && c.migration_mode.as_deref() == Some("inProgress")
            })
            .cloned()
            .collect();
        if strict && !migrating.is_empty() {
            let names: Vec<&str> = migrating.iter().map(|c| c.display_name.as_str()).collect();
            return Err(GraphError::bad_request(
                "graph.team.channels_still_migrating",
                format!(
                    "Complete the migration of every channel first; still in migration mode: {}.",
                    names.join(", ")
                ),
            ));
        }
        for mut c in migrating {
            c.migration_mode = Some("completed".into());
            st.put(Record::Channel(c));
        }
        team.migration_mode = Some("completed".into());
        st.put(Record::Team(team));
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

fn member_json(m: &TeamMember, app: &App, st: &EmuState) -> Value {
    let user = app.find_user(st, &m.user_id);
    json!({
        "@odata.type": "#microsoft.graph.aadUserConversationMember",
        "id": m.id,
        "roles": m.roles,
        "displayName": user.as_ref().map(|u| u.display_name()),
        "userId": m.user_id,
        "email": user.as_ref().map(|u| u.email.clone()),
        "tenantId": null,
    })
}

fn parse_member(
    app: &App,
    st: &EmuState,
    body: &Map<String, Value>,
) -> Result<(String, Vec<String>), GraphError> {
    if body.get("@odata.type").and_then(Value::as_str) != Some("#microsoft.graph.aadUserConversationMember") {
        return Err(GraphError::bad_request(
            "graph.member.bad_type",
            "@odata.type must be #microsoft.graph.aadUserConversationMember.",
        ));
    }
    let value = Value::Object(body.clone());
    if value["user@odata.bind"].as_str().is_none() {
        return Err(GraphError::bad_request("graph.member.bind_missing", "user@odata.bind is required."));
    }
    let user = bound_user(app, st, &value).ok_or_else(|| {
        GraphError::not_found(
            "graph.member.unknown_user",
            "The user in user@odata.bind was not found in the directory.",
        )
    })?;
    let roles = roles_of(&value);
    if roles.iter().any(|r| r != "owner" && r != "guest") {
        return Err(GraphError::bad_request("graph.member.bad_role", "roles may only contain 'owner'."));
    }
    Ok((user, roles))
}

/// Teams posts a system event ("… added …") to General when a member joins: a
/// `systemEventMessage` without an author, which readers of the channel see among the
/// messages.
fn member_added_event(st: &mut EmuState, team: &Team, user: &str, now: Timestamp, base: &str) {
    let channel = team.general_channel.clone();
    let mut id_num = now.as_millis().max(1);
    while st.graph_messages.contains_key(&format!("{channel}/{id_num}")) {
        id_num += 1;
    }
    let id = id_num.to_string();
    let resource = json!({
        "id": id,
        "replyToId": null,
        "etag": id,
        "messageType": "systemEventMessage",
        "createdDateTime": now.to_rfc3339_millis(),
        "lastModifiedDateTime": now.to_rfc3339_millis(),
        "deletedDateTime": null,
        "subject": null,
        "summary": null,
        "importance": "normal",
        "webUrl": format!("{base}/l/message/{channel}/{id}"),
        "channelIdentity": {"teamId": team.id, "channelId": channel},
        "from": null,
        "body": {"contentType": "html", "content": "<systemEventMessage/>"},
        "attachments": [],
        "mentions": [],
        "reactions": [],
        "eventDetail": {
            "@odata.type": "#microsoft.graph.membersAddedEventMessageDetail",
            "members": [{"id": user, "userIdentityType": "aadUser"}],
        },
    });
    st.put(Record::GraphMessage(crate::state::GraphMessage {
        id,
        team_id: team.id.clone(),
        channel_id: channel,
        reply_to: None,
        created: now,
        resource,
    }));
}

/// `POST /v1.0/teams/{id}/members` — 201 (and a system event in General); refused while
/// the team is in migration mode.
pub async fn add_team_member(
    State(app): State<Arc<App>>,
    Path(team_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    let caller = graph_caller(&app, &headers)?;
    take_quota(&app, &caller, RequestKind::Other, Some(&team_id), None)?;
    caller.require(MEMBER_ROLES)?;
    let body = json_object(&body)?;
    let now = app.now().truncate_to_millis();
    let base = origin(&headers);
    app.commit(|st| {
        let team = live_team(st, &team_id)?;
        if team.migration_mode.as_deref() == Some("inProgress") {
            return Err(GraphError::bad_request(
                "graph.member.before_completion",
                "Members can only be added after the team's migration is completed (completeMigration).",
            ));
        }
        let (user, roles) = parse_member(&app, st, &body)?;
        let existing = st
            .team_members
            .values()
            .find(|m| m.team_id == team_id && m.channel_id.is_none() && m.user_id == user)
            .cloned();
        if existing.is_none() {
            member_added_event(st, &team, &user, now, &base);
        }
        let member = existing.unwrap_or(TeamMember {
            id: crate::ids::random_guid(),
            team_id: team_id.clone(),
            channel_id: None,
            user_id: user,
            roles,
        });
        st.put(Record::TeamMember(member.clone()));
        Ok((StatusCode::CREATED, Json(member_json(&member, &app, st))).into_response())
    })
    .await
}

/// `GET /v1.0/teams/{id}/members`.
pub async fn list_team_members(
    State(app): State<Arc<App>>,
    Path(team_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphError> {
    let caller = graph_caller(&app, &headers)?;
    take_quota(&app, &caller, RequestKind::OtherGet, Some(&team_id), None)?;
    let st = app.lock();
    live_team(&st, &team_id)?;
    let value: Vec<Value> = st
        .team_members
        .values()
        .filter(|m| m.team_id == team_id && m.channel_id.is_none())
        .map(|m| member_json(m, &app, &st))
        .collect();
    Ok(Json(json!({"value": value})))
}

/// `POST …/channels/{id}/members` — private/shared channels only, after the channel's
/// migration completed, for members of the team.
pub async fn add_channel_member(
    State(app): State<Arc<App>>,
    Path((team_id, channel_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    let caller = graph_caller(&app, &headers)?;
    take_quota(&app, &caller, RequestKind::Other, Some(&team_id), Some(&channel_id))?;
    caller.require(MEMBER_ROLES)?;
    let body = json_object(&body)?;
    app.commit(|st| {
        let (_, c) = live_channel(st, &team_id, &channel_id)?;
        if c.membership_type == "standard" {
            return Err(GraphError::bad_request(
                "graph.member.standard_channel",
                "Members of a standard channel are the team's members; add them to the team.",
            ));
        }
        if c.migration_mode.as_deref() == Some("inProgress") {
            return Err(GraphError::bad_request(
                "graph.member.before_completion",
                "Members can only be added after the channel's migration is completed.",
            ));
        }
        let (user, roles) = parse_member(&app, st, &body)?;
        if !st
            .team_members
            .values()
            .any(|m| m.team_id == team_id && m.channel_id.is_none() && m.user_id == user)
        {
            return Err(GraphError::bad_request(
                "graph.member.not_team_member",
                "The user must be a member of the team first.",
            ));
        }
        let existing = st
            .team_members
            .values()
            .find(|m| m.channel_id.as_deref() == Some(channel_id.as_str()) && m.user_id == user)
            .cloned();
        let member = existing.unwrap_or(TeamMember {
            id: crate::ids::random_guid(),
            team_id: team_id.clone(),
            channel_id: Some(channel_id.clone()),
            user_id: user,
            roles,
        });
        st.put(Record::TeamMember(member.clone()));
        Ok((StatusCode::CREATED, Json(member_json(&member, &app, st))).into_response())
    })
    .await
}

/// `GET …/channels/{id}/members`.
pub async fn list_channel_members(
    State(app): State<Arc<App>>,
    Path((team_id, channel_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphError> {
    let caller = graph_caller(&app, &headers)?;
    take_quota(&app, &caller, RequestKind::OtherGet, Some(&team_id), Some(&channel_id))?;
    let st = app.lock();
    let (_, c) = live_channel(&st, &team_id, &channel_id)?;
    let value: Vec<Value> = st
        .team_members
        .values()
        .filter(|m| {
            if c.membership_type == "standard" {
                m.team_id == team_id && m.channel_id.is_none()
            } else {
                m.channel_id.as_deref() == Some(channel_id.as_str())
            }
        })
        .map(|m| member_json(m, &app, &st))
        .collect();
    Ok(Json(json!({"value": value})))
}

/// `DELETE /v1.0/groups/{id}` — deletes the team and its channels: 204.
pub async fn delete_group(
    State(app): State<Arc<App>>,
    Path(group): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, GraphError> {
    let caller = graph_caller(&app, &headers)?;
    take_quota(&app, &caller, RequestKind::Other, Some(&group), None)?;
    caller.require(&["Group.ReadWrite.All", "Directory.ReadWrite.All"])?;
    app.commit(|st| {
        let mut team = st.teams.get(&group).filter(|t| !t.deleted).cloned().ok_or_else(|| {
            GraphError::not_found("graph.group.not_found", format!("Resource '{group}' does not exist."))
        })?;
        let channels: Vec<Channel> =
            st.channels.values().filter(|c| c.team_id == group && !c.deleted).cloned().collect();
        for mut c in channels {
            c.deleted = true;
            st.put(Record::Channel(c));
        }
        team.deleted = true;
        st.put(Record::Team(team));
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// A team or channel body's back-dated `createdDateTime`: only in migration mode, and
/// never after `now`.
fn created_time(
    body: &Map<String, Value>,
    migration: bool,
    kind: &str,
    now: crate::time::Timestamp,
) -> Result<Option<crate::time::Timestamp>, GraphError> {
    let created = opt_time(body, "createdDateTime")?;
    if created.is_some() && !migration {
        return Err(GraphError::bad_request(
            &format!("graph.{kind}.created_without_migration"),
            format!("createdDateTime can only be set when {kind}CreationMode is migration."),
        ));
    }
    if created.is_some_and(|c| c > now) {
        return Err(GraphError::bad_request(
            &format!("graph.{kind}.created_in_future"),
            "createdDateTime cannot be in the future.",
        ));
    }
    Ok(created)
}

/// Whether a team or channel body asks for migration mode
/// (`@microsoft.graph.{kind}CreationMode: "migration"`); any other value is a 400.
fn creation_mode(body: &Map<String, Value>, kind: &str) -> Result<bool, GraphError> {
    match opt_str(body, &format!("@microsoft.graph.{kind}CreationMode"))?.as_deref() {
        None => Ok(false),
        Some("migration") => Ok(true),
        Some(other) => Err(GraphError::bad_request(
            &format!("graph.{kind}.bad_creation_mode"),
            format!("Invalid {kind}CreationMode '{other}'."),
        )),
    }
}
