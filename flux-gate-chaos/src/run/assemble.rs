//! The journal, built once from what each step returned — never patched as the run goes.
//!
//! Step 2 opens the journal with what it knows before the load (`run/start.rs`); each later
//! step hands back a value ([`Driven`], [`Settling`], [`Finished`]), and this file is the one
//! place that turns them into the rest of the stored [`Journal`], and the one owner of its
//! `harness_error`: the first step that failed, in step order.

use super::drive::Driven;
use super::finish::Finished;
use super::settle::Settling;
use crate::journal::Journal;

/// The journal of a run whose every step returned.
pub fn journal(opened: Journal, driven: Driven, settling: Settling, finished: Finished) -> Journal {
    let harness_error = harness_error(&driven, &settling, &finished);
    let (samples, sampling) = finished.samples.unzip();
    Journal {
        load_zero_unix_ms: driven.load_zero_unix_ms,
        faults: driven.faults,
        timeline: driven.timeline,
        samples,
        sampling,
        backlog: finished.backlog,
        load: driven.load,
        logs: finished.logs,
        harness_error,
        interrupted: driven.interrupted,
        aborted: driven.aborted,
        warm_up: driven.warm_up,
        settled: settling.into_settled(),
        ..opened
    }
}

/// The journal of a run whose stack did not come up: nothing ran.
pub fn journal_of_failed_start(opened: Journal, error: String) -> Journal {
    Journal {
        harness_error: Some(error),
        ..opened
    }
}

/// Why the harness failed before step 5 (which keeps the run directory when it did).
pub fn failed_before_finish(driven: &Driven, settling: &Settling) -> Option<String> {
    driven.error().or_else(|| settling.error())
}

/// The first failure, in step order: drive, settle, then the history read back by finish.
fn harness_error(driven: &Driven, settling: &Settling, finished: &Finished) -> Option<String> {
    failed_before_finish(driven, settling).or_else(|| finished.history_error.clone())
}
