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

/// Chat: request bytes reserved for everything in a message but its text (`createTime`,
/// `thread.threadKey`, JSON punctuation).
pub const CHAT_ENVELOPE_RESERVE: usize = 1_000;
/// Chat: request bytes reserved for each `attachmentDataRef` the loader adds (a resource
/// name and an upload token returned by `media.upload`).
pub const CHAT_ATTACHMENT_RESERVE: usize = 1_500;

/// The bytes a string takes inside a JSON string literal as `serde_json` writes it
/// (non-ASCII stays UTF-8; quotes, backslashes and control characters are escaped).
pub fn json_len(s: &str) -> usize {
    s.bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum()
}

/// Chat: the JSON bytes a message's text may take so that the whole `messages.create`
/// body, with `attachments` references, stays within [`super::chat::MESSAGE_LIMIT`].
pub fn chat_text_budget(attachments: usize) -> usize {
    super::chat::MESSAGE_LIMIT
        .saturating_sub(CHAT_ENVELOPE_RESERVE + CHAT_ATTACHMENT_RESERVE * attachments)
        .max(4_000)
}

/// Chat text parts of a document, each within `budget` bytes once JSON-escaped (the limit
/// counts the serialized request, and escaping can grow text up to six-fold). The shared
/// splitter counts raw bytes, so its limit shrinks until every escaped part fits.
pub fn chat_parts(
    doc: &crate::markup::Document,
    dir: &dyn crate::markup::MentionResolver,
    budget: usize,
) -> Vec<crate::markup::Rendered> {
    let mut max = budget;
    loop {
        let parts = crate::markup::render_chat_parts(doc, dir, max);
        let worst = parts.iter().map(|p| json_len(&p.text)).max().unwrap_or(0);
        if worst <= budget || max <= 64 {
            return parts;
        }
        max = (max * budget / worst).min(max - max / 8).max(64);
    }
}
