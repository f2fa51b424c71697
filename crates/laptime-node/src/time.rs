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
