//! Stuck or slow: what a settle phase that ran out of time says about the system.
//!
//! The settle phase reads the pipeline's backlog (consumer lag, outbox length, order count)
//! every poll and keeps the trace. When it times out, the trace decides: if nothing moved for
//! the scenario's `settle.stall` window, a component has stopped and the acknowledged orders
//! still missing are lost as far as any user can tell — a failure, not an open question. If the
//! backlog was still shrinking, the system is merely slow: inconclusive, with the rate and the
//! time it would have needed. Pure functions of the stored trace and log tails, so
//! `fgchaos check` re-derives the same diagnosis from a stored run.

use serde::{Deserialize, Serialize};

use crate::model::SettlePoint;
use crate::record::LogTails;

/// A part of the pipeline that can stop draining its backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    /// Consumer lag not draining: the inventory worker does not persist and commit.
    Worker,
    /// Outbox not draining: the API's relay cannot get its orders into Kafka.
    Relay,
    /// The lag cannot be read at all: the broker is down or unreachable.
    Kafka,
}

impl Component {
    pub fn describe(self) -> &'static str {
        match self {
            Component::Worker => "the inventory worker (consumer lag not draining)",
            Component::Relay => "the API's outbox relay (outbox not draining into Kafka)",
            Component::Kafka => "Kafka (the consumer lag cannot be read)",
        }
    }

    /// Whose logs to quote: log files whose name contains one of these.
    fn log_names(self) -> &'static [&'static str] {
        match self {
            Component::Worker => &["worker"],
            Component::Relay => &["api", "kafka"],
            Component::Kafka => &["kafka"],
        }
    }
}

/// Nothing moved for a whole stall window before settle gave up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stall {
    /// When the state last changed (since the load's time zero).
    pub since_ms: u64,
    /// How long it then stayed exactly the same, up to the end of settle.
    pub flat_ms: u64,
    /// The state it stopped at.
    pub at: SettlePoint,
    pub components: Vec<Component>,
    /// The last warning and error lines of the stopped components' logs, `file: line`.
    pub log_lines: Vec<String>,
}

/// Still draining when settle gave up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slow {
    /// Backlog drained per second over the last stall window (orders persisted per second when
    /// the backlog is unknown).
    pub rate_per_s: f64,
    pub remaining: u64,
    /// Seconds more it would have needed at that rate; `None` when the rate is not positive.
    pub estimate_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Diagnosis {
    Stuck(Stall),
    Slow(Slow),
}

impl Diagnosis {
    /// One line for the verdict's reason and the report.
    pub fn headline(&self) -> String {
        match self {
            Diagnosis::Stuck(s) => format!(
                "stuck: {} — nothing moved for the last {:.1} s ({})",
                s.components
                    .iter()
                    .map(|c| c.describe())
                    .collect::<Vec<_>>()
                    .join(" and "),
                s.flat_ms as f64 / 1000.0,
                s.at.describe()
            ),
            Diagnosis::Slow(s) => format!(
                "slow, not stuck: {} left, draining at {:.1}/s{}",
                s.remaining,
                s.rate_per_s,
                s.estimate_s
                    .map(|e| format!(", about {e:.0} s more needed"))
                    .unwrap_or_default()
            ),
        }
    }
}

/// Warning and error lines quoted per stopped component.
pub const LOG_LINES: usize = 8;

/// Decides stuck or slow from the settle trace of a run that did not converge. `None` when the
/// trace is empty (the state was never read).
pub fn diagnose(trace: &[SettlePoint], stall_ms: u64, logs: &LogTails) -> Option<Diagnosis> {
    let last = *trace.last()?;
    let first = trace.first()?;
    // Walk back to the last change of state.
    let since = trace
        .iter()
        .rev()
        .find(|p| !p.same_state(&last))
        .map_or(first.at_ms, |changed| {
            // The first point of the final flat run.
            trace
                .iter()
                .find(|p| p.at_ms > changed.at_ms)
                .map_or(last.at_ms, |p| p.at_ms)
        });
    let flat_ms = last.at_ms - since;
    if flat_ms >= stall_ms {
        let mut components = Vec::new();
        match last.lag {
            None => components.push(Component::Kafka),
            Some(l) if l > 0 => components.push(Component::Worker),
            Some(_) => {}
        }
        if last.outbox > 0 {
            components.push(Component::Relay);
        }
        if components.is_empty() {
            // Backlog empty yet not converged: the order count itself is what settle waits
            // for, and it does not move either — say so through the worker.
            components.push(Component::Worker);
        }
        let log_lines = components
            .iter()
            .flat_map(|c| logs.matching(c.log_names(), LOG_LINES))
            .collect();
        return Some(Diagnosis::Stuck(Stall {
            since_ms: since,
            flat_ms,
            at: last,
            components,
            log_lines,
        }));
    }
    // Still moving: the rate over the last stall window (or the whole trace if shorter).
    let from = trace
        .iter()
        .find(|p| p.at_ms + stall_ms >= last.at_ms)
        .unwrap_or(first);
    let secs = (last.at_ms.saturating_sub(from.at_ms)) as f64 / 1000.0;
    let remaining = last.backlog();
    let rate_per_s = if secs <= 0.0 {
        0.0
    } else if last.lag.is_some() && from.lag.is_some() {
        (from.backlog() as f64 - remaining as f64) / secs
    } else {
        (last.orders as f64 - from.orders as f64) / secs
    };
    Some(Diagnosis::Slow(Slow {
        rate_per_s,
        remaining,
        estimate_s: (rate_per_s > 0.0).then(|| remaining as f64 / rate_per_s),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(at_ms: u64, lag: Option<i64>, outbox: u64, orders: u64) -> SettlePoint {
        SettlePoint {
            at_ms,
            lag,
            outbox,
            orders,
        }
    }

    fn logs() -> LogTails {
        LogTails::from_texts([
            (
                "inventory-worker-1",
                "2026 INFO joined\n2026 WARN duplicate key value violates unique constraint, retrying\n",
            ),
            ("ingestion-api-1", "2026 ERROR relay: broker down\n"),
        ])
    }

    #[test]
    fn a_flat_lag_is_a_stuck_worker_with_its_log_lines() {
        let trace: Vec<_> = (0..=80)
            .map(|i| {
                let t = 10_000 + i * 250;
                if t < 12_000 {
                    p(t, Some(2000 - (t as i64 - 10_000) / 10), 0, 3000)
                } else {
                    p(t, Some(1800), 0, 3200)
                }
            })
            .collect();
        let Some(Diagnosis::Stuck(s)) = diagnose(&trace, 15_000, &logs()) else {
            panic!("not stuck");
        };
        assert_eq!(s.since_ms, 12_000);
        assert_eq!(s.flat_ms, 30_000 - 12_000);
        assert_eq!(s.components, vec![Component::Worker]);
        assert_eq!(
            s.log_lines,
            vec!["inventory-worker-1: 2026 WARN duplicate key value violates unique constraint, retrying"]
        );
        assert_eq!(s.at, p(30_000, Some(1800), 0, 3200));
    }

    #[test]
    fn a_flat_outbox_names_the_relay_and_unknown_lag_names_kafka() {
        let trace: Vec<_> = (0..=80).map(|i| p(i * 250, None, 40, 100)).collect();
        let Some(Diagnosis::Stuck(s)) = diagnose(&trace, 15_000, &logs()) else {
            panic!("not stuck");
        };
        assert_eq!(s.components, vec![Component::Kafka, Component::Relay]);
        assert_eq!(s.since_ms, 0);
        assert_eq!(
            s.log_lines,
            vec!["ingestion-api-1: 2026 ERROR relay: broker down"]
        );
    }

    #[test]
    fn a_shrinking_backlog_is_slow_with_a_rate_and_an_estimate() {
        // 20 messages a second drained over 20 s; 600 left.
        let trace: Vec<_> = (0..=80)
            .map(|i| p(i * 250, Some(1000 - i as i64 * 5), 0, i * 5))
            .collect();
        let Some(Diagnosis::Slow(s)) = diagnose(&trace, 15_000, &logs()) else {
            panic!("not slow");
        };
        assert_eq!(s.remaining, 600);
        assert!((s.rate_per_s - 20.0).abs() < 1e-9, "{}", s.rate_per_s);
        assert!((s.estimate_s.unwrap() - 30.0).abs() < 1e-9);
    }

    #[test]
    fn flat_for_less_than_the_window_is_not_stuck() {
        let mut trace: Vec<_> = (0..40)
            .map(|i| p(i * 250, Some(100 - i as i64), 0, 0))
            .collect();
        trace.extend((40..=80).map(|i| p(i * 250, Some(61), 0, 0)));
        assert!(matches!(
            diagnose(&trace, 15_000, &logs()),
            Some(Diagnosis::Slow(_))
        ));
        assert_eq!(diagnose(&[], 15_000, &logs()), None);
    }
}
