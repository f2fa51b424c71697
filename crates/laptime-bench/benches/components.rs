//! Speed of the parts under the storage engine, on R1 data: column codecs (encode, decode, and the
//! bits per value they reach), the latency sketch (insert, merge, encode, decode, quantiles), the
//! R1 generator itself, and a reader's view of a live writer whose last page is only in its WAL
//! (the first view parses the WAL, later ones reuse it).
//! Run: `cargo bench -p laptime-bench --bench components`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use laptime_core::encoding::{
    decode_u32s, decode_u64s, decode_u8s, encode_u32s, encode_u64s, encode_u8s,
};
use laptime_core::sketch::LatencySketch;
use laptime_core::{Options, Reader, ScanFilter, Store, SyncPolicy};
use laptime_workload::{R1Config, R1Event, R1Interned, R1};

/// Events per page, as the store writes them by default.
const PAGE: usize = 8192;

fn r1(n: usize) -> (R1, Vec<R1Event>) {
    let mut r1 = R1::new(R1Config::default());
    let mut events = Vec::with_capacity(n);
    r1.fill(n, &mut events);
    (r1, events)
}

fn codecs(c: &mut Criterion) {
    let n = 1 << 20;
    let (_, events) = r1(n);
    let starts: Vec<u64> = events.iter().map(|e| e.start_ns).collect();
    let durations: Vec<u64> = events.iter().map(|e| e.duration_ns).collect();
    let names: Vec<u32> = events.iter().map(|e| e.name).collect();
    let codes: Vec<u8> = events.iter().map(|e| u8::from(!e.ok)).collect();

    let mut g = c.benchmark_group("codecs");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(20);
    macro_rules! column {
        ($label:expr, $values:expr, $enc:ident, $dec:ident) => {{
            let values = $values;
            let mut bytes = Vec::new();
            for page in values.chunks(PAGE) {
                $enc(page, &mut bytes);
            }
            println!(
                "{:>9}: {:.2} bits/value in pages of {PAGE}",
                $label,
                bytes.len() as f64 * 8.0 / n as f64
            );
            g.bench_function(format!("encode {}", $label), |b| {
                let mut out = Vec::with_capacity(bytes.len());
                b.iter(|| {
                    out.clear();
                    for page in values.chunks(PAGE) {
                        $enc(black_box(page), &mut out);
                    }
                })
            });
            g.bench_function(format!("decode {}", $label), |b| {
                let mut out = Vec::with_capacity(PAGE);
                b.iter(|| {
                    let mut at = 0;
                    while at < bytes.len() {
                        at += $dec(&bytes[at..], PAGE, &mut out).expect("decode");
                        black_box(&out);
                    }
                })
            });
        }};
    }
    column!("start_ns", &starts, encode_u64s, decode_u64s);
    column!("duration", &durations, encode_u64s, decode_u64s);
    column!("name_id", &names, encode_u32s, decode_u32s);
    column!("status", &codes, encode_u8s, decode_u8s);
    g.finish();
}

fn sketch(c: &mut Criterion) {
    let (_, events) = r1(1 << 20);
    let durations: Vec<u64> = events.iter().map(|e| e.duration_ns).collect();
    let mut g = c.benchmark_group("sketch");
    g.throughput(Throughput::Elements(durations.len() as u64));
    g.bench_function("insert_many (1M R1 durations)", |b| {
        let mut s = LatencySketch::new();
        b.iter(|| {
            s.clear();
            s.insert_many(black_box(&durations));
        })
    });
    g.throughput(Throughput::Elements(1));
    for n in [100usize, 8192] {
        let mut s = LatencySketch::new();
        s.insert_many(&durations[..n]);
        let mut bytes = Vec::new();
        s.encode(&mut bytes);
        println!("sketch of {n} R1 durations: {} bytes", bytes.len());
        g.bench_function(format!("merge ({n} values)"), |b| {
            let mut into = LatencySketch::new();
            b.iter(|| into.merge(black_box(&s)))
        });
        g.bench_function(format!("encode ({n} values)"), |b| {
            let mut out = Vec::with_capacity(4096);
            b.iter(|| {
                out.clear();
                black_box(&s).encode(&mut out);
            })
        });
        g.bench_function(format!("decode ({n} values)"), |b| {
            b.iter(|| black_box(LatencySketch::decode(black_box(&bytes)).ok()))
        });
        g.bench_function(format!("4 quantiles ({n} values)"), |b| {
            b.iter(|| black_box(black_box(&s).quantiles(&[0.5, 0.9, 0.99, 0.999])))
        });
    }
    g.finish();
}

fn generator(c: &mut Criterion) {
    let mut g = c.benchmark_group("r1 generator");
    let n = 1 << 20;
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10);
    for full in [false, true] {
        let label = if full { "R1-full" } else { "R1 core" };
        g.bench_function(label, |b| {
            let mut out = Vec::with_capacity(n);
            b.iter_batched(
                || {
                    R1::new(R1Config {
                        full,
                        ..R1Config::default()
                    })
                },
                |mut r1| {
                    out.clear();
                    r1.fill(n, &mut out);
                    black_box(&out);
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

/// A live writer with a whole page (65,536 events) only in its WAL, and a reader of its store.
fn reader_view(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(
        dir.path(),
        Options {
            page_rows: 1 << 17,
            page_max_age: Duration::from_secs(3600),
            sync: SyncPolicy::None,
            ..Options::default()
        },
    )
    .expect("open");
    let (r1, events) = r1(65_536);
    let interned = R1Interned::new(&r1, |s| store.intern(s)).expect("intern");
    for b in interned.batches(&events, 4096) {
        store.append(b);
    }
    store.flush().expect("flush");
    let rows = |reader: &Reader| -> u64 {
        let view = reader.view().expect("view");
        view.pages(&ScanFilter::default())
            .iter()
            .map(|p| u64::from(p.zone().rows))
            .sum()
    };
    let reader = Reader::open(dir.path(), None).expect("reader");
    assert_eq!(rows(&reader), 65_536, "the reader sees the WAL's events");

    let mut g = c.benchmark_group("reader view, 65,536 events only in the WAL");
    g.sample_size(20);
    g.bench_function("first view (parses the WAL)", |b| {
        b.iter_batched(
            || Reader::open(dir.path(), None).expect("reader"),
            |fresh| black_box(fresh.view().expect("view")),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("later view (WAL unchanged)", |b| {
        b.iter(|| black_box(reader.view().expect("view")))
    });
    g.finish();
    store.close().expect("close");
}

criterion_group!(benches, codecs, sketch, generator, reader_view);
criterion_main!(benches);
