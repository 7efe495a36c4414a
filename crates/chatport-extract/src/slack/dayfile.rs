//! Parsing one day file (`<folder>/YYYY-MM-DD.json`, a JSON array of messages) record by
//! record, so that a file broken half-way still yields the messages before the break.

use serde::de::{Deserializer as _, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// How a day file parse ended.
pub enum DayParse {
    /// Every element was read.
    Complete,
    /// The file is not valid JSON (or not an array) after `read` elements.
    Broken {
        /// Elements delivered before the problem.
        read: u64,
        /// What went wrong, with line and column.
        error: String,
    },
}

struct Elements<'f, F: FnMut(u64, Value)> {
    on_element: &'f mut F,
    read: &'f mut u64,
}

impl<'de, F: FnMut(u64, Value)> Visitor<'de> for Elements<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of messages")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element::<Value>()? {
            (self.on_element)(*self.read, v);
            *self.read += 1;
        }
        Ok(())
    }
}

/// Feeds every element of the JSON array in `text` to `on_element(index, value)`.
pub fn for_each_element(text: &str, mut on_element: impl FnMut(u64, Value)) -> DayParse {
    let mut read = 0u64;
    let mut de = serde_json::Deserializer::from_str(text);
    let result = (&mut de)
        .deserialize_seq(Elements { on_element: &mut on_element, read: &mut read })
        .and_then(|()| de.end());
    match result {
        Ok(()) => DayParse::Complete,
        Err(e) => DayParse::Broken { read, error: e.to_string() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salvages_the_prefix_of_a_broken_array() {
        let mut seen = Vec::new();
        let r = for_each_element(r#"[{"ts":"1.0"},{"ts":"2.0"},{"ts":"#, |i, v| seen.push((i, v)));
        assert_eq!(seen.len(), 2);
        assert!(matches!(r, DayParse::Broken { read: 2, .. }));
    }

    #[test]
    fn not_an_array() {
        let r = for_each_element(r#"{"a":1}"#, |_, _| {});
        let DayParse::Broken { read: 0, error } = r else { panic!("should fail") };
        assert!(error.contains("array"), "{error}");
    }

    #[test]
    fn trailing_garbage_is_reported() {
        let mut n = 0;
        let r = for_each_element("[1,2] x", |_, _| n += 1);
        assert_eq!(n, 2);
        assert!(matches!(r, DayParse::Broken { read: 2, .. }));
    }
}
