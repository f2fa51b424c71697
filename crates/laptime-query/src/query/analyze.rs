//! Anomalies and regressions over a store: the engine computes per-function series and range
//! summaries with ordinary grouped queries, and [`crate::analysis`] judges them.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::analysis::{
    self, Anomaly, AnomalyOptions, BucketPoint, CompareOptions, Comparison, RangeSummary, Verdict,
};
use crate::filter::{Filter, Kind, Term, TimeBound};
use laptime_storage::scan::View;
use laptime_storage::Result;

use super::accumulate::Durations;
use super::{execute, invalid, Aggregate, GroupBy, GroupValue, Precision, Query, QueryStats};

/// Calls, errors and durations of one function in one range.
type Summary = RangeSummary<Durations>;

/// Which functions to scan for anomalous buckets, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct AnomaliesRequest {
    /// Which calls (typically with a `since:` bound covering the baseline window too).
    pub filter: Filter,
    /// Reference time for relative bounds, epoch ns.
    pub now_ns: u64,
    /// Bucket width, ns.
    pub bucket_ns: u64,
    /// Detection settings.
    pub options: AnomalyOptions,
}

/// An anomalous bucket of one function.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionAnomaly {
    /// The function.
    pub name: Arc<str>,
    /// Bucket width, ns (the bucket is `anomaly.start_ns .. + bucket_ns`).
    pub bucket_ns: u64,
    /// The finding.
    pub anomaly: Anomaly,
}

/// The anomalies of every function passing the filter, oldest bucket first (then by name).
/// Buckets use sketch percentiles (within 1%), which the detector's noise floor allows for.
pub fn anomalies(view: &View, req: &AnomaliesRequest) -> Result<Vec<FunctionAnomaly>> {
    req.options.validate()?;
    if req.bucket_ns == 0 {
        return Err(invalid("bucket", "the bucket width must be above 0"));
    }
    let query = Query {
        filter: calls_only(&req.filter),
        now_ns: req.now_ns,
        group_by: vec![GroupBy::Name, GroupBy::Time(req.bucket_ns)],
        aggregates: vec![
            Aggregate::Count,
            Aggregate::Errors,
            Aggregate::Percentile(0.5),
            Aggregate::Percentile(0.99),
        ],
        precision: Precision::Auto,
        ..Query::default()
    };
    // Rows come sorted by (name, time): one run of rows per function.
    let rows = super::run(view, &query)?.rows;
    let mut out = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let name = match &rows[i].key[0] {
            GroupValue::Str(s) => Arc::clone(s),
            other => Arc::from(other.to_string()),
        };
        let mut series = Vec::new();
        while i < rows.len() && rows[i].key[0] == GroupValue::Str(Arc::clone(&name)) {
            let r = &rows[i];
            let start_ns = match r.key[1] {
                GroupValue::Time(t) => t,
                _ => 0,
            };
            let count = |j: usize| r.values[j].as_f64().map_or(0, |v| v as u64);
            let nanos = |j: usize| r.values[j].as_f64().map(|v| v as u64);
            series.push(BucketPoint {
                start_ns,
                count: count(0),
                errors: count(1),
                p50_ns: nanos(2),
                p99_ns: nanos(3),
            });
            i += 1;
        }
        for anomaly in analysis::detect(&series, &req.options) {
            out.push(FunctionAnomaly {
                name: Arc::clone(&name),
                bucket_ns: req.bucket_ns,
                anomaly,
            });
        }
    }
    out.sort_by(|a, b| {
        a.anomaly
            .start_ns
            .cmp(&b.anomaly.start_ns)
            .then_with(|| a.name.cmp(&b.name))
    });
    Ok(out)
}

/// A time range `[since, until)` in epoch ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start.
    pub since_ns: u64,
    /// Exclusive end.
    pub until_ns: u64,
}

/// Two time ranges to compare per function.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareRequest {
    /// Which calls (applies to both ranges).
    pub filter: Filter,
    /// Reference time for relative bounds in the filter, epoch ns.
    pub now_ns: u64,
    /// Before (e.g. the hour before a deploy).
    pub baseline: TimeRange,
    /// After.
    pub candidate: TimeRange,
    /// Judgement settings; `sketch_error` is set to 0 under [`Precision::Exact`].
    pub options: CompareOptions,
    /// Sketch percentiles (fast, within 1%) or exact ones.
    pub precision: Precision,
}

/// One function's change between the ranges.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionComparison {
    /// The function.
    pub name: Arc<str>,
    /// Calls in the baseline range.
    pub baseline_calls: u64,
    /// Failed calls in the baseline range.
    pub baseline_errors: u64,
    /// Calls in the candidate range.
    pub candidate_calls: u64,
    /// Failed calls in the candidate range.
    pub candidate_errors: u64,
    /// Per-quantile and error-rate changes and the verdict.
    pub comparison: Comparison,
}

/// Compare every function seen in either range: regressed first, then improved, unchanged and
/// those without enough data, each by name.
pub fn compare(view: &View, req: &CompareRequest) -> Result<(Vec<FunctionComparison>, QueryStats)> {
    let mut options = req.options.clone();
    if req.precision == Precision::Exact {
        options.sketch_error = 0.0;
    }
    options.validate()?;
    for (what, r) in [("baseline", req.baseline), ("candidate", req.candidate)] {
        if r.since_ns >= r.until_ns {
            return Err(invalid(
                what,
                "the range is empty: since must be before until",
            ));
        }
    }
    let summarize = |range: TimeRange| {
        let mut filter = calls_only(&req.filter);
        filter
            .terms
            .push(Term::Since(TimeBound::EpochNs(range.since_ns)));
        filter
            .terms
            .push(Term::Until(TimeBound::EpochNs(range.until_ns)));
        let query = Query {
            filter,
            now_ns: req.now_ns,
            group_by: vec![GroupBy::Name],
            // A percentile makes the accumulators keep a sketch (or every value, when exact).
            aggregates: vec![Aggregate::Count, Aggregate::Percentile(0.5)],
            precision: req.precision,
            ..Query::default()
        };
        execute::collect(view, &query)
    };
    let (base, base_stats) = summarize(req.baseline)?;
    let (cand, cand_stats) = summarize(req.candidate)?;
    let mut by_name: BTreeMap<String, (Option<Summary>, Option<Summary>)> = BTreeMap::new();
    for (key, acc) in base {
        by_name.entry(key_name(&key)).or_default().0 = Some(acc.into_summary());
    }
    for (key, acc) in cand {
        by_name.entry(key_name(&key)).or_default().1 = Some(acc.into_summary());
    }
    let empty = || RangeSummary {
        calls: 0,
        errors: 0,
        durations: Durations::empty(),
    };
    let mut out: Vec<FunctionComparison> = by_name
        .into_iter()
        .map(|(name, (b, c))| {
            let (b, c) = (b.unwrap_or_else(empty), c.unwrap_or_else(empty));
            FunctionComparison {
                name: Arc::from(name),
                baseline_calls: b.calls,
                baseline_errors: b.errors,
                candidate_calls: c.calls,
                candidate_errors: c.errors,
                comparison: analysis::compare(&b, &c, &options),
            }
        })
        .collect();
    let rank = |v: &Verdict| match v {
        Verdict::Regressed => 0,
        Verdict::Improved => 1,
        Verdict::Unchanged => 2,
        Verdict::InsufficientData => 3,
    };
    out.sort_by(|a, b| {
        rank(&a.comparison.verdict)
            .cmp(&rank(&b.comparison.verdict))
            .then_with(|| a.name.cmp(&b.name))
    });
    let mut stats = QueryStats {
        pages_total: base_stats.pages_total,
        exact_percentiles: req.precision == Precision::Exact,
        ..base_stats
    };
    stats.add_work(&cand_stats);
    Ok((out, stats))
}

fn key_name(key: &[GroupValue]) -> String {
    key.first().map_or_else(String::new, ToString::to_string)
}

/// `filter` restricted to calls (anomalies and regressions are about calls).
fn calls_only(filter: &Filter) -> Filter {
    let mut f = filter.clone();
    f.terms.push(Term::Kind(Kind::Call));
    f
}
