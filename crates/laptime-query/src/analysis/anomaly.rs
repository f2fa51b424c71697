//! Anomaly detection on one function's bucketed time series with a robust z-score.
//!
//! Each usable bucket (at least `min_count` calls and a value for the metric) is judged against
//! the metric of the up to `baseline_buckets` usable buckets before it:
//!
//! * latency (p50/p99) works on `ln(value)`, where sketch error and multiplicative noise are
//!   additive and symmetric; the error rate works on `asin(sqrt(errors / count))`, where
//!   binomial noise has the same spread `1 / (2 sqrt(count))` at every rate and little skew;
//! * `z = (x - median) / (1.4826 * MAD)` of the baseline. The MAD is floored by the median
//!   residual `|x - median|` of up to `8 * baseline_buckets` earlier judged buckets (a steadier
//!   estimate of the same spread), and by the measurement noise (1% sketch error for latency,
//!   binomial noise for the error rate) so a flat baseline does not make tiny wiggles infinite;
//! * a bucket is flagged when `|z| >= threshold`, the relative change against the baseline median
//!   is at least `min_relative_change` (for an error-rate baseline of 0: at least `min_errors`
//!   errors), and the direction is wanted.
//!
//! Flagged buckets stay in the baseline: after a lasting level shift the detector flags the
//! first buckets of the new level and then accepts it once it holds half the window.

use std::collections::VecDeque;

use laptime_storage::{Error, Result};

/// One time bucket of one function, as computed by the query engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BucketPoint {
    /// Start of the bucket in nanoseconds since the epoch.
    pub start_ns: u64,
    /// Calls in the bucket.
    pub count: u64,
    /// Calls that failed (values above `count` are treated as `count`).
    pub errors: u64,
    /// Median duration in nanoseconds, if the bucket has durations.
    pub p50_ns: Option<u64>,
    /// 99th percentile duration in nanoseconds, if the bucket has durations.
    pub p99_ns: Option<u64>,
}

/// Which per-bucket value [`detect`] judges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Metric {
    /// Median latency.
    P50,
    /// 99th percentile latency.
    #[default]
    P99,
    /// Fraction of calls that failed.
    ErrorRate,
}

/// Direction of a change: which ones to look for, and which one an [`Anomaly`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Direction {
    /// Increases (slower, more errors).
    #[default]
    Up,
    /// Decreases.
    Down,
    /// Both; only used in [`AnomalyOptions::direction`].
    Both,
}

/// Options of [`detect`]; check them with [`AnomalyOptions::validate`].
#[derive(Clone, Debug, PartialEq)]
pub struct AnomalyOptions {
    /// Metric to judge. Default [`Metric::P99`].
    pub metric: Metric,
    /// Number of preceding usable buckets forming the baseline. Default 12.
    pub baseline_buckets: usize,
    /// With fewer usable preceding buckets than this, a bucket is not judged. Default 5.
    pub min_baseline_buckets: usize,
    /// Robust z-score at or above which a bucket is anomalous. Default 3.5.
    pub threshold: f64,
    /// Smallest relative change against the baseline median that counts (0.2 = 20%). Default 0.2.
    pub min_relative_change: f64,
    /// Buckets with fewer calls are neither judged nor used as baseline. Default 30.
    pub min_count: u64,
    /// Error rate with a baseline of exactly 0, where a relative change is undefined: the bucket
    /// needs at least this many errors. Default 5.
    pub min_errors: u64,
    /// Which changes to report. Default [`Direction::Up`].
    pub direction: Direction,
}

impl Default for AnomalyOptions {
    fn default() -> Self {
        AnomalyOptions {
            metric: Metric::P99,
            baseline_buckets: 12,
            min_baseline_buckets: 5,
            threshold: 3.5,
            min_relative_change: 0.2,
            min_count: 30,
            min_errors: 5,
            direction: Direction::Up,
        }
    }
}

impl AnomalyOptions {
    /// Checks every option; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        if self.baseline_buckets == 0 {
            return Err(Error::invalid_option(
                "baseline_buckets",
                "must be at least 1",
            ));
        }
        if self.min_baseline_buckets == 0 || self.min_baseline_buckets > self.baseline_buckets {
            return Err(Error::invalid_option(
                "min_baseline_buckets",
                format!(
                    "must be between 1 and baseline_buckets ({}), got {}",
                    self.baseline_buckets, self.min_baseline_buckets
                ),
            ));
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(Error::invalid_option(
                "threshold",
                format!("must be a positive number, got {}", self.threshold),
            ));
        }
        super::check_non_negative("min_relative_change", self.min_relative_change)?;
        if self.min_count == 0 {
            return Err(Error::invalid_option(
                "min_count",
                "must be at least 1 (a bucket without calls has no metric)",
            ));
        }
        Ok(())
    }
}

/// One flagged bucket.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Anomaly {
    /// Start of the bucket.
    pub start_ns: u64,
    /// Metric that was judged.
    pub metric: Metric,
    /// The bucket's value: nanoseconds for latency, a fraction in `[0, 1]` for the error rate.
    pub value: f64,
    /// Baseline median in the same unit (the median of the transformed values, mapped back).
    pub baseline: f64,
    /// Robust z-score of the transformed value; negative for decreases.
    pub z: f64,
    /// `value / baseline - 1`; `f64::INFINITY` when the baseline is 0.
    pub relative_change: f64,
    /// Calls in the bucket.
    pub count: u64,
    /// [`Direction::Up`] or [`Direction::Down`].
    pub direction: Direction,
}

/// Turns a MAD into a standard deviation for normal data.
const MAD_TO_SIGMA: f64 = 1.4826;

/// The long-run spread estimate looks at the residuals of this many windows of buckets.
const RESIDUAL_HISTORY_FACTOR: usize = 8;

/// ln(1.01). The sketch reports latencies within 1%, so two buckets with the same true latency
/// can differ by up to 2 * ln(1.01) in log space. With the MAD floored here that difference
/// scores at most 2 / 1.4826 ~ 1.35, far below any sensible threshold.
pub(crate) const LATENCY_MAD_FLOOR: f64 = 0.009_950_330_853_168_083;

/// Finds anomalous buckets in `series` (sorted by `start_ns`; gaps are fine).
///
/// Assumes options that passed [`AnomalyOptions::validate`]; with others it never panics but the
/// result is meaningless.
pub fn detect(series: &[BucketPoint], opts: &AnomalyOptions) -> Vec<Anomaly> {
    let mut found = Vec::new();
    let mut state = State {
        window: VecDeque::with_capacity(opts.baseline_buckets.min(4096)),
        residuals: VecDeque::new(),
        residual_limit: opts
            .baseline_buckets
            .saturating_mul(RESIDUAL_HISTORY_FACTOR),
        scratch: Vec::new(),
    };
    for point in series {
        let Some(value) = metric_value(point, opts) else {
            continue;
        };
        if !state.window.is_empty() && state.window.len() >= opts.min_baseline_buckets {
            if let Some(anomaly) = state.judge(point, value, opts) {
                found.push(anomaly);
            }
        }
        if opts.baseline_buckets > 0 {
            if state.window.len() >= opts.baseline_buckets {
                state.window.pop_front();
            }
            state.window.push_back(value);
        }
    }
    found
}

/// The bucket's metric, or `None` when the bucket is not usable.
fn metric_value(point: &BucketPoint, opts: &AnomalyOptions) -> Option<f64> {
    if point.count == 0 || point.count < opts.min_count {
        return None;
    }
    match opts.metric {
        Metric::P50 => point.p50_ns.map(|v| v as f64),
        Metric::P99 => point.p99_ns.map(|v| v as f64),
        Metric::ErrorRate => Some(point.errors.min(point.count) as f64 / point.count as f64),
    }
}

/// Log of a latency; 0 ns is treated as 1 ns so the logarithm stays finite.
fn log_latency(ns: f64) -> f64 {
    ns.max(1.0).ln()
}

/// Variance-stabilised error rate: `asin(sqrt(rate))` has standard deviation `1 / (2 sqrt(n))`
/// under binomial noise whatever the rate, and is far less skewed than the rate itself, so
/// normal tail thresholds mean about the same at 0.1% and at 10%.
fn stabilise_rate(rate: f64) -> f64 {
    rate.clamp(0.0, 1.0).sqrt().asin()
}

/// Standard deviation floor for a stabilised error rate: its binomial noise at `calls` calls.
/// It keeps a flat (e.g. all-zero) baseline from scoring a single error as an infinite z.
pub(crate) fn error_rate_sigma_floor(calls: u64) -> f64 {
    0.5 / (calls.max(1) as f64).sqrt()
}

/// Running state of [`detect`] over one series.
struct State {
    /// Raw metric values of the trailing usable buckets, oldest first.
    window: VecDeque<f64>,
    /// `|x - baseline center|` (transformed) of recently judged buckets, oldest first.
    residuals: VecDeque<f64>,
    residual_limit: usize,
    scratch: Vec<f64>,
}

impl State {
    fn judge(&mut self, point: &BucketPoint, value: f64, opts: &AnomalyOptions) -> Option<Anomaly> {
        let latency = opts.metric != Metric::ErrorRate;
        let transform = |v: f64| {
            if latency {
                log_latency(v)
            } else {
                stabilise_rate(v)
            }
        };
        let scratch = &mut self.scratch;
        scratch.clear();
        scratch.extend(self.window.iter().map(|&v| transform(v)));
        let center = super::median(scratch)?;
        for v in scratch.iter_mut() {
            *v = (*v - center).abs();
        }
        let mut mad = super::median(scratch)?;
        // The MAD of a dozen buckets is itself noisy (about 4 degrees of freedom), and a low
        // draw inflates every z. The median residual over a longer history estimates the same
        // spread (about 6% high, from the baseline median's own noise) far more steadily;
        // flooring by it cut false positives on pure log-normal noise sixfold in the tests.
        if self.residuals.len() >= opts.baseline_buckets {
            scratch.clear();
            scratch.extend(self.residuals.iter().copied());
            mad = mad.max(super::median(scratch).unwrap_or(0.0));
        }
        let x = transform(value);
        if self.residual_limit > 0 {
            if self.residuals.len() >= self.residual_limit {
                self.residuals.pop_front();
            }
            self.residuals.push_back((x - center).abs());
        }
        let (sigma, baseline) = if latency {
            (MAD_TO_SIGMA * mad.max(LATENCY_MAD_FLOOR), center.exp())
        } else {
            let floor = error_rate_sigma_floor(point.count);
            ((MAD_TO_SIGMA * mad).max(floor), center.sin().powi(2))
        };
        let z = (x - center) / sigma;
        let direction = if z > 0.0 {
            Direction::Up
        } else if z < 0.0 {
            Direction::Down
        } else {
            return None;
        };
        if !(opts.direction == Direction::Both || opts.direction == direction) {
            return None;
        }
        let relative_change = if baseline > 0.0 {
            value / baseline - 1.0
        } else if value > 0.0 {
            f64::INFINITY
        } else {
            0.0
        };
        let big_enough = if !latency && baseline <= 0.0 {
            // A zero error-rate baseline has no relative change; ask for a few actual errors.
            point.errors.min(point.count) >= opts.min_errors
        } else {
            relative_change.abs() >= opts.min_relative_change
        };
        if z.abs() >= opts.threshold && big_enough {
            Some(Anomaly {
                start_ns: point.start_ns,
                metric: opts.metric,
                value,
                baseline,
                z,
                relative_change,
                count: point.count,
                direction,
            })
        } else {
            None
        }
    }
}
