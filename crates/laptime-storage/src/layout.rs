//! What a partition directory holds, derived from the files themselves rather than taken from the
//! manifest on trust: which segment files are the partition's sealed segments, which unsealed one a
//! writer appends to, which files hold intact pages that must be rewritten (damaged or left over),
//! and which files do not belong (foreign, duplicated, not regular files). Never modifies anything:
//! recovery acts on it, `verify` reports it, readers use it when the manifest cannot be trusted.
//!
//! The rules (invariant 9, ARCHITECTURE.md: recovery never deletes what verifies):
//! - A segment's header names its partition and id; a file whose header names another partition or
//!   another id (copied in, or duplicated under another name) does not belong here.
//! - Pages carry their sequence range, so two files holding the same events (the inputs and output
//!   of an interrupted compaction, or a copied file) are told apart: the manifest's choice wins when
//!   the manifest is sound, else the newest file (compaction outputs have higher ids).
//! - A manifest that is missing, damaged, stale or from elsewhere is only a hint; segments it does not
//!   name are still the partition's when they verify.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::manifest::{Manifest, SealedInfo};
use crate::page::PageMeta;
use crate::partition;
use crate::segment::{self, salvage, PageEntry, RebuiltMeta, Salvaged, SegmentReader};

/// What became of the manifest file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ManifestState {
    /// Present, sound and this partition's.
    Sound(Manifest),
    /// No manifest file.
    Missing,
    /// Present but unreadable (checksum, format, not a regular file), with the reason.
    Damaged(String),
    /// A sound manifest of another partition.
    Foreign(u64),
}

/// An unsealed segment a writer can go on appending to.
#[derive(Debug)]
pub(crate) struct ActiveFile {
    pub id: u64,
    pub path: PathBuf,
    /// Its intact pages, a prefix of the file.
    pub pages: Vec<PageEntry>,
    /// Their metas absorbed into one.
    pub summary: PageMeta,
    /// Bytes of intact pages (with the header).
    pub valid_len: u64,
    /// A torn tail after them: (bytes, why).
    pub cut: Option<(u64, String)>,
}

/// A file whose intact pages are kept by copying them into a new sealed segment.
#[derive(Debug)]
pub(crate) struct SalvageFile {
    pub id: u64,
    pub path: PathBuf,
    /// The pages to copy (those not already held by a chosen segment).
    pub pages: Vec<PageEntry>,
    /// Their metas absorbed into one.
    pub summary: PageMeta,
    /// What was not intact, as (offset, bytes, why).
    pub damage: Vec<(u64, u64, String)>,
    /// Pages of `pages` whose metas were rebuilt from their columns: written anew, not copied.
    pub rebuilt: Vec<RebuiltMeta>,
    /// True when bytes other than a torn tail of an unsealed file were lost (the original then goes
    /// to quarantine rather than being removed once copied).
    pub damaged: bool,
    /// Why it needs salvage.
    pub reason: String,
}

/// The partition's files, sorted into what they are.
#[derive(Debug)]
pub(crate) struct Layout {
    /// The partition's identity (see [`partition::id_of`]).
    pub partition: u64,
    pub manifest: ManifestState,
    /// Sealed segments that belong here, ascending by first event.
    pub sealed: Vec<Arc<SegmentReader>>,
    /// The unsealed segment a writer resumes.
    pub active: Option<ActiveFile>,
    /// Files whose intact pages must be rewritten into new sealed segments.
    pub salvage: Vec<SalvageFile>,
    /// Files that do not belong (moved to quarantine by recovery), with the reason.
    pub misplaced: Vec<(PathBuf, String)>,
    /// Unsealed files holding nothing (a crash right after creating them).
    pub empty: Vec<PathBuf>,
    /// Segments the manifest names that are not on disk (events lost).
    pub missing: Vec<SealedInfo>,
    /// Segments the manifest names that an earlier recovery or repair moved to `quarantine/` (see
    /// [`moved_to_quarantine`]): the manifest is stale, and what was lost was reported then.
    pub set_aside: Vec<SealedInfo>,
    /// Sound segments the (sound) manifest does not name: a stale manifest.
    pub unnamed: Vec<PathBuf>,
    /// The next free segment id.
    pub next_segment_id: u64,
}

impl Layout {
    /// The manifest these files call for.
    pub(crate) fn derived_manifest(&self) -> Manifest {
        Manifest {
            partition: self.partition,
            next_segment_id: self.next_segment_id,
            active: self.active.as_ref().map(|a| a.id),
            sealed: self
                .sealed
                .iter()
                .map(|r| SealedInfo::of_pages(r.id(), r.len(), r.pages()))
                .collect(),
        }
    }
}

/// One segment file as found.
enum Found {
    Sealed(SegmentReader),
    Unsealed(Salvaged),
}

/// How closely [`inspect`] looks at sealed segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    /// Header, trailer and footer (what opening a segment checks; page metas are checked when
    /// read).
    Quick,
    /// Also every page's header, meta and columns, and the footer against them: a segment with
    /// a damaged page, or whose footer disagrees with its pages, is salvaged (`laptime repair`).
    Full,
}

/// Read partition `dir`'s manifest and segment files and sort them out. Fails only on I/O errors
/// that keep the directory from being listed or a file from being read.
pub(crate) fn inspect(dir: &Path, depth: Depth) -> Result<Layout> {
    let partition = partition::id_of(dir);
    let manifest = match Manifest::load(dir) {
        Ok(Some(m)) if m.partition == partition => ManifestState::Sound(m),
        Ok(Some(m)) => ManifestState::Foreign(m.partition),
        Ok(None) => ManifestState::Missing,
        Err(e) => ManifestState::Damaged(e.to_string()),
    };
    let mut misplaced = Vec::new();
    let mut empty = Vec::new();
    let mut found: BTreeMap<u64, (PathBuf, Found)> = BTreeMap::new();
    // Sealed files (their footer opened) that failed the full checks: damage, never a torn tail a
    // writer may go on from, whatever the manifest says (or when it is gone).
    let mut failed_sealed: BTreeSet<u64> = BTreeSet::new();
    let mut max_id = None::<u64>;
    for (id, path) in segment_files(dir)? {
        max_id = max_id.max(Some(id));
        let regular = std::fs::symlink_metadata(&path)
            .map_err(|e| Error::io(&path, "stat segment", e))?
            .is_file();
        if !regular {
            misplaced.push((path, "not a regular file".to_string()));
            continue;
        }
        match SegmentReader::open(&path) {
            Ok(r) if depth == Depth::Full => {
                let s = salvage(&path)?;
                let footer_true = s.summary == **r.summary()
                    && s.pages.len() == r.pages().len()
                    && s.pages
                        .iter()
                        .zip(r.pages())
                        .all(|(a, b)| (a.offset, a.header, a.zone) == (b.offset, b.header, b.zone));
                // A damaged value rollup has the segment written again too (its pages are sound;
                // the copy's rollup is built from them).
                let rollup_sound = r.check_rollup().is_ok();
                if s.damage.is_empty() && s.rebuilt.is_empty() && footer_true && rollup_sound {
                    found.insert(id, (path, Found::Sealed(r)));
                } else {
                    failed_sealed.insert(id);
                    found.insert(id, (path, Found::Unsealed(s)));
                }
            }
            Ok(r) => {
                found.insert(id, (path, Found::Sealed(r)));
            }
            Err(Error::Corrupt { .. }) => {
                // A header (or less) and nothing after it: a crash right after creating the file.
                // Anything longer held bytes that may have been events: it is salvaged (and set
                // aside when nothing in it verifies), never removed.
                if file_len(&path) <= segment::HEADER_LEN as u64 {
                    empty.push(path);
                } else {
                    let s = salvage(&path)?;
                    found.insert(id, (path, Found::Unsealed(s)));
                }
            }
            Err(e) => return Err(e),
        }
    }

    // Identity: a file whose header names another segment id is a copy under another name; one that
    // names another partition was copied in. A partition is always the one its directory names,
    // even when none of the files is its own yet: taking on a foreign file's identity would write
    // on as that partition (two directories of one id) and make this one's own files foreign.
    let identity = |f: &Found| match f {
        Found::Sealed(r) => r.partition().map(|p| (r.id(), p)),
        Found::Unsealed(s) => s.identity.map(|i| (i.id, i.partition)),
    };
    let mut kept: BTreeMap<u64, (PathBuf, Found)> = BTreeMap::new();
    for (id, (path, f)) in found {
        match identity(&f) {
            Some((_, p)) if p != partition => misplaced.push((
                path,
                format!("written by partition {p:016x}, not by this one ({partition:016x})"),
            )),
            Some((header_id, _)) if header_id != id => misplaced.push((
                path,
                format!(
                    "its header says it is {}: a copy under another name",
                    segment::file_name(header_id)
                ),
            )),
            _ => {
                kept.insert(id, (path, f));
            }
        }
    }

    // Sealed segments: the sound manifest's choice first, then the newest; a file whose events are
    // already held by a chosen one is a duplicate.
    let named: Vec<u64> = match &manifest {
        ManifestState::Sound(m) => m.sealed.iter().map(|s| s.id).collect(),
        _ => Vec::new(),
    };
    let mut order: Vec<u64> = named
        .iter()
        .copied()
        .filter(|id| matches!(kept.get(id), Some((_, Found::Sealed(_)))))
        .collect();
    order.extend(
        kept.iter()
            .rev()
            .filter(|(id, (_, f))| matches!(f, Found::Sealed(_)) && !named.contains(id))
            .map(|(id, _)| *id),
    );
    let mut ranges: Vec<(u64, u64, u64)> = Vec::new(); // (first, end, id)
    let mut sealed = Vec::new();
    let mut unnamed = Vec::new();
    for id in order {
        let Some((path, Found::Sealed(r))) = kept.remove(&id) else {
            continue;
        };
        if let Some((first, end)) = r.seq_range() {
            if let Some(&(_, _, other)) = ranges.iter().find(|(f, e, _)| first < *e && *f < end) {
                misplaced.push((
                    path,
                    format!(
                        "its events are also in {}: a duplicate or a compaction input",
                        segment::file_name(other)
                    ),
                ));
                continue;
            }
            ranges.push((first, end, id));
        }
        if matches!(manifest, ManifestState::Sound(_)) && !named.contains(&id) {
            unnamed.push(path);
        }
        sealed.push(Arc::new(r));
    }
    sealed.sort_by_key(|r| r.seq_range().map_or(0, |r| r.0));
    let (set_aside, missing): (Vec<SealedInfo>, Vec<SealedInfo>) = match &manifest {
        ManifestState::Sound(m) => m
            .sealed
            .iter()
            .filter(|s| !sealed.iter().any(|r| r.id() == s.id))
            .filter(|s| {
                !misplaced
                    .iter()
                    .any(|(p, _)| *p == dir.join(segment::file_name(s.id)))
            })
            .filter(|s| !kept.contains_key(&s.id))
            // A stale manifest may name a file that compaction replaced: its events are in
            // the segments kept, so nothing is missing.
            .filter(|s| s.rows == 0 || !held_whole(&ranges, s.first_seq, s.end_seq))
            .partition(|s| moved_to_quarantine(dir, partition, s)),
        _ => (Vec::new(), Vec::new()),
    };

    // Unsealed files: the one the manifest names (or, without a sound manifest, the newest) goes on
    // being written when only its tail is torn and its events follow every sealed one; every other
    // one, and every sealed file that failed its checks, is salvaged page by page.
    let sealed_end = ranges.iter().map(|r| r.1).max().unwrap_or(0);
    let wanted_active = match &manifest {
        ManifestState::Sound(m) => m.active,
        _ => kept
            .iter()
            .rev()
            .find(|(id, (_, f))| matches!(f, Found::Unsealed(_)) && !failed_sealed.contains(id))
            .map(|(id, _)| *id),
    };
    let mut active = None;
    let mut salvage_files = Vec::new();
    for (id, (path, f)) in kept {
        let Found::Unsealed(s) = f else { continue };
        let overlaps = |p: &PageEntry| {
            let (first, end) = (p.zone.first_seq, p.zone.end_seq());
            ranges.iter().any(|(f, e, _)| first < *e && *f < end)
        };
        let is_named_sealed = named.contains(&id) || failed_sealed.contains(&id);
        let resumable = Some(id) == wanted_active
            && !is_named_sealed
            && !s.lost_inside()
            && s.pages.iter().all(|p| p.zone.first_seq >= sealed_end);
        if resumable {
            let valid_len = s
                .pages
                .last()
                .map_or(segment::HEADER_LEN as u64, |p| p.end());
            let cut = s
                .damage
                .iter()
                .find(|d| d.0 >= valid_len)
                .map(|(_, _, why)| (file_len(&path).saturating_sub(valid_len), why.clone()));
            active = Some(ActiveFile {
                id,
                path,
                pages: s.pages,
                summary: s.summary,
                valid_len,
                cut,
            });
            continue;
        }
        let damaged = s.lost_inside() || is_named_sealed || s.identity.is_none();
        let (pages, dup): (Vec<PageEntry>, Vec<PageEntry>) =
            s.pages.into_iter().partition(|p| !overlaps(p));
        if pages.is_empty() && !dup.is_empty() {
            misplaced.push((path, "every intact page is also in another segment".into()));
            continue;
        }
        let rebuilt: Vec<RebuiltMeta> = s
            .rebuilt
            .into_iter()
            .filter(|r| pages.iter().any(|p| p.offset == r.offset))
            .collect();
        let summary = if dup.is_empty() {
            s.summary
        } else {
            segment::summarize(&path, &pages, &rebuilt)?
        };
        let reason = if is_named_sealed {
            "sealed segment failed its checks; intact pages are rewritten".to_string()
        } else if Some(id) == wanted_active {
            "unsealed segment damaged inside; intact pages are rewritten".to_string()
        } else {
            "unsealed segment no writer continues (abandoned or left by a crash)".to_string()
        };
        salvage_files.push(SalvageFile {
            id,
            path,
            pages,
            summary,
            damage: s.damage,
            rebuilt,
            damaged,
            reason,
        });
    }
    let next_segment_id = match &manifest {
        ManifestState::Sound(m) => m.next_segment_id,
        _ => 0,
    }
    .max(max_id.map_or(0, |m| m + 1));
    Ok(Layout {
        partition,
        manifest,
        sealed,
        active,
        salvage: salvage_files,
        misplaced,
        empty,
        missing,
        set_aside,
        unnamed,
        next_segment_id,
    })
}

/// True when segment `info` of `partition` is in `dir`'s `quarantine/`: a file set aside under its
/// name with its length and, when its header is still readable, its identity. A manifest naming it
/// is stale (the recovery or repair that moved it wrote one without it), so its absence is not news:
/// readers read the files as they are, and what it cost was reported when it was moved.
pub(crate) fn moved_to_quarantine(dir: &Path, partition: u64, info: &SealedInfo) -> bool {
    partition::quarantined_as(dir, &segment::file_name(info.id))
        .iter()
        .any(|path| {
            file_len(path) == info.len
                && segment::read_identity(path)
                    .map_or(true, |who| who.id == info.id && who.partition == partition)
        })
}

/// True when the seq ranges `held` (first, end, id) together hold every seq of `first..end`.
fn held_whole(held: &[(u64, u64, u64)], first: u64, end: u64) -> bool {
    let mut spans: Vec<(u64, u64)> = held.iter().map(|&(f, e, _)| (f, e)).collect();
    spans.sort_unstable();
    let mut at = first;
    for (f, e) in spans {
        if f > at {
            break;
        }
        at = at.max(e);
        if at >= end {
            return true;
        }
    }
    at >= end
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// The segment files of partition `dir` as (id, path), ascending by id.
pub(crate) fn segment_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
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
