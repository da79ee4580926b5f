//! Where and when the generators of one load meet, and one generator's segment driven there:
//! it reads its clock against the coordinator's, waits for the agreed start, drives its
//! segment, reads the clock again and writes the manifest beside its history
//! ([`super::manifest`]), which is what lets [`super::merge`] put the histories on one
//! timeline.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::clock::{now_unix_us, Clock, ClockError};
use super::generator::{drive, Live, LoadError, LoadPlan, LoadSummary};
use super::manifest::{Manifest, ManifestError};
use super::out::Out;

/// How late after the agreed start a generator may still start. Its lateness is not hidden — the
/// merge keeps the schedule's intended times, so every attempt of a late generator shows it as
/// latency — but a generator later than this was started wrong, not slowly: it refuses.
pub const MOST_LATE: Duration = Duration::from_secs(1);

/// How far ahead the agreed start may be: further is a mistake (microseconds given for
/// milliseconds), and the wait could not be stopped short of killing the generator.
pub const MOST_AHEAD: Duration = Duration::from_secs(3600);

/// Where and when the generators of one load meet.
#[derive(Debug, Clone)]
pub struct Meeting {
    /// The agreed start, on the coordinator's clock (µs since the epoch).
    pub start_at_unix_us: u64,
    pub clock: Clock,
}

#[derive(Debug, thiserror::Error)]
pub enum MeetingError {
    #[error(transparent)]
    Clock(#[from] ClockError),
    #[error("the agreed start passed {0:?} ago (at most {MOST_LATE:?} late is joined): agree on a later one")]
    TooLate(Duration),
    #[error("the load ran (its history is {history}), but the coordinator's clock did not answer at its end, so no manifest was written and the history cannot be merged: {source}")]
    NoEndReading {
        history: String,
        #[source]
        source: ClockError,
    },
    #[error(
        "the agreed start is {0:?} ahead (at most {MOST_AHEAD:?}): it is Unix time in milliseconds"
    )]
    TooFar(Duration),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

/// The load's identity as a segment's manifest records it: what every generator of one load
/// must have been given alike. Connections are each generator's own, and its entry may be its
/// own node's.
pub fn identity(plan: &LoadPlan) -> String {
    let mut load = plan.load.clone();
    load.connections = 0;
    serde_json::json!({
        "product": plan.product,
        "duration_ms": plan.duration.as_millis() as u64,
        "load": load,
    })
    .to_string()
}

/// Drives `plan`'s segment from the agreed start; returns once its history and manifest are
/// written (on disk, or sent to the coordinator).
pub async fn drive_segment(
    plan: LoadPlan,
    history: &Out,
    live: Arc<Live>,
    cancel: watch::Receiver<bool>,
    meeting: &Meeting,
) -> Result<(LoadSummary, Manifest), MeetingError> {
    let at_start = meeting.clock.read().await?;
    let theirs_now = now_unix_us().saturating_add_signed(at_start.offset_us);
    match meeting.start_at_unix_us.checked_sub(theirs_now) {
        Some(wait) if Duration::from_micros(wait) > MOST_AHEAD => {
            return Err(MeetingError::TooFar(Duration::from_micros(wait)));
        }
        Some(wait) => tokio::time::sleep(Duration::from_micros(wait)).await,
        None => {
            let late = Duration::from_micros(theirs_now - meeting.start_at_unix_us);
            if late > MOST_LATE {
                return Err(MeetingError::TooLate(late));
            }
        }
    }
    let summary = drive(plan.clone(), history, live, cancel).await?;
    let at_end = meeting
        .clock
        .read()
        .await
        .map_err(|source| MeetingError::NoEndReading {
            history: history.describe(),
            source,
        })?;
    let manifest = Manifest {
        run: plan.key_prefix.clone(),
        seed: plan.seed,
        load: identity(&plan),
        segment: plan.segment,
        start_at_unix_us: meeting.start_at_unix_us,
        // The load's own time zero, on the coordinator's clock.
        started_unix_us: summary
            .started_unix_us
            .saturating_add_signed(at_start.offset_us),
        clock: meeting.clock.describe(),
        clock_at_start: at_start,
        clock_at_end: at_end,
        ops: summary.totals.ops,
        not_sent: summary.not_sent,
        elapsed_ms: summary.elapsed_ms,
    };
    history.manifest(&manifest)?;
    Ok((summary, manifest))
}
