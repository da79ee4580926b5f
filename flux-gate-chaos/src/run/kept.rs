//! A stack that outlives its runs: started (or attached to) once, then run after run on it —
//! explore's trials, shrink's candidates. Each run is a fresh sale (its own product, so its
//! own Redis keys and database rows, started through the contract's `POST /init`), and a
//! run's own last steps leave the stack as it began: every fault undone, every instance
//! resumed or started. Only a run that leaves it broken — no verdict, a harness error, a
//! settle that never converged, or Redis with Sentinel that does not settle within 30 s —
//! costs a restart, and the caller hears of it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;

use super::{bring_up, run_on, RunError, RunOptions, RunOutcome, StackChoice};
use crate::scenario::Scenario;
use crate::target::local::ProcessGroups;
use crate::target::Target;
use crate::target_kind::TargetKind;
use crate::verdict::Verdict;

impl RunOptions {
    /// The options of every run on a kept stack: reports under `out/runs`, no progress bar of
    /// their own (the session has one), nothing kept after a run, the seed given per run.
    pub fn on_kept_stack(
        out: &Path,
        target: TargetKind,
        stack: Option<PathBuf>,
        project: String,
        work_dir: PathBuf,
        groups: ProcessGroups,
    ) -> RunOptions {
        RunOptions {
            seed: None,
            report_dir: out.join("runs"),
            work_dir,
            keep: false,
            stack,
            target,
            project,
            progress: false,
            groups,
        }
    }
}

/// How long Redis with Sentinel may take to settle after a run (`RedisTopology::unsettled`)
/// before the stack counts as broken: a failover's aftermath — the old primary rejoining and
/// resyncing, each Sentinel's next look at the replicas, every 10 s — fits well inside.
const REDIS_SETTLES_WITHIN: Duration = Duration::from_secs(30);

pub struct KeptStack {
    choice: StackChoice,
    opts: RunOptions,
    /// The running stack and its directory; `None` only after a restart failed.
    target: Option<(Box<dyn Target>, PathBuf)>,
}

/// One run on a kept stack, and whether the stack had to be restarted after it.
pub struct KeptRun {
    pub outcome: Result<RunOutcome, RunError>,
    pub restarted: bool,
}

impl KeptStack {
    /// Starts the stack `choice` describes (local) or attaches to it (docker). `opts` are
    /// every later run's options but the seed, which each run gives.
    pub async fn up(choice: StackChoice, opts: &RunOptions) -> Result<KeptStack, RunError> {
        let target = start(&choice, opts).await?;
        Ok(KeptStack {
            choice,
            opts: opts.clone(),
            target: Some(target),
        })
    }

    /// Runs `scenario` (written at `path` as `text`) with `seed`; restarts the stack after a
    /// run that left it broken, unless interrupted.
    pub async fn run(
        &mut self,
        scenario: (&Path, &Scenario, &str),
        seed: u64,
        interrupt: watch::Receiver<bool>,
    ) -> Result<KeptRun, RunError> {
        let Some((target, dir)) = self.target.take() else {
            return Err(RunError::Start {
                logs: self.opts.work_dir.clone(),
                source: crate::target::TargetError::Setup("the kept stack is down".into()),
            });
        };
        let mut opts = self.opts.clone();
        opts.seed = Some(seed);
        let (outcome, target) = run_on(target, scenario, &opts, interrupt.clone()).await;
        let mut broken = match &outcome {
            Ok(o) => o.judgement.verdict == Verdict::HarnessError || !o.judgement.settled.converged,
            Err(_) => true,
        };
        if !broken && !*interrupt.borrow() {
            if let Some(topology) = &target.endpoints().redis_ha {
                if let Err(why) = topology.settled_within(REDIS_SETTLES_WITHIN).await {
                    tracing::warn!(%why, "Redis with Sentinel did not settle after the run");
                    broken = true;
                }
            }
        }
        let restarted = broken && !*interrupt.borrow();
        self.target = Some(if restarted {
            tracing::warn!("the last run left the stack broken: restarting it");
            stop(target, &dir).await;
            start(&self.choice, &self.opts).await?
        } else {
            (target, dir)
        });
        Ok(KeptRun { outcome, restarted })
    }

    /// Stops the stack (a docker project is left running, as after any run).
    pub async fn down(mut self) {
        if let Some((t, dir)) = self.target.take() {
            stop(t, &dir).await;
        }
    }
}

async fn start(
    choice: &StackChoice,
    opts: &RunOptions,
) -> Result<(Box<dyn Target>, PathBuf), RunError> {
    let id = format!("kept-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let dir = opts.work_dir.join(&id);
    let target = bring_up(choice.clone(), &id, &dir, opts).await?;
    Ok((target, dir))
}

/// Tears the stack down and removes its directory (each run kept its logs' tails).
async fn stop(mut target: Box<dyn Target>, dir: &Path) {
    if let Err(e) = target.teardown(false).await {
        tracing::warn!(error = %e, "stopping the kept stack");
    }
    drop(target);
    let _ = std::fs::remove_dir_all(dir);
}
