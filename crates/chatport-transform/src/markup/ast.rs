//! The document AST every source dialect parses into and every renderer reads.
//!
//! Owns the data types only (plus small read-only helpers). It must stay free of any source
//! syntax (no `*`, `&lt;`, `<@U…>`) and of any destination syntax: parsers produce it,
//! renderers consume it. Text leaves hold plain Unicode, already unescaped.

use serde::Serialize;

/// A parsed message body: a sequence of blocks.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Document {
    /// The blocks, in reading order.
    pub blocks: Vec<Block>,
}

/// A block-level construct.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Block {
    /// A run of inline content; line breaks inside it are [`Inline::LineBreak`].
    Paragraph(Vec<Inline>),
    /// Preformatted text (Slack ```` ``` ```` blocks, `rich_text_preformatted`, fenced code).
    CodeBlock {
        /// The verbatim text, unescaped.
        text: String,
    },
    /// A block quote (Slack `>` lines, `>>>`, `rich_text_quote`, Markdown `>`).
    Quote(Vec<Block>),
    /// An ordered or bulleted list; each item is a sequence of blocks (nested lists included).
    List {
        /// Numbered (`1.`) rather than bulleted.
        ordered: bool,
        /// Number of the first item (1 unless the source says otherwise).
        start: u64,
        /// The items.
        items: Vec<Vec<Block>>,
    },
    /// A heading (Markdown `#`, Slack `header` blocks); `level` is 1..=6.
    Heading {
        /// 1 for the most prominent.
        level: u8,
        /// The heading text.
        content: Vec<Inline>,
    },
    /// A horizontal rule (Markdown `---`, Slack `divider` blocks).
    Rule,
    /// A table (Slack `table` blocks); rows of cells, each cell a sequence of blocks.
    Table {
        /// The rows, first row first.
        rows: Vec<Vec<Vec<Block>>>,
    },
    /// A source block with no text equivalent (e.g. Slack `actions`); kept so renderers report it.
    Unsupported {
        /// The source block type, e.g. `"actions"`.
        kind: String,
    },
}

/// An inline construct.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Inline {
    /// Literal text (never contains a newline; see [`Inline::LineBreak`]).
    Text(String),
    /// Bold span.
    Bold(Vec<Inline>),
    /// Italic span.
    Italic(Vec<Inline>),
    /// Strikethrough span.
    Strike(Vec<Inline>),
    /// Underline span (only `rich_text` has it).
    Underline(Vec<Inline>),
    /// Inline code, verbatim.
    Code(String),
    /// A hyperlink. An empty `label` means the link shows its own address.
    Link {
        /// The target as written in the source (not yet checked for safety).
        url: String,
        /// The visible label.
        label: Vec<Inline>,
    },
    /// A mention of a source user (`<@U123>`, `<@U123|name>`, `rich_text` `user`).
    UserMention {
        /// The source user id.
        user_id: String,
        /// A name the source carried alongside the id, if any.
        fallback: Option<String>,
    },
    /// A link to a source channel (`<#C123|name>`).
    ChannelMention {
        /// The source channel id.
        channel_id: String,
        /// The name the source carried, if any.
        name: Option<String>,
    },
    /// `<!here>`, `<!channel>`, `<!everyone>`.
    Broadcast(BroadcastKind),
    /// A user-group mention (`<!subteam^S123|@team>`).
    UserGroup {
        /// The source user-group id.
        id: String,
        /// The handle the source carried (with or without `@`), if any.
        handle: Option<String>,
    },
    /// A Slack date token (`<!date^ts^format^link|fallback>`); the viewer's time zone decides
    /// how Slack shows it, so renderers use `fallback`.
    Date {
        /// Unix seconds.
        ts: i64,
        /// Slack's format string, e.g. `{date_short} at {time}`.
        format: String,
        /// Optional link target.
        link: Option<String>,
        /// The text Slack shows when it cannot format the date.
        fallback: String,
    },
    /// An emoji shortcode, e.g. `+1::skin-tone-4` (no colons).
    Emoji {
        /// The Slack short name, with any `::skin-tone-N` suffix.
        name: String,
        /// The Unicode sequence the source stated (`rich_text` carries one), if any.
        unicode: Option<String>,
    },
    /// A hard line break.
    LineBreak,
}

/// Who a broadcast mention addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BroadcastKind {
    /// `@here`: active members.
    Here,
    /// `@channel` (and the legacy `@group`): all members.
    Channel,
    /// `@everyone`: the whole workspace.
    Everyone,
}

impl BroadcastKind {
    /// The word Slack shows after `@`.
    pub fn as_str(self) -> &'static str {
        match self {
            BroadcastKind::Here => "here",
            BroadcastKind::Channel => "channel",
            BroadcastKind::Everyone => "everyone",
        }
    }
}

impl Document {
    /// True when the document has no visible content.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// The document as plain text (labels, names and shortcodes as written, no markup): for
    /// searching, comparing two parses, or a notification fallback.
    pub fn plain_text(&self) -> String {
        let mut out = String::new();
        for (i, block) in self.blocks.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            block_plain(block, &mut out);
        }
        out
    }
}

fn block_plain(block: &Block, out: &mut String) {
    match block {
        Block::Paragraph(inlines) | Block::Heading { content: inlines, .. } => inlines_plain(inlines, out),
        Block::CodeBlock { text } => out.push_str(text),
        Block::Quote(blocks) => blocks_plain(blocks, out),
        Block::List { items, .. } => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                blocks_plain(item, out);
            }
        }
        Block::Table { rows } => {
            for (r, row) in rows.iter().enumerate() {
                if r > 0 {
                    out.push('\n');
                }
                for (c, cell) in row.iter().enumerate() {
                    if c > 0 {
                        out.push_str(" | ");
                    }
                    blocks_plain(cell, out);
                }
            }
        }
        Block::Rule | Block::Unsupported { .. } => {}
    }
}

fn blocks_plain(blocks: &[Block], out: &mut String) {
    for (i, b) in blocks.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        block_plain(b, out);
    }
}

/// Appends the plain text of `inlines` to `out` (see [`Document::plain_text`]).
pub fn inlines_plain(inlines: &[Inline], out: &mut String) {
    for inline in inlines {
        match inline {
            Inline::Text(t) | Inline::Code(t) => out.push_str(t),
            Inline::Bold(c) | Inline::Italic(c) | Inline::Strike(c) | Inline::Underline(c) => {
                inlines_plain(c, out)
            }
            Inline::Link { url, label } => {
                if label.is_empty() {
                    out.push_str(url);
                } else {
                    inlines_plain(label, out);
                }
            }
            Inline::UserMention { user_id, fallback } => {
                out.push('@');
                out.push_str(fallback.as_deref().unwrap_or(user_id));
            }
            Inline::ChannelMention { channel_id, name } => {
                out.push('#');
                out.push_str(name.as_deref().unwrap_or(channel_id));
            }
            Inline::Broadcast(kind) => {
                out.push('@');
                out.push_str(kind.as_str());
            }
            Inline::UserGroup { id, handle } => match handle {
                Some(h) if h.starts_with('@') => out.push_str(h),
                Some(h) => {
                    out.push('@');
                    out.push_str(h);
                }
                None => {
                    out.push('@');
                    out.push_str(id);
                }
            },
            Inline::Date { fallback, .. } => out.push_str(fallback),
            Inline::Emoji { name, .. } => {
                out.push(':');
                out.push_str(name);
                out.push(':');
            }
            Inline::LineBreak => out.push('\n'),
        }
    }
}

/// Merges adjacent [`Inline::Text`] nodes and adjacent spans of the same kind, recursively,
/// and drops empty text and empty spans. Parsers call it so that equal content gives equal
/// trees and renderers never emit `*a**b*`.
pub fn normalize_inlines(inlines: Vec<Inline>) -> Vec<Inline> {
    let mut out: Vec<Inline> = Vec::with_capacity(inlines.len());
    for inline in inlines {
        let inline = match inline {
            Inline::Bold(c) => Inline::Bold(normalize_inlines(c)),
            Inline::Italic(c) => Inline::Italic(normalize_inlines(c)),
            Inline::Strike(c) => Inline::Strike(normalize_inlines(c)),
            Inline::Underline(c) => Inline::Underline(normalize_inlines(c)),
            Inline::Link { url, label } => Inline::Link { url, label: normalize_inlines(label) },
            other => other,
        };
        match (&inline, out.last_mut()) {
            (Inline::Text(t), _) if t.is_empty() => {}
            (Inline::Bold(c) | Inline::Italic(c) | Inline::Strike(c) | Inline::Underline(c), _)
                if c.is_empty() => {}
            (Inline::Text(t), Some(Inline::Text(prev))) => prev.push_str(t),
            (Inline::Bold(c), Some(Inline::Bold(prev)))
            | (Inline::Italic(c), Some(Inline::Italic(prev)))
            | (Inline::Strike(c), Some(Inline::Strike(prev)))
            | (Inline::Underline(c), Some(Inline::Underline(prev))) => {
                let mut merged = std::mem::take(prev);
                merged.extend(c.iter().cloned());
                *prev = normalize_inlines(merged);
            }
            _ => out.push(inline),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_adjacently_tagged() {
        let doc = Document {
            blocks: vec![
                Block::Paragraph(vec![Inline::Bold(vec![Inline::Text("a".into())]), Inline::LineBreak]),
                Block::CodeBlock { text: "x".into() },
                Block::Rule,
            ],
        };
        let json = serde_json::to_string(&doc).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"blocks":[{"type":"paragraph","value":[{"type":"bold","value":[{"type":"text","value":"a"}]},{"type":"line_break"}]},{"type":"code_block","value":{"text":"x"}},{"type":"rule"}]}"#
        );
    }
}
