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

use super::lag::{age_of_reports, metrics_client, worker_reports, LagSource};
use super::ObserveError;
use crate::model::BacklogPoint;
use crate::target::Endpoints;

/// How often the backlog is read.
pub const EVERY: Duration = Duration::from_secs(1);

/// A running watch; [`BacklogWatch::stop`] ends it and hands over the points.
pub struct BacklogWatch {
    stop: watch::Sender<bool>,
    task: JoinHandle<Vec<BacklogPoint>>,
    latest: Latest,
}

/// The newest backlog read, for the steady-state gate.
pub type Latest = std::sync::Arc<std::sync::Mutex<Option<BacklogPoint>>>;

impl BacklogWatch {
    /// Starts reading the backlog of the stack at `endpoints`, times counted from `zero`; the
    /// first read happens at once. Each read asks the endpoints as they are then: a worker a
    /// fault starts or restarts must be read where it runs now — reading the workers found when
    /// the run began left a worker held back until a `start` unread for the rest of the run, and
    /// the lag of every partition it took unknown (docker `worker-scale`, 2026-12-03).
    pub fn start(
        endpoints: watch::Receiver<Endpoints>,
        zero: Instant,
    ) -> Result<BacklogWatch, ObserveError> {
        let http = metrics_client(EVERY)?;
        let (stop, mut stopped) = watch::channel(false);
        let latest = Latest::default();
        let newest = latest.clone();
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
                let ep = endpoints.borrow().clone();
                let lag = LagSource::of(&ep);
                let (lag, reports) =
                    tokio::join!(lag.read(&http), worker_reports(&http, &ep.workers));
                let point = BacklogPoint {
                    at_ms,
                    lag: lag.ok(),
                    age_ms: age_of_reports(&reports).map(|d| d.as_millis() as u64),
                };
                if let Ok(mut n) = newest.lock() {
                    *n = Some(point);
                }
                points.push(point);
            }
            points
        });
        Ok(BacklogWatch { stop, task, latest })
    }

    /// The newest read so far, kept up to date.
    pub fn latest(&self) -> Latest {
        self.latest.clone()
    }

    pub async fn stop(self) -> Vec<BacklogPoint> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    /// A worker's `/metrics` as the worker writes them — `held` of a 2-partition topic with
    /// `lag`, the oldest order it holds `age` seconds old — and how many reads it has served.
    struct Worker {
        url: String,
        reads: Arc<AtomicUsize>,
    }

    impl Worker {
        async fn serve(held: i32, lag: i64, age: f64) -> Worker {
            let body = format!(
                "fg_worker_topic_partitions 2\n\
                 fg_worker_partition_assigned{{partition=\"{held}\"}} 1\n\
                 fg_worker_consumer_lag{{partition=\"{held}\"}} {lag}\n\
                 fg_worker_backlog_age_seconds {age}\n"
            );
            let reads = Arc::new(AtomicUsize::new(0));
            let counted = Arc::clone(&reads);
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let body = body.clone();
                    async move { body }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, app).await });
            Worker { url, reads }
        }

        async fn read_at_least(&self, n: usize) {
            while self.reads.load(Ordering::SeqCst) < n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }

    #[tokio::test]
    async fn a_worker_that_appears_during_the_run_is_read_from_then_on() {
        let first = Worker::serve(0, 5, 0.25).await;
        let later = Worker::serve(1, 7, 2.5).await;
        let endpoints = watch::Sender::new(Endpoints {
            workers: vec![first.url.clone()],
            ..Endpoints::default()
        });
        let watch = BacklogWatch::start(endpoints.subscribe(), Instant::now()).unwrap();
        // The first read has begun, with the endpoints of the start: partition 1 is held by no
        // worker it reads, so its lag and the age of what waits there are unknown. Then a fault
        // starts the second worker.
        first.read_at_least(1).await;
        endpoints.send_replace(Endpoints {
            workers: vec![first.url.clone(), later.url.clone()],
            ..Endpoints::default()
        });
        // The next read asks both (the lag and the age each read every worker once); a watch
        // that kept the workers of the start never asks the second.
        tokio::time::timeout(Duration::from_secs(30), later.read_at_least(2))
            .await
            .expect("the worker started during the run was never read");
        let points = watch.stop().await;
        let seen: Vec<(Option<i64>, Option<u64>)> =
            points.iter().map(|p| (p.lag, p.age_ms)).collect();
        assert!(seen.len() >= 2, "{seen:?}");
        assert_eq!(seen[0], (None, None), "{seen:?}");
        assert!(
            seen[1..].iter().all(|p| *p == (Some(12), Some(2500))),
            "{seen:?}"
        );
    }
}
