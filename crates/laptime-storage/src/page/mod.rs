//! Pages: the unit of storage and of decoding. A page holds up to a few tens of thousands of events
//! as columns; sealed pages are immutable, checksummed and carry their own zone map and per-name
//! latency sketches ([`PageMeta`]) so a query can skip or answer a page without decoding it.
//!
//! - [`PageColumns`]: events of one page in struct-of-arrays form (the writer's active page and a
//!   reader's decoded page are the same type).
//! - `meta`: zone map and sketches, and their encoding; `index`: the part of a meta that decides
//!   field and message filters for the whole page ([`PageIndex`]).
//! - `values`: the value index of a meta (listed string values of each field key);
//!   `value_sketch`: the latency sketch of each listed value's calls; `value_filter`: the
//!   membership filter of a key with more string values than are listed; `message_index`: the
//!   words of the page's log messages, in such a filter.
//! - `codec`: the byte layout of a sealed page, encode and decode.

mod codec;
mod columns;
mod index;
pub mod message_index;
mod meta;
pub mod value_filter;
mod value_sketch;
mod values;

pub(crate) use codec::{
    assemble_page, check_meta, decode_meta, decode_page, encode_page, read_page_header, PageHeader,
    PageScratch, SealWatcher, MAX_SECTION_LEN, PAGE_HEADER_LEN, PAGE_MAGIC,
};
pub(crate) use columns::StringFields;
pub use columns::{ColumnSet, FieldColumn, FieldKeys, FieldValues, PageColumns};
pub use index::PageIndex;
pub use meta::{MetaSketch, NameStats, PageMeta, PageZone};
pub use value_sketch::ValueSketch;
pub use values::{KeyValues, ValueStats, MAX_LISTED_VALUES};
