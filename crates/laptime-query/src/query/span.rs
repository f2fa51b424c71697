//! The time span over which a query's calls were seen: start of the first and of the last call
//! the filter matches. Rates divide by it rather than by the range asked for, so a range reaching
//! back before the service ran (or past when it stopped) does not dilute them.

use laptime_storage::{Result, View};

use super::events::{events, EventsRequest, SortOrder};
use super::{Query, Span};
use crate::filter::{Kind, Term};

/// The span of the calls `query` matches in `view`; `None` without calls. Two newest/oldest
/// lookups of one event each: pages are pruned by their zone maps, not scanned.
pub(super) fn calls_seen(view: &View, query: &Query) -> Result<Option<Span>> {
    let mut filter = query.filter.clone();
    filter.terms.push(Term::Kind(Kind::Call));
    let edge = |order: SortOrder| -> Result<Option<u64>> {
        let page = events(
            view,
            &EventsRequest {
                filter: filter.clone(),
                now_ns: query.now_ns,
                limit: 1,
                cursor: None,
                order,
            },
        )?;
        Ok(page.events.first().map(|e| e.event.start_ns))
    };
    match (edge(SortOrder::OldestFirst)?, edge(SortOrder::NewestFirst)?) {
        (Some(first_ns), Some(last_ns)) => Ok(Some(Span { first_ns, last_ns })),
        _ => Ok(None),
    }
}
