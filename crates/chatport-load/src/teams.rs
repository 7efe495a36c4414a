//! Microsoft Teams (Graph migration mode): how each Teams action becomes requests, how
//! work that may already be applied is recognised, and which failures are retriable.
//!
//! Graph has no client-assigned ids, so exactly-once rests on reading back: a channel is
//! found by its (unique) name, a message by its `createdDateTime` (unique to the
//! millisecond in a channel; a duplicate POST is a 409). After an unclean stop (intent
//! recorded, no result) the loader reads the channel or thread before re-sending. File
//! uploads replace the same name, so repeating one is harmless. A team is found by its
//! displayName (`GET /teams?$filter`) and its historical createdDateTime (`GET
//! /teams/{id}`), looked up for as long as a creation could still be provisioning, so a
//! lost `POST /teams` answer never leads to a second team; when the lookup is not possible
//! (the app lacks `Team.ReadBasic.All`, or two teams match) the operation stays unsettled
//! instead of risking one. A channel found by name must carry the planned createdDateTime.
//!
//! Existing channels (`--existing-channel`, see [`ExistingChannel`]) are bound to plan
//! channels in the state store; the loader snapshots their messages, then calls
//! `startMigration` with the plan's creation time instead of creating a channel (a lost
//! answer is recognised by the channel being in migration mode with that time). A planned
//! team whose channels all go to one existing team is used as it is, and its team-level
//! `completeMigration` is skipped since it never was in migration mode.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chatport_model::plan::{Action, BlobRef, ContainerKind, Operation};
use serde_json::{json, Value};

use crate::chat::enc;
use crate::exec::{OpError, Run};
use crate::http::{As, Ctx, Dest, Failure, Reply};
use crate::limits::Bucket;
use crate::state::{OpRecord, OpStatus};

/// Largest file sent with a simple PUT; larger ones use an upload session.
pub const SIMPLE_UPLOAD_MAX: u64 = 4 * 1024 * 1024;
/// Upload-session chunk: a multiple of 320 KiB.
const CHUNK: usize = 10 * 327_680;

/// The one place that decides whether a Graph failure is worth retrying: throttling (429),
/// server errors (500, 502, 503, 504), timeouts and dropped connections.
pub fn is_retriable(f: &Failure) -> bool {
    match f {
        Failure::Status(s) => matches!(s, 429 | 500 | 502 | 503 | 504),
        Failure::Timeout | Failure::Connection => true,
    }
}

fn rejected(reply: &Reply, what: &str) -> OpError {
    OpError::Rejected(format!("{what}: {}", reply.error_text()))
}

/// The Graph application permissions (roles) a Teams migration uses: for each, what it
/// is for and the roles that also grant it (Graph accepts any one of them).
/// Teamwork.Migrate.All covers only the migration writes; every read needs its own role.
pub const GRAPH_PERMISSIONS: &[(&str, &str, &[&str])] = &[
    (
        "Teamwork.Migrate.All",
        "create teams and channels in migration mode, import messages, complete the migration",
        &[],
    ),
    (
        "Team.ReadBasic.All",
        "look a team up after its creation answer was lost (GET /teams, GET /teams/{id})",
        &["TeamSettings.Read.All", "TeamSettings.ReadWrite.All", "Group.Read.All", "Group.ReadWrite.All"],
    ),
    (
        "Channel.ReadBasic.All",
        "find General and reconcile channels (GET /teams/{id}/channels), verify",
        &["ChannelSettings.Read.All", "ChannelSettings.ReadWrite.All", "Group.Read.All", "Group.ReadWrite.All"],
    ),
    (
        "ChannelMessage.Read.All",
        "read messages back after an unclean stop or a 409, and in verify; a protected API that Microsoft must enable for the app (https://learn.microsoft.com/graph/teams-protected-apis)",
        &["ChannelMessage.Read.Group", "Group.Read.All", "Group.ReadWrite.All"],
    ),
    ("Files.ReadWrite.All", "upload attachments to the channels' files folders", &["Sites.ReadWrite.All"]),
    ("TeamMember.ReadWrite.All", "add the current members after completion", &["Group.ReadWrite.All"]),
];

/// The read permission a Graph `GET` of `url` needs, for the hint on a 403.
fn read_permission(url: &str) -> Option<&'static str> {
    let path = url.split('?').next().unwrap_or(url);
    if path.contains("/messages") {
        Some("ChannelMessage.Read.All")
    } else if path.contains("/filesFolder") {
        Some("Files.ReadWrite.All")
    } else if path.contains("/channels") || path.ends_with("/primaryChannel") {
        Some("Channel.ReadBasic.All")
    } else if path.contains("/teams") {
        Some("Team.ReadBasic.All")
    } else {
        None
    }
}

/// A failed Graph read: on a 403, says which application permission the read needs.
pub fn rejected_read(reply: &Reply, what: &str, url: &str) -> OpError {
    match (reply.status, read_permission(url)) {
        (403, Some(role)) => {
            let why =
                GRAPH_PERMISSIONS.iter().find(|(r, ..)| *r == role).map(|(_, why, _)| *why).unwrap_or("");
            OpError::Rejected(format!(
                "{what}: {}; the app needs the {role} application permission ({why})",
                reply.error_text()
            ))
        }
        _ => rejected(reply, what),
    }
}

/// The permissions of [`GRAPH_PERMISSIONS`] an access token does not carry, read from
/// the `roles` claim of a JWT access token (not verified: only the token endpoint's own
/// answer is inspected, to warn early). Empty when the token carries no readable roles.
pub fn missing_graph_permissions(access_token: &str) -> Vec<(&'static str, &'static str)> {
    let Some(payload) = access_token.split('.').nth(1) else { return Vec::new() };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('='))
    else {
        return Vec::new();
    };
    let Ok(claims) = serde_json::from_slice::<Value>(&bytes) else { return Vec::new() };
    let Some(roles) = claims["roles"].as_array() else { return Vec::new() };
    let has = |r: &str| roles.iter().any(|x| x.as_str() == Some(r));
    GRAPH_PERMISSIONS
        .iter()
        .filter(|(role, _, also)| !has(role) && !also.iter().any(|a| has(a)))
        .map(|(role, why, _)| (*role, *why))
        .collect()
}

/// `(team id, channel id)` of a channel container, from its create/adopt operation.
pub fn channel_of(run: &Run, container: &str) -> Result<Option<(String, String)>, OpError> {
    let Some(c) = run.plan.container(container) else { return Ok(None) };
    for op in &c.ops {
        if matches!(op.action, Action::TeamsCreateChannel { .. } | Action::TeamsUseGeneralChannel) {
            return Ok(run.result_of(&op.id.0)?.and_then(|r| {
                Some((r["team_id"].as_str()?.to_string(), r["channel_id"].as_str()?.to_string()))
            }));
        }
    }
    Ok(None)
}

/// The team id of a team container.
pub fn team_of(run: &Run, container: &str) -> Result<Option<String>, OpError> {
    let Some(c) = run.plan.container(container) else { return Ok(None) };
    for op in &c.ops {
        if let Action::TeamsCreateTeam { .. } = op.action {
            return Ok(run.result_of(&op.id.0)?.and_then(|r| r["team_id"].as_str().map(str::to_string)));
        }
    }
    Ok(None)
}

fn need_team_for(run: &Run, op: &Operation) -> Result<String, OpError> {
    let c = run
        .plan
        .container(&op.container)
        .ok_or_else(|| OpError::Rejected(format!("unknown container {}", op.container)))?;
    let team_container = match c.container.kind {
        ContainerKind::TeamsTeam => c.container.id.clone(),
        _ => c.container.parent.clone().ok_or_else(|| {
            OpError::Rejected(format!("channel container {} has no parent team", op.container))
        })?,
    };
    team_of(run, &team_container)?
        .ok_or_else(|| OpError::Rejected(format!("team {team_container} is not created")))
}

fn need_channel(run: &Run, op: &Operation) -> Result<(String, String), OpError> {
    channel_of(run, &op.container)?
        .ok_or_else(|| OpError::Rejected(format!("channel of container {} is not created", op.container)))
}

/// The scheme, host and port of a URL (`https://graph.microsoft.com`), lowercased.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| format!("{}://{}", scheme.to_ascii_lowercase(), host.to_ascii_lowercase()))
}

/// Refuses a server-supplied URL (`@odata.nextLink`, an absolute `Location`) that is not
/// on the configured Graph origin: requests carry the Graph bearer token, which must go
/// nowhere else.
fn on_graph_origin(graph: &str, url: &str, what: &str) -> Result<(), OpError> {
    match (origin_of(graph), origin_of(url)) {
        (Some(g), Some(u)) if g == u => Ok(()),
        _ => Err(OpError::Rejected(format!(
            "{what} {url:?} is not on the Graph endpoint {graph}; not followed (it would carry the access token)"
        ))),
    }
}

/// Reads every item of a Graph collection, following `@odata.nextLink` (on the Graph
/// origin only).
pub async fn list_all(run: &Run, ctx: Ctx<'_>, url: &str, bucket: Bucket) -> Result<Vec<Value>, OpError> {
    let graph = run.opts.endpoints.graph.as_str();
    let mut out = Vec::new();
    let mut next = Some(url.to_string());
    while let Some(u) = next.take() {
        if u != url {
            on_graph_origin(graph, &u, "@odata.nextLink")?;
        }
        let reply = run
            .api
            .send(Dest::Graph, ctx, As::Graph, &[Bucket::GraphPerChannel, bucket], |h| h.get(&u))
            .await?;
        if !reply.ok() {
            return Err(rejected_read(&reply, "list", &u));
        }
        let v = reply.json();
        if let Some(items) = v["value"].as_array() {
            out.extend(items.iter().cloned());
        }
        next = v["@odata.nextLink"].as_str().map(str::to_string);
    }
    Ok(out)
}

fn millis(t: &str) -> Option<i64> {
    chatport_model::ts::parse_rfc3339(t).map(|m| m.div_euclid(1000))
}

/// Finds an imported message by `createdDateTime` (ms) and author among the roots of a
/// channel or the replies of `parent`.
async fn find_message(
    run: &Run,
    ctx: Ctx<'_>,
    team: &str,
    channel: &str,
    parent: Option<&str>,
    body: &Value,
) -> Result<Option<String>, OpError> {
    let Some(want) = body["createdDateTime"].as_str().and_then(millis) else { return Ok(None) };
    let graph = run.opts.endpoints.graph.trim_end_matches('/');
    let url = match parent {
        Some(p) => format!("{graph}/teams/{team}/channels/{channel}/messages/{p}/replies?$top=50"),
        None => format!("{graph}/teams/{team}/channels/{channel}/messages?$top=50"),
    };
    let from = body["from"]["user"]["id"].as_str();
    let items = list_all(run, ctx, &url, Bucket::GraphGetMessage).await?;
    Ok(items.iter().find_map(|m| {
        let same_time = m["createdDateTime"].as_str().and_then(millis) == Some(want);
        let same_from = from.is_none() || m["from"]["user"]["id"].as_str() == from;
        (same_time && same_from).then(|| m["id"].as_str().map(str::to_string)).flatten()
    }))
}

fn parse_team_location(loc: &str) -> Option<String> {
    if let Some(rest) = loc.split("teams('").nth(1) {
        return rest.split("')").next().map(str::to_string);
    }
    let mut parts = loc.split('/').skip_while(|p| *p != "teams");
    parts.next()?;
    parts.next().map(str::to_string)
}

/// Names each upload of a container so different contents never share a name (an upload
/// replaces a same-named file, which keeps retries idempotent).
fn upload_name(run: &Run, op: &Operation, blob: &BlobRef) -> String {
    let Some(c) = run.plan.container(&op.container) else { return blob.filename.clone() };
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    for o in &c.ops {
        if let Action::TeamsUploadFile { blob: b } = &o.action {
            let shas = seen.entry(b.filename.to_lowercase()).or_default();
            if !shas.contains(&b.sha256) {
                shas.push(b.sha256.clone());
            }
            if o.id == op.id {
                let n = shas.iter().position(|s| *s == b.sha256).unwrap_or(0);
                if n == 0 {
                    return b.filename.clone();
                }
                return match b.filename.rsplit_once('.') {
                    Some((stem, ext)) => format!("{stem} ({}).{ext}", n + 1),
                    None => format!("{} ({})", b.filename, n + 1),
                };
            }
        }
    }
    blob.filename.clone()
}

/// Executes one Teams operation and returns what to store as its result.
pub async fn execute(run: &Run, op: &Operation, prior: Option<&OpRecord>) -> Result<Value, OpError> {
    let api = &run.api;
    let graph = run.opts.endpoints.graph.trim_end_matches('/').to_string();
    let ctx = Ctx { container: &op.container, op: &op.id.0 };
    // Team-level requests of a channel container (create, list) count against the team's
    // per-team/channel quota, as Graph counts them.
    let team_container = run
        .plan
        .container(&op.container)
        .and_then(|c| c.container.parent.clone())
        .unwrap_or_else(|| op.container.clone());
    let team_ctx = Ctx { container: &team_container, op: &op.id.0 };
    let unclean = prior.is_some_and(|p| p.status == OpStatus::Intent);
    match &op.action {
        Action::TeamsCreateTeam { .. } if run.state.target(&op.container)?.is_some() => {
            let team = run.state.target(&op.container)?.map(|t| t.team_id).unwrap_or_default();
            // Every channel goes to an existing channel of this team: it is used as it is.
            let url = format!("{graph}/teams/{team}");
            let reply = api.send(Dest::Graph, ctx, As::Graph, &[Bucket::GraphOther], |h| h.get(&url)).await?;
            if !reply.ok() {
                return Err(rejected_read(&reply, "GET existing team", &url));
            }
            Ok(json!({"team_id": team, "existing": true}))
        }
        Action::TeamsCreateTeam { team } => {
            let partial = prior.and_then(|p| p.result.clone());
            let mut location = partial.as_ref().and_then(|r| r["location"].as_str().map(str::to_string));
            let mut team_id = partial.as_ref().and_then(|r| r["team_id"].as_str().map(str::to_string));
            if team_id.is_none() && unclean {
                if let Some(t) = find_team_settled(run, ctx, team).await? {
                    return Ok(json!({"team_id": t, "reconciled": true}));
                }
            }
            let mut tries = 0;
            while team_id.is_none() {
                tries += 1;
                // Synced to disk: nothing on the server would catch a second POST /teams.
                run.state.record_intent_durable(&op.id.0, &op.container, op.action.name())?;
                let url = format!("{graph}/teams");
                // POST /teams has no idempotency key: a lost answer is looked up, not replayed.
                let reply = match api
                    .send_no_replay(Dest::Graph, ctx, As::Graph, &[Bucket::GraphPostTeam], |h| {
                        h.post(&url).json(team)
                    })
                    .await
                {
                    Ok(r) => r,
                    Err(e @ crate::http::CallError::GaveUp { .. }) if tries < run.opts.retry.max_attempts => {
                        tracing::debug!(operation = %op.id, error = %e, "team creation answer lost; looking it up");
                        if let Some(t) = find_team_settled(run, ctx, team).await? {
                            return Ok(json!({"team_id": t, "reconciled": true}));
                        }
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                if !reply.ok() {
                    return Err(rejected(&reply, "POST /teams"));
                }
                if reply.status != 202 {
                    if let Some(id) = reply.json()["id"].as_str() {
                        return Ok(json!({"team_id": id}));
                    }
                }
                let loc = reply
                    .location
                    .clone()
                    .ok_or_else(|| OpError::Rejected("POST /teams: 202 without a Location header".into()))?;
                let id = parse_team_location(&loc).ok_or_else(|| {
                    OpError::Rejected(format!("POST /teams: cannot read the team id from Location {loc}"))
                })?;
                run.state.record_partial(&op.id.0, &json!({"team_id": id, "location": loc}))?;
                team_id = Some(id);
                location = Some(loc);
            }
            let team_id = team_id.unwrap_or_default();
            if let Some(loc) = location {
                poll_operation(run, ctx, &graph, &loc).await?;
            }
            Ok(json!({"team_id": team_id}))
        }
        Action::TeamsCreateChannel { .. } | Action::TeamsUseGeneralChannel
            if run.state.target(&op.container)?.is_some_and(|t| t.channel_id.is_some()) =>
        {
            start_migration(run, op, prior).await
        }
        Action::TeamsCreateChannel { channel } => {
            let team = need_team_for(run, op)?;
            let name = channel["displayName"].as_str().unwrap_or_default().to_string();
            let created = channel["createdDateTime"].as_str().and_then(millis);
            let list_url = format!("{graph}/teams/{team}/channels");
            let ctx = team_ctx;
            if unclean {
                if let Some(id) = find_channel(run, ctx, &list_url, &name, created).await? {
                    return Ok(json!({"team_id": team, "channel_id": id, "reconciled": true}));
                }
            }
            run.intent(op)?;
            let reply = api
                .send(
                    Dest::Graph,
                    ctx,
                    As::Graph,
                    &[Bucket::GraphPerChannel, Bucket::GraphPostChannel],
                    |h| h.post(&list_url).json(channel),
                )
                .await?;
            if reply.ok() {
                if let Some(id) = reply.json()["id"].as_str() {
                    return Ok(json!({"team_id": team, "channel_id": id}));
                }
            }
            // A name conflict may be our own earlier attempt: look for it.
            if reply.ok() || reply.status == 400 || reply.status == 409 {
                if let Some(id) = find_channel(run, ctx, &list_url, &name, created).await? {
                    return Ok(json!({"team_id": team, "channel_id": id, "reconciled": true}));
                }
            }
            Err(rejected(&reply, "POST channels"))
        }
        Action::TeamsUseGeneralChannel => {
            let team = need_team_for(run, op)?;
            let list_url = format!("{graph}/teams/{team}/channels");
            match find_channel(run, team_ctx, &list_url, "General", None).await? {
                Some(id) => Ok(json!({"team_id": team, "channel_id": id})),
                None => Err(OpError::Rejected(format!("team {team} has no General channel"))),
            }
        }
        Action::TeamsUploadFile { blob } => {
            let (team, channel) = need_channel(run, op)?;
            let canonical = run
                .canonical
                .as_ref()
                .ok_or_else(|| OpError::Rejected("no canonical directory to read blobs from".into()))?;
            // Shared: retries and chunks slice it without copying.
            let bytes = bytes::Bytes::from(crate::plan_dir::read_blob(canonical, blob, &op.id.0).await?);
            let folder_url = format!("{graph}/teams/{team}/channels/{channel}/filesFolder");
            // A new team's SharePoint site, and so a channel's folder, can take minutes
            // to exist (404 meanwhile): asked again up to `max_polls` times,
            // `poll_interval` apart, as long as a team creation is polled.
            let mut tries = 0u32;
            let folder = loop {
                let folder = api
                    .send(Dest::Graph, ctx, As::Graph, &[Bucket::GraphPerChannel, Bucket::GraphOther], |h| {
                        h.get(&folder_url)
                    })
                    .await?;
                tries += 1;
                if folder.status == 404 && tries < run.opts.max_polls.max(1) {
                    crate::exec::pause(run.opts.poll_interval).await;
                    continue;
                }
                break folder;
            };
            if !folder.ok() {
                return Err(rejected_read(&folder, "GET filesFolder", &folder_url));
            }
            let f = folder.json();
            let (Some(drive), Some(folder_id)) = (f["parentReference"]["driveId"].as_str(), f["id"].as_str())
            else {
                return Err(OpError::Rejected("GET filesFolder: no driveId or id in the answer".into()));
            };
            let mut name = upload_name(run, op, blob);
            // An existing channel's folder holds its users' files: never replace one. A
            // file of that name with this content is ours (an earlier attempt); another
            // one makes the upload take the next free name.
            let existing = run.state.target(&op.container)?.is_some_and(|t| t.channel_id.is_some());
            let behavior = if existing { "fail" } else { "replace" };
            if existing {
                match place_in_existing_folder(run, ctx, &graph, drive, folder_id, &name, &blob.sha256)
                    .await?
                {
                    Placement::Ours(item) => return uploaded(&item),
                    Placement::Free(free) => name = free,
                }
            }
            run.intent(op)?;
            let item_base = format!("{graph}/drives/{drive}/items/{folder_id}:/{}:", enc(&name));
            let sent = if (bytes.len() as u64) <= SIMPLE_UPLOAD_MAX {
                let url = format!("{item_base}/content?@microsoft.graph.conflictBehavior={behavior}");
                let reply = api
                    .send(Dest::Graph, ctx, As::Graph, &[Bucket::GraphPerChannel, Bucket::GraphOther], |h| {
                        h.put(&url).header("content-type", blob.content_type.as_str()).body(bytes.clone())
                    })
                    .await?;
                if reply.ok() {
                    Ok(reply.json())
                } else {
                    Err(rejected(&reply, "PUT file content"))
                }
            } else {
                upload_session(run, ctx, &item_base, &bytes, behavior).await
            };
            match sent {
                Ok(item) => uploaded(&item),
                // "fail" refused the name: an earlier attempt whose answer was lost may
                // have taken it, with this content.
                Err(OpError::Rejected(m)) if existing => {
                    match place_in_existing_folder(run, ctx, &graph, drive, folder_id, &name, &blob.sha256)
                        .await?
                    {
                        Placement::Ours(item) if m.contains("409") => uploaded(&item),
                        _ => Err(OpError::Rejected(m)),
                    }
                }
                Err(e) => Err(e),
            }
        }
        Action::TeamsPostMessage { reply_to, message, hosted_contents, files } => {
            let (team, channel) = need_channel(run, op)?;
            let parent = match reply_to {
                Some(p) => {
                    let r = run
                        .result_of(&p.0)?
                        .ok_or_else(|| OpError::Rejected(format!("parent {p} is not posted")))?;
                    Some(r["id"].as_str().unwrap_or_default().to_string())
                }
                None => None,
            };
            let mut body = message.clone();
            if !files.is_empty() {
                let mut content = body["body"]["content"].as_str().unwrap_or_default().to_string();
                let mut attachments = Vec::new();
                for f in files {
                    let r = run
                        .result_of(&f.0)?
                        .ok_or_else(|| OpError::Rejected(format!("upload {f} is not done")))?;
                    let guid = r["etag_guid"].as_str().unwrap_or_default();
                    content = content.replace(&format!("id=\"{}\"", f.0), &format!("id=\"{guid}\""));
                    attachments.push(json!({"id": guid, "contentType": "reference", "contentUrl": r["web_url"], "name": r["name"]}));
                }
                body["body"]["content"] = json!(content);
                body["attachments"] = Value::Array(attachments);
            }
            if !hosted_contents.is_empty() {
                let canonical = run
                    .canonical
                    .as_ref()
                    .ok_or_else(|| OpError::Rejected("no canonical directory to read blobs from".into()))?;
                let mut hosted = Vec::new();
                for h in hosted_contents {
                    let bytes = crate::plan_dir::read_blob(canonical, &h.blob, &op.id.0).await?;
                    hosted.push(json!({
                        "@microsoft.graph.temporaryId": h.temporary_id,
                        "contentBytes": STANDARD.encode(&bytes),
                        "contentType": h.blob.content_type,
                    }));
                }
                body["hostedContents"] = Value::Array(hosted);
            }
            if unclean {
                if let Some(id) = find_message(run, ctx, &team, &channel, parent.as_deref(), &body).await? {
                    tracing::debug!(operation = %op.id, "message found after an unclean stop; not re-sent");
                    return Ok(json!({"id": id, "reconciled": true}));
                }
            }
            run.intent(op)?;
            let url = match &parent {
                Some(p) => format!("{graph}/teams/{team}/channels/{channel}/messages/{p}/replies"),
                None => format!("{graph}/teams/{team}/channels/{channel}/messages"),
            };
            let reply = api
                .send(
                    Dest::Graph,
                    ctx,
                    As::Graph,
                    &[Bucket::GraphPerChannel, Bucket::GraphPostMessage],
                    |h| h.post(&url).json(&body),
                )
                .await?;
            if reply.ok() {
                let v = reply.json();
                if let Some(id) = v["id"].as_str() {
                    return Ok(json!({"id": id}));
                }
            }
            if reply.status == 409 {
                if let Some(id) = find_message(run, ctx, &team, &channel, parent.as_deref(), &body).await? {
                    return Ok(json!({"id": id, "reconciled": true}));
                }
            }
            Err(rejected(&reply, "POST message"))
        }
        Action::TeamsCompleteChannel => {
            let (team, channel) = need_channel(run, op)?;
            run.intent(op)?;
            let url = format!("{graph}/teams/{team}/channels/{channel}/completeMigration");
            let reply = api
                .send(Dest::Graph, ctx, As::Graph, &[Bucket::GraphPerChannel, Bucket::GraphOther], |h| {
                    h.post(&url)
                })
                .await?;
            if reply.ok() {
                return Ok(json!({"completed": true}));
            }
            if reply.status == 400 {
                let get = format!("{graph}/teams/{team}/channels/{channel}");
                let c = api
                    .send(Dest::Graph, ctx, As::Graph, &[Bucket::GraphPerChannel, Bucket::GraphOther], |h| {
                        h.get(&get)
                    })
                    .await?;
                if c.ok() && c.json()["migrationMode"].as_str() == Some("completed") {
                    return Ok(json!({"completed": true, "reconciled": true}));
                }
            }
            Err(rejected(&reply, "channel completeMigration"))
        }
        Action::TeamsCompleteTeam if team_is_existing(run, &op.container)? => {
            // Not created in migration mode: there is no team migration to complete.
            Ok(
                json!({"completed": false, "skipped": "the team existed before the load; only its channels were migrated"}),
            )
        }
        Action::TeamsCompleteTeam => {
            let team = need_team_for(run, op)?;
            if own_general_left_open(run, &op.container)? {
                complete_own_general(run, ctx, &team).await?;
            }
            run.intent(op)?;
            let url = format!("{graph}/teams/{team}/completeMigration");
            let reply = api
                .send(Dest::Graph, ctx, As::Graph, &[Bucket::GraphPerChannel, Bucket::GraphOther], |h| {
                    h.post(&url)
                })
                .await?;
            if reply.ok() {
                return Ok(json!({"completed": true}));
            }
            // Already completed by an earlier attempt whose answer was lost? Graph's 400
            // wording is undocumented, so the channels decide: a team whose channels have
            // all left migration mode has nothing left to complete (and Graph refuses the
            // member adds that follow while the team is still migrating).
            if reply.status == 400 && channels_all_completed(run, ctx, &team).await? {
                return Ok(json!({"completed": true, "reconciled": true}));
            }
            Err(rejected(&reply, "team completeMigration"))
        }
        Action::TeamsAddMember { member } => {
            let team = need_team_for(run, op)?;
            run.intent(op)?;
            let url = format!("{graph}/teams/{team}/members");
            let reply = api
                .send(Dest::Graph, ctx, As::Graph, &[Bucket::GraphPerChannel, Bucket::GraphOther], |h| {
                    h.post(&url).json(member)
                })
                .await?;
            if reply.ok() || reply.status == 409 {
                let v = reply.json();
                return Ok(json!({"id": v["id"], "user_id": v["userId"]}));
            }
            Err(rejected(&reply, "POST team members"))
        }
        other => Err(OpError::Rejected(format!("{} is not a Teams action", other.name()))),
    }
}

/// Whether every channel of a team has left migration mode.
async fn channels_all_completed(run: &Run, ctx: Ctx<'_>, team: &str) -> Result<bool, OpError> {
    let graph = run.opts.endpoints.graph.trim_end_matches('/');
    let channels = list_all(run, ctx, &format!("{graph}/teams/{team}/channels"), Bucket::GraphOther).await?;
    Ok(!channels.is_empty() && channels.iter().all(|c| c["migrationMode"].as_str() != Some("inProgress")))
}

/// Whether a team container was bound to an existing team (no team was created).
pub fn team_is_existing(run: &Run, container: &str) -> Result<bool, OpError> {
    let Some(c) = run.plan.container(container) else { return Ok(false) };
    let Some(op) = create_op(c) else { return Ok(false) };
    Ok(run.result_of(&op.id.0)?.is_some_and(|r| r["existing"].as_bool() == Some(true)))
}

/// Whether a plan channel container is its team's General channel.
pub fn is_general_container(c: &crate::plan_dir::PlannedContainer) -> bool {
    c.ops.iter().any(|o| matches!(o.action, Action::TeamsUseGeneralChannel))
}

/// Whether a created team's own General channel is left in migration mode by the plan's
/// channel completions: the plan has no General container (a partial export), or its
/// General was bound to an existing channel elsewhere.
fn own_general_left_open(run: &Run, team_container: &str) -> Result<bool, OpError> {
    let mut planned = false;
    for c in run.plan.containers.iter().filter(|c| c.container.parent.as_deref() == Some(team_container)) {
        if is_general_container(c) {
            if run.state.target(&c.container.id)?.is_some() {
                return Ok(true);
            }
            planned = true;
        }
    }
    Ok(!planned)
}

/// Completes the migration of a team's own General channel (nothing was imported into
/// it), found through `GET /teams/{id}/primaryChannel`; one already complete is fine.
async fn complete_own_general(run: &Run, ctx: Ctx<'_>, team: &str) -> Result<(), OpError> {
    let graph = run.opts.endpoints.graph.trim_end_matches('/');
    let primary = format!("{graph}/teams/{team}/primaryChannel");
    let reply = run
        .api
        .send(Dest::Graph, ctx, As::Graph, &[Bucket::GraphPerChannel, Bucket::GraphOther], |h| {
            h.get(&primary)
        })
        .await?;
    if !reply.ok() {
        return Err(rejected_read(&reply, "GET primaryChannel", &primary));
    }
    let c = reply.json();
    if c["migrationMode"].as_str() == Some("completed") {
        return Ok(());
    }
    let general = c["id"]
        .as_str()
        .ok_or_else(|| OpError::Rejected("GET primaryChannel: no id in the answer".into()))?;
    let url = format!("{graph}/teams/{team}/channels/{general}/completeMigration");
    let reply = run
        .api
        .send(Dest::Graph, ctx, As::Graph, &[Bucket::GraphPerChannel, Bucket::GraphOther], |h| h.post(&url))
        .await?;
    if reply.ok() || reply.status == 400 {
        return Ok(());
    }
    Err(rejected(&reply, "General channel completeMigration"))
}

/// Ids of every message (roots and replies) of a channel.
async fn message_ids(run: &Run, ctx: Ctx<'_>, team: &str, channel: &str) -> Result<Vec<String>, OpError> {
    let graph = run.opts.endpoints.graph.trim_end_matches('/');
    let base = format!("{graph}/teams/{team}/channels/{channel}/messages");
    let mut ids = Vec::new();
    for root in list_all(run, ctx, &format!("{base}?$top=50"), Bucket::GraphGetMessage).await? {
        let Some(rid) = root["id"].as_str() else { continue };
        let replies =
            list_all(run, ctx, &format!("{base}/{rid}/replies?$top=50"), Bucket::GraphGetMessage).await?;
        ids.extend(replies.iter().filter_map(|r| r["id"].as_str().map(str::to_string)));
        ids.push(rid.to_string());
    }
    Ok(ids)
}

/// `GET` a channel.
async fn read_channel(run: &Run, ctx: Ctx<'_>, url: &str) -> Result<Value, OpError> {
    let reply = run
        .api
        .send(Dest::Graph, ctx, As::Graph, &[Bucket::GraphPerChannel, Bucket::GraphOther], |h| h.get(url))
        .await?;
    if !reply.ok() {
        return Err(rejected_read(&reply, "GET existing channel", url));
    }
    Ok(reply.json())
}

/// Puts an existing channel into migration mode (`POST …/startMigration` with the
/// plan's creation time as `conversationCreationDateTime`, which must be older than the
/// channel's current createdDateTime and becomes it). The messages already there are
/// listed first and kept in the result, so verify does not count them as extra. A lost
/// answer is recognised on the retry's 400 ("already in migration mode") by reading the
/// channel: in migration mode with the planned createdDateTime.
async fn start_migration(run: &Run, op: &Operation, prior: Option<&OpRecord>) -> Result<Value, OpError> {
    let target = run
        .state
        .target(&op.container)?
        .ok_or_else(|| OpError::Rejected(format!("container {} has no existing channel", op.container)))?;
    let team = target.team_id;
    let channel = target.channel_id.unwrap_or_default();
    let ctx = Ctx { container: &op.container, op: &op.id.0 };
    let graph = run.opts.endpoints.graph.trim_end_matches('/').to_string();
    let container = run
        .plan
        .container(&op.container)
        .ok_or_else(|| OpError::Rejected(format!("unknown container {}", op.container)))?;
    let when = match &op.action {
        Action::TeamsCreateChannel { channel } => channel["createdDateTime"].as_str(),
        _ => None,
    }
    .unwrap_or(container.container.create_time.as_str());
    let when_ms = millis(when).ok_or_else(|| {
        OpError::Rejected(format!("container {}: bad creation time {when:?}", op.container))
    })?;
    let when = chatport_model::ts::format_rfc3339(when_ms * 1000, 3);
    let get = format!("{graph}/teams/{team}/channels/{channel}");
    let ours = |c: &Value| {
        c["migrationMode"].as_str() == Some("inProgress")
            && c["createdDateTime"].as_str().and_then(millis) == Some(when_ms)
    };
    let partial = prior.and_then(|p| p.result.clone()).filter(|r| r["preexisting"].is_array());
    let preexisting = match partial {
        Some(p) => p["preexisting"].clone(),
        None => {
            let c = read_channel(run, ctx, &get).await?;
            if ours(&c) {
                // Started by an earlier attempt whose bookkeeping was lost with the process.
                return Err(OpError::Rejected(format!(
                    "channel {channel} is already in migration mode since {when}, but this state file holds no record of which messages were there before; bind it in the state file it was started with"
                )));
            }
            let ids = message_ids(run, ctx, &team, &channel).await?;
            run.intent(op)?;
            let snapshot = json!({"team_id": team, "channel_id": channel, "preexisting": ids});
            run.state.record_partial(&op.id.0, &snapshot)?;
            snapshot["preexisting"].clone()
        }
    };
    run.intent(op)?;
    let url = format!("{graph}/teams/{team}/channels/{channel}/startMigration");
    let body = json!({"conversationCreationDateTime": when});
    let reply = run
        .api
        .send(Dest::Graph, ctx, As::Graph, &[Bucket::GraphPerChannel, Bucket::GraphOther], |h| {
            h.post(&url).json(&body)
        })
        .await?;
    let done = json!({"team_id": team, "channel_id": channel, "existing": true, "preexisting": preexisting});
    if reply.ok() {
        return Ok(done);
    }
    if reply.status == 400 && ours(&read_channel(run, ctx, &get).await?) {
        let mut done = done;
        done["reconciled"] = json!(true);
        return Ok(done);
    }
    Err(rejected(&reply, "POST startMigration"))
}

/// Finds a channel of a team by name (unique per team, case-insensitive). With `created`
/// (the plan's createdDateTime, ms) a channel of that name must carry it: a same-named
/// channel that this load did not create is refused, never adopted.
async fn find_channel(
    run: &Run,
    ctx: Ctx<'_>,
    list_url: &str,
    name: &str,
    created: Option<i64>,
) -> Result<Option<String>, OpError> {
    let items = list_all(run, ctx, list_url, Bucket::GraphOther).await?;
    let Some(c) = items
        .iter()
        .find(|c| c["displayName"].as_str().is_some_and(|d| d.to_lowercase() == name.to_lowercase()))
    else {
        return Ok(None);
    };
    let found = c["createdDateTime"].as_str().and_then(millis);
    if created.is_some() && found != created {
        return Err(OpError::Rejected(format!(
            "a channel named {name:?} already exists in the team with createdDateTime {}, not the planned one; it was not created by this load",
            c["createdDateTime"]
        )));
    }
    Ok(c["id"].as_str().map(str::to_string))
}

/// Where a lookup for a possibly-created team stands.
enum TeamLookup {
    /// Exactly one team matches: it is ours.
    Found(String),
    /// No team matches (yet).
    Absent,
}

/// Looks for a team created by an earlier attempt whose answer was lost. Graph has no
/// idempotency key for `POST /teams`, so the key is the pair the plan fixes: the
/// `displayName` (`GET /teams?$filter=displayName eq '…'`) and the historical
/// `createdDateTime`, which only a team created in migration mode from this plan can
/// carry. The list fills only id and displayName, so each candidate is read with
/// `GET /teams/{id}` for its createdDateTime. Two matching teams, or a listing that is
/// not available, stop the operation (unsettled) rather than risk a duplicate.
async fn find_team(run: &Run, ctx: Ctx<'_>, team: &Value) -> Result<TeamLookup, OpError> {
    let graph = run.opts.endpoints.graph.trim_end_matches('/');
    let name = team["displayName"].as_str().unwrap_or_default();
    let filter = format!("displayName eq '{}'", name.replace('\'', "''"));
    let url = format!("{graph}/teams?$filter={}", enc(&filter));
    let listed = match list_all(run, ctx, &url, Bucket::GraphOther).await {
        Ok(items) => items,
        Err(OpError::Rejected(m)) => {
            return Err(OpError::Unsettled(format!(
                "operation {}: the team creation may have been applied without its answer, and the team list is not available to check ({m}); grant the app Team.ReadBasic.All and run again, or look for a team named {name:?} yourself",
                ctx.op
            )))
        }
        Err(e) => return Err(e),
    };
    let want = team["createdDateTime"].as_str().and_then(millis);
    let mut matches = Vec::new();
    for t in listed.iter().filter(|t| t["displayName"].as_str() == Some(name)) {
        let Some(id) = t["id"].as_str() else { continue };
        let get = format!("{graph}/teams/{id}");
        let reply = run.api.send(Dest::Graph, ctx, As::Graph, &[Bucket::GraphOther], |h| h.get(&get)).await?;
        if !reply.ok() {
            continue;
        }
        if want.is_none() || reply.json()["createdDateTime"].as_str().and_then(millis) == want {
            matches.push(id.to_string());
        }
    }
    match matches.len() {
        0 => Ok(TeamLookup::Absent),
        1 => Ok(TeamLookup::Found(matches.remove(0))),
        _ => Err(OpError::Unsettled(format!(
            "operation {}: {} teams named {name:?} carry the planned createdDateTime ({}); keep one, delete the others (DELETE /groups/{{id}}) and run again",
            ctx.op,
            matches.len(),
            matches.join(", ")
        ))),
    }
}

/// Looks for the team as [`find_team`] does, again and again for as long as a creation
/// could still be provisioning (Graph lists a team only once it is provisioned): up to
/// [`LOOKUPS_AFTER_LOST_ANSWER`] lookups `poll_interval` apart. Only then is the earlier
/// request taken as never applied.
async fn find_team_settled(run: &Run, ctx: Ctx<'_>, team: &Value) -> Result<Option<String>, OpError> {
    let lookups = run.opts.max_polls.clamp(1, LOOKUPS_AFTER_LOST_ANSWER);
    for n in 0..lookups {
        if n > 0 {
            crate::exec::pause(run.opts.poll_interval).await;
        }
        if let TeamLookup::Found(id) = find_team(run, ctx, team).await? {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// Most lookups for a team whose creation answer was lost, `poll_interval` apart (with
/// Graph's 30 s interval: about five minutes of provisioning time allowed).
pub const LOOKUPS_AFTER_LOST_ANSWER: u32 = 10;

async fn poll_operation(run: &Run, ctx: Ctx<'_>, graph: &str, location: &str) -> Result<(), OpError> {
    let url = if location.starts_with("http") {
        on_graph_origin(graph, location, "the team operation Location")?;
        location.to_string()
    } else {
        format!("{graph}{}{location}", if location.starts_with('/') { "" } else { "/" })
    };
    for poll in 0..run.opts.max_polls.max(1) {
        if poll > 0 {
            crate::exec::pause(run.opts.poll_interval).await;
        }
        let reply = run
            .api
            .send(Dest::Graph, ctx, As::Graph, &[Bucket::GraphPerChannel, Bucket::GraphOther], |h| {
                h.get(&url)
            })
            .await?;
        if !reply.ok() {
            return Err(rejected(&reply, "GET team operation"));
        }
        let v = reply.json();
        match v["status"].as_str() {
            Some("succeeded") => return Ok(()),
            Some("failed") => {
                // No team came of it: the next run creates one afresh instead of polling
                // this operation again.
                run.state.clear_result(ctx.op)?;
                return Err(OpError::Rejected(format!(
                    "team creation failed: {}; run again to create the team anew",
                    v["error"]
                )));
            }
            _ => {}
        }
    }
    Err(OpError::Unsettled(format!("team creation still running after {} polls", run.opts.max_polls)))
}

/// The operation's result for an uploaded driveItem: what a message needs to reference it.
fn uploaded(item: &Value) -> Result<Value, OpError> {
    let etag = item["eTag"].as_str().unwrap_or_default();
    let guid = etag.trim_matches('"').trim_start_matches('{').split([',', '}']).next().unwrap_or_default();
    if guid.is_empty() {
        return Err(OpError::Rejected("file upload: the driveItem has no eTag".into()));
    }
    Ok(
        json!({"id": item["id"], "etag_guid": guid.to_lowercase(), "web_url": item["webUrl"], "name": item["name"]}),
    )
}

/// Where an upload goes in an existing channel's folder.
enum Placement {
    /// A file of the planned name with the same content is there: ours.
    Ours(Value),
    /// This name is free.
    Free(String),
}

/// Finds the name an upload takes in an existing channel's folder: the planned one, or
/// `stem (imported n).ext` when a user's file holds it. A file whose SHA-256
/// (`file.hashes`) is the blob's is taken as ours; without that hash (SharePoint gives
/// only quickXorHash) it is not, and the upload takes another name rather than risk
/// overwriting a user's file.
async fn place_in_existing_folder(
    run: &Run,
    ctx: Ctx<'_>,
    graph: &str,
    drive: &str,
    folder: &str,
    name: &str,
    sha256: &str,
) -> Result<Placement, OpError> {
    for n in 1..=50u32 {
        let candidate = match (n, name.rsplit_once('.')) {
            (1, _) => name.to_string(),
            (_, Some((stem, ext))) => format!("{stem} (imported {n}).{ext}"),
            (_, None) => format!("{name} (imported {n})"),
        };
        let url = format!("{graph}/drives/{drive}/items/{folder}:/{}", enc(&candidate));
        let reply = run
            .api
            .send(Dest::Graph, ctx, As::Graph, &[Bucket::GraphPerChannel, Bucket::GraphOther], |h| {
                h.get(&url)
            })
            .await?;
        if reply.status == 404 {
            return Ok(Placement::Free(candidate));
        }
        if !reply.ok() {
            return Err(rejected_read(&reply, "GET file in an existing channel's folder", &url));
        }
        let item = reply.json();
        if item["file"]["hashes"]["sha256Hash"].as_str().is_some_and(|h| h.eq_ignore_ascii_case(sha256)) {
            return Ok(Placement::Ours(item));
        }
    }
    Err(OpError::Rejected(format!(
        "no free name for {name:?} in the existing channel's folder after 50 tries"
    )))
}

async fn upload_session(
    run: &Run,
    ctx: Ctx<'_>,
    item_base: &str,
    bytes: &bytes::Bytes,
    behavior: &str,
) -> Result<Value, OpError> {
    let url = format!("{item_base}/createUploadSession");
    let body = json!({"item": {"@microsoft.graph.conflictBehavior": behavior}});
    let reply = run
        .api
        .send(Dest::Graph, ctx, As::Graph, &[Bucket::GraphPerChannel, Bucket::GraphOther], |h| {
            h.post(&url).json(&body)
        })
        .await?;
    if !reply.ok() {
        return Err(rejected(&reply, "createUploadSession"));
    }
    let upload_url = reply.json()["uploadUrl"]
        .as_str()
        .ok_or_else(|| OpError::Rejected("createUploadSession: no uploadUrl".into()))?
        .to_string();
    let total = bytes.len();
    let mut start = 0usize;
    loop {
        let end = (start + CHUNK).min(total);
        let chunk = bytes.slice(start..end);
        let range = format!("bytes {start}-{}/{total}", end.saturating_sub(1));
        let sent = run
            .api
            .send(Dest::Graph, ctx, As::Anonymous, &[], |h| {
                h.put(&upload_url).header("content-range", range.as_str()).body(chunk.clone())
            })
            .await;
        let reply = match sent {
            Ok(r) => r,
            // The chunk may have been applied without its answer: ask the session.
            Err(crate::http::CallError::GaveUp { .. }) => {
                start =
                    resume_upload(run, ctx, &upload_url, item_base, start, total).await?.map_or(total, |n| n);
                if start >= total {
                    return finished_upload(run, ctx, item_base, total).await;
                }
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        match reply.status {
            200 | 201 => return Ok(reply.json()),
            202 => {
                let next = reply.json()["nextExpectedRanges"][0]
                    .as_str()
                    .and_then(|r| r.split('-').next())
                    .and_then(|s| s.parse::<usize>().ok())
                    .unwrap_or(end);
                if next <= start || next > total {
                    return Err(OpError::Rejected(format!("upload session: unexpected next range {next}")));
                }
                start = next;
            }
            // A replayed chunk that was applied the first time: the session expects a
            // later range (416), or the last chunk finished it and it is gone (404).
            404 | 416 => match resume_upload(run, ctx, &upload_url, item_base, start, total).await? {
                Some(next) => start = next,
                None => return finished_upload(run, ctx, item_base, total).await,
            },
            _ => return Err(rejected(&reply, "upload session chunk")),
        }
    }
}

/// Where an upload session stands after a chunk whose outcome is unknown: `GET
/// uploadUrl` gives the next expected range (`Some(start)`); a session that is gone
/// finished with the last chunk (`None`).
async fn resume_upload(
    run: &Run,
    ctx: Ctx<'_>,
    upload_url: &str,
    item_base: &str,
    sent: usize,
    total: usize,
) -> Result<Option<usize>, OpError> {
    let reply = run.api.send(Dest::Graph, ctx, As::Anonymous, &[], |h| h.get(upload_url)).await?;
    if reply.status == 404 {
        return Ok(None);
    }
    if !reply.ok() {
        return Err(rejected(&reply, "upload session status"));
    }
    let next = reply.json()["nextExpectedRanges"][0]
        .as_str()
        .and_then(|r| r.split('-').next())
        .and_then(|s| s.parse::<usize>().ok());
    match next {
        Some(n) if n <= total => {
            tracing::debug!(operation = ctx.op, sent, next = n, item = item_base, "upload session resumed");
            Ok(Some(n))
        }
        _ => Err(OpError::Rejected(format!("upload session status: unexpected next range {next:?}"))),
    }
}

/// The driveItem of an upload whose last chunk was applied without its answer: read by
/// path, and accepted only with the full size.
async fn finished_upload(run: &Run, ctx: Ctx<'_>, item_base: &str, total: usize) -> Result<Value, OpError> {
    let url = item_base.trim_end_matches(':').to_string();
    let reply = run
        .api
        .send(Dest::Graph, ctx, As::Graph, &[Bucket::GraphPerChannel, Bucket::GraphOther], |h| h.get(&url))
        .await?;
    if !reply.ok() {
        return Err(rejected_read(&reply, "GET uploaded item", &url));
    }
    let item = reply.json();
    if item["size"].as_u64() != Some(total as u64) {
        return Err(OpError::Rejected(format!(
            "upload session ended, but the item holds {} bytes, not {total}",
            item["size"]
        )));
    }
    Ok(item)
}

/// `--existing-channel KEY=TEAM_ID/CHANNEL_ID`: load the plan channel named by `KEY` (its
/// container id, source conversation id, or display name) into an existing channel with
/// `startMigration` instead of creating one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingChannel {
    /// Container id, conversation id or channel display name (case-insensitive).
    pub key: String,
    /// The existing team's id.
    pub team_id: String,
    /// The existing channel's id.
    pub channel_id: String,
}

impl std::str::FromStr for ExistingChannel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!("{s:?}: expected KEY=TEAM_ID/CHANNEL_ID (KEY: plan container id, conversation id or channel name)")
        };
        let (key, ids) = s.rsplit_once('=').ok_or_else(bad)?;
        let (team, channel) = ids.split_once('/').ok_or_else(bad)?;
        let (key, team, channel) = (key.trim(), team.trim(), channel.trim());
        if key.is_empty() || team.is_empty() || channel.is_empty() || channel.contains('/') {
            return Err(bad());
        }
        Ok(ExistingChannel { key: key.into(), team_id: team.into(), channel_id: channel.into() })
    }
}

/// The operation of a container that creates (or adopts) it.
fn create_op(c: &crate::plan_dir::PlannedContainer) -> Option<&Operation> {
    c.ops.iter().find(|o| crate::exec::is_container_create(o))
}

/// Resolves `--existing-channel` mappings against a Teams plan: every key names exactly
/// one channel container, no container or channel is named twice. A planned team whose
/// channels all go to channels of one existing team is loaded into that team (no team
/// is created). Returns the bindings, containers in plan order.
pub fn resolve_existing(
    plan: &crate::plan_dir::Plan,
    mappings: &[ExistingChannel],
) -> Result<Vec<(String, crate::state::Target)>, crate::LoadError> {
    use crate::state::Target;
    use crate::LoadError;
    if plan.manifest.destination != chatport_model::plan::Destination::Teams {
        return Err(LoadError::Options("--existing-channel applies to Teams plans only".into()));
    }
    let mut bound: Vec<(String, Target)> = Vec::new();
    for m in mappings {
        let hits: Vec<&crate::plan_dir::PlannedContainer> = plan
            .containers
            .iter()
            .filter(|c| c.container.kind == ContainerKind::TeamsChannel)
            .filter(|c| {
                c.container.id == m.key
                    || c.container.conversation.as_deref() == Some(m.key.as_str())
                    || c.container.display_name.eq_ignore_ascii_case(&m.key)
            })
            .collect();
        let c = match hits.as_slice() {
            [c] => c,
            [] => {
                return Err(LoadError::Options(format!(
                    "--existing-channel {}: no channel of the plan has this container id, conversation id or name",
                    m.key
                )))
            }
            many => {
                let ids: Vec<&str> = many.iter().map(|c| c.container.id.as_str()).collect();
                return Err(LoadError::Options(format!(
                    "--existing-channel {}: names several channels ({}); use a container id",
                    m.key,
                    ids.join(", ")
                )));
            }
        };
        if bound.iter().any(|(id, _)| *id == c.container.id) {
            return Err(LoadError::Options(format!("channel {} is mapped twice", c.container.id)));
        }
        if bound.iter().any(|(_, t)| t.channel_id.as_deref() == Some(m.channel_id.as_str())) {
            return Err(LoadError::Options(format!(
                "channel {} is the target of two mappings",
                m.channel_id
            )));
        }
        bound.push((
            c.container.id.clone(),
            Target { team_id: m.team_id.clone(), channel_id: Some(m.channel_id.clone()) },
        ));
    }
    for team in plan.containers.iter().filter(|c| c.container.kind == ContainerKind::TeamsTeam) {
        let tid = team.container.id.as_str();
        let targets: Vec<Option<&Target>> = plan
            .containers
            .iter()
            .filter(|c| c.container.parent.as_deref() == Some(tid))
            .map(|c| bound.iter().find(|(id, _)| *id == c.container.id).map(|(_, t)| t))
            .collect();
        let first = targets.first().copied().flatten();
        if let Some(first) = first {
            if targets.iter().all(|t| t.is_some_and(|t| t.team_id == first.team_id)) {
                bound.push((tid.to_string(), Target { team_id: first.team_id.clone(), channel_id: None }));
            }
        }
    }
    let order = |id: &str| plan.containers.iter().position(|c| c.container.id == id).unwrap_or(usize::MAX);
    bound.sort_by_key(|(id, _)| order(id));
    Ok(bound)
}

/// Opens the plan and the state store and records `--existing-channel` bindings (see
/// [`bind_existing`]); the loader then finds them in the state store, this run and every
/// resumed one.
pub fn bind_existing_channels(
    plan_dir: &std::path::Path,
    state_db: &std::path::Path,
    mappings: &[ExistingChannel],
) -> Result<Vec<(String, crate::state::Target)>, crate::LoadError> {
    let plan = crate::plan_dir::Plan::read(plan_dir)?;
    let state = crate::state::StateStore::open(state_db, &plan.identity())?;
    bind_existing(&plan, &state, mappings)
}

/// Records `--existing-channel` bindings in the state store before a load. The same
/// bindings again are accepted (a re-run of the same command); a container whose
/// creation was already attempted cannot be re-bound, since what it created or started
/// stays where it is.
pub fn bind_existing(
    plan: &crate::plan_dir::Plan,
    state: &crate::state::StateStore,
    mappings: &[ExistingChannel],
) -> Result<Vec<(String, crate::state::Target)>, crate::LoadError> {
    let bound = resolve_existing(plan, mappings)?;
    let stored = state.targets()?;
    for c in &plan.containers {
        let id = c.container.id.as_str();
        let want = bound.iter().find(|(b, _)| b == id).map(|(_, t)| t);
        let have = stored.iter().find(|(s, _)| s == id).map(|(_, t)| t);
        if want == have {
            continue;
        }
        let started = match create_op(c) {
            Some(op) => state.get(&op.id.0)?.is_some(),
            None => false,
        };
        if started {
            return Err(crate::LoadError::Options(format!(
                "container {id} was already {} by an earlier run of this state file; its existing-channel mapping cannot change",
                if have.is_some() { "bound and started" } else { "created" }
            )));
        }
        if want.is_none() && have.is_some() {
            return Err(crate::LoadError::Options(format!(
                "container {id} is bound to an existing channel in this state file; give the same --existing-channel flags (or none, to keep them)"
            )));
        }
    }
    state.set_targets(&bound)?;
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn team_id_from_both_location_forms() {
        assert_eq!(parse_team_location("/teams('abc-1')/operations('op')").as_deref(), Some("abc-1"));
        assert_eq!(parse_team_location("/teams/abc-2/operations/op").as_deref(), Some("abc-2"));
        assert_eq!(parse_team_location("/groups/x"), None);
    }

    #[test]
    fn only_urls_on_the_graph_origin_are_followed() {
        let graph = "https://graph.microsoft.com/v1.0";
        assert!(on_graph_origin(graph, "https://graph.microsoft.com/v1.0/teams?$skiptoken=x", "link").is_ok());
        assert!(on_graph_origin(graph, "HTTPS://Graph.Microsoft.com/v1.0/x", "link").is_ok());
        for bad in [
            "https://evil.example/v1.0/teams",
            "http://graph.microsoft.com/v1.0/teams",
            "https://graph.microsoft.com.evil.example/v1.0",
            "https://graph.microsoft.com:8443/v1.0",
            "not a url",
        ] {
            assert!(on_graph_origin(graph, bad, "link").is_err(), "{bad}");
        }
        let local = "http://127.0.0.1:4010";
        assert!(on_graph_origin(local, "http://127.0.0.1:4010/v1.0/teams?$skiptoken=1", "link").is_ok());
    }

    #[test]
    fn missing_permissions_are_read_from_the_token_roles() {
        let token = |claims: Value| {
            let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            format!("{}.{}.sig", enc.encode(br#"{"alg":"RS256"}"#), enc.encode(claims.to_string()))
        };
        let only_migrate = token(json!({"roles": ["Teamwork.Migrate.All"]}));
        let missing: Vec<&str> = missing_graph_permissions(&only_migrate).iter().map(|(r, _)| *r).collect();
        assert_eq!(
            missing,
            [
                "Team.ReadBasic.All",
                "Channel.ReadBasic.All",
                "ChannelMessage.Read.All",
                "Files.ReadWrite.All",
                "TeamMember.ReadWrite.All"
            ]
        );
        // A broader role that Graph also accepts counts.
        let broad = token(
            json!({"roles": ["Teamwork.Migrate.All", "Group.ReadWrite.All", "Team.ReadBasic.All", "Files.ReadWrite.All"]}),
        );
        assert!(missing_graph_permissions(&broad).is_empty(), "{:?}", missing_graph_permissions(&broad));
        // Opaque tokens (no readable roles) give no warning.
        assert!(missing_graph_permissions("opaque").is_empty());
        assert!(missing_graph_permissions(&token(json!({"aud": "x"}))).is_empty());
    }

    #[test]
    fn a_forbidden_read_names_the_permission_it_needs() {
        let reply = Reply {
            status: 403,
            location: None,
            body: br#"{"error":{"code":"Forbidden","message":"Missing role permissions"}}"#.to_vec(),
        };
        for (url, role) in [
            ("https://g/v1.0/teams/t/channels/c/messages?$top=50", "ChannelMessage.Read.All"),
            ("https://g/v1.0/teams/t/channels/c/messages/m/replies", "ChannelMessage.Read.All"),
            ("https://g/v1.0/teams/t/channels", "Channel.ReadBasic.All"),
            ("https://g/v1.0/teams/t/primaryChannel", "Channel.ReadBasic.All"),
            ("https://g/v1.0/teams/t", "Team.ReadBasic.All"),
            ("https://g/v1.0/teams/t/channels/c/filesFolder", "Files.ReadWrite.All"),
        ] {
            assert!(rejected_read(&reply, "GET", url).message().contains(role), "{url}");
        }
    }

    #[test]
    fn retries_only_throttling_server_errors_and_transport() {
        for s in [429, 500, 502, 503, 504] {
            assert!(is_retriable(&Failure::Status(s)));
        }
        for s in [400, 401, 403, 404, 409, 413] {
            assert!(!is_retriable(&Failure::Status(s)));
        }
        assert!(is_retriable(&Failure::Timeout));
        assert!(is_retriable(&Failure::Connection));
    }
}
