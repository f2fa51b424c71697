//! `laptime ingest`: the HTTP front for everything that is not a laptime process. It takes calls
//! and log lines as JSON or NDJSON (`POST /v1/events`, see [`json`]) and OpenTelemetry traces over
//! OTLP/HTTP (`POST /v1/traces`, protobuf or JSON, see [`otlp`]), checks every event as a laptime
//! store would, and hands each request whole to a [`Sink`] (Kafka in the fleet), answering 2xx
//! only once the sink acknowledged it. Bad input is refused whole with a 4xx JSON body
//! `{"error": "...", "at": "..."}` naming the field and where; nothing of it reaches the sink.
//! See [`server`] for the order of the checks and [`limits`] for the limits.

pub mod batch;
pub mod error;
pub mod json;
pub mod limits;
pub mod otlp;
pub mod server;
pub mod sink;
pub mod time;

pub use batch::IngestBatch;
pub use error::{BadInput, Error};
pub use limits::{Limits, RateLimit};
pub use server::{IngestConfig, IngestServer};
pub use sink::{MemorySink, Sink, SinkError};
