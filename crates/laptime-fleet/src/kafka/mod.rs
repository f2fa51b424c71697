//! Kafka plumbing for the fleet: a [`Producer`] for shippers, a group [`Consumer`] for indexers, a
//! startup check shared by both, and [`create_topic`] for setting up a topic with the settings the
//! fleet needs. Payloads are opaque bytes here; their format belongs to the callers.

mod admin;
mod consumer;
mod error;
mod producer;

use std::thread;
use std::time::{Duration, Instant};

use rdkafka::client::{Client, ClientContext};
use rdkafka::types::RDKafkaErrorCode;

pub use admin::{create_topic, TopicSpec};
pub use consumer::{
    Committer, Consumer, ConsumerConfig, Marked, Message, PartitionLag, Polled, RebalanceHandler,
};
pub use error::Error;
pub use producer::{Ack, Compression, Deliveries, Delivery, Producer, ProducerConfig, Record};

/// Largest message (after compression) the fleet's topics and clients accept by default: a batch of
/// ~10k events is well below it; Kafka's own default (1 MB) is too tight for shipping pages.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// A client made from `config` (a refused setting is [`Error::Config`]) that passed the startup
/// check ([`await_topic`]): the producer and the consumer start the same way.
pub(crate) fn connect_checked<T, C>(
    config: &rdkafka::ClientConfig,
    context: C,
    brokers: &str,
    topic: &str,
    startup_timeout: Duration,
    client: fn(&T) -> &Client<C>,
) -> Result<T, Error>
where
    C: ClientContext,
    T: rdkafka::config::FromClientConfigAndContext<C>,
{
    let made: T = config
        .create_with_context(context)
        .map_err(|source| Error::Config {
            brokers: brokers.to_owned(),
            topic: topic.to_owned(),
            source: Box::new(source),
        })?;
    await_topic(client(&made), brokers, topic, startup_timeout)?;
    Ok(made)
}

/// Wait until `topic` has metadata with every partition led by a broker, or fail at `timeout`.
/// Returns the number of partitions. Distinguishes "no broker answered" ([`Error::Unreachable`]) from
/// "a broker answered but the topic is not usable" ([`Error::Topic`]).
pub(crate) fn await_topic<C: ClientContext>(
    client: &Client<C>,
    brokers: &str,
    topic: &str,
    timeout: Duration,
) -> Result<usize, Error> {
    let deadline = Instant::now() + timeout;
    // Set once some broker answered: from then on, failing means the topic, not the brokers.
    let mut problem: Option<String> = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match client.fetch_metadata(Some(topic), left) {
            Err(source) => {
                if Instant::now() >= deadline && problem.is_none() {
                    return Err(Error::Unreachable {
                        brokers: brokers.to_owned(),
                        topic: topic.to_owned(),
                        timeout,
                        source: Box::new(source),
                    });
                }
            }
            Ok(md) => {
                problem = Some(match md.topics().iter().find(|t| t.name() == topic) {
                    None => "the brokers' metadata does not list it".to_owned(),
                    Some(t) => {
                        if let Some(err) = t.error() {
                            RDKafkaErrorCode::from(err).to_string()
                        } else if t.partitions().is_empty() {
                            "it has no partitions".to_owned()
                        } else if let Some(p) = t.partitions().iter().find(|p| p.leader() < 0) {
                            format!("partition {} has no leader", p.id())
                        } else {
                            return Ok(t.partitions().len());
                        }
                    }
                });
            }
        }
        if Instant::now() >= deadline {
            return Err(Error::Topic {
                brokers: brokers.to_owned(),
                topic: topic.to_owned(),
                timeout,
                detail: problem.unwrap_or_else(|| "no usable metadata".to_owned()),
            });
        }
        // Topics just created take a moment to get leaders; brokers just started a moment to answer.
        thread::sleep(left.min(Duration::from_millis(100)));
    }
}
