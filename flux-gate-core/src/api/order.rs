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

/// The status counted in the metrics and the response sent: what every step of [`decide`]
/// ends with, early or not.
type Decided = (Status, Response);

/// Validate, shed, reserve, then answer what the reservation says. Each step that can end the
/// request early returns its answer as the `Err` of a `Result`, so the path reads top to bottom.
async fn decide(api: &Shared, headers: &HeaderMap, body: Body) -> Decided {
    let order = match read_order(headers, body).await {
        Ok(o) => o,
        Err(e) => return refused(e.status(), e.to_string()),
    };
    if api.shedder.as_ref().is_some_and(|s| !s.admit()) {
        return (
            Status::WaitingRoom,
            to_waiting_room(&api.waiting_room_url, &order),
        );
    }
    match reserve(api, &order).await {
        Ok(held) => answer_outcome(api, &order, held).await,
        Err(refused) => refused,
    }
}

/// What Redis said of one order, once it is safe to say it to the buyer.
struct Held {
    outcome: Outcome,
    order_id: Uuid,
    /// The order's Kafka message, also the outbox entry's payload.
    payload: String,
}

/// Runs the reservation script and, for a yes, waits until the replicas have it.
async fn reserve(api: &Shared, order: &ValidOrder) -> Result<Held, Decided> {
    let order_id = Uuid::now_v7();
    let payload = message(order, order_id).to_json().map_err(|e| {
        (
            Status::Unavailable,
            unavailable(format!("system clock out of range: {e}")),
        )
    })?;
    let (reserver, p) = (&api.reserver, payload.as_str());
    let (outcome, generation) = api
        .redis
        .call_tracked(api.redis_timeout, |mut con| async move {
            reserver.reserve(&mut con, order, order_id, p).await
        })
        .await
        .map_err(|e| {
            tracing::debug!(error = %e, "reservation failed");
            (
                Status::Unavailable,
                unavailable(format!("could not reserve: {e}; retry with the same key")),
            )
        })?;
    // A yes must survive a failover: wait until the reservation (or, for a replay, the
    // record it read) is on the replicas. Until then nothing leaves Redis — the outbox keeps
    // the order, and the relay publishes it only once it is replicated (`relay.rs`).
    if matches!(outcome, Outcome::Reserved { .. } | Outcome::Replay { .. }) {
        api.ack.confirm(generation).await.map_err(|e| {
            tracing::debug!(error = %e, "reservation not replicated in time");
            (
                Status::Unavailable,
                unavailable(format!(
                    "reserved, but not yet on a replica ({e}); retry with the same key"
                )),
            )
        })?;
    }
    Ok(Held {
        outcome,
        order_id,
        payload,
    })
}

fn message(order: &ValidOrder, order_id: Uuid) -> OrderMessage {
    OrderMessage {
        order_id,
        idempotency_key: order.key.as_str().to_owned(),
        product_id: order.product.as_str().to_owned(),
        user_id: order.user.as_str().to_owned(),
        reserved_at: OffsetDateTime::now_utc(),
    }
}

/// Turns a replicated outcome into the buyer's answer; a fresh reservation is delivered to
/// Kafka first (201 if the broker took it in time, 202 if the outbox still holds it).
async fn answer_outcome(api: &Shared, order: &ValidOrder, held: Held) -> Decided {
    match held.outcome {
        Outcome::Reserved { outbox_entry } => {
            let delivery = Delivery {
                product: order.product.as_str().to_owned(),
                outbox_key: ProductKeys::new(&order.product).outbox(),
                outbox_entry,
                payload: held.payload,
            };
            let status = if api.publisher.publish(delivery, api.produce_timeout).await {
                Status::Success
            } else {
                Status::Pending
            };
            (status, answer(Answer::order(status, held.order_id)))
        }
        Outcome::Replay { order_id, user } if user == order.user.as_str() => replayed(order_id),
        Outcome::Replay { .. } => refused(
            Status::IdempotencyConflict,
            format!(
                "{IDEMPOTENCY_HEADER} {} was already used for a different order; \
                 use a new key for a new order",
                order.key
            ),
        ),
        Outcome::SoldOut => (Status::SoldOut, answer(Answer::bare(Status::SoldOut))),
        Outcome::UserLimit => refused(
            Status::UserLimit,
            "this buyer already holds the sale's per-user limit",
        ),
        Outcome::UnknownProduct => refused(
            Status::UnknownProduct,
            format!("no sale for product {}", order.product),
        ),
    }
}

/// The same key from the same buyer: the first answer again, marked as a replay.
fn replayed(order_id: Uuid) -> Decided {
    let mut r = answer(Answer::order(Status::Success, order_id));
    r.headers_mut()
        .insert(REPLAY_HEADER, HeaderValue::from_static("true"));
    (Status::Success, r)
}

fn refused(status: Status, why: impl Into<String>) -> Decided {
    (status, answer(Answer::error(status, why)))
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
