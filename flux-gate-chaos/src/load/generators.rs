//! A run's load made by `generators: n`: each generator drives its segment into a history of
//! its own (`history-<i>-of-<n>.jsonl`, with its manifest), and the run's history is their
//! merge — what the checkers judge, as if one generator had made it.
//!
//! Here the generators share the run's process and clock; what makes them several is exactly
//! what makes them several anywhere — disjoint segments, one agreed start, histories merged on
//! one timeline — so a merged history is judged the same wherever its generators ran. On a
//! swarm stack the run places them on the nodes instead ([`super::coordinator`],
//! `run/placed.rs`), and their histories are merged by [`merge_segments`] all the same.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;

use super::clock::{now_unix_us, Clock};
use super::generator::{drive, Live, LoadError, LoadPlan, LoadSummary};
use super::meeting::{drive_segment, Meeting, MeetingError};
use super::merge::{merge, MergeError, MAX_SKEW};
use super::out::Out;
use super::segment::Segment;

#[derive(Debug, thiserror::Error)]
pub enum GeneratorsError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("generator {segment}: {source}")]
    Segment {
        segment: Segment,
        #[source]
        source: MeetingError,
    },
    #[error("merging the generators' histories: {0}")]
    Merge(#[from] MergeError),
    #[error(transparent)]
    Placed(#[from] super::coordinator::CoordinatorError),
    #[error("writing the merged history {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where segment `s`'s history goes, beside the run's.
pub fn history_of(history: &Path, s: Segment) -> PathBuf {
    history.with_file_name(format!("history-{}-of-{}.jsonl", s.index(), s.count()))
}

/// Drives the load with its `generators`; the merged history is written to `history`. One
/// generator is the plain load, with no segment files.
pub async fn drive_all(
    plan: LoadPlan,
    history: &Path,
    live: Arc<Live>,
    cancel: watch::Receiver<bool>,
) -> Result<LoadSummary, GeneratorsError> {
    let generators = plan.load.generators;
    if generators <= 1 {
        let out = Out::File(history.to_owned());
        return Ok(drive(plan, &out, live, cancel).await?);
    }
    let meeting = Meeting {
        start_at_unix_us: now_unix_us(),
        clock: Clock::Local,
    };
    let shares = Segment::all(generators).map(|segment| {
        let plan = LoadPlan {
            segment,
            ..plan.clone()
        };
        let (path, live, cancel, meeting) = (
            history_of(history, segment),
            live.clone(),
            cancel.clone(),
            &meeting,
        );
        async move {
            drive_segment(plan, &Out::File(path.clone()), live, cancel, meeting)
                .await
                .map(|_| path)
                .map_err(|source| GeneratorsError::Segment { segment, source })
        }
    });
    // Every generator runs to its end even when another fails: none is left sending unawaited.
    let paths = futures::future::join_all(shares)
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    merge_segments(&paths, history)
}

/// The run's history from its segments' (each with its manifest beside it), written to
/// `history`; what the load did, from the manifests — wherever the generators ran.
pub fn merge_segments(
    segments: &[PathBuf],
    history: &Path,
) -> Result<LoadSummary, GeneratorsError> {
    let merged = merge(segments, MAX_SKEW)?;
    let (seconds, totals) = merged
        .write(history)
        .map_err(|source| GeneratorsError::Write {
            path: history.to_owned(),
            source,
        })?;
    let m = &merged.manifests;
    Ok(LoadSummary {
        totals,
        seconds,
        not_sent: m.iter().map(|m| m.not_sent).sum(),
        elapsed_ms: m.iter().map(|m| m.elapsed_ms).max().unwrap_or(0),
        generators: m.iter().map(|m| m.record()).collect(),
        // On the coordinator's clock, which is this machine's.
        started_unix_us: m.iter().map(|m| m.started_unix_us).min().unwrap_or(0),
    })
}
