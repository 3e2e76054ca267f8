//! One stored record: a plugin message with its LSN, framed so that a torn
//! write (a crash mid-append) is detected, never decoded:
//! `len u32 | crc32c u32 | kind u8 | lsn u64 | payload[len]`, little endian,
//! the checksum covering kind, LSN and payload.

use std::io::{self, Read};

use bytes::Bytes;

use crate::stream::decode::Plugin;
use crate::stream::lsn::Lsn;

pub const HEADER_LEN: usize = 17;
/// A message larger than this is not a plugin message but a damaged length.
pub const MAX_PAYLOAD: u32 = 1 << 30;

/// What a record is, as far as the store cares: transaction boundaries
/// (segments rotate after a commit; the durable position is a commit's end)
/// and relation descriptions (repeated at each segment's head).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Other = 0,
    Begin = 1,
    Commit = 2,
    /// pgoutput `R`, with the relation's OID.
    Relation = 3,
    /// A copy of a relation description at a segment's head: decoded, but
    /// not a position of the stream.
    Head = 4,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Kind> {
        Some(match b {
            0 => Kind::Other,
            1 => Kind::Begin,
            2 => Kind::Commit,
            3 => Kind::Relation,
            4 => Kind::Head,
            _ => return None,
        })
    }
}

/// Classify a plugin message by its first bytes (no decoding).
pub fn classify(plugin: Plugin, data: &[u8]) -> Kind {
    match plugin {
        Plugin::Pgoutput => match data.first() {
            Some(b'B') => Kind::Begin,
            Some(b'C') => Kind::Commit,
            Some(b'R') => Kind::Relation,
            _ => Kind::Other,
        },
        Plugin::TestDecoding => {
            if data.starts_with(b"BEGIN") {
                Kind::Begin
            } else if data.starts_with(b"COMMIT") {
                Kind::Commit
            } else {
                Kind::Other
            }
        }
        Plugin::Wal2json => {
            let head = data.get(..32).unwrap_or(data);
            let action = |a: &[u8]| head.windows(a.len()).any(|w| w == a);
            if action(br#""action":"B""#) {
                Kind::Begin
            } else if action(br#""action":"C""#) {
                Kind::Commit
            } else {
                Kind::Other
            }
        }
    }
}

/// pgoutput's relation OID of an `R` message (protocol 1: right after the tag).
pub fn relation_oid(data: &[u8]) -> Option<u32> {
    let b: [u8; 4] = data.get(1..5)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub lsn: Lsn,
    pub kind: Kind,
    pub data: Bytes,
}

pub fn encode(out: &mut Vec<u8>, lsn: Lsn, kind: Kind, data: &[u8]) {
    encode_header(out, lsn, kind, data);
    out.extend_from_slice(data);
}

/// The header of the record of `data`, to be followed by `data` itself.
pub fn encode_header(out: &mut Vec<u8>, lsn: Lsn, kind: Kind, data: &[u8]) {
    let mut crc = super::crc::Crc32c::new();
    crc.update(&[kind as u8]);
    crc.update(&lsn.0.to_le_bytes());
    crc.update(data);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc.finish().to_le_bytes());
    out.push(kind as u8);
    out.extend_from_slice(&lsn.0.to_le_bytes());
}

/// A record's header: what the store needs to find a transaction's commit
/// without reading the payloads on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Payload bytes that follow the header.
    pub len: u32,
    crc: u32,
    pub kind: Kind,
    pub lsn: Lsn,
}

/// The next record's header, `Ok(None)` at a clean end; errors as [`read`].
pub fn read_header(input: &mut impl Read) -> io::Result<Option<Header>> {
    let mut header = [0u8; HEADER_LEN];
    let got = read_full(input, &mut header)?;
    if got == 0 {
        return Ok(None);
    }
    if got < HEADER_LEN {
        return Err(torn("a record header is cut short"));
    }
    let field = |from: usize, to: usize| header.get(from..to).unwrap_or_default();
    let le32 = |at: usize| field(at, at + 4).try_into().map(u32::from_le_bytes);
    let (Ok(len), Ok(crc)) = (le32(0), le32(4)) else {
        return Err(torn("a record header is cut short"));
    };
    let kind = field(8, 9)
        .first()
        .and_then(|b| Kind::from_byte(*b))
        .ok_or_else(|| torn("unknown record kind"))?;
    let lsn = field(9, 17)
        .try_into()
        .map(|b| Lsn(u64::from_le_bytes(b)))
        .map_err(|_| torn("a record header is cut short"))?;
    if len > MAX_PAYLOAD {
        return Err(torn("a record length is out of range"));
    }
    Ok(Some(Header {
        len,
        crc,
        kind,
        lsn,
    }))
}

impl Header {
    /// Header and payload.
    pub fn size(&self) -> u64 {
        HEADER_LEN as u64 + u64::from(self.len)
    }
}

/// The next record of `input`, `Ok(None)` at a clean end, and `Err` with
/// kind `InvalidData` for a torn or damaged record (short, bad length, bad
/// checksum).
pub fn read(input: &mut impl Read) -> io::Result<Option<(Record, u64)>> {
    let Some(header) = read_header(input)? else {
        return Ok(None);
    };
    let Header {
        len,
        crc,
        kind,
        lsn,
    } = header;
    let mut data = vec![0u8; len as usize];
    if read_full(input, &mut data)? < data.len() {
        return Err(torn("a record is cut short"));
    }
    let mut check = super::crc::Crc32c::new();
    check.update(&[kind as u8]);
    check.update(&lsn.0.to_le_bytes());
    check.update(&data);
    if check.finish() != crc {
        return Err(torn("a record's checksum does not match"));
    }
    Ok(Some((
        Record {
            lsn,
            kind,
            data: Bytes::from(data),
        },
        header.size(),
    )))
}

fn torn(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_string())
}

/// Read until `buf` is full or the input ends; how many bytes were read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while let Some(rest) = buf.get_mut(done..).filter(|r| !r.is_empty()) {
        match input.read(rest) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_detected() {
        let mut buf = Vec::new();
        encode(&mut buf, Lsn(0x10), Kind::Begin, b"B...");
        encode(&mut buf, Lsn(0x20), Kind::Commit, b"C...");
        let mut input = &buf[..];
        let (first, size) = read(&mut input).unwrap().unwrap();
        assert_eq!((first.lsn, first.kind, size), (Lsn(0x10), Kind::Begin, 21));
        assert_eq!(read(&mut input).unwrap().unwrap().0.data.as_ref(), b"C...");
        assert!(read(&mut input).unwrap().is_none());
        // Every cut inside the second record is torn, never a record.
        for cut in 22..buf.len() {
            let mut input = &buf[21..cut];
            assert!(read(&mut input).is_err(), "cut at {cut}");
        }
        let mut flipped = buf.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let mut input = &flipped[21..];
        assert!(read(&mut input).is_err());
    }

    #[test]
    fn messages_are_classified_without_decoding() {
        assert_eq!(classify(Plugin::Pgoutput, b"C\0"), Kind::Commit);
        assert_eq!(classify(Plugin::Pgoutput, b"R\0\0\x40\0"), Kind::Relation);
        assert_eq!(relation_oid(b"R\0\0\x40\0"), Some(0x4000));
        assert_eq!(classify(Plugin::TestDecoding, b"COMMIT 734"), Kind::Commit);
        assert_eq!(
            classify(Plugin::TestDecoding, b"table public.t: INSERT"),
            Kind::Other
        );
        assert_eq!(
            classify(Plugin::Wal2json, br#"{"action":"B","xid":1}"#),
            Kind::Begin
        );
        assert_eq!(
            classify(Plugin::Wal2json, br#"{"action":"C","xid":1}"#),
            Kind::Commit
        );
        assert_eq!(
            classify(Plugin::Wal2json, br#"{"action":"I","xid":1}"#),
            Kind::Other
        );
    }
}
