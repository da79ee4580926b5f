//! `abort_when:` — the stop conditions of a run, read live while it runs (AWS FIS's stop
//! conditions, k6's `abortOnFail`). When one holds, the run heals every fault, stops the load,
//! settles and judges what was recorded, and its verdict is `aborted`.
//!
//! ```yaml
//! abort_when:
//!   over: 5s               # the sliding window of the three conditions below (default 5s)
//!   availability: "< 90%"  # answers that are neither 5xx nor timeouts
//!   p99: "> 500ms"
//!   errors_5xx: 50         # more than this many 5xx answers
//!   oversell: true         # sampled Redis stock below 0: stop at once
//!   probe: { url: "http://127.0.0.1:9100/health", status: 200, timeout: 1s, fails: 3 }
//! ```

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::parse::Problem;
use super::units::{Cmp, Dur, DurThreshold, PercentThreshold};

/// The stop conditions: any one of them stops the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AbortWhen {
    /// The sliding window `availability`, `p99` and `errors_5xx` are read over: the last
    /// `over` of answers, read every second once the load has run that long.
    #[serde(default = "default_over")]
    pub over: Dur,
    /// Stop when the window's share of answers that are neither 5xx nor timeouts is, like
    /// `< 90%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<PercentThreshold>,
    /// Stop when the window's 99th-percentile latency is, like `> 500ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<DurThreshold>,
    /// Stop when the window holds more than this many 5xx answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors_5xx: Option<u64>,
    /// Stop at once when the sampled Redis stock goes below 0: an oversell already happened.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub oversell: bool,
    /// Stop when a URL of the user's fails this many times in a row, read every second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<Probe>,
}

fn default_over() -> Dur {
    Dur::secs(5)
}

/// A user's health check: a GET that must answer `status` within `timeout`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    /// An `http://` or `https://` URL.
    pub url: String,
    #[serde(default = "default_status")]
    pub status: u16,
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    /// Failures in a row that stop the run.
    #[serde(default = "default_fails")]
    pub fails: u32,
}

fn default_status() -> u16 {
    200
}
fn default_timeout() -> Dur {
    Dur::secs(1)
}
fn default_fails() -> u32 {
    3
}

/// What is wrong with `a` for a load of `load` (none when it is unknown).
pub fn problems(a: &AbortWhen, load: Option<std::time::Duration>) -> Vec<Problem> {
    let mut v = Vec::new();
    let mut at = |key: &str, message: String| {
        v.push(Problem {
            key: format!("abort_when.{key}"),
            message,
        })
    };
    let windowed = a.availability.is_some() || a.p99.is_some() || a.errors_5xx.is_some();
    if !windowed && !a.oversell && a.probe.is_none() {
        at(
            "over",
            "names no condition: give availability, p99, errors_5xx, oversell or probe".into(),
        );
    }
    if a.over.get().is_zero() {
        at("over", "must be more than 0s".into());
    }
    if let Some(load) = load.filter(|l| windowed && a.over.get() > *l) {
        at(
            "over",
            format!(
                "the window ({}) is longer than the load ({}): it would never be full",
                a.over,
                humantime::format_duration(load)
            ),
        );
    }
    if let Some(t) = a
        .availability
        .filter(|t| matches!(t.cmp, Cmp::Gt | Cmp::Ge))
    {
        at(
            "availability",
            format!("stops when availability is high (`{t}`); write it like `< 90%`"),
        );
    }
    if let Some(t) = a.p99.filter(|t| matches!(t.cmp, Cmp::Lt | Cmp::Le)) {
        at(
            "p99",
            format!("stops when latency is low (`{t}`); write it like `> 500ms`"),
        );
    }
    if let Some(p) = &a.probe {
        if !(p.url.starts_with("http://") || p.url.starts_with("https://")) {
            at(
                "probe.url",
                format!("`{}` is not an http:// or https:// URL", p.url),
            );
        }
        if p.fails == 0 {
            at("probe.fails", "must be at least 1".into());
        }
        if p.timeout.get().is_zero() {
            at("probe.timeout", "must be more than 0s".into());
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(yaml: &str) -> AbortWhen {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn keys(a: &AbortWhen, load_s: u64) -> Vec<String> {
        problems(a, Some(std::time::Duration::from_secs(load_s)))
            .into_iter()
            .map(|p| p.key)
            .collect()
    }

    #[test]
    fn a_sound_set_of_conditions_has_no_problem() {
        let a = read(
            "{ over: 5s, availability: '< 90%', p99: '> 500ms', errors_5xx: 50, oversell: true, \
             probe: { url: 'http://127.0.0.1:9/health' } }",
        );
        assert_eq!(keys(&a, 30), Vec::<String>::new());
        let p = a.probe.unwrap();
        assert_eq!((p.status, p.timeout, p.fails), (200, Dur::secs(1), 3));
    }

    #[test]
    fn each_bad_part_is_placed_at_its_key() {
        assert_eq!(keys(&read("{ over: 5s }"), 30), ["abort_when.over"]);
        assert_eq!(
            keys(&read("{ over: 60s, p99: '> 1s' }"), 30),
            ["abort_when.over"]
        );
        assert_eq!(
            keys(&read("{ availability: '>= 90%' }"), 30),
            ["abort_when.availability"]
        );
        assert_eq!(keys(&read("{ p99: '< 1s' }"), 30), ["abort_when.p99"]);
        assert_eq!(
            keys(&read("{ probe: { url: 'ftp://x', fails: 0 } }"), 30),
            ["abort_when.probe.url", "abort_when.probe.fails"]
        );
        // Oversell and a probe read no window: a window longer than the load is no problem.
        assert_eq!(
            keys(&read("{ over: 60s, oversell: true }"), 30),
            Vec::<String>::new()
        );
    }

    #[test]
    fn an_unknown_condition_is_refused() {
        let e = serde_yaml::from_str::<AbortWhen>("{ latency: '> 1s' }").unwrap_err();
        assert!(e.to_string().contains("unknown field `latency`"), "{e}");
    }
}
