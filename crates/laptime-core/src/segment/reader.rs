//! Opening sealed segments, scanning the pages of an unsealed one after a crash, and reading pages.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{
    PageEntry, HEADER_LEN, ID_OFFSET, MAGIC, TRAILER_FOOTER_CRC, TRAILER_FOOTER_LEN, TRAILER_LEN,
    TRAILER_MAGIC, TRAILER_MAGIC_OFFSET, VERSION, VERSION_OFFSET,
};
use crate::encoding::varint::read_varint;
use crate::error::{Error, Result};
use crate::page::{
    decode_meta, decode_page, read_page_header, ColumnSet, PageColumns, PageScratch,
    PAGE_HEADER_LEN,
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

fn check_header(file: &File, path: &Path, file_len: u64) -> Result<u64> {
    if file_len < HEADER_LEN as u64 {
        return Err(Error::corrupt(path, 0, "segment shorter than its header"));
    }
    let mut h = [0u8; HEADER_LEN];
    read_exact_at(file, path, &mut h, 0)?;
    if h[..4] != MAGIC {
        return Err(Error::corrupt(path, 0, "bad segment magic"));
    }
    if u16::from_le_bytes([h[VERSION_OFFSET], h[VERSION_OFFSET + 1]]) != VERSION {
        return Err(Error::corrupt(
            path,
            VERSION_OFFSET as u64,
            "unknown segment version",
        ));
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&h[ID_OFFSET..ID_OFFSET + 8]);
    Ok(u64::from_le_bytes(id))
}

/// Read and verify the header and meta of the page at `offset`; `limit` is where pages must end.
fn read_page_entry(file: &File, path: &Path, offset: u64, limit: u64) -> Result<PageEntry> {
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
    Ok(PageEntry {
        offset,
        header,
        meta: Arc::new(meta),
    })
}

/// A sealed segment open for reading.
#[derive(Debug)]
pub(crate) struct SegmentReader {
    file: File,
    path: PathBuf,
    id: u64,
    len: u64,
    pages: Vec<PageEntry>,
}

impl SegmentReader {
    /// Open a sealed segment: checks header, trailer, footer checksum, and every page's header and
    /// meta checksum (the columns are checked when read).
    pub(crate) fn open(path: &Path) -> Result<SegmentReader> {
        let file = File::open(path).map_err(|e| Error::io(path, "open segment", e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io(path, "stat segment", e))?
            .len();
        let id = check_header(&file, path, len)?;
        if len < (HEADER_LEN + TRAILER_LEN) as u64 {
            return Err(Error::corrupt(path, 0, "segment has no trailer"));
        }
        let trailer_at = len - TRAILER_LEN as u64;
        let mut t = [0u8; TRAILER_LEN];
        read_exact_at(&file, path, &mut t, trailer_at)?;
        if t[TRAILER_MAGIC_OFFSET..] != TRAILER_MAGIC {
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
        let mut footer = vec![0u8; footer_len as usize];
        read_exact_at(&file, path, &mut footer, footer_offset)?;
        if crc32c::crc32c(&footer) != footer_crc {
            return Err(Error::corrupt(
                path,
                footer_offset,
                "footer checksum mismatch",
            ));
        }
        let bad = |e: crate::DecodeError| e.in_file(path, footer_offset);
        let mut pos = 0usize;
        let count = read_varint(&footer, &mut pos).map_err(bad)?;
        if count > footer.len() as u64 {
            return Err(Error::corrupt(
                path,
                footer_offset,
                "implausible page count",
            ));
        }
        let mut pages = Vec::with_capacity(count as usize);
        let mut expect = HEADER_LEN as u64;
        for _ in 0..count {
            let offset = read_varint(&footer, &mut pos).map_err(bad)?;
            let plen = read_varint(&footer, &mut pos).map_err(bad)?;
            if offset != expect {
                return Err(Error::corrupt(
                    path,
                    footer_offset,
                    "page directory has a gap",
                ));
            }
            let entry = read_page_entry(&file, path, offset, footer_offset)?;
            if entry.header.total_len() != plen {
                return Err(Error::corrupt(
                    path,
                    offset,
                    "page length differs from directory",
                ));
            }
            expect = entry.end();
            pages.push(entry);
        }
        if expect != footer_offset || pos != footer.len() {
            return Err(Error::corrupt(
                path,
                footer_offset,
                "page directory does not cover the file",
            ));
        }
        Ok(SegmentReader {
            file,
            path: path.to_owned(),
            id,
            len,
            pages,
        })
    }

    /// A reader over the pages of an unsealed segment as recovered or written so far.
    pub(crate) fn unsealed(path: &Path, id: u64, pages: Vec<PageEntry>) -> Result<SegmentReader> {
        let file = File::open(path).map_err(|e| Error::io(path, "open segment", e))?;
        let len = pages.last().map_or(HEADER_LEN as u64, |p| p.end());
        Ok(SegmentReader {
            file,
            path: path.to_owned(),
            id,
            len,
            pages,
        })
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
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
        let raw = &mut scratch.raw;
        raw.clear();
        raw.resize(page.header.cols_len as usize, 0);
        let at = page.cols_offset();
        read_exact_at(&self.file, &self.path, raw, at)?;
        decode_page(
            &page.header,
            raw,
            page.meta.rows as usize,
            which,
            cols,
            &mut scratch.page,
        )
        .map_err(|e| e.in_file(&self.path, at))
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
    /// Bytes that hold whole, valid pages (header included).
    pub valid_len: u64,
    /// Bytes after `valid_len` that were not a valid page (a torn tail), with the reason.
    pub cut: Option<(u64, String)>,
    /// True when the file turned out to be sealed already (crash after sealing, before the
    /// manifest said so).
    pub sealed: bool,
}

/// Scan an unsealed segment page by page, stopping at the first page that is incomplete or fails
/// its checksums. Never fails on bad page bytes (they become the cut); fails only on I/O errors or a
/// bad file header.
pub(crate) fn recover_active(path: &Path) -> Result<RecoveredSegment> {
    if let Ok(r) = SegmentReader::open(path) {
        return Ok(RecoveredSegment {
            valid_len: r.len,
            pages: r.pages,
            cut: None,
            sealed: true,
        });
    }
    let file = File::open(path).map_err(|e| Error::io(path, "open segment", e))?;
    let len = file
        .metadata()
        .map_err(|e| Error::io(path, "stat segment", e))?
        .len();
    match check_header(&file, path, len) {
        Ok(_) => {}
        // A crash right after create can leave a file shorter than its header: nothing was in it.
        Err(Error::Corrupt { .. }) if len < HEADER_LEN as u64 => {
            return Ok(RecoveredSegment {
                pages: Vec::new(),
                valid_len: 0,
                cut: Some((0, "segment header incomplete".into())),
                sealed: false,
            })
        }
        Err(e) => return Err(e),
    }
    let mut pages = Vec::new();
    let mut offset = HEADER_LEN as u64;
    let mut cut = None;
    let mut scratch = Vec::new();
    let mut page_scratch = PageScratch::default();
    let mut cols = PageColumns::default();
    while offset < len {
        let entry = match read_page_entry(&file, path, offset, len) {
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
            entry.meta.rows as usize,
            ColumnSet::CORE,
            &mut cols,
            &mut page_scratch,
        ) {
            cut = Some((len - offset, e.reason.to_string()));
            break;
        }
        offset = entry.end();
        pages.push(entry);
    }
    Ok(RecoveredSegment {
        pages,
        valid_len: offset,
        cut,
        sealed: false,
    })
}
