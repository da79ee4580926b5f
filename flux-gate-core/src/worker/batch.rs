//! The worker's loop: gather a batch, persist it (retrying through database outages), send
//! what cannot be applied to the dead-letter topic, then commit offsets.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};
use sqlx::PgPool;

use super::backlog::Oldest;
use super::OrderConsumer;
use crate::db::{self, BatchOutcome};
use crate::kafka;
use crate::log_throttle::Throttle;
use crate::message::{OrderMessage, DLQ_TOPIC, ORDERS_TOPIC};
use crate::shutdown::Shutdown;

/// The longest wait between two attempts to persist a held batch. Every order of an outage
/// waits this much longer than the outage at most, and a few connection attempts a second are
/// nothing to a database: short. (A failed attempt costs little more than a refused connect —
/// or, while the database's host name does not resolve, the pool's 3 s acquire timeout.)
const MAX_RETRY_DELAY: Duration = Duration::from_millis(250);

/// How often an idle worker sends again the commits the broker does not hold.
const COMMIT_RETRY: Duration = Duration::from_secs(2);

/// One gathered batch: orders to persist, raw messages that are not orders, and the next
/// offset to commit per partition.
#[derive(Default)]
struct Gathered {
    orders: Vec<OrderMessage>,
    unparseable: Vec<(Option<Vec<u8>>, Vec<u8>, String)>,
    next_offsets: BTreeMap<i32, i64>,
}

impl Gathered {
    fn len(&self) -> usize {
        self.orders.len() + self.unparseable.len()
    }

    fn add(&mut self, msg: &rdkafka::message::BorrowedMessage<'_>) {
        let payload = msg.payload().unwrap_or_default();
        match OrderMessage::from_json(payload) {
            Ok(order) => self.orders.push(order),
            Err(e) => self.unparseable.push((
                msg.key().map(<[u8]>::to_vec),
                payload.to_vec(),
                e.to_string(),
            )),
        }
        let next = self.next_offsets.entry(msg.partition()).or_insert(0);
        *next = (*next).max(msg.offset() + 1);
    }
}

pub struct Batcher {
    pub consumer: Arc<OrderConsumer>,
    pub pool: PgPool,
    pub dlq: kafka::Producer,
    pub max: usize,
    pub linger: Duration,
    /// The oldest order held unpersisted, for `fg_worker_backlog_age_seconds`.
    pub oldest: Arc<Oldest>,
}

impl Batcher {
    /// Runs until shutdown is requested. A batch that is being persisted is finished and
    /// committed first — unless the database is down, in which case the worker leaves without
    /// committing and the batch is redelivered to whoever consumes next (inserts are idempotent).
    pub async fn run(self, shutdown: Shutdown) {
        // While the broker is down every poll reports an error: log them, not flood with them.
        let mut errors = Throttle::new(Duration::from_secs(5));
        let mut consumer_error = |e: rdkafka::error::KafkaError| {
            if let Some(left_out) = errors.admit(Instant::now()) {
                tracing::warn!(error = %e, left_out, "kafka consumer error");
            }
        };
        let mut idle = tokio::time::interval(COMMIT_RETRY);
        idle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let first = tokio::select! {
                biased;
                () = shutdown.clone().requested() => break,
                m = self.consumer.recv() => m,
                _ = idle.tick() => {
                    self.commit_lost();
                    continue;
                }
            };
            let mut batch = Gathered::default();
            match first {
                Ok(m) => batch.add(&m),
                Err(e) => {
                    consumer_error(e);
                    continue;
                }
            }
            let deadline = tokio::time::Instant::now() + self.linger;
            while batch.len() < self.max {
                match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                    Ok(Ok(m)) => batch.add(&m),
                    Ok(Err(e)) => consumer_error(e),
                    Err(_) => break,
                }
            }
            if !self.apply(batch, &shutdown).await {
                break;
            }
            // Idle means no batch for a whole period: the retry waits from the last one.
            idle.reset();
        }
        tracing::info!("worker stopping");
    }

    /// Persists the batch until it lands, dead-letters what cannot be applied, commits.
    /// Returns `false` if asked to stop while the batch could not land (nothing committed).
    async fn apply(&self, mut batch: Gathered, shutdown: &Shutdown) -> bool {
        let started = Instant::now();
        self.oldest.hold(&batch.orders);
        let mut delay = Duration::from_millis(50);
        let mut paused: Option<TopicPartitionList> = None;
        let outcome = loop {
            match db::persist_batch(&self.pool, &batch.orders).await {
                Ok(outcome) => break outcome,
                Err(e) => {
                    metrics::gauge!("fg_worker_db_up").set(0.0);
                    if shutdown.is_requested() {
                        tracing::warn!(orders = batch.orders.len(), "stopping with an unpersisted batch: not committing it, it will be redelivered");
                        return false;
                    }
                    if paused.is_none() {
                        tracing::warn!(error = %e, orders = batch.orders.len(), "database unavailable: holding the batch and pausing consumption");
                        paused = self.pause();
                    } else {
                        tracing::debug!(error = %e, waited = ?started.elapsed(), retry_in = ?delay, "database still unavailable");
                    }
                    // Keep serving the consumer (heartbeats, rebalances) while waiting; with
                    // the partitions paused nothing new should arrive, but anything that does
                    // joins the batch rather than being dropped.
                    if let Ok(Ok(m)) = tokio::time::timeout(delay, self.consumer.recv()).await {
                        batch.add(&m);
                        self.oldest.hold(&batch.orders);
                    }
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                }
            }
        };
        metrics::gauge!("fg_worker_db_up").set(1.0);
        if let Some(tpl) = paused {
            if let Err(e) = self.consumer.resume(&tpl) {
                tracing::error!(error = %e, "could not resume partitions");
            }
            tracing::info!(waited = ?started.elapsed(), "database back: batch persisted, consumption resumed");
        }
        self.dead_letter(&batch, &outcome).await;
        self.commit(&batch.next_offsets);
        self.oldest.release();
        record(&outcome, started.elapsed());
        true
    }

    fn pause(&self) -> Option<TopicPartitionList> {
        let tpl = self.consumer.assignment().ok()?;
        match self.consumer.pause(&tpl) {
            Ok(()) => Some(tpl),
            Err(e) => {
                tracing::warn!(error = %e, "could not pause partitions");
                None
            }
        }
    }

    async fn dead_letter(&self, batch: &Gathered, outcome: &BatchOutcome) {
        let refused = outcome.refused.iter().map(|(m, why)| {
            (
                Some(m.product_id.clone().into_bytes()),
                m.to_json().unwrap_or_default().into_bytes(),
                why.to_string(),
            )
        });
        let unparseable = batch
            .unparseable
            .iter()
            .cloned()
            .map(|(k, p, e)| (k, p, format!("unparseable: {e}")));
        for (key, payload, reason) in refused.chain(unparseable) {
            let label = reason.split(':').next().unwrap_or("other").to_owned();
            metrics::counter!("fg_worker_dead_letters_total", "reason" => label).increment(1);
            tracing::error!(%reason, "dead-lettering a message");
            let headers = OwnedHeaders::new().insert(Header {
                key: "reason",
                value: Some(reason.as_str()),
            });
            let mut record = FutureRecord::to(DLQ_TOPIC)
                .payload(&payload)
                .headers(headers);
            if let Some(k) = &key {
                record = record.key(k);
            }
            // A dead letter that cannot be written is logged above; blocking the partition on
            // it would stop every good order behind it.
            if let Err((e, _)) = self.dlq.send(record, Duration::from_secs(5)).await {
                tracing::error!(error = %e, %reason, "could not write to the dead-letter topic");
            }
        }
    }

    /// Commits again what the broker does not hold (see `commits.rs`), while no batch is
    /// coming.
    fn commit_lost(&self) {
        let lost = self.consumer.context().commits_to_retry();
        if !lost.is_empty() {
            tracing::debug!(?lost, "committing unconfirmed offsets again");
            self.commit(&lost);
        }
    }

    fn commit(&self, next_offsets: &BTreeMap<i32, i64>) {
        let mut tpl = TopicPartitionList::new();
        for (partition, next) in next_offsets {
            if let Err(e) =
                tpl.add_partition_offset(ORDERS_TOPIC, *partition, Offset::Offset(*next))
            {
                tracing::error!(error = %e, partition, "bad offset");
            }
        }
        // Async: a lost commit only means redelivery, which inserts nothing twice — and it is
        // sent again when the worker is idle (`commits.rs`).
        self.consumer.context().commit_sent(next_offsets);
        if let Err(e) = self.consumer.commit(&tpl, CommitMode::Async) {
            tracing::warn!(error = %e, "offset commit failed; the batch will be redelivered and skipped");
        }
    }
}

fn record(outcome: &BatchOutcome, took: Duration) {
    metrics::counter!("fg_worker_orders_persisted_total").increment(outcome.inserted);
    metrics::counter!("fg_worker_duplicates_skipped_total").increment(outcome.already_present);
    metrics::histogram!("fg_worker_batch_seconds").record(took.as_secs_f64());
    tracing::debug!(
        inserted = outcome.inserted,
        skipped = outcome.already_present,
        ?took,
        "batch persisted"
    );
}
