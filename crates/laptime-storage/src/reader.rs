//! Read-only access to a store directory, for tools (CLI, dashboard) that look at a store while
//! applications write it. A [`Reader`] claims no partition and writes nothing; each
//! [`Reader::view`] sees every event the writers have written so far: sealed pages, and the
//! events in their WALs (so what a `flush()` acknowledged is visible at once, also after its writer
//! was killed), reusing what earlier snapshots read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::bufferpool::BufferPool;
use crate::disk_partition::PartitionCache;
use crate::error::Result;
use crate::options::Options;
use crate::partition;
use crate::scan::View;

/// A read-only view of a store directory.
pub struct Reader {
    root: PathBuf,
    cache: PartitionCache,
    pool: Arc<BufferPool>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("root", &self.root).finish()
    }
}

impl Reader {
    /// A reader of the store at `root`, caching decoded pages in a pool of `pool_bytes`. Fails
    /// with [`crate::Error::InvalidInput`] when `root` holds no laptime store.
    pub fn open(root: impl AsRef<Path>, pool_bytes: Option<usize>) -> Result<Reader> {
        let root = root.as_ref().to_path_buf();
        partition::require_store(&root)?;
        let bytes = pool_bytes.unwrap_or(Options::default().bufferpool_bytes);
        Ok(Reader {
            root,
            cache: PartitionCache::default(),
            pool: Arc::new(BufferPool::new(bytes)),
        })
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// A consistent view of every partition now: its pages and its WAL events no page holds yet.
    pub fn view(&self) -> Result<View> {
        View::of_disk(&self.root, &self.cache, Arc::clone(&self.pool), Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Batch, Error, ScanFilter, Store};

    #[test]
    fn sees_what_a_writer_sealed_and_refuses_a_non_store() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Reader::open(dir.path(), None),
            Err(Error::InvalidInput { what: "store", .. })
        ));
        let store = Store::open(
            dir.path(),
            Options {
                page_rows: 16,
                ..Options::default()
            },
        )
        .unwrap();
        let id = store.intern("f").unwrap();
        let reader = Reader::open(dir.path(), None).unwrap();
        for round in 1..=3u64 {
            let mut b = Batch::default();
            for i in 0..16 {
                b.push_call(id, round * 100 + i, 5, true);
            }
            store.append(b);
            store.flush().unwrap();
            // Sixteen rows fill a page, which the writer seals; the reader sees it in its next view.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            loop {
                let n = reader
                    .view()
                    .unwrap()
                    .events(&ScanFilter::default())
                    .unwrap()
                    .len();
                if n as u64 == round * 16 {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "round {round}: saw {n}"
                );
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        store.close().unwrap();
        assert_eq!(
            reader
                .view()
                .unwrap()
                .events(&ScanFilter::default())
                .unwrap()
                .len(),
            48
        );
    }
}
