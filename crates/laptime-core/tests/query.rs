//! Differential tests of the query engine (`laptime_core::query`) against a deliberately plain
//! reference written here: the events of a snapshot as a `Vec<Event>`, every filter term evaluated
//! per event from the documented semantics, groups in a `BTreeMap`, aggregates by sorting.
//!
//! The stores are small but cut into many pages (small `page_rows`), some sealed by reopening,
//! some left in the active page, sometimes with a second partition whose dictionary numbers the
//! names differently, so every planner path (skip, answer from meta, decode) meets every filter.

mod common;

use std::cmp::Ordering;
use std::collections::BTreeMap;

use laptime_core::filter::{self, CmpOp, Filter, Glob, Kind, Status, Term, TimeBound};
use laptime_core::query::{
    self, AggValue, Aggregate, EventsRequest, GroupBy, GroupValue, OrderBy, OrderKey, Precision,
    Query, QueryResult, QueryStats, Row, SortOrder,
};
use laptime_core::{Batch, Code, Error, Event, Level, Options, ScanFilter, Store, Value, View};
use proptest::prelude::*;
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------------
// Generated stores
// ---------------------------------------------------------------------------------------------

/// Names chosen so that exact names, prefix globs, `?` and inner `*` all select different sets.
const NAMES: [&str; 5] = ["A.run", "A.stop", "B.get", "Svc.x.y", "Svc.xy"];
/// Field keys; `status` is reserved in the filter syntax, so strings must write `field.status`.
/// `route`..`status` take values of any type; `tenant` and `user` only strings, few and many (so
/// pages list their values in the value index, or have too many to list).
const KEYS: [&str; 6] = ["route", "tier", "n", "status", "tenant", "user"];
/// Index in [`KEYS`] of the first string-only key.
const STRING_KEYS_FROM: usize = 4;
const TENANTS: [&str; 5] = ["acme", "globex", "initech", "acme ", "1"];
/// Distinct `user` values: more than a page lists (`MAX_LISTED_VALUES`, 64).
const USERS: u32 = 150;
const MESSAGES: [&str; 5] = ["disk full", "ok", "Disk Full now", "", "retry 3"];
/// Start times cluster around these, so duplicates, bucket edges and exact bound hits are common.
const ANCHORS: [u64; 6] = [
    0,
    1_000,
    1_700_000_000_000_000_000,
    u64::MAX / 2,
    u64::MAX - 40,
    // Just below a power of two, so time buckets of width 2^k cut clusters in two.
    (1 << 61) - 20,
];
/// Query time for relative bounds (`since:1h`).
const NOW: u64 = 1_700_000_000_000_000_000 + 30;

#[derive(Debug, Clone)]
struct GenEvent {
    name: usize,
    start: u64,
    /// 0 = call ok, 1 = call error, 2.. = log at level `code - 2`.
    code: u8,
    duration: u64,
    message: Option<String>,
    /// At most one value per key (`BTreeMap`), keys index [`KEYS`].
    fields: BTreeMap<usize, Value>,
}

/// After an event: keep filling the batch, hand the batch over, or also close and reopen the
/// store (which seals the active page).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Action {
    None,
    Submit,
    Reopen,
}

#[derive(Debug, Clone)]
struct StoreCase {
    page_rows: usize,
    events: Vec<(GenEvent, Action)>,
    /// Events of a second partition, written by another store and moved in.
    foreign: Vec<GenEvent>,
}

fn start_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => (0..ANCHORS.len(), 0..50u64).prop_map(|(a, k)| ANCHORS[a].saturating_add(k)),
        1 => (0..ANCHORS.len(), 0..1_000_000_000_000u64)
            .prop_map(|(a, k)| ANCHORS[a].saturating_add(k)),
    ]
}

fn duration_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![
        1 => Just(0u64),
        3 => 1..200u64,
        3 => 1_000..50_000_000u64,
        1 => (1u64 << 50)..(1u64 << 50) + 5_000,
        1 => prop::sample::select(vec![1u64, 99, 100, 101, 1_023, 1_024, 1_000_000]),
    ]
}

fn f64_strategy() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::sample::select(vec![
            -1.5,
            -0.0,
            0.0,
            0.5,
            1.0,
            2.0,
            1e300,
            -1e-300,
            f64::NAN
        ]),
        -10.0..10.0f64,
    ]
}

fn i64_strategy() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => -3..4i64,
        1 => prop::sample::select(vec![
            i64::MIN,
            i64::MAX,
            (1 << 53) + 1,
            1 << 53,
            -(1 << 53) - 1,
            1_234_567_890_123_456_789,
        ]),
    ]
}

/// Strings that collide with the string forms of other types (`1`, `true`, `-0`) on purpose.
const STRS: [&str; 8] = ["/a", "/b", "/a b", "x,y", "1", "true", "", "-0"];

fn value_strategy() -> impl Strategy<Value = Value> {
    prop_oneof![
        i64_strategy().prop_map(Value::I64),
        f64_strategy().prop_map(Value::F64),
        any::<bool>().prop_map(Value::Bool),
        prop::sample::select(STRS.to_vec()).prop_map(|s| Value::Str(s.to_string())),
    ]
}

fn event_strategy() -> impl Strategy<Value = GenEvent> {
    (
        0..NAMES.len(),
        start_strategy(),
        prop_oneof![3 => 0..2u8, 2 => 2..8u8],
        duration_strategy(),
        prop::option::weighted(0.1, prop::sample::select(MESSAGES.to_vec())),
        prop::sample::select(MESSAGES.to_vec()),
        prop::collection::btree_map(0..STRING_KEYS_FROM, value_strategy(), 0..3),
        prop::option::weighted(0.4, prop::sample::select(TENANTS.to_vec())),
        prop::option::weighted(0.3, 0..USERS),
    )
        .prop_map(
            |(name, start, code, duration, call_msg, log_msg, mut fields, tenant, user)| {
                if let Some(t) = tenant {
                    fields.insert(STRING_KEYS_FROM, Value::Str(t.to_string()));
                }
                if let Some(u) = user {
                    fields.insert(STRING_KEYS_FROM + 1, Value::Str(format!("u{u}")));
                }
                let log = code >= 2;
                GenEvent {
                    name,
                    start,
                    code,
                    // Logs have no duration.
                    duration: if log { 0 } else { duration },
                    message: if log {
                        Some(log_msg.to_string())
                    } else {
                        call_msg.map(str::to_string)
                    },
                    fields,
                }
            },
        )
}

fn action_strategy() -> impl Strategy<Value = Action> {
    prop_oneof![
        40 => Just(Action::None),
        6 => Just(Action::Submit),
        1 => Just(Action::Reopen),
    ]
}

fn store_strategy() -> impl Strategy<Value = StoreCase> {
    (
        16..200usize,
        prop::collection::vec((event_strategy(), action_strategy()), 0..600),
        prop_oneof![
            3 => Just(Vec::new()),
            1 => prop::collection::vec(event_strategy(), 1..150),
        ],
    )
        .prop_map(|(page_rows, events, foreign)| StoreCase {
            page_rows,
            events,
            foreign,
        })
}

/// Flush and close `store`, then open it again: every page sealed, read back from disk.
fn sealed_and_reopened(store: Store, dir: &std::path::Path, page_rows: usize) -> Store {
    store.flush().expect("flush");
    store.close().expect("close");
    Store::open(dir, options(page_rows)).expect("reopen")
}

fn options(page_rows: usize) -> Options {
    Options {
        page_rows,
        ..Options::default()
    }
}

/// Intern every name and key (in the given order, so partitions may number them differently).
fn intern_all(store: &Store, reversed: bool) -> (Vec<u32>, Vec<u32>) {
    let mut words: Vec<&str> = NAMES.iter().chain(KEYS.iter()).copied().collect();
    if reversed {
        words.reverse();
    }
    for w in &words {
        store.intern(w).expect("intern");
    }
    let id = |w: &str| store.intern(w).expect("intern");
    (
        NAMES.iter().map(|n| id(n)).collect(),
        KEYS.iter().map(|k| id(k)).collect(),
    )
}

fn push_event(batch: &mut Batch, e: &GenEvent, names: &[u32], keys: &[u32]) {
    let row = if e.code >= 2 {
        let level = Level::from_u8(e.code - 2).expect("level");
        batch.push_log(
            names[e.name],
            e.start,
            level,
            e.message.as_deref().unwrap_or(""),
        )
    } else {
        let row = batch.push_call(names[e.name], e.start, e.duration, e.code == 0);
        if let Some(m) = &e.message {
            batch.set_message(row, m).expect("message");
        }
        row
    };
    for (k, v) in &e.fields {
        batch.add_field_at(row, keys[*k], v.clone()).expect("field");
    }
}

fn submit(store: &Store, batch: &mut Batch) {
    if !batch.is_empty() {
        let push = store.append(std::mem::take(batch));
        assert_eq!(push, laptime_core::Push::Accepted, "batch dropped");
    }
}

/// A store holding a case's events, and every event as the snapshot resolves them.
struct Built {
    /// Kept open for the test's duration; fields drop in order, so it closes before the
    /// directories go.
    _store: Store,
    snapshot: View,
    /// The reference's raw data.
    events: Vec<Event>,
    _dirs: Vec<TempDir>,
}

fn build(case: &StoreCase) -> Built {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut dirs = Vec::new();
    let opts = options(case.page_rows);
    // Opened first, so it creates its own partition rather than adopting the foreign one.
    let mut store = Store::open(dir.path(), opts.clone()).expect("open");
    if !case.foreign.is_empty() {
        // Another writer's partition: its own dictionary (names interned in reverse order), all
        // sealed. Moving it in is what a second process leaves behind.
        let other = tempfile::tempdir().expect("tempdir");
        let writer = Store::open(other.path(), options(case.page_rows)).expect("open");
        let (names, keys) = intern_all(&writer, true);
        let mut batch = Batch::default();
        for e in &case.foreign {
            push_event(&mut batch, e, &names, &keys);
        }
        submit(&writer, &mut batch);
        writer.flush().expect("flush");
        writer.close().expect("close");
        for entry in std::fs::read_dir(other.path().join("partitions")).expect("list") {
            let entry = entry.expect("entry");
            std::fs::rename(
                entry.path(),
                dir.path().join("partitions").join(entry.file_name()),
            )
            .expect("move partition");
        }
        dirs.push(other);
    }
    let (mut names, mut keys) = intern_all(&store, false);
    let mut batch = Batch::default();
    for (e, action) in &case.events {
        push_event(&mut batch, e, &names, &keys);
        match action {
            Action::None => {}
            Action::Submit => submit(&store, &mut batch),
            Action::Reopen => {
                submit(&store, &mut batch);
                store.flush().expect("flush");
                store.close().expect("close");
                store = Store::open(dir.path(), opts.clone()).expect("reopen");
                (names, keys) = intern_all(&store, false);
            }
        }
    }
    submit(&store, &mut batch);
    // The snapshot sees the active page, but only what the writer has taken from the ring.
    store.flush().expect("flush");
    assert_eq!(store.counters().dropped, 0);
    let snapshot = store.view().expect("snapshot");
    let events = snapshot.events(&ScanFilter::default()).expect("events");
    assert_eq!(events.len(), case.events.len() + case.foreign.len());
    dirs.push(dir);
    Built {
        _store: store,
        snapshot,
        events,
        _dirs: dirs,
    }
}

// ---------------------------------------------------------------------------------------------
// Generated filters and queries
// ---------------------------------------------------------------------------------------------

const GLOBS: [&str; 11] = [
    "A.run", "A.*", "*.run", "B.?et", "Svc.*.y", "Svc.x*", "*", "A.r?n", "C.none", "*x*", "?.*p",
];
/// Values for `key:value` / `key!=value` / `in(...)`: string forms of the generated values.
const EQ_VALUES: [&str; 20] = [
    "/a", "/b", "/a b", "x,y", "1", "true", "false", "", "-0", "0", "-3", "0.5", "NaN", "-1.5",
    "acme", "initech", "acme ", "u7", "u140", "u150",
];
/// Values for `<`, `<=`, `>`, `>=`: finite numbers in `i64` or `f64` syntax.
const NUM_VALUES: [&str; 14] = [
    "0",
    "1",
    "-1",
    "0.5",
    "-0.0",
    "1e3",
    "-3",
    "2.0",
    "9007199254740992",
    "9007199254740993",
    "-9007199254740993",
    "1234567890123456788",
    "9223372036854775807",
    "-9223372036854775808",
];

fn cmp_op_strategy() -> impl Strategy<Value = CmpOp> {
    prop::sample::select(vec![
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ])
}

fn key_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => prop::sample::select(KEYS.to_vec()).prop_map(str::to_string),
        1 => Just("absent".to_string()),
    ]
}

fn bound_strategy() -> impl Strategy<Value = TimeBound> {
    prop_oneof![
        4 => start_strategy().prop_map(TimeBound::EpochNs),
        1 => (0..100u64).prop_map(TimeBound::AgoNs),
        1 => Just(TimeBound::AgoNs(u64::MAX)),
    ]
}

fn leaf_term_strategy() -> impl Strategy<Value = Term> {
    prop_oneof![
        4 => prop::sample::select(GLOBS.to_vec()).prop_map(|g| Term::Name(Glob::new(g))),
        1 => prop::sample::select(vec![Kind::Call, Kind::Log]).prop_map(Term::Kind),
        1 => prop::sample::select(vec![Status::Ok, Status::Error]).prop_map(Term::Status),
        1 => (cmp_op_strategy(), prop::sample::select(Level::ALL.to_vec()))
            .prop_map(|(op, l)| Term::Level(op, l)),
        2 => (cmp_op_strategy(), duration_strategy()).prop_map(|(op, d)| Term::Duration(op, d)),
        2 => bound_strategy().prop_map(Term::Since),
        2 => bound_strategy().prop_map(Term::Until),
        2 => (key_strategy(), prop::bool::ANY, prop::sample::select(EQ_VALUES.to_vec()))
            .prop_map(|(key, eq, v)| Term::Field {
                key,
                op: if eq { CmpOp::Eq } else { CmpOp::Ne },
                value: v.to_string(),
            }),
        2 => (
            key_strategy(),
            prop::sample::select(vec![CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge]),
            prop::sample::select(NUM_VALUES.to_vec()),
        )
            .prop_map(|(key, op, v)| Term::Field {
                key,
                op,
                value: v.to_string(),
            }),
        1 => (
            key_strategy(),
            prop::collection::vec(prop::sample::select(EQ_VALUES.to_vec()), 1..4),
        )
            .prop_map(|(key, vs)| Term::FieldIn {
                key,
                values: vs.into_iter().map(str::to_string).collect(),
            }),
        1 => key_strategy().prop_map(Term::Has),
        1 => prop::sample::select(vec!["disk", "full", "Disk", "ok", "", "3"])
            .prop_map(|s| Term::MessageContains(s.to_string())),
        // Several words: the message index may rule pages out (whole words, prefixes, suffixes).
        1 => prop::sample::select(vec![
            "disk full", "k full", "Full now", "retry 3", "y 3", "sk fu", "retry 4", "now x",
            " ok", "ok ", "disk fully", "Disk Full no",
        ])
        .prop_map(|s| Term::MessageContains(s.to_string())),
    ]
}

fn term_strategy() -> impl Strategy<Value = Term> {
    prop_oneof![
        4 => leaf_term_strategy(),
        1 => leaf_term_strategy().prop_map(|t| Term::Not(Box::new(t))),
        1 => leaf_term_strategy().prop_map(|t| Term::Not(Box::new(Term::Not(Box::new(t))))),
    ]
}

/// A filter, and whether to hand it to the engine as parsed text instead of as `Term`s.
fn filter_strategy() -> impl Strategy<Value = (Filter, bool)> {
    (
        prop::collection::vec(term_strategy(), 0..4),
        prop::bool::ANY,
    )
        .prop_map(|(terms, text)| (Filter { terms }, text))
}

fn group_strategy() -> impl Strategy<Value = GroupBy> {
    prop_oneof![
        2 => Just(GroupBy::Name),
        2 => prop::sample::select(KEYS.to_vec()).prop_map(|k| GroupBy::Field(k.to_string())),
        1 => Just(GroupBy::Field("absent".to_string())),
        2 => prop::sample::select(vec![
            1u64,
            7,
            1_000,
            1 << 30,
            3_600_000_000_000,
            1 << 61,
            u64::MAX / 3,
            u64::MAX,
        ])
        .prop_map(GroupBy::Time),
    ]
}

fn all_aggregates(extra_q: f64) -> Vec<Aggregate> {
    let mut all = common::every_aggregate();
    all.push(Aggregate::Percentile(extra_q));
    all
}

fn aggregates_strategy() -> impl Strategy<Value = Vec<Aggregate>> {
    (1e-6..=1.0f64, prop::bool::ANY).prop_flat_map(|(q, everything)| {
        let all = all_aggregates(q);
        if everything {
            Just(all).boxed()
        } else {
            // Subsets without stddev and percentiles are what pages can be answered from meta for.
            let n = all.len();
            prop::sample::subsequence(all, 1..=n).prop_shuffle().boxed()
        }
    })
}

#[derive(Debug, Clone)]
struct GenQuery {
    filter: Filter,
    as_text: bool,
    group_by: Vec<GroupBy>,
    aggregates: Vec<Aggregate>,
    /// (by an aggregate?, index before reduction modulo the column count, descending)
    order: Option<(bool, usize, bool)>,
    limit: Option<usize>,
    threads: usize,
}

fn query_strategy() -> impl Strategy<Value = GenQuery> {
    (
        filter_strategy(),
        prop::collection::vec(group_strategy(), 0..=3),
        aggregates_strategy(),
        prop::option::of((prop::bool::ANY, 0..16usize, prop::bool::ANY)),
        prop::option::weighted(0.3, 0..6usize),
        1..=2usize,
    )
        .prop_map(
            |((filter, as_text), group_by, aggregates, order, limit, threads)| GenQuery {
                filter,
                as_text,
                group_by,
                aggregates,
                order,
                limit,
                threads,
            },
        )
}

impl GenQuery {
    fn to_query(&self, precision: Precision) -> Query {
        let filter = if self.as_text {
            let text = self.filter.to_string();
            let parsed = filter::parse(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(parsed, self.filter, "{text:?} does not parse back");
            parsed
        } else {
            self.filter.clone()
        };
        let order_by = self.order.map(|(by_agg, i, descending)| {
            let key = if by_agg || self.group_by.is_empty() {
                OrderKey::Aggregate(i % self.aggregates.len())
            } else {
                OrderKey::Group(i % self.group_by.len())
            };
            OrderBy { key, descending }
        });
        Query {
            filter,
            now_ns: NOW,
            group_by: self.group_by.clone(),
            aggregates: self.aggregates.clone(),
            order_by,
            limit: self.limit,
            precision,
            threads: self.threads,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The reference
// ---------------------------------------------------------------------------------------------

/// Whether `text` matches glob `pattern` (`*` any run, `?` one char): plain recursion.
fn glob_matches(pattern: &[char], text: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('*', rest)) => (0..=text.len()).any(|i| glob_matches(rest, &text[i..])),
        Some((&p, rest)) => match text.split_first() {
            Some((&t, more)) => (p == '?' || p == t) && glob_matches(rest, more),
            None => false,
        },
    }
}

/// `lhs OP rhs` given their comparison; incomparable (`None`, NaN) only satisfies `!=`.
fn op_holds(op: CmpOp, ord: Option<Ordering>) -> bool {
    match op {
        CmpOp::Eq => ord == Some(Ordering::Equal),
        CmpOp::Ne => ord != Some(Ordering::Equal),
        CmpOp::Lt => ord == Some(Ordering::Less),
        CmpOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
        CmpOp::Gt => ord == Some(Ordering::Greater),
        CmpOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
    }
}

/// Exact comparison of an integer with a float (no rounding of either).
fn cmp_int_float(x: i64, r: f64) -> Option<Ordering> {
    if r.is_nan() {
        return None;
    }
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if r >= TWO_63 {
        return Some(Ordering::Less);
    }
    if r < -TWO_63 {
        return Some(Ordering::Greater);
    }
    let floor = r.floor();
    // In range, so the conversion is exact.
    match i128::from(x).cmp(&(floor as i128)) {
        Ordering::Equal if r > floor => Some(Ordering::Less),
        o => Some(o),
    }
}

/// The numeric comparison of a field with a literal, mathematically exact.
fn cmp_numeric(v: &Value, literal: &str) -> Option<Ordering> {
    match (v, literal.parse::<i64>()) {
        (Value::I64(x), Ok(r)) => Some(x.cmp(&r)),
        (Value::F64(x), Ok(r)) => cmp_int_float(r, *x).map(Ordering::reverse),
        (Value::I64(x), Err(_)) => cmp_int_float(*x, literal.parse().ok()?),
        (Value::F64(x), Err(_)) => x.partial_cmp(&literal.parse::<f64>().ok()?),
        _ => None,
    }
}

/// `=` / `in()` per the documented semantics: a finite number literal against a number field
/// compares numerically; everything else compares the field's string form.
fn value_equals(v: &Value, literal: &str) -> bool {
    let is_number =
        literal.parse::<i64>().is_ok() || literal.parse::<f64>().is_ok_and(f64::is_finite);
    let numeric = matches!(v, Value::I64(_) | Value::F64(_))
        && is_number
        && cmp_numeric(v, literal) == Some(Ordering::Equal);
    numeric || string_form(v) == literal
}

/// The string form fields are compared by for `=`, `!=` and `in()`.
fn string_form(v: &Value) -> String {
    match v {
        Value::I64(x) => format!("{x}"),
        Value::F64(x) => format!("{x}"),
        Value::Bool(x) => format!("{x}"),
        Value::Str(s) => s.clone(),
    }
}

fn field<'e>(e: &'e Event, key: &str) -> Option<&'e Value> {
    e.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn resolve(b: &TimeBound, now: u64) -> u64 {
    match *b {
        TimeBound::AgoNs(ago) => now.saturating_sub(ago),
        TimeBound::EpochNs(t) => t,
    }
}

fn term_holds(t: &Term, e: &Event, now: u64) -> bool {
    match t {
        Term::Name(g) => {
            let p: Vec<char> = g.pattern().chars().collect();
            let s: Vec<char> = e.name.chars().collect();
            glob_matches(&p, &s)
        }
        Term::Kind(Kind::Call) => e.code.is_call(),
        Term::Kind(Kind::Log) => !e.code.is_call(),
        Term::Status(Status::Ok) => e.code == Code::CallOk,
        Term::Status(Status::Error) => e.code == Code::CallError,
        Term::Level(op, l) => match e.code {
            Code::Log(level) => op_holds(*op, Some(level.cmp(l))),
            _ => false,
        },
        Term::Duration(op, d) => op_holds(*op, Some(e.duration_ns.cmp(d))),
        Term::Since(b) => e.start_ns >= resolve(b, now),
        Term::Until(b) => e.start_ns < resolve(b, now),
        Term::Field { key, op, value } => match field(e, key) {
            None => false,
            Some(v) => match op {
                CmpOp::Eq => value_equals(v, value),
                CmpOp::Ne => !value_equals(v, value),
                _ => op_holds(*op, cmp_numeric(v, value)),
            },
        },
        Term::FieldIn { key, values } => {
            field(e, key).is_some_and(|v| values.iter().any(|x| value_equals(v, x)))
        }
        Term::Has(key) => field(e, key).is_some(),
        Term::MessageContains(s) => e.message.as_deref().is_some_and(|m| m.contains(s.as_str())),
        Term::Not(inner) => !term_holds(inner, e, now),
    }
}

fn filter_holds(f: &Filter, e: &Event, now: u64) -> bool {
    f.terms.iter().all(|t| term_holds(t, e, now))
}

/// A group key component with the total order the engine documents: null first, then by type
/// (bool, i64, f64, string, time), then by value (floats by `total_cmp`).
#[derive(Debug, Clone)]
struct RefKey(GroupValue);

impl RefKey {
    fn of(g: &GroupBy, e: &Event) -> RefKey {
        RefKey(match g {
            GroupBy::Name => GroupValue::Str(e.name.as_str().into()),
            GroupBy::Field(k) => match field(e, k) {
                None => GroupValue::Null,
                Some(Value::I64(x)) => GroupValue::I64(*x),
                Some(Value::F64(x)) => GroupValue::F64(*x),
                Some(Value::Bool(x)) => GroupValue::Bool(*x),
                Some(Value::Str(s)) => GroupValue::Str(s.as_str().into()),
            },
            GroupBy::Time(w) => GroupValue::Time(e.start_ns - e.start_ns % w),
        })
    }
}

fn rank(v: &GroupValue) -> u8 {
    match v {
        GroupValue::Null => 0,
        GroupValue::Bool(_) => 1,
        GroupValue::I64(_) => 2,
        GroupValue::F64(_) => 3,
        GroupValue::Str(_) => 4,
        GroupValue::Time(_) => 5,
    }
}

fn cmp_group_value(a: &GroupValue, b: &GroupValue) -> Ordering {
    match (a, b) {
        (GroupValue::Bool(x), GroupValue::Bool(y)) => x.cmp(y),
        (GroupValue::I64(x), GroupValue::I64(y)) => x.cmp(y),
        (GroupValue::F64(x), GroupValue::F64(y)) => x.total_cmp(y),
        (GroupValue::Str(x), GroupValue::Str(y)) => x.cmp(y),
        (GroupValue::Time(x), GroupValue::Time(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

impl PartialEq for RefKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for RefKey {}
impl PartialOrd for RefKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for RefKey {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_group_value(&self.0, &other.0)
    }
}

fn cmp_keys(a: &[GroupValue], b: &[GroupValue]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| cmp_group_value(x, y))
        .find(|o| *o != Ordering::Equal)
        .unwrap_or(Ordering::Equal)
}

/// Nearest rank `clamp(ceil(q * n), 1, n)`, the product taken in `f64` as documented.
fn nearest_rank(q: f64, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    if q >= 1.0 {
        return n;
    }
    ((q * n as f64).ceil() as usize).clamp(1, n)
}

/// The aggregates of one group's events, straight from the definitions; `span_seconds` is the
/// time from the first to the last call the whole query matched (rates divide by it).
fn reference_values(
    events: &[&Event],
    aggregates: &[Aggregate],
    span_seconds: Option<f64>,
) -> Vec<AggValue> {
    let mut durations: Vec<u64> = events
        .iter()
        .filter(|e| e.code.is_call())
        .map(|e| e.duration_ns)
        .collect();
    durations.sort_unstable();
    let n = durations.len();
    let errors = events.iter().filter(|e| e.code == Code::CallError).count() as u64;
    let sum: u128 = durations.iter().map(|&d| u128::from(d)).sum();
    let when_calls = |v: AggValue| if n == 0 { AggValue::None } else { v };
    aggregates
        .iter()
        .map(|a| match *a {
            Aggregate::Count => AggValue::Count(events.len() as u64),
            Aggregate::Calls => AggValue::Count(n as u64),
            Aggregate::Logs => AggValue::Count((events.len() - n) as u64),
            Aggregate::Rate => {
                span_seconds.map_or(AggValue::None, |s| AggValue::Float(n as f64 / s))
            }
            Aggregate::Errors => AggValue::Count(errors),
            Aggregate::ErrorRate => when_calls(AggValue::Float(errors as f64 / n as f64)),
            Aggregate::Sum => AggValue::Sum(sum),
            Aggregate::Mean => when_calls(AggValue::Float(sum as f64 / n as f64)),
            Aggregate::Min => when_calls(AggValue::Nanos(durations.first().copied().unwrap_or(0))),
            Aggregate::Max => when_calls(AggValue::Nanos(durations.last().copied().unwrap_or(0))),
            Aggregate::Stddev if n >= 2 => {
                // n * Σx² - (Σx)² in exact integers (durations stay below 2^51 here), so the only
                // rounding is the final division and square root.
                let nn = n as u128;
                let sq: u128 = durations
                    .iter()
                    .map(|&d| u128::from(d) * u128::from(d))
                    .sum();
                let num = nn * sq - sum * sum;
                AggValue::Float((num as f64 / (nn * (nn - 1)) as f64).sqrt())
            }
            Aggregate::Stddev => AggValue::None,
            Aggregate::Percentile(q) => when_calls(AggValue::Nanos(
                durations
                    .get(nearest_rank(q, n).max(1) - 1)
                    .copied()
                    .unwrap_or(0),
            )),
        })
        .collect()
}

fn cmp_rows_by(order: Option<OrderBy>, a: &Row, b: &Row) -> Ordering {
    let by_key = || cmp_keys(&a.key, &b.key);
    let Some(order) = order else {
        return by_key();
    };
    let dir = |o: Ordering| if order.descending { o.reverse() } else { o };
    let primary = match order.key {
        OrderKey::Group(i) => dir(cmp_group_value(&a.key[i], &b.key[i])),
        OrderKey::Aggregate(i) => match (a.values[i].as_f64(), b.values[i].as_f64()) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => dir(x.total_cmp(&y)),
        },
    };
    primary.then_with(by_key)
}

/// The whole query, the slow and obvious way.
fn reference(events: &[Event], q: &Query) -> Vec<Row> {
    let mut groups: BTreeMap<Vec<RefKey>, Vec<&Event>> = BTreeMap::new();
    let call_starts: Vec<u64> = events
        .iter()
        .filter(|e| e.code.is_call() && filter_holds(&q.filter, e, q.now_ns))
        .map(|e| e.start_ns)
        .collect();
    let span_seconds = match (call_starts.iter().min(), call_starts.iter().max()) {
        (Some(&first), Some(&last)) if last > first => Some((last - first) as f64 / 1e9),
        _ => None,
    };
    if q.group_by.is_empty() {
        // One group over everything, even when nothing matches.
        groups.insert(Vec::new(), Vec::new());
    }
    for e in events
        .iter()
        .filter(|e| filter_holds(&q.filter, e, q.now_ns))
    {
        let key = q.group_by.iter().map(|g| RefKey::of(g, e)).collect();
        groups.entry(key).or_default().push(e);
    }
    let mut rows: Vec<Row> = groups
        .into_iter()
        .map(|(key, evs)| Row {
            key: key.into_iter().map(|k| k.0).collect(),
            values: reference_values(&evs, &q.aggregates, span_seconds),
        })
        .collect();
    rows.sort_by(|a, b| cmp_rows_by(q.order_by, a, b));
    if let Some(limit) = q.limit {
        rows.truncate(limit);
    }
    rows
}

// ---------------------------------------------------------------------------------------------
// Comparing
// ---------------------------------------------------------------------------------------------

fn same_key(a: &[GroupValue], b: &[GroupValue]) -> bool {
    a.len() == b.len() && cmp_keys(a, b) == Ordering::Equal
}

fn close(got: f64, want: f64, rel: f64) -> bool {
    got == want || (got - want).abs() <= rel * want.abs().max(f64::MIN_POSITIVE)
}

/// Check one value against the reference; `Err` describes the difference.
fn check_value(
    a: &Aggregate,
    got: AggValue,
    want: AggValue,
    precision: Precision,
) -> Result<(), String> {
    let ok = match (*a, got, want) {
        (_, AggValue::None, AggValue::None) => true,
        (
            Aggregate::Mean | Aggregate::ErrorRate | Aggregate::Rate,
            AggValue::Float(g),
            AggValue::Float(w),
        ) => close(g, w, 1e-9),
        (Aggregate::Stddev, AggValue::Float(g), AggValue::Float(w)) => close(g, w, 1e-9),
        (Aggregate::Percentile(_), AggValue::Nanos(g), AggValue::Nanos(w))
            if precision == Precision::Auto =>
        {
            // The sketch's guarantee: |y - x| <= 1% of x (zero durations exact).
            (g as f64 - w as f64).abs() <= 0.01 * w as f64
        }
        _ => got == want,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{}: got {got:?}, want {want:?}", a.label()))
    }
}

/// Whether the engine's order may legitimately differ from the reference's (sort by a value
/// that is only approximately equal): then rows are matched by key and the engine's order is
/// checked against its own values.
fn order_is_approximate(q: &Query) -> bool {
    match q.order_by.map(|o| o.key) {
        Some(OrderKey::Aggregate(i)) => match q.aggregates[i] {
            Aggregate::Stddev => true,
            Aggregate::Percentile(_) => q.precision == Precision::Auto,
            _ => false,
        },
        _ => false,
    }
}

fn check_result(got: &QueryResult, events: &[Event], q: &Query) -> Result<(), String> {
    let labels: Vec<String> = q.aggregates.iter().map(Aggregate::label).collect();
    if got.value_labels != labels {
        return Err(format!("labels {:?} != {labels:?}", got.value_labels));
    }
    for w in got.rows.windows(2) {
        if cmp_rows_by(q.order_by, &w[0], &w[1]) != Ordering::Less {
            return Err(format!("rows out of order: {:?} then {:?}", w[0], w[1]));
        }
    }
    let approximate = order_is_approximate(q);
    let mut want = if approximate {
        // Compare every group; the limit is checked for size only.
        let mut all = reference(
            events,
            &Query {
                limit: None,
                ..q.clone()
            },
        );
        all.sort_by(|a, b| cmp_keys(&a.key, &b.key));
        all
    } else {
        reference(events, q)
    };
    let mut rows = got.rows.clone();
    if approximate {
        let expected_len = q.limit.map_or(want.len(), |l| l.min(want.len()));
        if rows.len() != expected_len {
            return Err(format!("{} rows, want {expected_len}", rows.len()));
        }
        rows.sort_by(|a, b| cmp_keys(&a.key, &b.key));
        let keep: Vec<Row> = want
            .iter()
            .filter(|w| rows.iter().any(|r| same_key(&r.key, &w.key)))
            .cloned()
            .collect();
        want = keep;
    }
    if rows.len() != want.len() {
        return Err(format!(
            "{} rows, want {}\n got: {:?}\nwant: {:?}",
            rows.len(),
            want.len(),
            rows,
            want
        ));
    }
    for (r, w) in rows.iter().zip(&want) {
        if !same_key(&r.key, &w.key) {
            return Err(format!(
                "row key {:?}, want {:?}\n got: {rows:?}\nwant: {want:?}",
                r.key, w.key
            ));
        }
        for ((a, g), v) in q.aggregates.iter().zip(&r.values).zip(&w.values) {
            check_value(a, *g, *v, q.precision).map_err(|e| format!("group {:?}: {e}", r.key))?;
        }
    }
    Ok(())
}

fn run_and_check(snapshot: &View, events: &[Event], q: &Query) -> Result<QueryResult, String> {
    let got = query::run(snapshot, q).map_err(|e| format!("query failed: {e}"))?;
    check_result(&got, events, q)
        .map_err(|e| format!("{e}\nquery: {q:?}\nfilter: {}", q.filter))?;
    Ok(got)
}

// ---------------------------------------------------------------------------------------------
// 1. Random stores, random queries
// ---------------------------------------------------------------------------------------------

/// Rows equal in keys (as printed: a NaN key equals itself there) and values, where a
/// floating-point value (mean, stddev) may differ in its last bits: it is summed in an order that
/// depends on which pages each thread read.
fn same_rows(a: &[Row], b: &[Row]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            format!("{:?}", x.key) == format!("{:?}", y.key)
                && x.values.len() == y.values.len()
                && x.values.iter().zip(&y.values).all(|(v, w)| match (v, w) {
                    (AggValue::Float(v), AggValue::Float(w)) => {
                        v == w || (v - w).abs() <= 1e-9 * v.abs().max(w.abs())
                    }
                    _ => v == w,
                })
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        // Keep the tree clean: a failure prints its minimal input.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Every row, key and value of random queries equals the reference, in both precisions.
    #[test]
    fn queries_equal_the_reference(
        case in store_strategy(),
        queries in prop::collection::vec(query_strategy(), 8..16),
    ) {
        let built = build(&case);
        for gq in &queries {
            for precision in [Precision::Exact, Precision::Auto] {
                let q = gq.to_query(precision);
                if let Err(e) = run_and_check(&built.snapshot, &built.events, &q) {
                    return Err(TestCaseError::fail(e));
                }
            }
        }
    }

    /// The indexes change no answer: every random query (filters on few- and many-valued string
    /// keys, numbers, messages; grouped by them) gives the same rows with the metas' value and
    /// message indexes as without them, in both precisions, and with them decodes no more pages.
    #[test]
    fn indexes_change_no_answer(
        case in store_strategy(),
        queries in prop::collection::vec(query_strategy(), 8..16),
    ) {
        let built = build(&case);
        let plain = built._store.view().expect("view").without_indexes();
        prop_assert!(!plain.uses_indexes() && built.snapshot.uses_indexes());
        for gq in &queries {
            for precision in [Precision::Exact, Precision::Auto] {
                let q = gq.to_query(precision);
                let with = query::run(&built.snapshot, &q).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let without = query::run(&plain, &q).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(same_rows(&with.rows, &without.rows), "{:?}\n{:?}\n{:?}", q, with.rows, without.rows);
                prop_assert!(
                    with.stats.pages_decoded <= without.stats.pages_decoded,
                    "{:?}: {:?} against {:?}", q, with.stats, without.stats
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 1b. Edge cases: empty stores, nothing matching, single events
// ---------------------------------------------------------------------------------------------

fn empty_values() -> Vec<AggValue> {
    // count, calls, logs, rate (no calls: no span), errors, error_rate
    let mut v = vec![
        AggValue::Count(0),
        AggValue::Count(0),
        AggValue::Count(0),
        AggValue::None,
        AggValue::Count(0),
        AggValue::None,
        // The sum over no calls is the empty sum (the engine's behaviour, pinned here).
        AggValue::Sum(0),
    ];
    v.extend([AggValue::None; 10]);
    v
}

#[test]
fn empty_results_have_one_row_without_grouping_and_none_with_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), options(16)).expect("open");
    let aggs = all_aggregates(0.3);
    for precision in [Precision::Exact, Precision::Auto] {
        // Empty store.
        let snap = store.view().expect("snapshot");
        let q = Query {
            aggregates: aggs.clone(),
            precision,
            now_ns: NOW,
            ..Query::default()
        };
        let r = query::run(&snap, &q).expect("query");
        assert_eq!(r.rows.len(), 1);
        assert!(r.rows[0].key.is_empty());
        assert_eq!(r.rows[0].values, empty_values());
        let grouped = Query {
            group_by: vec![GroupBy::Name],
            ..q.clone()
        };
        assert!(query::run(&snap, &grouped).expect("query").rows.is_empty());
    }

    // One event; filters that match nothing and filters that match it.
    let id = store.intern("A.run").expect("intern");
    let mut b = Batch::default();
    b.push_call(id, 1_000, 250, false);
    store.append(b);
    store.flush().expect("flush");
    let snap = store.view().expect("snapshot");
    let events = snap.events(&ScanFilter::default()).expect("events");
    for text in [
        "name:B.*",
        "status:ok",
        "kind:log",
        "until:1970-01-01T00:00:00.000001Z",
        "",
    ] {
        for group_by in [vec![], vec![GroupBy::Name, GroupBy::Time(7)]] {
            for precision in [Precision::Exact, Precision::Auto] {
                let q = Query {
                    filter: filter::parse(text).expect("parse"),
                    group_by: group_by.clone(),
                    aggregates: aggs.clone(),
                    precision,
                    now_ns: NOW,
                    threads: 2,
                    ..Query::default()
                };
                let r = run_and_check(&snap, &events, &q).unwrap_or_else(|e| panic!("{e}"));
                if text.is_empty() {
                    assert_eq!(r.rows.len(), 1);
                    assert_eq!(r.rows[0].values[0], AggValue::Count(1));
                    assert_eq!(r.rows[0].values[3], AggValue::None, "rate of one call");
                    assert_eq!(r.rows[0].values[10], AggValue::None, "stddev of one call");
                    assert_eq!(r.rows[0].values[11..], [AggValue::Nanos(250); 6]);
                } else if group_by.is_empty() {
                    assert_eq!(r.rows[0].values, empty_values(), "{text}");
                } else {
                    assert!(r.rows.is_empty(), "{text}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 2. The planner: pages skipped, answered from meta, decoded
// ---------------------------------------------------------------------------------------------

const BASE: u64 = 1_700_000_000_000_000_000;

/// 20,000 events in 20 sealed pages of 1,000; each name fills a run of 2,500 consecutive events,
/// so most pages hold one name. Only `B.get` calls carry a `route`.
fn large_store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), options(1000)).expect("open");
    let names: Vec<u32> = NAMES
        .iter()
        .map(|n| store.intern(n).expect("intern"))
        .collect();
    let route = store.intern("route").expect("intern");
    for chunk in 0..20u64 {
        let mut b = Batch::default();
        for i in chunk * 1000..(chunk + 1) * 1000 {
            let name = (i / 2500 % 4) as usize;
            let start = BASE + i * 1_000_000;
            if i % 10 == 9 {
                b.push_log(names[name], start, Level::Warn, "disk full");
                continue;
            }
            let dur = 1_000 + (i * 7919) % 5_000_000;
            let row = b.push_call(names[name], start, dur, i % 7 != 0);
            if name == 2 {
                let v = if i % 2 == 0 { "/a" } else { "/b" };
                b.add_field_at(row, route, Value::Str(v.into()))
                    .expect("field");
            }
        }
        store.append(b);
    }
    let store = sealed_and_reopened(store, dir.path(), 1000);
    (dir, store)
}

#[test]
fn planner_answers_from_meta_only_when_allowed_and_skips_pages() {
    let (_dir, store) = large_store();
    let snap = store.view().expect("snapshot");
    let events = snap.events(&ScanFilter::default()).expect("events");
    assert_eq!(events.len(), 20_000);
    let run = |text: &str, group_by: Vec<GroupBy>, aggregates: Vec<Aggregate>, precision| {
        let q = Query {
            filter: filter::parse(text).expect("parse"),
            now_ns: NOW,
            group_by,
            aggregates,
            precision,
            threads: 2,
            ..Query::default()
        };
        let r = run_and_check(&snap, &events, &q).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.stats.pages_total, 20);
        assert_eq!(
            r.stats.pages_skipped + r.stats.pages_from_meta + r.stats.pages_decoded,
            20,
            "{text}: {:?}",
            r.stats
        );
        r.stats
    };
    let pct = vec![
        Aggregate::Count,
        Aggregate::Errors,
        Aggregate::ErrorRate,
        Aggregate::Sum,
        Aggregate::Mean,
        Aggregate::Min,
        Aggregate::Max,
        Aggregate::Percentile(0.5),
        Aggregate::Percentile(0.99),
    ];
    let plain: Vec<Aggregate> = pct[..7].to_vec();
    let by_name = || vec![GroupBy::Name];

    // Name filter: the segment's summary answers it whole (its pages count as answered from
    // meta), nothing is decoded.
    let s = run("name:A.*", by_name(), pct.clone(), Precision::Auto);
    assert!(s.pages_from_meta == 20 && s.pages_decoded == 0, "{s:?}");
    assert!(!s.exact_percentiles);
    // Cut inside the first page, the segment is planned page by page: pages of other names are
    // skipped by their meta, pure pages answered from it, the cut page decoded.
    let text = format!("name:A.* since:{}", (BASE + 500 * 1_000_000) / 1_000_000);
    let s = run(&text, by_name(), pct.clone(), Precision::Auto);
    assert!(
        s.pages_skipped > 0 && s.pages_from_meta > 0 && s.pages_decoded == 1,
        "{s:?}"
    );
    // Exact percentiles need the values: nothing from meta.
    let s = run("name:A.*", by_name(), pct.clone(), Precision::Exact);
    assert!(s.pages_skipped > 0, "{s:?}");
    assert_eq!(s.pages_from_meta, 0, "{s:?}");
    assert!(s.exact_percentiles);
    // Exact mode without percentiles may still use meta: everything else is exact there.
    let s = run("name:A.*", by_name(), plain.clone(), Precision::Exact);
    assert!(s.pages_from_meta > 0, "{s:?}");
    // Stddev needs the values in either mode.
    let mut with_sd = plain.clone();
    with_sd.push(Aggregate::Stddev);
    let s = run("", by_name(), with_sd, Precision::Auto);
    assert_eq!(s.pages_from_meta, 0, "{s:?}");

    // Time bounds rule out pages by their start range (page k holds events k*1000..k*1000+999).
    let since = BASE + 5_000 * 1_000_000;
    let until = BASE + 12_000 * 1_000_000;
    let text = format!("since:{} until:{}", since / 1_000_000, until / 1_000_000);
    let s = run(&text, vec![], pct.clone(), Precision::Auto);
    assert_eq!(s.pages_skipped, 13, "{s:?}");
    assert_eq!(s.pages_from_meta + s.pages_decoded, 7, "{s:?}");
    assert!(s.pages_from_meta > 0, "{s:?}");
    // A bound inside a page makes that page decoded.
    let text = format!("since:{}", (since + 500 * 1_000_000) / 1_000_000);
    let s = run(&text, vec![], plain.clone(), Precision::Exact);
    assert!(s.pages_decoded >= 1 && s.pages_from_meta > 0, "{s:?}");

    // One hour buckets hold whole pages; 1 s buckets (1,000 events) straddle them.
    let hour = vec![GroupBy::Time(3_600_000_000_000)];
    let s = run("", hour, pct.clone(), Precision::Auto);
    assert!(s.pages_from_meta > 0, "{s:?}");
    let s = run(
        "",
        vec![GroupBy::Time(999_000_000)],
        plain.clone(),
        Precision::Auto,
    );
    assert!(s.pages_decoded > 0, "{s:?}");

    // Status splits calls: counts come from meta, durations need the rows.
    let s = run(
        "status:error",
        by_name(),
        vec![Aggregate::Count],
        Precision::Auto,
    );
    assert!(s.pages_from_meta > 0, "{s:?}");
    let s = run(
        "status:error",
        by_name(),
        vec![Aggregate::Sum],
        Precision::Auto,
    );
    assert_eq!(s.pages_from_meta, 0, "{s:?}");
    // Logs only, or calls only, are whole classes.
    let s = run("kind:log", by_name(), plain.clone(), Precision::Exact);
    assert!(s.pages_from_meta > 0, "{s:?}");
    let s = run("-kind:log", by_name(), pct.clone(), Precision::Auto);
    assert!(s.pages_from_meta > 0, "{s:?}");

    // Grouping by a field: pages without the key are one null group each; pages with it are
    // answered from their value index (counts and sketches per value) unless the query needs
    // every duration (stddev, exact percentiles).
    let route = vec![GroupBy::Field("route".into())];
    let s = run("", route.clone(), pct.clone(), Precision::Auto);
    assert!(s.pages_from_meta > 0 && s.pages_decoded == 0, "{s:?}");
    let s = run("", route.clone(), pct.clone(), Precision::Exact);
    assert!(s.pages_decoded > 0, "{s:?}");
    let s = run(
        "",
        route.clone(),
        vec![Aggregate::Count, Aggregate::Stddev],
        Precision::Auto,
    );
    assert!(s.pages_decoded > 0, "{s:?}");
    // A field filter cannot be decided from meta where the key is present, but rules out
    // pages without it.
    let s = run("route:/a", route, plain.clone(), Precision::Auto);
    assert!(s.pages_skipped > 0 && s.pages_from_meta == 0, "{s:?}");
    // A duration bound outside a name's range is decided by the sketch's exact min and max
    // (logs have duration 0, so they would match `duration<1us`: leave them out).
    let s = run(
        "kind:call duration<1us",
        vec![],
        plain.clone(),
        Precision::Exact,
    );
    assert_eq!(s.pages_skipped, 20, "{s:?}");
    let s = run(
        "kind:call duration>=1us",
        vec![],
        plain.clone(),
        Precision::Exact,
    );
    assert_eq!(s.pages_from_meta, 20, "{s:?}");
}

/// Counts grouped by a listed field come from the value index (page metas and the segment's
/// summary) without decoding a page, whenever the query takes the same classes of events from
/// every name; other queries decode, and both give the oracle's answer. Events without the key
/// form the `null` group; logs carry routes too.
/// Grouping decoded rows by a string field: a page-local dictionary of 1,000 values in shuffled
/// order (so recognising repeated values by where they lie in the page meets many collisions and
/// evictions), values that differ only after a common prefix, unique values that are stored
/// without a dictionary, the same text under two names, and two dimensions at once.
#[test]
fn grouping_decoded_rows_by_many_string_values_matches_the_reference() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), options(4_000)).expect("open");
    let names = [
        store.intern("A.run").expect("intern"),
        store.intern("B.get").expect("intern"),
    ];
    let tenant = store.intern("tenant").expect("intern");
    let request = store.intern("request").expect("intern");
    for page in 0..3u64 {
        let mut b = Batch::default();
        for i in page * 4_000..(page + 1) * 4_000 {
            let name = names[(i % 3 == 0) as usize];
            let row = b.push_call(
                name,
                BASE + i * 1_000,
                1_000 + (i * 7_919) % 100_003,
                i % 13 != 0,
            );
            if i % 4 != 3 {
                let t = (i * 7_919 + page * 31) % 1_000;
                b.add_field_at(
                    row,
                    tenant,
                    Value::Str(format!("tenant-with-a-long-shared-prefix-{t}")),
                )
                .expect("field");
            }
            if i % 2 == 0 {
                b.add_field_at(row, request, Value::Str(format!("r{i}")))
                    .expect("field");
            }
        }
        store.append(b);
    }
    let store = sealed_and_reopened(store, dir.path(), 4_000);
    let snap = store.view().expect("snapshot");
    let events = snap.events(&ScanFilter::default()).expect("events");
    assert_eq!(events.len(), 12_000);
    let tenant_dim = || GroupBy::Field("tenant".into());
    let request_dim = || GroupBy::Field("request".into());
    for (group_by, groups) in [
        (vec![tenant_dim()], 1_001),
        (vec![request_dim()], 6_001),
        (vec![tenant_dim(), GroupBy::Name], 0),
        (vec![GroupBy::Name, request_dim()], 0),
    ] {
        for precision in [Precision::Exact, Precision::Auto] {
            let q = Query {
                // A duration term decodes every page.
                filter: filter::parse("duration>=0").expect("parse"),
                now_ns: NOW,
                group_by: group_by.clone(),
                aggregates: vec![
                    Aggregate::Count,
                    Aggregate::Errors,
                    Aggregate::Percentile(0.5),
                    Aggregate::Percentile(0.99),
                ],
                precision,
                threads: 2,
                ..Query::default()
            };
            let r = run_and_check(&snap, &events, &q).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(r.stats.pages_decoded, 3, "{group_by:?}");
            if groups > 0 {
                assert_eq!(r.rows.len(), groups, "{group_by:?}: the values and null");
            }
        }
    }
}

#[test]
fn counts_grouped_by_a_listed_field_come_from_the_value_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), options(500)).expect("open");
    let names = [
        store.intern("A.run").expect("intern"),
        store.intern("B.get").expect("intern"),
    ];
    let route = store.intern("route").expect("intern");
    let routes = ["/a", "/b", "/c", "/d", "/e"];
    for page in 0..10u64 {
        let mut b = Batch::default();
        for i in page * 500..(page + 1) * 500 {
            let name = names[(i % 3 == 0) as usize];
            let at = BASE + i * 1_000;
            let row = if i % 17 == 0 {
                b.push_log(name, at, Level::Warn, "slow")
            } else {
                b.push_call(name, at, 1_000 + i % 977, i % 11 != 0)
            };
            if i % 5 < 2 {
                let r = routes[(i / 7 % 5) as usize];
                b.add_field_at(row, route, Value::Str(r.into()))
                    .expect("field");
            }
        }
        store.append(b);
    }
    let store = sealed_and_reopened(store, dir.path(), 500);
    let snap = store.view().expect("snapshot");
    let events = snap.events(&ScanFilter::default()).expect("events");
    assert_eq!(events.len(), 5_000);
    let run = |text: &str, group_by: Vec<GroupBy>, aggregates: Vec<Aggregate>| {
        let q = Query {
            filter: filter::parse(text).expect("parse"),
            now_ns: NOW,
            group_by,
            aggregates,
            threads: 2,
            ..Query::default()
        };
        let r = run_and_check(&snap, &events, &q).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(r.stats.pages_total, 10);
        (r.stats, r.rows)
    };
    let counts = || {
        vec![
            Aggregate::Count,
            Aggregate::Calls,
            Aggregate::Errors,
            Aggregate::Logs,
            Aggregate::ErrorRate,
        ]
    };
    let by_route = || vec![GroupBy::Field("route".into())];
    // No filter, a class filter, errors only, a time range covering whole pages: from meta.
    for text in ["", "kind:call", "kind:log", "status:error", "status:ok"] {
        let (s, rows) = run(text, by_route(), counts());
        assert_eq!(s.pages_decoded, 0, "{text}: {s:?}");
        assert_eq!(s.pages_from_meta, 10, "{text}: {s:?}");
        assert!(rows.len() >= 2, "{text}: the routes and null");
    }
    let (_, rows) = run("", by_route(), counts());
    assert_eq!(rows.len(), 6, "five routes and the events without one");
    // One bucket holds every page: still from meta; 0.1 ms buckets split pages: decoded.
    let (s, _) = run(
        "",
        vec![GroupBy::Time(1 << 50), GroupBy::Field("route".into())],
        counts(),
    );
    assert_eq!(s.pages_decoded, 0, "{s:?}");
    let (s, _) = run(
        "",
        vec![GroupBy::Field("route".into()), GroupBy::Time(100_000)],
        counts(),
    );
    assert!(s.pages_decoded > 0, "{s:?}");
    // A filter on the key itself: the segment's value rollup holds the events of `/a`.
    let (s, _) = run("route:/a", by_route(), counts());
    assert_eq!((s.pages_from_index, s.pages_decoded), (10, 0), "{s:?}");
    // Per-value counts and sketches are over all names: a name filter or grouping by name need
    // the rows; so do durations of only the failed (or only the ok) calls, and every duration
    // (stddev).
    for (text, group_by, aggregates) in [
        ("name:A.run", by_route(), counts()),
        (
            "",
            vec![GroupBy::Name, GroupBy::Field("route".into())],
            counts(),
        ),
        (
            "status:error",
            by_route(),
            vec![Aggregate::Percentile(0.99)],
        ),
        ("", by_route(), vec![Aggregate::Count, Aggregate::Stddev]),
    ] {
        let (s, _) = run(text, group_by, aggregates);
        assert_eq!(s.pages_decoded, 10, "{text}: {s:?}");
    }
    // Durations of all calls come from the values' sketches (and the sketch of the calls without
    // the key): percentiles within the sketch's bound, sum, mean, min and max exact (checked
    // against the oracle by `run`).
    for text in ["", "kind:call"] {
        let (s, rows) = run(
            text,
            by_route(),
            vec![
                Aggregate::Count,
                Aggregate::Percentile(0.5),
                Aggregate::Percentile(0.99),
                Aggregate::Max,
                Aggregate::Min,
                Aggregate::Mean,
                Aggregate::Sum,
            ],
        );
        assert_eq!(
            (s.pages_decoded, s.pages_from_meta),
            (0, 10),
            "{text}: {s:?}"
        );
        assert_eq!(
            rows.len(),
            6,
            "{text}: five routes and the events without one"
        );
    }
}

/// The message index: 12 sealed pages of 500 log events, each message naming its order number;
/// a search for one order decodes only the page that may hold it, and every answer (page skipped
/// or not) equals the oracle's.
#[test]
fn the_message_index_skips_pages_without_the_words_searched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), options(500)).expect("open");
    let name = store.intern("Orders.ship").expect("intern");
    for page in 0..12u64 {
        let mut b = Batch::default();
        for i in page * 500..(page + 1) * 500 {
            let text = match i % 3 {
                0 => format!("order {i} shipped to depot-{}", i % 7),
                1 => format!("payment for order {i} failed: card declined"),
                _ => format!("disk full on /var/lib/orders_{page} (retrying)"),
            };
            b.push_log(name, BASE + i * 1_000, Level::Warn, &text);
        }
        store.append(b);
    }
    let store = sealed_and_reopened(store, dir.path(), 500);
    let snap = store.view().expect("snapshot");
    let events = snap.events(&ScanFilter::default()).expect("events");
    assert_eq!(events.len(), 6_000);
    let run = |text: &str| {
        let q = Query {
            filter: filter::parse(text).expect("parse"),
            now_ns: NOW,
            aggregates: vec![Aggregate::Count],
            threads: 2,
            ..Query::default()
        };
        let r = run_and_check(&snap, &events, &q).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(r.stats.pages_total, 12);
        // Every page holds messages of the one name: what is skipped, the index skipped.
        assert_eq!(
            r.stats.pages_skipped_by_index, r.stats.pages_skipped,
            "{text}"
        );
        (r.stats.pages_skipped, r.stats.rows_matched)
    };
    for (text, skipped, matched) in [
        // A whole word (a separator on both sides): one page may hold it.
        (r#"message~"order 4321 ""#, 11, 1),
        (r#"message~"for order 4324 failed""#, 11, 1),
        // A word's prefix and suffix: `orders_7` only on page 7.
        (r#"message~"lib/orders_7""#, 11, 167),
        (r#"message~"ders_11 (""#, 11, 167),
        // A single word may sit inside any word: nothing is ruled out by it.
        (r#"message~"ders_11""#, 0, 167),
        // No page holds these words.
        (r#"message~"order 999999 ""#, 12, 0),
        (r#"message~"card accepted""#, 12, 0),
        // A single word may sit inside any word, and common words are everywhere: nothing
        // is ruled out (the rows decide).
        (r#"message~"432""#, 0, 11),
        (r#"message~"disk full""#, 0, 2_000),
        // Negated: the pages ruled out for the text match whole.
        (r#"-message~"order 4321 ""#, 0, 5_999),
    ] {
        assert_eq!(run(text), (skipped, matched), "{text}");
    }
}

/// Compaction re-encodes pages, and their indexes with them: after merging many small segments
/// the value index still answers p99 by tenant from metas, and the message index and the filter
/// of a many-valued key still rule pages out, with every answer equal to the oracle's.
#[test]
fn indexes_are_rebuilt_by_compaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tenants = ["acme", "globex", "initech"];
    // Ten open/close cycles: ten small segments of 300 events (pages of 100).
    for cycle in 0..10u64 {
        let store = Store::open(dir.path(), options(100)).expect("open");
        let name = store.intern("A.run").expect("intern");
        let tenant = store.intern("tenant").expect("intern");
        let request = store.intern("request").expect("intern");
        let mut b = Batch::default();
        for i in cycle * 300..(cycle + 1) * 300 {
            let row = if i % 10 == 0 {
                b.push_log(
                    name,
                    BASE + i * 1_000,
                    Level::Info,
                    &format!("order {i} shipped"),
                )
            } else {
                b.push_call(name, BASE + i * 1_000, 1_000 + i % 977, i % 11 != 0)
            };
            b.add_field_at(row, tenant, Value::Str(tenants[(i % 3) as usize].into()))
                .expect("field");
            b.add_field_at(row, request, Value::Str(format!("req-{i}")))
                .expect("field");
        }
        store.append(b);
        store.close().expect("close");
    }
    let mut store = Store::open(dir.path(), options(1_000)).expect("open");
    let report = store.compact().expect("compact");
    assert!(report.inputs >= 10 && report.outputs >= 1, "{report:?}");
    store = sealed_and_reopened(store, dir.path(), 1_000);
    let snap = store.view().expect("snapshot");
    let events = snap.events(&ScanFilter::default()).expect("events");
    assert_eq!(events.len(), 3_000);
    let run = |text: &str, group_by: Vec<GroupBy>| {
        let q = Query {
            filter: filter::parse(text).expect("parse"),
            now_ns: NOW,
            group_by,
            aggregates: vec![Aggregate::Count, Aggregate::Percentile(0.99)],
            threads: 2,
            ..Query::default()
        };
        run_and_check(&snap, &events, &q)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .stats
    };
    let s = run("", vec![GroupBy::Field("tenant".into())]);
    assert_eq!(
        (s.pages_total, s.pages_decoded),
        (3, 0),
        "p99 by tenant from metas: {s:?}"
    );
    let s = run("request:req-1234", vec![]);
    assert_eq!((s.pages_skipped, s.rows_matched), (2, 1), "{s:?}");
    let s = run(r#"message~"order 2340 ""#, vec![]);
    assert_eq!((s.pages_skipped, s.rows_matched), (2, 1), "{s:?}");
}

/// A selective filter asks each page's index (kept in the bufferpool apart from the page's meta,
/// at a fraction of its size) before its meta: with a pool too small for the metas, repeating
/// the query reads no meta of a page the index rules out, where reading every meta would churn
/// the pool and read them all again.
#[test]
fn indexes_stay_cached_while_metas_do_not_fit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options {
        page_rows: 2_000,
        bufferpool_bytes: 1 << 20,
        ..Options::default()
    };
    let store = Store::open(dir.path(), opts.clone()).expect("open");
    let names: Vec<u32> = (0..200)
        .map(|i| store.intern(&format!("Service.call{i}")).expect("intern"))
        .collect();
    let request = store.intern("request").expect("intern");
    const PAGES: u64 = 80;
    for page in 0..PAGES {
        let mut b = Batch::default();
        for i in page * 2_000..(page + 1) * 2_000 {
            let name = names[(i % 200) as usize];
            let row = b.push_call(name, BASE + i * 1_000, 1_000 + i * 7 % 9_973, true);
            b.add_field_at(row, request, Value::Str(format!("req-{i}")))
                .expect("field");
        }
        store.append(b);
    }
    store.flush().expect("flush");
    store.close().expect("close");
    let store = Store::open(dir.path(), opts).expect("reopen");
    let snap = store.view().expect("view");
    let q = Query {
        filter: filter::parse("request:req-40321").expect("parse"),
        now_ns: NOW,
        group_by: vec![GroupBy::Name],
        aggregates: vec![Aggregate::Count, Aggregate::Percentile(0.99)],
        threads: 1,
        ..Query::default()
    };
    let metas: u64 = snap
        .pages(&ScanFilter::default())
        .iter()
        .map(|p| snap.page_meta(p).expect("meta").heap_bytes() as u64)
        .sum();
    assert!(
        metas > 2 << 20,
        "the metas ({metas} bytes) must not fit the pool"
    );
    let first = query::run(&snap, &q).expect("query");
    assert_eq!(first.stats.rows_matched, 1);
    assert_eq!(first.stats.pages_decoded, 1);
    let before = store.pool_stats();
    let again = query::run(&snap, &q).expect("query");
    assert_eq!(again.rows, first.rows);
    let after = store.pool_stats();
    // The one page holding the id: its meta and columns may be read again; nothing else is.
    let misses = after.misses - before.misses;
    assert!(misses <= 2, "{misses} misses repeating the query");
    assert!(
        after.hits - before.hits >= PAGES - 1,
        "{before:?} {after:?}"
    );
}

/// The value index: 12 sealed pages of 500 events in one segment; tenants come
/// in runs of two pages (a tenant's traffic clusters in time), every event has a distinct
/// `request` id (too many values to list) and `region` is a string on some pages and a number on
/// others.
#[test]
fn the_value_index_skips_pages_that_cannot_hold_a_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), options(500)).expect("open");
    let name = store.intern("A.run").expect("intern");
    let tenant = store.intern("tenant").expect("intern");
    let request = store.intern("request").expect("intern");
    let region = store.intern("region").expect("intern");
    let size = store.intern("size").expect("intern");
    let ratio = store.intern("ratio").expect("intern");
    let tenants = ["acme", "globex", "initech"];
    for page in 0..12u64 {
        let mut b = Batch::default();
        for i in page * 500..(page + 1) * 500 {
            let row = b.push_call(name, BASE + i * 1_000, 1_000 + i % 977, i % 11 != 0);
            let t = tenants[(page / 2 % 3) as usize];
            b.add_field_at(row, tenant, Value::Str(t.into()))
                .expect("field");
            b.add_field_at(row, request, Value::Str(format!("req-{i}")))
                .expect("field");
            let r = if page < 6 {
                Value::Str("eu".into())
            } else {
                Value::I64(1)
            };
            b.add_field_at(row, region, r).expect("field");
            // Numbers that grow with time: each page's range is its own 500 values.
            b.add_field_at(row, size, Value::I64(i as i64))
                .expect("field");
            b.add_field_at(row, ratio, Value::F64(i as f64 / 10.0))
                .expect("field");
        }
        store.append(b);
    }
    let store = sealed_and_reopened(store, dir.path(), 500);
    let snap = store.view().expect("snapshot");
    let events = snap.events(&ScanFilter::default()).expect("events");
    assert_eq!(events.len(), 6_000);
    let run = |text: &str, group_by: Vec<GroupBy>, precision| {
        let q = Query {
            filter: filter::parse(text).expect("parse"),
            now_ns: NOW,
            group_by,
            aggregates: vec![
                Aggregate::Count,
                Aggregate::Errors,
                Aggregate::Percentile(0.99),
            ],
            precision,
            threads: 2,
            ..Query::default()
        };
        let r = run_and_check(&snap, &events, &q).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(r.stats.pages_total, 12);
        (r.stats, r.rows)
    };
    for precision in [Precision::Exact, Precision::Auto] {
        // In sketch precision the segment's value rollup answers a string comparison on
        // `tenant` for all twelve pages at once; exact percentiles need the rows, from the pages
        // the listed values leave.
        let rolled_up = |s: &QueryStats| {
            precision == Precision::Auto && (s.pages_from_index, s.pages_decoded) == (12, 0)
        };
        // acme is on pages 0-1 and 6-7: the other eight are skipped by their listed values.
        let (s, _) = run("tenant:acme", vec![GroupBy::Name], precision);
        assert!(
            rolled_up(&s) || (s.pages_skipped, s.pages_decoded) == (8, 4),
            "{s:?}"
        );
        assert_eq!(precision == Precision::Auto, rolled_up(&s), "{s:?}");
        assert_eq!(s.rows_matched, 2_000);
        // A value no page lists: every page skipped, through the segment's summary.
        let (s, rows) = run("tenant:umbrella", vec![], precision);
        assert_eq!(s.pages_skipped, 12, "{s:?}");
        assert_eq!(rows[0].values[0], AggValue::Count(0));
        // Negated, the same pages hold every row (`!=` matches rows that have another value).
        let (s, _) = run("tenant!=acme", vec![], precision);
        assert!(rolled_up(&s) || s.pages_skipped == 4, "{s:?}");
        assert_eq!(precision == Precision::Auto, rolled_up(&s), "{s:?}");
        assert_eq!(s.rows_matched, 4_000);
        let (s, _) = run("-tenant:acme", vec![], precision);
        assert_eq!(s.rows_matched, 4_000);
        // `in(...)`: pages listing neither value are skipped.
        let (s, _) = run("tenant:in(globex,initech)", vec![], precision);
        assert!(rolled_up(&s) || s.pages_skipped == 4, "{s:?}");
        assert_eq!(precision == Precision::Auto, rolled_up(&s), "{s:?}");
        // A string key compared as a number matches nothing on pages where it is all strings.
        let (s, _) = run("tenant>1", vec![], precision);
        assert_eq!(s.pages_skipped, 12, "{s:?}");
        // Request ids are too many to list: each page keeps a filter of them (false positives
        // about 0.4 %), which rules out every page but the one holding the id.
        let (s, _) = run("request:req-4321", vec![], precision);
        assert_eq!((s.pages_skipped, s.rows_matched), (11, 1), "{s:?}");
        let (s, _) = run("request:in(req-4321,req-17,nope)", vec![], precision);
        assert_eq!((s.pages_skipped, s.rows_matched), (10, 2), "{s:?}");
        let (s, _) = run("request:nope", vec![], precision);
        assert_eq!((s.pages_skipped, s.rows_matched), (12, 0), "{s:?}");
        // Negated, or compared by wildcard, no page is ruled out.
        let (s, _) = run("request!=req-4321", vec![], precision);
        assert_eq!((s.pages_skipped, s.rows_matched), (0, 5_999), "{s:?}");
        // `region` is listed on the first six pages and the integer 1 on the others: `us` is
        // neither ("eu" does not list it; an integer equals only a number).
        let (s, _) = run("region:us", vec![], precision);
        assert_eq!((s.pages_skipped, s.rows_matched), (12, 0), "{s:?}");
        let (s, _) = run("region:1", vec![], precision);
        assert_eq!((s.pages_skipped, s.rows_matched), (6, 3_000), "{s:?}");
        // Numeric keys keep each page's smallest and largest value: a comparison none of a
        // page's range can pass skips it (and its negation takes the page whole).
        for (text, skipped, matched) in [
            ("size>=5500", 11, 500),
            ("size<250", 11, 250),
            ("size:3000", 11, 1),
            ("size:in(10,5999)", 10, 2),
            ("size>1e30", 12, 0),
            ("size<-0.5", 12, 0),
            ("size!=3000", 0, 5_999),
            ("ratio<50", 11, 500),
            ("ratio>=599.9", 11, 1),
            // A float key's range is not used for `=` (a float also matches by its text).
            ("ratio:0.5", 0, 1),
        ] {
            let (s, _) = run(text, vec![], precision);
            assert_eq!(
                (s.pages_skipped, s.rows_matched),
                (skipped, matched),
                "{text}: {s:?}"
            );
        }
        let (s, _) = run("-size>=5500", vec![], precision);
        assert_eq!(s.rows_matched, 5_500, "{s:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Event listings
// ---------------------------------------------------------------------------------------------

/// Everything that identifies an event's content, totally ordered (floats by their bits).
fn event_sort_key(e: &Event) -> (u64, String, u64, u8, Option<String>, String) {
    let code = match e.code {
        Code::CallOk => 0,
        Code::CallError => 1,
        Code::Log(l) => 2 + l as u8,
    };
    let fields = e
        .fields
        .iter()
        .map(|(k, v)| match v {
            Value::F64(x) => format!("{k}=f{:x}", x.to_bits()),
            other => format!("{k}={other:?}"),
        })
        .collect::<Vec<_>>()
        .join(";");
    (
        e.start_ns,
        e.name.clone(),
        e.duration_ns,
        code,
        e.message.clone(),
        fields,
    )
}

/// Page through a whole listing; `Err` describes what is wrong with it.
fn list_all(
    snapshot: &View,
    filter: &Filter,
    order: SortOrder,
    limit: usize,
) -> Result<Vec<query::ListedEvent>, String> {
    let mut out = Vec::new();
    let mut cursor = None;
    for _ in 0..10_000 {
        let req = EventsRequest {
            filter: filter.clone(),
            now_ns: NOW,
            limit,
            cursor: cursor.take(),
            order,
        };
        let page = query::events(snapshot, &req).map_err(|e| format!("listing failed: {e}"))?;
        if page.events.len() > limit {
            return Err(format!("{} events for limit {limit}", page.events.len()));
        }
        if page.next_cursor.is_some() && page.events.len() != limit {
            return Err("a short page that is not the last".into());
        }
        out.extend(page.events);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
    Err("the listing does not end".into())
}

/// The listing is in (start, partition, seq) order, holds no position twice, and holds exactly
/// the events the reference filter passes.
fn check_listing(
    listed: &[query::ListedEvent],
    events: &[Event],
    filter: &Filter,
    order: SortOrder,
) -> Result<(), String> {
    for w in listed.windows(2) {
        let a = (w[0].event.start_ns, &w[0].partition, w[0].seq);
        let b = (w[1].event.start_ns, &w[1].partition, w[1].seq);
        let ordered = match order {
            SortOrder::OldestFirst => a < b,
            SortOrder::NewestFirst => a > b,
        };
        if !ordered {
            return Err(format!("{order:?}: {a:?} then {b:?}"));
        }
    }
    let mut got: Vec<_> = listed.iter().map(|l| event_sort_key(&l.event)).collect();
    let mut want: Vec<_> = events
        .iter()
        .filter(|e| filter_holds(filter, e, NOW))
        .map(event_sort_key)
        .collect();
    got.sort();
    want.sort();
    if got != want {
        return Err(format!(
            "{} events listed, {} expected\n got: {got:?}\nwant: {want:?}",
            got.len(),
            want.len()
        ));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Paging through a listing with any page size returns every matching event once, in order.
    #[test]
    fn event_listings_page_through_the_reference(
        case in store_strategy(),
        listings in prop::collection::vec(
            (filter_strategy(), prop::bool::ANY, 1..=7usize),
            4..8,
        ),
    ) {
        let built = build(&case);
        for ((filter, _), newest, limit) in &listings {
            let order = if *newest { SortOrder::NewestFirst } else { SortOrder::OldestFirst };
            let result = list_all(&built.snapshot, filter, order, *limit)
                .and_then(|l| check_listing(&l, &built.events, filter, order));
            if let Err(e) = result {
                return Err(TestCaseError::fail(format!(
                    "{e}\nfilter: {filter}, {order:?}, limit {limit}"
                )));
            }
        }
    }
}

#[test]
fn event_listing_rejects_bad_cursors_and_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), options(16)).expect("open");
    let id = store.intern("A.run").expect("intern");
    let mut b = Batch::default();
    b.push_call(id, 5, 1, true);
    store.append(b);
    store.flush().expect("flush");
    let snap = store.view().expect("snapshot");
    for bad in ["", "x", "1.2", "1.x.p", "-1.0.p", "1.2."] {
        let req = EventsRequest {
            cursor: Some(bad.to_string()),
            ..EventsRequest::default()
        };
        match query::events(&snap, &req) {
            Err(e) => assert!(e.to_string().contains("cursor"), "{bad:?}: {e}"),
            Ok(p) => panic!("cursor {bad:?} accepted: {p:?}"),
        }
    }
    // 100,000 is the documented maximum (`EventsRequest::limit`).
    for limit in [0, 100_001] {
        let req = EventsRequest {
            limit,
            ..EventsRequest::default()
        };
        assert!(
            matches!(query::events(&snap, &req), Err(Error::InvalidOption { .. })),
            "limit {limit}"
        );
    }
}

/// Events at the very end of time: the cursor arithmetic must not overflow.
#[test]
fn event_listing_pages_through_events_starting_at_u64_max() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), options(16)).expect("open");
    let id = store.intern("A.run").expect("intern");
    let mut b = Batch::default();
    for start in [u64::MAX, u64::MAX, u64::MAX - 1, 0, u64::MAX] {
        b.push_call(id, start, 1, true);
    }
    store.append(b);
    store.flush().expect("flush");
    let snap = store.view().expect("snapshot");
    let events = snap.events(&ScanFilter::default()).expect("events");
    for order in [SortOrder::NewestFirst, SortOrder::OldestFirst] {
        for limit in 1..=3 {
            let listed = list_all(&snap, &Filter::default(), order, limit)
                .unwrap_or_else(|e| panic!("{order:?} {limit}: {e}"));
            check_listing(&listed, &events, &Filter::default(), order)
                .unwrap_or_else(|e| panic!("{order:?} {limit}: {e}"));
        }
    }
}

/// The documented promise: paging neither repeats nor skips events stored before the first
/// request, even while new ones arrive (here: into the same unsealed page, some earlier).
#[test]
fn event_listing_cursor_is_stable_while_events_arrive() {
    for order in [SortOrder::OldestFirst, SortOrder::NewestFirst] {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), options(1000)).expect("open");
        let id = store.intern("A.run").expect("intern");
        let append = |starts: &[u64], dur: u64| {
            let mut b = Batch::default();
            for &s in starts {
                b.push_call(id, s, dur, true);
            }
            store.append(b);
            store.flush().expect("flush");
        };
        // The original events have duration 1, later arrivals duration 2.
        let original = [100, 200, 200, 300, 300, 300, 400];
        append(&original, 1);
        let mut cursor = None;
        let mut seen = Vec::new();
        for round in 0..20u64 {
            let snap = store.view().expect("snapshot");
            let req = EventsRequest {
                now_ns: NOW,
                limit: 2,
                cursor: cursor.take(),
                order,
                ..EventsRequest::default()
            };
            let page = query::events(&snap, &req).expect("events");
            seen.extend(
                page.events
                    .iter()
                    .filter(|l| l.event.duration_ns == 1)
                    .map(|l| l.event.start_ns),
            );
            match page.next_cursor {
                None => break,
                Some(c) => cursor = Some(c),
            }
            // New events before, between and at the starts already listed.
            append(&[50 + round, 200, 300, 450 - round], 2);
        }
        seen.sort_unstable();
        assert_eq!(seen, original, "{order:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Validation
// ---------------------------------------------------------------------------------------------

#[test]
fn invalid_queries_are_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), options(16)).expect("open");
    let snap = store.view().expect("snapshot");
    let base = Query {
        now_ns: NOW,
        group_by: vec![GroupBy::Name],
        ..Query::default()
    };
    let bad = |q: Query, option: &str| match query::run(&snap, &q) {
        Err(Error::InvalidOption { option: o, .. }) => assert_eq!(o, option, "{q:?}"),
        other => panic!("{q:?} gave {other:?}"),
    };
    for p in [0.0, 1.5, -0.5, f64::NAN, f64::INFINITY] {
        bad(
            Query {
                aggregates: vec![Aggregate::Count, Aggregate::Percentile(p)],
                ..base.clone()
            },
            "aggregates",
        );
    }
    bad(
        Query {
            aggregates: vec![],
            ..base.clone()
        },
        "aggregates",
    );
    bad(
        Query {
            group_by: vec![GroupBy::Name, GroupBy::Time(0)],
            ..base.clone()
        },
        "group_by",
    );
    bad(
        Query {
            group_by: vec![GroupBy::Field(String::new())],
            ..base.clone()
        },
        "group_by",
    );
    bad(
        Query {
            group_by: vec![GroupBy::Name; 5],
            ..base.clone()
        },
        "group_by",
    );
    for key in [OrderKey::Aggregate(1), OrderKey::Group(1)] {
        bad(
            Query {
                order_by: Some(OrderBy {
                    key,
                    descending: false,
                }),
                ..base.clone()
            },
            "order_by",
        );
    }
    // The boundaries that are valid: q = 1, four dimensions, the last column.
    let ok = Query {
        group_by: vec![GroupBy::Name; 4],
        aggregates: vec![Aggregate::Count, Aggregate::Percentile(1.0)],
        order_by: Some(OrderBy {
            key: OrderKey::Group(3),
            descending: true,
        }),
        ..base.clone()
    };
    query::run(&snap, &ok).expect("valid query");
}

// ---------------------------------------------------------------------------------------------
// Histograms
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// The histogram of a filter is the histogram of one sketch holding exactly the matching
    /// calls' durations (pages answered from their sketches or decoded alike).
    #[test]
    fn histograms_equal_the_binned_reference(
        case in store_strategy(),
        requests in prop::collection::vec((filter_strategy(), 1..=40usize), 2..6),
    ) {
        let built = build(&case);
        for ((filter, _), bins) in &requests {
            let got = query::histogram(
                &built.snapshot,
                &query::HistogramRequest { filter: filter.clone(), now_ns: NOW, bins: *bins },
            )
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut want = laptime_core::sketch::LatencySketch::new();
            for e in built.events.iter().filter(|e| e.code.is_call() && filter_holds(filter, e, NOW)) {
                want.insert(e.duration_ns);
            }
            prop_assert_eq!(got.calls, want.count(), "filter {}", filter);
            prop_assert_eq!(&got.bins, &want.histogram(*bins), "filter {}", filter);
        }
    }
}

#[test]
fn histogram_bins_are_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), options(16)).expect("open");
    let view = store.view().expect("view");
    for bins in [0, query::MAX_HISTOGRAM_BINS + 1] {
        let err = query::histogram(
            &view,
            &query::HistogramRequest {
                filter: Filter::default(),
                now_ns: NOW,
                bins,
            },
        )
        .expect_err("bins out of range");
        assert!(err.to_string().contains("`bins`"), "{err}");
    }
    let empty = query::histogram(
        &view,
        &query::HistogramRequest {
            filter: Filter::default(),
            now_ns: NOW,
            bins: 10,
        },
    )
    .expect("histogram");
    assert_eq!((empty.calls, empty.bins.len()), (0, 0));
}
