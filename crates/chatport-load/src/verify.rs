//! `verify`: reads each destination container back and diffs it against the plan —
//! messages (by client id on Chat, by `createdDateTime` on Teams) with their thread and
//! create time, text, attachments and reactions, and Chat historical memberships — then
//! writes `verify.json` and one CSV per container that has missing, extra or different
//! items. Reads only; never changes the destination or the state store.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chatport_model::plan::{Action, Actor, ContainerKind, Destination};
use chatport_model::ts::parse_rfc3339;
use serde::Serialize;
use serde_json::Value;

use crate::error::LoadError;
use crate::exec::{OpError, Run};
use crate::http::{As, Ctx, Dest};
use crate::limits::Bucket;
use crate::options::VerifyOptions;
use crate::plan_dir::PlannedContainer;
use crate::state::OpStatus;

/// What kind of difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    /// In the plan, not at the destination.
    Missing,
    /// At the destination, not in the plan.
    Extra,
    /// At both, not the same.
    Different,
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// Missing, extra or different.
    pub kind: DiffKind,
    /// `container`, `message`, `reaction`, `membership`, `attachment`.
    pub item: String,
    /// The plan operation, when there is one.
    pub operation: Option<String>,
    /// The destination resource, when there is one.
    pub destination: Option<String>,
    /// What differs.
    pub detail: String,
}

/// The verification of one container.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerVerify {
    /// Container id.
    pub container: String,
    /// Destination name (space, channel or team id) when created.
    pub destination: Option<String>,
    /// Messages expected by the plan.
    pub expected_messages: u64,
    /// Messages found.
    pub found_messages: u64,
    /// Differences.
    pub differences: Vec<Difference>,
    /// True when there are no differences.
    pub clean: bool,
}

/// The result of `verify`.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// Destination of the plan.
    pub destination: String,
    /// Per container, in plan order.
    pub containers: Vec<ContainerVerify>,
    /// True when every container is clean.
    pub clean: bool,
    /// Files written (verify.json and CSVs).
    pub files: Vec<PathBuf>,
}

impl VerifyReport {
    /// Whether this container verified clean.
    pub fn is_clean(&self, container: &str) -> bool {
        self.containers.iter().any(|c| c.container == container && c.clean)
    }
}

/// Verifies a loaded plan (see the module docs).
pub async fn verify(
    plan_dir: &Path,
    state_db: &Path,
    opts: &VerifyOptions,
) -> Result<VerifyReport, LoadError> {
    let run = Run::open(plan_dir, None, state_db, &opts.client)?;
    run.preflight().await?;
    verify_with(&run, &opts.out_dir).await
}

/// Verifies with an open run and writes the report files into `out_dir`.
pub async fn verify_with(run: &Run, out_dir: &Path) -> Result<VerifyReport, LoadError> {
    let mut containers = Vec::new();
    for c in &run.plan.containers {
        let v = match run.plan.manifest.destination {
            Destination::Chat => verify_space(run, c).await,
            Destination::Teams => match c.container.kind {
                ContainerKind::TeamsTeam => verify_team(run, c).await,
                _ => verify_channel(run, c).await,
            },
        };
        let mut v = match v {
            Ok(v) => v,
            Err(OpError::Fatal(e)) => {
                return Err(
                    std::sync::Arc::try_unwrap(e).unwrap_or_else(|e| LoadError::Options(e.to_string()))
                )
            }
            Err(e) => ContainerVerify {
                container: c.container.id.clone(),
                destination: None,
                expected_messages: 0,
                found_messages: 0,
                differences: vec![Difference {
                    kind: DiffKind::Different,
                    item: "container".into(),
                    operation: None,
                    destination: None,
                    detail: format!("could not read the container back: {}", e.message()),
                }],
                clean: false,
            },
        };
        v.clean = v.differences.is_empty();
        containers.push(v);
    }
    let clean = containers.iter().all(|c| c.clean);
    let mut report = VerifyReport {
        destination: run.plan.manifest.destination.as_str().to_string(),
        containers,
        clean,
        files: Vec::new(),
    };
    write_files(&mut report, out_dir)?;
    Ok(report)
}

fn write_files(report: &mut VerifyReport, out_dir: &Path) -> Result<(), LoadError> {
    let out_err = |path: &Path, e: String| LoadError::Output { path: path.to_path_buf(), detail: e };
    std::fs::create_dir_all(out_dir).map_err(|e| out_err(out_dir, e.to_string()))?;
    for c in &report.containers {
        if c.differences.is_empty() {
            continue;
        }
        let safe: String = c
            .container
            .chars()
            .map(|ch| if ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' { ch } else { '_' })
            .collect();
        let path = out_dir.join(format!("verify-{safe}.csv"));
        let mut w = csv::Writer::from_path(&path).map_err(|e| out_err(&path, e.to_string()))?;
        w.write_record(["kind", "item", "operation", "destination", "detail"])
            .map_err(|e| out_err(&path, e.to_string()))?;
        for d in &c.differences {
            let kind = match d.kind {
                DiffKind::Missing => "missing",
                DiffKind::Extra => "extra",
                DiffKind::Different => "different",
            };
            w.write_record([
                kind,
                &d.item,
                d.operation.as_deref().unwrap_or(""),
                d.destination.as_deref().unwrap_or(""),
                &d.detail,
            ])
            .map_err(|e| out_err(&path, e.to_string()))?;
        }
        w.flush().map_err(|e| out_err(&path, e.to_string()))?;
        report.files.push(path);
    }
    let path = out_dir.join("verify.json");
    report.files.insert(0, path.clone());
    let text = serde_json::to_string_pretty(&report).map_err(|e| out_err(&path, e.to_string()))?;
    std::fs::write(&path, text).map_err(|e| out_err(&path, e.to_string()))?;
    Ok(())
}

fn diff(kind: DiffKind, item: &str, op: Option<&str>, dest: Option<&str>, detail: String) -> Difference {
    Difference {
        kind,
        item: item.into(),
        operation: op.map(str::to_string),
        destination: dest.map(str::to_string),
        detail,
    }
}

fn not_created(c: &PlannedContainer, what: &str) -> ContainerVerify {
    let expected = c
        .ops
        .iter()
        .filter(|o| matches!(o.action, Action::ChatCreateMessage { .. } | Action::TeamsPostMessage { .. }))
        .count() as u64;
    ContainerVerify {
        container: c.container.id.clone(),
        destination: None,
        expected_messages: expected,
        found_messages: 0,
        differences: vec![diff(
            DiffKind::Missing,
            "container",
            None,
            None,
            format!("the {what} was not created"),
        )],
        clean: false,
    }
}

fn micros(v: &Value) -> Option<i64> {
    v.as_str().and_then(parse_rfc3339)
}

async fn chat_list(
    run: &Run,
    ctx: Ctx<'_>,
    who: &str,
    url: &str,
    field: &str,
) -> Result<Vec<Value>, OpError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let u = match &token {
            Some(t) => format!("{url}&pageToken={}", crate::chat::enc(t)),
            None => url.to_string(),
        };
        let reply =
            run.api.send(Dest::Chat, ctx, As::GoogleUser(who), &[Bucket::ChatReads], |h| h.get(&u)).await?;
        if !reply.ok() {
            return Err(OpError::Rejected(format!("list {field}: {}", reply.error_text())));
        }
        let v = reply.json();
        if let Some(items) = v[field].as_array() {
            out.extend(items.iter().cloned());
        }
        match v["nextPageToken"].as_str().filter(|t| !t.is_empty()) {
            Some(t) => token = Some(t.to_string()),
            None => return Ok(out),
        }
    }
}

async fn verify_space(run: &Run, c: &PlannedContainer) -> Result<ContainerVerify, OpError> {
    let id = c.container.id.as_str();
    let Some(space) = crate::chat::space_of(run, id)? else { return Ok(not_created(c, "space")) };
    let reader = c
        .ops
        .iter()
        .find_map(|o| match (&o.action, &o.actor) {
            (Action::ChatCreateSpace { .. }, Actor::User { id }) => Some(id.clone()),
            _ => None,
        })
        .ok_or_else(|| OpError::Rejected("no user created the space; cannot read it back".into()))?;
    let ctx = Ctx { container: id, op: "verify" };
    let base = run.opts.endpoints.chat.trim_end_matches('/');
    let listed =
        chat_list(run, ctx, &reader, &format!("{base}/v1/{space}/messages?pageSize=1000"), "messages")
            .await?;
    let mut by_client: HashMap<String, &Value> = HashMap::new();
    let mut diffs = Vec::new();
    for m in &listed {
        match m["clientAssignedMessageId"].as_str() {
            Some(cid) => {
                by_client.insert(cid.to_string(), m);
            }
            None => diffs.push(diff(
                DiffKind::Extra,
                "message",
                None,
                m["name"].as_str(),
                "message without a client id".into(),
            )),
        }
    }
    let mut expected_ids = std::collections::HashSet::new();
    let mut reactions: HashMap<String, BTreeMap<String, u64>> = HashMap::new();
    for op in &c.ops {
        if let Action::ChatCreateReaction { message, emoji } = &op.action {
            let key = emoji["unicode"].as_str().map(str::to_string).unwrap_or_else(|| emoji.to_string());
            *reactions.entry(message.0.clone()).or_default().entry(key).or_insert(0) += 1;
        }
    }
    let mut thread_of_group: HashMap<String, String> = HashMap::new();
    let mut group_of_thread: HashMap<String, String> = HashMap::new();
    let mut expected_messages = 0;
    for op in &c.ops {
        let Action::ChatCreateMessage { message_id, message, attachments, .. } = &op.action else { continue };
        expected_messages += 1;
        expected_ids.insert(message_id.clone());
        let opid = Some(op.id.0.as_str());
        let Some(found) = by_client.get(message_id) else {
            diffs.push(diff(DiffKind::Missing, "message", opid, None, format!("{message_id} not found")));
            continue;
        };
        let name = found["name"].as_str();
        if micros(&message["createTime"]) != micros(&found["createTime"]) {
            diffs.push(diff(
                DiffKind::Different,
                "message",
                opid,
                name,
                format!("createTime {} != planned {}", found["createTime"], message["createTime"]),
            ));
        }
        if message["text"].as_str().unwrap_or("") != found["text"].as_str().unwrap_or("") {
            diffs.push(diff(DiffKind::Different, "message", opid, name, "text differs".into()));
        }
        let n_att = found["attachment"].as_array().map_or(0, Vec::len);
        if n_att != attachments.len() {
            diffs.push(diff(
                DiffKind::Different,
                "attachment",
                opid,
                name,
                format!("{n_att} attachments, planned {}", attachments.len()),
            ));
        }
        let group = message["thread"]["threadKey"]
            .as_str()
            .map(|k| format!("key:{k}"))
            .unwrap_or_else(|| format!("op:{}", op.id));
        let thread = found["thread"]["name"].as_str().unwrap_or_default().to_string();
        match thread_of_group.get(&group) {
            Some(t) if *t != thread => diffs.push(diff(
                DiffKind::Different,
                "message",
                opid,
                name,
                format!("in thread {thread}, expected {t}"),
            )),
            Some(_) => {}
            None => {
                if let Some(g) = group_of_thread.get(&thread) {
                    diffs.push(diff(
                        DiffKind::Different,
                        "message",
                        opid,
                        name,
                        format!("shares thread {thread} with {g}"),
                    ));
                }
                thread_of_group.insert(group.clone(), thread.clone());
                group_of_thread.insert(thread, group);
            }
        }
        let mut found_reactions: BTreeMap<String, u64> = BTreeMap::new();
        for s in found["emojiReactionSummaries"].as_array().into_iter().flatten() {
            let key =
                s["emoji"]["unicode"].as_str().map(str::to_string).unwrap_or_else(|| s["emoji"].to_string());
            *found_reactions.entry(key).or_insert(0) += s["reactionCount"].as_u64().unwrap_or(0);
        }
        let want = reactions.remove(&op.id.0).unwrap_or_default();
        if want != found_reactions {
            diffs.push(diff(
                DiffKind::Different,
                "reaction",
                opid,
                name,
                format!("reactions {found_reactions:?}, planned {want:?}"),
            ));
        }
    }
    for (cid, m) in &by_client {
        if !expected_ids.contains(cid) {
            diffs.push(diff(
                DiffKind::Extra,
                "message",
                None,
                m["name"].as_str(),
                format!("{cid} is not in the plan"),
            ));
        }
    }
    // Historical memberships are listed only while the space is in import mode.
    let completed = c.ops.iter().any(|o| {
        matches!(o.action, Action::ChatCompleteImport)
            && run.state.get(&o.id.0).ok().flatten().is_some_and(|r| r.status == OpStatus::Done)
    });
    if !completed {
        let members =
            chat_list(run, ctx, &reader, &format!("{base}/v1/{space}/members?pageSize=1000"), "memberships")
                .await?;
        let mut found: Vec<(Option<i64>, Option<i64>)> = members
            .iter()
            .filter(|m| m["deleteTime"].is_string())
            .map(|m| (micros(&m["createTime"]), micros(&m["deleteTime"])))
            .collect();
        for op in &c.ops {
            let Action::ChatCreateMembership { membership } = &op.action else { continue };
            let delete = micros(&membership["deleteTime"]);
            let create = micros(&membership["createTime"]).or(delete.map(|d| d - 1));
            match found.iter().position(|f| *f == (create, delete)) {
                Some(i) => {
                    found.swap_remove(i);
                }
                None => diffs.push(diff(
                    DiffKind::Missing,
                    "membership",
                    Some(&op.id.0),
                    None,
                    format!("historical membership of {} not found", membership["member"]["name"]),
                )),
            }
        }
        for f in found {
            diffs.push(diff(
                DiffKind::Extra,
                "membership",
                None,
                None,
                format!("historical membership {f:?} is not in the plan"),
            ));
        }
    }
    Ok(ContainerVerify {
        container: id.to_string(),
        destination: Some(space),
        expected_messages,
        found_messages: listed.len() as u64,
        differences: diffs,
        clean: false,
    })
}

async fn verify_team(run: &Run, c: &PlannedContainer) -> Result<ContainerVerify, OpError> {
    let id = c.container.id.as_str();
    let Some(team) = crate::teams::team_of(run, id)? else { return Ok(not_created(c, "team")) };
    let graph = run.opts.endpoints.graph.trim_end_matches('/');
    let url = format!("{graph}/teams/{team}");
    let ctx = Ctx { container: id, op: "verify" };
    let reply = run.api.send(Dest::Graph, ctx, As::Graph, &[Bucket::GraphOther], |h| h.get(&url)).await?;
    let mut diffs = Vec::new();
    if !reply.ok() {
        diffs.push(diff(DiffKind::Missing, "container", None, Some(&team), reply.error_text()));
    }
    Ok(ContainerVerify {
        container: id.into(),
        destination: Some(team),
        expected_messages: 0,
        found_messages: 0,
        differences: diffs,
        clean: false,
    })
}

struct Found {
    id: String,
    parent: Option<i64>,
    from: Option<String>,
    attachments: usize,
    hosted: usize,
    content: String,
}

async fn verify_channel(run: &Run, c: &PlannedContainer) -> Result<ContainerVerify, OpError> {
    let id = c.container.id.as_str();
    let Some((team, channel)) = crate::teams::channel_of(run, id)? else {
        return Ok(not_created(c, "channel"));
    };
    let graph = run.opts.endpoints.graph.trim_end_matches('/');
    let ctx = Ctx { container: id, op: "verify" };
    let roots = crate::teams::list_all(
        run,
        ctx,
        &format!("{graph}/teams/{team}/channels/{channel}/messages?$top=50"),
        Bucket::GraphGetMessage,
    )
    .await?;
    let ms = |v: &Value| micros(v).map(|m| m.div_euclid(1000));
    let mut found: BTreeMap<i64, Found> = BTreeMap::new();
    let mut diffs = Vec::new();
    let describe = |m: &Value, parent: Option<i64>| Found {
        id: m["id"].as_str().unwrap_or_default().to_string(),
        parent,
        from: m["from"]["user"]["id"].as_str().map(str::to_string),
        attachments: m["attachments"].as_array().map_or(0, Vec::len),
        hosted: m["body"]["content"].as_str().map_or(0, |c| c.matches("/hostedContents/").count()),
        content: m["body"]["content"].as_str().unwrap_or_default().to_string(),
    };
    for r in &roots {
        let Some(t) = ms(&r["createdDateTime"]) else { continue };
        let rid = r["id"].as_str().unwrap_or_default();
        let replies = crate::teams::list_all(
            run,
            ctx,
            &format!("{graph}/teams/{team}/channels/{channel}/messages/{rid}/replies?$top=50"),
            Bucket::GraphGetMessage,
        )
        .await?;
        for rep in &replies {
            if let Some(rt) = ms(&rep["createdDateTime"]) {
                if found.insert(rt, describe(rep, Some(t))).is_some() {
                    diffs.push(diff(
                        DiffKind::Extra,
                        "message",
                        None,
                        rep["id"].as_str(),
                        "two messages share a createdDateTime".into(),
                    ));
                }
            }
        }
        if found.insert(t, describe(r, None)).is_some() {
            diffs.push(diff(
                DiffKind::Extra,
                "message",
                None,
                Some(rid),
                "two messages share a createdDateTime".into(),
            ));
        }
    }
    let found_count = found.len() as u64;
    let mut times: HashMap<&str, i64> = HashMap::new();
    let mut expected = 0;
    for op in &c.ops {
        let Action::TeamsPostMessage { reply_to, message, hosted_contents, files } = &op.action else {
            continue;
        };
        expected += 1;
        let opid = Some(op.id.0.as_str());
        let Some(t) = ms(&message["createdDateTime"]) else { continue };
        times.insert(op.id.0.as_str(), t);
        let Some(f) = found.remove(&t) else {
            diffs.push(diff(
                DiffKind::Missing,
                "message",
                opid,
                None,
                format!("no message at {}", message["createdDateTime"]),
            ));
            continue;
        };
        let dest = Some(f.id.as_str());
        let want_parent = reply_to.as_ref().and_then(|p| times.get(p.0.as_str()).copied());
        if f.parent != want_parent {
            diffs.push(diff(
                DiffKind::Different,
                "message",
                opid,
                dest,
                format!("thread parent {:?}, planned {:?}", f.parent, want_parent),
            ));
        }
        if f.from.as_deref() != message["from"]["user"]["id"].as_str() {
            diffs.push(diff(DiffKind::Different, "message", opid, dest, format!("from {:?}", f.from)));
        }
        if f.attachments != files.len() {
            diffs.push(diff(
                DiffKind::Different,
                "attachment",
                opid,
                dest,
                format!("{} attachments, planned {}", f.attachments, files.len()),
            ));
        }
        if f.hosted != hosted_contents.len() {
            diffs.push(diff(
                DiffKind::Different,
                "attachment",
                opid,
                dest,
                format!("{} inline images, planned {}", f.hosted, hosted_contents.len()),
            ));
        }
        if files.is_empty()
            && hosted_contents.is_empty()
            && f.content != message["body"]["content"].as_str().unwrap_or_default()
        {
            diffs.push(diff(DiffKind::Different, "message", opid, dest, "body differs".into()));
        }
    }
    for f in found.values() {
        diffs.push(diff(DiffKind::Extra, "message", None, Some(&f.id), "not in the plan".into()));
    }
    Ok(ContainerVerify {
        container: id.into(),
        destination: Some(channel),
        expected_messages: expected,
        found_messages: found_count,
        differences: diffs,
        clean: false,
    })
}
