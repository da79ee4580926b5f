//! The ingestion API: `POST /order` reserves in Redis and produces to Kafka; `POST /init`
//! starts a sale; `GET /stock/{id}`, `/health`, `/ready`, `/metrics`.

mod admin;
pub mod kafka_gate;
mod order;
pub mod publisher;
pub mod relay;
pub mod shed;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use sqlx::PgPool;

use crate::config::ApiArgs;
use crate::contract::{Answer, Status};
use crate::http::{self, answer, unavailable};
use crate::kafka;
use crate::redis_link::RedisLink;
use crate::replica_ack::ReplicaAck;
use crate::reservation::Reserver;
use crate::shutdown::Shutdown;
use kafka_gate::KafkaGate;
use publisher::Publisher;
use relay::Relay;
use shed::Shedder;

/// How long librdkafka retries one order before reporting it failed (the outbox then has it).
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);
const RELAY_INTERVAL: Duration = Duration::from_millis(250);
/// How long one warm-up waits for the broker's metadata, and how long until the next one.
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(3);
const WARM_UP_RETRY: Duration = Duration::from_secs(1);

/// Everything a request handler needs; shared by all requests.
pub struct Api {
    pub redis: RedisLink,
    /// Holds an answer until its reservation is on enough replicas (`FG_REDIS_REPLICA_ACKS`).
    pub ack: ReplicaAck,
    pub reserver: Reserver,
    pub publisher: Publisher,
    pub db: PgPool,
    pub admin_token: String,
    pub waiting_room_url: String,
    pub shedder: Option<Shedder>,
    pub redis_timeout: Duration,
    pub produce_timeout: Duration,
}

pub type Shared = Arc<Api>;

pub fn router(api: Shared, metrics: metrics_exporter_prometheus::PrometheusHandle) -> Router {
    let routes = Router::new()
        .route("/order", post(order::order))
        .route("/init", post(admin::init))
        .route("/stock/{product}", get(stock))
        .route("/ready", get(ready))
        .with_state(api);
    http::with_common_routes(routes, metrics)
}

/// Runs the API until SIGINT/SIGTERM.
pub async fn run(args: ApiArgs) -> anyhow::Result<()> {
    run_with(args, Reserver::default()).await
}

/// [`run`] with another reservation script ([`Reserver::with_script`]): how the mutation
/// suite runs a real API around a broken reservation.
pub async fn run_with(args: ApiArgs, reserver: Reserver) -> anyhow::Result<()> {
    if args.admin_token.trim().is_empty() {
        anyhow::bail!(
            "FG_ADMIN_TOKEN is empty: set it (or --admin-token) to a secret for POST /init"
        );
    }
    let shutdown = Shutdown::listen().context("listening for SIGINT and SIGTERM")?;
    let metrics = http::install_metrics().context("installing the metrics recorder")?;
    let redis = args.redis.link()?;
    let ack = ReplicaAck::start(
        redis.clone(),
        args.redis_replica_acks,
        args.replica_ack_timeout(),
    );
    let publisher = publisher(&args, redis.clone())?;
    let db = args.database.pool(4)?;
    spawn_kafka_warm_up(&args, publisher.clone());
    spawn_relay(&args, redis.clone(), ack.clone(), publisher.clone());
    let api = Arc::new(Api {
        redis,
        ack,
        reserver,
        publisher,
        db,
        admin_token: args.admin_token.clone(),
        waiting_room_url: args.waiting_room_url.clone(),
        shedder: Shedder::new(args.rate_limit_rps),
        redis_timeout: args.redis_timeout(),
        produce_timeout: args.produce_timeout(),
    });
    let served = http::serve(args.listen, router(api.clone(), metrics), shutdown)
        .await
        .with_context(|| format!("serving on {}", args.listen));
    flush(&api.publisher).await;
    served
}

/// The producer behind a [`KafkaGate`] that closes when librdkafka sees every broker down, and
/// the gate's silence watch.
fn publisher(args: &ApiArgs, redis: RedisLink) -> anyhow::Result<Publisher> {
    let gate = Arc::new(KafkaGate::new());
    let on_down = gate.clone();
    let producer = kafka::producer_with(
        &args.kafka.kafka_brokers,
        MESSAGE_TIMEOUT,
        kafka::QuietLog::on_all_brokers_down(move || on_down.lost("all brokers down")),
    )
    .with_context(|| {
        format!(
            "creating a Kafka producer for {:?}",
            args.kafka.kafka_brokers
        )
    })?;
    let publisher = Publisher::new(producer, redis, gate);
    let silence = publisher.gate_handle();
    tokio::spawn(async move { silence.watch_silence().await });
    Ok(publisher)
}

/// Creates the topics and warms the producer up in the background, again every
/// [`WARM_UP_RETRY`] until the broker answers: the API serves at once, orders wait in the
/// outbox until Kafka has them, and `/ready` says Kafka is up as soon as it is. Once was not
/// enough: an API that started before its broker (on Swarm nothing orders the starts) said
/// "kafka down" on `/ready` until an order happened to be delivered, and answered its first
/// orders 202 with the broker up (docs/swarm.md, "Open findings").
fn spawn_kafka_warm_up(args: &ApiArgs, publisher: Publisher) {
    let brokers = args.kafka.kafka_brokers.clone();
    let partitions = args.kafka.kafka_partitions;
    tokio::spawn(async move {
        let mut told = false;
        loop {
            let topics = kafka::ensure_topics(&brokers, partitions).await;
            // A delivery may have said so meanwhile (the outbox relay's, a probe order's).
            if publisher.kafka_up() || publisher.warm_up(WARM_UP_TIMEOUT).await {
                tracing::info!("kafka producer ready");
                return;
            }
            if !told {
                if let Err(e) = topics {
                    tracing::warn!(error = %e, "could not ensure Kafka topics; orders wait in the outbox until Kafka has them");
                }
                tracing::warn!("kafka not reachable yet: orders answer 202 and wait in the outbox; trying again");
                told = true;
            }
            tokio::time::sleep(WARM_UP_RETRY).await;
        }
    });
}

/// The outbox relay: publishes what a request could not deliver in time.
fn spawn_relay(args: &ApiArgs, redis: RedisLink, ack: ReplicaAck, publisher: Publisher) {
    tokio::spawn(
        Relay {
            redis,
            ack,
            publisher,
            instance: format!("{}-{}", args.listen, std::process::id()),
            interval: RELAY_INTERVAL,
            min_age: args.produce_timeout() + Duration::from_millis(500),
        }
        .run(),
    );
}

/// Gives in-flight deliveries a moment on the way out; anything left is in the outbox for the
/// relay.
async fn flush(publisher: &Publisher) {
    let producer = publisher.producer().clone();
    let _ = tokio::task::spawn_blocking(move || {
        use rdkafka::producer::Producer;
        producer.flush(Duration::from_secs(3))
    })
    .await;
}

async fn stock(State(api): State<Shared>, Path(product): Path<String>) -> Response {
    crate::stock_endpoint::stock_response(&api.redis, api.redis_timeout, &product).await
}

/// Ready when Redis answers a PING and Kafka takes orders ([`KafkaGate`]).
async fn ready(State(api): State<Shared>) -> Response {
    let redis_ok = api
        .redis
        .call(api.redis_timeout, |mut con| async move {
            redis::cmd("PING").query_async::<String>(&mut con).await
        })
        .await
        .is_ok();
    let kafka_ok = api.publisher.kafka_up();
    if redis_ok && kafka_ok {
        answer(Answer::bare(Status::Ok))
    } else {
        unavailable(format!("redis {} · kafka {}", up(redis_ok), up(kafka_ok)))
    }
}

fn up(ok: bool) -> &'static str {
    if ok {
        "up"
    } else {
        "down"
    }
}
