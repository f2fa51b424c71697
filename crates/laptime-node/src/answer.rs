//! A query's answer as it crosses to JS: a few flat columns, not an object per row or a string
//! per key. Each JS value the addon makes costs a call into V8, tens of nanoseconds warm and up
//! to a microsecond with cold caches (a query after idle time), and a 200-group answer made 200
//! key strings. The key cells now cross as three columns, in column-major order (every row of the
//! first dimension, then of the next):
//!
//! | tag | cell | `key_nums` |
//! |-----|------|------------|
//! | 0 | null: the event has no such field | 0 |
//! | 1 | string: the next `key_nums[i]` UTF-16 units of `key_text` | length |
//! | 2 | number (time buckets in epoch ms) | the number |
//! | 3 | boolean | 1 or 0 |
//!
//! The TS layer (`src/answer.ts`) unpacks them; the packing is done on the pool thread.

use std::sync::Arc;

use laptime_core::query::{GroupValue, QueryResult, QueryStats};
use napi::bindgen_prelude::{Float64Array, Uint8Array};
use napi_derive::napi;

const KEY_NULL: u8 = 0;
const KEY_STRING: u8 = 1;
const KEY_NUMBER: u8 = 2;
const KEY_BOOLEAN: u8 = 3;

/// A query's answer.
#[napi(object)]
pub struct NativeQueryResult {
    /// Labels of the key columns.
    pub key_labels: Vec<String>,
    /// Labels of the value columns.
    pub value_labels: Vec<String>,
    /// Groups in the answer.
    pub row_count: u32,
    /// What each key cell is (see the module's table), `row_count` a dimension.
    pub key_tags: Uint8Array,
    /// Each key cell's number: a string's length in UTF-16 units, a number, a boolean as 1 or 0.
    pub key_nums: Float64Array,
    /// The string cells, one after the other.
    pub key_text: String,
    /// The aggregates, row after row (`value_labels` of them a row); NaN where a row has nothing
    /// to aggregate.
    pub values: Float64Array,
    /// When the matching calls were seen (set when `rate` is asked for and a call matched).
    pub span: Option<NativeSpan>,
    /// Execution figures.
    pub stats: NativeQueryStats,
}

/// What the engine did.
#[napi(object)]
pub struct NativeQueryStats {
    /// Pages in the store.
    pub pages_total: f64,
    /// Pages ruled out by their zone maps or indexes.
    pub pages_skipped: f64,
    /// Of those, the pages only an index ruled out.
    pub pages_skipped_by_index: f64,
    /// Pages answered from their counts and sketches.
    pub pages_from_meta: f64,
    /// Of those, the pages answered from the value index.
    pub pages_from_index: f64,
    /// Pages decoded.
    pub pages_decoded: f64,
    /// Rows of decoded pages examined.
    pub rows_scanned: f64,
    /// Events that matched.
    pub rows_matched: f64,
    /// Whether percentiles are exact.
    pub exact_percentiles: bool,
}

impl From<QueryStats> for NativeQueryStats {
    fn from(s: QueryStats) -> NativeQueryStats {
        NativeQueryStats {
            pages_total: s.pages_total as f64,
            pages_skipped: s.pages_skipped as f64,
            pages_skipped_by_index: s.pages_skipped_by_index as f64,
            pages_from_meta: s.pages_from_meta as f64,
            pages_from_index: s.pages_from_index as f64,
            pages_decoded: s.pages_decoded as f64,
            rows_scanned: s.rows_scanned as f64,
            rows_matched: s.rows_matched as f64,
            exact_percentiles: s.exact_percentiles,
        }
    }
}

/// Start times of the first and the last matching call, epoch ms (fractional).
#[napi(object)]
pub struct NativeSpan {
    pub first_ms: f64,
    pub last_ms: f64,
}

/// The answer's columns, made on the pool thread; [`Packed::into_js`] only wraps them.
pub struct Packed {
    key_labels: Vec<String>,
    value_labels: Vec<String>,
    row_count: u32,
    key_tags: Vec<u8>,
    key_nums: Vec<f64>,
    key_text: String,
    values: Vec<f64>,
    span: Option<(f64, f64)>,
    stats: QueryStats,
}

impl Packed {
    pub(crate) fn new(r: QueryResult) -> Packed {
        let rows = r.rows.len();
        let dims = r.key_labels.len();
        let mut key_tags = vec![KEY_NULL; rows * dims];
        let mut key_nums = vec![0.0; rows * dims];
        // Strings wait here: the text goes column by column, the rows come row by row.
        let mut strings: Vec<Option<Arc<str>>> = vec![None; rows * dims];
        let mut values = Vec::with_capacity(rows * r.value_labels.len());
        for (row, answer) in r.rows.into_iter().enumerate() {
            for (dim, key) in answer.key.into_iter().enumerate().take(dims) {
                let cell = dim * rows + row;
                let (tag, num) = match key {
                    GroupValue::Null => (KEY_NULL, 0.0),
                    GroupValue::Str(s) => {
                        let len = utf16_len(&s) as f64;
                        strings[cell] = Some(s);
                        (KEY_STRING, len)
                    }
                    GroupValue::I64(x) => (KEY_NUMBER, x as f64),
                    GroupValue::F64(x) => (KEY_NUMBER, x),
                    GroupValue::Bool(b) => (KEY_BOOLEAN, f64::from(u8::from(b))),
                    // Epoch ms: a JS number holds epoch ns only to about 256 ns, ms to
                    // sub-microseconds.
                    GroupValue::Time(ns) => (KEY_NUMBER, ns as f64 / 1e6),
                };
                key_tags[cell] = tag;
                key_nums[cell] = num;
            }
            values.extend(answer.values.iter().map(|v| v.as_f64().unwrap_or(f64::NAN)));
        }
        // The text in cell order, so JS reads it front to back.
        let key_text: String = strings.iter().flatten().map(|s| &**s).collect();
        Packed {
            key_labels: r.key_labels,
            value_labels: r.value_labels,
            row_count: u32::try_from(rows).unwrap_or(u32::MAX),
            key_tags,
            key_nums,
            key_text,
            values,
            span: r
                .span
                .map(|s| (s.first_ns as f64 / 1e6, s.last_ns as f64 / 1e6)),
            stats: r.stats,
        }
    }

    pub(crate) fn into_js(self) -> NativeQueryResult {
        NativeQueryResult {
            key_labels: self.key_labels,
            value_labels: self.value_labels,
            row_count: self.row_count,
            key_tags: Uint8Array::new(self.key_tags),
            key_nums: Float64Array::new(self.key_nums),
            key_text: self.key_text,
            values: Float64Array::new(self.values),
            span: self
                .span
                .map(|(first_ms, last_ms)| NativeSpan { first_ms, last_ms }),
            stats: self.stats.into(),
        }
    }
}

/// Length in UTF-16 units, what a JS string's `length` counts.
fn utf16_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.encode_utf16().count()
    }
}

#[cfg(test)]
mod tests {
    use laptime_core::query::{AggValue, Row};

    use super::*;

    fn str_key(s: &str) -> GroupValue {
        GroupValue::Str(Arc::from(s))
    }

    #[test]
    fn keys_cross_column_by_column_with_lengths_in_utf16_units() {
        let rows = vec![
            Row {
                key: vec![str_key("é-checkout"), GroupValue::Time(1_500_000)],
                values: vec![AggValue::Count(3)],
            },
            Row {
                key: vec![GroupValue::Null, GroupValue::Bool(true)],
                values: vec![AggValue::None],
            },
            Row {
                key: vec![str_key("𝄞"), GroupValue::I64(-7)],
                values: vec![AggValue::Float(2.5)],
            },
        ];
        let packed = Packed::new(QueryResult {
            key_labels: vec!["name".into(), "b".into()],
            value_labels: vec!["count".into()],
            rows,
            span: None,
            stats: QueryStats::default(),
        });
        assert_eq!(packed.row_count, 3);
        assert_eq!(
            packed.key_tags,
            [
                KEY_STRING,
                KEY_NULL,
                KEY_STRING,
                KEY_NUMBER,
                KEY_BOOLEAN,
                KEY_NUMBER
            ]
        );
        // "é" is one UTF-16 unit (two UTF-8 bytes); "𝄞" is two (four bytes).
        assert_eq!(packed.key_nums, [10.0, 0.0, 2.0, 1.5, 1.0, -7.0]);
        assert_eq!(packed.key_text, "é-checkout𝄞");
        assert_eq!(packed.values[0], 3.0);
        assert!(packed.values[1].is_nan());
        assert_eq!(packed.values[2], 2.5);
    }

    #[test]
    fn an_answer_without_dimensions_has_no_key_cells() {
        let packed = Packed::new(QueryResult {
            key_labels: vec![],
            value_labels: vec!["count".into()],
            rows: vec![Row {
                key: vec![],
                values: vec![AggValue::Count(0)],
            }],
            span: None,
            stats: QueryStats::default(),
        });
        assert_eq!(packed.row_count, 1);
        assert!(packed.key_tags.is_empty() && packed.key_nums.is_empty());
        assert!(packed.key_text.is_empty());
    }
}
