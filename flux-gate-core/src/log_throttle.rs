//! A repeated error is logged once per interval, with how many were left out, instead of once
//! per occurrence: while the broker is down librdkafka reports every failed connection attempt,
//! many times a second, and those lines would bury everything else in the log.

use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Throttle {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    pub const fn new(every: Duration) -> Self {
        Throttle {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(left_out)` when this occurrence should be logged — `left_out` occurrences were
    /// suppressed since the last one logged — or `None` to stay quiet.
    pub fn admit(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.saturating_duration_since(t) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_the_first_then_once_per_interval_with_the_count_left_out() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut t = Throttle::new(Duration::from_secs(5));
        assert_eq!(t.admit(t0), Some(0));
        for i in 1..=49 {
            assert_eq!(t.admit(t0 + ms(100 * i)), None);
        }
        assert_eq!(t.admit(t0 + ms(5000)), Some(49));
        assert_eq!(t.admit(t0 + ms(5001)), None);
        // A quiet spell: the next one is logged at once, counting only what was left out.
        assert_eq!(t.admit(t0 + ms(60_000)), Some(1));
    }
}
