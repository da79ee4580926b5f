//! A compose project as the engine sees it: its containers, found by the labels every compose
//! implementation sets, named the way scenarios name service instances.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bollard::models::{
    ContainerConfig, ContainerInspectResponse, ContainerState, ContainerStateStatusEnum,
    HealthStatusEnum, NetworkSettings,
};
use bollard::query_parameters::{InspectContainerOptions, ListContainersOptionsBuilder};
use bollard::Docker;
use serde::{Deserialize, Serialize};

use super::engine::DockerError;

pub const PROJECT_LABEL: &str = "com.docker.compose.project";
pub const SERVICE_LABEL: &str = "com.docker.compose.service";
pub const NUMBER_LABEL: &str = "com.docker.compose.container-number";
pub const ONEOFF_LABEL: &str = "com.docker.compose.oneoff";

/// One container of the project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Container {
    /// `inventory-worker`, or `ingestion-api#2` for a replicated service.
    pub instance: String,
    pub service: String,
    /// Compose's replica number (1-based).
    pub number: u32,
    pub id: String,
    pub name: String,
    /// The image as the compose file names it, and the id (digest) it resolved to.
    pub image: String,
    pub image_id: String,
    #[serde(skip)]
    pub state: State,
    /// Address on the project's network (Linux hosts route to it).
    pub ip: Option<IpAddr>,
    #[serde(skip)]
    pub env: BTreeMap<String, String>,
    /// Container port → where it is published on the host.
    #[serde(skip)]
    pub published: BTreeMap<u16, SocketAddr>,
    /// Its healthcheck's command, which the harness runs itself while it waits for the
    /// container to be ready (`readiness.rs`); none when it has no healthcheck.
    #[serde(skip)]
    pub probe: Option<Vec<String>>,
}

/// What the engine says a container is doing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum State {
    Running {
        healthy: Option<bool>,
    },
    Paused,
    #[default]
    Stopped,
}

impl State {
    pub fn describe(self) -> &'static str {
        match self {
            State::Running {
                healthy: Some(true),
            } => "running, healthy",
            State::Running {
                healthy: Some(false),
            } => "running, not healthy yet",
            State::Running { healthy: None } => "running",
            State::Paused => "paused",
            State::Stopped => "stopped",
        }
    }
}

/// The project's containers by instance name.
#[derive(Debug, Clone, Default)]
pub struct Project {
    pub name: String,
    pub containers: BTreeMap<String, Container>,
}

impl Project {
    /// Lists and inspects every container labelled with `project` (one-off `run` containers
    /// excluded). Containers of other projects are never returned, so never touched.
    pub async fn discover(docker: &Docker, project: &str) -> Result<Project, DockerError> {
        let filters: HashMap<&str, Vec<String>> =
            HashMap::from([("label", vec![format!("{PROJECT_LABEL}={project}")])]);
        let list = docker
            .list_containers(Some(
                ListContainersOptionsBuilder::new()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| DockerError::api("listing containers", e))?;
        let mut found = Vec::new();
        for summary in list {
            let Some(id) = summary.id else { continue };
            let inspected = docker
                .inspect_container(&id, None::<InspectContainerOptions>)
                .await
                .map_err(|e| DockerError::api(format!("inspecting container {id}"), e))?;
            if let Some(c) = from_inspect(project, &inspected) {
                found.push(c);
            }
        }
        if !found.iter().any(|c| c.state != State::Stopped) {
            return Err(DockerError::ProjectNotFound {
                project: project.to_owned(),
                others: other_projects(docker, project).await,
            });
        }
        Ok(Project {
            name: project.to_owned(),
            containers: name_instances(found),
        })
    }

    /// Instances of `service` in replica order; `service#N` names itself.
    pub fn instances_of(&self, service: &str) -> Vec<String> {
        if self.containers.contains_key(service) {
            return vec![service.to_owned()];
        }
        let mut v: Vec<&Container> = self
            .containers
            .values()
            .filter(|c| c.service == service)
            .collect();
        v.sort_by_key(|c| c.number);
        v.into_iter().map(|c| c.instance.clone()).collect()
    }

    pub fn services(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .containers
            .values()
            .map(|c| c.service.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The first container of `service` (replica order), or why there is none.
    pub fn first(&self, service: &str) -> Result<&Container, DockerError> {
        self.instances_of(service)
            .first()
            .and_then(|i| self.containers.get(i))
            .ok_or_else(|| DockerError::ServiceMissing {
                project: self.name.clone(),
                service: service.to_owned(),
                have: self.services().join(", "),
            })
    }
}

/// Whether an engine answers and `project` has running containers (`--target auto`).
pub async fn running(project: &str) -> bool {
    match super::engine::connect().await {
        Ok(docker) => Project::discover(&docker, project).await.is_ok(),
        Err(_) => false,
    }
}

/// Reads one inspected container; `None` when it does not belong to `project` or is a one-off.
pub fn from_inspect(project: &str, c: &ContainerInspectResponse) -> Option<Container> {
    let config = c.config.as_ref()?;
    let labels = config.labels.as_ref()?;
    if labels.get(PROJECT_LABEL).map(String::as_str) != Some(project)
        || labels.get(ONEOFF_LABEL).map(String::as_str) == Some("True")
    {
        return None;
    }
    let service = labels.get(SERVICE_LABEL)?.clone();
    let number = labels
        .get(NUMBER_LABEL)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let net = c.network_settings.as_ref();
    Some(Container {
        instance: service.clone(),
        service,
        number,
        id: c.id.clone().unwrap_or_default(),
        name: c
            .name
            .as_deref()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        image: config.image.clone().unwrap_or_default(),
        image_id: c.image.clone().unwrap_or_default(),
        state: state_of(c.state.as_ref()),
        ip: address_on(project, net),
        env: env_of(config),
        published: published_ports(net),
        probe: config
            .healthcheck
            .as_ref()
            .and_then(|h| h.test.as_deref())
            .and_then(super::readiness::probe_command),
    })
}

/// Paused, running (healthy or not, when it has a healthcheck) or stopped; a restarting
/// container counts as running.
fn state_of(st: Option<&ContainerState>) -> State {
    let health = st
        .and_then(|s| s.health.as_ref())
        .and_then(|h| h.status)
        .filter(|h| !matches!(h, HealthStatusEnum::EMPTY | HealthStatusEnum::NONE));
    match st.and_then(|s| s.status) {
        Some(ContainerStateStatusEnum::PAUSED) => State::Paused,
        Some(ContainerStateStatusEnum::RUNNING | ContainerStateStatusEnum::RESTARTING) => {
            State::Running {
                healthy: health.map(|h| h == HealthStatusEnum::HEALTHY),
            }
        }
        _ => State::Stopped,
    }
}

/// The container's address on one of its networks: the project's default network first,
/// then by name, so the choice is stable across runs.
fn address_on(project: &str, net: Option<&NetworkSettings>) -> Option<IpAddr> {
    net.and_then(|n| n.networks.as_ref())
        .and_then(|nets| {
            let mut v: Vec<(&String, _)> = nets.iter().collect();
            v.sort_by_key(|(name, _)| (*name != &format!("{project}_default"), (*name).clone()));
            v.into_iter()
                .find_map(|(_, e)| e.ip_address.as_deref().filter(|ip| !ip.is_empty()))
        })
        .and_then(|ip| ip.parse().ok())
}

/// Each TCP port published on an IPv4 host address; a binding on every address (`0.0.0.0`
/// or none given) is reached on loopback.
fn published_ports(net: Option<&NetworkSettings>) -> BTreeMap<u16, SocketAddr> {
    let mut published = BTreeMap::new();
    for (port, bindings) in net.and_then(|n| n.ports.as_ref()).into_iter().flatten() {
        let Some(p) = port
            .strip_suffix("/tcp")
            .and_then(|p| p.parse::<u16>().ok())
        else {
            continue;
        };
        let host = bindings.iter().flatten().find_map(|b| {
            let ip: IpAddr = match b.host_ip.as_deref() {
                None | Some("") | Some("0.0.0.0") => IpAddr::V4(Ipv4Addr::LOCALHOST),
                Some(other) => other.parse().ok()?,
            };
            let port = b.host_port.as_deref()?.parse().ok()?;
            ip.is_ipv4().then_some(SocketAddr::new(ip, port))
        });
        if let Some(h) = host {
            published.insert(p, h);
        }
    }
    published
}

fn env_of(config: &ContainerConfig) -> BTreeMap<String, String> {
    config
        .env
        .iter()
        .flatten()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Names containers by instance: a service with one container is its own instance; a
/// replicated one's are `service#N` by compose's replica number.
pub(super) fn name_instances(found: Vec<Container>) -> BTreeMap<String, Container> {
    let mut per_service: BTreeMap<String, usize> = BTreeMap::new();
    for c in &found {
        *per_service.entry(c.service.clone()).or_default() += 1;
    }
    found
        .into_iter()
        .map(|mut c| {
            if per_service.get(&c.service).copied().unwrap_or(0) > 1 {
                c.instance = format!("{}#{}", c.service, c.number);
            }
            (c.instance.clone(), c)
        })
        .collect()
}

/// ` (running projects here: a, b)` for the not-found message, or nothing.
async fn other_projects(docker: &Docker, project: &str) -> String {
    let Ok(list) = docker.list_containers(None).await else {
        return String::new();
    };
    let mut names: Vec<String> = list
        .iter()
        .filter_map(|c| c.labels.as_ref()?.get(PROJECT_LABEL).cloned())
        .filter(|p| p != project)
        .collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        " (no compose project is running here)".into()
    } else {
        format!(" (running projects here: {})", names.join(", "))
    }
}

/// A running container of `service` with no address, for tests of what is built from a
/// project.
#[cfg(test)]
pub(super) fn container(service: &str, number: u32) -> Container {
    Container {
        instance: service.into(),
        service: service.into(),
        number,
        id: format!("{service}{number}"),
        name: String::new(),
        image: String::new(),
        image_id: String::new(),
        state: State::Running { healthy: None },
        ip: None,
        env: BTreeMap::new(),
        published: BTreeMap::new(),
        probe: None,
    }
}

#[cfg(test)]
mod tests {
    use super::container as c;
    use super::*;

    #[test]
    fn replicas_are_numbered_and_single_services_are_not() {
        let p = Project {
            name: "p".into(),
            containers: name_instances(vec![
                c("ingestion-api", 2),
                c("ingestion-api", 1),
                c("redis", 1),
            ]),
        };
        assert_eq!(
            p.containers.keys().collect::<Vec<_>>(),
            ["ingestion-api#1", "ingestion-api#2", "redis"]
        );
        assert_eq!(
            p.instances_of("ingestion-api"),
            ["ingestion-api#1", "ingestion-api#2"]
        );
        assert_eq!(p.instances_of("ingestion-api#2"), ["ingestion-api#2"]);
        assert_eq!(p.instances_of("redis"), ["redis"]);
        assert!(p.instances_of("kafka").is_empty());
        let e = p.first("kafka").unwrap_err().to_string();
        assert!(e.contains("no service `kafka`"), "{e}");
        assert!(e.contains("ingestion-api, redis"), "{e}");
    }
}
