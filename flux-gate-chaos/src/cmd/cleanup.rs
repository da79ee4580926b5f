//! `fgchaos cleanup`: heals what crashed runs left behind — stray service processes, stopped
//! or paused containers, fgchaos toxics.

use fgchaos::cli::CleanupArgs;
use fgchaos::target::docker::ledger::{repair, Ledger};
use fgchaos::target::local::strays;
use fgchaos::target_kind::TargetKind;
use fgchaos::toxiproxy;

use super::Exit;

pub async fn cleanup(args: &CleanupArgs) -> anyhow::Result<Exit> {
    if args.target != Some(TargetKind::Docker) {
        let killed = strays::kill_under(&args.work_dir)?;
        outln!(
            "killed {killed} stray service process(es) under {}",
            args.work_dir.display()
        );
        if let Some(url) = &args.toxiproxy {
            remove_toxics(url).await?;
        }
    }
    let docker = match args.target {
        Some(TargetKind::Docker) => true,
        None => fgchaos::target::docker::engine::available().await,
        Some(TargetKind::Local) => false,
    };
    if docker {
        cleanup_docker(args).await?;
    }
    Ok(Exit::Success)
}

/// Every container an interrupted docker run found running is resumed or started again, and
/// every fgchaos toxic removed.
async fn cleanup_docker(args: &CleanupArgs) -> anyhow::Result<()> {
    let project = &args.project;
    let ledgers = Ledger::find(&args.work_dir, project);
    if ledgers.is_empty() {
        outln!(
            "no interrupted docker run of project `{project}` under {}",
            args.work_dir.display()
        );
    }
    for (dir, ledger) in ledgers {
        let done = repair(&ledger).await?;
        let touched = [done.resumed.clone(), done.started.clone()].concat();
        outln!(
            "project `{project}`: resumed {} and started {} container(s){}",
            done.resumed.len(),
            done.started.len(),
            if touched.is_empty() {
                String::new()
            } else {
                format!(" ({})", touched.join(", "))
            }
        );
        if let Some(url) = &ledger.toxiproxy {
            remove_toxics(url).await?;
        }
        Ledger::remove(&dir);
    }
    Ok(())
}

async fn remove_toxics(url: &str) -> anyhow::Result<()> {
    let removed = toxiproxy::Client::new(url).remove_fgchaos_toxics().await?;
    outln!("removed {removed} fgchaos toxic(s) and re-enabled every proxy at {url}");
    Ok(())
}
