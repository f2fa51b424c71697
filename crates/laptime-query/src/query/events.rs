//! Raw event listing with a stable cursor.
//!
//! Events are ordered by `(start_ns, partition, seq)` (newest first by default); `seq` is the
//! event's position in its partition, so the order is total. A cursor names the last event of a
//! page; the next request returns the events strictly after it, so paging neither repeats nor
//! skips events that were stored before the first request, even while new ones arrive.
//!
//! The cursor does not record `seq` itself: while a page is still being filled, an arriving event
//! that starts earlier moves the later ones down a row (pages are sorted by start), so their
//! positions change between requests. It records the page's first seq plus the event's rank
//! among the page's events with the same start, which arrivals cannot change (the sort is stable
//! and a new event with an equal start sorts after the old ones) and which orders events exactly
//! as `seq` does.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use crate::filter::Filter;
use laptime_storage::page::{ColumnSet, PageMeta};
use laptime_storage::scan::{PageRef, ScanFilter, View};
use laptime_storage::Event;
use laptime_storage::{Error, Result};

use super::predicate::Predicate;

/// Largest page of events one request may ask for.
pub const MAX_EVENTS_LIMIT: usize = 100_000;

/// Which events to list.
#[derive(Debug, Clone, PartialEq)]
pub struct EventsRequest {
    /// Which events.
    pub filter: Filter,
    /// Reference time for relative bounds, epoch ns.
    pub now_ns: u64,
    /// At most this many (1..=[`MAX_EVENTS_LIMIT`]).
    pub limit: usize,
    /// Continue after this cursor (from [`EventPage::next_cursor`]).
    pub cursor: Option<String>,
    /// Newest or oldest first.
    pub order: SortOrder,
}

impl Default for EventsRequest {
    fn default() -> EventsRequest {
        EventsRequest {
            filter: Filter::default(),
            now_ns: laptime_storage::clock::now_ns(),
            limit: 100,
            cursor: None,
            order: SortOrder::NewestFirst,
        }
    }
}

/// Listing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// Latest start first.
    #[default]
    NewestFirst,
    /// Earliest start first.
    OldestFirst,
}

/// An event and where it sits in the listing order.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedEvent {
    /// The event, names and fields resolved.
    pub event: Event,
    /// Partition (writer) it was stored by.
    pub partition: Arc<str>,
    /// Its position within the partition.
    pub seq: u64,
    /// Where it sits in the listing order; `position.cursor()` continues right after it.
    pub position: EventPosition,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    /// The events, in the requested order.
    pub events: Vec<ListedEvent>,
    /// Pass this as [`EventsRequest::cursor`] for the next page; `None` when this page is the last.
    pub next_cursor: Option<String>,
}

/// The total order of events: by start, then partition id, then the tie (see the module docs).
/// Partition ids are unique across stores, so the order is total over events from many stores
/// too: listings of several stores with the same cursor merge into one listing (the fleet).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventPosition {
    start: u64,
    partition: Arc<str>,
    /// The page's first seq plus the rank among the page's events with the same start (see the
    /// module docs): unique per start and partition, ordered like seq, stable while the page
    /// fills.
    tie: u64,
}

impl EventPosition {
    /// The cursor that continues a listing right after this event.
    pub fn cursor(&self) -> String {
        format!("{}.{}.{}", self.start, self.tie, self.partition)
    }

    /// A cursor back into its position; an error names a text that is not a cursor.
    pub fn parse(text: &str) -> Result<EventPosition> {
        let bad = || Error::InvalidInput {
            what: "cursor",
            reason: format!("{text:?} is not a cursor returned by an events listing"),
        };
        let mut it = text.splitn(3, '.');
        let start = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let tie = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let partition = it.next().filter(|p| !p.is_empty()).ok_or_else(bad)?;
        Ok(EventPosition {
            start,
            partition: Arc::from(partition),
            tie,
        })
    }
}

/// A kept event, ordered so the heap's top is the one to drop first.
struct Kept {
    pos: EventPosition,
    seq: u64,
    event: Event,
    newest_first: bool,
}

impl Kept {
    /// Rank in the listing: smaller comes first.
    fn rank_cmp(&self, other: &Kept) -> Ordering {
        if self.newest_first {
            other.pos.cmp(&self.pos)
        } else {
            self.pos.cmp(&other.pos)
        }
    }
}

impl PartialEq for Kept {
    fn eq(&self, other: &Self) -> bool {
        self.pos == other.pos
    }
}
impl Eq for Kept {}
impl PartialOrd for Kept {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Kept {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank_cmp(other)
    }
}

/// List events passing the filter, one page at a time.
pub fn events(view: &View, req: &EventsRequest) -> Result<EventPage> {
    if req.limit == 0 || req.limit > MAX_EVENTS_LIMIT {
        return Err(Error::InvalidOption {
            option: "limit",
            reason: format!("{} is outside 1..={MAX_EVENTS_LIMIT}", req.limit),
        });
    }
    let after = req
        .cursor
        .as_deref()
        .map(EventPosition::parse)
        .transpose()?;
    let newest_first = req.order == SortOrder::NewestFirst;
    let (mut since, mut until) = req.filter.to_scan_hints(req.now_ns);
    if let Some(a) = &after {
        // Only events at or beyond the cursor's time can follow it.
        if newest_first {
            // Nothing starts after u64::MAX: then there is no bound to add.
            if let Some(end) = a.start.checked_add(1) {
                until = Some(until.map_or(end, |u| u.min(end)));
            }
        } else {
            since = Some(since.map_or(a.start, |s| s.max(a.start)));
        }
    }
    let predicates: Vec<Predicate> = (0..view.partitions())
        .filter_map(|p| view.dictionary(p))
        .map(|d| Predicate::compile(&req.filter, req.now_ns, d, view.uses_indexes()))
        .collect();
    // Segments whose summary rules the filter out are skipped whole; a page's own meta is read
    // only when the scan reaches it.
    let scan = ScanFilter {
        since,
        until,
        names: None,
    };
    let mut pages: Vec<PageRef> = Vec::new();
    for seg in view.segments(&scan) {
        if may_match(&predicates[seg.partition()], seg.summary()) {
            pages.extend(view.pages_of(&seg, &scan));
        }
    }
    pages.extend(view.tail_pages(&scan));
    if newest_first {
        pages.sort_by_key(|p| std::cmp::Reverse(p.zone().max_start));
    } else {
        pages.sort_by_key(|p| p.zone().min_start);
    }

    // Keep the best `limit + 1` (one more tells whether another page follows).
    let keep = req.limit + 1;
    let mut heap: BinaryHeap<Kept> = BinaryHeap::with_capacity(keep + 1);
    let (mut selected, mut scratch) = (Vec::new(), Vec::new());
    for page in &pages {
        if heap.len() >= keep {
            if let Some(worst) = heap.peek() {
                let meta = page.zone();
                // Pages are visited best-first by their bound; none after this can do better.
                let cannot_beat = if newest_first {
                    meta.max_start < worst.pos.start
                } else {
                    meta.min_start > worst.pos.start
                };
                if cannot_beat {
                    break;
                }
            }
        }
        let part = page.partition();
        let Some(partition) = view.partition_id(part).map(Arc::<str>::from) else {
            continue;
        };
        // The page's index first: a page it rules out costs no read of its meta.
        if predicates[part].has_page_terms() {
            match view.page_index(page) {
                Ok(index) if predicates[part].rules_out_page(&index) => continue,
                Ok(_) => {}
                Err(e) => {
                    view.skip_damaged(page, e)?;
                    continue;
                }
            }
        }
        match view.page_meta(page) {
            Ok(meta) if may_match(&predicates[part], &meta) => {}
            Ok(_) => continue,
            Err(e) => {
                view.skip_damaged(page, e)?;
                continue;
            }
        }
        let cols = match view.page(page, ColumnSet::ALL) {
            Ok(c) => c,
            Err(e) => {
                view.skip_damaged(page, e)?;
                continue;
            }
        };
        predicates[part].on_rows(&cols, &mut selected, &mut scratch);
        let first_seq = page.zone().first_seq;
        for (row, _) in selected.iter().enumerate().filter(|(_, s)| **s) {
            let start = cols.starts[row];
            // Pages are sorted by start: the rank is the offset from the first row with it.
            let rank = row - cols.starts[..row].partition_point(|&s| s < start);
            let pos = EventPosition {
                start,
                partition: Arc::clone(&partition),
                tie: first_seq + rank as u64,
            };
            if let Some(a) = &after {
                let beyond = if newest_first { pos < *a } else { pos > *a };
                if !beyond {
                    continue;
                }
            }
            let candidate_better = |worst: &Kept| {
                if newest_first {
                    pos > worst.pos
                } else {
                    pos < worst.pos
                }
            };
            if heap.len() >= keep && !heap.peek().is_some_and(candidate_better) {
                continue;
            }
            heap.push(Kept {
                event: view.event_at(part, &cols, row),
                pos,
                seq: first_seq + row as u64,
                newest_first,
            });
            if heap.len() > keep {
                heap.pop();
            }
        }
    }
    let mut kept = heap.into_sorted_vec();
    let more = kept.len() > req.limit;
    kept.truncate(req.limit);
    let next_cursor = if more {
        kept.last().map(|k| k.pos.cursor())
    } else {
        None
    };
    Ok(EventPage {
        events: kept
            .into_iter()
            .map(|k| ListedEvent {
                event: k.event,
                partition: Arc::clone(&k.pos.partition),
                seq: k.seq,
                position: k.pos,
            })
            .collect(),
        next_cursor,
    })
}

/// Whether some row of the page (or of the pages a segment summary covers) may pass the
/// predicate.
fn may_match(predicate: &Predicate, meta: &PageMeta) -> bool {
    !predicate.rules_out(meta)
}
