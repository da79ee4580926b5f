//! `fgchaos down`: stops the stack of a running `fgchaos up`, or removes the stack
//! `fgchaos up --target swarm` deployed and leaves the swarm it initialised.

use fgchaos::cli::DownArgs;
use fgchaos::target::local::session;
use fgchaos::target::swarm::deploy;
use fgchaos::target_kind::TargetKind;

use super::Exit;

pub async fn down(args: &DownArgs) -> anyhow::Result<Exit> {
    if args.target == TargetKind::Swarm {
        deploy::down(&args.project, &args.work_dir).await?;
        outln!(
            "swarm stack `{}` removed; the engine is as `up` found it",
            args.project
        );
        return Ok(Exit::Success);
    }
    session::stop(&args.work_dir).await?;
    outln!("stack down");
    Ok(Exit::Success)
}
