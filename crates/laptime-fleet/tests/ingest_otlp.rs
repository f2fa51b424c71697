//! `POST /v1/traces` over a real socket with requests serialized by the official OpenTelemetry
//! protobuf library (Python `opentelemetry-proto`, which .ci/run installs): protobuf and the
//! proto3 JSON mapping arrive in the sink exactly; bad ones are refused whole.

mod common;

use std::process::Command;
use std::sync::Arc;

use common::{post, start};
use laptime_fleet::ingest::MemorySink;
use laptime_storage::{Code, Event, Value};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;

/// Builds an ExportTraceServiceRequest with the official Python classes and prints it as
/// protobuf (argv[1] == "pb") or JSON ("json"). argv[2] == "backwards" makes the third span end
/// before it starts.
const SCRIPT: &str = r#"
import sys
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, ArrayValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

def kv(key, **value):
    return KeyValue(key=key, value=AnyValue(**value))

req = ExportTraceServiceRequest()
rs = req.resource_spans.add()
rs.resource.attributes.extend([kv("service.name", string_value="shop"), kv("host.name", string_value="h1")])
ss = rs.scope_spans.add()
ss.scope.name = "tests"
s = ss.spans.add(trace_id=bytes(range(16)), span_id=bytes(range(8)), name="GET /cart/:id", kind=Span.SPAN_KIND_SERVER,
                 start_time_unix_nano=1796292000123456789, end_time_unix_nano=1796292000124656790)
s.attributes.extend([kv("http.route", string_value="/cart/:id"), kv("http.response.status_code", int_value=200),
                     kv("big", int_value=9007199254740993), kv("min", int_value=-9223372036854775808),
                     kv("ratio", double_value=0.1), kv("cached", bool_value=True),
                     kv("tags", array_value=ArrayValue(values=[AnyValue(string_value="a")])),
                     kv("ctx", kvlist_value=KeyValueList(values=[kv("k", string_value="v")])),
                     kv("raw", bytes_value=b"\x00\x01")])
s = ss.spans.add(name="db.query", kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=18446744073709551614,
                 end_time_unix_nano=18446744073709551615, status=Status(code=Status.STATUS_CODE_ERROR, message="boom"))
rs2 = req.resource_spans.add()
rs2.resource.attributes.extend([kv("service.name", string_value="billing")])
ss2 = rs2.scope_spans.add()
end = 5 if len(sys.argv) > 2 and sys.argv[2] == "backwards" else 1796292000000000000
ss2.spans.add(name="charge \"card\"\n", start_time_unix_nano=1796292000000000000, end_time_unix_nano=end,
              status=Status(code=Status.STATUS_CODE_OK))
if sys.argv[1] == "pb":
    sys.stdout.buffer.write(req.SerializeToString())
else:
    sys.stdout.write(json_format.MessageToJson(req))
"#;

fn python(args: &[&str]) -> Vec<u8> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .args(args)
        .output()
        .expect("python3 runs (the OTLP tests need python3 with opentelemetry-proto: pip install opentelemetry-proto)");
    assert!(
        out.status.success(),
        "python3 failed (needs opentelemetry-proto): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn call(
    name: &str,
    start_ns: u64,
    duration_ns: u64,
    ok: bool,
    fields: Vec<(&str, Value)>,
) -> Event {
    let mut fields: Vec<(String, Value)> =
        fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    Event {
        name: name.into(),
        start_ns,
        duration_ns,
        code: if ok { Code::CallOk } else { Code::CallError },
        message: None,
        fields,
    }
}

fn expected() -> Vec<Event> {
    let s = |v: &str| Value::Str(v.into());
    vec![
        call(
            "GET /cart/:id",
            1_796_292_000_123_456_789,
            1_200_001,
            true,
            vec![
                ("http.route", s("/cart/:id")),
                ("http.response.status_code", Value::I64(200)),
                ("big", Value::I64(9_007_199_254_740_993)),
                ("min", Value::I64(i64::MIN)),
                ("ratio", Value::F64(0.1)),
                ("cached", Value::Bool(true)),
                ("service.name", s("shop")),
                ("span.kind", s("server")),
            ],
        ),
        call(
            "db.query",
            u64::MAX - 1,
            1,
            false,
            vec![("service.name", s("shop")), ("span.kind", s("client"))],
        ),
        call(
            "charge \"card\"\n",
            1_796_292_000_000_000_000,
            0,
            true,
            vec![("service.name", s("billing"))],
        ),
    ]
}

#[tokio::test]
async fn protobuf_from_the_official_library_arrives_exactly() {
    let sink = Arc::new(MemorySink::new());
    let (_server, url) = start(sink.clone(), |_| {}).await;
    let r = post(
        &url,
        "/v1/traces",
        "application/x-protobuf",
        python(&["pb"]),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/x-protobuf")
    );
    assert_eq!(r.header("x-laptime-accepted").as_deref(), Some("3"));
    assert_eq!(r.header("x-laptime-left-out").as_deref(), Some("3"));
    let resp = ExportTraceServiceResponse::decode(r.body.as_slice()).expect("an OTLP response");
    let partial = resp
        .partial_success
        .expect("a warning about the left-out values");
    assert_eq!(partial.rejected_spans, 0);
    assert!(
        partial
            .error_message
            .contains("3 attribute values were left out"),
        "{}",
        partial.error_message
    );
    let got = sink.take();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].events(), expected());
}

#[tokio::test]
async fn otlp_json_from_the_official_library_arrives_exactly() {
    let sink = Arc::new(MemorySink::new());
    let (_server, url) = start(sink.clone(), |_| {}).await;
    // proto3 JSON mapping: int64 as strings, enums by name, bytes in base64.
    let body = python(&["json"]);
    assert!(String::from_utf8_lossy(&body).contains("\"STATUS_CODE_ERROR\""));
    let r = post(&url, "/v1/traces", "application/json", body, None).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["partialSuccess"]["rejectedSpans"], "0");
    let got = sink.take();
    assert_eq!(got[0].events(), expected());
}

#[tokio::test]
async fn bad_otlp_is_refused_whole() {
    let sink = Arc::new(MemorySink::new());
    let (_server, url) = start(sink.clone(), |_| {}).await;
    let pb = python(&["pb"]);
    // Cut in the middle of a field, and bytes that are no protobuf at all.
    for body in [pb[..pb.len() / 2].to_vec(), b"not protobuf at all".to_vec()] {
        let r = post(&url, "/v1/traces", "application/x-protobuf", body, None).await;
        assert_eq!(r.status, 400);
        assert!(r.error().starts_with("malformed OTLP protobuf (ExportTraceServiceRequest): failed to decode Protobuf message"), "{}", r.error());
    }
    // A span that ends before it starts, after two good ones: named, and none of the three stored.
    for (ctype, body) in [
        ("application/x-protobuf", python(&["pb", "backwards"])),
        ("application/json", python(&["json", "backwards"])),
    ] {
        let r = post(&url, "/v1/traces", ctype, body, None).await;
        assert_eq!(r.status, 400, "{ctype}");
        assert_eq!(
            r.at(),
            "resourceSpans[1].scopeSpans[0].spans[0].endTimeUnixNano"
        );
        assert!(
            r.error().contains(
                r#"span "charge \"card\"\n" ends (5) before it starts (1796292000000000000)"#
            ),
            "{}",
            r.error()
        );
    }
    let r = post(&url, "/v1/traces", "application/json", r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"x","startTimeUnixNano":"1","endTimeUnixNano":"2","attributes":[{"key":"n","value":{"intValue":"12x"}}]}]}]}]}"#, None).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.at(),
        "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue"
    );
    let r = post(&url, "/v1/traces", "application/json", r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"","startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}"#, None).await;
    assert_eq!(
        (r.status, r.at().as_str()),
        (400, "resourceSpans[0].scopeSpans[0].spans[0].name")
    );
    let r = post(
        &url,
        "/v1/traces",
        "application/json",
        "{\"resourceSpans\":[",
        None,
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.error().contains("malformed JSON"), "{}", r.error());
    assert_eq!(sink.events(), 0);
}
