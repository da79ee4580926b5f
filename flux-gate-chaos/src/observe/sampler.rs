//! Stock observed during the run, not only at its end.
//!
//! `no_oversell` promises that Redis stock never goes below zero; a read at the end of the run
//! cannot see a dip that was later repaired (a reconciler, a compensating `INCR`). The sampler
//! reads each sale's stock and outbox length every [`EVERY`] from sale start to the end of
//! settle, on its own connection straight to Redis — never through a fault proxy, so a fault on
//! the API's link does not blind it. While Redis itself is down it records nothing and counts
//! the missed reads, so the report can say how much of the run was observed.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flux_gate_contract::http::ProductId;
use redis::aio::MultiplexedConnection;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{ObserveError, RedisSource};
use crate::model::{Sample, Sampling};

/// How often the sampler reads.
pub const EVERY: Duration = Duration::from_millis(100);

/// A running sampler; [`Sampler::stop`] ends it and hands over what it saw.
pub struct Sampler {
    stop: watch::Sender<bool>,
    task: JoinHandle<(Vec<Sample>, Sampling)>,
    lowest: Arc<AtomicI64>,
}

impl Sampler {
    /// Starts sampling `product` from `redis` (a direct address, or the primary of the
    /// moment), times counted from `zero`. The first read happens before this returns, so it
    /// sees the sale before the first order the caller then sends (a failed first read is
    /// counted as missed, like any other).
    pub async fn start(
        redis: RedisSource,
        product: &str,
        zero: Instant,
    ) -> Result<Sampler, ObserveError> {
        let product =
            ProductId::parse(product).map_err(|e| ObserveError::Product(e.to_string()))?;
        let lowest = Arc::new(AtomicI64::new(i64::MAX));
        let mut seen = Seen {
            zero,
            lowest: lowest.clone(),
            samples: Vec::new(),
            sampling: Sampling {
                every_ms: EVERY.as_millis() as u64,
                ..Sampling::default()
            },
        };
        let mut con = Connection::default();
        seen.record(read_once(&redis, &mut con, &product).await);
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + EVERY, EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => break,
                }
                seen.record(read_once(&redis, &mut con, &product).await);
            }
            (seen.samples, seen.sampling)
        });
        Ok(Sampler { stop, task, lowest })
    }

    /// The lowest stock read so far (`i64::MAX` before the first read), for the stop
    /// condition that halts a run at the first sign of an oversell.
    pub fn lowest(&self) -> Arc<AtomicI64> {
        self.lowest.clone()
    }

    pub async fn stop(self) -> (Vec<Sample>, Sampling) {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

/// What the sampler has seen so far.
struct Seen {
    zero: Instant,
    lowest: Arc<AtomicI64>,
    samples: Vec<Sample>,
    sampling: Sampling,
}

impl Seen {
    fn record(&mut self, read: Option<(Option<i64>, u64, Option<String>)>) {
        match read {
            Some((stock, outbox, primary)) => {
                self.sampling.taken += 1;
                if let Some(v) = stock {
                    self.lowest.fetch_min(v, Ordering::Relaxed);
                }
                self.samples.push(Sample {
                    at_ms: self.zero.elapsed().as_millis() as u64,
                    stock,
                    outbox,
                    primary,
                });
            }
            None => self.sampling.missed += 1,
        }
    }
}

/// The sampler's connection and the instance it reaches.
#[derive(Default)]
struct Connection {
    con: Option<MultiplexedConnection>,
    instance: Option<String>,
    /// With Sentinel, when the primary was last asked for: a connection older than
    /// [`REASK`] is replaced, so a promotion that left the old primary up (a `failover`, a
    /// partition) is seen within a second.
    since: Option<Instant>,
}

/// How long a sampling connection to a Sentinel-named primary is trusted.
const REASK: Duration = Duration::from_secs(1);

/// One read within one sampling interval; `None` (and a fresh connection next time) on any
/// error or timeout.
async fn read_once(
    redis: &RedisSource,
    c: &mut Connection,
    product: &ProductId,
) -> Option<(Option<i64>, u64, Option<String>)> {
    let stale = matches!(redis, RedisSource::Ha(_)) && c.since.is_none_or(|t| t.elapsed() >= REASK);
    if stale {
        c.con = None;
    }
    let read = async {
        if c.con.is_none() {
            let (con, instance) = redis.connect(EVERY).await.ok()?;
            (c.con, c.instance, c.since) = (Some(con), instance, Some(Instant::now()));
        }
        let con = c.con.as_mut()?;
        flux_gate_contract::redis_reads::view(con, product)
            .await
            .ok()
    };
    match tokio::time::timeout(EVERY, read).await {
        Ok(Some(v)) => Some((v.stock, v.outbox, c.instance.clone())),
        _ => {
            c.con = None;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_round_trip_and_give_their_minimum() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samples.jsonl");
        let s = vec![
            Sample {
                at_ms: 0,
                stock: Some(3),
                outbox: 0,
                primary: None,
            },
            Sample {
                at_ms: 100,
                stock: Some(-1),
                outbox: 2,
                primary: None,
            },
            Sample {
                at_ms: 200,
                stock: None,
                outbox: 0,
                primary: None,
            },
        ];
        crate::record::write_samples(&path, &s).unwrap();
        assert_eq!(crate::record::read_samples(&path).unwrap(), s);
        assert_eq!(crate::model::min_stock(&s), Some(-1));
        assert_eq!(crate::model::min_stock(&[]), None);
    }
}
