//! Post-mortems from Rust: `postmortem::take` keeps the store whole, and a child
//! process that panics leaves exactly one valid post-mortem holding its last events.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use laptime_core::postmortem::{self, PostMortemOptions};
use laptime_core::{Code, Level, Options, ScanFilter, Store};

const CHILD_ENV: &str = "LAPTIME_POSTMORTEM_CHILD";

fn now_ns() -> u64 {
    laptime_core::clock::now_ns()
}

fn record(store: &Store, n: u64) {
    let f = store.intern("Worker.step").unwrap();
    let l = store.intern("log").unwrap();
    let mut rec = store.recorder();
    let t0 = now_ns() - n * 1_000;
    for i in 0..n {
        rec.call(f, t0 + i * 1_000, 100 + i, i % 10 != 0);
    }
    rec.log(l, t0 + n * 1_000, Level::Error, "about to fail");
    rec.submit();
}

#[test]
fn post_mortem_copies_the_newest_events_and_keeps_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    record(&store, 500);
    let opts = PostMortemOptions {
        last_events: 100,
        ..PostMortemOptions::default()
    };
    let path = postmortem::take(&store, "manual", &opts).unwrap();
    assert!(path.starts_with(dir.path().join("postmortems")));
    let pm = postmortem::read(&path).unwrap();
    assert_eq!(pm.meta("reason"), Some("manual"));
    assert_eq!(
        pm.meta("pid"),
        Some(std::process::id().to_string().as_str())
    );
    assert_eq!(pm.events.len(), 100);
    assert_eq!(pm.events.last().unwrap().code, Code::Log(Level::Error));
    assert_eq!(
        pm.events.last().unwrap().message.as_deref(),
        Some("about to fail")
    );
    assert!(
        pm.events.windows(2).all(|w| w[0].start_ns <= w[1].start_ns),
        "oldest first"
    );
    let all = store
        .view()
        .unwrap()
        .events(&ScanFilter::default())
        .unwrap();
    assert_eq!(all.len(), 501, "writing a post-mortem removes nothing");
    let second = postmortem::take(&store, "manual", &opts).unwrap();
    assert_ne!(second, path);
    let err = postmortem::take(
        &store,
        "x",
        &PostMortemOptions {
            last_events: 0,
            ..PostMortemOptions::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("last_events"), "{err}");
    store.close().unwrap();
}

/// The child: record, install the hook, panic.
fn child(dir: &Path) -> ! {
    let store = Store::open(dir, Options::default()).unwrap();
    record(&store, 2_000);
    postmortem::install_panic_hook(
        store.clone(),
        PostMortemOptions {
            last_events: 1_000,
            ..PostMortemOptions::default()
        },
        Duration::from_secs(5),
    );
    panic!("boom in the worker");
}

#[test]
fn a_panicking_child_leaves_exactly_one_post_mortem_with_its_last_events() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(Path::new(&dir));
    }
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_panicking_child_leaves_exactly_one_post_mortem_with_its_last_events",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        // Captured, so the child's own "test failed" report does not read as a failure here.
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the child panicked");
    assert!(stderr.contains("boom in the worker"), "{stderr}");
    let snaps: Vec<_> = std::fs::read_dir(dir.path().join("postmortems"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    let pm = postmortem::read(&snaps[0]).unwrap();
    let reason = pm.meta("reason").unwrap();
    assert!(
        reason.starts_with("panic: boom in the worker at "),
        "{reason}"
    );
    assert!(reason.contains("postmortem.rs"), "{reason}");
    assert_eq!(pm.events.len(), 1_000);
    let last = pm.events.last().unwrap();
    assert_eq!(last.message.as_deref(), Some("about to fail"));
    assert_eq!(
        pm.events[0].duration_ns,
        100 + 1_001,
        "the newest 1,000 of 2,001 events"
    );
}

/// Runs this test binary's `test` alone as a child with `mode` in CHILD_ENV's sibling variable;
/// returns the child's post-mortem (exactly one must exist) after checking it panicked.
fn panicking_child(test: &str, mode: &str) -> postmortem::PostMortem {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .env(MODE_ENV, mode)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the child panicked");
    assert!(stderr.contains("boom with buffered events"), "{stderr}");
    let snaps: Vec<_> = std::fs::read_dir(dir.path().join("postmortems"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    postmortem::read(&snaps[0]).unwrap()
}

const MODE_ENV: &str = "LAPTIME_POSTMORTEM_MODE";

fn hook(store: &Store) {
    postmortem::install_panic_hook(
        store.clone(),
        PostMortemOptions::default(),
        Duration::from_secs(5),
    );
}

/// Another thread records `n` calls and keeps running: they stay in its capture buffer.
fn busy_thread_with_buffered_calls(n: usize) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for _ in 0..n {
            let _t = laptime_core::capture::time("Other.thread");
        }
        let _ = tx.send(());
        loop {
            std::thread::park();
        }
    });
    rx.recv().unwrap();
}

#[test]
fn a_panic_post_mortem_includes_calls_buffered_on_other_threads() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        let store = Store::open(&dir, Options::default()).unwrap();
        laptime_core::capture::install(store.clone());
        hook(&store);
        busy_thread_with_buffered_calls(40);
        for _ in 0..7 {
            let _t = laptime_core::capture::time("Main.thread");
        }
        panic!("boom with buffered events");
    }
    let pm = panicking_child(
        "a_panic_post_mortem_includes_calls_buffered_on_other_threads",
        "capture",
    );
    let count = |name: &str| pm.events.iter().filter(|e| e.name == name).count();
    assert_eq!(count("Other.thread"), 40, "the other thread's buffer");
    assert_eq!(count("Main.thread"), 7, "the panicking thread's buffer");
    assert_eq!(pm.events.len(), 47);
}

#[cfg(feature = "tracing")]
#[test]
fn a_panic_after_101_traced_events_leaves_them_all_in_the_post_mortem() {
    use tracing_subscriber::layer::SubscriberExt;
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        let store = Store::open(&dir, Options::default()).unwrap();
        let layer = laptime_core::tracing_layer::LaptimeLayer::new(store.clone());
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .unwrap();
        hook(&store);
        for i in 0..100 {
            tracing::info!(step = i, "working");
        }
        drop(tracing::info_span!("last.span").entered());
        panic!("boom with buffered events");
    }
    let pm = panicking_child(
        "a_panic_after_101_traced_events_leaves_them_all_in_the_post_mortem",
        "tracing",
    );
    assert_eq!(pm.events.len(), 101);
    assert_eq!(
        pm.events
            .iter()
            .filter(|e| e.code == Code::Log(Level::Info))
            .count(),
        100
    );
    assert!(pm.events.iter().any(|e| e.name.ends_with("last.span")));
}
