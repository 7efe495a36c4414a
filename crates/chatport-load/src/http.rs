//! Sending one request: token buckets, bearer token, timeout, and retries of what the
//! destination's `is_retriable` accepts (429, 5xx, timeouts, dropped connections) with
//! exponential backoff and full jitter, honouring `Retry-After`. Any other answer (2xx or
//! a final 4xx) is handed back to the caller, which decides what it means for its
//! operation. A 401 refreshes the token once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde_json::Value;

use crate::auth::{without_url, Credentials, TokenError, SCOPE_BOT, SCOPE_IMPORT};
use crate::limits::{Bucket, Limiter};
use crate::options::{ClientOptions, RetryOptions};
use crate::progress::Progress;

/// Longest `Retry-After` honoured as given.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// Which destination a request goes to (selects its retry rule and error envelope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// Google Chat.
    Chat,
    /// Microsoft Graph.
    Graph,
}

/// Who a request authenticates as.
#[derive(Debug, Clone, Copy)]
pub enum As<'a> {
    /// A Google user impersonated with `chat.import`.
    GoogleUser(&'a str),
    /// The Chat app itself (`chat.bot`).
    GoogleApp,
    /// The Microsoft app (client credentials).
    Graph,
    /// No Authorization header (Graph upload-session URLs).
    Anonymous,
}

/// What went wrong with one attempt, as `is_retriable` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The server answered with this status.
    Status(u16),
    /// The request timed out.
    Timeout,
    /// The connection failed or was dropped.
    Connection,
}

/// A final answer (not retried).
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The `Location` header, if any.
    pub location: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON (`Null` when empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// `HTTP 409 ALREADY_EXISTS: message` from either error envelope.
    pub fn error_text(&self) -> String {
        let v = self.json();
        let e = &v["error"];
        let code = e["status"].as_str().or_else(|| e["code"].as_str()).unwrap_or("");
        let msg = e["message"].as_str().unwrap_or("");
        if msg.is_empty() {
            let raw = String::from_utf8_lossy(&self.body);
            let raw: String = raw.chars().take(300).collect();
            format!("HTTP {}: {}", self.status, raw.trim())
        } else {
            format!("HTTP {} {}: {}", self.status, code, msg)
        }
    }
}

/// A request that could not get a final answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// No token for the principal.
    #[error("{0}")]
    Token(#[from] TokenError),
    /// Every attempt ended in a retriable failure.
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
}

/// Counters of a run.
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests sent (attempts).
    pub requests: AtomicU64,
    /// Retries.
    pub retries: AtomicU64,
}

/// The HTTP side of a run.
pub struct Api {
    /// The client.
    pub http: reqwest::Client,
    /// Credentials.
    pub creds: Credentials,
    /// Token buckets.
    pub limiter: Limiter,
    retry: RetryOptions,
    timeout: Duration,
    progress: Arc<dyn Progress>,
    /// Counters.
    pub stats: Stats,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("creds", &self.creds).field("retry", &self.retry).finish_non_exhaustive()
    }
}

/// Builds the shared reqwest client (rustls).
pub fn client() -> Result<reqwest::Client, crate::LoadError> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .pool_idle_timeout(Duration::from_secs(30))
        .user_agent(concat!("chatport/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| crate::LoadError::Http(without_url(&e)))
}

/// Identifies a request in logs and progress.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// Container id.
    pub container: &'a str,
    /// Operation id (or a verify/complete label).
    pub op: &'a str,
}

impl Api {
    /// An API handle for a run.
    pub fn new(http: reqwest::Client, creds: Credentials, opts: &ClientOptions) -> Api {
        Api {
            http,
            creds,
            limiter: Limiter::new(opts.quotas.clone()),
            retry: opts.retry.clone(),
            timeout: opts.request_timeout,
            progress: opts.progress.clone(),
            stats: Stats::default(),
        }
    }

    async fn token(&self, who: As<'_>) -> Result<Option<String>, TokenError> {
        let missing = |what: &str| TokenError {
            principal: what.to_string(),
            endpoint: String::new(),
            code: None,
            detail: "no credentials file was given for this destination".into(),
            user_specific: false,
            outage: false,
        };
        match who {
            As::GoogleUser(u) => match &self.creds.google {
                Some(g) => g.token(Some(u), SCOPE_IMPORT).await.map(Some),
                None => Err(missing("Google service account")),
            },
            As::GoogleApp => match &self.creds.google {
                Some(g) => g.token(None, SCOPE_BOT).await.map(Some),
                None => Err(missing("Google service account")),
            },
            As::Graph => match &self.creds.microsoft {
                Some(m) => m.token().await.map(Some),
                None => Err(missing("Microsoft app")),
            },
            As::Anonymous => Ok(None),
        }
    }

    async fn invalidate(&self, who: As<'_>) {
        match who {
            As::GoogleUser(u) => {
                if let Some(g) = &self.creds.google {
                    g.invalidate(Some(u), SCOPE_IMPORT).await;
                }
            }
            As::GoogleApp => {
                if let Some(g) = &self.creds.google {
                    g.invalidate(None, SCOPE_BOT).await;
                }
            }
            As::Graph => {
                if let Some(m) = &self.creds.microsoft {
                    m.invalidate().await;
                }
            }
            As::Anonymous => {}
        }
    }

    /// Sends a request built by `build` until it gets a final answer.
    pub async fn send(
        &self,
        dest: Dest,
        ctx: Ctx<'_>,
        who: As<'_>,
        buckets: &[Bucket],
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Reply, CallError> {
        self.send_with(dest, ctx, who, buckets, true, build).await
    }

    /// Like [`Api::send`], but a timeout, dropped connection or 5xx (the request may have
    /// been applied) is returned as [`CallError::GaveUp`] at once instead of being replayed, for
    /// requests the caller must reconcile before repeating (no idempotency key).
    pub async fn send_no_replay(
        &self,
        dest: Dest,
        ctx: Ctx<'_>,
        who: As<'_>,
        buckets: &[Bucket],
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Reply, CallError> {
        self.send_with(dest, ctx, who, buckets, false, build).await
    }

    async fn send_with(
        &self,
        dest: Dest,
        ctx: Ctx<'_>,
        who: As<'_>,
        buckets: &[Bucket],
        replay: bool,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Reply, CallError> {
        let retriable: fn(&Failure) -> bool = match dest {
            Dest::Chat => crate::chat::is_retriable,
            Dest::Graph => crate::teams::is_retriable,
        };
        let mut refreshed = false;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.limiter.acquire(ctx.container, buckets).await;
            let token = match self.token(who).await {
                Ok(t) => t,
                // The token endpoint is down or throttling: wait like for any other
                // retriable failure instead of stopping the run.
                Err(t) if token_outage(&t) && attempt < self.retry.max_attempts => {
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    self.progress.retry(ctx.container, ctx.op, &t.detail);
                    tokio::time::sleep(backoff(&self.retry, attempt)).await;
                    continue;
                }
                Err(t) => return Err(t.into()),
            };
            let mut req = build(&self.http).timeout(self.timeout);
            if let Some(t) = &token {
                req = req.bearer_auth(t);
            }
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let (failure, retry_after, detail) = match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let location =
                        resp.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        .filter(|s| s.is_finite() && *s >= 0.0)
                        .map(Duration::from_secs_f64);
                    match resp.bytes().await {
                        Ok(body) => {
                            let reply = Reply { status, location, body: body.to_vec() };
                            if status == 401 && !refreshed && token.is_some() {
                                refreshed = true;
                                self.invalidate(who).await;
                                continue;
                            }
                            let failure = Failure::Status(status);
                            if !retriable(&failure) {
                                return Ok(reply);
                            }
                            (failure, retry_after, reply.error_text())
                        }
                        Err(e) => {
                            (Failure::Connection, None, format!("reading the response: {}", without_url(&e)))
                        }
                    }
                }
                Err(e) => {
                    let f = if e.is_timeout() { Failure::Timeout } else { Failure::Connection };
                    (f, None, without_url(&e))
                }
            };
            // A server error may come after the write was applied (a gateway losing the
            // backend's answer): as ambiguous as a lost connection.
            let ambiguous = matches!(
                failure,
                Failure::Timeout | Failure::Connection | Failure::Status(500 | 502 | 503 | 504)
            );
            if !retriable(&failure) || attempt >= self.retry.max_attempts || (ambiguous && !replay) {
                return Err(CallError::GaveUp { attempts: attempt, last: detail });
            }
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            self.progress.retry(ctx.container, ctx.op, &detail);
            let wait = match retry_after {
                // The server's word wins over our backoff cap (bounded against nonsense),
                // and holds this container's own quota (see Limiter::pause).
                Some(w) => {
                    let w = w.min(MAX_RETRY_AFTER);
                    self.limiter.pause(ctx.container, buckets, w);
                    w
                }
                None => backoff(&self.retry, attempt),
            };
            tracing::debug!(container = ctx.container, operation = ctx.op, attempt, wait_ms = wait.as_millis() as u64, reason = %detail, "retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

/// Whether a token failure is an outage of the token endpoint (unreachable, 5xx, 429)
/// rather than a refusal (an OAuth error code) or a local problem: worth waiting out.
pub fn token_outage(t: &TokenError) -> bool {
    t.outage
}

/// Full-jitter exponential backoff: uniform in [0, min(max, base·2^(attempt-1))].
fn backoff(r: &RetryOptions, attempt: u32) -> Duration {
    let exp = r.base_delay.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let cap = exp.min(r.max_delay);
    let ms = cap.as_millis() as u64;
    Duration::from_millis(rand::thread_rng().gen_range(0..=ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_jittered() {
        let r = RetryOptions {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        for attempt in 1..20 {
            assert!(backoff(&r, attempt) <= Duration::from_millis(1000));
        }
        assert!(backoff(&r, 1) <= Duration::from_millis(100));
    }

    #[test]
    fn error_text_reads_both_envelopes() {
        let chat = Reply {
            status: 409,
            location: None,
            body: br#"{"error":{"code":409,"status":"ALREADY_EXISTS","message":"exists"}}"#.to_vec(),
        };
        assert_eq!(chat.error_text(), "HTTP 409 ALREADY_EXISTS: exists");
        let graph = Reply {
            status: 400,
            location: None,
            body: br#"{"error":{"code":"BadRequest","message":"no"}}"#.to_vec(),
        };
        assert_eq!(graph.error_text(), "HTTP 400 BadRequest: no");
    }
}
