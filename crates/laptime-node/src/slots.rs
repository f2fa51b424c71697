//! Row memory shared with the JS batch. JS writes captured calls into a slot (one ArrayBuffer of
//! memory owned here, viewed as the four column arrays) and hands a full slot over by its number;
//! the writer thread converts its rows ([`batch::from_js`]), so the JS thread copies and converts
//! nothing (ARCHITECTURE.md, "A captured call"). JS writes only into the slot the last hand-over
//! returned; a slot is busy from its hand-over until the writer has built (or the ring dropped)
//! its rows.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use laptime_core::{Batch, RawBatch, Rejections};

use crate::batch::{self, Columns};
use crate::fields::{FieldSlices, NativeFieldColumns};

/// Most rows a slot holds (the TS layer's largest `batchSize`).
pub(crate) const MAX_SLOT_ROWS: u32 = 1 << 16;

/// Most slots one store keeps. When every one is busy (the writer is that far behind), a
/// hand-over converts on the JS thread instead, so the ring's own bounds apply as before.
const MAX_SLOTS: usize = 16;

/// One slot: `rows` rows of start offsets (f64), durations (f64), name ids (u32) and codes (u8),
/// in that order in one allocation of 8-byte words.
pub(crate) struct Slot {
    words: Box<[AtomicU64]>,
    rows: usize,
    busy: AtomicBool,
}

impl Slot {
    fn new(rows: usize) -> Slot {
        let words = (rows * 21).div_ceil(8);
        Slot {
            words: (0..words).map(|_| AtomicU64::new(0)).collect(),
            rows,
            busy: AtomicBool::new(false),
        }
    }

    /// Start of the memory JS writes into.
    pub(crate) fn base(&self) -> *mut u8 {
        self.words.as_ptr().cast::<u8>().cast_mut()
    }

    /// Bytes of the memory JS sees.
    pub(crate) fn byte_len(&self) -> usize {
        self.words.len() * 8
    }

    /// The slot's columns as slices.
    ///
    /// Only for a busy slot: JS writes into a slot only between the hand-over that returned it
    /// and the one that hands it over (see the module docs), so nothing writes to it while these
    /// slices live. The ring's queue orders JS's writes before the writer's reads.
    fn columns(&self) -> Columns<'_> {
        let n = self.rows;
        let base = self.base();
        // SAFETY: `words` holds `21 * n` bytes or more, 8-byte aligned; the four ranges below lie
        // inside it, do not overlap, and are aligned for their types (offsets 0, 8n, 16n, 20n).
        // Every bit pattern is a valid f64, u32 or u8. The memory is not written while the slices
        // live, as said above (AtomicU64 words: a write from JS through the ArrayBuffer is a
        // write to interior-mutable memory, never to memory Rust holds `&mut` to).
        unsafe {
            Columns {
                start_offsets_ms: std::slice::from_raw_parts(base.cast::<f64>(), n),
                durations_ms: std::slice::from_raw_parts(base.add(8 * n).cast::<f64>(), n),
                names: std::slice::from_raw_parts(base.add(16 * n).cast::<u32>(), n),
                codes: std::slice::from_raw_parts(base.add(20 * n), n),
            }
        }
    }
}

/// The first reason of the events the writer refused in rows handed over, until JS takes it.
pub(crate) type RefusalNote = Arc<Mutex<Option<String>>>;

/// The slots of one store handle, by number. Used on the JS thread only.
#[derive(Default)]
pub(crate) struct Slots {
    slots: Vec<Arc<Slot>>,
    refusals: RefusalNote,
}

/// What a hand-over did with the slot.
pub(crate) enum HandOver {
    /// Queued for the writer to convert; JS writes next into slot `next` (`next` equal to the
    /// number of slots: a new one, see [`Slots::add`]).
    Queued { raw: Box<SlotRows>, next: u32 },
    /// No other slot is free: JS must convert it now and writes next into the same slot.
    Convert,
}

impl Slots {
    /// A new slot of `rows` rows, numbered by the count of slots before it, kept when `share`
    /// (which gives its memory to JS) succeeds.
    pub(crate) fn add<T>(
        &mut self,
        rows: u32,
        share: impl FnOnce(&Arc<Slot>) -> Result<T, String>,
    ) -> Result<T, String> {
        if rows == 0 || rows > MAX_SLOT_ROWS {
            return Err(format!(
                "a slot holds 1 to {MAX_SLOT_ROWS} rows, {rows} were asked for"
            ));
        }
        if self.slots.len() >= MAX_SLOTS {
            return Err(format!("a store has at most {MAX_SLOTS} slots"));
        }
        let slot = Arc::new(Slot::new(rows as usize));
        let shared = share(&slot)?;
        self.slots.push(slot);
        Ok(shared)
    }

    /// The slot JS has filled with `count` rows, checked: a number JS was given, not busy, rows
    /// that fit.
    pub(crate) fn filled(&self, number: u32, count: u32) -> Result<(), String> {
        let slot = self
            .slots
            .get(number as usize)
            .ok_or_else(|| format!("slot {number} does not exist ({} slots)", self.slots.len()))?;
        if slot.busy.load(Ordering::Acquire) {
            return Err(format!("slot {number} is still being stored"));
        }
        if count as usize > slot.rows {
            return Err(format!(
                "count {count} exceeds the rows of slot {number} ({})",
                slot.rows
            ));
        }
        Ok(())
    }

    /// Hand over the first `count` rows of slot `number` (checked by [`Slots::filled`]) with
    /// their fields, if another slot is free for JS to write into next.
    pub(crate) fn hand_over(
        &self,
        number: u32,
        count: u32,
        origin_ms: f64,
        fields: Option<&NativeFieldColumns>,
    ) -> HandOver {
        let free = self
            .slots
            .iter()
            .enumerate()
            .find(|(i, s)| *i != number as usize && !s.busy.load(Ordering::Acquire))
            .map(|(i, _)| i)
            .or((self.slots.len() < MAX_SLOTS).then_some(self.slots.len()));
        let (Some(next), Some(slot)) = (free, self.slots.get(number as usize)) else {
            return HandOver::Convert;
        };
        slot.busy.store(true, Ordering::Release);
        HandOver::Queued {
            raw: Box::new(SlotRows {
                slot: Arc::clone(slot),
                count,
                origin_ms,
                fields: fields.map(OwnedFields::copy),
                refusals: Arc::clone(&self.refusals),
            }),
            next: next as u32,
        }
    }

    /// Why the writer refused the first event it refused in rows handed over since the last call.
    pub(crate) fn take_refusal(&self) -> Option<String> {
        self.refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// The columns of slot `number` (checked by [`Slots::filled`], so not busy), to convert on
    /// the JS thread.
    pub(crate) fn columns_of(&self, number: u32) -> Option<Columns<'_>> {
        self.slots.get(number as usize).map(|s| s.columns())
    }
}

/// Field columns copied out of JS's arrays at the hand-over (JS reuses them at once).
struct OwnedFields {
    rows: Vec<u32>,
    keys: Vec<u32>,
    tags: Vec<u8>,
    nums: Vec<f64>,
    count: u32,
    text: Vec<u16>,
}

impl OwnedFields {
    fn copy(cols: &NativeFieldColumns) -> OwnedFields {
        let n = cols.count as usize;
        OwnedFields {
            rows: cols.rows[..n.min(cols.rows.len())].to_vec(),
            keys: cols.keys[..n.min(cols.keys.len())].to_vec(),
            tags: cols.tags[..n.min(cols.tags.len())].to_vec(),
            nums: cols.nums[..n.min(cols.nums.len())].to_vec(),
            count: cols.count,
            text: cols.text.to_vec(),
        }
    }

    fn slices(&self) -> FieldSlices<'_> {
        FieldSlices {
            rows: &self.rows,
            keys: &self.keys,
            tags: &self.tags,
            nums: &self.nums,
            count: self.count,
            text: &self.text,
        }
    }

    fn heap_bytes(&self) -> usize {
        self.rows.len() * 17 + self.tags.len() + self.text.len() * 2
    }
}

/// The rows of a handed-over slot, as the ring carries them; dropping it frees the slot.
pub(crate) struct SlotRows {
    slot: Arc<Slot>,
    count: u32,
    origin_ms: f64,
    fields: Option<OwnedFields>,
    refusals: RefusalNote,
}

impl RawBatch for SlotRows {
    fn events(&self) -> usize {
        self.count as usize
    }

    fn heap_bytes(&self) -> usize {
        self.count as usize * 21 + self.fields.as_ref().map_or(0, OwnedFields::heap_bytes)
    }

    fn build(&mut self, spare: Batch) -> (Batch, Rejections) {
        let fields = self.fields.as_ref().map(OwnedFields::slices);
        let built = batch::from_js(
            &self.slot.columns(),
            self.count,
            self.origin_ms,
            fields.as_ref(),
            spare,
        );
        built.unwrap_or_else(|malformed| {
            // Checked at the hand-over except for the field entries; a batch whose entries do not
            // fit is refused whole, as `append` throws for it.
            let mut refused = Rejections::default();
            refused.add(|| format!("a batch handed over was malformed: {}", malformed.0));
            refused.count = u64::from(self.count);
            (Batch::default(), refused)
        })
    }

    fn refused(&mut self, refused: &Rejections) {
        let mut note = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
        if note.is_none() {
            note.clone_from(&refused.first);
        }
    }
}

impl Drop for SlotRows {
    fn drop(&mut self) {
        self.slot.busy.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Write a row as JS does, through the memory's base pointer.
    fn write(slot: &Slot, row: usize, name: u32, start: f64, duration: f64, code: u8) {
        let n = slot.rows;
        let base = slot.base();
        // SAFETY: in bounds (row < n) and aligned, as in `Slot::columns`; the slot is not busy.
        unsafe {
            base.cast::<f64>().add(row).write(start);
            base.add(8 * n).cast::<f64>().add(row).write(duration);
            base.add(16 * n).cast::<u32>().add(row).write(name);
            base.add(20 * n + row).write(code);
        }
    }

    fn add(slots: &mut Slots, rows: u32) -> Result<Arc<Slot>, String> {
        slots.add(rows, |slot| Ok(Arc::clone(slot)))
    }

    #[test]
    fn a_slot_is_busy_from_its_hand_over_until_its_rows_are_built_or_dropped() {
        let mut slots = Slots::default();
        let first = add(&mut slots, 4).unwrap();
        for row in 0..3 {
            write(&first, row, 7, row as f64, 1.5, 0);
        }
        let HandOver::Queued { raw, next } = slots.hand_over(0, 3, 1_700_000_000_000.0, None)
        else {
            panic!("a second slot can be made");
        };
        assert_eq!(next, 1, "a new slot");
        assert!(slots
            .filled(0, 3)
            .unwrap_err()
            .contains("still being stored"));
        let second = add(&mut slots, 4).unwrap();
        write(&second, 0, 9, 0.0, 1.0, 1);
        // Slot 1 handed over while slot 0 is busy: slot 2 is next.
        let HandOver::Queued { raw: raw1, next } = slots.hand_over(1, 1, 1_700_000_000_000.0, None)
        else {
            panic!();
        };
        assert_eq!(next, 2);
        let mut raw = raw;
        let (batch, refused) = raw.build(Batch::default());
        assert!(refused.is_empty());
        drop(raw);
        assert_eq!(batch.names(), &[7, 7, 7]);
        assert_eq!(batch.durations(), &[1_500_000; 3]);
        assert_eq!(batch.starts()[2], 1_700_000_000_002_000_000);
        assert!(slots.filled(0, 4).is_ok(), "free again once built");
        drop(raw1);
        assert!(
            slots.filled(1, 1).is_ok(),
            "free again once dropped unbuilt"
        );
        assert!(slots.filled(1, 5).unwrap_err().contains("exceeds"));
        assert!(slots.filled(7, 1).unwrap_err().contains("does not exist"));
    }

    #[test]
    fn with_every_other_slot_busy_the_hand_over_converts_now() {
        let mut slots = Slots::default();
        let mut held = Vec::new();
        for i in 0..MAX_SLOTS as u32 {
            add(&mut slots, 2).unwrap();
            match slots.hand_over(i, 1, 0.0, None) {
                HandOver::Queued { raw, next } => {
                    assert_eq!(next, i + 1);
                    held.push(raw);
                }
                HandOver::Convert => {
                    assert_eq!(
                        i as usize,
                        MAX_SLOTS - 1,
                        "only the last has no other to go to"
                    );
                }
            }
        }
        assert!(add(&mut slots, 2).is_err(), "bounded");
        assert!(slots.add(2, |_| Err::<(), _>("refused".into())).is_err());
        assert!(slots.columns_of(MAX_SLOTS as u32 - 1).is_some());
        held.pop();
        assert!(matches!(
            slots.hand_over(MAX_SLOTS as u32 - 1, 1, 0.0, None),
            HandOver::Queued { next, .. } if next == MAX_SLOTS as u32 - 2
        ));
    }

    #[test]
    fn invalid_rows_are_refused_on_the_writer_as_append_refuses_them() {
        let mut slots = Slots::default();
        let slot = add(&mut slots, 3).unwrap();
        write(&slot, 0, 1, 0.0, 1.0, 0);
        write(&slot, 1, 1, 0.0, -1.0, 0);
        write(&slot, 2, 1, f64::NAN, 1.0, 0);
        let HandOver::Queued { raw, .. } = slots.hand_over(0, 3, 1_700_000_000_000.0, None) else {
            panic!();
        };
        let mut raw = raw;
        assert_eq!(raw.events(), 3);
        let (batch, refused) = raw.build(Batch::default());
        assert_eq!(batch.len(), 1);
        assert_eq!(refused.count, 2);
        assert_eq!(
            refused.first.as_deref(),
            Some("durationsMs[1] = -1 is not a duration (finite, >= 0)")
        );
        assert_eq!(slots.take_refusal(), None, "told only by the writer");
        raw.refused(&refused);
        let mut later = Rejections::default();
        later.add(|| "a later one".to_owned());
        raw.refused(&later);
        assert_eq!(
            slots.take_refusal().as_deref(),
            Some("durationsMs[1] = -1 is not a duration (finite, >= 0)"),
            "the first is kept until taken"
        );
        assert_eq!(slots.take_refusal(), None);
    }
}
