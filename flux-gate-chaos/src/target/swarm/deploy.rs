//! Deploying a stack for the swarm target, and taking it away again: `fgchaos up --target
//! swarm` and `fgchaos down --target swarm`.
//!
//! The swarm target attaches to a deployed stack, as the docker target attaches to a running
//! compose project: deploying once and running many scenarios against it costs one deploy
//! (about 14 s here), not one per scenario. What `up` changed of the engine — the swarm it
//! initialised, the stack it deployed — is written to a record beside the run directories, so
//! that `down` (even from another shell, after a crash) puts the engine back as it was.
//!
//! `docker stack deploy` is a feature of the docker command line, not of the engine's API (the
//! API knows services, not stacks), so it is run as a command; everything else — the wait for
//! the stack to serve, the removal of what it leaves — goes through the API.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::models::{ContainerSummaryStateEnum, Service, Task, TaskState};
use bollard::query_parameters::{
    ListNetworksOptionsBuilder, ListServicesOptionsBuilder, ListTasksOptionsBuilder,
    ListVolumesOptionsBuilder, RemoveContainerOptions, RemoveVolumeOptions,
};
use bollard::Docker;
use serde::{Deserialize, Serialize};

use super::membership::{self, Membership, SwarmError};
use crate::target::docker::engine::{self, DockerError};
use crate::target::docker::fleet::Fleet;
use crate::target::docker::project::{self, Project, Scope, State, STACK_LABEL};
use crate::target::docker::readiness;

/// How long a deployed stack may take to serve (13–14 s measured from a fresh deploy here; a
/// first start initialises PostgreSQL and creates the topic).
const READY_TIMEOUT: Duration = Duration::from_secs(240);

/// What `up` changed, kept as `<work dir>/swarm-<stack>.json` until `down`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub stack: String,
    /// The stack file, and the overrides merged onto it in order (placement across nodes).
    pub files: Vec<PathBuf>,
    /// This engine's node id.
    pub node: String,
    /// Whether `up` made this engine a swarm manager (so `down` leaves the swarm).
    pub initialised: bool,
    /// Whether that created the `docker_gwbridge` network (so `down` removes it).
    pub made_gwbridge: bool,
}

impl Deployment {
    fn path(work_dir: &Path, stack: &str) -> PathBuf {
        work_dir.join(format!("swarm-{stack}.json"))
    }

    fn write(&self, work_dir: &Path) -> Result<(), SwarmError> {
        std::fs::create_dir_all(work_dir)
            .and_then(|()| {
                let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
                std::fs::write(Deployment::path(work_dir, &self.stack), text)
            })
            .map_err(|e| SwarmError::Record(format!("{}: {e}", work_dir.display())))
    }

    /// The record `up` left for `stack`, if any.
    pub fn read(work_dir: &Path, stack: &str) -> Option<Deployment> {
        let text = std::fs::read(Deployment::path(work_dir, stack)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    fn membership(&self) -> Membership {
        Membership {
            node: self.node.clone(),
            initialised: self.initialised,
            made_gwbridge: self.made_gwbridge,
        }
    }
}

/// Makes the engine a manager if it is in no swarm, deploys `files` (a stack file, then its
/// overrides) as `stack` from local images, and waits until every replicated service runs its
/// replicas, healthy. A stack that never serves is taken away again, and the engine left as it
/// was found.
pub async fn up(
    files: &[PathBuf],
    stack: &str,
    advertise: &str,
    work_dir: &Path,
) -> Result<Deployment, SwarmError> {
    if let Some(missing) = files.iter().find(|f| !f.is_file()) {
        return Err(SwarmError::Deploy(format!(
            "no stack file {} (this repository's is docker/swarm/stack.yml, and \
             docker/swarm/placement.yml places it on several nodes)",
            missing.display()
        )));
    }
    if files.is_empty() {
        return Err(SwarmError::Deploy(
            "no stack file given (this repository's is docker/swarm/stack.yml)".into(),
        ));
    }
    let docker = engine::connect().await?;
    let membership = membership::manage(&docker, advertise).await?;
    // An `up` of a stack already up (to redeploy it, or to wait until it serves again) finds
    // the engine a manager: what the first `up` changed stays on the record, for `down`.
    let earlier = Deployment::read(work_dir, stack).filter(|d| d.node == membership.node);
    let deployment = Deployment {
        stack: stack.to_owned(),
        files: files.to_vec(),
        node: membership.node.clone(),
        initialised: membership.initialised || earlier.as_ref().is_some_and(|d| d.initialised),
        made_gwbridge: membership.made_gwbridge
            || earlier.as_ref().is_some_and(|d| d.made_gwbridge),
    };
    // Written before the deploy: an `up` killed while it waits still leaves what `down` needs.
    let deployed = match deployment.write(work_dir) {
        Ok(()) => deploy(files, stack).await,
        Err(e) => Err(e),
    };
    let ready = match deployed {
        Ok(()) => match Fleet::of_swarm(docker.clone()).await {
            Ok(fleet) => wait_serving(&fleet, stack, READY_TIMEOUT).await,
            Err(e) => Err(e.into()),
        },
        Err(e) => Err(e),
    };
    match ready {
        Ok(()) => Ok(deployment),
        Err(e) => {
            if let Err(undo) = down(stack, work_dir).await {
                tracing::error!(error = %undo, "could not take the failed deploy away");
            }
            Err(e)
        }
    }
}

/// Removes `stack` — its services, then the containers and volumes it leaves — and leaves the
/// swarm if `up` initialised it. Without a record of `up`, only the stack goes.
pub async fn down(stack: &str, work_dir: &Path) -> Result<(), SwarmError> {
    let docker = engine::connect().await?;
    let record = Deployment::read(work_dir, stack);
    let removed = if matches!(
        membership::standing(&docker).await?,
        membership::Standing::Manager { .. }
    ) {
        remove_stack(&docker, stack).await
    } else {
        Ok(())
    };
    // The swarm `up` made is left even when the stack would not go all the way: leaving a
    // single-node swarm takes its services with it, and an engine left a manager is what the
    // user would not expect. The stack's error, the first, is still the answer; the record
    // is kept while the engine is not as found.
    let Some(d) = record else {
        return removed;
    };
    let restored = membership::restore(&docker, d.membership()).await;
    if restored.is_ok() {
        let _ = std::fs::remove_file(Deployment::path(work_dir, stack));
    }
    if let (Err(_), Err(then)) = (&removed, &restored) {
        tracing::error!(error = %then, "leaving the engine as found failed too");
    }
    removed.and(restored)
}

/// `docker stack deploy --resolve-image never`: the images are the engines' own (no
/// registry), and asking a registry for them would fail.
async fn deploy(files: &[PathBuf], stack: &str) -> Result<(), SwarmError> {
    let names: Vec<String> = files
        .iter()
        .map(|f| f.to_string_lossy().into_owned())
        .collect();
    let mut args = vec!["deploy", "--resolve-image", "never"];
    for name in &names {
        args.extend(["-c", name.as_str()]);
    }
    args.push(stack);
    docker_stack(&args).await.map_err(SwarmError::Deploy)?;
    tracing::info!(stack, files = %names.join(" + "), "stack deployed");
    Ok(())
}

/// `docker stack <args>`; its error output is the error.
async fn docker_stack(args: &[&str]) -> Result<(), String> {
    let out = tokio::process::Command::new("docker")
        .arg("stack")
        .args(args)
        .output()
        .await
        .map_err(|e| format!("running `docker stack {}`: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// Until every replicated service of `stack` runs as many healthy tasks as it asks for, and
/// every job has finished. A task the engine rejects (an image not built here) fails at once,
/// saying which.
pub async fn wait_serving(fleet: &Fleet, stack: &str, timeout: Duration) -> Result<(), SwarmError> {
    let docker = fleet.manager();
    let deadline = Instant::now() + timeout;
    let scope = Scope::Stack(stack.to_owned());
    let mut told = Instant::now();
    loop {
        let services = stack_services(docker, stack).await?;
        let tasks = tasks_of(docker, &services).await?;
        rejected_task(&services, &tasks)?;
        let wanted = replicas_wanted(stack, &services, &tasks);
        let project = match Project::discover(fleet, &scope).await {
            Ok(project) => Some(project),
            Err(DockerError::StackNotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let live = live_containers(&tasks);
        let mut short = match &project {
            Some(p) => short_of(&wanted, p, &live),
            None => wanted.keys().cloned().collect(),
        };
        short.extend(jobs_running(stack, &services, &tasks));
        if let (true, Some(p)) = (short.is_empty(), &project) {
            short.extend(not_ready(fleet, p, &live).await?);
        }
        if short.is_empty() && !wanted.is_empty() {
            return Ok(());
        }
        if told.elapsed() >= Duration::from_secs(10) {
            tracing::info!(stack, short = %short.join(", "), "waiting for the stack to serve");
            told = Instant::now();
        }
        if Instant::now() >= deadline {
            return Err(SwarmError::NotServing {
                stack: stack.to_owned(),
                waited_s: timeout.as_secs(),
                short: short.join(", "),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `<stack>_` taken off a service name.
fn short_name<'a>(stack: &str, name: &'a str) -> &'a str {
    name.strip_prefix(stack)
        .and_then(|n| n.strip_prefix('_'))
        .unwrap_or(name)
}

fn stack_filter(stack: &str) -> HashMap<&'static str, Vec<String>> {
    HashMap::from([("label", vec![format!("{STACK_LABEL}={stack}")])])
}

/// The stack's services (a stack deploy labels them with its namespace).
pub(super) async fn stack_services(
    docker: &Docker,
    stack: &str,
) -> Result<Vec<Service>, DockerError> {
    let filters = stack_filter(stack);
    docker
        .list_services(Some(
            ListServicesOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .map_err(|e| DockerError::api("listing the stack's services", e))
}

/// Every task of `services`, by one request.
pub(super) async fn tasks_of(
    docker: &Docker,
    services: &[Service],
) -> Result<Vec<Task>, SwarmError> {
    let ids: Vec<String> = services.iter().filter_map(|s| s.id.clone()).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let filters = HashMap::from([("service", ids)]);
    Ok(docker
        .list_tasks(Some(
            ListTasksOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .map_err(|e| DockerError::api("listing the stack's tasks", e))?)
}

/// Each service of the stack that runs for good and how many tasks it wants: a replicated
/// one its replica count; a global one a task on every node Swarm means it to run on (its
/// tasks meant to run, at least one). Jobs run once: see [`jobs_running`].
fn replicas_wanted(stack: &str, services: &[Service], tasks: &[Task]) -> HashMap<String, u64> {
    services
        .iter()
        .filter_map(|s| {
            let spec = s.spec.as_ref()?;
            let mode = spec.mode.as_ref()?;
            let want = match (&mode.replicated, &mode.global) {
                (Some(r), _) => u64::try_from(r.replicas?).unwrap_or(0),
                (None, Some(_)) => {
                    let meant = tasks
                        .iter()
                        .filter(|t| t.service_id == s.id)
                        .filter(|t| t.desired_state == Some(TaskState::RUNNING))
                        .count();
                    u64::try_from(meant).unwrap_or(u64::MAX).max(1)
                }
                (None, None) => return None,
            };
            let name = short_name(stack, spec.name.as_deref()?).to_owned();
            Some((name, want))
        })
        .collect()
}

/// The stack's jobs (migrations, the topic) still running, as `name (job)`: one with no
/// completed task yet, or with a task on its way — Swarm runs a finished job again when its
/// node comes back from a drain. A run attached while one runs would count it among what it
/// must bring back.
fn jobs_running(stack: &str, services: &[Service], tasks: &[Task]) -> Vec<String> {
    let state = |t: &Task| t.status.as_ref().and_then(|st| st.state);
    jobs(services)
        .filter(|s| {
            let mine = || tasks.iter().filter(|t| t.service_id == s.id);
            !mine().any(|t| state(t) == Some(TaskState::COMPLETE))
                || mine().any(|t| state(t).is_some_and(on_its_way))
        })
        .filter_map(|s| s.spec.as_ref()?.name.as_deref())
        .map(|name| format!("{} (job)", short_name(stack, name)))
        .collect()
}

/// The stack's services that are jobs (`replicated-job`): they run once, to completion.
fn jobs(services: &[Service]) -> impl Iterator<Item = &Service> {
    services.iter().filter(|s| {
        let mode = s.spec.as_ref().and_then(|sp| sp.mode.as_ref());
        mode.is_some_and(|m| m.replicated_job.is_some())
    })
}

/// The names of `stack`'s jobs, without the stack's prefix: their tasks are no instance a run
/// brings back.
pub async fn job_names(docker: &Docker, stack: &str) -> Result<Vec<String>, SwarmError> {
    let services = stack_services(docker, stack).await?;
    Ok(names(stack, jobs(&services)))
}

/// The names of `stack`'s global services (a task on every node), without the stack's prefix:
/// discovery numbers their tasks by node.
pub async fn global_names(docker: &Docker, stack: &str) -> Result<Vec<String>, DockerError> {
    let services = stack_services(docker, stack).await?;
    let global = services.iter().filter(|s| {
        let mode = s.spec.as_ref().and_then(|sp| sp.mode.as_ref());
        mode.is_some_and(|m| m.global.is_some())
    });
    Ok(names(stack, global))
}

/// `services`' names, the stack's prefix taken off.
fn names<'a>(stack: &str, services: impl Iterator<Item = &'a Service>) -> Vec<String> {
    services
        .filter_map(|s| s.spec.as_ref()?.name.as_deref())
        .map(|name| short_name(stack, name).to_owned())
        .collect()
}

/// A task state from which the task may still run: not yet ended.
fn on_its_way(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::NEW
            | TaskState::PENDING
            | TaskState::ALLOCATED
            | TaskState::ASSIGNED
            | TaskState::ACCEPTED
            | TaskState::READY
            | TaskState::PREPARING
            | TaskState::STARTING
            | TaskState::RUNNING
    )
}

/// The containers of the tasks Swarm means to keep running and that run: a container whose
/// task is being shut down (its node drained a moment ago) still runs, and must not count.
pub(super) fn live_containers(tasks: &[Task]) -> HashSet<String> {
    tasks
        .iter()
        .filter(|t| t.desired_state == Some(TaskState::RUNNING))
        .filter_map(|t| t.status.as_ref())
        .filter(|st| st.state == Some(TaskState::RUNNING))
        .filter_map(|st| st.container_status.as_ref()?.container_id.clone())
        .collect()
}

/// The services with fewer running, healthy tasks than they want, as `name (have/want)`; a
/// container counts only if it is one of `live` (its task is meant to run).
pub(super) fn short_of(
    wanted: &HashMap<String, u64>,
    project: &Project,
    live: &HashSet<String>,
) -> Vec<String> {
    let mut short: Vec<String> = wanted
        .iter()
        .filter_map(|(service, want)| {
            let have = project
                .instances_of(service)
                .iter()
                .filter_map(|i| project.containers.get(i))
                .filter(|c| live.contains(&c.id))
                .filter(|c| {
                    matches!(
                        c.state,
                        State::Running {
                            healthy: Some(true) | None
                        }
                    )
                })
                .count() as u64;
            (have < *want).then(|| format!("{service} ({have}/{want})"))
        })
        .collect();
    short.sort();
    short
}

/// The live containers whose `fluxgate.ready` check does not pass yet, as `instance (not
/// ready)`: healthy says alive on a stack, and a run must start on a stack that serves.
pub(super) async fn not_ready(
    fleet: &Fleet,
    project: &Project,
    live: &HashSet<String>,
) -> Result<Vec<String>, SwarmError> {
    let mut out = Vec::new();
    for c in project.containers.values() {
        let Some(cmd) = c.probe.as_ref().filter(|_| c.probe_decides) else {
            continue;
        };
        let docker = fleet.engine(c.node.as_deref());
        if live.contains(&c.id) && !readiness::passes(docker, &c.id, cmd).await? {
            out.push(format!("{} (not ready)", c.instance));
        }
    }
    Ok(out)
}

/// A task the engine rejected (it never runs: a missing image, an impossible constraint).
pub(super) fn rejected_task(services: &[Service], tasks: &[Task]) -> Result<(), SwarmError> {
    for t in tasks {
        let Some(status) = &t.status else { continue };
        if status.state == Some(TaskState::REJECTED) {
            let err = status.err.clone().unwrap_or_default();
            let hint = if err.contains("No such image") {
                ". Build the images here first: `FG_PROFILE=debug scripts/docker-images`"
            } else {
                ""
            };
            let service = services
                .iter()
                .find(|s| s.id == t.service_id)
                .and_then(|s| s.spec.as_ref()?.name.clone())
                .unwrap_or_default();
            return Err(SwarmError::Deploy(format!(
                "a task of `{service}` was rejected: {err}{hint}"
            )));
        }
    }
    Ok(())
}

/// `docker stack rm`, then until no container of the stack is left: the stopped task
/// containers Swarm keeps (its task history, the jobs' finished tasks) and the stack's volumes
/// are removed too, so the next deploy starts from nothing.
async fn remove_stack(docker: &Docker, stack: &str) -> Result<(), SwarmError> {
    // `docker stack rm` removes the services, then the networks, without waiting for the
    // tasks to stop: a network a stopping task still holds is refused ("in use by task") and
    // left. It goes with a second `rm` once the containers have stopped.
    let first = docker_stack(&["rm", stack]).await;
    let scope = Scope::Stack(stack.to_owned());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = project::labelled(docker, &scope).await?;
        let running = left.iter().any(|c| {
            !matches!(
                c.state,
                Some(
                    ContainerSummaryStateEnum::EXITED
                        | ContainerSummaryStateEnum::CREATED
                        | ContainerSummaryStateEnum::DEAD
                )
            )
        });
        if !running {
            for c in left.iter().filter_map(|c| c.id.as_deref()) {
                let _ = docker
                    .remove_container(c, None::<RemoveContainerOptions>)
                    .await;
            }
            break;
        }
        if Instant::now() >= deadline {
            return Err(SwarmError::Remove(format!(
                "containers of stack `{stack}` still run 60 s after `docker stack rm`"
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if let Err(e) = first {
        tracing::info!(stack, error = %e, "`docker stack rm` left something: removing again");
        docker_stack(&["rm", stack])
            .await
            .map_err(SwarmError::Remove)?;
    }
    wait_networks_gone(docker, stack).await?;
    remove_volumes(docker, stack).await
}

/// Until the stack's networks are gone: `docker stack rm` removes them after it returns, and a
/// deploy of the same stack meanwhile waits on them.
async fn wait_networks_gone(docker: &Docker, stack: &str) -> Result<(), SwarmError> {
    let filters = stack_filter(stack);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(|e| DockerError::api("listing the stack's networks", e))?;
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(SwarmError::Remove(format!(
                "the networks of stack `{stack}` are still there 60 s after `docker stack rm`"
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The stack's named volumes (a stack deploy labels them with its namespace). A volume still
/// in use a moment after its container went is retried.
async fn remove_volumes(docker: &Docker, stack: &str) -> Result<(), SwarmError> {
    let filters = stack_filter(stack);
    let list = docker
        .list_volumes(Some(
            ListVolumesOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .map_err(|e| DockerError::api("listing the stack's volumes", e))?;
    for v in list.volumes.unwrap_or_default() {
        let mut last = None;
        for _ in 0..20 {
            match docker
                .remove_volume(&v.name, None::<RemoveVolumeOptions>)
                .await
            {
                Ok(()) => {
                    last = None;
                    break;
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        if let Some(e) = last {
            return Err(DockerError::api(format!("removing volume {}", v.name), e).into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::docker::project::{container, name_instances};

    #[test]
    fn a_job_runs_until_a_task_completes_and_a_rejected_task_is_named() {
        use bollard::models::{
            ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicatedJob, TaskStatus,
        };
        let job = Service {
            id: Some("j".into()),
            spec: Some(ServiceSpec {
                name: Some("s_migrate".into()),
                mode: Some(ServiceSpecMode {
                    replicated_job: Some(ServiceSpecModeReplicatedJob::default()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let task = |state, err: Option<&str>| Task {
            service_id: Some("j".into()),
            status: Some(TaskStatus {
                state: Some(state),
                err: err.map(str::to_owned),
                ..Default::default()
            }),
            ..Default::default()
        };
        let services = vec![job];
        let failed = task(TaskState::FAILED, None);
        assert_eq!(
            jobs_running("s", &services, std::slice::from_ref(&failed)),
            ["migrate (job)"]
        );
        let done = task(TaskState::COMPLETE, None);
        assert!(jobs_running("s", &services, &[failed.clone(), done.clone()]).is_empty());
        // Run again (its node back from a drain): running until that task completes too.
        let again = task(TaskState::RUNNING, None);
        assert_eq!(
            jobs_running("s", &services, &[failed, done, again]),
            ["migrate (job)"]
        );
        let rejected = task(TaskState::REJECTED, Some("No such image: fluxgate/x"));
        let e = rejected_task(&services, &[rejected])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(
                "a task of `s_migrate` was rejected: No such image: fluxgate/x. Build the images"
            ),
            "{e}"
        );
    }

    #[test]
    fn a_service_is_short_until_its_replicas_run_healthy() {
        let healthy = |svc: &str, n| {
            let mut c = container(svc, n);
            c.state = State::Running {
                healthy: Some(true),
            };
            c
        };
        let mut starting = container("ingestion-api", 2);
        starting.state = State::Running {
            healthy: Some(false),
        };
        let project = Project {
            scope: Scope::Stack("s".into()),
            containers: name_instances(vec![
                healthy("ingestion-api", 1),
                starting,
                healthy("redis", 1),
            ]),
        };
        let wanted = HashMap::from([
            ("ingestion-api".to_owned(), 2),
            ("redis".to_owned(), 1),
            ("kafka".to_owned(), 1),
        ]);
        let all: HashSet<String> = project.containers.values().map(|c| c.id.clone()).collect();
        assert_eq!(
            short_of(&wanted, &project, &all),
            ["ingestion-api (1/2)", "kafka (0/1)"]
        );
        // A healthy container whose task is being shut down does not count.
        let leaving: HashSet<String> = all.into_iter().filter(|id| id != "redis1").collect();
        assert_eq!(
            short_of(&wanted, &project, &leaving),
            ["ingestion-api (1/2)", "kafka (0/1)", "redis (0/1)"]
        );
        use bollard::models::{ContainerStatus, TaskStatus};
        let task = |desired, state, id: &str| Task {
            desired_state: Some(desired),
            status: Some(TaskStatus {
                state: Some(state),
                container_status: Some(ContainerStatus {
                    container_id: Some(id.to_owned()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let tasks = [
            task(TaskState::RUNNING, TaskState::RUNNING, "a"),
            task(TaskState::SHUTDOWN, TaskState::RUNNING, "b"),
            task(TaskState::RUNNING, TaskState::STARTING, "c"),
        ];
        assert_eq!(live_containers(&tasks), HashSet::from(["a".to_owned()]));
        // A global service wants a task on each node Swarm means it to run on.
        use bollard::models::{ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated};
        let service = |id: &str, mode: ServiceSpecMode| Service {
            id: Some(id.into()),
            spec: Some(ServiceSpec {
                name: Some(format!("s_{id}")),
                mode: Some(mode),
                ..Default::default()
            }),
            ..Default::default()
        };
        let services = [
            service(
                "nginx",
                ServiceSpecMode {
                    global: Some(Default::default()),
                    ..Default::default()
                },
            ),
            service(
                "api",
                ServiceSpecMode {
                    replicated: Some(ServiceSpecModeReplicated { replicas: Some(2) }),
                    ..Default::default()
                },
            ),
        ];
        let of = |service: &str, desired| Task {
            service_id: Some(service.into()),
            ..task(desired, TaskState::RUNNING, "x")
        };
        let tasks = [
            of("nginx", TaskState::RUNNING),
            of("nginx", TaskState::RUNNING),
            of("nginx", TaskState::SHUTDOWN),
            of("api", TaskState::RUNNING),
        ];
        assert_eq!(
            replicas_wanted("s", &services, &tasks),
            HashMap::from([("nginx".to_owned(), 2), ("api".to_owned(), 2)])
        );
        assert_eq!(
            replicas_wanted("s", &services, &[]),
            HashMap::from([("nginx".to_owned(), 1), ("api".to_owned(), 2)])
        );
        assert_eq!(short_name("s", "s_redis"), "redis");
        assert_eq!(short_name("s", "other"), "other");
    }
}
