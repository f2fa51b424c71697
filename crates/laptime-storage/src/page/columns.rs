//! The in-memory columns of one page.

use crate::encoding::{StringColumn, StringDictionary};
use crate::event::{Batch, NameId, Value, ValueRef, ValueType};

/// Which columns to decode; the dense columns are cheap, sparse ones (messages, fields) cost more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnSet {
    /// `start_ns`
    pub starts: bool,
    /// name ids
    pub names: bool,
    /// durations (decoding them also needs the name column, which is then decoded too)
    pub durations: bool,
    /// event codes (kind, status, level)
    pub codes: bool,
    /// log messages
    pub messages: bool,
    /// schema-less fields: which keys' columns
    pub fields: FieldKeys,
}

/// The field columns to decode: none, every key's, or a few keys' (a filter or grouping on one
/// attribute then decodes that attribute alone, not the others, some of which may be costly
/// many-valued strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldKeys {
    keys: [NameId; FieldKeys::MAX_KEYS],
    /// Keys in use, or [`FieldKeys::EVERY`].
    len: u8,
}

impl FieldKeys {
    /// Most keys listed one by one; more means every key.
    const MAX_KEYS: usize = 4;
    const EVERY: u8 = u8::MAX;
    /// No field column.
    pub const NONE: FieldKeys = FieldKeys {
        keys: [0; FieldKeys::MAX_KEYS],
        len: 0,
    };
    /// Every field column.
    pub const ALL: FieldKeys = FieldKeys {
        keys: [0; FieldKeys::MAX_KEYS],
        len: FieldKeys::EVERY,
    };

    /// These keys and `key`.
    #[must_use]
    pub fn with(self, key: NameId) -> FieldKeys {
        if self.wants(key) {
            return self;
        }
        let n = self.len as usize;
        if n == Self::MAX_KEYS {
            return Self::ALL;
        }
        let mut more = self;
        more.keys[n] = key;
        more.len += 1;
        more
    }

    /// Whether `key`'s column is decoded.
    pub fn wants(&self, key: NameId) -> bool {
        self.len == Self::EVERY || self.keys[..self.len as usize].contains(&key)
    }

    /// Whether any field column is decoded.
    pub fn any(&self) -> bool {
        self.len != 0
    }

    /// Whether every column `other` decodes is one of these.
    pub fn covers(&self, other: &FieldKeys) -> bool {
        if self.len == Self::EVERY {
            return true;
        }
        other.len != Self::EVERY
            && other.keys[..other.len as usize]
                .iter()
                .all(|&k| self.wants(k))
    }
}

impl ColumnSet {
    /// Every column.
    pub const ALL: ColumnSet = ColumnSet {
        starts: true,
        names: true,
        durations: true,
        codes: true,
        messages: true,
        fields: FieldKeys::ALL,
    };
    /// No column (a page's section is still checked whole).
    pub const NONE: ColumnSet = ColumnSet {
        starts: false,
        names: false,
        durations: false,
        codes: false,
        messages: false,
        fields: FieldKeys::NONE,
    };
    /// The four dense columns.
    pub const CORE: ColumnSet = ColumnSet {
        starts: true,
        names: true,
        durations: true,
        codes: true,
        messages: false,
        fields: FieldKeys::NONE,
    };
}

/// Values of one sparse field column.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValues {
    /// Integers.
    I64(Vec<i64>),
    /// Floats.
    F64(Vec<f64>),
    /// Booleans.
    Bool(Vec<bool>),
    /// Strings.
    Str(StringColumn),
}

impl FieldValues {
    fn new(t: ValueType) -> FieldValues {
        match t {
            ValueType::I64 => FieldValues::I64(Vec::new()),
            ValueType::F64 => FieldValues::F64(Vec::new()),
            ValueType::Bool => FieldValues::Bool(Vec::new()),
            ValueType::Str => FieldValues::Str(StringColumn::default()),
        }
    }

    /// The type of the values.
    pub fn value_type(&self) -> ValueType {
        match self {
            FieldValues::I64(_) => ValueType::I64,
            FieldValues::F64(_) => ValueType::F64,
            FieldValues::Bool(_) => ValueType::Bool,
            FieldValues::Str(_) => ValueType::Str,
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            FieldValues::I64(v) => v.len(),
            FieldValues::F64(v) => v.len(),
            FieldValues::Bool(v) => v.len(),
            FieldValues::Str(v) => v.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value at `i` as an owned [`Value`].
    pub fn get(&self, i: usize) -> Option<Value> {
        match self {
            FieldValues::I64(v) => v.get(i).map(|x| Value::I64(*x)),
            FieldValues::F64(v) => v.get(i).map(|x| Value::F64(*x)),
            FieldValues::Bool(v) => v.get(i).map(|x| Value::Bool(*x)),
            FieldValues::Str(v) => (i < v.len()).then(|| Value::Str(v.get(i).to_owned())),
        }
    }

    /// Append a value of the matching type; returns false (and stores nothing) on a type mismatch.
    fn push(&mut self, value: ValueRef<'_>) -> bool {
        match (self, value) {
            (FieldValues::I64(v), ValueRef::I64(x)) => v.push(x),
            (FieldValues::F64(v), ValueRef::F64(x)) => v.push(x),
            (FieldValues::Bool(v), ValueRef::Bool(x)) => v.push(x),
            (FieldValues::Str(v), ValueRef::Str(x)) => v.push(x),
            _ => return false,
        }
        true
    }
}

/// One sparse field column: the rows that carry key `key` with a value of one type.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldColumn {
    /// Interned key.
    pub key: NameId,
    /// Rows (ascending) that carry the field.
    pub rows: Vec<u32>,
    /// One value per row in `rows`.
    pub values: FieldValues,
}

/// The events of one page as columns. Dense columns have one entry per row; messages and fields are
/// sparse (row lists).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageColumns {
    /// Name id per row.
    pub names: Vec<NameId>,
    /// Start, epoch ns, per row.
    pub starts: Vec<u64>,
    /// Duration, ns, per row (0 for logs).
    pub durations: Vec<u64>,
    /// Code byte per row (see [`crate::Code`]).
    pub codes: Vec<u8>,
    /// Rows (ascending) that carry a message.
    pub message_rows: Vec<u32>,
    /// Messages, one per entry of `message_rows`.
    pub messages: StringColumn,
    /// Field columns, sorted by (key, type).
    pub fields: Vec<FieldColumn>,
}

impl PageColumns {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when the page holds no row.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Remove everything, keeping allocations.
    pub fn clear(&mut self) {
        self.names.clear();
        self.starts.clear();
        self.durations.clear();
        self.codes.clear();
        self.message_rows.clear();
        self.messages.clear();
        self.fields.clear();
    }

    /// The column of `key` with values of type `t`, created empty when missing.
    fn field_column(&mut self, key: NameId, t: ValueType) -> &mut FieldColumn {
        let i = match self
            .fields
            .iter()
            .position(|c| c.key == key && c.values.value_type() == t)
        {
            Some(i) => i,
            None => {
                self.fields.push(FieldColumn {
                    key,
                    rows: Vec::new(),
                    values: FieldValues::new(t),
                });
                self.fields.len() - 1
            }
        };
        &mut self.fields[i]
    }

    /// Append rows `from..to` of `batch`.
    pub(crate) fn append_batch(&mut self, batch: &Batch, from: usize, to: usize) {
        let base = self.names.len() as u32;
        self.names.extend_from_slice(&batch.names[from..to]);
        self.starts.extend_from_slice(&batch.starts[from..to]);
        self.durations.extend_from_slice(&batch.durations[from..to]);
        self.codes.extend_from_slice(&batch.codes[from..to]);
        let in_range = |row: u32| (row as usize) >= from && (row as usize) < to;
        for (row, msg) in batch.messages.iter().filter(|(r, _)| in_range(*r)) {
            self.message_rows.push(base + row - from as u32);
            self.messages.push(msg);
        }
        for f in batch.fields().filter(|f| in_range(f.row)) {
            let row = base + f.row - from as u32;
            let col = self.field_column(f.key, f.value.type_tag());
            // A row that sets the same key twice keeps the first value: columns hold one value per row.
            if col.rows.last() == Some(&row) {
                continue;
            }
            if col.values.push(f.value) {
                col.rows.push(row);
            }
        }
    }

    /// Append rows `from..to` of another page (compaction re-packs pages this way).
    pub(crate) fn append_rows(&mut self, other: &PageColumns, from: usize, to: usize) {
        let base = self.names.len() as u32;
        self.names.extend_from_slice(&other.names[from..to]);
        self.starts.extend_from_slice(&other.starts[from..to]);
        self.durations.extend_from_slice(&other.durations[from..to]);
        self.codes.extend_from_slice(&other.codes[from..to]);
        let shift = |row: u32| base + row - from as u32;
        let range = (from as u32)..(to as u32);
        for (i, &row) in other.message_rows.iter().enumerate() {
            if range.contains(&row) {
                self.message_rows.push(shift(row));
                self.messages.push(other.messages.get(i));
            }
        }
        for col in &other.fields {
            let dest = self.field_column(col.key, col.values.value_type());
            for (i, &row) in col.rows.iter().enumerate() {
                if range.contains(&row) {
                    if let Some(v) = col.values.get(i) {
                        dest.values.push(v.as_value_ref());
                        dest.rows.push(shift(row));
                    }
                }
            }
        }
        self.fields.retain(|c| !c.rows.is_empty());
    }

    /// Approximate heap bytes, for the bufferpool's accounting.
    pub fn heap_bytes(&self) -> usize {
        self.names.capacity() * 4
            + self.starts.capacity() * 8
            + self.durations.capacity() * 8
            + self.codes.capacity()
            + self.message_rows.capacity() * 4
            + self.messages.heap_bytes()
            + self
                .fields
                .iter()
                .map(|f| {
                    f.rows.capacity() * 4
                        + match &f.values {
                            FieldValues::I64(v) => v.capacity() * 8,
                            FieldValues::F64(v) => v.capacity() * 8,
                            FieldValues::Bool(v) => v.capacity(),
                            FieldValues::Str(v) => v.heap_bytes(),
                        }
                })
                .sum::<usize>()
    }

    /// Reorder rows by start time (stable), so the start column is sorted and zone maps are tight.
    /// Storage order inside a page carries no meaning; seq ranges are per page, not per row.
    pub(crate) fn sort_by_start(&mut self) {
        if self.starts.windows(2).all(|w| w[0] <= w[1]) {
            return;
        }
        let n = self.len();
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by_key(|&i| self.starts[i as usize]);
        let mut new_row = vec![0u32; n];
        for (new, &old) in order.iter().enumerate() {
            new_row[old as usize] = new as u32;
        }
        self.names = order.iter().map(|&i| self.names[i as usize]).collect();
        self.starts = order.iter().map(|&i| self.starts[i as usize]).collect();
        self.durations = order.iter().map(|&i| self.durations[i as usize]).collect();
        self.codes = order.iter().map(|&i| self.codes[i as usize]).collect();

        let mut msgs: Vec<(u32, usize)> = self
            .message_rows
            .iter()
            .enumerate()
            .map(|(i, &r)| (new_row[r as usize], i))
            .collect();
        msgs.sort_unstable();
        let mut messages = StringColumn::default();
        for &(_, i) in &msgs {
            messages.push(self.messages.get(i));
        }
        self.message_rows = msgs.iter().map(|&(r, _)| r).collect();
        self.messages = messages;

        for col in &mut self.fields {
            let mut idx: Vec<(u32, usize)> = col
                .rows
                .iter()
                .enumerate()
                .map(|(i, &r)| (new_row[r as usize], i))
                .collect();
            idx.sort_unstable();
            col.rows = idx.iter().map(|&(r, _)| r).collect();
            col.values = match &col.values {
                FieldValues::I64(v) => FieldValues::I64(idx.iter().map(|&(_, i)| v[i]).collect()),
                FieldValues::F64(v) => FieldValues::F64(idx.iter().map(|&(_, i)| v[i]).collect()),
                FieldValues::Bool(v) => FieldValues::Bool(idx.iter().map(|&(_, i)| v[i]).collect()),
                FieldValues::Str(v) => {
                    let mut s = StringColumn::default();
                    for &(_, i) in &idx {
                        s.push(v.get(i));
                    }
                    FieldValues::Str(s)
                }
            };
        }
    }

    /// Sort field columns by (key, type) so encodings are canonical.
    pub(crate) fn canonicalize_fields(&mut self) {
        self.fields
            .sort_by_key(|c| (c.key, c.values.value_type() as u8));
    }

    /// All fields of `row` as (key, value), in column order. Linear in the number of field columns.
    pub fn fields_of(&self, row: u32) -> Vec<(NameId, Value)> {
        let mut out = Vec::new();
        for col in &self.fields {
            if let Ok(i) = col.rows.binary_search(&row) {
                if let Some(v) = col.values.get(i) {
                    out.push((col.key, v));
                }
            }
        }
        out
    }

    /// The message of `row`, if it has one.
    pub fn message_of(&self, row: u32) -> Option<&str> {
        self.message_rows
            .binary_search(&row)
            .ok()
            .map(|i| self.messages.get(i))
    }
}

/// Rows of each name, in row order: the permutation that groups the duration column by name
/// (durations of one function are alike, so grouped they bit-pack far tighter). Names ascend by id.
/// `perm` and `slots` are reused buffers.
pub(crate) fn group_by_name(names: &[NameId], perm: &mut Vec<u32>, slots: &mut Vec<u32>) {
    perm.clear();
    perm.resize(names.len(), 0);
    let max = names.iter().copied().max().unwrap_or(0) as usize;
    // Ids are dense (interned in order), so a counting sort over an id-indexed table is the
    // common case; a sparse page with huge ids falls back to a sort.
    if max < (names.len() * 4).max(1 << 16) {
        slots.clear();
        slots.resize(max + 2, 0);
        for &n in names {
            slots[n as usize + 1] += 1;
        }
        for i in 1..slots.len() {
            slots[i] += slots[i - 1];
        }
        for (row, &n) in names.iter().enumerate() {
            let o = &mut slots[n as usize];
            perm[*o as usize] = row as u32;
            *o += 1;
        }
    } else {
        for (i, p) in perm.iter_mut().enumerate() {
            *p = i as u32;
        }
        perm.sort_by_key(|&r| names[r as usize]);
    }
}

/// The values of each string field column of a page and their dictionary, built once when the page
/// seals: the meta's value index counts by the dictionary and the column encoder stores it, so no
/// value is hashed twice. Indexed like `PageColumns::fields` (empty and `None` for other columns).
pub(crate) struct StringFields<'a> {
    pub values: Vec<Vec<&'a str>>,
    pub dicts: Vec<Option<StringDictionary<'a>>>,
}

impl<'a> StringFields<'a> {
    pub(crate) fn of(cols: &'a PageColumns) -> StringFields<'a> {
        let values: Vec<Vec<&str>> = cols
            .fields
            .iter()
            .map(|f| match &f.values {
                FieldValues::Str(v) => v.iter().collect(),
                _ => Vec::new(),
            })
            .collect();
        let dicts = values
            .iter()
            .map(|v| crate::encoding::string_dictionary(v))
            .collect();
        StringFields { values, dicts }
    }
}
