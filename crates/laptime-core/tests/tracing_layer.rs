//! The `tracing` layer: spans become calls with their fields, events become logs, errors inside a
//! span make it an error call.
#![cfg(feature = "tracing")]

use laptime_core::tracing_layer::{LaptimeLayer, SpanNames};
use laptime_core::{capture, Code, Level, Options, ScanFilter, Store, Value};
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn spans_become_calls_and_events_become_logs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(LaptimeLayer::new(store.clone()).span_names(SpanNames::Name));
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..5i64 {
            let span = tracing::info_span!("handle", request = i, route = "/users");
            let _e = span.enter();
            tracing::info!(user = "ann", "looked up");
            if i == 4 {
                tracing::error!("database gone");
            }
        }
        let span = tracing::info_span!("job", error = tracing::field::Empty);
        span.record("error", "timeout");
        drop(span);
    });
    capture::flush();
    store.flush().unwrap();
    let events = store
        .view()
        .unwrap()
        .events(&ScanFilter::default())
        .unwrap();
    let handles: Vec<_> = events.iter().filter(|e| e.name == "handle").collect();
    assert_eq!(handles.len(), 5);
    assert_eq!(
        handles.iter().filter(|e| e.code == Code::CallError).count(),
        1,
        "the span with an ERROR event"
    );
    let fields = &handles[0].fields;
    assert!(
        fields.contains(&("request".to_string(), Value::I64(0))),
        "{fields:?}"
    );
    assert!(fields.contains(&("route".to_string(), Value::Str("/users".into()))));
    let job = events.iter().find(|e| e.name == "job").unwrap();
    assert_eq!(job.code, Code::CallError, "a recorded `error` field");
    let logs: Vec<_> = events.iter().filter(|e| !e.code.is_call()).collect();
    assert_eq!(logs.len(), 6);
    assert!(
        logs.iter().all(|e| e.name == "tracing_layer"),
        "named after the target"
    );
    let info = logs
        .iter()
        .find(|e| e.code == Code::Log(Level::Info))
        .unwrap();
    assert_eq!(info.message.as_deref(), Some("looked up"));
    assert!(info
        .fields
        .contains(&("user".to_string(), Value::Str("ann".into()))));
    assert_eq!(
        logs.iter()
            .filter(|e| e.code == Code::Log(Level::Error))
            .count(),
        1
    );
    store.close().unwrap();
}
