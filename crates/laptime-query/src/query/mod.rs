//! The query engine: filter, group and aggregate the events of a [`View`].
//!
//! A [`Query`] is a [`Filter`] (the shared filter syntax), a list of [`GroupBy`] dimensions (name,
//! any field, time buckets of any width, combinable), a list of [`Aggregate`]s, an optional order
//! and limit, and a [`Precision`].
//!
//! How a query runs:
//! 1. Every page's zone map is checked per (name, outcome class) against the filter with
//!    three-valued logic (`predicate`): pages where no class can match are skipped unread.
//! 2. A page where every class either matches wholly or not at all, and which falls into one
//!    group, is answered from its meta (per-name counts and latency sketches) without decoding,
//!    unless the query needs the values themselves (exact percentiles, standard deviation).
//! 3. Every other page is decoded (through the bufferpool) and filtered row by row.
//!
//! Definitions:
//! - `count` counts matching events (calls and logs); every duration aggregate (`sum`, `mean`,
//!   `min`, `max`, `stddev`, percentiles) and `error_rate` is over the matching *calls* only.
//! - Percentiles use the nearest-rank definition: the value at 1-based rank `ceil(q * n)` of the
//!   sorted durations (DuckDB's `quantile_disc` agrees). With [`Precision::Exact`] they are exact;
//!   with [`Precision::Auto`] pages answered from meta contribute their sketches and decoded pages
//!   their exact values to one sketch, so a percentile is within 1% relative error of the exact
//!   one. `count`, `errors`, `error_rate`, `sum`, `mean`, `min` and `max` are exact in both modes.
//! - `stddev` is the sample standard deviation (divisor `n - 1`), `None` below two calls.
//! - A field comparison is false for events without the field (`route!=/a` does not match events
//!   that have no `route`); negate the term (`-route:/a`) to include them.
//! - Time buckets are aligned to the Unix epoch: bucket = `start - start % width`.
//!
//! ```
//! use laptime_query::query::{Aggregate, GroupBy, GroupValue, OrderBy, OrderKey, Query};
//! use laptime_query::Queries;
//! use laptime_storage::{Options, Store};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path(), Options::default())?;
//! let find = store.intern("UserService.find")?;
//! let save = store.intern("UserService.save")?;
//! let mut rec = store.recorder();
//! for i in 0..1000u64 {
//!     rec.call(find, 1_700_000_000_000_000_000 + i, 1_000 + i, i % 100 != 0);
//!     rec.call(save, 1_700_000_000_000_000_000 + i, 50_000 + i, true);
//! }
//! rec.submit();
//! store.flush()?;
//!
//! let result = store.view()?.query(&Query {
//!     filter: "name:UserService.* kind:call".parse()?,
//!     group_by: vec![GroupBy::Name],
//!     aggregates: vec![Aggregate::Count, Aggregate::ErrorRate, Aggregate::Percentile(0.99)],
//!     order_by: Some(OrderBy { key: OrderKey::Aggregate(2), descending: true }),
//!     limit: Some(1),
//!     ..Query::default()
//! })?;
//! assert_eq!(result.value_labels, ["count", "error_rate", "p99"]);
//! let slowest = &result.rows[0];
//! assert_eq!(slowest.key, [GroupValue::Str("UserService.save".into())]);
//! assert_eq!(slowest.values[0].as_f64(), Some(1000.0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod accumulate;
mod analyze;
mod by_value;
pub(crate) mod events;
mod exact;
mod execute;
mod histogram;
mod partial;
mod predicate;
mod ranks;
mod span;

use std::fmt;
use std::sync::Arc;

use crate::filter::Filter;
use laptime_storage::scan::View;
use laptime_storage::{Error, Result};

pub use analyze::{
    anomalies, anomalies_from_partial, anomalies_from_result, compare, compare_from_partials,
    AnomaliesRequest, CompareRequest, FunctionAnomaly, FunctionComparison, TimeRange,
};
pub use events::{
    events, EventPage, EventPosition, EventsRequest, ListedEvent, SortOrder, MAX_EVENTS_LIMIT,
};
pub use histogram::{
    histogram, histogram_from_partial, Histogram, HistogramRequest, MAX_HISTOGRAM_BINS,
};
pub use laptime_storage::sketch::HistogramBin;
pub use partial::{Partial, PARTIAL_MAGIC, PARTIAL_VERSION};

/// What to compute.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Which events (all when empty).
    pub filter: Filter,
    /// Reference time for relative bounds such as `since:1h`, epoch ns.
    pub now_ns: u64,
    /// Grouping dimensions, in key order. Empty: one group over everything.
    pub group_by: Vec<GroupBy>,
    /// Values per group, in column order.
    pub aggregates: Vec<Aggregate>,
    /// Sort of the result rows; default: by group key ascending.
    pub order_by: Option<OrderBy>,
    /// Keep only the first `limit` rows after sorting.
    pub limit: Option<usize>,
    /// How percentiles are computed.
    pub precision: Precision,
    /// Worker threads (0 = one per available core).
    pub threads: usize,
}

impl Default for Query {
    fn default() -> Query {
        Query {
            filter: Filter::default(),
            now_ns: laptime_storage::clock::now_ns(),
            group_by: Vec::new(),
            aggregates: vec![Aggregate::Count],
            order_by: None,
            limit: None,
            precision: Precision::Auto,
            threads: 0,
        }
    }
}

/// A grouping dimension.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupBy {
    /// The function (or logger) name.
    Name,
    /// A field's value; events without it form the group whose key is [`GroupValue::Null`].
    Field(String),
    /// Time buckets of this width in ns, aligned to the epoch; the key is the bucket's start.
    Time(u64),
}

/// A value computed per group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregate {
    /// Matching events (calls and logs).
    Count,
    /// Matching calls.
    Calls,
    /// Matching log events.
    Logs,
    /// Matching calls with error status.
    Errors,
    /// `errors / calls` of the matching calls.
    ErrorRate,
    /// Sum of call durations, ns.
    Sum,
    /// Mean call duration, ns.
    Mean,
    /// Shortest call, ns.
    Min,
    /// Longest call, ns.
    Max,
    /// Sample standard deviation of call durations, ns.
    Stddev,
    /// Nearest-rank percentile of call durations; `q` in (0, 1].
    Percentile(f64),
    /// Matching calls per second over the [`Span`] in which the query's calls were seen (the same
    /// span for every group); none with fewer than two distinct call start times.
    Rate,
}

impl Aggregate {
    /// Column label: `count`, `error_rate`, `p99`, `p99.9`...
    pub fn label(&self) -> String {
        match self {
            Aggregate::Count => "count".into(),
            Aggregate::Calls => "calls".into(),
            Aggregate::Logs => "logs".into(),
            Aggregate::Rate => "rate".into(),
            Aggregate::Errors => "errors".into(),
            Aggregate::ErrorRate => "error_rate".into(),
            Aggregate::Sum => "sum".into(),
            Aggregate::Mean => "mean".into(),
            Aggregate::Min => "min".into(),
            Aggregate::Max => "max".into(),
            Aggregate::Stddev => "stddev".into(),
            Aggregate::Percentile(q) => {
                // Trim float noise: 0.999 * 100 = 99.9 exactly when printed with 6 decimals.
                let pct = format!("{:.6}", q * 100.0);
                let pct = pct.trim_end_matches('0').trim_end_matches('.');
                format!("p{pct}")
            }
        }
    }

    /// A label [`from_label`](Self::from_label) reads back as exactly this aggregate: the usual
    /// [`label`](Self::label) when it does, else a percentile written with the digits it needs
    /// (`p99.99466666666667`), for passing a query on to other stores. `None` for a percentile
    /// no decimal label names exactly.
    pub fn exact_label(&self) -> Option<String> {
        let usual = self.label();
        let Aggregate::Percentile(q) = *self else {
            return Some(usual);
        };
        let pct = q * 100.0;
        std::iter::once(usual)
            .chain(std::iter::once(format!("p{pct}")))
            .chain((7..=17).map(|digits| {
                let t = format!("{pct:.digits$}");
                format!("p{}", t.trim_end_matches('0').trim_end_matches('.'))
            }))
            .find(|label| Aggregate::from_label(label).ok() == Some(*self))
    }

    /// The aggregate a [`label`](Self::label) names: `count`, `calls`, `logs`, `errors`,
    /// `error_rate`, `rate`, `sum`, `mean`, `min`, `max`, `stddev`, or `p` followed by a percentage
    /// in (0, 100] (`p99.9`).
    pub fn from_label(label: &str) -> Result<Aggregate> {
        let simple = match label {
            "count" => Some(Aggregate::Count),
            "calls" => Some(Aggregate::Calls),
            "logs" => Some(Aggregate::Logs),
            "rate" => Some(Aggregate::Rate),
            "errors" => Some(Aggregate::Errors),
            "error_rate" => Some(Aggregate::ErrorRate),
            "sum" => Some(Aggregate::Sum),
            "mean" => Some(Aggregate::Mean),
            "min" => Some(Aggregate::Min),
            "max" => Some(Aggregate::Max),
            "stddev" => Some(Aggregate::Stddev),
            _ => None,
        };
        if let Some(a) = simple {
            return Ok(a);
        }
        let q = label
            .strip_prefix('p')
            .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
            .filter(|p| p.parse::<f64>().is_ok_and(|p| p > 0.0 && p <= 100.0))
            .and_then(fraction_of_percent);
        match q {
            Some(q) => Ok(Aggregate::Percentile(q)),
            None => Err(invalid(
                "aggregates",
                format!(
                    "unknown aggregate {label:?}; expected count, calls, logs, errors, error_rate, \
                     rate, sum, mean, min, max, stddev or a percentile such as p99 (p0 < pN <= p100)"
                ),
            )),
        }
    }

    /// Whether computing it needs every duration value (so pages cannot be answered from sketches).
    fn needs_values(&self, precision: Precision) -> bool {
        match self {
            Aggregate::Stddev => true,
            Aggregate::Percentile(_) => precision == Precision::Exact,
            _ => false,
        }
    }

    fn uses_durations(&self) -> bool {
        !matches!(
            self,
            Aggregate::Count
                | Aggregate::Calls
                | Aggregate::Logs
                | Aggregate::Rate
                | Aggregate::Errors
                | Aggregate::ErrorRate
        )
    }
}

/// `percent / 100` rounded once: the decimal point moves two digits left in the text before it
/// is parsed, so `p99.9` is the double nearest 0.999 (as `0.999` in Rust or JavaScript), not
/// `99.9 / 100`, which rounds twice and lands one ulp above.
fn fraction_of_percent(percent: &str) -> Option<f64> {
    let (int, frac) = percent.split_once('.').unwrap_or((percent, ""));
    let int = format!("{int:0>2}");
    let (whole, hundredths) = int.split_at(int.len() - 2);
    format!("0{whole}.{hundredths}{frac}").parse().ok()
}

/// How percentiles are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// Sketches where whole pages match, exact values elsewhere: within 1% relative error.
    #[default]
    Auto,
    /// Decode every matching page and select exact nearest-rank values.
    Exact,
}

/// Sort of the result rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderBy {
    /// What to sort by.
    pub key: OrderKey,
    /// Largest first.
    pub descending: bool,
}

/// A sort key: a column of the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderKey {
    /// The aggregate at this index of [`Query::aggregates`]; missing values sort last.
    Aggregate(usize),
    /// The group dimension at this index of [`Query::group_by`].
    Group(usize),
}

/// One component of a group key.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupValue {
    /// The event has no such field.
    Null,
    /// A name or string field.
    Str(Arc<str>),
    /// An integer field.
    I64(i64),
    /// A float field.
    F64(f64),
    /// A boolean field.
    Bool(bool),
    /// Start of a time bucket, epoch ns.
    Time(u64),
}

impl GroupValue {
    /// Total order used for sorting: null first, then by type, then by value.
    fn cmp_total(&self, other: &GroupValue) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        fn rank(v: &GroupValue) -> u8 {
            match v {
                GroupValue::Null => 0,
                GroupValue::Bool(_) => 1,
                GroupValue::I64(_) => 2,
                GroupValue::F64(_) => 3,
                GroupValue::Str(_) => 4,
                GroupValue::Time(_) => 5,
            }
        }
        match (self, other) {
            (GroupValue::Str(a), GroupValue::Str(b)) => a.cmp(b),
            (GroupValue::I64(a), GroupValue::I64(b)) => a.cmp(b),
            (GroupValue::F64(a), GroupValue::F64(b)) => a.total_cmp(b),
            (GroupValue::Bool(a), GroupValue::Bool(b)) => a.cmp(b),
            (GroupValue::Time(a), GroupValue::Time(b)) => a.cmp(b),
            _ => rank(self).cmp(&rank(other)).then(Ordering::Equal),
        }
    }
}

impl fmt::Display for GroupValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupValue::Null => f.write_str("null"),
            GroupValue::Str(s) => f.write_str(s),
            GroupValue::I64(v) => write!(f, "{v}"),
            GroupValue::F64(v) => write!(f, "{v}"),
            GroupValue::Bool(v) => write!(f, "{v}"),
            GroupValue::Time(v) => write!(f, "{v}"),
        }
    }
}

/// An aggregate's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AggValue {
    /// A count.
    Count(u64),
    /// Nanoseconds (min, max, percentiles).
    Nanos(u64),
    /// A sum of nanoseconds.
    Sum(u128),
    /// A ratio or mean.
    Float(f64),
    /// No value: no matching calls (or fewer than two, for stddev).
    None,
}

impl AggValue {
    /// The value as `f64` (`None` for [`AggValue::None`]).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            AggValue::Count(v) | AggValue::Nanos(v) => Some(v as f64),
            AggValue::Sum(v) => Some(v as f64),
            AggValue::Float(v) => Some(v),
            AggValue::None => None,
        }
    }
}

/// One group of the result.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The group key, one value per [`Query::group_by`] entry.
    pub key: Vec<GroupValue>,
    /// One value per [`Query::aggregates`] entry.
    pub values: Vec<AggValue>,
}

/// The answer to a [`Query`].
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// Column labels of the group key (`name`, the field key, `time`).
    pub key_labels: Vec<String>,
    /// Column labels of the values ([`Aggregate::label`]).
    pub value_labels: Vec<String>,
    /// The groups, sorted and limited.
    pub rows: Vec<Row>,
    /// When the query's calls were seen; set when [`Aggregate::Rate`] is asked for and a call
    /// matched.
    pub span: Option<Span>,
    /// What the engine did.
    pub stats: QueryStats,
}

/// Start times of the first and the last call a query matches, epoch ns: the data's time span,
/// which [`Aggregate::Rate`] divides by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Start of the first matching call.
    pub first_ns: u64,
    /// Start of the last matching call.
    pub last_ns: u64,
}

impl Span {
    /// The span of both (as if one store held the calls of both).
    pub fn union(self, other: Span) -> Span {
        Span {
            first_ns: self.first_ns.min(other.first_ns),
            last_ns: self.last_ns.max(other.last_ns),
        }
    }

    /// Seconds from the first to the last call; `None` unless the last started after the first.
    pub fn seconds(&self) -> Option<f64> {
        (self.last_ns > self.first_ns).then(|| (self.last_ns - self.first_ns) as f64 / 1e9)
    }
}

/// What a query execution did, for tests, benchmarks and the curious.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueryStats {
    /// Pages in the view.
    pub pages_total: u64,
    /// Pages ruled out by their zone maps or indexes.
    pub pages_skipped: u64,
    /// Of those, the pages only an index ruled out (listed values, ranges, filters of a field's
    /// values, the words of the messages): their time range, names and keys alone would not.
    pub pages_skipped_by_index: u64,
    /// Pages answered from meta (counts and sketches) without decoding.
    pub pages_from_meta: u64,
    /// Of those, the pages answered from the value index (grouped by a listed field).
    pub pages_from_index: u64,
    /// Pages decoded and filtered row by row.
    pub pages_decoded: u64,
    /// Pages that had to be decoded but failed their checks: skipped, their events not counted
    /// (see [`laptime_storage::View::damaged_pages`]).
    pub pages_damaged: u64,
    /// Events in those damaged pages.
    pub rows_lost: u64,
    /// Rows of decoded pages examined.
    pub rows_scanned: u64,
    /// Events that matched the filter.
    pub rows_matched: u64,
    /// Whether the percentiles are exact (false: within the sketch's 1% relative error).
    pub exact_percentiles: bool,
}

impl QueryStats {
    /// Add the work counted in `other` (pages and rows; not the totals or the precision).
    pub(crate) fn add_work(&mut self, other: &QueryStats) {
        // Saturating: partial results from elsewhere may carry any counts.
        let add = |a: &mut u64, b: u64| *a = a.saturating_add(b);
        add(&mut self.pages_skipped, other.pages_skipped);
        add(
            &mut self.pages_skipped_by_index,
            other.pages_skipped_by_index,
        );
        add(&mut self.pages_from_meta, other.pages_from_meta);
        add(&mut self.pages_from_index, other.pages_from_index);
        add(&mut self.pages_decoded, other.pages_decoded);
        add(&mut self.pages_damaged, other.pages_damaged);
        add(&mut self.rows_lost, other.rows_lost);
        add(&mut self.rows_scanned, other.rows_scanned);
        add(&mut self.rows_matched, other.rows_matched);
    }
}

impl Query {
    /// Check the query before running it.
    pub fn validate(&self) -> Result<()> {
        if self.aggregates.is_empty() {
            return Err(invalid("aggregates", "at least one aggregate is needed"));
        }
        for a in &self.aggregates {
            if let Aggregate::Percentile(q) = a {
                if !(*q > 0.0 && *q <= 1.0) {
                    return Err(invalid(
                        "aggregates",
                        format!("percentile {q} is outside (0, 1]"),
                    ));
                }
            }
        }
        for g in &self.group_by {
            match g {
                GroupBy::Time(0) => {
                    return Err(invalid("group_by", "a time bucket needs a width above 0"))
                }
                GroupBy::Field(k) if k.is_empty() => {
                    return Err(invalid("group_by", "a field key cannot be empty"))
                }
                _ => {}
            }
        }
        if let Some(order) = &self.order_by {
            let ok = match order.key {
                OrderKey::Aggregate(i) => i < self.aggregates.len(),
                OrderKey::Group(i) => i < self.group_by.len(),
            };
            if !ok {
                return Err(invalid(
                    "order_by",
                    format!("{:?} refers to no column of the query", order.key),
                ));
            }
        }
        Ok(())
    }

    fn needs_values(&self) -> bool {
        self.aggregates
            .iter()
            .any(|a| a.needs_values(self.precision))
    }

    fn uses_durations(&self) -> bool {
        self.aggregates.iter().any(Aggregate::uses_durations)
    }

    /// Whether the answer shows the durations' sum, mean, minimum or maximum (a percentile does
    /// not read them).
    fn shows_duration_totals(&self) -> bool {
        self.aggregates.iter().any(|a| {
            matches!(
                a,
                Aggregate::Sum | Aggregate::Mean | Aggregate::Min | Aggregate::Max
            )
        })
    }

    fn has_percentiles(&self) -> bool {
        self.aggregates
            .iter()
            .any(|a| matches!(a, Aggregate::Percentile(_)))
    }

    /// Whether the answer needs the span of the matching calls.
    fn wants_span(&self) -> bool {
        self.aggregates.contains(&Aggregate::Rate)
    }
}

fn invalid(option: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidOption {
        option,
        reason: reason.into(),
    }
}

/// Run `query` over `view`.
pub fn run(view: &View, query: &Query) -> Result<QueryResult> {
    query.validate()?;
    // Exact percentiles take passes (`exact.rs`) over the one-pass engine (`execute.rs`).
    let (groups, stats) = if query.precision == Precision::Exact && query.has_percentiles() {
        exact::aggregate(view, query)?
    } else {
        execute::aggregate(view, query)?
    };
    let span = if query.wants_span() {
        span::calls_seen(view, query)?
    } else {
        None
    };
    Ok(execute::finish(groups, stats, span, query))
}

/// Run `query` over `view` up to the mergeable state of its groups (see [`Partial`]).
pub fn run_partial(view: &View, query: &Query) -> Result<Partial> {
    Partial::run(view, query)
}

/// Queries as methods of a storage [`View`] (the view lives in the storage crate, which knows no
/// queries): `use laptime_core::Queries;` then `store.view()?.query(&q)`.
pub trait Queries {
    /// Run `query` over this view (see [`run`]).
    fn query(&self, query: &Query) -> Result<QueryResult>;

    /// Run `query` over this view up to a [`Partial`] result: merge it with the partials of
    /// other stores, then [`Partial::finish`] it into the answer one store holding all their
    /// events would give.
    fn query_partial(&self, query: &Query) -> Result<Partial>;
}

impl Queries for View {
    fn query(&self, query: &Query) -> Result<QueryResult> {
        run(self, query)
    }

    fn query_partial(&self, query: &Query) -> Result<Partial> {
        run_partial(self, query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_labels_name_the_nearest_double() {
        for (label, q) in [
            ("p99.9", 0.999),
            ("p99.99", 0.9999),
            ("p50", 0.5),
            ("p5", 0.05),
            ("p0.1", 0.001),
            ("p100", 1.0),
            ("p100.000", 1.0),
            ("p007.5", 0.075),
            ("p12.345678", 0.123_456_78),
        ] {
            assert_eq!(
                Aggregate::from_label(label).unwrap(),
                Aggregate::Percentile(q),
                "{label}"
            );
        }
        // Every percentile with at most six decimals of a percent survives label -> from_label.
        for millionths in (1..=100_000_000u64).step_by(7_919) {
            let q = format!("0.{millionths:0>8}").parse::<f64>().unwrap();
            let a = Aggregate::Percentile(q);
            assert_eq!(
                Aggregate::from_label(&a.label()).unwrap(),
                a,
                "{}",
                a.label()
            );
        }
        for bad in ["p", "p0", "p100.1", "p9.9.9", "p-1", "p1e2", "p."] {
            assert!(Aggregate::from_label(bad).is_err(), "{bad}");
        }
    }
}
