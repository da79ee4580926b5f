//! The service-level expectations: availability per phase, baseline latency, recovery time.

use std::time::Duration;

use super::{Basis, Checker, Evidence, Finding, Status};
use crate::scenario::applies_on;

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

/// The fault's own expectations for its window, if it has any.
fn window_expect<'a>(
    e: &'a Evidence<'_>,
    fault: Option<usize>,
) -> Option<&'a crate::scenario::WindowExpect> {
    let id = fault?;
    e.faults.iter().find(|f| f.id == id)?.expect.as_ref()
}

/// The availability threshold of a fault window: the fault's own `expect` if it has one (and
/// nothing if that sets none), else the scenario's. Baseline and recovery count only overall.
fn availability_threshold(
    e: &Evidence<'_>,
    p: &crate::verdict::windows::Window,
) -> Option<crate::scenario::PercentThreshold> {
    p.fault?;
    match window_expect(e, p.fault) {
        Some(w) => w.availability,
        None => e.expect.availability,
    }
}

/// Whether `value` (0–1) meets `t`, compared in millionths so that 100% means "no error at
/// all" without float noise.
fn meets(t: crate::scenario::PercentThreshold, value: f64) -> bool {
    t.cmp
        .holds((value * 1e6).round(), (t.percent / 100.0 * 1e6).round())
}

pub struct Availability;
impl Checker for Availability {
    fn name(&self) -> &'static str {
        "availability"
    }
    fn basis(&self) -> Basis {
        Basis::History
    }
    /// Each answer is judged by one threshold: a fault window with its own
    /// `expect.availability` by that, everything else (baseline, recovery, the windows without
    /// their own) by the scenario's, over all of it together ("overall") and per window.
    /// Otherwise a window allowed to dip (a failover) would fail the scenario-wide threshold
    /// through the overall share all the same.
    fn check(&self, e: &Evidence<'_>) -> Finding {
        let own = windows_with_own_threshold(e);
        let (overall, total) = availability_outside(e, &own);
        let global = e.expect.availability;
        let mut judged = 0;
        let mut bad = Vec::new();
        if let Some(t) = global {
            judged += 1;
            if !meets(t, overall) {
                bad.push(format!(
                    "overall {} over {total} answers (want {t})",
                    pct(overall)
                ));
            }
        }
        let (windows_judged, windows_bad) = windows_against_thresholds(e);
        judged += windows_judged;
        bad.extend(windows_bad);
        let summary = availability_summary(overall, own.len(), lowest_window(e.windows));
        if judged == 0 {
            return Finding::with(self.name(), Status::Skipped, summary);
        }
        let want = global.map(|t| format!(" (want {t})")).unwrap_or_default();
        Finding::from_counterexamples(
            self.name(),
            format!("{summary}{want}"),
            format!("{summary}{want}"),
            bad,
        )
    }
}

/// The spans (µs from the start) of the windows whose fault sets its own availability: their
/// answers are judged by that alone, never by the scenario's overall threshold.
fn windows_with_own_threshold(e: &Evidence<'_>) -> Vec<(u64, u64)> {
    e.windows
        .iter()
        .filter(|p| window_expect(e, p.fault).is_some_and(|w| w.availability.is_some()))
        .map(|p| (p.start_ms * 1000, p.end_ms * 1000))
        .collect()
}

/// The share of available answers among those intended outside the `own` spans (1 when
/// there are none), and how many answers that was.
fn availability_outside(e: &Evidence<'_>, own: &[(u64, u64)]) -> (f64, u64) {
    let judged_overall: Vec<_> = e
        .ops
        .iter()
        .filter(|o| !own.iter().any(|(s, t)| (*s..*t).contains(&o.intended_us)))
        .collect();
    let total = judged_overall.len() as u64;
    let avail = judged_overall
        .iter()
        .filter(|o| crate::verdict::windows::available(o))
        .count() as u64;
    let overall = if total == 0 {
        1.0
    } else {
        avail as f64 / total as f64
    };
    (overall, total)
}

/// Each window with answers and a threshold, against it: how many were judged, and one line
/// per window that fell short, with the errors it answered.
fn windows_against_thresholds(e: &Evidence<'_>) -> (usize, Vec<String>) {
    let mut judged = 0;
    let mut bad = Vec::new();
    for p in e.windows.iter().filter(|p| p.ops > 0) {
        let Some(t) = availability_threshold(e, p) else {
            continue;
        };
        judged += 1;
        if !meets(t, p.availability) {
            let errors: Vec<String> = p
                .statuses
                .iter()
                .filter(|(k, _)| k.starts_with('5') || *k == "timeout" || *k == "error")
                .map(|(k, v)| format!("{v}× {k}"))
                .collect();
            bad.push(format!(
                "`{}`: {} ({}; want {t})",
                p.name,
                pct(p.availability),
                errors.join(", ")
            ));
        }
    }
    (judged, bad)
}

/// The window with answers whose availability is lowest (the first of equals).
fn lowest_window(windows: &[crate::verdict::windows::Window]) -> Option<(f64, &str)> {
    let mut worst: Option<(f64, &str)> = None;
    for p in windows.iter().filter(|p| p.ops > 0) {
        if worst.is_none_or(|w| p.availability < w.0) {
            worst = Some((p.availability, p.name.as_str()));
        }
    }
    worst
}

/// The one line: the overall share, which windows it leaves out, and the lowest window.
fn availability_summary(overall: f64, own: usize, worst: Option<(f64, &str)>) -> String {
    let outside = if own == 0 {
        String::new()
    } else {
        format!(" (outside the {own} window(s) with their own threshold)")
    };
    format!(
        "{} overall{outside}{}",
        pct(overall),
        worst
            .map(|w| format!(", lowest {} in `{}`", pct(w.0), w.1))
            .unwrap_or_default()
    )
}

pub struct Latency;
impl Checker for Latency {
    fn name(&self) -> &'static str {
        "latency"
    }
    fn basis(&self) -> Basis {
        Basis::History
    }
    fn check(&self, e: &Evidence<'_>) -> Finding {
        let d = |us: u64| Duration::from_micros(us);
        let summary = e
            .windows
            .iter()
            .find(|p| p.name == "baseline")
            .map(|b| {
                format!(
                    "baseline p50 {:?} p95 {:?} p99 {:?}",
                    d(b.p50_us),
                    d(b.p95_us),
                    d(b.p99_us)
                )
            })
            .unwrap_or_else(|| "no baseline phase".into());
        let mut judged = 0;
        let mut elsewhere = 0;
        let mut bad = Vec::new();
        let target = e.target;
        for p in e.windows.iter().filter(|p| p.ops > 0) {
            let limits = if p.name == "baseline" {
                e.expect
                    .latency
                    .as_ref()
                    .map(|l| (l.p50, l.p95, l.p99, l.on.as_slice()))
            } else {
                window_expect(e, p.fault).map(|w| (w.p50, None, w.p99, w.latency_on.as_slice()))
            };
            let Some((p50, p95, p99, on)) = limits else {
                continue;
            };
            if !applies_on(on, target) {
                elsewhere += 1;
                continue;
            }
            for (name, limit, value) in [
                ("p50", p50, p.p50_us),
                ("p95", p95, p.p95_us),
                ("p99", p99, p.p99_us),
            ] {
                if let Some(t) = limit {
                    judged += 1;
                    if !t.holds(d(value)) {
                        bad.push(format!("`{}` {name} {:?} (want {t})", p.name, d(value)));
                    }
                }
            }
        }
        let summary = if elsewhere > 0 {
            format!(
                "{summary} ({elsewhere} phase bound(s) apply on other targets, not on {target})"
            )
        } else {
            summary
        };
        if judged == 0 {
            return Finding::with(self.name(), Status::Skipped, summary);
        }
        Finding::from_counterexamples(self.name(), summary.clone(), summary, bad)
    }
}

pub struct Recovery;
impl Checker for Recovery {
    fn name(&self) -> &'static str {
        "recovery"
    }
    fn basis(&self) -> Basis {
        Basis::QuietState
    }
    fn check(&self, e: &Evidence<'_>) -> Finding {
        // The framework passes on this finding only when the system converged.
        let Some(ms) = e.settled.recovery_ms else {
            return Finding::with(self.name(), Status::Inconclusive, "did not converge");
        };
        let took = Duration::from_millis(ms);
        let summary = format!("converged {took:?} after load and faults ended");
        match e.expect.recovery {
            None => Finding::with(self.name(), Status::Skipped, summary),
            Some(t) if t.holds(took) => Finding::pass(self.name(), format!("{summary} (want {t})")),
            Some(t) => Finding::from_counterexamples(
                self.name(),
                "",
                format!("{summary} (want {t})"),
                vec![format!("recovery took {took:?}, want {t}")],
            ),
        }
    }
}
