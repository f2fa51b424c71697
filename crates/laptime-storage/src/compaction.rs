//! Compaction: merge runs of adjacent small sealed segments into one segment of full pages.
//! Small segments come from frequent restarts and from pages sealed by age; merging them re-packs
//! their events into full pages (better compression, fewer pages to prune) and fewer files.
//!
//! Crash safety, step by step: the merged segment is written under a new id and synced (a crash
//! leaves a file the manifest does not name, whose events the named inputs hold: recovery moves it
//! to quarantine as a duplicate); the manifest is replaced atomically, naming the output instead of
//! the inputs (the switch point: before it the inputs hold the events, after it the output does,
//! never both); then the inputs are deleted (a crash leaves unnamed inputs whose events the output
//! holds: quarantined likewise). No event is lost or duplicated at any point.

use std::sync::Arc;

use crate::dictionary::Dictionary;
use crate::durable;
use crate::error::Result;
use crate::failpoint::failpoint;
use crate::manifest::SealedInfo;
use crate::options::Options;
use crate::page::{encode_page, ColumnSet, PageColumns, PageScratch};
use crate::partition_state::PartitionState;
use crate::segment::{self, ReadScratch, SegmentReader, SegmentWriter};

/// What a compaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Input segments merged.
    pub inputs: usize,
    /// Segments written.
    pub outputs: usize,
    /// Events moved.
    pub events: u64,
    /// Bytes of the inputs.
    pub bytes_before: u64,
    /// Bytes of the outputs.
    pub bytes_after: u64,
}

impl CompactionReport {
    /// Count `other` (another writer's compaction) in.
    pub(crate) fn add(&mut self, other: &CompactionReport) {
        self.inputs += other.inputs;
        self.outputs += other.outputs;
        self.events += other.events;
        self.bytes_before += other.bytes_before;
        self.bytes_after += other.bytes_after;
    }
}

/// Runs of adjacent sealed segments worth merging: each member smaller than a quarter of the
/// segment size limit, each run at least two segments and at most the size limit in total. With
/// `shipped_below` (a feed's first unshipped seq, see `ship/cursor.rs`), only segments wholly
/// below it: a shipper's unshipped pages keep their boundaries.
fn plan(state: &PartitionState, limit: u64, shipped_below: Option<u64>) -> Vec<Vec<SealedInfo>> {
    let small = limit / 4;
    let mut runs = Vec::new();
    let mut run: Vec<SealedInfo> = Vec::new();
    let mut bytes = 0u64;
    let shipped = |s: &SealedInfo| shipped_below.is_none_or(|below| s.end_seq <= below);
    for s in state.manifest.sealed.iter().filter(|s| shipped(s)) {
        let adjacent = run
            .last()
            .is_none_or(|l: &SealedInfo| l.end_seq == s.first_seq);
        if s.len < small && adjacent && bytes + s.len <= limit {
            bytes += s.len;
            run.push(*s);
            continue;
        }
        if run.len() >= 2 {
            runs.push(std::mem::take(&mut run));
        }
        run.clear();
        bytes = 0;
        if s.len < small {
            bytes = s.len;
            run.push(*s);
        }
    }
    if run.len() >= 2 {
        runs.push(run);
    }
    runs
}

/// Merge every planned run of the partition's sealed segments into pages of `opts.page_rows`.
pub(crate) fn compact(
    state: &mut PartitionState,
    opts: &Options,
    dict: &Arc<Dictionary>,
) -> Result<CompactionReport> {
    let mut report = CompactionReport::default();
    // The store root is two levels up: <root>/partitions/<id>.
    let root = state.dir.parent().and_then(|p| p.parent());
    let partition = state
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let shipped_below = match (root, partition) {
        (Some(root), Some(partition)) => crate::ship_cursor::min_unshipped(root, &partition),
        _ => None,
    };
    for run in plan(state, opts.segment_max_bytes, shipped_below) {
        merge_run(state, opts.page_rows, dict, &run, &mut report)?;
    }
    Ok(report)
}

fn merge_run(
    w: &mut PartitionState,
    page_rows: usize,
    dict: &Arc<Dictionary>,
    run: &[SealedInfo],
    report: &mut CompactionReport,
) -> Result<()> {
    let sealed = w.sealed();
    let inputs: Vec<Arc<SegmentReader>> = run
        .iter()
        .filter_map(|s| sealed.iter().find(|r| r.id() == s.id).cloned())
        .collect();
    if inputs.len() != run.len() {
        return Ok(());
    }
    let mut out = w.new_segment()?;
    let id = out.id();
    let path = out.path().to_owned();
    let mut acc = PageColumns::default();
    let mut acc_first = 0u64;
    let mut cols = PageColumns::default();
    let mut read = ReadScratch::default();
    let mut enc = PageScratch::default();
    let mut buf = Vec::new();
    let mut flush = |acc: &mut PageColumns, first: u64, out: &mut SegmentWriter| -> Result<()> {
        if acc.is_empty() {
            return Ok(());
        }
        buf.clear();
        let meta = encode_page(acc, first, dict, &mut buf, &mut enc, Some(out.rollup_mut()));
        out.append_page(&buf, meta)?;
        acc.clear();
        Ok(())
    };
    for seg in &inputs {
        for page in seg.pages() {
            seg.read_page(page, ColumnSet::ALL, &mut read, &mut cols)?;
            // Pages keep consecutive seqs; a gap (never expected within a run) starts a new page.
            if !acc.is_empty() && acc_first + acc.len() as u64 != page.zone.first_seq {
                flush(&mut acc, acc_first, &mut out)?;
            }
            let mut row = 0;
            while row < cols.len() {
                if acc.is_empty() {
                    acc_first = page.zone.first_seq + row as u64;
                }
                let take = (page_rows - acc.len()).min(cols.len() - row);
                acc.append_rows(&cols, row, row + take);
                row += take;
                if acc.len() >= page_rows {
                    flush(&mut acc, acc_first, &mut out)?;
                }
            }
        }
    }
    flush(&mut acc, acc_first, &mut out)?;
    out.finish()?;
    failpoint("compaction-before-manifest");
    let merged = Arc::new(SegmentReader::open(&path)?);
    let info = SealedInfo::of_pages(id, merged.len(), merged.pages());
    let ids: Vec<u64> = run.iter().map(|s| s.id).collect();
    let at = w
        .manifest
        .sealed
        .iter()
        .position(|s| s.id == ids[0])
        .unwrap_or(0);
    w.manifest.sealed.retain(|s| !ids.contains(&s.id));
    w.manifest
        .sealed
        .insert(at.min(w.manifest.sealed.len()), info);
    w.manifest.store(&w.dir)?;
    failpoint("compaction-before-delete");
    w.publish(|v| {
        let at = v
            .sealed
            .iter()
            .position(|r| r.id() == ids[0])
            .unwrap_or(v.sealed.len());
        v.sealed.retain(|r| !ids.contains(&r.id()));
        v.sealed.insert(at.min(v.sealed.len()), Arc::clone(&merged));
    });
    for id in &ids {
        durable::remove_durable(&w.dir.join(segment::file_name(*id)))?;
    }
    report.inputs += run.len();
    report.outputs += 1;
    report.events += info.rows;
    report.bytes_before += run.iter().map(|s| s.len).sum::<u64>();
    report.bytes_after += info.len;
    Ok(())
}
