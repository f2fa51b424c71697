//! `laptime ingest`: an HTTP front for everything that is not a laptime process.
pub mod batch;
pub mod error;
pub mod json;
pub mod time;

pub use batch::IngestBatch;
pub use error::{BadInput, Error};
