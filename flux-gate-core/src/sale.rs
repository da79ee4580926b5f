//! Redis-side operations on a whole sale: start it, read its stock, walk its products.
//! (The per-order decision is `reservation.rs`; reading a whole sale back, [`view`], is the
//! contract crate's, shared with the harness, and re-exported here.)

use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, RedisResult};

use crate::contract::{ProductId, ValidInit};
use crate::keys::{self, ProductKeys};

pub use flux_gate_contract::redis_reads::{view, RedisView};

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

/// Sets the stock of an existing sale (the reconciler's `--fix`).
pub async fn set_stock(
    con: &mut MultiplexedConnection,
    product: &ProductId,
    stock: i64,
) -> RedisResult<()> {
    con.set(ProductKeys::new(product).stock(), stock).await
}
