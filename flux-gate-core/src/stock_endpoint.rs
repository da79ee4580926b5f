//! `GET /stock/{productId}`, served alike by the API and the waiting room (whose page polls it).

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::contract::{Answer, ProductId, Status, StockAnswer};
use crate::http::{answer, unavailable};
use crate::redis_link::RedisLink;
use crate::sale;

/// 200 with the remaining stock · 400 for a malformed id · 404 without a sale · 503 when Redis
/// does not answer within `timeout`.
pub async fn stock_response(redis: &RedisLink, timeout: Duration, raw_product: &str) -> Response {
    let product = match ProductId::parse(raw_product) {
        Ok(p) => p,
        Err(e) => return answer(Answer::error(e.status(), e.to_string())),
    };
    let p = &product;
    match redis
        .call(
            timeout,
            |mut con| async move { sale::stock(&mut con, p).await },
        )
        .await
    {
        Ok(Some(stock)) => Json(StockAnswer {
            status: Status::Ok,
            product_id: product.into_string(),
            stock,
        })
        .into_response(),
        Ok(None) => answer(Answer::error(
            Status::UnknownProduct,
            format!("no sale for product {product}"),
        )),
        Err(e) => unavailable(e.to_string()),
    }
}
