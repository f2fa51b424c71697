//! Page meta: the zone map (row count, seq range, start-time range, names present) and, per name,
//! call/error/log counts, the exact range and sum of its call durations and a latency sketch of
//! them. Stored next to the page's columns with its own checksum, so a query can read it without
//! the columns.
//!
//! Layout (all integers varints), version 2: `0, 2` (a row count no page has, then the layout
//! version), `rows, first_seq, min_start, max_start - min_start, name_count,` then per name in
//! ascending id order: `id - previous id, calls, errors, logs,` and when `calls > 0`:
//! `zero_calls, min, max - min, sum (low 64 bits), sum (high 64 bits), sketch length,` the encoded
//! sketch; then `key_count` and the field keys present, ascending, as deltas; then the names
//! section: `count`, and per name or key the page refers to, ascending, `id - previous id, byte
//! length, UTF-8 bytes`. The names section makes a page name its own events when both names files
//! of its partition are lost (pages written before it existed end after the keys). The value
//! index follows it (see `values`; a segment summary writes an empty names section before it).
//!
//! Version 1 begins with `rows` and has neither the explicit counts and ranges nor the sketch's
//! length: the sketch follows `logs`. Version 2 repeats what the sketch knows exactly so that a
//! read for planning, filtering or exact percentiles skips the sketches (length-prefixed) instead
//! of decoding one per name and page, which was most of such a query's time (BENCHMARKS.md).

use std::borrow::Cow;
use std::sync::Arc;

use crate::dictionary::Dictionary;
use crate::encoding::varint::{read_varint, write_varint};
use crate::encoding::StringDictionary;
use crate::error::DecodeError;
use crate::event::NameId;
use crate::page::index::PageIndex;
use crate::page::message_index;
use crate::page::values::{self, KeyValues};
use crate::page::{PageColumns, StringFields};
use crate::sketch::LatencySketch;

/// Most rows a page read from disk may claim. Writers make pages of at most `page_rows` (2^20)
/// rows, plus the batches a writer keeps in its active page while the disk is full; a damaged count
/// beyond this would size column allocations at gigabytes.
const MAX_DECODED_ROWS: u32 = 1 << 24;

/// First bytes of a version 2 meta: a row count of 0 (version 1 begins with its row count, never 0
/// for a page; an empty version 1 summary continues with a first seq of 0), then the version.
const LAYOUT_TAG: [u8; 2] = [0, 2];

/// Per-name summary of one page.
#[derive(Debug, Clone)]
pub struct NameStats {
    /// Name id.
    pub name: NameId,
    /// Call events.
    pub calls: u64,
    /// Call events with error status.
    pub errors: u64,
    /// Log events.
    pub logs: u64,
    /// Calls that took 0 ns.
    pub zero_calls: u64,
    /// Shortest call (0 without calls).
    pub min: u64,
    /// Longest call (0 without calls).
    pub max: u64,
    /// Sum of the calls' durations.
    pub sum: u128,
    sketch: Durations,
}

/// The sketch of a name's call durations: decoded, or (in a meta read without its sketches) where
/// its bytes are.
#[derive(Debug, Clone)]
enum Durations {
    Decoded(LatencySketch),
    Encoded {
        /// The meta's bytes up to the end of its names.
        bytes: Arc<[u8]>,
        at: u32,
        len: u32,
    },
}

/// Whether decoding a meta decodes its sketches too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sketches {
    Decode,
    Defer,
}

impl NameStats {
    /// The stats of a name whose calls' durations `sketch` holds.
    pub(crate) fn new(
        name: NameId,
        calls: u64,
        errors: u64,
        logs: u64,
        sketch: LatencySketch,
    ) -> NameStats {
        NameStats {
            name,
            calls,
            errors,
            logs,
            zero_calls: sketch.zero_count(),
            min: sketch.min().unwrap_or(0),
            max: sketch.max().unwrap_or(0),
            sum: sketch.sum(),
            sketch: Durations::Decoded(sketch),
        }
    }

    /// The latency sketch of the calls, `None` when the meta was read without its sketches (see
    /// [`PageMeta::decode_sketches`]).
    pub fn sketch(&self) -> Option<&LatencySketch> {
        match &self.sketch {
            Durations::Decoded(s) => Some(s),
            Durations::Encoded { .. } => None,
        }
    }

    /// The latency sketch of the calls, decoded from the meta's bytes if it was not yet; checked
    /// against the name's counts and ranges (offsets in errors are the meta's).
    pub fn decoded_sketch(&self) -> Result<Cow<'_, LatencySketch>, DecodeError> {
        match &self.sketch {
            Durations::Decoded(s) => Ok(Cow::Borrowed(s)),
            Durations::Encoded { bytes, at, len } => self
                .sketch_within(bytes, *at as usize, *len as usize)
                .map(Cow::Owned),
        }
    }

    /// The sketch stored in `meta[at..at + len]`, decoded and checked against this name's counts
    /// and ranges (layout 2: eagerly when the meta is read, or later from its bytes).
    fn sketch_within(
        &self,
        meta: &[u8],
        at: usize,
        len: usize,
    ) -> Result<LatencySketch, DecodeError> {
        let input = meta
            .get(at..at.saturating_add(len))
            .ok_or(DecodeError::new(at, "sketch outside the page meta"))?;
        let sketch = LatencySketch::decode_exact(input, at)?;
        self.check_sketch(&sketch, at)?;
        Ok(sketch)
    }

    /// The sketch must count what the name's fields say.
    fn check_sketch(&self, sketch: &LatencySketch, at: usize) -> Result<(), DecodeError> {
        if sketch.count() != self.calls {
            return Err(DecodeError::new(at, "sketch count differs from call count"));
        }
        let agrees = sketch.zero_count() == self.zero_calls
            && sketch.min().unwrap_or(0) == self.min
            && sketch.max().unwrap_or(0) == self.max
            && sketch.sum() == self.sum;
        if !agrees {
            return Err(DecodeError::new(
                at,
                "sketch differs from the name's range or sum",
            ));
        }
        Ok(())
    }

    fn decode_in_place(&mut self) -> Result<(), DecodeError> {
        if let Cow::Owned(sketch) = self.decoded_sketch()? {
            self.sketch = Durations::Decoded(sketch);
        }
        Ok(())
    }

    /// Add `other`'s events (the same name elsewhere). Sketches merge when both are decoded.
    fn add(&mut self, other: &NameStats) {
        (self.min, self.max) = match (self.calls, other.calls) {
            (_, 0) => (self.min, self.max),
            (0, _) => (other.min, other.max),
            _ => (self.min.min(other.min), self.max.max(other.max)),
        };
        self.calls += other.calls;
        self.errors += other.errors;
        self.logs += other.logs;
        self.zero_calls += other.zero_calls;
        self.sum += other.sum;
        if let (Durations::Decoded(mine), Some(theirs)) = (&mut self.sketch, other.sketch()) {
            mine.merge(theirs);
        }
    }
}

impl PartialEq for NameStats {
    /// Equal counts, ranges and sketches, however they are held.
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.calls == other.calls
            && self.errors == other.errors
            && self.logs == other.logs
            && self.zero_calls == other.zero_calls
            && self.min == other.min
            && self.max == other.max
            && self.sum == other.sum
            && match (self.decoded_sketch(), other.decoded_sketch()) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            }
    }
}

/// What a segment keeps in memory about each of its pages: where its events lie in sequence and
/// time. The rest of the meta (names, sketches, keys) is read from disk when a query needs it,
/// so memory does not grow with the number of functions times the number of pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PageZone {
    /// Events in the page.
    pub rows: u32,
    /// Sequence number of the page's first event.
    pub first_seq: u64,
    /// Smallest start_ns.
    pub min_start: u64,
    /// Largest start_ns.
    pub max_start: u64,
    /// Highest dictionary id the page refers to (names and field keys).
    pub max_id: Option<NameId>,
}

impl PageZone {
    /// Seq one past the page's last event.
    pub fn end_seq(&self) -> u64 {
        self.first_seq + u64::from(self.rows)
    }
}

/// The decoded sketch of one name of a shared meta, held through the meta rather than copied:
/// cloning it counts one more holder of the meta (a counter every name of the meta shares, so
/// a query taking all of them touches one cache line, not one per sketch).
#[derive(Debug, Clone)]
pub struct MetaSketch {
    meta: Arc<PageMeta>,
    at: usize,
}

impl MetaSketch {
    /// The sketch of `meta.names[at]`; `None` when it is not decoded (or there is no such name).
    pub fn of(meta: &Arc<PageMeta>, at: usize) -> Option<MetaSketch> {
        let stats = meta.names.get(at)?;
        stats.sketch()?;
        Some(MetaSketch {
            meta: Arc::clone(meta),
            at,
        })
    }
}

impl std::ops::Deref for MetaSketch {
    type Target = LatencySketch;

    fn deref(&self) -> &LatencySketch {
        static EMPTY: LatencySketch = LatencySketch::new();
        // Decoded when made (`MetaSketch::of`), and a shared meta does not change.
        let stats = self.meta.names.get(self.at);
        stats.and_then(NameStats::sketch).unwrap_or(&EMPTY)
    }
}

/// Zone map and sketches of one page, or (as a segment's summary, see [`PageMeta::absorb`]) of
/// all the pages of a segment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PageMeta {
    /// Events in the page (in a summary: in all its pages, which is why this is not a `u32`).
    pub rows: u64,
    /// Sequence number of the page's first event (events of a page have consecutive seqs).
    pub first_seq: u64,
    /// Smallest start_ns.
    pub min_start: u64,
    /// Largest start_ns.
    pub max_start: u64,
    /// Per-name summaries, ascending by id.
    pub names: Vec<NameStats>,
    /// Field keys present, the value index and the message index.
    pub index: PageIndex,
}

impl PageMeta {
    /// Seq one past the page's last event.
    pub fn end_seq(&self) -> u64 {
        self.first_seq + self.rows
    }

    /// The part of a page's meta that stays in memory. Only for a page's meta: a summary's row
    /// count can exceed a page's.
    pub fn zone(&self) -> PageZone {
        PageZone {
            rows: u32::try_from(self.rows).unwrap_or(u32::MAX),
            first_seq: self.first_seq,
            min_start: self.min_start,
            max_start: self.max_start,
            max_id: self.max_id(),
        }
    }

    /// Add the events `other` describes (a page of the same segment) to this summary: counts and
    /// sketches add up per name, ranges widen, keys unite. Answers from a summary are those of
    /// the pages it absorbed answered one by one, because sketch merging is exact. Sketches not
    /// yet decoded are decoded first; one that cannot be leaves this summary as it was.
    pub fn absorb(&mut self, other: &PageMeta) -> Result<(), DecodeError> {
        if other.rows == 0 {
            return Ok(());
        }
        let other = other.with_sketches()?;
        if self.rows == 0 {
            *self = other.into_owned();
            return Ok(());
        }
        self.decode_sketches()?;
        // Message filters do not merge: a summary of several pages has none.
        self.index.messages = None;
        // The calls of a side that lacks a key the other has are calls without that key.
        let (my_all, their_all) = if self.index.keys == other.index.keys {
            (None, None)
        } else {
            (Some(all_calls(&self.names)), Some(all_calls(&other.names)))
        };
        self.rows += other.rows;
        self.first_seq = self.first_seq.min(other.first_seq);
        self.min_start = self.min_start.min(other.min_start);
        self.max_start = self.max_start.max(other.max_start);
        let mut merged = Vec::with_capacity(self.names.len().max(other.names.len()));
        let mut mine = std::mem::take(&mut self.names).into_iter().peekable();
        let mut theirs = other.names.iter().peekable();
        loop {
            let take_mine = match (mine.peek(), theirs.peek()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(a), Some(b)) => a.name <= b.name,
            };
            if take_mine {
                let Some(mut a) = mine.next() else { break };
                if let Some(b) = theirs.next_if(|b| b.name == a.name) {
                    a.add(b);
                }
                merged.push(a);
            } else if let Some(b) = theirs.next() {
                merged.push(b.clone());
            }
        }
        self.names = merged;
        let (keys, values) = values::absorb(
            values::Side {
                keys: &self.index.keys,
                values: std::mem::take(&mut self.index.values),
                all_calls: my_all.as_ref(),
            },
            values::Side {
                keys: &other.index.keys,
                values: &other.index.values,
                all_calls: their_all.as_ref(),
            },
        );
        self.index.keys = keys;
        self.index.values = values;
        Ok(())
    }

    /// Decode the sketches of a meta read without them (see [`NameStats::sketch`]); on error the
    /// meta still holds what it held, some sketches decoded.
    pub fn decode_sketches(&mut self) -> Result<(), DecodeError> {
        self.names
            .iter_mut()
            .try_for_each(NameStats::decode_in_place)
    }

    /// Whether every name's sketch is decoded.
    pub fn has_sketches(&self) -> bool {
        self.names.iter().all(|s| s.sketch().is_some())
    }

    /// This meta with every sketch decoded (itself when they are).
    pub fn with_sketches(&self) -> Result<Cow<'_, PageMeta>, DecodeError> {
        if self.has_sketches() {
            return Ok(Cow::Borrowed(self));
        }
        let mut decoded = self.clone();
        decoded.decode_sketches()?;
        Ok(Cow::Owned(decoded))
    }

    /// Bytes this meta holds on the heap (what caching it costs).
    pub fn heap_bytes(&self) -> usize {
        // Undecoded sketches share the meta's bytes: counted once, whole.
        let shared = self.names.iter().find_map(|s| match &s.sketch {
            Durations::Encoded { bytes, .. } => Some(bytes.len()),
            Durations::Decoded(_) => None,
        });
        self.names.capacity() * std::mem::size_of::<NameStats>()
            + self
                .names
                .iter()
                .filter_map(NameStats::sketch)
                .map(LatencySketch::heap_bytes)
                .sum::<usize>()
            + shared.unwrap_or(0)
            + self.index.heap_bytes()
    }

    /// What the value index knows about `key` (`None`: the page has no such key).
    pub fn values_of(&self, key: NameId) -> Option<&KeyValues> {
        self.index.values_of(key)
    }

    /// True if the page may hold an event of `name`.
    pub fn has_name(&self, name: NameId) -> bool {
        self.names.binary_search_by_key(&name, |s| s.name).is_ok()
    }

    /// Summary of `name`, if present.
    pub fn name_stats(&self, name: NameId) -> Option<&NameStats> {
        self.names
            .binary_search_by_key(&name, |s| s.name)
            .ok()
            .and_then(|i| self.names.get(i))
    }

    /// True if some event of the page may carry field `key`.
    pub fn has_key(&self, key: NameId) -> bool {
        self.index.has_key(key)
    }

    /// Highest dictionary id the page refers to (names and field keys).
    pub fn max_id(&self) -> Option<NameId> {
        let n = self.names.last().map(|s| s.name);
        let k = self.index.keys.last().copied();
        n.max(k)
    }

    /// Compute the meta of a page's columns.
    pub(crate) fn compute(cols: &PageColumns, first_seq: u64) -> PageMeta {
        let strings = StringFields::of(cols);
        PageMeta::compute_with(cols, first_seq, &strings.dicts)
    }

    /// Compute the meta of a page's columns; `dicts` has the dictionary of each string field
    /// column (by index into `cols.fields`; `None`: not a string column, or too many values).
    pub(crate) fn compute_with(
        cols: &PageColumns,
        first_seq: u64,
        dicts: &[Option<StringDictionary<'_>>],
    ) -> PageMeta {
        /// A name's counts and sketch while the rows are read.
        struct Tally {
            name: NameId,
            calls: u64,
            errors: u64,
            logs: u64,
            sketch: LatencySketch,
        }
        let mut stats: Vec<Tally> = Vec::new();
        // Ids are dense, so an id-indexed slot table beats hashing every row.
        let max = cols.names.iter().copied().max().unwrap_or(0) as usize;
        let dense = max < (cols.len() * 4).max(1 << 16);
        let mut slot_of: Vec<u32> = if dense {
            vec![u32::MAX; max + 1]
        } else {
            Vec::new()
        };
        let mut hashed: foldhash::HashMap<NameId, u32> = foldhash::HashMap::default();
        for (row, &name) in cols.names.iter().enumerate() {
            let slot = if dense {
                &mut slot_of[name as usize]
            } else {
                hashed.entry(name).or_insert(u32::MAX)
            };
            if *slot == u32::MAX {
                *slot = stats.len() as u32;
                stats.push(Tally {
                    name,
                    calls: 0,
                    errors: 0,
                    logs: 0,
                    sketch: LatencySketch::new(),
                });
            }
            let s = &mut stats[*slot as usize];
            match cols.codes[row] {
                0 => {
                    s.calls += 1;
                    s.sketch.insert(cols.durations[row]);
                }
                1 => {
                    s.calls += 1;
                    s.errors += 1;
                    s.sketch.insert(cols.durations[row]);
                }
                _ => s.logs += 1,
            }
        }
        stats.sort_by_key(|s| s.name);
        let mut keys: Vec<NameId> = cols.fields.iter().map(|f| f.key).collect();
        keys.sort_unstable();
        keys.dedup();
        // Every call's duration in one sketch: the calls without a listed key are these less
        // the key's values' calls (`values::listed`).
        let mut all_calls = LatencySketch::new();
        if !keys.is_empty() {
            for t in &stats {
                all_calls.merge(&t.sketch);
            }
        }
        let values = values::compute(cols, &keys, dicts, &all_calls);
        PageMeta {
            index: PageIndex {
                values,
                messages: Some(message_index::build(cols.messages.iter())),
                keys,
            },
            rows: cols.len() as u64,
            first_seq,
            min_start: cols.starts.iter().copied().min().unwrap_or(0),
            max_start: cols.starts.iter().copied().max().unwrap_or(0),
            names: stats
                .into_iter()
                .map(|t| NameStats::new(t.name, t.calls, t.errors, t.logs, t.sketch))
                .collect(),
        }
    }

    /// Append the encoding to `out` (version 2, see the module documentation).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&LAYOUT_TAG);
        let mut sketch = Vec::new();
        self.encode_with(out, |s, out| {
            write_varint(out, s.zero_calls);
            write_varint(out, s.min);
            write_varint(out, s.max - s.min);
            write_varint(out, s.sum as u64);
            write_varint(out, (s.sum >> 64) as u64);
            sketch.clear();
            match &s.sketch {
                Durations::Decoded(d) => d.encode(&mut sketch),
                // In range: checked when the meta was read.
                Durations::Encoded { bytes, at, len } => {
                    let (at, len) = (*at as usize, *len as usize);
                    sketch.extend_from_slice(bytes.get(at..at + len).unwrap_or_default());
                }
            }
            write_varint(out, sketch.len() as u64);
            out.extend_from_slice(&sketch);
        });
    }

    /// Append the version 1 encoding (tests of reading what older writers wrote).
    #[cfg(test)]
    pub(crate) fn encode_v1(&self, out: &mut Vec<u8>) {
        self.encode_with(out, |s, out| {
            if let Ok(sketch) = s.decoded_sketch() {
                sketch.encode(out);
            }
        });
    }

    /// What both layouts share: rows, seq, time range, per name its id and counts followed by
    /// what `durations` writes for a name with calls, then the field keys.
    fn encode_with(&self, out: &mut Vec<u8>, mut durations: impl FnMut(&NameStats, &mut Vec<u8>)) {
        write_varint(out, self.rows);
        write_varint(out, self.first_seq);
        write_varint(out, self.min_start);
        write_varint(out, self.max_start - self.min_start);
        write_varint(out, self.names.len() as u64);
        let mut prev = 0u64;
        for s in &self.names {
            write_varint(out, u64::from(s.name) - prev);
            prev = u64::from(s.name);
            write_varint(out, s.calls);
            write_varint(out, s.errors);
            write_varint(out, s.logs);
            if s.calls > 0 {
                durations(s, out);
            }
        }
        write_varint(out, self.index.keys.len() as u64);
        let mut prev = 0u64;
        for &k in &self.index.keys {
            write_varint(out, u64::from(k) - prev);
            prev = u64::from(k);
        }
    }

    /// Append the value index; after [`PageMeta::encode_names`] for a page.
    pub(crate) fn encode_values(&self, out: &mut Vec<u8>) {
        values::encode(&self.index.values, out);
        message_index::encode(self.index.messages.as_ref(), out);
    }

    /// Append the encoding of a segment's summary: the meta, an empty names section (names are
    /// the pages' business), the value index.
    pub(crate) fn encode_summary(&self, out: &mut Vec<u8>) {
        self.encode(out);
        write_varint(out, 0);
        self.encode_values(out);
    }

    /// Append the names section: the text of every name and field key this page refers to, as
    /// `dict` has them (ids `dict` lacks are left out).
    pub(crate) fn encode_names(&self, dict: &Dictionary, out: &mut Vec<u8>) {
        let mut ids: Vec<NameId> = self
            .names
            .iter()
            .map(|s| s.name)
            .chain(self.index.keys.iter().copied())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let texts: Vec<(NameId, Arc<str>)> = ids
            .into_iter()
            .filter_map(|id| dict.get(id).map(|t| (id, t)))
            .collect();
        write_varint(out, texts.len() as u64);
        let mut prev = 0u64;
        for (id, text) in &texts {
            write_varint(out, u64::from(*id) - prev);
            prev = u64::from(*id);
            write_varint(out, text.len() as u64);
            out.extend_from_slice(text.as_bytes());
        }
    }

    /// Decode from `input`; checks internal consistency (counts add up, ids ascend, each sketch
    /// agrees with its name's counts). The names section is checked and skipped (see
    /// [`PageMeta::decode_names`]).
    pub(crate) fn decode(input: &[u8]) -> Result<PageMeta, DecodeError> {
        Self::decode_with(input, u64::from(MAX_DECODED_ROWS), Sketches::Decode, None)
    }

    /// [`PageMeta::decode`] leaving the sketches encoded, for a read that needs counts and ranges:
    /// [`NameStats::decoded_sketch`] decodes and checks one when asked. Version 1 metas, whose
    /// sketches carry their ranges, are decoded whole.
    pub(crate) fn decode_deferred(input: &[u8]) -> Result<PageMeta, DecodeError> {
        Self::decode_with(input, u64::from(MAX_DECODED_ROWS), Sketches::Defer, None)
    }

    /// Decode a segment's summary (see [`PageMeta::absorb`]): the same layout without a names
    /// section, and a row count that may exceed a page's.
    pub(crate) fn decode_summary(input: &[u8]) -> Result<PageMeta, DecodeError> {
        Self::decode_with(input, u64::MAX, Sketches::Decode, None)
    }

    /// The names section of an encoded meta: (id, text) pairs, ascending; empty for pages written
    /// before pages carried their names.
    pub(crate) fn decode_names(input: &[u8]) -> Result<Vec<(NameId, String)>, DecodeError> {
        let mut texts = Vec::new();
        Self::decode_with(
            input,
            u64::from(MAX_DECODED_ROWS),
            Sketches::Defer,
            Some(&mut texts),
        )?;
        Ok(texts)
    }

    fn decode_with(
        input: &[u8],
        max_rows: u64,
        sketches: Sketches,
        mut texts: Option<&mut Vec<(NameId, String)>>,
    ) -> Result<PageMeta, DecodeError> {
        let mut pos = 0usize;
        let layout = if input.starts_with(&LAYOUT_TAG) {
            pos = LAYOUT_TAG.len();
            2
        } else {
            1
        };
        let rows = read_varint(input, &mut pos)?;
        if rows > max_rows {
            return Err(DecodeError::new(pos, "page row count too large"));
        }
        let first_seq = read_varint(input, &mut pos)?;
        let min_start = read_varint(input, &mut pos)?;
        let span = read_varint(input, &mut pos)?;
        let max_start = min_start
            .checked_add(span)
            .ok_or(DecodeError::new(pos, "start range overflows"))?;
        let count = read_varint(input, &mut pos)?;
        if count > rows {
            return Err(DecodeError::new(pos, "more names than rows"));
        }
        // Each name takes at least 4 bytes (id delta, calls, errors, logs): checked before the
        // allocation, which would otherwise follow a damaged count to gigabytes.
        if count > (input.len().saturating_sub(pos) / 4) as u64 {
            return Err(DecodeError::new(
                pos,
                "more names than the meta has bytes for",
            ));
        }
        let mut names = Vec::with_capacity(count as usize);
        let mut prev: u64 = 0;
        let mut total = 0u64;
        let mut deferred = false;
        for i in 0..count {
            let delta = read_varint(input, &mut pos)?;
            if i > 0 && delta == 0 {
                return Err(DecodeError::new(pos, "name ids not ascending"));
            }
            let id = prev
                .checked_add(delta)
                .filter(|id| *id <= u64::from(u32::MAX))
                .ok_or(DecodeError::new(pos, "name id out of range"))?;
            prev = id;
            let calls = read_varint(input, &mut pos)?;
            let errors = read_varint(input, &mut pos)?;
            let logs = read_varint(input, &mut pos)?;
            if errors > calls {
                return Err(DecodeError::new(pos, "more errors than calls"));
            }
            total = total
                .checked_add(calls)
                .and_then(|t| t.checked_add(logs))
                .ok_or(DecodeError::new(pos, "counts overflow"))?;
            let name = id as NameId;
            let stats = if calls == 0 {
                NameStats::new(name, 0, 0, logs, LatencySketch::new())
            } else if layout == 1 {
                let (sketch, at) = decode_sketch(input, &mut pos)?;
                if sketch.count() != calls {
                    return Err(DecodeError::new(at, "sketch count differs from call count"));
                }
                NameStats::new(name, calls, errors, logs, sketch)
            } else {
                let mut stats = decode_ranges(input, &mut pos, name, [calls, errors, logs])?;
                let len_at = pos;
                let len = usize::try_from(read_varint(input, &mut pos)?).unwrap_or(usize::MAX);
                if len > input.len() - pos {
                    return Err(DecodeError::new(len_at, "sketch longer than the page meta"));
                }
                if sketches == Sketches::Decode {
                    stats.sketch = Durations::Decoded(stats.sketch_within(input, pos, len)?);
                    pos += len;
                } else {
                    deferred = true;
                    stats.sketch = Durations::Encoded {
                        // Set below, once the bytes the sketches lie in are known.
                        bytes: Arc::from(&[][..]),
                        at: u32::try_from(pos)
                            .map_err(|_| DecodeError::new(pos, "page meta too large"))?,
                        len: len as u32,
                    };
                    pos += len;
                }
                stats
            };
            names.push(stats);
        }
        if deferred {
            let shared: Arc<[u8]> = Arc::from(&input[..pos]);
            for s in &mut names {
                if let Durations::Encoded { bytes, .. } = &mut s.sketch {
                    *bytes = Arc::clone(&shared);
                }
            }
        }
        let nkeys = read_varint(input, &mut pos)?;
        if nkeys > input.len() as u64 {
            return Err(DecodeError::new(pos, "implausible field key count"));
        }
        let mut keys = Vec::with_capacity(nkeys as usize);
        let mut prev = 0u64;
        for i in 0..nkeys {
            let delta = read_varint(input, &mut pos)?;
            if i > 0 && delta == 0 {
                return Err(DecodeError::new(pos, "field keys not ascending"));
            }
            let id = prev
                .checked_add(delta)
                .filter(|id| *id <= u64::from(u32::MAX))
                .ok_or(DecodeError::new(pos, "field key out of range"))?;
            prev = id;
            keys.push(id as NameId);
        }
        if total != rows {
            return Err(DecodeError::new(
                pos,
                "name counts do not add up to the row count",
            ));
        }
        if pos < input.len() {
            let count = read_varint(input, &mut pos)?;
            // Each name takes at least 2 bytes (id delta, length).
            if count > (input.len().saturating_sub(pos) / 2) as u64 {
                return Err(DecodeError::new(
                    pos,
                    "more page names than the meta has bytes for",
                ));
            }
            let mut prev = 0u64;
            for i in 0..count {
                let delta = read_varint(input, &mut pos)?;
                if i > 0 && delta == 0 {
                    return Err(DecodeError::new(pos, "page name ids not ascending"));
                }
                let id = prev
                    .checked_add(delta)
                    .filter(|id| *id <= u64::from(u32::MAX))
                    .ok_or(DecodeError::new(pos, "page name id out of range"))?;
                prev = id;
                let len = read_varint(input, &mut pos)?;
                let end = usize::try_from(len)
                    .ok()
                    .and_then(|l| pos.checked_add(l))
                    .filter(|&e| e <= input.len())
                    .ok_or(DecodeError::new(pos, "page name longer than the meta"))?;
                let text = std::str::from_utf8(&input[pos..end])
                    .map_err(|_| DecodeError::new(pos, "page name is not UTF-8"))?;
                pos = end;
                if let Some(out) = texts.as_deref_mut() {
                    out.push((id as NameId, text.to_owned()));
                }
            }
        }
        let (values, messages) = if pos < input.len() {
            let (values, version) = values::decode(input, &mut pos, keys.len(), rows)?;
            let messages = if values::has_message_index(version) {
                message_index::decode(input, &mut pos)?
            } else {
                None
            };
            (values, messages)
        } else {
            (vec![KeyValues::Unlisted; keys.len()], None)
        };
        if pos != input.len() {
            return Err(DecodeError::new(pos, "trailing bytes after page meta"));
        }
        Ok(PageMeta {
            rows,
            first_seq,
            min_start,
            max_start,
            names,
            index: PageIndex {
                keys,
                values,
                messages,
            },
        })
    }
}

/// Decode the layout 1 sketch at `input[*pos..]` (it ends where its encoding does); returns it
/// and where it began.
fn decode_sketch(input: &[u8], pos: &mut usize) -> Result<(LatencySketch, usize), DecodeError> {
    let at = *pos;
    let (sketch, used) =
        LatencySketch::decode(input.get(at..).unwrap_or_default()).map_err(|e| DecodeError {
            offset: at + e.offset,
            reason: e.reason,
        })?;
    *pos = at + used;
    Ok((sketch, at))
}

/// The zero count, range and sum of a version 2 name with `calls > 0`, checked against each other
/// (a sketch decoded later must also agree with them); its sketch is left empty.
fn decode_ranges(
    input: &[u8],
    pos: &mut usize,
    name: NameId,
    [calls, errors, logs]: [u64; 3],
) -> Result<NameStats, DecodeError> {
    let zero_calls = read_varint(input, pos)?;
    let min = read_varint(input, pos)?;
    let max = min
        .checked_add(read_varint(input, pos)?)
        .ok_or(DecodeError::new(*pos, "call duration range overflows"))?;
    let sum = u128::from(read_varint(input, pos)?) | u128::from(read_varint(input, pos)?) << 64;
    let (n, lo, hi) = (u128::from(calls), u128::from(min), u128::from(max));
    // Some call took `min` and one `max`; the others lie between.
    let possible = zero_calls <= calls
        && (calls > 1 || min == max)
        && (zero_calls == 0 || min == 0)
        && (zero_calls < calls || max == 0)
        && sum >= lo + hi * u128::from(calls > 1) + lo * n.saturating_sub(2)
        && sum <= hi + lo * u128::from(calls > 1) + hi * n.saturating_sub(2);
    if !possible {
        return Err(DecodeError::new(
            *pos,
            "impossible call duration range or sum",
        ));
    }
    Ok(NameStats {
        name,
        calls,
        errors,
        logs,
        zero_calls,
        min,
        max,
        sum,
        sketch: Durations::Decoded(LatencySketch::new()),
    })
}

/// The durations of every call of `names` (whose sketches are decoded) in one sketch.
fn all_calls(names: &[NameStats]) -> LatencySketch {
    let mut all = LatencySketch::new();
    for s in names {
        if let Some(sketch) = s.sketch() {
            all.merge(sketch);
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::varint::write_varint;

    /// Found by `cargo fuzz run page_meta`: a huge name count with no bytes behind it made decode
    /// reserve count x size_of::<NameStats>() (tens of GB) before reading a single name.
    #[test]
    fn name_count_beyond_the_bytes_is_an_error_not_an_allocation() {
        let mut b = Vec::new();
        let most = u64::from(MAX_DECODED_ROWS);
        for v in [most, 0, 0, 0, most] {
            write_varint(&mut b, v);
        }
        let e = PageMeta::decode(&b).unwrap_err();
        assert_eq!(e.reason, "more names than the meta has bytes for");
        b.extend_from_slice(&[0; 64]);
        assert!(PageMeta::decode(&b).is_err());
    }

    /// A damaged row count would size every column of the page: counts beyond what any writer
    /// makes are refused before anything is allocated.
    #[test]
    fn a_row_count_no_writer_makes_is_refused() {
        let mut b = Vec::new();
        for v in [u64::from(u32::MAX - 1), 0, 0, 0, 0, 0] {
            write_varint(&mut b, v);
        }
        let e = PageMeta::decode(&b).unwrap_err();
        assert_eq!(e.reason, "page row count too large");
    }

    /// The names section round-trips, and a meta without one (older pages) still decodes.
    #[test]
    fn names_section_round_trips_and_is_optional() {
        let dict = Dictionary::new();
        let a = dict.intern("Users.find").unwrap();
        let k = dict.intern("route").unwrap();
        let mut cols = PageColumns::default();
        let mut batch = crate::event::Batch::default();
        let row = batch.push_call(a, 10, 5, true);
        batch
            .add_field_at(row, k, crate::event::Value::Str("/x".into()))
            .unwrap();
        cols.append_batch(&batch, 0, 1);
        let meta = PageMeta::compute(&cols, 0);
        let mut plain = Vec::new();
        meta.encode(&mut plain);
        let mut named = plain.clone();
        meta.encode_names(&dict, &mut named);
        // Without the value index that follows the names, the keys' values are not listed.
        let unlisted = PageMeta {
            index: PageIndex {
                keys: meta.index.keys.clone(),
                values: vec![KeyValues::Unlisted; meta.index.keys.len()],
                messages: None,
            },
            ..meta.clone()
        };
        assert_eq!(PageMeta::decode(&plain).unwrap(), unlisted);
        assert_eq!(PageMeta::decode(&named).unwrap(), unlisted);
        let mut indexed = named.clone();
        meta.encode_values(&mut indexed);
        assert_eq!(PageMeta::decode(&indexed).unwrap(), meta);
        assert_eq!(PageMeta::decode_names(&plain).unwrap(), vec![]);
        assert_eq!(
            PageMeta::decode_names(&named).unwrap(),
            vec![(a, "Users.find".to_string()), (k, "route".to_string())]
        );
        // A cut name is an error, not a shorter name.
        assert!(PageMeta::decode(&named[..named.len() - 1]).is_err());
    }

    /// A page of two functions (one with zero-duration calls and logs, one with errors) and a
    /// field key, as a writer computes its meta.
    fn two_functions() -> PageMeta {
        let mut cols = PageColumns::default();
        let mut batch = crate::event::Batch::default();
        for i in 0..300u64 {
            batch.push_call(1, i * 10, (i * 7919) % 100_000, true);
            batch.push_call(2, i * 10 + 5, if i % 3 == 0 { 0 } else { i }, i % 5 != 0);
        }
        for i in 0..20u64 {
            batch.push_log(2, 4_000 + i, crate::event::Level::Info, "m");
        }
        let row = batch.push_call(3, 9_000, 123, true);
        batch
            .add_field_at(row, 7, crate::event::Value::Str("/x".into()))
            .unwrap();
        cols.append_batch(&batch, 0, batch.len());
        PageMeta::compute(&cols, 100)
    }

    fn encoded(meta: &PageMeta) -> Vec<u8> {
        let mut b = Vec::new();
        meta.encode(&mut b);
        meta.encode_names(&Dictionary::new(), &mut b);
        meta.encode_values(&mut b);
        b
    }

    /// Version 2 carries each name's zero calls, range and sum besides its sketch: read with or
    /// without the sketches, and from version 1 bytes, a meta is the one the writer computed.
    #[test]
    fn both_layouts_read_back_with_and_without_sketches() {
        let meta = two_functions();
        let s2 = meta.name_stats(2).unwrap();
        assert_eq!(
            (s2.calls, s2.errors, s2.logs, s2.zero_calls),
            (300, 60, 20, 100)
        );
        assert_eq!((s2.min, s2.max), (0, 299));
        assert_eq!(s2.sum, (0..300u128).filter(|i| i % 3 != 0).sum());
        let bytes = encoded(&meta);
        assert_eq!(bytes[..2], LAYOUT_TAG);
        assert_eq!(PageMeta::decode(&bytes).unwrap(), meta);
        let deferred = PageMeta::decode_deferred(&bytes).unwrap();
        assert!(!deferred.has_sketches());
        assert!(deferred.names.iter().all(|s| s.sketch().is_none()));
        // Equality decodes what is deferred; the counts and ranges need no decoding.
        assert_eq!(deferred, meta);
        assert_eq!(deferred.name_stats(2).unwrap().zero_calls, 100);
        let decoded = deferred.with_sketches().unwrap();
        assert!(decoded.has_sketches());
        assert_eq!(*decoded, meta);
        // Without its sketches decoded, a cached meta costs less than with them.
        assert!(deferred.heap_bytes() < meta.heap_bytes());

        let mut v1 = Vec::new();
        meta.encode_v1(&mut v1);
        meta.encode_names(&Dictionary::new(), &mut v1);
        meta.encode_values(&mut v1);
        assert_eq!(PageMeta::decode(&v1).unwrap(), meta);
        // Version 1 sketches hold the ranges: they are decoded even when deferral is asked.
        let old = PageMeta::decode_deferred(&v1).unwrap();
        assert!(old.has_sketches());
        assert_eq!(old, meta);
    }

    /// Summaries absorb deferred and decoded metas alike.
    #[test]
    fn absorbing_deferred_metas_equals_absorbing_decoded_ones() {
        let meta = two_functions();
        let deferred = PageMeta::decode_deferred(&encoded(&meta)).unwrap();
        let mut a = PageMeta::default();
        a.absorb(&meta).unwrap();
        a.absorb(&meta).unwrap();
        let mut b = PageMeta::default();
        b.absorb(&deferred).unwrap();
        b.absorb(&deferred).unwrap();
        assert!(b.has_sketches());
        assert_eq!(a, b);
        let s = b.name_stats(2).unwrap();
        assert_eq!((s.calls, s.zero_calls, s.min, s.max), (600, 200, 0, 299));
        assert_eq!(s.sketch().unwrap().count(), 600);
        let mut summary = Vec::new();
        b.encode_summary(&mut summary);
        assert_eq!(PageMeta::decode_summary(&summary).unwrap(), b);
    }

    /// Rewrite the fields of name `name` in a version 2 encoding of `meta` with `edit` (zero
    /// calls, min, max, sum), keeping its sketch; the bytes are re-encoded, not patched.
    fn with_fields(meta: &PageMeta, name: NameId, edit: impl Fn(&mut NameStats)) -> Vec<u8> {
        let mut lying = meta.clone();
        for s in &mut lying.names {
            if s.name == name {
                edit(s);
            }
        }
        encoded(&lying)
    }

    /// Fields that cannot describe any set of calls are refused when read; fields that could but
    /// differ from the sketch are refused when the sketch is decoded, eagerly or later.
    #[test]
    fn ranges_that_disagree_with_each_other_or_the_sketch_are_damage() {
        let meta = two_functions();
        let reason = |b: &[u8]| PageMeta::decode_deferred(b).unwrap_err().reason;
        let impossible = "impossible call duration range or sum";
        assert_eq!(
            reason(&with_fields(&meta, 2, |s| s.zero_calls = 301)),
            impossible
        );
        assert_eq!(
            reason(&with_fields(&meta, 3, |s| s.zero_calls = 1)),
            impossible
        );
        assert_eq!(reason(&with_fields(&meta, 1, |s| s.sum = 0)), impossible);
        assert_eq!(
            reason(&with_fields(&meta, 1, |s| s.sum = u128::MAX)),
            impossible
        );
        assert_eq!(reason(&with_fields(&meta, 3, |s| s.max += 1)), impossible);

        let lying = with_fields(&meta, 1, |s| s.sum += 1);
        let e = PageMeta::decode(&lying).unwrap_err();
        assert_eq!(e.reason, "sketch differs from the name's range or sum");
        let deferred = PageMeta::decode_deferred(&lying).unwrap();
        let e = deferred
            .name_stats(1)
            .unwrap()
            .decoded_sketch()
            .unwrap_err();
        assert_eq!(e.reason, "sketch differs from the name's range or sum");
        assert!(deferred.with_sketches().is_err());
        let mut summary = PageMeta::default();
        summary.absorb(&meta).unwrap();
        let before = summary.clone();
        assert!(summary.absorb(&deferred).is_err());
        assert_eq!(
            summary, before,
            "a failed absorb leaves the summary as it was"
        );

        // A sketch length past the meta is refused before anything is deferred.
        let mut cut = encoded(&meta);
        cut.truncate(40);
        assert!(PageMeta::decode_deferred(&cut).is_err());
    }
}
