//! Property tests: no input makes a parser or renderer panic, Teams HTML is always in our
//! safe dialect (balanced, only our tags and attributes, no raw user markup), and text from
//! the source can never become markup in either destination.

mod markup_support;

use chatport_transform::markup::{
    parse_markdown, parse_mrkdwn, parse_rich_text, render_chat, render_chat_parts, render_teams,
    render_teams_parts, Block, Document, Inline, NoDirectory,
};
use markup_support::{check_teams_html, Directory, Tok};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Strings built from the pieces that matter to the parsers, so the interesting paths are hit.
fn markupish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("*"),
        Just("_"),
        Just("~"),
        Just("`"),
        Just("```"),
        Just("<"),
        Just(">"),
        Just("|"),
        Just("&gt;"),
        Just("&lt;"),
        Just("&amp;"),
        Just("&"),
        Just("&gt;&gt;&gt;"),
        Just(">>>"),
        Just("<@U1>"),
        Just("<@U1|a\"b>"),
        Just("<#C1|x>"),
        Just("<!here>"),
        Just("<!subteam^S1|@g>"),
        Just("<!date^1^{date}^javascript:x|d>"),
        Just("<javascript:alert(1)|x>"),
        Just("<https://e.x/?a=1&b=\"2\">"),
        Just("<users/all>"),
        Just(":"),
        Just("wave"),
        Just(":+1::skin-tone-3:"),
        Just("\n"),
        Just(" "),
        Just("\t"),
        Just("    "),
        Just("• "),
        Just("◦ "),
        Just("- "),
        Just("1. "),
        Just("a. "),
        Just("\""),
        Just("'"),
        Just("a"),
        Just("Z9"),
        Just("日本"),
        Just("🎉"),
        Just("\u{200D}"),
        Just("<script>"),
        Just("</b>"),
        Just("<img src=x onerror=y>"),
        Just("**"),
        Just("[l](javascript:x)"),
        Just("# "),
        Just("\r"),
        Just("\0"),
    ];
    prop::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![markupish(), any::<String>()]
}

fn directory() -> Directory {
    let mut dir = Directory::default();
    dir.users.insert("U1".into(), ("A \"<b>\" & B".into(), Some("users/1".into())));
    dir.emoji.insert("wave2".into(), "javascript:alert(1)".into());
    dir.emoji.insert("ok2".into(), "https://e.x/a\"b.png".into());
    dir
}

fn check_both(doc: &Document) -> Result<(), TestCaseError> {
    for r in [&NoDirectory as &dyn chatport_transform::markup::MentionResolver, &directory()] {
        let teams = render_teams(doc, r);
        if let Err(e) = check_teams_html(&teams.text) {
            return Err(TestCaseError::fail(e));
        }
        let _ = render_chat(doc, r);
    }
    // Outside code (which Chat shows verbatim), text never turns into a Chat mention.
    let chat = render_chat(&without_code(doc), &NoDirectory);
    prop_assert!(!chat.text.contains("<users/"), "text became a Chat mention: {:?}", chat.text);
    Ok(())
}

fn without_code(doc: &Document) -> Document {
    fn blocks(list: &[Block]) -> Vec<Block> {
        list.iter()
            .filter_map(|b| match b {
                Block::CodeBlock { .. } => None,
                Block::Paragraph(p) => Some(Block::Paragraph(inlines(p))),
                Block::Heading { level, content } => {
                    Some(Block::Heading { level: *level, content: inlines(content) })
                }
                Block::Quote(q) => Some(Block::Quote(blocks(q))),
                Block::List { ordered, start, items } => Some(Block::List {
                    ordered: *ordered,
                    start: *start,
                    items: items.iter().map(|i| blocks(i)).collect(),
                }),
                Block::Table { rows } => Some(Block::Table {
                    rows: rows.iter().map(|r| r.iter().map(|c| blocks(c)).collect()).collect(),
                }),
                other => Some(other.clone()),
            })
            .collect()
    }
    fn inlines(list: &[Inline]) -> Vec<Inline> {
        list.iter()
            .filter_map(|i| match i {
                Inline::Code(_) => None,
                Inline::Bold(c) => Some(Inline::Bold(inlines(c))),
                Inline::Italic(c) => Some(Inline::Italic(inlines(c))),
                Inline::Strike(c) => Some(Inline::Strike(inlines(c))),
                Inline::Underline(c) => Some(Inline::Underline(inlines(c))),
                Inline::Link { url, label } => Some(Inline::Link { url: url.clone(), label: inlines(label) }),
                other => Some(other.clone()),
            })
            .collect()
    }
    Document { blocks: blocks(&doc.blocks) }
}

/// Random JSON shaped like Block Kit, including wrong types and unknown kinds.
fn blockish() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("type"),
        Just("elements"),
        Just("text"),
        Just("style"),
        Just("url"),
        Just("name"),
        Just("unicode"),
        Just("skin_tone"),
        Just("indent"),
        Just("offset"),
        Just("user_id"),
        Just("channel_id"),
        Just("range"),
        Just("timestamp"),
        Just("fallback"),
        Just("bold"),
        Just("italic"),
        Just("code"),
        Just("rows"),
        Just("image_url"),
        Just("value"),
    ];
    let leaf = prop_oneof![
        Just(json!("rich_text")),
        Just(json!("rich_text_section")),
        Just(json!("rich_text_list")),
        Just(json!("rich_text_quote")),
        Just(json!("rich_text_preformatted")),
        Just(json!("text")),
        Just(json!("link")),
        Just(json!("emoji")),
        Just(json!("user")),
        Just(json!("date")),
        Just(json!("table")),
        Just(json!("section")),
        Just(json!("ordered")),
        Just(json!("javascript:x")),
        Just(json!(true)),
        Just(json!(7)),
        Just(json!(-1)),
        Just(json!(u64::MAX)),
        Just(json!(null)),
        Just(json!("1f44d-1f3fd")),
        Just(json!("d800")),
        markupish().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 200, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| { Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()) }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mrkdwn_never_panics_and_html_is_safe(s in any_text()) {
        check_both(&parse_mrkdwn(&s))?;
    }

    #[test]
    fn markdown_never_panics_and_html_is_safe(s in any_text()) {
        check_both(&parse_markdown(&s))?;
    }

    #[test]
    fn rich_text_never_panics_and_html_is_safe(elements in blockish(), extra in blockish()) {
        let blocks = json!([{"type": "rich_text", "elements": elements}, extra]);
        if let Some(doc) = parse_rich_text(&blocks) {
            check_both(&doc)?;
        }
        let _ = parse_rich_text(&extra);
    }

    /// Whatever the text in every leaf, the tag structure is the one the AST dictates and
    /// the text comes back verbatim.
    #[test]
    fn source_text_never_becomes_teams_markup(s in any_text()) {
        let doc = Document { blocks: vec![
            Block::Paragraph(vec![
                Inline::Text(s.clone()),
                Inline::Bold(vec![Inline::Code(s.clone())]),
                Inline::Link { url: format!("https://e.x/{s}"), label: vec![Inline::Text(s.clone())] },
                Inline::Link { url: s.clone(), label: vec![Inline::Text("x".into())] },
                Inline::UserMention { user_id: s.clone(), fallback: Some(s.clone()) },
                Inline::Emoji { name: s.clone(), unicode: None },
                Inline::Date { ts: 0, format: s.clone(), link: Some(s.clone()), fallback: s.clone() },
            ]),
            Block::CodeBlock { text: s.clone() },
        ]};
        let html = render_teams(&doc, &NoDirectory).text;
        let toks = check_teams_html(&html).map_err(TestCaseError::fail)?;
        let tags: Vec<String> = toks.iter().filter_map(|t| match t {
            Tok::Open(n, _) => Some(n.clone()),
            Tok::Close(n) => Some(format!("/{n}")),
            Tok::Text(_) => None,
        }).collect();
        // Links exist only where the URL is safe; nothing else depends on `s`.
        let link = |url: &str| -> Vec<&str> {
            if chatport_transform::markup::safe_link(url).is_some() { vec!["a", "/a"] } else { vec![] }
        };
        let mut expected: Vec<&str> = vec!["p", "b", "code", "/code", "/b"];
        expected.extend(link(&format!("https://e.x/{s}")));
        expected.extend(link(&s));
        expected.extend(link(&s));
        expected.extend(["/p", "pre", "code", "/code", "/pre"]);
        prop_assert_eq!(tags, expected, "{}", html);
        let text: String = toks.iter().filter_map(|t| match t { Tok::Text(x) => Some(x.as_str()), _ => None }).collect();
        prop_assert!(text.contains(&s), "text lost: {:?} not in {:?}", s, text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Names, labels and fallbacks from the source never become a Chat mention.
    #[test]
    fn source_text_never_becomes_a_chat_mention(a in markupish(), b in markupish()) {
        let hostile = format!("{a}<users/all>{b}");
        let doc = Document { blocks: vec![Block::Paragraph(vec![
            Inline::Text(hostile.clone()),
            Inline::Bold(vec![Inline::Text(hostile.clone())]),
            Inline::Link { url: format!("https://e.x/{a}"), label: vec![Inline::Text(hostile.clone())] },
            Inline::Link { url: hostile.clone(), label: vec![] },
            Inline::UserMention { user_id: hostile.clone(), fallback: Some(hostile.clone()) },
            Inline::ChannelMention { channel_id: hostile.clone(), name: Some(hostile.clone()) },
            Inline::UserGroup { id: hostile.clone(), handle: Some(hostile.clone()) },
            Inline::Emoji { name: hostile.clone(), unicode: None },
            Inline::Date { ts: 0, format: String::new(), link: Some(format!("https://e.x/{b}")), fallback: hostile.clone() },
        ])]};
        let chat = render_chat(&doc, &NoDirectory).text;
        prop_assert!(!chat.contains("<users/"), "{:?}", chat);
    }
}

/// Pathological nesting must neither overflow the stack nor take long.
#[test]
fn deep_nesting_is_bounded() {
    let inputs = [
        "> ".repeat(20_000) + "x",
        "- ".repeat(20_000) + "x",
        "1. ".repeat(20_000) + "x",
        "*".repeat(50_000),
        "*_~".repeat(20_000) + "x" + &"~_*".repeat(20_000),
        "[".repeat(20_000) + "x" + &"](https://e.x)".repeat(20_000),
        "**".repeat(20_000) + "x" + &"**".repeat(20_000),
        "&gt;".repeat(20_000),
        "```".repeat(20_000),
        "`".repeat(50_001),
        "<".repeat(50_000) + ">",
        "\n".repeat(50_000) + "x" + &"\n".repeat(50_000),
        " \n".repeat(50_000),
        ":a".repeat(50_000),
        format!("{}x", "    ".repeat(5_000)),
        (0..5_000).map(|i| format!("{}• item\n", " ".repeat(i % 200))).collect::<String>(),
    ];
    for input in &inputs {
        let start = std::time::Instant::now();
        for doc in [parse_mrkdwn(input), parse_markdown(input)] {
            check_teams_html(&render_teams(&doc, &NoDirectory).text).unwrap_or_else(|e| panic!("{e}"));
            let _ = render_chat(&doc, &NoDirectory);
        }
        assert!(start.elapsed().as_secs() < 5, "slow on {:?}…", &input[..20.min(input.len())]);
    }
    // Deeply nested rich_text lists.
    let elements: Vec<Value> = (0..2_000)
        .map(|i| json!({"type": "rich_text_list", "style": "bullet", "indent": i,
                        "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": "x"}]}]}))
        .collect();
    let doc = parse_rich_text(&json!([{"type": "rich_text", "elements": elements}])).expect("rich_text");
    check_teams_html(&render_teams(&doc, &NoDirectory).text).expect("safe");
}

/// The text of a document as Teams shows it, without whitespace (splitting may move blanks).
fn visible_text(html: &str) -> String {
    check_teams_html(html)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| match t {
            Tok::Text(x) => Some(x),
            _ => None,
        })
        .collect::<String>()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Parts fit the budget, are each safe HTML, and together keep every visible character.
    #[test]
    fn split_parts_fit_and_keep_the_text(s in prop::collection::vec(markupish(), 1..8).prop_map(|v| v.join("\n")),
                                        max in 300usize..2_000) {
        let doc = parse_mrkdwn(&s);
        let whole = render_teams(&doc, &NoDirectory);
        let parts = render_teams_parts(&doc, &NoDirectory, max);
        prop_assert!(!parts.is_empty());
        let mut joined = String::new();
        for p in &parts {
            prop_assert!(p.text.len() <= max, "part of {} > {}: {:?}", p.text.len(), max, p.text);
            check_teams_html(&p.text).map_err(TestCaseError::fail)?;
            joined.push_str(&visible_text(&p.text));
        }
        prop_assert_eq!(joined, visible_text(&whole.text));
        let notes: usize = parts.iter().map(|p| p.notes.len()).sum();
        prop_assert_eq!(notes, whole.notes.len());
        for p in render_chat_parts(&doc, &NoDirectory, max) {
            prop_assert!(p.text.len() <= max, "chat part of {} > {}", p.text.len(), max);
        }
    }
}

/// A case the property test found: an inline code span whose escaping (`"` → `&quot;`,
/// `<` → `&lt;`) made one 256-byte piece render over the budget.
#[test]
fn split_code_spans_that_grow_when_escaped() {
    let s = "`<@U1|a\"b> :+1::skin-tone-3:<script>wave:+1::skin-tone-3:<https://e.x/?a=1&b=\"2\"><!subteam^S1|@g>Z91. \
             <!subteam^S1|@g> wave\0&gt;<@U1|a\"b>wave [l](javascript:x) &gt;&gt;&gt;<img src=x onerror=y>* \
             <<!date^1^{date}^javascript:x|d>    < <script><*`";
    let doc = parse_mrkdwn(s);
    let whole = render_teams(&doc, &NoDirectory);
    let parts = render_teams_parts(&doc, &NoDirectory, 300);
    assert!(parts.len() > 1);
    let mut joined = String::new();
    for p in &parts {
        assert!(p.text.len() <= 300, "part of {}: {:?}", p.text.len(), p.text);
        check_teams_html(&p.text).expect("safe");
        joined.push_str(&visible_text(&p.text));
    }
    assert_eq!(joined, visible_text(&whole.text));
}

#[test]
fn split_big_messages_of_every_kind() {
    let big = [
        "word ".repeat(20_000),
        "*bold words* _and italic_ ".repeat(3_000),
        format!("```{}```", "let x = 1;\n".repeat(5_000)),
        "• item with some text\n".repeat(3_000),
        "&gt; quoted line\n".repeat(5_000),
        "x".repeat(100_000),
        format!("`{}`", "y".repeat(50_000)),
        "1. step\n    a. sub step\n".repeat(2_000),
    ];
    for input in &big {
        let doc = parse_mrkdwn(input);
        for (max, parts) in [
            (28_000, render_teams_parts(&doc, &NoDirectory, 28_000)),
            (32_000, render_chat_parts(&doc, &NoDirectory, 32_000)),
        ] {
            assert!(parts.len() > 1, "{:?} did not split", &input[..20]);
            for p in &parts {
                assert!(p.text.len() <= max, "{:?}: part {} > {max}", &input[..20], p.text.len());
            }
        }
        let teams = render_teams_parts(&doc, &NoDirectory, 28_000);
        let joined: String = teams.iter().map(|p| visible_text(&p.text)).collect();
        assert_eq!(joined, visible_text(&render_teams(&doc, &NoDirectory).text));
    }
}
