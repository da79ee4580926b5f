//! `POST /order`: validate, shed, reserve atomically in Redis, deliver to Kafka.

use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;
use uuid::Uuid;

use super::publisher::Delivery;
use super::shed::waiting_room_location;
use super::Shared;
use crate::contract::{
    self, Answer, Invalid, Status, ValidOrder, IDEMPOTENCY_HEADER, MAX_BODY_BYTES, REPLAY_HEADER,
};
use crate::http::{answer, unavailable};
use crate::keys::ProductKeys;
use crate::message::OrderMessage;
use crate::reservation::Outcome;

pub async fn order(State(api): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let (status, response) = decide(&api, &headers, body).await;
    metrics::counter!("fg_api_orders_total", "status" => status.as_str()).increment(1);
    metrics::histogram!("fg_api_order_seconds").record(started.elapsed().as_secs_f64());
    response
}

async fn decide(api: &Shared, headers: &HeaderMap, body: Body) -> (Status, Response) {
    let order = match read_order(headers, body).await {
        Ok(o) => o,
        Err(e) => return (e.status(), answer(Answer::error(e.status(), e.to_string()))),
    };
    if let Some(shedder) = &api.shedder {
        if !shedder.admit() {
            return (
                Status::WaitingRoom,
                to_waiting_room(&api.waiting_room_url, &order),
            );
        }
    }
    let order_id = Uuid::now_v7();
    let message = OrderMessage {
        order_id,
        idempotency_key: order.key.as_str().to_owned(),
        product_id: order.product.as_str().to_owned(),
        user_id: order.user.as_str().to_owned(),
        reserved_at: OffsetDateTime::now_utc(),
    };
    let payload = match message.to_json() {
        Ok(p) => p,
        Err(e) => {
            return (
                Status::Unavailable,
                unavailable(format!("system clock out of range: {e}")),
            )
        }
    };
    let (reserver, o, p) = (&api.reserver, &order, payload.as_str());
    let outcome = api
        .redis
        .call_tracked(api.redis_timeout, |mut con| async move {
            reserver.reserve(&mut con, o, order_id, p).await
        })
        .await;
    let (outcome, generation) = match outcome {
        Ok(answered) => answered,
        Err(e) => {
            tracing::debug!(error = %e, "reservation failed");
            return (
                Status::Unavailable,
                unavailable(format!("could not reserve: {e}; retry with the same key")),
            );
        }
    };
    // A yes must survive a failover: wait until the reservation (or, for a replay, the
    // record it read) is on the replicas. Until then nothing leaves Redis — the outbox keeps
    // the order, and the relay publishes it only once it is replicated (`relay.rs`).
    if matches!(outcome, Outcome::Reserved { .. } | Outcome::Replay { .. }) {
        if let Err(e) = api.ack.confirm(generation).await {
            tracing::debug!(error = %e, "reservation not replicated in time");
            return (
                Status::Unavailable,
                unavailable(format!(
                    "reserved, but not yet on a replica ({e}); retry with the same key"
                )),
            );
        }
    }
    match outcome {
        Outcome::Reserved { outbox_entry } => {
            let delivery = Delivery {
                product: order.product.as_str().to_owned(),
                outbox_key: ProductKeys::new(&order.product).outbox(),
                outbox_entry,
                payload,
            };
            let status = if api.publisher.publish(delivery, api.produce_timeout).await {
                Status::Success
            } else {
                Status::Pending
            };
            (status, answer(Answer::order(status, order_id)))
        }
        Outcome::Replay { order_id, user } if user == order.user.as_str() => {
            let mut r = answer(Answer::order(Status::Success, order_id));
            r.headers_mut()
                .insert(REPLAY_HEADER, HeaderValue::from_static("true"));
            (Status::Success, r)
        }
        Outcome::Replay { .. } => (
            Status::IdempotencyConflict,
            answer(Answer::error(
                Status::IdempotencyConflict,
                format!(
                    "{IDEMPOTENCY_HEADER} {} was already used for a different order; \
                     use a new key for a new order",
                    order.key
                ),
            )),
        ),
        Outcome::SoldOut => (Status::SoldOut, answer(Answer::bare(Status::SoldOut))),
        Outcome::UserLimit => (
            Status::UserLimit,
            answer(Answer::error(
                Status::UserLimit,
                "this buyer already holds the sale's per-user limit",
            )),
        ),
        Outcome::UnknownProduct => (
            Status::UnknownProduct,
            answer(Answer::error(
                Status::UnknownProduct,
                format!("no sale for product {}", order.product),
            )),
        ),
    }
}

/// Reads at most [`MAX_BODY_BYTES`] and validates header and body.
async fn read_order(headers: &HeaderMap, body: Body) -> Result<ValidOrder, Invalid> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(Invalid::TooLarge);
    }
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            if is_length_limit(&e) {
                Invalid::TooLarge
            } else {
                Invalid::BadRequest(format!("could not read the request body: {e}"))
            }
        })?;
    contract::parse_order(
        headers.get(IDEMPOTENCY_HEADER).map(HeaderValue::as_bytes),
        &bytes,
    )
}

pub(super) fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

fn to_waiting_room(base: &str, order: &ValidOrder) -> Response {
    let location = waiting_room_location(base, order.product.as_str());
    let body = Answer::error(
        Status::WaitingRoom,
        "the sale is busy: wait in the waiting room and retry",
    );
    let mut r = (StatusCode::FOUND, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}
