//! laptime-query: what laptime answers about stored events. The filter language and the one
//! duration and time grammar (`filter`), the query engine with mergeable partial results
//! (`query`), event listing, anomaly and regression analysis
//! (`analysis`), and Parquet export. It reads through `laptime-storage`'s [`View`] and never the
//! other way round; most users depend on `laptime-core`, which re-exports it.

#![forbid(unsafe_code)]

pub mod analysis;
#[cfg(feature = "parquet")]
pub mod export;
pub mod filter;
pub mod query;

pub use laptime_storage::View;
pub use query::Queries;
