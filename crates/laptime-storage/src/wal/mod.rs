//! The write-ahead log: every batch the writer takes from the ring is appended here (one CRC'd record
//! per batch) before its events go into the active page. Events that are in the WAL but not yet in a
//! durable sealed page are replayed on open.
//!
//! WAL files are named after the seq of their first event (`wal-<seq hex>.log`). The writer starts a
//! new file when a page is sealed and the current file holds `Options::wal_file_bytes`, and deletes
//! a file once every event in it sits in a durable page, so the WAL stays about two such files long.

mod batch_codec;
pub(crate) mod scan;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

pub(crate) use batch_codec::{decode_batch, encode_batch};

use crate::durable;
use crate::error::{Error, Result};
use crate::event::Batch;
use crate::ids::random_file_id;
use crate::partition::{self, Cut};
use crate::record_log::{FileKind, RecordWriter};

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

/// A new, empty WAL file of partition `owner`.
fn new_file(path: &Path, owner: u64) -> Result<RecordWriter> {
    RecordWriter::create(path, FileKind::WAL, owner, random_file_id())
}

/// The writer's side of the WAL.
pub(crate) struct Wal {
    dir: PathBuf,
    /// The partition id every file records (see `record_log`), worked out once.
    owner: u64,
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
        let owner = partition::id_of(dir);
        let current = new_file(&path, owner)?;
        Ok(Wal {
            dir: dir.to_owned(),
            owner,
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

    /// Stop writing the current file after a failed write or sync (its state past the last good
    /// sync is unknown, so it is never written or synced again) and go on in a new file for events
    /// from `next_seq` on. The abandoned file may hold events up to `next_seq`; it stays, like any
    /// older file, until those are in durable pages ([`Wal::release`]), so recovery can still replay
    /// what it acknowledged. The caller must put every event below `next_seq` into a durable page
    /// and release before acknowledging events of the new file: recovery needs the WAL's seqs
    /// contiguous, and the abandoned file may end short of `next_seq`.
    pub(crate) fn abandon(&mut self, next_seq: u64) -> Result<()> {
        let path = self.dir.join(file_name(next_seq));
        if self.current.path() == path {
            // No event was ever given to this file: nothing in it to keep.
            durable::remove_durable(&path)?;
        }
        let new = new_file(&path, self.owner)?;
        let old = std::mem::replace(&mut self.current, new);
        if old.path() != path {
            self.older.push_back(WalFile {
                path: old.path().to_owned(),
                end_seq: next_seq,
            });
        }
        self.current_first_seq = next_seq;
        self.current_end_seq = next_seq;
        Ok(())
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

    /// Start a new file for events from `next_seq` on (called after sealing a page) once the
    /// current one holds `file_bytes` (`Options::wal_file_bytes`). Each file costs the writer three
    /// fsyncs (made, its directory, removed) and a sync of the active segment before it goes: per
    /// page, that was about a fifth of a busy writer's time.
    pub(crate) fn rotate(&mut self, next_seq: u64, file_bytes: u64) -> Result<()> {
        if self.current_end_seq == self.current_first_seq || self.current.len() < file_bytes {
            return Ok(());
        }
        let path = self.dir.join(file_name(next_seq));
        let new = new_file(&path, self.owner)?;
        let old = std::mem::replace(&mut self.current, new);
        self.older.push_back(WalFile {
            path: old.path().to_owned(),
            end_seq: self.current_end_seq,
        });
        self.current_first_seq = next_seq;
        self.current_end_seq = next_seq;
        Ok(())
    }

    /// True when [`Wal::release`] of `durable_seq` would delete a file.
    pub(crate) fn releases_any(&self, durable_seq: u64) -> bool {
        self.older.front().is_some_and(|f| f.end_seq <= durable_seq)
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
    /// Origins of the records read (see `origins.rs`), with the seq one past each record.
    pub origins: Vec<(crate::event::Origin, u64)>,
}

/// Replay the WAL in `dir`: every event with seq >= `from_seq` is passed to `replay` in seq order,
/// as (first seq, batch) with the batch trimmed to the events at or above `from_seq`. Acts on what
/// the read-only [`scan::scan`] found: files whose events are all below `from_seq` are deleted, a
/// torn or damaged tail is truncated, files that cannot be trusted are quarantined; all reported.
pub(crate) fn recover(
    dir: &Path,
    from_seq: u64,
    replay: impl FnMut(u64, Batch) -> Result<()>,
) -> Result<WalRecovery> {
    let found = scan::scan(dir, from_seq, replay)?;
    let mut out = WalRecovery {
        events: found.events,
        end_seq: found.end_seq,
        origins: found.origins,
        ..WalRecovery::default()
    };
    if let (Some((from, to)), Some(first)) = (found.missing, found.files.first()) {
        out.cuts.push(Cut::new(
            &first.path,
            0,
            0,
            format!(
                "events {from}..{to} ({} events) are in no intact page and no WAL record: lost; the WAL's later events are kept",
                to - from
            ),
        ));
    }
    for file in found.files {
        let path = file.path;
        match file.fate {
            scan::Fate::SetAside(stop) => {
                out.cuts.push(Cut::new(&path, 0, file.len, stop.reason));
                partition::quarantine(dir, &path)?;
                continue;
            }
            scan::Fate::Cut(stop) => {
                out.cuts
                    .push(Cut::new(&path, stop.offset, stop.bytes, stop.reason));
                truncate(&path, stop.offset)?;
            }
            scan::Fate::Whole => {}
        }
        if file.end_seq > from_seq {
            out.files.push((path, file.end_seq));
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

    /// A store written before the compact record layout, stopped with events only in its WAL, is
    /// opened by this build: the old file replays, then the new layout's file after it.
    #[test]
    fn a_wal_of_the_first_layout_replays_before_one_of_the_compact_layout() {
        let dir = tempfile::tempdir().unwrap();
        let mut old =
            RecordWriter::create(&dir.path().join(file_name(77)), FileKind::WAL, 0, 7).unwrap();
        old.append(&batch_codec::first_layout_record()).unwrap();
        drop(old);
        let mut new =
            RecordWriter::create(&dir.path().join(file_name(80)), FileKind::WAL, 0, 8).unwrap();
        let mut b = Batch::default();
        b.push_call(1, 5, 10, true);
        b.push_call(2, 6, 11, false);
        let mut payload = Vec::new();
        encode_batch(80, &b, &mut payload);
        new.append(&payload).unwrap();
        drop(new);
        let mut replayed = Vec::new();
        let r = recover(dir.path(), 77, |first, batch| {
            replayed.push((first, batch.len(), batch.origin().is_some()));
            Ok(())
        })
        .unwrap();
        assert_eq!(replayed, [(77, 3, true), (80, 2, false)], "{r:?}");
        assert_eq!((r.events, r.end_seq), (5, 82), "{r:?}");
        assert!(r.cuts.is_empty(), "{r:?}");
    }

    /// Found by `cargo fuzz run wal`: a checksummed record numbered near u64::MAX overflowed
    /// `first + len` (a panic under overflow checks, a wrapped seq otherwise).
    #[test]
    fn record_with_seqs_past_u64_max_is_cut_as_damage() {
        let dir = tempfile::tempdir().unwrap();
        let mut w =
            RecordWriter::create(&dir.path().join(file_name(0)), FileKind::WAL, 0, 7).unwrap();
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

    /// Found by `cargo fuzz run wal`: records after a leading gap, numbered near u64::MAX, were
    /// replayed but the reported end seq stayed at the start seq.
    #[test]
    fn end_seq_covers_records_after_a_leading_gap() {
        let dir = tempfile::tempdir().unwrap();
        let base = u64::MAX - 38;
        let mut w =
            RecordWriter::create(&dir.path().join(file_name(base)), FileKind::WAL, 0, 7).unwrap();
        let mut first = base;
        for n in [9u64, 1, 27] {
            let mut b = Batch::default();
            for i in 0..n {
                b.push_call(1, i, 10, true);
            }
            let mut payload = Vec::new();
            encode_batch(first, &b, &mut payload);
            w.append(&payload).unwrap();
            first += n;
        }
        drop(w);
        let mut replayed = Vec::new();
        let r = recover(dir.path(), 2655, |f, b| {
            replayed.push((f, b.len()));
            Ok(())
        })
        .unwrap();
        assert_eq!(replayed.len(), 3, "{r:?}");
        assert_eq!(r.end_seq, first, "{r:?}");
    }

    /// Found by `cargo fuzz run wal`: after records past the start seq, a record numbered below
    /// it (going back) was skipped as "already in pages" and reset the file's end seq, so the WAL
    /// file holding replayed events was removed. It is out of sequence: cut there.
    #[test]
    fn a_record_going_back_below_the_start_is_out_of_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(file_name(100));
        let mut w = RecordWriter::create(&path, FileKind::WAL, 0, 7).unwrap();
        for first in [100u64, 110, 0] {
            let mut b = Batch::default();
            for i in 0..10 {
                b.push_call(1, i, 10, true);
            }
            let mut payload = Vec::new();
            encode_batch(first, &b, &mut payload);
            w.append(&payload).unwrap();
        }
        drop(w);
        let mut replayed = Vec::new();
        let r = recover(dir.path(), 100, |f, b| {
            replayed.push((f, b.len()));
            Ok(())
        })
        .unwrap();
        assert_eq!(replayed, [(100, 10), (110, 10)], "{r:?}");
        assert_eq!(r.end_seq, 120, "{r:?}");
        assert!(path.exists(), "the file holding replayed events is kept");
        assert!(
            r.cuts.iter().any(|c| c.reason.contains("out of sequence")),
            "{r:?}"
        );
    }
}
