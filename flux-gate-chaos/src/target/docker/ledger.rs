//! The attach ledger: which containers were running when a run attached to a project, kept in
//! the run directory until the run has put everything back. A run that crashed (or was killed)
//! leaves it behind; `fgchaos cleanup --target docker` reads it to repair the project.

use std::path::{Path, PathBuf};

use bollard::query_parameters::{InspectContainerOptions, StartContainerOptions};
use serde::{Deserialize, Serialize};

use super::engine::{self, already_there, DockerError};
use super::project::{from_inspect, State};
use crate::target::TargetError;

const FILE: &str = "docker-attach.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    pub project: String,
    /// Ids of the containers that were running (or paused) at attach.
    pub running: Vec<String>,
    /// Toxiproxy's API, once known: its fgchaos toxics are removed on repair.
    pub toxiproxy: Option<String>,
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

    /// Records left under `work_dir` (one level down: run directories) for `project`.
    pub fn find(work_dir: &Path, project: &str) -> Vec<(PathBuf, Ledger)> {
        let Ok(entries) = std::fs::read_dir(work_dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                let r = Ledger::read(&e.path())?;
                (r.project == project).then_some((e.path(), r))
            })
            .collect()
    }
}

/// What a repair did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Repaired {
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
    let mut done = Repaired::default();
    for id in &ledger.running {
        let Ok(inspected) = docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
        else {
            continue; // removed since (e.g. `compose down`): nothing to put back
        };
        let Some(c) = from_inspect(&ledger.project, &inspected) else {
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
