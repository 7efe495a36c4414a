//! A sorted list of entry names kept front-coded: each name stores only how many leading
//! bytes it shares with the name before it and the bytes after those, in blocks of
//! `BLOCK` (16) names that each start with a whole name.
//!
//! Owns: the compact form of an export's listing. An export lists one entry per
//! conversation per day; their names (`<folder>/YYYY-MM-DD.json`) differ from their
//! neighbours in a few bytes, and a day file whose name is the one before it a few days
//! later is stored as just that number of days: such a name costs 1 byte here, another
//! about 8, instead of an allocation of its whole length.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

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
    pub fn new<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Self {
        let mut out = SortedNames::default();
        let mut prev = String::new();
        for name in names {
            let name = name.as_ref();
            let block_start = out.len % BLOCK == 0;
            if block_start {
                out.blocks.push(out.bytes.len());
            } else if let Some(step) = day_step(&prev, name) {
                put_varint(&mut out.bytes, ((step as usize) << 1) | 1);
                out.len += 1;
                prev.clear();
                prev.push_str(name);
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
            prev.clear();
            prev.push_str(name);
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

/// Names gathered into a sorted batch at a time: at most this many whole names are held.
const BATCH: usize = 8 << 10;

/// Sorts names, each with a number (a zip directory record's offset), in memory bounded by
/// the result's compact size: names are gathered in batches of `BATCH` (8,192), each batch is
/// sorted and kept front-coded, and the batches are merged at the end. Of equal names, the
/// one with the lowest number is kept, and each other one is reported.
pub struct NameSorter {
    /// Names per batch.
    batch_len: usize,
    text: String,
    /// `(start in text, length, number)` of each name in the batch.
    batch: Vec<(usize, usize, u64)>,
    runs: Vec<(SortedNames, Vec<u64>)>,
    /// The name and number of every repeat dropped so far.
    repeats: Vec<(String, u64)>,
}

/// What [`NameSorter::finish`] gives.
#[derive(Default)]
pub struct Sorted {
    /// The distinct names in order.
    pub names: SortedNames,
    /// Each name's number: the lowest it was added with.
    pub numbers: Vec<u64>,
    /// Every other occurrence of a name, with its number, ordered by name then number.
    pub repeats: Vec<(String, u64)>,
}

impl Default for NameSorter {
    fn default() -> Self {
        Self::with_batch(BATCH)
    }
}

impl NameSorter {
    fn with_batch(batch_len: usize) -> Self {
        NameSorter {
            batch_len: batch_len.max(1),
            text: String::new(),
            batch: Vec::new(),
            runs: Vec::new(),
            repeats: Vec::new(),
        }
    }

    /// Adds `name` with its number.
    pub fn push(&mut self, name: &str, number: u64) {
        self.batch.push((self.text.len(), name.len(), number));
        self.text.push_str(name);
        if self.batch.len() >= self.batch_len {
            self.end_batch();
        }
    }

    fn end_batch(&mut self) {
        let text = &self.text;
        let name = |&(at, n, _): &(usize, usize, u64)| &text[at..at + n];
        self.batch.sort_unstable_by(|a, b| name(a).cmp(name(b)).then(a.2.cmp(&b.2)));
        let repeats = &mut self.repeats;
        // `dedup_by` passes the later element first: it is the one dropped.
        self.batch.dedup_by(|later, kept| {
            let same = name(later) == name(kept);
            if same {
                repeats.push((name(later).to_owned(), later.2));
            }
            same
        });
        let names = SortedNames::new(self.batch.iter().map(name));
        self.runs.push((names, self.batch.iter().map(|e| e.2).collect()));
        self.batch.clear();
        self.text.clear();
    }

    /// The distinct names in order, each one's number (the lowest it was added with) and
    /// the repeats dropped.
    pub fn finish(mut self) -> Sorted {
        if !self.batch.is_empty() || self.runs.is_empty() {
            self.end_batch();
        }
        self.text = String::new();
        self.batch = Vec::new();
        let mut repeats = std::mem::take(&mut self.repeats);
        if self.runs.len() == 1 {
            let (names, numbers) = self.runs.pop().unwrap_or_default();
            repeats.sort_unstable();
            return Sorted { names, numbers, repeats };
        }
        let mut sources: Vec<_> =
            self.runs.iter().map(|(names, numbers)| names.iter().zip(numbers.iter().copied())).collect();
        let mut heap = BinaryHeap::new();
        for (i, source) in sources.iter_mut().enumerate() {
            if let Some((name, number)) = source.next() {
                heap.push(Reverse((name, number, i)));
            }
        }
        let mut numbers = Vec::new();
        let mut last: Option<String> = None;
        let merged = std::iter::from_fn(|| loop {
            let Reverse((name, number, i)) = heap.pop()?;
            if let Some(next) = sources[i].next() {
                heap.push(Reverse((next.0, next.1, i)));
            }
            if last.as_deref() == Some(name.as_str()) {
                // Runs are merged by name then number: the first of a name has the lowest.
                repeats.push((name, number));
                continue;
            }
            numbers.push(number);
            last = Some(name.clone());
            return Some(name);
        });
        let names = SortedNames::new(merged);
        numbers.shrink_to_fit();
        repeats.sort_unstable();
        Sorted { names, numbers, repeats }
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

    /// Sorting and deduplicating the obvious way: the names, their numbers and the
    /// occurrences dropped.
    fn sorted_reference(names: &[(String, u64)]) -> (Vec<String>, Vec<u64>, Vec<(String, u64)>) {
        let mut all = names.to_vec();
        all.sort();
        let mut repeats = Vec::new();
        let mut kept: Vec<(String, u64)> = Vec::new();
        for (name, n) in all {
            if kept.last().is_some_and(|k| k.0 == name) {
                repeats.push((name, n));
            } else {
                kept.push((name, n));
            }
        }
        let (names, numbers) = kept.into_iter().unzip();
        (names, numbers, repeats)
    }

    #[test]
    fn sorter_merges_batches_and_keeps_the_lowest_number() {
        let names: Vec<(String, u64)> = (0..50u64)
            .map(|i| (format!("c{}/2024-01-{:02}.json", i % 4, 1 + (i * 7) % 9), 100 - i))
            .collect();
        for batch in [1, 3, 7, 50, 1000] {
            let mut sorter = NameSorter::with_batch(batch);
            for (name, n) in &names {
                sorter.push(name, *n);
            }
            let sorted = sorter.finish();
            let (want_names, want_numbers, want_repeats) = sorted_reference(&names);
            assert_eq!(sorted.names.iter().collect::<Vec<_>>(), want_names, "batch {batch}");
            assert_eq!(sorted.numbers, want_numbers, "batch {batch}");
            assert_eq!(sorted.repeats.len(), 50 - want_names.len(), "batch {batch}");
            assert_eq!(sorted.repeats, want_repeats, "batch {batch}");
        }
        let empty = NameSorter::default().finish();
        assert!(empty.names.is_empty() && empty.numbers.is_empty() && empty.repeats.is_empty());
    }

    proptest! {
        #[test]
        fn sorter_matches_sort_and_dedup(
            names in proptest::collection::vec(
                ("[ab\u{e9}]{0,3}(/20[0-9]{2}-0[1-2]-[0-3][0-9]\\.json)?", 0u64..1000),
                0..200,
            ),
            batch in 1usize..40,
        ) {
            let mut sorter = NameSorter::with_batch(batch);
            for (name, n) in &names {
                sorter.push(name, *n);
            }
            let sorted = sorter.finish();
            let (want_names, want_numbers, want_repeats) = sorted_reference(&names);
            prop_assert_eq!(sorted.names.iter().collect::<Vec<_>>(), want_names);
            prop_assert_eq!(sorted.numbers, want_numbers);
            prop_assert_eq!(sorted.repeats, want_repeats);
        }
    }
}
