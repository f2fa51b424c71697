//! [`Store`]: the public handle on a store directory. Opening starts (or joins) the engine of that
//! directory in this process: [`Options::writers`] lanes (`lane.rs`: a partition claimed and
//! recovered, a ring, a writer thread) sharing one dictionary and one bufferpool.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use crate::admission::{self, RawBatch};
use crate::bufferpool::{BufferPool, PoolStats};
use crate::compaction::CompactionReport;
use crate::dictionary::Dictionary;
use crate::disk_partition::PartitionCache;
use crate::durable;
use crate::error::{Error, Result};
use crate::event::{Batch, Code, Level, NameId, Rejections, Value, MAX_BATCH_EVENTS};
use crate::lane::{Lane, Recovered};
use crate::options::Options;
use crate::partition;
use crate::recovery::{Depth, RecoveryReport};
use crate::retention::RetentionReport;
use crate::ring::{CounterSnapshot, Push, Queued};
use crate::scan::View;
use crate::writer::Command;

/// Batches above this many bytes are handed to the writer in parts (each part one WAL record).
const MAX_BATCH_BYTES: usize = 32 << 20;

pub(crate) struct Engine {
    root: PathBuf,
    /// One dictionary for every lane: a batch's ids mean the same whichever writer takes it.
    dict: Arc<Dictionary>,
    pool: Arc<BufferPool>,
    /// Readers of the other partitions, reused by every view.
    foreign: PartitionCache,
    /// The writers (at least one). Received batches all go to the first, whose partition keeps
    /// their origins; other batches go to their producer's home lane (`Engine::push`).
    lanes: Vec<Lane>,
    /// Each producer thread's home lane, given out in turn as threads first append.
    homes: Mutex<HashMap<ThreadId, usize>>,
    opts: Options,
    /// Per source, one past the highest seq of the received batches taken (see `origins.rs`).
    received: Mutex<BTreeMap<Arc<str>, u64>>,
}

/// What [`Store::append_received`] did with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Received {
    /// Taken; stored once the writer has it ([`Store::flush`] waits for that).
    Taken,
    /// Every event of it is already stored (sent again after a crash or a rebalance): nothing
    /// taken.
    Duplicate,
    /// Part of it is already stored, part not: nothing taken. A sender that always sends the same
    /// ranges (whole sealed pages) never causes this.
    Overlap {
        /// One past the highest seq of the source already stored.
        stored_to: u64,
    },
    /// The store could not take it (closed, or the writer has been stuck for a minute): nothing
    /// taken; send it again later.
    Dropped,
}

/// Producer threads whose home lane an engine remembers (see `Engine::home_lane`).
const MAX_HOMES: usize = 4096;

/// How long [`Store::append_received`] waits for room in the ring before it gives up.
const RECEIVED_WAIT: Duration = Duration::from_secs(60);

fn registry() -> &'static Mutex<HashMap<PathBuf, Weak<Engine>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<PathBuf, Weak<Engine>>>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

/// What [`Store::maintain`] does to each idle partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Maintenance {
    /// Merge small adjacent segments ([`Store::compact`]).
    Compact,
    /// Drop segments beyond the retention limits ([`Store::enforce_retention`]).
    Retention,
    /// Check every page's columns too and rewrite segments with damaged pages, keeping their intact
    /// pages (the originals go to `quarantine/`); the report says what was kept and lost.
    Repair,
}

/// What [`Store::maintain`] did to one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Maintained {
    /// A running writer holds it; left alone.
    Busy,
    /// Compacted.
    Compacted(CompactionReport),
    /// Retention applied.
    Retained(RetentionReport),
    /// Recovered with every page checked (see [`Maintenance::Repair`]).
    Repaired(Box<RecoveryReport>),
}

/// An open store. Cheap to clone; all clones (and every `Store::open` of the same directory in this
/// process) share one engine. The engine stops when the last handle is dropped or on [`Store::close`].
#[derive(Clone)]
pub struct Store {
    engine: Arc<Engine>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let partitions: Vec<&Path> = self.engine.lanes.iter().map(|l| &*l.partition).collect();
        f.debug_struct("Store")
            .field("root", &self.engine.root)
            .field("partitions", &partitions)
            .finish()
    }
}

impl Store {
    /// Open (creating if needed) the store at `path`.
    ///
    /// ```
    /// use laptime_storage::{Options, Store};
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path(), Options::default())?;
    /// let name = store.intern("Checkout.total")?;
    /// let mut batch = laptime_storage::Batch::default();
    /// batch.push_call(name, 1_700_000_000_000_000_000, 42_000, true);
    /// store.append(batch);
    /// store.flush()?;
    /// assert_eq!(store.counters().written, 1);
    /// store.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: impl AsRef<Path>, opts: Options) -> Result<Store> {
        opts.validate()?;
        let path = path.as_ref();
        durable::create_dir_durable(path)?;
        let root = path
            .canonicalize()
            .map_err(|e| Error::io(path, "resolve store path", e))?;
        let mut reg = registry().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(engine) = reg.get(&root).and_then(Weak::upgrade) {
            return Ok(Store { engine });
        }
        let engine = Arc::new(Engine::start(root.clone(), opts)?);
        reg.insert(root, Arc::downgrade(&engine));
        Ok(Store { engine })
    }

    /// Compact, or apply the retention limits of `opts`, to every partition of the store at `path`
    /// that no process is writing, one after the other (each is opened, recovered, maintained and
    /// closed). Partitions held by a running writer are reported as [`Maintained::Busy`]: their
    /// writer applies retention itself every second and compacts on [`Store::compact`].
    pub fn maintain(
        path: impl AsRef<Path>,
        opts: Options,
        what: Maintenance,
    ) -> Result<Vec<(PathBuf, Maintained)>> {
        opts.validate()?;
        let path = path.as_ref();
        partition::require_store(path)?;
        let root = path
            .canonicalize()
            .map_err(|e| Error::io(path, "resolve store path", e))?;
        let mut out = Vec::new();
        for dir in partition::list(&root)? {
            let Some(lock) = partition::try_lock(&dir)? else {
                out.push((dir, Maintained::Busy));
                continue;
            };
            // A private engine (not in the registry): nobody else may share this partition.
            let depth = match what {
                Maintenance::Repair => Depth::Full,
                _ => Depth::Quick,
            };
            let pool = Arc::new(BufferPool::new(opts.bufferpool_bytes));
            let one = opts.for_one_writer();
            let recovered =
                Recovered::open(dir.clone(), lock, true, depth, &one, Arc::clone(&pool))?;
            let engine = Engine::run(root.clone(), vec![recovered], pool, opts.clone())?;
            let store = Store {
                engine: Arc::new(engine),
            };
            let result = match what {
                Maintenance::Compact => store.compact().map(Maintained::Compacted),
                Maintenance::Retention => store.enforce_retention().map(Maintained::Retained),
                Maintenance::Repair => Ok(Maintained::Repaired(Box::new(
                    store.recovery_report().clone(),
                ))),
            };
            let closed = store.close();
            let done = result?;
            closed?;
            out.push((dir, done));
        }
        Ok(out)
    }

    /// Whether `other` is a handle on the same engine.
    pub fn same_engine(&self, other: &Store) -> bool {
        Arc::ptr_eq(&self.engine, &other.engine)
    }

    /// Directory of the store.
    pub fn path(&self) -> &Path {
        &self.engine.root
    }

    /// What recovery found when this process opened its (first) partition.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.engine.first().report
    }

    /// What recovery found in each partition this process writes, one per writer
    /// ([`Options::writers`]), the first one's first.
    pub fn recovery_reports(&self) -> Vec<&RecoveryReport> {
        self.engine.lanes.iter().map(|l| &l.report).collect()
    }

    /// The partition directories this process writes, one per writer.
    pub fn partitions(&self) -> Vec<&Path> {
        self.engine.lanes.iter().map(|l| &*l.partition).collect()
    }

    /// The options the engine runs with (those of the first `open` in this process).
    pub fn options(&self) -> &Options {
        &self.engine.opts
    }

    /// The id of a function name, logger name or field key, interning it when new.
    pub fn intern(&self, name: &str) -> Result<NameId> {
        self.engine.dict.intern(name)
    }

    /// The string of an id from [`Store::intern`].
    pub fn name_of(&self, id: NameId) -> Option<Arc<str>> {
        self.engine.dict.get(id)
    }

    /// An empty batch with room for at least `events` events, in the memory of a batch the writer
    /// has stored when one is spare: a producer that builds each batch in one allocates nothing and
    /// touches no fresh memory in the steady state.
    pub fn spare_batch(&self, events: usize) -> Batch {
        let mut batch = self.engine.take_spare().unwrap_or_default();
        batch.reserve(events);
        batch
    }

    /// Hand a batch to the writer. Never blocks unless the store was opened with the `Block`
    /// overflow policy; a batch that does not fit is dropped and counted. Every name id and field
    /// key in the batch must come from [`Store::intern`] of this store: an event with an unknown
    /// id is refused alone (counted in `rejected`, see [`Store::append_checked`]), so nothing
    /// unreadable is written and its valid neighbours still are.
    pub fn append(&self, batch: Batch) -> Push {
        self.append_checked(batch, Rejections::default()).0
    }

    /// [`Store::append`] for producers that refused some events themselves before building the
    /// batch (`already`, e.g. a start time that is no epoch time): those are counted with the ones
    /// this refuses. Returns what happened to the batch and every refused event, with the first
    /// reason.
    pub fn append_checked(&self, batch: Batch, already: Rejections) -> (Push, Rejections) {
        let (batch, rejected) = self.check(batch, already);
        if self.is_stopped() {
            self.engine
                .first()
                .counters
                .dropped
                .fetch_add(batch.len() as u64, Ordering::AcqRel);
            return (Push::Dropped, rejected);
        }
        (self.push_bounded(batch, None), rejected)
    }

    /// Hand over events the writer thread builds into a batch ([`RawBatch::build`]) and checks as
    /// [`Store::append_checked`] would: the producer's thread only queues them. What the writer
    /// refuses is counted in `rejected` and told to the raw batch ([`RawBatch::refused`]).
    /// A raw batch that finds no room (or a stopped writer) is dropped unbuilt and counted.
    pub fn append_raw(&self, raw: Box<dyn RawBatch>) -> Push {
        if self.is_stopped() {
            self.engine
                .first()
                .counters
                .dropped
                .fetch_add(raw.events() as u64, Ordering::AcqRel);
            return Push::Dropped;
        }
        self.engine.push(Queued::Raw(raw))
    }

    /// Take out (and count) the events the engine refuses: names and field keys never interned,
    /// more text than an event may carry.
    fn check(&self, batch: Batch, already: Rejections) -> (Batch, Rejections) {
        let (batch, rejected) = admission::admit(batch, already, self.engine.dict.len() as u64);
        if rejected.count > 0 {
            self.engine
                .first()
                .counters
                .rejected
                .fetch_add(rejected.count, Ordering::AcqRel);
        }
        (batch, rejected)
    }

    /// Append a batch received from elsewhere, marked with [`Batch::set_origin`], unless this
    /// store already holds its events: the origin is stored with the events (same WAL record),
    /// so after any crash a batch sent again is recognised by its seqs. Waits for room in the
    /// ring (up to a minute) instead of dropping. Batches of one source must come in seq order.
    pub fn append_received(&self, batch: Batch) -> Result<Received> {
        let Some(origin) = batch.origin().cloned() else {
            return Err(Error::InvalidInput {
                what: "received batch",
                reason: "it has no origin (Batch::set_origin)".to_owned(),
            });
        };
        if batch.len() > MAX_BATCH_EVENTS {
            return Err(Error::InvalidInput {
                what: "received batch",
                reason: format!(
                    "it holds {} events, at most {MAX_BATCH_EVENTS} fit one batch",
                    batch.len()
                ),
            });
        }
        // Held until the batch is in the ring: batches of a source are taken in order.
        let mut received = self
            .engine
            .received
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let stored_to = received.get(&origin.source).copied().unwrap_or(0);
        if origin.end_seq <= stored_to {
            return Ok(Received::Duplicate);
        }
        if origin.first_seq < stored_to {
            return Ok(Received::Overlap { stored_to });
        }
        if self.is_stopped() {
            return Ok(Received::Dropped);
        }
        let deadline = Some(Instant::now() + RECEIVED_WAIT);
        let (batch, _) = self.check(batch, Rejections::default());
        if self.push_bounded(batch, deadline) != Push::Accepted {
            return Ok(Received::Dropped);
        }
        received.insert(origin.source, origin.end_seq);
        Ok(Received::Taken)
    }

    /// Per source, one past the highest seq of the received batches this store holds (or has
    /// taken: [`Store::flush`] makes them durable).
    pub fn received(&self) -> BTreeMap<String, u64> {
        let received = self
            .engine
            .received
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        received.iter().map(|(s, e)| (s.to_string(), *e)).collect()
    }

    /// Offer `batch` to the ring; one batch is one WAL record, whose size is bounded, so a big
    /// batch goes in halves.
    fn push_bounded(&self, mut batch: Batch, deadline: Option<Instant>) -> Push {
        if batch.len() > 1 && batch.heap_bytes() > MAX_BATCH_BYTES {
            let rest = batch.split_off(batch.len() / 2);
            let first = self.push_bounded(batch, deadline);
            if first != Push::Accepted && deadline.is_some() {
                // A received batch's origin rides on its last part: never send it without the first.
                return first;
            }
            let second = self.push_bounded(rest, deadline);
            return if first == Push::Accepted && second == Push::Accepted {
                Push::Accepted
            } else {
                Push::Dropped
            };
        }
        match deadline {
            // A received batch goes to the first lane, whose partition keeps the origins.
            Some(_) => self.engine.first().push(batch.into(), deadline),
            None => self.engine.push(batch.into()),
        }
    }

    fn is_stopped(&self) -> bool {
        self.engine.first().is_stopped()
    }

    /// A buffered producer handle for one thread.
    pub fn recorder(&self) -> Recorder {
        Recorder::new(self.clone(), 4096)
    }

    /// Wait until every batch appended before this call is written to the WAL; under
    /// `SyncPolicy::Always` also on stable storage. While the writer cannot write (a full or failing
    /// disk) it makes one more try and fails with [`Error::DiskFull`] or [`Error::WriterFailed`] if
    /// that does not succeed either; a later flush tries again.
    pub fn flush(&self) -> Result<()> {
        // Every writer is asked before any is waited for, so they flush at the same time.
        let asked: Vec<Result<u64>> = self.engine.lanes.iter().map(Lane::request_flush).collect();
        let mut first_error = None;
        for (lane, gen) in self.engine.lanes.iter().zip(asked) {
            if let Err(e) = gen.and_then(|gen| lane.wait_flushed(gen)) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Merge small sealed segments into full ones (see [`CompactionReport`]). Runs on the writer
    /// thread; producers keep running, their events queue in the ring meanwhile.
    pub fn compact(&self) -> Result<CompactionReport> {
        let mut total = CompactionReport::default();
        for lane in &self.engine.lanes {
            total.add(&lane.ask(Command::Compact)?);
        }
        Ok(total)
    }

    /// Apply the retention limits now (the writer also does so every second on its own).
    pub fn enforce_retention(&self) -> Result<RetentionReport> {
        let mut total = RetentionReport::default();
        for lane in &self.engine.lanes {
            total.add(&lane.ask(Command::Retention)?);
        }
        Ok(total)
    }

    /// Why the writer cannot write right now ([`Error::DiskFull`] or [`Error::WriterFailed`]), or
    /// `None` while it writes. It retries by itself; this only tells.
    pub fn write_failure(&self) -> Option<Error> {
        self.engine.lanes.iter().find_map(Lane::write_failure)
    }

    /// Bufferpool counters (budget, bytes used, hits, misses, evictions).
    pub fn pool_stats(&self) -> PoolStats {
        self.engine.pool.stats()
    }

    /// Event counters (accepted, dropped, written, durable, sealed, bytes on disk).
    pub fn counters(&self) -> CounterSnapshot {
        let mut total = CounterSnapshot::default();
        for lane in &self.engine.lanes {
            total.add(&lane.counters.snapshot());
        }
        total
    }

    /// A consistent view of everything stored so far, in all partitions of the directory: this
    /// process's events including the unsealed tails, other processes' sealed pages.
    pub fn view(&self) -> Result<View> {
        let e = &self.engine;
        let live = e.lanes.iter().map(|l| l.live(&e.dict)).collect();
        View::of_disk(&e.root, &e.foreign, Arc::clone(&e.pool), live)
    }

    /// Release this handle. The last handle of an engine stops its writer after everything
    /// appended so far is written, seals the active page and segment, and releases the partition;
    /// earlier handles only flush, so one worker thread closing does not close the store under the
    /// others. (Dropping the last handle stops the engine too, without reporting errors.)
    pub fn close(self) -> Result<()> {
        if Arc::strong_count(&self.engine) > 1 {
            return match self.flush() {
                Err(Error::Closed) => Ok(()),
                other => other,
            };
        }
        self.engine.stop()
    }
}

impl Engine {
    /// The first lane (there is always one: `Options::writers` is at least 1).
    fn first(&self) -> &Lane {
        &self.lanes[0]
    }

    /// Claim and recover `opts.writers` partitions and start their writers.
    fn start(root: PathBuf, opts: Options) -> Result<Engine> {
        let pool = Arc::new(BufferPool::new(opts.bufferpool_bytes));
        let one = opts.for_one_writer();
        let mut recovered: Vec<Recovered> = Vec::with_capacity(opts.writers);
        let mut passed_over = Vec::new();
        while recovered.len() < opts.writers {
            let (dir, lock, adopted) = partition::claim(&root, &passed_over)?;
            let r = Recovered::open(
                dir.clone(),
                lock,
                adopted,
                Depth::Quick,
                &one,
                Arc::clone(&pool),
            )?;
            if names_agree(&recovered, &r) {
                recovered.push(r);
            } else {
                // Its ids mean other names than the other lanes': it cannot share their
                // dictionary. Dropping it releases its lock; it stays as recovery left it, read
                // by every view, and a store with one writer (or another process) adopts it.
                passed_over.push(dir);
            }
        }
        Engine::run(root, recovered, pool, opts)
    }

    /// Start a writer for each recovered partition, all with the longest of their dictionaries
    /// (every other one is its first ids, `names_agree`).
    fn run(
        root: PathBuf,
        mut recovered: Vec<Recovered>,
        pool: Arc<BufferPool>,
        opts: Options,
    ) -> Result<Engine> {
        let dict = recovered
            .iter()
            .map(Recovered::dictionary)
            .max_by_key(|d| d.len())
            .cloned()
            .unwrap_or_default();
        let mut received = BTreeMap::new();
        for r in &mut recovered {
            // Received batches may sit in any of the partitions (a store once opened with other
            // lanes): a batch any of them holds is a duplicate.
            for (source, end) in r.received() {
                let e = received.entry(source).or_insert(0);
                *e = end.max(*e);
            }
            r.share_dictionary(Arc::clone(&dict));
        }
        let one = opts.for_one_writer();
        // A lane that fails to start stops the ones started before it (`Lane`'s drop).
        let lanes = recovered
            .into_iter()
            .map(|r| r.start(&one))
            .collect::<Result<Vec<Lane>>>()?;
        Ok(Engine {
            root,
            dict,
            pool,
            foreign: PartitionCache::default(),
            lanes,
            homes: Mutex::default(),
            opts,
            received: Mutex::new(received),
        })
    }

    /// Hand a batch to its producer's home lane, or, when that ring is full, to the next lane with
    /// room; when none has room, to the home lane under the overflow policy (wait, or drop and
    /// count). Each producer keeping to one writer keeps its pages in time order (an interleaved
    /// page costs the writer a sort); a producer that outruns its writer spills over to the others.
    fn push(&self, batch: Queued) -> Push {
        let n = self.lanes.len();
        if n == 1 {
            return self.first().push(batch, None);
        }
        let home = self.home_lane();
        let mut batch = batch;
        for k in 0..n {
            match self.lanes[(home + k) % n].offer(batch) {
                None => return Push::Accepted,
                Some(back) => batch = back,
            }
        }
        self.lanes[home].push(batch, None)
    }

    /// A spare batch from the first lane that has one.
    fn take_spare(&self) -> Option<Batch> {
        self.lanes.iter().find_map(Lane::take_spare)
    }

    /// The calling thread's home lane: threads get the lanes in turn as they first append.
    fn home_lane(&self) -> usize {
        let mut homes = self.homes.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded: a process that starts and ends threads without end starts the turn again.
        if homes.len() >= MAX_HOMES {
            homes.clear();
        }
        let next = homes.len() % self.lanes.len();
        *homes.entry(std::thread::current().id()).or_insert(next)
    }

    fn stop(&self) -> Result<()> {
        // All writers are told first, so they drain their rings at the same time.
        for lane in &self.lanes {
            lane.request_stop();
        }
        let mut first_error = None;
        for lane in &self.lanes {
            if let Err(e) = lane.join() {
                first_error.get_or_insert(e);
            }
        }
        let mut reg = registry().lock().unwrap_or_else(|p| p.into_inner());
        if reg.get(&self.root).is_some_and(|w| {
            w.upgrade()
                .is_none_or(|e| std::ptr::eq(Arc::as_ptr(&e), self))
        }) {
            reg.remove(&self.root);
        }
        drop(reg);
        first_error.map_or(Ok(()), Err)
    }
}

/// Whether the names of `candidate` and of every partition in `lanes` agree: each list is the
/// start of the longer one, so one dictionary serves them all.
fn names_agree(lanes: &[Recovered], candidate: &Recovered) -> bool {
    let theirs = candidate.names();
    lanes.iter().all(|l| {
        let ours = l.names();
        let common = ours.len().min(theirs.len());
        ours[..common] == theirs[..common]
    })
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// A buffered producer: collects events into a batch and hands it to the store when full (or on
/// [`Recorder::submit`] and on drop). One per thread; not shared.
pub struct Recorder {
    store: Store,
    batch: Batch,
    capacity: usize,
}

impl Recorder {
    fn new(store: Store, capacity: usize) -> Recorder {
        Recorder {
            store,
            batch: Batch::with_capacity(capacity),
            capacity,
        }
    }

    /// Record a call.
    pub fn call(&mut self, name: NameId, start_ns: u64, duration_ns: u64, ok: bool) {
        self.batch.push_call(name, start_ns, duration_ns, ok);
        self.submit_if_full();
    }

    /// Record a call with fields.
    pub fn call_with(
        &mut self,
        name: NameId,
        start_ns: u64,
        duration_ns: u64,
        ok: bool,
        fields: impl IntoIterator<Item = (NameId, Value)>,
    ) {
        self.batch.push_call(name, start_ns, duration_ns, ok);
        for (k, v) in fields {
            self.batch.add_field(k, v);
        }
        self.submit_if_full();
    }

    /// Record a log line.
    pub fn log(&mut self, name: NameId, start_ns: u64, level: Level, message: &str) {
        self.batch.push_log(name, start_ns, level, message);
        self.submit_if_full();
    }

    /// Record an event of any kind.
    pub fn event(&mut self, name: NameId, start_ns: u64, duration_ns: u64, code: Code) {
        self.batch.push(name, start_ns, duration_ns, code);
        self.submit_if_full();
    }

    fn submit_if_full(&mut self) {
        if self.batch.len() >= self.capacity {
            self.submit();
        }
    }

    /// Time the scope into this recorder: the call is recorded (ok, unless
    /// [`RecorderTimer::fail`] is called) when the guard is dropped. For guards that nest or cross
    /// threads, use `laptime_core::capture::time`.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let store = laptime_storage::Store::open(dir.path(), laptime_storage::Options::default())?;
    /// let mut recorder = store.recorder();
    /// {
    ///     let _t = recorder.time("nightly.import")?;
    /// }
    /// recorder.submit();
    /// # store.flush()?;
    /// # assert_eq!(store.view()?.events(&Default::default())?.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn time(&mut self, name: &str) -> Result<RecorderTimer<'_>> {
        let id = self.store.intern(name)?;
        Ok(RecorderTimer {
            recorder: self,
            name: id,
            start_ns: crate::clock::now_ns(),
            started: std::time::Instant::now(),
            ok: true,
        })
    }

    /// Hand the buffered events to the store now.
    pub fn submit(&mut self) -> Push {
        if self.batch.is_empty() {
            return Push::Accepted;
        }
        let full = std::mem::replace(&mut self.batch, self.store.spare_batch(self.capacity));
        self.store.append(full)
    }

    /// The store this recorder writes to.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.submit();
    }
}

/// A running timing of [`Recorder::time`]; recorded when dropped.
#[must_use = "the call is timed until the guard is dropped; `let _t = ...` keeps it alive"]
pub struct RecorderTimer<'a> {
    recorder: &'a mut Recorder,
    name: NameId,
    start_ns: u64,
    started: std::time::Instant,
    ok: bool,
}

impl RecorderTimer<'_> {
    /// Record the call as failed.
    pub fn fail(&mut self) {
        self.ok = false;
    }
}

impl Drop for RecorderTimer<'_> {
    fn drop(&mut self) {
        let duration = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.recorder
            .call(self.name, self.start_ns, duration, self.ok);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_gives_stored_batches_back_for_the_next_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Options::default()).unwrap();
        let id = store.intern("f").unwrap();
        let mut batch = store.spare_batch(1000);
        for i in 0..1000 {
            batch.push_call(id, 1_700_000_000_000_000_000 + i, 5, true);
        }
        let bytes = batch.heap_bytes();
        assert_eq!(store.append(batch), Push::Accepted);
        store.flush().unwrap();
        let spare = store.spare_batch(10);
        assert!(spare.is_empty());
        assert_eq!(spare.heap_bytes(), bytes, "the stored batch's memory");
        assert_eq!(
            store
                .view()
                .unwrap()
                .events(&Default::default())
                .unwrap()
                .len(),
            1000
        );
    }
}
