//! Column decoders (`encoding`) on raw bytes: every codec, every value type. A decoded column must
//! stay within `max_values`, agree with `peek_column`, and survive re-encoding unchanged.
#![no_main]

use laptime_core::encoding::{self as enc, StringColumn};
use libfuzzer_sys::fuzz_target;

macro_rules! ints {
    ($input:expr, $max:expr, $dec:path, $enc:path, $t:ty) => {{
        let mut v: Vec<$t> = Vec::new();
        if let Ok(n) = $dec($input, $max, &mut v) {
            check($input, $max, n, v.len());
            let mut e = Vec::new();
            $enc(&v, &mut e);
            let mut w: Vec<$t> = Vec::new();
            assert_eq!(
                $dec(&e, $max, &mut w).expect("re-encoded column decodes"),
                e.len()
            );
            assert!(v == w, "re-encoded column differs");
        }
    }};
}

/// Consumed bytes are inside the input, the count inside the bound, and `peek_column` agrees.
fn check(input: &[u8], max: usize, consumed: usize, count: usize) {
    assert!(consumed <= input.len(), "consumed past the input");
    assert!(count <= max, "more values than max_values");
    let p = enc::peek_column(input, max).expect("a decodable column peeks");
    assert_eq!(
        p.encoded_len, consumed,
        "peek and decode disagree on length"
    );
    assert_eq!(p.count, count, "peek and decode disagree on count");
}

fuzz_target!(|data: &[u8]| {
    let [sel, m0, m1, input @ ..] = data else {
        return;
    };
    let max = usize::from(u16::from_le_bytes([*m0, *m1]));
    let _ = enc::peek_column(input, max);
    match sel % 7 {
        0 => ints!(input, max, enc::decode_u64s, enc::encode_u64s, u64),
        1 => ints!(input, max, enc::decode_u32s, enc::encode_u32s, u32),
        2 => ints!(input, max, enc::decode_u8s, enc::encode_u8s, u8),
        3 => ints!(input, max, enc::decode_i64s, enc::encode_i64s, i64),
        4 => ints!(input, max, enc::decode_bools, enc::encode_bools, bool),
        5 => {
            let mut v = Vec::new();
            if let Ok(n) = enc::decode_f64s(input, max, &mut v) {
                check(input, max, n, v.len());
                let mut e = Vec::new();
                enc::encode_f64s(&v, &mut e);
                let mut w = Vec::new();
                assert_eq!(
                    enc::decode_f64s(&e, max, &mut w).expect("re-encoded"),
                    e.len()
                );
                let bits = |x: &[f64]| x.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&v), bits(&w), "f64 column not bit-exact");
            }
        }
        _ => {
            let mut v = StringColumn::default();
            if let Ok(n) = enc::decode_strings(input, max, &mut v) {
                check(input, max, n, v.len());
                let s: Vec<&str> = v.iter().collect();
                let mut e = Vec::new();
                enc::encode_strings(&s, &mut e);
                let mut w = StringColumn::default();
                assert_eq!(
                    enc::decode_strings(&e, max, &mut w).expect("re-encoded"),
                    e.len()
                );
                assert!(w.iter().eq(s.iter().copied()), "string column differs");
            }
        }
    }
});
