//! `bool` columns, as a bitmap or as run lengths, whichever is smaller.
//!
//! * `BoolBitmap` (9): `ceil(n / 8)` bytes, value `i` in bit `i % 8` of byte `i / 8`; unused bits
//!   of the last byte are zero.
//! * `BoolRuns` (10): `[u8 first value 0 or 1]` then varint run lengths (each >= 1, adding up to
//!   `n`), alternating between the two values. A column that is all one value is 2-4 bytes.

use super::column::{finish_frame, maybe_lz4, read_frame, with_payload};
use super::varint::{read_len, varint_len, write_varint};
use super::Codec;
use crate::error::DecodeError;

/// Appends a `bool` column frame.
pub(crate) fn encode_bools(values: &[bool], out: &mut Vec<u8>) {
    let start = out.len();
    let n = values.len();
    let mut runs_bytes = 1usize;
    for_each_run(values, |_, run| runs_bytes += varint_len(run as u64));
    let codec = if n == 0 || runs_bytes < n.div_ceil(8) {
        out.push(u8::from(values.first().copied().unwrap_or(false)));
        for_each_run(values, |_, run| write_varint(out, run as u64));
        Codec::BoolRuns
    } else {
        for chunk in values.chunks(8) {
            let byte = chunk
                .iter()
                .enumerate()
                .fold(0u8, |acc, (i, &b)| acc | (u8::from(b) << i));
            out.push(byte);
        }
        Codec::BoolBitmap
    };
    let codec = maybe_lz4(out, start, codec);
    finish_frame(out, start, codec, n);
}

fn for_each_run(values: &[bool], mut f: impl FnMut(bool, usize)) {
    let mut iter = values.iter().copied();
    let Some(mut cur) = iter.next() else {
        return;
    };
    let mut run = 1usize;
    for b in iter {
        if b == cur {
            run += 1;
        } else {
            f(cur, run);
            cur = b;
            run = 1;
        }
    }
    f(cur, run);
}

/// Decodes a `bool` column frame into `out` (cleared first); returns the frame's length.
pub(crate) fn decode_bools(
    input: &[u8],
    max_values: usize,
    out: &mut Vec<bool>,
) -> Result<usize, DecodeError> {
    let frame = read_frame(input, max_values)?;
    out.clear();
    let n = frame.count;
    with_payload(&frame, |codec, payload, at| {
        let e = |off: usize, reason| DecodeError::new(at + off, reason);
        match codec {
            Codec::BoolBitmap => {
                if payload.len() != n.div_ceil(8) {
                    return Err(e(0, "bitmap size does not match value count"));
                }
                if n % 8 != 0 && payload.last().is_some_and(|&b| b >> (n % 8) != 0) {
                    return Err(e(payload.len() - 1, "bitmap padding bits not zero"));
                }
                out.reserve(n);
                for &byte in payload {
                    for i in 0..8 {
                        if out.len() < n {
                            out.push(byte >> i & 1 == 1);
                        }
                    }
                }
                Ok(())
            }
            Codec::BoolRuns => {
                let mut value = match payload.first() {
                    Some(0) => false,
                    Some(1) => true,
                    _ => return Err(e(0, "bad first value of boolean runs")),
                };
                let mut pos = 1;
                out.reserve(n);
                while out.len() < n {
                    let at_run = pos;
                    let run = read_len(
                        payload,
                        &mut pos,
                        n - out.len(),
                        "run longer than the column",
                    )
                    .map_err(|x| e(x.offset, x.reason))?;
                    if run == 0 {
                        return Err(e(at_run, "zero-length run"));
                    }
                    out.resize(out.len() + run, value);
                    value = !value;
                }
                if pos != payload.len() {
                    return Err(e(pos, "trailing bytes after column data"));
                }
                Ok(())
            }
            _ => Err(e(0, "codec not valid for a boolean column")),
        }
    })?;
    Ok(frame.consumed)
}
