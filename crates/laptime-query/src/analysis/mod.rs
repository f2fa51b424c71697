//! Pure statistics over per-function summaries; nothing here reads the store.
//!
//! * [`detect`] looks for anomalous buckets in one function's time series (p50, p99 or error
//!   rate per bucket) with a robust z-score against a trailing baseline.
//! * [`compare`] decides whether one function got slower or more error-prone between two time
//!   ranges, with distribution-free confidence intervals for latency quantiles and a
//!   two-proportion z-test for the error rate.
//!
//! The query engine computes the inputs ([`BucketPoint`]s, [`RangeSummary`]s) from the store and
//! passes them in, so everything here is deterministic and testable on synthetic data.

mod anomaly;
mod regression;
#[cfg(test)]
mod tests;

pub use anomaly::{detect, Anomaly, AnomalyOptions, BucketPoint, Direction, Metric};
pub use regression::{
    compare, CompareOptions, Comparison, QuantileChange, RangeSummary, RankedValues, RateChange,
    Verdict, MIN_ERROR_RATE_CHANGE,
};

use std::f64::consts::{FRAC_2_SQRT_PI, SQRT_2};

/// Options shared by both analyses: a finite number `>= 0`.
pub(crate) fn check_non_negative(option: &'static str, value: f64) -> laptime_storage::Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(laptime_storage::Error::invalid_option(
            option,
            format!("must be a non-negative number, got {value}"),
        ))
    }
}

/// Median of `values`, reordering them; `None` when empty.
pub(crate) fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// Complementary error function, accurate to about 1e-14 relative for `x >= 0`.
pub(crate) fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 3.0 {
        // erfc(3) ~ 2.2e-5, so `1 - erf` loses at most ~5 digits of the 16 here.
        1.0 - erf_series(x)
    } else {
        erfc_continued_fraction(x)
    }
}

/// erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_k (2x^2)^k * x / (1 * 3 * ... * (2k + 1)).
/// Every term is positive, so unlike the Taylor series nothing cancels.
fn erf_series(x: f64) -> f64 {
    let two_x2 = 2.0 * x * x;
    let mut term = x;
    let mut sum = x;
    for k in 1..400u32 {
        term *= two_x2 / f64::from(2 * k + 1);
        sum += term;
        if term <= sum * 1e-17 {
            break;
        }
    }
    FRAC_2_SQRT_PI * (-x * x).exp() * sum
}

/// Laplace's continued fraction erfc(x) = exp(-x^2) / sqrt(pi) / (x + (1/2) / (x + (2/2) /
/// (x + (3/2) / ...))), evaluated bottom-up. For x >= 3 a depth of 100 is far past convergence.
fn erfc_continued_fraction(x: f64) -> f64 {
    let mut t = x;
    for k in (1..=100u32).rev() {
        t = x + f64::from(k) / 2.0 / t;
    }
    (-x * x).exp() * (FRAC_2_SQRT_PI / 2.0) / t
}

/// P(Z > z) for a standard normal Z.
pub(crate) fn normal_upper_tail(z: f64) -> f64 {
    0.5 * erfc(z / SQRT_2)
}

/// The `z >= 0` with P(Z > z) = `tail`, for `tail` in `(0, 0.5]`, by bisection on
/// [`normal_upper_tail`]. Working on the tail keeps full precision for confidences near 1.
pub(crate) fn upper_normal_quantile(tail: f64) -> f64 {
    // P(Z > 40) underflows to 0, below every positive f64.
    let (mut lo, mut hi) = (0.0f64, 40.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if normal_upper_tail(mid) > tail {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Inverse of the standard normal CDF: the `z` with P(Z <= z) = `p`.
///
/// Returns `None` unless `0 < p < 1`. Accurate to about 1e-12 in the central range.
pub fn inverse_normal_cdf(p: f64) -> Option<f64> {
    if !(p > 0.0 && p < 1.0) {
        return None;
    }
    Some(if p < 0.5 {
        -upper_normal_quantile(p)
    } else {
        // Exact subtraction for p in [0.5, 1) (Sterbenz).
        upper_normal_quantile(1.0 - p)
    })
}
