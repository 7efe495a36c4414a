//! Emoji table tests: aliases, skin tones (single and two-person), ZWJ sequences, flags,
//! keycaps, unknown names, and how the renderers treat each.

use chatport_transform::emoji::{is_standard, shortcode_to_unicode, unicode_from_hex};
use chatport_transform::markup::{parse_mrkdwn, render_chat, render_teams, NoDirectory};

fn u(name: &str) -> Option<String> {
    shortcode_to_unicode(name)
}

#[test]
fn aliases_map_to_the_same_sequence() {
    assert_eq!(u("+1").as_deref(), Some("\u{1F44D}"));
    assert_eq!(u("thumbsup"), u("+1"));
    assert_eq!(u("-1"), u("thumbsdown"));
    // Slack's legacy name, not in the iamcal data, shows as the slightly smiling face.
    assert_eq!(u("simple_smile").as_deref(), Some("\u{1F642}"));
    assert_eq!(u("bowtie"), None, "Slack's legacy image-only emoji have no Unicode form");
    assert_eq!(u("smile").as_deref(), Some("\u{1F604}"));
    assert_eq!(u(":wave:").as_deref(), Some("\u{1F44B}"), "surrounding colons are accepted");
}

#[test]
fn skin_tones_use_the_fitzpatrick_modifiers() {
    assert_eq!(u("+1::skin-tone-2").as_deref(), Some("\u{1F44D}\u{1F3FB}"));
    assert_eq!(u("+1::skin-tone-4").as_deref(), Some("\u{1F44D}\u{1F3FD}"));
    assert_eq!(u("clap::skin-tone-6").as_deref(), Some("\u{1F44F}\u{1F3FF}"));
    // A tone on an emoji without variations shows the plain emoji, as Slack does.
    assert_eq!(u("tada::skin-tone-3"), u("tada"));
    // Out-of-range tones and malformed suffixes are not emoji.
    assert_eq!(u("+1::skin-tone-1"), None);
    assert_eq!(u("+1::skin-tone-x"), None);
}

#[test]
fn two_person_skin_tone_combinations() {
    // handshake: 1F91D, with per-hand modifiers joined by ZWJ and 1FAF1/1FAF2 hands.
    let same = u("handshake::skin-tone-3").expect("single tone applies to both hands");
    assert_eq!(same, "\u{1F91D}\u{1F3FC}");
    let mixed = u("handshake::skin-tone-2-5").expect("two tones");
    assert_eq!(mixed, "\u{1FAF1}\u{1F3FB}\u{200D}\u{1FAF2}\u{1F3FE}");
    assert_eq!(u("handshake::skin-tone-2::skin-tone-5").as_deref(), Some(mixed.as_str()));
    // A pair on a single-person emoji is not in the data: the plain emoji.
    assert_eq!(u("+1::skin-tone-2-3"), u("+1"));
}

#[test]
fn zwj_flag_and_keycap_sequences() {
    assert_eq!(
        u("man-woman-girl-boy").as_deref(),
        Some("\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}\u{200D}\u{1F466}")
    );
    assert_eq!(u("female-technologist").as_deref(), Some("\u{1F469}\u{200D}\u{1F4BB}"));
    assert_eq!(u("female-technologist::skin-tone-5").as_deref(), Some("\u{1F469}\u{1F3FE}\u{200D}\u{1F4BB}"));
    assert_eq!(u("rainbow-flag").as_deref(), Some("\u{1F3F3}\u{FE0F}\u{200D}\u{1F308}"));
    assert_eq!(u("flag-mx").as_deref(), Some("\u{1F1F2}\u{1F1FD}"));
    assert_eq!(u("hash").as_deref(), Some("#\u{FE0F}\u{20E3}"));
    assert_eq!(u("heart").as_deref(), Some("\u{2764}\u{FE0F}"));
}

#[test]
fn unknown_names() {
    assert_eq!(u("definitely-not-an-emoji"), None);
    assert_eq!(u(""), None);
    assert_eq!(u("::"), None);
    assert!(!is_standard("partyparrot"));
    assert!(is_standard("tada"));
}

#[test]
fn unicode_hints_from_rich_text() {
    assert_eq!(unicode_from_hex("1f3c0").as_deref(), Some("\u{1F3C0}"));
    assert_eq!(unicode_from_hex("1f44d-1f3fd").as_deref(), Some("\u{1F44D}\u{1F3FD}"));
    assert_eq!(unicode_from_hex("d800"), None, "surrogates are not scalar values");
    assert_eq!(unicode_from_hex("0007"), None, "control characters are refused");
    assert_eq!(unicode_from_hex("zz"), None);
}

#[test]
fn renderers_report_unknown_emoji() {
    let doc = parse_mrkdwn(":tada: :no-such-emoji: 10:30:00");
    let chat = render_chat(&doc, &NoDirectory);
    assert_eq!(chat.text, "\u{1F389} :no-such-emoji: 10:30:00");
    let teams = render_teams(&doc, &NoDirectory);
    assert_eq!(teams.text, "<p>\u{1F389} :no-such-emoji: 10:30:00</p>");
    assert_eq!(chat.notes.iter().map(|n| n.code()).collect::<Vec<_>>(), ["unknown_emoji"]);
    assert_eq!(teams.notes.len(), 1);
}
