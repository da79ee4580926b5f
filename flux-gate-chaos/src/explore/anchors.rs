//! The system's own timeouts, which explore draws fault durations and delays across. A bug
//! that hides in a narrow window usually sits at one of these edges: a pause just longer than
//! the consumer's session, latency just above the API's Redis timeout, an outage that outlasts
//! Sentinel's `down-after`. Drawing only uniformly over seconds would rarely land there.
//!
//! They are read from the stack description where it sets them (a service's environment, a
//! Sentinel's configuration), else they are Flux-Gate's defaults, the values its services use
//! when nothing is set (`flux-gate-core/src/config.rs`, `flux-gate-core/src/worker/mod.rs`,
//! `flux-gate-core/src/api/mod.rs`).

use std::time::Duration;

use crate::target::local::StackSpec;

/// One timeout of the system, named for the reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub name: &'static str,
    pub at: Duration,
}

/// Every timeout a trial's values are drawn across.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Anchors(pub Vec<Anchor>);

/// Flux-Gate's defaults: the setting that overrides each (an environment variable of a
/// service), and its value when unset.
const DEFAULTS: &[(&str, Option<&str>, Duration)] = &[
    (
        "API Redis timeout",
        Some("FG_REDIS_TIMEOUT_MS"),
        Duration::from_millis(250),
    ),
    (
        "replica acknowledgement timeout",
        Some("FG_REDIS_REPLICA_ACK_TIMEOUT_MS"),
        Duration::from_millis(250),
    ),
    (
        "API produce timeout",
        Some("FG_PRODUCE_TIMEOUT_MS"),
        Duration::from_millis(500),
    ),
    ("load request timeout", None, Duration::from_secs(2)),
    ("consumer session timeout", None, Duration::from_secs(6)),
    ("producer message timeout", None, Duration::from_secs(10)),
    ("worker rejoin watchdog", None, Duration::from_secs(10)),
];

impl Anchors {
    /// The timeouts of the stack `spec` describes.
    pub fn of_stack(spec: &StackSpec) -> Anchors {
        let mut out: Vec<Anchor> = DEFAULTS
            .iter()
            .map(|&(name, setting, default)| Anchor {
                name,
                at: setting.and_then(|s| env_ms(spec, s)).unwrap_or(default),
            })
            .collect();
        if let Some(ms) = sentinel_down_after(spec) {
            out.push(Anchor {
                name: "Sentinel down-after",
                at: ms,
            });
        }
        Anchors(out)
    }

    /// The built-in defaults alone (a stack that sets nothing).
    pub fn defaults() -> Anchors {
        Anchors(
            DEFAULTS
                .iter()
                .map(|&(name, _, at)| Anchor { name, at })
                .collect(),
        )
    }
}

/// A millisecond setting any service of the stack sets in its environment.
fn env_ms(spec: &StackSpec, setting: &str) -> Option<Duration> {
    spec.services
        .values()
        .filter_map(|s| s.env.get(setting))
        .find_map(|v| v.trim().trim_matches('"').parse::<u64>().ok())
        .map(Duration::from_millis)
}

/// `sentinel down-after-milliseconds NAME MS` in a file or argument of any service.
fn sentinel_down_after(spec: &StackSpec) -> Option<Duration> {
    spec.redis_ha.as_ref()?;
    spec.services
        .values()
        .flat_map(|s| s.files.values().chain(s.args.iter()))
        .flat_map(|text| text.lines())
        .find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("sentinel") && words.next() == Some("down-after-milliseconds"))
                .then(|| words.nth(1)?.parse::<u64>().ok())
                .flatten()
        })
        .map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_stack_has_the_defaults_and_the_sentinel_stack_its_down_after() {
        let built_in = StackSpec::built_in().unwrap();
        assert_eq!(Anchors::of_stack(&built_in), Anchors::defaults());
        let ha = StackSpec::read(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/redis-ha.yaml"),
        )
        .unwrap();
        let anchors = Anchors::of_stack(&ha);
        let down_after = anchors.0.iter().find(|a| a.name == "Sentinel down-after");
        assert_eq!(down_after.map(|a| a.at), Some(Duration::from_secs(2)));
    }
}
