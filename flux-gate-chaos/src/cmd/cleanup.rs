//! `fgchaos cleanup`: heals what killed runs left behind when their guardians could not —
//! stray service processes, stopped or paused containers, fgchaos toxics — with the
//! guardian's own heal.

use fgchaos::cli::CleanupArgs;
use fgchaos::guard;
use fgchaos::target::docker::ledger::Ledger;
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
    if docker && !cleanup_docker(args).await {
        return Ok(Exit::Harness);
    }
    Ok(Exit::Success)
}

/// Every run directory with an attach ledger of `project` is healed as the run's guardian
/// would have ([`guard::heal`]): containers resumed or started, toxics removed. `false` when
/// something could not be healed (each named on stderr).
async fn cleanup_docker(args: &CleanupArgs) -> bool {
    let project = &args.project;
    let ledgers = Ledger::find(&args.work_dir, project);
    if ledgers.is_empty() {
        outln!(
            "no interrupted docker run of project `{project}` under {}",
            args.work_dir.display()
        );
    }
    let mut healed_all = true;
    for (dir, ledger) in ledgers {
        let healed = guard::heal(&dir, TargetKind::Docker).await;
        let touched = [healed.resumed.clone(), healed.started.clone()].concat();
        outln!(
            "project `{project}`: resumed {} and started {} container(s){}",
            healed.resumed.len(),
            healed.started.len(),
            if touched.is_empty() {
                String::new()
            } else {
                format!(" ({})", touched.join(", "))
            }
        );
        if let Some(url) = &ledger.toxiproxy {
            outln!(
                "removed {} fgchaos toxic(s) and re-enabled every proxy at {url}",
                healed.toxics_removed
            );
        }
        for e in &healed.errors {
            errln!("fgchaos: {}: {e}", dir.display());
        }
        healed_all &= healed.errors.is_empty();
    }
    healed_all
}

async fn remove_toxics(url: &str) -> anyhow::Result<()> {
    let removed = toxiproxy::Client::new(url).remove_fgchaos_toxics().await?;
    outln!("removed {removed} fgchaos toxic(s) and re-enabled every proxy at {url}");
    Ok(())
}
