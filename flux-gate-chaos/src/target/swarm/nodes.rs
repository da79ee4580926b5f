//! Swarm nodes as node faults name them: listed from the manager, drained and activated
//! (`docker node update --availability`), and waited on until a drain took effect.
//!
//! A drained node runs no task: Swarm stops them and starts them on the other nodes, if any.
//! So a drain is the orchestrator's own way of taking a host out — maintenance, a rolling
//! upgrade — and on a single node it stops the whole stack.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bollard::models::{Node, NodeSpecAvailabilityEnum, TaskState};
use bollard::query_parameters::{ListTasksOptionsBuilder, UpdateNodeOptionsBuilder};
use bollard::Docker;

use super::deploy::stack_services;
use super::membership::SwarmError;
use crate::scenario::validate::NodeNames;
use crate::target::docker::handle::Handle;
use crate::target::docker::project::Project;
use crate::target::docker::DockerError;
use crate::target::{Readiness, Replacement, TargetError};

/// How often a drain is looked at until it took effect.
const EVERY: Duration = Duration::from_millis(250);

/// One node of the swarm, as `docker node ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmNode {
    pub id: String,
    pub hostname: String,
    /// Whether its availability is `active` (not `drain` or `pause`): a node a restore puts
    /// back if a fault left it otherwise.
    pub active: bool,
    /// The address the other nodes reach it at: what an isolation cuts.
    pub addr: Option<IpAddr>,
}

impl SwarmNode {
    fn of(n: &Node) -> SwarmNode {
        SwarmNode {
            id: n.id.clone().unwrap_or_default(),
            hostname: n
                .description
                .as_ref()
                .and_then(|d| d.hostname.clone())
                .unwrap_or_default(),
            active: n.spec.as_ref().and_then(|s| s.availability)
                == Some(NodeSpecAvailabilityEnum::ACTIVE),
            addr: n
                .status
                .as_ref()
                .and_then(|s| s.addr.as_deref())
                .and_then(|a| a.parse().ok()),
        }
    }
}

/// Every node of the swarm this engine manages.
pub async fn list(docker: &Docker) -> Result<Vec<SwarmNode>, SwarmError> {
    let nodes = docker
        .list_nodes(None)
        .await
        .map_err(|e| DockerError::api("listing the swarm's nodes", e))?;
    Ok(nodes.iter().map(SwarmNode::of).collect())
}

/// Sets `node` (a hostname or an id) to drain or, `active`, to active; returns the node as it
/// was before. The update names the version it read, so a change made meanwhile by someone
/// else is refused by the manager rather than overwritten.
pub async fn set(docker: &Docker, node: &str, active: bool) -> Result<SwarmNode, SwarmError> {
    let what = format!("updating swarm node `{node}`");
    let found = docker
        .inspect_node(node)
        .await
        .map_err(|e| DockerError::api(format!("inspecting swarm node `{node}`"), e))?;
    let before = SwarmNode::of(&found);
    let mut spec = found.spec.clone().unwrap_or_default();
    spec.availability = Some(if active {
        NodeSpecAvailabilityEnum::ACTIVE
    } else {
        NodeSpecAvailabilityEnum::DRAIN
    });
    let version = found.version.and_then(|v| v.index).unwrap_or_default();
    let version = i64::try_from(version).unwrap_or(i64::MAX);
    docker
        .update_node(
            &before.id,
            spec,
            UpdateNodeOptionsBuilder::new().version(version).build(),
        )
        .await
        .map_err(|e| DockerError::api(what, e))?;
    tracing::info!(node, id = %before.id, active, "swarm node availability set");
    Ok(before)
}

/// Until no task of `stack` runs on node `id` any more (a drain took effect), or `deadline`.
pub async fn wait_drained(
    docker: &Docker,
    stack: &str,
    id: &str,
    deadline: Instant,
) -> Result<(), SwarmError> {
    let from = Instant::now();
    loop {
        let running = running_on(docker, stack, id).await?;
        if running.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(SwarmError::NotDrained {
                node: id.to_owned(),
                waited_s: from.elapsed().as_secs(),
                running: running.join(", "),
            });
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// The tasks of `stack` running on node `id` now, by task id.
async fn running_on(docker: &Docker, stack: &str, id: &str) -> Result<Vec<String>, SwarmError> {
    let services: Vec<String> = stack_services(docker, stack)
        .await?
        .into_iter()
        .filter_map(|s| s.id)
        .collect();
    let filters = HashMap::from([("node", vec![id.to_owned()])]);
    let tasks = docker
        .list_tasks(Some(
            ListTasksOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .map_err(|e| DockerError::api("listing a node's tasks", e))?;
    Ok(tasks
        .into_iter()
        .filter(|t| t.service_id.as_ref().is_some_and(|s| services.contains(s)))
        .filter(|t| t.status.as_ref().and_then(|s| s.state) == Some(TaskState::RUNNING))
        .filter_map(|t| t.id)
        .collect())
}

/// A node fault on `stack`: the availability set, and what is left to wait for — a drain's
/// until the node runs none of the stack's tasks; an activate's until every slot of `slots`
/// (what ran at the attach) has a task that serves, shown as the reschedule of the slowest.
pub async fn fault(
    docker: &Docker,
    stack: &str,
    node: &str,
    drain: bool,
    slots: Vec<Handle>,
    deadline: Instant,
) -> Result<Readiness, TargetError> {
    let before = set(docker, node, !drain).await?;
    Ok(if drain {
        let (docker, stack) = (docker.clone(), stack.to_owned());
        Readiness::after(
            async move { Ok(wait_drained(&docker, &stack, &before.id, deadline).await?) },
        )
    } else {
        Readiness::replaced(all_replaced(slots, false, Instant::now(), deadline))
    })
}

/// Until a task serves in each of `slots`, shown as the reschedule of the slowest, counted
/// `from` the node fault. `moved`: each slot's task must be another container than the
/// handle's (its node was lost, and the old task may run on there, cut off); else any task
/// that serves will do.
pub async fn all_replaced(
    slots: Vec<Handle>,
    moved: bool,
    from: Instant,
    deadline: Instant,
) -> Result<Replacement, TargetError> {
    let mut last = String::new();
    for slot in &slots {
        let ended = moved.then_some(slot.id.as_str());
        last = slot.wait_replaced(ended, deadline).await?.container;
    }
    Ok(Replacement {
        container: last,
        ready_after_ms: u64::try_from(from.elapsed().as_millis()).unwrap_or(u64::MAX),
        slots: Some(u32::try_from(slots.len()).unwrap_or(u32::MAX)),
    })
}

/// What an activation of the drained nodes did.
#[derive(Debug, Default)]
pub struct Activated {
    /// The nodes activated, by hostname.
    pub hostnames: Vec<String>,
    /// What could not be activated, and why.
    pub errors: Vec<String>,
}

/// Activates every node of `ids` that is not active now: what a run's restore, its guardian
/// and `fgchaos cleanup` do for a node fault left on. Each node is tried whatever the others
/// did.
pub async fn activate_drained(docker: &Docker, ids: &[String]) -> Activated {
    let mut done = Activated::default();
    if ids.is_empty() {
        return done;
    }
    let nodes = match list(docker).await {
        Ok(n) => n,
        Err(e) => {
            done.errors.push(e.to_string());
            return done;
        }
    };
    for n in nodes.iter().filter(|n| ids.contains(&n.id) && !n.active) {
        match set(docker, &n.id, true).await {
            Ok(_) => done.hostnames.push(n.hostname.clone()),
            Err(e) => done.errors.push(e.to_string()),
        }
    }
    done
}

/// The nodes as a scenario may name them, each with the stack's instances running on it.
pub fn names(nodes: &[SwarmNode], project: &Project) -> Vec<NodeNames> {
    nodes
        .iter()
        .map(|n| NodeNames {
            hostname: n.hostname.clone(),
            id: n.id.clone(),
            runs: project
                .containers
                .values()
                .filter(|c| c.node.as_deref() == Some(n.id.as_str()))
                .map(|c| c.instance.clone())
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::docker::project::{container, name_instances, Scope};

    #[test]
    fn a_node_is_named_with_the_instances_it_runs() {
        let on = |service: &str, n: u32, node: &str| crate::target::docker::Container {
            node: Some(node.to_owned()),
            ..container(service, n)
        };
        let project = Project {
            scope: Scope::Stack("fg".into()),
            containers: name_instances(vec![
                on("redis", 1, "id-a"),
                on("ingestion-api", 1, "id-a"),
                on("ingestion-api", 2, "id-b"),
            ]),
        };
        let node = |id: &str, hostname: &str, active: bool| SwarmNode {
            id: id.into(),
            hostname: hostname.into(),
            active,
            addr: None,
        };
        let nodes = [
            node("id-a", "a", true),
            node("id-b", "b", false),
            node("id-c", "c", true),
        ];
        let named = names(&nodes, &project);
        let runs: Vec<(&str, Vec<&str>)> = named
            .iter()
            .map(|n| {
                (
                    n.hostname.as_str(),
                    n.runs.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            runs,
            [
                ("a", vec!["ingestion-api#1", "redis"]),
                ("b", vec!["ingestion-api#2"]),
                ("c", vec![])
            ]
        );
        assert!(named[1].is("b") && named[1].is("id-b") && !named[1].is("a"));
    }

    #[test]
    fn a_node_is_active_only_when_its_spec_says_so() {
        use bollard::models::{NodeDescription, NodeSpec};
        let node = |availability: Option<NodeSpecAvailabilityEnum>| Node {
            id: Some("id-a".into()),
            description: Some(NodeDescription {
                hostname: Some("a".into()),
                ..Default::default()
            }),
            spec: availability.map(|a| NodeSpec {
                availability: Some(a),
                ..Default::default()
            }),
            ..Default::default()
        };
        let read = |a: Option<NodeSpecAvailabilityEnum>| SwarmNode::of(&node(a));
        assert_eq!(
            read(Some(NodeSpecAvailabilityEnum::ACTIVE)),
            SwarmNode {
                id: "id-a".into(),
                hostname: "a".into(),
                active: true,
                addr: None,
            }
        );
        assert!(!read(Some(NodeSpecAvailabilityEnum::DRAIN)).active);
        assert!(!read(Some(NodeSpecAvailabilityEnum::PAUSE)).active);
        // No spec read: not known to be active, so nothing would be "put back" to it.
        assert!(!read(None).active);
    }
}
