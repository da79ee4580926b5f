//! The backlog through the whole run, once a second: the consumer lag and the age of the
//! oldest order a worker holds unpersisted ([`crate::model::BacklogPoint`]).
//!
//! The settle phase reads the lag only after the load, to know when the system is quiet; a
//! long outage needs the other half of the story — how far behind the workers fell while it
//! lasted and how fast they caught up after — which only reads during the run can tell. The
//! `backlog` checker judges these points and the report charts them.
//!
//! Both reads go straight to the broker and the workers, never through a fault proxy. A read
//! that fails leaves its half of the point empty (`None`), so a gap in the chart is a gap in
//! what was seen, not a zero. Reads are sequential: one that takes longer than a second (the
//! broker down, its timeouts running) delays the next point instead of piling reads up.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::lag::{metrics_client, worker_reports, LagSource};
use super::ObserveError;
use crate::model::BacklogPoint;
use crate::target::Endpoints;

/// How often the backlog is read.
pub const EVERY: Duration = Duration::from_secs(1);

/// A running watch; [`BacklogWatch::stop`] ends it and hands over the points.
pub struct BacklogWatch {
    stop: watch::Sender<bool>,
    task: JoinHandle<Vec<BacklogPoint>>,
}

impl BacklogWatch {
    /// Starts reading the backlog of the stack at `ep`, times counted from `zero`; the first
    /// read happens at once.
    pub fn start(ep: &Endpoints, zero: Instant) -> Result<BacklogWatch, ObserveError> {
        let lag = LagSource::of(ep);
        let workers = ep.workers.clone();
        let http = metrics_client(EVERY)?;
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut points = Vec::new();
            let mut tick = tokio::time::interval(EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => break,
                }
                let at_ms = zero.elapsed().as_millis() as u64;
                let (lag, reports) = tokio::join!(lag.read(&http), worker_reports(&http, &workers));
                points.push(BacklogPoint {
                    at_ms,
                    lag: lag.ok(),
                    age_ms: reports
                        .iter()
                        .flatten()
                        .filter_map(|r| r.backlog_age)
                        .max()
                        .map(|d| d.as_millis() as u64),
                });
            }
            points
        });
        Ok(BacklogWatch { stop, task })
    }

    pub async fn stop(self) -> Vec<BacklogPoint> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}
