//! Retention: keep a partition within its age and size limits by dropping whole sealed segments,
//! oldest first. The manifest is replaced before any file is deleted, so a crash in between leaves
//! an unlisted file that recovery removes, never a listed file that is gone. Readers holding a
//! view keep reading dropped segments through their open file handles.

use crate::durable;
use crate::error::Result;
use crate::options::Retention;
use crate::partition_state::PartitionState;
use crate::segment;

/// What one retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Segments dropped.
    pub segments: usize,
    /// Events in them.
    pub events: u64,
    /// Bytes freed.
    pub bytes: u64,
}

impl RetentionReport {
    /// Count `other` (another writer's retention) in.
    pub(crate) fn add(&mut self, other: &RetentionReport) {
        self.segments += other.segments;
        self.events += other.events;
        self.bytes += other.bytes;
    }
}

/// Drop the sealed segments that `limits` rule out at time `now_ns`; `active_bytes` (the segment
/// being written) counts towards the size limit but is never dropped.
pub(crate) fn enforce(
    w: &mut PartitionState,
    limits: Retention,
    active_bytes: u64,
    now_ns: u64,
) -> Result<RetentionReport> {
    if limits.max_age.is_none() && limits.max_bytes.is_none() {
        return Ok(RetentionReport::default());
    }
    let mut doomed: Vec<u64> = Vec::new();
    if let Some(age) = limits.max_age {
        let cutoff = now_ns.saturating_sub(u64::try_from(age.as_nanos()).unwrap_or(u64::MAX));
        doomed.extend(
            w.manifest
                .sealed
                .iter()
                .filter(|s| s.max_start < cutoff)
                .map(|s| s.id),
        );
    }
    if let Some(max) = limits.max_bytes {
        // The active segment counts towards the total but is never dropped. The WAL is not
        // counted: its files last at most a sixteenth of this budget (the writer's
        // `wal_file_bytes`), and at most about two are kept.
        let mut total: u64 = w.manifest.sealed.iter().map(|s| s.len).sum::<u64>() + active_bytes;
        for s in &w.manifest.sealed {
            if total <= max {
                break;
            }
            total -= s.len;
            if !doomed.contains(&s.id) {
                doomed.push(s.id);
            }
        }
    }
    if doomed.is_empty() {
        return Ok(RetentionReport::default());
    }
    let mut report = RetentionReport::default();
    for s in w.manifest.sealed.iter().filter(|s| doomed.contains(&s.id)) {
        report.segments += 1;
        report.events += s.rows;
        report.bytes += s.len;
    }
    w.manifest.sealed.retain(|s| !doomed.contains(&s.id));
    w.manifest.store(&w.dir)?;
    w.publish(|v| v.sealed.retain(|r| !doomed.contains(&r.id())));
    for id in &doomed {
        durable::remove_durable(&w.dir.join(segment::file_name(*id)))?;
    }
    Ok(report)
}
