//! Instrumenting Rust code: a process-wide store ([`install`]), RAII timing guards ([`time`]) that
//! nest freely, and the support code of the `#[capture]` attribute (cargo feature `macros`).
//!
//! Each thread buffers its events in its own recorder and hands them to the store when the buffer
//! is full, at the first event more than [`HAND_OVER_EVERY`] after the previous hand-over, when the
//! thread ends, on [`flush`], or for every thread at once on [`hand_over_all`] (the panic hook's
//! post-mortem). Nothing here blocks on I/O: a full ring drops (and counts).
//!
//! ```
//! use laptime_core::{capture, Options, Store};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path(), Options::default())?;
//! capture::install(store.clone());
//! {
//!     let _t = capture::time("checkout");      // recorded when `_t` is dropped
//!     let mut inner = capture::time("checkout.price");
//!     inner.fail();                              // recorded as an error
//! }
//! capture::flush();                              // this thread's events to the store now
//! store.flush()?;
//! let events = store.view()?.events(&Default::default())?;
//! assert_eq!(events.len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, TryLockError, Weak};
use std::time::{Duration, Instant};

use crate::Store;
use crate::{Batch, Code, NameId, Value};

/// A thread hands its buffered events over at its first event this long after the last hand-over.
pub const HAND_OVER_EVERY: Duration = Duration::from_millis(100);
const BUFFER_EVENTS: usize = 4096;

static STORE: RwLock<Option<Store>> = RwLock::new(None);

/// Make `store` the one [`time`] guards and `#[capture]` functions record into (replacing any
/// earlier one; threads hand their buffers to the new store from their next event on).
pub fn install(store: Store) {
    let mut slot = STORE.write().unwrap_or_else(|p| p.into_inner());
    *slot = Some(store);
}

/// The installed store, if any.
pub fn installed() -> Option<Store> {
    STORE.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Per-thread buffer: names interned for its store, events not yet handed over.
struct Local {
    store: Store,
    names: HashMap<String, NameId>,
    batch: Batch,
    handed_at: Instant,
}

impl Local {
    /// The id of a name or field key, asking the store only the first time on this thread.
    fn intern(&mut self, name: &str) -> Option<NameId> {
        if let Some(&id) = self.names.get(name) {
            return Some(id);
        }
        let id = self.store.intern(name).ok()?;
        self.names.insert(name.to_owned(), id);
        Some(id)
    }

    fn hand_over(&mut self) {
        if !self.batch.is_empty() {
            let next = self.store.spare_batch(BUFFER_EVENTS);
            let batch = std::mem::replace(&mut self.batch, next);
            self.store.append(batch);
        }
        self.handed_at = Instant::now();
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        self.hand_over();
    }
}

/// A thread's buffer, shared with [`BUFFERS`] so a dying process can hand every thread's events
/// over (see [`hand_over_all`]). Only its own thread locks it on the hot path, so the lock is
/// uncontended except while a panic hook drains it.
type Slot = Arc<Mutex<Option<Local>>>;

/// Every live thread's buffer (weak: a thread that ends hands its events over and frees its slot).
static BUFFERS: Mutex<Vec<Weak<Mutex<Option<Local>>>>> = Mutex::new(Vec::new());

fn register() -> Slot {
    let slot: Slot = Arc::new(Mutex::new(None));
    let mut all = BUFFERS.lock().unwrap_or_else(|p| p.into_inner());
    all.retain(|w| w.strong_count() > 0);
    all.push(Arc::downgrade(&slot));
    slot
}

thread_local! {
    static LOCAL: Slot = register();
    /// Set while this thread is inside [`record_event`] or [`flush`]: a re-entrant call (from a
    /// destructor run meanwhile, say) is skipped instead of locking its own buffer twice.
    static BUSY: Cell<bool> = const { Cell::new(false) };
}

/// Clears [`BUSY`] when dropped, also when `f` of [`with_local`] unwinds.
struct Entered;

impl Drop for Entered {
    fn drop(&mut self) {
        let _ = BUSY.try_with(|b| b.set(false));
    }
}

/// Run `f` on this thread's buffer, unless this thread is already in it or is ending.
fn with_local(f: impl FnOnce(&mut Option<Local>)) {
    if !BUSY.try_with(|b| !b.replace(true)).unwrap_or(false) {
        return;
    }
    let _entered = Entered;
    let _ = LOCAL.try_with(|slot| {
        let mut guard = slot.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard);
    });
}

/// `lock`, giving up at `deadline`: a buffer whose thread is inside a recording (or panicked
/// there, holding it) is never waited on for longer.
fn lock_until<T>(lock: &Mutex<T>, deadline: Instant) -> Option<MutexGuard<'_, T>> {
    loop {
        match lock.try_lock() {
            Ok(guard) => return Some(guard),
            Err(TryLockError::Poisoned(p)) => return Some(p.into_inner()),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_micros(200));
            }
            Err(TryLockError::WouldBlock) => return None,
        }
    }
}

/// Hand every thread's buffered events to their stores now, waiting at most `wait` in all for
/// buffers in use at this moment. For a process about to die: the panic hook calls it (from a
/// thread of its own) before its post-mortem. Returns how many buffers could not be taken in time.
pub fn hand_over_all(wait: Duration) -> usize {
    let deadline = Instant::now() + wait;
    let Some(all) = lock_until(&BUFFERS, deadline) else {
        return 1;
    };
    let slots: Vec<Slot> = all.iter().filter_map(Weak::upgrade).collect();
    drop(all);
    let mut missed = 0;
    for slot in slots {
        match lock_until(&slot, deadline) {
            Some(mut local) => {
                if let Some(l) = local.as_mut() {
                    l.hand_over();
                }
            }
            None => missed += 1,
        }
    }
    missed
}

fn wall_ns() -> u64 {
    crate::clock::now_ns()
}

/// Record one call into the installed store (nothing happens without one).
pub fn record(name: &str, start_ns: u64, duration_ns: u64, ok: bool, fields: &[(&str, Value)]) {
    let code = if ok { Code::CallOk } else { Code::CallError };
    record_event(name, start_ns, duration_ns, code, None, fields);
}

/// Record one event of any kind into the installed store (nothing happens without one).
pub fn record_event(
    name: &str,
    start_ns: u64,
    duration_ns: u64,
    code: Code,
    message: Option<&str>,
    fields: &[(&str, Value)],
) {
    let Some(store) = installed() else { return };
    // A thread's buffer can be gone while the thread ends (destructors of other thread locals).
    with_local(|slot| {
        if slot.as_ref().is_some_and(|l| !l.store.same_engine(&store)) {
            if let Some(mut old) = slot.take() {
                old.hand_over();
            }
        }
        let local = slot.get_or_insert_with(|| Local {
            store: store.clone(),
            names: HashMap::new(),
            batch: Batch::with_capacity(BUFFER_EVENTS),
            handed_at: Instant::now(),
        });
        let Some(id) = local.intern(name) else { return };
        let row = local.batch.push(id, start_ns, duration_ns, code);
        if let Some(m) = message {
            let _ = local.batch.set_message(row, m);
        }
        for (key, value) in fields {
            if let Some(k) = local.intern(key) {
                let _ = local.batch.add_field_at(row, k, value.clone());
            }
        }
        if local.batch.len() >= BUFFER_EVENTS || local.handed_at.elapsed() >= HAND_OVER_EVERY {
            local.hand_over();
        }
    });
}

/// Hand this thread's buffered events to the store now.
pub fn flush() {
    with_local(|slot| {
        if let Some(local) = slot.as_mut() {
            local.hand_over();
        }
    });
}

/// Time the scope: the call is recorded (ok, unless [`Timer::fail`] was called) when the guard is
/// dropped. Guards nest.
#[must_use = "the call is timed until the guard is dropped; `let _t = time(..)` keeps it alive"]
pub fn time(name: &str) -> Timer {
    Timer {
        name: name.to_owned(),
        start_ns: wall_ns(),
        started: Instant::now(),
        ok: true,
        fields: Vec::new(),
    }
}

/// A running timing; see [`time`].
#[derive(Debug)]
pub struct Timer {
    name: String,
    start_ns: u64,
    started: Instant,
    ok: bool,
    fields: Vec<(String, Value)>,
}

impl Timer {
    /// Record the call as failed.
    pub fn fail(&mut self) {
        self.ok = false;
    }

    /// Record the call as failed or not.
    pub fn set_ok(&mut self, ok: bool) {
        self.ok = ok;
    }

    /// Store a field with the call.
    pub fn field(&mut self, key: &str, value: Value) {
        self.fields.push((key.to_owned(), value));
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        let duration = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let fields: Vec<(&str, Value)> = self
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        record(&self.name, self.start_ns, duration, self.ok, &fields);
    }
}

/// Support of `#[capture]`: whether a function's return value counts as success. `Result::Err`
/// is an error; every other value is a success (chosen by method resolution, see the macro).
#[doc(hidden)]
pub mod outcome {
    /// Results: `Err` is a failure.
    pub trait ResultOutcome {
        /// Whether the call succeeded.
        fn laptime_ok(&self) -> bool;
    }
    impl<T, E> ResultOutcome for Result<T, E> {
        fn laptime_ok(&self) -> bool {
            self.is_ok()
        }
    }
    /// Anything else: a success.
    pub trait AnyOutcome {
        /// Always true.
        fn laptime_ok(&self) -> bool;
    }
    impl<T> AnyOutcome for &T {
        fn laptime_ok(&self) -> bool {
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::outcome::{AnyOutcome, ResultOutcome};

    #[test]
    fn a_buffer_held_elsewhere_is_skipped_after_the_wait_not_waited_on() {
        let slot = super::register();
        let held = slot.lock().unwrap();
        let t = std::time::Instant::now();
        let missed = super::hand_over_all(std::time::Duration::from_millis(50));
        assert!(missed >= 1, "the held buffer was reported as missed");
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
        drop(held);
        assert_eq!(
            super::hand_over_all(std::time::Duration::from_millis(50)),
            0
        );
    }

    #[test]
    fn outcomes_are_chosen_by_type() {
        let ok: Result<u8, String> = Ok(1);
        let err: Result<u8, String> = Err("x".into());
        assert!(ok.laptime_ok());
        assert!(!err.laptime_ok());
        assert!((&5u32).laptime_ok());
        assert!((&()).laptime_ok());
    }
}
