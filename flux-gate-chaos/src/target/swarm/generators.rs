//! A run's generators as a Swarm service on the stack's nodes (`generators: n`): `n` replicas of
//! the stack's own image, each `fgchaos join` of the segment its slot names, on its node's host
//! network — so its entry is its own node's nginx on loopback, and the coordinator is this
//! machine. Spread as evenly as the nodes allow (at most `⌈n / nodes⌉` a node: one each when
//! there are enough), run once (`restart-condition none`: a generator that ended is not run
//! again, it would send its segment twice).
//!
//! The service carries the label [`LABEL`] with the stack's name, not the stack's namespace: it
//! is no service of the stack (discovery would ask which role it plays), and a guardian or
//! `fgchaos cleanup` removes every one a dead run left ([`remove_all`]).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use bollard::models::{
    NetworkAttachmentConfig, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, Task,
    TaskSpec, TaskSpecContainerSpec, TaskSpecPlacement, TaskSpecRestartPolicy,
    TaskSpecRestartPolicyConditionEnum, TaskState,
};
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListServicesOptionsBuilder, ListTasksOptionsBuilder,
};
use bollard::Docker;

use super::membership::SwarmError;
use crate::target::docker::engine::DockerError;
use crate::target::docker::fleet::Fleet;
use crate::target::placement::{GeneratorHost, Generators};
use crate::target::TargetError;

/// The label every generators' service carries: the stack it loads.
pub const LABEL: &str = "io.fluxgate.generators";

/// How long a removed service's containers may take to go.
const GONE_WITHIN: Duration = Duration::from_secs(30);

/// The generators of one run on one stack.
pub struct SwarmGenerators {
    fleet: Fleet,
    stack: String,
    /// The stack's image, which holds fgchaos.
    image: String,
    /// `<stack>-generators-<the run id's random tail>`: a service name has at most 63
    /// characters, which a run id with a long scenario name would pass.
    name: String,
    nodes: u32,
}

impl SwarmGenerators {
    pub fn new(fleet: Fleet, stack: &str, image: &str, run: &str, nodes: u32) -> SwarmGenerators {
        SwarmGenerators {
            fleet,
            stack: stack.to_owned(),
            image: image.to_owned(),
            name: format!(
                "{stack}-generators-{}",
                run.rsplit('-').next().unwrap_or(run)
            ),
            nodes: nodes.max(1),
        }
    }

    fn spec(&self, g: &Generators) -> ServiceSpec {
        ServiceSpec {
            name: Some(self.name.clone()),
            labels: Some(HashMap::from([(LABEL.to_owned(), self.stack.clone())])),
            task_template: Some(TaskSpec {
                container_spec: Some(TaskSpecContainerSpec {
                    image: Some(self.image.clone()),
                    command: Some(vec!["sh".into(), "-c".into(), g.command()]),
                    env: Some(vec!["SLOT={{.Task.Slot}}".into()]),
                    // fgchaos as PID 1 would ignore the SIGTERM of a removal and be killed
                    // only after the engine's 10 s grace: the engine's init passes it on.
                    init: Some(true),
                    ..Default::default()
                }),
                restart_policy: Some(TaskSpecRestartPolicy {
                    condition: Some(TaskSpecRestartPolicyConditionEnum::NONE),
                    ..Default::default()
                }),
                networks: Some(vec![NetworkAttachmentConfig {
                    target: Some("host".into()),
                    ..Default::default()
                }]),
                placement: Some(TaskSpecPlacement {
                    max_replicas: Some(i64::from(g.count.div_ceil(self.nodes))),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            mode: Some(ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated {
                    replicas: Some(i64::from(g.count)),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    async fn tasks(&self) -> Result<Vec<Task>, SwarmError> {
        let filters = HashMap::from([("service", vec![self.name.clone()])]);
        Ok(self
            .fleet
            .manager()
            .list_tasks(Some(
                ListTasksOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(|e| DockerError::api("listing the generators' tasks", e))?)
    }
}

#[async_trait::async_trait]
impl GeneratorHost for SwarmGenerators {
    fn coordinator_ip(&self) -> IpAddr {
        this_machine_towards(self.fleet.engines().filter_map(|(_, host)| host))
    }

    async fn start(&mut self, g: &Generators) -> Result<(), TargetError> {
        let spec = self.spec(g);
        self.fleet
            .manager()
            .create_service(spec, None)
            .await
            .map_err(|e| SwarmError::Generators(format!("creating service {}: {e}", self.name)))?;
        Ok(())
    }

    async fn failed(&self) -> Option<String> {
        let tasks = match self.tasks().await {
            Ok(tasks) => tasks,
            Err(e) => return Some(e.to_string()),
        };
        tasks.iter().find_map(|t| {
            let status = t.status.as_ref()?;
            let state = status.state?;
            matches!(
                state,
                TaskState::FAILED | TaskState::REJECTED | TaskState::ORPHANED
            )
            .then(|| {
                format!(
                    "task {} of {} is {state}: {}",
                    t.slot.unwrap_or(0),
                    self.name,
                    status.err.clone().unwrap_or_default()
                )
            })
        })
    }

    async fn placed_on(&self) -> Vec<(u32, String)> {
        let Ok(tasks) = self.tasks().await else {
            return Vec::new();
        };
        let nodes = super::nodes::list(self.fleet.manager())
            .await
            .unwrap_or_default();
        tasks
            .iter()
            .filter_map(|t| {
                let slot = u32::try_from(t.slot?).ok()?;
                let id = t.node_id.as_deref()?;
                let node = nodes.iter().find(|n| n.id == id);
                Some((
                    slot,
                    node.map_or_else(|| id.to_owned(), |n| n.hostname.clone()),
                ))
            })
            .collect()
    }

    async fn remove(&mut self) -> Result<(), TargetError> {
        remove_named(&self.fleet, &self.name).await?;
        Ok(())
    }
}

/// Removes the service `name` if it is there, then waits until no container of it is left on
/// any node.
async fn remove_named(fleet: &Fleet, name: &str) -> Result<(), SwarmError> {
    match fleet.manager().delete_service(name).await {
        Ok(()) => {}
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => {}
        Err(e) => {
            return Err(SwarmError::Generators(format!(
                "removing service {name}: {e}"
            )))
        }
    }
    let filters = HashMap::from([(
        "label",
        vec![format!("com.docker.swarm.service.name={name}")],
    )]);
    let since = Instant::now();
    loop {
        let mut left = 0;
        for (docker, _) in fleet.engines() {
            left += containers(docker, &filters).await?;
        }
        if left == 0 {
            return Ok(());
        }
        if since.elapsed() > GONE_WITHIN {
            return Err(SwarmError::Generators(format!(
                "{left} container(s) of service {name} still there {} s after it was removed",
                GONE_WITHIN.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn containers(
    docker: &Docker,
    filters: &HashMap<&str, Vec<String>>,
) -> Result<usize, SwarmError> {
    let found = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(filters)
                .build(),
        ))
        .await
        .map_err(|e| DockerError::api("listing the generators' containers", e))?;
    Ok(found.len())
}

/// Removes every generators' service of `stack` (a dead run's): a guardian's and `fgchaos
/// cleanup`'s part. Returns the names removed.
pub async fn remove_all(fleet: &Fleet, stack: &str) -> Result<Vec<String>, SwarmError> {
    let filters = HashMap::from([("label", vec![format!("{LABEL}={stack}")])]);
    let services = fleet
        .manager()
        .list_services(Some(
            ListServicesOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .map_err(|e| DockerError::api("listing the generators' services", e))?;
    let mut removed = Vec::new();
    for name in services
        .iter()
        .filter_map(|s| s.spec.as_ref()?.name.clone())
    {
        remove_named(fleet, &name).await?;
        removed.push(name);
    }
    Ok(removed)
}

/// This machine's address on the way to the first of `hosts` (another machine's engines): what
/// it answers on there. Loopback when every engine is this machine's own: generators on its
/// host network reach it there.
fn this_machine_towards(mut hosts: impl Iterator<Item = IpAddr>) -> IpAddr {
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let Some(host) = hosts.next() else {
        return loopback;
    };
    // A UDP socket "connected" sends nothing: it only asks the kernel which route it would take.
    UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|s| s.connect((host, 9)).and_then(|()| s.local_addr()))
        .map_or(loopback, |a| a.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coordinator_is_on_loopback_for_this_machines_engine_else_on_the_route_to_a_node() {
        assert_eq!(
            this_machine_towards(std::iter::empty()),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
        // Loopback routes over loopback.
        assert_eq!(
            this_machine_towards(std::iter::once(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9)))),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
    }

    #[test]
    fn generators_spread_at_most_the_even_share_a_node() {
        let g = |count| Generators {
            count,
            coordinator: "127.0.0.1:7000".parse().unwrap(),
            entry_port: 8080,
        };
        let host = |nodes| {
            SwarmGenerators::new(
                Fleet::one(Docker::connect_with_local_defaults().unwrap()),
                "s",
                "img",
                "worker-crash-20261207T180000Z-a1b2",
                nodes,
            )
        };
        let max = |nodes, count| {
            host(nodes)
                .spec(&g(count))
                .task_template
                .unwrap()
                .placement
                .unwrap()
                .max_replicas
        };
        assert_eq!(max(3, 3), Some(1));
        assert_eq!(max(1, 2), Some(2));
        assert_eq!(max(2, 3), Some(2));
        let spec = host(1).spec(&g(2));
        assert_eq!(spec.name.as_deref(), Some("s-generators-a1b2"));
        let c = spec.task_template.unwrap().container_spec.unwrap();
        assert_eq!(
            c.command.unwrap()[2],
            "exec fgchaos join --coordinator 127.0.0.1:7000 --segment \"$SLOT/2\" --entry 127.0.0.1:8080"
        );
        assert_eq!(c.env.unwrap(), ["SLOT={{.Task.Slot}}"]);
    }
}
