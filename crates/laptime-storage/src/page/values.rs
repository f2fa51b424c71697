//! The value index of a page meta (issue 15): for each field key whose values in the page are all
//! strings and few ([`MAX_LISTED_VALUES`] distinct at most), the values themselves with their event
//! counts and a latency sketch of their calls; for a key of more strings, a membership filter of
//! them (pages only: filters do not merge); for a key whose values are all integers, or all floats
//! and none NaN, their smallest and largest. A query skips a page (or a whole segment, through its
//! summary) whose index rules out a field comparison, without decoding it, and answers counts and
//! durations grouped by a listed key from it.
//!
//! Layout, after the names section of a page meta (and after the empty names section of a segment
//! summary), all integers varints: the version [`INDEX_VERSION`], then per field key of the meta,
//! in the keys' order, a tag: 0 nothing known; 1 listed: `count`, then per value, ascending by
//! bytes, `byte length, UTF-8 bytes, calls, errors, logs, sketch`, and after the values the
//! sketch of the calls without the key (each sketch as `value_sketch` writes it: length-prefixed,
//! decoded only when a query needs durations); 2 integer range: `zigzag(min), zigzag(max)`; 3
//! float range: `min, max` as 8-byte little-endian bits; 4 filtered: a membership filter of the
//! values (`value_filter`: a key of more strings than are listed). Version 2 has no sketches; version 1
//! (metas written before the ranges) has no tag either: `count` alone, 0 for nothing known. Metas
//! written before the index existed end before it: their keys are all unlisted. From version 3
//! the message index (`message_index`) follows.

/// Version of the index layout written (versions 1 and 2 are still read).
const INDEX_VERSION: u64 = 3;
/// The first version with tags.
const TAGGED_SINCE: u64 = 2;
/// The first version with sketches, filters and the message index after it.
const SKETCHES_SINCE: u64 = 3;

const TAG_UNLISTED: u64 = 0;
const TAG_LISTED: u64 = 1;
const TAG_INT_RANGE: u64 = 2;
const TAG_FLOAT_RANGE: u64 = 3;
const TAG_FILTERED: u64 = 4;

use crate::encoding::varint::{read_varint, unzigzag, write_varint, zigzag};
use crate::encoding::StringDictionary;
use crate::error::DecodeError;
use crate::event::NameId;
use crate::page::value_filter::{hash_value, ValueFilter};
use crate::page::value_sketch::{self, ValueSketch};
use crate::page::{FieldValues, PageColumns};
use crate::sketch::LatencySketch;

/// Most distinct values a key may have in a page (or a segment) and still be listed. Routes,
/// methods, statuses, tiers and tenants of one page fit; ids do not, and listing them would make
/// the meta as large as the column.
pub const MAX_LISTED_VALUES: usize = 64;

/// The events of a page (or segment) that carry one value of one key.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueStats {
    /// The value.
    pub value: String,
    /// Call events.
    pub calls: u64,
    /// Call events with error status.
    pub errors: u64,
    /// Log events.
    pub logs: u64,
    /// The calls' durations; `None` in an index written before sketches (or merged with one).
    pub durations: Option<ValueSketch>,
}

impl ValueStats {
    /// `value` with no events counted yet.
    /// `value` with no events counted yet; its sketch's counters cover `all_calls`' buckets (a
    /// value's calls are among the page's, so it never grows).
    fn none_of(value: &str, all_calls: &LatencySketch) -> ValueStats {
        ValueStats {
            value: value.to_owned(),
            calls: 0,
            errors: 0,
            logs: 0,
            durations: Some(ValueSketch::Decoded(LatencySketch::empty_covering(
                all_calls,
            ))),
        }
    }

    /// Count one event with code byte `code`, in the classes of the per-name stats: 0 an ok call,
    /// 1 a failed call, anything else a log; a call's `duration` goes into the sketch.
    fn count(&mut self, code: u8, duration: u64) {
        match code {
            0 | 1 => {
                self.calls += 1;
                self.errors += u64::from(code);
                if let Some(ValueSketch::Decoded(s)) = &mut self.durations {
                    s.insert(duration);
                }
            }
            _ => self.logs += 1,
        }
    }

    /// The calls' durations decoded and checked against their count; `None` when not known or
    /// not sound (a query then decodes the page instead).
    pub fn sketch(&self) -> Option<std::borrow::Cow<'_, LatencySketch>> {
        self.durations.as_ref()?.decoded(self.calls).ok()
    }
}

/// What a meta knows about the values of one field key.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyValues {
    /// Every value the key has, ascending by bytes: all strings, at most [`MAX_LISTED_VALUES`].
    Listed {
        /// The values with their counts and sketches.
        values: Vec<ValueStats>,
        /// The durations of the calls without the key (the group of `null`); `None` when not
        /// known. Their counts are the meta's totals less the values'.
        without: Option<ValueSketch>,
    },
    /// Every value the key has is an integer, from `min` to `max`.
    IntRange {
        /// Smallest value.
        min: i64,
        /// Largest value.
        max: i64,
    },
    /// Every value the key has is a string, more than are listed: a filter that says which
    /// values the page may hold (false positives about 0.4 %, no false negatives). Pages only:
    /// filters of several pages do not merge, so a summary leaves the key unlisted.
    Filtered(ValueFilter),
    /// Every value the key has is a float, none NaN, from `min` to `max`.
    FloatRange {
        /// Smallest value.
        min: f64,
        /// Largest value.
        max: f64,
    },
    /// Too many values, values of several types, booleans, a NaN, or a meta written before the
    /// index.
    Unlisted,
}

impl KeyValues {
    /// This entry without the latency sketches of its values and of the calls without the key
    /// (what planning needs: the values, their counts, the filter or the range).
    pub(crate) fn without_sketches(&self) -> KeyValues {
        match self {
            KeyValues::Listed { values, .. } => KeyValues::Listed {
                values: values
                    .iter()
                    .map(|v| ValueStats {
                        value: v.value.clone(),
                        durations: None,
                        ..*v
                    })
                    .collect(),
                without: None,
            },
            other => other.clone(),
        }
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            KeyValues::Listed { values, without } => {
                values.capacity() * std::mem::size_of::<ValueStats>()
                    + values
                        .iter()
                        .map(|s| {
                            s.value.capacity()
                                + s.durations.as_ref().map_or(0, ValueSketch::heap_bytes)
                        })
                        .sum::<usize>()
                    + without.as_ref().map_or(0, ValueSketch::heap_bytes)
            }
            KeyValues::Filtered(f) => f.heap_bytes(),
            KeyValues::IntRange { .. } | KeyValues::FloatRange { .. } | KeyValues::Unlisted => 0,
        }
    }
}

/// The index of `cols`, one entry per key of `keys` (the page's field keys, ascending); `dicts`
/// holds the dictionary of each string field column where one was built, `all_calls` the
/// durations of every call of the page.
pub(crate) fn compute(
    cols: &PageColumns,
    keys: &[NameId],
    dicts: &[Option<StringDictionary<'_>>],
    all_calls: &LatencySketch,
) -> Vec<KeyValues> {
    keys.iter()
        .map(|&k| compute_key(cols, k, dicts, all_calls))
        .collect()
}

fn compute_key(
    cols: &PageColumns,
    key: NameId,
    dicts: &[Option<StringDictionary<'_>>],
    all_calls: &LatencySketch,
) -> KeyValues {
    let mut columns = cols.fields.iter().enumerate().filter(|(_, f)| f.key == key);
    let (Some((index, col)), None) = (columns.next(), columns.next()) else {
        // Values of several types: a comparison's answer depends on each type's rules.
        return KeyValues::Unlisted;
    };
    let strings = match &col.values {
        FieldValues::Str(strings) => strings,
        FieldValues::I64(v) => return int_range(v),
        FieldValues::F64(v) => return float_range(v),
        FieldValues::Bool(_) => return KeyValues::Unlisted,
    };
    if let Some(Some(dict)) = dicts.get(index) {
        return from_dictionary(cols, &col.rows, dict, all_calls);
    }
    let mut slot_of: foldhash::HashMap<&str, usize> = foldhash::HashMap::default();
    let mut stats: Vec<ValueStats> = Vec::new();
    for (i, &row) in col.rows.iter().enumerate() {
        let value = strings.get(i);
        let slot = match slot_of.get(value) {
            Some(&s) => s,
            None => {
                if stats.len() == MAX_LISTED_VALUES {
                    return filtered(strings.iter());
                }
                slot_of.insert(value, stats.len());
                stats.push(ValueStats::none_of(value, all_calls));
                stats.len() - 1
            }
        };
        let (Some(s), Some(&code), Some(&d)) = (
            stats.get_mut(slot),
            cols.codes.get(row as usize),
            cols.durations.get(row as usize),
        ) else {
            return KeyValues::Unlisted;
        };
        s.count(code, d);
    }
    listed(cols, &col.rows, stats, all_calls)
}

/// The filtered entry of a string key whose `values` (repeats allowed) are too many to list.
fn filtered<'v>(values: impl Iterator<Item = &'v str>) -> KeyValues {
    let mut hashes: Vec<u64> = values.map(|v| hash_value(v.as_bytes())).collect();
    // Sized by distinct values, not rows.
    hashes.sort_unstable();
    hashes.dedup();
    KeyValues::Filtered(ValueFilter::build(&hashes))
}

/// The listed entry of `stats`, sorted, with the sketch of the calls of `cols` not among `rows`
/// (the rows that have the key, ascending): `all_calls` less the values' calls, its smallest and
/// largest duration told by the buckets or, when they cannot, found by a pass that only compares.
fn listed(
    cols: &PageColumns,
    rows: &[u32],
    mut stats: Vec<ValueStats>,
    all_calls: &LatencySketch,
) -> KeyValues {
    stats.sort_by(|a, b| a.value.cmp(&b.value));
    let mut with = LatencySketch::new();
    for s in &stats {
        if let Some(ValueSketch::Decoded(d)) = &s.durations {
            with.merge(d);
        }
    }
    let without = all_calls
        .without_scanning(&with, || range_without(cols, rows))
        .map(ValueSketch::Decoded);
    KeyValues::Listed {
        values: stats,
        without,
    }
}

/// The smallest and largest duration of the calls of `cols` not among `rows` (ascending): one
/// pass over a mask of the rows, without branches, so it vectorizes.
fn range_without(cols: &PageColumns, rows: &[u32]) -> Option<(u64, u64)> {
    let mut has = vec![false; cols.len()];
    for &r in rows {
        if let Some(h) = has.get_mut(r as usize) {
            *h = true;
        }
    }
    let (mut min, mut max) = (u64::MAX, 0u64);
    let mut calls = false;
    for ((&code, &d), &has) in cols.codes.iter().zip(&cols.durations).zip(&has) {
        // Logs (code 2 and up) have no duration: a neutral value takes their place.
        let take = code <= 1 && !has;
        calls |= take;
        min = min.min(if take { d } else { u64::MAX });
        max = max.max(if take { d } else { 0 });
    }
    calls.then_some((min, max))
}

fn int_range(values: &[i64]) -> KeyValues {
    let (Some(&min), Some(&max)) = (values.iter().min(), values.iter().max()) else {
        return KeyValues::Unlisted;
    };
    KeyValues::IntRange { min, max }
}

/// A NaN compares with nothing (and its text form matches `=NaN`): a key with one has no range.
fn float_range(values: &[f64]) -> KeyValues {
    if values.is_empty() || values.iter().any(|v| v.is_nan()) {
        return KeyValues::Unlisted;
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    KeyValues::FloatRange { min, max }
}

/// [`compute_key`] for a column whose dictionary the page encoder built: counted by dictionary
/// index, no value hashed again.
fn from_dictionary(
    cols: &PageColumns,
    rows: &[u32],
    dict: &StringDictionary<'_>,
    all_calls: &LatencySketch,
) -> KeyValues {
    if dict.ids.len() != rows.len() {
        return KeyValues::Unlisted;
    }
    if dict.order.len() > MAX_LISTED_VALUES {
        return filtered(dict.order.iter().copied());
    }
    let mut stats: Vec<ValueStats> = dict
        .order
        .iter()
        .map(|v| ValueStats::none_of(v, all_calls))
        .collect();
    for (&id, &row) in dict.ids.iter().zip(rows) {
        let (Some(s), Some(&code), Some(&d)) = (
            stats.get_mut(id as usize),
            cols.codes.get(row as usize),
            cols.durations.get(row as usize),
        ) else {
            return KeyValues::Unlisted;
        };
        s.count(code, d);
    }
    listed(cols, rows, stats, all_calls)
}

/// One side of [`absorb`]: its keys, their entries (aligned), and the durations of all its calls
/// (what the calls without a key are on a side that lacks the key; `None` when not known).
pub(crate) struct Side<'a, V> {
    pub keys: &'a [NameId],
    pub values: V,
    pub all_calls: Option<&'a LatencySketch>,
}

/// Merge `theirs` into `mine`; returns the united keys and their entries. A key listed on both
/// sides stays listed while the union of its values fits; a key unlisted on either side is
/// unlisted; a key only one side has keeps its entry, and the other side's calls join the calls
/// without it.
pub(crate) fn absorb(
    mine: Side<'_, Vec<KeyValues>>,
    theirs: Side<'_, &[KeyValues]>,
) -> (Vec<NameId>, Vec<KeyValues>) {
    let (my_keys, their_keys) = (mine.keys, theirs.keys);
    let (my_all, their_all) = (mine.all_calls, theirs.all_calls);
    let (mine, theirs) = (mine.values, theirs.values);
    let mut keys = Vec::with_capacity(my_keys.len().max(their_keys.len()));
    let mut values = Vec::with_capacity(keys.capacity());
    let mut a = my_keys.iter().zip(mine).peekable();
    let mut b = their_keys.iter().zip(theirs).peekable();
    loop {
        let order = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((x, _)), Some((y, _))) => x.cmp(y),
        };
        match order {
            std::cmp::Ordering::Less => {
                let Some((&k, v)) = a.next() else { break };
                keys.push(k);
                values.push(without_more(v, their_all));
            }
            std::cmp::Ordering::Greater => {
                let Some((&k, v)) = b.next() else { break };
                keys.push(k);
                values.push(without_more(v.clone(), my_all));
            }
            std::cmp::Ordering::Equal => {
                let (Some((&k, x)), Some((_, y))) = (a.next(), b.next()) else {
                    break;
                };
                keys.push(k);
                values.push(merge(x, y));
            }
        }
    }
    (keys, values)
}

/// `entry` of a key with `calls` (the calls of a side without the key) added to its calls
/// without the key.
fn without_more(entry: KeyValues, calls: Option<&LatencySketch>) -> KeyValues {
    match entry {
        KeyValues::Listed { values, without } => KeyValues::Listed {
            values,
            without: value_sketch::merge(
                without,
                calls.map(|c| ValueSketch::Decoded(c.clone())).as_ref(),
            ),
        },
        other => other,
    }
}

fn merge(mine: KeyValues, theirs: &KeyValues) -> KeyValues {
    let (mine, my_without, theirs, their_without) = match (mine, theirs) {
        (
            KeyValues::Listed {
                values: mine,
                without: my_without,
            },
            KeyValues::Listed {
                values: theirs,
                without: their_without,
            },
        ) => (mine, my_without, theirs, their_without),
        (KeyValues::IntRange { min, max }, &KeyValues::IntRange { min: a, max: b }) => {
            return KeyValues::IntRange {
                min: min.min(a),
                max: max.max(b),
            }
        }
        (KeyValues::FloatRange { min, max }, &KeyValues::FloatRange { min: a, max: b }) => {
            return KeyValues::FloatRange {
                min: min.min(a),
                max: max.max(b),
            }
        }
        _ => return KeyValues::Unlisted,
    };
    let mut merged: Vec<ValueStats> = Vec::with_capacity(mine.len().max(theirs.len()));
    let mut a = mine.into_iter().peekable();
    let mut b = theirs.iter().peekable();
    loop {
        let next = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) => a.next(),
            (None, Some(_)) => b.next().cloned(),
            (Some(x), Some(y)) => match x.value.cmp(&y.value) {
                std::cmp::Ordering::Less => a.next(),
                std::cmp::Ordering::Greater => b.next().cloned(),
                std::cmp::Ordering::Equal => {
                    let (Some(mut x), Some(y)) = (a.next(), b.next()) else {
                        break;
                    };
                    x.calls += y.calls;
                    x.errors += y.errors;
                    x.logs += y.logs;
                    x.durations = value_sketch::merge(x.durations, y.durations.as_ref());
                    Some(x)
                }
            },
        };
        let Some(v) = next else { break };
        if merged.len() == MAX_LISTED_VALUES {
            return KeyValues::Unlisted;
        }
        merged.push(v);
    }
    KeyValues::Listed {
        values: merged,
        without: value_sketch::merge(my_without, their_without.as_ref()),
    }
}

/// Append the index (one entry per key, in the keys' order).
pub(crate) fn encode(values: &[KeyValues], out: &mut Vec<u8>) {
    write_varint(out, INDEX_VERSION);
    for entry in values {
        match entry {
            KeyValues::Unlisted => write_varint(out, TAG_UNLISTED),
            KeyValues::IntRange { min, max } => {
                write_varint(out, TAG_INT_RANGE);
                write_varint(out, zigzag(*min));
                write_varint(out, zigzag(*max));
            }
            KeyValues::FloatRange { min, max } => {
                write_varint(out, TAG_FLOAT_RANGE);
                out.extend_from_slice(&min.to_bits().to_le_bytes());
                out.extend_from_slice(&max.to_bits().to_le_bytes());
            }
            KeyValues::Filtered(filter) => {
                write_varint(out, TAG_FILTERED);
                filter.encode(out);
            }
            KeyValues::Listed { values, without } => {
                write_varint(out, TAG_LISTED);
                write_varint(out, values.len() as u64);
                for v in values {
                    write_varint(out, v.value.len() as u64);
                    out.extend_from_slice(v.value.as_bytes());
                    write_varint(out, v.calls);
                    write_varint(out, v.errors);
                    write_varint(out, v.logs);
                    value_sketch::encode(v.durations.as_ref(), out);
                }
                value_sketch::encode(without.as_ref(), out);
            }
        }
    }
}

/// Whether a meta whose value index has layout `version` has a message index after it.
pub(crate) fn has_message_index(version: u64) -> bool {
    version >= SKETCHES_SINCE
}

/// Decode the index of a meta with `keys` field keys and `rows` events from `input[*pos..]`,
/// checking what a writer guarantees: few values, ascending and distinct, counts within the rows.
/// Returns it and its layout version.
pub(crate) fn decode(
    input: &[u8],
    pos: &mut usize,
    keys: usize,
    rows: u64,
) -> Result<(Vec<KeyValues>, u64), DecodeError> {
    let index_start = *pos;
    let version = read_varint(input, pos)?;
    if !(1..=INDEX_VERSION).contains(&version) {
        return Err(DecodeError::new(*pos, "unknown value index version"));
    }
    let tagged = version >= TAGGED_SINCE;
    // Sketches stay encoded, sharing one copy of the index's bytes, made when the first one is
    // met (an index without listed keys copies nothing).
    let sketches = version >= SKETCHES_SINCE;
    let mut shared = value_sketch::Shared::new(input, index_start);
    let mut out = Vec::with_capacity(keys.min(input.len()));
    for _ in 0..keys {
        let tag_at = *pos;
        let tag = if tagged {
            read_varint(input, pos)?
        } else {
            TAG_LISTED
        };
        match tag {
            TAG_UNLISTED => {
                out.push(KeyValues::Unlisted);
                continue;
            }
            TAG_LISTED => {}
            TAG_INT_RANGE => {
                let min = unzigzag(read_varint(input, pos)?);
                let max = unzigzag(read_varint(input, pos)?);
                if min > max {
                    return Err(DecodeError::new(tag_at, "value range ends below its start"));
                }
                out.push(KeyValues::IntRange { min, max });
                continue;
            }
            TAG_FLOAT_RANGE => {
                let mut word = || -> Result<f64, DecodeError> {
                    let bytes = input
                        .get(*pos..*pos + 8)
                        .ok_or(DecodeError::new(*pos, "value range truncated"))?;
                    *pos += 8;
                    let mut b = [0u8; 8];
                    b.copy_from_slice(bytes);
                    Ok(f64::from_bits(u64::from_le_bytes(b)))
                };
                let (min, max) = (word()?, word()?);
                // Also refused: a NaN at either end (incomparable).
                if min
                    .partial_cmp(&max)
                    .is_none_or(|o| o == std::cmp::Ordering::Greater)
                {
                    return Err(DecodeError::new(tag_at, "value range ends below its start"));
                }
                out.push(KeyValues::FloatRange { min, max });
                continue;
            }
            TAG_FILTERED if version >= SKETCHES_SINCE => {
                let rest = input.get(*pos..).unwrap_or_default();
                let (filter, used) = ValueFilter::decode(rest).map_err(|e| DecodeError {
                    offset: *pos + e.offset,
                    reason: e.reason,
                })?;
                *pos += used;
                out.push(KeyValues::Filtered(filter));
                continue;
            }
            _ => return Err(DecodeError::new(tag_at, "unknown value index entry")),
        }
        let count = read_varint(input, pos)?;
        if count == 0 {
            if tagged {
                return Err(DecodeError::new(tag_at, "a listed key with no values"));
            }
            out.push(KeyValues::Unlisted);
            continue;
        }
        if count > MAX_LISTED_VALUES as u64 {
            return Err(DecodeError::new(
                *pos,
                "more listed values than a writer lists",
            ));
        }
        let mut list: Vec<ValueStats> = Vec::with_capacity(count as usize);
        let mut events = 0u64;
        for _ in 0..count {
            let len = read_varint(input, pos)?;
            let end = usize::try_from(len)
                .ok()
                .and_then(|l| pos.checked_add(l))
                .filter(|&e| e <= input.len())
                .ok_or(DecodeError::new(*pos, "listed value longer than the meta"))?;
            let value = std::str::from_utf8(&input[*pos..end])
                .map_err(|_| DecodeError::new(*pos, "listed value is not UTF-8"))?;
            if list.last().is_some_and(|p| p.value.as_str() >= value) {
                return Err(DecodeError::new(*pos, "listed values not ascending"));
            }
            *pos = end;
            let calls = read_varint(input, pos)?;
            let errors = read_varint(input, pos)?;
            let logs = read_varint(input, pos)?;
            let durations = match sketches {
                true => value_sketch::decode(&mut shared, pos)?,
                false => None,
            };
            if errors > calls {
                return Err(DecodeError::new(*pos, "more errors than calls for a value"));
            }
            events = events
                .checked_add(calls)
                .and_then(|e| e.checked_add(logs))
                .filter(|&e| e <= rows)
                .ok_or(DecodeError::new(
                    *pos,
                    "a key's values count more events than rows",
                ))?;
            list.push(ValueStats {
                value: value.to_owned(),
                calls,
                errors,
                logs,
                durations,
            });
        }
        let without = match sketches {
            true => value_sketch::decode(&mut shared, pos)?,
            false => None,
        };
        out.push(KeyValues::Listed {
            values: list,
            without,
        });
    }
    Ok((out, version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Batch, Value};
    use crate::page::{message_index, PageMeta};

    const TENANT: NameId = 7;
    const USER: NameId = 8;
    const MIXED: NameId = 9;

    #[test]
    fn counting_by_the_encoders_dictionary_gives_what_hashing_gives() {
        // Pages where the dictionary exists (tenants), where it gave up (user ids: every value
        // distinct) and where a key is listed although its column has no dictionary (few rows,
        // more than half distinct), and over MAX_LISTED_VALUES distinct values.
        let mut few = Batch::default();
        for (i, v) in ["a", "b", "c", "d", "a"].iter().enumerate() {
            let row = few.push_call(0, i as u64, 1, i == 1);
            few.add_field_at(row, TENANT, Value::Str((*v).into()))
                .unwrap();
        }
        let mut few_cols = PageColumns::default();
        few_cols.append_batch(&few, 0, few.len());
        for cols in [
            page(1),
            page(30),
            page(200),
            page(MAX_LISTED_VALUES * 3),
            few_cols,
        ] {
            let mut keys: Vec<NameId> = cols.fields.iter().map(|f| f.key).collect();
            keys.sort_unstable();
            keys.dedup();
            let strings = crate::page::StringFields::of(&cols);
            // Tenants repeat: their column has a dictionary, except in the five-row page (four
            // distinct of five).
            let tenants = cols.fields.iter().position(|f| f.key == TENANT).unwrap();
            assert_eq!(
                strings.dicts[tenants].is_some(),
                cols.len() != 5,
                "{} rows",
                cols.len()
            );
            let all = PageMeta::compute(&cols, 0);
            let all_calls = all_calls_of(&all);
            let by_dictionary = compute(&cols, &keys, &strings.dicts, &all_calls);
            let by_hashing = compute(&cols, &keys, &[], &all_calls);
            assert_eq!(by_dictionary, by_hashing, "{} rows", cols.len());
        }
    }

    /// Every call's duration of the page `meta` describes, as `PageMeta::compute` hands it over.
    fn all_calls_of(meta: &PageMeta) -> LatencySketch {
        let mut all = LatencySketch::new();
        for n in &meta.names {
            all.merge(n.sketch().unwrap());
        }
        all
    }

    /// A page of `rows` calls of name 0 (every fifth failed, one log), each with a tenant of three,
    /// a distinct user id, and a key that is a string on even rows and a number on odd ones.
    fn page(rows: usize) -> PageColumns {
        let mut b = Batch::default();
        for i in 0..rows {
            let row = if i == 0 {
                b.push_log(0, 5, crate::event::Level::Info, "hello")
            } else {
                b.push_call(0, i as u64, 100 + i as u64, i % 5 != 0)
            };
            let tenant = ["acme", "globex", "initech"][i % 3];
            b.add_field_at(row, TENANT, Value::Str(tenant.into()))
                .unwrap();
            b.add_field_at(row, USER, Value::Str(format!("user-{i}")))
                .unwrap();
            let mixed = if i % 2 == 0 {
                Value::Str("x".into())
            } else {
                Value::I64(i as i64)
            };
            b.add_field_at(row, MIXED, mixed).unwrap();
        }
        let mut cols = PageColumns::default();
        cols.append_batch(&b, 0, rows);
        cols.canonicalize_fields();
        cols
    }

    /// `cols` with `suffix` appended to every user id.
    fn other_users(mut cols: PageColumns, suffix: &str) -> PageColumns {
        for col in cols.fields.iter_mut().filter(|c| c.key == USER) {
            let FieldValues::Str(s) = &mut col.values else {
                panic!("users are strings")
            };
            let renamed: Vec<String> = s.iter().map(|v| format!("{v}{suffix}")).collect();
            s.clear();
            for v in &renamed {
                s.push(v);
            }
        }
        cols
    }

    fn listed(kv: Option<&KeyValues>) -> &[ValueStats] {
        match kv {
            Some(KeyValues::Listed { values, .. }) => values,
            other => panic!("expected listed values, got {other:?}"),
        }
    }

    #[test]
    fn few_string_values_are_listed_with_their_counts_and_sketches() {
        let meta = PageMeta::compute(&page(30), 0);
        let tenants = listed(meta.values_of(TENANT));
        let names: Vec<&str> = tenants.iter().map(|v| v.value.as_str()).collect();
        assert_eq!(names, ["acme", "globex", "initech"]);
        let acme = &tenants[0];
        // Rows 0, 3, ..., 27: row 0 is the log; rows 15 is a failed call (i % 5 == 0).
        assert_eq!((acme.calls, acme.errors, acme.logs), (9, 1, 1));
        let total: u64 = tenants.iter().map(|v| v.calls + v.logs).sum();
        assert_eq!(total, 30);
        // 30 distinct users fit; a key of two types is never listed.
        assert_eq!(listed(meta.values_of(USER)).len(), 30);
        assert_eq!(meta.values_of(MIXED), Some(&KeyValues::Unlisted));
        assert_eq!(meta.values_of(42), None);
    }

    /// Calls of names 0 and 1 taking `100 + i` ns (every seventh failed, every ninth row a
    /// log); every fourth row lacks the tenant.
    fn page_with_gaps(rows: usize) -> PageColumns {
        let mut b = Batch::default();
        for i in 0..rows {
            let row = if i % 9 == 8 {
                b.push_log(0, i as u64, crate::event::Level::Info, "hi")
            } else {
                b.push_call((i % 2) as NameId, i as u64, 100 + i as u64, i % 7 != 0)
            };
            if i % 4 != 0 {
                let tenant = ["acme", "globex"][i % 3 % 2];
                b.add_field_at(row, TENANT, Value::Str(tenant.into()))
                    .unwrap();
            }
        }
        let mut cols = PageColumns::default();
        cols.append_batch(&b, 0, rows);
        cols.canonicalize_fields();
        cols
    }

    /// The sketch of the call durations of `cols` whose tenant `pick` accepts.
    fn calls_where(cols: &PageColumns, pick: impl Fn(Option<&str>) -> bool) -> LatencySketch {
        let col = cols.fields.iter().find(|f| f.key == TENANT).unwrap();
        let FieldValues::Str(strings) = &col.values else {
            panic!("tenants are strings")
        };
        let mut s = LatencySketch::new();
        for row in 0..cols.len() {
            let tenant = col
                .rows
                .iter()
                .position(|&r| r as usize == row)
                .map(|i| strings.get(i));
            if cols.codes[row] <= 1 && pick(tenant) {
                s.insert(cols.durations[row]);
            }
        }
        s
    }

    fn without(kv: Option<&KeyValues>) -> LatencySketch {
        match kv {
            Some(KeyValues::Listed {
                without: Some(w), ..
            }) => w.decoded_any(),
            other => panic!("expected a sketch of the calls without the key, got {other:?}"),
        }
    }

    impl ValueSketch {
        fn decoded_any(&self) -> LatencySketch {
            match self {
                ValueSketch::Decoded(s) => s.clone(),
                ValueSketch::Encoded { .. } => panic!("not decoded"),
            }
        }
    }

    #[test]
    fn values_carry_the_durations_of_their_calls_and_of_the_calls_without_the_key() {
        let cols = page_with_gaps(50);
        let meta = PageMeta::compute(&cols, 0);
        let tenants = listed(meta.values_of(TENANT));
        for v in tenants {
            let want = calls_where(&cols, |t| t == Some(v.value.as_str()));
            assert_eq!(v.sketch().unwrap().as_ref(), &want, "{}", v.value);
            assert_eq!(want.count(), v.calls);
        }
        let none = without(meta.values_of(TENANT));
        assert_eq!(none, calls_where(&cols, |t| t.is_none()));
        assert!(none.count() > 0);

        // Read back deferred, the sketches come out of the bytes, checked against the calls.
        let mut bytes = Vec::new();
        meta.encode_summary(&mut bytes);
        let back = PageMeta::decode_summary(&bytes).unwrap();
        assert_eq!(back, meta);
        for (v, w) in listed(back.values_of(TENANT)).iter().zip(tenants) {
            assert!(matches!(v.durations, Some(ValueSketch::Encoded { .. })));
            assert_eq!(v.sketch(), w.sketch());
        }

        // A page without the key: all its calls are calls without it in a summary.
        let mut bare = Batch::default();
        for i in 0..10u64 {
            bare.push_call(3, 1_000 + i, 5_000 + i, true);
        }
        let mut bare_cols = PageColumns::default();
        bare_cols.append_batch(&bare, 0, bare.len());
        let bare_meta = PageMeta::compute(&bare_cols, 50);
        let mut sum = meta.clone();
        sum.absorb(&bare_meta).unwrap();
        let mut want = calls_where(&cols, |t| t.is_none());
        want.insert_many(&(0..10u64).map(|i| 5_000 + i).collect::<Vec<_>>());
        assert_eq!(without(sum.values_of(TENANT)), want);
        // In either order.
        let mut sum = bare_meta.clone();
        sum.absorb(&meta).unwrap();
        assert_eq!(without(sum.values_of(TENANT)), want);
        assert_eq!(listed(sum.values_of(TENANT)), tenants);
    }

    /// The index as version 2 wrote it: tags, no sketches.
    fn encode_v2(values: &[KeyValues], out: &mut Vec<u8>) {
        write_varint(out, 2);
        for entry in values {
            match entry {
                KeyValues::Listed { values, .. } => {
                    write_varint(out, TAG_LISTED);
                    write_varint(out, values.len() as u64);
                    for v in values {
                        write_varint(out, v.value.len() as u64);
                        out.extend_from_slice(v.value.as_bytes());
                        write_varint(out, v.calls);
                        write_varint(out, v.errors);
                        write_varint(out, v.logs);
                    }
                }
                _ => write_varint(out, TAG_UNLISTED),
            }
        }
    }

    #[test]
    fn an_index_without_sketches_is_read_and_merged_as_not_knowing_durations() {
        let meta = PageMeta::compute(&page_with_gaps(50), 0);
        let mut bytes = Vec::new();
        meta.encode(&mut bytes);
        write_varint(&mut bytes, 0); // empty names section
        encode_v2(&meta.index.values, &mut bytes);
        let old = PageMeta::decode_summary(&bytes).unwrap();
        let KeyValues::Listed { values, without } = old.values_of(TENANT).unwrap() else {
            panic!("listed")
        };
        assert_eq!(*without, None);
        assert!(values
            .iter()
            .all(|v| v.durations.is_none() && v.sketch().is_none()));
        // Counts are as before.
        let counts = |vs: &[ValueStats]| -> Vec<(u64, u64, u64)> {
            vs.iter().map(|v| (v.calls, v.errors, v.logs)).collect()
        };
        assert_eq!(counts(values), counts(listed(meta.values_of(TENANT))));
        // Merged with a page that knows, the durations are still not known.
        let mut sum = meta.clone();
        sum.absorb(&old).unwrap();
        let KeyValues::Listed { values, without } = sum.values_of(TENANT).unwrap() else {
            panic!("listed")
        };
        assert_eq!(*without, None);
        assert!(values.iter().all(|v| v.durations.is_none()));
    }

    #[test]
    fn more_distinct_values_than_the_limit_are_filtered_not_listed() {
        for rows in [MAX_LISTED_VALUES + 1, 5_000] {
            let cols = page(rows);
            let meta = PageMeta::compute(&cols, 0);
            let Some(KeyValues::Filtered(filter)) = meta.values_of(USER) else {
                panic!("{rows} users: {:?}", meta.values_of(USER))
            };
            let hash = |v: &str| hash_value(v.as_bytes());
            assert!((0..rows).all(|i| filter.may_contain(hash(&format!("user-{i}")))));
            let false_positives = (rows..rows + 10_000)
                .filter(|i| filter.may_contain(hash(&format!("user-{i}"))))
                .count();
            assert!(
                false_positives < 100,
                "{false_positives} of 10,000 absent ids pass"
            );
            // Round trip; a summary of two pages cannot merge filters and leaves the key unlisted.
            let mut bytes = Vec::new();
            meta.encode_summary(&mut bytes);
            assert_eq!(PageMeta::decode_summary(&bytes).unwrap(), meta);
            let mut sum = meta.clone();
            sum.absorb(&PageMeta::compute(&other_users(page(rows), "-b"), 10_000))
                .unwrap();
            assert_eq!(sum.values_of(USER), Some(&KeyValues::Unlisted));
        }
        let meta = PageMeta::compute(&page(MAX_LISTED_VALUES), 0);
        assert_eq!(listed(meta.values_of(USER)).len(), MAX_LISTED_VALUES);
        // A key of mixed types is neither listed nor filtered.
        assert_eq!(meta.values_of(MIXED), Some(&KeyValues::Unlisted));
    }

    #[test]
    fn the_index_round_trips_in_pages_and_summaries_and_older_metas_list_nothing() {
        let meta = PageMeta::compute(&page(40), 0);
        let dict = crate::dictionary::Dictionary::new();
        let mut bytes = Vec::new();
        meta.encode(&mut bytes);
        let without_index = bytes.clone();
        meta.encode_names(&dict, &mut bytes);
        let names_only = bytes.clone();
        meta.encode_values(&mut bytes);
        assert_eq!(PageMeta::decode(&bytes).unwrap(), meta);
        let mut summary = Vec::new();
        meta.encode_summary(&mut summary);
        assert_eq!(PageMeta::decode_summary(&summary).unwrap(), meta);
        for older in [without_index, names_only.clone()] {
            let old = PageMeta::decode(&older).unwrap();
            assert!(old.index.values.iter().all(|v| *v == KeyValues::Unlisted));
            assert_eq!(old.index.keys, meta.index.keys);
        }
        // Every cut of the index is an error, never a shorter index.
        for cut in names_only.len() + 1..bytes.len() {
            assert!(PageMeta::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn summaries_unite_values_until_there_are_too_many() {
        let a = PageMeta::compute(&page(30), 0);
        // The second page has the same tenants and 30 other users.
        let b = PageMeta::compute(&other_users(page(30), "-b"), 30);
        let mut sum = a.clone();
        sum.absorb(&b).unwrap();
        let tenants = listed(sum.values_of(TENANT));
        assert_eq!(tenants.len(), 3);
        assert_eq!(tenants[0].calls, 2 * listed(a.values_of(TENANT))[0].calls);
        // 30 + 30 users fit in 64; a third page's 30 more do not.
        assert_eq!(listed(sum.values_of(USER)).len(), 60);
        sum.absorb(&PageMeta::compute(&other_users(page(30), "-c"), 60))
            .unwrap();
        assert_eq!(sum.values_of(USER), Some(&KeyValues::Unlisted));
        assert_eq!(listed(sum.values_of(TENANT)).len(), 3);
        // Unlisted on one side stays unlisted.
        assert_eq!(sum.values_of(MIXED), Some(&KeyValues::Unlisted));
        // The summary's index round-trips too.
        let mut bytes = Vec::new();
        sum.encode_summary(&mut bytes);
        assert_eq!(PageMeta::decode_summary(&bytes).unwrap(), sum);
    }

    #[test]
    fn numeric_keys_keep_their_range_through_summaries_and_bytes() {
        let mut b = Batch::default();
        for i in 0..10i64 {
            let row = b.push_call(0, i as u64, 5, true);
            b.add_field_at(row, 20, Value::I64(i * 7 - 30)).unwrap();
            b.add_field_at(row, 21, Value::F64(i as f64 / 4.0 - 1.0))
                .unwrap();
            b.add_field_at(row, 22, Value::F64(if i == 3 { f64::NAN } else { 1.0 }))
                .unwrap();
            b.add_field_at(row, 23, Value::Bool(i % 2 == 0)).unwrap();
        }
        let mut cols = PageColumns::default();
        cols.append_batch(&b, 0, b.len());
        let meta = PageMeta::compute(&cols, 0);
        assert_eq!(
            meta.values_of(20),
            Some(&KeyValues::IntRange { min: -30, max: 33 })
        );
        assert_eq!(
            meta.values_of(21),
            Some(&KeyValues::FloatRange {
                min: -1.0,
                max: 1.25
            })
        );
        assert_eq!(meta.values_of(22), Some(&KeyValues::Unlisted), "a NaN");
        assert_eq!(meta.values_of(23), Some(&KeyValues::Unlisted), "booleans");
        let mut bytes = Vec::new();
        meta.encode_summary(&mut bytes);
        assert_eq!(PageMeta::decode_summary(&bytes).unwrap(), meta);
        // A second page widens the ranges; a key that is a string there loses its range.
        let mut c = Batch::default();
        let row = c.push_call(0, 100, 5, true);
        c.add_field_at(row, 20, Value::I64(1_000)).unwrap();
        c.add_field_at(row, 21, Value::Str("x".into())).unwrap();
        let mut cols = PageColumns::default();
        cols.append_batch(&c, 0, c.len());
        let mut sum = meta.clone();
        sum.absorb(&PageMeta::compute(&cols, 10)).unwrap();
        assert_eq!(
            sum.values_of(20),
            Some(&KeyValues::IntRange {
                min: -30,
                max: 1_000
            })
        );
        assert_eq!(sum.values_of(21), Some(&KeyValues::Unlisted));
    }

    #[test]
    fn a_range_no_writer_makes_is_refused() {
        let meta = PageMeta::compute(&page(6), 0);
        let mut head = Vec::new();
        meta.encode(&mut head);
        write_varint(&mut head, 0); // empty names section
        write_varint(&mut head, INDEX_VERSION);
        let keys = meta.index.keys.len();
        let with = |entry: &[u8]| {
            let mut b = head.clone();
            b.extend_from_slice(entry);
            for _ in 1..keys {
                write_varint(&mut b, TAG_UNLISTED);
            }
            message_index::encode(None, &mut b);
            b
        };
        let reason = |b: &[u8]| PageMeta::decode(b).unwrap_err().reason;
        let mut ok = vec![TAG_INT_RANGE as u8];
        write_varint(&mut ok, zigzag(-5));
        write_varint(&mut ok, zigzag(9));
        assert!(PageMeta::decode(&with(&ok)).is_ok());
        let mut reversed = vec![TAG_INT_RANGE as u8];
        write_varint(&mut reversed, zigzag(9));
        write_varint(&mut reversed, zigzag(-5));
        assert_eq!(reason(&with(&reversed)), "value range ends below its start");
        let mut nan = vec![TAG_FLOAT_RANGE as u8];
        nan.extend_from_slice(&f64::NAN.to_bits().to_le_bytes());
        nan.extend_from_slice(&1.0f64.to_bits().to_le_bytes());
        assert_eq!(reason(&with(&nan)), "value range ends below its start");
        assert_eq!(reason(&with(&[9])), "unknown value index entry");
        assert_eq!(
            reason(&with(&[TAG_LISTED as u8, 0])),
            "a listed key with no values"
        );
    }

    #[test]
    fn an_index_no_writer_makes_is_refused() {
        let meta = PageMeta::compute(&page(6), 0);
        let mut head = Vec::new();
        meta.encode(&mut head);
        write_varint(&mut head, 0); // empty names section
        write_varint(&mut head, 1); // the first layout: counts without tags
        let keys = meta.index.keys.len();
        let entry = |values: &[(&[u8], u64, u64, u64)]| {
            let mut b = head.clone();
            write_varint(&mut b, values.len() as u64);
            for (v, calls, errors, logs) in values {
                write_varint(&mut b, v.len() as u64);
                b.extend_from_slice(v);
                write_varint(&mut b, *calls);
                write_varint(&mut b, *errors);
                write_varint(&mut b, *logs);
            }
            for _ in 1..keys {
                write_varint(&mut b, 0);
            }
            b
        };
        let reason = |b: &[u8]| PageMeta::decode(b).unwrap_err().reason;
        assert!(PageMeta::decode(&entry(&[(b"a", 1, 0, 0), (b"b", 0, 0, 2)])).is_ok());
        assert_eq!(
            reason(&entry(&[(b"b", 1, 0, 0), (b"a", 1, 0, 0)])),
            "listed values not ascending"
        );
        assert_eq!(
            reason(&entry(&[(b"a", 1, 0, 0), (b"a", 1, 0, 0)])),
            "listed values not ascending"
        );
        assert_eq!(
            reason(&entry(&[(b"\xff", 1, 0, 0)])),
            "listed value is not UTF-8"
        );
        assert_eq!(
            reason(&entry(&[(b"a", 1, 2, 0)])),
            "more errors than calls for a value"
        );
        assert_eq!(
            reason(&entry(&[(b"a", 4, 0, 3)])),
            "a key's values count more events than rows"
        );
        let many: Vec<(&[u8], u64, u64, u64)> = vec![(b"a", 0, 0, 0); MAX_LISTED_VALUES + 1];
        assert_eq!(
            reason(&entry(&many)),
            "more listed values than a writer lists"
        );
        let mut future = head.clone();
        future.pop();
        write_varint(&mut future, INDEX_VERSION + 1);
        assert_eq!(reason(&future), "unknown value index version");
    }
}
