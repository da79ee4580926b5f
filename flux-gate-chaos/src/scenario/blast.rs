//! The blast radius a scenario may have, checked before anything runs (docs/safety.md):
//! - `allow_total_outage: true` must be said before a scenario may take down every instance of
//!   a service at once — the only database, both APIs, a single worker;
//! - `max_concurrent_faults: N` caps how many faults may be on at once.
//!
//! Both are read from the timeline as written, before the seed chooses: a fault lasts from its
//! `at` for its `duration`, or — without one — until a later repair of the same service or the
//! end of the load; a nemesis fault for its `duration` from each tick. A choice (`random:`)
//! counts against every service it may pick, so what is refused is what *could* happen.

use std::time::Duration;

use super::fault::{is_role, Effect, Fault, Lifecycle, Pick};
use super::parse::Problem;
use super::validate::{load_duration, Names};
use super::Scenario;

/// One fault's time on the timeline, and what it may take down: the alternatives the seed
/// chooses among (one for a fault that names its target), each the services whose instance it
/// takes down together — one for a kill, every instance on the node for a drain, the replicas
/// removed for a scale-down, none for a link fault.
struct Span {
    key: String,
    label: String,
    start: Duration,
    end: Duration,
    down: Vec<Vec<String>>,
}

/// What is wrong with `s`'s blast radius on a stack with `names`.
pub fn problems(s: &Scenario, names: &Names) -> Vec<Problem> {
    let load_end = load_duration(&s.load).unwrap_or_default();
    let spans = spans(s, names, load_end);
    let mut v = Vec::new();
    if !s.allow_total_outage {
        v.extend(total_outage(&spans, names));
    }
    if let Some(max) = s.max_concurrent_faults {
        v.extend(too_many(&spans, max));
    }
    v
}

fn spans(s: &Scenario, names: &Names, load_end: Duration) -> Vec<Span> {
    let mut out = Vec::new();
    for (i, f) in s.faults.iter().enumerate() {
        let start = f.at.map(|d| d.get()).unwrap_or_default();
        let Some(down) = downs(f, names) else {
            continue;
        };
        let end = match f.duration {
            Some(d) => start.saturating_add(d.get()),
            None => repaired_at(s, i, start).unwrap_or(load_end),
        };
        out.push(span(format!("faults[{i}]"), f, start, end.max(start), down));
    }
    if let Some(n) = &s.nemesis {
        let mut t = n.start.get();
        // One fault per tick, any of the pool: its span may take down what any of them may.
        // Ticks past the load's end inject nothing that matters here.
        while t < n.end.get().min(load_end) && !n.every.get().is_zero() && !n.pool.is_empty() {
            let down: Vec<Vec<String>> = n
                .pool
                .iter()
                .filter_map(|f| downs(f, names))
                .flatten()
                .collect();
            out.push(Span {
                key: "nemesis".into(),
                label: "a nemesis fault".into(),
                start: t,
                end: t.saturating_add(n.duration.get().max(Duration::from_millis(1))),
                down,
            });
            t = t.saturating_add(n.every.get());
        }
    }
    out
}

fn span(key: String, f: &Fault, start: Duration, end: Duration, down: Vec<Vec<String>>) -> Span {
    Span {
        key,
        label: f.action.as_str().to_owned(),
        start,
        // A restart takes its instance down for a moment: at least a millisecond on the line.
        end: end.max(start.saturating_add(Duration::from_millis(1))),
        down,
    }
}

/// What a fault may take down, as the alternatives its target leaves to the seed (see
/// [`Span`]); `None` for a repair (`start`, `resume`, `activate`) or a failover, which take
/// nothing down.
fn downs(f: &Fault, names: &Names) -> Option<Vec<Vec<String>>> {
    let each = |p: Pick<'_>| -> Vec<String> {
        match p {
            Pick::Named(n) => vec![n.to_owned()],
            Pick::OneOf(all) => all.to_vec(),
        }
    };
    match f.action.effect(0) {
        Effect::Lifecycle {
            op: Lifecycle::Start | Lifecycle::Resume | Lifecycle::Failover,
            ..
        } => None,
        Effect::Node { op, .. } if !op.takes_down() => None,
        Effect::Lifecycle { service, .. } => {
            Some(each(service).into_iter().map(|s| vec![s]).collect())
        }
        // Every instance the node runs, together; a node the file names that the swarm has
        // not is an error of its own, placed by validation.
        Effect::Node { node, .. } => Some(
            each(node)
                .iter()
                .filter_map(|p| names.nodes.iter().find(|n| n.is(p)))
                .map(|n| n.runs.clone())
                .collect(),
        ),
        // A scale-down takes down the replicas it removes, which Swarm picks: each counts as
        // one the seed could choose. A scale-up takes nothing down.
        Effect::Scale { service, replicas } => Some(
            each(service)
                .into_iter()
                .map(|s| {
                    let removed = instances(&s, names).saturating_sub(replicas as usize);
                    vec![s; removed]
                })
                .collect(),
        ),
        Effect::Toxics { .. } | Effect::Disable { .. } => Some(vec![Vec::new()]),
    }
}

/// When a later fault repairs what `faults[i]` took down, if one does: a start, restart or
/// resume of the service it named, an activate of the node it drained, a later scale of the
/// service it scaled.
fn repaired_at(s: &Scenario, i: usize, after: Duration) -> Option<Duration> {
    let repairs = |f: &Fault| match (s.faults[i].action.effect(0), f.action.effect(0)) {
        (
            Effect::Lifecycle {
                service: Pick::Named(down),
                ..
            },
            Effect::Lifecycle {
                service: Pick::Named(n),
                op: Lifecycle::Start | Lifecycle::Restart { .. } | Lifecycle::Resume,
                ..
            },
        ) => n == down,
        (
            Effect::Node {
                node: Pick::Named(lost),
                op: taken,
                ..
            },
            Effect::Node {
                node: Pick::Named(n),
                op,
                ..
            },
        ) => n == lost && taken.undo() == Some(op),
        // A later scale of the service sets its count anew: a span of its own.
        (
            Effect::Scale {
                service: Pick::Named(scaled),
                ..
            },
            Effect::Scale {
                service: Pick::Named(n),
                ..
            },
        ) => n == scaled,
        _ => false,
    };
    s.faults[i + 1..]
        .iter()
        .filter(|f| f.at.map(|d| d.get()).unwrap_or_default() >= after)
        .find(|f| repairs(f))
        .and_then(|f| f.at.map(|d| d.get()))
}

/// How many instances `service` has on the stack: its replicas (`S#1`…), else 1. A role
/// (`redis-primary`, `redis-replica`) names one instance of a replicated Redis, which refuses
/// writes without a primary and a replica (`min-replicas-to-write 1`): two role faults on at
/// once count as a total outage.
fn instances(service: &str, names: &Names) -> usize {
    if is_role(service) {
        return 2;
    }
    let group = group(service);
    let replicas = names
        .services
        .iter()
        .filter(|n| n.strip_prefix(group).is_some_and(|r| r.starts_with('#')))
        .count();
    replicas.max(1)
}

/// The service group an instance belongs to (the roles are one group: a replicated Redis).
fn group(service: &str) -> &str {
    if is_role(service) {
        "a replicated Redis"
    } else {
        service.split('#').next().unwrap_or(service)
    }
}

/// The first fault, per service, that could leave no instance of it up.
fn total_outage(spans: &[Span], names: &Names) -> Vec<Problem> {
    let mut v = Vec::new();
    let mut named = Vec::new();
    for s in spans {
        for service in s.down.iter().flatten() {
            let g = group(service);
            // A name the stack does not have is an error of its own, placed by validation.
            if named.contains(&g) || !names.services.iter().any(|n| n == service) {
                continue;
            }
            let n = instances(service, names);
            let on: Vec<&Span> = spans
                .iter()
                .filter(|o| o.start <= s.start && s.start < o.end)
                .collect();
            let down = instances_down(&on, g, n);
            if down >= n {
                named.push(g);
                v.push(Problem {
                    key: s.key.clone(),
                    message: format!(
                        "`{}` at {:?} could take down every instance of `{g}` ({down} of {n}) — a total outage; say `allow_total_outage: true` to mean it",
                        s.label, s.start
                    ),
                });
            }
        }
    }
    v
}

/// How many instances of group `g` (of `n`) the spans `on` may have down at once: each replica
/// they name counts once however many faults name it; a pick the seed makes (the group's name
/// with several replicas, a `random:` list) counts as one more each — as many more as the
/// largest alternative takes of the group.
fn instances_down(on: &[&Span], g: &str, n: usize) -> usize {
    let mut named = std::collections::BTreeSet::new();
    let mut picks = 0;
    for span in on {
        let mine: Vec<Vec<&String>> = span
            .down
            .iter()
            .map(|alt| alt.iter().filter(|d| group(d) == g).collect::<Vec<_>>())
            .filter(|alt| !alt.is_empty())
            .collect();
        match mine.as_slice() {
            [] => {}
            // No choice left to the seed: what it names is down.
            [certain] => {
                for one in certain {
                    if one.contains('#') || n == 1 {
                        named.insert(one.as_str());
                    } else {
                        picks += 1;
                    }
                }
            }
            alternatives => picks += alternatives.iter().map(Vec::len).max().unwrap_or(0),
        }
    }
    named.len() + picks
}

/// The first instant more than `max` faults are on.
fn too_many(spans: &[Span], max: u32) -> Option<Problem> {
    spans.iter().find_map(|s| {
        let on = spans
            .iter()
            .filter(|o| o.start <= s.start && s.start < o.end)
            .count();
        (on > max as usize).then(|| Problem {
            key: "max_concurrent_faults".into(),
            message: format!(
                "{on} faults are on at once at {:?} (`{}` at `{}` among them); at most {max}",
                s.start, s.label, s.key
            ),
        })
    })
}
