//! The PostgreSQL read side: the queries the reconciler, the tests and the harness's checkers
//! read the outcome of a sale with, and the pool they read through.
//!
//! They live beside the contract rather than with the services' statements
//! (`flux_gate_core::db`) because the checkers must see the database exactly as the services
//! define it — same tables, same counting — without compiling the services. Only reads here:
//! every statement that changes the database stays in the services.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

/// A pool that connects lazily, so a service starts (and reports unready) while the database
/// is down instead of refusing to start (and the harness's reader can be made while it is).
pub fn pool(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let opts: PgConnectOptions = url.parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy_with(opts.application_name("flux-gate")))
}

/// A product's state as the database sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductRow {
    pub id: String,
    pub initial_stock: i64,
    pub stock: i64,
    pub orders: i64,
}

/// Every product (or one), with its order count.
pub async fn products(pool: &PgPool, only: Option<&str>) -> Result<Vec<ProductRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT p.id, p.initial_stock::bigint, p.stock::bigint,
                (SELECT count(*) FROM orders o WHERE o.product_id = p.id)
         FROM products p WHERE $1::text IS NULL OR p.id = $1 ORDER BY p.id",
    )
    .bind(only)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ProductRow {
            id: r.get(0),
            initial_stock: r.get(1),
            stock: r.get(2),
            orders: r.get(3),
        })
        .collect())
}

/// One persisted order, as tests and the harness read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    pub order_id: Uuid,
    pub idempotency_key: String,
    pub user_id: String,
    pub reserved_at: OffsetDateTime,
}

/// Every persisted order of `product`, oldest reservation first.
pub async fn orders_of(pool: &PgPool, product: &str) -> Result<Vec<OrderRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT order_id, idempotency_key, user_id, reserved_at FROM orders WHERE product_id = $1 ORDER BY reserved_at",
    )
    .bind(product)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| OrderRow {
            order_id: r.get(0),
            idempotency_key: r.get(1),
            user_id: r.get(2),
            reserved_at: r.get(3),
        })
        .collect())
}
