//! Fuzzes the Slack mrkdwn parser and both renderers: no input may panic, and the Teams
//! HTML may only contain the tags the renderer emits.

#![no_main]

use chatport_transform::markup::{parse_mrkdwn, render_chat, render_teams, NoDirectory, TEAMS_TAGS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let doc = parse_mrkdwn(text);
    let _ = render_chat(&doc, &NoDirectory);
    let html = render_teams(&doc, &NoDirectory).text;
    let mut rest = html.as_str();
    while let Some(i) = rest.find('<') {
        let tag = rest[i + 1..].trim_start_matches('/');
        let name: String = tag.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        assert!(TEAMS_TAGS.contains(&name.as_str()), "unexpected tag <{name}> in {html:?}");
        rest = &rest[i + 1..];
    }
});
