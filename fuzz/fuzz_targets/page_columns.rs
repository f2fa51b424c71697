//! The column section of a page, on raw bytes with its checksum out of the way, for any row count
//! and any choice of columns. Every decoded column must have exactly the page's rows.
#![no_main]

use laptime_core::fuzzing::decode_columns_unchecked;
use laptime_core::{ColumnSet, FieldKeys};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [r0, r1, sel, bytes @ ..] = data else {
        return;
    };
    let rows = usize::from(u16::from_le_bytes([*r0, *r1]));
    let bit = |i: u8| sel & (1 << i) != 0;
    let which = ColumnSet {
        starts: bit(0),
        names: bit(1),
        durations: bit(2),
        codes: bit(3),
        messages: bit(4),
        // Every key, none, or one key (the low bits of the row count name it).
        fields: match (bit(5), bit(6)) {
            (true, _) => FieldKeys::ALL,
            (false, true) => FieldKeys::NONE.with(u32::from(*r0 & 7)),
            (false, false) => FieldKeys::NONE,
        },
    };
    let Ok(c) = decode_columns_unchecked(bytes, rows, which) else {
        return;
    };
    if which.starts {
        assert_eq!(c.starts.len(), rows);
    }
    if which.names || which.durations {
        assert_eq!(c.names.len(), rows);
    }
    if which.durations {
        assert_eq!(c.durations.len(), rows);
    }
    if which.codes {
        assert_eq!(c.codes.len(), rows);
    }
    assert_eq!(c.message_rows.len(), c.messages.len());
    assert!(c.message_rows.iter().all(|&r| (r as usize) < rows));
    for f in &c.fields {
        assert!(which.fields.wants(f.key), "only the keys asked for");
        assert_eq!(f.rows.len(), f.values.len());
        assert!(f.rows.iter().all(|&r| (r as usize) < rows));
    }
});
