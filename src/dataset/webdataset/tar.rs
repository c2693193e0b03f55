//! A minimal ustar writer and a streaming reader, enough for WebDataset shards.
//!
//! Every header field that is not the member's name or size is fixed (mode 0644, uid and gid 0,
//! empty user and group names, mtime 0, regular file, `ustar\0` `00`), so the bytes of a shard
//! depend only on its members. Written here (about 150 lines) rather than with the `tar` crate:
//! the writer needs nothing but fixed headers, and the reader hands back member bytes from any
//! `Read` without seeking (a shard stream), or, over a file, each member's offset and length
//! with its data skipped (the random-access list of `nn::data_shards`).
use std::io::{self, Read, Write};

pub const BLOCK: usize = 512;
/// The longest member name a plain ustar header holds (no prefix field is used).
pub const MAX_NAME: usize = 100;

/// Bytes a member of `len` bytes takes in the archive: header plus padded data.
pub fn member_size(len: usize) -> u64 {
    (BLOCK + len.div_ceil(BLOCK) * BLOCK) as u64
}

/// The end-of-archive marker: two zero blocks.
pub const END_SIZE: u64 = 2 * BLOCK as u64;

#[derive(Debug, thiserror::Error)]
pub enum TarError {
    #[error("member name {0:?} is longer than {MAX_NAME} bytes")]
    NameTooLong(String),
    #[error("member {0:?} is larger than 8 GiB")]
    TooLarge(String),
    #[error("bad tar header at byte {offset}: {why}")]
    BadHeader { offset: u64, why: String },
    #[error("archive ends inside member {name:?} (truncated file)")]
    Truncated { name: String },
    #[error(transparent)]
    Io(#[from] io::Error),
}

fn octal(field: &mut [u8], value: u64) {
    // Zero-padded octal digits, then a NUL: the form GNU tar and Python's tarfile write.
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
}

/// The 512-byte ustar header of a regular file `name` of `size` bytes.
pub fn header(name: &str, size: u64) -> Result<[u8; BLOCK], TarError> {
    if name.len() > MAX_NAME {
        return Err(TarError::NameTooLong(name.to_string()));
    }
    if size >= 1 << 33 {
        return Err(TarError::TooLarge(name.to_string()));
    }
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 0);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], 0);
    octal(&mut h[337..345], 0);
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
    Ok(h)
}

/// Writes one member (header, data, zero padding); returns the bytes written.
pub fn write_member(w: &mut impl Write, name: &str, data: &[u8]) -> Result<u64, TarError> {
    w.write_all(&header(name, data.len() as u64)?)?;
    w.write_all(data)?;
    let pad = data.len().div_ceil(BLOCK) * BLOCK - data.len();
    w.write_all(&[0u8; BLOCK][..pad])?;
    Ok(member_size(data.len()))
}

pub fn write_end(w: &mut impl Write) -> io::Result<()> {
    w.write_all(&[0u8; 2 * BLOCK])
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    let text: Vec<u8> = field
        .iter()
        .copied()
        .take_while(|&b| b != 0)
        .filter(|&b| b != b' ')
        .collect();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(&text).ok()?, 8).ok()
}

/// One member as read: its name and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub data: Vec<u8>,
}

/// Reads members in order from any `Read`; regular files only (directories and other
/// entries are skipped, as WebDataset readers do).
pub struct TarReader<R> {
    inner: R,
    offset: u64,
    done: bool,
}

impl<R: Read> TarReader<R> {
    pub fn new(inner: R) -> Self {
        TarReader {
            inner,
            offset: 0,
            done: false,
        }
    }

    /// The next member, `Ok(None)` at the end marker (or at a clean end of file).
    pub fn next_member(&mut self) -> Result<Option<Member>, TarError> {
        loop {
            let Some(h) = self.next_header()? else {
                return Ok(None);
            };
            let padded = padded(h.size);
            let mut data = vec![0u8; h.size as usize];
            if read_full(&mut self.inner, &mut data)? < data.len() {
                return Err(TarError::Truncated { name: h.name });
            }
            let mut pad = vec![0u8; padded - h.size as usize];
            if read_full(&mut self.inner, &mut pad)? < pad.len() {
                return Err(TarError::Truncated { name: h.name });
            }
            self.offset += padded as u64;
            if h.regular {
                return Ok(Some(Member { name: h.name, data }));
            }
        }
    }

    /// The next header (any entry type); the reader then stands at the entry's data, which
    /// the caller reads or skips (the offset counts to the data's start).
    fn next_header(&mut self) -> Result<Option<Header>, TarError> {
        if self.done {
            return Ok(None);
        }
        let mut h = [0u8; BLOCK];
        let got = read_full(&mut self.inner, &mut h)?;
        if got == 0 {
            self.done = true;
            return Ok(None);
        }
        let at = self.offset;
        if got < BLOCK {
            return Err(TarError::BadHeader {
                offset: at,
                why: "file ends inside a header".into(),
            });
        }
        self.offset += BLOCK as u64;
        if h.iter().all(|&b| b == 0) {
            self.done = true;
            return Ok(None);
        }
        let bad = |why: &str| TarError::BadHeader {
            offset: at,
            why: why.to_string(),
        };
        let stored = parse_octal(&h[148..156]).ok_or_else(|| bad("unreadable checksum"))?;
        let mut copy = h;
        copy[148..156].fill(b' ');
        let sum: u64 = copy.iter().map(|&b| u64::from(b)).sum();
        if sum != stored {
            return Err(bad("checksum mismatch"));
        }
        let size = parse_octal(&h[124..136]).ok_or_else(|| bad("unreadable size"))?;
        let field = |r: std::ops::Range<usize>| {
            let f = &h[r];
            let end = f.iter().position(|&b| b == 0).unwrap_or(f.len());
            String::from_utf8_lossy(&f[..end]).into_owned()
        };
        let mut name = field(0..100);
        let prefix = field(345..500);
        if &h[257..262] == b"ustar" && !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
        Ok(Some(Header {
            name,
            size,
            offset: self.offset,
            regular: h[156] == b'0' || h[156] == 0,
        }))
    }
}

/// Where a member lies in its archive: its data's first byte and length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub name: String,
    pub offset: u64,
    pub size: u64,
    /// The data, when the caller asked for it (`want`).
    pub data: Option<Vec<u8>>,
}

impl TarReader<io::BufReader<std::fs::File>> {
    /// The next regular member's name, data offset and length, reading its data only when
    /// `want(name)` and otherwise seeking past it: a shard is indexed by reading its headers.
    /// `file_len` is the archive's length, so a member cut short is an error, not an end.
    pub fn next_located(
        &mut self,
        file_len: u64,
        want: impl Fn(&str) -> bool,
    ) -> Result<Option<Located>, TarError> {
        loop {
            let Some(h) = self.next_header()? else {
                return Ok(None);
            };
            let padded = padded(h.size) as u64;
            if h.offset + h.size > file_len {
                return Err(TarError::Truncated { name: h.name });
            }
            let data = if h.regular && want(&h.name) {
                let mut data = vec![0u8; h.size as usize];
                self.inner.read_exact(&mut data)?;
                self.inner.seek_relative((padded - h.size) as i64)?;
                Some(data)
            } else {
                self.inner.seek_relative(padded as i64)?;
                None
            };
            self.offset += padded;
            if h.regular {
                return Ok(Some(Located {
                    name: h.name,
                    offset: h.offset,
                    size: h.size,
                    data,
                }));
            }
        }
    }
}

/// A header as read.
struct Header {
    name: String,
    size: u64,
    /// The data's first byte in the archive.
    offset: u64,
    regular: bool,
}

fn padded(size: u64) -> usize {
    (size as usize).div_ceil(BLOCK) * BLOCK
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_round_trip_with_fixed_headers() {
        let mut buf = Vec::new();
        write_member(&mut buf, "a_000001.png", b"hello").unwrap();
        write_member(&mut buf, "a_000001.cls", &[]).unwrap();
        write_member(&mut buf, "b.json", &[7u8; 512]).unwrap();
        write_end(&mut buf).unwrap();
        assert_eq!(buf.len() as u64, 3 * 512 + 512 + 512 + END_SIZE);
        let mut r = TarReader::new(&buf[..]);
        let names: Vec<(String, usize)> = std::iter::from_fn(|| r.next_member().unwrap())
            .map(|m| (m.name, m.data.len()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("a_000001.png".into(), 5),
                ("a_000001.cls".into(), 0),
                ("b.json".into(), 512)
            ]
        );
        // Same members, same bytes: nothing of the clock or the user goes into a header.
        let h = header("x.png", 5).unwrap();
        assert_eq!(h, header("x.png", 5).unwrap());
        assert_eq!(&h[136..148], b"00000000000\0");
        assert_eq!(&h[257..265], b"ustar\x0000");
    }

    #[test]
    fn corrupt_and_truncated_archives_are_errors() {
        let mut buf = Vec::new();
        write_member(&mut buf, "k.png", &[1u8; 700]).unwrap();
        let mut bad = buf.clone();
        bad[3] ^= 1;
        assert!(matches!(
            TarReader::new(&bad[..]).next_member(),
            Err(TarError::BadHeader { .. })
        ));
        assert!(matches!(
            TarReader::new(&buf[..600]).next_member(),
            Err(TarError::Truncated { .. })
        ));
        assert!(header(&"n".repeat(101), 1).is_err());
    }
}
