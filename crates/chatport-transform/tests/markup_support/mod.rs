//! Helpers shared by the `markup_*` integration tests: a directory-backed resolver and a
//! strict checker for the Teams HTML dialect.

#![allow(dead_code)]

use std::collections::HashMap;

use chatport_transform::markup::{MentionResolver, ResolvedUser, TEAMS_TAGS};

/// A resolver over in-memory maps.
#[derive(Default)]
pub struct Directory {
    /// source user id → (display name, Chat user).
    pub users: HashMap<String, (String, Option<String>)>,
    /// source channel id → name.
    pub channels: HashMap<String, String>,
    /// source user-group id → handle.
    pub groups: HashMap<String, String>,
    /// custom emoji name → URL or `alias:name`.
    pub emoji: HashMap<String, String>,
}

impl MentionResolver for Directory {
    fn user(&self, id: &str) -> Option<ResolvedUser> {
        self.users
            .get(id)
            .map(|(name, chat)| ResolvedUser { display_name: name.clone(), chat_user: chat.clone() })
    }
    fn channel(&self, id: &str) -> Option<String> {
        self.channels.get(id).cloned()
    }
    fn user_group(&self, id: &str) -> Option<String> {
        self.groups.get(id).cloned()
    }
    fn custom_emoji(&self, name: &str) -> Option<String> {
        self.emoji.get(name).cloned()
    }
}

/// A token of the Teams HTML we emit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// `<name attr="value" …>`, attributes decoded.
    Open(String, Vec<(String, String)>),
    /// `</name>`.
    Close(String),
    /// Decoded text.
    Text(String),
}

/// Tokenises HTML and checks it is in our dialect: only [`TEAMS_TAGS`], only the attributes
/// the renderer writes, double-quoted and escaped values, only `&amp; &lt; &gt; &quot;`
/// entities, no raw `>` in text, balanced non-void tags, links only to http(s)/mailto/tel.
pub fn check_teams_html(html: &str) -> Result<Vec<Tok>, String> {
    let mut toks = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut rest = html;
    let mut text = String::new();
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                if !text.is_empty() {
                    toks.push(Tok::Text(std::mem::take(&mut text)));
                }
                let end = rest.find('>').ok_or_else(|| format!("unterminated tag in {html:?}"))?;
                let inner = &rest[1..end];
                rest = &rest[end + 1..];
                if let Some(name) = inner.strip_prefix('/') {
                    let open = stack.pop().ok_or_else(|| format!("stray </{name}> in {html:?}"))?;
                    if open != name {
                        return Err(format!("</{name}> closes <{open}> in {html:?}"));
                    }
                    toks.push(Tok::Close(name.to_string()));
                    continue;
                }
                let (name, attrs) = parse_tag(inner).map_err(|e| format!("{e} in {html:?}"))?;
                if !TEAMS_TAGS.contains(&name.as_str()) {
                    return Err(format!("tag <{name}> not produced by the renderer in {html:?}"));
                }
                let allowed: &[&str] = match name.as_str() {
                    "a" => &["href"],
                    "ol" => &["start"],
                    "img" => &["src", "alt"],
                    _ => &[],
                };
                for (k, v) in &attrs {
                    if !allowed.contains(&k.as_str()) {
                        return Err(format!("attribute {k} on <{name}> in {html:?}"));
                    }
                    if k == "href" {
                        let lower = v.to_ascii_lowercase();
                        if !["http://", "https://", "mailto:", "tel:"].iter().any(|s| lower.starts_with(s)) {
                            return Err(format!("unsafe href {v:?} in {html:?}"));
                        }
                    }
                    if k == "src" {
                        let lower = v.to_ascii_lowercase();
                        if !["http://", "https://", "../hostedcontents/"].iter().any(|s| lower.starts_with(s))
                        {
                            return Err(format!("unsafe src {v:?} in {html:?}"));
                        }
                    }
                    if k == "start" && v.parse::<u64>().is_err() {
                        return Err(format!("start={v:?} in {html:?}"));
                    }
                }
                if !matches!(name.as_str(), "br" | "img") {
                    stack.push(name.clone());
                }
                toks.push(Tok::Open(name, attrs));
            }
            '>' => return Err(format!("raw '>' in text of {html:?}")),
            '&' => {
                let (decoded, len) = entity(rest).ok_or_else(|| format!("bare '&' in {html:?}"))?;
                text.push(decoded);
                rest = &rest[len..];
            }
            _ => {
                text.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if !text.is_empty() {
        toks.push(Tok::Text(text));
    }
    if let Some(open) = stack.pop() {
        return Err(format!("unclosed <{open}> in {html:?}"));
    }
    Ok(toks)
}

fn entity(s: &str) -> Option<(char, usize)> {
    [("&amp;", '&'), ("&lt;", '<'), ("&gt;", '>'), ("&quot;", '"')]
        .iter()
        .find(|(e, _)| s.starts_with(e))
        .map(|(e, c)| (*c, e.len()))
}

fn parse_tag(inner: &str) -> Result<(String, Vec<(String, String)>), String> {
    let name_len = inner.bytes().take_while(|b| b.is_ascii_alphanumeric()).count();
    if name_len == 0 {
        return Err(format!("bad tag <{inner}>"));
    }
    let name = inner[..name_len].to_string();
    let mut rest = &inner[name_len..];
    let mut attrs = Vec::new();
    while !rest.is_empty() {
        rest = rest.strip_prefix(' ').ok_or_else(|| format!("bad attribute list <{inner}>"))?;
        let eq = rest.find("=\"").ok_or_else(|| format!("unquoted attribute <{inner}>"))?;
        let key = &rest[..eq];
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(format!("bad attribute name <{inner}>"));
        }
        let after = &rest[eq + 2..];
        let close = after.find('"').ok_or_else(|| format!("unterminated attribute <{inner}>"))?;
        let raw = &after[..close];
        if raw.contains(['<', '>']) {
            return Err(format!("unescaped attribute value <{inner}>"));
        }
        let mut value = String::new();
        let mut r = raw;
        while let Some(c) = r.chars().next() {
            if c == '&' {
                let (d, len) = entity(r).ok_or_else(|| format!("bare '&' in attribute <{inner}>"))?;
                value.push(d);
                r = &r[len..];
            } else {
                value.push(c);
                r = &r[c.len_utf8()..];
            }
        }
        attrs.push((key.to_string(), value));
        rest = &after[close + 1..];
    }
    Ok((name, attrs))
}
