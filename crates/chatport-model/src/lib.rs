//! The canonical format (v1) of chatport: the record types every stage reads and writes.
//!
//! A canonical directory is the contract between `extract` and `transform` (see
//! `DESIGN.md`): `manifest.json`, `users.jsonl`, `conversations.jsonl`,
//! `messages/<conversation>.jsonl`, `files.jsonl`, `blobs/` and `warnings.jsonl`.
//! This crate owns those types, the JSONL reader and writer that count and hash what they
//! write, and the JSON Schemas generated from the types. It does no parsing of any source
//! format and no I/O beyond the JSONL helpers.
//!
//! ```
//! use chatport_model::{SlackTs, Reaction};
//! let ts = SlackTs::new("1736554636.807919");
//! assert_eq!(ts.micros(), Some(1_736_554_636_807_919));
//! let r = Reaction { name: "+1::skin-tone-4".into(), users: vec!["U1".into()], count: Some(1) };
//! assert_eq!(r.users.len(), 1);
//! ```

pub mod canonical;
pub mod jsonl;
pub mod plan;
pub mod schema;
pub mod ts;

pub use canonical::*;
pub use jsonl::{DataFileWriter, JsonlError};
pub use ts::SlackTs;

/// The version of the canonical format this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;

pub mod inspect;

/// Whether a manifest path is relative, `/`-separated and free of `..`, so reading it
/// cannot leave the canonical directory.
pub fn jsonl_path_is_safe(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && path.split('/').all(|p| !p.is_empty() && p != "." && p != "..")
}
