//! One container of the project, owned: enough to inspect it, and to wait for it to be
//! healthy, without holding the target — a container's wait for readiness runs while the
//! target serves other steps.

use std::time::Instant;

use bollard::query_parameters::InspectContainerOptions;
use bollard::Docker;

use super::engine::DockerError;
use super::project::{from_inspect, Container, State};
use crate::target::TargetError;

#[derive(Clone)]
pub struct Handle {
    pub docker: Docker,
    /// The compose project it must still belong to.
    pub project: String,
    pub instance: String,
    pub id: String,
}

impl Handle {
    /// Inspects the container afresh, refusing one that is no longer the project's.
    pub async fn inspect(&self) -> Result<Container, TargetError> {
        let c = self
            .docker
            .inspect_container(&self.id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| DockerError::api(format!("inspecting {}", self.instance), e))?;
        from_inspect(&self.project, &c).ok_or_else(|| {
            DockerError::Foreign {
                id: self.id.clone(),
                project: self.project.clone(),
            }
            .into()
        })
    }

    /// Until the container runs and, if it has a healthcheck, passes it: run by the harness
    /// every [`super::readiness::EVERY`], or reported healthy by the engine.
    pub async fn wait_healthy(&self, deadline: Instant) -> Result<(), TargetError> {
        let started = Instant::now();
        loop {
            let c = self.inspect().await?;
            let ready = match (&c.state, &c.probe) {
                (
                    State::Running {
                        healthy: Some(true),
                    },
                    _,
                )
                | (State::Running { .. }, None) => true,
                // Its own check, run now: the engine's next one may be an interval away.
                (State::Running { .. }, Some(cmd)) => {
                    super::readiness::passes(&self.docker, &c.id, cmd).await?
                }
                _ => false,
            };
            if ready {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(DockerError::Unhealthy {
                    instance: self.instance.clone(),
                    name: c.name,
                    state: c.state.describe().to_owned(),
                    waited_s: started.elapsed().as_secs(),
                }
                .into());
            }
            tokio::time::sleep(super::readiness::EVERY).await;
        }
    }
}
