//! A sorted list of entry names kept front-coded: each name stores only how many leading
//! bytes it shares with the name before it and the bytes after those, in blocks of
//! [`BLOCK`] names that each start with a whole name.
//!
//! Owns: the compact form of an export's listing. An export lists one entry per
//! conversation per day; their names (`<folder>/YYYY-MM-DD.json`) differ from their
//! neighbours in a few bytes, so a name costs about 8 bytes here instead of an allocation
//! of its whole length, and the listing of a 90,000-file export stays under a megabyte.

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

impl SortedNames {
    /// Encodes `names`, which the caller has sorted (any order works; sorted is compact).
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut out = SortedNames::default();
        let mut prev = "";
        for name in names {
            let shared = if out.len % BLOCK == 0 {
                out.blocks.push(out.bytes.len());
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
            put_varint(&mut out.bytes, shared);
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
        let shared = get_varint(&self.bytes, at);
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
        assert!(coded.heap_bytes() < 2000 * 12, "{} bytes", coded.heap_bytes());
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

    proptest! {
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
