//! The service-level expectations: availability per phase, baseline latency, recovery time.

use std::time::Duration;

use super::{Checker, Evidence, Finding, Status};

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

pub struct Availability;
impl Checker for Availability {
    fn name(&self) -> &'static str {
        "availability"
    }
    fn check(&self, e: &Evidence<'_>) -> Finding {
        let total: u64 = e.ops.len() as u64;
        let avail = e.ops.iter().filter(|o| crate::verdict::phases::available(o)).count() as u64;
        let overall = if total == 0 { 1.0 } else { avail as f64 / total as f64 };
        let worst = e
            .phases
            .iter()
            .filter(|p| p.ops > 0)
            .min_by(|a, b| a.availability.total_cmp(&b.availability));
        let summary = format!(
            "{} overall{}",
            pct(overall),
            worst.map(|w| format!(", lowest {} in `{}`", pct(w.availability), w.name)).unwrap_or_default()
        );
        let Some(t) = e.journal.scenario.expect.availability else {
            return Finding::with(self.name(), Status::Skipped, summary);
        };
        let limit = t.percent / 100.0;
        let holds = |x: f64| {
            // Compare in basis points so that 100% means "no error at all" without float noise.
            t.cmp.holds((x * 1e6).round(), (limit * 1e6).round())
        };
        let mut bad = Vec::new();
        if !holds(overall) {
            bad.push(format!("overall {} (want {t})", pct(overall)));
        }
        for p in e.phases.iter().filter(|p| p.ops > 0 && !holds(p.availability)) {
            let errors: Vec<String> = p
                .statuses
                .iter()
                .filter(|(k, _)| k.starts_with('5') || *k == "timeout" || *k == "error")
                .map(|(k, v)| format!("{v}× {k}"))
                .collect();
            bad.push(format!("`{}`: {} ({}; want {t})", p.name, pct(p.availability), errors.join(", ")));
        }
        Finding::from_counterexamples(self.name(), format!("{summary} (want {t})"), format!("{summary} (want {t})"), bad)
    }
}

pub struct Latency;
impl Checker for Latency {
    fn name(&self) -> &'static str {
        "latency"
    }
    fn check(&self, e: &Evidence<'_>) -> Finding {
        let Some(base) = e.phases.iter().find(|p| p.name == "baseline") else {
            return Finding::with(self.name(), Status::Skipped, "no baseline phase");
        };
        let d = |us: u64| Duration::from_micros(us);
        let summary = format!(
            "baseline p50 {:?} p95 {:?} p99 {:?}",
            d(base.p50_us),
            d(base.p95_us),
            d(base.p99_us)
        );
        let Some(l) = &e.journal.scenario.expect.latency else {
            return Finding::with(self.name(), Status::Skipped, summary);
        };
        let mut bad = Vec::new();
        for (name, limit, value) in [("p50", l.p50, base.p50_us), ("p95", l.p95, base.p95_us), ("p99", l.p99, base.p99_us)] {
            if let Some(t) = limit {
                if !t.holds(d(value)) {
                    bad.push(format!("baseline {name} {:?} (want {t})", d(value)));
                }
            }
        }
        Finding::from_counterexamples(self.name(), summary.clone(), summary, bad)
    }
}

pub struct Recovery;
impl Checker for Recovery {
    fn name(&self) -> &'static str {
        "recovery"
    }
    fn check(&self, e: &Evidence<'_>) -> Finding {
        let Some(ms) = e.settled.recovery_ms else {
            return Finding::with(
                self.name(),
                Status::Inconclusive,
                format!("did not converge within {}: {}", e.journal.scenario.settle.timeout, e.settled.pending.join("; ")),
            );
        };
        let took = Duration::from_millis(ms);
        let summary = format!("converged {took:?} after the last heal");
        match e.journal.scenario.expect.recovery {
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
