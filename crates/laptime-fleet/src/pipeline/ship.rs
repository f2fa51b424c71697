//! Sending a store's sealed pages to Kafka: one message per partition and round (its next pages,
//! up to `max_rows` events), keyed by the source (the partition id) so one source's messages stay
//! in order in one Kafka partition. A cursor moves only after Kafka acknowledged the message; a
//! failed send is tried again next round with the same pages (the same seqs), so the indexer can
//! drop copies.

use std::path::PathBuf;

use laptime_storage::ship::Feed;
use laptime_storage::View;

use super::{Error, HEADER_SOURCE};
use crate::kafka::{Producer, Record};

/// Where and how a shipper works.
#[derive(Debug, Clone)]
pub struct ShipConfig {
    /// The store directory (written by app processes; read here, never opened for writing).
    pub dir: PathBuf,
    /// The feed (its cursors under `<dir>/ship/<feed>/`): one per destination.
    pub feed: String,
    /// Events per message at most (whole pages; at least one page).
    pub max_rows: u64,
}

impl ShipConfig {
    /// Defaults: feed `kafka`, 262,144 events per message.
    pub fn new(dir: impl Into<PathBuf>) -> ShipConfig {
        ShipConfig {
            dir: dir.into(),
            feed: "kafka".to_owned(),
            max_rows: 1 << 18,
        }
    }
}

/// What a shipper did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShipStats {
    /// Messages acknowledged by Kafka.
    pub messages: u64,
    /// Events in them.
    pub events: u64,
    /// Bytes of them.
    pub bytes: u64,
    /// Events that will never be sent: removed by retention, or in damaged pages, before this
    /// feed sent them.
    pub missed: u64,
    /// Sends that failed (tried again later).
    pub failed: u64,
}

/// Sends a store's sealed pages through a Kafka producer.
pub struct Shipper {
    config: ShipConfig,
    feed: Feed,
    producer: Producer,
    stats: ShipStats,
}

impl Shipper {
    /// A shipper of `config.dir` through `producer` (its startup check already passed).
    pub fn new(config: ShipConfig, producer: Producer) -> Result<Shipper, Error> {
        let feed = Feed::open(&config.dir, &config.feed).map_err(Error::store(&config.dir))?;
        Ok(Shipper {
            config,
            feed,
            producer,
            stats: ShipStats::default(),
        })
    }

    /// What it did so far.
    pub fn stats(&self) -> ShipStats {
        self.stats
    }

    /// Send everything sealed and not yet acknowledged, round after round, until a round finds
    /// nothing or a send fails. Returns the events acknowledged.
    pub fn ship_pending(&mut self) -> Result<u64, Error> {
        let mut shipped = 0;
        loop {
            let view =
                View::open_read_only(&self.config.dir).map_err(Error::store(&self.config.dir))?;
            let pending = self
                .feed
                .pending(&view, self.config.max_rows)
                .map_err(Error::store(&self.config.dir))?;
            drop(view);
            if pending.is_empty() {
                return Ok(shipped);
            }
            let with_pages: Vec<_> = pending.iter().filter(|s| s.rows > 0).collect();
            let headers: Vec<[(&str, &[u8]); 1]> = with_pages
                .iter()
                .map(|s| [(HEADER_SOURCE, s.source.as_bytes())])
                .collect();
            let records: Vec<Record<'_>> = with_pages
                .iter()
                .zip(&headers)
                .map(|(s, h)| Record {
                    key: s.source.as_bytes(),
                    payload: &s.message,
                    headers: h,
                })
                .collect();
            let outcomes = self.producer.send_all(&records).wait();
            let mut failed = false;
            let mut outcome = outcomes.into_iter();
            for s in &pending {
                if s.rows > 0 {
                    match outcome.next() {
                        Some(Ok(_)) => {
                            self.stats.messages += 1;
                            self.stats.events += s.rows;
                            self.stats.bytes += s.message.len() as u64;
                            shipped += s.rows;
                        }
                        _ => {
                            self.stats.failed += 1;
                            failed = true;
                            continue; // this source's cursor stays: the same pages go again
                        }
                    }
                }
                self.stats.missed += s.missed;
                self.feed
                    .commit(&s.source, s.end_seq)
                    .map_err(Error::store(&self.config.dir))?;
            }
            if failed {
                return Ok(shipped);
            }
        }
    }
}
