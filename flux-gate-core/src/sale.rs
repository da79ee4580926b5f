//! Redis-side operations on a whole sale: start it, read its stock, walk its products.
//! (The per-order decision is `reservation.rs`.)

use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, RedisResult};

use crate::contract::{ProductId, ValidInit};
use crate::keys::{self, ProductKeys};

/// (Re)starts a sale in Redis: removes every key of an earlier sale of this product (old
/// idempotency records, buyer counters, outbox), then sets stock and limits atomically.
pub async fn start(con: &mut MultiplexedConnection, init: &ValidInit) -> RedisResult<()> {
    let k = ProductKeys::new(&init.product);
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(k.all_pattern())
            .arg("COUNT")
            .arg(1000)
            .query_async(con)
            .await?;
        if !batch.is_empty() {
            let _: () = redis::cmd("UNLINK").arg(&batch).query_async(con).await?;
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    redis::pipe()
        .atomic()
        .set(k.stock(), init.quantity)
        .hset_multiple(
            k.sale(),
            &[
                ("initial", init.quantity),
                ("per_user_limit", init.per_user_limit.unwrap_or(0)),
            ],
        )
        .sadd(keys::PRODUCTS, init.product.as_str())
        .exec_async(con)
        .await
}

/// Remaining stock, or `None` when the product has no sale.
pub async fn stock(
    con: &mut MultiplexedConnection,
    product: &ProductId,
) -> RedisResult<Option<i64>> {
    con.get(ProductKeys::new(product).stock()).await
}

/// Every product that ever had a sale in this Redis.
pub async fn products(con: &mut MultiplexedConnection) -> RedisResult<Vec<String>> {
    con.smembers(keys::PRODUCTS).await
}

/// A sale as Redis sees it, for the reconciler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisView {
    pub stock: Option<i64>,
    pub initial: Option<i64>,
    pub outbox: u64,
    /// Orders the outbox relay delivered ([`ProductKeys::relayed`]).
    pub relayed: u64,
}

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

/// Sets the stock of an existing sale (the reconciler's `--fix`).
pub async fn set_stock(
    con: &mut MultiplexedConnection,
    product: &ProductId,
    stock: i64,
) -> RedisResult<()> {
    con.set(ProductKeys::new(product).stock(), stock).await
}
