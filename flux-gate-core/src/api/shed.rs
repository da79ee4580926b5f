//! Load shedding: a token bucket per API instance, checked without a Redis round trip.
//! Over budget, buyers are redirected to the waiting room instead of queueing here.

use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

pub struct Shedder {
    limiter: DefaultDirectRateLimiter,
}

impl Shedder {
    /// `None` when `rps` is 0 (never shed).
    pub fn new(rps: u32) -> Option<Self> {
        NonZeroU32::new(rps).map(|rps| Shedder {
            limiter: RateLimiter::direct(Quota::per_second(rps)),
        })
    }

    /// Takes one token; `false` means shed this request.
    pub fn admit(&self) -> bool {
        self.limiter.check().is_ok()
    }
}

/// The waiting-room URL for a shed buyer of `product`.
pub fn waiting_room_location(base: &str, product: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}product={product}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_never_sheds_and_a_small_budget_does() {
        assert!(Shedder::new(0).is_none());
        let s = Shedder::new(5).unwrap();
        let admitted = (0..100).filter(|_| s.admit()).count();
        assert_eq!(admitted, 5);
    }

    #[test]
    fn location_appends_the_product() {
        assert_eq!(
            waiting_room_location("http://w/", "p-1"),
            "http://w/?product=p-1"
        );
        assert_eq!(
            waiting_room_location("http://w/?a=1", "p"),
            "http://w/?a=1&product=p"
        );
    }
}
