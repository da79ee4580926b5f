//! PostgreSQL: the schema, and every statement the services run against it.
//!
//! The read side (the pool, products with their order count, a product's orders) is in the
//! contract crate, which the harness's checkers use without the services; it is re-exported
//! here so the services read the database through one module.

use std::collections::HashSet;
use std::time::Duration;

use sqlx::postgres::{PgConnection, PgPool};
use sqlx::{Connection, Row};

pub use flux_gate_contract::db_reads::{orders_of, pool, products, OrderRow, ProductRow};

use crate::contract::ValidInit;
use crate::message::OrderMessage;

/// The embedded migrations (`flux-gate-core/migrations`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// SQLSTATE `check_violation`: `products.stock` would go below zero.
const CHECK_VIOLATION: &str = "23514";

pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// (Re)starts a sale in the database: the product row gets `quantity` as initial and current
/// stock, and orders of an earlier sale of the same product are removed.
pub async fn start_sale(pool: &PgPool, init: &ValidInit) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM orders WHERE product_id = $1")
        .bind(init.product.as_str())
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO products (id, initial_stock, stock, per_user_limit) VALUES ($1, $2, $2, $3)
         ON CONFLICT (id) DO UPDATE SET initial_stock = $2, stock = $2, per_user_limit = $3,
                                        started_at = now()",
    )
    .bind(init.product.as_str())
    .bind(init.quantity as i32)
    .bind(init.per_user_limit.map(|n| n as i32))
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// What one batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Orders inserted now.
    pub inserted: u64,
    /// Orders that were already there (redelivery, duplicate message).
    pub already_present: u64,
    /// Orders refused, with the reason; the worker sends them to the dead-letter topic.
    pub refused: Vec<(OrderMessage, &'static str)>,
}

/// Persists a batch of orders in one transaction: inserts the new ones, skips the ones
/// already present, and takes exactly the inserted count off each product's stock.
///
/// Orders for products without a sale are refused (`unknown_product`). If a product's stock
/// would go below zero (Redis lost writes and reserved more than the sale had), the batch is
/// redone order by order and the excess is refused (`oversell_refused`): the database never
/// oversells, and the refusals are loud.
///
/// One attempt takes [`PERSIST_LIMIT`] at most. A request lost on a connection that stays open
/// — a link that drops bytes for a while, then carries them again — is answered by nothing,
/// and without a limit the worker waited for that answer for ever, consuming nothing (found by
/// `fgchaos explore` on the unbroken build: a Kafka kill beside a 10 s `timeout` toxic on the
/// worker's database link, docs/explore.md). On the limit the connection is closed, never
/// returned to the pool, and the caller's retry asks again; the retry is safe whether the lost
/// attempt committed or not, since an order already present is skipped.
pub async fn persist_batch(
    pool: &PgPool,
    batch: &[OrderMessage],
) -> Result<BatchOutcome, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    match tokio::time::timeout(PERSIST_LIMIT, persist_on(&mut conn, batch)).await {
        Ok(result) => result,
        Err(_) => {
            conn.close_on_drop();
            Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("PostgreSQL did not answer within {PERSIST_LIMIT:?}"),
            )))
        }
    }
}

/// The longest one attempt at persisting a batch may take: ten times a 10,000-order batch's
/// slowest healthy write on this project's 2-core machine with debug binaries (about a
/// second), so only an answer that is not coming reaches it.
pub const PERSIST_LIMIT: Duration = Duration::from_secs(10);

async fn persist_on(
    conn: &mut PgConnection,
    batch: &[OrderMessage],
) -> Result<BatchOutcome, sqlx::Error> {
    let mut outcome = BatchOutcome::default();
    let known = known_products(conn, batch).await?;
    let (ok, unknown): (Vec<&OrderMessage>, Vec<&OrderMessage>) = batch
        .iter()
        .partition(|m| known.contains(m.product_id.as_str()));
    outcome
        .refused
        .extend(unknown.into_iter().map(|m| (m.clone(), "unknown_product")));
    if ok.is_empty() {
        return Ok(outcome);
    }
    match insert_bulk(conn, &ok).await {
        Ok(inserted) => {
            outcome.inserted = inserted;
            outcome.already_present = ok.len() as u64 - inserted;
            Ok(outcome)
        }
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(CHECK_VIOLATION) => {
            tracing::error!("stock would go below zero: persisting this batch order by order");
            insert_one_by_one(conn, &ok, &mut outcome).await?;
            Ok(outcome)
        }
        Err(e) => Err(e),
    }
}

async fn known_products(
    conn: &mut PgConnection,
    batch: &[OrderMessage],
) -> Result<HashSet<String>, sqlx::Error> {
    let mut ids: Vec<&str> = batch.iter().map(|m| m.product_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let rows = sqlx::query("SELECT id FROM products WHERE id = ANY($1)")
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows.into_iter().map(|r| r.get::<String, _>(0)).collect())
}

/// One statement: UNNEST the batch, insert what is new, decrement stock by what was inserted.
async fn insert_bulk(conn: &mut PgConnection, batch: &[&OrderMessage]) -> Result<u64, sqlx::Error> {
    let mut order_ids = Vec::with_capacity(batch.len());
    let mut keys = Vec::with_capacity(batch.len());
    let mut products = Vec::with_capacity(batch.len());
    let mut users = Vec::with_capacity(batch.len());
    let mut reserved = Vec::with_capacity(batch.len());
    for m in batch {
        order_ids.push(m.order_id);
        keys.push(m.idempotency_key.as_str());
        products.push(m.product_id.as_str());
        users.push(m.user_id.as_str());
        reserved.push(m.reserved_at);
    }
    let row = sqlx::query(
        "WITH inserted AS (
             INSERT INTO orders (order_id, idempotency_key, product_id, user_id, reserved_at)
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
             ON CONFLICT DO NOTHING
             RETURNING product_id
         ), counts AS (
             SELECT product_id, count(*)::integer AS n FROM inserted GROUP BY product_id
         ), updated AS (
             UPDATE products p SET stock = p.stock - c.n FROM counts c WHERE p.id = c.product_id
             RETURNING c.n
         )
         SELECT coalesce(sum(n), 0)::bigint FROM updated",
    )
    .bind(&order_ids)
    .bind(&keys)
    .bind(&products)
    .bind(&users)
    .bind(&reserved)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.get::<i64, _>(0) as u64)
}

/// The slow, exact path for a batch that would oversell: one savepoint per order.
async fn insert_one_by_one(
    conn: &mut PgConnection,
    batch: &[&OrderMessage],
    outcome: &mut BatchOutcome,
) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    for m in batch {
        let inserted = sqlx::query(
            "INSERT INTO orders (order_id, idempotency_key, product_id, user_id, reserved_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(m.order_id)
        .bind(&m.idempotency_key)
        .bind(&m.product_id)
        .bind(&m.user_id)
        .bind(m.reserved_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            outcome.already_present += 1;
            continue;
        }
        let taken =
            sqlx::query("UPDATE products SET stock = stock - 1 WHERE id = $1 AND stock > 0")
                .bind(&m.product_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if taken == 1 {
            outcome.inserted += 1;
        } else {
            sqlx::query("DELETE FROM orders WHERE order_id = $1")
                .bind(m.order_id)
                .execute(&mut *tx)
                .await?;
            tracing::error!(order = %m.order_id, product = %m.product_id, "refused an order that would oversell");
            outcome.refused.push(((*m).clone(), "oversell_refused"));
        }
    }
    tx.commit().await
}

/// Sets `products.stock` to `initial_stock − orders` (the reconciler's `--fix`).
pub async fn fix_product_stock(pool: &PgPool, id: &str) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE products p SET stock = p.initial_stock - (SELECT count(*) FROM orders o WHERE o.product_id = p.id)
         WHERE p.id = $1 AND p.stock <> p.initial_stock - (SELECT count(*) FROM orders o WHERE o.product_id = p.id)",
    )
    .bind(id)
    .execute(pool)
    .await?
    .rows_affected())
}
