//! A conversation's thread-root timestamps, for telling a reply whose root is in the
//! export from an orphan, in memory bounded by a constant however long the conversation.
//!
//! Roots come in time order but for a few: those in order go in a sorted list of 8 bytes
//! each, the few out of order in a set. When the sorted list reaches its bound, its older
//! half is appended to a spool file, which so stays sorted; every block of that file has
//! its first value in memory, so a lookup of an old root reads one block (4 KiB).

use crate::spool::SpillFile;
use crate::ExtractError;
use std::collections::HashSet;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Roots kept in memory before the older half is spilled (128 KiB).
const IN_MEMORY: usize = 16 << 10;
/// Roots per block of the spill file.
const PER_BLOCK: usize = 512;

/// See the module doc.
pub struct ThreadRoots {
    /// Ascending, each greater than every spilled root.
    sorted: Vec<i64>,
    stragglers: HashSet<i64>,
    spill: Spill,
    in_memory: usize,
    per_block: usize,
}

/// The spilled roots: a file of ascending little-endian `i64`, created on first use.
struct Spill {
    file: SpillFile,
    /// Roots in the file.
    len: u64,
    /// The first root of each block.
    firsts: Vec<i64>,
    last: Option<i64>,
}

impl ThreadRoots {
    /// Empty; spilled roots go to `path` (created only if needed).
    pub fn new(path: PathBuf) -> Self {
        Self::with_bounds(path, IN_MEMORY, PER_BLOCK)
    }

    fn with_bounds(path: PathBuf, in_memory: usize, per_block: usize) -> Self {
        let per_block = per_block.max(1);
        // The spilled half is a whole number of blocks, so blocks never straddle spills.
        let in_memory = (in_memory / (2 * per_block)).max(1) * 2 * per_block;
        ThreadRoots {
            sorted: Vec::new(),
            stragglers: HashSet::new(),
            spill: Spill { file: SpillFile::new(path), len: 0, firsts: Vec::new(), last: None },
            in_memory,
            per_block,
        }
    }

    /// The spill file's path.
    pub fn path(&self) -> &Path {
        self.spill.file.path()
    }

    fn error(&self, e: io::Error) -> ExtractError {
        ExtractError::Output { path: self.spill.file.path().to_owned(), source: e }
    }

    /// Adds a root.
    pub fn insert(&mut self, ts: i64) -> Result<(), ExtractError> {
        let newest = self.sorted.last().copied().or(self.spill.last);
        match newest {
            Some(last) if last > ts => {
                if !self.contains(ts)? {
                    self.stragglers.insert(ts);
                }
            }
            Some(last) if last == ts => {}
            _ => {
                self.sorted.push(ts);
                if self.sorted.len() >= self.in_memory {
                    self.spill_older_half().map_err(|e| self.error(e))?;
                }
            }
        }
        Ok(())
    }

    fn spill_older_half(&mut self) -> io::Result<()> {
        let half = self.in_memory / 2;
        let spill = &mut self.spill;
        let mut bytes = Vec::with_capacity(half * 8);
        for (i, ts) in self.sorted[..half].iter().enumerate() {
            if i % self.per_block == 0 {
                spill.firsts.push(*ts);
            }
            bytes.extend_from_slice(&ts.to_le_bytes());
        }
        spill.file.open()?.write_all_at(&bytes, spill.len * 8)?;
        spill.len += half as u64;
        spill.last = Some(self.sorted[half - 1]);
        self.sorted.drain(..half);
        Ok(())
    }

    /// Whether `ts` was added.
    pub fn contains(&self, ts: i64) -> Result<bool, ExtractError> {
        if self.stragglers.contains(&ts) {
            return Ok(true);
        }
        match self.sorted.first() {
            Some(&first) if ts >= first => return Ok(self.sorted.binary_search(&ts).is_ok()),
            _ => {}
        }
        let spill = &self.spill;
        let (Some(file), Some(last)) = (spill.file.file(), spill.last) else { return Ok(false) };
        if ts > last || spill.firsts.first().is_none_or(|&f| ts < f) {
            return Ok(false);
        }
        let block = spill.firsts.partition_point(|&f| f <= ts) - 1;
        let start = (block * self.per_block) as u64;
        let n = (spill.len - start).min(self.per_block as u64) as usize;
        let mut bytes = vec![0u8; n * 8];
        file.read_exact_at(&mut bytes, start * 8).map_err(|e| self.error(e))?;
        let values: Vec<i64> =
            bytes.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8]))).collect();
        Ok(values.binary_search(&ts).is_ok())
    }

    /// Roots held in memory (for tests and bounds).
    #[cfg(test)]
    fn in_memory(&self) -> usize {
        self.sorted.len() + self.spill.firsts.len() + self.stragglers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn in_and_out_of_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut roots = ThreadRoots::new(dir.path().join("roots.bin"));
        for ts in [5, 9, 9, 12, 7, 3, 9, 20, 7] {
            roots.insert(ts).unwrap();
        }
        assert_eq!(roots.sorted, vec![5, 9, 12, 20]);
        assert_eq!(roots.stragglers, HashSet::from([7, 3]));
        for ts in [3, 5, 7, 9, 12, 20] {
            assert!(roots.contains(ts).unwrap(), "{ts}");
        }
        for ts in [0, 4, 8, 13, 21] {
            assert!(!roots.contains(ts).unwrap(), "{ts}");
        }
        assert!(!roots.path().exists(), "nothing spilled");
    }

    #[test]
    fn a_long_conversation_spills_and_still_finds_every_root() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roots.bin");
        let mut roots = ThreadRoots::with_bounds(path.clone(), 64, 8);
        // Every third value, then a few out of order (one of them already spilled).
        for ts in (0..30_000).step_by(3) {
            roots.insert(ts).unwrap();
            assert!(roots.sorted.len() < 64);
        }
        for ts in [1, 29_996, 3] {
            roots.insert(ts).unwrap();
        }
        assert!(path.exists());
        assert!(roots.in_memory() < 64 + 10_000 / 8 + 3);
        assert_eq!(roots.stragglers, HashSet::from([1, 29_996]));
        for ts in -3..30_005 {
            let added = (0..30_000).contains(&ts) && ts % 3 == 0 || ts == 1 || ts == 29_996;
            assert_eq!(roots.contains(ts).unwrap(), added, "{ts}");
        }
        drop(roots);
        assert!(!path.exists(), "the spill file is removed");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn same_answers_as_a_set(
            steps in proptest::collection::vec((0i64..50, any::<bool>()), 0..3000),
            in_memory in 2usize..40,
            per_block in 1usize..9,
        ) {
            // Mostly ascending (a step forward), sometimes a jump back.
            let dir = tempfile::tempdir().unwrap();
            let mut roots = ThreadRoots::with_bounds(dir.path().join("r.bin"), in_memory, per_block);
            let mut set = HashSet::new();
            let mut at = 0i64;
            for (step, back) in steps {
                let ts = if back { at - step * 7 } else { at + step };
                at = at.max(ts);
                roots.insert(ts).unwrap();
                set.insert(ts);
            }
            // Every root and its neighbours, added or not.
            for &ts in &set {
                for probe in [ts - 1, ts, ts + 1] {
                    prop_assert_eq!(roots.contains(probe).unwrap(), set.contains(&probe), "{}", probe);
                }
            }
        }
    }
}
