//! Rejoins the consumer group when a partition is orphaned: a partition this worker does not
//! hold has messages nobody has committed, and its committed offset has not moved for longer
//! than a session timeout plus a margin.
//!
//! Why it exists: tansu 0.6's group coordinator can keep a group formed around a member that
//! is dead. Two ways, both seen (docs/decisions.md §23 and §37):
//! * a lone worker restarted within `session.timeout.ms` of a SIGKILL joins while the dead
//!   member still holds every partition; the new member is assigned nothing;
//! * in a group of several workers, the broker drops a killed member once its session expires
//!   and tells the survivors to rejoin, but a rejoining member it already knows keeps the group's
//!   generation and its old assignment: nobody is ever given the dead member's partitions.
//!
//! Either way the backlog of those partitions would sit there for ever. Leaving and joining
//! again (unsubscribe, subscribe) comes back as a *new* member, which makes the coordinator form
//! a new generation over the live members and assign every partition.
//!
//! Why it is safe elsewhere: Apache Kafka rebalances when a member expires, so the condition
//! never lasts long enough to fire there; a partition whose owner works sees its offset move;
//! a worker that holds every partition has nothing to watch; and a rejoin that does not help
//! (every owner blocked, say, on a database outage) doubles the wait before the next one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use super::OrderConsumer;
use crate::message::ORDERS_TOPIC;

/// How often the watchdog looks at the group.
const EVERY: Duration = Duration::from_secs(1);
/// Budget for each broker round trip of one look.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// One partition of `orders` this worker does not hold, as one look found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Foreign {
    pub partition: i32,
    /// Messages the group has not committed.
    pub backlog: i64,
    /// The group's committed offset: moves whenever its owner commits.
    pub committed: i64,
}

/// The decision, as pure logic: "orphaned" is a partition held by someone else (or no one),
/// with a backlog, whose committed offset stays the same for `wait`. A rejoin that does not
/// get every such partition moving again doubles the wait before the next one (up to
/// [`MAX_WAIT`]): members beside owners that are all blocked must not rebalance the group every
/// few seconds. The wait is back to `limit` once no partition of another waits.
#[derive(Debug)]
pub struct StuckGroup {
    limit: Duration,
    wait: Duration,
    /// Foreign partitions with a backlog: since when their committed offset is this value.
    flat: BTreeMap<i32, (Instant, i64)>,
}

/// The longest wait between two rejoins of a member that keeps finding partitions orphaned.
pub const MAX_WAIT: Duration = Duration::from_secs(300);

impl StuckGroup {
    pub fn new(limit: Duration) -> Self {
        StuckGroup {
            limit,
            wait: limit,
            flat: BTreeMap::new(),
        }
    }

    /// Feeds one look at the partitions this worker does not hold; `true` means "rejoin now"
    /// (and starts a fresh count).
    pub fn observe(&mut self, now: Instant, foreign: &[Foreign]) -> bool {
        let mut waiting = BTreeSet::new();
        let mut orphaned = false;
        for f in foreign.iter().filter(|f| f.backlog > 0) {
            waiting.insert(f.partition);
            match self.flat.get(&f.partition) {
                Some((since, committed)) if *committed == f.committed => {
                    orphaned |= now.saturating_duration_since(*since) >= self.wait;
                }
                _ => {
                    self.flat.insert(f.partition, (now, f.committed));
                }
            }
        }
        // Drained, or this worker's own now: no longer watched.
        self.flat.retain(|p, _| waiting.contains(p));
        if self.flat.is_empty() {
            self.wait = self.limit;
        }
        if orphaned {
            self.flat.clear();
            self.wait = (self.wait * 2).min(MAX_WAIT.max(self.limit));
        }
        orphaned
    }
}

/// Watches the group for ever (the worker's lifetime), rejoining when a partition has been
/// orphaned for `limit`.
pub async fn watch(consumer: Arc<OrderConsumer>, limit: Duration) {
    let mut stuck = StuckGroup::new(limit);
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let c = Arc::clone(&consumer);
        // librdkafka's metadata and offset calls block: keep them off the async workers.
        let looked = tokio::task::spawn_blocking(move || observe(&c)).await;
        let foreign = match looked {
            Ok(Ok(f)) => f,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "could not look at the consumer group");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "consumer-group watchdog task failed");
                continue;
            }
        };
        if stuck.observe(Instant::now(), &foreign) {
            let waiting: Vec<i32> = foreign
                .iter()
                .filter(|f| f.backlog > 0)
                .map(|f| f.partition)
                .collect();
            tracing::warn!(
                partitions = ?waiting,
                backlog = foreign.iter().map(|f| f.backlog.max(0)).sum::<i64>(),
                stuck_for = ?limit,
                "partitions this worker does not hold have waiting orders and no commit for a session timeout: leaving and rejoining the group"
            );
            metrics::counter!("fg_worker_group_rejoins_total").increment(1);
            consumer.unsubscribe();
            if let Err(e) = consumer.subscribe(&[ORDERS_TOPIC]) {
                tracing::error!(error = %e, "could not subscribe to the orders topic again");
            }
        }
    }
}

/// One look: the assignment (local), the topic's partitions (metadata); only for partitions
/// this worker does not hold, the group's committed offsets and the high watermarks. A worker
/// that holds them all asks nothing more.
fn observe(consumer: &OrderConsumer) -> Result<Vec<Foreign>, KafkaError> {
    let held: BTreeSet<i32> = consumer
        .assignment()?
        .elements_for_topic(ORDERS_TOPIC)
        .iter()
        .map(|e| e.partition())
        .collect();
    let metadata = consumer.fetch_metadata(Some(ORDERS_TOPIC), CALL_TIMEOUT)?;
    let mut others = TopicPartitionList::new();
    for topic in metadata.topics() {
        for p in topic.partitions() {
            if !held.contains(&p.id()) {
                others.add_partition(ORDERS_TOPIC, p.id());
            }
        }
    }
    if others.count() == 0 {
        return Ok(Vec::new());
    }
    let committed = consumer.committed_offsets(others, CALL_TIMEOUT)?;
    let mut foreign = Vec::new();
    for e in committed.elements() {
        let (low, high) = consumer.fetch_watermarks(ORDERS_TOPIC, e.partition(), CALL_TIMEOUT)?;
        let at = match e.offset() {
            Offset::Offset(o) => o,
            // Nothing committed yet: the group would start from the beginning.
            _ => low,
        };
        foreign.push(Foreign {
            partition: e.partition(),
            backlog: (high - at).max(0),
            committed: at,
        });
    }
    Ok(foreign)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(10);

    fn p(partition: i32, backlog: i64, committed: i64) -> Foreign {
        Foreign {
            partition,
            backlog,
            committed,
        }
    }

    #[test]
    fn rejoins_only_after_the_limit_without_a_commit_and_backs_off() {
        let t0 = Instant::now();
        let mut s = StuckGroup::new(LIMIT);
        let orphan = [p(4, 500, 1000)];
        assert!(!s.observe(t0, &orphan));
        assert!(!s.observe(t0 + Duration::from_secs(9), &orphan));
        assert!(s.observe(t0 + LIMIT, &orphan));
        // The count starts again after a rejoin, and a rejoin that brought nothing doubles
        // the wait before the next.
        let t1 = t0 + LIMIT + Duration::from_secs(1);
        assert!(!s.observe(t1, &orphan));
        assert!(!s.observe(t1 + LIMIT, &orphan));
        assert!(s.observe(t1 + 2 * LIMIT, &orphan));
        // ... up to MAX_WAIT.
        let mut t = t1 + 2 * LIMIT;
        for _ in 0..10 {
            t += Duration::from_secs(1);
            assert!(!s.observe(t, &orphan));
            t += MAX_WAIT;
            assert!(s.observe(t, &orphan));
        }
    }

    #[test]
    fn the_wait_is_short_again_once_nothing_of_another_waits() {
        let t0 = Instant::now();
        let mut s = StuckGroup::new(LIMIT);
        assert!(!s.observe(t0, &[p(4, 500, 1000)]));
        assert!(s.observe(t0 + LIMIT, &[p(4, 500, 1000)]));
        // The rejoin worked: partition 4 is this worker's now (no longer foreign).
        assert!(!s.observe(t0 + LIMIT * 2, &[p(0, 0, 7)]));
        // Orphaned again later: the first wait again, not the doubled one.
        assert!(!s.observe(t0 + LIMIT * 3, &[p(4, 80, 1500)]));
        assert!(s.observe(t0 + LIMIT * 4, &[p(4, 80, 1500)]));
    }

    #[test]
    fn never_rejoins_a_group_that_makes_progress_or_has_nothing_to_do() {
        let t0 = Instant::now();
        let step = Duration::from_secs(3);
        // The owner of partition 2 commits: a healthy group, however busy.
        let mut s = StuckGroup::new(LIMIT);
        for i in 0..20 {
            assert!(!s.observe(t0 + step * i, &[p(2, 500, 1000 + i as i64), p(3, 0, 9)]));
        }
        // No backlog: an idle group is not stuck.
        let mut s = StuckGroup::new(LIMIT);
        for i in 0..20 {
            assert!(!s.observe(t0 + step * i, &[p(2, 0, 1000), p(3, 0, 9)]));
        }
        // Holding every partition (even paused through a database outage): nothing foreign.
        let mut s = StuckGroup::new(LIMIT);
        for i in 0..20 {
            assert!(!s.observe(t0 + step * i, &[]));
        }
    }

    #[test]
    fn one_orphaned_partition_is_found_among_busy_ones() {
        let t0 = Instant::now();
        let mut s = StuckGroup::new(LIMIT);
        for i in 0..10 {
            let look = [p(0, 50, 100 + i), p(4, 300, 2000), p(5, 0, 0)];
            assert!(!s.observe(t0 + Duration::from_secs(i as u64), &look));
        }
        assert!(s.observe(t0 + LIMIT, &[p(0, 50, 120), p(4, 300, 2000), p(5, 0, 0)]));
    }

    #[test]
    fn a_commit_in_between_restarts_the_count() {
        let t0 = Instant::now();
        let mut s = StuckGroup::new(LIMIT);
        assert!(!s.observe(t0, &[p(4, 500, 1000)]));
        assert!(!s.observe(t0 + Duration::from_secs(8), &[p(4, 400, 1100)]));
        assert!(!s.observe(t0 + Duration::from_secs(17), &[p(4, 400, 1100)]));
        assert!(s.observe(t0 + Duration::from_secs(18), &[p(4, 400, 1100)]));
    }
}
