//! A compact reader of a zip archive's central directory and of single entries.
//!
//! Owns: finding the end-of-central-directory record (zip64 included), listing every entry
//! as a small fixed-size record (where its data is, how it is compressed, its sizes and
//! CRC), and opening one entry as a bounded, CRC-checked stream from positional reads.
//! A general zip library keeps hundreds of bytes per entry (names twice, extra fields,
//! times, a name index); an export of 80,000 day files then costs tens of megabytes before
//! a message is read. Here an entry costs 32 bytes plus its name, once.
//!
//! Only what exports use is supported: stored and deflated entries, unencrypted. Anything
//! else is an error for that entry, never a panic. Archives whose directory cannot be found
//! are left to the caller (which recovers them by scanning local headers).

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

/// The zip's entries, in directory order, with their names. Fails (with a message for
/// the caller's warning) when no valid central directory can be found.
pub fn read_directory(file: &File, len: u64) -> Result<Vec<(String, ZipEntry)>, String> {
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
    let mut entries = u64::from(u16_at(&tail, eocd + 10).unwrap_or(0));
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
            entries = u64_at(&rec, 32).unwrap_or(0);
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
    let cd_start = cd_offset + shift;
    if cd_size > len || cd_start.checked_add(cd_size).is_none_or(|e| e > len) {
        return Err("the central directory runs past the end of the file".into());
    }
    let cd = read_exact_at(file, len, cd_start, cd_size as usize)?;
    // Each record is at least 46 bytes: a count beyond that is a lie, not an allocation.
    let mut out = Vec::with_capacity(usize::try_from(entries).unwrap_or(0).min(cd.len() / 46));
    let mut at = 0usize;
    while at < cd.len() {
        let bad = || {
            format!("central directory record {} at offset {} is damaged", out.len(), cd_start + at as u64)
        };
        if u32_at(&cd, at) != Some(CENTRAL_SIG) {
            return Err(bad());
        }
        let field16 = |o: usize| u16_at(&cd, at + o).ok_or_else(bad);
        let field32 = |o: usize| u32_at(&cd, at + o).ok_or_else(bad);
        let flags = field16(8)?;
        let method = field16(10)?;
        let crc32 = field32(16)?;
        let mut compressed_size = u64::from(field32(20)?);
        let mut size = u64::from(field32(24)?);
        let name_len = usize::from(field16(28)?);
        let extra_len = usize::from(field16(30)?);
        let comment_len = usize::from(field16(32)?);
        let mut header_offset = u64::from(field32(42)?);
        let name_start = at + 46;
        let extra_start = name_start + name_len;
        let next = extra_start + extra_len + comment_len;
        let name = cd.get(name_start..extra_start).ok_or_else(bad)?;
        let extra = cd.get(extra_start..extra_start + extra_len).ok_or_else(bad)?;
        if next > cd.len() {
            return Err(bad());
        }
        // Zip64 sizes and offset, in this order, for the fields saturated above.
        let mut e = 0;
        while e + 4 <= extra.len() {
            let id = u16_at(extra, e).unwrap_or(0);
            let n = usize::from(u16_at(extra, e + 2).unwrap_or(0));
            let body = extra.get(e + 4..e + 4 + n).ok_or_else(bad)?;
            if id == 0x0001 {
                let mut p = 0;
                for slot in [&mut size, &mut compressed_size, &mut header_offset] {
                    if *slot == u64::from(u32::MAX) {
                        *slot = u64_at(body, p).ok_or_else(bad)?;
                        p += 8;
                    }
                }
            }
            e += 4 + n;
        }
        let header_offset = header_offset.checked_add(shift).ok_or_else(bad)?;
        out.push((
            decode_name(name, flags & 0x0800 != 0),
            ZipEntry { header_offset, compressed_size, size, crc32, method, flags },
        ));
        at = next;
    }
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
        8 => Box::new(flate2::read::DeflateDecoder::new_with_buf(raw, vec![0; 64 << 10])),
        m => return Err(format!("compression method {m} is not supported")),
    };
    Ok(Checked { inner, hasher: crc32fast::Hasher::new(), seen: 0, crc32: e.crc32, size: e.size })
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
struct Checked<'a> {
    inner: Box<dyn Read + 'a>,
    hasher: crc32fast::Hasher,
    seen: u64,
    crc32: u32,
    size: u64,
}

impl Read for Checked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
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

    #[test]
    fn names_not_flagged_utf8_are_code_page_437() {
        assert_eq!(CP437_HIGH.chars().count(), 128);
        assert_eq!(decode_name(b"caf\x82", false), "café");
        assert_eq!(decode_name("café".as_bytes(), true), "café");
        assert_eq!(decode_name(b"\xff", true), "\u{fffd}");
    }
}
