//! `fgchaos cleanup`: heals what killed runs left behind when their guardians could not —
//! stray service processes, stopped or paused containers, fgchaos toxics — with the
//! guardian's own heal.

use fgchaos::cli::CleanupArgs;
use fgchaos::guard;
use fgchaos::target::docker::ledger::Ledger;
use fgchaos::target::docker::project::Scope;
use fgchaos::target::local::strays;
use fgchaos::target_kind::TargetKind;
use fgchaos::toxiproxy;

use super::Exit;

pub async fn cleanup(args: &CleanupArgs) -> anyhow::Result<Exit> {
    if matches!(args.target, None | Some(TargetKind::Local)) {
        let killed = strays::kill_under(&args.work_dir)?;
        outln!(
            "killed {killed} stray service process(es) under {}",
            args.work_dir.display()
        );
        if let Some(url) = &args.toxiproxy {
            remove_toxics(url).await?;
        }
    }
    let scope = match args.target {
        Some(TargetKind::Docker) => Some(Scope::Compose(args.project.clone())),
        Some(TargetKind::Swarm) => Some(Scope::Stack(args.project.clone())),
        None if fgchaos::target::docker::engine::available().await => {
            Some(Scope::Compose(args.project.clone()))
        }
        None | Some(TargetKind::Local) => None,
    };
    if let Some(scope) = scope {
        if !cleanup_docker(args, &scope).await {
            return Ok(Exit::Harness);
        }
    }
    Ok(Exit::Success)
}

/// Every run directory with an attach ledger of `scope` is healed as the run's guardian
/// would have ([`guard::heal`]): containers resumed or started, toxics removed. `false` when
/// something could not be healed (each named on stderr).
async fn cleanup_docker(args: &CleanupArgs, scope: &Scope) -> bool {
    let what = scope.describe();
    let ledgers = Ledger::find(&args.work_dir, scope);
    if ledgers.is_empty() {
        outln!(
            "no interrupted run of {what} under {}",
            args.work_dir.display()
        );
    }
    let kind = match scope {
        Scope::Compose(_) => TargetKind::Docker,
        Scope::Stack(_) => TargetKind::Swarm,
    };
    let mut healed_all = true;
    for (dir, ledger) in ledgers {
        let healed = guard::heal(&dir, kind).await;
        if !healed.rejoined.is_empty() {
            outln!(
                "{what}: joined {} isolated swarm node(s) to the others again ({})",
                healed.rejoined.len(),
                healed.rejoined.join(", ")
            );
        }
        if !healed.activated.is_empty() {
            outln!(
                "{what}: activated {} drained swarm node(s) ({})",
                healed.activated.len(),
                healed.activated.join(", ")
            );
        }
        if !healed.generators.is_empty() {
            outln!(
                "{what}: removed {} service(s) of load generators ({})",
                healed.generators.len(),
                healed.generators.join(", ")
            );
        }
        if !healed.scaled.is_empty() {
            outln!(
                "{what}: set {} scaled swarm service(s) back ({})",
                healed.scaled.len(),
                healed.scaled.join(", ")
            );
        }
        let touched = [healed.resumed.clone(), healed.started.clone()].concat();
        outln!(
            "{what}: resumed {} and started {} container(s){}",
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
