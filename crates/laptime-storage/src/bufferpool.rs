//! The bufferpool: one fixed memory budget (bytes) for page frames. It holds the writer's active
//! page (a dirty frame, never evicted until sealed) and readers' decoded pages and page metas
//! (clean frames, evicted by the clock algorithm when room is needed and nobody has them pinned).
//! Page metas live here rather than in the segment readers so that a store's memory does not grow
//! with its size (invariant 4): a segment keeps its summary and its pages' zones, nothing more.
//! So do the pages' indexes for planning ([`PageIndex::for_planning`]), apart from their metas:
//! about a fifth of a meta's size, and asked for by every filtered query, so the clock keeps them
//! while the metas of pages they rule out are evicted.
//!
//! A frame is pinned while a [`PinnedPage`] for it is alive. A page that does not fit even after
//! evicting every clean unpinned frame is not cached: the caller gets it unpooled, so memory stays
//! within the budget whatever the workload, at the price of decoding again next time.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::page::{ColumnSet, PageColumns, PageIndex, PageMeta};

/// Identity of a decoded page: which file, where, and which bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct PageKey {
    /// Identity of the segment file (see `SegmentReader::file_key`).
    pub file: u64,
    /// Offset of the page in the file.
    pub offset: u64,
    /// The page's meta and column checksums, from its directory entry: a page written later at
    /// the same place (recovery cut a damaged tail and the writer went on there) is another key,
    /// so a long-lived reader never answers from what it cached of the old one.
    pub sums: u64,
}

/// What a frame holds.
enum Content {
    /// Nothing (a free slot, or a dirty frame's reservation).
    Empty,
    /// These columns of a decoded page.
    Columns(ColumnSet, Arc<PageColumns>),
    /// A page's decoded meta.
    Meta(Arc<PageMeta>),
    /// A page's index for planning.
    Index(Arc<PageIndex>),
    /// A meta made from what a page or segment stores, as a query plans with it (a rolled-up
    /// value's meta, its parts merged), kept apart from the stored meta under the same key.
    MadeMeta(Arc<PageMeta>),
}

/// The kinds of content a page may have cached, each in a frame of its own.
#[derive(Clone, Copy)]
enum Kind {
    Columns = 0,
    Meta = 1,
    Index = 2,
    MadeMeta = 3,
}

const KINDS: usize = 4;

impl Content {
    fn kind(&self) -> Option<Kind> {
        match self {
            Content::Empty => None,
            Content::Columns(..) => Some(Kind::Columns),
            Content::Meta(_) => Some(Kind::Meta),
            Content::Index(_) => Some(Kind::Index),
            Content::MadeMeta(_) => Some(Kind::MadeMeta),
        }
    }

    /// Someone outside the pool holds what the frame holds.
    fn pinned(&self) -> bool {
        match self {
            Content::Empty => false,
            Content::Columns(_, page) => Arc::strong_count(page) > 1,
            Content::Meta(meta) | Content::MadeMeta(meta) => Arc::strong_count(meta) > 1,
            Content::Index(index) => Arc::strong_count(index) > 1,
        }
    }
}

struct Frame {
    key: Option<PageKey>,
    content: Content,
    bytes: usize,
    referenced: bool,
    dirty: bool,
}

#[derive(Default)]
struct Inner {
    frames: Vec<Frame>,
    /// Per [`Kind`]: the frames holding that kind of content, by page. (Looked up for every page
    /// a query plans: a fast hash, since keys come from the store's own files, not from input.)
    slots: [foldhash::HashMap<PageKey, usize>; KINDS],
    hand: usize,
    used: usize,
    free: Vec<usize>,
}

/// Counters of a pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Budget in bytes.
    pub budget: usize,
    /// Bytes held by frames now.
    pub used: usize,
    /// Lookups that found the page.
    pub hits: u64,
    /// Lookups that did not.
    pub misses: u64,
    /// Frames evicted.
    pub evictions: u64,
    /// Pages returned unpooled because they did not fit.
    pub bypasses: u64,
}

/// A fixed-budget cache of page frames.
pub struct BufferPool {
    budget: usize,
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    bypasses: AtomicU64,
}

/// A page held in (or, when it did not fit, beside) the pool; the frame cannot be evicted while
/// this handle lives.
pub struct PinnedPage {
    page: Arc<PageColumns>,
}

impl PinnedPage {
    /// A page that is not in any pool (the unsealed tail, or one that did not fit).
    pub(crate) fn unpooled(page: PageColumns) -> PinnedPage {
        PinnedPage {
            page: Arc::new(page),
        }
    }
}

impl Deref for PinnedPage {
    type Target = PageColumns;
    fn deref(&self) -> &PageColumns {
        &self.page
    }
}

/// A dirty frame's reservation (the writer's active page). Dropping it releases the bytes.
pub(crate) struct DirtyFrame {
    pool: Arc<BufferPool>,
    slot: usize,
}

impl Drop for DirtyFrame {
    fn drop(&mut self) {
        let mut inner = self.pool.lock();
        if let Some(f) = inner.frames.get_mut(self.slot) {
            if f.dirty {
                let bytes = f.bytes;
                f.dirty = false;
                f.bytes = 0;
                f.content = Content::Empty;
                f.key = None;
                inner.used -= bytes;
                inner.free.push(self.slot);
            }
        }
    }
}

impl BufferPool {
    /// A pool of `budget` bytes.
    pub fn new(budget: usize) -> BufferPool {
        BufferPool {
            budget,
            inner: Mutex::new(Inner::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            bypasses: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counters.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            budget: self.budget,
            used: self.lock().used,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            bypasses: self.bypasses.load(Ordering::Relaxed),
        }
    }

    /// The cached page `key` if its frame holds at least `columns`.
    pub(crate) fn get(&self, key: PageKey, columns: ColumnSet) -> Option<PinnedPage> {
        self.lookup(key, Kind::Columns, |c| match c {
            Content::Columns(have, page) if covers(*have, columns) => Some(Arc::clone(page)),
            _ => None,
        })
        .map(|page| PinnedPage { page })
    }

    /// Cache a decoded page and return it pinned. If it cannot fit, it is returned unpooled.
    pub(crate) fn insert(&self, key: PageKey, columns: ColumnSet, page: PageColumns) -> PinnedPage {
        let bytes = page.heap_bytes();
        let page = Arc::new(page);
        self.admit(key, Content::Columns(columns, Arc::clone(&page)), bytes);
        PinnedPage { page }
    }

    /// The cached meta of page `key`.
    pub(crate) fn get_meta(&self, key: PageKey) -> Option<Arc<PageMeta>> {
        self.lookup(key, Kind::Meta, meta_of)
    }

    /// Cache a decoded page meta; when it cannot fit it is returned uncached.
    pub(crate) fn insert_meta(&self, key: PageKey, meta: PageMeta) -> Arc<PageMeta> {
        self.admit_meta(key, meta, Content::Meta)
    }

    /// The cached meta made for planning under `key` (see [`BufferPool::insert_made_meta`]).
    pub(crate) fn get_made_meta(&self, key: PageKey) -> Option<Arc<PageMeta>> {
        self.lookup(key, Kind::MadeMeta, meta_of)
    }

    /// Cache a meta made for planning from what `key` stores (a rolled-up value's meta, its parts
    /// merged), apart from the stored meta under the same key; when it cannot fit it is returned
    /// uncached.
    pub(crate) fn insert_made_meta(&self, key: PageKey, meta: PageMeta) -> Arc<PageMeta> {
        self.admit_meta(key, meta, Content::MadeMeta)
    }

    fn admit_meta(
        &self,
        key: PageKey,
        meta: PageMeta,
        content: fn(Arc<PageMeta>) -> Content,
    ) -> Arc<PageMeta> {
        let bytes = meta.heap_bytes() + std::mem::size_of::<PageMeta>();
        let meta = Arc::new(meta);
        self.admit(key, content(Arc::clone(&meta)), bytes);
        meta
    }

    /// The cached planning index of page `key`.
    pub(crate) fn get_index(&self, key: PageKey) -> Option<Arc<PageIndex>> {
        self.lookup(key, Kind::Index, index_of)
    }

    /// Cache a page's planning index; when it cannot fit it is returned uncached.
    pub(crate) fn insert_index(&self, key: PageKey, index: PageIndex) -> Arc<PageIndex> {
        let bytes = index.heap_bytes() + std::mem::size_of::<PageIndex>();
        let index = Arc::new(index);
        self.admit(key, Content::Index(Arc::clone(&index)), bytes);
        index
    }

    /// The cached planning indexes of pages `keys`, in order, under one lock (a query planning
    /// thousands of pages would otherwise take it once per page).
    pub(crate) fn get_indexes(&self, keys: &[PageKey]) -> Vec<Option<Arc<PageIndex>>> {
        let mut found = Vec::with_capacity(keys.len());
        self.lookup_each(keys, Kind::Index, index_of, |hit| found.push(hit));
        found
    }

    /// What `take` makes of the frame holding `kind` of page `key` (see [`BufferPool::lookup_each`]).
    fn lookup<T>(
        &self,
        key: PageKey,
        kind: Kind,
        take: impl Fn(&Content) -> Option<T>,
    ) -> Option<T> {
        let mut found = None;
        self.lookup_each(&[key], kind, take, |hit| found = hit);
        found
    }

    /// `each` of what `take` makes of the frame holding `kind` of each page of `keys`, in order,
    /// under one lock; the frames found are marked referenced, and each key counts as a hit or
    /// a miss.
    fn lookup_each<T>(
        &self,
        keys: &[PageKey],
        kind: Kind,
        take: impl Fn(&Content) -> Option<T>,
        mut each: impl FnMut(Option<T>),
    ) {
        let mut hits = 0;
        let mut inner = self.lock();
        for key in keys {
            let slot = inner.slots[kind as usize].get(key).copied();
            let found = slot.and_then(|s| inner.frames.get_mut(s)).and_then(|f| {
                f.referenced = true;
                take(&f.content)
            });
            hits += u64::from(found.is_some());
            each(found);
        }
        drop(inner);
        self.hits.fetch_add(hits, Ordering::Relaxed);
        self.misses
            .fetch_add(keys.len() as u64 - hits, Ordering::Relaxed);
    }

    /// Put `content` of page `key` in a clean frame, replacing what the pool held of the same
    /// kind for that page, if `bytes` fit after evicting what can be evicted (else it is counted
    /// as a bypass and not cached).
    fn admit(&self, key: PageKey, content: Content, bytes: usize) {
        let Some(kind) = content.kind() else {
            return;
        };
        let mut inner = self.lock();
        if let Some(old) = inner.slots[kind as usize].remove(&key) {
            self.release(&mut inner, old);
        }
        if !self.make_room(&mut inner, bytes) {
            drop(inner);
            self.bypasses.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let frame = Frame {
            key: Some(key),
            content,
            bytes,
            referenced: true,
            dirty: false,
        };
        let slot = place(&mut inner, frame);
        inner.used += bytes;
        inner.slots[kind as usize].insert(key, slot);
    }

    /// Reserve `bytes` for a dirty frame (the writer's active page). Dirty frames are never evicted;
    /// if the budget cannot hold it after evicting clean frames, the reservation still succeeds
    /// (the writer must not stop) but clean frames are then all gone: reads bypass the pool.
    pub(crate) fn reserve_dirty(self: &Arc<Self>, bytes: usize) -> DirtyFrame {
        let mut inner = self.lock();
        self.make_room(&mut inner, bytes);
        let frame = Frame {
            key: None,
            content: Content::Empty,
            bytes,
            referenced: false,
            dirty: true,
        };
        let slot = place(&mut inner, frame);
        inner.used += bytes;
        DirtyFrame {
            pool: Arc::clone(self),
            slot,
        }
    }

    /// Evict clean, unpinned frames (clock order) until `bytes` more fit. False if impossible.
    fn make_room(&self, inner: &mut Inner, bytes: usize) -> bool {
        if bytes > self.budget {
            return false;
        }
        let n = inner.frames.len();
        // Two sweeps: the first clears reference bits, the second evicts.
        let mut steps = 0;
        while inner.used + bytes > self.budget && steps < 2 * n + 1 {
            steps += 1;
            if n == 0 {
                break;
            }
            let slot = inner.hand % n;
            inner.hand = (slot + 1) % n;
            let f = &mut inner.frames[slot];
            if f.key.is_none() || f.dirty {
                continue;
            }
            if f.content.pinned() {
                continue;
            }
            if f.referenced {
                f.referenced = false;
                continue;
            }
            if let (Some(key), Some(kind)) = (f.key, f.content.kind()) {
                inner.slots[kind as usize].remove(&key);
            }
            self.release(inner, slot);
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
        inner.used + bytes <= self.budget
    }

    fn release(&self, inner: &mut Inner, slot: usize) {
        if let Some(f) = inner.frames.get_mut(slot) {
            let bytes = f.bytes;
            f.key = None;
            f.bytes = 0;
            f.content = Content::Empty;
            inner.used -= bytes;
            inner.free.push(slot);
        }
    }
}

/// A frame's meta, stored or made (the kind looked up says which it is).
fn meta_of(content: &Content) -> Option<Arc<PageMeta>> {
    match content {
        Content::Meta(meta) | Content::MadeMeta(meta) => Some(Arc::clone(meta)),
        _ => None,
    }
}

fn index_of(content: &Content) -> Option<Arc<PageIndex>> {
    match content {
        Content::Index(index) => Some(Arc::clone(index)),
        _ => None,
    }
}

fn place(inner: &mut Inner, frame: Frame) -> usize {
    match inner.free.pop() {
        Some(slot) => {
            inner.frames[slot] = frame;
            slot
        }
        None => {
            inner.frames.push(frame);
            inner.frames.len() - 1
        }
    }
}

fn covers(have: ColumnSet, want: ColumnSet) -> bool {
    (have.starts || !want.starts)
        && (have.names || !want.names)
        && (have.durations || !want.durations)
        && (have.codes || !want.codes)
        && (have.messages || !want.messages)
        && have.fields.covers(&want.fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(rows: usize) -> PageColumns {
        PageColumns {
            starts: (0..rows as u64).collect(),
            durations: vec![1; rows],
            names: vec![0; rows],
            codes: vec![0; rows],
            ..PageColumns::default()
        }
    }

    fn key(i: u64) -> PageKey {
        PageKey {
            file: 1,
            offset: i,
            sums: 0,
        }
    }

    #[test]
    fn stays_within_budget_and_evicts_clean_unpinned_frames() {
        let one = page(1000).heap_bytes();
        let pool = BufferPool::new(one * 3 + 10);
        for i in 0..10 {
            drop(pool.insert(key(i), ColumnSet::CORE, page(1000)));
            assert!(pool.stats().used <= pool.stats().budget);
        }
        let s = pool.stats();
        assert_eq!(s.evictions, 7);
        assert!(pool.get(key(9), ColumnSet::CORE).is_some());
        assert!(pool.get(key(0), ColumnSet::CORE).is_none());
    }

    #[test]
    fn pinned_frames_are_not_evicted() {
        let one = page(1000).heap_bytes();
        let pool = BufferPool::new(one * 2 + 10);
        let a = pool.insert(key(0), ColumnSet::CORE, page(1000));
        let b = pool.insert(key(1), ColumnSet::CORE, page(1000));
        // No room and both pinned: the third page is handed out unpooled.
        let c = pool.insert(key(2), ColumnSet::CORE, page(1000));
        assert_eq!(pool.stats().bypasses, 1);
        assert_eq!(c.starts.len(), 1000);
        assert!(pool.get(key(0), ColumnSet::CORE).is_some());
        drop((a, b));
    }

    #[test]
    fn narrower_frames_do_not_answer_wider_requests() {
        let pool = BufferPool::new(1 << 20);
        drop(pool.insert(key(0), ColumnSet::CORE, page(10)));
        assert!(pool.get(key(0), ColumnSet::ALL).is_none());
        assert!(pool.get(key(0), ColumnSet::CORE).is_some());
    }

    #[test]
    fn metas_and_columns_of_one_page_are_cached_apart_and_share_the_budget() {
        let one = page(1000).heap_bytes();
        let pool = BufferPool::new(one + 4096);
        let meta = PageMeta {
            rows: 1000,
            ..PageMeta::default()
        };
        drop(pool.insert(key(0), ColumnSet::CORE, page(1000)));
        let m = pool.insert_meta(key(0), meta.clone());
        assert_eq!(*m, meta);
        drop(m);
        assert_eq!(pool.get_meta(key(0)).as_deref(), Some(&meta));
        assert!(pool.get(key(0), ColumnSet::CORE).is_some());
        // Columns of another page need the room: something is evicted, the budget holds.
        drop(pool.insert(key(1), ColumnSet::CORE, page(1000)));
        assert!(pool.stats().used <= pool.stats().budget);
        assert!(pool.stats().evictions >= 1);
        // A pinned meta is never evicted.
        let pinned = pool.insert_meta(key(2), meta.clone());
        for i in 3..6 {
            drop(pool.insert(key(i), ColumnSet::CORE, page(1000)));
        }
        assert!(pool.get_meta(key(2)).is_some());
        drop(pinned);
    }

    #[test]
    fn a_page_index_is_cached_apart_from_its_meta() {
        let pool = BufferPool::new(1 << 20);
        let index = PageIndex {
            keys: vec![3, 9],
            values: vec![crate::KeyValues::Unlisted; 2],
            messages: None,
        };
        assert!(pool.get_index(key(0)).is_none());
        drop(pool.insert_index(key(0), index.clone()));
        assert_eq!(pool.get_index(key(0)).as_deref(), Some(&index));
        // The meta of the same page is another frame: neither answers for the other.
        assert!(pool.get_meta(key(0)).is_none());
        let meta = PageMeta {
            rows: 5,
            ..PageMeta::default()
        };
        drop(pool.insert_meta(key(0), meta.clone()));
        assert_eq!(pool.get_index(key(0)).as_deref(), Some(&index));
        assert_eq!(pool.get_meta(key(0)).as_deref(), Some(&meta));
        // Replacing the index releases the old frame's bytes.
        let used = pool.stats().used;
        drop(pool.insert_index(key(0), index.clone()));
        assert_eq!(pool.stats().used, used);
    }

    #[test]
    fn dirty_frames_count_and_are_never_evicted() {
        let one = page(1000).heap_bytes();
        let pool = Arc::new(BufferPool::new(one * 2 + 10));
        let dirty = pool.reserve_dirty(one);
        drop(pool.insert(key(0), ColumnSet::CORE, page(1000)));
        drop(pool.insert(key(1), ColumnSet::CORE, page(1000)));
        assert!(pool.stats().used <= pool.stats().budget);
        assert!(pool.get(key(1), ColumnSet::CORE).is_some());
        drop(dirty);
        assert_eq!(pool.stats().used, one);
    }
}
