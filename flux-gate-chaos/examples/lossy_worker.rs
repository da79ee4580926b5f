//! A deliberately broken inventory worker — test fixture, never shipped. It does what
//! `flux-gate worker` does (consume `orders`, persist through the same database code, commit
//! offsets) except that it silently drops every tenth message. fgchaos must catch it: the
//! acknowledged orders it drops never reach the database, so `no_lost_acks` fails (exit 1).
//!
//! Environment: `FG_LISTEN`, `FG_KAFKA_BROKERS`, `FG_DATABASE_URL` (as the real worker).

use std::time::Duration;

use anyhow::Context;
use flux_gate_core::message::{OrderMessage, ORDERS_TOPIC};
use flux_gate_core::{db, http, kafka};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::Message;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let listen: std::net::SocketAddr = std::env::var("FG_LISTEN").context("FG_LISTEN")?.parse()?;
    let brokers = std::env::var("FG_KAFKA_BROKERS").context("FG_KAFKA_BROKERS")?;
    let url = std::env::var("FG_DATABASE_URL").context("FG_DATABASE_URL")?;
    let pool = db::pool(&url, 2)?;
    db::migrate(&pool).await?;
    kafka::ensure_topics(&brokers, 3).await?;
    let metrics = http::install_metrics()?;
    tokio::spawn(async move {
        let _ = http::serve(
            listen,
            http::with_common_routes(axum::Router::new(), metrics),
        )
        .await;
    });
    let consumer: StreamConsumer = kafka::client_config(&brokers)
        .set("group.id", "flux-gate-inventory")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[ORDERS_TOPIC])?;
    let mut seen: u64 = 0;
    loop {
        let msg = consumer.recv().await?;
        seen += 1;
        if seen % 10 != 0 {
            if let Some(order) = msg.payload().and_then(|p| OrderMessage::from_json(p).ok()) {
                while db::persist_batch(&pool, std::slice::from_ref(&order))
                    .await
                    .is_err()
                {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        consumer.commit_message(&msg, CommitMode::Sync)?;
    }
}
