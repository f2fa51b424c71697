//! Per-function summary statistics over a snapshot: count, errors, mean, min, max and percentiles of
//! call durations, plus log counts. Whole pages inside the filter are answered from their per-name
//! sketches without decoding; pages that straddle a time bound are decoded and only their matching
//! rows counted. Percentiles therefore carry the sketch's relative error (at most 1%); count, errors,
//! min, max and mean are exact. (The query engine adds exact percentiles and richer filters.)

use std::collections::BTreeMap;

use laptime_storage::page::ColumnSet;
use laptime_storage::scan::{ScanFilter, View};
use laptime_storage::sketch::LatencySketch;
use laptime_storage::Code;
use laptime_storage::Result;

/// Summary of one function (or logger) name.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionStats {
    /// The name.
    pub name: String,
    /// Call events.
    pub calls: u64,
    /// Calls with error status.
    pub errors: u64,
    /// Log events under this name.
    pub logs: u64,
    /// Durations of the calls.
    pub durations: LatencySketch,
}

impl FunctionStats {
    /// The q-quantile of call durations in ns (q in [0, 1]), within 1% relative error.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        self.durations.quantile(q)
    }
}

/// Per-name statistics of every event passing `filter`, sorted by name.
pub fn function_stats(snapshot: &View, filter: &ScanFilter) -> Result<Vec<FunctionStats>> {
    let mut by_name: BTreeMap<String, FunctionStats> = BTreeMap::new();
    fn entry<'a>(
        map: &'a mut BTreeMap<String, FunctionStats>,
        name: &str,
    ) -> &'a mut FunctionStats {
        map.entry(name.to_owned()).or_insert_with(|| FunctionStats {
            name: name.to_owned(),
            calls: 0,
            errors: 0,
            logs: 0,
            durations: LatencySketch::new(),
        })
    }
    let wanted = |name: &str| {
        filter
            .names
            .as_ref()
            .is_none_or(|n| n.iter().any(|x| x == name))
    };
    for page in snapshot.pages(filter) {
        let meta = page.meta();
        let whole = filter.time_matches(meta.min_start) && filter.time_matches(meta.max_start);
        if whole {
            for s in &meta.names {
                let Some(name) = snapshot.name(page.partition(), s.name) else {
                    continue;
                };
                if !wanted(&name) {
                    continue;
                }
                let e = entry(&mut by_name, &name);
                e.calls += s.calls;
                e.errors += s.errors;
                e.logs += s.logs;
                e.durations.merge(&s.sketch);
            }
            continue;
        }
        let cols = match snapshot.page(&page, ColumnSet::CORE) {
            Ok(c) => c,
            Err(e) => {
                snapshot.skip_damaged(&page, e)?;
                continue;
            }
        };
        for row in 0..cols.len() {
            if !filter.time_matches(cols.starts[row]) {
                continue;
            }
            let Some(name) = snapshot.name(page.partition(), cols.names[row]) else {
                continue;
            };
            if !wanted(&name) {
                continue;
            }
            let e = entry(&mut by_name, &name);
            match Code::from_byte(cols.codes[row]) {
                Some(Code::CallOk) => {
                    e.calls += 1;
                    e.durations.insert(cols.durations[row]);
                }
                Some(Code::CallError) => {
                    e.calls += 1;
                    e.errors += 1;
                    e.durations.insert(cols.durations[row]);
                }
                _ => e.logs += 1,
            }
        }
    }
    Ok(by_name.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use laptime_storage::{Batch, Level, Options, Store};

    #[test]
    fn stats_match_a_plain_computation() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            dir.path(),
            Options {
                page_rows: 100,
                ..Options::default()
            },
        )
        .unwrap();
        let a = store.intern("A.run").unwrap();
        let b = store.intern("B.run").unwrap();
        let mut batch = Batch::default();
        let mut a_durs = Vec::new();
        for i in 0..1000u64 {
            let d = 1000 + (i * 7919) % 100_000;
            batch.push_call(a, 10_000 + i, d, i % 10 != 0);
            if (10_250..10_750).contains(&(10_000 + i)) {
                a_durs.push(d);
            }
            batch.push_log(b, 10_000 + i, Level::Info, "x");
        }
        store.append(batch);
        store.flush().unwrap();
        let snap = store.view().unwrap();
        let filter = ScanFilter {
            since: Some(10_250),
            until: Some(10_750),
            names: None,
        };
        let stats = function_stats(&snap, &filter).unwrap();
        assert_eq!(stats.len(), 2);
        let sa = &stats[0];
        assert_eq!(sa.name, "A.run");
        assert_eq!(sa.calls, 500);
        assert_eq!(sa.errors, 50);
        assert_eq!(stats[1].logs, 500);
        a_durs.sort_unstable();
        assert_eq!(sa.durations.min(), a_durs.first().copied());
        assert_eq!(sa.durations.max(), a_durs.last().copied());
        let exact = a_durs[(0.99f64 * 500.0).ceil() as usize - 1] as f64;
        let got = sa.quantile(0.99).unwrap() as f64;
        assert!((got - exact).abs() / exact <= 0.01, "{got} vs {exact}");
        store.close().unwrap();
    }
}
