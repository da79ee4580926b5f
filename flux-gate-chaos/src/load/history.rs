//! The history of a run: one operation per order attempt, Jepsen-style.
//!
//! `ok` — the system said yes (200 success, 202 pending, or a replay carrying an order id):
//! the order must exist. `fail` — a definite no (409, 429, 302, other 4xx): it must not.
//! `info` — no verdict (timeout, reset, 5xx): it may or may not have happened, and checkers
//! treat it as indeterminate.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Fail,
    Info,
}

/// One order attempt. Times are microseconds from the start of the load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    pub seq: u64,
    /// Idempotency key.
    pub key: String,
    pub user: String,
    /// Set when this attempt resends the key of an earlier one (`duplicate_ratio`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dup_of: Option<u64>,
    /// When the schedule wanted it sent (open model) or when it was sent (closed model).
    pub intended_us: u64,
    pub sent_us: u64,
    pub done_us: u64,
    /// HTTP status, if an answer came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<u16>,
    pub outcome: Outcome,
    /// The answer's `status` word (`success`, `sold_out`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Transport error or timeout, for `info` ops without an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Op {
    /// The status an op is counted under: its HTTP status, else `timeout` or `error`.
    pub fn status_label(&self) -> String {
        match (self.http, &self.error) {
            (Some(code), _) => code.to_string(),
            (None, Some(e)) if e.starts_with("timeout") => "timeout".to_owned(),
            _ => "error".to_owned(),
        }
    }

    /// Latency from the intended send time, in microseconds.
    pub fn latency_us(&self) -> u64 {
        self.done_us.saturating_sub(self.intended_us)
    }

    /// Whether the system was available to this attempt: it answered, and not with a 5xx.
    pub fn available(&self) -> bool {
        matches!(self.http, Some(c) if c < 500)
    }
}

/// Classifies an answer (see the module comment).
pub fn classify(http: u16, has_order_id: bool) -> Outcome {
    match http {
        200 | 202 if has_order_id => Outcome::Ok,
        200..=299 => Outcome::Info, // a 2xx without an order id is not a promise we can check
        300..=499 => Outcome::Fail,
        _ => Outcome::Info,
    }
}

/// Counts and latency of one second of the run (by completion time).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SecondStats {
    pub second: u64,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    /// HTTP status (or `timeout`/`error`) → count.
    pub statuses: BTreeMap<String, u64>,
    pub p50_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

/// Writes ops as JSON lines and keeps per-second statistics.
pub struct Recorder {
    out: std::io::BufWriter<Box<dyn Write + Send>>,
    seconds: BTreeMap<u64, (SecondStats, Histogram<u64>)>,
    total: Totals,
}

/// Counts over the whole run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Totals {
    pub ops: u64,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
}

/// A latency histogram: 1 µs .. 10 min at 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("constant bounds are valid")
}

impl Recorder {
    pub fn create(path: &Path) -> std::io::Result<Self> {
        Ok(Recorder::writing(Box::new(std::fs::File::create(path)?)))
    }

    /// A recorder writing to `out` (a file, or an upload to a coordinator).
    pub fn writing(out: Box<dyn Write + Send>) -> Self {
        Recorder {
            out: std::io::BufWriter::with_capacity(1 << 20, out),
            seconds: BTreeMap::new(),
            total: Totals::default(),
        }
    }

    /// Writes out what is buffered: a generator's writer does it every
    /// [`crate::load::generator::FLUSH_EVERY`], so that a history streamed to a coordinator
    /// reaches it live.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    pub fn record(&mut self, op: &Op) -> std::io::Result<()> {
        let second = op.done_us / 1_000_000;
        serde_json::to_writer(&mut self.out, op)?;
        self.out.write_all(b"\n")?;
        let (s, h) = self.seconds.entry(second).or_insert_with(|| {
            (
                SecondStats {
                    second,
                    ..SecondStats::default()
                },
                new_histogram(),
            )
        });
        self.total.ops += 1;
        match op.outcome {
            Outcome::Ok => {
                s.ok += 1;
                self.total.ok += 1;
            }
            Outcome::Fail => {
                s.fail += 1;
                self.total.fail += 1;
            }
            Outcome::Info => {
                s.info += 1;
                self.total.info += 1;
            }
        }
        *s.statuses.entry(op.status_label()).or_default() += 1;
        let _ = h.record(op.latency_us().max(1));
        Ok(())
    }

    /// Flushes the file; returns per-second statistics and totals.
    pub fn finish(mut self) -> std::io::Result<(Vec<SecondStats>, Totals)> {
        self.out.flush()?;
        let seconds = self
            .seconds
            .into_values()
            .map(|(mut s, h)| {
                s.p50_us = h.value_at_quantile(0.50);
                s.p95_us = h.value_at_quantile(0.95);
                s.p99_us = h.value_at_quantile(0.99);
                s.max_us = h.max();
                s
            })
            .collect();
        Ok((seconds, self.total))
    }
}

/// Reads a history file back (checkers, reports).
pub fn read(path: &Path) -> std::io::Result<Vec<Op>> {
    crate::jsonl::read(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_jepsen() {
        assert_eq!(classify(200, true), Outcome::Ok);
        assert_eq!(classify(202, true), Outcome::Ok);
        assert_eq!(classify(200, false), Outcome::Info);
        assert_eq!(classify(302, false), Outcome::Fail);
        assert_eq!(classify(409, false), Outcome::Fail);
        assert_eq!(classify(429, false), Outcome::Fail);
        assert_eq!(classify(503, false), Outcome::Info);
        assert_eq!(classify(502, false), Outcome::Info);
    }

    #[test]
    fn recorder_round_trips_and_counts_per_second() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        let mut r = Recorder::create(&path).unwrap();
        let op = |seq, done_us, http: Option<u16>, outcome| Op {
            seq,
            key: format!("k{seq}"),
            user: "u1".into(),
            dup_of: None,
            intended_us: done_us - 1000,
            sent_us: done_us - 900,
            done_us,
            http,
            outcome,
            answer: None,
            order_id: None,
            error: http.is_none().then(|| "timeout after 2s".to_owned()),
        };
        let ops = vec![
            op(0, 10_000, Some(200), Outcome::Ok),
            op(1, 20_000, Some(409), Outcome::Fail),
            op(2, 1_500_000, None, Outcome::Info),
        ];
        for o in &ops {
            r.record(o).unwrap();
        }
        let (secs, totals) = r.finish().unwrap();
        assert_eq!(
            totals,
            Totals {
                ops: 3,
                ok: 1,
                fail: 1,
                info: 1
            }
        );
        assert_eq!(secs.len(), 2);
        assert_eq!((secs[0].ok, secs[0].fail, secs[1].info), (1, 1, 1));
        assert_eq!(secs[1].statuses.get("timeout"), Some(&1));
        assert!((999..=1001).contains(&secs[0].p50_us), "{}", secs[0].p50_us);
        assert_eq!(read(&path).unwrap(), ops);
    }
}
