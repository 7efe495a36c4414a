//! Runs the third-party vector corpora copied into `fixtures/corpora/` (see their SOURCE.md):
//! `slack-to-html-golden` (MIT) as mrkdwn parser vectors checked against the structure of
//! upstream's HTML, and `zulip-slack-fixtures` (Apache-2.0) as tokenisation vectors and as
//! real messages whose `rich_text` blocks and `text` must parse alike.

mod markup_support;

use std::path::PathBuf;

use chatport_transform::markup::{
    parse_mrkdwn, parse_rich_text, render_chat, render_teams, Block, Document, Inline, NoDirectory,
};
use markup_support::{check_teams_html, Directory, Tok};
use serde_json::Value;

fn corpus(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/corpora").join(path)
}

fn read_json(path: &str) -> Value {
    let file = corpus(path);
    let raw = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

// ---------------------------------------------------------------------------------------
// slack-to-html-golden
// ---------------------------------------------------------------------------------------

fn directory_from_options(options: &Value) -> Directory {
    let map = |key: &str| -> Vec<(String, String)> {
        options
            .get(key)
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
            .unwrap_or_default()
    };
    let mut dir = Directory::default();
    for (id, name) in map("users") {
        dir.users.insert(id, (name, None));
    }
    dir.channels.extend(map("channels"));
    dir.groups.extend(map("usergroups"));
    dir.emoji.extend(map("customEmoji"));
    dir
}

/// Normalised structure shared by upstream's HTML and ours.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Norm {
    Open(String, Vec<(String, String)>),
    Close(String),
    Text(String),
    Br,
}

/// Upstream's HTML mapped onto our tags: `slack_bold` → b, `slack_italics` → i,
/// `slack_strikethrough` → s, `div.slack_code` → pre, `slack_block` → blockquote; the
/// mention/emoji wrapper spans and `span.slack_code` disappear; only href/src survive.
fn normalize_upstream(html: &str) -> Vec<Norm> {
    let mut out = Vec::new();
    let mut stack: Vec<Option<String>> = Vec::new();
    let mut rest = html;
    let mut text = String::new();
    while !rest.is_empty() {
        let is_tag =
            rest.starts_with('<') && rest[1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '/');
        if is_tag {
            let end = rest.find('>').expect("upstream tags are terminated");
            let inner = rest[1..end].trim_end_matches('/').trim();
            rest = &rest[end + 1..];
            push_text(&mut out, &mut text);
            if let Some(name) = inner.strip_prefix('/') {
                if let Some(Some(mapped)) = stack.pop() {
                    out.push(Norm::Close(mapped));
                }
                let _ = name;
                continue;
            }
            let name = inner.split(' ').next().unwrap_or_default();
            let attr = |k: &str| -> Option<String> {
                let pat = format!("{k}=\"");
                inner.find(&pat).map(|i| {
                    let v = &inner[i + pat.len()..];
                    html_escape::decode_html_entities(&v[..v.find('"').unwrap_or(v.len())]).into_owned()
                })
            };
            let class = attr("class").unwrap_or_default();
            let mapped = match (name, class.as_str()) {
                ("span", "slack_bold") => Some("b".to_string()),
                ("span", "slack_italics") => Some("i".to_string()),
                ("span", "slack_strikethrough") => Some("s".to_string()),
                ("div", "slack_code") => Some("pre".to_string()),
                ("div" | "span", "slack_block") => Some("blockquote".to_string()),
                ("code", _) => Some("code".to_string()),
                ("a", _) => {
                    out.push(Norm::Open("a".into(), vec![("href".into(), attr("href").unwrap_or_default())]));
                    stack.push(Some("a".into()));
                    continue;
                }
                ("img", _) => {
                    out.push(Norm::Open("img".into(), vec![("src".into(), attr("src").unwrap_or_default())]));
                    continue;
                }
                ("br", _) => {
                    out.push(Norm::Br);
                    continue;
                }
                _ => None,
            };
            if let Some(m) = &mapped {
                out.push(Norm::Open(m.clone(), Vec::new()));
            }
            stack.push(mapped);
        } else {
            let c = rest.chars().next().expect("non-empty");
            text.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    push_text(&mut out, &mut text);
    tidy(out)
}

fn push_text(out: &mut Vec<Norm>, text: &mut String) {
    if text.is_empty() {
        return;
    }
    let decoded = html_escape::decode_html_entities(text).into_owned();
    text.clear();
    for (i, part) in decoded.split('\n').enumerate() {
        if i > 0 {
            out.push(Norm::Br);
        }
        if !part.is_empty() {
            out.push(Norm::Text(part.to_string()));
        }
    }
}

/// Our HTML in the same shape: `<p>` wrappers dropped, `img` keeps only `src`.
fn normalize_ours(html: &str) -> Vec<Norm> {
    let toks = check_teams_html(html).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    for tok in toks {
        match tok {
            Tok::Open(name, _) if name == "p" => {}
            Tok::Close(name) if name == "p" => {}
            Tok::Open(name, _) if name == "br" => out.push(Norm::Br),
            Tok::Open(name, attrs) if name == "img" => {
                out.push(Norm::Open(name, attrs.into_iter().filter(|(k, _)| k == "src").collect()))
            }
            Tok::Open(name, attrs) => out.push(Norm::Open(name, attrs)),
            Tok::Close(name) => out.push(Norm::Close(name)),
            Tok::Text(t) => {
                // Newlines only occur inside <pre>; upstream writes them as <br>.
                for (i, part) in t.split('\n').enumerate() {
                    if i > 0 {
                        out.push(Norm::Br);
                    }
                    if !part.is_empty() {
                        out.push(Norm::Text(part.to_string()));
                    }
                }
            }
        }
    }
    tidy(out)
}

/// Block boundaries differ in whitespace only: drop line breaks and edge blanks next to
/// block tags, merge text.
fn tidy(toks: Vec<Norm>) -> Vec<Norm> {
    let is_block =
        |t: &Norm| matches!(t, Norm::Open(n, _) | Norm::Close(n) if n == "pre" || n == "blockquote");
    let mut merged: Vec<Norm> = Vec::new();
    for t in toks {
        match (t, merged.last_mut()) {
            (Norm::Text(t), Some(Norm::Text(prev))) => prev.push_str(&t),
            (t, _) => merged.push(t),
        }
    }
    let n = merged.len();
    let mut out = Vec::new();
    for i in 0..n {
        let before_block = i + 1 < n && is_block(&merged[i + 1]);
        let after_block = i > 0 && is_block(&merged[i - 1]);
        match &merged[i] {
            Norm::Br if before_block || after_block => {}
            Norm::Text(t) => {
                let mut t = t.as_str();
                if before_block {
                    t = t.trim_end();
                }
                if after_block {
                    t = t.trim_start();
                }
                if !t.is_empty() {
                    out.push(Norm::Text(t.to_string()));
                }
            }
            other => out.push(other.clone()),
        }
    }
    out
}

/// Cases where our HTML deliberately differs from upstream's: input, whether the vector has
/// a user/channel/group directory (`None`: either), the reason, and the exact Teams HTML we
/// produce instead. The 12 upstream known-wrong/unsafe cases come first.
const DEVIATIONS: &[(&str, Option<bool>, &str, &str)] = &[
    // --- upstream's 12 known-wrong or unsafe outputs (SOURCE.md "Caution") ---
    ("a & b", None, "known-wrong upstream: a bare & must be encoded", "<p>a &amp; b</p>"),
    (
        "<http://example.com/a/b?c=d&e=f>",
        None,
        "known-wrong upstream: & in href must be encoded",
        "<p><a href=\"http://example.com/a/b?c=d&amp;e=f\">http://example.com/a/b?c=d&amp;e=f</a></p>",
    ),
    ("<!foo|bar>", None, "known-wrong upstream: unknown command shows its label, escaped", "<p>bar</p>"),
    (
        "<!foo>",
        None,
        "known-wrong upstream: unknown command stays visible as escaped text",
        "<p>&lt;!foo&gt;</p>",
    ),
    (
        "https://ex.com/a#:~:text=hello%20world",
        None,
        "known bug upstream (issue 1): colons in a URL are not emoji",
        "<p>https://ex.com/a#:~:text=hello%20world</p>",
    ),
    (
        "hello :notanemoji: world",
        None,
        "known bug upstream (issue 4): an unknown shortcode keeps its colons (and is reported)",
        "<p>hello :notanemoji: world</p>",
    ),
    (
        ":customEmoji:",
        None,
        "known bug upstream (issue 4): not a shortcode (Slack names are lower-case): text",
        "<p>:customEmoji:</p>",
    ),
    (
        "<script>alert(1)</script>",
        None,
        "unsafe upstream: raw HTML is text",
        "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>",
    ),
    (
        "<img src=x onerror=alert(1)>",
        None,
        "unsafe upstream: raw HTML is text",
        "<p>&lt;img src=x onerror=alert(1)&gt;</p>",
    ),
    (
        ":evil:",
        None,
        "unsafe upstream: the custom emoji URL is percent-encoded inside the attribute",
        "<p><img src=\"http://e/x.png%22%20onerror=%22alert(1)\" alt=\":evil:\"></p>",
    ),
    (
        "<@U1|\"><b>label</b>>",
        None,
        "unsafe upstream: the mention label is text, the rest of the input too",
        "<p>@\"&lt;b&gt;label&lt;/b&gt;&gt;</p>",
    ),
    (
        "<javascript:alert(1)|click me>",
        None,
        "unsafe upstream: javascript: never becomes a link",
        "<p>click me</p>",
    ),
    // --- deliberate differences ---
    (
        "<@U123>",
        Some(false),
        "an unresolved mention shows its id as @text (and is reported), not raw syntax",
        "<p>@U123</p>",
    ),
    ("<#C123>", Some(false), "an unresolved channel shows its id as #text (and is reported)", "<p>#C123</p>"),
    ("<!subteam^S123|swiftype-eng>", None, "user groups keep an @ prefix", "<p>@swiftype-eng</p>"),
    ("<!subteam^S123>", Some(false), "user groups keep an @ prefix; unresolved shows the id", "<p>@S123</p>"),
    ("<!subteam^S123>", Some(true), "user groups keep an @ prefix", "<p>@swiftype-eng</p>"),
    ("<!group>", None, "legacy @group is Slack's old name of @channel", "<p>@channel</p>"),
    (
        "*_bold italic_*",
        None,
        "nested spans nest (upstream leaves the inner markers as text)",
        "<p><b><i>bold italic</i></b></p>",
    ),
    (
        "unmatched ```block",
        None,
        "an unmatched fence is text (upstream makes a code span of one backtick)",
        "<p>unmatched ```block</p>",
    ),
];

#[test]
fn slack_to_html_golden_vectors() {
    let cases = read_json("slack-to-html-golden/test/fixtures/golden.json");
    let cases = cases.as_array().expect("golden.json is an array");
    assert_eq!(cases.len(), 81);
    let mut agree = 0;
    let mut deviate = 0;
    let mut failures = Vec::new();
    for case in cases {
        let input = case["input"].as_str().unwrap_or_default();
        let options = &case["options"];
        let dir = directory_from_options(options);
        let doc = parse_mrkdwn(input);
        let ours = render_teams(&doc, &dir);
        // Every output is in our safe dialect, whatever the case.
        let ours_norm = normalize_ours(&ours.text);
        // Chat rendering of the same document must not panic and keeps mentions out of markup.
        let _ = render_chat(&doc, &dir);
        let has_directory = ["users", "channels", "usergroups"].iter().any(|k| options.get(k).is_some());
        let deviation =
            DEVIATIONS.iter().find(|(i, dir, _, _)| *i == input && dir.is_none_or(|d| d == has_directory));
        if let Some((_, _, reason, expected)) = deviation {
            deviate += 1;
            if ours.text != *expected {
                failures.push(format!(
                    "{input:?} ({reason}):\n  ours     {:?}\n  expected {expected:?}",
                    ours.text
                ));
            }
            continue;
        }
        let upstream = normalize_upstream(case["output"].as_str().unwrap_or_default());
        if upstream == ours_norm {
            agree += 1;
        } else {
            failures.push(format!(
                "{input:?} [{}]:\n  upstream {upstream:?}\n  ours     {ours_norm:?}\n  html     {:?}",
                case["group"], ours.text
            ));
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
    // Each documented deviation is used by exactly one vector.
    assert_eq!(deviate, DEVIATIONS.len());
    assert_eq!(agree + deviate, 81);
    eprintln!("slack-to-html-golden: {agree} agree structurally, {deviate} documented deviations");
}

#[test]
fn slack_to_html_stress_inputs_parse_quickly() {
    for name in ["long_negative_input.txt", "long_positive_input.txt", "long_repetitive_block_quotes.txt"] {
        let file = corpus(&format!("slack-to-html-golden/test/fixtures/{name}"));
        let input = std::fs::read_to_string(&file).expect("stress input is readable");
        let start = std::time::Instant::now();
        let doc = parse_mrkdwn(&input);
        let teams = render_teams(&doc, &NoDirectory);
        let _ = render_chat(&doc, &NoDirectory);
        check_teams_html(&teams.text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let elapsed = start.elapsed();
        assert!(elapsed.as_secs_f64() < 2.0, "{name} took {elapsed:?}");
    }
}

#[test]
fn slack_to_html_unsafe_vectors_are_reported() {
    let codes = |input: &str| -> Vec<&'static str> {
        render_teams(&parse_mrkdwn(input), &NoDirectory).notes.iter().map(|n| n.code()).collect()
    };
    assert_eq!(codes("<javascript:alert(1)|click me>"), ["link_as_text"]);
    assert_eq!(codes("hello :notanemoji: world"), ["unknown_emoji"]);
    assert_eq!(codes("<@U1|\"><b>label</b>>"), ["mention_as_text"]);
    assert!(codes("<script>alert(1)</script>").is_empty());
    // Chat: the same inputs never produce a Chat link or mention either.
    let chat = render_chat(&parse_mrkdwn("<javascript:alert(1)|click me> <@U1|x>"), &NoDirectory);
    assert_eq!(chat.text, "click me @x");
}

// ---------------------------------------------------------------------------------------
// zulip-slack-fixtures: slack_message_conversion.json
// ---------------------------------------------------------------------------------------

/// Prints our AST in Zulip's target syntax (`**b**`, `*i*`, `~~s~~`, `[label](url)`, bare
/// URLs, `mailto:` addresses as Zulip writes them, `>` quote lines) so the vectors compare
/// what counts as a delimiter, not output formats.
fn zulip_markdown(doc: &Document) -> String {
    fn inlines(list: &[Inline], out: &mut String) {
        for inline in list {
            match inline {
                Inline::Text(t) | Inline::Code(t) => out.push_str(t),
                Inline::Bold(c) => wrap("**", c, out),
                Inline::Italic(c) => wrap("*", c, out),
                Inline::Strike(c) => wrap("~~", c, out),
                Inline::Underline(c) => inlines(c, out),
                Inline::Link { url, label } if label.is_empty() || url.starts_with("mailto:") => {
                    out.push_str(url)
                }
                Inline::Link { url, label } => {
                    out.push('[');
                    inlines(label, out);
                    out.push_str("](");
                    out.push_str(url);
                    out.push(')');
                }
                Inline::LineBreak => out.push('\n'),
                other => panic!("unexpected inline in conversion vectors: {other:?}"),
            }
        }
    }
    fn wrap(marker: &str, c: &[Inline], out: &mut String) {
        out.push_str(marker);
        inlines(c, out);
        out.push_str(marker);
    }
    let mut parts = Vec::new();
    for block in &doc.blocks {
        let mut s = String::new();
        match block {
            Block::Paragraph(p) => inlines(p, &mut s),
            Block::Quote(inner) => {
                let body = zulip_markdown(&Document { blocks: inner.clone() });
                s = body.lines().map(|l| format!(">{l}")).collect::<Vec<_>>().join("\n");
            }
            other => panic!("unexpected block in conversion vectors: {other:?}"),
        }
        parts.push(s);
    }
    parts.join("\n")
}

/// Zulip vectors whose expectation we deliberately do not follow: (name, reason, our output
/// in Zulip syntax).
const ZULIP_DEVIATIONS: &[(&str, &str, &str)] = &[
    (
        "valid_strikethrough_test",
        "a closing marker after whitespace does not close (Slack: `~Also ~` is literal)",
        "(~~str ike!~~, text. ~Also ~)",
    ),
    (
        "valid_bold_test",
        "an opening marker before whitespace does not open (Slack: `:* bold*` is literal)",
        "(**text**} and normal :* bold*.",
    ),
];

#[test]
fn zulip_conversion_vectors() {
    let data = read_json("zulip-slack-fixtures/zerver/tests/fixtures/slack_message_conversion.json");
    let cases = data["regular_tests"].as_array().expect("regular_tests");
    assert_eq!(cases.len(), 19);
    let mut failures = Vec::new();
    let (mut agree, mut deviate) = (0, 0);
    for case in cases {
        let name = case["name"].as_str().unwrap_or_default();
        let input = case["input"].as_str().unwrap_or_default();
        // Leading/trailing blank lines of a message are trimmed by our parser.
        let expected = case["conversion_output"].as_str().unwrap_or_default().trim_matches('\n');
        let ours = zulip_markdown(&parse_mrkdwn(input));
        let (expected, label) = match ZULIP_DEVIATIONS.iter().find(|(n, _, _)| *n == name) {
            Some((_, reason, ours_expected)) => {
                deviate += 1;
                (*ours_expected, *reason)
            }
            None => {
                agree += 1;
                (expected, "zulip")
            }
        };
        if ours != expected {
            failures.push(format!("{name} ({label}):\n  ours     {ours:?}\n  expected {expected:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(deviate, ZULIP_DEVIATIONS.len());
    eprintln!("zulip conversion vectors: {agree} agree, {deviate} documented deviations");
}

// ---------------------------------------------------------------------------------------
// zulip-slack-fixtures: real messages with rich_text blocks and Slack's own `text`
// ---------------------------------------------------------------------------------------

const B: u8 = 1;
const I: u8 = 2;
const S: u8 = 4;
const C: u8 = 8;
const L: u8 = 16;

/// Flattens a document to `(char-or-atom, style bits)` with whitespace unstyled and
/// collapsed, underline ignored (mrkdwn cannot say it), block breaks as spaces: the content
/// and inline styling both sources must agree on.
fn styled_runs(doc: &Document) -> Vec<(String, u8)> {
    fn inlines(list: &[Inline], style: u8, out: &mut Vec<(String, u8)>) {
        for inline in list {
            match inline {
                Inline::Text(t) => t.chars().for_each(|c| out.push((c.to_string(), style))),
                Inline::Code(t) => t.chars().for_each(|c| out.push((c.to_string(), style | C))),
                Inline::Bold(c) => inlines(c, style | B, out),
                Inline::Italic(c) => inlines(c, style | I, out),
                Inline::Strike(c) => inlines(c, style | S, out),
                Inline::Underline(c) => inlines(c, style, out),
                Inline::Link { url, label } => {
                    out.push((format!("[link {url}]"), style));
                    inlines(label, style | L, out);
                }
                Inline::UserMention { user_id, .. } => out.push((format!("[@{user_id}]"), style)),
                Inline::ChannelMention { channel_id, .. } => out.push((format!("[#{channel_id}]"), style)),
                Inline::Broadcast(k) => out.push((format!("[!{}]", k.as_str()), style)),
                Inline::UserGroup { id, .. } => out.push((format!("[^{id}]"), style)),
                Inline::Date { ts, .. } => out.push((format!("[date {ts}]"), style)),
                Inline::Emoji { name, .. } => out.push((format!("[:{name}:]"), style)),
                Inline::LineBreak => out.push((" ".into(), 0)),
            }
        }
    }
    fn blocks(list: &[Block], out: &mut Vec<(String, u8)>) {
        for block in list {
            out.push((" ".into(), 0));
            match block {
                Block::Paragraph(p) | Block::Heading { content: p, .. } => inlines(p, 0, out),
                Block::CodeBlock { text } => text.chars().for_each(|c| out.push((c.to_string(), C))),
                Block::Quote(inner) => blocks(inner, out),
                Block::List { items, .. } => items.iter().for_each(|item| blocks(item, out)),
                Block::Table { rows } => rows.iter().flatten().for_each(|cell| blocks(cell, out)),
                Block::Rule | Block::Unsupported { .. } => {}
            }
        }
    }
    let mut raw = Vec::new();
    blocks(&doc.blocks, &mut raw);
    let mut out: Vec<(String, u8)> = Vec::new();
    for (s, style) in raw {
        let ws = s.chars().all(char::is_whitespace);
        if ws {
            if out.last().is_none_or_space() {
                continue;
            }
            out.push((" ".into(), 0));
        } else {
            out.push((s, style));
        }
    }
    while out.last().is_some_and(|(s, _)| s == " ") {
        out.pop();
    }
    out
}

trait LastIsSpace {
    fn is_none_or_space(&self) -> bool;
}

impl LastIsSpace for Option<&(String, u8)> {
    fn is_none_or_space(&self) -> bool {
        self.is_none_or(|(s, _)| s == " ")
    }
}

/// The block skeleton: P paragraph, C code, Q[..] quote, O/U[..] lists with items.
fn skeleton(blocks: &[Block]) -> String {
    blocks
        .iter()
        .map(|b| match b {
            Block::Paragraph(_) => "P".to_string(),
            Block::CodeBlock { .. } => "C".to_string(),
            Block::Quote(inner) => format!("Q[{}]", skeleton(inner)),
            Block::List { ordered, items, .. } => format!(
                "{}[{}]",
                if *ordered { "O" } else { "U" },
                items.iter().map(|i| format!("({})", skeleton(i))).collect::<Vec<_>>().join("")
            ),
            Block::Heading { .. } => "H".to_string(),
            Block::Rule => "R".to_string(),
            Block::Table { .. } => "T".to_string(),
            Block::Unsupported { kind } => format!("X:{kind}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn exported_message(name: &str) -> Value {
    read_json(&format!(
        "zulip-slack-fixtures/zerver/tests/fixtures/slack_fixtures/exported_messages_fixtures/message_with_{name}.json"
    ))
}

/// Messages whose `text` carries the same content and styling as their `rich_text` blocks,
/// with the block skeleton expected from both parses (`None`: the skeletons differ because
/// Slack joins separate rich_text blocks into one line of `text`).
const AGREEING_MESSAGES: &[(&str, Option<&str>)] = &[
    ("basic_formatting", None),
    ("bullet_list", Some("P U[(P)(P)(P)(P)(P)]")),
    ("nested_ordered_list", Some("P O[(P U[(P)(P)(P)])(P O[(P)])]")),
    ("nested_unordered_list", Some("P U[(P O[(P)(P)(P)])(P O[(P)])]")),
    ("code_block", Some("C")),
    ("inline_code", Some("P")),
    ("quote_block", Some("Q[P]")),
    ("links", Some("P")),
    ("emojis", Some("P")),
    ("user_mentions", Some("P")),
    ("channel_mentions", Some("P")),
    ("workspace_mentions", Some("P")),
];

#[test]
fn zulip_rich_text_and_text_agree() {
    for (name, shape) in AGREEING_MESSAGES {
        let msg = exported_message(name);
        let from_blocks = parse_rich_text(&msg["blocks"]).unwrap_or_else(|| panic!("{name}: no rich_text"));
        let from_text = parse_mrkdwn(msg["text"].as_str().unwrap_or_default());
        assert_eq!(styled_runs(&from_blocks), styled_runs(&from_text), "{name}: content/styling differ");
        if let Some(shape) = shape {
            assert_eq!(skeleton(&from_blocks.blocks), *shape, "{name}: blocks skeleton");
            assert_eq!(skeleton(&from_text.blocks), *shape, "{name}: text skeleton");
        }
        for doc in [&from_blocks, &from_text] {
            check_teams_html(&render_teams(doc, &NoDirectory).text).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

#[test]
fn zulip_varying_block_types() {
    // Deviation by design: Slack's `text` for this message omits the table and carries a
    // phrase ("with interactive elements") from a block not in the export, so only the parts
    // both hold are compared.
    let msg = exported_message("varying_block_types");
    let doc = parse_rich_text(&msg["blocks"]).expect("has rich_text");
    assert_eq!(skeleton(&doc.blocks), "P P R P H T");
    let Some(Block::Table { rows }) = doc.blocks.last() else { panic!("table last") };
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.len() == 2));
    let text_doc = parse_mrkdwn(msg["text"].as_str().unwrap_or_default());
    let blocks_runs = styled_runs(&Document { blocks: doc.blocks[..4].to_vec() });
    let text_runs = styled_runs(&text_doc);
    assert_eq!(&text_runs[..blocks_runs.len()], &blocks_runs[..]);
    let teams = render_teams(&doc, &NoDirectory);
    check_teams_html(&teams.text).expect("safe html");
    assert!(teams.text.contains("<table><tr><td><b>Header 1</b></td>"));
}

#[test]
fn zulip_messages_without_rich_text_fall_back() {
    assert_eq!(
        parse_rich_text(&serde_json::json!([{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}])),
        None
    );
    assert_eq!(parse_rich_text(&serde_json::json!(null)), None);
    assert_eq!(parse_rich_text(&serde_json::json!({"blocks": "nope"})), None);
}
