//! laptime-core: an embedded, compressed, crash-safe columnar store for function timings and logs,
//! with the query engine on top and the instrumentation that feeds it. This is the crate Rust
//! services depend on; it re-exports the layers below it:
//!
//! - `laptime-storage`: events, the ring, the writer thread, pages, segments, WAL, recovery,
//!   compaction, retention and read views ([`Store`], [`Reader`], [`View`]).
//! - `laptime-query`: the filter and time grammar ([`filter`]), queries with mergeable partial
//!   results ([`query`]), analysis ([`analysis`]) and export.
//! - here: instrumentation ([`mod@capture`], the `#[capture]` macro, the tracing layer) and post-mortem
//!   files ([`postmortem`]), which use both.
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

#![forbid(unsafe_code)]

pub mod capture;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod postmortem;
#[cfg(feature = "tracing")]
pub mod tracing_layer;

/// `#[capture]` / `#[capture(name = "...")]` on a sync or async fn (cargo feature `macros`): every
/// call is timed into the store given to [`capture::install`]; a returned `Err` is an error.
#[cfg(feature = "macros")]
pub use laptime_macros::capture;
#[cfg(feature = "parquet")]
pub use laptime_query::export;
pub use laptime_query::{analysis, filter, query, Queries};
pub use laptime_storage::{clock, encoding, ship, sketch, verify};
pub use laptime_storage::{
    Batch, BatchField, BufferPool, Code, ColumnSet, CompactionReport, CounterSnapshot, Cut,
    DecodeError, Dictionary, Error, ErrorCode, Event, FieldColumn, FieldKeys, FieldRef,
    FieldValues, KeyValues, Level, Maintained, Maintenance, NameId, NameStats, Options, Origin,
    Overflow, PageColumns, PageDamage, PageData, PageMeta, PageRef, PinnedPage, PoolStats, Push,
    RawBatch, ReadScratch, Reader, Received, Recorder, RecorderTimer, RecoveryReport, Rejections,
    Result, Retention, RetentionReport, ScanFilter, Store, SyncPolicy, Value, ValueRef, ValueStats,
    ValueType, View, MAX_BATCH_EVENTS, MAX_LISTED_VALUES,
};

/// Fault injection for tests (cargo feature `failpoints`).
#[cfg(feature = "failpoints")]
pub use laptime_storage::testing;
