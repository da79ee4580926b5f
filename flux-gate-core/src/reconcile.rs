//! `flux-gate reconcile`: per product, initial stock vs Redis vs the outbox vs PostgreSQL.
//!
//! Once the system is quiet, `initial = Redis stock + outbox + DB orders` must hold (orders in
//! flight in Kafka count in neither the outbox nor the database, hence "quiet"), and
//! `products.stock = initial − DB orders`. `--fix` repairs Redis and `products.stock` from the
//! database's orders — the database is the truth about what was sold.

use std::time::Duration;

use anyhow::Context;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde::Serialize;

use crate::config::ReconcileArgs;
use crate::contract::ProductId;
use crate::redis_link::RedisLink;
use crate::{db, sale};

const REDIS_TIMEOUT: Duration = Duration::from_secs(5);

/// One product's figures and what disagrees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub product: String,
    pub initial: i64,
    pub redis_stock: Option<i64>,
    pub outbox: u64,
    pub db_orders: i64,
    pub db_stock: i64,
    /// `initial − redis − outbox − db_orders`: positive means units vanished from Redis
    /// without an order; negative means orders beyond what Redis reserved.
    pub drift: Option<i64>,
    pub problems: Vec<String>,
}

/// Compares the figures of one product (pure; unit-tested).
pub fn compare(row: &db::ProductRow, redis: &sale::RedisView) -> Line {
    let mut problems = Vec::new();
    let drift = redis
        .stock
        .map(|s| row.initial_stock - s - redis.outbox as i64 - row.orders);
    match redis.stock {
        None => problems.push("no stock key in Redis".to_owned()),
        Some(s) if s < 0 => problems.push(format!("Redis stock is negative ({s})")),
        _ => {}
    }
    if let Some(d) = drift.filter(|d| *d != 0) {
        problems.push(format!("initial − Redis − outbox − orders = {d}"));
    }
    if row.orders > row.initial_stock {
        problems.push(format!(
            "oversold: {} orders for {} units",
            row.orders, row.initial_stock
        ));
    }
    if db_stock_expected(row) != row.stock {
        problems.push(format!(
            "products.stock is {} but initial − orders is {}",
            row.stock,
            db_stock_expected(row)
        ));
    }
    if redis.initial.is_some_and(|i| i != row.initial_stock) {
        problems.push(format!(
            "Redis says the sale started with {:?}, the database {}",
            redis.initial, row.initial_stock
        ));
    }
    Line {
        product: row.id.clone(),
        initial: row.initial_stock,
        redis_stock: redis.stock,
        outbox: redis.outbox,
        db_orders: row.orders,
        db_stock: row.stock,
        drift,
        problems,
    }
}

/// What `products.stock` must be: every order took one unit off the initial stock.
fn db_stock_expected(row: &db::ProductRow) -> i64 {
    row.initial_stock - row.orders
}

/// Runs the reconciler; `Ok(true)` when everything agrees (after `--fix`, if given).
pub async fn run(args: ReconcileArgs) -> anyhow::Result<bool> {
    let pool = args.database.pool(2)?;
    let redis = args.redis.link()?;
    if let Some(p) = &args.product {
        ProductId::parse(p).map_err(|e| anyhow::anyhow!("--product: {e}"))?;
    }
    let mut lines = survey(&pool, &redis, args.product.as_deref()).await?;
    if args.fix {
        for line in lines.iter().filter(|l| !l.problems.is_empty()) {
            fix(&pool, &redis, line).await?;
        }
        lines = survey(&pool, &redis, args.product.as_deref()).await?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&lines)?);
    } else {
        println!("{}", table(&lines));
    }
    Ok(lines.iter().all(|l| l.problems.is_empty()))
}

async fn survey(
    pool: &sqlx::PgPool,
    redis: &RedisLink,
    only: Option<&str>,
) -> anyhow::Result<Vec<Line>> {
    let rows = db::products(pool, only)
        .await
        .context("reading products from PostgreSQL")?;
    if rows.is_empty() {
        if let Some(p) = only {
            anyhow::bail!("product {p:?} has no sale in the database");
        }
    }
    let mut lines = Vec::with_capacity(rows.len());
    for row in rows {
        let id = ProductId::parse(&row.id)
            .map_err(|e| anyhow::anyhow!("database holds an invalid product id: {e}"))?;
        let id = &id;
        let view = redis
            .call(REDIS_TIMEOUT, |mut con| async move {
                sale::view(&mut con, id).await
            })
            .await
            .context("reading the sale from Redis")?;
        lines.push(compare(&row, &view));
    }
    Ok(lines)
}

async fn fix(pool: &sqlx::PgPool, redis: &RedisLink, line: &Line) -> anyhow::Result<()> {
    if line.outbox > 0 {
        anyhow::bail!(
            "{}: {} orders still wait in the outbox; let the API relay them (the system is not quiet) and run again",
            line.product,
            line.outbox
        );
    }
    let id = ProductId::parse(&line.product).map_err(|e| anyhow::anyhow!("{e}"))?;
    db::fix_product_stock(pool, &line.product)
        .await
        .context("fixing products.stock")?;
    let target = (line.initial - line.db_orders).max(0);
    let id = &id;
    redis
        .call(REDIS_TIMEOUT, |mut con| async move {
            sale::set_stock(&mut con, id, target).await
        })
        .await
        .context("fixing the Redis stock")?;
    eprintln!(
        "{}: Redis stock set to {target}, products.stock to initial − orders",
        line.product
    );
    Ok(())
}

fn table(lines: &[Line]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED).set_header([
        "product",
        "initial",
        "redis",
        "outbox",
        "db orders",
        "db stock",
        "drift",
        "verdict",
    ]);
    for l in lines {
        let verdict = if l.problems.is_empty() {
            "ok".to_owned()
        } else {
            l.problems.join("; ")
        };
        t.add_row([
            l.product.clone(),
            l.initial.to_string(),
            l.redis_stock.map_or("—".into(), |s| s.to_string()),
            l.outbox.to_string(),
            l.db_orders.to_string(),
            l.db_stock.to_string(),
            l.drift.map_or("—".into(), |d| d.to_string()),
            verdict,
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(initial: i64, stock: i64, orders: i64) -> db::ProductRow {
        db::ProductRow {
            id: "p".into(),
            initial_stock: initial,
            stock,
            orders,
        }
    }

    fn view(stock: i64, outbox: u64) -> sale::RedisView {
        sale::RedisView {
            stock: Some(stock),
            initial: Some(100),
            outbox,
            relayed: 0,
        }
    }

    #[test]
    fn quiet_and_consistent_is_clean() {
        assert!(compare(&row(100, 40, 60), &view(40, 0)).problems.is_empty());
        // An order still in the outbox is reserved but not persisted: consistent.
        let l = compare(&row(100, 41, 59), &view(40, 1));
        assert_eq!((l.drift, l.problems.len()), (Some(0), 0));
    }

    #[test]
    fn catches_each_kind_of_drift() {
        let lost = compare(&row(100, 45, 55), &view(40, 0));
        assert_eq!(lost.drift, Some(5));
        let oversold = compare(&row(100, 0, 101), &view(0, 0));
        assert!(
            oversold.problems.iter().any(|p| p.contains("oversold")),
            "{oversold:?}"
        );
        let stale = compare(&row(100, 50, 60), &view(40, 0));
        assert!(
            stale.problems.iter().any(|p| p.contains("products.stock")),
            "{stale:?}"
        );
        let gone = compare(
            &row(100, 40, 60),
            &sale::RedisView {
                stock: None,
                initial: None,
                outbox: 0,
                relayed: 0,
            },
        );
        assert!(gone.problems.iter().any(|p| p.contains("no stock key")));
    }
}
