//! What Linux's `/proc` says about a process: read without holding its [`crate::Supervised`],
//! so a wait can run beside whoever else uses it, and about processes that are not our
//! children (a server's workers, which a signal to the group reaches but `wait` does not).

use std::time::Duration;

/// The state letter of `pid` (`R`, `S`, `T` stopped, `Z` exited and not yet reaped, …), or
/// `None` if no such process exists.
pub fn state(pid: u32) -> Option<char> {
    stat_fields(pid)?.first()?.chars().next()
}

/// The fields of `pid`'s stat line after its command name (state first), which, in
/// parentheses, may itself hold spaces and parentheses.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// Whether `pid` still runs: it exists and has not exited (a zombie has).
pub fn alive(pid: u32) -> bool {
    matches!(state(pid), Some(s) if s != 'Z' && s != 'X')
}

/// Whether any process of group `pgid` still runs.
pub fn group_alive(pgid: u32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .any(|pid| group_of(pid) == Some(pgid) && alive(pid))
}

/// The process group of `pid` (field 5 of its stat line).
fn group_of(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(2)?.parse().ok()
}

/// Waits up to `limit` until no process of group `pgid` runs; `true` if none does.
///
/// A killed server's leader is reaped at once, but its workers, killed by the same signal to
/// the group, may still be exiting: PostgreSQL started again in that window finds its old
/// shared memory still attached and exits.
pub async fn wait_group_gone(pgid: u32, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while group_alive(pgid) {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_runs_in_its_own_group_and_a_missing_one_does_not() {
        let me = std::process::id();
        assert!(alive(me));
        let pgid = nix::unistd::getpgrp().as_raw() as u32;
        assert_eq!(group_of(me), Some(pgid));
        assert!(group_alive(pgid));
        assert_eq!(state(u32::MAX), None);
        assert!(!alive(u32::MAX));
        assert!(!group_alive(u32::MAX));
    }
}
