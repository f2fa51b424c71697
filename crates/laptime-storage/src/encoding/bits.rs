//! Bit-level building blocks: fixed-width packing of blocks of up to 128 values, and a variable
//! length bit writer/reader for the Huffman codecs.
//!
//! Bit order everywhere is LSB-first: the first value occupies the lowest bits of the first byte.
//! A block of `len` values of `width` bits takes exactly `ceil(len * width / 8)` bytes; a full
//! block of 128 values takes `16 * width` bytes (two `u64` words per bit of width).
//!
//! Everything works a 64-bit word at a time: a value lands in one word or straddles two, so each
//! value costs a couple of shifts and no per-bit loop.

/// Values per bit-packed block.
pub(crate) const BLOCK: usize = 128;

/// Words a full block of width 64 needs, plus one so straddling reads never need a bounds branch.
const BLOCK_WORDS: usize = 2 * 64 + 1;

/// Bit width needed to store `v` (0 for 0).
#[inline]
pub(crate) fn bit_width(v: u64) -> u32 {
    64 - v.leading_zeros()
}

/// Bytes a block of `len` values at `width` bits takes.
#[inline]
pub(crate) fn packed_len(len: usize, width: u32) -> usize {
    (len * width as usize).div_ceil(8)
}

#[inline]
fn low_mask(width: u32) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    }
}

/// Appends `values` (at most [`BLOCK`] of them, each `< 2^width`) packed at `width` bits.
pub(crate) fn pack_block(values: &[u64], width: u32, out: &mut Vec<u8>) {
    if width == 0 || values.is_empty() {
        return;
    }
    let mut words = [0u64; BLOCK_WORDS];
    let w = width as usize;
    for (i, &v) in values.iter().take(BLOCK).enumerate() {
        let bit = i * w;
        let j = bit >> 6;
        let s = (bit & 63) as u32;
        // `(v >> 1) >> (63 - s)` is `v >> (64 - s)` without the undefined shift by 64 when s == 0.
        if let Some(pair) = words.get_mut(j..j + 2) {
            pair[0] |= v << s;
            pair[1] |= (v >> 1) >> (63 - s);
        }
    }
    let nbytes = packed_len(values.len().min(BLOCK), width);
    let full = nbytes / 8;
    for word in words.iter().take(full) {
        out.extend_from_slice(&word.to_le_bytes());
    }
    let rest = nbytes - full * 8;
    if rest > 0 {
        if let Some(word) = words.get(full) {
            out.extend_from_slice(&word.to_le_bytes()[..rest]);
        }
    }
}

/// Unpacks `out.len()` values (at most [`BLOCK`]) of `width` bits from `bytes`, which must hold at
/// least [`packed_len`]`(out.len(), width)` bytes (the caller checks; missing bytes read as zero).
pub(crate) fn unpack_block(bytes: &[u8], width: u32, out: &mut [u64]) {
    if width == 0 {
        out.fill(0);
        return;
    }
    let mut words = [0u64; BLOCK_WORDS];
    let mut chunks = bytes.chunks_exact(8);
    let mut filled = 0;
    for (word, chunk) in words.iter_mut().zip(&mut chunks) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *word = u64::from_le_bytes(b);
        filled += 1;
    }
    let rem = chunks.remainder();
    if !rem.is_empty() {
        let mut b = [0u8; 8];
        if let Some(dst) = b.get_mut(..rem.len()) {
            dst.copy_from_slice(rem);
        }
        if let Some(word) = words.get_mut(filled) {
            *word = u64::from_le_bytes(b);
        }
    }
    let mask = low_mask(width);
    let w = width as usize;
    for (i, slot) in out.iter_mut().take(BLOCK).enumerate() {
        let bit = i * w;
        let j = bit >> 6;
        let s = (bit & 63) as u32;
        let (lo, hi) = match words.get(j..j + 2) {
            Some(pair) => (pair[0], pair[1]),
            None => (0, 0),
        };
        // `(hi << 1) << (63 - s)` is `hi << (64 - s)`, and 0 when s == 0.
        *slot = ((lo >> s) | ((hi << 1) << (63 - s))) & mask;
    }
}

/// Writes variable-length bit fields LSB-first into a byte slice the caller provides per call,
/// so the caller can grow its buffer between calls.
///
/// Each step stores a whole little-endian word and advances by the complete bytes, so the slice
/// needs 8 spare bytes past the last byte written. A slice that is too small is reported by
/// [`BitWriter::finish`] instead of panicking.
#[derive(Debug, Default)]
pub(crate) struct BitWriter {
    /// Byte index where `acc`'s lowest bit goes.
    pos: usize,
    acc: u64,
    /// Pending bits in `acc` (always < 8 between calls).
    nbits: u32,
}

impl BitWriter {
    /// Appends the low `n` bits of `bits` (`n <= 56`; bits above `n` must be zero).
    #[inline]
    pub(crate) fn put(&mut self, buf: &mut [u8], bits: u64, n: u32) {
        self.acc |= bits << self.nbits;
        self.nbits += n;
        // A store that does not fit is skipped; `finish` notices, since `pos` never decreases.
        if let Some(dst) = buf.get_mut(self.pos..self.pos + 8) {
            dst.copy_from_slice(&self.acc.to_le_bytes());
        }
        let nbytes = self.nbits >> 3;
        self.pos += nbytes as usize;
        self.acc >>= nbytes * 8;
        self.nbits &= 7;
    }

    /// Appends the low `n` bits of `bits` for any `n <= 64`.
    #[inline]
    pub(crate) fn put_long(&mut self, buf: &mut [u8], bits: u64, n: u32) {
        if n <= 56 {
            self.put(buf, bits, n);
        } else {
            self.put(buf, bits & 0xffff_ffff, 32);
            self.put(buf, bits >> 32, n - 32);
        }
    }

    /// Bytes written (the last partial byte included), or `None` if `buf` (the slice every
    /// `put` got) was too small for some store.
    pub(crate) fn finish(&self, buf_len: usize) -> Option<usize> {
        if self.pos + 8 > buf_len {
            return None;
        }
        Some(self.pos + (self.nbits as usize).div_ceil(8))
    }
}

/// Reads variable-length bit fields LSB-first from a bit position.
///
/// The only state is the position, so a decoder can keep two readers in registers. Reading past
/// the end yields zero bits instead of failing, so the hot loop has no end-of-input branch;
/// callers check [`BitReader::overran`] once at the end and report a truncated stream.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Next bit to read, counted from the first byte's lowest bit.
    bitpos: usize,
}

/// The up to 8 bytes at `data[i..]`, zero-padded (the slow path of [`BitReader::window`]; a free
/// function so the reader itself never escapes into a call and stays in registers).
#[cold]
fn tail_word(data: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(rest) = data.get(i..) {
        for (d, &s) in b.iter_mut().zip(rest) {
            *d = s;
        }
    }
    u64::from_le_bytes(b)
}

/// Bits [`BitReader::window`] guarantees are valid.
pub(crate) const WINDOW_BITS: u32 = 56;

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        BitReader { data, bitpos: 0 }
    }

    /// The next bits, lowest first; at least [`WINDOW_BITS`] of them are valid.
    #[inline(always)]
    pub(crate) fn window(&self) -> u64 {
        let i = self.bitpos >> 3;
        let word = match self.data.get(i..i.wrapping_add(8)) {
            Some(&[a, b, c, d, e, f, g, h]) => u64::from_le_bytes([a, b, c, d, e, f, g, h]),
            _ => tail_word(self.data, i),
        };
        word >> (self.bitpos & 7)
    }

    /// Skips `n` bits.
    #[inline(always)]
    pub(crate) fn advance(&mut self, n: u32) {
        self.bitpos += n as usize;
    }

    /// Reads `n <= 64` bits.
    #[inline(always)]
    pub(crate) fn read_long(&mut self, n: u32) -> u64 {
        let lo_n = n.min(32);
        let lo = self.window() & low_mask(lo_n);
        self.advance(lo_n);
        let hi_n = n - lo_n;
        if hi_n == 0 {
            return lo;
        }
        let hi = self.window() & low_mask(hi_n);
        self.advance(hi_n);
        lo | (hi << lo_n)
    }

    /// Bits consumed so far (may exceed the input after an overrun).
    pub(crate) fn consumed_bits(&self) -> u64 {
        self.bitpos as u64
    }

    /// True if more bits were consumed than the input holds.
    pub(crate) fn overran(&self) -> bool {
        self.bitpos as u64 > (self.data.len() as u64) * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_unpack_every_width_and_length() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for width in 0..=64u32 {
            for len in [0usize, 1, 2, 7, 63, 64, 65, 127, 128] {
                let vals: Vec<u64> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        seed & low_mask(width)
                    })
                    .collect();
                let mut buf = Vec::new();
                pack_block(&vals, width, &mut buf);
                assert_eq!(buf.len(), packed_len(len, width));
                let mut back = vec![7u64; len];
                unpack_block(&buf, width, &mut back);
                assert_eq!(back, vals, "width {width} len {len}");
            }
        }
    }

    #[test]
    fn bit_writer_reader_round_trip() {
        let fields: Vec<(u64, u32)> = (0..1000u64)
            .map(|i| {
                let n = (i * 7 % 65) as u32;
                (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) & low_mask(n), n)
            })
            .collect();
        let total: u64 = fields.iter().map(|&(_, n)| u64::from(n)).sum();
        let mut buf = vec![0xAA; 1 + total.div_ceil(8) as usize + 8];
        let mut w = BitWriter::default();
        for &(v, n) in &fields {
            w.put_long(&mut buf[1..], v, n);
        }
        let used = w.finish(buf.len() - 1).unwrap();
        assert_eq!(used, total.div_ceil(8) as usize);
        buf.truncate(1 + used);
        let mut small = vec![0u8; 4];
        let mut w = BitWriter::default();
        w.put(&mut small, 1, 1);
        assert_eq!(w.finish(small.len()), None);
        let mut r = BitReader::new(&buf[1..]);
        for &(v, n) in &fields {
            assert_eq!(r.read_long(n), v);
        }
        assert!(!r.overran());
        r.read_long(60);
        assert!(r.overran());
    }
}
