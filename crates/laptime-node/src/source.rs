//! Where a read task takes its snapshot from: an open store (this process writes it) or a
//! read-only reader (tools looking at a store others write). Tasks hold their own clone, taken
//! on the pool thread, so releasing the last handle of a store never happens on the JS thread.

use std::sync::Arc;

use laptime_core::{Reader, Snapshot, Store};

/// A store or a reader.
#[derive(Clone)]
pub(crate) enum Source {
    Store(Store),
    Reader(Arc<Reader>),
}

impl Source {
    /// A consistent view of the store now.
    pub(crate) fn snapshot(&self) -> laptime_core::Result<Snapshot> {
        match self {
            Source::Store(s) => s.snapshot(),
            Source::Reader(r) => r.snapshot(),
        }
    }
}
