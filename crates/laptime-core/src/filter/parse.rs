//! Lexer and parser for filter strings (see the module docs in `mod.rs`).

use super::{CmpOp, Filter, FilterError, Glob, Kind, Status, Term, TimeBound, UNITS};
use crate::Level;

type Result<T> = std::result::Result<T, FilterError>;

const DURATION: &str = "a duration such as 10ms";
const TIME: &str = "a time such as 1h, 2026-11-22T10:00:00Z or epoch milliseconds";
const ISO: &str = "an ISO-8601 UTC time such as 2026-11-22T10:00:00Z";
const LEVEL: &str = "a level (trace, debug, info, warn, error, fatal)";
const CMP: &str = "a comparison operator (=, !=, <, <=, >, >=)";
/// Longest run of leading `-` accepted, so deeply nested [`Term::Not`]s cannot be built from
/// text (dropping or printing them recurses).
pub(super) const MAX_NEGATIONS: usize = 16;
const KEY: &str = "a field name such as route";

pub(super) fn parse(input: &str) -> Result<Filter> {
    let mut p = Parser { src: input, pos: 0 };
    let mut terms = Vec::new();
    loop {
        p.skip_ws();
        if p.pos >= input.len() {
            return Ok(Filter { terms });
        }
        terms.push(p.term()?);
        if !p.at_term_end() {
            return Err(p.err(p.pos, "whitespace between terms"));
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum RawOp {
    Colon,
    Tilde,
    Cmp(CmpOp),
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn at_term_end(&self) -> bool {
        self.peek().is_none_or(char::is_whitespace)
    }

    /// Consume characters while `f` holds.
    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let rest = self.rest();
        let n = rest.find(|c: char| !f(c)).unwrap_or(rest.len());
        self.pos += n;
        &rest[..n]
    }

    /// Describe what is at `pos`: the rest of that term, quoted, or `end of input`.
    fn found(&self, pos: usize) -> String {
        let rest = &self.src[pos..];
        match rest.chars().next() {
            None => "end of input".to_string(),
            Some(c) if c.is_whitespace() => "whitespace".to_string(),
            Some(_) => {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                format!("{:?}", &rest[..end])
            }
        }
    }

    fn err(&self, pos: usize, expected: impl Into<String>) -> FilterError {
        FilterError {
            position: pos,
            expected: expected.into(),
            found: self.found(pos),
        }
    }

    fn term(&mut self) -> Result<Term> {
        let mut negations = 0usize;
        while self.peek() == Some('-') {
            if negations == MAX_NEGATIONS {
                return Err(self.err(self.pos, format!("at most {MAX_NEGATIONS} leading -")));
            }
            self.pos += 1;
            negations += 1;
        }
        if negations > 0 && self.at_term_end() {
            return Err(self.err(self.pos, "a term after -"));
        }
        let mut term = self.positive_term()?;
        for _ in 0..negations {
            term = Term::Not(Box::new(term));
        }
        Ok(term)
    }

    fn raw_key(&mut self) -> Option<&'a str> {
        let first = self.peek()?;
        if !(first.is_ascii_alphanumeric() || first == '_') {
            return None;
        }
        Some(self.take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    }

    /// A field key: `field.` is stripped once.
    fn field_key(&mut self, start: usize, raw: &str) -> Result<String> {
        match raw.strip_prefix("field.") {
            Some(k) if !k.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') => {
                Err(self.err(start + "field.".len(), KEY))
            }
            Some(k) => Ok(k.to_string()),
            None => Ok(raw.to_string()),
        }
    }

    fn op(&mut self) -> Option<RawOp> {
        let rest = self.rest();
        let (op, len) = if rest.starts_with("!=") {
            (RawOp::Cmp(CmpOp::Ne), 2)
        } else if rest.starts_with("<=") {
            (RawOp::Cmp(CmpOp::Le), 2)
        } else if rest.starts_with(">=") {
            (RawOp::Cmp(CmpOp::Ge), 2)
        } else {
            let op = match rest.chars().next()? {
                '<' => RawOp::Cmp(CmpOp::Lt),
                '>' => RawOp::Cmp(CmpOp::Gt),
                '=' => RawOp::Cmp(CmpOp::Eq),
                ':' => RawOp::Colon,
                '~' => RawOp::Tilde,
                _ => return None,
            };
            (op, 1)
        };
        self.pos += len;
        Some(op)
    }

    fn positive_term(&mut self) -> Result<Term> {
        let start = self.pos;
        let Some(raw) = self.raw_key() else {
            return Err(self.err(start, "a term such as name:UserService.find or key:value"));
        };
        let op_pos = self.pos;
        let Some(op) = self.op() else {
            return Err(self.err(
                op_pos,
                format!("an operator (:, =, !=, <, <=, >, >=, ~) after {raw}"),
            ));
        };
        let need_colon = |p: &Self| -> Result<()> {
            if op == RawOp::Colon {
                Ok(())
            } else {
                Err(p.err(op_pos, format!(": after {raw}")))
            }
        };
        // `level` and `duration` take `:` (meaning =) or a comparison.
        let cmp = |p: &Self| -> Result<CmpOp> {
            match op {
                RawOp::Colon => Ok(CmpOp::Eq),
                RawOp::Cmp(c) => Ok(c),
                RawOp::Tilde => Err(p.err(op_pos, CMP)),
            }
        };
        match raw {
            "name" => {
                need_colon(self)?;
                let (v, _) = self.value("a name or glob such as UserService.*")?;
                Ok(Term::Name(Glob::new(v)))
            }
            "kind" => {
                need_colon(self)?;
                let at = self.pos;
                match self.word() {
                    "call" => Ok(Term::Kind(Kind::Call)),
                    "log" => Ok(Term::Kind(Kind::Log)),
                    _ => Err(self.err(at, "call or log")),
                }
            }
            "status" => {
                need_colon(self)?;
                let at = self.pos;
                match self.word() {
                    "ok" => Ok(Term::Status(Status::Ok)),
                    "error" => Ok(Term::Status(Status::Error)),
                    _ => Err(self.err(at, "ok or error")),
                }
            }
            "level" => {
                let c = cmp(self)?;
                let at = self.pos;
                let w = self.word();
                match Level::ALL
                    .iter()
                    .find(|l| l.as_str().eq_ignore_ascii_case(w))
                {
                    Some(l) => Ok(Term::Level(c, *l)),
                    None => Err(self.err(at, LEVEL)),
                }
            }
            "duration" => {
                let c = cmp(self)?;
                let at = self.pos;
                match parse_duration(self.word(), true) {
                    Some(ns) => Ok(Term::Duration(c, ns)),
                    None => Err(self.err(at, DURATION)),
                }
            }
            "since" | "until" => {
                need_colon(self)?;
                let at = self.pos;
                let b = self.time_bound(at)?;
                Ok(if raw == "since" {
                    Term::Since(b)
                } else {
                    Term::Until(b)
                })
            }
            "has" => {
                need_colon(self)?;
                let at = self.pos;
                let Some(k) = self.raw_key() else {
                    return Err(self.err(at, KEY));
                };
                let key = self.field_key(at, k)?;
                if !self.at_term_end() {
                    return Err(self.err(at, KEY));
                }
                Ok(Term::Has(key))
            }
            "message" => {
                if op != RawOp::Tilde {
                    return Err(self.err(op_pos, "~ after message"));
                }
                let (v, _) = self.value("the text to look for")?;
                Ok(Term::MessageContains(v))
            }
            _ => {
                let key = self.field_key(start, raw)?;
                let op = match op {
                    RawOp::Colon => CmpOp::Eq,
                    RawOp::Cmp(c) => c,
                    RawOp::Tilde => return Err(self.err(op_pos, CMP)),
                };
                let at = self.pos;
                if matches!(op, CmpOp::Eq | CmpOp::Ne) && self.rest().starts_with("in(") {
                    if op == CmpOp::Ne {
                        return Err(
                            self.err(at, "a single value (write -key:in(...) to negate a list)")
                        );
                    }
                    self.pos += 3;
                    let values = self.list()?;
                    return Ok(Term::FieldIn { key, values });
                }
                let (value, _) = self.value("a value")?;
                if !matches!(op, CmpOp::Eq | CmpOp::Ne) && !is_number(&value) {
                    return Err(self.err(at, "a number"));
                }
                Ok(Term::Field { key, op, value })
            }
        }
    }

    /// The rest of the term, unquoted (may be empty).
    fn word(&mut self) -> &'a str {
        self.take_while(|c| !c.is_whitespace())
    }

    /// A quoted value (ending the term) or the rest of the term.
    fn value(&mut self, what: &str) -> Result<(String, bool)> {
        let at = self.pos;
        if self.peek() == Some('"') {
            let v = self.quoted()?;
            if !self.at_term_end() {
                return Err(self.err(self.pos, "whitespace after the closing quote"));
            }
            return Ok((v, true));
        }
        let w = self.word();
        if w.is_empty() {
            return Err(self.err(at, what));
        }
        Ok((w.to_string(), false))
    }

    /// `"..."` with `\"` and `\\` escapes; `self.pos` is at the opening quote.
    fn quoted(&mut self) -> Result<String> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(FilterError {
                    position: open,
                    expected: "a closing \"".to_string(),
                    found: "end of input".to_string(),
                });
            };
            let here = self.pos;
            self.pos += c.len_utf8();
            match c {
                '"' => return Ok(out),
                '\\' => match self.peek() {
                    Some(e @ ('"' | '\\')) => {
                        self.pos += 1;
                        out.push(e);
                    }
                    _ => return Err(self.err(here, "\\\" or \\\\ after a backslash")),
                },
                c => out.push(c),
            }
        }
    }

    /// Items of `in(...)`, after the `(`, through the `)`.
    fn list(&mut self) -> Result<Vec<String>> {
        let mut values = Vec::new();
        if self.peek() == Some(')') {
            return Err(self.err(self.pos, "at least one value in in(...)"));
        }
        loop {
            let at = self.pos;
            let item = if self.peek() == Some('"') {
                self.quoted()?
            } else {
                let w = self.take_while(|c| !(c.is_whitespace() || c == ',' || c == ')'));
                if w.is_empty() {
                    return Err(self.err(at, "a value"));
                }
                w.to_string()
            };
            values.push(item);
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(')') => {
                    self.pos += 1;
                    if !self.at_term_end() {
                        return Err(self.err(self.pos, "whitespace after in(...)"));
                    }
                    return Ok(values);
                }
                _ => return Err(self.err(self.pos, ", or ) in in(...)")),
            }
        }
    }

    fn time_bound(&mut self, at: usize) -> Result<TimeBound> {
        let w = self.word();
        if w.is_empty() {
            return Err(self.err(at, TIME));
        }
        if w.bytes().all(|b| b.is_ascii_digit()) {
            return w
                .parse::<u64>()
                .ok()
                .and_then(|ms| ms.checked_mul(1_000_000))
                .map(TimeBound::EpochNs)
                .ok_or_else(|| self.err(at, "epoch milliseconds before the year 2554"));
        }
        let b = w.as_bytes();
        if b.len() >= 5 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' {
            return parse_iso(w)
                .map(TimeBound::EpochNs)
                .ok_or_else(|| self.err(at, ISO));
        }
        parse_duration(w, false)
            .map(TimeBound::AgoNs)
            .ok_or_else(|| self.err(at, TIME))
    }
}

/// Finite `i64` or `f64` syntax.
fn is_number(s: &str) -> bool {
    s.parse::<i64>().is_ok() || s.parse::<f64>().is_ok_and(f64::is_finite)
}

/// `10ms`, `1.5s`, `250us`; a bare `0` when `allow_bare_zero`. Exact to the nanosecond.
pub(super) fn parse_duration(s: &str, allow_bare_zero: bool) -> Option<u64> {
    let int_len = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (int, rest) = s.split_at(int_len);
    let (frac, unit) = match rest.strip_prefix('.') {
        Some(r) => r.split_at(r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len())),
        None => ("", rest),
    };
    if int.is_empty()
        || int.len() > 30
        || frac.len() > 18
        || (rest.starts_with('.') && frac.is_empty())
    {
        return None;
    }
    let mult: u128 = match unit {
        "" if allow_bare_zero => {
            let zero = int.bytes().all(|b| b == b'0') && frac.bytes().all(|b| b == b'0');
            return zero.then_some(0);
        }
        "us" | "µs" | "μs" => 1_000,
        u => u128::from(UNITS.iter().find(|(name, _)| *name == u)?.1),
    };
    let whole = int.parse::<u128>().ok()?.checked_mul(mult)?;
    let mut part = 0u128;
    if !frac.is_empty() {
        let scale = 10u128.pow(frac.len() as u32);
        let f = frac.parse::<u128>().ok()? * mult;
        if !f.is_multiple_of(scale) {
            return None; // finer than a nanosecond
        }
        part = f / scale;
    }
    u64::try_from(whole.checked_add(part)?).ok()
}

/// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM[:SS[.fraction]]Z`, UTC, 1970 onwards.
fn parse_iso(s: &str) -> Option<u64> {
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
    let (y, mo, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || mo.len() != 2 || d.len() != 2 {
        return None;
    }
    let y = num(y, 1970..=9999)?;
    let mo = num(mo, 1..=12)?;
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
    let d = num(d, 1..=dim[mo as usize - 1])?;
    let mut secs = days_from_civil(i64::from(y), mo, d) as u128 * 86_400;
    let mut nanos = 0u128;
    if let Some(t) = time {
        let t = t.strip_suffix(['Z', 'z'])?;
        let (hms, frac) = match t.split_once('.') {
            Some((hms, frac)) => (hms, Some(frac)),
            None => (t, None),
        };
        let mut f = hms.split(':');
        let h = f
            .next()
            .filter(|x| x.len() == 2)
            .and_then(|x| num(x, 0..=23))?;
        let m = f
            .next()
            .filter(|x| x.len() == 2)
            .and_then(|x| num(x, 0..=59))?;
        let sec = match f.next() {
            Some(x) if x.len() == 2 => num(x, 0..=59)?,
            Some(_) => return None,
            None if frac.is_some() => return None,
            None => 0,
        };
        if f.next().is_some() {
            return None;
        }
        secs += u128::from(h * 3600 + m * 60 + sec);
        if let Some(frac) = frac {
            if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            nanos = frac.parse::<u128>().ok()? * 10u128.pow(9 - frac.len() as u32);
        }
    }
    u64::try_from(secs * 1_000_000_000 + nanos).ok()
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
