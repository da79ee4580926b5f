//! What a trial showed of the system's behaviour, as a set of coarse features — the coverage
//! signal of guided search. A trial that shows a feature no earlier trial showed joins the
//! corpus, and later trials are drawn near it ([`super::draw::neighbour`]): AFL's idea, with
//! behaviour in place of branches. The features are the ones the issue of guidance named: a
//! checker that failed, a window where availability fell, the outbox not empty when a fault
//! healed, a failover, a rebalance (the lag unreadable for a while), a new peak of backlog age.
//!
//! Each feature is a plain word, so the index can say what made a trial interesting.

use std::collections::BTreeSet;

use crate::journal::Journal;
use crate::model::{BacklogPoint, Sample};
use crate::nemesis::EventKind;
use crate::record::Record;
use crate::verdict::{Judgement, Verdict};

/// The features of one judged trial.
pub fn features(record: &Record, judgement: &Judgement) -> BTreeSet<String> {
    let j = &record.journal;
    let mut out = BTreeSet::new();
    out.insert(format!("verdict:{}", verdict_word(judgement.verdict)));
    for checker in super::signature::failed_checkers(judgement) {
        out.insert(format!("fails:{checker}"));
    }
    for w in judgement.windows.iter().filter(|w| w.fault.is_some()) {
        let action = w
            .fault
            .and_then(|id| j.faults.iter().find(|f| f.id == id))
            .map_or("fault", |f| f.action.as_str());
        if let Some(band) = availability_band(w.availability) {
            out.insert(format!("availability-{band}:{action}"));
        }
    }
    if outbox_at_heal(j, &record.samples) {
        out.insert("outbox-at-heal".into());
    }
    if failed_over(&record.samples) {
        out.insert("failover".into());
    }
    if rebalanced(&j.backlog) {
        out.insert("lag-unreadable".into());
    }
    if let Some(bucket) = peak_age_bucket(&j.backlog) {
        out.insert(format!("backlog-age:{bucket}"));
    }
    if let Some(d) = &judgement.diagnosis {
        out.insert(format!("settle:{}", diagnosis_word(d)));
    }
    out
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Inconclusive => "inconclusive",
        Verdict::Fail => "fail",
        Verdict::HarnessError => "harness-error",
        Verdict::Aborted => "aborted",
        Verdict::NotRun => "not-run",
    }
}

fn diagnosis_word(d: &crate::verdict::stall::Diagnosis) -> &'static str {
    match d {
        crate::verdict::stall::Diagnosis::Stuck(_) => "stuck",
        crate::verdict::stall::Diagnosis::Slow(_) => "slow",
    }
}

/// Coarse bands of a fault window's availability: a dip, a collapse, an outage.
fn availability_band(a: f64) -> Option<&'static str> {
    if a < 0.1 {
        Some("outage")
    } else if a < 0.5 {
        Some("collapse")
    } else if a < 0.9 {
        Some("dip")
    } else {
        None
    }
}

/// Whether the outbox held orders when some fault healed: the sample nearest each heal.
fn outbox_at_heal(j: &Journal, samples: &[Sample]) -> bool {
    j.timeline
        .iter()
        .filter(|e| e.kind != EventKind::Apply && e.ok)
        .any(|e| {
            samples
                .iter()
                .min_by_key(|s| s.at_ms.abs_diff(e.finished_ms))
                .is_some_and(|s| s.outbox > 0)
        })
}

/// Whether the Redis primary changed during the run (Sentinel stacks sample it).
fn failed_over(samples: &[Sample]) -> bool {
    let primaries: BTreeSet<&str> = samples
        .iter()
        .filter_map(|s| s.primary.as_deref())
        .collect();
    primaries.len() > 1
}

/// Whether the consumer lag could not be read for two reads or more in a row after it had
/// been: partitions without a live owner, a rebalance.
fn rebalanced(backlog: &[BacklogPoint]) -> bool {
    let first_known = backlog.iter().position(|p| p.lag.is_some());
    let Some(from) = first_known else {
        return false;
    };
    backlog[from..]
        .windows(2)
        .any(|w| w[0].lag.is_none() && w[1].lag.is_none())
}

/// The peak backlog age, in powers of two of seconds (`0`: under 1 s, `3`: 4–8 s …).
fn peak_age_bucket(backlog: &[BacklogPoint]) -> Option<u32> {
    let peak = backlog.iter().filter_map(|p| p.age_ms).max()?;
    let secs = peak / 1000;
    Some(if secs == 0 { 0 } else { secs.ilog2() + 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(at_ms: u64, lag: Option<i64>, age_ms: Option<u64>) -> BacklogPoint {
        BacklogPoint { at_ms, lag, age_ms }
    }

    #[test]
    fn a_rebalance_is_two_unreadable_lags_after_a_readable_one() {
        let start_unknown = [
            point(0, None, None),
            point(1, None, None),
            point(2, Some(0), None),
        ];
        assert!(!rebalanced(&start_unknown));
        let one_gap = [
            point(0, Some(0), None),
            point(1, None, None),
            point(2, Some(0), None),
        ];
        assert!(!rebalanced(&one_gap));
        let gap = [
            point(0, Some(0), None),
            point(1, None, None),
            point(2, None, None),
        ];
        assert!(rebalanced(&gap));
    }

    #[test]
    fn backlog_age_comes_in_powers_of_two_seconds() {
        let ages = |ms: u64| peak_age_bucket(&[point(0, Some(1), Some(ms))]);
        assert_eq!(
            [ages(300), ages(1000), ages(3999), ages(4000), ages(61_000)],
            [Some(0), Some(1), Some(2), Some(3), Some(6)]
        );
        assert_eq!(peak_age_bucket(&[point(0, Some(1), None)]), None);
    }

    #[test]
    fn availability_bands_are_coarse() {
        assert_eq!(
            [0.95, 0.7, 0.2, 0.0].map(availability_band),
            [None, Some("dip"), Some("collapse"), Some("outage")]
        );
    }
}
