//! Where the stack runs. A [`Target`] starts or finds the stack, says where everything is
//! ([`Endpoints`]), and applies lifecycle faults to service instances. Network faults do not
//! go through the target: both targets expose Toxiproxy's API, driven by one client.
//!
//! Two implementations serve three kinds: [`local`] starts the whole stack as processes on
//! loopback and stops it after; [`docker`] attaches to a running Docker Compose project, or to
//! a deployed Docker Swarm stack ([`swarm`] deploys it), and leaves it running.

pub mod docker;
pub mod local;
pub mod placement;
pub mod redis_ha;
pub mod swarm;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::scenario::validate::Names;

/// Where a running stack can be reached (recorded in the journal).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Endpoints {
    /// Base URL load goes to (`POST /order`, `POST /init`).
    pub entry: String,
    /// Toxiproxy API base URL.
    pub toxiproxy: String,
    /// Bearer token for `POST /init`.
    pub admin_token: String,
    /// Direct Redis URL for reading the final state.
    pub redis: String,
    /// Direct PostgreSQL URL for reading the final state.
    pub database: String,
    /// Kafka bootstrap brokers. Empty when the host cannot reach the brokers (a compose
    /// network's advertised names): the consumer lag is then read from the workers' `/metrics`.
    pub kafka: String,
    /// The worker's Kafka consumer group.
    pub consumer_group: String,
    /// Base URLs of the workers' `/metrics`.
    pub workers: Vec<String>,
    /// Instance name → `host:port`.
    pub services: BTreeMap<String, String>,
    /// Link (proxy) name → its ends.
    pub links: BTreeMap<String, LinkEnds>,
    /// Redis with Sentinel: the harness then reads whichever instance is primary now, and
    /// faults may name `redis-primary` / `redis-replica`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_ha: Option<redis_ha::RedisTopology>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LinkEnds {
    pub listen: String,
    pub upstream: String,
    pub description: String,
}

/// What a run ran against, for the journal: enough to tell two runs' stacks apart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// `Docker Engine 20.10.24 (API 1.41)`; absent on the local target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// The compose project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Every container: instance, name, id, image and the image id it resolved to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<crate::target::docker::Container>,
}

/// What a lifecycle fault does to one instance: pure data, defined with the fault actions.
pub use crate::scenario::fault::{Lifecycle, NodeOp};

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("no service instance `{0}` in this stack")]
    NoSuchInstance(String),
    #[error("{0}")]
    Component(#[from] flux_gate_testbed::Error),
    #[error("fault proxy: {0}")]
    Proxy(#[from] crate::toxiproxy::ClientError),
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Docker(#[from] crate::target::docker::DockerError),
    #[error(transparent)]
    Roles(#[from] redis_ha::RolesError),
    #[error("this stack has no Redis Sentinel (`redis_ha` in the stack file)")]
    NoRedisHa,
    #[error(transparent)]
    Swarm(#[from] crate::target::swarm::SwarmError),
    #[error("this target runs on no swarm nodes: a node fault needs `--target swarm`")]
    NoNodes,
    #[error("this target runs no swarm services: a `scale` fault needs `--target swarm`")]
    NoSwarmServices,
}

/// What a lifecycle step leaves to wait for once it took effect: the instance it started
/// becoming ready — or, on Swarm, the task the orchestrator starts in place of one a fault
/// ended. Owned (it borrows nothing of the target), so the wait runs while the target
/// serves other steps: an API started while Redis is paused must not hold back Redis's resume
/// for its 30 s ready timeout (docs/decisions.md §48).
#[must_use = "a started instance is not ready until its readiness is awaited"]
pub struct Readiness(Option<futures::future::BoxFuture<'static, Result<Ready, TargetError>>>);

/// How a lifecycle step's instance came to serve again.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ready {
    /// The new task an orchestrator started in its place (Swarm), when it was one.
    pub replacement: Option<Replacement>,
}

/// A task Swarm started in place of one a fault ended: part of the system under test, so the
/// fault timeline shows it (docs/swarm.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replacement {
    /// The new task's container.
    pub container: String,
    /// From the end of the old task until the new one was running and passed its healthcheck.
    pub ready_after_ms: u64,
    /// After a node came back: how many slots were waited for, `container` being the last to
    /// serve and `ready_after_ms` counted from the activation. None for one task's replacement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots: Option<u32>,
}

impl Readiness {
    /// Nothing to wait for: the step was done when it returned (a kill, a pause).
    pub fn now() -> Self {
        Readiness(None)
    }

    /// Ready once `wait` returns.
    pub fn after(
        wait: impl std::future::Future<Output = Result<(), TargetError>> + Send + 'static,
    ) -> Self {
        use futures::FutureExt;
        Readiness(Some(Box::pin(wait.map(|r| r.map(|()| Ready::default())))))
    }

    /// Ready once `wait` has seen a replacement task serve.
    pub fn replaced(
        wait: impl std::future::Future<Output = Result<Replacement, TargetError>> + Send + 'static,
    ) -> Self {
        use futures::FutureExt;
        Readiness(Some(Box::pin(wait.map(|r| {
            r.map(|replacement| Ready {
                replacement: Some(replacement),
            })
        }))))
    }

    /// Until the instance is ready, or why it never became so.
    pub async fn wait(self) -> Result<Ready, TargetError> {
        match self.0 {
            Some(wait) => wait.await,
            None => Ok(Ready::default()),
        }
    }
}

/// A running stack that faults can be applied to.
#[async_trait::async_trait]
pub trait Target: Send {
    /// Where the stack's entry, stores, proxy and services are reached now.
    fn endpoints(&self) -> &Endpoints;
    /// Services, replica groups and links faults may name.
    fn names(&self) -> Names;
    /// The instances of a service or replica group (`ingestion-api` → `#1`, `#2`).
    fn instances_of(&self, service: &str) -> Vec<String>;
    /// Applies `op` to one instance; returns once it took effect, with what is left before the
    /// instance serves again: a start's wait for readiness, which the caller awaits without
    /// holding the target, so that steps on other instances need not wait for it.
    async fn lifecycle(&mut self, instance: &str, op: Lifecycle) -> Result<Readiness, TargetError>;
    /// The instance holding a role (`redis-primary`, `redis-replica`) now.
    async fn resolve_role(&mut self, role: &str) -> Result<String, TargetError> {
        match &self.endpoints().redis_ha {
            Some(t) => Ok(t.resolve(role).await?),
            None => Err(TargetError::NoRedisHa),
        }
    }
    /// The peer link of the instance holding a role now (the link its replicas and the
    /// Sentinels reach it through), and that instance: what a link fault naming the role cuts.
    async fn resolve_link_role(&mut self, role: &str) -> Result<(String, String), TargetError> {
        match &self.endpoints().redis_ha {
            Some(t) => Ok(t.resolve_peer_link(role).await?),
            None => Err(TargetError::NoRedisHa),
        }
    }
    /// Asks a Sentinel to fail the Redis primary over to a replica.
    async fn failover(&mut self) -> Result<(), TargetError> {
        match &self.endpoints().redis_ha {
            Some(t) => Ok(t.failover().await?),
            None => Err(TargetError::NoRedisHa),
        }
    }
    /// Sets a swarm node's availability (a drain, or an activate); returns once the manager
    /// took it, with what is left: a drain's wait until the node runs none of the stack's
    /// tasks, an activate's until every task that ran at the attach serves again. Only a
    /// swarm stack has nodes.
    async fn node(&mut self, _node: &str, _op: NodeOp) -> Result<Readiness, TargetError> {
        Err(TargetError::NoNodes)
    }
    /// Sets a swarm service's replica count; returns once the manager took it, with the wait
    /// until exactly that many of its tasks serve. Only a swarm stack has services to scale
    /// (the other targets' copies are `scale:` with `started:`).
    async fn scale(&mut self, _service: &str, _replicas: u32) -> Result<Readiness, TargetError> {
        Err(TargetError::NoSwarmServices)
    }
    /// Reads again where everything is, after the stack changed by itself: Swarm replaced a
    /// task (a new container at a new address). Nothing to do where only faults move things.
    async fn reread(&mut self) -> Result<(), TargetError> {
        Ok(())
    }
    /// Resumes paused and starts stopped instances: the state the run began in. An instance
    /// the stack created stopped (`started:`) is not started by this: it began stopped.
    async fn restore(&mut self) -> Result<(), TargetError>;
    /// Stops what this target started; `keep` leaves the run directory on disk.
    async fn teardown(&mut self, keep: bool) -> Result<(), TargetError>;
    /// Directory holding one log file per service, if any.
    fn logs(&self) -> Option<std::path::PathBuf>;
    /// Where the load's generators run when a run has several (`generators: n`) and the stack
    /// has nodes of its own to spread them over: a swarm stack's. None: in the run's process.
    fn generator_host(
        &self,
        _run: &str,
    ) -> Result<Option<Box<dyn placement::GeneratorHost>>, TargetError> {
        Ok(None)
    }
    /// Engine, images and containers, for the journal (nothing on the local target).
    fn environment(&self) -> Environment {
        Environment::default()
    }
}
