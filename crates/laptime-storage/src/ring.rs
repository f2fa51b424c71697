//! The ring between producers and the writer thread: a bounded lock-free queue of [`Batch`]es (or
//! [`RawBatch`]es the writer builds) with a byte budget, and the exact counters that make every
//! event either stored or counted as dropped.
//!
//! Producers never block by default: a batch that does not fit is dropped whole and its events are
//! counted. The opt-in [`Overflow::Block`] policy retries until a deadline, then drops and counts.
//!
//! Batches also travel back: the writer returns the ones it has stored, emptied, to a few spare
//! slots, and producers build their next batch in one. Memory that goes round this way is neither
//! allocated again nor, after glibc gave it back to the OS, faulted in again page by page (about
//! 2 ns of a captured call's cost, see BENCHMARKS.md "Capture floor").

use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread::Thread;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;

use crate::admission::RawBatch;
use crate::event::Batch;

/// One item of the ring: a batch built by its producer, or one the writer builds.
pub(crate) enum Queued {
    Built(Batch),
    Raw(Box<dyn RawBatch>),
}

impl Queued {
    /// Events it holds (for a raw batch, before the writer refuses any).
    pub(crate) fn events(&self) -> usize {
        match self {
            Queued::Built(b) => b.len(),
            Queued::Raw(r) => r.events(),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Queued::Built(b) => b.heap_bytes(),
            Queued::Raw(r) => r.heap_bytes(),
        }
    }
}

impl From<Batch> for Queued {
    fn from(batch: Batch) -> Queued {
        Queued::Built(batch)
    }
}

/// What a producer does when the ring is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Drop the batch and count its events (the default: capture never slows the program).
    Drop,
    /// Wait up to `timeout` for room, then drop and count.
    Block {
        /// Longest wait per batch.
        timeout: Duration,
    },
}

/// Event counters of one store, readable at any time without locks.
#[derive(Debug, Default)]
pub struct Counters {
    pub(crate) accepted: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) discarded: AtomicU64,
    pub(crate) lost: AtomicU64,
    pub(crate) written: AtomicU64,
    pub(crate) durable: AtomicU64,
    pub(crate) sealed: AtomicU64,
    pub(crate) bytes_on_disk: AtomicU64,
    pub(crate) rejected: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// Events that entered the ring.
    pub accepted: u64,
    /// Events refused at the ring because it was full or the writer had stopped
    /// (`accepted + dropped` = every event offered).
    pub dropped: u64,
    /// Events accepted into the ring but thrown away because the writer stopped for good (closed
    /// while the disk was still failing).
    pub discarded: u64,
    /// Events the writer had taken but could not keep after a write or sync failure: not in the
    /// WAL and never reached a page (e.g. the store closed while the disk was still full), or in a
    /// page that did not read back intact when its failed segment was copied to a new one.
    /// `written + discarded + lost` = `accepted` once the ring is drained.
    pub lost: u64,
    /// Events the writer has written to the WAL (handed to the OS).
    pub written: u64,
    /// Events known to be on stable storage (WAL synced or page sealed and synced).
    pub durable: u64,
    /// Events in sealed pages.
    pub sealed: u64,
    /// Bytes of this writer's segment, WAL and names files.
    pub bytes_on_disk: u64,
    /// Invalid events refused at the hand-over (unknown name or key id, a start or duration that
    /// is no time); their valid neighbours in the same batch went on.
    pub rejected: u64,
}

impl CounterSnapshot {
    /// Count `other` (another writer's counters) in.
    pub(crate) fn add(&mut self, other: &CounterSnapshot) {
        self.accepted += other.accepted;
        self.dropped += other.dropped;
        self.discarded += other.discarded;
        self.lost += other.lost;
        self.written += other.written;
        self.durable += other.durable;
        self.sealed += other.sealed;
        self.bytes_on_disk += other.bytes_on_disk;
        self.rejected += other.rejected;
    }
}

impl Counters {
    /// Read all counters.
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            accepted: self.accepted.load(Ordering::Acquire),
            dropped: self.dropped.load(Ordering::Acquire),
            discarded: self.discarded.load(Ordering::Acquire),
            lost: self.lost.load(Ordering::Acquire),
            written: self.written.load(Ordering::Acquire),
            durable: self.durable.load(Ordering::Acquire),
            sealed: self.sealed.load(Ordering::Acquire),
            bytes_on_disk: self.bytes_on_disk.load(Ordering::Acquire),
            rejected: self.rejected.load(Ordering::Acquire),
        }
    }
}

/// Result of offering a batch to the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// The batch is queued for the writer.
    Accepted,
    /// The batch was dropped (and counted).
    Dropped,
}

/// Emptied batches a ring keeps for producers to build in.
const SPARE_BATCHES: usize = 4;
/// A batch holding more memory than this is not kept as a spare (one of a burst of huge batches
/// would otherwise stay allocated for good).
const SPARE_MAX_BYTES: usize = 1 << 20;

/// Batches queued before a producer wakes a napping writer (see [`Ring::nap`]).
const NUDGE_QUEUED: usize = 4;

/// Bounded multi-producer queue of batches with a byte budget.
pub(crate) struct Ring {
    queue: ArrayQueue<Queued>,
    /// Set while the writer sleeps until the next batch wakes it ([`Ring::sleep`]).
    sleeping: AtomicBool,
    spares: ArrayQueue<Batch>,
    max_bytes: usize,
    queued_bytes: AtomicUsize,
    overflow: Overflow,
    writer: OnceLock<Thread>,
}

impl Ring {
    /// A ring of at most `max_batches` batches and `max_bytes` of batch memory.
    pub(crate) fn new(max_batches: usize, max_bytes: usize, overflow: Overflow) -> Ring {
        Ring {
            queue: ArrayQueue::new(max_batches.max(1)),
            sleeping: AtomicBool::new(false),
            spares: ArrayQueue::new(SPARE_BATCHES),
            max_bytes,
            queued_bytes: AtomicUsize::new(0),
            overflow,
            writer: OnceLock::new(),
        }
    }

    /// Register the thread to wake when a batch arrives.
    pub(crate) fn set_writer(&self, thread: Thread) {
        let _ = self.writer.set(thread);
    }

    /// Offer a batch; never blocks under [`Overflow::Drop`].
    pub(crate) fn push(&self, batch: impl Into<Queued>, counters: &Counters) -> Push {
        let deadline = match self.overflow {
            Overflow::Drop => None,
            Overflow::Block { timeout } => Some(Instant::now() + timeout),
        };
        self.push_until(batch.into(), counters, deadline)
    }

    /// Offer a batch, waiting for room until `deadline` (none: not at all); dropped (and counted)
    /// when there is still none then.
    pub(crate) fn push_until(
        &self,
        batch: Queued,
        counters: &Counters,
        deadline: Option<Instant>,
    ) -> Push {
        let events = batch.events() as u64;
        let mut batch = batch;
        let mut spins = 0u32;
        loop {
            match self.offer(batch, counters) {
                None => return Push::Accepted,
                Some(back) => batch = back,
            }
            match deadline {
                Some(d) if Instant::now() < d => {
                    self.wake_writer();
                    // Back off from spinning to sleeping: a full ring means the writer is busy
                    // for at least a page's worth of work.
                    spins += 1;
                    if spins < 64 {
                        std::thread::yield_now();
                    } else {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
                _ => {
                    counters.dropped.fetch_add(events, Ordering::AcqRel);
                    return Push::Dropped;
                }
            }
        }
    }

    /// Queue `batch` if there is room now (counted as accepted; `None`), or hand it back
    /// uncounted: a store with several writers then offers it to the next one.
    pub(crate) fn offer(&self, batch: Queued, counters: &Counters) -> Option<Queued> {
        let events = batch.events() as u64;
        if events == 0 {
            return None;
        }
        let bytes = batch.heap_bytes();
        let back = self.try_push(batch, bytes);
        if back.is_none() {
            counters.accepted.fetch_add(events, Ordering::AcqRel);
            self.nudge_writer();
        }
        back
    }

    /// Queue `batch`, or hand it back when there is no room.
    fn try_push(&self, batch: Queued, bytes: usize) -> Option<Queued> {
        // Reserve the bytes first so concurrent producers cannot overshoot the budget together.
        let before = self.queued_bytes.fetch_add(bytes, Ordering::AcqRel);
        if before + bytes > self.max_bytes && before > 0 {
            self.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
            return Some(batch);
        }
        match self.queue.push(batch) {
            Ok(()) => None,
            Err(batch) => {
                self.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
                Some(batch)
            }
        }
    }

    /// Take the oldest batch (writer thread only).
    pub(crate) fn pop(&self) -> Option<Queued> {
        let batch = self.queue.pop()?;
        self.queued_bytes
            .fetch_sub(batch.heap_bytes(), Ordering::AcqRel);
        Some(batch)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Keep `batch`, which the writer has stored, for a producer to build its next one in; when
    /// the spare slots are full or the batch is very large it is freed.
    pub(crate) fn give_back(&self, mut batch: Batch) {
        if batch.heap_bytes() <= SPARE_MAX_BYTES {
            batch.clear();
            let _ = self.spares.push(batch);
        }
    }

    /// An emptied batch the writer gave back, if there is one.
    pub(crate) fn take_spare(&self) -> Option<Batch> {
        self.spares.pop()
    }

    /// Wake the writer (a command for it, or a producer waiting for room).
    pub(crate) fn wake_writer(&self) {
        if let Some(t) = self.writer.get() {
            t.unpark();
        }
    }

    /// A batch was queued: wake the writer if it sleeps, or if batches pile up while it naps.
    /// Waking a thread costs the producer a system call and, on a VM, an interrupt to the other
    /// core: about 5-10 us, or 1-3 ns a captured call at 4,096 rows a batch (BENCHMARKS.md,
    /// "Capture floor"). A writer that stored a batch lately naps instead and comes back by
    /// itself.
    fn nudge_writer(&self) {
        // Pairs with the fence in `sleep`: either the writer sees this batch before parking or
        // this sees it sleeping.
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) || self.queue.len() >= NUDGE_QUEUED {
            self.wake_writer();
        }
    }

    /// Writer thread: park for at most `timeout`; the next batch wakes it.
    pub(crate) fn sleep(&self, timeout: Duration) {
        self.sleeping.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if self.queue.is_empty() {
            std::thread::park_timeout(timeout);
        }
        self.sleeping.store(false, Ordering::Relaxed);
    }

    /// Writer thread: park for at most `timeout`; batches wake it only when
    /// [`NUDGE_QUEUED`] are waiting (commands always do).
    pub(crate) fn nap(&self, timeout: Duration) {
        std::thread::park_timeout(timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn batch(n: usize) -> Batch {
        let mut b = Batch::with_capacity(n);
        for i in 0..n {
            b.push_call(0, i as u64, 1, true);
        }
        b
    }

    #[test]
    fn stored_batches_come_back_empty_and_only_a_few_and_not_huge_ones() {
        let ring = Ring::new(2, usize::MAX, Overflow::Drop);
        let mut received = batch(100);
        received.set_origin("src", 0, 100).unwrap();
        let bytes = received.heap_bytes();
        ring.give_back(received);
        let spare = ring.take_spare().unwrap();
        assert!(spare.is_empty() && spare.origin().is_none());
        assert_eq!(spare.heap_bytes(), bytes, "its memory is kept");
        assert!(ring.take_spare().is_none());
        for _ in 0..SPARE_BATCHES + 3 {
            ring.give_back(batch(10));
        }
        let kept = std::iter::from_fn(|| ring.take_spare()).count();
        assert_eq!(kept, SPARE_BATCHES);
        ring.give_back(batch(SPARE_MAX_BYTES / 8));
        assert!(ring.take_spare().is_none(), "a huge batch is freed");
    }

    #[test]
    fn full_ring_drops_and_counts() {
        let counters = Counters::default();
        let ring = Ring::new(2, usize::MAX, Overflow::Drop);
        assert_eq!(ring.push(batch(10), &counters), Push::Accepted);
        assert_eq!(ring.push(batch(10), &counters), Push::Accepted);
        assert_eq!(ring.push(batch(7), &counters), Push::Dropped);
        let s = counters.snapshot();
        assert_eq!((s.accepted, s.dropped), (20, 7));
        assert_eq!(ring.pop().map(|b| b.events()), Some(10));
    }

    /// Events in a producer's form that count their own release.
    struct Raw(usize, Arc<AtomicUsize>);

    impl RawBatch for Raw {
        fn events(&self) -> usize {
            self.0
        }
        fn heap_bytes(&self) -> usize {
            self.0 * 21
        }
        fn build(&mut self, spare: Batch) -> (Batch, crate::event::Rejections) {
            (spare, crate::event::Rejections::default())
        }
    }

    impl Drop for Raw {
        fn drop(&mut self) {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_raw_batch_is_counted_like_a_built_one_and_released_when_dropped() {
        let counters = Counters::default();
        let released = Arc::new(AtomicUsize::new(0));
        let raw = |n| Queued::Raw(Box::new(Raw(n, Arc::clone(&released))));
        let ring = Ring::new(1, usize::MAX, Overflow::Drop);
        assert_eq!(ring.push(raw(10), &counters), Push::Accepted);
        assert_eq!(ring.push(raw(7), &counters), Push::Dropped);
        assert_eq!(released.load(Ordering::SeqCst), 1, "dropped unbuilt");
        let s = counters.snapshot();
        assert_eq!((s.accepted, s.dropped), (10, 7));
        let queued = ring.pop().unwrap();
        assert_eq!(queued.events(), 10);
        assert_eq!(ring.queued_bytes.load(Ordering::SeqCst), 0);
        drop(queued);
        assert_eq!(released.load(Ordering::SeqCst), 2);
        // An empty one is taken and released at once.
        assert_eq!(ring.push(raw(0), &counters), Push::Accepted);
        assert!(ring.is_empty());
        assert_eq!(released.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn byte_budget_bounds_queued_memory() {
        let counters = Counters::default();
        let one = batch(1000).heap_bytes();
        let ring = Ring::new(100, one * 3, Overflow::Drop);
        let accepted = (0..10)
            .filter(|_| ring.push(batch(1000), &counters) == Push::Accepted)
            .count();
        assert_eq!(accepted, 3);
        assert_eq!(counters.snapshot().dropped, 7000);
    }

    #[test]
    fn block_policy_gives_up_after_timeout() {
        let counters = Counters::default();
        let ring = Ring::new(
            1,
            usize::MAX,
            Overflow::Block {
                timeout: Duration::from_millis(20),
            },
        );
        ring.push(batch(1), &counters);
        let t = Instant::now();
        assert_eq!(ring.push(batch(1), &counters), Push::Dropped);
        assert!(t.elapsed() >= Duration::from_millis(20));
    }
}
