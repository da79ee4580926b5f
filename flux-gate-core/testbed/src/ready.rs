//! Readiness probes: poll until a server really serves, not merely until its port is open.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{Error, Result, Supervised};

/// Polls `probe` every 50 ms until it is `true` or `limit` passes. Fails early, with the log's
/// path, if the process died.
pub async fn wait_until<F, Fut>(proc: &mut Supervised, limit: Duration, mut probe: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if probe().await {
            return Ok(());
        }
        if !proc.is_running() || tokio::time::Instant::now() >= deadline {
            let log = proc.spec().log.display().to_string();
            let why = if proc.is_running() {
                ""
            } else {
                " (it exited)"
            };
            return Err(Error::NotReady {
                name: format!("{}{why}", proc.name()),
                waited: limit,
                log,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The port accepts TCP connections.
pub async fn tcp(addr: SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

/// Redis answers `PING` with `PONG` (not `-LOADING` while it replays its AOF).
pub async fn redis_pong(addr: SocketAddr) -> bool {
    let attempt = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(b"PING\r\n").await.ok()?;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await.ok()?;
        Some(buf[..n].starts_with(b"+PONG"))
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(500), attempt).await,
        Ok(Some(true))
    )
}

/// An HTTP GET of `path` answers 200.
pub async fn http_ok(addr: SocketAddr, path: &str) -> bool {
    let attempt = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).await.ok()?;
        Some(buf[..n].starts_with(b"HTTP/1.1 200"))
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(500), attempt).await,
        Ok(Some(true))
    )
}
