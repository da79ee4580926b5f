//! A supervised process: started in its own process group with its output appended to a log
//! file, and faulted with real signals to the whole group (a server's children included).

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::{Gid, Pid, Uid};
use tokio::process::{Child, Command};

use crate::{io, Result};

/// How to start a process. Restarting reuses the same spec.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    /// Run as this user (PostgreSQL refuses to run as root).
    pub user: Option<(Uid, Gid)>,
    /// Appended to across restarts, so one file tells the whole story of the service.
    pub log: PathBuf,
}

impl Spec {
    pub fn new(
        name: impl Into<String>,
        program: impl Into<PathBuf>,
        log: impl Into<PathBuf>,
    ) -> Self {
        Spec {
            name: name.into(),
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            user: None,
            log: log.into(),
        }
    }

    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
}

/// A process that may be running or not. Dropping it kills its process group.
#[derive(Debug)]
pub struct Supervised {
    spec: Spec,
    child: Option<Child>,
    /// The group the last start created, kept until every process in it is gone: a server's
    /// workers can outlive its leader, and signals must still reach them.
    group: Option<u32>,
}

impl Supervised {
    pub fn new(spec: Spec) -> Self {
        Supervised {
            spec,
            child: None,
            group: None,
        }
    }

    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Starts the process unless it is already running.
    pub fn start(&mut self) -> Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.spec.log)
            .map_err(io(format!("opening log {}", self.spec.log.display())))?;
        let err_log = log.try_clone().map_err(io("duplicating a log handle"))?;
        let mut cmd = Command::new(&self.spec.program);
        cmd.args(&self.spec.args)
            .envs(self.spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = &self.spec.cwd {
            cmd.current_dir(dir);
        }
        if let Some((uid, gid)) = self.spec.user {
            cmd.uid(uid.as_raw()).gid(gid.as_raw());
        }
        let child = cmd.spawn().map_err(io(format!(
            "starting {} ({})",
            self.spec.name,
            self.spec.program.display()
        )))?;
        tracing::debug!(name = %self.spec.name, pid = child.id(), "started");
        self.group = child.id();
        self.child = Some(child);
        Ok(())
    }

    /// The pid (= process group id) while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// The process as seen from outside: for a wait that must not hold `self`.
    pub fn watch(&self) -> Watch {
        Watch {
            pid: self.pid(),
            name: self.spec.name.clone(),
            log: self.spec.log.clone(),
        }
    }

    /// Whether the process is alive (a paused process is alive).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(_) => {
                self.child = None;
                false
            }
            None => false,
        }
    }

    /// Sends `signal` to the whole process group.
    pub fn signal(&self, signal: Signal) -> Result<()> {
        let Some(pid) = self.group else {
            return Ok(());
        };
        match killpg(Pid::from_raw(pid as i32), signal) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
            Err(e) => Err(crate::Error::Setup(format!(
                "sending {signal} to {}: {e}",
                self.spec.name
            ))),
        }
    }

    /// SIGKILL to the group, then reaps the process.
    pub async fn kill(&mut self) -> Result<()> {
        self.signal(Signal::SIGKILL)?;
        self.reap(Duration::from_secs(10)).await;
        Ok(())
    }

    /// SIGTERM (after SIGCONT, in case it is paused); SIGKILL if it outlives `grace`.
    pub async fn stop(&mut self, grace: Duration) -> Result<()> {
        self.stop_with(Signal::SIGTERM, grace).await
    }

    /// Like [`Supervised::stop`] with the server's own shutdown signal (PostgreSQL's fast
    /// shutdown is SIGINT; its SIGTERM waits for every client to leave).
    pub async fn stop_with(&mut self, signal: Signal, grace: Duration) -> Result<()> {
        self.signal(Signal::SIGCONT)?;
        self.signal(signal)?;
        if !self.reap(grace).await {
            tracing::warn!(name = %self.spec.name, ?grace, "did not stop in time; killing");
            self.kill().await?;
        }
        Ok(())
    }

    /// SIGSTOP to the group: the process keeps its sockets but answers nothing.
    pub fn pause(&self) -> Result<()> {
        self.signal(Signal::SIGSTOP)
    }

    pub fn resume(&self) -> Result<()> {
        self.signal(Signal::SIGCONT)
    }

    /// Waits up to `limit` for the process, and every other process of its group, to exit;
    /// `true` if they did. A stopped server is then gone entirely, and may be started again.
    async fn reap(&mut self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        if let Some(child) = self.child.as_mut() {
            if tokio::time::timeout(limit, child.wait()).await.is_err() {
                return false;
            }
            self.child = None;
        }
        let Some(group) = self.group else {
            return true;
        };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let gone = crate::procfs::wait_group_gone(group, left).await;
        if gone {
            self.group = None;
        }
        gone
    }
}

/// A started process seen from outside its [`Supervised`] (see [`Supervised::watch`]).
#[derive(Debug, Clone)]
pub struct Watch {
    pid: Option<u32>,
    name: String,
    log: PathBuf,
}

impl Watch {
    /// Whether it still runs (a paused process does; one that exited does not).
    pub fn is_alive(&self) -> bool {
        self.pid.is_some_and(crate::procfs::alive)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn log(&self) -> &std::path::Path {
        &self.log
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        // Kill the whole group, not only the leader: PostgreSQL's backends, for one, would
        // otherwise outlive the test.
        let _ = self.signal(Signal::SIGKILL);
    }
}
