//! The run cut into windows — baseline (before the first fault), one window per fault (apply to
//! heal), recovery (last heal to the end of the load) — with throughput, status mix and latency
//! percentiles for each. Operations belong to a window by their intended send time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::load::{Op, Outcome};
use crate::nemesis::TimelineEvent;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub name: String,
    /// The fault this window belongs to.
    pub fault: Option<usize>,
    pub start_ms: u64,
    pub end_ms: u64,
    pub ops: u64,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    /// `200`, `409`, `503`, `timeout`, `error` → count.
    pub statuses: BTreeMap<String, u64>,
    pub rps: f64,
    pub p50_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    /// Share of ops answered without 5xx, timeout or connection error (1.0 when no ops).
    pub availability: f64,
}

/// Whether an op counts as "available": the system answered, and not with a 5xx.
pub fn available(op: &Op) -> bool {
    matches!(op.http, Some(c) if c < 500)
}

/// Each injection's span on the timeline: apply start → heal/undo finish (or `end_ms`).
pub fn fault_spans(timeline: &[TimelineEvent], end_ms: u64) -> Vec<(usize, String, u64, u64)> {
    let mut out = Vec::new();
    let target_of = |label: &str| label.split_once(' ').map(|x| x.1.to_owned());
    for e in timeline
        .iter()
        .filter(|e| e.phase == "apply" && e.ok && !is_healing_action(&e.label))
    {
        let healed = timeline
            .iter()
            .filter(|h| h.fault == e.fault && h.phase != "apply" && h.ok)
            .map(|h| h.finished_ms)
            .min();
        // A fault that does not heal itself (a later `start` does) runs until the next
        // lifecycle change of the same target, approximated by the next apply on its label's
        // target; otherwise to the end of the load.
        let reversed = || {
            let target = target_of(&e.label)?;
            timeline
                .iter()
                .filter(|n| {
                    n.phase == "apply"
                        && n.ok
                        && n.started_ms > e.started_ms
                        && target_of(&n.label).as_deref() == Some(target.as_str())
                })
                .map(|n| n.finished_ms)
                .min()
        };
        let until = healed.or_else(reversed).unwrap_or(end_ms);
        out.push((
            e.fault,
            e.label.clone(),
            e.started_ms,
            until.max(e.started_ms),
        ));
    }
    out
}

/// `start`/`resume` applies end faults rather than being faults.
fn is_healing_action(label: &str) -> bool {
    label.starts_with("start ") || label.starts_with("resume ")
}

/// Baseline, fault windows and recovery for a run whose load lasted `load_ms`.
pub fn windows(ops: &[Op], timeline: &[TimelineEvent], load_ms: u64) -> Vec<Window> {
    let wins = fault_spans(timeline, load_ms);
    let first = wins.iter().map(|w| w.2).min().unwrap_or(load_ms);
    let last_heal = wins.iter().map(|w| w.3).max().unwrap_or(0);
    let mut out = vec![stats("baseline", None, 0, first.min(load_ms), ops)];
    for (fault, label, s, e) in wins {
        out.push(stats(&label, Some(fault), s, e, ops));
    }
    if last_heal > 0 && last_heal < load_ms {
        out.push(stats("recovery", None, last_heal, load_ms, ops));
    }
    out.retain(|p| p.end_ms > p.start_ms || p.ops > 0);
    out
}

fn stats(name: &str, fault: Option<usize>, start_ms: u64, end_ms: u64, ops: &[Op]) -> Window {
    let mut h = crate::load::history::new_histogram();
    let mut p = Window {
        name: name.to_owned(),
        fault,
        start_ms,
        end_ms,
        ops: 0,
        ok: 0,
        fail: 0,
        info: 0,
        statuses: BTreeMap::new(),
        rps: 0.0,
        p50_us: 0,
        p95_us: 0,
        p99_us: 0,
        availability: 1.0,
    };
    let mut avail = 0u64;
    for op in ops
        .iter()
        .filter(|o| (start_ms * 1000..end_ms * 1000).contains(&o.intended_us))
    {
        p.ops += 1;
        match op.outcome {
            Outcome::Ok => p.ok += 1,
            Outcome::Fail => p.fail += 1,
            Outcome::Info => p.info += 1,
        }
        if available(op) {
            avail += 1;
        }
        *p.statuses.entry(op.status_label()).or_default() += 1;
        let _ = h.record(op.latency_us().max(1));
    }
    if p.ops > 0 {
        p.availability = avail as f64 / p.ops as f64;
        p.p50_us = h.value_at_quantile(0.50);
        p.p95_us = h.value_at_quantile(0.95);
        p.p99_us = h.value_at_quantile(0.99);
    }
    let secs = (end_ms.saturating_sub(start_ms)) as f64 / 1000.0;
    if secs > 0.0 {
        p.rps = p.ops as f64 / secs;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(fault: usize, phase: &str, label: &str, started: u64, finished: u64) -> TimelineEvent {
        TimelineEvent {
            fault,
            phase: phase.into(),
            label: label.into(),
            scheduled_ms: Some(started),
            started_ms: started,
            finished_ms: finished,
            ok: true,
            error: None,
            instance: None,
        }
    }

    #[test]
    fn an_unhealed_fault_lasts_until_its_own_target_changes_again() {
        let timeline = [
            ev(0, "apply", "kill redis", 100, 110),
            // Another target whose name ends like the first must not end its window.
            ev(1, "apply", "pause other-redis", 150, 160),
            ev(1, "heal", "pause other-redis", 300, 310),
            ev(2, "apply", "start redis", 500, 520),
        ];
        assert_eq!(
            fault_spans(&timeline, 1000),
            [
                (0, "kill redis".to_owned(), 100, 520),
                (1, "pause other-redis".to_owned(), 150, 310),
            ]
        );
        // Never reversed: to the end of the load.
        assert_eq!(
            fault_spans(&timeline[..1], 1000),
            [(0, "kill redis".to_owned(), 100, 1000)]
        );
    }
}
