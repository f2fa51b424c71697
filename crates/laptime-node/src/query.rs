//! Queries and event listings: JS request objects to core [`Query`] / [`EventsRequest`], the async
//! tasks that run them on a read view, and their results as plain JS objects.

// The free `#[napi]` functions are referenced only by napi's registration, which test builds omit.
#![cfg_attr(test, allow(dead_code))]

use std::collections::HashMap;

use laptime_core::filter::{self, FilterError};
use laptime_core::query::{
    self, Aggregate, EventPage, EventsRequest, GroupBy, GroupValue, OrderBy, OrderKey, Precision,
    Query, QueryResult, QueryStats, SortOrder,
};
use laptime_core::{Code, Value};
use napi::bindgen_prelude::AsyncTask;
use napi::bindgen_prelude::{BigInt, Either3, Either4, Float64Array};
use napi::{Env, Task};
use napi_derive::napi;

use crate::errors::{self, Malformed};
use crate::source::Source;
use crate::time;

/// A grouping dimension: `{ by: 'name' }`, `{ by: 'field', key: 'route' }` or
/// `{ by: 'time', width: '1m' }`.
#[napi(object)]
pub struct NativeGroupBy {
    /// `name`, `field` or `time`.
    pub by: String,
    /// The field key (for `field`).
    pub key: Option<String>,
    /// Bucket width as a duration such as `1m` (for `time`).
    pub width: Option<String>,
}

/// A query. Aggregates are labels: `count`, `errors`, `error_rate`, `sum`, `mean`, `min`, `max`,
/// `stddev`, `p50`, `p99.9`...
#[napi(object)]
pub struct NativeQuery {
    /// Filter string (empty or absent: everything).
    pub filter: Option<String>,
    /// "Now" for relative times, epoch ms (default: the current time).
    pub now_ms: Option<f64>,
    /// Grouping dimensions, in key order.
    pub group_by: Option<Vec<NativeGroupBy>>,
    /// Aggregate labels, in column order.
    pub aggregates: Vec<String>,
    /// Sort by this column label (an aggregate's or a group key's).
    pub order_by: Option<String>,
    /// Sort descending.
    pub descending: Option<bool>,
    /// Keep the first rows only.
    pub limit: Option<u32>,
    /// Exact percentiles (decode every page) instead of sketches.
    pub exact: Option<bool>,
}

/// A group key value: string, number (time buckets in epoch ms), boolean or null (no such field).
/// 2^53 - 1: the largest whole number every double between it and zero holds exactly.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

type KeyValue = Option<Either3<String, f64, bool>>;

/// What the engine did.
#[napi(object)]
pub struct NativeQueryStats {
    /// Pages in the store.
    pub pages_total: f64,
    /// Pages ruled out by their zone maps or indexes.
    pub pages_skipped: f64,
    /// Of those, the pages only an index ruled out.
    pub pages_skipped_by_index: f64,
    /// Pages answered from their counts and sketches.
    pub pages_from_meta: f64,
    /// Of those, the pages answered from the value index.
    pub pages_from_index: f64,
    /// Pages decoded.
    pub pages_decoded: f64,
    /// Rows of decoded pages examined.
    pub rows_scanned: f64,
    /// Events that matched.
    pub rows_matched: f64,
    /// Whether percentiles are exact.
    pub exact_percentiles: bool,
}

/// A query's answer.
#[napi(object)]
pub struct NativeQueryResult {
    /// Labels of the key columns.
    pub key_labels: Vec<String>,
    /// Labels of the value columns.
    pub value_labels: Vec<String>,
    /// Groups in the answer.
    pub row_count: u32,
    /// One column per group dimension, each with one value per row: string, number (time buckets
    /// in epoch ms), boolean, or null for events without the field.
    pub keys: Vec<Vec<Option<Either3<String, f64, bool>>>>,
    /// The aggregates, row after row (`value_labels` of them a row); NaN where a row has nothing
    /// to aggregate. One typed array rather than an object and two arrays a row: a row of those
    /// cost JS about a microsecond (a fifth of a 200-group answer's time through Node).
    pub values: Float64Array,
    /// When the matching calls were seen (set when `rate` is asked for and a call matched).
    pub span: Option<NativeSpan>,
    /// Execution figures.
    pub stats: NativeQueryStats,
}

/// Start times of the first and the last matching call, epoch ms (fractional).
#[napi(object)]
pub struct NativeSpan {
    pub first_ms: f64,
    pub last_ms: f64,
}

/// A syntax error in a filter string, a duration or a time.
#[napi(object)]
pub struct NativeFilterError {
    /// `SYNTAX`, `BAD_DURATION`, `BAD_TIME`, `OUT_OF_RANGE` or `BAD_VALUE`.
    pub code: String,
    /// Byte offset (UTF-8) in the filter.
    pub position: u32,
    /// What would have been valid there.
    pub expected: String,
    /// What was there.
    pub found: String,
    /// `at N: expected X, found Y`.
    pub message: String,
}

/// The outcome of parsing a filter: its canonical text, or the error.
#[napi(object)]
pub struct NativeParsedFilter {
    /// Canonical form (parses back to the same filter); absent on error.
    pub canonical: Option<String>,
    /// The syntax error, if any.
    pub error: Option<NativeFilterError>,
}

/// Parse a filter string without running anything (for validating input early).
#[napi]
pub fn parse_filter(text: String) -> NativeParsedFilter {
    match filter::parse(&text) {
        Ok(f) => NativeParsedFilter {
            canonical: Some(f.to_string()),
            error: None,
        },
        Err(e) => NativeParsedFilter {
            canonical: None,
            error: Some(filter_error(&e)),
        },
    }
}

/// The outcome of parsing a duration: nanoseconds and canonical text, or the error.
#[napi(object)]
pub struct NativeParsedDuration {
    /// Nanoseconds, exact; absent on error.
    pub ns: Option<BigInt>,
    /// The same duration in its largest exact unit (`1.5h` -> `90m`); absent on error.
    pub canonical: Option<String>,
    /// The syntax error, if any.
    pub error: Option<NativeFilterError>,
}

/// A duration of the one duration grammar (`250us`, `1.5h`, `7d`, `1w`); errors come back as data.
#[napi]
pub fn parse_duration(text: String) -> NativeParsedDuration {
    match filter::parse_duration(&text) {
        Ok(ns) => NativeParsedDuration {
            ns: Some(BigInt::from(ns)),
            canonical: Some(filter::format_duration(ns)),
            error: None,
        },
        Err(e) => NativeParsedDuration {
            ns: None,
            canonical: None,
            error: Some(filter_error(&e)),
        },
    }
}

/// The outcome of parsing a time: the instant (resolved against "now"), or the error.
#[napi(object)]
pub struct NativeParsedTime {
    /// Epoch nanoseconds, exact (0 for relative times reaching before 1970); absent on error.
    pub epoch_ns: Option<BigInt>,
    /// The same instant in epoch milliseconds (a double); absent on error.
    pub epoch_ms: Option<f64>,
    /// Whether the text is relative to "now" (`7d`, `now`).
    pub relative: Option<bool>,
    /// Canonical text, as a filter prints it (relative stays relative); absent on error.
    pub canonical: Option<String>,
    /// The syntax error, if any.
    pub error: Option<NativeFilterError>,
}

/// A time of the one time grammar (`now`, `7d` or `-7d` before now, epoch ms, ISO 8601), resolved
/// against `nowMs` (default: the current time); errors come back as data. Throws a TypeError only
/// for a bad `nowMs`.
#[napi]
pub fn parse_time(env: &Env, text: String, now_ms: Option<f64>) -> napi::Result<NativeParsedTime> {
    let now_ns = now(now_ms).map_err(|e| e.throw(env))?;
    Ok(match filter::parse_time(&text) {
        Ok(bound) => {
            let ns = bound.resolve(now_ns);
            NativeParsedTime {
                epoch_ns: Some(BigInt::from(ns)),
                epoch_ms: Some((ns / 1_000_000) as f64 + (ns % 1_000_000) as f64 / 1e6),
                relative: Some(matches!(bound, filter::TimeBound::AgoNs(_))),
                canonical: Some(bound.to_string()),
                error: None,
            }
        }
        Err(e) => NativeParsedTime {
            epoch_ns: None,
            epoch_ms: None,
            relative: None,
            canonical: None,
            error: Some(filter_error(&e)),
        },
    })
}

fn filter_error(e: &FilterError) -> NativeFilterError {
    NativeFilterError {
        code: e.code.as_str().to_string(),
        position: u32::try_from(e.position).unwrap_or(u32::MAX),
        expected: e.expected.clone(),
        found: e.found.clone(),
        message: e.to_string(),
    }
}

pub(crate) fn parse(text: Option<&str>) -> Result<filter::Filter, Malformed> {
    filter::parse(text.unwrap_or("")).map_err(|e| Malformed(format!("invalid filter {e}")))
}

pub(crate) fn now(now_ms: Option<f64>) -> Result<u64, Malformed> {
    match now_ms {
        None => Ok(laptime_core::clock::now_ns()),
        Some(ms) => time::bound_ns(ms)
            .ok_or_else(|| Malformed(format!("nowMs must be epoch milliseconds, got {ms}"))),
    }
}

/// The core query of a JS query.
pub(crate) fn to_query(js: NativeQuery) -> Result<Query, Malformed> {
    let mut group_by = Vec::new();
    for (i, g) in js.group_by.unwrap_or_default().into_iter().enumerate() {
        group_by.push(match (g.by.as_str(), g.key, g.width) {
            ("name", None, None) => GroupBy::Name,
            ("field", Some(key), None) if !key.is_empty() => GroupBy::Field(key),
            ("time", None, Some(width)) => match filter::parse_duration(&width) {
                Ok(ns) if ns > 0 => GroupBy::Time(ns),
                _ => {
                    return Err(Malformed(format!(
                        "groupBy[{i}].width must be a duration above 0 such as 1m, got {width:?}"
                    )))
                }
            },
            (by, ..) => {
                return Err(Malformed(format!(
                    "groupBy[{i}] must be {{ by: 'name' }}, {{ by: 'field', key }} or \
                     {{ by: 'time', width }}, got by {by:?} with other properties"
                )))
            }
        });
    }
    let aggregates = js
        .aggregates
        .iter()
        .map(|label| Aggregate::from_label(label))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Malformed(errors::from_core(e).reason))?;
    let order_by = match js.order_by {
        None => None,
        Some(label) => {
            let key = aggregates
                .iter()
                .position(|a| a.label() == label)
                .map(OrderKey::Aggregate)
                .or_else(|| {
                    group_by
                        .iter()
                        .position(|g| match g {
                            GroupBy::Name => label == "name",
                            GroupBy::Field(k) => *k == label,
                            GroupBy::Time(_) => label == "time",
                        })
                        .map(OrderKey::Group)
                })
                .ok_or_else(|| {
                    Malformed(format!(
                        "orderBy {label:?} is not a column of the query (an aggregate or group key)"
                    ))
                })?;
            Some(OrderBy {
                key,
                descending: js.descending.unwrap_or(false),
            })
        }
    };
    Ok(Query {
        filter: parse(js.filter.as_deref())?,
        now_ns: now(js.now_ms)?,
        group_by,
        aggregates,
        order_by,
        limit: js.limit.map(|l| l as usize),
        precision: if js.exact.unwrap_or(false) {
            Precision::Exact
        } else {
            Precision::Auto
        },
        threads: 0,
    })
}

fn key_value(v: GroupValue) -> KeyValue {
    match v {
        GroupValue::Null => None,
        GroupValue::Str(s) => Some(Either3::A(s.to_string())),
        GroupValue::I64(x) => Some(Either3::B(x as f64)),
        GroupValue::F64(x) => Some(Either3::B(x)),
        GroupValue::Bool(b) => Some(Either3::C(b)),
        // Epoch ms: a JS number holds epoch ns only to about 256 ns, ms to sub-microseconds.
        GroupValue::Time(ns) => Some(Either3::B(ns as f64 / 1e6)),
    }
}

impl From<QueryResult> for NativeQueryResult {
    fn from(r: QueryResult) -> NativeQueryResult {
        let s = r.stats;
        let mut keys: Vec<Vec<KeyValue>> = r
            .key_labels
            .iter()
            .map(|_| Vec::with_capacity(r.rows.len()))
            .collect();
        let mut values = Vec::with_capacity(r.rows.len() * r.value_labels.len());
        let row_count = r.rows.len() as u32;
        for row in r.rows {
            for (column, k) in keys.iter_mut().zip(row.key) {
                column.push(key_value(k));
            }
            values.extend(row.values.iter().map(|v| v.as_f64().unwrap_or(f64::NAN)));
        }
        NativeQueryResult {
            key_labels: r.key_labels,
            value_labels: r.value_labels,
            row_count,
            keys,
            values: Float64Array::new(values),
            span: r.span.map(|s| NativeSpan {
                first_ms: s.first_ns as f64 / 1e6,
                last_ms: s.last_ns as f64 / 1e6,
            }),
            stats: s.into(),
        }
    }
}

impl From<QueryStats> for NativeQueryStats {
    fn from(s: QueryStats) -> NativeQueryStats {
        NativeQueryStats {
            pages_total: s.pages_total as f64,
            pages_skipped: s.pages_skipped as f64,
            pages_skipped_by_index: s.pages_skipped_by_index as f64,
            pages_from_meta: s.pages_from_meta as f64,
            pages_from_index: s.pages_from_index as f64,
            pages_decoded: s.pages_decoded as f64,
            rows_scanned: s.rows_scanned as f64,
            rows_matched: s.rows_matched as f64,
            exact_percentiles: s.exact_percentiles,
        }
    }
}

/// `query()` on the libuv pool.
pub struct QueryTask {
    pub(crate) source: Option<Source>,
    pub(crate) query: Query,
}

impl QueryTask {
    /// The task for `request` on `source`; malformed requests throw a TypeError.
    pub(crate) fn start(
        env: &Env,
        source: Option<Source>,
        request: NativeQuery,
    ) -> napi::Result<AsyncTask<QueryTask>> {
        let query = to_query(request).map_err(|m| m.throw(env))?;
        Ok(AsyncTask::new(QueryTask { source, query }))
    }
}

impl Task for QueryTask {
    type Output = QueryResult;
    type JsValue = NativeQueryResult;

    // The core's error code becomes the rejection's `code` (see errors.rs).
    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<Self::JsValue> {
        Err(errors::coded(&env, err))
    }

    fn compute(&mut self) -> napi::Result<QueryResult> {
        let source = self.source.take().ok_or_else(errors::closed)?;
        let view = source.view().map_err(errors::from_core)?;
        query::run(&view, &self.query).map_err(errors::from_core)
    }

    fn resolve(&mut self, _env: Env, result: QueryResult) -> napi::Result<NativeQueryResult> {
        Ok(result.into())
    }
}

/// An events listing request.
#[napi(object)]
pub struct NativeEventsRequest {
    /// Filter string.
    pub filter: Option<String>,
    /// "Now" for relative times, epoch ms.
    pub now_ms: Option<f64>,
    /// Page size (default 100).
    pub limit: Option<u32>,
    /// Continue after this cursor.
    pub cursor: Option<String>,
    /// `newest` (default) or `oldest` first.
    pub order: Option<String>,
}

/// One event.
#[napi(object)]
pub struct NativeEvent {
    /// Function or logger name.
    pub name: String,
    /// Start, epoch ns.
    pub start_ns: BigInt,
    /// Start, epoch ms (rounded to what a JS number holds).
    pub start_ms: f64,
    /// Duration, ns.
    pub duration_ns: f64,
    /// `call` or `log`.
    #[napi(ts_type = "'call' | 'log'")]
    pub kind: String,
    /// `ok` / `error` for calls.
    #[napi(ts_type = "'ok' | 'error'")]
    pub status: Option<String>,
    /// Level name for logs.
    #[napi(ts_type = "'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'")]
    pub level: Option<String>,
    /// Log message.
    pub message: Option<String>,
    /// Fields by key.
    pub fields: HashMap<String, Either4<String, f64, bool, BigInt>>,
    /// Writer partition and position: with `startNs`, the event's identity.
    pub partition: String,
    /// Position in the partition.
    pub seq: f64,
}

/// A page of events.
#[napi(object)]
pub struct NativeEventPage {
    /// The events, in order.
    pub events: Vec<NativeEvent>,
    /// Cursor for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// The core request of a JS events request.
pub(crate) fn to_events_request(js: NativeEventsRequest) -> Result<EventsRequest, Malformed> {
    let order = match js.order.as_deref() {
        None | Some("newest") => SortOrder::NewestFirst,
        Some("oldest") => SortOrder::OldestFirst,
        Some(other) => {
            return Err(Malformed(format!(
                "order must be 'newest' or 'oldest', got {other:?}"
            )))
        }
    };
    Ok(EventsRequest {
        filter: parse(js.filter.as_deref())?,
        now_ns: now(js.now_ms)?,
        limit: js.limit.map_or(100, |l| l as usize),
        cursor: js.cursor,
        order,
    })
}

impl NativeEvent {
    /// The JS shape of a core event found at `partition`/`seq`.
    pub(crate) fn new(e: laptime_core::Event, partition: String, seq: u64) -> NativeEvent {
        let (kind, status, level) = match e.code {
            Code::CallOk => ("call", Some("ok"), None),
            Code::CallError => ("call", Some("error"), None),
            Code::Log(level) => ("log", None, Some(level.as_str())),
        };
        NativeEvent {
            name: e.name,
            start_ns: BigInt::from(e.start_ns),
            start_ms: e.start_ns as f64 / 1e6,
            duration_ns: e.duration_ns as f64,
            kind: kind.into(),
            status: status.map(Into::into),
            level: level.map(Into::into),
            message: e.message,
            fields: e
                .fields
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::Str(s) => Either4::A(s),
                        // Whole numbers a double holds exactly are numbers; larger ones bigints.
                        Value::I64(x) if x.unsigned_abs() <= MAX_SAFE_INTEGER => {
                            Either4::B(x as f64)
                        }
                        Value::I64(x) => Either4::D(BigInt::from(x)),
                        Value::F64(x) => Either4::B(x),
                        Value::Bool(b) => Either4::C(b),
                    };
                    (k, v)
                })
                .collect(),
            partition,
            seq: seq as f64,
        }
    }
}

impl From<EventPage> for NativeEventPage {
    fn from(page: EventPage) -> NativeEventPage {
        NativeEventPage {
            events: page
                .events
                .into_iter()
                .map(|l| NativeEvent::new(l.event, l.partition.to_string(), l.seq))
                .collect(),
            next_cursor: page.next_cursor,
        }
    }
}

/// `events()` on the libuv pool.
pub struct EventsTask {
    pub(crate) source: Option<Source>,
    pub(crate) request: EventsRequest,
}

impl EventsTask {
    /// The task for `request` on `source`; malformed requests throw a TypeError.
    pub(crate) fn start(
        env: &Env,
        source: Option<Source>,
        request: NativeEventsRequest,
    ) -> napi::Result<AsyncTask<EventsTask>> {
        let request = to_events_request(request).map_err(|m| m.throw(env))?;
        Ok(AsyncTask::new(EventsTask { source, request }))
    }
}

impl Task for EventsTask {
    type Output = EventPage;
    type JsValue = NativeEventPage;

    // The core's error code becomes the rejection's `code` (see errors.rs).
    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<Self::JsValue> {
        Err(errors::coded(&env, err))
    }

    fn compute(&mut self) -> napi::Result<EventPage> {
        let source = self.source.take().ok_or_else(errors::closed)?;
        let view = source.view().map_err(errors::from_core)?;
        query::events(&view, &self.request).map_err(errors::from_core)
    }

    fn resolve(&mut self, _env: Env, page: EventPage) -> napi::Result<NativeEventPage> {
        Ok(page.into())
    }
}
