//! Filter strings: the query syntax shared by the CLI, the HTTP API and the TypeScript client.
//!
//! A filter is a list of whitespace-separated terms, all of which must hold (AND). Any term may
//! be negated with a leading `-`. An empty string is the filter that matches everything.
//!
//! | Term | Meaning |
//! |------|---------|
//! | `name:UserService.find` | function name equals (a [`Glob`]: `*` = any run, `?` = one char) |
//! | `name:UserService.*` | glob over the name |
//! | `kind:call`, `kind:log` | event kind |
//! | `status:ok`, `status:error` | outcome of a call |
//! | `level:warn`, `level>=warn` | log level, trace < debug < info < warn < error < fatal |
//! | `duration>10ms`, `duration<=1.5s`, `duration=0` | duration ([`grammar`]: `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`, `d`, `w`) |
//! | `since:1h`, `until:7d`, `since:now` | start time, relative to the `now_ns` given to [`TimeBound::resolve`] |
//! | `since:2026-11-22T10:00:00Z`, `until:1732269600000` | absolute start time ([`grammar`]: ISO-8601 with `Z` or an offset, or epoch ms) |
//! | `route:/users`, `route=/users`, `route!=/users` | field equality: numerically with number fields when the value is a number (`ratio:2.5e-7`), else on the field's string form |
//! | `count>5`, `ratio<=0.5` | numeric comparison against an integer or float field |
//! | `route:in(/a,/b,"/c d")` | the field equals one of the values (as for `:`) |
//! | `has:route` | the field exists |
//! | `message~"disk full"` | message contains the text |
//!
//! Comparison operators are `=` (also `:` where it reads better), `!=`, `<`, `<=`, `>`, `>=`.
//!
//! Values may be double-quoted to hold whitespace or special characters: `route:"/a b"`. Inside
//! quotes `\"` is a quote and `\\` a backslash; no other escapes exist. Unquoted values run to the
//! next whitespace (inside `in(...)`, to the next `,` or `)`).
//!
//! Field keys consist of ASCII letters, digits, `_`, `.` and `-`, starting with a letter, digit or
//! `_`. The keys `name`, `kind`, `status`, `level`, `duration`, `since`, `until`, `has` and
//! `message` are reserved for the terms above; to address a *field* with one of those names, write
//! it with a `field.` prefix: `field.name:x`, `has:field.status`. The prefix is always stripped
//! once, so a field literally called `field.x` is written `field.field.x`.
//!
//! `Display` for [`Filter`] prints a canonical form which parses back to an equal filter (for
//! field keys that follow the rules above).

pub mod grammar;
#[cfg(test)]
mod grammar_tests;
mod parse;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use laptime_storage::Level;

/// Keys with a meaning of their own; fields with these names need the `field.` prefix.
pub const RESERVED_KEYS: [&str; 9] = [
    "name", "kind", "status", "level", "duration", "since", "until", "has", "message",
];

/// A parsed filter: every term must match (AND).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    /// The terms, in input order.
    pub terms: Vec<Term>,
}

/// One condition of a [`Filter`].
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// `name:GLOB` — the function name matches the glob.
    Name(Glob),
    /// `kind:call|log`.
    Kind(Kind),
    /// `status:ok|error` (calls only).
    Status(Status),
    /// `level:warn` (= [`CmpOp::Eq`]) or `level>=warn` etc. (logs only).
    Level(CmpOp, Level),
    /// `duration>10ms`: compare the duration, in nanoseconds.
    Duration(CmpOp, u64),
    /// `since:...`: the event starts at or after the bound.
    Since(TimeBound),
    /// `until:...`: the event starts before the bound.
    Until(TimeBound),
    /// `key:value`, `key!=value`, `key>5`...
    ///
    /// With [`CmpOp::Eq`] / [`CmpOp::Ne`] a value that is a number is compared numerically with
    /// integer and float fields (`ratio:2.5e-7` matches 0.00000025); otherwise the value is
    /// compared with the field's string form (booleans as `true`/`false`). With an ordering operator the value is
    /// guaranteed by the parser to be a finite number (`i64` or `f64` syntax) and the comparison is
    /// numeric against integer and float fields.
    Field {
        /// Field key (without any `field.` prefix).
        key: String,
        /// Comparison.
        op: CmpOp,
        /// The value as written (unquoted, unescaped).
        value: String,
    },
    /// `key:in(a,b,c)`: the field equals one of the values, as with [`CmpOp::Eq`] (never empty).
    FieldIn {
        /// Field key.
        key: String,
        /// Accepted values.
        values: Vec<String>,
    },
    /// `has:key`: the field is present.
    Has(String),
    /// `message~text`: the message contains the text.
    MessageContains(String),
    /// `-term`. The parser accepts at most 16 leading `-` in a row.
    Not(Box<Term>),
}

/// Event kind, for `kind:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A timed function call.
    Call,
    /// A log line.
    Log,
}

impl Kind {
    /// Spelling in the filter syntax.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Call => "call",
            Kind::Log => "log",
        }
    }
}

/// Call outcome, for `status:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// The call succeeded.
    Ok,
    /// The call failed.
    Error,
}

impl Status {
    /// Spelling in the filter syntax.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
        }
    }
}

/// Comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `=` (or `:`).
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

impl CmpOp {
    /// Spelling in the filter syntax.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// `lhs OP rhs`. Incomparable values (NaN) only satisfy `!=`.
    pub fn compare<T: PartialOrd + ?Sized>(self, lhs: &T, rhs: &T) -> bool {
        match self {
            CmpOp::Eq => lhs == rhs,
            CmpOp::Ne => lhs != rhs,
            CmpOp::Lt => lhs < rhs,
            CmpOp::Le => lhs <= rhs,
            CmpOp::Gt => lhs > rhs,
            CmpOp::Ge => lhs >= rhs,
        }
    }
}

/// A point in time for `since:` / `until:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeBound {
    /// This many nanoseconds before "now" (`since:1h`).
    AgoNs(u64),
    /// An absolute time, nanoseconds since the Unix epoch.
    EpochNs(u64),
}

impl TimeBound {
    /// The bound in epoch nanoseconds, given the current time (saturating at 0).
    pub fn resolve(&self, now_ns: u64) -> u64 {
        match *self {
            TimeBound::AgoNs(ago) => now_ns.saturating_sub(ago),
            TimeBound::EpochNs(t) => t,
        }
    }
}

impl fmt::Display for TimeBound {
    /// Relative bounds as a duration (`1h`), absolute ones as ISO-8601 UTC, as filters print them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        BoundText(*self).fmt(f)
    }
}

/// A name pattern: `*` matches any run of characters (including none), `?` exactly one
/// character, everything else itself. There is no escape; a pattern without wildcards is an exact
/// match.
///
/// Matching never backtracks more than one `*` at a time, so it takes at most
/// O(pattern × text) steps, with no allocation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Glob {
    pattern: String,
}

impl Glob {
    /// A glob for this pattern.
    pub fn new(pattern: impl Into<String>) -> Glob {
        Glob {
            pattern: pattern.into(),
        }
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Whether the pattern has no wildcards (matches exactly one string).
    pub fn is_literal(&self) -> bool {
        !self.pattern.contains(['*', '?'])
    }

    /// The text before the first wildcard: every match starts with it.
    pub fn literal_prefix(&self) -> &str {
        match self.pattern.find(['*', '?']) {
            Some(i) => &self.pattern[..i],
            None => &self.pattern,
        }
    }

    /// Whether `s` matches the whole pattern.
    pub fn matches(&self, s: &str) -> bool {
        let p = self.pattern.as_bytes();
        let pat = &self.pattern;
        let (mut pi, mut si) = (0usize, 0usize);
        // Position after the last `*` seen, and where in `s` that star's match currently ends.
        let mut star: Option<(usize, usize)> = None;
        loop {
            let sc = s[si..].chars().next();
            let pc = pat[pi..].chars().next();
            match (pc, sc) {
                (_, None) => break,
                (Some('*'), Some(_)) => {
                    pi += 1;
                    star = Some((pi, si));
                }
                (Some(c), Some(t)) if c == '?' || c == t => {
                    pi += c.len_utf8();
                    si += t.len_utf8();
                }
                _ => match star {
                    Some((sp, mark)) => {
                        // Let the last star swallow one more character and retry.
                        let skip = s[mark..].chars().next().map_or(1, char::len_utf8);
                        let mark = mark + skip;
                        star = Some((sp, mark));
                        pi = sp;
                        si = mark;
                    }
                    None => return false,
                },
            }
        }
        while pi < p.len() && p[pi] == b'*' {
            pi += 1;
        }
        pi == p.len()
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

/// What kind of problem a [`FilterError`] is, as a stable code for programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The text does not have the shape of a term (operator, key, quote, list...).
    Syntax,
    /// A duration that is not one (`10xs`, `0.5ns`).
    BadDuration,
    /// A time that is not one (`yesterday`, `2026-13-01`).
    BadTime,
    /// A duration or time that is well formed but too large (or before 1970).
    OutOfRange,
    /// A value the term does not take (`kind:span`, `level:loud`, `count>many`).
    BadValue,
}

impl ErrorCode {
    /// The code as JavaScript and the HTTP API see it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Syntax => "SYNTAX",
            ErrorCode::BadDuration => "BAD_DURATION",
            ErrorCode::BadTime => "BAD_TIME",
            ErrorCode::OutOfRange => "OUT_OF_RANGE",
            ErrorCode::BadValue => "BAD_VALUE",
        }
    }
}

/// A filter string (or a duration or time) that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// What kind of problem it is.
    pub code: ErrorCode,
    /// Byte offset in the input where the problem is.
    pub position: usize,
    /// What would have been valid there, e.g. `a duration such as 10ms`.
    pub expected: String,
    /// What was there, already quoted (`"10xs"`), or `end of input` / `whitespace`.
    pub found: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "at {}: expected {}, found {}",
            self.position, self.expected, self.found
        )
    }
}

impl std::error::Error for FilterError {}

/// Parse a filter string.
pub fn parse(input: &str) -> Result<Filter, FilterError> {
    parse::parse(input)
}

/// An epoch-nanosecond time as ISO-8601 UTC (`2026-11-22T10:00:00.5Z`), as filters print it.
pub fn format_epoch_ns(ns: u64) -> String {
    BoundText(TimeBound::EpochNs(ns)).to_string()
}

/// A duration in its largest exact unit (`90m`, `1w`, `0ns`), as filters print it.
pub fn format_duration(ns: u64) -> String {
    DurationText(ns).to_string()
}

/// Parse a duration of the one duration grammar ([`grammar`]: `10ms`, `1.5s`, `7d`, `250us`), in
/// nanoseconds. Used for bucket widths and relative times, so every front end reads them alike.
/// Whitespace around it is ignored; positions count from the start of `text`.
pub fn parse_duration(text: &str) -> Result<u64, FilterError> {
    let (at, word) = trimmed(text);
    grammar::duration(word, false).map_err(|f| standalone_error(text, at, f))
}

/// Parse a time of the one time grammar ([`grammar`]: `now`, `7d` / `-7d` before now, epoch ms,
/// ISO 8601). Relative times stay relative: resolve them with [`TimeBound::resolve`].
pub fn parse_time(text: &str) -> Result<TimeBound, FilterError> {
    let (at, word) = trimmed(text);
    grammar::time(word).map_err(|f| standalone_error(text, at, f))
}

/// Byte offset of the first non-space and the text without surrounding whitespace.
fn trimmed(text: &str) -> (usize, &str) {
    let start = text.len() - text.trim_start().len();
    (start, text.trim())
}

fn standalone_error(text: &str, at: usize, (code, expected): grammar::Failure) -> FilterError {
    let word = text[at..].trim_end();
    FilterError {
        code,
        position: at,
        expected: expected.into(),
        found: if word.is_empty() {
            "end of input".into()
        } else {
            format!("{word:?}")
        },
    }
}

impl FromStr for Filter {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Filter, FilterError> {
        parse(s)
    }
}

impl Filter {
    /// Whether the filter has no terms (matches everything).
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Time bounds for pruning, in epoch ns: the latest `since` and the earliest `until` among
    /// the non-negated top-level time terms, resolved against `now_ns`.
    pub fn to_scan_hints(&self, now_ns: u64) -> (Option<u64>, Option<u64>) {
        let mut since: Option<u64> = None;
        let mut until: Option<u64> = None;
        for term in &self.terms {
            match term {
                Term::Since(b) => {
                    let t = b.resolve(now_ns);
                    since = Some(since.map_or(t, |s| s.max(t)));
                }
                Term::Until(b) => {
                    let t = b.resolve(now_ns);
                    until = Some(until.map_or(t, |u| u.min(t)));
                }
                _ => {}
            }
        }
        (since, until)
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, term) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{term}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Term::Name(g) => write!(f, "name:{}", Quoted(g.pattern())),
            Term::Kind(k) => write!(f, "kind:{}", k.as_str()),
            Term::Status(s) => write!(f, "status:{}", s.as_str()),
            Term::Level(CmpOp::Eq, l) => write!(f, "level:{}", l.as_str()),
            Term::Level(op, l) => write!(f, "level{}{}", op.as_str(), l.as_str()),
            Term::Duration(op, ns) => write!(f, "duration{}{}", op.as_str(), DurationText(*ns)),
            Term::Since(b) => write!(f, "since:{}", BoundText(*b)),
            Term::Until(b) => write!(f, "until:{}", BoundText(*b)),
            Term::Field { key, op, value } => {
                let op = if *op == CmpOp::Eq { ":" } else { op.as_str() };
                write!(f, "{}{}{}", KeyText(key), op, Quoted(value))
            }
            Term::FieldIn { key, values } => {
                write!(f, "{}:in(", KeyText(key))?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{}", Quoted(v))?;
                }
                f.write_str(")")
            }
            Term::Has(key) => write!(f, "has:{}", KeyText(key)),
            Term::MessageContains(s) => write!(f, "message~{}", Quoted(s)),
            Term::Not(t) => write!(f, "-{t}"),
        }
    }
}

/// A field key, with `field.` added where the bare key would be misread.
struct KeyText<'a>(&'a str);

impl fmt::Display for KeyText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if RESERVED_KEYS.contains(&self.0) || self.0.starts_with("field.") {
            f.write_str("field.")?;
        }
        f.write_str(self.0)
    }
}

/// A value, double-quoted and escaped if it would not survive unquoted.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let plain = !s.is_empty()
            && !s
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '"' | '\\' | '(' | ')' | ','));
        if plain {
            return f.write_str(s);
        }
        f.write_str("\"")?;
        for c in s.chars() {
            if c == '"' || c == '\\' {
                f.write_str("\\")?;
            }
            write!(f, "{c}")?;
        }
        f.write_str("\"")
    }
}

/// A duration in the largest unit that represents it exactly (always with a unit).
struct DurationText(u64);

impl fmt::Display for DurationText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        if ns == 0 {
            return f.write_str("0ns");
        }
        for (unit, mult) in grammar::UNITS {
            if ns.is_multiple_of(mult) {
                return write!(f, "{}{}", ns / mult, unit);
            }
        }
        unreachable!("1 divides everything")
    }
}

/// `1h` for relative bounds, ISO-8601 UTC for absolute ones.
struct BoundText(TimeBound);

impl fmt::Display for BoundText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            TimeBound::AgoNs(ns) => write!(f, "{}", DurationText(ns)),
            TimeBound::EpochNs(ns) => {
                let secs = ns / 1_000_000_000;
                let frac = ns % 1_000_000_000;
                let days = (secs / 86_400) as i64;
                let rem = secs % 86_400;
                let (y, mo, d) = grammar::civil_from_days(days);
                write!(
                    f,
                    "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
                    rem / 3600,
                    rem / 60 % 60,
                    rem % 60
                )?;
                if frac != 0 {
                    let digits = format!("{frac:09}");
                    write!(f, ".{}", digits.trim_end_matches('0'))?;
                }
                f.write_str("Z")
            }
        }
    }
}
