//! What an action does to the system, as data: a lifecycle operation on one service instance,
//! toxics on a link, or links cut. Nothing here touches a stack: the nemesis (`fault/plan.rs`)
//! makes the seeded choices and turns an [`Effect`] into changes, so what an action does can be
//! tested without one, and whether a fault heals is read off its effect rather than kept in a
//! second list.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{FaultAction, LinkTarget, LinksTarget, ServiceTarget, Stream, ToxicOptions};
use crate::scenario::Dur;
use crate::toxiproxy::wire::Toxic;

/// Default SIGTERM grace of `stop`/`restart`.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// Name prefix of every toxic fgchaos adds (cleanup removes exactly these); the Toxiproxy
/// client owns it because `fgchaos cleanup` removes toxics by it.
pub use crate::toxiproxy::client::TOXIC_PREFIX;

impl FaultAction {
    /// What applying the fault does, before the plan's seeded choices (which service or link
    /// of `random`, which replica). `id` names its toxics so they can be removed by name.
    pub fn effect(&self, id: usize) -> Effect<'_> {
        let grace_ms = |g: &Option<Dur>| ms(g.map_or(DEFAULT_GRACE, Dur::get));
        let ms_of = |d: &Option<Dur>| d.map_or(0, |d| ms(d.get()));
        match self {
            FaultAction::Kill { on } => on.lifecycle(Lifecycle::Kill, Some(Lifecycle::Start)),
            FaultAction::Stop { on, grace } => on.lifecycle(
                Lifecycle::Stop {
                    grace_ms: grace_ms(grace),
                },
                Some(Lifecycle::Start),
            ),
            FaultAction::Start { on } => on.lifecycle(Lifecycle::Start, None),
            FaultAction::Restart { on, grace } => on.lifecycle(
                Lifecycle::Restart {
                    grace_ms: grace_ms(grace),
                },
                None,
            ),
            FaultAction::Pause { on } => on.lifecycle(Lifecycle::Pause, Some(Lifecycle::Resume)),
            FaultAction::Resume { on } => on.lifecycle(Lifecycle::Resume, None),
            FaultAction::Latency {
                on,
                latency,
                jitter,
                toxic,
            } => on.toxics(toxic.make(
                id,
                "latency",
                json!({ "latency": ms(latency.get()), "jitter": ms_of(jitter) }),
                Stream::Downstream,
            )),
            FaultAction::Bandwidth { on, rate_kb, toxic } => on.toxics(toxic.make(
                id,
                "bandwidth",
                json!({ "rate": rate_kb }),
                Stream::Downstream,
            )),
            // Blackholes and timeouts must stop both directions to cut a request/response
            // protocol: one direction alone lets the request through, or the answer.
            FaultAction::Timeout { on, timeout, toxic } => on.toxics(toxic.make(
                id,
                "timeout",
                json!({ "timeout": ms_of(timeout) }),
                Stream::Both,
            )),
            FaultAction::Blackhole { on, toxic } => {
                on.toxics(toxic.make(id, "timeout", json!({ "timeout": 0 }), Stream::Both))
            }
            FaultAction::ResetPeer { on, timeout, toxic } => on.toxics(toxic.make(
                id,
                "reset_peer",
                json!({ "timeout": ms_of(timeout) }),
                Stream::Downstream,
            )),
            FaultAction::Slicer {
                on,
                average_size,
                size_variation,
                delay,
                toxic,
            } => on.toxics(toxic.make(
                id,
                "slicer",
                json!({
                    "average_size": average_size,
                    "size_variation": size_variation.unwrap_or(0),
                    // Toxiproxy's slicer takes microseconds.
                    "delay": delay.map_or(0, |d| micros(d.get())),
                }),
                Stream::Downstream,
            )),
            FaultAction::LimitData { on, bytes, toxic } => on.toxics(toxic.make(
                id,
                "limit_data",
                json!({ "bytes": bytes }),
                Stream::Downstream,
            )),
            FaultAction::SlowClose { on, delay, toxic } => on.toxics(toxic.make(
                id,
                "slow_close",
                json!({ "delay": ms(delay.get()) }),
                Stream::Downstream,
            )),
            FaultAction::Down { on } => Effect::Disable {
                links: vec![on.pick()],
            },
            FaultAction::Partition { on } => Effect::Disable { links: on.picks() },
            FaultAction::Failover { on } => on.lifecycle(Lifecycle::Failover, None),
        }
    }

    /// Whether the fault can be undone (`kill` by a start); a repair (`start`, `restart`,
    /// `resume`) cannot, so a nemesis cannot use it.
    pub fn heals(&self) -> bool {
        match self.effect(0) {
            Effect::Lifecycle { undo, .. } => undo.is_some(),
            Effect::Toxics { .. } | Effect::Disable { .. } => true,
        }
    }
}

/// A name the file gives, or the list a seeded choice picks one from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick<'a> {
    Named(&'a str),
    OneOf(&'a [String]),
}

impl ServiceTarget {
    fn pick(&self) -> Pick<'_> {
        match self {
            ServiceTarget::Service(s) => Pick::Named(s),
            ServiceTarget::Random(r) => Pick::OneOf(r),
        }
    }

    fn lifecycle(&self, op: Lifecycle, undo: Option<Lifecycle>) -> Effect<'_> {
        Effect::Lifecycle {
            service: self.pick(),
            op,
            undo,
        }
    }
}

impl LinkTarget {
    fn pick(&self) -> Pick<'_> {
        match self {
            LinkTarget::Link(l) => Pick::Named(l),
            LinkTarget::Random(r) => Pick::OneOf(r),
        }
    }

    fn toxics(&self, toxics: Vec<Toxic>) -> Effect<'_> {
        Effect::Toxics {
            link: self.pick(),
            toxics,
        }
    }
}

impl LinksTarget {
    fn picks(&self) -> Vec<Pick<'_>> {
        match self {
            LinksTarget::Links(l) => l.iter().map(|l| Pick::Named(l)).collect(),
            LinksTarget::Random(r) => vec![Pick::OneOf(r)],
        }
    }
}

/// What applying a fault does to the system: pure data, which the plan turns into changes
/// once it has made the seeded choices.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect<'a> {
    /// `op` on one instance of `service`; `undo` puts it back (none for a repair).
    Lifecycle {
        service: Pick<'a>,
        op: Lifecycle,
        undo: Option<Lifecycle>,
    },
    /// Toxics added on `link`; removed by name to heal.
    Toxics { link: Pick<'a>, toxics: Vec<Toxic> },
    /// `links` disabled together; enabled to heal.
    Disable { links: Vec<Pick<'a>> },
}

/// A lifecycle fault on one service instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    Kill,
    Stop {
        grace_ms: u64,
    },
    Start,
    Restart {
        grace_ms: u64,
    },
    Pause,
    Resume,
    /// Ask a Sentinel to promote a replica of this primary (Redis with Sentinel only).
    Failover,
}

impl ToxicOptions {
    /// The toxics of one fault (one per stream), in Toxiproxy's attribute names and units,
    /// named `fgchaos-{id}-{kind}-{stream}` so cleanup finds exactly ours.
    fn make(&self, id: usize, kind: &str, attributes: Value, default: Stream) -> Vec<Toxic> {
        let streams: &[&str] = match self.stream.unwrap_or(default) {
            Stream::Upstream => &["upstream"],
            Stream::Downstream => &["downstream"],
            Stream::Both => &["upstream", "downstream"],
        };
        streams
            .iter()
            .map(|s| {
                let mut t = Toxic::new(kind, s, attributes.clone());
                t.name = format!("{TOXIC_PREFIX}{id}-{kind}-{s}");
                t.toxicity = self.toxicity.unwrap_or(1.0);
                t
            })
            .collect()
    }
}

/// Toxiproxy's milliseconds, saturating: a duration too long for a u64 of them is forever anyway.
fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
