//! The manifest of a partition: which sealed segments belong to it and which segment is being
//! written. Replaced atomically (temp file, fsync, rename, fsync directory), so a reader or a
//! recovering writer sees either the old or the new list, never a mix. The manifest is a summary,
//! not the only record: the segment files carry their own identity, so a lost, stale or foreign
//! manifest is re-derived from them (see `layout`).
//!
//! ```text
//! "LTMF" | version u8 | body | CRC32C of everything before it (u32 LE)
//! body: u64 LE partition id, varint next_segment_id, varint active+1 (0 = none), varint sealed count,
//!       per sealed segment: varint id, len, rows, first_seq, end_seq, min_start, max_start
//! ```

use std::path::Path;

use crate::durable;
use crate::encoding::varint::{read_varint, write_varint};
use crate::error::{Error, Result};
use crate::segment::PageEntry;

/// File name inside a partition directory.
pub(crate) const FILE_NAME: &str = "MANIFEST";
const MAGIC: [u8; 4] = *b"LTMF";
const VERSION: u8 = 2;
/// Largest manifest accepted when reading: far above any real one (about 40 bytes a segment), and
/// a bound on what a damaged or hostile file can make a reader allocate.
pub(crate) const MAX_BYTES: u64 = 16 << 20;

/// What the manifest records of one sealed segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SealedInfo {
    pub id: u64,
    pub len: u64,
    pub rows: u64,
    pub first_seq: u64,
    pub end_seq: u64,
    pub min_start: u64,
    pub max_start: u64,
}

impl SealedInfo {
    /// The summary of segment `id` of `len` bytes holding `pages`.
    pub(crate) fn of_pages(id: u64, len: u64, pages: &[PageEntry]) -> SealedInfo {
        SealedInfo {
            id,
            len,
            rows: pages.iter().map(|p| u64::from(p.zone.rows)).sum(),
            first_seq: pages.first().map_or(0, |p| p.zone.first_seq),
            end_seq: pages.last().map_or(0, |p| p.zone.end_seq()),
            min_start: pages.iter().map(|p| p.zone.min_start).min().unwrap_or(0),
            max_start: pages.iter().map(|p| p.zone.max_start).max().unwrap_or(0),
        }
    }
}

/// The content of a manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Manifest {
    /// The partition this manifest belongs to (see `partition::id_of`).
    pub partition: u64,
    pub next_segment_id: u64,
    pub active: Option<u64>,
    pub sealed: Vec<SealedInfo>,
}

impl Manifest {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.sealed.len() * 40);
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&self.partition.to_le_bytes());
        write_varint(&mut out, self.next_segment_id);
        write_varint(&mut out, self.active.map_or(0, |a| a + 1));
        write_varint(&mut out, self.sealed.len() as u64);
        for s in &self.sealed {
            for v in [
                s.id,
                s.len,
                s.rows,
                s.first_seq,
                s.end_seq,
                s.min_start,
                s.max_start,
            ] {
                write_varint(&mut out, v);
            }
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<Manifest> {
        let bad = |offset: usize, reason: &str| Error::corrupt(path, offset as u64, reason);
        if bytes.len() < MAGIC.len() + 1 + 8 + 4 {
            return Err(bad(0, "manifest too short"));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32c::crc32c(body).to_le_bytes() != crc {
            return Err(bad(body.len(), "manifest checksum mismatch"));
        }
        if body[..4] != MAGIC {
            return Err(bad(0, "bad manifest magic"));
        }
        if body[4] != VERSION {
            return Err(bad(4, "unknown manifest version"));
        }
        let mut partition = [0u8; 8];
        partition.copy_from_slice(&body[5..13]);
        let partition = u64::from_le_bytes(partition);
        let mut pos = 13usize;
        let mut next = || read_varint(body, &mut pos).map_err(|e| e.in_file(path, 0));
        let next_segment_id = next()?;
        let active = next()?.checked_sub(1);
        let count = next()?;
        if count > body.len() as u64 {
            return Err(bad(5, "implausible segment count"));
        }
        let mut sealed = Vec::with_capacity(count as usize);
        for _ in 0..count {
            sealed.push(SealedInfo {
                id: next()?,
                len: next()?,
                rows: next()?,
                first_seq: next()?,
                end_seq: next()?,
                min_start: next()?,
                max_start: next()?,
            });
        }
        if pos != body.len() {
            return Err(bad(pos, "trailing bytes in manifest"));
        }
        Ok(Manifest {
            partition,
            next_segment_id,
            active,
            sealed,
        })
    }

    /// Read the manifest of partition `dir`; `None` when the partition has none yet.
    pub(crate) fn load(dir: &Path) -> Result<Option<Manifest>> {
        let path = dir.join(FILE_NAME);
        match durable::read_bounded(&path, MAX_BYTES) {
            Ok(bytes) => Manifest::decode(&bytes, &path).map(Some),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Replace the manifest of partition `dir` atomically.
    pub(crate) fn store(&self, dir: &Path) -> Result<()> {
        durable::write_atomic(&dir.join(FILE_NAME), &self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            partition: 0x1234_5678_9abc_def0,
            next_segment_id: 9,
            active: Some(8),
            sealed: vec![SealedInfo {
                id: 3,
                len: 1000,
                rows: 77,
                first_seq: 0,
                end_seq: 77,
                min_start: 5,
                max_start: 500,
            }],
        }
    }

    #[test]
    fn round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        sample().store(dir.path()).unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap(), Some(sample()));
        let bytes = sample().encode();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            assert!(matches!(
                Manifest::decode(&b, Path::new("m")),
                Err(Error::Corrupt { .. })
            ));
        }
        for cut in 0..bytes.len() {
            assert!(Manifest::decode(&bytes[..cut], Path::new("m")).is_err());
        }
    }
}
