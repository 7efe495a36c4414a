//! `complete`: ends import/migration mode and adds the current members, only for
//! containers that verified clean (unless forced). Chat: `completeImport` then the
//! members of each space. Teams: every eligible channel of a team, General last and only
//! when the others are complete, then the team (only when all its channels are
//! complete), then its members. Also warns about Chat spaces
//! close to `importModeExpireTime`, after which Google deletes them.

use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use chatport_model::plan::{Action, ContainerKind, Destination};
use serde::Serialize;

use crate::error::LoadError;
use crate::exec::{completion_ops, finish_summary, run_completion, LoadSummary, Run};
use crate::options::CompleteOptions;
use crate::state::OpStatus;

/// What `complete` did.
#[derive(Debug, Clone, Serialize)]
pub struct CompleteSummary {
    /// Containers whose completion operations all got done.
    pub completed: Vec<String>,
    /// Containers left alone, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Operation counts and failures.
    pub operations: LoadSummary,
    /// Spaces close to (or past) their import-mode deadline.
    pub expiry_warnings: Vec<String>,
}

/// Completes a verified load (see the module docs).
pub async fn complete(
    plan_dir: &Path,
    state_db: &Path,
    opts: &CompleteOptions,
) -> Result<CompleteSummary, LoadError> {
    let started = Instant::now();
    let run = Run::open(plan_dir, None, state_db, &opts.client)?;
    run.preflight().await?;
    let report =
        if opts.force { None } else { Some(crate::verify::verify_with(&run, &opts.verify_out).await?) };
    // A container completed by an earlier run that stopped before adding every member
    // differs only by those members: finishing them is what this run is for.
    let eligible = |id: &str| report.as_ref().is_none_or(|r| r.is_clean_but_members(id));
    let mut out = CompleteSummary {
        completed: Vec::new(),
        skipped: Vec::new(),
        operations: LoadSummary::default(),
        expiry_warnings: Vec::new(),
    };
    let tally = |out: &mut CompleteSummary,
                 id: &str,
                 (done, already, failures): (u64, u64, Vec<crate::exec::OpFailure>)| {
        out.operations.done += done;
        out.operations.already_done += already;
        out.operations.operations += done + already + failures.len() as u64;
        if failures.is_empty() {
            out.completed.push(id.to_string());
        }
        out.operations.failures.extend(failures);
    };
    match run.plan.manifest.destination {
        Destination::Chat => {
            for c in &run.plan.containers {
                let id = c.container.id.as_str();
                expiry_warning(&run, c, opts, &mut out.expiry_warnings)?;
                if !eligible(id) {
                    out.skipped.push((id.to_string(), "did not verify clean".into()));
                    continue;
                }
                let ops = completion_ops(c);
                let r = run_completion(&run, id, &ops).await?;
                tally(&mut out, id, r);
            }
        }
        Destination::Teams => {
            for team in run.plan.containers.iter().filter(|c| c.container.kind == ContainerKind::TeamsTeam) {
                let tid = team.container.id.as_str();
                // General last, and only once every other channel is complete: Graph
                // marks the team as migrated when General completes, after which no
                // channel can be created in migration mode (a re-run could not add a
                // channel that failed to load).
                let (general, mut channels): (Vec<_>, Vec<_>) = run
                    .plan
                    .containers
                    .iter()
                    .filter(|c| c.container.parent.as_deref() == Some(tid))
                    .partition(|c| crate::teams::is_general_container(c));
                channels.extend(general);
                let mut all_channels = true;
                for ch in &channels {
                    let cid = ch.container.id.as_str();
                    if crate::teams::is_general_container(ch) && !all_channels {
                        out.skipped.push((
                            cid.to_string(),
                            "General completes only after every other channel of its team (completing it closes the team to new migration channels)".into(),
                        ));
                        continue;
                    }
                    if !eligible(cid) {
                        out.skipped.push((cid.to_string(), "did not verify clean".into()));
                        all_channels = false;
                        continue;
                    }
                    let ops = completion_ops(ch);
                    let r = run_completion(&run, cid, &ops).await?;
                    if !r.2.is_empty() {
                        all_channels = false;
                    }
                    tally(&mut out, cid, r);
                }
                if !all_channels {
                    out.skipped.push((tid.to_string(), "not every channel of the team is complete".into()));
                    continue;
                }
                if !eligible(tid) {
                    out.skipped.push((tid.to_string(), "did not verify clean".into()));
                    continue;
                }
                let ops = completion_ops(team);
                let r = run_completion(&run, tid, &ops).await?;
                tally(&mut out, tid, r);
            }
        }
    }
    out.operations.containers = run.plan.containers.len() as u64;
    out.operations = finish_summary(&run, out.operations, started);
    for w in &out.expiry_warnings {
        tracing::warn!("{w}");
    }
    Ok(out)
}

fn expiry_warning(
    run: &Run,
    c: &crate::plan_dir::PlannedContainer,
    opts: &CompleteOptions,
    warnings: &mut Vec<String>,
) -> Result<(), LoadError> {
    let mut expire = None;
    let mut completed = false;
    for op in &c.ops {
        match op.action {
            Action::ChatCreateSpace { .. } => {
                expire = run.result_of(&op.id.0)?.and_then(|r| {
                    r["importModeExpireTime"].as_str().and_then(chatport_model::ts::parse_rfc3339)
                });
            }
            Action::ChatCompleteImport => {
                completed = run.state.get(&op.id.0)?.is_some_and(|r| r.status == OpStatus::Done);
            }
            _ => {}
        }
    }
    let (Some(expire), false) = (expire, completed) else { return Ok(()) };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0);
    let left = expire - now;
    if left < opts.expiry_warning.as_micros() as i64 {
        let hours = left as f64 / 3.6e9;
        warnings.push(format!(
            "space of container {} leaves import mode at {} ({hours:.1} h from now); Google deletes it then unless completeImport succeeds",
            c.container.id,
            chatport_model::ts::format_rfc3339(expire, 0)
        ));
    }
    Ok(())
}
