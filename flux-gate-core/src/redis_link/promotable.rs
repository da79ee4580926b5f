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
//! consider: those they list that report themselves replicas, or are the one being promoted
//! (`promoted`: it already reports itself a primary, and is exactly the replica whose copy
//! must be waited for), except
//! * one that is down (`s_down`, `o_down`): it cannot be promoted while it is;
//! * one they have never had an `INFO` reply from: after a failover each Sentinel lists the
//!   old primary as a replica at once, dead or cut off, and until it answers it holds nothing
//!   of the new primary's; counted, it would refuse every write until it is down (`down-after`);
//! * one with priority 0, which is never promoted;
//! * the server the `WAIT` runs on, which cannot acknowledge its own writes: mid-failover a
//!   Sentinel that has not switched yet still lists the promoted replica, which by then may be
//!   the primary an API writes to.
//!
//! `disconnected` is *not* down: the Sentinel running a failover ends its `REPLICAOF NO ONE`
//! with `CLIENT KILL TYPE normal`, which drops the other Sentinels' links to the promoted
//! replica; for a moment they flag it `disconnected`, and counting it out then let the old
//! primary's writes be acknowledged by the other replica alone (docs/decisions.md §51).
//!
//! Every Sentinel is asked and the largest count wins: only the one running a failover marks
//! its replica `promoted`, and they switch to a new primary at different moments. A Sentinel
//! that does not answer keeps its last list: one that cannot be reached is also not running a
//! failover that no other Sentinel knows of for long.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::sync::watch;

use super::locate::{client, connect};
use super::SentinelConfig;

/// How often the Sentinels are asked.
pub const EVERY: Duration = Duration::from_millis(250);

/// Longer than this since a Sentinel's last `INFO` reply from a replica means never: older
/// Redis releases then report the time since the Unix epoch (the 7.0 measured here reports 0,
/// which `could_be_promoted` reads as never too). A replica
/// is asked every 10 s, every second during a failover, and one that stops answering is
/// `s_down` after `down-after`, long before this.
const NEVER_HEARD_MS: u64 = 24 * 3600 * 1000;

/// Each Sentinel's promotable replicas, by the address this client dials them at; `None` for
/// a Sentinel that never answered.
type Lists = Vec<Option<BTreeSet<String>>>;

/// The replicas a write must reach, kept current from the Sentinels; cheap to clone. Unknown
/// until the first Sentinel answers.
#[derive(Clone)]
pub struct Promotable(watch::Receiver<Lists>);

impl Promotable {
    /// Starts asking `cfg`'s Sentinels every [`EVERY`], for as long as a clone is alive.
    pub fn watch(cfg: SentinelConfig) -> Self {
        let (tx, rx) = watch::channel(vec![None; cfg.sentinels.len()]);
        tokio::spawn(ask_every(cfg, tx));
        Promotable(rx)
    }

    /// How many replicas a write made on `server` (as this client dials it) must reach, waiting
    /// up to `limit` for the first answer.
    pub async fn now(&mut self, limit: Duration, server: Option<&str>) -> Option<u32> {
        let known = self.0.wait_for(|l| l.iter().any(Option::is_some));
        match tokio::time::timeout(limit, known).await {
            Ok(Ok(lists)) => count(&lists, server),
            _ => None,
        }
    }
}

/// The largest number of promotable replicas any Sentinel lists, `server` left out.
fn count(lists: &Lists, server: Option<&str>) -> Option<u32> {
    lists
        .iter()
        .flatten()
        .map(|l| l.iter().filter(|a| Some(a.as_str()) != server).count() as u32)
        .max()
}

async fn ask_every(cfg: SentinelConfig, tx: watch::Sender<Lists>) {
    let mut cons: Vec<Option<MultiplexedConnection>> = vec![None; cfg.sentinels.len()];
    let mut ticks = tokio::time::interval(EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !tx.is_closed() {
        ticks.tick().await;
        let asks = cfg
            .sentinels
            .iter()
            .zip(cons.iter_mut())
            .map(|(addr, con)| ask(&cfg, addr, con));
        let answers = futures::future::join_all(asks).await;
        let changed = tx.send_if_modified(|lists| {
            let mut changed = false;
            for (seen, now) in lists.iter_mut().zip(answers) {
                if now.is_some() && *seen != now {
                    *seen = now;
                    changed = true;
                }
            }
            changed
        });
        if changed {
            tracing::info!(replicas = ?*tx.borrow(), "replicas each Sentinel could promote");
        }
    }
}

/// One Sentinel's promotable replicas, or `None` if it did not answer within [`EVERY`] (its
/// connection is then dropped and made again next time).
async fn ask(
    cfg: &SentinelConfig,
    addr: &str,
    con: &mut Option<MultiplexedConnection>,
) -> Option<BTreeSet<String>> {
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
            .arg(&cfg.master)
            .query_async::<Vec<HashMap<String, String>>>(c)
            .await
            .ok()
    };
    let replicas = tokio::time::timeout(EVERY, asked).await.ok().flatten();
    if replicas.is_none() {
        *con = None;
    }
    Some(promotable(cfg, &replicas?))
}

/// The replicas in a `SENTINEL REPLICAS` answer that could be promoted, translated to the
/// addresses this client dials.
fn promotable(cfg: &SentinelConfig, replicas: &[HashMap<String, String>]) -> BTreeSet<String> {
    replicas
        .iter()
        .filter(|r| could_be_promoted(r))
        .filter_map(|r| {
            let port = r.get("port")?.parse().ok()?;
            Some(cfg.translate(r.get("ip")?, port))
        })
        .collect()
}

fn could_be_promoted(r: &HashMap<String, String>) -> bool {
    let field = |k: &str| r.get(k).map(String::as_str);
    let flags: Vec<&str> = field("flags").map_or(Vec::new(), |f| f.split(',').collect());
    let down = flags.iter().any(|f| matches!(*f, "s_down" | "o_down"));
    let heard = field("info-refresh")
        .and_then(|ms| ms.parse::<u64>().ok())
        .is_some_and(|ms| ms > 0 && ms < NEVER_HEARD_MS);
    let replica = field("role-reported") == Some("slave") || flags.contains(&"promoted");
    let never_promoted = field("slave-priority") == Some("0");
    replica && !down && heard && !never_promoted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SentinelConfig {
        SentinelConfig::parse("127.0.0.1:1", "m", "10.0.0.9:6379=127.0.0.1:9009").unwrap()
    }

    fn replica(port: u16, flags: &str, info_refresh_ms: u64) -> HashMap<String, String> {
        HashMap::from([
            ("ip".to_owned(), "127.0.0.1".to_owned()),
            ("port".to_owned(), port.to_string()),
            ("flags".to_owned(), flags.to_owned()),
            ("info-refresh".to_owned(), info_refresh_ms.to_string()),
            ("role-reported".to_owned(), "slave".to_owned()),
            ("slave-priority".to_owned(), "100".to_owned()),
        ])
    }

    fn reporting(mut r: HashMap<String, String>, role: &str) -> HashMap<String, String> {
        r.insert("role-reported".to_owned(), role.to_owned());
        r
    }

    fn listed(ports: &[u16]) -> BTreeSet<String> {
        ports.iter().map(|p| format!("127.0.0.1:{p}")).collect()
    }

    #[test]
    fn a_replica_counts_unless_down_never_heard_or_never_promoted() {
        let c = cfg();
        assert_eq!(
            promotable(&c, &[replica(1, "slave", 300), replica(2, "slave", 9000)]),
            listed(&[1, 2])
        );
        // Killed, or cut off from the Sentinels for `down-after`.
        let down = [
            replica(1, "slave,s_down,disconnected", 4000),
            replica(2, "slave,o_down", 300),
            replica(3, "slave", 300),
        ];
        assert_eq!(promotable(&c, &down), listed(&[3]));
        // Its link just dropped (the promoting Sentinel's CLIENT KILL): still promotable.
        assert_eq!(
            promotable(&c, &[replica(1, "slave,disconnected", 700)]),
            listed(&[1])
        );
        // The old primary, listed as a replica the moment the Sentinel switched: never heard
        // (Redis 7.0 says 0, older releases the time since the epoch).
        let epoch_ms = 1_796_000_000_000;
        for never in [0, epoch_ms] {
            let old = replica(1, "slave,disconnected", never);
            assert_eq!(promotable(&c, &[old]), listed(&[]));
        }
        // Mid-failover on the Sentinel running it: the chosen replica already reports itself a
        // primary, and counts.
        let chosen = reporting(replica(1, "slave,promoted", 900), "master");
        assert_eq!(promotable(&c, &[chosen]), listed(&[1]));
        // The old primary back after a failover: a primary until the Sentinels repoint it,
        // holding none of the new primary's writes.
        let back = reporting(replica(1, "slave", 900), "master");
        assert_eq!(promotable(&c, &[back]), listed(&[]));
        let mut never = replica(1, "slave", 300);
        never.insert("slave-priority".to_owned(), "0".to_owned());
        assert_eq!(promotable(&c, &[never]), listed(&[]));
        // Unparseable or missing fields: not counted, never a panic.
        assert_eq!(promotable(&c, &[HashMap::new()]), listed(&[]));
    }

    #[test]
    fn addresses_are_the_ones_this_client_dials() {
        let mut r = replica(6379, "slave", 300);
        r.insert("ip".to_owned(), "10.0.0.9".to_owned());
        assert_eq!(
            promotable(&cfg(), &[r]),
            BTreeSet::from(["127.0.0.1:9009".to_owned()])
        );
    }

    #[test]
    fn the_largest_count_wins_and_the_writing_server_is_left_out() {
        // Mid-failover: the Sentinel that switched lists the old primary (never heard, so not
        // here) and replica 3; one that has not switched still lists 2 — now the primary the
        // API writes to — and 3.
        let lists: Lists = vec![Some(listed(&[3])), Some(listed(&[2, 3])), None];
        assert_eq!(count(&lists, Some("127.0.0.1:2")), Some(1));
        // Writing to the old primary 1 instead: both 2 and 3 must hold the write.
        assert_eq!(count(&lists, Some("127.0.0.1:1")), Some(2));
        assert_eq!(count(&vec![None, None], None), None);
    }
}
