//! A swarm task's address the host can reach. Overlay addresses are not routed from the host,
//! but every task container on a node also sits on that node's `docker_gwbridge`, and the host
//! routes to it (docs/swarm.md, measured). The address is not in the container's own inspect:
//! it is in the bridge network's list of its endpoints.

use std::net::IpAddr;

use bollard::query_parameters::InspectNetworkOptions;
use bollard::Docker;

use super::engine::DockerError;
use super::project::Container;

/// The bridge a swarm's containers reach the host through; `docker swarm init` creates it,
/// `docker swarm leave` does not remove it.
pub const NAME: &str = "docker_gwbridge";

/// Gives each container on this engine's `docker_gwbridge` its address there; the others are
/// left as they are (stopped, not a task, or on another node's engine, whose own bridge has
/// them).
pub async fn address_all(docker: &Docker, found: &mut [Container]) -> Result<(), DockerError> {
    let net = docker
        .inspect_network(NAME, None::<InspectNetworkOptions>)
        .await
        .map_err(|e| DockerError::api(format!("inspecting the `{NAME}` network"), e))?;
    let endpoints = net.containers.unwrap_or_default();
    for c in found.iter_mut() {
        if let Some(ip) = endpoints
            .get(&c.id)
            .and_then(|e| e.ipv4_address.as_deref())
            .and_then(ipv4_of)
        {
            c.ip = Some(ip);
        }
    }
    Ok(())
}

/// `172.18.0.5/16` → `172.18.0.5`.
fn ipv4_of(cidr: &str) -> Option<IpAddr> {
    cidr.split('/').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_length_is_not_part_of_the_address() {
        assert_eq!(ipv4_of("172.18.0.5/16"), "172.18.0.5".parse().ok());
        assert_eq!(ipv4_of(""), None);
    }
}
