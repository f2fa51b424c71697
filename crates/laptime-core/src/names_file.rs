//! Persistence of a partition's [`Dictionary`]: an append-only record file (`names.log`) where each
//! record adds the strings with ids `first_id..first_id + count`. The writer appends new strings
//! before any WAL record or page that refers to them, and syncs this file first.
//!
//! Record payload: `first_id u32 LE | count u32 LE | (varint len, UTF-8 bytes)*count`.

use std::path::{Path, PathBuf};

use crate::dictionary::{Dictionary, MAX_NAMES, MAX_NAME_BYTES};
use crate::encoding::varint::{read_varint, write_varint};
use crate::error::Result;
use crate::record_log::{for_each_record, random_file_id, FileKind, RecordWriter};

/// File name inside a partition directory.
pub(crate) const FILE_NAME: &str = "names.log";

/// The writer's handle on `names.log`.
pub(crate) struct NamesFile {
    writer: RecordWriter,
    persisted: usize,
    dirty: bool,
    buf: Vec<u8>,
}

/// What loading `names.log` found.
pub(crate) struct LoadedNames {
    pub strings: Vec<String>,
    pub valid_len: u64,
    /// A torn tail that was cut: (offset, bytes, reason).
    pub cut: Option<(u64, u64, String)>,
}

/// Read the strings of `names.log` in `dir` (an absent file is an empty dictionary).
pub(crate) fn load(dir: &Path) -> Result<LoadedNames> {
    let path = dir.join(FILE_NAME);
    if !path.exists() {
        return Ok(LoadedNames {
            strings: Vec::new(),
            valid_len: 0,
            cut: None,
        });
    }
    let mut strings: Vec<String> = Vec::new();
    let mut bad: Option<(u64, &'static str)> = None;
    let mut valid_len = None;
    let scanned = for_each_record(&path, FileKind::NAMES, |offset, payload| {
        if bad.is_some() {
            return Ok(());
        }
        match decode_record(payload, strings.len()) {
            Ok(mut more) => strings.append(&mut more),
            Err(reason) => {
                bad = Some((offset, reason));
                valid_len = Some(offset);
            }
        }
        Ok(())
    })?;
    let mut cut = scanned
        .cut
        .map(|c| (c.offset, c.bytes, c.reason.to_string()));
    let mut valid = scanned.valid_len;
    if let Some((offset, reason)) = bad {
        let len = std::fs::metadata(&path).map_or(offset, |m| m.len());
        cut = Some((offset, len - offset, reason.to_string()));
        valid = valid_len.unwrap_or(offset);
    }
    Ok(LoadedNames {
        strings,
        valid_len: valid,
        cut,
    })
}

fn decode_record(payload: &[u8], expect_first: usize) -> Result<Vec<String>, &'static str> {
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
    /// Open (or create) `names.log` in `dir` for appending after `loaded` was read from it.
    pub(crate) fn open(dir: &Path, loaded: &LoadedNames) -> Result<NamesFile> {
        let path: PathBuf = dir.join(FILE_NAME);
        let writer = if path.exists() && loaded.valid_len > 0 {
            RecordWriter::open_append(&path, FileKind::NAMES, loaded.valid_len)?
        } else {
            if path.exists() {
                crate::durable::remove_durable(&path)?;
            }
            RecordWriter::create(&path, FileKind::NAMES, random_file_id())?
        };
        Ok(NamesFile {
            writer,
            persisted: loaded.strings.len(),
            dirty: false,
            buf: Vec::new(),
        })
    }

    /// Append the strings of `dict` not written yet. Returns true if anything was written.
    pub(crate) fn persist_new(&mut self, dict: &Dictionary) -> Result<bool> {
        if dict.len() <= self.persisted {
            return Ok(false);
        }
        let new = dict.strings_from(self.persisted);
        self.buf.clear();
        self.buf
            .extend_from_slice(&(self.persisted as u32).to_le_bytes());
        self.buf
            .extend_from_slice(&(new.len() as u32).to_le_bytes());
        for s in &new {
            write_varint(&mut self.buf, s.len() as u64);
            self.buf.extend_from_slice(s.as_bytes());
        }
        self.writer.append(&self.buf)?;
        self.persisted += new.len();
        self.dirty = true;
        Ok(true)
    }

    /// fdatasync if anything was appended since the last sync.
    pub(crate) fn sync(&mut self) -> Result<()> {
        if self.dirty {
            self.writer.sync()?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Bytes of the file.
    pub(crate) fn bytes(&self) -> u64 {
        self.writer.len()
    }
}
