//! One writer of a store in this process: a claimed partition, its ring and its writer thread.
//! A store runs [`Options::writers`] lanes; they share the dictionary and the bufferpool and
//! nothing else (`store.rs` routes batches and joins their answers).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::bufferpool::BufferPool;
use crate::dictionary::Dictionary;
use crate::error::{Error, Result};
use crate::event::Batch;
use crate::options::Options;
use crate::page::PageMeta;
use crate::partition_state::PartitionView;
use crate::recovery::{self, Depth, RecoveryReport};
use crate::ring::{Counters, Push, Queued, Ring};
use crate::scan::LivePartition;
use crate::writer::{
    self, ActivePage, Command, Failure, PartitionWriter, WriterShared, WriterState,
};

/// A partition recovered for writing, its writer not started yet: the store checks that the
/// dictionaries of all its lanes agree before any of them writes.
pub(crate) struct Recovered {
    dir: PathBuf,
    lock: File,
    counters: Arc<Counters>,
    report: RecoveryReport,
    writer: PartitionWriter,
}

impl Recovered {
    /// Recover partition `dir` (locked by `lock`) with `opts` (one writer's share).
    pub fn open(
        dir: PathBuf,
        lock: File,
        adopted: bool,
        depth: Depth,
        opts: &Options,
        pool: Arc<BufferPool>,
    ) -> Result<Recovered> {
        let counters = Arc::new(Counters::default());
        let mut report = RecoveryReport {
            partition: dir.clone(),
            adopted,
            ..RecoveryReport::default()
        };
        let writer =
            recovery::recover(&dir, depth, opts, Arc::clone(&counters), pool, &mut report)?;
        Ok(Recovered {
            dir,
            lock,
            counters,
            report,
            writer,
        })
    }

    /// The partition's names, by id.
    pub fn names(&self) -> Vec<Arc<str>> {
        self.writer.dict.snapshot()
    }

    /// The dictionary recovery built.
    pub fn dictionary(&self) -> &Arc<Dictionary> {
        &self.writer.dict
    }

    /// Write with `dict` from now on. The caller has checked that this partition's names are its
    /// first ids, in order: the names file then only appends the ids above them.
    pub fn share_dictionary(&mut self, dict: Arc<Dictionary>) {
        self.writer.dict = dict;
    }

    /// Per source, one past the highest seq of the received batches this partition holds.
    pub fn received(&self) -> BTreeMap<Arc<str>, u64> {
        self.writer.origins.high_marks()
    }

    /// Start the writer thread.
    pub fn start(self, opts: &Options) -> Result<Lane> {
        let Recovered {
            dir,
            lock,
            counters,
            report,
            writer,
        } = self;
        let ring = Arc::new(Ring::new(opts.ring_batches, opts.ring_bytes, opts.overflow));
        let shared = Arc::new(WriterShared::default());
        let view = Arc::clone(&writer.state.view);
        let active = Arc::clone(&writer.active);
        let thread = {
            let ring = Arc::clone(&ring);
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("laptime-writer".into())
                .spawn(move || writer::run(writer, ring, shared))
                .map_err(|e| Error::io(&dir, "spawn writer thread", e))?
        };
        ring.set_writer(thread.thread().clone());
        Ok(Lane {
            partition: dir,
            _lock: lock,
            ring,
            counters,
            shared,
            view,
            active,
            thread: Mutex::new(Some(thread)),
            report,
        })
    }
}

/// A running writer and the partition it owns.
pub(crate) struct Lane {
    pub partition: PathBuf,
    _lock: File,
    ring: Arc<Ring>,
    pub counters: Arc<Counters>,
    shared: Arc<WriterShared>,
    view: Arc<RwLock<Arc<PartitionView>>>,
    active: Arc<Mutex<ActivePage>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    pub report: RecoveryReport,
}

impl Lane {
    /// This partition as its writer shows it: what it published, plus the active page.
    pub fn live(&self, dict: &Arc<Dictionary>) -> LivePartition<'_> {
        // The active lock is taken first: the writer publishes a sealed page and empties the active
        // page under it, so the view and the tail we copy agree.
        let active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        let view = Arc::clone(&self.view.read().unwrap_or_else(|p| p.into_inner()));
        let tail = if active.cols.is_empty() {
            None
        } else {
            let mut cols = active.cols.clone();
            let first_seq = active.first_seq;
            drop(active);
            cols.sort_by_start();
            cols.canonicalize_fields();
            let meta = PageMeta::compute(&cols, first_seq);
            Some(Arc::new((meta, cols)))
        };
        let mut segments = view.sealed.clone();
        segments.extend(view.active.iter().cloned());
        LivePartition {
            dir: &self.partition,
            dict: Arc::clone(dict),
            segments,
            tail,
        }
    }

    /// An emptied batch this lane's writer has stored, if one is spare.
    pub fn take_spare(&self) -> Option<Batch> {
        self.ring.take_spare()
    }

    /// Queue `batch` if there is room now, counting it (`None`); hand it back uncounted if not.
    pub(crate) fn offer(&self, batch: Queued) -> Option<Queued> {
        self.ring.offer(batch, &self.counters)
    }

    /// Queue `batch` under the ring's overflow policy, or until `deadline` when one is given;
    /// a batch that finds no room is dropped and counted.
    pub(crate) fn push(&self, batch: Queued, deadline: Option<Instant>) -> Push {
        match deadline {
            Some(_) => self.ring.push_until(batch, &self.counters, deadline),
            None => self.ring.push(batch, &self.counters),
        }
    }

    fn state(&self) -> MutexGuard<'_, WriterState> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True once the store asked this writer to stop. A failing writer is not stopped: the ring
    /// keeps taking batches (and drops what does not fit) while the writer waits for the disk.
    pub fn is_stopped(&self) -> bool {
        self.state().shutdown
    }

    /// Ask for everything queued so far to be written; returns the generation to wait for.
    pub fn request_flush(&self) -> Result<u64> {
        let mut st = self.state();
        if st.stopped {
            return Err(Error::Closed);
        }
        st.flush_requested += 1;
        let gen = st.flush_requested;
        drop(st);
        self.ring.wake_writer();
        Ok(gen)
    }

    /// Wait until flush generation `gen` is done (see [`crate::Store::flush`] for the errors).
    pub fn wait_flushed(&self, gen: u64) -> Result<()> {
        let mut st = self.state();
        while st.flush_done < gen && !st.stopped {
            st = self.wait_for_writer(st);
        }
        if let Some(reason) = &st.failed {
            return Err(self.failed(reason));
        }
        if st.flush_done < gen {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Send the writer a command and wait for its answer on the command's own channel.
    pub fn ask<T>(&self, command: impl FnOnce(writer::Reply<T>) -> Command) -> Result<T> {
        let (reply, answer) = sync_channel(1);
        {
            let mut st = self.state();
            if st.stopped || st.shutdown {
                return Err(Error::Closed);
            }
            st.commands.push(command(reply));
        }
        self.ring.wake_writer();
        match answer.recv() {
            Ok(result) => result.map_err(|f| self.failed(&f)),
            // The writer stopped without answering (it drops the commands it will not serve).
            Err(_) => Err(Error::Closed),
        }
    }

    /// Sleep until the writer reports progress (it notifies after every round and when it stops,
    /// also when its thread panics).
    fn wait_for_writer<'a>(&self, st: MutexGuard<'a, WriterState>) -> MutexGuard<'a, WriterState> {
        self.shared
            .changed
            .wait(st)
            .unwrap_or_else(|p| p.into_inner())
    }

    fn failed(&self, failure: &Failure) -> Error {
        failure.to_error(&self.partition)
    }

    /// Why the writer cannot write right now, or `None` while it writes.
    pub fn write_failure(&self) -> Option<Error> {
        self.state().failed.as_ref().map(|f| self.failed(f))
    }

    /// Tell the writer to stop once it has written what is queued (see [`Lane::join`]).
    pub fn request_stop(&self) {
        self.state().shutdown = true;
        self.ring.wake_writer();
    }

    /// Wait for the writer thread to end; its failure, if it stopped failing.
    pub fn join(&self) -> Result<()> {
        let handle = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            let _ = h.join();
        }
        match &self.state().failed {
            Some(f) => Err(self.failed(f)),
            None => Ok(()),
        }
    }
}

impl Drop for Lane {
    /// A lane dropped without [`Lane::request_stop`] (a store that failed to start its next
    /// lane) still stops its writer after it wrote what was queued.
    fn drop(&mut self) {
        self.request_stop();
        let _ = self.join();
    }
}
