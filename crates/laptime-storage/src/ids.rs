//! Fresh ids for files and partitions: they only have to differ between files, so that records of
//! one file never validate in another and two processes never create the same partition.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A fresh id. Not cryptographic. std's `RandomState` is seeded from the OS per process and differs
/// per call; time, pid and a counter are mixed in anyway.
pub(crate) fn random_file_id() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    let now = SystemTime::now().duration_since(UNIX_EPOCH);
    hasher.write_u128(now.map_or(0, |d| d.as_nanos()));
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::random_file_id;

    #[test]
    fn random_file_ids_differ() {
        let ids: std::collections::HashSet<u64> = (0..1000).map(|_| random_file_id()).collect();
        assert_eq!(ids.len(), 1000);
    }
}
