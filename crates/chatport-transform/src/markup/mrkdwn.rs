//! Parser for Slack mrkdwn (the `text` field of messages) into the [`Document`] AST.
//!
//! Owns Slack's text rules: the `&amp; &lt; &gt;` escapes (so a user-typed `&lt;@U1&gt;` stays
//! text), `<…>` control sequences (links, mentions, `<!…>` commands), ```` ``` ```` blocks,
//! `>` / `>>>` quotes, the `•` / `-` / `1.` list lines Slack users type (and Slack's own nested
//! `◦` / `a.` rendering), emoji shortcodes, and the `*` `_` `~` `` ` `` spans, whose markers
//! only count at word boundaries. It never fails and never panics: anything it does not
//! recognise is text. It must not know about any destination.
//!
//! The parse is two-level: lines are grouped into blocks first; each line is then tokenised
//! (code spans, `<…>` sequences and shortcodes become atoms, `*_~` become markers with
//! open/close flags) and markers are paired, first valid closer wins, in `O(n log n)`.

use super::ast::{normalize_inlines, Block, BroadcastKind, Document, Inline};
use crate::emoji;

/// How deep spans and lists may nest before further markers are read as text. Slack itself
/// has no such nesting; the cap only bounds recursion on hostile input.
const MAX_DEPTH: usize = 16;

/// Parses Slack mrkdwn into a [`Document`]. Never fails: unrecognised syntax is text.
///
/// ```
/// use chatport_transform::markup::{parse_mrkdwn, Block, Inline};
/// let doc = parse_mrkdwn("hi <@U1|ana> &lt;@U2&gt;");
/// let Block::Paragraph(inlines) = &doc.blocks[0] else { panic!() };
/// assert_eq!(inlines[1], Inline::UserMention { user_id: "U1".into(), fallback: Some("ana".into()) });
/// assert_eq!(inlines[2], Inline::Text(" <@U2>".into()));
/// ```
pub fn parse_mrkdwn(text: &str) -> Document {
    let normalized;
    let src = if text.contains('\r') {
        normalized = text.replace("\r\n", "\n").replace('\r', "\n");
        normalized.as_str()
    } else {
        text
    };
    Document { blocks: parse_blocks(src, true, 0) }
}

/// Parses the inline content of one line (no block syntax). Used for Slack fields that are
/// mrkdwn but single-line, and by other parsers for shortcodes.
pub(crate) fn parse_line(line: &str) -> Vec<Inline> {
    normalize_inlines(InlineParser::new(line).parse())
}

/// Accumulates paragraph lines; lines are joined with [`Inline::LineBreak`].
#[derive(Default)]
struct Paragraph {
    lines: Vec<Vec<Inline>>,
}

impl Paragraph {
    fn push_line(&mut self, line: &str) {
        self.lines.push(parse_line(line));
    }

    fn flush(&mut self, blocks: &mut Vec<Block>) {
        let mut lines = std::mem::take(&mut self.lines);
        let leading = lines.iter().take_while(|l| is_blank(l)).count();
        lines.drain(..leading);
        while lines.last().is_some_and(|l| is_blank(l)) {
            lines.pop();
        }
        if lines.is_empty() {
            return;
        }
        let mut inlines = Vec::new();
        for (i, line) in lines.into_iter().enumerate() {
            if i > 0 {
                inlines.push(Inline::LineBreak);
            }
            inlines.extend(line);
        }
        blocks.push(Block::Paragraph(normalize_inlines(inlines)));
    }
}

fn is_blank(line: &[Inline]) -> bool {
    line.iter().all(|i| matches!(i, Inline::Text(t) if t.trim().is_empty()))
}

fn parse_blocks(src: &str, allow_quote: bool, depth: usize) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut para = Paragraph::default();
    let mut pos = 0;
    // Set after a ``` search fails: no later ``` can close either.
    let mut fences_exhausted = false;
    // True when `pos` is in the middle of a line, right after a closing ```.
    let mut mid_line = false;
    while pos <= src.len() {
        let line_end = src[pos..].find('\n').map_or(src.len(), |i| pos + i);
        let line = &src[pos..line_end];
        let next_line = line_end + 1;
        let trimmed = line.trim_start_matches([' ', '\t']);
        let indent = line.len() - trimmed.len();

        if !mid_line && allow_quote && depth < MAX_DEPTH {
            if let Some(marker) = quote_marker(trimmed, true) {
                para.flush(&mut blocks);
                let start = pos + indent + marker;
                let rest = &src[start.min(src.len())..];
                let rest = rest.strip_prefix(' ').unwrap_or(rest);
                let inner = parse_blocks(rest, false, depth + 1);
                blocks.push(Block::Quote(inner));
                return blocks;
            }
            if quote_marker(trimmed, false).is_some() {
                para.flush(&mut blocks);
                let mut quoted = String::new();
                let mut p = pos;
                while p <= src.len() {
                    let end = src[p..].find('\n').map_or(src.len(), |i| p + i);
                    let l = &src[p..end];
                    let t = l.trim_start_matches([' ', '\t']);
                    let Some(m) = quote_marker(t, false) else { break };
                    if !quoted.is_empty() || p != pos {
                        quoted.push('\n');
                    }
                    let body = &t[m..];
                    quoted.push_str(body.strip_prefix(' ').unwrap_or(body));
                    p = end + 1;
                }
                let inner = parse_blocks(&quoted, false, depth + 1);
                blocks.push(Block::Quote(inner));
                pos = p;
                continue;
            }
        }

        if !mid_line && list_item(line).is_some() {
            para.flush(&mut blocks);
            let mut items = Vec::new();
            let mut p = pos;
            while p <= src.len() {
                let end = src[p..].find('\n').map_or(src.len(), |i| p + i);
                let Some(item) = list_item(&src[p..end]) else { break };
                // A ``` inside a list line is left as text: the list line owns the whole line.
                items.push(item);
                p = end + 1;
            }
            blocks.extend(build_lists(&items, depth));
            pos = p;
            continue;
        }

        if !fences_exhausted {
            if let Some(f) = line.find("```") {
                let open = pos + f;
                match find_fence_close(src, open + 3) {
                    Some(close) => {
                        let before = &src[pos..open];
                        if !before.trim().is_empty() {
                            para.push_line(before.trim_end());
                        }
                        para.flush(&mut blocks);
                        let code = &src[open + 3..close];
                        let code = code.strip_prefix('\n').unwrap_or(code);
                        let code = code.strip_suffix('\n').unwrap_or(code);
                        blocks.push(Block::CodeBlock { text: decode_entities(code) });
                        pos = close + 3;
                        let rest_end = src[pos..].find('\n').map_or(src.len(), |i| pos + i);
                        if src[pos..rest_end].trim().is_empty() {
                            pos = rest_end + 1;
                            mid_line = false;
                        } else {
                            // Skip the blank between the fence and the text that follows it.
                            pos += src[pos..rest_end].len() - src[pos..rest_end].trim_start().len();
                            mid_line = true;
                        }
                        continue;
                    }
                    None => fences_exhausted = true,
                }
            }
        }

        para.push_line(line);
        if mid_line {
            // The fragment after a closing fence is a paragraph of its own.
            para.flush(&mut blocks);
            mid_line = false;
        }
        pos = next_line;
    }
    para.flush(&mut blocks);
    blocks
}

/// Length of the quote marker at the start of `line`: `&gt;&gt;&gt;` / `>>>` when `triple`,
/// else a single `&gt;` / `>`. Raw `>` is accepted because some tools unescape Slack text.
fn quote_marker(line: &str, triple: bool) -> Option<usize> {
    let candidates: &[&str] = if triple { &["&gt;&gt;&gt;", ">>>"] } else { &["&gt;", ">"] };
    candidates.iter().find(|m| line.starts_with(**m)).map(|m| m.len())
}

/// Finds the ``` that closes a fence opened just before `from`. Extra backticks after it
/// belong to the code (```` ````code```` ```` keeps one backtick each side, like Slack).
fn find_fence_close(src: &str, from: usize) -> Option<usize> {
    let mut close = from + src.get(from..)?.find("```")?;
    if close == from {
        // An empty first match directly after the opener: ``````` is not a block.
        let again = src[close + 1..].find("```")? + close + 1;
        close = again;
    }
    while src.as_bytes().get(close + 3) == Some(&b'`') {
        close += 1;
    }
    Some(close)
}

/// One list item before nesting is resolved: indentation (columns in mrkdwn, `indent` in
/// `rich_text`), marker kind, number and content.
pub(crate) struct ListLine {
    pub(crate) indent: usize,
    pub(crate) ordered: bool,
    pub(crate) number: u64,
    pub(crate) content: Vec<Inline>,
}

/// Recognises `• x`, `◦ x`, `▪ x`, `- x`, `1. x`, `1) x`, and, when indented, Slack's own
/// nested markers `a. x` and `i. x`.
fn list_item(line: &str) -> Option<ListLine> {
    let mut indent = 0;
    let mut rest = line;
    loop {
        if let Some(r) = rest.strip_prefix(' ') {
            indent += 1;
            rest = r;
        } else if let Some(r) = rest.strip_prefix('\t') {
            indent += 4;
            rest = r;
        } else {
            break;
        }
    }
    let (ordered, number, after) = if let Some(r) =
        ["• ", "◦ ", "▪ ", "▫ ", "‣ ", "- "].iter().find_map(|m| rest.strip_prefix(m))
    {
        (false, 1, r)
    } else {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if (1..=9).contains(&digits) {
            let after = rest[digits..].strip_prefix(". ").or_else(|| rest[digits..].strip_prefix(") "))?;
            (true, rest[..digits].parse().ok()?, after)
        } else if indent > 0 {
            let letters = rest.bytes().take_while(u8::is_ascii_lowercase).count();
            let word = &rest[..letters];
            let after = rest[letters..].strip_prefix(". ")?;
            let number = if letters == 1 && !matches!(word, "i" | "v" | "x") {
                u64::from(word.as_bytes()[0] - b'a') + 1
            } else {
                roman(word)?
            };
            (true, number, after)
        } else {
            return None;
        }
    };
    let content = after.trim_start();
    if content.is_empty() {
        return None;
    }
    Some(ListLine { indent, ordered, number, content: parse_line(content) })
}

fn roman(word: &str) -> Option<u64> {
    const NUMERALS: [&str; 12] = ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii"];
    NUMERALS.iter().position(|n| *n == word).map(|p| p as u64 + 1)
}

/// Turns flat list lines into nested [`Block::List`]s: deeper lines attach to the item above.
pub(crate) fn build_lists(items: &[ListLine], depth: usize) -> Vec<Block> {
    let mut blocks = Vec::new();
    let Some(first) = items.first() else { return blocks };
    // Past the depth cap every line is a sibling.
    let base = if depth >= MAX_DEPTH { usize::MAX } else { first.indent };
    let mut i = 0;
    while i < items.len() {
        let ordered = items[i].ordered;
        let start = items[i].number;
        let mut list_items = Vec::new();
        while i < items.len() && items[i].indent <= base && items[i].ordered == ordered {
            let mut item_blocks = Vec::new();
            if !items[i].content.is_empty() {
                item_blocks.push(Block::Paragraph(items[i].content.clone()));
            }
            i += 1;
            let nested_end =
                items[i..].iter().position(|it| it.indent <= base).map_or(items.len(), |p| p + i);
            if nested_end > i {
                item_blocks.extend(build_lists(&items[i..nested_end], depth + 1));
            }
            i = nested_end;
            list_items.push(item_blocks);
        }
        if list_items.is_empty() {
            // A deeper first line than its successors: treat it as this level.
            let item = &items[i];
            list_items.push(vec![Block::Paragraph(item.content.clone())]);
            i += 1;
        }
        blocks.push(Block::List { ordered, start, items: list_items });
    }
    blocks
}

/// Decodes Slack's three escapes (`&amp;`, `&lt;`, `&gt;`) in one pass; any other `&` is text.
pub(crate) fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let (ch, len) = if tail.starts_with("&amp;") {
            ('&', 5)
        } else if tail.starts_with("&lt;") {
            ('<', 4)
        } else if tail.starts_with("&gt;") {
            ('>', 4)
        } else {
            ('&', 1)
        };
        out.push(ch);
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

/// A token of one line.
enum Tok {
    /// Raw text, still escaped.
    Text(String),
    /// `*`, `_` or `~`, with whether it may open or close a span here.
    Marker { ch: char, open: bool, close: bool },
    /// An atom: code span, `<…>` sequence or emoji.
    Node(Inline),
}

struct InlineParser<'a> {
    line: &'a str,
    toks: Vec<Tok>,
}

impl<'a> InlineParser<'a> {
    fn new(line: &'a str) -> Self {
        InlineParser { line, toks: Vec::new() }
    }

    fn push_text(&mut self, s: &str) {
        if let Some(Tok::Text(t)) = self.toks.last_mut() {
            t.push_str(s);
        } else {
            self.toks.push(Tok::Text(s.to_string()));
        }
    }

    fn parse(mut self) -> Vec<Inline> {
        self.tokenize();
        let toks = std::mem::take(&mut self.toks);
        let closers: [Vec<usize>; 3] = ['*', '_', '~'].map(|c| {
            toks.iter()
                .enumerate()
                .filter(|(_, t)| matches!(t, Tok::Marker { ch, close: true, .. } if *ch == c))
                .map(|(i, _)| i)
                .collect()
        });
        let mut slots: Vec<Option<Tok>> = toks.into_iter().map(Some).collect();
        let len = slots.len();
        pair(&mut slots, &closers, 0, len, 0)
    }

    fn tokenize(&mut self) {
        let line = self.line;
        let bytes = line.as_bytes();
        let mut i = 0;
        let mut no_more_backticks = false;
        let mut no_more_gt = false;
        while i < line.len() {
            let ch = match line[i..].chars().next() {
                Some(c) => c,
                None => break,
            };
            match ch {
                '`' if !no_more_backticks => match line[i + 1..].find('`') {
                    Some(0) => {
                        // `` is not a code span; keep both as text.
                        self.push_text("``");
                        i += 2;
                    }
                    Some(n) => {
                        let code = &line[i + 1..i + 1 + n];
                        self.toks.push(Tok::Node(Inline::Code(decode_entities(code))));
                        i += n + 2;
                    }
                    None => {
                        no_more_backticks = true;
                        self.push_text("`");
                        i += 1;
                    }
                },
                '<' if !no_more_gt => {
                    let Some(n) = line[i + 1..].find('>') else {
                        no_more_gt = true;
                        self.push_text("<");
                        i += 1;
                        continue;
                    };
                    let content = &line[i + 1..i + 1 + n];
                    if let Some(inner) = content.rfind('<') {
                        // Only the last `<` before the `>` can open a sequence.
                        self.push_text(&line[i..i + 1 + inner]);
                        i += 1 + inner;
                        continue;
                    }
                    match parse_angle(content) {
                        Some(node) => self.toks.push(Tok::Node(node)),
                        None => self.push_text(&line[i..i + n + 2]),
                    }
                    i += n + 2;
                }
                ':' => match emoji_at(line, i) {
                    Some((name, len)) => {
                        self.toks.push(Tok::Node(Inline::Emoji { name, unicode: None }));
                        i += len;
                    }
                    None => {
                        self.push_text(":");
                        i += 1;
                    }
                },
                '*' | '_' | '~' => {
                    let prev = line[..i].chars().next_back();
                    let next = line[i + 1..].chars().next();
                    let open = prev.is_none_or(|p| !is_word(p) && p != ch)
                        && next.is_some_and(|n| !n.is_whitespace() && n != ch);
                    let close = prev.is_some_and(|p| !p.is_whitespace() && p != ch)
                        && next.is_none_or(|n| !n.is_alphanumeric() && n != ch);
                    self.toks.push(Tok::Marker { ch, open, close });
                    i += 1;
                }
                _ => {
                    // Copy the run up to the next special character at once.
                    let run = bytes[i..]
                        .iter()
                        .position(|b| matches!(b, b'`' | b'<' | b':' | b'*' | b'_' | b'~'))
                        .map_or(line.len(), |p| i + p);
                    let run = if run == i { i + ch.len_utf8() } else { run };
                    let piece = &line[i..run];
                    self.push_text(piece);
                    i = run;
                }
            }
        }
    }
}

/// A character that glues a marker to a word: a marker after it cannot open a span
/// (`snake_case`, `@_x_`).
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '@'
}

/// Pairs markers in `slots[a..b]` and builds the inline nodes.
fn pair(
    slots: &mut [Option<Tok>],
    closers: &[Vec<usize>; 3],
    a: usize,
    b: usize,
    depth: usize,
) -> Vec<Inline> {
    let mut out = Vec::new();
    let mut i = a;
    while i < b {
        let Some(tok) = slots[i].take() else {
            i += 1;
            continue;
        };
        match tok {
            Tok::Text(t) => out.push(Inline::Text(decode_entities(&t))),
            Tok::Node(n) => out.push(n),
            Tok::Marker { ch, open, .. } => {
                let k = ['*', '_', '~'].iter().position(|c| *c == ch).unwrap_or(0);
                let list = &closers[k];
                let first = list.partition_point(|&j| j < i + 2);
                let close = if open && depth < MAX_DEPTH {
                    list.get(first).copied().filter(|&j| j < b)
                } else {
                    None
                };
                match close {
                    Some(j) => {
                        let inner = pair(slots, closers, i + 1, j, depth + 1);
                        slots[j] = None;
                        out.push(match ch {
                            '*' => Inline::Bold(inner),
                            '_' => Inline::Italic(inner),
                            _ => Inline::Strike(inner),
                        });
                        i = j + 1;
                        continue;
                    }
                    None => out.push(Inline::Text(ch.to_string())),
                }
            }
        }
        i += 1;
    }
    out
}

/// Parses the content of a `<…>` sequence; `None` means "not a control sequence: text".
fn parse_angle(content: &str) -> Option<Inline> {
    if let Some(rest) = content.strip_prefix('@') {
        let (id, label) = split_label(rest);
        if id.is_empty() || id.contains(char::is_whitespace) {
            return None;
        }
        return Some(Inline::UserMention { user_id: id.to_string(), fallback: label });
    }
    if let Some(rest) = content.strip_prefix('#') {
        let (id, label) = split_label(rest);
        if id.is_empty() || id.contains(char::is_whitespace) {
            return None;
        }
        return Some(Inline::ChannelMention { channel_id: id.to_string(), name: label });
    }
    if let Some(rest) = content.strip_prefix('!') {
        let (cmd, label) = split_label(rest);
        return match cmd {
            "here" => Some(Inline::Broadcast(BroadcastKind::Here)),
            "channel" | "group" => Some(Inline::Broadcast(BroadcastKind::Channel)),
            "everyone" => Some(Inline::Broadcast(BroadcastKind::Everyone)),
            _ => {
                if let Some(id) = cmd.strip_prefix("subteam^") {
                    if !id.is_empty() {
                        return Some(Inline::UserGroup { id: id.to_string(), handle: label });
                    }
                }
                if let Some(spec) = cmd.strip_prefix("date^") {
                    let mut parts = spec.splitn(3, '^');
                    let ts = parts.next().and_then(|t| t.parse::<i64>().ok());
                    let format = parts.next().unwrap_or_default();
                    let link = parts.next().filter(|l| !l.is_empty()).map(decode_entities);
                    if let Some(ts) = ts {
                        return Some(Inline::Date {
                            ts,
                            format: decode_entities(format),
                            link,
                            fallback: label.unwrap_or_default(),
                        });
                    }
                }
                // An unknown command shows its label, as Slack does; without one it is text.
                label.map(Inline::Text)
            }
        };
    }
    let (url, label) = content.split_once('|').map_or((content, None), |(u, l)| (u, Some(l)));
    if !has_scheme(url) {
        return None;
    }
    let label =
        label.filter(|l| !l.is_empty()).map(|l| vec![Inline::Text(decode_entities(l))]).unwrap_or_default();
    Some(Inline::Link { url: decode_entities(url), label })
}

fn split_label(rest: &str) -> (&str, Option<String>) {
    match rest.split_once('|') {
        Some((id, label)) if !label.is_empty() => (id, Some(decode_entities(label))),
        Some((id, _)) => (id, None),
        None => (rest, None),
    }
}

/// `scheme:` per RFC 3986 (a letter, then letters, digits, `+ - .`).
pub(crate) fn has_scheme(url: &str) -> bool {
    let Some((scheme, _)) = url.split_once(':') else { return false };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// An emoji shortcode starting at byte `i` (a `:`): its name and byte length.
pub(crate) fn emoji_at(line: &str, i: usize) -> Option<(String, usize)> {
    let body = &line[i + 1..];
    let name_len = body.bytes().take(101).take_while(|b| is_shortcode_byte(*b)).count();
    if name_len == 0 || name_len > 100 || body.as_bytes().get(name_len) != Some(&b':') {
        return None;
    }
    let name = &body[..name_len];
    let mut total = name_len + 2;
    let mut full = name.to_string();
    // Skin tones: `::skin-tone-N` (possibly twice, or `N-M`).
    let mut rest = &body[name_len..];
    while let Some(after) = rest.strip_prefix("::skin-tone-") {
        let digits = after.bytes().take_while(|b| b.is_ascii_digit() || *b == b'-').count();
        if digits == 0 || after.as_bytes().get(digits) != Some(&b':') {
            break;
        }
        full.push_str("::skin-tone-");
        full.push_str(&after[..digits]);
        total += "::skin-tone-".len() + digits - 1 + 1;
        rest = &after[digits..];
    }
    let standard = emoji::shortcode_to_unicode(&full).is_some();
    // A name that is not standard may be a custom emoji; it must look like one and stand
    // apart from the word before it (`Note:important:` is text, `10:30:00` too).
    let after = line[i + total..].chars().next();
    let plausible = name.bytes().any(|b| b.is_ascii_alphabetic())
        && !line[..i].chars().next_back().is_some_and(char::is_alphanumeric)
        && !after.is_some_and(char::is_alphanumeric);
    (standard || plausible).then_some((full, total))
}

fn is_shortcode_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'+' | b'-' | b'\'')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn para(doc: &Document) -> &[Inline] {
        match doc.blocks.first() {
            Some(Block::Paragraph(p)) => p,
            other => panic!("not a paragraph: {other:?}"),
        }
    }

    fn text(s: &str) -> Inline {
        Inline::Text(s.into())
    }

    #[test]
    fn mid_word_markers_are_text() {
        assert_eq!(para(&parse_mrkdwn("snake_case_word")), [text("snake_case_word")]);
        assert_eq!(para(&parse_mrkdwn("2*3*4")), [text("2*3*4")]);
        assert_eq!(para(&parse_mrkdwn("**word**")), [text("**word**")]);
    }

    #[test]
    fn nested_spans() {
        assert_eq!(para(&parse_mrkdwn("*_x_*")), [Inline::Bold(vec![Inline::Italic(vec![text("x")])])]);
    }

    #[test]
    fn skin_tone_shortcode_length() {
        let doc = parse_mrkdwn(":+1::skin-tone-4:!");
        assert_eq!(para(&doc), [Inline::Emoji { name: "+1::skin-tone-4".into(), unicode: None }, text("!")]);
    }

    #[test]
    fn escapes_decode_once() {
        assert_eq!(decode_entities("&amp;lt; &lt;b&gt; & &quot;"), "&lt; <b> & &quot;");
    }
}
