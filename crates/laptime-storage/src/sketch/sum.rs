//! Quantiles over the buckets of one sketch or of several added up, and [`SketchSum`], which adds
//! sketches up only when it has to.

use std::borrow::Cow;
use std::ops::Deref;

use super::buckets::bucket_value;
use super::{nearest_rank, LatencySketch};

/// Sketches kept by reference before they are added into one.
const SHARED: usize = 3;

/// What a quantile needs besides the buckets: the number of values, of zeros, and the range.
#[derive(Debug, Clone, Copy)]
pub(super) struct Totals {
    pub(super) count: u64,
    pub(super) zero: u64,
    /// `u64::MAX` while empty.
    pub(super) min: u64,
    /// `0` while empty.
    pub(super) max: u64,
}

impl Totals {
    fn add(self, other: Totals) -> Totals {
        Totals {
            count: self.count.saturating_add(other.count),
            zero: self.zero.saturating_add(other.zero),
            min: self.min.min(other.min),
            max: self.max.max(other.max),
        }
    }

    /// The value at `rank` when it is known exactly: the minimum, the maximum, or a zero.
    pub(super) fn exact_at_rank(&self, rank: u64) -> Option<u64> {
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
    pub(super) fn answer(&self, index: usize) -> u64 {
        bucket_value(index).max(self.min).min(self.max)
    }
}

/// [`LatencySketch::quantiles`] of the values `totals` describes, whose non-zero values are
/// counted by `buckets` (bucket index and count, ascending), in one pass from each end: ranks in
/// the lower half from the lowest bucket up, the others (p90, p99) from the highest down, where
/// they are a few buckets away.
pub(super) fn quantiles_of_buckets<I>(totals: &Totals, buckets: I, qs: &[f64]) -> Vec<Option<u64>>
where
    I: DoubleEndedIterator<Item = (usize, u64)> + Clone,
{
    let mut out = vec![None; qs.len()];
    // (rank, position in qs) of the queries that need the buckets.
    let mut low: Vec<(u64, usize)> = Vec::new();
    let mut high: Vec<(u64, usize)> = Vec::new();
    for (pos, &q) in qs.iter().enumerate() {
        if let Some(rank) = nearest_rank(q, totals.count) {
            match totals.exact_at_rank(rank) {
                Some(v) => out[pos] = Some(v),
                None if rank <= totals.count / 2 => low.push((rank, pos)),
                None => high.push((rank, pos)),
            }
        }
    }
    // Upward, the values at or below bucket `i`: rank r is in the first bucket where they
    // reach r.
    low.sort_unstable();
    let upward = buckets.clone();
    let rest = answer_in_turn(
        upward,
        &low,
        totals.zero,
        |seen, r| seen >= r,
        totals,
        &mut out,
    );
    for &(_, pos) in rest {
        out[pos] = Some(totals.max);
    }
    // Downward, the values above bucket `i`; rank r is in bucket i once the values from `i` up
    // outnumber the `count - r` above it. (`count` is the sum of the buckets and the zeros, as
    // inserts, merges and the decoder keep it.)
    high.sort_unstable_by(|a, b| b.cmp(a));
    let count = totals.count;
    let reached = |above: u64, r: u64| above > count - r;
    let rest = answer_in_turn(buckets.rev(), &high, 0, reached, totals, &mut out);
    for &(_, pos) in rest {
        out[pos] = Some(totals.min);
    }
    out
}

/// Walks `buckets`, adding their counts to a tally that starts at `start`, and answers each of
/// `wanted` (rank, position in `out`; in the walk's order) with the first bucket where
/// `reached(tally, rank)`. Returns those never reached.
fn answer_in_turn<'a>(
    buckets: impl Iterator<Item = (usize, u64)>,
    wanted: &'a [(u64, usize)],
    start: u64,
    reached: impl Fn(u64, u64) -> bool,
    totals: &Totals,
    out: &mut [Option<u64>],
) -> &'a [(u64, usize)] {
    let mut next = 0;
    let mut tally = start;
    for (i, c) in buckets {
        if next == wanted.len() {
            break;
        }
        tally = tally.saturating_add(c);
        while let Some(&(_, pos)) = wanted.get(next).filter(|&&(r, _)| reached(tally, r)) {
            out[pos] = Some(totals.answer(i));
            next += 1;
        }
    }
    wanted.get(next..).unwrap_or_default()
}

/// Sketches added up, lazily. Sketches held elsewhere (`S`: a reference-counted handle, such as
/// a name's sketch in a shared page meta) are kept as handles while they are few: a query's group
/// fed by one or two of them (a segment's, answered from its summary) then neither copies nor
/// adds their bucket arrays, and its quantiles read the few buckets they need from all of them at
/// once. Values and borrowed sketches go into a sketch of its own, and so do the handles' once
/// there are more than a few.
#[derive(Debug, Clone)]
pub struct SketchSum<S> {
    own: LatencySketch,
    shared: [Option<S>; SHARED],
}

impl<S> Default for SketchSum<S> {
    fn default() -> Self {
        SketchSum {
            own: LatencySketch::new(),
            shared: std::array::from_fn(|_| None),
        }
    }
}

impl<S: Deref<Target = LatencySketch>> SketchSum<S> {
    /// An empty sum. Does not allocate.
    pub fn new() -> SketchSum<S> {
        SketchSum::default()
    }

    /// Record one duration in nanoseconds.
    #[inline]
    pub fn insert(&mut self, v: u64) {
        self.own.insert(v);
    }

    /// Add `sketch`'s values (copied into the sum's own buckets).
    pub fn add(&mut self, sketch: &LatencySketch) {
        self.own.merge(sketch);
    }

    /// Add the values of the sketch `sketch` holds, keeping the handle while the sum holds few.
    pub fn add_shared(&mut self, sketch: S) {
        if sketch.is_empty() {
            return;
        }
        if let Some(free) = self.shared.iter_mut().find(|s| s.is_none()) {
            *free = Some(sketch);
            return;
        }
        self.fold();
        self.shared[0] = Some(sketch);
    }

    /// Add another sum's values.
    pub fn merge(&mut self, other: SketchSum<S>) {
        self.own.merge_owned(other.own);
        for s in other.shared.into_iter().flatten() {
            self.add_shared(s);
        }
    }

    /// Number of values added.
    pub fn count(&self) -> u64 {
        self.parts().fold(0, |n, s| n.saturating_add(s.count()))
    }

    /// Whether no value was added.
    pub fn is_empty(&self) -> bool {
        self.parts().all(LatencySketch::is_empty)
    }

    /// [`LatencySketch::quantiles`] of every value added.
    pub fn quantiles(&self, qs: &[f64]) -> Vec<Option<u64>> {
        let mut parts: [&LatencySketch; SHARED + 1] = [&self.own; SHARED + 1];
        let mut n = 0;
        for s in self.parts().filter(|s| !s.is_empty()) {
            parts[n] = s;
            n += 1;
        }
        let parts = &parts[..n];
        match parts {
            [] => vec![None; qs.len()],
            [one] => one.quantiles(qs),
            _ => {
                let totals = parts
                    .iter()
                    .fold(LatencySketch::new().totals(), |t, s| t.add(s.totals()));
                let (lo, hi) = parts
                    .iter()
                    .filter_map(|s| s.trimmed())
                    .map(|(first, c)| (first, first + c.len()))
                    .reduce(|(lo, hi), (a, b)| (lo.min(a), hi.max(b)))
                    .unwrap_or((0, 0));
                let buckets = (lo..hi).map(|i| {
                    let c = parts
                        .iter()
                        .fold(0u64, |c, s| c.saturating_add(s.count_at(i)));
                    (i, c)
                });
                quantiles_of_buckets(&totals, buckets, qs)
            }
        }
    }

    /// Every value added, in one sketch.
    pub fn into_sketch(self) -> LatencySketch {
        self.to_sketch().into_owned()
    }

    /// Every value added, in one sketch: borrowed when one part holds them all.
    pub fn to_sketch(&self) -> Cow<'_, LatencySketch> {
        let mut parts = self.parts().filter(|s| !s.is_empty());
        match (parts.next(), parts.next()) {
            (None, _) => Cow::Borrowed(&self.own),
            (Some(one), None) => Cow::Borrowed(one),
            _ => {
                let mut all = self.own.clone();
                for s in self.shared.iter().flatten() {
                    all.merge(s);
                }
                Cow::Owned(all)
            }
        }
    }

    /// Add the shared sketches into the sum's own.
    fn fold(&mut self) {
        for s in self.shared.iter_mut().filter_map(Option::take) {
            self.own.merge(&s);
        }
    }

    fn parts(&self) -> impl Iterator<Item = &LatencySketch> {
        std::iter::once(&self.own).chain(self.shared.iter().flatten().map(|s| &**s))
    }
}

impl<S> From<LatencySketch> for SketchSum<S> {
    fn from(own: LatencySketch) -> SketchSum<S> {
        SketchSum {
            own,
            ..SketchSum::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Arc;

    fn sketch_of(values: &[u64]) -> LatencySketch {
        let mut s = LatencySketch::new();
        s.insert_many(values);
        s
    }

    const QS: [f64; 8] = [0.0, 0.01, 0.25, 0.5, 0.5001, 0.9, 0.99, 1.0];

    fn value() -> impl Strategy<Value = u64> {
        prop_oneof![Just(0u64), 1u64..2_000, 1_000u64..50_000_000, any::<u64>()]
    }

    /// Often none: a sum fed only shared sketches is the common case.
    fn values() -> impl Strategy<Value = Vec<u64>> {
        prop_oneof![Just(Vec::new()), prop::collection::vec(value(), 1..40)]
    }

    proptest! {
        /// However the values arrive (inserted, added, shared, merged from another sum, more
        /// shared sketches than are kept by reference), the sum answers as one sketch of them all.
        #[test]
        fn a_sum_answers_as_the_sketch_of_all_its_values(
            inserted in values(),
            added in values(),
            shared in prop::collection::vec(prop::collection::vec(value(), 0..40), 0..7),
            split in 0usize..8,
        ) {
            let mut all = sketch_of(&inserted);
            all.merge(&sketch_of(&added));
            let mut sum: SketchSum<Arc<LatencySketch>> = SketchSum::new();
            inserted.iter().for_each(|&v| sum.insert(v));
            sum.add(&sketch_of(&added));
            let mut other: SketchSum<Arc<LatencySketch>> = SketchSum::new();
            for (i, values) in shared.iter().enumerate() {
                let s = Arc::new(sketch_of(values));
                all.merge(&s);
                if i < split { sum.add_shared(s) } else { other.add_shared(s) }
            }
            sum.merge(other);
            prop_assert_eq!(sum.count(), all.count());
            prop_assert_eq!(sum.is_empty(), all.is_empty());
            prop_assert_eq!(sum.quantiles(&QS), all.quantiles(&QS));
            prop_assert_eq!(sum.into_sketch(), all);
        }
    }
}
