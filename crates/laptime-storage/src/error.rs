//! The one error type of the crate. Every variant says what failed and where, so a caller (or the CLI)
//! can print it as one line without context.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in laptime-core. Each error has a stable kind, [`Error::code`], that
/// programs match on instead of the text.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system call failed on `path`.
    Io {
        /// File or directory the call was about.
        path: PathBuf,
        /// What was being done ("open", "fsync", "rename", ...).
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// Bytes on disk are not what they should be (bad magic, checksum mismatch, impossible length).
    Corrupt {
        /// File holding the damaged bytes.
        path: PathBuf,
        /// Byte offset in that file where the damage was found.
        offset: u64,
        /// Why the bytes were rejected.
        reason: String,
    },
    /// A store option has a value that cannot be used.
    InvalidOption {
        /// Option name as the user spells it.
        option: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An argument to an API call is not acceptable (e.g. an unknown name id).
    InvalidInput {
        /// What was wrong.
        what: &'static str,
        /// Details.
        reason: String,
    },
    /// A partition's writer hit a write or sync failure (e.g. fsync reported EIO). The failed file
    /// is abandoned and never written again; the writer keeps retrying in new files with backoff, and
    /// `flush` fails with this error until a retry succeeds. Producers keep running (a full ring
    /// drops and counts).
    WriterFailed {
        /// Partition directory of the writer.
        partition: PathBuf,
        /// The error that stopped it.
        reason: String,
        /// The code of that error as the writer thread saw it (`EIO`, `EACCES`, `CORRUPT`, ...;
        /// [`ErrorCode::WriteFailed`] when it had none of its own).
        code: ErrorCode,
        /// The OS error number of that error, if it was an OS error.
        errno: Option<i32>,
    },
    /// Like [`Error::WriterFailed`], but the cause is a full disk or an exhausted quota (ENOSPC,
    /// EDQUOT): recording resumes by itself once space is freed.
    DiskFull {
        /// Partition directory of the writer.
        partition: PathBuf,
        /// The OS error, with the file and the operation.
        reason: String,
        /// The OS error number (ENOSPC or EDQUOT), if the OS gave one.
        errno: Option<i32>,
    },
    /// Bytes handed to a decoder in memory (not read from a store file, see [`Error::Corrupt`]) are
    /// not what it reads: truncated, another magic or version, a checksum mismatch, or contents
    /// that contradict each other. `laptime-query` gives this for partial query results.
    Malformed {
        /// What the bytes were supposed to be ("partial query result").
        what: &'static str,
        /// Byte offset in the input where the problem was found.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The store was closed.
    Closed,
}

impl Error {
    /// An OS call `op` failed on `path`.
    pub fn io(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            op,
            source,
        }
    }

    /// Whether this is an OS error saying the disk is full or the quota is used up.
    pub fn is_disk_full(&self) -> bool {
        self.code() == ErrorCode::NoSpace
    }

    /// The stable code of this error (see [`ErrorCode`]): for an OS error the errno name std
    /// tells (else `EIO`), for a writer failure the code of what stopped the writer.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Io { source, .. } => ErrorCode::of_io(source),
            Error::Corrupt { .. } => ErrorCode::Corrupt,
            Error::InvalidOption { .. } => ErrorCode::InvalidOption,
            Error::InvalidInput { .. } => ErrorCode::InvalidInput,
            Error::WriterFailed { code, .. } => *code,
            Error::DiskFull { .. } => ErrorCode::NoSpace,
            Error::Malformed { .. } => ErrorCode::Malformed,
            Error::Closed => ErrorCode::Closed,
        }
    }

    /// The OS error number behind this error, also when it crossed from the writer thread
    /// ([`Error::WriterFailed`], [`Error::DiskFull`]); `None` when the OS gave none.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            Error::WriterFailed { errno, .. } | Error::DiskFull { errno, .. } => *errno,
            _ => None,
        }
    }

    /// The [`io::ErrorKind`] behind this error, also when it crossed from the writer thread
    /// (there, derived from the OS error number); `None` for errors that are not OS errors.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            Error::Io { source, .. } => Some(source.kind()),
            Error::WriterFailed { errno, .. } | Error::DiskFull { errno, .. } => {
                errno.map(|n| io::Error::from_raw_os_error(n).kind())
            }
            _ => None,
        }
    }

    /// Damaged bytes in `path` at `offset`.
    pub fn corrupt(path: impl Into<PathBuf>, offset: u64, reason: impl Into<String>) -> Self {
        Error::Corrupt {
            path: path.into(),
            offset,
            reason: reason.into(),
        }
    }

    /// An option with an unusable value.
    pub fn invalid_option(option: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidOption {
            option,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, op, source } => write!(f, "{op} {}: {source}", path.display()),
            Error::Corrupt {
                path,
                offset,
                reason,
            } => write!(
                f,
                "corrupt data in {} at byte {offset}: {reason}",
                path.display()
            ),
            Error::InvalidOption { option, reason } => {
                write!(f, "invalid option `{option}`: {reason}")
            }
            Error::InvalidInput { what, reason } => write!(f, "invalid {what}: {reason}"),
            Error::WriterFailed {
                partition, reason, ..
            } => write!(
                f,
                "writer of partition {} stopped: {reason}",
                partition.display()
            ),
            Error::DiskFull {
                partition, reason, ..
            } => write!(
                f,
                "disk full: writer of partition {} is waiting for space (retrying in new files): {reason}",
                partition.display()
            ),
            Error::Malformed {
                what,
                offset,
                reason,
            } => {
                write!(f, "bad {what} at byte {offset}: {reason}")
            }
            Error::Closed => write!(f, "store is closed"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// What kind of failure an [`Error`] is, as a short stable string ([`ErrorCode::as_str`]) that
/// programs can match on; it crosses threads (a writer failure keeps it) and reaches JavaScript as
/// `err.code`. The strings never change meaning; new codes may be added.
///
/// OS errors are named by their errno as std classifies them ([`io::ErrorKind`]); an OS error std
/// does not classify (EMFILE, EINTR, ...) or an I/O error without an OS cause (a short read) is
/// `EIO`. Two errnos share a code: EPERM is `EACCES` (std does not tell them apart) and EDQUOT is
/// `ENOSPC` (both mean "free some space"). [`Error::raw_os_error`] gives the exact number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `ENOSPC`: the disk is full or the quota is used up (ENOSPC, EDQUOT, [`Error::DiskFull`]).
    /// Recording resumes by itself once space is freed.
    NoSpace,
    /// `EIO`: an I/O error (a failed write or fsync), or an OS error with no more specific code.
    Io,
    /// `EACCES`: permission denied (EACCES, EPERM).
    PermissionDenied,
    /// `ENOENT`: no such file or directory.
    NotFound,
    /// `EEXIST`: the file exists.
    AlreadyExists,
    /// `EROFS`: read-only file system.
    ReadOnlyFilesystem,
    /// `ENOTDIR`: a path component is not a directory.
    NotADirectory,
    /// `EISDIR`: a directory where a file was expected.
    IsADirectory,
    /// `ENOTEMPTY`: directory not empty.
    DirectoryNotEmpty,
    /// `EFBIG`: file too large.
    FileTooLarge,
    /// `EBUSY`: device or resource busy.
    Busy,
    /// `ENOMEM`: out of memory.
    OutOfMemory,
    /// `EXDEV`: a rename across file systems.
    CrossesDevices,
    /// `ENAMETOOLONG`: file name too long (or otherwise invalid).
    NameTooLong,
    /// `ESTALE`: stale network file handle.
    StaleHandle,
    /// `CORRUPT`: bytes in a store file are damaged ([`Error::Corrupt`]).
    Corrupt,
    /// `INVALID_OPTION`: a store option has an unusable value ([`Error::InvalidOption`]).
    InvalidOption,
    /// `INVALID_INPUT`: an argument of a call is not acceptable ([`Error::InvalidInput`]).
    InvalidInput,
    /// `MALFORMED`: bytes handed over in memory do not decode ([`Error::Malformed`]).
    Malformed,
    /// `WRITE_FAILED`: the writer failed and what stopped it had no code of its own (a writer
    /// failure with a known cause carries that cause's code instead, e.g. `EIO`).
    WriteFailed,
    /// `CLOSED`: the store (or reader) was closed ([`Error::Closed`]).
    Closed,
    /// `INTERNAL`: a bug in laptime stopped this one call (a panic, which the Node binding turns
    /// into an error instead of letting it end the process). Nothing the engine returns has it.
    Internal,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::NoSpace,
        ErrorCode::Io,
        ErrorCode::PermissionDenied,
        ErrorCode::NotFound,
        ErrorCode::AlreadyExists,
        ErrorCode::ReadOnlyFilesystem,
        ErrorCode::NotADirectory,
        ErrorCode::IsADirectory,
        ErrorCode::DirectoryNotEmpty,
        ErrorCode::FileTooLarge,
        ErrorCode::Busy,
        ErrorCode::OutOfMemory,
        ErrorCode::CrossesDevices,
        ErrorCode::NameTooLong,
        ErrorCode::StaleHandle,
        ErrorCode::Corrupt,
        ErrorCode::InvalidOption,
        ErrorCode::InvalidInput,
        ErrorCode::Malformed,
        ErrorCode::WriteFailed,
        ErrorCode::Closed,
        ErrorCode::Internal,
    ];

    /// The code as programs see it (`"ENOSPC"`, `"CORRUPT"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NoSpace => "ENOSPC",
            ErrorCode::Io => "EIO",
            ErrorCode::PermissionDenied => "EACCES",
            ErrorCode::NotFound => "ENOENT",
            ErrorCode::AlreadyExists => "EEXIST",
            ErrorCode::ReadOnlyFilesystem => "EROFS",
            ErrorCode::NotADirectory => "ENOTDIR",
            ErrorCode::IsADirectory => "EISDIR",
            ErrorCode::DirectoryNotEmpty => "ENOTEMPTY",
            ErrorCode::FileTooLarge => "EFBIG",
            ErrorCode::Busy => "EBUSY",
            ErrorCode::OutOfMemory => "ENOMEM",
            ErrorCode::CrossesDevices => "EXDEV",
            ErrorCode::NameTooLong => "ENAMETOOLONG",
            ErrorCode::StaleHandle => "ESTALE",
            ErrorCode::Corrupt => "CORRUPT",
            ErrorCode::InvalidOption => "INVALID_OPTION",
            ErrorCode::InvalidInput => "INVALID_INPUT",
            ErrorCode::Malformed => "MALFORMED",
            ErrorCode::WriteFailed => "WRITE_FAILED",
            ErrorCode::Closed => "CLOSED",
            ErrorCode::Internal => "INTERNAL",
        }
    }

    /// The code spelled `name` ([`ErrorCode::as_str`] backwards).
    pub fn from_name(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == name)
    }

    /// Whether this names an OS error (an errno), not one of laptime's own kinds.
    pub fn is_os(self) -> bool {
        !matches!(
            self,
            ErrorCode::Corrupt
                | ErrorCode::InvalidOption
                | ErrorCode::InvalidInput
                | ErrorCode::Malformed
                | ErrorCode::WriteFailed
                | ErrorCode::Closed
                | ErrorCode::Internal
        )
    }

    /// The code of an OS error, by its [`io::ErrorKind`].
    pub fn of_io(err: &io::Error) -> ErrorCode {
        use io::ErrorKind as K;
        match err.kind() {
            K::StorageFull | K::QuotaExceeded => ErrorCode::NoSpace,
            K::PermissionDenied => ErrorCode::PermissionDenied,
            K::NotFound => ErrorCode::NotFound,
            K::AlreadyExists => ErrorCode::AlreadyExists,
            K::ReadOnlyFilesystem => ErrorCode::ReadOnlyFilesystem,
            K::NotADirectory => ErrorCode::NotADirectory,
            K::IsADirectory => ErrorCode::IsADirectory,
            K::DirectoryNotEmpty => ErrorCode::DirectoryNotEmpty,
            K::FileTooLarge => ErrorCode::FileTooLarge,
            K::ResourceBusy => ErrorCode::Busy,
            K::OutOfMemory => ErrorCode::OutOfMemory,
            K::CrossesDevices => ErrorCode::CrossesDevices,
            K::InvalidFilename => ErrorCode::NameTooLong,
            K::StaleNetworkFileHandle => ErrorCode::StaleHandle,
            _ => ErrorCode::Io,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decoding failure inside an in-memory buffer. Callers that know the file turn it into
/// [`Error::Corrupt`] by adding the path and the buffer's file offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Offset inside the buffer being decoded.
    pub offset: usize,
    /// Why decoding stopped.
    pub reason: &'static str,
}

impl DecodeError {
    /// A failure at `offset` of the buffer.
    pub fn new(offset: usize, reason: &'static str) -> Self {
        DecodeError { offset, reason }
    }

    /// Attach a file and the file offset of the decoded buffer.
    pub fn in_file(self, path: impl Into<PathBuf>, base_offset: u64) -> Error {
        Error::corrupt(path, base_offset + self.offset as u64, self.reason)
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.reason, self.offset)
    }
}

impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_spelled_back() {
        let mut seen = std::collections::BTreeSet::new();
        for &c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "{c} twice");
            assert_eq!(ErrorCode::from_name(c.as_str()), Some(c));
        }
        assert_eq!(ErrorCode::from_name("EAGAIN"), None);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn os_errors_are_named_by_errno() {
        let io = |n| Error::io("/x", "write", io::Error::from_raw_os_error(n));
        // Linux numbers: ENOSPC, EDQUOT, EACCES, EPERM, ENOENT, EROFS, EIO, EMFILE.
        for (errno, code) in [
            (28, "ENOSPC"),
            (122, "ENOSPC"),
            (13, "EACCES"),
            (1, "EACCES"),
            (2, "ENOENT"),
            (30, "EROFS"),
            (5, "EIO"),
            (24, "EIO"),
        ] {
            let e = io(errno);
            assert_eq!(e.code().as_str(), code, "errno {errno}");
            assert_eq!(e.raw_os_error(), Some(errno));
            assert!(e.code().is_os());
        }
        let short = Error::io("/x", "read", io::Error::from(io::ErrorKind::UnexpectedEof));
        assert_eq!((short.code(), short.raw_os_error()), (ErrorCode::Io, None));
        assert!(io(28).is_disk_full() && !io(5).is_disk_full());
    }

    #[test]
    fn laptime_errors_have_their_own_codes() {
        assert_eq!(Error::corrupt("/x", 3, "bad").code().as_str(), "CORRUPT");
        assert_eq!(
            Error::invalid_option("page_rows", "0").code().as_str(),
            "INVALID_OPTION"
        );
        assert_eq!(Error::Closed.code().as_str(), "CLOSED");
        let failed = Error::WriterFailed {
            partition: "/p".into(),
            reason: "r".into(),
            code: ErrorCode::PermissionDenied,
            errno: Some(13),
        };
        assert_eq!(failed.code().as_str(), "EACCES");
        assert_eq!(failed.io_kind(), Some(io::ErrorKind::PermissionDenied));
        for c in [
            ErrorCode::Corrupt,
            ErrorCode::WriteFailed,
            ErrorCode::Closed,
        ] {
            assert!(!c.is_os(), "{c}");
        }
    }
}
