//! A `tracing` layer (cargo feature `tracing`): code already instrumented with `tracing` records
//! into laptime without changes.
//!
//! - A span's close is a call event named after the span (`target::name` unless
//!   [`LaptimeLayer::span_names`] says otherwise), timed from its creation to its close, with the
//!   span's fields as event fields. It is an error if it recorded a field named `error`, or if an
//!   ERROR-level event happened inside it.
//! - An event is a log event at its level, named after its target, with its `message` as the
//!   message and its other fields as fields.
//!
//! Events go through [`mod@crate::capture`]'s per-thread buffers into the store given to
//! [`LaptimeLayer::new`] (which installs it for [`mod@crate::capture`] too).
//!
//! ```
//! use laptime_core::{tracing_layer::LaptimeLayer, Options, Store};
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path(), Options::default())?;
//! let subscriber = tracing_subscriber::registry().with(LaptimeLayer::new(store.clone()));
//! tracing::subscriber::with_default(subscriber, || {
//!     let span = tracing::info_span!("checkout", cart = 42);
//!     let _entered = span.enter();
//!     tracing::warn!(items = 3, "stock is low");
//! });
//! laptime_core::capture::flush();
//! store.flush()?;
//! assert_eq!(store.view()?.events(&Default::default())?.len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::time::Instant;

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::capture;
use crate::Store;
use crate::{Code, Value};

/// How spans are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanNames {
    /// `target::name` (default), e.g. `my_service::db::query`.
    TargetAndName,
    /// The span's name alone.
    Name,
}

/// Records spans as calls and events as logs; see the module documentation.
#[derive(Debug)]
pub struct LaptimeLayer {
    names: SpanNames,
}

impl LaptimeLayer {
    /// A layer recording into `store` (installed for [`mod@crate::capture`] as well).
    pub fn new(store: Store) -> LaptimeLayer {
        capture::install(store);
        LaptimeLayer {
            names: SpanNames::TargetAndName,
        }
    }

    /// Choose how spans are named.
    pub fn span_names(mut self, names: SpanNames) -> LaptimeLayer {
        self.names = names;
        self
    }
}

/// What the layer keeps in a span's extensions.
struct SpanState {
    start_ns: u64,
    started: Instant,
    fields: Vec<(String, Value)>,
    failed: bool,
}

/// Collects fields as laptime values; `message` separately.
#[derive(Default)]
struct Fields {
    fields: Vec<(String, Value)>,
    message: Option<String>,
}

impl Visit for Fields {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields
            .push((field.name().to_owned(), Value::I64(value)));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        let v = i64::try_from(value).map_or(Value::F64(value as f64), Value::I64);
        self.fields.push((field.name().to_owned(), v));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields
            .push((field.name().to_owned(), Value::F64(value)));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields
            .push((field.name().to_owned(), Value::Bool(value)));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
        } else {
            self.fields
                .push((field.name().to_owned(), Value::Str(value.to_owned())));
        }
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.fields
            .push((field.name().to_owned(), Value::Str(value.to_string())));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = Some(format!("{value:?}"));
        } else {
            self.fields
                .push((field.name().to_owned(), Value::Str(format!("{value:?}"))));
        }
    }
}

fn level_of(level: &Level) -> crate::Level {
    match *level {
        Level::TRACE => crate::Level::Trace,
        Level::DEBUG => crate::Level::Debug,
        Level::INFO => crate::Level::Info,
        Level::WARN => crate::Level::Warn,
        _ => crate::Level::Error,
    }
}

impl<S> Layer<S> for LaptimeLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            let failed = fields.fields.iter().any(|(k, _)| k == "error");
            span.extensions_mut().insert(SpanState {
                start_ns: crate::clock::now_ns(),
                started: Instant::now(),
                fields: fields.fields,
                failed,
            });
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        values.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            if let Some(state) = span.extensions_mut().get_mut::<SpanState>() {
                state.failed |= fields.fields.iter().any(|(k, _)| k == "error");
                state.fields.extend(fields.fields);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = *event.metadata().level();
        if level == Level::ERROR {
            if let Some(span) = ctx.event_span(event) {
                if let Some(state) = span.extensions_mut().get_mut::<SpanState>() {
                    state.failed = true;
                }
            }
        }
        let f: Vec<(&str, Value)> = fields
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        capture::record_event(
            event.metadata().target(),
            crate::clock::now_ns(),
            0,
            Code::Log(level_of(&level)),
            fields.message.as_deref(),
            &f,
        );
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(state) = span.extensions_mut().remove::<SpanState>() else {
            return;
        };
        let meta = span.metadata();
        let name = match self.names {
            SpanNames::TargetAndName => format!("{}::{}", meta.target(), meta.name()),
            SpanNames::Name => meta.name().to_owned(),
        };
        let duration = u64::try_from(state.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let f: Vec<(&str, Value)> = state
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let code = if state.failed {
            Code::CallError
        } else {
            Code::CallOk
        };
        capture::record_event(&name, state.start_ns, duration, code, None, &f);
    }
}
