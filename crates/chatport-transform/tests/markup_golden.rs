//! Golden tests: every markup construct, from each source dialect, on both renderers.
//! Snapshots live in `tests/snapshots/`; U+200B (Chat's invisible defuser) is shown as
//! `⟨zwsp⟩` so it can be reviewed.

mod markup_support;

use chatport_transform::markup::{
    parse_markdown, parse_mrkdwn, parse_rich_text, render_chat, render_teams, Document,
};
use markup_support::{check_teams_html, Directory};
use serde_json::json;

fn directory() -> Directory {
    let mut dir = Directory::default();
    dir.users.insert("U1".into(), ("Ana Lima".into(), Some("users/101".into())));
    dir.users.insert("U2".into(), ("Bo".into(), None));
    dir.channels.insert("C1".into(), "general".into());
    dir.groups.insert("S1".into(), "eng".into());
    dir.emoji.insert("partyparrot".into(), "https://emoji.example/pp.gif".into());
    dir.emoji.insert("goodbye".into(), "alias:wave".into());
    dir
}

fn golden(source: &str, input: &str, doc: &Document) -> String {
    let dir = directory();
    let chat = render_chat(doc, &dir);
    let teams = render_teams(doc, &dir);
    check_teams_html(&teams.text).unwrap_or_else(|e| panic!("{e}"));
    let mut notes: Vec<String> = chat
        .notes
        .iter()
        .map(|n| format!("chat  {}", serde_json::to_string(n).unwrap_or_default()))
        .collect();
    notes.extend(
        teams.notes.iter().map(|n| format!("teams {}", serde_json::to_string(n).unwrap_or_default())),
    );
    format!(
        "source: {source}\n--- input ---\n{input}\n--- chat ---\n{}\n--- teams ---\n{}\n--- notes ---\n{}\n",
        chat.text.replace('\u{200B}', "⟨zwsp⟩"),
        teams.text,
        notes.join("\n")
    )
}

macro_rules! mrkdwn_golden {
    ($($name:ident => $input:expr;)*) => {$(
        #[test]
        fn $name() {
            let input: &str = $input;
            insta::assert_snapshot!(golden("mrkdwn", input, &parse_mrkdwn(input)));
        }
    )*};
}

mrkdwn_golden! {
    mrkdwn_bold => "this is *bold* text";
    mrkdwn_italic => "this is _italic_ text";
    mrkdwn_strike => "this is ~struck~ text";
    mrkdwn_inline_code => "run `cargo test` now, `a*b*c`";
    mrkdwn_nested_spans => "*_~all three~_* and _*two*_";
    mrkdwn_mid_word_markers => "snake_case_word, 2*3*4, file~name~x and **not bold**";
    mrkdwn_unmatched_markers => "unmatched *bold and _italic and `code";
    mrkdwn_code_block => "```\nfn main() {\n    println!(\"hi\");\n}\n```";
    mrkdwn_code_block_inline => "before ```let x = 1;``` after *bold*";
    mrkdwn_code_block_keeps_markup => "```*not bold* &lt;@U1&gt; <@U1>```";
    mrkdwn_quote_lines => "&gt; quoted *line*\n&gt; second\nafter the quote";
    mrkdwn_block_quote => "intro\n&gt;&gt;&gt;everything\nafter this\nis quoted";
    mrkdwn_bullet_list => "• one\n• two\n    ◦ nested a\n    ◦ nested b\n• three";
    mrkdwn_dash_list => "- first\n- second with *bold*";
    mrkdwn_ordered_list => "3. third\n4. fourth\n    a. sub\n    b. sub two";
    mrkdwn_link_with_label => "see <https://example.com/a?b=c&amp;d=e|the docs>";
    mrkdwn_bare_link => "<https://example.com/a_b_c>";
    mrkdwn_mailto_tel => "<mailto:ana@example.com|mail Ana> <mailto:bo@example.com> <tel:+15551234|call> <tel:+15550000>";
    mrkdwn_unsafe_links => "<javascript:alert(1)|click> <data:text/html,hi|data> <ftp://files.example/x>";
    mrkdwn_user_mentions => "<@U1> <@U2|bo> <@U9> <@U9|ghost>";
    mrkdwn_channel_mentions => "<#C1|general> <#C2|random> <#C3>";
    mrkdwn_broadcasts => "<!here> <!channel> <!everyone> <!here|@here>";
    mrkdwn_user_groups => "<!subteam^S1|@eng> <!subteam^S1> <!subteam^S9>";
    mrkdwn_dates => "<!date^1392734382^{date_short} at {time}|Feb 18, 2014 at 6:39 AM PST> <!date^1392734382^{date}^https://example.com/e|Feb 18>";
    mrkdwn_emoji => ":wave: :+1::skin-tone-4: :flag-mx: :hash: :man-woman-girl-boy:";
    mrkdwn_custom_emoji => ":partyparrot: :goodbye: :not-a-known-one:";
    mrkdwn_escapes => "a &amp; b &lt;@U1&gt; &lt;script&gt;alert(1)&lt;/script&gt; &amp;lt; &quot;";
    mrkdwn_chat_lookalikes => "&lt;users/all&gt; and &lt;https://x.example|y&gt; typed as text";
    mrkdwn_unicode => "Ünïcødé *fett* _ïtalic_ 日本語 *太字* ~取り消し~ 🎉 ❤️";
    mrkdwn_mention_in_bold => "*<@U1> said <https://e.example|this>*";
    mrkdwn_line_breaks => "line one\nline two\n\nafter a blank line";
    mrkdwn_raw_html => "<b>not html</b> <img src=x onerror=alert(1)>";
    mrkdwn_unknown_command => "<!foo|bar> <!foo>";
}

#[test]
fn rich_text_all_constructs() {
    let blocks = json!([
        {"type": "rich_text", "elements": [
            {"type": "rich_text_section", "elements": [
                {"type": "text", "text": "plain "},
                {"type": "text", "text": "bold ", "style": {"bold": true}},
                {"type": "text", "text": "italic", "style": {"italic": true}},
                {"type": "text", "text": " "},
                {"type": "text", "text": "strike", "style": {"strike": true}},
                {"type": "text", "text": " "},
                {"type": "text", "text": "under", "style": {"underline": true}},
                {"type": "text", "text": " "},
                {"type": "text", "text": "code", "style": {"code": true}},
                {"type": "text", "text": " literal *stars* and <users/all>\n"},
                {"type": "link", "url": "https://example.com", "text": "link", "style": {"bold": true}},
                {"type": "text", "text": " "},
                {"type": "link", "url": "javascript:alert(1)", "text": "bad"},
                {"type": "text", "text": " "},
                {"type": "emoji", "name": "thumbsup", "unicode": "1f44d-1f3fd", "skin_tone": 4},
                {"type": "emoji", "name": "custom-thing"},
                {"type": "text", "text": " "},
                {"type": "user", "user_id": "U1"},
                {"type": "text", "text": " "},
                {"type": "user", "user_id": "U2"},
                {"type": "text", "text": " "},
                {"type": "usergroup", "usergroup_id": "S1"},
                {"type": "text", "text": " "},
                {"type": "channel", "channel_id": "C1"},
                {"type": "text", "text": " "},
                {"type": "broadcast", "range": "here"},
                {"type": "text", "text": " "},
                {"type": "date", "timestamp": 1392734382, "format": "{date}", "fallback": "Feb 18"},
                {"type": "text", "text": " "},
                {"type": "color", "value": "#FF0000"}
            ]},
            {"type": "rich_text_list", "style": "bullet", "indent": 0, "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": "top"}]}
            ]},
            {"type": "rich_text_list", "style": "ordered", "indent": 1, "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": "nested one"}]},
                {"type": "rich_text_section", "elements": [{"type": "text", "text": "nested two"}]}
            ]},
            {"type": "rich_text_list", "style": "bullet", "indent": 0, "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": "top again"}]}
            ]},
            {"type": "rich_text_quote", "elements": [{"type": "text", "text": "quoted\nlines"}]},
            {"type": "rich_text_preformatted", "elements": [{"type": "text", "text": "fn x() -> u8 { 1 }\n<b>"}]}
        ]},
        {"type": "divider"},
        {"type": "header", "text": {"type": "plain_text", "text": "A header"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "section *mrkdwn*"}},
        {"type": "actions", "elements": []},
        {"type": "table", "rows": [
            [{"type": "raw_text", "text": "h1"}, {"type": "raw_text", "text": "h2"}],
            [{"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": "d1", "style": {"bold": true}}]}]},
             {"type": "raw_text", "text": "d<2>"}]
        ]}
    ]);
    let doc = parse_rich_text(&blocks).expect("has rich_text");
    insta::assert_snapshot!(golden("rich_text", &serde_json::to_string(&blocks).unwrap_or_default(), &doc));
}

#[test]
fn markdown_all_constructs() {
    let input = "# Title\n\n**bold** *italic* ~~strike~~ `code` :tada:\n\n> quoted\n> text\n\n\
                 3. three\n4. four\n   - nested\n\n```rust\nfn x() {}\n```\n\n\
                 [link](https://example.com) ![alt](https://example.com/i.png) [bad](javascript:x)\n\n\
                 <b>raw html</b>\n\n---\n\nlast";
    insta::assert_snapshot!(golden("markdown", input, &parse_markdown(input)));
}

/// The AST itself for one message that uses most constructs, so its shape is reviewable.
#[test]
fn mrkdwn_ast_shape() {
    let input = "*Release* <@U1|ana>: see <https://e.example|notes> :tada:\n• fixed &lt;bugs&gt;\n    ◦ _one_\n&gt; ~old~ `code`\n```raw *text*```";
    insta::assert_json_snapshot!(parse_mrkdwn(input));
}
