//! The consumer's librdkafka context: keeps the assignment gauges, the consumer-lag gauges of
//! the partitions held and the topic's partition count (lags and count from
//! [`super::membership`]'s look once a second; librdkafka's statistics are not enabled),
//! logs rebalances, and logs librdkafka's errors without flooding (see [`QuietLog`]).
//!
//! The gauges are what a reader that cannot reach the broker (fgchaos on the docker target)
//! sums over several workers, so each worker reports only the partitions it holds: a partition
//! moved to another worker by a rebalance must not keep its last lag here and be counted twice
//! — or, worse, keep a stale 0 for a partition whose new owner is dead. A held partition whose
//! lag is not measured yet (just assigned, or the last look failed) reports -1: unknown.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::commits::Commits;
use crate::kafka::QuietLog;
use crate::message::ORDERS_TOPIC;

/// The lag gauge's value for "held, not measured": a reader must not take it for a figure.
const UNKNOWN: f64 = -1.0;

#[derive(Default)]
pub struct WorkerContext {
    log: QuietLog,
    /// Partitions of `orders` this worker holds (the last assignment, emptied by a revoke).
    assigned: Mutex<BTreeSet<i32>>,
    /// Told when partitions are assigned, so the watchdog looks at once: until its next look
    /// they report unknown, and a reader waiting for a known lag (fgchaos settling after a
    /// rebalance) would wait for up to a whole look period for nothing.
    assigned_now: tokio::sync::Notify,
    /// This worker's commits, and what the broker was last seen to hold of them.
    commits: Mutex<Commits>,
}

impl WorkerContext {
    /// Sets the lag gauge of every partition held now: measured (`lags`), or -1 — unknown —
    /// when the look failed. Under the assignment's lock, so a partition revoked meanwhile is
    /// not given back a lag after the revoke zeroed it.
    pub fn report_lags(&self, lags: Option<&BTreeMap<i32, i64>>) {
        let held = lock(&self.assigned);
        for p in held.iter() {
            let lag = lags.and_then(|l| l.get(p)).map_or(UNKNOWN, |l| *l as f64);
            metrics::gauge!("fg_worker_consumer_lag", "partition" => p.to_string()).set(lag);
        }
    }

    /// Records the group's committed offsets, as a look read them (see `commits.rs`).
    pub fn commits_seen(&self, committed: &[(i32, i64)]) {
        lock(&self.commits).seen(committed);
    }

    /// Records a commit sent (see `commits.rs`).
    pub fn commit_sent(&self, offsets: &BTreeMap<i32, i64>) {
        lock(&self.commits).sent(offsets);
    }

    /// Commits the broker does not hold, for the partitions this worker still holds:
    /// partition → the next offset to commit again.
    pub fn commits_to_retry(&self) -> BTreeMap<i32, i64> {
        let held = lock(&self.assigned).clone();
        lock(&self.commits).to_retry(|p| held.contains(&p))
    }

    /// Completes after the next assignment (at once if one came since the last call).
    pub async fn assignment_changed(&self) {
        self.assigned_now.notified().await;
    }

    /// Sets `fg_worker_topic_partitions`: how many partitions `orders` has, as a look's metadata
    /// listed them. A reader summing several workers' lag gauges needs it to tell "every
    /// partition is reported" from "some partition is held by no one".
    pub fn report_topic_partitions(&self, partitions: usize) {
        metrics::gauge!("fg_worker_topic_partitions").set(partitions as f64);
    }

    /// Records a change of assignment (`add` after an assign, remove after a revoke — with the
    /// eager protocol a revoke hands back everything and the next assign brings the whole new
    /// set): `fg_worker_partition_assigned{partition}` is 1 for the partitions held, 0 for those
    /// let go, whose lag gauge goes to 0 too (their new owner reports them). A partition taken
    /// over reports unknown until the next look measures it.
    fn change_assignment(&self, partitions: &BTreeSet<i32>, add: bool) {
        let mut held = lock(&self.assigned);
        for p in partitions {
            let label = p.to_string();
            if add {
                held.insert(*p);
                metrics::gauge!("fg_worker_partition_assigned", "partition" => label.clone())
                    .set(1.0);
                metrics::gauge!("fg_worker_consumer_lag", "partition" => label).set(UNKNOWN);
            } else {
                held.remove(p);
                metrics::gauge!("fg_worker_partition_assigned", "partition" => label.clone())
                    .set(0.0);
                metrics::gauge!("fg_worker_consumer_lag", "partition" => label).set(0.0);
            }
        }
        if add && !partitions.is_empty() {
            // Stores a permit when the watchdog is busy looking: it looks again right after.
            self.assigned_now.notify_one();
        }
    }
}

/// The partitions of `orders` in a rebalance's list.
fn orders_partitions(tpl: &TopicPartitionList) -> BTreeSet<i32> {
    tpl.elements_for_topic(ORDERS_TOPIC)
        .iter()
        .map(|e| e.partition())
        .collect()
}

impl ClientContext for WorkerContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        self.log.log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.log.error(error, reason);
    }
}

impl ConsumerContext for WorkerContext {
    fn pre_rebalance(&self, _: &rdkafka::consumer::BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        tracing::info!(?rebalance, "rebalance starting");
        // Stop claiming partitions before they are handed over.
        if let Rebalance::Revoke(tpl) = rebalance {
            self.change_assignment(&orders_partitions(tpl), false);
        }
    }

    fn post_rebalance(&self, _: &rdkafka::consumer::BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        tracing::info!(?rebalance, "rebalance done");
        // Claim them only once they are ours.
        if let Rebalance::Assign(tpl) = rebalance {
            self.change_assignment(&orders_partitions(tpl), true);
        }
        if let Rebalance::Revoke(tpl) = rebalance {
            let mut commits = lock(&self.commits);
            for p in orders_partitions(tpl) {
                commits.forget(p);
            }
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        let offsets: Vec<(i32, i64)> = offsets
            .elements_for_topic(ORDERS_TOPIC)
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect();
        // Logged only: what the broker holds is read from it (`commits.rs`), not taken from an
        // answer.
        if let Err(e) = &result {
            tracing::warn!(error = %e, ?offsets, "offset commit lost: committing it again when idle");
        }
    }
}

/// The guard of `m`, also when a panic elsewhere poisoned it: the data is counters and sets,
/// consistent at every step.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}
