//! laptime's fleet: how batches of events travel from app hosts (and from HTTP clients through
//! [`ingest`]) to indexers through a real Apache Kafka cluster. The payload format, the shipper's
//! cursor and the indexer's de-duplication live in `laptime-storage` (`ship`, `Store::append_received`).
//! This crate is kept out of `laptime-node` so the npm addon never links librdkafka.
//!
//! # What each type guarantees
//!
//! - [`kafka::Producer`] (shippers): idempotent and `acks=all`. A message is reported
//!   acknowledged ([`kafka::Ack`]: partition, offset) only once every in-sync replica has it (at least
//!   the topic's `min.insync.replicas`); retries never duplicate or reorder it, as long as no
//!   message times out (after a delivery timeout librdkafka starts a new idempotence epoch, and a
//!   message then in flight may be written twice: the broker-kill test saw 50 of 516,534 acknowledged
//!   messages twice in the log; indexers drop such copies by source and seq); messages with equal keys
//!   land in one partition in send order. Every message gets exactly one outcome, an `Ack` or an
//!   [`kafka::Error`], within the delivery timeout. A failure is definitive for that send but says
//!   nothing about the log: a timed-out message may still have been written (the broker-kill test sees
//!   this), so a shipper re-sends from its durable cursor and the indexer drops duplicates by
//!   (source id, sequence).
//! - [`kafka::Consumer`] (indexers): a consumer-group member that never commits on its own. Offsets
//!   move only through [`kafka::Consumer::commit`] (exactly the `(partition, next offset)` pairs passed,
//!   next = last durable + 1), so after a crash, drop or rebalance the group resumes after the last
//!   commit and redelivers the rest: at-least-once. A [`kafka::RebalanceHandler`] is called on the
//!   polling thread before partitions are revoked, with a [`kafka::Committer`] to commit what is
//!   durable before another member takes over. [`kafka::Consumer::commit_marked`] stores a
//!   metadata string with each offset and [`kafka::Consumer::committed_marked`] reads it back: the
//!   indexer keeps its partition ledgers there ([`pipeline::ledger`], exactly once across
//!   members). [`kafka::Consumer::lag`] gives high watermark minus position per assigned partition.
//! - Both run a startup check: topic metadata from some broker within a deadline, else
//!   [`kafka::Error::Unreachable`] (naming the bootstrap list) or [`kafka::Error::Topic`] — never a hang.
//! - [`kafka::create_topic`]: creates a topic with a replication factor, `min.insync.replicas` and a
//!   `max.message.bytes` large enough for batches; the clients never auto-create topics.
//!
//! # Settings that matter, and why
//!
//! Producer: `enable.idempotence=true` + `acks=all` (no loss, no duplicate from retries);
//! `max.in.flight.requests.per.connection=5` (the most idempotence allows while keeping order);
//! `partitioner=murmur2_random` (Java's key hashing, so every client maps a key to one partition);
//! `compression.type=lz4` (with this build, librdkafka's zstd frames carry no content size and its
//! consumer decodes them by trial, measured 4-5x slower than lz4 per consumer; zstd compressed
//! event-like text 5x smaller, so it is a setting for bandwidth-bound links);
//! `linger.ms=5`, `batch.size=4 MiB`, `message.max.bytes=16 MiB` (few large messages of ~10k events);
//! `queue.buffering.max.kbytes` bounds memory: `send` waits when it is full;
//! `message.timeout.ms=60 s` bounds how long a message may stay unreported.
//!
//! Consumer: `enable.auto.commit=false` and `enable.auto.offset.store=false` (commits only after the
//! data is durable); `auto.offset.reset=earliest` (a new group skips nothing retained);
//! `partition.assignment.strategy=range`, eager (a rebalance revokes every partition, each member
//! commits what it stored, then all are assigned anew; cooperative-sticky with static members lost
//! track of assignments in our restart test); static membership, `group.instance.id` (an indexer
//! killed and restarted within `session.timeout.ms=30 s` gets its partitions back without a
//! rebalance, and its own store recognises what it receives again); `session.timeout.ms=10 s` for
//! dynamic members (a killed member's
//! partitions move after 10 s, not Kafka's default 45 s); `max.partition.fetch.bytes=16 MiB`.
//!
//! Topics: replication 3 with `min.insync.replicas=2` survives one broker down without refusing
//! writes; with two down, sends fail (reported) rather than be acknowledged on a single copy.

#![forbid(unsafe_code)]

pub mod coordinate;
pub mod ingest;
pub mod kafka;
pub mod pipeline;
mod serve;
