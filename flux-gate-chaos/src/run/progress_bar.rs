//! The live line under a running scenario: elapsed time, request rate, outcomes, faults in
//! effect. Cosmetic: nothing judged depends on it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::load::Live;

/// A shown bar and the task that refreshes it twice a second.
pub struct Shown {
    bar: ProgressBar,
    ticker: tokio::task::JoinHandle<()>,
}

impl Shown {
    pub fn finish(self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}

pub fn show(
    duration: Duration,
    live: Arc<Live>,
    active: Arc<Mutex<Vec<String>>>,
    start: Instant,
) -> Shown {
    let bar = ProgressBar::new(duration.as_secs().max(1));
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len}s {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let b = bar.clone();
    let ticker = tokio::spawn(async move {
        let mut last = (0u64, Instant::now());
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let sent = live.sent.load(Ordering::Relaxed);
            let rate = (sent - last.0) as f64 / last.1.elapsed().as_secs_f64().max(0.001);
            last = (sent, Instant::now());
            let faults = active.lock().map(|a| a.join(", ")).unwrap_or_default();
            b.set_position(start.elapsed().as_secs());
            b.set_message(format!(
                "{rate:>7.0} req/s  ok {} fail {} info {}  faults: {}",
                live.ok.load(Ordering::Relaxed),
                live.fail.load(Ordering::Relaxed),
                live.info.load(Ordering::Relaxed),
                if faults.is_empty() {
                    "none".into()
                } else {
                    faults
                }
            ));
        }
    });
    Shown { bar, ticker }
}
