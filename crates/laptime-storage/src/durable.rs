//! File-system durability helpers: the few system-call sequences that make a write survive power loss.
//!
//! - [`sync_data`]: `fdatasync` one file (the WAL and the name dictionary after appends).
//! - [`fsync_dir`]: persist a directory's entries (after creating, renaming or removing a file in it).
//! - [`write_atomic`]: replace a small file as a whole (the manifest): write a temp file, fsync it,
//!   rename it over the target, fsync the directory. A crash leaves the old or the new content.
//! - [`create_dir_durable`]: `create_dir_all`, then fsync every parent that gained an entry.
//! - [`remove_durable`]: remove a file and fsync its directory.
//! - [`read_bounded`]: read a small file whole, refusing anything that is not a regular file or is
//!   larger than its format allows (a symlink to a device must not make a reader allocate without end).
//!
//! Every failure is [`Error::Io`] naming the path and the operation. None of these helpers retries a
//! failed fsync: after an fsync error Linux may already have dropped the dirty pages and cleared the
//! error, so a second fsync can report success for data that is gone ("fsyncgate", PostgreSQL 2018).
//! The caller must treat such a failure as fatal for the file (fail-stop, invariant 3 in ARCHITECTURE.md).

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Read the whole of `path`, which must be a regular file of at most `max` bytes. Anything else is
/// [`Error::Corrupt`] at offset 0 (not a regular file, or larger than the format allows); I/O
/// failures are [`Error::Io`] (NotFound included, for callers that treat absence as normal).
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, "stat", e))?;
    if !meta.is_file() {
        return Err(Error::corrupt(path, 0, "not a regular file"));
    }
    if meta.len() > max {
        return Err(Error::corrupt(
            path,
            0,
            format!(
                "{} bytes, more than the {max} this file can hold",
                meta.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(meta.len() as usize);
    // take(): the file may grow between stat and read.
    file.take(max + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::io(path, "read", e))?;
    if out.len() as u64 > max {
        return Err(Error::corrupt(
            path,
            0,
            format!("larger than the {max} bytes this file can hold"),
        ));
    }
    Ok(out)
}

/// Makes every entry change in `dir` (files created, renamed or removed in it) durable.
///
/// On non-Unix platforms this is a no-op: Windows has no directory fsync; NTFS journals its metadata.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let handle = File::open(dir).map_err(|e| Error::io(dir, "open directory", e))?;
        handle
            .sync_all()
            .map_err(|e| Error::io(dir, "fsync directory", e))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Flushes `file`'s data (and the metadata needed to read it back, such as its length) to the device.
/// `path` only names the file in the error.
///
/// A failure is final: do not call this again on the same file hoping for success. After an fsync
/// error the kernel may have dropped the unwritten pages and cleared the error flag, so a retry can
/// return `Ok` while the data is lost (fsyncgate). Callers stop writing to the file instead.
pub fn sync_data(file: &File, path: &Path) -> Result<()> {
    if crate::failpoint::sync_fails(path) {
        return Err(Error::io(
            path,
            "fdatasync",
            io::Error::from_raw_os_error(5),
        ));
    }
    // On Apple platforms std issues F_FULLFSYNC here, the only call that reaches the platters.
    file.sync_data()
        .map_err(|e| Error::io(path, "fdatasync", e))
}

/// Atomically replaces the content of `path` with `bytes`: after a crash the file holds either its old
/// content (or does not exist, if it did not) or exactly `bytes`, never a mix.
///
/// Writes `.<name>.tmp-<pid>-<n>` in the same directory (a rename is only atomic within one file
/// system), fsyncs it, renames it over `path` and fsyncs the directory. On failure the temp file is
/// removed and the target is left as it was; if only the final directory fsync fails, the new content
/// is in place but may not survive a power loss, and the error is returned.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_dir(path);
    let tmp = temp_path(path)?;
    // create_new: never write into a file someone else owns, and never remove one on cleanup.
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| Error::io(&tmp, "create", e))?;
    let result = fill_and_rename(file, &tmp, path, bytes);
    if result.is_err() {
        // Best effort: the error being returned is the one the caller needs to see.
        let _ = fs::remove_file(&tmp);
    }
    result?;
    fsync_dir(dir)
}

fn fill_and_rename(mut file: File, tmp: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    file.write_all(bytes)
        .map_err(|e| Error::io(tmp, "write", e))?;
    // sync_all, not sync_data: the file is new, so its inode must reach the disk too.
    file.sync_all().map_err(|e| Error::io(tmp, "fsync", e))?;
    // Closed before the rename: Windows refuses to rename an open file.
    drop(file);
    fs::rename(tmp, path).map_err(|e| Error::io(path, "rename", e))
}

/// A name in `path`'s directory that no other writer (thread or process) picks at the same time.
fn temp_path(path: &Path) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let Some(name) = path.file_name() else {
        let reason = io::Error::new(io::ErrorKind::InvalidInput, "path has no file name");
        return Err(Error::io(path, "write_atomic", reason));
    };
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}-{n}", std::process::id()));
    Ok(parent_dir(path).join(tmp_name))
}

/// Creates `dir` and any missing ancestors, then fsyncs every parent that gained an entry.
///
/// If `dir` already exists its parent is fsynced anyway: a previous run may have created it and
/// crashed before making that durable, and one fsync at open is cheap.
pub fn create_dir_durable(dir: &Path) -> Result<()> {
    // The ancestors this call will create, innermost first. Racing creators only cause extra fsyncs.
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|p| !p.as_os_str().is_empty() && !p.exists())
        .collect();
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, "create directory", e))?;
    if missing.is_empty() {
        return fsync_dir(parent_dir(dir));
    }
    // Outermost first, so each fsync persists an entry whose own parent entry is already durable.
    for created in missing.iter().rev() {
        fsync_dir(parent_dir(created))?;
    }
    Ok(())
}

/// Removes the file at `path` and fsyncs its directory, so the file cannot reappear after a crash.
///
/// A missing file is not an error. Its directory is still fsynced (when it exists): a previous run may
/// have removed the file and crashed before the removal was durable.
pub fn remove_durable(path: &Path) -> Result<()> {
    let dir = parent_dir(path);
    match fs::remove_file(path) {
        Ok(()) => fsync_dir(dir),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if dir.exists() {
                fsync_dir(dir)
            } else {
                Ok(())
            }
        }
        Err(e) => Err(Error::io(path, "remove", e)),
    }
}

/// The directory holding `path`; `.` for a bare relative file name.
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn write_atomic_creates_then_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("MANIFEST");
        write_atomic(&path, b"first").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"first");
        write_atomic(&path, b"second, longer").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second, longer");
        write_atomic(&path, b"").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"");
        assert_eq!(file_names(dir.path()), vec!["MANIFEST".to_string()]);
    }

    #[test]
    fn write_atomic_failure_keeps_old_content_and_removes_temp() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty directory at the target: the rename fails after the temp file was written.
        let target = dir.path().join("target");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("keep"), b"old").unwrap();
        let err = write_atomic(&target, b"new").unwrap_err();
        assert!(
            matches!(&err, Error::Io { op: "rename", path, .. } if path == &target),
            "{err}"
        );
        assert_eq!(fs::read(target.join("keep")).unwrap(), b"old");
        assert_eq!(file_names(dir.path()), vec!["target".to_string()]);
    }

    #[test]
    fn write_atomic_into_missing_directory_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-dir").join("file");
        let err = write_atomic(&path, b"x").unwrap_err();
        assert!(matches!(err, Error::Io { op: "create", .. }), "{err}");
        assert!(file_names(dir.path()).is_empty());
        let err = write_atomic(Path::new("/"), b"x").unwrap_err();
        assert!(
            matches!(
                err,
                Error::Io {
                    op: "write_atomic",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn temp_names_are_unique_and_hidden() {
        let a = temp_path(Path::new("d/MANIFEST")).unwrap();
        let b = temp_path(Path::new("d/MANIFEST")).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.parent(), Some(Path::new("d")));
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(".MANIFEST.tmp-"), "{name}");
        assert_eq!(
            parent_dir(&temp_path(Path::new("m")).unwrap()),
            Path::new(".")
        );
    }

    #[test]
    fn create_dir_durable_creates_nested_and_accepts_existing() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a").join("b").join("c");
        create_dir_durable(&nested).unwrap();
        assert!(nested.is_dir());
        create_dir_durable(&nested).unwrap();
        // A file in the way is reported with the path and the operation.
        let file = dir.path().join("file");
        fs::write(&file, b"").unwrap();
        let err = create_dir_durable(&file.join("sub")).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Io {
                    op: "create directory",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn fsync_dir_reports_missing_directory() {
        let dir = tempfile::tempdir().unwrap();
        fsync_dir(dir.path()).unwrap();
        let missing = dir.path().join("missing");
        let err = fsync_dir(&missing).unwrap_err();
        assert!(
            matches!(&err, Error::Io { op: "open directory", path, .. } if path == &missing),
            "{err}"
        );
    }

    #[test]
    fn remove_durable_removes_and_tolerates_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.wal");
        fs::write(&path, b"x").unwrap();
        remove_durable(&path).unwrap();
        assert!(!path.exists());
        remove_durable(&path).unwrap();
        remove_durable(&dir.path().join("no-dir").join("f")).unwrap();
        // A directory is not removed as a file.
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        let err = remove_durable(&sub).unwrap_err();
        assert!(matches!(err, Error::Io { op: "remove", .. }), "{err}");
    }

    #[test]
    fn sync_data_flushes_and_maps_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        sync_data(&file, &path).unwrap();
        // Linux refuses to sync character devices (EINVAL): a real fsync failure, not a simulated one.
        #[cfg(target_os = "linux")]
        {
            let null = Path::new("/dev/null");
            let file = OpenOptions::new().write(true).open(null).unwrap();
            let err = sync_data(&file, null).unwrap_err();
            assert!(
                matches!(&err, Error::Io { op: "fdatasync", path, .. } if path == null),
                "{err}"
            );
        }
    }
}
