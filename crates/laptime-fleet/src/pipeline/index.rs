//! Storing what the consumer group gives this member, exactly once across the group. Each message
//! is first written to the indexer's pending log ([`super::pending`]) and the log synced; then the
//! offsets are committed, carrying the partition's ledger ([`super::ledger`]); only then do the
//! messages' pages go into the store as received batches (their origin = source and seqs, so a
//! message Kafka delivers twice is stored once, `Store::append_received`). So the store holds
//! exactly what this member's commits claimed: a member killed between taking messages and
//! committing them holds nothing another member will store again, and one killed between
//! committing and storing stores them when it comes back (its ledger entry says its commit took
//! effect). Commits happen every `commit_every` messages or `commit_interval`, and when partitions
//! are revoked (a clean hand-over commits before another member takes them).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use laptime_storage::ship::decode_message;
use laptime_storage::{Options, Received, Store};

use super::ledger::{member_key, Ledger};
use super::pending::{PendingLog, Record};
use super::{failpoint, failpoint_refuses, Error};
use crate::kafka::{
    Committer, Consumer, ConsumerConfig, Marked, Message, Polled, RebalanceHandler,
};

/// Where and how an indexer works.
#[derive(Debug, Clone)]
pub struct IndexConfig {
    /// Its own store directory.
    pub dir: PathBuf,
    /// Commit after this many messages...
    pub commit_every: usize,
    /// ...or this long after the first uncommitted one.
    pub commit_interval: Duration,
    /// How long one poll waits.
    pub poll: Duration,
    /// How often the lag is measured (a round trip per partition to its leader).
    pub lag_interval: Duration,
}

impl IndexConfig {
    /// Defaults: commit every 64 messages or 200 ms, polls of 100 ms.
    pub fn new(dir: impl Into<PathBuf>) -> IndexConfig {
        IndexConfig {
            dir: dir.into(),
            commit_every: 64,
            commit_interval: Duration::from_millis(200),
            poll: Duration::from_millis(100),
            lag_interval: Duration::from_secs(10),
        }
    }
}

/// File in an indexer's store directory holding its group member name.
pub const MEMBER_FILE: &str = "index-member";

/// The static group member name of the indexer whose store is `dir`: read from `dir/index-member`,
/// or made up (random) and written there on the first start. The name belongs to the store, so an
/// indexer restarted on the same store rejoins as the same member and gets back the partitions
/// whose uncommitted messages its store already holds.
pub fn member_name(dir: &Path) -> Result<String, Error> {
    let path = dir.join(MEMBER_FILE);
    let io = |source| Error::Member {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let name = text.trim();
            if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
                return Err(io(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "not a member name (one line of at most 200 printable characters)",
                )));
            }
            Ok(name.to_owned())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(io)?;
            let name = format!("laptime-index-{:016x}", super::random_id());
            let tmp = dir.join(format!("{MEMBER_FILE}.tmp"));
            {
                let mut f = std::fs::File::create(&tmp).map_err(io)?;
                f.write_all(format!("{name}\n").as_bytes()).map_err(io)?;
                f.sync_all().map_err(io)?;
            }
            std::fs::rename(&tmp, &path).map_err(io)?;
            Ok(name)
        }
        Err(e) => Err(io(e)),
    }
}

/// What an indexer did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexStats {
    /// Messages taken from Kafka.
    pub messages: u64,
    /// Events stored.
    pub events: u64,
    /// Events dropped because the store already held them (a message delivered again).
    pub duplicates: u64,
    /// Events of pages that overlapped what was stored (neither all new nor all stored): not
    /// stored. A shipper that sends whole sealed pages never causes this.
    pub overlaps: u64,
    /// Messages that failed their checks (not stored; their offsets are committed so they do
    /// not block the partition).
    pub bad_messages: u64,
    /// Messages taken and not committed yet (in the pending log).
    pub pending: u64,
    /// Messages this member held uncommitted when it lost their partition (killed, or cut off
    /// from the group): left to the member that reads the partition next, not stored here.
    pub given_up: u64,
    /// Offset commits.
    pub commits: u64,
    /// Commits Kafka refused (retried with the next one).
    pub commit_failures: u64,
    /// Messages of its partitions not read yet, summed, as last measured (every
    /// [`IndexConfig::lag_interval`]); `None` before the first measurement or when the brokers
    /// did not answer it.
    pub lag: Option<u64>,
}

/// Pending messages beyond this many bytes pause fetching until commits catch up (Kafka keeps
/// the messages; memory stays bounded while commits fail).
const MAX_PENDING_BYTES: usize = 256 << 20;
/// How long a failed read of the group's ledgers waits before the next try.
const LEDGER_RETRY: Duration = Duration::from_secs(1);
/// How many ledger reads the `index-ledger-read-refused` fail point refuses (about as many seconds).
const LEDGER_READS_REFUSED: u32 = 3;

/// A message in the pending log, with the assignment of its partition it came in.
struct Pending {
    record: Record,
    /// [`Part::epoch`] when it was taken; 0 for messages read back from the log at start.
    epoch: u64,
}

/// This member's view of one partition.
#[derive(Default)]
struct Part {
    /// Counts the assignments of the partition to this member.
    epoch: u64,
    owned: bool,
    /// The partition's ledger as this member knows it, once read after the assignment; commits
    /// wait for it (they carry it forward).
    ledger: Option<Ledger>,
}

/// What becomes of a pending message.
enum Fate {
    /// Its offset was committed by this member: store it.
    Store,
    /// Its partition went elsewhere without this member's commit of it: the next reader stores it.
    GiveUp,
    Keep,
}

/// State shared with the rebalance handler (which runs inside `poll`).
struct Shared {
    store: Store,
    dir: PathBuf,
    /// This member's ledger key.
    member: u64,
    log: PendingLog,
    pending: Vec<Pending>,
    pending_bytes: usize,
    parts: BTreeMap<i32, Part>,
    stats: IndexStats,
}

impl Shared {
    /// Taken in the current assignment of its partition (not left from an earlier one).
    fn is_current(&self, p: &Pending) -> bool {
        self.parts
            .get(&p.record.partition)
            .is_some_and(|s| s.owned && s.epoch == p.epoch)
    }

    fn take(&mut self, m: Message) -> Result<(), Error> {
        self.stats.messages += 1;
        self.log
            .append(m.partition, m.offset, &m.payload)
            .map_err(Error::store(&self.dir))?;
        let epoch = self.parts.get(&m.partition).map_or(0, |s| s.epoch);
        self.pending_bytes += m.payload.len();
        self.pending.push(Pending {
            record: Record {
                partition: m.partition,
                offset: m.offset,
                payload: m.payload,
            },
            epoch,
        });
        self.stats.pending = self.pending.len() as u64;
        Ok(())
    }

    /// Per partition that can be committed now, the offset to commit: owned, its ledger known,
    /// and no message of an earlier assignment of it left to settle (a commit would move this
    /// member's ledger entry past them and claim them).
    fn committable(&self) -> BTreeMap<i32, i64> {
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for p in self.pending.iter().filter(|p| self.is_current(p)) {
            let n = next.entry(p.record.partition).or_insert(0);
            *n = (*n).max(p.record.offset + 1);
        }
        next.retain(|part, _| {
            self.parts.get(part).is_some_and(|s| s.ledger.is_some())
                && !self
                    .pending
                    .iter()
                    .any(|p| p.record.partition == *part && !self.is_current(p))
        });
        next
    }

    /// Sync the pending log, commit what can be committed, then store it.
    fn commit(
        &mut self,
        commit: impl FnOnce(&[Marked]) -> Result<(), crate::kafka::Error>,
    ) -> Result<(), Error> {
        let next = self.committable();
        if next.is_empty() {
            return Ok(());
        }
        self.log.sync().map_err(Error::store(&self.dir))?;
        failpoint("index-before-commit");
        let marked: Vec<Marked> = next
            .iter()
            .map(|(&partition, &offset)| Marked {
                partition,
                offset,
                metadata: self.parts[&partition]
                    .ledger
                    .as_ref()
                    .map(|l| l.with(self.member, offset).encode())
                    .unwrap_or_default(),
            })
            .collect();
        // Refused: nothing is settled; the messages stay pending for the next commit, or are
        // given up with their partition (the ledger then says the commit did not take effect).
        commit(&marked)?;
        for m in &marked {
            if let Some(s) = self.parts.get_mut(&m.partition) {
                s.ledger = s.ledger.as_ref().map(|l| l.with(self.member, m.offset));
            }
        }
        self.stats.commits += 1;
        failpoint("index-after-commit");
        self.settle(|shared, p| {
            let claimed = next
                .get(&p.record.partition)
                .is_some_and(|n| p.record.offset < *n);
            if claimed && shared.is_current(p) {
                Fate::Store
            } else {
                Fate::Keep
            }
        })
    }

    /// Partitions whose ledger this member needs: just assigned, or holding messages of an
    /// earlier assignment (or of before a restart) to settle.
    fn ledgers_wanted(&self) -> Vec<i32> {
        let mut out: Vec<i32> = self
            .parts
            .iter()
            .filter(|(_, s)| s.owned && s.ledger.is_none())
            .map(|(p, _)| *p)
            .collect();
        out.extend(
            self.pending
                .iter()
                .filter(|p| !self.is_current(p))
                .map(|p| p.record.partition),
        );
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The group's committed offsets and their metadata as just read: ledgers for the partitions
    /// just assigned, and the fate of messages left from earlier assignments: stored when this
    /// member's own commit covered them, given up otherwise.
    fn learn(&mut self, committed: Vec<(i32, Option<i64>, String)>) -> Result<(), Error> {
        let mut ledgers = BTreeMap::new();
        for (partition, _, metadata) in committed {
            let ledger = Ledger::parse(&metadata).unwrap_or_else(|e| {
                eprintln!("laptime index: partition {partition}: {e} (read as an empty ledger)");
                Ledger::default()
            });
            if let Some(s) = self.parts.get_mut(&partition) {
                if s.owned && s.ledger.is_none() {
                    s.ledger = Some(ledger.clone());
                }
            }
            ledgers.insert(partition, ledger);
        }
        let member = self.member;
        self.settle(|shared, p| {
            if shared.is_current(p) {
                return Fate::Keep;
            }
            match ledgers.get(&p.record.partition) {
                None => Fate::Keep,
                Some(l) if l.of(member).is_some_and(|o| p.record.offset < o) => Fate::Store,
                Some(_) => Fate::GiveUp,
            }
        })
    }

    /// Store or give up pending messages as `fate` says; then make the store durable and cut the
    /// pending log down to the messages kept (in that order: a crash in between settles them
    /// again, and the store's origins drop what it holds already).
    fn settle(&mut self, fate: impl Fn(&Shared, &Pending) -> Fate) -> Result<(), Error> {
        let fates: Vec<Fate> = self.pending.iter().map(|p| fate(self, p)).collect();
        if fates.iter().all(|f| matches!(f, Fate::Keep)) {
            return Ok(());
        }
        let mut kept = Vec::new();
        for (p, f) in std::mem::take(&mut self.pending).into_iter().zip(fates) {
            match f {
                Fate::Store => self.store_message(&p.record)?,
                Fate::GiveUp => self.stats.given_up += 1,
                Fate::Keep => kept.push(p),
            }
        }
        self.store.flush().map_err(Error::store(&self.dir))?;
        self.log
            .rewrite(kept.iter().map(|p| &p.record))
            .map_err(Error::store(&self.dir))?;
        self.pending_bytes = kept.iter().map(|p| p.record.payload.len()).sum();
        self.pending = kept;
        self.stats.pending = self.pending.len() as u64;
        Ok(())
    }

    /// Store one message's pages (or count it as bad).
    fn store_message(&mut self, r: &Record) -> Result<(), Error> {
        let msg = match decode_message(&r.payload) {
            Ok(msg) => msg,
            Err(e) => {
                self.stats.bad_messages += 1;
                eprintln!(
                    "laptime index: message at partition {} offset {} refused: {e}",
                    r.partition, r.offset
                );
                return Ok(());
            }
        };
        for page in &msg.pages {
            let rows = page.meta.rows;
            let store = self.store.clone();
            let mut batch = page
                .to_batch(|name| store.intern(name))
                .map_err(Error::store(&self.dir))?;
            batch
                .set_origin(&msg.source, page.meta.first_seq, page.meta.end_seq())
                .map_err(Error::store(&self.dir))?;
            match store
                .append_received(batch)
                .map_err(Error::store(&self.dir))?
            {
                Received::Taken => self.stats.events += rows,
                Received::Duplicate => self.stats.duplicates += rows,
                Received::Overlap { .. } => self.stats.overlaps += rows,
                _ => {
                    return Err(Error::StoreStuck {
                        dir: self.dir.clone(),
                    })
                }
            }
        }
        Ok(())
    }
}

struct Handover(Arc<Mutex<Shared>>);

impl RebalanceHandler for Handover {
    fn revoking(&self, partitions: &[i32], committer: &Committer<'_>) {
        let mut shared = lock(&self.0);
        // Lost: another member owns them already, and what this member holds of them is settled
        // by their ledgers. Else everything taken is committed and stored now: the revoked
        // partitions before they move, the kept ones along with them.
        if !committer.assignment_lost() {
            if let Err(e) = shared.commit(|offsets| committer.commit_marked(offsets)) {
                eprintln!("laptime index: commit before hand-over failed: {e} (those messages will be delivered again)");
            }
        }
        for p in partitions {
            if let Some(s) = shared.parts.get_mut(p) {
                s.owned = false;
                s.ledger = None;
            }
        }
    }

    fn assigned(&self, partitions: &[i32]) {
        // Runs before any message of the new assignment is polled, so each is tagged with it.
        let mut shared = lock(&self.0);
        for p in partitions {
            let s = shared.parts.entry(*p).or_default();
            s.epoch += 1;
            s.owned = true;
            s.ledger = None;
        }
    }
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Reads an indexer's counters from any thread.
#[derive(Clone)]
pub struct StatsHandle(Arc<Mutex<Shared>>);

impl StatsHandle {
    /// The counters now.
    pub fn get(&self) -> IndexStats {
        lock(&self.0).stats
    }
}

/// A consumer-group member storing into its own store.
pub struct Indexer {
    config: IndexConfig,
    consumer: Consumer,
    shared: Arc<Mutex<Shared>>,
}

impl Indexer {
    /// Open (recovering) the store at `config.dir` and its pending log, and join the group of
    /// `consumer` (startup check included: an unreachable Kafka is
    /// an error here). Messages the pending log still holds are settled once the group's
    /// ledgers are read, before this member commits their partitions again.
    pub fn start(
        config: IndexConfig,
        consumer: &ConsumerConfig,
        store: Options,
    ) -> Result<Indexer, Error> {
        let store = Store::open(&config.dir, store).map_err(Error::store(&config.dir))?;
        let (log, loaded) = PendingLog::open(&config.dir).map_err(Error::store(&config.dir))?;
        if let Some((at, bytes, why)) = loaded.ignored {
            eprintln!(
                "laptime index: {}: {why} at byte {at}; {bytes} bytes after it ignored (written after the last sync, so never committed)",
                log.path().display()
            );
        }
        // The ledger names the store (its `index-member` name), whose pending log it settles.
        let member = member_key(&member_name(&config.dir)?);
        let pending: Vec<Pending> = loaded
            .records
            .into_iter()
            .map(|record| Pending { record, epoch: 0 })
            .collect();
        let shared = Arc::new(Mutex::new(Shared {
            store,
            dir: config.dir.clone(),
            member,
            log,
            pending_bytes: pending.iter().map(|p| p.record.payload.len()).sum(),
            stats: IndexStats {
                pending: pending.len() as u64,
                ..IndexStats::default()
            },
            pending,
            parts: BTreeMap::new(),
        }));
        let handler: Arc<dyn RebalanceHandler> = Arc::new(Handover(Arc::clone(&shared)));
        let consumer = Consumer::connect(consumer, Some(handler))?;
        Ok(Indexer {
            config,
            consumer,
            shared,
        })
    }

    /// What it did so far.
    pub fn stats(&self) -> IndexStats {
        lock(&self.shared).stats
    }

    /// A handle that reads [`Indexer::stats`] from another thread while `run` goes on.
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle(Arc::clone(&self.shared))
    }

    /// The store it writes (for reading and counters).
    pub fn store(&self) -> Store {
        lock(&self.shared).store.clone()
    }

    /// The consumer (lag, assignment).
    pub fn consumer(&self) -> &Consumer {
        &self.consumer
    }

    /// Poll, store and commit until `stop` is set; then commit what was taken and return.
    pub fn run(&mut self, stop: &AtomicBool) -> Result<(), Error> {
        let mut first_uncommitted: Option<Instant> = None;
        let mut since_commit = 0usize;
        let mut lag_measured: Option<Instant> = None;
        let mut ledgers_failed: Option<Instant> = None;
        let mut paused = false;
        while !stop.load(Ordering::Relaxed) {
            if lag_measured.is_none_or(|t| t.elapsed() >= self.config.lag_interval) {
                let lag = self.consumer.lag(Duration::from_millis(500)).ok();
                lock(&self.shared).stats.lag =
                    lag.map(|parts| parts.iter().map(|p| p.lag.max(0) as u64).sum());
                lag_measured = Some(Instant::now());
            }
            if ledgers_failed.is_none_or(|t| t.elapsed() >= LEDGER_RETRY) {
                ledgers_failed = self.learn_ledgers()?;
            }
            let over = lock(&self.shared).pending_bytes > MAX_PENDING_BYTES;
            if over != paused {
                let parts = self.consumer.assignment()?;
                if over {
                    self.consumer.pause(&parts)?;
                } else {
                    self.consumer.resume(&parts)?;
                }
                paused = over;
            }
            match self.consumer.poll(self.config.poll)? {
                Some(Polled::Message(m)) => {
                    lock(&self.shared).take(m)?;
                    since_commit += 1;
                    first_uncommitted.get_or_insert_with(Instant::now);
                }
                Some(Polled::Revoked(parts)) => {
                    eprintln!("laptime index: partitions {parts:?} revoked");
                }
                Some(Polled::Transient(why)) => eprintln!("laptime index: kafka: {why} (retrying)"),
                Some(Polled::Assigned(parts)) => {
                    paused = false; // a new assignment is fetched whatever the old one was
                    if !parts.is_empty() {
                        eprintln!("laptime index: partitions {parts:?} assigned");
                    }
                }
                None => {}
            }
            let due = first_uncommitted.is_some_and(|t| t.elapsed() >= self.config.commit_interval);
            if since_commit >= self.config.commit_every || due {
                // A refused commit (a rebalance under way, a broker away) loses nothing: the
                // messages are in the pending log and stay pending for the next commit (or, if
                // their partitions move, are left to the new owner, which reads them again).
                if let Err(e) = self.commit() {
                    if !matches!(e, Error::Kafka(_)) {
                        return Err(e);
                    }
                    lock(&self.shared).stats.commit_failures += 1;
                    eprintln!("laptime index: {e} (kept; retried with the next commit)");
                }
                since_commit = 0;
                // Messages a commit could not cover (their partition's ledger not read yet, or the
                // commit refused) are tried again an interval later, new messages or not: with
                // none arriving they used to wait for the member to stop.
                let waiting = !lock(&self.shared).pending.is_empty();
                first_uncommitted = waiting.then(Instant::now);
            }
        }
        self.commit()
    }

    /// Read the ledgers this member needs (see `Shared::ledgers_wanted`) and settle what they
    /// decide. `Ok(Some(when))` if the group did not answer (tried again a second later).
    fn learn_ledgers(&mut self) -> Result<Option<Instant>, Error> {
        let wanted = lock(&self.shared).ledgers_wanted();
        if wanted.is_empty() {
            return Ok(None);
        }
        // The tests' stand-in for a group that does not answer (a read timed out in a rebalance).
        if failpoint_refuses("index-ledger-read-refused", LEDGER_READS_REFUSED) {
            eprintln!("laptime index: reading the group's committed offsets: refused by a fail point (retrying)");
            return Ok(Some(Instant::now()));
        }
        match self
            .consumer
            .committed_marked(&wanted, Duration::from_secs(5))
        {
            Ok(committed) => {
                lock(&self.shared).learn(committed)?;
                Ok(None)
            }
            Err(e) => {
                eprintln!("laptime index: reading the group's committed offsets: {e} (retrying)");
                Ok(Some(Instant::now()))
            }
        }
    }

    /// Commit every message taken so far (its partition's ledger known), then store them.
    pub fn commit(&mut self) -> Result<(), Error> {
        let consumer = &self.consumer;
        lock(&self.shared).commit(|offsets| consumer.commit_marked(offsets))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_keeps_its_member_name_and_a_damaged_name_file_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        let name = member_name(&a).unwrap();
        assert!(name.starts_with("laptime-index-"), "{name}");
        assert_eq!(member_name(&a).unwrap(), name, "read back, not made anew");
        assert_ne!(
            member_name(&b).unwrap(),
            name,
            "another store, another member"
        );
        // A name written by hand is taken as it is (trimmed).
        std::fs::write(b.join(MEMBER_FILE), "  indexer-7\n").unwrap();
        assert_eq!(member_name(&b).unwrap(), "indexer-7");
        for bad in ["", "\n", "two\nlines", "tab\there", &"x".repeat(201)] {
            std::fs::write(b.join(MEMBER_FILE), bad).unwrap();
            let e = member_name(&b).unwrap_err().to_string();
            assert!(
                e.contains(MEMBER_FILE) && e.contains("not a member name"),
                "{bad:?}: {e}"
            );
        }
    }
}
