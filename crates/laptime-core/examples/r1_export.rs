//! Write N events of R1-full into a laptime store and the same events as CSV, for benchmarks that
//! compare laptime with another engine on identical data (bench/query-vs-duckdb.mts).
//!
//! `cargo run --release -p laptime-core --example r1_export -- [--extra] <events> <store-dir> <csv-file> [epoch-ms]`
//!
//! `epoch-ms` moves R1's start of time (default 2023-11-14) so the events are recent; `-` as the
//! CSV file skips the CSV. `--extra` adds two attributes (below): R1-full plus them, not R1-full
//! itself, so size figures of R1-full are taken without it.
//!
//! CSV columns: `name,start,dur,is_call,err,route,tier,user,release,msg` (`route`/`tier`/`user`/
//! `release` empty when absent, `msg` a log's message, quoted, empty for a call). Prints one JSON
//! line: events, start range, bytes of the store's files, seconds spent writing the store.
//!
//! With `--extra`, every event that carries R1-full's fields also carries:
//! - `user` (many values): the user of one of [`SESSIONS`] sessions open at a time (picked
//!   uniformly per event). After each of its events a session ends with probability
//!   1/[`SESSION_EVENTS`] and a new user's session takes its place, so a user has about that many
//!   events, clustered in time as a real user's are, and a run of N events has about
//!   0.3 N / 2,000 distinct users. Deterministic (its own splitmix64 stream).
//! - `release` (few values at a time): `r<k>` for the k-th run of [`RELEASE_EVENTS`] events, as a
//!   service's version changes with each deploy.

use std::error::Error;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use laptime_core::{Batch, Value};
use laptime_core::{Options, Overflow, Store, SyncPolicy};
use laptime_workload::{bytes_under, R1Config, R1Interned, R1};

/// Sessions open at a time (see the module doc).
const SESSIONS: usize = 64;
/// Mean events of a session.
const SESSION_EVENTS: u64 = 2_000;
/// Events between two releases.
const RELEASE_EVENTS: u64 = 200_000;

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The open sessions' users (see the module doc).
struct Sessions {
    users: [u64; SESSIONS],
    rng: u64,
}

impl Sessions {
    fn new() -> Sessions {
        let mut rng = 0x7573_6572_735f_7231; // "users_r1"
        let users = std::array::from_fn(|_| splitmix64(&mut rng) % 1_000_000_000);
        Sessions { users, rng }
    }

    /// The user of the next event that carries fields.
    fn next(&mut self) -> u64 {
        let r = splitmix64(&mut self.rng);
        let s = (r % SESSIONS as u64) as usize;
        let user = self.users[s];
        if (r >> 32).is_multiple_of(SESSION_EVENTS) {
            self.users[s] = splitmix64(&mut self.rng) % 1_000_000_000;
        }
        user
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let with_extra = args.first().is_some_and(|a| a == "--extra");
    if with_extra {
        args.remove(0);
    }
    let (n, store_dir, csv_path, epoch) = match args.as_slice() {
        [n, dir, csv] => (n, dir, csv, None),
        [n, dir, csv, epoch_ms] => (n, dir, csv, Some(epoch_ms.parse::<u64>()? * 1_000_000)),
        _ => {
            return Err(
                "usage: r1_export [--extra] <events> <store-dir> <csv-file|-> [epoch-ms]".into(),
            )
        }
    };
    let n: usize = n.parse()?;
    let store = Store::open(
        store_dir,
        Options {
            sync: SyncPolicy::None,
            overflow: Overflow::Block {
                timeout: Duration::from_secs(60),
            },
            ..Options::default()
        },
    )?;
    let defaults = R1Config::default();
    let mut r1 = R1::new(R1Config {
        full: true,
        epoch_ns: epoch.unwrap_or(defaults.epoch_ns),
        ..defaults
    });
    let interned = R1Interned::new(&r1, |s| store.intern(s))?;
    let names = r1.names().to_vec();
    let (routes, tiers) = r1.field_values();
    let (routes, tiers) = (routes.to_vec(), tiers.to_vec());
    let mut csv = if csv_path == "-" {
        None
    } else {
        let mut w = BufWriter::with_capacity(1 << 20, File::create(csv_path)?);
        writeln!(w, "name,start,dur,is_call,err,route,tier,user,release,msg")?;
        Some(w)
    };

    // Interned only when used: without them the store's bytes are R1-full's.
    let (user_key, release_key) = if with_extra {
        (store.intern("user")?, store.intern("release")?)
    } else {
        (0, 0)
    };
    let mut sessions = Sessions::new();
    let mut extra: Vec<Option<(String, String)>> = Vec::with_capacity(1 << 20);
    let mut index = 0u64;
    let mut store_time = Duration::ZERO;
    let (mut first, mut last) = (u64::MAX, 0u64);
    let mut chunk = Vec::with_capacity(1 << 20);
    let mut left = n;
    while left > 0 {
        let take = left.min(1 << 20);
        chunk.clear();
        r1.fill(take, &mut chunk);
        // Drawn here, outside the timed part, as the CSV's are below.
        extra.clear();
        extra.extend(chunk.iter().map(|e| {
            index += 1;
            (with_extra && e.route.is_some()).then(|| {
                let release = format!("r{}", (index - 1) / RELEASE_EVENTS);
                (format!("u{}", sessions.next()), release)
            })
        }));
        let t = Instant::now();
        for (events, extra) in chunk.chunks(4096).zip(extra.chunks(4096)) {
            let mut b = Batch::with_capacity(events.len());
            for (e, extra) in events.iter().zip(extra) {
                interned.push(e, &mut b);
                if let Some((user, release)) = extra {
                    b.add_field(user_key, Value::Str(user.clone()));
                    b.add_field(release_key, Value::Str(release.clone()));
                }
            }
            store.append(b);
        }
        store_time += t.elapsed();
        for (e, extra) in chunk.iter().zip(&extra) {
            first = first.min(e.start_ns);
            last = last.max(e.start_ns);
            let Some(csv) = csv.as_mut() else { continue };
            let name = &names[e.name as usize];
            let route = e.route.map_or("", |r| routes[usize::from(r)].as_str());
            let tier = e.tier.map_or("", |t| tiers[usize::from(t)].as_str());
            let (user, release) = extra
                .as_ref()
                .map_or(("", ""), |(u, r)| (u.as_str(), r.as_str()));
            // A log's message quoted (quotes doubled); a call has none (an empty field: NULL).
            let msg = e.log.as_ref().map_or(String::new(), |l| {
                format!("\"{}\"", l.message().replace('"', "\"\""))
            });
            writeln!(
                csv,
                "{name},{},{},{},{},{route},{tier},{user},{release},{msg}",
                e.start_ns,
                e.duration_ns,
                u8::from(e.log.is_none()),
                u8::from(!e.ok),
            )?;
        }
        left -= take;
    }
    if let Some(csv) = csv.as_mut() {
        csv.flush()?;
    }
    let t = Instant::now();
    let dropped = store.counters().dropped;
    store.close()?;
    store_time += t.elapsed();
    println!(
        "{{\"events\":{n},\"dropped\":{dropped},\"firstStartNs\":\"{first}\",\"lastStartNs\":\"{last}\",\"storeBytes\":{},\"storeSeconds\":{:.3}}}",
        bytes_under(Path::new(store_dir))?,
        store_time.as_secs_f64()
    );
    Ok(())
}
