//! A shared Redis connection that is thrown away, never reused, once it broke or went silent.
//!
//! Why not `redis::aio::ConnectionManager`: a multiplexed connection matches replies to
//! requests by position. If a proxy drops requests without closing the socket (a Toxiproxy
//! `timeout` toxic, a blackholed link), every later reply on that socket would be handed to the
//! wrong caller. So a connection that errs, or on which nothing at all got a reply for a whole
//! timeout, is retired and a fresh one made (attempts spaced `RECONNECT_BACKOFF` apart). The
//! reservation script also echoes a per-request token (`reservation.rs`), so a mismatched
//! reply is caught even before that.
//!
//! Where the connection goes is the [`Locator`]'s business (`locate.rs`): a fixed URL, or the
//! primary that the Sentinels name. A connection is also retired when the server says it is no
//! longer the one to write to (`READONLY`: demoted; `NOREPLICAS`: cut off from its replicas;
//! `MASTERDOWN`), so the next call asks the Sentinels again and follows a failover without a
//! restart.

mod locate;
mod promotable;

pub use locate::{ConfigError, Locator, SentinelConfig};
pub use promotable::Promotable;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::RedisError;

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
    /// The connection a step had to run on was replaced (it broke, or Redis failed over).
    #[error("the redis connection was replaced")]
    Replaced,
}

/// Errors that say this server is not (or no longer) the one to write to. Inside a script
/// Redis 7 keeps the code at the start of the message, so the text is checked too.
fn not_the_primary(e: &RedisError) -> bool {
    const CODES: [&str; 3] = ["READONLY", "NOREPLICAS", "MASTERDOWN"];
    let said = |t: &str| CODES.iter().any(|c| t.contains(c));
    e.code().is_some_and(said) || e.detail().is_some_and(said) || said(&e.to_string())
}

struct Current {
    generation: u64,
    con: MultiplexedConnection,
    /// The server, as this client dials it.
    addr: String,
}

struct Inner {
    locator: Locator,
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
    /// A link to the Redis at `url` (TCP_NODELAY on: see `locate::client`).
    pub fn new(url: &str) -> Result<Self, RedisError> {
        Self::with_locator(Locator::Fixed(url.to_owned()))
    }

    /// A link to wherever `locator` says the primary is; a fixed URL is checked now.
    pub fn with_locator(locator: Locator) -> Result<Self, RedisError> {
        locator.check()?;
        Ok(RedisLink {
            inner: Arc::new(Inner {
                locator,
                last_reply_ms: AtomicU64::new(0),
                epoch: Instant::now(),
                current: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                generation: AtomicU64::new(0),
                last_failure: Mutex::new(None),
            }),
        })
    }

    /// The Sentinels this link finds the primary through, if any.
    pub fn sentinels(&self) -> Option<&SentinelConfig> {
        match &self.inner.locator {
            Locator::Sentinel(cfg) => Some(cfg),
            Locator::Fixed(_) => None,
        }
    }

    /// The server the connection of `generation` goes to (as this client dials it), while
    /// that connection is the current one.
    pub fn server(&self, generation: u64) -> Option<String> {
        lock(&self.inner.current)
            .as_ref()
            .filter(|c| c.generation == generation)
            .map(|c| c.addr.clone())
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
    pub async fn call<T, F, Fut>(&self, timeout: Duration, op: F) -> Result<T, LinkError>
    where
        F: FnMut(MultiplexedConnection) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        self.call_tracked(timeout, op).await.map(|(v, _)| v)
    }

    /// [`RedisLink::call`], also telling which connection (its generation) answered: a
    /// [`crate::replica_ack::ReplicaAck`] must wait on that same connection, so that it asks
    /// the very server that took the write.
    pub async fn call_tracked<T, F, Fut>(
        &self,
        timeout: Duration,
        mut op: F,
    ) -> Result<(T, u64), LinkError>
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
                    return Ok((v, generation));
                }
                Ok(Err(e)) => {
                    let broken =
                        e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error();
                    let moved = not_the_primary(&e);
                    if broken {
                        self.retire(generation);
                    } else if moved {
                        self.retire_moved(generation);
                    }
                    // A demoted primary refused before writing anything, so the retry (which
                    // asks the Sentinels again) is as safe as the one after a broken socket.
                    if !((broken || moved) && attempts_left > 0) {
                        return Err(LinkError::Redis(e));
                    }
                    tracing::debug!(error = %e, "redis connection broke or moved; retrying once on a fresh one");
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

    /// Runs `op` on the connection of `generation` if it is still the current one: never on
    /// another (after a failover that could be another server). Its errors retire it like
    /// [`RedisLink::call`]'s; it is not retried.
    pub async fn call_on<T, F, Fut>(
        &self,
        generation: u64,
        timeout: Duration,
        op: F,
    ) -> Result<T, LinkError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let con = match lock(&self.inner.current).as_ref() {
            Some(c) if c.generation == generation => c.con.clone(),
            _ => return Err(LinkError::Replaced),
        };
        match tokio::time::timeout(timeout, op(con)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if e.is_io_error() || e.is_connection_dropped() {
                    self.retire(generation);
                } else if not_the_primary(&e) {
                    self.retire_moved(generation);
                }
                Err(LinkError::Redis(e))
            }
            Err(_) => Err(LinkError::Timeout(timeout)),
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

    /// Retires a connection whose server is no longer the primary. Reconnecting is spaced
    /// like after a failed attempt: a primary that is cut off from its replicas answers
    /// `NOREPLICAS` until the Sentinels promote another, and every caller reconnecting to it
    /// at once would only add load to the failover.
    fn retire_moved(&self, generation: u64) {
        self.retire(generation);
        *lock(&self.inner.last_failure) = Some(Instant::now());
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
        match self.inner.locator.connect(timeout).await {
            Ok((con, addr)) => {
                let generation = self.inner.generation.fetch_add(1, Ordering::Relaxed) + 1;
                *lock(&self.inner.current) = Some(Current {
                    generation,
                    con: con.clone(),
                    addr: addr.clone(),
                });
                *lock(&self.inner.last_failure) = None;
                tracing::info!(generation, %addr, "connected to redis");
                Ok((generation, con))
            }
            Err(e) => {
                *lock(&self.inner.last_failure) = Some(Instant::now());
                Err(e)
            }
        }
    }
}

/// Locks a mutex, ignoring poisoning: the guarded values are plain data that a panicking
/// holder cannot leave half-written.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
