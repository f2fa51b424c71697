//! The arguments of one `append` call (struct-of-arrays typed arrays, borrowed without copying from
//! JS) to a core [`Batch`].

use laptime_core::{Batch, Rejections};

use crate::errors::Malformed;
use crate::fields::{self, FieldSlices};
use crate::time::{self, EpochMs};

/// The dense columns of a batch as JS hands them over; only the first `count` entries are events.
pub(crate) struct Columns<'a> {
    pub(crate) names: &'a [u32],
    pub(crate) start_offsets_ms: &'a [f64],
    pub(crate) durations_ms: &'a [f64],
    pub(crate) codes: &'a [u8],
}

/// Highest code byte an event can have (2 + fatal).
const MAX_CODE: u8 = 7;

/// The batch of the valid events among the first `count` of `cols`, and the events refused (a
/// start that is no time between 1970 and 2554, a negative or NaN duration, an unknown code): an
/// invalid event costs only itself. Starts are `origin_ms + startOffsetsMs[i]` in epoch ns;
/// messages and fields come from `field_cols` (see [`fields`]). A call whose arguments do not fit
/// together (count beyond the arrays, a bad origin, field columns that do not fit) is malformed as a
/// whole: no event of it can be placed.
pub(crate) fn from_js(
    cols: &Columns<'_>,
    count: u32,
    origin_ms: f64,
    field_cols: Option<&FieldSlices<'_>>,
    spare: Batch,
) -> Result<(Batch, Rejections), Malformed> {
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
    let origin = check_origin(origin_ms)?;
    if let Some(batch) = usual_rows(cols, n, origin, spare)? {
        let batch = with_fields(batch, field_cols)?;
        return Ok((batch, Rejections::default()));
    }
    row_by_row(cols, n, origin, field_cols)
}

/// The origin of a batch's start offsets, or why `origin_ms` cannot be one.
pub(crate) fn check_origin(origin_ms: f64) -> Result<EpochMs, Malformed> {
    EpochMs::new(origin_ms).ok_or_else(|| {
        Malformed(format!(
            "originMs must be epoch milliseconds (finite, >= 0), got {origin_ms}"
        ))
    })
}

/// [`from_js`] one row at a time, naming what is wrong with each refused one: for batches
/// [`usual_rows`] does not take.
fn row_by_row(
    cols: &Columns<'_>,
    n: usize,
    origin: EpochMs,
    field_cols: Option<&FieldSlices<'_>>,
) -> Result<(Batch, Rejections), Malformed> {
    let mut rejected = Rejections::default();
    let mut drop = Vec::with_capacity(n);
    let mut starts = Vec::with_capacity(n);
    let mut durations = Vec::with_capacity(n);
    let mut codes = Vec::with_capacity(n);
    let rows = cols.start_offsets_ms[..n]
        .iter()
        .zip(&cols.durations_ms[..n])
        .zip(&cols.codes[..n]);
    for (i, ((&offset, &duration), &code)) in rows.enumerate() {
        let start = origin.plus_ns(offset);
        // A refused row keeps a placeholder until the fields are attached to their rows.
        starts.push(start.unwrap_or(0));
        durations.push(time::duration_ns(duration));
        codes.push(if code > MAX_CODE { 0 } else { code });
        let why = if start.is_none() {
            Some(format!(
                "startOffsetsMs[{i}] = {offset} does not give a start time between 1970 and 2554"
            ))
        } else if duration.is_nan() || duration < 0.0 || duration == f64::INFINITY {
            Some(format!(
                "durationsMs[{i}] = {duration} is not a duration (finite, >= 0)"
            ))
        } else if code > MAX_CODE {
            Some(format!(
                "codes[{i}] = {code} is no event code (0..={MAX_CODE})"
            ))
        } else {
            None
        };
        drop.push(why.is_some());
        if let Some(why) = why {
            rejected.add(|| why);
        }
    }
    let mut batch = with_fields(
        Batch::from_columns(cols.names[..n].to_vec(), starts, durations, codes)?,
        field_cols,
    )?;
    batch.remove_rows(&drop);
    Ok((batch, rejected))
}

/// The batch when every one of the first `n` rows is valid and starts at or after the origin's
/// whole millisecond (the usual case), else `None`: then [`row_by_row`] builds it and says what
/// is wrong. Hot: it runs once per captured call. Each column is converted in its
/// own branch-free loop into a vector sized once (no capacity check per row, nothing else kept
/// per row), with one flag for "the fast path holds".
fn usual_rows(
    cols: &Columns<'_>,
    n: usize,
    origin: EpochMs,
    spare: Batch,
) -> Result<Option<Batch>, Malformed> {
    let mut fast = true;
    // Built in the memory of a batch the writer has stored (Store::spare_batch) when there is one.
    let (mut names, mut starts, mut durations, mut codes) = spare.into_columns();
    names.clear();
    starts.clear();
    durations.clear();
    codes.clear();
    starts.extend(cols.start_offsets_ms[..n].iter().map(|&offset| {
        let (ns, ok) = origin.plus_ns_forward(offset);
        fast &= ok;
        ns
    }));
    durations.extend(cols.durations_ms[..n].iter().map(|&duration| {
        let (ns, ok) = time::duration_ns_checked(duration);
        fast &= ok;
        ns
    }));
    // The largest code, not a per-row test: this loop vectorizes.
    fast &= cols.codes[..n].iter().fold(0u8, |max, &code| max.max(code)) <= MAX_CODE;
    if !fast {
        return Ok(None);
    }
    names.extend_from_slice(&cols.names[..n]);
    codes.extend_from_slice(&cols.codes[..n]);
    let batch = Batch::from_columns(names, starts, durations, codes)?;
    Ok(Some(batch))
}

/// `batch` with the messages and fields of `field_cols` attached to their rows.
fn with_fields(mut batch: Batch, field_cols: Option<&FieldSlices<'_>>) -> Result<Batch, Malformed> {
    if let Some(cols) = field_cols {
        fields::apply(&mut batch, cols)?;
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Converts the same columns on both paths; they must agree to the nanosecond.
    fn both_paths(starts: &[f64], durations: &[f64], codes: &[u8], origin_ms: f64) -> Batch {
        let names: Vec<u32> = (0..starts.len() as u32).collect();
        let cols = Columns {
            names: &names,
            start_offsets_ms: starts,
            durations_ms: durations,
            codes,
        };
        let origin = EpochMs::new(origin_ms).unwrap();
        let n = starts.len();
        let (slow, refused) = row_by_row(&cols, n, origin, None).unwrap();
        assert!(refused.is_empty());
        let (batch, refused) = from_js(&cols, n as u32, origin_ms, None, Batch::default()).unwrap();
        assert!(refused.is_empty());
        assert_eq!(batch, slow);
        // Built in a spare batch that still holds other events: none of them stays.
        let mut spare = Batch::default();
        spare.push_call(9, 5, 5, false);
        spare.push_log(8, 6, laptime_core::Level::Warn, "old");
        let (reused, _) = from_js(&cols, n as u32, origin_ms, None, spare).unwrap();
        assert_eq!(reused, slow);
        batch
    }

    #[test]
    fn the_usual_path_gives_what_the_row_by_row_path_gives() {
        let origin = 1_700_000_000_000.5;
        let starts = [0.0, 0.000_000_4, 0.000_000_6, 1_234.567_891, 3.6e9, 17.25];
        let durations = [0.0, -0.0, 0.000_000_5, 0.0123, 1.5, 8.9e12];
        let codes = [0, 1, 2, 3, 4, 7];
        assert!(usual_rows(
            &Columns {
                names: &[1; 6],
                start_offsets_ms: &starts,
                durations_ms: &durations,
                codes: &codes
            },
            6,
            EpochMs::new(origin).unwrap(),
            Batch::default()
        )
        .unwrap()
        .is_some());
        let batch = both_paths(&starts, &durations, &codes, origin);
        assert_eq!(batch.starts()[3], 1_700_000_001_235_067_891);
        assert_eq!(
            batch.durations(),
            &[0, 0, 1, 12_300, 1_500_000, 8_900_000_000_000_000_000]
        );
        assert_eq!(batch.codes(), &codes);
        // Valid rows the usual path leaves to the other: a start before the origin's whole
        // millisecond (an explicit epoch start), a duration beyond its range.
        for (starts, durations) in [([5.0, -0.75], [1.0, 1.0]), ([5.0, 6.0], [1.0, 1e13])] {
            let cols = Columns {
                names: &[1, 1],
                start_offsets_ms: &starts,
                durations_ms: &durations,
                codes: &[0, 0],
            };
            assert!(
                usual_rows(&cols, 2, EpochMs::new(origin).unwrap(), Batch::default())
                    .unwrap()
                    .is_none()
            );
            assert_eq!(both_paths(&starts, &durations, &[0, 0], origin).len(), 2);
        }
    }

    #[test]
    fn invalid_rows_are_refused_alone_and_fields_follow_their_rows() {
        let names = [1, 1, 1, 1, 1];
        let starts = [0.0, f64::NAN, 1.0, -1e15, 2.0];
        let durations = [1.0, 1.0, -1.0, 1.0, 1.0];
        let codes = [0, 0, 0, 0, 9];
        let cols = Columns {
            names: &names,
            start_offsets_ms: &starts,
            durations_ms: &durations,
            codes: &codes,
        };
        let text: Vec<u16> = "ac".encode_utf16().collect();
        let extra = FieldSlices {
            rows: &[0, 1, 2, 4],
            keys: &[0, 7, 0, 7],
            tags: &[5, 0, 5, 0],
            nums: &[1.0, 1.0, 1.0, 4.0],
            count: 4,
            text: &text,
        };
        let (batch, rejected) = from_js(
            &cols,
            5,
            1_700_000_000_000.0,
            Some(&extra),
            Batch::default(),
        )
        .unwrap();
        assert_eq!(batch.len(), 1);
        assert_eq!(batch.starts(), &[1_700_000_000_000_000_000]);
        assert_eq!(batch.messages(), &[(0, "a".to_owned())]);
        assert_eq!(batch.field_count(), 0);
        assert_eq!(rejected.count, 4);
        assert_eq!(
            rejected.first.as_deref(),
            Some("startOffsetsMs[1] = NaN does not give a start time between 1970 and 2554")
        );
        let err = from_js(&cols, 6, 1_700_000_000_000.0, None, Batch::default()).unwrap_err();
        assert!(err.0.contains("count 6 exceeds"), "{}", err.0);
    }
}
