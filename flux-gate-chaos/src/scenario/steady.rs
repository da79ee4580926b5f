//! `steady_state:` — what the system must show before the first fault (Chaos Toolkit's
//! steady-state hypothesis). The answers completed in the whole seconds before the first fault
//! — the warm-up — must meet it, or no fault is injected and the verdict is `not run`: a system
//! that was unhealthy before anything broke it cannot be judged by what broke it. After settle
//! the same hypothesis is read on the recovery window and shown in the report.
//!
//! ```yaml
//! steady_state: { availability: ">= 99.9%", latency: { p99: "< 50ms" }, backlog_age: "< 2s" }
//! ```
//! Default: availability `>= 100%`, and the scenario's baseline latency bounds
//! (`expect.latency`, on the targets they hold on).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::parse::Problem;
use super::units::{Cmp, DurThreshold, PercentThreshold};
use super::{applies_on, LatencyExpect, Scenario};
use crate::target_kind::TargetKind;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SteadyState {
    /// Share of answers that are neither 5xx nor timeouts (default `>= 100%`).
    #[serde(default = "every_answer")]
    pub availability: PercentThreshold,
    /// Latency bounds (default: `expect.latency`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyExpect>,
    /// The oldest order a worker holds unpersisted, at the first fault, like `< 2s` (no
    /// default). A worker that does not answer — paused, down — leaves the age unknown, which
    /// does not meet the bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backlog_age: Option<DurThreshold>,
}

fn every_answer() -> PercentThreshold {
    PercentThreshold {
        cmp: Cmp::Ge,
        percent: 100.0,
    }
}

/// The hypothesis a run on `target` checks: the scenario's own, or the default.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    pub availability: PercentThreshold,
    pub latency: LatencyExpect,
    pub backlog_age: Option<DurThreshold>,
}

impl Hypothesis {
    pub fn of(s: &Scenario, target: TargetKind) -> Hypothesis {
        let given = s.steady_state.as_ref();
        let latency = given
            .and_then(|g| g.latency.clone())
            .or_else(|| s.expect.latency.clone())
            .filter(|l| applies_on(&l.on, target))
            .unwrap_or_default();
        Hypothesis {
            availability: given.map_or_else(every_answer, |g| g.availability),
            latency,
            backlog_age: given.and_then(|g| g.backlog_age),
        }
    }

    /// Whether the backlog's age (`None`: unknown) meets the bound, when there is one: `Ok`
    /// with what was seen (empty without a bound), or `Err` with why not.
    pub fn backlog_holds(&self, age_ms: Option<u64>) -> Result<String, String> {
        let Some(b) = self.backlog_age else {
            return Ok(String::new());
        };
        match age_ms {
            Some(ms) if b.holds(std::time::Duration::from_millis(ms)) => {
                Ok(format!("backlog age {}", ms_of(ms)))
            }
            Some(ms) => Err(format!("backlog age {} not {b}", ms_of(ms))),
            None => Err(format!(
                "backlog age unknown (a partition's worker did not answer), not {b}"
            )),
        }
    }

    /// Whether answers with this availability (0–1) and these quantiles (µs) meet it: `Ok`
    /// with what was seen, or `Err` naming the first bound missed.
    pub fn holds(&self, availability: f64, quantiles_us: [u64; 3]) -> Result<String, String> {
        let seen = format!(
            "availability {:.2}%, p50 {}, p95 {}, p99 {}",
            availability * 100.0,
            ms(quantiles_us[0]),
            ms(quantiles_us[1]),
            ms(quantiles_us[2])
        );
        let a = self.availability;
        if !a.cmp.holds(availability * 100.0, a.percent) {
            return Err(format!("{seen}: availability not {a}"));
        }
        let l = &self.latency;
        for (name, bound, v) in [
            ("p50", l.p50, quantiles_us[0]),
            ("p95", l.p95, quantiles_us[1]),
            ("p99", l.p99, quantiles_us[2]),
        ] {
            if let Some(b) = bound.filter(|b| !b.holds(std::time::Duration::from_micros(v))) {
                return Err(format!("{seen}: {name} not {b}"));
            }
        }
        Ok(seen)
    }
}

fn ms_of(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

fn ms(us: u64) -> String {
    format!("{:.1} ms", us as f64 / 1000.0)
}

/// What is wrong with a scenario's `steady_state:`.
pub fn problems(s: &SteadyState) -> Vec<Problem> {
    let mut v = Vec::new();
    if matches!(s.availability.cmp, Cmp::Lt | Cmp::Le) {
        v.push(Problem {
            key: "steady_state.availability".into(),
            message: format!(
                "a steady state is a floor: write it like `>= 99.9%`, not `{}`",
                s.availability
            ),
        });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(extra: &str) -> Scenario {
        crate::scenario::parse_str(
            &format!(
                "name: s\nsale: {{ product: p, stock: 10 }}\n\
                 load: {{ model: arrival-rate, rate: 10/s, duration: 10s }}\n{extra}"
            ),
            "s.yaml",
        )
        .unwrap()
    }

    #[test]
    fn the_default_is_every_answer_and_the_baseline_bounds_where_they_hold() {
        let s = scenario("expect: { latency: { p99: '< 15ms', on: [local] } }\n");
        let local = Hypothesis::of(&s, TargetKind::Local);
        assert_eq!(local.availability.percent, 100.0);
        assert!(local.latency.p99.is_some());
        assert!(Hypothesis::of(&s, TargetKind::Docker).latency.p99.is_none());
        assert!(local.holds(1.0, [1_000, 2_000, 14_000]).is_ok());
        let err = local.holds(1.0, [1_000, 2_000, 16_000]).unwrap_err();
        assert!(err.ends_with("p99 not < 15ms"), "{err}");
        let err = local.holds(0.999, [1_000, 2_000, 3_000]).unwrap_err();
        assert!(err.contains("availability 99.90%"), "{err}");
    }

    #[test]
    fn a_backlog_bound_is_met_only_by_a_known_young_backlog() {
        let none = Hypothesis::of(&scenario(""), TargetKind::Local);
        assert_eq!(none.backlog_holds(None), Ok(String::new()));
        let s = scenario("steady_state: { backlog_age: '< 2s' }\n");
        let h = Hypothesis::of(&s, TargetKind::Local);
        assert!(h.backlog_holds(Some(300)).is_ok());
        assert!(h.backlog_holds(Some(2_500)).is_err());
        let unknown = h.backlog_holds(None).unwrap_err();
        assert!(unknown.contains("did not answer"), "{unknown}");
    }

    #[test]
    fn a_scenarios_own_hypothesis_wins_and_a_ceiling_is_refused() {
        let s = scenario("steady_state: { availability: '>= 99%' }\n");
        assert!(Hypothesis::of(&s, TargetKind::Local)
            .holds(0.995, [0, 0, 0])
            .is_ok());
        let bad = scenario("steady_state: { availability: '< 99%' }\n");
        let keys: Vec<String> = problems(bad.steady_state.as_ref().unwrap())
            .into_iter()
            .map(|p| p.key)
            .collect();
        assert_eq!(keys, ["steady_state.availability"]);
    }
}
