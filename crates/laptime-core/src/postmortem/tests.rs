use std::fs;

use super::*;
use crate::Level;
use crate::{Code, Event, Value};

fn sample() -> PostMortem {
    PostMortem {
        meta: vec![
            ("reason".into(), "uncaught TypeError".into()),
            ("pid".into(), "42".into()),
        ],
        events: vec![
            Event {
                name: "Users.find".into(),
                start_ns: 1_795_000_000_000_000_000,
                duration_ns: 1_234_567,
                code: Code::CallError,
                message: None,
                fields: vec![
                    ("error".into(), Value::Str("TypeError".into())),
                    ("n".into(), Value::I64(-7)),
                    ("r".into(), Value::F64(0.25)),
                    ("ok".into(), Value::Bool(false)),
                ],
            },
            Event {
                name: "log".into(),
                start_ns: 1_795_000_000_000_000_001,
                duration_ns: 0,
                code: Code::Log(Level::Fatal),
                message: Some("dying ✝".into()),
                fields: vec![],
            },
        ],
    }
}

#[test]
fn round_trips() {
    let pm = sample();
    assert_eq!(decode(&encode(&pm)).unwrap(), pm);
    assert_eq!(
        decode(&encode(&PostMortem::default())).unwrap(),
        PostMortem::default()
    );
}

#[test]
fn every_damaged_byte_and_every_truncation_is_a_clear_error() {
    let bytes = encode(&sample());
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= flip;
            let err = decode(&b).expect_err("a flipped byte must not decode");
            assert!(!err.reason.is_empty());
        }
        assert!(decode(&bytes[..i]).is_err(), "truncated to {i} bytes");
    }
}

#[test]
fn a_summary_is_the_facts_and_count_and_checks_the_whole_file() {
    let pm = sample();
    let bytes = encode(&pm);
    assert_eq!(decode_summary(&bytes).unwrap(), (pm.meta.clone(), 2));
    // Damage past the meta (in the last event) is still found: the checksum covers it all.
    let mut b = bytes.clone();
    let last = b.len() - 1;
    b[last] ^= 0x01;
    assert!(decode_summary(&b).is_err());
    assert!(decode_summary(&bytes[..bytes.len() - 1]).is_err());
}

#[test]
fn writes_never_replace_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = (0..20)
        .map(|_| write(dir.path(), &sample()).unwrap())
        .collect();
    let mut unique = paths.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 20);
    for p in &paths {
        assert_eq!(read(p).unwrap(), sample());
    }
    let leftovers = fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count();
    assert_eq!(leftovers, 0, "no temp files remain");
}

/// Listings read files as bounded as reading them whole does: a name pointing at an endless
/// device is refused, never read into memory.
#[cfg(unix)]
#[test]
fn summaries_of_endless_files_are_refused_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("postmortem-x.ltpm");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    assert!(read_summary(&link).is_err());
    assert!(read(&link).is_err());
}
