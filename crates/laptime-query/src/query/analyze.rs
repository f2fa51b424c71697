//! Anomalies and regressions over a store: the engine computes per-function series and range
//! summaries with ordinary grouped queries, and [`crate::analysis`] judges them.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::analysis::{
    self, Anomaly, AnomalyOptions, BucketPoint, CompareOptions, Comparison, RangeSummary, Verdict,
};
use crate::filter::{Filter, Kind, Term, TimeBound};
use laptime_storage::scan::View;
use laptime_storage::{Error, Result};

use super::accumulate::Durations;
use super::execute::KeyPart;
use super::{
    invalid, Aggregate, GroupBy, GroupValue, Partial, Precision, Query, QueryResult, QueryStats,
};

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

impl AnomaliesRequest {
    /// The query anomaly detection runs on every store: count, errors, p50 and p99 (sketch)
    /// per function and time bucket. Finish its (merged) [`Partial`]s with it and judge the
    /// result with [`anomalies_from_result`]. Fails on bad options or a zero bucket width.
    pub fn query(&self) -> Result<Query> {
        self.options.validate()?;
        if self.bucket_ns == 0 {
            return Err(invalid("bucket", "the bucket width must be above 0"));
        }
        Ok(Query {
            filter: calls_only(&self.filter),
            now_ns: self.now_ns,
            group_by: vec![GroupBy::Name, GroupBy::Time(self.bucket_ns)],
            aggregates: vec![
                Aggregate::Count,
                Aggregate::Errors,
                Aggregate::Percentile(0.5),
                Aggregate::Percentile(0.99),
            ],
            precision: Precision::Auto,
            ..Query::default()
        })
    }
}

/// The anomalies of every function passing the filter, oldest bucket first (then by name).
/// Buckets use sketch percentiles (within 1%), which the detector's noise floor allows for.
pub fn anomalies(view: &View, req: &AnomaliesRequest) -> Result<Vec<FunctionAnomaly>> {
    let query = req.query()?;
    anomalies_from_result(req, super::run(view, &query)?)
}

/// [`anomalies`] from the (merged) partial result of [`AnomaliesRequest::query`]: over many
/// stores, the anomalies one store holding all their calls gives. Fails if `partial` answers
/// another query.
pub fn anomalies_from_partial(
    req: &AnomaliesRequest,
    partial: Partial,
) -> Result<Vec<FunctionAnomaly>> {
    let query = req.query()?;
    anomalies_from_result(req, partial.finish(&query)?)
}

/// Judge the result of [`AnomaliesRequest::query`] (run on one store, or finished from merged
/// partials): the anomalies of every function, oldest bucket first (then by name). Rows may come
/// in any order, but none may be missing (no limit). Fails on a result whose columns or keys
/// are not those of the request's query.
pub fn anomalies_from_result(
    req: &AnomaliesRequest,
    result: QueryResult,
) -> Result<Vec<FunctionAnomaly>> {
    let query = req.query()?;
    let labels: Vec<String> = query.aggregates.iter().map(Aggregate::label).collect();
    if result.key_labels != ["name", "time"] || result.value_labels != labels {
        return Err(other_result(format!(
            "its columns are {:?} {:?}, expected [\"name\", \"time\"] {labels:?}",
            result.key_labels, result.value_labels
        )));
    }
    let mut series_of: BTreeMap<Arc<str>, Vec<BucketPoint>> = BTreeMap::new();
    for (i, r) in result.rows.into_iter().enumerate() {
        let (name, start_ns) = match (r.key.as_slice(), r.values.len()) {
            ([GroupValue::Str(name), GroupValue::Time(t)], 4) if t % req.bucket_ns == 0 => {
                (Arc::clone(name), *t)
            }
            _ => {
                return Err(other_result(format!(
                    "row {i} ({:?}) is not a function's {} ns bucket with 4 values",
                    r.key, req.bucket_ns
                )))
            }
        };
        let count = |j: usize| r.values[j].as_f64().map_or(0, |v| v as u64);
        let nanos = |j: usize| r.values[j].as_f64().map(|v| v as u64);
        series_of.entry(name).or_default().push(BucketPoint {
            start_ns,
            count: count(0),
            errors: count(1),
            p50_ns: nanos(2),
            p99_ns: nanos(3),
        });
    }
    let mut out = Vec::new();
    for (name, mut series) in series_of {
        // The detector reads a series oldest first.
        series.sort_by_key(|p| p.start_ns);
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

fn other_result(reason: String) -> Error {
    Error::InvalidInput {
        what: "anomalies query result",
        reason: format!("it answers another query: {reason}"),
    }
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

impl CompareRequest {
    /// The judgement settings: `sketch_error` is 0 under [`Precision::Exact`]. Fails on bad
    /// options or an empty range.
    fn judged_options(&self) -> Result<CompareOptions> {
        let mut options = self.options.clone();
        if self.precision == Precision::Exact {
            options.sketch_error = 0.0;
        }
        options.validate()?;
        for (what, r) in [("baseline", self.baseline), ("candidate", self.candidate)] {
            if r.since_ns >= r.until_ns {
                return Err(invalid(
                    what,
                    "the range is empty: since must be before until",
                ));
            }
        }
        Ok(options)
    }

    /// The queries a comparison runs on every store, baseline range first: calls, errors and
    /// durations (sketch or every value, by precision) per function. Their (merged)
    /// [`Partial`]s go to [`compare_from_partials`]. Fails on bad options or an empty range.
    pub fn queries(&self) -> Result<(Query, Query)> {
        self.judged_options()?;
        Ok((
            self.range_query(self.baseline),
            self.range_query(self.candidate),
        ))
    }

    fn range_query(&self, range: TimeRange) -> Query {
        let mut filter = calls_only(&self.filter);
        filter
            .terms
            .push(Term::Since(TimeBound::EpochNs(range.since_ns)));
        filter
            .terms
            .push(Term::Until(TimeBound::EpochNs(range.until_ns)));
        Query {
            filter,
            now_ns: self.now_ns,
            group_by: vec![GroupBy::Name],
            // A percentile makes the accumulators keep a sketch (or every value, when exact).
            aggregates: vec![Aggregate::Count, Aggregate::Percentile(0.5)],
            precision: self.precision,
            ..Query::default()
        }
    }
}

/// Compare every function seen in either range: regressed first, then improved, unchanged and
/// those without enough data, each by name.
pub fn compare(view: &View, req: &CompareRequest) -> Result<(Vec<FunctionComparison>, QueryStats)> {
    let (baseline, candidate) = req.queries()?;
    let baseline = Partial::run(view, &baseline)?;
    let candidate = Partial::run(view, &candidate)?;
    compare_from_partials(req, baseline, candidate)
}

/// [`compare`] from the (merged) partial results of [`CompareRequest::queries`], baseline and
/// candidate: over many stores, the comparisons one store holding all their calls gives
/// (sketches merge exactly, exact durations all travel). The stats are the work of both, with
/// the baseline's page total. Fails if either partial answers another query than its range's.
pub fn compare_from_partials(
    req: &CompareRequest,
    baseline: Partial,
    candidate: Partial,
) -> Result<(Vec<FunctionComparison>, QueryStats)> {
    let options = req.judged_options()?;
    baseline
        .check_answers(&req.range_query(req.baseline))
        .map_err(|e| in_range("baseline", e))?;
    candidate
        .check_answers(&req.range_query(req.candidate))
        .map_err(|e| in_range("candidate", e))?;
    let (base, base_stats) = baseline.into_parts();
    let (cand, cand_stats) = candidate.into_parts();
    let mut by_name: BTreeMap<String, (Option<Summary>, Option<Summary>)> = BTreeMap::new();
    for (key, acc) in base {
        by_name.entry(key_name(key)).or_default().0 = Some(acc.into_summary());
    }
    for (key, acc) in cand {
        by_name.entry(key_name(key)).or_default().1 = Some(acc.into_summary());
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

/// Name which range's partial answers another query.
fn in_range(range: &str, e: Error) -> Error {
    match e {
        Error::InvalidInput { reason, .. } => Error::InvalidInput {
            what: "partial result",
            reason: format!("for the {range} range, {reason}"),
        },
        e => e,
    }
}

fn key_name(key: Vec<KeyPart>) -> String {
    key.into_iter()
        .next()
        .map_or_else(String::new, |k| k.into_value().to_string())
}

/// `filter` restricted to calls (anomalies and regressions are about calls).
fn calls_only(filter: &Filter) -> Filter {
    let mut f = filter.clone();
    f.terms.push(Term::Kind(Kind::Call));
    f
}
