//! Where accepted requests go: a [`Sink`] acknowledges a whole [`IngestBatch`] or fails. The
//! fleet's sink produces to Kafka; [`MemorySink`] keeps batches in memory (tests, benchmarks).

use std::fmt;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use super::batch::IngestBatch;

/// Downstream of the ingest. `send` resolves `Ok` only once the whole batch is acknowledged
/// (durably accepted downstream); the client gets its 2xx only then.
pub trait Sink: Send + Sync + 'static {
    /// Hand over one request's events.
    fn send(&self, batch: IngestBatch) -> impl Future<Output = Result<(), SinkError>> + Send;
}

/// A batch the sink did not acknowledge: the client gets a 503 with this message and
/// `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkError {
    /// What went wrong downstream (e.g. "kafka: 2 of 3 brokers unreachable").
    pub message: String,
    /// When the client should try again.
    pub retry_after: Duration,
}

impl SinkError {
    /// A failure the client may retry after `retry_after`.
    pub fn new(message: impl Into<String>, retry_after: Duration) -> SinkError {
        SinkError {
            message: message.into(),
            retry_after,
        }
    }
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SinkError {}

/// A sink that keeps every batch in memory and acknowledges at once.
#[derive(Debug, Default)]
pub struct MemorySink {
    batches: Mutex<Vec<IngestBatch>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> MemorySink {
        MemorySink::default()
    }

    /// The batches received so far, oldest first, leaving the sink empty.
    pub fn take(&self) -> Vec<IngestBatch> {
        std::mem::take(&mut *self.batches.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Number of events received so far.
    pub fn events(&self) -> usize {
        self.batches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(IngestBatch::len)
            .sum()
    }
}

impl Sink for MemorySink {
    async fn send(&self, batch: IngestBatch) -> Result<(), SinkError> {
        self.batches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(batch);
        Ok(())
    }
}
