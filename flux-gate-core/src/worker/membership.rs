//! Looks at every partition of `orders` once a second and right after each assignment — the
//! group's committed offset and the broker's watermarks — for two uses: the lag gauges of the
//! partitions this worker holds (see [`super::context`]), and rejoining the consumer group
//! when a partition is orphaned: a partition this worker does not hold has messages nobody has
//! committed, and its committed offset has not moved for longer than a session timeout plus a
//! margin.
//!
//! Why the lag comes from here and not from librdkafka's statistics: their high watermark is
//! the one the last *fetch* saw, and a worker holding its batch through a database outage
//! pauses its partitions and fetches nothing — its lag stayed at the figure of the moment it
//! paused (seen: 2,824 reported while 12,000 orders waited). A watermark query asks the broker.
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
//! doubles the wait before the next one.
//!
//! Why it does not count while the database is down: an owner waiting for the database holds
//! its batch and commits nothing, which looks exactly like an orphaned partition. With four
//! workers and a 60 s outage the three others each left and rejoined the group (at 10 s, then
//! 23 s later, …), and one rejoin fell 9 s after the database was back, in the middle of the
//! catch-up: 13 s instead of ~1 s (docker `db-long-outage`, 2026-11-29). So each look also asks
//! the database (`SELECT 1`, 500 ms), and while it does not answer every count starts again.

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
/// Budget for the database probe of one look.
const DB_PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// Budget for each broker round trip of one look.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// One partition of `orders`, as one look found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
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
    /// Others' partitions with a backlog: since when their committed offset is this value.
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

    /// The database does not answer: a partition whose owner cannot write is not orphaned, so
    /// every count starts again (from the first look after the database is back).
    pub fn database_down(&mut self) {
        self.flat.clear();
    }

    /// Feeds one look at the partitions this worker does not hold; `true` means "rejoin now"
    /// (and starts a fresh count).
    pub fn observe(&mut self, now: Instant, foreign: &[Partition]) -> bool {
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
/// orphaned for `limit` while the database (`pool`) answered.
pub async fn watch(consumer: Arc<OrderConsumer>, pool: sqlx::PgPool, limit: Duration) {
    let mut stuck = StuckGroup::new(limit);
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            // Partitions just taken over report unknown until a look measures them.
            () = consumer.context().assignment_changed() => tick.reset(),
        }
        let c = Arc::clone(&consumer);
        // librdkafka's metadata and offset calls block: keep them off the async workers.
        let looked = tokio::task::spawn_blocking(move || observe(&c)).await;
        let (held, partitions) = match looked {
            Ok(Ok(look)) => look,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "could not look at the consumer group");
                consumer.context().report_lags(None);
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "consumer-group watchdog task failed");
                consumer.context().report_lags(None);
                continue;
            }
        };
        consumer.context().report_topic_partitions(partitions.len());
        consumer.context().report_lags(Some(
            &partitions
                .iter()
                .map(|p| (p.partition, p.backlog))
                .collect(),
        ));
        let foreign: Vec<Partition> = partitions
            .into_iter()
            .filter(|p| !held.contains(&p.partition))
            .collect();
        if !database_answers(&pool).await {
            stuck.database_down();
            continue;
        }
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

/// Whether the database answers `SELECT 1` within [`DB_PROBE_TIMEOUT`].
async fn database_answers(pool: &sqlx::PgPool) -> bool {
    let probe = sqlx::query("SELECT 1").execute(pool);
    matches!(
        tokio::time::timeout(DB_PROBE_TIMEOUT, probe).await,
        Ok(Ok(_))
    )
}

/// One look: the assignment (local), the topic's partitions (metadata), the group's committed
/// offsets and every partition's watermarks.
fn observe(consumer: &OrderConsumer) -> Result<(BTreeSet<i32>, Vec<Partition>), KafkaError> {
    let held: BTreeSet<i32> = consumer
        .assignment()?
        .elements_for_topic(ORDERS_TOPIC)
        .iter()
        .map(|e| e.partition())
        .collect();
    let metadata = consumer.fetch_metadata(Some(ORDERS_TOPIC), CALL_TIMEOUT)?;
    let mut all = TopicPartitionList::new();
    for topic in metadata.topics() {
        for p in topic.partitions() {
            all.add_partition(ORDERS_TOPIC, p.id());
        }
    }
    if all.count() == 0 {
        return Ok((held, Vec::new()));
    }
    let committed = consumer.committed_offsets(all, CALL_TIMEOUT)?;
    // The group's committed offsets are the broker's word on this worker's commits: what it
    // sent and does not see here yet is sent again when the worker is idle (`commits.rs`).
    let seen: Vec<(i32, i64)> = committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect();
    consumer.context().commits_seen(&seen);
    let ids: Vec<i32> = committed.elements().iter().map(|e| e.partition()).collect();
    let high = offsets_at(consumer, &ids, Offset::End)?;
    let never: Vec<i32> = committed
        .elements()
        .iter()
        .filter(|e| !matches!(e.offset(), Offset::Offset(_)))
        .map(|e| e.partition())
        .collect();
    let low = if never.is_empty() {
        BTreeMap::new()
    } else {
        offsets_at(consumer, &never, Offset::Beginning)?
    };
    let mut partitions = Vec::new();
    for e in committed.elements() {
        let id = e.partition();
        // A partition the broker gave no watermark it needs is left out: its lag is unknown.
        let Some(&high) = high.get(&id) else { continue };
        let low = match (e.offset(), low.get(&id)) {
            (Offset::Offset(_), _) => 0, // not used: the backlog counts from the commit
            (_, Some(&low)) => low,
            (_, None) => continue,
        };
        partitions.push(partition(id, e.offset(), low, high));
    }
    Ok((held, partitions))
}

/// Each partition's offset at one end (`Offset::End`: the high watermark, `Offset::Beginning`:
/// the low), in one ListOffsets round trip for all of them — librdkafka's `fetch_watermarks`
/// costs two per partition, and every worker looks every second.
fn offsets_at(
    consumer: &OrderConsumer,
    partitions: &[i32],
    end: Offset,
) -> Result<BTreeMap<i32, i64>, KafkaError> {
    let mut tpl = TopicPartitionList::new();
    for p in partitions {
        tpl.add_partition_offset(ORDERS_TOPIC, *p, end)?;
    }
    let found = consumer.offsets_for_times(tpl, CALL_TIMEOUT)?;
    Ok(found
        .elements()
        .iter()
        .filter(|e| e.error().is_ok())
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect())
}

/// What waits in a partition: everything from the group's committed offset to the high
/// watermark. A partition the group never committed in is not unknown: with
/// `auto.offset.reset=earliest` everything from its low watermark on waits (with 6 partitions
/// and one product most are never written, and they wait for nothing).
fn partition(id: i32, committed: Offset, low: i64, high: i64) -> Partition {
    let at = match committed {
        Offset::Offset(o) => o,
        _ => low,
    };
    Partition {
        partition: id,
        backlog: (high - at).max(0),
        committed: at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(10);

    fn p(partition: i32, backlog: i64, committed: i64) -> Partition {
        Partition {
            partition,
            backlog,
            committed,
        }
    }

    #[test]
    fn the_backlog_is_from_the_commit_or_from_the_start_when_nothing_was_committed() {
        assert_eq!(partition(3, Offset::Offset(93), 0, 100), p(3, 7, 93));
        // Never committed: an empty partition waits for nothing, a written one for
        // everything since its low watermark.
        assert_eq!(partition(1, Offset::Invalid, 0, 0), p(1, 0, 0));
        assert_eq!(partition(2, Offset::Invalid, 5, 40), p(2, 35, 5));
        // A commit past a watermark that was read a moment earlier: nothing waits.
        assert_eq!(partition(0, Offset::Offset(41), 0, 40), p(0, 0, 41));
    }

    /// A partition whose owner waits for the database is not orphaned: while the database is
    /// down nothing counts, and the count starts again from the first look after it is back.
    #[test]
    fn a_database_outage_does_not_count_towards_a_rejoin() {
        let t0 = Instant::now();
        let secs = |n| t0 + Duration::from_secs(n);
        let mut s = StuckGroup::new(LIMIT);
        let waiting = [p(1, 9000, 50)];
        assert!(!s.observe(t0, &waiting));
        assert!(!s.observe(secs(9), &waiting));
        // Down for a minute: no look counts.
        for _ in 10..70 {
            s.database_down();
        }
        // Back at 70 s: the owner has 10 s to commit again before this worker rejoins.
        assert!(!s.observe(secs(70), &waiting));
        assert!(!s.observe(secs(79), &waiting));
        assert!(s.observe(secs(80), &waiting));
        // Without the outage the same partition would have been given up on at 10 s.
        let mut s = StuckGroup::new(LIMIT);
        assert!(!s.observe(t0, &waiting));
        assert!(s.observe(secs(10), &waiting));
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
