//! Post-mortem files: the last moments of a process in one self-contained file, to attach to a
//! bug report. Taking one copies events out of the store (nothing is removed); the file holds names
//! and fields resolved, so it reads with no store beside it.
//!
//! File layout (integers little-endian):
//!
//! ```text
//! magic        8 bytes  89 'L' 'T' 'S' 'N' 'A' 'P' 0A
//! version      u32      1
//! raw_len      u64      length of the payload before compression
//! packed_len   u64      length of the compressed payload that follows
//! payload_crc  u32      CRC32C of the compressed payload
//! header_crc   u32      CRC32C of the 28 bytes above
//! payload      LZ4 block (lz4_flex) of:
//!   meta:   varint count, then (key, value) string pairs
//!   events: varint count, then per event: name, varint start_ns, varint duration_ns, u8 code,
//!           u8 has_message [message], varint field count, per field: key, u8 type, value
//!   strings: varint byte length + UTF-8; values: i64 zigzag varint, f64 8 bytes, bool u8, string
//! ```
//!
//! Files are written to a temporary name, fsynced, linked under a name no other post-mortem has (an
//! existing file is never replaced), and the directory is fsynced.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::encoding::varint::{read_varint, write_varint};
use crate::{Code, Event, Value};
use crate::{DecodeError, Error, Result};
use laptime_storage::durable;

const MAGIC: [u8; 8] = [0x89, b'L', b'T', b'S', b'N', b'A', b'P', b'\n'];
const VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 8 + 8 + 4 + 4;
/// Largest payload a reader accepts (a post-mortem is the last moments, not a whole store).
const MAX_RAW_LEN: u64 = 1 << 30;
/// File name extension of post-mortem files.
pub const EXTENSION: &str = "ltpm";
/// Extension of post-mortem files written before they were called post-mortems; still read.
pub const LEGACY_EXTENSION: &str = "ltsnap";
/// Directory of a store's post-mortem files, inside the store's directory.
pub const DIR: &str = "postmortems";

/// The options' old name.
#[deprecated(note = "renamed PostMortemOptions")]
pub type SnapshotOptions = PostMortemOptions;

/// A post-mortem: who, when, why, and the events.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PostMortem {
    /// Key/value facts: `service`, `host`, `pid`, `reason`, `time_ns`, `laptime`, `runtime`,
    /// `window`, and whatever the writer adds.
    pub meta: Vec<(String, String)>,
    /// The events, oldest first.
    pub events: Vec<Event>,
}

impl PostMortem {
    /// The value of meta key `key`.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.meta
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Encode `pm` as a complete post-mortem file.
pub fn encode(pm: &PostMortem) -> Vec<u8> {
    let mut raw = Vec::new();
    write_varint(&mut raw, pm.meta.len() as u64);
    for (k, v) in &pm.meta {
        put_str(&mut raw, k);
        put_str(&mut raw, v);
    }
    write_varint(&mut raw, pm.events.len() as u64);
    for e in &pm.events {
        put_str(&mut raw, &e.name);
        write_varint(&mut raw, e.start_ns);
        write_varint(&mut raw, e.duration_ns);
        raw.push(e.code.to_byte());
        match &e.message {
            Some(m) => {
                raw.push(1);
                put_str(&mut raw, m);
            }
            None => raw.push(0),
        }
        write_varint(&mut raw, e.fields.len() as u64);
        for (k, v) in &e.fields {
            put_str(&mut raw, k);
            raw.push(v.type_tag() as u8);
            match v {
                Value::I64(x) => write_varint(&mut raw, ((x << 1) ^ (x >> 63)) as u64),
                Value::F64(x) => raw.extend_from_slice(&x.to_le_bytes()),
                Value::Bool(b) => raw.push(u8::from(*b)),
                Value::Str(s) => put_str(&mut raw, s),
            }
        }
    }
    seal(&raw)
}

/// Compress an encoded payload and put the file header in front of it.
pub(crate) fn seal(raw: &[u8]) -> Vec<u8> {
    let packed = lz4_flex::block::compress(raw);
    let mut out = Vec::with_capacity(HEADER_LEN + packed.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(raw.len() as u64).to_le_bytes());
    out.extend_from_slice(&(packed.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&packed).to_le_bytes());
    let header_crc = crc32c::crc32c(&out);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(&packed);
    out
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    write_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Decode a post-mortem file's bytes. Every failure names what is wrong and where.
pub fn decode(bytes: &[u8]) -> std::result::Result<PostMortem, DecodeError> {
    let raw = checked_payload(bytes)?;
    decode_payload(&raw).map_err(|e| DecodeError::new(HEADER_LEN + e.offset, e.reason))
}

/// A post-mortem's facts and event count, for listings: the header and payload checksums are
/// verified and the payload decompressed as by [`decode`], but the events are not decoded.
pub fn decode_summary(
    bytes: &[u8],
) -> std::result::Result<(Vec<(String, String)>, u64), DecodeError> {
    let raw = checked_payload(bytes)?;
    let mut pos = 0usize;
    let meta = decode_meta(&raw, &mut pos)
        .map_err(|e| DecodeError::new(HEADER_LEN + e.offset, e.reason))?;
    let events = read_varint(&raw, &mut pos)
        .map_err(|e| DecodeError::new(HEADER_LEN + e.offset, e.reason))?;
    Ok((meta, events))
}

/// [`read`] for listings: see [`decode_summary`].
pub fn read_summary(path: &Path) -> Result<(Vec<(String, String)>, u64)> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, "read post-mortem", e))?;
    decode_summary(&bytes).map_err(|e| Error::corrupt(path, e.offset as u64, e.reason))
}

/// The decompressed payload of a post-mortem file whose header and checksums hold.
fn checked_payload(bytes: &[u8]) -> std::result::Result<Vec<u8>, DecodeError> {
    if bytes.len() < HEADER_LEN || bytes[..8] != MAGIC {
        return Err(DecodeError::new(
            0,
            "not a laptime post-mortem file (bad magic)",
        ));
    }
    let u32_at =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(b)
    };
    if crc32c::crc32c(&bytes[..HEADER_LEN - 4]) != u32_at(HEADER_LEN - 4) {
        return Err(DecodeError::new(
            HEADER_LEN - 4,
            "header checksum mismatch (the file is damaged)",
        ));
    }
    let version = u32_at(8);
    if version != VERSION {
        return Err(DecodeError::new(
            8,
            "post-mortem format version this laptime does not read",
        ));
    }
    let raw_len = u64_at(12);
    let packed_len = u64_at(20);
    if packed_len != (bytes.len() - HEADER_LEN) as u64 {
        return Err(DecodeError::new(
            20,
            "file length differs from the recorded payload length (truncated or extended)",
        ));
    }
    // LZ4 cannot expand more than 255x; anything claiming more is damage, not a big file.
    if raw_len > MAX_RAW_LEN || raw_len > packed_len.saturating_mul(255).saturating_add(16) {
        return Err(DecodeError::new(12, "implausible payload length"));
    }
    let packed = &bytes[HEADER_LEN..];
    if crc32c::crc32c(packed) != u32_at(28) {
        return Err(DecodeError::new(
            HEADER_LEN,
            "payload checksum mismatch (the file is damaged)",
        ));
    }
    lz4_flex::block::decompress(packed, raw_len as usize)
        .map_err(|_| DecodeError::new(HEADER_LEN, "payload does not decompress"))
}

fn read_count(raw: &[u8], pos: &mut usize) -> std::result::Result<usize, DecodeError> {
    let n = read_varint(raw, pos)?;
    // Every item takes at least one byte.
    if n > (raw.len() - *pos) as u64 {
        return Err(DecodeError::new(*pos, "count larger than the payload"));
    }
    Ok(n as usize)
}

fn read_string(raw: &[u8], pos: &mut usize) -> std::result::Result<String, DecodeError> {
    let n = read_varint(raw, pos)?;
    let end = pos
        .checked_add(usize::try_from(n).unwrap_or(usize::MAX))
        .filter(|&e| e <= raw.len())
        .ok_or(DecodeError::new(*pos, "string runs past the payload"))?;
    let s = std::str::from_utf8(&raw[*pos..end])
        .map_err(|_| DecodeError::new(*pos, "string is not UTF-8"))?
        .to_owned();
    *pos = end;
    Ok(s)
}

/// The meta pairs at the start of a payload.
fn decode_meta(
    raw: &[u8],
    pos: &mut usize,
) -> std::result::Result<Vec<(String, String)>, DecodeError> {
    let n = read_count(raw, pos)?;
    let mut meta = Vec::with_capacity(n);
    for _ in 0..n {
        let k = read_string(raw, pos)?;
        let v = read_string(raw, pos)?;
        meta.push((k, v));
    }
    Ok(meta)
}

fn decode_payload(raw: &[u8]) -> std::result::Result<PostMortem, DecodeError> {
    let mut pos = 0usize;
    let count = |pos: &mut usize| read_count(raw, pos);
    let string = |pos: &mut usize| read_string(raw, pos);
    let byte = |pos: &mut usize| -> std::result::Result<u8, DecodeError> {
        let b = *raw
            .get(*pos)
            .ok_or(DecodeError::new(*pos, "payload ends early"))?;
        *pos += 1;
        Ok(b)
    };
    let mut pm = PostMortem {
        meta: decode_meta(raw, &mut pos)?,
        events: Vec::new(),
    };
    let n = count(&mut pos)?;
    pm.events.reserve(n);
    for _ in 0..n {
        let name = string(&mut pos)?;
        let start_ns = read_varint(raw, &mut pos)?;
        let duration_ns = read_varint(raw, &mut pos)?;
        let at = pos;
        let code =
            Code::from_byte(byte(&mut pos)?).ok_or(DecodeError::new(at, "unknown event code"))?;
        let message = match byte(&mut pos)? {
            0 => None,
            1 => Some(string(&mut pos)?),
            _ => return Err(DecodeError::new(pos - 1, "bad message flag")),
        };
        let nf = count(&mut pos)?;
        let mut fields = Vec::with_capacity(nf);
        for _ in 0..nf {
            let key = string(&mut pos)?;
            let at = pos;
            let value = match byte(&mut pos)? {
                t if t == crate::ValueType::I64 as u8 => {
                    let z = read_varint(raw, &mut pos)?;
                    Value::I64(((z >> 1) as i64) ^ -((z & 1) as i64))
                }
                t if t == crate::ValueType::F64 as u8 => {
                    let b = raw
                        .get(pos..pos + 8)
                        .ok_or(DecodeError::new(pos, "payload ends early"))?;
                    pos += 8;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    Value::F64(f64::from_le_bytes(a))
                }
                t if t == crate::ValueType::Bool as u8 => Value::Bool(byte(&mut pos)? != 0),
                t if t == crate::ValueType::Str as u8 => Value::Str(string(&mut pos)?),
                _ => return Err(DecodeError::new(at, "unknown field type")),
            };
            fields.push((key, value));
        }
        pm.events.push(Event {
            name,
            start_ns,
            duration_ns,
            code,
            message,
            fields,
        });
    }
    if pos != raw.len() {
        return Err(DecodeError::new(pos, "trailing bytes after the events"));
    }
    Ok(pm)
}

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

/// What a post-mortem covers and where it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct PostMortemOptions {
    /// Directory of the post-mortem files (default: `postmortems/` in the store's directory).
    pub dir: Option<PathBuf>,
    /// Only events of the last this many seconds (default 60).
    pub last_seconds: u64,
    /// At most this many events, the newest (default 10,000; at most 100,000).
    pub last_events: usize,
    /// Name of the service (default: `$LAPTIME_SERVICE`, else the executable's name).
    pub service: Option<String>,
    /// What runs the process, e.g. `node v20.20.2` (default `rust`).
    pub runtime: String,
    /// More facts to record.
    pub meta: Vec<(String, String)>,
}

impl Default for PostMortemOptions {
    fn default() -> PostMortemOptions {
        PostMortemOptions {
            dir: None,
            last_seconds: 60,
            last_events: 10_000,
            service: None,
            runtime: "rust".into(),
            meta: Vec::new(),
        }
    }
}

/// Write a post-mortem of `store`: flush what was appended, copy the newest events of the window, and
/// write them with the facts of this process. The store keeps every event.
pub fn take(store: &crate::Store, reason: &str, opts: &PostMortemOptions) -> Result<PathBuf> {
    if opts.last_events == 0 || opts.last_events > crate::query::MAX_EVENTS_LIMIT {
        return Err(Error::InvalidOption {
            option: "last_events",
            reason: format!(
                "{} is outside 1..={}",
                opts.last_events,
                crate::query::MAX_EVENTS_LIMIT
            ),
        });
    }
    // Appended events must reach the writer's pages first; a failed writer still leaves what it
    // wrote readable, so a flush error does not stop the post-mortem.
    let flushed = store.flush();
    let now = crate::clock::now_ns();
    let since = now.saturating_sub(opts.last_seconds.saturating_mul(1_000_000_000));
    let view = store.view()?;
    let page = crate::query::events(
        &view,
        &crate::query::EventsRequest {
            filter: crate::filter::Filter {
                terms: vec![crate::filter::Term::Since(
                    crate::filter::TimeBound::EpochNs(since),
                )],
            },
            now_ns: now,
            limit: opts.last_events,
            cursor: None,
            order: crate::query::SortOrder::NewestFirst,
        },
    )?;
    let mut events: Vec<Event> = page.events.into_iter().map(|l| l.event).collect();
    events.reverse();
    let service = opts
        .service
        .clone()
        .or_else(|| std::env::var("LAPTIME_SERVICE").ok())
        .or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        })
        .unwrap_or_else(|| "unknown".into());
    let mut meta = vec![
        ("reason".to_string(), reason.to_string()),
        ("service".to_string(), service),
        ("host".to_string(), host_name()),
        ("pid".to_string(), std::process::id().to_string()),
        ("time_ns".to_string(), now.to_string()),
        ("time".to_string(), crate::filter::format_epoch_ns(now)),
        ("laptime".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ("runtime".to_string(), opts.runtime.clone()),
        ("store".to_string(), store.path().display().to_string()),
        (
            "window".to_string(),
            format!(
                "last {} s, at most {} events",
                opts.last_seconds, opts.last_events
            ),
        ),
    ];
    if let Err(e) = flushed {
        meta.push(("flush_error".into(), e.to_string()));
    }
    meta.extend(opts.meta.iter().cloned());
    let dir = opts.dir.clone().unwrap_or_else(|| store.path().join(DIR));
    write(&dir, &PostMortem { meta, events })
}

/// View `store` when a thread panics (reason `panic: <message> at <file:line>`), then run the
/// hook that was installed before. The post-mortem includes the events still buffered by every
/// thread's [`mod@crate::capture`] (and so the tracing layer). It runs on its own thread and is waited
/// for at most `timeout`, so a panic inside laptime (holding one of its locks) can never hang the
/// process.
pub fn install_panic_hook(
    store: crate::Store,
    opts: PostMortemOptions,
    timeout: std::time::Duration,
) {
    use std::sync::atomic::AtomicBool;
    static TAKING: AtomicBool = AtomicBool::new(false);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // One post-mortem at a time; a panic while writing one (or in another thread meanwhile) skips.
        if !TAKING.swap(true, Ordering::AcqRel) {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            let at = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let reason = format!("panic: {message}{at}");
            let (store, opts) = (store.clone(), opts.clone());
            let (tx, rx) = std::sync::mpsc::channel();
            let spawned = std::thread::Builder::new()
                .name("laptime-postmortem".into())
                .spawn(move || {
                    // Events still in threads' capture buffers (and so the tracing layer's)
                    // belong in the post-mortem; a buffer in use past half the budget is skipped.
                    crate::capture::hand_over_all(timeout / 2);
                    let _ = tx.send(take(&store, &reason, &opts));
                });
            if spawned.is_ok() {
                let _ = rx.recv_timeout(timeout);
            }
            TAKING.store(false, Ordering::Release);
        }
        previous(info);
    }));
}

/// Load the events of a post-mortem into a fresh store at `dir` (for tools that read post-mortems with
/// the query engine: `laptime view`, the dashboard). Returns the number of events.
pub fn import(pm: &PostMortem, dir: &Path) -> Result<u64> {
    let store = crate::Store::open(
        dir,
        crate::Options {
            sync: crate::SyncPolicy::None,
            overflow: crate::Overflow::Block {
                timeout: std::time::Duration::from_secs(60),
            },
            ..crate::Options::default()
        },
    )?;
    let mut batch = crate::Batch::default();
    for e in &pm.events {
        let row = batch.push(store.intern(&e.name)?, e.start_ns, e.duration_ns, e.code);
        if let Some(m) = &e.message {
            batch.set_message(row, m)?;
        }
        for (k, v) in &e.fields {
            batch.add_field_at(row, store.intern(k)?, v.clone())?;
        }
        if batch.len() >= 4096 {
            store.append(std::mem::take(&mut batch));
        }
    }
    if !batch.is_empty() {
        store.append(batch);
    }
    let dropped = store.counters().dropped;
    store.close()?;
    if dropped > 0 {
        return Err(Error::InvalidInput {
            what: "post-mortem import",
            reason: format!("{dropped} events could not be stored"),
        });
    }
    Ok(pm.events.len() as u64)
}

/// The machine's host name (Linux: the kernel's; elsewhere `$HOSTNAME`), or `unknown`.
pub fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Level;

    fn sample() -> PostMortem {
        PostMortem {
            meta: vec![
                ("reason".into(), "uncaught TypeError".into()),
                ("pid".into(), "42".into()),
            ],
            events: vec![
                Event {
                    name: "Users.find".into(),
                    start_ns: 1_795_000_000_000_000_000,
                    duration_ns: 1_234_567,
                    code: Code::CallError,
                    message: None,
                    fields: vec![
                        ("error".into(), Value::Str("TypeError".into())),
                        ("n".into(), Value::I64(-7)),
                        ("r".into(), Value::F64(0.25)),
                        ("ok".into(), Value::Bool(false)),
                    ],
                },
                Event {
                    name: "log".into(),
                    start_ns: 1_795_000_000_000_000_001,
                    duration_ns: 0,
                    code: Code::Log(Level::Fatal),
                    message: Some("dying ✝".into()),
                    fields: vec![],
                },
            ],
        }
    }

    #[test]
    fn round_trips() {
        let pm = sample();
        assert_eq!(decode(&encode(&pm)).unwrap(), pm);
        assert_eq!(
            decode(&encode(&PostMortem::default())).unwrap(),
            PostMortem::default()
        );
    }

    #[test]
    fn every_damaged_byte_and_every_truncation_is_a_clear_error() {
        let bytes = encode(&sample());
        for i in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] ^= flip;
                let err = decode(&b).expect_err("a flipped byte must not decode");
                assert!(!err.reason.is_empty());
            }
            assert!(decode(&bytes[..i]).is_err(), "truncated to {i} bytes");
        }
    }

    #[test]
    fn a_summary_is_the_facts_and_count_and_checks_the_whole_file() {
        let pm = sample();
        let bytes = encode(&pm);
        assert_eq!(decode_summary(&bytes).unwrap(), (pm.meta.clone(), 2));
        // Damage past the meta (in the last event) is still found: the checksum covers it all.
        let mut b = bytes.clone();
        let last = b.len() - 1;
        b[last] ^= 0x01;
        assert!(decode_summary(&b).is_err());
        assert!(decode_summary(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn writes_never_replace_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..20)
            .map(|_| write(dir.path(), &sample()).unwrap())
            .collect();
        let mut unique = paths.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 20);
        for p in &paths {
            assert_eq!(read(p).unwrap(), sample());
        }
        let leftovers = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with('.')
            })
            .count();
        assert_eq!(leftovers, 0, "no temp files remain");
    }
}
