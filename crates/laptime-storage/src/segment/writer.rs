//! Appending pages to a segment file and sealing it with a footer.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::reader::{ReadScratch, SegmentReader};
use super::rollup::RollupRef;
use super::rollup_build::{EncodedRollup, RollupBuilder};
use super::{
    footer, header_bytes, PageEntry, SegmentIdentity, HEADER_LEN, TRAILER_LEN, TRAILER_MAGIC,
    TRAILER_MAGIC_V3,
};
use crate::durable;
use crate::error::{Error, Result};
use crate::page::{
    decode_meta, read_page_header, ColumnSet, PageColumns, PageMeta, StringFields, PAGE_HEADER_LEN,
};

/// Writes one segment. Pages are written with one `write` each; durability is the caller's choice
/// (`sync`), except `finish`, which always syncs: a sealed segment is on disk or not sealed.
///
/// A failed write or sync poisons the writer: the file's state past its last good page is unknown,
/// so it is never written or synced again; the partition writer copies its good pages into a new
/// segment instead (`copy_pages_from`).
pub(crate) struct SegmentWriter {
    file: File,
    path: PathBuf,
    id: u64,
    /// The partition named in the file's header.
    partition: u64,
    len: u64,
    pages: Vec<PageEntry>,
    /// The metas of `pages` absorbed into one, written in the footer. Shared with the readers of
    /// the unsealed segment, so appending copies it only while a reader holds it.
    summary: Arc<PageMeta>,
    /// The value rollup of the pages sealed so far (fed by `page::encode_page`).
    rollup: RollupBuilder,
    /// Where `finish` wrote the rollup, and the footer's offset.
    rollup_at: Option<(RollupRef, u64)>,
    failed: Option<String>,
}

impl SegmentWriter {
    /// Create a new, empty segment file (header only, synced with its directory entry).
    pub(crate) fn create(path: &Path, who: SegmentIdentity) -> Result<SegmentWriter> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Error::io(path, "create segment", e))?;
        let init = (|| {
            file.write_all(&header_bytes(who))
                .map_err(|e| Error::io(path, "write segment header", e))?;
            durable::sync_data(&file, path)?;
            match path.parent() {
                Some(dir) => durable::fsync_dir(dir),
                None => Ok(()),
            }
        })();
        if let Err(e) = init {
            // Best effort: a half-made file holds nothing; the original error is what matters.
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
        Ok(SegmentWriter {
            file,
            path: path.to_owned(),
            id: who.id,
            partition: who.partition,
            len: HEADER_LEN as u64,
            pages: Vec::new(),
            summary: Arc::default(),
            rollup: RollupBuilder::default(),
            rollup_at: None,
            failed: None,
        })
    }

    /// Continue a segment of `who` whose first `valid_len` bytes hold the recovered `pages`
    /// (whose metas `summary` absorbed); anything after is a torn tail and is cut off.
    pub(crate) fn resume(
        path: &Path,
        who: SegmentIdentity,
        valid_len: u64,
        pages: Vec<PageEntry>,
        summary: PageMeta,
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
            id: who.id,
            partition: who.partition,
            len: valid_len,
            pages,
            summary: Arc::new(summary),
            rollup: RollupBuilder::default(),
            rollup_at: None,
            failed: None,
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

    /// The metas of the pages written so far, absorbed into one.
    pub(crate) fn summary(&self) -> &Arc<PageMeta> {
        &self.summary
    }

    /// The rollup the sealing of the next page feeds (see `page::encode_page`). A page fed to it
    /// but not appended (its write failed) leaves it disagreeing with the pages, and `finish`
    /// builds it again from them.
    pub(crate) fn rollup_mut(&mut self) -> &mut RollupBuilder {
        &mut self.rollup
    }

    /// True once a write or sync of this file failed (see the type's doc).
    pub(crate) fn has_failed(&self) -> bool {
        self.failed.is_some()
    }

    fn check_usable(&self, op: &'static str) -> Result<()> {
        match &self.failed {
            None => Ok(()),
            Some(first) => Err(Error::io(
                &self.path,
                op,
                std::io::Error::other(format!(
                    "segment writer stopped after an earlier failure, not retried: {first}"
                )),
            )),
        }
    }

    /// Record a failure of this file and pass it on.
    fn poison(&mut self, err: Error) -> Error {
        self.failed.get_or_insert_with(|| err.to_string());
        err
    }

    /// Append one encoded page (as produced by `page::encode_page`).
    pub(crate) fn append_page(&mut self, bytes: &[u8], meta: PageMeta) -> Result<PageEntry> {
        self.check_usable("write page")?;
        let header = read_page_header(bytes).map_err(|e| Error::InvalidInput {
            what: "page",
            reason: e.to_string(),
        })?;
        // Before the write: a meta that cannot join the summary (it leaves the summary as it
        // was) must not leave its page behind. A failed write poisons the writer, whose summary
        // is then not used (see `forget_last_page`).
        Arc::make_mut(&mut self.summary)
            .absorb(&meta)
            .map_err(|e| Error::InvalidInput {
                what: "page",
                reason: e.to_string(),
            })?;
        if let Err(e) = crate::failpoint::write_all(&mut self.file, &self.path, bytes) {
            return Err(self.poison(Error::io(&self.path, "write page", e)));
        }
        let entry = PageEntry {
            offset: self.len,
            header,
            zone: meta.zone(),
        };
        self.len += bytes.len() as u64;
        self.pages.push(entry.clone());
        Ok(entry)
    }

    /// Give up the last page appended (its sync failed, or no reader could be made of it): its
    /// events stay with the caller, who writes them again elsewhere, so the page must not be
    /// copied forward as well. The writer is poisoned: its file holds bytes it no longer
    /// describes (and its summary still counts them), so its pages go to a new segment
    /// (`copy_pages_from`, which summarises them afresh).
    pub(crate) fn forget_last_page(&mut self) {
        if let Some(p) = self.pages.pop() {
            self.len = p.offset;
        }
        self.failed
            .get_or_insert_with(|| "a page was given up after it was written".into());
    }

    /// Copy the pages `pages` of the abandoned segment at `from` into this one, each checked
    /// against its checksums first. Returns the rows of pages that could not be read back intact
    /// (they are lost) and the entries of the copied pages are appended to this writer's pages.
    pub(crate) fn copy_pages_from(&mut self, from: &Path, pages: &[PageEntry]) -> Result<u64> {
        self.check_usable("write page")?;
        let src = File::open(from).map_err(|e| Error::io(from, "open abandoned segment", e))?;
        let mut lost = 0u64;
        let mut buf = Vec::new();
        for p in pages {
            buf.clear();
            buf.resize(p.header.total_len() as usize, 0);
            super::reader::read_exact_at(&src, from, &mut buf, p.offset)?;
            let meta_bytes = &buf[PAGE_HEADER_LEN..PAGE_HEADER_LEN + p.header.meta_len as usize];
            let meta = match decode_meta(&p.header, meta_bytes) {
                Ok(m) if page_intact(&buf, p) && m.zone() == p.zone => m,
                _ => {
                    lost += u64::from(p.zone.rows);
                    continue;
                }
            };
            // Summarised before the write, as in `append_page`: a page the summary cannot take
            // is lost like a damaged one.
            if Arc::make_mut(&mut self.summary).absorb(&meta).is_err() {
                lost += u64::from(p.zone.rows);
                continue;
            }
            if let Err(e) = crate::failpoint::write_all(&mut self.file, &self.path, &buf) {
                return Err(self.poison(Error::io(&self.path, "write page", e)));
            }
            self.pages.push(PageEntry {
                offset: self.len,
                header: p.header,
                zone: p.zone,
            });
            self.len += buf.len() as u64;
        }
        Ok(lost)
    }

    /// fdatasync the file.
    pub(crate) fn sync(&mut self) -> Result<()> {
        self.check_usable("fdatasync")?;
        match durable::sync_data(&self.file, &self.path) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.poison(e)),
        }
    }

    /// Write the footer and trailer and sync: the segment is sealed and immutable from here on.
    /// Returns the final length. On failure the writer is poisoned and keeps its pages, so they can
    /// be copied forward.
    pub(crate) fn finish(&mut self) -> Result<u64> {
        self.check_usable("write segment footer")?;
        match self.write_footer() {
            Ok(len) => Ok(len),
            Err(e) => Err(self.poison(e)),
        }
    }

    /// The reader of this segment once [`SegmentWriter::finish`] sealed it, from the page entries
    /// the writer already holds: the file is not read back and no page meta is decoded again.
    pub(crate) fn into_sealed_reader(self) -> Result<SegmentReader> {
        debug_assert!(self.failed.is_none());
        SegmentReader::sealed(
            &self.path,
            SegmentIdentity {
                id: self.id,
                partition: self.partition,
            },
            self.len,
            self.pages,
            self.summary,
            self.rollup_at,
        )
    }

    /// The rollup of every page, from the builder when it saw exactly them, else rebuilt by
    /// reading them back (a segment resumed after a restart, pages copied forward). `None` when
    /// no key rolls up or the pages cannot be read back: the segment is then sealed without one,
    /// and its queries decode pages as before rollups.
    fn take_rollup(&mut self) -> Option<EncodedRollup> {
        let mut builder = std::mem::take(&mut self.rollup);
        if !builder.covers(self.pages.iter().map(|p| p.zone)) {
            builder = self.rebuild_rollup().ok()?;
        }
        builder.encode(&self.summary)
    }

    fn rebuild_rollup(&self) -> Result<RollupBuilder> {
        let mut builder = RollupBuilder::default();
        if !self
            .summary
            .index
            .values
            .iter()
            .any(|v| matches!(v, crate::page::KeyValues::Listed { .. }))
        {
            return Ok(builder);
        }
        let reader = SegmentReader::unsealed(
            &self.path,
            self.id,
            self.pages.clone(),
            Arc::clone(&self.summary),
        )?;
        let mut scratch = ReadScratch::default();
        let mut cols = PageColumns::default();
        for page in &self.pages {
            let meta = reader.page_meta_deferred(page)?;
            reader.read_page(page, ColumnSet::ALL, &mut scratch, &mut cols)?;
            let strings = StringFields::of(&cols);
            builder.add_page(&cols, &strings.dicts, &meta);
        }
        Ok(builder)
    }

    fn write_footer(&mut self) -> Result<u64> {
        let mut tail = Vec::new();
        let mut rollup = None;
        if let Some(region) = self.take_rollup() {
            let directory_len = u32::try_from(region.directory_len).unwrap_or(u32::MAX);
            rollup = Some(RollupRef {
                offset: self.len,
                directory_len,
                directory_crc: crc32c::crc32c(&region.bytes[..region.directory_len]),
            });
            tail = region.bytes;
        }
        let footer_offset = self.len + tail.len() as u64;
        let footer = footer::encode(&self.pages, &self.summary, rollup);
        let footer_start = tail.len();
        tail.extend_from_slice(&footer);
        let footer_len = footer.len() as u32;
        let footer_crc = crc32c::crc32c(&footer);
        tail.extend_from_slice(&footer_offset.to_le_bytes());
        tail.extend_from_slice(&footer_len.to_le_bytes());
        tail.extend_from_slice(&footer_crc.to_le_bytes());
        tail.extend_from_slice(if rollup.is_some() {
            &TRAILER_MAGIC_V3
        } else {
            &TRAILER_MAGIC
        });
        debug_assert_eq!(tail.len(), footer_start + footer_len as usize + TRAILER_LEN);
        self.file
            .write_all(&tail)
            .map_err(|e| Error::io(&self.path, "write segment footer", e))?;
        self.len += tail.len() as u64;
        durable::sync_data(&self.file, &self.path)?;
        self.rollup_at = rollup.map(|r| (r, footer_offset));
        Ok(self.len)
    }
}

/// Whether `bytes` (read back from a segment) are exactly the page `entry` describes, checksums
/// included.
fn page_intact(bytes: &[u8], entry: &PageEntry) -> bool {
    let Ok(header) = read_page_header(bytes) else {
        return false;
    };
    if header != entry.header {
        return false;
    }
    let meta_start = crate::page::PAGE_HEADER_LEN;
    let cols_start = meta_start + header.meta_len as usize;
    let end = cols_start + header.cols_len as usize;
    end == bytes.len()
        && crc32c::crc32c(&bytes[meta_start..cols_start]) == header.meta_crc
        && crc32c::crc32c(&bytes[cols_start..end]) == header.cols_crc
}
