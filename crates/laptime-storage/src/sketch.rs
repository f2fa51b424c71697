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
//! # Bucket mapping
//!
//! Value `0` has its own counter. Values `v >= 1` map to a bucket index in `0..NUM_BUCKETS`:
//!
//! * `1 <= v < 1024` (*low region*, 214 buckets): a table built at compile time by a greedy
//!   rule. Starting at `lo`, a bucket is extended to `hi` as long as some integer `y` satisfies
//!   `0.99 * hi < y < 1.01 * lo`, i.e. one integer answer is less than 1% from every member.
//!   Buckets are single integers from 1 to 99, then `{100, 101}`, and about 2% wide near 1,000. A
//!   purely logarithmic bucket cannot do this: `{60, 61}` is only 1.7% wide, but no integer is
//!   within 1% of both.
//! * `v >= 1024` (*octave region*, 36 buckets per power of two): with `e = floor(log2 v)` and
//!   `g` the 12 bits following the leading one bit (`v`'s mantissa truncated to 12 fraction bits),
//!   the index is `214 + (e - 10) * 36 + OCTAVE[g]`, where the 4 KiB table `OCTAVE` places
//!   bucket `t` on `g in OCTAVE_START[t]..OCTAVE_START[t + 1]` with
//!   `OCTAVE_START[t] = round(4096 * (2^(t/36) - 1))`. Hence bucket boundaries lie at
//!   `2^e * (1 + OCTAVE_START[t] / 4096)`, within a factor `1 ± 1/8192` of `2^(e + t/36)`, so
//!   the widest bucket spans a ratio of 1.01958 (a log bucket of exactly 1% relative error may
//!   span `1.01/0.99 = 1.0202`). That slack covers rounding the representative to an integer.
//!   This is the idea of DDSketch's interpolated index mappings taken to its limit: the logarithm
//!   comes from the exponent bits plus a table lookup of the mantissa, so an insert costs a
//!   `leading_zeros`, two shifts and one L1 load instead of an `f64::ln`, and it needs about 4%
//!   more buckets than an exact logarithmic mapping (36 instead of 34.7 per octave).
//!
//! The mapping is monotone and every bucket holds a non-empty, contiguous integer range
//! `lo..=hi`; its representative is the integer `y` in that range that minimises
//! `max((y - lo) / lo, (hi - y) / hi)` (the rounding of `2 * lo * hi / (lo + hi)` that is best).
//! The index space is fixed (2,158 buckets from 1 ns to `u64::MAX` ns; 1 ns .. 1 day uses indices
//! below 1,560), so a sketch holds at most 2,158 counters (17 KiB) and never needs to collapse
//! buckets. In memory, counters are a dense `Vec<u64>` over the touched index range, grown on
//! demand with some padding.
//!
//! # Byte layout (format version 1)
//!
//! Integers are unsigned LEB128 varints (7 bits per byte, low bits first). Bucket counts are a bit
//! stream of Rice codes: `rice_k(v)` is `v >> k` one bits, a zero bit, then the low `k` bits of
//! `v`; bits fill each byte from its least significant bit up.
//!
//! ```text
//! u8      version        = 1
//! u8      layout         bits 0..2: kind, bits 2..8: Rice parameter k (0..=63) of the counts
//!                          kind 0 = no non-zero durations (k = 0), 1 = sparse, 2 = dense,
//!                          3 = dense deltas
//! u8      gap_k          kind 1 only: Rice parameter of the gaps (0..=63)
//! varint  zero_count     number of zero durations
//! -- kind 0 ends here: min = max = sum = 0 if zero_count > 0, else the sketch is empty
//! varint  first          index of the lowest non-empty bucket (< 2158)
//! varint  span - 1       buckets from the lowest to the highest non-empty one, inclusive
//!                        (first + span <= 2158; the first and the last are non-empty)
//! bits    counts         zero-padded to a whole byte; as the kind says:
//!   sparse:  rice_k(count - 1) for each non-empty bucket, preceded (except for the first) by
//!            rice_gap_k(gap), gap = number of empty buckets since the previous non-empty one
//!   dense:   rice_k(count[i]) for each of the span buckets
//!   deltas:  rice_k(zigzag(count[i] - count[i - 1])) for each bucket, count[-1] = 0
//! varint  min - lo(first)    only when zero_count = 0 (otherwise min = 0)
//! varint  hi(last) - max
//! varint  sum - floor    (u128) floor..=ceiling is the range of sums the buckets, min and max
//!                        allow: floor = Σ lo(i) * count[i] + (max - lo(last)) + (min - lo(first)),
//!                        ceiling likewise from hi(i); the min term only with no zeros and >= 2
//!                        values
//! ```
//!
//! `lo(i)`/`hi(i)` are the integer bounds of bucket `i`. The encoder estimates the size of each
//! count layout from the number and the sum of its values (no search over the counts) and writes
//! the smallest (ties prefer sparse, then dense); a sketch with a bucket count of 2^50 or more
//! always uses dense with `k = 63`. The bytes are therefore a function of the sketch's contents
//! alone: equal sketches, however they were merged, encode identically. Typical sizes for
//! log-normal data (sigma 0.8): 20 bytes for 10 values, 34 for 40, 49 for 100, about 140 for
//! 1,600 and about 300 for 100,000.
//!
//! [`LatencySketch::decode`] checks every field against these bounds, so a decoded sketch always
//! satisfies the same invariants as one built by inserts (count equals the sum of its buckets, min
//! and max lie in the lowest and highest non-empty buckets, the sum is possible). It never panics,
//! rejects a dense span longer than the remaining input has bits, and allocates at most one
//! counter per bucket of the fixed index space.
//!
//! Counters and the sum saturate instead of overflowing; that needs 2^64 events and is not
//! reachable in practice.

use crate::error::DecodeError;

/// Relative accuracy guaranteed by [`LatencySketch::quantile`]: `|y - x| <= RELATIVE_ACCURACY * x`.
pub const RELATIVE_ACCURACY: f64 = 0.01;

/// Version byte written first by [`LatencySketch::encode`].
pub const FORMAT_VERSION: u8 = 1;

/// Values below this use the greedy low-region table.
const LOW_LIMIT: u64 = 1024;
/// `floor(log2(LOW_LIMIT))`: the first octave of the octave region.
const FIRST_OCTAVE: u32 = 10;
/// Buckets per power of two in the octave region.
const PER_OCTAVE: usize = 36;
/// Mantissa bits used to look up the bucket inside an octave.
const MANTISSA_BITS: u32 = 12;
const MANTISSA_MASK: u64 = (1 << MANTISSA_BITS) - 1;

/// First 12-bit mantissa value of each bucket of an octave: `round(4096 * (2^(t/36) - 1))`.
/// Part of the on-disk format: changing it changes the meaning of stored bucket indices.
const OCTAVE_START: [u16; PER_OCTAVE] = [
    0, 80, 161, 244, 328, 414, 502, 591, 682, 775, 870, 966, 1065, 1165, 1267, 1372, 1478, 1586,
    1697, 1809, 1924, 2041, 2160, 2282, 2406, 2532, 2661, 2793, 2927, 3063, 3202, 3344, 3489, 3636,
    3787, 3940,
];

/// Whether one integer answer is less than 1% away from every integer in `lo..=hi`:
/// some `y` with `0.99 * hi < y < 1.01 * lo`.
const fn low_bucket_fits(lo: u64, hi: u64) -> bool {
    (99 * hi) / 100 + 1 < (101 * lo).div_ceil(100)
}

/// Last value of the greedy low-region bucket that starts at `lo`.
const fn low_bucket_end(lo: u64) -> u64 {
    let mut hi = lo;
    while hi + 1 < LOW_LIMIT && low_bucket_fits(lo, hi + 1) {
        hi += 1;
    }
    hi
}

const fn count_low_buckets() -> usize {
    let mut n = 0;
    let mut v = 1;
    while v < LOW_LIMIT {
        v = low_bucket_end(v) + 1;
        n += 1;
    }
    n
}

/// Number of buckets of the low region (values `1..1024`).
const LOW_BUCKETS: usize = count_low_buckets();

/// Total number of bucket indices; every value `1..=u64::MAX` maps below it.
const NUM_BUCKETS: usize = LOW_BUCKETS + (64 - FIRST_OCTAVE as usize) * PER_OCTAVE;

const _: () = assert!(LOW_BUCKETS == 214);
const _: () = assert!(NUM_BUCKETS == 2158);
const _: () = assert!(NUM_BUCKETS <= u16::MAX as usize);

/// `LOW_START[i]` is the smallest value of low bucket `i`; `LOW_START[LOW_BUCKETS] = 1024`.
const LOW_START: [u64; LOW_BUCKETS + 1] = build_low_start();

const fn build_low_start() -> [u64; LOW_BUCKETS + 1] {
    let mut starts = [0u64; LOW_BUCKETS + 1];
    let mut i = 0;
    let mut v = 1;
    while v < LOW_LIMIT {
        starts[i] = v;
        v = low_bucket_end(v) + 1;
        i += 1;
    }
    starts[i] = LOW_LIMIT;
    starts
}

/// Bucket index of each value `1..1024` (entry 0 is unused).
static LOW_INDEX: [u16; LOW_LIMIT as usize] = build_low_index();

const fn build_low_index() -> [u16; LOW_LIMIT as usize] {
    let mut table = [0u16; LOW_LIMIT as usize];
    let mut i = 0;
    while i < LOW_BUCKETS {
        let mut v = LOW_START[i];
        while v < LOW_START[i + 1] {
            table[v as usize] = i as u16;
            v += 1;
        }
        i += 1;
    }
    table
}

/// Bucket within an octave for each 12-bit mantissa.
static OCTAVE: [u8; 1 << MANTISSA_BITS] = build_octave();

const fn build_octave() -> [u8; 1 << MANTISSA_BITS] {
    let mut table = [0u8; 1 << MANTISSA_BITS];
    let mut t = 0;
    let mut g = 0;
    while g < table.len() {
        while t + 1 < PER_OCTAVE && OCTAVE_START[t + 1] as usize <= g {
            t += 1;
        }
        table[g] = t as u8;
        g += 1;
    }
    table
}

/// Bucket index of `v >= 1`.
#[inline(always)]
fn bucket_index(v: u64) -> usize {
    if v < LOW_LIMIT {
        LOW_INDEX[v as usize] as usize
    } else {
        let lz = v.leading_zeros();
        let exponent = (63 - lz) as usize;
        let mantissa = ((v << lz) >> (63 - MANTISSA_BITS)) & MANTISSA_MASK;
        LOW_BUCKETS
            + (exponent - FIRST_OCTAVE as usize) * PER_OCTAVE
            + OCTAVE[mantissa as usize] as usize
    }
}

/// Smallest integer of each bucket.
static BUCKET_LO: [u64; NUM_BUCKETS] = build_bucket_lo();

const fn build_bucket_lo() -> [u64; NUM_BUCKETS] {
    let mut table = [0u64; NUM_BUCKETS];
    let mut index = 0;
    while index < NUM_BUCKETS {
        table[index] = if index < LOW_BUCKETS {
            LOW_START[index]
        } else {
            let j = index - LOW_BUCKETS;
            let exponent = FIRST_OCTAVE as usize + j / PER_OCTAVE;
            let start = OCTAVE_START[j % PER_OCTAVE] as u128;
            // Real boundary: 2^exponent * (4096 + start) / 4096, rounded up to an integer.
            let scaled = ((1u128 << MANTISSA_BITS) + start) << exponent;
            scaled.div_ceil(1u128 << MANTISSA_BITS) as u64
        };
        index += 1;
    }
    table
}

/// Smallest integer in bucket `index`, for `index <= NUM_BUCKETS` (`NUM_BUCKETS` gives 2^64).
#[inline]
fn bucket_lo(index: usize) -> u128 {
    BUCKET_LO
        .get(index)
        .map_or(1u128 << 64, |&lo| u128::from(lo))
}

/// Integer range `lo..=hi` of bucket `index < NUM_BUCKETS`.
fn bucket_bounds(index: usize) -> (u64, u64) {
    let lo = bucket_lo(index);
    let next = bucket_lo(index + 1);
    (
        u64::try_from(lo).unwrap_or(u64::MAX),
        u64::try_from(next.saturating_sub(1)).unwrap_or(u64::MAX),
    )
}

/// The integer in `lo..=hi` whose largest relative distance to a member of the range is smallest.
fn representative(lo: u64, hi: u64) -> u64 {
    if lo >= hi {
        return lo;
    }
    let (l, h) = (u128::from(lo), u128::from(hi));
    // The real optimum is 2*l*h/(l+h) = l + l*(h-l)/(l+h); try its floor and its ceiling.
    let below = l + l * (h - l) / (l + h);
    let above = (below + 1).min(h);
    // Error of `below` is (h - below)/h, error of `above` is (above - l)/l.
    let pick = if (above - l) * h < (h - below) * l {
        above
    } else {
        below
    };
    u64::try_from(pick).unwrap_or(hi)
}

/// Representative value of bucket `index`.
fn bucket_value(index: usize) -> u64 {
    let (lo, hi) = bucket_bounds(index);
    representative(lo, hi)
}

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

/// Extra buckets allocated beyond the touched range when the counter vector grows.
const GROW_PAD: usize = 16;

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
        let rank = nearest_rank(q, self.count)?;
        if let Some(v) = self.exact_at_rank(rank) {
            return Some(v);
        }
        let mut seen = self.zero;
        for (i, &c) in self.counts.iter().enumerate() {
            seen = seen.saturating_add(c);
            if seen >= rank {
                return Some(self.answer(self.base + i));
            }
        }
        Some(self.max)
    }

    /// [`quantile`](Self::quantile) for each of `qs`, computed in one pass over the buckets.
    pub fn quantiles(&self, qs: &[f64]) -> Vec<Option<u64>> {
        let mut out = vec![None; qs.len()];
        // (rank, position in qs) of the queries that need the buckets.
        let mut pending: Vec<(u64, usize)> = Vec::with_capacity(qs.len());
        for (pos, &q) in qs.iter().enumerate() {
            if let Some(rank) = nearest_rank(q, self.count) {
                match self.exact_at_rank(rank) {
                    Some(v) => out[pos] = Some(v),
                    None => pending.push((rank, pos)),
                }
            }
        }
        pending.sort_unstable();
        let mut next = pending.iter().peekable();
        let mut seen = self.zero;
        for (i, &c) in self.counts.iter().enumerate() {
            if next.peek().is_none() {
                break;
            }
            seen = seen.saturating_add(c);
            while let Some(&&(rank, pos)) = next.peek() {
                if rank > seen {
                    break;
                }
                out[pos] = Some(self.answer(self.base + i));
                next.next();
            }
        }
        for &(_, pos) in next {
            out[pos] = Some(self.max);
        }
        out
    }

    /// The value at `rank` when it is known exactly: the minimum, the maximum, or a zero.
    fn exact_at_rank(&self, rank: u64) -> Option<u64> {
        if rank <= 1 {
            Some(self.min)
        } else if rank >= self.count {
            Some(self.max)
        } else if rank <= self.zero {
            Some(0)
        } else {
            None
        }
    }

    /// Answer for a rank that falls into bucket `index`: its representative clamped to
    /// `[min, max]`.
    fn answer(&self, index: usize) -> u64 {
        bucket_value(index).max(self.min).min(self.max)
    }

    /// Index of the lowest non-empty bucket and the counters up to the highest non-empty one.
    fn trimmed(&self) -> Option<(usize, &[u64])> {
        let first = self.counts.iter().position(|&c| c != 0)?;
        let last = self.counts.iter().rposition(|&c| c != 0)?;
        Some((self.base + first, self.counts.get(first..=last)?))
    }

    /// Append the compact encoding of this sketch (see the module documentation) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(FORMAT_VERSION);
        let Some((first, counts)) = self.trimmed() else {
            out.push(KIND_ZEROS);
            put_varint(out, u128::from(self.zero));
            return;
        };
        let plan = Plan::choose(counts);
        out.push(plan.kind | (plan.k << 2));
        if plan.kind == KIND_SPARSE {
            out.push(plan.gap_k);
        }
        put_varint(out, u128::from(self.zero));
        put_varint(out, first as u128);
        put_varint(out, (counts.len() - 1) as u128);
        let mut bits = BitWriter::new(out);
        let k = u32::from(plan.k);
        match plan.kind {
            KIND_SPARSE => {
                let gap_k = u32::from(plan.gap_k);
                let mut gap = None;
                for &c in counts {
                    if c == 0 {
                        gap = gap.map(|g| g + 1);
                        continue;
                    }
                    if let Some(g) = gap {
                        bits.rice(g, gap_k);
                    }
                    bits.rice(c - 1, k);
                    gap = Some(0);
                }
            }
            KIND_DENSE => {
                for &c in counts {
                    bits.rice(c, k);
                }
            }
            _ => {
                for d in zigzag_deltas(counts) {
                    bits.rice(d, k);
                }
            }
        }
        bits.finish();
        let last = first + counts.len() - 1;
        if self.zero == 0 {
            let (lo, _) = bucket_bounds(first);
            put_varint(out, u128::from(self.min.saturating_sub(lo)));
        }
        let (_, hi) = bucket_bounds(last);
        put_varint(out, u128::from(hi.saturating_sub(self.max)));
        let (floor, _) = sum_range(first, counts, self.zero, self.min, self.max);
        put_varint(out, self.sum.saturating_sub(floor));
    }

    /// Decode a sketch written by [`encode`](Self::encode) from the start of `input`. Returns the
    /// sketch and the number of bytes it used; bytes after it are not looked at.
    pub fn decode(input: &[u8]) -> Result<(LatencySketch, usize), DecodeError> {
        let mut r = Reader { buf: input, pos: 0 };
        if r.byte()? != FORMAT_VERSION {
            return Err(DecodeError::new(0, "unknown latency sketch version"));
        }
        let layout_at = r.pos;
        let layout = r.byte()?;
        let (kind, k) = (layout & 3, u32::from(layout >> 2));
        if kind == KIND_ZEROS && k != 0 {
            return Err(DecodeError::new(layout_at, "unused sketch layout bits set"));
        }
        let gap_k = if kind == KIND_SPARSE {
            let at = r.pos;
            let gap_k = u32::from(r.byte()?);
            if gap_k > 63 {
                return Err(DecodeError::new(at, "sketch gap parameter out of range"));
            }
            gap_k
        } else {
            0
        };
        let zero = r.varint_u64()?;
        let mut sketch = LatencySketch::new();
        if kind == KIND_ZEROS {
            if zero > 0 {
                sketch.zero = zero;
                sketch.count = zero;
                sketch.min = 0;
            }
            return Ok((sketch, r.pos));
        }
        let first_at = r.pos;
        let first = usize::try_from(r.varint_u64()?).unwrap_or(usize::MAX);
        let span_at = r.pos;
        let span = usize::try_from(r.varint_u64()?)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        if first >= NUM_BUCKETS {
            return Err(DecodeError::new(
                first_at,
                "sketch bucket index out of range",
            ));
        }
        if span > NUM_BUCKETS - first {
            return Err(DecodeError::new(
                span_at,
                "sketch bucket range out of range",
            ));
        }
        let counts = match kind {
            KIND_SPARSE => r.sparse(span, k, gap_k)?,
            _ => r.dense(span, k, kind == KIND_DELTAS)?,
        };
        let ends_at = r.pos;
        if counts.first() == Some(&0) || counts.last() == Some(&0) {
            return Err(DecodeError::new(
                ends_at,
                "sketch bucket range has empty ends",
            ));
        }
        let total = counts
            .iter()
            .try_fold(zero, |acc, &c| acc.checked_add(c))
            .ok_or(DecodeError::new(ends_at, "sketch count overflows"))?;
        let last = first + span - 1;
        let (first_lo, first_hi) = bucket_bounds(first);
        let (last_lo, last_hi) = bucket_bounds(last);
        let min = if zero == 0 {
            let at = r.pos;
            let offset = r.varint_u64()?;
            if offset > first_hi - first_lo {
                return Err(DecodeError::new(at, "sketch minimum outside its bucket"));
            }
            first_lo + offset
        } else {
            0
        };
        let max_at = r.pos;
        let max_offset = r.varint_u64()?;
        if max_offset > last_hi - last_lo {
            return Err(DecodeError::new(
                max_at,
                "sketch maximum outside its bucket",
            ));
        }
        let max = last_hi - max_offset;
        if min > max || (total == 1 && min != max) {
            return Err(DecodeError::new(max_at, "sketch minimum above its maximum"));
        }
        let sum_at = r.pos;
        let sum_offset = r.varint()?;
        let (floor, ceiling) = sum_range(first, &counts, zero, min, max);
        if sum_offset > ceiling.saturating_sub(floor) {
            return Err(DecodeError::new(
                sum_at,
                "sketch sum impossible for its buckets",
            ));
        }
        sketch.counts = counts;
        sketch.base = first;
        sketch.zero = zero;
        sketch.count = total;
        sketch.sum = floor.saturating_add(sum_offset);
        sketch.min = min;
        sketch.max = max;
        Ok((sketch, r.pos))
    }
}

const KIND_ZEROS: u8 = 0;
const KIND_SPARSE: u8 = 1;
const KIND_DENSE: u8 = 2;
const KIND_DELTAS: u8 = 3;

/// The smallest and largest sum (inclusive) that non-zero values in buckets `first..` with these
/// counts (trimmed: the first and the last are non-zero) can have, given the exact `min` (ignored
/// when `zeros > 0`, min is then 0) and `max`. Wraps instead of failing when the counts add up to
/// more than `u64::MAX`, which only a saturated sketch can have.
fn sum_range(first: usize, counts: &[u64], zeros: u64, min: u64, max: u64) -> (u128, u128) {
    let Some((&last_count, inner)) = counts.split_last() else {
        return (0, 0);
    };
    let los = BUCKET_LO.get(first..).unwrap_or(&[]);
    let mut floor = 0u128;
    let mut ceiling = 0u128;
    // Every bucket but the last: hi(i) = lo(i + 1) - 1.
    for ((&c, &lo), &next) in inner.iter().zip(los).zip(los.iter().skip(1)) {
        floor = floor.wrapping_add(u128::from(lo) * u128::from(c));
        ceiling = ceiling.wrapping_add(u128::from(next - 1) * u128::from(c));
    }
    let last = first + inner.len();
    let (first_lo, first_hi) = bucket_bounds(first);
    let (last_lo, last_hi) = bucket_bounds(last);
    floor = floor.wrapping_add(u128::from(last_lo) * u128::from(last_count));
    ceiling = ceiling.wrapping_add(u128::from(last_hi) * u128::from(last_count));
    // One value in the last bucket is exactly `max`; when there are no zeros, another one in the
    // first bucket is exactly `min` (the same one if there is only one value).
    let mut low_extra = u128::from(max.saturating_sub(last_lo));
    let mut high_extra = u128::from(last_hi.saturating_sub(max));
    let several = !inner.is_empty() || last_count >= 2;
    if zeros == 0 && several {
        low_extra += u128::from(min.saturating_sub(first_lo));
        high_extra += u128::from(first_hi.saturating_sub(min));
    }
    (
        floor.wrapping_add(low_extra),
        ceiling.saturating_sub(high_extra),
    )
}

/// Counts at or above this are written as dense counts with `k = 63` instead of searching for the
/// smallest layout, which keeps the search in `u64` arithmetic. Needs 2^50 events in one bucket.
const BIG_COUNT: u64 = 1 << 50;

/// `zigzag(counts[i] - counts[i - 1])` with `counts[-1] = 0`, for counts below [`BIG_COUNT`].
fn zigzag_deltas(counts: &[u64]) -> impl Iterator<Item = u64> + '_ {
    let mut prev = 0i64;
    counts.iter().map(move |&c| {
        let c = c.min(BIG_COUNT) as i64;
        let d = c - prev;
        prev = c;
        ((d << 1) ^ (d >> 63)) as u64
    })
}

/// Rice parameter `k` and estimated size in bits for `n` values that add up to `sum`.
///
/// The estimate is `n * (k + 1) + sum / 2^k - (n - n / 2^k) / 2` (integer divisions): the exact
/// size with every quotient `v >> k` replaced by `v / 2^k` minus half a unit lost to the floor.
/// It depends on `(n, sum)` only, so choosing from it costs no pass over the values; on log-normal
/// test data its choices cost 0.2% more bits than the best `k` per stream. `k` grows while the
/// estimate shrinks. Needs `n <= NUM_BUCKETS` and `sum < 2^62`.
fn rice_estimate(n: u64, sum: u64) -> (u8, u64) {
    let size = |k: u32| n * u64::from(k + 1) + (sum >> k) - ((n - (n >> k)) >> 1);
    let mut best = (0, size(0));
    for k in 1..64u32 {
        let bits = size(k);
        if bits >= best.1 {
            break;
        }
        best = (k as u8, bits);
    }
    best
}

/// Which count layout [`LatencySketch::encode`] writes, with its Rice parameters.
struct Plan {
    kind: u8,
    k: u8,
    gap_k: u8,
}

impl Plan {
    /// The layout for `counts` (non-empty, first and last non-zero) that [`rice_estimate`] finds
    /// smallest. Ties prefer sparse, then dense counts, then deltas. The choice depends on the
    /// counts alone, so equal sketches encode identically.
    fn choose(counts: &[u64]) -> Plan {
        let span = counts.len() as u64;
        let (mut biggest, mut nonzero, mut sum_counts, mut sum_deltas) = (0u64, 0u64, 0u64, 0u64);
        for (&c, d) in counts.iter().zip(zigzag_deltas(counts)) {
            biggest = biggest.max(c);
            nonzero += u64::from(c != 0);
            sum_counts = sum_counts.wrapping_add(c);
            sum_deltas = sum_deltas.wrapping_add(d);
        }
        if biggest >= BIG_COUNT {
            return Plan {
                kind: KIND_DENSE,
                k: 63,
                gap_k: 0,
            };
        }
        // Every count is below 2^50 and there are at most NUM_BUCKETS, so no sum wrapped.
        // Sparse: `nonzero` values `count - 1`, and `nonzero - 1` gaps adding up to the empty
        // buckets.
        let (k, count_bits) = rice_estimate(nonzero, sum_counts - nonzero);
        let (gap_k, gap_bits) = rice_estimate(nonzero - 1, span - nonzero);
        let mut plan = (
            count_bits + gap_bits + 8,
            Plan {
                kind: KIND_SPARSE,
                k,
                gap_k,
            },
        );
        for (kind, sum) in [(KIND_DENSE, sum_counts), (KIND_DELTAS, sum_deltas)] {
            let (k, bits) = rice_estimate(span, sum);
            if bits < plan.0 {
                plan = (bits, Plan { kind, k, gap_k: 0 });
            }
        }
        plan.1
    }
}

/// Appends bits to a byte vector, least significant bit first.
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    bits: u32,
}

impl<'a> BitWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        BitWriter {
            out,
            acc: 0,
            bits: 0,
        }
    }

    /// Append the low `n <= 32` bits of `v` (higher bits of `v` must be zero).
    #[inline(always)]
    fn put(&mut self, v: u64, n: u32) {
        self.acc |= v << self.bits;
        self.bits += n;
        if self.bits >= 32 {
            self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.bits -= 32;
        }
    }

    /// Rice code of `v` with parameter `k <= 63`: `v >> k` one bits, a zero bit, then the low `k`
    /// bits of `v`.
    #[inline(always)]
    fn rice(&mut self, v: u64, k: u32) {
        let q = v >> k;
        let low = v & ((1u64 << k) - 1);
        if q + 1 + u64::from(k) <= 32 {
            self.put((low << (q + 1)) | ((1u64 << q) - 1), (q + 1) as u32 + k);
        } else {
            self.rice_long(q, low, k);
        }
    }

    #[cold]
    #[inline(never)]
    fn rice_long(&mut self, mut ones: u64, low: u64, k: u32) {
        while ones > 0 {
            let take = ones.min(32) as u32;
            self.put((1u64 << take) - 1, take);
            ones -= u64::from(take);
        }
        self.put(0, 1);
        if k > 32 {
            self.put(low & 0xFFFF_FFFF, 32);
            self.put(low >> 32, k - 32);
        } else {
            self.put(low, k);
        }
    }

    /// Write the pending bits, padding the last byte with zero bits.
    fn finish(self) {
        let bytes = self.bits.div_ceil(8) as usize;
        let pending = self.acc.to_le_bytes();
        self.out
            .extend_from_slice(pending.get(..bytes).unwrap_or(&[]));
    }
}

/// Reads a bit stream written by [`BitWriter`] from a byte slice.
struct BitReader<'a> {
    data: &'a [u8],
    next: usize,
    acc: u64,
    avail: u32,
    consumed: usize,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            next: 0,
            acc: 0,
            avail: 0,
            consumed: 0,
        }
    }

    /// Load whole bytes until at least 57 bits are available or the input ends. Bits of `acc`
    /// above `avail` stay zero.
    #[inline]
    fn refill(&mut self) {
        if let Some(chunk) = self
            .data
            .get(self.next..)
            .and_then(|rest| rest.first_chunk::<8>())
        {
            let take = (63 - self.avail) / 8;
            let fresh = u64::from_le_bytes(*chunk) & ((1u64 << (take * 8)) - 1);
            self.acc |= fresh << self.avail;
            self.avail += take * 8;
            self.next += take as usize;
            return;
        }
        while self.avail <= 56 {
            let Some(&b) = self.data.get(self.next) else {
                break;
            };
            self.acc |= u64::from(b) << self.avail;
            self.avail += 8;
            self.next += 1;
        }
    }

    #[inline]
    fn consume(&mut self, n: u32) {
        self.acc = self.acc.checked_shr(n).unwrap_or(0);
        self.avail -= n;
        self.consumed += n as usize;
    }

    /// The next `n <= 32` bits.
    #[inline]
    fn bits(&mut self, n: u32) -> Option<u64> {
        if self.avail < n {
            self.refill();
            if self.avail < n {
                return None;
            }
        }
        let v = self.acc & ((1u64 << n) - 1);
        self.consume(n);
        Some(v)
    }

    /// A Rice code with parameter `k <= 63`.
    #[inline(always)]
    fn rice(&mut self, k: u32) -> Option<u128> {
        if self.avail < 57 {
            self.refill();
        }
        // Bits above `avail` are zero, so `ones < avail` (at most 63).
        let ones = self.acc.trailing_ones();
        let used = ones + 1 + k;
        if used <= self.avail {
            // `ones + 1` is 64 when 63 ones fill a full accumulator (then k = 0).
            let low = self.acc.checked_shr(ones + 1).unwrap_or(0) & ((1u64 << k) - 1);
            self.consume(used);
            return Some((u128::from(ones) << k) | u128::from(low));
        }
        self.rice_long(k)
    }

    /// [`rice`](Self::rice) for codes longer than the bits at hand.
    #[cold]
    #[inline(never)]
    fn rice_long(&mut self, k: u32) -> Option<u128> {
        let mut q = 0u128;
        loop {
            if self.avail == 0 {
                self.refill();
                if self.avail == 0 {
                    return None;
                }
            }
            let ones = self.acc.trailing_ones().min(self.avail);
            if ones < self.avail {
                self.consume(ones + 1);
                q += u128::from(ones);
                break;
            }
            q += u128::from(ones);
            self.consume(ones);
        }
        let low = if k > 32 {
            self.bits(32)? | (self.bits(k - 32)? << 32)
        } else {
            self.bits(k)?
        };
        Some((q << k) | u128::from(low))
    }

    /// Bytes used so far, after checking that the rest of the last byte is zero padding.
    fn finish(mut self) -> Option<usize> {
        let pad = (8 - self.consumed % 8) % 8;
        (self.bits(pad as u32)? == 0).then_some(self.consumed / 8)
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u128) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or(DecodeError::new(self.pos, "latency sketch truncated"))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u128, DecodeError> {
        let start = self.pos;
        let mut v = 0u128;
        let mut shift = 0u32;
        loop {
            let b = self.byte()?;
            let bits = u128::from(b & 0x7F);
            if shift == 126 && (bits > 3 || b & 0x80 != 0) {
                return Err(DecodeError::new(start, "varint overflows 128 bits"));
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
        }
    }

    fn varint_u64(&mut self) -> Result<u64, DecodeError> {
        let start = self.pos;
        u64::try_from(self.varint()?)
            .map_err(|_| DecodeError::new(start, "varint overflows 64 bits"))
    }

    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// Error at the byte holding bit `bits.consumed` of the stream that starts at `self.pos`.
    fn bit_error(&self, bits: &BitReader<'_>, reason: &'static str) -> DecodeError {
        DecodeError::new(self.pos + bits.consumed / 8, reason)
    }

    /// Finish a bit stream that started at `self.pos`.
    fn end_bits(&mut self, bits: BitReader<'_>) -> Result<(), DecodeError> {
        let at = self.pos + bits.consumed / 8;
        let used = bits
            .finish()
            .ok_or(DecodeError::new(at, "sketch bit stream padding not zero"))?;
        self.pos += used;
        Ok(())
    }

    fn sparse(&mut self, span: usize, k: u32, gap_k: u32) -> Result<Vec<u64>, DecodeError> {
        let mut bits = BitReader::new(self.rest());
        let mut counts = vec![0u64; span];
        let mut pos = 0usize;
        loop {
            let v = bits
                .rice(k)
                .ok_or_else(|| self.bit_error(&bits, "latency sketch truncated"))?;
            let count = u64::try_from(v + 1)
                .map_err(|_| self.bit_error(&bits, "sketch bucket count out of range"))?;
            if let Some(slot) = counts.get_mut(pos) {
                *slot = count;
            }
            if pos + 1 >= span {
                break;
            }
            let gap = bits
                .rice(gap_k)
                .ok_or_else(|| self.bit_error(&bits, "latency sketch truncated"))?;
            pos = usize::try_from(gap)
                .ok()
                .and_then(|g| pos.checked_add(g)?.checked_add(1))
                .filter(|&p| p < span)
                .ok_or_else(|| self.bit_error(&bits, "sketch bucket beyond its range"))?;
        }
        self.end_bits(bits)?;
        Ok(counts)
    }

    fn dense(&mut self, span: usize, k: u32, deltas: bool) -> Result<Vec<u64>, DecodeError> {
        if span > self.rest().len().saturating_mul(8) {
            return Err(DecodeError::new(self.pos, "latency sketch truncated"));
        }
        let mut bits = BitReader::new(self.rest());
        let mut counts = Vec::with_capacity(span);
        let mut prev = 0i128;
        for _ in 0..span {
            let v = bits
                .rice(k)
                .ok_or_else(|| self.bit_error(&bits, "latency sketch truncated"))?;
            let count = if deltas {
                let d = ((v >> 1) as i128) ^ -((v & 1) as i128);
                prev = prev
                    .checked_add(d)
                    .filter(|c| (0..=i128::from(u64::MAX)).contains(c))
                    .ok_or_else(|| self.bit_error(&bits, "sketch bucket count out of range"))?;
                prev as u64
            } else {
                u64::try_from(v)
                    .map_err(|_| self.bit_error(&bits, "sketch bucket count out of range"))?
            };
            counts.push(count);
        }
        self.end_bits(bits)?;
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Found by `cargo fuzz run page_meta`: 63 one bits filling the whole accumulator made the
    /// Rice decoder shift a u64 by 64 (a panic wherever overflow checks are on).
    #[test]
    fn rice_code_filling_the_accumulator_does_not_overflow_the_shift() {
        let input = [
            0x01, 0x01, 0x00, 0x01, 0x01, 0xcd, 0x10, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0x10, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x06, 0x00,
            0x00, 0x10,
        ];
        // Decoding must return (either way) rather than panic; under overflow checks it panicked.
        let _ = LatencySketch::decode(&input);
    }

    /// Small deterministic generator for test data (SplitMix64).
    struct Rng(u64);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in (0, 1).
        fn unit(&mut self) -> f64 {
            ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }

        fn normal(&mut self) -> f64 {
            let (u, v) = (self.unit(), self.unit());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next_u64() % n
        }
    }

    /// Number of distributions [`sample`] knows; `worst_error_over_distributions` names them.
    const DISTRIBUTIONS: usize = 9;

    /// `n` values of distribution `kind`.
    fn sample(kind: usize, n: usize, rng: &mut Rng) -> Vec<u64> {
        let to_u64 = |x: f64| x.round().clamp(0.0, 1e19) as u64;
        let median = 2_000.0 * 10f64.powf(4.0 * rng.unit()); // 2 µs .. 20 ms
        let scale = 10f64.powf(1.0 + 8.0 * rng.unit());
        let constant = rng.next_u64() >> rng.below(64);
        (0..n)
            .map(|_| match kind {
                0 => rng.below(1_000_000_000) + 1,
                1 => to_u64(median * (0.8 * rng.normal()).exp()),
                2 => to_u64(-scale * rng.unit().ln()),
                3 => to_u64(scale * rng.unit().powf(-1.0 / 1.1)),
                4 => 1 + rng.below(10),
                5 => to_u64(1e14 * rng.unit().powi(3)),
                6 => constant,
                7 => rng.next_u64() >> rng.below(64),
                _ => [0, 1, 99, 100, 101, 1023, 1024, u64::MAX][rng.below(8) as usize],
            })
            .collect()
    }

    const FIXED_QS: [f64; 7] = [0.0, 0.01, 0.5, 0.9, 0.99, 0.999, 1.0];

    fn sketch_of(values: &[u64]) -> LatencySketch {
        let mut s = LatencySketch::new();
        s.insert_many(values);
        s
    }

    /// `|y - x| / x`, with 0 for `x == y == 0` and infinity for other answers to `x == 0`.
    fn rel_err(y: u64, x: u64) -> f64 {
        match (x, y) {
            (0, 0) => 0.0,
            (0, _) => f64::INFINITY,
            _ => y.abs_diff(x) as f64 / x as f64,
        }
    }

    /// Checks every answer against the exact nearest-rank quantile; returns the worst error.
    fn check_accuracy(values: &[u64], qs: &[f64]) -> f64 {
        let s = sketch_of(values);
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        let n = sorted.len() as u64;
        let batch = s.quantiles(qs);
        let mut worst = 0.0f64;
        for (i, &q) in qs.iter().enumerate() {
            let rank = nearest_rank(q, n).unwrap();
            let exact = sorted[rank as usize - 1];
            let got = s.quantile(q).unwrap();
            assert_eq!(batch[i], Some(got), "quantiles() != quantile() at q={q}");
            // Exact check in integers: 100 * |y - x| <= x.
            assert!(
                100 * u128::from(got.abs_diff(exact)) <= u128::from(exact),
                "q={q} n={n} exact={exact} got={got}"
            );
            worst = worst.max(rel_err(got, exact));
        }
        assert_eq!(s.quantile(0.0), Some(sorted[0]));
        assert_eq!(s.quantile(1.0), Some(sorted[sorted.len() - 1]));
        worst
    }

    /// Invariants every sketch (built, merged or decoded) must satisfy.
    fn check_invariants(s: &LatencySketch) {
        let buckets: u128 = s.counts.iter().map(|&c| u128::from(c)).sum();
        assert_eq!(u128::from(s.count), u128::from(s.zero) + buckets);
        if s.count == 0 {
            assert_eq!((s.min, s.max, s.sum), (u64::MAX, 0, 0));
            return;
        }
        assert!(s.min <= s.max);
        assert_eq!(s.zero > 0, s.min == 0);
        match s.trimmed() {
            None => assert_eq!((s.max, s.sum), (0, 0)),
            Some((first, counts)) => {
                if s.zero == 0 {
                    assert_eq!(bucket_index(s.min), first);
                }
                assert_eq!(bucket_index(s.max), first + counts.len() - 1);
                let (floor, ceiling) = sum_range(first, counts, s.zero, s.min, s.max);
                assert!(floor <= s.sum && s.sum <= ceiling);
                if s.count == 1 {
                    assert_eq!((s.min, u128::from(s.max)), (s.max, s.sum));
                }
            }
        }
    }

    fn encoded(s: &LatencySketch) -> Vec<u8> {
        let mut out = Vec::new();
        s.encode(&mut out);
        out
    }

    #[test]
    fn octave_table_is_rounded_powers_of_two() {
        for (t, &start) in OCTAVE_START.iter().enumerate() {
            let exact = 4096.0 * (2f64.powf(t as f64 / PER_OCTAVE as f64) - 1.0);
            assert_eq!(start, exact.round() as u16, "t={t}");
        }
    }

    /// The proof of the 1% bound, by exhaustion: every bucket is a non-empty contiguous integer
    /// range, the buckets tile 1..=u64::MAX in index order, the mapping agrees at both ends of
    /// each bucket (so, being monotone, everywhere inside), and the representative is within 1%
    /// of both ends (so of every member).
    #[test]
    fn every_bucket_is_within_one_percent() {
        let mut expected_lo = 1u64;
        let mut worst = (0.0f64, 0usize);
        let mut worst_octave = 0.0f64;
        for index in 0..NUM_BUCKETS {
            let (lo, hi) = bucket_bounds(index);
            assert_eq!(
                lo,
                expected_lo,
                "bucket {index} does not start where {} ended",
                index.max(1) - 1
            );
            assert!(lo <= hi, "bucket {index} is empty");
            assert_eq!(bucket_index(lo), index);
            assert_eq!(bucket_index(hi), index);
            let y = representative(lo, hi);
            assert!(lo <= y && y <= hi);
            assert!(
                100 * u128::from(y - lo) <= u128::from(lo),
                "bucket {index}: {lo}..={hi} -> {y}"
            );
            assert!(
                100 * u128::from(hi - y) <= u128::from(hi),
                "bucket {index}: {lo}..={hi} -> {y}"
            );
            let err = rel_err(y, lo).max(rel_err(y, hi));
            if err > worst.0 {
                worst = (err, index);
            }
            if lo >= LOW_LIMIT {
                worst_octave = worst_octave.max(err);
            }
            expected_lo = hi.wrapping_add(1);
        }
        assert_eq!(expected_lo, 0, "buckets end at u64::MAX");
        assert_eq!(bucket_index(u64::MAX), NUM_BUCKETS - 1);
        println!(
            "worst bucket error {:.6}% (bucket {}), octave region {:.6}%",
            worst.0 * 100.0,
            worst.1,
            worst_octave * 100.0
        );
        assert!(worst.0 < 0.00999 && worst_octave < 0.00979);
        // 1 ns .. 1 day fits in the first 1,560 buckets.
        assert!(bucket_index(86_400_000_000_000) < 1_560);
    }

    /// Pins the on-disk meaning of bucket indices and the byte layout.
    #[test]
    fn format_is_stable() {
        assert_eq!(
            [1u64, 99, 100, 1023, 1024, 1_000_000, u64::MAX].map(bucket_index),
            [0, 98, 99, 213, 214, 571, 2157]
        );
        let s = sketch_of(&[0, 5, 5, 7, 1_000_000, 1_000_001]);
        assert_eq!(
            encoded(&s),
            [1, 1, 7, 1, 4, 183, 4, 9, 120, 180, 0, 190, 70, 192, 80]
        );
    }

    #[test]
    fn empty_and_trivial_sketches() {
        let mut s = LatencySketch::new();
        assert!(s.is_empty());
        assert_eq!(
            (s.min(), s.max(), s.mean(), s.quantile(0.5)),
            (None, None, None, None)
        );
        assert_eq!(s.quantiles(&[0.5, 1.0]), vec![None, None]);
        assert_eq!(encoded(&s), [1, 0, 0]);
        s.insert(0);
        s.insert(0);
        assert_eq!(
            (s.count(), s.min(), s.max(), s.sum()),
            (2, Some(0), Some(0), 0)
        );
        assert_eq!(s.quantile(0.7), Some(0));
        assert_eq!(encoded(&s), [1, 0, 2]);
        s.insert(u64::MAX);
        assert_eq!(s.quantile(1.0), Some(u64::MAX));
        assert_eq!(s.sum(), u128::from(u64::MAX));
        for q in [f64::NAN, -0.1, 1.1, f64::INFINITY] {
            assert_eq!(s.quantile(q), None);
        }
        assert_eq!(
            s.quantiles(&[f64::NAN, 0.0, 1.0]),
            vec![None, Some(0), Some(u64::MAX)]
        );
        s.clear();
        assert_eq!(s, LatencySketch::new());
        assert!(s.is_empty());
        s.insert(42);
        assert_eq!((s.quantile(0.3), s.mean()), (Some(42), Some(42.0)));
    }

    /// Counts of 2^50 and more take the dense `k = 63` layout; they still roundtrip exactly.
    #[test]
    fn huge_counts_roundtrip() {
        for counts in [
            vec![BIG_COUNT, 0, 5, u64::MAX / 4],
            vec![u64::MAX - 1],
            vec![1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, BIG_COUNT - 1],
        ] {
            let first = 700;
            let last = first + counts.len() - 1;
            let mut s = LatencySketch::new();
            s.counts = counts.clone();
            s.base = first;
            s.count = counts.iter().sum();
            s.min = bucket_bounds(first).0;
            s.max = bucket_bounds(last).1;
            s.sum = sum_range(first, &counts, 0, s.min, s.max).0 + 3;
            check_invariants(&s);
            let bytes = encoded(&s);
            let (back, used) = LatencySketch::decode(&bytes).unwrap();
            assert_eq!((&back, used), (&s, bytes.len()));
            assert_eq!(s.quantile(1.0), Some(s.max));
        }
    }

    #[test]
    fn rejects_impossible_headers() {
        let reason = |bytes: &[u8]| LatencySketch::decode(bytes).map(|_| ()).unwrap_err().reason;
        assert_eq!(reason(&[]), "latency sketch truncated");
        assert_eq!(reason(&[2, 0, 0]), "unknown latency sketch version");
        assert_eq!(reason(&[1, 4, 0]), "unused sketch layout bits set");
        assert_eq!(reason(&[1, 1, 64, 0]), "sketch gap parameter out of range");
        // Bucket index 2158 does not exist; 2000 + 200 buckets run past the end.
        assert_eq!(
            reason(&[1, 2, 0, 0xEE, 0x10, 0]),
            "sketch bucket index out of range"
        );
        assert_eq!(
            reason(&[1, 2, 0, 0xD0, 0x0F, 199, 1]),
            "sketch bucket range out of range"
        );
        // 2,000 dense counts need at least 2,000 bits; one byte cannot hold them.
        assert_eq!(
            reason(&[1, 2, 0, 0, 0xCF, 0x0F, 0]),
            "latency sketch truncated"
        );
        // One bucket holding a count of 0.
        assert_eq!(
            reason(&[1, 2, 0, 5, 0, 0, 0, 0, 0]),
            "sketch bucket range has empty ends"
        );
        // Zero durations plus u64::MAX in one bucket.
        let mut bytes = vec![1, KIND_DENSE | (63 << 2), 1];
        put_varint(&mut bytes, 700);
        put_varint(&mut bytes, 0);
        let mut bits = BitWriter::new(&mut bytes);
        bits.rice(u64::MAX, 63);
        bits.finish();
        assert_eq!(reason(&bytes), "sketch count overflows");
    }

    #[test]
    fn nearest_rank_definition() {
        assert_eq!(nearest_rank(0.0, 10), Some(1));
        assert_eq!(nearest_rank(0.1, 10), Some(1));
        assert_eq!(nearest_rank(0.11, 10), Some(2));
        assert_eq!(nearest_rank(0.5, 10), Some(5));
        assert_eq!(nearest_rank(0.99, 10), Some(10));
        assert_eq!(nearest_rank(1.0, 10), Some(10));
        assert_eq!(nearest_rank(0.5, 0), None);
        assert_eq!(nearest_rank(1.0, u64::MAX), Some(u64::MAX));
    }

    /// Deterministic sweep over every distribution that reports the worst error seen.
    #[test]
    fn worst_error_over_distributions() {
        let mut rng = Rng(7);
        let mut qs = FIXED_QS.to_vec();
        qs.extend((1..1000).map(|i| i as f64 / 1000.0));
        let names = [
            "uniform 1 ns .. 1 s",
            "log-normal sigma 0.8, median 2 us .. 20 ms",
            "exponential",
            "Pareto alpha 1.1",
            "tiny 1 .. 10 ns",
            "huge up to 1e14",
            "constant",
            "log-uniform over u64",
            "edge values",
        ];
        let mut worst = 0.0f64;
        for (kind, name) in names.iter().enumerate() {
            let mut worst_here = 0.0f64;
            for n in [1, 2, 3, 10, 100, 1_600, 20_000] {
                for _ in 0..3 {
                    let values = sample(kind, n, &mut rng);
                    worst_here = worst_here.max(check_accuracy(&values, &qs));
                }
            }
            println!("worst relative error, {name}: {:.4}%", worst_here * 100.0);
            worst = worst.max(worst_here);
        }
        println!("worst relative error overall: {:.4}%", worst * 100.0);
        assert!(worst <= RELATIVE_ACCURACY);
    }

    #[test]
    fn small_values_are_exact() {
        let values: Vec<u64> = (0..=99).collect();
        let s = sketch_of(&values);
        for rank in 1..=values.len() {
            let q = rank as f64 / values.len() as f64;
            assert_eq!(
                s.quantile(q),
                Some(values[nearest_rank(q, 100).unwrap() as usize - 1])
            );
        }
    }

    /// Decoding `input` must not panic; whatever it accepts must be a sound sketch.
    fn check_garbage(input: &[u8]) {
        if let Ok((s, used)) = LatencySketch::decode(input) {
            assert!(used <= input.len());
            check_invariants(&s);
            let again = encoded(&s);
            assert_eq!(LatencySketch::decode(&again), Ok((s.clone(), again.len())));
            let _ = s.quantiles(&FIXED_QS);
            if s.count() < u64::MAX / 4 {
                let mut merged = s.clone();
                merged.merge(&s);
                merged.insert(1_000);
                check_invariants(&merged);
            }
        }
    }

    fn data() -> impl Strategy<Value = Vec<u64>> {
        (any::<u64>(), 0..DISTRIBUTIONS, 1usize..3_000)
            .prop_map(|(seed, kind, n)| sample(kind, n, &mut Rng(seed)))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn relative_error_is_bounded(
            values in data(),
            extra in prop::collection::vec(0.0f64..=1.0, 0..20),
        ) {
            let mut qs = FIXED_QS.to_vec();
            qs.extend(extra);
            let worst = check_accuracy(&values, &qs);
            prop_assert!(worst <= RELATIVE_ACCURACY);
        }

        #[test]
        fn mapping_agrees_with_bounds(v in 1u64.., shift in 0u32..64) {
            let v = (v >> shift).max(1);
            let index = bucket_index(v);
            let (lo, hi) = bucket_bounds(index);
            prop_assert!(lo <= v && v <= hi);
            prop_assert!(100 * u128::from(bucket_value(index).abs_diff(v)) <= u128::from(v));
        }

        #[test]
        fn merge_of_parts_equals_whole(
            values in data(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
            order_seed in any::<u64>(),
        ) {
            let whole = sketch_of(&values);
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(values.len() + 1)).collect();
            cuts.push(0);
            cuts.push(values.len());
            cuts.sort_unstable();
            let mut parts: Vec<LatencySketch> =
                cuts.windows(2).map(|w| sketch_of(&values[w[0]..w[1]])).collect();
            // Merge in a random tree shape and order.
            let mut rng = Rng(order_seed);
            while parts.len() > 1 {
                let a = parts.swap_remove(rng.below(parts.len() as u64) as usize);
                let i = rng.below(parts.len() as u64) as usize;
                parts[i].merge(&a);
                check_invariants(&parts[i]);
            }
            let merged = parts.pop().unwrap();
            prop_assert_eq!(&merged, &whole);
            prop_assert_eq!(encoded(&merged), encoded(&whole));
            // Merging in the other direction gives the same.
            let mut empty = LatencySketch::new();
            empty.merge(&whole);
            prop_assert_eq!(encoded(&empty), encoded(&whole));
        }

        #[test]
        fn encode_decode_roundtrip(
            values in data(),
            zeros in 0usize..3,
            trailing in prop::collection::vec(any::<u8>(), 0..8),
        ) {
            let mut s = sketch_of(&values);
            for _ in 0..zeros {
                s.insert(0);
            }
            check_invariants(&s);
            let mut bytes = encoded(&s);
            let len = bytes.len();
            bytes.extend(&trailing);
            let (back, used) = LatencySketch::decode(&bytes).unwrap();
            prop_assert_eq!(used, len);
            check_invariants(&back);
            prop_assert_eq!(&back, &s);
            prop_assert_eq!(encoded(&back), &bytes[..len]);
            for cut in 0..len {
                prop_assert!(
                    LatencySketch::decode(&bytes[..cut]).is_err(),
                    "prefix {} decoded",
                    cut
                );
            }
        }

        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let mut input = vec![FORMAT_VERSION];
            input.extend(&bytes);
            check_garbage(&bytes);
            check_garbage(&input);
        }

        /// Plausible headers followed by random bits reach the count decoders and the checks
        /// after them.
        #[test]
        fn garbage_after_plausible_header_never_panics(
            layout in any::<u8>(),
            gap_k in 0u8..70,
            zero in 0u64..3,
            first in 0u64..2_200,
            span in 0u64..400,
            tail in prop::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut input = vec![FORMAT_VERSION, layout];
            if layout & 3 == KIND_SPARSE {
                input.push(gap_k);
            }
            for v in [zero, first, span] {
                put_varint(&mut input, u128::from(v));
            }
            input.extend(&tail);
            check_garbage(&input);
        }

        #[test]
        fn corrupted_encodings_never_panic(
            values in data(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let mut bytes = encoded(&sketch_of(&values));
            for (at, x) in flips {
                let i = at.index(bytes.len());
                bytes[i] ^= x;
            }
            if let Ok((s, used)) = LatencySketch::decode(&bytes) {
                prop_assert!(used <= bytes.len());
                check_invariants(&s);
                let _ = s.quantiles(&FIXED_QS);
            }
        }
    }

    /// Prints ns/insert, ns/merge, ns/encode, ns/decode, ns per 4 quantiles and encoded sizes.
    /// Run with `cargo test --release -p laptime-core --lib sketch::tests::timing -- --ignored
    /// --nocapture`.
    #[test]
    #[ignore]
    fn timing() {
        use std::hint::black_box;
        use std::time::Instant;

        /// Best of 3 runs of `rounds` calls of `f`, in ns per call.
        fn per_call(rounds: usize, mut f: impl FnMut()) -> f64 {
            (0..3)
                .map(|_| {
                    let t = Instant::now();
                    for _ in 0..rounds {
                        f();
                    }
                    t.elapsed().as_nanos() as f64 / rounds as f64
                })
                .fold(f64::INFINITY, f64::min)
        }

        let mut rng = Rng(42);
        // Log-normal, median 50 µs, sigma 0.8.
        let lognormal = |rng: &mut Rng, n: usize| -> Vec<u64> {
            (0..n)
                .map(|_| (50_000.0 * (0.8 * rng.normal()).exp()).round() as u64)
                .collect()
        };
        let n = 10_000_000;
        let wide: Vec<u64> = (0..n)
            .map(|_| 86_400e9f64.powf(rng.unit()) as u64)
            .collect();
        for (name, values) in [
            ("log-normal", lognormal(&mut rng, n)),
            ("log-uniform 1 ns .. 1 day", wide),
        ] {
            let mut s = LatencySketch::new();
            let ns = per_call(1, || {
                s.clear();
                s.insert_many(black_box(&values));
            }) / n as f64;
            black_box(&s);
            println!("insert: {ns:.2} ns/insert ({n} {name} values)");
        }

        for n in [10, 40, 100, 1_600, 100_000] {
            let sketch = sketch_of(&lognormal(&mut rng, n));
            let bytes = encoded(&sketch);
            let mut base = LatencySketch::new();
            let merge = per_call(100_000, || base.merge(black_box(&sketch)));
            black_box(&base);
            let mut out = Vec::with_capacity(4096);
            let encode = per_call(100_000, || {
                out.clear();
                black_box(&sketch).encode(&mut out);
            });
            let decode = per_call(100_000, || {
                black_box(LatencySketch::decode(black_box(&bytes)).ok());
            });
            let quantiles = per_call(100_000, || {
                black_box(black_box(&sketch).quantiles(&[0.5, 0.9, 0.99, 0.999]));
            });
            let (_, counts) = sketch.trimmed().unwrap();
            println!(
                "n={n}: {} bytes ({} buckets, {} non-empty, layout kind {}), {merge:.0} ns/merge, \
                 {encode:.0} ns/encode, {decode:.0} ns/decode, {quantiles:.0} ns per 4 quantiles",
                bytes.len(),
                counts.len(),
                counts.iter().filter(|&&c| c != 0).count(),
                bytes[1] & 3,
            );
        }
    }
}
