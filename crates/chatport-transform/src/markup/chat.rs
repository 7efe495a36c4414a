//! Renders the AST as Google Chat message text (`MARKUP_SYNTAX_CHAT`).
//!
//! Owns Chat's syntax: `*bold*`, `_italic_`, `~strike~`, `` `code` ``, ```` ``` ```` blocks,
//! `<url|label>` links and `<users/…>` mentions (api-spec.md, "Text markup accepted in
//! `text`"). Chat documents no escape character, so literal text that Chat would misread is
//! defused with an invisible U+200B ZERO WIDTH SPACE: after a `<` that could open a
//! `<users/…>` or `<url|…>` sequence, and beside a `*`, `_`, `~` or `` ` `` that could pair
//! with another in the same text. Constructs Chat lacks (quotes, numbered and nested lists,
//! headings, underline, tables) are written the way Slack's own text shows them (`> `,
//! `1. `, `• `, indentation), with a [`RenderNote`] where information is lost.

use super::ast::{Block, Document, Inline};
use super::render::{
    bare_label, channel_label, choose_emoji, date_label, group_label, safe_link, user_name, EmojiChoice,
    MentionResolver, RenderNote, Rendered,
};

/// Invisible separator used to defuse accidental Chat markup.
const ZWSP: char = '\u{200B}';

/// Renders a document as Google Chat text.
///
/// ```
/// use chatport_transform::markup::{parse_mrkdwn, render_chat, MentionResolver, ResolvedUser};
/// struct Dir;
/// impl MentionResolver for Dir {
///     fn user(&self, id: &str) -> Option<ResolvedUser> {
///         (id == "U1").then(|| ResolvedUser { display_name: "Ana".into(), chat_user: Some("users/42".into()) })
///     }
/// }
/// let out = render_chat(&parse_mrkdwn("hi <@U1>, see <https://x.io|docs>"), &Dir);
/// assert_eq!(out.text, "hi <users/42>, see <https://x.io|docs>");
/// assert!(out.notes.is_empty());
/// ```
pub fn render_chat(doc: &Document, r: &dyn MentionResolver) -> Rendered {
    let mut ctx = ChatRenderer { r, notes: Vec::new() };
    let text = ctx.blocks(&doc.blocks, 0);
    Rendered { text, notes: ctx.notes }
}

struct ChatRenderer<'a> {
    r: &'a dyn MentionResolver,
    notes: Vec<RenderNote>,
}

impl ChatRenderer<'_> {
    fn blocks(&mut self, blocks: &[Block], list_depth: usize) -> String {
        let mut parts = Vec::with_capacity(blocks.len());
        for block in blocks {
            let part = self.block(block, list_depth);
            if !part.is_empty() {
                parts.push(part);
            }
        }
        parts.join("\n")
    }

    fn block(&mut self, block: &Block, list_depth: usize) -> String {
        match block {
            Block::Paragraph(inlines) => self.inlines(inlines),
            Block::CodeBlock { text } => {
                // A ``` inside the code would end the block early.
                let text = text.replace("```", "``\u{200B}`");
                format!("```\n{text}\n```")
            }
            Block::Quote(inner) => {
                // Chat markup has no quote block: the `> ` prefix survives only as text.
                self.notes.push(RenderNote::FormattingDropped { construct: "quote".into() });
                let body = self.blocks(inner, 0);
                body.lines().map(|l| format!("> {l}")).collect::<Vec<_>>().join("\n")
            }
            Block::List { ordered, start, items } => {
                let indent = "    ".repeat(list_depth);
                let mut lines = Vec::new();
                for (k, item) in items.iter().enumerate() {
                    let marker = if *ordered {
                        format!("{}. ", start.saturating_add(k as u64))
                    } else {
                        "• ".to_string()
                    };
                    let pad = " ".repeat(marker.chars().count());
                    let mut first = true;
                    for block in item {
                        let nested = matches!(block, Block::List { .. });
                        let rendered = self.block(block, list_depth + 1);
                        if nested {
                            if first {
                                lines.push(format!("{indent}{}", marker.trim_end()));
                                first = false;
                            }
                            lines.push(rendered);
                            continue;
                        }
                        for line in rendered.split('\n') {
                            if first {
                                lines.push(format!("{indent}{marker}{line}"));
                                first = false;
                            } else {
                                lines.push(format!("{indent}{pad}{line}"));
                            }
                        }
                    }
                    if first {
                        lines.push(format!("{indent}{}", marker.trim_end()));
                    }
                }
                lines.join("\n")
            }
            Block::Heading { content, .. } => {
                self.notes.push(RenderNote::FormattingDropped { construct: "heading".into() });
                let inner = self.inlines(content);
                if inner.trim().is_empty() || inner.contains('\n') {
                    inner
                } else {
                    wrap_marker('*', &inner)
                }
            }
            Block::Rule => "———".to_string(),
            Block::Table { rows } => {
                self.notes.push(RenderNote::FormattingDropped { construct: "table".into() });
                let mut lines = Vec::new();
                for row in rows {
                    let cells: Vec<String> =
                        row.iter().map(|cell| self.blocks(cell, 0).replace('\n', " ")).collect();
                    lines.push(cells.join(" | "));
                }
                lines.join("\n")
            }
            Block::Unsupported { kind } => {
                self.notes.push(RenderNote::UnsupportedBlock { block_kind: kind.clone() });
                String::new()
            }
        }
    }

    fn inlines(&mut self, inlines: &[Inline]) -> String {
        let mut out = String::new();
        let mut prev_was_span = false;
        for inline in inlines {
            let piece = self.inline(inline);
            let is_span = matches!(inline, Inline::Bold(_) | Inline::Italic(_) | Inline::Strike(_))
                && piece.starts_with(['*', '_', '~']);
            // A span glued to a word would not be read as markup: separate them invisibly.
            if is_span && out.chars().next_back().is_some_and(char::is_alphanumeric) {
                out.push(ZWSP);
            }
            if prev_was_span && piece.chars().next().is_some_and(char::is_alphanumeric) {
                out.push(ZWSP);
            }
            out.push_str(&piece);
            prev_was_span = is_span && piece.ends_with(['*', '_', '~']);
        }
        out
    }

    fn span(&mut self, marker: char, children: &[Inline]) -> String {
        // Spans cannot cross lines in Chat: wrap each line's run separately.
        let mut out = String::new();
        for (i, run) in children.split(|c| *c == Inline::LineBreak).enumerate() {
            if i > 0 {
                out.push('\n');
            }
            let inner = self.inlines(run);
            out.push_str(&wrap_marker(marker, &inner));
        }
        out
    }

    fn inline(&mut self, inline: &Inline) -> String {
        match inline {
            Inline::Text(t) => escape_text(t),
            Inline::Bold(c) => self.span('*', c),
            Inline::Italic(c) => self.span('_', c),
            Inline::Strike(c) => self.span('~', c),
            Inline::Underline(c) => {
                self.notes.push(RenderNote::FormattingDropped { construct: "underline".into() });
                self.inlines(c)
            }
            Inline::Code(code) => {
                if code.contains('`') {
                    self.notes.push(RenderNote::FormattingDropped { construct: "code_with_backtick".into() });
                    escape_text(code)
                } else {
                    format!("`{code}`")
                }
            }
            Inline::Link { url, label } => self.link(url, label),
            Inline::UserMention { user_id, fallback } => {
                let resolved = self.r.user(user_id);
                if let Some(chat_user) = resolved.as_ref().and_then(|u| u.chat_user.as_deref()) {
                    if is_chat_user(chat_user) {
                        return format!("<{chat_user}>");
                    }
                }
                let shown = format!("@{}", user_name(user_id, fallback.as_deref(), resolved.as_ref()));
                self.notes
                    .push(RenderNote::MentionAsText { user_id: user_id.clone(), shown_as: shown.clone() });
                escape_text(&shown)
            }
            Inline::ChannelMention { channel_id, name } => {
                let shown = channel_label(channel_id, name.as_deref(), self.r);
                self.notes.push(RenderNote::ChannelMentionAsText {
                    channel_id: channel_id.clone(),
                    shown_as: shown.clone(),
                });
                escape_text(&shown)
            }
            Inline::Broadcast(kind) => {
                self.notes.push(RenderNote::BroadcastAsText { broadcast: *kind });
                format!("@{}", kind.as_str())
            }
            Inline::UserGroup { id, handle } => {
                let shown = group_label(id, handle.as_deref(), self.r);
                self.notes
                    .push(RenderNote::UserGroupAsText { group_id: id.clone(), shown_as: shown.clone() });
                escape_text(&shown)
            }
            Inline::Date { ts, link, fallback, .. } => {
                let shown = date_label(*ts, fallback);
                self.notes.push(RenderNote::DateAsFallback { ts: *ts, shown_as: shown.clone() });
                match link.as_deref().and_then(safe_link) {
                    Some(href) if !shown.contains(['<', '>', '|']) => format!("<{href}|{shown}>"),
                    _ => escape_text(&shown),
                }
            }
            Inline::Emoji { name, unicode } => match choose_emoji(name, unicode.as_deref(), self.r) {
                EmojiChoice::Unicode(u) => u,
                EmojiChoice::Custom(_) => {
                    // Chat shows `:name:` as the org's custom emoji when one exists.
                    self.notes.push(RenderNote::CustomEmojiAsText { name: name.clone() });
                    escape_text(&format!(":{name}:"))
                }
                EmojiChoice::Unknown => {
                    self.notes.push(RenderNote::UnknownEmoji { name: name.clone() });
                    escape_text(&format!(":{name}:"))
                }
            },
            Inline::LineBreak => "\n".to_string(),
        }
    }

    fn link(&mut self, url: &str, label: &[Inline]) -> String {
        let mut label_text = String::new();
        super::ast::inlines_plain(label, &mut label_text);
        let label_text = label_text.replace('\n', " ");
        let Some(href) = safe_link(url) else {
            self.notes.push(RenderNote::LinkAsText { url: url.to_string() });
            let shown = if label_text.is_empty() { url.to_string() } else { label_text };
            return escape_text(&shown);
        };
        let shown = if label_text.is_empty() { bare_label(url).to_string() } else { label_text };
        if shown.contains(['<', '>']) {
            // `>` would end the link early: show the label as text and the address after it.
            return format!("{} <{href}|{}>", escape_text(&shown), bare_label(&href));
        }
        format!("<{href}|{shown}>")
    }
}

/// `users/…` with nothing that could end the `<…>` early.
fn is_chat_user(name: &str) -> bool {
    name.strip_prefix("users/").is_some_and(|id| {
        !id.is_empty() && !id.contains(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '|'))
    })
}

/// Wraps `inner` in `marker`s, keeping edge whitespace outside (`*a *b` is not bold in Chat).
fn wrap_marker(marker: char, inner: &str) -> String {
    let core = inner.trim();
    if core.is_empty() {
        return inner.to_string();
    }
    let lead = &inner[..inner.len() - inner.trim_start().len()];
    let trail = &inner[inner.trim_end().len()..];
    format!("{lead}{marker}{core}{marker}{trail}")
}

/// Whether the text after a `<` could start a Chat `<users/…>` mention or `<url|label>`
/// link: `users/`, a URL scheme, or a `|` before the next `>` (`pipe_before_gt`). The closing
/// `>` may sit in a later node, so it is not required.
fn looks_like_chat_sequence(after: &[char], pipe_before_gt: bool) -> bool {
    if pipe_before_gt || after.iter().take(6).copied().eq("users/".chars()) {
        return true;
    }
    let scheme_len =
        after.iter().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')).count();
    scheme_len > 0 && after[0].is_ascii_alphabetic() && after.get(scheme_len) == Some(&':')
}

/// Defuses literal text Chat would read as markup (see the module doc).
fn escape_text(text: &str) -> String {
    const MARKERS: [char; 4] = ['*', '_', '~', '`'];
    if !text.contains(['*', '_', '~', '`', '<']) {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let flank = |i: usize| -> (bool, bool) {
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1).copied();
        let opens = prev.is_none_or(|p| !p.is_alphanumeric()) && next.is_some_and(|n| !n.is_whitespace());
        let closes = prev.is_some_and(|p| !p.is_whitespace()) && next.is_none_or(|n| !n.is_alphanumeric());
        (opens, closes)
    };
    // A marker only needs defusing if this text holds a possible opener of its kind before a
    // possible closer: otherwise no span can form (`re*search*` stays as typed).
    let pairable = MARKERS.map(|m| {
        let first_open = (0..chars.len()).find(|&i| chars[i] == m && flank(i).0);
        let last_close = (0..chars.len()).rev().find(|&i| chars[i] == m && flank(i).1);
        matches!((first_open, last_close), (Some(o), Some(c)) if o < c)
    });
    // For each position: is there a `|` before the next `>`? (One backward pass, so the
    // whole escape stays linear.)
    let mut pipe_before_gt = vec![false; chars.len() + 1];
    for i in (0..chars.len()).rev() {
        pipe_before_gt[i] = match chars[i] {
            '|' => true,
            '>' => false,
            _ => pipe_before_gt[i + 1],
        };
    }
    let mut out = String::with_capacity(text.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '<' if looks_like_chat_sequence(&chars[i + 1..], pipe_before_gt[i + 1]) => {
                out.push('<');
                out.push(ZWSP);
            }
            '*' | '_' | '~' | '`' if pairable[MARKERS.iter().position(|&m| m == c).unwrap_or(0)] => {
                match flank(i) {
                    (true, _) => {
                        out.push(c);
                        out.push(ZWSP);
                    }
                    (false, true) => {
                        out.push(ZWSP);
                        out.push(c);
                    }
                    (false, false) => out.push(c),
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_markers_stay_clean() {
        assert_eq!(escape_text("2 * 3"), "2 * 3");
        assert_eq!(escape_text("snake_case_word"), "snake_case_word");
        assert_eq!(escape_text("a < b"), "a < b");
        assert_eq!(escape_text("re*search*"), "re*search*");
        assert_eq!(escape_text("a_ b_"), "a_ b_");
    }

    #[test]
    fn pairable_markers_are_defused() {
        assert_eq!(escape_text("*x*"), "*\u{200B}x\u{200B}*");
        assert_eq!(escape_text("<users/all>"), "<\u{200B}users/all>");
    }

    #[test]
    fn spans_keep_whitespace_outside() {
        assert_eq!(wrap_marker('*', " a b "), " *a b* ");
    }
}
