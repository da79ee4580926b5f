//! The consumer's librdkafka context: turns statistics into the consumer-lag gauge, logs
//! rebalances, and logs librdkafka's errors without flooding (see [`QuietLog`]).

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::{ClientContext, Statistics};

use crate::kafka::QuietLog;
use crate::message::ORDERS_TOPIC;

#[derive(Default)]
pub struct WorkerContext {
    log: QuietLog,
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
        for (id, p) in &topic.partitions {
            // Partition -1 is librdkafka's internal "unassigned" bucket; lag -1 means unknown.
            if *id >= 0 && p.consumer_lag >= 0 {
                metrics::gauge!("fg_worker_consumer_lag", "partition" => id.to_string())
                    .set(p.consumer_lag as f64);
            }
        }
    }
}

impl ConsumerContext for WorkerContext {
    fn pre_rebalance(&self, _: &rdkafka::consumer::BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        tracing::info!(?rebalance, "rebalance starting");
    }

    fn post_rebalance(&self, _: &rdkafka::consumer::BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        tracing::info!(?rebalance, "rebalance done");
    }
}
