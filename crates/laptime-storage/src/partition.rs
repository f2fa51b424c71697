//! Partitions on disk: each writing process owns one directory under `<store>/partitions/`, locked
//! for as long as it writes, so several processes can write one store without sharing a file. This
//! module names, lists, locks and claims those directories, gives each its identity, and moves
//! damaged files aside; `recovery` opens one for writing.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::durable;
use crate::error::{Error, Result};
use crate::ids::random_file_id;

/// Folder of the partitions inside a store.
pub(crate) const PARTITIONS: &str = "partitions";
const LOCK_FILE: &str = "LOCK";
const QUARANTINE: &str = "quarantine";

/// Damage found and repaired while opening a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// File that held the damaged bytes.
    pub file: PathBuf,
    /// Offset of the first byte removed or ignored.
    pub offset: u64,
    /// How many bytes.
    pub bytes: u64,
    /// Why.
    pub reason: String,
}

impl Cut {
    pub(crate) fn new(file: &Path, offset: u64, bytes: u64, reason: impl Into<String>) -> Cut {
        Cut {
            file: file.to_owned(),
            offset,
            bytes,
            reason: reason.into(),
        }
    }
}
/// List the partition directories of a store.
pub(crate) fn list(root: &Path) -> Result<Vec<PathBuf>> {
    let dir = root.join(PARTITIONS);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&dir, "list partitions", e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&dir, "list partitions", e))?;
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

pub(crate) fn try_lock(dir: &Path) -> Result<Option<File>> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, "open lock", e))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path, "lock", e)),
    }
}

/// The identity of partition `dir`, written into its segments and manifest: the 64-bit number its
/// name spells in hex (how `claim` names partitions), or for any other name an FNV-1a hash of it.
pub(crate) fn id_of(dir: &Path) -> u64 {
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    if name.len() == 16 {
        if let Ok(id) = u64::from_str_radix(&name, 16) {
            return id;
        }
    }
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Fail with a clear error unless `root` holds a store (tools must not create one by looking).
pub(crate) fn require_store(root: &Path) -> Result<()> {
    if root.join(PARTITIONS).is_dir() {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            what: "store",
            reason: format!(
                "no laptime store at {} (no partitions/ directory)",
                root.display()
            ),
        })
    }
}

/// Find a partition whose writer is gone and lock it, or create and lock a new one; partitions
/// in `passed_over` are never taken (a store with several writers leaves those whose names
/// disagree with its other partitions'). The returned file holds the lock until dropped.
pub(crate) fn claim(root: &Path, passed_over: &[PathBuf]) -> Result<(PathBuf, File, bool)> {
    durable::create_dir_durable(&root.join(PARTITIONS))?;
    // A few tries: a lock can be held for a moment by a process that is exiting (a restart) or by
    // a child between fork and exec, and taking over beats starting yet another partition.
    for attempt in 0..4 {
        for dir in list(root)? {
            if passed_over.contains(&dir) {
                continue;
            }
            if let Some(lock) = try_lock(&dir)? {
                return Ok((dir, lock, true));
            }
        }
        if attempt < 3 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    loop {
        let dir = root
            .join(PARTITIONS)
            .join(format!("{:016x}", random_file_id()));
        if dir.exists() {
            continue;
        }
        durable::create_dir_durable(&dir)?;
        if let Some(lock) = try_lock(&dir)? {
            return Ok((dir, lock, false));
        }
    }
}

/// Files of partition `dir`'s `quarantine/` folder that were set aside under the name `name` (the
/// first as `name`, later ones of the same name as `name.1`, `name.2`, ...).
pub(crate) fn quarantined_as(dir: &Path, name: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir.join(QUARANTINE)) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n == name
                || n.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('.'))
                    .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|e| e.path())
        .collect()
}

/// Move a damaged file of partition `dir` into its `quarantine/` folder (kept for inspection, out
/// of every read path).
pub(crate) fn quarantine(dir: &Path, file: &Path) -> Result<PathBuf> {
    let q = dir.join(QUARANTINE);
    durable::create_dir_durable(&q)?;
    let name = file
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    // Never over an earlier quarantined file of the same name: both are kept.
    let mut dest = q.join(&name);
    let mut n = 1u32;
    while std::fs::symlink_metadata(&dest).is_ok() {
        dest = q.join(format!("{name}.{n}"));
        n += 1;
    }
    std::fs::rename(file, &dest).map_err(|e| Error::io(file, "quarantine", e))?;
    durable::fsync_dir(dir)?;
    Ok(dest)
}
