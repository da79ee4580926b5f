//! The rules a fault follows that its type cannot say: values in range, names that exist in the
//! stack, a toxic the fault proxy has, and what a nemesis pool entry may not carry. What the
//! types do say (the keys of the action, the values it needs) was refused while parsing, with
//! the key's place; these run against the stack before anything starts, and collect every
//! problem rather than stopping at the first.

use super::keys::Key;
use super::PRIMARY_ROLE;
use super::{Action, Fault, FaultAction, LinkTarget, LinksTarget, NodeTarget, On, ServiceTarget};
use crate::scenario::parse::Problem;
use crate::scenario::validate::{unknown, Names};

impl FaultAction {
    fn validate(&self, key: &str, names: &Names, v: &mut Vec<Problem>) {
        if let Some(t) = self.toxic().and_then(|t| t.toxicity) {
            if !(0.0..=1.0).contains(&t) {
                push(v, format!("{key}.toxicity"), "a share between 0 and 1");
            }
        }
        match self {
            // The embedded proxy would refuse the toxic mid-run; say so before anything starts.
            FaultAction::ResetPeer { .. } => {
                if !names.reset_peer {
                    push(
                        v,
                        format!("{key}.action"),
                        "the embedded fault proxy (noxious) has no `reset_peer` toxic; use `timeout` or `down` here, \
                         or real Toxiproxy (`--target docker`)",
                    );
                }
            }
            FaultAction::Failover { on } => {
                if !names.redis_ha {
                    push(
                        v,
                        format!("{key}.action"),
                        "`failover` needs Redis with Sentinel: a stack with `redis_ha` \
                         (stacks/redis-ha.yaml)",
                    );
                } else if *on != ServiceTarget::Service(PRIMARY_ROLE.to_owned()) {
                    push(
                        v,
                        format!("{key}.service"),
                        format!("`failover` acts on the primary: write `service: {PRIMARY_ROLE}`"),
                    );
                }
            }
            FaultAction::Scale { on, replicas } => scale_rules(key, on, *replicas, names, v),
            FaultAction::Kill { .. }
            | FaultAction::Stop { .. }
            | FaultAction::Start { .. }
            | FaultAction::Restart { .. }
            | FaultAction::Pause { .. }
            | FaultAction::Resume { .. }
            | FaultAction::Latency { .. }
            | FaultAction::Bandwidth { .. }
            | FaultAction::Timeout { .. }
            | FaultAction::Blackhole { .. }
            | FaultAction::Slicer { .. }
            | FaultAction::LimitData { .. }
            | FaultAction::SlowClose { .. }
            | FaultAction::Down { .. }
            | FaultAction::Partition { .. }
            | FaultAction::Drain { .. }
            | FaultAction::Activate { .. }
            | FaultAction::Isolate { .. }
            | FaultAction::Rejoin { .. } => {}
        }
        self.validate_names(key, names, v);
    }

    /// Every name the fault gives must be one the stack has: a service, a link or a node.
    fn validate_names(&self, key: &str, names: &Names, v: &mut Vec<Problem>) {
        let nodes: Vec<String>;
        let (what, known) = match self.on() {
            On::Service(_) => ("service", &names.services),
            On::Link(_) | On::Links(_) => ("link", &names.links),
            On::Node(_) if names.nodes.is_empty() => {
                push(
                    v,
                    format!("{key}.action"),
                    format!(
                        "`{}` acts on a swarm node, and this target has none: run it with `--target swarm`",
                        self.as_str()
                    ),
                );
                return;
            }
            On::Node(_) if self.kind() == Action::Isolate && names.nodes.len() < 2 => {
                push(
                    v,
                    format!("{key}.action"),
                    "`isolate` cuts a node from the others, and this swarm has one node: drain it, or run on a swarm of several (scripts/swarm-nodes)",
                );
                return;
            }
            On::Node(_) => {
                nodes = names.nodes.iter().map(|n| n.hostname.clone()).collect();
                ("node", &nodes)
            }
        };
        let is_known = |name: &str| match self.on() {
            On::Node(_) => names.nodes.iter().any(|n| n.is(name)),
            _ => known.iter().any(|n| n == name),
        };
        for (k, name) in self.on().named() {
            if !is_known(name) {
                push(v, format!("{key}.{k}"), unknown(what, name, known));
            }
        }
    }
}

/// A `scale` fault's rules: a swarm stack, a replica count in range, and services the stack
/// file lets a fault scale. Only its stateless services qualify: a second Redis or PostgreSQL
/// task would be a second, empty store behind the same name, not a replica, and a second proxy
/// would hold none of the run's toxics.
fn scale_rules(key: &str, on: &ServiceTarget, replicas: u32, names: &Names, v: &mut Vec<Problem>) {
    if names.nodes.is_empty() {
        push(
            v,
            format!("{key}.action"),
            "`scale` sets a swarm service's replica count, and this target runs no swarm: run it with \
             `--target swarm` (on local and docker a service's copies are `scale:` with `started:`, \
             and `start` faults)",
        );
        return;
    }
    if !(1..=crate::scenario::MAX_REPLICAS).contains(&replicas) {
        push(
            v,
            format!("{key}.replicas"),
            format!(
                "{replicas} replicas: give 1 to {} (a service with no task is an outage: say it with \
                 `pause` of each task, or a `drain` of their nodes, and `allow_total_outage`)",
                crate::scenario::MAX_REPLICAS
            ),
        );
    }
    for (k, name) in On::Service(on).named() {
        let whole = name.split('#').next().unwrap_or(name);
        let known = names.services.iter().any(|s| s == name);
        // A task the stack does not have is named unknown, with the service suggested.
        if whole != name && known {
            push(
                v,
                format!("{key}.{k}"),
                format!("`scale` acts on a whole service: write `{whole}`, not one of its tasks"),
            );
        } else if known && !names.scalable.iter().any(|s| s == name) {
            push(
                v,
                format!("{key}.{k}"),
                format!(
                    "`{name}` cannot be scaled; the stack file's `scalable:` lets a fault scale {} \
                     (stateless, replicated services: a second task of a store is a second, empty store)",
                    listed_or_none(&names.scalable)
                ),
            );
        }
    }
}

fn listed_or_none(names: &[String]) -> String {
    if names.is_empty() {
        return "none".into();
    }
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Fault {
    /// Every rule this fault breaks against the stack's `names`; `key` is its path
    /// (`faults[2]`). What types already guarantee (keys of the action, required values) was
    /// refused while parsing.
    pub fn validate(&self, key: &str, names: &Names, v: &mut Vec<Problem>) {
        if self.duration.is_some_and(|d| d.get().is_zero()) {
            push(
                v,
                format!("{key}.duration"),
                "must be more than 0s (leave it out for a fault that stays)",
            );
        }
        self.action.validate(key, names, v);
    }

    /// The extra rules of a nemesis pool entry: the nemesis gives it its time and duration,
    /// and it must be a fault that heals (else the nemesis would stack repairs, not faults).
    pub fn validate_pool_entry(&self, key: &str, v: &mut Vec<Problem>) {
        if self.at.is_some() {
            push(
                v,
                format!("{key}.at"),
                "pool entries get their time from the nemesis; remove `at`",
            );
        }
        if self.duration.is_some() {
            push(
                v,
                format!("{key}.duration"),
                "pool entries last `nemesis.duration`; remove `duration`",
            );
        }
        if self.action.kind() == Action::Scale {
            push(
                v,
                format!("{key}.action"),
                "`scale` changes the stack's shape, which the nemesis's later picks were planned \
                 against (a replica it names may be gone): write the scale in `faults`",
            );
        }
        if !self.action.heals() {
            push(
                v,
                format!("{key}.action"),
                "pick faults that heal (kill, stop, pause, drain, isolate, scale or a network fault)",
            );
        }
    }
}

fn push(v: &mut Vec<Problem>, key: String, message: impl Into<String>) {
    v.push(Problem {
        key,
        message: message.into(),
    });
}

impl<'a> On<'a> {
    /// Every name the file gives, with the key that gives it (`service`, `random[1]`).
    pub(super) fn named(self) -> Vec<(String, &'a str)> {
        let indexed = |key: Key, names: &'a [String]| {
            names
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("{}[{i}]", key.as_str()), n.as_str()))
                .collect()
        };
        match self {
            On::Service(ServiceTarget::Service(s)) => vec![(Key::Service.as_str().into(), s)],
            On::Link(LinkTarget::Link(l)) => vec![(Key::Link.as_str().into(), l)],
            On::Links(LinksTarget::Links(l)) => indexed(Key::Links, l),
            On::Node(NodeTarget::Node(n)) => vec![(Key::Node.as_str().into(), n)],
            On::Service(ServiceTarget::Random(r))
            | On::Link(LinkTarget::Random(r))
            | On::Links(LinksTarget::Random(r))
            | On::Node(NodeTarget::Random(r)) => indexed(Key::Random, r),
        }
    }
}
