//! The last seconds of answers, kept while the load runs for the stop conditions to read
//! (`abort_when:`): per second of completion, how many answers, how many were unavailable
//! (5xx, timeout, no answer) or 5xx, and every latency — so a window's p99 is exact.
//! Only the seconds a window can reach are kept.

use std::collections::VecDeque;

use super::history::Op;

/// What one window of answers showed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowStats {
    pub ops: u64,
    /// Share of answers neither 5xx nor timeouts (1.0 when there were none), as the verdict's
    /// windows count it.
    pub availability: f64,
    pub errors_5xx: u64,
    /// p50, p95 and p99 latency; 0 when there were no answers.
    pub quantiles_us: [u64; 3],
}

impl WindowStats {
    pub fn p99_us(&self) -> u64 {
        self.quantiles_us[2]
    }
}

#[derive(Debug, Default)]
struct Second {
    second: u64,
    ops: u64,
    unavailable: u64,
    errors_5xx: u64,
    latencies_us: Vec<u32>,
}

/// The answers of the last `keep` seconds.
#[derive(Debug, Default)]
pub struct Recent {
    keep: u64,
    seconds: VecDeque<Second>,
}

impl Recent {
    /// Keeps `keep` seconds; 0 keeps nothing (no stop condition reads them).
    pub fn keeping(keep: u64) -> Recent {
        Recent {
            keep,
            seconds: VecDeque::new(),
        }
    }

    pub fn add(&mut self, op: &Op) {
        if self.keep == 0 {
            return;
        }
        let second = op.done_us / 1_000_000;
        let at = match self.seconds.iter().rposition(|s| s.second <= second) {
            Some(i) if self.seconds[i].second == second => i,
            found => {
                let i = found.map_or(0, |i| i + 1);
                self.seconds.insert(
                    i,
                    Second {
                        second,
                        ..Second::default()
                    },
                );
                i
            }
        };
        let s = &mut self.seconds[at];
        s.ops += 1;
        if !op.available() {
            s.unavailable += 1;
        }
        if op.http.is_some_and(|c| c >= 500) {
            s.errors_5xx += 1;
        }
        s.latencies_us
            .push(u32::try_from(op.latency_us()).unwrap_or(u32::MAX));
        // The newest `keep + 1` whole seconds, and the one being filled: a window of `keep`
        // seconds ending before the newest whole one is always there.
        let newest = self.seconds.back().map_or(0, |s| s.second);
        while self
            .seconds
            .front()
            .is_some_and(|s| s.second + self.keep + 1 < newest)
        {
            self.seconds.pop_front();
        }
    }

    /// The answers completed in seconds `from..to` (seconds since the load's start).
    pub fn window(&self, from: u64, to: u64) -> WindowStats {
        let inside = || {
            self.seconds
                .iter()
                .filter(|s| s.second >= from && s.second < to)
        };
        let ops: u64 = inside().map(|s| s.ops).sum();
        let unavailable: u64 = inside().map(|s| s.unavailable).sum();
        let mut latencies: Vec<u32> = inside()
            .flat_map(|s| s.latencies_us.iter().copied())
            .collect();
        latencies.sort_unstable();
        let at = |q: f64| -> u64 {
            if latencies.is_empty() {
                return 0;
            }
            let rank = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len());
            u64::from(latencies[rank - 1])
        };
        let quantiles_us = [at(0.50), at(0.95), at(0.99)];
        WindowStats {
            ops,
            availability: if ops == 0 {
                1.0
            } else {
                (ops - unavailable) as f64 / ops as f64
            },
            errors_5xx: inside().map(|s| s.errors_5xx).sum(),
            quantiles_us,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Outcome;

    fn op(done_ms: u64, latency_ms: u64, http: Option<u16>) -> Op {
        Op {
            seq: 0,
            key: String::new(),
            user: String::new(),
            dup_of: None,
            intended_us: (done_ms - latency_ms) * 1000,
            sent_us: (done_ms - latency_ms) * 1000,
            done_us: done_ms * 1000,
            http,
            outcome: Outcome::Ok,
            answer: None,
            order_id: None,
            error: None,
        }
    }

    #[test]
    fn a_window_counts_its_seconds_only() {
        let mut r = Recent::keeping(5);
        // Second 0: 99 fast answers and one slow 503; second 1: 10 timeouts.
        for i in 0..99 {
            r.add(&op(10 + i, 2, Some(200)));
        }
        r.add(&op(900, 800, Some(503)));
        for i in 0..10 {
            r.add(&op(1_500 + i, 1_000, None));
        }
        let w = r.window(0, 1);
        assert_eq!((w.ops, w.errors_5xx), (100, 1));
        assert!((w.availability - 0.99).abs() < 1e-9, "{w:?}");
        // The 99th of 100 answers is still a fast one.
        assert_eq!(w.quantiles_us, [2_000, 2_000, 2_000]);
        let both = r.window(0, 2);
        assert_eq!((both.ops, both.errors_5xx), (110, 1));
        assert_eq!(both.p99_us(), 1_000_000);
        assert_eq!(r.window(2, 3).availability, 1.0, "no answers: available");
    }

    #[test]
    fn only_the_seconds_a_window_reaches_are_kept() {
        let mut r = Recent::keeping(2);
        for s in 0..10 {
            r.add(&op(s * 1000 + 500, 1, Some(200)));
        }
        // The newest `keep + 1` whole seconds before the one being filled, and that one.
        assert_eq!(r.window(0, 6).ops, 0);
        assert_eq!(r.window(6, 10).ops, 4);
        // Nothing kept at all when no condition reads it.
        let mut none = Recent::keeping(0);
        none.add(&op(500, 1, Some(200)));
        assert_eq!(none.window(0, 1).ops, 0);
    }
}
