//! The sparse part of a batch: fields and log messages, sent by the TypeScript layer as columns
//! (`src/batch.ts`). Entry `i` is `(rows[i], keys[i], tags[i], nums[i])`; the tag says what the
//! number is:
//!
//! | tag | entry |
//! |-----|-------|
//! | 0 | field, a whole number (exact in the f64) |
//! | 1 | field, a number (NaN and the infinities included) |
//! | 2 | field, a boolean (1 or 0) |
//! | 3 | field, a string: the next `nums[i]` UTF-16 units of `text` |
//! | 4 | field, a whole number beyond 2^53: the next `nums[i]` units of `text`, decimal |
//! | 5 | the row's log message (key ignored): the next `nums[i]` units of `text` |
//!
//! Rows are non-decreasing; text pieces follow each other in entry order. Lone surrogates become
//! U+FFFD. The row rules are the core's (`Batch::set_message`, `Batch::add_field_at`).

use laptime_core::{Batch, ValueRef};
use napi::bindgen_prelude::{Float64Array, Uint32Array, Uint8Array, Utf16String};
use napi_derive::napi;

use crate::errors::Malformed;

/// The field columns of one `append`; only the first `count` entries are read.
#[napi(object)]
pub struct NativeFieldColumns {
    pub rows: Uint32Array,
    pub keys: Uint32Array,
    pub tags: Uint8Array,
    pub nums: Float64Array,
    pub count: u32,
    pub text: Utf16String,
}

/// The columns borrowed as slices (what [`apply`] reads; tests build them directly).
pub(crate) struct FieldSlices<'a> {
    pub(crate) rows: &'a [u32],
    pub(crate) keys: &'a [u32],
    pub(crate) tags: &'a [u8],
    pub(crate) nums: &'a [f64],
    pub(crate) count: u32,
    pub(crate) text: &'a [u16],
}

impl NativeFieldColumns {
    pub(crate) fn slices(&self) -> FieldSlices<'_> {
        FieldSlices {
            rows: &self.rows,
            keys: &self.keys,
            tags: &self.tags,
            nums: &self.nums,
            count: self.count,
            text: &self.text,
        }
    }
}

const TAG_I64: u8 = 0;
const TAG_F64: u8 = 1;
const TAG_BOOL: u8 = 2;
const TAG_STR: u8 = 3;
const TAG_I64_TEXT: u8 = 4;
const TAG_MESSAGE: u8 = 5;
const TAG_AGAIN: u8 = 6;

/// Marks an entry that is not a field (a message) in the entry-to-field map.
const NOT_A_FIELD: u32 = u32::MAX;

/// Attach the fields and messages of `cols` to `batch`. Any entry that does not fit (a count
/// beyond the arrays, an unknown tag, a number that is not what its tag says, text past the end,
/// rows out of order) makes the whole call malformed, naming the entry.
pub(crate) fn apply(batch: &mut Batch, cols: &FieldSlices<'_>) -> Result<(), Malformed> {
    let n = cols.count as usize;
    for (what, len) in [
        ("rows", cols.rows.len()),
        ("keys", cols.keys.len()),
        ("tags", cols.tags.len()),
        ("nums", cols.nums.len()),
    ] {
        if n > len {
            return Err(Malformed(format!(
                "field count {n} exceeds the length of {what} ({len})"
            )));
        }
    }
    batch.reserve_fields(n, cols.text.len());
    let mut text = Text {
        units: cols.text,
        at: 0,
        piece: String::new(),
        ascii: Vec::new(),
    };
    // Entry -> index of the batch field it made (what a TAG_AGAIN entry refers to).
    let mut field_of_entry: Vec<u32> = Vec::with_capacity(n);
    for i in 0..n {
        let (row, key, tag, num) = (cols.rows[i], cols.keys[i], cols.tags[i], cols.nums[i]);
        let bad = |why: String| Malformed(format!("field entry {i} (row {row}, tag {tag}): {why}"));
        let fields_before = batch.field_count();
        let stored = match tag {
            TAG_I64 => whole(num)
                .map(ValueRef::I64)
                .ok_or_else(|| bad(format!("{num} is not a whole number")))
                .and_then(|v| {
                    batch
                        .add_field_ref_at(row, key, v)
                        .map_err(|e| bad(e.to_string()))
                }),
            TAG_F64 => batch
                .add_field_ref_at(row, key, ValueRef::F64(num))
                .map_err(|e| bad(e.to_string())),
            TAG_BOOL => batch
                .add_field_ref_at(row, key, ValueRef::Bool(num != 0.0))
                .map_err(|e| bad(e.to_string())),
            TAG_STR | TAG_I64_TEXT | TAG_MESSAGE => {
                let piece = text.take(num).map_err(bad)?;
                match tag {
                    TAG_STR => batch.add_field_ref_at(row, key, ValueRef::Str(piece)),
                    TAG_MESSAGE => batch.set_message(row, piece),
                    _ => {
                        let value = piece
                            .parse::<i64>()
                            .map_err(|_| bad(format!("{piece:?} is not a 64-bit whole number")))?;
                        batch.add_field_ref_at(row, key, ValueRef::I64(value))
                    }
                }
                .map_err(|e| bad(e.to_string()))
            }
            TAG_AGAIN => {
                let of = whole(num)
                    .and_then(|e| usize::try_from(e).ok())
                    .filter(|&e| e < i)
                    .and_then(|e| field_of_entry.get(e).copied())
                    .filter(|&f| f != NOT_A_FIELD)
                    .ok_or_else(|| bad(format!("{num} is not an earlier field entry")))?;
                batch
                    .add_field_value_of(row, key, of as usize)
                    .map_err(|e| bad(e.to_string()))
            }
            _ => Err(bad("unknown tag (0..=6)".to_owned())),
        };
        let made = if tag == TAG_MESSAGE {
            NOT_A_FIELD
        } else {
            fields_before as u32
        };
        stored?;
        field_of_entry.push(made);
    }
    if text.at != text.units.len() {
        return Err(Malformed(format!(
            "the field text has {} UTF-16 units, the entries use {}",
            text.units.len(),
            text.at
        )));
    }
    Ok(())
}

/// `num` as an i64 when it is a whole number within 2^53 (the TS layer sends larger ones as text).
fn whole(num: f64) -> Option<i64> {
    const SAFE: f64 = 9_007_199_254_740_991.0;
    (num.abs() <= SAFE && num as i64 as f64 == num).then_some(num as i64)
}

/// The text column, read piece by piece into one reused buffer (no allocation per value: the
/// batch copies each piece into its own text).
struct Text<'a> {
    units: &'a [u16],
    at: usize,
    piece: String,
    ascii: Vec<u8>,
}

impl Text<'_> {
    /// The next `len` UTF-16 units as a string.
    #[inline]
    fn take(&mut self, len: f64) -> Result<&str, String> {
        let rest = self.units.len() - self.at;
        if !(len >= 0.0 && len <= rest as f64 && len as usize as f64 == len) {
            return Err(format!(
                "a text length of {len} does not fit the {rest} units left"
            ));
        }
        let end = self.at + len as usize;
        let units = &self.units[self.at..end];
        self.at = end;
        // Most values (routes, tenants, statuses) are ASCII: a byte per unit, no decoding.
        if units.iter().all(|&u| u < 0x80) {
            self.ascii.clear();
            self.ascii.extend(units.iter().map(|&u| u as u8));
            return Ok(std::str::from_utf8(&self.ascii).unwrap_or_default());
        }
        self.piece.clear();
        let chars = char::decode_utf16(units.iter().copied());
        self.piece
            .extend(chars.map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)));
        Ok(&self.piece)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(n: usize) -> Batch {
        Batch::from_columns(vec![0; n], vec![0; n], vec![0; n], vec![0; n]).unwrap()
    }

    struct Owned {
        rows: Vec<u32>,
        keys: Vec<u32>,
        tags: Vec<u8>,
        nums: Vec<f64>,
        text: Vec<u16>,
    }

    impl Owned {
        fn new(entries: &[(u32, u32, u8, f64)], text: &str) -> Owned {
            Owned {
                rows: entries.iter().map(|e| e.0).collect(),
                keys: entries.iter().map(|e| e.1).collect(),
                tags: entries.iter().map(|e| e.2).collect(),
                nums: entries.iter().map(|e| e.3).collect(),
                text: text.encode_utf16().collect(),
            }
        }

        fn slices(&self) -> FieldSlices<'_> {
            FieldSlices {
                rows: &self.rows,
                keys: &self.keys,
                tags: &self.tags,
                nums: &self.nums,
                count: self.rows.len() as u32,
                text: &self.text,
            }
        }
    }

    #[test]
    fn messages_and_fields_land_on_their_rows() {
        let mut b = batch(3);
        let cols = Owned::new(
            &[
                (0, 4, TAG_I64, -7.0),
                (0, 5, TAG_F64, 1.5),
                (1, 6, TAG_BOOL, 1.0),
                (1, 0, TAG_MESSAGE, 5.0),
                (2, 7, TAG_STR, 2.0),
                (2, 8, TAG_F64, f64::NAN),
                (2, 9, TAG_I64_TEXT, 20.0),
                (2, 0, TAG_MESSAGE, 0.0),
            ],
            "plainé€-9223372036854775808",
        );
        apply(&mut b, &cols.slices()).unwrap();
        assert_eq!(b.messages(), &[(1, "plain".to_owned()), (2, String::new())]);
        let f: Vec<_> = b.fields().collect();
        assert_eq!(f.len(), 6);
        assert_eq!((f[0].row, f[0].key, f[0].value), (0, 4, ValueRef::I64(-7)));
        assert_eq!(f[1].value, ValueRef::F64(1.5));
        assert_eq!((f[2].row, f[2].value), (1, ValueRef::Bool(true)));
        assert_eq!(f[3].value, ValueRef::Str("é€"));
        assert!(matches!(f[4].value, ValueRef::F64(v) if v.is_nan()));
        assert_eq!(f[5].value, ValueRef::I64(i64::MIN));
        apply(&mut batch(1), &Owned::new(&[], "").slices()).unwrap();
    }

    #[test]
    fn a_repeated_entry_takes_the_value_of_the_one_it_names() {
        let mut b = batch(3);
        let cols = Owned::new(
            &[
                (0, 1, TAG_STR, 10.0),
                (0, 0, TAG_MESSAGE, 2.0),
                (0, 2, TAG_I64, 7.0),
                (1, 1, TAG_AGAIN, 0.0),
                (2, 1, TAG_AGAIN, 0.0),
                (2, 2, TAG_AGAIN, 2.0),
                (2, 3, TAG_AGAIN, 5.0),
            ],
            "/users/:idhi",
        );
        apply(&mut b, &cols.slices()).unwrap();
        let f: Vec<_> = b.fields().map(|f| (f.row, f.key, f.value)).collect();
        let route = ValueRef::Str("/users/:id");
        assert_eq!(
            f,
            [
                (0, 1, route),
                (0, 2, ValueRef::I64(7)),
                (1, 1, route),
                (2, 1, route),
                (2, 2, ValueRef::I64(7)),
                (2, 3, ValueRef::I64(7)),
            ]
        );
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let mut b = batch(1);
        let mut cols = Owned::new(&[(0, 1, TAG_STR, 3.0)], "");
        cols.text = vec![u16::from(b'a'), 0xD800, u16::from(b'b')];
        apply(&mut b, &cols.slices()).unwrap();
        let f: Vec<_> = b.fields().collect();
        assert_eq!(f[0].value, ValueRef::Str("a\u{FFFD}b"));
    }

    #[test]
    fn errors_name_the_entry() {
        let err = |entries: &[(u32, u32, u8, f64)], text: &str| {
            apply(&mut batch(2), &Owned::new(entries, text).slices())
                .unwrap_err()
                .0
        };
        assert!(err(&[(0, 1, TAG_I64, 1.0), (0, 1, 9, 2.0)], "").contains("field entry 1"));
        assert!(err(&[(0, 1, TAG_I64, 2.5)], "").contains("2.5 is not a whole number"));
        assert!(err(&[(5, 0, TAG_MESSAGE, 1.0)], "x").contains("out of range"));
        assert!(
            err(&[(1, 0, TAG_MESSAGE, 1.0), (0, 0, TAG_MESSAGE, 1.0)], "xy")
                .contains("field entry 1")
        );
        assert!(err(&[(0, 1, TAG_STR, 4.0)], "abc").contains("does not fit the 3 units"));
        assert!(err(&[(0, 1, TAG_STR, -1.0)], "abc").contains("text length of -1"));
        assert!(
            err(&[(0, 1, TAG_STR, 1.0)], "abc").contains("has 3 UTF-16 units, the entries use 1")
        );
        assert!(err(&[(0, 1, TAG_I64_TEXT, 2.0)], "1x").contains("not a 64-bit whole number"));
        let again = |of: f64| err(&[(0, 0, TAG_MESSAGE, 1.0), (0, 1, TAG_AGAIN, of)], "x");
        for of in [1.0, 2.0, -1.0, 0.5, f64::NAN] {
            assert!(again(of).contains("is not an earlier field entry"), "{of}");
        }
        assert!(
            again(0.0).contains("field entry 1 (row 0, tag 6)"),
            "a message is no field"
        );
        let mut short = Owned::new(&[(0, 1, TAG_I64, 1.0)], "");
        short.tags.clear();
        let e = apply(&mut batch(1), &short.slices()).unwrap_err().0;
        assert!(e.contains("exceeds the length of tags (0)"), "{e}");
    }
}
