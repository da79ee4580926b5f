//! Redis with Sentinel, on real servers: a link that finds the primary through a Sentinel and
//! follows a failover without being rebuilt, and a replica acknowledgement that says yes only
//! while a replica holds the writes.

use std::time::Duration;

use flux_gate_core::redis_link::{LinkError, Locator, RedisLink, SentinelConfig};
use flux_gate_core::replica_ack::{AckError, ReplicaAck};
use flux_gate_testbed::redis::Redis;
use flux_gate_testbed::{binaries, ports, ready, Spec, Supervised};

use crate::wait::poll;

const CALL: Duration = Duration::from_secs(2);

/// One primary, its replicas, one Sentinel watching them (quorum 1).
struct Ha {
    primary: Redis,
    replica: Redis,
    /// A second replica, when asked for.
    other: Option<Redis>,
    sentinel: Supervised,
    sentinel_port: u16,
    _dir: tempfile::TempDir,
}

async fn start(min_replicas: u32) -> Ha {
    start_with(min_replicas, 1, 1000).await
}

/// `replicas` (1 or 2) replicas; the Sentinel calls an instance down after `down_after_ms`.
async fn start_with(min_replicas: u32, replicas: usize, down_after_ms: u64) -> Ha {
    let dir = tempfile::tempdir().unwrap();
    let min = [
        "--min-replicas-to-write".to_owned(),
        min_replicas.to_string(),
        "--min-replicas-max-lag".to_owned(),
        "1".to_owned(),
    ];
    let primary = Redis::start_with(&dir.path().join("primary"), &min)
        .await
        .unwrap();
    let mut args = min.to_vec();
    args.extend([
        "--replicaof".to_owned(),
        "127.0.0.1".to_owned(),
        primary.port.to_string(),
    ]);
    let replica = Redis::start_with(&dir.path().join("replica"), &args)
        .await
        .unwrap();
    let other = match replicas {
        2 => Some(
            Redis::start_with(&dir.path().join("other"), &args)
                .await
                .unwrap(),
        ),
        _ => None,
    };
    let sentinel_port = ports::free_port().unwrap();
    let conf = dir.path().join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port {sentinel_port}\nbind 127.0.0.1\nprotected-mode no\ndir {}\n\
             sentinel monitor fg 127.0.0.1 {} 1\n\
             sentinel down-after-milliseconds fg {down_after_ms}\nsentinel failover-timeout fg 5000\n",
            dir.path().display(),
            primary.port
        ),
    )
    .unwrap();
    let spec = Spec::new(
        "sentinel",
        binaries::find("redis-server", &[]).unwrap(),
        dir.path().join("sentinel.log"),
    )
    .arg(conf.display().to_string())
    .arg("--sentinel");
    let mut sentinel = Supervised::new(spec);
    sentinel.start().unwrap();
    let addr = ([127, 0, 0, 1], sentinel_port).into();
    ready::wait_until(&sentinel.watch(), Duration::from_secs(10), || {
        ready::redis_pong(addr)
    })
    .await
    .unwrap();
    let ha = Ha {
        primary,
        replica,
        other,
        sentinel,
        sentinel_port,
        _dir: dir,
    };
    // Every replica is in sync: WAIT can count it.
    let direct = RedisLink::new(&ha.primary.url()).unwrap();
    poll(Duration::from_secs(15), || async {
        let info: String = direct
            .call(CALL, |mut c| async move {
                redis::cmd("INFO")
                    .arg("replication")
                    .query_async(&mut c)
                    .await
            })
            .await
            .map_err(|e| e.to_string())?;
        let online = info.matches("state=online").count();
        (online == replicas).then_some(()).ok_or(info)
    })
    .await
    .unwrap();
    ha
}

/// Until the Sentinel has seen the replica in sync, so it can promote it: a Sentinel
/// refreshes what it knows of a replica every 10 s, and one first seen mid-sync is no
/// candidate until then.
async fn sentinel_sees_the_replica(sentinel_port: u16) {
    sentinel_sees_replicas(sentinel_port, 1).await
}

/// Until the Sentinel has seen `n` replicas in sync.
async fn sentinel_sees_replicas(sentinel_port: u16, n: usize) {
    let sentinel = RedisLink::new(&format!("redis://127.0.0.1:{sentinel_port}")).unwrap();
    poll(Duration::from_secs(20), || async {
        let replicas: Vec<Vec<String>> = sentinel
            .call(CALL, |mut c| async move {
                redis::cmd("SENTINEL")
                    .arg("REPLICAS")
                    .arg("fg")
                    .query_async(&mut c)
                    .await
            })
            .await
            .map_err(|e| e.to_string())?;
        let in_sync = replicas
            .iter()
            .filter(|r| {
                r.chunks(2)
                    .any(|kv| kv[0] == "master-link-status" && kv.get(1).is_some_and(|v| v == "ok"))
            })
            .count();
        (in_sync == n).then_some(()).ok_or(format!("{replicas:?}"))
    })
    .await
    .unwrap();
}

fn via_sentinel(ha: &Ha) -> RedisLink {
    let cfg = SentinelConfig::parse(&format!("127.0.0.1:{}", ha.sentinel_port), "fg", "").unwrap();
    RedisLink::with_locator(Locator::Sentinel(cfg)).unwrap()
}

async fn port_of_server(link: &RedisLink) -> Result<u16, String> {
    let info: String = link
        .call(CALL, |mut c| async move {
            redis::cmd("INFO").arg("server").query_async(&mut c).await
        })
        .await
        .map_err(|e| e.to_string())?;
    info.lines()
        .find_map(|l| l.strip_prefix("tcp_port:"))
        .and_then(|p| p.trim().parse().ok())
        .ok_or(info)
}

async fn incr(link: &RedisLink) -> Result<(i64, u64), LinkError> {
    link.call_tracked(CALL, |mut c| async move {
        redis::cmd("INCR").arg("{t}:n").query_async(&mut c).await
    })
    .await
}

#[tokio::test]
async fn a_sentinel_link_follows_a_failover_without_a_restart() {
    let ha = start(0).await;
    sentinel_sees_the_replica(ha.sentinel_port).await;
    let link = via_sentinel(&ha);
    assert_eq!(port_of_server(&link).await.unwrap(), ha.primary.port);
    let (n, _) = incr(&link).await.unwrap();
    assert_eq!(n, 1);
    // The Sentinel promotes the replica; the old primary is demoted (its clients dropped).
    let mut s = redis::Client::open(format!("redis://127.0.0.1:{}", ha.sentinel_port))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let ok: String = redis::cmd("SENTINEL")
        .arg("FAILOVER")
        .arg("fg")
        .query_async(&mut s)
        .await
        .unwrap();
    assert_eq!(ok, "OK");
    // The same link writes to the new primary, which holds the replicated count.
    let (n, _) = poll(Duration::from_secs(15), || async {
        let at = port_of_server(&link).await?;
        if at != ha.replica.port {
            return Err(format!("still on {at}"));
        }
        incr(&link).await.map_err(|e| e.to_string())
    })
    .await
    .unwrap();
    assert_eq!(n, 2);
    drop(ha.sentinel);
}

#[tokio::test]
async fn a_replica_acknowledgement_says_yes_only_while_a_replica_holds_the_write() {
    let mut ha = start(0).await;
    let link = RedisLink::new(&ha.primary.url()).unwrap();
    let ack = ReplicaAck::start(link.clone(), 1, Duration::from_millis(200));
    // Many callers at once share the batches, and every one gets its answer.
    let calls = (0..50).map(|_| async {
        let (_, generation) = incr(&link).await.unwrap();
        ack.confirm(generation).await
    });
    let answers = futures::future::join_all(calls).await;
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    // Without the replica, nobody is told yes.
    ha.replica.process.kill().await.unwrap();
    poll(Duration::from_secs(10), || async {
        let (_, generation) = incr(&link).await.map_err(|e| e.to_string())?;
        match ack.confirm(generation).await {
            Err(AckError::TooFew {
                got: 0, want: 1, ..
            }) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await
    .unwrap();
    // With no acknowledgement asked for, the same write is confirmed at once.
    let (_, generation) = incr(&link).await.unwrap();
    ReplicaAck::start(link.clone(), 0, Duration::from_millis(200))
        .confirm(generation)
        .await
        .unwrap();
    drop(ha.sentinel);
}

/// With two replicas a write waits for both while both could be promoted: one that stopped
/// answering is not yet down for the Sentinel, and could be promoted without the write (as a
/// planned failover promotes a replica and lets the old primary go on taking writes, which
/// the other replica alone acknowledged). Once the Sentinel calls it down, one replica is
/// enough again: a replica lost costs no more than the Sentinel's `down-after`.
#[tokio::test]
async fn a_write_waits_for_every_replica_a_sentinel_could_promote() {
    let ha = start_with(0, 2, 3000).await;
    sentinel_sees_replicas(ha.sentinel_port, 2).await;
    let link = via_sentinel(&ha);
    let ack = ReplicaAck::start(link.clone(), 1, Duration::from_millis(300));
    let confirm = || async {
        let (_, generation) = incr(&link).await.map_err(|e| e.to_string())?;
        ack.confirm(generation).await.map_err(|e| format!("{e:?}"))
    };
    // Both replicas hold it: yes. (The first answer waits for the Sentinel's first count.)
    confirm().await.unwrap();
    // One replica stops answering; for 3 s the Sentinel still counts it.
    ha.replica.process.pause().unwrap();
    let paused = std::time::Instant::now();
    let refused = confirm().await.unwrap_err();
    assert!(
        paused.elapsed() < Duration::from_millis(2500),
        "too late to tell: {:?}",
        paused.elapsed()
    );
    assert!(refused.contains("TooFew { got: 1, want: 2"), "{refused}");
    // Down for the Sentinel: it cannot be promoted, and the other replica is enough.
    poll(Duration::from_secs(15), confirm).await.unwrap();
    // Back and in sync: both are waited for again (a write is refused once it is paused anew
    // only if it is counted).
    ha.replica.process.resume().unwrap();
    sentinel_sees_replicas(ha.sentinel_port, 2).await;
    poll(Duration::from_secs(15), || async {
        confirm().await?;
        ha.replica.process.pause().map_err(|e| e.to_string())?;
        let answer = confirm().await;
        ha.replica.process.resume().map_err(|e| e.to_string())?;
        match answer {
            Err(e) if e.contains("want: 2") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await
    .unwrap();
    drop(ha.other);
    drop(ha.sentinel);
}

#[tokio::test]
async fn a_primary_without_replicas_refuses_writes_with_min_replicas() {
    let mut ha = start(1).await;
    let link = RedisLink::new(&ha.primary.url()).unwrap();
    incr(&link).await.unwrap();
    ha.replica.process.kill().await.unwrap();
    // The refusal comes once the replica has been silent for min-replicas-max-lag (1 s).
    let err = poll(Duration::from_secs(10), || async {
        match incr(&link).await {
            Err(LinkError::Redis(e)) => Ok(e.to_string()),
            other => Err(format!("{other:?}")),
        }
    })
    .await
    .unwrap();
    assert!(err.contains("NOREPLICAS"), "{err}");
    drop(ha.sentinel);
}
