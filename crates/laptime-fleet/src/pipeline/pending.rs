//! The indexer's pending log: messages taken from Kafka whose offsets are not known to be
//! committed yet, durable in the indexer's directory. An indexer writes each message here, syncs
//! the log, commits the offsets, and only then stores the messages' events; so what its store
//! holds is exactly what its commits claimed, and a message it held when it died is stored by it
//! (its commit took effect: [`super::ledger`] says so) or by whoever reads the partition next,
//! never by both (ARCHITECTURE.md "The fleet").
//!
//! ```text
//! per record: u32 LE body length | u32 LE CRC32C of the body | body:
//!             i32 LE partition | i64 LE offset | the message payload
//! ```
//!
//! Records are only appended, then the file is cut back to the ones still pending once the others
//! are settled. A record cut short or failing its checksum ends the log: it was written after the
//! last sync, so no commit claimed it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use laptime_storage::durable;
use laptime_storage::Error;

/// File name in the indexer's directory.
pub const FILE_NAME: &str = "index-pending";
const HEAD: usize = 8;
const BODY_FIXED: usize = 12;
/// A bound for reading the log back (its records are one commit interval of messages).
const MAX_FILE_BYTES: u64 = 4 << 30;

/// One message as the log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub payload: Vec<u8>,
}

/// What [`PendingLog::open`] found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The records, in the order written.
    pub records: Vec<Record>,
    /// A tail that ended the log: (its offset in the file, bytes, why).
    pub ignored: Option<(u64, u64, &'static str)>,
}

/// The log file, open for appending.
#[derive(Debug)]
pub struct PendingLog {
    path: PathBuf,
    file: File,
}

impl PendingLog {
    /// Open (creating it when absent) the log in `dir` and read back what it holds.
    pub fn open(dir: &Path) -> Result<(PendingLog, Loaded), Error> {
        let path = dir.join(FILE_NAME);
        let loaded = match durable::read_bounded(&path, MAX_FILE_BYTES) {
            Ok(bytes) => parse(&bytes),
            Err(e) if e.io_kind() == Some(std::io::ErrorKind::NotFound) => Loaded::default(),
            Err(e) => return Err(e),
        };
        let file = open_append(&path)?;
        let mut log = PendingLog { path, file };
        if loaded.ignored.is_some() {
            // Cut the unusable tail now, so later records are not written behind it.
            log.rewrite(loaded.records.iter())?;
        }
        Ok((log, loaded))
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one message (durable only after [`PendingLog::sync`]).
    pub fn append(&mut self, partition: i32, offset: i64, payload: &[u8]) -> Result<(), Error> {
        let mut out = Vec::with_capacity(HEAD + BODY_FIXED + payload.len());
        encode_into(&mut out, partition, offset, payload);
        self.file
            .write_all(&out)
            .map_err(|e| Error::io(&self.path, "append", e))
    }

    /// Make everything appended durable. A failure is final (see `durable::sync_data`): the caller
    /// stops.
    pub fn sync(&mut self) -> Result<(), Error> {
        durable::sync_data(&self.file, &self.path)
    }

    /// Replace the log's content with `keep`, durably (atomically when something is kept).
    pub fn rewrite<'a>(&mut self, keep: impl Iterator<Item = &'a Record>) -> Result<(), Error> {
        let mut bytes = Vec::new();
        for r in keep {
            encode_into(&mut bytes, r.partition, r.offset, &r.payload);
        }
        if bytes.is_empty() {
            self.file
                .set_len(0)
                .map_err(|e| Error::io(&self.path, "truncate", e))?;
            // sync_all: the new length is metadata, and a log that came back after a crash would
            // settle its records again (harmless for stored ones, wrong for those given away).
            return self
                .file
                .sync_all()
                .map_err(|e| Error::io(&self.path, "fsync", e));
        }
        durable::write_atomic(&self.path, &bytes)?;
        self.file = open_append(&self.path)?;
        Ok(())
    }
}

fn open_append(path: &Path) -> Result<File, Error> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, "open", e))
}

fn encode_into(out: &mut Vec<u8>, partition: i32, offset: i64, payload: &[u8]) {
    let body_len = BODY_FIXED + payload.len();
    let start = out.len();
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&partition.to_le_bytes());
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32c::crc32c(&out[start + HEAD..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn parse(bytes: &[u8]) -> Loaded {
    let mut loaded = Loaded::default();
    let mut at = 0usize;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let stop = |why| Some((at as u64, rest.len() as u64, why));
        if rest.len() < HEAD + BODY_FIXED {
            loaded.ignored = stop("a record cut short");
            break;
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if len < BODY_FIXED || rest.len() - HEAD < len {
            loaded.ignored = stop("a record cut short");
            break;
        }
        let body = &rest[HEAD..HEAD + len];
        if crc32c::crc32c(body) != crc {
            loaded.ignored = stop("a record failing its checksum");
            break;
        }
        let partition = i32::from_le_bytes([body[0], body[1], body[2], body[3]]);
        let mut o = [0u8; 8];
        o.copy_from_slice(&body[4..12]);
        loaded.records.push(Record {
            partition,
            offset: i64::from_le_bytes(o),
            payload: body[BODY_FIXED..].to_vec(),
        });
        at += HEAD + len;
    }
    loaded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(partition: i32, offset: i64, payload: &[u8]) -> Record {
        Record {
            partition,
            offset,
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn records_read_back_in_order_and_a_rewrite_keeps_only_what_it_is_given() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut log, loaded) = PendingLog::open(tmp.path()).unwrap();
        assert!(loaded.records.is_empty() && loaded.ignored.is_none());
        let rs = [
            record(0, 5, b"five"),
            record(2, 9, b""),
            record(0, 6, &[7; 1000]),
        ];
        for r in &rs {
            log.append(r.partition, r.offset, &r.payload).unwrap();
        }
        log.sync().unwrap();
        drop(log);
        let (mut log, loaded) = PendingLog::open(tmp.path()).unwrap();
        assert_eq!(loaded.records, rs);
        log.rewrite([&rs[1]].into_iter()).unwrap();
        log.append(3, 1, b"after").unwrap();
        drop(log);
        let (mut log, loaded) = PendingLog::open(tmp.path()).unwrap();
        assert_eq!(loaded.records, [rs[1].clone(), record(3, 1, b"after")]);
        log.rewrite(std::iter::empty()).unwrap();
        assert_eq!(std::fs::metadata(log.path()).unwrap().len(), 0);
        drop(log);
        assert!(PendingLog::open(tmp.path()).unwrap().1.records.is_empty());
    }

    #[test]
    fn a_torn_or_damaged_tail_ends_the_log_is_reported_and_cut() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(FILE_NAME);
        let (mut log, _) = PendingLog::open(tmp.path()).unwrap();
        log.append(1, 10, b"kept").unwrap();
        log.append(1, 11, b"lost").unwrap();
        drop(log);
        let whole = std::fs::read(&path).unwrap();
        let first = HEAD + BODY_FIXED + 4;
        for (cut, why) in [
            (whole.len() - 1, "cut short"),
            (first + 3, "cut short"),
            (first + HEAD + 2, "cut short"),
        ] {
            std::fs::write(&path, &whole[..cut]).unwrap();
            let (_, loaded) = PendingLog::open(tmp.path()).unwrap();
            assert_eq!(loaded.records, [record(1, 10, b"kept")], "cut at {cut}");
            let (at, bytes, reason) = loaded.ignored.unwrap();
            assert_eq!((at, bytes), (first as u64, (cut - first) as u64));
            assert!(reason.contains(why), "{reason}");
            assert_eq!(
                std::fs::metadata(&path).unwrap().len(),
                first as u64,
                "tail cut"
            );
        }
        let mut flipped = whole.clone();
        *flipped.last_mut().unwrap() ^= 0x40;
        std::fs::write(&path, &flipped).unwrap();
        let (_, loaded) = PendingLog::open(tmp.path()).unwrap();
        assert_eq!(loaded.records.len(), 1);
        assert!(loaded.ignored.unwrap().2.contains("checksum"));
        // A length field claiming more than the file holds, or less than a body needs.
        for len in [u32::MAX, 3] {
            let mut bad = whole[..first].to_vec();
            bad.extend_from_slice(&len.to_le_bytes());
            bad.extend_from_slice(&whole[first + 4..]);
            std::fs::write(&path, &bad).unwrap();
            let (_, loaded) = PendingLog::open(tmp.path()).unwrap();
            assert_eq!(loaded.records.len(), 1, "length {len}");
            assert!(loaded.ignored.is_some());
        }
    }
}
