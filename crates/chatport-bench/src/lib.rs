//! Benchmarks for chatport's Slack extractor, and the synthetic exports they run on.
//!
//! * [`generate`] writes a realistic Slack export of exactly N messages (users with bots,
//!   guests and deactivated accounts; public and private channels, group DMs and DMs; mrkdwn
//!   and `rich_text` blocks; threads whose replies spill into later day files; broadcasts,
//!   edits, reactions with skin tones, files with tokened URLs, bot messages, system
//!   subtypes, tombstones; CJK, RTL and emoji text), deterministic for a seed, streamed day
//!   file by day file so memory stays flat, plus the counts an extractor must report for it.
//! * [`floor`] measures the least any extractor must do on a zip: inflate and parse.
//! * [`extract_bench`] runs the real `chatport extract` on a generated zip and compares its
//!   time and peak RSS with the floor.
//!
//! ```no_run
//! use chatport_bench::generate::{generate, GenerateOptions, Layout};
//!
//! let report = generate(&GenerateOptions {
//!     messages: 10_000,
//!     seed: 1,
//!     channels: None,
//!     shape: None,
//!     layout: Layout::Zip,
//!     out: "export.zip".into(),
//! })?;
//! assert_eq!(report.counts.messages, 10_000);
//! # Ok::<(), anyhow::Error>(())
//! ```

#![warn(missing_docs)]

pub mod conversation;
pub mod extract_bench;
pub mod floor;
pub mod format;
pub mod generate;
pub mod markup;
pub mod model;
pub mod workspace;
