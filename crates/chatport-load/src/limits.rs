//! Client-side token buckets at the documented quotas: one per container (space, channel)
//! and one per project/tenant and request family. A request waits for a token from every
//! bucket it belongs to before it is sent, so the loader stays under the quotas instead of
//! discovering them through 429s. Buckets hold only ~50 ms of tokens (at least one, at
//! most half of what the service's own bucket holds), so the rate is smooth and the
//! service keeps a margin for jitter.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::options::QuotaOptions;

/// A quota family a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bucket {
    /// Chat writes in one space (per minute).
    ChatSpaceWrites,
    /// Chat message writes per project.
    ChatMessageWrites,
    /// Chat reaction writes per project.
    ChatReactionWrites,
    /// Chat uploads per project.
    ChatAttachmentWrites,
    /// Chat membership writes per project.
    ChatMembershipWrites,
    /// Chat space writes per project.
    ChatSpaceProjectWrites,
    /// Chat space creations per project.
    ChatSpaceCreates,
    /// Chat reads per project.
    ChatReads,
    /// Graph requests on one team or channel.
    GraphPerChannel,
    /// Graph channel message POSTs per tenant.
    GraphPostMessage,
    /// Graph POST /teams per tenant.
    GraphPostTeam,
    /// Graph channel POST/PUT per tenant.
    GraphPostChannel,
    /// Graph GET channel messages per tenant.
    GraphGetMessage,
    /// Graph other calls per tenant.
    GraphOther,
}

impl Bucket {
    /// Requests per second this bucket allows under `q` (before scaling).
    pub fn rate(self, q: &QuotaOptions) -> f64 {
        let per_min = |v: f64| v / 60.0;
        match self {
            Bucket::ChatSpaceWrites => per_min(q.chat_space_writes),
            Bucket::ChatMessageWrites => per_min(q.chat_message_writes),
            Bucket::ChatReactionWrites => per_min(q.chat_reaction_writes),
            Bucket::ChatAttachmentWrites => per_min(q.chat_attachment_writes),
            Bucket::ChatMembershipWrites => per_min(q.chat_membership_writes),
            Bucket::ChatSpaceProjectWrites => per_min(q.chat_space_project_writes),
            Bucket::ChatSpaceCreates => per_min(q.chat_space_creates),
            Bucket::ChatReads => per_min(q.chat_reads),
            Bucket::GraphPerChannel => q.graph_per_channel,
            Bucket::GraphPostMessage => q.graph_post_message,
            Bucket::GraphPostTeam => q.graph_post_team,
            Bucket::GraphPostChannel => q.graph_post_channel,
            Bucket::GraphGetMessage => q.graph_get_message,
            Bucket::GraphOther => q.graph_other,
        }
    }

    /// Whether the bucket is per container (else per project/tenant).
    pub fn per_container(self) -> bool {
        matches!(self, Bucket::ChatSpaceWrites | Bucket::GraphPerChannel)
    }

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Bucket::ChatSpaceWrites => "chat per-space writes",
            Bucket::ChatMessageWrites => "chat message writes",
            Bucket::ChatReactionWrites => "chat reaction writes",
            Bucket::ChatAttachmentWrites => "chat attachment writes",
            Bucket::ChatMembershipWrites => "chat membership writes",
            Bucket::ChatSpaceProjectWrites => "chat space writes",
            Bucket::ChatSpaceCreates => "chat space creates",
            Bucket::ChatReads => "chat reads",
            Bucket::GraphPerChannel => "graph per team/channel",
            Bucket::GraphPostMessage => "graph channel message posts",
            Bucket::GraphPostTeam => "graph team creates",
            Bucket::GraphPostChannel => "graph channel creates",
            Bucket::GraphGetMessage => "graph message reads",
            Bucket::GraphOther => "graph other calls",
        }
    }
}

struct TokenBucket {
    rate: f64,
    capacity: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// `rate` per second (scaled), holding at most `capacity` tokens.
    fn new(rate: f64, capacity: f64) -> TokenBucket {
        TokenBucket { rate, capacity, state: Mutex::new((1.0, Instant::now())) }
    }

    /// Takes a token, or says how long to wait for one.
    fn try_take(&self) -> Result<(), Duration> {
        let mut s = match self.state.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        let now = Instant::now();
        let elapsed = now.duration_since(s.1).as_secs_f64();
        s.0 = (s.0 + elapsed * self.rate).min(self.capacity);
        s.1 = now;
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - s.0) / self.rate))
        }
    }

    /// Empties the bucket so that its next token comes `wait` from now.
    fn pause(&self, wait: Duration) {
        let mut s = match self.state.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        s.0 = s.0.min(1.0 - wait.as_secs_f64() * self.rate);
    }
}

/// Every bucket of a run.
pub struct Limiter {
    quotas: QuotaOptions,
    buckets: Mutex<HashMap<(Bucket, String), Arc<TokenBucket>>>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").field("quotas", &self.quotas).finish_non_exhaustive()
    }
}

impl Limiter {
    /// Buckets at these quotas.
    pub fn new(quotas: QuotaOptions) -> Limiter {
        Limiter { quotas, buckets: Mutex::new(HashMap::new()) }
    }

    fn bucket(&self, b: Bucket, container: &str) -> Option<Arc<TokenBucket>> {
        let unscaled = b.rate(&self.quotas);
        let rate = unscaled * self.quotas.scale;
        if !(rate.is_finite() && rate > 0.0) {
            return None;
        }
        // The server's bucket holds one (unscaled) second of tokens. Ours holds far less
        // (50 ms of tokens, at most half the server's), so that when we run saturated the
        // server's bucket keeps a margin for network and scheduling jitter instead of
        // hovering at empty; 50 ms still absorbs timer oversleep, so the rate is kept.
        let capacity = (rate * 0.05).clamp(1.0, (unscaled / 2.0).max(1.0));
        let key = (b, if b.per_container() { container.to_string() } else { String::new() });
        let mut map = match self.buckets.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        Some(map.entry(key).or_insert_with(|| Arc::new(TokenBucket::new(rate, capacity))).clone())
    }

    /// Waits until every bucket in `families` (for `container`) grants a token.
    pub async fn acquire(&self, container: &str, families: &[Bucket]) {
        if !self.quotas.enabled {
            return;
        }
        // Shared buckets first, the container's last: the container's token is then taken
        // right before the request leaves, as the server will count it.
        let mut ordered: Vec<Bucket> = families.to_vec();
        ordered.sort_by_key(|b| b.per_container());
        for b in ordered {
            let Some(bucket) = self.bucket(b, container) else { continue };
            while let Err(wait) = bucket.try_take() {
                tokio::time::sleep(wait).await;
            }
        }
    }
}

impl Limiter {
    /// After a 429 with `Retry-After`: holds every bucket in `families` (for `container`)
    /// for `wait`, so the other requests counted against the same quota back off too
    /// (Graph's throttling guidance), not only the throttled one.
    pub fn pause(&self, container: &str, families: &[Bucket], wait: Duration) {
        if !self.quotas.enabled {
            return;
        }
        for b in families {
            if let Some(bucket) = self.bucket(*b, container) {
                bucket.pause(wait);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_paused_bucket_holds_every_caller() {
        let l = Limiter::new(QuotaOptions { graph_other: 1000.0, ..QuotaOptions::default() });
        l.acquire("c", &[Bucket::GraphOther]).await;
        l.pause("c", &[Bucket::GraphOther], Duration::from_millis(300));
        let start = Instant::now();
        // Another container, same tenant-wide bucket.
        l.acquire("d", &[Bucket::GraphOther]).await;
        assert!(start.elapsed() >= Duration::from_millis(250), "{:?}", start.elapsed());
    }

    #[tokio::test]
    async fn bucket_paces_requests() {
        let q = QuotaOptions { graph_per_channel: 50.0, ..QuotaOptions::default() };
        let l = Limiter::new(q);
        let start = Instant::now();
        for _ in 0..11 {
            l.acquire("c", &[Bucket::GraphPerChannel]).await;
        }
        // One token up front, then 50/s: ten more take about 200 ms.
        assert!(start.elapsed() >= Duration::from_millis(180), "{:?}", start.elapsed());
        let off = Limiter::new(QuotaOptions { enabled: false, ..QuotaOptions::default() });
        let start = Instant::now();
        for _ in 0..1000 {
            off.acquire("c", &[Bucket::ChatSpaceWrites]).await;
        }
        assert!(start.elapsed() < Duration::from_millis(100));
    }
}
