//! Latency histograms: the durations of the calls a filter matches, counted into log-spaced bins.
//! One pass of the query engine (pages inside the filter answer from their sketches, the others
//! are decoded) gives one sketch of every matching call; its exact bucket counts are binned
//! ([`LatencySketch::histogram`]), so the counts add up to the calls and each lands at most 1%
//! from its true bin edge.

use laptime_storage::sketch::{HistogramBin, LatencySketch, SketchSum};
use laptime_storage::{Error, Result, View};

use super::{Aggregate, Partial, Precision, Query, QueryStats};
use crate::filter::{Filter, Kind, Term};

/// Most bins a histogram may have.
pub const MAX_HISTOGRAM_BINS: usize = 1_000;

/// Which calls to count and into how many bins.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramRequest {
    /// Which calls (logs never count: they have no duration).
    pub filter: Filter,
    /// Reference time for relative bounds, epoch ns.
    pub now_ns: u64,
    /// Log-spaced bins between the shortest and the longest non-zero duration (1..=1000).
    pub bins: usize,
}

/// The answer to a [`HistogramRequest`].
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Matching calls (the bins' counts add up to it).
    pub calls: u64,
    /// Bins in ascending order: `0..=0` first when some calls took 0 ns, then the log-spaced ones.
    pub bins: Vec<HistogramBin>,
    /// What the engine did.
    pub stats: QueryStats,
}

impl HistogramRequest {
    /// The query a histogram runs on every store: one group of the matching calls, kept as a
    /// sketch. Its [`Partial`]s merge into the sketch [`histogram_from_partial`] bins. Fails on
    /// a bin count outside 1..=[`MAX_HISTOGRAM_BINS`].
    pub fn query(&self) -> Result<Query> {
        if self.bins == 0 || self.bins > MAX_HISTOGRAM_BINS {
            return Err(Error::invalid_option(
                "bins",
                format!("must be 1 to {MAX_HISTOGRAM_BINS}, got {}", self.bins),
            ));
        }
        let mut filter = self.filter.clone();
        filter.terms.push(Term::Kind(Kind::Call));
        // A sketch-backed percentile makes the engine keep one sketch of all matching calls.
        let query = Query {
            filter,
            now_ns: self.now_ns,
            aggregates: vec![Aggregate::Percentile(0.5)],
            precision: Precision::Auto,
            ..Query::default()
        };
        query.validate()?;
        Ok(query)
    }
}

/// The histogram from the (merged) partial result of [`HistogramRequest::query`]: over many
/// stores, the same bins one store holding all their calls gives (sketches merge exactly).
/// Fails if `partial` answers another query.
pub fn histogram_from_partial(req: &HistogramRequest, partial: Partial) -> Result<Histogram> {
    partial.check_answers(&req.query()?)?;
    let (groups, stats) = partial.into_parts();
    let sketch = groups
        .into_iter()
        .find_map(|(_, acc)| acc.sketch)
        .map_or_else(LatencySketch::new, SketchSum::into_sketch);
    Ok(Histogram {
        calls: sketch.count(),
        bins: sketch.histogram(req.bins),
        stats,
    })
}

/// Count the durations of the calls `req.filter` matches into log-spaced bins.
pub fn histogram(view: &View, req: &HistogramRequest) -> Result<Histogram> {
    let query = req.query()?;
    histogram_from_partial(req, Partial::run(view, &query)?)
}
