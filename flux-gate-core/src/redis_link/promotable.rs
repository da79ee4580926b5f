//! How many replicas a Sentinel could promote now: a write is acknowledged only once every one
//! of them holds it.
//!
//! `WAIT 1` with two replicas is enough when the primary dies — it takes nothing more, and the
//! Sentinels promote the replica with the highest offset — but not when it stays up through a
//! failover (`SENTINEL FAILOVER`, or a primary the Sentinels lost sight of): the Sentinel
//! promotes replica A (`REPLICAOF NO ONE`), and until it repoints replica B the old primary
//! goes on taking writes and B, still attached to it, answers their `WAIT 1`. Those writes are
//! acknowledged and then discarded when the old primary is made a replica (Redis's own
//! redis/redis#6062; found by `fgchaos explore`, docs/decisions.md §51). Waiting for *every*
//! replica closes that window — A no longer acknowledges anything the old primary takes — but
//! would refuse every write while one replica is down. A replica that is down cannot be
//! promoted, so the count a write must reach is the number of replicas the Sentinels would
//! consider: those not down (`s_down`, `o_down`, `disconnected`) that are replicas, or the one
//! being promoted.
//!
//! Only the Sentinel running a failover marks its chosen replica `promoted`; the others may
//! already see it report itself a primary and leave it out. So every Sentinel is asked and the
//! largest count wins. A Sentinel that does not answer keeps its last count: one that cannot
//! be reached is also not running a failover that no other Sentinel knows of for long.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::sync::watch;

use super::locate::{client, connect};
use super::SentinelConfig;

/// How often the Sentinels are asked.
pub const EVERY: Duration = Duration::from_millis(250);

/// The count a write must reach, kept current from the Sentinels; cheap to clone. Unknown
/// (`None`) until the first Sentinel answers.
#[derive(Clone)]
pub struct Promotable(watch::Receiver<Option<u32>>);

impl Promotable {
    /// Starts asking `cfg`'s Sentinels every [`EVERY`], for as long as a clone is alive.
    pub fn watch(cfg: SentinelConfig) -> Self {
        let (tx, rx) = watch::channel(None);
        tokio::spawn(ask_every(cfg, tx));
        Promotable(rx)
    }

    /// The count now, waiting up to `limit` for the first answer.
    pub async fn now(&mut self, limit: Duration) -> Option<u32> {
        let known = tokio::time::timeout(limit, self.0.wait_for(Option::is_some)).await;
        match known {
            Ok(Ok(n)) => *n,
            _ => None,
        }
    }
}

async fn ask_every(cfg: SentinelConfig, tx: watch::Sender<Option<u32>>) {
    let mut cons: Vec<Option<MultiplexedConnection>> = vec![None; cfg.sentinels.len()];
    let mut last: Vec<Option<u32>> = vec![None; cfg.sentinels.len()];
    let mut ticks = tokio::time::interval(EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !tx.is_closed() {
        ticks.tick().await;
        let asks = cfg
            .sentinels
            .iter()
            .zip(cons.iter_mut())
            .map(|(addr, con)| ask(addr, &cfg.master, con));
        for (seen, now) in last.iter_mut().zip(futures::future::join_all(asks).await) {
            if now.is_some() {
                *seen = now;
            }
        }
        let most = last.iter().flatten().max().copied();
        if most.is_some() && tx.send_if_modified(|n| std::mem::replace(n, most) != most) {
            tracing::info!(count = ?most, sentinels = ?last, "replicas a Sentinel could promote");
        }
    }
}

/// One Sentinel's count, or `None` if it did not answer within [`EVERY`] (its connection is
/// then dropped and made again next time).
async fn ask(addr: &str, master: &str, con: &mut Option<MultiplexedConnection>) -> Option<u32> {
    let asked = async {
        if con.is_none() {
            *con = Some(
                connect(&client(&format!("redis://{addr}")).ok()?, EVERY)
                    .await
                    .ok()?,
            );
        }
        let c = con.as_mut()?;
        redis::cmd("SENTINEL")
            .arg("replicas")
            .arg(master)
            .query_async::<Vec<HashMap<String, String>>>(c)
            .await
            .ok()
    };
    let replicas = tokio::time::timeout(EVERY, asked).await.ok().flatten();
    if replicas.is_none() {
        *con = None;
    }
    Some(count(&replicas?))
}

/// The replicas in a `SENTINEL REPLICAS` answer that could be promoted.
fn count(replicas: &[HashMap<String, String>]) -> u32 {
    replicas.iter().filter(|r| promotable(r)).count() as u32
}

fn promotable(r: &HashMap<String, String>) -> bool {
    let flags: Vec<&str> = r
        .get("flags")
        .map_or(Vec::new(), |f| f.split(',').collect());
    let down = flags
        .iter()
        .any(|f| matches!(*f, "s_down" | "o_down" | "disconnected"));
    let replica = r.get("role-reported").map(String::as_str) == Some("slave");
    !down && (replica || flags.contains(&"promoted"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(flags: &str, role: &str) -> HashMap<String, String> {
        HashMap::from([
            ("flags".to_owned(), flags.to_owned()),
            ("role-reported".to_owned(), role.to_owned()),
        ])
    }

    #[test]
    fn a_replica_counts_unless_down_and_the_one_being_promoted_counts_too() {
        assert_eq!(
            count(&[replica("slave", "slave"), replica("slave", "slave")]),
            2
        );
        // A replica killed, or cut off from the Sentinels.
        assert_eq!(
            count(&[
                replica("slave,s_down,disconnected", "slave"),
                replica("slave,s_down", "slave"),
                replica("slave,o_down", "slave"),
                replica("slave", "slave"),
            ]),
            1
        );
        // Mid-failover on the Sentinel running it: the chosen replica already reports itself a
        // primary, and still counts.
        assert_eq!(
            count(&[
                replica("slave,promoted", "master"),
                replica("slave", "slave")
            ]),
            2
        );
        // After it: the old primary, listed as a replica, still reports itself a primary until
        // the Sentinels repoint it; it has none of the new primary's writes to lose.
        assert_eq!(
            count(&[replica("slave", "master"), replica("slave", "slave")]),
            1
        );
        assert_eq!(count(&[HashMap::new()]), 0);
    }
}
