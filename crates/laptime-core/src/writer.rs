//! The writer of one partition: takes batches from the ring, logs them to the WAL, fills the active
//! page, seals full (or old) pages into the active segment, rolls segments, and publishes what
//! readers may see. Runs on its own thread (`run`); producers never wait for it.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::bufferpool::{BufferPool, DirtyFrame};
use crate::compaction::{self, CompactionReport};
use crate::dictionary::Dictionary;
use crate::error::{Error, Result};
use crate::event::Batch;
use crate::manifest::{Manifest, SealedInfo};
use crate::names_file::NamesFile;
use crate::options::{Options, SyncPolicy};
use crate::page::{encode_page, PageColumns, PageScratch};
use crate::retention::{self, RetentionReport};
use crate::ring::{Counters, Ring};
use crate::segment::{self, SegmentReader, SegmentWriter};
use crate::wal::Wal;

/// How often the writer checks the retention limits on its own.
const RETENTION_EVERY: Duration = Duration::from_secs(1);

/// Bytes per row of the active page's dense columns (name, start, duration, code).
const ACTIVE_ROW_BYTES: usize = 4 + 8 + 8 + 1;

/// The unsealed page, shared with in-process readers (they copy it into their snapshot).
#[derive(Debug, Default)]
pub(crate) struct ActivePage {
    pub cols: PageColumns,
    pub first_seq: u64,
}

/// What readers of this partition may see: sealed segments, and the sealed pages of the segment
/// being written. Replaced as a whole (copy on write) whenever a page or segment is sealed.
#[derive(Debug, Default)]
pub(crate) struct PartitionView {
    pub sealed: Vec<Arc<SegmentReader>>,
    pub active: Option<Arc<SegmentReader>>,
}

/// State shared between the writer thread and the store handles.
#[derive(Default)]
pub(crate) struct WriterShared {
    pub state: Mutex<WriterState>,
    pub changed: Condvar,
}

/// Work a store handle asks the writer thread to do (it owns the partition's files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Request {
    Compact,
    Retention,
}

/// The writer's answer to a [`Request`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Response {
    Compacted(CompactionReport),
    Retained(RetentionReport),
}

#[derive(Default)]
pub(crate) struct WriterState {
    /// Flush generations asked for and done.
    pub flush_requested: u64,
    pub flush_done: u64,
    /// Requests waiting for the writer, by ticket, and answers not yet collected.
    pub requests: Vec<(u64, Request)>,
    pub responses: Vec<(u64, std::result::Result<Response, String>)>,
    pub next_ticket: u64,
    /// Set when the writer stopped on an error it will not retry.
    pub failed: Option<String>,
    pub shutdown: bool,
    pub stopped: bool,
}

/// The writing half of a partition.
pub(crate) struct PartitionWriter {
    pub dir: PathBuf,
    pub opts: Options,
    pub dict: Arc<Dictionary>,
    pub names: NamesFile,
    pub wal: Wal,
    pub segment: Option<SegmentWriter>,
    pub manifest: Manifest,
    pub active: Arc<Mutex<ActivePage>>,
    pub view: Arc<RwLock<Arc<PartitionView>>>,
    pub counters: Arc<Counters>,
    pub next_seq: u64,
    pub page_opened: Instant,
    pub segment_opened: Instant,
    pub last_sync: Instant,
    pub unsynced: bool,
    last_retention: Instant,
    page_buf: Vec<u8>,
    scratch: PageScratch,
    /// Decoded pages for readers, and the accounting of the active page's memory.
    pub pool: Arc<BufferPool>,
    active_frame: Option<DirtyFrame>,
}

impl PartitionWriter {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        dir: PathBuf,
        opts: Options,
        dict: Arc<Dictionary>,
        names: NamesFile,
        wal: Wal,
        segment: Option<SegmentWriter>,
        manifest: Manifest,
        view: Arc<RwLock<Arc<PartitionView>>>,
        counters: Arc<Counters>,
        next_seq: u64,
    ) -> PartitionWriter {
        let now = Instant::now();
        let opts_pool_bytes = opts.bufferpool_bytes;
        PartitionWriter {
            dir,
            opts,
            dict,
            names,
            wal,
            segment,
            manifest,
            active: Arc::new(Mutex::new(ActivePage {
                cols: PageColumns::default(),
                first_seq: next_seq,
            })),
            view,
            counters,
            next_seq,
            page_opened: now,
            segment_opened: now,
            last_sync: now,
            unsynced: false,
            last_retention: now,
            page_buf: Vec::new(),
            scratch: PageScratch::default(),
            pool: Arc::new(BufferPool::new(opts_pool_bytes)),
            active_frame: None,
        }
    }

    fn lock_active(&self) -> std::sync::MutexGuard<'_, ActivePage> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take one batch: names first, then the WAL (unless replaying it), then the active page.
    pub(crate) fn ingest(&mut self, batch: &Batch, log: bool) -> Result<()> {
        let n = batch.len();
        if n == 0 {
            return Ok(());
        }
        self.names.persist_new(&self.dict)?;
        if log {
            self.wal.append(self.next_seq, batch)?;
            self.unsynced = true;
            self.counters.written.fetch_add(n as u64, Ordering::AcqRel);
        }
        let mut from = 0;
        while from < n {
            let full = {
                let shared = Arc::clone(&self.active);
                let mut active = shared.lock().unwrap_or_else(|p| p.into_inner());
                if active.cols.is_empty() {
                    active.first_seq = self.next_seq;
                    self.page_opened = Instant::now();
                    // The active page's dense columns at full size, held dirty in the pool.
                    let bytes = self.opts.page_rows * ACTIVE_ROW_BYTES;
                    self.active_frame = Some(self.pool.reserve_dirty(bytes));
                }
                let take = (self.opts.page_rows - active.cols.len()).min(n - from);
                active.cols.append_batch(batch, from, from + take);
                self.next_seq += take as u64;
                from += take;
                active.cols.len() >= self.opts.page_rows
            };
            if full {
                self.seal_page()?;
            }
        }
        Ok(())
    }

    /// Make everything written so far durable (names first, then the WAL).
    pub(crate) fn sync(&mut self) -> Result<()> {
        if self.unsynced {
            self.names.sync()?;
            self.wal.sync()?;
            self.unsynced = false;
        }
        self.last_sync = Instant::now();
        let written = self.counters.written.load(Ordering::Acquire);
        self.counters.durable.fetch_max(written, Ordering::AcqRel);
        Ok(())
    }

    /// Seal the active page (if it holds anything) into the active segment.
    pub(crate) fn seal_page(&mut self) -> Result<()> {
        if self.lock_active().cols.is_empty() {
            return Ok(());
        }
        if self.segment.is_none() {
            self.start_segment()?;
        }
        // Names the page refers to must be on disk before the page is.
        self.names.sync()?;
        let active = Arc::clone(&self.active);
        let mut guard = active.lock().unwrap_or_else(|p| p.into_inner());
        let first_seq = guard.first_seq;
        let rows = guard.cols.len() as u64;
        self.page_buf.clear();
        let meta = encode_page(
            &mut guard.cols,
            first_seq,
            &mut self.page_buf,
            &mut self.scratch,
        );
        let Some(seg) = self.segment.as_mut() else {
            return Err(Error::Closed);
        };
        seg.append_page(&self.page_buf, meta)?;
        if self.opts.sync != SyncPolicy::None {
            seg.sync()?;
        }
        let reader = SegmentReader::unsealed(seg.path(), seg.id(), seg.pages().to_vec())?;
        // Publish the page and empty the active page under the active lock, so a reader sees each
        // event exactly once.
        self.publish(|v| v.active = Some(Arc::new(reader)));
        guard.cols.clear();
        guard.first_seq = self.next_seq;
        drop(guard);
        self.active_frame = None;
        self.counters.sealed.fetch_add(rows, Ordering::AcqRel);
        // Every event before the page's end is now in a durable page: older WAL files can go.
        self.wal.rotate(self.next_seq)?;
        self.wal.release(first_seq + rows)?;
        if self.opts.sync != SyncPolicy::None {
            let sealed = self.counters.sealed.load(Ordering::Acquire);
            self.counters.durable.fetch_max(sealed, Ordering::AcqRel);
        }
        let full = self
            .segment
            .as_ref()
            .is_some_and(|s| s.len() >= self.opts.segment_max_bytes);
        if full {
            self.seal_segment()?;
        }
        self.update_bytes();
        Ok(())
    }

    pub(crate) fn publish(&self, change: impl FnOnce(&mut PartitionView)) {
        let mut view = self.view.write().unwrap_or_else(|p| p.into_inner());
        let mut next = PartitionView {
            sealed: view.sealed.clone(),
            active: view.active.clone(),
        };
        change(&mut next);
        *view = Arc::new(next);
    }

    fn start_segment(&mut self) -> Result<()> {
        let id = self.manifest.next_segment_id;
        let path = self.dir.join(segment::file_name(id));
        let seg = SegmentWriter::create(
            &path,
            segment::SegmentIdentity {
                id,
                partition: self.manifest.partition,
            },
        )?;
        self.manifest.next_segment_id = id + 1;
        self.manifest.active = Some(id);
        self.manifest.store(&self.dir)?;
        self.segment = Some(seg);
        self.segment_opened = Instant::now();
        Ok(())
    }

    /// Seal the active segment (footer, sync) and record it in the manifest.
    pub(crate) fn seal_segment(&mut self) -> Result<()> {
        let Some(seg) = self.segment.take() else {
            return Ok(());
        };
        if seg.pages().is_empty() {
            let path = seg.path().to_owned();
            drop(seg);
            self.manifest.active = None;
            self.manifest.store(&self.dir)?;
            crate::durable::remove_durable(&path)?;
            self.publish(|v| v.active = None);
            return Ok(());
        }
        let path = seg.path().to_owned();
        seg.finish()?;
        let reader = Arc::new(SegmentReader::open(&path)?);
        self.manifest.sealed.push(SealedInfo::of_pages(
            reader.id(),
            reader.len(),
            reader.pages(),
        ));
        self.manifest.active = None;
        self.manifest.store(&self.dir)?;
        self.publish(|v| {
            v.sealed.push(reader);
            v.active = None;
        });
        self.update_bytes();
        Ok(())
    }

    /// Carry out one request.
    fn serve(&mut self, request: Request) -> Result<Response> {
        match request {
            Request::Compact => {
                // Compaction works on sealed segments only: seal what is open first, so a
                // compaction asked for after a write includes that write.
                self.seal_page()?;
                self.seal_segment()?;
                compaction::compact(self).map(Response::Compacted)
            }
            Request::Retention => {
                retention::enforce(self, retention::now_ns()).map(Response::Retained)
            }
        }
    }

    /// Seal what is due by age, and apply retention now and then.
    pub(crate) fn tick(&mut self) -> Result<()> {
        if self.last_retention.elapsed() >= RETENTION_EVERY {
            self.last_retention = Instant::now();
            retention::enforce(self, retention::now_ns())?;
        }
        let page_due = !self.lock_active().cols.is_empty()
            && self.page_opened.elapsed() >= self.opts.page_max_age;
        if page_due {
            self.seal_page()?;
        }
        let segment_due =
            self.segment.is_some() && self.segment_opened.elapsed() >= self.opts.segment_max_age;
        if segment_due {
            self.seal_segment()?;
        }
        Ok(())
    }

    /// Time until the next age-based action, for the writer's sleep.
    pub(crate) fn next_deadline(&self) -> Duration {
        let mut d = Duration::from_millis(250);
        if !self.lock_active().cols.is_empty() {
            d = d.min(
                self.opts
                    .page_max_age
                    .saturating_sub(self.page_opened.elapsed()),
            );
        }
        if let SyncPolicy::Interval(i) = self.opts.sync {
            if self.unsynced {
                d = d.min(i.saturating_sub(self.last_sync.elapsed()));
            }
        }
        d
    }

    /// Seal everything and remove the WAL: a clean close leaves only sealed segments.
    pub(crate) fn close(mut self) -> Result<()> {
        self.seal_page()?;
        self.seal_segment()?;
        self.names.sync()?;
        let counters = Arc::clone(&self.counters);
        let written = counters.written.load(Ordering::Acquire);
        self.wal.remove_all()?;
        counters.durable.fetch_max(written, Ordering::AcqRel);
        Ok(())
    }

    pub(crate) fn update_bytes(&self) {
        let view = self.view.read().unwrap_or_else(|p| p.into_inner());
        let segs: u64 = view.sealed.iter().map(|s| s.len()).sum::<u64>()
            + self.segment.as_ref().map_or(0, |s| s.len());
        drop(view);
        let total = segs + self.wal.bytes() + self.names.bytes();
        self.counters.bytes_on_disk.store(total, Ordering::Release);
    }
}

/// The writer thread: drain, log, sync by policy, answer flushes, seal by age; on an error, stop
/// writing for good and count what arrives afterwards as dropped.
pub(crate) fn run(mut w: PartitionWriter, ring: Arc<Ring>, shared: Arc<WriterShared>) {
    let mut failed: Option<String> = None;
    loop {
        let (requested, shutdown, requests) = {
            let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            (
                st.flush_requested,
                st.shutdown,
                std::mem::take(&mut st.requests),
            )
        };
        let mut took = false;
        while let Some(batch) = ring.pop() {
            took = true;
            if failed.is_some() {
                w.counters
                    .discarded
                    .fetch_add(batch.len() as u64, Ordering::AcqRel);
                continue;
            }
            let written_before = w.counters.written.load(Ordering::Acquire);
            if let Err(e) = w.ingest(&batch, true) {
                // A batch the WAL took counts as written even if sealing its page failed.
                let logged = w.counters.written.load(Ordering::Acquire) > written_before;
                if !logged {
                    w.counters
                        .discarded
                        .fetch_add(batch.len() as u64, Ordering::AcqRel);
                }
                failed = Some(e.to_string());
            }
        }
        if failed.is_none() {
            let due = match w.opts.sync {
                SyncPolicy::Always => took || w.unsynced,
                SyncPolicy::Interval(i) => w.unsynced && w.last_sync.elapsed() >= i,
                SyncPolicy::None => false,
            };
            let result = if due { w.sync() } else { Ok(()) };
            if let Err(e) = result.and_then(|()| w.tick()) {
                failed = Some(e.to_string());
            }
            w.update_bytes();
        }
        let mut answers = Vec::with_capacity(requests.len());
        for (ticket, request) in requests {
            let answer = match &failed {
                Some(reason) => Err(reason.clone()),
                None => w.serve(request).map_err(|e| e.to_string()),
            };
            if let Err(reason) = &answer {
                failed.get_or_insert_with(|| reason.clone());
            }
            answers.push((ticket, answer));
        }
        {
            let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            st.responses.extend(answers);
            st.flush_done = st.flush_done.max(requested);
            if st.failed.is_none() {
                st.failed = failed.clone();
            }
            shared.changed.notify_all();
        }
        if shutdown && ring.is_empty() {
            let result = if failed.is_none() { w.close() } else { Ok(()) };
            let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = result {
                st.failed.get_or_insert(e.to_string());
            }
            st.stopped = true;
            shared.changed.notify_all();
            return;
        }
        let more_flushes = {
            let st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            st.flush_requested > st.flush_done || st.shutdown || !st.requests.is_empty()
        };
        if !more_flushes && ring.is_empty() {
            std::thread::park_timeout(w.next_deadline().max(Duration::from_micros(100)));
        }
    }
}
