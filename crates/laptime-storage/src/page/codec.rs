//! Byte layout of a sealed page, and its encoder and decoder.
//!
//! ```text
//! offset  size  field
//! 0       4     magic "LTPG"
//! 4       1     format version (1)
//! 5       3     reserved, zero
//! 8       4     meta_len   (u32 LE)
//! 12      4     meta_crc   (CRC32C of the meta bytes)
//! 16      4     cols_len   (u32 LE)
//! 20      4     cols_crc   (CRC32C of the column bytes)
//! 24      4     header_crc (CRC32C of bytes 0..24)
//! 28      ..    meta (see `meta.rs`), then columns
//! ```
//! Columns, each self-delimiting (see `encoding`): start_ns (sorted), name id, duration (grouped by
//! name, ascending id, row order within a name), code, message rows, messages, then a varint count of
//! field columns and per field column: key (varint), type (u8), rows, values.

use crate::dictionary::Dictionary;
use crate::encoding::{self, varint::read_varint, varint::write_varint};
use crate::error::DecodeError;
use crate::event::{ValueType, MAX_CODE_BYTE};
use crate::page::columns::group_by_name;
use crate::page::{ColumnSet, FieldColumn, FieldValues, PageColumns, PageMeta, StringFields};

/// First bytes of every page (salvage searches for them after damage).
pub(crate) const PAGE_MAGIC: [u8; 4] = *b"LTPG";
const MAGIC: [u8; 4] = PAGE_MAGIC;
const VERSION: u8 = 1;
const MAGIC_OFFSET: usize = 0;
const VERSION_OFFSET: usize = MAGIC_OFFSET + 4;
const META_LEN_OFFSET: usize = VERSION_OFFSET + 4;
const META_CRC_OFFSET: usize = META_LEN_OFFSET + 4;
const COLS_LEN_OFFSET: usize = META_CRC_OFFSET + 4;
const COLS_CRC_OFFSET: usize = COLS_LEN_OFFSET + 4;
const HEADER_CRC_OFFSET: usize = COLS_CRC_OFFSET + 4;
/// Bytes before the meta.
pub(crate) const PAGE_HEADER_LEN: usize = HEADER_CRC_OFFSET + 4;

/// Largest page accepted when reading (a sanity bound, far above what the writer produces).
pub(crate) const MAX_SECTION_LEN: u32 = 1 << 30;

/// The parsed fixed header of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageHeader {
    pub meta_len: u32,
    pub meta_crc: u32,
    pub cols_len: u32,
    pub cols_crc: u32,
}

impl PageHeader {
    /// Total bytes of the page, header included.
    pub(crate) fn total_len(&self) -> u64 {
        PAGE_HEADER_LEN as u64 + u64::from(self.meta_len) + u64::from(self.cols_len)
    }
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(off..off + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

/// Parse and check the fixed header at the start of `bytes`.
pub(crate) fn read_page_header(bytes: &[u8]) -> Result<PageHeader, DecodeError> {
    let h = bytes
        .get(..PAGE_HEADER_LEN)
        .ok_or(DecodeError::new(bytes.len(), "page header truncated"))?;
    if h[..4] != MAGIC {
        return Err(DecodeError::new(0, "bad page magic"));
    }
    if crc32c::crc32c(&h[..HEADER_CRC_OFFSET]) != u32_at(h, HEADER_CRC_OFFSET) {
        return Err(DecodeError::new(
            HEADER_CRC_OFFSET,
            "page header checksum mismatch",
        ));
    }
    if h[VERSION_OFFSET] != VERSION {
        return Err(DecodeError::new(
            VERSION_OFFSET,
            "unknown page format version",
        ));
    }
    let header = PageHeader {
        meta_len: u32_at(h, META_LEN_OFFSET),
        meta_crc: u32_at(h, META_CRC_OFFSET),
        cols_len: u32_at(h, COLS_LEN_OFFSET),
        cols_crc: u32_at(h, COLS_CRC_OFFSET),
    };
    if header.meta_len > MAX_SECTION_LEN || header.cols_len > MAX_SECTION_LEN {
        return Err(DecodeError::new(
            META_LEN_OFFSET,
            "page section length out of range",
        ));
    }
    Ok(header)
}

/// Check and decode the meta section (`bytes` = the meta bytes only), sketches included.
pub(crate) fn decode_meta(header: &PageHeader, bytes: &[u8]) -> Result<PageMeta, DecodeError> {
    check_meta(header, bytes)?;
    PageMeta::decode(bytes)
}

/// Check the meta section's length and checksum.
pub(crate) fn check_meta(header: &PageHeader, bytes: &[u8]) -> Result<(), DecodeError> {
    if bytes.len() != header.meta_len as usize {
        return Err(DecodeError::new(0, "page meta truncated"));
    }
    if crc32c::crc32c(bytes) != header.meta_crc {
        return Err(DecodeError::new(0, "page meta checksum mismatch"));
    }
    Ok(())
}

/// Buffers reused across page encodes and decodes (pages are large; fresh allocations of this size
/// cost page faults on every seal).
#[derive(Debug, Default)]
pub(crate) struct PageScratch {
    perm: Vec<u32>,
    slots: Vec<u32>,
    grouped: Vec<u64>,
    /// The column section, encoded while the meta is computed.
    columns: Vec<u8>,
}

/// What else learns from a page while it seals: it sees the rows in their stored order, the
/// dictionary of each string field column (by index into `cols.fields`, `None` where none was
/// built) and the page's meta, on the thread that computes the meta (a segment's value rollup,
/// `segment::rollup`).
pub(crate) trait SealWatcher: Send {
    fn sealed(
        &mut self,
        cols: &PageColumns,
        dicts: &[Option<crate::encoding::StringDictionary<'_>>],
        meta: &PageMeta,
    );
}

/// Seal `cols` into bytes appended to `out`: sorts rows by start, computes the meta, encodes. The
/// meta carries the text of the names it refers to, from `dict`; `watcher` sees the sealed page.
/// Returns the meta (zone map and sketches) of the page.
pub(crate) fn encode_page(
    cols: &mut PageColumns,
    first_seq: u64,
    dict: &Dictionary,
    out: &mut Vec<u8>,
    scratch: &mut PageScratch,
    watcher: Option<&mut dyn SealWatcher>,
) -> PageMeta {
    encode_page_with(cols, first_seq, dict, out, scratch, Helper::Thread, watcher)
}

/// Where [`encode_page_with`] computes the meta.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Helper {
    /// On a second thread while this one encodes the columns (on this one if the OS refuses a
    /// thread).
    Thread,
    /// On this thread, after the columns.
    #[cfg(test)]
    Inline,
}

fn encode_page_with(
    cols: &mut PageColumns,
    first_seq: u64,
    dict: &Dictionary,
    out: &mut Vec<u8>,
    scratch: &mut PageScratch,
    helper: Helper,
    mut watcher: Option<&mut dyn SealWatcher>,
) -> PageMeta {
    cols.sort_by_start();
    cols.canonicalize_fields();
    let cols: &PageColumns = cols;
    // Each string field's values and dictionary, built once: the meta's value index counts by the
    // dictionary, the column encoder stores it.
    let strings = StringFields::of(cols);
    let make_meta = |watcher: &mut Option<&mut dyn SealWatcher>| {
        let meta = PageMeta::compute_with(cols, first_seq, &strings.dicts);
        if let Some(w) = watcher.as_mut() {
            w.sealed(cols, &strings.dicts, &meta);
        }
        meta
    };
    let mut encoded = std::mem::take(&mut scratch.columns);
    encoded.clear();
    let start = out.len();
    out.resize(start + PAGE_HEADER_LEN, 0);
    // The meta and the columns are made from the same page and neither needs the other: on two
    // threads, since sealing is most of the writer's time while the second core is partly idle
    // (BENCHMARKS.md, ingest). The meta is encoded here after the columns: computing it (with the
    // watcher) is the longer side, so this balances the two.
    let threaded = (helper == Helper::Thread)
        .then(|| {
            std::thread::scope(|s| {
                let handle = std::thread::Builder::new()
                    .name("laptime-seal".into())
                    .spawn_scoped(s, || make_meta(&mut watcher))
                    .ok()?;
                encode_columns(cols, &strings, &mut encoded, scratch);
                Some(handle.join())
            })
        })
        .flatten();
    let meta = match threaded {
        Some(Ok(meta)) => meta,
        Some(Err(panic)) => std::panic::resume_unwind(panic),
        None => {
            encode_columns(cols, &strings, &mut encoded, scratch);
            make_meta(&mut watcher)
        }
    };
    encode_meta(&meta, dict, out);
    let cols_start = out.len();
    out.extend_from_slice(&encoded);
    scratch.columns = encoded;
    write_header(out, start, cols_start);
    meta
}

/// A page of `meta` and the column section `cols` (as stored, checksum and all), appended to
/// `out`: what repair writes for a page whose meta was damaged and is rebuilt from its columns.
pub(crate) fn assemble_page(meta: &PageMeta, dict: &Dictionary, cols: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + PAGE_HEADER_LEN, 0);
    encode_meta(meta, dict, out);
    let cols_start = out.len();
    out.extend_from_slice(cols);
    write_header(out, start, cols_start);
}

/// The meta section: the meta, the texts of the names it refers to (from `dict`), its indexes.
fn encode_meta(meta: &PageMeta, dict: &Dictionary, out: &mut Vec<u8>) {
    meta.encode(out);
    meta.encode_names(dict, out);
    meta.encode_values(out);
}

/// Fill in the header at `out[start..]` of the page whose meta runs from the header's end to
/// `cols_start` and whose columns run from there to the end of `out`.
fn write_header(out: &mut [u8], start: usize, cols_start: usize) {
    let meta_start = start + PAGE_HEADER_LEN;
    let end = out.len();
    let meta_len = (cols_start - meta_start) as u32;
    let meta_crc = crc32c::crc32c(&out[meta_start..cols_start]);
    let cols_len = (end - cols_start) as u32;
    let cols_crc = crc32c::crc32c(&out[cols_start..end]);
    let h = &mut out[start..meta_start];
    h[..4].copy_from_slice(&MAGIC);
    h[VERSION_OFFSET] = VERSION;
    h[META_LEN_OFFSET..META_LEN_OFFSET + 4].copy_from_slice(&meta_len.to_le_bytes());
    h[META_CRC_OFFSET..META_CRC_OFFSET + 4].copy_from_slice(&meta_crc.to_le_bytes());
    h[COLS_LEN_OFFSET..COLS_LEN_OFFSET + 4].copy_from_slice(&cols_len.to_le_bytes());
    h[COLS_CRC_OFFSET..COLS_CRC_OFFSET + 4].copy_from_slice(&cols_crc.to_le_bytes());
    let header_crc = crc32c::crc32c(&h[..HEADER_CRC_OFFSET]);
    h[HEADER_CRC_OFFSET..].copy_from_slice(&header_crc.to_le_bytes());
}

/// Append the column section; `strings` holds the string field columns' values and dictionaries.
fn encode_columns(
    cols: &PageColumns,
    strings: &StringFields<'_>,
    out: &mut Vec<u8>,
    scratch: &mut PageScratch,
) {
    encoding::encode_u64s(&cols.starts, out);
    encoding::encode_u32s(&cols.names, out);
    group_by_name(&cols.names, &mut scratch.perm, &mut scratch.slots);
    scratch.grouped.clear();
    scratch
        .grouped
        .extend(scratch.perm.iter().map(|&r| cols.durations[r as usize]));
    encoding::encode_u64s(&scratch.grouped, out);
    encoding::encode_u8s(&cols.codes, out);
    encoding::encode_u32s(&cols.message_rows, out);
    let msgs: Vec<&str> = (0..cols.messages.len())
        .map(|i| cols.messages.get(i))
        .collect();
    encoding::encode_strings(&msgs, out);
    write_varint(out, cols.fields.len() as u64);
    for (i, f) in cols.fields.iter().enumerate() {
        write_varint(out, u64::from(f.key));
        out.push(f.values.value_type() as u8);
        encoding::encode_u32s(&f.rows, out);
        match &f.values {
            FieldValues::I64(v) => encoding::encode_i64s(v, out),
            FieldValues::F64(v) => encoding::encode_f64s(v, out),
            FieldValues::Bool(v) => encoding::encode_bools(v, out),
            FieldValues::Str(_) => encoding::encode_strings_with(
                strings.values.get(i).map_or(&[][..], |v| &v[..]),
                strings.dicts.get(i).and_then(Option::as_ref),
                out,
            ),
        }
    }
}

/// Check and decode the column section of a page with `rows` rows into `cols` (cleared first);
/// columns not in `which` are skipped and left empty. `stored`, when given, receives the
/// duration column as stored: grouped by name (names ascending by id, each name's rows in row
/// order). A pass that reads few durations, or reads them per name, spares their trip back to row
/// order that way (made only when `which` asks for the row-order column).
pub(crate) fn decode_page(
    header: &PageHeader,
    bytes: &[u8],
    rows: usize,
    which: ColumnSet,
    cols: &mut PageColumns,
    scratch: &mut PageScratch,
    stored: Option<&mut Vec<u64>>,
) -> Result<(), DecodeError> {
    if bytes.len() != header.cols_len as usize {
        return Err(DecodeError::new(0, "page columns truncated"));
    }
    if crc32c::crc32c(bytes) != header.cols_crc {
        return Err(DecodeError::new(0, "page columns checksum mismatch"));
    }
    cols.clear();
    let mut c = ColumnCursor {
        bytes,
        pos: 0,
        rows,
    };
    decode_dense(&mut c, which, cols, scratch, stored)?;
    decode_messages(&mut c, which, cols)?;
    decode_fields(&mut c, which, cols)?;
    if c.pos != bytes.len() {
        return Err(c.error("trailing bytes after page columns"));
    }
    Ok(())
}

/// Where decoding of a page's column section stands, and the row count every column must have.
struct ColumnCursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    rows: usize,
}

impl<'a> ColumnCursor<'a> {
    /// Run `decode` on the bytes from here and move past what it used; its errors are placed at
    /// their offset in the section.
    fn take(
        &mut self,
        decode: impl FnOnce(&'a [u8], usize) -> Result<usize, DecodeError>,
    ) -> Result<(), DecodeError> {
        let at = self.pos;
        let rest = self.bytes.get(at..).unwrap_or(&[]);
        let used =
            decode(rest, self.rows).map_err(|e| DecodeError::new(at + e.offset, e.reason))?;
        self.pos += used;
        Ok(())
    }

    /// Move past one column without decoding it.
    fn skip(&mut self) -> Result<(), DecodeError> {
        self.take(skip)
    }

    /// A dense column must have one value per row.
    fn exact(&self, n: usize, what: &'static str) -> Result<(), DecodeError> {
        if n == self.rows {
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    fn error(&self, what: &'static str) -> DecodeError {
        DecodeError::new(self.pos, what)
    }
}

/// Start, name, duration and code columns (durations are stored grouped by name; `stored`
/// receives them so).
fn decode_dense(
    c: &mut ColumnCursor<'_>,
    which: ColumnSet,
    cols: &mut PageColumns,
    scratch: &mut PageScratch,
    stored: Option<&mut Vec<u64>>,
) -> Result<(), DecodeError> {
    if which.starts {
        c.take(|b, rows| encoding::decode_u64s(b, rows, &mut cols.starts))?;
        c.exact(cols.starts.len(), "start column has the wrong length")?;
    } else {
        c.skip()?;
    }
    // Durations in row order need the names to be put back in it.
    if which.names || which.durations {
        c.take(|b, rows| encoding::decode_u32s(b, rows, &mut cols.names))?;
        c.exact(cols.names.len(), "name column has the wrong length")?;
    } else {
        c.skip()?;
    }
    if which.durations || stored.is_some() {
        let grouped = stored.unwrap_or(&mut scratch.grouped);
        c.take(|b, n| encoding::decode_u64s(b, n, grouped))?;
        c.exact(grouped.len(), "duration column has the wrong length")?;
        if which.durations {
            group_by_name(&cols.names, &mut scratch.perm, &mut scratch.slots);
            cols.durations.clear();
            cols.durations.resize(c.rows, 0);
            for (&row, &d) in scratch.perm.iter().zip(grouped.iter()) {
                cols.durations[row as usize] = d;
            }
        }
    } else {
        c.skip()?;
    }
    if which.codes {
        c.take(|b, rows| encoding::decode_u8s(b, rows, &mut cols.codes))?;
        c.exact(cols.codes.len(), "code column has the wrong length")?;
        if cols.codes.iter().any(|&code| code > MAX_CODE_BYTE) {
            return Err(c.error("unknown event code"));
        }
    } else {
        c.skip()?;
    }
    Ok(())
}

/// The rows that have a message, and the messages.
fn decode_messages(
    c: &mut ColumnCursor<'_>,
    which: ColumnSet,
    cols: &mut PageColumns,
) -> Result<(), DecodeError> {
    if !which.messages {
        c.skip()?;
        return c.skip();
    }
    c.take(|b, rows| encoding::decode_u32s(b, rows, &mut cols.message_rows))?;
    check_rows(&cols.message_rows, c.rows).map_err(|r| c.error(r))?;
    c.take(|b, rows| encoding::decode_strings(b, rows, &mut cols.messages))?;
    if cols.messages.len() != cols.message_rows.len() {
        return Err(c.error("message count differs from message rows"));
    }
    Ok(())
}

/// The field columns: count, then per column its key, type, rows and values.
fn decode_fields(
    c: &mut ColumnCursor<'_>,
    which: ColumnSet,
    cols: &mut PageColumns,
) -> Result<(), DecodeError> {
    let nfields = read_varint(c.bytes, &mut c.pos)?;
    if nfields > c.rows as u64 * 64 + 64 {
        return Err(c.error("implausible field column count"));
    }
    for _ in 0..nfields {
        let key = read_varint(c.bytes, &mut c.pos)?;
        let key = u32::try_from(key).map_err(|_| c.error("field key out of range"))?;
        let t = c
            .bytes
            .get(c.pos)
            .copied()
            .and_then(ValueType::from_u8)
            .ok_or(c.error("unknown field type"))?;
        c.pos += 1;
        if !which.fields.wants(key) {
            c.skip()?;
            c.skip()?;
            continue;
        }
        let mut col_rows = Vec::new();
        c.take(|b, rows| encoding::decode_u32s(b, rows, &mut col_rows))?;
        check_rows(&col_rows, c.rows).map_err(|r| c.error(r))?;
        let values = decode_field_values(c, t)?;
        if values.len() != col_rows.len() {
            return Err(c.error("field value count differs from its rows"));
        }
        cols.fields.push(FieldColumn {
            key,
            rows: col_rows,
            values,
        });
    }
    Ok(())
}

fn decode_field_values(c: &mut ColumnCursor<'_>, t: ValueType) -> Result<FieldValues, DecodeError> {
    Ok(match t {
        ValueType::I64 => {
            let mut v = Vec::new();
            c.take(|b, rows| encoding::decode_i64s(b, rows, &mut v))?;
            FieldValues::I64(v)
        }
        ValueType::F64 => {
            let mut v = Vec::new();
            c.take(|b, rows| encoding::decode_f64s(b, rows, &mut v))?;
            FieldValues::F64(v)
        }
        ValueType::Bool => {
            let mut v = Vec::new();
            c.take(|b, rows| encoding::decode_bools(b, rows, &mut v))?;
            FieldValues::Bool(v)
        }
        ValueType::Str => {
            let mut v = encoding::StringColumn::default();
            c.take(|b, rows| encoding::decode_strings(b, rows, &mut v))?;
            FieldValues::Str(v)
        }
    })
}

/// Bytes of the column at the start of `input`, without decoding it.
fn skip(input: &[u8], rows: usize) -> Result<usize, DecodeError> {
    encoding::peek_column(input, rows).map(|c| c.encoded_len)
}

/// Sparse row lists must ascend strictly and stay inside the page.
fn check_rows(r: &[u32], rows: usize) -> Result<(), &'static str> {
    if r.windows(2).any(|w| w[0] >= w[1]) {
        return Err("sparse rows not ascending");
    }
    if r.last().is_some_and(|&l| l as usize >= rows) {
        return Err("sparse row beyond the page");
    }
    Ok(())
}

#[cfg(test)]
mod grouped_tests {
    use super::*;
    use crate::event::NameId;

    /// The stored duration column is the durations stably grouped by name id; damage is an error.
    #[test]
    fn grouped_durations_are_the_column_as_stored() {
        let mut cols = PageColumns::default();
        for i in 0..3_000u64 {
            let name = ((i * 7) % 5) as NameId;
            cols.starts.push(i * 10);
            cols.names.push(name);
            cols.durations.push(if i % 11 == 0 { 0 } else { 1_000 + i });
            cols.codes.push(if i % 11 == 0 { 2 } else { (i % 2) as u8 });
        }
        let mut want: Vec<(NameId, u64)> = cols
            .names
            .iter()
            .copied()
            .zip(cols.durations.iter().copied())
            .collect();
        want.sort_by_key(|&(n, _)| n);
        let mut out = Vec::new();
        encode_page(
            &mut cols,
            0,
            &Dictionary::new(),
            &mut out,
            &mut PageScratch::default(),
            None,
        );
        let header = read_page_header(&out).unwrap();
        let at = PAGE_HEADER_LEN + header.meta_len as usize;
        let mut got = vec![99];
        let mut cols = PageColumns::default();
        let mut scratch = PageScratch::default();
        let mut decode = |bytes: &[u8], got: &mut Vec<u64>| {
            let none = ColumnSet::NONE;
            decode_page(
                &header,
                bytes,
                3_000,
                none,
                &mut cols,
                &mut scratch,
                Some(got),
            )
        };
        decode(&out[at..], &mut got).unwrap();
        assert_eq!(got, want.iter().map(|&(_, d)| d).collect::<Vec<_>>());
        let mut bad = out[at..].to_vec();
        let mid = bad.len() / 2;
        bad[mid] ^= 1;
        let err = decode(&bad, &mut got).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
    }

    /// The meta computed on a second thread (the writer's way, falling back to this thread when
    /// the OS refuses one) and on this thread make the same bytes and the same meta, for a page
    /// with fields of every kind and log messages; and a buffer that already holds a page is
    /// appended to, not overwritten.
    #[test]
    fn a_page_sealed_with_a_helper_thread_equals_one_sealed_alone() {
        let batch = {
            let mut b = crate::event::Batch::default();
            for i in 0..2_000u64 {
                let row = if i % 9 == 0 {
                    b.push_log(3, i * 5, crate::Level::Warn, &format!("retry {i} later"))
                } else {
                    b.push_call((i % 4) as NameId, i * 5, 100 + i * 13 % 977, i % 17 != 0)
                };
                let route = crate::Value::Str(format!("/r{}", i % 6));
                b.add_field_at(row, 10, route).unwrap();
                b.add_field_at(row, 11, crate::Value::Str(format!("u{i}")))
                    .unwrap();
                b.add_field_at(row, 12, crate::Value::I64(i as i64))
                    .unwrap();
                b.add_field_at(row, 13, crate::Value::F64(i as f64 / 3.0))
                    .unwrap();
            }
            b
        };
        let dict = Dictionary::new();
        let mut sealed = Vec::new();
        for helper in [Helper::Thread, Helper::Inline] {
            let mut cols = PageColumns::default();
            cols.append_batch(&batch, 0, batch.len());
            let mut out = b"before".to_vec();
            let meta = encode_page_with(
                &mut cols,
                7,
                &dict,
                &mut out,
                &mut PageScratch::default(),
                helper,
                None,
            );
            assert_eq!(&out[..6], b"before");
            let header = read_page_header(&out[6..]).unwrap();
            let meta_bytes =
                &out[6 + PAGE_HEADER_LEN..6 + PAGE_HEADER_LEN + header.meta_len as usize];
            assert_eq!(decode_meta(&header, meta_bytes).unwrap(), meta);
            assert!(meta.index.messages.is_some());
            sealed.push((out, meta));
        }
        assert_eq!(sealed[0], sealed[1]);
    }
}
