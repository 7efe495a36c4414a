//! `--dry-run`: walks a plan without sending anything, counts the requests each quota
//! bucket will see, and estimates the run time under the quotas (the slowest of: each
//! project/tenant bucket, the longest container at its per-container rate, and the
//! per-container work spread over the allowed parallelism).

use std::collections::BTreeMap;

use chatport_model::plan::Action;
use serde::Serialize;

use crate::limits::Bucket;
use crate::options::ClientOptions;
use crate::plan_dir::Plan;

/// Requests counted for one bucket.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BucketEstimate {
    /// Bucket name.
    pub bucket: String,
    /// Requests.
    pub requests: u64,
    /// Allowed rate, requests per second.
    pub rate_per_second: f64,
    /// Seconds this bucket alone needs (per container buckets: the longest container).
    pub seconds: f64,
}

/// The estimate of a dry run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DryRunReport {
    /// Containers.
    pub containers: u64,
    /// Requests of the load phase (one per operation; uploads over 4 MB need more).
    pub requests: u64,
    /// Requests by action.
    pub by_action: BTreeMap<String, u64>,
    /// Per bucket.
    pub buckets: Vec<BucketEstimate>,
    /// Estimated seconds under the quotas.
    pub estimated_seconds: f64,
}

impl std::fmt::Display for DryRunReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "dry run: {} containers, {} requests", self.containers, self.requests)?;
        for (action, n) in &self.by_action {
            writeln!(f, "  {action:<28} {n}")?;
        }
        writeln!(f, "quota buckets:")?;
        for b in &self.buckets {
            writeln!(
                f,
                "  {:<30} {:>8} requests at {:>8.2}/s  {:>10.1} s",
                b.bucket, b.requests, b.rate_per_second, b.seconds
            )?;
        }
        write!(f, "estimated time under the quotas: {:.1} s", self.estimated_seconds)
    }
}

/// The buckets one operation's main request draws from.
pub fn buckets_of(action: &Action) -> &'static [Bucket] {
    match action {
        Action::ChatCreateSpace { .. } => &[Bucket::ChatSpaceProjectWrites, Bucket::ChatSpaceCreates],
        Action::ChatCreateMembership { .. } | Action::ChatAddMember { .. } => &[Bucket::ChatMembershipWrites],
        Action::ChatUploadAttachment { .. } => &[Bucket::ChatSpaceWrites, Bucket::ChatAttachmentWrites],
        Action::ChatCreateMessage { .. } => &[Bucket::ChatSpaceWrites, Bucket::ChatMessageWrites],
        Action::ChatCreateReaction { .. } => &[Bucket::ChatSpaceWrites, Bucket::ChatReactionWrites],
        Action::ChatCompleteImport => &[Bucket::ChatSpaceProjectWrites],
        Action::TeamsCreateTeam { .. } => &[Bucket::GraphPostTeam],
        Action::TeamsCreateChannel { .. } => &[Bucket::GraphPerChannel, Bucket::GraphPostChannel],
        Action::TeamsUseGeneralChannel => &[Bucket::GraphPerChannel, Bucket::GraphOther],
        Action::TeamsUploadFile { .. } => &[Bucket::GraphPerChannel, Bucket::GraphOther],
        Action::TeamsPostMessage { .. } => &[Bucket::GraphPerChannel, Bucket::GraphPostMessage],
        Action::TeamsCompleteChannel | Action::TeamsCompleteTeam | Action::TeamsAddMember { .. } => {
            &[Bucket::GraphPerChannel, Bucket::GraphOther]
        }
    }
}

/// Estimates the load phase of `plan` under `opts.quotas`.
pub fn estimate(plan: &Plan, opts: &ClientOptions) -> DryRunReport {
    let q = &opts.quotas;
    let mut by_action = BTreeMap::new();
    let mut totals: BTreeMap<Bucket, u64> = BTreeMap::new();
    let mut per_container_max: BTreeMap<Bucket, u64> = BTreeMap::new();
    let mut container_seconds = Vec::new();
    let mut requests = 0;
    for c in &plan.containers {
        let mut mine: BTreeMap<Bucket, u64> = BTreeMap::new();
        for op in c.ops.iter().filter(|o| !o.action.is_completion()) {
            requests += 1;
            *by_action.entry(op.action.name().to_string()).or_insert(0) += 1;
            for &b in buckets_of(&op.action) {
                *totals.entry(b).or_insert(0) += 1;
                *mine.entry(b).or_insert(0) += 1;
            }
        }
        let mut secs: f64 = 0.0;
        for (b, n) in mine {
            if b.per_container() {
                let m = per_container_max.entry(b).or_insert(0);
                *m = (*m).max(n);
                let rate = b.rate(q) * q.scale;
                if q.enabled && rate > 0.0 {
                    secs = secs.max(n as f64 / rate);
                }
            }
        }
        container_seconds.push(secs);
    }
    let mut buckets = Vec::new();
    let mut worst: f64 = 0.0;
    for (b, n) in &totals {
        let rate = b.rate(q) * q.scale;
        let counted = if b.per_container() { per_container_max.get(b).copied().unwrap_or(0) } else { *n };
        let seconds = if q.enabled && rate > 0.0 { counted as f64 / rate } else { 0.0 };
        worst = worst.max(seconds);
        buckets.push(BucketEstimate {
            bucket: b.name().to_string(),
            requests: *n,
            rate_per_second: rate,
            seconds,
        });
    }
    let spread: f64 = container_seconds.iter().sum::<f64>() / opts.concurrency.max(1) as f64;
    DryRunReport {
        containers: plan.containers.len() as u64,
        requests,
        by_action,
        buckets,
        estimated_seconds: worst.max(spread),
    }
}
