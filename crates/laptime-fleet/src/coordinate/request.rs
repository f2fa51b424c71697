//! A query on the wire: the JSON object the TypeScript layer already hands the engine
//! (`NativeQuery` in `src/native.ts`), so one shape serves the coordinator's clients and the
//! coordinator's requests to the indexers. Every part is spelled in a grammar that exists: the
//! filter in the filter language, time-bucket widths in the duration grammar, aggregates as their
//! column labels ([`Aggregate::from_label`]).
//!
//! ```text
//! {
//!   "filter":     "name:Api.* since:1h",       optional, default "" (everything)
//!   "nowNs":      "1700000000000000000",       optional: "now" of relative bounds, epoch ns as a
//!                                              decimal string (or an integer); or
//!   "nowMs":      1700000000000.5,             epoch ms (not both); default: the time of decoding
//!   "groupBy":    [{"by": "name"}, {"by": "field", "key": "route"}, {"by": "time", "width": "1m"}],
//!   "aggregates": ["count", "errors", "p99"],  optional, default ["count"]
//!   "orderBy":    "p99",                       optional: a column label (aggregate or group key)
//!   "descending": true,                        optional, default false
//!   "limit":      10,                          optional, 0 ..= 2^32 - 1
//!   "exact":      false                        optional: exact percentiles instead of sketches
//! }
//! ```
//!
//! Decoding checks everything and names the bad part ([`BadRequest::at`]: `filter`,
//! `groupBy[1].width`, `aggregates[0]`, an unknown key...); a filter that does not parse also
//! gives the byte position. Two columns with one label are refused, as the TypeScript builder
//! refuses them: rows travel as objects keyed by label. `nowNs` travels as a string because
//! JavaScript numbers hold epoch nanoseconds only to about 256 ns, and partials of one query must
//! agree on it to the nanosecond.

use std::collections::HashSet;

use laptime_query::filter::{self, FilterError};
use laptime_query::query::{Aggregate, GroupBy, OrderBy, OrderKey, Precision, Query};
use serde_json::{Map, Value};

/// Keys a request object may have.
const KEYS: [&str; 9] = [
    "filter",
    "nowNs",
    "nowMs",
    "groupBy",
    "aggregates",
    "orderBy",
    "descending",
    "limit",
    "exact",
];

/// A request that is not a query: what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest {
    /// The part of the request (`filter`, `groupBy[1].width`, ...), "" for the whole body.
    pub at: String,
    /// What is wrong, starting with the part.
    pub message: String,
    /// For a filter that does not parse: the parser's error (byte position, expected, found).
    pub filter_error: Option<FilterError>,
}

impl BadRequest {
    pub(crate) fn new(at: impl Into<String>, reason: impl std::fmt::Display) -> BadRequest {
        let at = at.into();
        let message = if at.is_empty() {
            reason.to_string()
        } else {
            format!("{at}: {reason}")
        };
        BadRequest {
            at,
            message,
            filter_error: None,
        }
    }

    /// The JSON body of the 400 answer: `{"error", "at"}`, plus `position`, `expected`, `found`
    /// and `code` for a filter error.
    pub fn to_json(&self) -> Value {
        let mut body = serde_json::json!({"error": self.message, "at": self.at});
        if let (Some(e), Some(obj)) = (&self.filter_error, body.as_object_mut()) {
            obj.insert("position".into(), e.position.into());
            obj.insert("expected".into(), e.expected.clone().into());
            obj.insert("found".into(), e.found.clone().into());
            obj.insert("code".into(), e.code.as_str().into());
        }
        body
    }
}

impl std::fmt::Display for BadRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BadRequest {}

/// The query a request body asks for; `now_ns` is used when it names no "now".
pub fn decode(body: &[u8], now_ns: u64) -> Result<Query, BadRequest> {
    from_object(&object(body)?, now_ns)
}

/// The body as a JSON object.
pub(super) fn object(body: &[u8]) -> Result<Map<String, Value>, BadRequest> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| BadRequest::new("", format!("the body is not JSON: {e}")))?;
    match value {
        Value::Object(obj) => Ok(obj),
        other => Err(BadRequest::new(
            "",
            format!("the body must be a JSON object, got {}", kind(&other)),
        )),
    }
}

/// The request's `filter` (none: everything).
pub(super) fn filter(obj: &Map<String, Value>) -> Result<filter::Filter, BadRequest> {
    match obj.get("filter") {
        None | Some(Value::Null) => Ok(filter::Filter::default()),
        Some(Value::String(text)) => filter::parse(text).map_err(|e| BadRequest {
            at: "filter".into(),
            message: format!(
                "filter: at byte {}: expected {}, found {}",
                e.position, e.expected, e.found
            ),
            filter_error: Some(e),
        }),
        Some(v) => Err(BadRequest::new("filter", expected("a string", v))),
    }
}

/// The request's "now" (`nowNs` or `nowMs`), else `default`.
pub(super) fn now(obj: &Map<String, Value>, default: u64) -> Result<u64, BadRequest> {
    match (obj.get("nowNs"), obj.get("nowMs")) {
        (Some(_), Some(_)) => Err(BadRequest::new("nowMs", "give nowNs or nowMs, not both")),
        (Some(v), None) => now_from_ns(v),
        (None, Some(v)) => now_from_ms(v),
        (None, None) => Ok(default),
    }
}

fn from_object(obj: &Map<String, Value>, now_ns: u64) -> Result<Query, BadRequest> {
    if let Some(key) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(BadRequest::new(
            show(key),
            format!("unknown key; a query has {}", KEYS.join(", ")),
        ));
    }
    let filter = filter(obj)?;
    let now_ns = now(obj, now_ns)?;
    let group_by = match obj.get("groupBy") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(dims)) => dims
            .iter()
            .enumerate()
            .map(|(i, d)| group_by(i, d))
            .collect::<Result<_, _>>()?,
        Some(v) => return Err(BadRequest::new("groupBy", expected("an array", v))),
    };
    let aggregates = match obj.get("aggregates") {
        None | Some(Value::Null) => vec![Aggregate::Count],
        Some(Value::Array(labels)) if labels.is_empty() => {
            return Err(BadRequest::new(
                "aggregates",
                "at least one aggregate is needed",
            ))
        }
        Some(Value::Array(labels)) => labels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let at = format!("aggregates[{i}]");
                match l {
                    Value::String(s) => {
                        Aggregate::from_label(s).map_err(|e| BadRequest::new(at, reason_of(&e)))
                    }
                    v => Err(BadRequest::new(at, expected("a label such as p99", v))),
                }
            })
            .collect::<Result<_, _>>()?,
        Some(v) => return Err(BadRequest::new("aggregates", expected("an array", v))),
    };
    let descending = match obj.get("descending") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => return Err(BadRequest::new("descending", expected("true or false", v))),
    };
    let limit = match obj.get("limit") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64().filter(|&n| n <= u64::from(u32::MAX)) {
            Some(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            None => {
                return Err(BadRequest::new(
                    "limit",
                    expected("a whole number in 0..=4294967295", v),
                ))
            }
        },
    };
    let precision = match obj.get("exact") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Precision::Auto,
        Some(Value::Bool(true)) => Precision::Exact,
        Some(v) => return Err(BadRequest::new("exact", expected("true or false", v))),
    };
    let labels = columns(&group_by, &aggregates)?;
    let order_by = match obj.get("orderBy") {
        None | Some(Value::Null) => None,
        Some(Value::String(label)) => {
            let i = labels.iter().position(|l| l == label).ok_or_else(|| {
                BadRequest::new(
                    "orderBy",
                    format!(
                        "{} is not a column of the query ({})",
                        show(label),
                        labels.join(", ")
                    ),
                )
            })?;
            // Key columns come first in `labels`.
            let key = match i.checked_sub(group_by.len()) {
                None => OrderKey::Group(i),
                Some(a) => OrderKey::Aggregate(a),
            };
            Some(OrderBy { key, descending })
        }
        Some(v) => return Err(BadRequest::new("orderBy", expected("a column label", v))),
    };
    let query = Query {
        filter,
        now_ns,
        group_by,
        aggregates,
        order_by,
        limit,
        precision,
        threads: 0,
    };
    query
        .validate()
        .map_err(|e| BadRequest::new("", reason_of(&e)))?;
    Ok(query)
}

fn group_by(i: usize, dim: &Value) -> Result<GroupBy, BadRequest> {
    let at = format!("groupBy[{i}]");
    let shape = "{\"by\": \"name\"}, {\"by\": \"field\", \"key\": K} or {\"by\": \"time\", \"width\": \"1m\"}";
    let Value::Object(d) = dim else {
        return Err(BadRequest::new(at, expected(shape, dim)));
    };
    let by = d.get("by").and_then(Value::as_str).unwrap_or("");
    let allowed: &[&str] = match by {
        "name" => &["by"],
        "field" => &["by", "key"],
        "time" => &["by", "width"],
        _ => return Err(BadRequest::new(format!("{at}.by"), expected(shape, dim))),
    };
    if let Some(k) = d.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(BadRequest::new(
            format!("{at}.{k}"),
            format!("not a property of a {by} dimension ({shape})"),
        ));
    }
    match by {
        "name" => Ok(GroupBy::Name),
        "field" => match d.get("key") {
            Some(Value::String(k)) if !k.is_empty() => Ok(GroupBy::Field(k.clone())),
            v => Err(BadRequest::new(
                format!("{at}.key"),
                expected("a non-empty field key", v.unwrap_or(&Value::Null)),
            )),
        },
        _ => match d.get("width") {
            Some(Value::String(w)) => match filter::parse_duration(w) {
                Ok(ns) if ns > 0 => Ok(GroupBy::Time(ns)),
                Ok(_) => Err(BadRequest::new(
                    format!("{at}.width"),
                    "a time bucket needs a width above 0",
                )),
                Err(e) => Err(BadRequest::new(
                    format!("{at}.width"),
                    format!("{} is not a duration such as 1m: {e}", show(w)),
                )),
            },
            v => Err(BadRequest::new(
                format!("{at}.width"),
                expected("a duration such as \"1m\"", v.unwrap_or(&Value::Null)),
            )),
        },
    }
}

fn now_from_ns(v: &Value) -> Result<u64, BadRequest> {
    let parsed = match v {
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<u64>().ok()
        }
        Value::Number(n) => n.as_u64(),
        _ => None,
    };
    parsed.ok_or_else(|| {
        BadRequest::new(
            "nowNs",
            expected("epoch nanoseconds as a decimal string below 2^64", v),
        )
    })
}

fn now_from_ms(v: &Value) -> Result<u64, BadRequest> {
    const MAX_MS: f64 = u64::MAX as f64 / 1e6;
    match v.as_f64() {
        Some(ms) if ms.is_finite() && (0.0..MAX_MS).contains(&ms) => {
            // Whole ms exactly; the fraction to the ns a double holds.
            let whole = ms.trunc();
            let frac_ns = ((ms - whole) * 1e6).round() as u64;
            Ok((whole as u64)
                .saturating_mul(1_000_000)
                .saturating_add(frac_ns))
        }
        _ => Err(BadRequest::new(
            "nowMs",
            expected("epoch milliseconds (a number >= 0)", v),
        )),
    }
}

/// The column labels of a query's rows (key columns first), refusing a label used twice.
pub fn columns(group_by: &[GroupBy], aggregates: &[Aggregate]) -> Result<Vec<String>, BadRequest> {
    let labels: Vec<String> = group_by
        .iter()
        .map(key_label)
        .chain(aggregates.iter().map(Aggregate::label))
        .collect();
    let mut seen = HashSet::new();
    for l in &labels {
        if !seen.insert(l.as_str()) {
            return Err(BadRequest::new(
                "",
                format!(
                    "the query has two columns named {}: rows are objects keyed by column",
                    show(l)
                ),
            ));
        }
    }
    Ok(labels)
}

/// The label of a key column, as `QueryResult::key_labels` has it.
pub(crate) fn key_label(g: &GroupBy) -> String {
    match g {
        GroupBy::Name => "name".into(),
        GroupBy::Field(k) => k.clone(),
        GroupBy::Time(_) => "time".into(),
    }
}

/// The request that [`decode`]s to `query` (`threads` aside). Refused: a query that is not
/// valid, with two columns of one label, or with a percentile its label does not name exactly
/// (labels carry six decimals of a percent: `p99.9999`), since the indexers would answer
/// another query.
pub fn encode(query: &Query) -> Result<Vec<u8>, BadRequest> {
    query
        .validate()
        .map_err(|e| BadRequest::new("", reason_of(&e)))?;
    let labels = columns(&query.group_by, &query.aggregates)?;
    let mut aggregates = Vec::with_capacity(query.aggregates.len());
    for (i, a) in query.aggregates.iter().enumerate() {
        let label = a.exact_label().ok_or_else(|| {
            BadRequest::new(
                format!("aggregates[{i}]"),
                format!(
                    "{a:?} cannot be named exactly by a label ({} is another percentile)",
                    a.label()
                ),
            )
        })?;
        aggregates.push(Value::from(label));
    }
    let group_by: Vec<Value> = query
        .group_by
        .iter()
        .map(|g| match g {
            GroupBy::Name => serde_json::json!({"by": "name"}),
            GroupBy::Field(k) => serde_json::json!({"by": "field", "key": k}),
            GroupBy::Time(w) => {
                serde_json::json!({"by": "time", "width": filter::format_duration(*w)})
            }
        })
        .collect();
    let mut obj = Map::new();
    obj.insert("filter".into(), query.filter.to_string().into());
    obj.insert("nowNs".into(), query.now_ns.to_string().into());
    obj.insert("groupBy".into(), group_by.into());
    obj.insert("aggregates".into(), aggregates.into());
    if let Some(order) = query.order_by {
        let i = match order.key {
            OrderKey::Group(i) => i,
            OrderKey::Aggregate(i) => query.group_by.len() + i,
        };
        if let Some(label) = labels.get(i) {
            obj.insert("orderBy".into(), label.clone().into());
            obj.insert("descending".into(), order.descending.into());
        }
    }
    if let Some(limit) = query.limit {
        let limit = u32::try_from(limit)
            .map_err(|_| BadRequest::new("limit", format!("{limit} is beyond 4294967295")))?;
        obj.insert("limit".into(), limit.into());
    }
    if query.precision == Precision::Exact {
        obj.insert("exact".into(), true.into());
    }
    Ok(Value::Object(obj).to_string().into_bytes())
}

/// The reason of a core error without its "invalid option" prefix.
fn reason_of(e: &laptime_storage::Error) -> String {
    match e {
        laptime_storage::Error::InvalidOption { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

pub(super) fn expected(what: &str, got: &Value) -> String {
    format!("expected {what}, got {}", crate::ingest::error::show(got))
}

pub(super) fn show(s: &str) -> String {
    crate::ingest::error::show_str(s)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_123_456_789;

    fn bad(body: &str) -> BadRequest {
        decode(body.as_bytes(), NOW).expect_err(body)
    }

    #[test]
    fn a_full_request_decodes_and_encodes_back() {
        let q = decode(
            br#"{"filter":"name:Api.*  kind:call duration>10ms since:1h","nowNs":"1700000000000000001",
                 "groupBy":[{"by":"name"},{"by":"field","key":"route"},{"by":"time","width":"1.5m"}],
                 "aggregates":["count","error_rate","p99.9","rate"],"orderBy":"p99.9","descending":true,
                 "limit":7,"exact":true}"#,
            NOW,
        )
        .unwrap();
        assert_eq!(q.now_ns, 1_700_000_000_000_000_001);
        assert_eq!(
            q.group_by,
            [
                GroupBy::Name,
                GroupBy::Field("route".into()),
                GroupBy::Time(90_000_000_000)
            ]
        );
        assert_eq!(
            q.aggregates,
            [
                Aggregate::Count,
                Aggregate::ErrorRate,
                Aggregate::Percentile(0.999),
                Aggregate::Rate
            ]
        );
        assert_eq!(
            q.order_by,
            Some(OrderBy {
                key: OrderKey::Aggregate(2),
                descending: true
            })
        );
        assert_eq!(q.limit, Some(7));
        assert_eq!(q.precision, Precision::Exact);
        let again = decode(&encode(&q).unwrap(), 0).unwrap();
        assert_eq!(again, q);

        // Defaults: everything, count, now from the caller; ordering by a key column.
        let q = decode(br#"{"groupBy":[{"by":"name"}],"orderBy":"name"}"#, NOW).unwrap();
        assert_eq!(q.aggregates, [Aggregate::Count]);
        assert_eq!(q.now_ns, NOW);
        assert!(q.filter.terms.is_empty());
        assert_eq!(q.order_by.map(|o| o.key), Some(OrderKey::Group(0)));
        assert_eq!(decode(&encode(&q).unwrap(), 0).unwrap(), q);
        assert_eq!(
            decode(br#"{"nowMs":1700000000123.25}"#, 0).unwrap().now_ns,
            1_700_000_000_123_250_000
        );
    }

    #[test]
    fn a_percentile_beyond_six_decimals_travels_exactly() {
        // What `laptime top --events` asks for: the percentile above which the slowest n calls lie.
        let q = decode(
            br#"{"aggregates":["p99.99466666666667","p50"],"groupBy":[{"by":"name"}]}"#,
            NOW,
        )
        .unwrap();
        let again = decode(&encode(&q).unwrap(), 1).unwrap();
        assert_eq!(again.aggregates, q.aggregates);
        assert_ne!(
            Aggregate::from_label(&q.aggregates[0].label()).unwrap(),
            q.aggregates[0],
            "the six-decimal label alone would name another percentile"
        );
    }

    #[test]
    fn a_bad_filter_names_its_byte_position() {
        let e = bad(r#"{"filter":"name:a duration>10xs"}"#);
        assert_eq!(e.at, "filter");
        let fe = e.filter_error.clone().unwrap();
        assert_eq!(fe.position, 16, "{e}");
        assert!(e.message.contains("at byte 16"), "{e}");
        let json = e.to_json();
        assert_eq!(json["position"], 16);
        assert_eq!(json["at"], "filter");
        assert_eq!(bad(r#"{"filter":"name:\"open"}"#).at, "filter");
        assert_eq!(bad(r#"{"filter":42}"#).at, "filter");
    }

    #[test]
    fn every_other_bad_part_is_named() {
        for (body, at) in [
            ("[1]", ""),
            ("{", ""),
            (r#"{"filtr":""}"#, "\"filtr\""),
            (r#"{"nowNs":"12x"}"#, "nowNs"),
            (r#"{"nowNs":"18446744073709551616"}"#, "nowNs"),
            (r#"{"nowNs":"1","nowMs":1}"#, "nowMs"),
            (r#"{"nowMs":-1}"#, "nowMs"),
            (r#"{"groupBy":{"by":"name"}}"#, "groupBy"),
            (
                r#"{"groupBy":[{"by":"name"},{"by":"host"}]}"#,
                "groupBy[1].by",
            ),
            (r#"{"groupBy":[{"by":"field"}]}"#, "groupBy[0].key"),
            (r#"{"groupBy":[{"by":"field","key":""}]}"#, "groupBy[0].key"),
            (r#"{"groupBy":[{"by":"name","key":"x"}]}"#, "groupBy[0].key"),
            (
                r#"{"groupBy":[{"by":"time","width":"0s"}]}"#,
                "groupBy[0].width",
            ),
            (
                r#"{"groupBy":[{"by":"time","width":"soon"}]}"#,
                "groupBy[0].width",
            ),
            (r#"{"aggregates":[]}"#, "aggregates"),
            (r#"{"aggregates":["count","p101"]}"#, "aggregates[1]"),
            (r#"{"aggregates":[99]}"#, "aggregates[0]"),
            (r#"{"orderBy":"p99"}"#, "orderBy"),
            (r#"{"descending":"yes"}"#, "descending"),
            (r#"{"limit":-1}"#, "limit"),
            (r#"{"limit":4294967296}"#, "limit"),
            (r#"{"exact":1}"#, "exact"),
            (r#"{"aggregates":["count","count"]}"#, ""),
            (r#"{"groupBy":[{"by":"field","key":"count"}]}"#, ""),
        ] {
            let e = bad(body);
            assert_eq!(e.at, at, "{body}: {e}");
            assert!(e.message.starts_with(at), "{body}: {e}");
        }
    }

    #[test]
    fn a_percentile_with_many_digits_is_sent_as_itself() {
        let q = Query {
            aggregates: vec![Aggregate::Percentile(0.123_456_789)],
            ..Query::default()
        };
        let again = decode(&encode(&q).unwrap(), 1).unwrap();
        assert_eq!(again.aggregates, q.aggregates);
    }
}
