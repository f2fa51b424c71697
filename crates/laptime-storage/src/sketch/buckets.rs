//! Bucket mapping of the latency sketch.
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

/// Values below this use the greedy low-region table.
pub(super) const LOW_LIMIT: u64 = 1024;
/// `floor(log2(LOW_LIMIT))`: the first octave of the octave region.
pub(super) const FIRST_OCTAVE: u32 = 10;
/// Buckets per power of two in the octave region.
pub(super) const PER_OCTAVE: usize = 36;
/// Mantissa bits used to look up the bucket inside an octave.
pub(super) const MANTISSA_BITS: u32 = 12;
pub(super) const MANTISSA_MASK: u64 = (1 << MANTISSA_BITS) - 1;

/// First 12-bit mantissa value of each bucket of an octave: `round(4096 * (2^(t/36) - 1))`.
/// Part of the on-disk format: changing it changes the meaning of stored bucket indices.
pub(super) const OCTAVE_START: [u16; PER_OCTAVE] = [
    0, 80, 161, 244, 328, 414, 502, 591, 682, 775, 870, 966, 1065, 1165, 1267, 1372, 1478, 1586,
    1697, 1809, 1924, 2041, 2160, 2282, 2406, 2532, 2661, 2793, 2927, 3063, 3202, 3344, 3489, 3636,
    3787, 3940,
];

/// Whether one integer answer is less than 1% away from every integer in `lo..=hi`:
/// some `y` with `0.99 * hi < y < 1.01 * lo`.
pub(super) const fn low_bucket_fits(lo: u64, hi: u64) -> bool {
    (99 * hi) / 100 + 1 < (101 * lo).div_ceil(100)
}

/// Last value of the greedy low-region bucket that starts at `lo`.
pub(super) const fn low_bucket_end(lo: u64) -> u64 {
    let mut hi = lo;
    while hi + 1 < LOW_LIMIT && low_bucket_fits(lo, hi + 1) {
        hi += 1;
    }
    hi
}

pub(super) const fn count_low_buckets() -> usize {
    let mut n = 0;
    let mut v = 1;
    while v < LOW_LIMIT {
        v = low_bucket_end(v) + 1;
        n += 1;
    }
    n
}

/// Number of buckets of the low region (values `1..1024`).
pub(super) const LOW_BUCKETS: usize = count_low_buckets();

/// Total number of bucket indices; every value `1..=u64::MAX` maps below it.
pub(super) const NUM_BUCKETS: usize = LOW_BUCKETS + (64 - FIRST_OCTAVE as usize) * PER_OCTAVE;

const _: () = assert!(LOW_BUCKETS == 214);
const _: () = assert!(NUM_BUCKETS == 2158);
const _: () = assert!(NUM_BUCKETS <= u16::MAX as usize);

/// `LOW_START[i]` is the smallest value of low bucket `i`; `LOW_START[LOW_BUCKETS] = 1024`.
pub(super) const LOW_START: [u64; LOW_BUCKETS + 1] = build_low_start();

pub(super) const fn build_low_start() -> [u64; LOW_BUCKETS + 1] {
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
pub(super) static LOW_INDEX: [u16; LOW_LIMIT as usize] = build_low_index();

pub(super) const fn build_low_index() -> [u16; LOW_LIMIT as usize] {
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
pub(super) static OCTAVE: [u8; 1 << MANTISSA_BITS] = build_octave();

pub(super) const fn build_octave() -> [u8; 1 << MANTISSA_BITS] {
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
pub(super) fn bucket_index(v: u64) -> usize {
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
pub(super) static BUCKET_LO: [u64; NUM_BUCKETS] = build_bucket_lo();

pub(super) const fn build_bucket_lo() -> [u64; NUM_BUCKETS] {
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
pub(super) fn bucket_lo(index: usize) -> u128 {
    BUCKET_LO
        .get(index)
        .map_or(1u128 << 64, |&lo| u128::from(lo))
}

/// Integer range `lo..=hi` of bucket `index < NUM_BUCKETS`.
pub(super) fn bucket_bounds(index: usize) -> (u64, u64) {
    let lo = bucket_lo(index);
    let next = bucket_lo(index + 1);
    (
        u64::try_from(lo).unwrap_or(u64::MAX),
        u64::try_from(next.saturating_sub(1)).unwrap_or(u64::MAX),
    )
}

/// The integer in `lo..=hi` whose largest relative distance to a member of the range is smallest.
pub(super) fn representative(lo: u64, hi: u64) -> u64 {
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
pub(super) fn bucket_value(index: usize) -> u64 {
    let (lo, hi) = bucket_bounds(index);
    representative(lo, hi)
}
