//! Mergeable relative-error latency sketch ([`LatencySketch`]) for `u64` nanosecond durations.
//!
//! Every sealed page stores one sketch per function name, so the query engine answers
//! p50/p90/p99 by merging page footers instead of decoding duration columns.
//!
//! # Guarantee
//!
//! For every `q` in `[0, 1]`, [`LatencySketch::quantile`] returns `y` with `|y - x| <= 0.01 * x`,
//! where `x` is the exact *nearest-rank* quantile of the inserted values:
//! `x = sorted[r - 1]` with `r = nearest_rank(q, n) = clamp(ceil(q * n), 1, n)` (see
//! [`nearest_rank`]; `q = 0` gives the minimum, `q = 1` the maximum). Rank 1 and rank `n`
//! return the exact minimum and maximum, zero durations are exact, and every answer is clamped
//! into `[min, max]` (which only moves it closer to `x`).
//!
//! The guarantee is a property of the bucket mapping alone: bucket counts are exact (merging adds
//! them, nothing is ever collapsed), so the sketch always finds the bucket that holds the rank-`r`
//! value, and every bucket's *representative* integer is within 1% of every integer the bucket
//! can hold. The unit tests check that last property exhaustively for all 2,158 buckets, which
//! together cover every `u64`: the worst case is 0.9983% (a small-value bucket described next),
//! and 0.978% for durations of 1,024 ns and more.
//!
//!
//! Counters and the sum saturate instead of overflowing; that needs 2^64 events and is not
//! reachable in practice.
//!
//! - `buckets`: the mapping of values to bucket indices and back (documented there);
//! - `codec`: the byte layout (documented there), encoding and checked decoding.

mod buckets;
mod codec;
mod sum;
#[cfg(test)]
mod tests;

use buckets::{bucket_bounds, bucket_index, NUM_BUCKETS};
pub use sum::SketchSum;
use sum::Totals;

/// Relative accuracy guaranteed by [`LatencySketch::quantile`]: `|y - x| <= RELATIVE_ACCURACY * x`.
pub const RELATIVE_ACCURACY: f64 = 0.01;

/// Version byte written first by [`LatencySketch::encode`].
pub const FORMAT_VERSION: u8 = 1;

/// The 1-based nearest rank of quantile `q` among `n` values: `clamp(ceil(q * n), 1, n)`,
/// computed in `f64`. `q = 0` gives rank 1 (the minimum), `q = 1` rank `n` (the maximum).
/// Returns `None` when `n == 0` or `q` is NaN or outside `[0, 1]`.
///
/// Exact quantiles that are compared with [`LatencySketch::quantile`] should use this rank:
/// `sorted[nearest_rank(q, n)? - 1]`.
pub fn nearest_rank(q: f64, n: u64) -> Option<u64> {
    if n == 0 || !(0.0..=1.0).contains(&q) {
        return None;
    }
    if q == 1.0 {
        // `n as f64` may round below `n` when `n > 2^53`.
        return Some(n);
    }
    // `q` usually comes from a percentage (p7 = 0.07), and `0.07 * 100.0` is 7.000000000000001 in
    // binary: a product within rounding error of a whole number is that number, not the next one.
    // (A q with a real fractional excess below 1e-9 relative has no meaning for counts < 2^53.)
    let x = q * n as f64;
    let whole = x.round();
    let rank = if (x - whole).abs() <= 1e-9 * whole.max(1.0) {
        whole
    } else {
        x.ceil()
    };
    // `as u64` saturates; the value is finite and non-negative here.
    Some((rank as u64).clamp(1, n))
}

/// The bucket [`LatencySketch::insert`] counts a non-zero duration `v` in (for tallies kept in
/// another form and made into a sketch later, [`LatencySketch::from_buckets`]).
pub(crate) fn bucket_of(v: u64) -> usize {
    bucket_index(v)
}

/// Extra buckets allocated beyond the touched range when the counter vector grows.
const GROW_PAD: usize = 16;

/// One bin of [`LatencySketch::histogram`]: durations from `lo` up to `hi` ns (each bin holds its
/// lower edge; the last also its upper edge).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistogramBin {
    /// Lower edge, ns.
    pub lo: u64,
    /// Upper edge, ns.
    pub hi: u64,
    /// Durations in the bin.
    pub count: u64,
}

/// Where the value of one rank lies, from [`LatencySketch::rank_bounds`]: it is one of the `count`
/// recorded values in `lo..=hi`, and `below` recorded values are smaller than `lo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankBounds {
    /// Smallest value the rank can have.
    pub lo: u64,
    /// Largest value the rank can have.
    pub hi: u64,
    /// Recorded values below `lo`.
    pub below: u64,
    /// Recorded values in `lo..=hi`.
    pub count: u64,
}

/// DDSketch-style latency sketch over `u64` nanosecond durations with 1% relative accuracy.
///
/// See the [module documentation](self) for the guarantee, the bucket mapping and the byte layout.
///
/// ```
/// use laptime_storage::sketch::LatencySketch;
///
/// let mut a = LatencySketch::new();
/// a.insert_many(&[1_000, 2_000, 3_000]);
/// let mut b = LatencySketch::new();
/// b.insert(4_000);
/// a.merge(&b);
/// assert_eq!(a.count(), 4);
/// assert_eq!(a.quantile(1.0), Some(4_000));
/// let p50 = a.quantile(0.5).unwrap();
/// assert!(p50.abs_diff(2_000) <= 20);
///
/// let mut bytes = Vec::new();
/// a.encode(&mut bytes);
/// let (back, used) = LatencySketch::decode(&bytes).unwrap();
/// assert_eq!((back, used), (a, bytes.len()));
/// ```
#[derive(Clone, Debug)]
pub struct LatencySketch {
    /// `counts[i]` counts bucket `base + i`. May carry empty padding at both ends.
    counts: Vec<u64>,
    base: usize,
    zero: u64,
    count: u64,
    sum: u128,
    /// `u64::MAX` while empty.
    min: u64,
    /// `0` while empty.
    max: u64,
}

impl Default for LatencySketch {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for LatencySketch {
    /// Equal contents; padding and allocation do not matter.
    fn eq(&self, other: &Self) -> bool {
        self.count == other.count
            && self.zero == other.zero
            && self.sum == other.sum
            && self.min == other.min
            && self.max == other.max
            && self.trimmed() == other.trimmed()
    }
}

impl Eq for LatencySketch {}

impl LatencySketch {
    /// An empty sketch. Does not allocate.
    pub const fn new() -> Self {
        LatencySketch {
            counts: Vec::new(),
            base: 0,
            zero: 0,
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    /// Record one duration in nanoseconds.
    #[inline]
    pub fn insert(&mut self, v: u64) {
        self.count = self.count.saturating_add(1);
        self.sum = self.sum.saturating_add(u128::from(v));
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        if v == 0 {
            self.zero = self.zero.saturating_add(1);
            return;
        }
        let index = bucket_index(v);
        match self.counts.get_mut(index.wrapping_sub(self.base)) {
            Some(c) => *c = c.saturating_add(1),
            None => self.insert_slow(index),
        }
    }

    /// Record every duration of `values`.
    pub fn insert_many(&mut self, values: &[u64]) {
        for &v in values {
            self.insert(v);
        }
    }

    #[cold]
    #[inline(never)]
    fn insert_slow(&mut self, index: usize) {
        self.cover(index, index);
        if let Some(c) = self.counts.get_mut(index.wrapping_sub(self.base)) {
            *c = c.saturating_add(1);
        }
    }

    /// [`LatencySketch::without`] when the range of the values left is only known by scanning
    /// them: `scan` is called only when the buckets cannot tell it. They can when the lowest (or
    /// highest) bucket left is `self`'s and `part` has no value there: the values left then hold
    /// `self`'s smallest (or largest) value.
    pub fn without_scanning(
        &self,
        part: &LatencySketch,
        scan: impl FnOnce() -> Option<(u64, u64)>,
    ) -> Option<LatencySketch> {
        let left = self.subtract(part)?;
        let ends = |s: &LatencySketch| s.trimmed().map(|(first, c)| (first, first + c.len() - 1));
        let (all, rest) = (ends(self), ends(&left));
        let only_left = |bucket: usize| part.count_at(bucket) == 0;
        let min = if left.zero > 0 {
            Some(0)
        } else {
            all.zip(rest)
                .filter(|&((a, _), (r, _))| self.zero == 0 && a == r && only_left(a))
                .map(|_| self.min)
        };
        let max = match (all, rest) {
            (Some((_, a)), Some((_, r))) if a == r && only_left(a) => Some(self.max),
            (_, None) if left.zero > 0 => Some(0),
            _ => None,
        };
        let range = match (min, max) {
            (Some(min), Some(max)) => Some((min, max)),
            _ => scan(),
        };
        left.with_range(range)
    }

    /// The count of bucket `bucket`.
    fn count_at(&self, bucket: usize) -> u64 {
        bucket
            .checked_sub(self.base)
            .and_then(|i| self.counts.get(i))
            .copied()
            .unwrap_or(0)
    }

    /// The sketch of values counted elsewhere: `counts[i]` non-zero values in bucket `base + i`
    /// (see [`bucket_of`]), `zero` zeros, and the values' exact smallest, largest and sum; `None`
    /// when they cannot describe one set of values (a bucket out of range, min or max outside
    /// the buckets counted).
    pub(crate) fn from_buckets(
        base: usize,
        counts: Vec<u64>,
        zero: u64,
        min: u64,
        max: u64,
        sum: u128,
    ) -> Option<LatencySketch> {
        if base.checked_add(counts.len())? > NUM_BUCKETS {
            return None;
        }
        let nonzero = counts.iter().try_fold(0u64, |a, &c| a.checked_add(c))?;
        let s = LatencySketch {
            count: nonzero.checked_add(zero)?,
            counts,
            base,
            zero,
            sum,
            min: if nonzero + zero == 0 { u64::MAX } else { min },
            max,
        };
        let fits = match s.trimmed() {
            None => s.zero == 0 || (s.min == 0 && s.max == 0),
            Some((first, c)) => {
                let min_fits = if s.zero > 0 {
                    min == 0
                } else {
                    bucket_index(min) == first
                };
                min_fits && bucket_index(max) == first + c.len() - 1
            }
        };
        fits.then_some(s)
    }

    /// An empty sketch whose counters already cover the buckets `other` uses: values drawn from
    /// the same range are then counted without growing it.
    pub fn empty_covering(other: &LatencySketch) -> LatencySketch {
        let mut s = LatencySketch::new();
        if let Some((first, counts)) = other.trimmed() {
            s.counts = vec![0; counts.len()];
            s.base = first;
        }
        s
    }

    /// Grow the counter vector so that it covers bucket indices `first..=last` (`< NUM_BUCKETS`).
    fn cover(&mut self, first: usize, last: usize) {
        let old_end = self.base + self.counts.len();
        if !self.counts.is_empty() && first >= self.base && last < old_end {
            return;
        }
        let (new_base, new_end) = if self.counts.is_empty() {
            (
                first.saturating_sub(GROW_PAD),
                (last + 1 + GROW_PAD).min(NUM_BUCKETS),
            )
        } else {
            let pad = GROW_PAD.max(self.counts.len() / 2);
            let lo = if first < self.base {
                first.saturating_sub(pad)
            } else {
                self.base
            };
            let hi = if last >= old_end {
                (last + 1 + pad).min(NUM_BUCKETS)
            } else {
                old_end
            };
            (lo, hi)
        };
        let mut counts = Vec::with_capacity(new_end - new_base);
        counts.resize(self.base.saturating_sub(new_base), 0);
        if !self.counts.is_empty() {
            counts.extend_from_slice(&self.counts);
        }
        counts.resize(new_end - new_base, 0);
        self.counts = counts;
        self.base = new_base;
    }

    /// Add every value recorded by `other` to `self`. Lossless: bucket counts add, so merging is
    /// associative and commutative and the result equals the sketch of all values.
    pub fn merge(&mut self, other: &LatencySketch) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            // Nothing to add to: a copy (a query's groups mostly start from one sketch, and
            // growing an empty one to cover it cost more than the merge).
            self.clone_from(other);
            return;
        }
        self.count = self.count.saturating_add(other.count);
        self.zero = self.zero.saturating_add(other.zero);
        self.sum = self.sum.saturating_add(other.sum);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        if let Some((first, counts)) = other.trimmed() {
            let last = first + counts.len() - 1;
            self.cover(first, last);
            let start = first - self.base;
            if let Some(dst) = self.counts.get_mut(start..start + counts.len()) {
                for (d, &s) in dst.iter_mut().zip(counts) {
                    *d = d.saturating_add(s);
                }
            }
        }
    }

    /// [`LatencySketch::merge`] of a sketch that is not needed afterwards: while `self` is
    /// empty it becomes `other`, buckets and all, instead of a copy. (A query's threads each
    /// fill their groups' sketches, and most groups are new to the thread that gathers them.)
    pub fn merge_owned(&mut self, other: LatencySketch) {
        if self.count == 0 {
            *self = other;
        } else {
            self.merge(&other);
        }
    }

    /// The sketch of the values `self` holds that `part` does not, when `part`'s values are among
    /// `self`'s (no bucket of `part` counts more than `self`'s); `range` is their smallest and
    /// largest value, which buckets do not keep (`None` when no value is left). `None` when `part`
    /// is not contained in `self` or `range` does not fit what is left. Exact: the result equals
    /// the sketch of the values left.
    pub fn without(
        &self,
        part: &LatencySketch,
        range: Option<(u64, u64)>,
    ) -> Option<LatencySketch> {
        self.subtract(part)?.with_range(range)
    }

    /// `self`'s counts, zeros and sum less `part`'s (`None` when `part` is not contained); its
    /// range is left to [`LatencySketch::with_range`].
    fn subtract(&self, part: &LatencySketch) -> Option<LatencySketch> {
        let mut left = self.clone();
        left.count = self.count.checked_sub(part.count)?;
        left.zero = self.zero.checked_sub(part.zero)?;
        left.sum = self.sum.checked_sub(part.sum)?;
        if let Some((first, counts)) = part.trimmed() {
            let start = first.checked_sub(self.base)?;
            let dst = left.counts.get_mut(start..start + counts.len())?;
            for (d, &s) in dst.iter_mut().zip(counts) {
                *d = d.checked_sub(s)?;
            }
        }
        Some(left)
    }

    /// This sketch with its smallest and largest value set to `range`, when it fits the counts:
    /// the smallest value a zero when zeros are counted, else in the lowest bucket counted; the
    /// largest in the highest bucket counted, or a zero when only zeros are.
    fn with_range(mut self, range: Option<(u64, u64)>) -> Option<LatencySketch> {
        match (self.count, range) {
            (0, None) => Some(LatencySketch::new()),
            (n, Some((min, max))) if n > 0 => {
                let buckets = self.trimmed().map(|(first, counts)| {
                    (
                        bucket_bounds(first),
                        bucket_bounds(first + counts.len() - 1),
                    )
                });
                let min_fits = if self.zero > 0 {
                    min == 0
                } else {
                    buckets.is_some_and(|((lo, hi), _)| (lo..=hi).contains(&min))
                };
                let max_fits = match buckets {
                    Some((_, (lo, hi))) => (lo..=hi).contains(&max),
                    None => max == 0,
                };
                self.min = min;
                self.max = max;
                (min_fits && max_fits).then_some(self)
            }
            _ => None,
        }
    }

    /// Forget all values; keeps the allocation.
    pub fn clear(&mut self) {
        self.counts.fill(0);
        self.zero = 0;
        self.count = 0;
        self.sum = 0;
        self.min = u64::MAX;
        self.max = 0;
    }

    /// Whether no value was recorded.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Number of recorded values.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Number of recorded zeros (exact: zero has a bucket of its own).
    pub fn zero_count(&self) -> u64 {
        self.zero
    }

    /// Bytes the bucket counters hold on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.counts.capacity() * std::mem::size_of::<u64>()
    }

    /// Smallest recorded value (exact).
    pub fn min(&self) -> Option<u64> {
        (self.count > 0).then_some(self.min)
    }

    /// Largest recorded value (exact).
    pub fn max(&self) -> Option<u64> {
        (self.count > 0).then_some(self.max)
    }

    /// Sum of recorded values (exact).
    pub fn sum(&self) -> u128 {
        self.sum
    }

    /// Arithmetic mean of recorded values.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// Nearest-rank quantile `q` in `[0, 1]`, within 1% of the exact value (see the module
    /// documentation). `quantile(0.0)` and `quantile(1.0)` are the exact minimum and maximum.
    /// `None` when the sketch is empty or `q` is NaN or outside `[0, 1]`.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        self.quantiles(&[q]).pop().flatten()
    }

    /// [`quantile`](Self::quantile) for each of `qs`, computed in one pass over the buckets from
    /// each end: ranks in the lower half from the lowest bucket up, the others (p90, p99) from
    /// the highest down, where they are a few buckets away.
    pub fn quantiles(&self, qs: &[f64]) -> Vec<Option<u64>> {
        let buckets = self.counts.iter().enumerate();
        let buckets = buckets.map(|(i, &c)| (self.base + i, c));
        sum::quantiles_of_buckets(&self.totals(), buckets, qs)
    }

    /// The range of the bucket holding the value of 1-based `rank` (ascending order), clamped to
    /// `[min, max]`, with the exact counts below and in it: a search for the exact value of a rank
    /// needs to look at values in that range only. `None` when `rank` is 0 or above
    /// [`count`](Self::count).
    pub fn rank_bounds(&self, rank: u64) -> Option<RankBounds> {
        if rank == 0 || rank > self.count {
            return None;
        }
        if rank <= self.zero {
            return Some(RankBounds {
                lo: 0,
                hi: 0,
                below: 0,
                count: self.zero,
            });
        }
        let mut below = self.zero;
        for (i, &c) in self.counts.iter().enumerate() {
            if below.saturating_add(c) >= rank {
                let (lo, hi) = bucket_bounds(self.base + i);
                return Some(RankBounds {
                    lo: lo.max(self.min),
                    hi: hi.min(self.max),
                    below,
                    count: c,
                });
            }
            below = below.saturating_add(c);
        }
        // Counts saturated: only the maximum is known to be there.
        None
    }

    /// The durations in `bins` log-spaced bins from the smallest non-zero duration to the
    /// largest (one bin when they are equal), after a bin `0..=0` for zero durations if there are
    /// any. Each bucket's exact count goes to the bin holding its representative value, so the
    /// counts add up to [`count`](Self::count) and a value lands at most 1% from its true bin edge.
    /// Empty for an empty sketch or `bins == 0`.
    pub fn histogram(&self, bins: usize) -> Vec<HistogramBin> {
        let mut out = Vec::new();
        if self.count == 0 || bins == 0 {
            return out;
        }
        if self.zero > 0 {
            out.push(HistogramBin {
                lo: 0,
                hi: 0,
                count: self.zero,
            });
        }
        if self.count == self.zero {
            return out;
        }
        // The smallest non-zero duration: the minimum, or past the zeros the lowest bucket's value.
        let lo = if self.min > 0 {
            self.min
        } else {
            let lowest = self.counts.iter().position(|&c| c > 0).unwrap_or(0);
            self.answer(self.base + lowest).max(1)
        };
        let hi = self.max.max(lo);
        let ratio = (hi as f64 / lo as f64).ln();
        // Edge i = lo * (hi / lo)^(i / bins), rounded to whole ns; equal edges (narrow integer
        // ranges) collapse, so no bin is empty by construction.
        let mut edges: Vec<u64> = (0..=bins)
            .map(|i| (lo as f64 * (ratio * i as f64 / bins as f64).exp()).round() as u64)
            .map(|e| e.clamp(lo, hi))
            .collect();
        edges[0] = lo;
        edges[bins] = hi;
        edges.dedup();
        if edges.len() == 1 {
            edges.push(hi);
        }
        let n = edges.len() - 1;
        let first = out.len();
        out.extend(edges.windows(2).map(|w| HistogramBin {
            lo: w[0],
            hi: w[1],
            count: 0,
        }));
        for (i, &c) in self.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let v = self.answer(self.base + i).max(lo);
            // The last bin whose lower edge is at most v.
            let at = edges[..n].partition_point(|&e| e <= v).saturating_sub(1);
            out[first + at].count += c;
        }
        out
    }

    /// What quantiles need besides the buckets.
    fn totals(&self) -> Totals {
        Totals {
            count: self.count,
            zero: self.zero,
            min: self.min,
            max: self.max,
        }
    }

    /// The value at `rank` when it is known exactly: the minimum, the maximum, or a zero.
    #[cfg(test)]
    fn exact_at_rank(&self, rank: u64) -> Option<u64> {
        self.totals().exact_at_rank(rank)
    }

    /// Answer for a rank that falls into bucket `index`: its representative clamped to
    /// `[min, max]`.
    fn answer(&self, index: usize) -> u64 {
        self.totals().answer(index)
    }

    /// Index of the lowest non-empty bucket and the counters up to the highest non-empty one.
    fn trimmed(&self) -> Option<(usize, &[u64])> {
        let first = self.counts.iter().position(|&c| c != 0)?;
        let last = self.counts.iter().rposition(|&c| c != 0)?;
        Some((self.base + first, self.counts.get(first..=last)?))
    }
}
