//! The shipper's producer: idempotent, `acks=all`, one delivery outcome per message.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Header, Message as _, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer as _, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

use super::{connect_checked, Error, DEFAULT_MAX_MESSAGE_BYTES};

/// Batch compression. Both are done by librdkafka per batch, so a few large messages compress well.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    None,
    Lz4,
    Zstd,
}

impl Compression {
    fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// Producer settings. [`ProducerConfig::new`] gives the fleet's defaults; the fields exist for
/// measurements and tests, `overrides` for anything else librdkafka accepts (applied last).
#[derive(Clone, Debug)]
pub struct ProducerConfig {
    /// Bootstrap list, `host:port,host:port`.
    pub brokers: String,
    pub topic: String,
    pub compression: Compression,
    /// `linger.ms`: how long a partition's batch may wait to fill.
    pub linger: Duration,
    /// `batch.size`: bytes per partition batch (one request carries one batch per partition).
    pub batch_bytes: usize,
    /// `message.max.bytes`: the largest message; the topic must allow it too ([`super::TopicSpec`]).
    pub max_message_bytes: usize,
    /// `queue.buffering.max.kbytes` (in bytes): memory for messages not yet acknowledged. When it is
    /// full, `send` waits (bounded by `delivery_timeout`) instead of growing without limit.
    pub queue_max_bytes: usize,
    /// `message.timeout.ms`: after this, a message that was not acknowledged is reported as failed.
    pub delivery_timeout: Duration,
    /// Deadline of the startup check (topic metadata from some broker).
    pub startup_timeout: Duration,
    pub overrides: Vec<(String, String)>,
}

impl ProducerConfig {
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        ProducerConfig {
            brokers: brokers.into(),
            topic: topic.into(),
            compression: Compression::Lz4,
            linger: Duration::from_millis(5),
            batch_bytes: 4 * 1024 * 1024,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            queue_max_bytes: 256 * 1024 * 1024,
            delivery_timeout: Duration::from_secs(60),
            startup_timeout: Duration::from_secs(10),
            overrides: Vec::new(),
        }
    }

    fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", "laptime-ship")
            // Exactly one copy per send in the log, in send order per partition, across retries.
            .set("enable.idempotence", "true")
            .set("acks", "all")
            // The most idempotence allows while keeping order; bounds requests in flight per broker.
            .set("max.in.flight.requests.per.connection", "5")
            // Java's partitioner: a key maps to the same partition from every client of the fleet.
            .set("partitioner", "murmur2_random")
            // Topics are created on purpose (create_topic), not by a typo with broker defaults.
            .set("allow.auto.create.topics", "false")
            .set("compression.type", self.compression.name())
            .set("linger.ms", self.linger.as_millis().to_string())
            .set("batch.size", self.batch_bytes.to_string())
            .set("message.max.bytes", self.max_message_bytes.to_string())
            .set(
                "queue.buffering.max.kbytes",
                (self.queue_max_bytes / 1024).max(1).to_string(),
            )
            .set(
                "message.timeout.ms",
                self.delivery_timeout.as_millis().to_string(),
            );
        for (k, v) in &self.overrides {
            c.set(k, v);
        }
        c
    }
}

/// One message to send. Messages with equal keys go to the same partition, in the order sent.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    pub key: &'a [u8],
    pub payload: &'a [u8],
    pub headers: &'a [(&'a str, &'a [u8])],
}

/// Where Kafka stored an acknowledged message: replicated to `min.insync.replicas` brokers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ack {
    pub partition: i32,
    pub offset: i64,
}

enum Outcome {
    Acked(Ack),
    Failed(i32, KafkaError),
    Refused(Error),
}

/// Delivery outcomes of one `send`/`send_all`, filled by librdkafka's delivery reports.
struct Batch {
    state: Mutex<BatchState>,
    done: Condvar,
}

struct BatchState {
    outcomes: Vec<Option<Outcome>>,
    pending: usize,
}

impl Batch {
    fn new(n: usize) -> Arc<Batch> {
        Arc::new(Batch {
            state: Mutex::new(BatchState {
                outcomes: (0..n).map(|_| None).collect(),
                pending: n,
            }),
            done: Condvar::new(),
        })
    }

    fn complete(&self, index: usize, outcome: Outcome) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = s.outcomes.get_mut(index) {
            if slot.is_none() {
                *slot = Some(outcome);
                s.pending -= 1;
                if s.pending == 0 {
                    self.done.notify_all();
                }
            }
        }
    }
}

/// The delivery opaque: which outcome slot a report fills.
struct Slot {
    batch: Arc<Batch>,
    index: usize,
}

struct ShipContext;

impl ClientContext for ShipContext {}

impl ProducerContext for ShipContext {
    type DeliveryOpaque = Box<Slot>;

    // Runs on the producer's polling thread (rdkafka's ThreadedProducer).
    fn delivery(&self, result: &DeliveryResult<'_>, slot: Box<Slot>) {
        let outcome = match result {
            Ok(m) => Outcome::Acked(Ack {
                partition: m.partition(),
                offset: m.offset(),
            }),
            Err((e, m)) => Outcome::Failed(m.partition(), e.clone()),
        };
        slot.batch.complete(slot.index, outcome);
    }
}

struct Shared {
    producer: ThreadedProducer<ShipContext>,
    brokers: String,
    topic: String,
    delivery_timeout: Duration,
}

/// An idempotent `acks=all` producer for one topic.
///
/// Guarantees: a message is reported acknowledged ([`Ack`]) only after every in-sync replica
/// (at least the topic's `min.insync.replicas`) has it; retries never duplicate or reorder it within
/// its partition; every message gets exactly one outcome, an `Ack` or an [`Error`], within
/// `delivery_timeout` (plus a margin for the report itself).
///
/// `Producer` is `Send + Sync`; sends from several threads interleave per partition in call order.
/// Dropping it waits up to 5 s for queued messages (a flush); what is still queued after the last
/// handle ([`Delivery`], [`Deliveries`]) is gone is purged and reported as failed.
pub struct Producer {
    shared: Arc<Shared>,
}

/// The pending outcome of one message; [`Delivery::wait`] blocks until it is known.
pub struct Delivery {
    inner: Deliveries,
}

/// The pending outcomes of many messages sent back to back (pipelined).
pub struct Deliveries {
    batch: Arc<Batch>,
    // Keeps the producer (and its polling thread) alive until the reports are in.
    shared: Arc<Shared>,
    sent_at: Instant,
}

impl Producer {
    /// Create the producer and run the startup check: fail with [`Error::Unreachable`] or
    /// [`Error::Topic`] if the topic's metadata is not available within `startup_timeout`.
    pub fn connect(config: &ProducerConfig) -> Result<Producer, Error> {
        let producer: ThreadedProducer<ShipContext> = connect_checked(
            &config.client_config(),
            ShipContext,
            &config.brokers,
            &config.topic,
            config.startup_timeout,
            |p: &ThreadedProducer<ShipContext>| p.client(),
        )?;
        Ok(Producer {
            shared: Arc::new(Shared {
                producer,
                brokers: config.brokers.clone(),
                topic: config.topic.clone(),
                delivery_timeout: config.delivery_timeout,
            }),
        })
    }

    pub fn topic(&self) -> &str {
        &self.shared.topic
    }

    pub fn brokers(&self) -> &str {
        &self.shared.brokers
    }

    /// Queue one message. Errors here mean it was not queued; otherwise the outcome comes from
    /// [`Delivery::wait`].
    pub fn send(&self, record: &Record<'_>) -> Result<Delivery, Error> {
        let batch = Batch::new(1);
        self.enqueue(&batch, 0, record)?;
        Ok(Delivery {
            inner: self.deliveries(batch),
        })
    }

    /// Queue many messages back to back without waiting for any acknowledgement (throughput), and
    /// return their outcomes in the same order. A message that cannot be queued gets its error as
    /// its outcome; the others are still sent.
    pub fn send_all<'r>(&self, records: &[Record<'r>]) -> Deliveries {
        let batch = Batch::new(records.len());
        for (i, record) in records.iter().enumerate() {
            if let Err(e) = self.enqueue(&batch, i, record) {
                batch.complete(i, Outcome::Refused(e));
            }
        }
        self.deliveries(batch)
    }

    /// Wait until every queued message has its outcome (or `timeout` passes).
    pub fn flush(&self, timeout: Duration) -> Result<(), Error> {
        self.shared
            .producer
            .flush(timeout)
            .map_err(|source| Error::Flush {
                brokers: self.shared.brokers.clone(),
                topic: self.shared.topic.clone(),
                source: Box::new(source),
            })
    }

    /// Messages queued or in flight, not yet reported.
    pub fn in_flight(&self) -> usize {
        usize::try_from(self.shared.producer.in_flight_count()).unwrap_or(0)
    }

    fn deliveries(&self, batch: Arc<Batch>) -> Deliveries {
        Deliveries {
            batch,
            shared: Arc::clone(&self.shared),
            sent_at: Instant::now(),
        }
    }

    fn fatal(&self) -> Option<Error> {
        self.shared
            .producer
            .client()
            .fatal_error()
            .map(|(code, reason)| Error::Fatal {
                brokers: self.shared.brokers.clone(),
                topic: self.shared.topic.clone(),
                reason: format!("{code}: {reason}"),
            })
    }

    fn enqueue(&self, batch: &Arc<Batch>, index: usize, record: &Record<'_>) -> Result<(), Error> {
        if let Some(e) = self.fatal() {
            return Err(e);
        }
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for (name, value) in record.headers {
            headers = headers.insert(Header {
                key: name,
                value: Some(*value),
            });
        }
        let slot = Box::new(Slot {
            batch: Arc::clone(batch),
            index,
        });
        let mut rec = BaseRecord::with_opaque_to(&self.shared.topic, slot)
            .key(record.key)
            .payload(record.payload)
            .headers(headers);
        let deadline = Instant::now() + self.shared.delivery_timeout;
        loop {
            match self.shared.producer.send(rec) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if Instant::now() < deadline =>
                {
                    // The bounded local queue is full: wait for acknowledgements to free it.
                    rec = back;
                    thread::sleep(Duration::from_millis(1));
                }
                Err((source, _)) => {
                    return Err(self.fatal().unwrap_or(Error::Enqueue {
                        brokers: self.shared.brokers.clone(),
                        topic: self.shared.topic.clone(),
                        source: Box::new(source),
                    }))
                }
            }
        }
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        // Give queued messages a chance to be delivered; what remains is purged by librdkafka and
        // reported as failed to any `Deliveries` still waiting.
        let _ = self.shared.producer.flush(Duration::from_secs(5));
    }
}

impl Delivery {
    /// The message's acknowledged place, or its definitive failure.
    pub fn wait(self) -> Result<Ack, Error> {
        let missing = Error::NoDeliveryReport {
            brokers: self.inner.shared.brokers.clone(),
            topic: self.inner.shared.topic.clone(),
            waited: self.inner.waited(),
        };
        self.inner.wait().pop().unwrap_or(Err(missing))
    }

    /// True once the outcome is known (`wait` will not block).
    pub fn is_done(&self) -> bool {
        self.inner.is_done()
    }
}

impl Deliveries {
    pub fn len(&self) -> usize {
        self.lock().outcomes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once every message has its outcome (`wait` will not block).
    pub fn is_done(&self) -> bool {
        self.lock().pending == 0
    }

    /// Block until every message has its outcome; results are in send order.
    pub fn wait(self) -> Vec<Result<Ack, Error>> {
        let waited = self.waited();
        let deadline = self.sent_at + waited;
        let mut s = self.lock();
        while s.pending > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            s = self
                .batch
                .done
                .wait_timeout(s, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let shared = &self.shared;
        s.outcomes
            .iter_mut()
            .map(|o| match o.take() {
                Some(Outcome::Acked(ack)) => Ok(ack),
                Some(Outcome::Failed(partition, source)) => Err(Error::Delivery {
                    brokers: shared.brokers.clone(),
                    topic: shared.topic.clone(),
                    partition,
                    source: Box::new(source),
                }),
                Some(Outcome::Refused(e)) => Err(e),
                None => Err(Error::NoDeliveryReport {
                    brokers: shared.brokers.clone(),
                    topic: shared.topic.clone(),
                    waited,
                }),
            })
            .collect()
    }

    /// librdkafka reports every message within message.timeout.ms; the margin covers the report's
    /// own way back. Past it the outcome is unknown and reported as such, never as acknowledged.
    fn waited(&self) -> Duration {
        self.shared.delivery_timeout + Duration::from_secs(30)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BatchState> {
        self.batch
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
