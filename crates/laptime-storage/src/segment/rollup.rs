//! The value rollup of a sealed segment (issue 15): for each field key its summary lists (all
//! strings, at most `MAX_LISTED_VALUES` values in the whole segment), and for each of those values,
//! a meta of the segment's events that carry it: per name the counts and the latency sketch, as a
//! page meta has them. A query filtering on such a key (`route = "/checkout"`) and grouping by
//! name answers the segment from the value's meta instead of decoding every page: the value is
//! on every page, so no page index can rule a page out, and a page meta's per-value sketch is not
//! split by name.
//!
//! It is built while the segment's pages seal (`rollup_build`, on the sealing helper thread, from
//! the columns being sealed), written before the footer when the segment seals, and
//! rebuilt from the pages themselves when the builder did not see every page (a segment resumed
//! after a restart, pages copied forward after a failed write). A rollup that disagrees with the
//! summary is not written: the summary is the reference, the rollup an answer kept ready.
//!
//! Layout of the region (between the last page and the footer, which says where it is and checks
//! its directory), integers varints unless noted:
//!
//! ```text
//! magic "LTRU", version (1), key count, then per key ascending:
//!     key id, value count, then per value ascending by bytes:
//!         byte length, UTF-8 bytes, meta length, meta CRC32C (u32 LE)
//! then the value metas, in directory order, each in the segment summary's layout
//! (`PageMeta::encode_summary`: names with counts and sketches, no keys, no value index)
//! ```
//!
//! The directory (everything before the first value meta) is what the footer's checksum covers;
//! each value meta has its own, so a query reads only the metas of the values it asks for.

use std::sync::Arc;

use crate::encoding::varint::read_varint;
use crate::error::DecodeError;
use crate::event::NameId;
use crate::page::{KeyValues, PageIndex, PageMeta, ValueStats, MAX_LISTED_VALUES};

/// First bytes of a rollup region: also how salvage tells it from a page.
pub(crate) const ROLLUP_MAGIC: [u8; 4] = *b"LTRU";
pub(crate) const ROLLUP_VERSION: u64 = 1;

/// Where a segment's rollup region is (from its footer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RollupRef {
    /// File offset of the region (where the pages end).
    pub offset: u64,
    /// Bytes of its directory.
    pub directory_len: u32,
    /// CRC32C of the directory.
    pub directory_crc: u32,
}

/// A rollup's directory: per key, per value, where its meta lies.
#[derive(Debug, Default)]
pub(crate) struct RollupDirectory {
    keys: Vec<RolledKey>,
}

#[derive(Debug)]
struct RolledKey {
    key: NameId,
    values: Vec<RolledValue>,
}

#[derive(Debug, Clone)]
pub(crate) struct RolledValue {
    pub value: String,
    /// File offset of the value's meta.
    pub offset: u64,
    pub len: u32,
    pub crc: u32,
}

impl RollupDirectory {
    /// Decode the directory `bytes` of a region at file offset `region`, whose value metas must
    /// end by `end` (the footer).
    pub(crate) fn decode(bytes: &[u8], region: u64, end: u64) -> Result<Self, DecodeError> {
        if !bytes.starts_with(&ROLLUP_MAGIC) {
            return Err(DecodeError::new(0, "bad rollup magic"));
        }
        let mut pos = ROLLUP_MAGIC.len();
        if read_varint(bytes, &mut pos)? != ROLLUP_VERSION {
            return Err(DecodeError::new(pos, "unknown rollup version"));
        }
        let count = read_varint(bytes, &mut pos)?;
        if count > bytes.len() as u64 {
            return Err(DecodeError::new(pos, "implausible rollup key count"));
        }
        let mut keys = Vec::with_capacity(count as usize);
        let mut at = region + bytes.len() as u64;
        let mut prev_key: Option<NameId> = None;
        for _ in 0..count {
            let key_at = pos;
            let key = NameId::try_from(read_varint(bytes, &mut pos)?)
                .ok()
                .filter(|k| prev_key.is_none_or(|p| p < *k))
                .ok_or(DecodeError::new(key_at, "rollup keys not ascending"))?;
            prev_key = Some(key);
            let n = read_varint(bytes, &mut pos)?;
            if n == 0 || n > MAX_LISTED_VALUES as u64 {
                return Err(DecodeError::new(pos, "rollup value count out of range"));
            }
            let mut values: Vec<RolledValue> = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let len_at = pos;
                let len = usize::try_from(read_varint(bytes, &mut pos)?).unwrap_or(usize::MAX);
                let text = pos.checked_add(len).and_then(|e| bytes.get(pos..e)).ok_or(
                    DecodeError::new(len_at, "rollup value runs past its directory"),
                )?;
                let value = std::str::from_utf8(text)
                    .map_err(|_| DecodeError::new(pos, "rollup value is not UTF-8"))?
                    .to_owned();
                pos += len;
                if values.last().is_some_and(|v| v.value >= value) {
                    return Err(DecodeError::new(len_at, "rollup values not ascending"));
                }
                let meta_at = pos;
                let meta_len = u32::try_from(read_varint(bytes, &mut pos)?)
                    .map_err(|_| DecodeError::new(meta_at, "rollup meta too long"))?;
                let crc_bytes = bytes
                    .get(pos..pos + 4)
                    .ok_or(DecodeError::new(pos, "rollup directory truncated"))?;
                let crc =
                    u32::from_le_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
                pos += 4;
                let offset = at;
                at = at
                    .checked_add(u64::from(meta_len))
                    .filter(|&e| e <= end)
                    .ok_or(DecodeError::new(
                        meta_at,
                        "rollup meta runs past the footer",
                    ))?;
                values.push(RolledValue {
                    value,
                    offset,
                    len: meta_len,
                    crc,
                });
            }
            keys.push(RolledKey { key, values });
        }
        if pos != bytes.len() {
            return Err(DecodeError::new(
                pos,
                "trailing bytes after the rollup directory",
            ));
        }
        if at != end {
            return Err(DecodeError::new(
                pos,
                "rollup metas do not reach the footer",
            ));
        }
        Ok(RollupDirectory { keys })
    }

    /// The keys rolled up.
    pub(crate) fn keys(&self) -> impl Iterator<Item = NameId> + '_ {
        self.keys.iter().map(|k| k.key)
    }

    /// The values of `key` in the rollup, `None` when the rollup does not hold the key.
    pub(crate) fn values_of(&self, key: NameId) -> Option<&[RolledValue]> {
        self.keys
            .binary_search_by_key(&key, |k| k.key)
            .ok()
            .and_then(|i| self.keys.get(i))
            .map(|k| k.values.as_slice())
    }
}

/// Decode one value's meta (its checksum already checked) and check it against what the segment
/// summary says of the value: a meta that counts other events than the summary is damage.
pub(crate) fn decode_value_meta(
    bytes: &[u8],
    listed: &ValueStats,
) -> Result<PageMeta, DecodeError> {
    let meta = PageMeta::decode_summary(bytes)?;
    let (mut calls, mut errors, mut logs) = (0u64, 0u64, 0u64);
    for s in &meta.names {
        calls += s.calls;
        errors += s.errors;
        logs += s.logs;
    }
    if (calls, errors, logs) != (listed.calls, listed.errors, listed.logs)
        || meta.rows != calls + logs
    {
        return Err(DecodeError::new(
            0,
            "rollup meta differs from the segment summary",
        ));
    }
    Ok(meta)
}

/// The meta of the events whose `key` passes, made of their values' metas `parts` (each from
/// [`decode_value_meta`]) and given an index that says so: the key lists exactly the values
/// taken (with the summary's counts) and every event carries one of them; the summary's other
/// keys are marked present with values unknown, since these events may carry them.
pub(crate) fn meta_of_values(
    summary: &PageMeta,
    key: NameId,
    taken: &[ValueStats],
    parts: &[Arc<PageMeta>],
) -> Result<PageMeta, DecodeError> {
    let mut meta = PageMeta::default();
    for p in parts {
        meta.absorb(p)?;
    }
    if meta.rows == 0 {
        meta.first_seq = summary.first_seq;
    }
    let keys = summary.index.keys.clone();
    let values = keys
        .iter()
        .map(|&k| {
            if k == key {
                // Counts only: the value's sketch is the names' sketches merged.
                KeyValues::Listed {
                    values: taken.to_vec(),
                    without: None,
                }
                .without_sketches()
            } else {
                KeyValues::Unlisted
            }
        })
        .collect();
    meta.index = PageIndex {
        keys,
        values,
        messages: None,
    };
    Ok(meta)
}
