//! Before/after comparison of one function over two time ranges.
//!
//! Latency quantiles: for each `q`, a distribution-free confidence interval from order
//! statistics. The number of values below the true quantile is Binomial(n, q), so with
//! `z` the two-sided normal quantile of `confidence`, ranks
//! `l = floor(n q - z sqrt(n q (1 - q)))` and `u = ceil(n q + z sqrt(n q (1 - q)))` (clamped to
//! `[1, n]`) bracket it. The interval `[value at l, value at u]` is then widened by the relative
//! error of the values (`sketch_error`), so an interval read from a sketch still contains the
//! exact one. A quantile changed when the two intervals are disjoint and the point estimates
//! differ by at least `min_relative_change`.
//!
//! Error rate: pooled two-proportion z-test, significant when the two-sided p-value is below
//! `1 - confidence` and the rates differ by at least [`MIN_ERROR_RATE_CHANGE`].

use laptime_storage::sketch::{nearest_rank, LatencySketch};
use laptime_storage::{Error, Result};

/// Smallest absolute error-rate change (0.5 percentage points) that counts as significant. With
/// millions of calls the z-test finds differences of 0.01 points that nobody should act on.
pub const MIN_ERROR_RATE_CHANGE: f64 = 0.005;

/// Values that can be read by 1-based rank in ascending order.
pub trait RankedValues {
    /// Number of values.
    fn count(&self) -> u64;
    /// The value at 1-based `rank` in ascending order; `None` outside `1..=count()`.
    fn at_rank(&self, rank: u64) -> Option<u64>;
}

/// Within the sketch's relative error of the exact value at that rank.
impl RankedValues for LatencySketch {
    fn count(&self) -> u64 {
        LatencySketch::count(self)
    }

    fn at_rank(&self, rank: u64) -> Option<u64> {
        let n = LatencySketch::count(self);
        if rank == 0 || rank > n {
            return None;
        }
        self.quantile(q_for_rank(rank, n))
    }
}

/// Exact; the slice must be sorted ascending.
impl RankedValues for [u64] {
    fn count(&self) -> u64 {
        self.len() as u64
    }

    fn at_rank(&self, rank: u64) -> Option<u64> {
        let index = usize::try_from(rank.checked_sub(1)?).ok()?;
        self.get(index).copied()
    }
}

/// Exact; the vector must be sorted ascending.
impl RankedValues for Vec<u64> {
    fn count(&self) -> u64 {
        self.as_slice().count()
    }

    fn at_rank(&self, rank: u64) -> Option<u64> {
        self.as_slice().at_rank(rank)
    }
}

impl<T: RankedValues + ?Sized> RankedValues for &T {
    fn count(&self) -> u64 {
        (**self).count()
    }

    fn at_rank(&self, rank: u64) -> Option<u64> {
        (**self).at_rank(rank)
    }
}

/// A `q` whose nearest rank among `n` values is `rank` (for `1 <= rank <= n`).
///
/// `(rank - 0.5) / n` sits half a rank away from both rounding edges of `ceil(q * n)`, so it
/// lands on `rank` whenever `f64` can tell ranks apart (n below 2^51). Beyond that, a bisection
/// finds the smallest `q` reaching at least `rank`, the closest rank `f64` can express.
pub(crate) fn q_for_rank(rank: u64, n: u64) -> f64 {
    let guess = ((rank as f64 - 0.5) / n as f64).clamp(0.0, 1.0);
    if nearest_rank(guess, n) == Some(rank) {
        return guess;
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if nearest_rank(mid, n).is_some_and(|r| r >= rank) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// One function over one time range.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RangeSummary<D> {
    /// Calls in the range.
    pub calls: u64,
    /// Failed calls (values above `calls` are treated as `calls`).
    pub errors: u64,
    /// Durations of the calls: a [`LatencySketch`], a sorted `Vec<u64>` or `&[u64]`, or a
    /// reference to any of them.
    pub durations: D,
}

/// Options of [`compare`]; check them with [`CompareOptions::validate`].
#[derive(Clone, Debug, PartialEq)]
pub struct CompareOptions {
    /// Latency quantiles to compare, each in `[0, 1]`. Default `[0.5, 0.99]`.
    pub quantiles: Vec<f64>,
    /// Two-sided confidence of the intervals and the error-rate test, in `(0, 1)`. Default 0.99.
    pub confidence: f64,
    /// Smallest relative change of a quantile that counts (0.1 = 10%). Default 0.1.
    pub min_relative_change: f64,
    /// With fewer calls (or durations) than this in either range the verdict is
    /// [`Verdict::InsufficientData`]. Default 50.
    pub min_count: u64,
    /// Relative error of the duration values in `[0, 1)`: 0.01 for sketches, 0 for exact values.
    /// Default 0.01.
    pub sketch_error: f64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            quantiles: vec![0.5, 0.99],
            confidence: 0.99,
            min_relative_change: 0.1,
            min_count: 50,
            sketch_error: 0.01,
        }
    }
}

impl CompareOptions {
    /// Checks every option; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        if let Some(q) = self.quantiles.iter().find(|q| !(0.0..=1.0).contains(*q)) {
            return Err(Error::invalid_option(
                "quantiles",
                format!("every quantile must be in [0, 1], got {q}"),
            ));
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(Error::invalid_option(
                "confidence",
                format!("must be strictly between 0 and 1, got {}", self.confidence),
            ));
        }
        super::check_non_negative("min_relative_change", self.min_relative_change)?;
        if !(self.sketch_error >= 0.0 && self.sketch_error < 1.0) {
            return Err(Error::invalid_option(
                "sketch_error",
                format!("must be in [0, 1), got {}", self.sketch_error),
            ));
        }
        Ok(())
    }
}

/// Change of one latency quantile.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantileChange {
    /// The quantile, e.g. 0.99.
    pub q: f64,
    /// Nearest-rank quantile of the baseline range, ns.
    pub baseline: u64,
    /// Nearest-rank quantile of the candidate range, ns.
    pub candidate: u64,
    /// `candidate / baseline - 1`; `f64::INFINITY` when only the baseline is 0.
    pub relative_change: f64,
    /// Confidence interval of the baseline quantile, ns.
    pub baseline_interval: (u64, u64),
    /// Confidence interval of the candidate quantile, ns.
    pub candidate_interval: (u64, u64),
    /// Intervals disjoint, change at least `min_relative_change`, and enough data.
    pub significant: bool,
}

/// Change of the error rate.
#[derive(Clone, Debug, PartialEq)]
pub struct RateChange {
    /// Baseline error rate in `[0, 1]` (0 without calls).
    pub baseline: f64,
    /// Candidate error rate in `[0, 1]` (0 without calls).
    pub candidate: f64,
    /// Two-sided p-value of the pooled two-proportion z-test (1 when it cannot be computed).
    pub p_value: f64,
    /// `p_value < 1 - confidence`, change at least [`MIN_ERROR_RATE_CHANGE`], and enough data.
    pub significant: bool,
}

/// Overall outcome of a [`Comparison`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Some quantile or the error rate rose significantly (even if others fell).
    Regressed,
    /// Only significant decreases.
    Improved,
    /// No significant change.
    Unchanged,
    /// A range has fewer than `min_count` calls or durations.
    InsufficientData,
}

/// Result of [`compare`] for one function.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// One entry per requested quantile, in order; empty when a range has no durations.
    pub quantiles: Vec<QuantileChange>,
    /// The error-rate change.
    pub error_rate: RateChange,
    /// Overall verdict.
    pub verdict: Verdict,
}

/// Compares `candidate` against `baseline`.
///
/// Assumes options that passed [`CompareOptions::validate`]; with others it never panics but the
/// result is meaningless.
pub fn compare<B: RankedValues, C: RankedValues>(
    baseline: &RangeSummary<B>,
    candidate: &RangeSummary<C>,
    opts: &CompareOptions,
) -> Comparison {
    let z = super::upper_normal_quantile((1.0 - opts.confidence) / 2.0);
    let min_count = opts.min_count.max(1);
    let enough = [
        baseline.calls,
        candidate.calls,
        baseline.durations.count(),
        candidate.durations.count(),
    ]
    .iter()
    .all(|&n| n >= min_count);

    let mut quantiles = Vec::with_capacity(opts.quantiles.len());
    for &q in &opts.quantiles {
        let b = quantile_interval(&baseline.durations, q, z, opts.sketch_error);
        let c = quantile_interval(&candidate.durations, q, z, opts.sketch_error);
        let (Some((b_value, b_interval)), Some((c_value, c_interval))) = (b, c) else {
            continue;
        };
        let relative_change = relative(c_value as f64, b_value as f64);
        let disjoint = b_interval.1 < c_interval.0 || c_interval.1 < b_interval.0;
        quantiles.push(QuantileChange {
            q,
            baseline: b_value,
            candidate: c_value,
            relative_change,
            baseline_interval: b_interval,
            candidate_interval: c_interval,
            significant: enough && disjoint && relative_change.abs() >= opts.min_relative_change,
        });
    }

    let mut error_rate = rate_change(baseline, candidate);
    error_rate.significant = enough
        && error_rate.p_value < 1.0 - opts.confidence
        && (error_rate.candidate - error_rate.baseline).abs() >= MIN_ERROR_RATE_CHANGE;

    let verdict = if !enough {
        Verdict::InsufficientData
    } else {
        let (mut up, mut down) = (false, false);
        let changes = quantiles
            .iter()
            .filter(|c| c.significant)
            .map(|c| c.candidate as f64 - c.baseline as f64)
            .chain(
                error_rate
                    .significant
                    .then_some(error_rate.candidate - error_rate.baseline),
            );
        for delta in changes {
            up |= delta > 0.0;
            down |= delta < 0.0;
        }
        if up {
            Verdict::Regressed
        } else if down {
            Verdict::Improved
        } else {
            Verdict::Unchanged
        }
    };
    Comparison {
        quantiles,
        error_rate,
        verdict,
    }
}

/// `new / old - 1`, with 0 for two zeros and infinity for growth from 0.
fn relative(new: f64, old: f64) -> f64 {
    if old > 0.0 {
        new / old - 1.0
    } else if new > 0.0 {
        f64::INFINITY
    } else {
        0.0
    }
}

/// Nearest-rank value of quantile `q` and its confidence interval (see the module docs).
fn quantile_interval(
    values: &impl RankedValues,
    q: f64,
    z: f64,
    sketch_error: f64,
) -> Option<(u64, (u64, u64))> {
    let n = values.count();
    let rank = nearest_rank(q, n)?;
    let value = values.at_rank(rank)?;
    let nf = n as f64;
    let center = nf * q;
    let half = z * (nf * q * (1.0 - q)).sqrt();
    // `as u64` saturates (NaN gives 0); the clamps keep the point's own rank inside.
    let l = ((center - half).floor() as u64).clamp(1, n).min(rank);
    let u = ((center + half).ceil() as u64).clamp(1, n).max(rank);
    // A value read within relative error e of x satisfies y / (1 + e) <= x <= y / (1 - e).
    let lo = values.at_rank(l)? as f64 / (1.0 + sketch_error);
    let hi = values.at_rank(u)? as f64 / (1.0 - sketch_error);
    Some((value, (lo.floor() as u64, hi.ceil() as u64)))
}

/// Error rates and the pooled two-proportion z-test; `significant` is left false.
fn rate_change<B, C>(baseline: &RangeSummary<B>, candidate: &RangeSummary<C>) -> RateChange {
    let rate = |errors: u64, calls: u64| {
        if calls == 0 {
            0.0
        } else {
            errors.min(calls) as f64 / calls as f64
        }
    };
    let (n1, n2) = (baseline.calls as f64, candidate.calls as f64);
    let p1 = rate(baseline.errors, baseline.calls);
    let p2 = rate(candidate.errors, candidate.calls);
    let p_value = if baseline.calls == 0 || candidate.calls == 0 {
        1.0
    } else {
        let pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
        let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
        if se > 0.0 {
            // Two-sided: 2 * P(Z > |z|) = erfc(|z| / sqrt(2)).
            2.0 * super::normal_upper_tail(((p2 - p1) / se).abs())
        } else {
            // Both rates 0 or both 1: identical.
            1.0
        }
    };
    RateChange {
        baseline: p1,
        candidate: p2,
        p_value: p_value.min(1.0),
        significant: false,
    }
}
