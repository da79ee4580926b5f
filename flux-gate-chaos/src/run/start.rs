//! Step 2 of a run: arm the guardian, then start the local stack, or attach to the compose
//! project — or take a stack that outlives the run. A stack that does not come up leaves a journal saying why, and the
//! run ends there.

use std::path::{Path, PathBuf};

use super::assemble;
use super::{now_utc, run_id, Prepared, Run, RunError, RunOptions, StackChoice};
use crate::guard::Guardian;
use crate::journal::{self, Journal};
use crate::scenario::Scenario;
use crate::target::Target;
use crate::target_kind::TargetKind;

impl Run {
    /// Step 2 for a run that has a stack of its own: starts it (local) or attaches to it
    /// (docker).
    pub async fn start(p: Prepared, opts: &RunOptions) -> Result<Run, RunError> {
        let opening = Opening::new(&p.path, &p.scenario, &p.text, opts)?;
        // Armed before anything starts: a death while the stack comes up is healed too. On a
        // failed start it is dropped, and so heals whatever the start left.
        let guardian = guard(opts, &opening.run_dir).await?;
        match bring_up(p.stack, &opening.journal.run_id, &opening.run_dir, opts).await {
            Ok(target) => Ok(Run {
                guardian,
                ..opening.on(target)
            }),
            Err(e) => {
                let journal = assemble::journal_of_failed_start(opening.journal, e.to_string());
                let _ = journal.write(&opening.out_dir.join("journal.json"));
                Err(e)
            }
        }
    }
}

/// What step 2 knows before it has a stack: the run's id, directories and opened journal.
/// A run on a stack that outlives it (explore's trials, shrink's candidates) opens this, then
/// takes the running stack ([`Opening::on`]); step 5 hands it back ([`Run::finish_kept`]).
pub(super) struct Opening {
    journal: Journal,
    out_dir: PathBuf,
    run_dir: PathBuf,
}

impl Opening {
    pub(super) fn new(
        path: &Path,
        scenario: &Scenario,
        text: &str,
        opts: &RunOptions,
    ) -> Result<Self, RunError> {
        let id = run_id(&scenario.name);
        let seed = opts.seed.unwrap_or_else(rand::random);
        let out_dir = opts.report_dir.join(&id);
        std::fs::create_dir_all(&out_dir).map_err(RunError::io("creating", &out_dir))?;
        let run_dir = opts.work_dir.join(&id);
        let product = if scenario.sale.exact {
            scenario.sale.product.clone()
        } else {
            format!("{}-{}", scenario.sale.product, &id[id.len() - 4..])
        };
        let journal = opened(path, scenario, text, id, seed, opts.target, product);
        Ok(Opening {
            journal,
            out_dir,
            run_dir,
        })
    }

    pub(super) fn on(mut self, target: Box<dyn Target>) -> Run {
        self.journal.endpoints = target.endpoints().clone();
        self.journal.environment = target.environment();
        Run {
            opened: self.journal,
            out_dir: self.out_dir,
            run_dir: self.run_dir,
            target,
            sampler: None,
            backlog: None,
            guardian: None,
        }
    }
}

/// Arms the guardian of the stack whose run directory is `dir` — none when unguarded.
pub(super) async fn guard(opts: &RunOptions, dir: &Path) -> Result<Option<Guardian>, RunError> {
    let Some(exe) = &opts.guardian else {
        return Ok(None);
    };
    Ok(Some(Guardian::arm(exe, dir, opts.target).await?))
}

/// The journal as step 2 opens it: what runs, where, with which seed; every later field
/// empty, for [`assemble::journal`] to fill from the steps' values.
fn opened(
    path: &Path,
    s: &Scenario,
    text: &str,
    run_id: String,
    seed: u64,
    target: TargetKind,
    product: String,
) -> Journal {
    Journal {
        format: journal::FORMAT,
        run_id,
        fgchaos_version: env!("CARGO_PKG_VERSION").to_owned(),
        scenario_file: path.display().to_string(),
        scenario_hash: journal::fingerprint(text),
        scenario: s.clone(),
        seed,
        target,
        product,
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
        aborted: None,
        warm_up: None,
        settled: None,
    }
}

/// Attaches to the compose project or swarm stack, or starts the local stack in `run_dir`.
pub async fn bring_up(
    stack: StackChoice,
    id: &str,
    run_dir: &std::path::Path,
    opts: &RunOptions,
) -> Result<Box<dyn Target>, RunError> {
    match stack {
        StackChoice::Docker { spec, scope, scale } => {
            tracing::info!(run = %id, stack = %scope.describe(), "attaching");
            crate::target::docker::DockerTarget::attach(spec, &scope, &scale, run_dir)
                .await
                .map(|t| Box::new(t) as Box<dyn Target>)
                .map_err(RunError::Attach)
        }
        StackChoice::Local(spec) => {
            tracing::info!(run = %id, dir = %run_dir.display(), "starting the local stack");
            let token = uuid::Uuid::new_v4().simple().to_string();
            crate::target::local::LocalTarget::start(spec, run_dir, &token, &opts.groups)
                .await
                .map(|t| Box::new(t) as Box<dyn Target>)
                .map_err(|source| RunError::Start {
                    logs: run_dir.join("logs"),
                    source,
                })
        }
    }
}
