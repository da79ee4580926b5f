//! One run of one scenario, in named steps:
//!
//! 1. [`prepare`]: read the scenario and check it against the stack it will run on — before
//!    anything starts;
//! 2. [`Run::start`]: start the local stack, or attach to the compose project;
//! 3. [`Run::drive`] (`drive.rs`): start the sale, then load and faults together, then undo
//!    whatever is still broken;
//! 4. [`Run::settle`]: wait until the system has converged and read its final state;
//! 5. [`Run::finish`] (`finish.rs`): tear down, keep the logs, write the journal — the stored
//!    [`Record`];
//! 6. judge ([`verdict::judge`]) and report ([`report::write`]) — from the record alone.
//!
//! Every exit path after step 2 — success, failure, Ctrl-C — undoes faults and tears the
//! stack down.

mod drive;
mod finish;
pub mod prepare;
mod progress_bar;

use std::path::PathBuf;
use std::time::Instant;

use tokio::sync::watch;

use crate::journal::{self, Journal};
use crate::observe::settle::{self, Reader};
use crate::observe::{BacklogWatch, Sampler};
use crate::report;
use crate::scenario::{Scenario, ScenarioError};
use crate::target::local::ProcessGroups;
use crate::target::{Target, TargetError};
use crate::verdict::{self, Judgement};
use crate::yaml::SyntaxError;
pub use drive::DriveError;
pub use prepare::{prepare_all, Prepared, StackChoice};

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
    pub target: TargetChoice,
    pub progress: bool,
    /// Where local stacks register their process groups (a second Ctrl-C kills them all).
    pub groups: ProcessGroups,
}

/// Where a run runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetChoice {
    /// Starts the whole stack as processes on loopback, and stops it after.
    Local,
    /// Attaches to a running Docker Compose project; leaves it running after.
    Docker { project: String },
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
    #[error("attaching to the compose project: {0}")]
    Attach(#[source] TargetError),
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

/// Runs one prepared scenario on the chosen target: every step in order.
pub async fn run(
    prepared: Prepared,
    opts: &RunOptions,
    interrupt: watch::Receiver<bool>,
) -> Result<RunOutcome, RunError> {
    let mut run = Run::start(prepared, opts).await?;
    let driven = run.drive(opts.progress, interrupt).await;
    run.settle(driven).await;
    let record = run.finish(opts.keep).await?;
    let judgement = verdict::judge(&record);
    let report = report::write(&opts.report_dir, &record, &judgement)
        .map_err(RunError::io("writing the report in", &opts.report_dir))?;
    Ok(RunOutcome {
        journal_path: run.out_dir.join("journal.json"),
        journal: record.journal,
        judgement,
        report,
    })
}

/// A run in progress: its stack, its directories and the journal it fills step by step.
pub struct Run {
    scenario: Scenario,
    seed: u64,
    /// The product id of the sale (the scenario's, suffixed with the run id unless `exact`).
    product: String,
    /// `<report dir>/<run id>/`: journal, history, samples, logs.
    out_dir: PathBuf,
    /// `<work dir>/<run id>/`: the services' data (local target).
    run_dir: PathBuf,
    target: Box<dyn Target>,
    journal: Journal,
    /// Reads Redis stock every 100 ms from the start of the load to the end of settle.
    sampler: Option<Sampler>,
    /// Reads the consumer lag and the backlog age every second over the same span.
    backlog: Option<BacklogWatch>,
}

/// What drive hands to settle: when the load started and when the last thing changed (the
/// end of the load or the last heal) — settle's clocks.
pub struct Times {
    pub zero: Instant,
    pub last_change: Instant,
}

impl Run {
    /// Step 2: start the local stack (or attach to the compose project) and open the journal.
    /// A stack that does not start leaves a journal saying why.
    pub async fn start(p: Prepared, opts: &RunOptions) -> Result<Run, RunError> {
        let id = run_id(&p.scenario.name);
        let seed = opts.seed.unwrap_or_else(rand::random);
        let out_dir = opts.report_dir.join(&id);
        std::fs::create_dir_all(&out_dir).map_err(RunError::io("creating", &out_dir))?;
        let run_dir = opts.work_dir.join(&id);
        let product = if p.scenario.sale.exact {
            p.scenario.sale.product.clone()
        } else {
            format!("{}-{}", p.scenario.sale.product, &id[id.len() - 4..])
        };
        let mut journal = open_journal(&p, &id, seed, &product, opts.target.word());
        let started: Result<Box<dyn Target>, RunError> = match p.stack {
            StackChoice::Docker {
                spec,
                project,
                scale,
            } => {
                tracing::info!(run = %id, project, "attaching to the compose project");
                crate::target::docker::DockerTarget::attach(spec, &project, &scale, &run_dir)
                    .await
                    .map(|t| Box::new(t) as Box<dyn Target>)
                    .map_err(RunError::Attach)
            }
            StackChoice::Local(spec) => {
                tracing::info!(run = %id, dir = %run_dir.display(), "starting the local stack");
                let token = uuid::Uuid::new_v4().simple().to_string();
                crate::target::local::LocalStack::start(spec, &run_dir, &token, &opts.groups)
                    .await
                    .map(|t| Box::new(t) as Box<dyn Target>)
                    .map_err(|source| RunError::Start {
                        logs: run_dir.join("logs"),
                        source,
                    })
            }
        };
        let target = match started {
            Ok(t) => t,
            Err(e) => {
                journal.harness_error = Some(e.to_string());
                let _ = journal.write(&out_dir.join("journal.json"));
                return Err(e);
            }
        };
        journal.endpoints = target.endpoints().clone();
        journal.environment = target.environment();
        Ok(Run {
            scenario: p.scenario,
            seed,
            product,
            out_dir,
            run_dir,
            target,
            journal,
            sampler: None,
            backlog: None,
        })
    }

    /// Step 4: after a drive that completed, wait until the system converges (or the settle
    /// timeout) and record the final state. Nothing to settle after a harness error or Ctrl-C.
    pub async fn settle(&mut self, driven: Result<Times, DriveError>) {
        let times = match driven {
            Err(e) => {
                self.journal.harness_error.get_or_insert(e.to_string());
                return;
            }
            Ok(_) if self.journal.interrupted => return,
            Ok(times) => times,
        };
        let ep = self.target.endpoints();
        let stock = i64::from(self.scenario.sale.stock);
        match Reader::new(ep, &self.product, stock) {
            Ok(reader) => {
                let settle = &self.scenario.settle;
                let settled = settle::settle(
                    &reader,
                    times.zero,
                    times.last_change,
                    settle.timeout.get(),
                    settle.quiet.get(),
                )
                .await;
                self.journal.settled = Some(settled);
            }
            Err(e) => {
                self.journal.harness_error = Some(format!("reading the final state: {e}"));
            }
        }
    }
}

impl TargetChoice {
    /// `local` or `docker`, as journals and scenarios name targets.
    pub fn word(&self) -> &'static str {
        match self {
            TargetChoice::Local => "local",
            TargetChoice::Docker { .. } => "docker",
        }
    }
}

fn now_utc() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// `worker-crash-20261127T031500Z-3fa2`: sortable, unique, readable.
pub fn run_id(name: &str) -> String {
    let t = now_utc();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..4];
    format!(
        "{name}-{:04}{:02}{:02}T{:02}{:02}{:02}Z-{suffix}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The journal at the start of a run: what will run, where, with which seed.
fn open_journal(p: &Prepared, id: &str, seed: u64, product: &str, target: &str) -> Journal {
    let s = &p.scenario;
    Journal {
        format: journal::FORMAT,
        run_id: id.to_owned(),
        fgchaos_version: env!("CARGO_PKG_VERSION").to_owned(),
        scenario_file: p.path.display().to_string(),
        scenario_hash: journal::fingerprint(&p.text),
        scenario: s.clone(),
        seed,
        target: target.to_owned(),
        product: product.to_owned(),
        stock: s.sale.stock,
        per_user_limit: s.sale.per_user_limit,
        started_at: now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        load_zero_unix_ms: 0,
        endpoints: Default::default(),
        environment: Default::default(),
        faults: Vec::new(),
        timeline: Vec::new(),
        history: PathBuf::from("history.jsonl"),
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
