//! Fuzzes the Slack `rich_text` block parser (any JSON a message's `blocks` may hold) and
//! both renderers, including the size-bounded splitters: no input may panic, the Teams
//! HTML (whole or split) may only contain the tags the renderer emits. (Split parts may
//! exceed their budget by design when one construct cannot be cut, so size is not
//! asserted here; `tests/markup_props.rs` checks it on generated text.)

#![no_main]

use chatport_transform::markup::{
    parse_slack, render_chat, render_chat_parts, render_teams, render_teams_parts, NoDirectory, TEAMS_TAGS,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the split budget; the rest is `text` NUL `blocks JSON`.
    let Some((&budget, rest)) = data.split_first() else { return };
    let Ok(input) = std::str::from_utf8(rest) else { return };
    let (text, blocks) = input.split_once('\0').unwrap_or((input, ""));
    let blocks: Option<serde_json::Value> = serde_json::from_str(blocks).ok();
    let doc = parse_slack(text, blocks.as_ref());
    let _ = render_chat(&doc, &NoDirectory);
    only_known_tags(&render_teams(&doc, &NoDirectory).text);
    let budget = 64 + usize::from(budget) * 16;
    let _ = render_chat_parts(&doc, &NoDirectory, budget);
    for part in render_teams_parts(&doc, &NoDirectory, budget) {
        only_known_tags(&part.text);
    }
});

fn only_known_tags(html: &str) {
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        let tag = rest[i + 1..].trim_start_matches('/');
        let name: String = tag.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        assert!(TEAMS_TAGS.contains(&name.as_str()), "unexpected tag <{name}> in {html:?}");
        rest = &rest[i + 1..];
    }
}
