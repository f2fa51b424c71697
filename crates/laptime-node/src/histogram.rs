//! `histogram()`: the request (filter, now, bin count), the task that runs the core's
//! `query::histogram` on a read view, and its answer as plain JS objects.

use laptime_core::query::{self, Histogram, HistogramRequest};
use napi::bindgen_prelude::*;
use napi::Task;
use napi_derive::napi;

use crate::answer::NativeQueryStats;
use crate::errors;
use crate::query::{now, parse};
use crate::source::Source;

/// Which calls to count into how many log-spaced bins.
#[napi(object)]
pub struct NativeHistogramRequest {
    /// Filter string (empty or absent: every call).
    pub filter: Option<String>,
    /// "Now" for relative times, epoch ms (default: the current time).
    pub now_ms: Option<f64>,
    /// Bins between the shortest and the longest non-zero duration, 1..=1000.
    pub bins: u32,
}

/// One bin: durations from `loNs` up to `hiNs` (the last bin includes `hiNs`).
#[napi(object)]
pub struct NativeHistogramBin {
    pub lo_ns: f64,
    pub hi_ns: f64,
    pub count: f64,
}

/// The bins (a `0..=0` bin first when calls took 0 ns), the calls they add up to, and what the
/// engine did.
#[napi(object)]
pub struct NativeHistogram {
    pub calls: f64,
    pub bins: Vec<NativeHistogramBin>,
    pub stats: NativeQueryStats,
}

/// `histogram()` on the libuv pool.
pub struct HistogramTask {
    source: Option<Source>,
    request: HistogramRequest,
}

impl HistogramTask {
    /// The task for `js` on `source`; a malformed request throws a TypeError.
    pub(crate) fn start(
        env: &Env,
        source: Option<Source>,
        js: NativeHistogramRequest,
    ) -> napi::Result<AsyncTask<HistogramTask>> {
        let request = HistogramRequest {
            filter: parse(js.filter.as_deref()).map_err(|m| m.throw(env))?,
            now_ns: now(js.now_ms).map_err(|m| m.throw(env))?,
            bins: js.bins as usize,
        };
        Ok(AsyncTask::new(HistogramTask { source, request }))
    }
}

impl Task for HistogramTask {
    type Output = Histogram;
    type JsValue = NativeHistogram;

    // The core's error code becomes the rejection's `code` (see errors.rs).
    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<Self::JsValue> {
        Err(errors::coded(&env, err))
    }

    fn compute(&mut self) -> napi::Result<Histogram> {
        errors::guarded(|| {
            let source = self.source.take().ok_or_else(errors::closed)?;
            let view = source.view().map_err(errors::from_core)?;
            query::histogram(&view, &self.request).map_err(errors::from_core)
        })
    }

    fn resolve(&mut self, _env: Env, h: Histogram) -> napi::Result<NativeHistogram> {
        Ok(NativeHistogram {
            calls: h.calls as f64,
            bins: h
                .bins
                .iter()
                .map(|b| NativeHistogramBin {
                    lo_ns: b.lo as f64,
                    hi_ns: b.hi as f64,
                    count: b.count as f64,
                })
                .collect(),
            stats: h.stats.into(),
        })
    }
}
