//! The settle phase: waits until the system has converged, reading the sale as PostgreSQL,
//! Redis and Kafka see it — directly, never through the fault proxies — and records the final
//! state and the trace of every read ([`crate::model::Settled`]).

use std::time::{Duration, Instant};

use flux_gate_contract::http::ProductId;

use super::lag::{metrics_client, LagSource};
use super::{ObserveError, RedisSource};
use crate::model::{DbOrder, FinalState, SettlePoint, Settled};
use crate::target::Endpoints;

/// Reads the state; errors say which store could not be read.
pub struct Reader {
    redis: RedisSource,
    db: sqlx::PgPool,
    lag: LagSource,
    /// For the workers' `/metrics` (one client for every settle poll).
    http: reqwest::Client,
    product: String,
    initial: i64,
}

impl Reader {
    pub fn new(ep: &Endpoints, product: &str, initial: i64) -> Result<Self, ObserveError> {
        Ok(Reader {
            redis: RedisSource::new(ep)?,
            db: flux_gate_contract::db_reads::pool(&ep.database, 2).map_err(|source| {
                ObserveError::DatabaseUrl {
                    url: ep.database.clone(),
                    source,
                }
            })?,
            lag: LagSource::of(ep),
            http: metrics_client(Duration::from_secs(3))?,
            product: product.to_owned(),
            initial,
        })
    }

    pub async fn read(&self) -> Result<FinalState, ObserveError> {
        let product =
            ProductId::parse(&self.product).map_err(|e| ObserveError::Product(e.to_string()))?;
        let (mut con, _) = self.redis.connect(Duration::from_secs(3)).await?;
        let view = flux_gate_contract::redis_reads::view(&mut con, &product).await?;
        let rows = flux_gate_contract::db_reads::orders_of(&self.db, &self.product).await?;
        let products =
            flux_gate_contract::db_reads::products(&self.db, Some(&self.product)).await?;
        let lag = self.lag.read(&self.http).await;
        Ok(FinalState {
            initial: self.initial,
            redis_stock: view.stock,
            redis_stock_min: view.stock,
            outbox: view.outbox,
            relayed: view.relayed,
            db_stock: products.first().map(|p| p.stock),
            db_orders: rows
                .into_iter()
                .map(|r| DbOrder {
                    order_id: r.order_id.to_string(),
                    key: r.idempotency_key,
                    user: r.user_id,
                })
                .collect(),
            consumer_lag: lag.as_ref().ok().copied(),
            lag_error: lag.err().map(|e| e.to_string()),
        })
    }
}

/// Waits until the worker has committed everything, every outbox is empty and the DB order
/// count has not moved for `quiet`; gives up after `timeout`. Times in the settle trace count
/// from `zero`, the load's time zero.
pub async fn settle(
    reader: &Reader,
    zero: Instant,
    last_change: Instant,
    timeout: Duration,
    quiet: Duration,
) -> Settled {
    let started = Instant::now();
    let mut stable_since: Option<(Instant, usize)> = None;
    let mut last: Option<FinalState> = None;
    let mut min_stock: Option<i64> = None;
    let mut pending: Vec<String>;
    let mut trace = Vec::new();
    // `Some(recovered_at)` once converged, `None` when the time ran out.
    let converged_at = loop {
        match reader.read().await {
            Ok(s) => {
                min_stock = match (min_stock, s.redis_stock) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let count = s.db_orders.len();
                trace.push(SettlePoint {
                    at_ms: zero.elapsed().as_millis() as u64,
                    lag: s.consumer_lag,
                    outbox: s.outbox,
                    orders: count as u64,
                });
                let quiet_now = s.consumer_lag == Some(0) && s.outbox == 0;
                stable_since = match stable_since {
                    Some((t, n)) if quiet_now && n == count => Some((t, n)),
                    _ if quiet_now => Some((Instant::now(), count)),
                    _ => None,
                };
                pending = describe_pending(&s);
                last = Some(s);
                if let Some((t, _)) = stable_since.filter(|(t, _)| t.elapsed() >= quiet) {
                    break Some(t);
                }
            }
            Err(e) => {
                stable_since = None;
                pending = vec![e.to_string()];
            }
        }
        if started.elapsed() >= timeout {
            if pending.is_empty() {
                pending.push(format!(
                    "the DB order count still moved within the last {quiet:?}"
                ));
            }
            break None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let mut state = last.unwrap_or_default();
    state.redis_stock_min = min_stock;
    Settled {
        converged: converged_at.is_some(),
        recovery_ms: converged_at
            .map(|t| t.saturating_duration_since(last_change).as_millis() as u64),
        waited_ms: started.elapsed().as_millis() as u64,
        pending: if converged_at.is_some() {
            Vec::new()
        } else {
            pending
        },
        state,
        trace,
    }
}

fn describe_pending(s: &FinalState) -> Vec<String> {
    let mut p = Vec::new();
    match s.consumer_lag {
        Some(0) => {}
        Some(n) => p.push(format!("consumer lag {n} message(s)")),
        None => p.push(format!(
            "consumer lag unknown ({})",
            s.lag_error.as_deref().unwrap_or("Kafka unreachable")
        )),
    }
    if s.outbox > 0 {
        p.push(format!("{} order(s) in the outbox", s.outbox));
    }
    p
}
