//! The column frame shared by every value type, and the LZ4 wrapper codec.
//!
//! Frame: `[codec id u8][varint value count][varint payload length][payload]`. The frame is
//! self-delimiting, so a page stores columns back to back and a reader can skip one without
//! decoding it.
//!
//! `Lz4` payload: `[inner codec id u8][varint inner payload length][LZ4 block]`, where the LZ4
//! block (lz4_flex block format, no size prefix) decompresses to exactly the inner payload, which
//! is then decoded as if the frame had said `inner codec`. The inner codec is never `Lz4`.

use std::cell::Cell;

use super::varint::{read_len, write_varint};
use super::Codec;
use crate::error::DecodeError;

/// The wrapper is kept only if it is at most this many tenths of the payload (saves >= 10%).
const LZ4_KEEP_TENTHS: usize = 9;
/// Payloads smaller than this are not worth a compression attempt.
const LZ4_MIN_PAYLOAD: usize = 64;
/// Bytes compressed as a trial before compressing a large payload in full.
const LZ4_SAMPLE: usize = 2048;
/// An LZ4 block cannot expand more than about 255x (a match length byte adds at most 255).
const LZ4_MAX_RATIO: usize = 255;
/// Largest decompression buffer kept for reuse.
const SCRATCH_KEEP: usize = 16 << 20;

/// A parsed frame header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame<'a> {
    pub(crate) codec: Codec,
    pub(crate) count: usize,
    pub(crate) payload: &'a [u8],
    /// Offset of `payload` inside the decoded input, for error offsets.
    pub(crate) payload_offset: usize,
    /// Bytes of the whole frame.
    pub(crate) consumed: usize,
}

/// Parses the frame at the start of `input`.
pub(crate) fn read_frame(input: &[u8], max_values: usize) -> Result<Frame<'_>, DecodeError> {
    let &id = input
        .first()
        .ok_or(DecodeError::new(0, "empty input, expected a column"))?;
    let codec = Codec::from_u8(id).ok_or(DecodeError::new(0, "unknown codec id"))?;
    let mut pos = 1;
    let count = read_len(
        input,
        &mut pos,
        max_values,
        "column has more values than allowed",
    )?;
    let remaining = input.len().saturating_sub(pos);
    let len_at = pos;
    let len = read_len(input, &mut pos, usize::MAX, "payload length overflows")?;
    if len > remaining {
        return Err(DecodeError::new(len_at, "payload longer than input"));
    }
    let payload = input
        .get(pos..pos + len)
        .ok_or(DecodeError::new(len_at, "payload longer than input"))?;
    Ok(Frame {
        codec,
        count,
        payload,
        payload_offset: pos,
        consumed: pos + len,
    })
}

/// Turns the payload written at `out[start..]` into a complete frame by inserting the header.
pub(crate) fn finish_frame(out: &mut Vec<u8>, start: usize, codec: Codec, count: usize) {
    let payload_len = out.len().saturating_sub(start);
    let mut header = [0u8; 1 + 2 * super::varint::MAX_VARINT_LEN];
    header[0] = codec as u8;
    let mut h = 1;
    for mut v in [count as u64, payload_len as u64] {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if let Some(slot) = header.get_mut(h) {
                *slot = if v == 0 { byte } else { byte | 0x80 };
            }
            h += 1;
            if v == 0 {
                break;
            }
        }
    }
    // One memmove of the payload; cheaper than predicting the payload size exactly.
    out.splice(start..start, header.iter().take(h).copied());
}

/// Replaces the payload at `out[start..]` (written with `codec`) by its LZ4-wrapped form when that
/// saves at least 10%. Large payloads are first tried on a sample so incompressible data costs
/// only a small compression attempt. Returns the codec the frame must carry.
pub(crate) fn maybe_lz4(out: &mut Vec<u8>, start: usize, codec: Codec) -> Codec {
    let Some(payload) = out.get(start..) else {
        return codec;
    };
    let len = payload.len();
    if len < LZ4_MIN_PAYLOAD || codec == Codec::Constant {
        return codec;
    }
    if len > 2 * LZ4_SAMPLE {
        let mid = len / 2 - LZ4_SAMPLE / 2;
        if let Some(sample) = payload.get(mid..mid + LZ4_SAMPLE) {
            let c = lz4_flex::block::compress(sample);
            // Demand a bit more than the keep threshold from the sample, which sees less context.
            if c.len() * 100 > LZ4_SAMPLE * 85 {
                return codec;
            }
        }
    }
    force_lz4(out, start, codec, false)
}

/// LZ4-wraps `out[start..]`; unless `force`, keeps the result only if it saves >= 10%.
pub(crate) fn force_lz4(out: &mut Vec<u8>, start: usize, codec: Codec, force: bool) -> Codec {
    let Some(payload) = out.get(start..) else {
        return codec;
    };
    let len = payload.len();
    let mut wrapped = Vec::with_capacity(1 + 10 + lz4_flex::block::get_maximum_output_size(len));
    wrapped.push(codec as u8);
    write_varint(&mut wrapped, len as u64);
    let head = wrapped.len();
    wrapped.resize(head + lz4_flex::block::get_maximum_output_size(len), 0);
    let Some(dst) = wrapped.get_mut(head..) else {
        return codec;
    };
    let Ok(clen) = lz4_flex::block::compress_into(payload, dst) else {
        return codec;
    };
    wrapped.truncate(head + clen);
    if !force && wrapped.len() * 10 > len * LZ4_KEEP_TENTHS {
        return codec;
    }
    out.truncate(start);
    out.extend_from_slice(&wrapped);
    Codec::Lz4
}

thread_local! {
    /// Decompression buffer reused across calls on one thread; taken out while in use, so a
    /// nested decode simply gets a fresh one.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Calls `f(codec, payload, payload_offset)` with the frame's payload, decompressing an `Lz4`
/// wrapper first. Errors from inside a decompressed payload point at the wrapper's payload.
pub(crate) fn with_payload<R>(
    frame: &Frame<'_>,
    f: impl FnOnce(Codec, &[u8], usize) -> Result<R, DecodeError>,
) -> Result<R, DecodeError> {
    if frame.codec != Codec::Lz4 {
        return f(frame.codec, frame.payload, frame.payload_offset);
    }
    let at = frame.payload_offset;
    let p = frame.payload;
    let &inner_id = p
        .first()
        .ok_or(DecodeError::new(at, "truncated LZ4 wrapper"))?;
    let inner = match Codec::from_u8(inner_id) {
        Some(Codec::Lz4) | None => {
            return Err(DecodeError::new(at, "bad codec inside LZ4 wrapper"))
        }
        Some(c) => c,
    };
    let mut pos = 1;
    let block_limit = p.len().saturating_mul(LZ4_MAX_RATIO).saturating_add(64);
    let inner_len = read_len(p, &mut pos, block_limit, "LZ4 inner length implausible")
        .map_err(|e| DecodeError::new(at + e.offset, e.reason))?;
    let block = p.get(pos..).unwrap_or(&[]);
    let mut buf = SCRATCH.with(Cell::take);
    buf.clear();
    buf.resize(inner_len, 0);
    let result = match lz4_flex::block::decompress_into(block, &mut buf) {
        Ok(n) if n == inner_len => f(inner, &buf, at).map_err(|e| DecodeError::new(at, e.reason)),
        _ => Err(DecodeError::new(
            at + pos,
            "LZ4 block does not decompress to the stated length",
        )),
    };
    // Do not pin a huge buffer to the thread after an unusually large column.
    if buf.capacity() <= SCRATCH_KEEP {
        SCRATCH.with(|s| s.set(buf));
    }
    result
}
