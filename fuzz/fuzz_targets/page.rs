//! Structure-aware: a valid page is built from the input's events, then bytes are flipped anywhere
//! (header, meta, columns) and all three checksums recomputed, so the decoders behind them see the
//! damage. Unmutated, the page must decode to exactly what was encoded.
#![no_main]

#[path = "common.rs"]
mod common;

use laptime_core::fuzzing::{batch_from_bytes, columns_of, decode_page, encode_page, reseal_page};
use laptime_core::ColumnSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (events, edits) = common::split2(data);
    let batch = batch_from_bytes(events);
    let mut cols = columns_of(&batch);
    let (mut bytes, meta) = encode_page(&mut cols, 7);
    let (changed, _) = common::apply_edits(&mut bytes, edits);
    reseal_page(&mut bytes);
    let got = decode_page(&bytes, ColumnSet::ALL);
    if changed == 0 {
        let (m, c) = got.expect("a freshly encoded page decodes");
        assert!(m == meta, "meta differs after round trip");
        assert!(c == cols, "columns differ after round trip");
    } else if let Ok((m, c)) = got {
        let rows = m.rows as usize;
        assert_eq!(c.starts.len(), rows);
        assert_eq!(c.names.len(), rows);
        assert_eq!(c.durations.len(), rows);
        assert_eq!(c.codes.len(), rows);
    }
    // The core-only decode must agree with the full one on acceptance of the core columns.
    let _ = decode_page(&bytes, ColumnSet::CORE);
});
