//! Service processes a crashed run left behind. Every instance of a local stack runs with its
//! working directory inside the run directory, so "every process whose working directory is
//! under the work dir" finds exactly them — without a pid file that a crash could leave stale.

use std::path::Path;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// SIGKILLs (after a SIGCONT, so a paused one dies too) every process whose working directory
/// is inside `work_dir`, except this one. Returns how many were killed.
pub fn kill_under(work_dir: &Path) -> std::io::Result<usize> {
    let Ok(root) = work_dir.canonicalize() else {
        return Ok(0);
    };
    let mut killed = 0;
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid as u32 == std::process::id() {
            continue;
        }
        let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) else {
            continue;
        };
        if cwd.starts_with(&root) {
            let p = Pid::from_raw(pid);
            let _ = kill(p, Signal::SIGCONT);
            if kill(p, Signal::SIGKILL).is_ok() {
                killed += 1;
            }
        }
    }
    Ok(killed)
}
