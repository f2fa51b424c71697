//! Segment files: pages appended one after another, closed by a footer (the page directory) and a
//! fixed trailer. A sealed segment is immutable. The segment being written has no footer yet; after
//! a crash its pages are found again by scanning their self-checking headers (`recover`).
//!
//! ```text
//! offset  size  field
//! 0       4     magic "LTSG"
//! 4       2     format version (2, u16 LE)
//! 6       2     reserved, zero
//! 8       8     segment id (u64 LE; the file name says the same)
//! 16      8     partition id (u64 LE; the partition directory's name, see `partition::id_of`)
//! 24      4     reserved, zero
//! 28      4     header CRC32C of bytes 0..28
//! 32      ..    pages (see `page::codec`)
//! R       ..    value rollup ("LTSGEND3" only; see `rollup`)
//! F       ..    footer (below)
//! end-24  8     footer offset (u64 LE)
//! end-16  4     footer length (u32 LE)
//! end-12  4     footer CRC32C
//! end-8   8     magic "LTSGEND3" (a rollup follows the pages), "LTSGEND2" (none), or
//!               "LTSGEND1" (the older footer)
//! ```
//!
//! The footer is the page directory and the segment's summary, so opening a segment reads its
//! header, trailer and footer and nothing else; a page's meta (names, sketches) is read when a
//! query needs it (invariant 4, ARCHITECTURE.md). Varints unless noted:
//!
//! ```text
//! page count, then per page:
//!     offset, meta_len, meta_crc (u32 LE), cols_len, cols_crc (u32 LE),
//!     rows, first_seq, min_start, max_start - min_start, max_id + 1 (0: none)
//! ("LTSGEND3") rollup offset R, rollup directory length, its CRC32C (u32 LE)
//! summary length, then the summary: the page meta layout (`page::meta`, no names section) of
//!     all pages together (counts and sketches merged per name)
//! ```
//!
//! The older footer ("LTSGEND1") holds only `page count` and per page `offset, total length`;
//! opening such a segment reads every page meta to build the same directory and summary.
//!
//! The identity in the header lets recovery tell a partition's own segments from files that were
//! copied in from elsewhere (another partition or store), and a file renamed to another id; the
//! pages' sequence ranges tell duplicates apart (see `layout`).

mod footer;
mod reader;
pub(crate) mod rollup;
pub(crate) mod rollup_build;
mod writer;

#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use footer::encode as encode_footer;
pub use reader::ReadScratch;
pub(crate) use reader::{
    read_identity, recover_active, salvage, summarize, RebuiltMeta, Salvaged, SegmentReader,
};
pub(crate) use writer::SegmentWriter;

use crate::page::{PageHeader, PageZone};

pub(crate) const MAGIC: [u8; 4] = *b"LTSG";
pub(crate) const VERSION: u16 = 2;
const VERSION_OFFSET: usize = 4;
const ID_OFFSET: usize = VERSION_OFFSET + 4;
const PARTITION_OFFSET: usize = ID_OFFSET + 8;
const HEADER_CRC_OFFSET: usize = PARTITION_OFFSET + 8 + 4;
/// Bytes before the first page.
pub(crate) const HEADER_LEN: usize = HEADER_CRC_OFFSET + 4;
const _: () = assert!(HEADER_LEN == 32);

/// Who a segment file says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentIdentity {
    /// Its segment id.
    pub id: u64,
    /// The partition that wrote it.
    pub partition: u64,
}

/// Trailer of a segment with a value rollup between its pages and its footer.
pub(crate) const TRAILER_MAGIC_V3: [u8; 8] = *b"LTSGEND3";
/// Trailer of a segment whose footer follows its last page.
pub(crate) const TRAILER_MAGIC: [u8; 8] = *b"LTSGEND2";
/// Trailer of a segment whose footer is only the page offsets and lengths.
pub(crate) const TRAILER_MAGIC_V1: [u8; 8] = *b"LTSGEND1";
const TRAILER_FOOTER_OFFSET: usize = 0;
const TRAILER_FOOTER_LEN: usize = TRAILER_FOOTER_OFFSET + 8;
const TRAILER_FOOTER_CRC: usize = TRAILER_FOOTER_LEN + 4;
const TRAILER_MAGIC_OFFSET: usize = TRAILER_FOOTER_CRC + 4;
/// Bytes of the fixed trailer.
pub(crate) const TRAILER_LEN: usize = TRAILER_MAGIC_OFFSET + 8;

/// File name of segment `id`.
pub(crate) fn file_name(id: u64) -> String {
    format!("seg-{id:016x}.lts")
}

/// Parse a segment file name back to its id.
pub(crate) fn parse_file_name(name: &str) -> Option<u64> {
    let hex = name.strip_prefix("seg-")?.strip_suffix(".lts")?;
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

pub(crate) fn header_bytes(who: SegmentIdentity) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&MAGIC);
    h[VERSION_OFFSET..VERSION_OFFSET + 2].copy_from_slice(&VERSION.to_le_bytes());
    h[ID_OFFSET..ID_OFFSET + 8].copy_from_slice(&who.id.to_le_bytes());
    h[PARTITION_OFFSET..PARTITION_OFFSET + 8].copy_from_slice(&who.partition.to_le_bytes());
    let crc = crc32c::crc32c(&h[..HEADER_CRC_OFFSET]);
    h[HEADER_CRC_OFFSET..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Parse a segment header; `None` with the reason when it is not a valid version-2 header.
fn parse_header(
    h: &[u8; HEADER_LEN],
) -> std::result::Result<SegmentIdentity, (usize, &'static str)> {
    if h[..4] != MAGIC {
        return Err((0, "bad segment magic"));
    }
    if u16::from_le_bytes([h[VERSION_OFFSET], h[VERSION_OFFSET + 1]]) != VERSION {
        return Err((VERSION_OFFSET, "unknown segment version"));
    }
    let crc = u32::from_le_bytes([
        h[HEADER_CRC_OFFSET],
        h[HEADER_CRC_OFFSET + 1],
        h[HEADER_CRC_OFFSET + 2],
        h[HEADER_CRC_OFFSET + 3],
    ]);
    if crc32c::crc32c(&h[..HEADER_CRC_OFFSET]) != crc {
        return Err((HEADER_CRC_OFFSET, "segment header checksum mismatch"));
    }
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&h[at..at + 8]);
        u64::from_le_bytes(b)
    };
    Ok(SegmentIdentity {
        id: u64_at(ID_OFFSET),
        partition: u64_at(PARTITION_OFFSET),
    })
}

/// Where one page sits in its segment and what it holds.
#[derive(Debug, Clone)]
pub struct PageEntry {
    /// Byte offset of the page header.
    pub offset: u64,
    pub(crate) header: PageHeader,
    /// Where its events lie; the rest of its meta is on disk (`SegmentReader::page_meta`).
    pub zone: PageZone,
}

impl PageEntry {
    /// Offset of the meta section.
    pub(crate) fn meta_offset(&self) -> u64 {
        self.offset + crate::page::PAGE_HEADER_LEN as u64
    }

    /// Offset of the column section.
    pub(crate) fn cols_offset(&self) -> u64 {
        self.offset + crate::page::PAGE_HEADER_LEN as u64 + u64::from(self.header.meta_len)
    }

    /// End offset of the page.
    pub(crate) fn end(&self) -> u64 {
        self.offset + self.header.total_len()
    }
}

#[cfg(test)]
mod tests;
