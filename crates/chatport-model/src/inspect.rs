//! Checking and summarising a canonical directory: `validate` (schemas, manifest counts
//! and checksums, referential integrity) and `stats` (per-conversation counts).
//!
//! Schema checking is done by reading every record into its Rust type with unknown
//! fields refused: the committed JSON Schemas are generated from the same types, so a
//! record that reads is a record that validates.

use crate::canonical::{Conversation, Counts, FileRecord, Manifest, Message, User, Warning, WarningCode};
use crate::jsonl::{read_jsonl, JsonlError};
use crate::FORMAT_VERSION;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::Path;

/// The outcome of [`validate`]: problems found (empty when clean) and the counts recomputed
/// from the records.
#[derive(Debug, Default)]
pub struct Validation {
    /// Every problem, each naming its file (and line or record).
    pub problems: Vec<String>,
    /// Counts recomputed from the records.
    pub counts: Counts,
}

impl Validation {
    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

fn hash_file(path: &Path) -> std::io::Result<(u64, String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let (mut bytes, mut lines) = (0u64, 0u64);
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        bytes += n as u64;
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
    Ok((bytes, hex::encode(h.finalize()), lines))
}

fn read_all<T: serde::de::DeserializeOwned>(dir: &Path, rel: &str, problems: &mut Vec<String>) -> Vec<T> {
    match read_jsonl::<T>(&dir.join(rel)) {
        Ok(iter) => iter
            .filter_map(|r| match r {
                Ok(t) => Some(t),
                Err(e) => {
                    problems.push(format!("schema: {}", short(e, dir)));
                    None
                }
            })
            .collect(),
        Err(e) => {
            problems.push(short(e, dir));
            Vec::new()
        }
    }
}

fn short(e: JsonlError, dir: &Path) -> String {
    e.to_string().replace(&format!("{}/", dir.display()), "")
}

/// Checks a canonical directory. Problems are collected, not returned as errors, so one
/// run reports all of them.
pub fn validate(dir: &Path) -> Validation {
    let mut v = Validation::default();
    let p = &mut v.problems;
    let manifest: Option<Manifest> = match std::fs::read(dir.join("manifest.json")) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(m) => Some(m),
            Err(e) => {
                p.push(format!("schema: manifest.json: {e}"));
                None
            }
        },
        Err(e) => {
            p.push(format!("manifest.json: {e}"));
            None
        }
    };
    let Some(manifest) = manifest else { return v };
    if manifest.format_version != FORMAT_VERSION {
        p.push(format!("manifest.json: format_version {} is not {FORMAT_VERSION}", manifest.format_version));
    }
    // Checksums, sizes and record counts.
    let mut listed: HashMap<&str, &crate::DataFile> = HashMap::new();
    for f in &manifest.files {
        if listed.insert(f.path.as_str(), f).is_some() {
            p.push(format!("manifest.json: {} listed twice", f.path));
        }
        if !crate::jsonl_path_is_safe(&f.path) {
            p.push(format!("manifest.json: unsafe path {:?}", f.path));
            continue;
        }
        match hash_file(&dir.join(&f.path)) {
            Ok((bytes, sha, lines)) => {
                if bytes != f.bytes || sha != f.sha256 {
                    p.push(format!("{}: checksum or size differs from the manifest", f.path));
                }
                if f.path.ends_with(".jsonl") && lines != f.records {
                    p.push(format!("{}: {} records, the manifest says {}", f.path, lines, f.records));
                }
            }
            Err(e) => p.push(format!("{}: {e}", f.path)),
        }
    }
    for sub in ["messages", "blobs"] {
        for rel in walk(dir, sub) {
            if !listed.contains_key(rel.as_str()) {
                p.push(format!("{rel}: present but not in the manifest"));
            }
        }
    }
    for name in ["users.jsonl", "conversations.jsonl", "files.jsonl", "warnings.jsonl"] {
        if !listed.contains_key(name) {
            p.push(format!("manifest.json: {name} is not listed"));
        }
    }

    // Records against their types, and references.
    let warnings: Vec<Warning> = read_all(dir, "warnings.jsonl", p);
    let orphan_ok: HashSet<(String, u64)> = warnings
        .iter()
        .filter(|w| w.code == WarningCode::OrphanReply)
        .filter_map(|w| Some((w.file.clone()?, w.record?)))
        .collect();
    let users: Vec<User> = read_all(dir, "users.jsonl", p);
    let mut user_ids = HashSet::new();
    for u in &users {
        if !user_ids.insert(u.id.as_str()) {
            p.push(format!("users.jsonl: user {} appears twice", u.id));
        }
    }
    let files: Vec<FileRecord> = read_all(dir, "files.jsonl", p);
    let mut file_ids = HashSet::new();
    for f in &files {
        if !file_ids.insert(f.id.as_str()) {
            p.push(format!("files.jsonl: file {} appears twice", f.id));
        }
        if let Some(blob) = &f.blob {
            match listed.get(blob.as_str()) {
                Some(df) if Some(&df.sha256) == f.sha256.as_ref() => {}
                _ => p.push(format!(
                    "files.jsonl: file {}: blob {blob} missing or with another checksum",
                    f.id
                )),
            }
        }
    }
    let conversations: Vec<Conversation> = read_all(dir, "conversations.jsonl", p);
    let mut counts = Counts {
        users: users.len() as u64,
        conversations: conversations.len() as u64,
        files: files.len() as u64,
        warnings: warnings.len() as u64,
        blobs: manifest.files.iter().filter(|f| f.path.starts_with("blobs/")).count() as u64,
        ..Default::default()
    };
    let mut conv_ids = HashSet::new();
    for c in &conversations {
        if !conv_ids.insert(c.id.as_str()) {
            p.push(format!("conversations.jsonl: conversation {} appears twice", c.id));
        }
        let people = c.members.iter().chain(c.memberships.iter().map(|m| &m.user)).chain(c.creator.iter());
        for u in people {
            if !user_ids.contains(u.as_str()) {
                p.push(format!("conversations.jsonl: conversation {}: unknown user {u}", c.id));
            }
        }
        counts.memberships += c.memberships.len() as u64;
        if !listed.contains_key(c.messages_path.as_str()) {
            p.push(format!(
                "conversations.jsonl: conversation {}: {} not in the manifest",
                c.id, c.messages_path
            ));
            continue;
        }
        let msgs: Vec<Message> = read_all(dir, &c.messages_path, p);
        if msgs.len() as u64 != c.message_count {
            p.push(format!(
                "{}: {} messages, conversations.jsonl says {}",
                c.messages_path,
                msgs.len(),
                c.message_count
            ));
        }
        let all_ts: HashSet<i64> = msgs.iter().filter_map(|m| m.ts.micros()).collect();
        for (i, m) in msgs.iter().enumerate() {
            let at = format!("{}: line {}", c.messages_path, i + 1);
            counts.messages += 1;
            if m.conversation != c.id {
                p.push(format!("{at}: conversation {} is not {}", m.conversation, c.id));
            }
            let mut people: Vec<&String> = m.author.iter().collect();
            people.extend(m.edited.iter().filter_map(|e| e.user.as_ref()));
            for r in &m.reactions {
                counts.reactions += r.users.len() as u64;
                people.extend(r.users.iter());
            }
            for u in people {
                if !user_ids.contains(u.as_str()) {
                    p.push(format!("{at}: unknown user {u}"));
                }
            }
            for f in &m.files {
                if !file_ids.contains(f.as_str()) {
                    p.push(format!("{at}: unknown file {f}"));
                }
            }
            if let Some(root) = &m.reply_to {
                counts.replies += 1;
                let known = root.micros().is_some_and(|r| all_ts.contains(&r));
                if !known && !orphan_ok.contains(&(m.source.file.clone(), m.source.index)) {
                    p.push(format!(
                        "{at}: thread root {root} is not in the conversation and no warning says so"
                    ));
                }
            }
        }
    }
    let mc = &manifest.counts;
    let pairs = [
        ("users", mc.users, counts.users),
        ("conversations", mc.conversations, counts.conversations),
        ("messages", mc.messages, counts.messages),
        ("replies", mc.replies, counts.replies),
        ("reactions", mc.reactions, counts.reactions),
        ("files", mc.files, counts.files),
        ("memberships", mc.memberships, counts.memberships),
        ("blobs", mc.blobs, counts.blobs),
        ("warnings", mc.warnings, counts.warnings),
    ];
    for (name, said, found) in pairs {
        if said != found {
            p.push(format!("manifest.json: counts.{name} is {said}, the records hold {found}"));
        }
    }
    v.counts = counts;
    v
}

fn walk(dir: &Path, sub: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![sub.to_owned()];
    while let Some(rel) = stack.pop() {
        let Ok(items) = std::fs::read_dir(dir.join(&rel)) else { continue };
        for item in items.flatten() {
            let name = format!("{rel}/{}", item.file_name().to_string_lossy());
            if item.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(name);
            } else {
                out.push(name);
            }
        }
    }
    out.sort();
    out
}

/// Counts of one conversation, for `chatport stats`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct ConversationStats {
    /// Conversation id.
    pub id: String,
    /// Kind (`public_channel`, …).
    pub kind: String,
    /// Name, if any.
    pub name: Option<String>,
    /// Messages of every subtype.
    pub messages: u64,
    /// Replies.
    pub replies: u64,
    /// Reactions (message × emoji × user).
    pub reactions: u64,
    /// File references.
    pub files: u64,
    /// Current members.
    pub members: u64,
    /// Membership intervals.
    pub memberships: u64,
    /// Messages by subtype (`(none)` for plain messages).
    pub subtypes: BTreeMap<String, u64>,
    /// Oldest `ts`.
    pub first_ts: Option<String>,
    /// Newest `ts`.
    pub last_ts: Option<String>,
}

/// Per-conversation counts of a canonical directory, in `conversations.jsonl` order.
pub fn stats(dir: &Path) -> Result<Vec<ConversationStats>, JsonlError> {
    let mut out = Vec::new();
    for c in read_jsonl::<Conversation>(&dir.join("conversations.jsonl"))? {
        let c = c?;
        let mut s = ConversationStats {
            id: c.id.clone(),
            kind: c.kind.as_str().to_owned(),
            name: c.name.clone(),
            messages: 0,
            replies: 0,
            reactions: 0,
            files: 0,
            members: c.members.len() as u64,
            memberships: c.memberships.len() as u64,
            subtypes: BTreeMap::new(),
            first_ts: None,
            last_ts: None,
        };
        let (mut first, mut last): (Option<crate::SlackTs>, Option<crate::SlackTs>) = (None, None);
        for m in read_jsonl::<Message>(&dir.join(&c.messages_path))? {
            let m = m?;
            s.messages += 1;
            s.replies += u64::from(m.is_reply());
            s.reactions += m.reactions.iter().map(|r| r.users.len() as u64).sum::<u64>();
            s.files += m.files.len() as u64;
            *s.subtypes.entry(m.subtype.clone().unwrap_or_else(|| "(none)".into())).or_default() += 1;
            if first.as_ref().is_none_or(|f| m.ts < *f) {
                first = Some(m.ts.clone());
            }
            if last.as_ref().is_none_or(|l| m.ts > *l) {
                last = Some(m.ts.clone());
            }
        }
        s.first_ts = first.map(|t| t.0);
        s.last_ts = last.map(|t| t.0);
        out.push(s);
    }
    Ok(out)
}
