//! The consumer's librdkafka context: turns statistics into the consumer-lag gauges, keeps the
//! assignment gauges, logs rebalances, and logs librdkafka's errors without flooding (see
//! [`QuietLog`]).
//!
//! The gauges are what a reader that cannot reach the broker (fgchaos on the docker target)
//! sums over several workers, so each worker reports only the partitions it holds: a partition
//! moved to another worker by a rebalance must not keep its last lag here and be counted twice
//! — or, worse, keep a stale 0 for a partition whose new owner is dead.

use std::collections::BTreeSet;
use std::sync::Mutex;

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::{ClientContext, Statistics, TopicPartitionList};

use crate::kafka::QuietLog;
use crate::message::ORDERS_TOPIC;

#[derive(Default)]
pub struct WorkerContext {
    log: QuietLog,
    /// Partitions of `orders` this worker holds (the last assignment, emptied by a revoke).
    assigned: Mutex<BTreeSet<i32>>,
}

impl WorkerContext {
    fn assigned(&self) -> BTreeSet<i32> {
        self.assigned
            .lock()
            .map(|a| a.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// Records a change of assignment (`add` after an assign, remove after a revoke — with the
    /// eager protocol a revoke hands back everything and the next assign brings the whole new
    /// set): `fg_worker_partition_assigned{partition}` is 1 for the partitions held, 0 for those
    /// let go, whose lag gauge goes to 0 too (their new owner reports them).
    fn change_assignment(&self, partitions: &BTreeSet<i32>, add: bool) {
        let mut held = match self.assigned.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        for p in partitions {
            let label = p.to_string();
            if add {
                held.insert(*p);
                metrics::gauge!("fg_worker_partition_assigned", "partition" => label).set(1.0);
            } else {
                held.remove(p);
                metrics::gauge!("fg_worker_partition_assigned", "partition" => label.clone())
                    .set(0.0);
                metrics::gauge!("fg_worker_consumer_lag", "partition" => label).set(0.0);
            }
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

    fn stats(&self, stats: Statistics) {
        let Some(topic) = stats.topics.get(ORDERS_TOPIC) else {
            return;
        };
        // Partition -1 is librdkafka's internal "unassigned" bucket; the others are the
        // topic's partitions as the metadata lists them.
        let partitions = topic.partitions.keys().filter(|id| **id >= 0).count();
        metrics::gauge!("fg_worker_topic_partitions").set(partitions as f64);
        let held = self.assigned();
        for (id, p) in &topic.partitions {
            let lag = uncommitted(Offsets {
                consumer_lag: p.consumer_lag,
                committed: p.committed_offset,
                lo: p.lo_offset,
                hi: p.hi_offset,
                next: p.next_offset,
            });
            if let (true, Some(lag)) = (held.contains(id), lag) {
                metrics::gauge!("fg_worker_consumer_lag", "partition" => id.to_string())
                    .set(lag as f64);
            }
        }
    }
}

/// One partition's offsets as librdkafka's statistics give them (negative: unknown).
#[derive(Debug, Clone, Copy)]
struct Offsets {
    consumer_lag: i64,
    committed: i64,
    lo: i64,
    hi: i64,
    /// The next offset the consumer will fetch.
    next: i64,
}

/// Messages of a held partition the group has not committed, if that can be known.
///
/// librdkafka reports `consumer_lag` -1 until the group has committed in the partition —
/// which, for a partition nobody has written to (with 6 partitions and one product, most of
/// them), is never. Such a partition is not unknown: with `auto.offset.reset=earliest`
/// everything from its low watermark on is uncommitted, and an empty one has nothing waiting.
/// Leaving it unreported made a reader that sums the workers' gauges (fgchaos on the docker
/// target) see the partition as held by no one and never settle.
fn uncommitted(o: Offsets) -> Option<i64> {
    if o.consumer_lag >= 0 {
        return Some(o.consumer_lag);
    }
    if o.committed >= 0 || o.hi < 0 {
        // Committed but the watermark not fetched yet, or nothing known: unknown.
        return None;
    }
    let start = if o.lo >= 0 { o.lo } else { o.next };
    (start >= 0).then(|| (o.hi - start).max(0))
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(consumer_lag: i64, committed: i64, lo: i64, hi: i64, next: i64) -> Offsets {
        Offsets {
            consumer_lag,
            committed,
            lo,
            hi,
            next,
        }
    }

    #[test]
    fn a_partition_never_committed_is_empty_or_all_waiting_not_unknown() {
        // librdkafka's own figure when it has one.
        assert_eq!(uncommitted(offsets(7, 93, 0, 100, 93)), Some(7));
        // Never committed (-1001): an empty partition waits for nothing, a written one for
        // everything since its low watermark (or, that not fetched, the fetch position).
        assert_eq!(uncommitted(offsets(-1, -1001, 0, 0, 0)), Some(0));
        assert_eq!(uncommitted(offsets(-1, -1001, 0, 40, 12)), Some(40));
        assert_eq!(uncommitted(offsets(-1, -1001, -1001, 40, 0)), Some(40));
        // Nothing fetched yet, or a commit with no watermark: unknown.
        assert_eq!(uncommitted(offsets(-1, -1001, -1001, -1001, -1001)), None);
        assert_eq!(uncommitted(offsets(-1, 50, 0, -1001, 50)), None);
        assert_eq!(uncommitted(offsets(-1, -1001, -1001, 40, -1001)), None);
    }
}
