//! Random message bodies: one structure rendered twice, as Slack mrkdwn `text` and as the
//! equivalent `rich_text` block elements, so the two stay consistent like in real exports.
//! Covers bold/italic/strike/code, quotes, lists, code blocks, links, user and channel
//! mentions, broadcasts, emoji with skin tones, and CJK, RTL and astral-plane text.

use rand::Rng;

use crate::model::{RichElement, RichInline, RichStyle};

/// A mention target: a user index into [`MentionTargets::users`].
pub type UserIndex = usize;

/// What a message body may mention.
pub struct MentionTargets<'a> {
    /// Every user id that may be mentioned (index = [`UserIndex`]).
    pub users: &'a [String],
    /// Indices of [`Self::users`] that are usually mentioned.
    pub usual: &'a [UserIndex],
    /// Indices of [`Self::users`] missing from `users.json` (external people), mentioned rarely.
    pub external: &'a [UserIndex],
    /// Public channels as `(id, name)`.
    pub channels: &'a [(String, String)],
}

/// A generated body.
pub struct Markup {
    /// Slack mrkdwn.
    pub text: String,
    /// The same content as `rich_text` elements.
    pub rich: Vec<RichElement>,
    /// Users mentioned, by index.
    pub mentions: Vec<UserIndex>,
    /// A URL linked from the text, for unfurls.
    pub link: Option<String>,
}

const WORDS: &[&str] = &[
    "the",
    "deploy",
    "is",
    "done",
    "can",
    "someone",
    "review",
    "my",
    "PR",
    "please",
    "thanks",
    "meeting",
    "moved",
    "to",
    "tomorrow",
    "at",
    "noon",
    "build",
    "failed",
    "again",
    "on",
    "main",
    "looks",
    "good",
    "me",
    "I",
    "think",
    "we",
    "should",
    "ship",
    "it",
    "today",
    "dashboard",
    "latency",
    "spiked",
    "around",
    "customers",
    "reported",
    "an",
    "issue",
    "with",
    "login",
    "fixed",
    "in",
    "next",
    "release",
    "lunch",
    "anyone",
    "coffee",
    "docs",
    "updated",
    "for",
    "the",
    "migration",
    "plan",
    "draft",
    "ready",
    "ticket",
    "closed",
    "sprint",
    "retro",
    "notes",
    "query",
    "index",
    "cache",
    "invalidated",
    "rollback",
    "incident",
    "postmortem",
];

const PHRASES: &[&str] = &[
    "数据可视化很有趣",
    "今日の会議は15時からです",
    "회의록을 공유합니다",
    "这个问题已经解决了",
    "مرحبا بالجميع",
    "שלום לכולם, הגרסה החדשה זמינה",
    "تم نشر الإصدار الجديد",
    "Grüße aus Zürich, café naïve São Paulo",
    "Ελληνικά και русский текст",
    "R&D budget: a < b && c > d",
];

const RAW_EMOJI: &[&str] = &["🎉", "🚀", "👍🏽", "❤️", "😂", "👨‍👩‍👧", "🇫🇷", "✅", "🤔"];

/// `(short name, unicode, takes a skin tone)`; `None` unicode = custom emoji.
const EMOJI: &[(&str, Option<&str>, bool)] = &[
    ("smile", Some("1f604"), false),
    ("tada", Some("1f389"), false),
    ("rocket", Some("1f680"), false),
    ("+1", Some("1f44d"), true),
    ("wave", Some("1f44b"), true),
    ("eyes", Some("1f440"), false),
    ("heart", Some("2764-fe0f"), false),
    ("fire", Some("1f525"), false),
    ("white_check_mark", Some("2705"), false),
    ("pray", Some("1f64f"), true),
    ("joy", Some("1f602"), false),
    ("thinking_face", Some("1f914"), false),
    ("100", Some("1f4af"), false),
    ("clap", Some("1f44f"), true),
    ("ok_hand", Some("1f44c"), true),
    ("raised_hands", Some("1f64c"), true),
    ("partyparrot", None, false),
    ("shipit", None, false),
    ("this-is-fine", None, false),
];

const CODE: &[&str] = &[
    "SELECT id, name FROM users WHERE created_at < now() - interval '7 days';",
    "fn main() {\n    println!(\"hello\");\n}",
    "kubectl -n prod rollout restart deploy/api",
    "if (a < b && b > c) { return \"<ok>\"; }",
];

const DOMAINS: &[&str] = &[
    "https://github.com/acme/api/pull/",
    "https://docs.example.com/runbooks/",
    "https://jira.example.com/browse/OPS-",
    "https://www.youtube.com/watch?v=",
];

/// Picks an emoji, returning `(name, unicode, skin tone)`.
pub fn pick_emoji<R: Rng>(rng: &mut R) -> (&'static str, Option<&'static str>, Option<u8>) {
    let (name, unicode, skin) = EMOJI[rng.gen_range(0..EMOJI.len())];
    let tone = (skin && rng.gen_bool(0.35)).then(|| rng.gen_range(2..=6u8));
    (name, unicode, tone)
}

/// The reaction name Slack writes for an emoji: `name` or `name::skin-tone-N`.
pub fn reaction_name(name: &str, tone: Option<u8>) -> String {
    match tone {
        Some(t) => format!("{name}::skin-tone-{t}"),
        None => name.to_string(),
    }
}

/// Escapes `&`, `<` and `>` the way Slack does in message text.
fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
}

/// Appends unstyled text, merging it into a preceding unstyled text element as Slack does.
fn push_merged(out: &mut Vec<RichInline>, text: String) {
    if let Some(RichInline::Text { text: last, style: None }) = out.last_mut() {
        last.push_str(&text);
    } else {
        out.push(RichInline::Text { text, style: None });
    }
}

struct Builder<'a, R> {
    rng: &'a mut R,
    targets: &'a MentionTargets<'a>,
    text: String,
    mentions: Vec<UserIndex>,
    link: Option<String>,
}

impl<R: Rng> Builder<'_, R> {
    fn words(&mut self, min: usize, max: usize) -> String {
        let n = self.rng.gen_range(min..=max);
        let mut s = String::new();
        for i in 0..n {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(WORDS[self.rng.gen_range(0..WORDS.len())]);
        }
        s
    }

    fn plain(&mut self) -> String {
        let roll: f64 = self.rng.gen();
        let mut s = if roll < 0.10 {
            PHRASES[self.rng.gen_range(0..PHRASES.len())].to_string()
        } else {
            self.words(2, 9)
        };
        if self.rng.gen_bool(0.06) {
            s.push(' ');
            s.push_str(RAW_EMOJI[self.rng.gen_range(0..RAW_EMOJI.len())]);
        }
        s
    }

    fn user(&mut self) -> UserIndex {
        let t = self.targets;
        if !t.external.is_empty() && self.rng.gen_bool(0.002) {
            t.external[self.rng.gen_range(0..t.external.len())]
        } else {
            t.usual[self.rng.gen_range(0..t.usual.len())]
        }
    }

    /// Appends one inline element to `self.text` and returns its rich form.
    fn inline(&mut self, out: &mut Vec<RichInline>) {
        let roll = self.rng.gen_range(0..100u32);
        let styled = |text: String, style: RichStyle| RichInline::Text { text, style: Some(style) };
        match roll {
            0..=54 => {
                let s = self.plain();
                push_escaped(&mut self.text, &s);
                out.push(RichInline::Text { text: s, style: None });
            }
            55..=61 => {
                let s = self.words(1, 3);
                self.text.push('*');
                self.text.push_str(&s);
                self.text.push('*');
                let style = RichStyle { bold: true, ..RichStyle::default() };
                out.push(styled(s, style));
            }
            62..=66 => {
                let s = self.words(1, 3);
                self.text.push('_');
                self.text.push_str(&s);
                self.text.push('_');
                let style = RichStyle { italic: true, ..RichStyle::default() };
                out.push(styled(s, style));
            }
            67..=68 => {
                let s = self.words(1, 3);
                self.text.push('~');
                self.text.push_str(&s);
                self.text.push('~');
                let style = RichStyle { strike: true, ..RichStyle::default() };
                out.push(styled(s, style));
            }
            69..=72 => {
                let s = format!("{}.{}()", self.words(1, 1), self.words(1, 1));
                self.text.push('`');
                self.text.push_str(&s);
                self.text.push('`');
                let style = RichStyle { code: true, ..RichStyle::default() };
                out.push(styled(s, style));
            }
            73..=78 => {
                let url = format!(
                    "{}{}",
                    DOMAINS[self.rng.gen_range(0..DOMAINS.len())],
                    self.rng.gen_range(100..99_999u32)
                );
                let label = self.rng.gen_bool(0.5).then(|| self.words(1, 3));
                self.text.push('<');
                self.text.push_str(&url);
                if let Some(l) = &label {
                    self.text.push('|');
                    self.text.push_str(l);
                }
                self.text.push('>');
                self.link = Some(url.clone());
                out.push(RichInline::Link { url, text: label });
            }
            79..=88 => {
                let u = self.user();
                let id = &self.targets.users[u];
                self.text.push_str("<@");
                self.text.push_str(id);
                self.text.push('>');
                self.mentions.push(u);
                out.push(RichInline::User { user_id: id.clone() });
            }
            89..=91 if !self.targets.channels.is_empty() => {
                let (id, name) = &self.targets.channels[self.rng.gen_range(0..self.targets.channels.len())];
                self.text.push_str("<#");
                self.text.push_str(id);
                self.text.push('|');
                self.text.push_str(name);
                self.text.push('>');
                out.push(RichInline::Channel { channel_id: id.clone() });
            }
            92 => {
                let range = ["here", "channel", "everyone"][self.rng.gen_range(0..3)];
                self.text.push_str("<!");
                self.text.push_str(range);
                self.text.push('>');
                out.push(RichInline::Broadcast { range });
            }
            _ => {
                let (name, unicode, skin_tone) = pick_emoji(self.rng);
                self.text.push(':');
                self.text.push_str(name);
                self.text.push(':');
                if let Some(t) = skin_tone {
                    self.text.push_str(&format!(":skin-tone-{t}:"));
                }
                out.push(RichInline::Emoji { name: name.to_string(), unicode, skin_tone });
            }
        }
    }

    fn inlines(&mut self, max: usize) -> Vec<RichInline> {
        let n = self.rng.gen_range(1..=max);
        let mut out = Vec::with_capacity(n * 2);
        let mut one = Vec::with_capacity(1);
        for i in 0..n {
            if i > 0 {
                self.text.push(' ');
                push_merged(&mut out, " ".to_string());
            }
            self.inline(&mut one);
            for el in one.drain(..) {
                match el {
                    RichInline::Text { text, style: None } => push_merged(&mut out, text),
                    other => out.push(other),
                }
            }
        }
        out
    }
}

/// Generates a message body.
pub fn message_markup<R: Rng>(rng: &mut R, targets: &MentionTargets<'_>) -> Markup {
    let multi_line = rng.gen_bool(0.22);
    let mut b = Builder { rng, targets, text: String::with_capacity(160), mentions: Vec::new(), link: None };
    let mut rich = Vec::new();
    let lines = if multi_line { b.rng.gen_range(2..=4) } else { 1 };
    for line in 0..lines {
        if line > 0 {
            b.text.push('\n');
        }
        let kind = if multi_line { b.rng.gen_range(0..100u32) } else { 0 };
        match kind {
            0..=49 => {
                let elements = b.inlines(5);
                rich.push(RichElement::RichTextSection { elements });
            }
            50..=64 => {
                b.text.push_str("&gt; ");
                let elements = b.inlines(3);
                rich.push(RichElement::RichTextQuote { elements });
            }
            65..=84 => {
                let ordered = b.rng.gen_bool(0.3);
                let items = b.rng.gen_range(2..=4);
                let mut sections = Vec::with_capacity(items);
                for i in 0..items {
                    if i > 0 {
                        b.text.push('\n');
                    }
                    if ordered {
                        b.text.push_str(&format!("{}. ", i + 1));
                    } else {
                        b.text.push_str("• ");
                    }
                    let elements = b.inlines(2);
                    sections.push(RichElement::RichTextSection { elements });
                }
                rich.push(RichElement::RichTextList {
                    style: if ordered { "ordered" } else { "bullet" },
                    indent: 0,
                    border: 0,
                    elements: sections,
                });
            }
            _ => {
                let code = CODE[b.rng.gen_range(0..CODE.len())];
                b.text.push_str("```");
                push_escaped(&mut b.text, code);
                b.text.push_str("```");
                rich.push(RichElement::RichTextPreformatted {
                    elements: vec![RichInline::Text { text: code.to_string(), style: None }],
                    border: 0,
                });
            }
        }
    }
    Markup { text: b.text, rich, mentions: b.mentions, link: b.link }
}

/// A few plain words, for titles, topics and file names.
pub fn words<R: Rng>(rng: &mut R, min: usize, max: usize) -> String {
    let n = rng.gen_range(min..=max);
    let mut s = String::new();
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn mentions_are_in_text() {
        let users = vec!["U1".to_string(), "U2".to_string(), "UX".to_string()];
        let channels = vec![("C1".to_string(), "general".to_string())];
        let targets = MentionTargets { users: &users, usual: &[0, 1], external: &[2], channels: &channels };
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..500 {
            let m = message_markup(&mut rng, &targets);
            assert!(!m.rich.is_empty());
            for u in m.mentions {
                assert!(m.text.contains(&format!("<@{}>", users[u])));
            }
        }
    }
}
