//! Appending pages to a segment file and sealing it with a footer.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{header_bytes, PageEntry, SegmentIdentity, HEADER_LEN, TRAILER_LEN, TRAILER_MAGIC};
use crate::durable;
use crate::encoding::varint::write_varint;
use crate::error::{Error, Result};
use crate::page::{read_page_header, PageMeta};

/// Writes one segment. Pages are written with one `write` each; durability is the caller's choice
/// (`sync`), except `finish`, which always syncs: a sealed segment is on disk or not sealed.
pub(crate) struct SegmentWriter {
    file: File,
    path: PathBuf,
    id: u64,
    len: u64,
    pages: Vec<PageEntry>,
}

impl SegmentWriter {
    /// Create a new, empty segment file (header only, synced with its directory entry).
    pub(crate) fn create(path: &Path, who: SegmentIdentity) -> Result<SegmentWriter> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Error::io(path, "create segment", e))?;
        file.write_all(&header_bytes(who))
            .map_err(|e| Error::io(path, "write segment header", e))?;
        durable::sync_data(&file, path)?;
        if let Some(dir) = path.parent() {
            durable::fsync_dir(dir)?;
        }
        Ok(SegmentWriter {
            file,
            path: path.to_owned(),
            id: who.id,
            len: HEADER_LEN as u64,
            pages: Vec::new(),
        })
    }

    /// Continue a segment whose first `valid_len` bytes hold the recovered `pages`; anything after
    /// is a torn tail and is cut off.
    pub(crate) fn resume(
        path: &Path,
        id: u64,
        valid_len: u64,
        pages: Vec<PageEntry>,
    ) -> Result<SegmentWriter> {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, "open segment", e))?;
        file.set_len(valid_len)
            .map_err(|e| Error::io(path, "truncate segment", e))?;
        durable::sync_data(&file, path)?;
        let mut w = SegmentWriter {
            file,
            path: path.to_owned(),
            id,
            len: valid_len,
            pages,
        };
        use std::io::Seek;
        w.file
            .seek(std::io::SeekFrom::Start(valid_len))
            .map_err(|e| Error::io(path, "seek segment", e))?;
        w.len = valid_len;
        Ok(w)
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written so far.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) fn pages(&self) -> &[PageEntry] {
        &self.pages
    }

    /// Append one encoded page (as produced by `page::encode_page`).
    pub(crate) fn append_page(&mut self, bytes: &[u8], meta: PageMeta) -> Result<PageEntry> {
        let header = read_page_header(bytes).map_err(|e| Error::InvalidInput {
            what: "page",
            reason: e.to_string(),
        })?;
        self.file
            .write_all(bytes)
            .map_err(|e| Error::io(&self.path, "write page", e))?;
        let entry = PageEntry {
            offset: self.len,
            header,
            meta: Arc::new(meta),
        };
        self.len += bytes.len() as u64;
        self.pages.push(entry.clone());
        Ok(entry)
    }

    /// fdatasync the file.
    pub(crate) fn sync(&self) -> Result<()> {
        durable::sync_data(&self.file, &self.path)
    }

    /// Write the footer and trailer and sync: the segment is sealed and immutable from here on.
    /// Returns the final length.
    pub(crate) fn finish(mut self) -> Result<u64> {
        let mut footer = Vec::with_capacity(8 + self.pages.len() * 8);
        write_varint(&mut footer, self.pages.len() as u64);
        for p in &self.pages {
            write_varint(&mut footer, p.offset);
            write_varint(&mut footer, p.header.total_len());
        }
        let footer_offset = self.len;
        let mut tail = footer;
        let footer_len = tail.len() as u32;
        let footer_crc = crc32c::crc32c(&tail);
        tail.extend_from_slice(&footer_offset.to_le_bytes());
        tail.extend_from_slice(&footer_len.to_le_bytes());
        tail.extend_from_slice(&footer_crc.to_le_bytes());
        tail.extend_from_slice(&TRAILER_MAGIC);
        debug_assert_eq!(tail.len(), footer_len as usize + TRAILER_LEN);
        self.file
            .write_all(&tail)
            .map_err(|e| Error::io(&self.path, "write segment footer", e))?;
        self.len += tail.len() as u64;
        durable::sync_data(&self.file, &self.path)?;
        Ok(self.len)
    }
}
