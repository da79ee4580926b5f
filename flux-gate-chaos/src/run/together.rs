//! The heart of step 3: the load and the faults together, with the stop conditions' watch
//! beside them. Three ways it ends:
//! - the load runs out: the faults still on are undone after (by the drive);
//! - Ctrl-C: load and faults stop at once, as before any of this;
//! - a stop condition holds (or `fgchaos halt`): the faults stop and every one still on is
//!   undone **first**, then the load stops — so what the load records after the trigger is
//!   the system healing, and the run settles and is judged as any other.

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use crate::load::{self, Live, LoadPlan, LoadSummary};
use crate::model::{Abort, Warmup};
use crate::nemesis::{Executor, Injection};
use crate::observe::backlog::Latest;
use crate::scenario::steady::Hypothesis;
use crate::scenario::stop::AbortWhen;
use crate::stop;

/// How the load and the faults ended.
pub struct Ended {
    pub load: Result<LoadSummary, load::generator::LoadError>,
    /// The warm-up, when the gate read one.
    pub warm_up: Option<Warmup>,
    /// The stop condition that held, with how long the heal took.
    pub abort: Option<Abort>,
    /// Whether the faults undone at the trigger all were (true when there was no trigger).
    pub undone_at_abort: bool,
}

/// What the load and the faults run with.
pub struct Together<'a, 'e> {
    pub executor: &'a Executor<'e>,
    pub faults: &'a [Injection],
    pub plan: LoadPlan,
    pub history: &'a Path,
    pub live: Arc<Live>,
    pub conditions: Option<AbortWhen>,
    pub watch: stop::Inputs,
    /// The steady-state hypothesis the warm-up must meet before the first fault (none when
    /// there is no fault), and the backlog watch's newest read.
    pub gate: Option<Hypothesis>,
    pub backlog: Option<Latest>,
}

impl Together<'_, '_> {
    pub async fn run(self, interrupt: watch::Receiver<bool>) -> Ended {
        let (stop_faults, faults_stop) = watch::channel(false);
        let (stop_load, load_stop) = watch::channel(false);
        let (load_ended, load_over) = watch::channel(false);
        let (trip, tripped) = watch::channel(false);
        let abort: RefCell<Option<Abort>> = RefCell::new(None);
        let triggered_at = Cell::new(Instant::now());
        let undone_at_abort = Cell::new(true);
        let (live, zero) = (self.live.clone(), self.watch.zero);
        let load = async {
            let r = load::drive(self.plan, self.history, self.live, load_stop).await;
            let _ = load_ended.send(true);
            r
        };
        let warm_up = RefCell::new(None);
        let faults = async {
            if let (Some(h), Some(first)) = (&self.gate, self.faults.first()) {
                let mut cancel = faults_stop.clone();
                let read = (live.as_ref(), self.backlog.as_ref());
                let w = stop::warm_up(h, first.at_ms, read, zero, &mut cancel).await;
                let held = w.as_ref().is_none_or(|w| w.held);
                *warm_up.borrow_mut() = w;
                if !held {
                    tracing::warn!(
                        "the steady state did not hold before the first fault: no fault injected"
                    );
                    let _ = stop_load.send(true);
                    return;
                }
            }
            self.executor.run(self.faults, faults_stop).await;
            let (mut tripped, mut over) = (tripped, load_over.clone());
            tokio::select! {
                () = crate::cancel::cancelled(&mut tripped) => {
                    // Every fault still on, at once; only then the load stops.
                    undone_at_abort.set(self.executor.undo_all().await);
                    let healed_in = triggered_at.get().elapsed();
                    if let Some(a) = abort.borrow_mut().as_mut() {
                        a.healed_in_ms = Some(u64::try_from(healed_in.as_millis()).unwrap_or(u64::MAX));
                    }
                    let _ = stop_load.send(true);
                }
                () = crate::cancel::cancelled(&mut over) => {}
            }
        };
        let watch = async {
            let (mut interrupt, mut over) = (interrupt.clone(), load_over.clone());
            tokio::select! {
                () = crate::cancel::cancelled(&mut interrupt) => {
                    let _ = stop_faults.send(true);
                    let _ = stop_load.send(true);
                }
                () = crate::cancel::cancelled(&mut over) => {}
                tripped = stop::watch(self.conditions, self.watch) => {
                    tracing::warn!(condition = %tripped.condition, seen = %tripped.seen, "stop condition: healing every fault, then stopping the load");
                    triggered_at.set(Instant::now());
                    *abort.borrow_mut() = Some(tripped);
                    let _ = stop_faults.send(true);
                    let _ = trip.send(true);
                }
            }
        };
        let (load, (), ()) = tokio::join!(load, faults, watch);
        Ended {
            load,
            warm_up: warm_up.into_inner(),
            abort: abort.into_inner(),
            undone_at_abort: undone_at_abort.get(),
        }
    }
}
