//! One conversation's join/leave events, held compactly while its day files stream by,
//! and turned into membership intervals (canonical JSON) when the conversation ends.
//!
//! An event costs one fixed-size entry plus its `ts` text: user ids are interned, so a
//! channel where thousands of people came and went does not hold a pair of strings per
//! event.

use chatport_model::ts::{cmp_parts, parse_micros};
use chatport_model::{Membership, SlackTs};
use std::borrow::Cow;
use std::collections::HashMap;

/// One join or leave: its `ts` (as microseconds when the text is the canonical
/// `<secs>.<6 digits>` form of them, else as a place in the list of other texts), and who.
#[derive(Clone, Copy)]
struct Event {
    ts: i64,
    user: u32,
    /// `ts` is a place in [`MembershipEvents::odd`], not microseconds.
    odd: bool,
    join: bool,
}

/// The join/leave events of one conversation, in the order they were read: 16 bytes an
/// event. `'u` is the life of the export's user ids, which interned ids borrow from.
#[derive(Default)]
pub struct MembershipEvents<'u> {
    /// Interned user ids (borrowed from the export's users when listed there): index → id
    /// is rebuilt from this map when the intervals are written.
    users: HashMap<Cow<'u, str>, u32>,
    /// The `ts` texts that are not in canonical form.
    odd: Vec<String>,
    events: Vec<Event>,
}

/// The canonical text of a `ts` of `micros` microseconds.
fn canonical(micros: i64) -> String {
    format!("{}.{:06}", micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000))
}

impl<'u> MembershipEvents<'u> {
    /// Records that `user` joined (`join`) or left at `ts`. `known` holds the export's user
    /// ids; a listed id is borrowed from it rather than copied.
    pub fn push<V>(
        &mut self,
        ts: &str,
        user: &str,
        join: bool,
        known: &'u HashMap<String, V>,
    ) -> Result<(), std::io::Error> {
        let too_many =
            || std::io::Error::other("more than 2^32 users or membership events in one conversation");
        let user = match self.users.get(user) {
            Some(&i) => i,
            None => {
                let i = u32::try_from(self.users.len()).map_err(|_| too_many())?;
                let key = match known.get_key_value(user) {
                    Some((listed, _)) => Cow::Borrowed(listed.as_str()),
                    None => Cow::Owned(user.to_owned()),
                };
                self.users.insert(key, i);
                i
            }
        };
        let event = match parse_micros(ts).filter(|&m| m >= 0 && canonical(m) == ts) {
            Some(micros) => Event { ts: micros, user, odd: false, join },
            None => {
                let at = i64::try_from(self.odd.len()).map_err(|_| too_many())?;
                self.odd.push(ts.to_owned());
                Event { ts: at, user, odd: true, join }
            }
        };
        self.events.push(event);
        Ok(())
    }

    /// Events recorded so far.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no event was recorded.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Writes the membership intervals as a JSON array to `out` and returns how many there
    /// are: per user (in id order) in time order, a join opening an interval and a leave
    /// closing it. A second join while a member is ignored (the first stands); a leave
    /// with no open interval is one of a member since before the export's first message.
    /// Events with one user and `ts` keep the order they were read in.
    pub fn write_intervals(self, out: &mut Vec<u8>) -> Result<u64, crate::jsonout::Error> {
        let MembershipEvents { users, odd, mut events } = self;
        let mut names = vec![""; users.len()];
        for (name, &i) in &users {
            names[i as usize] = name.as_ref();
        }
        let text = |e: &Event| -> Cow<'_, str> {
            if e.odd {
                Cow::Borrowed(odd[e.ts as usize].as_str())
            } else {
                Cow::Owned(canonical(e.ts))
            }
        };
        let micros = |e: &Event| if e.odd { parse_micros(&odd[e.ts as usize]) } else { Some(e.ts) };
        let cmp_ts = |a: &Event, b: &Event| cmp_parts(micros(a), || text(a), micros(b), || text(b));
        events.sort_by(|a, b| names[a.user as usize].cmp(names[b.user as usize]).then_with(|| cmp_ts(a, b)));
        let mut written = 0u64;
        let mut emit = |m: &Membership, out: &mut Vec<u8>| {
            out.push(if written == 0 { b'[' } else { b',' });
            written += 1;
            crate::jsonout::to_vec_into(out, m)
        };
        let mut open: Option<Membership> = None;
        let mut current: Option<u32> = None;
        for e in &events {
            if current != Some(e.user) {
                current = Some(e.user);
                if let Some(m) = open.take() {
                    emit(&m, out)?;
                }
            }
            let user = names[e.user as usize];
            let at = SlackTs::new(text(e));
            match (e.join, open.take()) {
                (true, None) => {
                    open = Some(Membership { user: user.to_owned(), joined: Some(at), left: None })
                }
                (true, Some(m)) => open = Some(m),
                (false, Some(mut m)) => {
                    m.left = Some(at);
                    emit(&m, out)?;
                }
                (false, None) => {
                    emit(&Membership { user: user.to_owned(), joined: None, left: Some(at) }, out)?
                }
            }
        }
        if let Some(m) = open.take() {
            emit(&m, out)?;
        }
        if written == 0 {
            out.push(b'[');
        }
        out.push(b']');
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The intervals as a plain list, the way they were built before events were held
    /// compactly: the reference the streaming writer must match byte for byte.
    fn reference(mut events: Vec<(SlackTs, String, bool)>) -> Vec<Membership> {
        events.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        let mut out: Vec<Membership> = Vec::new();
        let mut open: Option<usize> = None;
        let mut current_user: Option<String> = None;
        for (ts, user, join) in events {
            if current_user.as_ref() != Some(&user) {
                current_user = Some(user.clone());
                open = None;
            }
            match (join, open) {
                (true, None) => {
                    out.push(Membership { user, joined: Some(ts), left: None });
                    open = Some(out.len() - 1);
                }
                (true, Some(_)) => {}
                (false, Some(i)) => {
                    out[i].left = Some(ts);
                    open = None;
                }
                (false, None) => out.push(Membership { user, joined: None, left: Some(ts) }),
            }
        }
        out
    }

    fn written(events: &[(SlackTs, String, bool)]) -> (Vec<u8>, u64) {
        let known: HashMap<String, ()> = [("U1".to_owned(), ()), ("W3".to_owned(), ())].into();
        let mut compact = MembershipEvents::default();
        for (ts, user, join) in events {
            compact.push(ts.as_str(), user, *join, &known).unwrap();
        }
        assert_eq!(compact.len(), events.len());
        let mut out = Vec::new();
        let n = compact.write_intervals(&mut out).unwrap();
        (out, n)
    }

    #[test]
    fn intervals_from_events() {
        let e = |ts: &str, u: &str, j: bool| (SlackTs::new(ts), u.to_owned(), j);
        let events = [e("5", "U1", false), e("1", "U1", true), e("9", "U1", true), e("3", "U2", false)];
        let (json, n) = written(&events);
        assert_eq!(n, 3);
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"[{"user":"U1","joined":"1","left":"5"},{"user":"U1","joined":"9"},{"user":"U2","left":"3"}]"#
        );
        assert_eq!(written(&[]), (b"[]".to_vec(), 0));
    }

    proptest! {
        #[test]
        fn streaming_intervals_match_the_list(
            events in proptest::collection::vec(
                (prop_oneof![
                    (0u64..20).prop_map(|s| s.to_string()),
                    (0u64..20, 0u32..3).prop_map(|(s, f)| format!("{s}.{f:06}")),
                    (0u64..3, 0u32..3).prop_map(|(s, f)| format!("{s}.{f:07}")),
                    Just("-1.000000".to_owned()),
                    Just("01.000000".to_owned()),
                    (0u64..20).prop_map(|s| format!("{s}.5")),
                    Just("not a ts".to_owned()),
                    Just("a\"quote".to_owned()),
                ],
                prop_oneof![Just("U1"), Just("U2"), Just("W3"), Just("U\u{e9}")],
                any::<bool>()),
                0..40,
            )
        ) {
            let events: Vec<(SlackTs, String, bool)> =
                events.into_iter().map(|(t, u, j)| (SlackTs::new(t), u.to_owned(), j)).collect();
            let want = reference(events.clone());
            let (json, n) = written(&events);
            prop_assert_eq!(n, want.len() as u64);
            prop_assert_eq!(json, serde_json::to_vec(&want).unwrap());
        }
    }
}
