//! The writer of one partition: takes batches from the ring, logs them to the WAL, fills the active
//! page, seals full (or old) pages into the active segment, rolls segments, and publishes what
//! readers may see. Runs on its own thread (`run`); producers never wait for it.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::admission;
use crate::bufferpool::{BufferPool, DirtyFrame};
use crate::compaction::{self, CompactionReport};
use crate::dictionary::Dictionary;
use crate::error::{Error, ErrorCode, Result};
use crate::event::Batch;
use crate::manifest::{Manifest, SealedInfo};
use crate::names_file::NamesFile;
use crate::options::{Options, SyncPolicy};
use crate::origins::Origins;
use crate::page::{encode_page, PageColumns, PageScratch};
use crate::partition_state::{PartitionState, PartitionView};
use crate::retention::{self, RetentionReport};
use crate::ring::{Counters, Queued, Ring};
use crate::segment::{SegmentReader, SegmentWriter};
use crate::wal::Wal;

/// How often the writer checks the retention limits on its own.
const RETENTION_EVERY: Duration = Duration::from_secs(1);

/// Bytes per row of the active page's dense columns (name, start, duration, code).
const ACTIVE_ROW_BYTES: usize = 4 + 8 + 8 + 1;

/// The unsealed page, shared with in-process readers (they copy it into their view).
#[derive(Debug, Default)]
pub(crate) struct ActivePage {
    pub cols: PageColumns,
    pub first_seq: u64,
}

/// State shared between the writer thread and the store handles.
#[derive(Default)]
pub(crate) struct WriterShared {
    pub state: Mutex<WriterState>,
    pub changed: Condvar,
}

/// Where the writer thread sends the answer to one [`Command`]: a one-shot channel, so the asker
/// blocks on its own answer (no polling, no shared answer list) and learns the writer stopped
/// without answering when the sender is dropped.
pub(crate) type Reply<T> = std::sync::mpsc::SyncSender<std::result::Result<T, Failure>>;

/// Work a store handle asks the writer thread to do (it owns the partition's files), each with the
/// channel its typed answer goes to.
pub(crate) enum Command {
    Compact(Reply<CompactionReport>),
    Retention(Reply<RetentionReport>),
}

impl Command {
    /// Answer without doing the work: the writer cannot write.
    fn refuse(self, failure: Failure) {
        // A send fails only when the asker gave up waiting: nothing to tell then.
        match self {
            Command::Compact(reply) => {
                let _ = reply.send(Err(failure));
            }
            Command::Retention(reply) => {
                let _ = reply.send(Err(failure));
            }
        }
    }
}

/// Why the writer cannot write right now. Crosses from the writer thread to `flush` callers and
/// `write_failure` with its kind (code and OS error number), not only its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub reason: String,
    /// `ENOSPC` (disk full or quota: freeing space lets the writer go on), the OS error's code
    /// (`EIO`, `EACCES`, ...), `CORRUPT`, else `WRITE_FAILED`.
    pub code: ErrorCode,
    pub errno: Option<i32>,
}

impl Failure {
    fn of(e: &Error) -> Failure {
        let code = match e.code() {
            // A flush caller passed no option or input: those codes would mislead it.
            c if c.is_os() || c == ErrorCode::Corrupt => c,
            _ => ErrorCode::WriteFailed,
        };
        Failure {
            reason: e.to_string(),
            code,
            errno: e.raw_os_error(),
        }
    }

    /// The error callers get, naming the partition.
    pub(crate) fn to_error(&self, partition: &std::path::Path) -> Error {
        let partition = partition.to_owned();
        let reason = self.reason.clone();
        let errno = self.errno;
        if self.code == ErrorCode::NoSpace {
            Error::DiskFull {
                partition,
                reason,
                errno,
            }
        } else {
            Error::WriterFailed {
                partition,
                reason,
                code: self.code,
                errno,
            }
        }
    }
}

/// First wait before retrying after a write failure; doubles up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);

#[derive(Default)]
pub(crate) struct WriterState {
    /// Flush generations asked for and done.
    pub flush_requested: u64,
    pub flush_done: u64,
    /// Commands waiting for the writer.
    pub commands: Vec<Command>,
    /// Set while the writer cannot write (a write or sync failed and no retry has succeeded yet),
    /// and for good when it stopped in that state.
    pub failed: Option<Failure>,
    pub shutdown: bool,
    pub stopped: bool,
}

/// The writing half of a partition.
pub(crate) struct PartitionWriter {
    pub state: PartitionState,
    pub opts: Options,
    pub dict: Arc<Dictionary>,
    pub names: NamesFile,
    pub wal: Wal,
    pub segment: Option<SegmentWriter>,
    pub active: Arc<Mutex<ActivePage>>,
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
    /// Events in the active page that are in no WAL file (their WAL append failed); they become
    /// `written` once a page holds them, `lost` if the writer stops before.
    unlogged: u64,
    /// A segment whose write or sync failed: never written again; its good pages are copied into a
    /// new segment by `resume`.
    broken_segment: Option<SegmentWriter>,
    /// Segment files to remove once the stored manifest no longer names them.
    leftovers: Vec<PathBuf>,
    /// Where received batches came from (see `origins.rs`): written to `ORIGINS` before the WAL
    /// files holding them are released.
    pub origins: Origins,
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
        pool: Arc<BufferPool>,
        next_seq: u64,
    ) -> PartitionWriter {
        let now = Instant::now();
        PartitionWriter {
            state: PartitionState {
                dir,
                manifest,
                view,
            },
            opts,
            dict,
            names,
            wal,
            segment,
            active: Arc::new(Mutex::new(ActivePage {
                cols: PageColumns::default(),
                first_seq: next_seq,
            })),
            counters,
            next_seq,
            page_opened: now,
            segment_opened: now,
            last_sync: now,
            unsynced: false,
            last_retention: now,
            page_buf: Vec::new(),
            scratch: PageScratch::default(),
            pool,
            active_frame: None,
            unlogged: 0,
            broken_segment: None,
            leftovers: Vec::new(),
            origins: Origins::default(),
        }
    }

    /// Release the WAL files whose events are all below `upto` (in durable pages), after the
    /// origins of those events are in `ORIGINS`.
    fn release_wal(&mut self, upto: u64) -> Result<()> {
        self.origins.checkpoint(&self.state.dir, upto)?;
        self.wal.release(upto)
    }

    fn lock_active(&self) -> std::sync::MutexGuard<'_, ActivePage> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take one batch: names first, then the WAL (unless replaying it), then the active page.
    /// The batch of a ring item: a raw one built here (in a spare batch) and checked as the
    /// store checks a built one on the producer's thread. Its refused events move from `accepted`
    /// to `rejected`, and the raw batch is told of them.
    fn built(&self, queued: Queued, ring: &Ring) -> Batch {
        let mut raw = match queued {
            Queued::Built(batch) => return batch,
            Queued::Raw(raw) => raw,
        };
        let (batch, refused) = raw.build(ring.take_spare().unwrap_or_default());
        let (batch, refused) = admission::admit(batch, refused, self.dict.len() as u64);
        if refused.count > 0 {
            self.counters
                .accepted
                .fetch_sub(refused.count, Ordering::AcqRel);
            self.counters
                .rejected
                .fetch_add(refused.count, Ordering::AcqRel);
            raw.refused(&refused);
        }
        batch
    }

    pub(crate) fn ingest(&mut self, batch: &Batch, log: bool) -> Result<()> {
        let n = batch.len();
        if n == 0 {
            return Ok(());
        }
        if let Some(origin) = batch.origin() {
            self.origins.note(origin, self.next_seq + n as u64);
        }
        self.names.persist_new(&self.dict)?;
        // After a failure the events still go into the active page (memory), so none is lost:
        // `resume` writes the page to a new segment before anything else is acknowledged.
        let mut failure = None;
        if log {
            match self.wal.append(self.next_seq, batch) {
                Ok(()) => {
                    self.unsynced = true;
                    self.counters.written.fetch_add(n as u64, Ordering::AcqRel);
                }
                Err(e) => {
                    self.unlogged += n as u64;
                    failure = Some(e);
                }
            }
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
                // Once writing failed the rest of the batch joins the page too (it may grow past
                // `page_rows` by one batch) rather than being lost.
                let room = self.opts.page_rows.saturating_sub(active.cols.len());
                let take = if failure.is_some() {
                    n - from
                } else {
                    room.min(n - from)
                };
                active.cols.append_batch(batch, from, from + take);
                self.next_seq += take as u64;
                from += take;
                active.cols.len() >= self.opts.page_rows
            };
            if full && failure.is_none() {
                if let Err(e) = self.seal_page() {
                    failure = Some(e);
                }
            }
        }
        failure.map_or(Ok(()), Err)
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

    /// Go on at `seq`, past events recovery found in no intact page and no WAL record (reported
    /// lost): the next event is numbered as its WAL record says, never renumbered into the gap,
    /// so pages, the WAL and received origins keep agreeing on every event's seq. A page never
    /// spans a gap: the active page is sealed first.
    pub(crate) fn skip_to(&mut self, seq: u64) -> Result<()> {
        if seq <= self.next_seq {
            return Ok(());
        }
        self.seal_page()?;
        self.next_seq = seq;
        self.lock_active().first_seq = seq;
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
        let Some(seg) = self.segment.as_mut() else {
            return Err(Error::Closed);
        };
        let meta = encode_page(
            &mut guard.cols,
            first_seq,
            &self.dict,
            &mut self.page_buf,
            &mut self.scratch,
            Some(seg.rollup_mut()),
        );
        // On a failure the page's events stay in the active page (and the WAL): the segment gives
        // the page up so it is not copied forward as well.
        seg.append_page(&self.page_buf, meta)?;
        let reader = match SegmentReader::unsealed(
            seg.path(),
            seg.id(),
            seg.pages().to_vec(),
            Arc::clone(seg.summary()),
        ) {
            Ok(r) => r,
            Err(e) => {
                seg.forget_last_page();
                return Err(e);
            }
        };
        // Publish the page and empty the active page under the active lock, so a reader sees each
        // event exactly once.
        self.state.publish(|v| v.active = Some(Arc::new(reader)));
        guard.cols.clear();
        guard.first_seq = self.next_seq;
        drop(guard);
        self.active_frame = None;
        self.counters.sealed.fetch_add(rows, Ordering::AcqRel);
        if self.unlogged > 0 {
            // Events whose WAL append failed are all in this page (the page grew to take them).
            let n = std::mem::take(&mut self.unlogged);
            self.counters.written.fetch_add(n, Ordering::AcqRel);
        }
        self.wal.rotate(self.next_seq, self.wal_file_bytes())?;
        let full = self
            .segment
            .as_ref()
            .is_some_and(|s| s.len() >= self.opts.segment_max_bytes);
        if full {
            self.seal_segment()?;
        }
        // Every event before the page's end is in a page now: WAL files of older events can go
        // once those pages are durable.
        self.release_wal_into_pages(first_seq + rows)?;
        self.update_bytes();
        Ok(())
    }

    /// Bytes a WAL file holds before the next one starts: `Options::wal_file_bytes`, but at most
    /// a sixteenth of the disk budget (`retention.max_bytes`), which drops segments, never the WAL.
    fn wal_file_bytes(&self) -> u64 {
        let budget = self.opts.retention.max_bytes.map_or(u64::MAX, |b| b / 16);
        self.opts.wal_file_bytes.min(budget)
    }

    /// Release the WAL files whose events are all below `upto`, which pages hold. When one would
    /// go, the active segment is synced first (by policy): a page is synced once per WAL file, not
    /// once per page (a sync per page, with a WAL file made and removed per page, was four fsyncs
    /// a page: about a fifth of a busy writer's time, BENCHMARKS.md "Ingest").
    fn release_wal_into_pages(&mut self, upto: u64) -> Result<()> {
        if !self.wal.releases_any(upto) {
            return Ok(());
        }
        if self.opts.sync != SyncPolicy::None {
            if let Some(seg) = self.segment.as_mut() {
                seg.sync()?;
            }
            let sealed = self.counters.sealed.load(Ordering::Acquire);
            self.counters.durable.fetch_max(sealed, Ordering::AcqRel);
        }
        self.release_wal(upto)
    }

    fn start_segment(&mut self) -> Result<()> {
        let seg = self.state.new_segment()?;
        self.state.manifest.active = Some(seg.id());
        self.segment = Some(seg);
        self.segment_opened = Instant::now();
        // If this fails no page goes into the segment before `resume` stored the manifest.
        self.state.manifest.store(&self.state.dir)
    }

    /// Seal the active segment (footer, sync) and record it in the manifest.
    pub(crate) fn seal_segment(&mut self) -> Result<()> {
        let Some(seg) = self.segment.as_mut() else {
            return Ok(());
        };
        if seg.pages().is_empty() {
            let path = seg.path().to_owned();
            self.segment = None;
            self.state.manifest.active = None;
            self.state.publish(|v| v.active = None);
            self.leftovers.push(path);
            self.state.manifest.store(&self.state.dir)?;
            return self.remove_leftovers();
        }
        // A failed finish leaves the (poisoned) writer in place, so `resume` can copy its pages.
        seg.finish()?;
        let Some(seg) = self.segment.take() else {
            return Err(Error::Closed);
        };
        let reader = Arc::new(seg.into_sealed_reader()?);
        self.state.manifest.sealed.push(SealedInfo::of_pages(
            reader.id(),
            reader.len(),
            reader.pages(),
        ));
        self.state.manifest.active = None;
        self.state.publish(|v| {
            v.sealed.push(reader);
            v.active = None;
        });
        self.update_bytes();
        self.state.manifest.store(&self.state.dir)
    }

    /// Note a write or sync failure: the files it hit are abandoned (never written again).
    fn abandon_failed_files(&mut self) {
        if self.segment.as_ref().is_some_and(SegmentWriter::has_failed) {
            self.broken_segment = self.segment.take();
        }
    }

    /// Try to go on after a failure, in new files: copy the good pages of a failed segment into a
    /// new one, leave the current WAL file, and make every event taken so far durable in a page
    /// before anything new is acknowledged. Any step may fail again (the disk is still full); the
    /// steps already done stay done and the next try continues from there.
    fn resume(&mut self) -> Result<()> {
        // The manifest may be behind memory (its store failed); it must name the active segment
        // before pages go there.
        self.state.manifest.store(&self.state.dir)?;
        self.remove_leftovers()?;
        if self.names.has_failed() {
            self.names.renew(&self.state.dir, &self.dict)?;
        }
        if self.broken_segment.is_some() {
            self.copy_forward()?;
        }
        self.wal.abandon(self.next_seq)?;
        self.seal_page()?;
        if self.opts.sync != SyncPolicy::None {
            if let Some(seg) = self.segment.as_mut() {
                seg.sync()?;
            }
        }
        // Every event below `next_seq` is in a durable page: the abandoned WAL files can go, and
        // must go before the new file's events are acknowledged (see `Wal::abandon`).
        self.release_wal(self.next_seq)?;
        if self.opts.sync != SyncPolicy::None {
            self.sync()?;
        }
        self.update_bytes();
        Ok(())
    }

    /// Copy the good pages of the failed segment into a new active segment, then remove the failed
    /// file. The manifest names the new segment only once it holds every page, so a crash in
    /// between leaves the old one in charge.
    fn copy_forward(&mut self) -> Result<()> {
        let Some(broken) = self.broken_segment.as_ref() else {
            return Ok(());
        };
        let from = broken.path().to_owned();
        let pages = broken.pages().to_vec();
        let mut seg = self.state.new_segment()?;
        let copied = seg
            .copy_pages_from(&from, &pages)
            .and_then(|lost| seg.sync().map(|()| lost));
        let lost = match copied {
            Ok(lost) => lost,
            Err(e) => {
                let path = seg.path().to_owned();
                drop(seg);
                // Best effort: an unnamed partial copy is only a leftover (its pages are still
                // in the failed segment, which the manifest names).
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
        };
        let reader = SegmentReader::unsealed(
            seg.path(),
            seg.id(),
            seg.pages().to_vec(),
            Arc::clone(seg.summary()),
        )?;
        self.state.manifest.active = Some(seg.id());
        self.segment = Some(seg);
        self.segment_opened = Instant::now();
        self.state.publish(|v| v.active = Some(Arc::new(reader)));
        self.broken_segment = None;
        self.counters.lost.fetch_add(lost, Ordering::AcqRel);
        // The failed file goes once the manifest names the copy (a later `resume` finishes this
        // if the store fails now).
        self.leftovers.push(from);
        self.state.manifest.store(&self.state.dir)?;
        self.remove_leftovers()
    }

    /// Remove files the manifest no longer names (emptied or copied segments).
    fn remove_leftovers(&mut self) -> Result<()> {
        while let Some(path) = self.leftovers.last() {
            crate::durable::remove_durable(path)?;
            self.leftovers.pop();
        }
        Ok(())
    }

    /// Carry out one request.
    /// Do `command` and send its answer. Returns the failure, if any, so the loop treats it as a
    /// failed write (abandon the files, retry later).
    fn serve(&mut self, command: Command) -> Option<Failure> {
        fn answer<T>(reply: Reply<T>, result: Result<T>) -> Option<Failure> {
            let (sent, failure) = match result {
                Ok(v) => (Ok(v), None),
                Err(e) => {
                    let f = Failure::of(&e);
                    (Err(f.clone()), Some(f))
                }
            };
            // A send fails only when the asker gave up waiting.
            let _ = reply.send(sent);
            failure
        }
        match command {
            Command::Compact(reply) => {
                // Compaction works on sealed segments only: seal what is open first, so a
                // compaction asked for after a write includes that write.
                let result = self
                    .seal_page()
                    .and_then(|()| self.seal_segment())
                    .and_then(|()| compaction::compact(&mut self.state, &self.opts, &self.dict));
                self.update_bytes();
                answer(reply, result)
            }
            Command::Retention(reply) => {
                let result = self.enforce_retention();
                answer(reply, result)
            }
        }
    }

    fn active_segment_bytes(&self) -> u64 {
        self.segment.as_ref().map_or(0, |s| s.len())
    }

    /// Drop what the retention options rule out now.
    fn enforce_retention(&mut self) -> Result<RetentionReport> {
        let active = self.active_segment_bytes();
        let report = retention::enforce(
            &mut self.state,
            self.opts.retention,
            active,
            crate::clock::now_ns(),
        );
        self.update_bytes();
        report
    }

    /// Seal what is due by age, and apply retention now and then.
    pub(crate) fn tick(&mut self) -> Result<()> {
        if self.last_retention.elapsed() >= RETENTION_EVERY {
            self.last_retention = Instant::now();
            self.enforce_retention()?;
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
        self.origins.checkpoint(&self.state.dir, self.next_seq)?;
        self.wal.remove_all()?;
        counters.durable.fetch_max(written, Ordering::AcqRel);
        Ok(())
    }

    pub(crate) fn update_bytes(&self) {
        let total = self.state.sealed_bytes()
            + self.active_segment_bytes()
            + self.wal.bytes()
            + self.names.bytes();
        self.counters.bytes_on_disk.store(total, Ordering::Release);
    }
}

/// Marks the writer stopped however `run` ends (returning or unwinding from a panic): commands it
/// will not serve are dropped, so their askers get `Closed`, and every waiter is woken.
struct StopGuard(Arc<WriterShared>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        let mut st = self.0.state.lock().unwrap_or_else(|p| p.into_inner());
        st.stopped = true;
        st.commands.clear();
        self.0.changed.notify_all();
    }
}

/// How long an idle writer parks at a time while batches came lately ([`Ring::nap`]): producers
/// then need not wake it, and a batch waits at most this long for it.
const NAP: Duration = Duration::from_millis(1);
/// How long after its last batch a writer naps rather than sleeping until woken.
const NAPPING: Duration = Duration::from_millis(50);

/// The writer thread: drain, log, sync by policy, answer flushes, seal by age. On a write or sync
/// failure it abandons the failed file, answers flushes with the failure and retries in new files
/// with backoff (at once when a flush or request asks); meanwhile it leaves batches in the ring,
/// which drops and counts what does not fit, and producers never wait.
pub(crate) fn run(mut w: PartitionWriter, ring: Arc<Ring>, shared: Arc<WriterShared>) {
    let _stopped = StopGuard(Arc::clone(&shared));
    let mut failed: Option<Failure> = None;
    let mut backoff = RETRY_FIRST;
    let mut retry_at = Instant::now();
    let mut answered = 0u64;
    // A batch taken from the ring whose names could not be stored: it goes in first on resuming.
    let mut held: Option<Batch> = None;
    let mut last_batch = Instant::now();
    loop {
        let (requested, shutdown, commands) = {
            let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            (
                st.flush_requested,
                st.shutdown,
                std::mem::take(&mut st.commands),
            )
        };
        if failed.is_some() {
            // A waiting caller (flush, request, close) gets a fresh try rather than the old error.
            let asked = requested > answered || !commands.is_empty() || shutdown;
            if asked || Instant::now() >= retry_at {
                match w.resume() {
                    Ok(()) => {
                        failed = None;
                        backoff = RETRY_FIRST;
                    }
                    Err(e) => {
                        w.abandon_failed_files();
                        failed = Some(Failure::of(&e));
                        retry_at = Instant::now() + backoff;
                        backoff = (backoff * 2).min(RETRY_MAX);
                    }
                }
            }
        }
        let mut took = false;
        while failed.is_none() {
            let Some(batch) = held
                .take()
                .or_else(|| ring.pop().map(|q| w.built(q, &ring)))
            else {
                break;
            };
            took = true;
            last_batch = Instant::now();
            // Names first: a batch whose names are not stored cannot go anywhere yet.
            let result = match w.names.persist_new(&w.dict) {
                Ok(_) => w.ingest(&batch, true).map(|()| ring.give_back(batch)),
                Err(e) => {
                    held = Some(batch);
                    Err(e)
                }
            };
            if let Err(e) = result {
                w.abandon_failed_files();
                failed = Some(Failure::of(&e));
                retry_at = Instant::now() + backoff;
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
                w.abandon_failed_files();
                failed = Some(Failure::of(&e));
                retry_at = Instant::now() + backoff;
            }
            w.update_bytes();
        }
        for command in commands {
            match &failed {
                Some(f) => command.refuse(f.clone()),
                None => {
                    if let Some(f) = w.serve(command) {
                        w.abandon_failed_files();
                        failed = Some(f);
                        retry_at = Instant::now() + backoff;
                    }
                }
            }
        }
        answered = requested;
        {
            let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            st.flush_done = st.flush_done.max(requested);
            st.failed = failed.clone();
            shared.changed.notify_all();
        }
        let drained = ring.is_empty() || failed.is_some();
        if shutdown && drained {
            let result = match &failed {
                None => w.close().map_err(|e| Failure::of(&e)),
                Some(f) => {
                    // The disk never came back: what is only in memory cannot be kept.
                    let held = held.take().map_or(0, |b| b.len() as u64);
                    w.counters
                        .lost
                        .fetch_add(w.unlogged + held, Ordering::AcqRel);
                    while let Some(batch) = ring.pop() {
                        w.counters
                            .discarded
                            .fetch_add(batch.events() as u64, Ordering::AcqRel);
                    }
                    Err(f.clone())
                }
            };
            let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(f) = result {
                st.failed = Some(f);
            }
            st.stopped = true;
            shared.changed.notify_all();
            return;
        }
        let more_work = {
            let st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            st.flush_requested > st.flush_done || st.shutdown || !st.commands.is_empty()
        };
        if failed.is_some() {
            if !more_work {
                std::thread::park_timeout(retry_at.saturating_duration_since(Instant::now()));
            }
        } else if !more_work && ring.is_empty() {
            let deadline = w.next_deadline().max(Duration::from_micros(100));
            if last_batch.elapsed() < NAPPING {
                ring.nap(deadline.min(NAP));
            } else {
                ring.sleep(deadline);
            }
        }
    }
}
