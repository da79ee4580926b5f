//! What a run observed, as plain data: the final state and how the settle phase ended, the
//! stock samples, the settle trace. The observers ([`crate::observe`]) produce these, the
//! journal stores them and the checkers ([`crate::verdict`]) read them; keeping them here, apart
//! from all three, is what lets the journal embed them without depending on the checkers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One persisted order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbOrder {
    pub order_id: String,
    pub key: String,
    pub user: String,
}

/// The sale's state once quiet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FinalState {
    /// Stock the run started the sale with.
    pub initial: i64,
    pub redis_stock: Option<i64>,
    /// Lowest Redis stock among the settle phase's reads (the final one included); the load
    /// phase itself is not sampled.
    pub redis_stock_min: Option<i64>,
    pub outbox: u64,
    /// Orders the API's outbox relay delivered to Kafka (Redis `fg:{p}:relayed`): the share
    /// of the sale that reached Kafka only because of the outbox.
    #[serde(default)]
    pub relayed: u64,
    pub db_stock: Option<i64>,
    pub db_orders: Vec<DbOrder>,
    /// Messages of `orders` the worker's group has not committed.
    pub consumer_lag: Option<i64>,
    /// Why the consumer lag is unknown, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_error: Option<String>,
}

impl FinalState {
    /// Orders per user (for the per-user-limit checker).
    pub fn orders_per_user(&self) -> BTreeMap<&str, usize> {
        let mut m = BTreeMap::new();
        for o in &self.db_orders {
            *m.entry(o.user.as_str()).or_default() += 1;
        }
        m
    }
}

/// How the settle phase ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Settled {
    pub converged: bool,
    /// From the last heal (or the end of the load) to converged.
    pub recovery_ms: Option<u64>,
    pub waited_ms: u64,
    /// What was still pending when settle gave up (or errors reading the state).
    pub pending: Vec<String>,
    pub state: FinalState,
    /// Every successful read of the backlog, in order: the evidence for stuck or slow when
    /// the system did not converge (see [`crate::verdict::stall`]).
    #[serde(default, rename = "progress")]
    pub trace: Vec<SettlePoint>,
}

/// One settle-phase read of the backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlePoint {
    /// Since the load's time zero.
    pub at_ms: u64,
    /// Uncommitted messages of `orders`; `None` when the lag could not be read.
    pub lag: Option<i64>,
    /// Orders in the API outboxes (acknowledged, not yet confirmed by Kafka).
    pub outbox: u64,
    /// Rows in `orders`.
    pub orders: u64,
}

impl SettlePoint {
    /// What is still to do: messages the worker has not committed plus orders not yet in Kafka.
    pub fn backlog(&self) -> u64 {
        self.lag.unwrap_or(0).max(0) as u64 + self.outbox
    }

    /// Same lag, outbox and order count: nothing moved between two reads.
    pub fn same_state(&self, o: &SettlePoint) -> bool {
        self.lag == o.lag && self.outbox == o.outbox && self.orders == o.orders
    }

    /// `consumer lag 1751, outbox 0, 3249 orders`.
    pub fn describe(&self) -> String {
        format!(
            "consumer lag {}, outbox {}, {} orders in the database",
            self.lag
                .map_or_else(|| "unknown".to_owned(), |l| l.to_string()),
            self.outbox,
            self.orders
        )
    }
}

/// One read of the sale in Redis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// Since the load's time zero.
    pub at_ms: u64,
    /// `None` when the stock key did not exist.
    pub stock: Option<i64>,
    pub outbox: u64,
    /// The Redis instance read (the primary), when Redis runs with Sentinel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
}

/// How the sampling went, for the journal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sampling {
    pub every_ms: u64,
    pub taken: u64,
    /// Reads that failed or timed out (Redis down or unreachable).
    pub missed: u64,
}

/// The lowest stock among the samples.
pub fn min_stock(samples: &[Sample]) -> Option<i64> {
    samples.iter().filter_map(|s| s.stock).min()
}

/// One read of the backlog during the run: what the group has not committed, and how old the
/// oldest order a worker holds unpersisted is (see [`crate::observe::backlog`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BacklogPoint {
    /// Since the load's time zero.
    pub at_ms: u64,
    /// Uncommitted messages of `orders`; `None` when the lag could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<i64>,
    /// The largest `fg_worker_backlog_age_seconds` among the workers that answered, in ms;
    /// `None` when some partition had no worker that answered (what waits there is aged by no
    /// one: `observe::lag::age_of_reports`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_ms: Option<u64>,
}

/// Why a run stopped before its end: a stop condition of its `abort_when:` held, or
/// `fgchaos halt` asked. The faults were healed, the load stopped, and what was recorded was
/// settled and judged; the verdict is `aborted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Abort {
    /// `availability`, `p99`, `errors_5xx`, `oversell`, `probe`, or `halt`.
    pub condition: String,
    /// When it held, from the load's time zero.
    pub at_ms: u64,
    /// What was seen, against the bound: `availability 62.50% over the last 5s (stop when < 90%)`.
    pub seen: String,
    /// From the trigger until every fault was healed (the aim: within 1 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healed_in_ms: Option<u64>,
}

/// The warm-up: the answers completed in the whole seconds before the first fault, held
/// against the scenario's steady-state hypothesis. When it did not hold, no fault was
/// injected and the verdict is `not run`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warmup {
    /// The whole seconds read (0 when the first fault fires within the first second: nothing
    /// to read, and the hypothesis is not checked).
    pub seconds: u64,
    pub ops: u64,
    pub held: bool,
    /// What was seen, and the bound missed when it did not hold.
    pub summary: String,
}
