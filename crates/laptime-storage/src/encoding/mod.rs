//! Self-delimiting column encodings for pages.
//!
//! Each column is one frame: `[codec id u8][varint value count][varint payload length][payload]`
//! (varints are LEB128, see [`varint`]). Frames can be stored back to back; every decoder returns
//! the bytes it consumed, and [`peek_column`] reads a frame header so a reader can skip a column.
//!
//! Codec ids (on disk; see [`Codec`]) and where each payload layout is documented:
//!
//! | id | codec | types | layout in |
//! |---|---|---|---|
//! | 0 | `Plain` | integers, `f64` | `int.rs` |
//! | 1 | `Constant` | integers, `f64` | `int.rs` |
//! | 2 | `Rle` | integers, `f64` | `int.rs` |
//! | 3 | `ForBitPack` | integers, `f64` | `int.rs`, `bits.rs` |
//! | 4 | `DeltaBitPack` | integers, `f64` | `int.rs`, `bits.rs` |
//! | 5 | `ForHuffman` | integers, `f64` | `entropy.rs`, `huffman.rs` |
//! | 6 | `DeltaHuffman` | integers, `f64` | `entropy.rs`, `huffman.rs` |
//! | 7 | `Lz4` | any (wraps one of the others) | `column.rs` |
//! | 8 | `FloatXor` | `f64` | `float.rs` |
//! | 9 | `BoolBitmap` | `bool` | `boolean.rs` |
//! | 10 | `BoolRuns` | `bool` | `boolean.rs` |
//! | 11 | `StrPlain` | strings | `strings.rs` |
//! | 12 | `StrDict` | strings | `strings.rs` |
//!
//! The encoders pick the smallest codec from cheap statistics: one pass of per-block minima and
//! maxima gives the exact sizes of the bit-packing codecs, and a histogram of a sample (at most
//! 1024 values) estimates the Huffman codecs, which must win by 3% since they decode about twice
//! as slowly. Only the winner is serialized. LZ4 is then tried on the payload (on a 2 KiB sample
//! first for large payloads) and kept if it saves at least 10%.
//!
//! Decoders accept arbitrary bytes: they return `Ok` or a [`DecodeError`], never panic, always
//! terminate, reject a value count above the caller's `max_values`, and allocate at most in
//! proportion to `max_values` and the input length. Output vectors are cleared and refilled, so
//! reusing them avoids allocation.

mod bits;
mod boolean;
mod column;
mod column_stats;
mod entropy;
mod float;
mod huffman;
mod int;
mod strings;
pub mod varint;
mod word;

#[cfg(test)]
mod tests;

pub use strings::StringColumn;
pub(crate) use strings::StringDictionary;

use crate::error::DecodeError;

/// Codec ids. These bytes are written to disk: never renumber or reuse one.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Values at their natural width, little-endian (1, 4 or 8 bytes; `i64` sign-flipped,
    /// `f64` raw bits).
    Plain = 0,
    /// One varint; every value equals it.
    Constant = 1,
    /// `(value - base, run length)` varint pairs.
    Rle = 2,
    /// Frame of reference + bit packing in blocks of 128 (per-block minimum and width).
    ForBitPack = 3,
    /// Differences of consecutive values, frame of reference + bit packing in blocks of 128.
    DeltaBitPack = 4,
    /// Huffman-coded magnitude buckets of `value - base`, low bits raw (exact values for small
    /// ranges).
    ForHuffman = 5,
    /// Huffman-coded sign and magnitude buckets of consecutive differences, low bits raw.
    DeltaHuffman = 6,
    /// LZ4 block around another codec's payload.
    Lz4 = 7,
    /// `f64`: XOR with the previous value's bits, as a nested integer column.
    FloatXor = 8,
    /// `bool`: one bit per value.
    BoolBitmap = 9,
    /// `bool`: alternating run lengths.
    BoolRuns = 10,
    /// Strings: lengths column + bytes.
    StrPlain = 11,
    /// Strings: page-local dictionary + index column.
    StrDict = 12,
}

impl Codec {
    /// The codec with on-disk id `id`, if any.
    pub fn from_u8(id: u8) -> Option<Codec> {
        Some(match id {
            0 => Codec::Plain,
            1 => Codec::Constant,
            2 => Codec::Rle,
            3 => Codec::ForBitPack,
            4 => Codec::DeltaBitPack,
            5 => Codec::ForHuffman,
            6 => Codec::DeltaHuffman,
            7 => Codec::Lz4,
            8 => Codec::FloatXor,
            9 => Codec::BoolBitmap,
            10 => Codec::BoolRuns,
            11 => Codec::StrPlain,
            12 => Codec::StrDict,
            _ => return None,
        })
    }

    /// The on-disk id.
    pub fn id(self) -> u8 {
        self as u8
    }
}

/// Header of one column frame, as read by [`peek_column`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnInfo {
    /// Codec of the frame (`Lz4` if wrapped).
    pub codec: Codec,
    /// Number of values.
    pub count: usize,
    /// Bytes of the whole frame, header included: skip this many to reach the next column.
    pub encoded_len: usize,
}

/// Reads the header of the column frame at the start of `input` without decoding it.
pub fn peek_column(input: &[u8], max_values: usize) -> Result<ColumnInfo, DecodeError> {
    let f = column::read_frame(input, max_values)?;
    Ok(ColumnInfo {
        codec: f.codec,
        count: f.count,
        encoded_len: f.consumed,
    })
}

/// Appends a `u64` column.
pub fn encode_u64s(values: &[u64], out: &mut Vec<u8>) {
    int::encode_ints(values, out, true);
}

/// Decodes a `u64` column into `out` (cleared first); returns the bytes consumed.
pub fn decode_u64s(
    input: &[u8],
    max_values: usize,
    out: &mut Vec<u64>,
) -> Result<usize, DecodeError> {
    int::decode_ints(input, max_values, out)
}

/// Appends a `u32` column.
pub fn encode_u32s(values: &[u32], out: &mut Vec<u8>) {
    int::encode_ints(values, out, true);
}

/// Decodes a `u32` column into `out` (cleared first); returns the bytes consumed.
pub fn decode_u32s(
    input: &[u8],
    max_values: usize,
    out: &mut Vec<u32>,
) -> Result<usize, DecodeError> {
    int::decode_ints(input, max_values, out)
}

/// Appends a `u8` column.
pub fn encode_u8s(values: &[u8], out: &mut Vec<u8>) {
    int::encode_ints(values, out, true);
}

/// Decodes a `u8` column into `out` (cleared first); returns the bytes consumed.
pub fn decode_u8s(
    input: &[u8],
    max_values: usize,
    out: &mut Vec<u8>,
) -> Result<usize, DecodeError> {
    int::decode_ints(input, max_values, out)
}

/// Appends an `i64` column. Values are mapped to `u64` by flipping the sign bit, which keeps
/// their order, so sorted signed columns still delta-encode well.
pub fn encode_i64s(values: &[i64], out: &mut Vec<u8>) {
    int::encode_ints(values, out, true);
}

/// Decodes an `i64` column into `out` (cleared first); returns the bytes consumed.
pub fn decode_i64s(
    input: &[u8],
    max_values: usize,
    out: &mut Vec<i64>,
) -> Result<usize, DecodeError> {
    int::decode_ints(input, max_values, out)
}

/// Appends an `f64` column, lossless to the bit.
pub fn encode_f64s(values: &[f64], out: &mut Vec<u8>) {
    float::encode_f64s(values, out);
}

/// Decodes an `f64` column into `out` (cleared first); returns the bytes consumed.
pub fn decode_f64s(
    input: &[u8],
    max_values: usize,
    out: &mut Vec<f64>,
) -> Result<usize, DecodeError> {
    float::decode_f64s(input, max_values, out)
}

/// Appends a `bool` column.
pub fn encode_bools(values: &[bool], out: &mut Vec<u8>) {
    boolean::encode_bools(values, out);
}

/// Decodes a `bool` column into `out` (cleared first); returns the bytes consumed.
pub fn decode_bools(
    input: &[u8],
    max_values: usize,
    out: &mut Vec<bool>,
) -> Result<usize, DecodeError> {
    boolean::decode_bools(input, max_values, out)
}

/// Appends a string column.
pub fn encode_strings(values: &[&str], out: &mut Vec<u8>) {
    strings::encode_strings(values, strings::dictionary(values).as_ref(), out);
}

/// Appends a string column whose dictionary was built before (see [`string_dictionary`]).
pub(crate) fn encode_strings_with(
    values: &[&str],
    dict: Option<&StringDictionary<'_>>,
    out: &mut Vec<u8>,
) {
    strings::encode_strings(values, dict, out);
}

/// The dictionary of a string column: `None` when more than half its values are distinct.
pub(crate) fn string_dictionary<'a>(values: &[&'a str]) -> Option<StringDictionary<'a>> {
    strings::dictionary(values)
}

/// Decodes a string column into `out` (cleared first); returns the bytes consumed.
pub fn decode_strings(
    input: &[u8],
    max_values: usize,
    out: &mut StringColumn,
) -> Result<usize, DecodeError> {
    strings::decode_strings(input, max_values, out)
}

/// Test hook: encodes `values` with a forced integer codec (`ForHuffman`/`DeltaHuffman` with
/// bucket precision `p`; `Lz4` wraps the chooser's pick regardless of gain). Returns false if the
/// codec cannot represent the values.
#[cfg(test)]
pub(crate) fn encode_u64s_with(codec: Codec, p: u32, values: &[u64], out: &mut Vec<u8>) -> bool {
    use int::Plan;
    let plan = match codec {
        Codec::Plain => Plan::Plain,
        Codec::Constant => Plan::Constant,
        Codec::Rle => Plan::Rle,
        Codec::ForBitPack => Plan::For,
        Codec::DeltaBitPack => Plan::Delta,
        Codec::ForHuffman => Plan::ForHuffman(p),
        Codec::DeltaHuffman => Plan::DeltaHuffman(p),
        Codec::Lz4 => {
            let start = out.len();
            let mut inner = Vec::new();
            int::encode_ints(values, &mut inner, false);
            let Ok(f) = column::read_frame(&inner, usize::MAX) else {
                return false;
            };
            out.extend_from_slice(f.payload);
            let c = column::force_lz4(out, start, f.codec, true);
            column::finish_frame(out, start, c, values.len());
            return true;
        }
        _ => return false,
    };
    int::encode_ints_with(values, plan, out)
}

/// Test hook: the codec the chooser picks for `values`, with its bucket precision if Huffman.
#[cfg(test)]
pub(crate) fn chosen_codec<T: word::Word>(values: &[T]) -> (Codec, u32) {
    let c = int::choose(values);
    let p = match c.plan {
        int::Plan::ForHuffman(p) | int::Plan::DeltaHuffman(p) => p,
        _ => 0,
    };
    (c.plan.codec(), p)
}
