//! `fgchaos up`: the local stack, kept running until Ctrl-C or `fgchaos down`.

use std::path::PathBuf;

use fgchaos::cli::UpArgs;
use fgchaos::guard::Guardian;
use fgchaos::target::local::{session, LocalTarget, ProcessGroups, StackSpec};
use fgchaos::target::Target;
use fgchaos::target_kind::TargetKind;

use super::interrupt;
use super::Exit;

pub async fn up(args: UpArgs, guardian: Option<PathBuf>) -> anyhow::Result<Exit> {
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
