//! Counts grouped by a field's values, answered from a page meta's value index (or a segment
//! summary's) instead of the page's columns. The index counts each listed value's calls, errors
//! and logs over all names, so it answers when the query takes the same classes of events
//! (ok calls, failed calls, logs) from every name of the page, and needs counts only. Events
//! without the key are the page's totals less the listed values' counts: the group of `null`.

use laptime_storage::page::{KeyValues, PageMeta};
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

    /// Only the classes `taken` says.
    fn only(self, taken: Taken) -> ClassCounts {
        ClassCounts {
            ok: if taken.ok { self.ok } else { 0 },
            errors: if taken.errors { self.errors } else { 0 },
            logs: if taken.logs { self.logs } else { 0 },
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.ok == 0 && self.errors == 0 && self.logs == 0
    }
}

/// Which classes of events the query takes from the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Taken {
    ok: bool,
    errors: bool,
    logs: bool,
}

/// The counts of each value of `key` in `meta` (`None`: events without the key), taking the
/// classes `parts` takes (the planner's answer for the names whose events match; names left out
/// match none). `None` when the index cannot answer: the key is not listed, or the query takes
/// different classes from different names.
pub(super) fn value_counts<'m>(
    meta: &'m PageMeta,
    key: NameId,
    parts: &[(NameId, SummaryPart)],
) -> Option<Vec<(Option<&'m str>, ClassCounts)>> {
    let values = match meta.values_of(key) {
        Some(KeyValues::Listed(values)) => values,
        _ => return None,
    };
    // Per class, whether the query takes it: set by the first name that has events of the
    // class, and every other name with such events must agree.
    let mut taken: [Option<bool>; 3] = [None; 3];
    let mut totals = ClassCounts::default();
    for s in &meta.names {
        let part = parts.iter().find(|(n, _)| *n == s.name).map(|(_, p)| *p);
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
    // A class no name has events of has nothing to count either way.
    let [ok, errors, logs] = taken.map(|t| t.unwrap_or(false));
    let taken = Taken { ok, errors, logs };
    let mut out = Vec::with_capacity(values.len() + 1);
    let mut listed = ClassCounts::default();
    for v in values {
        let counts = ClassCounts {
            ok: v.calls - v.errors,
            errors: v.errors,
            logs: v.logs,
        };
        listed = listed.plus(counts);
        out.push((Some(v.value.as_str()), counts.only(taken)));
    }
    // A meta whose values count more than its names is damaged: decode the page instead.
    let without_key = totals.minus(listed)?;
    out.push((None, without_key.only(taken)));
    out.retain(|(_, c)| !c.is_empty());
    Some(out)
}
