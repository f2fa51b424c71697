//! Reading: a [`View`] is a consistent view of a store (every partition), and the scan API lets
//! the query engine pick pages by zone map (time range, names) and decode only the columns it needs
//! into reusable buffers.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::bufferpool::{BufferPool, PageKey, PinnedPage};
use crate::dictionary::Dictionary;
use crate::disk_partition::PartitionCache;
use crate::error::Result;
use crate::event::{Code, Event, NameId};
use crate::options::Options;
use crate::page::{ColumnSet, PageColumns, PageIndex, PageMeta, PageZone};
use crate::segment::rollup::RolledValue;
use crate::segment::{PageEntry, ReadScratch, SegmentReader};
use crate::sketch::LatencySketch;

/// A decoded page: pinned in the bufferpool, or decoded into a caller's buffer.
pub enum PageData<'a> {
    /// From the pool (stays cached while pinned).
    Pinned(PinnedPage),
    /// Decoded into the caller's buffer.
    Local(&'a PageColumns),
}

impl std::ops::Deref for PageData<'_> {
    type Target = PageColumns;
    fn deref(&self) -> &PageColumns {
        match self {
            PageData::Pinned(p) => p,
            PageData::Local(c) => c,
        }
    }
}

/// Which events a scan wants; pages that cannot hold any are skipped without being read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanFilter {
    /// Only events with `start_ns >= since`.
    pub since: Option<u64>,
    /// Only events with `start_ns < until`.
    pub until: Option<u64>,
    /// Only events with one of these names.
    pub names: Option<Vec<String>>,
}

impl ScanFilter {
    fn time_overlaps(&self, min_start: u64, max_start: u64) -> bool {
        self.since.is_none_or(|s| max_start >= s) && self.until.is_none_or(|u| min_start < u)
    }

    /// True if an event with this start passes the time bounds.
    pub fn time_matches(&self, start_ns: u64) -> bool {
        self.since.is_none_or(|s| start_ns >= s) && self.until.is_none_or(|u| start_ns < u)
    }
}

struct PartitionSnapshot {
    /// Directory name of the partition: stable across snapshots (cursors refer to it).
    id: Arc<str>,
    dict: Arc<Dictionary>,
    segments: Vec<Arc<SegmentReader>>,
    /// Events not yet in a sealed page: the writer's active page (own partition), or the WAL
    /// events no page holds (other partitions).
    tail: Option<Arc<(PageMeta, PageColumns)>>,
    /// The tail's meta, shared with the page refs that name it.
    tail_meta: Option<Arc<PageMeta>>,
}

impl PartitionSnapshot {
    fn new(
        id: Arc<str>,
        dict: Arc<Dictionary>,
        segments: Vec<Arc<SegmentReader>>,
        tail: Option<Arc<(PageMeta, PageColumns)>>,
    ) -> PartitionSnapshot {
        let tail = tail.filter(|t| t.0.rows > 0);
        PartitionSnapshot {
            id,
            dict,
            segments,
            tail_meta: tail.as_ref().map(|t| Arc::new(t.0.clone())),
            tail,
        }
    }
}

/// The partition this process writes, as its writer shows it: sealed segments, and the unsealed
/// events (sorted, with their meta) as the tail.
pub(crate) struct LivePartition<'a> {
    pub dir: &'a Path,
    pub dict: Arc<Dictionary>,
    pub segments: Vec<Arc<SegmentReader>>,
    pub tail: Option<Arc<(PageMeta, PageColumns)>>,
}

/// Where a page of a view lives.
enum Place<'v> {
    /// A page of a segment file, as its directory describes it.
    Segment(&'v SegmentReader, &'v PageEntry),
    /// The partition's tail (events in no sealed page), in memory.
    Tail(&'v PartitionSnapshot),
}

/// The bufferpool key of the page `entry` describes, in the segment file of key `file`.
fn page_key(file: u64, entry: &PageEntry) -> PageKey {
    PageKey {
        file,
        offset: entry.offset,
        sums: u64::from(entry.header.meta_crc) << 32 | u64::from(entry.header.cols_crc),
    }
}

fn not_from_this_view() -> crate::Error {
    crate::Error::InvalidInput {
        what: "page",
        reason: "page is not from this view".into(),
    }
}

/// A consistent read view over all partitions of a store.
pub struct View {
    parts: Vec<PartitionSnapshot>,
    pool: Arc<BufferPool>,
    /// Pages found damaged while reading (skipped; see [`View::damaged_pages`]).
    damage: Mutex<Vec<PageDamage>>,
    /// Whether queries may use the metas' value and message indexes (see
    /// [`View::without_indexes`]).
    uses_indexes: bool,
}

/// A page whose columns failed their checksum when read: readers skip it (its meta, checked when
/// the segment was opened, still answers counts and sketches) and say so; `laptime repair` or the
/// next recovery rewrites the segment without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageDamage {
    /// The segment file.
    pub file: std::path::PathBuf,
    /// Offset of the page in it.
    pub offset: u64,
    /// Events in the page (from its meta).
    pub rows: u64,
    /// What failed.
    pub reason: String,
}

fn partition_id(dir: &Path) -> Arc<str> {
    Arc::from(dir.file_name().map_or_else(
        || dir.to_string_lossy().into_owned(),
        |n| n.to_string_lossy().into_owned(),
    ))
}

/// A segment chosen by [`View::segments`]: its summary answers for all its pages at once when a
/// query can be answered from metas; otherwise [`View::pages_of`] lists its pages.
#[derive(Debug, Clone)]
pub struct SegmentRef {
    part: usize,
    segment: usize,
    summary: Arc<PageMeta>,
    pages: usize,
}

impl SegmentRef {
    /// Every page's meta absorbed into one: counts and sketches per name, time range, keys.
    pub fn summary(&self) -> &Arc<PageMeta> {
        &self.summary
    }

    /// Index of the partition (for [`View::name`]).
    pub fn partition(&self) -> usize {
        self.part
    }

    /// Number of pages in the segment.
    pub fn page_count(&self) -> usize {
        self.pages
    }
}

/// Where a page comes from.
#[derive(Debug, Clone)]
enum Source {
    Segment { segment: usize, page: usize },
    Tail,
}

/// A page chosen by [`View::pages`] or [`View::pages_of`]. Its meta (names, counts, sketches)
/// comes from [`View::page_meta`].
#[derive(Debug, Clone)]
pub struct PageRef {
    part: usize,
    source: Source,
    zone: PageZone,
}

impl PageRef {
    /// Where the page's events lie in sequence and time, and how many there are.
    pub fn zone(&self) -> &PageZone {
        &self.zone
    }

    /// Index of the partition (for [`View::name`]).
    pub fn partition(&self) -> usize {
        self.part
    }

    /// True for a page of a segment; false for the events not yet sealed into one (a writer's
    /// active page, or WAL events no page holds).
    pub fn is_sealed(&self) -> bool {
        matches!(self.source, Source::Segment { .. })
    }
}

impl View {
    /// A read-only view of the store at `root` without opening it for writing (no partition is
    /// claimed). Every event in a writer's WAL is included, sealed in a page or not, whether the
    /// writer runs or was killed.
    pub fn open_read_only(root: &Path) -> Result<View> {
        let pool = Arc::new(BufferPool::new(Options::default().bufferpool_bytes));
        View::open_read_only_with_pool(root, pool)
    }

    /// Like [`View::open_read_only`], caching decoded pages in `pool`.
    pub fn open_read_only_with_pool(root: &Path, pool: Arc<BufferPool>) -> Result<View> {
        View::of_disk(root, &PartitionCache::default(), pool, Vec::new())
    }

    /// Every partition of `root` as on disk now, reusing the readers in `cache`; `live` (the
    /// partitions this process writes) are taken as their writers show them instead.
    pub(crate) fn of_disk(
        root: &Path,
        cache: &PartitionCache,
        pool: Arc<BufferPool>,
        live: Vec<LivePartition<'_>>,
    ) -> Result<View> {
        let mut parts = Vec::new();
        let live_dirs: Vec<PathBuf> = live.iter().map(|l| l.dir.to_owned()).collect();
        for l in live {
            parts.push(PartitionSnapshot::new(
                partition_id(l.dir),
                l.dict,
                l.segments,
                l.tail,
            ));
        }
        for dir in cache.partitions(root)?.iter() {
            if live_dirs.contains(dir) {
                continue;
            }
            let p = cache.load(dir)?;
            parts.push(PartitionSnapshot::new(
                partition_id(dir),
                p.dict,
                p.segments,
                p.tail,
            ));
        }
        Ok(View {
            parts,
            pool,
            damage: Mutex::default(),
            uses_indexes: true,
        })
    }

    /// This view for queries that ignore the value and message indexes of page metas (listed
    /// values and their sketches, ranges, filters, message words): every page such an index would
    /// rule out or answer is decoded instead. The answers are the same, only slower; for checking
    /// the indexes and measuring what they save.
    pub fn without_indexes(mut self) -> View {
        self.uses_indexes = false;
        self
    }

    /// Whether queries may use the value and message indexes (see [`View::without_indexes`]).
    pub fn uses_indexes(&self) -> bool {
        self.uses_indexes
    }

    /// Number of partitions.
    pub fn partitions(&self) -> usize {
        self.parts.len()
    }

    /// Stable identifier (directory name) of partition `part`.
    pub fn partition_id(&self, part: usize) -> Option<&str> {
        self.parts.get(part).map(|p| &*p.id)
    }

    /// The dictionary of partition `part`.
    pub fn dictionary(&self, part: usize) -> Option<&Arc<Dictionary>> {
        self.parts.get(part).map(|p| &p.dict)
    }

    /// Resolve a name id of partition `part`.
    pub fn name(&self, part: usize, id: NameId) -> Option<Arc<str>> {
        self.parts.get(part).and_then(|p| p.dict.get(id))
    }

    /// The ids `filter` names in partition `part`, or `None` for every name.
    fn name_ids(&self, part: usize, filter: &ScanFilter) -> Option<Vec<NameId>> {
        let dict = self.parts.get(part).map(|p| &p.dict);
        filter.names.as_ref().map(|names| {
            names
                .iter()
                .filter_map(|n| dict.and_then(|d| d.lookup(n)))
                .collect()
        })
    }

    /// Segments that may hold events passing `filter` (by their summaries), in partition and
    /// segment order. The unsealed tails are not segments: see [`View::tail_pages`].
    pub fn segments(&self, filter: &ScanFilter) -> Vec<SegmentRef> {
        let mut out = Vec::new();
        for (pi, p) in self.parts.iter().enumerate() {
            let ids = self.name_ids(pi, filter);
            for (si, seg) in p.segments.iter().enumerate() {
                let summary = seg.summary();
                let wanted = summary.rows > 0
                    && filter.time_overlaps(summary.min_start, summary.max_start)
                    && ids
                        .as_ref()
                        .is_none_or(|ids| ids.iter().any(|&id| summary.has_name(id)));
                if wanted {
                    out.push(SegmentRef {
                        part: pi,
                        segment: si,
                        summary: Arc::clone(summary),
                        pages: seg.pages().len(),
                    });
                }
            }
        }
        out
    }

    /// The pages of `seg` that may hold events passing `filter`, in page order. Time is decided
    /// by each page's zone; names, when the filter has any, by its meta (read through the
    /// bufferpool; a page whose meta cannot be read is listed, so that reading it reports it).
    pub fn pages_of(&self, seg: &SegmentRef, filter: &ScanFilter) -> Vec<PageRef> {
        let Some(reader) = self
            .parts
            .get(seg.part)
            .and_then(|p| p.segments.get(seg.segment))
        else {
            return Vec::new();
        };
        let ids = self.name_ids(seg.part, filter);
        let mut out = Vec::new();
        for (gi, entry) in reader.pages().iter().enumerate() {
            if !filter.time_overlaps(entry.zone.min_start, entry.zone.max_start) {
                continue;
            }
            let page = PageRef {
                part: seg.part,
                source: Source::Segment {
                    segment: seg.segment,
                    page: gi,
                },
                zone: entry.zone,
            };
            let named = ids.as_ref().is_none_or(|ids| {
                self.page_meta(&page)
                    .map_or(true, |m| ids.iter().any(|&id| m.has_name(id)))
            });
            if named {
                out.push(page);
            }
        }
        out
    }

    /// The meta of the events of `seg` whose field `key` has a value `pass` accepts, from the
    /// segment's value rollup (`segment::rollup`): what answers a filter on a few-valued key for
    /// the whole segment without decoding its pages. `None` when the segment has none for the
    /// key (or the view plans without indexes); an error when it is damaged, and the caller
    /// decodes the pages instead (they are what the rollup was made of).
    pub fn segment_rollup(
        &self,
        seg: &SegmentRef,
        key: NameId,
        pass: &dyn Fn(&str) -> bool,
    ) -> Result<Option<Arc<PageMeta>>> {
        if !self.uses_indexes {
            return Ok(None);
        }
        let Some(reader) = self
            .parts
            .get(seg.part)
            .and_then(|p| p.segments.get(seg.segment))
        else {
            return Ok(None);
        };
        let Some(values) = reader.rollup_values(key)? else {
            return Ok(None);
        };
        let mut passing = values.filter(|(v, _)| pass(&v.value)).peekable();
        let Some(&(first, first_listed)) = passing.peek() else {
            return reader
                .meta_of_values(key, &[], &[])
                .map(|m| Some(Arc::new(m)));
        };
        // Each value's meta is cached like a page's, keyed by where it is and its checksum.
        let value_key = |value: &RolledValue| PageKey {
            file: reader.file_key(),
            offset: value.offset,
            sums: u64::from(value.crc),
        };
        if passing.clone().nth(1).is_none() {
            // One value (an equality filter): the meta the query plans with is cached whole, so
            // a repeated query neither merges nor copies its sketches.
            let cached = value_key(first);
            if let Some(hit) = self.pool.get_made_meta(cached) {
                return Ok(Some(hit));
            }
            let part = Arc::new(reader.read_rollup_value(first, first_listed)?);
            let meta = reader.meta_of_values(key, std::slice::from_ref(first_listed), &[part])?;
            return Ok(Some(self.pool.insert_made_meta(cached, meta)));
        }
        let mut taken = Vec::new();
        let mut parts = Vec::new();
        for (value, listed) in passing {
            let meta = match self.pool.get_meta(value_key(value)) {
                Some(hit) => hit,
                None => self
                    .pool
                    .insert_meta(value_key(value), reader.read_rollup_value(value, listed)?),
            };
            parts.push(meta);
            taken.push(listed.clone());
        }
        reader
            .meta_of_values(key, &taken, &parts)
            .map(|m| Some(Arc::new(m)))
    }

    /// The unsealed tails (one in-memory page per partition at most) that may hold events
    /// passing `filter`.
    pub fn tail_pages(&self, filter: &ScanFilter) -> Vec<PageRef> {
        let mut out = Vec::new();
        for (pi, p) in self.parts.iter().enumerate() {
            let Some(meta) = &p.tail_meta else { continue };
            let ids = self.name_ids(pi, filter);
            if filter.time_overlaps(meta.min_start, meta.max_start)
                && ids
                    .as_ref()
                    .is_none_or(|ids| ids.iter().any(|&id| meta.has_name(id)))
            {
                out.push(PageRef {
                    part: pi,
                    source: Source::Tail,
                    zone: meta.zone(),
                });
            }
        }
        out
    }

    /// Pages that may hold events passing `filter`, in partition, segment and page order, each
    /// partition's tail after its segments.
    pub fn pages(&self, filter: &ScanFilter) -> Vec<PageRef> {
        let mut out = Vec::new();
        let mut tails = self.tail_pages(filter).into_iter().peekable();
        let segments = self.segments(filter);
        for (pi, _) in self.parts.iter().enumerate() {
            for seg in segments.iter().filter(|s| s.part == pi) {
                out.extend(self.pages_of(seg, filter));
            }
            out.extend(tails.next_if(|t| t.part == pi));
        }
        out
    }

    /// The meta of `page` (names, counts, ranges, keys; sketches decoded only if they were
    /// before, see [`View::page_meta_with_sketches`]): from the bufferpool when cached there,
    /// else read from its segment, checked and cached.
    pub fn page_meta(&self, page: &PageRef) -> Result<Arc<PageMeta>> {
        self.meta_of(page, false)
    }

    /// [`View::page_meta`] with every name's latency sketch decoded (what answering a page from
    /// its meta in sketch precision needs); the decoded meta replaces the cached one.
    pub fn page_meta_with_sketches(&self, page: &PageRef) -> Result<Arc<PageMeta>> {
        self.meta_of(page, true)
    }

    /// The index of `page` for planning ([`PageIndex::for_planning`]): its field keys, value
    /// index and message index. From the bufferpool when cached there, else taken from the
    /// page's meta and cached apart from it. A meta read for this is not cached: the metas of a
    /// large store do not fit in the pool, and caching each on the way would evict the indexes
    /// before the next query asks for them again.
    pub fn page_index(&self, page: &PageRef) -> Result<Arc<PageIndex>> {
        match self.place(page)? {
            Place::Segment(seg, entry) => {
                let key = page_key(seg.file_key(), entry);
                if let Some(hit) = self.pool.get_index(key) {
                    return Ok(hit);
                }
                let index = match self.pool.get_meta(key) {
                    Some(meta) => meta.index.for_planning(),
                    None => seg.page_meta_deferred(entry)?.index.for_planning(),
                };
                Ok(self.pool.insert_index(key, index))
            }
            // The active page's meta is in memory already.
            Place::Tail(part) => {
                let meta = part.tail_meta.as_ref().ok_or_else(not_from_this_view)?;
                Ok(Arc::new(meta.index.for_planning()))
            }
        }
    }

    /// [`View::page_index`] of each of `pages`, in order: the cached ones looked up under one
    /// lock of the bufferpool.
    pub fn page_indexes(&self, pages: &[PageRef]) -> Vec<Result<Arc<PageIndex>>> {
        let keys: Vec<Option<PageKey>> = pages.iter().map(|p| self.pool_key(p)).collect();
        let known: Vec<PageKey> = keys.iter().flatten().copied().collect();
        let mut cached = self.pool.get_indexes(&known).into_iter();
        pages
            .iter()
            .zip(&keys)
            .map(
                |(page, key)| match key.and_then(|_| cached.next().flatten()) {
                    Some(hit) => Ok(hit),
                    None => self.page_index(page),
                },
            )
            .collect()
    }

    /// The latency sketches of `names` in `meta` (the meta of `page`), decoded and checked, in
    /// the order asked (an empty sketch for a name the page lacks). For a query that needs a few
    /// names' sketches: decoding the whole meta would cost one sketch per name of the page.
    pub fn sketches_of(
        &self,
        page: &PageRef,
        meta: &PageMeta,
        names: impl Iterator<Item = NameId>,
    ) -> Result<Vec<LatencySketch>> {
        names
            .map(|n| match meta.name_stats(n) {
                None => Ok(LatencySketch::new()),
                Some(s) => s
                    .decoded_sketch()
                    .map(std::borrow::Cow::into_owned)
                    .map_err(|e| self.meta_damage(page, e)),
            })
            .collect()
    }

    /// `e`, found in the meta of `page`, as damage of its file.
    fn meta_damage(&self, page: &PageRef, e: crate::DecodeError) -> crate::Error {
        match self.place(page) {
            Ok(Place::Segment(seg, entry)) => e.in_file(seg.path(), entry.meta_offset()),
            // The active page's meta is computed in memory: its sketches are decoded already.
            Ok(Place::Tail(_)) | Err(_) => crate::Error::corrupt("active page", 0, e.reason),
        }
    }

    fn meta_of(&self, page: &PageRef, sketches: bool) -> Result<Arc<PageMeta>> {
        match self.place(page)? {
            Place::Segment(seg, entry) => {
                let key = page_key(seg.file_key(), entry);
                let cached = self.pool.get_meta(key);
                let meta = match cached {
                    Some(hit) if !sketches || hit.has_sketches() => return Ok(hit),
                    Some(hit) => seg.decode_sketches(entry, &hit)?,
                    None if sketches => seg.page_meta(entry)?,
                    None => seg.page_meta_deferred(entry)?,
                };
                Ok(self.pool.insert_meta(key, meta))
            }
            Place::Tail(part) => part.tail_meta.clone().ok_or_else(not_from_this_view),
        }
    }

    /// Decode the chosen columns of `page` into `cols` (reusing its allocations); `scratch` is reused
    /// across calls.
    pub fn read(
        &self,
        page: &PageRef,
        which: ColumnSet,
        scratch: &mut ReadScratch,
        cols: &mut PageColumns,
    ) -> Result<()> {
        match self.place(page)? {
            Place::Segment(seg, entry) => seg.read_page(entry, which, scratch, cols),
            Place::Tail(part) => {
                if let Some(tail) = &part.tail {
                    cols.clone_from(&tail.1);
                }
                Ok(())
            }
        }
    }

    /// [`View::read`] of a sealed `page`, and its call and log durations as the segment stores
    /// them into `stored`: grouped by name, names ascending by id with [`PageMeta::names`]'
    /// `calls + logs` rows each, each name's in row order. A pass that reads them per name, or
    /// reads few of them (walking the name column to find a row's: its name's next one), spares
    /// the whole column's trip back to row order. Nothing is cached. `Ok(false)` for the unsealed
    /// tail, which has no stored column (read it with [`View::read`]).
    pub fn read_with_stored_durations(
        &self,
        page: &PageRef,
        which: ColumnSet,
        scratch: &mut ReadScratch,
        cols: &mut PageColumns,
        stored: &mut Vec<u64>,
    ) -> Result<bool> {
        match self.place(page)? {
            Place::Segment(seg, entry) => {
                seg.read_page_with_stored_durations(entry, which, scratch, cols, Some(stored))?;
                Ok(true)
            }
            Place::Tail(_) => Ok(false),
        }
    }

    /// The bytes of a sealed `page` exactly as its segment holds them (header, meta with names,
    /// columns; the column checksum checked), for shipping it whole. The unsealed tail has no such
    /// bytes: `Ok(false)` for it.
    pub fn raw_page(&self, page: &PageRef, out: &mut Vec<u8>) -> Result<bool> {
        match self.place(page)? {
            Place::Segment(seg, entry) => {
                seg.raw_page(entry, out)?;
                Ok(true)
            }
            Place::Tail(_) => Ok(false),
        }
    }

    /// Number of pages in the view (without listing them).
    pub fn page_count(&self) -> u64 {
        self.parts
            .iter()
            .map(|p| {
                let sealed: usize = p.segments.iter().map(|s| s.pages().len()).sum();
                sealed as u64 + u64::from(p.tail.is_some())
            })
            .sum()
    }

    /// Pages that failed their checks while this view read them, in the order found.
    pub fn damaged_pages(&self) -> Vec<PageDamage> {
        self.damage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// After reading `page` failed with `e`: a damaged page is recorded and skipped (`Ok`), any
    /// other failure (I/O) is returned. Damage costs only the damaged page.
    pub fn skip_damaged(&self, page: &PageRef, e: crate::Error) -> Result<()> {
        let crate::Error::Corrupt {
            path,
            offset,
            reason,
        } = e
        else {
            return Err(e);
        };
        let mut damage = self.damage.lock().unwrap_or_else(|p| p.into_inner());
        if !damage.iter().any(|d| d.file == path && d.offset == offset) {
            damage.push(PageDamage {
                file: path,
                offset,
                rows: u64::from(page.zone.rows),
                reason,
            });
        }
        Ok(())
    }

    /// Memory budget of the bufferpool that caches decoded pages, bytes.
    pub fn pool_budget(&self) -> usize {
        self.pool.stats().budget
    }

    /// The chosen columns of `page` from the bufferpool when cached there, else decoded into `buf`
    /// without caching: for scans larger than the pool, where caching each page would only evict
    /// pages the same scan reads next (and cost an allocation per page).
    pub fn page_uncached<'a>(
        &self,
        page: &PageRef,
        which: ColumnSet,
        scratch: &mut ReadScratch,
        buf: &'a mut PageColumns,
    ) -> Result<PageData<'a>> {
        if let Some(hit) = self.pool_key(page).and_then(|k| self.pool.get(k, which)) {
            return Ok(PageData::Pinned(hit));
        }
        self.read(page, which, scratch, buf)?;
        Ok(PageData::Local(buf))
    }

    /// The bufferpool key of a page of a sealed or unsealed segment (`None` for the tail, and for
    /// a page not of this view).
    fn pool_key(&self, page: &PageRef) -> Option<PageKey> {
        match self.place(page).ok()? {
            Place::Segment(seg, entry) => Some(page_key(seg.file_key(), entry)),
            Place::Tail(_) => None,
        }
    }

    /// Where `page` lives in this view; an error for a page of another view.
    fn place(&self, page: &PageRef) -> Result<Place<'_>> {
        let part = self.parts.get(page.part).ok_or_else(not_from_this_view)?;
        match page.source {
            Source::Segment { segment, page: gi } => {
                let seg = part.segments.get(segment).ok_or_else(not_from_this_view)?;
                let entry = seg.pages().get(gi).ok_or_else(not_from_this_view)?;
                Ok(Place::Segment(seg, entry))
            }
            Source::Tail => Ok(Place::Tail(part)),
        }
    }

    /// The chosen columns of `page`, from the bufferpool when cached there, else decoded and cached.
    /// The page stays pinned in the pool while the returned handle lives.
    pub fn page(&self, page: &PageRef, which: ColumnSet) -> Result<PinnedPage> {
        let key = self.pool_key(page);
        if let Some(hit) = key.and_then(|k| self.pool.get(k, which)) {
            return Ok(hit);
        }
        let mut cols = PageColumns::default();
        self.read(page, which, &mut ReadScratch::default(), &mut cols)?;
        Ok(match key {
            Some(k) => self.pool.insert(k, which, cols),
            None => PinnedPage::unpooled(cols),
        })
    }

    /// Every event passing `filter`, names and fields resolved. Convenient for tests and small
    /// exports; the query engine uses [`View::pages`] and [`View::read`] instead.
    pub fn events(&self, filter: &ScanFilter) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        let ids: Vec<Option<Vec<NameId>>> = self
            .parts
            .iter()
            .map(|p| {
                filter
                    .names
                    .as_ref()
                    .map(|names| names.iter().filter_map(|n| p.dict.lookup(n)).collect())
            })
            .collect();
        for page in self.pages(filter) {
            let cols = match self.page(&page, ColumnSet::ALL) {
                Ok(c) => c,
                Err(e) => {
                    self.skip_damaged(&page, e)?;
                    continue;
                }
            };
            let ids = &ids[page.part];
            for row in 0..cols.len() {
                let name = cols.names[row];
                if !filter.time_matches(cols.starts[row])
                    || ids.as_ref().is_some_and(|ids| !ids.contains(&name))
                {
                    continue;
                }
                out.push(self.event_at(page.part, &cols, row));
            }
        }
        Ok(out)
    }

    /// Row `row` of a decoded page of partition `part` as an [`Event`], names and fields resolved
    /// (unknown ids print as `#id`), fields sorted by key.
    pub fn event_at(&self, part: usize, cols: &PageColumns, row: usize) -> Event {
        let resolve = |id: NameId| {
            self.name(part, id)
                .map_or_else(|| format!("#{id}"), |s| s.to_string())
        };
        let mut fields: Vec<(String, crate::Value)> = cols
            .fields_of(row as u32)
            .into_iter()
            .map(|(k, v)| (resolve(k), v))
            .collect();
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        Event {
            name: resolve(cols.names[row]),
            start_ns: cols.starts[row],
            duration_ns: cols.durations[row],
            code: Code::from_byte(cols.codes[row]).unwrap_or(Code::CallOk),
            message: cols.message_of(row as u32).map(str::to_owned),
            fields,
        }
    }
}
