//! `fgchaos down`: stops the stack of a running `fgchaos up`.

use std::path::Path;

use fgchaos::target::local::session;

use super::Exit;

pub async fn down(work_dir: &Path) -> anyhow::Result<Exit> {
    session::stop(work_dir).await?;
    outln!("stack down");
    Ok(Exit::Success)
}
