//! laptime-core: an embedded, compressed, crash-safe columnar store for function timings and logs.

#![forbid(unsafe_op_in_unsafe_fn)]

mod durable;
pub mod encoding;
mod error;
mod record_log;
pub mod sketch;
pub mod workload;

pub use error::{DecodeError, Error, Result};
