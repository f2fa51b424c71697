//! The one duration grammar and the one time grammar. Filters (`duration>`, `since:`, `until:`),
//! bucket widths, the builder, the CLI and the HTTP API all read durations and times through here.
//!
//! Duration: a number (integer or decimal) directly followed by a unit: `ns`, `us` (`µs`), `ms`,
//! `s`, `m`, `h`, `d` (24 h), `w` (7 d). Exact to the nanosecond; finer fractions and values above
//! 2^64-1 ns (about 584 years) are errors.
//!
//! Time: `now`; a duration before now (`7d`, also written `-7d`); epoch milliseconds (`1732269600000`,
//! up to 6 decimals); or ISO 8601: `2026-11-22` (UTC midnight) or `2026-11-22T10:00[:00[.5]]` with
//! `Z` or an offset (`+01:00`, `+0100`, `+01`). A date-time without a zone is refused: it would be
//! read as local time by some tools and UTC by others.

use super::{ErrorCode, TimeBound};

pub(super) const DURATION: &str = "a duration such as 10ms";
pub(super) const TIME: &str =
    "a time such as now, 1h, 7d, 2026-11-22T10:00:00Z or epoch milliseconds";
pub(super) const ISO: &str =
    "an ISO-8601 time such as 2026-11-22, 2026-11-22T10:00:00Z or 2026-11-22T11:00:00+01:00";
const DURATION_RANGE: &str = "a duration of at most 2^64-1 ns (about 584 years)";
const TIME_RANGE: &str = "a time from 1970 to 2554-07-21";
const FRACTION: &str = "a duration in whole nanoseconds";
const ZONE: &str = "a time zone after the time (Z or an offset such as +01:00)";

/// Why a duration or time did not parse: the kind, and what would have been valid.
pub(super) type Failure = (ErrorCode, &'static str);

/// Units, largest first (the order [`super::DurationText`] tries them in).
pub(super) const UNITS: [(&str, u64); 8] = [
    ("w", 7 * 86_400_000_000_000),
    ("d", 86_400_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

/// Nanoseconds of a duration; a bare `0` (no unit) too when `allow_bare_zero`.
pub(super) fn duration(s: &str, allow_bare_zero: bool) -> Result<u64, Failure> {
    let bad = (ErrorCode::BadDuration, DURATION);
    let (int, frac, unit) = split_number(s).ok_or(bad)?;
    let mult: u128 = match unit {
        "" if allow_bare_zero => {
            let zero = int.bytes().all(|b| b == b'0') && frac.bytes().all(|b| b == b'0');
            return if zero { Ok(0) } else { Err(bad) };
        }
        "us" | "µs" | "μs" => 1_000,
        u => u128::from(UNITS.iter().find(|(name, _)| *name == u).ok_or(bad)?.1),
    };
    let range = (ErrorCode::OutOfRange, DURATION_RANGE);
    // u64::MAX has 20 digits; anything longer overflows whatever the unit.
    let digits = int.trim_start_matches('0');
    if digits.len() > 20 {
        return Err(range);
    }
    let whole = digits
        .parse::<u128>()
        .unwrap_or(0)
        .checked_mul(mult)
        .ok_or(range)?;
    let part = fraction_ns(frac, mult).ok_or((ErrorCode::BadDuration, FRACTION))?;
    u64::try_from(whole + part).map_err(|_| range)
}

/// A point in time (see the module docs).
pub(super) fn time(s: &str) -> Result<TimeBound, Failure> {
    if s == "now" {
        return Ok(TimeBound::AgoNs(0));
    }
    let bad = (ErrorCode::BadTime, TIME);
    if s.is_empty() {
        return Err(bad);
    }
    if let Some(rest) = s.strip_prefix('-') {
        // `-7d`: the same as `7d`, for those who write the sign.
        return match duration(rest, false) {
            Ok(ns) => Ok(TimeBound::AgoNs(ns)),
            Err((ErrorCode::OutOfRange, e)) => Err((ErrorCode::OutOfRange, e)),
            Err(_) => Err(bad),
        };
    }
    if let Some((int, frac, "")) = split_number(s) {
        let range = (ErrorCode::OutOfRange, TIME_RANGE);
        if frac.len() > 6 {
            return Err((
                ErrorCode::BadTime,
                "epoch milliseconds with at most 6 decimals",
            ));
        }
        let digits = int.trim_start_matches('0');
        if digits.len() > 20 {
            return Err(range);
        }
        let ms = digits.parse::<u128>().unwrap_or(0);
        let ns = ms * 1_000_000 + fraction_ns(frac, 1_000_000).unwrap_or(0);
        return u64::try_from(ns).map(TimeBound::EpochNs).map_err(|_| range);
    }
    let b = s.as_bytes();
    if b.len() >= 5 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' {
        return iso(s).map(TimeBound::EpochNs);
    }
    match duration(s, false) {
        Ok(ns) => Ok(TimeBound::AgoNs(ns)),
        Err((ErrorCode::OutOfRange, e)) => Err((ErrorCode::OutOfRange, e)),
        Err(_) => Err(bad),
    }
}

/// `digits[.digits]unit` split into its parts; `None` unless the number is well formed.
fn split_number(s: &str) -> Option<(&str, &str, &str)> {
    let int_len = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (int, rest) = s.split_at(int_len);
    let (frac, unit) = match rest.strip_prefix('.') {
        Some(r) => {
            let (frac, unit) = r.split_at(r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len()));
            if frac.is_empty() {
                return None;
            }
            (frac, unit)
        }
        None => ("", rest),
    };
    if int.is_empty() {
        return None;
    }
    Some((int, frac, unit))
}

/// Nanoseconds of `0.frac` units of `mult` ns; `None` when finer than a nanosecond.
fn fraction_ns(frac: &str, mult: u128) -> Option<u128> {
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        return Some(0);
    }
    // mult <= 6.05e14 and 10^19 > that times anything: more digits cannot be whole nanoseconds.
    if frac.len() > 18 {
        return None;
    }
    let scale = 10u128.pow(frac.len() as u32);
    let f = frac.parse::<u128>().ok()? * mult;
    f.is_multiple_of(scale).then_some(f / scale)
}

/// Epoch ns of an ISO-8601 date or date-time (see the module docs).
fn iso(s: &str) -> Result<u64, Failure> {
    let bad = (ErrorCode::BadTime, ISO);
    fn num(s: &str, range: std::ops::RangeInclusive<u32>) -> Option<u32> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok().filter(|n| range.contains(n))
    }
    let (date, time) = match s.find(['T', 't']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let (Some(y), Some(mo), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad);
    };
    if y.len() != 4 || mo.len() != 2 || d.len() != 2 {
        return Err(bad);
    }
    let y = num(y, 0..=9999).ok_or(bad)?;
    if y < 1970 {
        return Err((ErrorCode::OutOfRange, TIME_RANGE));
    }
    let mo = num(mo, 1..=12).ok_or(bad)?;
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let dim = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let d = num(d, 1..=dim[mo as usize - 1]).ok_or(bad)?;
    let mut secs = i128::from(days_from_civil(i64::from(y), mo, d)) * 86_400;
    let mut nanos = 0i128;
    if let Some(t) = time {
        let zone_at = t
            .find(['Z', 'z', '+', '-'])
            .ok_or((ErrorCode::BadTime, ZONE))?;
        let (t, zone) = t.split_at(zone_at);
        let (hms, frac) = match t.split_once('.') {
            Some((hms, frac)) => (hms, Some(frac)),
            None => (t, None),
        };
        let mut f = hms.split(':');
        let two =
            |x: Option<&str>, max: u32| x.filter(|x| x.len() == 2).and_then(|x| num(x, 0..=max));
        let h = two(f.next(), 23).ok_or(bad)?;
        let m = two(f.next(), 59).ok_or(bad)?;
        let sec = match f.next() {
            Some(x) => two(Some(x), 59).ok_or(bad)?,
            None if frac.is_some() => return Err(bad),
            None => 0,
        };
        if f.next().is_some() {
            return Err(bad);
        }
        secs += i128::from(h * 3600 + m * 60 + sec);
        if let Some(frac) = frac {
            if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad);
            }
            nanos = i128::from(num(frac, 0..=999_999_999).ok_or(bad)?)
                * 10i128.pow(9 - frac.len() as u32);
        }
        secs -= i128::from(zone_offset_secs(zone).ok_or(bad)?);
    }
    let ns = secs * 1_000_000_000 + nanos;
    u64::try_from(ns).map_err(|_| (ErrorCode::OutOfRange, TIME_RANGE))
}

/// Seconds east of UTC of `Z`, `+HH:MM`, `+HHMM` or `+HH` (and `-`); `None` for anything else.
fn zone_offset_secs(zone: &str) -> Option<i32> {
    if zone == "Z" || zone == "z" {
        return Some(0);
    }
    let sign = match zone.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let rest = &zone[1..];
    // Byte positions below: a non-ASCII character would be cut in two (found by fuzzing).
    if !rest.is_ascii() {
        return None;
    }
    let (hh, mm) = match rest.len() {
        2 => (rest, "00"),
        4 => rest.split_at(2),
        5 if rest.as_bytes()[2] == b':' => (&rest[..2], &rest[3..]),
        _ => return None,
    };
    if !(hh.bytes().chain(mm.bytes()).all(|b| b.is_ascii_digit())) {
        return None;
    }
    let (h, m): (i32, i32) = (hh.parse().ok()?, mm.parse().ok()?);
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`]: (year, month, day).
pub(super) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}
