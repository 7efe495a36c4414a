//! Parser for CommonMark Markdown (future sources) into the [`Document`] AST.
//!
//! Owns the mapping from pulldown-cmark events (with strikethrough enabled) to the AST:
//! emphasis, strong, strikethrough, code, links, images (as links), headings, quotes, lists,
//! code blocks and rules. Raw HTML in the Markdown is kept as visible text, never as markup,
//! and `:shortcode:` emoji in text become [`Inline::Emoji`]. Nesting deeper than a fixed cap
//! is flattened so hostile input cannot overflow the stack of later passes.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use super::ast::{normalize_inlines, Block, Document, Inline};
use super::mrkdwn::emoji_at;

/// Containers deeper than this are flattened into their parent.
const MAX_DEPTH: usize = 32;

/// Parses Markdown into a [`Document`]. Never fails.
///
/// ```
/// use chatport_transform::markup::{parse_markdown, Block, Inline};
/// let doc = parse_markdown("**hi** ~~there~~");
/// let Block::Paragraph(p) = &doc.blocks[0] else { panic!() };
/// assert_eq!(p[0], Inline::Bold(vec![Inline::Text("hi".into())]));
/// ```
pub fn parse_markdown(text: &str) -> Document {
    let mut stack = vec![Frame::new(Kind::Root)];
    for event in Parser::new_ext(text, Options::ENABLE_STRIKETHROUGH) {
        match event {
            Event::Start(tag) => {
                let kind = if stack.len() > MAX_DEPTH { Kind::Flattened } else { Kind::from_tag(tag) };
                stack.push(Frame::new(kind));
            }
            Event::End(end) => {
                if stack.len() > 1 {
                    if let Some(frame) = stack.pop() {
                        if let Some(parent) = stack.last_mut() {
                            frame.close_into(parent, end);
                        }
                    }
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    match &mut top.kind {
                        Kind::CodeBlock(code) => code.push_str(&t),
                        Kind::HtmlBlock(raw) => raw.push_str(&t),
                        _ => top.inlines.extend(text_with_emoji(&t)),
                    }
                }
            }
            Event::Code(c) => push_inline(&mut stack, Inline::Code(c.to_string())),
            Event::Html(raw) | Event::InlineHtml(raw) => {
                if let Some(top) = stack.last_mut() {
                    match &mut top.kind {
                        Kind::HtmlBlock(buf) => buf.push_str(&raw),
                        _ => top.inlines.extend(lines(&raw)),
                    }
                }
            }
            Event::InlineMath(m) | Event::DisplayMath(m) | Event::FootnoteReference(m) => {
                push_inline(&mut stack, Inline::Text(m.to_string()))
            }
            Event::SoftBreak | Event::HardBreak => push_inline(&mut stack, Inline::LineBreak),
            Event::Rule => {
                if let Some(top) = stack.last_mut() {
                    top.push_block(Block::Rule);
                }
            }
            Event::TaskListMarker(done) => {
                push_inline(&mut stack, Inline::Text(if done { "[x] " } else { "[ ] " }.into()))
            }
        }
    }
    // Unbalanced events cannot happen with pulldown-cmark, but fold any leftovers anyway.
    while stack.len() > 1 {
        if let Some(frame) = stack.pop() {
            if let Some(parent) = stack.last_mut() {
                frame.close_into(parent, TagEnd::Paragraph);
            }
        }
    }
    let root = stack.pop().map(Frame::into_blocks).unwrap_or_default();
    Document { blocks: root }
}

fn push_inline(stack: &mut [Frame], inline: Inline) {
    if let Some(top) = stack.last_mut() {
        top.inlines.push(inline);
    }
}

fn lines(text: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    let text = text.strip_suffix('\n').unwrap_or(text);
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

/// Splits text into [`Inline::Text`] and [`Inline::Emoji`] at `:shortcode:`s.
fn text_with_emoji(text: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while let Some(off) = text[i..].find(':') {
        let at = i + off;
        match emoji_at(text, at) {
            Some((name, len)) => {
                if at > start {
                    out.push(Inline::Text(text[start..at].to_string()));
                }
                out.push(Inline::Emoji { name, unicode: None });
                i = at + len;
                start = i;
            }
            None => i = at + 1,
        }
    }
    if start < text.len() {
        out.push(Inline::Text(text[start..].to_string()));
    }
    out
}

enum Kind {
    Root,
    Paragraph,
    Heading(u8),
    Quote,
    CodeBlock(String),
    HtmlBlock(String),
    List {
        start: Option<u64>,
        items: Vec<Vec<Block>>,
    },
    Item,
    Bold,
    Italic,
    Strike,
    Link(String),
    /// A container past [`MAX_DEPTH`], or a tag with no AST counterpart: its content goes to
    /// the parent.
    Flattened,
}

impl Kind {
    fn from_tag(tag: Tag<'_>) -> Kind {
        match tag {
            Tag::Paragraph => Kind::Paragraph,
            Tag::Heading { level, .. } => Kind::Heading(level as u8),
            Tag::BlockQuote(_) => Kind::Quote,
            Tag::CodeBlock(_) => Kind::CodeBlock(String::new()),
            Tag::HtmlBlock => Kind::HtmlBlock(String::new()),
            Tag::List(start) => Kind::List { start, items: Vec::new() },
            Tag::Item => Kind::Item,
            Tag::Emphasis => Kind::Italic,
            Tag::Strong => Kind::Bold,
            Tag::Strikethrough => Kind::Strike,
            Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => Kind::Link(dest_url.to_string()),
            _ => Kind::Flattened,
        }
    }
}

struct Frame {
    kind: Kind,
    blocks: Vec<Block>,
    inlines: Vec<Inline>,
}

impl Frame {
    fn new(kind: Kind) -> Frame {
        Frame { kind, blocks: Vec::new(), inlines: Vec::new() }
    }

    fn flush_inlines(&mut self) {
        if self.inlines.is_empty() {
            return;
        }
        let inlines = normalize_inlines(std::mem::take(&mut self.inlines));
        if !inlines.is_empty() {
            self.blocks.push(Block::Paragraph(inlines));
        }
    }

    fn push_block(&mut self, block: Block) {
        self.flush_inlines();
        self.blocks.push(block);
    }

    fn into_blocks(mut self) -> Vec<Block> {
        self.flush_inlines();
        self.blocks
    }

    fn close_into(self, parent: &mut Frame, _end: TagEnd) {
        let Frame { kind, blocks, inlines } = self;
        match kind {
            Kind::Root | Kind::Flattened => {
                if !blocks.is_empty() {
                    parent.flush_inlines();
                    parent.blocks.extend(blocks);
                }
                parent.inlines.extend(inlines);
            }
            Kind::Paragraph => {
                let inlines = normalize_inlines(inlines);
                if !inlines.is_empty() {
                    parent.push_block(Block::Paragraph(inlines));
                }
            }
            Kind::Heading(level) => {
                parent.push_block(Block::Heading { level, content: normalize_inlines(inlines) })
            }
            Kind::Quote => {
                let inner = Frame { kind: Kind::Root, blocks, inlines }.into_blocks();
                parent.push_block(Block::Quote(inner));
            }
            Kind::CodeBlock(text) => {
                let text = text.strip_suffix('\n').map(str::to_string).unwrap_or(text);
                parent.push_block(Block::CodeBlock { text });
            }
            Kind::HtmlBlock(raw) => parent.push_block(Block::Paragraph(lines(&raw))),
            Kind::List { start, mut items } => {
                // Content that reached the list outside an item (flattened past the depth cap).
                let stray = Frame { kind: Kind::Root, blocks, inlines }.into_blocks();
                if !stray.is_empty() {
                    items.push(stray);
                }
                parent.push_block(Block::List { ordered: start.is_some(), start: start.unwrap_or(1), items })
            }
            Kind::Item => {
                let item = Frame { kind: Kind::Root, blocks, inlines }.into_blocks();
                match &mut parent.kind {
                    Kind::List { items, .. } => items.push(item),
                    _ => {
                        parent.flush_inlines();
                        parent.blocks.extend(item);
                    }
                }
            }
            Kind::Bold => parent.inlines.push(Inline::Bold(inlines)),
            Kind::Italic => parent.inlines.push(Inline::Italic(inlines)),
            Kind::Strike => parent.inlines.push(Inline::Strike(inlines)),
            Kind::Link(url) => parent.inlines.push(Inline::Link { url, label: inlines }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_html_is_text() {
        let doc = parse_markdown("<script>x</script>\n\na <b>b</b>");
        let text = doc.plain_text();
        assert!(text.contains("<script>x</script>"), "{text}");
        assert!(text.contains("a <b>b</b>"), "{text}");
    }

    #[test]
    fn deep_quotes_are_flattened() {
        let doc = parse_markdown(&format!("{}x", "> ".repeat(200)));
        fn depth(blocks: &[Block]) -> usize {
            blocks.iter().map(|b| if let Block::Quote(q) = b { 1 + depth(q) } else { 0 }).max().unwrap_or(0)
        }
        assert!(depth(&doc.blocks) <= MAX_DEPTH);
        assert_eq!(doc.plain_text(), "x");
    }

    #[test]
    fn tight_list_items_become_paragraphs() {
        let doc = parse_markdown("- a\n- b");
        let [Block::List { ordered: false, items, .. }] = doc.blocks.as_slice() else {
            panic!("{:?}", doc.blocks)
        };
        assert_eq!(
            items,
            &vec![
                vec![Block::Paragraph(vec![Inline::Text("a".into())])],
                vec![Block::Paragraph(vec![Inline::Text("b".into())])],
            ]
        );
    }
}
