//! Partitions: each writing process owns one directory under `<store>/partitions/`, locked for as
//! long as it writes, so several processes can write one store without sharing a file. A process
//! that opens a store takes over a partition whose lock is free (its writer is gone), recovering it,
//! or creates a new one. Readers merge all partitions.
//!
//! Recovery of a partition, in order: names (`names.log`, torn tail cut), manifest, sealed segments
//! (damaged ones moved to `quarantine/` and reported), segment files the manifest does not name
//! (removed), the active segment (pages scanned, torn tail cut), then the WAL (events after the last
//! page replayed).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::dictionary::Dictionary;
use crate::durable;
use crate::error::{Error, Result};
use crate::event::Batch;
use crate::manifest::{Manifest, SealedInfo};
use crate::names_file::{self, NamesFile};
use crate::options::Options;
use crate::record_log::random_file_id;
use crate::ring::Counters;
use crate::segment::{self, recover_active, SegmentReader, SegmentWriter};
use crate::wal::{self, Wal};
use crate::writer::{PartitionView, PartitionWriter};

/// Folder of the partitions inside a store.
pub(crate) const PARTITIONS: &str = "partitions";
const LOCK_FILE: &str = "LOCK";
const QUARANTINE: &str = "quarantine";

/// Damage found and repaired while opening a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// File that held the damaged bytes.
    pub file: PathBuf,
    /// Offset of the first byte removed or ignored.
    pub offset: u64,
    /// How many bytes.
    pub bytes: u64,
    /// Why.
    pub reason: String,
}

impl Cut {
    pub(crate) fn new(file: &Path, offset: u64, bytes: u64, reason: impl Into<String>) -> Cut {
        Cut {
            file: file.to_owned(),
            offset,
            bytes,
            reason: reason.into(),
        }
    }
}

/// What opening the store's own partition found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The partition this process writes.
    pub partition: PathBuf,
    /// True when an existing partition was taken over (its previous writer had stopped).
    pub adopted: bool,
    /// Sealed segments found intact.
    pub segments: usize,
    /// Events in pages of the segment that was being written when the last writer stopped.
    pub active_segment_events: u64,
    /// Events replayed from the WAL.
    pub replayed_events: u64,
    /// Torn tails cut (WAL, names, active segment).
    pub cuts: Vec<Cut>,
    /// Damaged sealed segments moved aside, with the reason.
    pub quarantined: Vec<(PathBuf, String)>,
    /// Leftover files removed (segments the manifest does not name).
    pub removed: Vec<PathBuf>,
    /// Set when the manifest was damaged and rebuilt from the segment files, with the reason.
    pub manifest_rebuilt: Option<String>,
}

/// List the partition directories of a store.
pub(crate) fn list(root: &Path) -> Result<Vec<PathBuf>> {
    let dir = root.join(PARTITIONS);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&dir, "list partitions", e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&dir, "list partitions", e))?;
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

pub(crate) fn try_lock(dir: &Path) -> Result<Option<File>> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, "open lock", e))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path, "lock", e)),
    }
}

/// Fail with a clear error unless `root` holds a store (tools must not create one by looking).
pub(crate) fn require_store(root: &Path) -> Result<()> {
    if root.join(PARTITIONS).is_dir() {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            what: "store",
            reason: format!(
                "no laptime store at {} (no partitions/ directory)",
                root.display()
            ),
        })
    }
}

/// Find a partition whose writer is gone and lock it, or create and lock a new one.
/// The returned file holds the lock until dropped.
pub(crate) fn claim(root: &Path) -> Result<(PathBuf, File, bool)> {
    durable::create_dir_durable(&root.join(PARTITIONS))?;
    // A few tries: a lock can be held for a moment by a process that is exiting (a restart) or by
    // a child between fork and exec, and taking over beats starting yet another partition.
    for attempt in 0..4 {
        for dir in list(root)? {
            if let Some(lock) = try_lock(&dir)? {
                return Ok((dir, lock, true));
            }
        }
        if attempt < 3 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    loop {
        let dir = root
            .join(PARTITIONS)
            .join(format!("{:016x}", random_file_id()));
        if dir.exists() {
            continue;
        }
        durable::create_dir_durable(&dir)?;
        if let Some(lock) = try_lock(&dir)? {
            return Ok((dir, lock, false));
        }
    }
}

/// Move a damaged file of partition `dir` into its `quarantine/` folder (kept for inspection, out
/// of every read path).
pub(crate) fn quarantine(dir: &Path, file: &Path) -> Result<PathBuf> {
    let q = dir.join(QUARANTINE);
    durable::create_dir_durable(&q)?;
    let name = file.file_name().unwrap_or_default();
    let dest = q.join(name);
    std::fs::rename(file, &dest).map_err(|e| Error::io(file, "quarantine", e))?;
    durable::fsync_dir(dir)?;
    Ok(dest)
}

/// Open the locked partition `dir` for writing: recover everything and return its writer.
pub(crate) fn recover(
    dir: &Path,
    opts: &Options,
    counters: Arc<Counters>,
    report: &mut RecoveryReport,
) -> Result<PartitionWriter> {
    let loaded = names_file::load(dir)?;
    report.cuts.extend(loaded.cuts.iter().cloned());
    let names = NamesFile::open(dir, &loaded)?;
    let dict = Arc::new(Dictionary::from_strings(loaded.strings));

    let mut manifest = match Manifest::load(dir) {
        Ok(m) => m.unwrap_or_default(),
        Err(e @ Error::Corrupt { .. }) => {
            report.manifest_rebuilt = Some(e.to_string());
            rebuild_manifest(dir, report)?
        }
        Err(e) => return Err(e),
    };
    let mut sealed = Vec::new();
    let mut kept = Vec::new();
    for info in &manifest.sealed {
        let path = dir.join(segment::file_name(info.id));
        match SegmentReader::open(&path) {
            Ok(r) => {
                sealed.push(Arc::new(r));
                kept.push(*info);
            }
            Err(e @ Error::Corrupt { .. }) => {
                quarantine(dir, &path)?;
                report.quarantined.push((path, e.to_string()));
            }
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                report
                    .quarantined
                    .push((path, "segment named by the manifest is missing".into()));
            }
            Err(e) => return Err(e),
        }
    }
    let changed = kept.len() != manifest.sealed.len();
    manifest.sealed = kept;
    report.segments = sealed.len();

    // Segment files the manifest does not name are leftovers; the active one is recovered.
    let mut active: Option<SegmentWriter> = None;
    let mut active_reader = None;
    let files = segment_files(dir)?;
    for (id, path) in files {
        if manifest.sealed.iter().any(|s| s.id == id) {
            continue;
        }
        if Some(id) != manifest.active {
            durable::remove_durable(&path)?;
            report.removed.push(path);
            continue;
        }
        let rec = recover_active(&path)?;
        if let Some((bytes, reason)) = &rec.cut {
            report
                .cuts
                .push(Cut::new(&path, rec.valid_len, *bytes, reason.clone()));
        }
        report.active_segment_events += rec
            .pages
            .iter()
            .map(|p| u64::from(p.meta.rows))
            .sum::<u64>();
        if rec.sealed || rec.valid_len < segment::HEADER_LEN as u64 {
            if rec.sealed {
                let r = SegmentReader::open(&path)?;
                manifest
                    .sealed
                    .push(SealedInfo::of_pages(r.id(), r.len(), r.pages()));
                sealed.push(Arc::new(r));
            } else {
                durable::remove_durable(&path)?;
            }
            manifest.active = None;
            continue;
        }
        let writer = SegmentWriter::resume(&path, id, rec.valid_len, rec.pages.clone())?;
        active_reader = Some(Arc::new(SegmentReader::unsealed(&path, id, rec.pages)?));
        active = Some(writer);
    }
    if manifest.active.is_some() && active.is_none() {
        manifest.active = None;
    }
    manifest.next_segment_id = manifest
        .next_segment_id
        .max(manifest.sealed.iter().map(|s| s.id + 1).max().unwrap_or(0))
        .max(manifest.active.map_or(0, |a| a + 1));
    if changed || Manifest::load(dir)?.as_ref() != Some(&manifest) {
        manifest.store(dir)?;
    }

    let pages_end = sealed
        .iter()
        .flat_map(|s| s.pages().last())
        .chain(active.as_ref().and_then(|a| a.pages().last()))
        .map(|p| p.meta.end_seq())
        .max()
        .unwrap_or(0);

    let mut replay: Vec<(u64, Batch)> = Vec::new();
    let walrec = wal::recover(dir, pages_end, |seq, batch| {
        replay.push((seq, batch));
        Ok(())
    })?;
    report.cuts.extend(walrec.cuts);
    report.replayed_events = walrec.events;
    let next_seq = walrec.end_seq.max(pages_end);
    let wal = Wal::create(dir, next_seq, walrec.files)?;

    let view = Arc::new(RwLock::new(Arc::new(PartitionView {
        sealed,
        active: active_reader,
    })));
    let mut writer = PartitionWriter::new(
        dir.to_owned(),
        opts.clone(),
        dict,
        names,
        wal,
        active,
        manifest,
        view,
        counters,
        pages_end,
    );
    check_names(
        dir,
        &writer.dict,
        &writer.view.read().unwrap_or_else(|p| p.into_inner()),
    )?;
    let known = writer.dict.len() as u64;
    for (seq, batch) in replay {
        debug_assert_eq!(seq, writer.next_seq);
        let unknown = batch.names().iter().any(|&n| u64::from(n) >= known)
            || batch.fields().iter().any(|f| u64::from(f.key) >= known);
        if unknown {
            // Names are synced before the WAL, so this is damage, not a crash: point-in-time
            // recovery stops here.
            return Err(Error::corrupt(
                dir.join(names_file::FILE_NAMES[0]),
                0,
                format!("the WAL refers to names the dictionary lost (from seq {seq} on)"),
            ));
        }
        writer.ingest(&batch, false)?;
    }
    writer.update_bytes();
    Ok(writer)
}

/// The segment files of partition `dir` as (id, path), ascending by id.
fn segment_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "list partition", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, "list partition", e))?;
        if let Some(id) = entry
            .file_name()
            .to_str()
            .and_then(segment::parse_file_name)
        {
            files.push((id, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

/// A damaged manifest is rebuilt from the segment files themselves. Sealed segments are taken
/// newest first, skipping any whose events overlap one already taken (the inputs of a compaction
/// whose output is there too); skipped files are quarantined, not deleted. The newest unsealed
/// segment becomes the active one again.
fn rebuild_manifest(dir: &Path, report: &mut RecoveryReport) -> Result<Manifest> {
    let mut ids: Vec<u64> = segment_files(dir)?.into_iter().map(|(id, _)| id).collect();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    let mut manifest = Manifest {
        next_segment_id: ids.first().map_or(0, |m| m + 1),
        ..Manifest::default()
    };
    for id in ids {
        let path = dir.join(segment::file_name(id));
        match SegmentReader::open(&path) {
            Ok(r) => {
                let info = SealedInfo::of_pages(id, r.len(), r.pages());
                let overlaps = manifest
                    .sealed
                    .iter()
                    .any(|s| s.first_seq < info.end_seq && info.first_seq < s.end_seq);
                if overlaps {
                    drop(r);
                    quarantine(dir, &path)?;
                    report.quarantined.push((
                        path,
                        "holds events of a newer segment (manifest rebuilt)".into(),
                    ));
                } else {
                    manifest.sealed.push(info);
                }
            }
            Err(_) if manifest.active.is_none() => manifest.active = Some(id),
            Err(e) => {
                quarantine(dir, &path)?;
                report.quarantined.push((path, e.to_string()));
            }
        }
    }
    manifest.sealed.sort_by_key(|s| s.first_seq);
    manifest.store(dir)?;
    Ok(manifest)
}

/// Every id a page refers to must resolve: a damaged `names.log` that lost names still in use is a
/// clear error, never events with unknown names.
fn check_names(dir: &Path, dict: &Dictionary, view: &PartitionView) -> Result<()> {
    check_segments(dir, dict, view.sealed.iter().chain(view.active.iter()))
}

pub(crate) fn check_segments<'a>(
    dir: &Path,
    dict: &Dictionary,
    segments: impl Iterator<Item = &'a Arc<SegmentReader>>,
) -> Result<()> {
    let known = dict.len() as u64;
    for seg in segments {
        for page in seg.pages() {
            if page.meta.max_id().is_some_and(|m| u64::from(m) >= known) {
                return Err(Error::corrupt(
                    dir.join(names_file::FILE_NAMES[0]),
                    0,
                    format!(
                        "dictionary holds {known} names but {} refers to more; names.log is damaged",
                        seg.path().display()
                    ),
                ));
            }
        }
    }
    Ok(())
}
