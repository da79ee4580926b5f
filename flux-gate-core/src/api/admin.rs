//! `POST /init`: (re)starts a sale — database first (the truth), then Redis.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::Response;

use super::order::is_length_limit;
use super::Shared;
use crate::contract::{self, Answer, Invalid, Status, MAX_BODY_BYTES};
use crate::http::{answer, unavailable};
use crate::{db, sale};

pub async fn init(State(api): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    if !authorized(&headers, &api.admin_token) {
        return answer(Answer::error(
            Status::Unauthorized,
            "POST /init needs `Authorization: Bearer <FG_ADMIN_TOKEN>`",
        ));
    }
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) if is_length_limit(&e) => {
            return answer(Answer::error(
                Status::PayloadTooLarge,
                Invalid::TooLarge.to_string(),
            ))
        }
        Err(e) => {
            return answer(Answer::error(
                Status::BadRequest,
                format!("could not read the request body: {e}"),
            ))
        }
    };
    let init = match contract::parse_init(&bytes) {
        Ok(i) => i,
        Err(e) => return answer(Answer::error(e.status(), e.to_string())),
    };
    if let Err(e) = db::start_sale(&api.db, &init).await {
        tracing::warn!(error = %e, "init: database unavailable");
        return unavailable(format!("database unavailable: {e}"));
    }
    let i = &init;
    let started = api
        .redis
        .call_tracked(api.redis_timeout * 8, |mut con| async move {
            sale::start(&mut con, i).await
        })
        .await;
    let started = match started {
        Ok(((), generation)) => api.ack.confirm(generation).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = started {
        return unavailable(format!(
            "redis unavailable: {e}; the database has the sale, retry /init"
        ));
    }
    tracing::info!(product = %init.product, quantity = init.quantity, per_user_limit = ?init.per_user_limit, "sale started");
    answer(Answer::bare(Status::Ok))
}

/// Compares the bearer token in constant time (the comparison must not leak how much of a
/// guess was right).
fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (a, b) = (given.as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bearer_token_must_match_exactly() {
        let mut h = HeaderMap::new();
        assert!(!authorized(&h, "s3cret"));
        for (v, ok) in [
            ("Bearer s3cret", true),
            ("Bearer s3cre", false),
            ("Bearer s3cretX", false),
            ("s3cret", false),
        ] {
            h.insert(header::AUTHORIZATION, HeaderValue::from_static(v));
            assert_eq!(authorized(&h, "s3cret"), ok, "{v}");
        }
    }
}
