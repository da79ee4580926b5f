//! `fgchaos up`: the local stack, kept running until Ctrl-C or `fgchaos down`; or a stack
//! deployed on Docker Swarm, which runs by itself until `fgchaos down --target swarm`.

use std::path::PathBuf;

use fgchaos::cli::UpArgs;
use fgchaos::guard::Guardian;
use fgchaos::target::local::{session, LocalTarget, ProcessGroups, StackSpec};
use fgchaos::target::Target;
use fgchaos::target_kind::TargetKind;

use super::interrupt;
use super::Exit;

pub async fn up(args: UpArgs, guardian: Option<PathBuf>) -> anyhow::Result<Exit> {
    if args.target == TargetKind::Swarm {
        return up_swarm(&args).await;
    }
    let spec = match &args.stack {
        Some(p) => StackSpec::read(p)?,
        None => StackSpec::built_in()?,
    };
    let dir = args.work_dir.join(fgchaos::run::run_id("up"));
    let token = uuid::Uuid::new_v4().simple().to_string();
    let groups = ProcessGroups::default();
    let interrupt = interrupt::interrupts(groups.clone());
    // Should this process die, the guardian stops the stack: its links ran through the fault
    // proxy in this process, and nobody is left to heal them.
    let guardian = match &guardian {
        Some(exe) => Some(Guardian::arm(exe, &dir, TargetKind::Local).await?),
        None => None,
    };
    let mut st = LocalTarget::start(spec, &dir, &token, &groups).await?;
    let ep = st.endpoints().clone();
    let session = session::Session::record(&args.work_dir, &ep)?;
    outln!("stack up (Ctrl-C or `fgchaos down` stops it)");
    outln!("  load balancer   {}", ep.entry);
    outln!("  fault proxy API {}", ep.toxiproxy);
    outln!("  admin token     {}", ep.admin_token);
    for (name, addr) in &ep.services {
        outln!("  {name:<18} {addr}");
    }
    for (name, l) in &ep.links {
        outln!("  link {name:<14} {} → {}", l.listen, l.upstream);
    }
    interrupt::wait(interrupt).await;
    st.teardown(false).await?;
    session.remove();
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(g) = guardian {
        g.disarm().await;
    }
    Ok(Exit::Success)
}

/// Deploys the stack on Swarm and returns once it serves: Swarm keeps it running, and runs
/// attach to it with `--target swarm`.
async fn up_swarm(args: &UpArgs) -> anyhow::Result<Exit> {
    let d = fgchaos::target::swarm::deploy::up(
        &args.compose_files,
        &args.project,
        &args.advertise_addr,
        &args.work_dir,
    )
    .await?;
    outln!(
        "swarm stack `{}` serves ({}); `fgchaos run --target swarm` attaches to it, `fgchaos down --target swarm` removes it{}",
        d.stack,
        d.files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(" + "),
        if d.initialised {
            " and leaves the swarm `up` initialised on this engine"
        } else {
            ""
        }
    );
    Ok(Exit::Success)
}
