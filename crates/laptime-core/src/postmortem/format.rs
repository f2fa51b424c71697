//! The byte format of a post-mortem file: encoding, sealing (compression, header, checksums) and
//! decoding, which checks every length and checksum and never panics.
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

use crate::encoding::varint::{read_varint, write_varint};
use crate::{Code, DecodeError, Event, Value};

use super::PostMortem;

const MAGIC: [u8; 8] = [0x89, b'L', b'T', b'S', b'N', b'A', b'P', b'\n'];
const VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 8 + 8 + 4 + 4;
/// Largest payload a reader accepts (a post-mortem is the last moments, not a whole store).
const MAX_RAW_LEN: u64 = 1 << 30;

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
