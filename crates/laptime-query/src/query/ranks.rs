//! Exact nearest-rank values of one group without keeping its durations: the group's sketch counts
//! exactly how many durations fall in each bucket, so the value of a rank lies in one known bucket
//! at a known position. A pass over the data then keeps only the durations in those buckets (or,
//! when they are too many for the memory budget, counts them in finer bins and narrows the range
//! for one more pass) and selects the rank among them.

use laptime_storage::sketch::LatencySketch;
use laptime_storage::{Error, Result};

/// Most bins a range is counted in when its values are too many to keep.
const MAX_BINS: u64 = 4096;

/// The ranks wanted from one group and the search for their values.
#[derive(Debug, Clone, Default)]
pub(crate) struct RankFinder {
    /// Values the sketch counted: the ranks are among these.
    n: u64,
    /// Wanted 1-based ranks, ascending, each with its value once known.
    found: Vec<(u64, Option<u64>)>,
    /// Disjoint value ranges still to be searched, each holding at least one wanted rank. None
    /// holds 0: zeros have a bucket of their own, whose ranks are found at once (the engine offers
    /// logs' zero durations without telling them from calls).
    ranges: Vec<Range>,
    /// `(lo, hi - lo)` of each range, for a branch-free test of every offered value: most are in
    /// none, and a branch per range mispredicts on random durations.
    probes: Vec<(u64, u64)>,
}

#[derive(Debug, Clone)]
struct Range {
    lo: u64,
    hi: u64,
    /// The group's values below `lo`.
    below: u64,
    /// The group's values in `lo..=hi`.
    count: u64,
    tally: Tally,
}

#[derive(Debug, Clone)]
enum Tally {
    /// Not yet given its share of the memory budget (see [`assign_tallies`]).
    Undecided,
    /// Every value in the range.
    Keep(Vec<u64>),
    /// Counts of `lo + i * width ..= lo + (i + 1) * width - 1`.
    Bins { width: u64, counts: Vec<u64> },
}

impl RankFinder {
    /// The search for `ranks` (1-based, any order, duplicates allowed) among the values `sketch`
    /// recorded. Ranks the sketch knows exactly (the minimum, the maximum, a one-value bucket) are
    /// found at once; the others get a range each ([`assign_tallies`] must follow).
    pub(crate) fn new(sketch: &LatencySketch, ranks: &[u64]) -> RankFinder {
        let mut wanted: Vec<u64> = ranks.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let n = sketch.count();
        let mut finder = RankFinder {
            n,
            found: wanted.iter().map(|&r| (r, None)).collect(),
            ranges: Vec::new(),
            probes: Vec::new(),
        };
        for slot in &mut finder.found {
            let rank = slot.0;
            let bounds = sketch.rank_bounds(rank);
            slot.1 = match (rank, bounds) {
                (1, _) => sketch.min(),
                (r, _) if r == n => sketch.max(),
                (_, Some(b)) if b.lo == b.hi => Some(b.lo),
                _ => None,
            };
            if let (None, Some(b)) = (slot.1, bounds) {
                if !finder.ranges.iter().any(|g| g.lo == b.lo) {
                    finder.ranges.push(Range {
                        lo: b.lo,
                        hi: b.hi,
                        below: b.below,
                        count: b.count,
                        tally: Tally::Undecided,
                    });
                }
            }
        }
        finder.probes = probes_of(&finder.ranges);
        finder
    }

    /// Whether another pass over the data is needed.
    pub(crate) fn searching(&self) -> bool {
        !self.ranges.is_empty()
    }

    /// The same search with nothing tallied yet: what each worker of a pass starts from.
    pub(crate) fn empty_copy(&self) -> RankFinder {
        RankFinder {
            n: self.n,
            found: self.found.clone(),
            ranges: self
                .ranges
                .iter()
                .map(|r| Range {
                    tally: match &r.tally {
                        Tally::Undecided => Tally::Undecided,
                        Tally::Keep(_) => Tally::Keep(Vec::new()),
                        Tally::Bins { width, counts } => Tally::Bins {
                            width: *width,
                            counts: vec![0; counts.len()],
                        },
                    },
                    ..*r
                })
                .collect(),
            probes: self.probes.clone(),
        }
    }

    /// One duration of the group.
    #[inline]
    pub(crate) fn offer(&mut self, v: u64) {
        let hit = self
            .probes
            .iter()
            .fold(false, |hit, &(lo, span)| hit | (v.wrapping_sub(lo) <= span));
        if hit {
            self.tally(v);
        }
    }

    #[inline(never)]
    fn tally(&mut self, v: u64) {
        for r in &mut self.ranges {
            if r.lo <= v && v <= r.hi {
                match &mut r.tally {
                    Tally::Keep(vals) => vals.push(v),
                    Tally::Bins { width, counts } => {
                        if let Some(c) = counts.get_mut(((v - r.lo) / *width) as usize) {
                            *c += 1;
                        }
                    }
                    Tally::Undecided => {}
                }
                return;
            }
        }
    }

    /// Add what `other` (an [`empty_copy`](Self::empty_copy) of the same search) tallied.
    pub(crate) fn merge(&mut self, other: RankFinder) {
        for (a, b) in self.ranges.iter_mut().zip(other.ranges) {
            match (&mut a.tally, b.tally) {
                (Tally::Keep(x), Tally::Keep(y)) => {
                    if x.is_empty() {
                        *x = y;
                    } else {
                        x.extend_from_slice(&y);
                    }
                }
                (Tally::Bins { counts: x, .. }, Tally::Bins { counts: y, .. }) => {
                    for (c, d) in x.iter_mut().zip(y) {
                        *c += d;
                    }
                }
                _ => {}
            }
        }
    }

    /// After a pass: the values of the ranks whose range was kept, and narrower ranges (new
    /// [`Tally::Undecided`]) for those that were counted in bins. Fails when the pass saw other
    /// values than the sketch counted (the data changed between passes).
    pub(crate) fn resolve(&mut self) -> Result<()> {
        let mut next = Vec::new();
        for range in std::mem::take(&mut self.ranges) {
            let in_range = |r: u64| range.below < r && r <= range.below + range.count;
            match range.tally {
                Tally::Undecided => {
                    return Err(internal("a rank range was searched without a tally"))
                }
                Tally::Keep(mut vals) => {
                    if vals.len() as u64 != range.count {
                        return Err(internal(format!(
                            "a pass found {} values in {}..={} where the sketch counted {}",
                            vals.len(),
                            range.lo,
                            range.hi,
                            range.count
                        )));
                    }
                    vals.sort_unstable();
                    for slot in self.found.iter_mut().filter(|s| in_range(s.0)) {
                        slot.1 = vals.get((slot.0 - range.below - 1) as usize).copied();
                    }
                }
                Tally::Bins { width, counts } => {
                    if counts.iter().sum::<u64>() != range.count {
                        return Err(internal(format!(
                            "a pass counted {} values in {}..={} where the sketch counted {}",
                            counts.iter().sum::<u64>(),
                            range.lo,
                            range.hi,
                            range.count
                        )));
                    }
                    let mut below = range.below;
                    let mut lo = range.lo;
                    for (i, &c) in counts.iter().enumerate() {
                        let hi = if i + 1 == counts.len() {
                            range.hi
                        } else {
                            lo + (width - 1)
                        };
                        let holds = |r: u64| below < r && r <= below + c;
                        if c > 0 && self.found.iter().any(|s| holds(s.0)) {
                            if lo == hi {
                                for slot in self.found.iter_mut().filter(|s| holds(s.0)) {
                                    slot.1 = Some(lo);
                                }
                            } else {
                                next.push(Range {
                                    lo,
                                    hi,
                                    below,
                                    count: c,
                                    tally: Tally::Undecided,
                                });
                            }
                        }
                        below += c;
                        lo = lo.saturating_add(width);
                    }
                }
            }
        }
        self.probes = probes_of(&next);
        self.ranges = next;
        Ok(())
    }

    /// Whether the search is over and was over `calls` values (the group's calls as the final
    /// pass counted them), so its answers are the group's.
    pub(crate) fn answers_for(&self, calls: u64) -> bool {
        self.n == calls && self.ranges.is_empty() && self.found.iter().all(|s| s.1.is_some())
    }

    /// The value of 1-based `rank`, once found.
    pub(crate) fn value_at(&self, rank: u64) -> Option<u64> {
        self.found.iter().find(|s| s.0 == rank).and_then(|s| s.1)
    }
}

fn probes_of(ranges: &[Range]) -> Vec<(u64, u64)> {
    ranges.iter().map(|r| (r.lo, r.hi - r.lo)).collect()
}

/// Bits after the leading one that tell the cells of [`RankCells`] apart: a cell spans under
/// 1/128 of its values, finer than a sketch bucket (about 2 %), so few durations outside a
/// searched range share a cell with one inside.
const CELL_BITS: u32 = 7;

/// The durations some search of a pass still looks at, over every group: a bitmap (1 KiB) of
/// value cells, each the values with the same leading one bit and next [`CELL_BITS`] bits, set
/// for every cell a searched range touches. A duration in no set cell is in no group's range, so
/// a page path can test each duration here first and find the group of only those it holds.
#[derive(Debug, Clone)]
pub(crate) struct RankCells {
    bits: Vec<u64>,
}

impl RankCells {
    pub(crate) fn of<'f>(finders: impl Iterator<Item = &'f RankFinder>) -> RankCells {
        let mut bits = vec![0u64; (64 << CELL_BITS) / 64];
        for r in finders.flat_map(|f| &f.ranges) {
            for cell in cell_of(r.lo)..=cell_of(r.hi) {
                bits[cell / 64] |= 1 << (cell % 64);
            }
        }
        RankCells { bits }
    }

    /// Whether `v` may be in a searched range (0, in none, may say yes: `offer` tells).
    #[inline]
    pub(crate) fn holds(&self, v: u64) -> bool {
        let cell = cell_of(v);
        self.bits
            .get(cell / 64)
            .is_some_and(|w| w >> (cell % 64) & 1 == 1)
    }
}

/// The cell of `v` (0 shares 1's): monotone in `v`.
#[inline]
fn cell_of(v: u64) -> usize {
    let v = v.max(1);
    let lz = v.leading_zeros();
    let mantissa = ((v << lz) >> (63 - CELL_BITS)) as usize & ((1 << CELL_BITS) - 1);
    (((63 - lz) as usize) << CELL_BITS) | mantissa
}

/// Give every undecided range of `finders` its tally: keep the values of the smallest ranges while
/// their total stays within `budget` values, count the others in bins (at most [`MAX_BINS`] each,
/// so one more pass narrows them by that factor). The kept values of a pass are then bounded by
/// `budget`, whatever the data.
pub(crate) fn assign_tallies<'f>(finders: impl Iterator<Item = &'f mut RankFinder>, budget: u64) {
    let mut open: Vec<&mut Range> = finders
        .flat_map(|f| f.ranges.iter_mut())
        .filter(|r| matches!(r.tally, Tally::Undecided))
        .collect();
    open.sort_by_key(|r| r.count);
    let mut kept = 0u64;
    for r in open {
        if kept.saturating_add(r.count) <= budget {
            kept += r.count;
            r.tally = Tally::Keep(Vec::new());
        } else {
            let span = u128::from(r.hi - r.lo) + 1;
            let bins = u128::from(MAX_BINS).min(span);
            // Ceiling division keeps every value of the range in a bin.
            let width = span.div_ceil(bins);
            let bins = span.div_ceil(width);
            r.tally = Tally::Bins {
                width: u64::try_from(width).unwrap_or(u64::MAX),
                counts: vec![0; bins as usize],
            };
        }
    }
}

fn internal(reason: impl Into<String>) -> Error {
    Error::InvalidInput {
        what: "exact percentiles",
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use laptime_storage::sketch::nearest_rank;
    use proptest::prelude::*;

    /// Run the search over `values` in `passes`-bounded rounds, splitting each pass between two
    /// workers as the query engine does.
    fn find(values: &[u64], ranks: &[u64], budget: u64) -> (Vec<Option<u64>>, usize) {
        let mut sk = LatencySketch::new();
        sk.insert_many(values);
        let mut f = RankFinder::new(&sk, ranks);
        let mut passes = 0;
        while f.searching() {
            assign_tallies(std::iter::once(&mut f), budget);
            let (mut a, mut b) = (f.empty_copy(), f.empty_copy());
            for (i, &v) in values.iter().enumerate() {
                if i % 2 == 0 { &mut a } else { &mut b }.offer(v);
            }
            a.merge(b);
            f = a;
            f.resolve().unwrap();
            passes += 1;
            assert!(passes < 40, "no progress");
        }
        (ranks.iter().map(|&r| f.value_at(r)).collect(), passes)
    }

    fn oracle(values: &[u64], ranks: &[u64]) -> Vec<Option<u64>> {
        let mut s = values.to_vec();
        s.sort_unstable();
        ranks
            .iter()
            .map(|&r| s.get(r as usize - 1).copied())
            .collect()
    }

    fn ranks_of(n: u64) -> Vec<u64> {
        [0.5, 0.9, 0.99, 0.01, 1.0, 0.999]
            .iter()
            .filter_map(|&q| nearest_rank(q, n))
            .collect()
    }

    #[test]
    fn a_pass_within_budget_finds_every_rank() {
        let values: Vec<u64> = (0..50_000u64)
            .map(|i| 1_000 + (i * 7919) % 1_000_003)
            .collect();
        let ranks = ranks_of(values.len() as u64);
        let (got, passes) = find(&values, &ranks, u64::MAX);
        assert_eq!(got, oracle(&values, &ranks));
        assert_eq!(passes, 1);
    }

    #[test]
    fn bins_narrow_over_passes_when_nothing_may_be_kept() {
        let values: Vec<u64> = (0..50_000u64)
            .map(|i| (1 << 40) | ((i * 104_729) % 1_000_000_007))
            .collect();
        let ranks = ranks_of(values.len() as u64);
        let (got, passes) = find(&values, &ranks, 0);
        assert_eq!(got, oracle(&values, &ranks));
        assert!(passes >= 2, "{passes}");
    }

    #[test]
    fn many_ties_resolve_in_bins_without_keeping_them() {
        // 30,000 calls of exactly 5 ms among a few others: the median is a tie far above budget.
        let mut values = vec![5_000_000u64; 30_000];
        values.extend((0..1_000u64).map(|i| 4_990_000 + i * 20));
        let ranks = ranks_of(values.len() as u64);
        let (got, _) = find(&values, &ranks, 100);
        assert_eq!(got, oracle(&values, &ranks));
    }

    #[test]
    fn a_pass_that_sees_other_data_fails() {
        let values: Vec<u64> = (1..=1000u64).map(|i| i * 1_000).collect();
        let mut sk = LatencySketch::new();
        sk.insert_many(&values);
        for budget in [u64::MAX, 0] {
            // One value too many, then none at all.
            let mut f = RankFinder::new(&sk, &[500]);
            assign_tallies(std::iter::once(&mut f), budget);
            for &v in &values {
                f.offer(v);
            }
            f.offer(500_000);
            let err = f.resolve().unwrap_err().to_string();
            assert!(err.contains("the sketch counted"), "{err}");
            let mut g = RankFinder::new(&sk, &[500]);
            assign_tallies(std::iter::once(&mut g), budget);
            assert!(g.resolve().is_err());
        }
    }

    fn data() -> impl Strategy<Value = Vec<u64>> {
        prop_oneof![
            // Small groups, many ties.
            prop::collection::vec(prop_oneof![Just(0u64), 1u64..50, Just(1_000_000)], 1..60),
            // Large groups of spread values with ties.
            prop::collection::vec(
                prop_oneof![1u64..2_000, 1_000u64..10_000_000, Just(77_777u64)],
                1..5_000
            ),
            // Huge values near the top of the range.
            prop::collection::vec(u64::MAX - 1_000_000..=u64::MAX, 1..500),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Every value a search would tally is in a set cell, and the cells are narrow: a value
        /// 2 % away from every range (beyond a cell's width, and a sketch bucket's) is in none.
        #[test]
        fn cells_hold_every_searched_value_and_little_else(
            bounds in prop::collection::vec((1u64..u64::MAX / 4, 0u32..40), 1..8),
            probes in prop::collection::vec(any::<u64>(), 0..300),
        ) {
            let ranges: Vec<Range> = bounds
                .iter()
                .map(|&(lo, bits)| Range {
                    lo,
                    hi: lo.saturating_add((lo >> 6).min(1u64 << bits)),
                    below: 0,
                    count: 1,
                    tally: Tally::Keep(Vec::new()),
                })
                .collect();
            let finder = RankFinder { n: 1, found: vec![(1, None)], probes: probes_of(&ranges), ranges };
            let cells = RankCells::of(std::iter::once(&finder));
            let mut values = probes.clone();
            for r in &finder.ranges {
                values.extend([r.lo, r.hi, r.lo + (r.hi - r.lo) / 2]);
            }
            for v in values {
                let searched = finder.ranges.iter().any(|r| r.lo <= v && v <= r.hi);
                if searched {
                    prop_assert!(cells.holds(v), "{v} is searched but in no set cell");
                }
                let far = v > 0 && finder.ranges.iter().all(|r| {
                    (v as f64) < r.lo as f64 * 0.98 || (v as f64) > r.hi as f64 * 1.02
                });
                if far {
                    prop_assert!(!cells.holds(v), "{v} is 2 % from every range but held");
                }
            }
        }

        /// Equal to sorting, at any budget (0: bins only; large: one pass).
        #[test]
        fn equals_a_sort_based_oracle(
            values in data(),
            qs in prop::collection::vec(0.0f64..=1.0, 1..6),
            budget in prop_oneof![Just(0u64), 0u64..200, Just(u64::MAX)],
        ) {
            let n = values.len() as u64;
            let ranks: Vec<u64> = qs.iter().filter_map(|&q| nearest_rank(q, n)).collect();
            let (got, _) = find(&values, &ranks, budget);
            prop_assert_eq!(got, oracle(&values, &ranks));
        }
    }
}
