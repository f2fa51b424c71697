//! Lexer and parser for filter strings (see the module docs in `mod.rs`).

use super::grammar::{self, Failure, TIME};
use super::{CmpOp, ErrorCode, Filter, FilterError, Glob, Kind, Status, Term, TimeBound};
use laptime_storage::Level;

type Result<T> = std::result::Result<T, FilterError>;

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
        self.err_code(ErrorCode::Syntax, pos, expected)
    }

    fn err_code(&self, code: ErrorCode, pos: usize, expected: impl Into<String>) -> FilterError {
        FilterError {
            code,
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
                    _ => Err(self.err_code(ErrorCode::BadValue, at, "call or log")),
                }
            }
            "status" => {
                need_colon(self)?;
                let at = self.pos;
                match self.word() {
                    "ok" => Ok(Term::Status(Status::Ok)),
                    "error" => Ok(Term::Status(Status::Error)),
                    _ => Err(self.err_code(ErrorCode::BadValue, at, "ok or error")),
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
                    None => Err(self.err_code(ErrorCode::BadValue, at, LEVEL)),
                }
            }
            "duration" => {
                let c = cmp(self)?;
                let at = self.pos;
                match grammar::duration(self.word(), true) {
                    Ok(ns) => Ok(Term::Duration(c, ns)),
                    Err(f) => Err(self.failure(at, f)),
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
                    return Err(self.err_code(ErrorCode::BadValue, at, "a number"));
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
                    code: ErrorCode::Syntax,
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
            return Err(self.err_code(ErrorCode::BadTime, at, TIME));
        }
        grammar::time(w).map_err(|f| self.failure(at, f))
    }

    fn failure(&self, at: usize, (code, expected): Failure) -> FilterError {
        self.err_code(code, at, expected)
    }
}

/// Finite `i64` or `f64` syntax.
fn is_number(s: &str) -> bool {
    s.parse::<i64>().is_ok() || s.parse::<f64>().is_ok_and(f64::is_finite)
}
