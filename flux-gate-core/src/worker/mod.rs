//! The inventory worker: consumes `orders`, persists them into PostgreSQL in batches, and
//! commits Kafka offsets only after the database has committed.
//!
//! Redelivery after a crash is harmless (inserts skip existing rows), so the worker gives
//! at-least-once delivery and exactly-once effects. While PostgreSQL is down it holds its batch,
//! pauses its partitions (so it keeps its group membership without fetching more), and retries
//! with backoff until the batch lands; [`backlog`] exports how old the oldest order it holds
//! is. A watchdog ([`membership`]) rejoins the consumer group
//! if the broker leaves a partition with waiting orders to no live worker.

pub mod backlog;
mod batch;
mod commits;
mod context;
mod membership;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use rdkafka::consumer::{Consumer, StreamConsumer};
use sqlx::PgPool;

use crate::config::{KafkaArgs, WorkerArgs};
use crate::contract::{Answer, Status};
use crate::http::{answer, unavailable};
use crate::message::ORDERS_TOPIC;
use crate::shutdown::Shutdown;
use crate::{db, http, kafka};
use batch::Batcher;
use context::WorkerContext;

pub type OrderConsumer = StreamConsumer<WorkerContext>;

/// Runs the worker until SIGINT/SIGTERM: health first, then the schema and topics, then the
/// consumer loop.
pub async fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let shutdown = Shutdown::listen().context("listening for SIGINT and SIGTERM")?;
    let metrics = http::install_metrics().context("installing the metrics recorder")?;
    let pool = args.database.pool(4)?;
    let prepared = serve_health(args.listen, metrics, shutdown.clone());
    tokio::select! {
        biased;
        () = shutdown.clone().requested() => {
            tracing::info!("stopped before consuming");
            return Ok(());
        }
        () = prepare(&pool, &args.kafka) => {}
    }
    prepared.store(true, Ordering::Release);
    consume(&args, pool, shutdown).await
}

/// Serves `/ready`, `/health` and `/metrics`. `/ready` answers 503 until the returned flag is
/// set: a stack that waits for it (the local target) must not start a sale the database
/// cannot hold yet.
fn serve_health(
    listen: SocketAddr,
    metrics: PrometheusHandle,
    shutdown: Shutdown,
) -> Arc<AtomicBool> {
    let prepared = Arc::new(AtomicBool::new(false));
    let ready_flag = Arc::clone(&prepared);
    tokio::spawn(async move {
        let ready = Router::new().route(
            "/ready",
            get(move || {
                let ready = ready_flag.load(Ordering::Acquire);
                async move {
                    if ready {
                        answer(Answer::bare(Status::Ok))
                    } else {
                        unavailable("preparing: migrating the database schema, creating the topics")
                    }
                }
            }),
        );
        let app = http::with_common_routes(ready, metrics);
        if let Err(e) = http::serve(listen, app, shutdown).await {
            tracing::error!(error = %e, %listen, "worker health server failed");
        }
    });
    prepared
}

/// Migrates the schema and creates the topics, retrying each until it succeeds.
async fn prepare(pool: &PgPool, kafka: &KafkaArgs) {
    retry("migrating the database schema", || db::migrate(pool)).await;
    retry("ensuring Kafka topics", || {
        kafka::ensure_topics(&kafka.kafka_brokers, kafka.kafka_partitions)
    })
    .await;
}

/// Joins the group and persists batches until shutdown, with the membership watchdog beside.
async fn consume(args: &WorkerArgs, pool: PgPool, shutdown: Shutdown) -> anyhow::Result<()> {
    let consumer = Arc::new(consumer(args).context("creating the Kafka consumer")?);
    consumer
        .subscribe(&[ORDERS_TOPIC])
        .context("subscribing to the orders topic")?;
    // The watchdog's database probe has a pool of its own (one connection): it must never
    // take a connection the batch writer waits for when the database comes back.
    let probe_pool = args.database.pool(1)?;
    let watchdog = tokio::spawn(membership::watch(
        Arc::clone(&consumer),
        probe_pool,
        SESSION_TIMEOUT + REJOIN_MARGIN,
    ));
    let leave = Arc::clone(&consumer);
    let dlq = kafka::producer(&args.kafka.kafka_brokers, Duration::from_secs(30))
        .context("creating the dead-letter producer")?;
    tracing::info!(group = %args.group, batch = args.batch_size, "worker consuming");
    let oldest = Arc::new(backlog::Oldest::default());
    tokio::spawn(backlog::export(Arc::clone(&oldest), shutdown.clone()));
    let batcher = Batcher {
        oldest,
        consumer,
        pool,
        dlq,
        max: args.batch_size as usize,
        linger: Duration::from_millis(args.batch_linger_ms),
    };
    batcher.run(shutdown).await;
    // Leave the group explicitly on the way out, so a replacement gets the partitions at once
    // instead of after this member's session timeout (on tansu: not at all, see
    // `membership`). Dropping the consumer would leave too, but only once its last handle is
    // gone, and the watchdog holds one.
    watchdog.abort();
    leave.unsubscribe();
    Ok(())
}

/// Kafka session timeout: a killed worker's partitions move to its replacement within this.
const SESSION_TIMEOUT: Duration = Duration::from_secs(6);
/// How much longer than a session timeout a worker waits, with orders waiting in a partition it
/// does not hold and nobody committing there, before it rejoins the group (see [`membership`]).
const REJOIN_MARGIN: Duration = Duration::from_secs(4);

fn consumer(args: &WorkerArgs) -> Result<OrderConsumer, rdkafka::error::KafkaError> {
    let mut config = kafka::client_config(&args.kafka.kafka_brokers);
    if let Some(contexts) = &args.kafka_debug {
        config.set("debug", contexts);
    }
    config
        .set("group.id", &args.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set(
            "session.timeout.ms",
            SESSION_TIMEOUT.as_millis().to_string(),
        )
        .set("heartbeat.interval.ms", "1000")
        .set("fetch.wait.max.ms", "50")
        .set("max.partition.fetch.bytes", "1048576")
        .set("queued.min.messages", "200000")
        .create_with_context(WorkerContext::default())
}

/// Repeats `op` with capped exponential backoff until it succeeds.
pub(crate) async fn retry<T, E, F, Fut>(what: &str, mut op: F) -> T
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut delay = Duration::from_millis(100);
    loop {
        match op().await {
            Ok(v) => return v,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?delay, "{what} failed");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
}
