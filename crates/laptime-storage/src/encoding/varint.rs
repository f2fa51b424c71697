//! Unsigned LEB128 varints and the zigzag map, shared by the column codecs and by the page and
//! segment code.
//!
//! Byte layout of a varint: 7 value bits per byte, least significant group first; the high bit of
//! each byte says "another byte follows". A `u64` takes 1 to 10 bytes. The reader rejects encodings
//! longer than 10 bytes and a 10th byte carrying bits above bit 63, so every accepted varint maps
//! to exactly one `u64` and a corrupt run of `0x80` bytes ends after at most 10 bytes.

use crate::error::DecodeError;

/// Longest varint of a `u64`, in bytes.
pub const MAX_VARINT_LEN: usize = 10;

/// Appends `value` as a varint.
#[inline]
pub fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    if value < 0x80 {
        out.push(value as u8);
        return;
    }
    // Built on the stack and appended once: one capacity check instead of one per byte. All of
    // it is appended and the surplus cut: a copy of a fixed size is a few moves, while one of the
    // varint's own length was a call to memmove (1.5 % of the writer's time in the ingest bench).
    let mut bytes = [0u8; MAX_VARINT_LEN];
    let mut len = 0;
    while value >= 0x80 {
        bytes[len] = (value as u8) | 0x80;
        value >>= 7;
        len += 1;
    }
    bytes[len] = value as u8;
    let start = out.len();
    out.extend_from_slice(&bytes);
    out.truncate(start + len + 1);
}

/// Number of bytes [`write_varint`] emits for `value` (1..=10).
#[inline]
pub fn varint_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Reads a varint starting at `input[*pos]` and advances `*pos` past it.
///
/// Errors carry the offset inside `input` where the varint started.
#[inline]
pub fn read_varint(input: &[u8], pos: &mut usize) -> Result<u64, DecodeError> {
    let start = *pos;
    // Fast path: one-byte values (counts, small widths) are by far the most common.
    match input.get(start) {
        Some(&b) if b < 0x80 => {
            *pos = start + 1;
            return Ok(u64::from(b));
        }
        Some(_) => {}
        None => return Err(DecodeError::new(start, "truncated varint")),
    }
    let mut value = 0u64;
    let mut shift = 0u32;
    let mut i = start;
    loop {
        let Some(&b) = input.get(i) else {
            return Err(DecodeError::new(start, "truncated varint"));
        };
        i += 1;
        if shift == 63 && b > 1 {
            return Err(DecodeError::new(start, "varint overflows u64"));
        }
        value |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            *pos = i;
            return Ok(value);
        }
        shift += 7;
        if shift > 63 {
            return Err(DecodeError::new(start, "varint longer than 10 bytes"));
        }
    }
}

/// Reads a varint that must fit in `usize` and be at most `limit`.
#[inline]
pub(crate) fn read_len(
    input: &[u8],
    pos: &mut usize,
    limit: usize,
    reason: &'static str,
) -> Result<usize, DecodeError> {
    let start = *pos;
    let v = read_varint(input, pos)?;
    match usize::try_from(v) {
        Ok(v) if v <= limit => Ok(v),
        _ => Err(DecodeError::new(start, reason)),
    }
}

/// Maps signed to unsigned so that small magnitudes of either sign get small codes:
/// 0, -1, 1, -2, ... become 0, 1, 2, 3, ...
#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline]
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip_and_length() {
        let samples = [
            0u64,
            1,
            127,
            128,
            255,
            16_383,
            16_384,
            u64::from(u32::MAX),
            1 << 56,
            u64::MAX - 1,
            u64::MAX,
        ];
        for &v in &samples {
            let mut buf = Vec::new();
            write_varint(&mut buf, v);
            assert_eq!(buf.len(), varint_len(v), "len of {v}");
            let mut pos = 0;
            assert_eq!(read_varint(&buf, &mut pos), Ok(v));
            assert_eq!(pos, buf.len());
            for cut in 0..buf.len() {
                let mut pos = 0;
                assert!(read_varint(&buf[..cut], &mut pos).is_err());
            }
        }
    }

    #[test]
    fn varint_rejects_overlong_and_overflow() {
        let mut pos = 0;
        assert!(read_varint(&[0x80; 11], &mut pos).is_err());
        let mut too_big = vec![0xff; 9];
        too_big.push(0x02);
        let mut pos = 0;
        assert!(read_varint(&too_big, &mut pos).is_err());
        let mut max = vec![0xff; 9];
        max.push(0x01);
        let mut pos = 0;
        assert_eq!(read_varint(&max, &mut pos), Ok(u64::MAX));
    }

    #[test]
    fn zigzag_round_trip() {
        for v in [0i64, -1, 1, -2, 2, i64::MIN, i64::MAX, 12_345, -98_765] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }
}
