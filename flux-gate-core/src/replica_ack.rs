//! Waiting until a write is on a replica before it is acknowledged: group-committed `WAIT`.
//!
//! Redis replicates asynchronously. A reservation acknowledged to the buyer but not yet sent to
//! any replica is lost when the primary dies and a Sentinel promotes a replica: its stock comes
//! back (an oversell later) and its order may already be in Kafka (Redis and the database no
//! longer agree). `WAIT n timeout` blocks until `n` replicas hold every write made before it on
//! that connection. Three choices make it cheap and correct:
//!
//! - **Group commit.** One `WAIT` covers every write before it, so requests that arrive while
//!   a `WAIT` is in flight share the next one: one replica round trip per batch, not per order.
//! - **A marker write first** (`INCR` of [`MARKER_KEY`]). `WAIT` only covers the writes of the
//!   connection it runs on; after the marker that is every write the server had applied by
//!   then — a replayed answer whose record another API instance wrote, or outbox entries the
//!   relay is about to publish, included.
//! - **The same connection** that answered the caller's write ([`RedisLink::call_on`] with its
//!   generation): after a failover a fresh connection would ask another server, whose replicas
//!   say nothing about the write the caller made.
//!
//! - **Every replica a Sentinel could promote**, when there are more of them than asked for
//!   ([`Promotable`]): with `WAIT 1`, a primary that stays up through a failover has its
//!   writes acknowledged by the replica that is *not* promoted, and loses them.
//!
//! With `min-replicas-to-write` set on the servers, a primary cut off from its replicas also
//! refuses the writes themselves (`NOREPLICAS`), which bounds what a split brain can accept.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::redis_link::{LinkError, Promotable, RedisLink};

/// The key each batch increments before its `WAIT` (hash-tagged to its own slot).
pub const MARKER_KEY: &str = "{fg}:replica-ack";

#[derive(Debug, thiserror::Error)]
pub enum AckError {
    #[error("only {got} of {want} replica(s) acknowledged within {timeout:?}")]
    TooFew {
        got: i64,
        want: u32,
        timeout: Duration,
    },
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("the replica acknowledger has stopped")]
    Stopped,
    #[error("no Sentinel has said within {0:?} how many replicas could be promoted")]
    Unknown(Duration),
}

struct Waiter {
    generation: u64,
    done: oneshot::Sender<Result<(), AckError>>,
}

/// Confirms writes to `replicas` replicas; cheap to clone. With `replicas == 0` every
/// confirmation succeeds at once (plain asynchronous replication).
#[derive(Clone)]
pub struct ReplicaAck {
    /// The batching task's queue; none when no replica is asked for.
    tx: Option<mpsc::UnboundedSender<Waiter>>,
}

impl ReplicaAck {
    /// Starts the batching task on `link` (a task only when `replicas > 0`). With Sentinels,
    /// a write waits for `replicas` or for every replica they could promote, whichever is more.
    pub fn start(link: RedisLink, replicas: u32, timeout: Duration) -> Self {
        if replicas == 0 {
            return ReplicaAck { tx: None };
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let want = Want {
            at_least: replicas,
            promotable: link.sentinels().cloned().map(Promotable::watch),
        };
        tokio::spawn(batches(link, want, timeout, rx));
        ReplicaAck { tx: Some(tx) }
    }

    /// Waits until every write the server had applied when the caller's write (made on the
    /// connection of `generation`) returned is on enough replicas.
    pub async fn confirm(&self, generation: u64) -> Result<(), AckError> {
        let Some(tx) = &self.tx else {
            return Ok(());
        };
        let (done, answer) = oneshot::channel();
        tx.send(Waiter { generation, done })
            .map_err(|_| AckError::Stopped)?;
        answer.await.map_err(|_| AckError::Stopped)?
    }
}

/// How many replicas a batch waits for.
struct Want {
    at_least: u32,
    promotable: Option<Promotable>,
}

impl Want {
    /// The count for a batch written on `server`; unknown while the Sentinels have not
    /// answered once.
    async fn now(&mut self, limit: Duration, server: Option<&str>) -> Result<u32, AckError> {
        match &mut self.promotable {
            None => Ok(self.at_least),
            Some(p) => match p.now(limit, server).await {
                Some(n) => Ok(n.max(self.at_least)),
                None => Err(AckError::Unknown(limit)),
            },
        }
    }
}

/// One batch at a time: everything queued while the previous `WAIT` ran goes into the next.
async fn batches(
    link: RedisLink,
    mut want: Want,
    timeout: Duration,
    mut rx: mpsc::UnboundedReceiver<Waiter>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(w) = rx.try_recv() {
            batch.push(w);
        }
        // Normally one generation; after a reconnect the older ones fail (Replaced).
        let mut generations: Vec<u64> = batch.iter().map(|w| w.generation).collect();
        generations.sort_unstable();
        generations.dedup();
        for generation in generations {
            let server = link.server(generation);
            let result = match want.now(timeout, server.as_deref()).await {
                Ok(n) => wait_once(&link, generation, n, timeout).await,
                Err(e) => Err(e),
            };
            let (mine, rest): (Vec<_>, Vec<_>) =
                batch.into_iter().partition(|w| w.generation == generation);
            batch = rest;
            for w in mine {
                let _ = w.done.send(match &result {
                    Ok(()) => Ok(()),
                    Err(e) => Err(e.copy()),
                });
            }
        }
    }
}

async fn wait_once(
    link: &RedisLink,
    generation: u64,
    replicas: u32,
    timeout: Duration,
) -> Result<(), AckError> {
    let ms = timeout.as_millis().max(1) as u64;
    // The client-side bound leaves WAIT room to answer with its own count first.
    let got: i64 = link
        .call_on(
            generation,
            timeout + Duration::from_millis(250),
            |mut con| async move {
                let (_, got): (i64, i64) = redis::pipe()
                    .cmd("INCR")
                    .arg(MARKER_KEY)
                    .cmd("WAIT")
                    .arg(replicas)
                    .arg(ms)
                    .query_async(&mut con)
                    .await?;
                Ok(got)
            },
        )
        .await?;
    metrics::counter!("fg_redis_replica_ack_batches_total").increment(1);
    if got >= i64::from(replicas) {
        Ok(())
    } else {
        Err(AckError::TooFew {
            got,
            want: replicas,
            timeout,
        })
    }
}

impl AckError {
    /// The same answer for every waiter of a batch (`LinkError` holds a `RedisError`, which
    /// is not `Clone`).
    fn copy(&self) -> AckError {
        match self {
            AckError::TooFew { got, want, timeout } => AckError::TooFew {
                got: *got,
                want: *want,
                timeout: *timeout,
            },
            AckError::Link(LinkError::Timeout(t)) => AckError::Link(LinkError::Timeout(*t)),
            AckError::Link(LinkError::Replaced) => AckError::Link(LinkError::Replaced),
            AckError::Link(e) => AckError::Link(LinkError::Unreachable(e.to_string())),
            AckError::Stopped => AckError::Stopped,
            AckError::Unknown(t) => AckError::Unknown(*t),
        }
    }
}
