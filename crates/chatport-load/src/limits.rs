//! Client-side token buckets at the documented quotas: one per container (space, channel)
//! and one per project/tenant and request family. A request waits for a token from every
//! bucket it belongs to before it is sent, so the loader stays under the quotas instead of
//! discovering them through 429s. A request takes its tokens from all its buckets at the
//! same instant, as the server does. Each bucket mirrors the service's (one quota window
//! of tokens, starting full) less 50 ms worth of tokens, so the service's burst is used
//! and the service keeps a margin for jitter.

use std::collections::HashMap;
use std::sync::Mutex;
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

    /// The quota window in seconds: Chat counts per minute, Graph per second. The
    /// services let a window's worth of requests through at once (the burst).
    pub fn window_secs(self) -> f64 {
        match self {
            Bucket::ChatSpaceWrites
            | Bucket::ChatMessageWrites
            | Bucket::ChatReactionWrites
            | Bucket::ChatAttachmentWrites
            | Bucket::ChatMembershipWrites
            | Bucket::ChatSpaceProjectWrites
            | Bucket::ChatSpaceCreates
            | Bucket::ChatReads => 60.0,
            _ => 1.0,
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

/// One client-side bucket: `rate` tokens per second (scaled), holding at most `capacity`.
#[derive(Debug, Clone, Copy)]
struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    fn level(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.tokens + elapsed * self.rate).min(self.capacity)
    }

    /// Empties the bucket so that its next token comes `wait` from `now`.
    fn pause(&mut self, now: Instant, wait: Duration) {
        self.tokens = self.level(now).min(1.0 - wait.as_secs_f64() * self.rate);
        self.at = now;
    }
}

/// Every bucket of a run.
pub struct Limiter {
    quotas: QuotaOptions,
    inner: Mutex<Inner>,
}

/// A request waiting for tokens.
struct Waiter {
    container: String,
    families: Vec<Bucket>,
}

#[derive(Default)]
struct Inner {
    buckets: HashMap<(Bucket, String), TokenBucket>,
    /// Work left per container, as the executor reports it (the waiting request's priority).
    remaining: HashMap<String, u64>,
    waiting: HashMap<u64, Waiter>,
    next_ticket: u64,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").field("quotas", &self.quotas).finish_non_exhaustive()
    }
}

/// Seconds of tokens left to the server as a margin for network and scheduling jitter.
const MARGIN_SECS: f64 = 0.05;

fn key_of(b: Bucket, container: &str) -> (Bucket, String) {
    (b, if b.per_container() { container.to_string() } else { String::new() })
}

/// Removes a waiting request's registration when it gets its tokens or is dropped.
struct Ticket<'a> {
    limiter: &'a Limiter,
    id: u64,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.limiter.lock().waiting.remove(&self.id);
    }
}

impl Limiter {
    /// Buckets at these quotas.
    pub fn new(quotas: QuotaOptions) -> Limiter {
        Limiter { quotas, inner: Mutex::new(Inner::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        }
    }

    /// Records how many operations `container` still has to send. When requests of several
    /// containers wait for the same project/tenant bucket, the container with the most
    /// work left goes first, so the containers finish together instead of a few running
    /// alone at their per-container rate at the end.
    pub fn set_remaining(&self, container: &str, left: u64) {
        if !self.quotas.enabled {
            return;
        }
        let mut inner = self.lock();
        if left == 0 {
            inner.remaining.remove(container);
        } else {
            inner.remaining.insert(container.to_string(), left);
        }
    }

    fn new_bucket(&self, b: Bucket, now: Instant) -> Option<TokenBucket> {
        let unscaled = b.rate(&self.quotas);
        let rate = unscaled * self.quotas.scale;
        if !(rate.is_finite() && rate > 0.0) {
            return None;
        }
        // The server's bucket holds one quota window of tokens and starts full. Ours is a
        // replica that is 50 ms of tokens short of it: the burst the server allows is used
        // (at the start, and after a container or family was idle), and when we run
        // saturated the server's bucket still holds 50 ms of margin for network and
        // scheduling jitter instead of hovering at empty.
        let server = (unscaled * b.window_secs()).max(1.0);
        let capacity = (server - rate * MARGIN_SECS).max(1.0);
        Some(TokenBucket { rate, capacity, tokens: capacity, at: now })
    }

    /// The token level of `key` now (None: the bucket is unlimited).
    fn level(&self, inner: &mut Inner, key: &(Bucket, String), now: Instant) -> Option<f64> {
        let bucket = match inner.buckets.get(key) {
            Some(t) => *t,
            None => *inner.buckets.entry(key.clone()).or_insert(self.new_bucket(key.0, now)?),
        };
        Some(bucket.level(now))
    }

    /// Takes one token from every bucket at once, or none and says how long to wait.
    /// `ticket` identifies the caller's own waiting registration.
    fn try_take(&self, container: &str, families: &[Bucket], ticket: Option<u64>) -> Result<(), Duration> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let now = Instant::now();
        let mut wait = 0.0f64;
        let mut levels = Vec::with_capacity(families.len());
        for &b in families {
            let key = key_of(b, container);
            let Some(level) = self.level(inner, &key, now) else { continue };
            if level < 1.0 {
                let rate = inner.buckets.get(&key).map_or(1.0, |t| t.rate);
                wait = wait.max((1.0 - level) / rate);
            }
            levels.push((key, level));
        }
        if wait > 0.0 {
            return Err(Duration::from_secs_f64(wait));
        }
        // Defer to a waiting request with more work left that could go now and shares a
        // project/tenant bucket with this one: it is about to wake and take the token.
        let mine = inner.remaining.get(container).copied().unwrap_or(0);
        let shared: Vec<Bucket> = families.iter().copied().filter(|b| !b.per_container()).collect();
        if !shared.is_empty() {
            let rivals: Vec<(String, Vec<Bucket>)> = inner
                .waiting
                .iter()
                .filter(|(id, w)| Some(**id) != ticket && w.container != container)
                .filter(|(_, w)| inner.remaining.get(&w.container).copied().unwrap_or(0) > mine)
                .filter(|(_, w)| w.families.iter().any(|b| shared.contains(b)))
                .map(|(_, w)| (w.container.clone(), w.families.clone()))
                .collect();
            for (c, fams) in rivals {
                let ready =
                    fams.iter().all(|&b| self.level(inner, &key_of(b, &c), now).is_none_or(|l| l >= 1.0));
                if ready {
                    return Err(Duration::from_millis(1));
                }
            }
        }
        for (key, level) in levels {
            if let Some(t) = inner.buckets.get_mut(&key) {
                t.tokens = level - 1.0;
                t.at = now;
            }
        }
        Ok(())
    }

    /// Waits until every bucket in `families` (for `container`) grants a token, and takes
    /// them all at the same instant (as the server counts the request), so no token is
    /// held while waiting for another bucket.
    pub async fn acquire(&self, container: &str, families: &[Bucket]) {
        if !self.quotas.enabled {
            return;
        }
        let Err(mut wait) = self.try_take(container, families, None) else { return };
        let ticket = {
            let mut inner = self.lock();
            inner.next_ticket += 1;
            let id = inner.next_ticket;
            inner
                .waiting
                .insert(id, Waiter { container: container.to_string(), families: families.to_vec() });
            Ticket { limiter: self, id }
        };
        loop {
            tokio::time::sleep(wait).await;
            match self.try_take(container, families, Some(ticket.id)) {
                Ok(()) => return,
                Err(w) => wait = w,
            }
        }
    }
}

impl Limiter {
    /// After a 429 with `Retry-After`: holds the container's own buckets in `families`
    /// (per space / per channel) for `wait`, so none of its requests go out before the
    /// server said. Project/tenant-wide buckets are not held: they already pace every
    /// container at the documented quota, and one throttled container must not stall the
    /// others (measured: holding them on every 429 cut a run with 1 % injected 429s from
    /// 90 % to 28 % of the quota bound). When the shared quota itself is exhausted, every
    /// container meets 429s and each holds itself, which backs the whole run off.
    pub fn pause(&self, container: &str, families: &[Bucket], wait: Duration) {
        if !self.quotas.enabled {
            return;
        }
        let mut guard = self.lock();
        let inner = &mut *guard;
        let now = Instant::now();
        for &b in families.iter().filter(|b| b.per_container()) {
            let key = key_of(b, container);
            if self.level(inner, &key, now).is_none() {
                continue;
            }
            if let Some(bucket) = inner.buckets.get_mut(&key) {
                bucket.pause(now, wait);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_throttled_container_pauses_itself_not_the_others() {
        let q = QuotaOptions { graph_other: 1000.0, graph_per_channel: 1000.0, ..QuotaOptions::default() };
        let l = Limiter::new(q);
        let both = [Bucket::GraphPerChannel, Bucket::GraphOther];
        l.acquire("c", &both).await;
        l.acquire("d", &both).await;
        l.pause("c", &both, Duration::from_millis(300));
        // Another container on the same tenant-wide bucket goes on at once…
        let start = Instant::now();
        l.acquire("d", &both).await;
        assert!(start.elapsed() < Duration::from_millis(100), "{:?}", start.elapsed());
        // …the throttled one waits out Retry-After.
        l.acquire("c", &both).await;
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
        // 47.5 tokens up front (the 50-token burst less 50 ms), then 50/s: 60 requests
        // need 12.5 more tokens, 250 ms.
        for _ in 11..60 {
            l.acquire("c", &[Bucket::GraphPerChannel]).await;
        }
        assert!(start.elapsed() >= Duration::from_millis(230), "{:?}", start.elapsed());
        let off = Limiter::new(QuotaOptions { enabled: false, ..QuotaOptions::default() });
        let start = Instant::now();
        for _ in 0..1000 {
            off.acquire("c", &[Bucket::ChatSpaceWrites]).await;
        }
        assert!(start.elapsed() < Duration::from_millis(100));
    }

    #[test]
    fn a_request_takes_all_its_tokens_or_none() {
        // Per channel: 1 token up front; per tenant: 9.5 (10 less 50 ms of tokens).
        let q = QuotaOptions { graph_per_channel: 1.0, graph_post_message: 10.0, ..QuotaOptions::default() };
        let l = Limiter::new(q);
        let both = [Bucket::GraphPostMessage, Bucket::GraphPerChannel];
        assert!(l.try_take("a", &both, None).is_ok());
        // Channel a is empty: refused, and the tenant token is not spent...
        let wait = l.try_take("a", &both, None).unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1), "{wait:?}");
        // ...so eight tenant tokens are still there for other channels.
        for c in ["b", "c", "d", "e", "f", "g", "h", "i"] {
            assert!(l.try_take(c, &both, None).is_ok(), "channel {c}");
        }
        assert!(l.try_take("j", &both, None).is_err(), "the tenant bucket is empty now");
    }

    #[test]
    fn the_container_with_more_work_left_goes_first() {
        let q = QuotaOptions { graph_post_message: 3.0, ..QuotaOptions::default() };
        let l = Limiter::new(q);
        let both = [Bucket::GraphPostMessage, Bucket::GraphPerChannel];
        l.set_remaining("short", 2);
        l.set_remaining("long", 30);
        // The tenant bucket holds 2.85 tokens (3 less 50 ms of tokens).
        assert!(l.try_take("short", &both, None).is_ok());
        // "long" waits (registered as a waiter) and could go now: "short" defers to it.
        l.lock().waiting.insert(7, Waiter { container: "long".into(), families: both.to_vec() });
        assert_eq!(l.try_take("short", &both, None), Err(Duration::from_millis(1)));
        assert!(l.try_take("long", &both, Some(7)).is_ok());
        l.lock().waiting.remove(&7);
        // Without a waiting rival, "short" is served as soon as a token is there.
        assert!(l.try_take("short", &both, None).is_err(), "the tenant bucket is empty");
    }
}
