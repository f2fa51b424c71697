//! The shipped message: what goes from an app host (or `laptime ingest`) through Kafka to an
//! indexer. It carries sealed pages exactly as a store writes them (each with its own header,
//! meta, names and column checksums), so a shipper copies page bytes from its segments without
//! decoding them, and the receiver checks everything before it stores anything.
//!
//! ```text
//! 4 bytes  magic       "LTSM"
//! u8       version     1
//! varint   source      byte length, then UTF-8: who produced the events (a partition id, an
//!                      ingest instance); sequence numbers are per source
//! varint   pages       at least 1
//! per page:
//!   u32 LE   length    bytes of the page
//!   bytes    page      a sealed page (`page/codec.rs`); its meta holds its first seq, its rows,
//!                      and the text of every name and field key it uses
//! u32 LE   crc         CRC32C of everything before it
//! ```
//!
//! The pages of one message have consecutive seqs (page `i + 1` starts where page `i` ends), so a
//! message covers one range `[first_seq, end_seq)` of its source.

use std::fmt;

use crate::dictionary::Dictionary;
use crate::encoding::varint::{read_varint, write_varint};
use crate::error::{DecodeError, Error};
use crate::event::{Batch, NameId};
use crate::page::{decode_meta, decode_page, encode_page, read_page_header};
use crate::page::{ColumnSet, PageColumns, PageMeta, PageScratch, PAGE_HEADER_LEN};

const MAGIC: [u8; 4] = *b"LTSM";
const VERSION: u8 = 1;
/// Longest source id accepted (ids are short; a bound keeps hostile input cheap).
pub use crate::event::MAX_SOURCE_BYTES;

/// Why a message was refused: where (byte offset in the message, and the page if inside one) and
/// what failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageError {
    /// Offset in the message.
    pub offset: usize,
    /// Index of the page the failure is in, if it is in one.
    pub page: Option<u64>,
    /// What failed.
    pub reason: String,
}

impl MessageError {
    fn at(offset: usize, reason: impl Into<String>) -> MessageError {
        MessageError {
            offset,
            page: None,
            reason: reason.into(),
        }
    }
}

impl From<DecodeError> for MessageError {
    fn from(e: DecodeError) -> MessageError {
        MessageError::at(e.offset, e.reason)
    }
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.page {
            Some(p) => write!(
                f,
                "page {p} of the message: {} (at byte {})",
                self.reason, self.offset
            ),
            None => write!(f, "{} (at byte {})", self.reason, self.offset),
        }
    }
}

impl std::error::Error for MessageError {}

/// One page of a received message, checked and decoded.
#[derive(Debug, Clone)]
pub struct ShippedPage {
    /// Zone map, sketches, first seq and rows, as the sender computed them.
    pub meta: PageMeta,
    /// Text of the ids the columns use (names and field keys), ascending by id.
    pub names: Vec<(NameId, String)>,
    /// The events.
    pub cols: PageColumns,
}

/// A received message, checked and decoded.
#[derive(Debug, Clone)]
pub struct ShipMessage {
    /// Who produced the events.
    pub source: String,
    /// Its pages, consecutive in seq.
    pub pages: Vec<ShippedPage>,
}

impl ShipMessage {
    /// Seq of the first event.
    pub fn first_seq(&self) -> u64 {
        self.pages.first().map_or(0, |p| p.meta.first_seq)
    }

    /// Seq one past the last event.
    pub fn end_seq(&self) -> u64 {
        self.pages.last().map_or(0, |p| p.meta.end_seq())
    }

    /// Events in the message.
    pub fn rows(&self) -> u64 {
        self.pages.iter().map(|p| p.meta.rows).sum()
    }
}

/// Append a message of `source` holding `pages` (sealed pages as a store wrote them, consecutive
/// in seq) to `out`. The pages are not checked here: the receiver checks everything.
pub fn encode_message(source: &str, pages: &[&[u8]], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    write_varint(out, source.len() as u64);
    out.extend_from_slice(source.as_bytes());
    write_varint(out, pages.len() as u64);
    for page in pages {
        out.extend_from_slice(&(page.len() as u32).to_le_bytes());
        out.extend_from_slice(page);
    }
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Check and decode a message. Every page's checksums, its meta and columns, and the seq
/// continuity between pages are checked; an error names the byte offset and, for a page, its
/// index. Nothing is returned unless everything is valid.
pub fn decode_message(bytes: &[u8]) -> Result<ShipMessage, MessageError> {
    let body_len = bytes
        .len()
        .checked_sub(4)
        .ok_or(MessageError::at(0, "message shorter than its checksum"))?;
    let (body, crc) = bytes.split_at(body_len);
    if body.get(..4) != Some(&MAGIC[..]) {
        return Err(MessageError::at(0, "not a shipped message (bad magic)"));
    }
    if crc32c::crc32c(body) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return Err(MessageError::at(body_len, "message checksum mismatch"));
    }
    if body.get(4) != Some(&VERSION) {
        return Err(MessageError::at(4, "unknown shipped message version"));
    }
    let mut pos = 5usize;
    let source_len = read_varint(body, &mut pos)?;
    if source_len == 0 || source_len > MAX_SOURCE_BYTES as u64 {
        return Err(MessageError::at(pos, "source id empty or too long"));
    }
    let source = take(body, &mut pos, source_len as usize)?;
    let source = std::str::from_utf8(source)
        .map_err(|_| MessageError::at(pos, "source id is not UTF-8"))?
        .to_owned();
    let count = read_varint(body, &mut pos)?;
    if count == 0 {
        return Err(MessageError::at(pos, "a message holds at least one page"));
    }
    let mut pages = Vec::new();
    let mut scratch = PageScratch::default();
    for index in 0..count {
        let at = pos;
        let len_bytes = take(body, &mut pos, 4)?;
        let len = u32::from_le_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
        let page_bytes = take(body, &mut pos, len as usize)?;
        let in_page = |e: MessageError| MessageError {
            offset: at + 4 + e.offset,
            page: Some(index),
            reason: e.reason,
        };
        let page = decode_one(page_bytes, &mut scratch).map_err(in_page)?;
        if let Some(prev) = pages.last().map(|p: &ShippedPage| p.meta.end_seq()) {
            if page.meta.first_seq != prev {
                return Err(in_page(MessageError::at(
                    0,
                    format!(
                        "starts at seq {}, the page before ends at {prev}: pages of a message must have consecutive seqs",
                        page.meta.first_seq
                    ),
                )));
            }
        }
        pages.push(page);
    }
    if pos != body.len() {
        return Err(MessageError::at(pos, "trailing bytes after the last page"));
    }
    Ok(ShipMessage { source, pages })
}

fn take<'a>(b: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8], MessageError> {
    let end = pos
        .checked_add(n)
        .filter(|&e| e <= b.len())
        .ok_or(MessageError::at(*pos, "message truncated"))?;
    let s = &b[*pos..end];
    *pos = end;
    Ok(s)
}

/// One sealed page: header, meta (with its names) and columns, all checked.
fn decode_one(bytes: &[u8], scratch: &mut PageScratch) -> Result<ShippedPage, MessageError> {
    let header = read_page_header(bytes)?;
    if header.total_len() != bytes.len() as u64 {
        return Err(MessageError::at(0, "page length disagrees with its header"));
    }
    let meta_end = PAGE_HEADER_LEN + header.meta_len as usize;
    let meta_bytes = &bytes[PAGE_HEADER_LEN..meta_end];
    let at_meta = |e: DecodeError| MessageError::at(PAGE_HEADER_LEN + e.offset, e.reason);
    let meta = decode_meta(&header, meta_bytes).map_err(at_meta)?;
    let names = PageMeta::decode_names(meta_bytes).map_err(at_meta)?;
    let mut cols = PageColumns::default();
    decode_page(
        &header,
        &bytes[meta_end..],
        meta.rows as usize,
        ColumnSet::ALL,
        &mut cols,
        scratch,
        None,
    )
    .map_err(|e| MessageError::at(meta_end + e.offset, e.reason))?;
    // Every id the columns use must have its text: the receiver maps ids by it.
    let known = |id: NameId| names.binary_search_by_key(&id, |(i, _)| *i).is_ok();
    if let Some(&id) = cols.names.iter().find(|&&id| !known(id)) {
        return Err(MessageError::at(
            0,
            format!("name id {id} has no text in the page's names"),
        ));
    }
    if let Some(f) = cols.fields.iter().find(|f| !known(f.key)) {
        return Err(MessageError::at(
            0,
            format!("field key id {} has no text in the page's names", f.key),
        ));
    }
    Ok(ShippedPage { meta, names, cols })
}

/// Append a message of `source` holding the events of `batch`, whose name and field key ids are
/// indices into `names`, as seqs `first_seq..first_seq + batch.len()`: what `laptime ingest`
/// sends for events that never were in a store. The batch is cut into pages of at most
/// `page_rows` events. Fails on an id without a name.
pub fn encode_batch_message(
    source: &str,
    first_seq: u64,
    names: &[String],
    batch: &Batch,
    page_rows: usize,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let unknown = |id: NameId| id as usize >= names.len();
    if batch.names().iter().any(|&n| unknown(n))
        || batch.field_keys().iter().any(|f| unknown(f.key))
    {
        return Err(Error::InvalidInput {
            what: "shipped batch",
            reason: format!("an id is beyond the {} names given", names.len()),
        });
    }
    let dict = Dictionary::from_strings(names.to_vec());
    let mut scratch = PageScratch::default();
    let mut pages: Vec<Vec<u8>> = Vec::new();
    let step = page_rows.max(1);
    let mut from = 0;
    while from < batch.len() {
        let to = (from + step).min(batch.len());
        let mut cols = PageColumns::default();
        cols.append_batch(batch, from, to);
        let mut bytes = Vec::new();
        encode_page(
            &mut cols,
            first_seq + from as u64,
            &dict,
            &mut bytes,
            &mut scratch,
            None,
        );
        pages.push(bytes);
        from = to;
    }
    if pages.is_empty() {
        return Err(Error::InvalidInput {
            what: "shipped batch",
            reason: "no events".to_owned(),
        });
    }
    let refs: Vec<&[u8]> = pages.iter().map(Vec::as_slice).collect();
    encode_message(source, &refs, out);
    Ok(())
}
