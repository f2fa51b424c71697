//! Partitions as readers see them: another process's partition (or one nobody writes), read from
//! disk without modifying anything, with readers of sealed segments kept between snapshots.
//!
//! A reader sees every event the WAL holds, not only sealed pages: an acknowledged event is
//! readable at once, also when its writer was killed (invariant 10, ARCHITECTURE.md). The WAL events that
//! no page holds yet become one in-memory page, like a writer's own active page.
//!
//! Consistency with a writer that seals, compacts and releases files meanwhile: the WAL is read
//! first, then the manifest and the segments. A writer deletes a WAL file only after its events
//! are in a durable page, so whatever left the WAL between the two reads is in the pages read
//! second; WAL events whose seq the pages hold are dropped. Whatever moved in a way that cannot be
//! read consistently (a WAL file or a named segment gone, seqs with a gap) makes the load start
//! over; names are loaded last, since they are synced before anything refers to them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::dictionary::Dictionary;
use crate::error::{Error, Result};
use crate::layout;
use crate::manifest::Manifest;
use crate::names_file;
use crate::page::{PageColumns, PageMeta};
use crate::partition;
use crate::recovery::check_segments;
use crate::segment::{self, recover_active, SegmentReader};
use crate::wal::scan::{self as wal_scan, FileRecords};

/// Loads that start over because the writer moved something, before a missing file counts as
/// damage (or, for a WAL that lost a file, the events up to the gap are taken).
const ATTEMPTS: usize = 5;

/// Events of a partition that are in its WAL but in no page: sorted page columns and their meta.
pub(crate) type Tail = Arc<(PageMeta, PageColumns)>;

/// A partition read from disk by a reader (another process's, or one nobody writes): its
/// dictionary, its segments, sealed and unsealed, and its WAL events no page holds yet, as they are
/// now. Never modifies anything.
pub(crate) struct DiskPartition {
    pub dict: Arc<Dictionary>,
    pub segments: Vec<Arc<SegmentReader>>,
    pub tail: Option<Tail>,
}

/// Readers of partitions kept between snapshots. Sealed segments never change, so their readers
/// (page directory and summary) are reused; each load reads only the manifest, the names file
/// when it grew, the active segment when its length changed, and WAL files whose length or
/// modification time changed.
///
/// Memory: besides segment readers, a partition costs its WAL's events, parsed, plus one copy of
/// those no page holds. A writer keeps a WAL file only until its events are in a durable page, so
/// that is about one page (`Options::page_rows` events) to two pages while a page is being sealed.
#[derive(Default)]
pub(crate) struct PartitionCache {
    parts: Mutex<HashMap<PathBuf, CachedPartition>>,
    /// The store's partition directories as last listed (see [`PartitionCache::partitions`]).
    listing: Mutex<Option<Listing>>,
}

/// The partition directories, and the modification time of the directory holding them when they
/// were listed.
struct Listing {
    modified: SystemTime,
    dirs: Arc<[PathBuf]>,
}

/// How long a directory must have been left unchanged before its listing is reused while its
/// modification time stays the same. A change in the same tick of the file system's clock as the
/// one before it can leave that time as it was (the race git's index calls "racy clean"), and a
/// listing taken within a tick of a change may miss the next one; two seconds is the coarsest
/// tick in common use (FAT).
const SETTLED: Duration = Duration::from_secs(2);

#[derive(Default)]
struct CachedPartition {
    /// Length of names.log when `dict` was loaded (the file only grows).
    names_len: Option<u64>,
    dict: Arc<Dictionary>,
    sealed: HashMap<u64, Arc<SegmentReader>>,
    /// The active segment: id, file length when read, reader.
    active: Option<(u64, u64, Arc<SegmentReader>)>,
    /// WAL files as last read.
    wal: HashMap<PathBuf, CachedWal>,
    /// The tail last built, and what it was built from.
    tail: Option<(TailKey, Option<Tail>)>,
}

/// A WAL file's records, with the length and modification time it had when read.
struct CachedWal {
    len: u64,
    modified: Option<SystemTime>,
    records: Arc<FileRecords>,
}

#[derive(PartialEq, Eq)]
struct TailKey {
    pages_end: u64,
    files: Vec<(PathBuf, u64, Option<SystemTime>)>,
}

/// A load that must start over (the writer moved something between two reads).
struct Moved;

impl PartitionCache {
    /// The partition directories of the store at `root`, sorted. A query asks for them each time
    /// (another process may have added one); they are listed again only when the directory's
    /// modification time changed or had not settled when they were last listed: listing took a
    /// query answered from metas a tenth of its time after the machine idled, a `stat` far less.
    pub(crate) fn partitions(&self, root: &Path) -> Result<Arc<[PathBuf]>> {
        let dir = root.join(partition::PARTITIONS);
        let modified = match std::fs::metadata(&dir) {
            Ok(m) => m.modified().ok(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(&dir, "stat partitions", e)),
        };
        let mut listing = self.listing.lock().unwrap_or_else(|p| p.into_inner());
        if let (Some(m), Some(l)) = (modified, listing.as_ref()) {
            if l.modified == m {
                return Ok(Arc::clone(&l.dirs));
            }
        }
        // After the stat: the listing below sees at least what the modification time stands for.
        let now = SystemTime::now();
        let dirs: Arc<[PathBuf]> = partition::list(root)?.into();
        let settled = |m: &SystemTime| now.duration_since(*m).is_ok_and(|age| age >= SETTLED);
        *listing = modified.filter(settled).map(|modified| Listing {
            modified,
            dirs: Arc::clone(&dirs),
        });
        Ok(dirs)
    }

    /// Partition `dir` as it is now, reusing what earlier loads read.
    pub(crate) fn load(&self, dir: &Path) -> Result<DiskPartition> {
        let mut parts = self.parts.lock().unwrap_or_else(|p| p.into_inner());
        let cached = parts.entry(dir.to_path_buf()).or_default();
        let mut result = Err(Error::Closed);
        for attempt in 1..=ATTEMPTS {
            match load_once(cached, dir, attempt == ATTEMPTS) {
                Ok(Ok(p)) => {
                    result = Ok(p);
                    break;
                }
                Ok(Err(Moved)) => continue,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if result.is_err() {
            parts.remove(dir);
        }
        result
    }
}

/// One try at loading partition `dir`; `Moved` when something changed under it (never on the
/// `last` try: a named segment still missing then is damage, a WAL gap ends its events).
fn load_once(
    cached: &mut CachedPartition,
    dir: &Path,
    last: bool,
) -> Result<std::result::Result<DiskPartition, Moved>> {
    // 1. The WAL, first.
    let mut wal = HashMap::new();
    let mut wal_files = Vec::new();
    for (_, path) in wal_scan::list(dir)? {
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if last {
                    continue;
                }
                return Ok(Err(Moved));
            }
            Err(e) => return Err(Error::io(&path, "stat", e)),
        };
        let (len, modified) = (meta.len(), meta.modified().ok());
        let reuse = cached
            .wal
            .remove(&path)
            .filter(|c| c.len == len && c.modified == modified);
        let records = match reuse {
            Some(c) => c.records,
            None => match wal_scan::read_file(&path) {
                Ok(r) => Arc::new(r),
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    if last {
                        continue;
                    }
                    return Ok(Err(Moved));
                }
                Err(e) => return Err(e),
            },
        };
        wal_files.push((path.clone(), len, modified));
        wal.insert(
            path,
            CachedWal {
                len,
                modified,
                records,
            },
        );
    }
    cached.wal = wal;

    // 2. Manifest and segments. The manifest is trusted only when it is this partition's and names
    // every segment file; otherwise (lost, damaged, stale, foreign) the files themselves say what
    // is here. A writer creates a segment file just before naming it, so an unnamed file is first
    // read again.
    let Segments {
        all: segments,
        fresh,
    } = match load_segments(cached, dir, last)? {
        Ok(s) => s,
        Err(Moved) => return Ok(Err(Moved)),
    };

    // 3. The WAL events no page holds.
    let pages_end = segments
        .iter()
        .filter_map(|s| s.pages().last())
        .map(|p| p.zone.end_seq())
        .max()
        .unwrap_or(0);
    let key = TailKey {
        pages_end,
        files: wal_files,
    };
    let tail = match cached.tail.take() {
        Some((k, tail)) if k == key => tail,
        _ => {
            let mut cols = PageColumns::default();
            let mut first_seq = None;
            let chained = wal_scan::chain(
                key.files
                    .iter()
                    .filter_map(|(p, _, _)| cached.wal.get(p).map(|c| (p.as_path(), &*c.records))),
                pages_end,
                |first, batch, skip| {
                    first_seq.get_or_insert(first);
                    cols.append_batch(batch, skip, batch.len());
                    Ok(())
                },
            )?;
            // A gap: the writer released or rotated a file between our reads.
            if chained.out_of_sequence && !last {
                return Ok(Err(Moved));
            }
            first_seq.map(|first| {
                cols.sort_by_start();
                cols.canonicalize_fields();
                let meta = PageMeta::compute(&cols, first);
                Arc::new((meta, cols))
            })
        }
    };
    cached.tail = Some((key, tail.clone()));

    // 4. Names, last: everything read above refers only to names synced before it was written.
    let names_len = std::fs::metadata(dir.join(names_file::FILE_NAMES[0]))
        .ok()
        .map(|m| m.len());
    let mut reloaded = false;
    if names_len.is_none() || names_len != cached.names_len {
        reload_names(cached, dir, names_len)?;
        reloaded = true;
    }
    let tail_known = |dict: &Dictionary| {
        tail.as_ref()
            .and_then(|t| t.0.max_id())
            .is_none_or(|m| (m as usize) < dict.len())
    };
    if !reloaded
        && (!tail_known(&cached.dict) || check_segments(dir, &cached.dict, fresh.iter()).is_err())
    {
        // Names appended since the length was taken: read them again.
        reload_names(cached, dir, names_len)?;
    }
    // Only readers opened now need checking: the dictionary never shrinks. Still short after a
    // reload is damage (a writer syncs names before anything refers to them): the names come back
    // from page metas, as recovery would bring them back.
    if check_segments(dir, &cached.dict, fresh.iter()).is_err() || !tail_known(&cached.dict) {
        refill_names(cached, &segments, tail.as_ref());
    }
    Ok(Ok(DiskPartition {
        dict: Arc::clone(&cached.dict),
        segments,
        tail,
    }))
}

/// Extend the cached dictionary to every name `segments` and `tail` refer to (see
/// `names_file::fill_from_pages`).
fn refill_names(
    cached: &mut CachedPartition,
    segments: &[Arc<SegmentReader>],
    tail: Option<&Tail>,
) {
    let tail_need = tail
        .and_then(|t| t.0.max_id())
        .map_or(0, |m| m as usize + 1);
    let mut strings: Vec<String> = cached
        .dict
        .snapshot()
        .iter()
        .map(|s| s.to_string())
        .collect();
    names_file::fill_from_pages(&mut strings, segments, tail_need);
    cached.dict = Arc::new(Dictionary::from_strings(strings));
}

fn reload_names(cached: &mut CachedPartition, dir: &Path, names_len: Option<u64>) -> Result<()> {
    let loaded = names_file::load(dir)?;
    cached.dict = Arc::new(Dictionary::from_strings(loaded.strings));
    cached.names_len = names_len;
    Ok(())
}

/// The segments of partition `dir` a reader reads, and which of them were opened just now.
struct Segments {
    all: Vec<Arc<SegmentReader>>,
    fresh: Vec<Arc<SegmentReader>>,
}

/// Segments as the manifest names them, reusing cached readers; or, when the manifest cannot be
/// trusted, as the files say (`by_layout`).
fn load_segments(
    cached: &mut CachedPartition,
    dir: &Path,
    last: bool,
) -> Result<std::result::Result<Segments, Moved>> {
    let manifest = match Manifest::load(dir) {
        Ok(Some(m)) if m.partition == partition::id_of(dir) => m,
        Ok(_) | Err(Error::Corrupt { .. }) => return by_layout(cached, dir, last),
        Err(e) => return Err(e),
    };
    let mut segments = Vec::new();
    let mut fresh = Vec::new();
    let mut sealed = HashMap::with_capacity(manifest.sealed.len());
    for info in &manifest.sealed {
        if let Some(r) = cached.sealed.get(&info.id) {
            sealed.insert(info.id, Arc::clone(r));
            segments.push(Arc::clone(r));
            continue;
        }
        let path = dir.join(segment::file_name(info.id));
        match SegmentReader::open(&path) {
            // A file that is not what the manifest says (copied in from elsewhere, renamed).
            Ok(r) if r.id() != info.id || r.partition() != Some(manifest.partition) => {
                return by_layout(cached, dir, last);
            }
            Ok(r) => {
                let r = Arc::new(r);
                sealed.insert(info.id, Arc::clone(&r));
                fresh.push(Arc::clone(&r));
                segments.push(r);
            }
            // Compaction or retention may have removed it after the manifest we read was
            // replaced: read the manifest again. Named by the newest one too, it is lost, unless
            // the manifest is stale (older than a compaction or repair that rewrote the file, or
            // than a recovery or repair that moved it to quarantine): then, as below, the files
            // are read as they are.
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                if !last {
                    return Ok(Err(Moved));
                }
                if has_unnamed_segments(dir, &manifest)?
                    || layout::moved_to_quarantine(dir, manifest.partition, info)
                {
                    return by_layout(cached, dir, last);
                }
                return Err(Error::corrupt(
                    &path,
                    0,
                    "segment named by the manifest is missing",
                ));
            }
            // Damaged: its intact pages are still read, found page by page.
            Err(Error::Corrupt { .. }) => return by_layout(cached, dir, last),
            Err(e) => return Err(e),
        }
    }
    // Segments no longer listed (compacted, expired) are forgotten.
    cached.sealed = sealed;
    let mut active = None;
    if let Some(id) = manifest.active {
        let path = dir.join(segment::file_name(id));
        match std::fs::metadata(&path) {
            Ok(meta) => {
                let len = meta.len();
                let reuse = cached
                    .active
                    .as_ref()
                    .filter(|(aid, alen, _)| *aid == id && *alen == len)
                    .map(|(_, _, r)| Arc::clone(r));
                let reader = match reuse {
                    Some(r) => Some(r),
                    None => {
                        let rec = recover_active(&path)?;
                        if rec.pages.is_empty() {
                            None
                        } else {
                            let r = Arc::new(SegmentReader::unsealed(
                                &path,
                                id,
                                rec.pages,
                                Arc::new(rec.summary),
                            )?);
                            fresh.push(Arc::clone(&r));
                            Some(r)
                        }
                    }
                };
                if let Some(r) = reader {
                    segments.push(Arc::clone(&r));
                    active = Some((id, len, r));
                }
            }
            // The writer creates the file before naming it, so it was sealed (and maybe
            // compacted) since: read again. Recovery tolerates a missing active segment; so do we.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !last => return Ok(Err(Moved)),
            Err(_) => {}
        }
    }
    cached.active = active;
    if !unnamed_files_add_nothing(dir, &manifest, &segments)? {
        return by_layout(cached, dir, last);
    }
    Ok(Ok(Segments {
        all: segments,
        fresh,
    }))
}

/// True when `dir` holds a segment file that `m` does not name.
fn has_unnamed_segments(dir: &Path, m: &Manifest) -> Result<bool> {
    Ok(layout::segment_files(dir)?
        .iter()
        .any(|(id, _)| m.active != Some(*id) && m.sealed.iter().all(|s| s.id != *id)))
}

/// True when every segment file in `dir` that `m` does not name holds only events `named` hold.
/// A live writer leaves such files for a moment: a new segment before the manifest names it
/// (header only), compaction's output before it replaces its inputs (and the inputs after), a
/// failed segment's pages copied forward. Anything else unnamed means the manifest is stale or
/// foreign, and the files must be read as they are.
fn unnamed_files_add_nothing(
    dir: &Path,
    m: &Manifest,
    named: &[Arc<SegmentReader>],
) -> Result<bool> {
    let mut held: Vec<(u64, u64)> = named
        .iter()
        .flat_map(|s| {
            s.pages()
                .iter()
                .map(|p| (p.zone.first_seq, p.zone.end_seq()))
        })
        .collect();
    held.sort_unstable();
    // Held pages of one partition never overlap, and compaction only joins whole pages: merged,
    // adjacent held ranges contain any copy's page whole.
    let mut spans: Vec<(u64, u64)> = Vec::with_capacity(held.len());
    for (first, end) in held {
        match spans.last_mut() {
            Some(last) if first <= last.1 => last.1 = last.1.max(end),
            _ => spans.push((first, end)),
        }
    }
    let covered = |first: u64, end: u64| {
        let i = spans.partition_point(|&(f, _)| f <= first);
        i > 0 && spans[i - 1].1 >= end
    };
    for (id, path) in layout::segment_files(dir)? {
        if m.active == Some(id) || m.sealed.iter().any(|s| s.id == id) {
            continue;
        }
        let pages = match recover_active(&path) {
            Ok(rec) => rec.pages,
            // Removed since it was listed (compaction's inputs, a sealed leftover).
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                continue;
            }
            Err(Error::Corrupt { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        if !pages
            .iter()
            .all(|p| covered(p.zone.first_seq, p.zone.end_seq()))
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Segments of partition `dir` as its files say (see `layout`): sealed segments that belong, the
/// active one's intact pages, and the intact pages of damaged or abandoned files. Not cached: this
/// is the path for a partition whose manifest cannot be trusted, until a writer recovers it.
fn by_layout(
    cached: &mut CachedPartition,
    dir: &Path,
    last: bool,
) -> Result<std::result::Result<Segments, Moved>> {
    cached.sealed.clear();
    cached.active = None;
    let layout = match layout::inspect(dir, layout::Depth::Quick) {
        Ok(l) => l,
        // A writer recovering or compacting moved a file while we listed them: read again.
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound && !last => {
            return Ok(Err(Moved));
        }
        Err(e) => return Err(e),
    };
    let mut all = layout.sealed;
    for f in &layout.salvage {
        all.push(Arc::new(SegmentReader::unsealed(
            &f.path,
            f.id,
            f.pages.clone(),
            Arc::new(f.summary.clone()),
        )?));
    }
    if let Some(a) = layout.active {
        all.push(Arc::new(SegmentReader::unsealed(
            &a.path,
            a.id,
            a.pages,
            Arc::new(a.summary),
        )?));
    }
    Ok(Ok(Segments {
        fresh: all.clone(),
        all,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partitions_dir(root: &Path) -> PathBuf {
        root.join(partition::PARTITIONS)
    }

    /// Set the directory's modification time (what adding an entry changes).
    fn set_modified(dir: &Path, at: SystemTime) {
        std::fs::File::open(dir)
            .and_then(|f| f.set_modified(at))
            .expect("set the directory's modification time");
    }

    fn names(dirs: &[PathBuf]) -> Vec<String> {
        let name = |d: &PathBuf| d.file_name().map(|n| n.to_string_lossy().into_owned());
        dirs.iter().filter_map(name).collect()
    }

    #[test]
    fn a_partition_added_to_a_settled_directory_is_listed_next_time() {
        let root = tempfile::tempdir().expect("tempdir");
        let cache = PartitionCache::default();
        assert!(cache.partitions(root.path()).expect("list").is_empty());
        let dir = partitions_dir(root.path());
        std::fs::create_dir_all(dir.join("a")).expect("mkdir");
        let long_ago = SystemTime::now() - Duration::from_secs(3600);
        set_modified(&dir, long_ago);
        assert_eq!(names(&cache.partitions(root.path()).expect("list")), ["a"]);
        // Listed while settled: reused as long as the directory keeps its time.
        let kept = cache.partitions(root.path()).expect("list");
        assert_eq!(names(&kept), ["a"]);
        std::fs::create_dir(dir.join("b")).expect("mkdir");
        assert_eq!(
            names(&cache.partitions(root.path()).expect("list")),
            ["a", "b"]
        );
        // A file is not a partition; removing one is seen too.
        std::fs::write(dir.join("note"), b"x").expect("write");
        std::fs::remove_dir(dir.join("a")).expect("rmdir");
        assert_eq!(names(&cache.partitions(root.path()).expect("list")), ["b"]);
        std::fs::remove_dir_all(&dir).expect("rm");
        assert!(cache.partitions(root.path()).expect("list").is_empty());
    }

    /// A change in the same tick of the file system's clock as the listing leaves the
    /// directory's time as it was: a listing taken while the directory had just changed is not
    /// reused, so such a change is still seen.
    #[test]
    fn a_listing_of_a_directory_that_just_changed_is_not_reused() {
        let root = tempfile::tempdir().expect("tempdir");
        let cache = PartitionCache::default();
        let dir = partitions_dir(root.path());
        std::fs::create_dir_all(dir.join("a")).expect("mkdir");
        let just_now = SystemTime::now() - Duration::from_millis(100);
        set_modified(&dir, just_now);
        assert_eq!(names(&cache.partitions(root.path()).expect("list")), ["a"]);
        std::fs::create_dir(dir.join("b")).expect("mkdir");
        set_modified(&dir, just_now);
        assert_eq!(
            names(&cache.partitions(root.path()).expect("list")),
            ["a", "b"]
        );
    }
}
