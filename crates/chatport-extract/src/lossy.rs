//! Streaming UTF-8 repair: a reader that passes valid UTF-8 through and replaces each
//! invalid sequence with U+FFFD, giving exactly the bytes of `String::from_utf8_lossy`
//! on the whole input, without holding the whole input.
//!
//! Owns: the chunk-boundary handling (a sequence split between two reads is joined, not
//! replaced) and the position of the first invalid byte, for the warning.

use std::io::{self, Read};

/// The UTF-8 encoding of U+FFFD REPLACEMENT CHARACTER.
const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

/// Raw bytes taken from the inner reader per refill.
const CHUNK: usize = 64 << 10;

/// A reader yielding valid UTF-8 from a byte stream, invalid sequences replaced as
/// `String::from_utf8_lossy` replaces them.
pub struct Utf8Lossy<R> {
    inner: R,
    /// Raw bytes read but not yet checked: an incomplete sequence at a chunk's end.
    pending: Vec<u8>,
    /// Offset in the raw stream of `pending[0]`.
    base: u64,
    /// Checked bytes not yet handed out, from `out_pos`.
    out: Vec<u8>,
    out_pos: usize,
    first_invalid: Option<u64>,
    eof: bool,
}

impl<R: Read> Utf8Lossy<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Utf8Lossy {
            inner,
            pending: Vec::new(),
            base: 0,
            out: Vec::new(),
            out_pos: 0,
            first_invalid: None,
            eof: false,
        }
    }

    /// Offset in the input of the first byte that was not valid UTF-8, if any so far.
    pub fn first_invalid(&self) -> Option<u64> {
        self.first_invalid
    }

    /// Reads the next raw chunk and moves its checked part to `out`.
    fn refill(&mut self) -> io::Result<()> {
        self.out.clear();
        self.out_pos = 0;
        while self.out.is_empty() && !self.eof {
            let had = self.pending.len();
            self.pending.resize(had + CHUNK, 0);
            let n = loop {
                match self.inner.read(&mut self.pending[had..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.pending.truncate(had);
                        return Err(e);
                    }
                }
            };
            self.pending.truncate(had + n);
            self.eof = n == 0;
            self.check();
        }
        Ok(())
    }

    /// Moves the checked prefix of `pending` to `out`, keeping back an incomplete sequence
    /// at its end unless the input has ended.
    fn check(&mut self) {
        let mut at = 0usize;
        for chunk in self.pending.utf8_chunks() {
            self.out.extend_from_slice(chunk.valid().as_bytes());
            at += chunk.valid().len();
            let bad = chunk.invalid();
            if bad.is_empty() {
                continue;
            }
            let at_end = at + bad.len() == self.pending.len();
            // An invalid part at the very end may be a sequence cut by the read: wait for
            // the rest (at most 3 bytes are ever held back).
            if at_end && !self.eof && std::str::from_utf8(bad).is_err_and(|e| e.error_len().is_none()) {
                break;
            }
            self.first_invalid.get_or_insert(self.base + at as u64);
            self.out.extend_from_slice(REPLACEMENT);
            at += bad.len();
        }
        self.pending.drain(..at);
        self.base += at as u64;
    }
}

impl<R: Read> Read for Utf8Lossy<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.out_pos == self.out.len() {
            self.refill()?;
        }
        let ready = &self.out[self.out_pos..];
        let n = ready.len().min(buf.len());
        buf[..n].copy_from_slice(&ready[..n]);
        self.out_pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Hands out at most `step` bytes per read, to cut sequences anywhere.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.data.len().min(self.step).min(buf.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn repaired(data: &[u8], step: usize) -> (Vec<u8>, Option<u64>) {
        let mut r = Utf8Lossy::new(Trickle { data, step });
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        (out, r.first_invalid())
    }

    fn expected_first_invalid(data: &[u8]) -> Option<u64> {
        std::str::from_utf8(data).err().map(|e| e.valid_up_to() as u64)
    }

    #[test]
    fn valid_text_passes_unchanged_and_cut_sequences_are_joined() {
        let text = "naïve 日本語 🎉 done".as_bytes();
        for step in 1..8 {
            assert_eq!(repaired(text, step), (text.to_vec(), None), "step {step}");
        }
    }

    #[test]
    fn invalid_bytes_become_replacement_characters_where_they_are() {
        let data = b"ab\xffcd\xe6\x97"; // a stray byte, then a sequence cut by the end
        for step in 1..8 {
            let (out, first) = repaired(data, step);
            assert_eq!(out, "ab\u{FFFD}cd\u{FFFD}".as_bytes(), "step {step}");
            assert_eq!(first, Some(2));
        }
    }

    #[test]
    fn an_inner_error_is_passed_on() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("crc mismatch"))
            }
        }
        let err = Utf8Lossy::new(Broken).read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(err.to_string(), "crc mismatch");
    }

    proptest! {
        #[test]
        fn same_bytes_as_from_utf8_lossy(
            parts in proptest::collection::vec(
                prop_oneof![
                    any::<String>().prop_map(String::into_bytes),
                    proptest::collection::vec(any::<u8>(), 0..6),
                ],
                0..12,
            ),
            step in 1usize..9,
        ) {
            let data: Vec<u8> = parts.concat();
            let (out, first) = repaired(&data, step);
            prop_assert_eq!(out, String::from_utf8_lossy(&data).as_bytes().to_vec());
            prop_assert_eq!(first, expected_first_invalid(&data));
        }
    }
}
