//! One laptime writer against DuckDB's appender, both fed from Rust in one process, on the same
//! R1-full events (issue 14: "one writer's stored events/s against DuckDB's appender; goal >= 5x").
//!
//!   npm run bench:ingest:rust
//!
//! Environment: LAPTIME_BENCH_EVENTS (default 10M), LAPTIME_BENCH_ROUNDS (default 3),
//! LAPTIME_BENCH_TMP (default the system temp dir), LAPTIME_BENCH_ENGINES (comma list of laptime,
//! duckdb-rows, duckdb-chunks; default all), LAPTIME_BENCH_SYNC (interval = laptime's default, or
//! none), LAPTIME_BENCH_WORKLOAD (full, or core for R1 without fields and logs).
//!
//! 1. N R1-full events (calls and logs, `route`/`tier` fields where R1 gives them) are generated
//!    once into memory, log messages rendered; no engine pays for generation.
//! 2. laptime: a fresh store (default options, `overflow: Block`), names and field keys interned at
//!    open as an instrumented app does; timed: building `Batch`es of 4096 events from the rows,
//!    `store.append` for each, then `close()` (everything written, sealed and synced).
//! 3. DuckDB: a fresh database file with one table of the same columns; timed: the rows through
//!    the appender, either one `append_row` per event or as Arrow record batches of 4096 rows
//!    (`append_record_batch`, DuckDB data chunks), the appender's flush, `CHECKPOINT` (rows in
//!    the database file) and closing the connection.
//! 4. Each is counted back from disk after close (rows, log messages, field values) and must equal
//!    what was handed over. Rounds rotate which engine goes first; medians are reported, with bytes
//!    on disk, process CPU time per event and peak RSS.

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use std::sync::Arc;

use duckdb::arrow::array::{ArrayRef, BooleanBuilder, StringBuilder, UInt64Builder, UInt8Builder};
use duckdb::arrow::datatypes::{DataType, Field, Schema};
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::{params, Appender, Connection};
use laptime_core::{
    ColumnSet, Level, NameId, Options, Overflow, PageColumns, Push, ReadScratch, Reader,
    ScanFilter, Store, SyncPolicy, ValueRef,
};
use laptime_workload::{R1Config, R1Event, R1};

type Res<T> = Result<T, Box<dyn Error>>;

/// Events per `Batch`, as the Rust ingest bench and `r1_export` use.
const BATCH: usize = 4096;
/// DuckDB version the duckdb crate pin (1.10506.x) is built for.
const DUCKDB_EXPECTED: &str = "v1.5.6";

/// The generated events with everything either engine needs as plain data.
struct Rows {
    events: Vec<R1Event>,
    /// Rendered message of each log event, in stream order.
    messages: Vec<String>,
    names: Vec<String>,
    routes: Vec<String>,
    tiers: Vec<String>,
}

impl Rows {
    fn logs(&self) -> u64 {
        self.messages.len() as u64
    }

    fn field_values(&self) -> u64 {
        self.events
            .iter()
            .map(|e| u64::from(e.route.is_some()) + u64::from(e.tier.is_some()))
            .sum()
    }
}

/// What one engine's round measured, counted back from disk.
struct Round {
    seconds: f64,
    /// Until the last event was handed over (laptime: last `append`; DuckDB: appender flushed).
    handed_over: f64,
    rows: u64,
    logs: u64,
    field_values: u64,
    bytes: u64,
    dropped: u64,
    /// Peak resident memory during the round above the resident memory before it.
    peak_rss_extra: Option<u64>,
    /// CPU time of the whole process (all threads) during the timed part.
    cpu_seconds: Option<f64>,
}

fn main() -> Res<()> {
    let n: usize = env_num("LAPTIME_BENCH_EVENTS", 10_000_000)?;
    let rounds: usize = env_num("LAPTIME_BENCH_ROUNDS", 3)?.max(1);
    let tmp = std::env::var_os("LAPTIME_BENCH_TMP")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let work = tmp.join(format!("laptime-ingest-rust-{}", std::process::id()));
    fs::create_dir_all(&work)?;
    let _cleanup = RemoveOnDrop(work.clone());
    let engines = engines_from_env()?;
    let sync = sync_from_env()?;
    // R1-full unless LAPTIME_BENCH_WORKLOAD=core (no fields, no logs: what the criterion bench uses).
    let full = match std::env::var("LAPTIME_BENCH_WORKLOAD").as_deref() {
        Err(_) | Ok("full") => true,
        Ok("core") => false,
        Ok(other) => {
            return Err(format!("LAPTIME_BENCH_WORKLOAD={other:?}: expected full or core").into())
        }
    };

    let workload = if full { "R1-full" } else { "R1-core" };
    println!("# laptime writer vs DuckDB appender from Rust, {n} {workload} events");
    println!("machine: {}", machine_line());
    println!("laptime: one producer thread, batches of {BATCH}, sync {sync:?}; DuckDB: one connection, default threads, Arrow chunks of {BATCH} rows");

    let t = Instant::now();
    let rows = generate(n, full);
    println!(
        "{} events generated in {:.1} s ({} logs, {} field values); resident {} MiB",
        rows.events.len(),
        t.elapsed().as_secs_f64(),
        rows.logs(),
        rows.field_values(),
        rss_now().map_or("?".into(), |b| (b >> 20).to_string()),
    );

    let mut results: [Vec<Round>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let mut version = String::new();
    for r in 0..rounds {
        // Rotate which engine goes first (page cache, writeback and CPU frequency carry over).
        for k in 0..ENGINES.len() {
            let which = (r + k) % ENGINES.len();
            if !engines[which] {
                continue;
            }
            let got = match which {
                0 => {
                    let dir = work.join(format!("laptime-{r}"));
                    let got = laptime_round(&rows, &dir, sync)?;
                    fs::remove_dir_all(&dir)?;
                    got
                }
                _ => {
                    let file = work.join(format!("duck-{r}-{which}.duckdb"));
                    let path = if which == 1 {
                        DuckPath::Rows
                    } else {
                        DuckPath::Chunks
                    };
                    let (got, v) = duck_round(&rows, &file, path)?;
                    remove_duck(&file)?;
                    version = v;
                    got
                }
            };
            check(ENGINES[which], &rows, &got)?;
            println!("round {}: {} {}", r + 1, ENGINES[which], describe(&got));
            results[which].push(got);
        }
    }
    if !version.is_empty() && version != DUCKDB_EXPECTED {
        println!(
            "note: the linked DuckDB is {version}, the duckdb crate is built for {DUCKDB_EXPECTED}"
        );
    }

    let n = rows.events.len() as f64;
    let mut rates = [None; 3];
    for (which, rs) in results.iter().enumerate() {
        if rs.is_empty() {
            continue;
        }
        let rate = median(rs.iter().map(|r| n / r.seconds).collect());
        let cpu: Vec<f64> = rs.iter().filter_map(|r| r.cpu_seconds).collect();
        let cpu = if cpu.is_empty() {
            "?".into()
        } else {
            format!("{:.3} us", median(cpu) / n * 1e6)
        };
        let rss = rs
            .iter()
            .filter_map(|r| r.peak_rss_extra)
            .max()
            .map_or("?".into(), |b| format!("{} MiB", b >> 20));
        println!(
            "median {}: {} events/s, {:.2} B/event on disk, process CPU {cpu}/event, peak RSS above the in-memory events {rss}",
            ENGINES[which],
            thousands(rate),
            median(rs.iter().map(|r| r.bytes as f64).collect()) / n,
        );
        rates[which] = Some(rate);
    }
    for which in 1..3 {
        if let (Some(l), Some(d)) = (rates[0], rates[which]) {
            println!("ratio laptime / {}: {:.2}x", ENGINES[which], l / d);
        }
    }
    println!("every event stored (rows, log messages and field values counted back from disk after close), none dropped");
    Ok(())
}

/// Removes the bench's scratch directory however `main` ends.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The engines, in the order of round 1.
const ENGINES: [&str; 3] = [
    "laptime",
    "DuckDB appender, append_row",
    "DuckDB appender, Arrow chunks",
];

/// Which engines run: `LAPTIME_BENCH_ENGINES`, a comma list of laptime, duckdb-rows,
/// duckdb-chunks (default all three), e.g. to profile one of them.
fn engines_from_env() -> Res<[bool; 3]> {
    let Ok(list) = std::env::var("LAPTIME_BENCH_ENGINES") else {
        return Ok([true; 3]);
    };
    let mut on = [false; 3];
    for item in list.split(',').map(str::trim) {
        match item {
            "laptime" => on[0] = true,
            "duckdb-rows" => on[1] = true,
            "duckdb-chunks" => on[2] = true,
            other => {
                return Err(format!(
                    "LAPTIME_BENCH_ENGINES: {other:?} is not one of laptime, duckdb-rows, duckdb-chunks"
                )
                .into())
            }
        }
    }
    Ok(on)
}

/// laptime's sync policy (`LAPTIME_BENCH_SYNC=interval|none`): the default options' 100 ms interval
/// unless told otherwise.
fn sync_from_env() -> Res<SyncPolicy> {
    match std::env::var("LAPTIME_BENCH_SYNC").as_deref() {
        Err(_) | Ok("interval") => Ok(Options::default().sync),
        Ok("none") => Ok(SyncPolicy::None),
        Ok(other) => Err(format!("LAPTIME_BENCH_SYNC={other:?}: expected interval or none").into()),
    }
}

/// N R1 events and their strings, messages rendered (untimed).
fn generate(n: usize, full: bool) -> Rows {
    let mut r1 = R1::new(R1Config {
        full,
        ..R1Config::default()
    });
    let mut events = Vec::with_capacity(n);
    r1.fill(n, &mut events);
    let messages = events
        .iter()
        .filter_map(|e| e.log.as_ref().map(|l| l.message()))
        .collect();
    let (routes, tiers) = r1.field_values();
    Rows {
        messages,
        names: r1.names().to_vec(),
        routes: routes.to_vec(),
        tiers: tiers.to_vec(),
        events,
    }
}

fn laptime_round(rows: &Rows, dir: &Path, sync: SyncPolicy) -> Res<Round> {
    let store = Store::open(
        dir,
        Options {
            sync,
            overflow: Overflow::Block {
                timeout: Duration::from_secs(60),
            },
            ..Options::default()
        },
    )?;
    // Interned once at startup, as instrumentation does (capture sites hold their NameId).
    let names: Vec<NameId> = rows
        .names
        .iter()
        .map(|s| store.intern(s))
        .collect::<Result<_, _>>()?;
    let route_key = store.intern("route")?;
    let tier_key = store.intern("tier")?;
    let mark = Mark::take();

    let t = Instant::now();
    let mut dropped = 0u64;
    let mut msgs = rows.messages.iter();
    for chunk in rows.events.chunks(BATCH) {
        let mut b = store.spare_batch(chunk.len());
        for e in chunk {
            let name = names
                .get(e.name as usize)
                .copied()
                .ok_or("R1 name index out of range")?;
            let row = match &e.log {
                Some(log) => {
                    let msg = msgs
                        .next()
                        .ok_or("fewer rendered messages than log events")?;
                    let level = Level::from_u8(log.level).ok_or("R1 log level out of range")?;
                    b.push_log(name, e.start_ns, level, msg)
                }
                None => b.push_call(name, e.start_ns, e.duration_ns, e.ok),
            };
            if let Some(r) = e.route {
                let route = rows
                    .routes
                    .get(usize::from(r))
                    .ok_or("R1 route out of range")?;
                b.add_field_ref_at(row, route_key, ValueRef::Str(route))?;
            }
            if let Some(t) = e.tier {
                let tier = rows
                    .tiers
                    .get(usize::from(t))
                    .ok_or("R1 tier out of range")?;
                b.add_field_ref_at(row, tier_key, ValueRef::Str(tier))?;
            }
        }
        let len = b.len() as u64;
        if let Push::Dropped = store.append(b) {
            dropped += len;
        }
    }
    let handed_over = t.elapsed().as_secs_f64();
    let counters = store.counters();
    store.close()?;
    let seconds = t.elapsed().as_secs_f64();
    let (peak_rss_extra, cpu_seconds) = mark.since();

    let (rows_back, logs, field_values) = count_laptime(dir)?;
    Ok(Round {
        seconds,
        handed_over,
        rows: rows_back,
        logs,
        field_values,
        bytes: dir_bytes(dir)?,
        dropped: dropped.max(counters.dropped),
        peak_rss_extra,
        cpu_seconds,
    })
}

/// Rows, log messages and field values in the store at `dir`, every page decoded (checksums
/// checked); the page directory's row count must agree.
fn count_laptime(dir: &Path) -> Res<(u64, u64, u64)> {
    let view = Reader::open(dir, None)?.view()?;
    let (mut rows, mut meta_rows, mut logs, mut fields) = (0u64, 0u64, 0u64, 0u64);
    let mut scratch = ReadScratch::default();
    let mut cols = PageColumns::default();
    for page in view.pages(&ScanFilter::default()) {
        meta_rows += u64::from(page.zone().rows);
        view.read(&page, ColumnSet::ALL, &mut scratch, &mut cols)?;
        rows += cols.len() as u64;
        logs += cols.message_rows.len() as u64;
        fields += cols.fields.iter().map(|f| f.rows.len() as u64).sum::<u64>();
    }
    let damaged = view.damaged_pages();
    if !damaged.is_empty() || rows != meta_rows {
        return Err(format!(
            "laptime read back {rows} rows, page metadata says {meta_rows}, {} damaged pages",
            damaged.len()
        )
        .into());
    }
    Ok((rows, logs, fields))
}

/// How rows reach DuckDB's appender.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DuckPath {
    /// `Appender::append_row`, one call per event (the duckdb crate binds value by value).
    Rows,
    /// `Appender::append_record_batch`: the events as Arrow columns of `BATCH` rows, handed to
    /// DuckDB as data chunks (its bulk path).
    Chunks,
}

/// One event as DuckDB's columns see it.
struct DuckRow<'a> {
    name: &'a str,
    level: Option<u8>,
    message: Option<&'a str>,
    route: Option<&'a str>,
    tier: Option<&'a str>,
}

fn duck_row<'a>(
    rows: &'a Rows,
    e: &R1Event,
    msgs: &mut std::slice::Iter<'a, String>,
) -> Res<DuckRow<'a>> {
    let name = rows
        .names
        .get(e.name as usize)
        .ok_or("R1 name index out of range")?;
    let (level, message) = match &e.log {
        Some(log) => {
            let msg = msgs
                .next()
                .ok_or("fewer rendered messages than log events")?;
            (Some(log.level), Some(msg.as_str()))
        }
        None => (None, None),
    };
    let route = match e.route {
        Some(r) => Some(
            rows.routes
                .get(usize::from(r))
                .ok_or("R1 route out of range")?,
        ),
        None => None,
    };
    let tier = match e.tier {
        Some(t) => Some(
            rows.tiers
                .get(usize::from(t))
                .ok_or("R1 tier out of range")?,
        ),
        None => None,
    };
    Ok(DuckRow {
        name,
        level,
        message,
        route: route.map(String::as_str),
        tier: tier.map(String::as_str),
    })
}

fn append_rows(app: &mut Appender<'_>, rows: &Rows) -> Res<()> {
    let mut msgs = rows.messages.iter();
    for e in &rows.events {
        let r = duck_row(rows, e, &mut msgs)?;
        app.append_row(params![
            r.name,
            e.start_ns,
            e.duration_ns,
            e.ok,
            r.level,
            r.message,
            r.route,
            r.tier
        ])?;
    }
    Ok(())
}

fn append_chunks(app: &mut Appender<'_>, rows: &Rows) -> Res<()> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("start", DataType::UInt64, false),
        Field::new("duration", DataType::UInt64, false),
        Field::new("ok", DataType::Boolean, false),
        Field::new("level", DataType::UInt8, true),
        Field::new("message", DataType::Utf8, true),
        Field::new("route", DataType::Utf8, true),
        Field::new("tier", DataType::Utf8, true),
    ]));
    let mut msgs = rows.messages.iter();
    for chunk in rows.events.chunks(BATCH) {
        let n = chunk.len();
        let mut name = StringBuilder::with_capacity(n, n * 16);
        let mut start = UInt64Builder::with_capacity(n);
        let mut duration = UInt64Builder::with_capacity(n);
        let mut ok = BooleanBuilder::with_capacity(n);
        let mut level = UInt8Builder::with_capacity(n);
        let mut message = StringBuilder::new();
        let mut route = StringBuilder::with_capacity(n, n * 8);
        let mut tier = StringBuilder::with_capacity(n, n * 4);
        for e in chunk {
            let r = duck_row(rows, e, &mut msgs)?;
            name.append_value(r.name);
            start.append_value(e.start_ns);
            duration.append_value(e.duration_ns);
            ok.append_value(e.ok);
            level.append_option(r.level);
            message.append_option(r.message);
            route.append_option(r.route);
            tier.append_option(r.tier);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(name.finish()),
            Arc::new(start.finish()),
            Arc::new(duration.finish()),
            Arc::new(ok.finish()),
            Arc::new(level.finish()),
            Arc::new(message.finish()),
            Arc::new(route.finish()),
            Arc::new(tier.finish()),
        ];
        app.append_record_batch(RecordBatch::try_new(Arc::clone(&schema), columns)?)?;
    }
    Ok(())
}

fn duck_round(rows: &Rows, file: &Path, path: DuckPath) -> Res<(Round, String)> {
    let con = Connection::open(file)?;
    con.execute_batch(
        "CREATE TABLE ev (name VARCHAR, start UBIGINT, duration UBIGINT, ok BOOLEAN, \
         level UTINYINT, message VARCHAR, route VARCHAR, tier VARCHAR)",
    )?;
    let mark = Mark::take();

    let t = Instant::now();
    {
        let mut app = con.appender("ev")?;
        match path {
            DuckPath::Rows => append_rows(&mut app, rows)?,
            DuckPath::Chunks => append_chunks(&mut app, rows)?,
        }
        app.flush()?;
    }
    let handed_over = t.elapsed().as_secs_f64();
    con.execute_batch("CHECKPOINT")?;
    con.close().map_err(|(_, e)| e)?;
    let seconds = t.elapsed().as_secs_f64();
    let (peak_rss_extra, cpu_seconds) = mark.since();

    let bytes = duck_bytes(file)?;
    let con = Connection::open(file)?;
    let (count, logs, field_values): (u64, u64, u64) = con.query_row(
        "SELECT count(*), count(message), count(route) + count(tier) FROM ev",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let version: String = con.query_row("SELECT version()", [], |r| r.get(0))?;
    con.close().map_err(|(_, e)| e)?;
    Ok((
        Round {
            seconds,
            handed_over,
            rows: count,
            logs,
            field_values,
            bytes,
            dropped: 0,
            peak_rss_extra,
            cpu_seconds,
        },
        version,
    ))
}

/// The database file plus a WAL file if one is left.
fn duck_bytes(file: &Path) -> Res<u64> {
    let mut total = fs::metadata(file)?.len();
    if let Ok(m) = fs::metadata(wal_of(file)) {
        total += m.len();
    }
    Ok(total)
}

fn remove_duck(file: &Path) -> Res<()> {
    fs::remove_file(file)?;
    match fs::remove_file(wal_of(file)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

fn wal_of(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".wal");
    PathBuf::from(s)
}

/// Everything handed over must be read back.
fn check(engine: &str, rows: &Rows, got: &Round) -> Res<()> {
    let want = (rows.events.len() as u64, rows.logs(), rows.field_values());
    let have = (got.rows, got.logs, got.field_values);
    if want != have || got.dropped != 0 {
        return Err(format!(
            "{engine} stored (rows, logs, field values) {have:?} of {want:?}, dropped {}",
            got.dropped
        )
        .into());
    }
    Ok(())
}

fn describe(r: &Round) -> String {
    format!(
        "{:.2} s ({}/s; last event handed over at {:.2} s), {:.2} B/event, peak RSS +{}, CPU {}",
        r.seconds,
        thousands(r.rows as f64 / r.seconds),
        r.handed_over,
        r.bytes as f64 / r.rows as f64,
        r.peak_rss_extra
            .map_or("?".into(), |b| format!("{} MiB", b >> 20)),
        r.cpu_seconds.map_or("?".into(), |s| format!("{s:.2} s")),
    )
}

/// Resident memory and CPU time at the start of a timed part; the kernel's peak-RSS mark is reset
/// so the peak seen afterwards belongs to this round.
struct Mark {
    rss: Option<u64>,
    cpu: Option<f64>,
}

impl Mark {
    fn take() -> Mark {
        // "5" resets VmHWM to the current RSS (Linux >= 4.0); without it the peak is not reported.
        let reset = fs::write("/proc/self/clear_refs", "5").is_ok();
        Mark {
            rss: if reset { rss_now() } else { None },
            cpu: cpu_seconds(),
        }
    }

    fn since(&self) -> (Option<u64>, Option<f64>) {
        let peak = match (self.rss, status_kib("VmHWM:")) {
            (Some(before), Some(hwm)) => Some((hwm << 10).saturating_sub(before)),
            _ => None,
        };
        let cpu = match (self.cpu, cpu_seconds()) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        (peak, cpu)
    }
}

fn rss_now() -> Option<u64> {
    status_kib("VmRSS:").map(|k| k << 10)
}

fn status_kib(key: &str) -> Option<u64> {
    let s = fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// User + system CPU seconds of this process (all threads) from /proc/self/stat.
fn cpu_seconds() -> Option<f64> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    let rest: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    // After "(comm)": utime and stime are fields 14 and 15 of the line, 11 and 12 here.
    let ticks: u64 = rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux configuration in use.
    Some(ticks as f64 / 100.0)
}

/// CPU model, cores, memory, kernel and 1-minute load, as bench/machine.mts prints them.
fn machine_line() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown cpu".to_string(), |(_, m)| m.trim().to_string());
    let cores = std::thread::available_parallelism().map_or(0, |c| c.get());
    let mem_gib = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: f64 = line["MemTotal:".len()..]
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()?;
            Some(kib / (1 << 20) as f64)
        })
        .map_or("?".into(), |g| format!("{g:.1}"));
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split(' ').next().unwrap_or("?");
    format!(
        "{model}, {cores} cores, {mem_gib} GiB, {}-{}, kernel {}; load {load}",
        std::env::consts::OS,
        std::env::consts::ARCH,
        kernel.trim()
    )
}

fn env_num(key: &str, default: usize) -> Res<usize> {
    match std::env::var(key) {
        Ok(v) => v
            .replace('_', "")
            .parse()
            .map_err(|e| format!("{key}={v:?} is not a count: {e}").into()),
        Err(_) => Ok(default),
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let m = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[m]
    } else {
        (xs[m - 1] + xs[m]) / 2.0
    }
}

fn thousands(x: f64) -> String {
    let s = format!("{}", x.round() as u64);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn dir_bytes(path: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in fs::read_dir(path)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}
