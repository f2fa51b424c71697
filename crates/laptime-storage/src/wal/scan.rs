//! Reading the WAL without changing it: which files there are, which of their records are sound,
//! and how they chain into one run of seqs. Recovery acts on what this finds (truncates, sets
//! aside, removes); readers and `verify` only look.

use std::path::{Path, PathBuf};

use super::{decode_batch, parse_file_name};
use crate::error::{Error, Result};
use crate::event::{Batch, Origin};
use crate::record_log::{for_each_record, record_follows, FileKind};

/// Where reading a file stopped before its end, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stop {
    /// First byte not used.
    pub offset: u64,
    /// Bytes from there to the end of the file.
    pub bytes: u64,
    pub reason: String,
    pub kind: StopKind,
}

/// Why reading stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopKind {
    /// Bytes at the end that are not a whole sound record: what a crash or a live writer leaves.
    Torn,
    /// A record fails its checksum but sound records follow it: damaged after it was written.
    Damaged,
    /// A record's checksum holds but it does not decode.
    Undecodable,
    /// A record's seqs do not continue the ones before (a lost record).
    OutOfSequence,
    /// The file header is bad: nothing in the file can be used.
    Header,
}

impl Stop {
    /// True unless a crash or a live writer can leave this (a torn tail).
    pub(crate) fn damage(&self) -> bool {
        self.kind != StopKind::Torn
    }
}

/// The sound records of one WAL file, in file order.
#[derive(Debug, Default)]
pub(crate) struct FileRecords {
    /// File length when read.
    pub len: u64,
    /// (offset, first seq, batch) of every record before `stop`.
    pub records: Vec<(u64, u64, Batch)>,
    pub stop: Option<Stop>,
}

/// The WAL files of `dir` as (first seq from the name, path), ascending.
pub(crate) fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "list", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, "list", e))?;
        if let Some(seq) = entry.file_name().to_str().and_then(parse_file_name) {
            files.push((seq, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

/// Read one WAL file: every sound record up to the first that is torn, fails its checksum or does
/// not decode. Only I/O errors (the file vanished, cannot be read) are errors.
pub(crate) fn read_file(path: &Path) -> Result<FileRecords> {
    let mut out = FileRecords::default();
    let mut undecodable = None;
    let scanned = for_each_record(path, FileKind::WAL, |offset, payload| {
        if undecodable.is_some() {
            return Ok(());
        }
        match decode_batch(payload) {
            Ok((first, batch)) => out.records.push((offset, first, batch)),
            Err(e) => undecodable = Some((offset, e.reason)),
        }
        Ok(())
    });
    let len_now = || std::fs::metadata(path).map_or(0, |m| m.len());
    let scanned = match scanned {
        Ok(s) => s,
        Err(Error::Corrupt { reason, .. }) => {
            out.len = len_now();
            out.records.clear();
            out.stop = Some(Stop {
                offset: 0,
                bytes: out.len,
                reason,
                kind: StopKind::Header,
            });
            return Ok(out);
        }
        Err(e) => return Err(e),
    };
    out.len = scanned.valid_len + scanned.cut.as_ref().map_or(0, |c| c.bytes);
    if let Some(why) = path
        .parent()
        .and_then(|dir| crate::record_log::foreign_owner(scanned.owner, dir))
    {
        out.records.clear();
        out.stop = Some(Stop {
            offset: 0,
            bytes: out.len,
            reason: why,
            kind: StopKind::Header,
        });
        return Ok(out);
    }
    if let Some((offset, reason)) = undecodable {
        out.stop = Some(Stop {
            offset,
            bytes: out.len - offset,
            reason: reason.to_string(),
            kind: StopKind::Undecodable,
        });
    } else if let Some(cut) = scanned.cut {
        // A crash leaves at most one torn record, at the end; sound records after a bad one mean
        // the bad one was damaged after it was written.
        let damage = cut.offset >= crate::record_log::HEADER_LEN as u64
            && record_follows(path, FileKind::WAL, cut.offset, |p| decode_batch(p).is_ok())?;
        out.stop = Some(Stop {
            offset: cut.offset,
            bytes: cut.bytes,
            reason: if damage {
                format!("{} in a record that sound records follow", cut.reason)
            } else {
                cut.reason.to_string()
            },
            kind: if damage {
                StopKind::Damaged
            } else {
                StopKind::Torn
            },
        });
    }
    Ok(out)
}

/// What to do with a file, by what [`chain`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Every record is sound and in sequence.
    Whole,
    /// Records from `stop.offset` on are not used.
    Cut(Stop),
    /// Nothing in it is used (damaged header, or it follows a damaged record).
    SetAside(Stop),
}

/// One file as [`chain`] judged it.
#[derive(Debug, Clone)]
pub(crate) struct Chained {
    pub path: PathBuf,
    pub len: u64,
    /// One past the last event seq used from this file; 0 when none.
    pub end_seq: u64,
    pub fate: Fate,
}

/// The WAL as one run of seqs.
#[derive(Debug, Default)]
pub(crate) struct WalScan {
    pub files: Vec<Chained>,
    /// Events at or above `from_seq` passed on.
    pub events: u64,
    /// One past the highest seq used (at least `from_seq`).
    pub end_seq: u64,
    /// True when a record was out of sequence (a gap or an overlap in the seqs).
    pub out_of_sequence: bool,
    /// Seqs `from_seq..first` when the WAL's first record starts after `from_seq`: events in no
    /// intact page and no WAL record.
    pub missing: Option<(u64, u64)>,
    /// The origins of every chained record (below `from_seq` too: its events are in pages, its
    /// origin may not be in `ORIGINS` yet), with the seq one past the record's last event.
    pub origins: Vec<(Origin, u64)>,
}

/// Chain the files (in name order) into one run of seqs continuing the pages at `from_seq`: every
/// event with seq >= `from_seq` goes to `on_batch(first seq, batch, from row)`, in seq order, rows
/// before `from row` being below `from_seq`. Seqs are contiguous across the WAL and continue the
/// pages, so a gap between records means a lost record: the chain stops there, as it does at a
/// record that does not decode; the files after either are set aside. A gap before the first
/// record is reported in `missing` and the chain goes on. A torn tail only ends its own file.
pub(crate) fn chain<'a>(
    files: impl IntoIterator<Item = (&'a Path, &'a FileRecords)>,
    from_seq: u64,
    mut on_batch: impl FnMut(u64, &'a Batch, usize) -> Result<()>,
) -> Result<WalScan> {
    let mut out = WalScan {
        end_seq: from_seq,
        ..WalScan::default()
    };
    let mut expected = None::<u64>;
    let mut broken = false;
    for (path, file) in files {
        let mut done = Chained {
            path: path.to_owned(),
            len: file.len,
            end_seq: 0,
            fate: Fate::Whole,
        };
        if broken {
            done.fate = Fate::SetAside(Stop {
                offset: 0,
                bytes: file.len,
                reason: "follows a damaged WAL record".into(),
                kind: StopKind::Damaged,
            });
            out.files.push(done);
            continue;
        }
        if let Some(stop) = file.stop.as_ref().filter(|s| s.kind == StopKind::Header) {
            done.fate = Fate::SetAside(stop.clone());
            out.files.push(done);
            continue;
        }
        let mut stop = file.stop.clone();
        for (offset, first, batch) in &file.records {
            let (first, n) = (*first, batch.len() as u64);
            // No writer numbers events up to u64::MAX: a record claiming so is damage.
            let Some(end) = first.checked_add(n) else {
                stop = Some(Stop {
                    offset: *offset,
                    bytes: file.len - offset,
                    reason: "WAL record seq out of range".into(),
                    kind: StopKind::Undecodable,
                });
                break;
            };
            let live = end > from_seq;
            // Before the first record, a gap is events neither an intact page nor the WAL holds (a
            // damaged last page, a lost first file): lost, said so, and no reason to drop the rest.
            let gap = match expected {
                Some(exp) => first != exp,
                None => {
                    if live && first > from_seq {
                        out.missing = Some((from_seq, first));
                    }
                    false
                }
            };
            // Below `from_seq` the events are in pages and a gap does not matter; once the chain is
            // past it, any record that does not continue it (also one going back) is out of
            // sequence.
            let past_start = expected.is_some_and(|e| e > from_seq);
            if gap && (live || past_start) {
                out.out_of_sequence = true;
                stop = Some(Stop {
                    offset: *offset,
                    bytes: file.len - offset,
                    reason: "WAL record out of sequence".into(),
                    kind: StopKind::OutOfSequence,
                });
                break;
            }
            expected = Some(end);
            done.end_seq = end;
            if let Some(o) = batch.origin() {
                out.origins.push((o.clone(), end));
            }
            if !live {
                continue;
            }
            let skip = from_seq.saturating_sub(first);
            out.events += n - skip;
            on_batch(first + skip, batch, skip as usize)?;
        }
        out.end_seq = out.end_seq.max(done.end_seq);
        if let Some(stop) = stop {
            // After a record that decodes badly or breaks the seqs nothing is trusted (point-in-time
            // recovery); after a bad checksum the next file's seqs tell whether anything was lost.
            broken = matches!(stop.kind, StopKind::Undecodable | StopKind::OutOfSequence);
            done.fate = Fate::Cut(stop);
        }
        out.files.push(done);
    }
    Ok(out)
}

/// Read every WAL file of `dir` and chain them from `from_seq` (see [`chain`]), passing each
/// event at or above it to `on_batch(first seq, batch)` with the batch trimmed to those events.
/// Changes nothing.
pub(crate) fn scan(
    dir: &Path,
    from_seq: u64,
    mut on_batch: impl FnMut(u64, Batch) -> Result<()>,
) -> Result<WalScan> {
    let mut read = Vec::new();
    for (_, path) in list(dir)? {
        let records = read_file(&path)?;
        read.push((path, records));
    }
    chain(
        read.iter().map(|(p, r)| (p.as_path(), r)),
        from_seq,
        |first, batch, skip| {
            on_batch(
                first,
                if skip > 0 {
                    batch.tail(skip)
                } else {
                    batch.clone()
                },
            )
        },
    )
}
