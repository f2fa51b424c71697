//! The arguments of one `append` call (struct-of-arrays typed arrays, borrowed without copying from
//! JS) to a core [`Batch`].

use laptime_core::Batch;

use crate::errors::Malformed;
use crate::extras;
use crate::time::{self, EpochMs};

/// The dense columns of a batch as JS hands them over; only the first `count` entries are events.
pub(crate) struct Columns<'a> {
    pub(crate) names: &'a [u32],
    pub(crate) start_offsets_ms: &'a [f64],
    pub(crate) durations_ms: &'a [f64],
    pub(crate) codes: &'a [u8],
}

/// The batch of the first `count` events of `cols`. Starts are `origin_ms + startOffsetsMs[i]` in
/// epoch ns; messages and fields come from `extras_json` (see [`extras`]).
pub(crate) fn from_js(
    cols: &Columns<'_>,
    count: u32,
    origin_ms: f64,
    extras_json: Option<&str>,
) -> Result<Batch, Malformed> {
    let n = count as usize;
    for (what, len) in [
        ("names", cols.names.len()),
        ("startOffsetsMs", cols.start_offsets_ms.len()),
        ("durationsMs", cols.durations_ms.len()),
        ("codes", cols.codes.len()),
    ] {
        if n > len {
            return Err(Malformed(format!(
                "count {n} exceeds the length of {what} ({len})"
            )));
        }
    }
    let origin = EpochMs::new(origin_ms).ok_or_else(|| {
        Malformed(format!(
            "originMs must be epoch milliseconds (finite, >= 0), got {origin_ms}"
        ))
    })?;
    let starts = cols.start_offsets_ms[..n]
        .iter()
        .enumerate()
        .map(|(i, &offset)| {
            origin.plus_ns(offset).ok_or_else(|| {
                Malformed(format!(
                    "startOffsetsMs[{i}] = {offset} does not give a start time between 1970 and 2554"
                ))
            })
        })
        .collect::<Result<Vec<u64>, Malformed>>()?;
    let durations = cols.durations_ms[..n]
        .iter()
        .map(|&d| time::duration_ns(d))
        .collect();
    let mut batch = Batch::from_columns(
        cols.names[..n].to_vec(),
        starts,
        durations,
        cols.codes[..n].to_vec(),
    )?;
    if let Some(json) = extras_json {
        extras::apply(&mut batch, json)?;
    }
    Ok(batch)
}
