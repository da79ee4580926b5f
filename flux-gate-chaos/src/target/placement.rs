//! Where a run's generators run when they are not in fgchaos's own process: on the stack's own
//! nodes (`generators: n` on a swarm stack), each one `fgchaos join` of a segment, talking to
//! the run's coordinator ([`crate::load::coordinator`]). The run serves the coordinator, names
//! the start and merges the histories; a host only starts the generators where they belong,
//! says why one will never join, and removes them.
//!
//! A target without nodes of its own has no host: its generators run in the run's process
//! ([`crate::load::drive_all`]). A Kubernetes target's host would be a Job with completions =
//! segments (docs/scaling.md).

use std::net::{IpAddr, SocketAddr};

use super::TargetError;

/// What each placed generator is started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generators {
    /// How many: segments `1/n` … `n/n`.
    pub count: u32,
    /// The run's coordinator, as the generators reach it.
    pub coordinator: SocketAddr,
    /// The port of the stack's entry: each generator sends to its own node's, on loopback.
    pub entry_port: u16,
}

impl Generators {
    /// The shell line a generator runs, with its slot in `$SLOT` (`{{.Task.Slot}}` on Swarm).
    pub fn command(&self) -> String {
        format!(
            "exec fgchaos join --coordinator {} --segment \"$SLOT/{}\" --entry 127.0.0.1:{}",
            self.coordinator, self.count, self.entry_port
        )
    }
}

#[async_trait::async_trait]
pub trait GeneratorHost: Send + Sync {
    /// This machine's address as the placed generators reach it: where the coordinator
    /// listens.
    fn coordinator_ip(&self) -> IpAddr;
    /// Starts the generators; returns once the orchestrator took them.
    async fn start(&mut self, generators: &Generators) -> Result<(), TargetError>;
    /// Why a generator will never join, if one ended or was refused already.
    async fn failed(&self) -> Option<String>;
    /// Each generator's state and the orchestrator's word on it, for a join that timed out
    /// (a task still pending says why it is not placed).
    async fn states(&self) -> String;
    /// Where they ran, for the report: each segment's index with its node's hostname.
    async fn placed_on(&self) -> Vec<(u32, String)>;
    /// Removes them; returns once nothing of them is left.
    async fn remove(&mut self) -> Result<(), TargetError>;
}
