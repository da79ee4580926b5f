//! The run cut into windows — baseline (before the first fault), one window per fault (apply to
//! heal), recovery (last heal to the end of the load) — with throughput, status mix and latency
//! percentiles for each. Operations belong to a window by their intended send time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::load::{Op, Outcome};
use crate::nemesis::{EventKind, Injection, TimelineEvent};
use crate::scenario::Action;

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
    op.available()
}

/// One injection's window on the timeline: from its apply until it was healed or undone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultSpan {
    pub fault: usize,
    /// The timeline's label of the fault (`kill inventory-worker`), the window's name.
    pub label: String,
    pub start_ms: u64,
    pub end_ms: u64,
}

/// Each injection's span on the timeline: apply start → heal/undo finish (or `end_ms`). What a
/// fault is and hits comes from its planned [`Injection`], never from a timeline label.
pub fn fault_spans(
    faults: &[Injection],
    timeline: &[TimelineEvent],
    end_ms: u64,
) -> Vec<FaultSpan> {
    let injection = |id: usize| faults.iter().find(|f| f.id == id);
    let applied = |e: &TimelineEvent| e.kind == EventKind::Apply && e.ok;
    let mut out = Vec::new();
    for e in timeline.iter().filter(|e| applied(e)) {
        let Some(planned) = injection(e.fault) else {
            continue;
        };
        if ends_faults(planned.action) {
            continue;
        }
        let healed = timeline
            .iter()
            .filter(|h| h.fault == e.fault && h.kind != EventKind::Apply && h.ok)
            .map(|h| h.finished_ms)
            .min();
        // A fault that does not heal itself (a later `start` does) runs until the next
        // applied change of the same target; otherwise to the end of the load.
        let reversed = || {
            timeline
                .iter()
                .filter(|n| {
                    applied(n)
                        && n.started_ms > e.started_ms
                        && injection(n.fault).is_some_and(|i| i.target == planned.target)
                })
                .map(|n| n.finished_ms)
                .min()
        };
        let until = healed.or_else(reversed).unwrap_or(end_ms);
        out.push(FaultSpan {
            fault: e.fault,
            label: e.label.clone(),
            start_ms: e.started_ms,
            end_ms: until.max(e.started_ms),
        });
    }
    out
}

/// `start`, `resume`, `activate` and `rejoin` end faults rather than being faults: they have no
/// window.
fn ends_faults(action: Action) -> bool {
    matches!(
        action,
        Action::Start | Action::Resume | Action::Activate | Action::Rejoin
    )
}

/// Baseline, fault windows and recovery for a run whose load lasted `load_ms`.
pub fn windows(
    ops: &[Op],
    faults: &[Injection],
    timeline: &[TimelineEvent],
    load_ms: u64,
) -> Vec<Window> {
    let spans = fault_spans(faults, timeline, load_ms);
    let first = spans.iter().map(|w| w.start_ms).min().unwrap_or(load_ms);
    let last_heal = spans.iter().map(|w| w.end_ms).max().unwrap_or(0);
    let mut out = vec![stats("baseline", None, 0, first.min(load_ms), ops)];
    for span in spans {
        out.push(stats(
            &span.label,
            Some(span.fault),
            span.start_ms,
            span.end_ms,
            ops,
        ));
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
    use crate::nemesis::Change;
    use crate::target::Lifecycle;

    fn ev(
        fault: usize,
        kind: EventKind,
        label: &str,
        started: u64,
        finished: u64,
    ) -> TimelineEvent {
        TimelineEvent {
            fault,
            kind,
            label: label.into(),
            scheduled_ms: Some(started),
            started_ms: started,
            finished_ms: finished,
            ok: true,
            error: None,
            instance: None,
            replaced: None,
        }
    }

    fn injection(id: usize, action: Action, target: &str) -> Injection {
        Injection {
            id,
            action,
            target: target.into(),
            at_ms: 0,
            apply: Change::Lifecycle {
                instance: target.into(),
                op: Lifecycle::Kill,
            },
            heal_at_ms: None,
            heal: None,
            undo: None,
            expect: None,
        }
    }

    fn span(fault: usize, label: &str, start_ms: u64, end_ms: u64) -> FaultSpan {
        FaultSpan {
            fault,
            label: label.into(),
            start_ms,
            end_ms,
        }
    }

    #[test]
    fn an_unhealed_fault_lasts_until_its_own_target_changes_again() {
        let faults = [
            injection(0, Action::Kill, "redis"),
            injection(1, Action::Pause, "other-redis"),
            injection(2, Action::Start, "redis"),
        ];
        let timeline = [
            ev(0, EventKind::Apply, "kill redis", 100, 110),
            // Another target whose name ends like the first must not end its window.
            ev(1, EventKind::Apply, "pause other-redis", 150, 160),
            ev(1, EventKind::Heal, "pause other-redis", 300, 310),
            ev(2, EventKind::Apply, "start redis", 500, 520),
        ];
        assert_eq!(
            fault_spans(&faults, &timeline, 1000),
            [
                span(0, "kill redis", 100, 520),
                span(1, "pause other-redis", 150, 310),
            ]
        );
        // Never reversed: to the end of the load.
        assert_eq!(
            fault_spans(&faults, &timeline[..1], 1000),
            [span(0, "kill redis", 100, 1000)]
        );
    }

    #[test]
    fn the_target_comes_from_the_plan_not_from_the_label() {
        // A role's label names the role; a label is prose and may say anything.
        let faults = [
            injection(0, Action::Kill, "redis-primary"),
            injection(1, Action::Start, "redis-primary"),
        ];
        let timeline = [
            ev(0, EventKind::Apply, "kill the primary", 100, 110),
            ev(1, EventKind::Apply, "bring it back", 400, 420),
        ];
        assert_eq!(
            fault_spans(&faults, &timeline, 1000),
            [span(0, "kill the primary", 100, 420)]
        );
    }
}
