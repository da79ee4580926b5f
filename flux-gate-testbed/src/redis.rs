//! A private Redis 7 with AOF on, so a killed Redis restarts with its stock and idempotency
//! records. `appendfsync no`: Redis writes the AOF before every reply and never postpones that
//! write, so a killed process loses nothing it acknowledged; `everysec` postpones it while a
//! background fsync is slow and replies anyway (decisions §54).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use crate::{binaries, io, ports, ready, Result, Spec, Supervised};

pub struct Redis {
    pub process: Supervised,
    pub port: u16,
}

impl Redis {
    /// Starts Redis with its data in `dir` (created if missing) and waits until it answers.
    pub async fn start(dir: &Path) -> Result<Self> {
        Self::start_with(dir, &[]).await
    }

    /// [`Redis::start`] with more arguments (`--replicaof`, `--min-replicas-to-write`, or a
    /// Sentinel's `--sentinel` with its settings), given after the defaults.
    pub async fn start_with(dir: &Path, extra: &[String]) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let port = ports::free_port().map_err(io("finding a free port"))?;
        let spec = Spec::new(
            "redis",
            binaries::find("redis-server", &[])?,
            dir.join("redis.log"),
        )
        .args([
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--dir".into(),
            dir.display().to_string(),
            "--appendonly".into(),
            "yes".into(),
            "--appendfsync".into(),
            "no".into(),
            "--save".into(),
            String::new(),
            "--protected-mode".into(),
            "no".into(),
            "--daemonize".into(),
            "no".into(),
            "--logfile".into(),
            String::new(),
        ])
        .args(extra.iter().cloned());
        let mut redis = Redis {
            process: Supervised::new(spec),
            port,
        };
        redis.start_again().await?;
        Ok(redis)
    }

    /// (Re)starts the process and waits until it answers `PING` (its AOF replayed).
    pub async fn start_again(&mut self) -> Result<()> {
        self.process.start()?;
        let addr = self.addr();
        ready::wait_until(&self.process.watch(), Duration::from_secs(20), || {
            ready::redis_pong(addr)
        })
        .await
    }

    pub fn addr(&self) -> SocketAddr {
        (Ipv4Addr::LOCALHOST, self.port).into()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}
