//! Source export readers producing the chatport canonical format.
//!
//! One module per source platform; `slack` is the first. A reader takes an export (a zip
//! or an unpacked folder) and writes a canonical directory (see `chatport-model`),
//! reporting everything odd as warnings rather than failing: only an unreadable input or
//! an unwritable output is an error.
//!
//! ```no_run
//! use chatport_extract::{extract_slack, ExtractOptions, NoProgress};
//! let (manifest, warnings) = extract_slack(
//!     "export.zip".as_ref(), "canonical".as_ref(), &ExtractOptions::default(), &NoProgress,
//! ).unwrap();
//! println!("{} messages, {} warnings", manifest.counts.messages, warnings.total);
//! ```

pub mod jsonout;
pub mod lossy;
pub mod names;
pub mod slack;
pub mod source;
pub mod spool;
pub mod transcode;
pub mod zipdir;

use std::path::PathBuf;

/// Errors that stop an extraction.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The export cannot be opened.
    #[error(transparent)]
    Source(#[from] source::SourceError),
    /// The output folder exists and is not empty.
    #[error("{0}: the output folder is not empty (use --force to replace a previous extraction)")]
    OutputNotEmpty(PathBuf),
    /// Writing the output failed.
    #[error("{path}: {source}")]
    Output {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Writing a data file failed.
    #[error(transparent)]
    Jsonl(#[from] chatport_model::JsonlError),
}

/// Bounds and switches of an extraction.
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// Largest inflated size of one JSON file.
    pub max_json_bytes: u64,
    /// Largest inflated size of one file content (upload).
    pub max_file_bytes: u64,
    /// Largest inflated size of the whole export.
    pub max_total_bytes: u64,
    /// Replace a previous extraction in the output folder.
    pub force: bool,
    /// Version written into the manifest.
    pub tool_version: String,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions {
            max_json_bytes: 512 << 20,
            max_file_bytes: 4 << 30,
            max_total_bytes: 1 << 40,
            force: false,
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// What an extraction warned about. Every warning is in `warnings.jsonl`; memory holds
/// only the counts and the first few (a partial export can warn once per message).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct WarningSummary {
    /// Warnings written.
    pub total: u64,
    /// How many of each code.
    pub by_code: std::collections::BTreeMap<chatport_model::WarningCode, u64>,
    /// The first [`WarningSummary::SAMPLE`] warnings, in file order.
    pub first: Vec<chatport_model::Warning>,
}

impl WarningSummary {
    /// How many warnings [`WarningSummary::first`] keeps.
    pub const SAMPLE: usize = 5;

    /// Whether nothing was warned about.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Counts one more warning, written after the ones counted before.
    pub fn add(&mut self, warning: &chatport_model::Warning) {
        self.total += 1;
        *self.by_code.entry(warning.code).or_default() += 1;
        if self.first.len() < Self::SAMPLE {
            self.first.push(warning.clone());
        }
    }
}

/// Receives progress: the number of day files, then increments as they are written.
pub trait Progress: Sync {
    /// The total number of day files to read.
    fn set_total(&self, day_files: u64);
    /// Day files and messages just written.
    fn advance(&self, day_files: u64, messages: u64);
}

/// A [`Progress`] that ignores everything.
pub struct NoProgress;

impl Progress for NoProgress {
    fn set_total(&self, _: u64) {}
    fn advance(&self, _: u64, _: u64) {}
}

pub use slack::extract as extract_slack;
