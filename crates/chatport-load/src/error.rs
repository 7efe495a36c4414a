//! Errors that stop a `load`, `verify` or `complete` run as a whole.
//!
//! A single operation rejected by the destination is *not* an error here: it is recorded
//! as a failure (operation id + server message) in the summary and the run goes on. These
//! variants are the problems no operation can get past: an unreadable plan, a state store
//! that cannot be opened, credentials that do not work.

use std::path::PathBuf;

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A plan file is missing, unreadable or has a bad record.
    #[error("plan {path}: {detail}")]
    Plan {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A blob named by the plan cannot be read from the canonical directory.
    #[error("blob {path} (operation {operation}): {detail}")]
    Blob {
        /// The blob file.
        path: PathBuf,
        /// The operation that needs it.
        operation: String,
        /// What is wrong.
        detail: String,
    },
    /// The state database cannot be opened, read or written.
    #[error("state store {path}: {detail}")]
    State {
        /// The database file.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
    /// The state database belongs to another plan.
    #[error("state store {path} was used with another plan ({detail}); use a new --state file")]
    StateMismatch {
        /// The database file.
        path: PathBuf,
        /// The differing plan identity.
        detail: String,
    },
    /// A credentials file is missing or malformed (its contents are never shown).
    #[error("credentials {path}: {detail}")]
    Credentials {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The token endpoint refused the credentials.
    #[error("authentication failed for {principal} at {endpoint}: {detail}")]
    Auth {
        /// Who we tried to authenticate as (service account / impersonated user / app id).
        principal: String,
        /// The token endpoint.
        endpoint: String,
        /// The server's error and description.
        detail: String,
    },
    /// An option is missing or invalid.
    #[error("{0}")]
    Options(String),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(String),
    /// Writing a report file failed.
    #[error("{path}: {detail}")]
    Output {
        /// The file.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
}
