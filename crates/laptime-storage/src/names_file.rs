//! Persistence of a partition's [`Dictionary`]: two identical append-only record files
//! (`names.log`, `names.copy.log`) where each record adds the strings with ids
//! `first_id..first_id + count`. The writer appends new strings before any WAL record or page that
//! refers to them, and syncs them first.
//!
//! Record payload: `first_id u32 LE | count u32 LE | (varint len, UTF-8 bytes)*count`.
//!
//! A third, scattered copy: every page's meta carries the names it refers to, so when both files
//! are lost or cut short the dictionary is rebuilt from the pages ([`fill_from_pages`]).

use std::path::Path;
use std::sync::Arc;

use crate::dictionary::{Dictionary, MAX_NAMES, MAX_NAME_BYTES};
use crate::encoding::varint::{read_varint, write_varint};
use crate::error::{Error, Result};
use crate::ids::random_file_id;
use crate::partition::{self, Cut};
use crate::record_log::{for_each_record, FileKind, RecordWriter};
use crate::segment::SegmentReader;

/// File names inside a partition directory: the dictionary is small and every event depends on
/// it, so it is kept in two identical copies; either one alone restores it.
pub(crate) const FILE_NAMES: [&str; 2] = ["names.log", "names.copy.log"];

/// The writer's handle on both copies.
pub(crate) struct NamesFile {
    writers: Vec<RecordWriter>,
    persisted: usize,
    dirty: bool,
    buf: Vec<u8>,
}

/// One copy as read from disk.
struct CopyState {
    strings: Vec<String>,
    valid_len: u64,
}

/// What loading the dictionary found.
pub(crate) struct LoadedNames {
    pub strings: Vec<String>,
    copies: Vec<CopyState>,
    /// Damage found in a copy. The other copy made up for it unless both are damaged at the same
    /// place.
    pub cuts: Vec<Cut>,
}

impl LoadedNames {
    /// Names the copy `FILE_NAMES[index]` holds (0 for an absent copy).
    pub(crate) fn names_in_copy(&self, index: usize) -> usize {
        self.copies.get(index).map_or(0, |c| c.strings.len())
    }
}

/// Read one copy; a damaged header or record is reported as a cut from that point on.
fn read_copy(path: &Path) -> Result<(CopyState, Option<Cut>)> {
    if !path.exists() {
        return Ok((
            CopyState {
                strings: Vec::new(),
                valid_len: 0,
            },
            None,
        ));
    }
    let len = std::fs::metadata(path).map_or(0, |m| m.len());
    let mut strings: Vec<String> = Vec::new();
    let mut bad: Option<(u64, &'static str)> = None;
    let scanned = match for_each_record(path, FileKind::NAMES, |offset, payload| {
        if bad.is_some() {
            return Ok(());
        }
        match decode_record(payload, strings.len()) {
            Ok(mut more) => strings.append(&mut more),
            Err(reason) => bad = Some((offset, reason)),
        }
        Ok(())
    }) {
        Ok(s) => s,
        Err(Error::Corrupt { reason, .. }) => {
            let state = CopyState {
                strings: Vec::new(),
                valid_len: 0,
            };
            return Ok((state, Some(Cut::new(path, 0, len, reason))));
        }
        Err(e) => return Err(e),
    };
    if let Some(why) = path
        .parent()
        .and_then(|dir| crate::record_log::foreign_owner(scanned.owner, dir))
    {
        let state = CopyState {
            strings: Vec::new(),
            valid_len: 0,
        };
        return Ok((state, Some(Cut::new(path, 0, len, why))));
    }
    let (valid_len, cut) = match (bad, scanned.cut) {
        (Some((offset, reason)), _) => (offset, Some(Cut::new(path, offset, len - offset, reason))),
        (None, Some(c)) => (c.offset, Some(Cut::new(path, c.offset, c.bytes, c.reason))),
        (None, None) => (scanned.valid_len, None),
    };
    Ok((CopyState { strings, valid_len }, cut))
}

/// Read the dictionary of partition `dir` from whichever copy holds more of it (absent files are an
/// empty dictionary). Never modifies anything.
pub(crate) fn load(dir: &Path) -> Result<LoadedNames> {
    let mut copies = Vec::with_capacity(FILE_NAMES.len());
    let mut cuts = Vec::new();
    for name in FILE_NAMES {
        let path = dir.join(name);
        let (state, cut) = read_copy(&path)?;
        cuts.extend(cut);
        copies.push(state);
    }
    let best = copies
        .iter()
        .max_by_key(|c| c.strings.len())
        .map(|c| c.strings.clone())
        .unwrap_or_default();
    Ok(LoadedNames {
        strings: best,
        copies,
        cuts,
    })
}

/// What [`fill_from_pages`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Refilled {
    /// Names taken from page metas.
    pub from_pages: usize,
    /// Ids no page names (events only in the WAL, or pages written before pages carried their
    /// names): given a placeholder so the events stay readable.
    pub placeholders: usize,
}

impl Refilled {
    pub(crate) fn describe(&self, had: usize) -> String {
        format!(
            "the names files held {had} names; {} were rebuilt from page metas and {} are lost (shown as \"(lost name #id)\")",
            self.from_pages, self.placeholders
        )
    }
}

/// The text shown for a name id whose string is lost.
pub(crate) fn lost_name(id: usize) -> String {
    format!("(lost name #{id})")
}

/// Extend `strings` (the dictionary by id, as the names files gave it) to every name the pages of
/// `segments` refer to, and at least `also_need` names (ids the WAL refers to), taking each missing
/// one from the first page that carries it. Pages that cannot be read are
/// skipped: their own damage is reported where they are read.
pub(crate) fn fill_from_pages(
    strings: &mut Vec<String>,
    segments: &[Arc<SegmentReader>],
    also_need: usize,
) -> Refilled {
    let need = segments
        .iter()
        .flat_map(|s| s.pages())
        .filter_map(|p| p.zone.max_id)
        .max()
        .map_or(0, |m| m as usize + 1)
        .max(also_need);
    let have = strings.len();
    if need <= have {
        return Refilled::default();
    }
    let mut found: Vec<Option<String>> = vec![None; need - have];
    let mut missing = found.len();
    'segments: for seg in segments {
        for page in seg.pages() {
            if page.zone.max_id.is_none_or(|m| (m as usize) < have) {
                continue;
            }
            let Ok(texts) = seg.page_names(page) else {
                continue;
            };
            for (id, text) in texts {
                let Some(slot) = (id as usize)
                    .checked_sub(have)
                    .and_then(|i| found.get_mut(i))
                else {
                    continue;
                };
                if slot.is_none() {
                    *slot = Some(text);
                    missing -= 1;
                }
            }
            if missing == 0 {
                break 'segments;
            }
        }
    }
    let mut out = Refilled::default();
    for (i, text) in found.into_iter().enumerate() {
        match text {
            Some(t) => {
                strings.push(t);
                out.from_pages += 1;
            }
            None => {
                strings.push(lost_name(have + i));
                out.placeholders += 1;
            }
        }
    }
    out
}

pub(crate) fn encode_record<'a>(
    first_id: usize,
    strings: impl ExactSizeIterator<Item = &'a str>,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(&(first_id as u32).to_le_bytes());
    out.extend_from_slice(&(strings.len() as u32).to_le_bytes());
    for s in strings {
        write_varint(out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
}

pub(crate) fn decode_record(
    payload: &[u8],
    expect_first: usize,
) -> Result<Vec<String>, &'static str> {
    let first = payload
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or("names record truncated")?;
    let count = payload
        .get(4..8)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or("names record truncated")?;
    if first as usize != expect_first {
        return Err("names record does not continue the dictionary");
    }
    if expect_first + count as usize > MAX_NAMES || count as usize > payload.len() {
        return Err("names record holds too many names");
    }
    let mut pos = 8usize;
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let len = read_varint(payload, &mut pos).map_err(|e| e.reason)?;
        if len > MAX_NAME_BYTES as u64 {
            return Err("name longer than the limit");
        }
        let end = pos + len as usize;
        let bytes = payload.get(pos..end).ok_or("names record truncated")?;
        out.push(String::from_utf8(bytes.to_vec()).map_err(|_| "name is not UTF-8")?);
        pos = end;
    }
    if pos != payload.len() {
        return Err("trailing bytes in names record");
    }
    Ok(out)
}

impl NamesFile {
    /// Open both copies for appending after `loaded` was read. A copy that is damaged, short or
    /// missing is rewritten whole from the good one first (one at a time, so a crash meanwhile
    /// always leaves one good copy).
    pub(crate) fn open(dir: &Path, loaded: &LoadedNames) -> Result<NamesFile> {
        let mut writers = Vec::with_capacity(FILE_NAMES.len());
        let mut buf = Vec::new();
        for (name, copy) in FILE_NAMES.iter().zip(&loaded.copies) {
            let path = dir.join(name);
            if copy.valid_len > 0 && copy.strings == loaded.strings {
                writers.push(RecordWriter::open_append(
                    &path,
                    FileKind::NAMES,
                    copy.valid_len,
                )?);
                continue;
            }
            crate::durable::remove_durable(&path)?;
            let mut w = RecordWriter::create(
                &path,
                FileKind::NAMES,
                partition::id_of(dir),
                random_file_id(),
            )?;
            if !loaded.strings.is_empty() {
                buf.clear();
                encode_record(0, loaded.strings.iter().map(String::as_str), &mut buf);
                w.append(&buf)?;
                w.sync()?;
            }
            writers.push(w);
        }
        Ok(NamesFile {
            writers,
            persisted: loaded.strings.len(),
            dirty: false,
            buf,
        })
    }

    /// Append the strings of `dict` not written yet. Returns true if anything was written.
    pub(crate) fn persist_new(&mut self, dict: &Dictionary) -> Result<bool> {
        if dict.len() <= self.persisted {
            return Ok(false);
        }
        let new = dict.strings_from(self.persisted);
        self.buf.clear();
        encode_record(self.persisted, new.iter().map(|s| &**s), &mut self.buf);
        for w in &mut self.writers {
            w.append(&self.buf)?;
        }
        self.persisted += new.len();
        self.dirty = true;
        Ok(true)
    }

    /// fdatasync if anything was appended since the last sync.
    pub(crate) fn sync(&mut self) -> Result<()> {
        if self.dirty {
            for w in &mut self.writers {
                w.sync()?;
            }
            self.dirty = false;
        }
        Ok(())
    }

    /// Whether a write or sync of either copy failed (the writer must `renew` before going on).
    pub(crate) fn has_failed(&self) -> bool {
        self.writers.iter().any(RecordWriter::has_failed)
    }

    /// After a failed write or sync: replace both copies by new files holding the names persisted
    /// so far (the failed files are never written again, and a copy that took a record its twin
    /// did not would no longer match). Each new copy is written under a temporary name, synced and
    /// renamed over the old one, one at a time, so a crash always leaves a good copy.
    pub(crate) fn renew(&mut self, dir: &Path, dict: &Dictionary) -> Result<()> {
        let strings: Vec<_> = dict
            .strings_from(0)
            .into_iter()
            .take(self.persisted)
            .collect();
        for (i, name) in FILE_NAMES.iter().enumerate() {
            let path = dir.join(name);
            let tmp = dir.join(format!("{name}.new"));
            crate::durable::remove_durable(&tmp)?;
            let mut w = RecordWriter::create(
                &tmp,
                FileKind::NAMES,
                partition::id_of(dir),
                random_file_id(),
            )?;
            if !strings.is_empty() {
                self.buf.clear();
                encode_record(0, strings.iter().map(|s| &**s), &mut self.buf);
                w.append(&self.buf)?;
                w.sync()?;
            }
            std::fs::rename(&tmp, &path).map_err(|e| Error::io(&tmp, "rename", e))?;
            crate::durable::fsync_dir(dir)?;
            w.renamed(&path);
            if let Some(slot) = self.writers.get_mut(i) {
                *slot = w;
            }
        }
        self.dirty = false;
        Ok(())
    }

    /// Bytes of both copies.
    pub(crate) fn bytes(&self) -> u64 {
        self.writers.iter().map(RecordWriter::len).sum()
    }
}
