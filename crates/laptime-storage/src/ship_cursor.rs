//! How far a feed (`ship::Feed`) has shipped each partition (a leaf module: compaction reads it too): one small file per (feed, partition),
//! `<root>/ship/<feed>/<partition id>.cursor`, replaced atomically after the receiver acknowledged
//! the events before it. Compaction reads them too: it never re-packs pages a feed has not
//! shipped yet, so the pages a shipper sees keep their seq boundaries until they are shipped.
//!
//! ```text
//! 4 bytes  magic     "LTSC"
//! u8       version   1
//! varint   next seq  the first seq not yet shipped
//! u32 LE   crc       CRC32C of the bytes before it
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::durable;
use crate::encoding::varint::{read_varint, write_varint};
use crate::error::{Error, Result};

const MAGIC: [u8; 4] = *b"LTSC";
const VERSION: u8 = 1;
/// The directory under a store's root that holds one directory per feed.
pub(crate) const SHIP_DIR: &str = "ship";
const SUFFIX: &str = ".cursor";

/// Check a feed name: it becomes a directory name.
pub(crate) fn check_feed_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            what: "feed name",
            reason: format!(
                "{name:?}: 1 to 64 characters of a-z, A-Z, 0-9, '-', '_', '.', not starting with '.'"
            ),
        })
    }
}

pub(crate) fn encode(next_seq: u64) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.push(VERSION);
    write_varint(&mut out, next_seq);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<u64> {
    let bad = |offset: usize, why: &'static str| Error::corrupt(path, offset as u64, why);
    let body_len = bytes
        .len()
        .checked_sub(4)
        .ok_or(bad(0, "cursor file truncated"))?;
    let (body, crc) = bytes.split_at(body_len);
    if crc32c::crc32c(body) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return Err(bad(body_len, "cursor checksum mismatch"));
    }
    if body.get(..4) != Some(&MAGIC[..]) || body.get(4) != Some(&VERSION) {
        return Err(bad(0, "not a cursor file of this version"));
    }
    let mut pos = 5;
    let next = read_varint(body, &mut pos).map_err(|e| bad(e.offset, e.reason))?;
    if pos != body.len() {
        return Err(bad(pos, "trailing bytes in cursor file"));
    }
    Ok(next)
}

/// The cursor file of `partition` in feed directory `feed_dir`.
pub(crate) fn path_of(feed_dir: &Path, partition: &str) -> PathBuf {
    feed_dir.join(format!("{partition}{SUFFIX}"))
}

/// Every cursor of a feed directory, by partition id. A file that fails its checks is an error
/// naming it (a shipper must not guess how far it got).
pub(crate) fn read_all(feed_dir: &Path) -> Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    let entries = match std::fs::read_dir(feed_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(feed_dir, "listing a feed directory", e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(feed_dir, "listing a feed directory", e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(partition) = name.strip_suffix(SUFFIX) else {
            continue; // temp files of an interrupted write, or anything else
        };
        let path = entry.path();
        let bytes = durable::read_bounded(&path, 64)?;
        out.insert(partition.to_owned(), decode(&bytes, &path)?);
    }
    Ok(out)
}

/// The lowest next-seq any feed of the store at `root` has for `partition`: compaction keeps the
/// pages from there on as they are. `None` when the store has no feed; `Some(0)` when a feed has
/// not shipped this partition at all. An unreadable cursor counts as 0 (keeping pages is safe).
pub(crate) fn min_unshipped(root: &Path, partition: &str) -> Option<u64> {
    let feeds = std::fs::read_dir(root.join(SHIP_DIR)).ok()?;
    let mut min: Option<u64> = None;
    for feed in feeds.flatten() {
        if !feed.path().is_dir() {
            continue;
        }
        let path = path_of(&feed.path(), partition);
        let next = durable::read_bounded(&path, 64)
            .ok()
            .and_then(|b| decode(&b, &path).ok())
            .unwrap_or(0);
        min = Some(min.map_or(next, |m| m.min(next)));
    }
    min
}
