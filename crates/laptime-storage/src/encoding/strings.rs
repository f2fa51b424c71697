//! String columns: a page-local dictionary when values repeat, else lengths plus bytes.
//!
//! * `StrPlain` (11): `[nested u64 column frame: byte length of each value][all bytes, concatenated]`.
//! * `StrDict` (12): `[nested u64 column frame: byte length of each distinct value]`
//!   `[distinct values' bytes, concatenated, in order of first appearance]`
//!   `[nested u32 column frame: dictionary index of each value]`.
//!
//! Nested frames use the integer codecs, so Zipf-distributed dictionary indices get a Huffman code
//! and repeated lengths collapse. The whole payload may also be LZ4-wrapped (templated log messages
//! compress well that way). Decoding validates UTF-8 once for the whole byte area and checks that
//! every value boundary is a character boundary, so each value is valid UTF-8.
//!
//! [`StringColumn`] keeps decoded values as `(start, end)` spans into one text buffer; dictionary
//! values share the dictionary's bytes, so decoding never expands the input beyond its own size
//! plus 16 bytes per value.

use super::column::{maybe_lz4, read_frame, with_payload};
use super::int::{choose, decode_ints, encode_chosen};
use super::Codec;
use crate::error::DecodeError;

/// A column of strings, as decoded (or built with [`StringColumn::push`]); reusable across decodes,
/// since its buffers keep their capacity.
#[derive(Default, Clone)]
pub struct StringColumn {
    /// Byte range of each value in `text`.
    spans: Vec<(usize, usize)>,
    text: String,
    /// Scratch for decoding lengths and dictionary indices.
    lens: Vec<u64>,
    ids: Vec<u32>,
}

impl StringColumn {
    /// An empty column.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True if there are no values.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Value `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`, like slice indexing.
    pub fn get(&self, i: usize) -> &str {
        let (a, b) = self.spans[i];
        // Boundaries were checked when decoding, so this cannot miss.
        self.text.get(a..b).unwrap_or("")
    }

    /// Where value `i` lies in the decoded text: equal for equal values of a dictionary-coded
    /// column (they share the dictionary's bytes), so a caller can recognise a repeated value
    /// without reading or hashing it. Different spans may still hold equal strings.
    pub fn span(&self, i: usize) -> (usize, usize) {
        self.spans[i]
    }

    /// `each(i, test(value i))` for every value in order, `test` asked once per distinct value
    /// as far as a small cache of recent ones tells: a dictionary-coded column gives equal values
    /// the same bytes, so a filter compares each distinct value once, not each row's.
    pub fn test_each(&self, test: impl Fn(&str) -> bool, mut each: impl FnMut(usize, bool)) {
        const SLOTS: usize = 64;
        let mut seen = [(usize::MAX, 0usize, false); SLOTS];
        for (i, &(a, b)) in self.spans.iter().enumerate() {
            let slot = &mut seen[a % SLOTS];
            let passes = if slot.0 == a && slot.1 == b {
                slot.2
            } else {
                let passes = test(self.text.get(a..b).unwrap_or(""));
                *slot = (a, b, passes);
                passes
            };
            each(i, passes);
        }
    }

    /// The values in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.spans
            .iter()
            .map(|&(a, b)| self.text.get(a..b).unwrap_or(""))
    }

    /// Appends a value.
    pub fn push(&mut self, s: &str) {
        let a = self.text.len();
        self.text.push_str(s);
        self.spans.push((a, self.text.len()));
    }

    /// Removes all values, keeping the buffers.
    pub fn clear(&mut self) {
        self.spans.clear();
        self.text.clear();
    }

    /// Heap memory held, in bytes (capacity, including decode scratch).
    pub fn heap_bytes(&self) -> usize {
        self.spans.capacity() * std::mem::size_of::<(usize, usize)>()
            + self.text.capacity()
            + self.lens.capacity() * std::mem::size_of::<u64>()
            + self.ids.capacity() * std::mem::size_of::<u32>()
    }
}

/// Columns are equal when they hold the same values in the same order, however they were built.
impl PartialEq for StringColumn {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for StringColumn {}

impl std::fmt::Debug for StringColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> FromIterator<&'a str> for StringColumn {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        let mut c = StringColumn::new();
        for s in iter {
            c.push(s);
        }
        c
    }
}

/// Dictionary is abandoned once distinct values exceed this fraction (1/x) of the column.
const DICT_GIVE_UP_DIV: usize = 2;

/// The distinct values of a string column in order of first appearance and each value's index
/// among them: what a `StrDict` frame stores, and what the page's value index counts by.
pub struct StringDictionary<'a> {
    /// Distinct values, in order of first appearance.
    pub order: Vec<&'a str>,
    /// Index into `order` of each value.
    pub ids: Vec<u32>,
}

/// The dictionary of `values`, or `None` when more than half of them are distinct (the frame is
/// then plain, and building the dictionary stops there).
pub(crate) fn dictionary<'a>(values: &[&'a str]) -> Option<StringDictionary<'a>> {
    let n = values.len();
    // foldhash: several times faster than SipHash on short strings, and seeded per process, so
    // values chosen to collide (attributes come from requests) cannot be prepared in advance.
    let mut dict: foldhash::HashMap<&str, u32> =
        foldhash::HashMap::with_capacity_and_hasher(n.min(1024), Default::default());
    let mut order: Vec<&str> = Vec::new();
    let mut ids: Vec<u32> = Vec::with_capacity(n);
    let limit = n / DICT_GIVE_UP_DIV + 1;
    for &s in values {
        let next = order.len() as u32;
        let id = *dict.entry(s).or_insert(next);
        if id == next {
            order.push(s);
            if order.len() > limit {
                return None;
            }
        }
        ids.push(id);
    }
    (n > 0).then_some(StringDictionary { order, ids })
}

/// Appends a string column frame of `values`, whose dictionary (from [`dictionary`]) is `dict`.
pub(crate) fn encode_strings(
    values: &[&str],
    dict: Option<&StringDictionary<'_>>,
    out: &mut Vec<u8>,
) {
    let start = out.len();
    let n = values.len();
    let lens: Vec<u64> = values.iter().map(|s| s.len() as u64).collect();
    let total: usize = values.iter().map(|s| s.len()).sum();
    // Each choice is made once and used to encode (choosing costs a pass over the values).
    let plain_choice = choose(&lens);
    let plain_bytes = total + plain_choice.bytes;
    let dictionary = dict.and_then(|d| {
        let dict_lens: Vec<u64> = d.order.iter().map(|s| s.len() as u64).collect();
        let dict_bytes: usize = d.order.iter().map(|s| s.len()).sum();
        let lens_choice = choose(&dict_lens);
        let ids_choice = choose(&d.ids);
        let bytes = dict_bytes + lens_choice.bytes + ids_choice.bytes + 4;
        (bytes < plain_bytes).then_some((d, dict_lens, lens_choice, ids_choice))
    });
    let codec = if let Some((d, dict_lens, lens_choice, ids_choice)) = dictionary {
        encode_chosen(&dict_lens, &lens_choice, out, false);
        for s in &d.order {
            out.extend_from_slice(s.as_bytes());
        }
        encode_chosen(&d.ids, &ids_choice, out, false);
        Codec::StrDict
    } else {
        encode_chosen(&lens, &plain_choice, out, false);
        out.reserve(total);
        for s in values {
            out.extend_from_slice(s.as_bytes());
        }
        Codec::StrPlain
    };
    let codec = maybe_lz4(out, start, codec);
    super::column::finish_frame(out, start, codec, n);
}

/// Decodes a string column frame into `out` (cleared first); returns the frame's length.
pub(crate) fn decode_strings(
    input: &[u8],
    max_values: usize,
    out: &mut StringColumn,
) -> Result<usize, DecodeError> {
    let frame = read_frame(input, max_values)?;
    out.clear();
    let n = frame.count;
    with_payload(&frame, |codec, payload, at| {
        decode_payload(codec, payload, n, out)
            .map_err(|e| DecodeError::new(at + e.offset, e.reason))
    })?;
    Ok(frame.consumed)
}

fn decode_payload(
    codec: Codec,
    payload: &[u8],
    n: usize,
    out: &mut StringColumn,
) -> Result<(), DecodeError> {
    let e = DecodeError::new;
    let dict = match codec {
        Codec::StrPlain => false,
        Codec::StrDict => true,
        _ => return Err(e(0, "codec not valid for a string column")),
    };
    let StringColumn {
        spans,
        text,
        lens,
        ids,
    } = out;
    let mut pos = decode_ints::<u64>(payload, n, lens)?;
    if !dict && lens.len() != n {
        return Err(e(0, "length column has the wrong value count"));
    }
    let mut total = 0u64;
    for &l in lens.iter() {
        total = total
            .checked_add(l)
            .ok_or(e(0, "string lengths overflow"))?;
    }
    let bytes = usize::try_from(total)
        .ok()
        .and_then(|t| payload.get(pos..pos.checked_add(t)?))
        .ok_or(e(pos, "string bytes truncated"))?;
    let s = std::str::from_utf8(bytes).map_err(|_| e(pos, "string bytes are not UTF-8"))?;
    text.push_str(s);
    let text_at = pos;
    pos += bytes.len();
    // Turn lengths into end offsets in place, checking each boundary.
    let mut end = 0u64;
    for l in lens.iter_mut() {
        end += *l;
        if !text.is_char_boundary(end as usize) {
            return Err(e(text_at, "string boundary inside a UTF-8 character"));
        }
        *l = end;
    }
    if dict {
        let rest = payload.get(pos..).unwrap_or(&[]);
        let used = decode_ints::<u32>(rest, n, ids).map_err(|x| e(pos + x.offset, x.reason))?;
        if ids.len() != n {
            return Err(e(pos, "index column has the wrong value count"));
        }
        spans.reserve(n);
        for &id in ids.iter() {
            let id = id as usize;
            let b = lens
                .get(id)
                .ok_or(e(pos, "dictionary index out of range"))?;
            let a = if id == 0 {
                0
            } else {
                lens.get(id - 1).copied().unwrap_or(0)
            };
            spans.push((a as usize, *b as usize));
        }
        pos += used;
    } else {
        spans.reserve(n);
        let mut a = 0u64;
        for &b in lens.iter() {
            spans.push((a as usize, b as usize));
            a = b;
        }
    }
    if pos != payload.len() {
        return Err(e(pos, "trailing bytes after column data"));
    }
    Ok(())
}
