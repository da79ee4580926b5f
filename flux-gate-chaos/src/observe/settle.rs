//! The settle phase: waits until the system has converged, reading the sale as PostgreSQL,
//! Redis and Kafka see it — directly, never through the fault proxies — and records the final
//! state and the trace of every read ([`crate::model::Settled`]).

use std::collections::{BTreeMap, BTreeSet};
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

/// Uncommitted messages as the workers report them in their `/metrics`: the lag source when
/// the broker cannot be reached from here. Each worker reports the partitions it holds
/// (`fg_worker_partition_assigned` 1, with `fg_worker_consumer_lag`) and how many the topic has
/// (`fg_worker_topic_partitions`); see [`lag_of_reports`] for how they add up. The workers are
/// asked together, so a paused one costs one timeout per read, not one per worker.
pub async fn workers_lag(
    client: &reqwest::Client,
    workers: &[String],
) -> Result<i64, ObserveError> {
    let reads = workers.iter().map(|w| async move {
        let text = client
            .get(format!("{w}/metrics"))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(metrics(w))?
            .text()
            .await
            .map_err(metrics(w))?;
        Ok(WorkerReport::parse(&text))
    });
    lag_of_reports(futures::future::join_all(reads).await)
}

fn metrics(url: &str) -> impl Fn(reqwest::Error) -> ObserveError + '_ {
    move |source| ObserveError::WorkerMetrics {
        url: url.to_owned(),
        source,
    }
}

/// What one worker's `/metrics` says about the `orders` partitions.
#[derive(Debug, Default, Clone, PartialEq)]
struct WorkerReport {
    /// Partitions of the topic, as this worker's metadata lists them.
    topic_partitions: usize,
    /// Partitions this worker holds.
    assigned: BTreeSet<i32>,
    /// Lag per partition (only those held are meaningful).
    lag: BTreeMap<i32, i64>,
}

impl WorkerReport {
    fn parse(text: &str) -> Self {
        let mut r = WorkerReport::default();
        for line in text.lines() {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            if series == "fg_worker_topic_partitions" {
                r.topic_partitions = value.max(0.0) as usize;
            } else if let Some(p) = partition_of(series, "fg_worker_partition_assigned") {
                if value >= 1.0 {
                    r.assigned.insert(p);
                }
            } else if let Some(p) = partition_of(series, "fg_worker_consumer_lag") {
                r.lag.insert(p, value.max(0.0) as i64);
            }
        }
        r
    }
}

/// `name{partition="3"}` → 3.
fn partition_of(series: &str, name: &str) -> Option<i32> {
    series
        .strip_prefix(name)?
        .strip_prefix("{partition=\"")?
        .strip_suffix("\"}")?
        .parse()
        .ok()
}

/// The group's lag from every worker's report (`Err`: that worker did not answer). Every
/// partition of the topic must be held by a worker that answered and reports its lag, else the
/// lag is unknown — never a guess: a killed worker's partitions have no live owner until the
/// group rebalances, and summing only the live workers would read 0 while its backlog waits.
/// A dead worker is otherwise fine (its partitions moved to the others). Two workers claiming
/// one partition (a rebalance under way) count once, with the larger lag.
fn lag_of_reports(reports: Vec<Result<WorkerReport, ObserveError>>) -> Result<i64, ObserveError> {
    let mut answered = Vec::new();
    let mut first_error = None;
    for r in reports {
        match r {
            Ok(report) => answered.push(report),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if answered.is_empty() {
        return Err(first_error.unwrap_or(ObserveError::NoPartitions));
    }
    let partitions = answered
        .iter()
        .map(|r| r.topic_partitions)
        .max()
        .unwrap_or(0);
    if partitions == 0 {
        return Err(ObserveError::NoPartitions);
    }
    let mut total = 0;
    let mut unowned = Vec::new();
    for p in 0..partitions as i32 {
        let lag = answered
            .iter()
            .filter(|r| r.assigned.contains(&p))
            .filter_map(|r| r.lag.get(&p).copied())
            .max();
        match lag {
            Some(l) => total += l,
            None => unowned.push(p),
        }
    }
    if unowned.is_empty() {
        Ok(total)
    } else {
        Err(ObserveError::PartitionsUnowned {
            partitions: unowned,
            silent: first_error.map(|e| e.to_string()),
        })
    }
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
            fg_worker_partition_assigned{partition=\"0\"} 1\n\
            fg_worker_partition_assigned{partition=\"1\"} 1\n\
            fg_worker_partition_assigned{partition=\"2\"} 1\n\
            fg_worker_topic_partitions 3\n\
            fg_worker_orders_persisted_total 99\n";
        let r = WorkerReport::parse(text);
        assert_eq!(r.topic_partitions, 3);
        assert_eq!(r.assigned, BTreeSet::from([0, 1, 2]));
        assert_eq!(lag_of_reports(vec![Ok(r)]).unwrap(), 15);
        let nothing = WorkerReport::parse("fg_worker_orders_persisted_total 1\n");
        assert_eq!(nothing, WorkerReport::default());
        assert!(matches!(
            lag_of_reports(vec![Ok(nothing)]),
            Err(ObserveError::NoPartitions)
        ));
    }

    /// `held` partitions with their lag, of a 6-partition topic.
    fn worker(held: &[(i32, i64)]) -> Result<WorkerReport, ObserveError> {
        Ok(WorkerReport {
            topic_partitions: 6,
            assigned: held.iter().map(|(p, _)| *p).collect(),
            lag: held.iter().copied().collect(),
        })
    }

    /// A worker whose `/metrics` did not answer (any error stands for that one here).
    fn dead() -> Result<WorkerReport, ObserveError> {
        Err(ObserveError::Product("worker down".into()))
    }

    #[test]
    fn several_workers_add_up_and_a_dead_one_is_fine_once_its_partitions_moved() {
        let three = vec![
            worker(&[(0, 5), (1, 0)]),
            worker(&[(2, 0), (3, 7)]),
            worker(&[(4, 1), (5, 0)]),
        ];
        assert_eq!(lag_of_reports(three).unwrap(), 13);
        // #2 died and the group gave its partitions to the others.
        let after = vec![
            worker(&[(0, 5), (1, 0), (2, 0)]),
            dead(),
            worker(&[(3, 7), (4, 1), (5, 0)]),
        ];
        assert_eq!(lag_of_reports(after).unwrap(), 13);
    }

    #[test]
    fn a_dead_workers_partitions_make_the_lag_unknown_until_someone_holds_them() {
        // #2 died holding 2 and 3; the live ones report 0 for theirs — not a lag of 0.
        let before = vec![worker(&[(0, 0), (1, 0)]), dead(), worker(&[(4, 0), (5, 0)])];
        match lag_of_reports(before) {
            Err(ObserveError::PartitionsUnowned { partitions, silent }) => {
                assert_eq!(partitions, [2, 3]);
                assert_eq!(silent.as_deref(), Some("product id: worker down"));
            }
            other => panic!("{other:?}"),
        }
        // A worker that was given a partition but has no lag for it yet does not count as
        // holding it.
        let fresh = WorkerReport {
            topic_partitions: 6,
            assigned: BTreeSet::from([2, 3]),
            lag: BTreeMap::from([(2, 4)]),
        };
        let r = lag_of_reports(vec![worker(&[(0, 0), (1, 0), (4, 0), (5, 0)]), Ok(fresh)]);
        assert!(
            matches!(&r, Err(ObserveError::PartitionsUnowned { partitions, silent: None }) if partitions == &[3]),
            "{r:?}"
        );
    }

    #[test]
    fn a_released_partition_is_not_counted_and_a_double_claim_counts_once() {
        // #1 let 1 go (its stale lag 9 stays in its text, not assigned); #2 holds it now. For
        // partition 0 both still claim it mid-rebalance: the larger lag counts, once.
        let mut released = worker(&[(0, 2)]).unwrap();
        released.lag.insert(1, 9);
        let r = lag_of_reports(vec![
            Ok(released),
            worker(&[(0, 3), (1, 1), (2, 0), (3, 0), (4, 0), (5, 0)]),
        ]);
        assert_eq!(r.unwrap(), 4);
    }

    #[test]
    fn no_worker_answering_is_that_error() {
        let r = lag_of_reports(vec![dead(), dead()]);
        assert!(
            matches!(&r, Err(ObserveError::Product(m)) if m == "worker down"),
            "{r:?}"
        );
    }
}
