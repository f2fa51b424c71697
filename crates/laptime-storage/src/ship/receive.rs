//! Turning a received page into events of the receiving store: its ids are the sender's, so every
//! name and field key is mapped through the text the page carries.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::event::{Batch, Code, Event, NameId, ValueRef};
use crate::page::FieldValues;

use super::message::ShippedPage;

impl ShippedPage {
    /// Text of the sender's id `id` (every id the columns use has one: decoding checked it).
    pub fn name_of(&self, id: NameId) -> Option<&str> {
        self.names
            .binary_search_by_key(&id, |(i, _)| *i)
            .ok()
            .map(|i| self.names[i].1.as_str())
    }

    /// The page's events as a batch of the receiving store, whose id for a name or field key
    /// `intern` gives. Rows keep the page's order (by start).
    pub fn to_batch(&self, mut intern: impl FnMut(&str) -> Result<NameId>) -> Result<Batch> {
        let mut ids: HashMap<NameId, NameId> = HashMap::with_capacity(self.names.len());
        for (id, text) in &self.names {
            ids.insert(*id, intern(text)?);
        }
        let map = |id: NameId| {
            ids.get(&id).copied().ok_or_else(|| Error::InvalidInput {
                what: "shipped page",
                reason: format!("id {id} has no name"),
            })
        };
        let cols = &self.cols;
        let names = cols
            .names
            .iter()
            .map(|&n| map(n))
            .collect::<Result<Vec<_>>>()?;
        let mut batch = Batch::from_columns(
            names,
            cols.starts.clone(),
            cols.durations.clone(),
            cols.codes.clone(),
        )?;
        for (i, &row) in cols.message_rows.iter().enumerate() {
            batch.set_message(row, cols.messages.get(i))?;
        }
        // A batch takes fields in row order; the page keeps them by column.
        let mut entries: Vec<(u32, usize, usize)> = Vec::new();
        for (c, col) in cols.fields.iter().enumerate() {
            entries.extend(col.rows.iter().enumerate().map(|(i, &row)| (row, c, i)));
        }
        entries.sort_unstable();
        let keys = cols
            .fields
            .iter()
            .map(|c| map(c.key))
            .collect::<Result<Vec<_>>>()?;
        batch.reserve_fields(entries.len(), 0);
        for (row, c, i) in entries {
            let value = match &cols.fields[c].values {
                FieldValues::I64(v) => v.get(i).map(|&x| ValueRef::I64(x)),
                FieldValues::F64(v) => v.get(i).map(|&x| ValueRef::F64(x)),
                FieldValues::Bool(v) => v.get(i).map(|&x| ValueRef::Bool(x)),
                FieldValues::Str(v) => (i < v.len()).then(|| ValueRef::Str(v.get(i))),
            };
            let value = value.ok_or_else(|| Error::InvalidInput {
                what: "shipped page",
                reason: format!("field column {c} has fewer values than rows"),
            })?;
            batch.add_field_ref_at(row, keys[c], value)?;
        }
        Ok(batch)
    }

    /// The page's events with their names (for tools and tests), in the page's row order.
    pub fn events(&self) -> Vec<Event> {
        let cols = &self.cols;
        let text = |id: NameId| self.name_of(id).unwrap_or_default().to_owned();
        let mut events: Vec<Event> = (0..cols.len())
            .map(|row| Event {
                name: text(cols.names[row]),
                start_ns: cols.starts[row],
                duration_ns: cols.durations[row],
                code: Code::from_byte(cols.codes[row]).unwrap_or(Code::CallOk),
                message: None,
                fields: Vec::new(),
            })
            .collect();
        for (i, &row) in cols.message_rows.iter().enumerate() {
            if let Some(e) = events.get_mut(row as usize) {
                e.message = Some(cols.messages.get(i).to_owned());
            }
        }
        for col in &cols.fields {
            for (i, &row) in col.rows.iter().enumerate() {
                if let (Some(e), Some(v)) = (events.get_mut(row as usize), col.values.get(i)) {
                    e.fields.push((text(col.key), v));
                }
            }
        }
        for e in &mut events {
            e.fields.sort_by(|a, b| a.0.cmp(&b.0));
        }
        events
    }
}
