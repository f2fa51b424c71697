//! One pass over an integer column: its range, the range of its differences, its runs, and the
//! exact sizes of the bit-packing codecs. The chooser in `int.rs` and the Huffman codecs in
//! `entropy.rs` both start from it.

use super::bits::{bit_width, packed_len, BLOCK};
use super::varint::{varint_len, zigzag};
use super::word::Word;

/// Exact statistics from one pass over the column.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stats {
    pub(crate) n: usize,
    pub(crate) min: u64,
    pub(crate) max: u64,
    /// Smallest and largest difference `v[i] - v[i-1]` (0 and 0 for fewer than two values).
    pub(crate) dmin: i64,
    pub(crate) dmax: i64,
    /// Number of runs of equal values.
    pub(crate) runs: usize,
    pub(crate) for_bytes: usize,
    /// `usize::MAX` when there are fewer than two values.
    pub(crate) delta_bytes: usize,
}

pub(crate) fn stats<T: Word>(values: &[T]) -> Stats {
    let n = values.len();
    let nb = n.div_ceil(BLOCK);
    let mut vblocks: Vec<(u64, u64)> = Vec::with_capacity(nb);
    // Difference block b covers d[j] for j in b*128+1..=(b+1)*128, the chunks of values[1..].
    let mut dblocks: Vec<(i64, i64)> = Vec::with_capacity(nb);
    let (mut dlo, mut dhi) = (i64::MAX, i64::MIN);
    let mut changes = 0usize;
    let mut prev = 0u64;
    for (b, chunk) in values.chunks(BLOCK).enumerate() {
        let Some((head, tail)) = chunk.split_first() else {
            continue;
        };
        let x0 = head.to_u64();
        if b > 0 {
            let d = x0.wrapping_sub(prev) as i64;
            dlo = dlo.min(d);
            dhi = dhi.max(d);
            changes += usize::from(d != 0);
            dblocks.push((dlo, dhi));
            (dlo, dhi) = (i64::MAX, i64::MIN);
        }
        let (mut lo, mut hi) = (x0, x0);
        prev = x0;
        for v in tail {
            let x = v.to_u64();
            lo = lo.min(x);
            hi = hi.max(x);
            let d = x.wrapping_sub(prev) as i64;
            dlo = dlo.min(d);
            dhi = dhi.max(d);
            changes += usize::from(d != 0);
            prev = x;
        }
        vblocks.push((lo, hi));
    }
    if dlo <= dhi {
        dblocks.push((dlo, dhi));
    }
    let min = vblocks.iter().map(|b| b.0).min().unwrap_or(0);
    let max = vblocks.iter().map(|b| b.1).max().unwrap_or(0);
    let mut for_bytes = varint_len(min);
    for (b, &(lo, hi)) in vblocks.iter().enumerate() {
        let len = (n - b * BLOCK).min(BLOCK);
        for_bytes += varint_len(lo - min) + 1 + packed_len(len, bit_width(hi - lo));
    }
    let dmin = dblocks.iter().map(|b| b.0).min().unwrap_or(0);
    let dmax = dblocks.iter().map(|b| b.1).max().unwrap_or(0);
    let delta_bytes = if n < 2 {
        usize::MAX
    } else {
        let mut bytes =
            varint_len(values.first().map_or(0, |v| v.to_u64())) + varint_len(zigzag(dmin));
        for (b, &(lo, hi)) in dblocks.iter().enumerate() {
            let len = (n - 1 - b * BLOCK).min(BLOCK);
            let width = bit_width((hi as u64).wrapping_sub(lo as u64));
            bytes += varint_len((lo as u64).wrapping_sub(dmin as u64)) + 1 + packed_len(len, width);
        }
        bytes
    };
    Stats {
        n,
        min,
        max,
        dmin,
        dmax,
        runs: if n == 0 { 0 } else { changes + 1 },
        for_bytes,
        delta_bytes,
    }
}
