//! What the two renderers share: the [`MentionResolver`] they ask for destination identities,
//! the [`Rendered`] result, the [`RenderNote`]s that record every lossy step, and the link
//! and emoji policies (which URLs may become links, how a shortcode resolves).
//!
//! Must not produce destination syntax itself; `chat` and `teams` do.

use serde::Serialize;

use super::ast::BroadcastKind;
use crate::emoji;

/// A destination identity for a source user, as the planner's user mapping knows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedUser {
    /// The name to show when the mention becomes text (`@display_name`).
    pub display_name: String,
    /// The Google Chat user resource (`users/123` or `users/ana@example.com`) when the user
    /// is mapped; `None` renders the mention as text in Chat too.
    pub chat_user: Option<String>,
}

/// Supplies destination facts to the renderers. Every method has a "don't know" answer, and
/// the renderers degrade to text (with a [`RenderNote`]) when a lookup fails.
pub trait MentionResolver {
    /// The destination identity for a source user id, `None` if unknown (the renderer then
    /// uses the name carried in the source, else the id).
    fn user(&self, source_user_id: &str) -> Option<ResolvedUser>;

    /// The display name of a source channel, without `#`.
    fn channel(&self, source_channel_id: &str) -> Option<String> {
        let _ = source_channel_id;
        None
    }

    /// The handle of a source user group, with or without `@`.
    fn user_group(&self, source_group_id: &str) -> Option<String> {
        let _ = source_group_id;
        None
    }

    /// A custom emoji of the source workspace: an image URL the destination may show (http(s),
    /// or a Teams `../hostedContents/N/$value` reference), or Slack's `alias:<name>` form
    /// pointing at another emoji. `None` when the name is not a known custom emoji.
    fn custom_emoji(&self, name: &str) -> Option<String> {
        let _ = name;
        None
    }
}

/// A resolver that knows nothing: every mention becomes text. For tests and previews.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDirectory;

impl MentionResolver for NoDirectory {
    fn user(&self, _source_user_id: &str) -> Option<ResolvedUser> {
        None
    }
}

/// The output of a renderer: the destination text (Chat markup or Teams HTML) and what was
/// altered on the way.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Rendered {
    /// The message body in the destination's syntax.
    pub text: String,
    /// One note per altered or lossy construct, in document order.
    pub notes: Vec<RenderNote>,
}

/// One construct that could not be rendered exactly. Serialises as
/// `{"kind": "<code>", …fields}` so a planner can copy it into `report.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RenderNote {
    /// A shortcode that is neither a standard emoji nor a known custom emoji; kept as `:name:`.
    UnknownEmoji {
        /// The shortcode, without colons.
        name: String,
    },
    /// A custom emoji shown as `:name:` text (the destination cannot show its image).
    CustomEmojiAsText {
        /// The shortcode, without colons.
        name: String,
    },
    /// A custom emoji shown as an inline image.
    CustomEmojiAsImage {
        /// The shortcode, without colons.
        name: String,
        /// The image reference used.
        url: String,
    },
    /// A user mention shown as plain `@Name` text (unmapped user, or Teams, which cannot
    /// import mentions).
    MentionAsText {
        /// The source user id.
        user_id: String,
        /// The text shown instead.
        shown_as: String,
    },
    /// `@here` / `@channel` / `@everyone` shown as text, so history does not read as a live
    /// notification.
    BroadcastAsText {
        /// Which broadcast.
        broadcast: BroadcastKind,
    },
    /// A user-group mention shown as text (neither destination has user groups).
    UserGroupAsText {
        /// The source user-group id.
        group_id: String,
        /// The text shown instead.
        shown_as: String,
    },
    /// A channel link shown as `#name` text.
    ChannelMentionAsText {
        /// The source channel id.
        channel_id: String,
        /// The text shown instead.
        shown_as: String,
    },
    /// A Slack date token shown as its fallback text (Slack formats it per viewer time zone).
    DateAsFallback {
        /// Unix seconds.
        ts: i64,
        /// The text shown instead.
        shown_as: String,
    },
    /// A link whose scheme is not allowed (only http, https, mailto and tel become links);
    /// its label (or address) is shown as text.
    LinkAsText {
        /// The link target as written in the source.
        url: String,
    },
    /// Formatting the destination cannot express, rendered as plain content.
    FormattingDropped {
        /// Which construct: `underline`, `heading`, `table`, `quote` (Chat: `> ` text lines),
        /// `code_with_backtick`.
        construct: String,
    },
    /// A source block with no text equivalent, omitted.
    UnsupportedBlock {
        /// The source block type.
        block_kind: String,
    },
}

impl RenderNote {
    /// A stable machine-readable code for the note (its serialised `kind`).
    pub fn code(&self) -> &'static str {
        match self {
            RenderNote::UnknownEmoji { .. } => "unknown_emoji",
            RenderNote::CustomEmojiAsText { .. } => "custom_emoji_as_text",
            RenderNote::CustomEmojiAsImage { .. } => "custom_emoji_as_image",
            RenderNote::MentionAsText { .. } => "mention_as_text",
            RenderNote::BroadcastAsText { .. } => "broadcast_as_text",
            RenderNote::UserGroupAsText { .. } => "user_group_as_text",
            RenderNote::ChannelMentionAsText { .. } => "channel_mention_as_text",
            RenderNote::DateAsFallback { .. } => "date_as_fallback",
            RenderNote::LinkAsText { .. } => "link_as_text",
            RenderNote::FormattingDropped { .. } => "formatting_dropped",
            RenderNote::UnsupportedBlock { .. } => "unsupported_block",
        }
    }
}

/// The checked, normalised form of a link target, or `None` when it must not become a link:
/// only `http(s)://…`, `mailto:…` and `tel:…` qualify, without control characters. Spaces,
/// quotes, `<`, `>`, `|` and backticks are percent-encoded so the result cannot break out of
/// an HTML attribute or a Chat `<url|label>`.
pub fn safe_link(url: &str) -> Option<String> {
    let url = url.trim();
    if url.chars().any(char::is_control) {
        return None;
    }
    let (scheme, rest) = url.split_once(':')?;
    let ok = match scheme.to_ascii_lowercase().as_str() {
        "http" | "https" => rest.starts_with("//") && rest.len() > 2,
        "mailto" | "tel" => !rest.is_empty(),
        _ => false,
    };
    if !ok {
        return None;
    }
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            ' ' => out.push_str("%20"),
            '"' => out.push_str("%22"),
            '\'' => out.push_str("%27"),
            '<' => out.push_str("%3C"),
            '>' => out.push_str("%3E"),
            '|' => out.push_str("%7C"),
            '`' => out.push_str("%60"),
            c if c.is_whitespace() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    Some(out)
}

/// What a link shows when it has no label: the address, minus `mailto:` / `tel:`.
pub(crate) fn bare_label(url: &str) -> &str {
    for scheme in ["mailto:", "tel:"] {
        if url.len() > scheme.len() && url[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return &url[scheme.len()..];
        }
    }
    url
}

/// How an emoji resolves for rendering.
pub(crate) enum EmojiChoice {
    /// A standard emoji (or a custom alias of one): its Unicode sequence.
    Unicode(String),
    /// A custom emoji with an image reference.
    Custom(String),
    /// A custom emoji or an unknown name with nothing to show but `:name:`.
    Unknown,
}

/// Resolves a shortcode: the standard table first, then the sequence the source stated,
/// then the workspace's custom emoji (following one `alias:`).
pub(crate) fn choose_emoji(name: &str, unicode: Option<&str>, r: &dyn MentionResolver) -> EmojiChoice {
    if let Some(u) = emoji::shortcode_to_unicode(name) {
        return EmojiChoice::Unicode(u);
    }
    if let Some(u) = unicode.filter(|u| !u.is_empty()) {
        return EmojiChoice::Unicode(u.to_string());
    }
    let base = name.split("::").next().unwrap_or(name);
    match r.custom_emoji(base) {
        Some(target) => match target.strip_prefix("alias:") {
            Some(alias) => {
                emoji::shortcode_to_unicode(alias).map_or(EmojiChoice::Unknown, EmojiChoice::Unicode)
            }
            None => EmojiChoice::Custom(target),
        },
        None => EmojiChoice::Unknown,
    }
}

/// The name shown for a mentioned user: the resolver's, else the source's, else the id.
pub(crate) fn user_name(user_id: &str, fallback: Option<&str>, resolved: Option<&ResolvedUser>) -> String {
    resolved
        .map(|u| u.display_name.as_str())
        .filter(|n| !n.is_empty())
        .or(fallback.filter(|f| !f.is_empty()))
        .unwrap_or(user_id)
        .to_string()
}

/// `@handle` for a user group.
pub(crate) fn group_label(id: &str, handle: Option<&str>, r: &dyn MentionResolver) -> String {
    let name = handle.map(str::to_string).or_else(|| r.user_group(id)).unwrap_or_else(|| id.to_string());
    if name.starts_with('@') {
        name
    } else {
        format!("@{name}")
    }
}

/// `#name` for a channel.
pub(crate) fn channel_label(id: &str, name: Option<&str>, r: &dyn MentionResolver) -> String {
    let name = r.channel(id).or_else(|| name.map(str::to_string)).unwrap_or_else(|| id.to_string());
    format!("#{}", name.trim_start_matches('#'))
}

/// The text shown for a date token: its fallback, else the UTC time.
pub(crate) fn date_label(ts: i64, fallback: &str) -> String {
    if !fallback.is_empty() {
        return fallback.to_string();
    }
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", secs / 3600, (secs % 3600) / 60)
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z.clamp(-1_000_000_000, 1_000_000_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_four_schemes_link() {
        assert_eq!(safe_link("https://a.b/c d").as_deref(), Some("https://a.b/c%20d"));
        assert_eq!(safe_link("MAILTO:a@b").as_deref(), Some("MAILTO:a@b"));
        assert_eq!(safe_link("javascript:alert(1)"), None);
        assert_eq!(safe_link(" JavaScript:alert(1)"), None);
        assert_eq!(safe_link("data:text/html,x"), None);
        assert_eq!(safe_link("http:x"), None);
        assert_eq!(safe_link("https://a\"onmouseover=x").as_deref(), Some("https://a%22onmouseover=x"));
    }

    #[test]
    fn dates_without_fallback_use_utc() {
        assert_eq!(date_label(1_392_734_382, ""), "2014-02-18 14:39 UTC");
        assert_eq!(date_label(0, "then"), "then");
    }
}
