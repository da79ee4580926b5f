//! The guardian's watch: wait for the run's word, and heal if the pipe ends without it.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::{heal, Healed, DONE};
use crate::target_kind::TargetKind;

/// What the guardian writes in the run directory when it healed.
pub const REPORT_FILE: &str = "guardian.json";

/// The guardian's account of a heal: `guardian.json` in the run directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub target: TargetKind,
    /// From the end of the pipe to the end of the heal.
    pub took_ms: u64,
    pub healed: Healed,
}

/// Reads `input` (the run's pipe) to its end. `done` before the end: the run healed its own
/// stack, and this returns `None`. Anything else — fgchaos died, or the pipe broke — heals
/// `dir` and returns what was done, which is also written to `dir/guardian.json`.
pub async fn watch(
    dir: &Path,
    target: TargetKind,
    mut input: impl AsyncRead + Unpin,
) -> Option<Report> {
    let mut said = Vec::new();
    let read = input.read_to_end(&mut said).await;
    if read.is_ok() && said.ends_with(DONE) {
        return None;
    }
    let t = Instant::now();
    let healed = heal(dir, target).await;
    let report = Report {
        target,
        took_ms: u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX),
        healed,
    };
    let path = dir.join(REPORT_FILE);
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&path, serde_json::to_vec_pretty(&report)?));
    if let Err(e) = written {
        tracing::warn!(path = %path.display(), error = %e, "writing the guardian's report");
    }
    Some(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn done_before_the_end_heals_nothing_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            watch(dir.path(), TargetKind::Local, &b"done\n"[..]).await,
            None
        );
        assert!(!dir.path().join(REPORT_FILE).exists());
    }

    #[tokio::test]
    async fn an_end_without_done_heals_and_writes_its_report() {
        let dir = tempfile::tempdir().unwrap();
        // Nothing said at all (SIGKILL), or a word cut short: both are deaths.
        for said in [&b""[..], &b"do"[..]] {
            let report = watch(dir.path(), TargetKind::Local, said).await.unwrap();
            assert_eq!(
                report.healed,
                Healed::default(),
                "nothing ran under the dir"
            );
            let stored: Report =
                serde_json::from_slice(&std::fs::read(dir.path().join(REPORT_FILE)).unwrap())
                    .unwrap();
            assert_eq!(stored, report);
        }
    }

    #[tokio::test]
    async fn a_local_heal_kills_every_process_working_under_the_run_dir() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .current_dir(dir.path())
            .spawn()
            .unwrap();
        // Paused, as a `pause` fault leaves it: it must die all the same.
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGSTOP,
        )
        .unwrap();
        let report = watch(dir.path(), TargetKind::Local, &b""[..])
            .await
            .unwrap();
        assert_eq!(report.healed.killed, 1);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(child.wait().unwrap().signal(), Some(9));
    }
}
