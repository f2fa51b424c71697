//! The `NativeStore` class: one handle on a core [`Store`]. Opening the same directory twice in a
//! process (also from worker threads) shares one engine; the core does that.

use std::sync::{Arc, Mutex, MutexGuard};

use laptime_core::Store;
use napi::bindgen_prelude::{ArrayBuffer, AsyncTask};
use napi::{Env, Task};
use napi_derive::napi;

use crate::analysis::{AnomaliesTask, CompareTask, NativeAnomaliesRequest, NativeCompareRequest};
use crate::batch::{self, Columns};
use crate::counters::NativeCounters;
use crate::errors::{self, Malformed};
use crate::fields::NativeFieldColumns;
use crate::histogram::{HistogramTask, NativeHistogramRequest};
use crate::options::{self, NativeOptions};
use crate::postmortem::{self, NativePostMortemOptions, PostMortemTask};
use crate::query::{EventsTask, NativeEventsRequest, NativeQuery, QueryTask};
use crate::slots::{HandOver, Slots};
use crate::source::Source;

/// An open store. Made by `NativeStore.open`; after `close()` every call throws "store is closed"
/// (`append` returns it, the async calls reject).
#[napi]
pub struct NativeStore {
    /// `None` once `close()` was called. Every method takes `&self`, hence the lock: napi keeps a
    /// method's borrow of the object until the promise it returned settles, so a `&mut self`
    /// close would throw while a flush or stats call is pending, and every call would throw while
    /// a close is. Only the JS thread takes the lock; the tasks get their own clone of the handle.
    store: Mutex<Option<Store>>,
    /// Row memory the JS batch writes into (see `slots.rs`).
    slots: Mutex<Slots>,
    /// The store's directory, resolved.
    path: String,
}

/// What `handOver` did: the slot JS writes into next, and refusals to report.
#[napi(object)]
pub struct NativeHandOver {
    /// The slot to write into next; equal to the number of slots: make it with `newSlot`.
    pub next: u32,
    /// The first refused event of this batch (converted now) or of earlier ones (converted by the
    /// writer since), described; null when none.
    pub refused: Option<String>,
}

#[napi]
impl NativeStore {
    /// Open (creating if needed) the store in `dir`. Synchronous: recovery of a crashed writer's
    /// files runs here. Throws on bad options and I/O errors.
    #[napi(factory, catch_unwind)]
    pub fn open(
        env: &Env,
        dir: String,
        options: Option<NativeOptions>,
    ) -> napi::Result<NativeStore> {
        let opened = options::to_core(&options.unwrap_or_default())
            .and_then(|opts| Store::open(&dir, opts).map_err(errors::from_core));
        let store = errors::on_js(env, opened)?;
        let path = store.path().to_string_lossy().into_owned();
        Ok(NativeStore {
            store: Mutex::new(Some(store)),
            slots: Mutex::default(),
            path,
        })
    }

    /// The store's directory (absolute, symlinks resolved); still readable after `close()`.
    #[napi(getter, catch_unwind)]
    pub fn path(&self) -> String {
        self.path.clone()
    }

    /// The id of a function name, logger name or field key, interning it when new.
    #[napi(catch_unwind)]
    pub fn intern(&self, env: &Env, name: String) -> napi::Result<u32> {
        let guard = self.lock();
        let interned = match guard.as_ref() {
            Some(store) => store.intern(&name).map_err(errors::from_core),
            None => Err(errors::closed()),
        };
        errors::on_js(env, interned)
    }

    /// Hand the first `count` events of these columns to the writer. Invalid events (a start that
    /// is no time, a negative duration, an unknown code, name or field key) are refused one by one
    /// and counted in `rejected`; their neighbours go on. Returns null when every event was
    /// handed over (or dropped for a full ring, counted), else a description of the refused ones
    /// naming the first bad value. Throws a TypeError only when the call itself is malformed
    /// (count beyond the arrays, a bad origin, field columns that do not fit). A closed store drops nothing
    /// silently: it returns "store is closed".
    #[napi(ts_return_type = "string | null", catch_unwind)]
    #[allow(clippy::too_many_arguments)]
    pub fn append(
        &self,
        env: &Env,
        names: &[u32],
        start_offsets_ms: &[f64],
        durations_ms: &[f64],
        codes: &[u8],
        count: u32,
        origin_ms: f64,
        fields: Option<NativeFieldColumns>,
    ) -> napi::Result<Option<String>> {
        let cols = Columns {
            names,
            start_offsets_ms,
            durations_ms,
            codes,
        };
        let field_slices = fields.as_ref().map(NativeFieldColumns::slices);
        let guard = self.lock();
        let spare = guard.as_ref().map(|s| s.spare_batch(0)).unwrap_or_default();
        let (batch, refused) =
            batch::from_js(&cols, count, origin_ms, field_slices.as_ref(), spare)
                .map_err(|m| m.throw(env))?;
        let Some(store) = guard.as_ref() else {
            return Ok(Some(closed_message(count)));
        };
        let (_, rejected) = store.append_checked(batch, refused);
        Ok(rejected
            .first
            .map(|first| refused_message(Some(rejected.count), &first)))
    }

    /// A new slot of `rows` rows for the JS batch to write into: one ArrayBuffer holding the start
    /// offsets (f64), durations (f64), name ids (u32) and codes (u8) of `rows` rows, in that
    /// order. Its number is the count of slots before it. Null when this runtime does not allow
    /// memory owned by an addon in an ArrayBuffer (then JS keeps its own arrays and uses
    /// `append`). Throws past the largest number of slots or rows.
    #[napi(ts_return_type = "ArrayBuffer | null", catch_unwind)]
    pub fn new_slot<'env>(
        &self,
        env: &'env Env,
        rows: u32,
    ) -> napi::Result<Option<ArrayBuffer<'env>>> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let made = slots.add(rows, |slot| {
            let base = slot.base();
            // SAFETY: `base` points to `byte_len` bytes that live as long as the `Arc` the
            // finalizer drops (the slot list holds another); nothing else frees them.
            let shared = unsafe {
                ArrayBuffer::from_external(
                    env,
                    base,
                    slot.byte_len(),
                    Arc::clone(slot),
                    |_, held| drop(held),
                )
            }
            .map_err(|e| e.reason.clone())?;
            // A runtime without external buffers gets a copy: JS's writes would not reach the slot.
            if shared.as_ptr() == base.cast_const() {
                Ok(Some(shared))
            } else {
                Err(String::new())
            }
        });
        match made {
            Ok(shared) => Ok(shared),
            Err(why) if why.is_empty() => Ok(None),
            Err(why) => Err(napi::Error::new(napi::Status::InvalidArg, why)),
        }
    }

    /// Hand over the first `count` rows of slot `slot`, with their fields and messages. The writer
    /// thread converts them, unless no other slot is free: then they are converted now, as
    /// `append` does, and JS writes into the same slot again. Invalid events are refused one by
    /// one and counted in `rejected`. Throws a TypeError for a call that does not fit (a slot JS
    /// was not given, count beyond its rows, a bad origin).
    #[napi(catch_unwind)]
    pub fn hand_over(
        &self,
        env: &Env,
        slot: u32,
        count: u32,
        origin_ms: f64,
        fields: Option<NativeFieldColumns>,
    ) -> napi::Result<NativeHandOver> {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .filled(slot, count)
            .and_then(|()| batch::check_origin(origin_ms).map_err(|m| m.0))
            .map_err(|why| Malformed(why).throw(env))?;
        let guard = self.lock();
        let Some(store) = guard.as_ref() else {
            return Ok(NativeHandOver {
                next: slot,
                refused: Some(closed_message(count)),
            });
        };
        let now = match slots.hand_over(slot, count, origin_ms, fields.as_ref()) {
            HandOver::Queued { raw, next } => {
                store.append_raw(raw);
                return Ok(NativeHandOver {
                    next,
                    refused: slots
                        .take_refusal()
                        .map(|first| refused_message(None, &first)),
                });
            }
            HandOver::Convert => slots.columns_of(slot),
        };
        let Some(cols) = now else {
            return Err(Malformed(format!("slot {slot} does not exist")).throw(env));
        };
        let field_slices = fields.as_ref().map(NativeFieldColumns::slices);
        let (batch, refused) = batch::from_js(
            &cols,
            count,
            origin_ms,
            field_slices.as_ref(),
            store.spare_batch(0),
        )
        .map_err(|m| m.throw(env))?;
        let (_, rejected) = store.append_checked(batch, refused);
        Ok(NativeHandOver {
            next: slot,
            refused: rejected
                .first
                .map(|first| refused_message(Some(rejected.count), &first)),
        })
    }

    /// The first event the writer refused in rows this handle handed over, since the last
    /// hand-over or call, described; null when none.
    #[napi(catch_unwind)]
    pub fn take_refusal(&self) -> Option<String> {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let first = slots.take_refusal()?;
        Some(refused_message(None, &first))
    }

    /// Resolves once every batch appended before the call is written (and, with `sync: 'always'`,
    /// on stable storage).
    #[napi(ts_return_type = "Promise<void>", catch_unwind)]
    pub fn flush(&self) -> AsyncTask<FlushTask> {
        AsyncTask::new(FlushTask {
            store: self.lock().clone(),
        })
    }

    /// Why the engine's writer cannot write now (`{ code, message }`, `code` the error code a
    /// flush rejects with: `ENOSPC` for a full disk, else `EIO`, `EACCES`, ..., `CORRUPT` or
    /// `WRITE_FAILED`), or null while it writes. Cheap.
    #[napi(catch_unwind)]
    pub fn write_failure(&self, env: &Env) -> napi::Result<Option<NativeWriteFailure>> {
        let guard = self.lock();
        let Some(store) = guard.as_ref() else {
            return Err(errors::coded(env, errors::closed()));
        };
        Ok(store.write_failure().map(|e| NativeWriteFailure {
            code: e.code().as_str().to_owned(),
            message: e.to_string(),
        }))
    }

    /// Run a query (filter, group by, aggregates) on a read view of the store.
    #[napi(ts_return_type = "Promise<NativeQueryResult>", catch_unwind)]
    pub fn query(&self, env: &Env, query: NativeQuery) -> napi::Result<AsyncTask<QueryTask>> {
        QueryTask::start(env, self.source(), query)
    }

    /// Durations of the calls passing a filter, counted into log-spaced bins.
    #[napi(ts_return_type = "Promise<NativeHistogram>", catch_unwind)]
    pub fn histogram(
        &self,
        env: &Env,
        request: NativeHistogramRequest,
    ) -> napi::Result<AsyncTask<HistogramTask>> {
        HistogramTask::start(env, self.source(), request)
    }

    /// One page of the events passing a filter, newest first unless asked otherwise.
    #[napi(ts_return_type = "Promise<NativeEventPage>", catch_unwind)]
    pub fn events(
        &self,
        env: &Env,
        request: NativeEventsRequest,
    ) -> napi::Result<AsyncTask<EventsTask>> {
        EventsTask::start(env, self.source(), request)
    }

    /// Anomalous buckets per function (robust z-score against a trailing baseline).
    #[napi(ts_return_type = "Promise<Array<NativeAnomaly>>", catch_unwind)]
    pub fn anomalies(
        &self,
        env: &Env,
        request: NativeAnomaliesRequest,
    ) -> napi::Result<AsyncTask<AnomaliesTask>> {
        AnomaliesTask::start(env, self.source(), request)
    }

    /// Per-function change between a baseline and a candidate time range, with significance.
    #[napi(ts_return_type = "Promise<NativeCompareResult>", catch_unwind)]
    pub fn compare(
        &self,
        env: &Env,
        request: NativeCompareRequest,
    ) -> napi::Result<AsyncTask<CompareTask>> {
        CompareTask::start(env, self.source(), request)
    }

    /// Write a post-mortem of the last events; resolves to its path.
    #[napi(ts_return_type = "Promise<string>", catch_unwind)]
    pub fn post_mortem(
        &self,
        env: &Env,
        reason: String,
        options: Option<NativePostMortemOptions>,
    ) -> napi::Result<AsyncTask<PostMortemTask>> {
        let options = postmortem::to_core(options.unwrap_or_default()).map_err(|m| m.throw(env))?;
        Ok(AsyncTask::new(PostMortemTask {
            store: self.lock().clone(),
            reason,
            options,
        }))
    }

    /// The same, blocking the JS thread: for a process that is about to die (uncaught exception,
    /// signal), where nothing asynchronous runs any more.
    #[napi(catch_unwind)]
    pub fn post_mortem_sync(
        &self,
        env: &Env,
        reason: String,
        options: Option<NativePostMortemOptions>,
    ) -> napi::Result<String> {
        let options = postmortem::to_core(options.unwrap_or_default()).map_err(|m| m.throw(env))?;
        let taken = match self.lock().clone() {
            Some(store) => postmortem::take(&store, &reason, &options),
            None => Err(errors::closed()),
        };
        errors::on_js(env, taken)
    }

    /// The event counters; cheap.
    #[napi(catch_unwind)]
    pub fn counters(&self, env: &Env) -> napi::Result<NativeCounters> {
        let guard = self.lock();
        let Some(store) = guard.as_ref() else {
            return Err(errors::coded(env, errors::closed()));
        };
        Ok(store.counters().into())
    }

    /// Release this handle: it is closed at once, and the promise settles when the core's
    /// `Store::close` returns. The last handle of a directory's engine (in this process, across
    /// worker threads) writes everything appended so far, seals, and releases the store's files;
    /// an earlier one only flushes.
    #[napi(ts_return_type = "Promise<void>", catch_unwind)]
    pub fn close(&self) -> AsyncTask<CloseTask> {
        AsyncTask::new(CloseTask {
            store: self.lock().take(),
        })
    }

    /// `close()`, blocking the JS thread: for a process that is ending (its `exit` event, a
    /// signal about to be raised again), where nothing asynchronous runs any more. The last
    /// handle of the engine seals and removes the WAL, so the partition is left cleanly closed.
    #[napi(catch_unwind)]
    pub fn close_sync(&self, env: &Env) -> napi::Result<()> {
        let closed = match self.lock().take() {
            Some(store) => store.close().map_err(errors::from_core),
            None => Err(errors::closed()),
        };
        errors::on_js(env, closed)
    }
}

impl NativeStore {
    /// A clone of the handle for a read task (`None` once closed: the task rejects).
    fn source(&self) -> Option<Source> {
        self.lock().clone().map(Source::Store)
    }

    fn lock(&self) -> MutexGuard<'_, Option<Store>> {
        // Nothing panics while holding it; a poisoned lock still holds a valid handle.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for NativeStore {
    /// A handle collected without `close()`: dropping the last handle of an engine stops its
    /// writer and waits for it, which must not happen on the JS thread, so it happens on its own.
    fn drop(&mut self) {
        let slot = self.store.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(store) = slot.take() {
            // If the thread cannot start, the closure (and the store) is dropped right here.
            let _ = std::thread::Builder::new()
                .name("laptime-release".into())
                .spawn(move || drop(store));
        }
    }
}

/// `flush()` on the libuv pool.
pub struct FlushTask {
    store: Option<Store>,
}

/// Why the writer cannot write (see `NativeStore::write_failure`).
#[napi(object)]
pub struct NativeWriteFailure {
    /// The code a flush rejects with now (`ENOSPC`, `EIO`, `EACCES`, ...).
    pub code: String,
    pub message: String,
}

impl Task for FlushTask {
    type Output = ();
    type JsValue = ();

    fn compute(&mut self) -> napi::Result<()> {
        errors::guarded(|| {
            // Taken, so the clone is released here on the pool thread: if it turns out to be the
            // engine's last handle, stopping the engine must not happen on the JS thread.
            let store = self.store.take().ok_or_else(errors::closed)?;
            store.flush().map_err(errors::from_core)
        })
    }

    fn resolve(&mut self, _env: Env, _output: ()) -> napi::Result<()> {
        Ok(())
    }

    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<()> {
        Err(errors::coded(&env, err))
    }
}

/// `close()` on the libuv pool.
pub struct CloseTask {
    store: Option<Store>,
}

impl Task for CloseTask {
    type Output = ();
    type JsValue = ();

    fn compute(&mut self) -> napi::Result<()> {
        errors::guarded(|| {
            let store = self.store.take().ok_or_else(errors::closed)?;
            store.close().map_err(errors::from_core)
        })
    }

    fn resolve(&mut self, _env: Env, _output: ()) -> napi::Result<()> {
        Ok(())
    }

    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<()> {
        Err(errors::coded(&env, err))
    }
}

/// What a hand-over of `count` events to a closed store says.
fn closed_message(count: u32) -> String {
    format!("{}: {count} events not stored", laptime_core::Error::Closed)
}

/// A refusal described for the warning JS prints once: `count` refused events of this batch
/// (None: of batches the writer converted, counted in `rejected`), the first one's reason.
fn refused_message(count: Option<u64>, first: &str) -> String {
    match count {
        Some(n) => format!(
            "{n} invalid event{} refused (the other events of the batch were kept); the first: {first}",
            if n == 1 { "" } else { "s" }
        ),
        None => format!(
            "invalid events refused (the other events of their batches were kept); the first: {first}"
        ),
    }
}
