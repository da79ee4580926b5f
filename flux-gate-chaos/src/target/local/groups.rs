//! The process groups of every instance a stack started, for the one moment an orderly
//! teardown cannot be waited for: a second Ctrl-C. Whoever handles signals creates the
//! registry and hands it to every stack it starts; each instance adds its group when it starts
//! and removes it when it is stopped.

use std::sync::{Arc, Mutex};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// Shared, cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ProcessGroups(Arc<Mutex<Vec<u32>>>);

impl ProcessGroups {
    pub fn add(&self, pid: Option<u32>) {
        if let (Some(pid), Ok(mut g)) = (pid, self.0.lock()) {
            if !g.contains(&pid) {
                g.push(pid);
            }
        }
    }

    pub fn remove(&self, pid: Option<u32>) {
        if let (Some(pid), Ok(mut g)) = (pid, self.0.lock()) {
            g.retain(|p| *p != pid);
        }
    }

    /// SIGKILLs every group still registered.
    pub fn kill_all(&self) {
        let groups = self.0.lock().map(|g| g.clone()).unwrap_or_default();
        for pid in groups {
            let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }
}
