//! The element types of integer columns, each mapped onto `u64` so one set of codecs serves all:
//! `u8`/`u32` widen, `i64` flips its sign bit (order-preserving, so sorted signed columns stay
//! sorted for the delta codecs), and `f64` uses its raw bits.

/// A column element type, mapped onto `u64` for the codecs.
pub(crate) trait Word: Copy + Default {
    /// Width of the `Plain` encoding.
    const BYTES: usize;
    /// The `u64` the codecs see.
    fn to_u64(self) -> u64;
    /// Back from `u64`; the flag is false if the value does not fit the type.
    fn from_u64(v: u64) -> (Self, bool);
}

impl Word for u64 {
    const BYTES: usize = 8;
    #[inline]
    fn to_u64(self) -> u64 {
        self
    }
    #[inline]
    fn from_u64(v: u64) -> (Self, bool) {
        (v, true)
    }
}

impl Word for u32 {
    const BYTES: usize = 4;
    #[inline]
    fn to_u64(self) -> u64 {
        u64::from(self)
    }
    #[inline]
    fn from_u64(v: u64) -> (Self, bool) {
        (v as u32, v <= u64::from(u32::MAX))
    }
}

impl Word for u8 {
    const BYTES: usize = 1;
    #[inline]
    fn to_u64(self) -> u64 {
        u64::from(self)
    }
    #[inline]
    fn from_u64(v: u64) -> (Self, bool) {
        (v as u8, v <= u64::from(u8::MAX))
    }
}

const SIGN: u64 = 1 << 63;

impl Word for i64 {
    const BYTES: usize = 8;
    #[inline]
    fn to_u64(self) -> u64 {
        (self as u64) ^ SIGN
    }
    #[inline]
    fn from_u64(v: u64) -> (Self, bool) {
        ((v ^ SIGN) as i64, true)
    }
}

impl Word for f64 {
    const BYTES: usize = 8;
    #[inline]
    fn to_u64(self) -> u64 {
        self.to_bits()
    }
    #[inline]
    fn from_u64(v: u64) -> (Self, bool) {
        (f64::from_bits(v), true)
    }
}
