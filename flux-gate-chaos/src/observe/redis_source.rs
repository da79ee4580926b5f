//! Which Redis the harness reads: the one address of a single-instance stack, or — with
//! Sentinel — whichever instance is primary at the moment of the read.

use std::time::Duration;

use redis::aio::MultiplexedConnection;

use super::ObserveError;
use crate::target::redis_ha::RedisTopology;
use crate::target::Endpoints;

/// Where reads of the sale's Redis state go.
#[derive(Clone)]
pub enum RedisSource {
    /// Always this instance.
    Direct(redis::Client),
    /// The primary the Sentinels name (see `target::redis_ha`).
    Ha(RedisTopology),
}

impl RedisSource {
    pub fn new(ep: &Endpoints) -> Result<Self, ObserveError> {
        match &ep.redis_ha {
            Some(t) => Ok(RedisSource::Ha(t.clone())),
            None => redis::Client::open(ep.redis.as_str())
                .map(RedisSource::Direct)
                .map_err(|source| ObserveError::RedisUrl {
                    url: ep.redis.clone(),
                    source,
                }),
        }
    }

    /// A connection to the instance holding the sale now, within `timeout`, and that
    /// instance's name when there is a choice (the primary).
    pub async fn connect(
        &self,
        timeout: Duration,
    ) -> Result<(MultiplexedConnection, Option<String>), ObserveError> {
        let connecting = async {
            match self {
                RedisSource::Direct(c) => Ok((c.get_multiplexed_async_connection().await?, None)),
                RedisSource::Ha(t) => {
                    let (name, addr) = t.primary().await.ok_or(ObserveError::NoPrimary)?;
                    let url = format!("redis://{addr}");
                    let client = redis::Client::open(url.as_str())
                        .map_err(|source| ObserveError::RedisUrl { url, source })?;
                    Ok((client.get_multiplexed_async_connection().await?, Some(name)))
                }
            }
        };
        tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| ObserveError::RedisTimeout)?
    }
}
