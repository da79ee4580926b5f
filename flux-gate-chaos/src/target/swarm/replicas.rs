//! A swarm service's replica count, as a `scale` fault sets it: `docker service scale`, then
//! a wait until exactly that many of its tasks serve and none it is removing still runs.
//!
//! A fault names the service, never a task: Swarm picks which tasks go on a scale-down (the
//! highest slots, from the nodes with the most copies first) and fills the lowest free slots on
//! a scale-up. Healing sets the count the run attached to; until then the count is on the
//! attach ledger, so a guardian or `fgchaos cleanup` sets it back after a crash.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use bollard::models::{NodeState, Service, TaskState};
use bollard::query_parameters::{InspectServiceOptions, ListNodesOptions};
use bollard::Docker;

use super::deploy::{
    live_containers, not_ready, rejected_task, short_of, stack_services, tasks_of,
};
use super::membership::SwarmError;
use crate::target::docker::fleet::Fleet;
use crate::target::docker::project::{Project, Scope};
use crate::target::docker::readiness::EVERY;
use crate::target::docker::DockerError;

/// `<stack>_<service>`: the name Swarm knows a stack's service by.
fn full_name(stack: &str, service: &str) -> String {
    format!("{stack}_{service}")
}

/// The replica count `service` of `stack` asks for now.
pub async fn count(docker: &Docker, stack: &str, service: &str) -> Result<u32, SwarmError> {
    let found = inspect(docker, stack, service).await?;
    replicated(&found, &full_name(stack, service))
}

/// Sets `service`'s replica count to `replicas`; a global service or a job is refused with
/// its mode.
///
/// Through `docker service scale`, not the API client: the engine changes a count only as
/// part of a whole service spec sent back, and bollard's model of that spec drops the task's
/// healthcheck (it reads `HealthCheck` where the engine writes `Healthcheck`). An update
/// through it would take every task's healthcheck away, which Swarm applies as a rolling
/// update — every task of the service replaced, an API's DNS name gone for seconds (seen
/// here: 2,530 orders of a 2 → 1 scale failed). The command line reads and writes the spec in
/// the engine's own types, names the version it read (a change made meanwhile is refused, not
/// overwritten), and changes nothing but the count, so no task that stays is restarted. It is
/// pointed at the engine fgchaos is attached to (`DOCKER_HOST`), whatever its context says.
pub async fn set(
    docker: &Docker,
    stack: &str,
    service: &str,
    replicas: u32,
) -> Result<(), SwarmError> {
    let name = full_name(stack, service);
    let before = count(docker, stack, service).await?;
    let to = format!("{name}={replicas}");
    let out = tokio::process::Command::new("docker")
        .env("DOCKER_HOST", crate::target::docker::engine::address())
        .args(["service", "scale", "--detach", &to])
        .output()
        .await
        .map_err(|e| SwarmError::Scale {
            service: name.clone(),
            reason: format!("running `docker service scale`: {e}"),
        })?;
    if !out.status.success() {
        return Err(SwarmError::Scale {
            service: name,
            reason: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    tracing::info!(service = %name, before, replicas, "swarm service scaled");
    Ok(())
}

async fn inspect(docker: &Docker, stack: &str, service: &str) -> Result<Service, SwarmError> {
    let name = full_name(stack, service);
    Ok(docker
        .inspect_service(&name, None::<InspectServiceOptions>)
        .await
        .map_err(|e| DockerError::api(format!("inspecting swarm service `{name}`"), e))?)
}

/// The replica count of a replicated service; a global service or a job has none to set.
fn replicated(s: &Service, name: &str) -> Result<u32, SwarmError> {
    let mode = s.spec.as_ref().and_then(|sp| sp.mode.as_ref());
    let replicas = mode
        .and_then(|m| m.replicated.as_ref())
        .and_then(|r| r.replicas);
    match replicas {
        Some(n) => Ok(u32::try_from(n).unwrap_or(u32::MAX)),
        None => Err(SwarmError::NotReplicated {
            service: name.to_owned(),
            mode: match mode {
                Some(m) if m.global.is_some() => "global",
                Some(m) if m.replicated_job.is_some() || m.global_job.is_some() => "job",
                _ => "unknown",
            },
        }),
    }
}

/// Until `service` runs exactly `replicas` tasks that are healthy and ready, and no task it
/// is removing runs any more: a scale-up's new tasks serve, a scale-down's are gone.
pub async fn wait(
    fleet: &Fleet,
    stack: &str,
    service: &str,
    replicas: u32,
    deadline: Instant,
) -> Result<(), SwarmError> {
    let from = Instant::now();
    loop {
        let short = shortfall(fleet, stack, service, replicas).await?;
        if short.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(SwarmError::NotScaled {
                service: full_name(stack, service),
                replicas,
                waited_s: from.elapsed().as_secs(),
                short: short.join(", "),
            });
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// What keeps `service` from running exactly `replicas` serving tasks now: `name (have/want)`,
/// `instance (not ready)`, `task … still running` for one being removed. Empty once scaled.
async fn shortfall(
    fleet: &Fleet,
    stack: &str,
    service: &str,
    replicas: u32,
) -> Result<Vec<String>, SwarmError> {
    let docker = fleet.manager();
    let name = full_name(stack, service);
    let services: Vec<Service> = stack_services(docker, stack)
        .await?
        .into_iter()
        .filter(|s| s.spec.as_ref().and_then(|sp| sp.name.as_deref()) == Some(name.as_str()))
        .collect();
    let tasks = tasks_of(docker, &services).await?;
    // A task rejected long ago (its history) says nothing of this scale.
    let meant: Vec<_> = tasks
        .iter()
        .filter(|t| t.desired_state == Some(TaskState::RUNNING))
        .cloned()
        .collect();
    rejected_task(&services, &meant)?;
    // A task on a node the managers see down (cut off) runs on there until it rejoins,
    // whatever Swarm wants of it: not one this wait can see go.
    let down = down_nodes(docker).await?;
    let mut short: Vec<String> = tasks
        .iter()
        .filter(|t| t.desired_state != Some(TaskState::RUNNING))
        .filter(|t| t.status.as_ref().and_then(|s| s.state) == Some(TaskState::RUNNING))
        .filter(|t| t.node_id.as_ref().is_none_or(|n| !down.contains(n)))
        .map(|t| format!("task {} still running", t.id.as_deref().unwrap_or("?")))
        .collect();
    let all = Project::discover(fleet, &Scope::Stack(stack.to_owned())).await?;
    let mine = Project {
        scope: all.scope.clone(),
        containers: all
            .containers
            .into_iter()
            .filter(|(_, c)| c.service == service)
            .collect(),
    };
    let live = live_containers(&tasks);
    let wanted = HashMap::from([(service.to_owned(), u64::from(replicas))]);
    short.extend(short_of(&wanted, &mine, &live));
    let running = mine
        .containers
        .values()
        .filter(|c| live.contains(&c.id))
        .count();
    if running > replicas as usize {
        short.push(format!("{service} ({running} running, {replicas} wanted)"));
    }
    if short.is_empty() {
        short.extend(not_ready(fleet, &mine, &live).await?);
    }
    Ok(short)
}

/// The ids of the nodes the managers do not see ready.
async fn down_nodes(docker: &Docker) -> Result<HashSet<String>, SwarmError> {
    let nodes = docker
        .list_nodes(None::<ListNodesOptions>)
        .await
        .map_err(|e| DockerError::api("listing the swarm's nodes", e))?;
    Ok(nodes
        .into_iter()
        .filter(|n| n.status.as_ref().and_then(|s| s.state) != Some(NodeState::READY))
        .filter_map(|n| n.id)
        .collect())
}

/// What setting the scaled services back did.
#[derive(Debug, Default)]
pub struct ScaledBack {
    /// The services set back, as `service to N`.
    pub services: Vec<String>,
    /// What could not be set back, and why.
    pub errors: Vec<String>,
}

/// Sets each service of `counts` back to its count, without waiting for its tasks: what a
/// guardian and `fgchaos cleanup` do for a `scale` fault a run left on. Each is tried whatever
/// the others did; a service already at its count is left alone.
pub async fn scale_back(
    docker: &Docker,
    stack: &str,
    counts: &BTreeMap<String, u32>,
) -> ScaledBack {
    let mut done = ScaledBack::default();
    for (service, replicas) in counts {
        match count(docker, stack, service).await {
            Ok(now) if now == *replicas => continue,
            Ok(_) => {}
            Err(e) => {
                done.errors.push(e.to_string());
                continue;
            }
        }
        match set(docker, stack, service, *replicas).await {
            Ok(()) => done.services.push(format!("{service} to {replicas}")),
            Err(e) => done.errors.push(e.to_string()),
        }
    }
    done
}
