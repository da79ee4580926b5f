//! Delivers reserved orders to Kafka and clears them from the outbox once Kafka has them.
//!
//! Every reservation is already durable in Redis (the outbox entry is written by the same
//! script that takes the stock), so a failed or slow delivery costs nothing but a `202
//! pending`: the relay (`relay.rs`) delivers the entry later. The publisher also tracks
//! whether Kafka is answering, so that during an outage orders answer 202 at once instead of
//! each waiting out the produce timeout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::FutureRecord;
use redis::AsyncCommands;

use crate::kafka::Producer;
use crate::message::ORDERS_TOPIC;
use crate::redis_link::RedisLink;

/// Timeout for the outbox clean-up after a delivery; a missed clean-up only means the relay
/// delivers the order a second time, which the worker absorbs.
const XDEL_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct Publisher {
    producer: Producer,
    redis: RedisLink,
    kafka_up: Arc<AtomicBool>,
}

/// One order to deliver.
pub struct Delivery {
    pub product: String,
    pub outbox_key: String,
    pub outbox_entry: String,
    pub payload: String,
}

impl Publisher {
    pub fn new(producer: Producer, redis: RedisLink) -> Self {
        // Down until proven up (`warm_up`), so the first orders do not wait on a broker that
        // may not be there.
        Publisher {
            producer,
            redis,
            kafka_up: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether the last delivery succeeded.
    pub fn kafka_up(&self) -> bool {
        self.kafka_up.load(Ordering::Relaxed)
    }

    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    /// Hands the order to the producer and waits up to `wait` for Kafka's acknowledgement.
    /// `true`: delivered. `false`: not confirmed (yet) — the order stays in the outbox and is
    /// delivered later, by this producer's retries or by the relay. Never waits while Kafka is
    /// known to be down.
    pub async fn publish(&self, d: Delivery, wait: Duration) -> bool {
        let record = FutureRecord::to(ORDERS_TOPIC)
            .key(d.product.as_str())
            .payload(d.payload.as_str());
        let delivery = match self.producer.send_result(record) {
            Ok(f) => f,
            Err((e, _)) => {
                tracing::warn!(error = %e, "producer queue refused an order; the outbox keeps it");
                self.kafka_up.store(false, Ordering::Relaxed);
                return false;
            }
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let this = self.clone();
        tokio::spawn(async move {
            let delivered = matches!(delivery.await, Ok(Ok(_)));
            this.kafka_up.store(delivered, Ordering::Relaxed);
            if delivered {
                this.clear_outbox(&d.outbox_key, &[d.outbox_entry]).await;
            }
            let _ = tx.send(delivered);
        });
        if !self.kafka_up() {
            return false;
        }
        matches!(tokio::time::timeout(wait, rx).await, Ok(Ok(true)))
    }

    /// Removes delivered entries from an outbox.
    pub async fn clear_outbox(&self, key: &str, entries: &[String]) {
        let result = self
            .redis
            .call(XDEL_TIMEOUT, |mut con| async move {
                con.xdel::<_, _, u64>(key, entries).await
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not clear delivered orders from the outbox; the relay will redeliver them");
        }
    }

    /// Connects to Kafka and learns the `orders` topic's partitions before the first order
    /// needs them; marks Kafka up on success. Returns whether it succeeded.
    pub async fn warm_up(&self, timeout: Duration) -> bool {
        let producer = self.producer.clone();
        let fetched = tokio::task::spawn_blocking(move || {
            use rdkafka::producer::Producer;
            producer
                .client()
                .fetch_metadata(Some(ORDERS_TOPIC), timeout)
                .map(|m| {
                    m.topics()
                        .first()
                        .is_some_and(|t| t.error().is_none() && !t.partitions().is_empty())
                })
        })
        .await;
        let up = matches!(fetched, Ok(Ok(true)));
        if up {
            self.mark(true);
        }
        up
    }

    pub fn mark(&self, up: bool) {
        self.kafka_up.store(up, Ordering::Relaxed);
    }
}
