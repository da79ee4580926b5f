//! `fgchaos clock`: the coordinator's clock, served to generators on other machines
//! (`fgchaos load --clock`), until Ctrl-C.

use anyhow::Context;
use fgchaos::cli::ClockArgs;

use super::Exit;

pub async fn clock(args: &ClockArgs) -> anyhow::Result<Exit> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    outln!("serving this machine's clock at http://{addr}/clock (Ctrl-C stops)");
    tokio::select! {
        served = fgchaos::load::clock::serve(listener) => served.context("serving the clock")?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(Exit::Success)
}
