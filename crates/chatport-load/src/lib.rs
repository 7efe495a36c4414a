//! chatport-load: executes a plan against Google Chat (import mode) or Microsoft Teams
//! (Graph migration mode), reads the result back to verify it, and completes the import.
//!
//! Three entry points, each async (tokio) and each driven by a plan directory and a SQLite
//! state file:
//! - [`load()`] sends every non-completion operation exactly once: containers in parallel
//!   (bounded), operations strictly in order within one, under client-side token buckets,
//!   retrying 429/5xx/timeouts with backoff, recording intent before and the destination's
//!   names after each call so a killed run resumes with no duplicate and no gap;
//! - [`verify()`] diffs the destination against the plan and writes `verify.json` plus one
//!   CSV per container with differences;
//! - [`complete()`] ends import/migration mode for clean containers and adds current members.
//!
//! ```no_run
//! # async fn demo() -> Result<(), chatport_load::LoadError> {
//! use chatport_load::{load, ClientOptions, Endpoints, LoadOptions};
//! let opts = LoadOptions {
//!     client: ClientOptions {
//!         endpoints: Endpoints::single("http://127.0.0.1:8080"),
//!         google_key: Some("creds/google-service-account.json".into()),
//!         ..ClientOptions::default()
//!     },
//!     dry_run: false,
//! };
//! let summary = load("plan/chat".as_ref(), "canonical".as_ref(), "state.db".as_ref(), &opts).await?;
//! assert!(summary.is_complete(), "{:?}", summary.failures);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod auth;
pub mod chat;
pub mod complete;
pub mod dry_run;
pub mod error;
pub mod exec;
pub mod http;
pub mod limits;
pub mod options;
pub mod plan_dir;
pub mod progress;
pub mod state;
pub mod teams;
pub mod verify;

pub use complete::{complete, CompleteSummary};
pub use dry_run::DryRunReport;
pub use error::LoadError;
pub use exec::{load, LoadSummary, OpFailure};
pub use options::{
    ClientOptions, CompleteOptions, Endpoints, LoadOptions, QuotaOptions, RetryOptions, VerifyOptions,
};
pub use progress::{NoProgress, OpOutcome, Progress};
pub use verify::{verify, DiffKind, Difference, VerifyReport};
