//! Export of events to Parquet (cargo feature `parquet`), readable by DuckDB, pandas/pyarrow and
//! Spark. One row per event, oldest first, in row groups of up to [`ROW_GROUP_ROWS`]:
//!
//! ```text
//! message laptime_event {
//!   required int64 start_ns (TIMESTAMP(NANOS, true));
//!   required binary name (STRING);
//!   required int64 duration_ns;
//!   required binary kind (STRING);      -- call | log
//!   optional binary status (STRING);    -- ok | error (calls)
//!   optional binary level (STRING);     -- trace .. fatal (logs)
//!   optional binary message (STRING);
//!   optional binary fields (JSON);      -- the schema-less fields as one JSON object
//! }
//! ```
//!
//! Pages are LZ4_RAW-compressed. `start_ns` is epoch nanoseconds; values past 2262 (beyond `i64`)
//! are clamped to `i64::MAX`.

use std::io::Write;
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

use crate::filter::Filter;
use crate::query::{self, EventsRequest, SortOrder};
use laptime_storage::scan::View;
use laptime_storage::{Code, Event, Value};
use laptime_storage::{Error, Result};

/// Events per row group (and per listing page read while writing).
pub const ROW_GROUP_ROWS: usize = 100_000;

const SCHEMA: &str = "
message laptime_event {
  required int64 start_ns (TIMESTAMP(NANOS, true));
  required binary name (STRING);
  required int64 duration_ns;
  required binary kind (STRING);
  optional binary status (STRING);
  optional binary level (STRING);
  optional binary message (STRING);
  optional binary fields (JSON);
}";

fn parquet_error(e: parquet::errors::ParquetError) -> Error {
    Error::InvalidInput {
        what: "parquet export",
        reason: e.to_string(),
    }
}

/// Write every event passing `filter` to `out` as Parquet, oldest first. `progress(events)` is
/// called after each row group. Returns the number of events written.
pub fn write_parquet<W: Write + Send>(
    view: &View,
    filter: &Filter,
    now_ns: u64,
    out: W,
    mut progress: impl FnMut(u64),
) -> Result<u64> {
    let schema = Arc::new(parse_message_type(SCHEMA).map_err(parquet_error)?);
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::LZ4_RAW)
            .set_created_by(format!("laptime {}", env!("CARGO_PKG_VERSION")))
            .build(),
    );
    let mut writer = SerializedFileWriter::new(out, schema, props).map_err(parquet_error)?;
    let mut cursor = None;
    let mut written = 0u64;
    loop {
        let page = query::events(
            view,
            &EventsRequest {
                filter: filter.clone(),
                now_ns,
                limit: ROW_GROUP_ROWS,
                cursor: cursor.take(),
                order: SortOrder::OldestFirst,
            },
        )?;
        if !page.events.is_empty() {
            let events: Vec<&Event> = page.events.iter().map(|l| &l.event).collect();
            write_row_group(&mut writer, &events)?;
            written += events.len() as u64;
            progress(written);
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    writer.close().map_err(parquet_error)?;
    Ok(written)
}

fn write_row_group<W: Write + Send>(
    writer: &mut SerializedFileWriter<W>,
    events: &[&Event],
) -> Result<()> {
    let starts: Vec<i64> = events
        .iter()
        .map(|e| i64::try_from(e.start_ns).unwrap_or(i64::MAX))
        .collect();
    let durations: Vec<i64> = events
        .iter()
        .map(|e| i64::try_from(e.duration_ns).unwrap_or(i64::MAX))
        .collect();
    let text = |s: &str| ByteArray::from(s.as_bytes().to_vec());
    let names: Vec<ByteArray> = events.iter().map(|e| text(&e.name)).collect();
    let kinds: Vec<ByteArray> = events
        .iter()
        .map(|e| text(if e.code.is_call() { "call" } else { "log" }))
        .collect();
    let status: Vec<Option<ByteArray>> = events
        .iter()
        .map(|e| match e.code {
            Code::CallOk => Some(text("ok")),
            Code::CallError => Some(text("error")),
            Code::Log(_) => None,
        })
        .collect();
    let level: Vec<Option<ByteArray>> = events
        .iter()
        .map(|e| match e.code {
            Code::Log(l) => Some(text(l.as_str())),
            _ => None,
        })
        .collect();
    let message: Vec<Option<ByteArray>> = events
        .iter()
        .map(|e| e.message.as_deref().map(text))
        .collect();
    let fields: Vec<Option<ByteArray>> = events
        .iter()
        .map(|e| (!e.fields.is_empty()).then(|| text(&fields_json(&e.fields))))
        .collect();

    let mut group = writer.next_row_group().map_err(parquet_error)?;
    let mut column = 0usize;
    while let Some(mut col) = group.next_column().map_err(parquet_error)? {
        match column {
            0 => write_required::<Int64Type>(&mut col, &starts)?,
            1 => write_required::<ByteArrayType>(&mut col, &names)?,
            2 => write_required::<Int64Type>(&mut col, &durations)?,
            3 => write_required::<ByteArrayType>(&mut col, &kinds)?,
            4 => write_optional(&mut col, &status)?,
            5 => write_optional(&mut col, &level)?,
            6 => write_optional(&mut col, &message)?,
            _ => write_optional(&mut col, &fields)?,
        }
        col.close().map_err(parquet_error)?;
        column += 1;
    }
    group.close().map_err(parquet_error)?;
    Ok(())
}

fn write_required<T: parquet::data_type::DataType>(
    col: &mut parquet::file::writer::SerializedColumnWriter<'_>,
    values: &[T::T],
) -> Result<()> {
    col.typed::<T>()
        .write_batch(values, None, None)
        .map_err(parquet_error)?;
    Ok(())
}

fn write_optional(
    col: &mut parquet::file::writer::SerializedColumnWriter<'_>,
    values: &[Option<ByteArray>],
) -> Result<()> {
    let present: Vec<ByteArray> = values.iter().flatten().cloned().collect();
    let levels: Vec<i16> = values.iter().map(|v| i16::from(v.is_some())).collect();
    col.typed::<ByteArrayType>()
        .write_batch(&present, Some(&levels), None)
        .map_err(parquet_error)?;
    Ok(())
}

/// The fields as a JSON object (keys sorted as the event holds them).
fn fields_json(fields: &[(String, Value)]) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(&mut out, k);
        out.push(':');
        match v {
            Value::I64(x) => out.push_str(&x.to_string()),
            // JSON has no NaN or infinities: those become strings.
            Value::F64(x) if x.is_finite() => out.push_str(&format!("{x:?}")),
            Value::F64(x) => json_string(&mut out, &x.to_string()),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Str(s) => json_string(&mut out, s),
        }
    }
    out.push('}');
    out
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_become_a_json_object() {
        let fields = vec![
            ("a\"b".to_string(), Value::Str("x\ny".into())),
            ("n".to_string(), Value::I64(-3)),
            ("r".to_string(), Value::F64(0.1)),
            ("nan".to_string(), Value::F64(f64::NAN)),
            ("ok".to_string(), Value::Bool(true)),
        ];
        assert_eq!(
            fields_json(&fields),
            r#"{"a\"b":"x\ny","n":-3,"r":0.1,"nan":"NaN","ok":true}"#
        );
    }
}
