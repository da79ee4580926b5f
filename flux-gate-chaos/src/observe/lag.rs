//! Where the group stands: the consumer lag of `orders` and how old the oldest order a worker
//! holds unpersisted is. The settle phase reads the lag to know when the system is quiet; the
//! backlog watch ([`super::backlog`]) reads both once a second through the whole run.
//!
//! The lag has two sources ([`LagSource`]): the broker's offsets when fgchaos reaches the
//! broker (the local target), else what the workers report in their `/metrics` (the docker
//! target, where the broker advertises names only its network resolves). The backlog age has
//! one, the workers' `fg_worker_backlog_age_seconds`: only a worker knows what it holds.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::ObserveError;
use crate::target::Endpoints;

/// Where the consumer lag is read.
#[derive(Debug, Clone)]
pub enum LagSource {
    /// The broker's committed offsets and watermarks for the group.
    Broker { brokers: String, group: String },
    /// The workers' `/metrics` (base URLs).
    Workers(Vec<String>),
}

impl LagSource {
    /// The broker when the endpoints name one fgchaos can reach, else the workers.
    pub fn of(ep: &Endpoints) -> Self {
        if ep.kafka.is_empty() {
            LagSource::Workers(ep.workers.clone())
        } else {
            LagSource::Broker {
                brokers: ep.kafka.clone(),
                group: ep.consumer_group.clone(),
            }
        }
    }

    /// Uncommitted messages of `orders` for the worker's group.
    pub async fn read(&self, http: &reqwest::Client) -> Result<i64, ObserveError> {
        match self {
            LagSource::Broker { brokers, group } => consumer_lag(brokers, group).await,
            LagSource::Workers(urls) => lag_of_reports(worker_reports(http, urls).await),
        }
    }
}

/// Reads `source` until the lag is known, at most for `limit`: how long that took, or the last
/// read's error when it never was.
pub async fn wait_known(
    source: &LagSource,
    http: &reqwest::Client,
    limit: Duration,
) -> Result<Duration, ObserveError> {
    let start = tokio::time::Instant::now();
    loop {
        match source.read(http).await {
            Ok(_) => return Ok(start.elapsed()),
            Err(e) if start.elapsed() >= limit => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// The client that reads the workers' `/metrics`: a short timeout, so a paused worker costs
/// one timeout per read, and never a proxy.
pub fn metrics_client(timeout: Duration) -> Result<reqwest::Client, ObserveError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .build()
        .map_err(ObserveError::Http)
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

/// Every worker's `/metrics`, read together (a paused one costs one timeout per read, not one
/// per worker). Each worker reports the partitions it holds (`fg_worker_partition_assigned` 1,
/// with `fg_worker_consumer_lag`), how many the topic has (`fg_worker_topic_partitions`) and
/// its backlog age; see [`lag_of_reports`] for how the lags add up.
pub async fn worker_reports(
    client: &reqwest::Client,
    workers: &[String],
) -> Vec<Result<WorkerReport, ObserveError>> {
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
    futures::future::join_all(reads).await
}

fn metrics(url: &str) -> impl Fn(reqwest::Error) -> ObserveError + '_ {
    move |source| ObserveError::WorkerMetrics {
        url: url.to_owned(),
        source,
    }
}

/// What one worker's `/metrics` says about the `orders` partitions and its backlog.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct WorkerReport {
    /// Partitions of the topic, as this worker's metadata lists them.
    topic_partitions: usize,
    /// Partitions this worker holds.
    assigned: BTreeSet<i32>,
    /// Lag per partition (only those held are meaningful).
    lag: BTreeMap<i32, i64>,
    /// `fg_worker_backlog_age_seconds`, when the worker exports it.
    pub backlog_age: Option<Duration>,
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
            } else if series == "fg_worker_backlog_age_seconds" {
                r.backlog_age = Duration::try_from_secs_f64(value.max(0.0)).ok();
            } else if let Some(p) = partition_of(series, "fg_worker_partition_assigned") {
                if value >= 1.0 {
                    r.assigned.insert(p);
                }
            } else if let Some(p) = partition_of(series, "fg_worker_consumer_lag") {
                // -1: held but not measured yet (just assigned, or the broker did not answer).
                if value >= 0.0 {
                    r.lag.insert(p, value as i64);
                }
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

/// The age of the oldest order the workers hold unpersisted — the largest `backlog_age` among
/// the reports — when every partition of the topic is held by a worker that answered; `None`
/// (unknown) otherwise. A partition nobody holds (its owner dead and the group not yet
/// rebalanced, or its owner paused and silent) can have orders waiting that no report ages: the
/// largest age of the others would be a figure, and a wrong one — on docker `worker-scale` it
/// read 0.2 s while the sale's partition waited ~14 s for a new owner.
///
/// Workers that export an age but not what they hold (no `fg_worker_topic_partitions`: the
/// mutation suite's minimal workers, on the local target where the lag comes from the broker)
/// cannot be checked for that; their largest age is taken as it is.
pub fn age_of_reports(reports: &[Result<WorkerReport, ObserveError>]) -> Option<Duration> {
    let answered: Vec<&WorkerReport> = reports.iter().flatten().collect();
    let oldest = answered.iter().filter_map(|r| r.backlog_age).max();
    let partitions = answered.iter().map(|r| r.topic_partitions).max()?;
    if partitions == 0 {
        return oldest;
    }
    let every_partition_held =
        (0..partitions as i32).all(|p| answered.iter().any(|r| r.assigned.contains(&p)));
    every_partition_held.then(|| oldest.unwrap_or_default())
}

/// The group's lag from every worker's report (`Err`: that worker did not answer). Every
/// partition of the topic must be held by a worker that answered and reports its lag, else the
/// lag is unknown — never a guess: a killed worker's partitions have no live owner until the
/// group rebalances, and summing only the live workers would read 0 while its backlog waits.
/// A dead worker is otherwise fine (its partitions moved to the others). Two workers claiming
/// one partition (a rebalance under way) count once, with the larger lag.
pub fn lag_of_reports(
    reports: Vec<Result<WorkerReport, ObserveError>>,
) -> Result<i64, ObserveError> {
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
            fg_worker_backlog_age_seconds 61.25\n\
            fg_worker_orders_persisted_total 99\n";
        let r = WorkerReport::parse(text);
        assert_eq!(r.topic_partitions, 3);
        assert_eq!(r.backlog_age, Some(Duration::from_millis(61_250)));
        assert_eq!(r.assigned, BTreeSet::from([0, 1, 2]));
        assert_eq!(lag_of_reports(vec![Ok(r)]).unwrap(), 15);
        // -1 is "held, not measured yet": the partition's lag is unknown, not 0.
        let unmeasured = WorkerReport::parse(&text.replace("} 12\n", "} -1\n"));
        assert_eq!(unmeasured.lag, BTreeMap::from([(0, 3), (1, 0)]));
        assert!(matches!(
            lag_of_reports(vec![Ok(unmeasured)]),
            Err(ObserveError::PartitionsUnowned { .. })
        ));
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
            backlog_age: None,
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
            backlog_age: None,
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

    /// `held` partitions (lag 0) of a 6-partition topic, the oldest order held `age_ms` old.
    fn holding(held: &[i32], age_ms: u64) -> Result<WorkerReport, ObserveError> {
        let mut r = worker(&held.iter().map(|p| (*p, 0)).collect::<Vec<_>>())?;
        r.backlog_age = Some(Duration::from_millis(age_ms));
        Ok(r)
    }

    #[test]
    fn the_backlog_age_is_known_only_while_every_partition_has_a_worker_that_answers() {
        let all = vec![holding(&[0, 1, 2], 400), holding(&[3, 4, 5], 2_500)];
        assert_eq!(age_of_reports(&all), Some(Duration::from_millis(2_500)));
        // The owner of 3, 4 and 5 is dead (or paused): the orders waiting there are aged by
        // no one, so the age is unknown — not the 0.4 s of the worker that answered.
        let orphaned = vec![holding(&[0, 1, 2], 400), dead()];
        assert_eq!(age_of_reports(&orphaned), None);
        // The group gave them to the survivor: known again.
        let moved = vec![holding(&[0, 1, 2, 3, 4, 5], 9_000), dead()];
        assert_eq!(age_of_reports(&moved), Some(Duration::from_millis(9_000)));
        // Every partition held and nothing held unpersisted: 0, not unknown.
        let idle = vec![worker(&[(0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (5, 0)])];
        assert_eq!(age_of_reports(&idle), Some(Duration::ZERO));
        // Nobody answered: unknown. Workers that do not say what they hold: their own age.
        assert_eq!(age_of_reports(&[dead()]), None);
        assert_eq!(age_of_reports(&[Ok(WorkerReport::default())]), None);
        let age_only = WorkerReport::parse("fg_worker_backlog_age_seconds 1.5\n");
        assert_eq!(
            age_of_reports(&[Ok(age_only), dead()]),
            Some(Duration::from_millis(1_500))
        );
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
