//! The fleet end to end, as processes: three brokers (replication 3, min.insync.replicas 2), two
//! app processes writing their own stores, a `laptime-fleet ship` beside each, HTTP traffic into
//! `laptime-fleet ingest`, three `laptime-fleet index` processes and `laptime-fleet coordinate`.
//! Mid-stream one indexer and one broker are SIGKILLed and restarted later. At the end, through
//! the coordinator only: every acknowledged event is there exactly once (each carries an `id`
//! field; the ids are read back), and p50/p90/p99 by function equal those of one store holding the
//! same events. Its last line: `fleet: acknowledged N, stored N, lost 0, duplicated 0, indexers
//! killed 1, brokers killed 1`.
//!
//! Acknowledged means: an app event once its store's `flush` returned (the local store is the
//! durable buffer the shipper sends from), an ingest event once its request got `202`. An ingest
//! request refused or cut off is not acknowledged; if its events arrived anyway they are counted
//! separately (stored, not acknowledged), never as duplicates.

mod kafka_env;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use laptime_fleet::coordinate::answer::result_json;
use laptime_fleet::coordinate::request;
use laptime_fleet::kafka::{create_topic, TopicSpec};
use laptime_query::Queries;
use laptime_storage::{Batch, Options, Store, Value};
use serde_json::{json, Value as Json};

/// Set in an app process: the store directory it writes.
const APP_DIR_ENV: &str = "LAPTIME_FLEET_E2E_APP_DIR";
const APP_INDEX_ENV: &str = "LAPTIME_FLEET_E2E_APP_INDEX";
const APPS: u64 = 2;
const ROUNDS: u64 = 80;
const PER_ROUND: u64 = 1_000;
const INGEST_PER_REQUEST: u64 = 200;
/// Ids of ingest events start here (app k's ids at k * ID_SPACE).
const ID_SPACE: u64 = 1_000_000_000;
const INGEST_SOURCE: u64 = 9;
const BASE_NS: u64 = 1_760_000_000_000_000_000;
const FUNCTIONS: [&str; 3] = ["api.checkout", "api.search", "db.query"];

/// The event with this id: (function, start, duration, ok). Durations spread over three decades,
/// differently per function, so percentiles differ and merging matters.
fn event(id: u64) -> (&'static str, u64, u64, bool) {
    let h = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (id >> 7);
    let f = (h % 3) as usize;
    let spread = [1_000u64, 20_000, 300_000][f];
    let duration = 10_000 + (h >> 8) % spread * (1 + (h >> 40) % 7);
    let start = BASE_NS + (id % ID_SPACE) * 1_000 + (id / ID_SPACE) * 7;
    (FUNCTIONS[f], start, duration, !(h >> 20).is_multiple_of(50))
}

/// The app process: write ROUNDS x PER_ROUND events (flushing each round, which acknowledges it)
/// into its store, print how many, close (which seals the last page for the shipper).
#[test]
fn app_process() {
    let (Ok(dir), Ok(k)) = (std::env::var(APP_DIR_ENV), std::env::var(APP_INDEX_ENV)) else {
        return; // run as a test by itself: nothing to do
    };
    let k: u64 = k.parse().unwrap();
    let options = Options {
        page_rows: 2048,
        page_max_age: Duration::from_millis(100),
        ..Options::default()
    };
    let store = Store::open(Path::new(&dir), options).unwrap();
    let names: Vec<_> = FUNCTIONS.iter().map(|f| store.intern(f).unwrap()).collect();
    let id_key = store.intern("id").unwrap();
    let mut acknowledged = 0;
    for round in 0..ROUNDS {
        let mut batch = Batch::with_capacity(PER_ROUND as usize);
        for i in 0..PER_ROUND {
            let id = k * ID_SPACE + round * PER_ROUND + i;
            let (f, start, duration, ok) = event(id);
            let f = FUNCTIONS.iter().position(|n| *n == f).unwrap();
            let row = batch.push_call(names[f], start, duration, ok);
            batch
                .add_field_at(row, id_key, Value::I64(id as i64))
                .unwrap();
        }
        store.append(batch);
        store.flush().unwrap();
        acknowledged += PER_ROUND;
        std::thread::sleep(Duration::from_millis(100));
    }
    store.close().unwrap();
    println!("app acknowledged {acknowledged}");
}

/// Child processes, SIGKILLed when the test ends however it ends.
#[derive(Default)]
struct Processes(Vec<(String, Child)>);

impl Processes {
    fn kill(&mut self, name: &str) {
        if let Some(i) = self.0.iter().position(|(n, _)| n == name) {
            let (_, mut c) = self.0.remove(i);
            c.kill().ok();
            c.wait().ok();
        }
    }
}

impl Processes {
    /// Peak resident memory of each running process (`VmHWM`), MiB.
    fn peak_rss(&self) -> Vec<(String, f64)> {
        self.0
            .iter()
            .filter_map(|(name, c)| {
                let status = std::fs::read_to_string(format!("/proc/{}/status", c.id())).ok()?;
                let kb: f64 = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()?;
                Some((name.clone(), kb / 1024.0))
            })
            .collect()
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for (_, c) in &mut self.0 {
            c.kill().ok();
            c.wait().ok();
        }
    }
}

/// Start `laptime-fleet ARGS`, wait for its start line (it begins with `expect`), keep forwarding
/// its output to stderr marked with `name`; `on_stderr` sees each stderr line.
fn fleet(
    procs: &mut Processes,
    name: &str,
    args: &[&str],
    expect: &str,
    on_stderr: impl Fn(&str) + Send + 'static,
) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_laptime-fleet"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start laptime-fleet");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let err = BufReader::new(child.stderr.take().unwrap());
    let label = name.to_owned();
    std::thread::spawn(move || {
        for line in err.lines().map_while(Result::ok) {
            on_stderr(&line);
            eprintln!("[{label}] {line}");
        }
    });
    let mut line = String::new();
    out.read_line(&mut line).expect("start line");
    assert!(line.starts_with(expect), "{name} did not start: {line:?}");
    let label = name.to_owned();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            eprintln!("[{label}] {line}");
        }
    });
    procs.0.push((name.to_owned(), child));
    line.trim().to_owned()
}

/// `http://ADDR` after `prefix` in a start line.
fn url_after(line: &str, prefix: &str) -> String {
    let at = line
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix} in {line}"))
        + prefix.len();
    line[at..]
        .split([',', ' '])
        .next()
        .unwrap()
        .trim_end_matches(',')
        .to_owned()
}

/// One indexer's assignment as its log says (`partitions [..] assigned` / `revoked`).
type Assignment = Arc<Mutex<Vec<i32>>>;

fn track(assignment: &Assignment) -> impl Fn(&str) + Send + 'static {
    let a = Arc::clone(assignment);
    move |line: &str| {
        let Some(rest) = line.strip_prefix("laptime index: partitions [") else {
            return;
        };
        let Some((list, what)) = rest.split_once("] ") else {
            return;
        };
        let parts: Vec<i32> = list
            .split(", ")
            .filter_map(|p| p.trim().parse().ok())
            .collect();
        let mut a = a.lock().unwrap();
        if what.starts_with("assigned") {
            a.extend(parts);
        } else {
            a.retain(|p| !parts.contains(p));
        }
    }
}

/// What starting an indexer needs besides its number.
struct IndexerSetup<'a> {
    bs: &'a str,
    topic: &'a str,
    group: &'a str,
    dirs: &'a [PathBuf],
    listen: &'a [String],
    assignments: &'a [Assignment],
}

impl IndexerSetup<'_> {
    /// Start indexer `k` (its store, its fixed address); returns its read server's URL.
    fn start(&self, procs: &mut Processes, k: usize) -> String {
        self.assignments[k].lock().unwrap().clear();
        let line = fleet(
            procs,
            &format!("indexer{k}"),
            &[
                "index",
                "--dir",
                self.dirs[k].to_str().unwrap(),
                "--brokers",
                self.bs,
                "--topic",
                self.topic,
                "--group",
                self.group,
                "--listen",
                &self.listen[k],
            ],
            "laptime-fleet index:",
            track(&self.assignments[k]),
        );
        url_after(&line, "read server ")
    }
}

async fn query(client: &reqwest::Client, coordinator: &str, q: &Json) -> Json {
    let resp = client
        .post(format!("{coordinator}/v1/query"))
        .header("content-type", "application/json")
        .body(q.to_string())
        .send()
        .await
        .expect("coordinator answers");
    let status = resp.status();
    let bytes = resp.bytes().await.expect("answer read");
    let body: Json = serde_json::from_slice(&bytes).expect("JSON answer");
    assert_eq!(status, 200, "{body}");
    body
}

#[test]
fn fleet_end_to_end() {
    if std::env::var(APP_DIR_ENV).is_ok() {
        return;
    }
    let Some((bs, script)) = kafka_env::cluster("fleet_end_to_end") else {
        return;
    };
    let started = Instant::now();
    let topic = kafka_env::unique("laptime-e2e");
    let group = kafka_env::unique("laptime-e2e-group");
    let mut spec = TopicSpec::new(&topic, 6, 3);
    spec.min_insync_replicas = Some(2);
    create_topic(&bs, &spec, Duration::from_secs(60)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut procs = Processes::default();

    // Three indexers on fixed free ports (a restarted one must come back at the same address).
    let ports: Vec<String> = (0..3)
        .map(|_| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        })
        .collect();
    let index_dirs: Vec<PathBuf> = (0..3)
        .map(|k| tmp.path().join(format!("index{k}")))
        .collect();
    let assignments: Vec<Assignment> = (0..3).map(|_| Assignment::default()).collect();
    let indexers = IndexerSetup {
        bs: &bs,
        topic: &topic,
        group: &group,
        dirs: &index_dirs,
        listen: &ports,
        assignments: &assignments,
    };
    let read_urls: Vec<String> = (0..3).map(|k| indexers.start(&mut procs, k)).collect();
    // Load starts once the group has settled: every partition owned, every indexer holding some.
    let settled = |a: &[Assignment]| {
        let mut all: Vec<i32> = a.iter().flat_map(|x| x.lock().unwrap().clone()).collect();
        all.sort_unstable();
        a.iter().all(|x| !x.lock().unwrap().is_empty()) && all == (0..6).collect::<Vec<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !settled(&assignments) {
        assert!(Instant::now() < deadline, "the group did not settle");
        std::thread::sleep(Duration::from_millis(100));
    }
    let line = fleet(
        &mut procs,
        "coordinator",
        &[
            "coordinate",
            "--listen",
            "127.0.0.1:0",
            "--indexers",
            &read_urls.join(","),
        ],
        "laptime-fleet coordinate:",
        |_| {},
    );
    let coordinator = url_after(&line, "listening on ");
    let line = fleet(
        &mut procs,
        "ingest",
        &[
            "ingest",
            "--listen",
            "127.0.0.1:0",
            "--brokers",
            &bs,
            "--topic",
            &topic,
        ],
        "laptime-fleet ingest:",
        |_| {},
    );
    let ingest = url_after(&line, "listening on ");

    // Two app processes (this test binary, run as `app_process`) and a shipper beside each.
    let mut apps = Vec::new();
    for k in 0..APPS {
        let dir = tmp.path().join(format!("app{k}"));
        std::fs::create_dir_all(&dir).unwrap();
        let app = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "app_process",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(APP_DIR_ENV, &dir)
            .env(APP_INDEX_ENV, k.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        apps.push(app);
        // The shipper starts once the app created its store.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !dir.join("partitions").exists() {
            assert!(Instant::now() < deadline, "app {k} made no store");
            std::thread::sleep(Duration::from_millis(20));
        }
        fleet(
            &mut procs,
            &format!("ship{k}"),
            &[
                "ship",
                "--dir",
                dir.to_str().unwrap(),
                "--brokers",
                &bs,
                "--topic",
                &topic,
            ],
            "laptime-fleet ship:",
            |_| {},
        );
    }

    // Ingest traffic until the apps are done: NDJSON requests of 200 events; a 202 acknowledges.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let stop = Arc::clone(&stop);
        let ingest = ingest.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let client = reqwest::Client::new();
                let (mut acked, mut refused, mut next) = (Vec::new(), 0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    let ids: Vec<u64> = (next..next + INGEST_PER_REQUEST)
                        .map(|i| INGEST_SOURCE * ID_SPACE + i)
                        .collect();
                    next += INGEST_PER_REQUEST;
                    let mut body = String::new();
                    for &id in &ids {
                        let (name, start, duration, ok) = event(id);
                        body.push_str(
                            &json!({"name": name, "start": start.to_string(),
                                    "duration_ns": duration, "ok": ok, "fields": {"id": id}})
                            .to_string(),
                        );
                        body.push('\n');
                    }
                    let sent = client
                        .post(format!("{ingest}/v1/events"))
                        .header("content-type", "application/x-ndjson")
                        .body(body)
                        .timeout(Duration::from_secs(90))
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status() == 202 => acked.extend(ids),
                        Ok(r) => {
                            refused += 1;
                            eprintln!("ingest refused: {} {:?}", r.status(), r.text().await);
                        }
                        Err(e) => {
                            refused += 1;
                            eprintln!("ingest request failed: {e}");
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                (acked, refused)
            })
        })
    };

    // Mid-stream: SIGKILL an indexer that holds events (only partitions that sources' keys hash
    // to get any), then broker 2; restart both while the load goes on.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Idle connections dropped before the server's 10 s idle close (see ServeLimits::header_timeout).
    let client = reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(4))
        .build()
        .unwrap();
    let count_q = json!({"aggregates": ["count"]});
    std::thread::sleep(Duration::from_secs(3));
    let a = rt.block_on(query(&client, &coordinator, &count_q));
    let victim = a["coverage"]["indexers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["groups"] == 1)
        .find_map(|r| read_urls.iter().position(|u| *u == r["url"]))
        .unwrap_or_else(|| panic!("no indexer holds events 3 s into the load: {a}"));
    procs.kill(&format!("indexer{victim}"));
    eprintln!(
        "fleet_end_to_end: indexer {victim} killed at {:?}, the fleet holding {}",
        started.elapsed(),
        a["rows"][0]["count"]
    );
    std::thread::sleep(Duration::from_secs(1));
    kafka_env::kafka_sh(&script, &["kill", "2"]);
    eprintln!(
        "fleet_end_to_end: broker 2 killed at {:?}",
        started.elapsed()
    );
    std::thread::sleep(Duration::from_secs(3));
    indexers.start(&mut procs, victim);
    eprintln!(
        "fleet_end_to_end: indexer {victim} restarted at {:?}",
        started.elapsed()
    );
    std::thread::sleep(Duration::from_secs(2));
    kafka_env::kafka_sh(&script, &["restart", "2"]);
    eprintln!(
        "fleet_end_to_end: broker 2 restarted at {:?}",
        started.elapsed()
    );

    let mut app_acknowledged = 0u64;
    for (k, app) in apps.into_iter().enumerate() {
        let out = app.wait_with_output().unwrap();
        assert!(out.status.success(), "app {k} failed");
        let text = String::from_utf8_lossy(&out.stdout);
        // libtest may print it on its "test app_process ..." line.
        let n: u64 = text
            .split("app acknowledged ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("app {k} printed no count: {text}"));
        app_acknowledged += n;
    }
    stop.store(true, Ordering::Relaxed);
    let (ingest_acked, refused) = traffic.join().unwrap();
    let acknowledged = app_acknowledged + ingest_acked.len() as u64;
    eprintln!(
        "fleet_end_to_end: load done at {:?}: {app_acknowledged} app events, {} ingest events acknowledged, {refused} ingest requests not",
        started.elapsed(),
        ingest_acked.len()
    );

    // Through the coordinator: wait until all three indexers answer and the count stops short of
    // nothing (or the deadline), then read every id back.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let a = rt.block_on(query(&client, &coordinator, &count_q));
        let count = a["rows"][0]["count"].as_u64().unwrap_or(0);
        let complete = a["coverage"]["complete"].as_bool() == Some(true);
        if (complete && count >= acknowledged) || Instant::now() > deadline {
            eprintln!(
                "fleet_end_to_end: coordinator counts {count} at {:?} ({})",
                started.elapsed(),
                a["coverage"]
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // Late copies would show by now too.
    std::thread::sleep(Duration::from_secs(2));
    let ids_q = json!({"groupBy": [{"by": "field", "key": "id"}], "aggregates": ["count"]});
    let a = rt.block_on(query(&client, &coordinator, &ids_q));
    assert_eq!(a["coverage"]["complete"], true, "{}", a["coverage"]);
    let mut seen: HashMap<u64, u64> = HashMap::new();
    for row in a["rows"].as_array().unwrap() {
        let id = row["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("an event without an id: {row}"));
        *seen.entry(id).or_insert(0) += row["count"].as_u64().unwrap();
    }
    let expected: Vec<u64> = (0..APPS)
        .flat_map(|k| (0..ROUNDS * PER_ROUND).map(move |i| k * ID_SPACE + i))
        .chain(ingest_acked.iter().copied())
        .collect();
    assert_eq!(expected.len() as u64, acknowledged);
    let stored = expected.iter().filter(|id| seen.contains_key(id)).count() as u64;
    let lost = acknowledged - stored;
    let duplicated: u64 = seen.values().map(|&n| n - 1).sum();
    let extra = seen.len() as u64 - stored;
    eprintln!(
        "fleet_end_to_end: {extra} events stored from ingest requests that were not acknowledged"
    );

    // p50/p90/p99 by function against one store holding the same events (everything stored).
    let reference = tmp.path().join("reference");
    {
        let store = Store::open(&reference, Options::default()).unwrap();
        let names: BTreeMap<&str, _> = FUNCTIONS
            .iter()
            .map(|f| (*f, store.intern(f).unwrap()))
            .collect();
        let mut ids: Vec<u64> = seen.keys().copied().collect();
        ids.sort_unstable();
        for chunk in ids.chunks(10_000) {
            let mut batch = Batch::with_capacity(chunk.len());
            for &id in chunk {
                let (f, start, duration, ok) = event(id);
                batch.push_call(names[f], start, duration, ok);
            }
            store.append(batch);
        }
        store.close().unwrap();
    }
    let by_function = json!({"groupBy": [{"by": "name"}], "aggregates": ["count", "p50", "p90", "p99"], "orderBy": "name"});
    let fleet_answer = rt.block_on(query(&client, &coordinator, &by_function));
    let view = laptime_storage::View::open_read_only(&reference).unwrap();
    let q = request::decode(by_function.to_string().as_bytes(), 0).unwrap();
    let one_store = result_json(&view.query(&q).unwrap());
    assert_eq!(
        fleet_answer["rows"], one_store["rows"],
        "p50/p90/p99 by function over the fleet vs one store"
    );
    let rss: Vec<String> = procs
        .peak_rss()
        .iter()
        .map(|(n, mib)| format!("{n} {mib:.0} MiB"))
        .collect();
    eprintln!("fleet_end_to_end: peak RSS: {}", rss.join(", "));
    drop(procs);

    assert_eq!(lost, 0, "acknowledged events missing");
    assert_eq!(duplicated, 0, "events stored twice");
    println!(
        "fleet: acknowledged {acknowledged}, stored {stored}, lost {lost}, duplicated {duplicated}, indexers killed 1, brokers killed 1"
    );
    eprintln!("fleet_end_to_end: took {:?}", started.elapsed());
}
