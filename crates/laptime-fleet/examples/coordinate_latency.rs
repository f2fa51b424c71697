//! Latency of one query over three indexers: R1-full events split at random over three stores,
//! each behind a read server on 127.0.0.1, a coordinator asking all three, all in this process
//! (one tokio runtime, 2 worker threads). Reports the median, min and max of `runs` queries per
//! kind, through the Rust API and through `POST /v1/query`, and the same query on one store
//! holding every event for comparison (skipped with `--no-single`).
//!
//! cargo run --release -p laptime-fleet --example coordinate_latency -- \
//!     EVENTS [RUNS] [DIR] [--no-single]
//!
//! DIR keeps the stores (`DIR/shard-{0,1,2}`, `DIR/all`) for the next run with the same EVENTS;
//! without it they live in a temporary directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use laptime_fleet::coordinate::{
    Coordinator, CoordinatorConfig, CoordinatorServer, ReadServer, ServeConfig,
};
use laptime_query::query::{Aggregate, GroupBy, Query};
use laptime_query::Queries;
use laptime_storage::{Options, Overflow, Push, Store, SyncPolicy};
use laptime_workload::{R1Config, R1Interned, SplitMix64, R1};

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

fn options() -> Options {
    Options {
        sync: SyncPolicy::None,
        overflow: Overflow::Block {
            timeout: Duration::from_secs(60),
        },
        segment_max_bytes: 256 << 20,
        ..Options::default()
    }
}

/// Write `n` R1-full events, each to a random one of the three shards (and all to `all`).
fn generate(n: usize, dirs: &[PathBuf], all: Option<&Path>) -> Fallible<u64> {
    let mut r1 = R1::new(R1Config {
        full: true,
        ..R1Config::default()
    });
    let mut stores = Vec::new();
    for d in dirs.iter().map(PathBuf::as_path).chain(all) {
        let store = Store::open(d, options())?;
        let interned = R1Interned::new(&r1, |s| store.intern(s))?;
        stores.push((store, interned));
    }
    let mut state = SplitMix64(7);
    let mut chunk = Vec::with_capacity(1 << 20);
    let mut left = n;
    let mut last_ns = 0;
    while left > 0 {
        let take = left.min(1 << 20);
        chunk.clear();
        r1.fill(take, &mut chunk);
        let mut shards: Vec<Vec<_>> = vec![Vec::new(); 3];
        for e in &chunk {
            shards[(state.next_u64() % 3) as usize].push(*e);
            last_ns = e.start_ns;
        }
        for (i, (store, interned)) in stores.iter().enumerate() {
            let events = if i < 3 { &shards[i][..] } else { &chunk[..] };
            for b in interned.batches(events, 4096) {
                if store.append(b) != Push::Accepted {
                    return Err("a batch was dropped".into());
                }
            }
        }
        left -= take;
    }
    for (store, _) in stores {
        store.close()?;
    }
    Ok(last_ns)
}

fn median(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (ms(v[v.len() / 2]), ms(v[0]), ms(v[v.len() - 1]))
}

fn report(what: &str, times: Vec<Duration>) {
    let n = times.len();
    let (med, min, max) = median(times);
    println!("{what:<70} median {med:8.2} ms  (min {min:.2}, max {max:.2}, {n} runs)");
}

fn main() -> Fallible<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let single = !args.iter().any(|a| a == "--no-single");
    let args: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let events: usize = args
        .first()
        .ok_or("usage: EVENTS [RUNS] [DIR] [--no-single]")?
        .parse()?;
    let runs: usize = args.get(1).map_or(Ok(7), |r| r.parse())?;
    let tmp = tempfile::tempdir()?;
    let root = args.get(2).map_or(tmp.path().to_path_buf(), PathBuf::from);
    let dirs: Vec<PathBuf> = (0..3).map(|i| root.join(format!("shard-{i}"))).collect();
    let all_dir = root.join("all");
    let marker = root.join(format!("events-{events}"));
    if !marker.exists() || (single && !all_dir.exists()) {
        for d in dirs.iter().chain([&all_dir]) {
            let _ = std::fs::remove_dir_all(d);
        }
        let t = Instant::now();
        let last = generate(events, &dirs, single.then_some(all_dir.as_path()))?;
        std::fs::write(&marker, last.to_string())?;
        println!(
            "wrote {events} R1-full events over 3 shards{} in {:.1} s",
            if single { " and one store of all" } else { "" },
            t.elapsed().as_secs_f64()
        );
    }
    let last_ns: u64 = std::fs::read_to_string(&marker)?.trim().parse()?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut servers = Vec::new();
        let mut urls = Vec::new();
        let mut stores = Vec::new();
        for d in &dirs {
            let store = Arc::new(Store::open(d, options())?);
            let server =
                ReadServer::start(ServeConfig::new("127.0.0.1:0".parse()?), store.clone()).await?;
            urls.push(format!("http://{}", server.local_addr()));
            servers.push(server);
            stores.push(store);
        }
        let coordinator = Arc::new(Coordinator::new(CoordinatorConfig {
            timeout: Duration::from_secs(30),
            ..CoordinatorConfig::new(urls)
        })?);
        let http = CoordinatorServer::start(
            ServeConfig::new("127.0.0.1:0".parse()?),
            coordinator.clone(),
        )
        .await?;
        let endpoint = format!("http://{}/v1/query", http.local_addr());
        let client = reqwest::Client::new();
        let all = if single {
            Some(Store::open(&all_dir, options())?)
        } else {
            None
        };

        let p = |l: &str| Aggregate::from_label(l);
        let kinds = [
            ("p99 by function", "", vec![p("p99")?]),
            // A field term: every page is decoded and filtered row by row.
            (
                "p99 by function, filter tier:pro",
                "tier:pro",
                vec![p("p99")?],
            ),
            (
                "count, errors, error_rate, p50, p90, p99 by function",
                "",
                vec![
                    Aggregate::Count,
                    Aggregate::Errors,
                    Aggregate::ErrorRate,
                    p("p50")?,
                    p("p90")?,
                    p("p99")?,
                ],
            ),
        ];
        for (what, filter, aggregates) in kinds {
            let query = Query {
                filter: filter.parse()?,
                now_ns: last_ns,
                group_by: vec![GroupBy::Name],
                aggregates: aggregates.clone(),
                ..Query::default()
            };
            // Warm: page caches, connections.
            let warm = coordinator.query(&query).await?;
            let bytes: Vec<String> = warm
                .coverage
                .indexers
                .iter()
                .map(|r| r.outcome.to_string())
                .collect();
            println!(
                "{what}: {} rows; {}",
                warm.result.rows.len(),
                bytes.join("; ")
            );
            let mut api = Vec::new();
            for _ in 0..runs {
                let t = Instant::now();
                let a = coordinator.query(&query).await?;
                api.push(t.elapsed());
                if !a.coverage.complete() {
                    return Err(format!("incomplete: {}", a.coverage).into());
                }
            }
            report(&format!("{what}, coordinator (Rust API)"), api);
            let labels: Vec<String> = aggregates.iter().map(Aggregate::label).collect();
            let body = serde_json::json!({
                "filter": filter,
                "nowNs": last_ns.to_string(),
                "groupBy": [{"by": "name"}],
                "aggregates": labels,
            })
            .to_string();
            let mut over_http = Vec::new();
            for _ in 0..=runs {
                let t = Instant::now();
                let r = client
                    .post(&endpoint)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await?;
                let status = r.status();
                let text = r.bytes().await?;
                over_http.push(t.elapsed());
                if status != 200 {
                    return Err(String::from_utf8_lossy(&text).into_owned().into());
                }
            }
            over_http.remove(0);
            report(&format!("{what}, POST /v1/query"), over_http);
            if let Some(all) = &all {
                let mut one = Vec::new();
                for _ in 0..=runs {
                    let t = Instant::now();
                    let view = all.view()?;
                    let r = tokio::task::block_in_place(|| view.query(&query))?;
                    one.push(t.elapsed());
                    if r.rows != warm.result.rows {
                        return Err("the single store answers otherwise".into());
                    }
                }
                one.remove(0);
                report(&format!("{what}, one store of all events"), one);
            }
        }
        for s in servers {
            s.shutdown().await;
        }
        http.shutdown().await;
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
