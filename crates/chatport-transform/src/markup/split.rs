//! Splits a document into parts that each render within a byte budget (Chat: 32,000 bytes
//! per message; Teams: about 28 KB of HTML), at construct boundaries, so no part carries a
//! broken tag, an unclosed span or half a code fence.
//!
//! Owns only the cutting: blocks are packed greedily; a block too big alone is cut into
//! smaller blocks of the same kind (a paragraph at line breaks, then between words; a code
//! block between lines; a list between items; a quote or table between children) and each
//! part is re-rendered to check it fits. A part can exceed the budget only when it is a single
//! construct that cannot be cut (one enormous link or mention).

use std::collections::VecDeque;

use super::ast::{normalize_inlines, Block, Document, Inline};
use super::render::{MentionResolver, Rendered};
use super::{render_chat, render_teams};

/// Longest run of text kept as one unit when a line must be cut between words.
const MAX_WORD: usize = 256;

/// Renders `doc` as Google Chat text in parts of at most `max_bytes` bytes each, in order.
/// Notes are per part; together they are the notes of the whole. Always at least one part.
///
/// ```
/// use chatport_transform::markup::{parse_mrkdwn, render_chat_parts, NoDirectory};
/// let doc = parse_mrkdwn(&"*word* ".repeat(20));
/// let parts = render_chat_parts(&doc, &NoDirectory, 40);
/// assert!(parts.len() > 1 && parts.iter().all(|p| p.text.len() <= 40));
/// // Every part is whole markup: spans open and close inside it.
/// assert!(parts.iter().all(|p| p.text.trim().starts_with('*') && p.text.trim().ends_with('*')));
/// ```
pub fn render_chat_parts(doc: &Document, r: &dyn MentionResolver, max_bytes: usize) -> Vec<Rendered> {
    split_rendered(doc, max_bytes, 1, &|d| render_chat(d, r))
}

/// Renders `doc` as Teams HTML in parts of at most `max_bytes` bytes each, in order; every
/// part is complete, balanced HTML. Always at least one part.
///
/// ```
/// use chatport_transform::markup::{parse_mrkdwn, render_teams_parts, NoDirectory};
/// let doc = parse_mrkdwn(&"• item\n".repeat(50));
/// let parts = render_teams_parts(&doc, &NoDirectory, 100);
/// assert!(parts.iter().all(|p| p.text.len() <= 100 && p.text.starts_with("<ul>")));
/// ```
pub fn render_teams_parts(doc: &Document, r: &dyn MentionResolver, max_bytes: usize) -> Vec<Rendered> {
    split_rendered(doc, max_bytes, 0, &|d| render_teams(d, r))
}

fn split_rendered(
    doc: &Document,
    max: usize,
    separator: usize,
    render: &dyn Fn(&Document) -> Rendered,
) -> Vec<Rendered> {
    let whole = render(doc);
    if whole.text.len() <= max {
        return vec![whole];
    }
    let size = |blocks: &[Block]| render(&Document { blocks: blocks.to_vec() }).text.len();
    let mut parts: Vec<Vec<Block>> = Vec::new();
    let mut current: Vec<Block> = Vec::new();
    let mut current_size = 0;
    let mut queue: VecDeque<Block> = doc.blocks.iter().cloned().collect();
    while let Some(block) = queue.pop_front() {
        let s = size(std::slice::from_ref(&block));
        if s > max {
            let pieces = cut_block(&block, max, &size);
            if pieces.len() > 1 {
                for piece in pieces.into_iter().rev() {
                    queue.push_front(piece);
                }
                continue;
            }
        }
        let added = if current.is_empty() { s } else { s + separator };
        if !current.is_empty() && current_size + added > max {
            parts.push(std::mem::take(&mut current));
            current_size = 0;
        }
        current_size += if current.is_empty() { s } else { s + separator };
        current.push(block);
    }
    if !current.is_empty() {
        parts.push(current);
    }
    // Sizes were summed per block; check each part as rendered and halve any that overflow.
    let mut out = Vec::new();
    let mut pending: VecDeque<Vec<Block>> = parts.into();
    while let Some(part) = pending.pop_front() {
        let rendered = render(&Document { blocks: part.clone() });
        if rendered.text.len() > max && part.len() > 1 {
            let mut first = part;
            let second = first.split_off(first.len() / 2);
            pending.push_front(second);
            pending.push_front(first);
        } else {
            out.push(rendered);
        }
    }
    if out.is_empty() {
        out.push(whole);
    }
    out
}

/// Cuts one block into smaller blocks of the same kind; one element back means "cannot cut".
fn cut_block(block: &Block, max: usize, size: &dyn Fn(&[Block]) -> usize) -> Vec<Block> {
    match block {
        Block::Paragraph(inlines) => {
            let lines: Vec<&[Inline]> = inlines.split(|i| *i == Inline::LineBreak).collect();
            if lines.len() > 1 {
                // Each line its own paragraph; a blank line keeps a visible blank.
                return lines
                    .into_iter()
                    .map(|l| {
                        if l.is_empty() {
                            Block::Paragraph(vec![Inline::Text(" ".into())])
                        } else {
                            Block::Paragraph(l.to_vec())
                        }
                    })
                    .collect();
            }
            let measure = |chunk: &[Inline]| size(&[Block::Paragraph(chunk.to_vec())]);
            let atoms = fit_atoms(inlines.iter().flat_map(atoms_of).collect(), max, &measure);
            pack(atoms, max, &measure)
                .into_iter()
                .map(|chunk| Block::Paragraph(normalize_inlines(chunk)))
                .collect()
        }
        Block::Heading { level, content } => {
            let measure = |chunk: &[Inline]| size(&[Block::Paragraph(chunk.to_vec())]);
            let atoms = fit_atoms(content.iter().flat_map(atoms_of).collect(), max, &measure);
            pack(atoms, max, &measure)
                .into_iter()
                .map(|chunk| Block::Heading { level: *level, content: normalize_inlines(chunk) })
                .collect()
        }
        Block::CodeBlock { text } => {
            // Pieces of lines, each flagged when it starts a new source line, so a long line
            // cut into pieces is joined back without an invented line break. A piece is at
            // most max/8 bytes: escaping grows a byte to at most six (`"` → `&quot;`).
            let mut pieces: Vec<(String, bool)> = Vec::new();
            for line in text.split('\n') {
                for (k, piece) in chunks_of(line, (max / 8).max(1)).into_iter().enumerate() {
                    pieces.push((piece, k == 0));
                }
            }
            let code = |ps: &[(String, bool)]| {
                let mut t = String::new();
                for (k, (piece, new_line)) in ps.iter().enumerate() {
                    if k > 0 && *new_line {
                        t.push('\n');
                    }
                    t.push_str(piece);
                }
                Block::CodeBlock { text: t }
            };
            pack(pieces, max, &|chunk: &[(String, bool)]| size(&[code(chunk)]))
                .iter()
                .map(|c| code(c))
                .collect()
        }
        Block::Quote(inner) => {
            if inner.len() > 1 {
                inner.iter().map(|b| Block::Quote(vec![b.clone()])).collect()
            } else {
                inner
                    .first()
                    .map(|b| cut_block(b, max, size).into_iter().map(|p| Block::Quote(vec![p])).collect())
                    .unwrap_or_else(|| vec![block.clone()])
            }
        }
        Block::List { ordered, start, items } => {
            if items.len() > 1 {
                items
                    .iter()
                    .enumerate()
                    .map(|(k, item)| Block::List {
                        ordered: *ordered,
                        start: start.saturating_add(k as u64),
                        items: vec![item.clone()],
                    })
                    .collect()
            } else {
                let item = items.first().cloned().unwrap_or_default();
                let mut pieces = Vec::new();
                for b in &item {
                    pieces.extend(cut_block(b, max, size));
                }
                if pieces.len() <= 1 {
                    return vec![block.clone()];
                }
                pieces
                    .into_iter()
                    .map(|p| Block::List { ordered: *ordered, start: *start, items: vec![vec![p]] })
                    .collect()
            }
        }
        Block::Table { rows } if rows.len() > 1 => {
            rows.iter().map(|row| Block::Table { rows: vec![row.clone()] }).collect()
        }
        other => vec![other.clone()],
    }
}

/// Greedily groups items so each group's measured size stays within `max` (a group of one
/// may exceed it). Adjacent items are assumed to render no larger together than apart.
fn pack<T: Clone>(items: Vec<T>, max: usize, measure: &dyn Fn(&[T]) -> usize) -> Vec<Vec<T>> {
    let mut groups: Vec<Vec<T>> = Vec::new();
    let mut current: Vec<T> = Vec::new();
    let mut current_size = 0;
    for item in items {
        let s = measure(std::slice::from_ref(&item));
        if !current.is_empty() && current_size + s > max {
            groups.push(std::mem::take(&mut current));
            current_size = 0;
        }
        current_size += s;
        current.push(item);
    }
    if !current.is_empty() {
        groups.push(current);
    }
    // Joining can add bytes (Chat separators beside spans): re-measure and halve if needed.
    let mut out = Vec::new();
    let mut pending: VecDeque<Vec<T>> = groups.into();
    while let Some(group) = pending.pop_front() {
        if group.len() > 1 && measure(&group) > max {
            let mut first = group;
            let second = first.split_off(first.len() / 2);
            pending.push_front(second);
            pending.push_front(first);
        } else {
            out.push(group);
        }
    }
    out
}

/// Splits an inline into word-sized pieces, each wrapped in the spans around it.
fn atoms_of(inline: &Inline) -> Vec<Inline> {
    let wrap = |children: &[Inline], f: fn(Vec<Inline>) -> Inline| -> Vec<Inline> {
        children.iter().flat_map(atoms_of).map(|a| f(vec![a])).collect()
    };
    match inline {
        Inline::Text(t) => words(t).into_iter().map(Inline::Text).collect(),
        Inline::Code(t) => chunks_of(t, MAX_WORD).into_iter().map(Inline::Code).collect(),
        Inline::Bold(c) => wrap(c, Inline::Bold),
        Inline::Italic(c) => wrap(c, Inline::Italic),
        Inline::Strike(c) => wrap(c, Inline::Strike),
        Inline::Underline(c) => wrap(c, Inline::Underline),
        other => vec![other.clone()],
    }
}

/// Re-cuts the atoms that render larger than `max` on their own (a word or code span whose
/// escaping grows it, e.g. `"` → `&quot;`) into pieces of at most `max / 8` bytes, within the
/// same spans; escaping grows a byte to at most six.
fn fit_atoms(atoms: Vec<Inline>, max: usize, measure: &dyn Fn(&[Inline]) -> usize) -> Vec<Inline> {
    fn cut(atom: &Inline, piece: usize) -> Vec<Inline> {
        let wrap = |c: &[Inline], f: fn(Vec<Inline>) -> Inline| -> Vec<Inline> {
            c.iter().flat_map(|a| cut(a, piece)).map(|a| f(vec![a])).collect()
        };
        match atom {
            Inline::Text(t) => chunks_of(t, piece).into_iter().map(Inline::Text).collect(),
            Inline::Code(t) => chunks_of(t, piece).into_iter().map(Inline::Code).collect(),
            Inline::Bold(c) => wrap(c, Inline::Bold),
            Inline::Italic(c) => wrap(c, Inline::Italic),
            Inline::Strike(c) => wrap(c, Inline::Strike),
            Inline::Underline(c) => wrap(c, Inline::Underline),
            other => vec![other.clone()],
        }
    }
    atoms
        .into_iter()
        .flat_map(
            |a| if measure(std::slice::from_ref(&a)) > max { cut(&a, (max / 8).max(1)) } else { vec![a] },
        )
        .collect()
}

/// Words with their trailing whitespace; long words in [`MAX_WORD`]-byte chunks.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_space = false;
    for (i, c) in text.char_indices() {
        let space = c.is_whitespace();
        if in_space && !space {
            out.extend(chunks_of(&text[start..i], MAX_WORD));
            start = i;
        }
        in_space = space;
    }
    if start < text.len() {
        out.extend(chunks_of(&text[start..], MAX_WORD));
    }
    out
}

/// `text` in pieces of at most `max` bytes (at least one character each).
fn chunks_of(text: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut cut = max;
        while cut > 0 && !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if cut == 0 {
            cut = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        out.push(rest[..cut].to_string());
        rest = &rest[cut..];
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(rest.to_string());
    }
    out
}
