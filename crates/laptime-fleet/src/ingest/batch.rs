//! The output of parsing: an [`IngestBatch`], a `laptime_storage::Batch` whose name ids and field
//! key ids index a names table carried next to it, and the checks every event passes on its way
//! in (the same a laptime store applies: src/store.ts `record()`, the core's dictionary and
//! `append_checked`).

use std::collections::HashMap;

use laptime_storage::dictionary::{MAX_NAMES, MAX_NAME_BYTES};
use laptime_storage::{Batch, Code, Event, Level, NameId, ValueRef};

use super::error::{show_str, BadInput};

/// Most bytes of message and string field text one event may carry: the core refuses more
/// (laptime-storage `MAX_EVENT_TEXT_BYTES`, crate-private there, so repeated here).
pub const MAX_EVENT_TEXT_BYTES: usize = 16 << 20;

/// Events of one request, ready for the sink: `batch`'s name ids and field keys are indices into
/// `names`. A downstream writer interns `names` into its store and maps the ids.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestBatch {
    /// Function names, logger names and field keys; ids are indices.
    pub names: Vec<String>,
    /// The events.
    pub batch: Batch,
}

impl IngestBatch {
    /// Number of events.
    pub fn len(&self) -> usize {
        self.batch.len()
    }

    /// True when there is no event.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// The events with their names resolved (fields ordered by key), as a reader would return them.
    pub fn events(&self) -> Vec<Event> {
        let name = |id: NameId| self.names.get(id as usize).cloned().unwrap_or_default();
        let b = &self.batch;
        let mut out: Vec<Event> = (0..b.len())
            .map(|row| Event {
                name: name(b.names()[row]),
                start_ns: b.starts()[row],
                duration_ns: b.durations()[row],
                code: Code::from_byte(b.codes()[row]).unwrap_or(Code::CallOk),
                message: None,
                fields: Vec::new(),
            })
            .collect();
        for (row, m) in b.messages() {
            if let Some(e) = out.get_mut(*row as usize) {
                e.message = Some(m.clone());
            }
        }
        for f in b.fields() {
            if let Some(e) = out.get_mut(f.row as usize) {
                e.fields.push((name(f.key), f.value.to_value()));
            }
        }
        for e in &mut out {
            e.fields.sort_by(|a, b| a.0.cmp(&b.0));
        }
        out
    }
}

/// Builds an [`IngestBatch`] event by event. A request is refused whole on its first bad event, so
/// a builder is simply dropped then: nothing partial leaves it.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    names: Vec<String>,
    ids: HashMap<String, NameId>,
    batch: Batch,
    /// Text bytes of the current (last) event.
    text: usize,
}

impl Builder {
    pub fn with_capacity(events: usize) -> Builder {
        Builder {
            batch: Batch::with_capacity(events),
            ..Builder::default()
        }
    }

    pub fn len(&self) -> usize {
        self.batch.len()
    }

    /// Id of a name already checked with [`check_name`].
    fn intern(&mut self, s: &str, at: &dyn Fn() -> String) -> Result<NameId, BadInput> {
        if let Some(&id) = self.ids.get(s) {
            return Ok(id);
        }
        if self.names.len() >= MAX_NAMES {
            return Err(BadInput::at(
                at(),
                format!("the request holds more than {MAX_NAMES} distinct names and field keys"),
            ));
        }
        let id = self.names.len() as NameId;
        self.names.push(s.to_owned());
        self.ids.insert(s.to_owned(), id);
        Ok(id)
    }

    /// Append a call; `name` is checked here.
    pub fn call(
        &mut self,
        name: &str,
        at: &dyn Fn() -> String,
        start_ns: u64,
        duration_ns: u64,
        ok: bool,
    ) -> Result<u32, BadInput> {
        check_name(name, at)?;
        let id = self.intern(name, at)?;
        self.text = 0;
        Ok(self.batch.push_call(id, start_ns, duration_ns, ok))
    }

    /// Append a log line; `name` and the message size are checked here.
    pub fn log(
        &mut self,
        name: &str,
        at: &dyn Fn() -> String,
        start_ns: u64,
        level: Level,
        message: &str,
    ) -> Result<u32, BadInput> {
        check_name(name, at)?;
        let id = self.intern(name, at)?;
        self.text = 0;
        self.count_text(message.len(), at)?;
        Ok(self.batch.push_log(id, start_ns, level, message))
    }

    /// Attach a field to the last event; `key` (at `at`) is checked here.
    pub fn field(
        &mut self,
        row: u32,
        key: &str,
        at: &dyn Fn() -> String,
        value: ValueRef<'_>,
    ) -> Result<(), BadInput> {
        check_key(key, at)?;
        if let ValueRef::Str(s) = value {
            self.count_text(s.len(), at)?;
        }
        let id = self.intern(key, at)?;
        self.batch
            .add_field_ref_at(row, id, value)
            .map_err(|e| BadInput::at(at(), e))
    }

    fn count_text(&mut self, bytes: usize, at: &dyn Fn() -> String) -> Result<(), BadInput> {
        self.text += bytes;
        if self.text > MAX_EVENT_TEXT_BYTES {
            return Err(BadInput::at(
                at(),
                format!(
                    "the event carries {} bytes of message and field text, more than {MAX_EVENT_TEXT_BYTES}",
                    self.text
                ),
            ));
        }
        Ok(())
    }

    pub fn finish(self) -> IngestBatch {
        IngestBatch {
            names: self.names,
            batch: self.batch,
        }
    }
}

/// A function or logger name: non-empty, at most `MAX_NAME_BYTES` of UTF-8 (JSON and protobuf
/// strings are well-formed Unicode already: their parsers refuse lone surrogates).
fn check_name(name: &str, at: &dyn Fn() -> String) -> Result<(), BadInput> {
    if name.is_empty() {
        return Err(BadInput::at(at(), "the name must not be empty"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(BadInput::at(
            at(),
            format!(
                "the name {} is {} bytes long, more than {MAX_NAME_BYTES}",
                show_str(name),
                name.len()
            ),
        ));
    }
    Ok(())
}

/// A field key: as a name.
fn check_key(key: &str, at: &dyn Fn() -> String) -> Result<(), BadInput> {
    if key.is_empty() {
        return Err(BadInput::at(at(), "field keys must not be empty"));
    }
    if key.len() > MAX_NAME_BYTES {
        return Err(BadInput::at(
            at(),
            format!(
                "the field key is {} bytes long, more than {MAX_NAME_BYTES}",
                key.len()
            ),
        ));
    }
    Ok(())
}
