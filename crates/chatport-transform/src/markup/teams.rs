//! Renders the AST as Teams message HTML (Graph `body.contentType = "html"`).
//!
//! Owns the HTML subset we emit and its safety: every piece of source text goes through
//! `html_escape` (`& < >`, plus `"` inside attributes), the only attributes written are
//! `href` (checked by [`safe_link`]: http, https, mailto, tel), `start` (a number), and
//! `src`/`alt` of custom-emoji images (http(s) or `../hostedContents/N/$value`). So no source
//! text can produce a tag, an attribute or a `javascript:`/`data:` link. Mentions are not
//! importable into Teams: they become `@Name` text with a [`RenderNote`].
//!
//! Tags emitted: `p br b i s u code pre blockquote ul ol li h1 h2 h3 a img table tr td`.

use html_escape::{encode_double_quoted_attribute, encode_text};

use super::ast::{Block, Document, Inline};
use super::render::{
    bare_label, channel_label, choose_emoji, date_label, group_label, safe_link, user_name, EmojiChoice,
    MentionResolver, RenderNote, Rendered,
};

/// Every tag name [`render_teams`] can emit (for tests and for validators downstream).
pub const TEAMS_TAGS: &[&str] = &[
    "p",
    "br",
    "b",
    "i",
    "s",
    "u",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "a",
    "img",
    "table",
    "tr",
    "td",
];

/// Renders a document as Teams HTML.
///
/// ```
/// use chatport_transform::markup::{parse_mrkdwn, render_teams, NoDirectory};
/// let out = render_teams(&parse_mrkdwn("<javascript:alert(1)|click> <@U1|ana> *&lt;b&gt;*"), &NoDirectory);
/// assert_eq!(out.text, "<p>click @ana <b>&lt;b&gt;</b></p>");
/// assert_eq!(out.notes.len(), 2);
/// ```
pub fn render_teams(doc: &Document, r: &dyn MentionResolver) -> Rendered {
    let mut ctx = TeamsRenderer { r, notes: Vec::new(), out: String::new() };
    for block in &doc.blocks {
        ctx.block(block);
    }
    Rendered { text: ctx.out, notes: ctx.notes }
}

struct TeamsRenderer<'a> {
    r: &'a dyn MentionResolver,
    notes: Vec<RenderNote>,
    out: String,
}

impl TeamsRenderer<'_> {
    fn text(&mut self, t: &str) {
        self.out.push_str(&encode_text(t));
    }

    fn block(&mut self, block: &Block) {
        match block {
            Block::Paragraph(inlines) => {
                self.out.push_str("<p>");
                self.inlines(inlines);
                self.out.push_str("</p>");
            }
            Block::CodeBlock { text } => {
                self.out.push_str("<pre><code>");
                self.text(text);
                self.out.push_str("</code></pre>");
            }
            Block::Quote(inner) => {
                self.out.push_str("<blockquote>");
                for b in inner {
                    self.block(b);
                }
                self.out.push_str("</blockquote>");
            }
            Block::List { ordered, start, items } => {
                if *ordered {
                    if *start == 1 {
                        self.out.push_str("<ol>");
                    } else {
                        self.out.push_str(&format!("<ol start=\"{start}\">"));
                    }
                } else {
                    self.out.push_str("<ul>");
                }
                for item in items {
                    self.out.push_str("<li>");
                    self.flow(item);
                    self.out.push_str("</li>");
                }
                self.out.push_str(if *ordered { "</ol>" } else { "</ul>" });
            }
            Block::Heading { level, content } => {
                let level = (*level).clamp(1, 3);
                self.out.push_str(&format!("<h{level}>"));
                self.inlines(content);
                self.out.push_str(&format!("</h{level}>"));
            }
            Block::Rule => self.out.push_str("<p>———</p>"),
            Block::Table { rows } => {
                self.out.push_str("<table>");
                for row in rows {
                    self.out.push_str("<tr>");
                    for cell in row {
                        self.out.push_str("<td>");
                        self.flow(cell);
                        self.out.push_str("</td>");
                    }
                    self.out.push_str("</tr>");
                }
                self.out.push_str("</table>");
            }
            Block::Unsupported { kind } => {
                self.notes.push(RenderNote::UnsupportedBlock { block_kind: kind.clone() });
            }
        }
    }

    /// Blocks inside a list item or table cell: paragraphs inline, separated by `<br>`.
    fn flow(&mut self, blocks: &[Block]) {
        let mut prev_inline = false;
        for b in blocks {
            if let Block::Paragraph(inlines) = b {
                if prev_inline {
                    self.out.push_str("<br>");
                }
                self.inlines(inlines);
                prev_inline = true;
            } else {
                self.block(b);
                prev_inline = false;
            }
        }
    }

    fn inlines(&mut self, inlines: &[Inline]) {
        for inline in inlines {
            self.inline(inline);
        }
    }

    fn wrap(&mut self, tag: &str, children: &[Inline]) {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push('>');
        self.inlines(children);
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
    }

    fn inline(&mut self, inline: &Inline) {
        match inline {
            Inline::Text(t) => self.text(t),
            Inline::Bold(c) => self.wrap("b", c),
            Inline::Italic(c) => self.wrap("i", c),
            Inline::Strike(c) => self.wrap("s", c),
            Inline::Underline(c) => self.wrap("u", c),
            Inline::Code(code) => {
                self.out.push_str("<code>");
                self.text(code);
                self.out.push_str("</code>");
            }
            Inline::Link { url, label } => match safe_link(url) {
                Some(href) => {
                    self.out.push_str("<a href=\"");
                    self.out.push_str(&encode_double_quoted_attribute(&href));
                    self.out.push_str("\">");
                    if label.is_empty() {
                        self.text(bare_label(url));
                    } else {
                        self.inlines(label);
                    }
                    self.out.push_str("</a>");
                }
                None => {
                    self.notes.push(RenderNote::LinkAsText { url: url.clone() });
                    if label.is_empty() {
                        self.text(url);
                    } else {
                        self.inlines(label);
                    }
                }
            },
            Inline::UserMention { user_id, fallback } => {
                let resolved = self.r.user(user_id);
                let shown = format!("@{}", user_name(user_id, fallback.as_deref(), resolved.as_ref()));
                self.text(&shown);
                self.notes.push(RenderNote::MentionAsText { user_id: user_id.clone(), shown_as: shown });
            }
            Inline::ChannelMention { channel_id, name } => {
                let shown = channel_label(channel_id, name.as_deref(), self.r);
                self.text(&shown);
                self.notes.push(RenderNote::ChannelMentionAsText {
                    channel_id: channel_id.clone(),
                    shown_as: shown,
                });
            }
            Inline::Broadcast(kind) => {
                self.out.push('@');
                self.out.push_str(kind.as_str());
                self.notes.push(RenderNote::BroadcastAsText { broadcast: *kind });
            }
            Inline::UserGroup { id, handle } => {
                let shown = group_label(id, handle.as_deref(), self.r);
                self.text(&shown);
                self.notes.push(RenderNote::UserGroupAsText { group_id: id.clone(), shown_as: shown });
            }
            Inline::Date { ts, link, fallback, .. } => {
                let shown = date_label(*ts, fallback);
                match link.as_deref().and_then(safe_link) {
                    Some(href) => {
                        self.out.push_str("<a href=\"");
                        self.out.push_str(&encode_double_quoted_attribute(&href));
                        self.out.push_str("\">");
                        self.text(&shown);
                        self.out.push_str("</a>");
                    }
                    None => self.text(&shown),
                }
                self.notes.push(RenderNote::DateAsFallback { ts: *ts, shown_as: shown });
            }
            Inline::Emoji { name, unicode } => match choose_emoji(name, unicode.as_deref(), self.r) {
                EmojiChoice::Unicode(u) => self.text(&u),
                EmojiChoice::Custom(src) => match safe_image_src(&src) {
                    Some(src) => {
                        self.out.push_str("<img src=\"");
                        self.out.push_str(&encode_double_quoted_attribute(&src));
                        self.out.push_str("\" alt=\"");
                        self.out.push_str(&encode_double_quoted_attribute(&format!(":{name}:")));
                        self.out.push_str("\">");
                        self.notes.push(RenderNote::CustomEmojiAsImage { name: name.clone(), url: src });
                    }
                    None => {
                        self.text(&format!(":{name}:"));
                        self.notes.push(RenderNote::CustomEmojiAsText { name: name.clone() });
                    }
                },
                EmojiChoice::Unknown => {
                    self.text(&format!(":{name}:"));
                    self.notes.push(RenderNote::UnknownEmoji { name: name.clone() });
                }
            },
            Inline::LineBreak => self.out.push_str("<br>"),
        }
    }
}

/// An image source Teams may show: http(s), or a hosted-content reference of this message.
fn safe_image_src(src: &str) -> Option<String> {
    if let Some(rest) = src.strip_prefix("../hostedContents/") {
        let (id, tail) = rest.split_once('/')?;
        return (!id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()) && tail == "$value")
            .then(|| src.to_string());
    }
    let href = safe_link(src)?;
    let lower = href.to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://")).then_some(href)
}
