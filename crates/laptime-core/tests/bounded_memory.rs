//! A flood of events never grows the heap beyond the configured budgets: the ring drops (and
//! counts) what does not fit. A reader of a store many pages long holds each segment's page
//! directory and summary, not every page's meta. Measured with a counting global allocator, so
//! the figures are the real live heap bytes of this process (the tests take turns).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use std::sync::Mutex;

use laptime_core::query::{self, Aggregate, GroupBy, Query};
use laptime_core::{Batch, Options, Reader, ScanFilter, Store, SyncPolicy};
use laptime_workload::{R1Config, R1Interned, R1};

/// The tests measure this process's heap: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call unchanged to the system allocator; only counts bytes on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn flood_is_dropped_and_counted_not_buffered() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let ring_bytes = 8 << 20;
    let opts = Options {
        sync: SyncPolicy::None,
        ring_bytes,
        ring_batches: 4096,
        page_rows: 65_536,
        ..Options::default()
    };
    let store = Store::open(dir.path(), opts).unwrap();
    let names: Vec<u32> = (0..200)
        .map(|i| store.intern(&format!("Flood{i}.call")).unwrap())
        .collect();
    let baseline = LIVE.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);

    // Two producers push 8M events each as fast as they can: far more than the writer takes.
    let per_thread = 8_000_000u64;
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let store = store.clone();
            let names = names.clone();
            s.spawn(move || {
                let mut i = 0u64;
                while i < per_thread {
                    let mut b = Batch::with_capacity(8192);
                    for j in 0..8192u64 {
                        let n = names[((i + j) % 200) as usize];
                        b.push_call(n, t << 40 | (i + j), 1000 + (i + j) % 5000, true);
                    }
                    i += 8192;
                    store.append(b);
                }
            });
        }
    });
    store.flush().unwrap();
    let c = store.counters();
    let produced = 2 * per_thread.div_ceil(8192) * 8192;
    assert_eq!(
        c.accepted + c.dropped,
        produced,
        "every event accepted or counted as dropped"
    );
    assert_eq!(c.written, c.accepted, "every accepted event written");
    let peak = PEAK.load(Ordering::Relaxed) - baseline;
    // Budget: the ring, the active page with its encode buffers, and working slack.
    let budget = ring_bytes + (48 << 20);
    eprintln!(
        "produced {produced}, accepted {}, dropped {}, peak heap growth {:.1} MiB (budget {:.1} MiB)",
        c.accepted,
        c.dropped,
        peak as f64 / (1 << 20) as f64,
        budget as f64 / (1 << 20) as f64
    );
    assert!(peak < budget, "peak heap growth {peak} exceeds {budget}");
    std::thread::sleep(Duration::from_millis(10));
    store.close().unwrap();
}

/// 1,000 pages of R1 (200 functions) in several segments. Opening a reader, and a p50/p99 by
/// function over all of it and over a time range that cuts pages, hold far less than the pages'
/// metas would (the old reader kept all of them: about 5 bytes of RAM per stored event), and the
/// answers are those of a reader whose pool holds every meta.
#[test]
fn a_reader_holds_segment_summaries_not_every_page_meta() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        sync: SyncPolicy::None,
        page_rows: 1024,
        segment_max_bytes: 1 << 20,
        ..Options::default()
    };
    let store = Store::open(dir.path(), opts).unwrap();
    let mut r1 = R1::new(R1Config {
        full: true,
        ..R1Config::default()
    });
    let interned = R1Interned::new(&r1, |s| store.intern(s)).unwrap();
    let mut events = Vec::new();
    r1.fill(1024 * 1000, &mut events);
    for b in interned.batches(&events, 1024) {
        store.append(b);
    }
    store.close().unwrap();
    let (first, last) = (events[0].start_ns, events[events.len() - 1].start_ns);
    drop(events);

    let by_name = |since: Option<u64>| Query {
        filter: match since {
            Some(ms) => laptime_core::filter::parse(&format!("since:{ms}")).unwrap(),
            None => laptime_core::filter::Filter::default(),
        },
        group_by: vec![GroupBy::Name],
        aggregates: vec![
            Aggregate::Count,
            Aggregate::Percentile(0.5),
            Aggregate::Percentile(0.99),
        ],
        threads: 1,
        ..Query::default()
    };
    // Half-way, in ms (the filter's unit), so that pages are cut.
    let mid_ms = (first + (last - first) / 2) / 1_000_000;

    // What holding every page meta costs, and the answers with every meta cached.
    let big = Reader::open(dir.path(), Some(1 << 30)).unwrap();
    let view = big.view().unwrap();
    let pages = view.pages(&ScanFilter::default());
    assert!(pages.len() >= 1000, "{} pages", pages.len());
    let meta_bytes: usize = pages
        .iter()
        .map(|p| view.page_meta(p).unwrap().heap_bytes())
        .sum();
    let want_all = query::run(&view, &by_name(None)).unwrap();
    let want_cut = query::run(&view, &by_name(Some(mid_ms))).unwrap();
    assert_eq!(want_all.rows.len(), 200);
    drop((pages, view, big));

    let pool = 256 << 10;
    let baseline = LIVE.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
    let reader = Reader::open(dir.path(), Some(pool)).unwrap();
    let view = reader.view().unwrap();
    let held = LIVE.load(Ordering::Relaxed) - baseline;
    let all = query::run(&view, &by_name(None)).unwrap();
    let cut = query::run(&view, &by_name(Some(mid_ms))).unwrap();
    let peak = PEAK.load(Ordering::Relaxed) - baseline;
    eprintln!(
        "page metas {:.2} MiB; reader after open {:.2} MiB, peak with two queries {:.2} MiB \
         (pool {:.2} MiB); all: {:?}; cut: {:?}",
        mib(meta_bytes),
        mib(held),
        mib(peak),
        mib(pool),
        all.stats,
        cut.stats
    );
    assert_eq!(all.rows, want_all.rows);
    assert_eq!(cut.rows, want_cut.rows);
    assert_eq!(all.stats.pages_decoded, 0, "{:?}", all.stats);
    assert!(cut.stats.pages_from_meta > 0 && cut.stats.pages_skipped > 0);
    assert!(
        held * 4 < meta_bytes,
        "reader holds {held} B after open, the page metas are {meta_bytes} B"
    );
    assert!(
        peak < held + pool + (8 << 20),
        "peak {peak} B beyond what the reader holds ({held} B) plus the pool and slack"
    );
}
