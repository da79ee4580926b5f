//! Stock observed during the run, not only at its end.
//!
//! `no_oversell` promises that Redis stock never goes below zero; a read at the end of the run
//! cannot see a dip that was later repaired (a reconciler, a compensating `INCR`). The sampler
//! reads each sale's stock and outbox length every [`EVERY`] from sale start to the end of
//! settle, on its own connection straight to Redis — never through a fault proxy, so a fault on
//! the API's link does not blind it. While Redis itself is down it records nothing and counts
//! the missed reads, so the report can say how much of the run was observed.

use std::time::{Duration, Instant};

use flux_gate_contract::http::ProductId;
use redis::aio::MultiplexedConnection;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::ObserveError;
use crate::model::{Sample, Sampling};

/// How often the sampler reads.
pub const EVERY: Duration = Duration::from_millis(100);

/// A running sampler; [`Sampler::stop`] ends it and hands over what it saw.
pub struct Sampler {
    stop: watch::Sender<bool>,
    task: JoinHandle<(Vec<Sample>, Sampling)>,
}

impl Sampler {
    /// Starts sampling `product` at `redis_url` (a direct address), times counted from `zero`.
    /// The first read happens before this returns, so it sees the sale before the first order
    /// the caller then sends (a failed first read is counted as missed, like any other).
    pub async fn start(
        redis_url: &str,
        product: &str,
        zero: Instant,
    ) -> Result<Sampler, ObserveError> {
        let client = redis::Client::open(redis_url).map_err(|source| ObserveError::RedisUrl {
            url: redis_url.to_owned(),
            source,
        })?;
        let product =
            ProductId::parse(product).map_err(|e| ObserveError::Product(e.to_string()))?;
        let mut seen = Seen {
            zero,
            samples: Vec::new(),
            sampling: Sampling {
                every_ms: EVERY.as_millis() as u64,
                ..Sampling::default()
            },
        };
        let mut con: Option<MultiplexedConnection> = None;
        seen.record(read_once(&client, &mut con, &product).await);
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + EVERY, EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => break,
                }
                seen.record(read_once(&client, &mut con, &product).await);
            }
            (seen.samples, seen.sampling)
        });
        Ok(Sampler { stop, task })
    }

    pub async fn stop(self) -> (Vec<Sample>, Sampling) {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

/// What the sampler has seen so far.
struct Seen {
    zero: Instant,
    samples: Vec<Sample>,
    sampling: Sampling,
}

impl Seen {
    fn record(&mut self, read: Option<(Option<i64>, u64)>) {
        match read {
            Some((stock, outbox)) => {
                self.sampling.taken += 1;
                self.samples.push(Sample {
                    at_ms: self.zero.elapsed().as_millis() as u64,
                    stock,
                    outbox,
                });
            }
            None => self.sampling.missed += 1,
        }
    }
}

/// One read within one sampling interval; `None` (and a fresh connection next time) on any
/// error or timeout.
async fn read_once(
    client: &redis::Client,
    con: &mut Option<MultiplexedConnection>,
    product: &ProductId,
) -> Option<(Option<i64>, u64)> {
    let read = async {
        if con.is_none() {
            *con = Some(client.get_multiplexed_async_connection().await.ok()?);
        }
        let c = con.as_mut()?;
        flux_gate_contract::redis_reads::view(c, product).await.ok()
    };
    match tokio::time::timeout(EVERY, read).await {
        Ok(Some(v)) => Some((v.stock, v.outbox)),
        _ => {
            *con = None;
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
            },
            Sample {
                at_ms: 100,
                stock: Some(-1),
                outbox: 2,
            },
            Sample {
                at_ms: 200,
                stock: None,
                outbox: 0,
            },
        ];
        crate::record::write_samples(&path, &s).unwrap();
        assert_eq!(crate::record::read_samples(&path).unwrap(), s);
        assert_eq!(crate::model::min_stock(&s), Some(-1));
        assert_eq!(crate::model::min_stock(&[]), None);
    }
}
