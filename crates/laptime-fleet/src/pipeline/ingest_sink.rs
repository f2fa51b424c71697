//! The ingest's Kafka sink: each accepted request becomes one message of pages (the same format a
//! shipper sends), from a source id of its own (`ingest-<random>`, new each start) with
//! consecutive seqs, so indexers store it like shipped events and drop copies of a message Kafka
//! delivers twice. The seq range is taken and the message queued under one lock: messages of the
//! source reach Kafka in seq order (an indexer refuses a range below what it stored).

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use laptime_storage::ship::encode_batch_message;

use super::HEADER_SOURCE;
use crate::ingest::{IngestBatch, Sink, SinkError};
use crate::kafka::{Producer, Record};

/// Events per page of an ingest message (the store's default page size).
const PAGE_ROWS: usize = 65_536;
/// What a client is told to wait before trying again when Kafka did not acknowledge.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// Produces every accepted request to Kafka and acknowledges it once Kafka did.
pub struct KafkaSink {
    producer: Producer,
    source: String,
    /// The next seq of this source; held while a message is queued.
    next_seq: Mutex<u64>,
}

impl KafkaSink {
    /// A sink producing through `producer`, as a new source.
    pub fn new(producer: Producer) -> KafkaSink {
        // A fresh id per start: seqs restart at 0, and must not be taken for an earlier run's.
        KafkaSink {
            producer,
            source: format!("ingest-{:016x}", super::random_id()),
            next_seq: Mutex::new(0),
        }
    }

    /// The source id its messages carry.
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl Sink for KafkaSink {
    async fn send(&self, batch: IngestBatch) -> Result<(), SinkError> {
        if batch.is_empty() {
            return Ok(());
        }
        let fail = |what: String| SinkError::new(what, RETRY_AFTER);
        let delivery = {
            let mut next = self.next_seq.lock().unwrap_or_else(PoisonError::into_inner);
            let mut message = Vec::new();
            encode_batch_message(
                &self.source,
                *next,
                &batch.names,
                &batch.batch,
                PAGE_ROWS,
                &mut message,
            )
            .map_err(|e| fail(format!("encoding the request's events: {e}")))?;
            let headers = [(HEADER_SOURCE, self.source.as_bytes())];
            let delivery = self
                .producer
                .send(&Record {
                    key: self.source.as_bytes(),
                    payload: &message,
                    headers: &headers,
                })
                .map_err(|e| fail(format!("kafka: {e}")))?;
            // Queued: the range is used whether or not Kafka acknowledges it (a gap is allowed).
            *next += batch.len() as u64;
            delivery
        };
        tokio::task::spawn_blocking(move || delivery.wait())
            .await
            .map_err(|e| fail(format!("waiting for Kafka: {e}")))?
            .map(|_| ())
            .map_err(|e| fail(format!("kafka: {e}")))
    }
}
