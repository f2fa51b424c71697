//! Integer column codecs and the chooser that picks one per column.
//!
//! Every integer type is mapped to `u64` first ([`Word`]): `u8`/`u32` widen, `i64` flips its sign
//! bit (an order-preserving map, so sorted signed columns stay sorted for the delta codecs), and
//! `f64` uses its raw bits. Decoding maps back and rejects values that do not fit the type.
//!
//! Payload layouts (`n` = value count from the frame; "varint" = LEB128, see `varint.rs`):
//!
//! * `Plain` (0): `n` little-endian values of the type's natural width (1, 4 or 8 bytes).
//! * `Constant` (1): `[varint value]`; all `n` values are equal.
//! * `Rle` (2): `[varint base]` then `(varint value - base, varint run length >= 1)` pairs whose
//!   runs add up to `n`. `base` is the column minimum, so large values still take small varints.
//! * `ForBitPack` (3): `[varint base]`, then per block of up to 128 values:
//!   `[varint block_min - base][u8 width 0..=64][ceil(len * width / 8) bytes]`, each value stored as
//!   `value - block_min` in `width` bits, LSB-first (see `bits.rs`).
//! * `DeltaBitPack` (4): `[varint first value][varint zigzag(dmin)]`, then the `n - 1` differences
//!   `d = v[i] - v[i-1]` (wrapping, read as `i64`) in blocks of up to 128:
//!   `[varint (block_dmin - dmin) as u64][u8 width][packed d - block_dmin]`. Sorted timestamps need
//!   only the bits of the largest gap spread in each block, with no zigzag bit.
//! * `ForHuffman` (5) and `DeltaHuffman` (6): Huffman-coded magnitude buckets of `value - base`
//!   or of consecutive differences, low bits raw; layout in `entropy.rs`.
//!
//! The chooser ([`choose`]) computes the exact sizes of `Plain`, `Constant`, `Rle`, `ForBitPack`
//! and `DeltaBitPack` from one pass of per-block minima and maxima, estimates the Huffman codecs
//! from histograms of a sample (every value up to 1024 values, else 8 evenly spaced runs of 128),
//! and serializes only the winner. A Huffman codec must win by 3% because it decodes slower.

use super::bits::{bit_width, pack_block, packed_len, unpack_block, BLOCK};
use super::column::{finish_frame, maybe_lz4, read_frame, with_payload};
use super::column_stats::{stats, Stats};
use super::entropy::{self, bucket, bucket_base, symbol_range, EXACT_P};
use super::huffman::MAX_SYMBOLS;
use super::varint::{read_len, read_varint, unzigzag, varint_len, write_varint, zigzag};
use super::word::Word;
use super::Codec;
use crate::error::DecodeError;

/// A codec with its parameters, as the chooser decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    Plain,
    Constant,
    Rle,
    For,
    Delta,
    /// Huffman over value buckets with precision `p`.
    ForHuffman(u32),
    /// Huffman over signed difference buckets with precision `p`.
    DeltaHuffman(u32),
}

impl Plan {
    pub(crate) fn codec(self) -> Codec {
        match self {
            Plan::Plain => Codec::Plain,
            Plan::Constant => Codec::Constant,
            Plan::Rle => Codec::Rle,
            Plan::For => Codec::ForBitPack,
            Plan::Delta => Codec::DeltaBitPack,
            Plan::ForHuffman(_) => Codec::ForHuffman,
            Plan::DeltaHuffman(_) => Codec::DeltaHuffman,
        }
    }
}

/// Bucket precisions the chooser considers for spread-out values and differences.
const COARSE_P: [u32; 2] = [2, 3];
/// Finest coarse precision: sample histograms are taken at this one and merged for the others.
const FINE_P: u32 = 3;
/// Symbols of a FINE_P value histogram (max symbol is (64 - 3) * 4 + 7 = 251).
const FINE_SYMS: usize = 256;
/// A Huffman codec must beat the best bit-packing codec by this many percent: it decodes slower.
const HUFFMAN_MARGIN_PCT: usize = 3;
/// Columns up to this size are sampled whole; larger ones in evenly spaced runs.
const SAMPLE_ALL: usize = 1024;
const SAMPLE_CHUNKS: usize = 8;
const SAMPLE_CHUNK: usize = 128;

/// Exact `Rle` payload size.
fn rle_bytes<T: Word>(values: &[T], min: u64) -> usize {
    let mut bytes = varint_len(min);
    let mut iter = values.iter().map(|v| v.to_u64());
    let Some(mut cur) = iter.next() else {
        return bytes;
    };
    let mut run = 1u64;
    for x in iter {
        if x == cur {
            run += 1;
        } else {
            bytes += varint_len(cur - min) + varint_len(run);
            cur = x;
            run = 1;
        }
    }
    bytes + varint_len(cur - min) + varint_len(run)
}

/// Runs of the column the Huffman estimate looks at.
fn sample_ranges(n: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let k = if n <= SAMPLE_ALL { 1 } else { SAMPLE_CHUNKS };
    (0..k).map(move |i| {
        if k == 1 {
            0..n
        } else {
            let s = i * (n - SAMPLE_CHUNK) / (k - 1);
            s..s + SAMPLE_CHUNK
        }
    })
}

/// Merges a FINE_P histogram into precision `p` (`signed`: symbols are `2 * bucket + sign`).
fn coarsen(fine: &[u32], p: u32, signed: bool, out: &mut [u32]) {
    out.fill(0);
    for (s, &c) in fine.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let (b, sign) = if signed { (s >> 1, s & 1) } else { (s, 0) };
        let Some((head, extra)) = bucket_base(b as u64, FINE_P) else {
            continue;
        };
        // Buckets nest, so the lowest value of a fine bucket names its coarse bucket.
        let (nb, _) = bucket(head << extra, p);
        let idx = if signed {
            2 * nb as usize + sign
        } else {
            nb as usize
        };
        if let Some(slot) = out.get_mut(idx) {
            *slot += c;
        }
    }
}

/// A Huffman candidate: plan, estimated payload bytes, and its sampled histogram.
struct HuffCandidate {
    plan: Plan,
    bytes: usize,
    sample: Vec<u32>,
}

/// Best Huffman plan by estimate, from a sample of the column.
fn estimate_huffman<T: Word>(values: &[T], st: &Stats) -> Option<HuffCandidate> {
    let n = st.n;
    if n < 2 {
        return None;
    }
    let range = st.max - st.min;
    let exact = range < MAX_SYMBOLS as u64;
    let mut hist_exact = vec![0u32; if exact { range as usize + 1 } else { 0 }];
    let mut hist_for = [0u32; FINE_SYMS];
    let mut hist_delta = [0u32; 2 * FINE_SYMS];
    let (mut nf, mut nd) = (0usize, 0usize);
    for r in sample_ranges(n) {
        // Start one early so the run's first value has a difference too.
        let lead = r.start.saturating_sub(1);
        let Some(chunk) = values.get(lead..r.end) else {
            continue;
        };
        let Some((first, rest)) = chunk.split_first() else {
            continue;
        };
        let mut prev = first.to_u64();
        if r.start == 0 {
            let off = prev - st.min;
            if let Some(h) = hist_for.get_mut(bucket(off, FINE_P).0 as usize) {
                *h += 1;
            }
            if let Some(h) = hist_exact.get_mut(off as usize) {
                *h += 1;
            }
            nf += 1;
        }
        for v in rest {
            let x = v.to_u64();
            let off = x - st.min;
            if let Some(h) = hist_for.get_mut(bucket(off, FINE_P).0 as usize) {
                *h += 1;
            }
            if exact {
                if let Some(h) = hist_exact.get_mut(off as usize) {
                    *h += 1;
                }
            }
            let d = x.wrapping_sub(prev) as i64;
            let neg = d < 0;
            let m = if neg { !d as u64 } else { d as u64 };
            let s = 2 * bucket(m, FINE_P).0 as usize + usize::from(neg);
            if let Some(h) = hist_delta.get_mut(s) {
                *h += 1;
            }
            prev = x;
        }
        nf += rest.len();
        nd += rest.len();
    }
    let scale_f = n as f64 / nf.max(1) as f64;
    let scale_d = (n - 1) as f64 / nd.max(1) as f64;
    let first_value = values.first().map_or(0, |v| v.to_u64());
    let mut best: Option<HuffCandidate> = None;
    let mut offer = |plan: Plan, bytes: usize, sample: &[u32]| {
        if best.as_ref().is_none_or(|b| bytes < b.bytes) {
            best = Some(HuffCandidate {
                plan,
                bytes,
                sample: sample.to_vec(),
            });
        }
    };
    if exact {
        let span = symbol_range(st, EXACT_P, false).1 + 1;
        let bytes = entropy::estimate_bytes(&hist_exact, EXACT_P, false, scale_f, st.min, span);
        offer(Plan::ForHuffman(EXACT_P), bytes, &[]);
    }
    let mut hf = [0u32; FINE_SYMS];
    let mut hd = [0u32; 2 * FINE_SYMS];
    for p in COARSE_P {
        let (hf, hd): (&[u32], &[u32]) = if p == FINE_P {
            (&hist_for, &hist_delta)
        } else {
            coarsen(&hist_for, p, false, &mut hf);
            coarsen(&hist_delta, p, true, &mut hd);
            (&hf, &hd)
        };
        let (lo, hi, _) = symbol_range(st, p, false);
        let bytes = entropy::estimate_bytes(hf, p, false, scale_f, st.min, hi + 1 - lo);
        offer(Plan::ForHuffman(p), bytes, hf);
        let (lo, hi, _) = symbol_range(st, p, true);
        let bytes = entropy::estimate_bytes(hd, p, true, scale_d, first_value, hi + 1 - lo.min(hi));
        offer(Plan::DeltaHuffman(p), bytes, hd);
    }
    best
}

/// What the chooser decided.
#[derive(Debug, Clone)]
pub(crate) struct Choice {
    pub(crate) plan: Plan,
    /// Estimated payload bytes of `plan` (exact unless it is a Huffman plan).
    pub(crate) bytes: usize,
    /// Best non-Huffman plan, written instead if the Huffman payload turns out larger.
    pub(crate) fallback: Plan,
    pub(crate) fallback_bytes: usize,
    stats: Stats,
    /// Sampled symbol histogram of a coarse Huffman plan, to build its code without a full pass.
    sample: Vec<u32>,
}

/// The chooser: exact sizes of the bit-packing codecs from one pass of block statistics, and a
/// sampled entropy estimate for the Huffman codecs.
pub(crate) fn choose<T: Word>(values: &[T]) -> Choice {
    let st = stats(values);
    let n = st.n;
    let simple = |plan, bytes| Choice {
        plan,
        bytes,
        fallback: plan,
        fallback_bytes: bytes,
        stats: st,
        sample: Vec::new(),
    };
    if n == 0 {
        return simple(Plan::Plain, 0);
    }
    if st.min == st.max {
        return simple(Plan::Constant, varint_len(st.min));
    }
    // Preference order on ties: faster decoders first.
    let mut best = (Plan::For, st.for_bytes);
    for (plan, bytes) in [(Plan::Delta, st.delta_bytes), (Plan::Plain, n * T::BYTES)] {
        if bytes < best.1 {
            best = (plan, bytes);
        }
    }
    if st.runs <= n / 4 {
        let bytes = rle_bytes(values, st.min);
        if bytes < best.1 {
            best = (Plan::Rle, bytes);
        }
    }
    if let Some(h) = estimate_huffman(values, &st) {
        if h.bytes * 100 < best.1 * (100 - HUFFMAN_MARGIN_PCT) {
            return Choice {
                plan: h.plan,
                bytes: h.bytes,
                fallback: best.0,
                fallback_bytes: best.1,
                stats: st,
                sample: h.sample,
            };
        }
    }
    simple(best.0, best.1)
}

/// Encodes a whole column frame with the chooser's pick.
pub(crate) fn encode_ints<T: Word>(values: &[T], out: &mut Vec<u8>, try_lz4: bool) {
    encode_chosen(values, &choose(values), out, try_lz4);
}

/// Encodes a whole column frame with a choice [`choose`] made on the same values.
pub(crate) fn encode_chosen<T: Word>(values: &[T], c: &Choice, out: &mut Vec<u8>, try_lz4: bool) {
    let start = out.len();
    let sample = (!c.sample.is_empty()).then_some(&c.sample[..]);
    let mut codec = c.plan.codec();
    if !write_payload(values, c.plan, &c.stats, sample, out, c.fallback_bytes) {
        out.truncate(start);
        write_payload(values, c.fallback, &c.stats, None, out, usize::MAX);
        codec = c.fallback.codec();
    }
    if try_lz4 {
        codec = maybe_lz4(out, start, codec);
    }
    finish_frame(out, start, codec, values.len());
}

/// Encodes a frame with a forced plan; false (and nothing written) if the plan cannot represent
/// the values (e.g. `Constant` of differing values, or a Huffman alphabet above 4096 symbols).
#[cfg(test)]
pub(crate) fn encode_ints_with<T: Word>(values: &[T], plan: Plan, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    if !write_payload(values, plan, &stats(values), None, out, usize::MAX) {
        out.truncate(start);
        return false;
    }
    finish_frame(out, start, plan.codec(), values.len());
    true
}

/// Appends the payload of `plan`. Huffman plans give up (returning false) if the payload would
/// exceed `limit` bytes.
fn write_payload<T: Word>(
    values: &[T],
    plan: Plan,
    st: &Stats,
    sample: Option<&[u32]>,
    out: &mut Vec<u8>,
    limit: usize,
) -> bool {
    match plan {
        Plan::Plain => {
            out.reserve(values.len() * T::BYTES);
            for v in values {
                let b = v.to_u64().to_le_bytes();
                out.extend_from_slice(b.get(..T::BYTES).unwrap_or(&b));
            }
            true
        }
        Plan::Constant => {
            if st.min != st.max {
                return false;
            }
            write_varint(out, st.min);
            true
        }
        Plan::Rle => {
            write_rle(values, st.min, out);
            true
        }
        Plan::For => {
            write_for(values, st.min, out);
            true
        }
        Plan::Delta => {
            write_delta(values, st.dmin, out);
            true
        }
        Plan::ForHuffman(p) => entropy::write(values, false, p, st, sample, out, limit),
        Plan::DeltaHuffman(p) => entropy::write(values, true, p, st, sample, out, limit),
    }
}

fn write_rle<T: Word>(values: &[T], min: u64, out: &mut Vec<u8>) {
    write_varint(out, min);
    let mut iter = values.iter().map(|v| v.to_u64());
    let Some(mut cur) = iter.next() else {
        return;
    };
    let mut run = 1u64;
    for x in iter {
        if x == cur {
            run += 1;
        } else {
            write_varint(out, cur - min);
            write_varint(out, run);
            cur = x;
            run = 1;
        }
    }
    write_varint(out, cur - min);
    write_varint(out, run);
}

fn write_for<T: Word>(values: &[T], min: u64, out: &mut Vec<u8>) {
    write_varint(out, min);
    let mut buf = [0u64; BLOCK];
    for chunk in values.chunks(BLOCK) {
        let (mut lo, mut hi) = (u64::MAX, 0u64);
        for (slot, v) in buf.iter_mut().zip(chunk) {
            let x = v.to_u64();
            *slot = x;
            lo = lo.min(x);
            hi = hi.max(x);
        }
        let width = bit_width(hi - lo);
        write_varint(out, lo - min);
        out.push(width as u8);
        for slot in buf.iter_mut().take(chunk.len()) {
            *slot -= lo;
        }
        pack_block(buf.get(..chunk.len()).unwrap_or(&[]), width, out);
    }
}

fn write_delta<T: Word>(values: &[T], dmin: i64, out: &mut Vec<u8>) {
    let Some(first) = values.first().map(|v| v.to_u64()) else {
        return;
    };
    write_varint(out, first);
    write_varint(out, zigzag(dmin));
    let mut buf = [0u64; BLOCK];
    let mut prev = first;
    for chunk in values.get(1..).unwrap_or(&[]).chunks(BLOCK) {
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for (slot, v) in buf.iter_mut().zip(chunk) {
            let x = v.to_u64();
            let d = x.wrapping_sub(prev);
            prev = x;
            *slot = d;
            lo = lo.min(d as i64);
            hi = hi.max(d as i64);
        }
        let width = bit_width((hi as u64).wrapping_sub(lo as u64));
        write_varint(out, (lo as u64).wrapping_sub(dmin as u64));
        out.push(width as u8);
        for slot in buf.iter_mut().take(chunk.len()) {
            *slot = slot.wrapping_sub(lo as u64);
        }
        pack_block(buf.get(..chunk.len()).unwrap_or(&[]), width, out);
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

#[inline]
fn err(at: usize, reason: &'static str) -> DecodeError {
    DecodeError::new(at, reason)
}

/// Decodes one integer column frame into `out` (cleared first); returns the frame's length.
pub(crate) fn decode_ints<T: Word>(
    input: &[u8],
    max_values: usize,
    out: &mut Vec<T>,
) -> Result<usize, DecodeError> {
    let frame = read_frame(input, max_values)?;
    out.clear();
    with_payload(&frame, |codec, payload, at| {
        decode_payload(codec, payload, at, frame.count, out)
    })?;
    Ok(frame.consumed)
}

/// Decodes `n` values of an integer payload; `at` is the payload's offset for errors.
pub(crate) fn decode_payload<T: Word>(
    codec: Codec,
    payload: &[u8],
    at: usize,
    n: usize,
    out: &mut Vec<T>,
) -> Result<(), DecodeError> {
    out.clear();
    let r = match codec {
        Codec::Plain => decode_plain(payload, n, out),
        Codec::Constant => decode_constant(payload, n, out),
        Codec::Rle => decode_rle(payload, n, out),
        Codec::ForBitPack => decode_for(payload, n, out),
        Codec::DeltaBitPack => decode_delta(payload, n, out),
        Codec::ForHuffman => entropy::decode(payload, n, out, false),
        Codec::DeltaHuffman => entropy::decode(payload, n, out, true),
        _ => Err(err(0, "codec not valid for an integer column")),
    };
    r.map_err(|e| err(at + e.offset, e.reason))
}

fn end_check(payload: &[u8], pos: usize) -> Result<(), DecodeError> {
    if pos == payload.len() {
        Ok(())
    } else {
        Err(err(pos, "trailing bytes after column data"))
    }
}

fn range_check(ok: bool) -> Result<(), DecodeError> {
    if ok {
        Ok(())
    } else {
        Err(err(0, "decoded value out of range for the column type"))
    }
}

fn decode_plain<T: Word>(payload: &[u8], n: usize, out: &mut Vec<T>) -> Result<(), DecodeError> {
    if Some(payload.len()) != n.checked_mul(T::BYTES) {
        return Err(err(0, "plain payload size does not match value count"));
    }
    out.reserve(n);
    let mut ok = true;
    for chunk in payload.chunks_exact(T::BYTES) {
        let mut b = [0u8; 8];
        for (d, &s) in b.iter_mut().zip(chunk) {
            *d = s;
        }
        let (v, good) = T::from_u64(u64::from_le_bytes(b));
        ok &= good;
        out.push(v);
    }
    range_check(ok)
}

fn decode_constant<T: Word>(payload: &[u8], n: usize, out: &mut Vec<T>) -> Result<(), DecodeError> {
    let mut pos = 0;
    let (v, ok) = T::from_u64(read_varint(payload, &mut pos)?);
    range_check(ok)?;
    end_check(payload, pos)?;
    out.resize(n, v);
    Ok(())
}

fn decode_rle<T: Word>(payload: &[u8], n: usize, out: &mut Vec<T>) -> Result<(), DecodeError> {
    let mut pos = 0;
    let base = read_varint(payload, &mut pos)?;
    out.reserve(n);
    while out.len() < n {
        let at = pos;
        let x = base.wrapping_add(read_varint(payload, &mut pos)?);
        let remaining = n - out.len();
        let run = read_len(payload, &mut pos, remaining, "run longer than the column")?;
        if run == 0 {
            return Err(err(at, "zero-length run"));
        }
        let (v, ok) = T::from_u64(x);
        if !ok {
            return Err(err(at, "decoded value out of range for the column type"));
        }
        out.resize(out.len() + run, v);
    }
    end_check(payload, pos)
}

/// Reads a block header `[varint offset][u8 width]` and returns the block's packed bytes.
fn block_header<'a>(
    payload: &'a [u8],
    pos: &mut usize,
    len: usize,
) -> Result<(u64, u32, &'a [u8]), DecodeError> {
    let off = read_varint(payload, pos)?;
    let wat = *pos;
    let width = u32::from(*payload.get(wat).ok_or(err(wat, "truncated block header"))?);
    if width > 64 {
        return Err(err(wat, "bit width above 64"));
    }
    *pos += 1;
    let nb = packed_len(len, width);
    let bytes = payload
        .get(*pos..*pos + nb)
        .ok_or(err(*pos, "truncated bit-packed block"))?;
    *pos += nb;
    Ok((off, width, bytes))
}

fn decode_for<T: Word>(payload: &[u8], n: usize, out: &mut Vec<T>) -> Result<(), DecodeError> {
    let mut pos = 0;
    let base = read_varint(payload, &mut pos)?;
    out.resize(n, T::default());
    let mut buf = [0u64; BLOCK];
    let mut ok = true;
    for chunk in out.chunks_mut(BLOCK) {
        let (off, width, bytes) = block_header(payload, &mut pos, chunk.len())?;
        unpack_block(bytes, width, &mut buf[..chunk.len().min(BLOCK)]);
        let lo = base.wrapping_add(off);
        for (slot, &o) in chunk.iter_mut().zip(&buf) {
            let (v, good) = T::from_u64(lo.wrapping_add(o));
            ok &= good;
            *slot = v;
        }
    }
    range_check(ok)?;
    end_check(payload, pos)
}

fn decode_delta<T: Word>(payload: &[u8], n: usize, out: &mut Vec<T>) -> Result<(), DecodeError> {
    if n == 0 {
        return end_check(payload, 0);
    }
    let mut pos = 0;
    let first = read_varint(payload, &mut pos)?;
    let dmin = unzigzag(read_varint(payload, &mut pos)?) as u64;
    out.resize(n, T::default());
    let (head, rest) = out.split_at_mut(1);
    let (v0, mut ok) = T::from_u64(first);
    if let Some(slot) = head.first_mut() {
        *slot = v0;
    }
    let mut buf = [0u64; BLOCK];
    let mut prev = first;
    for chunk in rest.chunks_mut(BLOCK) {
        let (off, width, bytes) = block_header(payload, &mut pos, chunk.len())?;
        unpack_block(bytes, width, &mut buf[..chunk.len().min(BLOCK)]);
        let lo = dmin.wrapping_add(off);
        for (slot, &o) in chunk.iter_mut().zip(&buf) {
            prev = prev.wrapping_add(lo.wrapping_add(o));
            let (v, good) = T::from_u64(prev);
            ok &= good;
            *slot = v;
        }
    }
    range_check(ok)?;
    end_check(payload, pos)
}
