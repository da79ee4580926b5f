//! How the docker target finds its way around a compose project: which service is the entry,
//! which serves Toxiproxy's API, where the state lives. Data, not code, so a user can point
//! fgchaos at their own project by editing a copy of `stacks/docker.yaml`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::scenario::units::Dur;
use crate::yaml::{parse_yaml, read_text, SyntaxError};

/// The built-in description, matching this repository's `docker-compose.yml`.
pub const BUILT_IN: &str = include_str!("../../../stacks/docker.yaml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerSpec {
    /// Where load goes: a container port published on the host's loopback.
    pub entry: Published,
    /// Toxiproxy's REST API: a container port published on the host's loopback.
    pub toxiproxy: Published,
    /// The inventory workers, whose `/metrics` report the consumer lag.
    pub workers: Published,
    /// Where the admin token for `POST /init` is read from.
    pub admin_token: EnvSource,
    pub state: StateUrls,
    /// Redis with Sentinel, when the project runs it (see [`RedisHaServices`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_ha: Option<RedisHaServices>,
    /// Longest wait for a started container to report healthy.
    #[serde(default = "default_health_timeout")]
    pub health_timeout: Dur,
    /// Swarm: the image fgchaos runs on a node to cut it from the others (`isolate`) and join
    /// it again: it needs `sh` and `iptables`, and must be on every node.
    #[serde(default = "default_node_tool")]
    pub node_tool: String,
    /// Swarm: the services a `scale` fault may set the replica count of — stateless ones
    /// whose tasks share the work (none when absent: a store's second task would be a second
    /// store, and only the stack's author knows which are not).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scalable: Vec<String>,
}

/// A service and one of its container ports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Published {
    pub service: String,
    pub port: u16,
}

/// An environment variable of a service's container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvSource {
    pub service: String,
    pub env: String,
}

/// Where the harness reads the final state, with `{{ip.SERVICE}}` placeholders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateUrls {
    pub redis: String,
    pub database: String,
    pub consumer_group: String,
}

/// Where a project's Redis instances and Sentinels are (`docker-compose.redis-ha.yml`).
///
/// Conditional, so one description serves a project with and without the override: it
/// applies when the project has every service named here; a project with none of them runs
/// one Redis (`state.redis`); a project with only some of them is refused (a Sentinel
/// topology missing a member would be judged as if it were whole).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisHaServices {
    /// Services whose containers are the Redis instances, the first primary first.
    pub instances: Vec<String>,
    /// Services whose containers are the Sentinels.
    pub sentinels: Vec<String>,
    /// The name the Sentinels monitor the primary under.
    pub master: String,
    /// The instances' container port.
    #[serde(default = "default_redis_port")]
    pub port: u16,
    /// The Sentinels' container port.
    #[serde(default = "default_sentinel_port")]
    pub sentinel_port: u16,
    /// Each instance's peer link (a Toxiproxy proxy), in the order of `instances`: the link
    /// its replicas and the Sentinels reach it through. With them a link fault may name
    /// `redis-primary` / `redis-replica` (the holder's peer link when the fault fires).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peer_links: Vec<String>,
}

/// The services `{{ip.SERVICE}}` placeholders in `text` name (an instance `svc#2` names `svc`).
fn placeholders(text: &str) -> Vec<&str> {
    text.split("{{ip.")
        .skip(1)
        .filter_map(|rest| rest.split_once("}}"))
        .map(|(name, _)| name.split('#').next().unwrap_or(name).trim())
        .collect()
}

fn default_redis_port() -> u16 {
    6379
}

fn default_sentinel_port() -> u16 {
    26379
}

fn default_health_timeout() -> Dur {
    Dur::secs(120)
}

fn default_node_tool() -> String {
    "fluxgate/base:bookworm".into()
}

impl DockerSpec {
    pub fn built_in() -> Result<Self, Box<SyntaxError>> {
        parse_yaml(BUILT_IN, "built-in docker stack")
    }

    pub fn read(path: &Path) -> Result<Self, Box<SyntaxError>> {
        let (text, file) = read_text(path)?;
        parse_yaml(&text, &file)
    }

    /// The services the harness needs to find in the project (besides the ones faults name),
    /// each with the role this file gives it: the entry, the fault proxy's API, the workers,
    /// where the admin token is read, every service a state URL names (`{{ip.SERVICE}}`), and
    /// every service `scalable:` names.
    pub fn roles(&self) -> Vec<(&str, &'static str)> {
        let mut v = vec![
            (self.entry.service.as_str(), "entry"),
            (self.toxiproxy.service.as_str(), "toxiproxy"),
            (self.workers.service.as_str(), "workers"),
            (self.admin_token.service.as_str(), "admin_token"),
        ];
        for (url, role) in [
            (&self.state.redis, "state.redis"),
            (&self.state.database, "state.database"),
        ] {
            v.extend(placeholders(url).into_iter().map(|s| (s, role)));
        }
        // A name misspelt here would make its service one no fault may scale, silently.
        v.extend(self.scalable.iter().map(|s| (s.as_str(), "scalable")));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_parses_and_names_the_compose_services() {
        let s = DockerSpec::built_in().unwrap();
        assert_eq!(s.entry.service, "nginx");
        assert_eq!(s.toxiproxy.port, 8474);
        assert_eq!(
            s.roles(),
            [
                ("nginx", "entry"),
                ("toxiproxy", "toxiproxy"),
                ("inventory-worker", "workers"),
                ("ingestion-api", "admin_token"),
                ("redis", "state.redis"),
                ("postgres", "state.database"),
                ("ingestion-api", "scalable"),
                ("inventory-worker", "scalable"),
            ]
        );
        assert_eq!(placeholders("x {{ip.a#2}}:1 {{ip.b}} {{ip.c"), ["a", "b"]);
        assert_eq!(s.health_timeout, Dur::secs(120));
        let ha = s.redis_ha.unwrap();
        assert_eq!(ha.instances, ["redis", "redis-2", "redis-3"]);
        assert_eq!(
            ha.sentinels,
            ["redis-sentinel-1", "redis-sentinel-2", "redis-sentinel-3"]
        );
        assert_eq!((ha.port, ha.sentinel_port), (6379, 26379));
        assert_eq!(ha.peer_links, ["redis-1", "redis-2", "redis-3"]);
    }

    #[test]
    fn unknown_keys_are_errors_with_a_location() {
        let text = BUILT_IN.replace("health_timeout:", "health_timout:");
        let e = parse_yaml::<DockerSpec>(&text, "d.yaml").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("d.yaml:"), "{msg}");
        assert!(msg.contains("health_timout"), "{msg}");
    }
}
