//! Readiness probes: poll until a server really serves, not merely until its port is open.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{Error, Result, Watch};

/// Polls `probe` every 50 ms until it is `true` or `limit` passes. Fails early, with the log's
/// path, if the process died.
pub async fn wait_until<F, Fut>(proc: &Watch, limit: Duration, mut probe: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if probe().await {
            return Ok(());
        }
        let alive = proc.is_alive();
        if !alive || tokio::time::Instant::now() >= deadline {
            let why = if alive { "" } else { " (it exited)" };
            return Err(Error::NotReady {
                name: format!("{}{why}", proc.name()),
                waited: limit,
                log: proc.log().display().to_string(),
                tail: log_tail(proc.log(), 6),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The last `lines` lines of a log, each indented under a "last lines:" heading, so a start
/// failure says why without opening the file (the run directory may be gone by then).
fn log_tail(path: &std::path::Path, lines: usize) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(4096)));
    let mut buf = Vec::new();
    if f.read_to_end(&mut buf).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let last = &all[all.len().saturating_sub(lines)..];
    if last.is_empty() {
        return String::new();
    }
    format!("; last lines:\n    {}", last.join("\n    "))
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
