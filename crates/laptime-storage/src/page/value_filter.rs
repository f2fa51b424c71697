//! A membership filter over the values of one high-cardinality string field of a page (issue 15):
//! user ids, request ids, anything with too many distinct values for the value index
//! (`values.rs` lists at most 64). A query `user = "u8812"` skips a page whose filter says
//! [`ValueFilter::may_contain`] `false`; `true` may be wrong (a false positive costs a decode),
//! `false` never is.
//!
//! Stored in page metas by the value index (`values.rs`, tag 4). Built from the [`hash_value`] of
//! each distinct value.
//!
//! # Structure, chosen by measurement
//!
//! `cargo run --release -p laptime-storage --example value_filter_sizes` on 2 vCPUs of an Intel
//! Xeon (model 167, KVM; `nproc` 2, shared with another build: times are ±30 %). Present values
//! `user-<i>`, false positives over 1M absent values `user-<10M + j>`; bytes as encoded:
//!
//! ```text
//!     n  structure  bytes  bits/value   FP measured  build ns/value  query ns
//!    16  bloom10       34       17.00      0.0407 %             8.5       7.5
//!    16  fuse8         52       26.00      0.3918 %            23.2       4.4
//!    16  list16        34       17.00      0.0245 %             5.0       5.7
//!    16  build()       34       17.00      0.0245 %             6.8       5.7   (List16)
//!   256  bloom10      322       10.06      1.0237 %             5.6       7.8
//!   256  fuse8        388       12.12      0.3892 %            15.1       4.5
//!   256  list16       513       16.03      0.3975 %             5.8       8.8
//!   256  build()      388       12.12      0.3892 %            20.5       4.8   (Fuse8)
//!  4096  bloom10     5123       10.01      1.3112 %             5.4       7.7
//!  4096  fuse8       5636       11.01      0.4005 %            22.5       4.7
//!  4096  list16      7919       15.47      6.0496 %             8.2      13.1
//!  4096  build()     5636       11.01      0.4005 %            22.4       4.6   (Fuse8)
//! 65536  bloom10    81923       10.00      1.2509 %             5.4       7.4
//! 65536  fuse8      77828        9.50      0.3888 %            41.3       3.7
//! 65536  list16     82750       10.10     63.0221 %            14.5      18.6
//! 65536  build()    77828        9.50      0.3888 %            40.5       3.7   (Fuse8)
//! hash_value: 18.7 ns per value (values of 12-13 bytes)
//! ```
//!
//! `bloom10`: a split block Bloom filter, 10 bits per value (256-bit blocks, one bit set in each
//! of a block's 8 words). `fuse8`: a binary fuse filter with 8-bit fingerprints (Graf & Lemire,
//! "Binary Fuse Filters: Fast and Smaller Than Xor Filters", 2022). `list16`: the sorted 16-bit
//! fingerprints. From 256 values on the fuse filter has 2.6 to 3.3 times fewer false positives
//! than `bloom10` and answers faster (3 bytes read, no branch per bit); it is 20 % and 10 % larger
//! at 256 and 4096 values, 5 % smaller at 65536. A Bloom filter as accurate needs 13 bits per
//! value (measured with the same program: 0.34 to 0.39 %), more than the fuse filter at every n
//! from 256 on. The fuse filter builds 3 to 8 times slower, once per sealed page. For few values
//! its fixed overhead loses to the list, which is then also more accurate, so
//! [`ValueFilter::build`] writes the smaller of `list16` (only up to [`LIST_MAX`] values) and
//! `fuse8`; the list wins below 50 values and in windows up to 128 (the fuse filter's size
//! steps with its segment length). The Bloom filter stays as the fallback for a set no fuse seed
//! can build (not seen in practice).
//!
//! Stated bounds: false positives 1/256 (0.39 %) for a fuse filter, at most n/65536 (≤ 0.39 %)
//! for a list of n values, about 1.3 % for the Bloom fallback. Size: 1 byte for no values, 16 bits
//! per value plus 2 or 3 bytes for a list (≤ 128 values), 12.1 bits per value at 256, 11.0 at
//! 4096, 9.5 at 65536.
//!
//! Given up against a Bloom filter: two Bloom filters of one size merge by OR; fuse filters do
//! not, so a merged (segment) filter is rebuilt from the values' hashes.
//!
//! # Layout
//!
//! Byte 0 is a tag; integers are varints unless said otherwise; `k` is a value's [`hash_value`],
//! arithmetic wraps, `mulhi(a, b)` is the high 64 bits of the 128-bit product.
//! - `0` empty: nothing follows; no value is contained.
//! - `1` list: `count` (1..=65536), then `count` 16-bit fingerprints, little-endian, strictly
//!   ascending. `k` is contained if `mix64(k + LIST_KEY) >> 48` is listed.
//! - `2` fuse8: `attempt`, one byte `log2` (2..=18), `segment_count` (≥ 1), then
//!   `(segment_count + 2) << log2` fingerprint bytes `fp`. With `seed = mix64(attempt +
//!   FUSE_SEED_KEY)`, `h = mix64(k + seed)`, `L = 1 << log2`, `h0 = mulhi(h, segment_count * L)`,
//!   `h1 = (h0 + L) ^ ((h >> 18) & (L - 1))`, `h2 = (h0 + 2L) ^ (h & (L - 1))`: `k` is contained
//!   if `fp[h0] ^ fp[h1] ^ fp[h2] == (h ^ (h >> 32)) as u8`.
//! - `3` bloom: `blocks` (≥ 1), then `blocks` blocks of 8 little-endian `u32` words. With
//!   `h = mix64(k + BLOOM_KEY)`, `k` is contained if in block `mulhi(h, blocks)` each word `i`
//!   has bit `((h as u32) * BLOOM_SALTS[i]) >> 27` (32-bit product) set.
//!
//! An unknown tag is an error: a new structure takes a new tag.

use crate::encoding::varint::{read_varint, write_varint};
use crate::error::DecodeError;

const TAG_EMPTY: u8 = 0;
const TAG_LIST: u8 = 1;
const TAG_FUSE8: u8 = 2;
const TAG_BLOOM: u8 = 3;

/// Most values [`ValueFilter::build`] writes as a list: beyond, a list of 16-bit fingerprints
/// has more false positives (n/65536) than a fuse filter (1/256).
pub const LIST_MAX: usize = 256;

/// Added to a value's hash before mixing, per structure, so that the list's fingerprints, the
/// Bloom filter's bits and the fuse filter's slots are not the same bits of the same number.
const LIST_KEY: u64 = 0x4c49_5354_3136_0001;
const BLOOM_KEY: u64 = 0x424c_4f4f_4d31_3001;
const FUSE_SEED_KEY: u64 = 0x4655_5345_3800_0001;

/// Seeds tried before giving up on a fuse filter. Measured on 2000 random sets of each size
/// from 2 to 1000 values, the first seed failed for 0.3 to 6 % of them and the third never;
/// 64 failures in a row do not happen in practice.
const FUSE_ATTEMPTS: u64 = 64;

/// Largest fuse segment length, as a power of two (the paper's cap, 2^18).
const FUSE_MAX_LOG2: u8 = 18;
const FUSE_MIN_LOG2: u8 = 2;

/// Bloom filter bits per value.
const BLOOM_BITS_PER_VALUE: usize = 10;
/// Bytes of one Bloom block: 8 words of 32 bits.
const BLOOM_BLOCK_BYTES: usize = 32;

/// The `splitmix64` finalizer (Steele, Lea & Flood 2014): a bijection of `u64` in which every
/// input bit flips each output bit with probability close to 1/2. Part of the file format.
const fn mix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Starting state of [`hash_value`]: "laptime1" in ASCII.
const HASH_SEED: u64 = 0x6c61_7074_696d_6531;

/// The hash a filter is built from and queried with. Fixed forever (it is part of the file
/// format): `h = mix64(HASH_SEED ^ len)`, then for each 8-byte little-endian word of `bytes`
/// (the last one zero-padded, none for empty bytes) `h = mix64(h ^ word)`; the result is `h`.
/// The length in the first step tells `"a"` from `"a\0"`. Not for hostile collisions: those cost
/// false positives, never a wrong answer.
pub fn hash_value(bytes: &[u8]) -> u64 {
    let mut h = mix64(HASH_SEED ^ bytes.len() as u64);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = mix64(h ^ u64::from_le_bytes(word));
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut word = [0u8; 8];
        word[..tail.len()].copy_from_slice(tail);
        h = mix64(h ^ u64::from_le_bytes(word));
    }
    h
}

/// Which structure a [`ValueFilter`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKind {
    /// No values.
    Empty,
    /// Sorted 16-bit fingerprints.
    List16,
    /// Binary fuse filter, 8-bit fingerprints.
    Fuse8,
    /// Split block Bloom filter, 10 bits per value.
    Bloom10,
}

/// A membership filter over value hashes ([`hash_value`]): no false negatives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueFilter {
    repr: Repr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Repr {
    Empty,
    List(Vec<u16>),
    Fuse(Fuse8),
    Bloom(Vec<[u32; 8]>),
}

impl ValueFilter {
    /// The filter of `hashes` (the [`hash_value`] of each distinct value; repeats are allowed):
    /// the smaller of a fingerprint list and a fuse filter, see the module documentation.
    pub fn build(hashes: &[u64]) -> ValueFilter {
        if hashes.is_empty() {
            return ValueFilter { repr: Repr::Empty };
        }
        if hashes.len() <= LIST_MAX {
            let list = list_of(hashes);
            let list_bytes = 1 + varint_len(list.len()) + 2 * list.len();
            let FuseShape {
                log2,
                segment_count,
            } = FuseShape::of(hashes.len());
            // Tag, attempt (0 almost always: one byte), log2, segment count, fingerprints.
            let fuse_bytes = 1 + 1 + 1 + varint_len(segment_count) + ((segment_count + 2) << log2);
            if list_bytes <= fuse_bytes {
                return ValueFilter {
                    repr: Repr::List(list),
                };
            }
        }
        match Fuse8::build(hashes) {
            Some(fuse) => ValueFilter {
                repr: Repr::Fuse(fuse),
            },
            None => ValueFilter {
                repr: Repr::Bloom(bloom_of(hashes)),
            },
        }
    }

    /// The filter of `hashes` as one structure (the message index takes a Bloom filter; the
    /// example `value_filter_sizes` compares them): `None` for a fuse filter no seed could build,
    /// or for [`FilterKind::Empty`] with hashes. No hashes give the empty filter whatever the kind.
    pub fn build_as(hashes: &[u64], kind: FilterKind) -> Option<ValueFilter> {
        if hashes.is_empty() {
            return Some(ValueFilter { repr: Repr::Empty });
        }
        let repr = match kind {
            FilterKind::Empty => return None,
            FilterKind::List16 => Repr::List(list_of(hashes)),
            FilterKind::Fuse8 => Repr::Fuse(Fuse8::build(hashes)?),
            FilterKind::Bloom10 => Repr::Bloom(bloom_of(hashes)),
        };
        Some(ValueFilter { repr })
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Empty => 0,
            Repr::List(list) => list.capacity() * 2,
            Repr::Fuse(fuse) => fuse.fingerprints.capacity(),
            Repr::Bloom(blocks) => blocks.capacity() * 32,
        }
    }

    /// Which structure this is.
    pub fn kind(&self) -> FilterKind {
        match self.repr {
            Repr::Empty => FilterKind::Empty,
            Repr::List(_) => FilterKind::List16,
            Repr::Fuse(_) => FilterKind::Fuse8,
            Repr::Bloom(_) => FilterKind::Bloom10,
        }
    }

    /// Whether the value hashed to `hash` may be in the set: `false` only if it is not.
    #[inline]
    pub fn may_contain(&self, hash: u64) -> bool {
        match &self.repr {
            Repr::Empty => false,
            Repr::List(list) => list.binary_search(&list_fingerprint(hash)).is_ok(),
            Repr::Fuse(fuse) => fuse.may_contain(hash),
            Repr::Bloom(blocks) => bloom_may_contain(blocks, hash),
        }
    }

    /// Append the encoded filter (layout in the module documentation).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match &self.repr {
            Repr::Empty => out.push(TAG_EMPTY),
            Repr::List(list) => {
                out.push(TAG_LIST);
                write_varint(out, list.len() as u64);
                for fp in list {
                    out.extend_from_slice(&fp.to_le_bytes());
                }
            }
            Repr::Fuse(fuse) => {
                out.push(TAG_FUSE8);
                write_varint(out, fuse.attempt);
                out.push(fuse.log2);
                write_varint(out, fuse.segment_count);
                out.extend_from_slice(&fuse.fingerprints);
            }
            Repr::Bloom(blocks) => {
                out.push(TAG_BLOOM);
                write_varint(out, blocks.len() as u64);
                for word in blocks.iter().flatten() {
                    out.extend_from_slice(&word.to_le_bytes());
                }
            }
        }
    }

    /// Decode a filter from the start of `bytes`; returns it and the bytes it took. Sizes are
    /// checked against `bytes` before anything is allocated.
    pub fn decode(bytes: &[u8]) -> Result<(ValueFilter, usize), DecodeError> {
        let Some(&tag) = bytes.first() else {
            return Err(DecodeError::new(0, "value filter missing"));
        };
        let mut pos = 1;
        let repr = match tag {
            TAG_EMPTY => Repr::Empty,
            TAG_LIST => {
                let count = read_varint(bytes, &mut pos)?;
                // Strictly ascending 16-bit values: at most 65536 of them.
                if count == 0 || count > 1 << 16 {
                    return Err(DecodeError::new(pos, "bad value filter list length"));
                }
                let at = pos;
                let body = take(bytes, &mut pos, count as usize * 2)?;
                let list: Vec<u16> = body
                    .chunks_exact(2)
                    .map(|b| u16::from_le_bytes([b[0], b[1]]))
                    .collect();
                if list.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(DecodeError::new(at, "value filter list not ascending"));
                }
                Repr::List(list)
            }
            TAG_FUSE8 => {
                let attempt = read_varint(bytes, &mut pos)?;
                let log2 = *take(bytes, &mut pos, 1)?
                    .first()
                    .ok_or(DecodeError::new(pos, "value filter truncated"))?;
                if !(FUSE_MIN_LOG2..=FUSE_MAX_LOG2).contains(&log2) {
                    return Err(DecodeError::new(pos - 1, "bad fuse segment length"));
                }
                let at = pos;
                let segment_count = read_varint(bytes, &mut pos)?;
                let len = segment_count
                    .checked_add(2)
                    .and_then(|s| s.checked_mul(1 << log2))
                    .and_then(|l| usize::try_from(l).ok())
                    .filter(|_| segment_count >= 1)
                    .ok_or(DecodeError::new(at, "bad fuse segment count"))?;
                let fingerprints = take(bytes, &mut pos, len)?.to_vec();
                Repr::Fuse(Fuse8 {
                    attempt,
                    seed: fuse_seed(attempt),
                    log2,
                    segment_count,
                    fingerprints,
                })
            }
            TAG_BLOOM => {
                let at = pos;
                let blocks = read_varint(bytes, &mut pos)?;
                let len = usize::try_from(blocks)
                    .ok()
                    .filter(|&b| b >= 1)
                    .and_then(|b| b.checked_mul(BLOOM_BLOCK_BYTES))
                    .ok_or(DecodeError::new(at, "bad bloom block count"))?;
                let body = take(bytes, &mut pos, len)?;
                let blocks = body
                    .chunks_exact(BLOOM_BLOCK_BYTES)
                    .map(|block| {
                        let mut words = [0u32; 8];
                        for (w, b) in words.iter_mut().zip(block.chunks_exact(4)) {
                            *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                        }
                        words
                    })
                    .collect();
                Repr::Bloom(blocks)
            }
            _ => return Err(DecodeError::new(0, "unknown value filter kind")),
        };
        Ok((ValueFilter { repr }, pos))
    }
}

/// `len` bytes of `bytes` from `*pos`, advancing past them; an error if fewer remain.
fn take<'a>(bytes: &'a [u8], pos: &mut usize, len: usize) -> Result<&'a [u8], DecodeError> {
    let out = pos
        .checked_add(len)
        .and_then(|end| bytes.get(*pos..end))
        .ok_or(DecodeError::new(*pos, "value filter truncated"))?;
    *pos += len;
    Ok(out)
}

fn varint_len(n: usize) -> usize {
    crate::encoding::varint::varint_len(n as u64)
}

fn list_fingerprint(hash: u64) -> u16 {
    (mix64(hash.wrapping_add(LIST_KEY)) >> 48) as u16
}

/// Sorted distinct fingerprints of `hashes`.
fn list_of(hashes: &[u64]) -> Vec<u16> {
    let mut list: Vec<u16> = hashes.iter().map(|&h| list_fingerprint(h)).collect();
    list.sort_unstable();
    list.dedup();
    list
}

/// The 8 odd multipliers picking a value's bit in each word of its Bloom block: the top 32 bits
/// of `mix64(1..=8)`, made odd. Part of the file format.
const BLOOM_SALTS: [u32; 8] = {
    let mut salts = [0u32; 8];
    let mut i = 0;
    while i < 8 {
        salts[i] = (mix64(i as u64 + 1) >> 32) as u32 | 1;
        i += 1;
    }
    salts
};

/// A value's mixed hash for the Bloom filter and its block, chosen by the high bits of the mix;
/// the low 32 bits pick one bit in each of the block's 8 words ([`bloom_bit`]).
#[inline]
fn bloom_probe(blocks: usize, hash: u64) -> (u32, usize) {
    let h = mix64(hash.wrapping_add(BLOOM_KEY));
    let block = ((u128::from(h) * blocks as u128) >> 64) as usize;
    (h as u32, block)
}

#[inline]
fn bloom_bit(low: u32, salt: u32) -> u32 {
    1 << (low.wrapping_mul(salt) >> 27)
}

fn bloom_of(hashes: &[u64]) -> Vec<[u32; 8]> {
    let blocks = (hashes.len() * BLOOM_BITS_PER_VALUE)
        .div_ceil(BLOOM_BLOCK_BYTES * 8)
        .max(1);
    let mut out = vec![[0u32; 8]; blocks];
    for &hash in hashes {
        let (low, block) = bloom_probe(blocks, hash);
        if let Some(words) = out.get_mut(block) {
            for (w, salt) in words.iter_mut().zip(BLOOM_SALTS) {
                *w |= bloom_bit(low, salt);
            }
        }
    }
    out
}

#[inline]
fn bloom_may_contain(blocks: &[[u32; 8]], hash: u64) -> bool {
    let (low, block) = bloom_probe(blocks.len(), hash);
    // No block (impossible: decode refuses 0 blocks) answers "maybe", never a false negative.
    let Some(words) = blocks.get(block) else {
        return true;
    };
    // All 8 words without a branch: each word's bit is set with probability ~1/2, so stopping
    // at the first clear one mispredicts often (measured: twice as slow).
    words.iter().zip(BLOOM_SALTS).fold(0, |missing, (w, salt)| {
        missing | (bloom_bit(low, salt) & !w)
    }) == 0
}

fn fuse_seed(attempt: u64) -> u64 {
    mix64(attempt.wrapping_add(FUSE_SEED_KEY))
}

/// Segment length (a power of two) and count of a fuse filter of `n` values, by the sizing
/// rules of Graf & Lemire for arity 3. Stored in the encoding, so a later change of these rules
/// leaves old filters readable.
struct FuseShape {
    log2: u8,
    segment_count: usize,
}

impl FuseShape {
    fn of(n: usize) -> FuseShape {
        let size = n as f64;
        let log2 = if n <= 1 {
            FUSE_MIN_LOG2
        } else {
            // floor(ln n / ln 3.33 + 2.25) in range: the cast saturates and the clamp bounds it.
            ((size.ln() / 3.33f64.ln() + 2.25).floor() as u8).clamp(FUSE_MIN_LOG2, FUSE_MAX_LOG2)
        };
        let capacity = if n <= 1 {
            0
        } else {
            let factor = (0.875 + 0.25 * 1_000_000f64.ln() / size.ln()).max(1.125);
            (size * factor).round() as usize
        };
        let segment_length = 1usize << log2;
        // Total segments covering the capacity; two of them only hold the tails of the last
        // values' windows.
        let segment_count = capacity.div_ceil(segment_length).saturating_sub(2).max(1);
        FuseShape {
            log2,
            segment_count,
        }
    }
}

/// A binary fuse filter with 8-bit fingerprints (arity 3): a value is in if its fingerprint
/// equals the XOR of the bytes at its three slots, one in each of three consecutive segments.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fuse8 {
    attempt: u64,
    seed: u64,
    log2: u8,
    segment_count: u64,
    fingerprints: Vec<u8>,
}

impl Fuse8 {
    /// The filter of `hashes`, or `None` if no seed of [`FUSE_ATTEMPTS`] builds one.
    fn build(hashes: &[u64]) -> Option<Fuse8> {
        let mut deduped: Option<Vec<u64>> = None;
        for attempt in 0..FUSE_ATTEMPTS {
            let keys = deduped.as_deref().unwrap_or(hashes);
            let shape = FuseShape::of(keys.len());
            if let Some(fuse) = Fuse8::try_build(keys, attempt, &shape) {
                return Some(fuse);
            }
            // A repeated key never peels: remove repeats once, after the first failure, so
            // that distinct input (the usual case) is not sorted.
            if deduped.is_none() {
                let mut keys = hashes.to_vec();
                keys.sort_unstable();
                keys.dedup();
                deduped = Some(keys);
            }
        }
        None
    }

    fn try_build(keys: &[u64], attempt: u64, shape: &FuseShape) -> Option<Fuse8> {
        let segment_count = shape.segment_count as u64;
        let len = (shape.segment_count + 2) << shape.log2;
        let mut fuse = Fuse8 {
            attempt,
            seed: fuse_seed(attempt),
            log2: shape.log2,
            segment_count,
            fingerprints: vec![0u8; len],
        };
        // Per slot: how many keys map there and the XOR of their mixed hashes; a slot with one
        // key names it.
        let mut slots: Vec<(u32, u64)> = vec![(0, 0); len];
        for &key in keys {
            let h = mix64(key.wrapping_add(fuse.seed));
            for s in fuse.slots(h) {
                let slot = slots.get_mut(s)?;
                slot.0 = slot.0.checked_add(1)?;
                slot.1 ^= h;
            }
        }
        let mut queue: Vec<usize> = (0..len)
            .filter(|&s| slots.get(s).is_some_and(|x| x.0 == 1))
            .collect();
        // Keys in peeling order with the slot each one owns.
        let mut peeled: Vec<(u64, usize)> = Vec::with_capacity(keys.len());
        while let Some(s) = queue.pop() {
            let Some(&(1, h)) = slots.get(s) else {
                continue;
            };
            peeled.push((h, s));
            for t in fuse.slots(h) {
                let slot = slots.get_mut(t)?;
                slot.0 = slot.0.checked_sub(1)?;
                slot.1 ^= h;
                if slot.0 == 1 {
                    queue.push(t);
                }
            }
        }
        if peeled.len() != keys.len() {
            return None;
        }
        // In reverse peeling order each key's own slot is still free: set it so the three XOR
        // to the key's fingerprint; later keys never touch it again.
        for &(h, own) in peeled.iter().rev() {
            let [a, b, c] = fuse.slots(h);
            let x = fingerprint(h)
                ^ fuse.fingerprints.get(a)?
                ^ fuse.fingerprints.get(b)?
                ^ fuse.fingerprints.get(c)?;
            *fuse.fingerprints.get_mut(own)? = x;
        }
        // The guarantee of no false negatives rests on this check, not on the peeling above.
        keys.iter().all(|&k| fuse.may_contain(k)).then_some(fuse)
    }

    /// The three slots of mixed hash `h`: the first by the high bits of `h` over all but the
    /// last two segments, the next two in the following two segments, moved by other bits of
    /// `h`.
    #[inline]
    fn slots(&self, h: u64) -> [usize; 3] {
        let length = 1u64 << self.log2;
        let mask = length - 1;
        let h0 = ((u128::from(h) * u128::from(self.segment_count << self.log2)) >> 64) as u64;
        let h1 = (h0 + length) ^ ((h >> 18) & mask);
        let h2 = (h0 + 2 * length) ^ (h & mask);
        [h0 as usize, h1 as usize, h2 as usize]
    }

    #[inline]
    fn may_contain(&self, key: u64) -> bool {
        let h = mix64(key.wrapping_add(self.seed));
        let [a, b, c] = self.slots(h);
        let f = &self.fingerprints;
        // Slots are within the array by construction (checked at decode); if not, "maybe".
        let (Some(x), Some(y), Some(z)) = (f.get(a), f.get(b), f.get(c)) else {
            return true;
        };
        fingerprint(h) == x ^ y ^ z
    }
}

#[inline]
fn fingerprint(h: u64) -> u8 {
    (h ^ (h >> 32)) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `n` pseudo-random hashes from `seed` (a splitmix64 stream).
    fn hashes(seed: u64, n: usize) -> Vec<u64> {
        (0..n as u64)
            .map(|i| mix64(seed.wrapping_add(i.wrapping_mul(0x9e37_79b9_7f4a_7c15))))
            .collect()
    }

    fn round_trip(f: &ValueFilter) -> ValueFilter {
        let mut out = Vec::new();
        f.encode(&mut out);
        let (back, used) = ValueFilter::decode(&out).unwrap();
        assert_eq!(used, out.len());
        back
    }

    #[test]
    fn hash_value_is_pinned() {
        // The hash is a file format: these numbers never change. They were computed by a separate
        // implementation of the documented steps (Python), not by this code.
        let pinned: [(&[u8], u64); 5] = [
            (b"", 0x2405_9a61_30ee_ae80),
            (b"a", 0x26af_46b1_1b93_2fed),
            (b"a\0", 0xec98_938b_dba5_ec73),
            (b"u8812", 0x31a8_6c31_c932_b77a),
            (b"request-0123456789abcdef", 0xa5ef_539b_7315_1284),
        ];
        for (bytes, h) in pinned {
            assert_eq!(
                hash_value(bytes),
                h,
                "{:?}: {:#x}",
                String::from_utf8_lossy(bytes),
                hash_value(bytes)
            );
        }
    }

    #[test]
    fn bloom_salts_are_odd_and_distinct() {
        let mut s = BLOOM_SALTS.to_vec();
        s.sort_unstable();
        s.dedup();
        assert_eq!(s.len(), 8);
        assert!(BLOOM_SALTS.iter().all(|s| s % 2 == 1));
    }

    #[test]
    fn empty_set_contains_nothing() {
        let f = ValueFilter::build(&[]);
        assert_eq!(f.kind(), FilterKind::Empty);
        assert!(hashes(1, 1000).iter().all(|&h| !f.may_contain(h)));
        let mut out = Vec::new();
        f.encode(&mut out);
        assert_eq!(out, [TAG_EMPTY]);
        assert_eq!(round_trip(&f), f);
    }

    #[test]
    fn one_value() {
        let h = hash_value(b"u8812");
        for f in [
            ValueFilter::build(&[h]),
            ValueFilter::build_as(&[h], FilterKind::Fuse8).unwrap(),
            ValueFilter::build_as(&[h], FilterKind::Bloom10).unwrap(),
        ] {
            assert!(f.may_contain(h));
            let back = round_trip(&f);
            assert_eq!(back, f);
            assert!(back.may_contain(h));
        }
        assert_eq!(ValueFilter::build(&[h]).kind(), FilterKind::List16);
    }

    #[test]
    fn duplicates_in_input() {
        let distinct = hashes(7, 3000);
        let mut repeated: Vec<u64> = distinct.iter().chain(&distinct[..500]).copied().collect();
        repeated.extend(std::iter::repeat_n(distinct[0], 100));
        for input in [&repeated[..], &[5, 5, 5][..], &[9, 9][..]] {
            let f = ValueFilter::build(input);
            assert!(input.iter().all(|&h| f.may_contain(h)));
            let fuse = ValueFilter::build_as(input, FilterKind::Fuse8).unwrap();
            assert!(input.iter().all(|&h| fuse.may_contain(h)));
        }
        assert_eq!(ValueFilter::build(&repeated).kind(), FilterKind::Fuse8);
    }

    #[test]
    fn fuse_filters_build_for_every_small_size() {
        // Tiny sets are where peeling fails most often: every size still gets a fuse filter.
        for n in 1..=300 {
            let set = hashes(n as u64 * 7919, n);
            let f = ValueFilter::build_as(&set, FilterKind::Fuse8);
            assert!(
                f.is_some_and(|f| set.iter().all(|&h| f.may_contain(h))),
                "n {n}"
            );
        }
        // A repeated key never peels: why the builder removes repeats after a failure.
        let shape = FuseShape::of(3);
        assert!(Fuse8::try_build(&[1, 2, 2], 0, &shape).is_none());
    }

    #[test]
    fn the_smaller_structure_is_chosen() {
        assert_eq!(
            ValueFilter::build(&hashes(3, 16)).kind(),
            FilterKind::List16
        );
        assert_eq!(
            ValueFilter::build(&hashes(3, 256)).kind(),
            FilterKind::Fuse8
        );
        assert_eq!(
            ValueFilter::build(&hashes(3, 5000)).kind(),
            FilterKind::Fuse8
        );
        for n in [1, 2, 3, 10, 50, 64, 100, 200, 256, 257, 1000] {
            let set = hashes(n as u64, n);
            let mut chosen = Vec::new();
            ValueFilter::build(&set).encode(&mut chosen);
            for kind in [FilterKind::List16, FilterKind::Fuse8] {
                let mut other = Vec::new();
                ValueFilter::build_as(&set, kind)
                    .unwrap()
                    .encode(&mut other);
                if kind == FilterKind::Fuse8 || n <= LIST_MAX {
                    assert!(chosen.len() <= other.len(), "n {n}: {kind:?} is smaller");
                }
            }
        }
    }

    /// False positives among 200k hashes not in a set of `n`, for the filter `build` makes.
    fn false_positive_rate(f: &ValueFilter, set: &[u64]) -> f64 {
        let mut sorted = set.to_vec();
        sorted.sort_unstable();
        let absent: Vec<u64> = hashes(0xabcd_ef01, 200_000)
            .into_iter()
            .filter(|h| sorted.binary_search(h).is_err())
            .collect();
        let hits = absent.iter().filter(|&&h| f.may_contain(h)).count();
        hits as f64 / absent.len() as f64
    }

    #[test]
    fn false_positive_rates_are_within_the_stated_bounds() {
        // Stated: 1/256 for a fuse filter, n/65536 for a list; allowed 4 standard deviations of
        // 200k trials above it.
        for n in [1, 16, 60, 256, 4096, 65536] {
            let set = hashes(n as u64 * 31, n);
            let f = ValueFilter::build(&set);
            let bound = match f.kind() {
                FilterKind::List16 => n as f64 / 65536.0,
                FilterKind::Fuse8 => 1.0 / 256.0,
                other => panic!("{other:?} for {n}"),
            };
            let slack = 4.0 * (bound / 200_000.0).sqrt();
            let rate = false_positive_rate(&f, &set);
            assert!(rate <= bound + slack, "n {n}: {rate} over {bound}");
        }
        let set = hashes(77, 4096);
        let bloom = ValueFilter::build_as(&set, FilterKind::Bloom10).unwrap();
        let rate = false_positive_rate(&bloom, &set);
        assert!(rate <= 0.015, "bloom: {rate}");
    }

    #[test]
    fn round_trips_of_every_kind() {
        for n in [1, 2, 16, 300, 5000] {
            let set = hashes(n as u64 + 1000, n);
            for kind in [FilterKind::List16, FilterKind::Fuse8, FilterKind::Bloom10] {
                let f = ValueFilter::build_as(&set, kind).unwrap();
                let back = round_trip(&f);
                assert_eq!(back, f, "{kind:?} of {n}");
                assert!(set.iter().all(|&h| back.may_contain(h)));
            }
        }
    }

    #[test]
    fn decode_takes_only_its_bytes() {
        let f = ValueFilter::build(&hashes(4, 1000));
        let mut out = Vec::new();
        f.encode(&mut out);
        let len = out.len();
        out.extend_from_slice(&[0xff; 9]);
        let (back, used) = ValueFilter::decode(&out).unwrap();
        assert_eq!((back, used), (f, len));
    }

    #[test]
    fn truncations_are_errors() {
        for n in [0, 1, 20, 400] {
            let set = hashes(n as u64 + 5, n);
            for kind in [FilterKind::List16, FilterKind::Fuse8, FilterKind::Bloom10] {
                let mut out = Vec::new();
                ValueFilter::build_as(&set, kind).unwrap().encode(&mut out);
                for cut in 0..out.len() {
                    assert!(
                        ValueFilter::decode(&out[..cut]).is_err(),
                        "{kind:?} cut {cut}"
                    );
                }
            }
        }
    }

    #[test]
    fn hostile_sizes_are_errors() {
        let mut huge = Vec::new();
        write_varint(&mut huge, u64::MAX);
        let mut big = Vec::new();
        write_varint(&mut big, 1 << 40);
        let cases: Vec<Vec<u8>> = vec![
            [&[TAG_LIST][..], &huge].concat(),
            [&[TAG_LIST][..], &big, &[0; 64]].concat(),
            vec![TAG_LIST, 0],
            vec![TAG_LIST, 2, 5, 0, 5, 0],
            vec![TAG_LIST, 2, 6, 0, 5, 0],
            [&[TAG_FUSE8, 0, 18][..], &huge].concat(),
            [&[TAG_FUSE8, 0, 18][..], &big, &[0; 64]].concat(),
            [&[TAG_FUSE8][..], &huge, &[18, 1]].concat(),
            vec![TAG_FUSE8, 0, 19, 1],
            vec![TAG_FUSE8, 0, 1, 1, 0, 0, 0, 0, 0, 0],
            [&[TAG_FUSE8, 0, 2, 0][..], &[0; 8]].concat(),
            [&[TAG_BLOOM][..], &huge].concat(),
            [&[TAG_BLOOM][..], &big, &[0; 64]].concat(),
            vec![TAG_BLOOM, 0],
            vec![4],
            vec![0xff, 0, 0],
            vec![],
        ];
        for bytes in cases {
            assert!(ValueFilter::decode(&bytes).is_err(), "{bytes:?}");
        }
    }

    proptest! {
        #[test]
        fn no_false_negatives(set in proptest::collection::vec(any::<u64>(), 0..3000)) {
            let f = ValueFilter::build(&set);
            let back = round_trip(&f);
            prop_assert_eq!(&back, &f);
            for &h in &set {
                prop_assert!(f.may_contain(h) && back.may_contain(h));
            }
            for kind in [FilterKind::Fuse8, FilterKind::Bloom10, FilterKind::List16] {
                let f = ValueFilter::build_as(&set, kind).unwrap();
                prop_assert!(set.iter().all(|&h| f.may_contain(h)));
            }
        }

        #[test]
        fn no_false_negatives_for_strings(values in proptest::collection::vec(".{0,40}", 0..500)) {
            let set: Vec<u64> = values.iter().map(|v| hash_value(v.as_bytes())).collect();
            let f = ValueFilter::build(&set);
            prop_assert!(set.iter().all(|&h| f.may_contain(h)));
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok((f, used)) = ValueFilter::decode(&bytes) {
                prop_assert!(used <= bytes.len());
                let _ = f.may_contain(1);
            }
        }

        #[test]
        fn garbage_behind_a_valid_tag_never_panics(
            tag in 0u8..4, bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let input = [&[tag][..], &bytes].concat();
            if let Ok((f, _)) = ValueFilter::decode(&input) {
                let _ = f.may_contain(7);
            }
        }
    }
}
