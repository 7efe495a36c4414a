//! Destination rules shared by the planners that the first version missed (the planner
//! audit): the spill-file key of a conversation, Google Chat's blocked upload types and
//! file names, request sizes measured as JSON, one membership per user and space, AAD
//! object ids for Teams authors, and reaction de-duplication.
//!
//! Each rule is a small pure function here so that the planners call it at one place.

use super::{slug, ConversationPlan};
use chatport_model::jsonl::sha256_hex;

/// The key naming a conversation's spilled report file: its first container, or, for a
/// conversation that produced no container (skipped), the conversation its report entries
/// are about. Distinct conversations get distinct keys, so parallel spills never share a
/// file.
pub fn spill_key(plan: &ConversationPlan) -> String {
    let key = match plan.containers.first() {
        Some((c, _)) => format!("container:{}", c.id),
        None => {
            let conv = plan.report.iter().find_map(|e| e.conversation.clone()).unwrap_or_default();
            format!("conversation:{conv}")
        }
    };
    // The key has `:` so `slug` always hashes it: a fixed-width, file-safe name.
    let name = slug(&key, 48);
    debug_assert_eq!(name, sha256_hex(key.as_bytes())[..16]);
    name
}
