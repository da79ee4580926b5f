//! Losing a swarm node: the node cut from the other nodes by its own firewall, and joined to
//! them again.
//!
//! fgchaos reaches a node only through its engine's API, so it changes the node's firewall from
//! a container it runs there: the node's network namespace (`network_mode: host`) and
//! `NET_ADMIN`, running `iptables` from the stack's own image. Packets from and to every other
//! node's address are dropped. The managers stop hearing the node's heartbeats, mark it down
//! and start its tasks on the others, while its own containers run on, cut off — a host that
//! fell off the network, with no process stopped by fgchaos. fgchaos's own address is no
//! node's, so the node's engine still answers it, and the rejoin goes the same way.
//!
//! The rules sit in a chain of their own, [`CHAIN`], so a rejoin removes exactly them, and
//! finds nothing to do on a node that is not cut off (a guardian may try every node it knows).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, HostConfig, NodeState, TaskState};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListTasksOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, StartContainerOptions, WaitContainerOptions,
};
use bollard::Docker;
use futures::StreamExt;

use serde::{Deserialize, Serialize};

use super::membership::SwarmError;
use super::nodes::{all_replaced, SwarmNode};
use crate::target::docker::engine;
use crate::target::docker::fleet::Fleet;
use crate::target::docker::handle::Handle;
use crate::target::docker::DockerError;
use crate::target::{Readiness, TargetError};

/// The firewall chain the cut lives in.
pub const CHAIN: &str = "FGCHAOS-ISOLATE";

/// The label fgchaos's helper containers carry, so none is mistaken for a task.
const LABEL: &str = "fluxgate.fgchaos";

/// How often the manager is asked whether it sees the node down, or up again.
const EVERY: Duration = Duration::from_millis(250);

/// Cuts the node whose engine is `docker` from `peers`, the other nodes' addresses.
pub async fn cut(docker: &Docker, image: &str, peers: &[IpAddr]) -> Result<(), SwarmError> {
    run_on_node(docker, image, "cut", &cut_script(peers)).await
}

/// Removes the cut from the node whose engine is `docker`; nothing on a node not cut.
pub async fn mend(docker: &Docker, image: &str) -> Result<(), SwarmError> {
    run_on_node(docker, image, "mend", &mend_script()).await
}

/// The shell script that drops every packet from and to `peers`, in [`CHAIN`], hooked first
/// into the node's INPUT and OUTPUT. Idempotent: a second cut replaces the first.
fn cut_script(peers: &[IpAddr]) -> String {
    let mut s = format!("set -e\niptables -N {CHAIN} 2>/dev/null || iptables -F {CHAIN}\n");
    for p in peers {
        s.push_str(&format!(
            "iptables -A {CHAIN} -s {p} -j DROP\niptables -A {CHAIN} -d {p} -j DROP\n"
        ));
    }
    for hook in ["INPUT", "OUTPUT"] {
        s.push_str(&format!(
            "iptables -C {hook} -j {CHAIN} 2>/dev/null || iptables -I {hook} -j {CHAIN}\n"
        ));
    }
    s
}

/// The shell script that unhooks and removes [`CHAIN`]; exits 0 when there is none.
fn mend_script() -> String {
    format!(
        "iptables -L {CHAIN} >/dev/null 2>&1 || exit 0\n\
         while iptables -D INPUT -j {CHAIN} 2>/dev/null; do :; done\n\
         while iptables -D OUTPUT -j {CHAIN} 2>/dev/null; do :; done\n\
         iptables -F {CHAIN} && iptables -X {CHAIN}\n"
    )
}

/// Runs `script` once in a throwaway container on the node's network namespace, and removes
/// the container; a failure names the script's output.
async fn run_on_node(
    docker: &Docker,
    image: &str,
    what: &str,
    script: &str,
) -> Result<(), SwarmError> {
    let body = ContainerCreateBody {
        image: Some(image.to_owned()),
        cmd: Some(vec!["sh".into(), "-c".into(), script.to_owned()]),
        labels: Some([(LABEL.to_owned(), what.to_owned())].into()),
        host_config: Some(HostConfig {
            network_mode: Some("host".into()),
            cap_add: Some(vec!["NET_ADMIN".into()]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let name = format!("fgchaos-{what}-{}", std::process::id());
    let created = docker
        .create_container(
            Some(CreateContainerOptionsBuilder::new().name(&name).build()),
            body,
        )
        .await
        .map_err(|e| {
            DockerError::api(
                format!("creating the node's {what} container from {image}"),
                e,
            )
        })?;
    let outcome = start_and_wait(docker, &created.id).await;
    let output = if matches!(outcome, Ok(0)) {
        String::new()
    } else {
        output_of(docker, &created.id).await
    };
    let removed = docker
        .remove_container(
            &created.id,
            Some(RemoveContainerOptionsBuilder::new().force(true).build()),
        )
        .await;
    if let Err(e) = removed {
        tracing::warn!(container = %name, error = %e, "removing a node helper container");
    }
    match outcome? {
        0 => Ok(()),
        code => Err(SwarmError::NodeFirewall {
            what: what.to_owned(),
            code,
            output: output.trim().to_owned(),
        }),
    }
}

async fn start_and_wait(docker: &Docker, id: &str) -> Result<i64, SwarmError> {
    docker
        .start_container(id, None::<StartContainerOptions>)
        .await
        .map_err(|e| DockerError::api("starting a node helper container", e))?;
    let mut waits = docker.wait_container(id, None::<WaitContainerOptions>);
    match waits.next().await {
        Some(Ok(done)) => Ok(done.status_code),
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => Err(DockerError::api("waiting for a node helper container", e).into()),
        None => Ok(0),
    }
}

async fn output_of(docker: &Docker, id: &str) -> String {
    let opts = LogsOptionsBuilder::new().stdout(true).stderr(true).build();
    let mut stream = docker.logs(id, Some(opts));
    let mut text = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
    }
    text
}

/// Until the manager sees node `id` in `state` (down after a cut, ready after a mend).
pub async fn wait_seen(
    manager: &Docker,
    id: &str,
    state: NodeState,
    deadline: Instant,
) -> Result<(), SwarmError> {
    let from = Instant::now();
    loop {
        let node = manager
            .inspect_node(id)
            .await
            .map_err(|e| DockerError::api(format!("inspecting swarm node `{id}`"), e))?;
        let now = node.status.and_then(|s| s.state);
        if now == Some(state) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(SwarmError::NodeNotSeen {
                node: id.to_owned(),
                want: format!("{state}"),
                now: now.map_or_else(|| "unknown".to_owned(), |s| s.to_string()),
                waited_s: from.elapsed().as_secs(),
            });
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// Until node `id` runs no task that Swarm has since placed elsewhere: after a rejoin, the
/// tasks that ran on, cut off, are shut down once the node hears from the managers again.
pub async fn wait_stale_gone(
    manager: &Docker,
    id: &str,
    deadline: Instant,
) -> Result<(), SwarmError> {
    let filters = std::collections::HashMap::from([("node", vec![id.to_owned()])]);
    loop {
        let tasks = manager
            .list_tasks(Some(
                ListTasksOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(|e| DockerError::api("listing a node's tasks", e))?;
        let stale = tasks.iter().any(|t| {
            t.status.as_ref().and_then(|s| s.state) == Some(TaskState::RUNNING)
                && t.desired_state != Some(TaskState::RUNNING)
        });
        if !stale {
            return Ok(());
        }
        if Instant::now() >= deadline {
            // The node serves again; its stale copies are Swarm's to stop, and the next
            // reread sees only the tasks Swarm keeps. Said, not hidden.
            tracing::warn!(
                node = id,
                "a rejoined node still runs tasks Swarm placed elsewhere"
            );
            return Ok(());
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// An isolated node as the attach ledger keeps it: enough for a guardian to join it again
/// with fgchaos gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Isolated {
    pub id: String,
    pub hostname: String,
    /// Its own engine's address; none when it is the manager's.
    pub engine: Option<String>,
    /// The image the mend runs in.
    pub image: String,
}

/// Loses `node`: cuts it from every other node of `nodes`, then waits until the managers see
/// it down and each of `ran_there` (the stack's tasks on it) serves on another node, shown as
/// the reschedule of the slowest.
pub async fn isolate(
    fleet: &Fleet,
    node: &SwarmNode,
    nodes: &[SwarmNode],
    image: &str,
    ran_there: Vec<Handle>,
    deadline: Instant,
) -> Result<Readiness, TargetError> {
    let peers: Vec<IpAddr> = nodes
        .iter()
        .filter(|n| n.id != node.id)
        .filter_map(|n| n.addr)
        .collect();
    if peers.is_empty() {
        return Err(TargetError::Setup(format!(
            "swarm node `{}` has no other node to be cut from",
            node.hostname
        )));
    }
    cut(fleet.engine(Some(&node.id)), image, &peers).await?;
    // The reschedule counts from the cut: noticing the node is gone is part of it.
    let from = Instant::now();
    tracing::info!(node = %node.hostname, peers = peers.len(), "swarm node cut from the others");
    let manager = fleet.manager().clone();
    let id = node.id.clone();
    Ok(Readiness::replaced(async move {
        wait_seen(&manager, &id, NodeState::DOWN, deadline).await?;
        all_replaced(ran_there, true, from, deadline).await
    }))
}

/// Joins an isolated `node` to the others again, then waits until the managers see it ready
/// and it runs none of the tasks that ran on there cut off (Swarm shuts them down).
pub async fn rejoin(
    fleet: &Fleet,
    node: &SwarmNode,
    image: &str,
    deadline: Instant,
) -> Result<Readiness, TargetError> {
    mend(fleet.engine(Some(&node.id)), image).await?;
    tracing::info!(node = %node.hostname, "swarm node joined to the others again");
    let manager = fleet.manager().clone();
    let id = node.id.clone();
    Ok(Readiness::after(async move {
        wait_seen(&manager, &id, NodeState::READY, deadline).await?;
        Ok(wait_stale_gone(&manager, &id, deadline).await?)
    }))
}

/// Joins every node of `isolated` again, from its ledger entry: what a guardian and `fgchaos
/// cleanup` do for an isolation left on. Returns the hostnames joined, and what failed.
pub async fn mend_all(isolated: &[Isolated]) -> (Vec<String>, Vec<String>) {
    let (mut joined, mut errors) = (Vec::new(), Vec::new());
    for n in isolated {
        let docker = match &n.engine {
            Some(addr) => engine::connect_to(addr).await,
            None => engine::connect().await,
        };
        let done = match docker {
            Ok(d) => mend(&d, &n.image).await,
            Err(e) => Err(e.into()),
        };
        match done {
            Ok(()) => joined.push(n.hostname.clone()),
            Err(e) => errors.push(format!("rejoining swarm node `{}`: {e}", n.hostname)),
        }
    }
    (joined, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_drops_each_peer_both_ways_in_a_chain_of_its_own() {
        let peers: Vec<IpAddr> = vec![
            "172.31.250.11".parse().unwrap(),
            "172.31.250.13".parse().unwrap(),
        ];
        assert_eq!(
            cut_script(&peers),
            "set -e\n\
             iptables -N FGCHAOS-ISOLATE 2>/dev/null || iptables -F FGCHAOS-ISOLATE\n\
             iptables -A FGCHAOS-ISOLATE -s 172.31.250.11 -j DROP\n\
             iptables -A FGCHAOS-ISOLATE -d 172.31.250.11 -j DROP\n\
             iptables -A FGCHAOS-ISOLATE -s 172.31.250.13 -j DROP\n\
             iptables -A FGCHAOS-ISOLATE -d 172.31.250.13 -j DROP\n\
             iptables -C INPUT -j FGCHAOS-ISOLATE 2>/dev/null || iptables -I INPUT -j FGCHAOS-ISOLATE\n\
             iptables -C OUTPUT -j FGCHAOS-ISOLATE 2>/dev/null || iptables -I OUTPUT -j FGCHAOS-ISOLATE\n"
        );
        assert!(
            mend_script().starts_with("iptables -L FGCHAOS-ISOLATE >/dev/null 2>&1 || exit 0\n")
        );
    }
}
