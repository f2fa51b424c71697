//! MANIFEST decoding. Mode 0: raw bytes; mode 1: the input is the body and a valid checksum is
//! appended, so the body decoder is reached. What decodes must re-encode to a manifest that
//! decodes to the same bytes again.
#![no_main]

use laptime_core::fuzzing::{manifest_round_trip, with_crc};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let bytes = if mode & 1 == 1 {
        with_crc(body)
    } else {
        body.to_vec()
    };
    if let Ok(again) = manifest_round_trip(&bytes) {
        let third = manifest_round_trip(&again).expect("a re-encoded manifest decodes");
        assert_eq!(third, again, "manifest encoding is not stable");
    }
});
