//! Anomalies and two-range comparisons: JS requests to the core's [`AnomaliesRequest`] and
//! [`CompareRequest`], the async tasks, and their results as plain JS objects.

use laptime_core::analysis::{
    AnomalyOptions, CompareOptions, Direction, Metric, QuantileChange, Verdict,
};
use laptime_core::filter;
use laptime_core::query::{
    self, AnomaliesRequest, CompareRequest, FunctionAnomaly, FunctionComparison, Precision,
    QueryStats, TimeRange,
};
use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Task};
use napi_derive::napi;

use crate::answer::NativeQueryStats;
use crate::errors::{self, Malformed};
use crate::query::{now, parse};
use crate::source::Source;
use crate::time;

/// An anomaly scan. Absent settings take the core's defaults.
#[napi(object)]
pub struct NativeAnomaliesRequest {
    /// Filter string (include a `since:` covering the baseline window).
    pub filter: Option<String>,
    /// "Now" for relative times, epoch ms.
    pub now_ms: Option<f64>,
    /// Bucket width, a duration such as `1m`.
    pub bucket: String,
    /// `p50`, `p99` (default) or `error_rate`.
    #[napi(ts_type = "'p50' | 'p99' | 'error_rate'")]
    pub metric: Option<String>,
    /// Preceding buckets forming the baseline.
    pub baseline_buckets: Option<u32>,
    /// Fewest usable baseline buckets to judge a bucket.
    pub min_baseline_buckets: Option<u32>,
    /// Robust z-score threshold.
    pub threshold: Option<f64>,
    /// Smallest relative change that counts (0.2 = 20%).
    pub min_relative_change: Option<f64>,
    /// Fewest calls in a bucket to judge or use it.
    pub min_count: Option<f64>,
    /// Fewest errors for an error-rate anomaly over a zero baseline.
    pub min_errors: Option<f64>,
    /// `up` (default), `down` or `both`.
    #[napi(ts_type = "'up' | 'down' | 'both'")]
    pub direction: Option<String>,
}

/// An anomalous bucket of one function.
#[napi(object)]
pub struct NativeAnomaly {
    /// Function name.
    pub name: String,
    /// Bucket start, epoch ms.
    pub start_ms: f64,
    /// Bucket width, ns.
    pub bucket_ns: f64,
    /// The metric judged.
    #[napi(ts_type = "'p50' | 'p99' | 'error_rate'")]
    pub metric: String,
    /// The bucket's value (ns, or a fraction for the error rate).
    pub value: f64,
    /// The baseline median, same unit.
    pub baseline: f64,
    /// Robust z-score.
    pub z: f64,
    /// `value / baseline - 1` (Infinity over a zero baseline).
    pub relative_change: f64,
    /// Calls in the bucket.
    pub count: f64,
    /// `up` or `down`.
    #[napi(ts_type = "'up' | 'down'")]
    pub direction: String,
}

/// A comparison of two time ranges. Absent settings take the core's defaults.
#[napi(object)]
pub struct NativeCompareRequest {
    /// Filter string applied to both ranges.
    pub filter: Option<String>,
    /// "Now" for relative times in the filter, epoch ms.
    pub now_ms: Option<f64>,
    /// Baseline range start, epoch ms (inclusive).
    pub baseline_since_ms: f64,
    /// Baseline range end, epoch ms (exclusive).
    pub baseline_until_ms: f64,
    /// Candidate range start, epoch ms.
    pub candidate_since_ms: f64,
    /// Candidate range end, epoch ms.
    pub candidate_until_ms: f64,
    /// Quantiles to compare, each in [0, 1].
    pub quantiles: Option<Vec<f64>>,
    /// Confidence of intervals and tests, in (0, 1).
    pub confidence: Option<f64>,
    /// Smallest relative quantile change that counts.
    pub min_relative_change: Option<f64>,
    /// Fewest calls per range for a verdict.
    pub min_count: Option<f64>,
    /// Exact percentiles instead of sketches.
    pub exact: Option<bool>,
}

/// One quantile's change.
#[napi(object)]
pub struct NativeQuantileChange {
    /// The quantile, in [0, 1].
    pub q: f64,
    /// Baseline value, ns.
    pub baseline: f64,
    /// Candidate value, ns.
    pub candidate: f64,
    /// `candidate / baseline - 1`.
    pub relative_change: f64,
    /// Confidence interval of the baseline value, ns: [low, high].
    pub baseline_interval: Vec<f64>,
    /// Confidence interval of the candidate value, ns.
    pub candidate_interval: Vec<f64>,
    /// Whether the change is significant and large enough.
    pub significant: bool,
}

/// One function's change between the ranges.
#[napi(object)]
pub struct NativeComparison {
    /// Function name.
    pub name: String,
    /// The judgement.
    #[napi(ts_type = "'regressed' | 'improved' | 'unchanged' | 'insufficient_data'")]
    pub verdict: String,
    /// Calls in the baseline range.
    pub baseline_calls: f64,
    /// Failed calls in the baseline range.
    pub baseline_errors: f64,
    /// Calls in the candidate range.
    pub candidate_calls: f64,
    /// Failed calls in the candidate range.
    pub candidate_errors: f64,
    /// Quantile changes, in the order asked.
    pub quantiles: Vec<NativeQuantileChange>,
    /// Baseline error rate.
    pub baseline_error_rate: f64,
    /// Candidate error rate.
    pub candidate_error_rate: f64,
    /// Two-sided p-value of the error-rate difference.
    pub error_rate_p_value: f64,
    /// Whether the error-rate change is significant and large enough.
    pub error_rate_significant: bool,
}

/// The answer of a comparison.
#[napi(object)]
pub struct NativeCompareResult {
    /// Regressed first, then improved, unchanged, insufficient data; by name within each.
    pub functions: Vec<NativeComparison>,
    /// Execution figures of both ranges together.
    pub stats: NativeQueryStats,
}

fn count(v: Option<f64>, what: &str) -> Result<Option<u64>, Malformed> {
    v.map(|x| {
        if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x <= 9_007_199_254_740_992.0 {
            Ok(x as u64)
        } else {
            Err(Malformed(format!(
                "{what} must be a whole number >= 0, got {x}"
            )))
        }
    })
    .transpose()
}

/// The core request of a JS anomaly request.
pub(crate) fn to_anomalies_request(
    js: NativeAnomaliesRequest,
) -> Result<AnomaliesRequest, Malformed> {
    let metric = match js.metric.as_deref() {
        None | Some("p99") => Metric::P99,
        Some("p50") => Metric::P50,
        Some("error_rate") => Metric::ErrorRate,
        Some(other) => {
            return Err(Malformed(format!(
                "metric must be 'p50', 'p99' or 'error_rate', got {other:?}"
            )))
        }
    };
    let direction = match js.direction.as_deref() {
        None | Some("up") => Direction::Up,
        Some("down") => Direction::Down,
        Some("both") => Direction::Both,
        Some(other) => {
            return Err(Malformed(format!(
                "direction must be 'up', 'down' or 'both', got {other:?}"
            )))
        }
    };
    let mut options = AnomalyOptions {
        metric,
        direction,
        ..AnomalyOptions::default()
    };
    if let Some(n) = js.baseline_buckets {
        options.baseline_buckets = n as usize;
    }
    if let Some(n) = js.min_baseline_buckets {
        options.min_baseline_buckets = n as usize;
    }
    if let Some(t) = js.threshold {
        options.threshold = t;
    }
    if let Some(c) = js.min_relative_change {
        options.min_relative_change = c;
    }
    if let Some(n) = count(js.min_count, "minCount")? {
        options.min_count = n;
    }
    if let Some(n) = count(js.min_errors, "minErrors")? {
        options.min_errors = n;
    }
    let bucket_ns = filter::parse_duration(&js.bucket)
        .ok()
        .filter(|&ns| ns > 0)
        .ok_or_else(|| {
            Malformed(format!(
                "bucket must be a duration above 0 such as 1m, got {:?}",
                js.bucket
            ))
        })?;
    Ok(AnomaliesRequest {
        filter: parse(js.filter.as_deref())?,
        now_ns: now(js.now_ms)?,
        bucket_ns,
        options,
    })
}

fn metric_name(m: Metric) -> &'static str {
    match m {
        Metric::P50 => "p50",
        Metric::P99 => "p99",
        Metric::ErrorRate => "error_rate",
    }
}

impl From<FunctionAnomaly> for NativeAnomaly {
    fn from(f: FunctionAnomaly) -> NativeAnomaly {
        let a = f.anomaly;
        NativeAnomaly {
            name: f.name.to_string(),
            start_ms: a.start_ns as f64 / 1e6,
            bucket_ns: f.bucket_ns as f64,
            metric: metric_name(a.metric).into(),
            value: a.value,
            baseline: a.baseline,
            z: a.z,
            relative_change: a.relative_change,
            count: a.count as f64,
            direction: match a.direction {
                Direction::Down => "down",
                _ => "up",
            }
            .into(),
        }
    }
}

/// `anomalies()` on the libuv pool.
pub struct AnomaliesTask {
    pub(crate) source: Option<Source>,
    pub(crate) request: AnomaliesRequest,
}

impl AnomaliesTask {
    /// The task for `request` on `source`; malformed requests throw a TypeError.
    pub(crate) fn start(
        env: &Env,
        source: Option<Source>,
        request: NativeAnomaliesRequest,
    ) -> napi::Result<AsyncTask<AnomaliesTask>> {
        let request = to_anomalies_request(request).map_err(|m| m.throw(env))?;
        Ok(AsyncTask::new(AnomaliesTask { source, request }))
    }
}

impl Task for AnomaliesTask {
    type Output = Vec<FunctionAnomaly>;
    type JsValue = Vec<NativeAnomaly>;

    // The core's error code becomes the rejection's `code` (see errors.rs).
    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<Self::JsValue> {
        Err(errors::coded(&env, err))
    }

    fn compute(&mut self) -> napi::Result<Vec<FunctionAnomaly>> {
        errors::guarded(|| {
            let source = self.source.take().ok_or_else(errors::closed)?;
            let view = source.view().map_err(errors::from_core)?;
            query::anomalies(&view, &self.request).map_err(errors::from_core)
        })
    }

    fn resolve(
        &mut self,
        _env: Env,
        found: Vec<FunctionAnomaly>,
    ) -> napi::Result<Vec<NativeAnomaly>> {
        Ok(found.into_iter().map(NativeAnomaly::from).collect())
    }
}

/// The core request of a JS compare request.
pub(crate) fn to_compare_request(js: NativeCompareRequest) -> Result<CompareRequest, Malformed> {
    let bound = |what: &str, ms: f64| {
        time::bound_ns(ms)
            .ok_or_else(|| Malformed(format!("{what} must be epoch milliseconds, got {ms}")))
    };
    let mut options = CompareOptions::default();
    if let Some(q) = js.quantiles {
        options.quantiles = q;
    }
    if let Some(c) = js.confidence {
        options.confidence = c;
    }
    if let Some(c) = js.min_relative_change {
        options.min_relative_change = c;
    }
    if let Some(n) = count(js.min_count, "minCount")? {
        options.min_count = n;
    }
    Ok(CompareRequest {
        filter: parse(js.filter.as_deref())?,
        now_ns: now(js.now_ms)?,
        baseline: TimeRange {
            since_ns: bound("baseline.since", js.baseline_since_ms)?,
            until_ns: bound("baseline.until", js.baseline_until_ms)?,
        },
        candidate: TimeRange {
            since_ns: bound("candidate.since", js.candidate_since_ms)?,
            until_ns: bound("candidate.until", js.candidate_until_ms)?,
        },
        options,
        precision: if js.exact.unwrap_or(false) {
            Precision::Exact
        } else {
            Precision::Auto
        },
    })
}

fn quantile_change(q: &QuantileChange) -> NativeQuantileChange {
    NativeQuantileChange {
        q: q.q,
        baseline: q.baseline as f64,
        candidate: q.candidate as f64,
        relative_change: q.relative_change,
        baseline_interval: vec![q.baseline_interval.0 as f64, q.baseline_interval.1 as f64],
        candidate_interval: vec![q.candidate_interval.0 as f64, q.candidate_interval.1 as f64],
        significant: q.significant,
    }
}

impl From<&FunctionComparison> for NativeComparison {
    fn from(f: &FunctionComparison) -> NativeComparison {
        let c = &f.comparison;
        NativeComparison {
            name: f.name.to_string(),
            verdict: match c.verdict {
                Verdict::Regressed => "regressed",
                Verdict::Improved => "improved",
                Verdict::Unchanged => "unchanged",
                Verdict::InsufficientData => "insufficient_data",
            }
            .into(),
            baseline_calls: f.baseline_calls as f64,
            baseline_errors: f.baseline_errors as f64,
            candidate_calls: f.candidate_calls as f64,
            candidate_errors: f.candidate_errors as f64,
            quantiles: c.quantiles.iter().map(quantile_change).collect(),
            baseline_error_rate: c.error_rate.baseline,
            candidate_error_rate: c.error_rate.candidate,
            error_rate_p_value: c.error_rate.p_value,
            error_rate_significant: c.error_rate.significant,
        }
    }
}

/// `compare()` on the libuv pool.
pub struct CompareTask {
    pub(crate) source: Option<Source>,
    pub(crate) request: CompareRequest,
}

impl CompareTask {
    /// The task for `request` on `source`; malformed requests throw a TypeError.
    pub(crate) fn start(
        env: &Env,
        source: Option<Source>,
        request: NativeCompareRequest,
    ) -> napi::Result<AsyncTask<CompareTask>> {
        let request = to_compare_request(request).map_err(|m| m.throw(env))?;
        Ok(AsyncTask::new(CompareTask { source, request }))
    }
}

impl Task for CompareTask {
    type Output = (Vec<FunctionComparison>, QueryStats);
    type JsValue = NativeCompareResult;

    // The core's error code becomes the rejection's `code` (see errors.rs).
    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<Self::JsValue> {
        Err(errors::coded(&env, err))
    }

    fn compute(&mut self) -> napi::Result<Self::Output> {
        errors::guarded(|| {
            let source = self.source.take().ok_or_else(errors::closed)?;
            let view = source.view().map_err(errors::from_core)?;
            query::compare(&view, &self.request).map_err(errors::from_core)
        })
    }

    fn resolve(&mut self, _env: Env, out: Self::Output) -> napi::Result<NativeCompareResult> {
        Ok(NativeCompareResult {
            functions: out.0.iter().map(NativeComparison::from).collect(),
            stats: out.1.into(),
        })
    }
}
