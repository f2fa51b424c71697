//! The WAL payload of one batch. The dense columns are fixed-width words (cheap to write at tens of
//! millions of events per second), each as narrow as the batch allows; then the sparse messages
//! and fields, with rows as gaps and a string value repeated in the batch written once.
//!
//! ```text
//! first_seq u64 | n u32 (bit 31 set: this layout) | widths u8 | base u64 (the first start)
//! | names (u8|u16|u32)*n | (starts - base) mod 2^64 (u32|u64)*n | durations (u32|u64)*n | codes u8*n
//! | varint message count | (varint row gap, varint len, bytes)*
//! | varint field count   | (varint row gap, varint key, u8 type, value)*
//! widths: bits 0-1 name width (0: 1 byte, 1: 2, 2: 4) | bit 2: starts 8 bytes | bit 3: durations 8
//! row gap: a message's row minus (the previous message's row + 1); a field's row minus the previous
//!          field's row (rows never go down)
//! value: i64 zigzag varint | f64 8 bytes LE | bool u8
//!      | string (type 3): varint len, bytes | string again (type 4): varint index of an earlier
//!        string of this record (in the order they were written)
//! [ | 'O' | source: varint len, bytes | varint first seq | varint end seq ]   received batches
//! ```
//!
//! The first layout (bit 31 of n clear; still read, never written) had 4-byte names, 8-byte starts
//! and durations, absolute rows and every string in full: 33 bytes per R1-full event against 16.5
//! now (BENCHMARKS.md), and the WAL is written and synced once more for every event the pages hold.

use crate::encoding::varint::{read_varint, write_varint};
use crate::error::DecodeError;
use crate::event::{Batch, Value, ValueRef, ValueType, MAX_BATCH_EVENTS, MAX_CODE_BYTE};

/// Set in the event count of a record in the compact layout (a batch holds at most
/// [`MAX_BATCH_EVENTS`], the count's other 31 bits).
const COMPACT: u32 = 1 << 31;
/// Type byte of a string value written earlier in the same record.
const STR_AGAIN: u8 = ValueType::Str as u8 + 1;
/// Slots of the encoder's table of strings already written (direct-mapped: a value that loses its
/// slot is only written in full again).
const STRING_SLOTS: usize = 256;

const WIDE_STARTS: u8 = 1 << 2;
const WIDE_DURATIONS: u8 = 1 << 3;

/// Append the encoding of `batch` (events numbered from `first_seq`) to `out`. The store refuses
/// batches of more than [`MAX_BATCH_EVENTS`].
pub(crate) fn encode_batch(first_seq: u64, batch: &Batch, out: &mut Vec<u8>) {
    let n = batch.len();
    debug_assert!(n <= MAX_BATCH_EVENTS);
    // Widths from OR-folds of the bits above each narrow width: loops that vectorize (a u64 min or
    // max does not, on x86-64 without AVX-512, and was a third of this function).
    let name_bits = batch.names.iter().fold(0, |acc, &v| acc | v);
    let name_width = match name_bits {
        0..=0xff => 0u8,
        0x100..=0xffff => 1,
        _ => 2,
    };
    // Starts as offsets from the first, modulo 2^64: an earlier start wraps to a large offset.
    let base = batch.starts.first().copied().unwrap_or(0);
    let wide_starts = batch
        .starts
        .iter()
        .fold(0, |acc, &s| acc | (s.wrapping_sub(base) >> 32))
        != 0;
    let wide_durations = batch.durations.iter().fold(0, |acc, &d| acc | (d >> 32)) != 0;
    let widths = name_width
        | if wide_starts { WIDE_STARTS } else { 0 }
        | if wide_durations { WIDE_DURATIONS } else { 0 };
    out.reserve(21 + n * 21);
    out.extend_from_slice(&first_seq.to_le_bytes());
    out.extend_from_slice(&((n as u32) | COMPACT).to_le_bytes());
    out.push(widths);
    out.extend_from_slice(&base.to_le_bytes());
    match name_width {
        0 => put_le(out, &batch.names, |v| [v as u8]),
        1 => put_le(out, &batch.names, |v| (v as u16).to_le_bytes()),
        _ => put_le(out, &batch.names, u32::to_le_bytes),
    }
    if wide_starts {
        put_le(out, &batch.starts, |v| v.wrapping_sub(base).to_le_bytes());
    } else {
        put_le(out, &batch.starts, |v| {
            (v.wrapping_sub(base) as u32).to_le_bytes()
        });
    }
    if wide_durations {
        put_le(out, &batch.durations, u64::to_le_bytes);
    } else {
        put_le(out, &batch.durations, |v| (v as u32).to_le_bytes());
    }
    out.extend_from_slice(&batch.codes);
    write_varint(out, batch.messages.len() as u64);
    let mut next_row = 0u64;
    for (row, msg) in &batch.messages {
        write_varint(out, u64::from(*row) - next_row);
        next_row = u64::from(*row) + 1;
        write_varint(out, msg.len() as u64);
        out.extend_from_slice(msg.as_bytes());
    }
    write_varint(out, batch.field_count() as u64);
    let mut strings = WrittenStrings::new();
    let mut last_row = 0u64;
    for f in batch.fields() {
        write_varint(out, u64::from(f.row) - last_row);
        last_row = u64::from(f.row);
        write_varint(out, u64::from(f.key));
        match f.value {
            ValueRef::Str(s) => match strings.find_or_add(s) {
                Some(index) => {
                    out.push(STR_AGAIN);
                    write_varint(out, u64::from(index));
                }
                None => {
                    out.push(ValueType::Str as u8);
                    write_varint(out, s.len() as u64);
                    out.extend_from_slice(s.as_bytes());
                }
            },
            ValueRef::I64(v) => {
                out.push(ValueType::I64 as u8);
                write_varint(out, ((v << 1) ^ (v >> 63)) as u64);
            }
            ValueRef::F64(v) => {
                out.push(ValueType::F64 as u8);
                out.extend_from_slice(&v.to_bits().to_le_bytes());
            }
            ValueRef::Bool(v) => {
                out.push(ValueType::Bool as u8);
                out.push(u8::from(v));
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

/// The strings a record has written in full, by a cheap hash of their bytes, so a repeated value
/// (a route, a tier) is written as its index. No allocation and no general-purpose hash map: this
/// runs for every string field on the writer thread.
struct WrittenStrings<'a> {
    slots: [Option<(&'a str, u32)>; STRING_SLOTS],
    written: u32,
}

impl<'a> WrittenStrings<'a> {
    fn new() -> Self {
        WrittenStrings {
            slots: [None; STRING_SLOTS],
            written: 0,
        }
    }

    /// The index of `s` if written before; otherwise `None`, and `s` is now written.
    fn find_or_add(&mut self, s: &'a str) -> Option<u32> {
        let slot = &mut self.slots[slot_of(s.as_bytes())];
        if let Some((earlier, index)) = *slot {
            if earlier == s {
                return Some(index);
            }
        }
        *slot = Some((s, self.written));
        self.written += 1;
        None
    }
}

/// Slot of a string: its length and up to 16 of its bytes (the first and last 8), mixed by a
/// multiplication (Fibonacci hashing).
fn slot_of(b: &[u8]) -> usize {
    let word = |chunk: &[u8]| {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        u64::from_le_bytes(w)
    };
    let head = word(&b[..b.len().min(8)]);
    let tail = word(&b[b.len().saturating_sub(8)..]);
    let h = (head ^ tail.rotate_left(29) ^ b.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> (64 - STRING_SLOTS.trailing_zeros())) as usize
}

/// Append `values` as fixed-width little-endian words. The destination is sized once and filled
/// chunk by chunk, which the compiler turns into a plain copy (or a narrowing loop) on
/// little-endian targets (pushing word by word costs a capacity check each and was an eighth of
/// the writer's time).
fn put_le<T: Copy, const W: usize>(out: &mut Vec<u8>, values: &[T], le: impl Fn(T) -> [u8; W]) {
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
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
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
    /// A row at least `least` and below `n`, stored as a gap from `least` (compact layout) or as
    /// itself (first layout); `wrong` is the error otherwise.
    fn row(
        &mut self,
        compact: bool,
        least: u64,
        n: u64,
        wrong: &'static str,
    ) -> Result<u64, DecodeError> {
        let at = self.pos;
        let stored = self.varint()?;
        let row = if compact {
            least.checked_add(stored)
        } else {
            Some(stored)
        };
        row.filter(|&r| r < n && r >= least)
            .ok_or(DecodeError::new(at, wrong))
    }

    /// `n` words of `W` bytes, each turned into a `T` by `from`.
    fn words<T, const W: usize>(
        &mut self,
        n: usize,
        into: &mut Vec<T>,
        from: impl Fn([u8; W]) -> T,
    ) -> Result<(), DecodeError> {
        let bytes = self.take(n * W)?;
        into.extend(bytes.chunks_exact(W).map(|x| {
            let mut a = [0u8; W];
            a.copy_from_slice(x);
            from(a)
        }));
        Ok(())
    }
}

/// Decode a batch record of either layout; returns (first_seq, batch). Rejects anything the
/// encoders cannot produce.
pub(crate) fn decode_batch(input: &[u8]) -> Result<(u64, Batch), DecodeError> {
    let mut c = Cursor { b: input, pos: 0 };
    let first_seq = u64::from_le_bytes(c.array()?);
    let count = u32::from_le_bytes(c.array()?);
    let compact = count & COMPACT != 0;
    let n = (count & !COMPACT) as usize;
    // The bytes of `n` events must be present before anything is allocated for them.
    let least = if compact { 10 } else { 21 };
    if n.saturating_mul(least) > input.len() {
        return Err(DecodeError::new(8, "event count larger than the record"));
    }
    let mut b = Batch::with_capacity(n);
    if compact {
        let widths_at = c.pos;
        let widths = c.take(1)?[0];
        if widths & !(3 | WIDE_STARTS | WIDE_DURATIONS) != 0 || widths & 3 == 3 {
            return Err(DecodeError::new(widths_at, "unknown column widths"));
        }
        let base = u64::from_le_bytes(c.array()?);
        match widths & 3 {
            0 => c.words(n, &mut b.names, |[x]| u32::from(x))?,
            1 => c.words(n, &mut b.names, |x| u32::from(u16::from_le_bytes(x)))?,
            _ => c.words(n, &mut b.names, u32::from_le_bytes)?,
        }
        let starts_at = c.pos;
        if widths & WIDE_STARTS != 0 {
            c.words(n, &mut b.starts, |x| {
                base.wrapping_add(u64::from_le_bytes(x))
            })?;
        } else {
            c.words(n, &mut b.starts, |x| {
                base.wrapping_add(u64::from(u32::from_le_bytes(x)))
            })?;
        }
        if b.starts.first().copied().unwrap_or(0) != base {
            return Err(DecodeError::new(starts_at, "first start is not the base"));
        }
        if widths & WIDE_DURATIONS != 0 {
            c.words(n, &mut b.durations, u64::from_le_bytes)?;
        } else {
            c.words(n, &mut b.durations, |x| u64::from(u32::from_le_bytes(x)))?;
        }
    } else {
        c.words(n, &mut b.names, u32::from_le_bytes)?;
        c.words(n, &mut b.starts, u64::from_le_bytes)?;
        c.words(n, &mut b.durations, u64::from_le_bytes)?;
    }
    let codes_at = c.pos;
    b.codes.extend_from_slice(c.take(n)?);
    if b.codes.iter().any(|&x| x > MAX_CODE_BYTE) {
        return Err(DecodeError::new(codes_at, "unknown event code"));
    }
    decode_messages(&mut c, &mut b, compact)?;
    decode_fields(&mut c, &mut b, compact)?;
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

/// The messages of a record: rows strictly increasing, absolute (first layout) or as gaps.
fn decode_messages(c: &mut Cursor<'_>, b: &mut Batch, compact: bool) -> Result<(), DecodeError> {
    let n = b.len() as u64;
    let messages = c.varint()?;
    if messages > n {
        return Err(DecodeError::new(c.pos, "more messages than events"));
    }
    let mut next_row = 0u64;
    for _ in 0..messages {
        let row = c.row(compact, next_row, n, "message row out of order or range")?;
        next_row = row + 1;
        let msg = c.string()?;
        b.messages.push((row as u32, msg));
    }
    Ok(())
}

/// The fields of a record: rows never decreasing, absolute (first layout) or as gaps; in the
/// compact layout a string may refer to an earlier one.
fn decode_fields(c: &mut Cursor<'_>, b: &mut Batch, compact: bool) -> Result<(), DecodeError> {
    let n = b.len() as u64;
    let fields = c.varint()?;
    if fields > (c.b.len() - c.pos) as u64 {
        return Err(DecodeError::new(c.pos, "more fields than bytes"));
    }
    // The field index of each string written in full, in order.
    let mut strings: Vec<usize> = Vec::new();
    let mut last_row = 0u64;
    for _ in 0..fields {
        let at = c.pos;
        let row = c.row(compact, last_row, n, "field row out of order or range")?;
        last_row = row;
        let key = c.varint()?;
        let key = u32::try_from(key).map_err(|_| DecodeError::new(at, "field key out of range"))?;
        let tag = c.take(1)?[0];
        if compact && tag == STR_AGAIN {
            let index = c.varint()?;
            let of = usize::try_from(index)
                .ok()
                .and_then(|i| strings.get(i).copied())
                .ok_or(DecodeError::new(at, "repeated string refers to none"))?;
            b.add_field_value_of(row as u32, key, of)
                .map_err(|_| DecodeError::new(at, "repeated string refers to none"))?;
            continue;
        }
        let t = ValueType::from_u8(tag).ok_or(DecodeError::new(at, "unknown field type"))?;
        let value = match t {
            ValueType::I64 => {
                let z = c.varint()?;
                Value::I64(((z >> 1) as i64) ^ -((z & 1) as i64))
            }
            ValueType::F64 => Value::F64(f64::from_bits(u64::from_le_bytes(c.array()?))),
            ValueType::Bool => match c.take(1)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                _ => return Err(DecodeError::new(at, "bad boolean")),
            },
            ValueType::Str => {
                strings.push(b.field_count());
                Value::Str(c.string()?)
            }
        };
        b.add_field_at(row as u32, key, value)
            .map_err(|_| DecodeError::new(at, "field text beyond 4 GiB"))?;
    }
    Ok(())
}

/// A record of the first layout, as the WAL wrote it until 2026-12: three events (`sample()` of
/// the tests, with "/users" again on the last) with an origin, first seq 77.
#[cfg(test)]
pub(crate) fn first_layout_record() -> Vec<u8> {
    const HEX: &str = "4d000000000000000300000003000000040000000300000064000000000000\
        00c8000000000000002c0100000000000005000000000000000000000000000000ffffffffffffffff000501\
        01010b6469736b2061742039312505000903062f7573657273000a0053010b010000000000000080010c0201\
        020903062f75736572734f037372630a0d";
    let hex: String = HEX.split_whitespace().collect();
    (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect()
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
    fn records_of_the_first_layout_are_still_read() {
        let mut b = sample();
        b.add_field(9, Value::Str("/users".into()));
        b.set_origin("src", 10, 13).unwrap();
        let (seq, back) = decode_batch(&first_layout_record()).unwrap();
        assert_eq!(seq, 77);
        assert_eq!(back, b);
    }

    #[test]
    fn a_repeated_string_is_written_once_and_columns_are_narrow() {
        let mut b = Batch::default();
        for i in 0..4096u64 {
            b.push_call(
                (i % 50) as u32,
                1_700_000_000_000_000_000 + i * 900,
                40_000 + i,
                true,
            );
            if i % 3 == 0 {
                b.add_field(7, Value::Str(format!("/api/v2/route/{}", i % 6)));
            }
        }
        let mut out = Vec::new();
        encode_batch(1, &b, &mut out);
        assert_eq!(
            out.windows(16).filter(|w| w == b"/api/v2/route/3/").count()
                + out.windows(15).filter(|w| w == b"/api/v2/route/3").count(),
            1,
            "each distinct value once"
        );
        // 1 + 4 + 4 + 1 bytes per event, about 5 per field, 2 distinct values in full.
        let per_event = out.len() as f64 / 4096.0;
        assert!(per_event < 12.0, "{per_event} bytes per event");
        assert_eq!(decode_batch(&out).unwrap().1, b);
    }

    #[test]
    fn wide_values_take_wide_columns() {
        let mut b = Batch::default();
        b.push_call(70_000, u64::MAX, u64::MAX, true);
        b.push_call(300, 0, 0, false);
        b.push_call(0, 1 << 40, u64::from(u32::MAX) + 1, true);
        let mut out = Vec::new();
        encode_batch(9, &b, &mut out);
        assert_eq!(out[12], 2 | WIDE_STARTS | WIDE_DURATIONS);
        assert_eq!(decode_batch(&out).unwrap().1, b);
        let mut narrow = Batch::default();
        narrow.push_call(300, u64::MAX - 5, u64::from(u32::MAX), true);
        narrow.push_call(2, u64::MAX, 0, true);
        let mut out = Vec::new();
        encode_batch(9, &narrow, &mut out);
        assert_eq!(out[12], 1);
        assert_eq!(decode_batch(&out).unwrap().1, narrow);
    }

    #[test]
    fn impossible_compact_records_are_refused() {
        let mut b = Batch::default();
        b.push_call(1, 10, 5, true);
        b.add_field(2, Value::Str("a".into()));
        b.push_call(1, 20, 5, true);
        b.add_field(2, Value::Str("a".into()));
        let mut out = Vec::new();
        encode_batch(9, &b, &mut out);
        let reason = |bytes: &[u8]| decode_batch(bytes).unwrap_err().reason;
        let mut widths = out.clone();
        widths[12] = 3;
        assert_eq!(reason(&widths), "unknown column widths");
        widths[12] = 0x10;
        assert_eq!(reason(&widths), "unknown column widths");
        // The last bytes are the repeat: tag, index 0. Index 1 refers to no string.
        let mut again = out.clone();
        assert_eq!(again[again.len() - 2..], [STR_AGAIN, 0]);
        *again.last_mut().unwrap() = 1;
        assert_eq!(reason(&again), "repeated string refers to none");
        // The first start is the base: its offset (after the header and two 1-byte names) is 0.
        let mut first = out.clone();
        first[23] = 1;
        assert_eq!(reason(&first), "first start is not the base");
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
        fn strings_from_a_pool_larger_than_the_table_round_trip(
            picks in proptest::collection::vec((0usize..700, 0u32..4), 0..2000)) {
            // More distinct values than the encoder's table has slots: evicted ones are written
            // in full again, repeats refer back, and every value comes back as it was.
            let mut b = Batch::default();
            for (i, (pick, fields)) in picks.into_iter().enumerate() {
                b.push_call(1, i as u64, 1, true);
                for k in 0..fields {
                    b.add_field(k, Value::Str(format!("v{}", (pick + k as usize * 97) % 700)));
                }
            }
            let mut out = Vec::new();
            encode_batch(5, &b, &mut out);
            let (_, back) = decode_batch(&out).unwrap();
            prop_assert_eq!(back, b);
        }

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
