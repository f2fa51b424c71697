//! The event model: what one captured call or log line is, and the struct-of-arrays [`Batch`] in
//! which producers hand events to the store.
//!
//! Every event has a name (interned to a [`NameId`]), a wall-clock start in epoch nanoseconds, a
//! duration in nanoseconds (0 for log events) and a one-byte [`Code`] that says whether it is a call
//! (ok or error) or a log line (and at which level). Any event may carry schema-less fields; log
//! events carry a message.

use std::fmt;
use std::sync::Arc;

use crate::error::Error;

/// Id of an interned string (function name, logger name or field key) in a partition's dictionary.
pub type NameId = u32;

/// Severity of a log event, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Level {
    /// Finest detail.
    Trace = 0,
    /// Debugging detail.
    Debug = 1,
    /// Normal operation.
    Info = 2,
    /// Something unexpected that was handled.
    Warn = 3,
    /// An operation failed.
    Error = 4,
    /// The process cannot go on.
    Fatal = 5,
}

impl Level {
    /// All levels, lowest first.
    pub const ALL: [Level; 6] = [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
        Level::Fatal,
    ];

    /// Lower-case name, as the CLI and the filter syntax spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }

    /// The level with this number (0 = trace .. 5 = fatal).
    pub fn from_u8(v: u8) -> Option<Level> {
        Level::ALL.get(usize::from(v)).copied()
    }
}

/// What kind of event a row is, packed into one byte on disk (column `code`):
/// 0 = call ok, 1 = call error, 2..=7 = log at level 0..=5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// A call that returned normally.
    CallOk,
    /// A call that threw, rejected or returned an error.
    CallError,
    /// A log line.
    Log(Level),
}

impl Code {
    /// Byte stored in the `code` column.
    pub fn to_byte(self) -> u8 {
        match self {
            Code::CallOk => 0,
            Code::CallError => 1,
            Code::Log(level) => 2 + level as u8,
        }
    }

    /// Inverse of [`Code::to_byte`]; `None` for bytes no version wrote.
    pub fn from_byte(b: u8) -> Option<Code> {
        match b {
            0 => Some(Code::CallOk),
            1 => Some(Code::CallError),
            2..=7 => Level::from_u8(b - 2).map(Code::Log),
            _ => None,
        }
    }

    /// True for call events.
    pub fn is_call(self) -> bool {
        matches!(self, Code::CallOk | Code::CallError)
    }
}

/// Highest valid byte of the `code` column.
pub(crate) const MAX_CODE_BYTE: u8 = 7;

/// Most events a store takes in one batch (a WAL record counts them in 31 bits); a larger batch is
/// refused whole (it would hold about 45 GB of events, so only a mistake makes one).
pub const MAX_BATCH_EVENTS: usize = (1 << 31) - 1;

/// A schema-less field value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Signed integer.
    I64(i64),
    /// Floating point number.
    F64(f64),
    /// Boolean.
    Bool(bool),
    /// Text.
    Str(String),
}

impl Value {
    /// Type tag stored on disk; a key used with several types gets one column per type.
    pub fn type_tag(&self) -> ValueType {
        match self {
            Value::I64(_) => ValueType::I64,
            Value::F64(_) => ValueType::F64,
            Value::Bool(_) => ValueType::Bool,
            Value::Str(_) => ValueType::Str,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::I64(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Str(v) => f.write_str(v),
        }
    }
}

/// A field value borrowed from where it is kept (a [`Batch`]'s text, a [`Value`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    /// Signed integer.
    I64(i64),
    /// Floating point number.
    F64(f64),
    /// Boolean.
    Bool(bool),
    /// Text.
    Str(&'a str),
}

impl ValueRef<'_> {
    /// The owned value.
    pub fn to_value(self) -> Value {
        match self {
            ValueRef::I64(v) => Value::I64(v),
            ValueRef::F64(v) => Value::F64(v),
            ValueRef::Bool(v) => Value::Bool(v),
            ValueRef::Str(v) => Value::Str(v.to_owned()),
        }
    }

    /// Type tag stored on disk.
    pub fn type_tag(self) -> ValueType {
        match self {
            ValueRef::I64(_) => ValueType::I64,
            ValueRef::F64(_) => ValueType::F64,
            ValueRef::Bool(_) => ValueType::Bool,
            ValueRef::Str(_) => ValueType::Str,
        }
    }
}

impl Value {
    /// The value, borrowed.
    pub fn as_value_ref(&self) -> ValueRef<'_> {
        match self {
            Value::I64(v) => ValueRef::I64(*v),
            Value::F64(v) => ValueRef::F64(*v),
            Value::Bool(v) => ValueRef::Bool(*v),
            Value::Str(v) => ValueRef::Str(v),
        }
    }
}

/// The type of a field column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ValueType {
    /// [`Value::I64`]
    I64 = 0,
    /// [`Value::F64`]
    F64 = 1,
    /// [`Value::Bool`]
    Bool = 2,
    /// [`Value::Str`]
    Str = 3,
}

impl ValueType {
    /// Inverse of `as u8`.
    pub fn from_u8(v: u8) -> Option<ValueType> {
        match v {
            0 => Some(ValueType::I64),
            1 => Some(ValueType::F64),
            2 => Some(ValueType::Bool),
            3 => Some(ValueType::Str),
            _ => None,
        }
    }
}

/// One field of one row of a [`Batch`]; its value is read through [`Batch::fields`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchField {
    /// Row inside the batch.
    pub row: u32,
    /// Interned key.
    pub key: NameId,
    /// The value; a string is a range of the batch's text.
    slot: Slot,
}

/// A field value as a batch keeps it: strings live in one text per batch, so a field costs no
/// allocation of its own (per-call attributes, issue 12).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    I64(i64),
    F64(f64),
    Bool(bool),
    Str { at: u32, len: u32 },
}

/// One field of a batch, its value borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FieldRef<'a> {
    /// Row inside the batch.
    pub row: u32,
    /// Interned key.
    pub key: NameId,
    /// Value.
    pub value: ValueRef<'a>,
}

/// Longest source id of an [`Origin`].
pub const MAX_SOURCE_BYTES: usize = 256;

/// Where a received batch came from: events `first_seq..end_seq` of `source` (a shipping
/// partition, an ingest instance). The writer records the highest `end_seq` per source durably
/// with the events (the same WAL record, then the partition's `ORIGINS`), so a redelivered batch
/// is recognised after any crash (see `origins.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Source id.
    pub source: Arc<str>,
    /// Seq (of the source) of the batch's first event.
    pub first_seq: u64,
    /// Seq one past its last event.
    pub end_seq: u64,
}

/// A batch of events in struct-of-arrays form: the unit that crosses the ring to the writer.
///
/// The four dense columns always have the same length; messages and fields are sparse lists keyed by
/// row, kept in row order. String field values are ranges of `text`, one buffer per batch.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub(crate) names: Vec<NameId>,
    pub(crate) starts: Vec<u64>,
    pub(crate) durations: Vec<u64>,
    pub(crate) codes: Vec<u8>,
    pub(crate) messages: Vec<(u32, String)>,
    fields: Vec<BatchField>,
    text: String,
    /// Set on a batch received from another store or an ingest (see [`Origin`]).
    pub(crate) origin: Option<Origin>,
}

/// Batches are equal when their events are: the same rows, messages and field values, however
/// their text buffers are laid out.
impl PartialEq for Batch {
    fn eq(&self, other: &Batch) -> bool {
        self.names == other.names
            && self.starts == other.starts
            && self.durations == other.durations
            && self.codes == other.codes
            && self.messages == other.messages
            && self.fields.len() == other.fields.len()
            && self.fields().eq(other.fields())
            && self.origin == other.origin
    }
}

impl Batch {
    /// An empty batch with room for `n` events.
    pub fn with_capacity(n: usize) -> Batch {
        Batch {
            names: Vec::with_capacity(n),
            starts: Vec::with_capacity(n),
            durations: Vec::with_capacity(n),
            codes: Vec::with_capacity(n),
            messages: Vec::new(),
            fields: Vec::new(),
            text: String::new(),
            origin: None,
        }
    }

    /// Where the batch came from, if it was received (see [`Origin`]).
    pub fn origin(&self) -> Option<&Origin> {
        self.origin.as_ref()
    }

    /// Mark the batch as events `first_seq..end_seq` of `source` (see [`Origin`]). Fails when the
    /// range is empty or reversed, or the source id is empty or longer than 256 bytes.
    pub fn set_origin(&mut self, source: &str, first_seq: u64, end_seq: u64) -> Result<(), Error> {
        if source.is_empty() || source.len() > MAX_SOURCE_BYTES || first_seq >= end_seq {
            return Err(Error::InvalidInput {
                what: "origin",
                reason: format!(
                    "source {source:?} (1 to {MAX_SOURCE_BYTES} bytes) with seqs {first_seq}..{end_seq} (not empty)"
                ),
            });
        }
        self.origin = Some(Origin {
            source: Arc::from(source),
            first_seq,
            end_seq,
        });
        Ok(())
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when the batch holds no event.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Remove all events (and the origin they came with), keeping the allocations.
    pub fn clear(&mut self) {
        self.names.clear();
        self.starts.clear();
        self.durations.clear();
        self.codes.clear();
        self.messages.clear();
        self.fields.clear();
        self.text.clear();
        self.origin = None;
    }

    /// Append a call event; returns its row.
    pub fn push_call(&mut self, name: NameId, start_ns: u64, duration_ns: u64, ok: bool) -> u32 {
        let code = if ok { Code::CallOk } else { Code::CallError };
        self.push(name, start_ns, duration_ns, code)
    }

    /// Append a log event; returns its row.
    pub fn push_log(&mut self, name: NameId, start_ns: u64, level: Level, message: &str) -> u32 {
        let row = self.push(name, start_ns, 0, Code::Log(level));
        self.messages.push((row, message.to_owned()));
        row
    }

    /// Append an event of any kind without message; returns its row.
    pub fn push(&mut self, name: NameId, start_ns: u64, duration_ns: u64, code: Code) -> u32 {
        let row = self.names.len() as u32;
        self.names.push(name);
        self.starts.push(start_ns);
        self.durations.push(duration_ns);
        self.codes.push(code.to_byte());
        row
    }

    /// Make room for `n` more events in the dense columns.
    pub fn reserve(&mut self, n: usize) {
        self.names.reserve(n);
        self.starts.reserve(n);
        self.durations.reserve(n);
        self.codes.reserve(n);
    }

    /// The dense columns (names, starts, durations, codes), for building the next batch in their
    /// memory with [`Batch::from_columns`]; messages and fields are dropped.
    pub fn into_columns(self) -> (Vec<NameId>, Vec<u64>, Vec<u64>, Vec<u8>) {
        (self.names, self.starts, self.durations, self.codes)
    }

    /// A batch from dense columns (all of the same length; codes as in [`Code::to_byte`]).
    pub fn from_columns(
        names: Vec<NameId>,
        starts: Vec<u64>,
        durations: Vec<u64>,
        codes: Vec<u8>,
    ) -> Result<Batch, Error> {
        let n = names.len();
        if starts.len() != n || durations.len() != n || codes.len() != n {
            return Err(Error::InvalidInput {
                what: "batch",
                reason: format!(
                    "columns differ in length: {n} names, {} starts, {} durations, {} codes",
                    starts.len(),
                    durations.len(),
                    codes.len()
                ),
            });
        }
        // The largest code first (a loop that vectorizes), the position only when it is bad.
        let bad = codes.iter().fold(0, |max, &c| max.max(c)) > MAX_CODE_BYTE;
        if let Some(i) = bad
            .then(|| codes.iter().position(|&c| c > MAX_CODE_BYTE))
            .flatten()
        {
            return Err(Error::InvalidInput {
                what: "batch",
                reason: format!("event {i} has unknown code {}", codes[i]),
            });
        }
        Ok(Batch {
            names,
            starts,
            durations,
            codes,
            messages: Vec::new(),
            fields: Vec::new(),
            text: String::new(),
            origin: None,
        })
    }

    /// Attach a message to event `row`. Rows must be given in ascending order.
    pub fn set_message(&mut self, row: u32, message: &str) -> Result<(), Error> {
        let in_order = self.messages.last().is_none_or(|(r, _)| *r < row);
        if row as usize >= self.len() || !in_order {
            return Err(Error::InvalidInput {
                what: "message row",
                reason: format!("row {row} is out of range or not ascending"),
            });
        }
        self.messages.push((row, message.to_owned()));
        Ok(())
    }

    /// Make room for `n` more fields with `text_bytes` of string values (a caller that knows
    /// saves the re-allocations of growing lists).
    pub fn reserve_fields(&mut self, n: usize, text_bytes: usize) {
        self.fields.reserve(n);
        self.text.reserve(text_bytes);
    }

    /// Attach a field to event `row`. Rows must be given in non-decreasing order.
    pub fn add_field_at(&mut self, row: u32, key: NameId, value: Value) -> Result<(), Error> {
        self.add_field_ref_at(row, key, value.as_value_ref())
    }

    /// [`Batch::add_field_at`] with a borrowed value: a string is copied into the batch's text.
    #[inline]
    pub fn add_field_ref_at(
        &mut self,
        row: u32,
        key: NameId,
        value: ValueRef<'_>,
    ) -> Result<(), Error> {
        let in_order = self.fields.last().is_none_or(|f| f.row <= row);
        if row as usize >= self.len() || !in_order {
            return Err(Error::InvalidInput {
                what: "field row",
                reason: format!("row {row} is out of range or not in order"),
            });
        }
        let slot = self.slot_of(value)?;
        self.fields.push(BatchField { row, key, slot });
        Ok(())
    }

    /// Attach a field to event `row` with the value of field `of` (an index into [`Batch::fields`]);
    /// a string shares that field's text instead of being copied (a value repeated across calls,
    /// e.g. a route, costs no text). Rows must be given in non-decreasing order.
    #[inline]
    pub fn add_field_value_of(&mut self, row: u32, key: NameId, of: usize) -> Result<(), Error> {
        let in_order = self.fields.last().is_none_or(|f| f.row <= row);
        if row as usize >= self.len() || !in_order {
            return Err(Error::InvalidInput {
                what: "field row",
                reason: format!("row {row} is out of range or not in order"),
            });
        }
        let Some(slot) = self.fields.get(of).map(|f| f.slot) else {
            return Err(Error::InvalidInput {
                what: "field value",
                reason: format!(
                    "field {of} does not exist (the batch has {})",
                    self.fields.len()
                ),
            });
        };
        self.fields.push(BatchField { row, key, slot });
        Ok(())
    }

    /// Attach a field to the most recently pushed event. Does nothing on an empty batch, or for a
    /// string that would take the batch's text past 4 GiB.
    pub fn add_field(&mut self, key: NameId, value: Value) {
        if let Some(row) = self.names.len().checked_sub(1) {
            if let Ok(slot) = self.slot_of(value.as_value_ref()) {
                self.fields.push(BatchField {
                    row: row as u32,
                    key,
                    slot,
                });
            }
        }
    }

    /// How `value` is kept: a string goes into the text (whose offsets are u32).
    #[inline]
    fn slot_of(&mut self, value: ValueRef<'_>) -> Result<Slot, Error> {
        Ok(match value {
            ValueRef::I64(v) => Slot::I64(v),
            ValueRef::F64(v) => Slot::F64(v),
            ValueRef::Bool(v) => Slot::Bool(v),
            ValueRef::Str(v) => {
                let at = u32::try_from(self.text.len()).ok();
                let len = u32::try_from(v.len()).ok();
                let (Some(at), Some(len)) = (
                    at,
                    len.filter(|&l| at.is_some_and(|a| a.checked_add(l).is_some())),
                ) else {
                    return Err(Error::InvalidInput {
                        what: "field value",
                        reason: "the batch's field text would exceed 4 GiB".to_owned(),
                    });
                };
                self.text.push_str(v);
                Slot::Str { at, len }
            }
        })
    }

    /// The value of a field of this batch.
    fn value_of(&self, f: &BatchField) -> ValueRef<'_> {
        match f.slot {
            Slot::I64(v) => ValueRef::I64(v),
            Slot::F64(v) => ValueRef::F64(v),
            Slot::Bool(v) => ValueRef::Bool(v),
            Slot::Str { at, len } => ValueRef::Str(
                self.text
                    .get(at as usize..(at + len) as usize)
                    .unwrap_or(""),
            ),
        }
    }

    /// Bytes of text (message and string field values) each event carries, by row.
    pub(crate) fn text_bytes_by_row(&self) -> Vec<usize> {
        let mut bytes = vec![0usize; self.len()];
        for (row, m) in &self.messages {
            if let Some(b) = bytes.get_mut(*row as usize) {
                *b += m.len();
            }
        }
        for f in &self.fields {
            if let (Some(b), Slot::Str { len, .. }) = (bytes.get_mut(f.row as usize), f.slot) {
                *b += len as usize;
            }
        }
        bytes
    }

    /// Split off the events from row `at` on into a new batch (rows renumbered from 0). The origin
    /// goes with the second part: written after the first, it marks the whole batch as stored.
    pub(crate) fn split_off(&mut self, at: usize) -> Batch {
        let mut rest = self.tail(at);
        rest.origin = self.origin.take();
        let keep = at.min(self.len());
        self.names.truncate(keep);
        self.starts.truncate(keep);
        self.durations.truncate(keep);
        self.codes.truncate(keep);
        self.messages.retain(|(r, _)| (*r as usize) < keep);
        self.fields.retain(|f| (f.row as usize) < keep);
        rest
    }

    /// Take out the rows `drop` marks (`drop.len()` must be the batch's length; shorter marks the
    /// rest as kept), renumbering the messages and fields of the rows that stay.
    pub fn remove_rows(&mut self, drop: &[bool]) {
        if !drop.iter().any(|&d| d) {
            return;
        }
        let dropped = |row: usize| drop.get(row).copied().unwrap_or(false);
        // New number of each kept row: its index minus the dropped rows before it.
        let mut renumber = Vec::with_capacity(self.len());
        let mut kept = 0u32;
        for row in 0..self.len() {
            renumber.push(kept);
            if !dropped(row) {
                kept += 1;
            }
        }
        keep_rows(&mut self.names, dropped);
        keep_rows(&mut self.starts, dropped);
        keep_rows(&mut self.durations, dropped);
        keep_rows(&mut self.codes, dropped);
        self.messages.retain(|(r, _)| !dropped(*r as usize));
        for (r, _) in &mut self.messages {
            *r = renumber[*r as usize];
        }
        self.fields.retain(|f| !dropped(f.row as usize));
        for f in &mut self.fields {
            f.row = renumber[f.row as usize];
        }
    }

    /// The events from row `skip` on, as a new batch (rows renumbered from 0).
    pub(crate) fn tail(&self, skip: usize) -> Batch {
        let skip = skip.min(self.len());
        let shift = skip as u32;
        let mut tail = Batch {
            names: self.names[skip..].to_vec(),
            starts: self.starts[skip..].to_vec(),
            durations: self.durations[skip..].to_vec(),
            codes: self.codes[skip..].to_vec(),
            messages: self
                .messages
                .iter()
                .filter(|(r, _)| *r >= shift)
                .map(|(r, m)| (r - shift, m.clone()))
                .collect(),
            ..Batch::default()
        };
        for f in self.fields.iter().filter(|f| f.row >= shift) {
            let value = self.value_of(f);
            if let Ok(slot) = tail.slot_of(value) {
                tail.fields.push(BatchField {
                    row: f.row - shift,
                    key: f.key,
                    slot,
                });
            }
        }
        tail
    }

    /// Name ids, one per event.
    pub fn names(&self) -> &[NameId] {
        &self.names
    }

    /// Start times, epoch ns.
    pub fn starts(&self) -> &[u64] {
        &self.starts
    }

    /// Durations, ns.
    pub fn durations(&self) -> &[u64] {
        &self.durations
    }

    /// Code bytes (see [`Code`]).
    pub fn codes(&self) -> &[u8] {
        &self.codes
    }

    /// Messages of log events as (row, message).
    pub fn messages(&self) -> &[(u32, String)] {
        &self.messages
    }

    /// Fields, in row order.
    pub fn fields(&self) -> impl ExactSizeIterator<Item = FieldRef<'_>> + '_ {
        self.fields.iter().map(|f| FieldRef {
            row: f.row,
            key: f.key,
            value: self.value_of(f),
        })
    }

    /// Number of fields.
    pub fn field_count(&self) -> usize {
        self.fields.len()
    }

    /// The (row, key) of each field, in row order.
    pub fn field_keys(&self) -> &[BatchField] {
        &self.fields
    }

    /// Approximate heap bytes held, for memory accounting.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.names.capacity() * 4
            + self.starts.capacity() * 8
            + self.durations.capacity() * 8
            + self.codes.capacity()
            + self
                .messages
                .iter()
                .map(|(_, m)| m.capacity() + 32)
                .sum::<usize>()
            + self.fields.capacity() * std::mem::size_of::<BatchField>()
            + self.text.capacity()
    }
}

/// Keep the entries of a dense column whose row is not `dropped`.
fn keep_rows<T>(column: &mut Vec<T>, dropped: impl Fn(usize) -> bool) {
    let mut row = 0;
    column.retain(|_| {
        let keep = !dropped(row);
        row += 1;
        keep
    });
}

/// Events refused at a hand-over because they are invalid: how many, and the first one described
/// (see [`crate::Store::append_checked`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rejections {
    /// Number of refused events.
    pub count: u64,
    /// What was wrong with the first refused event.
    pub first: Option<String>,
}

impl Rejections {
    /// Count one refused event; `why` is asked only for the first.
    pub fn add(&mut self, why: impl FnOnce() -> String) {
        if self.first.is_none() {
            self.first = Some(why());
        }
        self.count += 1;
    }

    /// True when nothing was refused.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// One event with its strings resolved, as readers hand it out.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Function or logger name.
    pub name: String,
    /// Start, epoch ns.
    pub start_ns: u64,
    /// Duration, ns (0 for logs).
    pub duration_ns: u64,
    /// Kind, status or level.
    pub code: Code,
    /// Message of a log event.
    pub message: Option<String>,
    /// Fields as (key, value), ordered by key.
    pub fields: Vec<(String, Value)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Five rows, each with a string field that names its row, a number, and a message on row 2.
    fn batch() -> Batch {
        let mut b = Batch::default();
        for i in 0..5u64 {
            let row = b.push_call(1, 100 + i, 10, true);
            b.add_field_at(row, 2, Value::Str(format!("row {i} é")))
                .unwrap();
            b.add_field_ref_at(row, 3, ValueRef::I64(i as i64)).unwrap();
        }
        b.set_message(2, "hello").unwrap();
        b
    }

    fn strings(b: &Batch) -> Vec<(u32, String)> {
        b.fields()
            .filter_map(|f| match f.value {
                ValueRef::Str(s) => Some((f.row, s.to_owned())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn string_values_follow_their_rows_through_removal_splits_and_tails() {
        let mut b = batch();
        b.remove_rows(&[true, false, true, false, false]);
        assert_eq!(
            strings(&b),
            [
                (0, "row 1 é".into()),
                (1, "row 3 é".into()),
                (2, "row 4 é".into())
            ]
        );
        let rest = b.split_off(1);
        assert_eq!(strings(&b), [(0, "row 1 é".into())]);
        assert_eq!(
            strings(&rest),
            [(0, "row 3 é".into()), (1, "row 4 é".into())]
        );
        let tail = batch().tail(3);
        assert_eq!(
            strings(&tail),
            [(0, "row 3 é".into()), (1, "row 4 é".into())]
        );
        assert_eq!(tail.fields().count(), 4);
    }

    #[test]
    fn equal_events_compare_equal_whatever_the_text_layout() {
        // After a removal the first batch's text still holds the removed rows' strings.
        let mut trimmed = batch();
        trimmed.remove_rows(&[true, false, false, false, false]);
        let fresh = batch().tail(1);
        assert_eq!(trimmed, fresh);
        let mut other = batch().tail(1);
        other
            .add_field_ref_at(3, 9, ValueRef::Str("extra"))
            .unwrap();
        assert_ne!(trimmed, other);
    }

    #[test]
    fn empty_strings_and_text_bytes_per_row() {
        let mut b = Batch::default();
        let row = b.push_call(1, 1, 1, true);
        b.add_field_ref_at(row, 2, ValueRef::Str("")).unwrap();
        b.add_field_ref_at(row, 3, ValueRef::Str("abc")).unwrap();
        let row = b.push_log(1, 2, Level::Info, "12345");
        b.add_field_ref_at(row, 2, ValueRef::Str("xy")).unwrap();
        assert_eq!(b.text_bytes_by_row(), [3, 7]);
        assert_eq!(
            strings(&b),
            [(0, String::new()), (0, "abc".into()), (1, "xy".into())]
        );
        assert!(
            b.add_field_ref_at(0, 2, ValueRef::Bool(true)).is_err(),
            "rows go forward only"
        );
    }

    #[test]
    fn a_repeated_value_shares_its_text_and_survives_removal_and_split() {
        let mut b = Batch::default();
        for i in 0..4 {
            let row = b.push_call(1, i, 1, true);
            if i == 0 {
                b.add_field_ref_at(row, 2, ValueRef::Str("/users/:id"))
                    .unwrap();
                b.add_field_ref_at(row, 3, ValueRef::I64(7)).unwrap();
            } else {
                b.add_field_value_of(row, 2, 0).unwrap();
                b.add_field_value_of(row, 3, 1).unwrap();
            }
        }
        assert_eq!(b.text.len(), "/users/:id".len(), "the text is kept once");
        assert_eq!(b.text_bytes_by_row(), [10, 10, 10, 10]);
        let route = |b: &Batch| {
            b.fields()
                .filter(|f| f.key == 2)
                .map(|f| (f.row, f.value.to_value()))
                .collect::<Vec<_>>()
        };
        let want = |rows: &[u32]| {
            rows.iter()
                .map(|&r| (r, Value::Str("/users/:id".into())))
                .collect::<Vec<_>>()
        };
        assert_eq!(route(&b), want(&[0, 1, 2, 3]));
        // Dropping the row that first carried the text keeps the others' values.
        b.remove_rows(&[true, false, false, false]);
        assert_eq!(route(&b), want(&[0, 1, 2]));
        let tail = b.split_off(1);
        assert_eq!(route(&b), want(&[0]));
        assert_eq!(route(&tail), want(&[0, 1]));
        assert!(b.add_field_value_of(0, 2, 99).is_err(), "no field 99");
        assert!(b.add_field_value_of(5, 2, 0).is_err(), "no row 5");
    }
}
