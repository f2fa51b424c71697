//! Per-group running state: fed whole pages' name summaries or single rows, merged across worker
//! threads, finished into [`AggValue`]s.

use std::sync::Arc;

use crate::analysis::{RangeSummary, RankedValues};
use laptime_storage::page::{MetaSketch, NameStats, PageMeta};
use laptime_storage::sketch::{nearest_rank, LatencySketch, SketchSum};

use super::ranks::RankFinder;
use super::{AggValue, Aggregate};

/// What the accumulators must keep, decided once per query.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Needs {
    /// Keep every duration (exact percentiles).
    pub values: bool,
    /// Keep a sketch (approximate percentiles).
    pub sketch: bool,
    /// Keep Welford state (stddev).
    pub moments: bool,
    /// Keep the durations' sum, min and max. Without it they stay 0 whatever the pages offer, so
    /// the state (and a partial's bytes) does not depend on which columns happened to be decoded.
    pub durations: bool,
}

impl Needs {
    pub(crate) fn of(aggregates: &[Aggregate], exact: bool) -> Needs {
        let pct = aggregates
            .iter()
            .any(|a| matches!(a, Aggregate::Percentile(_)));
        Needs {
            values: pct && exact,
            sketch: pct && !exact,
            moments: aggregates.contains(&Aggregate::Stddev),
            durations: aggregates.iter().any(Aggregate::uses_durations),
        }
    }
}

/// The fields are the mergeable state a partial result carries (see `partial.rs`).
#[derive(Debug, Clone)]
pub(crate) struct Acc {
    pub(super) events: u64,
    pub(super) calls: u64,
    pub(super) errors: u64,
    pub(super) sum: u128,
    pub(super) min: u64,
    pub(super) max: u64,
    /// Welford: mean and sum of squared deviations of the calls' durations, the mean taken of
    /// `duration - shift`. Shifting by the first duration seen keeps the deviations exact in
    /// `f64` when durations share a large offset (calls of ~2^50 ns that differ by hundreds):
    /// without it the rounding of the mean alone costs ~1e-4 of the standard deviation.
    pub(super) shift: u64,
    pub(super) mean: f64,
    pub(super) m2: f64,
    pub(super) values: Vec<u64>,
    pub(super) keeps_values: bool,
    /// Exact percentiles without `values`: only durations near the wanted ranks are tallied
    /// (see `ranks.rs`); set by the engine for a query on one view.
    pub(super) ranks: Option<RankFinder>,
    pub(super) sketch: Option<SketchSum<MetaSketch>>,
    keeps_durations: bool,
}

impl Acc {
    pub(crate) fn new(needs: Needs) -> Acc {
        Acc {
            events: 0,
            calls: 0,
            errors: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
            shift: 0,
            mean: 0.0,
            m2: 0.0,
            values: Vec::new(),
            keeps_values: needs.values,
            ranks: None,
            sketch: needs.sketch.then(SketchSum::new),
            keeps_durations: needs.durations,
        }
    }

    /// A log event.
    #[inline]
    pub(crate) fn add_log(&mut self) {
        self.events += 1;
    }

    /// A call event.
    #[inline]
    pub(crate) fn add_call(&mut self, duration: u64, error: bool, needs: Needs) {
        let duration = if needs.durations { duration } else { 0 };
        self.events += 1;
        self.calls += 1;
        self.errors += u64::from(error);
        self.sum += u128::from(duration);
        self.min = self.min.min(duration);
        self.max = self.max.max(duration);
        if needs.moments {
            if self.calls == 1 {
                self.shift = duration;
            }
            let x = (i128::from(duration) - i128::from(self.shift)) as f64;
            let delta = x - self.mean;
            self.mean += delta / self.calls as f64;
            self.m2 += delta * (x - self.mean);
        }
        if needs.values {
            self.push_value(duration);
        }
        if let Some(s) = &mut self.sketch {
            s.insert(duration);
        }
    }

    /// Room for `n` more kept durations (exact percentiles), so pushing never reallocates.
    pub(crate) fn reserve_values(&mut self, n: u64) {
        if self.keeps_values && self.ranks.is_none() {
            self.values.reserve(usize::try_from(n).unwrap_or(0));
        }
    }

    /// One duration whose call is already counted (by [`Acc::add_summary`]).
    #[inline]
    pub(crate) fn push_value(&mut self, duration: u64) {
        match &mut self.ranks {
            Some(r) => r.offer(duration),
            None => self.values.push(duration),
        }
    }

    /// A whole page's events of one name: `part` says which of its calls (all, or for count-only
    /// queries only the ok or only the failed ones) and whether its logs are included. `sketch`
    /// is the name's decoded sketch, needed when the accumulator keeps one.
    pub(crate) fn add_summary(
        &mut self,
        s: &NameStats,
        part: SummaryPart,
        sketch: SummarySketch<'_>,
    ) {
        let logs = if part.logs { s.logs } else { 0 };
        let (calls, errors) = match part.calls {
            CallPart::None => (0, 0),
            CallPart::All => (s.calls, s.errors),
            CallPart::OnlyOk => (s.calls - s.errors, 0),
            CallPart::OnlyErrors => (s.errors, s.errors),
        };
        self.add_counts(calls, errors, logs);
        if self.keeps_durations && part.calls == CallPart::All && s.calls > 0 {
            // Sum, min and max of a meta are exact.
            self.sum += s.sum;
            self.min = self.min.min(s.min);
            self.max = self.max.max(s.max);
            if let Some(sk) = &mut self.sketch {
                match sketch {
                    SummarySketch::InMeta(meta, at) => {
                        let theirs = MetaSketch::of(meta, at);
                        // The planner decodes the sketches a query keeps (execute.rs).
                        debug_assert!(theirs.is_some(), "a kept sketch was not decoded");
                        if let Some(theirs) = theirs {
                            sk.add_shared(theirs);
                        }
                    }
                    SummarySketch::Apart(theirs) => sk.add(theirs),
                }
            }
        }
    }

    /// The durations of calls already counted (by [`Acc::add_counts`]), all in `sketch`: a
    /// listed value's calls from the value index. Its sum, min and max are exact.
    pub(crate) fn add_durations(&mut self, sketch: &LatencySketch) {
        if !self.keeps_durations || sketch.is_empty() {
            return;
        }
        self.sum += sketch.sum();
        self.min = self.min.min(sketch.min().unwrap_or(u64::MAX));
        self.max = self.max.max(sketch.max().unwrap_or(0));
        if let Some(sk) = &mut self.sketch {
            sk.add(sketch);
        }
    }

    /// Events known by their counts alone. Durations are not among them: for an accumulator
    /// that keeps durations, the caller adds them (or the query cannot be answered so).
    pub(crate) fn add_counts(&mut self, calls: u64, errors: u64, logs: u64) {
        self.events += calls + logs;
        self.calls += calls;
        self.errors += errors;
        // Canonical state without durations: 0 for sum, min and max once calls are counted.
        if !self.keeps_durations && calls > 0 {
            self.min = 0;
        }
    }

    /// Saturating, since partial results from elsewhere may carry any counts.
    pub(crate) fn merge(&mut self, other: Acc) {
        let n = self.calls.saturating_add(other.calls);
        if n > 0 && other.calls > 0 {
            // Chan et al.'s pairwise update of Welford state, with `other`'s mean moved to
            // this accumulator's shift (an empty one takes the other's).
            if self.calls == 0 {
                self.shift = other.shift;
            }
            let other_mean = other.mean + (i128::from(other.shift) - i128::from(self.shift)) as f64;
            let delta = other_mean - self.mean;
            let (na, nb) = (self.calls as f64, other.calls as f64);
            self.m2 += other.m2 + delta * delta * na * nb / n as f64;
            self.mean += delta * nb / n as f64;
        }
        self.events = self.events.saturating_add(other.events);
        self.calls = n;
        self.errors = self.errors.saturating_add(other.errors);
        self.sum = self.sum.saturating_add(other.sum);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        if self.values.is_empty() {
            self.values = other.values;
        } else {
            self.values.extend_from_slice(&other.values);
        }
        if let (Some(a), Some(b)) = (&mut self.sketch, other.sketch) {
            a.merge(b);
        }
        match (&mut self.ranks, other.ranks) {
            (Some(a), Some(b)) => a.merge(b),
            (a @ None, b) => *a = b,
            (Some(_), None) => {}
        }
    }

    pub(crate) fn events(&self) -> u64 {
        self.events
    }

    /// The final values, in the order of `aggregates`; rates divide by `span_seconds`. Consumes
    /// the kept durations.
    pub(crate) fn finish(
        &mut self,
        aggregates: &[Aggregate],
        span_seconds: Option<f64>,
    ) -> Vec<AggValue> {
        let quantiles = self.quantiles(aggregates);
        let calls = self.calls;
        let some = |v: AggValue| if calls == 0 { AggValue::None } else { v };
        aggregates
            .iter()
            .zip(quantiles)
            .map(|(a, q)| match a {
                Aggregate::Count => AggValue::Count(self.events),
                Aggregate::Calls => AggValue::Count(self.calls),
                Aggregate::Logs => AggValue::Count(self.events - self.calls),
                Aggregate::Rate => {
                    span_seconds.map_or(AggValue::None, |s| AggValue::Float(self.calls as f64 / s))
                }
                Aggregate::Errors => AggValue::Count(self.errors),
                Aggregate::ErrorRate => some(AggValue::Float(self.errors as f64 / calls as f64)),
                Aggregate::Sum => AggValue::Sum(self.sum),
                Aggregate::Mean => some(AggValue::Float(self.sum as f64 / calls as f64)),
                Aggregate::Min => some(AggValue::Nanos(self.min)),
                Aggregate::Max => some(AggValue::Nanos(self.max)),
                Aggregate::Stddev if calls >= 2 => {
                    AggValue::Float((self.m2 / (calls - 1) as f64).max(0.0).sqrt())
                }
                Aggregate::Stddev => AggValue::None,
                Aggregate::Percentile(_) => q.map_or(AggValue::None, AggValue::Nanos),
            })
            .collect()
    }

    /// Percentile answers (None for other aggregates), from the kept values or the sketch.
    fn quantiles(&mut self, aggregates: &[Aggregate]) -> Vec<Option<u64>> {
        let qs: Vec<Option<f64>> = aggregates
            .iter()
            .map(|a| match a {
                Aggregate::Percentile(q) => Some(*q),
                _ => None,
            })
            .collect();
        if let Some(sketch) = &self.sketch {
            // All of them in one pass over the buckets.
            let asked: Vec<f64> = qs.iter().flatten().copied().collect();
            let mut answers = sketch.quantiles(&asked).into_iter();
            return qs
                .iter()
                .map(|q| q.and_then(|_| answers.next().flatten()))
                .collect();
        }
        if let Some(r) = &self.ranks {
            return qs
                .iter()
                .map(|q| {
                    q.and_then(|q| nearest_rank(q, self.calls))
                        .and_then(|k| r.value_at(k))
                })
                .collect();
        }
        let n = self.values.len() as u64;
        // Ranks ascending, each selected in the part of the slice right of the previous one.
        let mut wanted: Vec<(u64, usize)> = qs
            .iter()
            .enumerate()
            .filter_map(|(i, q)| q.and_then(|q| nearest_rank(q, n)).map(|r| (r - 1, i)))
            .collect();
        wanted.sort_unstable();
        let mut out = vec![None; qs.len()];
        let mut lo = 0usize;
        let mut last: Option<(u64, u64)> = None;
        for (idx, pos) in wanted {
            if let Some((prev_idx, v)) = last {
                if prev_idx == idx {
                    out[pos] = Some(v);
                    continue;
                }
            }
            let idx_us = idx as usize;
            let slice = &mut self.values[lo..];
            let (_, v, _) = slice.select_nth_unstable(idx_us - lo);
            let v = *v;
            out[pos] = Some(v);
            last = Some((idx, v));
            lo = idx_us + 1;
        }
        out
    }
}

impl Acc {
    /// Calls, errors and durations, for judging a change between two ranges.
    pub(crate) fn into_summary(self) -> RangeSummary<Durations> {
        let durations = match self.sketch {
            Some(s) => Durations::Sketch(s.into_sketch()),
            None => {
                let mut v = self.values;
                v.sort_unstable();
                Durations::Sorted(v)
            }
        };
        RangeSummary {
            calls: self.calls,
            errors: self.errors,
            durations,
        }
    }
}

/// The durations an accumulator kept: a sketch (within 1%) or every value, sorted.
#[derive(Debug, Clone)]
pub(crate) enum Durations {
    Sketch(LatencySketch),
    Sorted(Vec<u64>),
}

impl Durations {
    pub(crate) fn empty() -> Durations {
        Durations::Sorted(Vec::new())
    }
}

impl RankedValues for Durations {
    fn count(&self) -> u64 {
        match self {
            Durations::Sketch(s) => RankedValues::count(s),
            Durations::Sorted(v) => RankedValues::count(v),
        }
    }

    fn at_rank(&self, rank: u64) -> Option<u64> {
        match self {
            Durations::Sketch(s) => s.at_rank(rank),
            Durations::Sorted(v) => v.at_rank(rank),
        }
    }
}

/// Where the sketch of a name's summary is.
pub(crate) enum SummarySketch<'a> {
    /// In the meta, decoded, at this index of its names: kept by reference.
    InMeta(&'a Arc<PageMeta>, usize),
    /// Decoded apart from the meta.
    Apart(&'a LatencySketch),
}

/// Which rows of a page's name summary a query takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SummaryPart {
    pub calls: CallPart,
    pub logs: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallPart {
    None,
    All,
    OnlyOk,
    OnlyErrors,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_quantiles_select_nearest_ranks_in_any_order() {
        let aggs = [
            Aggregate::Percentile(0.99),
            Aggregate::Percentile(0.5),
            Aggregate::Percentile(0.5),
            Aggregate::Percentile(1.0),
            Aggregate::Percentile(0.01),
        ];
        let needs = Needs::of(&aggs, true);
        let mut acc = Acc::new(needs);
        let mut vals: Vec<u64> = (1..=1000u64).map(|i| (i * 7919) % 1009 + 1).collect();
        for &v in &vals {
            acc.add_call(v, false, needs);
        }
        vals.sort_unstable();
        let got = acc.finish(&aggs, None);
        let want: Vec<AggValue> = [0.99, 0.5, 0.5, 1.0, 0.01]
            .iter()
            .map(|&q| AggValue::Nanos(vals[(nearest_rank(q, 1000).unwrap() - 1) as usize]))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn stddev_is_accurate_for_durations_with_a_large_common_offset() {
        let needs = Needs::of(&[Aggregate::Stddev], false);
        let ds: Vec<u64> = (0..500u64).map(|i| (1 << 50) + (i * 7919) % 1000).collect();
        // n Σx² - (Σx)² in exact integers.
        let n = ds.len() as u128;
        let sum: u128 = ds.iter().map(|&d| u128::from(d)).sum();
        let sq: u128 = ds.iter().map(|&d| u128::from(d) * u128::from(d)).sum();
        let want = (((n * sq - sum * sum) as f64) / (n * (n - 1)) as f64).sqrt();
        let (mut whole, mut a, mut b) = (Acc::new(needs), Acc::new(needs), Acc::new(needs));
        for (i, &d) in ds.iter().enumerate() {
            whole.add_call(d, false, needs);
            if i % 3 == 0 { &mut a } else { &mut b }.add_call(d, false, needs);
        }
        a.merge(b);
        for acc in [&mut whole, &mut a] {
            let got = acc.finish(&[Aggregate::Stddev], None)[0].as_f64().unwrap();
            assert!((got - want).abs() / want < 1e-9, "{got} vs {want}");
        }
    }

    #[test]
    fn welford_merge_equals_one_pass() {
        let needs = Needs::of(&[Aggregate::Stddev], false);
        let mut whole = Acc::new(needs);
        let mut a = Acc::new(needs);
        let mut b = Acc::new(needs);
        for i in 0..1000u64 {
            let d = 1_000_000 + (i * 104_729) % 50_000;
            whole.add_call(d, false, needs);
            if i % 3 == 0 { &mut a } else { &mut b }.add_call(d, false, needs);
        }
        a.merge(b);
        let (x, y) = (
            whole.finish(&[Aggregate::Stddev], None)[0]
                .as_f64()
                .unwrap(),
            a.finish(&[Aggregate::Stddev], None)[0].as_f64().unwrap(),
        );
        assert!((x - y).abs() / x < 1e-9, "{x} vs {y}");
    }
}
