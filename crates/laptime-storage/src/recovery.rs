//! Recovery: opening a partition (locked by this process, see `partition`) for writing.
//!
//! In order: names (`names.log`, torn tail cut); the segment files sorted out by `layout` (the
//! manifest is only a hint: foreign, duplicated and odd files go to `quarantine/`, intact pages of
//! damaged or abandoned segments are copied into new sealed ones, nothing that verifies is deleted)
//! and the manifest rewritten to match; the active segment resumed (torn tail cut); then the WAL
//! (events after the last page replayed).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::bufferpool::BufferPool;
use crate::dictionary::Dictionary;
use crate::durable;
use crate::error::{Error, Result};
use crate::event::Batch;
pub(crate) use crate::layout::Depth;
use crate::layout::{self, Layout, ManifestState, SalvageFile};
use crate::manifest::{Manifest, SealedInfo};
use crate::names_file::{self, NamesFile};
use crate::options::Options;
use crate::origins::{self, Origins};
use crate::partition::{quarantine, Cut};
use crate::partition_state::PartitionView;
use crate::ring::Counters;
use crate::segment::{self, SegmentIdentity, SegmentReader, SegmentWriter};
use crate::wal::{self, Wal};
use crate::writer::PartitionWriter;

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
    /// Files moved aside to `quarantine/` (damaged, foreign, duplicated), and segments the manifest
    /// names that are missing, with the reason.
    pub quarantined: Vec<(PathBuf, String)>,
    /// Leftover files removed: unsealed segments that held no intact page, and abandoned ones whose
    /// every intact page was copied (see `salvaged`).
    pub removed: Vec<PathBuf>,
    /// Files whose intact pages were copied into a new sealed segment, with what was kept and lost.
    pub salvaged: Vec<(PathBuf, String)>,
    /// Sound segments of this partition the manifest did not name (a stale manifest), taken in.
    pub adopted_segments: Vec<PathBuf>,
    /// Set when the manifest was damaged and rebuilt from the segment files, with the reason.
    pub manifest_rebuilt: Option<String>,
    /// Set when the names files lacked names the pages or the WAL refer to (lost, damaged): how
    /// many came back from page metas and how many are lost.
    pub names_rebuilt: Option<String>,
}

/// Open the locked partition `dir` for writing: recover everything and return its writer.
pub(crate) fn recover(
    dir: &Path,
    depth: Depth,
    opts: &Options,
    counters: Arc<Counters>,
    pool: Arc<BufferPool>,
    report: &mut RecoveryReport,
) -> Result<PartitionWriter> {
    let mut loaded = names_file::load(dir)?;
    report.cuts.extend(loaded.cuts.iter().cloned());
    let segments = recover_segments(dir, depth, &loaded.strings, report)?;
    let wal = recover_wal(dir, segments.pages_end, report)?;
    // Names the pages and the WAL refer to that the names files lost come back from page metas.
    let had = loaded.strings.len();
    let readers: Vec<Arc<SegmentReader>> = segments
        .sealed
        .iter()
        .chain(segments.active_reader.iter())
        .cloned()
        .collect();
    let refilled = names_file::fill_from_pages(&mut loaded.strings, &readers, wal.names_needed());
    if refilled != names_file::Refilled::default() {
        report.names_rebuilt = Some(refilled.describe(had));
    }
    let names = NamesFile::open(dir, &loaded)?;
    let dict = Arc::new(Dictionary::from_strings(loaded.strings));
    let next_seq = wal.end_seq.max(segments.pages_end);
    let wal_file = Wal::create(dir, next_seq, wal.files)?;

    let view = Arc::new(RwLock::new(Arc::new(PartitionView {
        sealed: segments.sealed,
        active: segments.active_reader,
    })));
    let mut writer = PartitionWriter::new(
        dir.to_owned(),
        opts.clone(),
        dict,
        names,
        wal_file,
        segments.active,
        segments.manifest,
        view,
        counters,
        pool,
        segments.pages_end,
    );
    check_names(
        dir,
        &writer.dict,
        &writer.state.view.read().unwrap_or_else(|p| p.into_inner()),
    )?;
    writer.origins = recover_origins(dir, wal.origins, report)?;
    replay(dir, &mut writer, wal.batches)?;
    writer.update_bytes();
    Ok(writer)
}

/// The partition's origins (see `origins.rs`): its `ORIGINS` file plus the origins of the WAL's
/// records. A damaged file is set aside and reported: received batches it covered are then not
/// recognised if sent again (they would be stored twice), which the report says.
fn recover_origins(
    dir: &Path,
    from_wal: Vec<(crate::event::Origin, u64)>,
    report: &mut RecoveryReport,
) -> Result<Origins> {
    let mut origins = match Origins::load(dir) {
        Ok(o) => o,
        Err(e) if e.code() == crate::ErrorCode::Corrupt => {
            let path = dir.join(origins::FILE_NAME);
            let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
            report.cuts.push(Cut::new(
                &path,
                0,
                bytes,
                format!("{e}; set aside: events received before it may be stored again if they are sent again"),
            ));
            quarantine(dir, &path)?;
            Origins::default()
        }
        Err(e) => return Err(e),
    };
    for (origin, end) in &from_wal {
        origins.note(origin, *end);
    }
    Ok(origins)
}

/// The segments as recovery leaves them: named in the stored manifest, the active one resumed.
struct RecoveredSegments {
    manifest: Manifest,
    sealed: Vec<Arc<SegmentReader>>,
    active: Option<SegmentWriter>,
    active_reader: Option<Arc<SegmentReader>>,
    /// Seq one past the last event any page holds.
    pages_end: u64,
}

/// Sort out the segment files (see [`apply_layout`]) and store the manifest that names them.
fn recover_segments(
    dir: &Path,
    depth: Depth,
    names: &[String],
    report: &mut RecoveryReport,
) -> Result<RecoveredSegments> {
    let layout = layout::inspect(dir, depth)?;
    let (manifest, sealed, active) = apply_layout(dir, layout, names, report)?;
    let active_reader = match &active {
        Some(w) => Some(Arc::new(SegmentReader::unsealed(
            w.path(),
            w.id(),
            w.pages().to_vec(),
            Arc::clone(w.summary()),
        )?)),
        None => None,
    };
    report.segments = sealed.len();
    if Manifest::load(dir).ok().flatten().as_ref() != Some(&manifest) {
        manifest.store(dir)?;
    }
    let pages_end = sealed
        .iter()
        .flat_map(|s| s.pages().last())
        .chain(active.as_ref().and_then(|a| a.pages().last()))
        .map(|p| p.zone.end_seq())
        .max()
        .unwrap_or(0);
    Ok(RecoveredSegments {
        manifest,
        sealed,
        active,
        active_reader,
        pages_end,
    })
}

/// What the WAL holds beyond the pages.
struct RecoveredWal {
    /// The batches after `pages_end`, in seq order.
    batches: Vec<(u64, Batch)>,
    /// Seq one past the last event the WAL holds.
    end_seq: u64,
    files: Vec<(PathBuf, u64)>,
    /// Origins of every WAL record read, with the seq one past each record.
    origins: Vec<(crate::event::Origin, u64)>,
}

impl RecoveredWal {
    /// Names (and field keys) the batches refer to: one past the largest id.
    fn names_needed(&self) -> usize {
        self.batches
            .iter()
            .flat_map(|(_, b)| {
                b.names()
                    .iter()
                    .chain(b.field_keys().iter().map(|f| &f.key))
            })
            .max()
            .map_or(0, |&m| m as usize + 1)
    }
}

/// Read the WAL from `pages_end` on: torn tails cut and reported, its batches kept for replay.
fn recover_wal(dir: &Path, pages_end: u64, report: &mut RecoveryReport) -> Result<RecoveredWal> {
    let mut batches: Vec<(u64, Batch)> = Vec::new();
    let walrec = wal::recover(dir, pages_end, |seq, batch| {
        batches.push((seq, batch));
        Ok(())
    })?;
    report.cuts.extend(walrec.cuts);
    report.replayed_events = walrec.events;
    Ok(RecoveredWal {
        batches,
        end_seq: walrec.end_seq,
        files: walrec.files,
        origins: walrec.origins,
    })
}

/// Feed the WAL's batches to the writer again (into pages, not into the WAL a second time).
fn replay(dir: &Path, writer: &mut PartitionWriter, batches: Vec<(u64, Batch)>) -> Result<()> {
    let known = writer.dict.len() as u64;
    for (seq, batch) in batches {
        // The WAL's events start past the pages' end when events between were lost (damage).
        writer.skip_to(seq)?;
        debug_assert_eq!(seq, writer.next_seq, "WAL batches replay in seq order");
        let unknown = batch.names().iter().any(|&n| u64::from(n) >= known)
            || batch.field_keys().iter().any(|f| u64::from(f.key) >= known);
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
    Ok(())
}

/// Act on what [`layout::inspect`] found: move what does not belong to quarantine, remove empty
/// leftovers, copy the intact pages of damaged or abandoned files into new sealed segments, resume
/// the active segment. Returns the manifest to store, the sealed segments and the active writer.
/// `names` (as the names files hold them) are what a page whose meta is rebuilt names in it.
fn apply_layout(
    dir: &Path,
    layout: Layout,
    names: &[String],
    report: &mut RecoveryReport,
) -> Result<(Manifest, Vec<Arc<SegmentReader>>, Option<SegmentWriter>)> {
    match &layout.manifest {
        ManifestState::Sound(_) => {}
        ManifestState::Missing => {
            report.manifest_rebuilt =
                Some("MANIFEST missing; rebuilt from the segment files".into())
        }
        ManifestState::Damaged(why) => {
            report.manifest_rebuilt = Some(format!("{why}; rebuilt from the segment files"))
        }
        ManifestState::Foreign(p) => {
            report.manifest_rebuilt = Some(format!(
                "MANIFEST belongs to partition {p:016x}; rebuilt from the segment files"
            ))
        }
    }
    for info in &layout.missing {
        report.quarantined.push((
            dir.join(segment::file_name(info.id)),
            format!(
                "segment named by the manifest is missing ({} events lost)",
                info.rows
            ),
        ));
    }
    for info in &layout.set_aside {
        report.quarantined.push((
            dir.join(segment::file_name(info.id)),
            "named by a stale manifest; an earlier recovery or repair moved it to quarantine and \
             reported then what it lost"
                .to_string(),
        ));
    }
    for path in &layout.unnamed {
        report.adopted_segments.push(path.clone());
    }
    for (path, why) in &layout.misplaced {
        let dest = quarantine(dir, path)?;
        report.quarantined.push((dest, why.clone()));
    }
    for path in &layout.empty {
        durable::remove_durable(path)?;
        report.removed.push(path.clone());
    }
    let mut manifest = layout.derived_manifest();
    let mut sealed = layout.sealed;
    for file in layout.salvage {
        let kept = if file.pages.is_empty() {
            None
        } else {
            let id = manifest.next_segment_id;
            manifest.next_segment_id += 1;
            Some(copy_pages(dir, layout.partition, id, &file, names)?)
        };
        let lost: Vec<String> = file
            .damage
            .iter()
            .map(|(offset, bytes, why)| format!("{bytes} bytes at {offset}: {why}"))
            .collect();
        let pages = kept.as_ref().map_or(0, |r| r.pages().len());
        let rebuilt: Vec<String> = file
            .rebuilt
            .iter()
            .map(|r| format!("page at {}: {}", r.offset, r.why))
            .collect();
        let what = format!(
            "{}; {pages} intact pages kept{}{}{}{}",
            file.reason,
            if rebuilt.is_empty() {
                ""
            } else {
                "; metas rebuilt from intact columns (no event lost): "
            },
            rebuilt.join(", "),
            if lost.is_empty() {
                ""
            } else {
                "; not intact: "
            },
            lost.join(", ")
        );
        if file.damaged || kept.is_none() {
            let dest = quarantine(dir, &file.path)?;
            report.quarantined.push((dest, what));
        } else {
            durable::remove_durable(&file.path)?;
            report.salvaged.push((file.path.clone(), what));
        }
        if let Some(r) = kept {
            sealed.push(r);
        }
    }
    sealed.sort_by_key(|r| r.seq_range().map_or(0, |r| r.0));
    manifest.sealed = sealed
        .iter()
        .map(|r| SealedInfo::of_pages(r.id(), r.len(), r.pages()))
        .collect();
    let mut active = None;
    if let Some(a) = layout.active {
        report.active_segment_events += a.pages.iter().map(|p| u64::from(p.zone.rows)).sum::<u64>();
        if let Some((bytes, why)) = &a.cut {
            report
                .cuts
                .push(Cut::new(&a.path, a.valid_len, *bytes, why.clone()));
        }
        let who = segment::SegmentIdentity {
            id: a.id,
            partition: layout.partition,
        };
        active = Some(SegmentWriter::resume(
            &a.path,
            who,
            a.valid_len,
            a.pages,
            a.summary,
        )?);
    }
    manifest.active = active.as_ref().map(|w| w.id());
    Ok((manifest, sealed, active))
}

/// Write the intact pages of `file` into a new sealed segment `id` of this partition: copied as
/// they are, or (a page whose meta was rebuilt) its columns under the rebuilt meta, which names
/// its names from `names`.
fn copy_pages(
    dir: &Path,
    partition: u64,
    id: u64,
    file: &SalvageFile,
    names: &[String],
) -> Result<Arc<SegmentReader>> {
    let source = SegmentReader::unsealed(
        &file.path,
        file.id,
        file.pages.clone(),
        Arc::new(file.summary.clone()),
    )?;
    let path = dir.join(segment::file_name(id));
    let mut out = SegmentWriter::create(&path, SegmentIdentity { id, partition })?;
    let mut raw = Vec::new();
    let mut page_bytes = Vec::new();
    // The names' dictionary only for a file with rebuilt pages: most salvages copy pages whole.
    let dict = if file.rebuilt.is_empty() {
        Dictionary::default()
    } else {
        Dictionary::from_strings(names.to_vec())
    };
    for page in source.pages() {
        match file.rebuilt.iter().find(|r| r.offset == page.offset) {
            Some(r) => {
                source.raw_columns(page, &mut raw)?;
                page_bytes.clear();
                crate::page::assemble_page(&r.meta, &dict, &raw, &mut page_bytes);
                out.append_page(&page_bytes, r.meta.clone())?;
            }
            None => {
                source.raw_page(page, &mut raw)?;
                out.append_page(&raw, source.page_meta(page)?)?;
            }
        }
    }
    out.finish()?;
    Ok(Arc::new(SegmentReader::open(&path)?))
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
            if page.zone.max_id.is_some_and(|m| u64::from(m) >= known) {
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
