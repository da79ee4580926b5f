//! The stack as data: which services run, how each starts and is known to be ready, and which
//! links between them pass through a named fault proxy.
//!
//! The built-in Flux-Gate stack is `stacks/flux-gate.yaml` (compiled in); `--stack FILE` or a
//! scenario's `stack:` replaces it, so a user can point fgchaos at their own build of a
//! service. Values may use placeholders, expanded per service instance (see [`super::template`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::scenario::parse::Problem;
use crate::scenario::validate::{Names, RedisNames};
use crate::scenario::Scale;
use crate::yaml::SyntaxError;

/// The built-in Flux-Gate stack.
pub const BUILT_IN: &str = include_str!("../../../stacks/flux-gate.yaml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackSpec {
    /// Services by name, started in `depends_on` order.
    pub services: BTreeMap<String, ServiceSpec>,
    /// Links by proxy name: the proxy listens on a free port and forwards to `to`.
    #[serde(default)]
    pub links: BTreeMap<String, LinkSpec>,
    /// The service whose port takes the load (`POST /order`, `POST /init`).
    pub entry: String,
    /// Services whose `/metrics` report consumer lag (the settle phase reads them).
    #[serde(default)]
    pub workers: Vec<String>,
    /// Direct (unproxied) addresses the checkers read the final state from.
    pub state: StateSpec,
    /// Redis with Sentinel: faults may then name `redis-primary` / `redis-replica` and use
    /// `failover`, and the harness reads whichever instance is primary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_ha: Option<RedisHaSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisHaSpec {
    /// The Redis instances (primary and replicas; which is which changes at run time).
    pub instances: Vec<String>,
    /// The service whose instances are the Sentinels.
    pub sentinels: String,
    /// The name the Sentinels monitor the primary under.
    pub master: String,
    /// Each instance's peer link, in the order of `instances`: the link its replicas and the
    /// Sentinels reach it through (the address it announces). With them a link fault may name
    /// `redis-primary` / `redis-replica`: it acts on the peer link of the instance holding the
    /// role when it fires.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peer_links: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSpec {
    /// Redis URL, e.g. `redis://{addr.redis}`.
    pub redis: String,
    /// PostgreSQL URL.
    pub database: String,
    /// Kafka bootstrap brokers.
    pub kafka: String,
    /// The worker's consumer group (its lag says whether it has caught up).
    #[serde(default = "default_group")]
    pub consumer_group: String,
}

fn default_group() -> String {
    "flux-gate-inventory".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Program name (searched in `$PATH`, next to `fgchaos`, `~/.cargo/bin`, PostgreSQL's bin
    /// directory) or a path.
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Instances `name#1` … `name#N`; a fault on `name` picks one with the run's seed.
    #[serde(default = "one")]
    pub replicas: u32,
    /// How many of the replicas start with the stack (default: all). The others (`#started+1`
    /// … `#replicas`) get their port, directory and name like the rest but stay stopped until
    /// a fault `start`s them: a worker that joins the group mid-sale must exist for the
    /// scenario to name it, and must not have run before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<u32>,
    /// Run as this system user when fgchaos runs as root (PostgreSQL refuses root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Files written into the service's directory before the first start.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// Commands run once, before the first start (as `user`).
    #[serde(default)]
    pub setup: Vec<Vec<String>>,
    /// Commands run once, after the first time the service is ready.
    #[serde(default)]
    pub after_ready: Vec<Vec<String>>,
    #[serde(default)]
    pub ready: Ready,
    /// How long the service may take to become ready.
    #[serde(default = "ready_timeout_secs")]
    pub ready_timeout_secs: u64,
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Signal of `stop`/`restart` (Docker's STOPSIGNAL): `SIGTERM` (default), `SIGINT`, `SIGQUIT`.
    #[serde(default = "sigterm")]
    pub stop_signal: String,
}

fn sigterm() -> String {
    "SIGTERM".into()
}

fn one() -> u32 {
    1
}
fn ready_timeout_secs() -> u64 {
    30
}

/// How to know a service is up: `tcp` (its port accepts connections), `redis` (PING answers),
/// `{ http: /path }` (2xx on 127.0.0.1:port) or `{ command: [prog, args…] }` (exits 0).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Ready {
    #[default]
    Tcp,
    Http(String),
    Redis,
    Command(Vec<String>),
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum ReadyRepr {
    Word(String),
    Map(ReadyMap),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadyMap {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    command: Option<Vec<String>>,
}

impl Serialize for Ready {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Ready::Tcp => ReadyRepr::Word("tcp".into()),
            Ready::Redis => ReadyRepr::Word("redis".into()),
            Ready::Http(p) => ReadyRepr::Map(ReadyMap {
                http: Some(p.clone()),
                command: None,
            }),
            Ready::Command(c) => ReadyRepr::Map(ReadyMap {
                http: None,
                command: Some(c.clone()),
            }),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Ready {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let hint = "write `tcp`, `redis`, `{ http: /health }` or `{ command: [prog, args] }`";
        match ReadyRepr::deserialize(d)
            .map_err(|_| D::Error::custom(format!("not a ready check; {hint}")))?
        {
            ReadyRepr::Word(w) if w == "tcp" => Ok(Ready::Tcp),
            ReadyRepr::Word(w) if w == "redis" => Ok(Ready::Redis),
            ReadyRepr::Word(w) => Err(D::Error::custom(format!(
                "unknown ready check `{w}`; {hint}"
            ))),
            ReadyRepr::Map(ReadyMap {
                http: Some(p),
                command: None,
            }) => Ok(Ready::Http(p)),
            ReadyRepr::Map(ReadyMap {
                http: None,
                command: Some(c),
            }) if !c.is_empty() => Ok(Ready::Command(c)),
            ReadyRepr::Map(_) => Err(D::Error::custom(format!(
                "give exactly one ready check; {hint}"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// The service (instance) the proxy forwards to: `redis`, `ingestion-api#2`.
    pub to: String,
    /// Human description for the report.
    #[serde(default)]
    pub description: String,
}

impl StackSpec {
    pub fn built_in() -> Result<Self, Box<SyntaxError>> {
        Self::parse(BUILT_IN, "built-in stack")
    }

    pub fn read(path: &Path) -> Result<Self, Box<SyntaxError>> {
        let (text, file) = crate::yaml::read_text(path)?;
        Self::parse(&text, &file)
    }

    pub fn parse(text: &str, file: &str) -> Result<Self, Box<SyntaxError>> {
        let spec: StackSpec = crate::yaml::parse_yaml(text, file)?;
        spec.check(file)?;
        Ok(spec)
    }

    /// The rules a stack must meet beyond its types, each placed at its key in `file`.
    fn check(&self, file: &str) -> Result<(), Box<SyntaxError>> {
        self.first_broken_rule().map_err(|p| {
            Box::new(SyntaxError {
                file: file.to_owned(),
                line: None,
                column: None,
                key: p.key,
                message: p.message,
                suggestion: None,
            })
        })
    }

    /// The first rule the stack breaks, checked in a fixed order: the entry, each service, each
    /// link, Redis HA, and last the start order (which needs every `depends_on` to be known).
    fn first_broken_rule(&self) -> Result<(), Problem> {
        let instances = self.instances();
        self.entry_is_known(&instances)?;
        for (name, s) in &self.services {
            self.service_rules(name, s)?;
        }
        for (name, l) in &self.links {
            self.link_leads_to_one_instance(name, l, &instances)?;
        }
        if let Some(ha) = &self.redis_ha {
            self.redis_ha_rules(ha, &instances)?;
        }
        self.start_order().map_err(|m| broken("services", m))?;
        Ok(())
    }

    fn entry_is_known(&self, instances: &[String]) -> Result<(), Problem> {
        if self.services.contains_key(&self.entry) || instances.contains(&self.entry) {
            return Ok(());
        }
        Err(broken("entry", format!("no service `{}`", self.entry)))
    }

    /// One service's rules, checked one after another.
    fn service_rules(&self, name: &str, s: &ServiceSpec) -> Result<(), Problem> {
        name_has_no_hash(name)?;
        replicas_in_range(name, s)?;
        started_in_range(name, s)?;
        after_ready_has_every_replica_started(name, s)?;
        stop_signal_is_known(name, s)?;
        self.depends_on_services(name, s)
    }

    fn depends_on_services(&self, name: &str, s: &ServiceSpec) -> Result<(), Problem> {
        match s
            .depends_on
            .iter()
            .find(|d| !self.services.contains_key(*d))
        {
            Some(d) => Err(broken(
                format!("services.{name}.depends_on"),
                format!("no service `{d}`"),
            )),
            None => Ok(()),
        }
    }

    /// A link forwards to one address: an instance, or a service that has only one.
    fn link_leads_to_one_instance(
        &self,
        name: &str,
        l: &LinkSpec,
        instances: &[String],
    ) -> Result<(), Problem> {
        if instances.contains(&l.to) || self.services.get(&l.to).is_some_and(|s| s.replicas == 1) {
            return Ok(());
        }
        Err(broken(
            format!("links.{name}.to"),
            format!("no service instance `{}`", l.to),
        ))
    }

    fn redis_ha_rules(&self, ha: &RedisHaSpec, instances: &[String]) -> Result<(), Problem> {
        ha_has_a_replica(ha)?;
        ha_instances_are_known(ha, instances)?;
        ha_peer_links_pair_with_instances(ha)?;
        self.ha_peer_links_lead_to_their_instances(ha)?;
        self.ha_sentinels_are_a_service(ha)
    }

    fn ha_peer_links_lead_to_their_instances(&self, ha: &RedisHaSpec) -> Result<(), Problem> {
        for (link, instance) in ha.peer_links.iter().zip(&ha.instances) {
            match self.links.get(link) {
                None => return Err(broken("redis_ha.peer_links", format!("no link `{link}`"))),
                Some(l) if l.to != *instance => {
                    return Err(broken(
                        "redis_ha.peer_links",
                        format!(
                            "link `{link}` goes to `{}`, not to the instance `{instance}`",
                            l.to
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn ha_sentinels_are_a_service(&self, ha: &RedisHaSpec) -> Result<(), Problem> {
        if self.services.contains_key(&ha.sentinels) {
            return Ok(());
        }
        Err(broken(
            "redis_ha.sentinels",
            format!("no service `{}`", ha.sentinels),
        ))
    }

    /// What faults may name: services, replica groups, instances and links.
    pub fn names(&self, reset_peer: bool) -> Names {
        let mut services: Vec<String> = self.services.keys().cloned().collect();
        for i in self.instances() {
            if !services.contains(&i) {
                services.push(i);
            }
        }
        let redis = match &self.redis_ha {
            None => RedisNames::Single,
            Some(h) => RedisNames::Sentinel {
                peer_links: !h.peer_links.is_empty(),
            },
        };
        let links = self.links.keys().cloned().collect();
        Names::of_stack(services, links, reset_peer, redis)
    }

    /// Applies a scenario's `scale:` (service → replicas, and how many start) to this stack.
    pub fn scaled(mut self, scale: &BTreeMap<String, Scale>) -> Result<Self, Problem> {
        for (name, sc) in scale {
            let known: Vec<String> = self.services.keys().cloned().collect();
            let Some(s) = self.services.get_mut(name) else {
                return Err(Problem {
                    key: format!("scale.{name}"),
                    message: crate::scenario::validate::unknown("service", name, &known),
                });
            };
            s.replicas = sc.replicas;
            s.started = sc.started;
        }
        self.first_broken_rule().map_err(|p| Problem {
            key: match p.key.strip_prefix("services.") {
                Some(k) => format!("scale.{k}"),
                None => p.key.clone(),
            },
            message: p.message,
        })?;
        Ok(self)
    }

    /// Instances that exist but stay stopped until a fault starts them (see
    /// [`ServiceSpec::started`]).
    pub fn starts_stopped(&self, instance: &str) -> bool {
        let (name, replica) = match instance.split_once('#') {
            Some((n, r)) => (n, r.parse::<u32>().unwrap_or(0)),
            None => (instance, 1),
        };
        self.services
            .get(name)
            .and_then(|s| s.started)
            .is_some_and(|started| replica > started)
    }

    /// The instances of a service or replica group; an instance (`ingestion-api#2`) names
    /// itself; nothing for a name the stack does not have.
    pub fn instances_of(&self, service: &str) -> Vec<String> {
        match self.services.get(service) {
            Some(s) => instance_names(service, s.replicas),
            None if self.instances().iter().any(|i| i == service) => vec![service.to_owned()],
            None => Vec::new(),
        }
    }

    /// Every instance name: `redis` for a single replica, `ingestion-api#1`… for several.
    pub fn instances(&self) -> Vec<String> {
        self.services
            .iter()
            .flat_map(|(name, s)| instance_names(name, s.replicas))
            .collect()
    }

    /// Service names in an order where each comes after what it depends on.
    pub fn start_order(&self) -> Result<Vec<String>, String> {
        let mut order: Vec<String> = Vec::new();
        let mut visiting = Vec::new();
        fn visit(
            spec: &StackSpec,
            name: &str,
            order: &mut Vec<String>,
            visiting: &mut Vec<String>,
        ) -> Result<(), String> {
            if order.iter().any(|o| o == name) {
                return Ok(());
            }
            if visiting.iter().any(|v| v == name) {
                return Err(format!("depends_on has a cycle through `{name}`"));
            }
            visiting.push(name.to_owned());
            if let Some(s) = spec.services.get(name) {
                for d in &s.depends_on {
                    visit(spec, d, order, visiting)?;
                }
            }
            visiting.pop();
            order.push(name.to_owned());
            Ok(())
        }
        for name in self.services.keys() {
            visit(self, name, &mut order, &mut visiting)?;
        }
        Ok(order)
    }
}

/// A broken rule of the stack: the key it is at, and what is wrong there.
fn broken(key: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        key: key.into(),
        message: message.into(),
    }
}

/// `#` separates a service from its replica number in instance names.
fn name_has_no_hash(name: &str) -> Result<(), Problem> {
    if name.contains('#') || name.is_empty() {
        return Err(broken(
            format!("services.{name}"),
            "service names may not contain `#`",
        ));
    }
    Ok(())
}

fn replicas_in_range(name: &str, s: &ServiceSpec) -> Result<(), Problem> {
    if s.replicas == 0 || s.replicas > crate::scenario::MAX_REPLICAS {
        return Err(broken(
            format!("services.{name}.replicas"),
            "use 1–16 replicas",
        ));
    }
    Ok(())
}

fn started_in_range(name: &str, s: &ServiceSpec) -> Result<(), Problem> {
    let Some(started) = s.started else {
        return Ok(());
    };
    match crate::scenario::started_out_of_range(started, s.replicas) {
        Some(why) => Err(broken(format!("services.{name}.started"), why)),
        None => Ok(()),
    }
}

/// `after_ready` runs as the stack starts, once an instance is first ready: a replica that a
/// fault starts later would never run it.
fn after_ready_has_every_replica_started(name: &str, s: &ServiceSpec) -> Result<(), Problem> {
    if s.started.is_some_and(|started| started < s.replicas) && !s.after_ready.is_empty() {
        return Err(broken(
            format!("services.{name}.after_ready"),
            "runs once the first instance is ready: a service whose replicas start \
             stopped (`started` < `replicas`) cannot have it",
        ));
    }
    Ok(())
}

fn stop_signal_is_known(name: &str, s: &ServiceSpec) -> Result<(), Problem> {
    if matches!(
        s.stop_signal.as_str(),
        "SIGTERM" | "SIGINT" | "SIGQUIT" | "SIGHUP" | "SIGUSR1" | "SIGUSR2"
    ) {
        return Ok(());
    }
    Err(broken(
        format!("services.{name}.stop_signal"),
        format!(
            "`{}`: use SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1 or SIGUSR2",
            s.stop_signal
        ),
    ))
}

/// Sentinel fails over from a primary to a replica: it needs both.
fn ha_has_a_replica(ha: &RedisHaSpec) -> Result<(), Problem> {
    if ha.instances.len() < 2 {
        return Err(broken(
            "redis_ha.instances",
            "name the primary and at least one replica",
        ));
    }
    Ok(())
}

fn ha_instances_are_known(ha: &RedisHaSpec, instances: &[String]) -> Result<(), Problem> {
    match ha.instances.iter().find(|i| !instances.contains(i)) {
        Some(i) => Err(broken(
            "redis_ha.instances",
            format!("no service instance `{i}`"),
        )),
        None => Ok(()),
    }
}

/// Peer links are optional; given, the n-th is the n-th instance's.
fn ha_peer_links_pair_with_instances(ha: &RedisHaSpec) -> Result<(), Problem> {
    if !ha.peer_links.is_empty() && ha.peer_links.len() != ha.instances.len() {
        return Err(broken(
            "redis_ha.peer_links",
            "name one link per instance, in the order of `instances`",
        ));
    }
    Ok(())
}

/// `name` when there is one replica, else `name#1` … `name#n`.
pub fn instance_names(name: &str, replicas: u32) -> Vec<String> {
    if replicas <= 1 {
        vec![name.to_owned()]
    } else {
        (1..=replicas).map(|i| format!("{name}#{i}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_stack_parses_and_orders() {
        let s = StackSpec::built_in().unwrap();
        let order = s.start_order().unwrap();
        let pos = |n: &str| order.iter().position(|o| o == n).unwrap();
        assert!(pos("redis") < pos("ingestion-api"));
        assert!(pos("ingestion-api") < pos("nginx"));
        assert!(s.instances().contains(&"ingestion-api#2".to_owned()));
        assert_eq!(s.links["lb-api-2"].to, "ingestion-api#2");
    }

    #[test]
    fn the_redis_ha_stack_parses_and_names_its_roles() {
        let s = StackSpec::parse(
            include_str!("../../../stacks/redis-ha.yaml"),
            "redis-ha.yaml",
        )
        .unwrap();
        let ha = s.redis_ha.as_ref().unwrap();
        assert_eq!(ha.instances, ["redis-1", "redis-2", "redis-3"]);
        let names = s.names(false);
        assert!(names.redis_ha);
        for n in [
            "redis-primary",
            "redis-replica",
            "redis-sentinel#3",
            "redis-2",
        ] {
            assert!(names.services.iter().any(|x| x == n), "{n}");
        }
        let order = s.start_order().unwrap();
        let pos = |n: &str| order.iter().position(|o| o == n).unwrap();
        assert!(pos("redis-3") < pos("redis-sentinel"));
        assert!(pos("redis-sentinel") < pos("ingestion-api"));
        let bad = include_str!("../../../stacks/redis-ha.yaml").replace(
            "instances: [redis-1, redis-2, redis-3]",
            "instances: [redis-1, redis-9]",
        );
        assert_eq!(
            StackSpec::parse(&bad, "s.yaml").unwrap_err().message,
            "no service instance `redis-9`"
        );
    }

    /// With peer links a role is a link name too (the holder's peer link); each peer link
    /// must exist and lead to its instance.
    #[test]
    fn peer_links_make_roles_link_names_and_are_checked() {
        let text = include_str!("../../../stacks/redis-ha.yaml");
        let s = StackSpec::parse(text, "redis-ha.yaml").unwrap();
        assert_eq!(
            s.redis_ha.as_ref().unwrap().peer_links,
            ["redis-1", "redis-2", "redis-3"]
        );
        let names = s.names(false);
        for n in ["redis-primary", "redis-replica", "redis-1", "api-redis-2"] {
            assert!(names.links.iter().any(|x| x == n), "{n}");
        }
        let without = text.replace("  peer_links: [redis-1, redis-2, redis-3]\n", "");
        assert_ne!(without, text);
        let names = StackSpec::parse(&without, "s.yaml").unwrap().names(false);
        assert!(!names.links.iter().any(|x| x == "redis-primary"));
        assert!(names.services.iter().any(|x| x == "redis-primary"));
        for (peer_links, want) in [
            (
                "[redis-1, redis-2]",
                "name one link per instance, in the order of `instances`",
            ),
            ("[redis-1, redis-2, redis-9]", "no link `redis-9`"),
            (
                "[redis-1, api-redis-1, redis-3]",
                "link `api-redis-1` goes to `redis-1`, not to the instance `redis-2`",
            ),
        ] {
            let bad = text.replace(
                "peer_links: [redis-1, redis-2, redis-3]",
                &format!("peer_links: {peer_links}"),
            );
            let e = StackSpec::parse(&bad, "s.yaml").unwrap_err();
            assert_eq!(e.message, want);
        }
    }

    /// redis-ha.yaml repeats the built-in stack around its Redis: every other service and link
    /// must stay the same, so a change to one file that misses the other fails here.
    #[test]
    fn the_redis_ha_stack_differs_from_the_built_in_one_only_in_redis() {
        let base = StackSpec::built_in().unwrap();
        let ha = StackSpec::parse(
            include_str!("../../../stacks/redis-ha.yaml"),
            "redis-ha.yaml",
        )
        .unwrap();
        let redis_env = |s: &ServiceSpec| {
            let mut s = s.clone();
            s.env.retain(|k, _| !k.starts_with("FG_REDIS_"));
            s.depends_on
                .retain(|d| d != "redis" && d != "redis-sentinel");
            s
        };
        for (name, service) in &base.services {
            if name == "redis" {
                assert!(!ha.services.contains_key(name));
                continue;
            }
            assert_eq!(
                redis_env(&ha.services[name]),
                redis_env(service),
                "service `{name}` differs between flux-gate.yaml and redis-ha.yaml"
            );
        }
        for (name, link) in &base.links {
            if link.to == "redis" {
                continue;
            }
            assert_eq!(ha.links.get(name), Some(link), "link `{name}`");
        }
        assert_eq!(
            (&ha.entry, &ha.workers, &ha.state.database, &ha.state.kafka),
            (
                &base.entry,
                &base.workers,
                &base.state.database,
                &base.state.kafka
            )
        );
    }

    #[test]
    fn scale_adds_instances_faults_may_name_and_some_start_stopped() {
        let scale = BTreeMap::from([(
            "inventory-worker".to_owned(),
            Scale {
                replicas: 4,
                started: Some(3),
            },
        )]);
        let s = StackSpec::built_in().unwrap().scaled(&scale).unwrap();
        let workers: Vec<String> = s
            .instances()
            .into_iter()
            .filter(|i| i.starts_with("inventory-worker"))
            .collect();
        assert_eq!(
            workers,
            [
                "inventory-worker#1",
                "inventory-worker#2",
                "inventory-worker#3",
                "inventory-worker#4"
            ]
        );
        let stopped: Vec<&String> = workers.iter().filter(|i| s.starts_stopped(i)).collect();
        assert_eq!(stopped, ["inventory-worker#4"]);
        assert!(!s.starts_stopped("ingestion-api#2"));
        assert!(!s.starts_stopped("redis"));
        assert!(s
            .names(false)
            .services
            .contains(&"inventory-worker#4".to_owned()));
    }

    #[test]
    fn scale_errors_name_the_key() {
        let one = |name: &str, replicas, started| {
            BTreeMap::from([(name.to_owned(), Scale { replicas, started })])
        };
        let err = |scale| StackSpec::built_in().unwrap().scaled(&scale).unwrap_err();
        let e = err(one("inventory-wroker", 2, None));
        assert_eq!(e.key, "scale.inventory-wroker");
        assert!(
            e.message.contains("did you mean `inventory-worker`?"),
            "{}",
            e.message
        );
        let e = err(one("inventory-worker", 4, Some(5)));
        assert_eq!(
            (e.key.as_str(), e.message.as_str()),
            (
                "scale.inventory-worker.started",
                "5 of 4 replicas: start 1 to 4 of them"
            )
        );
        assert_eq!(
            err(one("inventory-worker", 17, None)).key,
            "scale.inventory-worker.replicas"
        );
        // A replica a link names cannot be scaled away.
        assert_eq!(err(one("ingestion-api", 1, None)).key, "links.lb-api-1.to");
        // Commands run after the first instance is ready cannot wait for a stopped one.
        assert_eq!(err(one("kafka", 2, Some(1))).key, "scale.kafka.after_ready");
    }

    #[test]
    fn cycles_and_dangling_names_are_errors() {
        let text = "entry: a\nstate: { redis: r, database: d, kafka: k }\nservices:\n  a: { command: x, depends_on: [b] }\n  b: { command: x, depends_on: [a] }\n";
        assert!(StackSpec::parse(text, "s.yaml")
            .unwrap_err()
            .message
            .contains("cycle"));
        let text = "entry: a\nstate: { redis: r, database: d, kafka: k }\nservices:\n  a: { command: x }\nlinks:\n  l: { to: nope }\n";
        assert_eq!(
            StackSpec::parse(text, "s.yaml").unwrap_err().key,
            "links.l.to"
        );
        let text =
            "entry: a\nstate: { redis: r, database: d, kafka: k }\nservices:\n  a: { comand: x }\n";
        assert_eq!(
            StackSpec::parse(text, "s.yaml")
                .unwrap_err()
                .suggestion
                .as_deref(),
            Some("command")
        );
    }
}
