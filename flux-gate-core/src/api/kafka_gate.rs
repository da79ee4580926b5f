//! Whether an order should wait for Kafka: this API instance's view of the broker, kept as a
//! circuit breaker.
//!
//! Every order is durable in the Redis outbox before it is handed to Kafka, so waiting for the
//! broker buys only the difference between `200 success` and `202 pending`. Waiting for a
//! broker that is gone costs every buyer the whole produce timeout, and librdkafka only
//! reports a message as failed after `message.timeout.ms` (seconds). So the gate opens
//! (Kafka *down*: answer 202 at once, and release every order already waiting) on the first
//! sign of trouble:
//! - librdkafka's "all brokers down" event (a broker that closed its connections);
//! - [`SILENCE`] without a confirmed delivery while deliveries are outstanding (a broker, or a
//!   network, that went quiet without closing anything — the event never comes then, and it
//!   is not always raised even when connections do close). This rule is armed only once the
//!   broker has confirmed a delivery: the first produce of a process (producer id, leader
//!   connection) can take far longer than a steady-state acknowledgement on a loaded machine,
//!   and before it there is no steady state to fall silent from;
//! - a failed delivery, or one not confirmed within the produce timeout.
//!
//! It closes again on the first confirmed delivery. While it is open, one order at a time is
//! still handed to the producer as a probe, so every instance learns that the broker is back
//! from its own delivery, within a reconnect of the broker's return, even when another
//! instance holds the relay lease. A false alarm (a broker that paused for longer than
//! [`SILENCE`]) costs a few `202`s until the next probe is confirmed, milliseconds later.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// How long outstanding deliveries may go without any confirmation before Kafka counts as
/// down. Far above a healthy broker's acknowledgement time on a LAN (a few ms; confirmations
/// arrive continuously under load), and short enough that the orders caught waiting when a
/// broker dies still answer well within 50 ms.
pub const SILENCE: Duration = Duration::from_millis(25);

/// How often [`KafkaGate::watch_silence`] looks.
const SILENCE_CHECK: Duration = Duration::from_millis(5);

/// Shared by the request path, the relay and librdkafka's error callback.
#[derive(Debug)]
pub struct KafkaGate {
    up: watch::Sender<bool>,
    probing: AtomicBool,
    /// Request-path deliveries handed to the producer and not yet settled.
    outstanding: AtomicUsize,
    /// When Kafka last made progress, in µs since `epoch`: a confirmed delivery, or the first
    /// send after a moment with nothing outstanding.
    progress_us: AtomicU64,
    /// Whether a delivery has ever been confirmed: arms the silence rule.
    delivered: AtomicBool,
    epoch: Instant,
}

impl Default for KafkaGate {
    fn default() -> Self {
        Self::new()
    }
}

impl KafkaGate {
    /// Starts *down*: nothing has been delivered yet, so the first orders do not wait on a
    /// broker that may not be there (docs/decisions.md §7).
    pub fn new() -> Self {
        KafkaGate {
            up: watch::Sender::new(false),
            probing: AtomicBool::new(false),
            outstanding: AtomicUsize::new(0),
            progress_us: AtomicU64::new(0),
            delivered: AtomicBool::new(false),
            epoch: Instant::now(),
        }
    }

    /// Whether orders should wait for the broker's acknowledgement.
    pub fn is_up(&self) -> bool {
        *self.up.borrow()
    }

    /// Resolves once the gate says Kafka is down (at once if it already does).
    pub async fn down(&self) {
        let mut rx = self.up.subscribe();
        // The sender lives as long as `self`, so this cannot fail while we are borrowed.
        let _ = rx.wait_for(|up| !*up).await;
    }

    /// A delivery was confirmed: the broker takes writes.
    pub fn confirmed(&self) {
        self.delivered.store(true, Ordering::Relaxed);
        self.reachable();
    }

    /// The broker answered (its metadata names the topic's partitions) but has not yet
    /// confirmed a delivery of this process: orders wait for it; the silence rule is not armed.
    pub fn reachable(&self) {
        self.progress_us.store(self.now_us(), Ordering::Relaxed);
        if self.up.send_if_modified(|up| !std::mem::replace(up, true)) {
            metrics::counter!("fg_api_kafka_transitions_total", "to" => "up").increment(1);
            tracing::info!("kafka confirmed a delivery: orders wait for it again");
        }
    }

    /// The broker looks gone; `why` is logged once per transition.
    pub fn lost(&self, why: &str) {
        if self.up.send_if_modified(|up| std::mem::replace(up, false)) {
            metrics::counter!("fg_api_kafka_transitions_total", "to" => "down").increment(1);
            tracing::warn!(
                reason = why,
                "kafka looks down: orders answer 202 and wait in the outbox"
            );
        }
    }

    /// While down: whether the caller may send one order as a probe (at most one in flight).
    /// Call [`KafkaGate::probe_done`] when its delivery is settled either way.
    pub fn try_probe(&self) -> bool {
        !self.is_up()
            && self
                .probing
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    pub fn probe_done(&self) {
        self.probing.store(false, Ordering::Release);
    }

    /// A request-path delivery was handed to the producer; pair with [`KafkaGate::settled`].
    pub fn sent(&self) {
        if self.outstanding.fetch_add(1, Ordering::AcqRel) == 0 {
            self.progress_us.store(self.now_us(), Ordering::Relaxed);
        }
    }

    /// A delivery handed over with [`KafkaGate::sent`] was confirmed or failed.
    pub fn settled(&self) {
        self.outstanding.fetch_sub(1, Ordering::AcqRel);
    }

    /// Whether deliveries have been waiting [`SILENCE`] with no confirmation at `now_us`, after
    /// the broker has confirmed a delivery before.
    fn silent(&self, now_us: u64) -> bool {
        self.delivered.load(Ordering::Relaxed)
            && self.outstanding.load(Ordering::Acquire) > 0
            && now_us.saturating_sub(self.progress_us.load(Ordering::Relaxed))
                >= SILENCE.as_micros() as u64
    }

    /// Opens the gate whenever Kafka goes [`SILENCE`] without confirming outstanding
    /// deliveries; runs until the process ends.
    pub async fn watch_silence(&self) {
        let mut tick = tokio::time::interval(SILENCE_CHECK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.is_up() && self.silent(self.now_us()) {
                self.lost("no delivery confirmed while orders waited");
            }
        }
    }

    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_down_and_follows_deliveries() {
        let gate = KafkaGate::new();
        assert!(!gate.is_up());
        gate.confirmed();
        assert!(gate.is_up());
        gate.lost("test");
        assert!(!gate.is_up());
        gate.lost("again");
        assert!(!gate.is_up());
        gate.confirmed();
        assert!(gate.is_up());
    }

    #[test]
    fn one_probe_at_a_time_and_only_while_down() {
        let gate = KafkaGate::new();
        assert!(gate.try_probe());
        assert!(
            !gate.try_probe(),
            "a second probe while the first is in flight"
        );
        gate.probe_done();
        assert!(gate.try_probe());
        gate.probe_done();
        gate.confirmed();
        assert!(!gate.try_probe(), "no probes while up");
    }

    #[test]
    fn silence_is_not_armed_before_the_first_confirmed_delivery() {
        let gate = KafkaGate::new();
        let silence = SILENCE.as_micros() as u64;
        gate.reachable();
        assert!(
            gate.is_up(),
            "a broker that answers metadata: orders wait for it"
        );
        gate.sent();
        let sent_at = gate.progress_us.load(Ordering::Relaxed);
        assert!(
            !gate.silent(sent_at + 100 * silence),
            "the first delivery of a process may take long; only the produce timeout bounds it"
        );
        gate.confirmed();
        gate.sent();
        let sent_at = gate.progress_us.load(Ordering::Relaxed);
        assert!(
            gate.silent(sent_at + silence),
            "armed by the first delivery"
        );
    }

    #[test]
    fn silence_counts_only_while_deliveries_wait() {
        let gate = KafkaGate::new();
        let silence = SILENCE.as_micros() as u64;
        let t0 = gate.now_us();
        gate.confirmed();
        assert!(!gate.silent(t0 + 10 * silence), "nothing outstanding");
        gate.sent();
        let sent_at = gate.progress_us.load(Ordering::Relaxed);
        assert!(!gate.silent(sent_at + silence - 1));
        assert!(gate.silent(sent_at + silence));
        gate.confirmed();
        let confirmed_at = gate.progress_us.load(Ordering::Relaxed);
        assert!(
            !gate.silent(confirmed_at + silence - 1),
            "a confirmation is progress"
        );
        gate.settled();
        assert!(!gate.silent(confirmed_at + 10 * silence), "all settled");
    }

    #[tokio::test]
    async fn waiters_are_released_when_kafka_is_lost() {
        let gate = std::sync::Arc::new(KafkaGate::new());
        gate.confirmed();
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.down().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        gate.lost("test");
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("released")
            .expect("joined");
    }

    #[tokio::test]
    async fn silent_broker_opens_the_gate() {
        let gate = std::sync::Arc::new(KafkaGate::new());
        gate.confirmed();
        tokio::spawn({
            let gate = gate.clone();
            async move { gate.watch_silence().await }
        });
        gate.sent();
        tokio::time::timeout(Duration::from_secs(5), gate.down())
            .await
            .expect("a silent broker must open the gate");
        assert!(!gate.is_up());
    }
}
