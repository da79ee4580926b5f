//! Checkers: one per promise, each a pure function of the evidence (journal, history, stock
//! samples, final state, phases). A failure names its counterexamples (the first [`SHOWN`]) and
//! how many there were in all.
//!
//! Whether a checker may judge at all is decided here, once, from its [`Basis`] — not by each
//! checker: no state-based checker passes on a state that was never read, and none passes on a
//! state that never settled.

mod backlog;
mod data;
mod service;

use serde::{Deserialize, Serialize};

use super::stall::{Diagnosis, Stall};
use super::windows::Window;
use crate::load::Op;
use crate::model::{BacklogPoint, Sample, Sampling, Settled};
use crate::nemesis::Injection;
use crate::scenario::{Expect, Invariant, Settle};
use crate::target_kind::TargetKind;

pub use backlog::{Backlog, CAUGHT_UP};
pub use data::{
    DbMatchesRedis, NoDuplicates, NoLostAcks, NoOversell, NoPhantoms, PerUserLimit, StockConserved,
};
pub use service::{Availability, Latency, Recovery};

/// What state-based checkers say when the run ended before the settle phase (harness error,
/// Ctrl-C).
pub const NOT_JUDGED: &str = "not judged: the run ended before the settle phase";

/// What a checker's verdict rests on, which decides when the framework lets it judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The answers alone (availability, latency), or what was read during the run whatever
    /// came after (the backlog): always judged.
    History,
    /// States read during the run: a violation seen in any read is real even if the system
    /// never settled (orders only accumulate, a negative stock was negative); a pass needs the
    /// settled state.
    AnyState,
    /// What must hold once quiet (every acknowledged order persisted, stock conserved): judged
    /// only on a settled state — or, for a checker that knows how, on a stuck one.
    QuietState,
}

/// Counterexamples shown per failed checker.
pub const SHOWN: usize = 20;

/// Everything a checker may look at — and nothing else of the run: a checker that needs more
/// says so here, where a reader sees it.
pub struct Evidence<'a> {
    /// The scenario's expectations.
    pub expect: &'a Expect,
    /// The scenario's settle rules (its timeout names why an unsettled state is not judged).
    pub settle: &'a Settle,
    /// `local` or `docker`: latency bounds may be restricted to one.
    pub target: TargetKind,
    /// The sale's per-user limit, if it had one.
    pub per_user_limit: Option<u32>,
    /// The planned faults: each may carry expectations for its own window.
    pub faults: &'a [Injection],
    pub ops: &'a [Op],
    /// The settle phase; a default (never read) one when the run ended before it.
    pub settled: &'a Settled,
    /// Whether the settle phase read the state at all.
    pub state_read: bool,
    pub samples: &'a [Sample],
    /// How the sampling went (how often, how many reads missed).
    pub sampling: Option<&'a Sampling>,
    /// Consumer lag and backlog age, read once a second.
    pub backlog: &'a [BacklogPoint],
    pub windows: &'a [Window],
    /// Stuck or slow, when the system did not settle.
    pub diagnosis: Option<&'a Diagnosis>,
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
    fn basis(&self) -> Basis;
    fn check(&self, e: &Evidence<'_>) -> Finding;
    /// A [`Basis::QuietState`] checker's judgement of a system that stopped making progress
    /// before it settled; `None` leaves it undecided.
    fn check_stuck(&self, _e: &Evidence<'_>, _stall: &Stall) -> Option<Finding> {
        None
    }
}

/// Runs `c` if its basis allows, else says why it cannot judge.
pub fn judge_one(c: &dyn Checker, e: &Evidence<'_>) -> Finding {
    let basis = c.basis();
    if basis == Basis::History {
        return c.check(e);
    }
    let f = c.check(e);
    // Not asked for by the scenario (no per-user limit, no recovery bound): that stands.
    if f.status == Status::Skipped {
        return f;
    }
    if !e.state_read {
        return Finding::with(c.name(), Status::Inconclusive, NOT_JUDGED);
    }
    if e.settled.converged {
        return f;
    }
    let undecided = || Finding::with(c.name(), Status::Inconclusive, unsettled(e));
    match basis {
        Basis::AnyState if f.status == Status::Fail => f,
        Basis::AnyState => undecided(),
        _ => match e.diagnosis {
            Some(Diagnosis::Stuck(stall)) => c.check_stuck(e, stall).unwrap_or_else(undecided),
            _ => undecided(),
        },
    }
}

/// Why a state-based checker cannot pass a system that did not settle.
fn unsettled(e: &Evidence<'_>) -> String {
    let mut why = format!(
        "not judged: the system did not settle within {}",
        e.settle.timeout
    );
    if !e.settled.pending.is_empty() {
        why.push_str(&format!(" ({})", e.settled.pending.join("; ")));
    }
    if let Some(d) = e.diagnosis {
        why.push_str(&format!("; {}", d.headline()));
    }
    why
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
    out.push(Box::new(Backlog));
    out
}

#[cfg(test)]
pub(crate) mod tests;
