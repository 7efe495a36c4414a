//! Removing access secrets from Slack URLs: the `t=xox…` token Slack appends to file
//! URLs in exports, `pub_secret` query parameters, and any other `xox…` value.

use serde_json::Value;

const SECRET_KEYS: [&str; 4] = ["t", "token", "pub_secret", "access_token"];

/// The substrings of which [`suspicious`] needs one (besides a `?`).
const SECRET_MARKERS: [&str; 3] = ["xox", "pub_secret", "token="];

/// Whether a string may carry a secret worth a closer look: every secret this module
/// removes sits in a query string, so a string without `?` is clean (one `memchr`).
pub fn suspicious(s: &str) -> bool {
    let b = s.as_bytes();
    if !b.contains(&b'?') {
        return false;
    }
    if b.len() > 256 {
        // Long text (a whole day file): the standard library's vectorised search.
        return SECRET_MARKERS.iter().any(|m| memchr::memmem::find(b, m.as_bytes()).is_some());
    }
    // Short strings (most values are): `memchr` for the rarest byte of each marker (`x`,
    // `_`, `=`) and a look around it is cheaper than three substring searches.
    memchr::memchr3_iter(b'x', b'_', b'=', b).any(|i| match b[i] {
        b'x' => b.get(i + 1..i + 3) == Some(b"ox"),
        b'_' => i >= 3 && &b[i - 3..i] == b"pub" && b.get(i + 1..i + 7) == Some(b"secret"),
        _ => i >= 5 && &b[i - 5..i] == b"token",
    })
}

/// Returns the URL without secret query parameters, or `None` when nothing changed.
pub fn strip_url_tokens(s: &str) -> Option<String> {
    if !suspicious(s) {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut changed = false;
    let mut rest = s;
    // A string may hold several URLs (message text): treat every `?query` run.
    while let Some(q) = rest.find('?') {
        out.push_str(&rest[..=q]);
        let after = &rest[q + 1..];
        let end = after
            .find(|c: char| c == '#' || c == '>' || c == '|' || c.is_whitespace())
            .unwrap_or(after.len());
        let query = &after[..end];
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let secret = SECRET_KEYS.contains(&k) || v.starts_with("xox");
                changed |= secret;
                !secret
            })
            .collect();
        if kept.is_empty() {
            out.pop();
        } else {
            out.push_str(&kept.join("&"));
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// Strips secrets from every string inside a JSON value, in place. Fields that are
/// secrets themselves (`pub_secret`) are removed.
pub fn strip_value(v: &mut Value) {
    match v {
        Value::String(s) if s.len() > 8 => {
            if let Some(clean) = strip_url_tokens(s) {
                *s = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_value),
        Value::Object(map) => {
            map.remove("pub_secret");
            map.values_mut().for_each(strip_value);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strips_file_tokens() {
        assert_eq!(
            strip_url_tokens("https://files.slack.com/files-pri/T1-F1/a.png?t=xoxe-123-abc").as_deref(),
            Some("https://files.slack.com/files-pri/T1-F1/a.png")
        );
        assert_eq!(
            strip_url_tokens("https://x/a?v=1&t=xoxe-1&w=2#frag").as_deref(),
            Some("https://x/a?v=1&w=2#frag")
        );
        assert_eq!(strip_url_tokens("https://x/a?v=1"), None);
        assert_eq!(
            strip_url_tokens("see <https://x/f?t=xoxp-9|file> and https://y/?pub_secret=abc").as_deref(),
            Some("see <https://x/f|file> and https://y/")
        );
    }

    #[test]
    fn suspicious_short_and_long() {
        for pad in [0, 300] {
            let p = "a".repeat(pad);
            assert!(suspicious(&format!("{p}https://x/?t=xoxe-1")));
            assert!(suspicious(&format!("xox{p}?")));
            assert!(suspicious(&format!("?{p}pub_secret")));
            assert!(suspicious(&format!("?token={p}")));
            assert!(!suspicious(&format!("{p}https://x/?t=abc&tok=1&pub_secre")));
            assert!(!suspicious(&format!("{p}xox token= pub_secret")));
            assert!(!suspicious(&format!("?{p}xo")));
        }
    }

    #[test]
    fn strips_inside_values() {
        let mut v = json!({"a": ["https://x/f?t=xoxe-1"], "pub_secret": "s", "n": 1});
        strip_value(&mut v);
        assert_eq!(v, json!({"a": ["https://x/f"], "n": 1}));
    }
}
