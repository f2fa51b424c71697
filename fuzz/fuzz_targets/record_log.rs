//! Record framing shared by the WAL and the name dictionary. Mode 0: the input is the file. Mode 1:
//! a valid file of the input's payloads, with byte flips and a cut at a chosen length; the scan must
//! return exactly the records that lie wholly before the first damaged byte (a damaged record never
//! reads back as data) and never more than were written.
#![no_main]

#[path = "common.rs"]
mod common;

use std::sync::OnceLock;

use laptime_core::fuzzing::{record_file, scan_records, RecordKind};
use libfuzzer_sys::fuzz_target;

const HEADER_LEN: usize = 32;
const FRAME_LEN: usize = 8;

fuzz_target!(|data: &[u8]| {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    let path = DIR.get_or_init(common::scratch_dir).join("records.log");
    let [mode, c0, c1, rest @ ..] = data else {
        return;
    };
    let kind = if mode & 2 == 0 {
        RecordKind::Wal
    } else {
        RecordKind::Names
    };
    if mode & 1 == 0 {
        std::fs::write(&path, rest).expect("write the record file");
        if let Ok((payloads, valid_len, _)) = scan_records(&path, kind) {
            assert!(valid_len <= rest.len() as u64);
            let framed: usize = payloads.iter().map(|p| p.len() + FRAME_LEN).sum();
            assert!(payloads.is_empty() || valid_len as usize == HEADER_LEN + framed);
        }
        return;
    }
    let (records, edits) = common::split2(rest);
    let payloads: Vec<&[u8]> = records.split(|&b| b == b'\n').collect();
    let mut bytes = record_file(kind, u64::from(*c0) << 8 | u64::from(*c1), &payloads);
    let (changed, lowest) = common::apply_edits(&mut bytes, edits);
    let cut = usize::from(u16::from_le_bytes([*c0, *c1]));
    let end = if mode & 4 != 0 && cut < bytes.len() {
        cut
    } else {
        bytes.len()
    };
    let damage = lowest.min(end);
    std::fs::write(&path, &bytes[..end]).expect("write the record file");
    let Ok((got, valid_len, reason)) = scan_records(&path, kind) else {
        // Only a damaged header is an error.
        assert!(damage < HEADER_LEN, "intact header refused");
        return;
    };
    assert!(got.len() <= payloads.len());
    for (g, p) in got.iter().zip(&payloads) {
        assert_eq!(
            g.as_slice(),
            *p,
            "a record read back differently than written"
        );
    }
    // Records ending at or before the first damaged byte must all be there.
    let mut at = HEADER_LEN;
    let mut whole = 0;
    for p in &payloads {
        at += FRAME_LEN + p.len();
        if at > damage {
            break;
        }
        whole += 1;
    }
    if damage >= HEADER_LEN {
        assert!(got.len() >= whole, "an intact record was lost");
    }
    if changed == 0 && end == bytes.len() {
        assert_eq!(got.len(), payloads.len());
        assert_eq!(valid_len, bytes.len() as u64);
        assert!(reason.is_none());
    }
});
