//! `--dry-run`: walks a plan without sending anything, counts the requests each quota
//! bucket will see, and estimates the run time under the quotas.
//!
//! The estimate is the quota bound of the plan ([`quota_bound`]): the length of an ideal
//! schedule in which every request goes out the moment every documented quota it counts
//! against allows it (server-side token buckets holding one quota window of tokens, so the
//! initial burst counts), a container's requests go in order, a team's channels wait for
//! the team (its creation and its provisioning poll), and requests take no time. Next to
//! it, a lower bound that no schedule can beat: the largest of "every request of a
//! project/tenant bucket", "every request of one container after it can first start", and
//! "every message of the channels not yet created at the time the k-th could first exist".

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use chatport_model::plan::{Action, ContainerKind};
use serde::Serialize;

use crate::limits::Bucket;
use crate::options::{ClientOptions, QuotaOptions};
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
    /// Requests the service lets through at once (one quota window's worth).
    pub burst: f64,
    /// Seconds this bucket alone needs beyond its burst (per container buckets: the
    /// longest container).
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
    /// The quota bound behind the estimate (absent when quotas are off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bound: Option<QuotaBound>,
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
                "  {:<30} {:>8} requests at {:>8.2}/s (burst {:>6.0})  {:>10.1} s",
                b.bucket, b.requests, b.rate_per_second, b.burst, b.seconds
            )?;
        }
        if let Some(b) = &self.bound {
            writeln!(f, "{b}")?;
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
                    secs = secs.max(beyond_burst(b, q, n) / rate);
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
        let seconds = if q.enabled && rate > 0.0 { beyond_burst(*b, q, counted) / rate } else { 0.0 };
        worst = worst.max(seconds);
        buckets.push(BucketEstimate {
            bucket: b.name().to_string(),
            requests: *n,
            rate_per_second: rate,
            burst: burst_of(*b, q),
            seconds,
        });
    }
    let spread: f64 = container_seconds.iter().sum::<f64>() / opts.concurrency.max(1) as f64;
    let bound = q.enabled.then(|| quota_bound(plan, q));
    DryRunReport {
        containers: plan.containers.len() as u64,
        requests,
        by_action,
        buckets,
        estimated_seconds: bound.as_ref().map_or(worst.max(spread), |b| b.seconds.max(spread)),
        bound,
    }
}

/// Requests a bucket lets through at once: one quota window's worth.
fn burst_of(b: Bucket, q: &QuotaOptions) -> f64 {
    (b.rate(q) * b.window_secs()).max(1.0)
}

/// Requests of `n` that have to wait for the bucket to refill.
fn beyond_burst(b: Bucket, q: &QuotaOptions, n: u64) -> f64 {
    (n as f64 - burst_of(b, q)).max(0.0)
}

/// The quota bound of a plan's load phase (see the module docs).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QuotaBound {
    /// Seconds of the ideal schedule: the shortest wall time found that every documented
    /// quota allows (at the options' time scale).
    pub seconds: f64,
    /// Seconds no schedule can beat (necessary conditions only); `seconds` is at least this.
    pub lower_bound_seconds: f64,
    /// Requests of the ideal schedule (a team creation counts its provisioning poll).
    pub requests: u64,
    /// Message-creating requests among them.
    pub messages: u64,
    /// When the first message can go out in the ideal schedule, seconds.
    pub first_message_seconds: f64,
    /// Seconds the messages alone need at the project/tenant message quota (the
    /// message-only figure: messages ÷ that rate).
    pub message_only_seconds: f64,
}

impl std::fmt::Display for QuotaBound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "quota bound: {} requests in {:.2} s (lower bound {:.2} s; first message at {:.2} s; \
             {} messages alone need {:.2} s at the message quota)",
            self.requests,
            self.seconds,
            self.lower_bound_seconds,
            self.first_message_seconds,
            self.messages,
            self.message_only_seconds
        )
    }
}

/// The buckets of one request with the scope they are counted in: `""` for the
/// project/tenant, else the container whose per-container quota it draws from.
type Draws = Vec<(Bucket, String)>;

/// The requests of one operation as the server counts them. Channel creation and the
/// team's provisioning poll count against the team; everything else against its own
/// container. Uploads are counted as one request (large files need more).
fn requests_of(action: &Action, container: &str, parent: Option<&str>) -> Vec<Draws> {
    let scoped =
        |b: Bucket, owner: &str| (b, if b.per_container() { owner.to_string() } else { String::new() });
    let team = parent.unwrap_or(container);
    match action {
        Action::TeamsCreateTeam { .. } => vec![
            vec![scoped(Bucket::GraphPostTeam, container)],
            vec![scoped(Bucket::GraphPerChannel, container), scoped(Bucket::GraphOther, container)],
        ],
        Action::TeamsCreateChannel { .. } | Action::TeamsUseGeneralChannel => {
            vec![buckets_of(action).iter().map(|&b| scoped(b, team)).collect()]
        }
        _ => vec![buckets_of(action).iter().map(|&b| scoped(b, container)).collect()],
    }
}

/// Whether the action creates a message (the rate the message-only figure is about).
fn is_message(action: &Action) -> bool {
    matches!(action, Action::ChatCreateMessage { .. } | Action::TeamsPostMessage { .. })
}

/// A server-side token bucket in the simulation (time in wall seconds).
#[derive(Debug, Clone, Copy)]
struct SimBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    at: f64,
}

impl SimBucket {
    fn level(&self, t: f64) -> f64 {
        (self.tokens + (t - self.at).max(0.0) * self.rate).min(self.capacity)
    }
    /// Earliest time ≥ `t` at which a token is there.
    fn available(&self, t: f64) -> f64 {
        let l = self.level(t);
        if l >= 1.0 - 1e-9 {
            t
        } else {
            t + (1.0 - l) / self.rate
        }
    }
    fn take(&mut self, t: f64) {
        self.tokens = self.level(t) - 1.0;
        self.at = t;
    }
}

/// Computes the quota bound of `plan`'s load phase under `q` (see the module docs).
pub fn quota_bound(plan: &crate::plan_dir::Plan, q: &QuotaOptions) -> QuotaBound {
    // Every container's requests in order.
    let index: HashMap<&str, usize> =
        plan.containers.iter().enumerate().map(|(i, c)| (c.container.id.as_str(), i)).collect();
    let mut reqs: Vec<Vec<(Draws, bool)>> = Vec::with_capacity(plan.containers.len());
    for c in &plan.containers {
        let parent = c.container.parent.as_deref();
        let mut list = Vec::new();
        for op in c.ops.iter().filter(|o| !o.action.is_completion()) {
            let msg = is_message(&op.action);
            for r in requests_of(&op.action, &c.container.id, parent) {
                list.push((r, msg));
            }
        }
        reqs.push(list);
    }
    // A channel waits for its team container to finish.
    let waits_for: Vec<Option<usize>> = plan
        .containers
        .iter()
        .map(|c| {
            c.container
                .parent
                .as_deref()
                .filter(|_| c.container.kind == ContainerKind::TeamsChannel)
                .and_then(|p| index.get(p).copied())
        })
        .collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); plan.containers.len()];
    for (i, w) in waits_for.iter().enumerate() {
        if let Some(p) = w {
            dependents[*p].push(i);
        }
    }
    // Buckets by id; a request's buckets split into the container's own (scoped to it) and
    // shared ones (project/tenant, or another container's, like a team's for channel
    // creation). Buckets with no rate are unlimited and left out.
    let mut ids: HashMap<(Bucket, String), usize> = HashMap::new();
    let mut buckets: Vec<SimBucket> = Vec::new();
    let mut keys: Vec<(Bucket, String)> = Vec::new();
    let mut families: HashMap<Vec<usize>, usize> = HashMap::new();
    let mut family_keys: Vec<Vec<usize>> = Vec::new();
    // Per container, per request: (own bucket ids, family id, is a message).
    let mut plan_reqs: Vec<Vec<(Vec<usize>, usize, bool)>> = Vec::with_capacity(reqs.len());
    for (i, list) in reqs.iter().enumerate() {
        let me = plan.containers[i].container.id.as_str();
        let mut out = Vec::with_capacity(list.len());
        for (draws, msg) in list {
            let (mut own, mut shared) = (Vec::new(), Vec::new());
            for key in draws {
                let unscaled = key.0.rate(q);
                let rate = unscaled * q.scale;
                if !(rate.is_finite() && rate > 0.0) {
                    continue;
                }
                let id = *ids.entry(key.clone()).or_insert_with(|| {
                    let capacity = (unscaled * key.0.window_secs()).max(1.0);
                    buckets.push(SimBucket { rate, capacity, tokens: capacity, at: 0.0 });
                    keys.push(key.clone());
                    buckets.len() - 1
                });
                if key.1 == me {
                    own.push(id);
                } else {
                    shared.push(id);
                }
            }
            shared.sort_unstable();
            let family = *families.entry(shared.clone()).or_insert_with(|| {
                family_keys.push(shared);
                family_keys.len() - 1
            });
            out.push((own, family, *msg));
        }
        plan_reqs.push(out);
    }
    // Event-driven list scheduling. A container whose next request's own buckets have a
    // token is parked under the request's family of shared buckets; when the family's
    // buckets have a token, the parked container with the most requests left goes (so the
    // long containers do not end up alone at the tail). O(requests · log containers).
    let ns = |x: f64| (x * 1e9).round() as i64;
    let secs = |t: i64| t as f64 / 1e9;
    let avail = |buckets: &[SimBucket], set: &[usize], t: f64| {
        set.iter().fold(t, |a, &b| a.max(buckets[b].available(t)))
    };
    const CONTAINER: u8 = 0;
    const FAMILY: u8 = 1;
    let mut heap: BinaryHeap<Reverse<(i64, u8, usize)>> = BinaryHeap::new();
    let mut parked: Vec<BinaryHeap<(usize, Reverse<usize>)>> = vec![BinaryHeap::new(); family_keys.len()];
    let mut family_at: Vec<Option<i64>> = vec![None; family_keys.len()];
    let mut next = vec![0usize; plan_reqs.len()];
    let mut pending: Vec<usize> = (0..plan_reqs.len()).filter(|&i| waits_for[i].is_none()).collect();
    let (mut end, mut first_msg, mut sent, mut messages) = (0.0f64, f64::INFINITY, 0u64, 0u64);
    let mut per_key_count: Vec<u64> = vec![0; buckets.len()];
    let mut start_of: Vec<Option<f64>> = vec![None; plan_reqs.len()];
    let mut now: i64 = 0;
    loop {
        // Containers that became startable (or finished without requests) at `now`.
        while let Some(i) = pending.pop() {
            if plan_reqs[i].is_empty() {
                pending.extend(dependents[i].iter().copied());
            } else {
                let at = avail(&buckets, &plan_reqs[i][0].0, secs(now));
                heap.push(Reverse((ns(at), CONTAINER, i)));
            }
        }
        let Some(Reverse((t, kind, id))) = heap.pop() else { break };
        now = t;
        let ts = secs(t);
        let chosen = if kind == CONTAINER {
            let (own, family, _) = &plan_reqs[id][next[id]];
            let at = avail(&buckets, own, ts);
            if ns(at) > t {
                heap.push(Reverse((ns(at), CONTAINER, id)));
                continue;
            }
            if family_keys[*family].is_empty() {
                id
            } else {
                parked[*family].push((plan_reqs[id].len() - next[id], Reverse(id)));
                let at = ns(avail(&buckets, &family_keys[*family], ts));
                if family_at[*family].is_none_or(|f| at < f) {
                    family_at[*family] = Some(at);
                    heap.push(Reverse((at, FAMILY, *family)));
                }
                continue;
            }
        } else {
            if family_at[id] != Some(t) {
                continue; // superseded
            }
            family_at[id] = None;
            let at = ns(avail(&buckets, &family_keys[id], ts));
            if at > t {
                family_at[id] = Some(at);
                heap.push(Reverse((at, FAMILY, id)));
                continue;
            }
            let Some((_, Reverse(i))) = parked[id].pop() else { continue };
            // The family is re-armed below, once this request's tokens are taken.
            i
        };
        let i = chosen;
        let (own, family, msg) = &plan_reqs[i][next[i]];
        // Own buckets may be shared after all (a team's, used by its channels later).
        let at = avail(&buckets, own, ts);
        if ns(at) > t {
            heap.push(Reverse((ns(at), CONTAINER, i)));
        } else {
            for &b in own.iter().chain(&family_keys[*family]) {
                buckets[b].take(ts);
                per_key_count[b] += 1;
            }
            start_of[i].get_or_insert(ts);
            sent += 1;
            end = end.max(ts);
            if *msg {
                messages += 1;
                first_msg = first_msg.min(ts);
            }
            next[i] += 1;
            if next[i] < plan_reqs[i].len() {
                let at = avail(&buckets, &plan_reqs[i][next[i]].0, ts);
                heap.push(Reverse((ns(at), CONTAINER, i)));
            } else {
                pending.extend(dependents[i].iter().copied());
            }
        }
        if kind == FAMILY && !parked[id].is_empty() {
            let at = ns(avail(&buckets, &family_keys[id], ts));
            family_at[id] = Some(at);
            heap.push(Reverse((at, FAMILY, id)));
        }
    }
    let bucket = |b: usize| buckets[b];
    // Lower bound: each bucket's own requests beyond its burst at its rate, from the time
    // its first request could go.
    let mut lower = 0.0f64;
    for (b, n) in per_key_count.iter().enumerate() {
        let sb = bucket(b);
        let from = if keys[b].1.is_empty() {
            0.0
        } else {
            index.get(keys[b].1.as_str()).and_then(|&c| start_of[c]).unwrap_or(0.0)
        };
        lower = lower.max(from + (*n as f64 - sb.capacity).max(0.0) / sb.rate);
    }
    // Pipeline: channels become available one by one; the messages of those not yet
    // available at the k-th's earliest start still need the tenant/project message quota.
    let msg_bucket = match plan.manifest.destination {
        chatport_model::plan::Destination::Chat => Bucket::ChatMessageWrites,
        chatport_model::plan::Destination::Teams => Bucket::GraphPostMessage,
    };
    if let Some(&mb) = ids.get(&(msg_bucket, String::new())) {
        let mb = bucket(mb);
        let mut starts: Vec<(f64, u64)> = plan_reqs
            .iter()
            .enumerate()
            .filter_map(|(i, list)| {
                let m = list.iter().filter(|r| r.2).count() as u64;
                (m > 0).then(|| (start_of[i].unwrap_or(0.0), m))
            })
            .collect();
        starts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut later: u64 = starts.iter().map(|s| s.1).sum();
        for (start, m) in &starts {
            lower = lower.max(start + (later as f64 - mb.capacity).max(0.0) / mb.rate);
            later -= m;
        }
    }
    let message_rate = msg_bucket.rate(q) * q.scale;
    QuotaBound {
        seconds: end,
        lower_bound_seconds: lower.min(end),
        requests: sent,
        messages,
        first_message_seconds: if first_msg.is_finite() { first_msg } else { 0.0 },
        message_only_seconds: if message_rate > 0.0 { messages as f64 / message_rate } else { 0.0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan_dir::{Plan, PlannedContainer};
    use chatport_model::plan::{
        Actor, Container, Destination, Operation, OperationId, PlanCounts, PlanManifest, PLAN_FORMAT_VERSION,
    };
    use serde_json::json;

    fn container(
        id: &str,
        kind: ContainerKind,
        parent: Option<&str>,
        actions: Vec<Action>,
    ) -> PlannedContainer {
        let ops = actions
            .into_iter()
            .enumerate()
            .map(|(i, action)| Operation {
                id: OperationId(format!("{id}/{i}")),
                seq: i as u64,
                container: id.into(),
                actor: Actor::App,
                action,
                source: None,
            })
            .collect::<Vec<_>>();
        PlannedContainer::new(
            Container {
                id: id.into(),
                kind,
                parent: parent.map(str::to_string),
                conversation: None,
                display_name: id.into(),
                create_time: "2020-01-01T00:00:00Z".into(),
                ops_path: format!("ops/{id}.jsonl"),
                op_count: ops.len() as u64,
                message_count: 0,
            },
            ops,
        )
    }

    fn plan(destination: Destination, containers: Vec<PlannedContainer>) -> Plan {
        Plan {
            dir: "plan".into(),
            manifest: PlanManifest {
                format_version: PLAN_FORMAT_VERSION,
                destination,
                canonical_sha256: String::new(),
                options: json!({}),
                counts: PlanCounts::default(),
                files: Vec::new(),
            },
            containers,
        }
    }

    fn teams_message() -> Action {
        Action::TeamsPostMessage {
            reply_to: None,
            message: json!({}),
            hosted_contents: Vec::new(),
            files: Vec::new(),
        }
    }

    #[test]
    fn teams_bound_counts_bursts_and_the_per_channel_quota() {
        let mut cs = vec![container(
            "team",
            ContainerKind::TeamsTeam,
            None,
            vec![Action::TeamsCreateTeam { team: json!({}) }],
        )];
        for ch in ["a", "b"] {
            let mut actions = vec![Action::TeamsCreateChannel { channel: json!({}) }];
            actions.extend((0..10).map(|_| teams_message()));
            cs.push(container(ch, ContainerKind::TeamsChannel, Some("team"), actions));
        }
        let b = quota_bound(&plan(Destination::Teams, cs), &QuotaOptions::default());
        // POST /teams and its poll, two channel creates: all within the team's burst of 4.
        // Each channel: 4 messages at once, then 6 more at 4/s: the last at 1.5 s.
        assert_eq!(b.requests, 2 + 2 + 20);
        assert_eq!(b.messages, 20);
        assert!((b.seconds - 1.5).abs() < 1e-6, "{b:?}");
        assert!((b.lower_bound_seconds - 1.5).abs() < 1e-6, "{b:?}");
        assert!((b.message_only_seconds - 20.0 / 50.0).abs() < 1e-9);
        // At a time scale of 5 everything is five times faster.
        let fast = quota_bound(
            &plan(Destination::Teams, {
                let mut cs = vec![container(
                    "team",
                    ContainerKind::TeamsTeam,
                    None,
                    vec![Action::TeamsCreateTeam { team: json!({}) }],
                )];
                let mut actions = vec![Action::TeamsCreateChannel { channel: json!({}) }];
                actions.extend((0..10).map(|_| teams_message()));
                cs.push(container("a", ContainerKind::TeamsChannel, Some("team"), actions));
                cs
            }),
            &QuotaOptions { scale: 5.0, ..QuotaOptions::default() },
        );
        assert!((fast.seconds - 0.3).abs() < 1e-6, "{fast:?}");
    }

    #[test]
    fn channels_beyond_the_team_burst_wait_for_the_team_quota() {
        let mut cs = vec![container(
            "team",
            ContainerKind::TeamsTeam,
            None,
            vec![Action::TeamsCreateTeam { team: json!({}) }],
        )];
        for i in 0..11 {
            cs.push(container(
                &format!("c{i}"),
                ContainerKind::TeamsChannel,
                Some("team"),
                vec![Action::TeamsCreateChannel { channel: json!({}) }, teams_message()],
            ));
        }
        let b = quota_bound(&plan(Destination::Teams, cs), &QuotaOptions::default());
        // The poll leaves 3 of the team's 4 tokens: 3 channels at once, 8 more at 4/s.
        assert!((b.seconds - 2.0).abs() < 1e-6, "{b:?}");
        assert_eq!(b.first_message_seconds, 0.0);
    }

    #[test]
    fn chat_bound_uses_the_per_minute_burst() {
        let mut actions = vec![Action::ChatCreateSpace { request_id: "r".into(), space: json!({}) }];
        actions.extend((0..100).map(|i| Action::ChatCreateMessage {
            message_id: format!("client-{i}"),
            reply_option: None,
            message: json!({}),
            attachments: Vec::new(),
        }));
        let cs = vec![container("s", ContainerKind::ChatSpace, None, actions)];
        let b = quota_bound(&plan(Destination::Chat, cs), &QuotaOptions::default());
        // 60 writes per minute per space, all 60 at once: the 100th message at 40 s.
        assert!((b.seconds - 40.0).abs() < 1e-6, "{b:?}");
        assert!((b.lower_bound_seconds - 40.0).abs() < 1e-6, "{b:?}");
    }
}
