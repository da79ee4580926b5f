//! A shared Redis connection that is thrown away, never reused, once it broke or went silent.
//!
//! Why not `redis::aio::ConnectionManager`: a multiplexed connection matches replies to
//! requests by position. If a proxy drops requests without closing the socket (a Toxiproxy
//! `timeout` toxic, a blackholed link), every later reply on that socket would be handed to the
//! wrong caller. So a connection that errs, or on which nothing at all got a reply for a whole
//! timeout, is retired and a fresh one made (attempts spaced `RECONNECT_BACKOFF` apart). The
//! reservation script also echoes a per-request token (`reservation.rs`), so a mismatched
//! reply is caught even before that.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, IntoConnectionInfo, RedisError};

/// Least time between two connection attempts: an unreachable Redis is not hammered with
/// reconnects by every caller.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("redis is unreachable: {0}")]
    Unreachable(String),
    #[error("redis: {0}")]
    Redis(#[from] RedisError),
}

struct Current {
    generation: u64,
    con: MultiplexedConnection,
}

struct Inner {
    client: Client,
    /// Milliseconds since `epoch` of the last successful reply: tells a connection that is
    /// merely slow (others still get replies) from one that went silent.
    last_reply_ms: AtomicU64,
    epoch: Instant,
    current: Mutex<Option<Current>>,
    connecting: tokio::sync::Mutex<()>,
    generation: AtomicU64,
    last_failure: Mutex<Option<Instant>>,
}

/// Cheap to clone; all clones share one connection.
#[derive(Clone)]
pub struct RedisLink {
    inner: Arc<Inner>,
}

impl RedisLink {
    /// A link to the Redis at `url`, with TCP_NODELAY on its socket: redis-rs leaves Nagle's
    /// algorithm on, and a pipelined request written while an earlier reply is still
    /// unacknowledged then waits for the peer's delayed ACK — up to 40 ms per order whenever
    /// Redis, or the network to it, is a little slow (measured through a 50 ms latency fault:
    /// p50 65–72 ms instead of 52 ms).
    pub fn new(url: &str) -> Result<Self, RedisError> {
        let info = url.into_connection_info()?;
        let tcp = info.tcp_settings().clone().set_nodelay(true);
        Ok(RedisLink {
            inner: Arc::new(Inner {
                client: Client::open(info.set_tcp_settings(tcp))?,
                last_reply_ms: AtomicU64::new(0),
                epoch: Instant::now(),
                current: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                generation: AtomicU64::new(0),
                last_failure: Mutex::new(None),
            }),
        })
    }

    /// Runs `op` on the shared connection within `timeout` (connecting included). A
    /// connection-level error retires the connection, and so does a timeout when no call at all
    /// got a reply during the last `timeout` (a silent link, not a busy one: retiring a busy
    /// connection would only add reconnects to the overload). An `op` that sees a reply out of
    /// step reports it as an I/O error (see `reservation.rs`), which retires it too.
    ///
    /// A connection-level error (a restarted Redis closed the socket) is retried once on a
    /// fresh connection within the same deadline, so a Redis restart costs callers no error.
    /// `op` must therefore be idempotent; every operation in Flux-Gate is (the reservation by
    /// its idempotency key).
    pub async fn call<T, F, Fut>(&self, timeout: Duration, mut op: F) -> Result<T, LinkError>
    where
        F: FnMut(MultiplexedConnection) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut attempts_left = 2;
        loop {
            attempts_left -= 1;
            let (generation, con) =
                match tokio::time::timeout_at(deadline, self.connection(timeout)).await {
                    Ok(r) => r?,
                    Err(_) => return Err(LinkError::Timeout(timeout)),
                };
            match tokio::time::timeout_at(deadline, op(con)).await {
                Ok(Ok(v)) => {
                    self.inner
                        .last_reply_ms
                        .store(self.now_ms(), Ordering::Relaxed);
                    return Ok(v);
                }
                Ok(Err(e)) => {
                    let broken =
                        e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error();
                    if broken {
                        self.retire(generation);
                    }
                    if !(broken && attempts_left > 0) {
                        return Err(LinkError::Redis(e));
                    }
                    tracing::debug!(error = %e, "redis connection broke; retrying once on a fresh one");
                }
                Err(_) => {
                    let last = self.inner.last_reply_ms.load(Ordering::Relaxed);
                    if self.now_ms().saturating_sub(last) >= timeout.as_millis() as u64 {
                        self.retire(generation);
                    }
                    return Err(LinkError::Timeout(timeout));
                }
            }
        }
    }

    fn now_ms(&self) -> u64 {
        self.inner.epoch.elapsed().as_millis() as u64
    }

    /// Retires the connection of `generation` (if it is still the current one).
    fn retire(&self, generation: u64) {
        let mut cur = lock(&self.inner.current);
        if cur.as_ref().is_some_and(|c| c.generation == generation) {
            tracing::warn!(generation, "retiring redis connection");
            *cur = None;
        }
    }

    async fn connection(
        &self,
        timeout: Duration,
    ) -> Result<(u64, MultiplexedConnection), LinkError> {
        if let Some(c) = lock(&self.inner.current).as_ref() {
            return Ok((c.generation, c.con.clone()));
        }
        let _guard = self.inner.connecting.lock().await;
        if let Some(c) = lock(&self.inner.current).as_ref() {
            return Ok((c.generation, c.con.clone()));
        }
        // Space attempts RECONNECT_BACKOFF apart: wait out the rest of the pause (the caller's
        // deadline bounds the wait) rather than fail a caller that arrived just after someone
        // else's failed attempt — after a Redis restart that would be a needless 503.
        let pause = lock(&self.inner.last_failure)
            .as_ref()
            .map(|at| RECONNECT_BACKOFF.saturating_sub(at.elapsed()));
        if let Some(pause) = pause.filter(|p| !p.is_zero()) {
            tokio::time::sleep(pause).await;
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(None);
        match self
            .inner
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(con) => {
                let generation = self.inner.generation.fetch_add(1, Ordering::Relaxed) + 1;
                *lock(&self.inner.current) = Some(Current {
                    generation,
                    con: con.clone(),
                });
                *lock(&self.inner.last_failure) = None;
                tracing::info!(generation, "connected to redis");
                Ok((generation, con))
            }
            Err(e) => {
                let why = e.to_string();
                *lock(&self.inner.last_failure) = Some(Instant::now());
                Err(LinkError::Unreachable(why))
            }
        }
    }
}

/// Locks a mutex, ignoring poisoning: the guarded values are plain data that a panicking
/// holder cannot leave half-written.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
