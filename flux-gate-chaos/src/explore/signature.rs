//! A failure's signature: which checkers failed, and which kinds of fault were on. Trials with
//! the same signature are one failure found — the same broken promise under the same kind of fault —
//! however their times and values differ, so a long search reports a handful of failures, not
//! hundreds of failing trials.

use std::collections::BTreeSet;
use std::fmt;

use crate::scenario::{Action, Scenario};
use crate::verdict::checkers::Status;
use crate::verdict::Judgement;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Signature {
    /// The failed checkers, sorted.
    pub checkers: Vec<String>,
    /// The action words of the trial's faults, sorted, each once.
    pub actions: Vec<Action>,
}

impl Signature {
    /// The signature of a failed trial; `None` when no checker failed.
    pub fn of(scenario: &Scenario, judgement: &Judgement) -> Option<Signature> {
        let checkers = failed_checkers(judgement);
        if checkers.is_empty() {
            return None;
        }
        let actions: BTreeSet<Action> = scenario.faults.iter().map(|f| f.action.kind()).collect();
        Some(Signature {
            checkers,
            actions: actions.into_iter().collect(),
        })
    }

    /// Whether `judgement` fails the same way: every checker of this signature fails in it,
    /// and no other. (What shrink holds a candidate to: failing differently is not success.)
    pub fn matches(&self, judgement: &Judgement) -> bool {
        failed_checkers(judgement) == self.checkers
    }
}

/// The failed checkers of a judgement, sorted.
pub fn failed_checkers(judgement: &Judgement) -> Vec<String> {
    let failed: BTreeSet<&str> = judgement
        .findings
        .iter()
        .filter(|f| f.status == Status::Fail)
        .map(|f| f.checker.as_str())
        .collect();
    failed.into_iter().map(str::to_owned).collect()
}

impl Signature {
    /// The failed checkers alone, `no_lost_acks + stock_conserved`: how a reduced scenario,
    /// whose faults may be fewer, fails.
    pub fn checkers_line(&self) -> String {
        self.checkers.join(" + ")
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let actions: Vec<&str> = self.actions.iter().map(|a| a.as_str()).collect();
        write!(
            f,
            "{} under {}",
            self.checkers.join(" + "),
            if actions.is_empty() {
                "no fault".to_owned()
            } else {
                actions.join(" + ")
            }
        )
    }
}
