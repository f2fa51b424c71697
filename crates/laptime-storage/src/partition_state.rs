//! A partition's sealed state, owned by its writer thread: the directory, the manifest naming the
//! sealed segments, and the view readers see. Sealing, compaction and retention all change it
//! through here, so none of them needs the writer loop itself.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::error::Result;
use crate::manifest::Manifest;
use crate::segment::{self, SegmentReader, SegmentWriter};

/// What readers of this partition may see: sealed segments, and the sealed pages of the segment
/// being written. Replaced as a whole (copy on write) whenever a page or segment is sealed.
#[derive(Debug, Default)]
pub(crate) struct PartitionView {
    pub sealed: Vec<Arc<SegmentReader>>,
    pub active: Option<Arc<SegmentReader>>,
}

/// See the module documentation.
pub(crate) struct PartitionState {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub view: Arc<RwLock<Arc<PartitionView>>>,
}

impl PartitionState {
    /// Replace the readers' view by a changed copy (readers holding the old one keep it).
    pub(crate) fn publish(&self, change: impl FnOnce(&mut PartitionView)) {
        let mut view = self.view.write().unwrap_or_else(|p| p.into_inner());
        let mut next = PartitionView {
            sealed: view.sealed.clone(),
            active: view.active.clone(),
        };
        change(&mut next);
        *view = Arc::new(next);
    }

    /// The sealed segments readers see, in order.
    pub(crate) fn sealed(&self) -> Vec<Arc<SegmentReader>> {
        self.view
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .sealed
            .clone()
    }

    /// Bytes of the sealed segments readers see.
    pub(crate) fn sealed_bytes(&self) -> u64 {
        let view = self.view.read().unwrap_or_else(|p| p.into_inner());
        view.sealed.iter().map(|s| s.len()).sum()
    }

    /// A new, empty segment file with the next id (the id is used up even if creating fails, so a
    /// retry never meets a leftover of the failed attempt).
    pub(crate) fn new_segment(&mut self) -> Result<SegmentWriter> {
        let id = self.manifest.next_segment_id;
        self.manifest.next_segment_id = id + 1;
        let path = self.dir.join(segment::file_name(id));
        SegmentWriter::create(
            &path,
            segment::SegmentIdentity {
                id,
                partition: self.manifest.partition,
            },
        )
    }
}
