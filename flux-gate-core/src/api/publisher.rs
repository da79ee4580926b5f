//! Delivers reserved orders to Kafka and clears them from the outbox once Kafka has them.
//!
//! Every reservation is already durable in Redis (the outbox entry is written by the same
//! script that takes the stock), so a failed or slow delivery costs nothing but a `202
//! pending`: the relay (`relay.rs`) delivers the entry later. Whether an order waits for the
//! broker at all is the [`KafkaGate`]'s call, so that during an outage orders answer 202 at
//! once instead of each waiting out the produce timeout.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::FutureRecord;
use redis::AsyncCommands;

use super::kafka_gate::KafkaGate;
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
    gate: Arc<KafkaGate>,
}

/// One order to deliver.
pub struct Delivery {
    pub product: String,
    pub outbox_key: String,
    pub outbox_entry: String,
    pub payload: String,
}

impl Publisher {
    /// `gate` is the one librdkafka's error callback also reports to
    /// ([`crate::kafka::QuietLog::on_all_brokers_down`]).
    pub fn new(producer: Producer, redis: RedisLink, gate: Arc<KafkaGate>) -> Self {
        Publisher {
            producer,
            redis,
            gate,
        }
    }

    /// Whether orders currently wait for Kafka (`/ready` reports it).
    pub fn kafka_up(&self) -> bool {
        self.gate.is_up()
    }

    pub fn gate(&self) -> &KafkaGate {
        &self.gate
    }

    /// The shared gate, for tasks that outlive a borrow ([`KafkaGate::watch_silence`]).
    pub fn gate_handle(&self) -> Arc<KafkaGate> {
        self.gate.clone()
    }

    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    /// Hands the order to the producer and waits up to `wait` for Kafka's acknowledgement.
    /// `true`: delivered. `false`: not confirmed (yet) — the order stays in the outbox and is
    /// delivered later, by this producer's retries or by the relay. While the gate says Kafka
    /// is down it does not wait, and hands at most one order at a time to the producer (a
    /// probe whose delivery closes the gate); the others are the relay's.
    ///
    /// The answer does not wait for the outbox clean-up: that is a second Redis round trip
    /// the buyer has no use for (the order is in Kafka either way).
    pub async fn publish(&self, d: Delivery, wait: Duration) -> bool {
        let probe = !self.gate.is_up();
        if probe && !self.gate.try_probe() {
            return false;
        }
        let record = FutureRecord::to(ORDERS_TOPIC)
            .key(d.product.as_str())
            .payload(d.payload.as_str());
        let delivery = match self.producer.send_result(record) {
            Ok(f) => f,
            Err((e, _)) => {
                tracing::warn!(error = %e, "producer queue refused an order; the outbox keeps it");
                self.gate.lost("the producer queue refused an order");
                if probe {
                    self.gate.probe_done();
                }
                return false;
            }
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let this = self.clone();
        self.gate.sent();
        tokio::spawn(async move {
            let delivered = matches!(delivery.await, Ok(Ok(_)));
            if delivered {
                this.gate.confirmed();
            } else {
                this.gate.lost("a delivery failed");
            }
            this.gate.settled();
            if probe {
                this.gate.probe_done();
            }
            let _ = tx.send(delivered);
            if delivered {
                this.clear_outbox(&d.outbox_key, &[d.outbox_entry]).await;
            }
        });
        if probe {
            return false;
        }
        tokio::select! {
            answer = tokio::time::timeout(wait, rx) => match answer {
                Ok(Ok(delivered)) => delivered,
                Ok(Err(_)) => false,
                Err(_) => {
                    self.gate
                        .lost("a delivery was not confirmed within the produce timeout");
                    false
                }
            },
            // Kafka was declared down while this order waited: 202 now, not at the timeout.
            () = self.gate.down() => false,
        }
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
            self.gate.reachable();
        }
        up
    }
}
