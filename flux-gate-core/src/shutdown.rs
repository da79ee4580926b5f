//! The process's one shutdown request: the first SIGINT or SIGTERM, heard from the moment
//! [`Shutdown::listen`] returns and seen by every task that asks, however late it asks.
//!
//! Why not one `tokio::signal` future per task: once any handler is installed, a signal that
//! arrives before another task has created its own future is lost to that task. The worker
//! hit exactly this — stopped while still starting, its health server shut down but its
//! consumer loop (created a moment later) never heard the signal and kept the group's
//! partitions until it was SIGKILLed.

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// Cheap to clone; every clone sees the same request.
#[derive(Clone, Debug)]
pub struct Shutdown {
    requested: watch::Receiver<bool>,
}

impl Shutdown {
    /// Installs the SIGINT and SIGTERM handlers now (synchronously) and returns the handle.
    /// Needs a Tokio runtime.
    pub fn listen() -> std::io::Result<Self> {
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let (tell, requested) = watch::channel(false);
        tokio::spawn(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            tracing::info!("shutdown signal received");
            let _ = tell.send(true);
        });
        Ok(Shutdown { requested })
    }

    /// Whether shutdown has been requested already.
    pub fn is_requested(&self) -> bool {
        *self.requested.borrow()
    }

    /// Resolves once shutdown is requested (at once if it already was).
    pub async fn requested(mut self) {
        // An error means the listening task is gone without a signal: the runtime is shutting
        // down, which is a request to stop as well.
        let _ = self.requested.wait_for(|r| *r).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_signal_before_anyone_waits_is_not_lost() {
        let shutdown = Shutdown::listen().unwrap();
        assert!(!shutdown.is_requested());
        // The handler installed by `listen` catches it: the test process lives on.
        send_sigterm(std::process::id());
        let late = shutdown.clone();
        tokio::time::timeout(Duration::from_secs(5), shutdown.requested())
            .await
            .expect("first waiter sees the signal");
        assert!(late.is_requested());
        tokio::time::timeout(Duration::from_secs(1), late.requested())
            .await
            .expect("a waiter created after the signal resolves at once");
    }

    /// `kill -TERM <pid>` through the `kill` command (no libc dependency for one test).
    fn send_sigterm(pid: u32) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }
}
