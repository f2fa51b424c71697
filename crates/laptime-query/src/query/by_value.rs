//! Counts and durations grouped by a field's values, answered from a page meta's value index (or
//! a segment summary's) instead of the page's columns. The index counts each listed value's calls,
//! errors and logs over all names, and keeps a latency sketch of its calls and of the calls
//! without the key; so it answers when the query takes the same classes of events (ok calls,
//! failed calls, logs) from every name of the page, and, when it needs durations, the calls whole
//! (not only the ok or only the failed ones). Events without the key are the page's totals less
//! the listed values' counts: the group of `null`.

use std::borrow::Cow;

use laptime_storage::page::{KeyValues, PageMeta};
use laptime_storage::sketch::LatencySketch;
use laptime_storage::NameId;

use super::accumulate::{CallPart, SummaryPart};

/// Events of one class each: ok calls, failed calls, logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct ClassCounts {
    pub ok: u64,
    pub errors: u64,
    pub logs: u64,
}

impl ClassCounts {
    fn minus(self, other: ClassCounts) -> Option<ClassCounts> {
        Some(ClassCounts {
            ok: self.ok.checked_sub(other.ok)?,
            errors: self.errors.checked_sub(other.errors)?,
            logs: self.logs.checked_sub(other.logs)?,
        })
    }

    fn plus(self, other: ClassCounts) -> ClassCounts {
        ClassCounts {
            ok: self.ok + other.ok,
            errors: self.errors + other.errors,
            logs: self.logs + other.logs,
        }
    }

    /// Only the classes `taken` says (ok calls, failed calls, logs).
    fn only(self, [ok, errors, logs]: [bool; 3]) -> ClassCounts {
        ClassCounts {
            ok: if ok { self.ok } else { 0 },
            errors: if errors { self.errors } else { 0 },
            logs: if logs { self.logs } else { 0 },
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.ok == 0 && self.errors == 0 && self.logs == 0
    }
}

/// One group of [`value_groups`]: a value of the key (`None`: events without it), the counts
/// taken, and the taken calls' durations when asked for.
pub(super) struct ValueGroup<'m> {
    pub value: Option<&'m str>,
    pub counts: ClassCounts,
    pub durations: Option<Cow<'m, LatencySketch>>,
}

/// The groups of each value of `key` in `meta`, taking the classes `parts` takes (the planner's
/// answer for the names whose events match; names left out match none), with the durations of
/// their calls when `durations` is set. `None` when the index cannot answer: the key is not
/// listed, the query takes different classes from different names, or it needs durations the
/// index lacks (an older index) or of only some of the calls.
pub(super) fn value_groups<'m>(
    meta: &'m PageMeta,
    key: NameId,
    parts: &[(NameId, SummaryPart)],
    durations: bool,
) -> Option<Vec<ValueGroup<'m>>> {
    let (values, without) = match meta.values_of(key) {
        Some(KeyValues::Listed { values, without }) => (values, without),
        _ => return None,
    };
    // Per class, whether the query takes it: set by the first name that has events of the
    // class, and every other name with such events must agree.
    let mut taken: [Option<bool>; 3] = [None; 3];
    let mut totals = ClassCounts::default();
    // `parts` follows the meta's name order (the planner builds it from that order).
    let mut parts = parts.iter().peekable();
    for s in &meta.names {
        let part = parts.next_if(|(n, _)| *n == s.name).map(|(_, p)| *p);
        let (ok, errors) = match part.map_or(CallPart::None, |p| p.calls) {
            CallPart::None => (false, false),
            CallPart::All => (true, true),
            CallPart::OnlyOk => (true, false),
            CallPart::OnlyErrors => (false, true),
        };
        let logs = part.is_some_and(|p| p.logs);
        let counts = ClassCounts {
            ok: s.calls - s.errors,
            errors: s.errors,
            logs: s.logs,
        };
        let has = [counts.ok > 0, counts.errors > 0, counts.logs > 0];
        for ((class, has), takes) in taken.iter_mut().zip(has).zip([ok, errors, logs]) {
            match class {
                _ if !has => {}
                Some(t) if *t != takes => return None,
                Some(_) => {}
                None => *class = Some(takes),
            }
        }
        totals = totals.plus(counts);
    }
    // The sketches hold all of a value's calls: durations of only the ok or only the failed ones
    // are not in them.
    let split = matches!((taken[0], taken[1]), (Some(ok), Some(errors)) if ok != errors);
    if durations && split {
        return None;
    }
    let with_durations = durations && taken[0].or(taken[1]) == Some(true);
    // A class no name has events of has nothing to count either way.
    let taken = taken.map(|t| t.unwrap_or(false));
    let mut out = Vec::with_capacity(values.len() + 1);
    let mut listed = ClassCounts::default();
    for v in values {
        let counts = ClassCounts {
            ok: v.calls - v.errors,
            errors: v.errors,
            logs: v.logs,
        };
        listed = listed.plus(counts);
        let sketch = match with_durations {
            true => Some(v.sketch()?),
            false => None,
        };
        out.push(ValueGroup {
            value: Some(v.value.as_str()),
            counts: counts.only(taken),
            durations: sketch,
        });
    }
    // A meta whose values count more than its names is damaged: decode the page instead.
    let without_key = totals.minus(listed)?;
    let sketch = match with_durations {
        true => Some(
            without
                .as_ref()?
                .decoded(without_key.ok + without_key.errors)
                .ok()?,
        ),
        false => None,
    };
    out.push(ValueGroup {
        value: None,
        counts: without_key.only(taken),
        durations: sketch,
    });
    out.retain(|g| !g.counts.is_empty());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use laptime_storage::page::{PageIndex, ValueStats};

    /// Listed values that count more events than the page's names hold (a damaged or forged
    /// meta that passed its checks) are not trusted: the page is decoded instead.
    #[test]
    fn values_counting_more_than_the_names_are_not_an_answer() {
        let meta = PageMeta {
            index: PageIndex {
                keys: vec![7],
                values: vec![KeyValues::Listed {
                    values: vec![ValueStats {
                        value: "/x".into(),
                        calls: 5,
                        errors: 1,
                        logs: 0,
                        durations: None,
                    }],
                    without: None,
                }],
                messages: None,
            },
            ..PageMeta::default()
        };
        assert!(value_groups(&meta, 7, &[], false).is_none());
        // A key the index does not list cannot answer either.
        let unlisted = PageMeta {
            index: PageIndex {
                keys: vec![7],
                values: vec![KeyValues::Unlisted],
                messages: None,
            },
            ..PageMeta::default()
        };
        assert!(value_groups(&unlisted, 7, &[], false).is_none());
    }
}
