//! laptime-storage: the storage layer of laptime. Events, the ring producers hand them to, the
//! writer thread, column pages with zone maps and latency sketches, the bufferpool, checksummed
//! segments, the WAL, the manifest, recovery, compaction, retention, and the read view that scans
//! pages. It knows nothing of filters or queries (`laptime-query` sits on top of it); most users
//! depend on `laptime-core`, which re-exports both. See ARCHITECTURE.md for the layers.
//!
//! Layout on disk: `<dir>/partitions/<id>/` per writing process, holding `LOCK`, `MANIFEST`,
//! `names.log`, `wal-*.log` and `seg-*.lts`. See `page`, `segment`, `wal` and `manifest` for the
//! byte layouts.

#![forbid(unsafe_code)]

mod admission;
mod bufferpool;
pub mod clock;
mod compaction;
pub mod dictionary;
mod disk_partition;
pub mod durable;
pub mod encoding;
mod error;
mod event;
mod failpoint;
// Also in unit tests: they build segment files the way the fuzz targets do.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod ids;
mod lane;
mod layout;
mod manifest;
mod names_file;
mod options;
mod origins;
pub mod page;
mod partition;
mod partition_state;
mod reader;
mod record_log;
mod recovery;
mod retention;
mod ring;
pub mod scan;
pub mod segment;
pub mod ship;
mod ship_cursor;
pub mod sketch;
mod store;
pub mod verify;
mod wal;
mod writer;

pub use admission::RawBatch;
pub use bufferpool::{BufferPool, PinnedPage, PoolStats};
pub use compaction::CompactionReport;
pub use dictionary::Dictionary;
pub use error::{DecodeError, Error, ErrorCode, Result};
pub use event::{
    Batch, BatchField, Code, Event, FieldRef, Level, NameId, Origin, Rejections, Value, ValueRef,
    ValueType, MAX_BATCH_EVENTS,
};
pub use options::{Options, Retention, SyncPolicy, MAX_WRITERS};
pub use page::{
    ColumnSet, FieldColumn, FieldKeys, FieldValues, KeyValues, NameStats, PageColumns, PageIndex,
    PageMeta, PageZone, ValueStats, MAX_LISTED_VALUES,
};
pub use partition::Cut;
pub use reader::Reader;
pub use recovery::RecoveryReport;
pub use retention::RetentionReport;
pub use ring::{CounterSnapshot, Overflow, Push};
pub use scan::{PageDamage, PageData, PageRef, ScanFilter, SegmentRef, View};
pub use segment::ReadScratch;
pub use store::{Maintained, Maintenance, Received, Recorder, RecorderTimer, Store};

/// Fault injection for tests (cargo feature `failpoints`).
#[cfg(feature = "failpoints")]
pub mod testing {
    pub use crate::failpoint::{
        fail_syncs_under, fail_writes_under, fail_writes_with, failpoint, failpoint_named,
        heal_under,
    };
}
