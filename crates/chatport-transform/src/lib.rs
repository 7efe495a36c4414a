//! chatport-transform: turns canonical chat data into destination plans.
//!
//! So far this crate holds the **markup compiler** and the **emoji table**:
//!
//! - [`markup`] parses Slack mrkdwn ([`markup::parse_mrkdwn`]), Slack `rich_text` blocks
//!   ([`markup::parse_rich_text`]) and Markdown ([`markup::parse_markdown`]) into one
//!   [`markup::Document`] AST, and renders it to Google Chat text ([`markup::render_chat`]) or to
//!   safe Teams HTML ([`markup::render_teams`]). Renderers ask a [`markup::MentionResolver`]
//!   for destination identities and return every lossy step as a [`markup::RenderNote`].
//! - [`emoji`] maps Slack shortcodes (aliases, skin tones) to Unicode.
//!
//! Everything here is a pure function over strings and `serde_json::Value`s: no I/O.
//!
//! ```
//! use chatport_transform::markup::{parse_mrkdwn, render_chat, render_teams, NoDirectory};
//! let doc = parse_mrkdwn("*Ship it* :rocket: &lt;soon&gt;");
//! assert_eq!(render_chat(&doc, &NoDirectory).text, "*Ship it* \u{1F680} <soon>");
//! assert_eq!(render_teams(&doc, &NoDirectory).text, "<p><b>Ship it</b> \u{1F680} &lt;soon&gt;</p>");
//! ```

#![warn(missing_docs)]

pub mod emoji;
pub mod markup;
pub mod plan;
pub mod users;
