//! The `NativeReader` class: a read-only [`Reader`] of a store directory that other processes
//! write (the CLI and the dashboard use it). It answers the same queries as `NativeStore` and
//! never writes.

use std::sync::{Arc, Mutex, MutexGuard};

use laptime_core::Reader;
use napi::bindgen_prelude::AsyncTask;
use napi::Env;
use napi_derive::napi;

use crate::analysis::{AnomaliesTask, CompareTask, NativeAnomaliesRequest, NativeCompareRequest};
use crate::errors;
use crate::histogram::{HistogramTask, NativeHistogramRequest};
use crate::query::{EventsTask, NativeEventsRequest, NativeQuery, QueryTask};
use crate::source::Source;

/// A read-only view of a store directory. After `close()` every call rejects.
#[napi]
pub struct NativeReader {
    reader: Mutex<Option<Arc<Reader>>>,
    path: String,
}

#[napi]
impl NativeReader {
    /// Open the store in `dir` for reading; throws when `dir` holds no laptime store.
    /// `bufferpoolBytes`: memory for cached decoded pages (default 64 MiB).
    #[napi(factory, catch_unwind)]
    pub fn open(
        env: &Env,
        dir: String,
        bufferpool_bytes: Option<f64>,
    ) -> napi::Result<NativeReader> {
        let opened = match bufferpool_bytes {
            None => Ok(None),
            Some(b) if (1_048_576.0..=1e15).contains(&b) => Ok(Some(b as usize)),
            Some(b) => Err(errors::invalid_option(
                "bufferpoolBytes",
                format!("must be at least 1048576, got {b}"),
            )),
        }
        .and_then(|pool| Reader::open(&dir, pool).map_err(errors::from_core));
        let reader = errors::on_js(env, opened)?;
        let path = reader.path().to_string_lossy().into_owned();
        Ok(NativeReader {
            reader: Mutex::new(Some(Arc::new(reader))),
            path,
        })
    }

    /// The store's directory as given.
    #[napi(getter, catch_unwind)]
    pub fn path(&self) -> String {
        self.path.clone()
    }

    /// Run a query (see `NativeStore.query`).
    #[napi(ts_return_type = "Promise<NativeQueryResult>", catch_unwind)]
    pub fn query(&self, env: &Env, query: NativeQuery) -> napi::Result<AsyncTask<QueryTask>> {
        QueryTask::start(env, self.source(), query)
    }

    /// Durations of the calls passing a filter, counted into log-spaced bins.
    #[napi(ts_return_type = "Promise<NativeHistogram>", catch_unwind)]
    pub fn histogram(
        &self,
        env: &Env,
        request: NativeHistogramRequest,
    ) -> napi::Result<AsyncTask<HistogramTask>> {
        HistogramTask::start(env, self.source(), request)
    }

    /// One page of events (see `NativeStore.events`).
    #[napi(ts_return_type = "Promise<NativeEventPage>", catch_unwind)]
    pub fn events(
        &self,
        env: &Env,
        request: NativeEventsRequest,
    ) -> napi::Result<AsyncTask<EventsTask>> {
        EventsTask::start(env, self.source(), request)
    }

    /// Anomalous buckets (see `NativeStore.anomalies`).
    #[napi(ts_return_type = "Promise<Array<NativeAnomaly>>", catch_unwind)]
    pub fn anomalies(
        &self,
        env: &Env,
        request: NativeAnomaliesRequest,
    ) -> napi::Result<AsyncTask<AnomaliesTask>> {
        AnomaliesTask::start(env, self.source(), request)
    }

    /// Two-range comparison (see `NativeStore.compare`).
    #[napi(ts_return_type = "Promise<NativeCompareResult>", catch_unwind)]
    pub fn compare(
        &self,
        env: &Env,
        request: NativeCompareRequest,
    ) -> napi::Result<AsyncTask<CompareTask>> {
        CompareTask::start(env, self.source(), request)
    }

    /// Release the reader (cached pages and open files). Later calls reject.
    #[napi(catch_unwind)]
    pub fn close(&self) {
        self.lock().take();
    }
}

impl NativeReader {
    fn source(&self) -> Option<Source> {
        self.lock().clone().map(Source::Reader)
    }

    fn lock(&self) -> MutexGuard<'_, Option<Arc<Reader>>> {
        // Nothing panics while holding it; a poisoned lock still holds a valid reader.
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }
}
