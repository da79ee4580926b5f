//! Step 2 of a run: start the local stack, or attach to the compose project. A stack that does
//! not come up leaves a journal saying why, and the run ends there.

use super::assemble::{self, Opening};
use super::{now_utc, run_id, Prepared, Run, RunError, RunOptions, StackChoice};
use crate::journal;
use crate::target::Target;

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
        let mut opening = Opening {
            scenario_file: p.path.display().to_string(),
            scenario_hash: journal::fingerprint(&p.text),
            scenario: p.scenario,
            seed,
            target: opts.target,
            product,
            started_at: now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            endpoints: Default::default(),
            environment: Default::default(),
            run_id: id,
        };
        let target = match bring_up(p.stack, &opening.run_id, &run_dir, opts).await {
            Ok(t) => t,
            Err(e) => {
                let journal = assemble::journal_of_failed_start(opening, e.to_string());
                let _ = journal.write(&out_dir.join("journal.json"));
                return Err(e);
            }
        };
        opening.endpoints = target.endpoints().clone();
        opening.environment = target.environment();
        Ok(Run {
            opening,
            out_dir,
            run_dir,
            target,
            sampler: None,
            backlog: None,
        })
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
