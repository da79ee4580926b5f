//! The attach ledger: which containers were running when a run attached to a project, kept in
//! the run directory until the run has put everything back. A run that crashed (or was killed)
//! leaves it behind; `fgchaos cleanup` and the guardian read it to repair the project.
//!
//! On a swarm stack the ids matter less: a task that ended is replaced by Swarm itself (and a
//! start of its old container would run a stray copy beside the new task), and a paused task
//! may be one started after the attach. So a stack's repair resumes every paused task container
//! of the stack and starts nothing — after joining every node an isolation cut off, activating
//! every node that was active at the attach and is drained now, and setting every service a
//! `scale` fault changed back to its count (node and scale faults the run did not heal).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bollard::query_parameters::{InspectContainerOptions, StartContainerOptions};
use bollard::Docker;
use serde::{Deserialize, Serialize};

use super::engine::{self, already_there, DockerError};
use super::fleet::Fleet;
use super::project::{from_inspect, Project, Scope, State};
use crate::target::swarm::isolation::{self, Isolated};
use crate::target::swarm::replicas;
use crate::target::TargetError;

const FILE: &str = "docker-attach.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    /// The compose project or swarm stack attached to.
    pub scope: Scope,
    /// Ids of the containers that were running (or paused) at attach.
    pub running: Vec<String>,
    /// Toxiproxy's API, once known: its fgchaos toxics are removed on repair.
    pub toxiproxy: Option<String>,
    /// On a swarm stack, the ids of the nodes that were active at attach: a repair activates
    /// any of them a node fault left drained.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    /// On a swarm stack, the nodes an `isolate` cut off and no `rejoin` joined again: a
    /// repair joins them first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub isolated: Vec<Isolated>,
    /// On a swarm stack, the services a `scale` fault changed and no heal set back, each with
    /// its replica count at attach: a repair sets it back.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scaled: BTreeMap<String, u32>,
}

impl Ledger {
    pub fn write(&self, dir: &Path) -> Result<(), TargetError> {
        let path = dir.join(FILE);
        let text = serde_json::to_vec_pretty(self)
            .map_err(|e| TargetError::Setup(format!("encoding {}: {e}", path.display())))?;
        std::fs::write(&path, text)
            .map_err(|e| TargetError::Setup(format!("writing {}: {e}", path.display())))
    }

    pub fn remove(dir: &Path) {
        let _ = std::fs::remove_file(dir.join(FILE));
    }

    /// The ledger a run left in `dir`, if any.
    pub fn read(dir: &Path) -> Option<Ledger> {
        let text = std::fs::read(dir.join(FILE)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Records left under `work_dir` (one level down: run directories) for `scope`.
    pub fn find(work_dir: &Path, scope: &Scope) -> Vec<(PathBuf, Ledger)> {
        let Ok(entries) = std::fs::read_dir(work_dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                let r = Ledger::read(&e.path())?;
                (&r.scope == scope).then_some((e.path(), r))
            })
            .collect()
    }
}

/// What a repair did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Repaired {
    /// Swarm nodes activated again (hostnames).
    pub activated: Vec<String>,
    /// Swarm nodes joined to the others again (hostnames).
    pub rejoined: Vec<String>,
    /// Swarm services set back to their replica count at attach, as `service to N`.
    pub scaled: Vec<String>,
    /// Services of load generators a run placed on the nodes, removed.
    pub generators: Vec<String>,
    pub resumed: Vec<String>,
    pub started: Vec<String>,
    /// Containers that could not be put back, and why.
    pub errors: Vec<String>,
}

/// Resumes and starts every recorded container that still belongs to the project; never
/// touches one that does not. A container that cannot be put back is named in
/// [`Repaired::errors`] and the rest are still tried; only an engine that does not answer
/// is an error.
pub async fn repair(ledger: &Ledger) -> Result<Repaired, DockerError> {
    let docker = engine::connect().await?;
    if let Scope::Stack(stack) = &ledger.scope {
        // First the load: generators sending on, on their own, to a stack being repaired.
        let generators = remove_generators(&docker, stack).await;
        // Then: a node cut off or drained runs no task to resume.
        let (rejoined, cut) = isolation::mend_all(&ledger.isolated).await;
        let activated = crate::target::swarm::nodes::activate_drained(&docker, &ledger.nodes).await;
        let scaled = replicas::scale_back(&docker, stack, &ledger.scaled).await;
        let mut done = resume_stack(&docker, &ledger.scope).await?;
        done.activated = activated.hostnames;
        done.rejoined = rejoined;
        done.scaled = scaled.services;
        let gone_wrong = match generators {
            Ok(removed) => {
                done.generators = removed;
                None
            }
            Err(e) => Some(e),
        };
        let errors = gone_wrong.into_iter().chain(cut);
        let errors = errors.chain(activated.errors).chain(scaled.errors);
        done.errors.splice(0..0, errors);
        return Ok(done);
    }
    let mut done = Repaired::default();
    for id in &ledger.running {
        let Ok(inspected) = docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
        else {
            continue; // removed since (e.g. `compose down`): nothing to put back
        };
        let Some(c) = from_inspect(&ledger.scope, &inspected) else {
            continue;
        };
        match c.state {
            State::Paused => match docker.unpause_container(id).await {
                Err(e) if !already_there(&e) => done
                    .errors
                    .push(DockerError::api(format!("resuming {}", c.name), e).to_string()),
                _ => done.resumed.push(c.name),
            },
            State::Stopped => {
                match docker
                    .start_container(id, None::<StartContainerOptions>)
                    .await
                {
                    Err(e) if !already_there(&e) => done
                        .errors
                        .push(DockerError::api(format!("starting {}", c.name), e).to_string()),
                    _ => done.started.push(c.name),
                }
            }
            State::Running { .. } => {}
        }
    }
    Ok(done)
}

/// Removes every generators' service a dead run placed on `stack`'s nodes.
async fn remove_generators(docker: &Docker, stack: &str) -> Result<Vec<String>, String> {
    let fleet = Fleet::of_swarm(docker.clone())
        .await
        .unwrap_or_else(|_| Fleet::one(docker.clone()));
    crate::target::swarm::generators::remove_all(&fleet, stack)
        .await
        .map_err(|e| e.to_string())
}

/// Resumes every paused task container of a stack; a stack that has no running task left is
/// nothing to repair.
async fn resume_stack(docker: &Docker, scope: &Scope) -> Result<Repaired, DockerError> {
    let mut done = Repaired::default();
    // Each node's engine pauses its own tasks; one fgchaos cannot reach is named, and the
    // manager's own tasks are still resumed.
    let fleet = match Fleet::of_swarm(docker.clone()).await {
        Ok(fleet) => fleet,
        Err(e) => {
            done.errors.push(e.to_string());
            Fleet::one(docker.clone())
        }
    };
    let project = match Project::discover(&fleet, scope).await {
        Ok(p) => p,
        Err(DockerError::StackNotFound { .. }) => return Ok(done),
        Err(e) => return Err(e),
    };
    for c in project.containers.values() {
        if c.state != State::Paused {
            continue;
        }
        match fleet
            .engine(c.node.as_deref())
            .unpause_container(&c.id)
            .await
        {
            Err(e) if !already_there(&e) => done
                .errors
                .push(DockerError::api(format!("resuming {}", c.name), e).to_string()),
            _ => done.resumed.push(c.name.clone()),
        }
    }
    Ok(done)
}
