//! The store's event counters as a plain JS object.

use laptime_core::CounterSnapshot;
use napi_derive::napi;

/// Event counters of the store (see the core's `CounterSnapshot`). Numbers are exact up to 2^53.
#[napi(object)]
pub struct NativeCounters {
    /// Events that entered the ring.
    pub accepted: f64,
    /// Events refused because the ring was full or the writer had stopped.
    pub dropped: f64,
    /// Events accepted but thrown away because the writer stopped for good while the disk failed.
    pub discarded: f64,
    /// Events the writer had taken but could not keep after a write or sync failure.
    pub lost: f64,
    /// Events written to the WAL.
    pub written: f64,
    /// Events known to be on stable storage.
    pub durable: f64,
    /// Events in sealed pages.
    pub sealed: f64,
    /// Bytes of this writer's files on disk.
    pub bytes_on_disk: f64,
    /// Invalid events refused at the hand-over (their valid neighbours were kept).
    pub rejected: f64,
}

impl From<CounterSnapshot> for NativeCounters {
    fn from(c: CounterSnapshot) -> NativeCounters {
        NativeCounters {
            accepted: c.accepted as f64,
            dropped: c.dropped as f64,
            discarded: c.discarded as f64,
            lost: c.lost as f64,
            written: c.written as f64,
            durable: c.durable as f64,
            sealed: c.sealed as f64,
            bytes_on_disk: c.bytes_on_disk as f64,
            rejected: c.rejected as f64,
        }
    }
}
