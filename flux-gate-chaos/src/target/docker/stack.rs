//! The docker target: a running compose project, or a deployed swarm stack, driven through the
//! Docker API.
//!
//! fgchaos does not create the project (compose or `fgchaos up --target swarm` owns that): it
//! attaches to it, waits until it is healthy, remembers which containers were running, applies
//! lifecycle faults to them by id, and on every exit puts back what it changed. It never stops
//! or removes the project.
//!
//! A stack differs in one way, which [`DockerTarget::start`] holds: Swarm replaces a task that
//! ended (killed or stopped) with a new container in the same slot, and ignores a start of the
//! old one. So on a stack a kill or stop is followed by a wait for that replacement, which is
//! the system's own recovery and shows in the fault timeline, and a start waits for it too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::query_parameters::{
    KillContainerOptions, LogsOptionsBuilder, StartContainerOptions, StopContainerOptions,
};
use bollard::Docker;
use futures::StreamExt;

use super::engine::{self, already_there, DockerError};
use super::fleet::Fleet;
use super::handle::Handle;
use super::ledger::Ledger;
use super::project::{Container, Project, Scope, State};
use super::spec::DockerSpec;
use crate::scenario::validate::{Names, RedisNames};
use crate::scenario::Scale;
use crate::target::local::template::Vars;
use crate::target::placement::GeneratorHost;
use crate::target::redis_ha::RedisTopology;
use crate::target::swarm::generators::SwarmGenerators;
use crate::target::swarm::isolation::{self, Isolated};
use crate::target::swarm::nodes::{self, SwarmNode};
use crate::target::swarm::replicas;
use crate::target::{
    Endpoints, Environment, Lifecycle, LinkEnds, NodeOp, Readiness, Target, TargetError,
};
use crate::toxiproxy;

/// How long a held-back instance may take to stop cleanly (a worker leaves its group).
const HOLD_BACK_GRACE_MS: u64 = 10_000;

pub struct DockerTarget {
    /// The engine it was pointed at, and on a swarm of several nodes each node's.
    fleet: Fleet,
    spec: DockerSpec,
    project: Project,
    endpoints: Endpoints,
    engine: String,
    reset_peer: bool,
    /// Instances running when the run attached, less those held back: what `restore` brings
    /// back. One-shot containers (migrations, topic creation) exited before and stay exited.
    baseline: BTreeSet<String>,
    /// Instances the scenario starts later (`scale: … started:`), stopped at the attach and
    /// started again when the run ends.
    held_back: Vec<String>,
    /// The run directory: logs and the attach ledger.
    dir: PathBuf,
    /// Unix time of the attach: logs are collected from here.
    since: i64,
    /// A stack's swarm nodes as they were at the attach: what node faults may name, and the
    /// ones active then are activated again by `restore`. None on a compose project.
    nodes: Vec<SwarmNode>,
    /// Nodes an `isolate` cut off and no `rejoin` has joined again: `restore` does, and the
    /// ledger names them for a guardian.
    isolated: Vec<Isolated>,
    /// Services a `scale` fault changed and no heal set back: `restore` sets each back to its
    /// count at the attach, and the ledger names them for a guardian.
    scaled: BTreeMap<String, Scaled>,
    /// What the attach recorded, rewritten when `isolated` or `scaled` changes.
    ledger: Ledger,
}

impl DockerTarget {
    /// Finds `scope`, checks it against the scenario's `scale` and stops the instances that
    /// scale holds back (the scenario starts them later), waits for the other running
    /// containers to be healthy, and records what it found in
    /// `dir` (so `fgchaos cleanup` can repair after a crash).
    ///
    /// A stack is first waited on until every service runs as many serving tasks as it asks
    /// for: one a crashed run's guardian has just scaled back may not have them all yet, and
    /// the run's plan reads each service's tasks as the count a `scale` heals to.
    pub async fn attach(
        spec: DockerSpec,
        scope: &Scope,
        scale: &BTreeMap<String, Scale>,
        dir: &Path,
    ) -> Result<Self, TargetError> {
        let (fleet, engine) = connect(scope).await?;
        if let Scope::Stack(stack) = scope {
            let timeout = spec.health_timeout.get();
            crate::target::swarm::deploy::wait_serving(&fleet, stack, timeout).await?;
        }
        let docker = fleet.manager();
        let project = find_project(&fleet, &spec, scope, scale).await?;
        let nodes = swarm_nodes(docker, scope).await?;
        let jobs = match scope {
            Scope::Stack(stack) => crate::target::swarm::deploy::job_names(docker, stack).await?,
            Scope::Compose(_) => Vec::new(),
        };
        let running = running_instances(&project, &jobs);
        let (held_back, baseline) = held_back_and_baseline(scale, &project, &running);
        std::fs::create_dir_all(dir.join("logs"))
            .map_err(|e| TargetError::Setup(format!("creating {}: {e}", dir.display())))?;
        let ledger = Ledger {
            scope: project.scope.clone(),
            running: running
                .iter()
                .filter_map(|i| project.containers.get(i))
                .map(|c| c.id.clone())
                .collect(),
            toxiproxy: None,
            nodes: active_ids(&nodes),
            isolated: Vec::new(),
            scaled: BTreeMap::new(),
        };
        // Written before the health wait, so a harness killed while waiting leaves a ledger
        // too; written again below once the Toxiproxy API is known.
        ledger.write(dir)?;
        let since = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut t = DockerTarget {
            fleet,
            spec,
            project,
            endpoints: Endpoints::default(),
            engine,
            reset_peer: false,
            baseline,
            held_back,
            dir: dir.to_owned(),
            since,
            nodes,
            isolated: Vec::new(),
            scaled: BTreeMap::new(),
            ledger: ledger.clone(),
        };
        t.stop_held_back().await?;
        let deadline = Instant::now() + t.spec.health_timeout.get();
        t.wait_baseline_healthy(deadline).await?;
        t.read_links(deadline).await?;
        t.ledger.toxiproxy = Some(t.endpoints.toxiproxy.clone());
        t.ledger.write(dir)?;
        Ok(t)
    }

    async fn stop_held_back(&self) -> Result<(), TargetError> {
        for inst in &self.held_back {
            tracing::info!(instance = %inst, "held back until a fault starts it (`scale: … started:`)");
            self.stop(inst, HOLD_BACK_GRACE_MS).await?;
        }
        Ok(())
    }

    /// Resumes the paused containers (a crashed earlier run), then waits until every
    /// baseline instance is healthy: load starts only on a healthy project.
    async fn wait_baseline_healthy(&mut self, deadline: Instant) -> Result<(), TargetError> {
        for inst in self.baseline.clone() {
            if self.state_of(&inst).await? == State::Paused {
                self.pause(&inst, false).await?;
            }
        }
        for inst in &self.baseline {
            self.wait_healthy(inst, deadline).await?;
        }
        Ok(())
    }

    /// Reads the endpoints of the now healthy project, then the proxy's links (checked
    /// against the Redis topology) and whether it can reset peers.
    async fn read_links(&mut self, deadline: Instant) -> Result<(), TargetError> {
        self.refresh().await?;
        let proxy = toxiproxy::Client::new(self.endpoints.toxiproxy.clone());
        let (reset_peer, links) = links_of(&proxy, deadline).await?;
        super::redis_ha::check_peer_links(
            self.endpoints.redis_ha.as_ref(),
            &links,
            self.project.name(),
        )?;
        self.reset_peer = reset_peer;
        self.endpoints.links = links;
        Ok(())
    }

    /// Re-reads the project (addresses can change when a container restarts) and rebuilds the
    /// endpoints from it.
    async fn refresh(&mut self) -> Result<(), TargetError> {
        self.rediscover().await?;
        Ok(self.rebuild_endpoints()?)
    }

    /// The endpoints from the project as last discovered; the proxy's links stay (they are
    /// read from the proxy, not the project), also when the endpoints cannot be built.
    fn rebuild_endpoints(&mut self) -> Result<(), DockerError> {
        let ep = endpoints(&self.spec, &self.project)?;
        let links = std::mem::take(&mut self.endpoints.links);
        self.endpoints = Endpoints { links, ..ep };
        Ok(())
    }

    /// Re-reads which container is each instance now (on a stack, a slot's task changes when
    /// Swarm replaces it), leaving the endpoints as they are: while a store's container is down
    /// it has no address to build them from.
    async fn rediscover(&mut self) -> Result<(), TargetError> {
        self.project = Project::discover(&self.fleet, &self.project.scope).await?;
        Ok(())
    }

    fn container(&self, instance: &str) -> Result<&Container, TargetError> {
        self.project
            .get(instance)
            .ok_or_else(|| TargetError::NoSuchInstance(instance.to_owned()))
    }

    /// `instance`'s container, owned: for a wait that must not hold the target.
    fn handle(&self, instance: &str) -> Result<Handle, TargetError> {
        Ok(Handle::of(
            &self.fleet,
            &self.project.scope,
            self.container(instance)?,
        ))
    }

    /// Every slot that ran at the attach, by instance and not by container: what a stack must
    /// run again after a node comes back (a drained node's tasks are new containers). A slot a
    /// scale-down removed runs no task until the scale back, and is not one.
    fn slots(&self) -> Vec<Handle> {
        self.baseline
            .iter()
            .filter(|instance| slot_runs(instance, &self.scaled))
            .map(|instance| Handle {
                fleet: self.fleet.clone(),
                scope: self.project.scope.clone(),
                instance: instance.clone(),
                id: String::new(),
                node: None,
            })
            .collect()
    }

    /// Inspects `instance` afresh, refusing a container that is no longer the project's.
    async fn inspect(&self, instance: &str) -> Result<Container, TargetError> {
        self.handle(instance)?.inspect().await
    }

    async fn state_of(&self, instance: &str) -> Result<State, TargetError> {
        Ok(self.inspect(instance).await?.state)
    }

    async fn wait_healthy(&self, instance: &str, deadline: Instant) -> Result<(), TargetError> {
        self.handle(instance)?.wait_healthy(deadline).await
    }

    /// Until `instance` is no longer running (a kill is asynchronous).
    async fn wait_stopped(&self, instance: &str) -> Result<(), TargetError> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.state_of(instance).await? != State::Stopped {
            if Instant::now() >= deadline {
                return Err(TargetError::Setup(format!(
                    "{instance} still runs 30 s after being killed"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// `instance`'s container, checked afresh to be the project's, and the engine it runs on.
    async fn live(&self, instance: &str) -> Result<(String, Docker), TargetError> {
        let handle = self.handle(instance)?;
        let id = handle.inspect().await?.id;
        Ok((id, handle.docker().clone()))
    }

    /// Starts `instance` without waiting for it to be healthy.
    async fn start_container(&self, instance: &str) -> Result<(), TargetError> {
        let (id, docker) = self.live(instance).await?;
        match docker
            .start_container(&id, None::<StartContainerOptions>)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if already_there(&e) => Ok(()),
            Err(e) => Err(DockerError::api(format!("starting {instance}"), e).into()),
        }
    }

    /// Starts `instance` and re-reads the endpoints (a started container can come back at
    /// another address); returns its wait for health. On a stack the ended task is not
    /// started: the wait is for the task Swarm starts in its slot.
    async fn start(&mut self, instance: &str) -> Result<Readiness, TargetError> {
        if let Scope::Stack(_) = self.project.scope {
            return self.rejoin(instance).await;
        }
        self.start_container(instance).await?;
        self.refresh().await?;
        let deadline = Instant::now() + self.spec.health_timeout.get();
        let handle = self.handle(instance)?;
        Ok(Readiness::after(async move {
            handle.wait_healthy(deadline).await
        }))
    }

    /// After a kill or stop of the container `ended`: nothing more on a compose project (it
    /// stays down until a start); on a stack, the wait for the task Swarm starts in its place.
    fn replaced_on_a_stack(&self, ended: Handle) -> Readiness {
        match self.project.scope {
            Scope::Stack(_) => {
                let deadline = Instant::now() + self.spec.health_timeout.get();
                Readiness::replaced(
                    async move { ended.wait_replaced(Some(&ended.id), deadline).await },
                )
            }
            Scope::Compose(_) => Readiness::now(),
        }
    }

    /// A stack's `instance` serving again: its slot's task now, once ready — or, when that
    /// task has ended, the one Swarm starts in its place (any that runs: an ended task never
    /// runs again).
    async fn rejoin(&mut self, instance: &str) -> Result<Readiness, TargetError> {
        self.rediscover().await?;
        let deadline = Instant::now() + self.spec.health_timeout.get();
        let handle = self.handle(instance)?;
        if handle.inspect().await?.state == State::Stopped {
            Ok(Readiness::replaced(async move {
                handle.wait_replaced(None, deadline).await
            }))
        } else {
            Ok(Readiness::after(async move {
                handle.wait_healthy(deadline).await
            }))
        }
    }

    /// SIGKILL, and wait until the engine sees it stopped (a kill is asynchronous).
    async fn kill(&self, instance: &str) -> Result<(), TargetError> {
        let (id, docker) = self.live(instance).await?;
        match docker
            .kill_container(&id, Some(KillContainerOptions::default()))
            .await
        {
            Ok(()) => {}
            Err(e) if already_there(&e) => {}
            Err(e) => return Err(DockerError::api(format!("killing {instance}"), e).into()),
        }
        self.wait_stopped(instance).await
    }

    /// Pauses (`on`) or resumes `instance`; one already so is left as it is.
    async fn pause(&self, instance: &str, on: bool) -> Result<(), TargetError> {
        let (id, docker) = self.live(instance).await?;
        let (result, what) = if on {
            (docker.pause_container(&id).await, "pausing")
        } else {
            (docker.unpause_container(&id).await, "resuming")
        };
        match result {
            Err(e) if !already_there(&e) => {
                Err(DockerError::api(format!("{what} {instance}"), e).into())
            }
            _ => Ok(()),
        }
    }

    async fn stop(&self, instance: &str, grace_ms: u64) -> Result<(), TargetError> {
        let (id, docker) = self.live(instance).await?;
        // The engine takes whole seconds; round up so the grace is never shorter than asked.
        let t = grace_ms.div_ceil(1000).min(i32::MAX as u64) as i32;
        match docker
            .stop_container(
                &id,
                Some(StopContainerOptions {
                    t: Some(t),
                    signal: None,
                }),
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if already_there(&e) => Ok(()),
            Err(e) => Err(DockerError::api(format!("stopping {instance}"), e).into()),
        }
    }

    /// Writes every container's log since the attach to `logs/<instance>.log`.
    async fn collect_logs(&self) {
        let dir = self.dir.join("logs");
        for c in self.project.containers.values() {
            let opts = LogsOptionsBuilder::new()
                .stdout(true)
                .stderr(true)
                .timestamps(true)
                .since(i32::try_from(self.since).unwrap_or(0))
                .build();
            let docker = self.fleet.engine(c.node.as_deref());
            let mut stream = docker.logs(&c.id, Some(opts));
            let mut text = Vec::new();
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(out) => text.extend_from_slice(&out.into_bytes()),
                    Err(e) => {
                        text.extend_from_slice(
                            format!("\n(fgchaos: log stream: {e})\n").as_bytes(),
                        );
                        break;
                    }
                }
            }
            let file = dir.join(format!("{}.log", c.instance.replace('#', "-")));
            if let Err(e) = std::fs::write(&file, text) {
                tracing::warn!(file = %file.display(), error = %e, "writing a container log");
            }
        }
    }
}

impl DockerTarget {
    /// The node a fault names, as the attach found it (a hostname or an id).
    fn swarm_node(&self, node: &str) -> Result<SwarmNode, TargetError> {
        self.nodes
            .iter()
            .find(|n| n.id == node || n.hostname == node)
            .cloned()
            .ok_or_else(|| TargetError::Setup(format!("the swarm has no node `{node}`")))
    }

    /// `isolate`: the node cut from the others, recorded first (a guardian joins it again),
    /// then the wait until the tasks it ran serve elsewhere.
    async fn isolate_node(
        &mut self,
        node: &str,
        deadline: Instant,
    ) -> Result<Readiness, TargetError> {
        let n = self.swarm_node(node)?;
        let ran_there: Vec<Handle> = self
            .project
            .containers
            .values()
            .filter(|c| c.node.as_deref() == Some(n.id.as_str()) && c.state != State::Stopped)
            // A global service's task is its node's own: Swarm starts no other for it.
            .filter(|c| !c.global)
            .map(|c| Handle::of(&self.fleet, &self.project.scope, c))
            .filter(|h| self.baseline.contains(&h.instance))
            .collect();
        if !self.isolated.iter().any(|i| i.id == n.id) {
            self.isolated.push(Isolated {
                id: n.id.clone(),
                hostname: n.hostname.clone(),
                engine: self.fleet.address(&n.id).map(str::to_owned),
                image: self.spec.node_tool.clone(),
            });
            self.record_changes()?;
        }
        isolation::isolate(
            &self.fleet,
            &n,
            &self.nodes,
            &self.spec.node_tool,
            ran_there,
            deadline,
        )
        .await
    }

    /// `rejoin`: the node's cut removed, then the wait until the managers see it ready.
    async fn rejoin_node(
        &mut self,
        node: &str,
        deadline: Instant,
    ) -> Result<Readiness, TargetError> {
        let n = self.swarm_node(node)?;
        let readiness = isolation::rejoin(&self.fleet, &n, &self.spec.node_tool, deadline).await?;
        self.isolated.retain(|i| i.id != n.id);
        self.record_changes()?;
        Ok(readiness)
    }

    /// `scale`: the service's count at the attach recorded first (a guardian sets it back),
    /// then the update, then the wait until exactly `replicas` of its tasks serve. A scale
    /// back to that count takes the service off the record.
    async fn scale_service(
        &mut self,
        stack: &str,
        service: &str,
        replicas: u32,
    ) -> Result<Readiness, TargetError> {
        let manager = self.fleet.manager().clone();
        if !self.scaled.contains_key(service) {
            let had = replicas::count(&manager, stack, service).await?;
            let at_attach = Scaled {
                at_attach: had,
                now: None,
            };
            self.scaled.insert(service.to_owned(), at_attach);
            self.record_changes()?;
        }
        replicas::set(&manager, stack, service, replicas).await?;
        match self.scaled.get_mut(service) {
            Some(s) if s.at_attach == replicas => {
                self.scaled.remove(service);
                self.record_changes()?;
            }
            Some(s) => s.now = Some(replicas),
            None => {}
        }
        let (fleet, stack, service) = (self.fleet.clone(), stack.to_owned(), service.to_owned());
        let deadline = Instant::now() + self.spec.health_timeout.get();
        Ok(Readiness::after(async move {
            Ok(replicas::wait(&fleet, &stack, &service, replicas, deadline).await?)
        }))
    }

    /// Sets every service a `scale` fault left changed back to its count at the attach, then
    /// waits until each runs that many serving tasks. Each is tried whatever the others did; one
    /// that could not be set back stays on the ledger, for the guardian.
    async fn scale_back(&mut self, deadline: Instant) -> Result<(), TargetError> {
        let Scope::Stack(stack) = self.project.scope.clone() else {
            return Ok(());
        };
        let mut errors = Vec::new();
        let mut set = Vec::new();
        for (service, scaled) in self.scaled.clone() {
            let replicas = scaled.at_attach;
            match replicas::set(self.fleet.manager(), &stack, &service, replicas).await {
                Ok(()) => {
                    self.scaled.remove(&service);
                    self.record_changes()?;
                    set.push((service, replicas));
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        for (service, replicas) in set {
            if let Err(e) = replicas::wait(&self.fleet, &stack, &service, replicas, deadline).await
            {
                errors.push(e.to_string());
            }
        }
        match errors.is_empty() {
            true => Ok(()),
            false => Err(TargetError::Setup(errors.join("; "))),
        }
    }

    /// Writes the nodes cut off and the services scaled now to the ledger.
    fn record_changes(&mut self) -> Result<(), TargetError> {
        self.ledger.isolated = self.isolated.clone();
        self.ledger.scaled = (self.scaled.iter())
            .map(|(service, s)| (service.clone(), s.at_attach))
            .collect();
        self.ledger.write(&self.dir)
    }
}

/// A service a `scale` fault changed: the count it ran at the attach, which `restore` and a
/// guardian set back, and the count it is set to now (none until the engine took one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Scaled {
    at_attach: u32,
    now: Option<u32>,
}

/// Whether `instance`'s slot is one its service runs now: every slot, but those above the
/// count a `scale` set — a scale-down removed their tasks.
fn slot_runs(instance: &str, scaled: &BTreeMap<String, Scaled>) -> bool {
    let (service, number) = match instance.split_once('#') {
        Some((service, n)) => (service, n.parse().unwrap_or(1)),
        None => (instance, 1),
    };
    (scaled.get(service).and_then(|s| s.now)).is_none_or(|now| number <= now)
}

/// Where everything is, from the spec and the discovered project.
fn endpoints(spec: &DockerSpec, project: &Project) -> Result<Endpoints, DockerError> {
    let published = |service: &str, port: u16| -> Result<String, DockerError> {
        let c = project.first(service)?;
        c.published
            .get(&port)
            .map(|a| format!("http://{a}"))
            .ok_or_else(|| DockerError::NotPublished {
                service: service.to_owned(),
                port,
            })
    };
    let mut vars = Vars::default();
    for c in project.containers.values() {
        if let Some(ip) = c.ip {
            vars.values
                .entry(format!("ip.{}", c.service))
                .or_insert_with(|| ip.to_string());
            vars.set(format!("ip.{}", c.instance), ip.to_string());
        }
    }
    let expand = |what: &str, text: &str| {
        vars.expand(text).map_err(|e| DockerError::Api {
            what: format!("docker stack `state.{what}`"),
            reason: e,
        })
    };
    let token_from = project.first(&spec.admin_token.service)?;
    Ok(Endpoints {
        entry: published(&spec.entry.service, spec.entry.port)?,
        toxiproxy: published(&spec.toxiproxy.service, spec.toxiproxy.port)?,
        admin_token: token_from
            .env
            .get(&spec.admin_token.env)
            .cloned()
            .unwrap_or_default(),
        redis: expand("redis", &spec.state.redis)?,
        database: expand("database", &spec.state.database)?,
        kafka: String::new(),
        consumer_group: spec.state.consumer_group.clone(),
        workers: project
            .instances_of(&spec.workers.service)
            .iter()
            .filter_map(|i| project.containers.get(i)?.ip)
            .map(|ip| format!("http://{ip}:{}", spec.workers.port))
            .collect(),
        services: project
            .containers
            .values()
            .map(|c| {
                let ip = c.ip.map(|i| i.to_string()).unwrap_or_default();
                (c.instance.clone(), format!("{} {ip}", c.name))
            })
            .collect(),
        links: Default::default(),
        redis_ha: match &spec.redis_ha {
            Some(ha) => super::redis_ha::topology(ha, project)?,
            None => None,
        },
    })
}

/// The engine `DOCKER_HOST` names, checked to be a swarm manager for a stack, with every
/// node's engine when the swarm has several; and the engine's version, for the run's
/// environment.
async fn connect(scope: &Scope) -> Result<(Fleet, String), TargetError> {
    let docker = engine::connect().await?;
    let version = engine_version(&docker).await?;
    let fleet = match scope {
        Scope::Stack(_) => {
            crate::target::swarm::membership::require_manager(&docker).await?;
            Fleet::of_swarm(docker).await?
        }
        Scope::Compose(_) => Fleet::one(docker),
    };
    Ok((fleet, version))
}

/// `Docker Engine <version> (API <version>)`, for the run's environment.
async fn engine_version(docker: &Docker) -> Result<String, TargetError> {
    let version = docker
        .version()
        .await
        .map_err(|e| DockerError::api("reading the engine version", e))?;
    Ok(format!(
        "Docker Engine {} (API {})",
        version.version.unwrap_or_default(),
        version.api_version.unwrap_or_default()
    ))
}

/// The project, once it has every service the harness reads and the services the
/// scenario's `scale` names, with as many replicas.
async fn find_project(
    fleet: &Fleet,
    spec: &DockerSpec,
    scope: &Scope,
    scale: &BTreeMap<String, Scale>,
) -> Result<Project, TargetError> {
    let project = Project::discover(fleet, scope).await?;
    check_roles(spec, &project)?;
    super::scale::check(scale, &project)
        .map_err(|p| TargetError::Setup(format!("`{}`: {}", p.key, p.message)))?;
    Ok(project)
}

/// Every service the stack file gives a role is in the project; else all that are missing,
/// with their roles, in one error.
fn check_roles(spec: &DockerSpec, project: &Project) -> Result<(), DockerError> {
    let mut missing: Vec<String> = Vec::new();
    for (service, role) in spec.roles() {
        let named = format!("`{service}`");
        if !project.instances_of(service).is_empty() {
            continue;
        }
        match missing.iter_mut().find(|m| m.starts_with(&named)) {
            Some(m) => m.insert_str(m.len() - 1, &format!(", {role}")),
            None => missing.push(format!("{named} ({role})")),
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(DockerError::RolesMissing {
        scope: project.scope.describe(),
        missing: missing.join(", "),
        have: project.services().join(", "),
    })
}

/// Instances running (or paused) at the attach, but a swarm job's task.
fn running_instances(project: &Project, jobs: &[String]) -> BTreeSet<String> {
    project
        .containers
        .values()
        .filter(|c| c.state != State::Stopped)
        // A swarm job's task (a migration run again after a drain) ends by itself: it is no
        // instance to bring back.
        .filter(|c| !jobs.contains(&c.service))
        .map(|c| c.instance.clone())
        .collect()
}

/// The running instances `scale` holds back (the scenario starts them later), and the rest:
/// what `restore` brings back.
fn held_back_and_baseline(
    scale: &BTreeMap<String, Scale>,
    project: &Project,
    running: &BTreeSet<String>,
) -> (Vec<String>, BTreeSet<String>) {
    let held_back: Vec<String> = super::scale::held_back(scale, project)
        .into_iter()
        .filter(|i| running.contains(i))
        .collect();
    let baseline: BTreeSet<String> = running
        .iter()
        .filter(|i| !held_back.contains(i))
        .cloned()
        .collect();
    (held_back, baseline)
}

/// A stack's swarm nodes (none for a compose project).
async fn swarm_nodes(docker: &Docker, scope: &Scope) -> Result<Vec<SwarmNode>, TargetError> {
    match scope {
        Scope::Stack(_) => Ok(nodes::list(docker).await?),
        Scope::Compose(_) => Ok(Vec::new()),
    }
}

/// The ids of the nodes that are active: what a restore or a repair activates again.
fn active_ids(nodes: &[SwarmNode]) -> Vec<String> {
    nodes
        .iter()
        .filter(|n| n.active)
        .map(|n| n.id.clone())
        .collect()
}

/// A project as validation sees it, before any run starts.
pub struct Probed {
    /// The names a scenario may use on it.
    pub names: Names,
    /// Its containers (a scenario's `scale:` is checked against them).
    pub project: Project,
    /// The engine, as `Docker Engine 20.10.24`.
    pub engine: String,
    /// Where load would go.
    pub entry: String,
    /// The fault proxy's API, and its links with their ends.
    pub toxiproxy: String,
    pub links: BTreeMap<String, LinkEnds>,
    /// Redis with Sentinel: who holds each role can be asked (a dry run shows it).
    pub redis_ha: Option<RedisTopology>,
}

/// Reads `scope` without waiting for health, and without changing anything: the names a
/// scenario may use on it, and what a dry run shows.
pub async fn probe(spec: &DockerSpec, scope: &Scope) -> Result<Probed, TargetError> {
    let (fleet, engine) = connect(scope).await?;
    let project = Project::discover(&fleet, scope).await?;
    check_roles(spec, &project)?;
    let ep = endpoints(spec, &project)?;
    let proxy = toxiproxy::Client::new(ep.toxiproxy.clone());
    let (reset_peer, links) = links_of(&proxy, Instant::now() + Duration::from_secs(10)).await?;
    super::redis_ha::check_peer_links(ep.redis_ha.as_ref(), &links, project.name())?;
    let mut names = names(
        &project,
        links.keys().cloned().collect(),
        reset_peer,
        ep.redis_ha.as_ref(),
        &spec.toxiproxy.service,
    );
    names.nodes = nodes::names(&swarm_nodes(fleet.manager(), scope).await?, &project);
    names.scalable = scalable(spec, &project);
    Ok(Probed {
        names,
        project,
        engine,
        entry: ep.entry,
        toxiproxy: ep.toxiproxy,
        links,
        redis_ha: ep.redis_ha,
    })
}

/// Whether the proxy has `reset_peer` (Shopify's has; the embedded one has not), and its
/// proxies as link ends.
async fn links_of(
    proxy: &toxiproxy::Client,
    deadline: Instant,
) -> Result<(bool, BTreeMap<String, LinkEnds>), TargetError> {
    let version = wait_for_proxy(proxy, deadline).await?;
    let links = proxy
        .proxies()
        .await?
        .into_iter()
        .map(|(name, p)| {
            (
                name,
                LinkEnds {
                    listen: p.listen,
                    upstream: p.upstream,
                    description: String::new(),
                },
            )
        })
        .collect();
    Ok((!version.contains("fgchaos"), links))
}

/// Services, replicas, links — and with Sentinel the roles `redis-primary`/`redis-replica`,
/// as services and, when the stack names the instances' peer links, as links. A search does
/// not draw the fault proxy's service, nor a service or replica with no container running
/// (a one-shot like `migrate`, an instance that exists stopped).
fn names(
    project: &Project,
    links: Vec<String>,
    reset_peer: bool,
    topology: Option<&RedisTopology>,
    proxy_service: &str,
) -> Names {
    let mut services = project.services();
    services.extend(
        project
            .containers
            .keys()
            .filter(|i| i.contains('#'))
            .cloned(),
    );
    let redis = match topology {
        None => RedisNames::Single,
        Some(t) => RedisNames::Sentinel {
            peer_links: !t.peer_links.is_empty(),
        },
    };
    let mut undrawn: Vec<String> = services
        .iter()
        .filter(|name| {
            project.instances_of(name).iter().all(|i| {
                project
                    .containers
                    .get(i)
                    .is_none_or(|c| c.state == State::Stopped)
            })
        })
        .cloned()
        .collect();
    undrawn.push(proxy_service.to_owned());
    let mut names = Names::of_stack(services, links, reset_peer, redis);
    names.undrawn = undrawn;
    names
}

/// The stack file's `scalable:` services that a swarm stack runs replicated: what a `scale`
/// fault may name. None on a compose project, and no global service (it has no count).
fn scalable(spec: &DockerSpec, project: &Project) -> Vec<String> {
    if !matches!(project.scope, Scope::Stack(_)) {
        return Vec::new();
    }
    spec.scalable
        .iter()
        .filter(|service| {
            let mut tasks = project
                .containers
                .values()
                .filter(|c| &&c.service == service)
                .peekable();
            tasks.peek().is_some() && tasks.all(|c| !c.global)
        })
        .cloned()
        .collect()
}

/// Waits for the Toxiproxy API to answer; returns its version.
async fn wait_for_proxy(
    proxy: &toxiproxy::Client,
    deadline: Instant,
) -> Result<String, TargetError> {
    loop {
        match proxy.version().await {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() >= deadline => {
                return Err(TargetError::Setup(format!(
                    "Toxiproxy's API at {} does not answer: {e}",
                    proxy.base()
                )))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

#[async_trait::async_trait]
impl Target for DockerTarget {
    fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    fn names(&self) -> Names {
        let links = self.endpoints.links.keys().cloned().collect();
        let mut names = names(
            &self.project,
            links,
            self.reset_peer,
            self.endpoints.redis_ha.as_ref(),
            &self.spec.toxiproxy.service,
        );
        names.nodes = nodes::names(&self.nodes, &self.project);
        names.scalable = scalable(&self.spec, &self.project);
        names
    }

    fn instances_of(&self, service: &str) -> Vec<String> {
        self.project.instances_of(service)
    }

    fn generator_host(&self, run: &str) -> Result<Option<Box<dyn GeneratorHost>>, TargetError> {
        let Scope::Stack(stack) = &self.project.scope else {
            return Ok(None);
        };
        // The fault proxy's image is fgchaos's own: the generators run from it.
        let image = &self.project.first(&self.spec.toxiproxy.service)?.image;
        let host = SwarmGenerators::new(self.fleet.clone(), stack, image, run);
        Ok(Some(Box::new(host)))
    }

    async fn lifecycle(&mut self, instance: &str, op: Lifecycle) -> Result<Readiness, TargetError> {
        match op {
            // The Sentinels act on the primary; no container is touched.
            Lifecycle::Failover => self.failover().await?,
            Lifecycle::Kill => {
                let ended = self.handle(instance)?;
                self.kill(instance).await?;
                return Ok(self.replaced_on_a_stack(ended));
            }
            Lifecycle::Stop { grace_ms } => {
                let ended = self.handle(instance)?;
                self.stop(instance, grace_ms).await?;
                return Ok(self.replaced_on_a_stack(ended));
            }
            Lifecycle::Start => return self.start(instance).await,
            Lifecycle::Restart { grace_ms } => {
                self.stop(instance, grace_ms).await?;
                return self.start(instance).await;
            }
            Lifecycle::Pause => self.pause(instance, true).await?,
            Lifecycle::Resume => self.pause(instance, false).await?,
        }
        Ok(Readiness::now())
    }

    async fn node(&mut self, node: &str, op: NodeOp) -> Result<Readiness, TargetError> {
        let Scope::Stack(stack) = &self.project.scope else {
            return Err(TargetError::NoNodes);
        };
        let deadline = Instant::now() + self.spec.health_timeout.get();
        match op {
            NodeOp::Drain | NodeOp::Activate => {
                let drain = op == NodeOp::Drain;
                let manager = self.fleet.manager();
                nodes::fault(manager, stack, node, drain, self.slots(), deadline).await
            }
            NodeOp::Isolate => self.isolate_node(node, deadline).await,
            NodeOp::Rejoin => self.rejoin_node(node, deadline).await,
        }
    }

    async fn scale(&mut self, service: &str, replicas: u32) -> Result<Readiness, TargetError> {
        let Scope::Stack(stack) = self.project.scope.clone() else {
            return Err(TargetError::NoSwarmServices);
        };
        self.scale_service(&stack, service, replicas).await
    }

    async fn reread(&mut self) -> Result<(), TargetError> {
        // Another store may be down right now (its replacement not started yet), with no
        // address to build the endpoints from: then the ones there were stay, and the next
        // reread or the restore builds them. A drained node may run no task of the stack at
        // all: then the project stays as it was too.
        match self.rediscover().await {
            Err(TargetError::Docker(DockerError::StackNotFound { .. })) => {
                tracing::warn!("no task of the stack runs now: endpoints kept as they were");
                return Ok(());
            }
            other => other?,
        }
        if let Err(e) = self.rebuild_endpoints() {
            tracing::warn!(error = %e, "endpoints kept as they were");
        }
        Ok(())
    }

    async fn restore(&mut self) -> Result<(), TargetError> {
        // Resume and start everything first, then wait: a service's health can depend on
        // another one being back (the API's readiness on Kafka), whatever the order. Only what
        // was put back is waited for, as on the local target: a running container whose
        // healthcheck still fails (a Sentinel re-learning its replicas after a failover) is
        // the system's business, judged by settle, and waiting for it here would count the
        // harness's wait as the system's recovery time.
        // On a stack an ended task is not started: Swarm's replacement is waited for, once
        // every node that was active at the attach is active again and every service a
        // `scale` fault changed runs its count again.
        for n in self.isolated.clone() {
            let readiness =
                self.rejoin_node(&n.id, Instant::now() + self.spec.health_timeout.get());
            readiness.await?.wait().await?;
        }
        let activated =
            nodes::activate_drained(self.fleet.manager(), &active_ids(&self.nodes)).await;
        if !activated.errors.is_empty() {
            return Err(TargetError::Setup(activated.errors.join("; ")));
        }
        let deadline = Instant::now() + self.spec.health_timeout.get();
        self.scale_back(deadline).await?;
        if !activated.hostnames.is_empty() {
            // Until Swarm has started a task in every slot again: none may run yet.
            for slot in self.slots() {
                slot.wait_replaced(None, deadline).await?;
            }
        }
        self.rediscover().await?;
        let stack = matches!(self.project.scope, Scope::Stack(_));
        let mut put_back = Vec::new();
        let mut replaced = Vec::new();
        for inst in self.baseline.clone() {
            match self.state_of(&inst).await? {
                State::Paused => self.pause(&inst, false).await?,
                State::Stopped if stack => {
                    replaced.push(self.handle(&inst)?);
                    continue;
                }
                State::Stopped => self.start_container(&inst).await?,
                State::Running { .. } => continue,
            }
            put_back.push(inst);
        }
        for handle in &replaced {
            handle.wait_replaced(None, deadline).await?;
        }
        for inst in &put_back {
            self.wait_healthy(inst, deadline).await?;
        }
        self.refresh().await
    }

    async fn teardown(&mut self, _keep: bool) -> Result<(), TargetError> {
        self.collect_logs().await;
        // Held-back instances ran when the run attached: the project is left as it was found
        // (not waiting for health: the next attach does).
        for inst in self.held_back.clone() {
            self.start_container(&inst).await?;
        }
        // A node still cut off or a service still scaled (its restore failed) stays on the
        // ledger: the guardian, or `fgchaos cleanup`, puts it back.
        if !self.isolated.is_empty() || !self.scaled.is_empty() {
            return Err(TargetError::Setup(format!(
                "left on the ledger in {} for the guardian and `fgchaos cleanup`: {} node(s) cut off, {} service(s) scaled",
                self.dir.display(),
                self.isolated.len(),
                self.scaled.len()
            )));
        }
        Ledger::remove(&self.dir);
        Ok(())
    }

    fn logs(&self) -> Option<PathBuf> {
        Some(self.dir.join("logs"))
    }

    fn environment(&self) -> Environment {
        Environment {
            engine: Some(self.engine.clone()),
            project: Some(self.project.name().to_owned()),
            containers: self.project.containers.values().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::project::{container as c, name_instances, Scope};
    use super::*;

    #[test]
    fn every_service_missing_a_role_is_named_with_its_roles() {
        let spec = DockerSpec::built_in().unwrap();
        let project = Project {
            scope: Scope::Stack("shop".into()),
            containers: name_instances(vec![
                c("nginx", 1),
                c("toxiproxy", 1),
                c("inventory-worker", 1),
            ]),
        };
        let e = check_roles(&spec, &project).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "swarm stack `shop` has no service `ingestion-api` (admin_token, scalable), `redis` \
                 (state.redis), `postgres` (state.database): the role(s) the docker stack \
                 file (--stack) gives them (it has: inventory-worker, nginx, toxiproxy)"
            ),
            "{e}"
        );
        let mut spec = spec;
        spec.workers.service = "ingestion-api".into();
        let e = check_roles(&spec, &project).unwrap_err().to_string();
        assert!(
            e.contains("`ingestion-api` (workers, admin_token, scalable), `redis`"),
            "{e}"
        );
    }

    #[test]
    fn a_slot_above_a_scaled_down_count_runs_no_task() {
        let down = Scaled {
            at_attach: 2,
            now: Some(1),
        };
        let now = BTreeMap::from([("ingestion-api".to_owned(), down)]);
        assert!(slot_runs("ingestion-api#1", &now));
        assert!(!slot_runs("ingestion-api#2", &now));
        assert!(slot_runs("ingestion-api", &now));
        assert!(slot_runs("redis", &now), "a service no scale changed");
        assert!(slot_runs("inventory-worker#3", &BTreeMap::new()));
        let refused = Scaled {
            at_attach: 2,
            now: None,
        };
        let refused = BTreeMap::from([("ingestion-api".to_owned(), refused)]);
        assert!(
            slot_runs("ingestion-api#2", &refused),
            "a scale the engine refused removed nothing"
        );
    }

    #[test]
    fn a_search_draws_neither_the_fault_proxy_nor_what_was_not_running() {
        let stopped = |service: &str, n: u32| Container {
            state: State::Stopped,
            ..c(service, n)
        };
        let project = Project {
            scope: Scope::Compose("p".into()),
            containers: name_instances(vec![
                c("redis", 1),
                c("toxiproxy", 1),
                stopped("migrate", 1),
                c("inventory-worker", 1),
                stopped("inventory-worker", 2),
            ]),
        };
        let n = names(&project, vec!["kafka".into()], false, None, "toxiproxy");
        assert_eq!(
            n.services,
            [
                "inventory-worker",
                "migrate",
                "redis",
                "toxiproxy",
                "inventory-worker#1",
                "inventory-worker#2"
            ],
            "a scenario may still name every one"
        );
        assert_eq!(
            n.drawn_services(),
            ["inventory-worker", "redis", "inventory-worker#1"]
        );
    }
}
