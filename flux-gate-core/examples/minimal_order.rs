//! The reference server of `bench/api.sh`: the smallest honest order endpoint — axum, one
//! shared multiplexed Redis connection, one Lua script that takes a unit of stock if any is
//! left. No validation, idempotency, per-user limit, outbox, Kafka, shedding, metrics or
//! timeouts. The brief measured this shape at ~80k req/s on these machines; measured beside
//! `flux-gate api` in the same run, with the same load generator and request script, the ratio
//! between the two is what all of Flux-Gate's promises cost per request.
//!
//!   minimal_order LISTEN_ADDR REDIS_URL STOCK

use std::net::SocketAddr;

use anyhow::{bail, Context};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use redis::aio::MultiplexedConnection;
use redis::Script;
use serde::Deserialize;

const TAKE_ONE: &str = r#"
local left = tonumber(redis.call('GET', KEYS[1]) or '0')
if left <= 0 then return 0 end
redis.call('DECR', KEYS[1])
return 1
"#;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Order {
    product_id: String,
    #[allow(dead_code)] // parsed like the real endpoint parses it, not used
    user_id: String,
}

#[derive(Clone)]
struct App {
    redis: MultiplexedConnection,
    script: std::sync::Arc<Script>,
}

async fn order(State(app): State<App>, body: Bytes) -> (StatusCode, Json<serde_json::Value>) {
    let Ok(order) = serde_json::from_slice::<Order>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"status": "bad_request"})),
        );
    };
    let mut con = app.redis.clone();
    let taken: redis::RedisResult<i64> = app
        .script
        .key(format!("minimal:{{{}}}:stock", order.product_id))
        .invoke_async(&mut con)
        .await;
    match taken {
        Ok(1) => (
            StatusCode::OK,
            Json(serde_json::json!({"status": "success"})),
        ),
        Ok(_) => (
            StatusCode::CONFLICT,
            Json(serde_json::json!({"status": "sold_out"})),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "unavailable"})),
        ),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, redis_url, stock] = args.as_slice() else {
        bail!("usage: minimal_order LISTEN_ADDR REDIS_URL STOCK");
    };
    let listen: SocketAddr = listen
        .parse()
        .with_context(|| format!("{listen:?} is not an address like 127.0.0.1:8090"))?;
    let stock: i64 = stock
        .parse()
        .with_context(|| format!("{stock:?} is not a whole number of units"))?;
    let mut redis = redis::Client::open(redis_url.as_str())
        .with_context(|| format!("{redis_url:?} is not a Redis URL"))?
        .get_multiplexed_async_connection()
        .await
        .context("connecting to Redis")?;
    redis::cmd("SET")
        .arg("minimal:{bench}:stock")
        .arg(stock)
        .exec_async(&mut redis)
        .await
        .context("setting the stock")?;
    let app = App {
        redis,
        script: std::sync::Arc::new(Script::new(TAKE_ONE)),
    };
    let router = Router::new().route("/order", post(order)).with_state(app);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    axum::serve(listener, router).await.context("serving")?;
    Ok(())
}
