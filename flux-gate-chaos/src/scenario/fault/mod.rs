//! One fault of a scenario, one enum variant per action word: which keys the file may give it,
//! which it needs, the rules it follows against a stack, and what it does to the system.
//!
//! Adding an action starts in this file: a [`FaultAction`] variant with exactly its keys, its
//! [`Action`] word, and its row of the key table (a `KeyRow` right after that enum: the keys it
//! takes, the ones it needs, the key naming its target). Every `match` on an action lists them
//! all, so the compiler then asks for the action's arm in `effect.rs`, `rules.rs`, `de.rs`,
//! `ser.rs` and `draw.rs`, and nothing falls through a catch-all into another action's
//! behaviour. The schema follows from the table; a key no action had yet goes in `keys.rs`; the
//! action's test goes in `tests.rs`.
//!
//! The other files hold one concern each, for every action:
//!
//! | file | what it holds |
//! |---|---|
//! | `effect.rs` | what an action does to the system ([`Effect`]): a lifecycle operation, toxics, links cut |
//! | `rules.rs` | the rules a fault follows against a stack ([`Fault::validate`]), and a nemesis pool entry's |
//! | `keys.rs` | every key a fault may have, its word and the example value messages show |
//! | `draw.rs` | faults as data to search over: how explore draws an action, how shrink weakens it |
//! | `de.rs` | reading a fault: the map visitor, its key seed and the slots values go into |
//! | `ser.rs` | writing a fault back, key for key in the old flat order, so journals keep their bytes |
//! | `schema.rs` | the JSON Schema: one closed object per action |
//! | `tests.rs` | the format end to end: placed errors, round trips, effects, the schema |
//!
//! Parsing is a hand-written map visitor, not `#[serde(tag = "action")]`: serde buffers an
//! internally tagged enum's mapping before choosing the variant, and every error then loses
//! serde_yaml's `line:column` and serde_path_to_error's key path (docs/decisions.md §31). Here
//! each key is read through `KeySeed` (`de.rs`), which knows the action seen so far, so a key
//! that belongs to another action is refused *while serde_yaml reads that key* and the error
//! carries the key's own place. Values go straight into typed slots, so a bad value is placed too.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Dur, WindowExpect};
use keys::Key;

mod de;
mod draw;
mod effect;
mod keys;
mod rules;
mod schema;
mod ser;

pub use draw::Choices;
pub use effect::{Effect, Lifecycle, NodeOp, Pick, DEFAULT_GRACE, TOXIC_PREFIX};

/// Roles a lifecycle fault may name instead of an instance when Redis runs with Sentinel
/// (`redis_ha` in the stack): resolved to an instance when the fault fires, not when it is
/// planned, because a failover earlier in the run moves them.
pub const PRIMARY_ROLE: &str = "redis-primary";
pub const REPLICA_ROLE: &str = "redis-replica";

/// Whether `name` is a role rather than a service or instance.
pub fn is_role(name: &str) -> bool {
    name == PRIMARY_ROLE || name == REPLICA_ROLE
}

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
    /// Ask a Redis Sentinel to fail the primary over to a replica (`service: redis-primary`).
    Failover { on: ServiceTarget },
    /// Swarm: set a node's availability to `drain`; Swarm stops its tasks and starts them on
    /// the other nodes, if any.
    Drain { on: NodeTarget },
    /// Swarm: set a drained node's availability back to `active`.
    Activate { on: NodeTarget },
    /// Swarm: lose a node: cut it from the other nodes; Swarm marks it down and starts its
    /// tasks on the others.
    Isolate { on: NodeTarget },
    /// Swarm: connect an isolated node to the others again.
    Rejoin { on: NodeTarget },
    /// Swarm: set a service's replica count to `replicas`; Swarm starts or removes tasks.
    Scale { on: ServiceTarget, replicas: u32 },
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

/// The swarm node a node fault hits: its hostname or id, as `docker node ls` shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeTarget {
    /// `node: worker-2`
    Node(String),
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

/// The action word alone, as the journal records it (`Injection.action`) and the file
/// writes it (`action: kill`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
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
    Failover,
    Drain,
    Activate,
    Isolate,
    Rejoin,
    Scale,
}

/// An action's row of the key table: what the file format knows about the action before its
/// value is built. Its word and documentation, the keys it takes (in the order they are written
/// back), which of them it cannot do without, and the key naming its target (`random` may stand
/// in for it). The reader and the schema are built from it, and a test holds the writer to it.
struct KeyRow {
    word: &'static str,
    doc: &'static str,
    keys: &'static [Key],
    needs: &'static [Key],
    target: Target,
}

/// A row's keys, in the order a fault is written back: when, which action, what it hits, how
/// that is chosen, then the action's own keys, then what the run expects of it. A toxic's own
/// keys sit between its duration and the stream and toxicity every toxic takes.
macro_rules! keys {
    (toxic $(, $own:ident)*) => {
        &[Key::At, Key::Action, Key::Link, Key::Random, Key::Duration,
          $(Key::$own,)* Key::Stream, Key::Toxicity, Key::Expect]
    };
    ($target:ident $(; $first:ident $(, $own:ident)*)?) => {
        &[Key::At, Key::Action, Key::$target, Key::Random,
          $(Key::$first, $(Key::$own,)*)? Key::Expect]
    };
}

/// The key table, one row per [`Action`] variant and in their order: a new action's row goes
/// here, and [`Action::row`] asks for it.
impl KeyRow {
    const KILL: KeyRow = KeyRow {
        word: "kill",
        doc: "SIGKILL the service (all its processes); heals by starting it.",
        keys: keys!(Service; Duration),
        needs: &[],
        target: Target::Service,
    };

    const STOP: KeyRow = KeyRow {
        word: "stop",
        doc: "SIGTERM, then SIGKILL after `grace` (default 10s); heals by starting it.",
        keys: keys!(Service; Duration, Grace),
        needs: &[],
        target: Target::Service,
    };

    const START: KeyRow = KeyRow {
        word: "start",
        doc: "Start a stopped or killed service and wait until it is ready.",
        keys: keys!(Service),
        needs: &[],
        target: Target::Service,
    };

    const RESTART: KeyRow = KeyRow {
        word: "restart",
        doc: "Stop (SIGTERM, SIGKILL after `grace`), then start.",
        keys: keys!(Service; Grace),
        needs: &[],
        target: Target::Service,
    };

    const PAUSE: KeyRow = KeyRow {
        word: "pause",
        doc: "SIGSTOP: the service keeps its sockets and answers nothing; heals by resuming it.",
        keys: keys!(Service; Duration),
        needs: &[],
        target: Target::Service,
    };

    const RESUME: KeyRow = KeyRow {
        word: "resume",
        doc: "SIGCONT after `pause`.",
        keys: keys!(Service),
        needs: &[],
        target: Target::Service,
    };

    const LATENCY: KeyRow = KeyRow {
        word: "latency",
        doc: "Toxic: delay every chunk by `latency` ± `jitter`.",
        keys: keys!(toxic, Latency, Jitter),
        needs: &[Key::Latency],
        target: Target::Link,
    };

    const BANDWIDTH: KeyRow = KeyRow {
        word: "bandwidth",
        doc: "Toxic: limit throughput to `rate_kb` KB/s.",
        keys: keys!(toxic, RateKb),
        needs: &[Key::RateKb],
        target: Target::Link,
    };

    const TIMEOUT: KeyRow = KeyRow {
        word: "timeout",
        doc: "Toxic: stop all data, close after `timeout` (0 = never); both streams by default.",
        keys: keys!(toxic, Timeout),
        needs: &[],
        target: Target::Link,
    };

    const BLACKHOLE: KeyRow = KeyRow {
        word: "blackhole",
        doc: "Toxic: stop all data forever (a `timeout` of 0); both streams by default.",
        keys: keys!(toxic),
        needs: &[],
        target: Target::Link,
    };

    const RESET_PEER: KeyRow = KeyRow {
        word: "reset_peer",
        doc: "Toxic: reset connections after `timeout` (real Toxiproxy only).",
        keys: keys!(toxic, Timeout),
        needs: &[],
        target: Target::Link,
    };

    const SLICER: KeyRow = KeyRow {
        word: "slicer",
        doc: "Toxic: cut data into `average_size`-byte pieces, `delay` apart.",
        keys: keys!(toxic, AverageSize, SizeVariation, Delay),
        needs: &[Key::AverageSize],
        target: Target::Link,
    };

    const LIMIT_DATA: KeyRow = KeyRow {
        word: "limit_data",
        doc: "Toxic: close the connection after `bytes` bytes.",
        keys: keys!(toxic, Bytes),
        needs: &[Key::Bytes],
        target: Target::Link,
    };

    const SLOW_CLOSE: KeyRow = KeyRow {
        word: "slow_close",
        doc: "Toxic: delay the close of a connection by `delay`.",
        keys: keys!(toxic, Delay),
        needs: &[Key::Delay],
        target: Target::Link,
    };

    const DOWN: KeyRow = KeyRow {
        word: "down",
        doc: "Disable the proxy: connections refused, open ones closed; heals by enabling it.",
        keys: keys!(Link; Duration),
        needs: &[],
        target: Target::Link,
    };

    const PARTITION: KeyRow = KeyRow {
        word: "partition",
        doc: "Disable every proxy in `links` together; heals by enabling them.",
        keys: keys!(Links; Duration),
        needs: &[],
        target: Target::Links,
    };

    const FAILOVER: KeyRow = KeyRow {
        word: "failover",
        doc: "SENTINEL FAILOVER: a Sentinel promotes a replica of `redis-primary` (the stack needs `redis_ha`).",
        keys: keys!(Service),
        needs: &[],
        target: Target::Service,
    };

    const DRAIN: KeyRow = KeyRow {
        word: "drain",
        doc: "Swarm: set the node's availability to drain (its tasks stop, and move to other nodes if any); heals by activating it.",
        keys: keys!(Node; Duration),
        needs: &[],
        target: Target::Node,
    };

    const ACTIVATE: KeyRow = KeyRow {
        word: "activate",
        doc: "Swarm: set a drained node's availability back to active, and wait until every task of the stack serves again.",
        keys: keys!(Node),
        needs: &[],
        target: Target::Node,
    };

    const ISOLATE: KeyRow = KeyRow {
        word: "isolate",
        doc: "Swarm: lose the node: cut it from the other nodes (the managers mark it down and start its tasks elsewhere; its own tasks run on, cut off); heals by rejoining it.",
        keys: keys!(Node; Duration),
        needs: &[],
        target: Target::Node,
    };

    const REJOIN: KeyRow = KeyRow {
        word: "rejoin",
        doc: "Swarm: connect an isolated node to the other nodes again, and wait until the managers see it ready.",
        keys: keys!(Node),
        needs: &[],
        target: Target::Node,
    };

    const SCALE: KeyRow = KeyRow {
        word: "scale",
        doc: "Swarm: set the service's replica count to `replicas` (1–16), and wait until exactly that many tasks serve; heals by scaling it back to the count it had when the run attached.",
        keys: keys!(Service; Duration, Replicas),
        needs: &[Key::Replicas],
        target: Target::Service,
    };
}

/// The key naming what an action hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Service,
    Link,
    Links,
    Node,
}

impl Target {
    fn key(self) -> Key {
        match self {
            Target::Service => Key::Service,
            Target::Link => Key::Link,
            Target::Links => Key::Links,
            Target::Node => Key::Node,
        }
    }
}

impl Action {
    pub const ALL: [Action; 22] = [
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
        Action::Failover,
        Action::Drain,
        Action::Activate,
        Action::Isolate,
        Action::Rejoin,
        Action::Scale,
    ];

    /// The snake_case word of the scenario file.
    pub fn as_str(self) -> &'static str {
        self.row().word
    }

    /// This action's row of the key table.
    fn row(self) -> &'static KeyRow {
        match self {
            Action::Kill => &KeyRow::KILL,
            Action::Stop => &KeyRow::STOP,
            Action::Start => &KeyRow::START,
            Action::Restart => &KeyRow::RESTART,
            Action::Pause => &KeyRow::PAUSE,
            Action::Resume => &KeyRow::RESUME,
            Action::Latency => &KeyRow::LATENCY,
            Action::Bandwidth => &KeyRow::BANDWIDTH,
            Action::Timeout => &KeyRow::TIMEOUT,
            Action::Blackhole => &KeyRow::BLACKHOLE,
            Action::ResetPeer => &KeyRow::RESET_PEER,
            Action::Slicer => &KeyRow::SLICER,
            Action::LimitData => &KeyRow::LIMIT_DATA,
            Action::SlowClose => &KeyRow::SLOW_CLOSE,
            Action::Down => &KeyRow::DOWN,
            Action::Partition => &KeyRow::PARTITION,
            Action::Failover => &KeyRow::FAILOVER,
            Action::Drain => &KeyRow::DRAIN,
            Action::Activate => &KeyRow::ACTIVATE,
            Action::Isolate => &KeyRow::ISOLATE,
            Action::Rejoin => &KeyRow::REJOIN,
            Action::Scale => &KeyRow::SCALE,
        }
    }

    fn takes(self, key: Key) -> bool {
        self.row().keys.contains(&key)
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
            FaultAction::Failover { .. } => Action::Failover,
            FaultAction::Drain { .. } => Action::Drain,
            FaultAction::Activate { .. } => Action::Activate,
            FaultAction::Isolate { .. } => Action::Isolate,
            FaultAction::Rejoin { .. } => Action::Rejoin,
            FaultAction::Scale { .. } => Action::Scale,
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
            | FaultAction::Resume { on }
            | FaultAction::Failover { on }
            | FaultAction::Scale { on, .. } => On::Service(on),
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
            FaultAction::Drain { on }
            | FaultAction::Activate { on }
            | FaultAction::Isolate { on }
            | FaultAction::Rejoin { on } => On::Node(on),
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
            | FaultAction::Partition { .. }
            | FaultAction::Failover { .. }
            | FaultAction::Drain { .. }
            | FaultAction::Activate { .. }
            | FaultAction::Isolate { .. }
            | FaultAction::Rejoin { .. }
            | FaultAction::Scale { .. } => None,
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
}

/// What a fault is aimed at, whichever its action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On<'a> {
    Service(&'a ServiceTarget),
    Link(&'a LinkTarget),
    Links(&'a LinksTarget),
    Node(&'a NodeTarget),
}

#[cfg(test)]
mod tests;
