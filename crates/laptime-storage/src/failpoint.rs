//! Fail points: named places where a test can make the process abort, to prove that a crash there
//! loses nothing. Compiled in only with the `failpoints` cargo feature; without it `failpoint` is an
//! empty inline function. With it, `LAPTIME_FAILPOINT=<name>` in the environment aborts the process
//! when execution reaches `<name>` (or makes that step fail, where the code asks
//! [`failpoint_named`]), [`fail_syncs_under`] makes every fdatasync of a file under a directory fail
//! with EIO, as a dying disk would, and [`fail_writes_under`] makes every WAL record and page write
//! there fail with ENOSPC after writing half its bytes, as a full disk does ([`fail_writes_with`]:
//! with another OS error, e.g. EACCES).

use std::path::Path;

/// Abort the process here if the environment asks for it (feature `failpoints` only).
#[inline]
pub fn failpoint(name: &str) {
    if failpoint_named(name) {
        eprintln!("laptime: fail point {name} reached, aborting");
        std::process::abort();
    }
}

/// Whether `LAPTIME_FAILPOINT` names `name`, for fail points that make a step fail instead of
/// aborting (always false without the `failpoints` feature).
#[inline]
pub fn failpoint_named(name: &str) -> bool {
    #[cfg(feature = "failpoints")]
    {
        use std::sync::OnceLock;
        static WANTED: OnceLock<Option<String>> = OnceLock::new();
        let wanted = WANTED.get_or_init(|| std::env::var("LAPTIME_FAILPOINT").ok());
        wanted.as_deref() == Some(name)
    }
    #[cfg(not(feature = "failpoints"))]
    {
        let _ = name;
        false
    }
}

#[cfg(feature = "failpoints")]
fn sync_failures() -> &'static std::sync::Mutex<Vec<std::path::PathBuf>> {
    static DIRS: std::sync::OnceLock<std::sync::Mutex<Vec<std::path::PathBuf>>> =
        std::sync::OnceLock::new();
    DIRS.get_or_init(|| std::sync::Mutex::new(Vec::new()))
}

/// From now on, every fdatasync of a file under `dir` fails with EIO (`None` clears all).
#[cfg(feature = "failpoints")]
pub fn fail_syncs_under(dir: Option<&Path>) {
    let mut dirs = sync_failures().lock().unwrap_or_else(|p| p.into_inner());
    match dir {
        Some(d) => dirs.push(d.to_owned()),
        None => dirs.clear(),
    }
}

/// True if a test asked fdatasync of `path` to fail.
#[inline]
pub(crate) fn sync_fails(path: &Path) -> bool {
    #[cfg(feature = "failpoints")]
    {
        let dirs = sync_failures().lock().unwrap_or_else(|p| p.into_inner());
        dirs.iter().any(|d| path.starts_with(d))
    }
    #[cfg(not(feature = "failpoints"))]
    {
        let _ = path;
        false
    }
}

#[cfg(feature = "failpoints")]
type WriteFailures = std::sync::Mutex<Vec<(std::path::PathBuf, i32)>>;

/// Directories whose writes fail, each with the OS error number the writes get.
#[cfg(feature = "failpoints")]
fn write_failures() -> &'static WriteFailures {
    static DIRS: std::sync::OnceLock<WriteFailures> = std::sync::OnceLock::new();
    DIRS.get_or_init(|| std::sync::Mutex::new(Vec::new()))
}

/// The OS error number of ENOSPC (the same on Linux and macOS).
#[cfg(feature = "failpoints")]
const ENOSPC: i32 = 28;

/// From now on, every WAL record or page write to a file under `dir` fails (ENOSPC) after half of
/// its bytes reached the file (`None` clears all).
#[cfg(feature = "failpoints")]
pub fn fail_writes_under(dir: Option<&Path>) {
    match dir {
        Some(d) => fail_writes_with(d, ENOSPC),
        None => write_failures()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear(),
    }
}

/// Like [`fail_writes_under`], but the writes fail with OS error number `errno` (e.g. EACCES), to
/// show that the kind of a failure reaches the caller.
#[cfg(feature = "failpoints")]
pub fn fail_writes_with(dir: &Path, errno: i32) {
    write_failures()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((dir.to_owned(), errno));
}

/// Undo [`fail_syncs_under`], [`fail_writes_under`] and [`fail_writes_with`] for exactly `dir`
/// (tests running in parallel keep theirs).
#[cfg(feature = "failpoints")]
pub fn heal_under(dir: &Path) {
    sync_failures()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|d| d != dir);
    write_failures()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|(d, _)| d != dir);
}

/// The OS error number a test asked writes to `path` to fail with, if any.
#[inline]
pub(crate) fn write_fails(path: &Path) -> Option<i32> {
    #[cfg(feature = "failpoints")]
    {
        let dirs = write_failures().lock().unwrap_or_else(|p| p.into_inner());
        dirs.iter()
            .find(|(d, _)| path.starts_with(d))
            .map(|(_, errno)| *errno)
    }
    #[cfg(not(feature = "failpoints"))]
    {
        let _ = path;
        None
    }
}

/// `file.write_all(bytes)`, unless a test asked writes to `path` to fail: then half of `bytes` is
/// written and that OS error (ENOSPC unless the test chose another) returned, a torn write like a
/// filling disk leaves.
pub(crate) fn write_all(
    file: &mut std::fs::File,
    path: &Path,
    bytes: &[u8],
) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(errno) = write_fails(path) {
        file.write_all(&bytes[..bytes.len() / 2])?;
        return Err(std::io::Error::from_raw_os_error(errno));
    }
    file.write_all(bytes)
}
