//! The coordinator's JSON answer: the result shaped as the TypeScript API's `query().run()` gives
//! it (`src/query.ts`), so a client of one store and a client of the fleet read the same thing,
//! plus the coverage.
//!
//! ```text
//! {
//!   "rows": [{"name": "Api.get", "count": 120, "errorRate": 0.01, "p99": 18234567}, ...],
//!   "columns": {"keys": ["name"], "values": ["count", "errorRate", "p99"]},
//!   "span": {"first": 1700000000000.001, "last": 1700000060000.5} | null,
//!   "stats": {"pagesTotal": .., "pagesSkipped": .., "pagesSkippedByIndex": ..,
//!             "pagesFromMeta": .., "pagesFromIndex": .., "pagesDecoded": ..,
//!             "pagesDamaged": .., "rowsLost": .., "rowsScanned": .., "rowsMatched": ..,
//!             "exactPercentiles": false},
//!   "coverage": {"answered": 2, "asked": 3, "complete": false,
//!                "summary": "2 of 3 indexers answered",
//!                "indexers": [{"url": "http://..", "outcome": "answered", "ms": 12.5,
//!                              "groups": 200, "bytes": 53211},
//!                             {"url": "http://..", "outcome": "timeout", "ms": 5000.1,
//!                              "reason": "no answer within 5000 ms"}, ...]}
//! }
//! ```
//!
//! Row columns are the key columns (`name`, the field's key, `time` as the bucket's start in epoch
//! ms) then the aggregates by label, `error_rate` spelled `errorRate` as the TypeScript builder
//! names it. Durations are integer ns; `count`, `calls`, `logs`, `errors` and `sum` are 0 when
//! nothing matched, the others null. Integers are exact in the JSON text (a JavaScript reader
//! rounds beyond 2^53 as it does for the addon's numbers).

use laptime_query::query::{AggValue, GroupValue, QueryResult, QueryStats};
use serde_json::{json, Map, Value};

use super::coverage::{Coverage, Outcome};
use super::fanout::Answer;

/// The JSON answer of a coordinated query.
pub fn to_json(answer: &Answer) -> Value {
    let mut v = result_json(&answer.result);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("coverage".into(), coverage_json(&answer.coverage));
    }
    v
}

/// A result as `{"rows", "span", "stats"}` (see the module documentation).
/// [`to_json`] as text, written row by row: a result of millions of groups never exists as a
/// tree of JSON values (several hundred bytes per row), only as its text.
pub fn to_json_text(answer: &Answer) -> String {
    let result = &answer.result;
    let columns = value_columns(result);
    let mut out: Vec<u8> = Vec::with_capacity(64 * result.rows.len() + 1024);
    out.extend_from_slice(b"{\"rows\":[");
    for (i, row) in result.rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'{');
        let keys = result
            .key_labels
            .iter()
            .zip(&row.key)
            .map(|(l, k)| (l, key_json(k)));
        let values = columns
            .iter()
            .zip(&result.value_labels)
            .zip(&row.values)
            .map(|((c, l), v)| (c, value_json(l, v)));
        for (j, (label, value)) in keys.chain(values).enumerate() {
            if j > 0 {
                out.push(b',');
            }
            // Writing a string or a scalar to a Vec cannot fail.
            let _ = serde_json::to_writer(&mut out, label);
            out.push(b':');
            let _ = serde_json::to_writer(&mut out, &value);
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]");
    let rest = json!({
        "columns": {"keys": result.key_labels, "values": columns},
        "span": span_json(result),
        "stats": stats_json(&result.stats),
        "coverage": coverage_json(&answer.coverage),
    });
    if let Value::Object(rest) = rest {
        for (k, v) in rest {
            out.push(b',');
            let _ = serde_json::to_writer(&mut out, &k);
            out.push(b':');
            let _ = serde_json::to_writer(&mut out, &v);
        }
    }
    out.push(b'}');
    String::from_utf8(out).unwrap_or_default()
}

/// The value columns as rows name them (`error_rate` is `errorRate`, as the TS builder names it).
fn value_columns(result: &QueryResult) -> Vec<String> {
    result
        .value_labels
        .iter()
        .map(|l| match l.as_str() {
            "error_rate" => "errorRate".to_owned(),
            other => other.to_owned(),
        })
        .collect()
}

fn span_json(result: &QueryResult) -> Value {
    match result.span {
        Some(s) => json!({"first": ms(s.first_ns), "last": ms(s.last_ns)}),
        None => Value::Null,
    }
}

pub fn result_json(result: &QueryResult) -> Value {
    let value_columns = value_columns(result);
    let rows: Vec<Value> = result
        .rows
        .iter()
        .map(|row| {
            let mut obj = Map::new();
            for (label, key) in result.key_labels.iter().zip(&row.key) {
                obj.insert(label.clone(), key_json(key));
            }
            for ((column, label), value) in value_columns
                .iter()
                .zip(&result.value_labels)
                .zip(&row.values)
            {
                obj.insert(column.clone(), value_json(label, value));
            }
            Value::Object(obj)
        })
        .collect();
    let span = span_json(result);
    // The row objects' keys in column order: lets a client put rows back into the engine's
    // positional form (src/fleet.ts).
    let columns = json!({"keys": result.key_labels, "values": value_columns});
    json!({"rows": rows, "columns": columns, "span": span, "stats": stats_json(&result.stats)})
}

fn key_json(key: &GroupValue) -> Value {
    match key {
        GroupValue::Null => Value::Null,
        GroupValue::Str(s) => Value::from(s.as_ref()),
        GroupValue::I64(v) => Value::from(*v),
        GroupValue::F64(v) => Value::from(*v),
        GroupValue::Bool(b) => Value::from(*b),
        GroupValue::Time(ns) => ms(*ns),
    }
}

fn value_json(label: &str, value: &AggValue) -> Value {
    match *value {
        AggValue::Count(v) | AggValue::Nanos(v) => Value::from(v),
        // u128: exact through serde's integer path (the crate's serde_json keeps literals).
        AggValue::Sum(v) => serde_json::to_value(v).unwrap_or_else(|_| Value::from(v as f64)),
        AggValue::Float(v) => Value::from(v),
        AggValue::None => match label {
            "count" | "calls" | "logs" | "errors" | "sum" => Value::from(0),
            _ => Value::Null,
        },
    }
}

/// Epoch ns as epoch ms (a double, as the TypeScript API gives times).
fn ms(ns: u64) -> Value {
    Value::from((ns / 1_000_000) as f64 + (ns % 1_000_000) as f64 / 1e6)
}

pub(super) fn stats_json(s: &QueryStats) -> Value {
    json!({
        "pagesTotal": s.pages_total,
        "pagesSkipped": s.pages_skipped,
        "pagesSkippedByIndex": s.pages_skipped_by_index,
        "pagesFromMeta": s.pages_from_meta,
        "pagesFromIndex": s.pages_from_index,
        "pagesDecoded": s.pages_decoded,
        "pagesDamaged": s.pages_damaged,
        "rowsLost": s.rows_lost,
        "rowsScanned": s.rows_scanned,
        "rowsMatched": s.rows_matched,
        "exactPercentiles": s.exact_percentiles,
    })
}

/// The coverage as `{"answered", "asked", "complete", "summary", "indexers": [...]}`.
pub fn coverage_json(c: &Coverage) -> Value {
    let indexers: Vec<Value> = c
        .indexers
        .iter()
        .map(|r| {
            let mut obj = Map::new();
            obj.insert("url".into(), r.url.clone().into());
            obj.insert("outcome".into(), r.outcome.kind().into());
            obj.insert("ms".into(), (r.elapsed.as_secs_f64() * 1e3).into());
            match &r.outcome {
                Outcome::Answered { groups, bytes } => {
                    obj.insert("groups".into(), (*groups).into());
                    obj.insert("bytes".into(), (*bytes).into());
                }
                Outcome::Failed { status, .. } => {
                    obj.insert("status".into(), (*status).into());
                    obj.insert("reason".into(), r.outcome.to_string().into());
                }
                other => {
                    obj.insert("reason".into(), other.to_string().into());
                }
            }
            Value::Object(obj)
        })
        .collect();
    json!({
        "answered": c.answered(),
        "asked": c.asked(),
        "complete": c.complete(),
        "summary": c.summary(),
        "indexers": indexers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use laptime_query::query::{Row, Span};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn rows_have_the_typescript_columns() {
        let result = QueryResult {
            key_labels: vec!["name".into(), "route".into(), "time".into()],
            value_labels: vec![
                "count".into(),
                "error_rate".into(),
                "sum".into(),
                "p99.9".into(),
                "mean".into(),
                "errors".into(),
            ],
            rows: vec![Row {
                key: vec![
                    GroupValue::Str(Arc::from("Api.get")),
                    GroupValue::Null,
                    GroupValue::Time(1_700_000_000_123_456_789),
                ],
                values: vec![
                    AggValue::Count(3),
                    AggValue::Float(0.5),
                    AggValue::Sum(u128::from(u64::MAX) * 4),
                    AggValue::Nanos(18_446_744_073_709_551_615),
                    AggValue::None,
                    AggValue::None,
                ],
            }],
            span: Some(Span {
                first_ns: 1_500_000,
                last_ns: 2_000_000,
            }),
            stats: QueryStats::default(),
        };
        let answer = Answer {
            result,
            coverage: Coverage {
                indexers: vec![super::super::coverage::IndexerReport {
                    url: "http://a".into(),
                    outcome: Outcome::Timeout {
                        after: Duration::from_millis(300),
                    },
                    elapsed: Duration::from_millis(301),
                }],
            },
        };
        let v = to_json(&answer);
        let text = v.to_string();
        assert!(
            text.contains(r#""sum":73786976294838206460"#),
            "exact u128: {text}"
        );
        assert!(text.contains(r#""p99.9":18446744073709551615"#), "{text}");
        assert_eq!(
            v["rows"][0],
            json!({"name": "Api.get", "route": null, "time": 1_700_000_000_123.0 + 456_789.0 / 1e6,
                   "count": 3, "errorRate": 0.5, "sum": v["rows"][0]["sum"].clone(),
                   "p99.9": v["rows"][0]["p99.9"].clone(), "mean": null, "errors": 0})
        );
        assert_eq!(v["span"], json!({"first": 1.5, "last": 2.0}));
        assert_eq!(v["coverage"]["summary"], "0 of 1 indexers answered");
        assert_eq!(v["coverage"]["indexers"][0]["outcome"], "timeout");
        assert_eq!(
            v["coverage"]["indexers"][0]["reason"],
            "no answer within 300 ms"
        );
        // The text written row by row says the same, to the digit.
        let streamed: Value = serde_json::from_str(&to_json_text(&answer)).unwrap();
        assert_eq!(streamed, v);
        let mut two = answer.clone();
        two.result.rows.push(two.result.rows[0].clone());
        two.result.rows[1].key[1] = GroupValue::Str(Arc::from("a \"quoted\" \u{1} route"));
        let streamed: Value = serde_json::from_str(&to_json_text(&two)).unwrap();
        assert_eq!(streamed, to_json(&two));
    }
}
