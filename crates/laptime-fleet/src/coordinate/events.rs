//! Listing events over the fleet, newest (or oldest) first, with a cursor.
//!
//! Events of every store are in one total order, `(start, partition id, tie)`
//! ([`EventPosition`]): partition ids are unique across stores. So the fleet needs no cursor of its
//! own: the coordinator sends the same request (with the last page's cursor) to every indexer,
//! each lists the events after that position in its store, and the coordinator keeps the first
//! `limit` of their union in that order. The next cursor is the position of the last event kept;
//! an indexer that missed a page (down, slow) has its events after the cursor listed when it
//! answers again, so a listing over a fleet with an indexer away misses its events (the coverage
//! says so) but never repeats one.
//!
//! Request (`POST /v1/events`, the shape the TypeScript layer hands the addon):
//!
//! ```text
//! {"filter": "name:api.* since:1h", "nowNs": "1700000000000000000" | "nowMs": 1.7e12,
//!  "limit": 100, "cursor": "<from nextCursor>", "order": "newest" | "oldest"}
//! ```
//!
//! Answer: `{"events": [...], "nextCursor": "..." | null}` (plus `"coverage"` from the
//! coordinator). An event: `name`, `startNs` (a decimal string: exact), `startMs`, `durationNs`,
//! `kind` (`call`/`log`), `status` (calls: `ok`/`error`), `level` and `message` (logs), `fields`
//! (integers beyond 2^53 as decimal strings, their keys listed in `bigints`), `partition`, `seq`,
//! and `cursor` (the position right after it).

use std::cmp::Ordering;

use bytes::Bytes;
use laptime_query::query::MAX_EVENTS_LIMIT;
use laptime_query::query::{EventPage, EventPosition, EventsRequest, ListedEvent, SortOrder};
use laptime_storage::{Code, Value as FieldValue};
use serde_json::{json, Map, Value};

use super::coverage::{Coverage, Outcome};
use super::error::Error;
use super::fanout::Coordinator;
use super::request::{self, BadRequest};

/// Keys an events request may have.
const KEYS: [&str; 6] = ["filter", "nowNs", "nowMs", "limit", "cursor", "order"];
/// Integers a JavaScript number holds exactly.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// The listing a request body asks for; `now_ns` is used when it names no "now".
pub fn decode_request(body: &[u8], now_ns: u64) -> Result<EventsRequest, BadRequest> {
    let obj = request::object(body)?;
    if let Some(key) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(BadRequest::new(
            request::show(key),
            format!("unknown key; an events request has {}", KEYS.join(", ")),
        ));
    }
    let filter = request::filter(&obj)?;
    let now_ns = request::now(&obj, now_ns)?;
    let limit = match obj.get("limit") {
        None | Some(Value::Null) => 100,
        Some(v) => match v
            .as_u64()
            .filter(|n| (1..=MAX_EVENTS_LIMIT as u64).contains(n))
        {
            Some(n) => n as usize,
            None => {
                return Err(BadRequest::new(
                    "limit",
                    request::expected(&format!("a whole number in 1..={MAX_EVENTS_LIMIT}"), v),
                ))
            }
        },
    };
    let cursor = match obj.get("cursor") {
        None | Some(Value::Null) => None,
        Some(Value::String(c)) => {
            EventPosition::parse(c).map_err(|e| BadRequest::new("cursor", e.to_string()))?;
            Some(c.clone())
        }
        Some(v) => return Err(BadRequest::new("cursor", request::expected("a string", v))),
    };
    let order = match obj.get("order") {
        None | Some(Value::Null) => SortOrder::NewestFirst,
        Some(Value::String(s)) if s == "newest" => SortOrder::NewestFirst,
        Some(Value::String(s)) if s == "oldest" => SortOrder::OldestFirst,
        Some(v) => {
            return Err(BadRequest::new(
                "order",
                request::expected("\"newest\" or \"oldest\"", v),
            ))
        }
    };
    Ok(EventsRequest {
        filter,
        now_ns,
        limit,
        cursor,
        order,
    })
}

/// The request as the coordinator sends it on (its "now" pinned to the nanosecond).
pub fn encode_request(req: &EventsRequest) -> Vec<u8> {
    let mut obj = json!({
        "filter": req.filter.to_string(),
        "nowNs": req.now_ns.to_string(),
        "limit": req.limit,
        "order": match req.order {
            SortOrder::NewestFirst => "newest",
            SortOrder::OldestFirst => "oldest",
        },
    });
    if let (Some(c), Some(o)) = (&req.cursor, obj.as_object_mut()) {
        o.insert("cursor".into(), Value::from(c.as_str()));
    }
    obj.to_string().into_bytes()
}

/// One listed event as JSON (see the module docs).
pub fn event_json(e: &ListedEvent) -> Value {
    let ev = &e.event;
    let mut obj = Map::new();
    obj.insert("name".into(), Value::from(ev.name.as_str()));
    obj.insert("startNs".into(), Value::from(ev.start_ns.to_string()));
    obj.insert("startMs".into(), Value::from(ev.start_ns as f64 / 1e6));
    obj.insert("durationNs".into(), Value::from(ev.duration_ns));
    match ev.code {
        Code::CallOk | Code::CallError => {
            obj.insert("kind".into(), "call".into());
            let ok = ev.code == Code::CallOk;
            obj.insert("status".into(), (if ok { "ok" } else { "error" }).into());
        }
        Code::Log(level) => {
            obj.insert("kind".into(), "log".into());
            obj.insert("level".into(), level.as_str().into());
        }
    }
    if let Some(m) = &ev.message {
        obj.insert("message".into(), Value::from(m.as_str()));
    }
    let mut fields = Map::new();
    let mut bigints = Vec::new();
    for (k, v) in &ev.fields {
        let v = match v {
            FieldValue::Str(s) => Value::from(s.as_str()),
            FieldValue::I64(x) if x.unsigned_abs() <= MAX_SAFE_INTEGER => Value::from(*x),
            FieldValue::I64(x) => {
                bigints.push(Value::from(k.as_str()));
                Value::from(x.to_string())
            }
            FieldValue::F64(x) => {
                serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number)
            }
            FieldValue::Bool(b) => Value::from(*b),
        };
        fields.insert(k.clone(), v);
    }
    obj.insert("fields".into(), Value::Object(fields));
    if !bigints.is_empty() {
        obj.insert("bigints".into(), Value::Array(bigints));
    }
    obj.insert("partition".into(), Value::from(e.partition.as_ref()));
    obj.insert("seq".into(), Value::from(e.seq));
    obj.insert("cursor".into(), Value::from(e.position.cursor()));
    Value::Object(obj)
}

/// One store's page as JSON (an indexer's answer).
pub fn page_json(page: &EventPage) -> Value {
    json!({
        "events": page.events.iter().map(event_json).collect::<Vec<_>>(),
        "nextCursor": page.next_cursor,
    })
}

/// A listing over the fleet: events as JSON in listing order, the next cursor, the coverage.
#[derive(Debug, Clone)]
pub struct FleetEvents {
    pub events: Vec<Value>,
    pub next_cursor: Option<String>,
    pub coverage: Coverage,
}

impl FleetEvents {
    /// The coordinator's answer.
    pub fn to_json(&self) -> Value {
        json!({
            "events": self.events,
            "nextCursor": self.next_cursor,
            "coverage": super::answer::coverage_json(&self.coverage),
        })
    }
}

/// One indexer's page, decoded: each event with its position, and whether more followed.
#[derive(Debug)]
struct IndexerPage {
    events: Vec<(EventPosition, Value)>,
    more: bool,
}

fn decode_page(bytes: &[u8]) -> Result<IndexerPage, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let events = v
        .get("events")
        .and_then(Value::as_array)
        .ok_or("no \"events\" array")?;
    let more = !v.get("nextCursor").is_none_or(Value::is_null);
    let events = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let cursor = e
                .get("cursor")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("events[{i}] has no cursor"))?;
            let pos = EventPosition::parse(cursor).map_err(|err| format!("events[{i}]: {err}"))?;
            Ok((pos, e.clone()))
        })
        .collect::<Result<_, String>>()?;
    Ok(IndexerPage { events, more })
}

impl Coordinator {
    /// List events over every indexer: the first `req.limit` after `req.cursor` in `req.order`,
    /// merged by position. [`Error::NoAnswer`] when no indexer answered.
    pub async fn events(&self, req: &EventsRequest) -> Result<FleetEvents, Error> {
        let body = Bytes::from(encode_request(req));
        let (pages, coverage) = self
            .ask_all(
                |ix| ix.events.clone(),
                body,
                self.max_answer_bytes(),
                |bytes: Bytes| async move {
                    let n = bytes.len();
                    match tokio::task::spawn_blocking(move || decode_page(&bytes)).await {
                        Ok(Ok(page)) => {
                            let count = page.events.len();
                            Ok((page, count, n))
                        }
                        Ok(Err(reason)) => Err(Outcome::BadAnswer { reason }),
                        Err(e) => Err(Outcome::BadAnswer {
                            reason: format!("decoding it failed: {e}"),
                        }),
                    }
                },
            )
            .await;
        if pages.is_empty() {
            return Err(Error::NoAnswer(coverage));
        }
        let mut more = pages.iter().any(|p| p.more);
        let mut all: Vec<(EventPosition, Value)> =
            pages.into_iter().flat_map(|p| p.events).collect();
        let newest_first = req.order == SortOrder::NewestFirst;
        all.sort_by(|a, b| {
            let o = a.0.cmp(&b.0);
            if newest_first {
                o.reverse()
            } else {
                o
            }
        });
        // Two indexers never hold one position; if a misconfiguration makes them, keep one.
        all.dedup_by(|a, b| a.0.cmp(&b.0) == Ordering::Equal);
        if all.len() > req.limit {
            all.truncate(req.limit);
            more = true;
        }
        let next_cursor = if more {
            all.last().map(|(p, _)| p.cursor())
        } else {
            None
        };
        Ok(FleetEvents {
            events: all.into_iter().map(|(_, v)| v).collect(),
            next_cursor,
            coverage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_123_456_789;

    fn bad(body: &str) -> BadRequest {
        match decode_request(body.as_bytes(), NOW) {
            Err(e) => e,
            Ok(r) => panic!("{body} was taken: {r:?}"),
        }
    }

    #[test]
    fn a_request_round_trips_with_its_now_pinned() {
        let req = decode_request(
            br#"{"filter":"name:api.* since:1h","limit":7,"order":"oldest","cursor":"5.1.p1"}"#,
            NOW,
        )
        .unwrap();
        assert_eq!(req.now_ns, NOW);
        assert_eq!((req.limit, req.order), (7, SortOrder::OldestFirst));
        let again = decode_request(&encode_request(&req), 1).unwrap();
        assert_eq!(
            again, req,
            "the indexers get the same request, now included"
        );
        let defaults = decode_request(b"{}", NOW).unwrap();
        assert_eq!(
            (defaults.limit, defaults.order),
            (100, SortOrder::NewestFirst)
        );
        assert_eq!(defaults.cursor, None);
    }

    #[test]
    fn bad_requests_name_the_part() {
        for (body, at, says) in [
            (r#"{"limit":0}"#, "limit", "1..=100000"),
            (r#"{"limit":100001}"#, "limit", "1..=100000"),
            (r#"{"limit":"5"}"#, "limit", "a whole number"),
            (r#"{"order":"up"}"#, "order", "\"newest\" or \"oldest\""),
            (r#"{"cursor":"nope"}"#, "cursor", "not a cursor"),
            (r#"{"cursor":5}"#, "cursor", "a string"),
            (r#"{"filter":"duration>>1"}"#, "filter", "at byte"),
            (r#"{"nowNs":"1","nowMs":1}"#, "nowMs", "not both"),
            (
                r#"{"aggregates":["count"]}"#,
                "\"aggregates\"",
                "unknown key",
            ),
            ("[1]", "", "a JSON object"),
        ] {
            let e = bad(body);
            assert_eq!(e.at, at, "{body}: {e:?}");
            assert!(e.message.contains(says), "{body}: {}", e.message);
        }
    }

    #[test]
    fn an_indexer_page_without_cursors_is_not_taken() {
        assert!(
            decode_page(br#"{"events":[{"name":"a"}],"nextCursor":null}"#)
                .unwrap_err()
                .contains("events[0] has no cursor")
        );
        assert!(decode_page(br#"{"nextCursor":null}"#).is_err());
        let ok = decode_page(br#"{"events":[{"cursor":"9.0.p"}],"nextCursor":"9.0.p"}"#).unwrap();
        assert!(ok.more);
        assert_eq!(ok.events.len(), 1);
    }
}
