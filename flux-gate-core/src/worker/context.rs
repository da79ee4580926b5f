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
            // Lag -1 means unknown (no committed offset or watermark fetched yet).
            if held.contains(id) && p.consumer_lag >= 0 {
                metrics::gauge!("fg_worker_consumer_lag", "partition" => id.to_string())
                    .set(p.consumer_lag as f64);
            }
        }
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
    }
}
