//! Microsoft Graph v1.0 (Teams migration) under its real paths: teams and their async
//! operations, channels, start/complete migration, channel messages and replies with
//! hostedContents, channel files folders and driveItem uploads, and members. Owns the
//! Graph routes, the OData-style path fallback (`/teams('id')/operations('id')`), the
//! per-channel and per-tenant quotas, and shared lookups. Submodules own the resources.

mod drive;
pub mod error;
mod messages;
mod teams;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method as HttpMethod};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde_json::{Map, Value};

use crate::auth::GraphCaller;
use crate::quota::{retry_after_secs, Draw};
use crate::server::App;
use crate::state::{Channel, State as EmuState, Team};
use error::GraphError;

/// Graph routes.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1.0/teams", post(teams::create_team).get(teams::list_teams))
        .route("/v1.0/teams/:team", get(teams::get_team))
        .route("/v1.0/teams/:team/operations/:op", get(teams::get_operation))
        .route("/v1.0/teams/:team/completeMigration", post(teams::complete_team))
        .route("/v1.0/teams/:team/members", post(teams::add_team_member).get(teams::list_team_members))
        .route("/v1.0/teams/:team/channels", post(teams::create_channel).get(teams::list_channels))
        .route("/v1.0/teams/:team/primaryChannel", get(teams::primary_channel))
        .route("/v1.0/teams/:team/channels/:channel", get(teams::get_channel))
        .route("/v1.0/teams/:team/channels/:channel/startMigration", post(teams::start_migration))
        .route("/v1.0/teams/:team/channels/:channel/completeMigration", post(teams::complete_channel))
        .route(
            "/v1.0/teams/:team/channels/:channel/members",
            post(teams::add_channel_member).get(teams::list_channel_members),
        )
        .route("/v1.0/teams/:team/channels/:channel/filesFolder", get(drive::files_folder))
        .route(
            "/v1.0/teams/:team/channels/:channel/messages",
            post(messages::create_message).get(messages::list_messages),
        )
        .route("/v1.0/teams/:team/channels/:channel/messages/:message", get(messages::get_message))
        .route(
            "/v1.0/teams/:team/channels/:channel/messages/:message/replies",
            post(messages::create_reply).get(messages::list_replies),
        )
        .route("/v1.0/teams/:team/channels/:channel/messages/:message/replies/:reply", get(messages::get_reply))
        .route("/v1.0/teams/:team/channels/:channel/messages/:message/hostedContents", get(messages::list_hosted))
        .route("/v1.0/teams/:team/channels/:channel/messages/:message/hostedContents/:hosted", get(messages::get_hosted))
        .route(
            "/v1.0/teams/:team/channels/:channel/messages/:message/hostedContents/:hosted/$value",
            get(messages::get_hosted_value),
        )
        .route(
            "/v1.0/teams/:team/channels/:channel/messages/:message/replies/:reply/hostedContents",
            get(messages::list_reply_hosted),
        )
        .route(
            "/v1.0/teams/:team/channels/:channel/messages/:message/replies/:reply/hostedContents/:hosted",
            get(messages::get_reply_hosted),
        )
        .route(
            "/v1.0/teams/:team/channels/:channel/messages/:message/replies/:reply/hostedContents/:hosted/$value",
            get(messages::get_reply_hosted_value),
        )
        .route("/v1.0/groups/:group", axum::routing::delete(teams::delete_group))
        .route(
            "/v1.0/drives/:drive/items/*rest",
            get(drive::get_item).put(drive::put_content).post(drive::create_session),
        )
        .route(
            "/upload-sessions/:session",
            put(drive::put_chunk).get(drive::session_status).delete(drive::cancel_session),
        )
}

/// Handles paths no route matched: the OData key syntax Graph uses in `Location`
/// headers (`/v1.0/teams('id')/operations('id')`), else a 404 in the right envelope.
pub async fn fallback(State(app): State<Arc<App>>, req: Request) -> Response {
    let path = crate::auth::percent_decode(req.uri().path());
    let headers = req.headers().clone();
    if let Some(rest) = path.strip_prefix("/v1.0/") {
        if req.method() == HttpMethod::GET {
            let segs: Vec<Option<(&str, &str)>> = rest.split('/').map(odata_key).collect();
            match segs.as_slice() {
                [Some(("teams", team)), Some(("operations", op))] => {
                    return teams::operation(&app, &headers, team, op).await.into_response();
                }
                [Some(("teams", team))] => return teams::team(&app, &headers, team).into_response(),
                [Some(("teams", team)), Some(("channels", channel))] => {
                    return teams::channel(&app, &headers, team, channel).into_response();
                }
                _ => {}
            }
        }
        return GraphError::not_found(
            "graph.route.unknown",
            format!("Resource not found for the segment '{}'.", rest.split('/').next_back().unwrap_or(rest)),
        )
        .into_response();
    }
    if path.starts_with("/v1/") || path.starts_with("/upload/") {
        return crate::chat::error::ChatError::not_found(
            "chat.route.unknown",
            format!("The requested URL {path} was not found on this server."),
        )
        .into_response();
    }
    GraphError::not_found("route.unknown", format!("No route for {path}.")).into_response()
}

/// Parses `name('key')` into `(name, key)`.
fn odata_key(seg: &str) -> Option<(&str, &str)> {
    let (name, rest) = seg.split_once("('")?;
    let key = rest.strip_suffix("')")?;
    Some((name, key))
}

/// Parses a JSON object body (empty = `{}`).
pub fn json_object(body: &[u8]) -> Result<Map<String, Value>, GraphError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(GraphError::bad_request(
            "graph.request.not_object",
            "The request body must be a JSON object.",
        )),
        Err(e) => Err(GraphError::bad_request(
            "graph.request.bad_json",
            format!("Unable to read JSON request payload: {e}"),
        )),
    }
}

/// What a request is, for the per-tenant buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// POST channel message or reply.
    PostChannelMessage,
    /// POST /teams.
    PostTeam,
    /// POST/PUT channel.
    PostChannel,
    /// GET channel message(s).
    GetChannelMessage,
    /// GET team or channel.
    GetTeamChannel,
    /// Other GET.
    OtherGet,
    /// Anything else.
    Other,
}

/// Draws the Graph buckets for a request on `team`/`channel`.
pub fn take_quota(
    app: &App,
    caller: &GraphCaller,
    kind: RequestKind,
    team: Option<&str>,
    channel: Option<&str>,
) -> Result<(), GraphError> {
    if !app.quotas_on() {
        return Ok(());
    }
    let q = &app.config.quotas.graph;
    let tenant = format!("{}:{}", caller.client_id, caller.tenant);
    let (name, rate) = match kind {
        RequestKind::PostChannelMessage => ("post_channel_message", q.post_channel_message),
        RequestKind::PostTeam => ("post_team", q.post_team),
        RequestKind::PostChannel => ("post_channel", q.post_channel),
        RequestKind::GetChannelMessage => ("get_channel_message", q.get_channel_message),
        RequestKind::GetTeamChannel => ("get_team_channel", q.get_team_channel),
        RequestKind::OtherGet => ("other_get", q.other_get),
        RequestKind::Other => ("other", q.other),
    };
    let mut draws = vec![
        Draw {
            key: format!("graph.tenant.any:{tenant}"),
            capacity: q.any_per_10s.max(1.0),
            per_second: (q.any_per_10s / 10.0).max(0.1),
        },
        Draw::per_second(format!("graph.tenant.{name}:{tenant}"), rate),
    ];
    if let Some(target) = channel.or(team) {
        draws.push(Draw::per_second(
            format!("graph.team_or_channel:{}:{target}", caller.client_id),
            q.team_or_channel,
        ));
    }
    if let (RequestKind::PostChannelMessage, Some(c)) = (kind, channel) {
        draws.push(Draw::per_second(format!("graph.channel_import:{c}"), q.channel_import));
    }
    app.take_quota(&draws)
        .map_err(|e| GraphError::throttled(&e.key, retry_after_secs(e.wait_nanos, app.clock.scale())))
}

/// A team that exists, is provisioned and not deleted.
pub fn live_team(st: &EmuState, id: &str) -> Result<Team, GraphError> {
    match st.teams.get(id) {
        Some(t) if t.provisioned && !t.deleted => Ok(t.clone()),
        _ => Err(GraphError::not_found("graph.team.not_found", format!("No team found with Group Id {id}"))),
    }
}

/// A channel of a live team.
pub fn live_channel(st: &EmuState, team: &str, channel: &str) -> Result<(Team, Channel), GraphError> {
    let t = live_team(st, team)?;
    match st.channels.get(channel) {
        Some(c) if c.team_id == team && !c.deleted => Ok((t, c.clone())),
        _ => Err(GraphError::not_found(
            "graph.channel.not_found",
            format!("Channel {channel} not found in team {team}."),
        )),
    }
}

/// `http://host` of the request, for URLs the emulator hands out.
pub fn origin(headers: &HeaderMap) -> String {
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}")
}

/// Parses an optional Graph timestamp field, truncated to milliseconds.
pub fn opt_time(m: &Map<String, Value>, field: &str) -> Result<Option<crate::time::Timestamp>, GraphError> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            crate::time::Timestamp::parse(s).map(|t| Some(t.truncate_to_millis())).ok_or_else(|| {
                GraphError::bad_request(
                    "graph.request.bad_timestamp",
                    format!("Cannot convert the literal '{s}' to the expected type 'Edm.DateTimeOffset'."),
                )
            })
        }
        Some(_) => Err(GraphError::bad_request(
            "graph.request.bad_timestamp",
            format!("{field} must be a DateTimeOffset string."),
        )),
    }
}

/// Reads an optional string field.
pub fn opt_str(m: &Map<String, Value>, field: &str) -> Result<Option<String>, GraphError> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => {
            Err(GraphError::bad_request("graph.request.bad_field", format!("{field} must be a string.")))
        }
    }
}
