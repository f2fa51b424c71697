//! Partitions as readers see them: another process's partition (or one nobody writes), read from
//! disk without modifying anything, with readers of sealed segments kept between snapshots.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::dictionary::Dictionary;
use crate::error::{Error, Result};
use crate::layout;
use crate::manifest::Manifest;
use crate::names_file;
use crate::partition;
use crate::partition::check_segments;
use crate::segment::{self, recover_active, SegmentReader};

/// A partition read from disk by a reader (another process's, or one nobody writes): its dictionary
/// and its segments, sealed and unsealed, as they are now. Never modifies anything.
pub(crate) struct DiskPartition {
    pub dict: Arc<Dictionary>,
    pub segments: Vec<Arc<SegmentReader>>,
}

/// Readers of partitions kept between snapshots. Sealed segments never change, so their readers
/// (with their decoded page metas) are reused; each load reads only the manifest, the names file
/// when it grew, and the active segment when its length changed.
#[derive(Default)]
pub(crate) struct PartitionCache {
    parts: Mutex<HashMap<PathBuf, CachedPartition>>,
}

#[derive(Default)]
struct CachedPartition {
    /// Length of names.log when `dict` was loaded (the file only grows).
    names_len: Option<u64>,
    dict: Arc<Dictionary>,
    sealed: HashMap<u64, Arc<SegmentReader>>,
    /// The active segment: id, file length when read, reader.
    active: Option<(u64, u64, Arc<SegmentReader>)>,
}

impl PartitionCache {
    /// Partition `dir` as it is now, reusing what earlier loads read.
    pub(crate) fn load(&self, dir: &Path) -> Result<DiskPartition> {
        let mut parts = self.parts.lock().unwrap_or_else(|p| p.into_inner());
        let cached = parts.entry(dir.to_path_buf()).or_default();
        let names_len = std::fs::metadata(dir.join(names_file::FILE_NAMES[0]))
            .ok()
            .map(|m| m.len());
        if names_len.is_none() || names_len != cached.names_len {
            let loaded = names_file::load(dir)?;
            cached.dict = Arc::new(Dictionary::from_strings(loaded.strings));
            cached.names_len = names_len;
        }
        let dict = Arc::clone(&cached.dict);
        // The manifest is trusted only when it is this partition's and names every segment file;
        // otherwise (lost, damaged, stale, foreign) the files themselves say what is here.
        let manifest = match Manifest::load(dir) {
            Ok(Some(m)) if m.partition == partition::id_of(dir) && names_every_file(dir, &m)? => m,
            Ok(_) | Err(Error::Corrupt { .. }) => {
                parts.remove(dir);
                return by_layout(dir, dict);
            }
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
                    parts.remove(dir);
                    return by_layout(dir, dict);
                }
                Ok(r) => {
                    let r = Arc::new(r);
                    sealed.insert(info.id, Arc::clone(&r));
                    fresh.push(Arc::clone(&r));
                    segments.push(r);
                }
                // Compaction or retention in the owning process may have removed it since.
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
                // Damaged: its intact pages are still read, found page by page.
                Err(Error::Corrupt { .. }) => {
                    parts.remove(dir);
                    return by_layout(dir, dict);
                }
                Err(e) => return Err(e),
            }
        }
        // Segments no longer listed (compacted, expired) are forgotten.
        cached.sealed = sealed;
        let mut active = None;
        if let Some(id) = manifest.active {
            let path = dir.join(segment::file_name(id));
            if let Ok(meta) = std::fs::metadata(&path) {
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
                            let r = Arc::new(SegmentReader::unsealed(&path, id, rec.pages)?);
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
        }
        cached.active = active;
        // Only readers opened now need checking: the dictionary never shrinks.
        if let Err(e) = check_segments(dir, &dict, fresh.iter()) {
            parts.remove(dir);
            return Err(e);
        }
        Ok(DiskPartition { dict, segments })
    }
}

/// True when every segment file in `dir` is one `m` names (sealed or active).
fn names_every_file(dir: &Path, m: &Manifest) -> Result<bool> {
    Ok(layout::segment_files(dir)?
        .iter()
        .all(|(id, _)| m.active == Some(*id) || m.sealed.iter().any(|s| s.id == *id)))
}

/// Partition `dir` as its files say it is (see `layout`): sealed segments that belong, the active
/// one's intact pages, and the intact pages of damaged or abandoned files. Not cached: this is the
/// path for a partition whose manifest cannot be trusted, until a writer recovers it.
fn by_layout(dir: &Path, dict: Arc<Dictionary>) -> Result<DiskPartition> {
    let layout = layout::inspect(dir, layout::Depth::Quick)?;
    let mut segments = layout.sealed;
    for f in &layout.salvage {
        segments.push(Arc::new(SegmentReader::unsealed(
            &f.path,
            f.id,
            f.pages.clone(),
        )?));
    }
    if let Some(a) = layout.active {
        segments.push(Arc::new(SegmentReader::unsealed(&a.path, a.id, a.pages)?));
    }
    check_segments(dir, &dict, segments.iter())?;
    Ok(DiskPartition { dict, segments })
}
