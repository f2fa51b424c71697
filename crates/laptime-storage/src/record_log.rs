//! Append-only files of checksummed records: the framing shared by the write-ahead log and the
//! per-partition name dictionary.
//!
//! # Layout (all integers little-endian)
//!
//! ```text
//! file   = header, record*
//!
//! header: HEADER_LEN = 32 bytes
//!   at  0  magic       8 bytes  MAGIC = 89 'L' 'A' 'P' 'L' 'O' 'G' 0A
//!   at  8  version     u16      FORMAT_VERSION = 1
//!   at 10  kind        u8       FileKind: 1 = WAL, 2 = name dictionary
//!   at 11  reserved    1 byte   zero
//!   at 12  owner       u64      id of the partition the file belongs to (0: unknown, older files)
//!   at 20  file id     u64      salt chosen at creation (random_file_id or the caller's)
//!   at 28  header crc  u32      crc32c of bytes 0..28
//!
//! record: FRAME_HEADER_LEN = 8 bytes + payload
//!   at  0  len         u32      payload length, at most MAX_PAYLOAD_LEN (64 MiB)
//!   at  4  crc         u32      crc32c(file id as u64 ++ len as u32 ++ payload)
//!   at  8  payload     len bytes
//! ```
//!
//! The record checksum covers the file id, so bytes left over from another file (a reused or renamed
//! file, a stale copy) never validate here; this is RocksDB's recyclable-log number and SQLite's WAL
//! salt. It covers the length too, so a damaged length is caught rather than framing garbage.
//!
//! # Recovery
//!
//! `read_records` (tests) / [`for_each_record`] read front to back and stop at the first record that is
//! incomplete, has an impossible length or fails its checksum. Everything before it is valid; it and
//! everything after it is the torn tail, reported as a [`Cut`] (not an error). This is RocksDB's
//! point-in-time recovery: a record after a damaged one is never used, since a record is only
//! acknowledged once everything before it was written. [`RecordWriter::open_append`] truncates the
//! tail before appending, so new records never land behind garbage.
//!
//! A damaged file header is [`Error::Corrupt`]: without it nothing in the file can be trusted. The one
//! exception is what a crash inside [`RecordWriter::create`] leaves behind (a file shorter than the
//! header, or a header of zero bytes and nothing after it): that is an empty file with a torn tail.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crc32c::{crc32c, crc32c_append};

use crate::durable;
use crate::error::{Error, Result};

/// First bytes of every record file. The non-ASCII first byte and the final newline expose files
/// mangled by text-mode transfers, as in PNG.
const MAGIC: [u8; 8] = *b"\x89LAPLOG\n";
/// Version of this layout; bumped on any incompatible change.
const FORMAT_VERSION: u16 = 1;

const MAGIC_AT: usize = 0;
const VERSION_AT: usize = MAGIC_AT + MAGIC.len();
const KIND_AT: usize = VERSION_AT + size_of::<u16>();
const RESERVED_AT: usize = KIND_AT + size_of::<u8>();
const RESERVED_LEN: usize = 1;
const OWNER_AT: usize = RESERVED_AT + RESERVED_LEN;
const FILE_ID_AT: usize = OWNER_AT + size_of::<u64>();
const HEADER_CRC_AT: usize = FILE_ID_AT + size_of::<u64>();
/// Size of the file header; the first record starts here.
pub(crate) const HEADER_LEN: usize = HEADER_CRC_AT + size_of::<u32>();
const _: () = assert!(HEADER_LEN == 32);

const FRAME_LEN_AT: usize = 0;
const FRAME_CRC_AT: usize = FRAME_LEN_AT + size_of::<u32>();
/// Bytes a record adds in front of its payload.
pub(crate) const FRAME_HEADER_LEN: usize = FRAME_CRC_AT + size_of::<u32>();
const _: () = assert!(FRAME_HEADER_LEN == 8);

/// Largest payload of one record. Bigger is refused on write and read as damage on recovery, so a
/// flipped length can never make recovery allocate gigabytes.
pub(crate) const MAX_PAYLOAD_LEN: usize = 64 << 20;
const _: () = assert!(MAX_PAYLOAD_LEN <= u32::MAX as usize);

/// The writer's frame buffer is released after a record larger than this, so one huge record does not
/// pin its size in memory for the life of the writer.
const RETAINED_BUF_LEN: usize = 1 << 20;
/// Read buffer of recovery scans.
const READ_BUF_LEN: usize = 64 << 10;

/// What a record file holds, stored in its header so that one kind of file is never read as another.
/// The tags are assigned here, in one place, so they stay distinct; 0 is never used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileKind(u8);

impl FileKind {
    /// A partition's write-ahead log.
    pub(crate) const WAL: FileKind = FileKind(1);
    /// A partition's name dictionary (interned function and field names).
    pub(crate) const NAMES: FileKind = FileKind(2);
}

pub(crate) fn encode_header(kind: FileKind, owner: u64, file_id: u64) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[MAGIC_AT..VERSION_AT].copy_from_slice(&MAGIC);
    header[VERSION_AT..KIND_AT].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[KIND_AT] = kind.0;
    header[OWNER_AT..FILE_ID_AT].copy_from_slice(&owner.to_le_bytes());
    header[FILE_ID_AT..HEADER_CRC_AT].copy_from_slice(&file_id.to_le_bytes());
    let crc = crc32c(&header[..HEADER_CRC_AT]);
    header[HEADER_CRC_AT..].copy_from_slice(&crc.to_le_bytes());
    header
}

/// Why a record file whose header names `owner` does not belong in partition `dir`; `None` when it
/// does (or is older than owners, 0).
pub(crate) fn foreign_owner(owner: u64, dir: &Path) -> Option<String> {
    let own = crate::partition::id_of(dir);
    (owner != 0 && owner != own)
        .then(|| format!("file of partition {owner:016x}, not of this one ({own:016x})"))
}

/// Checks a file header and returns its file id.
fn decode_header(header: &[u8; HEADER_LEN], path: &Path, kind: FileKind) -> Result<u64> {
    decode_header_owned(header, path, kind).map(|(_, id)| id)
}

/// Checks a file header and returns its owner and file id.
fn decode_header_owned(
    header: &[u8; HEADER_LEN],
    path: &Path,
    kind: FileKind,
) -> Result<(u64, u64)> {
    let corrupt = |at: usize, reason: String| Error::corrupt(path, at as u64, reason);
    if header[MAGIC_AT..VERSION_AT] != MAGIC {
        return Err(corrupt(
            MAGIC_AT,
            "not a laptime record file (bad magic)".into(),
        ));
    }
    // Checked before the fields, so a damaged field is reported as damage, not as a strange value.
    let stored_crc = u32::from_le_bytes(array_at(header, HEADER_CRC_AT));
    if crc32c(&header[..HEADER_CRC_AT]) != stored_crc {
        return Err(corrupt(
            HEADER_CRC_AT,
            "file header checksum mismatch".into(),
        ));
    }
    let version = u16::from_le_bytes(array_at(header, VERSION_AT));
    if version != FORMAT_VERSION {
        return Err(corrupt(
            VERSION_AT,
            format!(
                "unsupported record file version {version} (this build reads {FORMAT_VERSION})"
            ),
        ));
    }
    if header[KIND_AT] != kind.0 {
        return Err(corrupt(
            KIND_AT,
            format!("wrong file kind {} (expected {})", header[KIND_AT], kind.0),
        ));
    }
    if header[RESERVED_AT..OWNER_AT].iter().any(|&b| b != 0) {
        return Err(corrupt(
            RESERVED_AT,
            "reserved header bytes are not zero".into(),
        ));
    }
    Ok((
        u64::from_le_bytes(array_at(header, OWNER_AT)),
        u64::from_le_bytes(array_at(header, FILE_ID_AT)),
    ))
}

/// `N` bytes of the header from `at`; offsets are the layout constants, always in range.
fn array_at<const N: usize>(header: &[u8; HEADER_LEN], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&header[at..at + N]);
    out
}

/// The checksum of one record. `id_crc` is `crc32c(file id)`, the prefix shared by every record.
pub(crate) fn frame_crc(id_crc: u32, len: u32, parts: &[&[u8]]) -> u32 {
    let mut crc = crc32c_append(id_crc, &len.to_le_bytes());
    for part in parts {
        crc = crc32c_append(crc, part);
    }
    crc
}

pub(crate) fn id_crc(file_id: u64) -> u32 {
    crc32c(&file_id.to_le_bytes())
}

/// Appends records to one record file.
///
/// Write-through: when [`append`](Self::append) returns, the record has been handed to the OS in one
/// `write` call, so it survives the process being killed; it survives power loss after
/// [`sync`](Self::sync) returns. Any failed write or sync stops the writer for good: every later call
/// returns an error. A failed write may have left part of a record in the file, and a failed fsync may
/// have lost written data without a trace (fsyncgate); either way nothing appended after it could be
/// trusted. The owner reopens the file through recovery instead.
pub(crate) struct RecordWriter {
    file: File,
    path: PathBuf,
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "kept for debugging output and tests")
    )]
    file_id: u64,
    /// `crc32c(file id)`, computed once: every record checksum starts with it.
    id_crc: u32,
    /// File length, which is the offset of the next record.
    len: u64,
    /// File length covered by the last successful sync.
    synced_len: u64,
    /// Frame under construction, reused across appends.
    buf: Vec<u8>,
    /// Why the writer stopped, after a failed write or sync.
    failed: Option<String>,
    /// Test hook: the next sync fails as if fdatasync had returned EIO.
    #[cfg(test)]
    fail_next_sync: bool,
}

impl RecordWriter {
    /// Creates a new record file at `path` (an existing file is an error, never overwritten) holding only
    /// the header, and makes it and its directory entry durable.
    /// `owner` is the id of the partition the file belongs to (see `partition::id_of`).
    pub(crate) fn create(path: &Path, kind: FileKind, owner: u64, file_id: u64) -> Result<Self> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Error::io(path, "create", e))?;
        let init = (|| {
            file.write_all(&encode_header(kind, owner, file_id))
                .map_err(|e| Error::io(path, "write", e))?;
            // sync_all, not sync_data: the file is new, so its inode must reach the disk too.
            file.sync_all().map_err(|e| Error::io(path, "fsync", e))?;
            durable::fsync_dir(durable::parent_dir(path))
        })();
        if let Err(e) = init {
            // Best effort, so a retry can create the file again; the original error is what matters.
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
        Ok(Self::new(file, path, file_id, HEADER_LEN as u64))
    }

    /// Reopens an existing record file for appending after recovery: checks its header, truncates it to
    /// `valid_len` (the `Recovered::valid_len` / [`Scanned::valid_len`] of a scan, so the torn tail
    /// goes) and syncs the file.
    ///
    /// The sync happens even when nothing was cut: the records just recovered may still be only in the
    /// page cache of a process that crashed, and the caller is about to act on them.
    ///
    /// A file without an intact header (`valid_len < HEADER_LEN`, i.e. the scan reported no file id)
    /// cannot be appended to: remove it and [`create`](Self::create) a new one.
    pub(crate) fn open_append(path: &Path, kind: FileKind, valid_len: u64) -> Result<Self> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, "open", e))?;
        let file_len = file
            .metadata()
            .map_err(|e| Error::io(path, "stat", e))?
            .len();
        if valid_len < HEADER_LEN as u64 || valid_len > file_len {
            return Err(Error::InvalidInput {
                what: "record file length",
                reason: format!(
                    "cannot append to {} at byte {valid_len}: the file has {file_len} bytes and a \
                     {HEADER_LEN}-byte header",
                    path.display()
                ),
            });
        }
        let mut header = [0u8; HEADER_LEN];
        file.read_exact(&mut header)
            .map_err(|e| Error::io(path, "read", e))?;
        let file_id = decode_header(&header, path, kind)?;
        if valid_len < file_len {
            file.set_len(valid_len)
                .map_err(|e| Error::io(path, "truncate", e))?;
        }
        durable::sync_data(&file, path)?;
        file.seek(SeekFrom::Start(valid_len))
            .map_err(|e| Error::io(path, "seek", e))?;
        Ok(Self::new(file, path, file_id, valid_len))
    }

    fn new(file: File, path: &Path, file_id: u64, len: u64) -> Self {
        RecordWriter {
            file,
            path: path.to_path_buf(),
            file_id,
            id_crc: id_crc(file_id),
            len,
            synced_len: len,
            buf: Vec::new(),
            failed: None,
            #[cfg(test)]
            fail_next_sync: false,
        }
    }

    /// Appends one record and returns its offset in the file.
    pub(crate) fn append(&mut self, payload: &[u8]) -> Result<u64> {
        self.append_parts(&[payload])
    }

    /// Appends one record whose payload is the concatenation of `parts`, so a caller need not join
    /// them first. Returns the record's offset. A payload over [`MAX_PAYLOAD_LEN`] is refused with
    /// [`Error::InvalidInput`] and leaves the writer usable.
    pub(crate) fn append_parts(&mut self, parts: &[&[u8]]) -> Result<u64> {
        self.check_usable("append")?;
        let payload_len = parts
            .iter()
            .fold(0usize, |sum, part| sum.saturating_add(part.len()));
        let len = match u32::try_from(payload_len) {
            Ok(len) if payload_len <= MAX_PAYLOAD_LEN => len,
            _ => {
                return Err(Error::InvalidInput {
                    what: "record",
                    reason: format!(
                        "payload of {payload_len} bytes exceeds the maximum of {MAX_PAYLOAD_LEN} \
                         bytes ({})",
                        self.path.display()
                    ),
                })
            }
        };
        let crc = frame_crc(self.id_crc, len, parts);
        self.buf.clear();
        self.buf.reserve(FRAME_HEADER_LEN + payload_len);
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(&crc.to_le_bytes());
        for part in parts {
            self.buf.extend_from_slice(part);
        }
        // One write per record: the frame reaches the OS whole or (on error) the writer stops.
        if let Err(e) = crate::failpoint::write_all(&mut self.file, &self.path, &self.buf) {
            let err = Error::io(&self.path, "write", e);
            self.failed = Some(err.to_string());
            return Err(err);
        }
        let offset = self.len;
        self.len += self.buf.len() as u64;
        if self.buf.capacity() > RETAINED_BUF_LEN {
            self.buf = Vec::new();
        }
        Ok(offset)
    }

    /// Makes every record appended so far durable (`fdatasync`). A failure stops the writer; it is
    /// never retried (see the type's doc).
    pub(crate) fn sync(&mut self) -> Result<()> {
        self.check_usable("fdatasync")?;
        if self.synced_len == self.len {
            return Ok(());
        }
        #[cfg(test)]
        if std::mem::take(&mut self.fail_next_sync) {
            let injected = io::Error::other("injected fsync failure");
            let err = Error::io(&self.path, "fdatasync", injected);
            self.failed = Some(err.to_string());
            return Err(err);
        }
        if let Err(err) = durable::sync_data(&self.file, &self.path) {
            self.failed = Some(err.to_string());
            return Err(err);
        }
        self.synced_len = self.len;
        Ok(())
    }

    fn check_usable(&self, op: &'static str) -> Result<()> {
        match &self.failed {
            None => Ok(()),
            Some(first) => Err(Error::io(
                &self.path,
                op,
                io::Error::other(format!(
                    "record writer stopped after an earlier failure, not retried: {first}"
                )),
            )),
        }
    }

    /// Current file length: the offset the next record will get.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The file being written.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The file id stored in the header and mixed into every record checksum.
    #[cfg(test)]
    pub(crate) fn file_id(&self) -> u64 {
        self.file_id
    }

    /// Whether a write or sync failed; the writer then refuses everything.
    pub(crate) fn has_failed(&self) -> bool {
        self.failed.is_some()
    }

    /// The file was renamed to `path` (after being written under a temporary name).
    pub(crate) fn renamed(&mut self, path: &Path) {
        self.path = path.to_owned();
    }
}

/// The torn tail found by a recovery scan: bytes that are not whole, valid records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cut {
    /// Where the tail starts (the first byte not part of a valid record); equals `valid_len`.
    pub(crate) offset: u64,
    /// How many bytes the tail holds, up to the end of the file.
    pub(crate) bytes: u64,
    /// Why the scan stopped there.
    pub(crate) reason: &'static str,
}

/// Result of [`read_records`]: the whole valid content of a record file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg(test)]
pub(crate) struct Recovered {
    /// The header's file id; `None` if the header itself was torn (crash inside `create`).
    pub(crate) file_id: Option<u64>,
    /// Every valid record in file order: its offset and its payload.
    pub(crate) records: Vec<(u64, Vec<u8>)>,
    /// Length of the valid prefix (header and whole records); pass it to
    /// [`RecordWriter::open_append`]. 0 when the header was torn.
    pub(crate) valid_len: u64,
    /// The torn tail, if any.
    pub(crate) cut: Option<Cut>,
}

/// Result of [`for_each_record`]: like `Recovered` (tests) without the payloads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Scanned {
    /// The header's file id; `None` if the header itself was torn (crash inside `create`).
    pub(crate) file_id: Option<u64>,
    /// The header's owner (0: unknown); 0 too when the header was torn.
    pub(crate) owner: u64,
    /// Number of valid records passed to the callback.
    pub(crate) records: u64,
    /// Length of the valid prefix (header and whole records). 0 when the header was torn.
    pub(crate) valid_len: u64,
    /// The torn tail, if any.
    pub(crate) cut: Option<Cut>,
}

/// Reads every valid record of the file at `path` into memory. For large files prefer
/// [`for_each_record`]. See the module doc for what is valid and what is cut.
#[cfg(test)]
pub(crate) fn read_records(path: &Path, kind: FileKind) -> Result<Recovered> {
    let mut records = Vec::new();
    let scanned = for_each_record(path, kind, |offset, payload| {
        records.push((offset, payload.to_vec()));
        Ok(())
    })?;
    Ok(Recovered {
        file_id: scanned.file_id,
        records,
        valid_len: scanned.valid_len,
        cut: scanned.cut,
    })
}

/// Streams the valid records of the file at `path` to `on_record(offset, payload)`, in file order,
/// holding one record in memory at a time. An error from the callback stops the scan and is returned.
///
/// Errors: I/O failures, and a damaged header ([`Error::Corrupt`]). A torn or damaged tail is not an
/// error; it is reported in [`Scanned::cut`]. Never allocates more than the file's size.
pub(crate) fn for_each_record<F>(path: &Path, kind: FileKind, mut on_record: F) -> Result<Scanned>
where
    F: FnMut(u64, &[u8]) -> Result<()>,
{
    let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, "stat", e))?;
    // A device or FIFO in a record file's place must not be read (or truncated) as one.
    if !meta.is_file() {
        return Err(Error::corrupt(path, 0, "not a regular file"));
    }
    let file_len = meta.len();
    let torn_header = |reason| Scanned {
        file_id: None,
        owner: 0,
        records: 0,
        valid_len: 0,
        cut: Some(Cut {
            offset: 0,
            bytes: file_len,
            reason,
        }),
    };
    if file_len < HEADER_LEN as u64 {
        return Ok(torn_header("incomplete file header"));
    }
    let mut reader = BufReader::with_capacity(READ_BUF_LEN, file);
    let mut header = [0u8; HEADER_LEN];
    reader
        .read_exact(&mut header)
        .map_err(|e| Error::io(path, "read", e))?;
    // create() writes the header and syncs before any record exists, so a zeroed header with nothing
    // after it can only be a crash inside create() on a file system that persisted the length first.
    if file_len == HEADER_LEN as u64 && header.iter().all(|&b| b == 0) {
        return Ok(torn_header("zero-filled file header"));
    }
    let (owner, file_id) = decode_header_owned(&header, path, kind)?;
    let id_crc = id_crc(file_id);

    let mut offset = HEADER_LEN as u64;
    let mut records = 0u64;
    let mut payload = Vec::new();
    let cut_reason = loop {
        let remaining = file_len - offset;
        if remaining == 0 {
            break None;
        }
        if remaining < FRAME_HEADER_LEN as u64 {
            break Some("incomplete record header");
        }
        let mut frame = [0u8; FRAME_HEADER_LEN];
        reader
            .read_exact(&mut frame)
            .map_err(|e| Error::io(path, "read", e))?;
        let [l0, l1, l2, l3, c0, c1, c2, c3] = frame;
        let len = u32::from_le_bytes([l0, l1, l2, l3]);
        let stored_crc = u32::from_le_bytes([c0, c1, c2, c3]);
        // Both checks come before the allocation: the length is not trusted yet.
        if len as usize > MAX_PAYLOAD_LEN {
            break Some("record length exceeds the maximum");
        }
        if u64::from(len) > remaining - FRAME_HEADER_LEN as u64 {
            break Some("incomplete record payload");
        }
        payload.resize(len as usize, 0);
        reader
            .read_exact(&mut payload)
            .map_err(|e| Error::io(path, "read", e))?;
        if frame_crc(id_crc, len, &[&payload]) != stored_crc {
            break Some("record checksum mismatch");
        }
        on_record(offset, &payload)?;
        records += 1;
        offset += (FRAME_HEADER_LEN + payload.len()) as u64;
    };
    Ok(Scanned {
        file_id: Some(file_id),
        owner,
        records,
        valid_len: offset,
        cut: cut_reason.map(|reason| Cut {
            offset,
            bytes: file_len - offset,
            reason,
        }),
    })
}

/// Whether a whole record that passes its checksum (and `accept`) starts anywhere after byte `from`
/// of the file at `path`. Tells a damaged record in the middle of a file (sound records follow it)
/// from a torn tail (nothing sound after it), which a crash can leave. Reads at most
/// [`RESYNC_MAX_BYTES`] after `from` and checksums at most [`RESYNC_MAX_HASHED`] bytes in all, so
/// garbage cannot make it slow; `false` when nothing was found within those limits.
pub(crate) fn record_follows(
    path: &Path,
    kind: FileKind,
    from: u64,
    accept: impl Fn(&[u8]) -> bool,
) -> Result<bool> {
    let mut file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let mut header = [0u8; HEADER_LEN];
    if file.read_exact(&mut header).is_err() {
        return Ok(false);
    }
    let Ok(file_id) = decode_header(&header, path, kind) else {
        return Ok(false);
    };
    let id_crc = id_crc(file_id);
    let start = from.max(HEADER_LEN as u64) + 1;
    file.seek(SeekFrom::Start(start))
        .map_err(|e| Error::io(path, "seek", e))?;
    let mut rest = Vec::new();
    file.take(RESYNC_MAX_BYTES)
        .read_to_end(&mut rest)
        .map_err(|e| Error::io(path, "read", e))?;
    let mut hashed = 0usize;
    for at in 0..rest.len().saturating_sub(FRAME_HEADER_LEN - 1) {
        let frame = &rest[at..at + FRAME_HEADER_LEN];
        let len = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]);
        let stored = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
        let body = at + FRAME_HEADER_LEN;
        let Some(payload) = rest.get(body..body + len as usize) else {
            continue;
        };
        hashed += payload.len();
        if hashed > RESYNC_MAX_HASHED {
            return Ok(false);
        }
        if frame_crc(id_crc, len, &[payload]) == stored && accept(payload) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Bytes [`record_follows`] reads past a bad record.
const RESYNC_MAX_BYTES: u64 = 256 << 20;
/// Bytes [`record_follows`] checksums at most while looking for a sound record.
const RESYNC_MAX_HASHED: usize = 1 << 30;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::fs;

    fn payload(seed: u64, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (seed.wrapping_mul(31).wrapping_add(i as u64 * 7) % 251) as u8)
            .collect()
    }

    /// Writes `payloads` into a fresh WAL file and returns its path and the record offsets.
    fn write_file(
        dir: &Path,
        name: &str,
        file_id: u64,
        payloads: &[Vec<u8>],
    ) -> (PathBuf, Vec<u64>) {
        let path = dir.join(name);
        let mut writer = RecordWriter::create(&path, FileKind::WAL, 0, file_id).unwrap();
        assert_eq!(writer.path(), path);
        assert_eq!(writer.file_id(), file_id);
        let offsets = payloads.iter().map(|p| writer.append(p).unwrap()).collect();
        writer.sync().unwrap();
        (path, offsets)
    }

    /// The records of `payloads` written at `offsets` whose frames end at or before `len`.
    fn complete_before(payloads: &[Vec<u8>], offsets: &[u64], len: u64) -> Vec<(u64, Vec<u8>)> {
        payloads
            .iter()
            .zip(offsets)
            .filter(|(p, &off)| off + (FRAME_HEADER_LEN + p.len()) as u64 <= len)
            .map(|(p, &off)| (off, p.clone()))
            .collect()
    }

    fn small_payloads() -> Vec<Vec<u8>> {
        [0usize, 1, 7, 0, 30, 3]
            .iter()
            .enumerate()
            .map(|(i, &len)| payload(i as u64, len))
            .collect()
    }

    #[test]
    fn layout_constants() {
        assert_eq!(
            (VERSION_AT, KIND_AT, RESERVED_AT, FILE_ID_AT, HEADER_CRC_AT),
            (8, 10, 11, 20, 28)
        );
        assert_eq!(FRAME_CRC_AT, 4);
        let header = encode_header(FileKind::NAMES, 0, 0x0102_0304_0506_0708);
        assert_eq!(&header[..8], b"\x89LAPLOG\n");
        assert_eq!(header[KIND_AT], 2);
        assert_eq!(
            &header[FILE_ID_AT..HEADER_CRC_AT],
            &[8, 7, 6, 5, 4, 3, 2, 1]
        );
        assert_eq!(
            decode_header(&header, Path::new("x"), FileKind::NAMES).unwrap(),
            0x0102_0304_0506_0708
        );
        // A zeroed frame header must not validate as an empty record for the ids tests use.
        for id in [0, 1, 2, u64::MAX] {
            assert_ne!(frame_crc(id_crc(id), 0, &[]), 0);
        }
    }

    #[test]
    fn round_trip_with_parts_and_empty_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("names");
        let mut writer = RecordWriter::create(&path, FileKind::NAMES, 0, 42).unwrap();
        assert_eq!(writer.len(), HEADER_LEN as u64);
        let a = writer.append(b"").unwrap();
        let b = writer.append_parts(&[b"ab", b"", b"cde"]).unwrap();
        let c = writer.append_parts(&[]).unwrap();
        writer.sync().unwrap();
        let end = writer.len();
        drop(writer);
        let recovered = read_records(&path, FileKind::NAMES).unwrap();
        assert_eq!(
            recovered,
            Recovered {
                file_id: Some(42),
                records: vec![(a, vec![]), (b, b"abcde".to_vec()), (c, vec![])],
                valid_len: end,
                cut: None,
            }
        );
        assert_eq!(fs::metadata(&path).unwrap().len(), end);
    }

    #[test]
    fn create_refuses_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = write_file(dir.path(), "wal", 1, &small_payloads());
        let before = fs::read(&path).unwrap();
        let err = RecordWriter::create(&path, FileKind::WAL, 0, 2)
            .err()
            .unwrap();
        assert!(matches!(err, Error::Io { op: "create", .. }), "{err}");
        assert_eq!(fs::read(&path).unwrap(), before);
    }

    #[test]
    fn reopen_after_recovery_cuts_the_tail_and_appends() {
        let dir = tempfile::tempdir().unwrap();
        let first = small_payloads();
        let (path, _) = write_file(dir.path(), "wal", 9, &first);
        // A torn record: a frame header promising more bytes than follow.
        let mut bytes = fs::read(&path).unwrap();
        let good_len = bytes.len() as u64;
        bytes.extend_from_slice(&100u32.to_le_bytes());
        bytes.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
        fs::write(&path, &bytes).unwrap();

        let recovered = read_records(&path, FileKind::WAL).unwrap();
        assert_eq!(recovered.records.len(), first.len());
        assert_eq!(recovered.valid_len, good_len);
        assert_eq!(
            recovered.cut,
            Some(Cut {
                offset: good_len,
                bytes: 10,
                reason: "incomplete record payload"
            })
        );

        let mut writer =
            RecordWriter::open_append(&path, FileKind::WAL, recovered.valid_len).unwrap();
        assert_eq!((writer.len(), writer.file_id()), (good_len, 9));
        let offset = writer.append(b"after").unwrap();
        assert_eq!(offset, good_len);
        writer.sync().unwrap();
        drop(writer);

        let again = read_records(&path, FileKind::WAL).unwrap();
        assert_eq!(again.cut, None);
        let payloads: Vec<Vec<u8>> = again.records.into_iter().map(|(_, p)| p).collect();
        let mut expected = first;
        expected.push(b"after".to_vec());
        assert_eq!(payloads, expected);

        // Reopening without a tail keeps everything.
        let writer = RecordWriter::open_append(&path, FileKind::WAL, again.valid_len).unwrap();
        assert_eq!(writer.len(), again.valid_len);
    }

    #[test]
    fn open_append_rejects_bad_arguments_and_headers() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = write_file(dir.path(), "wal", 5, &small_payloads());
        let len = fs::metadata(&path).unwrap().len();
        for valid_len in [0, HEADER_LEN as u64 - 1, len + 1] {
            let err = RecordWriter::open_append(&path, FileKind::WAL, valid_len)
                .err()
                .unwrap();
            assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
        }
        let err = RecordWriter::open_append(&path, FileKind::NAMES, len)
            .err()
            .unwrap();
        assert!(
            matches!(err, Error::Corrupt { offset, .. } if offset == KIND_AT as u64),
            "{err}"
        );
        let err = RecordWriter::open_append(&dir.path().join("missing"), FileKind::WAL, 32)
            .err()
            .unwrap();
        assert!(matches!(err, Error::Io { op: "open", .. }), "{err}");
        // Nothing was truncated by the failed attempts.
        assert_eq!(fs::metadata(&path).unwrap().len(), len);
    }

    #[test]
    fn truncation_at_every_offset_yields_the_complete_records() {
        let dir = tempfile::tempdir().unwrap();
        let payloads = small_payloads();
        let (path, offsets) = write_file(dir.path(), "wal", 77, &payloads);
        let bytes = fs::read(&path).unwrap();
        let cut_path = dir.path().join("cut");
        for len in 0..=bytes.len() {
            fs::write(&cut_path, &bytes[..len]).unwrap();
            let recovered = read_records(&cut_path, FileKind::WAL).unwrap();
            if len < HEADER_LEN {
                assert_eq!(recovered.file_id, None);
                assert_eq!(recovered.valid_len, 0);
                assert!(recovered.records.is_empty());
                let cut = recovered.cut.unwrap();
                assert_eq!((cut.offset, cut.bytes), (0, len as u64));
                continue;
            }
            let expected = complete_before(&payloads, &offsets, len as u64);
            let valid_len = expected.last().map_or(HEADER_LEN as u64, |(off, p)| {
                off + (FRAME_HEADER_LEN + p.len()) as u64
            });
            assert_eq!(recovered.file_id, Some(77));
            assert_eq!(recovered.records, expected, "truncated at {len}");
            assert_eq!(recovered.valid_len, valid_len);
            if valid_len == len as u64 {
                assert_eq!(recovered.cut, None);
            } else {
                let cut = recovered.cut.unwrap();
                assert_eq!((cut.offset, cut.bytes), (valid_len, len as u64 - valid_len));
                assert!(
                    cut.reason.starts_with("incomplete record"),
                    "{}",
                    cut.reason
                );
            }
        }
    }

    #[test]
    fn every_single_byte_flip_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let payloads = small_payloads();
        let (path, offsets) = write_file(dir.path(), "wal", 3, &payloads);
        let bytes = fs::read(&path).unwrap();
        let flipped_path = dir.path().join("flipped");
        for pos in 0..bytes.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut damaged = bytes.clone();
                damaged[pos] ^= mask;
                fs::write(&flipped_path, &damaged).unwrap();
                let result = read_records(&flipped_path, FileKind::WAL);
                if pos < HEADER_LEN {
                    let err = result.unwrap_err();
                    assert!(
                        matches!(err, Error::Corrupt { offset, .. } if offset < HEADER_LEN as u64),
                        "{err}"
                    );
                    continue;
                }
                // The damaged record is the last one starting at or before `pos`.
                let hit = offsets.iter().rposition(|&off| off <= pos as u64).unwrap();
                let recovered = result.unwrap();
                assert_eq!(
                    recovered.records,
                    complete_before(&payloads[..hit], &offsets[..hit], u64::MAX),
                    "flip {mask:#x} at {pos}"
                );
                let cut = recovered.cut.unwrap();
                assert_eq!(cut.offset, offsets[hit]);
                assert_eq!(cut.offset + cut.bytes, bytes.len() as u64);
            }
        }
    }

    #[test]
    fn records_from_another_file_id_never_validate() {
        let dir = tempfile::tempdir().unwrap();
        let payloads = small_payloads();
        let (a, _) = write_file(dir.path(), "a", 1, &payloads);
        let (b, b_offsets) = write_file(dir.path(), "b", 2, &payloads[..1]);
        let a_bytes = fs::read(&a).unwrap();
        let mut b_bytes = fs::read(&b).unwrap();
        // b's own record, then a's records byte for byte: the same layout, a different salt.
        b_bytes.extend_from_slice(&a_bytes[HEADER_LEN..]);
        fs::write(&b, &b_bytes).unwrap();
        let recovered = read_records(&b, FileKind::WAL).unwrap();
        assert_eq!(recovered.records, vec![(b_offsets[0], payloads[0].clone())]);
        let cut = recovered.cut.unwrap();
        assert_eq!(cut.reason, "record checksum mismatch");
        assert_eq!(cut.bytes, (a_bytes.len() - HEADER_LEN) as u64);
    }

    #[test]
    fn bad_headers_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let check = |bytes: &[u8], at: usize, reason: &str| {
            fs::write(&path, bytes).unwrap();
            match read_records(&path, FileKind::WAL) {
                Err(Error::Corrupt {
                    offset,
                    reason: got,
                    path: p,
                }) => {
                    assert_eq!((offset, p.as_path()), (at as u64, path.as_path()));
                    assert!(got.contains(reason), "{got}");
                }
                other => panic!("expected corrupt, got {other:?}"),
            }
        };
        let with_crc = |mut header: [u8; HEADER_LEN]| {
            let crc = crc32c(&header[..HEADER_CRC_AT]);
            header[HEADER_CRC_AT..].copy_from_slice(&crc.to_le_bytes());
            header
        };
        let good = encode_header(FileKind::WAL, 0, 11);

        check(&[b'x'; 100], MAGIC_AT, "bad magic");
        check(&[0; 33], MAGIC_AT, "bad magic");
        let mut h = good;
        h[FILE_ID_AT] ^= 1;
        check(&h, HEADER_CRC_AT, "checksum");
        let mut h = good;
        h[VERSION_AT] = 2;
        check(&with_crc(h), VERSION_AT, "version 2");
        check(
            &encode_header(FileKind::NAMES, 0, 11),
            KIND_AT,
            "wrong file kind 2",
        );
        let mut h = good;
        h[RESERVED_AT] = 1;
        check(&with_crc(h), RESERVED_AT, "reserved");
        // A directory (or device, FIFO) in a record file's place is never read as one.
        let err = read_records(dir.path(), FileKind::WAL).unwrap_err();
        assert!(
            matches!(&err, Error::Corrupt { reason, .. } if reason.contains("not a regular file")),
            "{err}"
        );
    }

    #[test]
    fn torn_create_is_an_empty_file_with_a_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        for bytes in [&[][..], &[0x89, b'L'][..], &[0; HEADER_LEN][..]] {
            fs::write(&path, bytes).unwrap();
            let mut calls = 0;
            let scanned = for_each_record(&path, FileKind::WAL, |_, _| {
                calls += 1;
                Ok(())
            })
            .unwrap();
            assert_eq!(calls, 0);
            assert_eq!(
                (scanned.file_id, scanned.records, scanned.valid_len),
                (None, 0, 0)
            );
            assert_eq!(scanned.cut.unwrap().bytes, bytes.len() as u64);
        }
    }

    #[test]
    fn zero_filled_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let payloads = small_payloads();
        let (path, _) = write_file(dir.path(), "wal", 0, &payloads);
        let mut bytes = fs::read(&path).unwrap();
        let good_len = bytes.len() as u64;
        bytes.resize(bytes.len() + 4096, 0);
        fs::write(&path, &bytes).unwrap();
        let recovered = read_records(&path, FileKind::WAL).unwrap();
        assert_eq!(recovered.records.len(), payloads.len());
        assert_eq!(
            recovered.cut,
            Some(Cut {
                offset: good_len,
                bytes: 4096,
                reason: "record checksum mismatch"
            })
        );
    }

    #[test]
    fn impossible_lengths_are_cut_without_allocating() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = write_file(dir.path(), "wal", 8, &[]);
        let header = fs::read(&path).unwrap();
        for len in [MAX_PAYLOAD_LEN as u32 + 1, u32::MAX] {
            let mut bytes = header.clone();
            bytes.extend_from_slice(&len.to_le_bytes());
            bytes.extend_from_slice(&[0; 12]);
            fs::write(&path, &bytes).unwrap();
            let recovered = read_records(&path, FileKind::WAL).unwrap();
            assert!(recovered.records.is_empty());
            assert_eq!(
                recovered.cut.unwrap().reason,
                "record length exceeds the maximum"
            );
        }
    }

    #[test]
    fn oversized_payload_is_refused_and_the_writer_stays_usable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let mut writer = RecordWriter::create(&path, FileKind::WAL, 0, 1).unwrap();
        let chunk = vec![0u8; 1 << 20];
        let parts: Vec<&[u8]> = vec![&chunk; MAX_PAYLOAD_LEN / chunk.len() + 1];
        let err = writer.append_parts(&parts).unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput { what: "record", .. }),
            "{err}"
        );
        assert!(!writer.has_failed());
        assert_eq!(writer.len(), HEADER_LEN as u64);
        writer.append(b"ok").unwrap();
        writer.sync().unwrap();
        assert_eq!(read_records(&path, FileKind::WAL).unwrap().records.len(), 1);
    }

    #[test]
    fn large_records_round_trip_and_release_the_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let big = payload(5, RETAINED_BUF_LEN + 10);
        let small = payload(6, 10);
        let (path, _) = write_file(dir.path(), "wal", 4, &[big.clone(), small.clone()]);
        let mut writer =
            RecordWriter::open_append(&path, FileKind::WAL, fs::metadata(&path).unwrap().len())
                .unwrap();
        writer.append(&big).unwrap();
        assert_eq!(writer.buf.capacity(), 0);
        drop(writer);
        let payloads: Vec<Vec<u8>> = read_records(&path, FileKind::WAL)
            .unwrap()
            .records
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        assert_eq!(payloads, vec![big.clone(), small, big]);
    }

    #[test]
    fn failed_sync_poisons_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let mut writer = RecordWriter::create(&path, FileKind::WAL, 0, 1).unwrap();
        writer.append(b"before").unwrap();
        writer.sync().unwrap();
        // Nothing new to sync: no fdatasync, so the injected failure stays armed.
        writer.fail_next_sync = true;
        writer.sync().unwrap();
        writer.append(b"unsynced").unwrap();
        let err = writer.sync().unwrap_err();
        assert!(
            matches!(
                err,
                Error::Io {
                    op: "fdatasync",
                    ..
                }
            ),
            "{err}"
        );
        assert!(writer.has_failed());
        // No retry: the next sync fails without asking the OS, and so does every append.
        let err = writer.sync().unwrap_err();
        assert!(err.to_string().contains("injected fsync failure"), "{err}");
        let err = writer.append(b"after").unwrap_err();
        assert!(matches!(err, Error::Io { op: "append", .. }), "{err}");
        assert!(writer.append_parts(&[b"x"]).is_err());
        drop(writer);
        let recovered = read_records(&path, FileKind::WAL).unwrap();
        assert_eq!(recovered.records.len(), 2);
    }

    #[test]
    fn callback_errors_stop_the_scan() {
        let dir = tempfile::tempdir().unwrap();
        let (path, offsets) = write_file(dir.path(), "wal", 1, &small_payloads());
        let mut seen = Vec::new();
        let err = for_each_record(&path, FileKind::WAL, |offset, _| {
            seen.push(offset);
            if seen.len() == 2 {
                return Err(Error::corrupt("replay", offset, "stop here"));
            }
            Ok(())
        })
        .unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
        assert_eq!(seen, offsets[..2]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn prop_round_trip(sizes in prop::collection::vec(0usize..3000, 0..40), id in any::<u64>()) {
            let dir = tempfile::tempdir().unwrap();
            let payloads: Vec<Vec<u8>> =
                sizes.iter().enumerate().map(|(i, &n)| payload(i as u64 ^ id, n)).collect();
            let (path, offsets) = write_file(dir.path(), "wal", id, &payloads);
            let recovered = read_records(&path, FileKind::WAL).unwrap();
            prop_assert_eq!(recovered.file_id, Some(id));
            prop_assert_eq!(recovered.cut, None);
            prop_assert_eq!(recovered.valid_len, fs::metadata(&path).unwrap().len());
            let expected: Vec<(u64, Vec<u8>)> = offsets.into_iter().zip(payloads).collect();
            prop_assert_eq!(recovered.records, expected);
        }

        #[test]
        fn prop_truncated_files_keep_exactly_the_whole_records(
            sizes in prop::collection::vec(0usize..300, 1..12),
            keep in any::<prop::sample::Index>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let payloads: Vec<Vec<u8>> =
                sizes.iter().enumerate().map(|(i, &n)| payload(i as u64, n)).collect();
            let (path, offsets) = write_file(dir.path(), "wal", 12, &payloads);
            let bytes = fs::read(&path).unwrap();
            let len = keep.index(bytes.len() + 1);
            fs::write(&path, &bytes[..len]).unwrap();
            let recovered = read_records(&path, FileKind::WAL).unwrap();
            let expected = if len < HEADER_LEN {
                Vec::new()
            } else {
                complete_before(&payloads, &offsets, len as u64)
            };
            prop_assert_eq!(recovered.records, expected);
            let cut_bytes = recovered.cut.map_or(0, |c| c.bytes);
            prop_assert_eq!(recovered.valid_len + cut_bytes, len as u64);
        }

        #[test]
        fn prop_garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("garbage");
            fs::write(&path, &bytes).unwrap();
            match read_records(&path, FileKind::WAL) {
                Ok(recovered) => {
                    prop_assert!(bytes.len() < HEADER_LEN || bytes.iter().all(|&b| b == 0));
                    prop_assert!(recovered.records.is_empty());
                }
                Err(err) => prop_assert!(matches!(err, Error::Corrupt { .. }), "{}", err),
            }
        }

        #[test]
        fn prop_garbage_after_a_valid_header_is_cut(
            tail in prop::collection::vec(any::<u8>(), 0..400),
            id in any::<u64>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let (path, _) = write_file(dir.path(), "wal", id, &[]);
            let mut bytes = fs::read(&path).unwrap();
            bytes.extend_from_slice(&tail);
            fs::write(&path, &bytes).unwrap();
            let recovered = read_records(&path, FileKind::WAL).unwrap();
            let cut_bytes = recovered.cut.map_or(0, |c| c.bytes);
            prop_assert_eq!(recovered.valid_len + cut_bytes, bytes.len() as u64);
            let consumed: usize = recovered.records.iter().map(|(_, p)| FRAME_HEADER_LEN + p.len()).sum();
            prop_assert_eq!(HEADER_LEN + consumed, recovered.valid_len as usize);
        }
    }
}
