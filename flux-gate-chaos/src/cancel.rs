//! A run's cancellation signal: a `watch` channel that turns true on Ctrl-C. The load
//! generator and the fault executor both stop on it.

use tokio::sync::watch;

/// Resolves once `rx` turns true; never, if its sender is gone without having sent it.
pub async fn cancelled(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}
