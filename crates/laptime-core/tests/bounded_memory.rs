//! A flood of events never grows the heap beyond the configured budgets: the ring drops (and
//! counts) what does not fit. Measured with a counting global allocator, so the figure is the real
//! peak of live heap bytes in this process.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use laptime_core::{Batch, Options, Store, SyncPolicy};

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
