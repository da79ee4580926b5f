//! Rules a parsed scenario must follow before anything starts: values in range, and every
//! service and link named by a fault present in the stack. Which keys a fault may have was
//! settled while parsing; the per-action rules live with the action (`super::fault`).

use std::collections::HashSet;
use std::time::Duration;

use super::fault::{PRIMARY_ROLE, REPLICA_ROLE};
use super::parse::Problem;
use super::{BacklogExpect, Fault, Invariant, Load, LoadModel, Nemesis, Sale, Scenario, Settle};

/// What the target's stack offers faults to name.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// Services, replica groups (`ingestion-api`) and replicas (`ingestion-api#2`).
    pub services: Vec<String>,
    /// Links: Toxiproxy proxy names.
    pub links: Vec<String>,
    /// Whether the fault proxy has Toxiproxy's `reset_peer` toxic (the embedded one has not).
    pub reset_peer: bool,
    /// Whether Redis runs with Sentinel (`failover` needs it; `redis-primary` and
    /// `redis-replica` are then in `services`).
    pub redis_ha: bool,
    /// Services a scenario may name but a search does not draw unless its space lists them:
    /// the fault proxy's own (stopping it drops every toxic the harness must later remove)
    /// and one-shot containers that had exited when the harness attached (nothing to pause).
    pub undrawn: Vec<String>,
    /// Swarm nodes a node fault may name (hostname or id), each with the instances it runs:
    /// what a drain takes down, for the blast radius. Empty off a swarm.
    pub nodes: Vec<NodeNames>,
    /// Swarm services a `scale` fault may set the replicas of: the stack file's `scalable:`
    /// that the stack runs as replicated services. Empty off a swarm.
    pub scalable: Vec<String>,
}

/// One swarm node as a scenario may name it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeNames {
    pub hostname: String,
    pub id: String,
    /// The instances of the stack running on it (`redis`, `ingestion-api#2`).
    pub runs: Vec<String>,
}

impl NodeNames {
    /// Whether a scenario's `node:` names this node.
    pub fn is(&self, name: &str) -> bool {
        self.hostname == name || self.id == name
    }
}

/// How Redis runs in a stack, as far as the names a fault may use go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisNames {
    /// One instance: no roles.
    Single,
    /// With Sentinel: the roles name instances, and name links too when the stack says which
    /// proxy is each instance's peer link (a link fault on a role cuts that link).
    Sentinel { peer_links: bool },
}

impl Names {
    /// What a stack with these services and links offers: the Redis roles are added here, one
    /// rule for every target.
    pub fn of_stack(
        mut services: Vec<String>,
        mut links: Vec<String>,
        reset_peer: bool,
        redis: RedisNames,
    ) -> Names {
        let roles = [PRIMARY_ROLE.to_owned(), REPLICA_ROLE.to_owned()];
        if let RedisNames::Sentinel { peer_links } = redis {
            services.extend(roles.clone());
            if peer_links {
                links.extend(roles);
            }
        }
        Names {
            services,
            links,
            reset_peer,
            redis_ha: redis != RedisNames::Single,
            undrawn: Vec::new(),
            nodes: Vec::new(),
            scalable: Vec::new(),
        }
    }

    /// The services a search draws from by default: all but [`Names::undrawn`].
    pub fn drawn_services(&self) -> Vec<String> {
        self.services
            .iter()
            .filter(|s| !self.undrawn.contains(s))
            .cloned()
            .collect()
    }
}

/// Longest load a scenario may ask for: loads are bounded.
pub const MAX_LOAD: Duration = Duration::from_secs(3600);

/// Every problem of `s` against `names`; empty when the scenario can run. They come in the
/// file's order (name, sale, load, settle, faults, nemesis, expect), each placed at its key.
pub fn validate(s: &Scenario, names: &Names) -> Vec<Problem> {
    let mut v = Vec::from_iter(name(&s.name));
    v.extend(broken(&s.sale, &[product, stock, per_user_limit]));
    v.extend(load(&s.load));
    v.extend(stall(&s.settle));
    v.extend(faults(&s.faults, names));
    v.extend(s.nemesis.iter().flat_map(|n| nemesis(n, names)));
    if let Some(b) = &s.expect.backlog {
        v.extend(backlog_bound(b));
        v.extend(catch_up_needs_a_fault(b, s));
    }
    v.extend(invariants_listed_twice(&s.expect.invariants));
    v.extend(super::blast::problems(s, names));
    if let Some(st) = &s.steady_state {
        v.extend(super::steady::problems(st));
    }
    if let Some(a) = &s.abort_when {
        v.extend(super::stop::problems(a, load_duration(&s.load)));
    }
    v
}

/// A rule about one part of a scenario: the problem, placed at its key, when the part breaks it.
type Rule<T> = fn(&T) -> Option<Problem>;

/// The problems of `rules` that `part` breaks, in the rules' order.
fn broken<T>(part: &T, rules: &[Rule<T>]) -> Vec<Problem> {
    rules.iter().filter_map(|rule| rule(part)).collect()
}

/// The problem at `key` when a rule is `broken`.
fn problem_if(broken: bool, key: &str, message: &str) -> Option<Problem> {
    broken.then(|| problem(key, message))
}

fn problem(key: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        key: key.into(),
        message: message.into(),
    }
}

/// The name names the report file, so it is held to what a file name may safely be.
fn name(name: &str) -> Option<Problem> {
    problem_if(
        name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
        "name",
        "use 1–64 characters of a-z, 0-9 and `-` (it names the report file)",
    )
}

fn product(sale: &Sale) -> Option<Problem> {
    problem_if(
        flux_gate_contract::http::ProductId::parse(&sale.product).is_err()
            || sale.product.len() > 100,
        "sale.product",
        "use 1–100 characters of A-Z, a-z, 0-9, `_` and `-`",
    )
}

fn stock(sale: &Sale) -> Option<Problem> {
    problem_if(
        sale.stock == 0,
        "sale.stock",
        "a sale needs at least 1 unit",
    )
}

fn per_user_limit(sale: &Sale) -> Option<Problem> {
    problem_if(
        sale.per_user_limit == Some(0),
        "sale.per_user_limit",
        "must be at least 1 (leave it out for no limit)",
    )
}

/// The load's problems: first what its model needs, then the keys of other models it gives,
/// then the bounds every load has.
fn load(l: &Load) -> Vec<Problem> {
    let mut v = match l.model {
        LoadModel::ArrivalRate => Vec::from_iter(arrival_rate(l)),
        LoadModel::RampingArrivalRate => ramping_stages(l),
        LoadModel::VirtualUsers => Vec::from_iter(virtual_users(l)),
    };
    v.extend(broken(
        l,
        &[
            vus_of_another_model,
            stages_of_another_model,
            rate_of_virtual_users,
            load_length,
            max_requests,
            users,
            duplicate_ratio,
            request_timeout,
            connections,
            generators,
        ],
    ));
    v
}

fn arrival_rate(l: &Load) -> Option<Problem> {
    let message = match l.rate {
        None => "`arrival-rate` needs a rate, like `rate: 2000/s`",
        Some(r) if r.per_second <= 0.0 => "must be more than 0/s",
        Some(r) if r.per_second > 1_000_000.0 => "at most 1000000/s",
        _ => return None,
    };
    Some(problem("load.rate", message))
}

/// A ramp needs stages, and each stage a length and a rate in range.
fn ramping_stages(l: &Load) -> Vec<Problem> {
    let mut v = Vec::new();
    if l.stages.is_empty() {
        v.push(problem(
            "load.stages",
            "`ramping-arrival-rate` needs stages, like `[{ to: 1000/s, over: 10s }]`",
        ));
    }
    for (i, st) in l.stages.iter().enumerate() {
        if st.over.get().is_zero() {
            v.push(problem(
                format!("load.stages[{i}].over"),
                "must be more than 0s",
            ));
        }
        if st.to.per_second > 1_000_000.0 {
            v.push(problem(format!("load.stages[{i}].to"), "at most 1000000/s"));
        }
    }
    v
}

fn virtual_users(l: &Load) -> Option<Problem> {
    let message = match l.vus {
        None => "`virtual-users` needs `vus`, like `vus: 50`",
        Some(n) if n == 0 || n > 10_000 => "use 1–10000 virtual users",
        _ => return None,
    };
    Some(problem("load.vus", message))
}

fn vus_of_another_model(l: &Load) -> Option<Problem> {
    problem_if(
        l.vus.is_some() && l.model != LoadModel::VirtualUsers,
        "load.vus",
        "only `virtual-users` has `vus`; remove it or change `model`",
    )
}

fn stages_of_another_model(l: &Load) -> Option<Problem> {
    problem_if(
        !l.stages.is_empty() && l.model != LoadModel::RampingArrivalRate,
        "load.stages",
        "only `ramping-arrival-rate` has `stages`; remove them or change `model`",
    )
}

fn rate_of_virtual_users(l: &Load) -> Option<Problem> {
    problem_if(
        l.rate.is_some() && l.model == LoadModel::VirtualUsers,
        "load.rate",
        "`virtual-users` sends as fast as answers come; remove `rate` or change `model`",
    )
}

/// How long the load runs, given or summed from the stages: it must be said, and loads are
/// bounded ([`MAX_LOAD`]).
fn load_length(l: &Load) -> Option<Problem> {
    let message = match load_duration(l) {
        None => "say how long load runs, like `duration: 25s`",
        Some(d) if d.is_zero() => "must be more than 0s",
        Some(d) if d > MAX_LOAD => "at most 1h: loads are bounded",
        _ => return None,
    };
    Some(problem("load.duration", message))
}

fn max_requests(l: &Load) -> Option<Problem> {
    problem_if(
        l.max_requests == Some(0),
        "load.max_requests",
        "must be at least 1 (leave it out for no cap)",
    )
}

fn users(l: &Load) -> Option<Problem> {
    problem_if(l.users == 0, "load.users", "must be at least 1")
}

fn duplicate_ratio(l: &Load) -> Option<Problem> {
    problem_if(
        !(0.0..=1.0).contains(&l.duplicate_ratio),
        "load.duplicate_ratio",
        "a share between 0 and 1, like `0.05`",
    )
}

fn request_timeout(l: &Load) -> Option<Problem> {
    problem_if(
        l.timeout.get().is_zero() || l.timeout.get() > Duration::from_secs(120),
        "load.timeout",
        "between 1ms and 120s",
    )
}

fn connections(l: &Load) -> Option<Problem> {
    problem_if(
        l.connections == 0 || l.connections > 4096,
        "load.connections",
        "use 1–4096 connections",
    )
}

/// Each generator has its own connections and history: a few dozen are plenty on any
/// machine, and a load split finer than that is a mistake. In the closed model each generator
/// drives its share of the users, so each needs one: with fewer users than generators, a
/// generator without any would never send its attempts.
fn generators(l: &Load) -> Option<Problem> {
    if l.generators == 0 || l.generators > 64 {
        return Some(problem("load.generators", "use 1–64 generators"));
    }
    let users = l.vus.unwrap_or(1);
    problem_if(
        matches!(l.model, LoadModel::VirtualUsers) && users < l.generators,
        "load.generators",
        "at most as many generators as `vus`: each drives its share of the users",
    )
}

/// The stall window must fit in the settle timeout: a settle that times out is judged stuck
/// or slow by what the last `stall` of it saw.
fn stall(settle: &Settle) -> Option<Problem> {
    problem_if(
        settle
            .stall
            .is_some_and(|w| w > settle.timeout || w.get().is_zero()),
        "settle.stall",
        "must be more than 0s and at most `settle.timeout`, or a stopped system could never be told from a slow one",
    )
}

/// Each fault of `faults` needs its time; the rest of its rules are the action's.
fn faults(faults: &[Fault], names: &Names) -> Vec<Problem> {
    let mut v = Vec::new();
    for (i, f) in faults.iter().enumerate() {
        let key = format!("faults[{i}]");
        if f.at.is_none() {
            v.push(problem(
                format!("{key}.at"),
                "say when the fault happens, like `at: 5s`",
            ));
        }
        f.validate(&key, names, &mut v);
    }
    v
}

/// The nemesis's schedule, then each pool entry: the rules of a pool entry, and of its action.
fn nemesis(n: &Nemesis, names: &Names) -> Vec<Problem> {
    let mut v = broken(
        n,
        &[nemesis_end, nemesis_every, nemesis_duration, nemesis_pool],
    );
    for (i, f) in n.pool.iter().enumerate() {
        let key = format!("nemesis.pool[{i}]");
        f.validate_pool_entry(&key, &mut v);
        f.validate(&key, names, &mut v);
    }
    v
}

fn nemesis_end(n: &Nemesis) -> Option<Problem> {
    problem_if(
        n.end <= n.start,
        "nemesis.end",
        "must be after `nemesis.start`",
    )
}

fn nemesis_every(n: &Nemesis) -> Option<Problem> {
    problem_if(
        n.every.get().is_zero(),
        "nemesis.every",
        "must be more than 0s",
    )
}

fn nemesis_duration(n: &Nemesis) -> Option<Problem> {
    problem_if(
        n.duration.get().is_zero() || n.duration >= n.every,
        "nemesis.duration",
        "must be more than 0s and less than `every`, so faults do not overlap",
    )
}

fn nemesis_pool(n: &Nemesis) -> Option<Problem> {
    problem_if(
        n.pool.is_empty(),
        "nemesis.pool",
        "list at least one fault to choose from",
    )
}

/// A backlog expectation with no bound would pass whatever the backlog did.
fn backlog_bound(b: &BacklogExpect) -> Option<Problem> {
    problem_if(
        b.peak_age.is_none() && b.catch_up.is_none(),
        "expect.backlog",
        "bound `peak_age`, `catch_up` or both, like `{ peak_age: \"< 75s\", catch_up: \"< 10s\" }`",
    )
}

/// `catch_up` is measured from the last heal, so a scenario without faults has nothing to
/// measure it from.
fn catch_up_needs_a_fault(b: &BacklogExpect, s: &Scenario) -> Option<Problem> {
    problem_if(
        b.catch_up.is_some() && s.faults.is_empty() && s.nemesis.is_none(),
        "expect.backlog.catch_up",
        "counts from the last heal, and this scenario has no fault; add one or remove `catch_up`",
    )
}

/// Every repeat of an invariant, placed at the repeat.
fn invariants_listed_twice(invariants: &[Invariant]) -> Vec<Problem> {
    let mut seen = HashSet::new();
    invariants
        .iter()
        .enumerate()
        .filter(|(_, inv)| !seen.insert(*inv))
        .map(|(i, _)| problem(format!("expect.invariants[{i}]"), "listed twice"))
        .collect()
}

/// How long load runs: `duration`, or the ramping stages' total.
pub fn load_duration(l: &Load) -> Option<Duration> {
    l.duration.map(|d| d.get()).or_else(|| {
        (l.model == LoadModel::RampingArrivalRate && !l.stages.is_empty())
            .then(|| l.stages.iter().map(|s| s.over.get()).sum())
    })
}

/// "the stack has no service `x` — did you mean `y`? (known: …)"
pub fn unknown(what: &str, name: &str, known: &[String]) -> String {
    let best = known
        .iter()
        .map(|k| (strsim::jaro_winkler(name, k), k))
        .filter(|(s, _)| *s >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let mut msg = format!("the stack has no {what} `{name}`");
    if let Some((_, b)) = best {
        msg.push_str(&format!(" — did you mean `{b}`?"));
    }
    msg.push_str(&format!(" (known: {})", known.join(", ")));
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse_str;

    fn names() -> Names {
        Names {
            services: [
                "redis",
                "inventory-worker",
                "ingestion-api",
                "ingestion-api#1",
                "ingestion-api#2",
            ]
            .map(String::from)
            .to_vec(),
            links: ["api-redis", "kafka"].map(String::from).to_vec(),
            reset_peer: false,
            redis_ha: false,
            undrawn: Vec::new(),
            nodes: Vec::new(),
            scalable: Vec::new(),
        }
    }

    #[test]
    fn a_stack_offers_the_redis_roles_only_with_sentinel_and_as_links_only_with_peer_links() {
        let of = |redis| {
            let n = Names::of_stack(vec!["redis".into()], vec!["api-redis".into()], true, redis);
            (n.services, n.links, n.redis_ha, n.reset_peer)
        };
        let one = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            of(RedisNames::Single),
            (one(&["redis"]), one(&["api-redis"]), false, true)
        );
        assert_eq!(
            of(RedisNames::Sentinel { peer_links: false }),
            (
                one(&["redis", PRIMARY_ROLE, REPLICA_ROLE]),
                one(&["api-redis"]),
                true,
                true
            )
        );
        assert_eq!(
            of(RedisNames::Sentinel { peer_links: true }),
            (
                one(&["redis", PRIMARY_ROLE, REPLICA_ROLE]),
                one(&["api-redis", PRIMARY_ROLE, REPLICA_ROLE]),
                true,
                true
            )
        );
    }

    fn problems(faults_and_more: &str) -> Vec<String> {
        let text = format!(
            "name: t\nsale: {{ product: p, stock: 10 }}\nload: {{ model: arrival-rate, rate: 10/s, duration: 1s }}\n{faults_and_more}"
        );
        let s = parse_str(&text, "t.yaml").unwrap();
        validate(&s, &names())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_clean_scenario_has_no_problems() {
        assert_eq!(problems(""), Vec::<String>::new());
        assert_eq!(
            problems("faults:\n  - { at: 1s, action: latency, link: api-redis, latency: 50ms, duration: 2s }\n  - { at: 1s, action: kill, random: [ingestion-api#1, ingestion-api#2] }"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn taking_down_every_instance_of_a_service_needs_to_be_said() {
        // The one Redis, paused: refused at its key, and allowed once said.
        let pause = "faults:\n  - { at: 1s, action: pause, service: redis, duration: 1s }\n";
        assert_eq!(
            problems(pause),
            ["`faults[0]`: `pause` at 1s could take down every instance of `redis` (1 of 1) — a total outage; say `allow_total_outage: true` to mean it"]
        );
        assert_eq!(
            problems(&format!("allow_total_outage: true\n{pause}")),
            Vec::<String>::new()
        );
        // One API of two is no outage; both at once are — but not one after the other, and
        // not a kill whose start comes first.
        let one = "  - { at: 1s, action: kill, service: ingestion-api#1, duration: 1s }\n";
        assert_eq!(problems(&format!("faults:\n{one}")), Vec::<String>::new());
        let both = format!(
            "faults:\n{one}  - {{ at: 1500ms, action: stop, service: ingestion-api#2, duration: 1s }}\n"
        );
        assert_eq!(problems(&both).len(), 1, "{:?}", problems(&both));
        let in_turn = format!(
            "faults:\n{one}  - {{ at: 2s, action: stop, service: ingestion-api#2, duration: 1s }}\n"
        );
        assert_eq!(problems(&in_turn), Vec::<String>::new());
        let restarted = "faults:\n  - { at: 1s, action: kill, service: ingestion-api#1 }\n  - { at: 2s, action: start, service: ingestion-api#1 }\n  - { at: 3s, action: kill, service: ingestion-api#2 }\n";
        assert_eq!(problems(restarted), Vec::<String>::new());
        // Two faults on the same replica take one instance down, not two.
        let same = "faults:\n  - { at: 1s, action: pause, service: ingestion-api#1, duration: 5s }\n  - { at: 2s, action: restart, service: ingestion-api#1 }\n";
        assert_eq!(problems(same), Vec::<String>::new());
        // Times past any load saturate; nothing overflows.
        let huge = "faults:\n  - { at: 18446744073709551615s, action: kill, service: ingestion-api#1, duration: 1s }\n";
        let _ = problems(huge);
    }

    /// The problems of a scenario made of `text` on a stack with `names`.
    fn on(names: &Names, text: &str) -> Vec<String> {
        let text = format!("name: t\nsale: {{ product: p, stock: 10 }}\nload: {{ model: arrival-rate, rate: 10/s, duration: 10s }}\n{text}");
        validate(&parse_str(&text, "t.yaml").unwrap(), names)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// A swarm node `hostname` (id `id-<hostname>`) running `runs`.
    fn node(hostname: &str, runs: &[&str]) -> NodeNames {
        NodeNames {
            hostname: hostname.into(),
            id: format!("id-{hostname}"),
            runs: runs.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    #[test]
    fn a_drain_takes_down_what_its_node_runs_and_names_only_nodes_there_are() {
        let drain = "faults:\n  - { at: 1s, action: drain, node: a, duration: 2s }\n";
        // Off a swarm there is no node to name.
        assert_eq!(
            on(&names(), drain),
            ["`faults[0].action`: `drain` acts on a swarm node, and this target has none: run it with `--target swarm`"]
        );
        // One node runs everything: draining it is a total outage of every service, said once
        // per service (the first is enough to show here).
        let single = Names {
            nodes: vec![node("a", &["redis", "ingestion-api#1", "ingestion-api#2"])],
            ..names()
        };
        let p = on(&single, drain);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].contains("could take down every instance of `redis` (1 of 1)"),
            "{p:?}"
        );
        assert!(
            p[1].contains("every instance of `ingestion-api` (2 of 2)"),
            "{p:?}"
        );
        assert_eq!(
            on(&single, &format!("allow_total_outage: true\n{drain}")),
            Vec::<String>::new()
        );
        // A node running one API of two: no outage; the node is named by its id too; an
        // `activate` ends a drain that has no duration.
        let two = Names {
            nodes: vec![
                node("a", &["ingestion-api#1"]),
                node("b", &["redis", "ingestion-api#2"]),
            ],
            ..names()
        };
        assert_eq!(on(&two, drain), Vec::<String>::new());
        let in_turn = "faults:\n  - { at: 1s, action: drain, node: id-b }\n  - { at: 3s, action: activate, node: id-b }\n  - { at: 4s, action: kill, service: ingestion-api#1, duration: 1s }\n";
        let p = on(&two, in_turn);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with(
                "`faults[0]`: `drain` at 1s could take down every instance of `redis`"
            ),
            "{p:?}"
        );
        // A node the swarm does not have is named with the ones it has.
        assert_eq!(
            on(
                &two,
                "faults:\n  - { at: 1s, action: drain, node: c, duration: 1s }\n"
            ),
            ["`faults[0].node`: the stack has no node `c` (known: a, b)"]
        );
    }

    #[test]
    fn an_isolation_takes_down_what_its_node_runs_and_needs_another_node() {
        let isolate = "faults:\n  - { at: 1s, action: isolate, node: b, duration: 2s }\n";
        let single = Names {
            nodes: vec![node("b", &["redis"])],
            ..names()
        };
        assert_eq!(
            on(&single, &format!("allow_total_outage: true\n{isolate}")),
            ["`faults[0].action`: `isolate` cuts a node from the others, and this swarm has one node: drain it, or run on a swarm of several (scripts/swarm-nodes)"]
        );
        let two = Names {
            nodes: vec![
                node("a", &["ingestion-api#1"]),
                node("b", &["redis", "ingestion-api#2"]),
            ],
            ..names()
        };
        let p = on(&two, isolate);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with(
                "`faults[0]`: `isolate` at 1s could take down every instance of `redis`"
            ),
            "{p:?}"
        );
        // A rejoin ends an isolation without a duration; it takes nothing down itself.
        let away = Names {
            nodes: vec![node("a", &["redis"]), node("b", &["ingestion-api#2"])],
            ..names()
        };
        let in_turn = "faults:\n  - { at: 1s, action: isolate, node: b }\n  - { at: 3s, action: rejoin, node: b }\n";
        assert_eq!(on(&away, in_turn), Vec::<String>::new());
    }

    #[test]
    fn a_scale_names_a_scalable_swarm_service_and_counts_what_it_removes() {
        let scale = |service: &str, replicas: u32| {
            format!("faults:\n  - {{ at: 1s, action: scale, service: {service}, replicas: {replicas}, duration: 4s }}\n")
        };
        assert_eq!(
            on(&names(), &scale("ingestion-api", 1)),
            ["`faults[0].action`: `scale` sets a swarm service's replica count, and this target runs no swarm: run it with `--target swarm` (on local and docker a service's copies are `scale:` with `started:`, and `start` faults)"]
        );
        let swarm = Names {
            nodes: vec![node("a", &["redis", "ingestion-api#1", "ingestion-api#2"])],
            scalable: vec!["ingestion-api".into(), "inventory-worker".into()],
            ..names()
        };
        assert_eq!(on(&swarm, &scale("ingestion-api", 1)), Vec::<String>::new());
        assert_eq!(
            on(&swarm, &scale("inventory-worker", 3)),
            Vec::<String>::new()
        );
        assert_eq!(
            on(&swarm, &scale("redis", 2)),
            ["`faults[0].service`: `redis` cannot be scaled; the stack file's `scalable:` lets a fault scale `ingestion-api`, `inventory-worker` (stateless, replicated services: a second task of a store is a second, empty store)"]
        );
        assert_eq!(
            on(&swarm, &scale("ingestion-api#2", 1)),
            ["`faults[0].service`: `scale` acts on a whole service: write `ingestion-api`, not one of its tasks"]
        );
        let p = on(&swarm, &scale("inventory-worker#1", 2));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("`faults[0].service`: the stack has no service `inventory-worker#1` — did you mean `inventory-worker`?"),
            "{p:?}"
        );
        for bad in [0, 17] {
            let p = on(&swarm, &scale("ingestion-api", bad));
            assert!(
                p[0].starts_with(&format!(
                    "`faults[0].replicas`: {bad} replicas: give 1 to 16 (a service with no task is an outage"
                )),
                "{p:?}"
            );
            // To none, it is also every API down at once.
            assert_eq!(p.len(), if bad == 0 { 2 } else { 1 }, "{p:?}");
        }
        assert_eq!(
            on(&swarm, &scale("ingestion-apx", 1)),
            ["`faults[0].service`: the stack has no service `ingestion-apx` — did you mean `ingestion-api`? (known: redis, inventory-worker, ingestion-api, ingestion-api#1, ingestion-api#2)"]
        );
        // Scaled to one API of two, a kill of either while it is on may leave none.
        let both = "faults:\n  - { at: 1s, action: scale, service: ingestion-api, replicas: 1, duration: 4s }\n  - { at: 2s, action: kill, service: ingestion-api#1, duration: 1s }\n";
        let p = on(&swarm, both);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("`faults[1]`: `kill` at 2s could take down every instance of `ingestion-api` (2 of 2)"),
            "{p:?}"
        );
        // A nemesis does not pick a scale: it changes what the later picks were planned on.
        let pool = "nemesis: { start: 1s, end: 5s, every: 2s, duration: 1s, pool: [{ action: scale, service: ingestion-api, replicas: 3 }] }\n";
        let p = on(&swarm, pool);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("`nemesis.pool[0].action`: `scale` changes the stack's shape"),
            "{p:?}"
        );
        // A scale-up takes nothing down: the APIs to three with one of them killed is no
        // outage (were a scale counted as one replica down, it would be two of two).
        let up = "faults:\n  - { at: 1s, action: scale, service: ingestion-api, replicas: 3, duration: 4s }\n  - { at: 2s, action: kill, service: ingestion-api#1, duration: 1s }\n";
        assert_eq!(on(&swarm, up), Vec::<String>::new());
    }

    #[test]
    fn max_concurrent_faults_caps_what_is_on_at_once() {
        let three = "faults:\n  - { at: 1s, action: latency, link: api-redis, latency: 5ms, duration: 3s }\n  - { at: 2s, action: down, link: kafka, duration: 3s }\n  - { at: 3s, action: kill, service: ingestion-api#1, duration: 1s }\n";
        assert_eq!(
            problems(&format!("max_concurrent_faults: 3\n{three}")),
            Vec::<String>::new()
        );
        assert_eq!(
            problems(&format!("max_concurrent_faults: 2\n{three}")),
            ["`max_concurrent_faults`: 3 faults are on at once at 3s (`kill` at `faults[2]` among them); at most 2"]
        );
    }

    #[test]
    fn backlog_bounds_need_a_bound_and_catch_up_needs_a_fault() {
        let fault = "allow_total_outage: true\nfaults:\n  - { at: 1s, action: stop, service: redis, duration: 1s }\n";
        assert_eq!(
            problems(&format!(
                "{fault}expect: {{ backlog: {{ peak_age: \"< 75s\", catch_up: \"< 10s\" }} }}"
            )),
            Vec::<String>::new()
        );
        assert_eq!(
            problems("expect: { backlog: { peak_age: \"< 75s\" } }"),
            Vec::<String>::new()
        );
        assert_eq!(
            problems("expect: { backlog: {} }"),
            ["`expect.backlog`: bound `peak_age`, `catch_up` or both, like `{ peak_age: \"< 75s\", catch_up: \"< 10s\" }`"]
        );
        assert_eq!(
            problems("expect: { backlog: { catch_up: 10s } }"),
            ["`expect.backlog.catch_up`: counts from the last heal, and this scenario has no fault; add one or remove `catch_up`"]
        );
        let refused = |backlog: &str| {
            parse_str(
                &format!("name: t\nsale: {{ product: p, stock: 10 }}\nload: {{ model: arrival-rate, rate: 10/s, duration: 1s }}\nexpect: {{ backlog: {backlog} }}"),
                "t.yaml",
            )
            .unwrap_err()
            .to_string()
        };
        let typo = refused("{ peak_lag: 5 }");
        assert!(typo.contains("peak_lag"), "{typo}");
        let bad = refused("{ peak_age: soon }");
        assert!(bad.contains("duration threshold"), "{bad}");
    }

    #[test]
    fn a_stall_window_longer_than_the_settle_timeout_is_refused() {
        assert_eq!(
            problems("settle: { timeout: 30s, stall: 30s }"),
            Vec::<String>::new()
        );
        assert_eq!(problems("settle: { timeout: 10s }"), Vec::<String>::new());
        for bad in [
            "settle: { timeout: 10s, stall: 11s }",
            "settle: { stall: 0s }",
        ] {
            let p = problems(bad);
            assert_eq!(p.len(), 1, "{bad}: {p:?}");
            assert!(p[0].starts_with("`settle.stall`"), "{p:?}");
        }
    }

    #[test]
    fn failover_needs_sentinel_and_acts_on_the_primary() {
        let text = |f: &str| {
            format!(
                "name: t\nsale: {{ product: p, stock: 10 }}\nload: {{ model: arrival-rate, rate: 10/s, duration: 1s }}\nfaults:\n  - {f}\n"
            )
        };
        let check = |f: &str, names: &Names| -> Vec<String> {
            let s = parse_str(&text(f), "t.yaml").unwrap();
            validate(&s, names)
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        let plain = names();
        let mut ha = names();
        ha.redis_ha = true;
        ha.services
            .extend(["redis-primary", "redis-replica"].map(String::from));
        let failover = "{ at: 1s, action: failover, service: redis-primary }";
        assert_eq!(check(failover, &ha), Vec::<String>::new());
        let p = check(failover, &plain);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].starts_with("`faults[0].action`: `failover` needs Redis with Sentinel"),
            "{p:?}"
        );
        assert!(
            p[1].starts_with("`faults[0].service`: the stack has no service `redis-primary`"),
            "{p:?}"
        );
        let p = check("{ at: 1s, action: failover, service: redis }", &ha);
        assert_eq!(
            p,
            ["`faults[0].service`: `failover` acts on the primary: write `service: redis-primary`"]
        );
        // Roles are names a lifecycle fault may use on such a stack, and only there.
        let kill = "{ at: 1s, action: kill, service: redis-replica }";
        assert_eq!(check(kill, &ha), Vec::<String>::new());
        assert_eq!(check(kill, &plain).len(), 1);
    }

    #[test]
    fn unknown_service_is_named_with_a_suggestion() {
        let p = problems("faults:\n  - { at: 1s, action: kill, service: inventory-wroker }");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("`faults[0].service`: the stack has no service `inventory-wroker` — did you mean `inventory-worker`?"), "{p:?}");
    }

    #[test]
    fn unknown_links_are_named_by_their_key() {
        let p = problems("faults:\n  - { at: 1s, action: latency, link: redis, latency: 5ms }");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("`faults[0].link`: the stack has no link `redis`"),
            "{p:?}"
        );
        let p = problems(
            "allow_total_outage: true\nfaults:\n  - { at: 1s, action: partition, links: [kafka, api-rdis] }\n  - { at: 1s, action: down, random: [kafka, nope] }\n  - { at: 1s, action: kill, random: [redis, nope] }",
        );
        let keys: Vec<&str> = p
            .iter()
            .map(|m| m.split('`').nth(1).unwrap_or(""))
            .collect();
        assert_eq!(
            keys,
            [
                "faults[0].links[1]",
                "faults[1].random[1]",
                "faults[2].random[1]"
            ],
            "{p:?}"
        );
        assert!(p[0].contains("did you mean `api-redis`?"), "{p:?}");
    }

    #[test]
    fn values_out_of_range() {
        let p = problems(
            "faults:\n  - { at: 1s, action: blackhole, link: kafka, toxicity: 1.5, duration: 0s }",
        );
        assert_eq!(
            p,
            [
                "`faults[0].duration`: must be more than 0s (leave it out for a fault that stays)",
                "`faults[0].toxicity`: a share between 0 and 1"
            ]
        );
    }

    #[test]
    fn missing_at_and_reset_peer_on_the_embedded_proxy() {
        let p = problems("faults:\n  - { action: reset_peer, link: kafka }");
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("faults[0].at"));
        assert!(p[1].contains("no `reset_peer` toxic"));
    }

    #[test]
    fn a_closed_load_needs_a_user_per_generator() {
        let s = parse_str(
            "name: g\nsale: { product: p, stock: 1 }\nload: { model: virtual-users, vus: 2, duration: 5s, generators: 3 }\n",
            "t.yaml",
        )
        .unwrap();
        let p = validate(&s, &names());
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].key, "load.generators");
        assert!(p[0].message.contains("at most as many generators as `vus`"));
    }

    #[test]
    fn load_rules() {
        let s = parse_str(
            "name: Bad_Name\nsale: { product: p, stock: 0 }\nload: { model: virtual-users, rate: 5/s, duplicate_ratio: 2, generators: 0 }\n",
            "t.yaml",
        )
        .unwrap();
        let p: Vec<String> = validate(&s, &names())
            .iter()
            .map(|p| p.key.clone())
            .collect();
        assert_eq!(
            p,
            [
                "name",
                "sale.stock",
                "load.vus",
                "load.rate",
                "load.duration",
                "load.duplicate_ratio",
                "load.generators"
            ]
        );
    }

    #[test]
    fn nemesis_rules() {
        let p = problems("nemesis: { start: 5s, end: 2s, every: 1s, duration: 1s, pool: [{ at: 1s, action: start, service: redis }] }");
        let keys: Vec<&str> = p
            .iter()
            .map(|m| m.split('`').nth(1).unwrap_or(""))
            .collect();
        assert_eq!(
            keys,
            [
                "nemesis.end",
                "nemesis.duration",
                "nemesis.pool[0].at",
                "nemesis.pool[0].action"
            ]
        );
    }
}
