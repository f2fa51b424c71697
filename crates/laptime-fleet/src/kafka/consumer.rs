//! The indexer's consumer: a consumer-group member that commits only what the caller says is durable.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message as _};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::{connect_checked, Error, DEFAULT_MAX_MESSAGE_BYTES};

/// Consumer settings. [`ConsumerConfig::new`] gives the fleet's defaults; `overrides` are applied last.
#[derive(Clone, Debug)]
pub struct ConsumerConfig {
    /// Bootstrap list, `host:port,host:port`.
    pub brokers: String,
    /// Consumer group: members share the topic's partitions and its committed offsets.
    pub group: String,
    pub topic: String,
    /// `group.instance.id`: a static member's stable name. A static member that leaves (or dies)
    /// and comes back under the same name within `session_timeout` gets its partitions back
    /// without a rebalance. `None`: a dynamic member (a new identity on every start).
    pub instance: Option<String>,
    /// `session.timeout.ms`: how long a silent (crashed) member keeps its partitions.
    pub session_timeout: Duration,
    /// `max.partition.fetch.bytes`: bytes fetched per partition per request.
    pub partition_fetch_bytes: usize,
    /// Deadline of the startup check (topic metadata from some broker).
    pub startup_timeout: Duration,
    pub overrides: Vec<(String, String)>,
}

impl ConsumerConfig {
    pub fn new(
        brokers: impl Into<String>,
        group: impl Into<String>,
        topic: impl Into<String>,
    ) -> Self {
        ConsumerConfig {
            brokers: brokers.into(),
            group: group.into(),
            topic: topic.into(),
            instance: None,
            session_timeout: Duration::from_secs(10),
            partition_fetch_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            startup_timeout: Duration::from_secs(10),
            overrides: Vec::new(),
        }
    }

    /// Make this a static member named `id`, with a 30 s session: long enough for a killed member
    /// to be restarted and take its partitions back, short enough that a member gone for good
    /// hands them over in half a minute.
    pub fn static_member(mut self, id: impl Into<String>) -> Self {
        self.instance = Some(id.into());
        self.session_timeout = Duration::from_secs(30);
        self
    }

    fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", "laptime-index")
            .set("group.id", &self.group)
            // Offsets move only through `commit`, after the caller made the data durable.
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            // A new group starts at the oldest retained message: nothing shipped is skipped.
            .set("auto.offset.reset", "earliest")
            // Topics are created on purpose (create_topic), not by a typo with broker defaults.
            .set("allow.auto.create.topics", "false")
            // Eager assignment: every rebalance revokes everything (each member commits what it
            // stored) and assigns anew. librdkafka 2.12's cooperative-sticky with static members
            // left a joining member with no partitions, and moved partitions with uncommitted
            // events, in 2 of 5 runs of tests/indexer_restart.rs; eager passed 5 of 5.
            .set("partition.assignment.strategy", "range")
            .set(
                "session.timeout.ms",
                self.session_timeout.as_millis().to_string(),
            )
            .set(
                "max.partition.fetch.bytes",
                self.partition_fetch_bytes.to_string(),
            );
        if let Some(id) = &self.instance {
            c.set("group.instance.id", id);
        }
        for (k, v) in &self.overrides {
            c.set(k, v);
        }
        c
    }
}

/// One consumed message (copied out of librdkafka's buffers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    /// In the order they were sent; a null header value reads as empty.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Message {
    /// `(partition, offset + 1)`: what to pass to [`Consumer::commit`] once this message (and every
    /// earlier one of its partition) is durable.
    pub fn next_offset(&self) -> (i32, i64) {
        (self.partition, self.offset + 1)
    }
}

/// What [`Consumer::poll`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Polled {
    Message(Message),
    /// These partitions were added to this member's assignment.
    Assigned(Vec<i32>),
    /// These partitions were taken away (after [`RebalanceHandler::revoking`] ran): drop any state
    /// kept for them and do not commit them any more (another member owns them now; Kafka's classic
    /// group protocol may still accept such a commit and move the new owner's offset).
    Revoked(Vec<i32>),
    /// A non-fatal client error (a broker went down, a connection dropped, a fetch failed), as text
    /// naming brokers, topic and group. librdkafka reconnects and retries by itself; log it and keep
    /// polling. Fatal errors come as `Err` instead.
    Transient(String),
}

/// Called by the consumer during a rebalance.
///
/// Both methods run on the thread that called [`Consumer::poll`] (or dropped the [`Consumer`]),
/// inside that call: do not hold a lock across `poll` that these methods need. The rebalance waits
/// for them, so they should finish promptly (well within `max.poll.interval.ms`).
pub trait RebalanceHandler: Send + Sync {
    /// `partitions` are about to be taken from this member. Make what was processed for them durable
    /// and commit it through `committer` now; after this returns, another member resumes from their
    /// last committed offsets, and this member must not commit them any more. When `committer.assignment_lost()` is true
    /// the group already gave them away (this member was too slow or cut off) and commits will fail.
    fn revoking(&self, partitions: &[i32], committer: &Committer<'_>) {
        let _ = (partitions, committer);
    }

    /// `partitions` were added to this member's assignment.
    fn assigned(&self, partitions: &[i32]) {
        let _ = partitions;
    }
}

struct Names {
    brokers: String,
    topic: String,
    group: String,
}

/// Commits from inside [`RebalanceHandler::revoking`].
pub struct Committer<'a> {
    consumer: &'a BaseConsumer<GroupContext>,
    names: &'a Names,
}

impl Committer<'_> {
    /// Same contract as [`Consumer::commit`].
    pub fn commit(&self, offsets: &[(i32, i64)]) -> Result<(), Error> {
        commit(self.consumer, self.names, &unmarked(offsets))
    }

    /// Same contract as [`Consumer::commit_marked`].
    pub fn commit_marked(&self, offsets: &[Marked]) -> Result<(), Error> {
        commit(self.consumer, self.names, offsets)
    }

    /// True when the partitions being revoked were already lost (commits for them will fail).
    pub fn assignment_lost(&self) -> bool {
        self.consumer.assignment_lost()
    }
}

struct GroupContext {
    names: Arc<Names>,
    handler: Option<Arc<dyn RebalanceHandler>>,
    events: Mutex<VecDeque<Polled>>,
}

impl GroupContext {
    fn partitions(&self, tpl: &TopicPartitionList) -> Vec<i32> {
        let mut v: Vec<i32> = tpl
            .elements_for_topic(&self.names.topic)
            .iter()
            .map(|e| e.partition())
            .collect();
        v.sort_unstable();
        v
    }

    fn push(&self, event: Polled) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(event);
    }
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    // rdkafka calls these from BaseConsumer::poll, i.e. on the caller's polling thread.
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let (Rebalance::Revoke(tpl), Some(h)) = (rebalance, &self.handler) {
            let parts = self.partitions(tpl);
            h.revoking(
                &parts,
                &Committer {
                    consumer,
                    names: &self.names,
                },
            );
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let parts = self.partitions(tpl);
                if let Some(h) = &self.handler {
                    h.assigned(&parts);
                }
                self.push(Polled::Assigned(parts));
            }
            Rebalance::Revoke(tpl) => self.push(Polled::Revoked(self.partitions(tpl))),
            // librdkafka retries the rebalance itself; the assignment stays as it was.
            Rebalance::Error(_) => {}
        }
    }
}

/// An offset to commit with the metadata string Kafka keeps beside it (the group's committed
/// offset of a partition and its metadata are read back together, [`Consumer::committed_marked`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marked {
    pub partition: i32,
    /// Next offset to read (last processed + 1).
    pub offset: i64,
    /// At most the brokers' `offset.metadata.max.bytes` (4096 by default).
    pub metadata: String,
}

fn unmarked(offsets: &[(i32, i64)]) -> Vec<Marked> {
    offsets
        .iter()
        .map(|&(partition, offset)| Marked {
            partition,
            offset,
            metadata: String::new(),
        })
        .collect()
}

/// Lag of one assigned partition, for the indexer's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionLag {
    pub partition: i32,
    /// Offset the next produced message will get.
    pub high_watermark: i64,
    /// Next offset this member will read: its position, else the committed offset, else the log start.
    pub next_offset: i64,
    /// `high_watermark - next_offset` (messages not yet read).
    pub lag: i64,
}

/// A consumer-group member for one topic.
///
/// Guarantees: offsets are committed only by [`Consumer::commit`] / [`Committer::commit`], exactly as
/// passed; so after a crash, rebalance or drop, the group resumes at the last commit and redelivers
/// everything after it (at-least-once). Messages of one partition arrive in log order.
pub struct Consumer {
    inner: BaseConsumer<GroupContext>,
    names: Arc<Names>,
}

impl Consumer {
    /// Create the member, run the startup check (topic metadata within `startup_timeout`, else
    /// [`Error::Unreachable`] / [`Error::Topic`]) and subscribe. Partitions arrive through `poll`.
    pub fn connect(
        config: &ConsumerConfig,
        handler: Option<Arc<dyn RebalanceHandler>>,
    ) -> Result<Consumer, Error> {
        let names = Arc::new(Names {
            brokers: config.brokers.clone(),
            topic: config.topic.clone(),
            group: config.group.clone(),
        });
        let context = GroupContext {
            names: Arc::clone(&names),
            handler,
            events: Mutex::new(VecDeque::new()),
        };
        let inner: BaseConsumer<GroupContext> = connect_checked(
            &config.client_config(),
            context,
            &config.brokers,
            &config.topic,
            config.startup_timeout,
            |c: &BaseConsumer<GroupContext>| c.client(),
        )?;
        inner
            .subscribe(&[&config.topic])
            .map_err(|source| consume_error(&names, source))?;
        Ok(Consumer { inner, names })
    }

    /// Wait up to `timeout` for the next message, rebalance event or transient error report.
    /// `Ok(None)`: nothing yet. `Err`: the consumer failed fatally and must be re-created.
    /// Call it regularly: group membership and rebalances are served from inside this call.
    pub fn poll(&self, timeout: Duration) -> Result<Option<Polled>, Error> {
        if let Some(e) = self.next_event() {
            return Ok(Some(e));
        }
        match self.inner.poll(timeout) {
            None => Ok(self.next_event()),
            Some(Err(source @ KafkaError::MessageConsumptionFatal(_))) => {
                Err(consume_error(&self.names, source))
            }
            Some(Err(source)) => Ok(Some(Polled::Transient(
                consume_error(&self.names, source).to_string(),
            ))),
            Some(Ok(m)) => {
                let headers = m
                    .headers()
                    .map(|h| {
                        (0..h.count())
                            .filter_map(|i| h.try_get(i))
                            .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(Some(Polled::Message(Message {
                    topic: m.topic().to_owned(),
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    payload: m.payload().unwrap_or_default().to_vec(),
                    headers,
                })))
            }
        }
    }

    /// Commit exactly `offsets`, each `(partition, next offset to read)` = last processed + 1 (see
    /// [`Message::next_offset`]), synchronously. Call it only once the data up to there is durable.
    pub fn commit(&self, offsets: &[(i32, i64)]) -> Result<(), Error> {
        commit(&self.inner, &self.names, &unmarked(offsets))
    }

    /// [`Consumer::commit`] with a metadata string per partition, stored by the group with the
    /// offset.
    pub fn commit_marked(&self, offsets: &[Marked]) -> Result<(), Error> {
        commit(&self.inner, &self.names, offsets)
    }

    /// Stop fetching `partitions` (of the assignment) until [`Consumer::resume`]; polling goes on
    /// (group membership is served by it).
    pub fn pause(&self, partitions: &[i32]) -> Result<(), Error> {
        self.inner
            .pause(&self.list(partitions))
            .map_err(|source| consume_error(&self.names, source))
    }

    /// Fetch `partitions` again after [`Consumer::pause`].
    pub fn resume(&self, partitions: &[i32]) -> Result<(), Error> {
        self.inner
            .resume(&self.list(partitions))
            .map_err(|source| consume_error(&self.names, source))
    }

    fn list(&self, partitions: &[i32]) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::new();
        for &p in partitions {
            tpl.add_partition(&self.names.topic, p);
        }
        tpl
    }

    /// Partitions currently assigned to this member, sorted.
    pub fn assignment(&self) -> Result<Vec<i32>, Error> {
        let tpl = self
            .inner
            .assignment()
            .map_err(|source| consume_error(&self.names, source))?;
        let mut v: Vec<i32> = tpl
            .elements_for_topic(&self.names.topic)
            .iter()
            .map(|e| e.partition())
            .collect();
        v.sort_unstable();
        Ok(v)
    }

    /// Committed offsets (next to read) of the given partitions for this group; `None` where the
    /// group has not committed anything for a partition.
    pub fn committed(
        &self,
        partitions: &[i32],
        timeout: Duration,
    ) -> Result<Vec<(i32, Option<i64>)>, Error> {
        Ok(self
            .committed_marked(partitions, timeout)?
            .into_iter()
            .map(|(p, offset, _)| (p, offset))
            .collect())
    }

    /// [`Consumer::committed`] with the metadata committed with each offset (empty where there is
    /// none). Works for any partition of the topic, assigned to this member or not.
    pub fn committed_marked(
        &self,
        partitions: &[i32],
        timeout: Duration,
    ) -> Result<Vec<(i32, Option<i64>, String)>, Error> {
        let got = self
            .inner
            .committed_offsets(self.list(partitions), timeout)
            .map_err(|source| consume_error(&self.names, source))?;
        Ok(partitions
            .iter()
            .map(|&p| {
                let elem = got.find_partition(&self.names.topic, p);
                let offset = elem.as_ref().and_then(|e| match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                });
                let metadata = elem.map(|e| e.metadata().to_owned()).unwrap_or_default();
                (p, offset, metadata)
            })
            .collect())
    }

    /// Lag of every assigned partition. Asks the brokers (one round trip per partition, each bounded
    /// by `timeout`): call it at counter intervals, not per message.
    pub fn lag(&self, timeout: Duration) -> Result<Vec<PartitionLag>, Error> {
        let err = |source| consume_error(&self.names, source);
        let parts = self.assignment()?;
        let position = self.inner.position().map_err(err)?;
        let mut unknown = Vec::new();
        let mut rows = Vec::with_capacity(parts.len());
        for &p in &parts {
            let (low, high) = self
                .inner
                .fetch_watermarks(&self.names.topic, p, timeout)
                .map_err(err)?;
            let pos =
                position
                    .find_partition(&self.names.topic, p)
                    .and_then(|e| match e.offset() {
                        Offset::Offset(o) => Some(o),
                        _ => None,
                    });
            if pos.is_none() {
                unknown.push(p);
            }
            rows.push((p, low, high, pos));
        }
        let committed = if unknown.is_empty() {
            Vec::new()
        } else {
            self.committed(&unknown, timeout)?
        };
        Ok(rows
            .into_iter()
            .map(|(partition, low, high, pos)| {
                let next = pos
                    .or_else(|| {
                        committed
                            .iter()
                            .find(|(q, _)| *q == partition)
                            .and_then(|(_, c)| *c)
                    })
                    .unwrap_or(low);
                PartitionLag {
                    partition,
                    high_watermark: high,
                    next_offset: next,
                    lag: (high - next).max(0),
                }
            })
            .collect())
    }

    pub fn topic(&self) -> &str {
        &self.names.topic
    }

    pub fn group(&self) -> &str {
        &self.names.group
    }

    fn next_event(&self) -> Option<Polled> {
        self.inner
            .context()
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
    }
}

fn consume_error(names: &Names, source: KafkaError) -> Error {
    Error::Consume {
        brokers: names.brokers.clone(),
        topic: names.topic.clone(),
        group: names.group.clone(),
        source: Box::new(source),
    }
}

fn commit(
    consumer: &BaseConsumer<GroupContext>,
    names: &Names,
    offsets: &[Marked],
) -> Result<(), Error> {
    if offsets.is_empty() {
        return Ok(());
    }
    let mut tpl = TopicPartitionList::new();
    for m in offsets {
        if m.offset < 0 {
            return Err(Error::BadOffset {
                brokers: names.brokers.clone(),
                topic: names.topic.clone(),
                group: names.group.clone(),
                partition: m.partition,
                offset: m.offset,
            });
        }
        let mut elem = tpl.add_partition(&names.topic, m.partition);
        elem.set_offset(Offset::Offset(m.offset))
            .map_err(|source| commit_error(names, offsets, source))?;
        if !m.metadata.is_empty() {
            elem.set_metadata(&m.metadata);
        }
    }
    consumer
        .commit(&tpl, CommitMode::Sync)
        .map_err(|source| commit_error(names, offsets, source))
}

fn commit_error(names: &Names, offsets: &[Marked], source: KafkaError) -> Error {
    Error::Commit {
        brokers: names.brokers.clone(),
        topic: names.topic.clone(),
        group: names.group.clone(),
        offsets: offsets.iter().map(|m| (m.partition, m.offset)).collect(),
        source: Box::new(source),
    }
}
