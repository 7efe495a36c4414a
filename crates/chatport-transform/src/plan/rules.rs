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

/// File extensions Google Chat refuses in `media.upload` (executables, scripts, installers
/// and disk images; the list the emulator enforces, after Google's blocked-types list).
pub const CHAT_BLOCKED_EXTENSIONS: &[&str] = &[
    "ade", "adp", "apk", "appx", "bat", "cab", "chm", "cmd", "com", "cpl", "dll", "dmg", "exe", "hta",
    "ins", "isp", "iso", "jar", "js", "jse", "lib", "lnk", "mde", "msc", "msi", "msix", "msp", "mst",
    "nsh", "pif", "ps1", "scr", "sct", "shb", "sys", "vb", "vbe", "vbs", "vxd", "wsc", "wsf", "wsh",
];

/// The extension of a file name (lowercase), if it has one: text after the last `.` that
/// is not the first character, 1 to 10 ASCII letters or digits.
pub fn extension(name: &str) -> Option<String> {
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty() && (1..=10).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| ext.to_ascii_lowercase())
}

/// Why Google Chat would refuse to upload a file of this name, if it would.
pub fn chat_blocked(name: &str) -> Option<&'static str> {
    let ext = extension(name)?;
    CHAT_BLOCKED_EXTENSIONS.contains(&ext.as_str()).then_some("a file type Google Chat blocks")
}

/// An extension for a content type, for file names that have none.
fn extension_for(content_type: &str) -> &'static str {
    let ct = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match ct.as_str() {
        "text/plain" => "txt",
        "text/markdown" => "md",
        "text/csv" => "csv",
        "text/html" => "html",
        "application/json" => "json",
        "application/pdf" => "pdf",
        "application/zip" => "zip",
        "application/gzip" | "application/x-gzip" => "gz",
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "image/svg+xml" => "svg",
        "audio/mpeg" => "mp3",
        "video/mp4" => "mp4",
        _ => "bin",
    }
}

/// Chat's `media.upload` needs a file name with an extension: a name without one (say
/// `Makefile`) is uploaded as `Makefile.txt` (the extension from its content type, else
/// `.bin`). Returns the blob to upload and, when renamed, the original name.
pub fn chat_upload_blob(
    mut blob: chatport_model::plan::BlobRef,
) -> (chatport_model::plan::BlobRef, Option<String>) {
    if extension(&blob.filename).is_some() {
        return (blob, None);
    }
    let original = blob.filename.clone();
    let stem = original.trim_end_matches('.');
    let stem = if stem.trim().is_empty() { "file" } else { stem };
    blob.filename = format!("{stem}.{}", extension_for(&blob.content_type));
    (blob, Some(original))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_and_blocked_types() {
        assert_eq!(extension("report.PDF").as_deref(), Some("pdf"));
        assert_eq!(extension("archive.tar.gz").as_deref(), Some("gz"));
        assert_eq!(extension("Makefile"), None);
        assert_eq!(extension(".bashrc"), None, "a leading dot is a hidden file, not an extension");
        assert_eq!(extension("notes."), None);
        assert!(chat_blocked("Setup.Exe").is_some());
        assert!(chat_blocked("run.ps1").is_some());
        assert!(chat_blocked("exe").is_none());
        assert!(chat_blocked("photo.jpg").is_none());
    }

    #[test]
    fn upload_names_get_an_extension() {
        let blob = |name: &str, ct: &str| chatport_model::plan::BlobRef {
            path: "blobs/x".into(),
            sha256: "0".into(),
            bytes: 1,
            filename: name.into(),
            content_type: ct.into(),
        };
        let (b, renamed) = chat_upload_blob(blob("Makefile", "text/plain; charset=utf-8"));
        assert_eq!((b.filename.as_str(), renamed.as_deref()), ("Makefile.txt", Some("Makefile")));
        assert_eq!(chat_upload_blob(blob("F0123", "application/x-unknown")).0.filename, "F0123.bin");
        assert_eq!(chat_upload_blob(blob("a.png", "image/png")).1, None);
    }

    #[test]
    fn json_len_counts_escapes() {
        for s in ["plain", "q\"uote", "back\\slash", "tab\tnl\n", "ctl\u{1}", "é ✓"] {
            assert_eq!(json_len(s) + 2, serde_json::to_string(s).map(|j| j.len()).unwrap_or(0), "{s:?}");
        }
    }
}
