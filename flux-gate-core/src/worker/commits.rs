//! Offset commits the broker does not hold. A commit is asynchronous (a lost one only means
//! redelivery, which inserts nothing twice), and two things undo one after it was sent:
//! - the broker is cut off while it is in flight, and nothing answers it. While orders keep
//!   coming the next batch's commit covers it; after the last batch of a sale nothing does, and
//!   the group's committed offset stays behind for good — a consumer lag that never drains,
//!   which is exactly what a stuck worker looks like (fgchaos's settle waited on it until its
//!   timeout, after a Kafka blackhole healed with no load left to send);
//! - librdkafka retries the timed-out request once the connection is back (10.8 s later), and
//!   when a newer commit landed meanwhile that stale retry moves the group's committed offset
//!   *backwards* — orders persisted, lag stuck (fgchaos's halt test, once in CI).
//!
//! A commit's own answer cannot settle either: the first is never answered, and the second is
//! answered "success" while the offset it leaves is an old one. Only the broker's state can,
//! and the membership watchdog reads the group's committed offsets every second anyway. So each
//! partition's furthest offset sent is recorded here beside what the broker was last seen to
//! hold, and the batcher, when it is idle, commits again every offset sent that the broker does
//! not hold — only for partitions it still holds, and only its own furthest: async commits
//! complete in any order, and committing an older offset after a newer one is the bug above.
//! Committing an offset the group already has is harmless (decisions §60).

use std::collections::BTreeMap;

/// What is known of this worker's commits, per partition.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Commits {
    /// The furthest next-offset sent.
    sent: BTreeMap<i32, i64>,
    /// The next-offset the broker held at the last read of the group.
    held: BTreeMap<i32, i64>,
}

impl Commits {
    /// Records a commit of `offsets` (partition → next offset) sent.
    pub fn sent(&mut self, offsets: &BTreeMap<i32, i64>) {
        for (&p, &o) in offsets {
            let s = self.sent.entry(p).or_insert(o);
            *s = (*s).max(o);
        }
    }

    /// Records the group's committed offsets as read from the broker: what it holds now, even
    /// behind an offset it once held (a stale retry landed after it).
    pub fn seen(&mut self, committed: &[(i32, i64)]) {
        for &(p, o) in committed {
            self.held.insert(p, o);
        }
    }

    /// The commits to send again: of the partitions `owned`, the furthest offset sent where the
    /// broker was not seen holding it (or anything past it).
    pub fn to_retry(&self, owned: impl Fn(i32) -> bool) -> BTreeMap<i32, i64> {
        self.sent
            .iter()
            .filter(|(p, o)| owned(**p) && self.held.get(p).is_none_or(|h| h < o))
            .map(|(p, o)| (*p, *o))
            .collect()
    }

    /// A partition handed to another worker: what this one knew of it no longer matters (its
    /// new owner commits there).
    pub fn forget(&mut self, partition: i32) {
        self.sent.remove(&partition);
        self.held.remove(&partition);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_is_sent_again_until_the_broker_is_seen_holding_it() {
        let mut c = Commits::default();
        c.sent(&BTreeMap::from([(0, 10)]));
        // Not read yet: unknown counts as not held.
        assert_eq!(c.to_retry(|_| true), BTreeMap::from([(0, 10)]));
        c.seen(&[(0, 10)]);
        assert_eq!(c.to_retry(|_| true), BTreeMap::new());
        // 15 and 4 lost: both sent again, only where this worker still owns the partition.
        c.sent(&BTreeMap::from([(0, 15), (1, 4)]));
        c.seen(&[(0, 10)]);
        assert_eq!(c.to_retry(|_| true), BTreeMap::from([(0, 15), (1, 4)]));
        assert_eq!(c.to_retry(|p| p == 1), BTreeMap::from([(1, 4)]));
        // Held, or held past (another commit of this worker went further).
        c.seen(&[(0, 15), (1, 9)]);
        assert_eq!(c.to_retry(|_| true), BTreeMap::new());
    }

    #[test]
    fn a_stale_retry_that_moved_the_group_back_is_committed_over() {
        // 15 then 20 sent and held; librdkafka's retry of a timed-out 15 lands after 20, and
        // the next read shows 15: 20 — never 15 — is sent again, until a read shows it held.
        let mut c = Commits::default();
        c.sent(&BTreeMap::from([(0, 15)]));
        c.sent(&BTreeMap::from([(0, 20)]));
        c.seen(&[(0, 20)]);
        assert_eq!(c.to_retry(|_| true), BTreeMap::new());
        c.seen(&[(0, 15)]);
        assert_eq!(c.to_retry(|_| true), BTreeMap::from([(0, 20)]));
        c.seen(&[(0, 20)]);
        assert_eq!(c.to_retry(|_| true), BTreeMap::new());
        c.sent(&BTreeMap::from([(0, 25)]));
        assert_eq!(c.to_retry(|_| true), BTreeMap::from([(0, 25)]));
        c.forget(0);
        assert_eq!(c, Commits::default());
    }
}
