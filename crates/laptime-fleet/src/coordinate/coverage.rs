//! Which indexers a coordinated answer covers, and why the others are missing (shared by the
//! coordinator and its errors).

use std::fmt;
use std::time::Duration;

/// What happened to one indexer's part of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Its partial arrived, checked out and was merged.
    Answered {
        /// Groups in its partial.
        groups: usize,
        /// Size of its partial, bytes.
        bytes: usize,
    },
    /// No whole answer within the timeout.
    Timeout {
        /// The timeout.
        after: Duration,
    },
    /// No connection or no answer at all (refused, reset, name not resolved).
    Unreachable {
        /// The client's error, with its causes.
        reason: String,
    },
    /// It answered with an HTTP error.
    Failed {
        /// The HTTP status.
        status: u16,
        /// Its `error` text (or the start of its body).
        message: String,
    },
    /// Its answer is not a partial of this query; nothing of it was merged.
    BadAnswer {
        /// Why (the decoder's offset and reason, or the query it answers instead).
        reason: String,
    },
}

impl Outcome {
    /// The kind as the JSON answer spells it: `answered`, `timeout`, `unreachable`, `failed`,
    /// `bad_answer`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Answered { .. } => "answered",
            Outcome::Timeout { .. } => "timeout",
            Outcome::Unreachable { .. } => "unreachable",
            Outcome::Failed { .. } => "failed",
            Outcome::BadAnswer { .. } => "bad_answer",
        }
    }

    /// Whether its partial was merged.
    pub fn answered(&self) -> bool {
        matches!(self, Outcome::Answered { .. })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Answered { groups, bytes } => {
                write!(f, "answered ({groups} groups, {bytes} bytes)")
            }
            Outcome::Timeout { after } => {
                write!(f, "no answer within {} ms", after.as_millis())
            }
            Outcome::Unreachable { reason } => write!(f, "unreachable: {reason}"),
            Outcome::Failed { status, message } => write!(f, "answered {status}: {message}"),
            Outcome::BadAnswer { reason } => write!(f, "bad answer, not merged: {reason}"),
        }
    }
}

/// One indexer's part of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexerReport {
    /// The indexer's URL as configured.
    pub url: String,
    /// What happened.
    pub outcome: Outcome,
    /// From the start of the fan-out to its outcome.
    pub elapsed: Duration,
}

/// Which indexers a result covers, and why the others are missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// One report per configured indexer, in configuration order.
    pub indexers: Vec<IndexerReport>,
}

impl Coverage {
    /// Indexers whose partial was merged.
    pub fn answered(&self) -> usize {
        self.indexers
            .iter()
            .filter(|r| r.outcome.answered())
            .count()
    }

    /// Indexers asked.
    pub fn asked(&self) -> usize {
        self.indexers.len()
    }

    /// Whether every indexer answered (the result covers every event the fleet holds).
    pub fn complete(&self) -> bool {
        self.answered() == self.asked()
    }

    /// The coverage of an answer made of two fan-outs (a comparison's two ranges): per indexer,
    /// the report of the fan-out it did not answer, if any. Both list the same indexers.
    pub fn worse(a: Coverage, b: Coverage) -> Coverage {
        Coverage {
            indexers: a
                .indexers
                .into_iter()
                .zip(b.indexers)
                .map(|(x, y)| if x.outcome.answered() { y } else { x })
                .collect(),
        }
    }

    /// `2 of 3 indexers answered`.
    pub fn summary(&self) -> String {
        format!("{} of {} indexers answered", self.answered(), self.asked())
    }
}

impl fmt::Display for Coverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())?;
        let missing: Vec<String> = self
            .indexers
            .iter()
            .filter(|r| !r.outcome.answered())
            .map(|r| format!("{}: {}", r.url, r.outcome))
            .collect();
        if !missing.is_empty() {
            write!(f, " ({})", missing.join("; "))?;
        }
        Ok(())
    }
}
