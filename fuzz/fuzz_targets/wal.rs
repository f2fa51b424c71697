//! The write-ahead log. Mode 0: one record payload (a batch) on raw bytes; what decodes must
//! re-encode to an identical batch. Mode 1: a WAL directory of valid record files whose payloads
//! are batches built from the input (some raw input bytes, some with sequence gaps), replayed from a
//! chosen seq: replay must hand over contiguous, in-order events at or after that seq, and count
//! them right.
#![no_main]

#[path = "common.rs"]
mod common;

use laptime_core::fuzzing::{
    batch_from_bytes, decode_batch, encode_batch, record_file, recover_wal, wal_file_name,
    RecordKind,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [mode, f0, f1, rest @ ..] = data else {
        return;
    };
    if mode & 1 == 0 {
        if let Ok((seq, batch)) = decode_batch(rest) {
            let n = batch.len();
            assert_eq!(batch.starts().len(), n);
            assert_eq!(batch.durations().len(), n);
            assert_eq!(batch.codes().len(), n);
            assert!(batch.messages().iter().all(|(r, _)| (*r as usize) < n));
            assert!(batch.fields().all(|f| (f.row as usize) < n));
            let again = encode_batch(seq, &batch);
            assert_eq!(
                decode_batch(&again),
                Ok((seq, batch)),
                "batch changed on round trip"
            );
        }
        return;
    }
    let dir = common::scratch_dir();
    let from_seq = u64::from(u16::from_le_bytes([*f0, *f1]));
    // Records are separated by '\n'; a record's first byte steers it:
    // bit 0 raw payload, bit 1 new file, bit 2 seq gap, bits 3.. a huge first seq.
    let mut seq = if mode & 2 != 0 { u64::MAX - 40 } else { 0 };
    let mut files: Vec<(u64, Vec<Vec<u8>>)> = Vec::new();
    for rec in rest.split(|&b| b == b'\n') {
        let Some((&ctl, body)) = rec.split_first() else {
            continue;
        };
        if ctl & 4 != 0 {
            seq = seq.wrapping_add(u64::from(ctl >> 3));
        }
        let payload = if ctl & 1 != 0 {
            body.to_vec()
        } else {
            let b = batch_from_bytes(body);
            let p = encode_batch(seq, &b);
            seq = seq.wrapping_add(b.len() as u64);
            p
        };
        if ctl & 2 != 0 || files.is_empty() {
            files.push((seq, Vec::new()));
        }
        if let Some(f) = files.last_mut() {
            f.1.push(payload);
        }
    }
    for (i, (first, payloads)) in files.iter().enumerate() {
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        let bytes = record_file(RecordKind::Wal, 1000 + i as u64, &refs);
        // Distinct names even if seqs repeat: the name orders the files.
        let name = wal_file_name(first.wrapping_add(i as u64));
        std::fs::write(dir.join(name), bytes).expect("write a WAL file");
    }
    let Ok(r) = recover_wal(&dir, from_seq) else {
        return;
    };
    let mut next: Option<u64> = None;
    let mut total = 0u64;
    for &(first, n) in &r.batches {
        assert!(first >= from_seq, "replayed an event before the start seq");
        if let Some(e) = next {
            assert_eq!(first, e, "replayed events are not contiguous");
        }
        next = first.checked_add(n as u64);
        total += n as u64;
    }
    assert_eq!(total, r.events, "replayed count differs from the report");
    if let Some(e) = next {
        assert!(r.end_seq >= e, "end seq before the last replayed event");
    }
});
