//! Rejoins the consumer group when it is stuck: this worker holds no partition, the group has
//! messages it has not committed, and the group's committed offsets have not moved for longer
//! than a session timeout plus a margin.
//!
//! Why it exists: tansu 0.6's group coordinator can keep a group formed around a member that
//! is dead. A worker restarted within `session.timeout.ms` of a SIGKILL joins while the dead
//! member still holds every partition; the new member is assigned nothing, and the coordinator
//! never rebalances when the dead member's session expires, so the backlog would sit there for
//! ever. Leaving and joining again (unsubscribe, subscribe) makes the coordinator drop the
//! expired member and form a new generation that assigns this worker its partitions.
//!
//! Why it is safe elsewhere: Apache Kafka expires the dead member itself, so the condition
//! never lasts long enough to fire there; and a worker that is idle because the group has more
//! members than partitions sees the others' commits move, so it never churns a healthy group.

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

/// What one look at the group found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// This worker holds at least one partition of `orders`.
    pub assigned: bool,
    /// Messages of `orders` the group has not committed (sum over partitions).
    pub backlog: i64,
    /// Sum of the group's committed offsets: moves whenever any member commits.
    pub committed: i64,
}

/// The decision, as pure logic: "stuck" is unassigned, with a backlog, and no commit by
/// anyone, continuously for `limit`. A rejoin that does not bring a partition doubles the
/// wait before the next one (up to [`MAX_WAIT`]): a spare member of a group whose owners are
/// all blocked (say, on a database outage) must not rebalance that group every few seconds.
#[derive(Debug)]
pub struct StuckGroup {
    limit: Duration,
    wait: Duration,
    /// Since when the group has looked stuck, and its committed sum then.
    since: Option<(Instant, i64)>,
}

/// The longest wait between two rejoins of a member that keeps getting nothing.
pub const MAX_WAIT: Duration = Duration::from_secs(300);

impl StuckGroup {
    pub fn new(limit: Duration) -> Self {
        StuckGroup {
            limit,
            wait: limit,
            since: None,
        }
    }

    /// Feeds one observation; `true` means "rejoin now" (and starts a fresh count).
    pub fn observe(&mut self, now: Instant, o: Observation) -> bool {
        if o.assigned {
            self.wait = self.limit;
        }
        if o.assigned || o.backlog <= 0 {
            self.since = None;
            return false;
        }
        match self.since {
            Some((t, committed)) if committed == o.committed => {
                if now.saturating_duration_since(t) >= self.wait {
                    self.since = None;
                    self.wait = (self.wait * 2).min(MAX_WAIT.max(self.limit));
                    true
                } else {
                    false
                }
            }
            _ => {
                self.since = Some((now, o.committed));
                false
            }
        }
    }
}

/// Watches the group for ever (the worker's lifetime), rejoining when it is stuck for
/// `limit`.
pub async fn watch(consumer: Arc<OrderConsumer>, limit: Duration) {
    let mut stuck = StuckGroup::new(limit);
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let c = Arc::clone(&consumer);
        // librdkafka's metadata and offset calls block: keep them off the async workers.
        let looked = tokio::task::spawn_blocking(move || observe(&c)).await;
        let o = match looked {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "could not look at the consumer group");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "consumer-group watchdog task failed");
                continue;
            }
        };
        if stuck.observe(Instant::now(), o) {
            tracing::warn!(
                backlog = o.backlog,
                stuck_for = ?limit,
                "no partition assigned and the group has not committed for a session timeout: leaving and rejoining the group"
            );
            metrics::counter!("fg_worker_group_rejoins_total").increment(1);
            consumer.unsubscribe();
            if let Err(e) = consumer.subscribe(&[ORDERS_TOPIC]) {
                tracing::error!(error = %e, "could not subscribe to the orders topic again");
            }
        }
    }
}

/// One look: assignment first (cheap, local); only an unassigned worker asks the broker for
/// the group's committed offsets and the partitions' high watermarks.
fn observe(consumer: &OrderConsumer) -> Result<Observation, KafkaError> {
    let assigned = consumer.assignment()?.count() > 0;
    if assigned {
        return Ok(Observation {
            assigned,
            backlog: 0,
            committed: 0,
        });
    }
    let metadata = consumer.fetch_metadata(Some(ORDERS_TOPIC), CALL_TIMEOUT)?;
    let mut all = TopicPartitionList::new();
    for topic in metadata.topics() {
        for p in topic.partitions() {
            all.add_partition(ORDERS_TOPIC, p.id());
        }
    }
    let committed = consumer.committed_offsets(all, CALL_TIMEOUT)?;
    let (mut backlog, mut sum) = (0, 0);
    for e in committed.elements() {
        let (low, high) = consumer.fetch_watermarks(ORDERS_TOPIC, e.partition(), CALL_TIMEOUT)?;
        let at = match e.offset() {
            Offset::Offset(o) => o,
            // Nothing committed yet: the group would start from the beginning.
            _ => low,
        };
        backlog += (high - at).max(0);
        sum += at;
    }
    Ok(Observation {
        assigned,
        backlog,
        committed: sum,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(10);

    fn idle(backlog: i64, committed: i64) -> Observation {
        Observation {
            assigned: false,
            backlog,
            committed,
        }
    }

    #[test]
    fn rejoins_only_after_the_limit_without_any_commit() {
        let t0 = Instant::now();
        let mut s = StuckGroup::new(LIMIT);
        assert!(!s.observe(t0, idle(500, 1000)));
        assert!(!s.observe(t0 + Duration::from_secs(9), idle(500, 1000)));
        assert!(s.observe(t0 + LIMIT, idle(500, 1000)));
        // The count starts again after a rejoin, and a rejoin that brought nothing doubles
        // the wait before the next.
        let t1 = t0 + LIMIT + Duration::from_secs(1);
        assert!(!s.observe(t1, idle(500, 1000)));
        assert!(!s.observe(t1 + LIMIT, idle(500, 1000)));
        assert!(s.observe(t1 + 2 * LIMIT, idle(500, 1000)));
        // ... up to MAX_WAIT.
        let mut t = t1 + 2 * LIMIT;
        for _ in 0..10 {
            t += Duration::from_secs(1);
            assert!(!s.observe(t, idle(500, 1000)));
            t += MAX_WAIT;
            assert!(s.observe(t, idle(500, 1000)));
        }
    }

    #[test]
    fn an_assignment_resets_the_wait() {
        let t0 = Instant::now();
        let mut s = StuckGroup::new(LIMIT);
        assert!(!s.observe(t0, idle(500, 1000)));
        assert!(s.observe(t0 + LIMIT, idle(500, 1000)));
        let assigned = Observation {
            assigned: true,
            ..idle(500, 1000)
        };
        assert!(!s.observe(t0 + LIMIT * 2, assigned));
        assert!(!s.observe(t0 + LIMIT * 3, idle(500, 1000)));
        assert!(s.observe(t0 + LIMIT * 4, idle(500, 1000)));
    }

    #[test]
    fn never_rejoins_a_group_that_makes_progress_or_has_nothing_to_do() {
        let t0 = Instant::now();
        let step = Duration::from_secs(3);
        // Another member commits: more members than partitions is a healthy group.
        let mut s = StuckGroup::new(LIMIT);
        for i in 0..20 {
            assert!(!s.observe(t0 + step * i, idle(500, 1000 + i as i64)));
        }
        // No backlog: an idle group is not stuck.
        let mut s = StuckGroup::new(LIMIT);
        for i in 0..20 {
            assert!(!s.observe(t0 + step * i, idle(0, 1000)));
        }
        // Holding partitions (even paused through a database outage) is not stuck.
        let mut s = StuckGroup::new(LIMIT);
        for i in 0..20 {
            let o = Observation {
                assigned: true,
                ..idle(500, 1000)
            };
            assert!(!s.observe(t0 + step * i, o));
        }
    }

    #[test]
    fn an_assignment_in_between_restarts_the_count() {
        let t0 = Instant::now();
        let mut s = StuckGroup::new(LIMIT);
        assert!(!s.observe(t0, idle(500, 1000)));
        let assigned = Observation {
            assigned: true,
            ..idle(500, 1000)
        };
        assert!(!s.observe(t0 + Duration::from_secs(8), assigned));
        assert!(!s.observe(t0 + Duration::from_secs(9), idle(500, 1000)));
        assert!(!s.observe(t0 + Duration::from_secs(18), idle(500, 1000)));
        assert!(s.observe(t0 + Duration::from_secs(19), idle(500, 1000)));
    }
}
