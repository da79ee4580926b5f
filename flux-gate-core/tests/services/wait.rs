//! Waiting on conditions, not on the clock. [`until`] polls for what a test needs to be true
//! and fails with what it last saw; [`steady`] shows that a value stays as it is; the waits
//! on a [`Stack`] below (orders persisted, every order drained into the database, the worker
//! noticing a database outage) are built on them.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use flux_gate_core::db::{self, OrderRow};
use flux_gate_core::message::ORDERS_TOPIC;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use redis::AsyncCommands;
use tokio::time::Instant;

use crate::stack::Stack;

/// How often the waits look.
pub const POLL: Duration = Duration::from_millis(100);

/// The worker's consumer group: `FG_CONSUMER_GROUP`'s default, which the test stack keeps.
const WORKER_GROUP: &str = "flux-gate-inventory";
/// Budget for each broker round trip of one look at the group.
const KAFKA_CALL: Duration = Duration::from_secs(5);

/// Polls `probe` every [`POLL`] until it returns `Ok`; after `limit`, `Err` with the last
/// thing the probe saw (its own `Err`).
pub async fn poll<T, F, Fut>(limit: Duration, mut probe: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + limit;
    loop {
        match probe().await {
            Ok(v) => return Ok(v),
            Err(seen) if Instant::now() >= deadline => return Err(seen),
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// [`poll`], panicking after `limit` with `what` it waited for and what it last saw.
pub async fn until<T, F, Fut>(limit: Duration, what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    poll(limit, probe)
        .await
        .unwrap_or_else(|seen| panic!("waited {limit:?} for {what}; last seen: {seen}"))
}

/// Reads `value` now and `polls` more times [`POLL`] apart; panics (naming `what` and every
/// reading) if any reading differs from the first, else returns it. This is for proving that
/// something does *not* happen: an absence cannot be waited for, only watched for a bounded
/// time, so each caller says why its window is the right evidence.
pub async fn steady<T, F, Fut>(polls: usize, what: &str, mut value: F) -> T
where
    T: PartialEq + Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let first = value().await;
    let mut seen = vec![];
    for _ in 0..polls {
        tokio::time::sleep(POLL).await;
        let v = value().await;
        let changed = v != first;
        seen.push(v);
        assert!(!changed, "{what} changed: {first:?}, then {seen:?}");
    }
    first
}

/// Waits until the database holds at least `n` orders of `product` and returns them; panics
/// after `limit` with how many there were and the end of the worker's log.
pub async fn orders(s: &Stack, product: &str, n: usize, limit: Duration) -> Vec<OrderRow> {
    let rows = s.wait_for_orders(product, n, limit).await;
    assert!(
        rows.len() >= n,
        "{} of {n} orders of {product} persisted within {limit:?}; the worker's log ends:\n{}",
        rows.len(),
        tail(&s.log("worker"), 20)
    );
    rows
}

/// Waits until every order of `product` has gone as far as it can go: its outbox is empty
/// (every reservation is in Kafka: the API and its relay clear an entry only once Kafka has
/// it), and after that the worker's group has committed every message of `orders` (the worker
/// commits a batch only after PostgreSQL has committed it). From then on no order of
/// `product` can still reach the database — what "wait a moment until in-flight orders have
/// landed" hoped for, as a fact. Panics after `limit` with what is still on its way.
pub async fn drained(s: &Stack, product: &str, limit: Duration) {
    let group: BaseConsumer = flux_gate_core::kafka::client_config(&s.kafka.brokers())
        .set("group.id", WORKER_GROUP)
        .set("enable.auto.commit", "false")
        .create()
        .expect("a client of the worker's group");
    let group = Arc::new(group);
    let redis = s.redis().await;
    let outbox = format!("fg:{{{product}}}:outbox");
    let waited = poll(limit, || {
        let (group, mut redis, outbox) = (Arc::clone(&group), redis.clone(), outbox.clone());
        async move {
            // The outbox first: an entry leaves it only once its message is in Kafka, so
            // the backlog read after an empty outbox covers every order there is.
            let queued: u64 = redis
                .xlen(&outbox)
                .await
                .map_err(|e| format!("XLEN {outbox}: {e}"))?;
            let backlog = uncommitted(group).await?;
            if queued == 0 && backlog == 0 {
                Ok(())
            } else {
                Err(format!(
                    "{queued} orders in {outbox}, {backlog} messages of `{ORDERS_TOPIC}` the worker has not committed"
                ))
            }
        }
    })
    .await;
    if let Err(seen) = waited {
        panic!(
            "the orders of {product} did not drain into the database within {limit:?}: {seen}; the worker's log ends:\n{}",
            tail(&s.log("worker"), 20)
        );
    }
}

/// Messages of `orders` the worker's group has not committed, summed over the partitions
/// (what the worker's own group watchdog computes).
pub async fn backlog(s: &Stack) -> i64 {
    let group: BaseConsumer = flux_gate_core::kafka::client_config(&s.kafka.brokers())
        .set("group.id", WORKER_GROUP)
        .set("enable.auto.commit", "false")
        .create()
        .expect("a client of the worker's group");
    uncommitted(Arc::new(group))
        .await
        .unwrap_or_else(|e| panic!("the worker's group backlog: {e}"))
}

async fn uncommitted(group: Arc<BaseConsumer>) -> Result<i64, String> {
    // librdkafka's metadata and offset calls block: keep them off the async workers.
    tokio::task::spawn_blocking(move || {
        let metadata = group
            .fetch_metadata(Some(ORDERS_TOPIC), KAFKA_CALL)
            .map_err(|e| format!("metadata: {e}"))?;
        let mut all = TopicPartitionList::new();
        for topic in metadata.topics() {
            for p in topic.partitions() {
                all.add_partition(ORDERS_TOPIC, p.id());
            }
        }
        if all.count() == 0 {
            return Err(format!("`{ORDERS_TOPIC}` has no partitions yet"));
        }
        let committed = group
            .committed_offsets(all, KAFKA_CALL)
            .map_err(|e| format!("committed offsets: {e}"))?;
        let mut backlog = 0;
        for e in committed.elements() {
            let (low, high) = group
                .fetch_watermarks(ORDERS_TOPIC, e.partition(), KAFKA_CALL)
                .map_err(|e| format!("watermarks: {e}"))?;
            let at = match e.offset() {
                Offset::Offset(o) => o,
                // Nothing committed yet: the group starts from the beginning.
                _ => low,
            };
            backlog += (high - at).max(0);
        }
        Ok(backlog)
    })
    .await
    .map_err(|e| format!("the look at the group failed: {e}"))?
}

/// Waits until the worker reports the database down (`fg_worker_db_up 0`): it has failed to
/// persist a batch, holds it, and retries.
pub async fn worker_sees_the_database_down(s: &Stack, limit: Duration) {
    let url = s.worker.url("/metrics");
    let waited = poll(limit, || async {
        let metrics = s.get_text(&url).await;
        let up = metrics
            .lines()
            .find_map(|l| l.strip_prefix("fg_worker_db_up "))
            .map(str::trim);
        match up {
            Some("0") => Ok(()),
            other => Err(format!("fg_worker_db_up {other:?}")),
        }
    })
    .await;
    if let Err(seen) = waited {
        panic!(
            "the worker did not notice the database outage within {limit:?} ({seen}); its log ends:\n{}",
            tail(&s.log("worker"), 20)
        );
    }
}

/// The orders of `product` in the database now.
pub async fn order_count(s: &Stack, product: &str) -> usize {
    db::orders_of(&s.db, product)
        .await
        .expect("orders from the database")
        .len()
}

fn tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
