//! One run of one scenario, in named steps:
//!
//! 1. [`prepare`]: read the scenario and check it against the stack it will run on — before
//!    anything starts;
//! 2. [`Run::start`] (`start.rs`): start the local stack, or attach to the compose project;
//! 3. [`Run::drive`] (`drive.rs`): start the sale, then load and faults together, then undo
//!    whatever is still broken — a [`Driven`];
//! 4. [`Run::settle`] (`settle.rs`): wait until the system has converged and read its final
//!    state — a [`Settling`];
//! 5. [`Run::finish`] (`finish.rs`): tear down, keep the logs, build the journal from every
//!    step's value (`assemble.rs`, the one owner of its `harness_error`) and write it — the
//!    stored [`crate::record::Record`];
//! 6. judge ([`verdict::judge`]) and report ([`report::write`]) — from the record alone.
//!
//! Every exit path after step 2 — success, failure, Ctrl-C — undoes faults and tears the
//! stack down.

mod assemble;
mod drive;
pub mod dry_run;
mod finish;
pub mod kept;
pub mod placed;
pub mod prepare;
mod progress_bar;
mod settle;
mod start;
mod together;

use std::path::{Path, PathBuf};
use std::time::Instant;

use tokio::sync::watch;

use crate::journal::Journal;
use crate::observe::{BacklogWatch, Sampler};
use crate::report;
use crate::scenario::{Scenario, ScenarioError};
use crate::target::local::ProcessGroups;
use crate::target::{Target, TargetError};
use crate::target_kind::TargetKind;
use crate::verdict::{self, Judgement};
use crate::yaml::SyntaxError;
pub use drive::{start_sale, DriveError, Driven};
pub use finish::Finished;
pub use kept::{KeptRun, KeptStack};
pub use prepare::{prepare_all, stack_of, Prepared, StackChoice};
pub use settle::Settling;
pub use start::bring_up;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub seed: Option<u64>,
    /// Journals, histories and logs go to `<report_dir>/<run id>/`.
    pub report_dir: PathBuf,
    /// Run directories (data) go to `<work_dir>/<run id>/`.
    pub work_dir: PathBuf,
    pub keep: bool,
    /// Replaces the built-in stack description of the target (on the local target a
    /// scenario's own `stack:` wins over this).
    pub stack: Option<PathBuf>,
    pub target: TargetKind,
    /// The compose project the docker target attaches to (the local target ignores it).
    pub project: String,
    pub progress: bool,
    /// Where local stacks register their process groups (a second Ctrl-C kills them all).
    pub groups: ProcessGroups,
    /// The fgchaos executable whose hidden `guard` command heals the stack should this process
    /// die without healing it ([`crate::guard`]); `None` runs unguarded (`--no-guard`).
    pub guardian: Option<PathBuf>,
    /// Turns true when `fgchaos halt` asks this process's runs to stop: each heals, stops its
    /// load, settles, and ends `aborted`.
    pub halt: watch::Receiver<bool>,
}

/// Why a run produced no verdict. (A run that got as far as a journal reports its harness
/// problems there, as the `harness error` verdict, instead.)
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Stack(#[from] Box<SyntaxError>),
    #[error("the stack did not start: {source} (logs in {})", logs.display())]
    Start {
        logs: PathBuf,
        #[source]
        source: TargetError,
    },
    // Not a `#[source]`: the message says it already, and `{:#}` would say it twice.
    #[error("attaching to the running stack: {0}")]
    Attach(TargetError),
    #[error("planning the faults: {0}")]
    Plan(#[from] crate::nemesis::plan::PlanError),
    #[error("{0} (--no-guard runs without a guardian)")]
    Guard(#[from] crate::guard::GuardError),
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl RunError {
    fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| RunError::Io { what, path, source }
    }
}

/// What a finished run left behind.
#[derive(Debug)]
pub struct RunOutcome {
    pub journal_path: PathBuf,
    pub journal: Journal,
    pub judgement: Judgement,
    /// The markdown report.
    pub report: PathBuf,
}

/// Runs one prepared scenario on the chosen target: every step in order, each handing its
/// value to the next, the journal built from all of them at the end.
pub async fn run(
    prepared: Prepared,
    opts: &RunOptions,
    interrupt: watch::Receiver<bool>,
) -> Result<RunOutcome, RunError> {
    let mut run = Run::start(prepared, opts).await?;
    let journal_path = run.out_dir.join("journal.json");
    let driven = run.drive(opts.progress, interrupt, opts.halt.clone()).await;
    let settling = run.settle(&driven).await;
    let record = run.finish(opts.keep, driven, settling).await?;
    judged(record, journal_path, opts)
}

/// Runs one scenario on a stack that outlives the run (explore's trials, shrink's
/// candidates): the steps of [`run`], with step 2 taking `target` and step 5 handing it back,
/// running — whatever happened to the run.
pub async fn run_on(
    target: Box<dyn Target>,
    scenario: (&Path, &Scenario, &str),
    opts: &RunOptions,
    interrupt: watch::Receiver<bool>,
) -> (Result<RunOutcome, RunError>, Box<dyn Target>) {
    let (path, s, text) = scenario;
    let mut run = match start::Opening::new(path, s, text, opts) {
        Ok(opening) => opening.on(target),
        Err(e) => return (Err(e), target),
    };
    let journal_path = run.out_dir.join("journal.json");
    let driven = run.drive(opts.progress, interrupt, opts.halt.clone()).await;
    let settling = run.settle(&driven).await;
    let (record, target) = run.finish_kept(driven, settling).await;
    let outcome = record.and_then(|record| judged(record, journal_path, opts));
    (outcome, target)
}

/// Removes a stored run: its directory and the report beside it (`<run id>.md`). Explore and
/// shrink keep only the runs that failed.
pub fn discard(run_dir: &Path) {
    let _ = std::fs::remove_dir_all(run_dir);
    let _ = std::fs::remove_file(run_dir.with_extension("md"));
}

/// Step 6: the stored record judged, and its report written.
fn judged(
    record: crate::record::Record,
    journal_path: PathBuf,
    opts: &RunOptions,
) -> Result<RunOutcome, RunError> {
    let judgement = verdict::judge(&record);
    let report = report::write(&opts.report_dir, &record, &judgement)
        .map_err(RunError::io("writing the report in", &opts.report_dir))?;
    Ok(RunOutcome {
        journal_path,
        journal: record.journal,
        judgement,
        report,
    })
}

/// A run in progress: its journal as step 2 opened it, its stack, its directories and its
/// observers.
pub struct Run {
    /// Step 2's facts (scenario, seed, target, product, endpoints); every later field stays
    /// empty until [`assemble::journal`] fills them from the steps' values.
    opened: Journal,
    /// `<report dir>/<run id>/`: journal, history, samples, logs.
    out_dir: PathBuf,
    /// `<work dir>/<run id>/`: the services' data (local target).
    run_dir: PathBuf,
    target: Box<dyn Target>,
    /// Reads Redis stock every 100 ms from the start of the load to the end of settle.
    sampler: Option<Sampler>,
    /// Reads the consumer lag and the backlog age every second over the same span.
    backlog: Option<BacklogWatch>,
    /// Heals the stack if fgchaos dies before step 5 has torn it down; `None` on a kept stack
    /// (whose own guardian outlives the run) and when unguarded.
    guardian: Option<crate::guard::Guardian>,
}

/// What drive hands to settle: when the load started and when the last thing changed (the
/// end of the load or the last heal) — settle's clocks.
#[derive(Debug)]
pub struct Times {
    pub zero: Instant,
    pub last_change: Instant,
}

fn now_utc() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// `worker-crash-20261127T031500Z-3fa2`: sortable, unique, readable.
pub fn run_id(name: &str) -> String {
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..4];
    format!("{name}-{}-{suffix}", stamp())
}

/// `20261127T031500Z`: now, in UTC, as run ids and session directories carry it.
pub fn stamp() -> String {
    let t = now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}
