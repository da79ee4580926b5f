//! The herd: many concurrent buyers for little stock, and a storm of retries with one key.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use flux_gate_core::contract::Status;
use futures::future::join_all;
use reqwest::StatusCode;

use crate::stack::{order_at, ApiEnv, Stack};
use crate::wait;

/// Sends every `(user, key)` concurrently (at most `in_flight` at once) and returns the answers.
pub async fn herd(
    s: &Stack,
    product: &str,
    attempts: Vec<(String, String)>,
    in_flight: usize,
) -> Vec<(StatusCode, flux_gate_core::contract::Answer)> {
    let gate = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let url = s.api.url("/order");
    let tasks = attempts.into_iter().map(|(user, key)| {
        let (http, url, gate, product) = (
            s.http.clone(),
            url.clone(),
            gate.clone(),
            product.to_owned(),
        );
        tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.expect("semaphore");
            order_at(&http, &url, &product, &user, &key).await
        })
    });
    join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_thousand_buyers_for_one_hundred_units() {
    let s = Stack::start_with(ApiEnv::patient()).await;
    s.init("herd", 100, Some(1)).await;
    let attempts = (0..2000)
        .map(|i| (format!("buyer-{i}"), format!("herd-{i}")))
        .collect();
    let answers = herd(&s, "herd", attempts, 2000).await;

    let won: Vec<_> = answers
        .iter()
        .filter(|(_, a)| matches!(a.status, Status::Success | Status::Pending))
        .collect();
    let sold_out = answers
        .iter()
        .filter(|(c, a)| *c == StatusCode::CONFLICT && a.status == Status::SoldOut)
        .count();
    assert_eq!(won.len(), 100, "successes");
    assert_eq!(sold_out, 1900, "sold out");
    let ids: HashSet<_> = won
        .iter()
        .map(|(_, a)| a.order_id.expect("orderId"))
        .collect();
    assert_eq!(ids.len(), 100);

    let rows = s
        .wait_for_orders("herd", 100, Duration::from_secs(30))
        .await;
    // Once the pipeline is drained no order can still arrive: the count after it is final.
    wait::drained(&s, "herd", Duration::from_secs(30)).await;
    let rows_after = flux_gate_core::db::orders_of(&s.db, "herd").await.unwrap();
    assert_eq!((rows.len(), rows_after.len()), (100, 100));
    assert_eq!(
        rows_after
            .iter()
            .map(|r| r.order_id)
            .collect::<HashSet<_>>(),
        ids
    );
    let stock: i32 = sqlx::query_scalar("SELECT stock FROM products WHERE id = 'herd'")
        .fetch_one(&s.db)
        .await
        .unwrap();
    assert_eq!(stock, 0);
    let (consistent, lines) = s.reconcile("herd", false).await;
    assert!(consistent, "{lines:#}");
    assert_eq!(lines[0]["redis_stock"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_retries_of_one_key_make_one_order() {
    let s = Stack::start_with(ApiEnv::patient()).await;
    s.init("storm", 50, None).await;
    let attempts = (0..10_000)
        .map(|_| ("same-buyer".to_owned(), "the-one-key".to_owned()))
        .collect();
    let answers = herd(&s, "storm", attempts, 1000).await;
    let (ok, other): (Vec<_>, Vec<_>) = answers.iter().partition(|(c, a)| {
        c.is_success() && matches!(a.status, Status::Success | Status::Pending)
    });
    assert!(
        other.is_empty(),
        "{} of 10000 not answered with the order: {:?}",
        other.len(),
        &other[..3.min(other.len())]
    );
    let ids: HashSet<_> = ok.iter().map(|(_, a)| a.order_id).collect();
    assert_eq!(ids.len(), 1, "every answer names the same order: {ids:?}");
    let rows = s.wait_for_orders("storm", 1, Duration::from_secs(20)).await;
    // Once the pipeline is drained no order can still arrive: the count after it is final.
    wait::drained(&s, "storm", Duration::from_secs(20)).await;
    assert_eq!(
        flux_gate_core::db::orders_of(&s.db, "storm")
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(Some(rows[0].order_id), *ids.iter().next().unwrap());
    let (consistent, lines) = s.reconcile("storm", false).await;
    assert!(consistent, "{lines:#}");
    assert_eq!(lines[0]["redis_stock"], 49);
}
