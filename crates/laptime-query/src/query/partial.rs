//! Partial query results: per group, the mergeable state of a query's aggregates (see
//! [`Partial`] for what merging guarantees and the byte layout).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use crate::filter::Filter;
use laptime_storage::encoding::varint::{read_varint, unzigzag, write_varint, zigzag};
use laptime_storage::scan::View;
use laptime_storage::sketch::LatencySketch;
use laptime_storage::{Error, Result};

use super::accumulate::{Acc, Needs};
use super::execute::{self, KeyPart, RawGroups, MAX_GROUP_DIMS};
use super::{Aggregate, GroupBy, Precision, Query, QueryResult, QueryStats, Span};

/// First bytes of a serialized partial result.
pub const PARTIAL_MAGIC: [u8; 4] = *b"LTQP";
/// The format version [`Partial::to_bytes`] writes and [`Partial::from_bytes`] reads.
pub const PARTIAL_VERSION: u8 = 3;
/// Magic, version and body length.
const HEADER_LEN: usize = 9;
const CRC_LEN: usize = 4;

/// Partial query results: the mergeable state of every group of a [`Query`], so that answers
/// from many stores (the fleet's indexers) combine into the answer of one store holding all the
/// events.
///
/// [`Queries::query_partial`](super::Queries::query_partial) runs a query up to, not including,
/// finishing: per group it keeps the event, call and error counts, the duration sum, min and max,
/// and what the aggregates need besides: the calls' [`Span`] for `rate`, Welford state for `stddev`, every duration for exact
/// percentiles ([`Precision::Exact`]), a [`LatencySketch`] for the others ([`Precision::Auto`]).
/// Every group with a matching event is kept; order and limit are applied by
/// [`Partial::finish`] only, so a top-k over merged partials is exact (a group that is not in
/// one store's top k may still be in the merged one).
///
/// What merging gives, compared with the query on one store holding every event:
/// - `count`, `calls`, `logs`, `errors`, `error_rate`, `sum`, `mean`, `min`, `max`: identical
///   (integer state).
/// - `rate`: identical. Each partial keeps the span of its matching calls ([`Span`]); merged,
///   their union is the single store's span.
/// - percentiles, `Precision::Auto`: identical. Sketch bucket counts add exactly, min and max are
///   exact, and the single-store query itself answers from one sketch of all the calls (page
///   sketches merged, decoded durations inserted), so both read the same sketch: within the
///   sketch's 1% relative error of the exact nearest-rank value.
/// - percentiles, `Precision::Exact`: identical (every duration travels; the partial grows by
///   a few bytes per call: a varint of the gap to the next larger duration).
/// - `stddev`: equal up to floating-point rounding (Chan et al.'s pairwise merge of Welford
///   state; the tests allow a relative difference of 1e-9).
/// - group keys, row order, limit: identical.
///
/// [`Partial::merge`] is associative and commutative (exactly so for everything but the
/// floating-point `stddev` state). The query stats add up (`pages_total` is the sum over stores).
///
/// # Byte layout (format version 3; version 2, without the index counts of the stats, and version 1,
/// also without calls, logs, rate and the span, are read too)
///
/// Integers are unsigned LEB128 varints unless said otherwise; `f64` values are their 8 IEEE bits,
/// little-endian; strings are a varint byte length and UTF-8.
///
/// ```text
/// 4 bytes  magic            "LTQP"
/// u8       version          3
/// u32 LE   body length      bytes of the body
/// body:
///   -- the query answered (merging and finishing require the same one)
///   string   filter         the filter's text form (`Filter`'s Display; other spellings of the
///                           same filter are refused, so partials compare by this text)
///   varint   now_ns         reference time of relative bounds
///   u8       precision      0 auto, 1 exact
///   varint   dims           group-by dimensions, at most 4; each a u8 kind:
///                           0 name | 1 field, then the key (string) | 2 time, then the width (> 0)
///   varint   aggregates     at least 1; each a u8: 0 count, 1 errors, 2 error_rate, 3 sum,
///                           4 mean, 5 min, 6 max, 7 stddev, 8 percentile then q (f64, in (0, 1]),
///                           and from version 2: 9 calls, 10 logs, 11 rate
///   -- what the executions did (QueryStats, summed over merged partials)
///   8 varints               pages_total, pages_skipped, pages_from_meta, pages_decoded,
///                           pages_damaged, rows_lost, rows_scanned, rows_matched
///   2 varints (version 3)   pages_skipped_by_index, pages_from_index
///   -- when the matching calls were seen (version 2 only; rates divide by it)
///   u8       span           0 none | 1, then varint first start, varint last - first start
///                           (1 only when rate is asked for and a call matched)
///   -- the groups, in ascending key order (the result's default row order), no key twice
///   varint   groups
///   per group:
///     key, one value per dimension: u8 tag, then
///       0 null | 1 string | 2 i64 (zigzag varint) | 3 f64 | 4 bool (u8 0 or 1) | 5 time (varint)
///       (a name dimension holds strings, a time dimension times that are multiples of the width)
///     varint events, calls, errors       1 <= events, errors <= calls <= events
///     if calls > 0:
///       varint min, max - min, sum low 64 bits, sum high 64 bits   (min * calls <= sum <= max * calls)
///     if stddev is asked for and calls > 0:
///       varint shift, f64 mean, f64 m2   Welford state of `duration - shift` (finite, m2 >= 0)
///     if percentiles are asked for with precision exact:
///       `calls` durations, ascending: the first, then each one's difference to the previous
///     if percentiles are asked for with precision auto and calls > 0:
///       a latency sketch (`sketch.rs`, its own format version 1) of the calls' durations, whose
///       count, min, max and sum equal the group's
/// u32 LE   CRC32C           of every byte before it (magic to the end of the body)
/// ```
///
/// [`Partial::to_bytes`] writes groups and durations sorted, so equal partials (however they were
/// merged) encode identically, up to the `stddev` state's rounding. [`Partial::from_bytes`]
/// checks every field against these rules and never panics: whatever it accepts can be merged and
/// finished.
///
/// ```
/// use laptime_query::query::{Aggregate, GroupBy, Partial, Query};
/// use laptime_query::Queries;
/// use laptime_storage::{Options, Store};
///
/// let query = Query {
///     group_by: vec![GroupBy::Name],
///     aggregates: vec![Aggregate::Count, Aggregate::Percentile(0.99)],
///     ..Query::default()
/// };
/// let mut partials = Vec::new();
/// for shard in 0..3u64 {
///     let dir = tempfile::tempdir()?;
///     let store = Store::open(dir.path(), Options::default())?;
///     let id = store.intern("Api.get")?;
///     let mut rec = store.recorder();
///     rec.call(id, 1_700_000_000_000_000_000 + shard, 1_000 * (shard + 1), true);
///     rec.submit();
///     store.flush()?;
///     // What an indexer would send back over the wire.
///     partials.push(store.view()?.query_partial(&query)?.to_bytes());
/// }
/// let decoded = partials.iter().map(|b| Partial::from_bytes(b));
/// let merged = Partial::merge_all(decoded.collect::<Result<Vec<_>, _>>()?)?;
/// let result = merged.finish(&query)?;
/// assert_eq!(result.rows[0].values[0].as_f64(), Some(3.0));
/// assert_eq!(result.rows[0].values[1].as_f64(), Some(3_000.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Partial {
    shape: Shape,
    groups: RawGroups,
    stats: QueryStats,
    /// When the matching calls were seen (kept only when `rate` is asked for).
    span: Option<Span>,
}

/// The part of a query that decides the groups' state: partials merge and finish only with the
/// same one. Order, limit and threads do not matter.
#[derive(Debug, Clone, PartialEq)]
struct Shape {
    filter: String,
    now_ns: u64,
    group_by: Vec<GroupBy>,
    aggregates: Vec<Aggregate>,
    precision: Precision,
}

impl Shape {
    fn of(query: &Query) -> Shape {
        Shape {
            filter: query.filter.to_string(),
            now_ns: query.now_ns,
            group_by: query.group_by.clone(),
            aggregates: query.aggregates.clone(),
            precision: query.precision,
        }
    }

    fn needs(&self) -> Needs {
        Needs::of(&self.aggregates, self.precision == Precision::Exact)
    }

    /// Why `other` is a different query, if it is.
    fn difference(&self, other: &Shape) -> Option<String> {
        if self.filter != other.filter {
            Some(format!("filter {:?} vs {:?}", self.filter, other.filter))
        } else if self.now_ns != other.now_ns {
            Some(format!("now_ns {} vs {}", self.now_ns, other.now_ns))
        } else if self.group_by != other.group_by {
            Some(format!(
                "group_by {:?} vs {:?}",
                self.group_by, other.group_by
            ))
        } else if self.aggregates != other.aggregates {
            Some(format!(
                "aggregates {:?} vs {:?}",
                self.aggregates, other.aggregates
            ))
        } else if self.precision != other.precision {
            Some(format!(
                "precision {:?} vs {:?}",
                self.precision, other.precision
            ))
        } else {
            None
        }
    }
}

fn mismatch(reason: String) -> Error {
    Error::InvalidInput {
        what: "partial result",
        reason: format!("it answers another query: {reason}"),
    }
}

impl Partial {
    /// Run `query` over `view` up to the groups' mergeable state.
    pub(super) fn run(view: &View, query: &Query) -> Result<Partial> {
        query.validate()?;
        let (groups, mut stats) = execute::collect_raw(view, query)?;
        stats.exact_percentiles = query.precision == Precision::Exact;
        let span = if query.wants_span() {
            super::span::calls_seen(view, query)?
        } else {
            None
        };
        Ok(Partial {
            shape: Shape::of(query),
            groups,
            stats,
            span,
        })
    }

    /// Add `other`'s groups to this one's (see the [type documentation](Partial) for what is
    /// exact). Fails, changing nothing, if `other` answers another query (filter, `now_ns`,
    /// grouping, aggregates or precision differ).
    pub fn merge(&mut self, other: Partial) -> Result<()> {
        if let Some(why) = self.shape.difference(&other.shape) {
            return Err(mismatch(why));
        }
        let mut index: HashMap<Vec<KeyPart>, usize> = self
            .groups
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (k.clone(), i))
            .collect();
        for (key, acc) in other.groups {
            match index.get(&key) {
                Some(&i) => self.groups[i].1.merge(acc),
                None => {
                    index.insert(key.clone(), self.groups.len());
                    self.groups.push((key, acc));
                }
            }
        }
        self.stats.pages_total = self
            .stats
            .pages_total
            .saturating_add(other.stats.pages_total);
        self.stats.add_work(&other.stats);
        self.span = match (self.span, other.span) {
            (Some(a), Some(b)) => Some(a.union(b)),
            (a, b) => a.or(b),
        };
        Ok(())
    }

    /// Merge every partial into one. Fails on an empty list or partials of different queries.
    pub fn merge_all(partials: impl IntoIterator<Item = Partial>) -> Result<Partial> {
        let mut it = partials.into_iter();
        let Some(mut merged) = it.next() else {
            return Err(Error::InvalidInput {
                what: "partial results",
                reason: "nothing to merge: the list is empty".into(),
            });
        };
        for p in it {
            merged.merge(p)?;
        }
        Ok(merged)
    }

    /// The query's answer from this state, as [`Queries::query`](super::Queries::query) gives it on one store holding
    /// every event the merged partials saw. `query` must be the one the partials answer (its
    /// order, limit and threads may differ).
    pub fn finish(self, query: &Query) -> Result<QueryResult> {
        query.validate()?;
        if let Some(why) = self.shape.difference(&Shape::of(query)) {
            return Err(mismatch(why));
        }
        Ok(execute::finish(self.groups, self.stats, self.span, query))
    }

    /// The query this partial answers, with default order, limit and threads (its filter parsed
    /// back from its text form).
    pub fn query(&self) -> Result<Query> {
        let filter = self.shape.filter.parse().map_err(|e| Error::InvalidInput {
            what: "partial result's filter",
            reason: format!("{:?}: {e}", self.shape.filter),
        })?;
        Ok(Query {
            filter,
            now_ns: self.shape.now_ns,
            group_by: self.shape.group_by.clone(),
            aggregates: self.shape.aggregates.clone(),
            precision: self.shape.precision,
            ..Query::default()
        })
    }

    /// Whether this partial answers `query` (same filter, `now_ns`, grouping, aggregates and
    /// precision; order, limit and threads may differ): the check [`merge`](Self::merge) and
    /// [`finish`](Self::finish) make, without consuming anything, so a coordinator can set
    /// aside the answer of an indexer that ran another query before merging the others.
    pub fn check_answers(&self, query: &Query) -> Result<()> {
        match self.shape.difference(&Shape::of(query)) {
            Some(why) => Err(mismatch(why)),
            None => Ok(()),
        }
    }

    /// The groups' keys and accumulators with the summed stats, for the read functions that
    /// finish a partial their own way (histogram, compare). Callers check the query first.
    pub(super) fn into_parts(self) -> (RawGroups, QueryStats) {
        (self.groups, self.stats)
    }

    /// Number of groups with at least one matching event.
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    /// What the executions behind this partial did, summed.
    pub fn stats(&self) -> &QueryStats {
        &self.stats
    }

    /// The versioned, checksummed byte form (see the [type documentation](Partial)).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.groups.len() * 24);
        out.extend_from_slice(&PARTIAL_MAGIC);
        out.push(PARTIAL_VERSION);
        out.extend_from_slice(&[0; 4]);
        self.write_body(&mut out);
        let body = out.len() - HEADER_LEN;
        // A body beyond 4 GiB cannot be described; no query gets near it (that is 10^9 calls
        // of exact durations), so saturate and let the reader reject it as truncated.
        let len = u32::try_from(body).unwrap_or(u32::MAX);
        out[5..HEADER_LEN].copy_from_slice(&len.to_le_bytes());
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    fn write_body(&self, out: &mut Vec<u8>) {
        let s = &self.shape;
        put_str(out, &s.filter);
        write_varint(out, s.now_ns);
        out.push(u8::from(s.precision == Precision::Exact));
        write_varint(out, s.group_by.len() as u64);
        for g in &s.group_by {
            match g {
                GroupBy::Name => out.push(0),
                GroupBy::Field(k) => {
                    out.push(1);
                    put_str(out, k);
                }
                GroupBy::Time(w) => {
                    out.push(2);
                    write_varint(out, *w);
                }
            }
        }
        write_varint(out, s.aggregates.len() as u64);
        for a in &s.aggregates {
            let (tag, q) = match a {
                Aggregate::Count => (0, None),
                Aggregate::Errors => (1, None),
                Aggregate::ErrorRate => (2, None),
                Aggregate::Sum => (3, None),
                Aggregate::Mean => (4, None),
                Aggregate::Min => (5, None),
                Aggregate::Max => (6, None),
                Aggregate::Stddev => (7, None),
                Aggregate::Percentile(q) => (8, Some(*q)),
                Aggregate::Calls => (9, None),
                Aggregate::Logs => (10, None),
                Aggregate::Rate => (11, None),
            };
            out.push(tag);
            if let Some(q) = q {
                out.extend_from_slice(&q.to_le_bytes());
            }
        }
        let st = &self.stats;
        for v in [
            st.pages_total,
            st.pages_skipped,
            st.pages_from_meta,
            st.pages_decoded,
            st.pages_damaged,
            st.rows_lost,
            st.rows_scanned,
            st.rows_matched,
            st.pages_skipped_by_index,
            st.pages_from_index,
        ] {
            write_varint(out, v);
        }
        match self.span {
            Some(span) => {
                out.push(1);
                write_varint(out, span.first_ns);
                write_varint(out, span.last_ns - span.first_ns);
            }
            None => out.push(0),
        }

        let needs = s.needs();
        let mut order: Vec<&(Vec<KeyPart>, Acc)> = self.groups.iter().collect();
        order.sort_by(|a, b| cmp_keys(&a.0, &b.0));
        write_varint(out, order.len() as u64);
        let mut values = Vec::new();
        for (key, acc) in order {
            for part in key {
                put_key_part(out, part);
            }
            write_varint(out, acc.events);
            write_varint(out, acc.calls);
            write_varint(out, acc.errors);
            if acc.calls > 0 {
                write_varint(out, acc.min);
                write_varint(out, acc.max - acc.min);
                write_varint(out, acc.sum as u64);
                write_varint(out, (acc.sum >> 64) as u64);
                if needs.moments {
                    write_varint(out, acc.shift);
                    out.extend_from_slice(&acc.mean.to_le_bytes());
                    out.extend_from_slice(&acc.m2.to_le_bytes());
                }
            }
            if needs.values {
                values.clear();
                values.extend_from_slice(&acc.values);
                values.sort_unstable();
                let mut prev = 0;
                for &v in &values {
                    write_varint(out, v - prev);
                    prev = v;
                }
            }
            if let (true, Some(sketch)) = (acc.calls > 0, &acc.sketch) {
                sketch.to_sketch().encode(out);
            }
        }
    }

    /// Read what [`to_bytes`](Self::to_bytes) wrote. Any other input is refused with
    /// [`Error::Malformed`] naming the byte offset and the reason; it never panics.
    pub fn from_bytes(input: &[u8]) -> Result<Partial> {
        if input.len() < HEADER_LEN + CRC_LEN {
            return Err(bad(
                input.len(),
                format!(
                    "truncated: {} bytes, a partial result has at least {}",
                    input.len(),
                    HEADER_LEN + CRC_LEN
                ),
            ));
        }
        if input[..4] != PARTIAL_MAGIC {
            return Err(bad(
                0,
                "not a partial query result (magic is not LTQP)".into(),
            ));
        }
        let version = input[4];
        if !(1..=PARTIAL_VERSION).contains(&version) {
            return Err(bad(
                4,
                format!(
                    "format version {version} is not supported (this build reads 1 to \
                     {PARTIAL_VERSION})"
                ),
            ));
        }
        let body = le_u32(&input[5..HEADER_LEN]) as usize;
        let want = HEADER_LEN.saturating_add(body).saturating_add(CRC_LEN);
        match input.len().cmp(&want) {
            Ordering::Less => {
                return Err(bad(
                    input.len(),
                    format!("truncated: {} of {want} bytes", input.len()),
                ))
            }
            Ordering::Greater => {
                return Err(bad(
                    want,
                    format!("{} bytes after the end", input.len() - want),
                ))
            }
            Ordering::Equal => {}
        }
        let end = HEADER_LEN + body;
        let stored = le_u32(&input[end..]);
        let actual = crc32c::crc32c(&input[..end]);
        if stored != actual {
            return Err(bad(
                end,
                format!("checksum mismatch (stored {stored:08x}, computed {actual:08x})"),
            ));
        }
        let mut r = Reader {
            buf: &input[..end],
            pos: HEADER_LEN,
        };
        let partial = read_body(&mut r, version)?;
        if r.pos != end {
            return Err(bad(r.pos, "bytes left over after the last group".into()));
        }
        Ok(partial)
    }
}

/// The body of a partial of format `version` (1 lacks the span).
fn read_body(r: &mut Reader<'_>, version: u8) -> Result<Partial> {
    let at = r.pos;
    let filter = r.string("filter")?;
    // Partials of one query must compare equal by their filter text, and `Partial::query` must
    // give back the query they answer: only the text form a parsed filter prints is accepted.
    match filter.parse::<Filter>() {
        Ok(f) if f.to_string() == filter => {}
        Ok(f) => {
            return Err(bad(
                at,
                format!("filter {filter:?} is not in its canonical form {f}"),
            ))
        }
        Err(e) => return Err(bad(at, format!("filter {filter:?} does not parse: {e}"))),
    }
    let now_ns = r.varint()?;
    let at = r.pos;
    let precision = match r.byte()? {
        0 => Precision::Auto,
        1 => Precision::Exact,
        p => return Err(bad(at, format!("unknown precision {p}"))),
    };
    let at = r.pos;
    let dims = r.count(1)?;
    if dims > MAX_GROUP_DIMS {
        return Err(bad(
            at,
            format!("{dims} group dimensions, at most {MAX_GROUP_DIMS}"),
        ));
    }
    let mut group_by = Vec::with_capacity(dims);
    for _ in 0..dims {
        let at = r.pos;
        group_by.push(match r.byte()? {
            0 => GroupBy::Name,
            1 => GroupBy::Field(r.string("field key")?),
            2 => GroupBy::Time(r.varint()?),
            k => return Err(bad(at, format!("unknown group dimension kind {k}"))),
        });
    }
    let at = r.pos;
    let n = r.count(1)?;
    let mut aggregates = Vec::with_capacity(n);
    for _ in 0..n {
        let at = r.pos;
        aggregates.push(match r.byte()? {
            0 => Aggregate::Count,
            1 => Aggregate::Errors,
            2 => Aggregate::ErrorRate,
            3 => Aggregate::Sum,
            4 => Aggregate::Mean,
            5 => Aggregate::Min,
            6 => Aggregate::Max,
            7 => Aggregate::Stddev,
            8 => Aggregate::Percentile(r.f64()?),
            9 if version >= 2 => Aggregate::Calls,
            10 if version >= 2 => Aggregate::Logs,
            11 if version >= 2 => Aggregate::Rate,
            k => return Err(bad(at, format!("unknown aggregate kind {k}"))),
        });
    }
    let shape = Shape {
        filter,
        now_ns,
        group_by,
        aggregates,
        precision,
    };
    // The same rules as a query run on a store (aggregates present, q in (0, 1], widths > 0).
    let check = Query {
        group_by: shape.group_by.clone(),
        aggregates: shape.aggregates.clone(),
        ..Query::default()
    };
    if let Err(e) = check.validate() {
        return Err(bad(at, format!("the query it answers is not valid: {e}")));
    }

    let mut s = [0u64; 10];
    let counted = if version >= 3 { 10 } else { 8 };
    for v in &mut s[..counted] {
        *v = r.varint()?;
    }
    let stats = QueryStats {
        pages_total: s[0],
        pages_skipped: s[1],
        pages_from_meta: s[2],
        pages_decoded: s[3],
        pages_damaged: s[4],
        rows_lost: s[5],
        rows_scanned: s[6],
        rows_matched: s[7],
        pages_skipped_by_index: s[8],
        pages_from_index: s[9],
        exact_percentiles: precision == Precision::Exact,
    };
    let at = r.pos;
    let span = match if version >= 2 { r.byte()? } else { 0 } {
        0 => None,
        1 => {
            let first_ns = r.varint()?;
            let last_ns = first_ns
                .checked_add(r.varint()?)
                .ok_or_else(|| bad(at, "span ends beyond u64 nanoseconds".into()))?;
            Some(Span { first_ns, last_ns })
        }
        f => return Err(bad(at, format!("unknown span flag {f}"))),
    };
    if span.is_some() && !shape.aggregates.contains(&Aggregate::Rate) {
        return Err(bad(at, "a span, but the query asks for no rate".into()));
    }

    let needs = shape.needs();
    // A group takes at least one byte per key part and three counts.
    let n = r.count(dims + 3)?;
    let mut groups: RawGroups = Vec::with_capacity(n);
    for _ in 0..n {
        let at = r.pos;
        let mut key = Vec::with_capacity(dims);
        for g in &shape.group_by {
            key.push(read_key_part(r, g)?);
        }
        if let Some((prev, _)) = groups.last() {
            if cmp_keys(prev, &key) != Ordering::Less {
                return Err(bad(
                    at,
                    "group keys are not in strictly ascending order".into(),
                ));
            }
        }
        let acc = read_acc(r, needs)?;
        groups.push((key, acc));
    }
    Ok(Partial {
        shape,
        groups,
        stats,
        span,
    })
}

fn read_acc(r: &mut Reader<'_>, needs: Needs) -> Result<Acc> {
    let at = r.pos;
    let mut acc = Acc::new(needs);
    acc.events = r.varint()?;
    acc.calls = r.varint()?;
    acc.errors = r.varint()?;
    if acc.events == 0 || acc.calls > acc.events || acc.errors > acc.calls {
        return Err(bad(
            at,
            format!(
                "impossible counts: {} events, {} calls, {} errors",
                acc.events, acc.calls, acc.errors
            ),
        ));
    }
    if acc.calls == 0 {
        return Ok(acc);
    }
    let at = r.pos;
    acc.min = r.varint()?;
    acc.max = acc
        .min
        .checked_add(r.varint()?)
        .ok_or_else(|| bad(at, "max beyond u64".into()))?;
    let lo = r.varint()?;
    let hi = r.varint()?;
    acc.sum = u128::from(hi) << 64 | u128::from(lo);
    let n = u128::from(acc.calls);
    if acc.sum < u128::from(acc.min) * n || acc.sum > u128::from(acc.max) * n {
        return Err(bad(
            at,
            format!(
                "sum {} is impossible for {} calls between {} and {}",
                acc.sum, acc.calls, acc.min, acc.max
            ),
        ));
    }
    if needs.moments {
        let at = r.pos;
        acc.shift = r.varint()?;
        acc.mean = r.f64()?;
        acc.m2 = r.f64()?;
        if !acc.mean.is_finite() || !acc.m2.is_finite() || acc.m2 < 0.0 {
            return Err(bad(at, "standard deviation state is not finite".into()));
        }
    }
    if needs.values {
        let at = r.pos;
        // Each duration takes at least one byte: no allocation beyond the input's size.
        let n = usize::try_from(acc.calls)
            .ok()
            .filter(|&n| n <= r.remaining())
            .ok_or_else(|| bad(at, format!("{} durations cannot fit", acc.calls)))?;
        acc.values.reserve_exact(n);
        let mut prev = 0u64;
        for _ in 0..n {
            let at = r.pos;
            prev = prev
                .checked_add(r.varint()?)
                .ok_or_else(|| bad(at, "duration beyond u64".into()))?;
            acc.values.push(prev);
        }
        let first = acc.values.first().copied();
        let total: u128 = acc.values.iter().map(|&v| u128::from(v)).sum();
        if first != Some(acc.min) || prev != acc.max || total != acc.sum {
            return Err(bad(
                at,
                "durations disagree with the group's min, max or sum".into(),
            ));
        }
    }
    if needs.sketch {
        let at = r.pos;
        let (sketch, used) =
            LatencySketch::decode(r.rest()).map_err(|e| bad(at + e.offset, e.reason.into()))?;
        r.pos += used;
        if sketch.count() != acc.calls
            || sketch.min() != Some(acc.min)
            || sketch.max() != Some(acc.max)
            || sketch.sum() != acc.sum
        {
            return Err(bad(
                at,
                "the sketch disagrees with the group's calls, min, max or sum".into(),
            ));
        }
        acc.sketch = Some(sketch.into());
    }
    Ok(acc)
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    write_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_key_part(out: &mut Vec<u8>, part: &KeyPart) {
    match part {
        KeyPart::Null => out.push(0),
        KeyPart::Str(s) => {
            out.push(1);
            put_str(out, s);
        }
        KeyPart::I64(v) => {
            out.push(2);
            write_varint(out, zigzag(*v));
        }
        KeyPart::F64(bits) => {
            out.push(3);
            out.extend_from_slice(&bits.to_le_bytes());
        }
        KeyPart::Bool(b) => out.extend_from_slice(&[4, u8::from(*b)]),
        KeyPart::Time(t) => {
            out.push(5);
            write_varint(out, *t);
        }
    }
}

fn read_key_part(r: &mut Reader<'_>, dim: &GroupBy) -> Result<KeyPart> {
    let at = r.pos;
    let part = match r.byte()? {
        0 => KeyPart::Null,
        1 => KeyPart::Str(Arc::from(r.string("group key")?)),
        2 => KeyPart::I64(unzigzag(r.varint()?)),
        3 => KeyPart::F64(r.f64()?.to_bits()),
        4 => match r.byte()? {
            0 => KeyPart::Bool(false),
            1 => KeyPart::Bool(true),
            b => return Err(bad(at + 1, format!("boolean key byte {b}"))),
        },
        5 => KeyPart::Time(r.varint()?),
        t => return Err(bad(at, format!("unknown key tag {t}"))),
    };
    let fits = match (dim, &part) {
        (GroupBy::Name, KeyPart::Str(_)) => true,
        (GroupBy::Time(w), KeyPart::Time(t)) => t % w == 0,
        (GroupBy::Field(_), p) => !matches!(p, KeyPart::Time(_)),
        _ => false,
    };
    if !fits {
        return Err(bad(at, format!("key {part:?} cannot be a {dim:?} group")));
    }
    Ok(part)
}

/// The result's default row order (ascending keys, nulls first, then by type).
fn cmp_keys(a: &[KeyPart], b: &[KeyPart]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.clone().into_value().cmp_total(&y.clone().into_value()))
        .find(|o| *o != Ordering::Equal)
        .unwrap_or(Ordering::Equal)
}

fn bad(offset: usize, reason: String) -> Error {
    Error::Malformed {
        what: "partial query result",
        offset: offset as u64,
        reason,
    }
}

fn le_u32(b: &[u8]) -> u32 {
    let mut x = [0u8; 4];
    for (d, s) in x.iter_mut().zip(b) {
        *d = *s;
    }
    u32::from_le_bytes(x)
}

/// A cursor over the body; errors carry offsets in the whole input.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    fn byte(&mut self) -> Result<u8> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| bad(self.pos, "the body ends early".into()))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64> {
        read_varint(self.buf, &mut self.pos).map_err(|e| bad(e.offset, e.reason.into()))
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let at = self.pos;
        let b = self
            .buf
            .get(at..at.saturating_add(n))
            .ok_or_else(|| bad(at, "the body ends early".into()))?;
        self.pos += n;
        Ok(b)
    }

    fn f64(&mut self) -> Result<f64> {
        let mut x = [0u8; 8];
        x.copy_from_slice(self.bytes(8)?);
        Ok(f64::from_le_bytes(x))
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let at = self.pos;
        let n = self.varint()?;
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.remaining())
            .ok_or_else(|| bad(at, format!("{what} length {n} beyond the body")))?;
        let b = self.bytes(n)?;
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| bad(at, format!("{what} is not UTF-8")))
    }

    /// A count of items that take at least `min_bytes` each (so it cannot exceed the input).
    fn count(&mut self, min_bytes: usize) -> Result<usize> {
        let at = self.pos;
        let n = self.varint()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n.saturating_mul(min_bytes.max(1)) <= self.remaining())
            .ok_or_else(|| bad(at, format!("count {n} is more than the body can hold")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::OrderBy;
    use laptime_storage::{Options, Store};

    #[test]
    fn check_answers_compares_what_merging_compares() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Options::default()).unwrap();
        let query = Query {
            filter: "kind:call".parse().unwrap(),
            now_ns: 5,
            group_by: vec![GroupBy::Name],
            aggregates: vec![Aggregate::Count, Aggregate::Percentile(0.5)],
            ..Query::default()
        };
        let partial = Partial::run(&store.view().unwrap(), &query).unwrap();
        partial.check_answers(&query).unwrap();
        // Order, limit and threads are applied by finish only.
        let sorted = Query {
            order_by: Some(OrderBy {
                key: super::super::OrderKey::Aggregate(0),
                descending: true,
            }),
            limit: Some(1),
            threads: 3,
            ..query.clone()
        };
        partial.check_answers(&sorted).unwrap();
        let others = [
            Query {
                filter: "kind:log".parse().unwrap(),
                ..query.clone()
            },
            Query {
                now_ns: 6,
                ..query.clone()
            },
            Query {
                group_by: vec![],
                ..query.clone()
            },
            Query {
                aggregates: vec![Aggregate::Count, Aggregate::Percentile(0.9)],
                ..query.clone()
            },
            Query {
                precision: Precision::Exact,
                ..query.clone()
            },
        ];
        for other in others {
            let e = partial.check_answers(&other).unwrap_err();
            assert!(e.to_string().contains("answers another query"), "{e}");
        }
        store.close().unwrap();
    }
}
