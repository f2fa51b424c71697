//! Queries and event listings: JS request objects to core [`Query`] / [`EventsRequest`], the async
//! tasks that run them on a read view, and their results as plain JS objects.

// The free `#[napi]` functions are referenced only by napi's registration, which test builds omit.
#![cfg_attr(test, allow(dead_code))]

use std::collections::HashMap;

use laptime_core::filter::{self, FilterError};
use laptime_core::query::{
    self, Aggregate, EventPage, EventsRequest, GroupBy, OrderBy, OrderKey, Precision, Query,
    SortOrder,
};
use laptime_core::{Code, Value};
use napi::bindgen_prelude::AsyncTask;
use napi::bindgen_prelude::{BigInt, Either4};
use napi::{Env, Task};
use napi_derive::napi;

use crate::answer::{NativeQueryResult, Packed};
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

/// 2^53 - 1: the largest whole number every double between it and zero holds exactly.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

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
#[napi(catch_unwind)]
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
#[napi(catch_unwind)]
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
#[napi(catch_unwind)]
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
    type Output = Packed;
    type JsValue = NativeQueryResult;

    // The core's error code becomes the rejection's `code` (see errors.rs).
    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<Self::JsValue> {
        Err(errors::coded(&env, err))
    }

    fn compute(&mut self) -> napi::Result<Packed> {
        errors::guarded(|| {
            let source = self.source.take().ok_or_else(errors::closed)?;
            let view = source.view().map_err(errors::from_core)?;
            let result = query::run(&view, &self.query).map_err(errors::from_core)?;
            Ok(Packed::new(result))
        })
    }

    fn resolve(&mut self, _env: Env, answer: Packed) -> napi::Result<NativeQueryResult> {
        Ok(answer.into_js())
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
        errors::guarded(|| {
            let source = self.source.take().ok_or_else(errors::closed)?;
            let view = source.view().map_err(errors::from_core)?;
            query::events(&view, &self.request).map_err(errors::from_core)
        })
    }

    fn resolve(&mut self, _env: Env, page: EventPage) -> napi::Result<NativeEventPage> {
        Ok(page.into())
    }
}
