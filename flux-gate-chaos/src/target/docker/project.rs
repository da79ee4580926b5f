//! A compose project or a swarm stack as the engine sees it: its containers, found by the
//! labels every compose implementation (or `docker stack deploy`) sets, named the way scenarios
//! name service instances.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bollard::models::{
    ContainerConfig, ContainerInspectResponse, ContainerState, ContainerStateStatusEnum,
    ContainerSummary, HealthStatusEnum, NetworkSettings,
};
use bollard::query_parameters::{InspectContainerOptions, ListContainersOptionsBuilder};
use bollard::Docker;
use serde::{Deserialize, Serialize};

use super::engine::DockerError;
use super::fleet::Fleet;

pub const PROJECT_LABEL: &str = "com.docker.compose.project";
pub const SERVICE_LABEL: &str = "com.docker.compose.service";
pub const NUMBER_LABEL: &str = "com.docker.compose.container-number";
pub const ONEOFF_LABEL: &str = "com.docker.compose.oneoff";
/// What `docker stack deploy` labels a stack's task containers with.
pub const STACK_LABEL: &str = "com.docker.stack.namespace";
pub const SWARM_SERVICE_LABEL: &str = "com.docker.swarm.service.name";
/// The swarm node a task container runs on (its id).
pub const NODE_LABEL: &str = "com.docker.swarm.node.id";
/// A container's readiness check, when its healthcheck is only a liveness check: a command,
/// its words split on spaces (`flux-gate probe http://127.0.0.1:8080/ready`).
pub const READY_LABEL: &str = "fluxgate.ready";
/// `<stack>_<service>.<slot>.<task id>`: the slot of a replicated service's task.
pub const TASK_NAME_LABEL: &str = "com.docker.swarm.task.name";

/// Which containers are the ones fgchaos drives: a compose project's, or a swarm stack's. Never
/// any other: a container without the scope's label is refused, whatever its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Scope {
    /// A Docker Compose project (`com.docker.compose.project`).
    Compose(String),
    /// A swarm stack (`com.docker.stack.namespace`); its services are `<stack>_<service>`.
    Stack(String),
}

impl Scope {
    /// The project's or the stack's name.
    pub fn name(&self) -> &str {
        match self {
            Scope::Compose(n) | Scope::Stack(n) => n,
        }
    }

    /// `compose project \`x\`` or `swarm stack \`x\``, for messages.
    pub fn describe(&self) -> String {
        match self {
            Scope::Compose(n) => format!("compose project `{n}`"),
            Scope::Stack(n) => format!("swarm stack `{n}`"),
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Scope::Compose(_) => PROJECT_LABEL,
            Scope::Stack(_) => STACK_LABEL,
        }
    }
}

/// One container of the project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Container {
    /// `inventory-worker`, or `ingestion-api#2` for a replicated service.
    pub instance: String,
    pub service: String,
    /// Compose's replica number, or the swarm task's slot (1-based); a global service's task is
    /// numbered by its node ([`Fleet::rank`]: the manager's node first). 0 only on a task with
    /// no slot read alone ([`from_inspect`]), before [`Project::discover`] numbers it.
    pub number: u32,
    /// Whether it is a global service's task: one per node, which Swarm never moves to another
    /// (set by [`Project::discover`]).
    #[serde(skip)]
    pub global: bool,
    pub id: String,
    pub name: String,
    /// The image as the compose file names it, and the id (digest) it resolved to.
    pub image: String,
    pub image_id: String,
    #[serde(skip)]
    pub state: State,
    /// An address the host routes to: on the project's network (compose), or on the node's
    /// `docker_gwbridge` (swarm: overlay addresses are not routed from the host).
    pub ip: Option<IpAddr>,
    #[serde(skip)]
    pub env: BTreeMap<String, String>,
    /// Container port → where it is published on the host.
    #[serde(skip)]
    pub published: BTreeMap<u16, SocketAddr>,
    /// The command that says it is ready, which the harness runs itself while it waits for
    /// the container (`readiness.rs`): its `fluxgate.ready` label's, else its healthcheck's;
    /// none when it has neither.
    #[serde(skip)]
    pub probe: Option<Vec<String>>,
    /// Whether `probe` is a `fluxgate.ready` label's, which alone decides: the engine saying
    /// "healthy" is then not enough. A swarm stack's healthcheck must be a liveness check
    /// (Swarm replaces a task whose healthcheck fails), so readiness is said apart.
    #[serde(skip)]
    pub probe_decides: bool,
    /// The swarm node it runs on (a task's); none in a compose project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl Container {
    /// Its published ports as reached from fgchaos when its engine is another machine's (a
    /// swarm node's, at `host`): a port published on every address answers on `host`, not on
    /// fgchaos's loopback. (One bound to the node's own loopback answers nobody off it.)
    pub fn publish_on(&mut self, host: IpAddr) {
        for addr in self.published.values_mut() {
            if addr.ip().is_loopback() {
                addr.set_ip(host);
            }
        }
    }
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
#[derive(Debug, Clone)]
pub struct Project {
    pub scope: Scope,
    pub containers: BTreeMap<String, Container>,
}

impl Project {
    /// Lists and inspects every container labelled with `scope`, on every engine of `fleet`
    /// (one-off `run` containers excluded; on a stack, only each slot's newest task).
    /// Containers of other projects are never returned, so never touched.
    pub async fn discover(fleet: &Fleet, scope: &Scope) -> Result<Project, DockerError> {
        let mut found = Vec::new();
        for (docker, host) in fleet.engines() {
            let mut on_engine = inspect_labelled(docker, scope).await?;
            if let Some(host) = host {
                for (_, c) in on_engine.iter_mut() {
                    c.publish_on(host);
                }
            }
            found.extend(on_engine);
        }
        if !found.iter().any(|(_, c)| c.state != State::Stopped) {
            return Err(match scope {
                Scope::Compose(project) => DockerError::ProjectNotFound {
                    project: project.clone(),
                    others: other_projects(fleet.manager(), project).await,
                },
                Scope::Stack(stack) => DockerError::StackNotFound {
                    stack: stack.clone(),
                },
            });
        }
        if let Scope::Stack(stack) = scope {
            number_by_node(fleet, stack, &mut found).await?;
        }
        let mut found = current_per_slot(found);
        if let Scope::Stack(_) = scope {
            for (docker, _) in fleet.engines() {
                super::gwbridge::address_all(docker, &mut found).await?;
            }
        }
        Ok(Project {
            scope: scope.clone(),
            containers: name_instances(found),
        })
    }

    /// The project's or the stack's name.
    pub fn name(&self) -> &str {
        self.scope.name()
    }

    /// The container of `instance`. A service's only instance is also its first: a stack's
    /// `inventory-worker` is named `inventory-worker#1` while a `scale` fault gives the service
    /// more tasks (and the other way round), and a name the run learned before the scale must
    /// still find it.
    pub fn get(&self, instance: &str) -> Option<&Container> {
        if let Some(c) = self.containers.get(instance) {
            return Some(c);
        }
        match instance.strip_suffix("#1") {
            Some(service) => self.containers.get(service),
            None if !instance.contains('#') => self.containers.get(&format!("{instance}#1")),
            None => None,
        }
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
                project: self.scope.describe(),
                service: service.to_owned(),
                have: self.services().join(", "),
            })
    }
}

/// Numbers the tasks that have no slot: a global service's by its node ([`Fleet::rank`]); a
/// job's (Swarm names a job's task by node too) as its one instance.
async fn number_by_node(
    fleet: &Fleet,
    stack: &str,
    found: &mut [(String, Container)],
) -> Result<(), DockerError> {
    if !found.iter().any(|(_, c)| c.number == 0) {
        return Ok(());
    }
    let global = crate::target::swarm::deploy::global_names(fleet.manager(), stack).await?;
    for (_, c) in found.iter_mut().filter(|(_, c)| c.number == 0) {
        c.global = global.contains(&c.service);
        c.number = if c.global {
            fleet.rank(c.node.as_deref())
        } else {
            1
        };
    }
    Ok(())
}

/// Every container of `scope` on one engine, inspected, with when it was created.
async fn inspect_labelled(
    docker: &Docker,
    scope: &Scope,
) -> Result<Vec<(String, Container)>, DockerError> {
    let mut found = Vec::new();
    for summary in labelled(docker, scope).await? {
        let Some(id) = summary.id else { continue };
        let inspected = match docker
            .inspect_container(&id, None::<InspectContainerOptions>)
            .await
        {
            Ok(c) => c,
            // Removed between the list and the inspect: Swarm prunes a slot's oldest
            // exited tasks while it replaces one (seen in `swarm-test`'s db-outage).
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => continue,
            Err(e) => return Err(DockerError::api(format!("inspecting container {id}"), e)),
        };
        if let Some(c) = from_inspect(scope, &inspected) {
            found.push((created_of(&inspected), c));
        }
    }
    Ok(found)
}

/// Every container carrying `scope`'s label, whatever its state (a summary each).
pub async fn labelled(
    docker: &Docker,
    scope: &Scope,
) -> Result<Vec<ContainerSummary>, DockerError> {
    let filters: HashMap<&str, Vec<String>> =
        HashMap::from([("label", vec![format!("{}={}", scope.label(), scope.name())])]);
    docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| DockerError::api(format!("listing the containers of {}", scope.describe()), e))
}

/// Whether an engine answers and `project` has running containers (`--target auto`).
pub async fn running(project: &str) -> bool {
    match super::engine::connect().await {
        Ok(docker) => Project::discover(&Fleet::one(docker), &Scope::Compose(project.to_owned()))
            .await
            .is_ok(),
        Err(_) => false,
    }
}

/// Reads one inspected container; `None` when it does not belong to `scope` or is a one-off.
pub fn from_inspect(scope: &Scope, c: &ContainerInspectResponse) -> Option<Container> {
    let config = c.config.as_ref()?;
    let labels = config.labels.as_ref()?;
    if labels.get(scope.label()).map(String::as_str) != Some(scope.name())
        || labels.get(ONEOFF_LABEL).map(String::as_str) == Some("True")
    {
        return None;
    }
    let (service, number) = match scope {
        Scope::Compose(_) => (
            labels.get(SERVICE_LABEL)?.clone(),
            labels
                .get(NUMBER_LABEL)
                .and_then(|n| n.parse().ok())
                .unwrap_or(1),
        ),
        Scope::Stack(stack) => {
            let (service, slot) = task_slot(stack, labels)?;
            (service, slot.unwrap_or(0))
        }
    };
    let net = c.network_settings.as_ref();
    Some(Container {
        instance: service.clone(),
        global: false,
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
        ip: match scope {
            Scope::Compose(project) => address_on(project, net),
            // Overlay addresses are not routed from the host; [`Project::discover`] reads the
            // node's gateway-bridge address instead.
            Scope::Stack(_) => None,
        },
        env: env_of(config),
        published: published_ports(net),
        probe: ready_label(labels).or_else(|| {
            config
                .healthcheck
                .as_ref()
                .and_then(|h| h.test.as_deref())
                .and_then(super::readiness::probe_command)
        }),
        probe_decides: ready_label(labels).is_some(),
        node: labels.get(NODE_LABEL).cloned(),
    })
}

/// A swarm task container's service (the stack's prefix taken off) and slot; no slot for a
/// task named by its node instead (`fg_nginx.<node id>.<task id>`: a global service's, or a
/// job's): [`Project::discover`] numbers it.
fn task_slot(stack: &str, labels: &HashMap<String, String>) -> Option<(String, Option<u32>)> {
    let service = labels
        .get(SWARM_SERVICE_LABEL)?
        .strip_prefix(stack)?
        .strip_prefix('_')?
        .to_owned();
    let slot = labels
        .get(TASK_NAME_LABEL)
        .and_then(|t| t.split('.').nth(1))
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0);
    Some((service, slot))
}

/// When the container was created (RFC 3339 sorts as text), to tell a slot's tasks apart.
fn created_of(c: &ContainerInspectResponse) -> String {
    c.created.clone().unwrap_or_default()
}

/// One container per service and slot: the one running (or paused), else the newest. A
/// compose project has one per slot anyway; a swarm slot keeps the containers of the tasks
/// it replaced, exited, beside the task that runs now.
fn current_per_slot(found: Vec<(String, Container)>) -> Vec<Container> {
    let mut best: BTreeMap<(String, u32), (bool, String, Container)> = BTreeMap::new();
    for (created, c) in found {
        let live = c.state != State::Stopped;
        let key = (c.service.clone(), c.number);
        let better = match best.get(&key) {
            None => true,
            Some((l, t, _)) => (live, &created) > (*l, t),
        };
        if better {
            best.insert(key, (live, created, c));
        }
    }
    best.into_values().map(|(_, _, c)| c).collect()
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

/// The command of a container's `fluxgate.ready` label, if it has a non-empty one.
fn ready_label(labels: &HashMap<String, String>) -> Option<Vec<String>> {
    let words: Vec<String> = labels
        .get(READY_LABEL)?
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    (!words.is_empty()).then_some(words)
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
pub(crate) fn name_instances(found: Vec<Container>) -> BTreeMap<String, Container> {
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
pub(crate) fn container(service: &str, number: u32) -> Container {
    Container {
        instance: service.into(),
        service: service.into(),
        number,
        global: false,
        id: format!("{service}{number}"),
        name: String::new(),
        image: String::new(),
        image_id: String::new(),
        state: State::Running { healthy: None },
        ip: None,
        env: BTreeMap::new(),
        published: BTreeMap::new(),
        probe: None,
        probe_decides: false,
        node: None,
    }
}

#[cfg(test)]
mod tests {
    use super::container as c;
    use super::*;

    #[test]
    fn a_ready_label_is_a_command_split_on_spaces() {
        let labels = |v: &str| HashMap::from([(READY_LABEL.to_owned(), v.to_owned())]);
        assert_eq!(
            ready_label(&labels("flux-gate probe  http://127.0.0.1:8080/ready")),
            Some(vec![
                "flux-gate".to_owned(),
                "probe".to_owned(),
                "http://127.0.0.1:8080/ready".to_owned()
            ])
        );
        assert_eq!(ready_label(&labels("  ")), None);
        assert_eq!(ready_label(&HashMap::new()), None);
    }

    #[test]
    fn a_services_only_instance_is_also_its_first() {
        let project = |n: u32| Project {
            scope: Scope::Stack("fg".into()),
            containers: name_instances((1..=n).map(|i| c("inventory-worker", i)).collect()),
        };
        let one = project(1);
        assert_eq!(one.get("inventory-worker#1").map(|c| c.number), Some(1));
        assert_eq!(one.get("inventory-worker").map(|c| c.number), Some(1));
        assert!(one.get("inventory-worker#2").is_none());
        let two = project(2);
        assert_eq!(two.get("inventory-worker").map(|c| c.number), Some(1));
        assert_eq!(two.get("inventory-worker#2").map(|c| c.number), Some(2));
        assert!(two.get("inventory-worker#11").is_none());
        assert!(two.get("redis").is_none());
    }

    #[test]
    fn a_swarm_slot_is_its_running_task_else_its_newest() {
        let labels = |service: &str, task: &str| {
            HashMap::from([
                (SWARM_SERVICE_LABEL.to_owned(), service.to_owned()),
                (TASK_NAME_LABEL.to_owned(), task.to_owned()),
            ])
        };
        assert_eq!(
            task_slot("fg", &labels("fg_ingestion-api", "fg_ingestion-api.2.abc")),
            Some(("ingestion-api".to_owned(), Some(2)))
        );
        // A global service's task is named by node: it has no slot.
        assert_eq!(
            task_slot("fg", &labels("fg_agent", "fg_agent.nodeid.abc")),
            Some(("agent".to_owned(), None))
        );
        assert_eq!(task_slot("fg", &labels("other_redis", "x")), None);
        let task = |id: &str, slot: u32, state: State| Container {
            id: id.into(),
            state,
            ..c("worker", slot)
        };
        let exited = State::Stopped;
        let running = State::Running { healthy: None };
        let slots = current_per_slot(vec![
            ("2026-12-06T10:00:00Z".into(), task("old", 1, exited)),
            ("2026-12-06T10:00:05Z".into(), task("new", 1, running)),
            ("2026-12-06T10:00:09Z".into(), task("created", 1, exited)),
            ("2026-12-06T10:00:00Z".into(), task("a", 2, exited)),
            ("2026-12-06T10:00:07Z".into(), task("b", 2, exited)),
        ]);
        let ids: Vec<&str> = slots.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["new", "b"]);
    }

    #[test]
    fn replicas_are_numbered_and_single_services_are_not() {
        let p = Project {
            scope: Scope::Compose("p".into()),
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
