//! `f64` columns, lossless to the bit (NaN payloads, -0.0 and infinities round-trip exactly).
//!
//! Two forms, whichever the estimate says is smaller:
//!
//! * Raw bits: the frame carries an integer codec id (`Plain`, `Constant`, `Rle`, `ForBitPack`,
//!   ...) and the payload encodes `f64::to_bits` of each value exactly as an integer column would.
//!   Repeated values and same-sign, same-exponent clusters compress this way.
//! * `FloatXor` (8): `[u8 shift 0..=63][nested u64 column frame]`. The nested column holds
//!   `(bits[i] ^ bits[i-1]) >> shift` (with `bits[-1] = 0`), where `shift` is the smallest number
//!   of trailing zeros among the non-zero XORs. Slowly changing series have XORs with many leading
//!   zeros; integer-valued or short-decimal series also have trailing zeros, which `shift` drops.

use super::column::{finish_frame, maybe_lz4, read_frame, with_payload};
use super::int::{choose, decode_ints, decode_payload, encode_chosen, encode_ints};
use super::Codec;
use crate::error::DecodeError;

/// Appends an `f64` column frame.
pub(crate) fn encode_f64s(values: &[f64], out: &mut Vec<u8>) {
    let raw = choose(values);
    let mut xors = Vec::with_capacity(values.len());
    let mut prev = 0u64;
    for v in values {
        let b = v.to_bits();
        xors.push(b ^ prev);
        prev = b;
    }
    let shift = xors
        .iter()
        .filter(|&&x| x != 0)
        .map(|x| x.trailing_zeros())
        .min()
        .unwrap_or(0);
    if shift > 0 {
        for x in &mut xors {
            *x >>= shift;
        }
    }
    let xor = choose(&xors);
    // The XOR form pays one shift byte and a nested frame header (about 4 bytes).
    if xor.bytes + 5 < raw.bytes {
        let start = out.len();
        out.push(shift as u8);
        encode_ints(&xors, out, false);
        let codec = maybe_lz4(out, start, Codec::FloatXor);
        finish_frame(out, start, codec, values.len());
    } else {
        encode_chosen(values, &raw, out, true);
    }
}

/// Decodes an `f64` column frame into `out` (cleared first); returns the frame's length.
pub(crate) fn decode_f64s(
    input: &[u8],
    max_values: usize,
    out: &mut Vec<f64>,
) -> Result<usize, DecodeError> {
    let frame = read_frame(input, max_values)?;
    out.clear();
    with_payload(&frame, |codec, payload, at| {
        if codec != Codec::FloatXor {
            return decode_payload(codec, payload, at, frame.count, out);
        }
        let shift = u32::from(
            *payload
                .first()
                .ok_or(DecodeError::new(at, "truncated float column"))?,
        );
        if shift > 63 {
            return Err(DecodeError::new(at, "float XOR shift above 63"));
        }
        let nested = payload.get(1..).unwrap_or(&[]);
        let used = decode_ints::<f64>(nested, frame.count, out)
            .map_err(|e| DecodeError::new(at + 1 + e.offset, e.reason))?;
        if out.len() != frame.count {
            return Err(DecodeError::new(
                at + 1,
                "nested column has the wrong value count",
            ));
        }
        if used != nested.len() {
            return Err(DecodeError::new(
                at + 1 + used,
                "trailing bytes after column data",
            ));
        }
        let mut prev = 0u64;
        for v in out.iter_mut() {
            let b = (v.to_bits() << shift) ^ prev;
            prev = b;
            *v = f64::from_bits(b);
        }
        Ok(())
    })?;
    Ok(frame.consumed)
}
