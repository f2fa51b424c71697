//! The one error type of the crate. Every variant says what failed and where, so a caller (or the CLI)
//! can print it as one line without context.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in laptime-core.
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
    },
    /// Like [`Error::WriterFailed`], but the cause is a full disk or an exhausted quota (ENOSPC,
    /// EDQUOT): recording resumes by itself once space is freed.
    DiskFull {
        /// Partition directory of the writer.
        partition: PathBuf,
        /// The OS error, with the file and the operation.
        reason: String,
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
        match self {
            Error::Io { source, .. } => {
                matches!(
                    source.kind(),
                    io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
                )
            }
            Error::DiskFull { .. } => true,
            _ => false,
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
            Error::WriterFailed { partition, reason } => write!(
                f,
                "writer of partition {} stopped: {reason}",
                partition.display()
            ),
            Error::DiskFull { partition, reason } => write!(
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
