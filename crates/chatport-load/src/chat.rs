//! Google Chat (import mode): how each Chat action becomes requests, how a retry or a
//! re-run that meets `ALREADY_EXISTS` is reconciled with what the space already holds,
//! and which failures are retriable.
//!
//! Exactly-once rests on the plan's deterministic ids: spaces carry `requestId`, messages
//! a `client-…` `messageId` (a 409 is answered by fetching `spaces/S/messages/client-…`
//! with app auth). A historical membership that meets a 409 is read back and accepted
//! only with the planned times; current members and reactions are unique per user (a 409
//! means it exists).
//! Uploads are not visible until a message references them, so re-uploading is harmless.

use chatport_model::plan::{Action, Actor, Operation};
use serde_json::{json, Value};

use crate::exec::{OpError, Run};
use crate::http::{As, Ctx, Dest, Failure, Reply};
use crate::limits::Bucket;
use crate::state::OpRecord;

/// The one place that decides whether a Chat failure is worth retrying: quota (429),
/// server errors (500, 502, 503, 504), timeouts and dropped connections.
pub fn is_retriable(f: &Failure) -> bool {
    match f {
        Failure::Status(s) => matches!(s, 429 | 500 | 502 | 503 | 504),
        Failure::Timeout | Failure::Connection => true,
    }
}

fn who(actor: &Actor) -> As<'_> {
    match actor {
        Actor::App => As::GoogleApp,
        Actor::User { id } => As::GoogleUser(id),
    }
}

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The space name (`spaces/…`) of a container, from its create operation's result.
pub fn space_of(run: &Run, container: &str) -> Result<Option<String>, OpError> {
    let Some(c) = run.plan.container(container) else { return Ok(None) };
    for op in &c.ops {
        if let Action::ChatCreateSpace { .. } = op.action {
            return Ok(run.result_of(&op.id.0)?.and_then(|r| r["name"].as_str().map(str::to_string)));
        }
    }
    Ok(None)
}

fn rejected(reply: &Reply, what: &str) -> OpError {
    OpError::Rejected(format!("{what}: {}", reply.error_text()))
}

fn need_space(run: &Run, op: &Operation) -> Result<String, OpError> {
    space_of(run, &op.container)?
        .ok_or_else(|| OpError::Rejected(format!("space of container {} is not created", op.container)))
}

fn need_result(run: &Run, op_id: &str) -> Result<Value, OpError> {
    run.result_of(op_id)?.ok_or_else(|| OpError::Rejected(format!("operation {op_id} is not done")))
}

/// Executes one Chat operation and returns what to store as its result.
pub async fn execute(run: &Run, op: &Operation, _prior: Option<&OpRecord>) -> Result<Value, OpError> {
    let api = &run.api;
    let base = run.opts.endpoints.chat.trim_end_matches('/').to_string();
    let ctx = Ctx { container: &op.container, op: &op.id.0 };
    match &op.action {
        Action::ChatCreateSpace { request_id, space } => {
            run.intent(op)?;
            let url = format!("{base}/v1/spaces?requestId={}", enc(request_id));
            let reply = api
                .send(
                    Dest::Chat,
                    ctx,
                    who(&op.actor),
                    &[Bucket::ChatSpaceProjectWrites, Bucket::ChatSpaceCreates],
                    |h| h.post(&url).json(space),
                )
                .await?;
            if !reply.ok() {
                return Err(rejected(&reply, "spaces.create"));
            }
            let v = reply.json();
            let name = v["name"].as_str().unwrap_or_default();
            if name.is_empty() {
                return Err(OpError::Rejected("spaces.create: the response has no space name".into()));
            }
            Ok(
                json!({"name": name, "importModeExpireTime": v["importModeExpireTime"], "createTime": v["createTime"]}),
            )
        }
        Action::ChatCreateMembership { membership } | Action::ChatAddMember { membership } => {
            let space = need_space(run, op)?;
            run.intent(op)?;
            let url = format!("{base}/v1/{space}/members");
            let reply = api
                .send(Dest::Chat, ctx, who(&op.actor), &[Bucket::ChatMembershipWrites], |h| {
                    h.post(&url).json(membership)
                })
                .await?;
            match reply.status {
                200..=299 => {
                    let v = reply.json();
                    Ok(json!({"name": v["name"], "member": v["member"]["name"]}))
                }
                // A current member after completion: one membership per user, so it exists.
                409 if matches!(op.action, Action::ChatAddMember { .. }) => {
                    Ok(json!({"name": Value::Null, "reconciled": true}))
                }
                // A historical membership: ours only if the user's membership carries the
                // planned times (Chat may keep one membership per user, and the plan can
                // hold several intervals for one user).
                409 => historical_membership_exists(run, ctx, op, &space, membership).await,
                _ => Err(rejected(&reply, "spaces.members.create")),
            }
        }
        Action::ChatUploadAttachment { blob } => {
            let space = need_space(run, op)?;
            let canonical = run
                .canonical
                .as_ref()
                .ok_or_else(|| OpError::Rejected("no canonical directory to read blobs from".into()))?;
            let bytes = crate::plan_dir::read_blob(canonical, blob, &op.id.0).await?;
            run.intent(op)?;
            let boundary = format!("chatport-{}", &blob.sha256.get(..16).unwrap_or("boundary"));
            let mut body = Vec::with_capacity(bytes.len() + 512);
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{}\r\n--{boundary}\r\nContent-Type: {}\r\n\r\n",
                    json!({"filename": blob.filename}),
                    blob.content_type
                )
                .as_bytes(),
            );
            body.extend_from_slice(&bytes);
            body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            // Shared, so a retry does not copy the (up to 200 MB) body again.
            let body = bytes::Bytes::from(body);
            let url = format!("{base}/upload/v1/{space}/attachments:upload?uploadType=multipart");
            let ctype = format!("multipart/related; boundary={boundary}");
            let reply = api
                .send(
                    Dest::Chat,
                    ctx,
                    who(&op.actor),
                    &[Bucket::ChatSpaceWrites, Bucket::ChatAttachmentWrites],
                    |h| h.post(&url).header("content-type", ctype.as_str()).body(body.clone()),
                )
                .await?;
            if !reply.ok() {
                return Err(rejected(&reply, "media.upload"));
            }
            let v = reply.json();
            if !v["attachmentDataRef"].is_object() {
                return Err(OpError::Rejected("media.upload: the response has no attachmentDataRef".into()));
            }
            Ok(json!({"attachmentDataRef": v["attachmentDataRef"]}))
        }
        Action::ChatCreateMessage { message_id, reply_option, message, attachments } => {
            let space = need_space(run, op)?;
            let mut body = message.clone();
            let mut used_tokens = false;
            if !attachments.is_empty() {
                let mut refs = Vec::new();
                for a in attachments {
                    let r = need_result(run, &a.0)?;
                    used_tokens |= r["attachmentDataRef"].get("attachmentUploadToken").is_none();
                    refs.push(json!({"attachmentDataRef": r["attachmentDataRef"]}));
                }
                body["attachment"] = Value::Array(refs);
            }
            if used_tokens {
                // Upload tokens are dropped only once their message exists: it does.
                return existing_message(run, ctx, &space, message_id).await;
            }
            // A reply sent before its thread's first message would open the thread
            // itself (REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD), and the root would then land
            // inside it: held back until the root is created.
            if let Some(key) = message["thread"]["threadKey"].as_str() {
                let root = run.plan.container(&op.container).and_then(|c| c.thread_root(key));
                if let Some(root) = root.filter(|r| *r != op.id.0) {
                    if run.result_of(root)?.is_none() {
                        return Err(OpError::Unsettled(format!(
                            "thread root {root} is not created; this reply is held back so it does not open the thread (run again once the root is done)"
                        )));
                    }
                }
            }
            run.intent(op)?;
            let mut url = format!("{base}/v1/{space}/messages?messageId={}", enc(message_id));
            if let Some(r) = reply_option {
                url.push_str(&format!("&messageReplyOption={}", enc(r)));
            }
            let reply = api
                .send(
                    Dest::Chat,
                    ctx,
                    who(&op.actor),
                    &[Bucket::ChatSpaceWrites, Bucket::ChatMessageWrites],
                    |h| h.post(&url).json(&body),
                )
                .await?;
            let result = match reply.status {
                200..=299 => message_result(&reply.json()),
                // Our client id exists: an earlier attempt or run created it.
                409 => existing_message(run, ctx, &space, message_id).await?,
                _ => return Err(rejected(&reply, "spaces.messages.create")),
            };
            forget_upload_tokens(run, op, attachments)?;
            Ok(result)
        }
        Action::ChatCreateReaction { message, emoji } => {
            let target = need_result(run, &message.0)?;
            let name = target["name"]
                .as_str()
                .ok_or_else(|| OpError::Rejected(format!("message {} has no name", message.0)))?
                .to_string();
            run.intent(op)?;
            let url = format!("{base}/v1/{name}/reactions");
            let body = json!({"emoji": emoji});
            let reply = api
                .send(
                    Dest::Chat,
                    ctx,
                    who(&op.actor),
                    &[Bucket::ChatSpaceWrites, Bucket::ChatReactionWrites],
                    |h| h.post(&url).json(&body),
                )
                .await?;
            match reply.status {
                200..=299 => {
                    let v = reply.json();
                    Ok(json!({"name": v["name"], "user": v["user"]["name"]}))
                }
                409 => Ok(json!({"name": Value::Null, "reconciled": true})),
                _ => Err(rejected(&reply, "spaces.messages.reactions.create")),
            }
        }
        Action::ChatCompleteImport => {
            let space = need_space(run, op)?;
            run.intent(op)?;
            let url = format!("{base}/v1/{space}:completeImport");
            let reply = api
                .send(Dest::Chat, ctx, who(&op.actor), &[Bucket::ChatSpaceProjectWrites], |h| {
                    h.post(&url).json(&json!({}))
                })
                .await?;
            if reply.ok() {
                return Ok(json!({"completed": true}));
            }
            // A space this load created in import mode that is "not in import mode" was
            // completed by an earlier attempt whose answer was lost (an expired one is
            // gone: 404). App auth cannot read a completed space the app is no member of.
            if reply.status == 400 && reply.json()["error"]["status"].as_str() == Some("FAILED_PRECONDITION")
            {
                return Ok(json!({"completed": true, "reconciled": true}));
            }
            Err(rejected(&reply, "spaces.completeImport"))
        }
        other => Err(OpError::Rejected(format!("{} is not a Chat action", other.name()))),
    }
}

/// After `ALREADY_EXISTS` on a historical membership: lists the space's memberships (as
/// the importer, the authentication `spaces.members.list` takes in import mode) and
/// accepts one as this operation's only when it carries the planned deleteTime, and
/// createTime when the plan sets one (microsecond times), and is not the recorded
/// membership of another plan user. Otherwise the operation is rejected: the user's one
/// membership has another interval.
async fn historical_membership_exists(
    run: &Run,
    ctx: Ctx<'_>,
    op: &Operation,
    space: &str,
    membership: &Value,
) -> Result<Value, OpError> {
    let base = run.opts.endpoints.chat.trim_end_matches('/');
    let member = membership["member"]["name"].as_str().unwrap_or_default();
    let time = |v: &Value, f: &str| v[f].as_str().and_then(chatport_model::ts::parse_rfc3339);
    let others = other_users_memberships(run, op, member)?;
    let mut page: Option<String> = None;
    loop {
        let url = match &page {
            Some(t) => format!("{base}/v1/{space}/members?pageSize=1000&pageToken={}", enc(t)),
            None => format!("{base}/v1/{space}/members?pageSize=1000"),
        };
        let reply =
            run.api.send(Dest::Chat, ctx, who(&op.actor), &[Bucket::ChatReads], |h| h.get(&url)).await?;
        if !reply.ok() {
            return Err(rejected(&reply, "spaces.members.list after ALREADY_EXISTS"));
        }
        let v = reply.json();
        for have in v["memberships"].as_array().into_iter().flatten() {
            let same_delete = time(have, "deleteTime").is_some()
                && time(have, "deleteTime") == time(membership, "deleteTime");
            let same_create = membership.get("createTime").is_none()
                || time(have, "createTime") == time(membership, "createTime");
            let name = have["member"]["name"].as_str().unwrap_or_default();
            let someone_else = others.iter().any(|o| o == name);
            if same_delete && same_create && !someone_else {
                return Ok(json!({"name": have["name"], "member": name, "reconciled": true}));
            }
        }
        match v["nextPageToken"].as_str().filter(|t| !t.is_empty()) {
            Some(t) => page = Some(t.to_string()),
            None => break,
        }
    }
    Err(OpError::Rejected(format!(
        "spaces.members.create: {member} already has a membership in {space}, and none with the planned interval ({} to {}); Chat keeps one membership per user, so this interval cannot be imported separately",
        membership["createTime"].as_str().unwrap_or("unset"),
        membership["deleteTime"].as_str().unwrap_or("unset"),
    )))
}

/// Destination member names (`users/…`) recorded for the done memberships of other plan
/// users in the same container.
fn other_users_memberships(run: &Run, op: &Operation, member: &str) -> Result<Vec<String>, OpError> {
    let Some(c) = run.plan.container(&op.container) else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for o in &c.ops {
        let Action::ChatCreateMembership { membership } = &o.action else { continue };
        if membership["member"]["name"].as_str() == Some(member) {
            continue;
        }
        if let Some(r) = run.result_of(&o.id.0)? {
            if let Some(m) = r["member"].as_str() {
                out.push(m.to_string());
            }
        }
    }
    Ok(out)
}

/// Reads a message this load created (by its client id, app auth as import mode
/// allows) and returns it as the operation's result.
async fn existing_message(run: &Run, ctx: Ctx<'_>, space: &str, message_id: &str) -> Result<Value, OpError> {
    let base = run.opts.endpoints.chat.trim_end_matches('/');
    let get = format!("{base}/v1/{space}/messages/{message_id}");
    let found = run.api.send(Dest::Chat, ctx, As::GoogleApp, &[Bucket::ChatReads], |h| h.get(&get)).await?;
    if !found.ok() {
        return Err(rejected(&found, "spaces.messages.get after ALREADY_EXISTS"));
    }
    tracing::debug!(operation = ctx.op, "message already existed; reconciled");
    let mut r = message_result(&found.json());
    r["reconciled"] = json!(true);
    Ok(r)
}

/// Drops the `attachmentUploadToken`s of a message's uploads from the state store once
/// the message exists: they are capability tokens, and the state store keeps no
/// credentials longer than needed. (A re-run that finds a dropped token knows the
/// message exists and reads it back instead of sending it.)
fn forget_upload_tokens(
    run: &Run,
    op: &Operation,
    attachments: &[chatport_model::plan::OperationId],
) -> Result<(), OpError> {
    for a in attachments {
        let Some(mut r) = run.result_of(&a.0)? else { continue };
        if let Some(dref) = r["attachmentDataRef"].as_object_mut() {
            if dref.remove("attachmentUploadToken").is_some() {
                run.state.record_done(&a.0, &op.container, "chat_upload_attachment", &r)?;
            }
        }
    }
    Ok(())
}

fn message_result(v: &Value) -> Value {
    json!({"name": v["name"], "thread": v["thread"]["name"], "createTime": v["createTime"], "sender": v["sender"]["name"]})
}
