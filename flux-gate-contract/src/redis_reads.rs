//! The Redis read side: a sale as Redis sees it, for the reconciler and the harness's checkers
//! and stock sampler.
//!
//! It lives beside the key names ([`crate::keys`]) rather than with the services' Redis
//! operations (`flux_gate_core::sale`) so the checkers read exactly the keys the services
//! write, without compiling the services. Only reads here.

use redis::aio::MultiplexedConnection;
use redis::RedisResult;

use crate::http::ProductId;
use crate::keys::ProductKeys;

/// A sale as Redis sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisView {
    pub stock: Option<i64>,
    pub initial: Option<i64>,
    pub outbox: u64,
    /// Orders the outbox relay delivered ([`ProductKeys::relayed`]).
    pub relayed: u64,
}

/// Stock, initial stock, outbox length and relayed count of one sale, in one round trip.
pub async fn view(con: &mut MultiplexedConnection, product: &ProductId) -> RedisResult<RedisView> {
    let k = ProductKeys::new(product);
    let (stock, initial, outbox, relayed): (Option<i64>, Option<i64>, u64, Option<u64>) =
        redis::pipe()
            .get(k.stock())
            .hget(k.sale(), "initial")
            .xlen(k.outbox())
            .get(k.relayed())
            .query_async(con)
            .await?;
    Ok(RedisView {
        stock,
        initial,
        outbox,
        relayed: relayed.unwrap_or(0),
    })
}
