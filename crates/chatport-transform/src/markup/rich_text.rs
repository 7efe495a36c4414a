//! Parser for Slack Block Kit `blocks` (chiefly `rich_text`) into the [`Document`] AST.
//!
//! Owns the mapping of `rich_text_section` / `_list` / `_quote` / `_preformatted` and their
//! inline elements (`text` with `style`, `link`, `emoji`, `user`, `usergroup`, `channel`,
//! `broadcast`, `date`, `color`) plus the neighbouring block types a message may carry
//! (`section`, `header`, `divider`, `context`, `image`, `table`). `rich_text` is the exact
//! source of a message's formatting, so callers prefer it over `text` when present. Malformed
//! JSON shapes are skipped, never a panic; unknown block types become
//! [`Block::Unsupported`] so renderers can report them.

use serde_json::Value;

use super::ast::{inlines_plain, normalize_inlines, Block, BroadcastKind, Document, Inline};
use super::mrkdwn::{build_lists, parse_mrkdwn, ListLine};
use crate::emoji;

/// Nesting cap for tables inside blocks (the only recursive shape here).
const MAX_DEPTH: usize = 8;

/// Parses a message's `blocks` array (or an object holding one under `"blocks"`).
///
/// Returns `None` when there is no `rich_text` block, so the caller falls back to
/// [`parse_mrkdwn`] on `text`.
///
/// ```
/// use chatport_transform::markup::{parse_rich_text, Block, Inline};
/// let blocks = serde_json::json!([{"type": "rich_text", "elements": [
///     {"type": "rich_text_section", "elements": [{"type": "text", "text": "hi", "style": {"bold": true}}]}]}]);
/// let doc = parse_rich_text(&blocks).unwrap();
/// assert_eq!(doc.blocks, vec![Block::Paragraph(vec![Inline::Bold(vec![Inline::Text("hi".into())])])]);
/// ```
pub fn parse_rich_text(blocks: &Value) -> Option<Document> {
    let list = match blocks {
        Value::Array(list) => list,
        Value::Object(map) => map.get("blocks")?.as_array()?,
        _ => return None,
    };
    if !list.iter().any(|b| kind(b) == "rich_text") {
        return None;
    }
    let mut out = Vec::new();
    for block in list {
        parse_block(block, &mut out, 0);
    }
    Some(Document { blocks: out })
}

fn kind(v: &Value) -> &str {
    v.get("type").and_then(Value::as_str).unwrap_or_default()
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn parse_block(block: &Value, out: &mut Vec<Block>, depth: usize) {
    match kind(block) {
        "rich_text" => rich_text_elements(array(block, "elements"), out),
        "section" => {
            if let Some(text) = block.get("text") {
                text_object(text, out);
            }
            for field in array(block, "fields") {
                text_object(field, out);
            }
        }
        "header" => {
            let text = block.get("text").and_then(|t| str_field(t, "text")).unwrap_or_default();
            out.push(Block::Heading { level: 1, content: text_with_breaks(text) });
        }
        "divider" => out.push(Block::Rule),
        "context" => {
            let mut inlines = Vec::new();
            for el in array(block, "elements") {
                let mut blocks = Vec::new();
                if kind(el) == "image" {
                    image(el, &mut blocks);
                } else {
                    text_object(el, &mut blocks);
                }
                for b in blocks {
                    if let Block::Paragraph(p) = b {
                        if !inlines.is_empty() {
                            inlines.push(Inline::Text(" ".into()));
                        }
                        inlines.extend(p);
                    }
                }
            }
            if !inlines.is_empty() {
                out.push(Block::Paragraph(normalize_inlines(inlines)));
            }
        }
        "image" => image(block, out),
        "table" if depth < MAX_DEPTH => {
            let rows = array(block, "rows")
                .iter()
                .map(|row| {
                    row.as_array()
                        .map(|cells| {
                            cells
                                .iter()
                                .map(|cell| {
                                    let mut blocks = Vec::new();
                                    match kind(cell) {
                                        "raw_text" => blocks.push(Block::Paragraph(text_with_breaks(
                                            str_field(cell, "text").unwrap_or_default(),
                                        ))),
                                        _ => parse_block(cell, &mut blocks, depth + 1),
                                    }
                                    blocks
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .collect();
            out.push(Block::Table { rows });
        }
        other => out.push(Block::Unsupported { kind: other.to_string() }),
    }
}

fn image(el: &Value, out: &mut Vec<Block>) {
    let Some(url) = str_field(el, "image_url") else { return };
    let alt = str_field(el, "alt_text").filter(|a| !a.is_empty());
    let label = alt.map(|a| vec![Inline::Text(a.to_string())]).unwrap_or_default();
    out.push(Block::Paragraph(vec![Inline::Link { url: url.to_string(), label }]));
}

/// A Block Kit text object: `mrkdwn` parses as Slack text, `plain_text` is literal.
fn text_object(obj: &Value, out: &mut Vec<Block>) {
    let text = str_field(obj, "text").unwrap_or_default();
    match kind(obj) {
        "mrkdwn" => out.extend(parse_mrkdwn(text).blocks),
        _ if !text.is_empty() => out.push(Block::Paragraph(text_with_breaks(text))),
        _ => {}
    }
}

fn rich_text_elements(elements: &[Value], out: &mut Vec<Block>) {
    let mut pending_list: Vec<ListLine> = Vec::new();
    for el in elements {
        if kind(el) == "rich_text_list" {
            let ordered = str_field(el, "style") == Some("ordered");
            let indent = el.get("indent").and_then(Value::as_u64).unwrap_or(0).min(64) as usize;
            let offset = el.get("offset").and_then(Value::as_u64).unwrap_or(0);
            for (k, item) in array(el, "elements").iter().enumerate() {
                let content = inline_elements(array(item, "elements"));
                pending_list.push(ListLine {
                    indent,
                    ordered,
                    number: offset.saturating_add(k as u64 + 1),
                    content,
                });
            }
            continue;
        }
        if !pending_list.is_empty() {
            out.extend(build_lists(&std::mem::take(&mut pending_list), 0));
        }
        match kind(el) {
            "rich_text_section" => {
                let mut inlines = inline_elements(array(el, "elements"));
                // Slack ends a section before a list or quote with "\n"; the block break says it.
                if inlines.last() == Some(&Inline::LineBreak) {
                    inlines.pop();
                }
                if !inlines.is_empty() {
                    out.push(Block::Paragraph(inlines));
                }
            }
            "rich_text_quote" => {
                let mut inlines = inline_elements(array(el, "elements"));
                if inlines.last() == Some(&Inline::LineBreak) {
                    inlines.pop();
                }
                out.push(Block::Quote(vec![Block::Paragraph(inlines)]));
            }
            "rich_text_preformatted" => {
                // Code shows everything verbatim: links as their text, mentions as `@id`.
                let mut text = String::new();
                inlines_plain(&inline_elements(array(el, "elements")), &mut text);
                out.push(Block::CodeBlock { text });
            }
            other => out.push(Block::Unsupported { kind: other.to_string() }),
        }
    }
    if !pending_list.is_empty() {
        out.extend(build_lists(&pending_list, 0));
    }
}

/// Splits text on newlines into [`Inline::Text`] and [`Inline::LineBreak`].
fn text_with_breaks(text: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    for (i, part) in text.split('\n').enumerate() {
        if i > 0 {
            out.push(Inline::LineBreak);
        }
        if !part.is_empty() {
            out.push(Inline::Text(part.to_string()));
        }
    }
    out
}

fn inline_elements(elements: &[Value]) -> Vec<Inline> {
    let mut out = Vec::new();
    for el in elements {
        let style = el.get("style");
        let flag = |name: &str| style.and_then(|s| s.get(name)).and_then(Value::as_bool).unwrap_or(false);
        let code = flag("code");
        let nodes: Vec<Inline> = match kind(el) {
            "text" => {
                let text = str_field(el, "text").unwrap_or_default();
                if code {
                    code_with_breaks(text)
                } else {
                    text_with_breaks(text)
                }
            }
            "link" => {
                let url = str_field(el, "url").unwrap_or_default().to_string();
                let label = match str_field(el, "text").filter(|t| !t.is_empty()) {
                    Some(t) if code => vec![Inline::Code(t.to_string())],
                    Some(t) => vec![Inline::Text(t.to_string())],
                    None => Vec::new(),
                };
                vec![Inline::Link { url, label }]
            }
            "emoji" => {
                let mut name = str_field(el, "name").unwrap_or_default().to_string();
                if let Some(tone) = el.get("skin_tone").and_then(Value::as_u64) {
                    name.push_str(&format!("::skin-tone-{tone}"));
                }
                let unicode = str_field(el, "unicode").and_then(emoji::unicode_from_hex);
                if name.is_empty() {
                    unicode.map(Inline::Text).into_iter().collect()
                } else {
                    vec![Inline::Emoji { name, unicode }]
                }
            }
            "user" => vec![Inline::UserMention {
                user_id: str_field(el, "user_id").unwrap_or_default().to_string(),
                fallback: None,
            }],
            "usergroup" => vec![Inline::UserGroup {
                id: str_field(el, "usergroup_id").unwrap_or_default().to_string(),
                handle: None,
            }],
            "channel" => vec![Inline::ChannelMention {
                channel_id: str_field(el, "channel_id").unwrap_or_default().to_string(),
                name: None,
            }],
            "broadcast" => {
                let kind = match str_field(el, "range") {
                    Some("here") => BroadcastKind::Here,
                    Some("everyone") => BroadcastKind::Everyone,
                    _ => BroadcastKind::Channel,
                };
                vec![Inline::Broadcast(kind)]
            }
            "date" => {
                let ts = el.get("timestamp").and_then(|t| t.as_i64().or_else(|| t.as_str()?.parse().ok()));
                let fallback = str_field(el, "fallback").unwrap_or_default().to_string();
                match ts {
                    Some(ts) => vec![Inline::Date {
                        ts,
                        format: str_field(el, "format").unwrap_or_default().to_string(),
                        link: str_field(el, "url").map(str::to_string),
                        fallback,
                    }],
                    None => vec![Inline::Text(fallback)],
                }
            }
            "color" => vec![Inline::Text(str_field(el, "value").unwrap_or_default().to_string())],
            _ => str_field(el, "text").map(text_with_breaks).unwrap_or_default(),
        };
        let mut nodes = nodes;
        for (name, wrap) in [
            ("underline", Inline::Underline as fn(Vec<Inline>) -> Inline),
            ("strike", Inline::Strike),
            ("italic", Inline::Italic),
            ("bold", Inline::Bold),
        ] {
            if flag(name) && !nodes.is_empty() {
                nodes = wrap_runs(nodes, wrap);
            }
        }
        out.extend(nodes);
    }
    normalize_inlines(out)
}

/// Wraps `nodes` in a span, but keeps line breaks outside it: mrkdwn-style spans cannot
/// cross lines.
fn wrap_runs(nodes: Vec<Inline>, wrap: fn(Vec<Inline>) -> Inline) -> Vec<Inline> {
    let mut out = Vec::new();
    let mut run = Vec::new();
    for node in nodes {
        if node == Inline::LineBreak {
            if !run.is_empty() {
                out.push(wrap(std::mem::take(&mut run)));
            }
            out.push(node);
        } else {
            run.push(node);
        }
    }
    if !run.is_empty() {
        out.push(wrap(run));
    }
    out
}

fn code_with_breaks(text: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    for (i, part) in text.split('\n').enumerate() {
        if i > 0 {
            out.push(Inline::LineBreak);
        }
        if !part.is_empty() {
            out.push(Inline::Code(part.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list(style: &str, indent: u64, offset: Option<u64>, texts: &[&str]) -> Value {
        let elements: Vec<Value> = texts
            .iter()
            .map(|t| json!({"type": "rich_text_section", "elements": [{"type": "text", "text": t}]}))
            .collect();
        let mut v = json!({"type": "rich_text_list", "style": style, "indent": indent, "elements": elements});
        if let Some(o) = offset {
            v["offset"] = json!(o);
        }
        v
    }

    #[test]
    fn split_lists_rejoin_around_nested_ones() {
        let blocks = json!([{"type": "rich_text", "elements": [
            list("ordered", 0, None, &["a"]),
            list("bullet", 1, None, &["a.1", "a.2"]),
            list("ordered", 0, Some(1), &["b"]),
        ]}]);
        let doc = parse_rich_text(&blocks).expect("rich_text");
        let [Block::List { ordered: true, start: 1, items }] = doc.blocks.as_slice() else {
            panic!("one ordered list: {:?}", doc.blocks)
        };
        assert_eq!(items.len(), 2);
        assert!(matches!(items[0].as_slice(), [Block::Paragraph(_), Block::List { ordered: false, .. }]));
    }

    #[test]
    fn styles_nest_bold_outermost_and_stop_at_line_breaks() {
        let blocks = json!([{"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [
            {"type": "text", "text": "a\nb", "style": {"italic": true, "bold": true}}
        ]}]}]);
        let doc = parse_rich_text(&blocks).expect("rich_text");
        let t = |s: &str| Inline::Text(s.into());
        assert_eq!(
            doc.blocks,
            vec![Block::Paragraph(vec![
                Inline::Bold(vec![Inline::Italic(vec![t("a")])]),
                Inline::LineBreak,
                Inline::Bold(vec![Inline::Italic(vec![t("b")])]),
            ])]
        );
    }

    #[test]
    fn preformatted_keeps_every_element_as_text() {
        let blocks = json!([{"type": "rich_text", "elements": [{"type": "rich_text_preformatted", "elements": [
            {"type": "text", "text": "run "},
            {"type": "link", "url": "https://e.x", "text": "this"},
            {"type": "text", "text": " for "},
            {"type": "user", "user_id": "U1"},
            {"type": "text", "text": "\nnext"}
        ]}]}]);
        let doc = parse_rich_text(&blocks).expect("rich_text");
        assert_eq!(doc.blocks, vec![Block::CodeBlock { text: "run this for @U1\nnext".into() }]);
    }

    #[test]
    fn wrong_shapes_are_skipped() {
        let blocks = json!([{"type": "rich_text", "elements": [
            {"type": "rich_text_section", "elements": "nope"},
            {"type": "rich_text_list", "indent": "x", "elements": [{"elements": [{"type": "user"}]}]},
            {"type": "mystery"},
            42
        ]}]);
        let doc = parse_rich_text(&blocks).expect("rich_text");
        assert_eq!(doc.blocks.len(), 3, "{:?}", doc.blocks);
    }
}
