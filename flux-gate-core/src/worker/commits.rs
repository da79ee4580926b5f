//! Offset commits the broker never confirmed. A commit is asynchronous (a lost one only means
//! redelivery, which inserts nothing twice), and it is lost when the broker is cut off while it
//! is in flight: librdkafka times the request out and does not send it again. While orders keep
//! coming the next batch's commit covers it; after the last batch of a sale nothing does, and
//! the group's committed offset stays behind for good — a consumer lag that never drains, which
//! is exactly what a stuck worker looks like (fgchaos's settle waited on it until its timeout,
//! after a Kafka blackhole healed with no load left to send).
//!
//! Worse, a lost commit can come back: librdkafka retries a timed-out `OffsetCommit` once the
//! connection is re-established, and when a newer commit landed meanwhile the stale retry moves
//! the group's committed offset *backwards* — orders persisted, lag stuck (fgchaos's halt test,
//! 1 failure in about 50 runs under CI load: a commit swallowed by a 100 ms blackhole retried
//! 10.8 s later, after the next commit).
//!
//! So each commit is recorded here, per partition: the furthest offset sent, and what the
//! broker holds. A commit's answer raises that; the group's committed offsets, which the
//! membership watchdog reads every second anyway, *set* it — the broker's state is the truth,
//! and only a read of it sees a stale retry move it back (a timed-out request is not reliably
//! answered at all, so silence counts as loss too). The batcher sends again, when it is idle,
//! every offset sent that the broker does not hold — only for partitions it still holds, and
//! only its own furthest: async commits complete in any order, and committing an older offset
//! after a newer one is exactly the bug above. Committing an offset the group already has is
//! harmless.

use std::collections::BTreeMap;

/// What is known of this worker's commits, per partition.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Commits {
    /// The furthest next-offset sent.
    sent: BTreeMap<i32, i64>,
    /// The next-offset the broker holds, as last confirmed or read.
    confirmed: BTreeMap<i32, i64>,
}

impl Commits {
    /// Records a commit of `offsets` (partition → next offset) sent.
    pub fn sent(&mut self, offsets: &BTreeMap<i32, i64>) {
        for (&p, &o) in offsets {
            let s = self.sent.entry(p).or_insert(o);
            *s = (*s).max(o);
        }
    }

    /// Records a commit's answer: only a success says anything (a failure leaves the offset
    /// sent and unconfirmed, to be sent again).
    pub fn answered(&mut self, landed: bool, offsets: &[(i32, i64)]) {
        if !landed {
            return;
        }
        for &(p, o) in offsets {
            let c = self.confirmed.entry(p).or_insert(o);
            *c = (*c).max(o);
        }
    }

    /// Records the group's committed offsets as read from the broker: what it holds now, even
    /// behind what an answer confirmed (a stale retry landed after it).
    pub fn seen(&mut self, committed: &[(i32, i64)]) {
        for &(p, o) in committed {
            self.confirmed.insert(p, o);
        }
    }

    /// The commits to send again: of the partitions `held`, the furthest offset sent where the
    /// broker has not confirmed it (or anything past it).
    pub fn to_retry(&self, held: impl Fn(i32) -> bool) -> BTreeMap<i32, i64> {
        self.sent
            .iter()
            .filter(|(p, o)| held(**p) && self.confirmed.get(p).is_none_or(|c| c < o))
            .map(|(p, o)| (*p, *o))
            .collect()
    }

    /// A partition handed to another worker: what this one knew of it no longer matters (its
    /// new owner commits there).
    pub fn forget(&mut self, partition: i32) {
        self.sent.remove(&partition);
        self.confirmed.remove(&partition);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unconfirmed_commit_is_sent_again_until_one_at_or_past_it_is_confirmed() {
        let mut c = Commits::default();
        c.sent(&BTreeMap::from([(0, 10)]));
        c.answered(true, &[(0, 10)]);
        assert_eq!(c.to_retry(|_| true), BTreeMap::new());
        // 15 lost without a word, 4 refused: both sent again, only where still held.
        c.sent(&BTreeMap::from([(0, 15), (1, 4)]));
        c.answered(false, &[(1, 4)]);
        assert_eq!(c.to_retry(|_| true), BTreeMap::from([(0, 15), (1, 4)]));
        assert_eq!(c.to_retry(|p| p == 1), BTreeMap::from([(1, 4)]));
        c.answered(true, &[(0, 15)]);
        c.answered(true, &[(1, 9)]);
        assert_eq!(c.to_retry(|_| true), BTreeMap::new());
    }

    #[test]
    fn a_stale_retry_that_moved_the_group_back_is_committed_over() {
        // 15 then 20 answered; librdkafka's retry of a timed-out 15 lands after 20, and the
        // next read of the group shows 15: 20 is sent again, until a read shows it held.
        let mut c = Commits::default();
        c.sent(&BTreeMap::from([(0, 15)]));
        c.sent(&BTreeMap::from([(0, 20)]));
        c.answered(true, &[(0, 20)]);
        c.answered(true, &[(0, 15)]);
        assert_eq!(c.to_retry(|_| true), BTreeMap::new());
        c.seen(&[(0, 15)]);
        assert_eq!(c.to_retry(|_| true), BTreeMap::from([(0, 20)]));
        c.seen(&[(0, 20)]);
        assert_eq!(c.to_retry(|_| true), BTreeMap::new());
    }

    #[test]
    fn only_the_furthest_offset_sent_is_ever_sent_again() {
        // Async commits complete in any order: 15 and 20 sent, 20 confirmed, 15's failure
        // arrives last — nothing to send (15 would move the group back).
        let mut c = Commits::default();
        c.sent(&BTreeMap::from([(0, 15)]));
        c.sent(&BTreeMap::from([(0, 20)]));
        c.answered(true, &[(0, 20)]);
        c.answered(false, &[(0, 15)]);
        assert_eq!(c.to_retry(|_| true), BTreeMap::new());
        c.sent(&BTreeMap::from([(0, 25)]));
        assert_eq!(c.to_retry(|_| true), BTreeMap::from([(0, 25)]));
        c.forget(0);
        assert_eq!(c, Commits::default());
    }
}
