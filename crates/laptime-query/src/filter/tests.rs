use proptest::prelude::*;

use super::*;

fn one(input: &str) -> Term {
    let f = parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
    assert_eq!(f.terms.len(), 1, "{input:?}");
    f.terms.into_iter().next().unwrap()
}

fn field(key: &str, op: CmpOp, value: &str) -> Term {
    Term::Field {
        key: key.into(),
        op,
        value: value.into(),
    }
}

const MIN: u64 = 60_000_000_000;
const HOUR: u64 = 60 * MIN;

#[test]
fn empty_input_is_empty_filter() {
    assert_eq!(parse("").unwrap(), Filter::default());
    assert_eq!(parse("  \t ").unwrap(), Filter::default());
    assert_eq!(Filter::default().to_string(), "");
}

#[test]
fn name_terms() {
    assert_eq!(
        one("name:UserService.find"),
        Term::Name(Glob::new("UserService.find"))
    );
    assert_eq!(
        one("name:UserService.*"),
        Term::Name(Glob::new("UserService.*"))
    );
    assert_eq!(one("name:Service*"), Term::Name(Glob::new("Service*")));
    assert_eq!(one("name:\"a b?\""), Term::Name(Glob::new("a b?")));
}

#[test]
fn kind_status_level_terms() {
    assert_eq!(one("kind:call"), Term::Kind(Kind::Call));
    assert_eq!(one("kind:log"), Term::Kind(Kind::Log));
    assert_eq!(one("status:ok"), Term::Status(Status::Ok));
    assert_eq!(one("status:error"), Term::Status(Status::Error));
    assert_eq!(one("level:warn"), Term::Level(CmpOp::Eq, Level::Warn));
    assert_eq!(one("level=trace"), Term::Level(CmpOp::Eq, Level::Trace));
    assert_eq!(one("level>=warn"), Term::Level(CmpOp::Ge, Level::Warn));
    assert_eq!(one("level<error"), Term::Level(CmpOp::Lt, Level::Error));
    assert_eq!(one("level!=FATAL"), Term::Level(CmpOp::Ne, Level::Fatal));
    assert_eq!(one("level>debug"), Term::Level(CmpOp::Gt, Level::Debug));
    assert_eq!(one("level<=info"), Term::Level(CmpOp::Le, Level::Info));
}

#[test]
fn duration_terms() {
    assert_eq!(one("duration>10ms"), Term::Duration(CmpOp::Gt, 10_000_000));
    assert_eq!(one("duration<=250us"), Term::Duration(CmpOp::Le, 250_000));
    assert_eq!(one("duration<=250µs"), Term::Duration(CmpOp::Le, 250_000));
    assert_eq!(
        one("duration>=1.5s"),
        Term::Duration(CmpOp::Ge, 1_500_000_000)
    );
    assert_eq!(one("duration=0"), Term::Duration(CmpOp::Eq, 0));
    assert_eq!(one("duration:7ns"), Term::Duration(CmpOp::Eq, 7));
    assert_eq!(one("duration!=2m"), Term::Duration(CmpOp::Ne, 2 * MIN));
    assert_eq!(one("duration<1h"), Term::Duration(CmpOp::Lt, HOUR));
    assert_eq!(one("duration<0.25ms"), Term::Duration(CmpOp::Lt, 250_000));
    assert!(parse("duration<0.5ns").is_err());
    assert!(parse("duration<5").is_err());
    assert!(parse("duration<99999999999h").is_err());
}

#[test]
fn time_terms() {
    assert_eq!(one("since:1h"), Term::Since(TimeBound::AgoNs(HOUR)));
    assert_eq!(one("until:30m"), Term::Until(TimeBound::AgoNs(30 * MIN)));
    let t = 1_795_341_600_000_000_000; // 2026-11-22T10:00:00Z
    assert_eq!(
        one("since:2026-11-22T10:00:00Z"),
        Term::Since(TimeBound::EpochNs(t))
    );
    assert_eq!(
        one("since:2026-11-22T10:00Z"),
        Term::Since(TimeBound::EpochNs(t))
    );
    assert_eq!(
        one("until:2026-11-22T10:00:00.5Z"),
        Term::Until(TimeBound::EpochNs(t + 500_000_000))
    );
    assert_eq!(
        one("since:2026-11-22"),
        Term::Since(TimeBound::EpochNs(t - 10 * HOUR))
    );
    assert_eq!(
        one("since:1732269600000"),
        Term::Since(TimeBound::EpochNs(1_732_269_600_000_000_000))
    );
    assert_eq!(
        one("since:1970-01-01T00:00:00Z"),
        Term::Since(TimeBound::EpochNs(0))
    );
    assert_eq!(
        one("since:2000-02-29T23:59:59Z"),
        Term::Since(TimeBound::EpochNs(951_868_799_000_000_000))
    );
}

#[test]
fn time_bounds_resolve_and_hint() {
    assert_eq!(TimeBound::AgoNs(10).resolve(100), 90);
    assert_eq!(TimeBound::AgoNs(1000).resolve(100), 0);
    assert_eq!(TimeBound::EpochNs(5).resolve(100), 5);
    let now = 10 * HOUR;
    let f =
        parse("since:2h since:1h until:30m -until:5h until:1970-01-01T09:00:00Z name:x").unwrap();
    assert_eq!(f.to_scan_hints(now), (Some(9 * HOUR), Some(9 * HOUR)));
    let f = parse("-since:1h kind:call").unwrap();
    assert_eq!(f.to_scan_hints(now), (None, None));
}

#[test]
fn field_terms() {
    assert_eq!(one("route:/users"), field("route", CmpOp::Eq, "/users"));
    assert_eq!(one("route=/users"), field("route", CmpOp::Eq, "/users"));
    assert_eq!(one("route!=/users"), field("route", CmpOp::Ne, "/users"));
    assert_eq!(one("count>5"), field("count", CmpOp::Gt, "5"));
    assert_eq!(one("count>=-5"), field("count", CmpOp::Ge, "-5"));
    assert_eq!(one("ratio<=0.5"), field("ratio", CmpOp::Le, "0.5"));
    assert_eq!(one("ratio<1e3"), field("ratio", CmpOp::Lt, "1e3"));
    assert_eq!(
        one("http.status_code:200"),
        field("http.status_code", CmpOp::Eq, "200")
    );
    assert_eq!(
        one("x-request-id:abc"),
        field("x-request-id", CmpOp::Eq, "abc")
    );
    assert_eq!(one("ok:true"), field("ok", CmpOp::Eq, "true"));
    assert_eq!(one("route:in"), field("route", CmpOp::Eq, "in"));
    assert_eq!(one("route:\"in(a)\""), field("route", CmpOp::Eq, "in(a)"));
    assert_eq!(
        one("route:in(/a,/b,/c)"),
        Term::FieldIn {
            key: "route".into(),
            values: vec!["/a".into(), "/b".into(), "/c".into()]
        }
    );
    assert_eq!(
        one("route:in(\"/a b\",\"x,y)\")"),
        Term::FieldIn {
            key: "route".into(),
            values: vec!["/a b".into(), "x,y)".into()]
        }
    );
    assert_eq!(one("has:route"), Term::Has("route".into()));
    assert_eq!(one("has:field.name"), Term::Has("name".into()));
}

#[test]
fn reserved_names_need_field_prefix() {
    assert_eq!(one("field.name:x"), field("name", CmpOp::Eq, "x"));
    assert_eq!(one("field.level>3"), field("level", CmpOp::Gt, "3"));
    assert_eq!(one("field.route:x"), field("route", CmpOp::Eq, "x"));
    assert_eq!(one("field.field.x:1"), field("field.x", CmpOp::Eq, "1"));
    assert_eq!(field("name", CmpOp::Eq, "x").to_string(), "field.name:x");
    assert_eq!(
        field("field.x", CmpOp::Eq, "1").to_string(),
        "field.field.x:1"
    );
    assert_eq!(Term::Has("since".into()).to_string(), "has:field.since");
    assert_eq!(field("route", CmpOp::Eq, "x").to_string(), "route:x");
}

#[test]
fn message_terms() {
    assert_eq!(
        one("message~\"disk full\""),
        Term::MessageContains("disk full".into())
    );
    assert_eq!(
        one("message~timeout"),
        Term::MessageContains("timeout".into())
    );
}

#[test]
fn negation() {
    assert_eq!(one("-kind:log"), Term::Not(Box::new(Term::Kind(Kind::Log))));
    assert_eq!(
        one("-route:in(a,b)"),
        Term::Not(Box::new(Term::FieldIn {
            key: "route".into(),
            values: vec!["a".into(), "b".into()]
        }))
    );
    assert_eq!(
        one("--has:x"),
        Term::Not(Box::new(Term::Not(Box::new(Term::Has("x".into())))))
    );
    let deep = format!("{}kind:call", "-".repeat(100_000));
    assert_eq!(err(&deep).position, parse::MAX_NEGATIONS);
    let ok = format!("{}kind:call", "-".repeat(parse::MAX_NEGATIONS));
    assert_eq!(parse(&ok).unwrap().to_string(), ok);
    let f = parse("-name:a* -status:error -duration>1s").unwrap();
    assert_eq!(f.to_string(), "-name:a* -status:error -duration>1s");
}

#[test]
fn quoting_and_escapes() {
    assert_eq!(one("route:\"/a b\""), field("route", CmpOp::Eq, "/a b"));
    assert_eq!(
        one(r#"route:"say \"hi\"""#),
        field("route", CmpOp::Eq, "say \"hi\"")
    );
    assert_eq!(one(r#"route:"a\\b""#), field("route", CmpOp::Eq, "a\\b"));
    assert_eq!(one("route:\"\""), field("route", CmpOp::Eq, ""));
    assert_eq!(one("route:a\\b"), field("route", CmpOp::Eq, "a\\b"));
    assert_eq!(one("count>\"5\""), field("count", CmpOp::Gt, "5"));
    assert_eq!(
        one("message~\"tab\there\""),
        Term::MessageContains("tab\there".into())
    );
    let f = parse("  kind:call\t message~\"a  b\"   status:ok ").unwrap();
    assert_eq!(
        f.terms,
        vec![
            Term::Kind(Kind::Call),
            Term::MessageContains("a  b".into()),
            Term::Status(Status::Ok)
        ]
    );
    assert_eq!(
        field("r", CmpOp::Eq, "a \"b\\").to_string(),
        r#"r:"a \"b\\""#
    );
    assert_eq!(field("r", CmpOp::Eq, "").to_string(), r#"r:"""#);
}

#[test]
fn canonical_display() {
    let f = parse(
        "name:Svc.* kind:call status:ok level:warn level>=error duration>1500ms duration=0 \
         since:60m until:2026-11-22T10:00:00.120Z route:/users count<=5 route:in(/a,\"b c\") \
         has:route message~\"disk full\" -field.name:x",
    )
    .unwrap();
    assert_eq!(
        f.to_string(),
        "name:Svc.* kind:call status:ok level:warn level>=error duration>1500ms duration=0ns \
         since:1h until:2026-11-22T10:00:00.12Z route:/users count<=5 route:in(/a,\"b c\") \
         has:route message~\"disk full\" -field.name:x"
    );
    assert_eq!(f.to_string().parse::<Filter>().unwrap(), f);
}

fn err(input: &str) -> FilterError {
    match parse(input) {
        Ok(f) => panic!("{input:?} parsed as {f:?}"),
        Err(e) => e,
    }
}

#[test]
fn errors_name_position_and_expectation() {
    let cases: &[(&str, ErrorCode, usize, &str, &str)] = &[
        // unknown unit
        (
            "kind:call duration>10xs", ErrorCode::BadDuration,
            19,
            "a duration such as 10ms",
            "\"10xs\"",
        ),
        // missing value
        ("duration>", ErrorCode::BadDuration, 9, "a duration such as 10ms", "end of input"),
        ("route: x", ErrorCode::Syntax, 6, "a value", "whitespace"),
        (
            "name:", ErrorCode::Syntax,
            5,
            "a name or glob such as UserService.*",
            "end of input",
        ),
        // bad level
        (
            "level>=loud", ErrorCode::BadValue,
            7,
            "a level (trace, debug, info, warn, error, fatal)",
            "\"loud\"",
        ),
        // unterminated quote
        ("message~\"disk full", ErrorCode::Syntax, 8, "a closing \"", "end of input"),
        // bad escape
        (
            r#"route:"a\nb""#, ErrorCode::Syntax,
            8,
            "\\\" or \\\\ after a backslash",
            r#""\\nb\"""#,
        ),
        // bad op
        (
            "duration~5ms", ErrorCode::Syntax,
            8,
            "a comparison operator (=, !=, <, <=, >, >=)",
            "\"~5ms\"",
        ),
        ("kind=call", ErrorCode::Syntax, 4, ": after kind", "\"=call\""),
        ("message:x", ErrorCode::Syntax, 7, "~ after message", "\":x\""),
        (
            "route", ErrorCode::Syntax,
            5,
            "an operator (:, =, !=, <, <=, >, >=, ~) after route",
            "end of input",
        ),
        // empty in()
        ("route:in()", ErrorCode::Syntax, 9, "at least one value in in(...)", "\")\""),
        ("route:in(a,)", ErrorCode::Syntax, 11, "a value", "\")\""),
        ("route:in(a", ErrorCode::Syntax, 10, ", or ) in in(...)", "end of input"),
        // bad date
        (
            "since:2026-13-01T00:00:00Z", ErrorCode::BadTime,
            6,
            "an ISO-8601 time such as 2026-11-22, 2026-11-22T10:00:00Z or 2026-11-22T11:00:00+01:00",
            "\"2026-13-01T00:00:00Z\"",
        ),
        (
            "until:2026-02-29", ErrorCode::BadTime,
            6,
            "an ISO-8601 time such as 2026-11-22, 2026-11-22T10:00:00Z or 2026-11-22T11:00:00+01:00",
            "\"2026-02-29\"",
        ),
        (
            "since:yesterday", ErrorCode::BadTime,
            6,
            "a time such as now, 1h, 7d, 2026-11-22T10:00:00Z or epoch milliseconds",
            "\"yesterday\"",
        ),
        // others
        ("kind:span", ErrorCode::BadValue, 5, "call or log", "\"span\""),
        ("status:fine", ErrorCode::BadValue, 7, "ok or error", "\"fine\""),
        ("count>many", ErrorCode::BadValue, 6, "a number", "\"many\""),
        ("ratio<NaN", ErrorCode::BadValue, 6, "a number", "\"NaN\""),
        ("- kind:call", ErrorCode::Syntax, 1, "a term after -", "whitespace"),
        (
            ":x", ErrorCode::Syntax,
            0,
            "a term such as name:UserService.find or key:value",
            "\":x\"",
        ),
        (
            "route:\"a\"b", ErrorCode::Syntax,
            9,
            "whitespace after the closing quote",
            "\"b\"",
        ),
        ("has:", ErrorCode::Syntax, 4, "a field name such as route", "end of input"),
        ("field.:x", ErrorCode::Syntax, 6, "a field name such as route", "\":x\""),
        ("field..x:1", ErrorCode::Syntax, 6, "a field name such as route", "\".x:1\""),
        (
            "route!=in(a,b)", ErrorCode::Syntax,
            7,
            "a single value (write -key:in(...) to negate a list)",
            "\"in(a,b)\"",
        ),
    ];
    for &(input, code, position, expected, found) in cases {
        let e = err(input);
        assert_eq!(
            e,
            FilterError {
                code,
                position,
                expected: expected.into(),
                found: found.into()
            },
            "{input:?}"
        );
    }
    assert_eq!(
        err("kind:call duration>10xs").to_string(),
        "at 19: expected a duration such as 10ms, found \"10xs\""
    );
}

#[test]
fn glob_matching_table() {
    let table: &[(&str, &str, bool)] = &[
        ("UserService.find", "UserService.find", true),
        ("UserService.find", "UserService.findAll", false),
        ("UserService.*", "UserService.find", true),
        ("UserService.*", "UserService.", true),
        ("UserService.*", "UserService", false),
        ("Service*", "ServiceA", true),
        ("Service*", "Service", true),
        ("Service*", "MyService", false),
        ("*Service", "MyService", true),
        ("*", "", true),
        ("*", "anything", true),
        ("", "", true),
        ("", "a", false),
        ("?", "a", true),
        ("?", "", false),
        ("?", "ab", false),
        ("?", "é", true),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("a*b*c", "aXbYc", true),
        ("a*b*c", "abc", true),
        ("a*b*c", "acb", false),
        ("*.find*", "UserService.findById", true),
        ("**", "x", true),
        ("a*a*a*a*b", &"a".repeat(200), false),
        ("*aab", "aaaab", true),
        ("ü*ß", "üxyzß", true),
        ("ü*ß", "üxyz", false),
    ];
    for &(pattern, s, want) in table {
        assert_eq!(Glob::new(pattern).matches(s), want, "{pattern:?} vs {s:?}");
    }
    assert!(Glob::new("a.b").is_literal());
    assert!(!Glob::new("a.*").is_literal());
    assert_eq!(Glob::new("User*.f?nd").literal_prefix(), "User");
    assert_eq!(Glob::new("abc").literal_prefix(), "abc");
}

#[test]
fn cmp_op_compare() {
    assert!(CmpOp::Ge.compare(&Level::Error, &Level::Warn));
    assert!(!CmpOp::Lt.compare(&3, &3));
    assert!(CmpOp::Ne.compare(&f64::NAN, &1.0));
    assert!(CmpOp::Eq.compare("a", "a"));
}

/// Naive recursive glob matcher, for checking the real one.
fn glob_reference(p: &[char], s: &[char]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some(('*', rest)) => (0..=s.len()).any(|i| glob_reference(rest, &s[i..])),
        Some((c, rest)) => match s.split_first() {
            Some((t, srest)) => (*c == '?' || c == t) && glob_reference(rest, srest),
            None => false,
        },
    }
}

fn key_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z_][A-Za-z0-9_.-]{0,8}",
        prop::sample::select(RESERVED_KEYS.to_vec()).prop_map(String::from),
        "field\\.[a-z]{1,4}",
    ]
}

fn text_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z/._*?]{1,8}",
        any::<String>(),
        "[ a\"\\\\(),:=<>~in-]{0,8}",
    ]
}

fn op_strategy() -> impl Strategy<Value = CmpOp> {
    prop::sample::select(vec![
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ])
}

fn time_strategy() -> impl Strategy<Value = TimeBound> {
    prop_oneof![
        any::<u64>().prop_map(TimeBound::AgoNs),
        any::<u64>().prop_map(TimeBound::EpochNs),
        (0u64..1_000_000).prop_map(|s| TimeBound::EpochNs(s * 1_000_000_000)),
        (0u64..1000).prop_map(|m| TimeBound::AgoNs(m * MIN)),
    ]
}

fn number_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| f.to_string()),
        (-1000.0f64..1000.0).prop_map(|f| f.to_string()),
    ]
}

fn positive_term() -> impl Strategy<Value = Term> {
    prop_oneof![
        text_strategy().prop_map(|s| Term::Name(Glob::new(s))),
        prop::bool::ANY.prop_map(|b| Term::Kind(if b { Kind::Call } else { Kind::Log })),
        prop::bool::ANY.prop_map(|b| Term::Status(if b { Status::Ok } else { Status::Error })),
        (op_strategy(), 0u8..6).prop_map(|(op, l)| Term::Level(op, Level::from_u8(l).unwrap())),
        (op_strategy(), any::<u64>()).prop_map(|(op, ns)| Term::Duration(op, ns)),
        (op_strategy(), 0u64..100_000).prop_map(|(op, ms)| Term::Duration(op, ms * 1_000_000)),
        time_strategy().prop_map(Term::Since),
        time_strategy().prop_map(Term::Until),
        (key_strategy(), prop::bool::ANY, text_strategy()).prop_map(|(key, eq, value)| {
            Term::Field {
                key,
                op: if eq { CmpOp::Eq } else { CmpOp::Ne },
                value,
            }
        }),
        (
            key_strategy(),
            prop::sample::select(vec![CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge]),
            number_strategy()
        )
            .prop_map(|(key, op, value)| Term::Field { key, op, value }),
        (key_strategy(), prop::collection::vec(text_strategy(), 1..4))
            .prop_map(|(key, values)| Term::FieldIn { key, values }),
        key_strategy().prop_map(Term::Has),
        text_strategy().prop_map(Term::MessageContains),
    ]
}

fn term_strategy() -> impl Strategy<Value = Term> {
    prop_oneof![
        3 => positive_term(),
        1 => positive_term().prop_map(|t| Term::Not(Box::new(t))),
    ]
}

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "name",
            "kind",
            "level",
            "duration",
            "since",
            "until",
            "has",
            "message",
            "route",
            "field.",
            ":",
            "=",
            "!=",
            "<",
            "<=",
            ">",
            ">=",
            "~",
            "-",
            " ",
            "\"",
            "\\",
            "in(",
            ",",
            ")",
            "10",
            "1.5",
            "ms",
            "µs",
            "h",
            "2026-11-22",
            "T10:00",
            ":00Z",
            "warn",
            "call",
            "*",
            "?",
            "é",
            ".",
        ]),
        0..16,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn display_round_trips(terms in prop::collection::vec(term_strategy(), 0..6)) {
        let f = Filter { terms };
        let text = f.to_string();
        let back = parse(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(back, f, "{:?}", text);
    }

    #[test]
    fn arbitrary_input_never_panics(s in any::<String>()) {
        if let Err(e) = parse(&s) {
            prop_assert!(e.position <= s.len());
            prop_assert!(s.is_char_boundary(e.position));
        }
    }

    #[test]
    fn token_soup_never_panics_and_reparses(s in token_soup()) {
        match parse(&s) {
            Ok(f) => prop_assert_eq!(parse(&f.to_string()).unwrap(), f),
            Err(e) => {
                prop_assert!(e.position <= s.len());
                prop_assert!(s.is_char_boundary(e.position));
            }
        }
    }

    #[test]
    fn glob_agrees_with_reference(p in "[ab*?]{0,8}", s in "[ab]{0,10}") {
        let pc: Vec<char> = p.chars().collect();
        let sc: Vec<char> = s.chars().collect();
        prop_assert_eq!(Glob::new(p.clone()).matches(&s), glob_reference(&pc, &sc));
    }
}
