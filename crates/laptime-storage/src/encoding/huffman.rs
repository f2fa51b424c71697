//! Length-limited canonical Huffman codes over small alphabets, used by the `ForHuffman` and
//! `DeltaHuffman` integer codecs.
//!
//! Codes are at most [`MAX_CODE_LEN`] = 12 bits, so an alphabet holds at most 4096 symbols and a
//! single 4096-entry table lookup decodes any code. Codes are canonical (DEFLATE's assignment:
//! shorter codes first, ties by symbol), so only the code lengths go to disk.
//!
//! Code-length table layout (inside a codec payload):
//! `[varint first_symbol][varint span (1..=4096)][ceil(span / 2) bytes]`, where the bytes hold one
//! 4-bit code length per symbol `first_symbol + i`, low nibble first; length 0 means "unused".
//! Code bits are written LSB-first, so the encoder stores each code bit-reversed.

use super::varint::{read_len, write_varint};
use crate::error::DecodeError;

/// Longest code, in bits.
pub(crate) const MAX_CODE_LEN: u32 = 12;
/// Largest alphabet (symbols spanned by one table).
pub(crate) const MAX_SYMBOLS: usize = 1 << MAX_CODE_LEN;
/// Decode-table size: indexed by the next `MAX_CODE_LEN` bits.
pub(crate) const TABLE_SIZE: usize = 1 << MAX_CODE_LEN;

/// Fills `lens[s]` with the code length of symbol `s` (0 where `freqs[s] == 0`).
///
/// Classic two-queue Huffman construction on the sorted leaves. If the tree is deeper than
/// [`MAX_CODE_LEN`], the frequencies are halved (never below 1) and the tree rebuilt; with at most
/// 4096 symbols this ends at the latest when all weights are equal.
pub(crate) fn code_lengths(freqs: &[u32], lens: &mut [u8]) {
    lens.fill(0);
    // Leaf key: frequency in the high bits, symbol in the low 16, so a plain sort orders them.
    let mut leaves: Vec<u64> = freqs
        .iter()
        .enumerate()
        .filter(|&(_, &f)| f > 0)
        .map(|(s, &f)| (u64::from(f) << 16) | s as u64)
        .collect();
    match leaves.len() {
        0 => return,
        1 => {
            let sym = (leaves[0] & 0xffff) as usize;
            if let Some(l) = lens.get_mut(sym) {
                *l = 1;
            }
            return;
        }
        _ => {}
    }
    leaves.sort_unstable();
    let mut depth = Vec::new();
    let mut parent = Vec::new();
    let mut internal = Vec::new();
    for shift in 0..32 {
        if build_tree(&leaves, shift, &mut internal, &mut parent, &mut depth, lens) {
            return;
        }
    }
    // Unreachable in practice (equal weights always fit); fall back to a flat code.
    let flat = (usize::BITS - (leaves.len() - 1).leading_zeros()).max(1) as u8;
    for &leaf in &leaves {
        if let Some(l) = lens.get_mut((leaf & 0xffff) as usize) {
            *l = flat;
        }
    }
}

/// One Huffman build with weights `max(1, freq >> shift)`; false if a code is too long.
fn build_tree(
    leaves: &[u64],
    shift: u32,
    internal: &mut Vec<u64>,
    parent: &mut Vec<u32>,
    depth: &mut Vec<u32>,
    lens: &mut [u8],
) -> bool {
    let m = leaves.len();
    let leaf_w = |i: usize| -> u64 {
        leaves
            .get(i)
            .map_or(u64::MAX, |&k| ((k >> 16) >> shift).max(1))
    };
    internal.clear();
    internal.resize(m - 1, 0);
    parent.clear();
    parent.resize(2 * m - 1, 0);
    let (mut li, mut ii) = (0usize, 0usize);
    for k in 0..m - 1 {
        let pick = |li: &mut usize, ii: &mut usize, internal: &[u64]| -> (usize, u64) {
            let lw = if *li < m { leaf_w(*li) } else { u64::MAX };
            let iw = if *ii < k {
                internal.get(*ii).copied().unwrap_or(u64::MAX)
            } else {
                u64::MAX
            };
            if lw <= iw {
                *li += 1;
                (*li - 1, lw)
            } else {
                *ii += 1;
                (m + *ii - 1, iw)
            }
        };
        let (a, wa) = pick(&mut li, &mut ii, internal);
        let (b, wb) = pick(&mut li, &mut ii, internal);
        if let Some(w) = internal.get_mut(k) {
            *w = wa.saturating_add(wb);
        }
        for node in [a, b] {
            if let Some(p) = parent.get_mut(node) {
                *p = (m + k) as u32;
            }
        }
    }
    // Internal nodes are created in increasing order and a parent always comes after its
    // children, so one backwards sweep assigns every depth.
    depth.clear();
    depth.resize(2 * m - 1, 0);
    let mut max_depth = 0;
    for node in (0..2 * m - 2).rev() {
        let p = parent.get(node).copied().unwrap_or(0) as usize;
        let d = depth.get(p).copied().unwrap_or(0) + 1;
        if let Some(slot) = depth.get_mut(node) {
            *slot = d;
        }
        if node < m {
            max_depth = max_depth.max(d);
        }
    }
    if max_depth > MAX_CODE_LEN {
        return false;
    }
    for (i, &leaf) in leaves.iter().enumerate() {
        if let (Some(l), Some(&d)) = (lens.get_mut((leaf & 0xffff) as usize), depth.get(i)) {
            *l = d as u8;
        }
    }
    true
}

/// Counts codes per length and checks the Kraft inequality; returns the longest length.
fn check_lengths(lens: &[u8]) -> Result<(u32, [u32; 16]), &'static str> {
    let mut count = [0u32; 16];
    for &l in lens {
        if let Some(c) = count.get_mut(usize::from(l)) {
            *c += 1;
        }
    }
    count[0] = 0;
    let mut kraft = 0u64;
    let mut max_len = 0;
    for (len, &c) in count.iter().enumerate().skip(1) {
        if c > 0 {
            if len as u32 > MAX_CODE_LEN {
                return Err("Huffman code length above 12");
            }
            max_len = len as u32;
            kraft += u64::from(c) << (MAX_CODE_LEN - len as u32);
        }
    }
    if max_len == 0 {
        return Err("Huffman table has no symbols");
    }
    if kraft > 1 << MAX_CODE_LEN {
        return Err("Huffman code lengths are over-subscribed");
    }
    Ok((max_len, count))
}

/// Canonical codes in symbol order: `code(s)` for every symbol with a length.
fn canonical(lens: &[u8], count: &[u32; 16], mut emit: impl FnMut(usize, u32, u32)) {
    let mut next = [0u32; 16];
    let mut code = 0u32;
    for len in 1..16 {
        code = (code + count[len - 1]) << 1;
        next[len] = code;
    }
    for (s, &l) in lens.iter().enumerate() {
        if l == 0 {
            continue;
        }
        if let Some(n) = next.get_mut(usize::from(l)) {
            let c = *n;
            *n += 1;
            let len = u32::from(l);
            // Bit-reverse so the code's first bit is the lowest, matching the LSB-first stream.
            emit(s, c.reverse_bits() >> (32 - len), len);
        }
    }
}

/// Encoder table: `codes[s] = reversed_code | (len << 16)`. Returns false if `lens` is not a
/// valid length-limited code (never happens for lengths from [`code_lengths`]).
pub(crate) fn encoder_codes(lens: &[u8], codes: &mut [u32]) -> bool {
    let Ok((_, count)) = check_lengths(lens) else {
        return false;
    };
    codes.fill(0);
    canonical(lens, &count, |s, code, len| {
        if let Some(c) = codes.get_mut(s) {
            *c = code | (len << 16);
        }
    });
    true
}

/// Fills `table` for decoding and returns the number of index bits it uses.
///
/// The table is indexed by the next `bits` stream bits (LSB-first). Each entry is
/// `entry(symbol, code_len)`, which the codec packs however it likes; bit patterns no code starts
/// with hold `invalid`. `entry` returns `None` for symbols the codec cannot decode, which rejects
/// the table.
pub(crate) fn decode_table(
    lens: &[u8],
    table: &mut [u32; TABLE_SIZE],
    invalid: u32,
    mut entry: impl FnMut(usize, u32) -> Option<u32>,
) -> Result<u32, &'static str> {
    let (max_len, count) = check_lengths(lens)?;
    let size = 1usize << max_len;
    if let Some(t) = table.get_mut(..size) {
        t.fill(invalid);
    }
    let mut bad = false;
    canonical(lens, &count, |s, code, len| {
        let Some(e) = entry(s, len) else {
            bad = true;
            return;
        };
        // Every index whose low `len` bits equal the code decodes to this symbol.
        let mut idx = code as usize;
        while idx < size {
            if let Some(slot) = table.get_mut(idx) {
                *slot = e;
            }
            idx += 1 << len;
        }
    });
    if bad {
        return Err("Huffman symbol out of range");
    }
    Ok(max_len)
}

/// Appends the code-length table for the symbols `first..first + lens.len()`.
pub(crate) fn write_lengths(out: &mut Vec<u8>, first: usize, lens: &[u8]) {
    write_varint(out, first as u64);
    write_varint(out, lens.len() as u64);
    for pair in lens.chunks(2) {
        let lo = pair.first().copied().unwrap_or(0);
        let hi = pair.get(1).copied().unwrap_or(0);
        out.push((lo & 15) | (hi << 4));
    }
}

/// Bytes [`write_lengths`] takes.
pub(crate) fn lengths_size(first: usize, span: usize) -> usize {
    super::varint::varint_len(first as u64)
        + super::varint::varint_len(span as u64)
        + span.div_ceil(2)
}

/// Reads a code-length table into `lens[..span]`; returns `(first_symbol, span)`.
pub(crate) fn read_lengths(
    input: &[u8],
    pos: &mut usize,
    lens: &mut [u8; MAX_SYMBOLS],
) -> Result<(usize, usize), DecodeError> {
    let first = read_len(input, pos, usize::MAX, "Huffman first symbol too large")?;
    let span_at = *pos;
    let span = read_len(input, pos, MAX_SYMBOLS, "Huffman alphabet too large")?;
    if span == 0 {
        return Err(DecodeError::new(span_at, "empty Huffman alphabet"));
    }
    let nbytes = span.div_ceil(2);
    let bytes = input
        .get(*pos..*pos + nbytes)
        .ok_or(DecodeError::new(*pos, "truncated Huffman table"))?;
    for (pair, &b) in lens.chunks_mut(2).zip(bytes) {
        for (slot, nib) in pair.iter_mut().zip([b & 15, b >> 4]) {
            *slot = nib;
        }
    }
    if span % 2 == 1 && bytes.last().is_some_and(|&b| b >> 4 != 0) {
        return Err(DecodeError::new(
            *pos + nbytes - 1,
            "Huffman table padding not zero",
        ));
    }
    *pos += nbytes;
    Ok((first, span))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kraft(lens: &[u8]) -> f64 {
        lens.iter()
            .filter(|&&l| l > 0)
            .map(|&l| 0.5f64.powi(i32::from(l)))
            .sum()
    }

    #[test]
    fn lengths_are_optimal_on_small_example() {
        let freqs = [45, 13, 12, 16, 9, 5];
        let mut lens = [0u8; 6];
        code_lengths(&freqs, &mut lens);
        let cost: u32 = freqs
            .iter()
            .zip(&lens)
            .map(|(&f, &l)| f * u32::from(l))
            .sum();
        assert_eq!(cost, 224);
        assert!((kraft(&lens) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn lengths_are_limited() {
        // Fibonacci frequencies make the deepest possible tree.
        let mut freqs = vec![1u32, 1];
        while freqs.len() < 40 {
            let k = freqs.len();
            freqs.push(freqs[k - 1].saturating_add(freqs[k - 2]));
        }
        let mut lens = vec![0u8; freqs.len()];
        code_lengths(&freqs, &mut lens);
        assert!(lens.iter().all(|&l| (1..=MAX_CODE_LEN as u8).contains(&l)));
        assert!(kraft(&lens) <= 1.0);
        let mut all = vec![1u32; MAX_SYMBOLS];
        all[0] = u32::MAX;
        let mut lens = vec![0u8; MAX_SYMBOLS];
        code_lengths(&all, &mut lens);
        assert!(lens.iter().all(|&l| (1..=MAX_CODE_LEN as u8).contains(&l)));
        assert!(kraft(&lens) <= 1.0);
    }

    #[test]
    fn decode_table_matches_encoder() {
        let freqs = [5u32, 0, 1, 1, 30, 2, 0, 9];
        let mut lens = [0u8; 8];
        code_lengths(&freqs, &mut lens);
        let mut codes = [0u32; 8];
        assert!(encoder_codes(&lens, &mut codes));
        let mut table = [0u32; TABLE_SIZE];
        let bits =
            decode_table(&lens, &mut table, 0, |s, len| Some(((s as u32) << 4) | len)).unwrap();
        for s in 0..8 {
            if lens[s] == 0 {
                continue;
            }
            let code = codes[s] & 0xffff;
            let len = codes[s] >> 16;
            assert!(len <= bits);
            let e = table[code as usize];
            assert_eq!(e & 15, len);
            assert_eq!(e >> 4, s as u32);
        }
    }

    #[test]
    fn oversubscribed_lengths_are_rejected() {
        let mut table = [0u32; TABLE_SIZE];
        assert!(decode_table(&[1, 1, 1], &mut table, 0, |s, _| Some(s as u32)).is_err());
        assert!(decode_table(&[0, 0], &mut table, 0, |s, _| Some(s as u32)).is_err());
    }
}
