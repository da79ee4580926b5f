//! tansu and the idempotent producer after a broker outage. When messages time out,
//! librdkafka's idempotent producer (no transactional id) bumps its epoch itself: same
//! producer id, epoch + 1, sequences from 0. Kafka accepts that first batch of the new epoch;
//! tansu 0.6.0 as published panicked on it ("more or less than one row") and then failed every
//! produce until restarted. third_party/tansu/tansu-storage.patch fixes it; this test proves
//! the broker scripts/bootstrap installs has the fix.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flux_gate_core::kafka::{self, Producer};
use flux_gate_core::message::ORDERS_TOPIC;
use flux_gate_testbed::Tansu;
use futures::future::join_all;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureRecord, Producer as _};
use rdkafka::{Message, Offset, TopicPartitionList};

/// Short, so the messages sent during the outage fail quickly and make the producer bump.
const MESSAGE_TIMEOUT: Duration = Duration::from_millis(2000);
/// Messages sent once the broker is back.
const AFTER: usize = 50;
/// How long those may take, all together (a healthy broker needs a fraction of a second).
const AFTER_WITHIN: Duration = Duration::from_secs(10);

async fn send(producer: &Producer, payload: String) -> Result<i64, String> {
    producer
        .send(
            FutureRecord::<str, str>::to(ORDERS_TOPIC)
                .key("k")
                .payload(&payload),
            Duration::from_secs(1),
        )
        .await
        .map(|d| d.offset)
        .map_err(|(e, _)| format!("{payload}: {e}"))
}

fn tansu_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("tansu.log")).unwrap_or_default()
}

/// Every payload in the partition, with how often it is there: read up to the partition's
/// high watermark, looked up again once it is reached, so every record the partition holds
/// (a late duplicate included) is counted.
async fn read_back(brokers: &str) -> BTreeMap<String, usize> {
    let consumer: StreamConsumer = kafka::client_config(brokers)
        .set("group.id", "epoch-bump-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let consumer = Arc::new(consumer);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(ORDERS_TOPIC, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let high = || {
        let c = Arc::clone(&consumer);
        async move {
            tokio::task::spawn_blocking(move || {
                c.fetch_watermarks(ORDERS_TOPIC, 0, Duration::from_secs(10))
            })
            .await
            .unwrap()
            .expect("watermarks")
            .1
        }
    };
    let mut seen = BTreeMap::new();
    // The offset after the last record read.
    let mut next = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let end = high().await;
        if next >= end {
            break;
        }
        while next < end {
            let m = tokio::time::timeout_at(deadline, consumer.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!("read up to offset {next} of {end} within 20 s: {seen:?}")
                })
                .unwrap();
            let payload = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
            *seen.entry(payload).or_insert(0) += 1;
            next = m.offset() + 1;
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn idempotent_producer_keeps_producing_after_its_epoch_bump() {
    let dir = tempfile::Builder::new()
        .prefix("fg-test-")
        .tempdir()
        .expect("tempdir");
    let tansu_dir = dir.path().join("tansu");
    let mut tansu = Tansu::start(&tansu_dir).await.expect("tansu starts");
    let brokers = tansu.brokers();
    kafka::ensure_topics(&brokers, 1).await.expect("topics");
    let producer = kafka::producer(&brokers, MESSAGE_TIMEOUT).expect("producer");

    // The producer's id and epoch 0, and a first sequence the broker has seen.
    send(&producer, "before".into())
        .await
        .expect("delivered before the outage");

    tansu.process.kill().await.expect("SIGKILL tansu");
    let during = join_all((0..3).map(|i| send(&producer, format!("during-{i}")))).await;
    assert!(
        during.iter().all(Result::is_err),
        "sent while the broker was dead: {during:?}"
    );

    tansu.start_again().await.expect("tansu restarts");
    // Sent once the producer knows the broker again, so none of them spends its short
    // timeout on reconnecting.
    let p = producer.clone();
    tokio::task::spawn_blocking(move || {
        p.client()
            .fetch_metadata(Some(ORDERS_TOPIC), Duration::from_secs(10))
            .map(|_| ())
    })
    .await
    .unwrap()
    .expect("metadata from the restarted broker");

    let started = Instant::now();
    let after = join_all((0..AFTER).map(|i| send(&producer, format!("after-{i}")))).await;
    let took = started.elapsed();
    let failed: Vec<_> = after.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {AFTER} messages after the outage not delivered, e.g. {:?}\ntansu.log:\n{}",
        failed.len(),
        failed.first(),
        tansu_log(&tansu_dir)
    );
    assert!(took < AFTER_WITHIN, "{AFTER} messages took {took:?}");

    let (low, high) = {
        let p = producer.clone();
        tokio::task::spawn_blocking(move || {
            p.client()
                .fetch_watermarks(ORDERS_TOPIC, 0, Duration::from_secs(10))
        })
        .await
        .unwrap()
        .expect("watermarks")
    };
    assert_eq!(high - low, 1 + AFTER as i64, "records in the partition");
    let seen = read_back(&brokers).await;
    let expected: BTreeMap<String, usize> = std::iter::once("before".to_owned())
        .chain((0..AFTER).map(|i| format!("after-{i}")))
        .map(|p| (p, 1))
        .collect();
    assert_eq!(
        seen, expected,
        "each delivered message read back exactly once"
    );

    let log = tansu_log(&tansu_dir);
    assert!(!log.contains("panicked"), "tansu panicked:\n{log}");
}
