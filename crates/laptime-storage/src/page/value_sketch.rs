//! The latency sketch of the calls that carry one listed value of a field key (all names
//! together), or that lack the key: what lets "p99 by route" be answered from page metas and
//! segment summaries like "p99 by function" (issue 15). A meta read for planning keeps the bytes;
//! a query that needs the durations decodes them, checked against the value's call count.
//!
//! Stored in the value index as `varint n`, then `n - 1` bytes of the sketch's own encoding
//! (`sketch::codec`); `n = 0` means not known (merged from an index written before sketches), and
//! `n = 1` an empty sketch (no calls).

use std::borrow::Cow;
use std::sync::Arc;

use crate::encoding::varint::{read_varint, write_varint};
use crate::error::DecodeError;
use crate::sketch::LatencySketch;

/// A value's call durations, decoded or still as bytes of the meta it was read from.
#[derive(Debug, Clone)]
pub enum ValueSketch {
    /// Built by the writer, merged, or decoded.
    Decoded(LatencySketch),
    /// `bytes[at..at + len]` hold its encoding (not yet checked).
    Encoded {
        /// The value index's bytes.
        bytes: Arc<[u8]>,
        /// Offset of the encoding in `bytes`.
        at: u32,
        /// Length of the encoding.
        len: u32,
    },
}

impl PartialEq for ValueSketch {
    /// Equal contents: sketch encodings are canonical (equal sketches encode identically).
    fn eq(&self, other: &Self) -> bool {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        self.encode_body(&mut a);
        other.encode_body(&mut b);
        a == b
    }
}

impl ValueSketch {
    /// The sketch, decoded from its bytes if it was not yet, holding exactly `calls` durations.
    pub fn decoded(&self, calls: u64) -> Result<Cow<'_, LatencySketch>, DecodeError> {
        let sketch = self.unchecked()?;
        if sketch.count() != calls {
            return Err(DecodeError::new(
                0,
                "value sketch disagrees with the value's calls",
            ));
        }
        Ok(sketch)
    }

    /// The sketch, decoded from its bytes if it was not yet.
    fn unchecked(&self) -> Result<Cow<'_, LatencySketch>, DecodeError> {
        let (bytes, at, len) = match self {
            ValueSketch::Decoded(s) => return Ok(Cow::Borrowed(s)),
            ValueSketch::Encoded { bytes, at, len } => (bytes, *at as usize, *len as usize),
        };
        let input = bytes
            .get(at..at.saturating_add(len))
            .ok_or(DecodeError::new(at, "value sketch outside the index"))?;
        if input.is_empty() {
            return Ok(Cow::Owned(LatencySketch::new()));
        }
        LatencySketch::decode_exact(input, at).map(Cow::Owned)
    }

    /// Heap bytes held (shared index bytes are counted by their length here).
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            ValueSketch::Decoded(s) => s.heap_bytes(),
            ValueSketch::Encoded { len, .. } => *len as usize,
        }
    }

    /// The sketch's encoding, without its length.
    fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            ValueSketch::Decoded(s) if s.is_empty() => {}
            ValueSketch::Decoded(s) => s.encode(out),
            // In range: checked when the index was read.
            ValueSketch::Encoded { bytes, at, len } => {
                let (at, len) = (*at as usize, *len as usize);
                out.extend_from_slice(bytes.get(at..at + len).unwrap_or_default());
            }
        }
    }
}

/// Append `sketch` as the index stores it (see the module doc).
pub(crate) fn encode(sketch: Option<&ValueSketch>, out: &mut Vec<u8>) {
    let Some(sketch) = sketch else {
        write_varint(out, 0);
        return;
    };
    let mut body = Vec::new();
    sketch.encode_body(&mut body);
    write_varint(out, body.len() as u64 + 1);
    out.extend_from_slice(&body);
}

/// The bytes of a value index being decoded, copied once (into an `Arc`) when the first sketch is
/// met, so every sketch of the index shares them.
pub(crate) struct Shared<'i> {
    input: &'i [u8],
    /// Where the index begins in `input`: the copy starts there.
    start: usize,
    copy: Option<Arc<[u8]>>,
}

impl<'i> Shared<'i> {
    pub(crate) fn new(input: &'i [u8], start: usize) -> Shared<'i> {
        Shared {
            input,
            start,
            copy: None,
        }
    }
}

/// Read a sketch written by [`encode`] from `input[*pos..]`, leaving it encoded.
pub(crate) fn decode(
    shared: &mut Shared<'_>,
    pos: &mut usize,
) -> Result<Option<ValueSketch>, DecodeError> {
    let input = shared.input;
    let n = read_varint(input, pos)?;
    if n == 0 {
        return Ok(None);
    }
    let at = *pos;
    let end = usize::try_from(n - 1)
        .ok()
        .and_then(|len| at.checked_add(len))
        .filter(|&e| e <= input.len())
        .ok_or(DecodeError::new(at, "value sketch longer than the meta"))?;
    let relative = at.checked_sub(shared.start);
    let (Some(Ok(at32)), Ok(len32)) = (relative.map(u32::try_from), u32::try_from(end - at)) else {
        return Err(DecodeError::new(at, "value sketch beyond 4 GiB"));
    };
    *pos = end;
    let start = shared.start;
    let bytes = shared
        .copy
        .get_or_insert_with(|| Arc::from(input.get(start..).unwrap_or_default()));
    Ok(Some(ValueSketch::Encoded {
        bytes: Arc::clone(bytes),
        at: at32,
        len: len32,
    }))
}

/// `mine` with `theirs` added: lossless when both are known; not known when either is not or
/// cannot be decoded. (Counts are checked where a query uses a sketch.)
pub(crate) fn merge(
    mine: Option<ValueSketch>,
    theirs: Option<&ValueSketch>,
) -> Option<ValueSketch> {
    let mut sum = match mine? {
        ValueSketch::Decoded(s) => s,
        encoded => encoded.unchecked().ok()?.into_owned(),
    };
    let theirs = theirs?.unchecked().ok()?;
    sum.merge(&theirs);
    Some(ValueSketch::Decoded(sum))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sketch(values: &[u64]) -> LatencySketch {
        let mut s = LatencySketch::new();
        s.insert_many(values);
        s
    }

    #[test]
    fn sketches_round_trip_and_merge_as_their_values_would() {
        let cases = [
            None,
            Some(ValueSketch::Decoded(LatencySketch::new())),
            Some(ValueSketch::Decoded(sketch(&[0, 5, 1_000, 77_000]))),
        ];
        let mut out = Vec::new();
        for c in &cases {
            encode(c.as_ref(), &mut out);
        }
        let mut shared = Shared::new(&out, 0);
        let mut pos = 0;
        for (c, calls) in cases.iter().zip([0, 0, 4]) {
            let back = decode(&mut shared, &mut pos).unwrap();
            assert_eq!(&back, c);
            if let Some(b) = &back {
                assert_eq!(b.decoded(calls).unwrap().count(), calls);
                assert!(
                    b.decoded(calls + 1).is_err(),
                    "a count that disagrees is refused"
                );
            }
        }
        assert_eq!(pos, out.len());

        let a = ValueSketch::Decoded(sketch(&[1, 2, 3]));
        let b = decode(&mut Shared::new(&out, 0), &mut 2).unwrap();
        let merged = merge(Some(a.clone()), b.as_ref()).unwrap();
        assert_eq!(
            merged,
            ValueSketch::Decoded(sketch(&[1, 2, 3, 0, 5, 1_000, 77_000]))
        );
        assert_eq!(merge(None, Some(&a)), None, "not known stays not known");
        assert_eq!(merge(Some(a), None), None);
    }

    #[test]
    fn a_sketch_longer_than_its_index_is_refused() {
        let mut out = Vec::new();
        write_varint(&mut out, 1_000);
        out.extend_from_slice(&[1, 2, 3]);
        assert!(decode(&mut Shared::new(&out, 0), &mut 0).is_err());
        let mut garbage = Vec::new();
        write_varint(&mut garbage, 4);
        garbage.extend_from_slice(&[9, 9, 9]);
        let s = decode(&mut Shared::new(&garbage, 0), &mut 0)
            .unwrap()
            .unwrap();
        assert!(
            s.decoded(3).is_err(),
            "bytes that are no sketch are refused when decoded"
        );
    }
}
