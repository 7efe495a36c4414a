//! The executor: walks a plan's containers in parallel (bounded) and each container's
//! operations strictly in order, skipping what the state store says is done, recording
//! intent before and the result after every operation, and collecting failures without
//! stopping. Destination specifics live in [`crate::chat`] and [`crate::teams`]; this module
//! only schedules, records and reports.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chatport_model::plan::{Action, ContainerKind, Destination, Operation};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{watch, Semaphore};

use crate::auth::{Credentials, GoogleAuth, MicrosoftAuth};
use crate::error::LoadError;
use crate::http::{Api, CallError};
use crate::options::{ClientOptions, LoadOptions};
use crate::plan_dir::{Plan, PlannedContainer};
use crate::progress::OpOutcome;
use crate::state::{OpRecord, OpStatus, StateStore};

/// Why one operation did not get done.
#[derive(Debug, Clone)]
pub enum OpError {
    /// The destination refused it (recorded as failed; a re-run tries again).
    Rejected(String),
    /// Retries ran out on transient failures; it may or may not have been applied (the
    /// intent stays recorded, so a re-run reconciles before re-sending).
    Unsettled(String),
    /// A problem no operation can get past (credentials, state store).
    Fatal(Arc<LoadError>),
}

impl OpError {
    /// The message for reports.
    pub fn message(&self) -> String {
        match self {
            OpError::Rejected(m) | OpError::Unsettled(m) => m.clone(),
            OpError::Fatal(e) => e.to_string(),
        }
    }
}

impl From<CallError> for OpError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Token(t) if t.user_specific => OpError::Rejected(t.to_string()),
            // An outage that outlasted the retries: this operation waits for a re-run,
            // the others go on.
            CallError::Token(t) if crate::http::token_outage(&t) => OpError::Unsettled(t.to_string()),
            CallError::Token(t) => OpError::Fatal(Arc::new(t.into_load_error())),
            CallError::GaveUp { .. } => OpError::Unsettled(e.to_string()),
        }
    }
}

impl From<LoadError> for OpError {
    fn from(e: LoadError) -> Self {
        OpError::Fatal(Arc::new(e))
    }
}

/// One operation that did not get done.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OpFailure {
    /// Container id.
    pub container: String,
    /// Operation id.
    pub operation: String,
    /// Action name (`chat_create_message`…).
    pub action: String,
    /// `rejected`, `unsettled` or `blocked`.
    pub kind: String,
    /// The server's message (or what blocked it).
    pub message: String,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadSummary {
    /// Containers walked.
    pub containers: u64,
    /// Operations walked (completion operations excluded for `load`).
    pub operations: u64,
    /// Operations done in this run.
    pub done: u64,
    /// Operations already done by an earlier run.
    pub already_done: u64,
    /// Operations that did not get done.
    pub failures: Vec<OpFailure>,
    /// Requests sent (attempts).
    pub requests: u64,
    /// Retries.
    pub retries: u64,
    /// Wall time, seconds.
    pub elapsed_secs: f64,
    /// Warnings (e.g. a team that could not be reconciled).
    pub warnings: Vec<String>,
    /// The estimate, for a dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<crate::dry_run::DryRunReport>,
}

impl LoadSummary {
    /// True when every operation is done.
    pub fn is_complete(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Shared state of one run.
pub struct Run {
    /// The plan.
    pub plan: Plan,
    /// Canonical directory (blobs).
    pub canonical: Option<PathBuf>,
    /// State store.
    pub state: StateStore,
    /// HTTP side.
    pub api: Api,
    /// Options.
    pub opts: ClientOptions,
    /// Warnings collected.
    pub warnings: Mutex<Vec<String>>,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("plan", &self.plan.dir)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Run {
    /// Opens the plan, the state store and the credentials the plan's destination needs.
    pub fn open(
        plan_dir: &Path,
        canonical: Option<&Path>,
        state_db: &Path,
        opts: &ClientOptions,
    ) -> Result<Run, LoadError> {
        let plan = Plan::read(plan_dir)?;
        let state = StateStore::open(state_db, &plan.identity())?;
        let http = crate::http::client()?;
        let mut creds = Credentials::default();
        match plan.manifest.destination {
            Destination::Chat => {
                let path = opts.google_key.as_ref().ok_or_else(|| {
                    LoadError::Options(
                        "a Chat plan needs a Google service-account key file (--google-key)".into(),
                    )
                })?;
                creds.google = Some(Arc::new(GoogleAuth::from_file(path, http.clone())?));
            }
            Destination::Teams => {
                let path = opts.microsoft_app.as_ref().ok_or_else(|| {
                    LoadError::Options(
                        "a Teams plan needs a Microsoft app credentials file (--microsoft-app)".into(),
                    )
                })?;
                creds.microsoft = Some(Arc::new(MicrosoftAuth::from_file(path, http.clone())?));
            }
        }
        let api = Api::new(http, creds, opts);
        Ok(Run {
            plan,
            canonical: canonical.map(Path::to_path_buf),
            state,
            api,
            opts: opts.clone(),
            warnings: Mutex::new(Vec::new()),
        })
    }

    /// The stored result of a done operation.
    pub fn result_of(&self, op_id: &str) -> Result<Option<Value>, LoadError> {
        Ok(self
            .state
            .get(op_id)?
            .filter(|r| r.status == OpStatus::Done)
            .map(|r| r.result.unwrap_or(Value::Null)))
    }

    /// Adds a warning to the summary (and the log).
    pub fn warn(&self, message: String) {
        tracing::warn!("{message}");
        match self.warnings.lock() {
            Ok(mut w) => w.push(message),
            Err(p) => p.into_inner().push(message),
        }
    }

    /// Checks the credentials work before anything is sent, so a bad key or missing
    /// delegation stops the run with one clear error.
    pub async fn preflight(&self) -> Result<(), LoadError> {
        if let Some(g) = &self.api.creds.google {
            self.outlast_outage(|| g.token(None, crate::auth::SCOPE_BOT)).await?;
            let importer = self.plan.containers.iter().flat_map(|c| c.ops.iter()).find_map(|o| {
                match (&o.action, &o.actor) {
                    (Action::ChatCreateSpace { .. }, chatport_model::plan::Actor::User { id }) => {
                        Some(id.clone())
                    }
                    _ => None,
                }
            });
            if let Some(user) = importer {
                self.outlast_outage(|| g.token(Some(&user), crate::auth::SCOPE_IMPORT)).await?;
            }
        }
        if let Some(m) = &self.api.creds.microsoft {
            let token = self.outlast_outage(|| m.token()).await?;
            for (role, why) in crate::teams::missing_graph_permissions(&token) {
                self.warn(format!("the app's token lacks the {role} application permission, used to {why}"));
            }
        }
        Ok(())
    }

    /// Fetches a token, waiting out an outage of the token endpoint (unreachable, 5xx,
    /// 429) with the retry policy's backoff; a refusal stops at once.
    async fn outlast_outage<F, Fut>(&self, fetch: F) -> Result<String, LoadError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<String, crate::auth::TokenError>>,
    {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match fetch().await {
                Ok(t) => return Ok(t),
                Err(e) if crate::http::token_outage(&e) && attempt < self.opts.retry.max_attempts => {
                    let exp = self.opts.retry.base_delay.saturating_mul(1 << attempt.min(16));
                    pause(exp.min(self.opts.retry.max_delay)).await;
                }
                Err(e) => return Err(e.into_load_error()),
            }
        }
    }

    /// Runs one operation with state bookkeeping: skip when done, record intent, execute,
    /// record the result or the failure.
    pub async fn run_op(&self, op: &Operation) -> Result<(Value, bool), OpError> {
        let prior = self.state.get(&op.id.0)?;
        if let Some(OpRecord { status: OpStatus::Done, result, .. }) = &prior {
            return Ok((result.clone().unwrap_or(Value::Null), true));
        }
        let outcome = match self.plan.manifest.destination {
            Destination::Chat => crate::chat::execute(self, op, prior.as_ref()).await,
            Destination::Teams => crate::teams::execute(self, op, prior.as_ref()).await,
        };
        match &outcome {
            Ok(result) => self.state.record_done(&op.id.0, &op.container, op.action.name(), result)?,
            Err(OpError::Rejected(m)) => {
                self.state.record_failed(&op.id.0, &op.container, op.action.name(), m)?;
            }
            Err(_) => {}
        }
        outcome.map(|v| (v, false))
    }

    /// Records intent for `op` (called by the destination modules right before sending).
    pub fn intent(&self, op: &Operation) -> Result<(), OpError> {
        self.state.record_intent(&op.id.0, &op.container, op.action.name()).map_err(OpError::from)
    }

    fn summary(&self, mut s: LoadSummary, started: Instant) -> LoadSummary {
        s.requests = self.api.stats.requests.load(Ordering::Relaxed);
        s.retries = self.api.stats.retries.load(Ordering::Relaxed);
        s.elapsed_secs = started.elapsed().as_secs_f64();
        s.warnings = match self.warnings.lock() {
            Ok(w) => w.clone(),
            Err(p) => p.into_inner().clone(),
        };
        s
    }
}

/// The operations of a container a phase walks.
fn phase_ops(c: &PlannedContainer, completion: bool) -> Vec<&Operation> {
    c.ops.iter().filter(|o| o.action.is_completion() == completion).collect()
}

/// Links from an operation to operations whose results it needs.
pub fn dependencies(op: &Operation) -> Vec<&str> {
    match &op.action {
        Action::ChatCreateMessage { attachments, .. } => attachments.iter().map(|a| a.0.as_str()).collect(),
        Action::ChatCreateReaction { message, .. } => vec![message.0.as_str()],
        Action::TeamsPostMessage { reply_to, files, .. } => {
            reply_to.iter().chain(files.iter()).map(|a| a.0.as_str()).collect()
        }
        _ => Vec::new(),
    }
}

/// Whether the operation creates (or adopts) its container.
pub fn is_container_create(op: &Operation) -> bool {
    matches!(
        op.action,
        Action::ChatCreateSpace { .. }
            | Action::TeamsCreateTeam { .. }
            | Action::TeamsCreateChannel { .. }
            | Action::TeamsUseGeneralChannel
    )
}

#[derive(Default)]
struct ContainerTally {
    done: u64,
    already: u64,
    failures: Vec<OpFailure>,
}

/// Walks `ops` of one container in order.
async fn run_container_ops(
    run: &Run,
    container: &str,
    ops: &[&Operation],
) -> Result<ContainerTally, Arc<LoadError>> {
    let progress = run.opts.progress.clone();
    progress.container_started(container, ops.len() as u64);
    let mut tally = ContainerTally::default();
    let mut failed: HashMap<&str, String> = HashMap::new();
    let mut container_failed: Option<String> = None;
    for (index, op) in ops.iter().enumerate() {
        // The limiter serves the container with the most work left first.
        run.api.limiter.set_remaining(container, (ops.len() - index) as u64);
        let blocked = container_failed.clone().or_else(|| {
            dependencies(op)
                .into_iter()
                .find_map(|d| failed.get(d).map(|m| format!("depends on {d}, which failed: {m}")))
        });
        let result = match blocked {
            Some(why) => Err(("blocked", why)),
            None => match run.run_op(op).await {
                Ok((_, already)) => Ok(already),
                Err(OpError::Fatal(e)) => return Err(e),
                Err(OpError::Rejected(m)) => Err(("rejected", m)),
                Err(OpError::Unsettled(m)) => Err(("unsettled", m)),
            },
        };
        match result {
            Ok(already) => {
                tracing::debug!(container, operation = %op.id, action = op.action.name(), already, "operation done");
                if already {
                    tally.already += 1;
                } else {
                    tally.done += 1;
                }
                progress.operation_finished(
                    container,
                    &op.id.0,
                    if already { OpOutcome::AlreadyDone } else { OpOutcome::Done },
                );
            }
            Err((kind, message)) => {
                tracing::warn!(container, operation = %op.id, kind, message = %message, "operation not done");
                failed.insert(op.id.0.as_str(), message.clone());
                if is_container_create(op) {
                    container_failed = Some(format!("the container was not created: {message}"));
                }
                // Members can be added only once import/migration mode has ended.
                if matches!(
                    op.action,
                    Action::ChatCompleteImport | Action::TeamsCompleteChannel | Action::TeamsCompleteTeam
                ) {
                    container_failed = Some(format!("its completion ({}) did not succeed: {message}", op.id));
                }
                tally.failures.push(OpFailure {
                    container: container.to_string(),
                    operation: op.id.0.clone(),
                    action: op.action.name().to_string(),
                    kind: kind.to_string(),
                    message,
                });
                progress.operation_finished(container, &op.id.0, OpOutcome::Failed);
            }
        }
    }
    run.api.limiter.set_remaining(container, 0);
    progress.container_finished(container, tally.failures.len() as u64);
    Ok(tally)
}

/// Loads a plan (see the crate docs).
pub async fn load(
    plan_dir: &Path,
    canonical_dir: &Path,
    state_db: &Path,
    opts: &LoadOptions,
) -> Result<LoadSummary, LoadError> {
    let started = Instant::now();
    if opts.dry_run {
        let plan = Plan::read(plan_dir)?;
        let report = crate::dry_run::estimate(&plan, &opts.client);
        let ops = plan.containers.iter().map(|c| phase_ops(c, false).len() as u64).sum();
        return Ok(LoadSummary {
            containers: plan.containers.len() as u64,
            operations: ops,
            dry_run: Some(report),
            elapsed_secs: started.elapsed().as_secs_f64(),
            ..LoadSummary::default()
        });
    }
    let run = Arc::new(Run::open(plan_dir, Some(canonical_dir), state_db, &opts.client)?);
    run.preflight().await?;
    let total: u64 = run.plan.containers.iter().map(|c| phase_ops(c, false).len() as u64).sum();
    opts.client.progress.run_started(run.plan.containers.len() as u64, total);
    tracing::info!(plan = %plan_dir.display(), containers = run.plan.containers.len(), operations = total, "load started");

    // A channel waits for its team's create operation.
    let mut team_signals: HashMap<String, watch::Sender<Option<bool>>> = HashMap::new();
    for c in &run.plan.containers {
        if c.container.kind == ContainerKind::TeamsTeam {
            team_signals.insert(c.container.id.clone(), watch::channel(None).0);
        }
    }
    let team_signals = Arc::new(team_signals);
    let permits = Arc::new(Semaphore::new(opts.client.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for idx in 0..run.plan.containers.len() {
        let run = run.clone();
        let permits = permits.clone();
        let signals = team_signals.clone();
        tasks.spawn(async move {
            let c = &run.plan.containers[idx];
            let id = c.container.id.clone();
            let ops = phase_ops(c, false);
            if let Some(parent) =
                c.container.parent.as_ref().filter(|_| c.container.kind == ContainerKind::TeamsChannel)
            {
                if let Some(tx) = signals.get(parent) {
                    let mut rx = tx.subscribe();
                    let ok = match rx.wait_for(Option::is_some).await {
                        Ok(v) => *v == Some(true),
                        Err(_) => false,
                    };
                    if !ok {
                        let progress = run.opts.progress.clone();
                        progress.container_started(&id, ops.len() as u64);
                        for op in &ops {
                            progress.operation_finished(&id, &op.id.0, OpOutcome::Failed);
                        }
                        progress.container_finished(&id, ops.len() as u64);
                        let failures = ops
                            .iter()
                            .map(|op| OpFailure {
                                container: id.clone(),
                                operation: op.id.0.clone(),
                                action: op.action.name().to_string(),
                                kind: "blocked".into(),
                                message: format!("team {parent} was not created"),
                            })
                            .collect();
                        return Ok(ContainerTally { failures, ..ContainerTally::default() });
                    }
                }
            }
            let _permit = permits.acquire_owned().await;
            let tally = run_container_ops(&run, &id, &ops).await;
            if let Some(tx) = signals.get(&id) {
                let created = match &tally {
                    Ok(t) => !t
                        .failures
                        .iter()
                        .any(|f| c.ops.iter().any(|o| o.id.0 == f.operation && is_container_create(o))),
                    Err(_) => false,
                };
                tx.send_replace(Some(created));
            }
            tally
        });
    }
    let mut summary = LoadSummary {
        containers: run.plan.containers.len() as u64,
        operations: total,
        ..LoadSummary::default()
    };
    let mut fatal: Option<Arc<LoadError>> = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(t)) => {
                summary.done += t.done;
                summary.already_done += t.already;
                summary.failures.extend(t.failures);
            }
            Ok(Err(e)) => {
                if fatal.is_none() {
                    fatal = Some(e);
                    for tx in team_signals.values() {
                        tx.send_replace(Some(false));
                    }
                    tasks.abort_all();
                }
            }
            Err(join) if join.is_cancelled() => {}
            Err(join) => return Err(LoadError::Options(format!("a container task panicked: {join}"))),
        }
    }
    if let Some(e) = fatal {
        return Err(Arc::try_unwrap(e).unwrap_or_else(|e| LoadError::Options(e.to_string())));
    }
    summary.failures.sort_by(|a, b| (&a.container, &a.operation).cmp(&(&b.container, &b.operation)));
    let summary = run.summary(summary, started);
    tracing::info!(
        done = summary.done,
        already_done = summary.already_done,
        failures = summary.failures.len(),
        requests = summary.requests,
        retries = summary.retries,
        "load finished"
    );
    Ok(summary)
}

/// Runs completion-phase operations of one container (used by `complete`).
pub async fn run_completion(
    run: &Run,
    container: &str,
    ops: &[&Operation],
) -> Result<(u64, u64, Vec<OpFailure>), LoadError> {
    match run_container_ops(run, container, ops).await {
        Ok(t) => Ok((t.done, t.already, t.failures)),
        Err(e) => Err(Arc::try_unwrap(e).unwrap_or_else(|e| LoadError::Options(e.to_string()))),
    }
}

/// The completion-phase operations of a container.
pub fn completion_ops(c: &PlannedContainer) -> Vec<&Operation> {
    phase_ops(c, true)
}

/// Final summary fields for a completion run.
pub fn finish_summary(run: &Run, s: LoadSummary, started: Instant) -> LoadSummary {
    run.summary(s, started)
}

/// Waits `d`, but never longer than a day (guards option mistakes).
pub async fn pause(d: Duration) {
    tokio::time::sleep(d.min(Duration::from_secs(86_400))).await;
}
