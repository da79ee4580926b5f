//! Kafka client settings shared by the API, the worker and `migrate`.
//!
//! All of them talk to the broker through librdkafka (bundled 2.12; see docs/decisions.md).
//! Settings are chosen for the promises, not for defaults: idempotent producer with
//! `acks=all` (no duplicates from producer retries), manual offset commits in the worker
//! (offsets move only after PostgreSQL committed), and explicit topic creation (some brokers,
//! tansu among them, do not auto-create).

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureProducer;

use crate::message::{DLQ_TOPIC, ORDERS_TOPIC};

/// Base settings for any client of `brokers`.
pub fn client_config(brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("socket.keepalive.enable", "true")
        // Notice a dead broker quickly; the chaos scenarios kill it on purpose.
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "1000")
        .set("topic.metadata.refresh.interval.ms", "10000");
    c
}

/// An idempotent producer. `message_timeout` bounds how long librdkafka keeps retrying one
/// message before reporting it failed; the outbox covers anything that fails.
pub fn producer(brokers: &str, message_timeout: Duration) -> Result<FutureProducer, KafkaError> {
    client_config(brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "1")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .set(
            "message.timeout.ms",
            message_timeout.as_millis().to_string(),
        )
        .set("request.timeout.ms", "5000")
        .create()
}

/// Creates `orders` and `orders.dlq` unless they exist.
pub async fn ensure_topics(brokers: &str, partitions: i32) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = client_config(brokers).create()?;
    let topics = [
        NewTopic::new(ORDERS_TOPIC, partitions, TopicReplication::Fixed(1)),
        NewTopic::new(DLQ_TOPIC, 1, TopicReplication::Fixed(1)),
    ];
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&topics, &opts).await? {
        match result {
            Ok(name) => tracing::info!(topic = %name, "created Kafka topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                tracing::error!(topic = %name, ?code, "could not create Kafka topic");
                return Err(KafkaError::AdminOp(code));
            }
        }
    }
    Ok(())
}
