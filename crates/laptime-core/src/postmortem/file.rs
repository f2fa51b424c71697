//! Post-mortem files on disk: reading them (bounded, checked) and writing them so a crash leaves
//! either no file or a whole one: a temporary name, fsynced, linked under a name no other
//! post-mortem has (an existing file is never replaced), and the directory fsynced.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use laptime_storage::durable;

use super::format::{decode, decode_summary, encode};
use super::{PostMortem, EXTENSION};
use crate::{Error, Result};

/// Largest post-mortem file read: far above what one of the default window holds, and a bound
/// on what a hostile file can make a reader allocate.
const MAX_FILE_BYTES: u64 = 1 << 30;

/// Read the post-mortem file at `path`.
pub fn read(path: &Path) -> Result<PostMortem> {
    let bytes = laptime_storage::durable::read_bounded(path, MAX_FILE_BYTES)?;
    decode(&bytes).map_err(|e| Error::corrupt(path, e.offset as u64, e.reason))
}

/// Write `pm` into directory `dir` under a new, unique name
/// (`postmortem-<UTC time>-<pid>-<n>.ltpm`); never replaces a file. Returns the path.
pub fn write(dir: &Path, pm: &PostMortem) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    durable::create_dir_durable(dir)?;
    let bytes = encode(pm);
    // Fixed width (whole seconds, then 9 digits of ns), so names sort by time.
    let now = crate::clock::now_ns();
    let seconds = crate::filter::format_epoch_ns(now - now % 1_000_000_000)
        .replace([':', '-'], "")
        .trim_end_matches('Z')
        .to_owned();
    let stamp = format!("{seconds}_{:09}Z", now % 1_000_000_000);
    let pid = std::process::id();
    let tmp = dir.join(format!(
        ".postmortem-{pid}-{}.tmp",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| Error::io(&tmp, "create", e))?;
    let written = file
        .write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(&tmp, "write", e));
    drop(file);
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // A hard link fails instead of replacing: two post-mortems in the same instant get two names.
    let mut result = Err(Error::io(
        dir,
        "name post-mortem",
        std::io::Error::other("no free name"),
    ));
    for _ in 0..1000 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("postmortem-{stamp}-{pid}-{n}.{EXTENSION}"));
        match fs::hard_link(&tmp, &path) {
            Ok(()) => {
                result = Ok(path);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                result = Err(Error::io(&path, "link post-mortem", e));
                break;
            }
        }
    }
    let _ = fs::remove_file(&tmp);
    let path = result?;
    durable::fsync_dir(dir)?;
    Ok(path)
}

/// [`read`] for listings: see [`decode_summary`].
pub fn read_summary(path: &Path) -> Result<(Vec<(String, String)>, u64)> {
    let bytes = durable::read_bounded(path, MAX_FILE_BYTES)?;
    decode_summary(&bytes).map_err(|e| Error::corrupt(path, e.offset as u64, e.reason))
}
