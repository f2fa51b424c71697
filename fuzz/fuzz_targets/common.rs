// Shared by the targets (included with `#[path]`, each target is its own crate).
#![allow(dead_code)]

use std::path::PathBuf;

/// A scratch directory for this fuzzing process, emptied on each call.
pub fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("laptime-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the fuzz scratch directory");
    dir
}

/// Split `data` at the first occurrence of the two bytes `FZ` (the fuzzer learns the marker from
/// the comparison): the part before is one input, the rest another.
pub fn split2(data: &[u8]) -> (&[u8], &[u8]) {
    match data.windows(2).position(|w| w == b"FZ") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[]),
    }
}

/// Apply byte edits `(position u16 LE, xor mask)` read from `edits` to `target`; returns how many
/// bytes changed and the lowest position changed.
pub fn apply_edits(target: &mut [u8], edits: &[u8]) -> (usize, usize) {
    let mut changed = 0;
    let mut lowest = usize::MAX;
    if target.is_empty() {
        return (0, lowest);
    }
    for e in edits.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([e[0], e[1]])) % target.len();
        if e[2] != 0 {
            target[at] ^= e[2];
            changed += 1;
            lowest = lowest.min(at);
        }
    }
    (changed, lowest)
}
