//! Building a segment's value rollup (layout in `rollup`) while its pages seal.
//!
//! Per key, value and name a `Tally` counts events and the calls' durations. A segment holds
//! thousands of tallies (R1-full: 50 routes by 200 functions), and a page touches most of them a
//! few times each, so counting each row where it lies would miss the cache at nearly every row
//! (measured: that was most of the rollup's cost, a fifth of the writer's throughput). Rows are
//! therefore queued as (tally, name, code, duration) by the sealing helper and counted in
//! batches of [`PENDING_ROWS`], sorted by tally first, so each tally and its cells are read once
//! per batch; and the counting runs on a thread of its own (`Counting`), in the part of a core
//! the writer and its helper leave idle. What is left on the sealing path costs the writer about
//! 6 % of R1-full's ingest rate (BENCHMARKS.md).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::encoding::varint::write_varint;
use crate::encoding::StringDictionary;
use crate::event::NameId;
use crate::page::{
    FieldValues, KeyValues, NameStats, PageColumns, PageIndex, PageMeta, PageZone, SealWatcher,
    MAX_LISTED_VALUES,
};
use crate::sketch::{self, LatencySketch};

use super::rollup::{ROLLUP_MAGIC, ROLLUP_VERSION};

/// Most heap a builder may hold. R1-full's 50 routes by 200 functions (and 3 tiers) take a few
/// MiB; a key whose values and names multiply beyond this is dropped from the segment's rollup
/// (its filters decode pages, as without a rollup), largest first.
pub(crate) const MAX_BUILDER_BYTES: usize = 48 << 20;

/// Rows queued before they are counted (24 bytes each).
const PENDING_ROWS: usize = 1 << 17;
/// Room for the rows of the page that fills a batch past [`PENDING_ROWS`].
const PENDING_SLACK: usize = 1 << 16;

/// Buckets a tally's cells grow by at either end.
const CELL_CHUNK: usize = 16;

/// One name's events with one value. Durations are counted in 16-bit cells over the buckets
/// touched (a cell that fills up spills into `spill`), a quarter of a sketch's memory, and made
/// into a sketch when the segment seals.
#[derive(Debug, Default)]
struct Tally {
    name: NameId,
    calls: u64,
    errors: u64,
    logs: u64,
    zero: u64,
    min: u64,
    max: u64,
    sum: u128,
    /// `cells[i]` counts bucket `base + i` (see `sketch::bucket_of`).
    base: usize,
    cells: Vec<u16>,
    /// Counts beyond `u16::MAX` of full cells, by bucket.
    spill: Option<HashMap<usize, u64>>,
}

impl Tally {
    fn new(name: NameId) -> Tally {
        Tally {
            name,
            min: u64::MAX,
            ..Tally::default()
        }
    }

    /// Count one event with code byte `code`: 0 an ok call, 1 a failed call, else a log.
    fn count(&mut self, code: u8, duration: u64) {
        match code {
            0 | 1 => {
                self.calls += 1;
                self.errors += u64::from(code);
                self.insert(duration);
            }
            _ => self.logs += 1,
        }
    }

    fn insert(&mut self, v: u64) {
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += u128::from(v);
        if v == 0 {
            self.zero += 1;
            return;
        }
        let bucket = sketch::bucket_of(v);
        if self.cells.is_empty() {
            self.base = bucket.saturating_sub(CELL_CHUNK / 2);
            self.cells = vec![0; CELL_CHUNK];
        } else if bucket < self.base {
            let grow = (self.base - bucket)
                .next_multiple_of(CELL_CHUNK)
                .min(self.base);
            let mut cells = Vec::with_capacity(self.cells.len() + grow);
            cells.resize(grow, 0);
            cells.extend_from_slice(&self.cells);
            self.cells = cells;
            self.base -= grow;
        } else if bucket >= self.base + self.cells.len() {
            let grow = (bucket + 1 - self.base - self.cells.len()).next_multiple_of(CELL_CHUNK);
            self.cells.reserve_exact(grow);
            self.cells.resize(self.cells.len() + grow, 0);
        }
        let Some(cell) = self.cells.get_mut(bucket - self.base) else {
            return;
        };
        match cell.checked_add(1) {
            Some(c) => *cell = c,
            None => {
                *self
                    .spill
                    .get_or_insert_default()
                    .entry(bucket)
                    .or_default() += 1
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        self.cells.capacity() * 2 + self.spill.as_ref().map_or(0, |s| s.capacity() * 24)
    }

    /// The stats of this name's events, its calls' durations as a sketch.
    fn into_stats(self) -> Option<NameStats> {
        let spill = self.spill.unwrap_or_default();
        let counts: Vec<u64> = self
            .cells
            .iter()
            .enumerate()
            .map(|(i, &c)| u64::from(c) + spill.get(&(self.base + i)).copied().unwrap_or(0))
            .collect();
        // Only the buckets between the first and last counted (the cells grow in chunks).
        let first = counts.iter().position(|&c| c > 0).unwrap_or(0);
        let last = counts.iter().rposition(|&c| c > 0).map_or(0, |l| l + 1);
        let counts = counts
            .get(first..last.max(first))
            .unwrap_or_default()
            .to_vec();
        let sketch = if self.calls == 0 {
            LatencySketch::new()
        } else {
            LatencySketch::from_buckets(
                self.base + first,
                counts,
                self.zero,
                self.min,
                self.max,
                self.sum,
            )?
        };
        (sketch.count() == self.calls)
            .then(|| NameStats::new(self.name, self.calls, self.errors, self.logs, sketch))
    }
}

/// One value of a key: the time range of its events and its tallies by name.
#[derive(Debug)]
struct ValueTally {
    value: String,
    min_start: u64,
    max_start: u64,
    /// The builder's tally of each name id (`u32::MAX`: none yet): ids are dense.
    tally_of: Vec<u32>,
}

impl ValueTally {
    fn new(value: &str) -> ValueTally {
        ValueTally {
            value: value.to_owned(),
            min_start: u64::MAX,
            max_start: 0,
            tally_of: Vec::new(),
        }
    }

    /// The meta of this value's events (names ascending, no index), its tallies taken out of
    /// `tallies`; `None` if a tally does not make a sketch (never expected: the builder's
    /// consistency is checked, not assumed).
    fn take_meta(&self, tallies: &mut Tallies, first_seq: u64) -> Option<PageMeta> {
        let mut names = self
            .tally_of
            .iter()
            .filter(|&&t| t != u32::MAX)
            .map(|&t| {
                tallies
                    .tallies
                    .get_mut(t as usize)
                    .map(std::mem::take)
                    .and_then(Tally::into_stats)
            })
            .collect::<Option<Vec<NameStats>>>()?;
        names.sort_by_key(|s| s.name);
        let rows = names.iter().map(|s| s.calls + s.logs).sum();
        Some(PageMeta {
            rows,
            first_seq,
            min_start: if rows == 0 { 0 } else { self.min_start },
            max_start: self.max_start,
            names,
            index: PageIndex::default(),
        })
    }
}

#[derive(Debug)]
struct KeyTally {
    key: NameId,
    slot_of: HashMap<String, u32>,
    values: Vec<ValueTally>,
    /// Tallies given out for this key.
    tallies: usize,
}

/// A row waiting to be counted.
#[derive(Debug, Clone, Copy, Default)]
struct Pending {
    tally: u32,
    name: NameId,
    code: u8,
    duration: u64,
}

/// What the builder sends the thread that counts.
enum Message {
    Rows(Vec<Pending>),
    /// Empty these tallies: their key left the rollup.
    Drop(Vec<u32>),
}

/// The tallies, indexed by the ids the builder gives out, and the scratch of counting a batch.
#[derive(Debug, Default)]
struct Tallies {
    tallies: Vec<Tally>,
    /// Tallies of dropped keys: their rows are not counted.
    dead: Vec<bool>,
    /// `rows` ordered by tally, and where each tally's rows start.
    sorted: Vec<Pending>,
    starts_at: Vec<u32>,
}

impl Tallies {
    /// Count `rows`, tally by tally (a counting sort by tally id first); `rows` is left empty.
    fn count(&mut self, rows: &mut Vec<Pending>) {
        let n = rows.iter().map(|p| p.tally as usize + 1).max().unwrap_or(0);
        if self.tallies.len() < n {
            self.tallies.resize_with(n, || Tally::new(0));
            self.dead.resize(n, false);
        }
        self.starts_at.clear();
        self.starts_at.resize(n + 1, 0);
        for p in rows.iter() {
            if let Some(c) = self.starts_at.get_mut(p.tally as usize + 1) {
                *c += 1;
            }
        }
        for i in 1..self.starts_at.len() {
            self.starts_at[i] += self.starts_at[i - 1];
        }
        self.sorted.clear();
        self.sorted.resize(rows.len(), Pending::default());
        for &p in rows.iter() {
            if let Some(at) = self.starts_at.get_mut(p.tally as usize) {
                if let Some(slot) = self.sorted.get_mut(*at as usize) {
                    *slot = p;
                }
                *at += 1;
            }
        }
        rows.clear();
        for p in &self.sorted {
            let i = p.tally as usize;
            if let (Some(t), Some(false)) = (self.tallies.get_mut(i), self.dead.get(i)) {
                // A tally's first row names it.
                if t.calls == 0 && t.logs == 0 {
                    t.name = p.name;
                }
                t.count(p.code, p.duration);
            }
        }
    }

    fn drop_tallies(&mut self, ids: &[u32]) {
        for &i in ids {
            let i = i as usize;
            if self.tallies.len() <= i {
                self.tallies.resize_with(i + 1, || Tally::new(0));
                self.dead.resize(i + 1, false);
            }
            self.tallies[i] = Tally::default();
            self.dead[i] = true;
        }
    }

    /// Heap bytes held by the tallies.
    fn bytes(&self) -> usize {
        self.tallies.capacity() * std::mem::size_of::<Tally>()
            + self.tallies.iter().map(Tally::heap_bytes).sum::<usize>()
            + self.dead.capacity()
    }
}

/// Where the tallies are counted: on a thread of their own while the segment is written (the
/// writer and its sealing helper leave part of a core idle, and counting on the helper slowed
/// sealing by a sixth), or on the helper where no thread can be had.
enum Counting {
    Inline(Tallies),
    Thread {
        to: SyncSender<Message>,
        /// Emptied row buffers coming back for reuse.
        spare: Receiver<Vec<Pending>>,
        handle: JoinHandle<Tallies>,
        /// The tallies' heap bytes as of the last batch counted.
        bytes: Arc<AtomicUsize>,
    },
}

impl std::fmt::Debug for Counting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Counting::Inline(t) => write!(f, "Inline({} tallies)", t.tallies.len()),
            Counting::Thread { .. } => write!(f, "Thread"),
        }
    }
}

impl Counting {
    fn start() -> Counting {
        let (to, from) = sync_channel::<Message>(2);
        let (give_back, spare) = channel::<Vec<Pending>>();
        let bytes = Arc::new(AtomicUsize::new(0));
        let published = Arc::clone(&bytes);
        let spawned = std::thread::Builder::new()
            .name("laptime-rollup".into())
            .spawn(move || {
                let mut tallies = Tallies::default();
                for message in from {
                    match message {
                        Message::Rows(mut rows) => {
                            tallies.count(&mut rows);
                            // The builder may be gone (the segment abandoned): nothing to reuse.
                            let _ = give_back.send(rows);
                        }
                        Message::Drop(ids) => tallies.drop_tallies(&ids),
                    }
                    published.store(tallies.bytes(), Ordering::Relaxed);
                }
                tallies
            });
        match spawned {
            Ok(handle) => Counting::Thread {
                to,
                spare,
                handle,
                bytes,
            },
            Err(_) => Counting::Inline(Tallies::default()),
        }
    }

    /// Hand `rows` over to be counted (`rows` is given an empty buffer back).
    fn count(&mut self, rows: &mut Vec<Pending>) {
        match self {
            Counting::Inline(t) => t.count(rows),
            Counting::Thread { to, spare, .. } => {
                // A buffer the thread gave back, else one sized for a whole batch (growing one
                // row by row would copy it over and over).
                let next = spare
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(PENDING_ROWS + PENDING_SLACK));
                let full = std::mem::replace(rows, next);
                if let Err(std::sync::mpsc::SendError(Message::Rows(mut back))) =
                    to.send(Message::Rows(full))
                {
                    // The thread is gone (it panicked): count here from now on.
                    let mut inline = Tallies::default();
                    inline.count(&mut back);
                    *self = Counting::Inline(inline);
                }
            }
        }
    }

    fn drop_tallies(&mut self, ids: Vec<u32>) {
        match self {
            Counting::Inline(t) => t.drop_tallies(&ids),
            Counting::Thread { to, .. } => {
                let _ = to.send(Message::Drop(ids));
            }
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Counting::Inline(t) => t.bytes(),
            Counting::Thread { bytes, .. } => bytes.load(Ordering::Relaxed),
        }
    }

    /// Every row handed over counted: the tallies. `None` if the counting thread panicked.
    fn finish(self) -> Option<Tallies> {
        match self {
            Counting::Inline(t) => Some(t),
            Counting::Thread { to, handle, .. } => {
                drop(to);
                handle.join().ok()
            }
        }
    }
}

/// A rollup region ready to be written.
pub(crate) struct EncodedRollup {
    pub bytes: Vec<u8>,
    /// Bytes of its directory (the start of `bytes`).
    pub directory_len: usize,
}

/// Tallies per key, value and name of the pages sealed into a segment so far.
#[derive(Debug)]
pub(crate) struct RollupBuilder {
    /// Most heap the tallies may hold ([`MAX_BUILDER_BYTES`]).
    max_bytes: usize,
    keys: Vec<KeyTally>,
    /// Tally ids given out so far.
    next_tally: u32,
    /// Keys left out of this segment's rollup for good: some page did not list them, or they
    /// outgrew [`MAX_LISTED_VALUES`] or the memory bound.
    dropped: Vec<NameId>,
    /// The pages added, in order: the rollup is only written for exactly the segment's pages.
    pages: Vec<PageZone>,
    pending: Vec<Pending>,
    counting: Counting,
}

impl Default for RollupBuilder {
    /// A builder that counts on a thread of its own.
    fn default() -> Self {
        RollupBuilder {
            counting: Counting::start(),
            ..RollupBuilder::with_max_bytes(MAX_BUILDER_BYTES)
        }
    }
}

impl SealWatcher for RollupBuilder {
    fn sealed(
        &mut self,
        cols: &PageColumns,
        dicts: &[Option<StringDictionary<'_>>],
        meta: &PageMeta,
    ) {
        self.add_page(cols, dicts, meta);
    }
}

impl RollupBuilder {
    /// A builder whose tallies hold at most `max_bytes`, counted on the caller's thread.
    pub(crate) fn with_max_bytes(max_bytes: usize) -> Self {
        RollupBuilder {
            max_bytes,
            keys: Vec::new(),
            next_tally: 0,
            dropped: Vec::new(),
            pages: Vec::new(),
            pending: Vec::new(),
            counting: Counting::Inline(Tallies::default()),
        }
    }

    /// Add a sealed page: `cols` its rows (sorted as stored), `dicts` the dictionary of each string
    /// field column where one was built (see `StringFields`), `meta` its meta.
    pub(crate) fn add_page(
        &mut self,
        cols: &PageColumns,
        dicts: &[Option<StringDictionary<'_>>],
        meta: &PageMeta,
    ) {
        self.pages.push(meta.zone());
        for (i, col) in cols.fields.iter().enumerate() {
            let key = col.key;
            if self.dropped.contains(&key) {
                continue;
            }
            let (FieldValues::Str(strings), Some(KeyValues::Listed { .. })) =
                (&col.values, meta.values_of(key))
            else {
                // Not listed in this page, so not in the segment's summary either.
                self.drop_key(key);
                continue;
            };
            let k = match self.keys.iter().position(|t| t.key == key) {
                Some(k) => k,
                None => {
                    self.keys.push(KeyTally {
                        key,
                        slot_of: HashMap::new(),
                        values: Vec::new(),
                        tallies: 0,
                    });
                    self.keys.len() - 1
                }
            };
            let tally = &mut self.keys[k];
            // The builder's slot of each distinct value of the page (by the page's dictionary
            // when there is one, so each row costs no hashing).
            let slot_for = |value: &str, tally: &mut KeyTally| -> Option<u32> {
                if let Some(&s) = tally.slot_of.get(value) {
                    return Some(s);
                }
                if tally.values.len() >= MAX_LISTED_VALUES {
                    return None;
                }
                let s = tally.values.len() as u32;
                tally.slot_of.insert(value.to_owned(), s);
                tally.values.push(ValueTally::new(value));
                Some(s)
            };
            let dict = dicts.get(i).and_then(Option::as_ref);
            let local: Option<Vec<u32>> = match dict {
                Some(d) => d.order.iter().map(|v| slot_for(v, tally)).collect(),
                None => Some(Vec::new()),
            };
            let Some(local) = local else {
                self.drop_key(key);
                continue;
            };
            let mut too_many = false;
            for (j, &row) in col.rows.iter().enumerate() {
                let slot = match dict {
                    Some(d) => d.ids.get(j).and_then(|&id| local.get(id as usize)).copied(),
                    None => slot_for(strings.get(j), tally),
                };
                let r = row as usize;
                let (Some(value), Some(&name), Some(&code), Some(&duration), Some(&start)) = (
                    slot.and_then(|s| tally.values.get_mut(s as usize)),
                    cols.names.get(r),
                    cols.codes.get(r),
                    cols.durations.get(r),
                    cols.starts.get(r),
                ) else {
                    too_many = true;
                    break;
                };
                value.min_start = value.min_start.min(start);
                value.max_start = value.max_start.max(start);
                let n = name as usize;
                if value.tally_of.len() <= n {
                    value.tally_of.resize(n + 1, u32::MAX);
                }
                let t = &mut value.tally_of[n];
                if *t == u32::MAX {
                    *t = self.next_tally;
                    self.next_tally += 1;
                    tally.tallies += 1;
                }
                self.pending.push(Pending {
                    tally: *t,
                    name,
                    code,
                    duration,
                });
            }
            if too_many {
                self.drop_key(key);
            }
        }
        if self.pending.len() >= PENDING_ROWS {
            self.count_pending();
        }
    }

    /// Hand every row queued so far over to be counted (counted here, or by the counting thread
    /// in its own time), then keep the memory bound: the key with the most tallies goes first.
    pub(crate) fn count_pending(&mut self) {
        self.counting.count(&mut self.pending);
        while self.counting.bytes() > self.max_bytes {
            let Some(largest) = self.keys.iter().max_by_key(|k| k.tallies).map(|k| k.key) else {
                break;
            };
            self.drop_key(largest);
            if let Counting::Thread { .. } = self.counting {
                // The thread's figure catches up with its next batch.
                break;
            }
        }
    }

    /// Leave `key` out of this segment's rollup: its tallies are emptied, after its queued rows.
    fn drop_key(&mut self, key: NameId) {
        if let Some(k) = self.keys.iter().position(|k| k.key == key) {
            self.counting.count(&mut self.pending);
            let gone = self.keys.remove(k);
            let ids: Vec<u32> = gone
                .values
                .iter()
                .flat_map(|v| v.tally_of.iter().copied())
                .filter(|&t| t != u32::MAX)
                .collect();
            self.counting.drop_tallies(ids);
        }
        if !self.dropped.contains(&key) {
            self.dropped.push(key);
        }
    }

    /// Heap bytes of the tallies (what [`MAX_BUILDER_BYTES`] bounds; the queue of rows not yet
    /// counted takes at most [`PENDING_ROWS`] entries a few times besides). With a counting
    /// thread, as of its last batch.
    #[cfg(test)]
    pub(crate) fn tally_bytes(&self) -> usize {
        self.counting.bytes()
    }

    /// Whether the builder saw exactly the pages `zones` (in order).
    pub(crate) fn covers(&self, zones: impl ExactSizeIterator<Item = PageZone>) -> bool {
        zones.len() == self.pages.len() && zones.zip(&self.pages).all(|(a, b)| a == *b)
    }

    /// The region's bytes for a segment of summary `summary`, or `None` when no key is left to
    /// roll up. A key is kept only when the summary lists it with exactly the values tallied,
    /// counted alike.
    pub(crate) fn encode(mut self, summary: &PageMeta) -> Option<EncodedRollup> {
        self.count_pending();
        let mut tallies = self.counting.finish()?;
        // Per key kept, its values with their encoded metas.
        type Encoded = Vec<(String, Vec<u8>)>;
        let mut kept: Vec<(NameId, Encoded)> = Vec::new();
        let mut keys = std::mem::take(&mut self.keys);
        keys.sort_by_key(|k| k.key);
        for k in keys {
            let Some(KeyValues::Listed { values: listed, .. }) = summary.values_of(k.key) else {
                continue;
            };
            let mut values = k.values;
            values.sort_by(|a, b| a.value.cmp(&b.value));
            if values.len() != listed.len() {
                continue;
            }
            let mut encoded = Vec::with_capacity(values.len());
            let mut agrees = true;
            for (v, l) in values.iter().zip(listed) {
                let Some(meta) = v.take_meta(&mut tallies, summary.first_seq) else {
                    agrees = false;
                    break;
                };
                let (calls, errors, logs) = meta.names.iter().fold((0, 0, 0), |(c, e, g), s| {
                    (c + s.calls, e + s.errors, g + s.logs)
                });
                if v.value != l.value || (calls, errors, logs) != (l.calls, l.errors, l.logs) {
                    agrees = false;
                    break;
                }
                let mut bytes = Vec::new();
                meta.encode_summary(&mut bytes);
                encoded.push((v.value.clone(), bytes));
            }
            debug_assert!(agrees, "rollup of key {} differs from the summary", k.key);
            if agrees {
                kept.push((k.key, encoded));
            }
        }
        if kept.is_empty() {
            return None;
        }
        let mut out = Vec::new();
        out.extend_from_slice(&ROLLUP_MAGIC);
        write_varint(&mut out, ROLLUP_VERSION);
        write_varint(&mut out, kept.len() as u64);
        for (key, values) in &kept {
            write_varint(&mut out, u64::from(*key));
            write_varint(&mut out, values.len() as u64);
            for (value, meta) in values {
                write_varint(&mut out, value.len() as u64);
                out.extend_from_slice(value.as_bytes());
                write_varint(&mut out, meta.len() as u64);
                out.extend_from_slice(&crc32c::crc32c(meta).to_le_bytes());
            }
        }
        let directory_len = out.len();
        for (_, values) in &kept {
            for (_, meta) in values {
                out.extend_from_slice(meta);
            }
        }
        Some(EncodedRollup {
            bytes: out,
            directory_len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tally's sketch is the sketch of the same values inserted one by one: across the whole
    /// bucket range, with zeros, growing down and up, and with a cell past 16 bits.
    #[test]
    fn a_tally_makes_the_sketch_inserting_its_values_makes() {
        let mut cases: Vec<Vec<u64>> = vec![
            vec![5],
            vec![0, 0, 7],
            vec![1_000_000, 3, u64::MAX, 1, 0, 123_456_789_012],
            vec![42; 70_000],
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut random = Vec::new();
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Log-uniform over the whole range, a few zeros.
            random.push(if x.is_multiple_of(97) {
                0
            } else {
                x >> (x % 64)
            });
        }
        cases.push(random);
        for values in cases {
            let mut tally = Tally::new(3);
            let mut want = LatencySketch::new();
            for &v in &values {
                tally.count(0, v);
                want.insert(v);
            }
            let stats = tally.into_stats().expect("a sound tally");
            assert_eq!(stats.sketch(), Some(&want));
            assert_eq!(
                (stats.min, stats.max, stats.sum),
                (want.min().unwrap_or(0), want.max().unwrap_or(0), want.sum())
            );
        }
    }

    #[test]
    fn a_tally_of_logs_only_has_an_empty_sketch() {
        let mut tally = Tally::new(1);
        for _ in 0..4 {
            tally.count(2, 0);
        }
        let stats = tally.into_stats().expect("sound");
        assert_eq!((stats.calls, stats.logs), (0, 4));
        assert_eq!(stats.sketch(), Some(&LatencySketch::new()));
    }
}
