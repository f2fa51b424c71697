//! What a page's meta says about its field keys and messages, apart from its names: the keys
//! present (a zone map), the value index and the message index. A filter on fields or messages
//! is decided by these alone for the whole page, whatever the name and outcome of its events, so
//! the planner asks them first. The bufferpool keeps a copy of them without the value sketches
//! ([`PageIndex::for_planning`]): about a fifth of the whole meta's size on R1-full, so a store's
//! indexes stay cached while its metas come and go, and a selective filter does not read every
//! page's meta.

use crate::event::NameId;
use crate::page::value_filter::ValueFilter;
use crate::page::values::KeyValues;

/// The field keys, value index and message index of a page (or, in a summary, of a segment).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PageIndex {
    /// Field keys present in the page, ascending.
    pub keys: Vec<NameId>,
    /// The value index: one entry per key of `keys`, in the same order.
    pub values: Vec<KeyValues>,
    /// The words of the page's log messages (`message_index`); `None` in a segment summary
    /// (filters do not merge) and in metas written before the index.
    pub messages: Option<ValueFilter>,
}

impl PageIndex {
    /// What the value index knows about `key` (`None`: the page has no such key).
    pub fn values_of(&self, key: NameId) -> Option<&KeyValues> {
        let i = self.keys.binary_search(&key).ok()?;
        self.values.get(i)
    }

    /// True if some event of the page may carry field `key`.
    pub fn has_key(&self, key: NameId) -> bool {
        self.keys.binary_search(&key).is_ok()
    }

    /// This index without the listed values' latency sketches: everything that rules pages in or
    /// out, at the size the bufferpool keeps for every page.
    pub fn for_planning(&self) -> PageIndex {
        PageIndex {
            keys: self.keys.clone(),
            values: self
                .values
                .iter()
                .map(KeyValues::without_sketches)
                .collect(),
            messages: self.messages.clone(),
        }
    }

    /// Bytes this index holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.keys.capacity() * std::mem::size_of::<NameId>()
            + self.values.capacity() * std::mem::size_of::<KeyValues>()
            + self.values.iter().map(KeyValues::heap_bytes).sum::<usize>()
            + self.messages.as_ref().map_or(0, ValueFilter::heap_bytes)
    }
}
