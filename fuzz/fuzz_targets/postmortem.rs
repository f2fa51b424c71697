//! Post-mortem snapshot files. Mode 0: raw file bytes. Mode 1: the input is the payload, wrapped in
//! a valid header (compressed, checksummed), so the payload decoder is reached. A decoded snapshot
//! must encode and decode to the same bytes again.
#![no_main]

use laptime_core::fuzzing::postmortem_file;
use laptime_core::postmortem::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = if mode & 1 == 1 {
        postmortem_file(rest)
    } else {
        rest.to_vec()
    };
    if let Ok(pm) = decode(&bytes) {
        let again = encode(&pm);
        let back = decode(&again).expect("a re-encoded snapshot decodes");
        assert_eq!(encode(&back), again, "snapshot changed on round trip");
    }
});
