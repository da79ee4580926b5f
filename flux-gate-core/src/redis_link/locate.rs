//! Where the Redis primary is: a fixed URL, or whatever a quorum of Sentinels says now.
//!
//! Why our own thin resolver and not redis-rs's `sentinel` module: every client of Flux-Gate
//! reaches Redis through an address of its own (a fault proxy per link on the local target, a
//! NAT in a real deployment), so the address a Sentinel names must be *translated* before it is
//! dialled — ioredis calls this `natMap`; redis-rs has no such hook. The resolver is also where
//! the "is it really the primary?" check lives: a Sentinel can name an instance that has just
//! been demoted, so every new connection asks the instance itself (`ROLE`) before it is used.

use std::collections::BTreeMap;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, IntoConnectionInfo, RedisError};

use super::LinkError;

/// How to find the primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locator {
    /// Always this Redis.
    Fixed(String),
    /// Ask these Sentinels (in order; the first that answers wins) for `master`'s address.
    Sentinel(SentinelConfig),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelConfig {
    /// `host:port` of each Sentinel, as this client reaches it.
    pub sentinels: Vec<String>,
    /// The name the Sentinels monitor the primary under.
    pub master: String,
    /// Address a Sentinel names (`host:port`) → address this client dials instead.
    pub nat: BTreeMap<String, String>,
}

/// Why a Sentinel configuration was refused (at startup, never mid-run).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("no Sentinel address given")]
    NoSentinels,
    #[error("Sentinel address {0:?} is not host:port")]
    BadAddress(String),
    #[error("NAT map entry {0:?} is not FROM=TO (each host:port)")]
    BadNat(String),
    #[error("the master name is empty")]
    NoMaster,
}

impl SentinelConfig {
    /// Parses the comma-separated forms of the environment: `a:1,b:2` and `from=to,…`.
    pub fn parse(sentinels: &str, master: &str, nat: &str) -> Result<Self, ConfigError> {
        let list = |s: &str| {
            s.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let sentinels = list(sentinels);
        if sentinels.is_empty() {
            return Err(ConfigError::NoSentinels);
        }
        if let Some(bad) = sentinels.iter().find(|a| !is_host_port(a)) {
            return Err(ConfigError::BadAddress(bad.clone()));
        }
        if master.trim().is_empty() {
            return Err(ConfigError::NoMaster);
        }
        let mut map = BTreeMap::new();
        for entry in list(nat) {
            match entry.split_once('=') {
                Some((from, to)) if is_host_port(from.trim()) && is_host_port(to.trim()) => {
                    map.insert(from.trim().to_owned(), to.trim().to_owned());
                }
                _ => return Err(ConfigError::BadNat(entry)),
            }
        }
        Ok(SentinelConfig {
            sentinels,
            master: master.trim().to_owned(),
            nat: map,
        })
    }

    /// The address this client dials for the `host:port` a Sentinel names.
    pub(super) fn translate(&self, host: &str, port: u16) -> String {
        let named = format!("{host}:{port}");
        self.nat.get(&named).cloned().unwrap_or(named)
    }
}

fn is_host_port(s: &str) -> bool {
    s.rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
}

/// Opens a client with TCP_NODELAY: redis-rs leaves Nagle's algorithm on, and a pipelined
/// request written while an earlier reply is still unacknowledged then waits for the peer's
/// delayed ACK — up to 40 ms per order whenever Redis, or the network to it, is a little slow
/// (measured through a 50 ms latency fault: p50 65–72 ms instead of 52 ms).
pub(super) fn client(url: &str) -> Result<Client, RedisError> {
    let info = url.into_connection_info()?;
    let tcp = info.tcp_settings().clone().set_nodelay(true);
    Client::open(info.set_tcp_settings(tcp))
}

pub(super) async fn connect(
    client: &Client,
    timeout: Duration,
) -> Result<MultiplexedConnection, RedisError> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(None);
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

impl Locator {
    /// Checks the form of every address now, so a typo fails at startup.
    pub(super) fn check(&self) -> Result<(), RedisError> {
        match self {
            Locator::Fixed(url) => client(url).map(|_| ()),
            Locator::Sentinel(_) => Ok(()),
        }
    }

    /// A connection to the primary, within `timeout`, and the address it was made to.
    pub(super) async fn connect(
        &self,
        timeout: Duration,
    ) -> Result<(MultiplexedConnection, String), LinkError> {
        match self {
            Locator::Fixed(url) => {
                let c = client(url)?;
                let con = connect(&c, timeout)
                    .await
                    .map_err(|e| LinkError::Unreachable(e.to_string()))?;
                Ok((con, url.clone()))
            }
            Locator::Sentinel(cfg) => {
                let addr = primary_address(cfg, timeout).await?;
                let c = client(&format!("redis://{addr}"))?;
                let mut con = connect(&c, timeout)
                    .await
                    .map_err(|e| LinkError::Unreachable(format!("primary {addr}: {e}")))?;
                // A Sentinel's answer can be a moment old: the instance itself must agree.
                let role: redis::Value = redis::cmd("ROLE")
                    .query_async(&mut con)
                    .await
                    .map_err(|e| LinkError::Unreachable(format!("primary {addr}: {e}")))?;
                if !is_master(&role) {
                    return Err(LinkError::Unreachable(format!(
                        "{addr}, named primary by the Sentinels, is not a primary (yet)"
                    )));
                }
                Ok((con, addr))
            }
        }
    }
}

/// The primary's address as this client dials it: the first Sentinel that answers names it.
async fn primary_address(cfg: &SentinelConfig, timeout: Duration) -> Result<String, LinkError> {
    let mut why = Vec::new();
    for s in &cfg.sentinels {
        let asked = async {
            let c = client(&format!("redis://{s}"))?;
            let mut con = connect(&c, timeout).await?;
            redis::cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg(&cfg.master)
                .query_async::<Option<(String, u16)>>(&mut con)
                .await
        };
        match tokio::time::timeout(timeout, asked).await {
            Ok(Ok(Some((host, port)))) => return Ok(cfg.translate(&host, port)),
            Ok(Ok(None)) => why.push(format!("{s}: does not know `{}`", cfg.master)),
            Ok(Err(e)) => why.push(format!("{s}: {e}")),
            Err(_) => why.push(format!("{s}: no answer within {timeout:?}")),
        }
    }
    Err(LinkError::Unreachable(format!(
        "no Sentinel named the primary ({})",
        why.join("; ")
    )))
}

/// `ROLE`'s first element is `master` on a primary.
fn is_master(role: &redis::Value) -> bool {
    match role {
        redis::Value::Array(items) => {
            matches!(
                items.first(),
                Some(redis::Value::BulkString(b)) if b.as_slice() == b"master"
            ) || matches!(items.first(), Some(redis::Value::SimpleString(s)) if s == "master")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sentinels_and_the_nat_map() {
        let c = SentinelConfig::parse(
            "127.0.0.1:26379, 127.0.0.1:26380",
            "flux-gate",
            "127.0.0.1:7001=127.0.0.1:8001,10.0.0.2:6379=127.0.0.1:8002",
        )
        .unwrap();
        assert_eq!(c.sentinels, ["127.0.0.1:26379", "127.0.0.1:26380"]);
        assert_eq!(c.translate("127.0.0.1", 7001), "127.0.0.1:8001");
        assert_eq!(c.translate("10.0.0.2", 6379), "127.0.0.1:8002");
        assert_eq!(c.translate("127.0.0.1", 7009), "127.0.0.1:7009");
    }

    #[test]
    fn refuses_what_it_cannot_dial() {
        assert_eq!(
            SentinelConfig::parse(" , ", "m", ""),
            Err(ConfigError::NoSentinels)
        );
        assert_eq!(
            SentinelConfig::parse("localhost", "m", ""),
            Err(ConfigError::BadAddress("localhost".into()))
        );
        assert_eq!(
            SentinelConfig::parse("a:1", " ", ""),
            Err(ConfigError::NoMaster)
        );
        assert_eq!(
            SentinelConfig::parse("a:1", "m", "a:1>b:2"),
            Err(ConfigError::BadNat("a:1>b:2".into()))
        );
    }

    #[test]
    fn only_a_master_role_is_a_primary() {
        use redis::Value::{Array, BulkString, Int};
        assert!(is_master(&Array(vec![
            BulkString(b"master".to_vec()),
            Int(0)
        ])));
        assert!(!is_master(&Array(vec![BulkString(b"slave".to_vec())])));
        assert!(!is_master(&Int(1)));
    }
}
