//! The write-ahead log: every batch the writer takes from the ring is appended here (one CRC'd record
//! per batch) before its events go into the active page. Events that are in the WAL but not yet in a
//! durable sealed page are replayed on open.
//!
//! WAL files are named after the seq of their first event (`wal-<seq hex>.log`). The writer starts a
//! new file whenever a page is sealed, and deletes a file once every event in it sits in a durable
//! page, so the WAL stays about one page long.

mod batch_codec;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

pub(crate) use batch_codec::{decode_batch, encode_batch};

use crate::durable;
use crate::error::{Error, Result};
use crate::event::Batch;
use crate::partition::{self, Cut};
use crate::record_log::{for_each_record, random_file_id, FileKind, RecordWriter};

/// File name of the WAL file whose first event has seq `first_seq`.
pub(crate) fn file_name(first_seq: u64) -> String {
    format!("wal-{first_seq:016x}.log")
}

fn parse_file_name(name: &str) -> Option<u64> {
    let hex = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    (hex.len() == 16).then(|| u64::from_str_radix(hex, 16).ok())?
}

struct WalFile {
    path: PathBuf,
    /// One past the last event seq written to this file.
    end_seq: u64,
}

/// The writer's side of the WAL.
pub(crate) struct Wal {
    dir: PathBuf,
    current: RecordWriter,
    current_first_seq: u64,
    current_end_seq: u64,
    older: VecDeque<WalFile>,
    buf: Vec<u8>,
}

impl Wal {
    /// Start a WAL whose next event has seq `next_seq`. `older` are the files recovery replayed,
    /// which stay until their events are in durable pages.
    pub(crate) fn create(dir: &Path, next_seq: u64, older: Vec<(PathBuf, u64)>) -> Result<Wal> {
        let path = dir.join(file_name(next_seq));
        if path.exists() {
            // A file of the same start seq can only hold records recovery already rejected or
            // replayed; it is re-created empty.
            durable::remove_durable(&path)?;
        }
        let current = RecordWriter::create(&path, FileKind::WAL, random_file_id())?;
        Ok(Wal {
            dir: dir.to_owned(),
            current,
            current_first_seq: next_seq,
            current_end_seq: next_seq,
            older: older
                .into_iter()
                .map(|(path, end_seq)| WalFile { path, end_seq })
                .collect(),
            buf: Vec::new(),
        })
    }

    /// Append one batch whose first event has seq `first_seq`.
    pub(crate) fn append(&mut self, first_seq: u64, batch: &Batch) -> Result<()> {
        self.buf.clear();
        encode_batch(first_seq, batch, &mut self.buf);
        self.current.append(&self.buf)?;
        self.current_end_seq = first_seq + batch.len() as u64;
        Ok(())
    }

    /// fdatasync the current file.
    pub(crate) fn sync(&mut self) -> Result<()> {
        self.current.sync()
    }

    /// Bytes in all WAL files.
    pub(crate) fn bytes(&self) -> u64 {
        self.current.len()
            + self
                .older
                .iter()
                .map(|f| std::fs::metadata(&f.path).map_or(0, |m| m.len()))
                .sum::<u64>()
    }

    /// Start a new file for events from `next_seq` on (called after sealing a page), unless the
    /// current one is still empty.
    pub(crate) fn rotate(&mut self, next_seq: u64) -> Result<()> {
        if self.current_end_seq == self.current_first_seq {
            return Ok(());
        }
        let path = self.dir.join(file_name(next_seq));
        let new = RecordWriter::create(&path, FileKind::WAL, random_file_id())?;
        let old = std::mem::replace(&mut self.current, new);
        self.older.push_back(WalFile {
            path: old.path().to_owned(),
            end_seq: self.current_end_seq,
        });
        self.current_first_seq = next_seq;
        self.current_end_seq = next_seq;
        Ok(())
    }

    /// Delete the older files whose events all have seq below `durable_seq` (they are in durable
    /// pages now).
    pub(crate) fn release(&mut self, durable_seq: u64) -> Result<()> {
        while let Some(f) = self.older.front() {
            if f.end_seq > durable_seq {
                break;
            }
            durable::remove_durable(&f.path)?;
            self.older.pop_front();
        }
        Ok(())
    }

    /// Delete everything (the store was closed cleanly and every event is in a sealed segment).
    pub(crate) fn remove_all(self) -> Result<()> {
        for f in &self.older {
            durable::remove_durable(&f.path)?;
        }
        let path = self.current.path().to_owned();
        drop(self.current);
        durable::remove_durable(&path)
    }
}

/// What WAL recovery found.
#[derive(Debug, Default)]
pub(crate) struct WalRecovery {
    /// Events replayed (seq at or above the durable page end).
    pub events: u64,
    /// Files that still hold events not in pages: (path, end seq).
    pub files: Vec<(PathBuf, u64)>,
    /// One past the highest seq seen in the WAL.
    pub end_seq: u64,
    /// Torn tails that were cut, and files set aside.
    pub cuts: Vec<Cut>,
}

/// Replay the WAL in `dir`: every event with seq >= `from_seq` is passed to `replay` in seq order,
/// as (first seq, batch) with the batch trimmed to the events at or above `from_seq`. Files whose
/// events are all below `from_seq` are deleted. A torn tail is truncated and reported.
pub(crate) fn recover(
    dir: &Path,
    from_seq: u64,
    mut replay: impl FnMut(u64, Batch) -> Result<()>,
) -> Result<WalRecovery> {
    let mut files: Vec<(u64, PathBuf)> = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "list", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, "list", e))?;
        if let Some(seq) = entry.file_name().to_str().and_then(parse_file_name) {
            files.push((seq, entry.path()));
        }
    }
    files.sort();
    let mut files = files.into_iter();
    let mut out = WalRecovery {
        end_seq: from_seq,
        ..WalRecovery::default()
    };
    let mut expected = None::<u64>;
    for (_, path) in files.by_ref() {
        let mut end = 0u64;
        let mut bad = None;
        let scanned = for_each_record(&path, FileKind::WAL, |offset, payload| {
            if bad.is_some() {
                return Ok(());
            }
            let (first, mut batch) = match decode_batch(payload) {
                Ok(x) => x,
                Err(e) => {
                    bad = Some((offset, e.reason));
                    return Ok(());
                }
            };
            let n = batch.len() as u64;
            // No writer numbers events up to u64::MAX: a record claiming so is damage.
            let Some(batch_end) = first.checked_add(n) else {
                bad = Some((offset, "WAL record seq out of range"));
                return Ok(());
            };
            // Seqs are contiguous across the whole WAL and continue the pages; a gap means a
            // lost record.
            let live = batch_end > from_seq;
            let gap = match expected {
                Some(exp) => first != exp,
                None => first > from_seq,
            };
            if live && gap {
                bad = Some((offset, "WAL record out of sequence"));
                return Ok(());
            }
            expected = Some(batch_end);
            end = batch_end;
            if batch_end <= from_seq {
                return Ok(());
            }
            let skip = from_seq.saturating_sub(first) as usize;
            let first = first.max(from_seq);
            if skip > 0 {
                batch = batch.tail(skip);
            }
            out.events += batch.len() as u64;
            replay(first, batch)
        });
        let scanned = match scanned {
            Ok(s) => s,
            // A file whose header is damaged holds nothing that can be trusted: it is set aside
            // (not deleted) and reported; the seq check then cuts whatever came after it.
            Err(Error::Corrupt { reason, .. }) => {
                let len = std::fs::metadata(&path).map_or(0, |m| m.len());
                out.cuts.push(Cut::new(&path, 0, len, reason));
                partition::quarantine(dir, &path)?;
                continue;
            }
            Err(e) => return Err(e),
        };
        if let Some(cut) = &scanned.cut {
            out.cuts
                .push(Cut::new(&path, cut.offset, cut.bytes, cut.reason));
        }
        if let Some((offset, reason)) = bad {
            let len = std::fs::metadata(&path).map_or(offset, |m| m.len());
            out.cuts.push(Cut::new(&path, offset, len - offset, reason));
            // Everything after a bad record is untrusted, in this file and the later ones.
            truncate(&path, offset)?;
            out.end_seq = out.end_seq.max(end);
            out.files.push((path, end));
            for (_, later) in files.by_ref() {
                let len = std::fs::metadata(&later).map_or(0, |m| m.len());
                out.cuts
                    .push(Cut::new(&later, 0, len, "follows a damaged WAL record"));
                partition::quarantine(dir, &later)?;
            }
            break;
        }
        if scanned.cut.is_some() {
            truncate(&path, scanned.valid_len)?;
        }
        out.end_seq = out.end_seq.max(end);
        if end > from_seq {
            out.files.push((path, end));
        } else {
            durable::remove_durable(&path)?;
        }
    }
    Ok(out)
}

fn truncate(path: &Path, len: u64) -> Result<()> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, "open WAL", e))?;
    file.set_len(len)
        .map_err(|e| Error::io(path, "truncate WAL", e))?;
    durable::sync_data(&file, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `cargo fuzz run wal`: a checksummed record numbered near u64::MAX overflowed
    /// `first + len` (a panic under overflow checks, a wrapped seq otherwise).
    #[test]
    fn record_with_seqs_past_u64_max_is_cut_as_damage() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = RecordWriter::create(&dir.path().join(file_name(0)), FileKind::WAL, 7).unwrap();
        let mut b = Batch::default();
        for i in 0..5 {
            b.push_call(1, i, 10, true);
        }
        let mut payload = Vec::new();
        encode_batch(u64::MAX - 2, &b, &mut payload);
        w.append(&payload).unwrap();
        drop(w);
        let r = recover(dir.path(), 0, |_, _| panic!("nothing may be replayed")).unwrap();
        assert_eq!(r.events, 0);
        let reasons: Vec<&str> = r.cuts.iter().map(|c| c.reason.as_str()).collect();
        assert_eq!(reasons, ["WAL record seq out of range"]);
    }
}
