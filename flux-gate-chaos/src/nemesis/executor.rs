//! Applies a fault plan on schedule and heals it, recording when each change really happened
//! and whether it landed. Whatever happens to the run, [`Executor::undo_all`] puts back
//! everything still broken (Chaos Toolkit's rollbacks that always run).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::plan::{Change, Injection};
use crate::scenario::fault::is_role;
use crate::target::{Endpoints, Lifecycle, Target, TargetError};
use crate::toxiproxy::{Client, ClientError};

/// Why one apply, heal or undo did not land (the timeline keeps its text).
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Proxy(#[from] ClientError),
}

/// What the roles (`redis-primary`) a fault names resolved to when it first fired.
#[derive(Debug, Clone, Default)]
struct Resolved {
    /// Role → the instance (a lifecycle fault) or the link (a link fault) it named.
    names: BTreeMap<String, String>,
    /// For the timeline: what was hit, e.g. `redis-2`, or `redis-1 (to redis)` for a link.
    shown: Vec<String>,
}

/// `change` with every role replaced by what it resolved to.
fn with_resolved(change: &Change, resolved: Option<&Resolved>) -> Change {
    let Some(r) = resolved else {
        return change.clone();
    };
    let name = |n: &String| r.names.get(n).unwrap_or(n).clone();
    match change {
        Change::Lifecycle { instance, op } => Change::Lifecycle {
            instance: name(instance),
            op: *op,
        },
        Change::AddToxics { link, toxics } => Change::AddToxics {
            link: name(link),
            toxics: toxics.clone(),
        },
        Change::RemoveToxics { link, names } => Change::RemoveToxics {
            link: name(link),
            names: names.clone(),
        },
        Change::SetLinks { links, enabled } => Change::SetLinks {
            links: links.iter().map(name).collect(),
            enabled: *enabled,
        },
    }
}

/// The roles `change` names, and whether they name links (else an instance).
fn roles_in(change: &Change) -> (Vec<String>, bool) {
    let (names, links): (Vec<&String>, bool) = match change {
        Change::Lifecycle { instance, .. } => (vec![instance], false),
        Change::AddToxics { link, .. } | Change::RemoveToxics { link, .. } => (vec![link], true),
        Change::SetLinks { links, .. } => (links.iter().collect(), true),
    };
    let roles = names.into_iter().filter(|n| is_role(n)).cloned().collect();
    (roles, links)
}

/// Which of an injection's changes a timeline event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The fault is put on.
    Apply,
    /// Its own `duration` ran out and its heal ran.
    Heal,
    /// End-of-run cleanup of a fault still on ([`Executor::undo_all`]).
    Undo,
}

impl EventKind {
    /// The word the journal and the report's timeline use.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Apply => "apply",
            EventKind::Heal => "heal",
            EventKind::Undo => "undo",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One apply, heal or undo as it happened. Times are ms from the start of the load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    pub fault: usize,
    /// Apply, heal or undo; stored under the field name `phase` (the journal's format 3).
    #[serde(rename = "phase")]
    pub kind: EventKind,
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
    /// Fault id → what its roles resolved to when it fired: its heal and undo act on that
    /// instance or link, wherever the role has moved since.
    resolved: BTreeMap<usize, Resolved>,
    active: Active,
    /// The target's endpoints after every step, for the observers that run beside the faults
    /// (the backlog watch): a container started or restarted by a fault can come back at
    /// another address, and one held back until a `start` had none when they began.
    endpoints: &'a watch::Sender<Endpoints>,
}

/// A short human label: `kill inventory-worker`, `latency api-redis`.
pub fn label(f: &Injection) -> String {
    format!("{} {}", f.action.as_str(), f.target)
}

impl<'a> Executor<'a> {
    /// `endpoints` is told the target's endpoints after every apply, heal and undo.
    pub fn new(
        target: &'a mut dyn Target,
        proxy: Client,
        start: Instant,
        active: Active,
        endpoints: &'a watch::Sender<Endpoints>,
    ) -> Self {
        Executor {
            target,
            proxy,
            start,
            timeline: Vec::new(),
            outstanding: BTreeMap::new(),
            resolved: BTreeMap::new(),
            active,
            endpoints,
        }
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Runs every apply and heal at its time; stops early when `cancel` turns true.
    pub async fn run(&mut self, faults: &[Injection], mut cancel: watch::Receiver<bool>) {
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
                let ok = self
                    .step(f.id, EventKind::Apply, &l, Some(t), &f.apply)
                    .await;
                if ok {
                    let resolved = self.resolved.get(&f.id);
                    let applied = with_resolved(&f.apply, resolved);
                    let undo = f.undo.as_ref().map(|u| with_resolved(u, resolved));
                    self.after_success(&applied);
                    if let Some(u) = undo {
                        self.outstanding.insert(f.id, (l.clone(), u));
                        self.set_active(&l, true);
                    }
                }
            } else if let Some(h) = &f.heal {
                if self.outstanding.contains_key(&f.id) {
                    let h = with_resolved(h, self.resolved.get(&f.id));
                    let ok = self.step(f.id, EventKind::Heal, &l, Some(t), &h).await;
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
            let ok = self.step(id, EventKind::Undo, &l, None, &change).await;
            self.set_active(&l, false);
            all_ok &= ok;
        }
        all_ok
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
        kind: EventKind,
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
        // Whether or not it landed: a failed start may still have moved a container.
        self.endpoints.send_replace(self.target.endpoints().clone());
        match &result {
            Ok(()) => tracing::info!(fault, %kind, label = l, started_ms, "fault step done"),
            Err(e) => tracing::error!(fault, %kind, label = l, error = %e, "fault step failed"),
        }
        self.timeline.push(TimelineEvent {
            fault,
            kind,
            label: l.to_owned(),
            scheduled_ms,
            started_ms,
            finished_ms,
            ok: result.is_ok(),
            error: result.as_ref().err().map(ToString::to_string),
            instance: self
                .resolved
                .get(&fault)
                .map(|r| r.shown.join(", "))
                .filter(|s| !s.is_empty()),
        });
        result.is_ok()
    }

    /// `change` on real instances and links: a role is resolved the first time its fault
    /// fires (and logged) — to the instance holding it, or for a link fault to that
    /// instance's peer link; later steps of the same fault reuse what it resolved to.
    async fn resolve(&mut self, fault: usize, change: &Change) -> Result<Change, ChangeError> {
        let (roles, links) = roles_in(change);
        for role in roles {
            if self
                .resolved
                .get(&fault)
                .is_some_and(|r| r.names.contains_key(&role))
            {
                continue;
            }
            let (found, shown) = if links {
                let (link, instance) = self.target.resolve_link_role(&role).await?;
                tracing::info!(fault, %role, %instance, %link, "role resolved to a link");
                let shown = if link == instance {
                    link.clone()
                } else {
                    format!("{link} (to {instance})")
                };
                (link, shown)
            } else {
                let instance = self.target.resolve_role(&role).await?;
                tracing::info!(fault, %role, %instance, "role resolved");
                (instance.clone(), instance)
            };
            let r = self.resolved.entry(fault).or_default();
            r.names.insert(role, found);
            r.shown.push(shown);
        }
        Ok(with_resolved(change, self.resolved.get(&fault)))
    }

    async fn apply(&mut self, change: &Change) -> Result<(), ChangeError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(pairs: &[(&str, &str)]) -> Resolved {
        Resolved {
            names: pairs
                .iter()
                .map(|(r, n)| ((*r).to_owned(), (*n).to_owned()))
                .collect(),
            shown: Vec::new(),
        }
    }

    /// Roles are found in every kind of change, and replaced there by what they resolved to;
    /// names that are not roles stay as they are.
    #[test]
    fn roles_in_any_change_are_replaced_by_what_they_resolved_to() {
        let cut = Change::SetLinks {
            links: vec!["redis-primary".into(), "kafka".into()],
            enabled: false,
        };
        assert_eq!(roles_in(&cut), (vec!["redis-primary".to_owned()], true));
        let r = resolved(&[("redis-primary", "redis-2")]);
        assert_eq!(
            with_resolved(&cut, Some(&r)),
            Change::SetLinks {
                links: vec!["redis-2".into(), "kafka".into()],
                enabled: false,
            }
        );
        let slow = Change::RemoveToxics {
            link: "redis-primary".into(),
            names: vec!["f0".into()],
        };
        assert_eq!(roles_in(&slow), (vec!["redis-primary".to_owned()], true));
        assert_eq!(
            with_resolved(&slow, Some(&r)),
            Change::RemoveToxics {
                link: "redis-2".into(),
                names: vec!["f0".into()],
            }
        );
        let kill = Change::Lifecycle {
            instance: "redis-replica".into(),
            op: Lifecycle::Kill,
        };
        assert_eq!(roles_in(&kill), (vec!["redis-replica".to_owned()], false));
        let r = resolved(&[("redis-replica", "redis-3")]);
        assert_eq!(
            with_resolved(&kill, Some(&r)),
            Change::Lifecycle {
                instance: "redis-3".into(),
                op: Lifecycle::Kill,
            }
        );
        let plain = Change::AddToxics {
            link: "kafka".into(),
            toxics: Vec::new(),
        };
        assert_eq!(roles_in(&plain), (Vec::new(), true));
        assert_eq!(with_resolved(&plain, Some(&r)), plain);
        assert_eq!(with_resolved(&kill, None), kill);
    }
}
