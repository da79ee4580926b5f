//! Scenario files: one experiment each — the sale, the load, the faults and what must hold.
//!
//! Parsing is strict (unknown keys are errors, with a suggestion) and happens in two steps:
//! [`parse`] turns YAML into these types with `file:line:column` errors — a fault's keys are
//! checked against its action there ([`fault`]) — then [`validate`] checks what types cannot
//! (values in range; a service must exist in the stack) before anything starts.
//! `docs/scenarios.md` documents every key; `fgchaos schema` prints the JSON Schema derived
//! from these types.

pub mod blast;
pub mod fault;
pub mod parse;
pub mod steady;
pub mod stop;
pub mod units;
pub mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::target_kind::TargetKind;

pub use fault::{
    Action, Fault, FaultAction, LinkTarget, LinksTarget, NodeTarget, ServiceTarget, Stream,
    ToxicOptions,
};
pub use parse::{parse_str, read_file, ScenarioError};
pub use units::{Cmp, Dur, DurThreshold, PercentThreshold, Rate};

/// One chaos experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short identifier, used in report file names (`[a-z0-9-]`).
    pub name: String,
    /// One sentence: what breaks and what must still hold.
    #[serde(default)]
    pub description: String,
    /// The sale the load buys from.
    pub sale: Sale,
    /// The traffic driven at the stack while faults happen.
    pub load: Load,
    /// Faults on a schedule relative to the start of the load.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Seeded random faults (Jepsen's nemesis), expanded into `faults` before the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nemesis: Option<Nemesis>,
    /// How long the system may take to converge once load and faults are over.
    #[serde(default)]
    pub settle: Settle,
    /// What must hold for the run to pass.
    #[serde(default)]
    pub expect: Expect,
    /// May the faults take down every instance of a service at once (the only database, every
    /// worker)? Refused unless said (docs/safety.md).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_total_outage: bool,
    /// The most faults that may be on at once (no limit when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_faults: Option<u32>,
    /// What the system must show before the first fault (default: every answer available,
    /// and the baseline latency bounds); if it does not, no fault is injected and the verdict
    /// is `not run`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steady_state: Option<steady::SteadyState>,
    /// Stop conditions, read live: when one holds the run heals, stops the load, settles and
    /// judges, and its verdict is `aborted` (docs/safety.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_when: Option<stop::AbortWhen>,
    /// A stack file replacing the built-in Flux-Gate stack (relative to this file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<PathBuf>,
    /// Replicas per service, on top of the stack file (local target only): the stack shape
    /// this experiment needs, without a copy of the stack that would drift from the built-in
    /// one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scale: BTreeMap<String, Scale>,
}

/// A scenario's `scale:` entry for one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    /// Instances `SERVICE#1` … `SERVICE#N` (1–16).
    pub replicas: u32,
    /// How many of them start with the stack (default: all); the others exist, stopped, until
    /// a `start` fault names them (`inventory-worker#4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<u32>,
}

/// The most replicas a service may be given, by `scale:` or by a `scale` fault: enough to
/// spread work over every core of a large host, few enough that a typo cannot fill it.
pub const MAX_REPLICAS: u32 = 16;

/// Why `started` of `replicas` instances is out of range (1 to `replicas`), if it is: the
/// one rule both targets apply to `started`.
pub fn started_out_of_range(started: u32, replicas: u32) -> Option<String> {
    (started == 0 || started > replicas)
        .then(|| format!("{started} of {replicas} replicas: start 1 to {replicas} of them"))
}

/// The flash sale the run starts through `POST /init`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sale {
    /// Product id; suffixed with the run id unless `exact` is true.
    pub product: String,
    /// Units on sale.
    pub stock: u32,
    /// Most units one user may buy (none = unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_user_limit: Option<u32>,
    /// Use `product` as is (runs then see each other's orders).
    #[serde(default)]
    pub exact: bool,
}

/// How load arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LoadModel {
    /// Open model: `rate` new order attempts per second whatever the system does.
    ArrivalRate,
    /// Open model: the rate moves linearly through `stages`.
    RampingArrivalRate,
    /// Closed model: `vus` users each send, wait for the answer, and send again.
    VirtualUsers,
}

impl LoadModel {
    /// The word of the scenario file.
    pub fn as_str(self) -> &'static str {
        match self {
            LoadModel::ArrivalRate => "arrival-rate",
            LoadModel::RampingArrivalRate => "ramping-arrival-rate",
            LoadModel::VirtualUsers => "virtual-users",
        }
    }
}

/// One leg of a ramping arrival rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Rate reached at the end of this stage.
    pub to: Rate,
    /// How long the stage lasts.
    pub over: Dur,
}

/// The traffic of a run. Bounded by `duration` and, optionally, `max_requests`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Load {
    pub model: LoadModel,
    /// `arrival-rate`: order attempts per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    /// `ramping-arrival-rate`: the legs, starting from `rate` (or 0).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<Stage>,
    /// `virtual-users`: concurrent users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vus: Option<u32>,
    /// How long load runs (ramping: the stages' total when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Dur>,
    /// Stop after this many order attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<u64>,
    /// Distinct buyers; each attempt picks one at random.
    #[serde(default = "default_users")]
    pub users: u32,
    /// Share (0–1) of attempts that resend an earlier idempotency key with its body.
    #[serde(default)]
    pub duplicate_ratio: f64,
    /// A request without an answer by then is recorded as `info` (indeterminate).
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    /// Most requests in flight (keep-alive connections), per generator.
    #[serde(default = "default_connections")]
    pub connections: u32,
    /// How many generators make the load together: each sends every n-th attempt of the one
    /// schedule (closed model: with its share of `vus`) into a history of its own, and the run
    /// judges their merge (docs/scaling.md). `connections` are each generator's own.
    #[serde(default = "one_generator", skip_serializing_if = "is_one")]
    #[schemars(range(min = 1, max = 64), extend("default" = 1))]
    pub generators: u32,
}

fn default_users() -> u32 {
    10_000
}
fn default_timeout() -> Dur {
    Dur::secs(2)
}
fn default_connections() -> u32 {
    64
}
fn one_generator() -> u32 {
    1
}
fn is_one(n: &u32) -> bool {
    *n == 1
}

/// Expectations for one fault's window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct WindowExpect {
    /// Share of answers that are neither 5xx nor timeouts while the fault is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<PercentThreshold>,
    /// Median latency while the fault is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50: Option<DurThreshold>,
    /// 99th percentile latency while the fault is on (e.g. "clean 503s, not hangs").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<DurThreshold>,
    /// The targets `p50` and `p99` hold on (default: every target); see `expect.latency.on`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latency_on: Vec<TargetKind>,
}

/// Seeded random faults: every `every`, one entry of `pool` is applied for `duration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Nemesis {
    /// First fault (from the start of the load).
    pub start: Dur,
    /// No fault starts after this.
    pub end: Dur,
    /// Time between the starts of two faults.
    pub every: Dur,
    /// How long each fault lasts (its heal follows).
    pub duration: Dur,
    /// Faults to choose from (without `at` or `duration`).
    pub pool: Vec<Fault>,
}

/// The settle phase after load and faults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settle {
    /// Give up if not converged by then: a failure when the system had stopped (see `stall`),
    /// `inconclusive` when it was still draining.
    #[serde(default = "default_settle_timeout")]
    pub timeout: Dur,
    /// How long the DB order count must stay unchanged to count as converged.
    #[serde(default = "default_quiet")]
    pub quiet: Dur,
    /// How long consumer lag, outbox and order count must all stay unchanged, at the end of a
    /// settle that timed out, for the system to count as stuck (a failure naming the component
    /// that stopped) rather than slow. At most `timeout`; by default 15s or `timeout` if
    /// shorter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall: Option<Dur>,
}

impl Settle {
    /// The stall window in effect.
    pub fn stall_window(&self) -> Duration {
        self.stall
            .map_or_else(|| DEFAULT_STALL.min(self.timeout.get()), Dur::get)
    }
}

/// `settle.stall` when not given: long enough for a consumer-group rebalance (the worker's
/// session timeout is 6 s) and a reconnect backoff, short enough to fit a 60 s settle with room.
pub const DEFAULT_STALL: Duration = Duration::from_secs(15);

impl Default for Settle {
    fn default() -> Self {
        Settle {
            timeout: default_settle_timeout(),
            quiet: default_quiet(),
            stall: None,
        }
    }
}

fn default_settle_timeout() -> Dur {
    Dur::secs(60)
}
fn default_quiet() -> Dur {
    Dur::secs(2)
}

/// The invariants the checkers prove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Invariant {
    NoOversell,
    NoLostAcks,
    NoPhantoms,
    NoDuplicates,
    StockConserved,
    DbMatchesRedis,
    PerUserLimit,
}

impl Invariant {
    pub const ALL: [Invariant; 7] = [
        Invariant::NoOversell,
        Invariant::NoLostAcks,
        Invariant::NoPhantoms,
        Invariant::NoDuplicates,
        Invariant::StockConserved,
        Invariant::DbMatchesRedis,
        Invariant::PerUserLimit,
    ];
}

/// Latency bounds per percentile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct LatencyExpect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50: Option<DurThreshold>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95: Option<DurThreshold>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<DurThreshold>,
    /// The targets these bounds hold on (default: every target). Latency is the one
    /// expectation the machine decides: the same stack answers in a few milliseconds as
    /// processes on loopback and in tens as containers sharing two cores.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on: Vec<TargetKind>,
}

/// Bounds on the backlog, read once a second through the run: the consumer lag and the age of
/// the oldest order a worker holds unpersisted (`fg_worker_backlog_age_seconds`). The bounds
/// are on the age, which does not depend on the load's rate; the lag is reported beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct BacklogExpect {
    /// The oldest an unpersisted order may get at any point of the run, like `< 75s` for a
    /// 60 s database outage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_age: Option<DurThreshold>,
    /// From the last heal until the workers have caught up: the first read, at or after the
    /// heal, whose backlog age is under 1 s with the lag known. Needs a fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_up: Option<DurThreshold>,
}

/// Whether bounds restricted to `on` apply on `target` (an empty list: everywhere).
pub fn applies_on(on: &[TargetKind], target: TargetKind) -> bool {
    on.is_empty() || on.contains(&target)
}

/// What must hold for a pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Checked invariants (default: all of them).
    #[serde(default = "all_invariants")]
    pub invariants: Vec<Invariant>,
    /// Share of answers that are neither 5xx nor timeouts in every phase (baseline, each fault
    /// window without its own `expect.availability`, recovery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<PercentThreshold>,
    /// Time from the last heal until the system has converged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<DurThreshold>,
    /// Latency bounds for the baseline phase (before the first fault).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyExpect>,
    /// Bounds on how far behind the workers fall and how fast they catch up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backlog: Option<BacklogExpect>,
    /// Fewest `ok` answers for the run to mean anything (else `inconclusive`).
    #[serde(default = "default_min_ok")]
    pub min_ok: u64,
}

impl Default for Expect {
    fn default() -> Self {
        Expect {
            invariants: all_invariants(),
            availability: None,
            recovery: None,
            latency: None,
            backlog: None,
            min_ok: default_min_ok(),
        }
    }
}

fn all_invariants() -> Vec<Invariant> {
    Invariant::ALL.to_vec()
}
fn default_min_ok() -> u64 {
    1
}
