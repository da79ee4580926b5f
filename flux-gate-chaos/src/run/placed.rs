//! The load's generators placed on the stack's own nodes (`generators: n` on a swarm stack).
//! They are started, joined and given the start before the load's time zero, so that the
//! faults' times count from the moment the generators send, as they do for generators in this
//! process; [`super::drive`] removes them once the drive is over, however it ended.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::drive::DriveError;
use crate::load::clock::now_unix_us;
use crate::load::coordinator::Coordinator;
use crate::load::{Live, LoadPlan, LoadSummary};
use crate::target::placement::{GeneratorHost, Generators};
use crate::target::Target;

/// How long every generator gets to join: its service scheduled, its container started from a
/// local image, fgchaos up. Seconds on one node; a generator that failed is named at once.
const JOIN_WITHIN: Duration = Duration::from_secs(90);

/// From the last join to the agreed start: enough for every generator to hear it and read the
/// coordinator's clock (a few round trips), well inside what a generator may be late
/// ([`crate::load::meeting::MOST_LATE`]).
const LEAD: Duration = Duration::from_millis(500);

/// How long after the load's end (its duration and timeout from the start) every history must
/// be in: what the last answers, the manifest and the upload's end take, with room.
pub const GRACE: Duration = Duration::from_secs(30);

/// How often a join is looked for.
const EVERY: Duration = Duration::from_millis(250);

/// Starts the load's generators where the target places them, and returns once all of them
/// joined and the agreed start has come: the load's time zero. `None` when the load has one
/// generator, or the target has no nodes to place them on (they run in this process). The
/// host is left in `placed` from the moment it started anything, for the drive to remove.
pub async fn place(
    target: &dyn Target,
    (run_id, plan, history): (&str, &LoadPlan, &Path),
    live: Arc<Live>,
    placed: &mut Option<Box<dyn GeneratorHost>>,
    interrupt: &watch::Receiver<bool>,
) -> Result<Option<Coordinator>, DriveError> {
    let count = plan.load.generators;
    if count <= 1 {
        return Ok(None);
    }
    let failed = |e: String| DriveError::Generators(e);
    let Some(host) = target
        .generator_host(run_id)
        .map_err(|e| failed(e.to_string()))?
    else {
        return Ok(None);
    };
    let coordinator = Coordinator::serve(host.coordinator_ip(), plan, history, live)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let generators = Generators {
        count,
        coordinator: coordinator.addr(),
        entry_port: plan.entry.port(),
    };
    let host = placed.insert(host);
    host.start(&generators)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let mut interrupt = interrupt.clone();
    tokio::select! {
        joined = joined(&coordinator, host.as_ref()) => joined?,
        () = crate::cancel::cancelled(&mut interrupt) => {
            return Err(DriveError::Generators("interrupted while they joined".into()));
        }
    }
    let start_at = coordinator.release(LEAD);
    tokio::time::sleep(Duration::from_micros(
        start_at.saturating_sub(now_unix_us()),
    ))
    .await;
    tracing::info!(
        generators = count,
        coordinator = %coordinator.addr(),
        "every generator joined: the load starts"
    );
    Ok(Some(coordinator))
}

/// Until every generator joined; a generator that ended or was refused is named at once.
async fn joined(coordinator: &Coordinator, host: &dyn GeneratorHost) -> Result<(), DriveError> {
    let since = Instant::now();
    loop {
        let missing = coordinator.not_joined();
        if missing.is_empty() {
            return Ok(());
        }
        if let Some(why) = host.failed().await {
            return Err(DriveError::Generators(why));
        }
        if since.elapsed() > JOIN_WITHIN {
            let missing: Vec<String> = missing.iter().map(ToString::to_string).collect();
            return Err(DriveError::Generators(format!(
                "generator(s) {} did not join the coordinator at {} within {} s; their tasks: {}",
                missing.join(", "),
                coordinator.addr(),
                JOIN_WITHIN.as_secs(),
                host.states().await
            )));
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// Once the drive is over: the node each generator ran on goes to the load's record, then
/// they are removed.
pub async fn remove(
    mut host: Box<dyn GeneratorHost>,
    load: Option<&mut LoadSummary>,
) -> Result<(), DriveError> {
    if let Some(load) = load {
        let nodes = host.placed_on().await;
        for record in &mut load.generators {
            let index = record.segment.index();
            record.node = nodes
                .iter()
                .find(|(i, _)| *i == index)
                .map(|(_, n)| n.clone());
        }
    }
    host.remove()
        .await
        .map_err(|e| DriveError::Generators(format!("removing them: {e}")))
}
