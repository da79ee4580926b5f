//! The outbox relay: delivers reserved orders that the request path could not confirm.
//!
//! Each product's outbox is a Redis stream; an entry older than `min_age` was either answered
//! `202 pending` or belongs to an API instance that died before delivering it. Stream ids
//! start with the entry's millisecond timestamp, so `XRANGE outbox - <now - min_age>` returns
//! exactly those. A per-product lease keeps the instances from relaying the same entries at
//! once; should two ever overlap, the worker's idempotent insert absorbs the duplicate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::join_all;
use rdkafka::producer::FutureRecord;
use redis::{AsyncCommands, Script};

use crate::api::publisher::Publisher;
use crate::contract::ProductId;
use crate::keys::ProductKeys;
use crate::message::ORDERS_TOPIC;
use crate::redis_link::RedisLink;
use crate::replica_ack::ReplicaAck;
use crate::sale;

/// Entries relayed per product per round.
const BATCH: usize = 1000;
/// How long a relay lease lasts without renewal (an instance that died releases it this late).
const LEASE: Duration = Duration::from_secs(10);
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// Remove delivered entries from the outbox and count the ones this call removed (an entry the
/// request path already cleared was delivered twice, not relayed).
const CLEAR_LUA: &str = r"
local removed = redis.call('XDEL', KEYS[1], unpack(ARGV))
if removed > 0 then redis.call('INCRBY', KEYS[2], removed) end
return removed";

/// Take the lease if it is free or already ours, and renew it.
const LEASE_LUA: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0";

/// An outbox stream entry as `XRANGE` returns it: its id and its fields.
type OutboxEntry = (String, Vec<(String, String)>);

pub struct Relay {
    pub redis: RedisLink,
    /// Entries are published only once they are on the replicas (see [`ReplicaAck`]).
    pub ack: ReplicaAck,
    pub publisher: Publisher,
    pub instance: String,
    pub interval: Duration,
    pub min_age: Duration,
}

impl Relay {
    /// Relays until the process ends.
    pub async fn run(self) {
        let lease = Script::new(LEASE_LUA);
        let cleared = Script::new(CLEAR_LUA);
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let products = match self
                .redis
                .call(REDIS_TIMEOUT, |mut con| async move {
                    sale::products(&mut con).await
                })
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    tracing::debug!(error = %e, "relay: cannot list products");
                    continue;
                }
            };
            for product in products {
                let Ok(product) = ProductId::parse(&product) else {
                    continue;
                };
                if let Err(e) = self.relay_product(&lease, &cleared, &product).await {
                    tracing::debug!(error = %e, %product, "relay round failed");
                }
            }
        }
    }

    async fn relay_product(
        &self,
        lease: &Script,
        cleared: &Script,
        product: &ProductId,
    ) -> Result<(), crate::redis_link::LinkError> {
        let k = ProductKeys::new(product);
        let (lease_key, instance) = (&k.relay_lease(), self.instance.as_str());
        let held: i64 = self
            .redis
            .call(REDIS_TIMEOUT, |mut con| async move {
                lease
                    .key(lease_key)
                    .arg(instance)
                    .arg(LEASE.as_millis() as u64)
                    .invoke_async(&mut con)
                    .await
            })
            .await?;
        if held != 1 {
            return Ok(());
        }
        let cutoff = now_ms().saturating_sub(self.min_age.as_millis() as u64);
        let outbox = k.outbox();
        let key = &outbox;
        let (entries, generation): (Vec<OutboxEntry>, u64) = self
            .redis
            .call_tracked(REDIS_TIMEOUT, |mut con| async move {
                con.xrange_count(key, "-", cutoff, BATCH).await
            })
            .await?;
        if entries.is_empty() {
            return Ok(());
        }
        // Entries older than `min_age` were written before this round's lease renewal, so
        // the confirmation's marker write comes after them: once it is on the replicas, so
        // are they. An entry never replicated is never published (a failover drops it, and
        // its buyer got no yes).
        if let Err(e) = self.ack.confirm(generation).await {
            tracing::debug!(error = %e, %product, "relay: outbox entries not yet replicated");
            return Ok(());
        }
        let sends = entries.iter().filter_map(|(id, fields)| {
            let payload = fields
                .iter()
                .find(|(f, _)| f == "order")
                .map(|(_, v)| v.as_str())?;
            let record = FutureRecord::to(ORDERS_TOPIC)
                .key(product.as_str())
                .payload(payload);
            match self.publisher.producer().send_result(record) {
                Ok(delivery) => {
                    Some(async move { matches!(delivery.await, Ok(Ok(_))).then(|| id.clone()) })
                }
                Err(_) => None,
            }
        });
        let sends: Vec<_> = sends.collect();
        let attempted = sends.len();
        let delivered: Vec<String> = join_all(sends).await.into_iter().flatten().collect();
        if !delivered.is_empty() {
            self.publisher.gate().confirmed();
        } else if attempted > 0 {
            self.publisher.gate().lost("the relay's deliveries failed");
        }
        if !delivered.is_empty() {
            metrics::counter!("fg_api_outbox_relayed_total").increment(delivered.len() as u64);
            tracing::info!(%product, relayed = delivered.len(), waiting = entries.len(), "relayed outbox entries to Kafka");
            self.clear(cleared, &k, &delivered).await;
        }
        Ok(())
    }
}

impl Relay {
    /// Clears delivered entries and counts them in [`ProductKeys::relayed`]; a failure only
    /// means they are relayed again (the worker absorbs the duplicates).
    async fn clear(&self, script: &Script, k: &ProductKeys, entries: &[String]) {
        let (outbox, relayed) = (&k.outbox(), &k.relayed());
        let result = self
            .redis
            .call(REDIS_TIMEOUT, |mut con| async move {
                script
                    .key(outbox)
                    .key(relayed)
                    .arg(entries)
                    .invoke_async::<u64>(&mut con)
                    .await
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not clear relayed orders from the outbox; they will be relayed again");
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
