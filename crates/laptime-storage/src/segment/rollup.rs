//! The value rollup of a sealed segment (issue 15): for each field key its summary lists (all
//! strings, at most `MAX_LISTED_VALUES` values in the whole segment), and for each of those values,
//! a meta of the segment's events that carry it: per name the counts and the latency sketch, as a
//! page meta has them. A query filtering on such a key (`route = "/checkout"`) and grouping by
//! name answers the segment from the value's meta instead of decoding every page: the value is
//! on every page, so no page index can rule a page out, and a page meta's per-value sketch is not
//! split by name.
//!
//! It is built while the segment's pages seal (`RollupBuilder::add_page`, on the sealing helper
//! thread, from the columns being sealed), written before the footer when the segment seals, and
//! rebuilt from the pages themselves when the builder did not see every page (a segment resumed
//! after a restart, pages copied forward after a failed write). A rollup that disagrees with the
//! summary is not written: the summary is the reference, the rollup an answer kept ready.
//!
//! Layout of the region (between the last page and the footer, which says where it is and checks
//! its directory), integers varints unless noted:
//!
//! ```text
//! magic "LTRU", version (1), key count, then per key ascending:
//!     key id, value count, then per value ascending by bytes:
//!         byte length, UTF-8 bytes, meta length, meta CRC32C (u32 LE)
//! then the value metas, in directory order, each in the segment summary's layout
//! (`PageMeta::encode_summary`: names with counts and sketches, no keys, no value index)
//! ```
//!
//! The directory (everything before the first value meta) is what the footer's checksum covers;
//! each value meta has its own, so a query reads only the metas of the values it asks for.

use std::collections::HashMap;

use crate::encoding::varint::{read_varint, write_varint};
use crate::encoding::StringDictionary;
use crate::error::DecodeError;
use crate::event::NameId;
use crate::page::{
    FieldValues, KeyValues, NameStats, PageColumns, PageIndex, PageMeta, PageZone, SealWatcher,
    ValueStats, MAX_LISTED_VALUES,
};
use crate::sketch::{self, LatencySketch};

/// First bytes of a rollup region: also how salvage tells it from a page.
pub(crate) const ROLLUP_MAGIC: [u8; 4] = *b"LTRU";
const ROLLUP_VERSION: u64 = 1;

/// Most heap a builder may hold. R1-full's 50 routes by 200 functions (and 3 tiers) take a few
/// MiB; a key whose values and names multiply beyond this is dropped from the segment's rollup
/// (its filters decode pages, as without a rollup), largest first.
pub(crate) const MAX_BUILDER_BYTES: usize = 48 << 20;

/// Where a segment's rollup region is (from its footer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RollupRef {
    /// File offset of the region (where the pages end).
    pub offset: u64,
    /// Bytes of its directory.
    pub directory_len: u32,
    /// CRC32C of the directory.
    pub directory_crc: u32,
}

/// A rollup's directory: per key, per value, where its meta lies.
#[derive(Debug, Default)]
pub(crate) struct RollupDirectory {
    keys: Vec<RolledKey>,
}

#[derive(Debug)]
struct RolledKey {
    key: NameId,
    values: Vec<RolledValue>,
}

#[derive(Debug)]
pub(crate) struct RolledValue {
    pub value: String,
    /// File offset of the value's meta.
    pub offset: u64,
    pub len: u32,
    pub crc: u32,
}

impl RollupDirectory {
    /// Decode the directory `bytes` of a region at file offset `region`, whose value metas must
    /// end by `end` (the footer).
    pub(crate) fn decode(bytes: &[u8], region: u64, end: u64) -> Result<Self, DecodeError> {
        if !bytes.starts_with(&ROLLUP_MAGIC) {
            return Err(DecodeError::new(0, "bad rollup magic"));
        }
        let mut pos = ROLLUP_MAGIC.len();
        if read_varint(bytes, &mut pos)? != ROLLUP_VERSION {
            return Err(DecodeError::new(pos, "unknown rollup version"));
        }
        let count = read_varint(bytes, &mut pos)?;
        if count > bytes.len() as u64 {
            return Err(DecodeError::new(pos, "implausible rollup key count"));
        }
        let mut keys = Vec::with_capacity(count as usize);
        let mut at = region + bytes.len() as u64;
        let mut prev_key: Option<NameId> = None;
        for _ in 0..count {
            let key_at = pos;
            let key = NameId::try_from(read_varint(bytes, &mut pos)?)
                .ok()
                .filter(|k| prev_key.is_none_or(|p| p < *k))
                .ok_or(DecodeError::new(key_at, "rollup keys not ascending"))?;
            prev_key = Some(key);
            let n = read_varint(bytes, &mut pos)?;
            if n == 0 || n > MAX_LISTED_VALUES as u64 {
                return Err(DecodeError::new(pos, "rollup value count out of range"));
            }
            let mut values: Vec<RolledValue> = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let len_at = pos;
                let len = usize::try_from(read_varint(bytes, &mut pos)?).unwrap_or(usize::MAX);
                let text = pos.checked_add(len).and_then(|e| bytes.get(pos..e)).ok_or(
                    DecodeError::new(len_at, "rollup value runs past its directory"),
                )?;
                let value = std::str::from_utf8(text)
                    .map_err(|_| DecodeError::new(pos, "rollup value is not UTF-8"))?
                    .to_owned();
                pos += len;
                if values.last().is_some_and(|v| v.value >= value) {
                    return Err(DecodeError::new(len_at, "rollup values not ascending"));
                }
                let meta_at = pos;
                let meta_len = u32::try_from(read_varint(bytes, &mut pos)?)
                    .map_err(|_| DecodeError::new(meta_at, "rollup meta too long"))?;
                let crc_bytes = bytes
                    .get(pos..pos + 4)
                    .ok_or(DecodeError::new(pos, "rollup directory truncated"))?;
                let crc =
                    u32::from_le_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
                pos += 4;
                let offset = at;
                at = at
                    .checked_add(u64::from(meta_len))
                    .filter(|&e| e <= end)
                    .ok_or(DecodeError::new(
                        meta_at,
                        "rollup meta runs past the footer",
                    ))?;
                values.push(RolledValue {
                    value,
                    offset,
                    len: meta_len,
                    crc,
                });
            }
            keys.push(RolledKey { key, values });
        }
        if pos != bytes.len() {
            return Err(DecodeError::new(
                pos,
                "trailing bytes after the rollup directory",
            ));
        }
        if at != end {
            return Err(DecodeError::new(
                pos,
                "rollup metas do not reach the footer",
            ));
        }
        Ok(RollupDirectory { keys })
    }

    /// The keys rolled up.
    pub(crate) fn keys(&self) -> impl Iterator<Item = NameId> + '_ {
        self.keys.iter().map(|k| k.key)
    }

    /// The values of `key` in the rollup, `None` when the rollup does not hold the key.
    pub(crate) fn values_of(&self, key: NameId) -> Option<&[RolledValue]> {
        self.keys
            .binary_search_by_key(&key, |k| k.key)
            .ok()
            .and_then(|i| self.keys.get(i))
            .map(|k| k.values.as_slice())
    }
}

/// Decode one value's meta (its checksum already checked) and check it against what the segment
/// summary says of the value: a meta that counts other events than the summary is damage.
pub(crate) fn decode_value_meta(
    bytes: &[u8],
    listed: &ValueStats,
) -> Result<PageMeta, DecodeError> {
    let meta = PageMeta::decode_summary(bytes)?;
    let (mut calls, mut errors, mut logs) = (0u64, 0u64, 0u64);
    for s in &meta.names {
        calls += s.calls;
        errors += s.errors;
        logs += s.logs;
    }
    if (calls, errors, logs) != (listed.calls, listed.errors, listed.logs)
        || meta.rows != calls + logs
    {
        return Err(DecodeError::new(
            0,
            "rollup meta differs from the segment summary",
        ));
    }
    Ok(meta)
}

/// The meta of the events whose `key` passes, made of their values' metas `parts` (each from
/// [`decode_value_meta`]) and given an index that says so: the key lists exactly the values
/// taken (with the summary's counts) and every event carries one of them; the summary's other
/// keys are marked present with values unknown, since these events may carry them.
pub(crate) fn meta_of_values(
    summary: &PageMeta,
    key: NameId,
    taken: &[ValueStats],
    parts: Vec<PageMeta>,
) -> Result<PageMeta, DecodeError> {
    let mut meta = PageMeta::default();
    for p in &parts {
        meta.absorb(p)?;
    }
    if meta.rows == 0 {
        meta.first_seq = summary.first_seq;
    }
    let keys = summary.index.keys.clone();
    let values = keys
        .iter()
        .map(|&k| {
            if k == key {
                // Counts only: the value's sketch is the names' sketches merged.
                KeyValues::Listed {
                    values: taken.to_vec(),
                    without: None,
                }
                .without_sketches()
            } else {
                KeyValues::Unlisted
            }
        })
        .collect();
    meta.index = PageIndex {
        keys,
        values,
        messages: None,
    };
    Ok(meta)
}

/// One name's events with one value while the pages seal. A segment's rollup holds thousands of
/// these (R1-full: 50 routes and 50 releases by 200 functions), so durations are counted in 16-bit
/// cells over the buckets touched (a cell that fills up spills into `spill`), a quarter of a
/// sketch's memory, and made into a sketch when the segment seals.
#[derive(Debug)]
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

/// Buckets a tally's cells grow by at either end.
const CELL_CHUNK: usize = 16;

impl Tally {
    fn new(name: NameId) -> Tally {
        Tally {
            name,
            calls: 0,
            errors: 0,
            logs: 0,
            zero: 0,
            min: u64::MAX,
            max: 0,
            sum: 0,
            base: 0,
            cells: Vec::new(),
            spill: None,
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

/// One value of a key while the pages seal.
#[derive(Debug)]
struct ValueTally {
    value: String,
    min_start: u64,
    max_start: u64,
    /// Index into `names` by name id (`u32::MAX`: none yet): ids are dense.
    slot_of: Vec<u32>,
    names: Vec<Tally>,
}

impl ValueTally {
    fn new(value: &str) -> ValueTally {
        ValueTally {
            value: value.to_owned(),
            min_start: u64::MAX,
            max_start: 0,
            slot_of: Vec::new(),
            names: Vec::new(),
        }
    }

    fn count(&mut self, name: NameId, code: u8, duration: u64, start: u64) {
        self.min_start = self.min_start.min(start);
        self.max_start = self.max_start.max(start);
        let i = name as usize;
        if self.slot_of.len() <= i {
            self.slot_of.resize(i + 1, u32::MAX);
        }
        let slot = &mut self.slot_of[i];
        if *slot == u32::MAX {
            *slot = self.names.len() as u32;
            self.names.push(Tally::new(name));
        }
        let t = &mut self.names[*slot as usize];
        match code {
            0 | 1 => {
                t.calls += 1;
                t.errors += u64::from(code);
                t.insert(duration);
            }
            _ => t.logs += 1,
        }
    }

    fn heap_bytes(&self) -> usize {
        self.value.capacity()
            + self.slot_of.capacity() * 4
            + self.names.capacity() * std::mem::size_of::<Tally>()
            + self.names.iter().map(Tally::heap_bytes).sum::<usize>()
    }

    /// The meta of this value's events (names ascending, no index); `None` if a tally does not
    /// make a sketch (never expected: the builder's consistency is checked, not assumed).
    fn into_meta(self, first_seq: u64) -> Option<PageMeta> {
        let mut names = self
            .names
            .into_iter()
            .map(Tally::into_stats)
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
}

impl KeyTally {
    fn heap_bytes(&self) -> usize {
        self.slot_of.capacity() * (std::mem::size_of::<String>() + 8)
            + self
                .values
                .iter()
                .map(ValueTally::heap_bytes)
                .sum::<usize>()
    }
}

/// A rollup region ready to be written.
pub(crate) struct EncodedRollup {
    pub bytes: Vec<u8>,
    /// Bytes of its directory (the start of `bytes`).
    pub directory_len: usize,
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

/// Tallies per key, value and name of the pages sealed into a segment so far.
#[derive(Debug)]
pub(crate) struct RollupBuilder {
    /// Most heap it may hold ([`MAX_BUILDER_BYTES`]).
    max_bytes: usize,
    keys: Vec<KeyTally>,
    /// Keys left out of this segment's rollup for good: some page did not list them, or they
    /// outgrew [`MAX_LISTED_VALUES`] or the memory bound.
    dropped: Vec<NameId>,
    /// The pages added, in order: the rollup is only written for exactly the segment's pages.
    pages: Vec<PageZone>,
}

impl Default for RollupBuilder {
    fn default() -> Self {
        RollupBuilder::with_max_bytes(MAX_BUILDER_BYTES)
    }
}

impl RollupBuilder {
    /// A builder that holds at most `max_bytes` of tallies.
    pub(crate) fn with_max_bytes(max_bytes: usize) -> Self {
        RollupBuilder {
            max_bytes,
            keys: Vec::new(),
            dropped: Vec::new(),
            pages: Vec::new(),
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
                let (Some(slot), Some(&name), Some(&code), Some(&d), Some(&start)) = (
                    slot,
                    cols.names.get(row as usize),
                    cols.codes.get(row as usize),
                    cols.durations.get(row as usize),
                    cols.starts.get(row as usize),
                ) else {
                    too_many = true;
                    break;
                };
                tally.values[slot as usize].count(name, code, d, start);
            }
            if too_many {
                self.drop_key(key);
            }
        }
        // Bounded memory: the largest keys go first.
        while self.heap_bytes() > self.max_bytes {
            let Some(largest) = self
                .keys
                .iter()
                .max_by_key(|k| k.heap_bytes())
                .map(|k| k.key)
            else {
                break;
            };
            self.drop_key(largest);
        }
    }

    fn drop_key(&mut self, key: NameId) {
        self.keys.retain(|k| k.key != key);
        if !self.dropped.contains(&key) {
            self.dropped.push(key);
        }
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.keys.iter().map(KeyTally::heap_bytes).sum::<usize>()
            + self.pages.capacity() * std::mem::size_of::<PageZone>()
    }

    /// Whether the builder saw exactly the pages `zones` (in order).
    pub(crate) fn covers(&self, zones: impl ExactSizeIterator<Item = PageZone>) -> bool {
        zones.len() == self.pages.len() && zones.zip(&self.pages).all(|(a, b)| a == *b)
    }

    /// The region's bytes for a segment of summary `summary`, or `None` when no key is left to
    /// roll up. A key is kept only when the summary lists it with exactly the values tallied,
    /// counted alike.
    pub(crate) fn encode(self, summary: &PageMeta) -> Option<EncodedRollup> {
        // Per key kept, its values with their encoded metas.
        type Encoded = Vec<(String, Vec<u8>)>;
        let mut kept: Vec<(NameId, Encoded)> = Vec::new();
        let mut keys = self.keys;
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
            for (v, l) in values.into_iter().zip(listed) {
                let value = v.value.clone();
                let Some(meta) = v.into_meta(summary.first_seq) else {
                    agrees = false;
                    break;
                };
                let (calls, errors, logs) = meta.names.iter().fold((0, 0, 0), |(c, e, g), s| {
                    (c + s.calls, e + s.errors, g + s.logs)
                });
                if value != l.value || (calls, errors, logs) != (l.calls, l.errors, l.logs) {
                    agrees = false;
                    break;
                }
                let mut bytes = Vec::new();
                meta.encode_summary(&mut bytes);
                encoded.push((value, bytes));
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
                tally.calls += 1;
                tally.insert(v);
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
        tally.logs = 4;
        let stats = tally.into_stats().expect("sound");
        assert_eq!((stats.calls, stats.logs), (0, 4));
        assert_eq!(stats.sketch(), Some(&LatencySketch::new()));
    }
}
