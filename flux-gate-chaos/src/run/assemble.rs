//! The journal, built once from what each step returned — never patched as the run goes.
//!
//! Each step hands back a value ([`Opening`], [`Driven`], [`Settling`], [`Finished`]); this
//! file is the one place that turns them into the stored [`Journal`], and the one owner of its
//! `harness_error`: the first step that failed, in step order.

use std::path::PathBuf;

use super::drive::Driven;
use super::finish::Finished;
use super::settle::Settling;
use crate::journal::{self, Journal};
use crate::scenario::Scenario;
use crate::target::{Endpoints, Environment};
use crate::target_kind::TargetKind;

/// What step 2 knew once the stack was up (or had failed to come up): what runs, where, with
/// which seed.
#[derive(Debug, Clone)]
pub struct Opening {
    pub run_id: String,
    pub scenario_file: String,
    pub scenario_hash: String,
    pub scenario: Scenario,
    pub seed: u64,
    pub target: TargetKind,
    /// The sale's product id (the scenario's, suffixed with the run id unless `exact`).
    pub product: String,
    /// UTC, RFC 3339.
    pub started_at: String,
    pub endpoints: Endpoints,
    pub environment: Environment,
}

/// The history's file, relative to the journal's directory.
pub fn history_file() -> PathBuf {
    PathBuf::from("history.jsonl")
}

/// The journal of a run whose every step returned.
pub fn journal(
    opening: Opening,
    driven: Driven,
    settling: Settling,
    finished: Finished,
) -> Journal {
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
        settled: settling.into_settled(),
        ..opened(opening)
    }
}

/// The journal of a run whose stack did not come up: nothing ran.
pub fn journal_of_failed_start(opening: Opening, error: String) -> Journal {
    Journal {
        harness_error: Some(error),
        ..opened(opening)
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

/// The journal as it stands before the load: step 2's facts, every later field empty.
fn opened(o: Opening) -> Journal {
    Journal {
        format: journal::FORMAT,
        run_id: o.run_id,
        fgchaos_version: env!("CARGO_PKG_VERSION").to_owned(),
        scenario_file: o.scenario_file,
        scenario_hash: o.scenario_hash,
        stock: o.scenario.sale.stock,
        per_user_limit: o.scenario.sale.per_user_limit,
        scenario: o.scenario,
        seed: o.seed,
        target: o.target,
        product: o.product,
        started_at: o.started_at,
        load_zero_unix_ms: 0,
        endpoints: o.endpoints,
        environment: o.environment,
        faults: Vec::new(),
        timeline: Vec::new(),
        history: history_file(),
        samples: None,
        sampling: None,
        backlog: Vec::new(),
        load: None,
        logs: None,
        harness_error: None,
        interrupted: false,
        settled: None,
    }
}
