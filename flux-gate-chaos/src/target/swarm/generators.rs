//! A run's generators as a Swarm service on the stack's nodes (`generators: n`): `n` replicas of
//! the stack's own image, each `fgchaos join` of the segment its slot names, on its node's host
//! network — so its entry is its own node's nginx on loopback, and the coordinator is this
//! machine. Spread by Swarm's own scheduler, which puts a service's next task on a node with the
//! fewest of its tasks — one on each node when there are enough, and no task left pending by a
//! per-node cap that counted a node that is down — and run once (`restart-condition none`: a generator that ended is not run
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
    TaskSpec, TaskSpecContainerSpec, TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum,
    TaskState,
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
}

impl SwarmGenerators {
    pub fn new(fleet: Fleet, stack: &str, image: &str, run: &str) -> SwarmGenerators {
        SwarmGenerators {
            fleet,
            stack: stack.to_owned(),
            image: image.to_owned(),
            name: format!(
                "{stack}-generators-{}",
                run.rsplit('-').next().unwrap_or(run)
            ),
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

    async fn states(&self) -> String {
        match self.tasks().await {
            Ok(tasks) => tasks
                .iter()
                .map(|t| {
                    let status = t.status.as_ref();
                    let state = status
                        .and_then(|s| s.state)
                        .map_or("?".into(), |s| s.to_string());
                    let word = status
                        .and_then(|s| s.err.clone().or_else(|| s.message.clone()))
                        .unwrap_or_default();
                    format!("slot {} {state} ({word})", t.slot.unwrap_or(0))
                })
                .collect::<Vec<_>>()
                .join("; "),
            Err(e) => e.to_string(),
        }
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
    // Each is tried whatever the one before did; the first error is the answer.
    let (mut removed, mut first_error) = (Vec::new(), None);
    for name in services
        .iter()
        .filter_map(|s| s.spec.as_ref()?.name.clone())
    {
        match remove_named(fleet, &name).await {
            Ok(()) => removed.push(name),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(removed), Err)
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
    fn each_generator_runs_fgchaos_join_of_its_slot_once_on_its_nodes_network() {
        let g = Generators {
            count: 2,
            coordinator: "127.0.0.1:7000".parse().unwrap(),
            entry_port: 8080,
        };
        let fleet = Fleet::one(Docker::connect_with_local_defaults().unwrap());
        let run = "worker-crash-20261207T180000Z-a1b2";
        let spec = SwarmGenerators::new(fleet, "s", "img", run).spec(&g);
        assert_eq!(spec.name.as_deref(), Some("s-generators-a1b2"));
        assert_eq!(
            spec.labels.unwrap().get(LABEL).map(String::as_str),
            Some("s")
        );
        let task = spec.task_template.unwrap();
        let c = task.container_spec.unwrap();
        assert_eq!(
            c.command.unwrap()[2],
            "exec fgchaos join --coordinator 127.0.0.1:7000 --segment \"$SLOT/2\" --entry 127.0.0.1:8080"
        );
        assert_eq!(c.env.unwrap(), ["SLOT={{.Task.Slot}}"]);
        assert_eq!(c.init, Some(true));
        assert_eq!(
            task.restart_policy.unwrap().condition,
            Some(TaskSpecRestartPolicyConditionEnum::NONE)
        );
        assert_eq!(task.networks.unwrap()[0].target.as_deref(), Some("host"));
        let mode = spec.mode.unwrap().replicated.unwrap();
        assert_eq!(mode.replicas, Some(2));
    }
}
