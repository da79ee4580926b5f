//! One container of the project, owned: enough to inspect it, and to wait for it to be
//! healthy — or, on a swarm stack, for the task the orchestrator starts in its place — without
//! holding the target: a container's wait for readiness runs while the target serves other
//! steps.

use std::time::Instant;

use bollard::query_parameters::InspectContainerOptions;
use bollard::Docker;

use super::engine::DockerError;
use super::fleet::Fleet;
use super::project::{from_inspect, Container, Project, Scope, State};
use crate::target::{Replacement, TargetError};

#[derive(Clone)]
pub struct Handle {
    /// Every engine of the scope: a replacement task may start on another node.
    pub fleet: Fleet,
    /// The compose project or swarm stack it must still belong to.
    pub scope: Scope,
    pub instance: String,
    pub id: String,
    /// The swarm node the container runs on, whose engine alone can act on it.
    pub node: Option<String>,
}

impl Handle {
    /// `c`, an instance of `scope` found on `fleet`.
    pub fn of(fleet: &Fleet, scope: &Scope, c: &Container) -> Handle {
        Handle {
            fleet: fleet.clone(),
            scope: scope.clone(),
            instance: c.instance.clone(),
            id: c.id.clone(),
            node: c.node.clone(),
        }
    }

    /// The engine that runs the container.
    pub fn docker(&self) -> &Docker {
        self.fleet.engine(self.node.as_deref())
    }

    /// Inspects the container afresh, refusing one that is no longer the project's.
    pub async fn inspect(&self) -> Result<Container, TargetError> {
        let c = self
            .docker()
            .inspect_container(&self.id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| DockerError::api(format!("inspecting {}", self.instance), e))?;
        from_inspect(&self.scope, &c).ok_or_else(|| {
            DockerError::Foreign {
                id: self.id.clone(),
                scope: self.scope.describe(),
            }
            .into()
        })
    }

    /// Until Swarm has started a task in this instance's slot — another than the container
    /// `ended`, when given — and it is ready. Swarm replaces an ended task with a new container
    /// (new id, name and address), and ignores a start of the old one; the replacement may
    /// exist, created but not running, before it starts. How long it took, counted from this
    /// call, is the reschedule the report shows.
    pub async fn wait_replaced(
        &self,
        ended: Option<&str>,
        deadline: Instant,
    ) -> Result<Replacement, TargetError> {
        let from = Instant::now();
        let next = loop {
            // A stack with no task running at all (its node drained, just activated) has no
            // replacement yet either.
            let project = match Project::discover(&self.fleet, &self.scope).await {
                Err(DockerError::StackNotFound { .. }) => Project {
                    scope: self.scope.clone(),
                    containers: Default::default(),
                },
                other => other?,
            };
            match project.get(&self.instance) {
                Some(c) if Some(c.id.as_str()) != ended && c.state != State::Stopped => {
                    break c.clone()
                }
                _ if Instant::now() >= deadline => {
                    return Err(DockerError::NotReplaced {
                        instance: self.instance.clone(),
                        waited_s: from.elapsed().as_secs(),
                    }
                    .into())
                }
                // As often as a readiness check: each look inspects every task of the stack.
                _ => tokio::time::sleep(super::readiness::EVERY).await,
            }
        };
        let replacement = Handle::of(&self.fleet, &self.scope, &next);
        replacement.wait_healthy(deadline).await?;
        Ok(Replacement {
            container: next.name,
            ready_after_ms: u64::try_from(from.elapsed().as_millis()).unwrap_or(u64::MAX),
            slots: None,
        })
    }

    /// Until the container runs and, if it has a healthcheck, passes it: run by the harness
    /// every [`super::readiness::EVERY`], or reported healthy by the engine — unless a
    /// `fluxgate.ready` label says readiness apart, which must pass itself.
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
                ) if !c.probe_decides => true,
                (State::Running { .. }, None) => true,
                // Its own check, run now: the engine's next one may be an interval away.
                (State::Running { .. }, Some(cmd)) => {
                    super::readiness::passes(self.docker(), &c.id, cmd).await?
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
