//! Store options, their defaults and their validation.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::ring::Overflow;

/// When the writer makes written data durable with fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Never fsync the WAL; data survives a process crash (it is in the OS) but not a power loss.
    None,
    /// Group commit: fsync the WAL at most this often while events arrive (the default, 100 ms).
    Interval(Duration),
    /// fsync after every group of batches the writer takes; [`crate::Store::flush`] returns only
    /// once everything before it is on stable storage.
    Always,
}

/// Age and size limits enforced by dropping whole sealed segments, oldest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Drop segments whose newest event is older than this.
    pub max_age: Option<Duration>,
    /// Drop the oldest segments while the partition holds more than this many bytes.
    pub max_bytes: Option<u64>,
}

/// Options of a store. Start from [`Options::default`] and change what you need.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Durability policy.
    pub sync: SyncPolicy,
    /// Most batches queued between producers and the writer.
    pub ring_batches: usize,
    /// Most bytes of queued batches.
    pub ring_bytes: usize,
    /// What producers do when the ring is full.
    pub overflow: Overflow,
    /// Events per page before it is sealed.
    pub page_rows: usize,
    /// A page that is not full is sealed after this long, so readers in other processes see events
    /// within about this delay.
    pub page_max_age: Duration,
    /// A segment is sealed once it holds this many bytes.
    pub segment_max_bytes: u64,
    /// A segment is sealed once it is this old.
    pub segment_max_age: Duration,
    /// Memory for decoded pages held by readers.
    pub bufferpool_bytes: usize,
    /// Retention limits.
    pub retention: Retention,
    /// Bytes a WAL file holds before the writer starts the next one (at the next page it seals).
    /// A file goes once the pages holding its events are synced, so larger files mean fewer
    /// fsyncs for the writer and, after the machine (not just the process) died, more to replay
    /// at open; 0 starts a file at every page. At most 1 GiB. The writer uses at most a sixteenth
    /// of `retention.max_bytes` when that is set (retention drops segments, not the WAL).
    pub wal_file_bytes: u64,
    /// Writer threads, each with a partition, a ring and a WAL of its own (1 to
    /// [`MAX_WRITERS`]). More than one helps when producers outrun one writer and a core is free:
    /// producer threads get the writers in turn, and a producer whose writer's ring is full hands
    /// its batch to the next writer with room. The ring's bounds and `retention.max_bytes` are shared
    /// out among them, so the memory and disk bounds stay those set here.
    pub writers: usize,
}

/// Most writer threads one store may run ([`Options::writers`]).
pub const MAX_WRITERS: usize = 16;

impl Default for Options {
    fn default() -> Options {
        Options {
            sync: SyncPolicy::Interval(Duration::from_millis(100)),
            ring_batches: 1024,
            ring_bytes: 64 << 20,
            overflow: Overflow::Drop,
            page_rows: 65_536,
            page_max_age: Duration::from_secs(2),
            segment_max_bytes: 64 << 20,
            segment_max_age: Duration::from_secs(600),
            bufferpool_bytes: 64 << 20,
            retention: Retention::default(),
            wal_file_bytes: 16 << 20,
            writers: 1,
        }
    }
}

impl Options {
    /// Check every option; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        if let SyncPolicy::Interval(d) = self.sync {
            if d.is_zero() || d > Duration::from_secs(60) {
                return Err(Error::invalid_option(
                    "sync",
                    format!("interval must be between 1 ms and 60 s, got {d:?}"),
                ));
            }
        }
        if self.ring_batches == 0 || self.ring_batches > 1 << 20 {
            return Err(Error::invalid_option(
                "ring_batches",
                format!(
                    "must be between 1 and {}, got {}",
                    1 << 20,
                    self.ring_batches
                ),
            ));
        }
        if self.ring_bytes < 64 << 10 {
            return Err(Error::invalid_option(
                "ring_bytes",
                format!("must be at least 64 KiB, got {}", self.ring_bytes),
            ));
        }
        if let Overflow::Block { timeout } = self.overflow {
            if timeout > Duration::from_secs(60) {
                return Err(Error::invalid_option(
                    "overflow",
                    format!("block timeout must be at most 60 s, got {timeout:?}"),
                ));
            }
        }
        if !(16..=1 << 20).contains(&self.page_rows) {
            return Err(Error::invalid_option(
                "page_rows",
                format!("must be between 16 and {}, got {}", 1 << 20, self.page_rows),
            ));
        }
        if self.page_max_age < Duration::from_millis(1) {
            return Err(Error::invalid_option(
                "page_max_age",
                "must be at least 1 ms",
            ));
        }
        if self.segment_max_bytes < 1 << 20 {
            return Err(Error::invalid_option(
                "segment_max_bytes",
                format!("must be at least 1 MiB, got {}", self.segment_max_bytes),
            ));
        }
        if self.wal_file_bytes > 1 << 30 {
            return Err(Error::invalid_option(
                "wal_file_bytes",
                format!("must be at most 1 GiB, got {}", self.wal_file_bytes),
            ));
        }
        if self.segment_max_age < Duration::from_secs(1) {
            return Err(Error::invalid_option(
                "segment_max_age",
                "must be at least 1 s",
            ));
        }
        if self.bufferpool_bytes < 1 << 20 {
            return Err(Error::invalid_option(
                "bufferpool_bytes",
                format!("must be at least 1 MiB, got {}", self.bufferpool_bytes),
            ));
        }
        if !(1..=MAX_WRITERS).contains(&self.writers) {
            return Err(Error::invalid_option(
                "writers",
                format!("must be between 1 and {MAX_WRITERS}, got {}", self.writers),
            ));
        }
        if self.ring_bytes / self.writers < 64 << 10 {
            return Err(Error::invalid_option(
                "ring_bytes",
                format!(
                    "must be at least 64 KiB per writer ({} writers), got {}",
                    self.writers, self.ring_bytes
                ),
            ));
        }
        if self.retention.max_bytes == Some(0) {
            return Err(Error::invalid_option(
                "retention.max_bytes",
                "must be positive",
            ));
        }
        Ok(())
    }

    /// The options of one of the writers: its share of the ring and of the retained bytes.
    pub(crate) fn for_one_writer(&self) -> Options {
        let n = self.writers.max(1);
        let mut one = self.clone();
        one.ring_batches = (self.ring_batches / n).max(1);
        one.ring_bytes = self.ring_bytes / n;
        one.retention.max_bytes = self.retention.max_bytes.map(|b| (b / n as u64).max(1));
        one
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_writer_gets_its_share_of_the_bounds() {
        let opts = Options {
            writers: 3,
            ring_batches: 1024,
            ring_bytes: 64 << 20,
            retention: Retention {
                max_age: Some(Duration::from_secs(60)),
                max_bytes: Some(3 << 30),
            },
            ..Options::default()
        };
        let one = opts.for_one_writer();
        assert_eq!(one.ring_batches, 341);
        assert_eq!(one.ring_bytes, (64 << 20) / 3);
        assert_eq!(one.retention.max_bytes, Some(1 << 30));
        assert_eq!(one.retention.max_age, Some(Duration::from_secs(60)));
        let single = Options::default();
        assert_eq!(single.for_one_writer(), single);
    }

    #[test]
    fn writers_out_of_range_are_refused_by_name() {
        for writers in [0, MAX_WRITERS + 1] {
            let err = Options {
                writers,
                ..Options::default()
            }
            .validate()
            .unwrap_err();
            assert!(err.to_string().contains("writers"), "{err}");
        }
        let err = Options {
            writers: 16,
            ring_bytes: 512 << 10,
            ..Options::default()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("64 KiB per writer"), "{err}");
    }
}
