//! Redis with Sentinel, as the harness sees it: which instance is primary now, and asking a
//! Sentinel to fail over.
//!
//! The harness reads every instance and every Sentinel at its *direct* address, never through
//! a fault proxy, so a fault never blinds it. The primary is the instance whose `run_id` the
//! Sentinels name (`SENTINEL MASTER`): after a failover two instances can both say
//! `role:master` for a moment (a restarted old primary not yet demoted, or a split brain), and
//! the Sentinels' choice is the one clients follow. Only when no Sentinel answers does the
//! sole instance saying `role:master` count.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::join_all;
use serde::{Deserialize, Serialize};

mod settled;

pub use crate::scenario::fault::{is_role, PRIMARY_ROLE, REPLICA_ROLE};

/// How long one read of an instance or Sentinel may take.
const READ_TIMEOUT: Duration = Duration::from_millis(300);

/// Where the Redis instances and their Sentinels are (recorded in the journal).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RedisTopology {
    /// Instance name → direct `host:port`, in the stack's order.
    pub instances: Vec<(String, String)>,
    /// Direct `host:port` of each Sentinel.
    pub sentinels: Vec<String>,
    /// The name the Sentinels monitor the primary under.
    pub master: String,
    /// Instance → its peer link: the link its replicas and the Sentinels reach it through
    /// (the address it announces). A link fault naming a role acts on the holder's peer link,
    /// so "cut the primary off" cuts whichever instance is primary when the fault fires.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub peer_links: BTreeMap<String, String>,
}

/// Who holds which role at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles {
    /// The primary the Sentinels (or, failing them, the instances) name.
    pub primary: Option<String>,
    /// Instances answering as replicas, in the stack's order.
    pub replicas: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RolesError {
    #[error(
        "no instance holds the role `{role}` now (primary {primary:?}, replicas {replicas:?})"
    )]
    Vacant {
        role: String,
        primary: Option<String>,
        replicas: Vec<String>,
    },
    #[error("`{instance}` holds the role `{role}` now, but the stack names no peer link of it (`redis_ha.peer_links`)")]
    NoPeerLink { role: String, instance: String },
    #[error("no Sentinel accepted SENTINEL FAILOVER {master}: {why}")]
    Failover { master: String, why: String },
}

/// One command to one instance or Sentinel on a fresh connection, [`READ_TIMEOUT`] for
/// connecting and as long again for the answer; the error says which.
async fn ask<T: redis::FromRedisValue>(addr: &str, cmd: &redis::Cmd) -> Result<T, String> {
    let client = redis::Client::open(format!("redis://{addr}")).map_err(|e| e.to_string())?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(READ_TIMEOUT))
        .set_response_timeout(Some(READ_TIMEOUT));
    let mut con = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| format!("unreachable: {e}"))?;
    cmd.query_async(&mut con).await.map_err(|e| e.to_string())
}

/// `field:value` from an INFO reply.
fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(str::trim)
}

/// What one instance says of itself.
#[derive(Debug, Clone, PartialEq)]
struct InstanceView {
    run_id: String,
    primary: bool,
    /// A replica's link to its primary (`master_link_status:up`); true for a primary.
    link_up: bool,
    /// A primary's `master_repl_offset`, a replica's `slave_repl_offset`.
    offset: i64,
    /// A primary's `connected_slaves`.
    replicas: usize,
}

/// One instance's `INFO server replication`, read at its direct address.
async fn instance_view(addr: &str) -> Result<InstanceView, String> {
    let info: String = ask(addr, redis::cmd("INFO").arg("server").arg("replication")).await?;
    let number = |field: &str| info_field(&info, field).and_then(|v| v.parse::<i64>().ok());
    let primary = info_field(&info, "role") == Some("master");
    let offset = if primary {
        number("master_repl_offset")
    } else {
        number("slave_repl_offset")
    };
    Ok(InstanceView {
        run_id: info_field(&info, "run_id").unwrap_or_default().to_owned(),
        primary,
        link_up: primary || info_field(&info, "master_link_status") == Some("up"),
        offset: offset.unwrap_or(-1),
        replicas: number("connected_slaves")
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0),
    })
}

/// `key`'s value in a Sentinel reply of alternating keys and values (`SENTINEL MASTER`).
fn sentinel_field<'a>(pairs: &'a [String], key: &str) -> Option<&'a str> {
    pairs
        .chunks(2)
        .find(|kv| kv.first().is_some_and(|k| k == key))
        .and_then(|kv| kv.get(1))
        .map(String::as_str)
}

impl RedisTopology {
    /// Reads every instance and asks the Sentinels; instances that do not answer hold no role.
    pub async fn roles(&self) -> Roles {
        let reads = self.instances.iter().map(|(name, addr)| async move {
            let v = instance_view(addr).await.ok()?;
            Some((name.clone(), v.run_id, v.primary))
        });
        let seen: Vec<(String, String, bool)> =
            join_all(reads).await.into_iter().flatten().collect();
        let named = self.sentinel_run_id().await;
        let masters: Vec<String> = seen
            .iter()
            .filter(|(_, _, m)| *m)
            .map(|(n, _, _)| n.clone())
            .collect();
        let primary = named
            .and_then(|id| seen.iter().find(|(_, r, _)| *r == id))
            .map(|(n, _, _)| n.clone())
            .or_else(|| (masters.len() == 1).then(|| masters[0].clone()));
        Roles {
            replicas: seen
                .iter()
                .filter(|(n, _, m)| !*m && Some(n) != primary.as_ref())
                .map(|(n, _, _)| n.clone())
                .collect(),
            primary,
        }
    }

    /// The run id of the primary, as the first Sentinel that knows it says.
    async fn sentinel_run_id(&self) -> Option<String> {
        let master = redis::cmd("SENTINEL")
            .arg("MASTER")
            .arg(&self.master)
            .clone();
        for s in &self.sentinels {
            if let Ok(fields) = ask::<Vec<String>>(s, &master).await {
                if let Some(id) = sentinel_field(&fields, "runid").filter(|v| !v.is_empty()) {
                    return Some(id.to_owned());
                }
            }
        }
        None
    }

    /// The instance holding `role` now: the primary, or the first replica in stack order.
    pub async fn resolve(&self, role: &str) -> Result<String, RolesError> {
        let roles = self.roles().await;
        let found = if role == PRIMARY_ROLE {
            roles.primary.clone()
        } else {
            roles.replicas.first().cloned()
        };
        found.ok_or(RolesError::Vacant {
            role: role.to_owned(),
            primary: roles.primary,
            replicas: roles.replicas,
        })
    }

    /// The peer link of the instance holding `role` now, and that instance.
    pub async fn resolve_peer_link(&self, role: &str) -> Result<(String, String), RolesError> {
        let instance = self.resolve(role).await?;
        match self.peer_links.get(&instance) {
            Some(link) => Ok((link.clone(), instance)),
            None => Err(RolesError::NoPeerLink {
                role: role.to_owned(),
                instance,
            }),
        }
    }

    /// `SENTINEL FAILOVER`: the first Sentinel that accepts it promotes a replica (it answers
    /// at once; the promotion follows within a few seconds).
    pub async fn failover(&self) -> Result<(), RolesError> {
        let failover = redis::cmd("SENTINEL")
            .arg("FAILOVER")
            .arg(&self.master)
            .clone();
        let mut why = Vec::new();
        for s in &self.sentinels {
            match ask::<String>(s, &failover).await {
                Ok(_) => return Ok(()),
                Err(e) => why.push(format!("{s}: {e}")),
            }
        }
        Err(RolesError::Failover {
            master: self.master.clone(),
            why: why.join("; "),
        })
    }

    /// The primary now, if one is known: its name and direct address.
    pub async fn primary(&self) -> Option<(String, String)> {
        let primary = self.roles().await.primary?;
        self.instances.iter().find(|(n, _)| *n == primary).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_info_fields() {
        let info =
            "# Server\r\nredis_version:7.0.15\r\nrun_id:abc123\r\n# Replication\r\nrole:slave\r\n";
        assert_eq!(info_field(info, "run_id"), Some("abc123"));
        assert_eq!(info_field(info, "role"), Some("slave"));
        assert_eq!(info_field(info, "run"), None);
    }
}
