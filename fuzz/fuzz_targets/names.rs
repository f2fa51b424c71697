//! The name dictionary: one record payload (mode 0), or both copies `names.log` and
//! `names.copy.log` built as valid record files from the input's payloads, the copy with byte
//! flips (mode 1). Loading must yield exactly the names the intact records hold, in order.
#![no_main]

#[path = "common.rs"]
mod common;

use std::sync::OnceLock;

use laptime_core::fuzzing::{
    decode_names_record, encode_names_record, load_names, record_file, RecordKind, NAMES_FILES,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(common::scratch_dir);
    let [mode, e0, e1, rest @ ..] = data else {
        return;
    };
    if mode & 1 == 0 {
        let expect_first = usize::from(u16::from_le_bytes([*e0, *e1]));
        if let Ok(names) = decode_names_record(rest, expect_first) {
            let again = encode_names_record(expect_first, &names);
            assert_eq!(decode_names_record(&again, expect_first), Ok(names));
        }
        return;
    }
    let (records, edits) = common::split2(rest);
    let payloads: Vec<&[u8]> = records.split(|&b| b == b'\n').collect();
    // Names the intact file holds: every record that continues the dictionary, up to the first bad.
    let mut expect: Vec<String> = Vec::new();
    for p in &payloads {
        match decode_names_record(p, expect.len()) {
            Ok(mut more) => expect.append(&mut more),
            Err(_) => break,
        }
    }
    let good = record_file(RecordKind::Names, 42, &payloads);
    let mut copy = good.clone();
    common::apply_edits(&mut copy, edits);
    let _ = std::fs::remove_dir_all(dir.join("quarantine"));
    std::fs::write(dir.join(NAMES_FILES[0]), &good).expect("write names.log");
    std::fs::write(dir.join(NAMES_FILES[1]), &copy).expect("write names.copy.log");
    let (names, _cuts) = load_names(dir).expect("an intact copy loads");
    assert_eq!(names, expect, "loaded names differ from the intact copy");
});
