//! Step 2 of a run: start the local stack, or attach to the compose project. A stack that does
//! not come up leaves a journal saying why, and the run ends there.

use std::path::PathBuf;

use super::assemble;
use super::{now_utc, run_id, Prepared, Run, RunError, RunOptions, StackChoice};
use crate::journal::{self, Journal};
use crate::target::Target;
use crate::target_kind::TargetKind;

impl Run {
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
        let mut opened = opened(&p, id, seed, opts.target, product);
        let target = match bring_up(p.stack, &opened.run_id, &run_dir, opts).await {
            Ok(t) => t,
            Err(e) => {
                let journal = assemble::journal_of_failed_start(opened, e.to_string());
                let _ = journal.write(&out_dir.join("journal.json"));
                return Err(e);
            }
        };
        opened.endpoints = target.endpoints().clone();
        opened.environment = target.environment();
        Ok(Run {
            opened,
            out_dir,
            run_dir,
            target,
            sampler: None,
            backlog: None,
        })
    }
}

/// The journal as step 2 opens it: what runs, where, with which seed; every later field
/// empty, for [`assemble::journal`] to fill from the steps' values.
fn opened(p: &Prepared, run_id: String, seed: u64, target: TargetKind, product: String) -> Journal {
    let s = &p.scenario;
    Journal {
        format: journal::FORMAT,
        run_id,
        fgchaos_version: env!("CARGO_PKG_VERSION").to_owned(),
        scenario_file: p.path.display().to_string(),
        scenario_hash: journal::fingerprint(&p.text),
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
        settled: None,
    }
}

/// Attaches to the compose project, or starts the local stack in `run_dir`.
async fn bring_up(
    stack: StackChoice,
    id: &str,
    run_dir: &std::path::Path,
    opts: &RunOptions,
) -> Result<Box<dyn Target>, RunError> {
    match stack {
        StackChoice::Docker {
            spec,
            project,
            scale,
        } => {
            tracing::info!(run = %id, project, "attaching to the compose project");
            crate::target::docker::DockerTarget::attach(spec, &project, &scale, run_dir)
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
