//! Checking every checksum of a store without changing anything: both names copies, the manifest,
//! every page of every segment (header, meta and columns decoded), every WAL record. Safe while
//! applications write the store; what a live writer is in the middle of (the tail of its active
//! segment or WAL) is reported as a note, not as damage.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::layout::{self, ManifestState};
use crate::manifest::Manifest;
use crate::names_file;
use crate::page::{ColumnSet, PageColumns, PageMeta, StringFields};
use crate::partition;
use crate::segment::rollup_build::RollupBuilder;
use crate::segment::{self, recover_active, ReadScratch, SegmentReader};
use crate::wal;

/// What was checked and what was found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VerifyReport {
    /// Partitions (writer directories) checked.
    pub partitions: usize,
    /// One entry per file checked.
    pub files: Vec<FileCheck>,
}

impl VerifyReport {
    /// Files with damage (a failed checksum or an unreadable structure).
    pub fn damaged(&self) -> impl Iterator<Item = &FileCheck> {
        self.files
            .iter()
            .filter(|f| f.finding.as_ref().is_some_and(|p| p.damage))
    }

    /// Pages checked in all segments.
    pub fn pages(&self) -> u64 {
        self.files
            .iter()
            .filter(|f| f.kind == CheckedKind::Segment)
            .map(|f| f.items)
            .sum()
    }
}

/// Which kind of file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckedKind {
    /// `names.log` / `names.copy.log`.
    Names,
    /// `MANIFEST`.
    Manifest,
    /// `seg-*.lts`.
    Segment,
    /// `wal-*.log`.
    Wal,
    /// A file recovery moved to `quarantine/` earlier.
    Quarantined,
    /// A partition as a whole: whether its files fit together (manifest present and its own, every
    /// segment it names present, no foreign, duplicated or unnamed segment, names files present).
    Partition,
}

impl CheckedKind {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckedKind::Names => "names",
            CheckedKind::Manifest => "manifest",
            CheckedKind::Segment => "segment",
            CheckedKind::Wal => "wal",
            CheckedKind::Quarantined => "quarantined",
            CheckedKind::Partition => "partition",
        }
    }
}

/// One file's check.
#[derive(Debug, Clone, PartialEq)]
pub struct FileCheck {
    /// The file.
    pub path: PathBuf,
    /// Its kind.
    pub kind: CheckedKind,
    /// Bytes.
    pub bytes: u64,
    /// Pages (segments), records (WAL, names) checked and found sound.
    pub items: u64,
    /// What is wrong or worth knowing, if anything.
    pub finding: Option<Finding>,
}

/// A problem or a note about a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// True for damage (data that fails its checks); false for a note (a torn tail a live
    /// writer or a crash leaves, which recovery cuts; a quarantined file).
    pub damage: bool,
    /// Byte offset in the file, when known.
    pub offset: Option<u64>,
    /// What was found.
    pub reason: String,
}

fn damage(offset: Option<u64>, reason: impl Into<String>) -> Option<Finding> {
    Some(Finding {
        damage: true,
        offset,
        reason: reason.into(),
    })
}

fn note(offset: Option<u64>, reason: impl Into<String>) -> Option<Finding> {
    Some(Finding {
        damage: false,
        offset,
        reason: reason.into(),
    })
}

/// A core error as a finding: corruption is damage at its offset; anything else (I/O) too, since
/// the file cannot be read.
fn finding_of(e: Error) -> Option<Finding> {
    match e {
        Error::Corrupt { offset, reason, .. } => damage(Some(offset), reason),
        other => damage(None, other.to_string()),
    }
}

/// A file [`plan`] found, and how to check it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedCheck {
    /// The file.
    pub path: PathBuf,
    /// Its kind.
    pub kind: CheckedKind,
    /// Bytes.
    pub bytes: u64,
    /// For segments: the manifest names it as the unsealed one a writer appends to.
    pub active: bool,
}

/// The files of the store at `root` to check, partition by partition. Fails when `root` holds no
/// store or cannot be listed.
pub fn plan(root: &Path) -> Result<Vec<PlannedCheck>> {
    partition::require_store(root)?;
    let mut out = Vec::new();
    for dir in partition::list(root)? {
        out.push(PlannedCheck {
            path: dir.clone(),
            kind: CheckedKind::Partition,
            bytes: 0,
            active: false,
        });
        let active = Manifest::load(&dir).ok().flatten().and_then(|m| m.active);
        for (path, bytes) in list_files(&dir)? {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let kind = if path.parent().is_some_and(|p| p != dir.as_path()) {
                CheckedKind::Quarantined
            } else if names_file::FILE_NAMES.contains(&name.as_str()) {
                CheckedKind::Names
            } else if name == "MANIFEST" {
                CheckedKind::Manifest
            } else if segment::parse_file_name(&name).is_some() {
                CheckedKind::Segment
            } else if name.starts_with("wal-") {
                CheckedKind::Wal
            } else {
                continue;
            };
            let is_active = segment::parse_file_name(&name).is_some_and(|id| Some(id) == active);
            out.push(PlannedCheck {
                path,
                kind,
                bytes,
                active: is_active,
            });
        }
    }
    Ok(out)
}

/// Check one planned file. Never fails: what cannot be read is the finding.
pub fn check(planned: &PlannedCheck) -> FileCheck {
    let path = &planned.path;
    let bytes = planned.bytes;
    match planned.kind {
        CheckedKind::Quarantined => FileCheck {
            path: path.clone(),
            kind: CheckedKind::Quarantined,
            bytes,
            items: 0,
            finding: note(None, "moved aside by recovery earlier; not read as data"),
        },
        CheckedKind::Names => match path.parent() {
            Some(dir) => check_names(dir, path, bytes),
            None => FileCheck {
                path: path.clone(),
                kind: CheckedKind::Names,
                bytes,
                items: 0,
                finding: damage(None, "names file outside a partition"),
            },
        },
        CheckedKind::Manifest => FileCheck {
            path: path.clone(),
            kind: CheckedKind::Manifest,
            bytes,
            items: 1,
            finding: match path.parent().map(Manifest::load) {
                Some(Ok(_)) => None,
                Some(Err(e)) => finding_of(e),
                None => damage(None, "manifest outside a partition"),
            },
        },
        CheckedKind::Segment => check_segment(path, bytes, planned.active),
        CheckedKind::Wal => check_wal(path, bytes),
        CheckedKind::Partition => check_partition(path),
    }
}

/// How the files of partition `dir` fit together (see `layout`): what recovery would rebuild,
/// set aside or report lost. Damage when something is missing, foreign, duplicated or unnamed;
/// a note for what a crash leaves (an abandoned unsealed segment, a sealed one the manifest does
/// not name yet).
/// Events between the last intact page and the WAL's first record: a writer releases WAL records
/// only once a durable page holds them, so a crash never leaves such a gap; damage to the last
/// pages (or a lost WAL file) does.
/// `wal` is read before `layout`, so a live writer releasing records in between cannot fake a gap.
fn lost_before_wal(
    wal: &[(PathBuf, wal::scan::FileRecords)],
    layout: &layout::Layout,
) -> Option<String> {
    let sealed = layout.sealed.iter().flat_map(|s| s.pages().iter());
    let salvaged = layout.salvage.iter().flat_map(|f| f.pages.iter());
    let active = layout.active.iter().flat_map(|a| a.pages.iter());
    let pages_end = sealed
        .chain(salvaged)
        .chain(active)
        .map(|p| p.zone.end_seq())
        .max()
        .unwrap_or(0);
    let scan = wal::scan::chain(
        wal.iter().map(|(p, r)| (p.as_path(), r)),
        pages_end,
        |_, _, _| Ok(()),
    )
    .ok()?;
    let (from, to) = scan.missing?;
    Some(format!(
        "events {from}..{to} ({} events) are in no intact page and no WAL record: lost",
        to - from
    ))
}

fn check_partition(dir: &Path) -> FileCheck {
    let mut check = FileCheck {
        path: dir.to_path_buf(),
        kind: CheckedKind::Partition,
        bytes: 0,
        items: 0,
        finding: None,
    };
    // Unreadable WAL files are their own file checks' findings.
    let wal_read: Vec<_> = wal::scan::list(dir)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(_, path)| wal::scan::read_file(&path).ok().map(|r| (path, r)))
        .collect();
    let layout = match layout::inspect(dir, layout::Depth::Quick) {
        Ok(l) => l,
        Err(e) => {
            check.finding = finding_of(e);
            return check;
        }
    };
    check.items = (layout.sealed.len() + usize::from(layout.active.is_some())) as u64;
    let mut damage_found = Vec::new();
    let mut notes = Vec::new();
    let segments_held = layout.sealed.len() + layout.salvage.len();
    match &layout.manifest {
        ManifestState::Sound(_) | ManifestState::Damaged(_) => {}
        ManifestState::Missing if segments_held == 0 && layout.active.is_none() => {}
        ManifestState::Missing => damage_found.push(format!(
            "MANIFEST is missing; recovery rebuilds it from the {segments_held} segment files (nothing lost)"
        )),
        ManifestState::Foreign(p) => damage_found.push(format!(
            "MANIFEST belongs to partition {p:016x}; recovery rebuilds this partition's from its segment files"
        )),
    }
    let active = match &layout.manifest {
        ManifestState::Sound(m) => m.active,
        _ => None,
    };
    for info in &layout.missing {
        damage_found.push(format!(
            "{} is named by the MANIFEST but missing: {} events lost",
            segment::file_name(info.id),
            info.rows
        ));
    }
    for info in &layout.set_aside {
        damage_found.push(format!(
            "{} is named by the MANIFEST but an earlier recovery or repair moved it to quarantine/ \
             and reported then what it lost (a stale MANIFEST); recovery rewrites the MANIFEST",
            segment::file_name(info.id)
        ));
    }
    for (path, why) in &layout.misplaced {
        damage_found.push(format!(
            "{}: {why}; recovery moves it to quarantine",
            name_of(path)
        ));
    }
    for path in &layout.unnamed {
        let id = segment::parse_file_name(&name_of(path));
        if id.is_some() && id == active {
            notes.push(format!(
                "{} was sealed by a writer that stopped before recording it; recovery takes it in",
                name_of(path)
            ));
        } else {
            damage_found.push(format!(
                "{} is sound but the MANIFEST does not name it (a stale MANIFEST); recovery takes it in",
                name_of(path)
            ));
        }
    }
    // Damaged files are reported by their own file check; here only what recovery will do with
    // files a crash left behind.
    for f in layout.salvage.iter().filter(|f| !f.damaged) {
        notes.push(format!(
            "{}: {}; recovery seals its {} intact pages",
            name_of(&f.path),
            f.reason,
            f.pages.len()
        ));
    }
    if let Some(lost) = lost_before_wal(&wal_read, &layout) {
        damage_found.push(lost);
    }
    let has_segments = segments_held > 0 || layout.active.is_some();
    if has_segments
        && names_file::FILE_NAMES
            .iter()
            .all(|n| std::fs::symlink_metadata(dir.join(n)).is_err())
    {
        damage_found.push(
            "both names files are missing; readers and recovery take the names from page metas (names only events in the WAL use are lost)"
                .to_string(),
        );
    }
    check.finding = if !damage_found.is_empty() {
        damage_found.extend(notes);
        damage(None, damage_found.join("; "))
    } else if !notes.is_empty() {
        note(None, notes.join("; "))
    } else {
        None
    };
    check
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Check every file of the store at `root`. `progress(done, total)` is called with bytes checked so
/// far. Fails only when `root` holds no store or cannot be listed.
pub fn verify(root: &Path, mut progress: impl FnMut(u64, u64)) -> Result<VerifyReport> {
    let planned = plan(root)?;
    let total: u64 = planned.iter().map(|p| p.bytes).sum();
    let mut done = 0u64;
    let partitions = partition::list(root)?.len();
    let mut files = Vec::with_capacity(planned.len());
    for p in &planned {
        files.push(check(p));
        done += p.bytes;
        progress(done, total);
    }
    Ok(VerifyReport { partitions, files })
}

/// Files of partition `dir` and of its quarantine, with their sizes, sorted by name.
fn list_files(dir: &Path) -> Result<Vec<(PathBuf, u64)>> {
    let mut out = Vec::new();
    for d in [dir.to_path_buf(), dir.join("quarantine")] {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(&d, "list", e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&d, "list", e))?;
            // Not only regular files: a device, FIFO or dangling or looping symlink in a file's
            // place is checked too (and refused by the bounded reads); directories are the
            // partition check's.
            let (checked, len) = match entry.metadata() {
                Ok(m) => (!m.is_dir(), if m.is_file() { m.len() } else { 0 }),
                Err(_) => (true, 0),
            };
            if checked && entry.file_name() != "LOCK" {
                out.push((entry.path(), len));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn check_names(dir: &Path, path: &Path, bytes: u64) -> FileCheck {
    let kind = CheckedKind::Names;
    let loaded = match names_file::load(dir) {
        Ok(l) => l,
        Err(e) => {
            return FileCheck {
                path: path.to_path_buf(),
                kind,
                bytes,
                items: 0,
                finding: finding_of(e),
            }
        }
    };
    let index = names_file::FILE_NAMES
        .iter()
        .position(|n| path.file_name().is_some_and(|f| f == *n))
        .unwrap_or(0);
    let mine = loaded.names_in_copy(index);
    let best = loaded.strings.len();
    let cut = loaded
        .cuts
        .iter()
        .find(|c| c.file.as_path() == path)
        .map(|c| (c.offset, c.reason.clone()));
    let finding = match cut {
        Some((offset, reason)) if mine < best => damage(
            Some(offset),
            format!("{reason}; the other copy holds all {best} names, so nothing is lost"),
        ),
        Some((offset, reason)) => note(
            Some(offset),
            format!("incomplete tail ({reason}): a crash while appending; recovery cuts it"),
        ),
        None if mine < best => note(
            None,
            format!(
                "holds {mine} of {best} names (the other copy is ahead; a writer may be appending)"
            ),
        ),
        None => None,
    };
    FileCheck {
        path: path.to_path_buf(),
        kind,
        bytes,
        items: mine as u64,
        finding,
    }
}

fn check_segment(path: &Path, bytes: u64, active: bool) -> FileCheck {
    let kind = CheckedKind::Segment;
    let mut check = FileCheck {
        path: path.to_path_buf(),
        kind,
        bytes,
        items: 0,
        finding: None,
    };
    let reader = match SegmentReader::open(path) {
        Ok(r) => r,
        Err(e) if active => {
            // An unsealed segment: its pages are self-checking; a torn last page is a note.
            match recover_active(path) {
                Ok(rec) => {
                    let id = segment::parse_file_name(
                        &path.file_name().unwrap_or_default().to_string_lossy(),
                    )
                    .unwrap_or(0);
                    if let Some((len, reason)) = rec.cut {
                        check.finding = note(
                            Some(rec.valid_len),
                            format!("unsealed segment ends in {len} bytes that are not a whole page ({reason}): a live writer or a crash; recovery cuts them"),
                        );
                    }
                    match SegmentReader::unsealed(path, id, rec.pages, Arc::new(rec.summary)) {
                        Ok(r) => r,
                        Err(e) => {
                            check.finding = finding_of(e);
                            return check;
                        }
                    }
                }
                Err(_) => {
                    check.finding = finding_of(e);
                    return check;
                }
            }
        }
        Err(e) => {
            check.finding = finding_of(e);
            return check;
        }
    };
    // Every page's meta and columns, and the footer's summary against the metas it summarises.
    let mut scratch = ReadScratch::default();
    let mut cols = PageColumns::default();
    let mut summary = PageMeta::default();
    // The value rollup is built again from the pages and must be the one stored.
    let mut rollup = RollupBuilder::default();
    for page in reader.pages() {
        let read = reader.page_meta(page).and_then(|meta| {
            summary
                .absorb(&meta)
                .map_err(|e| e.in_file(reader.path(), page.meta_offset()))?;
            reader.read_page(page, ColumnSet::ALL, &mut scratch, &mut cols)?;
            let strings = StringFields::of(&cols);
            rollup.add_page(&cols, &strings.dicts, &meta);
            Ok(())
        });
        if let Err(e) = read {
            check.finding = finding_of(e);
            return check;
        }
        check.items += 1;
    }
    if summary != **reader.summary() {
        check.finding = damage(None, "segment summary differs from the metas of its pages");
        return check;
    }
    match reader.check_rollup() {
        Ok(Some(stored)) => {
            if rollup.encode(&summary).map(|r| r.bytes).as_ref() != Some(&stored) {
                check.finding = damage(None, "value rollup differs from the pages it rolls up");
            }
        }
        Ok(None) => {}
        Err(e) => check.finding = finding_of(e),
    }
    check
}

fn check_wal(path: &Path, bytes: u64) -> FileCheck {
    let mut check = FileCheck {
        path: path.to_path_buf(),
        kind: CheckedKind::Wal,
        bytes,
        items: 0,
        finding: None,
    };
    match wal::scan::read_file(path) {
        Ok(read) => {
            check.items = read.records.len() as u64;
            let events: usize = read.records.iter().map(|(_, _, b)| b.len()).sum();
            if events > 0 {
                // A clean close removes the WAL; one that holds events is a writer at work or one
                // that ended without closing. Nothing is wrong: readers see them, the next writer
                // seals them.
                check.finding = note(
                    None,
                    format!("holds {events} events of a running writer or of one that stopped without closing (a crash); readers see them and the next writer seals them"),
                );
            }
            let stop = read.stop.map(|stop| {
                if stop.damage() {
                    Finding {
                        damage: true,
                        offset: Some(stop.offset),
                        reason: stop.reason,
                    }
                } else {
                    Finding {
                        damage: false,
                        offset: Some(stop.offset),
                        reason: format!(
                            "{} bytes at the end are not a whole record ({}): a live writer or a crash; recovery cuts them",
                            stop.bytes, stop.reason
                        ),
                    }
                }
            });
            if stop.is_some() {
                check.finding = stop;
            }
        }
        Err(e) => check.finding = finding_of(e),
    }
    check
}
