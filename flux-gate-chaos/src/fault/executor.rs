//! Applies a fault plan on schedule and heals it, recording when each change really happened
//! and whether it landed. Whatever happens to the run, [`Executor::undo_all`] puts back
//! everything still broken (Chaos Toolkit's rollbacks that always run).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::plan::{Change, PlannedFault};
use crate::scenario::fault::is_role;
use crate::target::TargetError;
use crate::target::{Lifecycle, Target};
use crate::toxiproxy::{Client, ClientError};

/// Why one apply, heal or undo did not land (the timeline keeps its text).
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Proxy(#[from] ClientError),
}

/// `change` with a role (`redis-primary`) replaced by the instance it was resolved to.
fn with_instance(change: &Change, resolved: Option<&String>) -> Change {
    match (change, resolved) {
        (Change::Lifecycle { instance, op }, Some(r)) if is_role(instance) => Change::Lifecycle {
            instance: r.clone(),
            op: *op,
        },
        _ => change.clone(),
    }
}

/// One apply, heal or undo as it happened. Times are ms from the start of the load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    pub fault: usize,
    /// `apply`, `heal` (its own `duration` ran out) or `undo` (end-of-run cleanup).
    pub phase: String,
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_ms: Option<u64>,
    pub started_ms: u64,
    pub finished_ms: u64,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The instance a role (`redis-primary`) named when this fault first fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// Labels of the faults in effect now (for the progress bar).
pub type Active = Arc<Mutex<Vec<String>>>;

pub struct Executor<'a> {
    target: &'a mut dyn Target,
    proxy: Client,
    start: Instant,
    pub timeline: Vec<TimelineEvent>,
    /// Fault id → the change that undoes it, for faults applied and not yet healed.
    outstanding: BTreeMap<usize, (String, Change)>,
    /// Fault id → the instance its role resolved to when it fired: its heal and undo act on
    /// that instance, wherever the role has moved since.
    resolved: BTreeMap<usize, String>,
    active: Active,
}

/// A short human label: `kill inventory-worker`, `latency api-redis`.
pub fn label(f: &PlannedFault) -> String {
    format!("{} {}", f.action.as_str(), f.target)
}

impl<'a> Executor<'a> {
    pub fn new(target: &'a mut dyn Target, proxy: Client, start: Instant, active: Active) -> Self {
        Executor {
            target,
            proxy,
            start,
            timeline: Vec::new(),
            outstanding: BTreeMap::new(),
            resolved: BTreeMap::new(),
            active,
        }
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Runs every apply and heal at its time; stops early when `cancel` turns true.
    pub async fn run(&mut self, faults: &[PlannedFault], mut cancel: watch::Receiver<bool>) {
        let mut steps: Vec<(u64, usize, bool)> = Vec::new();
        for (i, f) in faults.iter().enumerate() {
            steps.push((f.at_ms, i, true));
            if let Some(h) = f.heal_at_ms {
                steps.push((h, i, false));
            }
        }
        steps.sort_by_key(|&(t, i, apply)| (t, !apply, i));
        for (t, i, apply) in steps {
            if *cancel.borrow() {
                return;
            }
            let due = self.start + std::time::Duration::from_millis(t);
            tokio::select! {
                _ = tokio::time::sleep_until(due.into()) => {}
                _ = crate::cancel::cancelled(&mut cancel) => return,
            }
            let f = &faults[i];
            let l = label(f);
            if apply {
                let ok = self.step(f.id, "apply", &l, Some(t), &f.apply).await;
                if ok {
                    let resolved = self.resolved.get(&f.id);
                    let applied = with_instance(&f.apply, resolved);
                    let undo = f.undo.as_ref().map(|u| with_instance(u, resolved));
                    self.after_success(&applied);
                    if let Some(u) = undo {
                        self.outstanding.insert(f.id, (l.clone(), u));
                        self.set_active(&l, true);
                    }
                }
            } else if let Some(h) = &f.heal {
                if self.outstanding.contains_key(&f.id) {
                    let h = with_instance(h, self.resolved.get(&f.id));
                    let ok = self.step(f.id, "heal", &l, Some(t), &h).await;
                    if ok {
                        self.outstanding.remove(&f.id);
                        self.set_active(&l, false);
                        self.after_success(&h);
                    }
                }
            }
        }
    }

    /// Undoes every fault still in effect, latest first. Returns false if any undo failed.
    pub async fn undo_all(&mut self) -> bool {
        let mut all_ok = true;
        let pending: Vec<(usize, (String, Change))> = std::mem::take(&mut self.outstanding)
            .into_iter()
            .rev()
            .collect();
        for (id, (l, change)) in pending {
            let ok = self.step(id, "undo", &l, None, &change).await;
            self.set_active(&l, false);
            all_ok &= ok;
        }
        all_ok
    }

    /// Whether every apply and heal so far landed.
    pub fn all_landed(&self) -> bool {
        self.timeline.iter().all(|e| e.ok)
    }

    /// A start/resume/enable that succeeded also heals earlier faults it reverses (an explicit
    /// `start` after a `kill` without `duration`).
    fn after_success(&mut self, change: &Change) {
        let healed: Vec<usize> = self
            .outstanding
            .iter()
            .filter(|(_, (_, undo))| match (change, undo) {
                (
                    Change::Lifecycle {
                        instance: a,
                        op: Lifecycle::Start | Lifecycle::Restart { .. },
                    },
                    Change::Lifecycle {
                        instance: b,
                        op: Lifecycle::Start,
                    },
                ) => a == b,
                (
                    Change::Lifecycle {
                        instance: a,
                        op: Lifecycle::Resume,
                    },
                    Change::Lifecycle {
                        instance: b,
                        op: Lifecycle::Resume,
                    },
                ) => a == b,
                _ => false,
            })
            .map(|(id, _)| *id)
            .collect();
        for id in healed {
            if let Some((l, _)) = self.outstanding.remove(&id) {
                self.set_active(&l, false);
            }
        }
    }

    fn set_active(&self, l: &str, on: bool) {
        if let Ok(mut a) = self.active.lock() {
            if on {
                a.push(l.to_owned());
            } else if let Some(i) = a.iter().position(|x| x == l) {
                a.remove(i);
            }
        }
    }

    async fn step(
        &mut self,
        fault: usize,
        phase: &str,
        l: &str,
        scheduled_ms: Option<u64>,
        change: &Change,
    ) -> bool {
        let started_ms = self.now_ms();
        let result = match self.resolve(fault, change).await {
            Ok(concrete) => self.apply(&concrete).await,
            Err(e) => Err(e),
        };
        let finished_ms = self.now_ms();
        match &result {
            Ok(()) => tracing::info!(fault, phase, label = l, started_ms, "fault step done"),
            Err(e) => tracing::error!(fault, phase, label = l, error = %e, "fault step failed"),
        }
        self.timeline.push(TimelineEvent {
            fault,
            phase: phase.to_owned(),
            label: l.to_owned(),
            scheduled_ms,
            started_ms,
            finished_ms,
            ok: result.is_ok(),
            error: result.as_ref().err().map(ToString::to_string),
            instance: self.resolved.get(&fault).cloned(),
        });
        result.is_ok()
    }

    /// `change` on a real instance: a role is resolved the first time its fault fires (and
    /// logged); later steps of the same fault reuse that instance.
    async fn resolve(&mut self, fault: usize, change: &Change) -> Result<Change, StepError> {
        if let Change::Lifecycle { instance, .. } = change {
            if is_role(instance) && !self.resolved.contains_key(&fault) {
                let found = self.target.resolve_role(instance).await?;
                tracing::info!(fault, role = %instance, instance = %found, "role resolved");
                self.resolved.insert(fault, found);
            }
        }
        Ok(with_instance(change, self.resolved.get(&fault)))
    }

    async fn apply(&mut self, change: &Change) -> Result<(), StepError> {
        match change {
            Change::Lifecycle { instance, op } => Ok(self.target.lifecycle(instance, *op).await?),
            Change::AddToxics { link, toxics } => {
                for t in toxics {
                    self.proxy.add_toxic(link, t).await?;
                }
                Ok(())
            }
            Change::RemoveToxics { link, names } => {
                for n in names {
                    self.proxy.remove_toxic(link, n).await?;
                }
                Ok(())
            }
            Change::SetLinks { links, enabled } => {
                for l in links {
                    self.proxy.set_enabled(l, *enabled).await?;
                }
                Ok(())
            }
        }
    }
}
