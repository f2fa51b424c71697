//! Page meta (zone map, per-name sketches, value index with numeric ranges) and the latency sketch, on raw bytes with
//! the meta checksum out of the way. An accepted meta must be internally consistent, and reading
//! it with the sketches deferred must accept the same bytes once the sketches are decoded.
#![no_main]

use laptime_core::fuzzing::{decode_meta_deferred_unchecked, decode_meta_unchecked};
use laptime_core::{KeyValues, MAX_LISTED_VALUES};
use laptime_core::sketch::LatencySketch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let eager = decode_meta_unchecked(data);
    let deferred = decode_meta_deferred_unchecked(data).and_then(|m| {
        m.with_sketches().map(|d| d.into_owned())
    });
    assert_eq!(eager.is_ok(), deferred.is_ok(), "deferred decoding accepts other bytes");
    if let (Ok(a), Ok(b)) = (&eager, &deferred) {
        assert!(a == b, "deferred decoding reads another meta");
    }
    if let Ok(m) = eager {
        let total: u64 = m.names.iter().map(|n| n.calls + n.logs).sum();
        assert_eq!(total, u64::from(m.rows), "name counts do not add up");
        assert!(m.max_start >= m.min_start);
        assert!(m.names.windows(2).all(|w| w[0].name < w[1].name));
        assert!(m.index.keys.windows(2).all(|w| w[0] < w[1]));
        for n in &m.names {
            assert!(n.errors <= n.calls);
            let sketch = n.sketch().expect("an eagerly decoded meta holds its sketches");
            assert_eq!(sketch.count(), n.calls);
            assert_eq!(sketch.zero_count(), n.zero_calls);
            assert_eq!(sketch.sum(), n.sum);
            assert_eq!(sketch.min().unwrap_or(0), n.min);
            assert_eq!(sketch.max().unwrap_or(0), n.max);
        }
        assert_eq!(m.index.values.len(), m.index.keys.len(), "one index entry per key");
        for entry in &m.index.values {
            match entry {
                KeyValues::Listed { values: list, .. } => {
                    assert!(!list.is_empty() && list.len() <= MAX_LISTED_VALUES);
                    assert!(list.windows(2).all(|w| w[0].value < w[1].value));
                    let events: u64 = list.iter().map(|v| v.calls + v.logs).sum();
                    assert!(events <= m.rows, "listed values count more events than rows");
                    assert!(list.iter().all(|v| v.errors <= v.calls));
                    // A value's sketch is handed out only when it holds exactly its calls.
                    for v in list {
                        if let Some(s) = v.sketch() {
                            assert_eq!(s.count(), v.calls);
                        }
                    }
                }
                KeyValues::IntRange { min, max } => assert!(min <= max, "reversed range"),
                // Also fails for a NaN at either end.
                KeyValues::FloatRange { min, max } => assert!(min <= max, "reversed or NaN range"),
                // No false negatives is the filter's promise; a decoded one answers without panicking.
                KeyValues::Filtered(f) => {
                    let _ = f.may_contain(0x5eed);
                }
                KeyValues::Unlisted => {}
            }
        }
    }
    if let Ok((s, used)) = LatencySketch::decode(data) {
        assert!(used <= data.len());
        let mut again = Vec::new();
        s.encode(&mut again);
        let (t, n) = LatencySketch::decode(&again).expect("re-encoded sketch decodes");
        assert_eq!(n, again.len());
        assert_eq!(t.count(), s.count());
    }
});
