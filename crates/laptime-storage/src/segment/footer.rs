//! The segment footer: the page directory (where each page is, its header, its zone) and the
//! segment's summary, so that opening a segment reads no page. Layout in `segment/mod.rs`.

use crate::encoding::varint::{read_varint, write_varint};
use crate::error::DecodeError;
use crate::event::NameId;
use crate::page::{PageHeader, PageMeta, PageZone, MAX_SECTION_LEN};

use super::rollup::RollupRef;
use super::{PageEntry, HEADER_LEN};

/// Encode the footer of a segment holding `pages`, whose summary is `summary`, with the
/// reference to its value rollup if it has one (the third footer layout, "LTSGEND3").
pub(crate) fn encode(
    pages: &[PageEntry],
    summary: &PageMeta,
    rollup: Option<RollupRef>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + pages.len() * 40);
    write_varint(&mut out, pages.len() as u64);
    for p in pages {
        write_varint(&mut out, p.offset);
        write_varint(&mut out, u64::from(p.header.meta_len));
        out.extend_from_slice(&p.header.meta_crc.to_le_bytes());
        write_varint(&mut out, u64::from(p.header.cols_len));
        out.extend_from_slice(&p.header.cols_crc.to_le_bytes());
        let z = &p.zone;
        write_varint(&mut out, u64::from(z.rows));
        write_varint(&mut out, z.first_seq);
        write_varint(&mut out, z.min_start);
        write_varint(&mut out, z.max_start - z.min_start);
        write_varint(&mut out, z.max_id.map_or(0, |m| u64::from(m) + 1));
    }
    if let Some(r) = rollup {
        write_varint(&mut out, r.offset);
        write_varint(&mut out, u64::from(r.directory_len));
        out.extend_from_slice(&r.directory_crc.to_le_bytes());
    }
    let mut encoded = Vec::new();
    summary.encode_summary(&mut encoded);
    write_varint(&mut out, encoded.len() as u64);
    out.extend_from_slice(&encoded);
    out
}

/// What a footer says: the pages, the summary and where the value rollup is.
pub(crate) struct Footer {
    pub pages: Vec<PageEntry>,
    pub summary: PageMeta,
    pub rollup: Option<RollupRef>,
}

/// Decode a footer found at `footer_offset` (its checksum already checked); `with_rollup` for the
/// third layout. Pages must follow each other from the end of the segment header to the footer
/// (or to the rollup, which must end at the footer) without a gap, and the summary must count the
/// rows the pages do: a footer that disagrees with itself is refused.
pub(crate) fn decode(
    bytes: &[u8],
    footer_offset: u64,
    with_rollup: bool,
) -> Result<Footer, DecodeError> {
    let mut pos = 0usize;
    let count = read_varint(bytes, &mut pos)?;
    // Each page takes at least 16 bytes (two u32 checksums and eight varints).
    if count > (bytes.len() / 16) as u64 {
        return Err(DecodeError::new(pos, "implausible page count"));
    }
    let mut pages = Vec::with_capacity(count as usize);
    let mut expect = HEADER_LEN as u64;
    let mut rows = 0u64;
    for _ in 0..count {
        let at = pos;
        let offset = read_varint(bytes, &mut pos)?;
        if offset != expect {
            return Err(DecodeError::new(at, "page directory has a gap"));
        }
        let meta_len = section_len(bytes, &mut pos)?;
        let meta_crc = u32_le(bytes, &mut pos)?;
        let cols_len = section_len(bytes, &mut pos)?;
        let cols_crc = u32_le(bytes, &mut pos)?;
        let header = PageHeader {
            meta_len,
            meta_crc,
            cols_len,
            cols_crc,
        };
        let rows_at = pos;
        let page_rows = u32::try_from(read_varint(bytes, &mut pos)?)
            .map_err(|_| DecodeError::new(rows_at, "page row count too large"))?;
        let first_seq = read_varint(bytes, &mut pos)?;
        let min_start = read_varint(bytes, &mut pos)?;
        let span_at = pos;
        let max_start = min_start
            .checked_add(read_varint(bytes, &mut pos)?)
            .ok_or(DecodeError::new(span_at, "start range overflows"))?;
        let id_at = pos;
        let max_id = match read_varint(bytes, &mut pos)? {
            0 => None,
            n => Some(
                NameId::try_from(n - 1)
                    .map_err(|_| DecodeError::new(id_at, "name id out of range"))?,
            ),
        };
        expect = offset
            .checked_add(header.total_len())
            .filter(|&end| end <= footer_offset)
            .ok_or(DecodeError::new(at, "page runs past the footer"))?;
        rows += u64::from(page_rows);
        pages.push(PageEntry {
            offset,
            header,
            zone: PageZone {
                rows: page_rows,
                first_seq,
                min_start,
                max_start,
                max_id,
            },
        });
    }
    let rollup = if with_rollup {
        let at = pos;
        let offset = read_varint(bytes, &mut pos)?;
        let directory_len = u32::try_from(read_varint(bytes, &mut pos)?)
            .map_err(|_| DecodeError::new(at, "rollup directory too long"))?;
        let directory_crc = u32_le(bytes, &mut pos)?;
        if offset
            .checked_add(u64::from(directory_len))
            .is_none_or(|end| end > footer_offset)
        {
            return Err(DecodeError::new(at, "rollup runs past the footer"));
        }
        Some(RollupRef {
            offset,
            directory_len,
            directory_crc,
        })
    } else {
        None
    };
    if expect != rollup.map_or(footer_offset, |r| r.offset) {
        return Err(DecodeError::new(
            pos,
            "page directory does not cover the file",
        ));
    }
    let len_at = pos;
    let len = usize::try_from(read_varint(bytes, &mut pos)?).unwrap_or(usize::MAX);
    let end = pos
        .checked_add(len)
        .filter(|&e| e == bytes.len())
        .ok_or(DecodeError::new(
            len_at,
            "summary length differs from the footer",
        ))?;
    let summary = PageMeta::decode_summary(&bytes[pos..end]).map_err(|e| DecodeError {
        offset: pos + e.offset,
        reason: e.reason,
    })?;
    if summary.rows != rows {
        return Err(DecodeError::new(
            pos,
            "summary row count differs from the pages",
        ));
    }
    Ok(Footer {
        pages,
        summary,
        rollup,
    })
}

/// The older footer: page count, then per page offset and total length. Returns the offsets and
/// lengths; the reader reads every page's header and meta from them.
pub(crate) fn decode_v1(bytes: &[u8]) -> Result<Vec<(u64, u64)>, DecodeError> {
    let mut pos = 0usize;
    let count = read_varint(bytes, &mut pos)?;
    if count > bytes.len() as u64 {
        return Err(DecodeError::new(pos, "implausible page count"));
    }
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let offset = read_varint(bytes, &mut pos)?;
        let len = read_varint(bytes, &mut pos)?;
        out.push((offset, len));
    }
    if pos != bytes.len() {
        return Err(DecodeError::new(pos, "trailing bytes after page directory"));
    }
    Ok(out)
}

fn section_len(bytes: &[u8], pos: &mut usize) -> Result<u32, DecodeError> {
    let at = *pos;
    u32::try_from(read_varint(bytes, pos)?)
        .ok()
        .filter(|&n| n <= MAX_SECTION_LEN)
        .ok_or(DecodeError::new(at, "page section length out of range"))
}

fn u32_le(bytes: &[u8], pos: &mut usize) -> Result<u32, DecodeError> {
    let b = bytes
        .get(*pos..*pos + 4)
        .ok_or(DecodeError::new(*pos, "footer truncated"))?;
    *pos += 4;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}
