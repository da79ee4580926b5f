//! Checkers: one per promise, each a pure function of the evidence (journal, history, final
//! state, phases). A failure names its counterexamples (the first [`SHOWN`]) and how many there
//! were in all.

mod data;
mod service;

use serde::{Deserialize, Serialize};

use super::phases::Phase;
use super::state::Settled;
use crate::journal::Journal;
use crate::load::Op;
use crate::scenario::Invariant;

pub use data::{
    DbMatchesRedis, NoDuplicates, NoLostAcks, NoOversell, NoPhantoms, PerUserLimit, StockConserved,
};
pub use service::{Availability, Latency, Recovery};

/// What state-based checkers say when the run ended before the settle phase (harness error,
/// Ctrl-C).
pub const NOT_JUDGED: &str = "not judged: the run ended before the settle phase";

/// Counterexamples shown per failed checker.
pub const SHOWN: usize = 20;

/// Everything a checker may look at.
pub struct Evidence<'a> {
    pub journal: &'a Journal,
    pub ops: &'a [Op],
    pub settled: &'a Settled,
    pub phases: &'a [Phase],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    /// Not asked for by the scenario's `expect`; shown for information.
    Skipped,
    /// The evidence cannot decide (the system never settled; too few answers).
    Inconclusive,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Skipped => "skipped",
            Status::Inconclusive => "inconclusive",
            Status::Fail => "FAIL",
        }
    }
}

/// What one checker found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub checker: String,
    pub status: Status,
    /// One line: what was measured against what.
    pub summary: String,
    /// The first [`SHOWN`] counterexamples.
    pub counterexamples: Vec<String>,
    /// How many counterexamples there were in all.
    pub count: usize,
}

impl Finding {
    pub fn pass(checker: &str, summary: impl Into<String>) -> Self {
        Finding {
            checker: checker.to_owned(),
            status: Status::Pass,
            summary: summary.into(),
            counterexamples: Vec::new(),
            count: 0,
        }
    }

    pub fn with(checker: &str, status: Status, summary: impl Into<String>) -> Self {
        Finding {
            status,
            ..Finding::pass(checker, summary)
        }
    }

    /// Pass when `bad` is empty, else fail listing them.
    pub fn from_counterexamples(
        checker: &str,
        ok_summary: impl Into<String>,
        fail_summary: impl Into<String>,
        bad: Vec<String>,
    ) -> Self {
        if bad.is_empty() {
            return Finding::pass(checker, ok_summary);
        }
        Finding {
            checker: checker.to_owned(),
            status: Status::Fail,
            summary: fail_summary.into(),
            count: bad.len(),
            counterexamples: bad.into_iter().take(SHOWN).collect(),
        }
    }
}

/// One promise, checked.
pub trait Checker {
    fn name(&self) -> &'static str;
    fn check(&self, e: &Evidence<'_>) -> Finding;
}

/// The data invariant checkers the scenario asks for, then the service-level ones.
pub fn for_invariants(list: &[Invariant]) -> Vec<Box<dyn Checker>> {
    let mut out: Vec<Box<dyn Checker>> = list
        .iter()
        .map(|i| -> Box<dyn Checker> {
            match i {
                Invariant::NoOversell => Box::new(NoOversell),
                Invariant::NoLostAcks => Box::new(NoLostAcks),
                Invariant::NoPhantoms => Box::new(NoPhantoms),
                Invariant::NoDuplicates => Box::new(NoDuplicates),
                Invariant::StockConserved => Box::new(StockConserved),
                Invariant::DbMatchesRedis => Box::new(DbMatchesRedis),
                Invariant::PerUserLimit => Box::new(PerUserLimit),
            }
        })
        .collect();
    out.push(Box::new(Availability));
    out.push(Box::new(Latency));
    out.push(Box::new(Recovery));
    out
}

/// Whether state-based checkers can judge: the system must have settled.
fn unsettled(name: &str, e: &Evidence<'_>) -> Option<Finding> {
    (!e.settled.converged).then(|| {
        Finding::with(
            name,
            Status::Inconclusive,
            if e.settled.pending.is_empty() {
                NOT_JUDGED.to_owned()
            } else {
                format!(
                    "the system did not settle: {}",
                    e.settled.pending.join("; ")
                )
            },
        )
    })
}

#[cfg(test)]
pub(crate) mod tests;
