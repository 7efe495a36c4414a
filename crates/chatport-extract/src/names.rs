//! A sorted list of entry names kept front-coded: each name stores only how many leading
//! bytes it shares with the name before it and the bytes after those, in blocks of
//! [`BLOCK`] names that each start with a whole name.
//!
//! Owns: the compact form of an export's listing. An export lists one entry per
//! conversation per day; their names (`<folder>/YYYY-MM-DD.json`) differ from their
//! neighbours in a few bytes, and a day file whose name is the one before it a few days
//! later is stored as just that number of days: such a name costs 1 byte here, another
//! about 8, instead of an allocation of its whole length.

/// Names per block; reading one name decodes at most this many.
const BLOCK: usize = 16;

/// Sorted names, front-coded.
#[derive(Default)]
pub struct SortedNames {
    bytes: Vec<u8>,
    /// Offset in `bytes` of each block's first name.
    blocks: Vec<usize>,
    len: usize,
}

fn put_varint(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &[u8], at: &mut usize) -> usize {
    let mut v = 0usize;
    let mut shift = 0;
    while let Some(&b) = bytes.get(*at) {
        *at += 1;
        v |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    v
}

/// Length of a day file's name ending, `YYYY-MM-DD.json`.
const DAY_SUFFIX: usize = 15;
/// A day step of at most this many days is stored in one byte.
const MAX_DAY_STEP: i32 = 63;

/// The date of a name ending in `YYYY-MM-DD.json`, as a Julian day.
fn day_of(name: &str) -> Option<i32> {
    let suffix = name.as_bytes().get(name.len().checked_sub(DAY_SUFFIX)?..)?;
    let digits = |r: std::ops::Range<usize>| -> Option<i32> {
        suffix[r].iter().try_fold(0i32, |n, &b| b.is_ascii_digit().then(|| n * 10 + i32::from(b - b'0')))
    };
    if suffix[4] != b'-' || suffix[7] != b'-' || &suffix[10..] != b".json" {
        return None;
    }
    let month = time::Month::try_from(u8::try_from(digits(5..7)?).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(digits(0..4)?, month, u8::try_from(digits(8..10)?).ok()?).ok()?;
    Some(date.to_julian_day())
}

/// `name` (a day file's name) with its date moved `step` days on, if that is a date.
fn step_day(name: &mut String, step: i32) -> Option<()> {
    let day = time::Date::from_julian_day(day_of(name)?.checked_add(step)?).ok()?;
    let at = name.len() - DAY_SUFFIX;
    name.truncate(at);
    let month: u8 = day.month().into();
    name.push_str(&format!("{:04}-{:02}-{:02}.json", day.year(), month, day.day()));
    Some(())
}

/// How many days after `prev` the day file `name` is, when it is the same name with only
/// the date moved on by 1 to [`MAX_DAY_STEP`] days (checked by moving `prev` on).
fn day_step(prev: &str, name: &str) -> Option<i32> {
    if prev.len() != name.len() || prev.len() < DAY_SUFFIX {
        return None;
    }
    let at = name.len() - DAY_SUFFIX;
    if prev.as_bytes()[..at] != name.as_bytes()[..at] {
        return None;
    }
    let step = day_of(name)? - day_of(prev)?;
    if !(1..=MAX_DAY_STEP).contains(&step) {
        return None;
    }
    let mut moved = prev.to_owned();
    step_day(&mut moved, step)?;
    (moved == name).then_some(step)
}

impl SortedNames {
    /// Encodes `names`, which the caller has sorted (any order works; sorted is compact).
    /// Each name is `varint(2 × shared)`, `varint(rest length)`, rest; or, for a day file
    /// a few days after the name before it, `varint(2 × days + 1)`.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut out = SortedNames::default();
        let mut prev = "";
        for name in names {
            let block_start = out.len % BLOCK == 0;
            if block_start {
                out.blocks.push(out.bytes.len());
            } else if let Some(step) = day_step(prev, name) {
                put_varint(&mut out.bytes, ((step as usize) << 1) | 1);
                out.len += 1;
                prev = name;
                continue;
            }
            let shared = if block_start {
                0
            } else {
                let mut n = prev.bytes().zip(name.bytes()).take_while(|(a, b)| a == b).count();
                // Cut on a character boundary, so every decoded prefix is text.
                while !name.is_char_boundary(n) {
                    n -= 1;
                }
                n
            };
            let rest = &name.as_bytes()[shared..];
            put_varint(&mut out.bytes, shared << 1);
            put_varint(&mut out.bytes, rest.len());
            out.bytes.extend_from_slice(rest);
            out.len += 1;
            prev = name;
        }
        out.bytes.shrink_to_fit();
        out.blocks.shrink_to_fit();
        out
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Decodes the next name at `*at` onto `name` (which holds the name before it).
    fn step(&self, at: &mut usize, name: &mut String) {
        let head = get_varint(&self.bytes, at);
        if head & 1 == 1 {
            // The encoder checked that this step gives the name.
            let _ = step_day(name, i32::try_from(head >> 1).unwrap_or(0));
            return;
        }
        let shared = head >> 1;
        let n = get_varint(&self.bytes, at);
        let rest = self.bytes.get(*at..*at + n).unwrap_or_default();
        *at += n;
        name.truncate(shared);
        // Always text: names were whole strings cut on character boundaries.
        name.push_str(&String::from_utf8_lossy(rest));
    }

    /// The `i`-th name, if there is one.
    pub fn get(&self, i: usize) -> Option<String> {
        let mut at = *self.blocks.get(i / BLOCK)?;
        if i >= self.len {
            return None;
        }
        let mut name = String::new();
        for _ in 0..=i % BLOCK {
            self.step(&mut at, &mut name);
        }
        Some(name)
    }

    /// Every name in order.
    pub fn iter(&self) -> impl Iterator<Item = String> + '_ {
        let mut at = 0;
        let mut name = String::new();
        (0..self.len).map(move |_| {
            self.step(&mut at, &mut name);
            name.clone()
        })
    }

    /// Bytes held: what the tests check the listing costs.
    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        self.bytes.capacity() + self.blocks.capacity() * std::mem::size_of::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn day_file_names_cost_a_few_bytes_each() {
        let names: Vec<String> = (0..2000)
            .map(|i| format!("channel-{:04}/2024-{:02}-{:02}.json", i / 40, 1 + i % 40 / 28, 1 + i % 28))
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        let coded = SortedNames::new(sorted.iter().map(String::as_str));
        assert_eq!(coded.len(), 2000);
        assert_eq!(coded.iter().collect::<Vec<_>>(), sorted);
        assert_eq!(coded.get(1234).as_deref(), Some(sorted[1234].as_str()));
        assert_eq!(coded.get(2000), None);
        // 50 conversations of 40 days: each block of 16 starts with a whole name, the
        // other day files take a byte.
        assert!(coded.heap_bytes() < 2000 * 4, "{} bytes", coded.heap_bytes());
    }

    #[test]
    fn day_steps_cross_months_years_and_leap_days_but_not_bad_dates() {
        assert_eq!(day_step("a/2024-02-28.json", "a/2024-02-29.json"), Some(1));
        assert_eq!(day_step("a/2023-02-28.json", "a/2023-03-01.json"), Some(1));
        assert_eq!(day_step("a/2023-12-31.json", "a/2024-01-01.json"), Some(1));
        assert_eq!(day_step("a/2024-01-01.json", "a/2024-03-04.json"), Some(63));
        assert_eq!(day_step("a/2024-01-01.json", "a/2024-03-05.json"), None, "too far");
        assert_eq!(day_step("a/2024-01-01.json", "b/2024-01-02.json"), None, "another folder");
        assert_eq!(day_step("a/2024-01-02.json", "a/2024-01-02.json"), None);
        assert_eq!(day_step("a/2023-02-28.json", "a/2023-02-30.json"), None, "not a date");
        assert_eq!(day_step("a/9999-12-30.json", "a/9999-12-31.json"), Some(1));
        let names = ["a/2023-02-28.json", "a/2023-02-29.json", "a/2023-03-01.json", "a/2023-03-01.jsonx"];
        let coded = SortedNames::new(names);
        assert_eq!(coded.iter().collect::<Vec<_>>(), names);
    }

    #[test]
    fn shared_prefixes_stop_at_character_boundaries() {
        let names = ["é/a", "è/b", "日本/x", "日本語/y", "日本語/z"];
        let coded = SortedNames::new(names);
        assert_eq!(coded.iter().collect::<Vec<_>>(), names);
        for (i, n) in names.iter().enumerate() {
            assert_eq!(coded.get(i).as_deref(), Some(*n));
        }
    }

    /// Names in a few folders, mostly day files (some of them not real dates).
    fn arb_names() -> impl Strategy<Value = Vec<String>> {
        let name = prop_oneof![
            4 => ("[a-c]{1,3}", 1998u32..2002, 0u32..14, 0u32..33)
                .prop_map(|(f, y, m, d)| format!("{f}/{y:04}-{m:02}-{d:02}.json")),
            1 => "[a-c/é]{0,6}(\\.json)?",
        ];
        proptest::collection::vec(name, 0..120)
    }

    proptest! {
        #[test]
        fn every_day_file_name_comes_back(mut names in arb_names()) {
            names.sort();
            let coded = SortedNames::new(names.iter().map(String::as_str));
            prop_assert_eq!(coded.iter().collect::<Vec<_>>(), names.clone());
            for (i, n) in names.iter().enumerate() {
                prop_assert_eq!(coded.get(i), Some(n.clone()));
            }
        }

        #[test]
        fn every_name_comes_back(mut names in proptest::collection::vec(any::<String>(), 0..80)) {
            names.sort();
            let coded = SortedNames::new(names.iter().map(String::as_str));
            prop_assert_eq!(coded.len(), names.len());
            prop_assert_eq!(coded.iter().collect::<Vec<_>>(), names.clone());
            for (i, n) in names.iter().enumerate() {
                prop_assert_eq!(coded.get(i), Some(n.clone()));
            }
        }
    }
}
