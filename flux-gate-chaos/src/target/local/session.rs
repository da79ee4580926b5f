//! The state file of a running `fgchaos up` (`<work dir>/up.json`): how `fgchaos down` finds
//! and stops it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::target::Endpoints;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no stack is up ({0} not found)")]
    NotUp(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a state file of `fgchaos up`: {source}")]
    Garbled {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("stopping fgchaos up (pid {pid}): {source}")]
    Signal { pid: u32, source: nix::Error },
    #[error("fgchaos up (pid {0}) did not stop within 30 s; `fgchaos cleanup` kills what it left")]
    StillRunning(u32),
}

/// What `down` needs: the process to signal, and where the stack answers (for people).
#[derive(Debug, Serialize, Deserialize)]
struct State {
    pid: u32,
    endpoints: Endpoints,
}

/// A recorded `up`; [`Session::remove`] deletes the file when the stack is down.
pub struct Session {
    file: PathBuf,
}

impl Session {
    /// Writes the state file of this process's stack.
    pub fn record(work_dir: &Path, endpoints: &Endpoints) -> Result<Session, SessionError> {
        let file = work_dir.join("up.json");
        let state = State {
            pid: std::process::id(),
            endpoints: endpoints.clone(),
        };
        let text = serde_json::to_vec_pretty(&state).map_err(|source| SessionError::Garbled {
            path: file.clone(),
            source,
        })?;
        std::fs::write(&file, text).map_err(|source| SessionError::Io {
            path: file.clone(),
            source,
        })?;
        Ok(Session { file })
    }

    pub fn remove(self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

/// SIGTERMs the `fgchaos up` recorded under `work_dir` and waits (30 s at most) until it has
/// finished.
pub async fn stop(work_dir: &Path) -> Result<(), SessionError> {
    let path = work_dir.join("up.json");
    let text = std::fs::read(&path).map_err(|_| SessionError::NotUp(path.clone()))?;
    let state: State = serde_json::from_slice(&text).map_err(|source| SessionError::Garbled {
        path: path.clone(),
        source,
    })?;
    let pid = Pid::from_raw(state.pid as i32);
    kill(pid, Signal::SIGTERM).map_err(|source| SessionError::Signal {
        pid: state.pid,
        source,
    })?;
    for _ in 0..300 {
        if finished(state.pid) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(SessionError::StillRunning(state.pid))
}

/// Gone, or a zombie its parent has not reaped yet: either way it has finished.
fn finished(pid: u32) -> bool {
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
        st.rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
    });
    zombie || kill(Pid::from_raw(pid as i32), None).is_err()
}
