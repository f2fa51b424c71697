//! Segment files: header, trailer, footer (page directory and summary) and every page, through
//! the sealed reader and the crash-recovery scan of an unsealed segment. Mode 0 feeds raw bytes;
//! mode 1 builds a valid segment of up to 3 pages from the input's events (with the older footer
//! when mode bit 2 is set), flips bytes and recomputes every checksum it can find. Unmutated, the
//! segment must read back exactly, its summary being its pages' metas absorbed and its value
//! rollup (written when a key is listed) checking whole; mutated, the rollup is checked too
//! (an error, never a panic). Every input is
//! also salvaged as repair does (a page with a damaged header or meta rebuilt from its columns
//! when the footer's directory knows it).
#![no_main]

#[path = "common.rs"]
mod common;

use std::sync::OnceLock;

use laptime_core::fuzzing::{
    batch_from_bytes, columns_of, encode_page, read_segment, recover_segment, reseal_segment,
    salvage_segment, segment_bytes, segment_bytes_v1,
};
use laptime_core::PageMeta;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    let path = DIR
        .get_or_init(common::scratch_dir)
        .join("seg-0000000000000001.lts");
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut expect = Vec::new();
    let mut changed = 0;
    let bytes = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let (events, edits) = common::split2(rest);
        let pages: Vec<Vec<u8>> = events
            .chunks(events.len().div_ceil(1 + usize::from(mode >> 6)).max(1))
            .map(|chunk| {
                let mut cols = columns_of(&batch_from_bytes(chunk));
                let (bytes, meta) = encode_page(&mut cols, 0);
                expect.push((meta, cols));
                bytes
            })
            .collect();
        let mut bytes = if mode & 4 == 0 {
            segment_bytes(1, &pages)
        } else {
            segment_bytes_v1(1, &pages)
        };
        changed = common::apply_edits(&mut bytes, edits).0;
        if mode & 2 == 0 {
            reseal_segment(&mut bytes);
        }
        bytes
    };
    std::fs::write(&path, &bytes).expect("write the segment file");
    let built = expect.len();
    let read = read_segment(&path);
    if mode & 1 == 1 && changed == 0 {
        let read = read.expect("a freshly built segment opens");
        assert_eq!(read.pages.len(), expect.len());
        let mut absorbed = PageMeta::default();
        for ((m, c), (em, ec)) in read.pages.into_iter().zip(expect) {
            let m = m.expect("page meta reads");
            absorbed.absorb(&m).expect("a page meta that read joins the summary");
            assert!(m == em, "page meta differs");
            assert!(c.expect("page decodes") == ec, "page columns differ");
        }
        assert!(read.summary == absorbed, "summary differs from the pages");
        read.rollup.expect("a freshly built segment's value rollup checks");
    }
    // Repair's scan: every page kept, none rebuilt, for a segment built and left as it was.
    let salvaged = salvage_segment(&path);
    if mode & 1 == 1 && changed == 0 {
        let s = salvaged.expect("a freshly built segment salvages");
        assert_eq!((s.pages, s.rebuilt, s.damaged), (built, 0, 0));
    }
    let recovered = recover_segment(&path);
    if let Ok((_, valid_len, cut)) = &recovered {
        assert!(*valid_len <= bytes.len() as u64);
        if cut.is_none() && *valid_len > 0 {
            assert!(*valid_len >= 16);
        }
    }
});
