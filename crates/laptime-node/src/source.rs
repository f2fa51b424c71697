//! Where a read task takes its view from: an open store (this process writes it) or a
//! read-only reader (tools looking at a store others write). Tasks hold their own clone, taken
//! on the pool thread, so releasing the last handle of a store never happens on the JS thread.

use std::sync::Arc;

use laptime_core::{Reader, Store, View};

/// A store or a reader.
#[derive(Clone)]
pub(crate) enum Source {
    Store(Store),
    Reader(Arc<Reader>),
}

impl Source {
    /// A consistent view of the store now.
    pub(crate) fn view(&self) -> laptime_core::Result<View> {
        match self {
            Source::Store(s) => s.view(),
            Source::Reader(r) => r.view(),
        }
    }
}
