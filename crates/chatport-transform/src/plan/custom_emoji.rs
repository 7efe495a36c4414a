//! The source workspace's custom emoji (`--custom-emoji <dir>`): image files named
//! `<name>.<ext>` (png, gif, jpg, jpeg, webp), as slackdump's emoji dump writes them, plus
//! its `index.json` (`{"name": "https://…" | "alias:<other>"}`) when present.
//!
//! Policy (`--custom-emoji-policy`): `text` keeps `:name:` (reported as
//! `custom_emoji_as_text`); `image` puts the image inline where the destination allows it:
//! Teams messages carry it as a `hostedContents` image (within the inline-image size limit
//! and the per-message image cap, else text), Google Chat text cannot hold an image, so
//! Chat keeps `:name:` and the report says why. Reactions with custom emoji keep the
//! planners' rules (dropped in Chat, counted as text in the Teams footer).
//!
//! The loader reads every content from the canonical directory, so the image policy needs
//! the emoji folder inside it (e.g. `<canonical>/emoji/`).

use super::TransformError;
use chatport_model::jsonl::sha256_hex;
use chatport_model::plan::BlobRef;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// How to carry custom emoji in message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomEmojiPolicy {
    /// `:name:` text.
    #[default]
    Text,
    /// An inline image where the destination allows it (Teams), else text.
    Image,
}

impl std::str::FromStr for CustomEmojiPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(CustomEmojiPolicy::Text),
            "image" => Ok(CustomEmojiPolicy::Image),
            _ => Err(format!("{s:?}: expected `text` or `image`")),
        }
    }
}

/// One custom emoji.
#[derive(Debug, Clone, Default)]
pub struct CustomEmoji {
    /// Slack's `alias:<other>`: this name stands for another emoji.
    pub alias: Option<String>,
    /// Its image, when the image policy is on and the file is in the folder.
    pub image: Option<BlobRef>,
}

/// Image types carried inline, by file extension.
fn image_type(ext: &str) -> Option<&'static str> {
    match ext.to_ascii_lowercase().as_str() {
        "png" => Some("image/png"),
        "gif" => Some("image/gif"),
        "jpg" | "jpeg" => Some("image/jpeg"),
        "webp" => Some("image/webp"),
        _ => None,
    }
}

/// Reads the custom emoji folder. With the image policy every image is hashed and given a
/// path relative to `canonical` (an error names the folder when it is not inside it).
pub fn load(
    canonical: &Path,
    dir: &Path,
    policy: CustomEmojiPolicy,
) -> Result<BTreeMap<String, CustomEmoji>, TransformError> {
    let io = |path: &Path, e: std::io::Error| TransformError::Output { path: path.to_owned(), source: e };
    let opt = |detail: String| TransformError::Options(format!("--custom-emoji {}: {detail}", dir.display()));
    let mut out: BTreeMap<String, CustomEmoji> = BTreeMap::new();
    let index = dir.join("index.json");
    if index.exists() {
        let bytes = std::fs::read(&index).map_err(|e| io(&index, e))?;
        let map: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&bytes)
            .map_err(|e| opt(format!("index.json: {e} (expected an object of name → URL or alias:name)")))?;
        for (name, v) in map {
            let alias = v.as_str().and_then(|s| s.strip_prefix("alias:")).map(str::to_owned);
            out.insert(name, CustomEmoji { alias, image: None });
        }
    }
    let relative = match policy {
        CustomEmojiPolicy::Text => None,
        CustomEmojiPolicy::Image => {
            let base = canonical.canonicalize().map_err(|e| io(canonical, e))?;
            let full = dir.canonicalize().map_err(|e| io(dir, e))?;
            let rel = full.strip_prefix(&base).map_err(|_| {
                opt(format!(
                    "--custom-emoji-policy image needs the folder inside the canonical directory {} (the \
                     loader reads every content from there): copy it to {}/emoji",
                    canonical.display(),
                    canonical.display()
                ))
            })?;
            Some(rel.to_owned())
        }
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| io(dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let (Some(stem), Some(ext)) =
            (path.file_stem().and_then(|s| s.to_str()), path.extension().and_then(|s| s.to_str()))
        else {
            continue;
        };
        let Some(content_type) = image_type(ext) else { continue };
        if !path.is_file() {
            continue;
        }
        let slot = out.entry(stem.to_owned()).or_default();
        let Some(rel) = &relative else { continue };
        let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
        let rel_path = rel.join(entry.file_name());
        let rel_path: Vec<String> =
            rel_path.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        slot.image = Some(BlobRef {
            path: rel_path.join("/"),
            sha256: sha256_hex(&bytes),
            bytes: bytes.len() as u64,
            filename: entry.file_name().to_string_lossy().into_owned(),
            content_type: content_type.to_owned(),
        });
    }
    Ok(out)
}

/// The emoji a name stands for, following one alias to another custom emoji; `Err` carries
/// the alias target when it is not a custom emoji (a standard one, or unknown).
pub fn resolve<'a>(
    map: &'a BTreeMap<String, CustomEmoji>,
    name: &str,
) -> Option<Result<&'a CustomEmoji, String>> {
    let e = map.get(name)?;
    match &e.alias {
        None => Some(Ok(e)),
        Some(target) => Some(match map.get(target.as_str()) {
            Some(t) if t.alias.is_none() => Ok(t),
            _ => Err(target.clone()),
        }),
    }
}
