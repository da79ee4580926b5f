//! How far behind the workers fell and how fast they caught up, from the backlog read once a
//! second through the run ([`crate::model::BacklogPoint`]).
//!
//! The bounds are on the age of the oldest unpersisted order, not on the lag: the lag after a
//! 60 s outage is the load's rate times 60 s, while the age is the outage's length whatever the
//! rate — the number a buyer waiting for their order feels, and the one an alert should watch.
//! The lag is in the summary beside it.

use std::time::Duration;

use super::{Basis, Checker, Evidence, Finding, Status};
use crate::model::BacklogPoint;

/// Caught up: the oldest order a worker holds is younger than this (a batch in flight under
/// load is milliseconds old; one held through an outage is seconds old).
pub const CAUGHT_UP: Duration = Duration::from_secs(1);

pub struct Backlog;
impl Checker for Backlog {
    fn name(&self) -> &'static str {
        "backlog"
    }
    /// Judged on its own points, read during the run whether or not the system settled.
    fn basis(&self) -> Basis {
        Basis::History
    }
    fn check(&self, e: &Evidence<'_>) -> Finding {
        let points = e.backlog;
        // An empty `backlog` (refused before a run, possible in a hand-edited journal) bounds
        // nothing.
        let expect = e
            .expect
            .backlog
            .as_ref()
            .filter(|b| b.peak_age.is_some() || b.catch_up.is_some());
        let heal_ms = last_heal_ms(e);
        let peak = peak_age(points);
        // `Some(h, None)`: healed at `h`, not caught up by the last read.
        let caught = heal_ms.map(|h| (h, caught_up_after(points, h)));
        let summary = summary(points, peak, caught);
        let Some(expect) = expect else {
            return Finding::with(self.name(), Status::Skipped, summary);
        };
        let mut bad = Vec::new();
        let mut unknown = Vec::new();
        if let Some(t) = expect.peak_age {
            match peak {
                Some((age, _)) if !t.holds(age) => {
                    bad.push(format!("peak backlog age {age:?} (want {t})"));
                }
                Some(_) => {}
                None => unknown.push("no worker reported a backlog age"),
            }
        }
        if let Some(t) = expect.catch_up {
            match caught {
                None => unknown.push("no fault window ended, so there is no heal to count from"),
                Some((_, Some(took))) if !t.holds(took) => {
                    bad.push(format!("caught up {took:?} after the last heal (want {t})"));
                }
                Some((h, None)) if !points.iter().any(|p| p.at_ms >= h) => {
                    unknown.push("the backlog was not read after the last heal");
                }
                Some((h, None)) => bad.push(format!(
                    "never caught up after the last heal at {}: {}",
                    secs(h),
                    last_seen(points)
                )),
                _ => {}
            }
        }
        let want = wanted(expect);
        if !bad.is_empty() {
            return Finding::from_counterexamples(
                self.name(),
                "",
                format!("{summary} (want {want})"),
                bad,
            );
        }
        if !unknown.is_empty() {
            return Finding::with(
                self.name(),
                Status::Inconclusive,
                format!("{summary}: {}", unknown.join("; ")),
            );
        }
        Finding::pass(self.name(), format!("{summary} (want {want})"))
    }
}

/// The end of the last fault window: where catching up starts.
fn last_heal_ms(e: &Evidence<'_>) -> Option<u64> {
    e.windows
        .iter()
        .filter(|p| p.fault.is_some())
        .map(|p| p.end_ms)
        .max()
}

/// The largest backlog age seen and when.
fn peak_age(points: &[BacklogPoint]) -> Option<(Duration, u64)> {
    points
        .iter()
        .filter_map(|p| Some((Duration::from_millis(p.age_ms?), p.at_ms)))
        .max_by_key(|(age, at)| (*age, std::cmp::Reverse(*at)))
}

/// Time from `heal_ms` to the read that began the final caught-up stretch: from it to the last
/// read, no read found an order held for [`CAUGHT_UP`] or longer (reads without an age say
/// nothing), and at that first read the lag was known. `None` if the last reads were not
/// caught up.
///
/// "For good", not the first caught-up read: between two batches a worker holds nothing, so a
/// read can find age 0 while thousands of orders still wait in Kafka for the next batch (seen
/// on the docker target, where the lag read with it was a second old) — the next read finds
/// the next old batch.
fn caught_up_after(points: &[BacklogPoint], heal_ms: u64) -> Option<Duration> {
    let mut since = None;
    for p in points.iter().filter(|p| p.at_ms >= heal_ms) {
        match p.age_ms.map(|a| Duration::from_millis(a) < CAUGHT_UP) {
            Some(false) => since = None,
            Some(true) if since.is_none() && p.lag.is_some() => since = Some(p.at_ms),
            _ => {}
        }
    }
    since.map(|at| Duration::from_millis(at - heal_ms))
}

/// `76 reads; peak lag 11581 at 65.0s, peak age 61.9s at 66.0s, caught up 0.9s after the last
/// heal at 64.2s`.
fn summary(
    points: &[BacklogPoint],
    peak: Option<(Duration, u64)>,
    caught: Option<(u64, Option<Duration>)>,
) -> String {
    if points.is_empty() {
        return "the backlog was not read".to_owned();
    }
    let lag = points
        .iter()
        .filter_map(|p| Some((p.lag?, p.at_ms)))
        .max_by_key(|(lag, at)| (*lag, std::cmp::Reverse(*at)));
    let mut s = format!(
        "{} reads; peak lag {}",
        points.len(),
        lag.map_or_else(
            || "unknown".to_owned(),
            |(l, at)| format!("{l} at {}", secs(at))
        )
    );
    s.push_str(&match peak {
        Some((age, at)) => format!(", peak age {} at {}", dur(age), secs(at)),
        None => ", backlog age unknown".to_owned(),
    });
    if let Some((h, took)) = caught {
        match took {
            Some(took) => s.push_str(&format!(
                ", caught up {} after the last heal at {}",
                dur(took),
                secs(h)
            )),
            None => s.push_str(&format!(
                ", not caught up after the last heal at {}",
                secs(h)
            )),
        }
    }
    s
}

/// The last read, for a backlog that never caught up.
fn last_seen(points: &[BacklogPoint]) -> String {
    match points.last() {
        None => "no read".to_owned(),
        Some(p) => format!(
            "at the last read ({}) lag {}, age {}",
            secs(p.at_ms),
            p.lag
                .map_or_else(|| "unknown".to_owned(), |l| l.to_string()),
            p.age_ms
                .map_or_else(|| "unknown".to_owned(), |a| dur(Duration::from_millis(a)))
        ),
    }
}

fn wanted(expect: &crate::scenario::BacklogExpect) -> String {
    let mut w = Vec::new();
    if let Some(t) = expect.peak_age {
        w.push(format!("peak age {t}"));
    }
    if let Some(t) = expect.catch_up {
        w.push(format!("catch-up {t}"));
    }
    w.join(", ")
}

/// `64.1s`.
fn secs(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

fn dur(d: Duration) -> String {
    secs(d.as_millis() as u64)
}
