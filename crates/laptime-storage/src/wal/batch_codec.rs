//! The WAL payload of one batch: fixed-width little-endian dense columns (cheap to write at tens of
//! millions of events per second), then the sparse messages and fields.
//!
//! ```text
//! first_seq u64 | n u32 | names u32*n | starts u64*n | durations u64*n | codes u8*n
//! | varint message count | (varint row, varint len, bytes)*
//! | varint field count   | (varint row, varint key, u8 type, value)*
//! value: i64 zigzag varint | f64 8 bytes LE | bool u8 | string: varint len, bytes
//! [ | 'O' | source: varint len, bytes | varint first seq | varint end seq ]   received batches
//! ```

use crate::encoding::varint::{read_varint, write_varint};
use crate::error::DecodeError;
use crate::event::{Batch, Value, ValueRef, ValueType, MAX_CODE_BYTE};

/// Append the encoding of `batch` (events numbered from `first_seq`) to `out`.
pub(crate) fn encode_batch(first_seq: u64, batch: &Batch, out: &mut Vec<u8>) {
    let n = batch.len();
    out.reserve(12 + n * 21);
    out.extend_from_slice(&first_seq.to_le_bytes());
    out.extend_from_slice(&(n as u32).to_le_bytes());
    put_le(out, &batch.names, u32::to_le_bytes);
    put_le(out, &batch.starts, u64::to_le_bytes);
    put_le(out, &batch.durations, u64::to_le_bytes);
    out.extend_from_slice(&batch.codes);
    write_varint(out, batch.messages.len() as u64);
    for (row, msg) in &batch.messages {
        write_varint(out, u64::from(*row));
        write_varint(out, msg.len() as u64);
        out.extend_from_slice(msg.as_bytes());
    }
    write_varint(out, batch.field_count() as u64);
    for f in batch.fields() {
        write_varint(out, u64::from(f.row));
        write_varint(out, u64::from(f.key));
        out.push(f.value.type_tag() as u8);
        match f.value {
            ValueRef::I64(v) => write_varint(out, ((v << 1) ^ (v >> 63)) as u64),
            ValueRef::F64(v) => out.extend_from_slice(&v.to_bits().to_le_bytes()),
            ValueRef::Bool(v) => out.push(u8::from(v)),
            ValueRef::Str(s) => {
                write_varint(out, s.len() as u64);
                out.extend_from_slice(s.as_bytes());
            }
        }
    }
    // A received batch ends with its origin, in the same record: stored and recognised together.
    if let Some(o) = &batch.origin {
        out.push(ORIGIN_TAG);
        write_varint(out, o.source.len() as u64);
        out.extend_from_slice(o.source.as_bytes());
        write_varint(out, o.first_seq);
        write_varint(out, o.end_seq);
    }
}

/// Append `values` as fixed-width little-endian words. The destination is sized once and filled
/// chunk by chunk, which the compiler turns into a plain copy on little-endian targets (pushing
/// word by word costs a capacity check each and was an eighth of the writer's time).
fn put_le<T: Copy, const W: usize>(out: &mut Vec<u8>, values: &[T], le: fn(T) -> [u8; W]) {
    let at = out.len();
    out.resize(at + values.len() * W, 0);
    for (dst, &v) in out[at..].chunks_exact_mut(W).zip(values) {
        dst.copy_from_slice(&le(v));
    }
}

/// Marks the optional origin at the end of a batch record.
const ORIGIN_TAG: u8 = b'O';

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(DecodeError::new(self.pos, "length overflows"))?;
        let s = self
            .b
            .get(self.pos..end)
            .ok_or(DecodeError::new(self.pos, "batch record truncated"))?;
        self.pos = end;
        Ok(s)
    }
    fn varint(&mut self) -> Result<u64, DecodeError> {
        read_varint(self.b, &mut self.pos)
    }
    fn string(&mut self) -> Result<String, DecodeError> {
        let at = self.pos;
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| DecodeError::new(at, "string too long"))?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::new(at, "string is not UTF-8"))
    }
}

/// Decode a batch record; returns (first_seq, batch). Rejects anything the encoder cannot produce.
pub(crate) fn decode_batch(input: &[u8]) -> Result<(u64, Batch), DecodeError> {
    let mut c = Cursor { b: input, pos: 0 };
    let first_seq = u64::from_le_bytes(c.take(8)?.try_into().unwrap_or([0; 8]));
    let n = u32::from_le_bytes(c.take(4)?.try_into().unwrap_or([0; 4])) as usize;
    // 21 bytes per event must be present before anything is allocated for them.
    if n.saturating_mul(21) > input.len() {
        return Err(DecodeError::new(8, "event count larger than the record"));
    }
    let mut b = Batch::with_capacity(n);
    b.names.extend(
        c.take(n * 4)?
            .chunks_exact(4)
            .map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]])),
    );
    let le64 = |x: &[u8]| {
        let mut a = [0u8; 8];
        a.copy_from_slice(x);
        u64::from_le_bytes(a)
    };
    b.starts.extend(c.take(n * 8)?.chunks_exact(8).map(le64));
    b.durations.extend(c.take(n * 8)?.chunks_exact(8).map(le64));
    let codes_at = c.pos;
    b.codes.extend_from_slice(c.take(n)?);
    if b.codes.iter().any(|&x| x > MAX_CODE_BYTE) {
        return Err(DecodeError::new(codes_at, "unknown event code"));
    }
    let messages = c.varint()?;
    if messages > n as u64 {
        return Err(DecodeError::new(c.pos, "more messages than events"));
    }
    let mut last_row: Option<u32> = None;
    for _ in 0..messages {
        let at = c.pos;
        let row = c.varint()?;
        if row >= n as u64 || last_row.is_some_and(|l| u64::from(l) >= row) {
            return Err(DecodeError::new(at, "message row out of order or range"));
        }
        last_row = Some(row as u32);
        let msg = c.string()?;
        b.messages.push((row as u32, msg));
    }
    let fields = c.varint()?;
    if fields > (input.len() - c.pos) as u64 {
        return Err(DecodeError::new(c.pos, "more fields than bytes"));
    }
    let mut last_row = 0u32;
    for _ in 0..fields {
        let at = c.pos;
        let row = c.varint()?;
        if row >= n as u64 || (row as u32) < last_row {
            return Err(DecodeError::new(at, "field row out of order or range"));
        }
        last_row = row as u32;
        let key = c.varint()?;
        let key = u32::try_from(key).map_err(|_| DecodeError::new(at, "field key out of range"))?;
        let t =
            ValueType::from_u8(c.take(1)?[0]).ok_or(DecodeError::new(at, "unknown field type"))?;
        let value = match t {
            ValueType::I64 => {
                let z = c.varint()?;
                Value::I64(((z >> 1) as i64) ^ -((z & 1) as i64))
            }
            ValueType::F64 => Value::F64(f64::from_bits(le64(c.take(8)?))),
            ValueType::Bool => match c.take(1)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                _ => return Err(DecodeError::new(at, "bad boolean")),
            },
            ValueType::Str => Value::Str(c.string()?),
        };
        b.add_field_at(row as u32, key, value)
            .map_err(|_| DecodeError::new(at, "field text beyond 4 GiB"))?;
    }
    if c.pos < input.len() {
        let at = c.pos;
        if c.take(1)?[0] != ORIGIN_TAG {
            return Err(DecodeError::new(at, "trailing bytes after batch"));
        }
        let source = c.string()?;
        let first = c.varint()?;
        let end = c.varint()?;
        b.set_origin(&source, first, end)
            .map_err(|_| DecodeError::new(at, "bad batch origin"))?;
    }
    if c.pos != input.len() {
        return Err(DecodeError::new(c.pos, "trailing bytes after batch"));
    }
    Ok((first_seq, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Level;
    use proptest::prelude::*;

    fn sample() -> Batch {
        let mut b = Batch::default();
        b.push_call(3, 100, 5, true);
        b.add_field(9, Value::Str("/users".into()));
        b.add_field(10, Value::I64(-42));
        b.push_log(4, 200, Level::Warn, "disk at 91%");
        b.add_field(11, Value::F64(-0.0));
        b.add_field(12, Value::Bool(true));
        b.push_call(3, 300, u64::MAX, false);
        b
    }

    #[test]
    fn a_received_batch_keeps_its_origin_and_a_bad_one_is_refused() {
        let mut b = sample();
        b.set_origin("0123456789abcdef", 1_000, 1_003).unwrap();
        let mut out = Vec::new();
        encode_batch(5, &b, &mut out);
        let (_, back) = decode_batch(&out).unwrap();
        assert_eq!(back, b);
        assert_eq!(
            back.origin().map(|o| (&*o.source, o.end_seq)),
            Some(("0123456789abcdef", 1_003))
        );
        // Reversed range, other tag, junk after the origin.
        let mut reversed = Vec::new();
        encode_batch(5, &sample(), &mut reversed);
        let plain = reversed.len();
        reversed.extend_from_slice(&[ORIGIN_TAG, 1, b's', 9, 3]);
        assert_eq!(
            decode_batch(&reversed).unwrap_err().reason,
            "bad batch origin"
        );
        let mut other = out[..plain].to_vec();
        other.push(b'X');
        assert_eq!(
            decode_batch(&other).unwrap_err().reason,
            "trailing bytes after batch"
        );
        let mut junk = out.clone();
        junk.push(0);
        assert_eq!(
            decode_batch(&junk).unwrap_err().reason,
            "trailing bytes after batch"
        );
    }

    #[test]
    fn round_trip() {
        let mut out = Vec::new();
        encode_batch(77, &sample(), &mut out);
        let (seq, b) = decode_batch(&out).unwrap();
        assert_eq!(seq, 77);
        assert_eq!(b, sample());
    }

    #[test]
    fn string_values_of_a_trimmed_batch_round_trip_exactly() {
        // After a removal the batch's text still holds the removed rows' strings; only the kept
        // ones may reach the log.
        let mut b = Batch::default();
        for i in 0..4u64 {
            let row = b.push_call(3, 100 + i, 5, true);
            b.add_field_at(row, 9, Value::Str(format!("row {i} ✓")))
                .unwrap();
        }
        b.remove_rows(&[false, true, true, false]);
        let mut out = Vec::new();
        encode_batch(5, &b, &mut out);
        assert!(
            !out.windows(5).any(|w| w == b"row 1"),
            "a removed row's text is not written"
        );
        let (_, back) = decode_batch(&out).unwrap();
        assert_eq!(back, b);
        let values: Vec<Value> = back.fields().map(|f| f.value.to_value()).collect();
        assert_eq!(
            values,
            [Value::Str("row 0 ✓".into()), Value::Str("row 3 ✓".into())]
        );
    }

    #[test]
    fn truncations_are_errors() {
        let mut out = Vec::new();
        encode_batch(1, &sample(), &mut out);
        for cut in 0..out.len() {
            assert!(decode_batch(&out[..cut]).is_err(), "cut at {cut}");
        }
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_batch(&bytes);
        }

        #[test]
        fn random_batches_round_trip(events in proptest::collection::vec(
            (any::<u32>(), any::<u64>(), any::<u64>(), 0u8..=7, proptest::option::of(any::<i64>()), proptest::option::of(".{0,20}")), 0..50)) {
            let mut b = Batch::default();
            for (name, start, dur, code, num, text) in events {
                b.push(name, start, dur, crate::event::Code::from_byte(code).unwrap());
                if let Some(t) = text { b.messages.push((b.len() as u32 - 1, t)); }
                if let Some(v) = num { b.add_field(1, Value::I64(v)); }
            }
            let mut out = Vec::new();
            encode_batch(5, &b, &mut out);
            let (seq, back) = decode_batch(&out).unwrap();
            prop_assert_eq!(seq, 5);
            prop_assert_eq!(back, b);
        }
    }
}
