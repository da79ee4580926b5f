//! When each request of an open-model load is due.
//!
//! Request `i` is due when the integral of the rate reaches `i` — the k6 arrival-rate model.
//! Latency is measured from this intended time, so a stalled system shows its stall in the
//! numbers instead of slowing the generator down (no coordinated omission).

use std::time::Duration;

use crate::scenario::{Load, LoadModel};

/// A piecewise-linear arrival rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// (duration, rate at start, rate at end) per leg.
    legs: Vec<(f64, f64, f64)>,
    end: f64,
}

impl Schedule {
    /// The schedule of an open-model load (`None` for virtual users).
    pub fn of(load: &Load, duration: Duration) -> Option<Schedule> {
        let end = duration.as_secs_f64();
        match load.model {
            LoadModel::VirtualUsers => None,
            LoadModel::ArrivalRate => {
                let r = load.rate.map_or(0.0, |r| r.per_second);
                Some(Schedule {
                    legs: vec![(end, r, r)],
                    end,
                })
            }
            LoadModel::RampingArrivalRate => {
                let mut from = load.rate.map_or(0.0, |r| r.per_second);
                let mut legs = Vec::new();
                for s in &load.stages {
                    legs.push((s.over.get().as_secs_f64(), from, s.to.per_second));
                    from = s.to.per_second;
                }
                // After the last stage the rate holds until `duration`.
                legs.push((f64::INFINITY, from, from));
                Some(Schedule { legs, end })
            }
        }
    }

    /// When request `i` (0-based) is due, or `None` if it falls after the end.
    pub fn due(&self, i: u64) -> Option<Duration> {
        // Request i is sent when the cumulative count first exceeds i (the first at t = 0).
        let mut target = i as f64;
        let mut t0 = 0.0;
        for &(len, a, b) in &self.legs {
            let slope = if len.is_finite() && len > 0.0 {
                (b - a) / len
            } else {
                0.0
            };
            let count = if len.is_finite() {
                (a + b) / 2.0 * len
            } else {
                f64::INFINITY
            };
            if target < count {
                // Solve a·t + slope·t²/2 = target for t within this leg.
                let t = if slope.abs() < 1e-12 {
                    if a <= 0.0 {
                        return None;
                    }
                    target / a
                } else {
                    let disc = a * a + 2.0 * slope * target;
                    (-a + disc.max(0.0).sqrt()) / slope
                };
                let at = t0 + t;
                return (at < self.end).then(|| Duration::from_secs_f64(at));
            }
            target -= count;
            t0 += len;
            if t0 >= self.end {
                return None;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Dur, Rate, Stage};

    fn load(model: LoadModel, rate: Option<f64>, stages: Vec<(f64, u64)>) -> Load {
        Load {
            model,
            rate: rate.map(|per_second| Rate { per_second }),
            stages: stages
                .into_iter()
                .map(|(to, s)| Stage {
                    to: Rate { per_second: to },
                    over: Dur::secs(s),
                })
                .collect(),
            vus: None,
            duration: None,
            max_requests: None,
            users: 1,
            duplicate_ratio: 0.0,
            timeout: Dur::secs(1),
            connections: 1,
            generators: 1,
        }
    }

    fn count(s: &Schedule) -> u64 {
        (0..).take_while(|i| s.due(*i).is_some()).count() as u64
    }

    #[test]
    fn constant_rate_is_evenly_spaced_and_bounded() {
        let s = Schedule::of(
            &load(LoadModel::ArrivalRate, Some(100.0), vec![]),
            Duration::from_secs(2),
        )
        .unwrap();
        assert_eq!(s.due(0), Some(Duration::ZERO));
        assert_eq!(s.due(1), Some(Duration::from_millis(10)));
        assert_eq!(s.due(150), Some(Duration::from_millis(1500)));
        assert_eq!(count(&s), 200);
    }

    #[test]
    fn ramp_sends_the_area_under_the_rate() {
        // 0 → 100/s over 10 s: 500 requests, denser at the end; then 100/s for 5 s: 500 more.
        let s = Schedule::of(
            &load(LoadModel::RampingArrivalRate, None, vec![(100.0, 10)]),
            Duration::from_secs(15),
        )
        .unwrap();
        assert_eq!(count(&s), 1000);
        let first_half = (0..)
            .take_while(|i| s.due(*i).is_some_and(|d| d < Duration::from_secs(5)))
            .count();
        assert_eq!(
            first_half, 125,
            "a quarter of the ramp's area lies in its first half"
        );
        // Monotonic.
        let times: Vec<Duration> = (0..1000).filter_map(|i| s.due(i)).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn zero_rate_sends_nothing() {
        let s = Schedule::of(
            &load(LoadModel::ArrivalRate, Some(0.0), vec![]),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(s.due(0), None);
    }

    #[test]
    fn virtual_users_have_no_schedule() {
        assert!(Schedule::of(
            &load(LoadModel::VirtualUsers, None, vec![]),
            Duration::from_secs(1)
        )
        .is_none());
    }
}
