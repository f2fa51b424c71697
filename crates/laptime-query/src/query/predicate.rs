//! A [`Filter`] compiled against one partition's dictionary: evaluated three-valued on page meta
//! (per name and outcome class, to skip or answer pages without decoding) and row by row on
//! decoded pages.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::filter::{CmpOp, Filter, Glob, Kind, Status, Term};
use laptime_storage::dictionary::Dictionary;
use laptime_storage::page::message_index;
use laptime_storage::page::value_filter::{hash_value, ValueFilter};
use laptime_storage::page::{
    ColumnSet, FieldKeys, FieldValues, KeyValues, NameStats, PageColumns, PageIndex, PageMeta,
};
use laptime_storage::{Level, NameId, Value};

/// Three-valued truth of a term over a set of rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tri {
    /// Holds for every row of the set.
    All,
    /// Holds for no row of the set.
    None,
    /// Depends on the row.
    Some,
}

impl Tri {
    fn not(self) -> Tri {
        match self {
            Tri::All => Tri::None,
            Tri::None => Tri::All,
            Tri::Some => Tri::Some,
        }
    }

    fn and(self, other: Tri) -> Tri {
        match (self, other) {
            (Tri::None, _) | (_, Tri::None) => Tri::None,
            (Tri::All, Tri::All) => Tri::All,
            _ => Tri::Some,
        }
    }

    fn of(all: bool, none: bool) -> Tri {
        if all {
            Tri::All
        } else if none {
            Tri::None
        } else {
            Tri::Some
        }
    }
}

/// The outcome classes a page meta counts separately per name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Ok,
    Err,
    Log,
}

/// A term with names resolved against one partition and times resolved against `now`.
#[derive(Debug)]
enum Compiled {
    /// Name ids known to match (by id) plus the glob for ids interned after compiling.
    Name {
        table: Vec<bool>,
        glob: Glob,
    },
    Kind(Kind),
    Status(Status),
    Level(CmpOp, Level),
    Duration(CmpOp, u64),
    /// `start >= t`.
    Since(u64),
    /// `start < t`.
    Until(u64),
    /// A field comparison; `key` is `None` when the partition never saw the key.
    Field {
        key: Option<NameId>,
        test: FieldTest,
    },
    Has(Option<NameId>),
    /// `message~needle`, with the message index entries a page must have to hold it (hashed once
    /// here, not per page).
    Message {
        needle: String,
        required: Vec<u64>,
    },
    Not(Box<Compiled>),
}

/// The value side of a field comparison.
#[derive(Debug)]
enum FieldTest {
    /// Equals (or, negated, differs from) one of the values: numbers numerically for number
    /// fields (so `2.5e-7` finds 0.00000025 and `1.50` finds 1.5), otherwise the string form.
    StrIn {
        values: Vec<String>,
        /// `values` parsed as numbers where they are numbers.
        numbers: Vec<Number>,
        /// `values` hashed as a page's value filter holds them.
        hashes: Vec<u64>,
        equal: bool,
    },
    /// Numeric comparison.
    Number(CmpOp, Number),
}

/// The literal of a numeric comparison, kept as written: an integer literal compared with an
/// integer field must not go through `f64`, which rounds above 2^53 (ids like
/// 1234567890123456789 would compare equal to their neighbours).
#[derive(Debug, Clone, Copy)]
enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    fn parse(text: &str) -> Number {
        match text.parse::<i64>() {
            Ok(v) => Number::Int(v),
            // The parser guarantees a finite number here; a non-number (NaN) never matches.
            Err(_) => Number::Float(text.parse::<f64>().unwrap_or(f64::NAN)),
        }
    }

    /// `x OP self` for an integer field, exactly.
    fn holds_for_i64(self, op: CmpOp, x: i64) -> bool {
        match self {
            Number::Int(r) => op.compare(&x, &r),
            Number::Float(r) => holds(op, cmp_i64_f64(x, r)),
        }
    }

    /// `x OP self` for a float field, exactly.
    fn holds_for_f64(self, op: CmpOp, x: f64) -> bool {
        match self {
            Number::Int(r) => holds(op, cmp_i64_f64(r, x).map(Ordering::reverse)),
            Number::Float(r) => op.compare(&x, &r),
        }
    }
}

/// `OP` applied to a comparison result; incomparable (NaN) only satisfies `!=`, as in
/// [`CmpOp::compare`].
fn holds(op: CmpOp, ord: Option<Ordering>) -> bool {
    match ord {
        Some(o) => op.compare(&o, &Ordering::Equal),
        None => op == CmpOp::Ne,
    }
}

/// Order of an integer and a float without rounding either.
fn cmp_i64_f64(x: i64, r: f64) -> Option<Ordering> {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63: every i64 is below it
    if r.is_nan() {
        return None;
    }
    if r >= LIMIT {
        return Some(Ordering::Less);
    }
    if r < -LIMIT {
        return Some(Ordering::Greater);
    }
    // In [-2^63, 2^63) the integer part of a float is an exact i64.
    let whole = r.trunc();
    let frac = if r > whole {
        Ordering::Less
    } else if r < whole {
        Ordering::Greater
    } else {
        Ordering::Equal
    };
    Some(x.cmp(&(whole as i64)).then(frac))
}

/// Whether some `x` with `lo <= x <= hi` satisfies `x OP rhs`, where `holds(op, x)` says whether
/// `x op rhs`: the smallest value decides `<` and `<=`, the largest `>` and `>=`; `=` needs
/// `lo <= rhs <= hi`; `!=` is left to the rows.
fn range_may_hold<T: Copy>(op: CmpOp, lo: T, hi: T, holds: impl Fn(CmpOp, T) -> bool) -> bool {
    match op {
        CmpOp::Lt | CmpOp::Le => holds(op, lo),
        CmpOp::Gt | CmpOp::Ge => holds(op, hi),
        CmpOp::Eq => holds(CmpOp::Le, lo) && holds(CmpOp::Ge, hi),
        CmpOp::Ne => true,
    }
}

impl FieldTest {
    fn equal_to(values: Vec<String>, equal: bool) -> FieldTest {
        let numbers = values
            .iter()
            .filter(|v| v.parse::<f64>().is_ok_and(f64::is_finite) || v.parse::<i64>().is_ok())
            .map(|v| Number::parse(v))
            .collect();
        let hashes = values.iter().map(|v| hash_value(v.as_bytes())).collect();
        FieldTest::StrIn {
            values,
            numbers,
            hashes,
            equal,
        }
    }

    /// Whether a row whose value lies in `range` (a page's integer or float range) can pass; false
    /// when none can. Exact for `<`, `<=`, `>` and `>=`, whose answers only grow or only shrink
    /// with the value; for `=` true whenever the literal lies in the range. A float range is not
    /// used for `=` lists (a float also matches by its text form, e.g. `inf`).
    fn may_match_range(&self, range: &KeyValues) -> bool {
        match (self, range) {
            (FieldTest::Number(op, rhs), &KeyValues::IntRange { min, max }) => {
                range_may_hold(*op, min, max, |o, x| rhs.holds_for_i64(o, x))
            }
            (FieldTest::Number(op, rhs), &KeyValues::FloatRange { min, max }) => {
                range_may_hold(*op, min, max, |o, x| rhs.holds_for_f64(o, x))
            }
            (
                FieldTest::StrIn {
                    numbers,
                    equal: true,
                    ..
                },
                &KeyValues::IntRange { min, max },
            ) => numbers
                .iter()
                .any(|n| range_may_hold(CmpOp::Eq, min, max, |o, x| n.holds_for_i64(o, x))),
            _ => true,
        }
    }

    /// Whether a page whose values of the key are all strings, as `filter` holds them, may hold
    /// one this test passes: equality with strings the filter rules out holds for none, and a
    /// numeric comparison never holds for a string.
    fn may_match_filter(&self, filter: &ValueFilter) -> bool {
        match self {
            FieldTest::StrIn {
                hashes,
                equal: true,
                ..
            } => hashes.iter().any(|&h| filter.may_contain(h)),
            FieldTest::StrIn { equal: false, .. } => true,
            FieldTest::Number(..) => false,
        }
    }

    /// [`FieldTest::matches`] for a string value, without building a [`Value`].
    fn matches_str(&self, s: &str) -> bool {
        match self {
            FieldTest::StrIn { values, equal, .. } => values.iter().any(|x| x == s) == *equal,
            FieldTest::Number(..) => false,
        }
    }

    fn matches(&self, v: &Value) -> bool {
        match self {
            FieldTest::StrIn {
                values,
                numbers,
                equal,
                ..
            } => {
                let hit = match v {
                    Value::Str(s) => values.iter().any(|x| x == s),
                    Value::I64(x) => numbers.iter().any(|n| n.holds_for_i64(CmpOp::Eq, *x)),
                    // NaN equals no number; its string form still finds it.
                    Value::F64(x) => {
                        numbers.iter().any(|n| n.holds_for_f64(CmpOp::Eq, *x))
                            || values.contains(&string_form(v))
                    }
                    Value::Bool(_) => values.contains(&string_form(v)),
                };
                hit == *equal
            }
            FieldTest::Number(op, rhs) => match v {
                Value::I64(x) => rhs.holds_for_i64(*op, *x),
                Value::F64(x) => rhs.holds_for_f64(*op, *x),
                _ => false,
            },
        }
    }
}

/// Whether the meta's value index lists every value of `key`, every event of the meta carries one
/// and each passes `test`.
fn every_event_passes(meta: &PageMeta, key: NameId, test: &FieldTest) -> bool {
    let Some(KeyValues::Listed { values, .. }) = meta.values_of(key) else {
        return false;
    };
    let with_key: u64 = values.iter().map(|v| v.calls + v.logs).sum();
    meta.rows > 0 && with_key == meta.rows && values.iter().all(|v| test.matches_str(&v.value))
}

/// The string form a field is compared by: integers in decimal, floats as Rust prints them,
/// booleans as `true` / `false`.
pub(crate) fn string_form(v: &Value) -> String {
    match v {
        Value::I64(x) => x.to_string(),
        Value::F64(x) => x.to_string(),
        Value::Bool(x) => x.to_string(),
        Value::Str(s) => s.clone(),
    }
}

/// Per term of a [`Predicate`], its truth over a whole meta when the meta's index decides it.
pub(crate) struct IndexTruths(Vec<Option<Tri>>);

impl IndexTruths {
    /// Whether a term no event of the meta passes rules out all of them (the terms are ANDed).
    pub(crate) fn rule_out_every_event(&self) -> bool {
        self.0.contains(&Some(Tri::None))
    }
}

/// A filter compiled for one partition.
pub(crate) struct Predicate {
    terms: Vec<Compiled>,
    dict: Arc<Dictionary>,
    /// Whether page metas' value and message indexes may decide field and message terms.
    indexes: bool,
}

impl Predicate {
    /// `indexes`: whether page metas' value and message indexes may decide field and message
    /// terms (see `View::without_indexes`).
    pub(crate) fn compile(
        filter: &Filter,
        now_ns: u64,
        dict: &Arc<Dictionary>,
        indexes: bool,
    ) -> Predicate {
        let terms = filter
            .terms
            .iter()
            .map(|t| compile_term(t, now_ns, dict))
            .collect();
        Predicate {
            terms,
            dict: Arc::clone(dict),
            indexes,
        }
    }

    /// Columns a row-level evaluation reads: names and codes always (callers rely on them), the
    /// rest only when a term looks at them, since every column skipped is decoding saved.
    pub(crate) fn columns(&self) -> ColumnSet {
        let mut set = ColumnSet {
            starts: false,
            names: true,
            durations: false,
            codes: true,
            messages: false,
            fields: FieldKeys::NONE,
        };
        fn visit(t: &Compiled, set: &mut ColumnSet) {
            match t {
                Compiled::Since(_) | Compiled::Until(_) => set.starts = true,
                Compiled::Duration(..) => set.durations = true,
                // A key the partition never saw matches no row: nothing to decode for it.
                Compiled::Field { key, .. } | Compiled::Has(key) => {
                    if let Some(k) = key {
                        set.fields = set.fields.with(*k);
                    }
                }
                Compiled::Message { .. } => set.messages = true,
                Compiled::Not(inner) => visit(inner, set),
                _ => {}
            }
        }
        for t in &self.terms {
            visit(t, &mut set);
        }
        set
    }

    /// Truth over the rows of `class` of one name in a page.
    /// Whether no event of the page `meta` describes can match: every class of every name is
    /// ruled out (what makes the planner skip the page).
    pub(crate) fn rules_out(&self, meta: &PageMeta) -> bool {
        let truths = self.index_truths(meta);
        meta.names.iter().all(|s| {
            [
                (s.calls - s.errors, Class::Ok),
                (s.errors, Class::Err),
                (s.logs, Class::Log),
            ]
            .into_iter()
            .all(|(n, class)| n == 0 || self.on_meta(meta, s, class, &truths) == Tri::None)
        })
    }

    /// The truth of each term that the meta's index decides alone (field, `has` and message
    /// terms, and their negations): the same for every name and class of the meta, so computed
    /// once per meta, not once per name (a page or summary of 200 names with 50 listed values
    /// compared 30,000 strings per segment).
    pub(crate) fn index_truths(&self, meta: &PageMeta) -> IndexTruths {
        IndexTruths(
            self.terms
                .iter()
                .map(|t| self.index_truth(t, meta))
                .collect(),
        )
    }

    fn index_truth(&self, t: &Compiled, meta: &PageMeta) -> Option<Tri> {
        match t {
            // Every event carries the key and every value it has passes: holds for all of them
            // (a segment's value rollup gives such metas).
            Compiled::Field { key: Some(k), test }
                if self.indexes && every_event_passes(meta, *k, test) =>
            {
                Some(Tri::All)
            }
            Compiled::Field { .. } | Compiled::Has(_) | Compiled::Message { .. } => {
                Some(self.term_on_index(t, &meta.index).unwrap_or(Tri::Some))
            }
            Compiled::Not(inner) => self.index_truth(inner, meta).map(Tri::not),
            _ => None,
        }
    }

    /// Truth over the rows of `class` of one name in a page; `truths` from
    /// [`Predicate::index_truths`] of the same meta.
    pub(crate) fn on_meta(
        &self,
        meta: &PageMeta,
        stats: &NameStats,
        class: Class,
        truths: &IndexTruths,
    ) -> Tri {
        let mut acc = Tri::All;
        for (i, t) in self.terms.iter().enumerate() {
            let tri = match truths.0.get(i).copied().flatten() {
                Some(known) => known,
                None => self.term_on_meta(t, meta, stats, class),
            };
            acc = acc.and(tri);
            if acc == Tri::None {
                break;
            }
        }
        acc
    }

    fn term_on_meta(&self, t: &Compiled, meta: &PageMeta, stats: &NameStats, class: Class) -> Tri {
        let call = class != Class::Log;
        match t {
            Compiled::Name { .. } => {
                if self.name_matches(t, stats.name) {
                    Tri::All
                } else {
                    Tri::None
                }
            }
            Compiled::Kind(k) => Tri::of(call == (*k == Kind::Call), call != (*k == Kind::Call)),
            Compiled::Status(s) => {
                let hit = match s {
                    Status::Ok => class == Class::Ok,
                    Status::Error => class == Class::Err,
                };
                Tri::of(hit, !hit)
            }
            Compiled::Level(..) => {
                if call {
                    Tri::None
                } else {
                    Tri::Some
                }
            }
            Compiled::Duration(op, v) => {
                if !call {
                    return Tri::Some;
                }
                // The meta's min and max are exact over all calls of the name.
                if stats.calls > 0 {
                    range_vs(*op, stats.min, stats.max, *v)
                } else {
                    Tri::Some
                }
            }
            Compiled::Since(t) => Tri::of(meta.min_start >= *t, meta.max_start < *t),
            Compiled::Until(t) => Tri::of(meta.max_start < *t, meta.min_start >= *t),
            Compiled::Field { .. } | Compiled::Has(_) | Compiled::Message { .. } => {
                self.index_truth(t, meta).unwrap_or(Tri::Some)
            }
            Compiled::Not(inner) => self.term_on_meta(inner, meta, stats, class).not(),
        }
    }

    /// Truth of a field or message term over a whole page, from its index (`None` for the other
    /// terms, which depend on names, outcomes or times).
    fn term_on_index(&self, t: &Compiled, index: &PageIndex) -> Option<Tri> {
        Some(match t {
            // Without the indexes, only the keys a page holds (its zone map) rule it out.
            Compiled::Field { key, .. } if !self.indexes => {
                Tri::of(false, !key.is_some_and(|k| index.has_key(k)))
            }
            Compiled::Field { key, test } => match key.and_then(|k| index.values_of(k)) {
                None => Tri::None,
                // The value index lists every value of the key: a comparison none of them
                // passes holds for no row. (Rows without the key never match a comparison.)
                Some(KeyValues::Listed { values, .. })
                    if !values.iter().any(|v| test.matches_str(&v.value)) =>
                {
                    Tri::None
                }
                // A key of more strings than are listed has a filter of them: equality with
                // strings it says the page lacks holds for no row.
                Some(KeyValues::Filtered(filter)) if !test.may_match_filter(filter) => Tri::None,
                // Likewise a range none of whose values can pass.
                Some(range @ (KeyValues::IntRange { .. } | KeyValues::FloatRange { .. }))
                    if !test.may_match_range(range) =>
                {
                    Tri::None
                }
                Some(_) => Tri::Some,
            },
            Compiled::Has(key) => match key {
                Some(k) if index.has_key(*k) => Tri::Some,
                _ => Tri::None,
            },
            // The page's message index rules it out when a word the text needs is missing.
            Compiled::Message { required, .. } => match &index.messages {
                Some(words) if self.indexes && !message_index::holds_all(words, required) => {
                    Tri::None
                }
                _ => Tri::Some,
            },
            _ => return None,
        })
    }

    /// The filter's top-level comparisons of a field with strings (`route = "/checkout"`,
    /// `tier != free`, `route in (...)`): the key and the test of each value. A segment's value
    /// rollup of that key answers the events whose value passes (rows without the key pass no
    /// comparison).
    pub(crate) fn string_terms(&self) -> Vec<(NameId, impl Fn(&str) -> bool + '_)> {
        self.terms
            .iter()
            .filter_map(|t| match t {
                Compiled::Field {
                    key: Some(k),
                    test: test @ FieldTest::StrIn { .. },
                } => Some((*k, move |v: &str| test.matches_str(v))),
                _ => None,
            })
            .collect()
    }

    /// Whether the page `index` describes holds no event passing the filter, by its field and
    /// message terms alone: what the planner asks before it reads the page's meta.
    pub(crate) fn rules_out_page(&self, index: &PageIndex) -> bool {
        self.terms
            .iter()
            .any(|t| self.term_on_index(t, index) == Some(Tri::None))
    }

    /// Whether some term is decided by a page's index ([`Predicate::rules_out_page`] can be true).
    pub(crate) fn has_page_terms(&self) -> bool {
        self.terms.iter().any(is_page_term)
    }

    fn name_matches(&self, t: &Compiled, id: NameId) -> bool {
        let Compiled::Name { table, glob } = t else {
            return false;
        };
        match table.get(id as usize) {
            Some(hit) => *hit,
            None => self.dict.get(id).is_some_and(|n| glob.matches(&n)),
        }
    }

    /// Evaluate on every row of a decoded page: `out[row]` = the filter holds. `scratch` is reused.
    pub(crate) fn on_rows(&self, cols: &PageColumns, out: &mut Vec<bool>, scratch: &mut Vec<bool>) {
        out.clear();
        out.resize(cols.len(), true);
        for t in &self.terms {
            self.term_on_rows(t, cols, scratch);
            for (o, s) in out.iter_mut().zip(scratch.iter()) {
                *o &= *s;
            }
        }
    }

    /// The rows of `cols` that pass, ascending, into `rows` (`mask` and `scratch` are reused
    /// buffers). A filter with a field, `has` or message term starts from the rows that term
    /// holds for (from its sparse column: few of the page's rows when the filter is selective)
    /// and tests the other terms on those rows alone; any other filter goes column by column
    /// over the whole page ([`Predicate::on_rows`]).
    pub(crate) fn select(
        &self,
        cols: &PageColumns,
        rows: &mut Vec<u32>,
        mask: &mut Vec<bool>,
        scratch: &mut Vec<bool>,
    ) {
        rows.clear();
        let Some(first) = self.terms.iter().position(is_page_term) else {
            self.on_rows(cols, mask, scratch);
            rows.extend(
                mask.iter()
                    .enumerate()
                    .filter_map(|(i, s)| s.then_some(i as u32)),
            );
            return;
        };
        self.rows_of_sparse_term(&self.terms[first], cols, rows);
        for (i, t) in self.terms.iter().enumerate() {
            if i == first || rows.is_empty() {
                continue;
            }
            if reads_own_row(t) {
                rows.retain(|&r| self.row_holds(t, cols, r as usize) == Some(true));
            } else {
                self.term_on_rows(t, cols, scratch);
                rows.retain(|&r| scratch.get(r as usize).copied().unwrap_or(false));
            }
        }
    }

    /// The rows a field, `has` or message term holds for, ascending.
    fn rows_of_sparse_term(&self, t: &Compiled, cols: &PageColumns, rows: &mut Vec<u32>) {
        let n = cols.len() as u32;
        let mut columns = 0;
        match t {
            Compiled::Field {
                key: Some(key),
                test,
            } => {
                for col in cols.fields.iter().filter(|c| c.key == *key) {
                    columns += 1;
                    field_hits(&col.rows, &col.values, test, |row, hit| {
                        if hit && row < n {
                            rows.push(row);
                        }
                    });
                }
            }
            Compiled::Has(Some(key)) => {
                for col in cols.fields.iter().filter(|c| c.key == *key) {
                    columns += 1;
                    rows.extend(col.rows.iter().copied().filter(|&r| r < n));
                }
            }
            Compiled::Message { needle, .. } => {
                rows.extend(
                    cols.message_rows
                        .iter()
                        .enumerate()
                        .filter(|&(i, &r)| r < n && cols.messages.get(i).contains(needle.as_str()))
                        .map(|(_, &r)| r),
                );
            }
            _ => {}
        }
        // A key stored in columns of several types: their rows interleave.
        if columns > 1 {
            rows.sort_unstable();
            rows.dedup();
        }
    }

    /// Whether term `t` holds for row `row`, for the terms that read the row's own dense
    /// columns (`None` for field, `has` and message terms, which look rows up in sparse ones).
    fn row_holds(&self, t: &Compiled, cols: &PageColumns, row: usize) -> Option<bool> {
        let code = || cols.codes.get(row).copied().unwrap_or(u8::MAX);
        Some(match t {
            Compiled::Name { .. } => cols
                .names
                .get(row)
                .is_some_and(|&id| self.name_matches(t, id)),
            Compiled::Kind(k) => (code() <= 1) == (*k == Kind::Call),
            Compiled::Status(Status::Ok) => code() == 0,
            Compiled::Status(Status::Error) => code() == 1,
            Compiled::Level(op, level) => {
                let c = code();
                (2..u8::MAX).contains(&c) && op.compare(&(c - 2), &(*level as u8))
            }
            Compiled::Duration(op, v) => cols.durations.get(row).is_some_and(|d| op.compare(d, v)),
            Compiled::Since(t) => cols.starts.get(row).is_some_and(|s| s >= t),
            Compiled::Until(t) => cols.starts.get(row).is_some_and(|s| s < t),
            Compiled::Not(inner) => !self.row_holds(inner, cols, row)?,
            Compiled::Field { .. } | Compiled::Has(_) | Compiled::Message { .. } => return None,
        })
    }

    fn term_on_rows(&self, t: &Compiled, cols: &PageColumns, out: &mut Vec<bool>) {
        let n = cols.len();
        out.clear();
        match t {
            Compiled::Name { .. } => {
                // Names repeat: resolve each id once per page.
                let mut memo: Vec<u8> = Vec::new();
                out.extend(cols.names.iter().map(|&id| {
                    let i = id as usize;
                    if i >= memo.len() {
                        memo.resize(i + 1, 2);
                    }
                    if memo[i] == 2 {
                        memo[i] = u8::from(self.name_matches(t, id));
                    }
                    memo[i] == 1
                }));
            }
            Compiled::Kind(k) => {
                let want_call = *k == Kind::Call;
                out.extend(cols.codes.iter().map(|&c| (c <= 1) == want_call));
            }
            Compiled::Status(s) => {
                let want = match s {
                    Status::Ok => 0,
                    Status::Error => 1,
                };
                out.extend(cols.codes.iter().map(|&c| c == want));
            }
            Compiled::Level(op, level) => {
                let l = *level as u8;
                out.extend(
                    cols.codes
                        .iter()
                        .map(|&c| c >= 2 && op.compare(&(c - 2), &l)),
                );
            }
            Compiled::Duration(op, v) => {
                out.extend(cols.durations.iter().map(|d| op.compare(d, v)))
            }
            Compiled::Since(t) => out.extend(cols.starts.iter().map(|s| s >= t)),
            Compiled::Until(t) => out.extend(cols.starts.iter().map(|s| s < t)),
            Compiled::Field { key, test } => {
                out.resize(n, false);
                let Some(key) = key else { return };
                for col in cols.fields.iter().filter(|c| c.key == *key) {
                    mark_field(col.rows.as_slice(), &col.values, test, out);
                }
            }
            Compiled::Has(key) => {
                out.resize(n, false);
                let Some(key) = key else { return };
                for col in cols.fields.iter().filter(|c| c.key == *key) {
                    for &r in &col.rows {
                        if let Some(o) = out.get_mut(r as usize) {
                            *o = true;
                        }
                    }
                }
            }
            Compiled::Message { needle, .. } => {
                out.resize(n, false);
                for (i, &r) in cols.message_rows.iter().enumerate() {
                    if cols.messages.get(i).contains(needle.as_str()) {
                        if let Some(o) = out.get_mut(r as usize) {
                            *o = true;
                        }
                    }
                }
            }
            Compiled::Not(inner) => {
                self.term_on_rows(inner, cols, out);
                for o in out.iter_mut() {
                    *o = !*o;
                }
            }
        }
    }
}

fn mark_field(rows: &[u32], values: &FieldValues, test: &FieldTest, out: &mut [bool]) {
    field_hits(rows, values, test, |row, hit| {
        if let Some(o) = out.get_mut(row as usize) {
            *o = hit;
        }
    });
}

/// Whether `t` is a field, `has` or message term: decided for a whole page by its index, and
/// for rows by a sparse column.
fn is_page_term(t: &Compiled) -> bool {
    matches!(
        t,
        Compiled::Field { .. } | Compiled::Has(_) | Compiled::Message { .. }
    )
}

/// Whether `t` is decided by a row's own dense columns (see `Predicate::row_holds`).
fn reads_own_row(t: &Compiled) -> bool {
    match t {
        Compiled::Not(inner) => reads_own_row(inner),
        t => !is_page_term(t),
    }
}

/// Call `hit(row, passes)` for each row of a field column (`rows`, `values`) whose value `test`
/// decides: every one, except that a number test skips string and boolean columns (false).
fn field_hits(
    rows: &[u32],
    values: &FieldValues,
    test: &FieldTest,
    mut hit: impl FnMut(u32, bool),
) {
    let mut set = |i: usize, passes: bool| {
        if let Some(&r) = rows.get(i) {
            hit(r, passes);
        }
    };
    match (values, test) {
        // Strings are the common case: compare without allocating.
        (FieldValues::Str(col), FieldTest::StrIn { values, equal, .. }) => {
            col.test_each(|s| values.iter().any(|x| x == s) == *equal, set);
        }
        (FieldValues::Str(_) | FieldValues::Bool(_), FieldTest::Number(..)) => {}
        (FieldValues::I64(v), FieldTest::Number(op, rhs)) => {
            for (i, x) in v.iter().enumerate() {
                set(i, rhs.holds_for_i64(*op, *x));
            }
        }
        (FieldValues::F64(v), FieldTest::Number(op, rhs)) => {
            for (i, x) in v.iter().enumerate() {
                set(i, rhs.holds_for_f64(*op, *x));
            }
        }
        _ => {
            for i in 0..values.len() {
                if let Some(v) = values.get(i) {
                    set(i, test.matches(&v));
                }
            }
        }
    }
}

/// Truth of `x OP v` for every x in `[lo, hi]`.
fn range_vs(op: CmpOp, lo: u64, hi: u64, v: u64) -> Tri {
    match op {
        CmpOp::Eq => Tri::of(lo == v && hi == v, v < lo || v > hi),
        CmpOp::Ne => Tri::of(v < lo || v > hi, lo == v && hi == v),
        CmpOp::Lt => Tri::of(hi < v, lo >= v),
        CmpOp::Le => Tri::of(hi <= v, lo > v),
        CmpOp::Gt => Tri::of(lo > v, hi <= v),
        CmpOp::Ge => Tri::of(lo >= v, hi < v),
    }
}

fn compile_term(t: &Term, now_ns: u64, dict: &Arc<Dictionary>) -> Compiled {
    match t {
        Term::Name(glob) => {
            let n = dict.len();
            let table = (0..n as NameId)
                .map(|id| dict.get(id).is_some_and(|s| glob.matches(&s)))
                .collect();
            Compiled::Name {
                table,
                glob: glob.clone(),
            }
        }
        Term::Kind(k) => Compiled::Kind(*k),
        Term::Status(s) => Compiled::Status(*s),
        Term::Level(op, l) => Compiled::Level(*op, *l),
        Term::Duration(op, v) => Compiled::Duration(*op, *v),
        Term::Since(b) => Compiled::Since(b.resolve(now_ns)),
        Term::Until(b) => Compiled::Until(b.resolve(now_ns)),
        Term::Field { key, op, value } => {
            let test = match op {
                CmpOp::Eq | CmpOp::Ne => FieldTest::equal_to(vec![value.clone()], *op == CmpOp::Eq),
                _ => FieldTest::Number(*op, Number::parse(value)),
            };
            Compiled::Field {
                key: dict.lookup(key),
                test,
            }
        }
        Term::FieldIn { key, values } => Compiled::Field {
            key: dict.lookup(key),
            test: FieldTest::equal_to(values.clone(), true),
        },
        Term::Has(key) => Compiled::Has(dict.lookup(key)),
        Term::MessageContains(s) => Compiled::Message {
            needle: s.clone(),
            required: message_index::required_hashes(s),
        },
        Term::Not(inner) => Compiled::Not(Box::new(compile_term(inner, now_ns, dict))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_literals_compare_exactly_beyond_f64_precision() {
        let id = 1_234_567_890_123_456_789i64;
        let lit = Number::parse("1234567890123456788");
        assert!(lit.holds_for_i64(CmpOp::Gt, id));
        assert!(!lit.holds_for_i64(CmpOp::Le, id));
        // 2^53 + 1 is not a float; the float field 2^53 lies below it.
        assert!(Number::parse("9007199254740993").holds_for_f64(CmpOp::Lt, 9_007_199_254_740_992.0));
        assert!(Number::parse("0.5").holds_for_i64(CmpOp::Gt, 1));
        assert!(Number::parse("-0.5").holds_for_i64(CmpOp::Lt, -1));
        assert!(Number::parse("-0.5").holds_for_i64(CmpOp::Gt, 0));
        assert!(Number::parse("1e300").holds_for_i64(CmpOp::Lt, i64::MAX));
        assert!(Number::parse("-1e300").holds_for_i64(CmpOp::Gt, i64::MIN));
        assert!(Number::parse("-9223372036854775808")
            .holds_for_f64(CmpOp::Eq, -9.223_372_036_854_776e18));
        assert!(!Number::parse("1").holds_for_f64(CmpOp::Ge, f64::NAN));
    }

    #[test]
    fn range_logic_matches_a_brute_force_check() {
        let ops = [
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Gt,
            CmpOp::Ge,
        ];
        for op in ops {
            for lo in 0..6u64 {
                for hi in lo..6 {
                    for v in 0..7 {
                        let hits = (lo..=hi).filter(|x| op.compare(x, &v)).count() as u64;
                        let want = Tri::of(hits == hi - lo + 1, hits == 0);
                        assert_eq!(range_vs(op, lo, hi, v), want, "{op:?} [{lo},{hi}] {v}");
                    }
                }
            }
        }
    }
}
