//! The worker's dead-letter path and the reconciler's drift detection and repair.

use std::time::Duration;

use flux_gate_core::contract::Status;
use flux_gate_core::message::DLQ_TOPIC;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use redis::AsyncCommands;

use crate::stack::Stack;
use crate::wait;

async fn dead_letters(s: &Stack, want: usize) -> Vec<(String, String)> {
    let consumer: StreamConsumer = flux_gate_core::kafka::client_config(&s.kafka.brokers())
        .set("group.id", "test-dlq-reader")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[DLQ_TOPIC]).unwrap();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while seen.len() < want {
        let Ok(Ok(m)) = tokio::time::timeout_at(deadline, consumer.recv()).await else {
            break;
        };
        let reason = m
            .headers()
            .and_then(|h| {
                h.iter()
                    .find(|h| h.key == "reason")
                    .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned()))
            })
            .unwrap_or_default();
        seen.push((
            reason,
            String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
        ));
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_messages_go_to_the_dead_letter_topic_without_blocking() {
    let s = Stack::start().await;
    s.init("dl", 10, None).await;
    s.produce_raw("dl", "{not an order").await;
    // An order for a product the database has no sale for (Redis-only, by hand).
    let mut redis = s.redis().await;
    let _: () = redis.set("fg:{ghost}:stock", 5).await.unwrap();
    // Acknowledged either way: 202 when the Kafka gate has not yet seen the broker's first
    // confirmation within its 25 ms silence window (a loaded machine; the relay delivers it).
    let ghost = s.order("ghost", "u", "g1").await.1.status;
    assert!(
        matches!(ghost, Status::Success | Status::Pending),
        "{ghost:?}"
    );
    // Orders behind the poison in the same partition still land.
    let (_, a) = s.order("dl", "u", "after-poison").await;
    let rows = s.wait_for_orders("dl", 1, Duration::from_secs(20)).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(Some(rows[0].order_id), a.order_id);

    let mut letters = dead_letters(&s, 2).await;
    letters.sort();
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert!(letters[0].0.starts_with("unknown_product"), "{letters:?}");
    assert!(
        letters[0].1.contains(r#""productId":"ghost""#),
        "{letters:?}"
    );
    assert!(letters[1].0.starts_with("unparseable"), "{letters:?}");
    assert_eq!(letters[1].1, "{not an order");
    let metrics = s.get_text(&s.worker.url("/metrics")).await;
    assert!(
        metrics.contains(r#"fg_worker_dead_letters_total{reason="unparseable"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"fg_worker_dead_letters_total{reason="unknown_product"} 1"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reconcile_finds_drift_and_fixes_it_from_the_database() {
    let s = Stack::start().await;
    s.init("rc", 20, None).await;
    for i in 0..7 {
        assert_eq!(
            s.order("rc", &format!("u{i}"), &format!("rc-{i}"))
                .await
                .1
                .status,
            Status::Success
        );
    }
    wait::orders(&s, "rc", 7, Duration::from_secs(20)).await;
    let (ok, lines) = s.reconcile("rc", false).await;
    assert!(ok, "{lines:#}");
    assert_eq!(
        (
            lines[0]["redis_stock"].as_i64(),
            lines[0]["db_orders"].as_i64()
        ),
        (Some(13), Some(7))
    );

    // Someone bumps the Redis stock by hand: 5 units that would be sold twice.
    let mut redis = s.redis().await;
    let _: () = redis.set("fg:{rc}:stock", 18).await.unwrap();
    let (ok, lines) = s.reconcile("rc", false).await;
    assert!(!ok);
    assert_eq!(lines[0]["drift"], -5);
    assert!(
        lines[0]["problems"][0].as_str().unwrap().contains("= -5"),
        "{lines:#}"
    );

    let (ok, lines) = s.reconcile("rc", true).await;
    assert!(ok, "{lines:#}");
    let stock: i64 = redis.get("fg:{rc}:stock").await.unwrap();
    assert_eq!(stock, 13);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_database_refuses_to_oversell_even_if_redis_did() {
    let s = Stack::start().await;
    s.init("guard", 2, None).await;
    // Three reserved orders for two units, as if Redis had lost writes: straight into Kafka.
    for i in 0..3 {
        let m = flux_gate_core::message::OrderMessage {
            order_id: uuid::Uuid::now_v7(),
            idempotency_key: format!("g{i}"),
            product_id: "guard".into(),
            user_id: format!("u{i}"),
            reserved_at: time::OffsetDateTime::now_utc(),
        };
        s.produce_raw("guard", &m.to_json().unwrap()).await;
    }
    let letters = dead_letters(&s, 1).await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].0, "oversell_refused");
    let rows = flux_gate_core::db::orders_of(&s.db, "guard").await.unwrap();
    assert_eq!(rows.len(), 2);
    let stock: i32 = sqlx::query_scalar("SELECT stock FROM products WHERE id = 'guard'")
        .fetch_one(&s.db)
        .await
        .unwrap();
    assert_eq!(stock, 0);
    assert!(s
        .log("worker")
        .contains("refused an order that would oversell"));
}
