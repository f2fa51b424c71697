//! Query execution: plan each page (skip, answer from meta, or decode), aggregate into groups on
//! worker threads, merge, finish, sort and limit.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use laptime_storage::page::{ColumnSet, FieldKeys, FieldValues, PageColumns, PageMeta};
use laptime_storage::scan::{PageData, PageRef, ScanFilter, SegmentRef, View};
use laptime_storage::segment::ReadScratch;
use laptime_storage::sketch::LatencySketch;
use laptime_storage::NameId;
use laptime_storage::Result;

use super::accumulate::{Acc, CallPart, Needs, SummaryPart, SummarySketch};
use super::by_value::{self, ClassCounts};
use super::predicate::{Class, Predicate, Tri};
use super::ranks::{RankCells, RankFinder};
use super::{GroupBy, GroupValue, OrderKey, Precision, Query, QueryResult, QueryStats, Row, Span};

/// Most grouping dimensions a query may have (keys are fixed-size arrays on the hot path).
pub(crate) const MAX_GROUP_DIMS: usize = 4;

type LocalKey = [u64; MAX_GROUP_DIMS];

/// A page whose keys fit a grid of at most this many cells (see `add_rows`; and not many more
/// than its selected rows) finds each row's group in a vector (512 KiB at most per worker), not a
/// hash map.
const DENSE_CELLS: u64 = 1 << 16;

/// Columns for reading just the call durations of a page (names and codes tell whose they are).
const VALUES: ColumnSet = ColumnSet {
    starts: false,
    names: true,
    durations: true,
    codes: true,
    messages: false,
    fields: FieldKeys::NONE,
};

/// A hashable, totally comparable group key component.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum KeyPart {
    Null,
    Str(Arc<str>),
    I64(i64),
    /// Bits of the float, so equal bit patterns group together.
    F64(u64),
    Bool(bool),
    Time(u64),
}

impl KeyPart {
    pub(super) fn into_value(self) -> GroupValue {
        match self {
            KeyPart::Null => GroupValue::Null,
            KeyPart::Str(s) => GroupValue::Str(s),
            KeyPart::I64(v) => GroupValue::I64(v),
            KeyPart::F64(b) => GroupValue::F64(f64::from_bits(b)),
            KeyPart::Bool(b) => GroupValue::Bool(b),
            KeyPart::Time(t) => GroupValue::Time(t),
        }
    }
}

/// Multiply-rotate hashing for small integer keys: far cheaper per row than SipHash, and the
/// keys come from our own columns, not from an adversary.
#[derive(Default)]
struct IntHasher(u64);

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        // The multiply only carries entropy upwards; the table indexes by the low bits, so mix
        // the high bits back down (splitmix64's finalizer).
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    // Integer slices and arrays (a `LocalKey`) arrive here as their bytes: eight at a time.
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut word = [0u8; 8];
            word.copy_from_slice(w);
            self.write_u64(u64::from_ne_bytes(word));
        }
        for &b in words.remainder() {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

type IntMap<K, V> = HashMap<K, V, BuildHasherDefault<IntHasher>>;

/// The result from every group's accumulator: finished values, sorted, limited. Shared by a
/// query on one view and by merged partial results, so both give the same answer.
pub(super) fn finish(
    groups: RawGroups,
    stats: QueryStats,
    span: Option<Span>,
    query: &Query,
) -> QueryResult {
    let seconds = span.and_then(|s| s.seconds());
    let needs = Needs::of(&query.aggregates, query.precision == Precision::Exact);
    let mut rows: Vec<Row> = groups
        .into_iter()
        .filter(|(_, acc)| acc.events() > 0)
        .map(|(key, mut acc)| Row {
            key: key.into_iter().map(KeyPart::into_value).collect(),
            values: acc.finish(&query.aggregates, seconds),
        })
        .collect();
    if query.group_by.is_empty() && rows.is_empty() {
        // One group over everything exists even when nothing matched (count 0), as in SQL.
        rows.push(Row {
            key: Vec::new(),
            values: Acc::new(needs).finish(&query.aggregates, seconds),
        });
    }
    sort_rows(&mut rows, query);
    if let Some(limit) = query.limit {
        rows.truncate(limit);
    }
    QueryResult {
        key_labels: query
            .group_by
            .iter()
            .map(|g| match g {
                GroupBy::Name => "name".to_string(),
                GroupBy::Field(k) => k.clone(),
                GroupBy::Time(_) => "time".to_string(),
            })
            .collect(),
        value_labels: query.aggregates.iter().map(|a| a.label()).collect(),
        rows,
        span,
        stats,
    }
}

/// Every group with matching events, keys in the engine's form, before finishing (the state a
/// partial result carries).
pub(super) fn collect_raw(view: &View, query: &Query) -> Result<(RawGroups, QueryStats)> {
    let (groups, stats) = aggregate(view, query)?;
    let groups = groups
        .into_iter()
        .filter(|(_, acc)| acc.events() > 0)
        .collect();
    Ok((groups, stats))
}

/// Keys of the engine's own form with their accumulators.
pub(super) type RawGroups = Vec<(Vec<KeyPart>, Acc)>;

/// Per group key, the rank search its durations go to (instead of being kept).
pub(super) type RankSearches = HashMap<Vec<KeyPart>, RankFinder>;

/// Plan and execute: every group's key and accumulator, and what the execution did.
pub(super) fn aggregate(view: &View, query: &Query) -> Result<(RawGroups, QueryStats)> {
    aggregate_with(view, query, None)
}

/// [`aggregate`], the durations of each group offered to an empty copy of its search in `ranks`
/// (a group without one keeps none) instead of kept.
pub(super) fn aggregate_with(
    view: &View,
    query: &Query,
    ranks: Option<&RankSearches>,
) -> Result<(RawGroups, QueryStats)> {
    if query.group_by.len() > MAX_GROUP_DIMS {
        return Err(super::invalid(
            "group_by",
            format!("at most {MAX_GROUP_DIMS} dimensions"),
        ));
    }
    let exact = query.precision == Precision::Exact;
    let plan = Plan {
        needs: Needs::of(&query.aggregates, exact),
        needs_values: query.needs_values(),
        uses_durations: query.uses_durations(),
        shows_duration_totals: query.shows_duration_totals(),
        group_by: query.group_by.clone(),
        parts: (0..view.partitions())
            .map(|p| PartPlan::new(view, p, query))
            .collect(),
        ranks,
        rank_cells: ranks.map(|r| RankCells::of(r.values())),
    };
    let (since, until) = query.filter.to_scan_hints(query.now_ns);
    let scan = ScanFilter {
        since,
        until,
        names: None,
    };
    // A segment whose summary answers the query (or rules it out) is done without listing its
    // pages; the others are planned page by page, in parallel below.
    let mut whole = Worker::new(view, &plan, false);
    let mut pages = Vec::new();
    let mut pages_of_segments = 0u64;
    for seg in view.segments(&scan) {
        let part = &plan.parts[seg.partition()];
        let count = seg.page_count() as u64;
        match whole.plan_page(part, seg.summary()) {
            PagePlan::Skip => {
                pages_of_segments += count;
                whole.stats.pages_skipped += count;
                if part.skipped_by_index(seg.summary()) {
                    whole.stats.pages_skipped_by_index += count;
                }
            }
            PagePlan::Meta(parts) => {
                pages_of_segments += count;
                whole.stats.pages_from_meta += count;
                whole.add_from_meta(seg.partition(), seg.summary(), &parts, &[]);
            }
            PagePlan::ByValue(groups) => {
                pages_of_segments += count;
                whole.stats.pages_from_meta += count;
                whole.stats.pages_from_index += count;
                whole.add_value_groups(groups);
            }
            PagePlan::MetaAndValues(_) | PagePlan::ByValueAndRanks(_) | PagePlan::Decode => {
                match whole.plan_by_rollup(part, &seg) {
                    Some((_, PagePlan::Skip)) => {
                        pages_of_segments += count;
                        whole.stats.pages_skipped += count;
                        whole.stats.pages_skipped_by_index += count;
                    }
                    Some((meta, PagePlan::Meta(parts))) => {
                        pages_of_segments += count;
                        whole.stats.pages_from_meta += count;
                        whole.stats.pages_from_index += count;
                        whole.add_from_meta(seg.partition(), &meta, &parts, &[]);
                    }
                    Some((_, PagePlan::ByValue(groups))) => {
                        pages_of_segments += count;
                        whole.stats.pages_from_meta += count;
                        whole.stats.pages_from_index += count;
                        whole.add_value_groups(groups);
                    }
                    _ => pages.extend(view.pages_of(&seg, &scan)),
                }
            }
        }
    }
    pages.extend(view.tail_pages(&scan));
    let (pages, by_index) = rule_out_by_index(view, &plan, pages);
    whole.stats.pages_skipped_by_index += by_index;
    // A scan that cannot fit in the bufferpool would only churn it: decode into worker buffers.
    // One that fits in a quarter of it is cached: the rest stays for the indexes and metas that
    // every query plans with (a larger one would evict them; and pages with many field values
    // decode to more than the estimate).
    let rows: u64 = pages.iter().map(|p| u64::from(p.zone().rows)).sum();
    let cache_pages = rows.saturating_mul(DECODED_BYTES_PER_ROW) <= view.pool_budget() as u64 / 4;
    let mut stats = QueryStats {
        pages_total: view.page_count(),
        exact_percentiles: exact,
        ..QueryStats::default()
    };
    stats.pages_skipped = stats
        .pages_total
        .saturating_sub(pages.len() as u64 + pages_of_segments);

    let threads = match query.threads {
        _ if pages.len() <= 1 => 1,
        0 => cores(),
        n => n,
    }
    .clamp(1, pages.len().max(1));
    let mut outcomes: Vec<Result<Worker>> = if threads == 1 {
        vec![Worker::new(view, &plan, cache_pages).run(pages.iter())]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let plan = &plan;
                    let pages = &pages;
                    // Round robin: neighbouring pages cost alike, so each thread gets a fair share.
                    s.spawn(move || {
                        Worker::new(view, plan, cache_pages)
                            .run(pages.iter().skip(t).step_by(threads))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| match h.join() {
                    Ok(r) => r,
                    Err(panic) => std::panic::resume_unwind(panic),
                })
                .collect()
        })
    };
    let mut merged: Option<Worker> = Some(whole);
    for outcome in outcomes.drain(..) {
        let w = outcome?;
        match &mut merged {
            None => merged = Some(w),
            Some(m) => m.absorb(w),
        }
    }
    let mut groups = Vec::new();
    if let Some(w) = merged {
        stats.add_work(&w.stats);
        groups = w.groups.into_iter().zip(w.accs).collect();
    }
    Ok((groups, stats))
}

/// The cores this process may use, asked once: the standard library reads the cgroup's CPU
/// quota from files each time, which cost a query answered from metas a tenth of its time.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn sort_rows(rows: &mut [Row], query: &Query) {
    use std::cmp::Ordering;
    let by_key = |a: &Row, b: &Row| {
        a.key
            .iter()
            .zip(&b.key)
            .map(|(x, y)| x.cmp_total(y))
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
    };
    match query.order_by {
        None => rows.sort_by(by_key),
        Some(order) => rows.sort_by(|a, b| {
            let primary = match order.key {
                OrderKey::Group(i) => {
                    let o = a.key[i].cmp_total(&b.key[i]);
                    if order.descending {
                        o.reverse()
                    } else {
                        o
                    }
                }
                OrderKey::Aggregate(i) => match (a.values[i].as_f64(), b.values[i].as_f64()) {
                    // Missing values last in either direction.
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Greater,
                    (Some(_), None) => Ordering::Less,
                    (Some(x), Some(y)) => {
                        let o = x.total_cmp(&y);
                        if order.descending {
                            o.reverse()
                        } else {
                            o
                        }
                    }
                },
            };
            primary.then_with(|| by_key(a, b))
        }),
    }
}

/// Per-query decisions shared by the workers.
struct Plan<'r> {
    needs: Needs,
    needs_values: bool,
    uses_durations: bool,
    /// The answer shows a sum, mean, minimum or maximum of durations.
    shows_duration_totals: bool,
    group_by: Vec<GroupBy>,
    parts: Vec<PartPlan>,
    ranks: Option<&'r RankSearches>,
    /// The durations `ranks` still looks at (see [`PagePlan::ByValueAndRanks`]).
    rank_cells: Option<RankCells>,
}

/// `pages` less those whose index rules them out (see [`Predicate::rules_out_page`]), and how
/// many of those the zone maps alone would have kept. The index is cached apart from the meta
/// at about a fifth of its size, so a selective filter costs no read of the metas of the pages
/// it skips; and what is left sizes the scan (`cache_pages`). A page whose index cannot be read
/// is kept: its worker meets the damage and counts it.
fn rule_out_by_index(view: &View, plan: &Plan<'_>, pages: Vec<PageRef>) -> (Vec<PageRef>, u64) {
    if !plan.parts.iter().any(|p| p.predicate.has_page_terms()) {
        return (pages, 0);
    }
    // On one thread, the cached indexes taken under one lock of the bufferpool: threads would
    // only contend for it (measured: 1,526 pages took 0.5 ms on two threads, 0.25 ms on one, one
    // lock per page).
    let indexes = view.page_indexes(&pages);
    let mut kept = Vec::with_capacity(pages.len());
    let mut by_index = 0;
    for (page, index) in pages.into_iter().zip(indexes) {
        let part = &plan.parts[page.partition()];
        match index {
            // Counted as the indexes' doing when the keys alone would have kept the page.
            Ok(index) if part.predicate.rules_out_page(&index) => {
                let plain_keeps = part
                    .plain
                    .as_ref()
                    .is_some_and(|p| !p.rules_out_page(&index));
                by_index += u64::from(plain_keeps);
            }
            _ => kept.push(page),
        }
    }
    (kept, by_index)
}

/// Rough size of a decoded row (dense columns plus some sparse ones), for sizing scans.
const DECODED_BYTES_PER_ROW: u64 = 24;

/// The query compiled for one partition.
struct PartPlan {
    predicate: Predicate,
    /// The same filter without the value and message indexes (when the view uses them): what the
    /// zone maps alone rule out, to count the pages the indexes skipped (`QueryStats`).
    plain: Option<Predicate>,
    /// Per group dimension: the field key's id in this partition (for `GroupBy::Field`).
    field_keys: Vec<Option<NameId>>,
    columns: ColumnSet,
}

impl PartPlan {
    /// Whether a page `meta` describes, which the query skips, was ruled out by an index (its
    /// zone map alone would not have).
    fn skipped_by_index(&self, meta: &PageMeta) -> bool {
        self.plain.as_ref().is_some_and(|p| !p.rules_out(meta))
    }

    fn new(view: &View, part: usize, query: &Query) -> PartPlan {
        let dict = view.dictionary(part);
        let empty = Arc::new(laptime_storage::dictionary::Dictionary::default());
        let d = dict.unwrap_or(&empty);
        let predicate = Predicate::compile(&query.filter, query.now_ns, d, view.uses_indexes());
        let plain = view
            .uses_indexes()
            .then(|| Predicate::compile(&query.filter, query.now_ns, d, false));
        let field_keys: Vec<Option<NameId>> = query
            .group_by
            .iter()
            .map(|g| match g {
                GroupBy::Field(k) => dict.and_then(|d| d.lookup(k)),
                _ => None,
            })
            .collect();
        let mut columns = predicate.columns();
        for (g, key) in query.group_by.iter().zip(&field_keys) {
            match (g, key) {
                (GroupBy::Field(_), Some(k)) => columns.fields = columns.fields.with(*k),
                (GroupBy::Time(_), _) => columns.starts = true,
                _ => {}
            }
        }
        if query.uses_durations() {
            columns.durations = true;
        }
        PartPlan {
            predicate,
            plain,
            field_keys,
            columns,
        }
    }
}

/// One thread's share of the work: its own groups, merged at the end.
struct Worker<'a> {
    view: &'a View,
    plan: &'a Plan<'a>,
    groups: Vec<Vec<KeyPart>>,
    accs: Vec<Acc>,
    /// Each group's slot. foldhash: SipHash cost a query answered from metas a tenth of its time.
    index: foldhash::HashMap<Vec<KeyPart>, usize>,
    /// Resolved names per partition and id.
    names: Vec<Vec<Option<Arc<str>>>>,
    /// The group slot of a name's summary per partition and name id (`usize::MAX`: not known
    /// yet), used when nothing else goes into the key (no time dimension): a meta's names then
    /// find their groups without building and hashing a key each.
    name_slots: Vec<Vec<usize>>,
    stats: QueryStats,
    selected: Vec<bool>,
    scratch: Vec<bool>,
    /// The selected rows of the page being added.
    rows: Vec<u32>,
    codes: Vec<Vec<u64>>,
    /// The group slot of each cell of a page's key grid (see `add_rows`).
    slot_of_cell: Vec<usize>,
    read_scratch: ReadScratch,
    /// Decoded page when not going through the bufferpool.
    buf: PageColumns,
    /// A page's stored duration column (see `grouped_values` and `value_ranks`).
    grouped: Vec<u64>,
    /// Decode through the bufferpool (the pages fit) or into per-worker buffers.
    cache_pages: bool,
}

impl<'a> Worker<'a> {
    fn new(view: &'a View, plan: &'a Plan<'a>, cache_pages: bool) -> Worker<'a> {
        Worker {
            view,
            plan,
            cache_pages,
            groups: Vec::new(),
            accs: Vec::new(),
            index: foldhash::HashMap::default(),
            names: vec![Vec::new(); view.partitions()],
            name_slots: vec![Vec::new(); view.partitions()],
            stats: QueryStats::default(),
            selected: Vec::new(),
            scratch: Vec::new(),
            rows: Vec::new(),
            codes: vec![Vec::new(); plan.group_by.len()],
            slot_of_cell: Vec::new(),
            read_scratch: ReadScratch::default(),
            buf: PageColumns::default(),
            grouped: Vec::new(),
        }
    }

    fn run<'p>(mut self, pages: impl Iterator<Item = &'p PageRef>) -> Result<Worker<'a>> {
        for page in pages {
            self.page(page)?;
        }
        Ok(self)
    }

    fn absorb(&mut self, other: Worker<'_>) {
        for (key, acc) in other.groups.into_iter().zip(other.accs) {
            let slot = self.slot(key);
            self.accs[slot].merge(acc);
        }
        self.stats.add_work(&other.stats);
    }

    fn slot(&mut self, key: Vec<KeyPart>) -> usize {
        if let Some(&s) = self.index.get(&key) {
            return s;
        }
        let s = self.accs.len();
        self.index.insert(key.clone(), s);
        let mut acc = Acc::new(self.plan.needs);
        if let Some(searches) = self.plan.ranks {
            acc.ranks = Some(
                searches
                    .get(&key)
                    .map_or_else(RankFinder::default, RankFinder::empty_copy),
            );
        }
        self.groups.push(key);
        self.accs.push(acc);
        s
    }

    /// The slot of the events of name `id` of partition `part` in a summary whose first event
    /// started at `min_start`: the key is the name, null for fields (a summary counts events
    /// without them only), and the summary's time bucket.
    fn summary_slot(&mut self, part: usize, id: NameId, min_start: u64) -> usize {
        let by_time = |g: &GroupBy| matches!(g, GroupBy::Time(_));
        let cached = !self.plan.group_by.iter().any(by_time);
        let i = id as usize;
        if cached {
            if let Some(&slot) = self.name_slots[part].get(i).filter(|&&s| s != usize::MAX) {
                return slot;
            }
        }
        let key: Vec<KeyPart> = self
            .plan
            .group_by
            .iter()
            .map(|g| match g {
                GroupBy::Name => self.name(part, id),
                GroupBy::Field(_) => KeyPart::Null,
                GroupBy::Time(w) => KeyPart::Time(min_start - min_start % w),
            })
            .collect();
        let slot = self.slot(key);
        if cached {
            let slots = &mut self.name_slots[part];
            if slots.len() <= i {
                slots.resize(i + 1, usize::MAX);
            }
            slots[i] = slot;
        }
        slot
    }

    fn name(&mut self, part: usize, id: NameId) -> KeyPart {
        let cache = &mut self.names[part];
        let i = id as usize;
        if i >= cache.len() {
            cache.resize(i + 1, None);
        }
        if cache[i].is_none() {
            cache[i] = Some(
                self.view
                    .name(part, id)
                    .unwrap_or_else(|| Arc::from(format!("#{id}"))),
            );
        }
        cache[i].clone().map_or(KeyPart::Null, KeyPart::Str)
    }

    fn page(&mut self, page: &PageRef) -> Result<()> {
        let part = &self.plan.parts[page.partition()];
        let meta = match self.view.page_meta(page) {
            Ok(m) => m,
            Err(e) => return self.skipped(page, e),
        };
        let meta = &meta;
        match self.plan_page(part, meta) {
            PagePlan::Skip => {
                self.stats.pages_skipped += 1;
                if part.skipped_by_index(meta) {
                    self.stats.pages_skipped_by_index += 1;
                }
            }
            // Most of the page's names: decode the meta once, cached for the next query. A few
            // (a name filter): decode just theirs, and keep the cached meta small.
            PagePlan::Meta(parts) if self.plan.needs.sketch && !meta.has_sketches() => {
                let decoded = if parts.len() * 2 >= meta.names.len() {
                    self.view
                        .page_meta_with_sketches(page)
                        .map(|whole| (Some(whole), Vec::new()))
                } else {
                    let names = parts.iter().map(|(n, _)| *n);
                    self.view
                        .sketches_of(page, meta, names)
                        .map(|sketches| (None, sketches))
                };
                match decoded {
                    Ok((whole, sketches)) => {
                        self.stats.pages_from_meta += 1;
                        let meta = whole.as_ref().unwrap_or(meta);
                        self.add_from_meta(page.partition(), meta, &parts, &sketches);
                    }
                    Err(e) => self.skipped(page, e)?,
                }
            }
            PagePlan::Meta(parts) => {
                self.stats.pages_from_meta += 1;
                self.add_from_meta(page.partition(), meta, &parts, &[]);
            }
            PagePlan::ByValue(groups) => {
                self.stats.pages_from_meta += 1;
                self.stats.pages_from_index += 1;
                self.add_value_groups(groups);
            }
            PagePlan::MetaAndValues(parts) => {
                if self.plan.ranks.is_some() && self.grouped_values(page, meta, &parts)? {
                    return Ok(());
                }
                let mut buf = std::mem::take(&mut self.buf);
                match self.load(page, VALUES, &mut buf) {
                    Ok(cols) => {
                        self.stats.pages_decoded += 1;
                        let slots = self.add_from_meta(page.partition(), meta, &parts, &[]);
                        self.add_values(&cols, &slots);
                    }
                    Err(e) => self.skipped(page, e)?,
                }
                self.buf = buf;
            }
            PagePlan::ByValueAndRanks(ranked) => {
                let mut cols = std::mem::take(&mut self.buf);
                let mut stored = std::mem::take(&mut self.grouped);
                let done = self.value_ranks(page, meta, ranked, &mut cols, &mut stored);
                self.buf = cols;
                self.grouped = stored;
                if !done? {
                    self.decode(page, part)?;
                }
            }
            PagePlan::Decode => self.decode(page, part)?,
        }
        Ok(())
    }

    /// Decode the page's columns and add its rows.
    fn decode(&mut self, page: &PageRef, part: &PartPlan) -> Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        match self.load(page, part.columns, &mut buf) {
            Ok(cols) => {
                self.stats.pages_decoded += 1;
                self.add_rows(page.partition(), &cols);
            }
            Err(e) => self.skipped(page, e)?,
        }
        self.buf = buf;
        Ok(())
    }

    /// `MetaAndValues` for a rank search, from the stored duration column alone: it is grouped
    /// by name in the meta's order, so each name's durations are one run and neither the name nor
    /// the code column is decoded nor any row attributed. Logs need no code column while their
    /// durations are 0 (what loggers write): a zero is in no searched range. A page where a name's
    /// zeros are not its logs plus its zero-duration calls returns `false`, untouched, for the row
    /// path.
    fn grouped_values(
        &mut self,
        page: &PageRef,
        meta: &Arc<PageMeta>,
        parts: &[(NameId, SummaryPart)],
    ) -> Result<bool> {
        let mut durs = std::mem::take(&mut self.grouped);
        let mut cols = std::mem::take(&mut self.buf);
        let read = self.view.read_with_stored_durations(
            page,
            ColumnSet::NONE,
            &mut self.read_scratch,
            &mut cols,
            &mut durs,
        );
        self.buf = cols;
        let done = match read {
            Ok(false) => false,
            Err(e) => {
                self.skipped(page, e)?;
                true
            }
            Ok(true) => match split_runs(meta, &durs) {
                None => false,
                Some(runs) => {
                    self.stats.pages_decoded += 1;
                    self.stats.rows_scanned += durs.len() as u64;
                    let slots = self.add_from_meta(page.partition(), meta, parts, &[]);
                    for (s, run) in meta.names.iter().zip(runs) {
                        let slot = slots.get(s.name as usize).copied().unwrap_or(usize::MAX);
                        let acc = self.accs.get_mut(slot);
                        if let Some(ranks) = acc.and_then(|a| a.ranks.as_mut()) {
                            // Logs' zeros too: no searched range holds 0 (ranks.rs).
                            for &d in run {
                                ranks.offer(d);
                            }
                        }
                    }
                    true
                }
            },
        };
        self.grouped = durs;
        Ok(done)
    }

    /// A page that could not be read: damage is counted and skipped, anything else stops the query.
    fn skipped(&mut self, page: &PageRef, e: laptime_storage::Error) -> Result<()> {
        self.view.skip_damaged(page, e)?;
        self.stats.pages_damaged += 1;
        self.stats.rows_lost += u64::from(page.zone().rows);
        Ok(())
    }

    /// The page's columns: through the bufferpool, or into `buf` for scans larger than it.
    fn load<'b>(
        &mut self,
        page: &PageRef,
        which: ColumnSet,
        buf: &'b mut PageColumns,
    ) -> Result<PageData<'b>> {
        if self.cache_pages {
            Ok(PageData::Pinned(self.view.page(page, which)?))
        } else {
            self.view
                .page_uncached(page, which, &mut self.read_scratch, buf)
        }
    }

    /// Decide how to answer a page from its meta alone.
    fn plan_page(&self, part: &PartPlan, meta: &PageMeta) -> PagePlan {
        let plan = self.plan;
        let mut parts = Vec::with_capacity(meta.names.len());
        let mut answerable = true;
        // Whether the only thing the meta lacks is the duration values themselves.
        let mut lacks_only_values = !plan.needs.moments;
        let truths = part.predicate.index_truths(meta);
        if truths.rule_out_every_event() {
            // Without looking at a name: a segment's summary lists hundreds.
            return PagePlan::Skip;
        }
        for s in &meta.names {
            let tri = |n: u64, class: Class| {
                (n > 0).then(|| part.predicate.on_meta(meta, s, class, &truths))
            };
            let ok = tri(s.calls - s.errors, Class::Ok);
            let err = tri(s.errors, Class::Err);
            let log = tri(s.logs, Class::Log);
            let classes = [ok, err, log];
            if classes.iter().all(|t| matches!(t, None | Some(Tri::None))) {
                continue;
            }
            if classes.contains(&Some(Tri::Some)) {
                answerable = false;
                lacks_only_values = false;
                continue;
            }
            let take = |t: Option<Tri>| t == Some(Tri::All);
            let calls = match (take(ok), take(err)) {
                (false, false) => CallPart::None,
                (true, true) => CallPart::All,
                (true, false) if err.is_none() => CallPart::All,
                (false, true) if ok.is_none() => CallPart::All,
                (true, false) => CallPart::OnlyOk,
                (false, true) => CallPart::OnlyErrors,
            };
            let split = matches!(calls, CallPart::OnlyOk | CallPart::OnlyErrors);
            if split && plan.uses_durations {
                answerable = false;
                lacks_only_values = false;
            }
            if calls != CallPart::None && plan.needs_values {
                answerable = false;
            }
            parts.push((
                s.name,
                SummaryPart {
                    calls,
                    logs: take(log),
                },
            ));
        }
        if parts.is_empty() && answerable {
            return PagePlan::Skip;
        }
        let grouping_fits = plan
            .group_by
            .iter()
            .zip(&part.field_keys)
            .all(|(g, key)| match g {
                GroupBy::Name => true,
                GroupBy::Field(_) => key.is_none_or(|k| !meta.has_key(k)),
                GroupBy::Time(w) => meta.min_start / w == meta.max_start / w,
            });
        if answerable && grouping_fits {
            PagePlan::Meta(parts)
        } else if let Some((_, groups)) = answerable
            .then(|| self.value_groups(part, meta, &parts, plan.uses_durations))
            .flatten()
        {
            PagePlan::ByValue(groups)
        } else if lacks_only_values && grouping_fits {
            PagePlan::MetaAndValues(parts)
        } else if let Some((dim, groups)) = (lacks_only_values && plan.rank_cells.is_some())
            // The index's sketches only for a sum, mean, minimum or maximum in the answer (a
            // rank pass's accumulators are the answer's, never a partial's): the page's own
            // durations answer the ranks.
            .then(|| self.value_groups(part, meta, &parts, plan.shows_duration_totals))
            .flatten()
        {
            PagePlan::ByValueAndRanks(RankedValues { parts, dim, groups })
        } else {
            PagePlan::Decode
        }
    }

    /// The segment's events that pass one of the filter's string comparisons, from its value
    /// rollup, and how the query takes them: `None` unless that answers the segment without its
    /// pages (skipped, from the meta or from its value index). A damaged rollup is passed over:
    /// the pages it was made of answer instead.
    fn plan_by_rollup(
        &self,
        part: &PartPlan,
        seg: &SegmentRef,
    ) -> Option<(Arc<PageMeta>, PagePlan)> {
        for (key, pass) in part.predicate.string_terms() {
            let Ok(Some(meta)) = self.view.segment_rollup(seg, key, &pass) else {
                continue;
            };
            let plan = self.plan_page(part, &meta);
            if matches!(
                plan,
                PagePlan::Skip | PagePlan::Meta(_) | PagePlan::ByValue(_)
            ) {
                return Some((meta, plan));
            }
        }
        None
    }

    /// The groups of a query grouped by one field present in the page, from the value index
    /// (`by_value.rs`): each group's key, counts and (for a query that uses durations) sketch,
    /// and which dimension of the key the field is. `None` when the index cannot answer: the
    /// query groups by name, a time bucket splits the page, the key is not listed, the names'
    /// events are taken unevenly, or the index lacks the durations asked for (`durations`: the
    /// groups' sketches). Durations themselves, for exact percentiles, the caller reads from the
    /// page.
    fn value_groups(
        &self,
        part: &PartPlan,
        meta: &PageMeta,
        parts: &[(NameId, SummaryPart)],
        durations: bool,
    ) -> Option<(usize, Vec<KeyedGroup>)> {
        let plan = self.plan;
        if !self.view.uses_indexes() {
            return None;
        }
        let mut present = None;
        for (i, (g, key)) in plan.group_by.iter().zip(&part.field_keys).enumerate() {
            match g {
                GroupBy::Name => return None,
                GroupBy::Time(w) if meta.min_start / w != meta.max_start / w => return None,
                GroupBy::Time(_) => {}
                GroupBy::Field(_) => match key {
                    Some(k) if meta.has_key(*k) => {
                        if present.is_some() {
                            return None;
                        }
                        present = Some((i, *k));
                    }
                    _ => {}
                },
            }
        }
        let (dim, key) = present?;
        let groups = by_value::value_groups(meta, key, parts, durations)?;
        let groups = groups
            .into_iter()
            .map(|found| {
                let value = found
                    .value
                    .map_or(KeyPart::Null, |v| KeyPart::Str(v.into()));
                KeyedGroup {
                    key: self.value_key(meta, dim, value),
                    counts: found.counts,
                    durations: found.durations.map(|d| d.into_owned()),
                }
            })
            .collect();
        Some((dim, groups))
    }

    /// The key of the events of a page (one time bucket at most, see [`Worker::value_groups`])
    /// whose field of dimension `dim` is `value`: the other fields are absent from the page.
    fn value_key(&self, meta: &PageMeta, dim: usize, value: KeyPart) -> Vec<KeyPart> {
        let mut value = Some(value);
        self.plan
            .group_by
            .iter()
            .enumerate()
            .map(|(i, g)| match g {
                GroupBy::Time(w) => KeyPart::Time(meta.min_start - meta.min_start % w),
                _ if i == dim => value.take().unwrap_or(KeyPart::Null),
                _ => KeyPart::Null,
            })
            .collect()
    }

    /// [`PagePlan::ByValueAndRanks`]: counts and sums from the value index; of the durations as
    /// stored, only those in a cell some search looks at ([`RankCells`]) are attributed to their
    /// row's group and offered to its search. `Ok(false)`, nothing added, for a page without a
    /// stored duration column (the tail) or whose logs are not all zeros: the row path reads it.
    /// `cols` and `stored` are the worker's buffers, lent.
    fn value_ranks(
        &mut self,
        page: &PageRef,
        meta: &PageMeta,
        ranked: RankedValues,
        cols: &mut PageColumns,
        stored: &mut Vec<u64>,
    ) -> Result<bool> {
        let RankedValues { parts, dim, groups } = ranked;
        let plan = self.plan;
        let (Some(cells), Some(key)) = (
            &plan.rank_cells,
            plan.parts[page.partition()].field_keys[dim],
        ) else {
            return Ok(false);
        };
        // The names tell each stored duration's row.
        let which = ColumnSet {
            names: true,
            fields: FieldKeys::NONE.with(key),
            ..ColumnSet::NONE
        };
        let read =
            self.view
                .read_with_stored_durations(page, which, &mut self.read_scratch, cols, stored);
        match read {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(e) => {
                self.skipped(page, e)?;
                return Ok(true);
            }
        }
        let Some(mut next) = taken_name_starts(meta, &parts, stored) else {
            return Ok(false);
        };
        self.stats.pages_decoded += 1;
        self.stats.rows_scanned += stored.len() as u64;
        self.add_value_groups(groups);
        // Each row's value: 1 + its index in `values`, 0 without the field.
        let mut codes = std::mem::take(&mut self.codes[dim]);
        codes.clear();
        codes.resize(cols.len(), 0);
        let mut values = Vec::new();
        intern_field(cols, key, &mut codes, &mut values);
        let mut slot_of_code = vec![usize::MAX; values.len() + 1];
        // Walking the rows, a row's duration is its name's next one in the stored column.
        for (row, &name) in cols.names.iter().enumerate() {
            let Some(at) = next.get_mut(name as usize).filter(|at| **at != usize::MAX) else {
                continue;
            };
            let Some(&d) = stored.get(*at) else {
                continue;
            };
            *at += 1;
            if !cells.holds(d) {
                continue;
            }
            let code = codes.get(row).map_or(0, |&c| c as usize);
            let slot = match slot_of_code.get(code) {
                Some(&slot) if slot != usize::MAX => slot,
                _ => {
                    let value = match code {
                        0 => KeyPart::Null,
                        c => values.get(c - 1).cloned().unwrap_or(KeyPart::Null),
                    };
                    let slot = self.slot(self.value_key(meta, dim, value));
                    if let Some(s) = slot_of_code.get_mut(code) {
                        *s = slot;
                    }
                    slot
                }
            };
            // Logs' zeros too: no searched range holds 0 (ranks.rs).
            if let Some(ranks) = self.accs[slot].ranks.as_mut() {
                ranks.offer(d);
            }
        }
        self.codes[dim] = codes;
        Ok(true)
    }

    /// Add the groups [`Worker::value_groups`] found.
    fn add_value_groups(&mut self, groups: Vec<KeyedGroup>) {
        for g in groups {
            let c = g.counts;
            let slot = self.slot(g.key);
            let acc = &mut self.accs[slot];
            acc.add_counts(c.ok + c.errors, c.errors, c.logs);
            if let Some(d) = &g.durations {
                acc.add_durations(d);
            }
            self.stats.rows_matched += c.ok + c.errors + c.logs;
        }
    }

    /// Add the page's summaries; returns the group slot of each name whose calls were taken,
    /// indexed by name id (`usize::MAX` for the others).
    /// `decoded` holds the sketches of `parts` (same order) when the meta's are not decoded.
    fn add_from_meta(
        &mut self,
        part: usize,
        meta: &Arc<PageMeta>,
        parts: &[(NameId, SummaryPart)],
        decoded: &[LatencySketch],
    ) -> Vec<usize> {
        let mut slots = Vec::new();
        if self.accs.is_empty() {
            // Room for a group per name of the first meta at once: growing by doubling copied
            // the accumulators (the next metas mostly add to the same groups).
            self.accs.reserve(parts.len());
            self.groups.reserve(parts.len());
        }
        // `parts` lists names of `meta.names` (sorted by id) in their order (`plan_page`): one
        // walk forward finds them all, instead of a binary search per name.
        let mut next = 0;
        for (i, &(name, take)) in parts.iter().enumerate() {
            let rest = meta.names.get(next..).unwrap_or_default();
            let Some(at) = rest.iter().position(|s| s.name == name).map(|p| next + p) else {
                continue;
            };
            next = at + 1;
            let stats = &meta.names[at];
            let sketch = match decoded.get(i) {
                Some(apart) => SummarySketch::Apart(apart),
                None => SummarySketch::InMeta(meta, at),
            };
            let slot = self.summary_slot(part, name, meta.min_start);
            let before = self.accs[slot].events();
            self.accs[slot].add_summary(stats, take, sketch);
            self.stats.rows_matched += self.accs[slot].events() - before;
            if take.calls == CallPart::All {
                let i = name as usize;
                if slots.len() <= i {
                    slots.resize(i + 1, usize::MAX);
                }
                slots[i] = slot;
                self.accs[slot].reserve_values(stats.calls);
            }
        }
        slots
    }

    /// The durations of the calls of the names in `slots` (all of them match the filter).
    fn add_values(&mut self, cols: &PageColumns, slots: &[usize]) {
        self.stats.rows_scanned += cols.len() as u64;
        for ((&name, &code), &d) in cols.names.iter().zip(&cols.codes).zip(&cols.durations) {
            if code <= 1 {
                if let Some(&slot) = slots.get(name as usize) {
                    if let Some(acc) = self.accs.get_mut(slot) {
                        acc.push_value(d);
                    }
                }
            }
        }
    }

    fn add_rows(&mut self, part: usize, cols: &PageColumns) {
        let n = cols.len();
        self.stats.rows_scanned += n as u64;
        let plan = self.plan;
        let pp = &plan.parts[part];
        // The selected rows, visited alone: a selective filter leaves few of a page's rows.
        let mut rows = std::mem::take(&mut self.rows);
        pp.predicate
            .select(cols, &mut rows, &mut self.selected, &mut self.scratch);

        // Per dimension, a row's code: its name id, or from a per-row table its time bucket from
        // the page's first, or 1 + the index of its field value (0 without one).
        let base = cols.starts.iter().copied().min().unwrap_or(0);
        let mut field_values: Vec<Vec<KeyPart>> = vec![Vec::new(); plan.group_by.len()];
        for (d, g) in plan.group_by.iter().enumerate() {
            let codes = &mut self.codes[d];
            codes.clear();
            match g {
                GroupBy::Name => {}
                GroupBy::Time(w) => {
                    // Once per row: the division is a good part of what a row costs.
                    codes.resize(n, 0);
                    let first = base - base % w;
                    for &row in &rows {
                        if let Some(c) = codes.get_mut(row as usize) {
                            *c = (cols.starts[row as usize] - first) / w;
                        }
                    }
                }
                GroupBy::Field(_) => {
                    codes.resize(n, 0);
                    if let Some(key) = pp.field_keys[d] {
                        intern_field(cols, key, codes, &mut field_values[d]);
                    }
                }
            }
        }
        let code = |d: usize, g: &GroupBy, row: usize, codes: &[Vec<u64>]| match g {
            GroupBy::Name => u64::from(cols.names[row]),
            GroupBy::Time(_) | GroupBy::Field(_) => codes[d][row],
        };

        // The page's keys as cells of a small grid (each dimension's codes are dense from 0 on a
        // page: name ids, time buckets from the page's first, field value codes), so a row finds
        // its group in a vector. A grid too large for that (fine time buckets over many names) is
        // hashed instead.
        let mut radix = [1u64; MAX_GROUP_DIMS];
        for (d, (r, g)) in radix.iter_mut().zip(&plan.group_by).enumerate() {
            let most = rows
                .iter()
                .map(|&row| code(d, g, row as usize, &self.codes));
            *r = most.max().unwrap_or(0).saturating_add(1);
        }
        let mut stride = [0u64; MAX_GROUP_DIMS];
        let mut cells = Some(1u64);
        for (st, &r) in stride.iter_mut().zip(&radix) {
            *st = cells.unwrap_or(0);
            cells = cells.and_then(|c| c.checked_mul(r));
        }
        // Filling the vector costs a write per cell: not for a grid far larger than the rows.
        let most_cells = DENSE_CELLS.min(4096.max(4 * rows.len() as u64));
        let grid = cells.filter(|&c| c <= most_cells);
        let mut slot_of_cell = std::mem::take(&mut self.slot_of_cell);
        slot_of_cell.clear();
        slot_of_cell.resize(grid.unwrap_or(0) as usize, usize::MAX);
        let mut local: IntMap<LocalKey, usize> = IntMap::default();
        for &row in &rows {
            let row = row as usize;
            let mut key: LocalKey = [0; MAX_GROUP_DIMS];
            let mut cell = 0u64;
            for (d, (k, g)) in key.iter_mut().zip(&plan.group_by).enumerate() {
                *k = code(d, g, row, &self.codes);
                // Read only with a grid, where it cannot wrap.
                cell = cell.wrapping_add(k.wrapping_mul(stride[d]));
            }
            let cached = match grid {
                Some(_) => slot_of_cell
                    .get(cell as usize)
                    .copied()
                    .filter(|&s| s != usize::MAX),
                None => local.get(&key).copied(),
            };
            let slot = match cached {
                Some(s) => s,
                None => {
                    let parts: Vec<KeyPart> = plan
                        .group_by
                        .iter()
                        .enumerate()
                        .map(|(d, g)| match g {
                            GroupBy::Name => self.name(part, key[d] as NameId),
                            GroupBy::Time(w) => KeyPart::Time(base - base % w + key[d] * w),
                            GroupBy::Field(_) => match key[d] {
                                0 => KeyPart::Null,
                                c => field_values[d][(c - 1) as usize].clone(),
                            },
                        })
                        .collect();
                    let s = self.slot(parts);
                    match (grid, slot_of_cell.get_mut(cell as usize)) {
                        (Some(_), Some(c)) => *c = s,
                        _ => {
                            local.insert(key, s);
                        }
                    }
                    s
                }
            };
            let acc = &mut self.accs[slot];
            match cols.codes[row] {
                // Durations are decoded only when an aggregate uses them.
                c @ (0 | 1) => acc.add_call(
                    cols.durations.get(row).copied().unwrap_or(0),
                    c == 1,
                    plan.needs,
                ),
                _ => acc.add_log(),
            }
        }
        self.stats.rows_matched += rows.len() as u64;
        self.rows = rows;
        self.slot_of_cell = slot_of_cell;
    }
}

/// Each name's run of the stored duration column (names ascending, `calls + logs` rows each), if
/// the runs cover the column and each run with logs has exactly its logs and its zero-duration
/// calls as zeros (so every log's duration is 0).
fn split_runs<'d>(meta: &PageMeta, durs: &'d [u64]) -> Option<Vec<&'d [u64]>> {
    let mut runs = Vec::with_capacity(meta.names.len());
    let mut at = 0usize;
    for s in &meta.names {
        let len = usize::try_from(s.calls.checked_add(s.logs)?).ok()?;
        let run = durs.get(at..at.checked_add(len)?)?;
        if s.logs > 0 {
            let zeros = run.iter().filter(|&&d| d == 0).count() as u64;
            if zeros != s.zero_calls + s.logs {
                return None;
            }
        }
        runs.push(run);
        at += len;
    }
    (at == durs.len()).then_some(runs)
}

/// Where the durations of each name whose calls the query takes start in the stored duration
/// column (names ascending, each name's rows in row order), indexed by name id (`usize::MAX` for
/// the others); `None` when the meta's runs do not cover the column or a run's logs are not all
/// zeros (see [`split_runs`]).
fn taken_name_starts(
    meta: &PageMeta,
    parts: &[(NameId, SummaryPart)],
    stored: &[u64],
) -> Option<Vec<usize>> {
    let runs = split_runs(meta, stored)?;
    let mut starts = Vec::new();
    let mut at = 0;
    let mut taken = parts.iter().peekable();
    for (s, run) in meta.names.iter().zip(runs) {
        let takes_calls = taken
            .next_if(|(n, _)| *n == s.name)
            .is_some_and(|(_, p)| p.calls == CallPart::All);
        if takes_calls {
            let i = s.name as usize;
            if starts.len() <= i {
                starts.resize(i + 1, usize::MAX);
            }
            starts[i] = at;
        }
        at += run.len();
    }
    Some(starts)
}

enum PagePlan {
    Skip,
    /// Every matching row is described by the meta: counts and sketches suffice.
    Meta(Vec<(NameId, SummaryPart)>),
    /// Grouped by a field, from the value index: each group's key, counts and durations.
    ByValue(Vec<KeyedGroup>),
    /// As `Meta`, but the query needs the durations themselves (exact percentiles): counts from
    /// the meta, values from the decoded duration column, no row filtering.
    MetaAndValues(Vec<(NameId, SummaryPart)>),
    /// As `ByValue` for a rank search (exact percentiles): counts and sums from the value index,
    /// the durations the search looks at from the stored column, each attributed by its row's
    /// value of the field of dimension `dim`. No row filtering; the names' calls are taken whole.
    ByValueAndRanks(RankedValues),
    Decode,
}

/// What [`PagePlan::ByValueAndRanks`] takes of a page.
struct RankedValues {
    /// The names whose events the query takes, and how.
    parts: Vec<(NameId, SummaryPart)>,
    /// The dimension of the key that is the listed field.
    dim: usize,
    /// The value index's groups (counts, and sums when the answer shows them).
    groups: Vec<KeyedGroup>,
}

/// A group answered from the value index with its group key (see [`PagePlan::ByValue`]).
struct KeyedGroup {
    key: Vec<KeyPart>,
    counts: ClassCounts,
    /// The group's calls' durations, for a query that uses them.
    durations: Option<LatencySketch>,
}

/// Give each row carrying field `key` a code `1 + index into values` (equal values share one);
/// rows without it keep code 0.
fn intern_field(cols: &PageColumns, key: NameId, codes: &mut [u64], values: &mut Vec<KeyPart>) {
    /// A value borrowed from the page, so repeated strings are not copied per row.
    #[derive(PartialEq, Eq, Hash)]
    enum Seen<'c> {
        Str(&'c str),
        I64(i64),
        F64(u64),
        Bool(bool),
    }
    /// Recent string spans and their codes: a dictionary-coded column repeats the span of a
    /// repeated value, so most rows find their code here without hashing the string.
    const RECENT_BITS: u32 = 8;
    fn code_of<'c>(
        seen: &mut foldhash::HashMap<Seen<'c>, u64>,
        v: Seen<'c>,
        values: &mut Vec<KeyPart>,
    ) -> u64 {
        *seen.entry(v).or_insert_with_key(|v| {
            values.push(match *v {
                Seen::Str(s) => KeyPart::Str(Arc::from(s)),
                Seen::I64(x) => KeyPart::I64(x),
                Seen::F64(b) => KeyPart::F64(b),
                Seen::Bool(b) => KeyPart::Bool(b),
            });
            values.len() as u64
        })
    }
    let mut seen = foldhash::HashMap::default();
    for col in cols.fields.iter().filter(|c| c.key == key) {
        // Spans are positions in this column's text only.
        let mut recent = [((usize::MAX, 0usize), 0u64); 1 << RECENT_BITS];
        // Decoding checks one value per row; never index past either anyway.
        let n = col.rows.len().min(col.values.len());
        for (i, &row) in col.rows.iter().enumerate().take(n) {
            let code = match &col.values {
                FieldValues::Str(s) => {
                    let span = s.span(i);
                    // Fibonacci hashing of the start: dictionary values lie a few bytes apart.
                    let at =
                        (span.0 as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - RECENT_BITS);
                    let slot = &mut recent[at as usize];
                    if slot.0 == span {
                        slot.1
                    } else {
                        let code = code_of(&mut seen, Seen::Str(s.get(i)), values);
                        *slot = (span, code);
                        code
                    }
                }
                FieldValues::I64(v) => code_of(&mut seen, Seen::I64(v[i]), values),
                FieldValues::F64(v) => code_of(&mut seen, Seen::F64(v[i].to_bits()), values),
                FieldValues::Bool(v) => code_of(&mut seen, Seen::Bool(v[i]), values),
            };
            if let Some(c) = codes.get_mut(row as usize) {
                *c = code;
            }
        }
    }
}
