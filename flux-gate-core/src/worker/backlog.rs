//! How far behind this worker is, in time: `fg_worker_backlog_age_seconds`, the age of the
//! oldest order it holds and has not persisted yet (0 when it holds none).
//!
//! The consumer lag counts messages, which says little on its own: 10,000 waiting orders are a
//! second's work after a burst and a minute's loss of service after an outage. The age of the
//! oldest unpersisted order is what a buyer waiting for their order to exist experiences, and
//! it does not depend on the load's rate. The batch the worker holds is where the oldest order
//! is: offsets are consumed in order, and while PostgreSQL is down the worker pauses its
//! partitions with that batch in hand (see [`super::batch`]), so everything behind it in Kafka
//! is younger. A worker that died holds nothing and reports nothing; the orders it held come
//! back with their old `reservedAt` to whoever takes its partitions over.
//!
//! The age grows while a batch is held, so the gauge is refreshed on a clock ([`EVERY`]), not
//! only when a batch starts or ends.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use crate::message::OrderMessage;
use crate::shutdown::Shutdown;

/// How often the gauge is refreshed: well under a reader's once-a-second sampling.
pub const EVERY: Duration = Duration::from_millis(250);

/// No order held.
const NONE: i64 = i64::MAX;

/// The `reservedAt` (Unix milliseconds) of the oldest order held unpersisted, shared between
/// the batch loop that holds orders and the task that exports the age.
#[derive(Debug)]
pub struct Oldest(AtomicI64);

impl Default for Oldest {
    fn default() -> Self {
        Oldest(AtomicI64::new(NONE))
    }
}

impl Oldest {
    /// Notes `orders` as held (the oldest of them and of what was held already counts).
    pub fn hold(&self, orders: &[OrderMessage]) {
        if let Some(ms) = orders.iter().map(|o| unix_ms(o.reserved_at)).min() {
            self.0.fetch_min(ms, Ordering::AcqRel);
        }
    }

    /// Everything held is persisted (or handed back to the group): nothing held.
    pub fn release(&self) {
        self.0.store(NONE, Ordering::Release);
    }

    /// The age at `now` of the oldest held order; zero when none is held (or its clock is
    /// ahead of ours).
    pub fn age(&self, now: OffsetDateTime) -> Duration {
        let oldest = self.0.load(Ordering::Acquire);
        if oldest == NONE {
            return Duration::ZERO;
        }
        Duration::from_millis(u64::try_from(unix_ms(now).saturating_sub(oldest)).unwrap_or(0))
    }
}

fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX - 1)
}

/// Sets `fg_worker_backlog_age_seconds` every [`EVERY`] until shutdown.
pub async fn export(oldest: Arc<Oldest>, shutdown: Shutdown) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            biased;
            () = shutdown.clone().requested() => return,
            _ = tick.tick() => {}
        }
        let age = oldest.age(OffsetDateTime::now_utc());
        metrics::gauge!("fg_worker_backlog_age_seconds").set(age.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn order(reserved_at: OffsetDateTime) -> OrderMessage {
        OrderMessage {
            order_id: Uuid::nil(),
            idempotency_key: "k".into(),
            product_id: "p".into(),
            user_id: "u".into(),
            reserved_at,
        }
    }

    #[test]
    fn the_age_is_that_of_the_oldest_order_held_until_released() {
        let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let s = |n: i64| time::Duration::seconds(n);
        let oldest = Oldest::default();
        assert_eq!(oldest.age(t0), Duration::ZERO);
        oldest.hold(&[order(t0 + s(5)), order(t0 + s(2)), order(t0 + s(9))]);
        assert_eq!(oldest.age(t0 + s(10)), Duration::from_secs(8));
        // A younger batch does not make the held backlog look younger; an older one does.
        oldest.hold(&[order(t0 + s(7))]);
        assert_eq!(oldest.age(t0 + s(10)), Duration::from_secs(8));
        oldest.hold(&[order(t0)]);
        assert_eq!(oldest.age(t0 + s(10)), Duration::from_secs(10));
        // An empty batch (only unparseable messages) holds no order.
        oldest.release();
        oldest.hold(&[]);
        assert_eq!(oldest.age(t0 + s(10)), Duration::ZERO);
        // A reservedAt ahead of this worker's clock is not a negative age.
        oldest.hold(&[order(t0 + s(60))]);
        assert_eq!(oldest.age(t0), Duration::ZERO);
    }
}
