//! Histograms, anomalies and comparisons over the fleet: `POST /v1/histogram`, `/v1/anomalies`,
//! `/v1/compare` on the coordinator. Each runs its analysis's queries as partials on every
//! indexer (`laptime_query`'s `*::query()`), merges them, and finishes with the same code one
//! store uses (`histogram_from_partial`, `anomalies_from_partial`, `compare_from_partials`), so
//! the answer is the one a store holding every event would give.
//!
//! Requests and answers have the shapes the TypeScript layer exchanges with the addon
//! (`NativeHistogramRequest`, `NativeAnomaliesRequest`, `NativeCompareRequest` and their results,
//! camelCase keys), with `nowNs` as a decimal string accepted beside `nowMs`. Numbers that JSON
//! cannot carry (an infinite relative change over a zero baseline) travel as the strings
//! `"Infinity"`, `"-Infinity"` and `"NaN"`.

use laptime_query::analysis::{AnomalyOptions, CompareOptions, Direction, Metric, Verdict};
use laptime_query::filter;
use laptime_query::query::{
    anomalies_from_partial, compare_from_partials, histogram_from_partial, AnomaliesRequest,
    CompareRequest, FunctionAnomaly, FunctionComparison, Histogram, HistogramRequest, Precision,
    QueryStats, TimeRange,
};
use serde_json::{json, Map, Value};

use super::answer::{coverage_json, stats_json};
use super::coverage::Coverage;
use super::error::Error;
use super::fanout::{blocking, Coordinator};
use super::request::{self, BadRequest};

const HISTOGRAM_KEYS: [&str; 4] = ["filter", "nowNs", "nowMs", "bins"];
const ANOMALIES_KEYS: [&str; 12] = [
    "filter",
    "nowNs",
    "nowMs",
    "bucket",
    "metric",
    "direction",
    "baselineBuckets",
    "minBaselineBuckets",
    "threshold",
    "minRelativeChange",
    "minCount",
    "minErrors",
];
const COMPARE_KEYS: [&str; 12] = [
    "filter",
    "nowNs",
    "nowMs",
    "baselineSinceMs",
    "baselineUntilMs",
    "candidateSinceMs",
    "candidateUntilMs",
    "quantiles",
    "confidence",
    "minRelativeChange",
    "minCount",
    "exact",
];

/// The object, with no key outside `keys`.
fn object_of(body: &[u8], keys: &[&str], what: &str) -> Result<Map<String, Value>, BadRequest> {
    let obj = request::object(body)?;
    if let Some(key) = obj.keys().find(|k| !keys.contains(&k.as_str())) {
        return Err(BadRequest::new(
            request::show(key),
            format!("unknown key; {what} has {}", keys.join(", ")),
        ));
    }
    Ok(obj)
}

fn number(obj: &Map<String, Value>, key: &str) -> Result<Option<f64>, BadRequest> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or_else(|| BadRequest::new(key, request::expected("a finite number", v))),
    }
}

fn whole(obj: &Map<String, Value>, key: &str) -> Result<Option<u64>, BadRequest> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| BadRequest::new(key, request::expected("a whole number >= 0", v))),
    }
}

fn text<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, BadRequest> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(BadRequest::new(key, request::expected("a string", v))),
    }
}

/// Epoch ms as a range bound in ns (before 1970: 0; beyond 2554: the end of time).
fn bound(obj: &Map<String, Value>, key: &str) -> Result<u64, BadRequest> {
    let ms = number(obj, key)?.ok_or_else(|| BadRequest::new(key, "required (epoch ms)"))?;
    Ok(if ms <= 0.0 {
        0
    } else if ms >= u64::MAX as f64 / 1e6 {
        u64::MAX
    } else {
        let whole = ms.trunc();
        (whole as u64)
            .saturating_mul(1_000_000)
            .saturating_add(((ms - whole) * 1e6).round() as u64)
    })
}

pub fn decode_histogram(body: &[u8], now_ns: u64) -> Result<HistogramRequest, BadRequest> {
    let obj = object_of(body, &HISTOGRAM_KEYS, "a histogram request")?;
    let bins = whole(&obj, "bins")?.ok_or_else(|| BadRequest::new("bins", "required"))?;
    Ok(HistogramRequest {
        filter: request::filter(&obj)?,
        now_ns: request::now(&obj, now_ns)?,
        bins: usize::try_from(bins).unwrap_or(usize::MAX),
    })
}

pub fn decode_anomalies(body: &[u8], now_ns: u64) -> Result<AnomaliesRequest, BadRequest> {
    let obj = object_of(body, &ANOMALIES_KEYS, "an anomalies request")?;
    let metric = match text(&obj, "metric")? {
        None | Some("p99") => Metric::P99,
        Some("p50") => Metric::P50,
        Some("error_rate") => Metric::ErrorRate,
        Some(other) => {
            return Err(BadRequest::new(
                "metric",
                format!(
                    "must be p50, p99 or error_rate, got {}",
                    request::show(other)
                ),
            ))
        }
    };
    let direction = match text(&obj, "direction")? {
        None | Some("up") => Direction::Up,
        Some("down") => Direction::Down,
        Some("both") => Direction::Both,
        Some(other) => {
            return Err(BadRequest::new(
                "direction",
                format!("must be up, down or both, got {}", request::show(other)),
            ))
        }
    };
    let mut options = AnomalyOptions {
        metric,
        direction,
        ..AnomalyOptions::default()
    };
    if let Some(n) = whole(&obj, "baselineBuckets")? {
        options.baseline_buckets = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(n) = whole(&obj, "minBaselineBuckets")? {
        options.min_baseline_buckets = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(t) = number(&obj, "threshold")? {
        options.threshold = t;
    }
    if let Some(c) = number(&obj, "minRelativeChange")? {
        options.min_relative_change = c;
    }
    if let Some(n) = whole(&obj, "minCount")? {
        options.min_count = n;
    }
    if let Some(n) = whole(&obj, "minErrors")? {
        options.min_errors = n;
    }
    let bucket = text(&obj, "bucket")?.ok_or_else(|| BadRequest::new("bucket", "required"))?;
    let bucket_ns = filter::parse_duration(bucket)
        .ok()
        .filter(|&ns| ns > 0)
        .ok_or_else(|| {
            BadRequest::new(
                "bucket",
                format!(
                    "must be a duration above 0 such as 1m, got {}",
                    request::show(bucket)
                ),
            )
        })?;
    Ok(AnomaliesRequest {
        filter: request::filter(&obj)?,
        now_ns: request::now(&obj, now_ns)?,
        bucket_ns,
        options,
    })
}

pub fn decode_compare(body: &[u8], now_ns: u64) -> Result<CompareRequest, BadRequest> {
    let obj = object_of(body, &COMPARE_KEYS, "a compare request")?;
    let mut options = CompareOptions::default();
    match obj.get("quantiles") {
        None | Some(Value::Null) => {}
        Some(Value::Array(qs)) => {
            options.quantiles = qs
                .iter()
                .enumerate()
                .map(|(i, q)| {
                    q.as_f64().ok_or_else(|| {
                        BadRequest::new(format!("quantiles[{i}]"), request::expected("a number", q))
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        Some(v) => {
            return Err(BadRequest::new(
                "quantiles",
                request::expected("an array", v),
            ))
        }
    }
    if let Some(c) = number(&obj, "confidence")? {
        options.confidence = c;
    }
    if let Some(c) = number(&obj, "minRelativeChange")? {
        options.min_relative_change = c;
    }
    if let Some(n) = whole(&obj, "minCount")? {
        options.min_count = n;
    }
    let precision = match obj.get("exact") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Precision::Auto,
        Some(Value::Bool(true)) => Precision::Exact,
        Some(v) => {
            return Err(BadRequest::new(
                "exact",
                request::expected("true or false", v),
            ))
        }
    };
    Ok(CompareRequest {
        filter: request::filter(&obj)?,
        now_ns: request::now(&obj, now_ns)?,
        baseline: TimeRange {
            since_ns: bound(&obj, "baselineSinceMs")?,
            until_ns: bound(&obj, "baselineUntilMs")?,
        },
        candidate: TimeRange {
            since_ns: bound(&obj, "candidateSinceMs")?,
            until_ns: bound(&obj, "candidateUntilMs")?,
        },
        options,
        precision,
    })
}

/// A float as JSON: a number, or `"Infinity"`, `"-Infinity"`, `"NaN"`.
fn float(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or_else(
        || {
            Value::from(if x.is_nan() {
                "NaN"
            } else if x > 0.0 {
                "Infinity"
            } else {
                "-Infinity"
            })
        },
        Value::Number,
    )
}

pub fn histogram_json(h: &Histogram, coverage: &Coverage) -> Value {
    json!({
        "calls": h.calls,
        "bins": h.bins.iter().map(|b| json!({"loNs": b.lo, "hiNs": b.hi, "count": b.count})).collect::<Vec<_>>(),
        "stats": stats_json(&h.stats),
        "coverage": coverage_json(coverage),
    })
}

fn metric_name(m: Metric) -> &'static str {
    match m {
        Metric::P50 => "p50",
        Metric::P99 => "p99",
        Metric::ErrorRate => "error_rate",
    }
}

pub fn anomalies_json(found: &[FunctionAnomaly], coverage: &Coverage) -> Value {
    let anomalies: Vec<Value> = found
        .iter()
        .map(|f| {
            let a = &f.anomaly;
            json!({
                "name": f.name.as_ref(),
                "startMs": a.start_ns as f64 / 1e6,
                "bucketNs": f.bucket_ns,
                "metric": metric_name(a.metric),
                "value": float(a.value),
                "baseline": float(a.baseline),
                "z": float(a.z),
                "relativeChange": float(a.relative_change),
                "count": a.count,
                "direction": if a.direction == Direction::Down { "down" } else { "up" },
            })
        })
        .collect();
    json!({"anomalies": anomalies, "coverage": coverage_json(coverage)})
}

pub fn compare_json(
    functions: &[FunctionComparison],
    stats: &QueryStats,
    coverage: &Coverage,
) -> Value {
    let functions: Vec<Value> = functions
        .iter()
        .map(|f| {
            let c = &f.comparison;
            json!({
                "name": f.name.as_ref(),
                "verdict": match c.verdict {
                    Verdict::Regressed => "regressed",
                    Verdict::Improved => "improved",
                    Verdict::Unchanged => "unchanged",
                    Verdict::InsufficientData => "insufficient_data",
                },
                "baselineCalls": f.baseline_calls,
                "baselineErrors": f.baseline_errors,
                "candidateCalls": f.candidate_calls,
                "candidateErrors": f.candidate_errors,
                "quantiles": c.quantiles.iter().map(|q| json!({
                    "q": float(q.q),
                    "baseline": q.baseline,
                    "candidate": q.candidate,
                    "relativeChange": float(q.relative_change),
                    "baselineInterval": [q.baseline_interval.0, q.baseline_interval.1],
                    "candidateInterval": [q.candidate_interval.0, q.candidate_interval.1],
                    "significant": q.significant,
                })).collect::<Vec<_>>(),
                "baselineErrorRate": float(c.error_rate.baseline),
                "candidateErrorRate": float(c.error_rate.candidate),
                "errorRatePValue": float(c.error_rate.p_value),
                "errorRateSignificant": c.error_rate.significant,
            })
        })
        .collect();
    json!({"functions": functions, "stats": stats_json(stats), "coverage": coverage_json(coverage)})
}

/// An analysis's bad options are the client's error (400), as a bad query is.
fn refused(e: laptime_storage::Error) -> Error {
    Error::BadQuery(BadRequest::new("", e.to_string()))
}

impl Coordinator {
    /// The latency histogram over every indexer.
    pub async fn histogram(&self, req: &HistogramRequest) -> Result<(Histogram, Coverage), Error> {
        let query = req.query().map_err(refused)?;
        let (merged, coverage) = self.partial(&query).await?;
        let req = req.clone();
        let h = blocking(move || histogram_from_partial(&req, merged)).await?;
        Ok((h, coverage))
    }

    /// The anomalies over every indexer.
    pub async fn anomalies(
        &self,
        req: &AnomaliesRequest,
    ) -> Result<(Vec<FunctionAnomaly>, Coverage), Error> {
        let query = req.query().map_err(refused)?;
        let (merged, coverage) = self.partial(&query).await?;
        let req = req.clone();
        let found = blocking(move || anomalies_from_partial(&req, merged)).await?;
        Ok((found, coverage))
    }

    /// The comparison of two ranges over every indexer, both asked at once. An indexer that
    /// answered only one of them (it failed in between: rare) is reported as missing, so the
    /// answer says it is incomplete; its events then count in one range only.
    pub async fn compare(
        &self,
        req: &CompareRequest,
    ) -> Result<(Vec<FunctionComparison>, QueryStats, Coverage), Error> {
        let (base_q, cand_q) = req.queries().map_err(refused)?;
        let (base, cand) = tokio::join!(self.partial(&base_q), self.partial(&cand_q));
        let ((base, base_cov), (cand, cand_cov)) = (base?, cand?);
        let coverage = Coverage::worse(base_cov, cand_cov);
        let req = req.clone();
        let (functions, stats) = blocking(move || compare_from_partials(&req, base, cand)).await?;
        Ok((functions, stats, coverage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000_000_000;

    fn at<T: std::fmt::Debug>(r: Result<T, BadRequest>) -> (String, String) {
        let e = r.expect_err("refused");
        (e.at, e.message)
    }

    #[test]
    fn requests_decode_with_the_addons_defaults() {
        let h = decode_histogram(br#"{"filter":"name:a","bins":30}"#, NOW).unwrap();
        assert_eq!((h.bins, h.now_ns), (30, NOW));
        let a = decode_anomalies(
            br#"{"bucket":"5m","metric":"error_rate","minCount":3}"#,
            NOW,
        )
        .unwrap();
        assert_eq!(a.bucket_ns, 300_000_000_000);
        assert_eq!(
            (a.options.metric, a.options.min_count),
            (Metric::ErrorRate, 3)
        );
        assert_eq!(a.options.direction, Direction::Up);
        let c = decode_compare(
            br#"{"baselineSinceMs":0,"baselineUntilMs":1000.5,"candidateSinceMs":2000,"candidateUntilMs":3000,"quantiles":[0.5,0.99],"exact":true}"#,
            NOW,
        )
        .unwrap();
        assert_eq!(c.baseline.until_ns, 1_000_500_000);
        assert_eq!(c.options.quantiles, vec![0.5, 0.99]);
        assert_eq!(c.precision, Precision::Exact);
    }

    #[test]
    fn bad_requests_name_the_part() {
        assert_eq!(at(decode_histogram(b"{}", NOW)).0, "bins");
        assert_eq!(at(decode_histogram(br#"{"bins":-1}"#, NOW)).0, "bins");
        assert_eq!(at(decode_histogram(br#"{"bins":3,"x":1}"#, NOW)).0, "\"x\"");
        assert_eq!(at(decode_anomalies(b"{}", NOW)).0, "bucket");
        assert_eq!(at(decode_anomalies(br#"{"bucket":"0s"}"#, NOW)).0, "bucket");
        assert_eq!(
            at(decode_anomalies(br#"{"bucket":"1m","metric":"p95"}"#, NOW)).0,
            "metric"
        );
        assert_eq!(
            at(decode_anomalies(br#"{"bucket":"1m","threshold":"3"}"#, NOW)).0,
            "threshold"
        );
        let (part, message) = at(decode_compare(br#"{"baselineSinceMs":0}"#, NOW));
        assert_eq!(
            (part.as_str(), message.contains("required")),
            ("baselineUntilMs", true)
        );
        assert_eq!(
            at(decode_compare(
                br#"{"baselineSinceMs":0,"baselineUntilMs":1,"candidateSinceMs":1,"candidateUntilMs":2,"quantiles":["x"]}"#,
                NOW
            ))
            .0,
            "quantiles[0]"
        );
    }

    #[test]
    fn non_finite_figures_travel_as_text() {
        assert_eq!(float(f64::INFINITY), Value::from("Infinity"));
        assert_eq!(float(f64::NEG_INFINITY), Value::from("-Infinity"));
        assert_eq!(float(f64::NAN), Value::from("NaN"));
        assert_eq!(float(0.25), json!(0.25));
    }
}
