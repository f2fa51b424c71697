//! Entry points for the cargo-fuzz targets in `fuzz/` (cargo feature `fuzzing`; not a stable API).
//!
//! Thin wrappers that reach the crate-private decoders, plus builders that turn arbitrary bytes
//! into valid pages, segments and record files, and "reseal" helpers that recompute checksums
//! after a mutation. Checksums reject almost every random input, so without these a fuzzer would
//! never reach the decoding logic behind them.

use std::path::Path;

use crate::encoding::varint::write_varint;
use crate::error::{DecodeError, Result};
use crate::event::{Batch, Code, Value};
use crate::manifest::Manifest;
use crate::page::{
    self, decode_meta, read_page_header, ColumnSet, PageColumns, PageMeta, PageScratch,
    PAGE_HEADER_LEN,
};
use crate::record_log::{self, FileKind};
use crate::segment::{self, SegmentReader};

/// Turn arbitrary bytes into a batch that the API would accept (every byte string maps to one;
/// the fuzzer steers names, times, codes, messages and fields through them).
pub fn batch_from_bytes(data: &[u8]) -> Batch {
    let mut b = Batch::default();
    let mut it = data.iter().copied();
    let mut next = |n: usize| -> Option<u64> {
        let mut v = 0u64;
        for _ in 0..n {
            v = (v << 8) | u64::from(it.next()?);
        }
        Some(v)
    };
    while let (Some(op), Some(start), Some(dur)) = (next(1), next(3), next(2)) {
        let row = b.len() as u32;
        let name = (op & 7) as u32;
        let code = match (op >> 3) & 3 {
            0 => Code::CallOk,
            1 => Code::CallError,
            _ => Code::Log(crate::Level::Info),
        };
        // Spread starts so sorting and delta codecs see both close and far values.
        b.push(name, start << (((op >> 5) & 7) * 4), dur, code);
        // Rows are in range and ascending by construction, so these cannot fail.
        let _ = match op >> 6 {
            1 => b.set_message(row, &format!("m{start}")),
            2 => b.add_field_at(row, (dur & 3) as u32, Value::I64(start as i64 - 1000)),
            3 => b.add_field_at(
                row,
                4 + (dur & 1) as u32,
                Value::Str(format!("v{}", dur % 5)),
            ),
            _ => Ok(()),
        };
        if b.len() >= 4096 {
            break;
        }
    }
    b
}

/// The columns of a page holding `batch`, as the writer fills its active page.
pub fn columns_of(batch: &Batch) -> PageColumns {
    let mut cols = PageColumns::default();
    cols.append_batch(batch, 0, batch.len());
    cols
}

/// Seal `cols` into page bytes (sorts `cols` by start, as the writer does).
pub fn encode_page(cols: &mut PageColumns, first_seq: u64) -> (Vec<u8>, PageMeta) {
    let mut out = Vec::new();
    let meta = page::encode_page(
        cols,
        first_seq,
        &crate::dictionary::Dictionary::new(),
        &mut out,
        &mut PageScratch::default(),
        None,
    );
    (out, meta)
}

/// Decode a whole page held in `bytes` (header, meta, columns), every checksum checked.
pub fn decode_page(bytes: &[u8], which: ColumnSet) -> Result<(PageMeta, PageColumns), DecodeError> {
    let header = page::read_page_header(bytes)?;
    let meta_end = PAGE_HEADER_LEN + header.meta_len as usize;
    let meta_bytes = bytes
        .get(PAGE_HEADER_LEN..meta_end)
        .ok_or(DecodeError::new(PAGE_HEADER_LEN, "page meta truncated"))?;
    let meta = page::decode_meta(&header, meta_bytes)?;
    let cols_bytes = bytes
        .get(meta_end..meta_end + header.cols_len as usize)
        .ok_or(DecodeError::new(meta_end, "page columns truncated"))?;
    let mut cols = PageColumns::default();
    page::decode_page(
        &header,
        cols_bytes,
        meta.rows as usize,
        which,
        &mut cols,
        &mut PageScratch::default(),
        None,
    )?;
    Ok((meta, cols))
}

/// Decode a page meta section without its checksum.
pub fn decode_meta_unchecked(bytes: &[u8]) -> Result<PageMeta, DecodeError> {
    PageMeta::decode(bytes)
}

/// [`decode_meta_unchecked`] leaving the sketches encoded, as a query reads a page's meta.
pub fn decode_meta_deferred_unchecked(bytes: &[u8]) -> Result<PageMeta, DecodeError> {
    PageMeta::decode_deferred(bytes)
}

/// Decode a column section of `rows` rows without its checksum.
pub fn decode_columns_unchecked(
    bytes: &[u8],
    rows: usize,
    which: ColumnSet,
) -> Result<PageColumns, DecodeError> {
    let header = page::PageHeader {
        meta_len: 0,
        meta_crc: 0,
        cols_len: bytes.len() as u32,
        cols_crc: crc32c::crc32c(bytes),
    };
    let mut cols = PageColumns::default();
    page::decode_page(
        &header,
        bytes,
        rows,
        which,
        &mut cols,
        &mut PageScratch::default(),
        None,
    )?;
    Ok(cols)
}

/// Recompute the three checksums of the page at the start of `bytes` from the lengths in its header
/// (as far as the bytes reach), so that a mutation behind them is decoded, not rejected.
pub fn reseal_page(bytes: &mut [u8]) {
    if bytes.len() < PAGE_HEADER_LEN {
        return;
    }
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let meta_len = u32_at(bytes, 8) as usize;
    let cols_len = u32_at(bytes, 16) as usize;
    let meta_end = PAGE_HEADER_LEN.saturating_add(meta_len).min(bytes.len());
    let meta_crc = crc32c::crc32c(&bytes[PAGE_HEADER_LEN..meta_end]);
    let cols_end = meta_end.saturating_add(cols_len).min(bytes.len());
    let cols_crc = crc32c::crc32c(&bytes[meta_end..cols_end]);
    bytes[12..16].copy_from_slice(&meta_crc.to_le_bytes());
    bytes[20..24].copy_from_slice(&cols_crc.to_le_bytes());
    let header_crc = crc32c::crc32c(&bytes[..24]);
    bytes[24..28].copy_from_slice(&header_crc.to_le_bytes());
}

/// A sealed segment file's bytes holding `pages` (each a complete page), laid out as
/// `SegmentWriter` writes it.
pub fn segment_bytes(id: u64, pages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = segment::header_bytes(segment::SegmentIdentity { id, partition: 0 }).to_vec();
    let mut entries = Vec::with_capacity(pages.len());
    let mut summary = PageMeta::default();
    let mut rollup = segment::rollup_build::RollupBuilder::default();
    let mut cols = PageColumns::default();
    for p in pages {
        // Pages that do not decode get an empty zone: opening the file then finds the mismatch.
        let header = read_page_header(p).unwrap_or(crate::page::PageHeader {
            meta_len: 0,
            meta_crc: 0,
            cols_len: p.len().saturating_sub(PAGE_HEADER_LEN) as u32,
            cols_crc: 0,
        });
        let meta = p
            .get(PAGE_HEADER_LEN..PAGE_HEADER_LEN + header.meta_len as usize)
            .and_then(|m| decode_meta(&header, m).ok())
            .unwrap_or_default();
        // decode_meta decodes every sketch: absorbing cannot fail.
        let _ = summary.absorb(&meta);
        // The value rollup, as the writer feeds it (a page whose columns do not decode leaves it
        // disagreeing with the pages: the segment is then written without one).
        let decoded = p
            .get(PAGE_HEADER_LEN + header.meta_len as usize..)
            .map(|c| {
                page::decode_page(
                    &header,
                    c,
                    meta.rows as usize,
                    ColumnSet::ALL,
                    &mut cols,
                    &mut PageScratch::default(),
                    None,
                )
            });
        if matches!(decoded, Some(Ok(()))) {
            let strings = page::StringFields::of(&cols);
            rollup.add_page(&cols, &strings.dicts, &meta);
        }
        entries.push(segment::PageEntry {
            offset: out.len() as u64,
            header,
            zone: meta.zone(),
        });
        out.extend_from_slice(p);
    }
    let covered = rollup.covers(entries.iter().map(|e| e.zone));
    match rollup.encode(&summary).filter(|_| covered) {
        Some(region) => {
            let at = segment::rollup::RollupRef {
                offset: out.len() as u64,
                directory_len: region.directory_len as u32,
                directory_crc: crc32c::crc32c(&region.bytes[..region.directory_len]),
            };
            out.extend_from_slice(&region.bytes);
            let footer = segment::encode_footer(&entries, &summary, Some(at));
            seal_footer(&mut out, footer, &segment::TRAILER_MAGIC_V3);
        }
        None => {
            let footer = segment::encode_footer(&entries, &summary, None);
            seal_footer(&mut out, footer, &segment::TRAILER_MAGIC);
        }
    }
    out
}

/// A sealed segment of `pages` with the older footer (offsets and lengths only), as stores made
/// before the footer carried zones and a summary hold them.
pub fn segment_bytes_v1(id: u64, pages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = segment::header_bytes(segment::SegmentIdentity { id, partition: 0 }).to_vec();
    let mut footer = Vec::new();
    write_varint(&mut footer, pages.len() as u64);
    for p in pages {
        write_varint(&mut footer, out.len() as u64);
        write_varint(&mut footer, p.len() as u64);
        out.extend_from_slice(p);
    }
    seal_footer(&mut out, footer, &segment::TRAILER_MAGIC_V1);
    out
}

fn seal_footer(out: &mut Vec<u8>, footer: Vec<u8>, magic: &[u8; 8]) {
    let offset = out.len() as u64;
    out.extend_from_slice(&footer);
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&(footer.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&footer).to_le_bytes());
    out.extend_from_slice(magic);
}

/// Recompute the footer checksum of a sealed segment from the footer position in its trailer (if
/// that position is inside the file).
pub fn reseal_segment_footer(bytes: &mut [u8]) {
    let len = bytes.len();
    if len < segment::TRAILER_LEN {
        return;
    }
    let t = len - segment::TRAILER_LEN;
    let mut off = [0u8; 8];
    off.copy_from_slice(&bytes[t..t + 8]);
    let off = u64::from_le_bytes(off);
    let flen = u32::from_le_bytes([bytes[t + 8], bytes[t + 9], bytes[t + 10], bytes[t + 11]]);
    let Some(end) = off.checked_add(u64::from(flen)) else {
        return;
    };
    if end as usize > t || off as usize > t {
        return;
    }
    let crc = crc32c::crc32c(&bytes[off as usize..end as usize]);
    bytes[t + 12..t + 16].copy_from_slice(&crc.to_le_bytes());
}

/// What reading a segment file produced.
#[derive(Debug)]
pub struct SegmentRead {
    /// Per page of the directory: its meta and its decoded columns, each read and checked.
    pub pages: Vec<(Result<PageMeta>, Result<PageColumns>)>,
    /// The segment's summary, as its footer says (or its pages' metas, for the older footer).
    pub summary: PageMeta,
    /// Its value rollup checked whole (every value's meta against its checksum and the summary):
    /// its bytes, `None` without one.
    pub rollup: Result<Option<Vec<u8>>>,
}

/// Open the sealed segment at `path` and decode every page with every column.
pub fn read_segment(path: &Path) -> Result<SegmentRead> {
    let reader = SegmentReader::open(path)?;
    let mut scratch = crate::ReadScratch::default();
    let mut pages = Vec::new();
    for entry in reader.pages() {
        let mut cols = PageColumns::default();
        let r = reader
            .read_page(entry, ColumnSet::ALL, &mut scratch, &mut cols)
            .map(|()| cols);
        pages.push((reader.page_meta(entry), r));
    }
    Ok(SegmentRead {
        pages,
        summary: (**reader.summary()).clone(),
        rollup: reader.check_rollup(),
    })
}

/// Scan the segment at `path` as crash recovery does; returns (pages, valid length, cut reason).
pub fn recover_segment(path: &Path) -> Result<(usize, u64, Option<String>)> {
    let r = segment::recover_active(path)?;
    Ok((r.pages.len(), r.valid_len, r.cut.map(|(_, why)| why)))
}

/// What salvaging a segment file found (see [`salvage_segment`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Salvage {
    /// Pages kept: intact, or rebuilt from their columns.
    pub pages: usize,
    /// Of those, pages whose meta was rebuilt.
    pub rebuilt: usize,
    /// Byte ranges that held no intact page.
    pub damaged: usize,
}

/// Salvage the segment at `path` as repair does, and check what salvage promises: each rebuilt
/// meta agrees with its page's directory entry, and the summary counts the kept pages' rows.
pub fn salvage_segment(path: &Path) -> Result<Salvage> {
    let s = segment::salvage(path)?;
    for r in &s.rebuilt {
        let entry = s.pages.iter().find(|p| p.offset == r.offset);
        assert!(entry.is_some(), "a rebuilt page is among the kept ones");
        assert!(
            entry.is_some_and(|e| e.zone == r.meta.zone()),
            "a rebuilt meta agrees with the directory"
        );
    }
    let rows: u64 = s.pages.iter().map(|p| u64::from(p.zone.rows)).sum();
    assert_eq!(s.summary.rows, rows, "the summary counts the kept pages");
    Ok(Salvage {
        pages: s.pages.len(),
        rebuilt: s.rebuilt.len(),
        damaged: s.damage.len(),
    })
}

/// Decode manifest bytes; on success returns them encoded again.
pub fn manifest_round_trip(bytes: &[u8]) -> Result<Vec<u8>> {
    Manifest::decode(bytes, Path::new("MANIFEST")).map(|m| m.encode())
}

/// `body` followed by its CRC32C, as the manifest (and nothing else) is framed.
pub fn with_crc(body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    out.extend_from_slice(&crc32c::crc32c(body).to_le_bytes());
    out
}

/// Which kind of record file.
#[derive(Debug, Clone, Copy)]
pub enum RecordKind {
    /// Write-ahead log.
    Wal,
    /// Name dictionary.
    Names,
}

impl RecordKind {
    fn kind(self) -> FileKind {
        match self {
            RecordKind::Wal => FileKind::WAL,
            RecordKind::Names => FileKind::NAMES,
        }
    }
}

/// A record file's bytes: a valid header and one valid frame per payload.
pub fn record_file(kind: RecordKind, file_id: u64, payloads: &[&[u8]]) -> Vec<u8> {
    let mut out = record_log::encode_header(kind.kind(), 0, file_id).to_vec();
    for p in payloads {
        let len = p.len() as u32;
        let crc = record_log::frame_crc(record_log::id_crc(file_id), len, &[p]);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// Scan the record file at `path`; returns the payloads, the valid length and the cut reason.
pub fn scan_records(path: &Path, kind: RecordKind) -> Result<(Vec<Vec<u8>>, u64, Option<String>)> {
    let mut payloads = Vec::new();
    let s = record_log::for_each_record(path, kind.kind(), |_, p| {
        payloads.push(p.to_vec());
        Ok(())
    })?;
    Ok((payloads, s.valid_len, s.cut.map(|c| c.reason.to_string())))
}

/// Decode one names record that must continue a dictionary of `expect_first` names.
pub fn decode_names_record(
    payload: &[u8],
    expect_first: usize,
) -> Result<Vec<String>, &'static str> {
    crate::names_file::decode_record(payload, expect_first)
}

/// Encode one names record.
pub fn encode_names_record(first_id: usize, names: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    crate::names_file::encode_record(first_id, names.iter().map(String::as_str), &mut out);
    out
}

/// Load the dictionary of partition `dir` (both copies); returns the names and the cuts' reasons.
pub fn load_names(dir: &Path) -> Result<(Vec<String>, Vec<String>)> {
    let l = crate::names_file::load(dir)?;
    Ok((l.strings, l.cuts.into_iter().map(|c| c.reason).collect()))
}

/// The file name a names copy has inside a partition.
pub const NAMES_FILES: [&str; 2] = crate::names_file::FILE_NAMES;

/// Decode one WAL record payload.
pub fn decode_batch(bytes: &[u8]) -> Result<(u64, Batch), DecodeError> {
    crate::wal::decode_batch(bytes)
}

/// Encode one WAL record payload.
pub fn encode_batch(first_seq: u64, batch: &Batch) -> Vec<u8> {
    let mut out = Vec::new();
    crate::wal::encode_batch(first_seq, batch, &mut out);
    out
}

/// The file name of the WAL file whose first event is `first_seq`.
pub fn wal_file_name(first_seq: u64) -> String {
    crate::wal::file_name(first_seq)
}

/// What replaying a WAL directory produced.
#[derive(Debug)]
pub struct WalReplay {
    /// (first seq, events) of every batch handed to the replay callback, in order.
    pub batches: Vec<(u64, usize)>,
    /// Events the recovery reported as replayed.
    pub events: u64,
    /// Seq after the last event found.
    pub end_seq: u64,
    /// Why each cut was made.
    pub cuts: Vec<String>,
}

/// Replay the WAL of `dir` from `from_seq`, as store recovery does.
pub fn recover_wal(dir: &Path, from_seq: u64) -> Result<WalReplay> {
    let mut batches = Vec::new();
    let r = crate::wal::recover(dir, from_seq, |first, batch| {
        batches.push((first, batch.len()));
        Ok(())
    })?;
    Ok(WalReplay {
        batches,
        events: r.events,
        end_seq: r.end_seq,
        cuts: r.cuts.into_iter().map(|c| c.reason).collect(),
    })
}

/// Reseal every page reachable by walking the page headers from the segment header on, then the
/// footer: after this only structural damage is left for the reader to find.
pub fn reseal_segment(bytes: &mut [u8]) {
    let mut at = segment::HEADER_LEN;
    while at + PAGE_HEADER_LEN <= bytes.len() && bytes[at..at + 4] == *b"LTPG" {
        reseal_page(&mut bytes[at..]);
        let u32_at = |i: usize| {
            u64::from(u32::from_le_bytes([
                bytes[i],
                bytes[i + 1],
                bytes[i + 2],
                bytes[i + 3],
            ]))
        };
        at += (PAGE_HEADER_LEN as u64 + u32_at(at + 8) + u32_at(at + 16)).min(bytes.len() as u64)
            as usize;
    }
    reseal_segment_footer(bytes);
}
