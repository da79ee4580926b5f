//! Ctrl-C and SIGTERM. The first asks whatever runs to stop cleanly (faults undone, stack torn
//! down); the second kills every service process group at once and exits.

use fgchaos::target::local::ProcessGroups;
use tokio::sync::watch;

use super::Exit;

/// A receiver that turns true on the first SIGINT/SIGTERM; the second kills `groups`.
pub fn interrupts(groups: ProcessGroups) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return;
        };
        let mut seen = 0;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            seen += 1;
            if seen == 1 {
                errln!("fgchaos: interrupted — undoing faults and tearing down (again to kill at once)");
                let _ = tx.send(true);
            } else {
                groups.kill_all();
                std::process::exit(i32::from(Exit::Interrupted.code()));
            }
        }
    });
    rx
}

/// Resolves once an interrupt arrives.
pub async fn wait(mut interrupt: watch::Receiver<bool>) {
    let _ = interrupt.wait_for(|v| *v).await;
}

/// Ctrl-C for a session (explore, shrink), which `fgchaos halt` stops as a Ctrl-C: registers
/// the process (kept registered while the returned value lives) and returns the receiver that
/// turns true on either.
pub fn interrupts_or_halt(
    groups: ProcessGroups,
    command: &str,
    session_dir: &std::path::Path,
) -> (Option<super::halt::Registered>, watch::Receiver<bool>) {
    let interrupt = interrupts(groups);
    let (registered, halt) = super::halt::register(command, session_dir);
    let (tx, rx) = watch::channel(false);
    for mut source in [interrupt, halt] {
        let tx = tx.clone();
        tokio::spawn(async move {
            if source.wait_for(|v| *v).await.is_ok() {
                let _ = tx.send(true);
            }
        });
    }
    (registered, rx)
}
