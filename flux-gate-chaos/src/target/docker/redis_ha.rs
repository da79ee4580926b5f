//! Redis with Sentinel in a compose project: the topology the harness reads (every instance
//! and Sentinel at its container address, never through a proxy), built from the services the
//! docker stack description names.

use super::engine::DockerError;
use super::project::Project;
use super::spec::RedisHaServices;
use std::collections::BTreeMap;

use crate::target::redis_ha::RedisTopology;
use crate::target::LinkEnds;

/// The project's Sentinel topology, or `None` when it runs no Sentinel (one Redis).
///
/// The Sentinels decide, not the instances: a project without the override runs `redis`,
/// the first instance, too. With Sentinels every named service must be there. A member that
/// is not running has no address and is left out: it holds no role until it runs again
/// (the target re-reads the project whenever it starts an instance).
pub fn topology(
    ha: &RedisHaServices,
    project: &Project,
) -> Result<Option<RedisTopology>, DockerError> {
    let runs = |s: &&String| !project.instances_of(s).is_empty();
    if !ha.sentinels.iter().any(|s| runs(&s)) {
        return Ok(None);
    }
    let (present, absent): (Vec<&String>, Vec<&String>) =
        ha.instances.iter().chain(&ha.sentinels).partition(runs);
    if !absent.is_empty() {
        return Err(DockerError::PartialRedisHa {
            project: project.name().to_owned(),
            present: join(&present),
            absent: join(&absent),
        });
    }
    let addresses = |services: &[String], port: u16| -> Vec<(String, String)> {
        services
            .iter()
            .flat_map(|s| project.instances_of(s))
            .filter_map(|i| {
                let ip = project.containers.get(&i)?.ip?;
                Some((i, format!("{ip}:{port}")))
            })
            .collect()
    };
    Ok(Some(RedisTopology {
        instances: addresses(&ha.instances, ha.port),
        sentinels: addresses(&ha.sentinels, ha.sentinel_port)
            .into_iter()
            .map(|(_, addr)| addr)
            .collect(),
        master: ha.master.clone(),
        peer_links: ha
            .instances
            .iter()
            .zip(&ha.peer_links)
            .flat_map(|(s, link)| {
                project
                    .instances_of(s)
                    .into_iter()
                    .map(move |i| (i, link.clone()))
            })
            .collect(),
    }))
}

/// Refuses a topology whose peer links are not proxies of the project's Toxiproxy: a fault
/// naming a role as a link would otherwise fail only when it fires.
pub fn check_peer_links(
    topology: Option<&RedisTopology>,
    links: &BTreeMap<String, LinkEnds>,
    project: &str,
) -> Result<(), DockerError> {
    let Some(t) = topology else {
        return Ok(());
    };
    match t.peer_links.iter().find(|(_, l)| !links.contains_key(*l)) {
        Some((instance, link)) => Err(DockerError::NoPeerLink {
            project: project.to_owned(),
            instance: instance.clone(),
            link: link.clone(),
        }),
        None => Ok(()),
    }
}

fn join(services: &[&String]) -> String {
    services
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::target::docker::project::{container, name_instances, Scope};

    fn ha() -> RedisHaServices {
        RedisHaServices {
            instances: vec!["redis".into(), "redis-2".into()],
            sentinels: vec!["sentinel".into()],
            master: "flux-gate".into(),
            port: 6379,
            sentinel_port: 26379,
            peer_links: vec!["redis-1".into(), "redis-2".into()],
        }
    }

    /// A project of `services` (`name` or `name×N` replicas), container k at 10.0.0.k.
    fn project(services: &[(&str, u32)]) -> Project {
        let mut found = Vec::new();
        for (service, replicas) in services {
            for n in 1..=*replicas {
                let mut c = container(service, n);
                c.ip = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, found.len() as u8 + 1)));
                found.push(c);
            }
        }
        Project {
            scope: Scope::Compose("shop".into()),
            containers: name_instances(found),
        }
    }

    #[test]
    fn every_member_at_its_container_address() {
        let p = project(&[("redis", 1), ("redis-2", 1), ("sentinel", 3), ("nginx", 1)]);
        let t = topology(&ha(), &p).unwrap().unwrap();
        assert_eq!(
            t.instances,
            [
                ("redis".to_owned(), "10.0.0.1:6379".to_owned()),
                ("redis-2".to_owned(), "10.0.0.2:6379".to_owned())
            ]
        );
        assert_eq!(
            t.sentinels,
            ["10.0.0.3:26379", "10.0.0.4:26379", "10.0.0.5:26379"]
        );
        assert_eq!(t.master, "flux-gate");
        assert_eq!(
            t.peer_links,
            [
                ("redis".to_owned(), "redis-1".to_owned()),
                ("redis-2".to_owned(), "redis-2".to_owned())
            ]
            .into()
        );
        let proxies = |names: &[&str]| -> BTreeMap<String, LinkEnds> {
            names
                .iter()
                .map(|n| ((*n).to_owned(), LinkEnds::default()))
                .collect()
        };
        assert!(check_peer_links(Some(&t), &proxies(&["redis-1", "redis-2"]), "shop").is_ok());
        assert_eq!(
            check_peer_links(Some(&t), &proxies(&["redis-2", "kafka"]), "shop")
                .unwrap_err()
                .to_string(),
            "the docker stack file names `redis-1` as the peer link of `redis` \
             (`redis_ha.peer_links`), but compose project `shop`'s Toxiproxy has no proxy \
             `redis-1`"
        );
        assert!(check_peer_links(None, &proxies(&[]), "shop").is_ok());
    }

    #[test]
    fn none_of_it_is_one_redis_and_part_of_it_is_refused() {
        assert_eq!(
            topology(&ha(), &project(&[("redis", 1), ("nginx", 1)])).unwrap(),
            None
        );
        let e = topology(&ha(), &project(&[("redis", 1), ("sentinel", 3)]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "compose project `shop` runs part of the Redis Sentinel topology the docker stack \
             file names (`redis_ha`): it has `redis`, `sentinel` but not `redis-2`. Start it \
             with every file and profile of that topology (docker-compose.redis-ha.yml, \
             `--profile redis-ha`), or remove `redis_ha` from the stack file"
        );
    }

    #[test]
    fn a_member_not_running_holds_no_address() {
        let mut p = project(&[("redis", 1), ("redis-2", 1), ("sentinel", 1)]);
        p.containers.get_mut("redis-2").unwrap().ip = None;
        let t = topology(&ha(), &p).unwrap().unwrap();
        assert_eq!(
            t.instances,
            [("redis".to_owned(), "10.0.0.1:6379".to_owned())]
        );
        assert_eq!(t.sentinels, ["10.0.0.3:26379"]);
    }
}
