//! Topic creation with the settings the fleet relies on (replication, min.insync.replicas, large
//! messages). Idempotent: an existing topic is left as it is.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::types::RDKafkaErrorCode;

use super::{await_topic, Error, DEFAULT_MAX_MESSAGE_BYTES};

/// A topic to create. `replication` 3 with `min_insync_replicas` 2 is what the fleet runs with: an
/// `acks=all` write then survives the loss of any one broker and keeps being accepted while one is down.
#[derive(Clone, Debug)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    pub replication: i32,
    /// `None` keeps the broker default.
    pub min_insync_replicas: Option<i32>,
    /// Topic-level `max.message.bytes`; must be at least the producer's `max_message_bytes`.
    pub max_message_bytes: usize,
}

impl TopicSpec {
    pub fn new(name: impl Into<String>, partitions: i32, replication: i32) -> Self {
        TopicSpec {
            name: name.into(),
            partitions,
            replication,
            min_insync_replicas: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

/// Create `spec` on `brokers` unless it exists, then wait until every partition has a leader.
/// Returns `true` when this call created it.
pub fn create_topic(brokers: &str, spec: &TopicSpec, timeout: Duration) -> Result<bool, Error> {
    let fail = |detail: String| Error::CreateTopic {
        brokers: brokers.to_owned(),
        topic: spec.name.clone(),
        detail,
    };
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .map_err(|source| Error::Config {
            brokers: brokers.to_owned(),
            topic: spec.name.clone(),
            source: Box::new(source),
        })?;
    let min_isr = spec.min_insync_replicas.map(|n| n.to_string());
    let max_bytes = spec.max_message_bytes.to_string();
    let mut new = NewTopic::new(
        &spec.name,
        spec.partitions,
        TopicReplication::Fixed(spec.replication),
    )
    .set("max.message.bytes", &max_bytes);
    if let Some(n) = &min_isr {
        new = new.set("min.insync.replicas", n);
    }
    let opts = AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout));
    let results = futures_executor::block_on(admin.create_topics([&new], &opts))
        .map_err(|e| fail(e.to_string()))?;
    let mut created = false;
    for result in results {
        match result {
            Ok(_) => created = true,
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(fail(code.to_string())),
        }
    }
    await_topic(admin.inner(), brokers, &spec.name, timeout)?;
    Ok(created)
}
