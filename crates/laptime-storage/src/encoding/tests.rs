//! Tests of the column encodings: forced-codec round trips, chooser picks on R1-like columns,
//! hostile input. (Speed: `cargo bench -p laptime-bench --bench components`.)

use proptest::prelude::*;

use super::*;

// ---------------------------------------------------------------------------------------------
// Deterministic synthetic data (R1-like), so tests need no extra crates.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }
    fn exp(&mut self, mean: f64) -> f64 {
        -self.unit().ln() * mean
    }
    fn normal(&mut self) -> f64 {
        (-2.0 * self.unit().ln()).sqrt() * (std::f64::consts::TAU * self.unit()).cos()
    }
}

/// Start times: exponential gaps with mean 1000 ns from a fixed epoch.
fn timestamps(n: usize, seed: u64) -> Vec<u64> {
    let mut r = Rng(seed);
    let mut t = 1_700_000_000_000_000_000u64;
    (0..n)
        .map(|_| {
            t += r.exp(1000.0).round() as u64;
            t
        })
        .collect()
}

/// Zipf(s) sampler over `0..k` (rank 0 most popular).
struct Zipf(Vec<f64>);

impl Zipf {
    fn new(k: usize, s: f64) -> Self {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (1..=k)
            .map(|i| {
                acc += (i as f64).powf(-s);
                acc
            })
            .collect();
        for c in &mut cdf {
            *c /= acc;
        }
        Zipf(cdf)
    }
    fn sample(&self, r: &mut Rng) -> usize {
        let u = r.unit();
        self.0.partition_point(|&c| c < u).min(self.0.len() - 1)
    }
}

/// Name ids (200 names, Zipf 1.1) and durations (per-name log-normal, sigma 0.8, median
/// log-uniform in [2 us, 20 ms]).
fn names_and_durations(n: usize, seed: u64) -> (Vec<u32>, Vec<u64>) {
    let mut r = Rng(seed);
    let medians: Vec<f64> = (0..200)
        .map(|_| (2_000f64.ln() + r.unit() * (20_000_000f64.ln() - 2_000f64.ln())).exp())
        .collect();
    let zipf = Zipf::new(200, 1.1);
    let mut names = Vec::with_capacity(n);
    let mut durs = Vec::with_capacity(n);
    for _ in 0..n {
        let id = zipf.sample(&mut r);
        names.push(id as u32);
        let d = medians[id] * (0.8 * r.normal()).exp();
        durs.push((d.round() as u64).max(1));
    }
    (names, durs)
}

/// Status codes: 0 (ok) with probability 99%, else 1.
fn statuses(n: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed);
    (0..n).map(|_| u8::from(r.unit() < 0.01)).collect()
}

// ---------------------------------------------------------------------------------------------
// Round trips with every codec forced.

const INT_CODECS: [Codec; 8] = [
    Codec::Plain,
    Codec::Constant,
    Codec::Rle,
    Codec::ForBitPack,
    Codec::DeltaBitPack,
    Codec::ForHuffman,
    Codec::DeltaHuffman,
    Codec::Lz4,
];

fn edge_cases() -> Vec<Vec<u64>> {
    let mut r = Rng(7);
    let mut cases = vec![
        vec![],
        vec![0],
        vec![u64::MAX],
        vec![42; 1000],
        vec![u64::MAX; 129],
        (0..300)
            .map(|i| if i % 2 == 0 { 0 } else { u64::MAX })
            .collect(),
        (0..300)
            .map(|i| if i % 3 == 0 { u64::MAX } else { 1 })
            .collect(),
        (0..1000).rev().collect(),
        (0..1000).map(|i| u64::MAX - i).collect(),
        (0..257).map(|_| r.next()).collect(),
        timestamps(1000, 3),
        names_and_durations(1000, 4).1,
    ];
    for len in [1usize, 2, 127, 128, 129, 255, 256, 257] {
        cases.push((0..len).map(|_| r.next() >> (r.next() % 64)).collect());
        cases.push((0..len as u64).map(|i| i * 1000 + r.next() % 7).collect());
    }
    cases
}

fn roundtrip_forced(values: &[u64]) {
    let mut buf = Vec::new();
    encode_u64s(values, &mut buf);
    let mut back = Vec::new();
    assert_eq!(decode_u64s(&buf, values.len(), &mut back), Ok(buf.len()));
    assert_eq!(back, values, "chooser");
    for codec in INT_CODECS {
        for p in [1, 2, 3, 12] {
            if p != 2 && !matches!(codec, Codec::ForHuffman | Codec::DeltaHuffman) {
                continue;
            }
            let mut buf = vec![0xEE];
            if !encode_u64s_with(codec, p, values, &mut buf) {
                // Only Constant of differing values, Huffman without symbols (nothing to code)
                // or exact-ish precisions over wide ranges may refuse.
                assert!(
                    matches!(
                        codec,
                        Codec::Constant | Codec::ForHuffman | Codec::DeltaHuffman
                    ),
                    "{codec:?} refused {} values",
                    values.len()
                );
                continue;
            }
            assert_eq!(peek_column(&buf[1..], values.len()).unwrap().codec, codec);
            let mut back = vec![1, 2, 3];
            let used = decode_u64s(&buf[1..], values.len(), &mut back)
                .unwrap_or_else(|e| panic!("{codec:?} p {p}: {e} on {values:?}"));
            assert_eq!(used, buf.len() - 1, "{codec:?}");
            assert_eq!(back, values, "{codec:?} p {p}");
        }
    }
}

#[test]
fn every_codec_round_trips_edge_cases() {
    for case in edge_cases() {
        roundtrip_forced(&case);
        let mut buf = Vec::new();
        encode_u64s(&case, &mut buf);
        let mut back = Vec::new();
        assert_eq!(decode_u64s(&buf, case.len(), &mut back), Ok(buf.len()));
        assert_eq!(back, case);
    }
}

#[test]
fn count_above_max_values_is_rejected() {
    let mut buf = Vec::new();
    encode_u64s(&[1, 2, 3], &mut buf);
    let mut out = Vec::new();
    assert!(decode_u64s(&buf, 2, &mut out).is_err());
    assert!(decode_u64s(&buf, 3, &mut out).is_ok());
}

#[test]
fn narrow_types_reject_wide_values() {
    let mut buf = Vec::new();
    encode_u64s(&[1, 300, 5], &mut buf);
    let mut out8 = Vec::new();
    assert!(decode_u8s(&buf, 10, &mut out8).is_err());
    let mut buf = Vec::new();
    encode_u64s(&[1, 1 << 40, 5], &mut buf);
    let mut out32 = Vec::new();
    assert!(decode_u32s(&buf, 10, &mut out32).is_err());
}

// ---------------------------------------------------------------------------------------------
// The chooser on typical columns.

fn bits_per_value(buf: &[u8], n: usize) -> f64 {
    buf.len() as f64 * 8.0 / n as f64
}

#[test]
fn chooser_picks_expected_codecs() {
    let n = 8192;
    let ts = timestamps(n, 11);
    let (names, durs) = names_and_durations(n, 12);
    let st = statuses(n, 13);
    assert_eq!(chosen_codec(&ts).0, Codec::DeltaHuffman);
    assert_eq!(chosen_codec(&durs).0, Codec::ForHuffman);
    // Ids in popularity order: magnitude buckets (p = 2 or 3) already fit the Zipf shape, so the
    // chooser may take them over one symbol per id; either way it is a Huffman code.
    assert_eq!(chosen_codec(&names).0, Codec::ForHuffman);
    // Ids in an order unrelated to popularity need one symbol per id.
    let shuffled: Vec<u32> = names.iter().map(|&i| (i * 97 + 13) % 200).collect();
    assert_eq!(chosen_codec(&shuffled), (Codec::ForHuffman, 12));
    assert_eq!(chosen_codec(&st).0, Codec::Rle);
    assert_eq!(chosen_codec(&[5u64; 100]).0, Codec::Constant);
    let regular: Vec<u64> = (0..1000u64).map(|i| 1_000_000 + i * 250).collect();
    assert_eq!(chosen_codec(&regular).0, Codec::DeltaBitPack);
    let mut r = Rng(1);
    let random: Vec<u64> = (0..1000).map(|_| r.next()).collect();
    assert_eq!(chosen_codec(&random).0, Codec::Plain);
    let small: Vec<u64> = (0..1000).map(|_| r.next() % 1_000_000).collect();
    assert_eq!(chosen_codec(&small).0, Codec::ForBitPack);
}

#[test]
fn compression_on_r1_columns() {
    let n = 8192;
    let ts = timestamps(n, 21);
    let (names, durs) = names_and_durations(n, 22);
    let st = statuses(n, 23);
    let mut buf = Vec::new();
    encode_u64s(&ts, &mut buf);
    let ts_bits = bits_per_value(&buf, n);
    buf.clear();
    encode_u64s(&durs, &mut buf);
    let dur_bits = bits_per_value(&buf, n);
    buf.clear();
    encode_u32s(&names, &mut buf);
    let name_bits = bits_per_value(&buf, n);
    buf.clear();
    encode_u8s(&st, &mut buf);
    let st_bits = bits_per_value(&buf, n);
    println!(
        "bits/value at {n} values: start_ns {ts_bits:.2}, duration {dur_bits:.2}, name {name_bits:.2}, status {st_bits:.3}"
    );
    assert!(ts_bits < 12.5, "timestamps {ts_bits}");
    assert!(name_bits < 6.5, "names {name_bits}");
    assert!(dur_bits < 23.0, "durations {dur_bits}");
    assert!(st_bits < 0.5, "status {st_bits}");
}

// ---------------------------------------------------------------------------------------------
// Other types.

#[test]
fn f64_round_trip_is_bit_exact() {
    let specials = [
        0.0,
        -0.0,
        f64::NAN,
        f64::from_bits(0x7ff8_dead_beef_0001),
        f64::from_bits(0xfff0_0000_0000_0001),
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE,
        5e-324,
        f64::MAX,
        1.5,
    ];
    let series: Vec<f64> = (0..1000).map(|i| 20.0 + (i as f64 * 0.01).sin()).collect();
    let integral: Vec<f64> = (0..1000).map(|i| (i * 3) as f64).collect();
    let halves: Vec<f64> = (0..1000).map(|i| (i % 17) as f64 * 0.5).collect();
    for values in [&specials[..], &series, &integral, &halves, &[], &[-0.0; 10]] {
        let mut buf = Vec::new();
        encode_f64s(values, &mut buf);
        let mut back = Vec::new();
        assert_eq!(decode_f64s(&buf, values.len(), &mut back), Ok(buf.len()));
        let a: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
        let b: Vec<u64> = back.iter().map(|v| v.to_bits()).collect();
        assert_eq!(a, b);
    }
    let mut buf = Vec::new();
    encode_f64s(&integral, &mut buf);
    assert!(
        buf.len() < integral.len() * 3,
        "integral floats took {} bytes",
        buf.len()
    );
}

#[test]
fn bools_round_trip() {
    let mut r = Rng(5);
    let cases: Vec<Vec<bool>> = vec![
        vec![],
        vec![true],
        vec![false; 1000],
        (0..1001).map(|i| i % 2 == 0).collect(),
        (0..1000).map(|_| r.unit() < 0.01).collect(),
        (0..13).map(|i| i % 5 == 0).collect(),
    ];
    for values in cases {
        let mut buf = Vec::new();
        encode_bools(&values, &mut buf);
        let mut back = Vec::new();
        assert_eq!(decode_bools(&buf, values.len(), &mut back), Ok(buf.len()));
        assert_eq!(back, values);
    }
}

#[test]
fn strings_round_trip_and_pick_dictionary() {
    let routes: Vec<String> = (0..50).map(|i| format!("/api/v1/resource{i}")).collect();
    let zipf = Zipf::new(50, 1.1);
    let mut r = Rng(9);
    let repeated: Vec<&str> = (0..4000)
        .map(|_| routes[zipf.sample(&mut r)].as_str())
        .collect();
    let messages: Vec<String> = (0..2000)
        .map(|i| {
            format!(
                "request {} finished with status {}",
                i * 7919 % 100_003,
                i % 5
            )
        })
        .collect();
    let unique: Vec<&str> = messages.iter().map(String::as_str).collect();
    let unicode = vec!["", "é", "日本語", "a\u{0}b", "🙂🙂", ""];
    for values in [&repeated[..], &unique, &unicode, &[]] {
        let mut buf = Vec::new();
        encode_strings(values, &mut buf);
        let mut col = StringColumn::new();
        assert_eq!(decode_strings(&buf, values.len(), &mut col), Ok(buf.len()));
        assert_eq!(col.len(), values.len());
        let back: Vec<&str> = col.iter().collect();
        assert_eq!(&back, values);
        for (i, v) in values.iter().enumerate() {
            assert_eq!(col.get(i), *v);
        }
    }
    let mut buf = Vec::new();
    encode_strings(&repeated, &mut buf);
    // The dictionary is chosen; LZ4 may wrap it (the route names share long prefixes).
    let info = peek_column(&buf, usize::MAX).unwrap();
    let f = super::column::read_frame(&buf, usize::MAX).unwrap();
    let inner = if info.codec == Codec::Lz4 {
        Codec::from_u8(f.payload[0])
    } else {
        Some(info.codec)
    };
    assert_eq!(inner, Some(Codec::StrDict));
    let total: usize = repeated.iter().map(|s| s.len()).sum();
    assert!(
        buf.len() * 10 < total,
        "dictionary column {} of {total} bytes",
        buf.len()
    );
    buf.clear();
    encode_strings(&unique, &mut buf);
    assert_eq!(peek_column(&buf, usize::MAX).unwrap().codec, Codec::Lz4);
}

/// `test_each` caches answers by a value's bytes: with 300 distinct values (more than its
/// cache's slots) over 5,000 rows, dictionary-coded or not, it answers as testing each row does.
#[test]
fn string_column_test_each_answers_every_row() {
    let values: Vec<String> = (0..5_000u32)
        .map(|i| format!("v{}", (i * 7919) % 300))
        .collect();
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    let mut buf = Vec::new();
    encode_strings(&refs, &mut buf);
    let mut decoded = StringColumn::new();
    decode_strings(&buf, refs.len(), &mut decoded).unwrap();
    let pushed: StringColumn = refs.iter().copied().collect();
    let test = |s: &str| s.ends_with('7') || s == "v100";
    for col in [&decoded, &pushed] {
        let mut got = Vec::new();
        col.test_each(test, |i, hit| got.push((i, hit)));
        let want: Vec<(usize, bool)> = refs.iter().map(|s| test(s)).enumerate().collect();
        assert_eq!(got, want);
    }
}

#[test]
fn string_column_push_and_equality() {
    let values = ["a", "bb", "a", "", "日本", "a"];
    let built: StringColumn = values.iter().copied().collect();
    assert_eq!(built.len(), 6);
    assert_eq!(built.get(4), "日本");
    let mut buf = Vec::new();
    encode_strings(&values, &mut buf);
    let mut decoded = StringColumn::new();
    decode_strings(&buf, 10, &mut decoded).unwrap();
    // Dictionary-decoded and pushed columns differ inside but hold the same values.
    assert_eq!(decoded, built);
    assert_eq!(format!("{decoded:?}"), format!("{values:?}"));
    assert!(decoded.heap_bytes() > 0);
    decoded.push("x");
    assert_ne!(decoded, built);
    decoded.clear();
    assert!(decoded.is_empty());
}

#[test]
fn signed_round_trip() {
    let cases: Vec<Vec<i64>> = vec![
        vec![i64::MIN, i64::MAX, 0, -1, 1],
        (-500..500).collect(),
        (0..1000)
            .map(|i| if i % 2 == 0 { i64::MIN } else { i64::MAX })
            .collect(),
        vec![-7; 300],
    ];
    for values in cases {
        let mut buf = Vec::new();
        encode_i64s(&values, &mut buf);
        let mut back = Vec::new();
        assert_eq!(decode_i64s(&buf, values.len(), &mut back), Ok(buf.len()));
        assert_eq!(back, values);
    }
    // Sorted across zero stays cheap (order-preserving map, no zigzag jumps).
    let mut buf = Vec::new();
    encode_i64s(&(-5000..5000).map(|i| i * 3).collect::<Vec<_>>(), &mut buf);
    assert!(buf.len() < 100, "{} bytes", buf.len());
}

#[test]
fn concatenated_columns_decode_back_to_back() {
    let n = 3000;
    let ts = timestamps(n, 31);
    let (names, durs) = names_and_durations(n, 32);
    let st = statuses(n, 33);
    let flags: Vec<bool> = st.iter().map(|&s| s != 0).collect();
    let floats: Vec<f64> = durs.iter().map(|&d| d as f64 / 1e3).collect();
    let strs: Vec<&str> = names
        .iter()
        .map(|&i| if i % 3 == 0 { "gold" } else { "silver" })
        .collect();
    let mut page = Vec::new();
    let mut ends = Vec::new();
    encode_u64s(&ts, &mut page);
    ends.push(page.len());
    encode_u32s(&names, &mut page);
    ends.push(page.len());
    encode_u64s(&durs, &mut page);
    ends.push(page.len());
    encode_u8s(&st, &mut page);
    ends.push(page.len());
    encode_bools(&flags, &mut page);
    ends.push(page.len());
    encode_f64s(&floats, &mut page);
    ends.push(page.len());
    encode_strings(&strs, &mut page);
    ends.push(page.len());

    let mut pos = 0;
    let mut u64s = Vec::new();
    let mut u32s = Vec::new();
    let mut u8s = Vec::new();
    let mut bools = Vec::new();
    let mut f64s = Vec::new();
    let mut col = StringColumn::new();
    pos += decode_u64s(&page[pos..], n, &mut u64s).unwrap();
    assert_eq!((pos, &u64s), (ends[0], &ts));
    pos += decode_u32s(&page[pos..], n, &mut u32s).unwrap();
    assert_eq!((pos, &u32s), (ends[1], &names));
    // Skip the durations without decoding them.
    pos += peek_column(&page[pos..], n).unwrap().encoded_len;
    assert_eq!(pos, ends[2]);
    pos += decode_u8s(&page[pos..], n, &mut u8s).unwrap();
    assert_eq!((pos, &u8s), (ends[3], &st));
    pos += decode_bools(&page[pos..], n, &mut bools).unwrap();
    assert_eq!((pos, &bools), (ends[4], &flags));
    pos += decode_f64s(&page[pos..], n, &mut f64s).unwrap();
    assert_eq!(pos, ends[5]);
    assert!(f64s
        .iter()
        .zip(&floats)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    pos += decode_strings(&page[pos..], n, &mut col).unwrap();
    assert_eq!(pos, ends[6]);
    assert_eq!(col.iter().collect::<Vec<_>>(), strs);
    assert_eq!(pos, page.len());
}

#[test]
fn decoders_reuse_output_capacity() {
    let ts = timestamps(5000, 41);
    let mut buf = Vec::new();
    encode_u64s(&ts, &mut buf);
    let mut out = Vec::with_capacity(8192);
    let ptr = out.as_ptr();
    decode_u64s(&buf, 8192, &mut out).unwrap();
    decode_u64s(&buf, 8192, &mut out).unwrap();
    assert_eq!(out.as_ptr(), ptr);
    assert_eq!(out, ts);
}

#[test]
fn rare_values_missed_by_the_sample_still_round_trip() {
    // The Huffman code of a large column is built from a sample; values the sample never saw
    // must still get a code.
    for delta in [false, true] {
        let mut r = Rng(99);
        let mut values: Vec<u64> = (0..20_000).map(|_| 1000 + r.exp(50.0) as u64).collect();
        if delta {
            let mut t = 0u64;
            for v in &mut values {
                t += *v;
                *v = t;
            }
        }
        // Outliers between the sampled runs, including both signs of difference.
        for (i, bump) in [
            (130usize, 1u64 << 40),
            (7_000, 3),
            (12_345, 1 << 20),
            (19_990, 77),
        ] {
            values[i] = values[i].wrapping_add(bump);
            if delta {
                values[i + 1] = values[i + 1].wrapping_sub(bump / 2);
            }
        }
        let (codec, _) = chosen_codec(&values);
        assert!(
            matches!(codec, Codec::ForHuffman | Codec::DeltaHuffman),
            "{codec:?}"
        );
        let mut buf = Vec::new();
        encode_u64s(&values, &mut buf);
        let mut back = Vec::new();
        assert_eq!(decode_u64s(&buf, values.len(), &mut back), Ok(buf.len()));
        assert_eq!(back, values);
    }
}

#[test]
fn huffman_falls_back_when_it_would_not_pay() {
    let values = timestamps(5000, 5);
    let mut c = super::int::choose(&values);
    assert_eq!(c.plan.codec(), Codec::DeltaHuffman);
    // Pretend the best bit-packing codec is tiny: the Huffman writer must give up and the
    // fallback plan be written instead.
    c.fallback_bytes = 10;
    let mut buf = Vec::new();
    super::int::encode_chosen(&values, &c, &mut buf, false);
    assert_eq!(
        peek_column(&buf, usize::MAX).unwrap().codec,
        c.fallback.codec()
    );
    let mut back = Vec::new();
    assert_eq!(decode_u64s(&buf, values.len(), &mut back), Ok(buf.len()));
    assert_eq!(back, values);
}

#[test]
fn wrong_type_and_bogus_lz4_are_rejected() {
    let mut buf = Vec::new();
    encode_bools(&[true, false, true], &mut buf);
    assert!(decode_u64s(&buf, 10, &mut Vec::new()).is_err());
    let mut buf = Vec::new();
    encode_u64s(&[1, 2, 3], &mut buf);
    assert!(decode_bools(&buf, 10, &mut Vec::new()).is_err());
    assert!(decode_strings(&buf, 10, &mut StringColumn::new()).is_err());
    // An LZ4 wrapper claiming a huge inner payload is refused before anything is allocated.
    let mut bogus = vec![Codec::Lz4.id(), 3];
    let mut payload = vec![Codec::Plain.id()];
    varint::write_varint(&mut payload, 1 << 40);
    payload.extend_from_slice(&[0x10, 0xAA]);
    varint::write_varint(&mut bogus, payload.len() as u64);
    bogus.extend_from_slice(&payload);
    assert!(decode_u64s(&bogus, 10, &mut Vec::new()).is_err());
    // An LZ4 wrapper around another LZ4 wrapper is refused.
    bogus[4] = Codec::Lz4.id();
    assert!(decode_u64s(&bogus, 10, &mut Vec::new()).is_err());
}

// ---------------------------------------------------------------------------------------------
// Hostile input.

/// Runs every decoder on `bytes`; they may fail but must not panic.
fn decode_all(bytes: &[u8], max_values: usize) -> [bool; 8] {
    let mut a = Vec::new();
    let mut b = Vec::new();
    let mut c = Vec::new();
    let mut d = Vec::new();
    let mut e = Vec::new();
    let mut f = Vec::new();
    let mut s = StringColumn::new();
    [
        decode_u64s(bytes, max_values, &mut a).is_ok(),
        decode_u32s(bytes, max_values, &mut b).is_ok(),
        decode_u8s(bytes, max_values, &mut c).is_ok(),
        decode_i64s(bytes, max_values, &mut d).is_ok(),
        decode_f64s(bytes, max_values, &mut e).is_ok(),
        decode_bools(bytes, max_values, &mut f).is_ok(),
        decode_strings(bytes, max_values, &mut s).is_ok(),
        peek_column(bytes, max_values).is_ok(),
    ]
}

/// Valid encodings of several kinds, for truncation and corruption tests.
fn sample_encodings() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for case in edge_cases() {
        for codec in INT_CODECS {
            let mut buf = Vec::new();
            if encode_u64s_with(codec, 2, &case, &mut buf) {
                out.push(buf);
            }
        }
    }
    let (names, _) = names_and_durations(500, 51);
    let mut buf = Vec::new();
    encode_u32s(&names, &mut buf);
    out.push(buf);
    let mut buf = Vec::new();
    encode_f64s(&[1.0, 2.5, -3.25, 1e300, f64::NAN], &mut buf);
    out.push(buf);
    let mut buf = Vec::new();
    encode_bools(&[true, false, false, true], &mut buf);
    out.push(buf);
    let mut buf = Vec::new();
    encode_bools(&[true; 100], &mut buf);
    out.push(buf);
    let mut buf = Vec::new();
    encode_strings(&["a", "bb", "a", "a", "ccc", "a"], &mut buf);
    out.push(buf);
    let mut buf = Vec::new();
    let text: Vec<String> = (0..300).map(|i| format!("message number {i}")).collect();
    encode_strings(
        &text.iter().map(String::as_str).collect::<Vec<_>>(),
        &mut buf,
    );
    out.push(buf);
    out
}

/// Positions to try in an encoding of `len` bytes: all of them for short ones, else every
/// header byte and an even spread over the rest.
fn positions(len: usize) -> Vec<usize> {
    if len <= 64 {
        return (0..len).collect();
    }
    let mut v: Vec<usize> = (0..24).collect();
    v.extend((0..40).map(|i| 24 + i * (len - 25) / 39));
    v
}

#[test]
fn truncations_always_fail() {
    for enc in sample_encodings() {
        for cut in positions(enc.len()) {
            let ok = decode_all(&enc[..cut], 100_000);
            assert!(
                !ok.iter().any(|&b| b),
                "prefix {cut}/{} decoded: {ok:?}",
                enc.len()
            );
        }
    }
}

#[test]
fn corruptions_never_panic() {
    let mut r = Rng(77);
    for enc in sample_encodings() {
        for i in positions(enc.len()) {
            for _ in 0..4 {
                let mut bad = enc.clone();
                bad[i] ^= 1 << (r.next() % 8);
                decode_all(&bad, 100_000);
                let mut bad = enc.clone();
                bad[i] = r.next() as u8;
                decode_all(&bad, 100_000);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), max in 0usize..5000) {
        decode_all(&bytes, max);
    }

    #[test]
    fn garbage_with_valid_codec_never_panics(
        codec in 0u8..13,
        count in 0u64..300,
        body in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut bytes = vec![codec];
        varint::write_varint(&mut bytes, count);
        varint::write_varint(&mut bytes, body.len() as u64);
        bytes.extend_from_slice(&body);
        decode_all(&bytes, 1000);
    }

    #[test]
    fn u64_round_trip(values in proptest::collection::vec(any::<u64>(), 0..600), shift in 0u32..64) {
        let values: Vec<u64> = values.into_iter().map(|v| v >> shift).collect();
        roundtrip_forced(&values);
    }

    #[test]
    fn sorted_u64_round_trip(mut values in proptest::collection::vec(any::<u64>(), 0..600), shift in 0u32..64) {
        for v in &mut values { *v >>= shift; }
        values.sort_unstable();
        roundtrip_forced(&values);
    }

    #[test]
    fn large_mixed_columns_round_trip(
        seed in any::<u64>(),
        n in 1025usize..6000,
        shape in 0u32..4,
        outliers in proptest::collection::vec((any::<usize>(), any::<u64>()), 0..6),
    ) {
        // Large enough for the sampled estimate and sample-built Huffman codes.
        let mut r = Rng(seed);
        let mut t = r.next() >> 8;
        let mut values: Vec<u64> = (0..n)
            .map(|_| match shape {
                0 => { t = t.wrapping_add(r.exp(1000.0) as u64); t }
                1 => (r.exp(3.0) * r.exp(1.0) * 1e4) as u64,
                2 => r.next() % 150,
                _ => t.wrapping_add(r.next() % 5000),
            })
            .collect();
        for (i, v) in outliers {
            let len = values.len();
            values[i % len] = v;
        }
        let mut buf = Vec::new();
        encode_u64s(&values, &mut buf);
        let mut back = Vec::new();
        prop_assert_eq!(decode_u64s(&buf, values.len(), &mut back), Ok(buf.len()));
        prop_assert_eq!(back, values);
    }

    #[test]
    fn few_distinct_round_trip(idx in proptest::collection::vec(0usize..5, 0..700), pool in proptest::collection::vec(any::<u64>(), 5)) {
        let values: Vec<u64> = idx.into_iter().map(|i| pool[i]).collect();
        roundtrip_forced(&values);
    }

    #[test]
    fn narrow_and_signed_round_trip(
        a in proptest::collection::vec(any::<u32>(), 0..400),
        b in proptest::collection::vec(any::<u8>(), 0..400),
        c in proptest::collection::vec(any::<i64>(), 0..400),
    ) {
        let mut buf = Vec::new();
        encode_u32s(&a, &mut buf);
        encode_u8s(&b, &mut buf);
        encode_i64s(&c, &mut buf);
        let (mut ra, mut rb, mut rc) = (Vec::new(), Vec::new(), Vec::new());
        let mut pos = decode_u32s(&buf, 400, &mut ra).unwrap();
        pos += decode_u8s(&buf[pos..], 400, &mut rb).unwrap();
        pos += decode_i64s(&buf[pos..], 400, &mut rc).unwrap();
        prop_assert_eq!(pos, buf.len());
        prop_assert_eq!(ra, a);
        prop_assert_eq!(rb, b);
        prop_assert_eq!(rc, c);
    }

    #[test]
    fn f64_round_trip(bits in proptest::collection::vec(any::<u64>(), 0..300), small in any::<bool>()) {
        let values: Vec<f64> = bits.iter().map(|&b| if small { (b % 1000) as f64 * 0.25 } else { f64::from_bits(b) }).collect();
        let mut buf = Vec::new();
        encode_f64s(&values, &mut buf);
        let mut back = Vec::new();
        prop_assert_eq!(decode_f64s(&buf, values.len(), &mut back), Ok(buf.len()));
        let got: Vec<u64> = back.iter().map(|v| v.to_bits()).collect();
        let want: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn bools_and_strings_round_trip(
        flags in proptest::collection::vec(any::<bool>(), 0..500),
        words in proptest::collection::vec("[a-c]{0,3}|\\PC{0,6}", 0..200),
    ) {
        let strs: Vec<&str> = words.iter().map(String::as_str).collect();
        let mut buf = Vec::new();
        encode_bools(&flags, &mut buf);
        encode_strings(&strs, &mut buf);
        let mut fb = Vec::new();
        let mut col = StringColumn::new();
        let pos = decode_bools(&buf, 500, &mut fb).unwrap();
        let used = decode_strings(&buf[pos..], 500, &mut col).unwrap();
        prop_assert_eq!(pos + used, buf.len());
        prop_assert_eq!(fb, flags);
        prop_assert_eq!(col.iter().collect::<Vec<_>>(), strs);
    }
}
