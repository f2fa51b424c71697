//! Crash/fault campaign (issue 10, `npm run test:faults`): cycles of concurrent writer processes
//! that are SIGKILLed (or close cleanly), a disk that fills up and frees again, and files damaged
//! between cycles; after each cycle the store is checked with readers only, then with a writer,
//! then with a fresh reader, and `verify` runs. Acknowledged events lost, duplicated, invented or
//! hidden must all be 0, and loss that a damage kind causes on purpose (a flipped bit in a sealed
//! page) must be reported, never silent.
//!
//! ```text
//! cargo run --release -p laptime-core --example fault_campaign
//! FAULT_SEED=<n> FAULT_CYCLES=<n> FAULT_SECONDS=<s> FAULT_NO_TMPFS=1 FAULT_TMPFS_MB=<mb>
//! ```
//!
//! The same executable is re-run as a writer child (`--child ...`). Every event carries its
//! identity: batch number `k` and row `i` in its start time (`EPOCH + k * 1e6 + i`), and name,
//! duration and status are functions of `(k, i)`, so any event read back is checked whole.
//! The seed fixes every decision (which faults, when to kill, page sizes); the children's timing
//! still varies between runs, so a replay takes the same path but not the same bytes.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use laptime_core::encoding::varint::read_varint;
use laptime_core::verify::verify;
use laptime_core::{
    Batch, Code, ColumnSet, Event, Maintained, Maintenance, Options, PageColumns, Push,
    ReadScratch, Reader, RecoveryReport, ScanFilter, Store, SyncPolicy,
};

const PER_BATCH: u64 = 50;
const FULL_MASK: u64 = (1 << PER_BATCH) - 1;
const EPOCH: u64 = 1_700_000_000_000_000_000;
const SLOT: u64 = 1_000_000;
/// Batch numbers per child: child `j` of cycle `c` writes from `(c * MAX_KIDS + j) * PER_CHILD`.
const PER_CHILD: u64 = 100_000;
const MAX_KIDS: u64 = 8;
const KIDS: usize = 3;
const DEFAULT_SEED: u64 = 0x1a97_1e10;
const DEFAULT_CYCLES: u64 = 200;
const DEFAULT_SECONDS: u64 = 270;

// ---------------------------------------------------------------------------------------------
// Event identities

fn name_of(k: u64, i: u64) -> String {
    format!("Service{}.method{}", k % 7, i % 3)
}

fn duration_of(k: u64, i: u64) -> u64 {
    (k.wrapping_mul(7919) + i * 104_729) % 5_000_000 + 1
}

fn ok_of(k: u64, i: u64) -> bool {
    !(k + i).is_multiple_of(13)
}

fn make_batch(store: &Store, k: u64) -> laptime_core::Result<Batch> {
    let mut b = Batch::with_capacity(PER_BATCH as usize);
    for i in 0..PER_BATCH {
        let id = store.intern(&name_of(k, i))?;
        b.push_call(id, EPOCH + k * SLOT + i, duration_of(k, i), ok_of(k, i));
    }
    Ok(b)
}

/// `(k, i)` of an event that is exactly what batch `k` row `i` was written as, else `None`.
fn identity(e: &Event, names: &[[String; 3]; 7]) -> Option<(u64, u64)> {
    let off = e.start_ns.checked_sub(EPOCH)?;
    let (k, i) = (off / SLOT, off % SLOT);
    let good = i < PER_BATCH
        && e.name == names[(k % 7) as usize][(i % 3) as usize]
        && e.duration_ns == duration_of(k, i)
        && e.code
            == if ok_of(k, i) {
                Code::CallOk
            } else {
                Code::CallError
            }
        && e.message.is_none()
        && e.fields.is_empty();
    good.then_some((k, i))
}

// ---------------------------------------------------------------------------------------------
// The writer child

fn child_main(args: &[String]) -> ExitCode {
    let arg = |n: usize| -> u64 { args.get(n).and_then(|s| s.parse().ok()).unwrap_or(0) };
    let Some(dir) = args.first() else {
        println!("OPENFAIL no store directory given");
        return ExitCode::from(2);
    };
    let (base, rows, page_age_ms, close_after, pause_us) = (arg(1), arg(2), arg(3), arg(4), arg(5));
    let opts = Options {
        writers: arg(6).clamp(1, 2) as usize,
        sync: SyncPolicy::Always,
        page_rows: rows as usize,
        page_max_age: Duration::from_millis(page_age_ms.max(1)),
        segment_max_bytes: 1 << 20,
        segment_max_age: Duration::from_secs(1),
        ..Options::default()
    };
    let store = match Store::open(dir, opts) {
        Ok(s) => s,
        Err(e) => {
            println!("OPENFAIL {e}");
            return ExitCode::from(2);
        }
    };
    println!("OPEN");
    for n in 0.. {
        if close_after > 0 && n == close_after {
            break;
        }
        let k = base + n;
        let batch = match make_batch(&store, k) {
            Ok(b) => b,
            Err(e) => {
                println!("FAIL {k} {} {e}", u8::from(e.is_disk_full()));
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        // Announced before it is handed over: anything read back must have been announced.
        println!("W {k}");
        if store.append(batch) != Push::Accepted {
            println!("DROP {k}");
            continue;
        }
        match store.flush() {
            Ok(()) => println!("ACK {k}"),
            Err(e) => {
                println!("FAIL {k} {} {e}", u8::from(e.is_disk_full()));
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if pause_us > 0 {
            std::thread::sleep(Duration::from_micros(pause_us));
        }
    }
    match store.close() {
        Ok(()) => println!("CLOSED"),
        Err(e) => println!("CLOSEFAIL {e}"),
    }
    ExitCode::SUCCESS
}

// ---------------------------------------------------------------------------------------------
// Parent: children

enum Msg {
    Open,
    OpenFail(String),
    Written(u64),
    Ack(u64),
    Fail { k: u64, disk_full: bool },
    Drop,
    Closed,
    CloseFail(String),
}

fn parse(line: &str) -> Option<Msg> {
    let (head, rest) = line.split_once(' ').unwrap_or((line, ""));
    let num = || rest.split(' ').next().and_then(|s| s.parse::<u64>().ok());
    Some(match head {
        "OPEN" => Msg::Open,
        "OPENFAIL" => Msg::OpenFail(rest.to_string()),
        "W" => Msg::Written(num()?),
        "ACK" => Msg::Ack(num()?),
        "FAIL" => Msg::Fail {
            k: num()?,
            disk_full: rest.split(' ').nth(1) == Some("1"),
        },
        "DROP" => Msg::Drop,
        "CLOSED" => Msg::Closed,
        "CLOSEFAIL" => Msg::CloseFail(rest.to_string()),
        _ => return None,
    })
}

struct Kid {
    child: Child,
    rx: Receiver<Msg>,
    pump: Option<std::thread::JoinHandle<()>>,
    acks: u64,
    last_ack: Option<u64>,
    fails: u64,
    /// Batch of the first failed flush of the current disk-full episode.
    failed_at: Option<u64>,
    exited: bool,
    closed: bool,
    killed: bool,
}

struct Plan {
    rows: u64,
    page_age_ms: u64,
    close_after: u64,
    pause_us: u64,
    kill_ms: u64,
    /// `Options::writers` of the child (1 or 2).
    writers: u64,
}

fn spawn_kid(exe: &Path, dir: &Path, base: u64, p: &Plan, err_log: &Path) -> std::io::Result<Kid> {
    let err = File::create(err_log)?;
    let mut child = Command::new(exe)
        .arg("--child")
        .arg(dir)
        .args(
            [
                base,
                p.rows,
                p.page_age_ms,
                p.close_after,
                p.pause_us,
                p.writers,
            ]
            .map(|v| v.to_string()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(err))
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("child has no stdout"))?;
    let (tx, rx) = mpsc::channel();
    let pump = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(m) = parse(&line) {
                if tx.send(m).is_err() {
                    break;
                }
            }
        }
    });
    Ok(Kid {
        child,
        rx,
        pump: Some(pump),
        acks: 0,
        last_ack: None,
        fails: 0,
        failed_at: None,
        exited: false,
        closed: false,
        killed: false,
    })
}

// ---------------------------------------------------------------------------------------------
// Parent: what is known about every batch, and the tallies

#[derive(Default)]
struct Ledger {
    written: HashSet<u64>,
    acked: HashSet<u64>,
    /// Events that damage made unreadable on purpose, per batch (bit i = row i).
    expected_lost: HashMap<u64, u64>,
}

#[derive(Default)]
struct Totals {
    cycles: u64,
    kids_started: u64,
    kids_killed: u64,
    kids_closed: u64,
    kids_died: u64,
    open_failures: u64,
    close_failures: u64,
    drops: u64,
    disk_full_cycles: u64,
    enospc_failures: u64,
    other_flush_failures: u64,
    kids_resumed: u64,
    kids_not_resumed: u64,
    bit_flips: u64,
    expected_lost_events: u64,
    manifests_removed: u64,
    manifests_staled: u64,
    foreign_planted: u64,
    duplicates_planted: u64,
    torn_tails_appended: u64,
    covered_tails_truncated: u64,
    junk_files: u64,
    repairs: u64,
    verify_damage_before: u64,
    verify_damage_after: u64,
    verify_missed_flip: u64,
    repair_left_damage: u64,
    silent_expected_loss: u64,
    check_errors: u64,
    lost: u64,
    duplicated: u64,
    invented: u64,
    hidden: u64,
    last_seen: u64,
    examples: Vec<String>,
}

impl Totals {
    fn failed(&self) -> bool {
        self.lost
            + self.duplicated
            + self.invented
            + self.hidden
            + self.silent_expected_loss
            + self.check_errors
            + self.kids_not_resumed
            + self.kids_died
            + self.verify_missed_flip
            + self.repair_left_damage
            > 0
            || self.damage_never_landed()
    }

    /// A long campaign that never flipped a bit or never planted a foreign segment did not damage
    /// sealed segments the way it means to (no sealed segment found, or pages it could not
    /// parse): its checks of that damage then prove nothing. (Page meta layout 2 once stopped
    /// every flip while foreign segments still landed.)
    fn damage_never_landed(&self) -> bool {
        self.cycles >= 40 && (self.bit_flips == 0 || self.foreign_planted == 0)
    }

    fn note(&mut self, what: String) {
        if self.examples.len() < 40 {
            eprintln!("  !! {what}");
            self.examples.push(what);
        }
    }
}

/// A page that got a flipped bit: its events may be missing, but only with a report.
struct Flip {
    /// `partition-dir/seg-….lts`
    file: String,
    ids: HashMap<u64, u64>,
    settled: bool,
}

/// Identities seen by one check.
#[derive(Default)]
struct Seen {
    mask: HashMap<u64, u64>,
    events: u64,
    /// Files (`partition/file`) the check reported damage or loss in.
    reported: HashSet<String>,
}

/// `partition/file` of a file in a partition or in its quarantine (where a file keeps its name,
/// or gets `.N` appended when the name was taken).
fn short(p: &Path) -> String {
    let parts: Vec<String> = p
        .iter()
        .rev()
        .take(3)
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    let (file, mut part) = (
        parts.first().cloned().unwrap_or_default(),
        parts.get(1).cloned(),
    );
    let mut file = file;
    if part.as_deref() == Some("quarantine") {
        part = parts.get(2).cloned();
        if let Some((stem, n)) = file.rsplit_once('.') {
            if n.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty() {
                file = stem.to_string();
            }
        }
    }
    format!("{}/{file}", part.unwrap_or_default())
}

fn tally(
    events: &[Event],
    who: &str,
    ledger: &Ledger,
    names: &[[String; 3]; 7],
    t: &mut Totals,
) -> Seen {
    let mut seen = Seen {
        events: events.len() as u64,
        ..Seen::default()
    };
    for e in events {
        let Some((k, i)) = identity(e, names) else {
            t.invented += 1;
            t.note(format!("{who}: event that was never written: {e:?}"));
            continue;
        };
        if !ledger.written.contains(&k) {
            t.invented += 1;
            t.note(format!(
                "{who}: event ({k}, {i}) of a batch never handed over"
            ));
            continue;
        }
        let m = seen.mask.entry(k).or_default();
        if *m & (1 << i) != 0 {
            t.duplicated += 1;
            t.note(format!("{who}: event ({k}, {i}) seen twice"));
        }
        *m |= 1 << i;
    }
    seen
}

fn read_reader(root: &Path) -> laptime_core::Result<(Vec<Event>, Vec<String>)> {
    let snap = Reader::open(root, None)?.view()?;
    let events = snap.events(&ScanFilter::default())?;
    let damaged = snap
        .damaged_pages()
        .iter()
        .map(|d| short(&d.file))
        .collect();
    Ok((events, damaged))
}

fn report_files(r: &RecoveryReport) -> impl Iterator<Item = String> + '_ {
    r.quarantined
        .iter()
        .chain(r.salvaged.iter())
        .map(|(p, _)| short(p))
}

// ---------------------------------------------------------------------------------------------
// Files

fn partitions(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root.join("partitions"))
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn files_with(dir: &Path, prefix: &str, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with(prefix) && n.ends_with(suffix))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn quarantined_files(root: &Path) -> u64 {
    partitions(root)
        .iter()
        .map(|p| {
            std::fs::read_dir(p.join("quarantine"))
                .map(|d| d.count() as u64)
                .unwrap_or(0)
        })
        .sum()
}

fn dir_bytes(dir: &Path) -> u64 {
    laptime_workload::bytes_under(dir).unwrap_or(0)
}

/// A sealed segment ends in its trailer magic: the current footer's, or the older one's. (Only
/// the first was known here once, and sealed segments of the current format then went undamaged:
/// the summary line's zero "bit flips" and "foreign / duplicate segments" counts gave it away.)
fn is_sealed(bytes: &[u8]) -> bool {
    bytes.ends_with(b"LTSGEND2") || bytes.ends_with(b"LTSGEND1")
}

/// Whole pages of a segment file: (offset, length, rows, first_seq) from their headers and metas.
fn pages_of(bytes: &[u8]) -> Vec<(usize, usize, u64, u64)> {
    let u32_at = |at: usize| -> Option<usize> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize)
    };
    let mut out = Vec::new();
    let mut at = 32;
    while bytes.get(at..at + 4) == Some(b"LTPG".as_slice()) {
        let (Some(meta), Some(cols)) = (u32_at(at + 8), u32_at(at + 16)) else {
            break;
        };
        let len = 28 + meta + cols;
        if at + len > bytes.len() {
            break;
        }
        let mut pos = at + 28;
        // Page meta layout 2 begins with a row count of 0 and the layout's number (page/meta.rs);
        // layout 1 with the row count. Either way the first seq follows the row count.
        if bytes.get(pos..pos + 2) == Some([0u8, 2].as_slice()) {
            pos += 2;
        }
        let (Ok(rows), Ok(first_seq)) =
            (read_varint(bytes, &mut pos), read_varint(bytes, &mut pos))
        else {
            break;
        };
        out.push((at, len, rows, first_seq));
        at += len;
    }
    out
}

fn own_segment(bytes: &[u8], part: &Path) -> bool {
    let id = part
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| u64::from_str_radix(n, 16).ok());
    let header = bytes
        .get(16..24)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes);
    id.is_some() && id == header
}

fn unused_segment_name(dir: &Path, rng: &mut Rng) -> PathBuf {
    loop {
        let p = dir.join(format!("seg-{:016x}.lts", rng.next() | (1 << 60)));
        if !p.exists() {
            return p;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Randomness (seeded)

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> Option<&'a T> {
        v.get(self.below(v.len() as u64) as usize)
    }
}

// ---------------------------------------------------------------------------------------------
// Tmpfs for the disk-full fault

struct Mount {
    dir: tempfile::TempDir,
    mounted: bool,
}

impl Drop for Mount {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(self.dir.path()).status();
        }
    }
}

fn mount_tmpfs(mb: u64) -> std::io::Result<Mount> {
    let dir = tempfile::tempdir()?;
    let ok = std::env::var_os("FAULT_NO_TMPFS").is_none()
        && Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    Ok(Mount { dir, mounted: ok })
}

/// Write `path` until the disk is full, to the last byte it takes.
fn fill(path: &Path) -> std::io::Result<u64> {
    let mut f = File::create(path)?;
    let mut chunk = vec![0x5au8; 1 << 20];
    let mut total = 0u64;
    while !chunk.is_empty() {
        match f.write(&chunk) {
            Ok(0) | Err(_) => {
                let half = chunk.len() / 2;
                chunk.truncate(half);
            }
            Ok(n) => total += n as u64,
        }
    }
    Ok(total)
}

// ---------------------------------------------------------------------------------------------
// The campaign

struct Campaign {
    exe: PathBuf,
    root: PathBuf,
    logs: PathBuf,
    ballast: Option<PathBuf>,
    rng: Rng,
    ledger: Ledger,
    t: Totals,
    flips: Vec<Flip>,
    manifests: HashMap<PathBuf, Vec<Vec<u8>>>,
    names: [[String; 3]; 7],
    /// Damage kinds to choose from (`FAULT_DAMAGE`, comma-separated; default all).
    kinds: Vec<&'static str>,
    /// The kinds not drawn yet from the current shuffled round of `kinds`: drawn without
    /// replacement, every kind is tried within a round, where picking at random left a kind
    /// untried for 40 cycles in a few runs of a hundred (and the campaign's check failed).
    deck: Vec<&'static str>,
    /// Draws of this round that found nothing to damage and may go back into the deck (bounded,
    /// so a kind that cannot land in this store does not keep the others out).
    redraws: usize,
}

/// Every damage kind; "bit-flip" weighs double (the one that loses data, accounted exactly).
const DAMAGE_KINDS: [&str; 9] = [
    "manifest-removed",
    "manifest-stale",
    "foreign-segment",
    "duplicate-segment",
    "torn-tail",
    "covered-tail-cut",
    "junk",
    "bit-flip",
    "bit-flip",
];

fn env_u64(k: &str) -> Option<u64> {
    std::env::var(k).ok().and_then(|s| {
        let s = s.trim();
        match s.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).ok(),
            None => s.parse().ok(),
        }
    })
}

impl Campaign {
    fn pump(kid: &mut Kid, ledger: &mut Ledger, t: &mut Totals) {
        while let Ok(m) = kid.rx.try_recv() {
            match m {
                Msg::Open => {}
                Msg::OpenFail(e) => {
                    t.open_failures += 1;
                    t.note(format!("a child could not open the store: {e}"));
                }
                Msg::Written(k) => {
                    ledger.written.insert(k);
                }
                Msg::Ack(k) => {
                    ledger.acked.insert(k);
                    kid.acks += 1;
                    kid.last_ack = Some(k);
                }
                Msg::Fail { k, disk_full } => {
                    kid.fails += 1;
                    if disk_full {
                        t.enospc_failures += 1;
                    } else {
                        t.other_flush_failures += 1;
                    }
                    kid.failed_at.get_or_insert(k);
                }
                Msg::Drop => t.drops += 1,
                Msg::Closed => kid.closed = true,
                Msg::CloseFail(e) => {
                    t.close_failures += 1;
                    t.note(format!("a child's close failed: {e}"));
                }
            }
        }
    }

    fn pump_all(&mut self, kids: &mut [Kid]) {
        for kid in kids.iter_mut() {
            Self::pump(kid, &mut self.ledger, &mut self.t);
            if !kid.exited {
                if let Ok(Some(_)) = kid.child.try_wait() {
                    kid.exited = true;
                }
            }
        }
    }

    /// Pump until `done` holds for every kid (or it exited), or `limit` passes. True if it held.
    fn wait_for(&mut self, kids: &mut [Kid], limit: Duration, done: impl Fn(&Kid) -> bool) -> bool {
        let t0 = Instant::now();
        loop {
            self.pump_all(kids);
            if kids.iter().all(|k| k.exited || done(k)) {
                return true;
            }
            if t0.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn kill(kid: &mut Kid) {
        if !kid.exited && kid.child.try_wait().ok().flatten().is_none() {
            let _ = kid.child.kill();
            kid.killed = true;
        }
    }

    fn finish(&mut self, kids: &mut [Kid]) {
        for kid in kids.iter_mut() {
            let _ = kid.child.wait();
            kid.exited = true;
            if let Some(p) = kid.pump.take() {
                let _ = p.join();
            }
            Self::pump(kid, &mut self.ledger, &mut self.t);
            if kid.killed {
                self.t.kids_killed += 1;
            } else if kid.closed {
                self.t.kids_closed += 1;
            } else {
                // Neither killed nor closed: it crashed (a panic, or an open that failed).
                self.t.kids_died += 1;
                self.t.note(format!(
                    "a writer child ended on its own ({:?})",
                    kid.child.try_wait().ok().flatten()
                ));
            }
        }
    }

    fn run_writers(&mut self, cycle: u64, disk_full: bool) -> std::io::Result<String> {
        let mut kids = Vec::new();
        let mut plans = Vec::new();
        for j in 0..KIDS as u64 {
            let rows = *self.rng.pick(&[120u64, 700, 1 << 20]).unwrap_or(&120);
            let plan = Plan {
                rows,
                page_age_ms: if self.rng.one_in(3) { 5 } else { 3_600_000 },
                close_after: if !disk_full && self.rng.one_in(6) {
                    5 + self.rng.below(40)
                } else {
                    0
                },
                // Paced, so the store stays small enough to read whole three times per cycle.
                pause_us: 2000 + self.rng.below(4) * 1000,
                // Some die while opening (recovering), most while writing.
                kill_ms: if self.rng.one_in(8) {
                    self.rng.below(30)
                } else {
                    50 + self.rng.below(700)
                },
                // Some run two writers: two partitions recovered, adopted and killed at once.
                writers: if self.rng.one_in(3) { 2 } else { 1 },
            };
            let base = (cycle * MAX_KIDS + j) * PER_CHILD;
            let log = self.logs.join(format!("child-{cycle}-{j}.err"));
            kids.push(spawn_kid(&self.exe, &self.root, base, &plan, &log)?);
            plans.push(plan);
            self.t.kids_started += 1;
        }
        let mut what = String::new();
        if disk_full {
            what = self.disk_full_episode(&mut kids)?;
            let extra = Duration::from_millis(self.rng.below(300));
            let t0 = Instant::now();
            while t0.elapsed() < extra {
                self.pump_all(&mut kids);
                std::thread::sleep(Duration::from_millis(2));
            }
            for kid in kids.iter_mut() {
                Self::kill(kid);
            }
        } else {
            let t0 = Instant::now();
            let mut order: Vec<usize> = (0..kids.len()).collect();
            order.sort_by_key(|&i| plans[i].kill_ms);
            for i in order {
                if plans[i].close_after > 0 {
                    continue;
                }
                let at = Duration::from_millis(plans[i].kill_ms);
                while t0.elapsed() < at {
                    self.pump_all(&mut kids);
                    std::thread::sleep(Duration::from_millis(1));
                }
                Self::kill(&mut kids[i]);
            }
            // Clean closers get time to finish; then they are killed too (and say so).
            let closed_in_time = self.wait_for(&mut kids, Duration::from_secs(20), |k| k.closed);
            if !closed_in_time {
                self.t
                    .note("a child meant to close cleanly did not within 20 s".into());
                for kid in kids.iter_mut() {
                    Self::kill(kid);
                }
            }
        }
        self.finish(&mut kids);
        let acks: u64 = kids.iter().map(|k| k.acks).sum();
        let killed = kids.iter().filter(|k| k.killed).count();
        let closed = kids.iter().filter(|k| k.closed).count();
        Ok(format!(
            "{} kids ({killed} killed, {closed} closed), {acks} batches acked{what}",
            kids.len()
        ))
    }

    /// Fill the disk while the kids write, wait for each to fail a flush, free the space, and
    /// wait for each to acknowledge again.
    fn disk_full_episode(&mut self, kids: &mut [Kid]) -> std::io::Result<String> {
        let Some(ballast) = self.ballast.clone() else {
            return Ok(String::new());
        };
        self.t.disk_full_cycles += 1;
        self.wait_for(kids, Duration::from_secs(10), |k| k.acks >= 2);
        for kid in kids.iter_mut() {
            kid.failed_at = None;
        }
        let filled = fill(&ballast)?;
        // Checked per child below; a child that never failed is counted as such.
        self.wait_for(kids, Duration::from_secs(5), |k| k.failed_at.is_some());
        std::thread::sleep(Duration::from_millis(100 + self.rng.below(200)));
        std::fs::remove_file(&ballast)?;
        let failed: Vec<bool> = kids.iter().map(|k| k.failed_at.is_some()).collect();
        self.wait_for(kids, Duration::from_secs(20), |k| match k.failed_at {
            Some(f) => k.last_ack.is_some_and(|a| a > f),
            None => true,
        });
        let mut resumed = 0;
        for (kid, f) in kids.iter().zip(&failed) {
            if !*f {
                continue;
            }
            if kid.last_ack > kid.failed_at {
                resumed += 1;
                self.t.kids_resumed += 1;
            } else if !kid.exited {
                self.t.kids_not_resumed += 1;
                self.t.note(format!(
                    "a child did not acknowledge again within 20 s after space was freed (first \
                     failed batch {:?})",
                    kid.failed_at
                ));
            }
        }
        Ok(format!(
            ", disk full ({} MB ballast): {}/{} kids failed a flush, {resumed} resumed",
            filled >> 20,
            failed.iter().filter(|f| **f).count(),
            kids.len()
        ))
    }

    /// Damage files while no writer runs; returns what was done.
    fn damage(&mut self) -> Vec<String> {
        let mut done = Vec::new();
        let parts = partitions(&self.root);
        if parts.is_empty() {
            return done;
        }
        let n = self.rng.below(3);
        for _ in 0..n {
            let part = self.rng.pick(&parts).cloned().unwrap_or_default();
            let Some(kind) = self.draw_kind() else {
                break;
            };
            let r = match kind {
                "manifest-removed" => self.remove_manifest(&part),
                "manifest-stale" => self.stale_manifest(&part),
                "foreign-segment" => self.foreign_segment(&part, &parts),
                "duplicate-segment" => self.duplicate_segment(&part),
                "torn-tail" => self.torn_tail(&part),
                "covered-tail-cut" => self.truncate_covered_tail(&part),
                "junk" => self.junk(&part),
                "selftest-delete" => self.selftest_delete(&part),
                _ => self.flip_bit(&parts),
            };
            match r {
                Ok(Some(s)) => done.push(s),
                // Nothing to damage so yet (no sealed segment elsewhere, no old manifest):
                // the kind goes back for a later draw of this round.
                Ok(None) if self.redraws > 0 => {
                    self.redraws -= 1;
                    let at = self.rng.below(self.deck.len() as u64 + 1) as usize;
                    self.deck.insert(at, kind);
                }
                Ok(None) => {}
                Err(e) => {
                    self.t.check_errors += 1;
                    self.t
                        .note(format!("damaging {} failed: {e}", part.display()));
                }
            }
        }
        done
    }

    /// The next damage kind: from the current round of `kinds`, shuffled, refilled when empty.
    fn draw_kind(&mut self) -> Option<&'static str> {
        if self.deck.is_empty() {
            self.deck = self.kinds.clone();
            self.redraws = self.kinds.len();
            for i in (1..self.deck.len()).rev() {
                let j = self.rng.below(i as u64 + 1) as usize;
                self.deck.swap(i, j);
            }
        }
        self.deck.pop()
    }

    fn remove_manifest(&mut self, part: &Path) -> std::io::Result<Option<String>> {
        let m = part.join("MANIFEST");
        if !m.exists() {
            return Ok(None);
        }
        std::fs::remove_file(&m)?;
        self.t.manifests_removed += 1;
        Ok(Some("manifest removed".into()))
    }

    fn stale_manifest(&mut self, part: &Path) -> std::io::Result<Option<String>> {
        let now = std::fs::read(part.join("MANIFEST")).ok();
        let old: Vec<&Vec<u8>> = self
            .manifests
            .get(part)
            .map(|v| v.iter().filter(|m| Some(*m) != now.as_ref()).collect())
            .unwrap_or_default();
        let Some(pick) = self.rng.pick(&old).map(|m| (*m).clone()) else {
            return Ok(None);
        };
        std::fs::write(part.join("MANIFEST"), pick)?;
        self.t.manifests_staled += 1;
        Ok(Some("manifest staled".into()))
    }

    fn sealed_segments(part: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        files_with(part, "seg-", ".lts")
            .into_iter()
            .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b)))
            .filter(|(_, b)| is_sealed(b))
            .collect()
    }

    fn foreign_segment(
        &mut self,
        part: &Path,
        parts: &[PathBuf],
    ) -> std::io::Result<Option<String>> {
        // From any other partition that has a sealed segment: with many partitions (writers with
        // two lanes) most hold only an active one, and picking blindly rarely planted anything.
        let segs: Vec<(PathBuf, Vec<u8>)> = parts
            .iter()
            .filter(|p| p.as_path() != part)
            .flat_map(|p| Self::sealed_segments(p))
            .collect();
        let Some((_, bytes)) = self.rng.pick(&segs) else {
            return Ok(None);
        };
        let to = unused_segment_name(part, &mut self.rng);
        std::fs::write(&to, bytes)?;
        self.t.foreign_planted += 1;
        Ok(Some("foreign segment planted".into()))
    }

    fn duplicate_segment(&mut self, part: &Path) -> std::io::Result<Option<String>> {
        let segs = Self::sealed_segments(part);
        let Some((_, bytes)) = self.rng.pick(&segs) else {
            return Ok(None);
        };
        let to = unused_segment_name(part, &mut self.rng);
        std::fs::write(&to, bytes)?;
        self.t.duplicates_planted += 1;
        Ok(Some("segment duplicated".into()))
    }

    fn unsealed_segments(part: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        files_with(part, "seg-", ".lts")
            .into_iter()
            .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b)))
            .filter(|(_, b)| !is_sealed(b) && b.len() > 32)
            .collect()
    }

    /// A crash in the middle of appending a page: part of a page after the last whole one.
    fn torn_tail(&mut self, part: &Path) -> std::io::Result<Option<String>> {
        let segs = Self::unsealed_segments(part);
        let Some((path, bytes)) = self.rng.pick(&segs) else {
            return Ok(None);
        };
        let pages = pages_of(bytes);
        let Some(&(at, len, _, _)) = pages.last() else {
            return Ok(None);
        };
        let end = at + len;
        let mut out = bytes[..end].to_vec();
        let cut = 1 + self.rng.below(len as u64 - 1) as usize;
        out.extend_from_slice(&bytes[at..at + cut]);
        std::fs::write(path, out)?;
        self.t.torn_tails_appended += 1;
        Ok(Some("torn tail appended".into()))
    }

    /// The last page of an unsealed segment cut short, where the partition's WAL still holds its
    /// events: nothing may be lost. The WAL's first event is read from its first record (a WAL
    /// file's name can be up to a batch below it, when the file was started in mid-batch).
    fn truncate_covered_tail(&mut self, part: &Path) -> std::io::Result<Option<String>> {
        // Record file header 32 bytes, frame header 8, then the batch payload's first seq (u64 LE).
        let wal_first = files_with(part, "wal-", ".log")
            .iter()
            .filter_map(|p| {
                let b = std::fs::read(p).ok()?;
                Some(u64::from_le_bytes(b.get(40..48)?.try_into().ok()?))
            })
            .min();
        let Some(wal_first) = wal_first else {
            return Ok(None);
        };
        let segs = Self::unsealed_segments(part);
        let Some((path, bytes)) = self.rng.pick(&segs) else {
            return Ok(None);
        };
        if !own_segment(bytes, part) {
            return Ok(None);
        }
        let Some(&(at, len, rows, first_seq)) = pages_of(bytes).last() else {
            return Ok(None);
        };
        if first_seq < wal_first {
            return Ok(None);
        }
        let keep = at + 1 + self.rng.below(len as u64 - 1) as usize;
        std::fs::write(path, &bytes[..keep])?;
        self.t.covered_tails_truncated += 1;
        Ok(Some(format!(
            "covered tail truncated ({}: page seqs {first_seq}+{rows}, WAL from {wal_first})",
            short(path)
        )))
    }

    /// Not a fault recovery can handle: deletes a sealed segment and the manifest without
    /// accounting for the segment's events, so the campaign must fail (lost > 0). Only with `FAULT_DAMAGE=selftest-delete`, to
    /// show the checks can fail.
    fn selftest_delete(&mut self, part: &Path) -> std::io::Result<Option<String>> {
        let segs = Self::sealed_segments(part);
        let Some((path, _)) = self.rng.pick(&segs) else {
            return Ok(None);
        };
        std::fs::remove_file(path)?;
        // Without the manifest nothing names it any more: readers cannot know it existed.
        let _ = std::fs::remove_file(part.join("MANIFEST"));
        Ok(Some(format!(
            "SELF-TEST: {} and MANIFEST deleted",
            short(path)
        )))
    }

    fn junk(&mut self, part: &Path) -> std::io::Result<Option<String>> {
        let len = 1 + self.rng.below(4000) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| self.rng.next() as u8).collect();
        let name = if self.rng.one_in(2) {
            unused_segment_name(part, &mut self.rng)
        } else {
            part.join(format!("junk-{:08x}.tmp", self.rng.next() as u32))
        };
        std::fs::write(name, bytes)?;
        self.t.junk_files += 1;
        Ok(Some("junk file".into()))
    }

    /// Flip a bit in one page (header, meta or columns) of a sealed segment, after reading which
    /// events that page holds: those may be lost, but only with a report. The segment may be of
    /// any partition, not only the one picked for this damage: with two-writer children many
    /// partitions hold no sealed segment yet.
    fn flip_bit(&mut self, parts: &[PathBuf]) -> std::io::Result<Option<String>> {
        let segs: Vec<(PathBuf, PathBuf, Vec<u8>)> = parts
            .iter()
            .flat_map(|part| {
                Self::sealed_segments(part)
                    .into_iter()
                    .filter(|(_, b)| own_segment(b, part))
                    .map(|(path, b)| (part.clone(), path, b))
            })
            .collect();
        let Some((part, path, mut bytes)) = self.rng.pick(&segs).cloned() else {
            return Ok(None);
        };
        let pages = pages_of(&bytes);
        let Some(&(at, len, rows, first_seq)) = self.rng.pick(&pages) else {
            return Ok(None);
        };
        let part_id = part
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // The page's events, read before the damage, by partition and first seq.
        let ids = match self.page_events(&part_id, first_seq, rows) {
            Some(ids) => ids,
            None => return Ok(None),
        };
        // Anywhere in the page: its header and meta are checked whenever the page is read, like
        // its columns (a segment opens from its footer alone).
        if len == 0 || at + len > bytes.len() {
            return Ok(None);
        }
        let off = at + self.rng.below(len as u64) as usize;
        bytes[off] ^= 1 << self.rng.below(8);
        std::fs::write(&path, &bytes)?;
        self.t.bit_flips += 1;
        let n: u64 = ids.values().map(|m| u64::from(m.count_ones())).sum();
        self.t.expected_lost_events += n;
        for (k, m) in &ids {
            *self.ledger.expected_lost.entry(*k).or_default() |= m;
        }
        self.flips.push(Flip {
            file: short(&path),
            ids,
            settled: false,
        });
        Ok(Some(format!("bit flipped ({n} events)")))
    }

    fn page_events(
        &mut self,
        part_id: &str,
        first_seq: u64,
        rows: u64,
    ) -> Option<HashMap<u64, u64>> {
        let snap = Reader::open(&self.root, None).ok()?.view().ok()?;
        let which = ColumnSet {
            starts: true,
            names: false,
            durations: false,
            codes: false,
            messages: false,
            fields: laptime_core::FieldKeys::NONE,
        };
        for p in snap.pages(&ScanFilter::default()) {
            if snap.partition_id(p.partition()) != Some(part_id)
                || p.zone().first_seq != first_seq
                || u64::from(p.zone().rows) != rows
            {
                continue;
            }
            let mut cols = PageColumns::default();
            snap.read(&p, which, &mut ReadScratch::default(), &mut cols)
                .ok()?;
            let mut ids: HashMap<u64, u64> = HashMap::new();
            for s in &cols.starts {
                let off = s.checked_sub(EPOCH)?;
                if off % SLOT >= PER_BATCH {
                    return None;
                }
                *ids.entry(off / SLOT).or_default() |= 1 << (off % SLOT);
            }
            return Some(ids);
        }
        None
    }

    fn verify_damaged(&mut self) -> (u64, HashSet<String>) {
        match verify(&self.root, |_, _| {}) {
            Ok(r) => {
                let files: HashSet<String> = r.damaged().map(|f| short(&f.path)).collect();
                (r.damaged().count() as u64, files)
            }
            Err(e) => {
                self.t.check_errors += 1;
                self.t.note(format!("verify failed: {e}"));
                (0, HashSet::new())
            }
        }
    }

    /// Reader-only, writer and fresh-reader checks, verify before and after, maybe a repair.
    fn check(&mut self, repair: bool) -> String {
        let (damaged_before, verify_files) = self.verify_damaged();
        self.t.verify_damage_before += damaged_before;
        for f in self.flips.iter().filter(|f| !f.settled) {
            if !verify_files.contains(&f.file)
                && self.root.join("partitions").join(&f.file).exists()
            {
                self.t.verify_missed_flip += 1;
                self.t.note(format!(
                    "verify did not report the flipped page in {}",
                    f.file
                ));
            }
        }
        let mut views: Vec<(String, Seen)> = Vec::new();
        // 1. Readers only: no writer has recovered anything.
        match read_reader(&self.root) {
            Ok((events, damaged)) => {
                let mut s = tally(
                    &events,
                    "reader-only",
                    &self.ledger,
                    &self.names,
                    &mut self.t,
                );
                s.reported.extend(damaged);
                views.push(("reader-only".into(), s));
            }
            Err(e) => {
                self.t.check_errors += 1;
                self.t.note(format!("reader-only check failed: {e}"));
            }
        }
        // 2. A writer: recovers the dead partition it adopts, reads all.
        let opts = Options {
            sync: SyncPolicy::Always,
            page_rows: 1000,
            ..Options::default()
        };
        let mut recovery = String::new();
        match Store::open(&self.root, opts.clone()) {
            Ok(store) => {
                let report = store.recovery_report().clone();
                recovery = format!(
                    "q{} s{} r{}",
                    report.quarantined.len(),
                    report.salvaged.len(),
                    report.removed.len()
                );
                match store.view().and_then(|snap| {
                    snap.events(&ScanFilter::default())
                        .map(|e| (e, snap.damaged_pages()))
                }) {
                    Ok((events, damaged)) => {
                        let mut s =
                            tally(&events, "writer", &self.ledger, &self.names, &mut self.t);
                        s.reported.extend(damaged.iter().map(|d| short(&d.file)));
                        s.reported.extend(report_files(&report));
                        views.push(("writer".into(), s));
                    }
                    Err(e) => {
                        self.t.check_errors += 1;
                        self.t.note(format!("writer check failed to read: {e}"));
                    }
                }
                if let Err(e) = store.close() {
                    self.t.check_errors += 1;
                    self.t
                        .note(format!("the checking writer's close failed: {e}"));
                }
            }
            Err(e) => {
                self.t.check_errors += 1;
                self.t
                    .note(format!("the checking writer could not open the store: {e}"));
            }
        }
        // 3. A fresh reader after the writer.
        match read_reader(&self.root) {
            Ok((events, damaged)) => {
                let mut s = tally(
                    &events,
                    "fresh reader",
                    &self.ledger,
                    &self.names,
                    &mut self.t,
                );
                s.reported.extend(damaged);
                views.push(("fresh reader".into(), s));
            }
            Err(e) => {
                self.t.check_errors += 1;
                self.t.note(format!("fresh-reader check failed: {e}"));
            }
        }
        self.account(&views);
        // Flips whose file recovery moved aside are settled (their loss was reported then).
        for f in self.flips.iter_mut() {
            if !self.root.join("partitions").join(&f.file).exists() {
                f.settled = true;
            }
        }
        let mut repaired = String::new();
        if repair {
            repaired = self.repair();
        }
        let (damaged_after, _) = self.verify_damaged();
        self.t.verify_damage_after += damaged_after;
        if repair && damaged_after > 0 {
            self.t.repair_left_damage += 1;
            self.t.note(format!(
                "verify finds {damaged_after} damaged files right after a repair"
            ));
        }
        if let Some((_, s)) = views.last() {
            self.t.last_seen = s.events;
        }
        let seen: Vec<String> = views.iter().map(|(_, s)| s.events.to_string()).collect();
        format!(
            "seen {} | verify damaged {damaged_before}->{damaged_after} | recovery {recovery}{repaired}",
            seen.join("/"),
        )
    }

    /// Compare the views against the ledger: lost, hidden, and silent expected loss.
    fn account(&mut self, views: &[(String, Seen)]) {
        if views.is_empty() {
            return;
        }
        let mut acked: Vec<u64> = self.ledger.acked.iter().copied().collect();
        acked.sort_unstable();
        for k in acked {
            let required = FULL_MASK & !self.ledger.expected_lost.get(&k).copied().unwrap_or(0);
            let masks: Vec<u64> = views
                .iter()
                .map(|(_, s)| s.mask.get(&k).copied().unwrap_or(0) & required)
                .collect();
            let any = masks.iter().fold(0, |a, m| a | m);
            let all = masks.iter().fold(required, |a, m| a & m);
            let lost = required & !any;
            let hidden = any & !all;
            if lost != 0 {
                self.t.lost += u64::from(lost.count_ones());
                self.t.note(format!(
                    "acknowledged batch {k}: rows {:?} seen by no check",
                    rows_of(lost)
                ));
            }
            if hidden != 0 {
                self.t.hidden += u64::from(hidden.count_ones());
                let who: Vec<&str> = views
                    .iter()
                    .zip(&masks)
                    .filter(|(_, m)| hidden & !**m != 0)
                    .map(|((w, _), _)| w.as_str())
                    .collect();
                self.t.note(format!(
                    "acknowledged batch {k}: rows {:?} missed by {who:?} but seen by another check",
                    rows_of(hidden)
                ));
            }
        }
        for f in self.flips.iter().filter(|f| !f.settled) {
            for (who, s) in views {
                let missing: u64 = f
                    .ids
                    .iter()
                    .map(|(k, m)| {
                        u64::from((m & !s.mask.get(k).copied().unwrap_or(0)).count_ones())
                    })
                    .sum();
                if std::env::var_os("FAULT_DEBUG").is_some() {
                    eprintln!(
                        "{who}: flip {} missing {missing} reported {:?}",
                        f.file, s.reported
                    );
                }
                if missing > 0 && !s.reported.contains(&f.file) {
                    self.t.silent_expected_loss += missing;
                    self.t.note(format!(
                        "{who}: {missing} events of the flipped page in {} missing without a report",
                        f.file
                    ));
                }
            }
        }
    }

    fn repair(&mut self) -> String {
        self.t.repairs += 1;
        let opts = Options {
            sync: SyncPolicy::Always,
            ..Options::default()
        };
        match Store::maintain(&self.root, opts, Maintenance::Repair) {
            Ok(done) => {
                let mut reported: HashSet<String> = HashSet::new();
                for (_, m) in &done {
                    if let Maintained::Repaired(r) = m {
                        reported.extend(report_files(r));
                    }
                }
                let mut settled = 0;
                for f in self.flips.iter_mut().filter(|f| !f.settled) {
                    if reported.contains(&f.file) {
                        f.settled = true;
                        settled += 1;
                    } else {
                        self.t.repair_left_damage += 1;
                        self.t.note(format!(
                            "repair did not report the flipped page in {}",
                            f.file
                        ));
                    }
                }
                format!(
                    " | repair: {} partitions, {settled} flips settled",
                    done.len()
                )
            }
            Err(e) => {
                self.t.check_errors += 1;
                self.t.note(format!("repair failed: {e}"));
                " | repair failed".into()
            }
        }
    }

    fn remember_manifests(&mut self) {
        for p in partitions(&self.root) {
            if let Ok(m) = std::fs::read(p.join("MANIFEST")) {
                let v = self.manifests.entry(p).or_default();
                if v.last() != Some(&m) {
                    v.push(m);
                    if v.len() > 8 {
                        v.remove(0);
                    }
                }
            }
        }
    }
}

fn rows_of(mask: u64) -> Vec<u64> {
    (0..PER_BATCH)
        .filter(|i| mask & (1 << i) != 0)
        .take(8)
        .collect()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        return child_main(&args[2..]);
    }
    match campaign() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fault campaign: {e}");
            ExitCode::from(2)
        }
    }
}

fn campaign() -> std::io::Result<ExitCode> {
    let seed = env_u64("FAULT_SEED").unwrap_or(DEFAULT_SEED);
    let cycles = env_u64("FAULT_CYCLES").unwrap_or(DEFAULT_CYCLES);
    let seconds = env_u64("FAULT_SECONDS").unwrap_or(DEFAULT_SECONDS);
    let tmpfs_mb = env_u64("FAULT_TMPFS_MB").unwrap_or(512);
    let only = std::env::var("FAULT_DAMAGE").unwrap_or_default();
    let kinds: Vec<&'static str> = DAMAGE_KINDS
        .iter()
        .chain(&["selftest-delete"])
        .copied()
        .filter(|k| {
            if only.is_empty() {
                !k.starts_with("selftest")
            } else {
                only.split(',').any(|o| o.trim() == *k)
            }
        })
        .collect();
    let t0 = Instant::now();
    println!(
        "fault campaign: seed {seed:#x} (FAULT_SEED), up to {cycles} cycles (FAULT_CYCLES), \
         {seconds} s (FAULT_SECONDS), {KIDS} writers per cycle"
    );
    let mount = mount_tmpfs(tmpfs_mb)?;
    let logs = tempfile::Builder::new()
        .prefix("laptime-faults-")
        .tempdir()?;
    let (root, ballast) = if mount.mounted {
        println!(
            "store on a {tmpfs_mb} MB tmpfs at {}: disk-full faults active",
            mount.dir.path().display()
        );
        (
            mount.dir.path().join("store"),
            Some(mount.dir.path().join("ballast")),
        )
    } else {
        println!(
            "disk-full faults SKIPPED: cannot mount a tmpfs here (needs root; or FAULT_NO_TMPFS \
             is set); the store lives on the ordinary disk"
        );
        (logs.path().join("store"), None)
    };
    std::fs::create_dir_all(&root)?;
    let root = root.canonicalize()?;
    let names: [[String; 3]; 7] =
        std::array::from_fn(|a| std::array::from_fn(|b| name_of(a as u64, b as u64)));
    let mut c = Campaign {
        exe: std::env::current_exe()?,
        root,
        logs: logs.path().to_owned(),
        ballast,
        rng: Rng(seed),
        ledger: Ledger::default(),
        t: Totals::default(),
        flips: Vec::new(),
        manifests: HashMap::new(),
        names,
        kinds,
        deck: Vec::new(),
        redraws: 0,
    };
    let mut cycle = 0;
    while cycle < cycles && t0.elapsed() < Duration::from_secs(seconds) {
        let tc = Instant::now();
        let disk_full = c.ballast.is_some() && cycle > 0 && c.rng.one_in(4);
        let writers = c.run_writers(cycle, disk_full)?;
        let damage = c.damage();
        if std::env::var_os("FAULT_DEBUG").is_some() {
            // The store as the checks find it, for replaying a failure by hand.
            let copy = c.logs.join(format!("store-before-check-{cycle}"));
            let _ = Command::new("cp")
                .arg("-a")
                .arg(&c.root)
                .arg(&copy)
                .status();
        }
        let last = cycle + 1 == cycles;
        let repair = last || (c.flips.iter().any(|f| !f.settled) && c.rng.one_in(2));
        let checked = c.check(repair);
        c.remember_manifests();
        c.t.cycles += 1;
        let bad = c.t.lost + c.t.duplicated + c.t.invented + c.t.hidden;
        println!(
            "cycle {cycle:>3} {:>5.1}s: {writers} | damage {:?} | {checked} | bad {bad}",
            tc.elapsed().as_secs_f64(),
            damage
        );
        cycle += 1;
        if c.t.failed() && std::env::var_os("FAULT_KEEP_GOING").is_none() {
            break;
        }
    }
    let t = &c.t;
    let acked_events = c.ledger.acked.len() as u64 * PER_BATCH;
    let written_events = c.ledger.written.len() as u64 * PER_BATCH;
    let quarantined = quarantined_files(&c.root);
    let store_mb = dir_bytes(&c.root) as f64 / 1e6;
    println!("\n== fault campaign summary (seed {seed:#x}) ==");
    println!("cycles                      {}", t.cycles);
    println!(
        "writer children             {} started, {} SIGKILLed, {} closed cleanly, {} ended on \
         their own, {} open failures",
        t.kids_started, t.kids_killed, t.kids_closed, t.kids_died, t.open_failures
    );
    println!(
        "events                      {written_events} handed over, {acked_events} acknowledged, \
         {} seen at the end ({store_mb:.1} MB on disk)",
        t.last_seen
    );
    println!(
        "disk full                   {} episodes, {} ENOSPC flush failures, {} other flush \
         failures, {} writers resumed, {} did not",
        t.disk_full_cycles,
        t.enospc_failures,
        t.other_flush_failures,
        t.kids_resumed,
        t.kids_not_resumed
    );
    println!(
        "damage                      {} bit flips ({} events expected lost, reported), {} \
         manifests removed, {} staled, {} foreign / {} duplicate segments, {} torn tails, {} \
         covered tails truncated, {} junk files",
        t.bit_flips,
        t.expected_lost_events,
        t.manifests_removed,
        t.manifests_staled,
        t.foreign_planted,
        t.duplicates_planted,
        t.torn_tails_appended,
        t.covered_tails_truncated,
        t.junk_files
    );
    println!(
        "verify                      {} damaged files found before recovery, {} after (summed \
         over cycles); {} repairs",
        t.verify_damage_before, t.verify_damage_after, t.repairs
    );
    println!("quarantined files           {quarantined}");
    println!(
        "lost/duplicated/invented/hidden = {}/{}/{}/{}",
        t.lost, t.duplicated, t.invented, t.hidden
    );
    println!(
        "other failures              {} silent expected loss, {} flips verify missed, {} repairs \
         leaving damage, {} check errors, {} writers not resumed",
        t.silent_expected_loss,
        t.verify_missed_flip,
        t.repair_left_damage,
        t.check_errors,
        t.kids_not_resumed
    );
    println!(
        "wall time                   {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    if t.damage_never_landed() {
        println!(
            "{} bits flipped and {} foreign segments planted in {} cycles: sealed segments were not damaged as meant",
            t.bit_flips, t.foreign_planted, t.cycles
        );
    }
    if t.failed() {
        println!("\nFAILED (replay with FAULT_SEED={seed:#x}); first findings:");
        for e in t.examples.iter().take(12) {
            println!("  {e}");
        }
        let keep = logs.keep();
        let copy = keep.join("store-copy");
        let _ = Command::new("cp")
            .arg("-a")
            .arg(&c.root)
            .arg(&copy)
            .status();
        println!(
            "child logs and a copy of the store kept in {}",
            keep.display()
        );
        drop(mount);
        return Ok(ExitCode::FAILURE);
    }
    println!("OK");
    Ok(ExitCode::SUCCESS)
}
