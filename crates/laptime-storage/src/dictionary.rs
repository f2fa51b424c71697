//! The string dictionary of a store: function names, logger names and field keys are interned to
//! dense [`NameId`]s so events carry 4-byte ids instead of strings.
//!
//! Producers intern concurrently (read lock on the fast path). Ids are dense and never reused, so the
//! writer persists the dictionary by appending every id above the last one it wrote (see
//! `names_file`), always before any record that refers to those ids.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::error::{Error, Result};
use crate::event::NameId;

/// Longest string accepted as a name or key, in bytes.
pub const MAX_NAME_BYTES: usize = 4096;

/// Most distinct strings one store holds; interning beyond it is refused so a runaway caller (a name
/// built from request ids, say) cannot grow memory without bound.
pub const MAX_NAMES: usize = 1 << 20;

#[derive(Default)]
struct Inner {
    ids: HashMap<Arc<str>, NameId>,
    strings: Vec<Arc<str>>,
}

/// A concurrent, append-only string interner.
#[derive(Default)]
pub struct Dictionary {
    inner: RwLock<Inner>,
}

impl Dictionary {
    /// An empty dictionary.
    pub fn new() -> Dictionary {
        Dictionary::default()
    }

    /// A dictionary holding `strings` at ids 0.. in order (as recovered from disk).
    pub(crate) fn from_strings(strings: Vec<String>) -> Dictionary {
        let mut inner = Inner::default();
        for s in strings {
            let s: Arc<str> = Arc::from(s);
            let id = inner.strings.len() as NameId;
            // A duplicate on disk cannot come from this code; keep the first id for lookups and the
            // slot for the second so later ids stay where they were written.
            inner.ids.entry(s.clone()).or_insert(id);
            inner.strings.push(s);
        }
        Dictionary {
            inner: RwLock::new(inner),
        }
    }

    /// The id of `s`, adding it when new.
    pub fn intern(&self, s: &str) -> Result<NameId> {
        if let Some(id) = self.lookup(s) {
            return Ok(id);
        }
        if s.len() > MAX_NAME_BYTES {
            return Err(Error::InvalidInput {
                what: "name",
                reason: format!(
                    "{} bytes is longer than the limit of {MAX_NAME_BYTES}",
                    s.len()
                ),
            });
        }
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if let Some(&id) = inner.ids.get(s) {
            return Ok(id);
        }
        if inner.strings.len() >= MAX_NAMES {
            return Err(Error::InvalidInput {
                what: "name",
                reason: format!("the store already holds {MAX_NAMES} distinct names and keys"),
            });
        }
        let id = inner.strings.len() as NameId;
        let s: Arc<str> = Arc::from(s);
        inner.strings.push(s.clone());
        inner.ids.insert(s, id);
        Ok(id)
    }

    /// The id of `s` if it was interned.
    pub fn lookup(&self, s: &str) -> Option<NameId> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        inner.ids.get(s).copied()
    }

    /// The string with id `id`.
    pub fn get(&self, id: NameId) -> Option<Arc<str>> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        inner.strings.get(id as usize).cloned()
    }

    /// Number of interned strings (the next id).
    pub fn len(&self) -> usize {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        inner.strings.len()
    }

    /// True when nothing is interned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Strings with ids in `from..` (what the writer has not persisted yet).
    pub(crate) fn strings_from(&self, from: usize) -> Vec<Arc<str>> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        inner
            .strings
            .get(from..)
            .map(|s| s.to_vec())
            .unwrap_or_default()
    }

    /// All strings, by id.
    pub fn snapshot(&self) -> Vec<Arc<str>> {
        self.strings_from(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_dense_and_stable() {
        let d = Dictionary::new();
        assert_eq!(d.intern("a").unwrap(), 0);
        assert_eq!(d.intern("b").unwrap(), 1);
        assert_eq!(d.intern("a").unwrap(), 0);
        assert_eq!(d.get(1).as_deref(), Some("b"));
        assert_eq!(d.strings_from(1).len(), 1);
        assert!(d.get(2).is_none());
    }

    #[test]
    fn too_long_names_are_refused() {
        let d = Dictionary::new();
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        assert!(matches!(d.intern(&long), Err(Error::InvalidInput { .. })));
        assert!(d.is_empty());
    }
}
