//! What an action does to the system, as data: a lifecycle operation on one service instance,
//! toxics on a link, links cut, a swarm node drained, or a swarm service scaled. Nothing here touches a stack: the nemesis (`fault/plan.rs`)
//! makes the seeded choices and turns an [`Effect`] into changes, so what an action does can be
//! tested without one, and whether a fault heals is read off its effect rather than kept in a
//! second list.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{
    FaultAction, LinkTarget, LinksTarget, NodeTarget, ServiceTarget, Stream, ToxicOptions,
};
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
        match self {
            FaultAction::Kill { on } => on.lifecycle(Lifecycle::Kill, Some(Lifecycle::Start)),
            FaultAction::Stop { on, grace } => {
                on.lifecycle(Lifecycle::stop(*grace), Some(Lifecycle::Start))
            }
            FaultAction::Start { on } => on.lifecycle(Lifecycle::Start, None),
            FaultAction::Restart { on, grace } => on.lifecycle(Lifecycle::restart(*grace), None),
            FaultAction::Pause { on } => on.lifecycle(Lifecycle::Pause, Some(Lifecycle::Resume)),
            FaultAction::Resume { on } => on.lifecycle(Lifecycle::Resume, None),
            FaultAction::Failover { on } => on.lifecycle(Lifecycle::Failover, None),
            FaultAction::Latency {
                on,
                latency,
                jitter,
                toxic,
            } => on.toxics(toxic, id, Recipe::latency(*latency, *jitter)),
            FaultAction::Bandwidth { on, rate_kb, toxic } => {
                on.toxics(toxic, id, Recipe::bandwidth(*rate_kb))
            }
            FaultAction::Timeout { on, timeout, toxic } => {
                on.toxics(toxic, id, Recipe::timeout(*timeout))
            }
            FaultAction::Blackhole { on, toxic } => on.toxics(toxic, id, Recipe::blackhole()),
            FaultAction::ResetPeer { on, timeout, toxic } => {
                on.toxics(toxic, id, Recipe::reset_peer(*timeout))
            }
            FaultAction::Slicer {
                on,
                average_size,
                size_variation,
                delay,
                toxic,
            } => on.toxics(
                toxic,
                id,
                Recipe::slicer(*average_size, *size_variation, *delay),
            ),
            FaultAction::LimitData { on, bytes, toxic } => {
                on.toxics(toxic, id, Recipe::limit_data(*bytes))
            }
            FaultAction::SlowClose { on, delay, toxic } => {
                on.toxics(toxic, id, Recipe::slow_close(*delay))
            }
            FaultAction::Down { on } => Effect::Disable {
                links: vec![on.pick()],
            },
            FaultAction::Partition { on } => Effect::Disable { links: on.picks() },
            FaultAction::Drain { on } => Effect::Node {
                node: on.pick(),
                op: NodeOp::Drain,
                undo: NodeOp::Drain.undo(),
            },
            FaultAction::Activate { on } => Effect::Node {
                node: on.pick(),
                op: NodeOp::Activate,
                undo: None,
            },
            FaultAction::Isolate { on } => Effect::Node {
                node: on.pick(),
                op: NodeOp::Isolate,
                undo: NodeOp::Isolate.undo(),
            },
            FaultAction::Rejoin { on } => Effect::Node {
                node: on.pick(),
                op: NodeOp::Rejoin,
                undo: None,
            },
            FaultAction::Scale { on, replicas } => Effect::Scale {
                service: on.pick(),
                replicas: *replicas,
            },
        }
    }

    /// Whether the fault can be undone (`kill` by a start); a repair (`start`, `restart`,
    /// `resume`) cannot, so a nemesis cannot use it.
    pub fn heals(&self) -> bool {
        match self.effect(0) {
            Effect::Lifecycle { undo, .. } => undo.is_some(),
            Effect::Node { undo, .. } => undo.is_some(),
            // Scaled back to the count the plan read off the stack.
            Effect::Toxics { .. } | Effect::Disable { .. } | Effect::Scale { .. } => true,
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

    /// The toxics `recipe` makes, with the fault's `options` and named by its `id`, on this link.
    fn toxics(&self, options: &ToxicOptions, id: usize, recipe: Recipe) -> Effect<'_> {
        Effect::Toxics {
            link: self.pick(),
            toxics: options.make(id, recipe),
        }
    }
}

impl NodeTarget {
    fn pick(&self) -> Pick<'_> {
        match self {
            NodeTarget::Node(n) => Pick::Named(n),
            NodeTarget::Random(r) => Pick::OneOf(r),
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
    /// `op` on a swarm node; `undo` puts it back (none for an `activate`).
    Node {
        node: Pick<'a>,
        op: NodeOp,
        undo: Option<NodeOp>,
    },
    /// A swarm service's replica count set to `replicas`; set back to the count it had when
    /// the run attached to heal (the plan reads that count off the stack).
    Scale { service: Pick<'a>, replicas: u32 },
}

/// A node fault.
///
/// A drain sets the node's availability (`docker node update --availability`): Swarm stops
/// its tasks and starts them on the other nodes, if any — the orchestrator's own way of taking
/// a host out. An isolation loses the node: it is cut from the other nodes (their addresses
/// dropped by the node's own firewall), so the managers stop hearing from it, mark it down and
/// start its tasks elsewhere, while its tasks go on running cut off — a host that fell off the
/// network. Activate and rejoin undo them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeOp {
    Drain,
    Activate,
    Isolate,
    Rejoin,
}

impl NodeOp {
    /// Whether it takes the node's tasks away (what the blast radius counts down).
    pub fn takes_down(self) -> bool {
        matches!(self, NodeOp::Drain | NodeOp::Isolate)
    }

    /// The op that undoes this one, for one that takes the node's tasks away.
    pub fn undo(self) -> Option<NodeOp> {
        match self {
            NodeOp::Drain => Some(NodeOp::Activate),
            NodeOp::Isolate => Some(NodeOp::Rejoin),
            NodeOp::Activate | NodeOp::Rejoin => None,
        }
    }
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

impl Lifecycle {
    /// `stop` with its grace, [`DEFAULT_GRACE`] when the file gives none.
    fn stop(grace: Option<Dur>) -> Lifecycle {
        Lifecycle::Stop {
            grace_ms: grace_ms(grace),
        }
    }

    /// `restart` with its grace, [`DEFAULT_GRACE`] when the file gives none.
    fn restart(grace: Option<Dur>) -> Lifecycle {
        Lifecycle::Restart {
            grace_ms: grace_ms(grace),
        }
    }
}

fn grace_ms(grace: Option<Dur>) -> u64 {
    ms(grace.map_or(DEFAULT_GRACE, Dur::get))
}

/// How to make the toxic of a network fault, before its streams and toxicity: Toxiproxy's
/// type, its attributes in Toxiproxy's names and units, and the direction it slows when the
/// file says none.
struct Recipe {
    kind: &'static str,
    attributes: Value,
    default_stream: Stream,
}

impl Recipe {
    fn downstream(kind: &'static str, attributes: Value) -> Recipe {
        Recipe {
            kind,
            attributes,
            default_stream: Stream::Downstream,
        }
    }

    /// Blackholes and timeouts must stop both directions to cut a request/response
    /// protocol: one direction alone lets the request through, or the answer.
    fn both_ways(kind: &'static str, attributes: Value) -> Recipe {
        Recipe {
            kind,
            attributes,
            default_stream: Stream::Both,
        }
    }

    fn latency(latency: Dur, jitter: Option<Dur>) -> Recipe {
        let attributes = json!({ "latency": ms(latency.get()), "jitter": ms_or_zero(jitter) });
        Recipe::downstream("latency", attributes)
    }

    fn bandwidth(rate_kb: u64) -> Recipe {
        Recipe::downstream("bandwidth", json!({ "rate": rate_kb }))
    }

    fn timeout(timeout: Option<Dur>) -> Recipe {
        Recipe::both_ways("timeout", json!({ "timeout": ms_or_zero(timeout) }))
    }

    /// A timeout that never closes.
    fn blackhole() -> Recipe {
        Recipe::both_ways("timeout", json!({ "timeout": 0 }))
    }

    fn reset_peer(timeout: Option<Dur>) -> Recipe {
        Recipe::downstream("reset_peer", json!({ "timeout": ms_or_zero(timeout) }))
    }

    fn slicer(average_size: u64, size_variation: Option<u64>, delay: Option<Dur>) -> Recipe {
        let attributes = json!({
            "average_size": average_size,
            "size_variation": size_variation.unwrap_or(0),
            // Toxiproxy's slicer takes microseconds.
            "delay": delay.map_or(0, |d| micros(d.get())),
        });
        Recipe::downstream("slicer", attributes)
    }

    fn limit_data(bytes: u64) -> Recipe {
        Recipe::downstream("limit_data", json!({ "bytes": bytes }))
    }

    fn slow_close(delay: Dur) -> Recipe {
        Recipe::downstream("slow_close", json!({ "delay": ms(delay.get()) }))
    }
}

impl ToxicOptions {
    /// The toxics of one fault (one per stream), in Toxiproxy's attribute names and units,
    /// named `fgchaos-{id}-{kind}-{stream}` so cleanup finds exactly ours.
    fn make(&self, id: usize, recipe: Recipe) -> Vec<Toxic> {
        let streams: &[&str] = match self.stream.unwrap_or(recipe.default_stream) {
            Stream::Upstream => &["upstream"],
            Stream::Downstream => &["downstream"],
            Stream::Both => &["upstream", "downstream"],
        };
        streams
            .iter()
            .map(|s| {
                let mut t = Toxic::new(recipe.kind, s, recipe.attributes.clone());
                t.name = format!("{TOXIC_PREFIX}{id}-{}-{s}", recipe.kind);
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

/// Toxiproxy's milliseconds of a duration the file may leave out (then none).
fn ms_or_zero(d: Option<Dur>) -> u64 {
    d.map_or(0, |d| ms(d.get()))
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
