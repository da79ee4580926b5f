//! Kafka client settings shared by the API, the worker and `migrate`.
//!
//! All of them talk to the broker through librdkafka (bundled 2.12; see docs/decisions.md).
//! Settings are chosen for the promises, not for defaults: idempotent producer with
//! `acks=all` (no duplicates from producer retries), manual offset commits in the worker
//! (offsets move only after PostgreSQL committed), and explicit topic creation (some brokers,
//! tansu among them, do not auto-create).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureProducer;
use rdkafka::ClientContext;

use crate::log_throttle::Throttle;
use crate::message::{DLQ_TOPIC, ORDERS_TOPIC};

/// The producer every Flux-Gate service uses.
pub type Producer = FutureProducer<QuietLog>;

/// How often one kind of librdkafka error is logged at most.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(5);

/// librdkafka's log and error callbacks, with each kind of error (by facility or error code)
/// logged at most once per [`ERROR_LOG_EVERY`] with a count of the ones left out — a broker
/// outage otherwise logs every reconnect attempt, several a second per client.
#[derive(Default)]
pub struct QuietLog {
    throttles: Mutex<HashMap<String, Throttle>>,
    all_brokers_down: Option<Box<dyn Fn() + Send + Sync>>,
}

impl QuietLog {
    /// Also calls `f` whenever librdkafka reports that no broker connection is up — the
    /// earliest sign of an outage, long before any message times out.
    pub fn on_all_brokers_down(f: impl Fn() + Send + Sync + 'static) -> Self {
        QuietLog {
            all_brokers_down: Some(Box::new(f)),
            ..QuietLog::default()
        }
    }

    /// `Some(left_out)` if an error of this `kind` should be logged now.
    fn admit(&self, kind: &str) -> Option<u64> {
        let mut throttles = self.throttles.lock().unwrap_or_else(|p| p.into_inner());
        throttles
            .entry(kind.to_owned())
            .or_insert_with(|| Throttle::new(ERROR_LOG_EVERY))
            .admit(Instant::now())
    }

    /// For [`ClientContext::log`] of any context that embeds this one.
    pub fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        use RDKafkaLogLevel::*;
        match level {
            Emerg | Alert | Critical | Error => {
                if let Some(left_out) = self.admit(fac) {
                    tracing::error!(target: "librdkafka", left_out, "{fac} {message}");
                }
            }
            Warning => tracing::warn!(target: "librdkafka", "{fac} {message}"),
            Notice | Info => tracing::info!(target: "librdkafka", "{fac} {message}"),
            Debug => tracing::debug!(target: "librdkafka", "{fac} {message}"),
        }
    }

    /// For [`ClientContext::error`] of any context that embeds this one.
    pub fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            if let Some(f) = &self.all_brokers_down {
                f();
            }
        }
        let kind = error
            .rdkafka_error_code()
            .map_or_else(|| "other".to_owned(), |c| format!("{c:?}"));
        if let Some(left_out) = self.admit(&kind) {
            tracing::error!(target: "librdkafka", left_out, "{error}: {reason}");
        }
    }
}

impl ClientContext for QuietLog {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        QuietLog::log(self, level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        QuietLog::error(self, error, reason);
    }
}

/// Base settings for any client of `brokers`: the contract crate's
/// [`flux_gate_contract::kafka::CLIENT_SETTINGS`] (where each is explained), which the harness
/// builds its own clients from too.
pub fn client_config(brokers: &str) -> ClientConfig {
    flux_gate_contract::kafka::client_settings(brokers).collect()
}

/// An idempotent producer. `message_timeout` bounds how long librdkafka keeps retrying one
/// message before reporting it failed; the outbox covers anything that fails.
pub fn producer(brokers: &str, message_timeout: Duration) -> Result<Producer, KafkaError> {
    producer_with(brokers, message_timeout, QuietLog::default())
}

/// [`producer`] with its own callbacks (the API's reports "all brokers down" to its
/// [`crate::api::kafka_gate::KafkaGate`]).
pub fn producer_with(
    brokers: &str,
    message_timeout: Duration,
    context: QuietLog,
) -> Result<Producer, KafkaError> {
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
        .create_with_context(context)
}

/// How long one topic-creation request may take in all, broker lookup and answer included.
///
/// librdkafka's default is `socket.timeout.ms`, 60 s. A request lost on a connection that stays
/// open — a link that drops bytes for a while and then carries them again — is answered by
/// nothing, so the caller waited the whole minute before its retry: a worker started during a
/// one-second Kafka blackhole stayed unready for a minute after the link healed (found by
/// `fgchaos explore`, docs/explore.md). Bounded, the caller's retry loop asks again.
const ADMIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the broker may take to finish creating the topics before it answers; below
/// [`ADMIN_REQUEST_TIMEOUT`] so that a slow creation is answered, not abandoned.
const TOPIC_CREATION_TIMEOUT: Duration = Duration::from_secs(4);

/// Creates `orders` and `orders.dlq` unless they exist.
pub async fn ensure_topics(brokers: &str, partitions: i32) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = client_config(brokers).create()?;
    let topics = [
        NewTopic::new(ORDERS_TOPIC, partitions, TopicReplication::Fixed(1)),
        NewTopic::new(DLQ_TOPIC, 1, TopicReplication::Fixed(1)),
    ];
    let opts = AdminOptions::new()
        .operation_timeout(Some(TOPIC_CREATION_TIMEOUT))
        .request_timeout(Some(ADMIN_REQUEST_TIMEOUT));
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
