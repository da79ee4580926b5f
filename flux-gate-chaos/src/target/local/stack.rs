//! The local target: the whole stack as supervised processes on loopback.
//!
//! One directory per run holds each instance's files, data and log. Every instance runs in its
//! own process group (faults signal the group; teardown leaves no orphans), every link is a
//! proxy of the embedded Toxiproxy-API server, and ports are picked free at start.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use flux_gate_testbed::{binaries, ports, procfs, ready, Spec, Supervised};
use tokio::task::JoinHandle;

use super::groups::ProcessGroups;
use super::spec::{instance_names, Ready, ServiceSpec, StackSpec};
use super::template::Vars;
use crate::scenario::validate::Names;
use crate::target::redis_ha::RedisTopology;
use crate::target::{Endpoints, Lifecycle, LinkEnds, Readiness, Target, TargetError};
use crate::toxiproxy::{self, wire::ProxyRequest, ProxyServer};

struct Instance {
    process: Supervised,
    /// Where its process group is registered while it runs (see [`ProcessGroups`]).
    groups: ProcessGroups,
    stop_signal: nix::sys::signal::Signal,
    port: u16,
    ready: Ready,
    vars: Vars,
    ready_timeout: Duration,
    /// Created stopped (`started:` in the stack): only a `start` fault runs it, and
    /// [`Target::restore`] leaves it as the run left it.
    starts_stopped: bool,
}

/// A running local stack.
pub struct LocalTarget {
    spec: StackSpec,
    dir: PathBuf,
    order: Vec<String>,
    instances: BTreeMap<String, Instance>,
    endpoints: Endpoints,
    proxy: ProxyServer,
    proxy_task: Option<JoinHandle<()>>,
    proxy_stop: Option<tokio::sync::oneshot::Sender<()>>,
    groups: ProcessGroups,
}

fn setup(msg: impl Into<String>) -> TargetError {
    TargetError::Setup(msg.into())
}

/// Where program names are looked up besides `$PATH`: next to fgchaos (the workspace's own
/// `flux-gate`), cargo's bin directory (tansu) and PostgreSQL's (initdb, postgres).
fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        // Test binaries live in target/<profile>/deps; the workspace binaries one level up.
        if let Some(p) = d.parent().filter(|_| d.ends_with("deps")) {
            dirs.push(p.to_path_buf());
        }
        dirs.push(d);
    }
    dirs.extend(binaries::cargo_bin_dir());
    dirs.extend(binaries::postgres_bin_dir());
    dirs
}

fn resolve(program: &str) -> Result<PathBuf, TargetError> {
    if program.contains('/') {
        return Ok(PathBuf::from(program));
    }
    Ok(binaries::find(program, &search_dirs())?)
}

async fn run_once(
    cmd: &[String],
    vars: &Vars,
    dir: &Path,
    user: RunAs,
    what: &str,
) -> Result<(), TargetError> {
    let expanded: Vec<String> = cmd
        .iter()
        .map(|a| vars.expand(a))
        .collect::<Result<_, _>>()
        .map_err(setup)?;
    let (program, args) = expanded
        .split_first()
        .ok_or_else(|| setup(format!("{what}: empty command")))?;
    let mut c = tokio::process::Command::new(resolve(program)?);
    c.args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null());
    if let Some((uid, gid)) = user {
        c.uid(uid.as_raw()).gid(gid.as_raw());
    }
    let out = c
        .output()
        .await
        .map_err(|e| setup(format!("{what}: running {program}: {e}")))?;
    if !out.status.success() {
        return Err(setup(format!(
            "{what}: `{}` failed ({}): {}",
            expanded.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Step 1 of a start: a free port for every instance and every link, known before anything
/// starts because one service's placeholders name the addresses of others.
struct Addresses {
    /// `admin_token`, `run_dir`, `addr.<instance>`, `link.<name>`.
    vars: Vars,
    /// Instance → its port.
    instances: BTreeMap<String, u16>,
    /// Link → the port its proxy listens on.
    links: BTreeMap<String, u16>,
}

impl Addresses {
    fn assign(spec: &StackSpec, dir: &Path, admin_token: &str) -> Result<Self, TargetError> {
        let free = || ports::free_port().map_err(|e| setup(format!("finding a free port: {e}")));
        let mut vars = Vars::default();
        vars.set("admin_token", admin_token)
            .set("run_dir", dir.display().to_string());
        let mut instances = BTreeMap::new();
        for (name, s) in &spec.services {
            for inst in instance_names(name, s.replicas) {
                let port = free()?;
                vars.set(format!("addr.{inst}"), format!("127.0.0.1:{port}"));
                vars.set(format!("port.{inst}"), port.to_string());
                instances.insert(inst, port);
            }
        }
        let mut links = BTreeMap::new();
        for name in spec.links.keys() {
            let port = free()?;
            vars.set(format!("link.{name}"), format!("127.0.0.1:{port}"));
            vars.set(format!("link_port.{name}"), port.to_string());
            links.insert(name.clone(), port);
        }
        Ok(Addresses {
            vars,
            instances,
            links,
        })
    }
}

/// Step 2: the embedded Toxiproxy-API server on a free port, with one proxy per link.
struct FaultProxy {
    server: ProxyServer,
    task: JoinHandle<()>,
    stop: tokio::sync::oneshot::Sender<()>,
    client: toxiproxy::Client,
    links: BTreeMap<String, LinkEnds>,
}

impl FaultProxy {
    async fn start(spec: &StackSpec, addrs: &Addresses) -> Result<Self, TargetError> {
        let server = ProxyServer::new();
        let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| setup(format!("binding the fault proxy API: {e}")))?;
        let api_addr = api_listener
            .local_addr()
            .map_err(|e| setup(e.to_string()))?;
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let serving = server.clone();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stop_rx.await;
            };
            if let Err(e) = serving.serve(api_listener, shutdown).await {
                tracing::error!(error = %e, "fault proxy API stopped");
            }
        });
        let client = toxiproxy::Client::new(format!("http://{api_addr}"));
        let mut links = BTreeMap::new();
        let mut requests = Vec::new();
        for (name, l) in &spec.links {
            let target = addrs
                .instances
                .get(&l.to)
                .ok_or_else(|| setup(format!("link {name}: no instance {}", l.to)))?;
            let listen = format!("127.0.0.1:{}", addrs.links[name]);
            let upstream = format!("127.0.0.1:{target}");
            requests.push(ProxyRequest {
                name: Some(name.clone()),
                listen: Some(listen.clone()),
                upstream: Some(upstream.clone()),
                enabled: Some(true),
            });
            links.insert(
                name.clone(),
                LinkEnds {
                    listen,
                    upstream,
                    description: l.description.clone(),
                },
            );
        }
        client.populate(&requests).await?;
        Ok(FaultProxy {
            server,
            task,
            stop,
            client,
            links,
        })
    }
}

/// Step 3: where everything will answer — the entry (the first instance of the entry
/// service), the stores' direct addresses, the workers' metrics.
fn endpoints(
    spec: &StackSpec,
    addrs: &Addresses,
    proxy: &FaultProxy,
    admin_token: &str,
) -> Result<Endpoints, TargetError> {
    let url = |inst: &str| {
        addrs
            .instances
            .get(inst)
            .map(|p| format!("http://127.0.0.1:{p}"))
    };
    let entry = spec
        .instances()
        .into_iter()
        .find(|i| i == &spec.entry || i.starts_with(&format!("{}#", spec.entry)))
        .and_then(|i| url(&i))
        .ok_or_else(|| setup("entry service has no instance"))?;
    let workers = spec
        .workers
        .iter()
        .flat_map(|w| {
            spec.services
                .get(w)
                .map(|s| instance_names(w, s.replicas))
                .unwrap_or_default()
        })
        .filter_map(|i| url(&i))
        .collect();
    Ok(Endpoints {
        entry,
        toxiproxy: proxy.client.base().to_owned(),
        admin_token: admin_token.to_owned(),
        redis: addrs.vars.expand(&spec.state.redis).map_err(setup)?,
        database: addrs.vars.expand(&spec.state.database).map_err(setup)?,
        kafka: addrs.vars.expand(&spec.state.kafka).map_err(setup)?,
        consumer_group: spec.state.consumer_group.clone(),
        workers,
        services: addrs
            .instances
            .iter()
            .map(|(k, p)| (k.clone(), format!("127.0.0.1:{p}")))
            .collect(),
        links: proxy.links.clone(),
        redis_ha: spec.redis_ha.as_ref().map(|ha| RedisTopology {
            instances: ha
                .instances
                .iter()
                .filter_map(|i| Some((i.clone(), format!("127.0.0.1:{}", addrs.instances.get(i)?))))
                .collect(),
            sentinels: spec
                .services
                .get(&ha.sentinels)
                .map(|s| instance_names(&ha.sentinels, s.replicas))
                .unwrap_or_default()
                .iter()
                .filter_map(|i| Some(format!("127.0.0.1:{}", addrs.instances.get(i)?)))
                .collect(),
            master: ha.master.clone(),
            peer_links: ha
                .instances
                .iter()
                .cloned()
                .zip(ha.peer_links.iter().cloned())
                .collect(),
        }),
    })
}

impl LocalTarget {
    /// Starts every service of `spec` under `dir` (created) and every link's proxy, in four
    /// steps: addresses for everything, the fault proxy with every link, the endpoints, then
    /// the services in dependency order. Every instance's process group is registered in
    /// `groups` while it runs (the last resort of a second Ctrl-C).
    pub async fn start(
        spec: StackSpec,
        dir: &Path,
        admin_token: &str,
        groups: &ProcessGroups,
    ) -> Result<Self, TargetError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| setup(format!("creating {}: {e}", dir.display())))?;
        let dir = dir
            .canonicalize()
            .map_err(|e| setup(format!("{}: {e}", dir.display())))?;
        let addrs = Addresses::assign(&spec, &dir, admin_token)?;
        let proxy = FaultProxy::start(&spec, &addrs).await?;
        let endpoints = endpoints(&spec, &addrs, &proxy, admin_token)?;
        let order = spec.start_order().map_err(setup)?;
        let mut stack = LocalTarget {
            endpoints,
            spec,
            dir,
            order,
            instances: BTreeMap::new(),
            proxy: proxy.server,
            proxy_task: Some(proxy.task),
            proxy_stop: Some(proxy.stop),
            groups: groups.clone(),
        };
        // A failure tears down what started.
        for name in stack.order.clone() {
            if let Err(e) = stack.start_service(&name, &addrs).await {
                let _ = stack.teardown(true).await;
                return Err(e);
            }
        }
        Ok(stack)
    }

    /// Starts the instances of service `name` one after another: each is ready, and has run
    /// its `after_ready`, before the next is created.
    async fn start_service(&mut self, name: &str, addrs: &Addresses) -> Result<(), TargetError> {
        let s = self.spec.services[name].clone();
        let user = match &s.user {
            Some(u) => flux_gate_testbed::user::run_as(u)?,
            None => None,
        };
        for (replica, inst) in instance_names(name, s.replicas).into_iter().enumerate() {
            let home = self.home(inst, replica, addrs)?;
            before_first_start(&s, &home, user).await?;
            let mut instance = self.instance(&s, &home, user)?;
            let (inst, port) = (&home.name, home.port);
            if instance.starts_stopped {
                self.instances.insert(inst.clone(), instance);
                tracing::info!(instance = %inst, port, "stays stopped until a fault starts it");
                continue;
            }
            start_and_wait(&mut instance).await?;
            self.instances.insert(inst.clone(), instance);
            for cmd in &s.after_ready {
                let what = format!("{inst} after_ready");
                run_once(cmd, &home.vars, &home.dir, user, &what).await?;
            }
            tracing::info!(instance = %inst, port, "ready");
        }
        Ok(())
    }

    /// Creates the directory of instance `inst` (the `replica`-th, from 0) and the placeholders
    /// its service's values expand with.
    fn home(&self, inst: String, replica: usize, addrs: &Addresses) -> Result<Home, TargetError> {
        let port = addrs.instances[&inst];
        let dir = self.dir.join("services").join(inst.replace('#', "-"));
        std::fs::create_dir_all(&dir)
            .map_err(|e| setup(format!("creating {}: {e}", dir.display())))?;
        let mut vars = addrs.vars.clone();
        vars.set("port", port.to_string())
            .set("dir", dir.display().to_string())
            .set("replica", (replica + 1).to_string())
            .set("instance", inst.clone());
        Ok(Home {
            name: inst,
            port,
            dir,
            vars,
        })
    }

    /// The instance as the stack supervises it, not yet started.
    fn instance(&self, s: &ServiceSpec, home: &Home, user: RunAs) -> Result<Instance, TargetError> {
        let process = self.process(s, home, user)?;
        let ready = match &s.ready {
            Ready::Command(c) => Ready::Command(
                c.iter()
                    .map(|a| home.vars.expand(a))
                    .collect::<Result<_, _>>()
                    .map_err(setup)?,
            ),
            other => other.clone(),
        };
        let stop_signal = s
            .stop_signal
            .parse()
            .map_err(|_| setup(format!("{}: stop_signal {}", home.name, s.stop_signal)))?;
        Ok(Instance {
            process: Supervised::new(process),
            groups: self.groups.clone(),
            stop_signal,
            port: home.port,
            ready,
            vars: home.vars.clone(),
            ready_timeout: Duration::from_secs(s.ready_timeout_secs),
            starts_stopped: self.spec.starts_stopped(&home.name),
        })
    }

    /// The instance's process: program, expanded arguments and environment, its directory,
    /// its user, and its log under the run's `logs/`.
    fn process(&self, s: &ServiceSpec, home: &Home, user: RunAs) -> Result<Spec, TargetError> {
        let inst = &home.name;
        let args: Vec<String> = s
            .args
            .iter()
            .map(|a| home.vars.expand(a))
            .collect::<Result<_, _>>()
            .map_err(|e| setup(format!("{inst}: {e}")))?;
        let mut process = Spec::new(
            inst.clone(),
            resolve(&s.command)?,
            self.dir
                .join("logs")
                .join(format!("{}.log", inst.replace('#', "-"))),
        )
        .args(args);
        std::fs::create_dir_all(self.dir.join("logs"))
            .map_err(|e| setup(format!("creating logs: {e}")))?;
        for (k, v) in &s.env {
            process = process.env(
                k.clone(),
                home.vars
                    .expand(v)
                    .map_err(|e| setup(format!("{inst}: env {k}: {e}")))?,
            );
        }
        process.cwd = Some(home.dir.clone());
        process.user = user;
        Ok(process)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn spec(&self) -> &StackSpec {
        &self.spec
    }

    /// The pid (process group) of a running instance.
    pub fn pid(&self, instance: &str) -> Option<u32> {
        self.instances.get(instance).and_then(|i| i.process.pid())
    }

    pub fn is_running(&mut self, instance: &str) -> bool {
        self.instances
            .get_mut(instance)
            .is_some_and(|i| i.process.is_running())
    }
}

/// The system user an instance runs as (when fgchaos runs as root), or `None`.
type RunAs = Option<(nix::unistd::Uid, nix::unistd::Gid)>;

/// Where one instance lives: its name, port and directory, and the placeholders its service's
/// values expand with (the stack's, plus `port`, `dir`, `replica`, `instance`).
struct Home {
    name: String,
    port: u16,
    dir: PathBuf,
    vars: Vars,
}

/// What an instance needs before its first start: its files written (expanded), its
/// directory handed to its user, its `setup` commands run.
async fn before_first_start(s: &ServiceSpec, home: &Home, user: RunAs) -> Result<(), TargetError> {
    let inst = &home.name;
    for (file, content) in &s.files {
        let text = home
            .vars
            .expand(content)
            .map_err(|e| setup(format!("{inst}: file {file}: {e}")))?;
        std::fs::write(home.dir.join(file), text)
            .map_err(|e| setup(format!("writing {file}: {e}")))?;
    }
    if let Some((uid, gid)) = user {
        flux_gate_testbed::user::make_reachable(&home.dir, uid, gid)?;
    }
    for cmd in &s.setup {
        run_once(cmd, &home.vars, &home.dir, user, &format!("{inst} setup")).await?;
    }
    Ok(())
}

/// Starts the instance and waits until it is ready.
async fn start_and_wait(i: &mut Instance) -> Result<(), TargetError> {
    launch(i)?.wait().await.map(|_| ())
}

/// Starts the instance's process; the returned wait holds nothing of the instance, so the
/// stack can serve other steps while it runs. A stop or kill returns only once the old
/// process group is gone, so a server started here never meets its previous self (PostgreSQL
/// would find its old shared memory still attached, and exit).
fn launch(i: &mut Instance) -> Result<Readiness, TargetError> {
    i.process.start()?;
    i.groups.add(i.process.pid());
    let watch = i.process.watch();
    let addr: SocketAddr = ([127, 0, 0, 1], i.port).into();
    let limit = i.ready_timeout;
    let ready = i.ready.clone();
    let command = match &ready {
        Ready::Command(cmd) => {
            let (program, args) = cmd
                .split_first()
                .ok_or_else(|| setup("empty ready command"))?;
            let dir = i.vars.values.get("dir").cloned().unwrap_or_default();
            Some((resolve(program)?, args.to_vec(), dir))
        }
        _ => None,
    };
    Ok(Readiness::after(async move {
        let probe = || {
            let ready = ready.clone();
            let command = command.clone();
            async move { probe_once(&ready, addr, command.as_ref()).await }
        };
        Ok(ready::wait_until(&watch, limit, probe).await?)
    }))
}

/// One readiness check, the way the stack file asks for it.
async fn probe_once(
    ready: &Ready,
    addr: SocketAddr,
    command: Option<&(PathBuf, Vec<String>, String)>,
) -> bool {
    match (ready, command) {
        (Ready::Tcp, _) => ready::tcp(addr).await,
        (Ready::Redis, _) => ready::redis_pong(addr).await,
        (Ready::Http(path), _) => ready::http_ok(addr, path).await,
        (Ready::Command(_), Some((program, args, dir))) => tokio::process::Command::new(program)
            .args(args)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await
            .is_ok_and(|s| s.success()),
        (Ready::Command(_), None) => false,
    }
}

/// SIGSTOP is asynchronous: wait (briefly) until the kernel shows the process stopped, so a
/// `pause` has taken effect when it returns.
async fn wait_stopped(pid: Option<u32>) {
    let Some(pid) = pid else { return };
    for _ in 0..100 {
        if matches!(procfs::state(pid), Some('T') | Some('t') | None) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[async_trait::async_trait]
impl Target for LocalTarget {
    fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    fn names(&self) -> Names {
        self.spec.names(false)
    }

    fn instances_of(&self, service: &str) -> Vec<String> {
        self.spec.instances_of(service)
    }

    async fn lifecycle(&mut self, instance: &str, op: Lifecycle) -> Result<Readiness, TargetError> {
        if op == Lifecycle::Failover {
            // The Sentinels act on the primary; no process is touched.
            self.failover().await?;
            return Ok(Readiness::now());
        }
        let i = self
            .instances
            .get_mut(instance)
            .ok_or_else(|| TargetError::NoSuchInstance(instance.to_owned()))?;
        match op {
            Lifecycle::Kill => {
                let pid = i.process.pid();
                i.process.kill().await?;
                i.groups.remove(pid);
            }
            Lifecycle::Stop { grace_ms } | Lifecycle::Restart { grace_ms } => {
                let pid = i.process.pid();
                i.process
                    .stop_with(i.stop_signal, Duration::from_millis(grace_ms))
                    .await?;
                i.groups.remove(pid);
            }
            Lifecycle::Pause => {
                i.process.pause()?;
                wait_stopped(i.process.pid()).await;
            }
            Lifecycle::Resume => i.process.resume()?,
            Lifecycle::Start | Lifecycle::Failover => {}
        }
        match op {
            Lifecycle::Start | Lifecycle::Restart { .. } => launch(i),
            _ => Ok(Readiness::now()),
        }
    }

    async fn restore(&mut self) -> Result<(), TargetError> {
        let order = self.order.clone();
        for name in order {
            for inst in self.instances_of(&name) {
                if let Some(i) = self.instances.get_mut(&inst) {
                    i.process.resume()?;
                    if !i.process.is_running() && !i.starts_stopped {
                        start_and_wait(i).await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn teardown(&mut self, keep: bool) -> Result<(), TargetError> {
        // Reverse start order: clients go before the servers they would otherwise retry.
        let order: Vec<String> = self.order.iter().rev().cloned().collect();
        for name in order {
            for inst in self.instances_of(&name) {
                if let Some(mut i) = self.instances.remove(&inst) {
                    let pid = i.process.pid();
                    if let Err(e) = i
                        .process
                        .stop_with(i.stop_signal, Duration::from_secs(5))
                        .await
                    {
                        tracing::warn!(instance = %inst, error = %e, "stopping");
                    }
                    i.groups.remove(pid);
                }
            }
        }
        self.proxy.stop_all().await;
        if let Some(tx) = self.proxy_stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.proxy_task.take() {
            let _ = t.await;
        }
        if !keep {
            // Keep the logs next to the report; data directories go.
            let _ = std::fs::remove_dir_all(self.dir.join("services"));
        }
        Ok(())
    }

    fn logs(&self) -> Option<PathBuf> {
        Some(self.dir.join("logs"))
    }
}

impl Drop for LocalTarget {
    fn drop(&mut self) {
        for i in self.instances.values() {
            i.groups.remove(i.process.pid());
        }
        // Supervised's own Drop SIGKILLs each group.
    }
}
