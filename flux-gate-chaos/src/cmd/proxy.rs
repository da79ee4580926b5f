//! `fgchaos proxy`: the embedded fault proxy on its own, serving Toxiproxy's REST API until
//! interrupted.

use anyhow::{bail, Context};
use fgchaos::cli::ProxyArgs;
use fgchaos::toxiproxy;

use super::interrupt;
use super::Exit;

pub async fn proxy(args: &ProxyArgs) -> anyhow::Result<Exit> {
    // Like Toxiproxy's `-config`: a bad file stops the server before it serves.
    let initial = match &args.config {
        Some(path) => toxiproxy::server::read_config(path)?,
        None => Vec::new(),
    };
    let listen = args.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen} (is another proxy running there?)"))?;
    let server = toxiproxy::ProxyServer::new();
    if let Some(path) = &args.config {
        if let Err(e) = server.populate(initial).await {
            server.stop_all().await;
            bail!("{}: {e}", path.display());
        }
    }
    outln!(
        "fault proxy (Toxiproxy API {}) on http://{listen}",
        toxiproxy::server::API_VERSION
    );
    server
        .serve(
            listener,
            interrupt::wait(interrupt::interrupts(Default::default())),
        )
        .await?;
    Ok(Exit::Success)
}
