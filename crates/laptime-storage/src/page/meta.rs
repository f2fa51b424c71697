//! Page meta: the zone map (row count, seq range, start-time range, names present) and, per name,
//! call/error/log counts and a latency sketch of its call durations. Stored next to the page's
//! columns with its own checksum, so a query can read it without the columns.
//!
//! Layout (all integers varints unless noted):
//! `rows, first_seq, min_start, max_start - min_start, name_count,` then per name in ascending id
//! order: `id - previous id, calls, errors, logs,` and when `calls > 0` the encoded sketch; then
//! `key_count` and the field keys present, ascending, as deltas; then the names section: `count`,
//! and per name or key the page refers to, ascending, `id - previous id, byte length, UTF-8 bytes`.
//! The names section makes a page name its own events when both names files of its partition are
//! lost (pages written before it existed end after the keys). The value index follows it (see
//! `values`; a segment summary writes an empty names section before it).

use std::sync::Arc;

use crate::dictionary::Dictionary;
use crate::encoding::varint::{read_varint, write_varint};
use crate::error::DecodeError;
use crate::event::NameId;
use crate::page::values::{self, KeyValues};
use crate::page::PageColumns;
use crate::sketch::LatencySketch;

/// Most rows a page read from disk may claim. Writers make pages of at most `page_rows` (2^20)
/// rows, plus the batches a writer keeps in its active page while the disk is full; a damaged count
/// beyond this would size column allocations at gigabytes.
const MAX_DECODED_ROWS: u32 = 1 << 24;

/// Per-name summary of one page.
#[derive(Debug, Clone, PartialEq)]
pub struct NameStats {
    /// Name id.
    pub name: NameId,
    /// Call events.
    pub calls: u64,
    /// Call events with error status.
    pub errors: u64,
    /// Log events.
    pub logs: u64,
    /// Durations of the calls.
    pub sketch: LatencySketch,
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
    /// Field keys present in the page, ascending.
    pub keys: Vec<NameId>,
    /// The value index: one entry per key of `keys`, in the same order.
    pub values: Vec<KeyValues>,
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
    /// the pages it absorbed answered one by one, because sketch merging is exact.
    pub fn absorb(&mut self, other: &PageMeta) {
        if other.rows == 0 {
            return;
        }
        if self.rows == 0 {
            *self = other.clone();
            return;
        }
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
                    a.calls += b.calls;
                    a.errors += b.errors;
                    a.logs += b.logs;
                    a.sketch.merge(&b.sketch);
                }
                merged.push(a);
            } else if let Some(b) = theirs.next() {
                merged.push(b.clone());
            }
        }
        self.names = merged;
        let (keys, values) = values::absorb(
            &self.keys,
            std::mem::take(&mut self.values),
            &other.keys,
            &other.values,
        );
        self.keys = keys;
        self.values = values;
    }

    /// Bytes this meta holds on the heap (what caching it costs).
    pub fn heap_bytes(&self) -> usize {
        self.names.capacity() * std::mem::size_of::<NameStats>()
            + self
                .names
                .iter()
                .map(|s| s.sketch.heap_bytes())
                .sum::<usize>()
            + self.keys.capacity() * std::mem::size_of::<NameId>()
            + self.values.capacity() * std::mem::size_of::<KeyValues>()
            + self.values.iter().map(KeyValues::heap_bytes).sum::<usize>()
    }

    /// What the value index knows about `key` (`None`: the page has no such key).
    pub fn values_of(&self, key: NameId) -> Option<&KeyValues> {
        let i = self.keys.binary_search(&key).ok()?;
        self.values.get(i)
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
        self.keys.binary_search(&key).is_ok()
    }

    /// Highest dictionary id the page refers to (names and field keys).
    pub fn max_id(&self) -> Option<NameId> {
        let n = self.names.last().map(|s| s.name);
        let k = self.keys.last().copied();
        n.max(k)
    }

    /// Compute the meta of a page's columns.
    pub(crate) fn compute(cols: &PageColumns, first_seq: u64) -> PageMeta {
        let mut stats: Vec<NameStats> = Vec::new();
        // Ids are dense, so an id-indexed slot table beats hashing every row.
        let max = cols.names.iter().copied().max().unwrap_or(0) as usize;
        let dense = max < (cols.len() * 4).max(1 << 16);
        let mut slot_of: Vec<u32> = if dense {
            vec![u32::MAX; max + 1]
        } else {
            Vec::new()
        };
        let mut hashed: std::collections::HashMap<NameId, u32> = std::collections::HashMap::new();
        for (row, &name) in cols.names.iter().enumerate() {
            let slot = if dense {
                &mut slot_of[name as usize]
            } else {
                hashed.entry(name).or_insert(u32::MAX)
            };
            if *slot == u32::MAX {
                *slot = stats.len() as u32;
                stats.push(NameStats {
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
        let values = values::compute(cols, &keys);
        PageMeta {
            values,
            keys,
            rows: cols.len() as u64,
            first_seq,
            min_start: cols.starts.iter().copied().min().unwrap_or(0),
            max_start: cols.starts.iter().copied().max().unwrap_or(0),
            names: stats,
        }
    }

    /// Append the encoding to `out`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
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
                s.sketch.encode(out);
            }
        }
        write_varint(out, self.keys.len() as u64);
        let mut prev = 0u64;
        for &k in &self.keys {
            write_varint(out, u64::from(k) - prev);
            prev = u64::from(k);
        }
    }

    /// Append the value index; after [`PageMeta::encode_names`] for a page.
    pub(crate) fn encode_values(&self, out: &mut Vec<u8>) {
        values::encode(&self.values, out);
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
            .chain(self.keys.iter().copied())
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

    /// Decode from `input`; checks internal consistency (counts add up, ids ascend). The names
    /// section is checked and skipped (see [`PageMeta::decode_names`]).
    pub(crate) fn decode(input: &[u8]) -> Result<PageMeta, DecodeError> {
        Self::decode_with(input, u64::from(MAX_DECODED_ROWS), None)
    }

    /// Decode a segment's summary (see [`PageMeta::absorb`]): the same layout without a names
    /// section, and a row count that may exceed a page's.
    pub(crate) fn decode_summary(input: &[u8]) -> Result<PageMeta, DecodeError> {
        Self::decode_with(input, u64::MAX, None)
    }

    /// The names section of an encoded meta: (id, text) pairs, ascending; empty for pages written
    /// before pages carried their names.
    pub(crate) fn decode_names(input: &[u8]) -> Result<Vec<(NameId, String)>, DecodeError> {
        let mut texts = Vec::new();
        Self::decode_with(input, u64::from(MAX_DECODED_ROWS), Some(&mut texts))?;
        Ok(texts)
    }

    fn decode_with(
        input: &[u8],
        max_rows: u64,
        mut texts: Option<&mut Vec<(NameId, String)>>,
    ) -> Result<PageMeta, DecodeError> {
        let mut pos = 0usize;
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
            let sketch = if calls > 0 {
                let rest = input.get(pos..).unwrap_or(&[]);
                let (sketch, used) = LatencySketch::decode(rest).map_err(|e| DecodeError {
                    offset: pos + e.offset,
                    reason: e.reason,
                })?;
                pos += used;
                if sketch.count() != calls {
                    return Err(DecodeError::new(
                        pos,
                        "sketch count differs from call count",
                    ));
                }
                sketch
            } else {
                LatencySketch::new()
            };
            names.push(NameStats {
                name: id as NameId,
                calls,
                errors,
                logs,
                sketch,
            });
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
        let values = if pos < input.len() {
            values::decode(input, &mut pos, keys.len(), rows)?
        } else {
            vec![KeyValues::Unlisted; keys.len()]
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
            keys,
            values,
        })
    }
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
            values: vec![KeyValues::Unlisted; meta.keys.len()],
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
}
