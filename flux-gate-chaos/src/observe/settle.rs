//! The settle phase: waits until the system has converged, reading the sale as PostgreSQL,
//! Redis and Kafka see it — directly, never through the fault proxies — and records the final
//! state and the trace of every read ([`crate::model::Settled`]).

use std::time::{Duration, Instant};

use flux_gate_contract::http::ProductId;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::{ObserveError, RedisSource};
use crate::model::{DbOrder, FinalState, ProgressPoint, Settled};
use crate::target::Endpoints;

/// Reads the state; errors say which store could not be read.
pub struct Reader {
    redis: RedisSource,
    db: sqlx::PgPool,
    kafka: String,
    group: String,
    /// Workers' base URLs: the lag source when `kafka` is empty.
    workers: Vec<String>,
    /// For the workers' `/metrics` (one client for every settle poll).
    http: reqwest::Client,
    product: String,
    initial: i64,
}

impl Reader {
    pub fn new(
        ep: &Endpoints,
        group: &str,
        product: &str,
        initial: i64,
    ) -> Result<Self, ObserveError> {
        Ok(Reader {
            redis: RedisSource::new(ep)?,
            db: flux_gate_contract::db_reads::pool(&ep.database, 2).map_err(|source| {
                ObserveError::DatabaseUrl {
                    url: ep.database.clone(),
                    source,
                }
            })?,
            kafka: ep.kafka.clone(),
            group: group.to_owned(),
            workers: ep.workers.clone(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .no_proxy()
                .build()
                .map_err(ObserveError::Http)?,
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
        let lag = if self.kafka.is_empty() {
            workers_lag(&self.http, &self.workers).await
        } else {
            consumer_lag(&self.kafka, &self.group).await
        };
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

/// Uncommitted messages of `orders` for `group`, from the broker's offsets.
pub async fn consumer_lag(brokers: &str, group: &str) -> Result<i64, ObserveError> {
    let brokers = brokers.to_owned();
    let group = group.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = flux_gate_contract::kafka::client_settings(&brokers)
            .collect::<rdkafka::ClientConfig>()
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .create()
            .map_err(kafka("Kafka"))?;
        let timeout = Duration::from_secs(3);
        let topic = flux_gate_contract::message::ORDERS_TOPIC;
        let md = consumer
            .fetch_metadata(Some(topic), timeout)
            .map_err(kafka("Kafka metadata"))?;
        let partitions: Vec<i32> = md
            .topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        let mut tpl = TopicPartitionList::new();
        for p in &partitions {
            tpl.add_partition(topic, *p);
        }
        let committed = consumer
            .committed_offsets(tpl, timeout)
            .map_err(kafka("Kafka offsets"))?;
        let mut lag = 0;
        for p in partitions {
            let (low, high) = consumer
                .fetch_watermarks(topic, p, timeout)
                .map_err(kafka("Kafka watermarks"))?;
            let done = match committed.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => low,
            };
            lag += (high - done).max(0);
        }
        Ok(lag)
    })
    .await?
}

fn kafka(what: &'static str) -> impl Fn(rdkafka::error::KafkaError) -> ObserveError {
    move |source| ObserveError::Kafka { what, source }
}

/// Uncommitted messages as the workers report them (`fg_worker_consumer_lag` per partition in
/// their `/metrics`): the lag source when the broker cannot be reached from here. Unknown (an
/// error) until some worker reports a partition; a worker that does not answer is an error.
pub async fn workers_lag(
    client: &reqwest::Client,
    workers: &[String],
) -> Result<i64, ObserveError> {
    let mut total = 0i64;
    let mut partitions = 0usize;
    for w in workers {
        let text = client
            .get(format!("{w}/metrics"))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(metrics(w))?
            .text()
            .await
            .map_err(metrics(w))?;
        let (lag, n) = parse_lag(&text);
        total += lag;
        partitions += n;
    }
    if partitions == 0 {
        return Err(ObserveError::NoPartitions);
    }
    Ok(total)
}

fn metrics(url: &str) -> impl Fn(reqwest::Error) -> ObserveError + '_ {
    move |source| ObserveError::WorkerMetrics {
        url: url.to_owned(),
        source,
    }
}

/// Sum and count of the `fg_worker_consumer_lag{partition=...}` samples of a Prometheus text.
fn parse_lag(text: &str) -> (i64, usize) {
    text.lines()
        .filter(|l| l.starts_with("fg_worker_consumer_lag{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .fold((0, 0), |(sum, n), v| (sum + v.max(0.0) as i64, n + 1))
}

/// Waits until the worker has committed everything, every outbox is empty and the DB order
/// count has not moved for `quiet`; gives up after `timeout`. Times in the progress trace count
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
    let mut progress = Vec::new();
    // `Some(recovered_at)` once converged, `None` when the time ran out.
    let converged_at = loop {
        match reader.read().await {
            Ok(s) => {
                min_stock = match (min_stock, s.redis_stock) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let count = s.db_orders.len();
                progress.push(ProgressPoint {
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
        progress,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_summed_over_the_partitions_a_worker_reports() {
        let text = "# TYPE fg_worker_consumer_lag gauge\n\
            fg_worker_consumer_lag{partition=\"0\"} 3\n\
            fg_worker_consumer_lag{partition=\"1\"} 0\n\
            fg_worker_consumer_lag{partition=\"2\"} 12\n\
            fg_worker_orders_persisted_total 99\n";
        assert_eq!(parse_lag(text), (15, 3));
        assert_eq!(parse_lag("fg_worker_orders_persisted_total 1\n"), (0, 0));
    }
}
