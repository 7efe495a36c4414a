//! Chat memberships (historical ones in import mode, current ones after completion) and
//! reactions, with their rules: historical time bounds, import-only fields, external
//! users, visibility of historical members, one reaction per user and emoji.

use std::sync::Arc;

use axum::extract::{Path, Query as AxumQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Map, Value};

use super::auth::{authorize, Method};
use super::error::ChatError;
use super::{json_object, live_message, live_space, opt_str, opt_time, space_name, take_quota, Query};
use crate::auth::google_caller;
use crate::server::App;
use crate::state::{ChatMembership, ChatReaction, Record, State as EmuState};
use crate::time::Timestamp;

fn membership_json(m: &ChatMembership) -> Value {
    let mut v = json!({
        "name": m.name,
        "state": m.state,
        "role": m.role,
        "member": {"name": format!("users/{}", m.user_id), "type": "HUMAN"},
        "createTime": m.create_time.to_rfc3339(),
    });
    if let Some(d) = m.delete_time {
        v["deleteTime"] = json!(d.to_rfc3339());
    }
    v
}

/// `POST /v1/spaces/{space}/members` — spaces.members.create.
pub async fn create(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ChatError> {
    let caller = google_caller(&app, &headers)?;
    let name = space_name(&id);
    take_quota(&app, &caller, Method::MembersCreate, Some(&name))?;
    let body = json_object(&body)?;
    if body.contains_key("groupMember") {
        return Err(ChatError::invalid(
            "chat.member.group",
            "Group memberships cannot be imported; add groups after import mode.",
        ));
    }
    let member = match body.get("member") {
        Some(Value::Object(m)) => m.clone(),
        _ => return Err(ChatError::invalid("chat.member.missing", "membership.member is required.")),
    };
    let member_name = opt_str(&member, "name")?.unwrap_or_default();
    let Some(user_key) = member_name.strip_prefix("users/").filter(|k| !k.is_empty()) else {
        return Err(ChatError::invalid(
            "chat.member.bad_name",
            "member.name must be users/{user id or email}.",
        ));
    };
    match opt_str(&member, "type")?.as_deref() {
        None | Some("HUMAN") => {}
        Some("BOT") => {
            return Err(ChatError::invalid("chat.member.bot", "Only HUMAN memberships can be created here."))
        }
        Some(other) => {
            return Err(ChatError::invalid("chat.member.bad_type", format!("Invalid member.type: {other}")))
        }
    }
    let create_time = opt_time(&body, "createTime")?;
    let delete_time = opt_time(&body, "deleteTime")?;
    let now = app.now();
    let one_per_user = app.config.rules.chat_one_membership_per_user;
    app.commit(|st| {
        let space = live_space(st, &name, now)?;
        authorize(Method::MembersCreate, &caller, Some(&space), false, now)?;
        let Some(user) = app.find_user(st, user_key) else {
            return Err(ChatError::not_found("chat.member.unknown_user", format!("User {member_name} not found.")));
        };
        if user.external && !space.external_user_allowed {
            return Err(ChatError::precondition("chat.member.external_not_allowed", "External users can only be added to spaces created with externalUserAllowed."));
        }
        let gid = user.google_id();
        let historical = space.import_mode;
        let (create_time, delete_time, state) = if space.import_mode {
            let Some(delete) = delete_time else {
                return Err(ChatError::invalid("chat.member.not_historical", "While a space is in import mode every membership must be historical: set deleteTime (and optionally createTime). Add current members after completeImport."));
            };
            if delete <= space.create_time {
                return Err(ChatError::invalid("chat.member.delete_before_space", "deleteTime must be after the space's createTime."));
            }
            if delete > now {
                return Err(ChatError::invalid("chat.member.delete_in_future", "deleteTime must not be in the future."));
            }
            let create = create_time.unwrap_or(Timestamp(delete.0 - 1_000));
            if create < space.create_time {
                return Err(ChatError::invalid("chat.member.create_before_space", "createTime must be on or after the space's createTime."));
            }
            if create >= delete {
                return Err(ChatError::invalid("chat.member.create_not_before_delete", "createTime must be before deleteTime."));
            }
            (create, Some(delete), "NOT_A_MEMBER")
        } else {
            if create_time.is_some() || delete_time.is_some() {
                return Err(ChatError::invalid("chat.member.historical_outside_import", "createTime and deleteTime can only be set when importing memberships into a space in import mode."));
            }
            (now, None, "JOINED")
        };
        let membership = ChatMembership {
            name: format!("{name}/members/{gid}"),
            space: name.clone(),
            user_id: gid,
            historical,
            create_time,
            delete_time,
            state: state.into(),
            role: "ROLE_MEMBER".into(),
            removed: false,
        };
        if let Some(existing) = st.memberships.get(&membership.key()).filter(|m| !m.removed) {
            if !historical || one_per_user {
                return Err(ChatError::exists("chat.member.exists", format!("Membership {} already exists.", existing.name)));
            }
        }
        let json = membership_json(&membership);
        st.put(Record::Membership(membership));
        Ok(Json(json))
    })
    .await
}

fn parse_member_filter(filter: &str) -> Result<Vec<(String, bool, String)>, ChatError> {
    let bad = || ChatError::invalid("chat.member.bad_filter", format!("Invalid filter: {filter}"));
    let mut out = Vec::new();
    if filter.trim().is_empty() {
        return Ok(out);
    }
    for clause in filter.split(" AND ") {
        let c = clause.trim();
        let (field, eq, value) = if let Some((f, v)) = c.split_once("!=") {
            (f, false, v)
        } else if let Some((f, v)) = c.split_once('=') {
            (f, true, v)
        } else {
            return Err(bad());
        };
        let field = field.trim();
        let value = value.trim().trim_matches('"').to_string();
        let ok = match field {
            "role" => matches!(value.as_str(), "ROLE_MEMBER" | "ROLE_MANAGER"),
            "member.type" => matches!(value.as_str(), "HUMAN" | "BOT"),
            _ => false,
        };
        if !ok {
            return Err(bad());
        }
        out.push((field.to_string(), eq, value));
    }
    Ok(out)
}

/// `GET /v1/spaces/{space}/members` — spaces.members.list. Historical memberships are
/// listed only while the space is in import mode.
pub async fn list(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    AxumQuery(q): AxumQuery<Query>,
    headers: HeaderMap,
) -> Result<Json<Value>, ChatError> {
    let caller = google_caller(&app, &headers)?;
    let name = space_name(&id);
    take_quota(&app, &caller, Method::MembersList, Some(&name))?;
    let size = super::page_size(&q, 100, 1000)?;
    let filter = parse_member_filter(q.get("filter").map(String::as_str).unwrap_or(""))?;
    let after = super::decode_page_token(&q)?;
    let now = app.now();
    let list_historical = app.config.rules.chat_list_historical_memberships;
    app.commit(|st| {
        let space = live_space(st, &name, now)?;
        authorize(Method::MembersList, &caller, Some(&space), false, now)?;
        let prefix = format!("{name}/members/");
        let mut out = Vec::new();
        let mut next = None;
        for (key, m) in st.memberships.range(prefix.clone()..).take_while(|(k, _)| k.starts_with(&prefix)) {
            if m.removed || (m.historical && (!space.import_mode || !list_historical)) {
                continue;
            }
            if after.as_deref().is_some_and(|a| key.as_str() <= a) {
                continue;
            }
            let pass = filter.iter().all(|(field, eq, value)| {
                let actual = if field == "role" { m.role.as_str() } else { "HUMAN" };
                (actual == value) == *eq
            });
            if !pass {
                continue;
            }
            if out.len() == size {
                next = Some(super::encode_page_token(&out_key(st, &out)));
                break;
            }
            out.push((key.clone(), membership_json(m)));
        }
        let mut resp = json!({});
        if !out.is_empty() {
            resp["memberships"] = Value::Array(out.into_iter().map(|(_, v)| v).collect());
        }
        if let Some(n) = next {
            resp["nextPageToken"] = json!(n);
        }
        Ok(Json(resp))
    })
    .await
}

fn out_key(_st: &EmuState, out: &[(String, Value)]) -> String {
    out.last().map(|(k, _)| k.clone()).unwrap_or_default()
}

fn find_membership(
    app: &App,
    st: &EmuState,
    space: &str,
    member: &str,
    import_mode: bool,
) -> Result<ChatMembership, ChatError> {
    let gid = app.find_user(st, member).map(|u| u.google_id()).unwrap_or_else(|| member.to_string());
    let name = format!("{space}/members/{gid}");
    let current = st.memberships.get(&format!("{name}#c")).filter(|m| !m.removed);
    let historical = st.memberships.get(&format!("{name}#h")).filter(|m| !m.removed && import_mode);
    current
        .or(historical)
        .cloned()
        .ok_or_else(|| ChatError::not_found("chat.member.not_found", format!("Membership {name} not found.")))
}

/// `GET /v1/spaces/{space}/members/{member}` — spaces.members.get.
pub async fn get(
    State(app): State<Arc<App>>,
    Path((id, member)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ChatError> {
    let caller = google_caller(&app, &headers)?;
    let name = space_name(&id);
    take_quota(&app, &caller, Method::MembersGet, Some(&name))?;
    let now = app.now();
    app.commit(|st| {
        let space = live_space(st, &name, now)?;
        authorize(Method::MembersGet, &caller, Some(&space), false, now)?;
        let m = find_membership(&app, st, &name, &member, space.import_mode)?;
        Ok(Json(membership_json(&m)))
    })
    .await
}

/// `DELETE /v1/spaces/{space}/members/{member}` — spaces.members.delete.
pub async fn delete(
    State(app): State<Arc<App>>,
    Path((id, member)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ChatError> {
    let caller = google_caller(&app, &headers)?;
    let name = space_name(&id);
    take_quota(&app, &caller, Method::MembersDelete, Some(&name))?;
    let now = app.now();
    app.commit(|st| {
        let space = live_space(st, &name, now)?;
        authorize(Method::MembersDelete, &caller, Some(&space), false, now)?;
        let mut m = find_membership(&app, st, &name, &member, space.import_mode)?;
        m.removed = true;
        let json = membership_json(&m);
        st.put(Record::Membership(m));
        Ok(Json(json))
    })
    .await
}

fn parse_emoji(body: &Map<String, Value>) -> Result<Value, ChatError> {
    let bad = || {
        ChatError::invalid(
            "chat.reaction.emoji_missing",
            "reaction.emoji is required: set emoji.unicode or emoji.customEmoji.uid.",
        )
    };
    let Some(Value::Object(e)) = body.get("emoji") else { return Err(bad()) };
    if let Some(u) = opt_str(e, "unicode")?.filter(|u| !u.is_empty()) {
        return Ok(json!({"unicode": u}));
    }
    match e.get("customEmoji") {
        Some(Value::Object(c)) => match opt_str(c, "uid")?.filter(|u| !u.is_empty()) {
            Some(uid) => Ok(json!({"customEmoji": {"uid": uid}})),
            None => Err(bad()),
        },
        _ => Err(bad()),
    }
}

fn reaction_json(r: &ChatReaction) -> Value {
    json!({"name": r.name, "user": {"name": format!("users/{}", r.user_id), "type": "HUMAN"}, "emoji": r.emoji})
}

/// `POST /v1/spaces/{space}/messages/{message}/reactions` — reactions.create.
pub async fn create_reaction(
    State(app): State<Arc<App>>,
    Path((id, msg)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ChatError> {
    let caller = google_caller(&app, &headers)?;
    let name = space_name(&id);
    take_quota(&app, &caller, Method::ReactionsCreate, Some(&name))?;
    let body = json_object(&body)?;
    let emoji = parse_emoji(&body)?;
    let now = app.now();
    app.commit(|st| {
        let space = live_space(st, &name, now)?;
        authorize(Method::ReactionsCreate, &caller, Some(&space), false, now)?;
        let Some(user) = &caller.user else {
            return Err(ChatError::denied(
                "chat.auth.app_auth",
                "reactions.create requires user authentication.",
            ));
        };
        let m = live_message(st, &name, &msg)?;
        let gid = user.google_id();
        let prefix = format!("{}/reactions/", m.name);
        let duplicate = st
            .reactions
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .any(|(_, r)| !r.deleted && r.user_id == gid && r.emoji == emoji);
        if duplicate {
            return Err(ChatError::exists(
                "chat.reaction.exists",
                "The user already reacted with this emoji to this message.",
            ));
        }
        let r = ChatReaction {
            name: format!("{prefix}{}", crate::ids::chat_short_id()),
            message: m.name.clone(),
            user_id: gid,
            emoji,
            deleted: false,
        };
        let json = reaction_json(&r);
        st.put(Record::Reaction(r));
        Ok(Json(json))
    })
    .await
}

/// `GET /v1/spaces/{space}/messages/{message}/reactions` — reactions.list (not available
/// while the space is in import mode).
pub async fn list_reactions(
    State(app): State<Arc<App>>,
    Path((id, msg)): Path<(String, String)>,
    AxumQuery(q): AxumQuery<Query>,
    headers: HeaderMap,
) -> Result<Json<Value>, ChatError> {
    let caller = google_caller(&app, &headers)?;
    let name = space_name(&id);
    take_quota(&app, &caller, Method::ReactionsList, Some(&name))?;
    let size = super::page_size(&q, 25, 200)?;
    let after = super::decode_page_token(&q)?;
    let filter = q.get("filter").map(|f| f.trim().to_string()).filter(|f| !f.is_empty());
    let (f_emoji, f_user) = match &filter {
        None => (None, None),
        Some(f) => {
            let mut emoji = None;
            let mut user = None;
            for clause in f.split(" AND ") {
                let Some((field, value)) = clause.split_once('=') else {
                    return Err(ChatError::invalid(
                        "chat.reaction.bad_filter",
                        format!("Invalid filter: {f}"),
                    ));
                };
                let value = value.trim().trim_matches('"').to_string();
                match field.trim() {
                    "emoji.unicode" => emoji = Some(json!({"unicode": value})),
                    "emoji.custom_emoji.uid" => emoji = Some(json!({"customEmoji": {"uid": value}})),
                    "user.name" => user = Some(value),
                    _ => {
                        return Err(ChatError::invalid(
                            "chat.reaction.bad_filter",
                            format!("Invalid filter: {f}"),
                        ))
                    }
                }
            }
            (emoji, user)
        }
    };
    let now = app.now();
    app.commit(|st| {
        let space = live_space(st, &name, now)?;
        authorize(Method::ReactionsList, &caller, Some(&space), false, now)?;
        let m = live_message(st, &name, &msg)?;
        let prefix = format!("{}/reactions/", m.name);
        let mut out: Vec<(String, Value)> = Vec::new();
        let mut more = false;
        for (k, r) in st.reactions.range(prefix.clone()..).take_while(|(k, _)| k.starts_with(&prefix)) {
            if r.deleted || after.as_deref().is_some_and(|a| k.as_str() <= a) {
                continue;
            }
            if f_emoji.as_ref().is_some_and(|e| *e != r.emoji)
                || f_user.as_ref().is_some_and(|u| *u != format!("users/{}", r.user_id))
            {
                continue;
            }
            if out.len() == size {
                more = true;
                break;
            }
            out.push((k.clone(), reaction_json(r)));
        }
        let mut resp = json!({});
        if more {
            resp["nextPageToken"] = json!(super::encode_page_token(&out_key(st, &out)));
        }
        if !out.is_empty() {
            resp["reactions"] = Value::Array(out.into_iter().map(|(_, v)| v).collect());
        }
        Ok(Json(resp))
    })
    .await
}

/// `DELETE /v1/spaces/{space}/messages/{message}/reactions/{reaction}` — reactions.delete.
pub async fn delete_reaction(
    State(app): State<Arc<App>>,
    Path((id, msg, reaction)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ChatError> {
    let caller = google_caller(&app, &headers)?;
    let name = space_name(&id);
    take_quota(&app, &caller, Method::ReactionsDelete, Some(&name))?;
    let now = app.now();
    app.commit(|st| {
        let space = live_space(st, &name, now)?;
        authorize(Method::ReactionsDelete, &caller, Some(&space), false, now)?;
        let full = format!("{name}/messages/{msg}/reactions/{reaction}");
        let Some(mut r) = st.reactions.get(&full).filter(|r| !r.deleted).cloned() else {
            return Err(ChatError::not_found(
                "chat.reaction.not_found",
                format!("Reaction {full} not found."),
            ));
        };
        if caller.user.as_ref().map(|u| u.google_id()) != Some(r.user_id.clone()) {
            return Err(ChatError::denied(
                "chat.reaction.not_owner",
                "Users can only delete their own reactions.",
            ));
        }
        r.deleted = true;
        st.put(Record::Reaction(r));
        Ok(Json(json!({})))
    })
    .await
}
