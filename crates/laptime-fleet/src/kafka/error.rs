//! The one error type of the Kafka transport. Every variant names the broker list and topic involved
//! (and the partition or group where there is one), so a log line alone says where to look.

use std::time::Duration;

use rdkafka::error::KafkaError;

/// What went wrong talking to Kafka.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting was rejected when the client was created (bad value, unknown name, empty broker list).
    #[error(
        "Kafka client for topic {topic} on brokers {brokers}: rejected configuration: {source}"
    )]
    Config {
        brokers: String,
        topic: String,
        #[source]
        source: Box<KafkaError>,
    },
    /// The startup check got no metadata from any broker of the list within its deadline.
    #[error("no Kafka broker of {brokers} answered a metadata request for topic {topic} within {timeout:?}: {source}")]
    Unreachable {
        brokers: String,
        topic: String,
        timeout: Duration,
        #[source]
        source: Box<KafkaError>,
    },
    /// A broker answered, but the topic is missing or not usable (no partitions, no leaders) by the deadline.
    #[error("Kafka topic {topic} on brokers {brokers} is not usable after {timeout:?}: {detail}")]
    Topic {
        brokers: String,
        topic: String,
        timeout: Duration,
        detail: String,
    },
    /// Creating a topic failed (admin request refused or timed out).
    #[error("creating Kafka topic {topic} on brokers {brokers} failed: {detail}")]
    CreateTopic {
        brokers: String,
        topic: String,
        detail: String,
    },
    /// The producer refused a message before it was queued (too large, or the local queue stayed full
    /// for the whole delivery timeout). Nothing was sent.
    #[error("message for Kafka topic {topic} on brokers {brokers} was not queued: {source}")]
    Enqueue {
        brokers: String,
        topic: String,
        #[source]
        source: Box<KafkaError>,
    },
    /// Kafka reported a definitive failure for one message: it is NOT acknowledged and may or may not be
    /// in the log (for example after a timeout); the caller must send it again or give up on it.
    #[error("message to Kafka topic {topic} partition {partition} on brokers {brokers} failed: {source}")]
    Delivery {
        brokers: String,
        topic: String,
        /// -1 when no partition had been chosen yet.
        partition: i32,
        #[source]
        source: Box<KafkaError>,
    },
    /// No delivery report arrived within the delivery timeout plus a margin. The outcome is unknown;
    /// treat the message as not acknowledged.
    #[error("no delivery report for a message to Kafka topic {topic} on brokers {brokers} after {waited:?} (outcome unknown, not acknowledged)")]
    NoDeliveryReport {
        brokers: String,
        topic: String,
        waited: Duration,
    },
    /// The idempotent producer hit a fatal error; it cannot send anything more and must be re-created.
    #[error("Kafka producer for topic {topic} on brokers {brokers} failed fatally: {reason}")]
    Fatal {
        brokers: String,
        topic: String,
        reason: String,
    },
    /// `flush` did not see every queued message reported within its timeout.
    #[error("flushing the Kafka producer for topic {topic} on brokers {brokers}: {source}")]
    Flush {
        brokers: String,
        topic: String,
        #[source]
        source: Box<KafkaError>,
    },
    /// Subscribing, polling or reading the assignment of a consumer failed.
    #[error("Kafka consumer of group {group} for topic {topic} on brokers {brokers}: {source}")]
    Consume {
        brokers: String,
        topic: String,
        group: String,
        #[source]
        source: Box<KafkaError>,
    },
    /// A commit was refused (for example because the partition was revoked meanwhile). Nothing about
    /// the listed offsets may be assumed committed.
    #[error("committing offsets {offsets:?} (partition, next offset) of Kafka topic {topic} for group {group} on brokers {brokers} failed: {source}")]
    Commit {
        brokers: String,
        topic: String,
        group: String,
        offsets: Vec<(i32, i64)>,
        #[source]
        source: Box<KafkaError>,
    },
    /// The caller passed an offset that cannot be committed (negative).
    #[error("cannot commit offset {offset} for partition {partition} of Kafka topic {topic} (group {group}, brokers {brokers}): offsets to commit are next-to-read positions >= 0")]
    BadOffset {
        brokers: String,
        topic: String,
        group: String,
        partition: i32,
        offset: i64,
    },
}
