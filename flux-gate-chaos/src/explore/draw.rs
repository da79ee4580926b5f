//! Drawing a trial: a whole scenario — sale, load and one to four faults — from a resolved
//! space and a seed. The same space and seed draw the same scenario, byte for byte once
//! written, which is what makes a failure replayable.
//!
//! Each fault comes from the catalogue ([`FaultAction::draw`]), so whatever is drawn is what
//! the scenario format writes and validation accepts. What this file adds is *when* and *how
//! long*: times placed against the load (early, at the sell-out, inside the fault before), and
//! durations and delays drawn half the time near one of the system's own timeouts.

use std::time::Duration;

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::between::Between;
use super::space::Resolved;
use crate::scenario::fault::Choices;
use crate::scenario::{
    Action, Dur, Expect, Fault, FaultAction, Load, LoadModel, Rate, Sale, Scenario, Settle,
};

/// The seeded choices of one trial, over a resolved space.
pub struct Chooser<'a> {
    r: &'a Resolved,
    rng: ChaCha8Rng,
}

impl<'a> Chooser<'a> {
    pub fn new(r: &'a Resolved, seed: u64) -> Self {
        Chooser {
            r,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Choices that only say whether an action could be drawn at all.
    pub fn probe(r: &'a Resolved) -> Self {
        Chooser::new(r, 0)
    }

    /// A duration in `range`: half the time near one of the system's timeouts that falls in
    /// it (within −20 % to +25 %: just under and just over), else log-uniform over the range.
    fn across_timeouts(&mut self, range: Between<Dur>) -> Dur {
        let inside: Vec<Duration> = self
            .r
            .anchors
            .0
            .iter()
            .map(|a| a.at)
            .filter(|&at| range.min.get() <= at && at <= range.max.get())
            .collect();
        let ms = if !inside.is_empty() && self.rng.random_bool(0.5) {
            let at = inside[self.rng.random_range(0..inside.len())];
            at.as_secs_f64() * 1000.0 * self.rng.random_range(0.8..=1.25)
        } else {
            self.log_uniform(
                range.min.get().as_secs_f64() * 1000.0,
                range.max.get().as_secs_f64() * 1000.0,
            )
        };
        range.clamp(Dur::millis(ms.round().max(1.0) as u64))
    }

    /// log-uniform in `lo..=hi` (both > 0): short and long values alike, not mostly long.
    fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        let (lo, hi) = (lo.max(1.0), hi.max(1.0));
        if hi <= lo {
            return lo;
        }
        (self.rng.random_range(lo.ln()..=hi.ln())).exp()
    }

    fn pick(&mut self, from: &[String]) -> Option<String> {
        from.choose(&mut self.rng).cloned()
    }
}

impl Choices for Chooser<'_> {
    fn service(&mut self) -> Option<String> {
        let services = self.r.services.clone();
        self.pick(&services)
    }

    fn link(&mut self) -> Option<String> {
        let links = self.r.links.clone();
        self.pick(&links)
    }

    fn links(&mut self) -> Option<Vec<String>> {
        if self.r.links.len() < 2 {
            return None;
        }
        let n = self.rng.random_range(2..=self.r.links.len().min(3));
        let mut chosen: Vec<String> = self
            .r
            .links
            .choose_multiple(&mut self.rng, n)
            .cloned()
            .collect();
        chosen.sort();
        Some(chosen)
    }

    fn latency(&mut self) -> Dur {
        self.across_timeouts(self.r.space.faults.latency)
    }

    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        self.rng.random_range(lo..=hi.max(lo))
    }

    fn redis_ha(&self) -> bool {
        self.r.names.redis_ha
    }

    fn reset_peer(&self) -> bool {
        self.r.names.reset_peer
    }
}

/// The scenario of trial `name`, drawn from `r` with `seed`.
pub fn trial(r: &Resolved, name: &str, seed: u64) -> Scenario {
    let mut c = Chooser::new(r, seed);
    let (sale, load) = sale_and_load(r, &mut c);
    let n = c.between(
        u64::from(r.space.faults.count.min),
        u64::from(r.space.faults.count.max),
    );
    let mut faults: Vec<Fault> = Vec::new();
    for _ in 0..n {
        if let Some(f) = fault(r, &mut c, &sale, &load, faults.last()) {
            faults.push(f);
        }
    }
    faults.sort_by_key(|f| f.at);
    scenario(r, name, sale, load, faults)
}

/// A trial's scenario around its sale, load and faults: every invariant checked, no bound on
/// availability or latency (a trial hunts broken promises, not slow answers).
pub fn scenario(r: &Resolved, name: &str, sale: Sale, load: Load, faults: Vec<Fault>) -> Scenario {
    Scenario {
        name: name.to_owned(),
        description: String::from("drawn by fgchaos explore"),
        sale,
        load,
        faults,
        nemesis: None,
        settle: Settle {
            timeout: r.space.settle_timeout,
            ..Settle::default()
        },
        expect: Expect::default(),
        // A trial hunts broken promises: taking a whole service down is part of the search.
        allow_total_outage: true,
        max_concurrent_faults: None,
        steady_state: None,
        abort_when: None,
        stack: None,
        scale: Default::default(),
    }
}

/// A sale sized against the load: `stock` is a share of what the load could buy (its attempts,
/// or its buyers' limits when fewer), so most trials sell out and some during a fault.
fn sale_and_load(r: &Resolved, c: &mut Chooser) -> (Sale, Load) {
    let l = &r.space.load;
    let rate = c
        .rng
        .random_range(l.rate.min.per_second..=l.rate.max.per_second)
        .round()
        .max(1.0);
    let users = c.log_uniform(f64::from(l.users.min), f64::from(l.users.max)) as u32;
    let duplicate_ratio = (c
        .rng
        .random_range(l.duplicate_ratio.min..=l.duplicate_ratio.max)
        * 100.0)
        .round()
        / 100.0;
    let per_user_limit = c
        .rng
        .random_bool(0.7)
        .then(|| c.between(l.per_user_limit.min.into(), l.per_user_limit.max.into()) as u32);
    // What the load could buy: every attempt, or every buyer's limit when that is fewer.
    let attempts = rate * l.duration.get().as_secs_f64();
    let buyable = per_user_limit.map_or(attempts, |limit| {
        attempts.min(f64::from(users.max(1)) * f64::from(limit))
    });
    let share = c.rng.random_range(l.stock.min..=l.stock.max);
    let stock = (buyable * share).round().clamp(1.0, f64::from(u32::MAX)) as u32;
    let sale = Sale {
        product: "explore".into(),
        stock,
        per_user_limit,
        exact: false,
    };
    let load = Load {
        model: LoadModel::ArrivalRate,
        rate: Some(Rate { per_second: rate }),
        stages: Vec::new(),
        vus: None,
        duration: Some(l.duration),
        max_requests: None,
        users: users.max(1),
        duplicate_ratio,
        timeout: Dur::secs(2),
        connections: 64,
        generators: 1,
    };
    (sale, load)
}

/// One fault: an action from the space, its target and values from the catalogue, a time
/// against the load, and — for a fault that heals — a duration across the timeouts.
pub fn fault(
    r: &Resolved,
    c: &mut Chooser,
    sale: &Sale,
    load: &Load,
    before: Option<&Fault>,
) -> Option<Fault> {
    let action = action(&r.actions, c)?;
    let drawn = FaultAction::draw(action, c)?;
    let at = when(r, c, sale, load, before);
    let duration = action
        .lasts()
        .then(|| c.across_timeouts(r.space.faults.duration));
    Some(Fault {
        at: Some(at),
        duration,
        expect: None,
        action: drawn,
    })
}

/// The action of the next fault: instance faults and link faults at even odds (when the space
/// offers both), then one action of that kind. Drawn uniformly over actions, nine link toxics
/// and cuts against five instance faults left a crash or a restart of one store — what a
/// Redis without an append-only file loses acknowledged orders to — in about one fault of
/// thirty (docs/decisions.md §50).
fn action(actions: &[Action], c: &mut Chooser) -> Option<Action> {
    let (links, instances): (Vec<Action>, Vec<Action>) =
        actions.iter().partition(|a| a.hits_links());
    let kind = match (links.is_empty(), instances.is_empty()) {
        (false, false) if c.rng.random_bool(0.5) => &links,
        (false, false) => &instances,
        (false, true) => &links,
        (true, _) => &instances,
    };
    kind.choose(&mut c.rng).copied()
}

/// When a fault starts, from the start of the load: inside the fault before it (by the
/// space's `overlap` chance), at the moment the sale sells out, or anywhere in the load.
fn when(r: &Resolved, c: &mut Chooser, sale: &Sale, load: &Load, before: Option<&Fault>) -> Dur {
    let load_ms = load.duration.map_or(0, |d| d.get().as_millis() as u64);
    let last = load_ms.saturating_sub(500).max(1);
    let rate = load.rate.map_or(1.0, |r| r.per_second.max(1.0));
    let sold_out_ms = (f64::from(sale.stock) / rate * 1000.0) as u64;
    let ms = match before {
        Some(b) if c.rng.random_bool(r.space.faults.overlap) => {
            let start = b.at.map_or(0, |d| d.get().as_millis() as u64);
            let span = b.duration.map_or(1000, |d| d.get().as_millis() as u64);
            start + c.between(0, span.max(1))
        }
        _ if sold_out_ms < last && c.rng.random_bool(0.25) => {
            sold_out_ms.saturating_sub(c.between(0, 1000))
        }
        _ => c.between(0, last),
    };
    Dur::millis(ms.min(last))
}

/// A neighbour of `parent`: one change to one part of it — a fault's time or duration, a fault
/// redrawn, added or dropped, or the load redrawn. How guided search explores around a trial
/// that showed something new.
pub fn neighbour(r: &Resolved, parent: &Scenario, name: &str, seed: u64) -> Scenario {
    let mut c = Chooser::new(r, seed);
    let mut s = parent.clone();
    s.name = name.to_owned();
    let count = s.faults.len() as u32;
    let f = &r.space.faults;
    match c.between(0, 4) {
        0 if !s.faults.is_empty() => {
            let i = c.between(0, count as u64 - 1) as usize;
            let before = i.checked_sub(1).map(|j| s.faults[j].clone());
            s.faults[i].at = Some(when(r, &mut c, &s.sale, &s.load, before.as_ref()));
        }
        1 if s.faults.iter().any(|f| f.duration.is_some()) => {
            let lasting: Vec<usize> = (0..s.faults.len())
                .filter(|&i| s.faults[i].duration.is_some())
                .collect();
            let i = lasting[c.between(0, lasting.len() as u64 - 1) as usize];
            s.faults[i].duration = Some(c.across_timeouts(f.duration));
        }
        2 if count < f.count.max => {
            let last = s.faults.last().cloned();
            if let Some(new) = fault(r, &mut c, &s.sale, &s.load, last.as_ref()) {
                s.faults.push(new);
            }
        }
        3 if count > f.count.min.max(1) => {
            let i = c.between(0, count as u64 - 1) as usize;
            s.faults.remove(i);
        }
        _ => {
            let (sale, load) = sale_and_load(r, &mut c);
            s.sale = sale;
            s.load = load;
        }
    }
    s.faults.sort_by_key(|f| f.at);
    s
}

#[cfg(test)]
mod tests;
