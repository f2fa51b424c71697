//! Admission: what the engine refuses at the hand-over, and batches a producer hands over before
//! building them. A built batch is checked on the producer's thread ([`admit`]); a
//! [`RawBatch`] is built and checked on the writer's, so a producer whose own thread is the
//! expensive one (a JS thread) only hands over memory (ARCHITECTURE.md, "A captured call").

use crate::event::{Batch, NameId, Rejections, MAX_BATCH_EVENTS};

/// Most bytes of message and field text one event may carry; more is refused (counted in
/// `rejected`) rather than written, so no event can exceed a WAL record (64 MiB).
pub(crate) const MAX_EVENT_TEXT_BYTES: usize = 16 << 20;

/// Events in a producer's own form, built into a [`Batch`] by the writer thread that takes them
/// from the ring (see [`Store::append_raw`](crate::Store::append_raw)). Whatever memory it
/// holds is released when it is dropped: after it is built, or unbuilt (full ring, stopped writer).
pub trait RawBatch: Send {
    /// Events it holds, valid or not (what the ring counts it as).
    fn events(&self) -> usize;
    /// Bytes it holds (what the ring's byte budget counts).
    fn heap_bytes(&self) -> usize;
    /// The batch of its valid events, built in `spare` (an emptied batch the writer has stored),
    /// and the events it refused with the first reason.
    fn build(&mut self, spare: Batch) -> (Batch, Rejections);
    /// What the writer refused of it in all (its own refusals and the engine's), when it refused
    /// any: the producer, which handed it over unchecked, learns of them this way.
    fn refused(&mut self, refused: &Rejections) {
        let _ = refused;
    }
}

/// `batch` without the events the engine refuses (names and field keys not below `known_ids`,
/// more text than an event may carry, a batch beyond [`MAX_BATCH_EVENTS`]), and every refused
/// event: `already` (refused by the producer) and these.
pub(crate) fn admit(mut batch: Batch, already: Rejections, known_ids: u64) -> (Batch, Rejections) {
    let mut rejected = already;
    if batch.len() > MAX_BATCH_EVENTS {
        // Refused whole: the checks below see an empty batch, and the count ends up with the
        // others'.
        let n = batch.len();
        rejected.add(|| format!("a batch holds at most {MAX_BATCH_EVENTS} events, this one {n}"));
        rejected.count += n as u64 - 1;
        batch = Batch::default();
    }

    let unknown = |id: NameId| u64::from(id) >= known_ids;
    let bad_field = batch.field_keys().iter().any(|f| unknown(f.key));
    // Per-row text only for a batch that has any: plain calls carry none (no allocation, no
    // scan on the producer's thread, once per batch).
    let text = if batch.messages().is_empty() && batch.field_count() == 0 {
        Vec::new()
    } else {
        batch.text_bytes_by_row()
    };
    let too_big = text.iter().any(|&b| b > MAX_EVENT_TEXT_BYTES);
    // The largest id rather than `any`: this loop vectorizes.
    let bad_name = batch.names().iter().copied().max().is_some_and(unknown);
    if bad_field || too_big || bad_name {
        let mut drop = vec![false; batch.len()];
        for (row, &bytes) in text.iter().enumerate() {
            if bytes > MAX_EVENT_TEXT_BYTES {
                drop[row] = true;
                rejected.add(|| {
                    format!("event {row} carries {bytes} bytes of message and field text, more than {MAX_EVENT_TEXT_BYTES}")
                });
            }
        }
        for (row, &name) in batch.names().iter().enumerate() {
            if unknown(name) && !drop[row] {
                drop[row] = true;
                rejected
                    .add(|| format!("event {row} has name id {name}, which was never interned"));
            }
        }
        for f in batch.field_keys() {
            let row = f.row as usize;
            if unknown(f.key) && drop.get(row) == Some(&false) {
                drop[row] = true;
                rejected.add(|| {
                    format!(
                        "event {row} has field key id {}, which was never interned",
                        f.key
                    )
                });
            }
        }
        batch.remove_rows(&drop);
    }
    (batch, rejected)
}
