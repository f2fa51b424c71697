//! The Huffman integer codecs, `ForHuffman` (5) and `DeltaHuffman` (6): the ones that get close
//! to the entropy of timestamps, durations and name ids.
//!
//! Payload layout:
//!
//! * `ForHuffman`: `[u8 p 1..=12][varint base][Huffman length table][bit stream]`, one item per
//!   value, `x = value - base`.
//! * `DeltaHuffman`: `[u8 p 1..=12][varint first value][Huffman length table][bit stream]`, one
//!   item per difference `d = v[i] - v[i-1]` (wrapping, read as `i64`), `n - 1` items.
//!
//! Each item is split like a tiny float. The bucket `bucket(x) = (e << (p - 1)) + (x >> e)` with
//! `e = max(0, bit_width(x) - p)` keeps the top `p` significant bits and is Huffman-coded; the low
//! `e` bits follow raw. Values below `2^p` are their own bucket, so with `p = 12` and a range below
//! 4096 the codec is a plain Huffman code of the values (name ids, levels, small enums). With
//! `p = 2..3` it codes the magnitude of widely spread values (durations, gaps between timestamps)
//! within a few percent of their entropy. Differences are coded sign-magnitude: symbol
//! `2 * bucket(m) + sign`, `m = d` for `d >= 0` and `!d` for `d < 0`, so sorted data never pays for
//! a sign bit and near-sorted data pays only what the sign distribution costs.
//!
//! After the length table (format in `huffman.rs`) come two bit streams:
//! `[varint byte length of stream 0][stream 0][stream 1]`. Item `i` goes to stream `i % 2`, as its
//! code bits (LSB-first, see `bits.rs`) followed by its `e` raw bits; each stream's last byte is
//! zero-padded. Decoding is a chain of dependent steps per stream (read a 64-bit window at the bit
//! position, look the code up, advance); two streams let two chains run side by side, and when
//! every item is at most 28 (or 14) bits the decoder takes 2 (or 4) items from one window.
//!
//! Encoding builds the code either from an exact histogram (one extra pass) or, when the chooser
//! already sampled the column, from the sample with every possible symbol given a small count, so
//! any value in the column's range still has a code. The possible symbols follow from the
//! column's exact minimum/maximum (or minimum/maximum difference).

use super::bits::{bit_width, BitReader, BitWriter, WINDOW_BITS};
use super::column_stats::Stats;
use super::huffman::{
    code_lengths, decode_table, encoder_codes, lengths_size, read_lengths, write_lengths,
    MAX_CODE_LEN, MAX_SYMBOLS, TABLE_SIZE,
};
use super::varint::{read_len, read_varint, varint_len, write_varint};
use super::word::Word;
use crate::error::DecodeError;

/// Precision at which values below 4096 are their own symbol.
pub(crate) const EXACT_P: u32 = 12;

/// Bucket of `x` at precision `p` (1..=12): `(symbol, raw low bits)`.
#[inline(always)]
pub(crate) fn bucket(x: u64, p: u32) -> (u32, u32) {
    let extra = bit_width(x).saturating_sub(p);
    let sym = (u64::from(extra) << (p - 1)) + (x >> extra);
    (sym as u32, extra)
}

/// Inverse of [`bucket`]: `(head, extra)` with value `= head << extra | low bits`, or `None` for a
/// symbol no `u64` maps to.
#[inline]
pub(crate) fn bucket_base(sym: u64, p: u32) -> Option<(u64, u32)> {
    if sym < 1 << p {
        return Some((sym, 0));
    }
    let e = (sym >> (p - 1)) - 1;
    if e > u64::from(64 - p) {
        return None;
    }
    Some((sym - (e << (p - 1)), e as u32))
}

/// Raw bits that follow symbol `sym` (64 for impossible symbols, so they never look cheap).
pub(crate) fn extra_bits(sym: usize, p: u32, signed: bool) -> u32 {
    let b = if signed { sym >> 1 } else { sym };
    bucket_base(b as u64, p).map_or(64, |(_, e)| e)
}

/// Symbol, raw bit count and raw bits of one item.
#[inline(always)]
fn item<const DELTA: bool>(x: u64, prev: u64, base: u64, p: u32) -> (usize, u32, u64) {
    let (m, neg) = if DELTA {
        let d = x.wrapping_sub(prev) as i64;
        // Sign-magnitude without a branch: `!d` for negative `d`.
        ((d ^ (d >> 63)) as u64, (d < 0) as usize)
    } else {
        (x.wrapping_sub(base), 0)
    };
    let e = bit_width(m).saturating_sub(p);
    let head = m >> e;
    let s = ((u64::from(e) << (p - 1)) + head) as usize;
    // The raw bits are what the head leaves out.
    let low = m ^ (head << e);
    if DELTA {
        (2 * s + neg, e, low)
    } else {
        (s, e, low)
    }
}

/// Symbols that can occur: `(first, last, step)`; step 2 when only one sign of difference occurs.
pub(crate) fn symbol_range(st: &Stats, p: u32, delta: bool) -> (usize, usize, usize) {
    let b = |m: u64| bucket(m, p).0 as usize;
    if !delta {
        return (0, b(st.max.wrapping_sub(st.min)), 1);
    }
    let (lo, hi) = (st.dmin, st.dmax);
    if lo >= 0 {
        (2 * b(lo as u64), 2 * b(hi as u64), 2)
    } else if hi < 0 {
        (2 * b(!hi as u64) + 1, 2 * b(!lo as u64) + 1, 2)
    } else {
        (0, (2 * b(hi as u64)).max(2 * b(!lo as u64) + 1), 1)
    }
}

/// Appends a `ForHuffman` (`delta == false`) or `DeltaHuffman` payload. `sample` is a histogram
/// of symbols at precision `p` over part of the column; without it the code comes from an exact
/// pass. Returns false (output unspecified, caller truncates) if the payload would exceed `limit`
/// bytes or the alphabet exceeds 4096 symbols.
pub(crate) fn write<T: Word>(
    values: &[T],
    delta: bool,
    p: u32,
    st: &Stats,
    sample: Option<&[u32]>,
    out: &mut Vec<u8>,
    limit: usize,
) -> bool {
    if !(1..=EXACT_P).contains(&p) || values.len() < 1 + usize::from(delta) {
        return false;
    }
    // Monomorphize the hot loops so the per-value code has no `delta` branch.
    if delta {
        write_impl::<T, true>(values, p, st, sample, out, limit)
    } else {
        write_impl::<T, false>(values, p, st, sample, out, limit)
    }
}

fn write_impl<T: Word, const DELTA: bool>(
    values: &[T],
    p: u32,
    st: &Stats,
    sample: Option<&[u32]>,
    out: &mut Vec<u8>,
    limit: usize,
) -> bool {
    let first_value = values.first().map_or(0, |v| v.to_u64());
    let base = if DELTA { first_value } else { st.min };
    let items = values.get(usize::from(DELTA)..).unwrap_or(&[]);
    let (lo, hi, step) = symbol_range(st, p, DELTA);
    let span = hi + 1 - lo.min(hi);
    if span > MAX_SYMBOLS {
        return false;
    }
    let mut freq = vec![0u32; span];
    match sample {
        Some(sample) if p != EXACT_P => {
            // Sampled counts dominate; the +1 keeps a code for every symbol that may occur.
            for (i, f) in freq.iter_mut().enumerate().step_by(step) {
                let c = sample.get(lo + i).copied().unwrap_or(0);
                *f = c.saturating_mul(16).saturating_add(1);
            }
        }
        _ if !DELTA && p == EXACT_P => {
            // Offsets are the symbols (the span check bounds them by 4096).
            for v in items {
                match freq.get_mut(v.to_u64().wrapping_sub(base) as usize) {
                    Some(f) => *f += 1,
                    None => return false,
                }
            }
        }
        _ => {
            let mut prev = first_value;
            for v in items {
                let x = v.to_u64();
                let (s, _, _) = item::<DELTA>(x, prev, base, p);
                prev = x;
                match freq.get_mut(s.wrapping_sub(lo)) {
                    Some(f) => *f += 1,
                    None => return false,
                }
            }
        }
    }
    let mut lens = vec![0u8; span];
    code_lengths(&freq, &mut lens);
    // A full-size table lets the hot loop index with a mask instead of a bounds branch.
    let mut codes = [0u32; MAX_SYMBOLS];
    if !encoder_codes(&lens, codes.get_mut(..span).unwrap_or_default()) {
        return false;
    }
    // Upper bound of each stream: every item at the costliest symbol.
    let max_bits = lens
        .iter()
        .enumerate()
        .filter(|&(_, &l)| l > 0)
        .map(|(i, &l)| u32::from(l) + extra_bits(lo + i, p, DELTA))
        .max()
        .unwrap_or(0) as usize;
    // + 16: the writer's 8-byte stores, and room for the stream-length varint when compacting.
    let bound = (items.len().div_ceil(2) * max_bits).div_ceil(8) + 16;

    let header_start = out.len();
    out.push(p as u8);
    write_varint(out, base);
    write_lengths(out, lo, &lens);
    let start = out.len();
    out.resize(start + 2 * bound, 0);
    let Some((buf0, buf1)) = out.get_mut(start..).map(|b| b.split_at_mut(bound)) else {
        return false;
    };
    let (len0, len1) = (buf0.len(), buf1.len());
    let mut missing = 0;
    let mut ends = [None, None];
    for (k, buf) in [buf0, buf1].into_iter().enumerate() {
        let (w, m) = match p {
            2 => write_stream::<T, DELTA, 2>(values, k, base, p, lo, &codes, buf),
            3 => write_stream::<T, DELTA, 3>(values, k, base, p, lo, &codes, buf),
            EXACT_P => write_stream::<T, DELTA, EXACT_P>(values, k, base, p, lo, &codes, buf),
            _ => write_stream::<T, DELTA, 0>(values, k, base, p, lo, &codes, buf),
        };
        missing |= m;
        ends[k] = w.finish(if k == 0 { len0 } else { len1 });
    }
    let [Some(n0), Some(n1)] = ends else {
        return false;
    };
    // Close the gap: [varint n0][stream 0][stream 1]. Stream 0 is at least 16 bytes short of
    // its region, so shifting it right by the varint never reaches stream 1.
    let h = varint_len(n0 as u64);
    if h + n0 > bound || n1 > bound {
        return false;
    }
    out.copy_within(start..start + n0, start + h);
    out.copy_within(start + bound..start + bound + n1, start + h + n0);
    let mut len0 = Vec::with_capacity(h);
    write_varint(&mut len0, n0 as u64);
    if let Some(dst) = out.get_mut(start..start + h) {
        dst.copy_from_slice(&len0);
    }
    out.truncate(start + h + n0 + n1);
    missing == 0 && out.len() - header_start <= limit
}

/// Writes one item's code and raw bits; returns 1 if its symbol has no code (never expected:
/// the code covers every symbol the column's exact range allows).
#[inline(always)]
fn put_item(
    w: &mut BitWriter,
    buf: &mut [u8],
    codes: &[u32; MAX_SYMBOLS],
    lo: usize,
    (s, e, low): (usize, u32, u64),
) -> u32 {
    let c = codes[s.wrapping_sub(lo) & (MAX_SYMBOLS - 1)];
    let (code, len) = (u64::from(c & 0xffff), c >> 16);
    if len + e <= 56 {
        w.put(buf, code | (low << len), len + e);
    } else {
        w.put(buf, code, len);
        w.put_long(buf, low, e);
    }
    u32::from(len == 0)
}

/// Writes stream `k` (items `k`, `k + 2`, ...). One stream per pass keeps the writer state in
/// registers. `P` is the bucket precision when known at compile time (0: use `p`), which turns
/// the bucket shifts into constants.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn write_stream<T: Word, const DELTA: bool, const P: u32>(
    values: &[T],
    k: usize,
    base: u64,
    p: u32,
    lo: usize,
    codes: &[u32; MAX_SYMBOLS],
    buf: &mut [u8],
) -> (BitWriter, u32) {
    let p = if P == 0 { p } else { P };
    let mut w = BitWriter::default();
    let mut missing = 0u32;
    let from = values.get(k..).unwrap_or(&[]);
    if DELTA {
        // Item i is values[i + 1] with predecessor values[i].
        for pair in from.chunks_exact(2) {
            if let [prev, x] = pair {
                let it = item::<DELTA>(x.to_u64(), prev.to_u64(), base, p);
                missing |= put_item(&mut w, buf, codes, lo, it);
            }
        }
    } else if P == EXACT_P {
        // The span check admitted this precision only for a range below 4096: every offset is
        // its own symbol with no raw bits.
        for x in from.iter().step_by(2) {
            let off = x.to_u64().wrapping_sub(base) as usize;
            missing |= put_item(&mut w, buf, codes, lo, (off, 0, 0));
        }
    } else {
        for x in from.iter().step_by(2) {
            let it = item::<DELTA>(x.to_u64(), 0, base, p);
            missing |= put_item(&mut w, buf, codes, lo, it);
        }
    }
    (w, missing)
}

/// Estimated payload bytes from a histogram: Huffman bits taken as the entropy plus 2% (but at
/// least one bit per item), plus the raw low bits, the length table and the header.
pub(crate) fn estimate_bytes(
    hist: &[u32],
    p: u32,
    delta: bool,
    scale: f64,
    base: u64,
    span: usize,
) -> usize {
    let total: u64 = hist.iter().map(|&c| u64::from(c)).sum();
    let tf = total as f64;
    let mut ent = 0.0f64;
    let mut raw = 0u64;
    for (s, &c) in hist.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let cf = f64::from(c);
        ent += cf * (tf / cf).log2();
        raw += u64::from(c) * u64::from(extra_bits(s, p, delta));
    }
    let bits = (ent * 1.02).max(tf) + raw as f64;
    // + 2: the stream-length varint and the second stream's partial byte.
    3 + varint_len(base) + lengths_size(0, span) + (bits * scale / 8.0) as usize
}

// Decode-table entry, laid out so shift counts can be used without masking (x86 shifts only look
// at the low 6 bits): bits 0..6 code length, 6..12 raw bit count, 12..24 head, 24 sign,
// 25..32 total bits (code + raw). Bit patterns that start no code have total = INVALID_TOTAL.
const INVALID_TOTAL: u32 = 127;
const INVALID_ENTRY: u32 = INVALID_TOTAL << 25;
/// Entries below this decode from one window (total <= WINDOW_BITS).
const SHORT_LIMIT: u32 = (WINDOW_BITS + 1) << 25;

/// `LOW_MASKS[k]` has the low `k` bits set.
static LOW_MASKS: [u64; 64] = {
    let mut m = [0u64; 64];
    let mut k = 1;
    while k < 64 {
        m[k] = (1u64 << k) - 1;
        k += 1;
    }
    m
};

fn table_entry(sym: usize, len: u32, p: u32, delta: bool) -> Option<u32> {
    let (b, sign) = if delta { (sym >> 1, sym & 1) } else { (sym, 0) };
    let (head, extra) = bucket_base(b as u64, p)?;
    if head >= 1 << 12 || len > MAX_CODE_LEN || extra > 63 {
        return None;
    }
    Some(len | (extra << 6) | ((head as u32) << 12) | ((sign as u32) << 24) | ((len + extra) << 25))
}

/// Decodes a `ForHuffman` (`delta == false`) or `DeltaHuffman` payload of `n` values into `out`.
pub(crate) fn decode<T: Word>(
    payload: &[u8],
    n: usize,
    out: &mut Vec<T>,
    delta: bool,
) -> Result<(), DecodeError> {
    if delta {
        decode_impl::<T, true>(payload, n, out)
    } else {
        decode_impl::<T, false>(payload, n, out)
    }
}

/// Decodes one item: `(magnitude, negative)`. An invalid code sets `*bad` and yields garbage;
/// the caller reports it after the loop, which keeps the hot path free of early exits. `RAW` is
/// false when no symbol has raw bits (exact alphabets), which skips their extraction.
#[inline(always)]
fn decode_item<const RAW: bool>(
    r: &mut BitReader<'_>,
    table: &[u32; TABLE_SIZE],
    mask: usize,
    bad: &mut bool,
) -> (u64, bool) {
    let win = r.window();
    let e = table[(win as usize) & mask & (TABLE_SIZE - 1)];
    let head = u64::from((e >> 12) & 0xfff);
    let m = if e < SHORT_LIMIT {
        r.advance(e >> 25);
        if RAW {
            let low = win.wrapping_shr(e) & LOW_MASKS[((e >> 6) & 63) as usize];
            head.wrapping_shl(e >> 6) | low
        } else {
            head
        }
    } else if e >> 25 == INVALID_TOTAL {
        *bad = true;
        0
    } else {
        // Raw part above 44 bits: rare, two more window reads.
        let extra = (e >> 6) & 63;
        r.advance(e & 63);
        (head << extra) | r.read_long(extra)
    };
    (m, e & (1 << 24) != 0)
}

/// Decodes `K >= 2` short items (each at most `WINDOW_BITS / K` bits) from one window read, so
/// the window load is paid once per `K` items.
#[inline(always)]
fn decode_round<const RAW: bool, const K: usize>(
    r: &mut BitReader<'_>,
    table: &[u32; TABLE_SIZE],
    mask: usize,
    items: &mut [(u64, bool); K],
    bad: &mut bool,
) {
    let mut win = r.window();
    let mut used = 0;
    for slot in items.iter_mut() {
        let e = table[(win as usize) & mask & (TABLE_SIZE - 1)];
        // Only valid codes are short enough here; anything else is corrupt input.
        *bad |= e >= SHORT_LIMIT;
        let head = u64::from((e >> 12) & 0xfff);
        let m = if RAW {
            let low = win.wrapping_shr(e) & LOW_MASKS[((e >> 6) & 63) as usize];
            head.wrapping_shl(e >> 6) | low
        } else {
            head
        };
        *slot = (m, e & (1 << 24) != 0);
        let t = e >> 25;
        win = win.wrapping_shr(t);
        used += t;
    }
    r.advance(used);
}

/// Decodes `body` from the two streams, `K` items per stream per window read; returns
/// `(all values fit T, some code was invalid)`.
#[inline(always)]
fn decode_body<'a, T: Word, const DELTA: bool, const RAW: bool, const K: usize>(
    body: &mut [T],
    r0: &mut BitReader<'a>,
    r1: &mut BitReader<'a>,
    table: &[u32; TABLE_SIZE],
    mask: usize,
    base: u64,
) -> (bool, bool) {
    let mut ok = true;
    let mut bad = false;
    let mut prev = base;
    let mut value = |(m, neg): (u64, bool)| -> T {
        let x = if DELTA {
            prev = prev.wrapping_add(if neg { !m } else { m });
            prev
        } else {
            base.wrapping_add(m)
        };
        let (v, good) = T::from_u64(x);
        ok &= good;
        v
    };
    let mut groups = body.chunks_exact_mut(2 * K);
    if K == 1 {
        for pair in &mut groups {
            // Two independent streams: both lookups are in flight at once.
            let a = decode_item::<RAW>(r0, table, mask, &mut bad);
            let b = decode_item::<RAW>(r1, table, mask, &mut bad);
            if let [sa, sb] = pair {
                *sa = value(a);
                *sb = value(b);
            }
        }
    } else {
        let mut a = [(0u64, false); K];
        let mut b = [(0u64, false); K];
        for group in &mut groups {
            decode_round::<RAW, K>(r0, table, mask, &mut a, &mut bad);
            decode_round::<RAW, K>(r1, table, mask, &mut b, &mut bad);
            for (pair, (&ia, &ib)) in group.chunks_exact_mut(2).zip(a.iter().zip(&b)) {
                if let [sa, sb] = pair {
                    *sa = value(ia);
                    *sb = value(ib);
                }
            }
        }
    }
    for (i, slot) in groups.into_remainder().iter_mut().enumerate() {
        let r = if i % 2 == 0 { &mut *r0 } else { &mut *r1 };
        *slot = value(decode_item::<RAW>(r, table, mask, &mut bad));
    }
    (ok, bad)
}

fn decode_impl<T: Word, const DELTA: bool>(
    payload: &[u8],
    n: usize,
    out: &mut Vec<T>,
) -> Result<(), DecodeError> {
    let err = DecodeError::new;
    let p = u32::from(*payload.first().ok_or(err(0, "truncated Huffman header"))?);
    if !(1..=EXACT_P).contains(&p) {
        return Err(err(0, "Huffman bucket precision out of range"));
    }
    let mut pos = 1;
    let base = read_varint(payload, &mut pos)?;
    let table_at = pos;
    let mut lens = [0u8; MAX_SYMBOLS];
    let (first, span) = read_lengths(payload, &mut pos, &mut lens)?;
    let mut table = [0u32; TABLE_SIZE];
    let mut raw = false;
    let mut longest = 0;
    let tbits = decode_table(
        lens.get(..span).unwrap_or(&[]),
        &mut table,
        INVALID_ENTRY,
        |i, len| {
            let e = table_entry(first.checked_add(i)?, len, p, DELTA)?;
            raw |= (e >> 6) & 63 != 0;
            longest = longest.max(e >> 25);
            Some(e)
        },
    )
    .map_err(|reason| err(table_at, reason))?;
    let mask = (1usize << tbits) - 1;
    let streams_at = pos;
    let rest = payload.get(pos..).unwrap_or(&[]);
    let n0 = read_len(rest, &mut 0, rest.len(), "stream length beyond payload")
        .map_err(|e| err(pos + e.offset, e.reason))?;
    pos += varint_len(n0 as u64);
    let s0 = payload.get(pos..pos + n0).unwrap_or(&[]);
    let s1 = payload.get(pos + n0..).unwrap_or(&[]);
    let (mut r0, mut r1) = (BitReader::new(s0), BitReader::new(s1));

    out.clear();
    out.resize(n, T::default());
    let mut ok = true;
    let body = if DELTA {
        let Some((head, rest)) = out.split_first_mut() else {
            return Ok(());
        };
        let (v, good) = T::from_u64(base);
        ok &= good;
        *head = v;
        rest
    } else {
        &mut out[..]
    };
    // Items per window read: as many of the longest item as fit in one window.
    let (r0, r1, t) = (&mut r0, &mut r1, &table);
    let (fits, bad) = match (raw, WINDOW_BITS / longest.max(1)) {
        (false, 4..) => decode_body::<T, DELTA, false, 4>(body, r0, r1, t, mask, base),
        (false, 2..) => decode_body::<T, DELTA, false, 2>(body, r0, r1, t, mask, base),
        (false, _) => decode_body::<T, DELTA, false, 1>(body, r0, r1, t, mask, base),
        (true, 4..) => decode_body::<T, DELTA, true, 4>(body, r0, r1, t, mask, base),
        (true, 2..) => decode_body::<T, DELTA, true, 2>(body, r0, r1, t, mask, base),
        (true, _) => decode_body::<T, DELTA, true, 1>(body, r0, r1, t, mask, base),
    };
    if bad {
        return Err(err(streams_at, "invalid Huffman code in bit stream"));
    }
    if r0.overran() || r1.overran() {
        return Err(err(streams_at, "truncated Huffman bit stream"));
    }
    if !(ok && fits) {
        return Err(err(0, "decoded value out of range for the column type"));
    }
    let whole = |r: &BitReader<'_>, len: usize| r.consumed_bits().div_ceil(8) == len as u64;
    if !whole(r0, s0.len()) || !whole(r1, s1.len()) || pos + n0 > payload.len() {
        return Err(err(
            streams_at,
            "stream lengths do not match the coded items",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn low_mask(bits: u32) -> u64 {
        LOW_MASKS.get(bits as usize).copied().unwrap_or(u64::MAX)
    }

    #[test]
    fn buckets_round_trip() {
        for p in 1..=EXACT_P {
            let mut xs = vec![
                0u64,
                1,
                2,
                3,
                4,
                5,
                7,
                8,
                1000,
                u64::MAX,
                u64::MAX - 1,
                1 << 63,
            ];
            xs.extend((0..64).map(|k| 1u64 << k));
            xs.extend((1..64).map(|k| (1u64 << k) - 1));
            for x in xs {
                let (s, e) = bucket(x, p);
                let (head, extra) = bucket_base(u64::from(s), p).unwrap();
                assert_eq!(extra, e, "x {x} p {p}");
                assert_eq!((head << extra) | (x & low_mask(e)), x, "x {x} p {p}");
                assert!(head < 1 << p);
            }
        }
        assert!(bucket_base(1 << 20, 1).is_none());
    }

    #[test]
    fn buckets_are_monotone() {
        // `symbol_range` relies on this: the symbols of a value range lie between the symbols of
        // its ends.
        let mut xs: Vec<u64> = (0..100_000u64).collect();
        for k in 0..64 {
            xs.extend([(1u64 << k) - 1, 1u64 << k, (1u64 << k) + 1, u64::MAX >> k]);
        }
        xs.sort_unstable();
        for p in 1..=EXACT_P {
            for w in xs.windows(2) {
                assert!(
                    bucket(w[0], p).0 <= bucket(w[1], p).0,
                    "{} {} p {p}",
                    w[0],
                    w[1]
                );
            }
        }
    }
}
