//! Shipped messages (`ship::decode_message`, what an indexer reads from Kafka). Mode 0: raw bytes.
//! Mode 1: a valid message of a batch built from the input, cut into pages of 1 to 16 events, then
//! bytes flipped where the input says and the envelope checksum recomputed, so the pages' own
//! checks are what must catch the damage. Unflipped, it must decode to every event. Whatever
//! decodes has consecutive pages whose events map into a fresh dictionary as whole batches.
#![no_main]

#[path = "common.rs"]
mod common;

use laptime_core::fuzzing::batch_from_bytes;
use laptime_core::ship::{decode_message, encode_batch_message};
use laptime_core::Dictionary;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [mode, page_rows, rest @ ..] = data else {
        return;
    };
    let mut expected_rows = None;
    let bytes = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let (batch_bytes, flips) = common::split2(rest);
        let batch = batch_from_bytes(batch_bytes);
        let names: Vec<String> = (0..8).map(|i| format!("n{i}")).collect();
        let mut out = Vec::new();
        let rows = usize::from(page_rows % 16) + 1;
        if encode_batch_message("src", u64::from(*mode) << 8, &names, &batch, rows, &mut out)
            .is_err()
        {
            assert!(batch.is_empty(), "a batch of known ids encodes");
            return;
        }
        let body = out.len() - 4;
        for f in flips.chunks_exact(3) {
            let at = usize::from(u16::from_le_bytes([f[0], f[1]])) % body;
            out[at] ^= f[2];
        }
        if flips.chunks_exact(3).all(|f| f[2] == 0) {
            expected_rows = Some(batch.len());
        }
        out.truncate(body);
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    };
    let decoded = decode_message(&bytes);
    if let Some(rows) = expected_rows {
        let msg = decoded.as_ref().expect("an undamaged message decodes");
        assert_eq!(msg.rows(), rows as u64);
    }
    let Ok(msg) = decoded else {
        return;
    };
    let mut end = None;
    for p in &msg.pages {
        if let Some(e) = end {
            assert_eq!(p.meta.first_seq, e, "pages not consecutive");
        }
        end = Some(p.meta.end_seq());
        let dict = Dictionary::new();
        let b = p
            .to_batch(|n| dict.intern(n))
            .expect("a decoded page maps into a store");
        assert_eq!(b.len(), p.meta.rows as usize);
        assert_eq!(p.events().len(), b.len());
    }
});
