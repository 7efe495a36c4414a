//! Options of `load`, `verify` and `complete`: where the APIs are, which credential files
//! to use, parallelism, quotas, retries and timeouts. Plain data with defaults that match
//! the real services; nothing here performs I/O.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::progress::{NoProgress, Progress};

/// The real Google Chat API base URL.
pub const GOOGLE_CHAT_BASE: &str = "https://chat.googleapis.com";
/// The real Microsoft Graph v1.0 base URL.
pub const GRAPH_BASE: &str = "https://graph.microsoft.com/v1.0";

/// Where the destination APIs live. Token endpoints come from the credential files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Chat base (paths `/v1/…` and `/upload/v1/…` are appended).
    pub chat: String,
    /// Graph base including the version (paths `/teams…` are appended).
    pub graph: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints { chat: GOOGLE_CHAT_BASE.into(), graph: GRAPH_BASE.into() }
    }
}

impl Endpoints {
    /// Both APIs under one base URL, as the emulator serves them (`{base}/v1`,
    /// `{base}/upload/v1`, `{base}/v1.0`).
    pub fn single(base: &str) -> Endpoints {
        let base = base.trim_end_matches('/');
        Endpoints { chat: base.to_string(), graph: format!("{base}/v1.0") }
    }
}

/// Client-side token buckets. Chat limits are per minute, Graph limits per second, as the
/// services document them.
#[derive(Debug, Clone)]
pub struct QuotaOptions {
    /// False sends as fast as the server answers (429s are still honoured).
    pub enabled: bool,
    /// Multiplies every rate (e.g. the emulator's `time_scale`).
    pub scale: f64,
    /// Chat: writes per minute per space (messages, reactions, uploads).
    pub chat_space_writes: f64,
    /// Chat: message writes per minute per project.
    pub chat_message_writes: f64,
    /// Chat: reaction writes per minute per project.
    pub chat_reaction_writes: f64,
    /// Chat: attachment uploads per minute per project.
    pub chat_attachment_writes: f64,
    /// Chat: membership writes per minute per project.
    pub chat_membership_writes: f64,
    /// Chat: space writes per minute per project (create, completeImport).
    pub chat_space_project_writes: f64,
    /// Chat: space creations per minute per project (Google: fewer than 35 a minute).
    pub chat_space_creates: f64,
    /// Chat: reads per minute per project (list/get during reconcile and verify).
    pub chat_reads: f64,
    /// Graph: requests per second on one team or channel.
    pub graph_per_channel: f64,
    /// Graph: channel message POSTs per second per tenant.
    pub graph_post_message: f64,
    /// Graph: POST /teams per second per tenant.
    pub graph_post_team: f64,
    /// Graph: channel POST/PUT per second per tenant.
    pub graph_post_channel: f64,
    /// Graph: GET channel messages per second per tenant.
    pub graph_get_message: f64,
    /// Graph: other calls per second per tenant.
    pub graph_other: f64,
}

impl Default for QuotaOptions {
    fn default() -> Self {
        QuotaOptions {
            enabled: true,
            scale: 1.0,
            chat_space_writes: 60.0,
            chat_message_writes: 3000.0,
            chat_reaction_writes: 600.0,
            chat_attachment_writes: 600.0,
            chat_membership_writes: 300.0,
            chat_space_project_writes: 60.0,
            chat_space_creates: 34.0,
            chat_reads: 3000.0,
            graph_per_channel: 4.0,
            graph_post_message: 50.0,
            graph_post_team: 10.0,
            graph_post_channel: 30.0,
            graph_get_message: 20.0,
            graph_other: 30.0,
        }
    }
}

/// Retries of 429, 5xx, timeouts and connection errors.
#[derive(Debug, Clone)]
pub struct RetryOptions {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// First backoff step; doubles per attempt, with full jitter.
    pub base_delay: Duration,
    /// Longest backoff between attempts (a server's `Retry-After` is honoured as given,
    /// up to 10 minutes).
    pub max_delay: Duration,
}

impl Default for RetryOptions {
    fn default() -> Self {
        RetryOptions {
            max_attempts: 8,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(64),
        }
    }
}

/// Containers loaded at the same time by default. The quotas need many: a Chat project
/// allows 50 message writes/s but one space 1/s (50 spaces), a Teams tenant 50 message
/// posts/s but one channel 4/s (13 channels); a container costs one task and a few
/// requests in flight.
pub const DEFAULT_CONCURRENCY: usize = 64;

/// What every command needs to talk to a destination.
#[derive(Clone)]
pub struct ClientOptions {
    /// API base URLs.
    pub endpoints: Endpoints,
    /// Google service-account key JSON file (Chat plans).
    pub google_key: Option<PathBuf>,
    /// Microsoft app JSON file (Teams plans): `tenant_id`, `client_id`, then either
    /// `client_secret` or a certificate (`certificate` + `private_key` PEM file paths,
    /// relative to the JSON file, or `certificate_pem` + `private_key_pem` inline);
    /// optional `token_endpoint` and `scope`.
    pub microsoft_app: Option<PathBuf>,
    /// Containers loaded at the same time.
    pub concurrency: usize,
    /// Client-side quotas.
    pub quotas: QuotaOptions,
    /// Retry policy.
    pub retry: RetryOptions,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// Wait between polls of a Teams team-creation operation (Graph asks for > 30 s).
    pub poll_interval: Duration,
    /// Most polls of a team-creation operation before giving up on it.
    pub max_polls: u32,
    /// Receives progress events.
    pub progress: Arc<dyn Progress>,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("endpoints", &self.endpoints)
            .field("google_key", &self.google_key)
            .field("microsoft_app", &self.microsoft_app)
            .field("concurrency", &self.concurrency)
            .field("quotas", &self.quotas)
            .field("retry", &self.retry)
            .field("request_timeout", &self.request_timeout)
            .field("poll_interval", &self.poll_interval)
            .finish_non_exhaustive()
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            endpoints: Endpoints::default(),
            google_key: None,
            microsoft_app: None,
            concurrency: DEFAULT_CONCURRENCY,
            quotas: QuotaOptions::default(),
            retry: RetryOptions::default(),
            request_timeout: Duration::from_secs(120),
            poll_interval: Duration::from_secs(31),
            max_polls: 60,
            progress: Arc::new(NoProgress),
        }
    }
}

/// Options of [`crate::load()`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Connection, credentials, limits.
    pub client: ClientOptions,
    /// Walk the plan and estimate requests and time under the quotas; send nothing.
    pub dry_run: bool,
}

/// Options of [`crate::verify()`].
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Connection, credentials, limits.
    pub client: ClientOptions,
    /// Directory receiving `verify.json` and one CSV per container with differences.
    pub out_dir: PathBuf,
}

/// Options of [`crate::complete()`].
#[derive(Debug, Clone)]
pub struct CompleteOptions {
    /// Connection, credentials, limits.
    pub client: ClientOptions,
    /// Complete containers even when they did not verify clean.
    pub force: bool,
    /// Where the verification run before completing writes its files.
    pub verify_out: PathBuf,
    /// Warn about Chat spaces whose import mode expires within this time.
    pub expiry_warning: Duration,
}
