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

use super::start::guard;
use super::{bring_up, run_on, RunError, RunOptions, RunOutcome, StackChoice};
use crate::guard::Guardian;
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
        guardian: Option<PathBuf>,
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
            guardian,
            halt: crate::stop::never(),
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
    /// The running stack; `None` only after a restart failed.
    running: Option<Running>,
}

/// A kept stack up: the target, its directory, and the guardian that heals it should fgchaos
/// die between runs or in one (the runs on it arm none of their own).
struct Running {
    target: Box<dyn Target>,
    dir: PathBuf,
    guardian: Option<Guardian>,
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
        let running = start(&choice, opts).await?;
        Ok(KeptStack {
            choice,
            opts: opts.clone(),
            running: Some(running),
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
        let Some(Running {
            target,
            dir,
            guardian,
        }) = self.running.take()
        else {
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
        let running = Running {
            target,
            dir,
            guardian,
        };
        self.running = Some(if restarted {
            tracing::warn!("the last run left the stack broken: restarting it");
            running.stop().await;
            start(&self.choice, &self.opts).await?
        } else {
            running
        });
        Ok(KeptRun { outcome, restarted })
    }

    /// Stops the stack (a docker project is left running, as after any run).
    pub async fn down(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }
}

/// Arms a guardian, then starts the stack in a directory of its own.
async fn start(choice: &StackChoice, opts: &RunOptions) -> Result<Running, RunError> {
    let id = format!("kept-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let dir = opts.work_dir.join(&id);
    let guardian = guard(opts, &dir).await?;
    let target = bring_up(choice.clone(), &id, &dir, opts).await?;
    Ok(Running {
        target,
        dir,
        guardian,
    })
}

impl Running {
    /// Tears the stack down and removes its directory (each run kept its logs' tails), then
    /// the guardian goes. A teardown that failed leaves the directory, and the guardian,
    /// dropped, heals what is left in it.
    async fn stop(mut self) {
        if let Err(e) = self.target.teardown(false).await {
            tracing::warn!(error = %e, "stopping the kept stack (the guardian heals what is left)");
            return;
        }
        drop(self.target);
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(g) = self.guardian.take() {
            g.disarm().await;
        }
    }
}
