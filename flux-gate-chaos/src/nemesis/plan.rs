//! Turning a scenario's faults (and its nemesis) into a concrete, seeded schedule: every
//! `random:` choice and every replica pick is made here, once, from the run's seed — so the
//! same seed gives the same schedule, and the journal records exactly what was planned.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::scenario::fault::{is_role, Effect, Lifecycle, NodeOp, Pick};
use crate::scenario::{Action, Fault, Scenario};
use crate::toxiproxy::wire::Toxic;

pub use crate::scenario::fault::{DEFAULT_GRACE, TOXIC_PREFIX};

/// Why a scenario's faults could not be planned on this stack. Validation refuses both before
/// a run starts; the planner still says so rather than panicking on a stack that changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the stack has no service `{0}`")]
    NoSuchService(String),
    #[error("`random` lists nothing to choose from")]
    EmptyRandom,
}

/// One change to the system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Lifecycle {
        instance: String,
        op: Lifecycle,
    },
    AddToxics {
        link: String,
        toxics: Vec<Toxic>,
    },
    RemoveToxics {
        link: String,
        names: Vec<String>,
    },
    SetLinks {
        links: Vec<String>,
        enabled: bool,
    },
    /// A swarm node's availability set (`docker node update --availability`).
    Node {
        node: String,
        op: NodeOp,
    },
    /// A swarm service's replica count set (`docker service scale`).
    Scale {
        service: String,
        replicas: u32,
    },
}

/// A planned fault: what it does, when, and how it heals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Injection {
    pub id: usize,
    pub action: Action,
    /// What it hits: an instance, a link, links, a node, or a service (`scale`).
    pub target: String,
    pub at_ms: u64,
    pub apply: Change,
    /// When it heals itself (`duration`), and how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heal_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heal: Option<Change>,
    /// How it could be undone if the run ends before its own heal (always known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo: Option<Change>,
    /// What must hold during its window (from the scenario).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<crate::scenario::WindowExpect>,
}

/// Expands `s` into planned faults, ordered by time. `instances_of` maps a service or replica
/// group to its instances.
pub fn plan(
    s: &Scenario,
    seed: u64,
    instances_of: &dyn Fn(&str) -> Vec<String>,
) -> Result<Vec<Injection>, PlanError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    for f in &s.faults {
        let at = f.at.map(|d| d.get()).unwrap_or_default();
        out.push(expand(
            f,
            at,
            f.duration.map(|d| d.get()),
            out.len(),
            &mut rng,
            instances_of,
        )?);
    }
    if let Some(n) = &s.nemesis {
        let mut t = n.start.get();
        while t < n.end.get() && !n.pool.is_empty() {
            let pick = &n.pool[rng.random_range(0..n.pool.len())];
            out.push(expand(
                pick,
                t,
                Some(n.duration.get()),
                out.len(),
                &mut rng,
                instances_of,
            )?);
            t += n.every.get();
        }
    }
    out.sort_by_key(|p| (p.at_ms, p.id));
    Ok(out)
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// Plans one fault: makes its seeded choices (which of `random`, which replica) and turns
/// what the action does ([`Effect`]) into the changes that apply and undo it.
fn expand(
    f: &Fault,
    at: Duration,
    duration: Option<Duration>,
    id: usize,
    rng: &mut ChaCha8Rng,
    instances_of: &dyn Fn(&str) -> Vec<String>,
) -> Result<Injection, PlanError> {
    let Planned {
        target,
        apply,
        undo,
    } = planned(f.action.effect(id), rng, instances_of)?;
    let heal = duration.and(undo.clone());
    Ok(Injection {
        id,
        action: f.action.kind(),
        target,
        at_ms: ms(at),
        apply,
        heal_at_ms: heal.as_ref().and(duration).map(|d| ms(at + d)),
        heal,
        undo,
        expect: f.expect.clone(),
    })
}

/// One fault's seeded choices made: what it hits, the change that applies it, and the one
/// that undoes it (none for a repair).
struct Planned {
    target: String,
    apply: Change,
    undo: Option<Change>,
}

/// What `effect` changes, once its seeded choices are made.
fn planned(
    effect: Effect<'_>,
    rng: &mut ChaCha8Rng,
    instances_of: &dyn Fn(&str) -> Vec<String>,
) -> Result<Planned, PlanError> {
    let (target, apply, undo) = match effect {
        Effect::Lifecycle { service, op, undo } => {
            let instance = instance(choose(service, rng)?, rng, instances_of)?;
            let undo = undo.map(|op| Change::Lifecycle {
                instance: instance.clone(),
                op,
            });
            (instance.clone(), Change::Lifecycle { instance, op }, undo)
        }
        Effect::Toxics { link, toxics } => {
            let link = choose(link, rng)?;
            let names = toxics.iter().map(|t| t.name.clone()).collect();
            (
                link.clone(),
                Change::AddToxics {
                    link: link.clone(),
                    toxics,
                },
                Some(Change::RemoveToxics { link, names }),
            )
        }
        Effect::Disable { links } => {
            let links = links
                .into_iter()
                .map(|p| choose(p, rng))
                .collect::<Result<Vec<_>, _>>()?;
            (
                links.join("+"),
                Change::SetLinks {
                    links: links.clone(),
                    enabled: false,
                },
                Some(Change::SetLinks {
                    links,
                    enabled: true,
                }),
            )
        }
        Effect::Node { node, op, undo } => {
            let node = choose(node, rng)?;
            let undo = undo.map(|op| Change::Node {
                node: node.clone(),
                op,
            });
            (node.clone(), Change::Node { node, op }, undo)
        }
        Effect::Scale { service, replicas } => {
            let service = choose(service, rng)?;
            // Healed by the count it has now, when the run has just attached.
            let had = instances_of(&service).len();
            if had == 0 {
                return Err(PlanError::NoSuchService(service));
            }
            let undo = Change::Scale {
                service: service.clone(),
                replicas: u32::try_from(had).unwrap_or(u32::MAX),
            };
            (
                service.clone(),
                Change::Scale { service, replicas },
                Some(undo),
            )
        }
    };
    Ok(Planned {
        target,
        apply,
        undo,
    })
}

/// One instance of `service` drawn from the run's seed; a role stands for itself, resolved by
/// the executor when the fault fires.
fn instance(
    service: String,
    rng: &mut ChaCha8Rng,
    instances_of: &dyn Fn(&str) -> Vec<String>,
) -> Result<String, PlanError> {
    let instances = if is_role(&service) {
        vec![service.clone()]
    } else {
        instances_of(&service)
    };
    if instances.is_empty() {
        return Err(PlanError::NoSuchService(service));
    }
    Ok(instances[rng.random_range(0..instances.len())].clone())
}

/// The name given, or one of `random` drawn from the run's seed.
fn choose(p: Pick<'_>, rng: &mut ChaCha8Rng) -> Result<String, PlanError> {
    match p {
        Pick::Named(name) => Ok(name.to_owned()),
        Pick::OneOf([]) => Err(PlanError::EmptyRandom),
        Pick::OneOf(names) => Ok(names[rng.random_range(0..names.len())].clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse_str;

    fn scenario(extra: &str) -> Scenario {
        parse_str(
            &format!("name: t\nsale: {{ product: p, stock: 10 }}\nload: {{ model: arrival-rate, rate: 10/s, duration: 60s }}\n{extra}"),
            "t.yaml",
        )
        .unwrap()
    }

    fn instances(s: &str) -> Vec<String> {
        match s {
            "ingestion-api" => vec!["ingestion-api#1".into(), "ingestion-api#2".into()],
            "" => vec![],
            other => vec![other.to_owned()],
        }
    }

    #[test]
    fn kill_with_duration_heals_by_starting() {
        let p = plan(
            &scenario(
                "faults: [{ at: 5s, action: kill, service: inventory-worker, duration: 10s }]",
            ),
            1,
            &instances,
        )
        .unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].at_ms, 5000);
        assert_eq!(p[0].heal_at_ms, Some(15_000));
        assert_eq!(
            p[0].apply,
            Change::Lifecycle {
                instance: "inventory-worker".into(),
                op: Lifecycle::Kill
            }
        );
        assert_eq!(
            p[0].heal,
            Some(Change::Lifecycle {
                instance: "inventory-worker".into(),
                op: Lifecycle::Start
            })
        );
    }

    #[test]
    fn a_scale_heals_by_setting_back_the_count_the_stack_had() {
        let p = plan(
            &scenario("faults: [{ at: 2s, action: scale, service: ingestion-api, replicas: 3, duration: 5s }]"),
            1,
            &instances,
        )
        .unwrap();
        let to = |replicas| Change::Scale {
            service: "ingestion-api".into(),
            replicas,
        };
        assert_eq!(p[0].target, "ingestion-api");
        assert_eq!(p[0].apply, to(3));
        assert_eq!(p[0].heal, Some(to(2)), "the stack runs two");
        assert_eq!(p[0].undo, Some(to(2)));
        assert_eq!(p[0].heal_at_ms, Some(7000));
        assert_eq!(
            crate::nemesis::executor::label(&p[0]),
            "scale ingestion-api to 3"
        );
        let none = scenario("faults: [{ at: 2s, action: scale, random: [\"\"], replicas: 3 }]");
        assert_eq!(
            plan(&none, 1, &instances),
            Err(PlanError::NoSuchService(String::new()))
        );
    }

    #[test]
    fn a_drain_heals_by_activating_its_node_and_an_activate_is_a_repair() {
        let p = plan(
            &scenario("faults: [{ at: 2s, action: drain, random: [node-a, node-b], duration: 5s }, { at: 9s, action: activate, node: node-a }]"),
            7,
            &instances,
        )
        .unwrap();
        let Change::Node { node, op } = &p[0].apply else {
            panic!("{:?}", p[0].apply)
        };
        assert!(node == "node-a" || node == "node-b", "{node}");
        assert_eq!(*op, NodeOp::Drain);
        assert_eq!(p[0].target, *node);
        assert_eq!(p[0].heal_at_ms, Some(7_000));
        assert_eq!(
            p[0].heal,
            Some(Change::Node {
                node: node.clone(),
                op: NodeOp::Activate
            })
        );
        assert_eq!(
            p[1].apply,
            Change::Node {
                node: "node-a".into(),
                op: NodeOp::Activate
            }
        );
        assert_eq!((p[1].heal.clone(), p[1].undo.clone()), (None, None));
    }

    #[test]
    fn an_isolation_heals_by_rejoining_its_node() {
        let p = plan(
            &scenario("faults: [{ at: 2s, action: isolate, node: node-b, duration: 30s }]"),
            7,
            &instances,
        )
        .unwrap();
        assert_eq!(
            (p[0].apply.clone(), p[0].heal.clone(), p[0].heal_at_ms),
            (
                Change::Node {
                    node: "node-b".into(),
                    op: NodeOp::Isolate
                },
                Some(Change::Node {
                    node: "node-b".into(),
                    op: NodeOp::Rejoin
                }),
                Some(32_000)
            )
        );
    }

    #[test]
    fn toxics_carry_toxiproxy_attributes_and_a_removable_name() {
        let p = plan(&scenario("faults: [{ at: 1s, action: latency, link: api-redis, latency: 100ms, jitter: 5ms }, { at: 2s, action: blackhole, link: api-redis, duration: 3s }]"), 1, &instances).unwrap();
        let Change::AddToxics { toxics, .. } = &p[0].apply else {
            panic!()
        };
        assert_eq!(toxics.len(), 1);
        assert_eq!(toxics[0].name, "fgchaos-0-latency-downstream");
        assert_eq!(toxics[0].attributes["latency"], 100);
        assert_eq!(toxics[0].attributes["jitter"], 5);
        assert_eq!(
            p[0].heal, None,
            "no duration: stays until the end of the run"
        );
        assert!(p[0].undo.is_some());
        let Change::AddToxics { toxics, .. } = &p[1].apply else {
            panic!()
        };
        assert_eq!(
            toxics.iter().map(|t| t.stream.as_str()).collect::<Vec<_>>(),
            ["upstream", "downstream"]
        );
        assert_eq!(toxics[0].attributes["timeout"], 0);
    }

    #[test]
    fn same_seed_same_schedule_and_replicas_are_picked() {
        let s = scenario("nemesis: { start: 2s, end: 50s, every: 6s, duration: 3s, pool: [{ action: kill, service: ingestion-api }, { action: latency, link: api-redis, latency: 50ms }, { action: partition, links: [api-redis, kafka] }] }");
        let a = plan(&s, 42, &instances).unwrap();
        let b = plan(&s, 42, &instances).unwrap();
        let c = plan(&s, 43, &instances).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 8); // 2, 8, …, 44
        assert!(a.iter().all(|f| f.heal_at_ms == Some(f.at_ms + 3000)));
        let kills: Vec<&str> = a
            .iter()
            .filter(|f| f.action == Action::Kill)
            .map(|f| f.target.as_str())
            .collect();
        assert!(
            kills.iter().all(|k| k.starts_with("ingestion-api#")),
            "{kills:?}"
        );
    }

    /// Keys with values good and bad, for faults made up at random.
    const KEYS: [(&str, [&str; 3]); 21] = [
        ("at", ["2s", "0s", "soon"]),
        ("service", ["redis", "ingestion-api", "ingestion-api#2"]),
        ("link", ["api-redis", "kafka", "[kafka]"]),
        ("links", ["[api-redis, kafka]", "[]", "[kafka]"]),
        ("node", ["worker-2", "[n]", "~"]),
        ("random", ["[a, b]", "[]", "[ingestion-api, redis]"]),
        ("duration", ["1s", "0s", "~"]),
        ("grace", ["1s", "0", "-1s"]),
        ("latency", ["5ms", "fast", "1h"]),
        ("jitter", ["1ms", "~", "0"]),
        ("rate_kb", ["64", "-1", "0"]),
        ("timeout", ["0", "1s", "[]"]),
        ("average_size", ["1", "0", "18446744073709551615"]),
        ("size_variation", ["3", "x", "0"]),
        ("delay", ["1ms", "9999h", "0"]),
        ("bytes", ["10", "1.5", "0"]),
        ("replicas", ["2", "-1", "99"]),
        ("stream", ["both", "upstream", "sideways"]),
        ("toxicity", ["0.5", "2", ".nan"]),
        ("expect", ["{ p99: \"< 1s\" }", "{ p42: 1 }", "~"]),
        ("colour", ["red", "blue", "green"]),
    ];

    proptest::proptest! {
        /// Whatever keys a fault is given: it parses or is refused, and one that parses plans
        /// (no panic, no error) and reads back from the journal's JSON as it was.
        #[test]
        fn any_fault_that_parses_plans_and_round_trips(
            action in 0usize..Action::ALL.len(),
            keys in proptest::collection::vec((0usize..KEYS.len(), 0usize..3), 0..4),
            before in proptest::bool::ANY,
            seed in 0u64..1000,
        ) {
            let a = Action::ALL[action];
            let word = format!("action: {}", a.as_str());
            // What the action cannot do without, so that most cases get past parsing.
            let base: &[&str] = match a {
                Action::Kill | Action::Stop | Action::Start | Action::Restart | Action::Pause
                | Action::Resume => &["service: ingestion-api"],
                Action::Latency => &["link: kafka", "latency: 5ms"],
                Action::Bandwidth => &["random: [kafka, api-redis]", "rate_kb: 8"],
                Action::Slicer => &["link: kafka", "average_size: 8"],
                Action::LimitData => &["link: kafka", "bytes: 8"],
                Action::SlowClose => &["link: kafka", "delay: 8ms"],
                Action::Timeout | Action::Blackhole | Action::ResetPeer | Action::Down => &["link: kafka"],
                Action::Partition => &["links: [kafka, api-redis]"],
                Action::Failover => &["service: redis-primary"],
                Action::Drain | Action::Activate | Action::Isolate | Action::Rejoin => {
                    &["node: worker-2"]
                }
                Action::Scale => &["service: ingestion-api", "replicas: 3"],
            };
            let mut entries: Vec<String> = base.iter().map(|e| (*e).to_owned()).collect();
            entries.extend(
                keys.iter()
                    .map(|&(k, v)| format!("{}: {}", KEYS[k].0, KEYS[k].1[v])),
            );
            if before { entries.push(word) } else { entries.insert(0, word) }
            let text = format!("faults: [{{ {} }}]\nnemesis: {{ start: 1s, end: 9s, every: 2s, duration: 1s, pool: [{{ {} }}] }}", entries.join(", "), entries.join(", "));
            if let Ok(s) = parse_str(
                &format!("name: t\nsale: {{ product: p, stock: 10 }}\nload: {{ model: arrival-rate, rate: 10/s, duration: 60s }}\n{text}"),
                "t.yaml",
            ) {
                let p = plan(&s, seed, &instances);
                proptest::prop_assert!(p.is_ok(), "{text}: {p:?}");
                let json = serde_json::to_string(&s.faults).unwrap_or_default();
                let back: Result<Vec<Fault>, _> = serde_json::from_str(&json);
                // serde_json writes a NaN toxicity as null (validation refuses it anyway).
                if !json.contains("null") {
                    proptest::prop_assert_eq!(back.ok(), Some(s.faults.clone()), "{}", json);
                }
                let _ = crate::scenario::validate::validate(&s, &Default::default());
            }
        }
    }
}
