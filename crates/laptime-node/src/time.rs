//! Time as JavaScript measures it, in fractional milliseconds, converted to the core's nanoseconds.
//!
//! Start times arrive as `performance.timeOrigin` (epoch ms, about 1.7e12) plus `performance.now()`
//! offsets. Multiplying 1.7e12 ms by 1e6 in f64 would round to about 256 ns, so the origin is split
//! into whole milliseconds (exact integer arithmetic) and its fraction, which is added to the offset
//! before scaling: the result keeps every digit the inputs carry.

const NS_PER_MS: f64 = 1e6;

/// Largest epoch time in ms whose nanoseconds fit in a u64 (about the year 2554).
const MAX_EPOCH_MS: f64 = 18_446_744_073_709.0;

/// An epoch instant in milliseconds, split for exact conversion to nanoseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EpochMs {
    whole_ms: u64,
    fraction_ms: f64,
}

impl EpochMs {
    /// `None` unless `ms` is finite, not negative and before the year 2554.
    pub(crate) fn new(ms: f64) -> Option<EpochMs> {
        if !(0.0..MAX_EPOCH_MS).contains(&ms) {
            return None;
        }
        let whole = ms.floor();
        Some(EpochMs {
            whole_ms: whole as u64,
            fraction_ms: ms - whole,
        })
    }

    /// Epoch nanoseconds of this instant plus `offset_ms`, rounded to the nearest ns; `None` when
    /// the offset is not finite or the sum falls outside what a u64 of epoch ns holds.
    pub(crate) fn plus_ns(self, offset_ms: f64) -> Option<u64> {
        let sub_ns = (self.fraction_ms + offset_ms) * NS_PER_MS;
        // Refuses NaN and the infinities too; beyond this no u64 start could result anyway.
        if sub_ns.is_nan() || sub_ns.abs() >= 9.0e18 {
            return None;
        }
        // Both fit: |sub_ns| < 9e18 < i64::MAX, and whole_ms < MAX_EPOCH_MS keeps the product < u64::MAX.
        let sub_ns = if sub_ns >= 0.0 {
            round_to_u64(sub_ns) as i64
        } else {
            -(round_to_u64(-sub_ns) as i64)
        };
        (self.whole_ms * 1_000_000).checked_add_signed(sub_ns)
    }

    /// [`EpochMs::plus_ns`] without branches for the usual offset, one at or after this instant's
    /// whole millisecond (a `performance.now()` reading): the same nanoseconds, and `true`; `false`
    /// for any other offset (negative, NaN, infinite, or a sum beyond u64), for which the caller
    /// must ask `plus_ns`.
    #[inline]
    pub(crate) fn plus_ns_forward(self, offset_ms: f64) -> (u64, bool) {
        let sub_ns = (self.fraction_ms + offset_ms) * NS_PER_MS;
        let in_range = (0.0..FORWARD_LIMIT_NS).contains(&sub_ns);
        let (ns, overflow) =
            (self.whole_ms * 1_000_000).overflowing_add(round_below_i64_max(sub_ns));
        (ns, in_range && !overflow)
    }
}

/// Epoch nanoseconds of a time bound given in epoch ms. Bounds before 1970 or after 2554 are clamped,
/// which selects the same events since no event lies outside that range. `None` for NaN.
pub(crate) fn bound_ns(ms: f64) -> Option<u64> {
    if ms.is_nan() {
        None
    } else if ms <= 0.0 {
        Some(0)
    } else {
        Some(
            EpochMs::new(ms)
                .and_then(|t| t.plus_ns(0.0))
                .unwrap_or(u64::MAX),
        )
    }
}

/// A duration in ms (`t1 - t0` of two `performance.now()` reads) in whole ns. The monotonic clock
/// cannot run backwards, so negative and NaN durations (clock quirks, bad arithmetic) become 0.
pub(crate) fn duration_ns(ms: f64) -> u64 {
    if ms > 0.0 {
        // Saturates at u64::MAX for absurd (or infinite) durations.
        round_to_u64(ms * NS_PER_MS)
    } else {
        0
    }
}

/// [`duration_ns`] without branches, and whether `ms` is a duration an event can carry (not NaN,
/// not negative, finite) short enough for this path (under about 285 years); when it is not, the
/// number means nothing and the caller asks [`duration_ns`] (which saturates).
#[inline]
pub(crate) fn duration_ns_checked(ms: f64) -> (u64, bool) {
    let ns = ms * NS_PER_MS;
    (
        round_below_i64_max(ns),
        (0.0..FORWARD_LIMIT_NS).contains(&ns),
    )
}

/// Largest nanosecond count the branch-free conversions take (beyond it the checked ones, which
/// saturate); below i64::MAX, so one signed conversion instruction rounds it.
const FORWARD_LIMIT_NS: f64 = 9.0e18;

/// `round_to_u64(x)` for `0 <= x < FORWARD_LIMIT_NS`; anything for other `x` (callers check the
/// range themselves).
#[inline]
fn round_below_i64_max(x: f64) -> u64 {
    (x + 0.5) as i64 as u64
}

/// `x.round() as u64` for `x >= 0` (saturating), without the libm call that `round` compiles to on
/// baseline x86-64: this runs twice per event.
#[inline]
fn round_to_u64(x: f64) -> u64 {
    (x + 0.5) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_plus_offset_keeps_nanoseconds() {
        // 1.7e12 ms * 1e6 in f64 would land on a multiple of 256 ns.
        let origin = EpochMs::new(1_700_000_000_000.5).unwrap();
        assert_eq!(origin.plus_ns(1234.567891), Some(1_700_000_001_235_067_891));
        assert_eq!(origin.plus_ns(0.0), Some(1_700_000_000_000_500_000));
        assert_eq!(origin.plus_ns(0.000_000_4), Some(1_700_000_000_000_500_000));
        assert_eq!(origin.plus_ns(0.000_000_6), Some(1_700_000_000_000_500_001));
    }

    #[test]
    fn branch_free_conversions_agree_with_the_checked_ones() {
        let origins = [
            0.0,
            1000.0,
            1_700_000_000_000.5,
            1_764_800_000_123.456_8,
            18_446_744_073_708.9,
        ];
        let offsets = [
            0.0,
            -0.0,
            0.000_000_4,
            0.000_000_6,
            1234.567891,
            3.6e9,
            1e12,
            9e12,
            -0.25,
            -1000.0,
            -1000.5,
            1e300,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
        ];
        for &o in &origins {
            let origin = EpochMs::new(o).unwrap();
            for &offset in &offsets {
                let (ns, ok) = origin.plus_ns_forward(offset);
                if ok {
                    assert_eq!(
                        Some(ns),
                        origin.plus_ns(offset),
                        "origin {o} offset {offset}"
                    );
                } else {
                    // Only offsets before the whole millisecond or beyond range fall back.
                    let sub = (o - o.floor() + offset) * NS_PER_MS;
                    let fits = origin.plus_ns(offset).is_some();
                    assert!(
                        !(sub >= 0.0 && fits),
                        "origin {o} offset {offset} fell back needlessly"
                    );
                }
            }
        }
        for ms in [0.0, -0.0, 1e-7, 0.000_000_5, 0.0123, 1.5, 1e6, 1e12, 8.9e12] {
            assert_eq!(duration_ns_checked(ms), (duration_ns(ms), true), "{ms}");
        }
        // Refused, or too long for this path (the checked conversion saturates those).
        for ms in [
            -1e-9,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            9e12,
            1e300,
            f64::MAX,
        ] {
            assert!(!duration_ns_checked(ms).1, "{ms}");
        }
    }

    #[test]
    fn invalid_times_are_refused() {
        assert!(EpochMs::new(f64::NAN).is_none());
        assert!(EpochMs::new(-1.0).is_none());
        assert!(EpochMs::new(f64::INFINITY).is_none());
        assert!(EpochMs::new(2e13).is_none());
        let origin = EpochMs::new(1000.0).unwrap();
        assert_eq!(origin.plus_ns(f64::NAN), None);
        assert_eq!(origin.plus_ns(f64::INFINITY), None);
        assert_eq!(origin.plus_ns(-1000.5), None);
        assert_eq!(origin.plus_ns(-1000.0), Some(0));
        assert_eq!(origin.plus_ns(1e300), None);
    }

    #[test]
    fn durations_round_and_clamp() {
        assert_eq!(duration_ns(1.25), 1_250_000);
        assert_eq!(duration_ns(0.000_000_5), 1);
        assert_eq!(duration_ns(-3.0), 0);
        assert_eq!(duration_ns(f64::NAN), 0);
        assert_eq!(duration_ns(f64::INFINITY), u64::MAX);
    }

    #[test]
    fn bounds_clamp_to_the_representable_range() {
        assert_eq!(bound_ns(f64::NAN), None);
        assert_eq!(bound_ns(-5.0), Some(0));
        assert_eq!(bound_ns(f64::INFINITY), Some(u64::MAX));
        assert_eq!(
            bound_ns(1_700_000_000_000.25),
            Some(1_700_000_000_000_250_000)
        );
    }
}
