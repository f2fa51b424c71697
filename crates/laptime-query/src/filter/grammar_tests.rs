//! The one duration and time grammar: every unit, the forms the front ends used to disagree on,
//! overflow, and the errors (code, position, expected, found).

use super::*;

const S: u64 = 1_000_000_000;
const DAY: u64 = 86_400 * S;
/// 2026-11-22T10:00:00Z in epoch ns.
const T: u64 = 1_795_341_600 * S;

#[test]
fn every_unit() {
    let table: &[(&str, u64)] = &[
        ("7ns", 7),
        ("250us", 250_000),
        ("250µs", 250_000),
        ("250μs", 250_000),
        ("10ms", 10_000_000),
        ("1.5s", 1_500_000_000),
        ("2m", 120 * S),
        ("1.5h", 5_400 * S),
        ("1d", DAY),
        ("7d", 7 * DAY),
        ("1w", 7 * DAY),
        ("0.5d", DAY / 2),
        ("0ns", 0),
        ("007ms", 7_000_000),
        ("1.000000000s", S),
        (" 1d ", DAY),
    ];
    for &(text, ns) in table {
        assert_eq!(parse_duration(text), Ok(ns), "{text:?}");
    }
}

#[test]
fn the_largest_duration_fits_and_one_more_is_an_error() {
    assert_eq!(parse_duration("18446744073709551615ns"), Ok(u64::MAX));
    for text in [
        "18446744073709551616ns",
        "99999999999w",
        "300000d",
        "100000000000000000000000000000000000000000000h",
    ] {
        let e = parse_duration(text).unwrap_err();
        assert_eq!(e.code, ErrorCode::OutOfRange, "{text:?}");
        assert_eq!(e.position, 0);
        assert_eq!(e.found, format!("{text:?}"));
    }
    // In a filter the position is the value's.
    let e = parse("kind:call duration>99999999999w").unwrap_err();
    assert_eq!((e.code, e.position), (ErrorCode::OutOfRange, 19));
    let e = parse("since:99999999999w").unwrap_err();
    assert_eq!((e.code, e.position), (ErrorCode::OutOfRange, 6));
}

#[test]
fn bad_durations_name_the_input() {
    for text in [
        "",
        "10",
        "10xs",
        "1.s",
        ".5s",
        "1,5s",
        "s",
        "1 s",
        "-1s",
        "1.5.5s",
        "0.5ns",
        "1.0000000001s",
        "1M",
        "1y",
    ] {
        let e = parse_duration(text).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadDuration, "{text:?}");
        assert_eq!(e.position, 0, "{text:?}");
        let found = if text.is_empty() {
            "end of input".to_string()
        } else {
            format!("{text:?}")
        };
        assert_eq!(e.found, found, "{text:?}");
    }
    let e = parse_duration("  10xs").unwrap_err();
    assert_eq!((e.position, e.found.as_str()), (2, "\"10xs\""));
    assert_eq!(
        e.to_string(),
        "at 2: expected a duration such as 10ms, found \"10xs\""
    );
}

#[test]
fn every_time_form() {
    let table: &[(&str, TimeBound)] = &[
        ("now", TimeBound::AgoNs(0)),
        ("7d", TimeBound::AgoNs(7 * DAY)),
        ("-7d", TimeBound::AgoNs(7 * DAY)),
        ("1w", TimeBound::AgoNs(7 * DAY)),
        ("250us", TimeBound::AgoNs(250_000)),
        ("1.5h", TimeBound::AgoNs(5_400 * S)),
        ("1795341600000", TimeBound::EpochNs(T)),
        ("1795341600000.25", TimeBound::EpochNs(T + 250_000)),
        ("2026-11-22", TimeBound::EpochNs(T - 10 * 3_600 * S)),
        ("2026-11-22T10:00:00Z", TimeBound::EpochNs(T)),
        ("2026-11-22t10:00z", TimeBound::EpochNs(T)),
        ("2026-11-22T10:00:00.000000001Z", TimeBound::EpochNs(T + 1)),
        ("2026-11-22T11:00:00+01:00", TimeBound::EpochNs(T)),
        ("2026-11-22T11:30:00+0130", TimeBound::EpochNs(T)),
        ("2026-11-22T08:00:00-02", TimeBound::EpochNs(T)),
        ("2026-11-22T05:30:00.5-04:30", TimeBound::EpochNs(T + S / 2)),
        ("1970-01-01T00:00:00Z", TimeBound::EpochNs(0)),
        (
            "2554-07-21T23:34:33Z",
            TimeBound::EpochNs(18_446_744_073 * S),
        ),
    ];
    for &(text, bound) in table {
        assert_eq!(parse_time(text), Ok(bound), "{text:?}");
        // The filter reads the same text the same way.
        assert_eq!(
            parse(&format!("since:{text}")).map(|f| f.terms),
            Ok(vec![Term::Since(bound)]),
            "{text:?}"
        );
    }
}

#[test]
fn bad_times_say_what_is_wrong() {
    let cases: &[(&str, ErrorCode)] = &[
        ("", ErrorCode::BadTime),
        ("yesterday", ErrorCode::BadTime),
        ("-", ErrorCode::BadTime),
        ("--7d", ErrorCode::BadTime),
        ("7", ErrorCode::Syntax),
        ("2026-13-01", ErrorCode::BadTime),
        ("2026-02-29", ErrorCode::BadTime),
        ("2026-11-22T10:00:00", ErrorCode::BadTime),
        ("2026-11-22T10:00:00+1", ErrorCode::BadTime),
        // Offsets of four or five bytes that are not ASCII (once a panic: cut inside a character).
        ("2026-11-22T10:26-\u{1f600}", ErrorCode::BadTime),
        ("2026-11-22T10:26+\u{20ac}0", ErrorCode::BadTime),
        ("2026-11-22T10:26+0\u{e9}:0", ErrorCode::BadTime),
        ("2026-11-22T24:00:00Z", ErrorCode::BadTime),
        ("2026-11-22T10:00:00.Z", ErrorCode::BadTime),
        ("2026-11-22 10:00:00Z", ErrorCode::BadTime),
        ("1795341600000.0000001", ErrorCode::BadTime),
        ("1969-12-31", ErrorCode::OutOfRange),
        ("1970-01-01T00:30:00+01:00", ErrorCode::OutOfRange),
        ("2554-07-21T23:34:34Z", ErrorCode::OutOfRange),
        ("9999-12-31", ErrorCode::OutOfRange),
        ("18446744073710", ErrorCode::OutOfRange),
        ("99999999999w", ErrorCode::OutOfRange),
        ("-99999999999w", ErrorCode::OutOfRange),
    ];
    for &(text, code) in cases {
        if text == "7" {
            // A bare number is epoch ms, never a duration without a unit.
            assert_eq!(parse_time(text), Ok(TimeBound::EpochNs(7_000_000)));
            continue;
        }
        let e = parse_time(text).unwrap_err();
        assert_eq!(e.code, code, "{text:?}: {e}");
        assert_eq!(e.position, 0, "{text:?}");
        assert!(e.found.contains(text), "{text:?}: {e}");
    }
    let e = parse_time("2026-11-22T10:00:00").unwrap_err();
    assert!(e.expected.contains("time zone"), "{e}");
    let e = parse("kind:call until:2026-11-22T10:00:00").unwrap_err();
    assert_eq!((e.code, e.position), (ErrorCode::BadTime, 16));
}

#[test]
fn days_and_weeks_print_and_parse_back() {
    let f = parse("duration>=1w since:7d until:36h duration<2d").unwrap();
    assert_eq!(f.to_string(), "duration>=1w since:1w until:36h duration<2d");
    assert_eq!(f.to_string().parse::<Filter>().unwrap(), f);
    let f = parse("since:2026-11-22T11:00:00+01:00").unwrap();
    assert_eq!(f.to_string(), "since:2026-11-22T10:00:00Z");
    assert_eq!(parse("since:now").unwrap().to_string(), "since:0ns");
}

proptest::proptest! {
    /// Any duration printed in the largest exact unit parses back to itself.
    #[test]
    fn durations_round_trip(ns in proptest::prelude::any::<u64>()) {
        let text = DurationText(ns).to_string();
        proptest::prop_assert_eq!(parse_duration(&text), Ok(ns));
    }
}
