//! Cutting a day file, as it inflates, into chunks of whole messages. Each chunk is the
//! text of a JSON array of the next messages, so the memory a day file takes is bounded by
//! the chunk size and its largest message, not by the day file's size (a busy channel's
//! day can be hundreds of megabytes).
//!
//! A file smaller than the chunk size is one chunk, handed out unchanged and never scanned.
//! A larger one is scanned for the commas between the top-level elements of its array:
//! the chunk ends at the first such comma past the chunk size, which is overwritten with
//! `]`, and the next chunk starts there with `[`. A comma is only cut at when a value
//! follows it, so `[1, ]` still fails as it would whole. The scan takes 64 bytes at a
//! time (bit masks of the quotes, backslashes and brackets; SIMD on x86-64), so it costs a
//! small part of the parse it prepares. A parse error is reported at the same place as in
//! the whole file: [`Chunk::error_in_file`] maps a chunk's line and column back to the
//! file's.

use std::io::{self, Read};

/// Hands out the chunks of a JSON array read from `reader`; see the module doc.
pub struct Chunks<R> {
    reader: R,
    /// The bytes read are `buf[..filled]`; the rest of `buf` is initialized room, kept with the
    /// buffer from file to file, so a read never clears memory twice.
    buf: Vec<u8>,
    filled: usize,
    /// The current chunk starts at `buf[start]`; the bytes before it are moved out of the
    /// way only when more must be read, so a file read whole is never moved.
    start: usize,
    /// The first read's size: the declared size (and one byte to see the end), if known.
    first_read: Option<usize>,
    target: usize,
    /// The previous chunk ended at this comma (now `]`): the next one starts there.
    cut: Option<usize>,
    scan: Scan,
    eof: bool,
    done: bool,
    error: Option<io::Error>,
    /// A chunk may run this far past `target` looking for a cut; past it, one element is
    /// longer than any real message and the file is not read further.
    max_record: usize,
    too_long: bool,
    /// Offset, 0-based line and byte column in the file of `buf[0]`.
    offset: u64,
    line: u64,
    column: u64,
}

/// Where the scan of the current chunk is; it starts inside the array.
#[derive(Default)]
struct Scan {
    /// Bytes of the buffer scanned.
    scanned: usize,
    depth: u32,
    in_string: bool,
    /// The first value byte was seen (it has to be `[` for a cut to be made).
    started: bool,
    not_array: bool,
    /// A comma between top-level elements, past the chunk size, waiting for the next byte
    /// that is not white space.
    comma: Option<usize>,
}

/// One chunk: the text of a JSON array (or, for a file that is not an array, the whole
/// file), with where it starts in the file.
pub struct Chunk<'a> {
    /// The chunk's bytes.
    pub bytes: &'a [u8],
    /// Offset in the file of the chunk's first byte.
    pub offset: u64,
    /// 0-based line and byte column in the file of the chunk's first byte.
    pub line: u64,
    /// See `line`.
    pub column: u64,
    /// Whether this is the file's last chunk.
    pub last: bool,
}

impl Chunk<'_> {
    /// The message of `error`, met parsing this chunk, with the line and column it has in
    /// the whole file: the same text as parsing the whole file gives.
    pub fn error_in_file(&self, error: &serde_json::Error) -> String {
        let full = error.to_string();
        let (line, column) = (error.line(), error.column());
        if line == 0 {
            return full;
        }
        let bare = full.strip_suffix(&format!(" at line {line} column {column}")).unwrap_or(&full).to_owned();
        // serde_json's line is 1-based and its column counts from the line's start.
        let (line, column) = if line == 1 {
            (self.line + 1, self.column + column as u64)
        } else {
            (self.line + line as u64, column as u64)
        };
        format!("{bare} at line {line} column {column}")
    }
}

impl<R: Read> Chunks<R> {
    /// Reads `reader` in chunks of about `target` bytes, into `buf` (its allocation is
    /// reused, its contents overwritten). `hint` is the file's declared size, if known, to
    /// size the first read: a file declared at most `whole` bytes is read in one piece
    /// (which lets a zip entry be inflated in one call, straight into the buffer), a larger
    /// one a chunk at a time.
    pub fn new(reader: R, target: usize, buf: Vec<u8>, hint: Option<u64>, whole: u64) -> Self {
        let target = target.max(1);
        let first = |h: u64| {
            let h = usize::try_from(h).unwrap_or(usize::MAX);
            if h as u64 <= whole { h } else { h.min(target) }.saturating_add(1)
        };
        Chunks {
            reader,
            buf,
            filled: 0,
            start: 0,
            first_read: hint.map(first),
            target,
            cut: None,
            scan: Scan::default(),
            eof: false,
            done: false,
            error: None,
            max_record: MAX_RECORD_BYTES,
            too_long: false,
            offset: 0,
            line: 0,
            column: 0,
        }
    }

    /// Sets how far a chunk may run past its size for one element (default
    /// [`MAX_RECORD_BYTES`]).
    pub fn with_max_record(mut self, bytes: usize) -> Self {
        self.max_record = bytes;
        self
    }

    /// Whether the last chunk was cut short inside an element longer than the bound: the
    /// elements before it are in the chunk, the rest of the file was not read.
    pub fn record_too_long(&self) -> bool {
        self.too_long
    }

    /// The read error that ended the file early, if any (after the last chunk).
    pub fn error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }

    /// The reader.
    pub fn get_ref(&self) -> &R {
        &self.reader
    }

    /// Gives the buffer back, for the next file.
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    /// The next chunk, `None` after the last one.
    pub fn next_chunk(&mut self) -> Option<Chunk<'_>> {
        if self.done {
            return None;
        }
        if let Some(cut) = self.cut.take() {
            self.advance(cut);
            self.start = cut;
            self.buf[cut] = b'[';
            self.scan = Scan { scanned: cut + 1, depth: 1, started: true, ..Scan::default() };
        }
        loop {
            if self.filled - self.start > self.target {
                if let Some(cut) = self.find_cut() {
                    self.buf[cut] = b']';
                    self.cut = Some(cut);
                    return Some(self.chunk(cut + 1, false));
                }
                if self.scan.not_array {
                    // Not an array: its parse fails at its first value, which is in the
                    // buffer. The rest is not read (a large file of garbage is not held).
                    self.done = true;
                    return Some(self.chunk(self.filled, true));
                }
                if !self.eof && self.filled - self.start > self.target.saturating_add(self.max_record) {
                    // One element (or white space without end) longer than the bound: it
                    // is not held whole. Its parse fails where the chunk ends, after the
                    // elements before it.
                    self.too_long = true;
                    self.done = true;
                    return Some(self.chunk(self.filled, true));
                }
            }
            if self.eof {
                self.done = true;
                return Some(self.chunk(self.filled, true));
            }
            self.fill();
        }
    }

    fn chunk(&self, end: usize, last: bool) -> Chunk<'_> {
        let bytes = &self.buf[self.start..end];
        Chunk { bytes, offset: self.offset, line: self.line, column: self.column, last }
    }

    /// Moves the file position past `buf[start..to]`.
    fn advance(&mut self, to: usize) {
        let consumed = &self.buf[self.start..to];
        let n = consumed.len();
        self.offset += n as u64;
        match memchr::memrchr(b'\n', consumed) {
            Some(last) => {
                self.line += bytecount::count(consumed, b'\n') as u64;
                self.column = (n - last - 1) as u64;
            }
            None => self.column += n as u64,
        }
    }

    /// Reads up to just past the chunk size (the declared size, first), or 64 KiB more
    /// once past it (the element at the cut is longer than the rest of the buffer).
    fn fill(&mut self) {
        if self.start > 0 {
            // The chunks before are done with: the current one moves to the front.
            let start = std::mem::take(&mut self.start);
            self.buf.copy_within(start..self.filled, 0);
            self.filled -= start;
            self.scan.scanned -= start;
            self.scan.comma = self.scan.comma.map(|c| c - start);
        }
        let want = match self.first_read.take() {
            Some(first) => first,
            None => match (self.target + 1).saturating_sub(self.filled) {
                0 => 64 << 10,
                short => short.max(4 << 10),
            },
        };
        let end = self.filled.saturating_add(want);
        if self.buf.len() < end {
            if self.filled == 0 {
                // Nothing to keep: the smaller buffer goes before the larger one is taken,
                // so the two are never held at once.
                self.buf = Vec::new();
            }
            // The buffer doubles as it grows, but never past what the record bound lets a
            // chunk hold (a read is at most 64 KiB past the chunk size).
            let most = self.target.saturating_add(self.max_record).saturating_add((64 << 10) + 1);
            if end > self.buf.capacity() && self.buf.capacity().saturating_mul(2) > most {
                self.buf.reserve_exact(most.max(end) - self.buf.len());
            }
            self.buf.resize(end, 0);
        }
        while self.filled < end {
            match self.reader.read(&mut self.buf[self.filled..end]) {
                Ok(0) => {
                    self.eof = true;
                    return;
                }
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // The bytes read before the error are in the buffer.
                    self.error = Some(e);
                    self.eof = true;
                    return;
                }
            }
        }
    }

    /// Scans on from where the scan stopped, for the first comma between top-level
    /// elements at or past the chunk size that a value follows.
    fn find_cut(&mut self) -> Option<usize> {
        if self.scan.not_array {
            return None;
        }
        let buf = &self.buf[..self.filled];
        let target = self.start + self.target;
        let Scan { scanned, mut depth, mut in_string, mut started, mut comma, .. } = self.scan;
        let mut i = scanned;
        let mut cut = None;
        while i < buf.len() {
            if in_string {
                // The closing quote is the next one not escaped: after an even number of
                // backslashes (the opening quote bounds the count).
                let Some(k) = memchr::memchr(b'"', &buf[i..]) else {
                    i = buf.len();
                    break;
                };
                let quote = i + k;
                in_string = escaped(buf, quote);
                i = quote + 1;
                continue;
            }
            if started && comma.is_none() && buf.len() - i >= BLOCK {
                // Whole blocks at a time, from outside a string.
                match scan_blocks(buf, i, target, depth) {
                    Blocks::Cut(at) => {
                        cut = Some(at);
                        break;
                    }
                    Blocks::Pending(at) => {
                        comma = Some(at);
                        i = buf.len();
                        depth = 1;
                        break;
                    }
                    Blocks::Scanned { end, depth: d, in_string: s } => {
                        (i, depth, in_string) = (end, d, s);
                        continue;
                    }
                }
            }
            let b = buf[i];
            let class = CLASS[usize::from(b)];
            if class == WS {
                i += 1;
                // Indentation: eight spaces at a time.
                while let Some(word) = buf.get(i..i + 8) {
                    if word != b"        " {
                        break;
                    }
                    i += 8;
                }
                continue;
            }
            if let Some(at) = comma.take() {
                if b != b']' {
                    cut = Some(at);
                    break;
                }
            }
            if !started {
                if b != b'[' {
                    self.scan.not_array = true;
                    self.scan.scanned = buf.len();
                    return None;
                }
                // The array's own `[`: no value yet.
                started = true;
                depth = 1;
                i += 1;
                continue;
            }
            match class {
                QUOTE => in_string = true,
                OPEN => depth += 1,
                CLOSE => depth = depth.saturating_sub(1),
                COMMA if depth == 1 && i >= target && follows_value(buf, i) => comma = Some(i),
                _ => {}
            }
            i += 1;
        }
        self.scan = Scan { scanned: i, depth, in_string, started, not_array: false, comma };
        cut
    }
}

/// The 0-based index, among the top-level elements of the array `chunk` (a chunk as
/// [`Chunks`] gives it, or a whole file), of the element holding byte `at`: the commas
/// between top-level elements before it, outside strings. For naming the record of a
/// problem found in the bytes (invalid UTF-8) rather than by the parser; a byte-at-a-time
/// walk, as such problems are rare.
pub fn element_at(chunk: &[u8], at: usize) -> u64 {
    let mut counter = ElementCounter::default();
    counter.feed(&chunk[..at.min(chunk.len())]);
    counter.index()
}

/// [`element_at`] over a stream: fed the bytes of an array piece by piece, it tells the
/// index of the top-level element the next byte belongs to.
#[derive(Debug, Default)]
pub struct ElementCounter {
    depth: u32,
    in_string: bool,
    escape: bool,
    commas: u64,
}

impl ElementCounter {
    /// Walks the next bytes of the array.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.in_string {
                match (self.escape, b) {
                    (true, _) => self.escape = false,
                    (false, b'\\') => self.escape = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'[' | b'{' => self.depth += 1,
                b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                b',' if self.depth == 1 => self.commas += 1,
                _ => {}
            }
        }
    }

    /// The 0-based index of the element the next byte belongs to.
    pub fn index(&self) -> u64 {
        self.commas
    }
}

/// Whether the quote at `quote` is escaped: an odd number of backslashes right before it.
fn escaped(buf: &[u8], quote: usize) -> bool {
    buf[..quote].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

/// Whether the top-level comma at `comma` follows an element: a cut is only made after a
/// value, not right after the array's `[` or another comma (where the parse fails).
fn follows_value(buf: &[u8], comma: usize) -> bool {
    // White space is outside strings, so the byte before it is structural or a value's
    // last byte; a `[` or `,` there is the array's own, as the comma is at depth 1.
    !matches!(buf[..comma].iter().rev().find(|b| CLASS[usize::from(**b)] != WS), Some(b'[' | b','))
}

/// The scan works on blocks of this many bytes, one bit per byte in a `u64`.
const BLOCK: usize = 64;

/// How far past its size a chunk may run inside one element: 64 MiB, hundreds of times
/// the largest message Slack writes (its text is bounded at 40,000 characters, and files
/// and blocks are references and short structures).
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// How [`scan_blocks`] ended.
enum Blocks {
    /// At a cut: a top-level comma past the chunk size, a value after it.
    Cut(usize),
    /// At a top-level comma past the chunk size with only white space after it in the
    /// buffer: whether a value follows is not known yet.
    Pending(usize),
    /// No cut in the whole blocks, which end at `end` with this state.
    Scanned { end: usize, depth: u32, in_string: bool },
}

/// Scans the whole blocks of `buf` from `start` (outside a string, at `depth`) a block at
/// a time: where the quotes, backslashes and structural bytes are is found for 64 bytes
/// at once, which bytes are inside strings follows from the unescaped quotes (a running
/// XOR), and only the structural bytes outside strings are visited one by one.
fn scan_blocks(buf: &[u8], start: usize, target: usize, depth: u32) -> Blocks {
    // Signed: below the chunk size, a block's brackets are counted, not visited in order,
    // so the depth can dip below 0 where the byte-by-byte scan stops at 0. Only input that
    // has failed to parse before that point can do so; any cut past it leaves the failure
    // where it is.
    let mut depth = i64::from(depth);
    let mut in_string = 0u64;
    // Whether the block's first byte is escaped (a backslash ended the previous block).
    let mut escape_carry = false;
    let mut at = start;
    while let Some(block) = buf[at..].first_chunk::<BLOCK>() {
        let m = masks(block);
        let mut escaped = u64::from(escape_carry);
        escape_carry = false;
        let mut backslashes = m.backslash;
        while backslashes != 0 {
            let k = backslashes.trailing_zeros();
            backslashes &= backslashes - 1;
            if escaped & (1 << k) == 0 {
                if k == 63 {
                    escape_carry = true;
                } else {
                    escaped |= 1 << (k + 1);
                }
            }
        }
        let inside = prefix_xor(m.quote & !escaped) ^ in_string;
        in_string = 0u64.wrapping_sub(inside >> 63);
        let (open, close) = (m.open & !inside, m.close & !inside);
        if at + BLOCK <= target {
            // No cut before the chunk size: only the depth counts.
            depth += i64::from(open.count_ones()) - i64::from(close.count_ones());
            at += BLOCK;
            continue;
        }
        let mut structural = open | close | (m.comma & !inside);
        while structural != 0 {
            let k = structural.trailing_zeros();
            structural &= structural - 1;
            let pos = at + k as usize;
            match buf[pos] {
                b',' => {
                    if depth == 1 && pos >= target && follows_value(buf, pos) {
                        match buf[pos + 1..].iter().find(|b| CLASS[usize::from(**b)] != WS) {
                            Some(b']') => {}
                            Some(_) => return Blocks::Cut(pos),
                            None => return Blocks::Pending(pos),
                        }
                    }
                }
                b'[' | b'{' => depth += 1,
                _ => depth -= 1,
            }
        }
        at += BLOCK;
    }
    // A block ending in a backslash inside a string: the scalar scan counts it again.
    Blocks::Scanned {
        end: at,
        depth: u32::try_from(depth.max(0)).unwrap_or(u32::MAX),
        in_string: in_string != 0,
    }
}

/// For each bit, the XOR of it and the bits below: bit k is set when an odd number of
/// quotes is at or before byte k, i.e. byte k is inside a string (its opening quote
/// included, its closing quote not).
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// Where the bytes the scan cares about are in one block: bit k is byte k.
#[derive(Default, Debug, PartialEq, Eq)]
struct Masks {
    quote: u64,
    backslash: u64,
    /// `[` and `{`.
    open: u64,
    /// `]` and `}`.
    close: u64,
    comma: u64,
}

/// [`Masks`] of a block, 16 bytes per instruction.
#[cfg(target_arch = "x86_64")]
fn masks(block: &[u8; BLOCK]) -> Masks {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    let mut m = Masks::default();
    // SAFETY: SSE2 is part of every x86-64 CPU; each load reads the 16 bytes at 16k, which
    // are within the block, and needs no alignment.
    unsafe {
        let bits = |v: __m128i, byte: u8| {
            let eq = _mm_cmpeq_epi8(v, _mm_set1_epi8(byte as i8));
            u64::from(_mm_movemask_epi8(eq) as u16)
        };
        for k in 0..BLOCK / 16 {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * k).cast());
            // `[` and `{`, `]` and `}` differ only in bit 5.
            let folded = _mm_or_si128(v, _mm_set1_epi8(0x20));
            let shift = 16 * k;
            m.quote |= bits(v, b'"') << shift;
            m.backslash |= bits(v, b'\\') << shift;
            m.open |= bits(folded, b'{') << shift;
            m.close |= bits(folded, b'}') << shift;
            m.comma |= bits(v, b',') << shift;
        }
    }
    m
}

/// [`Masks`] of a block, a byte at a time (other targets, and the reference in tests).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn masks_by_byte(block: &[u8; BLOCK]) -> Masks {
    let mut m = Masks::default();
    for (k, &b) in block.iter().enumerate() {
        let bit = 1u64 << k;
        match b {
            b'"' => m.quote |= bit,
            b'\\' => m.backslash |= bit,
            b'[' | b'{' => m.open |= bit,
            b']' | b'}' => m.close |= bit,
            b',' => m.comma |= bit,
            _ => {}
        }
    }
    m
}

#[cfg(not(target_arch = "x86_64"))]
fn masks(block: &[u8; BLOCK]) -> Masks {
    masks_by_byte(block)
}

/// Byte classes for the scan.
const WS: u8 = 0;
const OTHER: u8 = 1;
const QUOTE: u8 = 2;
const OPEN: u8 = 3;
const CLOSE: u8 = 4;
const COMMA: u8 = 5;

const CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    t[b' ' as usize] = WS;
    t[b'\n' as usize] = WS;
    t[b'\r' as usize] = WS;
    t[b'\t' as usize] = WS;
    t[b'"' as usize] = QUOTE;
    t[b'[' as usize] = OPEN;
    t[b'{' as usize] = OPEN;
    t[b']' as usize] = CLOSE;
    t[b'}' as usize] = CLOSE;
    t[b',' as usize] = COMMA;
    t
};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Yields at most `step` bytes a read.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// The chunks of `text` cut at `target`, as strings, the same with reads of any size
    /// and with the file read in one piece.
    fn chunks(text: &str, target: usize) -> Vec<String> {
        let read = |reader: &mut dyn Read, hint: Option<u64>, whole: u64| {
            let mut c = Chunks::new(reader, target, Vec::new(), hint, whole);
            let mut out = Vec::new();
            while let Some(chunk) = c.next_chunk() {
                out.push(String::from_utf8(chunk.bytes.to_vec()).unwrap());
            }
            out
        };
        let streamed = read(&mut text.as_bytes(), None, 0);
        assert_eq!(read(&mut Trickle(text.as_bytes(), 3), None, 0), streamed);
        // Text that is not an array is one chunk of what was read: with the file read in
        // one piece, all of it.
        if text.trim_start().starts_with('[') {
            let len = text.len() as u64;
            assert!(read(&mut text.as_bytes(), Some(len), len) == streamed, "read whole");
            assert!(read(&mut Trickle(text.as_bytes(), 5), Some(len), len) == streamed);
        }
        streamed
    }

    #[test]
    fn the_element_holding_a_byte_is_found() {
        let text = r#"[{"a":"x,y[{"},  {"b":[1,2,{"c":"\\\""}]} , "s,\"]",3]"#;
        let at = |needle: &str| text.find(needle).unwrap();
        assert_eq!(element_at(text.as_bytes(), 0), 0);
        assert_eq!(element_at(text.as_bytes(), at("x,y")), 0);
        assert_eq!(element_at(text.as_bytes(), at(r#""b""#)), 1);
        assert_eq!(element_at(text.as_bytes(), at(r#""c""#)), 1);
        assert_eq!(element_at(text.as_bytes(), at("s,")), 2);
        assert_eq!(element_at(text.as_bytes(), at("3]")), 3);
        assert_eq!(element_at(text.as_bytes(), text.len() + 10), 3, "past the end: the last element");
        // Fed in pieces of every size, the stream counter agrees at every byte.
        for piece in 1..=text.len() {
            let mut counter = ElementCounter::default();
            for (i, part) in text.as_bytes().chunks(piece).enumerate() {
                counter.feed(part);
                let fed = ((i + 1) * piece).min(text.len());
                assert_eq!(counter.index(), element_at(text.as_bytes(), fed), "piece {piece}, {fed} bytes");
            }
        }
    }

    #[test]
    fn an_element_longer_than_the_bound_ends_the_file_after_the_ones_before() {
        let small = r#"{"ts":"1"},{"ts":"2"}"#;
        let giant = format!(r#"{{"text":"{}"}}"#, "x".repeat(5000));
        for (text, reads_all) in [
            (format!("[{small},{giant},{small}]"), false),
            (format!("[{small},{}", " ".repeat(5000)), false),
            (format!("[{small},{giant}]"), false),
            // Under the bound, the same element is read whole.
            (format!("[{small},{}]", "y".repeat(10)), true),
        ] {
            let mut c = Chunks::new(text.as_bytes(), 10, Vec::new(), None, 0).with_max_record(1000);
            let mut got = Vec::new();
            while let Some(chunk) = c.next_chunk() {
                got.push(chunk.bytes.to_vec());
            }
            assert_eq!(c.record_too_long(), !reads_all, "{text:.40}");
            if reads_all {
                continue;
            }
            // The elements before are read, the long one fails where the last chunk ends,
            // and what was held of it is at most the bound past the chunk size (and a read).
            let parsed: Vec<_> = got.iter().map(|c| parse(c, None)).collect();
            assert_eq!(parsed.iter().map(|p| p.0.len()).sum::<usize>(), 2, "{text:.40}");
            assert!(parsed.last().unwrap().1.is_some(), "the long element does not parse");
            assert!(got.last().unwrap().len() <= 10 + 1000 + (64 << 10) + 1);
        }
    }

    /// What parsing `text` as an array of values gives: the values read before an error
    /// and the error's message, line and column; chunk by chunk when `target` is given.
    fn parse(text: &[u8], target: Option<usize>) -> (Vec<serde_json::Value>, Option<String>) {
        use serde::de::Deserializer as _;
        fn one(bytes: &[u8], values: &mut Vec<serde_json::Value>) -> Result<(), serde_json::Error> {
            struct Each<'v>(&'v mut Vec<serde_json::Value>);
            impl<'de> serde::de::Visitor<'de> for Each<'_> {
                type Value = ();
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an array")
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
                    while let Some(v) = seq.next_element()? {
                        self.0.push(v);
                    }
                    Ok(())
                }
            }
            let mut de = serde_json::Deserializer::from_slice(bytes);
            (&mut de).deserialize_seq(Each(values))?;
            de.end()
        }
        let mut values = Vec::new();
        let Some(target) = target else {
            let error = one(text, &mut values).err().map(|e| e.to_string());
            return (values, error);
        };
        // Streamed, or read in one piece when the target is odd: both must give the same.
        let (hint, whole) = if target % 2 == 1 { (Some(text.len() as u64), u64::MAX) } else { (None, 0) };
        let mut c = Chunks::new(text, target, Vec::new(), hint, whole);
        while let Some(chunk) = c.next_chunk() {
            if let Err(e) = one(chunk.bytes, &mut values) {
                return (values, Some(chunk.error_in_file(&e)));
            }
        }
        (values, None)
    }

    #[test]
    fn small_files_are_one_chunk() {
        assert_eq!(chunks(r#"[{"a":1},{"b":2}]"#, 100), vec![r#"[{"a":1},{"b":2}]"#]);
        assert_eq!(chunks("", 100), vec![""]);
    }

    #[test]
    fn large_files_are_cut_between_elements() {
        let text = r#"[{"a":"x,y"},{"b":[1,2]}, {"c":"\",]"} ,{"d":{}}]"#;
        let got = chunks(text, 1);
        assert_eq!(got, vec![r#"[{"a":"x,y"}]"#, r#"[{"b":[1,2]}]"#, r#"[ {"c":"\",]"} ]"#, r#"[{"d":{}}]"#]);
        assert_eq!(parse(text.as_bytes(), Some(1)), parse(text.as_bytes(), None));
    }

    /// Past the first read, the chunks done with are moved out of the buffer before it is
    /// filled again, with the scan's place: cuts are where the rule puts them all along.
    #[test]
    fn a_file_larger_than_a_read_is_cut_where_the_rule_says() {
        let elements: Vec<String> = (0..2_000)
            .map(|i| {
                let text = "a\\\"b\\\\c[d]{e},f ".repeat(i % 7);
                format!("{{\"text\":\"{text}\",\"n\":[{i},{{\"x\":\"]}}\"}}]}}")
            })
            .collect();
        let text = format!("[\n{}\n]", elements.join(",\n  "));
        assert!(text.len() > 150_000, "{}", text.len());
        for target in [3_000, 70_000] {
            let got = chunks(&text, target);
            assert!(got.len() > 2);
            assert!(got == chunks_by_rule(&text, target), "target {target}");
        }
        // A comma past the chunk size whose white space runs past the buffer: where it is
        // moves with the buffer's contents.
        let element = format!("\"{}\"", "x".repeat(98));
        let text = format!("[{element},{element},{}{element}]", " ".repeat(70_000));
        assert_eq!(chunks(&text, 100), chunks_by_rule(&text, 100));
        assert_eq!(chunks(&text, 100).len(), 3);
    }

    #[test]
    fn no_cut_before_a_closing_bracket_or_outside_an_array() {
        // A trailing comma stays in its chunk, so the parse fails as it would whole.
        assert_eq!(chunks("[1, ]", 1), vec!["[1, ]"]);
        // Not an array: one chunk of what was read, which the parse fails on at once.
        let object = format!(r#"{{"a":[{}]}}"#, vec!["1"; 100_000].join(","));
        let got = chunks(&object, 1000);
        assert_eq!(got.len(), 1);
        assert!(got[0].len() < 100 << 10 && object.starts_with(&got[0]), "{}", got[0].len());
        assert_eq!(parse(object.as_bytes(), Some(1000)), parse(object.as_bytes(), None));
        assert_eq!(chunks("  7, 8", 1), vec!["  7, 8"]);
        assert_eq!(parse(b"\xef\xbb\xbf[1,2]", Some(1)), parse(b"\xef\xbb\xbf[1,2]", None));
    }

    #[test]
    fn errors_are_placed_as_in_the_whole_file() {
        for text in [
            "[\n  1,\n  2,\n  x\n]",
            "[1,2,3,4,5,x]",
            "[1,2,,3]",
            "[1,2] x",
            "[1,2,3",
            "[1,\n2,\n3,\n",
            "[ ,1,2]",
            "[,]",
            "[1,2,]",
        ] {
            for target in 1..8 {
                assert_eq!(
                    parse(text.as_bytes(), Some(target)),
                    parse(text.as_bytes(), None),
                    "{text:?} {target}"
                );
            }
        }
    }

    #[test]
    fn a_read_error_ends_the_chunks_with_the_bytes_before_it() {
        let failing = b"[1,2,3,4".chain(Trickle(&[], 1)).chain(Failing);
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("CRC mismatch"))
            }
        }
        let mut c = Chunks::new(failing, 2, Vec::new(), None, 0);
        let mut got = Vec::new();
        while let Some(chunk) = c.next_chunk() {
            got.push(String::from_utf8(chunk.bytes.to_vec()).unwrap());
        }
        assert_eq!(got, vec!["[1]", "[2]", "[3]", "[4"]);
        assert_eq!(c.error().map(ToString::to_string).as_deref(), Some("CRC mismatch"));
    }

    /// A JSON array of values, with strings full of escapes and brackets.
    fn arb_array() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("1".to_owned()),
            Just("null".to_owned()),
            "[a-z,\\[\\]{}\"\\\\/ ]{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        ];
        let value = leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
                proptest::collection::vec(inner, 0..4).prop_map(|v| {
                    let members: Vec<String> =
                        v.iter().enumerate().map(|(i, x)| format!("\"k{i}\":{x}")).collect();
                    format!("{{{}}}", members.join(" ,\n"))
                }),
            ]
        });
        let ws = prop_oneof![Just(""), Just(" "), Just("\n  ")];
        // Up to 40 elements: long enough for the block scan, which needs 64 bytes.
        proptest::collection::vec((value, ws), 0..40).prop_map(|elements| {
            let mut text = String::from("[");
            for (i, (v, ws)) in elements.iter().enumerate() {
                if i > 0 {
                    text.push(',');
                }
                text.push_str(ws);
                text.push_str(v);
            }
            text.push(']');
            text
        })
    }

    /// Text that is mostly a JSON array of values, sometimes broken.
    fn arb_text() -> impl Strategy<Value = Vec<u8>> {
        (arb_array(), any::<Option<(prop::sample::Index, u8)>>()).prop_map(|(text, damage)| {
            let mut bytes = text.into_bytes();
            if let Some((at, byte)) = damage {
                let at = at.index(bytes.len());
                match byte % 3 {
                    0 => bytes.truncate(at),
                    1 => bytes.insert(at, b",]x\"{ \\"[usize::from(byte) % 7]),
                    _ => {
                        bytes.remove(at);
                    }
                }
            }
            bytes
        })
    }

    /// The chunks of a valid array by the module doc's rule, read a byte at a time: each
    /// ends at the first top-level comma at or past `target` bytes into it that has a value
    /// on both sides.
    fn chunks_by_rule(text: &str, target: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = text.to_owned();
        loop {
            let bytes = rest.as_bytes();
            let value_at = |from: usize, step: isize| {
                let mut i = from as isize;
                while let Some(&b) = bytes.get(i as usize).filter(|_| i >= 0) {
                    if !b.is_ascii_whitespace() {
                        return Some(b);
                    }
                    i += step;
                }
                None
            };
            let (mut depth, mut in_string, mut escaped, mut cut) = (0, false, false, None);
            for (i, &b) in bytes.iter().enumerate() {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' if in_string => escaped = true,
                    b'"' => in_string = !in_string,
                    _ if in_string => {}
                    b'[' | b'{' => depth += 1,
                    b']' | b'}' => depth -= 1,
                    b',' if depth == 1
                        && i >= target
                        && bytes.len() > target
                        && !matches!(value_at(i - 1, -1), Some(b'[' | b','))
                        && !matches!(value_at(i + 1, 1), Some(b']') | None) =>
                    {
                        cut = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let Some(cut) = cut else {
                out.push(rest);
                return out;
            };
            out.push(format!("{}]", &rest[..cut]));
            rest = format!("[{}", &rest[cut + 1..]);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn chunked_parse_matches_the_whole_parse(text in arb_text(), target in 1usize..300) {
            prop_assert_eq!(parse(&text, Some(target)), parse(&text, None));
        }

        #[test]
        fn valid_arrays_are_cut_where_the_rule_says(text in arb_array(), target in 1usize..300) {
            prop_assert_eq!(chunks(&text, target), chunks_by_rule(&text, target));
        }

        #[test]
        fn block_masks_match_the_bytes(bytes in proptest::collection::vec(
            prop::sample::select(b"\"\\[]{},x \n".to_vec()), BLOCK)) {
            let block: &[u8; BLOCK] = bytes.as_slice().try_into().unwrap();
            prop_assert_eq!(masks(block), masks_by_byte(block));
        }
    }
}
