//! The fleet's two ends around Kafka: the [`Shipper`] sends a store's sealed pages (a
//! `laptime_storage::ship::Feed`) and moves its cursors only after Kafka acknowledged them; the
//! [`Indexer`] stores what a consumer group gives it (`Store::append_received`, so a message sent
//! twice is stored once) and commits offsets only after its store made the events durable. The
//! [`KafkaSink`] puts what `laptime ingest` accepts into the same topic, as the same messages.

mod error;
mod index;
mod ingest_sink;
pub mod ledger;
pub mod pending;
mod ship;

pub use error::Error;
pub use index::{member_name, IndexConfig, IndexStats, Indexer, StatsHandle, MEMBER_FILE};
pub use ingest_sink::KafkaSink;
pub use ship::{ShipConfig, ShipStats, Shipper};

/// Header naming the source of a message (also its key: one source, one partition, in order).
pub const HEADER_SOURCE: &str = "laptime-source";

/// Abort the process here when `LAPTIME_FAILPOINT` names this point (cargo feature `failpoints`,
/// for the tests that kill an indexer at a chosen step; without it nothing happens).
#[inline]
pub(crate) fn failpoint(name: &str) {
    #[cfg(feature = "failpoints")]
    laptime_storage::testing::failpoint(name);
    #[cfg(not(feature = "failpoints"))]
    let _ = name;
}

/// True the first `times` times execution reaches this point when `LAPTIME_FAILPOINT` names it
/// (cargo feature `failpoints`), for the tests that make a step fail for a while; without the
/// feature, never.
pub(crate) fn failpoint_refuses(name: &str, times: u32) -> bool {
    #[cfg(feature = "failpoints")]
    {
        use std::sync::atomic::{AtomicU32, Ordering};
        // One point is named per process, so one count serves them all.
        static REFUSED: AtomicU32 = AtomicU32::new(0);
        laptime_storage::testing::failpoint_named(name)
            && REFUSED.fetch_add(1, Ordering::Relaxed) < times
    }
    #[cfg(not(feature = "failpoints"))]
    {
        let _ = (name, times);
        false
    }
}

/// A new 64-bit id each call, unpredictable enough to keep two runs' or two stores' ids apart:
/// the std hasher's per-process random keys over the time and the process id.
pub(crate) fn random_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}
