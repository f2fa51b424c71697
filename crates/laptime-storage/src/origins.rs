//! Where received events came from, kept durably with them: per source, one past the highest seq
//! stored. A batch received from another store or an ingest carries its [`Origin`] in its own WAL
//! record (stored or lost together with its events); before WAL files are released, the origins
//! of the events that sealed pages now hold are written to the partition's `ORIGINS` file. So
//! after any crash, `ORIGINS` plus the WAL's records say exactly which source seqs are stored,
//! and a redelivered batch is recognised (the fleet's exactly-once effect, ARCHITECTURE.md).
//!
//! ```text
//! 4 bytes  magic    "LTOR"
//! u8       version  1
//! varint   count
//! per source, ascending: varint byte length, UTF-8 source id, varint end seq
//! u32 LE   crc      CRC32C of the bytes before it
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::durable;
use crate::encoding::varint::{read_varint, write_varint};
use crate::error::{Error, Result};
use crate::event::{Origin, MAX_SOURCE_BYTES};

/// File name in a partition directory.
pub(crate) const FILE_NAME: &str = "ORIGINS";
const MAGIC: [u8; 4] = *b"LTOR";
const VERSION: u8 = 1;
/// A bound for reading the file (a source id is at most 256 bytes).
const MAX_FILE_BYTES: u64 = 64 << 20;

/// The origins of one partition: those in `ORIGINS`, and those only the WAL holds so far.
#[derive(Debug, Default)]
pub(crate) struct Origins {
    /// Source -> end seq, as in the file.
    durable: BTreeMap<Arc<str>, u64>,
    /// Origins of batches not yet (known to be) in sealed pages, with the partition seq one past
    /// their last event.
    pending: Vec<(Origin, u64)>,
}

impl Origins {
    /// The origins of partition `dir` as its `ORIGINS` file has them (none without one). A file
    /// that fails its checks is an error naming it.
    pub(crate) fn load(dir: &Path) -> Result<Origins> {
        let path = dir.join(FILE_NAME);
        let bytes = match durable::read_bounded(&path, MAX_FILE_BYTES) {
            Ok(b) => b,
            Err(e) if e.io_kind() == Some(std::io::ErrorKind::NotFound) => {
                return Ok(Origins::default())
            }
            Err(e) => return Err(e),
        };
        Ok(Origins {
            durable: decode(&bytes, &path)?,
            pending: Vec::new(),
        })
    }

    /// A batch with `origin` whose events end at partition seq `local_end` was taken.
    pub(crate) fn note(&mut self, origin: &Origin, local_end: u64) {
        self.pending.push((origin.clone(), local_end));
    }

    /// Write to `ORIGINS` the origins of every batch whose events are below partition seq `upto`
    /// (now in sealed pages): called before WAL files up to there are released.
    pub(crate) fn checkpoint(&mut self, dir: &Path, upto: u64) -> Result<()> {
        let mut changed = false;
        let mut next = self.durable.clone();
        self.pending.retain(|(o, end)| {
            if *end > upto {
                return true;
            }
            let e = next.entry(Arc::clone(&o.source)).or_insert(0);
            if o.end_seq > *e {
                *e = o.end_seq;
                changed = true;
            }
            false
        });
        if changed {
            durable::write_atomic(&dir.join(FILE_NAME), &encode(&next))?;
            self.durable = next;
        }
        Ok(())
    }

    /// Per source, one past the highest seq taken (in the file or only in the WAL so far).
    pub(crate) fn high_marks(&self) -> BTreeMap<Arc<str>, u64> {
        let mut out = self.durable.clone();
        for (o, _) in &self.pending {
            let e = out.entry(Arc::clone(&o.source)).or_insert(0);
            *e = (*e).max(o.end_seq);
        }
        out
    }
}

fn encode(map: &BTreeMap<Arc<str>, u64>) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.push(VERSION);
    write_varint(&mut out, map.len() as u64);
    for (source, end) in map {
        write_varint(&mut out, source.len() as u64);
        out.extend_from_slice(source.as_bytes());
        write_varint(&mut out, *end);
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn decode(bytes: &[u8], path: &Path) -> Result<BTreeMap<Arc<str>, u64>> {
    let bad = |offset: usize, why: &'static str| Error::corrupt(path, offset as u64, why);
    let body_len = bytes
        .len()
        .checked_sub(4)
        .ok_or(bad(0, "origins file truncated"))?;
    let (body, crc) = bytes.split_at(body_len);
    if crc32c::crc32c(body) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return Err(bad(body_len, "origins checksum mismatch"));
    }
    if body.get(..4) != Some(&MAGIC[..]) || body.get(4) != Some(&VERSION) {
        return Err(bad(0, "not an origins file of this version"));
    }
    let mut pos = 5;
    let varint = |pos: &mut usize| read_varint(body, pos).map_err(|e| bad(e.offset, e.reason));
    let count = varint(&mut pos)?;
    let mut out = BTreeMap::new();
    for _ in 0..count {
        let at = pos;
        let len = varint(&mut pos)? as usize;
        if len == 0 || len > MAX_SOURCE_BYTES {
            return Err(bad(at, "source id empty or too long"));
        }
        let text = body
            .get(pos..pos + len)
            .ok_or(bad(pos, "origins file truncated"))?;
        pos += len;
        let source = std::str::from_utf8(text).map_err(|_| bad(at, "source id is not UTF-8"))?;
        let end = varint(&mut pos)?;
        if out.insert(Arc::from(source), end).is_some() {
            return Err(bad(at, "source listed twice"));
        }
    }
    if pos != body.len() {
        return Err(bad(pos, "trailing bytes in origins file"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(source: &str, first: u64, end: u64) -> Origin {
        Origin {
            source: Arc::from(source),
            first_seq: first,
            end_seq: end,
        }
    }

    #[test]
    fn only_origins_of_events_in_sealed_pages_reach_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = Origins::load(dir.path()).unwrap();
        o.note(&origin("a", 0, 10), 100);
        o.note(&origin("b", 5, 7), 150);
        o.note(&origin("a", 10, 20), 200);
        o.checkpoint(dir.path(), 150).unwrap();
        let back = Origins::load(dir.path()).unwrap();
        assert_eq!(
            back.high_marks()
                .into_iter()
                .map(|(s, e)| (s.to_string(), e))
                .collect::<Vec<_>>(),
            [("a".into(), 10), ("b".into(), 7)]
        );
        assert_eq!(
            o.high_marks().get("a"),
            Some(&20),
            "the WAL-only one still counts in memory"
        );
        o.checkpoint(dir.path(), 200).unwrap();
        assert_eq!(
            Origins::load(dir.path()).unwrap().high_marks().get("a"),
            Some(&20)
        );
    }

    #[test]
    fn a_damaged_file_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = Origins::default();
        o.note(&origin("src", 0, 3), 3);
        o.checkpoint(dir.path(), 3).unwrap();
        let path = dir.path().join(FILE_NAME);
        let mut bytes = std::fs::read(&path).unwrap();
        for at in 0..bytes.len() {
            bytes[at] ^= 1;
            std::fs::write(&path, &bytes).unwrap();
            let e = Origins::load(dir.path()).unwrap_err().to_string();
            assert!(e.contains("ORIGINS"), "{e}");
            bytes[at] ^= 1;
        }
    }
}
