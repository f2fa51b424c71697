//! laptime-core: an embedded, compressed, crash-safe columnar store for function timings and logs.
//!
//! Producers hand [`Batch`]es of events to a [`Store`]; a writer thread per store logs them to a
//! checksummed write-ahead log, packs them into compressed column pages with zone maps and latency
//! sketches, and seals pages into immutable segment files. Readers take a [`View`] and scan
//! pages, skipping those the filter rules out.
//!
//! ```
//! use laptime_core::{Options, ScanFilter, Store};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path(), Options::default())?;
//! let mut rec = store.recorder();
//! let id = store.intern("UserService.find")?;
//! rec.call(id, 1_700_000_000_000_000_000, 1_250_000, true);
//! rec.submit();
//! store.flush()?;
//!
//! let events = store.view()?.events(&ScanFilter::default())?;
//! assert_eq!(events.len(), 1);
//! assert_eq!(events[0].name, "UserService.find");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Layout on disk: `<dir>/partitions/<id>/` per writing process, holding `LOCK`, `MANIFEST`,
//! `names.log`, `wal-*.log` and `seg-*.lts`. See `page`, `segment`, `wal` and `manifest` for the
//! byte layouts.

#![forbid(unsafe_code)]

pub mod analysis;
mod bufferpool;
pub mod capture;
pub mod clock;
mod compaction;
mod dictionary;
mod disk_partition;
mod durable;
pub mod encoding;
mod error;
mod event;
#[cfg(feature = "parquet")]
pub mod export;
mod failpoint;
pub mod filter;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod ids;
mod layout;
mod manifest;
mod names_file;
mod options;
mod page;
mod partition;
mod partition_state;
pub mod postmortem;
pub mod query;
mod reader;
mod record_log;
mod recovery;
mod retention;
mod ring;
mod scan;
mod segment;
pub mod sketch;
mod stats;
mod store;
#[cfg(feature = "tracing")]
pub mod tracing_layer;
pub mod verify;
mod wal;
pub mod workload;
mod writer;

pub use bufferpool::{BufferPool, PinnedPage, PoolStats};
pub use compaction::CompactionReport;
pub use dictionary::Dictionary;
pub use error::{DecodeError, Error, Result};
pub use event::{Batch, BatchField, Code, Event, Level, NameId, Rejections, Value, ValueType};
/// `#[capture]` / `#[capture(name = "...")]` on a sync or async fn (cargo feature `macros`): every
/// call is timed into the store given to [`capture::install`]; a returned `Err` is an error.
#[cfg(feature = "macros")]
pub use laptime_macros::capture;
pub use options::{Options, Retention, SyncPolicy};
pub use page::{ColumnSet, FieldColumn, FieldValues, NameStats, PageColumns, PageMeta};
pub use partition::Cut;
pub use reader::Reader;
pub use recovery::RecoveryReport;
pub use retention::RetentionReport;
pub use ring::{CounterSnapshot, Overflow, Push};
pub use scan::{PageDamage, PageData, PageRef, ScanFilter, View};
pub use segment::ReadScratch;
pub use stats::{function_stats, FunctionStats};
pub use store::{Maintained, Maintenance, Recorder, RecorderTimer, Store};

/// Fault injection for tests (cargo feature `failpoints`).
#[cfg(feature = "failpoints")]
pub mod testing {
    pub use crate::failpoint::{fail_syncs_under, fail_writes_under, heal_under};
}
