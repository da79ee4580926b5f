//! One fault of a scenario, one enum variant per action word: which keys the file may give it,
//! which it needs, the rules it follows against a stack, and what it does to the system.
//!
//! Everything about an action sits in this file, and every `match` on an action lists them all:
//! adding one is a variant here, the arms the compiler then asks for, and its test. Nothing
//! falls through a catch-all into another action's behaviour.
//!
//! Parsing is a hand-written map visitor, not `#[serde(tag = "action")]`: serde buffers an
//! internally tagged enum's mapping before choosing the variant, and every error then loses
//! serde_yaml's `line:column` and serde_path_to_error's key path (docs/decisions.md §30). Here
//! each key is read through [`KeySeed`], which knows the action seen so far, so a key that
//! belongs to another action is refused *while serde_yaml reads that key* and the error carries
//! the key's own place. Values go straight into typed slots, so a bad value is placed too.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Value};

use super::parse::Problem;
use super::validate::{unknown, Names};
use super::{Dur, WindowExpect};
use crate::toxiproxy::wire::Toxic;

/// Default SIGTERM grace of `stop`/`restart`.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// Name prefix of every toxic fgchaos adds (cleanup removes exactly these); the Toxiproxy
/// client owns it because `fgchaos cleanup` removes toxics by it.
pub use crate::toxiproxy::client::TOXIC_PREFIX;

/// One fault: when it happens, what it does, when it heals, and what must hold meanwhile.
/// In a file it is one flat mapping (`{ at: 5s, action: kill, service: redis }`); which keys
/// it may have depends on `action`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// When, from the start of the load (required in `faults`, absent in a nemesis pool).
    pub at: Option<Dur>,
    /// Heal after this long (the opposite action, or the toxic removed).
    pub duration: Option<Dur>,
    /// What must hold while this fault is on (instead of the scenario-wide `expect`).
    pub expect: Option<WindowExpect>,
    pub action: FaultAction,
}

/// What a fault does, with exactly the keys that action takes.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// SIGKILL the service (all its processes).
    Kill { on: ServiceTarget },
    /// SIGTERM, then SIGKILL after `grace` (default 10s).
    Stop {
        on: ServiceTarget,
        grace: Option<Dur>,
    },
    /// Start a stopped or killed service and wait until it is ready.
    Start { on: ServiceTarget },
    /// Stop (SIGTERM, SIGKILL after `grace`), then start.
    Restart {
        on: ServiceTarget,
        grace: Option<Dur>,
    },
    /// SIGSTOP: the service keeps its sockets and answers nothing.
    Pause { on: ServiceTarget },
    /// SIGCONT after `pause`.
    Resume { on: ServiceTarget },
    /// Toxic: delay every chunk by `latency` ± `jitter`.
    Latency {
        on: LinkTarget,
        latency: Dur,
        jitter: Option<Dur>,
        toxic: ToxicOptions,
    },
    /// Toxic: limit throughput to `rate_kb` KB/s.
    Bandwidth {
        on: LinkTarget,
        rate_kb: u64,
        toxic: ToxicOptions,
    },
    /// Toxic: stop all data, close after `timeout` (0 or absent = never).
    Timeout {
        on: LinkTarget,
        timeout: Option<Dur>,
        toxic: ToxicOptions,
    },
    /// Toxic: stop all data forever (a `timeout` of 0).
    Blackhole { on: LinkTarget, toxic: ToxicOptions },
    /// Toxic: reset connections after `timeout` (real Toxiproxy only).
    ResetPeer {
        on: LinkTarget,
        timeout: Option<Dur>,
        toxic: ToxicOptions,
    },
    /// Toxic: cut data into `average_size`-byte pieces, `delay` apart.
    Slicer {
        on: LinkTarget,
        average_size: u64,
        size_variation: Option<u64>,
        delay: Option<Dur>,
        toxic: ToxicOptions,
    },
    /// Toxic: close the connection after `bytes` bytes.
    LimitData {
        on: LinkTarget,
        bytes: u64,
        toxic: ToxicOptions,
    },
    /// Toxic: delay the close of a connection by `delay`.
    SlowClose {
        on: LinkTarget,
        delay: Dur,
        toxic: ToxicOptions,
    },
    /// Disable the proxy: connections refused, open ones closed.
    Down { on: LinkTarget },
    /// Disable every proxy in `links` together.
    Partition { on: LinksTarget },
}

/// The service a lifecycle fault hits. A service with replicas (`ingestion-api`) means one
/// replica picked with the seed; `ingestion-api#2` means that one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceTarget {
    /// `service: inventory-worker`
    Service(String),
    /// `random: [a, b]`: one of them, chosen with the run's seed.
    Random(Vec<String>),
}

/// The link (a Toxiproxy proxy) a network fault hits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkTarget {
    /// `link: api-redis`
    Link(String),
    /// `random: [a, b]`: one of them, chosen with the run's seed.
    Random(Vec<String>),
}

/// The links `partition` cuts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinksTarget {
    /// `links: [a, b]`: all of them together.
    Links(Vec<String>),
    /// `random: [a, b]`: one of them, chosen with the run's seed.
    Random(Vec<String>),
}

/// The keys every toxic shares.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ToxicOptions {
    /// Direction (default `downstream`; `timeout` and `blackhole` default to `both`).
    pub stream: Option<Stream>,
    /// Share of connections affected (0–1, default 1).
    pub toxicity: Option<f32>,
}

/// Which direction of a link a toxic slows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    /// Client → server.
    Upstream,
    /// Server → client (Toxiproxy's default).
    #[default]
    Downstream,
    /// Both directions (two toxics).
    Both,
}

/// The action word alone, as the journal records it (`PlannedFault.action`) and the file
/// writes it (`action: kill`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Kill,
    Stop,
    Start,
    Restart,
    Pause,
    Resume,
    Latency,
    Bandwidth,
    Timeout,
    Blackhole,
    ResetPeer,
    Slicer,
    LimitData,
    SlowClose,
    Down,
    Partition,
}

/// What the file format knows about an action before its value is built: its word, the keys
/// it takes (in the order they are written back), which of them it cannot do without, and the
/// key naming its target (`random` may stand in for it).
struct Spec {
    word: &'static str,
    doc: &'static str,
    keys: &'static [Key],
    needs: &'static [Key],
    target: Target,
}

/// The key naming what an action hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Service,
    Link,
    Links,
}

impl Target {
    fn key(self) -> Key {
        match self {
            Target::Service => Key::Service,
            Target::Link => Key::Link,
            Target::Links => Key::Links,
        }
    }
}

impl Action {
    pub const ALL: [Action; 16] = [
        Action::Kill,
        Action::Stop,
        Action::Start,
        Action::Restart,
        Action::Pause,
        Action::Resume,
        Action::Latency,
        Action::Bandwidth,
        Action::Timeout,
        Action::Blackhole,
        Action::ResetPeer,
        Action::Slicer,
        Action::LimitData,
        Action::SlowClose,
        Action::Down,
        Action::Partition,
    ];

    /// The snake_case word of the scenario file.
    pub fn as_str(self) -> &'static str {
        self.spec().word
    }

    fn spec(self) -> &'static Spec {
        use Key as K;
        match self {
            Action::Kill => &Spec {
                word: "kill",
                doc: "SIGKILL the service (all its processes); heals by starting it.",
                keys: &[K::At, K::Action, K::Service, K::Random, K::Duration, K::Expect],
                needs: &[],
                target: Target::Service,
            },
            Action::Stop => &Spec {
                word: "stop",
                doc: "SIGTERM, then SIGKILL after `grace` (default 10s); heals by starting it.",
                keys: &[
                    K::At,
                    K::Action,
                    K::Service,
                    K::Random,
                    K::Duration,
                    K::Grace,
                    K::Expect,
                ],
                needs: &[],
                target: Target::Service,
            },
            Action::Start => &Spec {
                word: "start",
                doc: "Start a stopped or killed service and wait until it is ready.",
                keys: &[K::At, K::Action, K::Service, K::Random, K::Expect],
                needs: &[],
                target: Target::Service,
            },
            Action::Restart => &Spec {
                word: "restart",
                doc: "Stop (SIGTERM, SIGKILL after `grace`), then start.",
                keys: &[K::At, K::Action, K::Service, K::Random, K::Grace, K::Expect],
                needs: &[],
                target: Target::Service,
            },
            Action::Pause => &Spec {
                word: "pause",
                doc: "SIGSTOP: the service keeps its sockets and answers nothing; heals by resuming it.",
                keys: &[K::At, K::Action, K::Service, K::Random, K::Duration, K::Expect],
                needs: &[],
                target: Target::Service,
            },
            Action::Resume => &Spec {
                word: "resume",
                doc: "SIGCONT after `pause`.",
                keys: &[K::At, K::Action, K::Service, K::Random, K::Expect],
                needs: &[],
                target: Target::Service,
            },
            Action::Latency => &Spec {
                word: "latency",
                doc: "Toxic: delay every chunk by `latency` ± `jitter`.",
                keys: &[
                    K::At,
                    K::Action,
                    K::Link,
                    K::Random,
                    K::Duration,
                    K::Latency,
                    K::Jitter,
                    K::Stream,
                    K::Toxicity,
                    K::Expect,
                ],
                needs: &[K::Latency],
                target: Target::Link,
            },
            Action::Bandwidth => &Spec {
                word: "bandwidth",
                doc: "Toxic: limit throughput to `rate_kb` KB/s.",
                keys: &[
                    K::At,
                    K::Action,
                    K::Link,
                    K::Random,
                    K::Duration,
                    K::RateKb,
                    K::Stream,
                    K::Toxicity,
                    K::Expect,
                ],
                needs: &[K::RateKb],
                target: Target::Link,
            },
            Action::Timeout => &Spec {
                word: "timeout",
                doc: "Toxic: stop all data, close after `timeout` (0 = never); both streams by default.",
                keys: &[
                    K::At,
                    K::Action,
                    K::Link,
                    K::Random,
                    K::Duration,
                    K::Timeout,
                    K::Stream,
                    K::Toxicity,
                    K::Expect,
                ],
                needs: &[],
                target: Target::Link,
            },
            Action::Blackhole => &Spec {
                word: "blackhole",
                doc: "Toxic: stop all data forever (a `timeout` of 0); both streams by default.",
                keys: &[
                    K::At,
                    K::Action,
                    K::Link,
                    K::Random,
                    K::Duration,
                    K::Stream,
                    K::Toxicity,
                    K::Expect,
                ],
                needs: &[],
                target: Target::Link,
            },
            Action::ResetPeer => &Spec {
                word: "reset_peer",
                doc: "Toxic: reset connections after `timeout` (real Toxiproxy only).",
                keys: &[
                    K::At,
                    K::Action,
                    K::Link,
                    K::Random,
                    K::Duration,
                    K::Timeout,
                    K::Stream,
                    K::Toxicity,
                    K::Expect,
                ],
                needs: &[],
                target: Target::Link,
            },
            Action::Slicer => &Spec {
                word: "slicer",
                doc: "Toxic: cut data into `average_size`-byte pieces, `delay` apart.",
                keys: &[
                    K::At,
                    K::Action,
                    K::Link,
                    K::Random,
                    K::Duration,
                    K::AverageSize,
                    K::SizeVariation,
                    K::Delay,
                    K::Stream,
                    K::Toxicity,
                    K::Expect,
                ],
                needs: &[K::AverageSize],
                target: Target::Link,
            },
            Action::LimitData => &Spec {
                word: "limit_data",
                doc: "Toxic: close the connection after `bytes` bytes.",
                keys: &[
                    K::At,
                    K::Action,
                    K::Link,
                    K::Random,
                    K::Duration,
                    K::Bytes,
                    K::Stream,
                    K::Toxicity,
                    K::Expect,
                ],
                needs: &[K::Bytes],
                target: Target::Link,
            },
            Action::SlowClose => &Spec {
                word: "slow_close",
                doc: "Toxic: delay the close of a connection by `delay`.",
                keys: &[
                    K::At,
                    K::Action,
                    K::Link,
                    K::Random,
                    K::Duration,
                    K::Delay,
                    K::Stream,
                    K::Toxicity,
                    K::Expect,
                ],
                needs: &[K::Delay],
                target: Target::Link,
            },
            Action::Down => &Spec {
                word: "down",
                doc: "Disable the proxy: connections refused, open ones closed; heals by enabling it.",
                keys: &[K::At, K::Action, K::Link, K::Random, K::Duration, K::Expect],
                needs: &[],
                target: Target::Link,
            },
            Action::Partition => &Spec {
                word: "partition",
                doc: "Disable every proxy in `links` together; heals by enabling them.",
                keys: &[K::At, K::Action, K::Links, K::Random, K::Duration, K::Expect],
                needs: &[],
                target: Target::Links,
            },
        }
    }

    fn takes(self, key: Key) -> bool {
        self.spec().keys.contains(&key)
    }
}

impl FaultAction {
    /// The action word of this variant.
    pub fn kind(&self) -> Action {
        match self {
            FaultAction::Kill { .. } => Action::Kill,
            FaultAction::Stop { .. } => Action::Stop,
            FaultAction::Start { .. } => Action::Start,
            FaultAction::Restart { .. } => Action::Restart,
            FaultAction::Pause { .. } => Action::Pause,
            FaultAction::Resume { .. } => Action::Resume,
            FaultAction::Latency { .. } => Action::Latency,
            FaultAction::Bandwidth { .. } => Action::Bandwidth,
            FaultAction::Timeout { .. } => Action::Timeout,
            FaultAction::Blackhole { .. } => Action::Blackhole,
            FaultAction::ResetPeer { .. } => Action::ResetPeer,
            FaultAction::Slicer { .. } => Action::Slicer,
            FaultAction::LimitData { .. } => Action::LimitData,
            FaultAction::SlowClose { .. } => Action::SlowClose,
            FaultAction::Down { .. } => Action::Down,
            FaultAction::Partition { .. } => Action::Partition,
        }
    }

    /// The snake_case word of the scenario file.
    pub fn as_str(&self) -> &'static str {
        self.kind().as_str()
    }

    /// What the fault is aimed at.
    pub fn on(&self) -> On<'_> {
        match self {
            FaultAction::Kill { on }
            | FaultAction::Stop { on, .. }
            | FaultAction::Start { on }
            | FaultAction::Restart { on, .. }
            | FaultAction::Pause { on }
            | FaultAction::Resume { on } => On::Service(on),
            FaultAction::Latency { on, .. }
            | FaultAction::Bandwidth { on, .. }
            | FaultAction::Timeout { on, .. }
            | FaultAction::Blackhole { on, .. }
            | FaultAction::ResetPeer { on, .. }
            | FaultAction::Slicer { on, .. }
            | FaultAction::LimitData { on, .. }
            | FaultAction::SlowClose { on, .. }
            | FaultAction::Down { on } => On::Link(on),
            FaultAction::Partition { on } => On::Links(on),
        }
    }

    /// The stream and toxicity of a toxic; none for an action that adds no toxic.
    pub fn toxic(&self) -> Option<&ToxicOptions> {
        match self {
            FaultAction::Kill { .. }
            | FaultAction::Stop { .. }
            | FaultAction::Start { .. }
            | FaultAction::Restart { .. }
            | FaultAction::Pause { .. }
            | FaultAction::Resume { .. }
            | FaultAction::Down { .. }
            | FaultAction::Partition { .. } => None,
            FaultAction::Latency { toxic, .. }
            | FaultAction::Bandwidth { toxic, .. }
            | FaultAction::Timeout { toxic, .. }
            | FaultAction::Blackhole { toxic, .. }
            | FaultAction::ResetPeer { toxic, .. }
            | FaultAction::Slicer { toxic, .. }
            | FaultAction::LimitData { toxic, .. }
            | FaultAction::SlowClose { toxic, .. } => Some(toxic),
        }
    }

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

    fn validate(&self, key: &str, names: &Names, v: &mut Vec<Problem>) {
        if let Some(t) = self.toxic().and_then(|t| t.toxicity) {
            if !(0.0..=1.0).contains(&t) {
                push(v, format!("{key}.toxicity"), "a share between 0 and 1");
            }
        }
        match self {
            // The embedded proxy would refuse the toxic mid-run; say so before anything starts.
            FaultAction::ResetPeer { .. } => {
                if !names.reset_peer {
                    push(
                        v,
                        format!("{key}.action"),
                        "the embedded fault proxy (noxious) has no `reset_peer` toxic; use `timeout` or `down` here, \
                         or real Toxiproxy (`--target docker`)",
                    );
                }
            }
            FaultAction::Kill { .. }
            | FaultAction::Stop { .. }
            | FaultAction::Start { .. }
            | FaultAction::Restart { .. }
            | FaultAction::Pause { .. }
            | FaultAction::Resume { .. }
            | FaultAction::Latency { .. }
            | FaultAction::Bandwidth { .. }
            | FaultAction::Timeout { .. }
            | FaultAction::Blackhole { .. }
            | FaultAction::Slicer { .. }
            | FaultAction::LimitData { .. }
            | FaultAction::SlowClose { .. }
            | FaultAction::Down { .. }
            | FaultAction::Partition { .. } => {}
        }
        let (what, known) = match self.on() {
            On::Service(_) => ("service", &names.services),
            On::Link(_) | On::Links(_) => ("link", &names.links),
        };
        for (k, name) in self.on().named() {
            if !known.iter().any(|n| n == name) {
                push(v, format!("{key}.{k}"), unknown(what, name, known));
            }
        }
    }

    /// Builds the variant of `a` from the values read; the keys were already checked to
    /// belong to `a`, so every slot this leaves behind is empty.
    fn build(a: Action, s: &mut Slots) -> Result<FaultAction, String> {
        Ok(match a {
            Action::Kill => FaultAction::Kill { on: s.service(a)? },
            Action::Stop => FaultAction::Stop {
                on: s.service(a)?,
                grace: s.grace,
            },
            Action::Start => FaultAction::Start { on: s.service(a)? },
            Action::Restart => FaultAction::Restart {
                on: s.service(a)?,
                grace: s.grace,
            },
            Action::Pause => FaultAction::Pause { on: s.service(a)? },
            Action::Resume => FaultAction::Resume { on: s.service(a)? },
            Action::Latency => FaultAction::Latency {
                on: s.link(a)?,
                latency: need(a, Key::Latency, s.latency)?,
                jitter: s.jitter,
                toxic: s.toxic(),
            },
            Action::Bandwidth => FaultAction::Bandwidth {
                on: s.link(a)?,
                rate_kb: need(a, Key::RateKb, s.rate_kb)?,
                toxic: s.toxic(),
            },
            Action::Timeout => FaultAction::Timeout {
                on: s.link(a)?,
                timeout: s.timeout,
                toxic: s.toxic(),
            },
            Action::Blackhole => FaultAction::Blackhole {
                on: s.link(a)?,
                toxic: s.toxic(),
            },
            Action::ResetPeer => FaultAction::ResetPeer {
                on: s.link(a)?,
                timeout: s.timeout,
                toxic: s.toxic(),
            },
            Action::Slicer => FaultAction::Slicer {
                on: s.link(a)?,
                average_size: need(a, Key::AverageSize, s.average_size)?,
                size_variation: s.size_variation,
                delay: s.delay,
                toxic: s.toxic(),
            },
            Action::LimitData => FaultAction::LimitData {
                on: s.link(a)?,
                bytes: need(a, Key::Bytes, s.bytes)?,
                toxic: s.toxic(),
            },
            Action::SlowClose => FaultAction::SlowClose {
                on: s.link(a)?,
                delay: need(a, Key::Delay, s.delay)?,
                toxic: s.toxic(),
            },
            Action::Down => FaultAction::Down { on: s.link(a)? },
            Action::Partition => FaultAction::Partition { on: s.links(a)? },
        })
    }

    /// Writes the action's own keys other than its target, in the order of the old flat
    /// struct (`grace`, `latency`, `jitter`, `rate_kb`, `timeout`, `average_size`,
    /// `size_variation`, `delay`, `bytes`, `stream`, `toxicity`), so journals read the same.
    fn write_keys<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        match self {
            FaultAction::Kill { .. }
            | FaultAction::Start { .. }
            | FaultAction::Pause { .. }
            | FaultAction::Resume { .. }
            | FaultAction::Down { .. }
            | FaultAction::Partition { .. } => Ok(()),
            FaultAction::Stop { grace, .. } | FaultAction::Restart { grace, .. } => {
                opt(m, Key::Grace, grace)
            }
            FaultAction::Latency {
                latency,
                jitter,
                toxic,
                ..
            } => {
                m.serialize_entry(Key::Latency.as_str(), latency)?;
                opt(m, Key::Jitter, jitter)?;
                toxic.write(m)
            }
            FaultAction::Bandwidth { rate_kb, toxic, .. } => {
                m.serialize_entry(Key::RateKb.as_str(), rate_kb)?;
                toxic.write(m)
            }
            FaultAction::Timeout { timeout, toxic, .. }
            | FaultAction::ResetPeer { timeout, toxic, .. } => {
                opt(m, Key::Timeout, timeout)?;
                toxic.write(m)
            }
            FaultAction::Blackhole { toxic, .. } => toxic.write(m),
            FaultAction::Slicer {
                average_size,
                size_variation,
                delay,
                toxic,
                ..
            } => {
                m.serialize_entry(Key::AverageSize.as_str(), average_size)?;
                opt(m, Key::SizeVariation, size_variation)?;
                opt(m, Key::Delay, delay)?;
                toxic.write(m)
            }
            FaultAction::LimitData { bytes, toxic, .. } => {
                m.serialize_entry(Key::Bytes.as_str(), bytes)?;
                toxic.write(m)
            }
            FaultAction::SlowClose { delay, toxic, .. } => {
                m.serialize_entry(Key::Delay.as_str(), delay)?;
                toxic.write(m)
            }
        }
    }
}

impl Fault {
    /// Every rule this fault breaks against the stack's `names`; `key` is its path
    /// (`faults[2]`). What types already guarantee (keys of the action, required values) was
    /// refused while parsing.
    pub fn validate(&self, key: &str, names: &Names, v: &mut Vec<Problem>) {
        if self.duration.is_some_and(|d| d.get().is_zero()) {
            push(
                v,
                format!("{key}.duration"),
                "must be more than 0s (leave it out for a fault that stays)",
            );
        }
        self.action.validate(key, names, v);
    }

    /// The extra rules of a nemesis pool entry: the nemesis gives it its time and duration,
    /// and it must be a fault that heals (else the nemesis would stack repairs, not faults).
    pub fn validate_pool_entry(&self, key: &str, v: &mut Vec<Problem>) {
        if self.at.is_some() {
            push(
                v,
                format!("{key}.at"),
                "pool entries get their time from the nemesis; remove `at`",
            );
        }
        if self.duration.is_some() {
            push(
                v,
                format!("{key}.duration"),
                "pool entries last `nemesis.duration`; remove `duration`",
            );
        }
        if !self.action.heals() {
            push(
                v,
                format!("{key}.action"),
                "pick faults that heal (kill, stop, pause or a network fault)",
            );
        }
    }
}

fn push(v: &mut Vec<Problem>, key: String, message: impl Into<String>) {
    v.push(Problem {
        key,
        message: message.into(),
    });
}

/// What a fault is aimed at, whichever its action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On<'a> {
    Service(&'a ServiceTarget),
    Link(&'a LinkTarget),
    Links(&'a LinksTarget),
}

impl<'a> On<'a> {
    /// Every name the file gives, with the key that gives it (`service`, `random[1]`).
    fn named(self) -> Vec<(String, &'a str)> {
        let indexed = |key: Key, names: &'a [String]| {
            names
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("{}[{i}]", key.as_str()), n.as_str()))
                .collect()
        };
        match self {
            On::Service(ServiceTarget::Service(s)) => vec![(Key::Service.as_str().into(), s)],
            On::Link(LinkTarget::Link(l)) => vec![(Key::Link.as_str().into(), l)],
            On::Links(LinksTarget::Links(l)) => indexed(Key::Links, l),
            On::Service(ServiceTarget::Random(r))
            | On::Link(LinkTarget::Random(r))
            | On::Links(LinksTarget::Random(r)) => indexed(Key::Random, r),
        }
    }

    /// Writes the target key (`service`, `link`, `links` or `random`).
    fn write<M: SerializeMap>(self, m: &mut M) -> Result<(), M::Error> {
        match self {
            On::Service(ServiceTarget::Service(s)) => m.serialize_entry(Key::Service.as_str(), s),
            On::Link(LinkTarget::Link(l)) => m.serialize_entry(Key::Link.as_str(), l),
            On::Links(LinksTarget::Links(l)) => m.serialize_entry(Key::Links.as_str(), l),
            On::Service(ServiceTarget::Random(r))
            | On::Link(LinkTarget::Random(r))
            | On::Links(LinksTarget::Random(r)) => m.serialize_entry(Key::Random.as_str(), r),
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
    Stop { grace_ms: u64 },
    Start,
    Restart { grace_ms: u64 },
    Pause,
    Resume,
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

    fn write<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        opt(m, Key::Stream, &self.stream)?;
        opt(m, Key::Toxicity, &self.toxicity)
    }
}

/// Toxiproxy's milliseconds, saturating: a duration too long for a u64 of them is forever anyway.
fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn opt<M: SerializeMap, T: Serialize>(m: &mut M, k: Key, v: &Option<T>) -> Result<(), M::Error> {
    match v {
        Some(v) => m.serialize_entry(k.as_str(), v),
        None => Ok(()),
    }
}

/// Every key a fault may have, across actions, in the order a fault is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    At,
    Action,
    Service,
    Link,
    Links,
    Random,
    Duration,
    Grace,
    Latency,
    Jitter,
    RateKb,
    Timeout,
    AverageSize,
    SizeVariation,
    Delay,
    Bytes,
    Stream,
    Toxicity,
    Expect,
}

impl Key {
    const ALL: [Key; 19] = [
        Key::At,
        Key::Action,
        Key::Service,
        Key::Link,
        Key::Links,
        Key::Random,
        Key::Duration,
        Key::Grace,
        Key::Latency,
        Key::Jitter,
        Key::RateKb,
        Key::Timeout,
        Key::AverageSize,
        Key::SizeVariation,
        Key::Delay,
        Key::Bytes,
        Key::Stream,
        Key::Toxicity,
        Key::Expect,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Key::At => "at",
            Key::Action => "action",
            Key::Service => "service",
            Key::Link => "link",
            Key::Links => "links",
            Key::Random => "random",
            Key::Duration => "duration",
            Key::Grace => "grace",
            Key::Latency => "latency",
            Key::Jitter => "jitter",
            Key::RateKb => "rate_kb",
            Key::Timeout => "timeout",
            Key::AverageSize => "average_size",
            Key::SizeVariation => "size_variation",
            Key::Delay => "delay",
            Key::Bytes => "bytes",
            Key::Stream => "stream",
            Key::Toxicity => "toxicity",
            Key::Expect => "expect",
        }
    }

    fn parse(s: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// A value to show in "needs" messages (and the tests' sample faults).
    fn example(self) -> &'static str {
        match self {
            Key::At => "5s",
            Key::Action => "kill",
            Key::Service => "inventory-worker",
            Key::Link => "api-redis",
            Key::Links | Key::Random => "[api-redis, kafka]",
            Key::Duration => "10s",
            Key::Grace => "5s",
            Key::Latency => "100ms",
            Key::Jitter => "10ms",
            Key::RateKb => "64",
            Key::Timeout => "1s",
            Key::AverageSize => "64",
            Key::SizeVariation => "16",
            Key::Delay => "500ms",
            Key::Bytes => "1024",
            Key::Stream => "both",
            Key::Toxicity => "0.5",
            Key::Expect => "{ p99: \"< 1s\" }",
        }
    }

    /// `random` stands in for the target key; the two together are ambiguous.
    fn excludes(self, other: Key) -> bool {
        let target = |k: Key| matches!(k, Key::Service | Key::Link | Key::Links);
        (self == Key::Random && target(other)) || (other == Key::Random && target(self))
    }

    /// The JSON Schema of this key's value in a fault of action `a`.
    fn schema(self, g: &mut SchemaGenerator, a: Action) -> Value {
        let dur = |g: &mut SchemaGenerator, doc: &str| described(g.subschema_for::<Dur>(), doc);
        let count = |doc: &str| json!({ "type": "integer", "format": "uint64", "minimum": 0, "description": doc });
        let names = |doc: &str| json!({ "type": "array", "items": { "type": "string" }, "minItems": 1, "description": doc });
        match self {
            Key::At => dur(
                g,
                "When, from the start of the load (required in `faults`, absent in a nemesis pool).",
            ),
            Key::Action => json!({ "const": a.as_str(), "description": a.spec().doc }),
            Key::Service => json!({
                "type": "string",
                "description": "The service (`ingestion-api` = one replica chosen by the seed, `ingestion-api#2` = that replica).",
            }),
            Key::Link => json!({
                "type": "string",
                "description": "The link (a Toxiproxy proxy name).",
            }),
            Key::Links => names("The links cut together."),
            Key::Random => names(match a.spec().target {
                Target::Service => "Instead of `service`: one of these, chosen with the run's seed.",
                Target::Link => "Instead of `link`: one of these, chosen with the run's seed.",
                Target::Links => "Instead of `links`: one of these, chosen with the run's seed.",
            }),
            Key::Duration => dur(
                g,
                "Heal after this long (the opposite action, or the toxic removed).",
            ),
            Key::Grace => dur(g, "How long SIGTERM may take before SIGKILL (default 10s)."),
            Key::Latency => dur(g, "Added delay."),
            Key::Jitter => dur(g, "± variation of the delay."),
            Key::RateKb => count("KB/s."),
            Key::Timeout => dur(g, "When the connection is closed (0 or absent = never)."),
            Key::AverageSize => count("Mean piece size in bytes."),
            Key::SizeVariation => count("± bytes."),
            Key::Delay => dur(
                g,
                "`slicer`: delay between pieces; `slow_close`: delay of the close.",
            ),
            Key::Bytes => count("Bytes before the close."),
            Key::Stream => described(
                g.subschema_for::<Stream>(),
                "Direction (default `downstream`; `timeout` and `blackhole`: `both`).",
            ),
            Key::Toxicity => json!({
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "description": "Share of connections affected (0–1, default 1).",
            }),
            Key::Expect => described(
                g.subschema_for::<WindowExpect>(),
                "What must hold while this fault is on (instead of the scenario-wide `expect`).",
            ),
        }
    }
}

fn described(mut s: Schema, doc: &str) -> Value {
    s.insert("description".into(), doc.into());
    s.to_value()
}

/// `` `a`, `b`, `c` ``
fn listed(keys: impl IntoIterator<Item = Key>) -> String {
    keys.into_iter()
        .map(|k| format!("`{}`", k.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn misplaced(key: Key, a: Action) -> String {
    format!(
        "`{}` does not apply to `{}`; remove it (`{}` takes {})",
        key.as_str(),
        a.as_str(),
        a.as_str(),
        listed(a.spec().keys.iter().copied().filter(|k| *k != Key::Action)),
    )
}

fn need<T>(a: Action, key: Key, v: Option<T>) -> Result<T, String> {
    v.ok_or_else(|| {
        format!(
            "`{}` needs `{}`, like `{}: {}`",
            a.as_str(),
            key.as_str(),
            key.as_str(),
            key.example()
        )
    })
}

/// The values of a fault's keys as they are read, before its action's variant is built.
#[derive(Default)]
struct Slots {
    /// The keys read so far, in order.
    seen: Vec<Key>,
    at: Option<Dur>,
    action: Option<Action>,
    service: Option<String>,
    link: Option<String>,
    links: Option<Vec<String>>,
    random: Option<Vec<String>>,
    duration: Option<Dur>,
    grace: Option<Dur>,
    latency: Option<Dur>,
    jitter: Option<Dur>,
    rate_kb: Option<u64>,
    timeout: Option<Dur>,
    average_size: Option<u64>,
    size_variation: Option<u64>,
    delay: Option<Dur>,
    bytes: Option<u64>,
    stream: Option<Stream>,
    toxicity: Option<f32>,
    expect: Option<WindowExpect>,
}

impl Slots {
    /// Reads the value of `key` into its slot. A null value counts as the key left out, as
    /// it did for the optional fields of the flat struct this replaced (lists excepted).
    fn read<'de, A: MapAccess<'de>>(&mut self, key: Key, map: &mut A) -> Result<(), A::Error> {
        match key {
            Key::At => self.at = map.next_value()?,
            Key::Action => self.action = Some(map.next_value()?),
            Key::Service => self.service = map.next_value()?,
            Key::Link => self.link = map.next_value()?,
            Key::Links => self.links = map.next_value_seed(NamesSeed(key))?,
            Key::Random => self.random = map.next_value_seed(NamesSeed(key))?,
            Key::Duration => self.duration = map.next_value()?,
            Key::Grace => self.grace = map.next_value()?,
            Key::Latency => self.latency = map.next_value()?,
            Key::Jitter => self.jitter = map.next_value()?,
            Key::RateKb => self.rate_kb = map.next_value()?,
            Key::Timeout => self.timeout = map.next_value()?,
            Key::AverageSize => self.average_size = map.next_value()?,
            Key::SizeVariation => self.size_variation = map.next_value()?,
            Key::Delay => self.delay = map.next_value()?,
            Key::Bytes => self.bytes = map.next_value()?,
            Key::Stream => self.stream = map.next_value()?,
            Key::Toxicity => self.toxicity = map.next_value()?,
            Key::Expect => self.expect = map.next_value()?,
        }
        Ok(())
    }

    /// After the mapping: the checks that need the whole of it. Raised here, an error carries
    /// the fault mapping's place.
    fn finish<E: de::Error>(mut self) -> Result<Fault, E> {
        let Some(action) = self.action else {
            return Err(E::missing_field("action"));
        };
        // Keys written before `action` could not be checked against it when they were read.
        if let Some(k) = self.seen.iter().find(|k| !action.takes(**k)) {
            return Err(E::custom(misplaced(*k, action)));
        }
        let built = FaultAction::build(action, &mut self).map_err(E::custom)?;
        Ok(Fault {
            at: self.at,
            duration: self.duration,
            expect: self.expect,
            action: built,
        })
    }

    fn service(&mut self, a: Action) -> Result<ServiceTarget, String> {
        match (self.service.take(), self.random.take()) {
            (Some(s), None) => Ok(ServiceTarget::Service(s)),
            (None, Some(r)) => Ok(ServiceTarget::Random(r)),
            (Some(_), Some(_)) => Err(both(Key::Service)),
            (None, None) => Err(format!(
                "`{}` needs a service, like `service: inventory-worker`",
                a.as_str()
            )),
        }
    }

    fn link(&mut self, a: Action) -> Result<LinkTarget, String> {
        match (self.link.take(), self.random.take()) {
            (Some(l), None) => Ok(LinkTarget::Link(l)),
            (None, Some(r)) => Ok(LinkTarget::Random(r)),
            (Some(_), Some(_)) => Err(both(Key::Link)),
            (None, None) => Err(format!(
                "`{}` needs a link, like `link: api-redis`",
                a.as_str()
            )),
        }
    }

    fn links(&mut self, a: Action) -> Result<LinksTarget, String> {
        match (self.links.take(), self.random.take()) {
            (Some(l), None) => Ok(LinksTarget::Links(l)),
            (None, Some(r)) => Ok(LinksTarget::Random(r)),
            (Some(_), Some(_)) => Err(both(Key::Links)),
            (None, None) => Err(format!(
                "`{}` needs the links it cuts, like `links: [api-redis, kafka]`",
                a.as_str()
            )),
        }
    }

    fn toxic(&self) -> ToxicOptions {
        ToxicOptions {
            stream: self.stream,
            toxicity: self.toxicity,
        }
    }
}

fn both(target: Key) -> String {
    format!("give `{}` or `random`, not both", target.as_str())
}

impl<'de> Deserialize<'de> for Fault {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FaultVisitor)
    }
}

struct FaultVisitor;

impl<'de> Visitor<'de> for FaultVisitor {
    type Value = Fault;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a fault, like `{ at: 5s, action: kill, service: inventory-worker }`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fault, A::Error> {
        let mut slots = Slots::default();
        while let Some(key) = map.next_key_seed(KeySeed {
            action: slots.action,
            seen: &slots.seen,
        })? {
            slots.seen.push(key);
            slots.read(key, &mut map)?;
        }
        slots.finish()
    }
}

/// Reads one key of a fault, knowing the action (if its key came first) and the keys before:
/// an error here is raised while serde_yaml reads the key, so it is placed at the key.
struct KeySeed<'a> {
    action: Option<Action>,
    seen: &'a [Key],
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a fault key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        let Some(key) = Key::parse(v) else {
            // Worded as serde words it, so `yaml::suggest` offers the closest key — of this
            // action when it is known.
            let keys = self.action.map_or(&Key::ALL[..], |a| a.spec().keys);
            return Err(E::custom(format!(
                "unknown field `{v}`, expected one of {}",
                listed(keys.iter().copied())
            )));
        };
        if let Some(a) = self.action.filter(|a| !a.takes(key)) {
            return Err(E::custom(misplaced(key, a)));
        }
        if self.seen.contains(&key) {
            return Err(E::duplicate_field(key.as_str()));
        }
        if let Some(other) = self.seen.iter().find(|k| k.excludes(key)) {
            let target = if key == Key::Random { *other } else { key };
            return Err(E::custom(both(target)));
        }
        Ok(key)
    }
}

/// A list of names (`links`, `random`). Empty is an error, placed at the list: `random: []` is
/// nothing to choose from, and `links: []` cuts nothing.
struct NamesSeed(Key);

impl<'de> DeserializeSeed<'de> for NamesSeed {
    type Value = Option<Vec<String>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for NamesSeed {
    type Value = Option<Vec<String>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of names, like `{}`", self.0.example())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut names = Vec::new();
        while let Some(n) = seq.next_element::<String>()? {
            names.push(n);
        }
        if names.is_empty() {
            return Err(de::Error::custom(format!(
                "`{}` is empty; list at least one name, like `{}: {}`",
                self.0.as_str(),
                self.0.as_str(),
                self.0.example()
            )));
        }
        Ok(Some(names))
    }
}

/// The flat mapping the file and the journal use: `at`, `action`, the target, `duration`, the
/// action's own keys, `expect` — the order of the flat struct this type replaced, so journals
/// serialize byte for byte as before.
impl Serialize for Fault {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        opt(&mut m, Key::At, &self.at)?;
        m.serialize_entry(Key::Action.as_str(), &self.action.kind())?;
        self.action.on().write(&mut m)?;
        opt(&mut m, Key::Duration, &self.duration)?;
        self.action.write_keys(&mut m)?;
        opt(&mut m, Key::Expect, &self.expect)?;
        m.end()
    }
}

/// One schema per action (`oneOf`), each with `action` fixed to its word, only its own keys
/// (`additionalProperties: false`), what it requires, and its target or `random` — not both.
impl JsonSchema for Fault {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("Fault")
    }

    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let one_of: Vec<Value> = Action::ALL
            .into_iter()
            .map(|a| {
                let spec = a.spec();
                let properties: serde_json::Map<String, Value> = spec
                    .keys
                    .iter()
                    .map(|k| (k.as_str().to_owned(), k.schema(g, a)))
                    .collect();
                let required: Vec<&str> = std::iter::once(Key::Action)
                    .chain(spec.needs.iter().copied())
                    .map(Key::as_str)
                    .collect();
                json!({
                    "title": spec.word,
                    "description": spec.doc,
                    "type": "object",
                    "properties": properties,
                    "required": required,
                    "oneOf": [
                        { "required": [spec.target.key().as_str()] },
                        { "required": [Key::Random.as_str()] },
                    ],
                    "additionalProperties": false,
                })
            })
            .collect();
        json_schema!({
            "description": "One fault. `action` decides which keys it takes; `at` is required in `faults` and absent in a nemesis pool.",
            "oneOf": one_of,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{parse_str, Scenario, ScenarioError};
    use crate::yaml::SyntaxError;

    const HEAD: &str = "name: t\nsale: { product: p, stock: 10 }\nload: { model: arrival-rate, rate: 10/s, duration: 60s }\n";

    fn parse(faults: &str) -> Result<Scenario, ScenarioError> {
        parse_str(&format!("{HEAD}faults:\n{faults}"), "s.yaml")
    }

    fn fault(f: &str) -> Fault {
        match parse(&format!("  - {f}\n")) {
            Ok(mut s) if s.faults.len() == 1 => s.faults.remove(0),
            other => panic!("{f}: {other:?}"),
        }
    }

    fn syntax(faults: &str) -> SyntaxError {
        match parse(faults) {
            Err(ScenarioError::Syntax(e)) => *e,
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    /// (line, column, key path, message) of the error, and the line as shown.
    fn placed(faults: &str) -> (usize, usize, String, String) {
        let e = syntax(faults);
        let (Some(l), Some(c)) = (e.line, e.column) else {
            panic!("not placed: {e}");
        };
        (l, c, e.key.clone(), e.to_string())
    }

    #[test]
    fn a_key_of_another_action_is_refused_at_the_key() {
        // Block style: the key on its own line.
        let (l, c, key, shown) =
            placed("  - at: 1s\n    action: kill\n    service: redis\n    latency: 5ms\n");
        assert_eq!((l, c, key.as_str()), (8, 5, "faults[0].latency"), "{shown}");
        assert_eq!(
            shown,
            "s.yaml:8:5: at `faults[0].latency`: `latency` does not apply to `kill`; remove it \
             (`kill` takes `at`, `service`, `random`, `duration`, `expect`)"
        );
        // Flow style: the key's own column.
        let (l, c, key, shown) =
            placed("  - { at: 1s, action: kill, service: redis, latency: 5ms }\n");
        assert_eq!(
            (l, c, key.as_str()),
            (5, 45, "faults[0].latency"),
            "{shown}"
        );
        let (_, _, _, shown) =
            placed("  - { at: 1s, action: start, service: redis, duration: 5s }\n");
        assert!(
            shown.contains("`duration` does not apply to `start`; remove it"),
            "{shown}"
        );
    }

    #[test]
    fn a_key_before_action_is_checked_once_action_is_known() {
        // Only the whole mapping is known by then: the error points at the fault.
        let (l, c, key, shown) =
            placed("  - { latency: 5ms, at: 1s, action: kill, service: redis }\n");
        assert_eq!((l, c, key.as_str()), (5, 5, "faults[0]"), "{shown}");
        assert!(shown.ends_with("`latency` does not apply to `kill`; remove it (`kill` takes `at`, `service`, `random`, `duration`, `expect`)"), "{shown}");
    }

    #[test]
    fn a_misspelt_key_is_placed_and_a_key_of_its_action_suggested() {
        let (l, c, key, shown) = placed("  - { at: 1s, action: kill, servce: redis }\n");
        assert_eq!((l, c, key.as_str()), (5, 29, "faults[0].servce"), "{shown}");
        assert_eq!(
            shown,
            "s.yaml:5:29: at `faults[0].servce`: unknown field `servce`, expected one of `at`, \
             `action`, `service`, `random`, `duration`, `expect` — did you mean `service`?"
        );
        // Before `action` every fault key is a candidate.
        let e = syntax("  - { latncy: 5ms, action: latency, link: kafka }\n");
        assert_eq!(e.suggestion.as_deref(), Some("latency"), "{e}");
        // Once the action is known, only its keys are: `lnk` is `link`, not `links`.
        let e = syntax("  - { action: down, lnk: kafka }\n");
        assert_eq!(e.suggestion.as_deref(), Some("link"), "{e}");
        let e = syntax("  - { action: partition, lnks: [kafka] }\n");
        assert_eq!(e.suggestion.as_deref(), Some("links"), "{e}");
    }

    #[test]
    fn a_bad_value_is_placed_at_the_value() {
        let (l, c, key, shown) =
            placed("  - { at: 1s, action: latency, link: api-redis, latency: fast }\n");
        assert_eq!(
            (l, c, key.as_str()),
            (5, 58, "faults[0].latency"),
            "{shown}"
        );
        assert!(shown.ends_with("`fast` is not a duration (expected number at 0); write it like `5s`, `250ms` or `1m30s`"), "{shown}");
        let (l, c, key, shown) =
            placed("  - { at: 1s, action: bandwidth, link: kafka, rate_kb: lots }\n");
        assert_eq!(
            (l, c, key.as_str()),
            (5, 56, "faults[0].rate_kb"),
            "{shown}"
        );
        assert!(
            shown.contains("invalid type: string \"lots\", expected u64"),
            "{shown}"
        );
        let (l, c, key, shown) = placed("  - { at: 1s, action: down, random: [] }\n");
        assert_eq!((l, c, key.as_str()), (5, 37, "faults[0].random"), "{shown}");
        assert!(
            shown.ends_with(
                "`random` is empty; list at least one name, like `random: [api-redis, kafka]`"
            ),
            "{shown}"
        );
    }

    #[test]
    fn a_missing_key_is_named_at_the_fault() {
        let (l, c, key, shown) = placed("  - { at: 1s, action: latency, link: api-redis }\n");
        assert_eq!((l, c, key.as_str()), (5, 5, "faults[0]"), "{shown}");
        assert_eq!(
            shown,
            "s.yaml:5:5: at `faults[0]`: `latency` needs `latency`, like `latency: 100ms`"
        );
        let (l, c, _, shown) = placed("  - at: 1s\n    action: kill\n");
        assert_eq!((l, c), (5, 5), "{shown}");
        assert!(
            shown.ends_with("`kill` needs a service, like `service: inventory-worker`"),
            "{shown}"
        );
        for (f, want) in [
            (
                "{ action: down }",
                "`down` needs a link, like `link: api-redis`",
            ),
            (
                "{ action: partition }",
                "`partition` needs the links it cuts, like `links: [api-redis, kafka]`",
            ),
            (
                "{ action: slow_close, link: kafka }",
                "`slow_close` needs `delay`, like `delay: 500ms`",
            ),
            ("{ service: redis }", "missing field `action`"),
        ] {
            let shown = syntax(&format!("  - {f}\n")).to_string();
            assert!(shown.ends_with(want), "{f}: {shown}");
        }
    }

    #[test]
    fn a_target_and_random_together_are_refused_at_the_second() {
        let (l, c, key, shown) =
            placed("  - { at: 1s, action: kill, service: redis, random: [kafka] }\n");
        assert_eq!((l, c, key.as_str()), (5, 45, "faults[0].random"), "{shown}");
        assert!(
            shown.ends_with("give `service` or `random`, not both"),
            "{shown}"
        );
        let e = syntax("  - { random: [a], links: [b], action: partition }\n");
        assert!(
            e.message.ends_with("give `links` or `random`, not both"),
            "{e}"
        );
        let (l, c, _, shown) = placed("  - { at: 1s, action: kill, service: redis, at: 2s }\n");
        assert_eq!((l, c), (5, 45), "{shown}");
        assert!(shown.ends_with("duplicate field `at`"), "{shown}");
    }

    #[test]
    fn a_null_value_is_a_key_left_out_but_not_a_list() {
        let f = fault("{ at: 1s, action: timeout, link: kafka, timeout: ~, stream: ~ }");
        assert_eq!(
            f.action,
            FaultAction::Timeout {
                on: LinkTarget::Link("kafka".into()),
                timeout: None,
                toxic: ToxicOptions::default()
            }
        );
        let e = syntax("  - { at: 1s, action: down, random: ~ }\n");
        assert!(e.message.contains("expected a list of names"), "{e}");
    }

    /// A fault of `a` with every key it takes except `random` (and `omit`), each with its
    /// example value.
    fn sample(a: Action, omit: Option<Key>) -> String {
        let entries: Vec<String> = a
            .spec()
            .keys
            .iter()
            .filter(|k| **k != Key::Random && Some(**k) != omit)
            .map(|k| match k {
                Key::Action => format!("action: {}", a.as_str()),
                other => format!("{}: {}", other.as_str(), other.example()),
            })
            .collect();
        format!("{{ {} }}", entries.join(", "))
    }

    #[test]
    fn every_action_takes_its_keys_writes_them_in_order_and_needs_what_it_says() {
        for a in Action::ALL {
            let spec = a.spec();
            assert!(spec.keys.contains(&spec.target.key()), "{}", spec.word);
            assert!(
                spec.needs.iter().all(|k| spec.keys.contains(k)),
                "{}",
                spec.word
            );
            let f = fault(&sample(a, None));
            assert_eq!(f.action.kind(), a);
            assert_eq!(f.action.as_str(), spec.word);
            // Written back with exactly its keys, in the spec's order.
            let json = serde_json::to_value(&f).unwrap_or_default();
            let written: Vec<&str> = json
                .as_object()
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            let mut want: Vec<&str> = spec
                .keys
                .iter()
                .filter(|k| **k != Key::Random)
                .map(|k| k.as_str())
                .collect();
            want.sort_unstable(); // serde_json's map sorts; the order is checked on YAML below
            assert_eq!(written, want, "{}", spec.word);
            let yaml = serde_yaml::to_string(&f).unwrap_or_default();
            let order: Vec<&str> = yaml
                .lines()
                .filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase()))
                .filter_map(|l| l.split(':').next())
                .collect();
            let in_spec: Vec<&str> = spec
                .keys
                .iter()
                .filter(|k| **k != Key::Random)
                .map(|k| k.as_str())
                .collect();
            assert_eq!(order, in_spec, "{yaml}");
            // Each key it needs is needed; every other may be left out.
            for k in spec
                .keys
                .iter()
                .copied()
                .filter(|k| !matches!(k, Key::Action | Key::Random))
            {
                let r = parse(&format!("  - {}\n", sample(a, Some(k))));
                let needed = spec.needs.contains(&k) || k == spec.target.key();
                match r {
                    Ok(_) => assert!(!needed, "{} parsed without `{}`", spec.word, k.as_str()),
                    Err(e) => assert!(
                        needed && e.to_string().contains("needs"),
                        "{}: {e}",
                        spec.word
                    ),
                }
            }
            // `random` stands in for the target.
            let with_random =
                sample(a, Some(spec.target.key())).replacen("{ ", "{ random: [a, b], ", 1);
            assert!(fault(&with_random)
                .action
                .on()
                .named()
                .iter()
                .all(|(k, _)| k.starts_with("random[")));
            // A key of no action, and a key of another action, are refused.
            assert!(parse(&format!(
                "  - {}\n",
                sample(a, None).replacen("{ ", "{ colour: red, ", 1)
            ))
            .is_err());
            let foreign = Key::ALL.into_iter().find(|k| !a.takes(*k));
            if let Some(k) = foreign {
                let mut f = sample(a, None);
                f.truncate(f.len() - 2);
                let e = parse(&format!("  - {f}, {}: {} }}\n", k.as_str(), k.example()));
                assert!(
                    matches!(&e, Err(e) if e.to_string().contains("does not apply to")),
                    "{}: {e:?}",
                    spec.word
                );
            }
        }
    }

    /// Every scenario the repository ships, as YAML → Scenario → JSON → Scenario (the journal's
    /// way) and → YAML → Scenario: identity both ways.
    #[test]
    fn every_scenario_file_round_trips() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let mut seen = 0;
        for dir in ["scenarios", "flux-gate-chaos/fixtures/mutants/scenarios"] {
            let Ok(entries) = std::fs::read_dir(format!("{root}/{dir}")) else {
                panic!("no {dir}");
            };
            for path in entries.flatten().map(|e| e.path()) {
                if path.extension().is_none_or(|x| x != "yaml") {
                    continue;
                }
                let s = match crate::scenario::read_file(&path) {
                    Ok(s) => s,
                    Err(e) => panic!("{e}"),
                };
                let json = serde_json::to_string(&s).unwrap_or_default();
                let back: Scenario = match serde_json::from_str(&json) {
                    Ok(b) => b,
                    Err(e) => panic!("{}: {e}\n{json}", path.display()),
                };
                assert_eq!(back, s, "{}", path.display());
                let yaml = serde_yaml::to_string(&s).unwrap_or_default();
                let again = parse_str(&yaml, "again.yaml");
                assert!(
                    matches!(&again, Ok(a) if *a == s),
                    "{}: {again:?}",
                    path.display()
                );
                seen += 1;
            }
        }
        assert!(seen >= 16, "{seen} files");
    }

    #[test]
    fn json_errors_name_the_key_too() {
        let e =
            serde_json::from_str::<Fault>(r#"{"action":"kill","service":"redis","latency":"5ms"}"#)
                .map(|_| ())
                .unwrap_err()
                .to_string();
        assert!(e.contains("`latency` does not apply to `kill`"), "{e}");
        let f = serde_json::from_str::<Fault>(
            r#"{"at":"1s","action":"partition","links":["a","b"],"duration":"2s"}"#,
        );
        assert!(
            matches!(f, Ok(Fault { action: FaultAction::Partition { on: LinksTarget::Links(ref l) }, .. }) if l.len() == 2),
            "{f:?}"
        );
    }

    #[test]
    fn effects() {
        let f = fault("{ at: 1s, action: stop, service: redis }");
        assert_eq!(
            f.action.effect(0),
            Effect::Lifecycle {
                service: Pick::Named("redis"),
                op: Lifecycle::Stop { grace_ms: 10_000 },
                undo: Some(Lifecycle::Start)
            }
        );
        let heals: Vec<&str> = Action::ALL
            .into_iter()
            .filter(|a| !fault(&sample(*a, None)).action.heals())
            .map(Action::as_str)
            .collect();
        assert_eq!(heals, ["start", "restart", "resume"]);
        let f = fault("{ at: 1s, action: slicer, random: [a, b], average_size: 10, delay: 2ms, stream: upstream, toxicity: 0.25 }");
        let Effect::Toxics { link, toxics } = f.action.effect(3) else {
            panic!("{f:?}");
        };
        assert_eq!(link, Pick::OneOf(&["a".to_owned(), "b".to_owned()]));
        assert_eq!(toxics.len(), 1);
        assert_eq!(toxics[0].name, "fgchaos-3-slicer-upstream");
        assert_eq!(toxics[0].toxicity, 0.25);
        assert_eq!(toxics[0].attributes["delay"], 2000, "microseconds");
        assert_eq!(toxics[0].attributes["size_variation"], 0);
        let f = fault("{ at: 1s, action: partition, links: [a, b] }");
        assert_eq!(
            f.action.effect(0),
            Effect::Disable {
                links: vec![Pick::Named("a"), Pick::Named("b")]
            }
        );
    }

    #[test]
    fn the_schema_has_one_closed_object_per_action() {
        let schema = schemars::schema_for!(Scenario).to_value();
        let one_of = schema
            .pointer("/$defs/Fault/oneOf")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        assert_eq!(one_of.len(), Action::ALL.len());
        for (a, s) in Action::ALL.into_iter().zip(&one_of) {
            assert_eq!(
                s.pointer("/properties/action/const"),
                Some(&json!(a.as_str()))
            );
            assert_eq!(s["additionalProperties"], json!(false));
            let props: Vec<&str> = s["properties"]
                .as_object()
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            let mut want: Vec<&str> = a.spec().keys.iter().map(|k| k.as_str()).collect();
            want.sort_unstable();
            assert_eq!(props, want, "{}", a.as_str());
        }
        assert!(schema.pointer("/$defs/Dur").is_some());
        assert!(schema.pointer("/$defs/Stream").is_some());
    }
}
