//! A small ZIP reader and writer, just what packages need.
//!
//! The reader parses the central directory (no ZIP64, no encryption, no
//! multi-disk archives) and opens stored or deflated entries as bounded
//! streams. Sizes in the directory are the archive's claims: the reader never
//! allocates by them, and callers read entries through a budget. The writer
//! stores entries uncompressed, in the order given.

use std::io::{self, Read, Seek, SeekFrom, Write};

use miniz_oxide::inflate::stream::{InflateState, inflate};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

use super::error::PackageError;

const EOCD_SIG: u32 = 0x0605_4b50;
const CDH_SIG: u32 = 0x0201_4b50;
const LFH_SIG: u32 = 0x0403_4b50;
const EOCD_LEN: u64 = 22;
const CDH_LEN: usize = 46;
const LFH_LEN: usize = 30;
/// Largest archive comment, so the end record is in the last 64 KiB + 22 bytes.
const MAX_COMMENT: u64 = 0xffff;
/// The central directory is read into memory; this bounds it.
pub const MAX_CENTRAL_DIRECTORY: u64 = 4 << 20;
/// Longest entry name accepted.
pub const MAX_NAME_LEN: usize = 1024;
const STORED: u16 = 0;
const DEFLATED: u16 = 8;
const CHUNK: usize = 16 << 10;

/// One entry of the central directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    pub name: String,
    pub method: u16,
    pub compressed_size: u64,
    /// The uncompressed size the archive declares (a claim, not a bound).
    pub size: u64,
    pub crc32: u32,
    local_offset: u64,
}

/// The central directory of an archive.
#[derive(Debug, Clone, Default)]
pub struct ZipIndex {
    entries: Vec<ZipEntry>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl ZipIndex {
    /// Reads the central directory, refusing archives with more than `max_entries` entries
    /// before reading any of them.
    pub fn read<R: Read + Seek>(r: &mut R, max_entries: usize) -> Result<Self, PackageError> {
        let len = r.seek(SeekFrom::End(0))?;
        if len < EOCD_LEN {
            return Err(PackageError::MalformedZip("too short for an end record"));
        }
        let tail_len = len.min(EOCD_LEN + MAX_COMMENT);
        r.seek(SeekFrom::Start(len - tail_len))?;
        let mut tail = vec![0u8; tail_len as usize];
        r.read_exact(&mut tail)?;
        let at = (0..=tail.len() - EOCD_LEN as usize)
            .rev()
            .find(|&i| {
                u32_at(&tail, i) == EOCD_SIG && i + EOCD_LEN as usize + u16_at(&tail, i + 20) as usize == tail.len()
            })
            .ok_or(PackageError::MalformedZip("no end of central directory record"))?;
        let e = &tail[at..];
        if u16_at(e, 4) != 0 || u16_at(e, 6) != 0 || u16_at(e, 8) != u16_at(e, 10) {
            return Err(PackageError::MalformedZip("multi-disk archives are not supported"));
        }
        let count = u16_at(e, 10);
        let (cd_size, cd_offset) = (u64::from(u32_at(e, 12)), u64::from(u32_at(e, 16)));
        if count == 0xffff || cd_size == 0xffff_ffff || cd_offset == 0xffff_ffff {
            return Err(PackageError::MalformedZip("ZIP64 archives are not supported"));
        }
        let count = usize::from(count);
        if count > max_entries {
            return Err(PackageError::TooManyEntries { count, limit: max_entries });
        }
        let eocd_pos = len - tail_len + at as u64;
        if cd_size > MAX_CENTRAL_DIRECTORY || cd_offset.checked_add(cd_size).is_none_or(|end| end > eocd_pos) {
            return Err(PackageError::MalformedZip("central directory out of bounds"));
        }
        r.seek(SeekFrom::Start(cd_offset))?;
        let mut cd = vec![0u8; cd_size as usize];
        r.read_exact(&mut cd)?;
        Self::parse_directory(&cd, count)
    }

    fn parse_directory(cd: &[u8], count: usize) -> Result<Self, PackageError> {
        let mut entries = Vec::with_capacity(count);
        let mut pos = 0usize;
        for _ in 0..count {
            let h = cd.get(pos..pos + CDH_LEN).ok_or(PackageError::MalformedZip("truncated central directory"))?;
            if u32_at(h, 0) != CDH_SIG {
                return Err(PackageError::MalformedZip("bad central directory header"));
            }
            let flags = u16_at(h, 8);
            let (n, m, k) = (usize::from(u16_at(h, 28)), usize::from(u16_at(h, 30)), usize::from(u16_at(h, 32)));
            if n > MAX_NAME_LEN {
                return Err(PackageError::MalformedZip("entry name too long"));
            }
            let name = cd
                .get(pos + CDH_LEN..pos + CDH_LEN + n)
                .ok_or(PackageError::MalformedZip("truncated central directory"))?;
            let name =
                String::from_utf8(name.to_vec()).map_err(|_| PackageError::MalformedZip("entry name is not UTF-8"))?;
            if flags & 1 != 0 {
                return Err(PackageError::MalformedZip("encrypted entries are not supported"));
            }
            let entry = ZipEntry {
                name,
                method: u16_at(h, 10),
                crc32: u32_at(h, 16),
                compressed_size: u64::from(u32_at(h, 20)),
                size: u64::from(u32_at(h, 24)),
                local_offset: u64::from(u32_at(h, 42)),
            };
            if entry.compressed_size == 0xffff_ffff || entry.size == 0xffff_ffff || entry.local_offset == 0xffff_ffff {
                return Err(PackageError::MalformedZip("ZIP64 entries are not supported"));
            }
            entries.push(entry);
            pos += CDH_LEN + n + m + k;
        }
        Ok(ZipIndex { entries })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> &[ZipEntry] {
        &self.entries
    }

    /// The first entry with exactly this name.
    pub fn find(&self, name: &str) -> Option<&ZipEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Opens an entry's uncompressed bytes as a stream. The stream is not
    /// bounded by the declared size: read it through `take(budget)`.
    pub fn open<'r, R: Read + Seek>(&self, r: &'r mut R, entry: &ZipEntry) -> Result<EntryReader<'r, R>, PackageError> {
        r.seek(SeekFrom::Start(entry.local_offset))?;
        let mut h = [0u8; LFH_LEN];
        r.read_exact(&mut h).map_err(|_| PackageError::MalformedZip("truncated local header"))?;
        if u32_at(&h, 0) != LFH_SIG {
            return Err(PackageError::MalformedZip("bad local header"));
        }
        let (n, m) = (u64::from(u16_at(&h, 26)), u64::from(u16_at(&h, 28)));
        if n != entry.name.len() as u64 {
            return Err(PackageError::MalformedZip("local header name differs from the directory"));
        }
        let mut name = vec![0u8; n as usize];
        r.read_exact(&mut name).map_err(|_| PackageError::MalformedZip("truncated local header"))?;
        if name != entry.name.as_bytes() {
            return Err(PackageError::MalformedZip("local header name differs from the directory"));
        }
        r.seek(SeekFrom::Current(m as i64))?;
        let raw = r.take(entry.compressed_size);
        let body = match entry.method {
            STORED => Body::Stored(raw),
            DEFLATED => Body::Deflated(Box::new(Inflater::new(raw))),
            method => return Err(PackageError::UnsupportedCompression { path: entry.name.clone(), method }),
        };
        Ok(EntryReader { body })
    }
}

/// The uncompressed bytes of one entry.
pub struct EntryReader<'r, R> {
    body: Body<'r, R>,
}

impl<R> core::fmt::Debug for EntryReader<'_, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("EntryReader")
    }
}

enum Body<'r, R> {
    Stored(io::Take<&'r mut R>),
    Deflated(Box<Inflater<io::Take<&'r mut R>>>),
}

impl<R: Read> Read for EntryReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.body {
            Body::Stored(r) => r.read(buf),
            Body::Deflated(r) => r.read(buf),
        }
    }
}

/// Streaming raw-deflate decoder with a fixed input buffer.
struct Inflater<R> {
    inner: R,
    state: Box<InflateState>,
    input: Box<[u8; CHUNK]>,
    start: usize,
    end: usize,
    eof: bool,
    done: bool,
}

impl<R: Read> Inflater<R> {
    fn new(inner: R) -> Self {
        Inflater {
            inner,
            state: InflateState::new_boxed(DataFormat::Raw),
            input: Box::new([0u8; CHUNK]),
            start: 0,
            end: 0,
            eof: false,
            done: false,
        }
    }
}

impl<R: Read> Read for Inflater<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.start == self.end && !self.eof {
                self.end = self.inner.read(&mut self.input[..])?;
                self.start = 0;
                self.eof = self.end == 0;
            }
            let flush = if self.eof { MZFlush::Finish } else { MZFlush::None };
            let res = inflate(&mut self.state, &self.input[self.start..self.end], buf, flush);
            self.start += res.bytes_consumed;
            match res.status {
                Ok(MZStatus::StreamEnd) => {
                    self.done = true;
                    return Ok(res.bytes_written);
                }
                Ok(_) if res.bytes_written > 0 => return Ok(res.bytes_written),
                Ok(_) => {}
                Err(MZError::Buf) if !self.eof => {}
                Err(_) => return Err(io::Error::new(io::ErrorKind::InvalidData, "corrupt deflate stream")),
            }
            if res.bytes_written > 0 {
                return Ok(res.bytes_written);
            }
            if self.eof && self.start == self.end && res.bytes_consumed == 0 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "truncated deflate stream"));
            }
        }
    }
}

/// CRC-32 (IEEE), as ZIP headers carry it.
pub fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    let mut c = !0u32;
    for &b in data {
        c = TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// Writes an archive entry by entry. Call [`ZipWriter::finish`] at the end.
#[derive(Debug)]
pub struct ZipWriter<W> {
    out: W,
    offset: u64,
    directory: Vec<u8>,
    count: u16,
}

fn too_big() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "archive exceeds ZIP (non-ZIP64) limits")
}

impl<W: Write> ZipWriter<W> {
    pub fn new(out: W) -> Self {
        ZipWriter { out, offset: 0, directory: Vec::new(), count: 0 }
    }

    /// Adds a stored entry.
    pub fn add_stored(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        self.add_raw(name, STORED, data.len() as u64, crc32(data), data)
    }

    /// Adds an entry whose bytes are already encoded with `method`; the
    /// declared size and CRC are written as given (tests use this to build
    /// hostile archives).
    pub fn add_raw(&mut self, name: &str, method: u16, size: u64, crc: u32, body: &[u8]) -> io::Result<()> {
        let size = u32::try_from(size).map_err(|_| too_big())?;
        let csize = u32::try_from(body.len()).map_err(|_| too_big())?;
        let offset = u32::try_from(self.offset).map_err(|_| too_big())?;
        let name_len = u16::try_from(name.len()).map_err(|_| too_big())?;
        self.count = self.count.checked_add(1).filter(|&c| c < 0xffff).ok_or_else(too_big)?;
        let mut common = Vec::with_capacity(26);
        common.extend_from_slice(&20u16.to_le_bytes()); // version needed
        common.extend_from_slice(&0x0800u16.to_le_bytes()); // flags: UTF-8 names
        common.extend_from_slice(&method.to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes()); // time
        common.extend_from_slice(&0x0021u16.to_le_bytes()); // date: 1980-01-01
        common.extend_from_slice(&crc.to_le_bytes());
        common.extend_from_slice(&csize.to_le_bytes());
        common.extend_from_slice(&size.to_le_bytes());
        common.extend_from_slice(&name_len.to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes()); // extra length

        self.out.write_all(&LFH_SIG.to_le_bytes())?;
        self.out.write_all(&common)?;
        self.out.write_all(name.as_bytes())?;
        self.out.write_all(body)?;

        let d = &mut self.directory;
        d.extend_from_slice(&CDH_SIG.to_le_bytes());
        d.extend_from_slice(&20u16.to_le_bytes()); // version made by
        d.extend_from_slice(&common);
        d.extend_from_slice(&[0u8; 6]); // comment length, disk, internal attributes
        d.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        d.extend_from_slice(&offset.to_le_bytes());
        d.extend_from_slice(name.as_bytes());
        self.offset += (LFH_LEN + name.len() + body.len()) as u64;
        Ok(())
    }

    /// Writes the central directory and the end record, and returns the sink.
    pub fn finish(mut self) -> io::Result<W> {
        let cd_offset = u32::try_from(self.offset).map_err(|_| too_big())?;
        let cd_size = u32::try_from(self.directory.len()).map_err(|_| too_big())?;
        self.out.write_all(&self.directory)?;
        self.out.write_all(&EOCD_SIG.to_le_bytes())?;
        self.out.write_all(&[0u8; 4])?; // disk numbers
        self.out.write_all(&self.count.to_le_bytes())?;
        self.out.write_all(&self.count.to_le_bytes())?;
        self.out.write_all(&cd_size.to_le_bytes())?;
        self.out.write_all(&cd_offset.to_le_bytes())?;
        self.out.write_all(&0u16.to_le_bytes())?; // comment length
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = ZipWriter::new(Vec::new());
        for (name, data) in entries {
            w.add_stored(name, data).unwrap();
        }
        w.finish().unwrap()
    }

    fn read_all(bytes: &[u8], name: &str) -> Vec<u8> {
        let mut c = Cursor::new(bytes);
        let index = ZipIndex::read(&mut c, 16).unwrap();
        let entry = index.find(name).unwrap().clone();
        let mut out = Vec::new();
        index.open(&mut c, &entry).unwrap().read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn crc32_known_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn stored_round_trip() {
        let bytes = archive(&[("a.txt", b"hello"), ("dir/b.bin", &[7u8; 1000])]);
        assert_eq!(&bytes[..2], b"PK");
        let index = ZipIndex::read(&mut Cursor::new(&bytes), 16).unwrap();
        assert_eq!(index.len(), 2);
        assert_eq!(index.find("a.txt").unwrap().size, 5);
        assert_eq!(read_all(&bytes, "a.txt"), b"hello");
        assert_eq!(read_all(&bytes, "dir/b.bin"), vec![7u8; 1000]);
    }

    #[test]
    fn deflated_entry_inflates() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let packed = miniz_oxide::deflate::compress_to_vec(&data, 6);
        let mut w = ZipWriter::new(Vec::new());
        w.add_raw("d", DEFLATED, data.len() as u64, crc32(&data), &packed).unwrap();
        let bytes = w.finish().unwrap();
        assert_eq!(read_all(&bytes, "d"), data);
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(
            ZipIndex::read(&mut Cursor::new(b"not a zip at all, no"), 16),
            Err(PackageError::MalformedZip(_))
        ));
        assert!(matches!(ZipIndex::read(&mut Cursor::new(b""), 16), Err(PackageError::MalformedZip(_))));
    }

    #[test]
    fn entry_count_checked_before_directory() {
        let bytes = archive(&[("a", b"1"), ("b", b"2"), ("c", b"3")]);
        assert_eq!(
            ZipIndex::read(&mut Cursor::new(&bytes), 2).unwrap_err(),
            PackageError::TooManyEntries { count: 3, limit: 2 }
        );
    }
}
