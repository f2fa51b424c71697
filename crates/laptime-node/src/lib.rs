//! laptime-node: the Node.js binding of `laptime-core`, built with napi-rs.
//!
//! It translates types and nothing more: JS options to [`laptime_core::Options`], struct-of-arrays
//! typed arrays to a [`laptime_core::Batch`], core results to plain JS objects, core errors to JS
//! Errors carrying the core's message and its stable code (`err.code`). Everything that can block (flush, queries, close) runs as an
//! async task on the libuv thread pool and returns a Promise.
//!
//! One module per concern:
//! - [`store`]: the `NativeStore` class and its flush/close tasks;
//! - [`reader`]: the `NativeReader` class, read-only access for tools;
//! - [`export`]: events to a Parquet file;
//! - [`maintenance`]: verifying checksums file by file, compacting and expiring idle partitions;
//! - [`postmortem`]: post-mortems: writing (async and sync), reading, importing;
//! - [`source`]: a store or a reader, where read tasks take their read view;
//! - [`options`]: `NativeOptions` to core options, errors naming the option as JS spells it;
//! - [`batch`]: the columns of one `append` call to a core batch;
//! - [`time`]: JS milliseconds (performance.timeOrigin + performance.now()) to epoch nanoseconds;
//! - [`fields`]: the columns of fields and messages of one batch;
//! - [`query`]: query and events requests, their tasks, filter parsing;
//! - [`answer`]: a query's answer and execution figures for JS, in flat columns (key cells packed);
//! - [`histogram`]: latency histogram requests, results and their task;
//! - [`analysis`]: anomaly and two-range comparison requests, results and tasks;
//! - [`counters`]: the event counters;
//! - [`errors`]: core errors and malformed input as JS errors with `code`.

// The crate documents its private modules for maintainers (`cargo doc --document-private-items`).
#![allow(rustdoc::private_intra_doc_links)]
// Nothing that data can reach may panic across the FFI boundary (tests may unwrap).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod analysis;
mod answer;
mod batch;
mod counters;
mod errors;
mod export;
mod fields;
mod histogram;
mod maintenance;
mod options;
mod postmortem;
mod query;
mod reader;
mod slots;
mod source;
mod store;
mod time;
