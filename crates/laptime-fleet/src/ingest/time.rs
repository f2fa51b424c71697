//! Start times: epoch nanoseconds from an integer, a string of digits, or an RFC 3339 time with up
//! to nine fractional digits, all exact (no floating point). The range is the core's: 0 (1970-01-01)
//! to 2^64-1 ns (2554-07-21).

/// Epoch ns of an RFC 3339 time (`2026-12-03T10:00:00.123456789Z`, `...+02:00`); `Err` says what is
/// wrong with it.
pub fn parse_rfc3339(s: &str) -> Result<u64, String> {
    let b = s.as_bytes();
    let bad = || {
        format!(
            "{} is not an RFC 3339 time such as 2026-12-03T10:00:00.123456789Z",
            super::error::show_str(s)
        )
    };
    if b.len() < 20 {
        return Err(bad());
    }
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(
            digits
                .iter()
                .fold(0i64, |n, d| n * 10 + i64::from(d - b'0')),
        )
    };
    let sep = |at: usize, c: &[u8]| b.get(at).is_some_and(|x| c.contains(x));
    let (Some(year), Some(month), Some(day), Some(hour), Some(min), Some(sec)) = (
        num(0, 4),
        num(5, 2),
        num(8, 2),
        num(11, 2),
        num(14, 2),
        num(17, 2),
    ) else {
        return Err(bad());
    };
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return Err(bad());
    }
    let mut i = 19;
    let mut frac_ns = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(bad());
        }
        if digits > 9 {
            return Err(format!(
                "{} has {digits} fractional digits: at most 9 (nanoseconds) are kept, send no more",
                super::error::show_str(s)
            ));
        }
        let mut f = num(i, digits).ok_or_else(bad)?;
        for _ in digits..9 {
            f *= 10;
        }
        frac_ns = f;
        i += digits;
    }
    let offset_s = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && sep(i + 3, b":") => {
            let (Some(oh), Some(om)) = (num(i + 1, 2), num(i + 4, 2)) else {
                return Err(bad());
            };
            if oh > 23 || om > 59 {
                return Err(bad());
            }
            let o = oh * 3600 + om * 60;
            if sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return Err(bad()),
    };
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(format!(
            "{}: there is no such date",
            super::error::show_str(s)
        ));
    }
    if hour > 23 || min > 59 || sec > 59 {
        return Err(format!(
            "{}: there is no such time of day (leap seconds are not taken)",
            super::error::show_str(s)
        ));
    }
    let days = days_from_civil(year, month, day);
    let secs =
        i128::from(days) * 86_400 + i128::from(hour * 3600 + min * 60 + sec) - i128::from(offset_s);
    let ns = secs * 1_000_000_000 + i128::from(frac_ns);
    u64::try_from(ns).map_err(|_| {
        format!(
            "{} is outside the range laptime stores (1970-01-01T00:00:00Z to 2554-07-21T23:34:33.709551615Z)",
            super::error::show_str(s)
        )
    })
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Epoch ns from a string of ASCII digits; `None` when it is not one.
pub fn parse_digits(s: &str) -> Option<Result<u64, String>> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u64>().map_err(|_| {
        format!(
            "{} is more than 2^64-1 ns, the latest start laptime stores",
            super::error::show_str(s)
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_exact_to_the_nanosecond() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            parse_rfc3339("2026-12-03T10:00:00.123456789Z"),
            Ok(1_796_292_000_123_456_789)
        );
        assert_eq!(
            parse_rfc3339("2026-12-03T12:00:00.1+02:00"),
            Ok(1_796_292_000_100_000_000)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z"),
            Ok(1_709_164_800_000_000_000)
        );
        assert_eq!(
            parse_rfc3339("2554-07-21T23:34:33.709551615Z"),
            Ok(u64::MAX)
        );
        for bad in [
            "2554-07-21T23:34:33.709551616Z",
            "1969-12-31T23:59:59.999999999Z",
            "2023-02-29T00:00:00Z",
            "2026-12-03T10:00:00",
            "2026-12-03T10:00:00.Z",
            "2026-12-03T10:00:00.1234567891Z",
            "2026-12-03T24:00:00Z",
            "2026-12-03T10:00:60Z",
            "2026-13-03T10:00:00Z",
            "2026-12-03T10:00:00+2:00",
            "2026-12-03T10:00:00Zjunk",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad} was taken");
        }
    }

    #[test]
    fn digit_strings_are_exact_u64() {
        assert_eq!(parse_digits("18446744073709551615"), Some(Ok(u64::MAX)));
        assert!(matches!(parse_digits("18446744073709551616"), Some(Err(_))));
        assert_eq!(parse_digits("-1"), None);
        assert_eq!(parse_digits(""), None);
    }
}
