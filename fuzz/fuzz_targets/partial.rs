//! Partial query results (`Partial::from_bytes`): raw input (first byte even), or the rest of the
//! input wrapped as a body with a valid header and checksum (first byte odd), so the fuzzer reaches
//! the body's checks. Whatever decodes must encode to bytes that read back as themselves, and
//! merge with itself and finish without panicking.
#![no_main]

use laptime_core::query::{Partial, PARTIAL_MAGIC, PARTIAL_VERSION};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let mut b = PARTIAL_MAGIC.to_vec();
        b.push(PARTIAL_VERSION);
        b.extend_from_slice(&(rest.len() as u32).to_le_bytes());
        b.extend_from_slice(rest);
        let crc = crc32c::crc32c(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    };
    let Ok(p) = Partial::from_bytes(&bytes) else {
        return;
    };
    let again = p.to_bytes();
    let back = Partial::from_bytes(&again).expect("re-encoded bytes decode");
    assert_eq!(back.to_bytes(), again, "re-encoding is not stable");
    let mut twice = p.clone();
    twice
        .merge(p.clone())
        .expect("a partial merges with itself");
    if let Ok(q) = p.query() {
        twice.finish(&q).expect("a decoded partial finishes");
    }
});
