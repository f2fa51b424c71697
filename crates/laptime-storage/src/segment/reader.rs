//! Opening sealed segments, scanning the pages of an unsealed one after a crash, and reading pages.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::rollup::{self, RolledValue, RollupDirectory, RollupRef, ROLLUP_MAGIC};
use super::{
    footer, parse_header, PageEntry, SegmentIdentity, HEADER_LEN, TRAILER_FOOTER_CRC,
    TRAILER_FOOTER_LEN, TRAILER_LEN, TRAILER_MAGIC, TRAILER_MAGIC_OFFSET, TRAILER_MAGIC_V1,
    TRAILER_MAGIC_V3,
};
use crate::error::{Error, Result};
use crate::event::NameId;
use crate::page::{
    check_meta, decode_meta, decode_page, read_page_header, ColumnSet, KeyValues, PageColumns,
    PageMeta, PageScratch, ValueStats, PAGE_HEADER_LEN, PAGE_MAGIC,
};

/// Read exactly `buf.len()` bytes at `offset`, without moving any shared cursor.
pub(crate) fn read_exact_at(file: &File, path: &Path, buf: &mut [u8], offset: u64) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(buf, offset)
            .map_err(|e| Error::io(path, "read", e))
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::FileExt;
        let mut done = 0usize;
        while done < buf.len() {
            let n = file
                .seek_read(&mut buf[done..], offset + done as u64)
                .map_err(|e| Error::io(path, "read", e))?;
            if n == 0 {
                return Err(Error::io(
                    path,
                    "read",
                    std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
                ));
            }
            done += n;
        }
        Ok(())
    }
}

fn check_header(file: &File, path: &Path, file_len: u64) -> Result<SegmentIdentity> {
    if file_len < HEADER_LEN as u64 {
        return Err(Error::corrupt(path, 0, "segment shorter than its header"));
    }
    let mut h = [0u8; HEADER_LEN];
    read_exact_at(file, path, &mut h, 0)?;
    parse_header(&h).map_err(|(offset, reason)| Error::corrupt(path, offset as u64, reason))
}

/// The identity in the header of segment file `path` (checked, nothing else read).
pub(crate) fn read_identity(path: &Path) -> Result<SegmentIdentity> {
    let (file, len) = open_regular(path, "open segment")?;
    check_header(&file, path, len)
}

/// Open `path` for reading if it is a regular file (not a directory, device, FIFO or dangling
/// link), with its length.
pub(crate) fn open_regular(path: &Path, what: &'static str) -> Result<(File, u64)> {
    let file = File::open(path).map_err(|e| Error::io(path, what, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, "stat", e))?;
    if !meta.is_file() {
        return Err(Error::corrupt(path, 0, "not a regular file"));
    }
    Ok((file, meta.len()))
}

/// Read and verify the header and meta of the page at `offset`; `limit` is where pages must end.
fn read_page_entry(
    file: &File,
    path: &Path,
    offset: u64,
    limit: u64,
) -> Result<(PageEntry, PageMeta)> {
    if offset + PAGE_HEADER_LEN as u64 > limit {
        return Err(Error::corrupt(
            path,
            offset,
            "page header runs past the end",
        ));
    }
    let mut h = [0u8; PAGE_HEADER_LEN];
    read_exact_at(file, path, &mut h, offset)?;
    let header = read_page_header(&h).map_err(|e| e.in_file(path, offset))?;
    if offset + header.total_len() > limit {
        return Err(Error::corrupt(path, offset, "page runs past the end"));
    }
    let mut meta = vec![0u8; header.meta_len as usize];
    let meta_offset = offset + PAGE_HEADER_LEN as u64;
    read_exact_at(file, path, &mut meta, meta_offset)?;
    let meta = decode_meta(&header, &meta).map_err(|e| e.in_file(path, meta_offset))?;
    let entry = PageEntry {
        offset,
        header,
        zone: meta.zone(),
    };
    Ok((entry, meta))
}

/// A sealed segment open for reading: its page directory and summary in memory, page metas and
/// columns read when asked for.
#[derive(Debug)]
pub(crate) struct SegmentReader {
    file: File,
    path: PathBuf,
    id: u64,
    /// The partition that wrote it (from the header; `None` for a salvaged file whose header is
    /// damaged).
    partition: Option<u64>,
    len: u64,
    pages: Vec<PageEntry>,
    /// Every page's meta absorbed into one (see `PageMeta::absorb`).
    summary: Arc<PageMeta>,
    /// Where the value rollup is, and the footer's offset (where it ends).
    rollup: Option<(RollupRef, u64)>,
    /// The rollup's directory once a query read it (a damaged one is read again by each query,
    /// which then answers from the pages).
    rollup_directory: OnceLock<RollupDirectory>,
}

impl SegmentReader {
    /// Open a sealed segment: checks header, trailer and footer checksum. A segment with the
    /// current footer is opened from it alone (page metas are checked when read); one with the
    /// older footer has every page's header and meta read and checked.
    pub(crate) fn open(path: &Path) -> Result<SegmentReader> {
        let (file, len) = open_regular(path, "open segment")?;
        let who = check_header(&file, path, len)?;
        if len < (HEADER_LEN + TRAILER_LEN) as u64 {
            return Err(Error::corrupt(path, 0, "segment has no trailer"));
        }
        let trailer_at = len - TRAILER_LEN as u64;
        let mut t = [0u8; TRAILER_LEN];
        read_exact_at(&file, path, &mut t, trailer_at)?;
        let magic = &t[TRAILER_MAGIC_OFFSET..];
        let with_rollup = magic == TRAILER_MAGIC_V3;
        let current = with_rollup || magic == TRAILER_MAGIC;
        if !current && magic != TRAILER_MAGIC_V1 {
            return Err(Error::corrupt(
                path,
                trailer_at,
                "segment is not sealed (no trailer)",
            ));
        }
        let footer_offset = u64::from_le_bytes(t[..8].try_into().unwrap_or([0; 8]));
        let footer_len = u32::from_le_bytes(
            t[TRAILER_FOOTER_LEN..TRAILER_FOOTER_LEN + 4]
                .try_into()
                .unwrap_or([0; 4]),
        );
        let footer_crc = u32::from_le_bytes(
            t[TRAILER_FOOTER_CRC..TRAILER_FOOTER_CRC + 4]
                .try_into()
                .unwrap_or([0; 4]),
        );
        if footer_offset < HEADER_LEN as u64 || footer_offset + u64::from(footer_len) != trailer_at
        {
            return Err(Error::corrupt(
                path,
                trailer_at,
                "footer position out of range",
            ));
        }
        let mut bytes = vec![0u8; footer_len as usize];
        read_exact_at(&file, path, &mut bytes, footer_offset)?;
        if crc32c::crc32c(&bytes) != footer_crc {
            return Err(Error::corrupt(
                path,
                footer_offset,
                "footer checksum mismatch",
            ));
        }
        let bad = |e: crate::DecodeError| e.in_file(path, footer_offset);
        let (pages, summary, rollup) = if current {
            let f = footer::decode(&bytes, footer_offset, with_rollup).map_err(bad)?;
            (f.pages, f.summary, f.rollup.map(|r| (r, footer_offset)))
        } else {
            let directory = footer::decode_v1(&bytes).map_err(bad)?;
            let mut pages = Vec::with_capacity(directory.len());
            let mut summary = PageMeta::default();
            let mut expect = HEADER_LEN as u64;
            for (offset, plen) in directory {
                if offset != expect {
                    return Err(Error::corrupt(
                        path,
                        footer_offset,
                        "page directory has a gap",
                    ));
                }
                let (entry, meta) = read_page_entry(&file, path, offset, footer_offset)?;
                if entry.header.total_len() != plen {
                    return Err(Error::corrupt(
                        path,
                        offset,
                        "page length differs from directory",
                    ));
                }
                expect = entry.end();
                summary
                    .absorb(&meta)
                    .map_err(|e| e.in_file(path, entry.meta_offset()))?;
                pages.push(entry);
            }
            if expect != footer_offset {
                return Err(Error::corrupt(
                    path,
                    footer_offset,
                    "page directory does not cover the file",
                ));
            }
            (pages, summary, None)
        };
        Ok(SegmentReader {
            file,
            path: path.to_owned(),
            id: who.id,
            partition: Some(who.partition),
            len,
            pages,
            summary: Arc::new(summary),
            rollup,
            rollup_directory: OnceLock::new(),
        })
    }

    /// A reader over a segment this process just sealed, from the entries it wrote (see
    /// `SegmentWriter::into_sealed_reader`); `rollup`: where its rollup is and where the footer
    /// starts.
    pub(crate) fn sealed(
        path: &Path,
        who: SegmentIdentity,
        len: u64,
        pages: Vec<PageEntry>,
        summary: Arc<PageMeta>,
        rollup: Option<(RollupRef, u64)>,
    ) -> Result<SegmentReader> {
        let (file, _) = open_regular(path, "open segment")?;
        Ok(SegmentReader {
            file,
            path: path.to_owned(),
            id: who.id,
            partition: Some(who.partition),
            len,
            pages,
            summary,
            rollup,
            rollup_directory: OnceLock::new(),
        })
    }

    /// A reader over the pages of an unsealed (or salvaged) segment as recovered or written so
    /// far; `summary` is their metas absorbed into one.
    pub(crate) fn unsealed(
        path: &Path,
        id: u64,
        pages: Vec<PageEntry>,
        summary: Arc<PageMeta>,
    ) -> Result<SegmentReader> {
        let (file, _) = open_regular(path, "open segment")?;
        let len = pages.last().map_or(HEADER_LEN as u64, |p| p.end());
        Ok(SegmentReader {
            file,
            path: path.to_owned(),
            id,
            partition: None,
            len,
            pages,
            summary,
            rollup: None,
            rollup_directory: OnceLock::new(),
        })
    }

    /// Every page's meta absorbed into one: what a query answers a whole segment from.
    pub(crate) fn summary(&self) -> &Arc<PageMeta> {
        &self.summary
    }

    /// The rollup's directory, read and checked once (against its checksum and against the
    /// values the summary lists: a directory that lists others is damage).
    pub(crate) fn rollup_directory(&self) -> Result<Option<&RollupDirectory>> {
        let Some((at, footer)) = self.rollup else {
            return Ok(None);
        };
        if let Some(d) = self.rollup_directory.get() {
            return Ok(Some(d));
        }
        let bytes = self.read_checked(
            at.offset,
            at.directory_len as usize,
            at.directory_crc,
            "rollup directory checksum mismatch",
        )?;
        let directory = RollupDirectory::decode(&bytes, at.offset, footer)
            .map_err(|e| e.in_file(&self.path, at.offset))?;
        for key in directory.keys() {
            // A key the summary does not list is never planned with the rollup (`rollup_values`).
            let Some(KeyValues::Listed { values: listed, .. }) = self.summary.values_of(key) else {
                continue;
            };
            let rolled = directory.values_of(key).unwrap_or(&[]);
            if rolled.len() != listed.len()
                || rolled.iter().zip(listed).any(|(r, l)| r.value != l.value)
            {
                return Err(Error::corrupt(
                    &self.path,
                    at.offset,
                    "rollup lists other values than the segment summary",
                ));
            }
        }
        Ok(Some(self.rollup_directory.get_or_init(|| directory)))
    }

    /// Check every byte of the value rollup: its directory and each value's meta against their
    /// checksums and the summary's counts (what `verify` and `repair` ask; a query reads only the
    /// values it needs). The rollup's bytes are returned for a caller that compares them with a
    /// rollup built again from the pages; `None` when the segment has none.
    pub(crate) fn check_rollup(&self) -> Result<Option<Vec<u8>>> {
        let Some((at, footer)) = self.rollup else {
            return Ok(None);
        };
        let Some(directory) = self.rollup_directory()? else {
            return Ok(None);
        };
        for key in directory.keys() {
            self.rollup_meta(key, &|_| true)?;
        }
        let mut bytes = vec![0u8; usize::try_from(footer - at.offset).unwrap_or(0)];
        read_exact_at(&self.file, &self.path, &mut bytes, at.offset)?;
        Ok(Some(bytes))
    }

    /// The values of `key` the rollup holds, each with where its meta is and what the summary
    /// says of it; `None` when the segment has no rollup of the key.
    pub(crate) fn rollup_values(
        &self,
        key: NameId,
    ) -> Result<Option<impl Iterator<Item = (&RolledValue, &ValueStats)> + Clone>> {
        let Some(directory) = self.rollup_directory()? else {
            return Ok(None);
        };
        let (Some(rolled), Some(KeyValues::Listed { values: listed, .. })) =
            (directory.values_of(key), self.summary.values_of(key))
        else {
            return Ok(None);
        };
        // The directory was checked to list the summary's values, in its order.
        Ok(Some(rolled.iter().zip(listed)))
    }

    /// `len` bytes at `offset`, whose CRC32C must be `crc`; `mismatch` says what failed.
    fn read_checked(
        &self,
        offset: u64,
        len: usize,
        crc: u32,
        mismatch: &'static str,
    ) -> Result<Vec<u8>> {
        let mut bytes = vec![0u8; len];
        read_exact_at(&self.file, &self.path, &mut bytes, offset)?;
        if crc32c::crc32c(&bytes) != crc {
            return Err(Error::corrupt(&self.path, offset, mismatch));
        }
        Ok(bytes)
    }

    /// Read the meta of the rolled-up value `value` (from [`SegmentReader::rollup_values`]),
    /// checked against its checksum and the summary's counts `listed`.
    pub(crate) fn read_rollup_value(
        &self,
        value: &RolledValue,
        listed: &ValueStats,
    ) -> Result<PageMeta> {
        let bytes = self.read_checked(
            value.offset,
            value.len as usize,
            value.crc,
            "rollup meta checksum mismatch",
        )?;
        rollup::decode_value_meta(&bytes, listed).map_err(|e| e.in_file(&self.path, value.offset))
    }

    /// The meta of the segment's events whose field `key` has a value `pass` accepts (see
    /// `rollup::meta_of_values`), read from the rollup; `None` when the segment has no rollup of
    /// the key. (`View::segment_rollup` does the same through the bufferpool.)
    pub(crate) fn rollup_meta(
        &self,
        key: NameId,
        pass: &dyn Fn(&str) -> bool,
    ) -> Result<Option<PageMeta>> {
        let Some(values) = self.rollup_values(key)? else {
            return Ok(None);
        };
        let mut taken = Vec::new();
        let mut parts = Vec::new();
        for (r, l) in values.filter(|(r, _)| pass(&r.value)) {
            parts.push(Arc::new(self.read_rollup_value(r, l)?));
            taken.push(l.clone());
        }
        self.meta_of_values(key, &taken, &parts).map(Some)
    }

    /// `rollup::meta_of_values` over this segment's summary, its errors placed in this file.
    pub(crate) fn meta_of_values(
        &self,
        key: NameId,
        taken: &[ValueStats],
        parts: &[Arc<PageMeta>],
    ) -> Result<PageMeta> {
        rollup::meta_of_values(&self.summary, key, taken, parts).map_err(|e| {
            Error::corrupt(&self.path, self.rollup.map_or(0, |r| r.0.offset), e.reason)
        })
    }

    /// Read, check and decode the meta of `page`. It must agree with the page's zone (what the
    /// footer or the scan that found the page said), or the segment is damaged.
    pub(crate) fn page_meta(&self, page: &PageEntry) -> Result<PageMeta> {
        self.read_meta(page, PageMeta::decode)
    }

    /// [`SegmentReader::page_meta`] with the sketches left encoded (see
    /// [`SegmentReader::decode_sketches`]).
    pub(crate) fn page_meta_deferred(&self, page: &PageEntry) -> Result<PageMeta> {
        self.read_meta(page, PageMeta::decode_deferred)
    }

    /// `meta` (of `page`) with every sketch decoded and checked.
    pub(crate) fn decode_sketches(&self, page: &PageEntry, meta: &PageMeta) -> Result<PageMeta> {
        meta.with_sketches()
            .map(std::borrow::Cow::into_owned)
            .map_err(|e| e.in_file(&self.path, page.meta_offset()))
    }

    fn read_meta(
        &self,
        page: &PageEntry,
        decode: fn(&[u8]) -> std::result::Result<PageMeta, crate::DecodeError>,
    ) -> Result<PageMeta> {
        let mut bytes = vec![0u8; PAGE_HEADER_LEN + page.header.meta_len as usize];
        read_exact_at(&self.file, &self.path, &mut bytes, page.offset)?;
        let header = read_page_header(&bytes).map_err(|e| e.in_file(&self.path, page.offset))?;
        if header != page.header {
            return Err(Error::corrupt(
                &self.path,
                page.offset,
                "page header differs from the segment directory",
            ));
        }
        let at = page.meta_offset();
        let bytes = &bytes[PAGE_HEADER_LEN..];
        let meta = check_meta(&page.header, bytes)
            .and_then(|()| decode(bytes))
            .map_err(|e| e.in_file(&self.path, at))?;
        if meta.zone() != page.zone {
            return Err(Error::corrupt(
                &self.path,
                at,
                "page meta differs from the segment footer",
            ));
        }
        Ok(meta)
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The partition that wrote this segment, when its header says so.
    pub(crate) fn partition(&self) -> Option<u64> {
        self.partition
    }

    /// Events in this segment's pages, as (first seq, end seq); `None` when it has no pages.
    pub(crate) fn seq_range(&self) -> Option<(u64, u64)> {
        let first = self.pages.first()?.zone.first_seq;
        let end = self.pages.last()?.zone.end_seq();
        Some((first, end))
    }

    /// Read the column section of `page`, checking its checksum: what repair writes again under
    /// a rebuilt meta.
    pub(crate) fn raw_columns(&self, page: &PageEntry, out: &mut Vec<u8>) -> Result<()> {
        read_columns(&self.file, &self.path, page, out)
    }

    /// Read a whole page (header, meta, columns) as raw bytes, checking its column checksum:
    /// what salvage and repair copy into a new segment.
    pub(crate) fn raw_page(&self, page: &PageEntry, out: &mut Vec<u8>) -> Result<()> {
        let cols_at = self.read_whole(page, out)?;
        if crc32c::crc32c(&out[cols_at..]) != page.header.cols_crc {
            return Err(Error::corrupt(
                &self.path,
                page.cols_offset(),
                "page columns checksum mismatch",
            ));
        }
        Ok(())
    }

    /// Read all of `page` into `out` with one read, and check its header and meta: the header
    /// must be the one the directory holds and the meta must match its checksum, so a page whose
    /// header or meta is damaged is damaged for every reader, not only for those reading its
    /// meta. Returns where the columns start in `out` (their checksum is the caller's to check).
    fn read_whole(&self, page: &PageEntry, out: &mut Vec<u8>) -> Result<usize> {
        out.clear();
        out.resize(page.header.total_len() as usize, 0);
        read_exact_at(&self.file, &self.path, out, page.offset)?;
        let header = read_page_header(out).map_err(|e| e.in_file(&self.path, page.offset))?;
        if header != page.header {
            return Err(Error::corrupt(
                &self.path,
                page.offset,
                "page header differs from the segment directory",
            ));
        }
        let cols_at = PAGE_HEADER_LEN + header.meta_len as usize;
        if crc32c::crc32c(&out[PAGE_HEADER_LEN..cols_at]) != header.meta_crc {
            return Err(Error::corrupt(
                &self.path,
                page.offset + PAGE_HEADER_LEN as u64,
                "page meta checksum mismatch",
            ));
        }
        Ok(cols_at)
    }

    /// The names `page` carries in its meta (see `PageMeta::decode_names`), checked against the
    /// meta checksum: what rebuilds a partition's dictionary when its names files are lost.
    pub(crate) fn page_names(&self, page: &PageEntry) -> Result<Vec<(NameId, String)>> {
        let mut meta = vec![0u8; page.header.meta_len as usize];
        let at = page.offset + PAGE_HEADER_LEN as u64;
        read_exact_at(&self.file, &self.path, &mut meta, at)?;
        if crc32c::crc32c(&meta) != page.header.meta_crc {
            return Err(Error::corrupt(
                &self.path,
                at,
                "page meta checksum mismatch",
            ));
        }
        PageMeta::decode_names(&meta)
            .map_err(|e| Error::corrupt(&self.path, at + e.offset as u64, e.reason))
    }

    /// A process-stable identity of the file for bufferpool keys: FNV-1a of its path (segment files
    /// are never rewritten in place, and their names are never reused within a partition).
    pub(crate) fn file_key(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.path.as_os_str().as_encoded_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// File length in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) fn pages(&self) -> &[PageEntry] {
        &self.pages
    }

    /// Read, verify and decode the chosen columns of `page` into `cols`.
    pub(crate) fn read_page(
        &self,
        page: &PageEntry,
        which: ColumnSet,
        scratch: &mut ReadScratch,
        cols: &mut PageColumns,
    ) -> Result<()> {
        self.read_page_with_stored_durations(page, which, scratch, cols, None)
    }

    /// [`SegmentReader::read_page`], and with `stored` the duration column as stored (see
    /// `decode_page`).
    pub(crate) fn read_page_with_stored_durations(
        &self,
        page: &PageEntry,
        which: ColumnSet,
        scratch: &mut ReadScratch,
        cols: &mut PageColumns,
        stored: Option<&mut Vec<u64>>,
    ) -> Result<()> {
        let raw = &mut scratch.raw;
        let cols_at = self.read_whole(page, raw)?;
        decode_page(
            &page.header,
            &raw[cols_at..],
            page.zone.rows as usize,
            which,
            cols,
            &mut scratch.page,
            stored,
        )
        .map_err(|e| e.in_file(&self.path, page.cols_offset()))
    }
}

/// Buffers a reader reuses from page to page: the raw bytes of a page and decode scratch.
#[derive(Debug, Default)]
pub struct ReadScratch {
    raw: Vec<u8>,
    page: PageScratch,
}

/// What scanning an unsealed segment found.
#[derive(Debug)]
pub(crate) struct RecoveredSegment {
    pub pages: Vec<PageEntry>,
    /// The pages' metas absorbed into one.
    pub summary: PageMeta,
    /// Bytes that hold whole, valid pages (header included).
    pub valid_len: u64,
    /// Bytes after `valid_len` that were not a valid page (a torn tail), with the reason.
    pub cut: Option<(u64, String)>,
}

/// Scan an unsealed segment page by page, stopping at the first page that is incomplete or fails
/// its checksums. Never fails on bad page bytes (they become the cut); fails only on I/O errors or a
/// bad file header.
pub(crate) fn recover_active(path: &Path) -> Result<RecoveredSegment> {
    if let Ok(r) = SegmentReader::open(path) {
        return Ok(RecoveredSegment {
            valid_len: r.len,
            summary: Arc::unwrap_or_clone(r.summary),
            pages: r.pages,
            cut: None,
        });
    }
    let (file, len) = open_regular(path, "open segment")?;
    match check_header(&file, path, len) {
        Ok(_) => {}
        // A crash right after create can leave a file shorter than its header: nothing was in it.
        Err(Error::Corrupt { .. }) if len < HEADER_LEN as u64 => {
            return Ok(RecoveredSegment {
                pages: Vec::new(),
                summary: PageMeta::default(),
                valid_len: 0,
                cut: Some((0, "segment header incomplete".into())),
            })
        }
        Err(e) => return Err(e),
    }
    let mut pages = Vec::new();
    let mut summary = PageMeta::default();
    let mut offset = HEADER_LEN as u64;
    let mut cut = None;
    let mut scratch = Vec::new();
    let mut page_scratch = PageScratch::default();
    let mut cols = PageColumns::default();
    while offset < len {
        let (entry, meta) = match read_page_entry(&file, path, offset, len) {
            Ok(e) => e,
            Err(Error::Corrupt { reason, .. }) => {
                cut = Some((len - offset, reason));
                break;
            }
            Err(e) => return Err(e),
        };
        // The columns must be whole too, or the page was torn mid-write.
        scratch.clear();
        scratch.resize(entry.header.cols_len as usize, 0);
        read_exact_at(&file, path, &mut scratch, entry.cols_offset())?;
        if let Err(e) = decode_page(
            &entry.header,
            &scratch,
            entry.zone.rows as usize,
            ColumnSet::CORE,
            &mut cols,
            &mut page_scratch,
            None,
        ) {
            cut = Some((len - offset, e.reason.to_string()));
            break;
        }
        if let Err(e) = summary.absorb(&meta) {
            cut = Some((len - offset, e.reason.to_string()));
            break;
        }
        offset = entry.end();
        pages.push(entry);
    }
    Ok(RecoveredSegment {
        pages,
        summary,
        valid_len: offset,
        cut,
    })
}

/// What [`salvage`] kept of a damaged or unsealed segment file.
#[derive(Debug)]
pub(crate) struct Salvaged {
    /// The file's identity, when its header is intact.
    pub identity: Option<SegmentIdentity>,
    /// Every page whose header, meta and columns verify, in file order.
    pub pages: Vec<PageEntry>,
    /// Their metas absorbed into one.
    pub summary: PageMeta,
    /// Byte ranges that are not intact pages, as (offset, length, why). The footer and trailer of
    /// a sealed file are not listed.
    pub damage: Vec<(u64, u64, String)>,
    /// Pages among `pages` whose header or meta is damaged but whose columns verify: their metas
    /// computed again from the columns (see [`rebuild_meta`]). Such a page must be written anew.
    pub rebuilt: Vec<RebuiltMeta>,
}

/// The meta of a damaged page, computed again from its intact columns. Only a file that opens as
/// a sealed segment has a directory to rebuild from, so only such a file has rebuilt pages (and
/// layout takes it for damaged: it failed the full checks).
#[derive(Debug, Clone)]
pub(crate) struct RebuiltMeta {
    /// Where the page starts in its file.
    pub offset: u64,
    pub meta: PageMeta,
    /// What was damaged.
    pub why: String,
}

impl Salvaged {
    /// True when a range other than a torn tail (bytes after the last intact page) was lost.
    pub(crate) fn lost_inside(&self) -> bool {
        let last_end = self.pages.last().map_or(0, |p| p.end());
        self.identity.is_none() || self.damage.iter().any(|(offset, _, _)| *offset < last_end)
    }
}

/// The metas of `pages` of the segment file at `path`, absorbed into one: the summary of a chosen
/// part of a damaged file's pages. A page in `rebuilt` counts with its rebuilt meta.
pub(crate) fn summarize(
    path: &Path,
    pages: &[PageEntry],
    rebuilt: &[RebuiltMeta],
) -> Result<PageMeta> {
    let (file, len) = open_regular(path, "open segment")?;
    let mut summary = PageMeta::default();
    for p in pages {
        let absorbed = match rebuilt.iter().find(|r| r.offset == p.offset) {
            Some(r) => summary.absorb(&r.meta),
            None => summary.absorb(&read_page_entry(&file, path, p.offset, len)?.1),
        };
        absorbed.map_err(|e| e.in_file(path, p.meta_offset()))?;
    }
    Ok(summary)
}

/// Chunk read while searching for the next page after damage.
const RESYNC_CHUNK: usize = 1 << 20;

/// Find every intact page of the segment file at `path`, whatever else is damaged: a page that
/// fails its checks is skipped by its length when its header is sound, else by searching for the
/// next page magic. Reads one page at a time (memory bounded by the largest page). Fails only on
/// I/O errors.
pub(crate) fn salvage(path: &Path) -> Result<Salvaged> {
    let (file, len) = open_regular(path, "open segment")?;
    let identity = check_header(&file, path, len).ok();
    // Where pages must end: the footer of a sealed file, if its trailer still says where.
    let mut limit = len;
    if len >= (HEADER_LEN + TRAILER_LEN) as u64 {
        let mut t = [0u8; TRAILER_LEN];
        read_exact_at(&file, path, &mut t, len - TRAILER_LEN as u64)?;
        let magic = &t[TRAILER_MAGIC_OFFSET..];
        if magic == TRAILER_MAGIC || magic == TRAILER_MAGIC_V1 || magic == TRAILER_MAGIC_V3 {
            let footer = u64::from_le_bytes(t[..8].try_into().unwrap_or([0; 8]));
            if footer >= HEADER_LEN as u64 && footer <= len - TRAILER_LEN as u64 {
                limit = footer;
            }
        }
    }
    // The footer's page directory, when the file opens as a sealed segment: it knows each page's
    // header, rows and first seq, which rebuild a page whose own header or meta is damaged.
    let opened = SegmentReader::open(path).ok();
    let directory: Vec<PageEntry> = opened
        .as_ref()
        .map(|r| r.pages().to_vec())
        .unwrap_or_default();
    // The pages of a segment with a rollup end where it begins.
    if let Some((r, _)) = opened.as_ref().and_then(|r| r.rollup) {
        limit = limit.min(r.offset);
    }
    let mut out = Salvaged {
        identity,
        pages: Vec::new(),
        summary: PageMeta::default(),
        damage: Vec::new(),
        rebuilt: Vec::new(),
    };
    let mut scratch = ReadScratch::default();
    let mut cols = PageColumns::default();
    let mut offset = if identity.is_some() {
        HEADER_LEN as u64
    } else {
        out.damage.push((
            0,
            HEADER_LEN.min(len as usize) as u64,
            "segment header damaged".into(),
        ));
        0
    };
    let mut raw = Vec::new();
    while offset < limit {
        if starts_rollup(&file, path, offset, limit)? {
            // The pages end here (a sealed segment whose footer is damaged).
            break;
        }
        match intact_page(&file, path, offset, limit, &mut raw) {
            Ok((entry, meta)) => match out.summary.absorb(&meta) {
                Ok(()) => {
                    offset = entry.end();
                    out.pages.push(entry);
                }
                Err(e) => {
                    out.damage
                        .push((offset, entry.end() - offset, e.reason.into()));
                    offset = entry.end();
                }
            },
            Err(Error::Corrupt { reason, .. }) => {
                let listed = directory.iter().find(|p| p.offset == offset);
                if let Some(entry) = listed.filter(|p| p.end() <= limit) {
                    if let Some(meta) = rebuild_meta(&file, path, entry, &mut scratch, &mut cols)? {
                        if out.summary.absorb(&meta).is_ok() {
                            out.rebuilt.push(RebuiltMeta {
                                offset,
                                meta,
                                why: reason,
                            });
                            offset = entry.end();
                            out.pages.push(entry.clone());
                            continue;
                        }
                    }
                }
                let next = next_page_magic(&file, path, offset + 1, limit)?;
                let resume = next.unwrap_or(limit);
                out.damage.push((offset, resume - offset, reason));
                offset = resume;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Whether a rollup region (not a page) begins at `offset`.
fn starts_rollup(file: &File, path: &Path, offset: u64, limit: u64) -> Result<bool> {
    if limit - offset < ROLLUP_MAGIC.len() as u64 {
        return Ok(false);
    }
    let mut magic = [0u8; 4];
    read_exact_at(file, path, &mut magic, offset)?;
    Ok(magic == ROLLUP_MAGIC)
}

/// The page at `offset` if its header, meta and columns all verify.
fn intact_page(
    file: &File,
    path: &Path,
    offset: u64,
    limit: u64,
    raw: &mut Vec<u8>,
) -> Result<(PageEntry, PageMeta)> {
    let (entry, meta) = read_page_entry(file, path, offset, limit)?;
    read_columns(file, path, &entry, raw)?;
    Ok((entry, meta))
}

/// The column section of the page `entry` describes, into `out`, checked against the column
/// checksum `entry` holds.
fn read_columns(file: &File, path: &Path, entry: &PageEntry, out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    out.resize(entry.header.cols_len as usize, 0);
    read_exact_at(file, path, out, entry.cols_offset())?;
    if crc32c::crc32c(out) != entry.header.cols_crc {
        return Err(Error::corrupt(
            path,
            entry.cols_offset(),
            "page columns checksum mismatch",
        ));
    }
    Ok(())
}

/// The meta of the page `entry` (from the footer's directory) computed from its columns, when they
/// verify against the directory's checksum and describe the rows, seqs and times the directory
/// says; `None` otherwise (the page is lost). Fails only on I/O errors.
fn rebuild_meta(
    file: &File,
    path: &Path,
    entry: &PageEntry,
    scratch: &mut ReadScratch,
    cols: &mut PageColumns,
) -> Result<Option<PageMeta>> {
    match read_columns(file, path, entry, &mut scratch.raw) {
        Ok(()) => {}
        Err(Error::Corrupt { .. }) => return Ok(None),
        Err(e) => return Err(e),
    }
    let rows = entry.zone.rows as usize;
    if decode_page(
        &entry.header,
        &scratch.raw,
        rows,
        ColumnSet::ALL,
        cols,
        &mut scratch.page,
        None,
    )
    .is_err()
    {
        return Ok(None);
    }
    let meta = PageMeta::compute(cols, entry.zone.first_seq);
    Ok((meta.zone() == entry.zone).then_some(meta))
}

/// Offset of the next page magic at or after `from` and before `limit`.
fn next_page_magic(file: &File, path: &Path, from: u64, limit: u64) -> Result<Option<u64>> {
    const MAGIC: &[u8; 4] = &PAGE_MAGIC;
    let mut buf = vec![0u8; RESYNC_CHUNK];
    let mut at = from;
    while at < limit {
        let n = (limit - at).min(RESYNC_CHUNK as u64) as usize;
        read_exact_at(file, path, &mut buf[..n], at)?;
        if let Some(i) = buf[..n].windows(MAGIC.len()).position(|w| w == MAGIC) {
            return Ok(Some(at + i as u64));
        }
        if n < MAGIC.len() {
            break;
        }
        // Overlap the next chunk by three bytes so a magic split across chunks is found.
        at += (n - (MAGIC.len() - 1)) as u64;
        if n < RESYNC_CHUNK {
            break;
        }
    }
    Ok(None)
}
