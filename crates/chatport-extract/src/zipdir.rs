//! A compact reader of a zip archive's central directory and of single entries.
//!
//! Owns: finding the end-of-central-directory record (zip64 included), listing every entry
//! one record at a time (where its data is, how it is compressed, its sizes and CRC),
//! reading one record again by its offset, and opening one entry as a bounded, CRC-checked
//! stream from positional reads (a deflated entry of up to 1 MiB is inflated in one call
//! by libdeflate, which is faster, and read from there). A general zip library keeps
//! hundreds of bytes per entry (names twice, extra fields, times, a name index); an export
//! of 80,000 day files then costs tens of megabytes before a message is read. Here the
//! directory stays on disk: a caller keeps a record's offset and reads the record again
//! when it opens the entry.
//!
//! Only what exports use is supported: stored and deflated entries, unencrypted. Anything
//! else is an error for that entry, never a panic. Archives whose directory cannot be found
//! are left to the caller (which recovers them by scanning local headers).

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;

/// Where one entry's data is and how to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZipEntry {
    /// Offset of the entry's local header in the file.
    pub header_offset: u64,
    /// Bytes of (compressed) data.
    pub compressed_size: u64,
    /// Bytes once inflated, as declared by the directory.
    pub size: u64,
    /// CRC-32 of the inflated bytes, as declared.
    pub crc32: u32,
    /// Compression method (0 stored, 8 deflate).
    pub method: u16,
    /// General-purpose flags (bit 0: encrypted).
    pub flags: u16,
    /// Whether the directory marks the entry as a symbolic link (a Unix file type in its
    /// external attributes): its data is a link target, never exported content.
    pub symlink: bool,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn read_exact_at(file: &File, len: u64, offset: u64, n: usize) -> Result<Vec<u8>, String> {
    if offset.checked_add(n as u64).is_none_or(|end| end > len) {
        return Err(format!("a record at offset {offset} runs past the end of the file"));
    }
    let mut buf = vec![0; n];
    file.read_exact_at(&mut buf, offset).map_err(|e| e.to_string())?;
    Ok(buf)
}

/// Code page 437 for bytes 0x80..=0xFF: the zip default for names not flagged UTF-8.
const CP437_HIGH: &str = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u{a0}";

/// An entry name as text: UTF-8 when flagged or valid, otherwise code page 437.
fn decode_name(raw: &[u8], utf8_flag: bool) -> String {
    match std::str::from_utf8(raw) {
        Ok(s) => s.to_owned(),
        Err(_) if utf8_flag => String::from_utf8_lossy(raw).into_owned(),
        Err(_) => {
            let high: Vec<char> = CP437_HIGH.chars().collect();
            raw.iter().map(|&b| if b < 0x80 { char::from(b) } else { high[usize::from(b - 0x80)] }).collect()
        }
    }
}

/// Where an archive's central directory is.
#[derive(Debug, Clone, Copy)]
pub struct Directory {
    /// Offset of the first record in the file.
    start: u64,
    /// Bytes of records.
    size: u64,
    /// Bytes prepended to the archive (a self-extractor stub): added to every offset.
    shift: u64,
}

/// Finds the central directory from the end record (zip64 included). Fails (with a
/// message for the caller's warning) when there is none.
pub fn find_directory(file: &File, len: u64) -> Result<Directory, String> {
    // The end record is the last 22 bytes plus a comment of at most 65,535 bytes.
    let tail_len = len.min(22 + 65_535);
    let tail_start = len - tail_len;
    let tail = read_exact_at(file, len, tail_start, tail_len as usize)?;
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| {
            u32_at(&tail, i) == Some(EOCD_SIG)
                && u16_at(&tail, i + 20).is_some_and(|c| i + 22 + usize::from(c) <= tail.len())
        })
        .ok_or("no end-of-central-directory record (truncated or not a zip)")?;
    let eocd_pos = tail_start + eocd as u64;
    let mut cd_size = u64::from(u32_at(&tail, eocd + 12).unwrap_or(0));
    let mut cd_offset = u64::from(u32_at(&tail, eocd + 16).unwrap_or(0));
    let mut cd_end = eocd_pos;
    // A zip64 end record, when its locator sits just before the end record.
    if eocd_pos >= 20 {
        let loc = read_exact_at(file, len, eocd_pos - 20, 20)?;
        if u32_at(&loc, 0) == Some(ZIP64_LOCATOR_SIG) {
            let at = u64_at(&loc, 8).unwrap_or(u64::MAX);
            let rec = read_exact_at(file, len, at, 56)?;
            if u32_at(&rec, 0) != Some(ZIP64_EOCD_SIG) {
                return Err(format!("the zip64 end record at offset {at} is missing"));
            }
            cd_size = u64_at(&rec, 40).unwrap_or(0);
            cd_offset = u64_at(&rec, 48).unwrap_or(0);
            cd_end = at;
        }
    }
    // Data prepended to the archive (a self-extractor stub) shifts every offset.
    let shift = cd_end
        .checked_sub(cd_size)
        .and_then(|start| start.checked_sub(cd_offset))
        .ok_or("the central directory is larger than the file")?;
    let start = cd_offset + shift;
    if cd_size > len || start.checked_add(cd_size).is_none_or(|e| e > len) {
        return Err("the central directory runs past the end of the file".into());
    }
    Ok(Directory { start, size: cd_size, shift })
}

/// Bytes of a central directory record before its name.
const RECORD_HEAD: usize = 46;

/// The fixed part of a central directory record.
struct RecordHead {
    entry: ZipEntry,
    name_len: usize,
    extra_len: usize,
    comment_len: usize,
}

impl RecordHead {
    fn parse(h: &[u8]) -> Option<RecordHead> {
        if u32_at(h, 0)? != CENTRAL_SIG {
            return None;
        }
        Some(RecordHead {
            entry: ZipEntry {
                header_offset: u64::from(u32_at(h, 42)?),
                compressed_size: u64::from(u32_at(h, 20)?),
                size: u64::from(u32_at(h, 24)?),
                crc32: u32_at(h, 16)?,
                method: u16_at(h, 10)?,
                flags: u16_at(h, 8)?,
                // Made by Unix or OS X (high byte of "version made by" 3 or 19): the
                // external attributes' high half is the file's mode, 0o120000 a link.
                symlink: matches!(u16_at(h, 4)? >> 8, 3 | 19)
                    && (u32_at(h, 38)? >> 16) & 0o170_000 == 0o120_000,
            },
            name_len: usize::from(u16_at(h, 28)?),
            extra_len: usize::from(u16_at(h, 30)?),
            comment_len: usize::from(u16_at(h, 32)?),
        })
    }

    /// Bytes after the fixed part: name, extra field, comment.
    fn tail_len(&self) -> usize {
        self.name_len + self.extra_len + self.comment_len
    }

    /// The entry, with the zip64 sizes and offset from `extra` for the fields saturated
    /// in the fixed part, and the archive's shift applied.
    fn finish(mut self, extra: &[u8], shift: u64) -> Option<ZipEntry> {
        let e = &mut self.entry;
        let mut at = 0;
        while at + 4 <= extra.len() {
            let id = u16_at(extra, at)?;
            let n = usize::from(u16_at(extra, at + 2)?);
            let body = extra.get(at + 4..at + 4 + n)?;
            if id == 0x0001 {
                let mut p = 0;
                for slot in [&mut e.size, &mut e.compressed_size, &mut e.header_offset] {
                    if *slot == u64::from(u32::MAX) {
                        *slot = u64_at(body, p)?;
                        p += 8;
                    }
                }
            }
            at += 4 + n;
        }
        e.header_offset = e.header_offset.checked_add(shift)?;
        Some(self.entry)
    }
}

/// Streams the directory's records in order to `each(record_offset, name, entry)`;
/// `record_offset` finds the record again ([`entry_at`]). Only one record is in memory
/// at a time. Fails on the first damaged record.
pub fn for_each_entry(
    file: &File,
    len: u64,
    dir: &Directory,
    mut each: impl FnMut(u64, String, ZipEntry),
) -> Result<(), String> {
    let end = dir.start + dir.size;
    let mut reader =
        io::BufReader::with_capacity(64 << 10, PositionedReader { file, pos: dir.start, end: end.min(len) });
    let mut head = [0u8; RECORD_HEAD];
    let mut tail = Vec::new();
    let (mut at, mut count) = (dir.start, 0u64);
    while at < end {
        let bad = || format!("central directory record {count} at offset {at} is damaged");
        reader.read_exact(&mut head).map_err(|_| bad())?;
        let h = RecordHead::parse(&head).ok_or_else(bad)?;
        tail.resize(h.tail_len(), 0);
        reader.read_exact(&mut tail).map_err(|_| bad())?;
        let name = decode_name(&tail[..h.name_len], h.entry.flags & 0x0800 != 0);
        let record_len = (RECORD_HEAD + h.tail_len()) as u64;
        let extra = &tail[h.name_len..h.name_len + h.extra_len];
        let entry = h.finish(extra, dir.shift).ok_or_else(bad)?;
        each(at, name, entry);
        at += record_len;
        count += 1;
    }
    Ok(())
}

/// The entry whose directory record is at `record_offset` (as [`for_each_entry`] gave it).
pub fn entry_at(file: &File, len: u64, dir: &Directory, record_offset: u64) -> Result<ZipEntry, String> {
    let bad = || format!("the central directory record at offset {record_offset} is damaged");
    let head = read_exact_at(file, len, record_offset, RECORD_HEAD)?;
    let h = RecordHead::parse(&head).ok_or_else(bad)?;
    let extra = read_exact_at(file, len, record_offset + (RECORD_HEAD + h.name_len) as u64, h.extra_len)?;
    h.finish(&extra, dir.shift).ok_or_else(bad)
}

/// The zip's entries, in directory order, with their names. Fails (with a message for
/// the caller's warning) when no valid central directory can be found.
pub fn read_directory(file: &File, len: u64) -> Result<Vec<(String, ZipEntry)>, String> {
    let dir = find_directory(file, len)?;
    let mut out = Vec::new();
    for_each_entry(file, len, &dir, |_, name, entry| out.push((name, entry)))?;
    Ok(out)
}

/// Opens one entry's inflated bytes as a stream that fails on a CRC or size mismatch at
/// its end.
pub fn open_entry<'a>(file: &'a File, len: u64, e: &ZipEntry) -> Result<impl Read + 'a, String> {
    if e.flags & 1 != 0 {
        return Err("the entry is encrypted".into());
    }
    let local = read_exact_at(file, len, e.header_offset, 30)?;
    if u32_at(&local, 0) != Some(LOCAL_SIG) {
        return Err(format!("no local header at offset {}", e.header_offset));
    }
    let skip = 30 + u64::from(u16_at(&local, 26).unwrap_or(0)) + u64::from(u16_at(&local, 28).unwrap_or(0));
    let start = e.header_offset + skip;
    if start.checked_add(e.compressed_size).is_none_or(|end| end > len) {
        return Err("the entry's data runs past the end of the file".into());
    }
    let raw = PositionedReader { file, pos: start, end: start + e.compressed_size };
    let inner: Box<dyn Read + 'a> = match e.method {
        0 => Box::new(raw),
        8 if e.size <= WHOLE_ENTRY_BYTES && e.compressed_size <= WHOLE_ENTRY_BYTES => {
            Box::new(Whole { raw: Some(raw), size: e.size as usize, state: WholeState::Fresh })
        }
        8 => Box::new(stream(raw)),
        m => return Err(format!("compression method {m} is not supported")),
    };
    Ok(Checked {
        inner,
        hasher: crc32fast::Hasher::new(),
        seen: 0,
        crc32: e.crc32,
        size: e.size,
        overrun: false,
    })
}

/// Deflated entries of at most this many bytes, compressed and inflated, are inflated in
/// one call by libdeflate (about 1.6 times as fast as zlib-rs on export text); larger ones
/// stream, so what is held stays bounded.
pub const WHOLE_ENTRY_BYTES: u64 = 1 << 20;

fn stream(raw: PositionedReader<'_>) -> flate2::read::DeflateDecoder<PositionedReader<'_>> {
    flate2::read::DeflateDecoder::new_with_buf(raw, vec![0; 64 << 10])
}

thread_local! {
    /// A thread's buffer for [`Whole`]'s compressed bytes. Taken while in use (a thread can
    /// open another entry before it is done with one) and given back after.
    static COMPRESSED: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// A deflated entry inflated in one call: straight into the first read's buffer when it
/// has room for the declared size (day files), otherwise into a buffer of its own that it
/// is then read from and that goes with it (metadata files, read a piece at a time). When
/// libdeflate refuses the data (corrupt, or longer than declared), the entry is streamed
/// from its start instead, so the bytes before the problem are read and the error is the
/// one streaming gives.
struct Whole<'a> {
    raw: Option<PositionedReader<'a>>,
    size: usize,
    state: WholeState<'a>,
}

enum WholeState<'a> {
    Fresh,
    Inflated { buf: Vec<u8>, at: usize, len: usize },
    Streaming(flate2::read::DeflateDecoder<PositionedReader<'a>>),
    Done,
}

impl Whole<'_> {
    /// Inflates the entry into `out` (at least `size` bytes), giving the inflated length,
    /// or `None` when its data cannot be read or libdeflate refuses it (streaming then
    /// meets the same problem after the bytes before it).
    fn inflate(&self, out: &mut [u8]) -> Option<usize> {
        let raw = self.raw.as_ref()?;
        let mut compressed = COMPRESSED.take();
        compressed.resize(usize::try_from(raw.end - raw.pos).unwrap_or(usize::MAX), 0);
        let inflated = match raw.file.read_exact_at(&mut compressed, raw.pos) {
            Ok(()) => {
                libdeflater::Decompressor::new().deflate_decompress(&compressed, &mut out[..self.size]).ok()
            }
            Err(_) => None,
        };
        COMPRESSED.set(compressed);
        inflated
    }
}

impl Read for Whole<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let WholeState::Fresh = self.state {
            if buf.len() >= self.size {
                if let Some(n) = self.inflate(buf) {
                    self.state = WholeState::Done;
                    return Ok(n);
                }
            } else {
                let mut inflated = vec![0; self.size];
                if let Some(len) = self.inflate(&mut inflated) {
                    self.state = WholeState::Inflated { buf: inflated, at: 0, len };
                }
            }
            if let WholeState::Fresh = self.state {
                let raw = self.raw.take().ok_or_else(|| io::Error::other("the entry was read already"))?;
                self.state = WholeState::Streaming(stream(raw));
            }
        }
        match &mut self.state {
            WholeState::Fresh | WholeState::Done => Ok(0),
            WholeState::Streaming(s) => s.read(buf),
            WholeState::Inflated { buf: inflated, at, len } => {
                let n = buf.len().min(*len - *at);
                buf[..n].copy_from_slice(&inflated[*at..*at + n]);
                *at += n;
                Ok(n)
            }
        }
    }
}

/// Reads `pos..end` of a file with positional reads (threads share one handle).
struct PositionedReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for PositionedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min(usize::try_from(self.end - self.pos).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file ended inside an entry"));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// Counts and checksums what passes through; at the end, compares with the directory.
/// Never gives more than the size the directory declares: an entry that inflates past it
/// is an error there, so what a reader holds is bounded by the declared sizes.
struct Checked<'a> {
    inner: Box<dyn Read + 'a>,
    hasher: crc32fast::Hasher,
    seen: u64,
    crc32: u32,
    size: u64,
    /// The entry inflated past `size`.
    overrun: bool,
}

impl Read for Checked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let overrun = |size: u64| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("inflates past the {size} bytes the directory says"),
            )
        };
        if self.overrun {
            return Err(overrun(self.size));
        }
        let mut n = self.inner.read(buf)?;
        let room = self.size - self.seen;
        if n as u64 > room {
            self.overrun = true;
            if room == 0 {
                return Err(overrun(self.size));
            }
            n = room as usize;
        }
        if n == 0 && !buf.is_empty() {
            if self.seen != self.size {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("inflated to {} bytes, the directory says {}", self.seen, self.size),
                ));
            }
            if self.hasher.clone().finalize() != self.crc32 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "invalid checksum (CRC-32 mismatch)"));
            }
        }
        self.hasher.update(&buf[..n]);
        self.seen += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_link_is_known_by_its_mode_where_the_maker_sets_one() {
        let head = |made_by_host: u16, mode: u32| {
            let mut h = [0u8; RECORD_HEAD];
            h[..4].copy_from_slice(&CENTRAL_SIG.to_le_bytes());
            h[4..6].copy_from_slice(&(made_by_host << 8 | 20).to_le_bytes());
            h[38..42].copy_from_slice(&(mode << 16).to_le_bytes());
            RecordHead::parse(&h).map(|r| r.entry.symlink)
        };
        assert_eq!(head(3, 0o120_777), Some(true), "Unix link");
        assert_eq!(head(19, 0o120_755), Some(true), "OS X link");
        assert_eq!(head(3, 0o100_644), Some(false), "Unix file");
        assert_eq!(head(3, 0o140_755), Some(false), "Unix socket");
        assert_eq!(head(0, 0o120_777), Some(false), "MS-DOS attributes are not a mode");
    }

    use super::*;
    use std::io::Write;

    fn zip_of(
        entries: &[(&str, &[u8])],
        method: zip::CompressionMethod,
        zip64: bool,
    ) -> tempfile::NamedTempFile {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let mut z = zip::ZipWriter::new(tmp.reopen().unwrap());
        let opts = zip::write::SimpleFileOptions::default().compression_method(method).large_file(zip64);
        for (name, bytes) in entries {
            z.start_file(*name, opts).unwrap();
            z.write_all(bytes).unwrap();
        }
        z.finish().unwrap();
        tmp
    }

    fn read_all(path: &std::path::Path) -> Result<Vec<(String, Vec<u8>)>, String> {
        let f = File::open(path).unwrap();
        let len = f.metadata().unwrap().len();
        let mut out = Vec::new();
        for (name, e) in read_directory(&f, len)? {
            let mut buf = Vec::new();
            open_entry(&f, len, &e)?.read_to_end(&mut buf).map_err(|e| e.to_string())?;
            out.push((name, buf));
        }
        Ok(out)
    }

    #[test]
    fn reads_what_the_zip_crate_writes() {
        let big: Vec<u8> = (0..300_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let entries: [(&str, &[u8]); 4] = [
            ("users.json", b"[]"),
            ("général/2024-01-01.json", b"[{\"a\":1}]"),
            ("empty", b""),
            ("big", &big),
        ];
        for method in [zip::CompressionMethod::Stored, zip::CompressionMethod::Deflated] {
            for zip64 in [false, true] {
                let z = zip_of(&entries, method, zip64);
                let got = read_all(z.path()).unwrap();
                let want: Vec<(String, Vec<u8>)> =
                    entries.iter().map(|(n, b)| (n.to_string(), b.to_vec())).collect();
                assert_eq!(got, want, "{method:?} zip64={zip64}");
            }
        }
    }

    #[test]
    fn more_than_65535_entries_use_the_zip64_end_record() {
        let names: Vec<String> = (0..70_000).map(|i| format!("c/{i}.json")).collect();
        let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"[]"[..])).collect();
        let z = zip_of(&entries, zip::CompressionMethod::Stored, false);
        let f = File::open(z.path()).unwrap();
        let dir = read_directory(&f, f.metadata().unwrap().len()).unwrap();
        assert_eq!(dir.len(), 70_000);
        assert_eq!(dir[69_999].0, "c/69999.json");
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let z =
            zip_of(&[("a.json", b"[1,2,3]"), ("b.json", b"[4]")], zip::CompressionMethod::Deflated, false);
        let bytes = std::fs::read(z.path()).unwrap();
        // Every single-byte change and every truncation: errors are fine, panics are not.
        for i in 0..bytes.len() {
            for cut in [true, false] {
                let mut b = bytes.clone();
                if cut {
                    b.truncate(i);
                } else {
                    b[i] ^= 0x5a;
                }
                std::fs::write(z.path(), &b).unwrap();
                let _ = read_all(z.path());
            }
        }
        // A flipped data byte of a stored entry is a CRC error.
        let z = zip_of(&[("a.json", b"[1,2,3]")], zip::CompressionMethod::Stored, false);
        let mut b = std::fs::read(z.path()).unwrap();
        let at = b.windows(7).position(|w| w == b"[1,2,3]").unwrap();
        b[at + 1] = b'9';
        std::fs::write(z.path(), &b).unwrap();
        assert!(read_all(z.path()).unwrap_err().contains("CRC"));
    }

    /// An entry that inflates past the size its directory record declares gives no more
    /// than that size, then an error (a reader's memory is bounded by declared sizes).
    #[test]
    fn an_entry_stops_at_its_declared_size() {
        let big: Vec<u8> = (0..300_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        for method in [zip::CompressionMethod::Stored, zip::CompressionMethod::Deflated] {
            let z = zip_of(&[("big", &big)], method, false);
            let mut b = std::fs::read(z.path()).unwrap();
            let record = b.windows(4).rposition(|w| w == CENTRAL_SIG.to_le_bytes()).unwrap();
            b[record + 24..record + 28].copy_from_slice(&1000u32.to_le_bytes());
            std::fs::write(z.path(), &b).unwrap();
            let f = File::open(z.path()).unwrap();
            let len = f.metadata().unwrap().len();
            let (_, e) = read_directory(&f, len).unwrap().remove(0);
            assert_eq!(e.size, 1000);
            let mut r = open_entry(&f, len, &e).unwrap();
            let mut got = Vec::new();
            let err = r.read_to_end(&mut got).unwrap_err();
            assert_eq!(got, big[..1000], "{method:?}");
            assert!(err.to_string().contains("past the 1000 bytes the directory says"), "{err}");
        }
    }

    /// A file holding `text` deflated (raw deflate, as in a zip entry).
    fn deflated(text: &[u8]) -> tempfile::NamedTempFile {
        use flate2::write::DeflateEncoder;
        let mut enc = DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(text).unwrap();
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), enc.finish().unwrap()).unwrap();
        tmp
    }

    /// What reading `r` in pieces of `piece` bytes gives: the bytes and the error.
    fn pieces(mut r: impl Read, piece: usize) -> (Vec<u8>, Option<String>) {
        let mut got = Vec::new();
        let mut buf = vec![0; piece];
        loop {
            match r.read(&mut buf) {
                Ok(0) => return (got, None),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => return (got, Some(e.to_string())),
            }
        }
    }

    fn text(n: usize) -> Vec<u8> {
        const LINE: &[u8] = b"[{\"ts\":\"1.000001\",\"text\":\"h\\u00e9llo\"},\n";
        (0..n).map(|i| LINE[i % LINE.len()] ^ (i / 997 % 2) as u8).collect()
    }

    /// An entry inflated in one call reads as a streamed one, whether the reader's buffer
    /// holds it all (inflated straight into it) or not (read from a buffer), and with
    /// damage anywhere in its data (then it streams from its start).
    #[test]
    fn an_entry_inflated_in_one_call_reads_as_a_streamed_one() {
        let plain = text(200_000);
        let file = deflated(&plain);
        let f = File::open(file.path()).unwrap();
        let compressed = std::fs::read(file.path()).unwrap();
        fn raw(file: &File, end: usize) -> PositionedReader<'_> {
            PositionedReader { file, pos: 0, end: end as u64 }
        }
        for piece in [7, 4096, plain.len(), plain.len() + 1] {
            let whole =
                Whole { raw: Some(raw(&f, compressed.len())), size: plain.len(), state: WholeState::Fresh };
            assert_eq!(pieces(whole, piece), (plain.clone(), None), "{piece}");
        }
        let mut differed = 0;
        for at in (0..compressed.len()).step_by(97) {
            let mut damaged = compressed.clone();
            damaged[at] ^= 0x21;
            std::fs::write(file.path(), &damaged).unwrap();
            let f = File::open(file.path()).unwrap();
            for piece in [4096, plain.len()] {
                let streamed = pieces(stream(raw(&f, compressed.len())), piece);
                let whole = pieces(
                    Whole {
                        raw: Some(raw(&f, compressed.len())),
                        size: plain.len(),
                        state: WholeState::Fresh,
                    },
                    piece,
                );
                if whole != streamed {
                    // Both decoders must agree on what valid deflate data means; where one
                    // refuses what the other reads, the CRC check still fails the entry.
                    differed += 1;
                }
            }
        }
        assert_eq!(differed, 0);
    }

    #[test]
    fn names_not_flagged_utf8_are_code_page_437() {
        assert_eq!(CP437_HIGH.chars().count(), 128);
        assert_eq!(decode_name(b"caf\x82", false), "café");
        assert_eq!(decode_name("café".as_bytes(), true), "café");
        assert_eq!(decode_name(b"\xff", true), "\u{fffd}");
    }
}
