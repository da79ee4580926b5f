//! Whether Redis with Sentinel has settled: every Sentinel names the same primary with no
//! failover in progress and sees every replica in sync, and the instances agree — one primary,
//! every other a replica whose link is up and whose offset has caught up.
//!
//! A kept stack (explore's trials, shrink's candidates) runs the next scenario on whatever the
//! last one left. Its own last steps undo every fault, but a failover's aftermath outlives
//! them: the Sentinels finish promoting and repointing, an old primary rejoins and resyncs.
//! A run that starts inside that aftermath is judged on a fault it never named (a shrink
//! candidate without any fault once failed so). So after each run the kept stack waits for
//! this, and restarts a stack that never gets there.

use std::time::Duration;

use futures::future::join_all;

use super::{ask, instance_view, sentinel_field as field, InstanceView, RedisTopology};

/// How often [`RedisTopology::settled_within`] looks again.
const POLL: Duration = Duration::from_millis(250);

/// What one Sentinel says of the primary and its replicas.
#[derive(Debug, Clone, PartialEq)]
struct SentinelView {
    /// The primary's run id (empty while unknown).
    run_id: String,
    /// The primary's flags: `master` alone when nothing is wrong.
    flags: String,
    /// Replicas whose flags are `slave` alone and whose link to the primary is `ok`.
    in_sync: usize,
}

impl RedisTopology {
    /// Waits until Redis has settled, looking every 250 ms for at most `limit`; the error
    /// says what was still unsettled at the last look.
    pub async fn settled_within(&self, limit: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let Some(why) = self.unsettled().await else {
                return Ok(());
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(why);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// What keeps Redis from being settled now, or `None` when it is.
    pub async fn unsettled(&self) -> Option<String> {
        let sentinels = join_all(
            self.sentinels
                .iter()
                .map(|s| async move { (s.clone(), self.sentinel_view(s).await) }),
        )
        .await;
        let instances = join_all(
            self.instances
                .iter()
                .map(|(name, addr)| async move { (name.clone(), instance_view(addr).await) }),
        )
        .await;
        judge(&sentinels, &instances)
    }

    async fn sentinel_view(&self, addr: &str) -> Result<SentinelView, String> {
        let master: Vec<String> =
            ask(addr, redis::cmd("SENTINEL").arg("MASTER").arg(&self.master)).await?;
        let replicas: Vec<Vec<String>> = ask(
            addr,
            redis::cmd("SENTINEL").arg("REPLICAS").arg(&self.master),
        )
        .await?;
        Ok(SentinelView {
            run_id: field(&master, "runid").unwrap_or_default().to_owned(),
            flags: field(&master, "flags").unwrap_or_default().to_owned(),
            in_sync: replicas
                .iter()
                .filter(|r| {
                    field(r, "flags") == Some("slave")
                        && field(r, "master-link-status") == Some("ok")
                })
                .count(),
        })
    }
}

/// The rules, on what was read: the first one broken, or `None`.
fn judge(
    sentinels: &[(String, Result<SentinelView, String>)],
    instances: &[(String, Result<InstanceView, String>)],
) -> Option<String> {
    let want = instances.len().saturating_sub(1);
    let mut named: Option<&str> = None;
    for (addr, view) in sentinels {
        let v = match view {
            Ok(v) => v,
            Err(e) => return Some(format!("Sentinel {addr} does not answer: {e}")),
        };
        if v.run_id.is_empty() || named.is_some_and(|id| id != v.run_id) {
            return Some("the Sentinels do not name one primary".into());
        }
        named = Some(&v.run_id);
        if v.flags != "master" {
            return Some(format!("Sentinel {addr} flags the primary `{}`", v.flags));
        }
        if v.in_sync < want {
            return Some(format!(
                "Sentinel {addr} sees {} of {want} replicas in sync",
                v.in_sync
            ));
        }
    }
    let mut seen = Vec::new();
    for (name, view) in instances {
        match view {
            Ok(v) => seen.push((name, v)),
            Err(e) => return Some(format!("{name} does not answer: {e}")),
        }
    }
    let primaries: Vec<_> = seen.iter().filter(|(_, v)| v.primary).collect();
    let [(primary, p)] = primaries[..] else {
        return Some(format!(
            "{} instances say they are primary",
            primaries.len()
        ));
    };
    if named.is_some_and(|id| id != p.run_id) {
        return Some(format!(
            "{primary} says it is primary, the Sentinels name another"
        ));
    }
    if p.replicas < want {
        return Some(format!("{primary} has {} of {want} replicas", p.replicas));
    }
    seen.iter()
        .filter(|(_, v)| !v.primary)
        .find_map(|(name, v)| {
            if !v.link_up {
                Some(format!("{name}'s link to the primary is down"))
            } else if v.offset < p.offset {
                Some(format!(
                    "{name} is at offset {}, the primary at {}",
                    v.offset, p.offset
                ))
            } else {
                None
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentinel(
        run_id: &str,
        flags: &str,
        in_sync: usize,
    ) -> (String, Result<SentinelView, String>) {
        let v = SentinelView {
            run_id: run_id.into(),
            flags: flags.into(),
            in_sync,
        };
        ("s".into(), Ok(v))
    }

    fn instance(
        name: &str,
        primary: bool,
        link_up: bool,
        offset: i64,
    ) -> (String, Result<InstanceView, String>) {
        let v = InstanceView {
            run_id: format!("id-{name}"),
            primary,
            link_up,
            offset,
            replicas: 2,
        };
        (name.into(), Ok(v))
    }

    fn calm() -> Vec<(String, Result<InstanceView, String>)> {
        vec![
            instance("r1", true, true, 100),
            instance("r2", false, true, 100),
            instance("r3", false, true, 120),
        ]
    }

    #[test]
    fn settled_only_when_sentinels_and_instances_agree() {
        let agreeing = vec![
            sentinel("id-r1", "master", 2),
            sentinel("id-r1", "master", 2),
        ];
        assert_eq!(judge(&agreeing, &calm()), None);

        let failing_over = vec![sentinel("id-r1", "master,failover_in_progress", 2)];
        let why = judge(&failing_over, &calm()).unwrap();
        assert!(why.contains("failover_in_progress"), "{why}");

        let split = vec![
            sentinel("id-r1", "master", 2),
            sentinel("id-r2", "master", 2),
        ];
        assert_eq!(
            judge(&split, &calm()).unwrap(),
            "the Sentinels do not name one primary"
        );

        let behind = vec![sentinel("id-r1", "master", 1)];
        assert!(judge(&behind, &calm()).unwrap().contains("1 of 2 replicas"));

        let stale = vec![sentinel("id-r2", "master", 2)];
        assert!(judge(&stale, &calm())
            .unwrap()
            .contains("the Sentinels name another"));
    }

    #[test]
    fn every_replica_must_be_linked_and_caught_up() {
        let s = vec![sentinel("id-r1", "master", 2)];
        let mut lagging = calm();
        lagging[1] = instance("r2", false, true, 99);
        assert_eq!(
            judge(&s, &lagging).unwrap(),
            "r2 is at offset 99, the primary at 100"
        );
        let mut unlinked = calm();
        unlinked[2] = instance("r3", false, false, 120);
        assert!(judge(&s, &unlinked).unwrap().contains("r3's link"));
        let mut two = calm();
        two[2] = instance("r3", true, true, 120);
        assert_eq!(judge(&s, &two).unwrap(), "2 instances say they are primary");
        let mut silent = calm();
        silent[0].1 = Err("unreachable".into());
        assert!(judge(&s, &silent)
            .unwrap()
            .starts_with("r1 does not answer"));
    }
}
