//! Per-function statistics: the JS filter to a core [`ScanFilter`], the async task that takes a
//! read view and runs [`function_stats`], and its rows as plain JS objects.

use laptime_core::{function_stats, FunctionStats, ScanFilter};
use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Task};
use napi_derive::napi;

use crate::errors::{self, Malformed};
use crate::source::Source;
use crate::time;

/// Quantiles every row reports: p50, p90, p99.
const QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

/// Which events the statistics cover. Times are epoch milliseconds (fractions allowed).
#[napi(object)]
pub struct NativeStatsFilter {
    /// Only events that started at or after this time.
    pub since_ms: Option<f64>,
    /// Only events that started before this time.
    pub until_ms: Option<f64>,
    /// Only these function or logger names.
    pub names: Option<Vec<String>>,
}

/// Statistics of one name. The `*Ns` fields are absent when `calls` is 0.
#[napi(object)]
pub struct NativeStatsRow {
    /// Function or logger name.
    pub name: String,
    /// Call events.
    pub calls: f64,
    /// Calls that failed.
    pub errors: f64,
    /// Log events.
    pub logs: f64,
    /// Mean call duration, ns.
    pub mean_ns: Option<f64>,
    /// Shortest call, ns.
    pub min_ns: Option<f64>,
    /// Longest call, ns.
    pub max_ns: Option<f64>,
    /// Median call duration, ns (within the core sketch's 1% relative error).
    pub p50_ns: Option<f64>,
    /// 90th percentile, ns.
    pub p90_ns: Option<f64>,
    /// 99th percentile, ns.
    pub p99_ns: Option<f64>,
}

/// The core filter of a JS filter.
pub(crate) fn scan_filter(js: Option<NativeStatsFilter>) -> Result<ScanFilter, Malformed> {
    let Some(js) = js else {
        return Ok(ScanFilter::default());
    };
    let bound = |what: &str, ms: Option<f64>| {
        ms.map(|ms| {
            time::bound_ns(ms).ok_or_else(|| {
                Malformed(format!(
                    "filter.{what} must be epoch milliseconds, got {ms}"
                ))
            })
        })
        .transpose()
    };
    Ok(ScanFilter {
        since: bound("sinceMs", js.since_ms)?,
        until: bound("untilMs", js.until_ms)?,
        names: js.names,
    })
}

impl From<&FunctionStats> for NativeStatsRow {
    fn from(s: &FunctionStats) -> NativeStatsRow {
        let q = s.durations.quantiles(&QUANTILES);
        let ns = |v: Option<u64>| v.map(|v| v as f64);
        let quantile = |i: usize| ns(q.get(i).copied().flatten());
        NativeStatsRow {
            name: s.name.clone(),
            calls: s.calls as f64,
            errors: s.errors as f64,
            logs: s.logs as f64,
            mean_ns: s.durations.mean(),
            min_ns: ns(s.durations.min()),
            max_ns: ns(s.durations.max()),
            p50_ns: quantile(0),
            p90_ns: quantile(1),
            p99_ns: quantile(2),
        }
    }
}

/// `stats()` on the libuv pool: read view, statistics, rows.
pub struct StatsTask {
    pub(crate) source: Option<Source>,
    pub(crate) filter: ScanFilter,
}

impl StatsTask {
    /// The task for `request` on `source`; malformed requests throw a TypeError.
    pub(crate) fn start(
        env: &Env,
        source: Option<Source>,
        request: Option<NativeStatsFilter>,
    ) -> napi::Result<AsyncTask<StatsTask>> {
        let filter = scan_filter(request).map_err(|m| m.throw(env))?;
        Ok(AsyncTask::new(StatsTask { source, filter }))
    }
}

impl Task for StatsTask {
    type Output = Vec<NativeStatsRow>;
    type JsValue = Vec<NativeStatsRow>;

    // The core's error code becomes the rejection's `code` (see errors.rs).
    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<Self::JsValue> {
        Err(errors::coded(&env, err))
    }

    fn compute(&mut self) -> napi::Result<Vec<NativeStatsRow>> {
        // Taken, so the clone is released on the pool thread (see `FlushTask::compute`).
        let source = self.source.take().ok_or_else(errors::closed)?;
        let view = source.view().map_err(errors::from_core)?;
        let stats = function_stats(&view, &self.filter).map_err(errors::from_core)?;
        Ok(stats.iter().map(NativeStatsRow::from).collect())
    }

    fn resolve(
        &mut self,
        _env: Env,
        rows: Vec<NativeStatsRow>,
    ) -> napi::Result<Vec<NativeStatsRow>> {
        Ok(rows)
    }
}
