//! The reduction passes, in the order the issue of shrinking set: which faults ([`faults`], by
//! delta debugging), then how hard and how long each remaining one is ([`fault_values`]),
//! then the load ([`load`]), then the stack's size ([`stack_size`]: last, because each size
//! tried costs a stack start). Each pass keeps a change only when the candidate still fails the
//! same way, so every pass ends on a scenario that fails — Hypothesis's rule: reduce, then
//! confirm.

use std::time::Duration;

use super::candidates::Candidates;
use super::ddmin::{ddmin, Test};
use crate::scenario::{Dur, Fault, Rate, Scale, Scenario};

/// The shortest a fault's duration is halved down to, and a load's.
const MIN_FAULT: Duration = Duration::from_millis(100);
const MIN_LOAD: Duration = Duration::from_secs(2);
/// The lowest rate a load is halved down to.
const MIN_RATE: f64 = 10.0;

/// The candidates of a fault list: the base scenario with just these faults.
struct FaultLists<'c, 'a> {
    c: &'c mut Candidates<'a>,
    base: &'c Scenario,
}

#[async_trait::async_trait(?Send)]
impl Test<Fault> for FaultLists<'_, '_> {
    async fn fails(&mut self, candidate: &[Fault]) -> bool {
        let s = Scenario {
            faults: candidate.to_vec(),
            ..self.base.clone()
        };
        self.c.fails(&s).await
    }
}

/// Pass 1: the 1-minimal list of faults that still fails.
pub async fn faults(c: &mut Candidates<'_>, s: Scenario) -> Scenario {
    let kept = {
        let mut test = FaultLists { c, base: &s };
        ddmin(&s.faults, &mut test).await
    };
    Scenario { faults: kept, ..s }
}

/// Pass 2: each remaining fault made gentler while it still fails — its `duration` halved,
/// its strength weakened ([`crate::scenario::FaultAction::weaker`]), its start moved halfway
/// to the load's start.
pub async fn fault_values(c: &mut Candidates<'_>, mut s: Scenario) -> Scenario {
    for i in 0..s.faults.len() {
        s = halve_while(c, s, |s| {
            let d = s.faults[i].duration?.get();
            (d / 2 >= MIN_FAULT).then(|| with_fault(s, i, |f| f.duration = Some(Dur(d / 2))))
        })
        .await;
        loop {
            let gentler = s.faults[i].action.weaker();
            let mut taken = false;
            for action in gentler {
                let candidate = with_fault(&s, i, |f| f.action = action.clone());
                if c.fails(&candidate).await {
                    s = candidate;
                    taken = true;
                    break;
                }
            }
            if !taken {
                break;
            }
        }
        s = halve_while(c, s, |s| {
            let at = s.faults[i].at?.get();
            (at >= MIN_FAULT).then(|| with_fault(s, i, |f| f.at = Some(Dur(at / 2))))
        })
        .await;
    }
    s.faults.sort_by_key(|f| f.at);
    s
}

/// Pass 3: the load shortened (never before the last fault ends), slowed, and the sale and
/// its buyers made smaller.
pub async fn load(c: &mut Candidates<'_>, mut s: Scenario) -> Scenario {
    s = halve_while(c, s, |s| {
        let d = s.load.duration?.get();
        let floor = last_fault_end(s).max(MIN_LOAD);
        let half = (d / 2).max(floor);
        (half < d).then(|| {
            let mut n = s.clone();
            n.load.duration = Some(Dur(half));
            n
        })
    })
    .await;
    s = halve_while(c, s, |s| {
        let r = s.load.rate?.per_second;
        (r / 2.0 >= MIN_RATE).then(|| {
            let mut n = s.clone();
            n.load.rate = Some(Rate {
                per_second: (r / 2.0).round(),
            });
            n.sale.stock = (n.sale.stock / 2).max(1);
            n
        })
    })
    .await;
    s = halve_while(c, s, |s| {
        (s.load.users >= 2).then(|| {
            let mut n = s.clone();
            n.load.users /= 2;
            n
        })
    })
    .await;
    s
}

/// Pass 4: fewer replicas of each service that runs more than one (`scale:`), while it
/// still fails — one first, then half, then one fewer. A candidate whose faults name an
/// instance it no longer has is not run.
pub async fn stack_size(c: &mut Candidates<'_>, mut s: Scenario) -> Scenario {
    for (service, size) in c.sizes(&s) {
        for replicas in fewer(size.replicas) {
            let mut candidate = s.clone();
            candidate.scale.insert(
                service.clone(),
                Scale {
                    replicas,
                    started: size.started.map(|n| n.min(replicas)),
                },
            );
            if c.fails(&candidate).await {
                s = candidate;
                break;
            }
        }
    }
    s
}

/// The replica counts tried below `replicas`, smallest first: 1, half, one fewer.
fn fewer(replicas: u32) -> Vec<u32> {
    let mut n: Vec<u32> = [1, replicas / 2, replicas.saturating_sub(1)]
        .into_iter()
        .filter(|&r| r >= 1 && r < replicas)
        .collect();
    n.dedup();
    n
}

/// Applies `step` while the result still fails; returns the last scenario that did.
async fn halve_while(
    c: &mut Candidates<'_>,
    mut s: Scenario,
    step: impl Fn(&Scenario) -> Option<Scenario>,
) -> Scenario {
    while let Some(candidate) = step(&s) {
        if !c.fails(&candidate).await {
            break;
        }
        s = candidate;
    }
    s
}

fn with_fault(s: &Scenario, i: usize, change: impl FnOnce(&mut Fault)) -> Scenario {
    let mut n = s.clone();
    change(&mut n.faults[i]);
    n
}

/// When the last fault heals (or starts, for one without a duration), from the load's start.
fn last_fault_end(s: &Scenario) -> Duration {
    s.faults
        .iter()
        .map(|f| {
            f.at.map_or(Duration::ZERO, Dur::get) + f.duration.map_or(Duration::ZERO, Dur::get)
        })
        .max()
        .unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fewer_replicas_are_tried_smallest_first() {
        assert_eq!(fewer(1), Vec::<u32>::new());
        assert_eq!(fewer(2), [1]);
        assert_eq!(fewer(3), [1, 2]);
        assert_eq!(fewer(4), [1, 2, 3]);
        assert_eq!(fewer(16), [1, 8, 15]);
    }
}
