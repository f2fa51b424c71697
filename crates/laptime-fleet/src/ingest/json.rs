//! `POST /v1/events`: calls and log lines as JSON (`{"events":[...]}` or a bare array) or NDJSON
//! (one event object per line), parsed into an [`IngestBatch`] or refused whole with a
//! [`BadInput`] that names the event and the JSON path (`events[3].duration_ns: -1 is not a
//! duration (>= 0 ns)`).
//!
//! One event is an object with these keys, and no others:
//!
//! | key | for | value |
//! |---|---|---|
//! | `name` | all | non-empty string, at most 4,096 bytes |
//! | `start` | all | epoch ns as an integer or a string of digits, or an RFC 3339 time with up to 9 fractional digits; 1970 to 2554 |
//! | `duration_ns` | calls | integer >= 0 (or a string of digits) |
//! | `duration_ms` | calls | number >= 0: a decimal literal is exact to the ns (digits beyond are rounded half up), one with an exponent goes through f64 |
//! | `ok` | calls | boolean, default `true` |
//! | `level` | logs | `trace`, `debug`, `info`, `warn`, `error` or `fatal`: its presence makes the event a log line |
//! | `message` | logs | string, default "" |
//! | `fields` | all | object of string, boolean or number values |
//!
//! Numbers are read exactly: an integer literal is an i64 field (one beyond the i64 range is
//! refused, never rounded), a literal with a fraction or exponent is an f64 field. Integers are
//! never passed through f64, so `start` and `duration_ns` keep every nanosecond whatever their size.
//! A key given twice in one object keeps its last value (as `JSON.parse` does).

use laptime_storage::{Level, ValueRef};
use serde_json::{Map, Value};

use super::batch::{Builder, IngestBatch};
use super::error::{show, show_str, BadInput};
use super::time::{parse_digits, parse_rfc3339};

const KEYS: [&str; 8] = [
    "name",
    "start",
    "duration_ns",
    "duration_ms",
    "ok",
    "level",
    "message",
    "fields",
];
const EVENT_KEYS: &str = "name, start, duration_ns, duration_ms, ok, level, message, fields";

/// Events of a JSON body: `{"events":[...]}` or `[...]`; at most `max_events`.
pub fn parse_json(body: &[u8], max_events: usize) -> Result<IngestBatch, BadInput> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| syntax_error(&e, 0))?;
    let (events, prefix) = match doc {
        Value::Array(events) => (events, ""),
        Value::Object(mut top) => {
            if let Some(key) = top.keys().find(|k| *k != "events") {
                return Err(BadInput::at(
                    "",
                    format!(
                        "unknown top-level key {}: send {{\"events\":[...]}}, a JSON array of events, or NDJSON (one event per line)",
                        show_str(key)
                    ),
                ));
            }
            match top.remove("events") {
                Some(Value::Array(events)) => (events, "events"),
                Some(other) => {
                    return Err(BadInput::at(
                        "events",
                        format!("must be an array of events, got {}", show(&other)),
                    ))
                }
                None => {
                    return Err(BadInput::at(
                        "",
                        "the object has no \"events\" array: send {\"events\":[...]}",
                    ))
                }
            }
        }
        other => {
            return Err(BadInput::at(
                "",
                format!(
                    "the body must be {{\"events\":[...]}} or an array of events, got {}",
                    show(&other)
                ),
            ))
        }
    };
    too_many(events.len(), max_events)?;
    let mut b = Builder::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        // Paths are built only for an error.
        push_event(&mut b, event, &|key: &str| format!("{prefix}[{i}]{key}"))?;
    }
    Ok(b.finish())
}

/// Events of an NDJSON body, one object per line (blank lines are skipped); at most `max_events`.
pub fn parse_ndjson(body: &[u8], max_events: usize) -> Result<IngestBatch, BadInput> {
    let mut b = Builder::with_capacity(body.len() / 128);
    for (n, line) in body.split(|&c| c == b'\n').enumerate() {
        let line_no = n + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if b.len() >= max_events {
            too_many(b.len() + 1, max_events)?;
        }
        let event: Value = serde_json::from_slice(line).map_err(|e| syntax_error(&e, line_no))?;
        push_event(&mut b, &event, &|key: &str| {
            if key.is_empty() {
                format!("line {line_no}")
            } else {
                format!("line {line_no}: {}", key.trim_start_matches('.'))
            }
        })?;
    }
    Ok(b.finish())
}

fn too_many(n: usize, max: usize) -> Result<(), BadInput> {
    if n > max {
        return Err(BadInput::status(
            413,
            "",
            format!("the request holds {n} or more events, more than the limit of {max} per request: send smaller requests"),
        ));
    }
    Ok(())
}

/// A JSON syntax error with its place (`line L column C`, the NDJSON line when `line_no` > 0).
fn syntax_error(e: &serde_json::Error, line_no: usize) -> BadInput {
    let at = if line_no > 0 {
        format!("line {line_no} column {}", e.column())
    } else {
        format!("line {} column {}", e.line(), e.column())
    };
    // serde_json appends " at line L column C"; the place is in `at` already.
    let text = e.to_string();
    let reason = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(r, _)| r);
    BadInput::at(at, format!("malformed JSON: {reason}"))
}

/// Check one event and add it to the batch. `at(".key")` is the path of a key of this event.
fn push_event(b: &mut Builder, event: &Value, at: &dyn Fn(&str) -> String) -> Result<(), BadInput> {
    let Value::Object(obj) = event else {
        return Err(BadInput::at(
            at(""),
            format!("an event must be an object, got {}", show(event)),
        ));
    };
    if let Some(key) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(BadInput::at(
            at(&format!("[{}]", show_str(key))),
            format!("unknown key {}; an event has {EVENT_KEYS}", show_str(key)),
        ));
    }
    let name = match obj.get("name") {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(BadInput::at(
                at(".name"),
                format!("must be a string, got {}", show(other)),
            ))
        }
        None => {
            return Err(BadInput::at(
                at(".name"),
                "is missing: every event needs a name",
            ))
        }
    };
    let start = start_ns(obj.get("start"), &|| at(".start"))?;
    let row = if let Some(level) = obj.get("level") {
        let level = parse_level(level, &|| at(".level"))?;
        for key in ["duration_ns", "duration_ms", "ok"] {
            if obj.contains_key(key) {
                return Err(BadInput::at(
                    at(&format!(".{key}")),
                    "a log event (it has \"level\") takes no duration or ok: send calls and log lines as separate events",
                ));
            }
        }
        let message = match obj.get("message") {
            None => "",
            Some(Value::String(m)) => m.as_str(),
            Some(other) => {
                return Err(BadInput::at(
                    at(".message"),
                    format!("must be a string, got {}", show(other)),
                ))
            }
        };
        b.log(name, &|| at(".name"), start, level, message)?
    } else {
        if obj.contains_key("message") {
            return Err(BadInput::at(
                at(".message"),
                "only log events carry a message: add \"level\" to make this a log line",
            ));
        }
        let duration = duration_ns(obj, at)?;
        let ok = match obj.get("ok") {
            None => true,
            Some(Value::Bool(ok)) => *ok,
            Some(other) => {
                return Err(BadInput::at(
                    at(".ok"),
                    format!("must be true or false, got {}", show(other)),
                ))
            }
        };
        b.call(name, &|| at(".name"), start, duration, ok)?
    };
    match obj.get("fields") {
        None => Ok(()),
        Some(Value::Object(fields)) => push_fields(b, row, fields, at),
        Some(other) => Err(BadInput::at(
            at(".fields"),
            format!("must be an object of key/values, got {}", show(other)),
        )),
    }
}

fn push_fields(
    b: &mut Builder,
    row: u32,
    fields: &Map<String, Value>,
    at: &dyn Fn(&str) -> String,
) -> Result<(), BadInput> {
    for (key, value) in fields {
        let here = || at(&format!(".fields[{}]", show_str(key)));
        let v = match value {
            Value::String(s) => ValueRef::Str(s),
            Value::Bool(v) => ValueRef::Bool(*v),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    ValueRef::I64(i)
                } else if n.is_u64() {
                    return Err(BadInput::at(
                        here(),
                        format!("{n} is beyond the 64-bit signed range a whole-number field holds"),
                    ));
                } else {
                    // Numbers keep their literal (serde_json `arbitrary_precision`): an integer
                    // literal beyond u64 is refused rather than rounded to an f64.
                    let literal_int = !n.to_string().contains(['.', 'e', 'E']);
                    match n.as_f64() {
                        Some(f) if f.is_finite() && !literal_int => ValueRef::F64(f),
                        _ if !literal_int => {
                            return Err(BadInput::at(
                                here(),
                                format!("{} is beyond the range of a 64-bit float", show(value)),
                            ))
                        }
                        _ => {
                            return Err(BadInput::at(
                                here(),
                                format!(
                                "{} is beyond the 64-bit signed range a whole-number field holds",
                                show(value)
                            ),
                            ))
                        }
                    }
                }
            }
            Value::Null => {
                return Err(BadInput::at(
                    here(),
                    "null is not a field value: leave the key out",
                ))
            }
            other => {
                return Err(BadInput::at(
                    here(),
                    format!("must be a string, boolean or number, got {}", show(other)),
                ))
            }
        };
        b.field(row, key, &here, v)?;
    }
    Ok(())
}

/// `start`: an integer of epoch ns, a string of digits, or an RFC 3339 time.
fn start_ns(v: Option<&Value>, at: &dyn Fn() -> String) -> Result<u64, BadInput> {
    match v {
        None => Err(BadInput::at(
            at(),
            "is missing: every event needs a start (epoch ns, or an RFC 3339 time)",
        )),
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| {
            BadInput::at(
                at(),
                format!("{n} is not a start: epoch nanoseconds are a whole number from 0 to 2^64-1"),
            )
        }),
        Some(Value::String(s)) => match parse_digits(s) {
            Some(r) => r.map_err(|e| BadInput::at(at(), e)),
            None => parse_rfc3339(s).map_err(|e| BadInput::at(at(), e)),
        },
        Some(other) => Err(BadInput::at(
            at(),
            format!(
                "must be epoch nanoseconds (an integer or a string of digits) or an RFC 3339 time, got {}",
                show(other)
            ),
        )),
    }
}

/// The duration of a call from `duration_ns` or `duration_ms` (exactly one of them).
fn duration_ns(obj: &Map<String, Value>, at: &dyn Fn(&str) -> String) -> Result<u64, BadInput> {
    match (obj.get("duration_ns"), obj.get("duration_ms")) {
        (Some(_), Some(_)) => Err(BadInput::at(
            at(".duration_ms"),
            "give duration_ns or duration_ms, not both",
        )),
        (None, None) => Err(BadInput::at(
            at(".duration_ns"),
            "is missing: a call needs duration_ns or duration_ms (or \"level\" to make it a log line)",
        )),
        (Some(v), None) => {
            let here = || at(".duration_ns");
            match v {
                Value::Number(n) => n.as_u64().ok_or_else(|| {
                    BadInput::at(
                        here(),
                        format!("{n} is not a duration (a whole number of ns, >= 0)"),
                    )
                }),
                Value::String(s) => match parse_digits(s) {
                    Some(r) => r.map_err(|e| BadInput::at(here(), e)),
                    None => Err(BadInput::at(
                        here(),
                        format!("{} is not a duration (a whole number of ns, >= 0)", show_str(s)),
                    )),
                },
                other => Err(BadInput::at(
                    here(),
                    format!("must be a whole number of ns, got {}", show(other)),
                )),
            }
        }
        (None, Some(v)) => {
            let here = || at(".duration_ms");
            let Value::Number(n) = v else {
                return Err(BadInput::at(
                    here(),
                    format!("must be a number of ms, got {}", show(v)),
                ));
            };
            // A plain decimal literal is exact; one with an exponent goes through f64.
            let literal = n.to_string();
            let ns = match decimal_ms_to_ns(&literal) {
                Some(exact) => exact,
                None if !literal.contains(['e', 'E']) => None,
                None => n
                    .as_f64()
                    .map(|ms| (ms * 1e6).round())
                    .filter(|ns| *ns >= 0.0 && *ns < 18_446_744_073_709_551_616.0)
                    .map(|ns| ns as u64),
            };
            ns.ok_or_else(|| {
                BadInput::at(
                    here(),
                    format!("{n} is not a duration (>= 0 ms, at most 2^64-1 ns)"),
                )
            })
        }
    }
}

/// ns of a decimal literal of ms (`12`, `1.2`, `0.0000005`), rounded half up to the ns: `None` when
/// it is no plain decimal, `Some(None)` when it is negative or beyond 2^64-1 ns.
fn decimal_ms_to_ns(literal: &str) -> Option<Option<u64>> {
    if literal.contains(['e', 'E']) {
        return None;
    }
    if literal.starts_with('-') {
        return Some(None);
    }
    let (whole, frac) = literal.split_once('.').unwrap_or((literal, ""));
    if !whole
        .bytes()
        .chain(frac.bytes())
        .all(|c| c.is_ascii_digit())
        || whole.is_empty()
    {
        return None;
    }
    let mut ns: u128 = 0;
    for d in whole.bytes() {
        ns = ns * 10 + u128::from(d - b'0');
        if ns > u128::from(u64::MAX) {
            return Some(None);
        }
    }
    let mut sub = 0u128;
    let mut digits = frac.bytes();
    for _ in 0..6 {
        sub = sub * 10 + digits.next().map_or(0, |d| u128::from(d - b'0'));
    }
    let round_up = digits.next().is_some_and(|d| d >= b'5');
    let total = ns * 1_000_000 + sub + u128::from(round_up);
    Some(u64::try_from(total).ok())
}

fn parse_level(v: &Value, at: &dyn Fn() -> String) -> Result<Level, BadInput> {
    if let Value::String(s) = v {
        if let Some(level) = Level::ALL.iter().find(|l| l.as_str() == s) {
            return Ok(*level);
        }
    }
    Err(BadInput::at(
        at(),
        format!(
            "{} is not a level: one of trace, debug, info, warn, error, fatal",
            show(v)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use laptime_storage::{Code, Value as FieldValue};

    fn err(body: &str) -> BadInput {
        parse_json(body.as_bytes(), 1000).expect_err(body)
    }

    #[test]
    fn a_call_and_a_log_with_exact_numbers() {
        let body = r#"{"events":[
            {"name":"checkout","start":"2026-12-03T10:00:00.123456789Z","duration_ns":18446744073709551615,"ok":false,
             "fields":{"route":"/pay","n":9007199254740993,"x":1.5,"hit":true,"neg":-9223372036854775808}},
            {"name":"log","start":"1796292000123456789","level":"warn","message":"slow","fields":{"big":"123"}}]}"#;
        let got = parse_json(body.as_bytes(), 10).unwrap().events();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].name, "checkout");
        assert_eq!(got[0].start_ns, 1_796_292_000_123_456_789);
        assert_eq!(got[0].duration_ns, u64::MAX);
        assert_eq!(got[0].code, Code::CallError);
        assert_eq!(
            got[0].fields,
            vec![
                ("hit".into(), FieldValue::Bool(true)),
                ("n".into(), FieldValue::I64(9_007_199_254_740_993)),
                ("neg".into(), FieldValue::I64(i64::MIN)),
                ("route".into(), FieldValue::Str("/pay".into())),
                ("x".into(), FieldValue::F64(1.5)),
            ]
        );
        assert_eq!(got[1].code, Code::Log(Level::Warn));
        assert_eq!(got[1].message.as_deref(), Some("slow"));
        assert_eq!(got[1].start_ns, 1_796_292_000_123_456_789);
    }

    #[test]
    fn errors_name_the_event_and_the_path() {
        let e = err(
            r#"{"events":[{"name":"a","start":1,"duration_ns":1},{"name":"b","start":1,"duration_ns":-1}]}"#,
        );
        assert_eq!(e.at, "events[1].duration_ns");
        assert!(
            e.message
                .starts_with("events[1].duration_ns: -1 is not a duration"),
            "{}",
            e.message
        );
        let e = err(r#"[{"name":"a","start":1,"duration_ns":1,"fields":{"http.route":[1]}}]"#);
        assert_eq!(e.at, r#"[0].fields["http.route"]"#);
        let e =
            err(r#"[{"name":"a","start":1,"duration_ns":1,"fields":{"n":9223372036854775808}}]"#);
        assert!(e.message.contains("beyond the 64-bit"), "{}", e.message);
        let e =
            err(r#"[{"name":"a","start":1,"duration_ns":1,"fields":{"n":18446744073709551616}}]"#);
        assert!(
            e.message.contains("beyond the 64-bit signed"),
            "{}",
            e.message
        );
        let e = err(r#"[{"name":"a","start":1,"duration_ns":1,"fields":{"n":1e400}}]"#);
        assert!(
            e.message.contains("beyond the range of a 64-bit float"),
            "{}",
            e.message
        );
        let e = err(r#"[{"name":"a","start":18446744073709551616,"duration_ns":1}]"#);
        assert_eq!(e.at, "[0].start");
        let e = err(r#"[{"name":"a","start":1,"duration_ns":1"#);
        assert!(e.at.starts_with("line 1 column"), "{}", e.at);
        assert!(e.message.starts_with("line 1 column"), "{}", e.message);
        let e = err(r#"[{"name":"a","start":1,"duration":1}]"#);
        assert!(
            e.message.contains("unknown key \"duration\""),
            "{}",
            e.message
        );
        let e = err(r#"{"events":[],"extra":1}"#);
        assert!(
            e.message.contains("unknown top-level key \"extra\""),
            "{}",
            e.message
        );
        let e = err(r#"[{"name":"","start":1,"duration_ns":1}]"#);
        assert_eq!(e.at, "[0].name");
        let e = err(r#"[{"name":"a","start":1.5,"duration_ns":1}]"#);
        assert_eq!(e.at, "[0].start");
        let e = err(r#"[{"name":"a","start":1,"level":"loud"}]"#);
        assert_eq!(e.at, "[0].level");
        let e = err(r#"[{"name":"a","start":1,"level":"info","duration_ns":3}]"#);
        assert_eq!(e.at, "[0].duration_ns");
    }

    #[test]
    fn ndjson_names_the_line() {
        let body = "{\"name\":\"a\",\"start\":1,\"duration_ms\":1.25}\n\n{\"name\":\"b\",\"start\":2,\"duration_ns\":\"x\"}\n";
        let e = parse_ndjson(body.as_bytes(), 10).unwrap_err();
        assert_eq!(e.at, "line 3: duration_ns");
        let ok =
            parse_ndjson(b"{\"name\":\"a\",\"start\":1,\"duration_ms\":1.25}\r\n", 10).unwrap();
        assert_eq!(ok.batch.durations(), &[1_250_000]);
        for (ms, ns) in [
            ("0.0000005", 1),
            ("0.0000004", 0),
            ("1.2", 1_200_000),
            ("3", 3_000_000),
            ("1e-3", 1000),
        ] {
            let line = format!("{{\"name\":\"a\",\"start\":1,\"duration_ms\":{ms}}}");
            assert_eq!(
                parse_ndjson(line.as_bytes(), 1).unwrap().batch.durations(),
                &[ns],
                "{ms}"
            );
        }
        let line = "{\"name\":\"a\",\"start\":1,\"duration_ms\":-0.5}";
        assert_eq!(
            parse_ndjson(line.as_bytes(), 1).unwrap_err().at,
            "line 1: duration_ms"
        );
        let e = parse_ndjson(b"{\"name\":\"a\"\n", 10).unwrap_err();
        assert!(e.at.starts_with("line 1 column"), "{}", e.at);
        let many = "{\"name\":\"a\",\"start\":1,\"duration_ns\":1}\n".repeat(3);
        assert_eq!(parse_ndjson(many.as_bytes(), 2).unwrap_err().status, 413);
        assert_eq!(parse_ndjson(many.as_bytes(), 3).unwrap().len(), 3);
    }
}
