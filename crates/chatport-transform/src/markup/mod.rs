//! The markup compiler: source dialects in, one AST, destination syntaxes out.
//!
//! ```text
//! Slack mrkdwn ─ parse_mrkdwn ──┐
//! Slack blocks ─ parse_rich_text ┼─▶ Document ─┬─ render_chat  ─▶ Google Chat text + notes
//! Markdown ───── parse_markdown ─┘             └─ render_teams ─▶ Teams HTML + notes
//! ```
//!
//! Parsers never fail (unrecognised syntax is text) and never see a destination; renderers
//! never see a source dialect, and ask a [`MentionResolver`] for identities. Each lossy step
//! becomes a [`RenderNote`] for the planner's report. Nothing here does I/O.
//!
//! Submodules: [`ast`] (types), `mrkdwn`, `rich_text`, `markdown` (parsers), `render`
//! (resolver, notes, shared policies), `chat` and `teams` (renderers), `split` (cutting an
//! over-long message into parts that each render within a byte budget:
//! [`render_chat_parts`], [`render_teams_parts`]).
//!
//! # Which parser
//! A Slack message with a `rich_text` block parses with [`parse_rich_text`] (the exact
//! source: it has underline, real list nesting and no escaping ambiguity); otherwise its
//! `text` parses with [`parse_mrkdwn`].
//!
//! # Policies (each lossy case yields a [`RenderNote`])
//! | construct | Google Chat text | Teams HTML |
//! |---|---|---|
//! | user mention | `<users/…>` when the resolver maps the user, else `@Name` + note | `@Name` + note (mentions are not importable) |
//! | `@here` / `@channel` / `@everyone` | `@here` text + note (no live broadcast in history) | same |
//! | user group, channel | `@handle`, `#name` text + note | same |
//! | date token | its fallback text (a link if it has one) + note | same |
//! | standard emoji | Unicode sequence | Unicode sequence |
//! | custom emoji | `:name:` + note (Chat shows the org's emoji of that name) | `<img>` if the resolver gives an http(s) or `../hostedContents/N/$value` source, else `:name:`; + note |
//! | unknown shortcode | `:name:` + note | `:name:` + note |
//! | link | `<url\|label>` for http, https, mailto, tel; other schemes: label as text + note | `<a href>` for the same four; others as text + note |
//! | quote | `> ` text lines + note (Chat markup has no quote block) | `<blockquote>` |
//! | list | `• ` / `1. ` lines, nested by 4 spaces (as Slack's own text) | `<ul>`/`<ol>` |
//! | underline, heading, table | plain / bold line / `a \| b` rows + note | `<u>`, `<h1>`–`<h3>`, `<table>` |
//! | non-text block (e.g. `actions`) | omitted + note | omitted + note |
//!
//! Chat documents no escape character: literal text that Chat would read as markup is
//! defused with an invisible U+200B (see the `chat` module). Teams output is escaped HTML in a
//! fixed tag set ([`TEAMS_TAGS`]); no source text can produce a tag or attribute.
//!
//! # Differences from the first API sketch
//! [`MentionResolver::user`] returns `Option<ResolvedUser>` (unknown users fall back to the
//! name carried in the source, then the id), the resolver also answers `user_group`, and
//! `custom_emoji` may answer Slack's `alias:<name>`. [`Inline::Emoji`] carries the Unicode
//! sequence `rich_text` states, if any; [`Inline::Underline`], [`Block::Heading`],
//! [`Block::Rule`], [`Block::Table`] and [`Block::Unsupported`] were added for Block Kit and
//! Markdown sources. Added helpers: [`parse_slack`] (rich_text first, else text) and
//! [`render_chat_parts`] / [`render_teams_parts`] (size-bounded parts for long messages).

pub mod ast;
mod chat;
mod markdown;
mod mrkdwn;
mod render;
mod rich_text;
mod split;
mod teams;

pub use ast::{Block, BroadcastKind, Document, Inline};
pub use chat::render_chat;
pub use markdown::parse_markdown;
pub use mrkdwn::parse_mrkdwn;
pub use render::{safe_link, MentionResolver, NoDirectory, RenderNote, Rendered, ResolvedUser};
pub use rich_text::parse_rich_text;
pub use split::{render_chat_parts, render_teams_parts};
pub use teams::{render_teams, TEAMS_TAGS};

/// Parses a Slack message body the preferred way: its `rich_text` blocks when it has any
/// (the exact source), else its mrkdwn `text`.
///
/// ```
/// use chatport_transform::markup::{parse_slack, Block, Inline};
/// let blocks = serde_json::json!([{"type": "rich_text", "elements": [{"type": "rich_text_section",
///     "elements": [{"type": "text", "text": "x", "style": {"underline": true}}]}]}]);
/// let doc = parse_slack("x", Some(&blocks));
/// assert_eq!(doc.blocks, vec![Block::Paragraph(vec![Inline::Underline(vec![Inline::Text("x".into())])])]);
/// assert_eq!(parse_slack("*x*", None), parse_slack("*x*", Some(&serde_json::json!([]))));
/// ```
pub fn parse_slack(text: &str, blocks: Option<&serde_json::Value>) -> Document {
    blocks.and_then(parse_rich_text).unwrap_or_else(|| parse_mrkdwn(text))
}
