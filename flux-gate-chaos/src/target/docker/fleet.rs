//! The engines a scope's containers run on.
//!
//! A compose project, or a swarm of one node, lives on one engine: the one fgchaos was pointed
//! at. A swarm of several nodes runs each task on its own node's engine. The manager knows the
//! tasks but not their containers: only the node's engine can list, kill, pause, exec in or
//! read the logs of a task's container. So on a swarm fgchaos connects to every node's engine,
//! at the address the node's `fluxgate.engine` label gives (`scripts/swarm-nodes` sets it,
//! docs/swarm.md), and reaches a port published there on that address's host.

use std::collections::BTreeMap;
use std::net::IpAddr;

use bollard::Docker;

use super::engine::{self, DockerError};

/// The node label that says where a node's engine answers: `tcp://HOST:PORT`.
pub const ENGINE_LABEL: &str = "fluxgate.engine";

/// Every engine of a scope, and which node each serves. Cheap to clone: each [`Docker`] is a
/// shared connection.
#[derive(Clone)]
pub struct Fleet {
    /// The engine fgchaos was pointed at (`DOCKER_HOST`): the compose project's, or the
    /// swarm manager's, which also runs the manager node's own tasks.
    manager: Docker,
    /// Where the manager's published ports answer when it is another machine's engine
    /// (`DOCKER_HOST=tcp://…`); none for this machine's own.
    manager_host: Option<IpAddr>,
    /// The other nodes' engines, by node id.
    remote: BTreeMap<String, NodeEngine>,
    /// Every other node's hostname by id, those down included: what [`Fleet::rank`] orders by,
    /// so that a node down at the attach does not renumber the nodes after it.
    others: BTreeMap<String, String>,
}

#[derive(Clone)]
struct NodeEngine {
    docker: Docker,
    /// Its address, as the node's label gives it.
    addr: String,
    /// Where the node's published ports answer: its engine address's host.
    host: IpAddr,
}

impl Fleet {
    /// One engine: a compose project's, or a swarm of that one node.
    pub fn one(docker: Docker) -> Fleet {
        Fleet {
            manager: docker,
            manager_host: remote_host(&engine::address()),
            remote: BTreeMap::new(),
            others: BTreeMap::new(),
        }
    }

    /// The manager's swarm: its own engine for its own node, and for every other node that
    /// is up, the engine its `fluxgate.engine` label names. A node that is up without the
    /// label is refused: its tasks would be invisible, so neither faulted nor judged ready.
    pub async fn of_swarm(manager: Docker) -> Result<Fleet, DockerError> {
        let info = manager
            .info()
            .await
            .map_err(|e| DockerError::api("reading the engine's swarm node", e))?;
        let local = info
            .swarm
            .and_then(|s| s.node_id)
            .filter(|id| !id.is_empty());
        let nodes = manager
            .list_nodes(None)
            .await
            .map_err(|e| DockerError::api("listing the swarm's nodes", e))?;
        let mut remote = BTreeMap::new();
        let mut others = BTreeMap::new();
        for node in &nodes {
            let Some(id) = node.id.clone() else { continue };
            if Some(&id) == local.as_ref() {
                continue;
            }
            let hostname = node
                .description
                .as_ref()
                .and_then(|d| d.hostname.clone())
                .unwrap_or_else(|| id.clone());
            others.insert(id.clone(), hostname.clone());
            if !is_up(node) {
                continue;
            }
            let label = node
                .spec
                .as_ref()
                .and_then(|s| s.labels.as_ref())
                .and_then(|l| l.get(ENGINE_LABEL));
            let Some(addr) = label else {
                return Err(DockerError::NodeEngineUnknown {
                    node: hostname,
                    label: ENGINE_LABEL,
                });
            };
            remote.insert(id, NodeEngine::connect(&hostname, addr).await?);
        }
        Ok(Fleet {
            manager,
            manager_host: remote_host(&engine::address()),
            remote,
            others,
        })
    }

    /// The engine fgchaos was pointed at: what swarm-wide calls (services, tasks, nodes) go to.
    pub fn manager(&self) -> &Docker {
        &self.manager
    }

    /// The engine that runs `node`'s containers: the node's own, else the manager's (its own
    /// node's, a compose project's, a node fgchaos has no engine for).
    pub fn engine(&self, node: Option<&str>) -> &Docker {
        node.and_then(|n| self.remote.get(n))
            .map_or(&self.manager, |e| &e.docker)
    }

    /// Where node `id`'s own engine answers, when it is not the manager's: what a guardian
    /// connects to when fgchaos is gone.
    pub fn address(&self, id: &str) -> Option<&str> {
        self.remote.get(id).map(|e| e.addr.as_str())
    }

    /// Where node `id` stands among the swarm's nodes, from 1: the manager's own node (and a
    /// node the swarm did not list) is 1, every other node follows by hostname, down ones
    /// counted too. It numbers a global service's tasks, one per node, the same way on every
    /// discovery, with the manager's first (on `scripts/swarm-nodes`, the node that runs the
    /// stores, so `nginx#1` is the entry there).
    pub fn rank(&self, id: Option<&str>) -> u32 {
        let Some((id, own)) = id.and_then(|id| self.others.get_key_value(id)) else {
            return 1;
        };
        let before = self
            .others
            .iter()
            .filter(|(i, h)| (*h, *i) < (own, id))
            .count();
        u32::try_from(before).map_or(u32::MAX, |b| b.saturating_add(2))
    }

    /// Each engine once, with the host its published ports answer on: `None` for this
    /// machine's own, whose ports are read as they are published (loopback for every address).
    pub fn engines(&self) -> impl Iterator<Item = (&Docker, Option<IpAddr>)> {
        std::iter::once((&self.manager, self.manager_host))
            .chain(self.remote.values().map(|e| (&e.docker, Some(e.host))))
    }
}

impl NodeEngine {
    async fn connect(hostname: &str, addr: &str) -> Result<NodeEngine, DockerError> {
        let host = host_of(addr).ok_or_else(|| DockerError::NodeEngineAddress {
            node: hostname.to_owned(),
            addr: addr.to_owned(),
            label: ENGINE_LABEL,
        })?;
        let docker = engine::connect_to(addr).await?;
        Ok(NodeEngine {
            docker,
            addr: addr.to_owned(),
            host,
        })
    }
}

/// The host of an engine address that is another machine's: a `tcp://` one not on loopback.
fn remote_host(addr: &str) -> Option<IpAddr> {
    host_of(addr).filter(|h| !h.is_loopback())
}

/// Whether the manager sees the node up (`Ready`): a node that is down runs nothing fgchaos
/// could reach.
fn is_up(node: &bollard::models::Node) -> bool {
    node.status.as_ref().and_then(|s| s.state) == Some(bollard::models::NodeState::READY)
}

/// `tcp://172.31.250.12:2375` → `172.31.250.12`; an address that names no IP host is `None`
/// (a name would be resolved differently by fgchaos and the engine's clients).
fn host_of(addr: &str) -> Option<IpAddr> {
    let rest = addr
        .strip_prefix("tcp://")
        .or_else(|| addr.strip_prefix("http://"))?;
    let authority = rest.split('/').next()?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => authority.split(':').next()?,
    };
    host.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_engine_address_gives_the_host_its_ports_answer_on() {
        assert_eq!(
            host_of("tcp://172.31.250.12:2375"),
            "172.31.250.12".parse().ok()
        );
        assert_eq!(host_of("http://10.0.0.7:2375/"), "10.0.0.7".parse().ok());
        assert_eq!(host_of("tcp://[::1]:2375"), "::1".parse().ok());
        assert_eq!(host_of("tcp://[::1]"), "::1".parse().ok());
        assert_eq!(host_of("tcp://node-2:2375"), None);
        assert_eq!(host_of("unix:///var/run/docker.sock"), None);
        assert_eq!(host_of("172.31.250.12:2375"), None);
        assert_eq!(
            remote_host("tcp://172.31.250.11:2375"),
            "172.31.250.11".parse().ok()
        );
        assert_eq!(remote_host("tcp://127.0.0.1:2375"), None);
        assert_eq!(remote_host("unix:///var/run/docker.sock"), None);
    }

    #[test]
    fn nodes_rank_the_managers_first_then_by_hostname() {
        let docker = |port: u16| {
            Docker::connect_with_http(
                &format!("tcp://127.0.0.1:{port}"),
                1,
                bollard::API_DEFAULT_VERSION,
            )
            .unwrap()
        };
        let node = |port: u16| NodeEngine {
            docker: docker(port),
            addr: format!("tcp://127.0.0.1:{port}"),
            host: "127.0.0.1".parse().unwrap(),
        };
        // Node ids sort the other way round from hostnames: the rank follows the hostnames.
        // fgnode-2 is down (no engine): it still takes its place, so fgnode-3 stays 4th.
        let fleet = Fleet {
            manager: docker(1),
            manager_host: None,
            remote: BTreeMap::from([("a-id".to_owned(), node(3)), ("c-id".to_owned(), node(4))]),
            others: BTreeMap::from([
                ("a-id".to_owned(), "fgnode-3".to_owned()),
                ("b-id".to_owned(), "fgnode-2".to_owned()),
                ("c-id".to_owned(), "fgnode-1b".to_owned()),
            ]),
        };
        assert_eq!(fleet.rank(None), 1);
        assert_eq!(fleet.rank(Some("manager-id")), 1);
        assert_eq!(fleet.rank(Some("c-id")), 2);
        assert_eq!(fleet.rank(Some("b-id")), 3);
        assert_eq!(fleet.rank(Some("a-id")), 4);
        assert_eq!(Fleet::one(docker(1)).rank(Some("a-id")), 1);
    }
}
