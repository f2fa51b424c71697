//! `#[laptime_core::capture]` and timing guards: sync and async functions, methods, `Err` and
//! panics recorded as errors, `return` and `?` unchanged.
#![cfg(feature = "macros")]

use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use laptime_core::{capture, Code, Event, Options, ScanFilter, Store};

// The installed store is process-wide: the tests take turns.
static SERIAL: Mutex<()> = Mutex::new(());

fn with_store(f: impl FnOnce()) -> Vec<Event> {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    capture::install(store.clone());
    f();
    capture::flush();
    store.flush().unwrap();
    let events = store
        .view()
        .unwrap()
        .events(&ScanFilter::default())
        .unwrap();
    store.close().unwrap();
    events
}

#[derive(Debug, PartialEq)]
struct Missing;

#[laptime_core::capture(name = "Repo.get")]
fn get(id: u32) -> Result<u32, Missing> {
    if id == 0 {
        return Err(Missing);
    }
    let doubled = checked(id)?;
    Ok(doubled)
}

fn checked(id: u32) -> Result<u32, Missing> {
    id.checked_mul(2).ok_or(Missing)
}

#[laptime_core::capture]
fn plain(x: u64) -> u64 {
    x + 1
}

struct Service {
    calls: u32,
}

impl Service {
    #[laptime_core::capture(name = "Service.bump")]
    fn bump(&mut self) -> u32 {
        self.calls += 1;
        self.calls
    }

    #[laptime_core::capture(name = "Service.fetch")]
    async fn fetch(&self, fail: bool) -> Result<u32, Missing> {
        YieldOnce(false).await;
        if fail {
            Err(Missing)
        } else {
            Ok(self.calls)
        }
    }
}

#[laptime_core::capture(name = "explode")]
fn explode() -> u32 {
    panic!("boom")
}

/// A future that is pending once, so the async fn really suspends.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn calls<'a>(events: &'a [Event], name: &str) -> Vec<&'a Event> {
    events.iter().filter(|e| e.name == name).collect()
}

#[test]
fn sync_functions_keep_their_results_and_record_errors() {
    let events = with_store(|| {
        assert_eq!(get(0), Err(Missing));
        assert_eq!(get(21), Ok(42));
        assert_eq!(get(u32::MAX), Err(Missing), "`?` still returns early");
        assert_eq!(plain(1), 2);
        let mut s = Service { calls: 0 };
        assert_eq!(s.bump(), 1);
        assert_eq!(s.bump(), 2);
    });
    let codes: Vec<Code> = calls(&events, "Repo.get").iter().map(|e| e.code).collect();
    assert_eq!(codes.len(), 3);
    assert_eq!(codes.iter().filter(|c| **c == Code::CallError).count(), 2);
    let plain_name = "capture_macro::plain";
    assert_eq!(calls(&events, plain_name).len(), 1, "{events:?}");
    assert_eq!(calls(&events, "Service.bump").len(), 2);
    assert!(events.iter().all(|e| e.duration_ns > 0 || e.code.is_call()));
}

#[test]
fn async_functions_are_timed_across_awaits() {
    let events = with_store(|| {
        let s = Service { calls: 7 };
        assert_eq!(block_on(s.fetch(false)), Ok(7));
        assert_eq!(block_on(s.fetch(true)), Err(Missing));
    });
    let fetches = calls(&events, "Service.fetch");
    assert_eq!(fetches.len(), 2);
    assert_eq!(
        fetches.iter().filter(|e| e.code == Code::CallError).count(),
        1
    );
}

#[test]
fn a_panic_unwinding_through_a_captured_call_is_an_error() {
    let events = with_store(|| {
        assert!(std::panic::catch_unwind(explode).is_err());
    });
    let e = calls(&events, "explode");
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].code, Code::CallError);
}

#[test]
fn guards_nest_and_fail() {
    let events = with_store(|| {
        let _outer = capture::time("outer");
        for i in 0..3 {
            let mut inner = capture::time("inner");
            inner.field("i", laptime_core::Value::I64(i));
            if i == 2 {
                inner.fail();
            }
        }
    });
    let inner = calls(&events, "inner");
    assert_eq!(inner.len(), 3);
    assert_eq!(
        inner.iter().filter(|e| e.code == Code::CallError).count(),
        1
    );
    assert_eq!(calls(&events, "outer").len(), 1);
    let outer = calls(&events, "outer")[0];
    assert!(inner.iter().all(|e| e.start_ns >= outer.start_ns));
}
