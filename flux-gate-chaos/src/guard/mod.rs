//! What heals a run's stack when fgchaos dies without healing it — SIGKILL, the OOM killer, a
//! CI runner that goes away (docs/decisions.md §57, docs/safety.md).
//!
//! A run arms a [`Guardian`] before its stack starts and disarms it once the stack is healed
//! and down. The guardian is this executable's hidden `guard` command, detached from fgchaos:
//! reparented to init, in a process group of its own (so neither a Ctrl-C at the terminal nor
//! a signal to fgchaos's group reaches it), its working directory `/` (so it is never taken
//! for one of the stack's processes). All it holds is the read end of a pipe whose one writer
//! is fgchaos. However fgchaos ends, the kernel closes that writer, so the guardian reads
//! either `done` — a clean end, and it exits — or end-of-file without it: fgchaos died with the
//! stack in its hands, and the guardian heals the run directory ([`heal`]) and records what
//! it did in `guardian.json` there. No heartbeat period to tune and no lease to expire: the
//! pipe's end is the death notice, milliseconds after the death.

mod heal;
mod watch;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::AsyncWriteExt;

use crate::target_kind::TargetKind;
pub use heal::{heal, Healed};
pub use watch::{watch, Report, REPORT_FILE};

/// What the guardian reads from a run that ended cleanly.
const DONE: &[u8] = b"done\n";

/// Why no guardian could be armed.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("starting the guardian ({} guard): {source}", exe.display())]
    Spawn {
        exe: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the guardian did not detach: {0}")]
    Detach(String),
}

/// A run's guardian, armed. [`Guardian::disarm`] once the stack is healed and down; dropped
/// without that — an error path, a panic — it heals at once, as for a death.
#[derive(Debug)]
pub struct Guardian {
    pipe: Option<tokio::process::ChildStdin>,
}

impl Guardian {
    /// Starts `exe guard` for the stack of `target` in `dir`, and returns once it has
    /// detached the process that watches. (`dir` is made absolute here: the guardian works
    /// from `/`, where a relative work dir — the default `.fgchaos/runs` — names nothing.)
    pub async fn arm(exe: &Path, dir: &Path, target: TargetKind) -> Result<Guardian, GuardError> {
        let dir = &std::path::absolute(dir).map_err(|source| GuardError::Spawn {
            exe: exe.to_owned(),
            source,
        })?;
        let mut first = tokio::process::Command::new(exe)
            .args(guard_args(dir, target))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .current_dir("/")
            .spawn()
            .map_err(|source| GuardError::Spawn {
                exe: exe.to_owned(),
                source,
            })?;
        let pipe = first.stdin.take();
        // The first stage only starts the watcher (which inherits the pipe) and exits.
        let out = first
            .wait_with_output()
            .await
            .map_err(|e| GuardError::Detach(e.to_string()))?;
        if !out.status.success() {
            return Err(GuardError::Detach(format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        tracing::debug!(dir = %dir.display(), "guardian armed");
        Ok(Guardian { pipe })
    }

    /// The stack is healed and down (or handed back as it was found): the guardian goes.
    pub async fn disarm(mut self) {
        if let Some(mut pipe) = self.pipe.take() {
            if let Err(e) = pipe.write_all(DONE).await {
                tracing::warn!(error = %e, "telling the guardian the run is done");
            }
        }
    }
}

/// `guard --run-dir DIR --target KIND`: the first stage, which detaches the watcher.
fn guard_args(dir: &Path, target: TargetKind) -> Vec<std::ffi::OsString> {
    vec![
        "guard".into(),
        "--run-dir".into(),
        dir.as_os_str().to_owned(),
        "--target".into(),
        target.as_str().into(),
    ]
}

/// The first stage of `fgchaos guard`: starts the watching stage (`--watch`) with this
/// process's stdin — the run's pipe — in a process group of its own, and returns, so the
/// watcher is reparented away from fgchaos: a runner that kills fgchaos's process tree or
/// group does not find it.
pub fn detach(exe: &Path, dir: &Path, target: TargetKind) -> std::io::Result<()> {
    use std::os::unix::process::CommandExt;
    std::process::Command::new(exe)
        .args(guard_args(dir, target))
        .arg("--watch")
        .stdin(Stdio::inherit())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .current_dir("/")
        .process_group(0)
        .spawn()
        .map(drop)
}
