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

use super::placed;
use crate::load::coordinator::Coordinator;
use crate::load::{self, Live, LoadPlan, LoadSummary};
use crate::model::{Abort, Warmup};
use crate::nemesis::{Executor, Injection};
use crate::observe::backlog::Latest;
use crate::scenario::steady::Hypothesis;
use crate::scenario::stop::AbortWhen;
use crate::stop;

/// How the load and the faults ended.
pub struct Ended {
    pub load: Result<LoadSummary, load::generators::GeneratorsError>,
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
    /// The coordinator of generators placed on the stack's nodes, which make the load; none
    /// when the load is made in this process.
    pub coordinator: Option<Coordinator>,
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
        let (faults_ended, faults_over) = watch::channel(false);
        let (trip, tripped_rx) = watch::channel(false);
        let abort: RefCell<Option<Abort>> = RefCell::new(None);
        let triggered_at = Cell::new(Instant::now());
        let heal_ok = Cell::new(true);
        let warm_up = RefCell::new(None);
        let gate = Gate {
            hypothesis: self.gate.as_ref(),
            first_at_ms: self.faults.first().map(|f| f.at_ms),
            live: self.live.clone(),
            backlog: self.backlog.clone(),
            zero: self.watch.zero,
        };
        let load = async {
            let r = match self.coordinator {
                Some(c) => c.collect(load_stop, placed::GRACE).await,
                None => load::drive_all(self.plan, self.history, self.live, load_stop).await,
            };
            let _ = load_ended.send(true);
            r
        };
        let faults = async {
            let w = gate.read(&mut faults_stop.clone()).await;
            let held = w.as_ref().is_none_or(|w| w.held);
            *warm_up.borrow_mut() = w;
            if held {
                self.executor.run(self.faults, faults_stop).await;
            } else {
                tracing::warn!(
                    "the steady state did not hold before the first fault: no fault injected"
                );
                let _ = stop_load.send(true);
            }
            let _ = faults_ended.send(true);
            let tripped = Tripped {
                abort: &abort,
                at: &triggered_at,
                heal_ok: &heal_ok,
            };
            tripped
                .heal_then_stop(self.executor, (tripped_rx, load_over.clone()), &stop_load)
                .await;
        };
        // Watches until both the load and the faults are over (faults may be due after the
        // load's end): Ctrl-C stops both at once; a stop condition or a halt trips the heal.
        let watch = async {
            let mut interrupt = interrupt.clone();
            let (mut load_over, mut faults_over) = (load_over.clone(), faults_over);
            let both_over = async {
                crate::cancel::cancelled(&mut load_over).await;
                crate::cancel::cancelled(&mut faults_over).await;
            };
            tokio::select! {
                () = crate::cancel::cancelled(&mut interrupt) => {
                    let _ = stop_faults.send(true);
                    let _ = stop_load.send(true);
                }
                () = both_over => {}
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
            undone_at_abort: heal_ok.get(),
        }
    }
}

/// What a trigger left for the faults' side: the stop condition, when it held, whether the
/// heal landed.
struct Tripped<'a> {
    abort: &'a RefCell<Option<Abort>>,
    at: &'a Cell<Instant>,
    heal_ok: &'a Cell<bool>,
}

impl Tripped<'_> {
    /// Once the faults are over: a trigger heals every fault still on, and only then stops
    /// the load; the end of the load ends the wait.
    async fn heal_then_stop(
        &self,
        executor: &Executor<'_>,
        (mut tripped, mut load_over): (watch::Receiver<bool>, watch::Receiver<bool>),
        stop_load: &watch::Sender<bool>,
    ) {
        tokio::select! {
            biased;
            () = crate::cancel::cancelled(&mut tripped) => {
                self.heal_ok.set(executor.undo_all().await);
                let healed_in = self.at.get().elapsed();
                if let Some(a) = self.abort.borrow_mut().as_mut() {
                    a.healed_in_ms = Some(u64::try_from(healed_in.as_millis()).unwrap_or(u64::MAX));
                }
                let _ = stop_load.send(true);
            }
            () = crate::cancel::cancelled(&mut load_over) => {}
        }
    }
}

/// The steady-state gate: what it reads, and when.
struct Gate<'a> {
    hypothesis: Option<&'a Hypothesis>,
    first_at_ms: Option<u64>,
    live: Arc<Live>,
    backlog: Option<Latest>,
    zero: Instant,
}

impl Gate<'_> {
    /// The warm-up, read when the first fault is due — `None` without a gate or a fault, or
    /// when `cancel` came first.
    async fn read(&self, cancel: &mut watch::Receiver<bool>) -> Option<Warmup> {
        let (h, first) = (self.hypothesis?, self.first_at_ms?);
        let read = (self.live.as_ref(), self.backlog.as_ref());
        stop::warm_up(h, first, read, self.zero, cancel).await
    }
}
