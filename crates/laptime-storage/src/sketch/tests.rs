use super::buckets::*;
use super::codec::*;
use super::*;
use proptest::prelude::*;

/// Exact counts per bin of `values` for the bins `histogram` chose.
fn exact_bins(values: &[u64], bins: &[HistogramBin]) -> Vec<u64> {
    let last = bins.len() - 1;
    bins.iter()
        .enumerate()
        .map(|(i, b)| {
            values
                .iter()
                .filter(|&&v| {
                    v >= b.lo && (v < b.hi || (i == last && v == b.hi) || b.lo == b.hi && v == b.lo)
                })
                .count() as u64
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Bins cover min..max with edges in order, counts add up, and each count differs from the
    /// exact count only by values within 1% of an edge.
    #[test]
    fn histogram_counts_match_exact_binning_up_to_the_sketch_error(
        values in prop::collection::vec(prop_oneof![Just(0u64), 1u64..10_000_000], 1..400),
        bins in 1usize..40,
    ) {
        let mut sk = LatencySketch::new();
        sk.insert_many(&values);
        let h = sk.histogram(bins);
        prop_assert_eq!(h.iter().map(|b| b.count).sum::<u64>(), values.len() as u64);
        prop_assert!(h.windows(2).all(|w| w[0].hi <= w[1].lo || w[0].hi == 0));
        prop_assert!(h.iter().all(|b| b.lo <= b.hi));
        let exact = exact_bins(&values, &h);
        let near_edge = |v: u64| h.iter().any(|b| {
            let close = |e: u64| (v as f64 - e as f64).abs() <= 0.0101 * e.max(1) as f64;
            close(b.lo) || close(b.hi)
        });
        let movable = values.iter().filter(|&&v| near_edge(v)).count() as u64;
        let moved: u64 = h.iter().zip(&exact).map(|(b, &e)| b.count.abs_diff(e)).sum::<u64>() / 2;
        prop_assert!(moved <= movable, "moved {} > {} values near an edge", moved, movable);
    }

    /// Every rank's value lies in its bounds, and the counts below and in them are exact.
    #[test]
    fn rank_bounds_hold_the_rank_and_count_exactly(
        values in prop::collection::vec(prop_oneof![Just(0u64), 1u64..3_000, 1u64..u64::MAX, Just(u64::MAX)], 1..300),
    ) {
        let mut sk = LatencySketch::new();
        sk.insert_many(&values);
        let mut sorted = values.clone();
        sorted.sort_unstable();
        let n = sorted.len() as u64;
        prop_assert_eq!(sk.rank_bounds(0), None);
        prop_assert_eq!(sk.rank_bounds(n + 1), None);
        for rank in 1..=n {
            let b = sk.rank_bounds(rank).unwrap();
            let v = sorted[rank as usize - 1];
            prop_assert!(b.lo <= v && v <= b.hi, "rank {} value {} outside {:?}", rank, v, b);
            prop_assert_eq!(b.below, sorted.iter().filter(|&&x| x < b.lo).count() as u64);
            prop_assert_eq!(b.count, sorted.iter().filter(|&&x| b.lo <= x && x <= b.hi).count() as u64);
        }
    }
}

#[test]
fn histogram_of_equal_values_and_of_zeros() {
    let mut sk = LatencySketch::new();
    assert!(sk.histogram(10).is_empty());
    sk.insert_many(&[0, 0, 7, 7, 7]);
    assert_eq!(
        sk.histogram(10),
        vec![
            HistogramBin {
                lo: 0,
                hi: 0,
                count: 2
            },
            HistogramBin {
                lo: 7,
                hi: 7,
                count: 3
            },
        ]
    );
    assert!(sk.histogram(0).is_empty());
}

/// Found by `cargo fuzz run page_meta`: 63 one bits filling the whole accumulator made the
/// Rice decoder shift a u64 by 64 (a panic wherever overflow checks are on).
#[test]
fn rice_code_filling_the_accumulator_does_not_overflow_the_shift() {
    let input = [
        0x01, 0x01, 0x00, 0x01, 0x01, 0xcd, 0x10, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x10, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x06, 0x00, 0x00, 0x10,
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
        // Merge in a random tree shape and order, by reference or by value (which takes the
        // other's buckets when there is nothing yet: empty parts make that happen).
        let mut rng = Rng(order_seed);
        while parts.len() > 1 {
            let a = parts.swap_remove(rng.below(parts.len() as u64) as usize);
            let i = rng.below(parts.len() as u64) as usize;
            if rng.below(2) == 0 {
                parts[i].merge(&a);
            } else {
                parts[i].merge_owned(a);
            }
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// A sketch less the sketch of some of its values is the sketch of the others, given their
    /// exact range; a part that is not contained, or a range that does not fit, is refused.
    #[test]
    fn without_leaves_the_sketch_of_the_values_left(
        values in prop::collection::vec(prop_oneof![Just(0u64), 1u64..2_000, 1u64..u64::MAX], 0..300),
        keep in prop::collection::vec(any::<bool>(), 300),
    ) {
        let (mut part, mut rest) = (Vec::new(), Vec::new());
        for (i, &v) in values.iter().enumerate() {
            if keep[i] { rest.push(v) } else { part.push(v) }
        }
        let all = sketch_of(&values);
        let range = rest.iter().min().zip(rest.iter().max()).map(|(a, b)| (*a, *b));
        let left = all.without(&sketch_of(&part), range);
        prop_assert_eq!(left.as_ref(), Some(&sketch_of(&rest)));
        // Values that are not there cannot be taken away.
        let mut more = part.clone();
        more.push(7);
        more.push(7);
        if rest.iter().filter(|&&v| v == 7).count() < 2 {
            prop_assert_eq!(all.without(&sketch_of(&more), range), None);
        }
        // A range outside the buckets left is refused.
        if let Some((min, max)) = range {
            if max < u64::MAX / 2 && max > 0 {
                prop_assert_eq!(all.without(&sketch_of(&part), Some((min, max * 2 + 100))), None);
            }
        }
        prop_assert_eq!(all.without(&all, None), Some(LatencySketch::new()));
        // Told by the buckets where they can, scanned where not: the same sketch either way.
        let mut scanned = false;
        let told = all.without_scanning(&sketch_of(&part), || {
            scanned = true;
            range
        });
        prop_assert_eq!(told.as_ref(), Some(&sketch_of(&rest)), "scanned: {}", scanned);
    }
}

/// The bucket answer for `rank` found the plain way: the lowest bucket whose values at or below it
/// reach `rank`.
fn upward_answer(s: &LatencySketch, rank: u64) -> u64 {
    if let Some(v) = s.exact_at_rank(rank) {
        return v;
    }
    let mut seen = s.zero;
    for (i, &c) in s.counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return s.answer(s.base + i);
        }
    }
    s.max
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Ranks in the upper half are found from the highest bucket down: the same bucket as the
    /// upward scan finds, for every rank of sketches built, merged (with padding) and holding zeros.
    #[test]
    fn quantiles_from_either_end_find_the_bucket_an_upward_scan_finds(
        a in prop::collection::vec(prop_oneof![Just(0u64), 1u64..5_000, 1u64..50_000_000], 1..300),
        b in prop::collection::vec(1u64..1_000_000, 0..300),
    ) {
        let mut s = sketch_of(&a);
        s.merge(&sketch_of(&b));
        let n = s.count();
        let qs: Vec<f64> = (0..=200).map(|i| f64::from(i) / 200.0).collect();
        let batch = s.quantiles(&qs);
        for (i, &q) in qs.iter().enumerate() {
            let rank = nearest_rank(q, n).unwrap();
            prop_assert_eq!(batch[i], Some(upward_answer(&s, rank)), "q={} n={}", q, n);
            prop_assert_eq!(s.quantile(q), batch[i]);
        }
    }
}
