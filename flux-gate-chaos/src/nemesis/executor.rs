//! Applies a fault plan on schedule and heals it, recording when each change really happened
//! and whether it landed. Whatever happens to the run, [`Executor::undo_all`] puts back
//! everything still broken (Chaos Toolkit's rollbacks that always run).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::stream::{FuturesUnordered, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};

use super::plan::{Change, Injection};
use crate::scenario::fault::is_role;
use crate::target::{Endpoints, Lifecycle, Readiness, Replacement, Target, TargetError};
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
        Change::Node { .. } | Change::Scale { .. } => change.clone(),
    }
}

/// The roles `change` names, and whether they name links (else an instance).
fn roles_in(change: &Change) -> (Vec<String>, bool) {
    let (names, links): (Vec<&String>, bool) = match change {
        Change::Lifecycle { instance, .. } => (vec![instance], false),
        Change::AddToxics { link, .. } | Change::RemoveToxics { link, .. } => (vec![link], true),
        Change::SetLinks { links, .. } => (links.iter().collect(), true),
        Change::Node { .. } | Change::Scale { .. } => (Vec::new(), false),
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
    /// The task Swarm started in place of the one this step ended, and when it served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced: Option<crate::target::Replacement>,
}

/// Labels of the faults in effect now (for the progress bar).
pub type Active = Arc<Mutex<Vec<String>>>;

/// Which steps go one after another: those on one instance — a step sees the instance as
/// the step before it left it, and a start is ready before the next step on its instance —
/// and those on the fault proxy, which take milliseconds and keep the plan's order. Chains run
/// side by side: a start waits for its instance to be ready, up to its ready timeout, and a
/// step on anything else must not wait with it. A 1.3 s Kafka blackhole beside a worker's
/// restart lasted 30 s when every step waited its turn, and a Redis pause beside an API's
/// start did too (found by `fgchaos explore`, docs/decisions.md §48).
///
/// An instance is named as the fault names it: a role (`redis-primary`) and the instance it
/// resolves to are two chains, and the target still takes their launches one at a time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Chain {
    Instance(String),
    Proxy,
    /// A swarm node: its drain and its activate, in order.
    Node(String),
    /// A swarm service: its scale and its scale back, in order.
    Service(String),
}

impl Chain {
    fn of(change: &Change) -> Chain {
        match change {
            Change::Lifecycle { instance, .. } => Chain::Instance(instance.clone()),
            Change::AddToxics { .. } | Change::RemoveToxics { .. } | Change::SetLinks { .. } => {
                Chain::Proxy
            }
            Change::Node { node, .. } => Chain::Node(node.clone()),
            Change::Scale { service, .. } => Chain::Service(service.clone()),
        }
    }
}

/// One apply or heal at its time (ms from the load's start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Step {
    at_ms: u64,
    fault: usize,
    apply: bool,
}

/// Every apply and heal of `faults` in the order they are due: at one time applies first,
/// then by fault.
fn schedule(faults: &[Injection]) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    for (i, f) in faults.iter().enumerate() {
        steps.push(Step {
            at_ms: f.at_ms,
            fault: i,
            apply: true,
        });
        if let Some(h) = f.heal_at_ms {
            steps.push(Step {
                at_ms: h,
                fault: i,
                apply: false,
            });
        }
    }
    steps.sort_by_key(|s| (s.at_ms, !s.apply, s.fault));
    steps
}

/// What the steps in flight share; held only between awaits.
#[derive(Default)]
struct State {
    timeline: Vec<TimelineEvent>,
    /// Fault id → the change that undoes it, for faults applied and not yet healed.
    outstanding: BTreeMap<usize, (String, Change)>,
    /// Fault id → what its roles resolved to when it fired: its heal and undo act on that
    /// instance or link, wherever the role has moved since.
    resolved: BTreeMap<usize, Resolved>,
}

pub struct Executor<'a> {
    /// Held by an instance step until its change took effect (a start: until launched, not
    /// until ready), and by a link step only to resolve a role.
    target: tokio::sync::Mutex<&'a mut dyn Target>,
    proxy: Client,
    start: Instant,
    state: Mutex<State>,
    active: Active,
    /// The target's endpoints after every instance step, for the observers that run beside
    /// the faults (the backlog watch): a container started or restarted by a fault can come
    /// back at another address, and one held back until a `start` had none when they began.
    endpoints: &'a watch::Sender<Endpoints>,
}

/// A short human label: `kill inventory-worker`, `latency api-redis`, `scale
/// inventory-worker to 2`.
pub fn label(f: &Injection) -> String {
    match &f.apply {
        Change::Scale { replicas, .. } => {
            format!("{} {} to {replicas}", f.action.as_str(), f.target)
        }
        _ => format!("{} {}", f.action.as_str(), f.target),
    }
}

impl<'a> Executor<'a> {
    /// `endpoints` is told the target's endpoints after every apply, heal and undo that
    /// touched an instance.
    pub fn new(
        target: &'a mut dyn Target,
        proxy: Client,
        start: Instant,
        active: Active,
        endpoints: &'a watch::Sender<Endpoints>,
    ) -> Self {
        Executor {
            target: tokio::sync::Mutex::new(target),
            proxy,
            start,
            state: Mutex::new(State::default()),
            active,
            endpoints,
        }
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every apply, heal and undo so far, in the order the plan gave them (its time, applies
    /// before heals, then fault; an undo, which has no planned time, at the time it started).
    /// A step is recorded when it ends, and a start ends long after it began; two steps
    /// planned for one instant start on two chains a millisecond apart in either order, so the
    /// time a step started cannot order the record.
    pub fn into_timeline(self) -> Vec<TimelineEvent> {
        let mut timeline = self
            .state
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .timeline;
        timeline.sort_by_key(|e| {
            (
                e.scheduled_ms.unwrap_or(e.started_ms),
                e.kind != EventKind::Apply,
                e.fault,
                e.started_ms,
            )
        });
        timeline
    }

    /// Runs every apply and heal at its time, each behind the step before it on its
    /// [`Chain`], the chains side by side. When `cancel` turns true no further step begins;
    /// those already begun finish (a start cut off half-way would leave its instance in no
    /// known state for the undo).
    pub async fn run(&self, faults: &[Injection], mut cancel: watch::Receiver<bool>) {
        let mut due = schedule(faults).into_iter().peekable();
        // The last step given to each chain: the next one waits until it is done.
        let mut last: BTreeMap<Chain, oneshot::Receiver<()>> = BTreeMap::new();
        let mut running = FuturesUnordered::new();
        loop {
            let next = due
                .peek()
                .map(|s| self.start + std::time::Duration::from_millis(s.at_ms));
            if next.is_none() && running.is_empty() {
                return;
            }
            tokio::select! {
                _ = crate::cancel::cancelled(&mut cancel) => break,
                Some(()) = running.next(), if !running.is_empty() => {}
                _ = tokio::time::sleep_until(next.unwrap_or(self.start).into()), if next.is_some() => {
                    let Some(s) = due.next() else { continue };
                    let (done, next_waits) = oneshot::channel();
                    let before = last.insert(Chain::of(&faults[s.fault].apply), next_waits);
                    running.push(self.run_step(faults, s, before, done, cancel.clone()));
                }
            }
        }
        while running.next().await.is_some() {}
    }

    /// One step, once the step before it on its chain is done (`before`); tells the next one
    /// by dropping `done`.
    async fn run_step(
        &self,
        faults: &[Injection],
        s: Step,
        before: Option<oneshot::Receiver<()>>,
        done: oneshot::Sender<()>,
        cancel: watch::Receiver<bool>,
    ) {
        if let Some(before) = before {
            // An error only says the step before is gone: done either way.
            let _ = before.await;
        }
        if *cancel.borrow() {
            return;
        }
        let f = &faults[s.fault];
        if s.apply {
            self.apply_fault(f, s.at_ms).await;
        } else {
            self.heal_fault(f, s.at_ms).await;
        }
        drop(done);
    }

    async fn apply_fault(&self, f: &Injection, at_ms: u64) {
        let l = label(f);
        if !self
            .step(f.id, EventKind::Apply, &l, Some(at_ms), &f.apply)
            .await
        {
            return;
        }
        let (applied, on) = {
            let mut st = self.state();
            let resolved = st.resolved.get(&f.id).cloned();
            let applied = with_resolved(&f.apply, resolved.as_ref());
            // A fault that is its own undo (a scale to the count it heals to) leaves nothing on.
            let undo = f
                .undo
                .as_ref()
                .map(|u| with_resolved(u, resolved.as_ref()))
                .filter(|u| !reverses(&applied, u));
            let on = undo.is_some();
            if let Some(u) = undo {
                st.outstanding.insert(f.id, (l.clone(), u));
            }
            (applied, on)
        };
        self.after_success(&applied);
        if on {
            self.set_active(&l, true);
        }
    }

    async fn heal_fault(&self, f: &Injection, at_ms: u64) {
        let Some(h) = &f.heal else { return };
        let h = {
            let st = self.state();
            if !st.outstanding.contains_key(&f.id) {
                return;
            }
            with_resolved(h, st.resolved.get(&f.id))
        };
        let l = label(f);
        if self.step(f.id, EventKind::Heal, &l, Some(at_ms), &h).await {
            self.state().outstanding.remove(&f.id);
            self.set_active(&l, false);
            self.after_success(&h);
        }
    }

    /// Undoes every fault still in effect, latest first. Returns false if any undo failed.
    pub async fn undo_all(&self) -> bool {
        let mut all_ok = true;
        let pending: Vec<(usize, (String, Change))> = std::mem::take(&mut self.state().outstanding)
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
    fn after_success(&self, change: &Change) {
        let healed: Vec<String> = {
            let mut st = self.state();
            let ids: Vec<usize> = st
                .outstanding
                .iter()
                .filter(|(_, (_, undo))| reverses(change, undo))
                .map(|(id, _)| *id)
                .collect();
            ids.iter()
                .filter_map(|id| st.outstanding.remove(id).map(|(l, _)| l))
                .collect()
        };
        for l in healed {
            self.set_active(&l, false);
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
        &self,
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
        let replaced = result.as_ref().ok().and_then(|r| r.clone());
        let result = result.map(|_| ());
        let finished_ms = self.now_ms();
        match &result {
            Ok(()) => tracing::info!(fault, %kind, label = l, started_ms, "fault step done"),
            Err(e) => tracing::error!(fault, %kind, label = l, error = %e, "fault step failed"),
        }
        let mut st = self.state();
        let instance = st
            .resolved
            .get(&fault)
            .map(|r| r.shown.join(", "))
            .filter(|s| !s.is_empty());
        st.timeline.push(TimelineEvent {
            fault,
            kind,
            label: l.to_owned(),
            scheduled_ms,
            started_ms,
            finished_ms,
            ok: result.is_ok(),
            error: result.as_ref().err().map(ToString::to_string),
            instance,
            replaced,
        });
        result.is_ok()
    }

    /// `change` on real instances and links: a role is resolved the first time its fault
    /// fires (and logged) — to the instance holding it, or for a link fault to that
    /// instance's peer link; later steps of the same fault reuse what it resolved to.
    async fn resolve(&self, fault: usize, change: &Change) -> Result<Change, ChangeError> {
        let (roles, links) = roles_in(change);
        for role in roles {
            let known = self
                .state()
                .resolved
                .get(&fault)
                .is_some_and(|r| r.names.contains_key(&role));
            if known {
                continue;
            }
            let mut target = self.target.lock().await;
            let (found, shown) = if links {
                let (link, instance) = target.resolve_link_role(&role).await?;
                tracing::info!(fault, %role, %instance, %link, "role resolved to a link");
                let shown = if link == instance {
                    link.clone()
                } else {
                    format!("{link} (to {instance})")
                };
                (link, shown)
            } else {
                let instance = target.resolve_role(&role).await?;
                tracing::info!(fault, %role, %instance, "role resolved");
                (instance.clone(), instance)
            };
            let mut st = self.state();
            let r = st.resolved.entry(fault).or_default();
            r.names.insert(role, found);
            r.shown.push(shown);
        }
        Ok(with_resolved(change, self.state().resolved.get(&fault)))
    }

    /// Reads the target's endpoints again and tells the observers.
    async fn reread(&self) -> Result<(), TargetError> {
        let mut target = self.target.lock().await;
        target.reread().await?;
        self.endpoints.send_replace(target.endpoints().clone());
        Ok(())
    }

    /// Applies `change`; a lifecycle step returns the replacement task Swarm started, if any.
    async fn apply(&self, change: &Change) -> Result<Option<Replacement>, ChangeError> {
        match change {
            Change::Lifecycle { instance, op } => {
                let readiness = {
                    let mut target = self.target.lock().await;
                    let result = target.lifecycle(instance, *op).await;
                    // Whether or not it landed: a failed start may still have moved a container.
                    self.endpoints.send_replace(target.endpoints().clone());
                    result?
                };
                let ready = readiness.wait().await?;
                if ready.replacement.is_some() {
                    // The new task serves at a new address: observers must read it there.
                    self.reread().await?;
                }
                Ok(ready.replacement)
            }
            Change::Node { node, op } => {
                let readiness = self.target.lock().await.node(node, *op).await?;
                self.after_moving(readiness).await
            }
            Change::Scale { service, replicas } => {
                let readiness = self.target.lock().await.scale(service, *replicas).await?;
                self.after_moving(readiness).await
            }
            Change::AddToxics { link, toxics } => {
                for t in toxics {
                    self.proxy.add_toxic(link, t).await?;
                }
                Ok(None)
            }
            Change::RemoveToxics { link, names } => {
                for n in names {
                    self.proxy.remove_toxic(link, n).await?;
                }
                Ok(None)
            }
            Change::SetLinks { links, enabled } => {
                for l in links {
                    self.proxy.set_enabled(l, *enabled).await?;
                }
                Ok(None)
            }
        }
    }
}

impl Executor<'_> {
    /// Waits out a node or scale step, then reads where the stack's tasks are now: drained,
    /// back or scaled, they moved — also when the wait failed.
    async fn after_moving(&self, readiness: Readiness) -> Result<Option<Replacement>, ChangeError> {
        let ready = readiness.wait().await;
        self.reread().await?;
        Ok(ready?.replacement)
    }
}

/// Whether `change`, having landed, reverses a fault whose undo is `undo`: a start (or
/// restart) of the instance a kill left down, a resume of the one a pause left stopped, an
/// activate of the node a drain left drained, a scale back to the count a scale changed.
fn reverses(change: &Change, undo: &Change) -> bool {
    match (change, undo) {
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
        (Change::Node { node: a, op: x }, Change::Node { node: b, op: y }) => {
            a == b && x == y && !x.takes_down()
        }
        (
            Change::Scale {
                service: a,
                replicas: x,
            },
            Change::Scale {
                service: b,
                replicas: y,
            },
        ) => a == b && x == y,
        _ => false,
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

    fn injection(id: usize, at_ms: u64, heal_at_ms: Option<u64>, apply: Change) -> Injection {
        Injection {
            id,
            action: crate::scenario::Action::Kill,
            target: format!("f{id}"),
            at_ms,
            apply: apply.clone(),
            heal_at_ms,
            heal: heal_at_ms.map(|_| apply.clone()),
            undo: Some(apply),
            expect: None,
        }
    }

    /// Steps are due in time order, applies first at one time; each instance is its own
    /// chain and every proxy step shares one: a start that waits for readiness holds back
    /// only later steps on its own instance.
    #[test]
    fn steps_are_due_in_order_and_chained_by_what_they_touch() {
        let kill = |instance: &str| Change::Lifecycle {
            instance: instance.into(),
            op: Lifecycle::Kill,
        };
        let cut = |link: &str| Change::AddToxics {
            link: link.into(),
            toxics: Vec::new(),
        };
        let faults = [
            injection(0, 4000, Some(4300), kill("inventory-worker")),
            injection(1, 4100, Some(5400), cut("kafka")),
            injection(2, 5400, None, cut("api-redis")),
            injection(3, 4300, None, kill("redis")),
        ];
        let step = |at_ms, fault, apply| Step {
            at_ms,
            fault,
            apply,
        };
        assert_eq!(
            schedule(&faults),
            vec![
                step(4000, 0, true),
                step(4100, 1, true),
                step(4300, 3, true),
                step(4300, 0, false),
                step(5400, 2, true),
                step(5400, 1, false),
            ]
        );
        let chains: Vec<Chain> = faults.iter().map(|f| Chain::of(&f.apply)).collect();
        assert_eq!(
            chains,
            [
                Chain::Instance("inventory-worker".into()),
                Chain::Proxy,
                Chain::Proxy,
                Chain::Instance("redis".into()),
            ]
        );
    }

    /// A scale back to the count a scale changed ends that scale; a scale to another count,
    /// or of another service, does not. A service's scales keep their order on its own chain.
    #[test]
    fn a_scale_back_reverses_a_scale_on_its_own_chain() {
        let scale = |service: &str, replicas| Change::Scale {
            service: service.into(),
            replicas,
        };
        let undo = scale("inventory-worker", 1);
        assert!(reverses(&scale("inventory-worker", 1), &undo));
        assert!(!reverses(&scale("inventory-worker", 2), &undo));
        assert!(!reverses(&scale("ingestion-api", 1), &undo));
        assert_eq!(
            Chain::of(&scale("inventory-worker", 3)),
            Chain::Service("inventory-worker".into())
        );
        assert_eq!(roles_in(&undo), (Vec::new(), false));
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
