//! `fgchaos guard` (hidden): the guardian a run arms before its stack starts
//! ([`fgchaos::guard`]). The first stage detaches the second and exits; the second watches the
//! run's pipe on stdin and heals the run directory if the pipe ends without `done`.

use std::path::PathBuf;

use anyhow::Context;
use fgchaos::cli::GuardArgs;
use tokio::signal::unix::{signal, SignalKind};

use super::Exit;

pub async fn guard(args: &GuardArgs) -> anyhow::Result<Exit> {
    if !args.watch {
        let exe = std::env::current_exe().context("finding this executable")?;
        fgchaos::guard::detach(&exe, &args.run_dir, args.target)
            .context("starting the guardian's watch")?;
        return Ok(Exit::Success);
    }
    // A hangup or an interrupt meant for the run's terminal must not end the watch: handled,
    // they are ignored.
    let _hangup = signal(SignalKind::hangup())?;
    let _interrupt = signal(SignalKind::interrupt())?;
    if let Some(report) =
        fgchaos::guard::watch(&args.run_dir, args.target, tokio::io::stdin()).await
    {
        tracing::warn!(dir = %args.run_dir.display(), ?report, "fgchaos ended without healing: healed");
    }
    Ok(Exit::Success)
}

/// The executable a run's guardian is started from: this one — `None` with `--no-guard`.
pub fn executable(no_guard: bool) -> anyhow::Result<Option<PathBuf>> {
    if no_guard {
        return Ok(None);
    }
    std::env::current_exe().map(Some).context(
        "finding this executable, to start the guardian from it (--no-guard runs without one)",
    )
}
